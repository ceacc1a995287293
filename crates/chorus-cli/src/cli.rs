//! The command-line interface, as clap definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// chorus: social, web-analytics, community and support data into KPIs and Parquet.
#[derive(Debug, Parser)]
#[command(name = "chorus", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level or filter (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "info", env = "CHORUS_LOG")]
    pub log_level: String,
    /// Progress bars: on a terminal (auto), always or never.
    #[arg(long, global = true, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// When to draw progress bars.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Progress {
    /// On a terminal, outside CI.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline: extract, transform, write and commit.
    Run(RunArgs),
    /// Check everything that can be checked offline.
    Validate {
        /// The pipeline file.
        pipeline: PathBuf,
    },
    /// Make one cheap authenticated call per source.
    Check {
        /// The pipeline file.
        pipeline: PathBuf,
    },
    /// Print the streams of a pipeline: keys, cursors and schemas.
    Discover {
        /// The pipeline file.
        pipeline: PathBuf,
    },
    /// Print the streams a connector type always has.
    Schema {
        /// The connector type.
        connector: String,
    },
    /// List connectors, transforms and sinks with their settings.
    Connectors,
    /// Inspect or reset incremental state.
    State {
        /// show or reset.
        #[command(subcommand)]
        action: StateAction,
    },
    /// Run every connector against the built-in sandbox and print the KPIs.
    Demo {
        /// Where the demo's Parquet goes.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// Faults for the sandbox to inject, as for `chorus sandbox --faults` (`500=0.1,…`), to
        /// see what the demo does when streams fail.
        #[arg(long, default_value = "")]
        faults: String,
    },
    /// Write a pipeline's KPI marts as one self-contained HTML page.
    Report {
        /// The pipeline file.
        pipeline: PathBuf,
        /// The HTML file to write.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
        /// The first day to show (YYYY-MM-DD).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// The last day to show (YYYY-MM-DD).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
    },
    /// Serve the API emulator on 127.0.0.1 until interrupted.
    Sandbox {
        /// The port (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The seed of the data and of fault decisions.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The data size multiplier.
        #[arg(long, default_value_t = 1)]
        scale: u32,
        /// Faults to inject, e.g. "429=0.1,503=0.05,truncate=0.02,slow=0.1,slow_ms=300".
        #[arg(long, default_value = "")]
        faults: String,
        /// The last day of generated data (default: a week before today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        anchor: Option<chrono::NaiveDate>,
    },
    /// Print a commented pipeline template for the given connectors.
    Init {
        /// Connector types.
        #[arg(required = true)]
        connectors: Vec<String>,
    },
}

/// `chorus run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Only inputs matching this glob (`brand.*`), and what depends on them.
    #[arg(long)]
    pub select: Vec<String>,
    /// Backfill from this date or RFC 3339 time (inclusive).
    #[arg(long)]
    pub start: Option<String>,
    /// Backfill up to this date or RFC 3339 time (exclusive).
    #[arg(long)]
    pub end: Option<String>,
    /// Ignore saved state and read everything again.
    #[arg(long)]
    pub full_refresh: bool,
    /// Print what would run, read and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Read only shard i of n of the accounts (`0/4` … `3/4`), so n workers split one pipeline.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<chorus_core::Shard>,
    /// Read nothing; rebuild the marts from what is committed (after sharded workers finish).
    #[arg(long, conflicts_with_all = ["shard", "select", "start", "end", "full_refresh"])]
    pub marts_only: bool,
    /// Write the run summary as JSON to this file (`-` for stdout).
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
}

fn parse_shard(s: &str) -> Result<chorus_core::Shard, String> {
    s.parse()
}

/// `chorus state` actions.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print the committed state.
    Show {
        /// The pipeline file.
        pipeline: PathBuf,
        /// Only this stream (`source.stream`).
        #[arg(long)]
        stream: Option<String>,
    },
    /// Forget the state, so the next run starts from the start date.
    Reset {
        /// The pipeline file.
        pipeline: PathBuf,
        /// Only this stream (`source.stream`).
        #[arg(long)]
        stream: Option<String>,
    },
}
