//! `${VAR}` interpolation of string values in pipeline files.
//!
//! `${VAR}` is the variable's value and an error when it is unset; `${VAR:-default}` falls
//! back when it is unset or empty; `${VAR:?message}` fails with `message` when it is unset or
//! empty; `$$` is a literal `$`. A value containing a newline is refused, so a variable cannot
//! smuggle extra lines into a setting.

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces the `${…}` references in `input` using `lookup` for the environment.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body_and_tail.find('}') else {
            return Err(InterpolationError {
                message: "unterminated `${` in value".into(),
                help: Some("close the reference with `}`, or write `$$` for a literal `$`".into()),
            });
        };
        let body = &body_and_tail[..end];
        rest = &body_and_tail[end + 1..];
        let (name, op) = match body.find(':') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        if !is_name(name) {
            return Err(InterpolationError {
                message: format!("`${{{body}}}` is not a valid variable reference"),
                help: Some("use ${NAME}, ${NAME:-default} or ${NAME:?message}".into()),
            });
        }
        let value = lookup(name);
        let value = match op {
            None => value.ok_or_else(|| InterpolationError {
                message: format!("environment variable {name} is not set"),
                help: Some(format!(
                    "set {name}, or give a default with ${{{name}:-value}}"
                )),
            })?,
            Some(op) if op.starts_with('-') => match value {
                Some(v) if !v.is_empty() => v,
                _ => op[1..].to_owned(),
            },
            Some(op) if op.starts_with('?') => match value {
                Some(v) if !v.is_empty() => v,
                _ => {
                    let msg = &op[1..];
                    return Err(InterpolationError {
                        message: if msg.is_empty() {
                            format!("environment variable {name} is not set")
                        } else {
                            format!("environment variable {name} is not set: {msg}")
                        },
                        help: None,
                    });
                }
            },
            Some(op) => {
                return Err(InterpolationError {
                    message: format!("unknown operator `:{op}` in `${{{body}}}`"),
                    help: Some("use ${NAME:-default} or ${NAME:?message}".into()),
                });
            }
        };
        if value.contains(['\n', '\r']) {
            return Err(InterpolationError {
                message: format!("environment variable {name} contains a newline"),
                help: Some("values read from the environment must be single lines".into()),
            });
        }
        out.push_str(&value);
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `raw` is exactly one reference that takes a secret from the environment:
/// `${VAR}` or `${VAR:?message}` (a `:-default` would put a literal secret in the file).
pub fn is_env_reference(raw: &str) -> bool {
    let Some(body) = raw.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
        return false;
    };
    if body.contains('}') {
        return false;
    }
    match body.split_once(':') {
        None => is_name(body),
        Some((name, op)) => is_name(name) && op.starts_with('?'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("abc".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb".into()),
            _ => None,
        }
    }

    fn run(s: &str) -> Result<String, InterpolationError> {
        interpolate(s, &env)
    }

    #[test]
    fn references_defaults_and_escapes() {
        assert_eq!(run("x${TOKEN}y").unwrap(), "xabcy");
        assert_eq!(run("${NOPE:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("$$HOME $x").unwrap(), "$HOME $x");
        assert_eq!(run("plain").unwrap(), "plain");
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = run("${NOPE}").unwrap_err();
        assert_eq!(e.message, "environment variable NOPE is not set");
        assert_eq!(
            run("${NOPE:?give the page token}").unwrap_err().message,
            "environment variable NOPE is not set: give the page token"
        );
        assert_eq!(
            run("${MULTI}").unwrap_err().message,
            "environment variable MULTI contains a newline"
        );
        assert_eq!(
            run("${TOKEN").unwrap_err().message,
            "unterminated `${` in value"
        );
        assert!(run("${1X}").is_err());
    }

    #[test]
    fn only_bare_references_count_as_secret_sources() {
        assert!(is_env_reference("${FB_TOKEN}"));
        assert!(is_env_reference("${FB_TOKEN:?set it}"));
        assert!(!is_env_reference("${FB_TOKEN:-abc}"));
        assert!(!is_env_reference("abc${FB_TOKEN}"));
        assert!(!is_env_reference("EAAB123"));
    }
}
