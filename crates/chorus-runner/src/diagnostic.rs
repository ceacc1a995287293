//! Validation errors located in the pipeline file, rendered like compiler errors.
//!
//! ```text
//! error: input "brand.post" of sink "lake" does not match any stream
//!   --> pipelines/social_roi.toml:23:12
//!    |
//! 23 | inputs = ["brand.post", "x.tweets"]
//!    |           ^^^^^^^^^^^^
//!    |
//!    = help: did you mean "brand.posts"?
//! ```

use std::ops::Range;

use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use chorus_core::ConfigError;

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong (lowercase, no trailing period).
    pub message: String,
    /// Where, as a byte range of the file.
    pub span: Option<Range<usize>>,
    /// A label under the caret.
    pub label: Option<String>,
    /// What to write instead.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `span`.
    pub fn new(message: impl Into<String>, span: impl Into<Option<Range<usize>>>) -> Self {
        Self {
            message: message.into(),
            span: span.into(),
            label: None,
            help: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Converts a component's error, falling back to `fallback` when it has no position.
    pub fn from_config(err: ConfigError, fallback: Range<usize>) -> Self {
        Self {
            message: err.message,
            span: Some(err.span.unwrap_or(fallback)),
            label: err.label,
            help: err.help,
        }
    }
}

/// The closest candidate to `name`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Renders diagnostics against the file's text, plain ASCII, one blank line between them.
pub fn render(path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let renderer = Renderer::plain().decor_style(DecorStyle::Ascii);
    let mut out = String::new();
    for d in diagnostics {
        let mut group = Group::with_title(Level::ERROR.primary_title(d.message.as_str()));
        if let Some(span) = &d.span {
            let span = clamp(span.clone(), source.len());
            let mut annotation = AnnotationKind::Primary.span(span);
            if let Some(label) = &d.label {
                annotation = annotation.label(label.as_str());
            }
            group = group.element(Snippet::source(source).path(path).annotation(annotation));
        } else {
            group = group.element(Level::NOTE.message(format!("in {path}")));
        }
        if let Some(help) = &d.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        out.push_str(&renderer.render(&[group]));
        out.push_str("\n\n");
    }
    if diagnostics.len() > 1 {
        out.push_str(&format!(
            "error: {} problems in {path}\n",
            diagnostics.len()
        ));
    }
    out
}

fn clamp(span: Range<usize>, len: usize) -> Range<usize> {
    let start = span.start.min(len);
    start..span.end.clamp(start, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let src = "[sinks.lake]\ninputs = [\"brand.post\"]\n";
        let d = Diagnostic::new(
            "input \"brand.post\" of sink \"lake\" does not match any stream",
            23..35,
        )
        .help("did you mean \"brand.posts\"?");
        let text = render("p.toml", src, &[d]);
        assert!(text.contains("--> p.toml:2:11"), "{text}");
        assert!(text.contains("^^^^^^^^^^^^"), "{text}");
        assert!(
            text.contains("= help: did you mean \"brand.posts\"?"),
            "{text}"
        );
    }

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(
            did_you_mean("brand.post", ["brand.posts", "x.tweets"]),
            Some("brand.posts")
        );
        assert_eq!(did_you_mean("zzz", ["brand.posts"]), None);
    }
}
