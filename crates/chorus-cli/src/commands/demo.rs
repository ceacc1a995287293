//! `chorus demo`: every connector against the sandbox, started in-process, then the KPIs.
//!
//! It runs `pipelines/demo.toml` (built into the binary) with the sandbox's URLs and tokens,
//! writes Parquet under `--out`, and prints one compact line of KPIs per platform and account,
//! read back from the marts, with where the Parquet is and a DuckDB query to try.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use chorus_runner::config::{PipelineText, relative_date};
use chorus_runner::summary::Status;
use chorus_runner::{RunOptions, run as run_plan};
use chorus_sandbox::platforms::{freshdesk, ga4, meta, slack, x, zendesk};
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};
use chrono::NaiveDate;

use super::Context;
use super::run::render_summary;
use crate::exit;

/// Where every source of the demo pipeline starts: the last 90 days, whatever the day.
const DEMO_START: &str = "90daysAgo";

/// The demo pipeline, as shipped in `pipelines/demo.toml`.
const DEMO_TOML: &str = include_str!("../../../../pipelines/demo.toml");

/// The environment the demo pipeline reads: the sandbox's URLs and credentials.
fn demo_env(base: &str, out: &Path) -> HashMap<&'static str, String> {
    HashMap::from([
        ("META_GRAPH_URL", format!("{base}/meta")),
        ("META_ACCESS_TOKEN", meta::TOKEN.to_owned()),
        ("X_API_URL", format!("{base}/x")),
        ("X_BEARER_TOKEN", x::TOKEN.to_owned()),
        ("GA4_API_URL", format!("{base}/ga4")),
        (
            "GA4_CREDENTIALS_JSON",
            one_line(&ga4::service_account_json(base)),
        ),
        ("SLACK_API_URL", format!("{base}/slack/api")),
        ("SLACK_BOT_TOKEN", slack::TOKEN.to_owned()),
        ("ZENDESK_API_URL", format!("{base}/zendesk")),
        ("ZENDESK_API_TOKEN", zendesk::API_TOKEN.to_owned()),
        ("FRESHDESK_API_URL", format!("{base}/freshdesk")),
        ("FRESHDESK_API_KEY", freshdesk::API_KEY.to_owned()),
        ("DEMO_OUT", out.display().to_string()),
    ])
}

/// JSON on one line: values read from the environment must be single lines.
fn one_line(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| json.replace('\n', ""))
}

/// Runs the demo.
pub async fn demo(ctx: &Context, out: &Path, faults: &str) -> u8 {
    let faults = match FaultSpec::parse(faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --faults {faults:?}: {e}");
            return exit::USAGE;
        }
    };
    let out = match std::path::absolute(out) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --out {}: {e}", out.display());
            return exit::USAGE;
        }
    };
    let sandbox = match Sandbox::start(SandboxConfig {
        faults,
        ..SandboxConfig::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the sandbox: {e}");
            return exit::PARTIAL;
        }
    };
    let env = demo_env(sandbox.base_url(), &out);
    let code = run_demo(ctx, &out, &env).await;
    sandbox.shutdown().await;
    code
}

async fn run_demo(ctx: &Context, out: &Path, env: &HashMap<&'static str, String>) -> u8 {
    // The first day the pipeline reads, fixed before it compiles (which resolves the same
    // `90daysAgo`), so a run that crosses midnight reports the days it read.
    let today = chrono::Utc::now().date_naive();
    let start = relative_date(DEMO_START, today).unwrap_or(today);
    let text = PipelineText::new(Path::new("pipelines/demo.toml"), DEMO_TOML);
    let registry = match crate::registry::builtin() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e} (this is a bug in chorus, please report it)");
            return exit::PARTIAL;
        }
    };
    let (display, source) = (text.display.clone(), text.source);
    let lookup = |name: &str| env.get(name).cloned().or_else(|| std::env::var(name).ok());
    let plan = match chorus_runner::compile(text, &registry, &lookup) {
        Ok(plan) => plan,
        Err(diags) => {
            eprint!("{}", chorus_runner::render(&display, source, &diags));
            return exit::CONFIG;
        }
    };
    ctx.redactions.extend(&plan.secrets);
    println!(
        "chorus demo: {} sources against the sandbox, into {}",
        plan.sources.len(),
        out.display()
    );
    let observer = crate::progress::observer(ctx.progress);
    let report = match run_plan(&plan, &RunOptions::default(), observer).await {
        Ok(r) => r,
        Err(e) => {
            let kind = e.kind();
            eprintln!("error: the demo run failed: {}", e.redacted(&plan.secrets));
            return exit::for_kind(kind);
        }
    };
    let failed: Vec<&str> = report
        .summary
        .streams
        .iter()
        .filter(|s| s.status != Status::Committed)
        .map(|s| s.id.as_str())
        .collect();
    if !report.summary.success {
        eprint!("{}", render_summary(&report.summary));
        for s in &report.summary.streams {
            if let Some(e) = &s.error {
                eprintln!("error: stream \"{}\": {e}", s.id);
            }
        }
    }
    let tables = report.summary.tables.len();
    let rows: u64 = report.summary.tables.iter().map(|t| t.rows).sum();
    println!(
        "committed {tables} tables ({rows} rows) in {:.1} s\n",
        report.summary.duration_ms as f64 / 1000.0
    );
    if !failed.is_empty() {
        println!(
            "warning: {} stream(s) failed and are missing below: {}",
            failed.len(),
            failed.join(", ")
        );
        for t in report
            .summary
            .tables
            .iter()
            .filter(|t| !t.incomplete.is_empty())
        {
            println!(
                "warning: {} is incomplete (no new rows of {})",
                t.input,
                t.incomplete.join(", ")
            );
        }
        println!();
    }
    let code = if report.summary.success {
        exit::OK
    } else {
        exit::for_failures(&report.failures)
    };
    match kpi_report(out, start).await {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: cannot summarise the demo's marts: {e}");
            return exit::PARTIAL;
        }
    }
    let page = out.join("report.html");
    let period = super::report::Period {
        from: Some(start),
        to: None,
    };
    match super::report::write_report(out, &out.join("_chorus"), &plan.name, period, &page).await {
        Ok(()) => println!(
            "Report:  {} (open it in a browser; it works offline)",
            page.display()
        ),
        Err(e) => {
            eprintln!("error: cannot write the report: {e}");
            return exit::PARTIAL;
        }
    }
    code
}

/// One number of a result row, if present.
pub(crate) fn num(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let array = batch.column_by_name(column)?;
    let array = cast(array, &DataType::Float64).ok()?;
    let values = array.as_primitive::<Float64Type>();
    (!values.is_null(row)).then(|| values.value(row))
}

/// One text of a result row.
pub(crate) fn text(batch: &RecordBatch, column: &str, row: usize) -> String {
    batch
        .column_by_name(column)
        .and_then(|a| cast(a, &DataType::Utf8).ok())
        .map(|a| {
            let s = a.as_string::<i32>();
            if s.is_null(row) {
                String::new()
            } else {
                s.value(row).to_owned()
            }
        })
        .unwrap_or_default()
}

/// A whole number with thousands separators: `1,234,567`.
pub(crate) fn count(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// An amount with two decimals and thousands separators: `11,530.22`.
pub(crate) fn money(v: f64) -> String {
    let cents = (v.abs() * 100.0).round();
    let sign = if v < 0.0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        count((cents / 100.0).trunc()),
        (cents % 100.0) as u64
    )
}

/// A percentage with one decimal: `12.3 %`.
pub(crate) fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1} %"))
}

/// `part ÷ whole × 100`, when the whole is positive.
pub(crate) fn share(part: Option<f64>, whole: Option<f64>) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0.0 => Some(p / w * 100.0),
        _ => None,
    }
}

const SUMMARY_SQL: &str = "
SELECT platform, account, MIN(day) AS first_day, MAX(day) AS last_day,
       last_value(followers ORDER BY day) FILTER (WHERE followers IS NOT NULL) AS followers,
       SUM(reach) AS reach, SUM(impressions) AS impressions, SUM(engagements) AS engagements,
       SUM(ad_link_clicks) AS ad_link_clicks, SUM(ad_impressions) AS ad_impressions,
       SUM(ad_spend) AS ad_spend,
       SUM(mentions) AS mentions, SUM(mentions_positive) AS positive,
       SUM(mentions_negative) AS negative, SUM(mentions_neutral) AS neutral,
       SUM(sessions) AS sessions, SUM(social_sessions) AS social_sessions,
       SUM(social_conversions) AS social_conversions, SUM(social_revenue) AS social_revenue,
       SUM(tickets) AS tickets, SUM(social_tickets) AS social_tickets,
       SUM(csat_good) AS csat_good, SUM(csat_rated) AS csat_rated,
       AVG(active_members) AS active_members, SUM(messages) AS messages,
       SUM(active_members) AS member_days
FROM kpi_daily
WHERE day >= DATE '{start}'
GROUP BY platform, account
ORDER BY CASE platform WHEN 'facebook' THEN 1 WHEN 'instagram' THEN 2 WHEN 'x' THEN 3
         WHEN 'web' THEN 4 WHEN 'zendesk' THEN 5 WHEN 'freshdesk' THEN 6 ELSE 7 END, account
";

const SOV_SQL: &str = "
SELECT query_name, SUM(posts) AS posts, 100.0 * SUM(posts) / SUM(SUM(posts)) OVER () AS sov
FROM share_of_voice_daily GROUP BY query_name
";

const REPLY_SQL: &str = "
SELECT platform, median(CAST(first_reply_minutes AS DOUBLE)) AS median_first_reply
FROM support_tickets GROUP BY platform
";

/// Runs `sql` over the mart `name` under `out`; no rows when the mart was never written (a
/// failed stream can leave a mart without a single file).
async fn query_mart(out: &Path, name: &str, sql: &str) -> chorus_core::Result<Vec<RecordBatch>> {
    let dir = out.join(name);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    chorus_transform::query::sql_over_parquet(&[(name, dir.as_path())], sql).await
}

/// The KPI lines, read back from the committed marts, counting from the day `start`.
async fn kpi_report(out: &Path, start: NaiveDate) -> chorus_core::Result<String> {
    let summary_sql = SUMMARY_SQL.replace("{start}", &start.to_string());
    let summary = query_mart(out, "kpi_daily", &summary_sql).await?;
    let sov = query_mart(out, "share_of_voice_daily", SOV_SQL).await?;
    let replies = query_mart(out, "support_tickets", REPLY_SQL).await?;
    let mut shares: HashMap<String, f64> = HashMap::new();
    for b in &sov {
        for r in 0..b.num_rows() {
            if let Some(v) = num(b, "sov", r) {
                shares.insert(text(b, "query_name", r), v);
            }
        }
    }
    let mut reply: HashMap<String, f64> = HashMap::new();
    for b in &replies {
        for r in 0..b.num_rows() {
            if let Some(v) = num(b, "median_first_reply", r) {
                reply.insert(text(b, "platform", r), v);
            }
        }
    }

    let mut lines = Vec::new();
    let (mut first, mut last) = (String::new(), String::new());
    for b in &summary {
        for r in 0..b.num_rows() {
            let platform = text(b, "platform", r);
            let account = text(b, "account", r);
            let n = |c: &str| num(b, c, r);
            let (f, l) = (text(b, "first_day", r), text(b, "last_day", r));
            if first.is_empty() || f < first {
                first = f;
            }
            if l > last {
                last = l;
            }
            let mut parts = Vec::new();
            if let Some(v) = n("followers") {
                parts.push(format!("followers {}", count(v)));
            }
            if let Some(v) = n("reach") {
                parts.push(format!("reach {}*", count(v)));
                parts.push(format!(
                    "engagement rate {}",
                    pct(share(n("engagements"), Some(v)))
                ));
            } else if let Some(v) = n("impressions") {
                parts.push(format!("impressions {}", count(v)));
                parts.push(format!(
                    "engagement rate {} of impressions",
                    pct(share(n("engagements"), Some(v)))
                ));
            }
            if let Some(v) = n("ad_impressions") {
                parts.push(format!(
                    "ads CTR {} on {} impressions, spend {}",
                    pct(share(n("ad_link_clicks"), Some(v))),
                    count(v),
                    money(n("ad_spend").unwrap_or(0.0))
                ));
            }
            if platform == "x" {
                if let Some(v) = shares.get(&account) {
                    parts.push(format!("share of voice {}", pct(Some(*v))));
                }
                if let Some(m) = n("mentions") {
                    let scored = n("positive").unwrap_or(0.0)
                        + n("negative").unwrap_or(0.0)
                        + n("neutral").unwrap_or(0.0);
                    parts.push(format!(
                        "mentions {} ({} positive, {} negative, {} neutral)",
                        count(m),
                        pct(share(n("positive"), Some(scored))),
                        pct(share(n("negative"), Some(scored))),
                        pct(share(n("neutral"), Some(scored)))
                    ));
                }
            }
            if let Some(s) = n("sessions") {
                parts.push(format!(
                    "sessions {}, social share {}, social conversions {} ({}), social revenue {}",
                    count(s),
                    pct(share(n("social_sessions"), Some(s))),
                    count(n("social_conversions").unwrap_or(0.0)),
                    pct(share(n("social_conversions"), n("social_sessions"))),
                    money(n("social_revenue").unwrap_or(0.0))
                ));
            }
            if let Some(t) = n("tickets") {
                let minutes = reply
                    .get(&platform)
                    .map_or_else(|| "–".to_owned(), |m| format!("{m:.0} min"));
                parts.push(format!(
                    "tickets {} ({} from social), median first reply {minutes}, CSAT {}",
                    count(t),
                    count(n("social_tickets").unwrap_or(0.0)),
                    pct(share(n("csat_good"), n("csat_rated")))
                ));
            }
            if let Some(a) = n("active_members") {
                let per = match (n("messages"), n("member_days")) {
                    (Some(m), Some(d)) if d > 0.0 => format!("{:.1}", m / d),
                    _ => "–".to_owned(),
                };
                parts.push(format!(
                    "daily active members {a:.1}, messages per active member {per}"
                ));
            }
            lines.push((platform, account, parts.join(", ")));
        }
    }
    let mut report = String::new();
    let _ = writeln!(report, "KPIs {first} … {last}");
    for (platform, account, kpis) in &lines {
        let _ = writeln!(report, "  {platform:<10} {account:<10} {kpis}");
    }
    let _ = writeln!(
        report,
        "\n* reach is the sum of each day's reach: people reached per day, not unique people over the period."
    );
    let root = out.display();
    let _ = writeln!(
        report,
        "\nParquet: {root}/<table>/ — marts kpi_daily, post_performance, traffic_daily, community_daily,\n  support_daily, support_csat_daily, share_of_voice_daily, and every source table."
    );
    let _ = writeln!(
        report,
        "Try:     duckdb -c \"SELECT platform, account, round(avg(engagement_rate_by_reach_pct), 1) AS er FROM '{root}/kpi_daily/*.parquet' GROUP BY ALL ORDER BY er DESC\""
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_a_report() {
        assert_eq!(count(1_234_567.0), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(-1_000.0), "-1,000");
        assert_eq!(pct(Some(12.345)), "12.3 %");
        assert_eq!(pct(None), "–");
        assert_eq!(money(11_530.224), "11,530.22");
        assert_eq!(money(0.5), "0.50");
        assert_eq!(share(Some(1.0), Some(0.0)), None);
    }

    #[test]
    fn every_demo_source_reads_the_last_90_days() {
        let starts: Vec<&str> = DEMO_TOML
            .lines()
            .filter(|l| l.starts_with("start_date") || l.starts_with("start_time"))
            .collect();
        assert_eq!(starts.len(), 8, "{starts:?}");
        for line in starts {
            assert!(line.ends_with(&format!("\"{DEMO_START}\"")), "{line}");
        }
    }
}
