//! Pipeline files, phase one: the keys the runner owns.
//!
//! The file is parsed keeping every value's position. The runner takes `[pipeline]` and, from
//! each `[sources.*]`, `[transforms.*]`, `[sinks.*]` and `[marts.*]` table, the keys `type`,
//! `inputs`, `streams` and (marts) `sink`; `${VAR}` references in every other string are interpolated and the rest is left
//! as a [`ConfigTable`] for the component to deserialize (phase two, in [`crate::compile`]).
//! Every problem found is collected; none stops the reading of the rest.

pub mod interpolate;

use std::ops::Range;
use std::path::{Path, PathBuf};

use chorus_core::ConfigTable;
use chorus_core::config::leak_text;
use chrono::NaiveDate;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, did_you_mean};
use interpolate::interpolate;

/// A pipeline file's text and where it lives.
#[derive(Debug, Clone)]
pub struct PipelineText {
    /// The path as given, for messages.
    pub display: String,
    /// The whole text.
    pub source: &'static str,
    /// The folder relative paths are resolved against.
    pub base_dir: PathBuf,
}

impl PipelineText {
    /// Reads a pipeline file.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self::new(path, &text))
    }

    /// Wraps text as if read from `path`.
    pub fn new(path: &Path, text: &str) -> Self {
        let base_dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Self {
            display: path.display().to_string(),
            source: leak_text(text),
            base_dir,
        }
    }
}

/// A string value with its position.
pub type SpannedStr = Spanned<String>;

/// The kind of a component table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[sources.*]`
    Source,
    /// `[transforms.*]`
    Transform,
    /// `[sinks.*]`
    Sink,
    /// `[marts.*]`: SQL over a sink's committed tables, rebuilt after every commit.
    Mart,
}

impl Kind {
    /// The word used in messages.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Transform => "transform",
            Kind::Sink => "sink",
            Kind::Mart => "mart",
        }
    }
}

/// One `[sources.*]`, `[transforms.*]` or `[sinks.*]` table after phase one.
#[derive(Debug, Clone)]
pub struct RawComponent {
    /// Which section it is in.
    pub kind: Kind,
    /// Its id.
    pub id: String,
    /// Where its id is written.
    pub id_span: Range<usize>,
    /// Its `type`.
    pub type_name: Option<SpannedStr>,
    /// Its `inputs` (transforms and sinks).
    pub inputs: Vec<SpannedStr>,
    /// The `streams` filter (sources).
    pub streams: Option<Vec<SpannedStr>>,
    /// `keep_unknown_fields` (sources): keep the fields the streams do not read.
    pub keep_unknown_fields: Option<Spanned<bool>>,
    /// The sink whose tables a mart reads and writes (marts).
    pub sink: Option<SpannedStr>,
    /// The rest, interpolated, for the component.
    pub table: ConfigTable,
    /// The rest as written, to check that secrets come from the environment.
    pub raw: DeTable<'static>,
}

/// `[pipeline]` and the component tables.
#[derive(Debug, Clone, Default)]
pub struct RawPipeline {
    /// `name`.
    pub name: Option<SpannedStr>,
    /// `state`: where state and commits live, when not with the first sink.
    pub state: Option<SpannedStr>,
    /// `concurrency`: how many streams read at once.
    pub concurrency: Option<usize>,
    /// `on_bad_value`: what a value that does not fit its column's recorded type becomes.
    pub on_bad_value: Option<crate::contract::BadValuePolicy>,
    /// Sources in file order.
    pub sources: Vec<RawComponent>,
    /// Transforms in file order.
    pub transforms: Vec<RawComponent>,
    /// Sinks in file order.
    pub sinks: Vec<RawComponent>,
    /// Marts in file order.
    pub marts: Vec<RawComponent>,
    /// Whether an unknown section was found (a misspelt `[sinks]` should not also be
    /// reported as a missing sink).
    pub unknown_sections: bool,
}

const TOP_KEYS: &[&str] = &["pipeline", "sources", "transforms", "sinks", "marts"];
const PIPELINE_KEYS: &[&str] = &["name", "state", "concurrency", "on_bad_value"];

/// Reads the runner's keys out of a pipeline file, collecting every problem.
pub fn parse(
    text: &PipelineText,
    env: &dyn Fn(&str) -> Option<String>,
) -> (RawPipeline, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let (root, errors) = DeTable::parse_recoverable(text.source);
    for e in errors {
        diags.push(
            Diagnostic::new(e.message().trim_end().to_owned(), e.span())
                .help("fix the TOML syntax"),
        );
    }
    let mut out = RawPipeline::default();
    let root = root.into_inner();
    for (key, value) in root {
        let key_name = key.get_ref().to_string();
        let key_span = key.span();
        match key_name.as_str() {
            "pipeline" => parse_pipeline_table(value, env, &mut out, &mut diags),
            "sources" | "transforms" | "sinks" | "marts" => {
                let kind = match key_name.as_str() {
                    "sources" => Kind::Source,
                    "transforms" => Kind::Transform,
                    "marts" => Kind::Mart,
                    _ => Kind::Sink,
                };
                let span = value.span();
                let DeValue::Table(table) = value.into_inner() else {
                    diags.push(
                        Diagnostic::new(
                            format!("`{key_name}` must be a table of components"),
                            span,
                        )
                        .help(format!("write [{key_name}.<id>] sections")),
                    );
                    continue;
                };
                for (id, body) in table {
                    if let Some(c) = parse_component(kind, id, body, text, env, &mut diags) {
                        match kind {
                            Kind::Source => out.sources.push(c),
                            Kind::Transform => out.transforms.push(c),
                            Kind::Sink => out.sinks.push(c),
                            Kind::Mart => out.marts.push(c),
                        }
                    }
                }
            }
            other => {
                out.unknown_sections = true;
                let mut d = Diagnostic::new(format!("unknown section `{other}`"), key_span);
                d = match did_you_mean(other, TOP_KEYS.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("sections are [pipeline], [sources.<id>], [transforms.<id>], [sinks.<id>] and [marts.<id>]"),
                };
                diags.push(d);
            }
        }
    }
    if out.name.is_none() && diags.is_empty() {
        diags.push(
            Diagnostic::new("the pipeline has no name", 0..0)
                .help("add\n[pipeline]\nname = \"my_pipeline\"   # [a-z0-9_]+"),
        );
    }
    (out, diags)
}

fn expect_string(
    value: &Spanned<DeValue<'static>>,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<SpannedStr> {
    match value.get_ref() {
        DeValue::String(s) => Some(Spanned::new(value.span(), s.to_string())),
        other => {
            diags.push(Diagnostic::new(
                format!("{what} must be a string, not {}", other.type_str()),
                value.span(),
            ));
            None
        }
    }
}

fn parse_pipeline_table(
    value: Spanned<DeValue<'static>>,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut RawPipeline,
    diags: &mut Vec<Diagnostic>,
) {
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        diags.push(
            Diagnostic::new("`pipeline` must be a table", span).help("write a [pipeline] section"),
        );
        return;
    };
    for (key, mut value) in table {
        interpolate_value(&mut value, env, diags);
        match key.get_ref().as_ref() {
            "name" => {
                if let Some(name) = expect_string(&value, "`name`", diags) {
                    if !chorus_core::schema::is_identifier(name.get_ref()) {
                        diags.push(
                            Diagnostic::new(
                                format!("pipeline name \"{}\" is not valid", name.get_ref()),
                                name.span(),
                            )
                            .help(
                                "pipeline names use [a-z0-9_]+: they name the state and the runs",
                            ),
                        );
                    }
                    out.name = Some(name);
                }
            }
            "state" => out.state = expect_string(&value, "`state`", diags),
            "concurrency" => match value
                .get_ref()
                .as_integer()
                .and_then(|i| i.as_str().parse::<usize>().ok())
            {
                Some(n) if (1..=256).contains(&n) => out.concurrency = Some(n),
                _ => diags.push(Diagnostic::new(
                    "`concurrency` must be a whole number from 1 to 256",
                    value.span(),
                )),
            },
            "on_bad_value" => {
                if let Some(v) = expect_string(&value, "`on_bad_value`", diags) {
                    match crate::contract::BadValuePolicy::parse(v.get_ref()) {
                        Some(p) => out.on_bad_value = Some(p),
                        None => diags.push(
                            Diagnostic::new(
                                format!("`on_bad_value` cannot be \"{}\"", v.get_ref()),
                                v.span(),
                            )
                            .help("write \"fail\" (the default: the stream fails, exit 65) or \"null\" (the value becomes NULL and is counted)"),
                        ),
                    }
                }
            }
            other => {
                let mut d =
                    Diagnostic::new(format!("unknown key `{other}` in [pipeline]"), key.span());
                if let Some(s) = did_you_mean(other, PIPELINE_KEYS.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else {
                    d = d.help(format!("[pipeline] takes {}", PIPELINE_KEYS.join(", ")));
                }
                diags.push(d);
            }
        }
    }
}

fn parse_component(
    kind: Kind,
    id: Spanned<std::borrow::Cow<'static, str>>,
    body: Spanned<DeValue<'static>>,
    text: &PipelineText,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<RawComponent> {
    let id_span = id.span();
    let id = id.into_inner().into_owned();
    if !chorus_core::schema::is_identifier(&id) {
        diags.push(
            Diagnostic::new(
                format!("{} id \"{id}\" is not valid", kind.word()),
                id_span.clone(),
            )
            .help("ids use [a-z0-9_]+ (lowercase letters, digits, underscores)"),
        );
    }
    let body_span = body.span();
    let DeValue::Table(table) = body.into_inner() else {
        diags.push(Diagnostic::new(
            format!("{} \"{id}\" must be a table", kind.word()),
            body_span,
        ));
        return None;
    };
    let mut type_name = None;
    let mut inputs = Vec::new();
    let mut streams = None;
    let mut keep_unknown_fields = None;
    let mut sink = None;
    let mut rest: DeTable<'static> = DeTable::new();
    for (key, value) in table {
        match (kind, key.get_ref().as_ref()) {
            (_, "type") => type_name = expect_string(&value, "`type`", diags),
            (Kind::Transform | Kind::Sink | Kind::Mart, "inputs") => {
                inputs = string_list(&value, "`inputs`", diags)
            }
            (Kind::Mart, "sink") => sink = expect_string(&value, "`sink`", diags),
            (Kind::Source, "streams") => streams = Some(string_list(&value, "`streams`", diags)),
            (Kind::Source, "keep_unknown_fields") => match value.get_ref() {
                DeValue::Boolean(b) => keep_unknown_fields = Some(Spanned::new(value.span(), *b)),
                other => diags.push(
                    Diagnostic::new(
                        format!(
                            "`keep_unknown_fields` must be true or false, not {}",
                            other.type_str()
                        ),
                        value.span(),
                    )
                    .help("write keep_unknown_fields = true (without quotes)"),
                ),
            },
            _ => {
                rest.insert(key, value);
            }
        }
    }
    if kind == Kind::Mart && type_name.is_none() {
        // A mart is SQL unless it says otherwise.
        type_name = Some(Spanned::new(id_span.clone(), "sql".to_owned()));
    }
    if type_name.is_none() {
        diags.push(
            Diagnostic::new(
                format!("{} \"{id}\" has no `type`", kind.word()),
                id_span.clone(),
            )
            .help("add type = \"…\"; `chorus connectors` lists the types"),
        );
    }
    let raw = rest.clone();
    for (_, value) in rest.iter_mut() {
        interpolate_value(value, env, diags);
    }
    if kind == Kind::Source {
        let today = chrono::Utc::now().date_naive();
        for (key, value) in rest.iter_mut() {
            if RELATIVE_DATE_KEYS.contains(&key.get_ref().as_ref())
                && let DeValue::String(s) = value.get_mut()
                && let Some(day) = relative_date(s, today)
            {
                *s = std::borrow::Cow::Owned(day.to_string());
            }
        }
    }
    let table = ConfigTable::new(Spanned::new(body_span, rest), text.base_dir.clone());
    Some(RawComponent {
        kind,
        id,
        id_span,
        type_name,
        inputs,
        streams,
        keep_unknown_fields,
        sink,
        table,
        raw,
    })
}

/// The source keys that take a day relative to today as well as a date.
const RELATIVE_DATE_KEYS: &[&str] = &["start_date", "start_time", "end_date"];

/// A day relative to `today`, written as GA4 writes them: `today`, `yesterday` or `NdaysAgo`
/// (`90daysAgo`); `None` for anything else, which the connector reads as it is.
pub fn relative_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let days = match text.trim() {
        "today" => 0,
        "yesterday" => 1,
        t => {
            let n = t.strip_suffix("daysAgo")?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n.parse::<u64>().ok()?
        }
    };
    today.checked_sub_days(chrono::Days::new(days))
}

fn string_list(
    value: &Spanned<DeValue<'static>>,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<SpannedStr> {
    match value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .filter_map(|item| expect_string(item, &format!("every item of {what}"), diags))
            .collect(),
        other => {
            diags.push(
                Diagnostic::new(
                    format!("{what} must be a list of strings, not {}", other.type_str()),
                    value.span(),
                )
                .help("write a list: [\"a\", \"b\"]"),
            );
            Vec::new()
        }
    }
}

fn interpolate_value(
    value: &mut Spanned<DeValue<'static>>,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains('$') => match interpolate(s, env) {
            Ok(new) => *s = std::borrow::Cow::Owned(new),
            Err(e) => {
                let mut d = Diagnostic::new(e.message, span);
                if let Some(help) = e.help {
                    d = d.help(help);
                }
                diags.push(d);
            }
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                interpolate_value(item, env, diags);
            }
        }
        DeValue::Table(t) => {
            for (_, v) in t.iter_mut() {
                interpolate_value(v, env, diags);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_values_are_interpolated_as_the_docs_say() {
        let text = PipelineText::new(
            Path::new("p.toml"),
            "[pipeline]\nname = \"${NAME}\"\nstate = \"${STATE:-out/state}\"\n",
        );
        let env = |k: &str| (k == "NAME").then(|| "nightly".to_owned());
        let (raw, diags) = parse(&text, &env);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(raw.name.unwrap().into_inner(), "nightly");
        assert_eq!(raw.state.unwrap().into_inner(), "out/state");
    }

    #[test]
    fn relative_dates_count_back_from_today() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let today = d("2024-03-01");
        assert_eq!(relative_date("today", today), Some(today));
        assert_eq!(relative_date("yesterday", today), Some(d("2024-02-29")));
        assert_eq!(relative_date("90daysAgo", today), Some(d("2023-12-02")));
        assert_eq!(
            relative_date("1daysAgo", d("2027-01-01")),
            Some(d("2026-12-31"))
        );
        for other in [
            "2024-01-01",
            "daysAgo",
            "-3daysAgo",
            "3 days ago",
            "x90daysAgo",
            "",
        ] {
            assert_eq!(relative_date(other, today), None, "{other}");
        }
    }
}
