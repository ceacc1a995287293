//! `chorus state show|reset`.

use chorus_runner::run::{commit_log, recover};
use chorus_runner::state::{CommitRecord, RECORD_VERSION};
use chrono::Utc;

use super::{Context, load};
use crate::cli::StateAction;
use crate::exit;

/// Shows or resets state.
pub async fn state(ctx: &Context, action: StateAction) -> u8 {
    let (path, stream, reset) = match &action {
        StateAction::Show { pipeline, stream } => (pipeline, stream, false),
        StateAction::Reset { pipeline, stream } => (pipeline, stream, true),
    };
    let plan = match load(ctx, path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Some(s) = stream
        && !plan.tables.contains_key(s)
    {
        eprintln!("error: pipeline \"{}\" has no stream \"{s}\"", plan.name);
        return exit::USAGE;
    }
    let result = async {
        let log = commit_log(&plan).await?;
        if !reset {
            let head = log.head().await?;
            let mut state = head
                .as_ref()
                .map(|h| h.record.state.clone())
                .unwrap_or_default();
            let mut contracts = head
                .as_ref()
                .map(|h| h.record.contracts.clone())
                .unwrap_or_default();
            if let Some(s) = stream {
                state.retain(|k, _| k == s);
                contracts.retain(|k, _| k == s);
            }
            let out = serde_json::json!({
                "pipeline": plan.name,
                "location": plan.state_location.display(),
                "commit": head.as_ref().map(|h| h.record.seq),
                "pending": head.as_ref().is_some_and(|h| !h.done),
                "streams": state,
                "contracts": contracts,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            return Ok::<_, chorus_core::Error>(());
        }
        let run_id = format!(
            "reset-{}",
            chorus_runner::run::new_run_id(chorus_core::Shard::ALL)
        );
        // A reset is a commit like a run's: never beside a running run.
        let lease = log.lease(&plan.name, &run_id).await?;
        let reset = async {
            recover(&plan, &log).await?;
            lease.check().await?;
            let head = log.head().await?;
            let mut state = head
                .as_ref()
                .map(|h| h.record.state.clone())
                .unwrap_or_default();
            match stream {
                Some(s) => {
                    state.remove(s);
                }
                None => state.clear(),
            }
            let record = CommitRecord {
                version: RECORD_VERSION,
                seq: head.as_ref().map_or(1, |h| h.record.seq + 1),
                run_id,
                pipeline: plan.name.clone(),
                created_at: Utc::now(),
                tables: Vec::new(),
                state,
                // A reset forgets where streams were, not what their tables hold.
                contracts: head.map(|h| h.record.contracts).unwrap_or_default(),
            };
            log.write(&record).await?;
            log.mark_done(record.seq).await
        }
        .await;
        lease.release().await;
        reset?;
        println!(
            "reset the state of {} in pipeline \"{}\"",
            stream
                .as_deref()
                .map_or("every stream".to_owned(), |s| format!("stream \"{s}\"")),
            plan.name
        );
        Ok(())
    }
    .await;
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            let code = exit::for_kind(e.kind());
            eprintln!("error: {}", e.redacted(&plan.secrets));
            code
        }
    }
}
