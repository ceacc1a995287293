//! The `chorus` binary: parses the command line, sets up logging, runs a command and exits
//! with the code that tells an orchestrator what to do next (see [`exit`]).
//!
//! What lives here: argument parsing ([`cli`]), the registry of built-in components
//! ([`registry`]), the exit codes ([`exit`]), logging ([`logging`]), progress ([`progress`]) and
//! one module per command ([`commands`]). Everything else lives in the library crates.

mod cli;
mod commands;
mod exit;
mod logging;
mod malloc;
mod progress;
mod registry;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// The exit code of a program whose reader went away (128 + SIGPIPE), as shells report it.
const CLOSED_PIPE: i32 = 141;

/// A reader that closes the pipe early (`chorus discover … | head`) ends the output, not the
/// program with a panic and a backtrace: exit quietly, as tools stopped by SIGPIPE do.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    malloc::tune();
    quiet_on_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let redactions = logging::Redactions::default();
    logging::init(cli.log_format, &cli.log_level, redactions.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::PARTIAL);
        }
    };
    let ctx = commands::Context {
        redactions,
        progress: cli.progress,
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => commands::run::run(&ctx, args).await,
            Command::Validate { pipeline } => commands::validate::validate(&ctx, &pipeline),
            Command::Check { pipeline } => commands::check::check(&ctx, &pipeline).await,
            Command::Discover { pipeline } => commands::inspect::discover(&ctx, &pipeline),
            Command::Schema { connector } => commands::inspect::schema(&connector),
            Command::Connectors => commands::inspect::connectors(),
            Command::State { action } => commands::state::state(&ctx, action).await,
            Command::Init { connectors } => commands::inspect::init(&connectors),
            Command::Demo { out, faults } => commands::demo::demo(&ctx, &out, &faults).await,
            Command::Report {
                pipeline,
                out,
                from,
                to,
            } => {
                commands::report::report(&pipeline, &out, commands::report::Period { from, to })
                    .await
            }
            Command::Sandbox {
                port,
                seed,
                scale,
                faults,
                anchor,
            } => commands::sandbox::sandbox(port, seed, scale, &faults, anchor).await,
        }
    });
    ExitCode::from(code)
}
