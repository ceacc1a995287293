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
                shape_error = Some(shape_detail::<T>(&resp.body, &e));
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

/// What is wrong with a body of the wrong shape, naming the field: the body is read again,
/// tracking the path, only once it has failed, so good answers pay nothing for it.
fn shape_detail<T: DeserializeOwned>(body: &[u8], error: &serde_json::Error) -> String {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) if e.path().iter().next().is_some() => {
            format!("field `{}`: {}", e.path(), e.inner())
        }
        _ => error.to_string(),
    }
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

/// [`get`] for a page `P` whose records, at `records_path`, are read as `T`, with each
/// record's unknown fields (see [`crate::extra`]) when `keep`, in order; none otherwise.
pub async fn get_kept<P: DeserializeOwned, T: DeserializeOwned>(
    client: &HttpClient,
    req: &Request,
    platform: &str,
    doing: &str,
    keep: bool,
    records_path: &str,
) -> Result<(P, Vec<Option<String>>)> {
    let (page, extras) = get_with(client, req, platform, doing, |resp| {
        crate::extra::of_page::<T>(keep, &resp.body, records_path)
    })
    .await?;
    let extras = extras.map_err(|e| Error::contract(format!("{doing}: {e}")))?;
    Ok((page, extras))
}

/// Whether a JSON body's first key is `key` (`{"error": …`), judged without parsing the body,
/// so a page of data is never read twice. A proxy, or Graph itself, can answer HTTP 200 with an
/// error object; read as a page it has no rows and no next link, and looks like a last page.
pub fn first_key_is(body: &[u8], key: &str) -> bool {
    body.trim_ascii_start()
        .strip_prefix(b"{")
        .map(<[u8]>::trim_ascii_start)
        .and_then(|rest| rest.strip_prefix(b"\""))
        .and_then(|rest| rest.strip_prefix(key.as_bytes()))
        .is_some_and(|rest| rest.starts_with(b"\""))
}

/// Reads an id sent as a JSON integer or string into a string, without building a
/// `serde_json::Value` per record (`#[serde(deserialize_with = "id")]`).
pub fn id<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    d.deserialize_any(IdVisitor)
}

/// Like [`id`], for an id that may be absent or `null`.
pub fn opt_id<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    d.deserialize_option(OptIdVisitor)
}

struct IdVisitor;

impl serde::de::Visitor<'_> for IdVisitor {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an id (an integer or a string)")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<String, E> {
        Ok(v)
    }
}

struct OptIdVisitor;

impl<'de> serde::de::Visitor<'de> for OptIdVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an id (an integer or a string) or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Option<String>, D::Error> {
        id(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::first_key_is;

    #[test]
    fn the_first_key_is_read_without_parsing() {
        assert!(first_key_is(br#"{"error":{"code":2}}"#, "error"));
        assert!(first_key_is(b" \n{ \"error\" : 1}", "error"));
        assert!(!first_key_is(br#"{"errors":[]}"#, "error"));
        assert!(!first_key_is(br#"{"data":[],"error":{}}"#, "error"));
        assert!(!first_key_is(b"[]", "error"));
        assert!(!first_key_is(b"", "error"));
    }

    #[derive(Debug, serde::Deserialize)]
    struct Row {
        #[serde(deserialize_with = "super::id")]
        id: String,
        #[serde(default, deserialize_with = "super::opt_id")]
        other: Option<String>,
    }

    #[test]
    fn ids_read_as_strings_from_numbers_or_strings() {
        let r: Row = serde_json::from_str(r#"{"id": 9007199254740993, "other": "12"}"#).unwrap();
        assert_eq!(
            (r.id.as_str(), r.other.as_deref()),
            ("9007199254740993", Some("12"))
        );
        let r: Row = serde_json::from_str(r#"{"id": "a1", "other": null}"#).unwrap();
        assert_eq!((r.id.as_str(), r.other), ("a1", None));
        let r: Row = serde_json::from_str(r#"{"id": -3}"#).unwrap();
        assert_eq!((r.id.as_str(), r.other), ("-3", None));
        assert!(serde_json::from_str::<Row>(r#"{"id": 1.5}"#).is_err());
        assert!(serde_json::from_str::<Row>(r#"{"id": [1]}"#).is_err());
    }
}
