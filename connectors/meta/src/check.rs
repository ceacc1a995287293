//! `chorus check` for Meta sources: one cheap call, then the permissions the streams need,
//! named when the token lacks them.

use chorus_core::{Error, ErrorKind, Result};
use chorus_http::Request;
use serde::Deserialize;

use crate::graph::Graph;

#[derive(Deserialize)]
struct Permissions {
    #[serde(default)]
    data: Vec<Permission>,
}

#[derive(Deserialize)]
struct Permission {
    permission: String,
    status: String,
}

/// Checks that the token holds `required`: from `/me/permissions` when the token is a user
/// token, else by one probe request to `probe` (Page tokens cannot list their permissions).
pub async fn permissions(
    graph: &Graph,
    required: &[&str],
    probe: &str,
    probe_params: &[(&str, &str)],
) -> Result<()> {
    let req = Request::get(graph.url("me/permissions"));
    if let Ok(resp) = graph.call(&req).await?
        && let Ok(list) = serde_json::from_slice::<Permissions>(&resp.body)
        && !list.data.is_empty()
    {
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| {
                !list
                    .data
                    .iter()
                    .any(|p| p.permission == *r && p.status == "granted")
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        return Err(Error::new(
            ErrorKind::Auth,
            format!(
                "the token lacks the permission{} {}; grant {} to the app, then create a new token",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
    let params: Vec<(String, String)> = probe_params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let req = Request::get(graph.url(probe)).with_params(&params);
    match graph.call(&req).await? {
        Ok(_) => Ok(()),
        Err(e) => Err(e.into_error(&format!(
            "checking access to {probe} (needs {})",
            required.join(", ")
        ))),
    }
}
