//! `social_network`: the network behind a referrer, a host or a GA4 `sessionSource`.

use std::sync::Arc;

use arrow::array::{AsArray, StringArray};
use arrow::datatypes::DataType;

use super::{Kpi, Param};

/// Names and short-link hosts that stand for a network as a whole.
const ALIASES: &[(&str, &str)] = &[
    ("fb", "facebook"),
    ("fb.me", "facebook"),
    ("fb.com", "facebook"),
    ("fb.watch", "facebook"),
    ("ig", "instagram"),
    ("igshopping", "instagram"),
    ("x", "x"),
    ("t.co", "x"),
    ("lnkd.in", "linkedin"),
    ("youtu.be", "youtube"),
    ("redd.it", "reddit"),
    ("pin.it", "pinterest"),
    ("wa.me", "whatsapp"),
    ("t.me", "telegram"),
    ("threads.net", "threads"),
    ("bsky.app", "bluesky"),
    ("bluesky", "bluesky"),
];

/// Second-level domain labels (`facebook` in `l.facebook.com`, `pinterest` in
/// `pinterest.co.uk`) and the network they belong to. A bare label (`facebook`, as GA4 writes
/// `sessionSource`) matches too.
const DOMAINS: &[(&str, &str)] = &[
    ("facebook", "facebook"),
    ("messenger", "facebook"),
    ("instagram", "instagram"),
    ("twitter", "x"),
    ("x", "x"),
    ("linkedin", "linkedin"),
    ("youtube", "youtube"),
    ("tiktok", "tiktok"),
    ("pinterest", "pinterest"),
    ("reddit", "reddit"),
    ("slack", "slack"),
    ("snapchat", "snapchat"),
    ("whatsapp", "whatsapp"),
    ("telegram", "telegram"),
    ("threads", "threads"),
    ("discord", "discord"),
    ("tumblr", "tumblr"),
    ("quora", "quora"),
    ("mastodon", "mastodon"),
];

/// The host of a referrer URL, or the source itself: lowercase, without scheme, `www.`, port,
/// path, query or fragment.
fn host(source: &str) -> String {
    let s = source.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    let s = &s[..end];
    let s = s.rsplit_once('@').map_or(s, |(_, h)| h);
    let s = s.split_once(':').map_or(s, |(h, _)| h);
    let s = s.trim_end_matches('.').to_lowercase();
    match s.strip_prefix("www.") {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

/// Whether `labels` (a domain's labels after the network's) look like a public suffix:
/// `com`, `de`, `co.uk`, `com.au`.
fn is_suffix(labels: &[&str]) -> bool {
    match labels {
        [tld] => (2..=6).contains(&tld.len()),
        [second, cc] => second.len() <= 3 && cc.len() == 2,
        _ => false,
    }
}

/// The network behind a referrer, host or GA4 source, or `None` when it is not a known social
/// network.
pub fn network(source: &str) -> Option<&'static str> {
    let h = host(source);
    if h.is_empty() {
        return None;
    }
    if let Some((_, n)) = ALIASES.iter().find(|(a, _)| *a == h) {
        return Some(n);
    }
    let labels: Vec<&str> = h.split('.').collect();
    if labels.len() == 1 {
        return DOMAINS.iter().find(|(d, _)| *d == h).map(|(_, n)| *n);
    }
    // The network's label is the last one before a public suffix: `l.facebook.com`,
    // `de.pinterest.com`, `pinterest.co.uk`.
    (0..labels.len() - 1).find_map(|i| {
        if !is_suffix(&labels[i + 1..]) {
            return None;
        }
        DOMAINS
            .iter()
            .find(|(d, _)| *d == labels[i])
            .map(|(_, n)| *n)
    })
}

/// `social_network(source)`: the network behind a referrer or GA4 `sessionSource`, else NULL.
pub fn social_network() -> Kpi {
    Kpi::new("social_network", &[Param::Text], DataType::Utf8, |args| {
        let out: StringArray = args[0]
            .as_string::<i32>()
            .iter()
            .map(|s| network(s?))
            .collect();
        Arc::new(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_names() {
        for (s, n) in [
            ("m.facebook.com", Some("facebook")),
            ("https://l.facebook.com/l.php?u=x", Some("facebook")),
            ("FB", Some("facebook")),
            ("t.co", Some("x")),
            ("https://www.pinterest.co.uk/pin/1", Some("pinterest")),
            ("facebook.example.com", None),
            ("example.com", None),
            ("", None),
        ] {
            assert_eq!(network(s), n, "{s}");
        }
    }
}
