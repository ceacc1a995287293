//! The one place that knows every component type: one line per crate.

use chorus_core::{Registry, RegistryError};

/// Every connector, transform and sink built into this binary.
pub fn builtin() -> Result<Registry, RegistryError> {
    let mut r = Registry::default();
    chorus_connector_files::register(&mut r)?;
    chorus_connector_meta::register(&mut r)?;
    chorus_connector_twitter::register(&mut r)?;
    chorus_connector_slack::register(&mut r)?;
    chorus_connector_google_analytics::register(&mut r)?;
    chorus_connector_zendesk::register(&mut r)?;
    chorus_connector_freshdesk::register(&mut r)?;
    chorus_transform::register(&mut r)?;
    chorus_sink::register_all(&mut r)?;
    chorus_delta::register(&mut r)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_well_formed() {
        let r = builtin().unwrap();
        for c in r.connectors() {
            let doc = c.doc();
            assert!(doc.template.contains("[sources.{id}]"), "{}", doc.name);
            assert!(doc.template.contains(&format!("type = \"{}\"", doc.name)));
            assert!(!doc.summary.is_empty() && doc.summary.ends_with('.'));
        }
        for t in r.transforms() {
            let doc = t.doc();
            assert!(doc.template.contains("[transforms.{id}]"), "{}", doc.name);
            assert!(doc.template.contains(&format!("type = \"{}\"", doc.name)));
            assert!(!doc.summary.is_empty() && doc.summary.ends_with('.'));
        }
        for s in r.sinks() {
            let doc = s.doc();
            assert!(doc.template.contains("[sinks.{id}]"), "{}", doc.name);
        }
    }
}
