//! `chorus discover`, `schema`, `connectors` and `init`: what there is and how to use it.

use std::path::Path;

use arrow::datatypes::Schema;
use chorus_core::ConnectorDoc;
use chorus_core::schema::type_name;

use super::{Context, load};
use crate::exit;

fn print_schema(schema: &Schema) {
    for f in schema.fields() {
        println!(
            "      {:<28} {}{}",
            f.name(),
            type_name(f.data_type()),
            if f.is_nullable() { "" } else { " not null" }
        );
    }
}

/// Prints the streams of a pipeline.
pub fn discover(ctx: &Context, path: &Path) -> u8 {
    let plan = match load(ctx, path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    for s in &plan.sources {
        for stream in &s.streams {
            let spec = stream.spec();
            println!("{}.{}", s.id, spec.name);
            println!(
                "    primary key: {}",
                if spec.primary_key.is_empty() {
                    "-".into()
                } else {
                    spec.primary_key.join(", ")
                }
            );
            println!(
                "    cursor:      {}",
                spec.cursor_field.as_deref().unwrap_or("-")
            );
            println!(
                "    sync modes:  {}",
                spec.sync_modes
                    .iter()
                    .map(|m| serde_json::to_string(m)
                        .unwrap_or_default()
                        .trim_matches('"')
                        .to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("    lookback:    {} days", spec.lookback.as_secs() / 86_400);
            println!("    columns:");
            print_schema(&spec.schema);
        }
    }
    exit::OK
}

fn registry_or_exit() -> Result<chorus_core::Registry, u8> {
    crate::registry::builtin().map_err(|e| {
        eprintln!("error: {e} (this is a bug in chorus, please report it)");
        exit::PARTIAL
    })
}

/// Prints the fixed streams of a connector.
pub fn schema(connector: &str) -> u8 {
    let r = match registry_or_exit() {
        Ok(r) => r,
        Err(c) => return c,
    };
    let Some(c) = r.connector(connector) else {
        let names: Vec<_> = r.connectors().map(|c| c.doc().name).collect();
        eprintln!(
            "error: unknown connector \"{connector}\"; connectors are: {}",
            names.join(", ")
        );
        return exit::USAGE;
    };
    let streams = c.fixed_streams();
    if streams.is_empty() {
        println!(
            "the streams of \"{connector}\" are defined by its settings; run `chorus discover PIPELINE` on a pipeline that uses it"
        );
    }
    for spec in streams {
        println!("{}", spec.name);
        println!("    primary key: {}", spec.primary_key.join(", "));
        println!(
            "    cursor:      {}",
            spec.cursor_field.as_deref().unwrap_or("-")
        );
        print_schema(&spec.schema);
    }
    exit::OK
}

fn print_doc(kind: &str, doc: &ConnectorDoc) {
    println!("{kind} {}: {}", doc.name, doc.summary);
    for k in &doc.keys {
        println!(
            "    {:<24} {:<18} {}{}{}",
            k.name,
            k.type_name,
            if k.required { "required. " } else { "" },
            if k.secret {
                "secret: from ${VAR}. "
            } else {
                ""
            },
            k.doc
        );
    }
}

/// Lists every component type.
pub fn connectors() -> u8 {
    let r = match registry_or_exit() {
        Ok(r) => r,
        Err(c) => return c,
    };
    for c in r.connectors() {
        print_doc("source", &c.doc());
    }
    for t in r.transforms() {
        print_doc("transform", &t.doc());
    }
    for s in r.sinks() {
        print_doc("sink", &s.doc());
    }
    exit::OK
}

/// Prints a pipeline template for the given connector types.
pub fn init(names: &[String]) -> u8 {
    let r = match registry_or_exit() {
        Ok(r) => r,
        Err(c) => return c,
    };
    match template(&r, names) {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

/// The text of a pipeline template using the given connector types (sinks included).
pub fn template(r: &chorus_core::Registry, names: &[String]) -> Result<String, String> {
    let mut sources = String::new();
    let mut sinks = String::new();
    for name in names {
        if let Some(c) = r.connector(name) {
            sources.push_str(&c.doc().template.replace("{id}", name));
            sources.push('\n');
        } else if let Some(s) = r.sink(name) {
            sinks.push_str(&s.doc().template.replace("{id}", "lake"));
            sinks.push('\n');
        } else if let Some(t) = r.transform(name) {
            sources.push_str(&t.doc().template.replace("{id}", name));
            sources.push('\n');
        } else {
            let known: Vec<_> = r
                .connectors()
                .map(|c| c.doc().name)
                .chain(r.sinks().map(|s| s.doc().name))
                .collect();
            return Err(format!(
                "unknown connector \"{name}\"; known: {}",
                known.join(", ")
            ));
        }
    }
    if sinks.is_empty()
        && let Some(parquet) = r.sink("parquet")
    {
        sinks = parquet.doc().template.replace("{id}", "lake");
    }
    Ok(format!(
        "# A chorus pipeline. Validate with `chorus validate`, run with `chorus run`.\n[pipeline]\nname = \"my_pipeline\"\n\n{sources}{sinks}"
    ))
}
