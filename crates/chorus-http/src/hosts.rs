//! Where a connector may send credentials: the rules for `base_url`, token endpoints,
//! next-page URLs and redirects.
//!
//! - A base URL is `https://host[:port][/path]`. Plain `http://` is accepted only for this
//!   machine (`127.0.0.0/8`, `[::1]`, `localhost`): the sandbox, tests, a proxy on loopback.
//!   Credentials never cross the network unencrypted.
//! - No user name or password (`https://user:pass@host`), query, fragment, backslash, space or
//!   control character: each is a way to make a URL mean another host than it seems to, or to
//!   put a secret where it would be logged. Link-local, unspecified and multicast addresses
//!   (cloud metadata endpoints such as `169.254.169.254`) are never an API, in any of the IPv6
//!   forms that embed them (`[::ffff:169.254.169.254]`, `[::ffff:a9fe:a9fe]`, NAT64).
//! - A next-page URL the API returns (Graph API `paging.next`, a `Link` header) and a redirect
//!   are followed only to the same origin (scheme, host and port) as the request that led to
//!   them; anything else is refused, so the token never reaches another host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chorus_core::{ConfigError, ConfigTable};
use reqwest::Url;

/// Why a URL was refused: what is wrong, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlProblem {
    /// What is wrong, without the URL's secrets.
    pub message: String,
    /// What to write instead.
    pub help: String,
}

impl UrlProblem {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The IP address a URL names as its host, if it names one, with an IPv6 address that embeds
/// an IPv4 one read as that IPv4 address (see [`embedded_v4`]).
fn host_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// The IPv4 address an IPv6 address stands for, if it embeds one: IPv4-mapped
/// (`::ffff:169.254.169.254`, RFC 4291 §2.5.5.2), IPv4-compatible (`::169.254.169.254`, §2.5.5.1,
/// deprecated but still routed by some stacks) and NAT64 with the well-known prefix
/// (`64:ff9b::169.254.169.254`, RFC 6052 §2.1) or the local-use prefix `64:ff9b:1::/48`
/// (RFC 8215, the IPv4 address in the last 32 bits). Each reaches the IPv4 host, so each is
/// judged as it. `::` and `::1` are themselves, not IPv4 addresses.
pub fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let [a, b, c, d] = v6.octets()[12..] else {
        return None;
    };
    let tail = Ipv4Addr::new(a, b, c, d);
    let compatible = s[..6] == [0; 6] && !v6.is_unspecified() && !v6.is_loopback();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1);
    (compatible || nat64).then_some(tail)
}

/// Whether a URL's host is this machine: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(url: &Url) -> bool {
    match host_ip(url) {
        Some(ip) => ip.is_loopback(),
        None => url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost")),
    }
}

/// Addresses no API lives at: link-local (cloud metadata), unspecified, multicast, broadcast.
fn never_an_api(url: &Url) -> Option<IpAddr> {
    let ip = host_ip(url)?;
    let bad = match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    bad.then_some(ip)
}

/// The origin of a URL for messages: `scheme://host:port`, never its path, query or user.
pub fn origin(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        _ => format!("{}:", url.scheme()),
    }
}

/// Whether two URLs have the same scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Checks a URL that credentials will be sent to (`what` names it in messages, e.g.
/// `base_url`), and returns it parsed.
pub fn check_url(what: &str, raw: &str) -> Result<Url, UrlProblem> {
    let example = "write it like \"https://api.example.com\" (or \"http://127.0.0.1:8080\" for a server on this machine)";
    if raw.trim().is_empty() {
        return Err(UrlProblem::new(format!("{what} is empty"), example));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control() || c.is_whitespace()) {
        let shown = match c {
            '\0' => "a NUL byte".to_owned(),
            '\n' => "a newline".to_owned(),
            '\t' => "a tab".to_owned(),
            ' ' => "a space".to_owned(),
            c => format!("the character U+{:04X}", u32::from(c)),
        };
        return Err(UrlProblem::new(
            format!("{what} contains {shown}"),
            "remove it: a URL has no spaces or control characters (check the environment variable it comes from)",
        ));
    }
    if raw.contains('\\') {
        return Err(UrlProblem::new(
            format!("{what} contains a backslash"),
            "use / in URLs: a backslash is read as / by some clients and not by others, so the host could differ",
        ));
    }
    let url = Url::parse(raw)
        .map_err(|e| UrlProblem::new(format!("{what} is not an absolute URL ({e})"), example))?;
    match url.scheme() {
        "https" | "http" => {}
        other => {
            return Err(UrlProblem::new(
                format!("{what} uses the `{other}:` scheme; only https:// is accepted"),
                example,
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::new(
            format!("{what} contains a user name or password before the host (`user:…@`)"),
            "remove it: credentials go in the source's secret keys, read from ${VAR}, never in a URL",
        ));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(UrlProblem::new(format!("{what} has no host"), example));
    };
    if url.fragment().is_some() {
        return Err(UrlProblem::new(
            format!("{what} has a fragment (`#…`)"),
            "remove everything from # on: a base URL is scheme, host, port and an optional path",
        ));
    }
    if url.query().is_some() {
        return Err(UrlProblem::new(
            format!("{what} has a query (`?…`)"),
            "remove everything from ? on: chorus adds the parameters (and tokens belong in the secret keys)",
        ));
    }
    if let Some(ip) = never_an_api(&url) {
        return Err(UrlProblem::new(
            format!(
                "{what} points at {ip}, a link-local, unspecified or multicast address where no API lives"
            ),
            "use the API's host name (cloud metadata endpoints such as 169.254.169.254 are refused)",
        ));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(UrlProblem::new(
            format!(
                "{what} uses plain http:// to {host}, which would send the credentials unencrypted"
            ),
            format!(
                "use https://{host}…; plain http:// is accepted only for this machine (127.0.0.1, [::1], localhost), such as the sandbox or a local proxy"
            ),
        ));
    }
    Ok(url)
}

/// [`check_url`] for the setting `key` of a component, as a `ConfigError` pointing at it.
pub fn check_base_url(config: &ConfigTable, key: &str, raw: &str) -> Result<Url, ConfigError> {
    check_url(key, raw)
        .map_err(|p| ConfigError::new(p.message, Some(config.span_of(key))).with_help(p.help))
}

/// Checks a next-page URL the API returned against the request it came from: a relative URL
/// is resolved against `current`; an absolute one must have the same origin. Returns the URL
/// to fetch, or a message that names both origins (never the URL, which may hold a token).
pub fn check_next_url(current: &Url, next: &str) -> Result<Url, String> {
    let url = current
        .join(next)
        .map_err(|e| format!("the API's next-page URL is not a URL ({e})"))?;
    if !same_origin(current, &url) {
        return Err(format!(
            "the API's next-page URL points at {} instead of {}; chorus does not send credentials to another host. If the API really moved, set base_url to the new host",
            origin(&url),
            origin(current)
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base URLs refused, each with a word its message must contain.
    const REFUSED: &[(&str, &str)] = &[
        ("", "empty"),
        ("   ", "empty"),
        ("graph.facebook.com", "not an absolute URL"),
        ("/v19.0", "not an absolute URL"),
        ("ftp://graph.facebook.com", "`ftp:` scheme"),
        ("file:///etc/passwd", "`file:` scheme"),
        ("gopher://127.0.0.1:70/", "`gopher:` scheme"),
        ("javascript:alert(1)", "`javascript:` scheme"),
        ("data:text/plain,hi", "`data:` scheme"),
        ("ws://127.0.0.1:8080", "`ws:` scheme"),
        ("unix:///var/run/docker.sock", "`unix:` scheme"),
        (
            "https://user:hunter2@graph.facebook.com",
            "user name or password",
        ),
        ("https://user@graph.facebook.com", "user name or password"),
        (
            "https://:hunter2@graph.facebook.com",
            "user name or password",
        ),
        (
            "https://graph.facebook.com@evil.example",
            "user name or password",
        ),
        (
            "http://127.0.0.1:8080@evil.example",
            "user name or password",
        ),
        ("https://graph.facebook.com#frag", "fragment"),
        ("https://graph.facebook.com/#@evil.example", "fragment"),
        ("https://graph.facebook.com?access_token=x", "query"),
        ("https://evil.example\\@graph.facebook.com", "backslash"),
        ("https://graph.facebook.com\n.evil.example", "newline"),
        ("https://graph.face\tbook.com", "tab"),
        ("https://graph.facebook.com\0.evil.example", "NUL"),
        ("https://graph facebook.com", "space"),
        ("http://graph.facebook.com", "plain http://"),
        ("http://10.0.0.5:8080", "plain http://"),
        ("http://localhost.evil.example", "plain http://"),
        ("http://127.0.0.1.nip.io", "plain http://"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("http://169.254.169.254", "link-local"),
        ("https://0.0.0.0:8080", "link-local"),
        ("https://[fe80::1]", "link-local"),
        ("https://[::]", "link-local"),
        ("https://224.0.0.1", "link-local"),
        // The metadata address in IPv6 forms that reach it.
        ("https://[::ffff:169.254.169.254]", "169.254.169.254"),
        ("https://[::ffff:a9fe:a9fe]/", "169.254.169.254"),
        ("https://[::169.254.169.254]", "169.254.169.254"),
        ("https://[64:ff9b::a9fe:a9fe]", "169.254.169.254"),
        ("https://[64:ff9b:1::a9fe:a9fe]", "169.254.169.254"),
        ("https://[::ffff:0.0.0.0]", "link-local"),
        ("http://[::ffff:10.0.0.5]:8080", "plain http://"),
        ("https://", "not an absolute URL"),
        ("http://[::1", "not an absolute URL"),
    ];

    /// Base URLs accepted.
    const ACCEPTED: &[&str] = &[
        "https://graph.facebook.com",
        "https://api.x.com/",
        "https://acme.zendesk.com",
        "https://proxy.internal:8443/meta",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/meta",
        "http://127.1.2.3:9",
        "http://localhost:8080",
        "http://LOCALHOST:8080",
        "http://[::1]:8080",
        "http://2130706433:8080",
        "http://[::ffff:127.0.0.1]:8080",
        "https://[2001:db8::1]",
    ];

    #[test]
    fn base_urls_that_could_leak_credentials_are_refused() {
        assert!(REFUSED.len() >= 35, "{} cases", REFUSED.len());
        for (raw, word) in REFUSED {
            let problem = check_url("base_url", raw).expect_err(raw);
            assert!(
                problem.message.contains(word),
                "{raw:?}: {problem:?} should say {word:?}"
            );
            assert!(problem.message.starts_with("base_url"), "{problem:?}");
            assert!(!problem.help.is_empty(), "{raw:?} has no help");
            for secret in ["hunter2", "access_token=x"] {
                assert!(
                    !problem.message.contains(secret) && !problem.help.contains(secret),
                    "{raw:?}: {problem:?} leaks {secret}"
                );
            }
        }
        for raw in ACCEPTED {
            assert!(check_url("base_url", raw).is_ok(), "{raw} was refused");
        }
    }

    #[test]
    fn next_pages_stay_on_the_same_origin() {
        let current =
            Url::parse("http://127.0.0.1:8080/v1/items?page=1").unwrap_or_else(|e| panic!("{e}"));
        let allowed = [
            "http://127.0.0.1:8080/v1/items?page=2",
            "/v1/items?page=2",
            "items?page=2",
            "HTTP://127.0.0.1:8080/v1/items?page=2",
        ];
        for next in allowed {
            assert!(check_next_url(&current, next).is_ok(), "{next}");
        }
        let refused = [
            "http://127.0.0.1:9090/v1/items?page=2",
            "http://localhost:8080/v1/items?page=2",
            "https://127.0.0.1:8080/v1/items?page=2",
            "http://evil.example/v1/items?access_token=secret",
            "//evil.example/v1/items",
            "ftp://127.0.0.1:8080/v1/items",
            "file:///etc/passwd",
        ];
        for next in refused {
            let e = check_next_url(&current, next).expect_err(next);
            assert!(e.contains("instead of http://127.0.0.1:8080"), "{e}");
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_that_address() {
        let v4 = |s: &str| embedded_v4(s.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(
            v4("::ffff:169.254.169.254").as_deref(),
            Some("169.254.169.254")
        );
        assert_eq!(v4("::a9fe:a9fe").as_deref(), Some("169.254.169.254"));
        assert_eq!(v4("64:ff9b::7f00:1").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            v4("64:ff9b:1::a9fe:a9fe").as_deref(),
            Some("169.254.169.254")
        );
        for plain in ["::", "::1", "2001:db8::1", "fe80::1", "64:ff9b:2::1"] {
            assert_eq!(v4(plain), None, "{plain}");
        }
    }
}
