//! Streams over the reference platform's endpoints.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chorus_core::{Secret, StreamSpec, SyncMode};
use chorus_http::{
    Auth, ClientConfig, DefaultHook, HttpClient, PageDecoder, Paginator, Request, RestStream,
    RetryPolicy, ServiceAccountKey, TimeFormat, WindowParams,
};
use chorus_sandbox::platforms::reference;
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};

/// Starts a sandbox with the given fault spec.
pub async fn sandbox(faults: &str) -> Sandbox {
    Sandbox::start(SandboxConfig {
        faults: FaultSpec::parse(faults).unwrap(),
        seed: 7,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// The schema of reference items.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("created_time", chorus_core::schema::timestamp_type(), true),
        Field::new("updated_at", chorus_core::schema::timestamp_type(), true),
        Field::new("score", DataType::Float64, true),
        Field::new("likes", DataType::Int64, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]))
}

/// Fast retries for tests.
pub fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_total_wait: Duration::from_secs(30),
    }
}

/// The endpoints of the reference platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Next URL in the body, token in the query.
    NextUrl,
    /// Cursor in the body, bearer token.
    Cursor,
    /// Link header, basic auth.
    Link,
    /// Offset and rowCount, OAuth2 refresh token.
    Offset,
    /// Page numbers, service-account JWT.
    Pages,
}

/// A client for an endpoint's auth.
pub fn client(sb: &Sandbox, endpoint: Endpoint, attempts: u32, token: &str) -> Arc<HttpClient> {
    let auth = match endpoint {
        Endpoint::NextUrl => Auth::QueryToken {
            param: "access_token".into(),
            token: Secret::new(token),
        },
        Endpoint::Cursor => Auth::Bearer(Secret::new(token)),
        Endpoint::Link => Auth::Basic {
            user: reference::BASIC_USER.into(),
            password: Secret::new(reference::BASIC_PASSWORD),
        },
        Endpoint::Offset => Auth::OAuth2Refresh {
            token_url: sb.url("/ref/oauth/token"),
            client_id: reference::CLIENT_ID.into(),
            client_secret: Secret::new(reference::CLIENT_SECRET),
            refresh_token: Secret::new(reference::REFRESH_TOKEN),
        },
        Endpoint::Pages => Auth::ServiceAccount {
            key: Box::new(
                ServiceAccountKey::from_json(&reference::service_account_json(sb.base_url()))
                    .unwrap(),
            ),
            scopes: vec!["https://www.googleapis.com/auth/analytics.readonly".into()],
        },
    };
    let config = ClientConfig {
        retry: policy(attempts),
        timeout: Duration::from_millis(1500),
        ..ClientConfig::default()
    };
    Arc::new(HttpClient::new(auth, config, Arc::new(DefaultHook)).unwrap())
}

/// A stream over an endpoint, optionally incremental on `updated_at` in 30-day slices.
pub fn stream(
    sb: &Sandbox,
    endpoint: Endpoint,
    client: Arc<HttpClient>,
    incremental: bool,
) -> RestStream {
    let (path, paginator, records, size_param) = match endpoint {
        Endpoint::NextUrl => (
            "/ref/v1/next_url",
            Paginator::NextUrl {
                path: "paging.next".into(),
            },
            "data",
            "limit",
        ),
        Endpoint::Cursor => (
            "/ref/v1/cursor",
            Paginator::Cursor {
                param: "cursor".into(),
                path: "response_metadata.next_cursor".into(),
            },
            "items",
            "limit",
        ),
        Endpoint::Link => ("/ref/v1/link", Paginator::LinkHeader, "", "per_page"),
        Endpoint::Offset => (
            "/ref/v1/offset",
            Paginator::Offset {
                offset_param: "offset".into(),
                limit_param: "limit".into(),
                limit: 30,
                total_path: Some("rowCount".into()),
            },
            "rows",
            "limit",
        ),
        Endpoint::Pages => (
            "/ref/v1/pages",
            Paginator::PageNumber {
                param: "page".into(),
                start: 1,
                total_path: Some("total_pages".into()),
            },
            "results",
            "page_size",
        ),
    };
    let decoder = PageDecoder::new(
        schema(),
        records,
        &[("likes", "stats.likes.summary.total_count")],
        &paginator.captures(),
    )
    .unwrap();
    let mut request = Request::get(sb.url(path));
    if endpoint != Endpoint::Offset {
        request = request.with_params(&[(size_param.to_owned(), "30".to_owned())]);
    }
    RestStream {
        spec: StreamSpec {
            name: "items".into(),
            schema: schema(),
            primary_key: vec!["id".into()],
            cursor_field: Some("updated_at".into()),
            sync_modes: if incremental {
                vec![SyncMode::Incremental]
            } else {
                vec![SyncMode::FullRefresh]
            },
            lookback: Duration::ZERO,
        },
        client,
        request,
        paginator,
        decoder: Arc::new(decoder),
        window: incremental.then(|| WindowParams {
            since_param: "since".into(),
            until_param: Some("until".into()),
            format: TimeFormat::UnixSeconds,
            slice: Duration::from_secs(30 * 86_400),
            start_date: "2024-01-01T00:00:00Z".parse().unwrap(),
        }),
        max_pages: 1000,
    }
}
