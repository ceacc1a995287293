//! The five list endpoints of the reference platform, one per paginator, and their envelopes.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::{
    Credential, Item, JWT_SCOPE, OAUTH_SCOPE, Params, Ref, Reject, invalid_parameter,
    json_response, respond,
};

/// An opaque cursor pointing after the item `id`.
fn encode_cursor(kind: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The index of the first item after the one a cursor points at.
fn position_after(items: &[Item], kind: &str, param: &str, cursor: &str) -> Result<usize, Reject> {
    let invalid = || invalid_parameter(format!("{param} is not a valid cursor"));
    let decoded = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let id: u64 = text
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|id| id.parse().ok())
        .ok_or_else(invalid)?;
    Ok(items.partition_point(|item| item.id_number() <= id))
}

/// The slice `start..start + len`, clamped to the items.
fn page(items: &[Item], start: usize, len: usize) -> &[Item] {
    let start = start.min(items.len());
    &items[start..start.saturating_add(len).min(items.len())]
}

#[derive(Serialize)]
struct GraphPage<'a> {
    data: &'a [Item],
    #[serde(skip_serializing_if = "Option::is_none")]
    paging: Option<GraphPaging>,
}

#[derive(Serialize)]
struct GraphPaging {
    cursors: GraphCursors,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Serialize)]
struct GraphCursors {
    before: String,
    after: String,
}

/// `GET /ref/v1/next_url`: Graph-style next URL, token in the query string.
pub(super) async fn next_url(
    State(state): State<Arc<Ref>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(next_url_page(&state, query.as_deref(), &headers))
}

fn next_url_page(
    state: &Ref,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, Reject> {
    let params = Params::parse(query)?;
    state.authorize(Credential::QueryToken, headers, &params)?;
    let limit = params.page_size("limit")?;
    let items = state.rows(&params)?;
    let start = match params.get("after") {
        Some(cursor) => position_after(items, "after", "after", cursor)?,
        None => 0,
    };
    let data = page(items, start, limit);
    let paging = match (data.first(), data.last()) {
        (Some(first), Some(last)) => {
            let next = (start + data.len() < items.len()).then(|| {
                let mut next = params.without(&["after", "before", "limit"]);
                next.push(("limit".to_owned(), limit.to_string()));
                next.push(("after".to_owned(), encode_cursor("after", &last.id)));
                state.url("/v1/next_url", &next)
            });
            Some(GraphPaging {
                cursors: GraphCursors {
                    before: encode_cursor("before", &first.id),
                    after: encode_cursor("after", &last.id),
                },
                next,
            })
        }
        _ => None,
    };
    Ok(json_response(StatusCode::OK, &GraphPage { data, paging }))
}

#[derive(Serialize)]
struct SlackPage<'a> {
    ok: bool,
    items: &'a [Item],
    response_metadata: SlackMetadata,
}

#[derive(Serialize)]
struct SlackMetadata {
    next_cursor: String,
}

/// `GET /ref/v1/cursor`: Slack-style cursor in the body, bearer token.
pub(super) async fn cursor(
    State(state): State<Arc<Ref>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(cursor_page(&state, query.as_deref(), &headers))
}

fn cursor_page(state: &Ref, query: Option<&str>, headers: &HeaderMap) -> Result<Response, Reject> {
    let params = Params::parse(query)?;
    state.authorize(Credential::StaticBearer, headers, &params)?;
    let limit = params.page_size("limit")?;
    let items = state.rows(&params)?;
    let start = match params.get("cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => position_after(items, "item", "cursor", cursor)?,
        None => 0,
    };
    let data = page(items, start, limit);
    let next_cursor = match data.last() {
        Some(last) if start + data.len() < items.len() => encode_cursor("item", &last.id),
        _ => String::new(),
    };
    Ok(json_response(
        StatusCode::OK,
        &SlackPage {
            ok: true,
            items: data,
            response_metadata: SlackMetadata { next_cursor },
        },
    ))
}

/// `GET /ref/v1/link`: bare array with a GitHub-style `Link` header, basic auth.
pub(super) async fn link(
    State(state): State<Arc<Ref>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(link_page(&state, query.as_deref(), &headers))
}

fn link_page(state: &Ref, query: Option<&str>, headers: &HeaderMap) -> Result<Response, Reject> {
    let params = Params::parse(query)?;
    state.authorize(Credential::Basic, headers, &params)?;
    let per_page = params.page_size("per_page")?;
    let page_number = params.positive("page", 1)?;
    let items = state.rows(&params)?;
    let start = (page_number - 1).saturating_mul(per_page);
    let data = page(items, start, per_page);
    let mut response = json_response(StatusCode::OK, &data);
    if start.saturating_add(per_page) < items.len() {
        let last_page = items.len().div_ceil(per_page);
        let url = |n: usize| {
            let mut p = params.without(&["page", "per_page"]);
            p.push(("per_page".to_owned(), per_page.to_string()));
            p.push(("page".to_owned(), n.to_string()));
            state.url("/v1/link", &p)
        };
        let value = format!(
            "<{}>; rel=\"next\", <{}>; rel=\"last\"",
            url(page_number + 1),
            url(last_page)
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OffsetPage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<&'a [Item]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row_count: Option<usize>,
}

/// `GET /ref/v1/offset`: GA4-style offset/limit with `rowCount`, refresh-token bearer.
pub(super) async fn offset(
    State(state): State<Arc<Ref>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(offset_page(&state, query.as_deref(), &headers))
}

fn offset_page(state: &Ref, query: Option<&str>, headers: &HeaderMap) -> Result<Response, Reject> {
    let params = Params::parse(query)?;
    state.authorize(Credential::Minted(OAUTH_SCOPE), headers, &params)?;
    let limit = params.page_size("limit")?;
    let offset = params
        .int::<usize>("offset", "a non-negative integer")?
        .unwrap_or(0);
    let items = state.rows(&params)?;
    let data = page(items, offset, limit);
    let body = OffsetPage {
        rows: (!data.is_empty()).then_some(data),
        row_count: (!items.is_empty()).then_some(items.len()),
    };
    Ok(json_response(StatusCode::OK, &body))
}

#[derive(Serialize)]
struct NumberedPage<'a> {
    results: &'a [Item],
    page: usize,
    total_pages: usize,
}

/// `GET /ref/v1/pages`: page number with `total_pages`, service-account bearer.
pub(super) async fn pages(
    State(state): State<Arc<Ref>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(pages_page(&state, query.as_deref(), &headers))
}

fn pages_page(state: &Ref, query: Option<&str>, headers: &HeaderMap) -> Result<Response, Reject> {
    let params = Params::parse(query)?;
    state.authorize(Credential::Minted(JWT_SCOPE), headers, &params)?;
    let page_size = params.page_size("page_size")?;
    let page_number = params.positive("page", 1)?;
    let items = state.rows(&params)?;
    let start = (page_number - 1).saturating_mul(page_size);
    let body = NumberedPage {
        results: page(items, start, page_size),
        page: page_number,
        total_pages: items.len().div_ceil(page_size),
    };
    Ok(json_response(StatusCode::OK, &body))
}
