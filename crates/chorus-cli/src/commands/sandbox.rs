//! `chorus sandbox`: the API emulator, for trying pipelines without real credentials.

use chorus_sandbox::{FaultSpec, SandboxConfig};

use crate::exit;

/// Serves the sandbox until ctrl-c.
pub async fn sandbox(port: u16, seed: u64, scale: u32, faults: &str) -> u8 {
    let faults = match FaultSpec::parse(faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --faults {faults:?}: {e}");
            return exit::USAGE;
        }
    };
    let config = SandboxConfig {
        port,
        seed,
        scale,
        faults,
        ..SandboxConfig::default()
    };
    match chorus_sandbox::serve(config).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: the sandbox stopped: {e}");
            exit::PARTIAL
        }
    }
}
