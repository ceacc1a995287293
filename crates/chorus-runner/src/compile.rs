//! Pipeline files, phase two: components built, inputs resolved, the graph checked.
//!
//! [`compile`] turns a [`PipelineText`] into a [`Plan`] or into every [`Diagnostic`] it found:
//! ids, types, literal secrets, each component's own settings, stream filters, inputs (with
//! "did you mean"), cycles, what each sink can take, and where state lives. Nothing here
//! touches the network or writes a file.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use chorus_core::schema::metadata_fields;
use chorus_core::{
    BuildContext, ConfigError, ConnectorDoc, Registry, Shard, Sink, Source, Stream, Transform,
    TransformInput,
};
use chorus_sink::store::Location;
use toml::de::DeValue;

use crate::config::interpolate::is_env_reference;
use crate::config::{self, Kind, PipelineText, RawComponent};
use crate::diagnostic::{Diagnostic, did_you_mean};

/// The default number of streams read at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// A source with its selected streams.
pub struct SourceNode {
    /// The source id.
    pub id: String,
    /// Its connector type.
    pub type_name: String,
    /// The built source.
    pub source: Box<dyn Source>,
    /// The streams the pipeline reads (after the `streams` filter).
    pub streams: Vec<Arc<dyn Stream>>,
    /// Whether this worker reads the source: always, unless `--shard` gave a source whose
    /// connector does not split its accounts to another worker.
    pub owned: bool,
}

/// A built transform.
pub struct TransformNode {
    /// The transform id.
    pub id: String,
    /// Its inputs, in order.
    pub inputs: Vec<String>,
    /// The transform.
    pub transform: Arc<dyn Transform>,
}

/// A built sink.
pub struct SinkNode {
    /// The sink id.
    pub id: String,
    /// Its inputs.
    pub inputs: Vec<String>,
    /// The sink.
    pub sink: Arc<dyn Sink>,
}

/// A built mart: SQL over one sink's committed tables, rebuilt and replaced after every
/// commit, so daily and per-post aggregates always cover all the data, not one run's share.
pub struct MartNode {
    /// The mart id, which is also its table's input id.
    pub id: String,
    /// The sink whose tables it reads and which writes it: index into [`Plan::sinks`].
    pub sink: usize,
    /// The sink inputs it reads, in order.
    pub inputs: Vec<String>,
    /// The query, as a transform over the committed tables.
    pub transform: Arc<dyn Transform>,
}

/// Where a table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A source's stream: indexes into [`Plan::sources`] and its streams.
    Stream(usize, usize),
    /// A transform: index into [`Plan::transforms`].
    Transform(usize),
}

/// What the pipeline knows about every table (source stream or transform output).
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Its schema, with the metadata columns for source streams.
    pub schema: SchemaRef,
    /// Its primary key.
    pub primary_key: Vec<String>,
    /// Its cursor column.
    pub cursor_field: Option<String>,
    /// Where it comes from.
    pub origin: Origin,
}

/// A validated pipeline, ready to run.
pub struct Plan {
    /// The pipeline's name.
    pub name: String,
    /// The file it came from.
    pub text: PipelineText,
    /// Where the commit log and state live.
    pub state_location: Location,
    /// How many streams read at once.
    pub concurrency: usize,
    /// What a value that does not fit its column's recorded type becomes.
    pub on_bad_value: crate::contract::BadValuePolicy,
    /// Sources in file order.
    pub sources: Vec<SourceNode>,
    /// Transforms in dependency order.
    pub transforms: Vec<TransformNode>,
    /// Sinks in file order.
    pub sinks: Vec<SinkNode>,
    /// Marts in file order.
    pub marts: Vec<MartNode>,
    /// Every table by input id.
    pub tables: BTreeMap<String, TableInfo>,
    /// Secret values from the environment, to redact from anything printed.
    pub secrets: Vec<String>,
    /// This worker's share of the accounts (`--shard`).
    pub shard: Shard,
}

/// The schema of a source stream as the rest of the pipeline sees it: the metadata columns
/// appended.
pub fn with_metadata(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(metadata_fields());
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Validates a pipeline file and builds its plan, or returns every problem found.
pub fn compile(
    text: PipelineText,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, Vec<Diagnostic>> {
    compile_shard(text, registry, env, Shard::ALL)
}

/// [`compile`] for one worker of `--shard i/n`: its components are built knowing the shard.
pub fn compile_shard(
    text: PipelineText,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
    shard: Shard,
) -> Result<Plan, Vec<Diagnostic>> {
    let (raw, mut diags) = config::parse(&text, env);
    let mut pipeline_name = raw
        .name
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or_default();
    if shard.is_split() {
        // Each worker commits on its own: a sink that records who committed must tell them apart.
        pipeline_name = format!("{pipeline_name}#shard{}of{}", shard.index(), shard.count());
    }
    let cx = |id: &str| BuildContext {
        id: id.to_owned(),
        shard,
        pipeline: pipeline_name.clone(),
        keep_unknown_fields: false,
    };
    let mut secrets = Vec::new();
    check_unique_ids(&raw.sources, &raw.transforms, &mut diags);

    // Sources.
    let mut sources = Vec::new();
    let mut tables: BTreeMap<String, TableInfo> = BTreeMap::new();
    let mut excluded: BTreeSet<String> = BTreeSet::new();
    for c in &raw.sources {
        let Some((built, splits)) = build_source(c, registry, cx(&c.id), &mut secrets, &mut diags)
        else {
            continue;
        };
        let all = built.streams();
        let streams: Vec<Arc<dyn Stream>> = match &c.streams {
            None => all,
            Some(wanted) => {
                let names: Vec<String> = all.iter().map(|s| s.spec().name.clone()).collect();
                for w in wanted {
                    if !names.contains(w.get_ref()) {
                        let mut d = Diagnostic::new(
                            format!("source \"{}\" has no stream \"{}\"", c.id, w.get_ref()),
                            w.span(),
                        );
                        d = match did_you_mean(w.get_ref(), names.iter().map(String::as_str)) {
                            Some(s) => d.help(format!("did you mean \"{s}\"?")),
                            None => d.help(format!("its streams are: {}", names.join(", "))),
                        };
                        diags.push(d);
                    }
                }
                let (kept, left_out): (Vec<_>, Vec<_>) = all
                    .into_iter()
                    .partition(|s| wanted.iter().any(|w| w.get_ref() == &s.spec().name));
                excluded.extend(
                    left_out
                        .iter()
                        .map(|s| format!("{}.{}", c.id, s.spec().name)),
                );
                kept
            }
        };
        let si = sources.len();
        for (i, s) in streams.iter().enumerate() {
            let spec = s.spec();
            tables.insert(
                format!("{}.{}", c.id, spec.name),
                TableInfo {
                    schema: with_metadata(&spec.schema),
                    primary_key: spec.primary_key.clone(),
                    cursor_field: spec.cursor_field.clone(),
                    origin: Origin::Stream(si, i),
                },
            );
        }
        sources.push(SourceNode {
            id: c.id.clone(),
            type_name: c
                .type_name
                .as_ref()
                .map(|t| t.get_ref().clone())
                .unwrap_or_default(),
            source: built,
            streams,
            owned: splits || shard.owns(&c.id),
        });
    }
    let source_ids: BTreeSet<&str> = raw.sources.iter().map(|c| c.id.as_str()).collect();

    // Transforms, in dependency order.
    let transform_ids: BTreeSet<&str> = raw.transforms.iter().map(|c| c.id.as_str()).collect();
    let order = transform_order(&raw.transforms, &transform_ids, &mut diags);
    let mut transforms = Vec::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for idx in order {
        let c = &raw.transforms[idx];
        if c.inputs.is_empty() {
            diags.push(
                Diagnostic::new(
                    format!("transform \"{}\" has no inputs", c.id),
                    c.id_span.clone(),
                )
                .help("add inputs = [\"source.stream\", …]"),
            );
        }
        let mut inputs = Vec::new();
        let mut ok = true;
        for input in &c.inputs {
            let name = input.get_ref();
            if let Some(info) = tables.get(name) {
                inputs.push(TransformInput {
                    id: name.clone(),
                    schema: Arc::clone(&info.schema),
                    primary_key: info.primary_key.clone(),
                    cursor_field: info.cursor_field.clone(),
                });
            } else {
                ok = false;
                if !failed.contains(name) && !is_failed_source_stream(name, &source_ids, &sources) {
                    diags.push(unknown_input(
                        Kind::Transform,
                        &c.id,
                        input,
                        &tables,
                        &excluded,
                    ));
                }
            }
        }
        let Some(factory) =
            lookup_type(c, registry, &mut diags).and_then(|t| registry.transform(&t))
        else {
            failed.insert(c.id.clone());
            continue;
        };
        if !ok {
            failed.insert(c.id.clone());
            continue;
        }
        let doc = factory.doc();
        check_secrets(c, &doc, &mut secrets, &mut diags);
        match factory.build(&c.table, &inputs, &cx(&c.id)) {
            Ok(t) => {
                let ti = transforms.len();
                tables.insert(
                    c.id.clone(),
                    TableInfo {
                        schema: t.schema(),
                        primary_key: t.primary_key(),
                        cursor_field: None,
                        origin: Origin::Transform(ti),
                    },
                );
                transforms.push(TransformNode {
                    id: c.id.clone(),
                    inputs: c.inputs.iter().map(|i| i.get_ref().clone()).collect(),
                    transform: Arc::from(t),
                });
            }
            Err(e) => {
                failed.insert(c.id.clone());
                diags.push(component_error(e, c, &doc));
            }
        }
    }

    // Sinks.
    let mut sinks = Vec::new();
    if raw.sinks.is_empty() && raw.name.is_some() && !raw.unknown_sections {
        diags.push(Diagnostic::new("the pipeline has no sink", raw.name.as_ref().map(|n| n.span()))
            .help("add a [sinks.<id>] section with type = \"parquet\", inputs and a path; `chorus init parquet` prints one"));
    }
    for c in &raw.sinks {
        if c.inputs.is_empty() {
            diags.push(
                Diagnostic::new(
                    format!("sink \"{}\" has no inputs", c.id),
                    c.id_span.clone(),
                )
                .help("add inputs = [\"source.stream\", …]"),
            );
        }
        let Some(factory) = lookup_type(c, registry, &mut diags).and_then(|t| registry.sink(&t))
        else {
            continue;
        };
        let doc = factory.doc();
        check_secrets(c, &doc, &mut secrets, &mut diags);
        let sink = match factory.build(&c.table, &cx(&c.id)) {
            Ok(s) => s,
            Err(e) => {
                diags.push(component_error(e, c, &doc));
                continue;
            }
        };
        let input_names: Vec<String> = c.inputs.iter().map(|i| i.get_ref().clone()).collect();
        if let Err(e) = sink.check_inputs(&input_names) {
            diags.push(Diagnostic::from_config(e, c.id_span.clone()));
        }
        let mut seen_tables: BTreeMap<String, String> = BTreeMap::new();
        for input in &c.inputs {
            let name = input.get_ref();
            match tables.get(name) {
                Some(info) => {
                    if let Err(e) = sink.check_input(name, &info.schema, &info.primary_key) {
                        diags.push(Diagnostic::from_config(e, input.span()));
                    }
                    if let Err(e) = sink.check_table_name(name) {
                        diags.push(Diagnostic::from_config(e, input.span()));
                    }
                    let table = sink.table_name(name);
                    if let Some(other) = seen_tables.insert(table.clone(), name.clone()) {
                        diags.push(Diagnostic::new(
                            format!("inputs \"{other}\" and \"{name}\" of sink \"{}\" both write table \"{table}\"", c.id),
                            input.span(),
                        ).help(format!("rename one under [sinks.{}.tables]", c.id)));
                    }
                }
                None => {
                    if !failed.contains(name)
                        && !is_failed_source_stream(name, &source_ids, &sources)
                    {
                        diags.push(unknown_input(Kind::Sink, &c.id, input, &tables, &excluded));
                    }
                }
            }
        }
        sinks.push(SinkNode {
            id: c.id.clone(),
            inputs: c.inputs.iter().map(|i| i.get_ref().clone()).collect(),
            sink: Arc::from(sink),
        });
    }

    let marts = compile_marts(
        &raw.marts,
        &sinks,
        &tables,
        registry,
        &mut secrets,
        &mut diags,
    );

    // Where state lives.
    let state_location = state_location(&raw, &text, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let (Some(name), Some(state_location)) = (raw.name, state_location) else {
        return Err(vec![Diagnostic::new("the pipeline is incomplete", None)]);
    };
    secrets.sort();
    secrets.dedup();
    Ok(Plan {
        name: name.into_inner(),
        text,
        state_location,
        concurrency: raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        on_bad_value: raw.on_bad_value.unwrap_or_default(),
        sources,
        transforms,
        sinks,
        marts,
        tables,
        secrets,
        shard,
    })
}

/// Builds the marts: each reads inputs its sink writes, and its table must not clash with
/// another of that sink's tables.
fn compile_marts(
    raw: &[RawComponent],
    sinks: &[SinkNode],
    tables: &BTreeMap<String, TableInfo>,
    registry: &Registry,
    secrets: &mut Vec<String>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<MartNode> {
    let mut marts: Vec<MartNode> = Vec::new();
    for (at, c) in raw.iter().enumerate() {
        // An earlier mart that failed to build was reported already.
        let failed_earlier = |name: &str| {
            raw[..at].iter().any(|m| m.id == name) && !marts.iter().any(|m| m.id == name)
        };
        if tables.contains_key(&c.id) || marts.iter().any(|m| m.id == c.id) {
            diags.push(
                Diagnostic::new(
                    format!("mart \"{}\" has the same id as another table", c.id),
                    c.id_span.clone(),
                )
                .help("marts, sources and transforms share one namespace of tables: rename one"),
            );
            continue;
        }
        let sink = match (&c.sink, sinks.len()) {
            (Some(name), _) => {
                let found = sinks.iter().position(|s| s.id == *name.get_ref());
                if found.is_none() {
                    let mut d = Diagnostic::new(
                        format!(
                            "mart \"{}\" names sink \"{}\", which does not exist",
                            c.id,
                            name.get_ref()
                        ),
                        name.span(),
                    );
                    if let Some(s) =
                        did_you_mean(name.get_ref(), sinks.iter().map(|s| s.id.as_str()))
                    {
                        d = d.help(format!("did you mean \"{s}\"?"));
                    }
                    diags.push(d);
                }
                found
            }
            (None, 1) => Some(0),
            (None, 0) => None,
            (None, _) => {
                diags.push(
                    Diagnostic::new(
                        format!("mart \"{}\" must say which sink's tables it reads", c.id),
                        c.id_span.clone(),
                    )
                    .help(format!(
                        "add sink = \"{}\"",
                        sinks.first().map_or("lake", |s| s.id.as_str())
                    )),
                );
                None
            }
        };
        let Some(si) = sink else { continue };
        let node = &sinks[si];
        if c.inputs.is_empty() {
            diags.push(
                Diagnostic::new(
                    format!("mart \"{}\" has no inputs", c.id),
                    c.id_span.clone(),
                )
                .help(format!(
                    "add inputs = [\"…\"]: tables sink \"{}\" writes ({})",
                    node.id,
                    node.inputs.join(", ")
                )),
            );
        }
        let mut inputs = Vec::new();
        let mut ok = true;
        for input in &c.inputs {
            let name = input.get_ref();
            let earlier = marts.iter().find(|m| m.id == *name && m.sink == si);
            match (tables.get(name), earlier) {
                (Some(info), _) if node.inputs.contains(name) => inputs.push(TransformInput {
                    id: name.clone(),
                    schema: Arc::clone(&info.schema),
                    primary_key: info.primary_key.clone(),
                    cursor_field: info.cursor_field.clone(),
                }),
                (_, Some(m)) => inputs.push(TransformInput {
                    id: name.clone(),
                    schema: m.transform.schema(),
                    primary_key: m.transform.primary_key(),
                    cursor_field: None,
                }),
                // An input of the sink that failed to build was reported already.
                _ if failed_earlier(name) || node.inputs.contains(name) => ok = false,
                _ => {
                    ok = false;
                    let mut d = Diagnostic::new(
                        format!(
                            "mart \"{}\" reads \"{name}\", which sink \"{}\" does not write",
                            c.id, node.id
                        ),
                        input.span(),
                    );
                    d = match did_you_mean(name, node.inputs.iter().map(String::as_str)) {
                        Some(s) => d.help(format!("did you mean \"{s}\"?")),
                        None => d.help(format!(
                            "a mart reads committed tables (the sink's inputs and the marts above it); sink \"{}\" writes: {}",
                            node.id,
                            node.inputs.join(", ")
                        )),
                    };
                    diags.push(d);
                }
            }
        }
        let Some(factory) = lookup_type(c, registry, diags).and_then(|t| registry.transform(&t))
        else {
            continue;
        };
        if !ok {
            continue;
        }
        let doc = factory.doc();
        check_secrets(c, &doc, secrets, diags);
        let transform = match factory.build(&c.table, &inputs, &BuildContext::new(c.id.clone())) {
            Ok(t) => t,
            Err(e) => {
                diags.push(component_error(e, c, &doc));
                continue;
            }
        };
        if let Err(e) = node.sink.check_table_name(&c.id) {
            diags.push(Diagnostic::from_config(e, c.id_span.clone()));
            continue;
        }
        let table = node.sink.table_name(&c.id);
        if let Some(other) = node
            .inputs
            .iter()
            .find(|i| node.sink.table_name(i) == table)
        {
            diags.push(
                Diagnostic::new(
                    format!("mart \"{}\" and input \"{other}\" of sink \"{}\" both write table \"{table}\"", c.id, node.id),
                    c.id_span.clone(),
                )
                .help("rename the mart"),
            );
            continue;
        }
        marts.push(MartNode {
            id: c.id.clone(),
            sink: si,
            inputs: c.inputs.iter().map(|i| i.get_ref().clone()).collect(),
            transform: Arc::from(transform),
        });
    }
    marts
}

fn check_unique_ids(
    sources: &[RawComponent],
    transforms: &[RawComponent],
    diags: &mut Vec<Diagnostic>,
) {
    for t in transforms {
        if sources.iter().any(|s| s.id == t.id) {
            diags.push(
                Diagnostic::new(
                    format!("transform \"{}\" has the same id as a source", t.id),
                    t.id_span.clone(),
                )
                .help("sources and transforms share one namespace of inputs: rename one"),
            );
        }
    }
}

/// Whether `name` refers to a stream of a source that failed to build (already reported).
fn is_failed_source_stream(name: &str, source_ids: &BTreeSet<&str>, built: &[SourceNode]) -> bool {
    name.split_once('.')
        .is_some_and(|(src, _)| source_ids.contains(src) && !built.iter().any(|s| s.id == src))
}

fn lookup_type(
    c: &RawComponent,
    registry: &Registry,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    let t = c.type_name.as_ref()?;
    let name = t.get_ref();
    let known: Vec<&'static str> = match c.kind {
        Kind::Source => registry.connectors().map(|x| x.doc().name).collect(),
        Kind::Transform | Kind::Mart => registry.transforms().map(|x| x.doc().name).collect(),
        Kind::Sink => registry.sinks().map(|x| x.doc().name).collect(),
    };
    if known.contains(&name.as_str()) {
        return Some(name.clone());
    }
    let word = c.kind.word();
    let mut d = Diagnostic::new(format!("unknown {word} type \"{name}\""), t.span());
    d = match did_you_mean(name, known.iter().copied()) {
        Some(s) => d.help(format!("did you mean \"{s}\"?")),
        None if known.is_empty() => d.help(format!("this build of chorus has no {word} types")),
        None => d.help(format!("{word} types are: {}", known.join(", "))),
    };
    diags.push(d);
    None
}

/// Builds a source; also says whether its connector splits its accounts across shards.
fn build_source(
    c: &RawComponent,
    registry: &Registry,
    cx: BuildContext,
    secrets: &mut Vec<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Box<dyn Source>, bool)> {
    let type_name = lookup_type(c, registry, diags)?;
    let connector = registry.connector(&type_name)?;
    let doc = connector.doc();
    check_secrets(c, &doc, secrets, diags);
    let mut cx = cx;
    if let Some(keep) = &c.keep_unknown_fields {
        cx.keep_unknown_fields = *keep.get_ref();
        if let (true, Err(why)) = (cx.keep_unknown_fields, connector.keeps_unknown_fields()) {
            diags.push(
                Diagnostic::new(
                    format!("source \"{}\" cannot keep unknown fields: {why}", c.id),
                    keep.span(),
                )
                .help("remove keep_unknown_fields"),
            );
            return None;
        }
    }
    match connector.build(&c.table, &cx) {
        Ok(s) => Some((s, connector.splits_accounts())),
        Err(e) => {
            diags.push(component_error(e, c, &doc));
            None
        }
    }
}

/// Refuses secrets written into the file, and collects the ones from the environment.
fn check_secrets(
    c: &RawComponent,
    doc: &ConnectorDoc,
    secrets: &mut Vec<String>,
    diags: &mut Vec<Diagnostic>,
) {
    for key in doc.secret_keys() {
        let Some(raw) = c.raw.get(key) else { continue };
        if let DeValue::String(s) = raw.get_ref()
            && is_env_reference(s)
        {
            if let Some(value) = c.table.get_str(key) {
                secrets.push(value.to_owned());
            }
            continue;
        }
        let var = format!("{}_{}", c.id, key).to_uppercase();
        diags.push(
            Diagnostic::new(
                format!(
                    "`{key}` of {} \"{}\" is a secret and must not be written in the file",
                    c.kind.word(),
                    c.id
                ),
                raw.span(),
            )
            .help(format!(
                "read it from the environment: {key} = \"${{{var}}}\""
            )),
        );
    }
}

fn component_error(err: ConfigError, c: &RawComponent, doc: &ConnectorDoc) -> Diagnostic {
    let mut d = Diagnostic::from_config(err, c.id_span.clone());
    d.message = format!("{} \"{}\": {}", c.kind.word(), c.id, d.message);
    if d.help.is_none()
        && let Some(field) = d
            .message
            .split("unknown field `")
            .nth(1)
            .and_then(|r| r.split('`').next())
    {
        let keys: Vec<&str> = doc
            .keys
            .iter()
            .map(|k| k.name.rsplit('.').next().unwrap_or(k.name))
            .collect();
        d.help = Some(match did_you_mean(field, keys.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("`chorus connectors` lists the keys of \"{}\"", doc.name),
        });
    }
    d
}

fn unknown_input(
    kind: Kind,
    id: &str,
    input: &toml::Spanned<String>,
    tables: &BTreeMap<String, TableInfo>,
    excluded: &BTreeSet<String>,
) -> Diagnostic {
    let name = input.get_ref();
    if excluded.contains(name) {
        let (source, stream) = name.split_once('.').unwrap_or((name, ""));
        return Diagnostic::new(
            format!("input \"{name}\" of {} \"{id}\" is a stream that source \"{source}\" does not read", kind.word()),
            input.span(),
        )
        .help(format!("add \"{stream}\" to `streams` of [sources.{source}]"));
    }
    let d = Diagnostic::new(
        format!(
            "input \"{name}\" of {} \"{id}\" does not match any stream or transform",
            kind.word()
        ),
        input.span(),
    );
    match did_you_mean(name, tables.keys().map(String::as_str)) {
        Some(s) => d.help(format!("did you mean \"{s}\"?")),
        None if tables.is_empty() => d.help("a source's stream is written `source.stream`"),
        None => {
            let known: Vec<&str> = tables.keys().map(String::as_str).take(12).collect();
            d.help(format!(
                "inputs are `source.stream` or a transform id: {}",
                known.join(", ")
            ))
        }
    }
}

/// Orders transforms so each comes after the transforms it reads; reports cycles.
fn transform_order(
    transforms: &[RawComponent],
    ids: &BTreeSet<&str>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<usize> {
    let index: BTreeMap<&str, usize> = transforms
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = transforms
        .iter()
        .map(|t| {
            t.inputs
                .iter()
                .filter(|i| ids.contains(i.get_ref().as_str()))
                .filter_map(|i| index.get(i.get_ref().as_str()).copied())
                .collect()
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; transforms.len()];
    let mut order = Vec::new();
    let mut reported: BTreeSet<usize> = BTreeSet::new();
    fn visit(
        n: usize,
        deps: &[Vec<usize>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        match marks[n] {
            Mark::Done => return,
            Mark::Active => {
                let start = path.iter().position(|&p| p == n).unwrap_or(0);
                cycles.push(path[start..].to_vec());
                return;
            }
            Mark::New => {}
        }
        marks[n] = Mark::Active;
        path.push(n);
        for &d in &deps[n] {
            visit(d, deps, marks, path, order, cycles);
        }
        path.pop();
        marks[n] = Mark::Done;
        order.push(n);
    }
    let mut cycles = Vec::new();
    for n in 0..transforms.len() {
        visit(
            n,
            &deps,
            &mut marks,
            &mut Vec::new(),
            &mut order,
            &mut cycles,
        );
    }
    let mut in_cycle = BTreeSet::new();
    for cycle in cycles {
        in_cycle.extend(cycle.iter().copied());
        let first = cycle[0];
        if !reported.insert(first) {
            continue;
        }
        let mut names: Vec<&str> = cycle.iter().map(|&i| transforms[i].id.as_str()).collect();
        names.push(&transforms[first].id);
        let span: Range<usize> = transforms[first]
            .inputs
            .iter()
            .find(|i| {
                index
                    .get(i.get_ref().as_str())
                    .is_some_and(|d| cycle.contains(d))
            })
            .map(|i| i.span())
            .unwrap_or_else(|| transforms[first].id_span.clone());
        diags.push(
            Diagnostic::new(
                format!("transforms form a cycle: {}", names.join(" -> ")),
                span,
            )
            .help("a transform cannot read its own output, directly or through others"),
        );
    }
    order.retain(|n| !in_cycle.contains(n));
    order
}

fn state_location(
    raw: &config::RawPipeline,
    text: &PipelineText,
    diags: &mut Vec<Diagnostic>,
) -> Option<Location> {
    let (path, span) = match (&raw.state, raw.sinks.first()) {
        (Some(state), _) => (state.get_ref().clone(), state.span()),
        (None, Some(sink)) => {
            let path = sink.table.get_str("path")?;
            // A sink path that cannot be written is reported by the sink itself.
            Location::parse(path, &text.base_dir).ok()?;
            (
                format!(
                    "{}/{}",
                    path.trim_end_matches('/'),
                    chorus_sink::layout::CHORUS_DIR
                ),
                sink.table.span_of("path"),
            )
        }
        (None, None) => return None,
    };
    match Location::parse(&path, &text.base_dir) {
        Ok(loc) => Some(loc),
        Err(msg) => {
            diags.push(Diagnostic::new(
                format!("cannot keep state at \"{path}\": {msg}"),
                span,
            ));
            None
        }
    }
}
