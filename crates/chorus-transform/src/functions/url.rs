//! `utm_param`: a query parameter of a URL, decoded.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{AsArray, StringArray};
use arrow::datatypes::DataType;
use percent_encoding::percent_decode_str;

use super::{Kpi, Param};

/// Decodes a query component: `+` is a space, `%XX` a byte; invalid UTF-8 becomes U+FFFD.
fn decode(s: &str) -> Cow<'_, str> {
    if s.contains('+') {
        let spaced = s.replace('+', " ");
        Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
    } else {
        percent_decode_str(s).decode_utf8_lossy()
    }
}

/// The decoded value of query parameter `name` in `url`: the first occurrence, looked for in
/// the query string only (after `?`, before `#`). `None` when the URL has no query, the
/// parameter is absent, or its value is empty.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, rest) = url.split_once('?')?;
    let query = rest.split_once('#').map_or(rest, |(q, _)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| decode(k) == name)
        .map(|(_, v)| decode(v).into_owned())
        .filter(|v| !v.is_empty())
}

/// `utm_param(url, name)`: the value of a UTM (or any) query parameter, decoded; NULL if
/// absent.
pub fn utm_param() -> Kpi {
    Kpi::new(
        "utm_param",
        &[Param::Text, Param::Text],
        DataType::Utf8,
        |args| {
            let urls = args[0].as_string::<i32>();
            let names = args[1].as_string::<i32>();
            let out: StringArray = urls
                .iter()
                .zip(names.iter())
                .map(|(u, n)| query_param(u?, n?))
                .collect();
            Arc::new(out)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_decodes_and_ignores_fragments() {
        let u = "https://a.com/p?utm_source=news%20letter&utm_medium=e+mail#utm_campaign=x";
        assert_eq!(query_param(u, "utm_source").as_deref(), Some("news letter"));
        assert_eq!(query_param(u, "utm_medium").as_deref(), Some("e mail"));
        assert_eq!(query_param(u, "utm_campaign"), None);
        assert_eq!(query_param("https://a.com/p", "utm_source"), None);
    }
}
