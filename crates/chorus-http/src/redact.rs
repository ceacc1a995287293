//! Redaction: no credential in an error, a log line or a summary.
//!
//! URLs lose the values of credential query parameters (`access_token=…` becomes
//! `access_token=***`, as in Graph API `paging.next` links); any text loses every known secret
//! value. Body snippets in errors are cut to [`SNIPPET_BYTES`] and redacted the same way.

use chorus_core::secret::redact;

/// Query parameters whose values are credentials wherever they appear.
pub const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "token",
    "api_key",
    "apikey",
    "key",
    "client_secret",
    "refresh_token",
    "password",
    "assertion",
    "appsecret_proof",
    "code",
    "signature",
];

/// How much of a response body an error shows.
pub const SNIPPET_BYTES: usize = 300;

/// A URL with credential query values replaced by `***` and known secrets removed.
pub fn redact_url(url: &str, secrets: &[String]) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = redact_userinfo(base);
    if let Some(q) = query {
        let (q, fragment) = match q.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (q, None),
        };
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k)) => {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
    }
    redact(&out, secrets)
}

fn redact_userinfo(base: &str) -> String {
    if let Some((scheme, rest)) = base.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && !userinfo.contains('/')
    {
        return format!("{scheme}://***@{host}");
    }
    base.to_owned()
}

/// The start of a body, as text, redacted, for an error message.
pub fn snippet(body: &[u8], secrets: &[String]) -> String {
    let cut = &body[..body.len().min(SNIPPET_BYTES)];
    let mut text = String::from_utf8_lossy(cut).replace(['\n', '\r'], " ");
    if body.len() > SNIPPET_BYTES {
        text.push('…');
    }
    // Tokens may sit in echoed URLs inside the body as well.
    let text = redact(&text, secrets);
    redact_query_values(&text)
}

/// Replaces `param=value` for credential parameters anywhere in free text.
pub fn redact_query_values(text: &str) -> String {
    let mut out = text.to_owned();
    for p in SECRET_PARAMS {
        let needle = format!("{p}=");
        let mut search = 0;
        while let Some(pos) = out[search..].find(&needle) {
            let start = search + pos;
            let preceded = start == 0
                || !out.as_bytes()[start - 1].is_ascii_alphanumeric()
                    && out.as_bytes()[start - 1] != b'_';
            let value_start = start + needle.len();
            let value_end = out[value_start..]
                .find(|c: char| {
                    c == '&'
                        || c == '"'
                        || c == '\''
                        || c == ' '
                        || c == '#'
                        || c == '\\'
                        || c == '<'
                })
                .map_or(out.len(), |e| value_start + e);
            if preceded && value_end > value_start && &out[value_start..value_end] != "***" {
                out.replace_range(value_start..value_end, "***");
                search = value_start + 3;
            } else {
                search = value_start;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(
            redact_url(
                "https://graph.facebook.com/v23.0/1/posts?limit=25&access_token=EAAB123&after=QV",
                &[]
            ),
            "https://graph.facebook.com/v23.0/1/posts?limit=25&access_token=***&after=QV"
        );
        assert_eq!(
            redact_url("https://user:pw@x.example/a", &[]),
            "https://***@x.example/a"
        );
        assert_eq!(
            redact_url("https://x.example/a?q=canary99", &["canary99".into()]),
            "https://x.example/a?q=***"
        );
    }

    #[test]
    fn snippets_are_cut_and_redacted() {
        let body = br#"{"error":{"message":"bad","next":"https://g/x?access_token=EAAB&a=1"}}"#;
        let s = snippet(body, &[]);
        assert!(s.contains("access_token=***&a=1"), "{s}");
        assert!(!s.contains("EAAB"));
        let long = vec![b'a'; 1000];
        assert_eq!(snippet(&long, &[]).chars().count(), SNIPPET_BYTES + 1);
        assert_eq!(
            redact_query_values("mytoken=abc token=def"),
            "mytoken=abc token=***"
        );
    }
}
