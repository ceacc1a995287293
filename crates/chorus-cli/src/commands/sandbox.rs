//! `chorus sandbox`: the API emulator, for trying pipelines without real credentials.

use chorus_sandbox::{FaultSpec, SandboxConfig};
use chrono::NaiveDate;

use crate::exit;

/// Serves the sandbox until ctrl-c; `anchor` is the last day of generated data (`None`: the
/// sandbox's default, a week before today).
pub async fn sandbox(
    port: u16,
    seed: u64,
    scale: u32,
    faults: &str,
    anchor: Option<NaiveDate>,
) -> u8 {
    let faults = match FaultSpec::parse(faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --faults {faults:?}: {e}");
            return exit::USAGE;
        }
    };
    let defaults = SandboxConfig::default();
    let config = SandboxConfig {
        port,
        seed,
        scale,
        faults,
        anchor: anchor.unwrap_or(defaults.anchor),
        ..defaults
    };
    match chorus_sandbox::serve(config).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: the sandbox stopped: {e}");
            exit::PARTIAL
        }
    }
}
