//! `chorus report`: a pipeline's marts as one self-contained HTML page.
//!
//! The page reads the committed marts (`kpi_daily`, `post_performance`, `traffic_daily`,
//! `share_of_voice_daily`, the support marts, `community_daily`, `kpi_scorecard`, `ab_test`)
//! and draws each section as inline SVG: no script, font or image is fetched, so it opens
//! offline and prints to PDF. A section whose mart the pipeline does not build says so.
//! Colours are the Okabe–Ito palette, which colour-blind readers can tell apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use chorus_runner::config::{self, PipelineText};
use chorus_runner::state::MartStatus;
use chrono::NaiveDate;

use super::demo::{count, money, num, pct, text};
use crate::exit;

/// The Okabe–Ito palette, without its yellow (too light on white).
const COLOURS: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
];

/// The period a report covers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Period {
    /// The first day, inclusive.
    pub from: Option<NaiveDate>,
    /// The last day, inclusive.
    pub to: Option<NaiveDate>,
}

impl Period {
    fn filter(&self, column: &str) -> String {
        let mut parts = vec!["TRUE".to_owned()];
        if let Some(f) = self.from {
            parts.push(format!("{column} >= DATE '{f}'"));
        }
        if let Some(t) = self.to {
            parts.push(format!("{column} <= DATE '{t}'"));
        }
        parts.join(" AND ")
    }
}

/// `chorus report PIPELINE`: finds the pipeline's sink folder and writes the page.
pub async fn report(pipeline: &Path, out: &Path, period: Period) -> u8 {
    let text = match PipelineText::read(pipeline) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "error: cannot read pipeline file {}: {e}",
                pipeline.display()
            );
            return exit::CONFIG;
        }
    };
    // Only the sink's path is needed: secrets need not be set to draw a report.
    let (raw, _) = config::parse(&text, &|name| std::env::var(name).ok());
    let Some(root) = raw.sinks.iter().find_map(|s| {
        s.table
            .get_str("path")
            .filter(|p| !p.contains("${"))
            .map(|p| s.table.resolve_path(p.trim_start_matches("file://")))
    }) else {
        eprintln!(
            "error: pipeline {} has no sink with a local path to read marts from",
            pipeline.display()
        );
        return exit::CONFIG;
    };
    let name = raw
        .name
        .map_or_else(|| "pipeline".to_owned(), |n| n.into_inner());
    // State (and the record of incomplete marts) lives with the first sink unless moved.
    let state_dir = match raw.state.as_ref().map(|s| s.get_ref().as_str()) {
        Some(p) if !p.contains("://") || p.starts_with("file://") => {
            text.base_dir.join(p.trim_start_matches("file://"))
        }
        _ => root.join("_chorus"),
    };
    match write_report(&root, &state_dir, &name, period, out).await {
        Ok(()) => {
            println!("report: {}", out.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write the report: {e}");
            exit::for_kind(e.kind())
        }
    }
}

/// Writes the report of the marts under `root` to `out`, warning about the marts that the
/// record in `state_dir` marks incomplete.
pub async fn write_report(
    root: &Path,
    state_dir: &Path,
    pipeline: &str,
    period: Period,
    out: &Path,
) -> chorus_core::Result<()> {
    let status = MartStatus::read_local(state_dir)?;
    let html = render(root, pipeline, period, status.as_ref()).await?;
    let tmp = out.with_extension("html.tmp");
    std::fs::write(&tmp, html)
        .and_then(|()| std::fs::rename(&tmp, out))
        .map_err(|e| chorus_core::Error::io(format!("{}: {e}", out.display())))
}

/// Runs `sql` over the mart `mart`, or `None` when the pipeline has no such mart.
async fn query(
    root: &Path,
    mart: &'static str,
    sql: &str,
) -> chorus_core::Result<Option<Vec<RecordBatch>>> {
    let dir: PathBuf = root.join(mart);
    if !dir.is_dir() {
        return Ok(None);
    }
    chorus_transform::query::sql_over_parquet(&[(mart, dir.as_path())], sql)
        .await
        .map(Some)
}

/// Every row of a result as a closure-friendly list of `(batch, row)`.
fn rows(batches: &[RecordBatch]) -> Vec<(&RecordBatch, usize)> {
    batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |r| (b, r)))
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn day(b: &RecordBatch, c: &str, r: usize) -> Option<NaiveDate> {
    text(b, c, r).get(..10)?.parse().ok()
}

/// One line of a chart.
struct Series {
    name: String,
    points: Vec<(NaiveDate, f64)>,
}

/// Series from rows of `(day, series name, value)`.
fn series_of(batches: &[RecordBatch], name_col: &str, value_col: &str) -> Vec<Series> {
    let mut by: BTreeMap<String, Vec<(NaiveDate, f64)>> = BTreeMap::new();
    for (b, r) in rows(batches) {
        if let (Some(d), Some(v)) = (day(b, "day", r), num(b, value_col, r)) {
            by.entry(text(b, name_col, r)).or_default().push((d, v));
        }
    }
    by.into_iter()
        .map(|(name, mut points)| {
            points.sort_by_key(|p| p.0);
            Series { name, points }
        })
        .collect()
}

/// A short axis number: 1.2k, 3.4M, 12.5.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 36.0;

/// A line chart of daily series, with the y axis labelled in `unit` and the days from
/// `not_final` on shaded.
fn line_chart(unit: &str, series: &[Series], not_final: Option<NaiveDate>) -> String {
    let all: Vec<&(NaiveDate, f64)> = series.iter().flat_map(|s| &s.points).collect();
    let (Some(x0), Some(x1)) = (all.iter().map(|p| p.0).min(), all.iter().map(|p| p.0).max())
    else {
        return "<p class=\"empty\">No data in this period.</p>".to_owned();
    };
    let (mut y0, mut y1) = all.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if y0 > 0.0 && y0 < 0.5 * y1 || y0 >= 0.0 && y1 <= 0.0 {
        y0 = 0.0;
    }
    if y0 >= 0.0 && y0 >= 0.5 * y1 {
        let pad = (y1 - y0).max(1.0) * 0.1;
        y0 = (y0 - pad).max(0.0);
        y1 += pad;
    } else {
        y1 *= 1.08;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let span = (x1 - x0).num_days().max(1) as f64;
    let px = |d: NaiveDate| LEFT + (d - x0).num_days() as f64 / span * (W - LEFT - RIGHT);
    let py = |v: f64| TOP + (1.0 - (v - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
    let mut s = format!(
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(unit)
    );
    if let Some(nf) = not_final.filter(|d| *d <= x1) {
        let x = px(nf.max(x0));
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#eeeeee\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"note\" text-anchor=\"end\">not final yet</text>",
            W - RIGHT - x,
            H - TOP - BOTTOM,
            W - RIGHT - 4.0,
            TOP + 12.0
        );
    }
    for i in 0..=4 {
        let v = y0 + (y1 - y0) * f64::from(i) / 4.0;
        let y = py(v);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            short(v)
        );
    }
    for i in 0..=5 {
        let d = x0 + chrono::Duration::days(((span * f64::from(i)) / 5.0).round() as i64);
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            px(d),
            H - BOTTOM + 16.0,
            d.format("%b %-d")
        );
    }
    let _ = write!(
        s,
        "<text x=\"12\" y=\"{:.1}\" class=\"axis\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
        esc(unit)
    );
    let mut legend_x = LEFT;
    for (i, series) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = series
            .points
            .iter()
            .map(|(d, v)| format!("{:.1},{:.1}", px(*d), py(*v)))
            .collect();
        let dash = if i >= COLOURS.len() {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        };
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>",
            path.join(" ")
        );
        let _ = write!(
            s,
            "<rect x=\"{legend_x:.1}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"18\" class=\"legend\">{}</text>",
            legend_x + 16.0,
            esc(&series.name)
        );
        legend_x += 26.0 + 7.0 * series.name.chars().count() as f64;
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars with their values written out; `log` draws lengths on a log scale.
fn bars(items: &[(String, f64, String)], log: bool) -> String {
    if items.is_empty() {
        return "<p class=\"empty\">No data in this period.</p>".to_owned();
    }
    let scale = |v: f64| {
        if log {
            (v.max(0.0) + 1.0).log10()
        } else {
            v.max(0.0)
        }
    };
    let max = items
        .iter()
        .map(|i| scale(i.1))
        .fold(0.0, f64::max)
        .max(1e-9);
    let row = 26.0;
    let h = row * items.len() as f64 + 10.0;
    let label_w = 210.0;
    let mut s = format!("<svg viewBox=\"0 0 {W} {h}\" xmlns=\"http://www.w3.org/2000/svg\">");
    for (i, (label, v, shown)) in items.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let w = scale(*v) / max * (W - label_w - 140.0);
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"18\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\">{}</text>",
            label_w - 8.0,
            y + 13.0,
            esc(label),
            COLOURS[0],
            label_w + w + 6.0,
            y + 13.0,
            esc(shown)
        );
    }
    s.push_str("</svg>");
    s
}

/// Daily stacked shares (each day sums to 100 %) of named parts.
fn stacked(days: &[(NaiveDate, Vec<f64>)], names: &[&str], colours: &[&str]) -> String {
    if days.is_empty() {
        return "<p class=\"empty\">No data in this period.</p>".to_owned();
    }
    let n = days.len() as f64;
    let bw = (W - LEFT - RIGHT) / n;
    let py = |share: f64| TOP + (1.0 - share) * (H - TOP - BOTTOM);
    let mut s = format!("<svg viewBox=\"0 0 {W} {H}\" xmlns=\"http://www.w3.org/2000/svg\">");
    for i in 0..=4 {
        let v = f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{:.0} %</text>",
            LEFT - 6.0,
            py(v) + 4.0,
            v * 100.0
        );
    }
    for (i, (d, parts)) in days.iter().enumerate() {
        let total: f64 = parts.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let mut acc = 0.0;
        let x = LEFT + bw * i as f64;
        for (j, p) in parts.iter().enumerate() {
            let (a, b) = (acc / total, (acc + p) / total);
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{d} {}: {:.0} %</title></rect>",
                py(b),
                (bw - 1.0).max(1.0),
                py(a) - py(b),
                colours[j],
                names[j],
                p / total * 100.0
            );
            acc += p;
        }
        if i % (days.len() / 6).max(1) == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
                x + bw / 2.0,
                H - BOTTOM + 16.0,
                d.format("%b %-d")
            );
        }
    }
    let mut lx = LEFT;
    for (j, name) in names.iter().enumerate() {
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"18\" class=\"legend\">{name}</text>",
            colours[j],
            lx + 16.0
        );
        lx += 90.0;
    }
    s.push_str("</svg>");
    s
}

/// An HTML table; cells are escaped unless they start with `<a `.
fn table(head: &[&str], body: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in body {
        s.push_str("<tr>");
        for c in row {
            if c.starts_with("<a ") {
                let _ = write!(s, "<td>{c}</td>");
            } else {
                let _ = write!(s, "<td>{}</td>", esc(c));
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

const MISSING: &str =
    "<p class=\"empty\">This pipeline does not build the mart this section reads.</p>";

/// The warning at the top of the page when the last run left marts incomplete.
fn incomplete_warning(status: Option<&MartStatus>) -> String {
    let Some(status) = status.filter(|s| !s.incomplete.is_empty()) else {
        return String::new();
    };
    let items: String = status
        .incomplete
        .iter()
        .map(|(mart, streams)| {
            format!(
                "<li><code>{}</code> lacks the new rows of {}</li>",
                esc(mart),
                streams
                    .iter()
                    .map(|s| format!("<code>{}</code>", esc(s)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    format!(
        "<div class=\"warning\" role=\"alert\"><strong>Incomplete:</strong> streams failed in run {} ({}), so these marts undercount until a later run reads them:<ul>{items}</ul></div>",
        esc(&status.run_id),
        status.created_at.format("%Y-%m-%d %H:%M UTC")
    )
}

async fn render(
    root: &Path,
    pipeline: &str,
    period: Period,
    status: Option<&MartStatus>,
) -> chorus_core::Result<String> {
    let f = period.filter("day");
    let mut body = incomplete_warning(status);

    // The period and where restated days begin.
    let span = query(
        root,
        "kpi_daily",
        &format!("SELECT MIN(day) AS first, MAX(day) AS last, MIN(CASE WHEN NOT is_final THEN day END) AS not_final FROM kpi_daily WHERE {f} AND platform IN ('facebook', 'instagram', 'web')"),
    )
    .await
    .or_else(|_| Ok::<_, chorus_core::Error>(None))?;
    let (first, last, not_final) = span
        .as_ref()
        .and_then(|b| {
            rows(b).first().map(|(b, r)| {
                (
                    text(b, "first", *r),
                    text(b, "last", *r),
                    day(b, "not_final", *r),
                )
            })
        })
        .unwrap_or_default();

    // 1. Audience.
    body.push_str("<h2>1. Followers and reach</h2>");
    match query(root, "kpi_daily", &format!("SELECT day, platform || ' ' || account AS series, followers, reach FROM kpi_daily WHERE {f} AND platform IN ('facebook', 'instagram', 'x') ORDER BY day")).await? {
        Some(b) => {
            body.push_str("<h3>Followers</h3>");
            body.push_str(&line_chart("followers", &series_of(&b, "series", "followers"), None));
            body.push_str("<h3>Reach per day</h3>");
            body.push_str(&line_chart("people reached per day", &series_of(&b, "series", "reach"), not_final));
            body.push_str("<p class=\"note\">Reach counts unique people per day and platform; it is never added across days or platforms as unique people.</p>");
        }
        None => body.push_str(MISSING),
    }

    // 2. Engagement rate.
    body.push_str("<h2>2. Engagement rate</h2>");
    match query(root, "kpi_daily", &format!("SELECT day, CASE WHEN reach IS NOT NULL THEN platform || ' ' || account || ' (by reach)' ELSE platform || ' ' || account || ' (by impressions)' END AS series, COALESCE(engagement_rate_by_reach_pct, engagement_rate_by_impressions_pct) AS rate FROM kpi_daily WHERE {f} AND platform IN ('facebook', 'instagram', 'x') AND account <> 'ads' ORDER BY day")).await? {
        Some(b) => {
            let series = series_of(&b, "series", "rate");
            body.push_str(&line_chart("engagement rate, %", &series, not_final));
            let trend: Vec<Vec<String>> = series
                .iter()
                .filter(|s| !s.points.is_empty())
                .map(|s| {
                    let half = s.points.len() / 2;
                    let avg = |p: &[(NaiveDate, f64)]| if p.is_empty() { None } else { Some(p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64) };
                    let (a, b2) = (avg(&s.points[..half]), avg(&s.points[half..]));
                    let arrow = match (a, b2) {
                        (Some(a), Some(b2)) if b2 > a * 1.05 => "rising",
                        (Some(a), Some(b2)) if b2 < a * 0.95 => "falling",
                        _ => "steady",
                    };
                    vec![s.name.clone(), pct(a), pct(b2), arrow.to_owned()]
                })
                .collect();
            body.push_str(&table(&["platform", "first half (daily mean)", "second half (daily mean)", "trend"], &trend));
        }
        None => body.push_str(MISSING),
    }

    // 3. Posts.
    body.push_str("<h2>3. Top and bottom posts by engagement rate</h2>");
    let pf = period.filter("created_date");
    match query(root, "post_performance", &format!("SELECT platform, account, created_date AS day, text, permalink, COALESCE(engagement_rate_by_reach_pct, engagement_rate_by_impressions_pct) AS rate, CASE WHEN engagement_rate_by_reach_pct IS NOT NULL THEN 'reach' ELSE 'impressions' END AS basis FROM post_performance WHERE {pf} AND COALESCE(engagement_rate_by_reach_pct, engagement_rate_by_impressions_pct) IS NOT NULL ORDER BY rate DESC")).await? {
        Some(b) => {
            let all = rows(&b);
            let row = |(b, r): &(&RecordBatch, usize)| {
                let t: String = text(b, "text", *r).chars().take(120).collect();
                let link = text(b, "permalink", *r);
                vec![
                    format!("{} {}", text(b, "platform", *r), text(b, "account", *r)),
                    text(b, "day", *r),
                    t,
                    format!("{} (by {})", pct(num(b, "rate", *r)), text(b, "basis", *r)),
                    if link.is_empty() { String::new() } else { format!("<a href=\"{}\">open</a>", esc(&link)) },
                ]
            };
            let head = ["account", "day", "text", "engagement rate", "link"];
            body.push_str("<h3>Top 5</h3>");
            body.push_str(&table(&head, &all.iter().take(5).map(row).collect::<Vec<_>>()));
            body.push_str("<h3>Bottom 5</h3>");
            body.push_str(&table(&head, &all.iter().rev().take(5).map(row).collect::<Vec<_>>()));
        }
        None => body.push_str(MISSING),
    }

    // 4. Funnel.
    body.push_str("<h2>4. From reach to revenue</h2>");
    match query(root, "kpi_daily", &format!("SELECT SUM(reach) AS reach, SUM(COALESCE(post_link_clicks, 0) + COALESCE(ad_link_clicks, 0)) AS clicks, SUM(social_sessions) AS sessions, SUM(social_conversions) AS conversions, SUM(social_revenue) AS revenue FROM kpi_daily WHERE {f}")).await {
        Ok(Some(b)) => {
            if let Some((b, r)) = rows(&b).first().copied() {
                let v = |c: &str| num(b, c, r).unwrap_or(0.0);
                let items = vec![
                    ("reach (sum of daily)".to_owned(), v("reach"), count(v("reach"))),
                    ("link clicks (posts + ads)".to_owned(), v("clicks"), format!("{} ({} of reach)", count(v("clicks")), pct(super::demo::share(Some(v("clicks")), Some(v("reach")))))),
                    ("social sessions".to_owned(), v("sessions"), format!("{} ({} of clicks)", count(v("sessions")), pct(super::demo::share(Some(v("sessions")), Some(v("clicks")))))),
                    ("conversions from social".to_owned(), v("conversions"), format!("{} ({} of sessions)", count(v("conversions")), pct(super::demo::share(Some(v("conversions")), Some(v("sessions")))))),
                    ("revenue from social".to_owned(), v("revenue"), money(v("revenue"))),
                ];
                body.push_str(&bars(&items, true));
                body.push_str("<p class=\"note\">Bar lengths on a log scale. Link clicks include ads; sessions are GA4's Organic and Paid Social.</p>");
            }
        }
        _ => body.push_str(MISSING),
    }

    // 5. Share of voice.
    body.push_str("<h2>5. Share of voice</h2>");
    match query(root, "share_of_voice_daily", &format!("SELECT day, query_name, share_of_voice_pct, posts FROM share_of_voice_daily WHERE {f} ORDER BY day")).await? {
        Some(b) => {
            body.push_str(&line_chart("share of voice, %", &series_of(&b, "query_name", "share_of_voice_pct"), None));
            let mut totals: BTreeMap<String, f64> = BTreeMap::new();
            for (b, r) in rows(&b) {
                *totals.entry(text(b, "query_name", r)).or_default() += num(b, "posts", r).unwrap_or(0.0);
            }
            let all: f64 = totals.values().sum();
            let t: Vec<Vec<String>> = totals.iter().map(|(q, p)| vec![q.clone(), count(*p), pct(super::demo::share(Some(*p), Some(all)))]).collect();
            body.push_str(&table(&["query", "posts", "share of voice over the period"], &t));
        }
        None => body.push_str(MISSING),
    }

    // 6. Sentiment.
    body.push_str("<h2>6. Sentiment mix</h2>");
    match query(root, "share_of_voice_daily", &format!("SELECT day, SUM(positive) AS positive, SUM(neutral) AS neutral, SUM(negative) AS negative FROM share_of_voice_daily WHERE {f} GROUP BY day ORDER BY day")).await? {
        Some(b) => {
            let days: Vec<(NaiveDate, Vec<f64>)> = rows(&b)
                .into_iter()
                .filter_map(|(b, r)| Some((day(b, "day", r)?, vec![num(b, "positive", r)?, num(b, "neutral", r)?, num(b, "negative", r)?])))
                .collect();
            body.push_str(&stacked(&days, &["positive", "neutral", "negative"], &[COLOURS[2], "#999999", COLOURS[3]]));
            body.push_str("<p class=\"note\">Scored posts of the searches (English); posts in other languages have no sentiment and are left out.</p>");
        }
        None => body.push_str(MISSING),
    }

    // 7. Support.
    body.push_str("<h2>7. Customer service</h2>");
    match query(root, "support_volume_by_channel", &format!("SELECT platform || ': ' || channel || CASE WHEN bool_or(social) THEN ' (social)' ELSE '' END AS channel, SUM(tickets) AS tickets FROM support_volume_by_channel WHERE {f} GROUP BY platform, channel ORDER BY tickets DESC")).await? {
        Some(b) => {
            body.push_str("<h3>Tickets by channel</h3>");
            let items: Vec<(String, f64, String)> = rows(&b).into_iter().map(|(b, r)| {
                let v = num(b, "tickets", r).unwrap_or(0.0);
                (text(b, "channel", r), v, count(v))
            }).collect();
            body.push_str(&bars(&items, false));
        }
        None => body.push_str(MISSING),
    }
    if let Some(b) = query(root, "support_daily", &format!("SELECT day, platform || ' median' AS series, median_first_reply_minutes AS v FROM support_daily WHERE {f} UNION ALL SELECT day, platform || ' p90', CAST(p90_first_reply_minutes AS DOUBLE) FROM support_daily WHERE {f} ORDER BY day")).await? {
        body.push_str("<h3>First-reply time</h3>");
        body.push_str(&line_chart("minutes to first reply", &series_of(&b, "series", "v"), None));
    }
    if let Some(b) = query(
        root,
        "support_csat_daily",
        &format!("SELECT day, platform, csat_pct FROM support_csat_daily WHERE {f} ORDER BY day"),
    )
    .await?
    {
        body.push_str("<h3>CSAT</h3>");
        body.push_str(&line_chart(
            "CSAT, % good",
            &series_of(&b, "platform", "csat_pct"),
            None,
        ));
    }

    // 8. Community.
    body.push_str("<h2>8. Community</h2>");
    match query(root, "community_daily", &format!("SELECT day, 'daily active members' AS series, active_members FROM community_daily WHERE {f} ORDER BY day")).await? {
        Some(b) => body.push_str(&line_chart("active members per day", &series_of(&b, "series", "active_members"), None)),
        None => body.push_str(MISSING),
    }

    // 9. Scorecard.
    body.push_str("<h2>9. Scorecard by program goal</h2>");
    let wf = period.filter("week");
    match query(
        root,
        "kpi_scorecard",
        &format!("SELECT week AS day, goal, score FROM kpi_scorecard WHERE {wf} ORDER BY week"),
    )
    .await?
    {
        Some(b) => {
            body.push_str(&line_chart(
                "weekly score, 0–100",
                &series_of(&b, "goal", "score"),
                None,
            ));
            body.push_str("<p class=\"note\">Each KPI is scored against its best week; awareness weighs impressions and shares most, direct response social conversions and revenue.</p>");
        }
        None => body.push_str(MISSING),
    }

    // 10. A/B test.
    body.push_str("<h2>10. A/B comparison</h2>");
    match query(root, "ab_test", "SELECT campaign, metric, posts_a, posts_b, rate_a_pct, rate_b_pct, z, p_value, significant_at_5pct FROM ab_test ORDER BY campaign, metric").await? {
        Some(b) => {
            let t: Vec<Vec<String>> = rows(&b).into_iter().map(|(b, r)| vec![
                text(b, "campaign", r),
                text(b, "metric", r).replace('_', " "),
                format!("{} ({} posts)", pct(num(b, "rate_a_pct", r)), count(num(b, "posts_a", r).unwrap_or(0.0))),
                format!("{} ({} posts)", pct(num(b, "rate_b_pct", r)), count(num(b, "posts_b", r).unwrap_or(0.0))),
                num(b, "z", r).map_or("–".into(), |z| format!("{z:.2}")),
                num(b, "p_value", r).map_or("–".into(), |p| format!("{p:.4}")),
                if text(b, "significant_at_5pct", r) == "true" { "yes".into() } else { "no".into() },
            ]).collect();
            body.push_str(&table(&["campaign", "metric", "variant A", "variant B", "z", "p-value", "significant at 5 %"], &t));
        }
        None => body.push_str(MISSING),
    }

    let title = format!("{pipeline}: social, web, support and community KPIs");
    let period_text = if first.is_empty() {
        "no data".to_owned()
    } else {
        format!("{first} to {last}")
    };
    let restated = not_final.map_or_else(String::new, |d| {
        format!(" Days from {d} may still be restated by the platforms (shaded “not final yet”).")
    });
    Ok(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><header><h1>{}</h1><p class=\"period\">{} · generated by chorus from the committed marts.{}</p></header>{body}</body></html>\n",
        esc(&title),
        esc(&title),
        esc(&period_text),
        esc(&restated)
    ))
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:820px;margin:24px auto;padding:0 16px;color:#222;line-height:1.45}h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc;padding-bottom:4px;page-break-after:avoid}h3{font-size:1em;margin:1.2em 0 .3em}.period,.note,.empty{color:#555;font-size:.9em}svg{width:100%;height:auto;page-break-inside:avoid}svg .tick{font-size:11px;fill:#444}svg .legend{font-size:12px;fill:#222}svg .axis{font-size:12px;fill:#444}svg .note{font-size:11px;fill:#666}svg .grid{stroke:#e5e5e5}table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #e5e5e5;vertical-align:top}th{background:#f5f5f5}a{color:#0072B2}.warning{background:#fff4e5;border-left:4px solid #D55E00;padding:8px 12px;margin:1em 0}.warning ul{margin:.3em 0}@media print{body{margin:0}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_without_external_references() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let svg = line_chart(
            "people",
            &[Series {
                name: "a <b>".into(),
                points: vec![(d("2026-01-01"), 1.0), (d("2026-01-05"), 3.0)],
            }],
            Some(d("2026-01-03")),
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("not final yet") && svg.contains("a &lt;b&gt;"));
        assert!(!svg.contains("href"));
        assert_eq!(short(1_234_567.0), "1.2M");
        assert_eq!(short(12_345.0), "12k");
        assert_eq!(short(1_234.0), "1.2k");
    }
}
