//! Insights requests that survive Meta's metric churn.
//!
//! One retired metric fails a whole insights request with `(#100)`, and Meta does not always
//! say which. [`fetch`] drops the metric the message names, or else asks for each metric
//! alone to find the ones Meta refuses, warns once per dropped metric, and asks again for the
//! rest — so a stream keeps going when Meta retires a metric, instead of failing every run.

use chorus_core::{Error, Result};
use chorus_http::Request;

use crate::common::{InsightsPage, Metrics, named_metric};
use crate::graph::{Graph, GraphError};

/// What an insights request came to.
#[derive(Debug)]
pub enum Fetched {
    /// The insights of the metrics still requested.
    Page(InsightsPage),
    /// Meta refused for a reason the caller judges (media before a business conversion, too
    /// few viewers), or every metric of the group has been dropped.
    Refused(Option<GraphError>),
}

fn request(graph: &Graph, path: &str, metrics: &[String], params: &[(String, String)]) -> Request {
    let mut q = vec![("metric".to_owned(), metrics.join(","))];
    q.extend_from_slice(params);
    Request::get(graph.url(path)).with_params(&q)
}

/// Requests the insights at `path` (`{object-id}/insights`) for the current metrics of
/// `group`, dropping rejected metrics as it goes.
pub async fn fetch(
    graph: &Graph,
    path: &str,
    params: &[(String, String)],
    metrics: &Metrics,
    group: &str,
    doing: &str,
) -> Result<Fetched> {
    loop {
        let asked = metrics.get(group);
        if asked.is_empty() {
            return Ok(Fetched::Refused(None));
        }
        let error = match graph.call(&request(graph, path, &asked, params)).await? {
            Ok(resp) => return InsightsPage::parse(&resp.body, doing).map(Fetched::Page),
            Err(e) if e.is_invalid_metric() => e,
            Err(e) => return Ok(Fetched::Refused(Some(e))),
        };
        if asked.len() == 1 {
            metrics.drop_metric(group, &asked[0], &error.describe());
            continue;
        }
        if let Some(m) = named_metric(&error.message, &asked) {
            metrics.drop_metric(group, m, &error.describe());
            continue;
        }
        // Meta did not say which metric: ask for each alone.
        let mut dropped = false;
        for m in &asked {
            let one = std::slice::from_ref(m);
            match graph.call(&request(graph, path, one, params)).await? {
                Ok(_) => {}
                Err(e) if e.is_invalid_metric() => {
                    metrics.drop_metric(group, m, &e.describe());
                    dropped = true;
                }
                Err(e) => return Ok(Fetched::Refused(Some(e))),
            }
        }
        if !dropped {
            return Err(error.into_error(doing));
        }
    }
}

/// Turns a refusal the caller does not expect into an error.
pub fn refused(e: Option<GraphError>, doing: &str, what: &str) -> Error {
    match e {
        Some(e) => e.into_error(doing),
        None => Error::config(format!(
            "{doing}: Meta rejected every metric in {what}; see the warnings above and update the metric list"
        )),
    }
}
