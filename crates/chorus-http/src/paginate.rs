//! Paginators: how to get from one page to the next.
//!
//! A closed set, matched exhaustively: the next URL in the body (Graph API `paging.next`), a
//! cursor token in the body sent back as a parameter (Slack `next_cursor`, X `next_token`), the
//! `Link` header (Freshdesk, GitHub), offset and limit (GA4 `rowCount`), and page numbers. The
//! last page is recognised the way each API marks it: no next URL, an empty or missing cursor,
//! no `rel="next"`, offset past the total, a short page.

use reqwest::header::HeaderMap;

use crate::decode::Captured;

/// How a stream pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paginator {
    /// One page only.
    Single,
    /// The absolute URL of the next page is in the body at `path`.
    NextUrl {
        /// Dot-separated path, e.g. `paging.next`.
        path: String,
    },
    /// A token in the body at `path` goes back as the query parameter `param`.
    Cursor {
        /// The query parameter.
        param: String,
        /// Dot-separated path of the token.
        path: String,
    },
    /// The `Link` header's `rel="next"` URL.
    LinkHeader,
    /// `offset` and `limit` parameters; stops at the total at `total_path` or a short page.
    Offset {
        /// The offset parameter.
        offset_param: String,
        /// The limit parameter.
        limit_param: String,
        /// The page size.
        limit: u64,
        /// Dot-separated path of the total row count, if the API sends one.
        total_path: Option<String>,
    },
    /// Page numbers; stops at the total pages at `total_path` or an empty page.
    PageNumber {
        /// The page parameter.
        param: String,
        /// The first page's number.
        start: u64,
        /// Dot-separated path of the page count, if the API sends one.
        total_path: Option<String>,
    },
}

/// Where the next page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// An absolute URL to fetch as it is.
    Url(String),
    /// The same request with these query parameters set.
    Params(Vec<(String, String)>),
}

/// Where a paginator is in its pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageState {
    /// Pages fetched so far.
    pub pages: u64,
    /// Rows seen so far.
    pub rows: u64,
}

impl Paginator {
    /// The body paths the paginator reads, for the decoder to capture.
    pub fn captures(&self) -> Vec<&str> {
        match self {
            Paginator::NextUrl { path } | Paginator::Cursor { path, .. } => vec![path.as_str()],
            Paginator::Offset {
                total_path: Some(p),
                ..
            }
            | Paginator::PageNumber {
                total_path: Some(p),
                ..
            } => {
                vec![p.as_str()]
            }
            _ => Vec::new(),
        }
    }

    /// The parameters of the first request.
    pub fn first(&self) -> Vec<(String, String)> {
        match self {
            Paginator::Offset {
                offset_param,
                limit_param,
                limit,
                ..
            } => {
                vec![
                    (offset_param.clone(), "0".into()),
                    (limit_param.clone(), limit.to_string()),
                ]
            }
            Paginator::PageNumber { param, start, .. } => vec![(param.clone(), start.to_string())],
            _ => Vec::new(),
        }
    }

    /// The next page after one that returned `page_rows` rows, or `None` at the end. `state`
    /// counts the pages and rows so far, this one included.
    pub fn next(
        &self,
        captured: &Captured,
        headers: &HeaderMap,
        page_rows: u64,
        state: &PageState,
    ) -> Option<Next> {
        let first = |i: usize| {
            captured
                .values
                .get(i)
                .cloned()
                .flatten()
                .filter(|v| !v.is_empty())
        };
        match self {
            Paginator::Single => None,
            Paginator::NextUrl { .. } => first(0).map(Next::Url),
            Paginator::Cursor { param, .. } => {
                first(0).map(|c| Next::Params(vec![(param.clone(), c)]))
            }
            Paginator::LinkHeader => headers
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link)
                .map(Next::Url),
            Paginator::Offset {
                offset_param,
                limit_param,
                limit,
                total_path,
            } => {
                let total = total_path
                    .as_ref()
                    .and_then(|_| first(0))
                    .and_then(|t| t.parse::<u64>().ok());
                let done = match total {
                    Some(total) => state.rows >= total,
                    None => page_rows < *limit,
                };
                (!done && page_rows > 0).then(|| {
                    Next::Params(vec![
                        (offset_param.clone(), state.rows.to_string()),
                        (limit_param.clone(), limit.to_string()),
                    ])
                })
            }
            Paginator::PageNumber {
                param,
                start,
                total_path,
            } => {
                let total = total_path
                    .as_ref()
                    .and_then(|_| first(0))
                    .and_then(|t| t.parse::<u64>().ok());
                let current = start + state.pages - 1;
                let done = match total {
                    Some(total_pages) => current >= total_pages + start - 1,
                    None => page_rows == 0,
                };
                (!done).then(|| Next::Params(vec![(param.clone(), (current + 1).to_string())]))
            }
        }
    }
}

/// The `rel="next"` target of one `Link` header value.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        (is_next && target.starts_with('<') && target.ends_with('>'))
            .then(|| target[1..target.len() - 1].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn cap(v: Option<&str>) -> Captured {
        Captured {
            values: vec![v.map(str::to_owned)],
        }
    }

    #[test]
    fn cursor_and_next_url_end_on_empty_or_missing() {
        let h = HeaderMap::new();
        let p = Paginator::Cursor {
            param: "cursor".into(),
            path: "response_metadata.next_cursor".into(),
        };
        let s = PageState::default();
        assert_eq!(
            p.next(&cap(Some("dXNlcjpV")), &h, 10, &s),
            Some(Next::Params(vec![("cursor".into(), "dXNlcjpV".into())]))
        );
        assert_eq!(p.next(&cap(Some("")), &h, 10, &s), None);
        let p = Paginator::NextUrl {
            path: "paging.next".into(),
        };
        assert_eq!(p.next(&cap(None), &h, 10, &s), None);
    }

    #[test]
    fn link_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://x/a?page=1>; rel=\"prev\", <https://x/a?page=3>; rel=\"next\"",
            ),
        );
        assert_eq!(
            Paginator::LinkHeader.next(&cap(None), &h, 1, &PageState::default()),
            Some(Next::Url("https://x/a?page=3".into()))
        );
        assert_eq!(next_link("<https://x/a?page=1>; rel=\"prev\""), None);
    }

    #[test]
    fn offsets_stop_at_the_total_and_pages_at_the_count() {
        let h = HeaderMap::new();
        let p = Paginator::Offset {
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            limit: 10,
            total_path: Some("rowCount".into()),
        };
        assert_eq!(
            p.first(),
            vec![("offset".into(), "0".into()), ("limit".into(), "10".into())]
        );
        let s = PageState { pages: 1, rows: 10 };
        assert_eq!(
            p.next(&cap(Some("25")), &h, 10, &s),
            Some(Next::Params(vec![
                ("offset".into(), "10".into()),
                ("limit".into(), "10".into())
            ]))
        );
        assert_eq!(
            p.next(&cap(Some("25")), &h, 5, &PageState { pages: 3, rows: 25 }),
            None
        );
        let p = Paginator::PageNumber {
            param: "page".into(),
            start: 1,
            total_path: Some("total_pages".into()),
        };
        assert_eq!(
            p.next(&cap(Some("2")), &h, 5, &PageState { pages: 1, rows: 5 }),
            Some(Next::Params(vec![("page".into(), "2".into())]))
        );
        assert_eq!(
            p.next(&cap(Some("2")), &h, 5, &PageState { pages: 2, rows: 10 }),
            None
        );
    }
}
