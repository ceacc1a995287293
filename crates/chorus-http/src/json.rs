//! Typed JSON answers: a body cut short is retried like a dropped connection, a body of the
//! wrong shape is a contract error (exit 65) that names the platform and what was being done.

use chorus_core::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;

use crate::client::{HttpClient, Request, Response};
use crate::retry::Verdict;

/// Sends `req` and reads its body as `T`, with `also` taken from the same response (its
/// `Link` header, say). `platform` names the API in messages.
pub async fn get_with<T: DeserializeOwned, A>(
    client: &HttpClient,
    req: &Request,
    platform: &str,
    doing: &str,
    also: impl Fn(&Response) -> A,
) -> Result<(T, A)> {
    let mut shape_error = None;
    let outcome = client
        .execute(req, |resp| match serde_json::from_slice::<T>(&resp.body) {
            Ok(v) => Ok((v, also(resp))),
            Err(e) if e.is_data() => {
                shape_error = Some(e.to_string());
                Err(Verdict::Fail {
                    kind: ErrorKind::Contract,
                    reason: "the answer does not have the documented shape".into(),
                })
            }
            Err(e) => Err(Verdict::Retry {
                wait: None,
                reason: format!("unreadable JSON: {e}"),
            }),
        })
        .await;
    outcome.map_err(|e| {
        let message = match &shape_error {
            Some(detail) if e.kind() == ErrorKind::Contract => {
                format!("{doing}: {platform} sent an answer chorus cannot read ({detail})")
            }
            _ => format!("{doing}: {}", e.message()),
        };
        Error::new(e.kind(), message)
    })
}

/// Sends `req` and reads its body as `T` (see [`get_with`]).
pub async fn get<T: DeserializeOwned>(
    client: &HttpClient,
    req: &Request,
    platform: &str,
    doing: &str,
) -> Result<T> {
    get_with(client, req, platform, doing, |_| ())
        .await
        .map(|(v, ())| v)
}
