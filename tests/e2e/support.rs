//! `pipelines/support_sla.toml` against `chorus sandbox`: after a first and an incremental run,
//! the daily support marts equal what the sandbox's truth says (volume, social volume, median and p90 first-reply minutes, median
//! resolution minutes, CSAT), and a refused credential of either desk ends the run with exit
//! 77 without showing it.

use std::collections::BTreeMap;

use chorus_sandbox::Truth;
use chorus_sandbox::platforms::{freshdesk, zendesk};

use crate::meta::{copy_pipeline, start_sandbox};
use crate::util::{chorus, files_below, output, stderr, table_rows};

const ZD_TOKEN: &str = "ZdSandboxApiToken0chorus4Kq8vT2";
const FD_KEY: &str = "FdSandboxKey0chorus8Hn3Rx";

fn run(dir: &std::path::Path, port: u16, zd: &str, fd: &str) -> std::process::Output {
    output(
        chorus(dir)
            .arg("run")
            .arg(dir.join("support_sla.toml"))
            .env(
                "ZENDESK_API_URL",
                format!("http://127.0.0.1:{port}/zendesk"),
            )
            .env("ZENDESK_API_TOKEN", zd)
            .env(
                "FRESHDESK_API_URL",
                format!("http://127.0.0.1:{port}/freshdesk"),
            )
            .env("FRESHDESK_API_KEY", fd),
    )
}

fn day(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap()
        .date_naive()
        .to_string()
}

/// One ticket as the truth sees it: platform, day, social, first reply, resolution.
type TruthTicket = (&'static str, String, bool, Option<i64>, Option<i64>);

fn truth_tickets(truth: &Truth) -> Vec<TruthTicket> {
    let zd = truth
        .zendesk
        .tickets
        .iter()
        .filter(|t| !t.deleted())
        .map(|t| {
            (
                "zendesk",
                day(t.created),
                zendesk::SOCIAL_CHANNELS.contains(&t.channel),
                t.reply_minutes,
                t.full_resolution_minutes,
            )
        });
    let fd = truth.freshdesk.tickets.iter().map(|t| {
        (
            "freshdesk",
            day(t.created),
            freshdesk::SOCIAL_SOURCES.contains(&t.source),
            t.first_response_minutes(),
            t.resolution_minutes(),
        )
    });
    zd.chain(fd).collect()
}

fn median(mut v: Vec<i64>) -> Option<f64> {
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    }
}

/// The nearest-rank 90th percentile.
fn p90(mut v: Vec<i64>) -> Option<i64> {
    v.sort_unstable();
    let rank = (0.9 * v.len() as f64).ceil() as usize;
    (rank > 0).then(|| v[rank - 1])
}

fn cell_f64(cell: &str) -> Option<f64> {
    (!cell.is_empty()).then(|| cell.parse().unwrap())
}

#[test]
fn the_support_pipeline_matches_the_sandbox_truth() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "support_sla");
    // Twice: the second run is incremental, and the marts must still cover every ticket.
    for _ in 0..2 {
        let out = run(dir.path(), sb.port, ZD_TOKEN, FD_KEY);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let truth = Truth::new(0, 1);
    let tickets = truth_tickets(&truth);

    // support_daily: day, platform, tickets, social_tickets, replied_tickets,
    // median_first_reply_minutes, p90_first_reply_minutes, median_resolution_minutes.
    let mut groups: BTreeMap<(String, &str), Vec<&TruthTicket>> = BTreeMap::new();
    for t in &tickets {
        groups.entry((t.1.clone(), t.0)).or_default().push(t);
    }
    let rows = table_rows(&dir.path().join("out/support_daily"));
    assert_eq!(rows.len(), groups.len());
    let mut checked = 0;
    for row in &rows {
        let c: Vec<&str> = row.split('|').skip(1).collect();
        let key = (
            c[0].to_owned(),
            if c[1] == "zendesk" {
                "zendesk"
            } else {
                "freshdesk"
            },
        );
        let g = &groups[&key];
        let first: Vec<i64> = g.iter().filter_map(|t| t.3).collect();
        let resolved: Vec<i64> = g.iter().filter_map(|t| t.4).collect();
        assert_eq!(c[2], g.len().to_string(), "tickets {row}");
        assert_eq!(
            c[3],
            g.iter().filter(|t| t.2).count().to_string(),
            "social {row}"
        );
        assert_eq!(c[4], first.len().to_string(), "replied {row}");
        assert_eq!(
            cell_f64(c[5]),
            median(first.clone()),
            "median first reply {row}"
        );
        assert_eq!(
            c[6],
            p90(first).map(|v| v.to_string()).unwrap_or_default(),
            "p90 {row}"
        );
        assert_eq!(cell_f64(c[7]), median(resolved), "median resolution {row}");
        checked += 1;
    }
    assert!(checked > 100, "two desks over two months");

    // support_csat_daily: day, platform, rated, good, csat_pct.
    let mut csat: BTreeMap<(String, &str), (u64, u64)> = BTreeMap::new();
    for (_, r) in zendesk::ratings(&truth.zendesk) {
        if r.score == "offered" {
            continue;
        }
        let e = csat.entry((day(r.created), "zendesk")).or_default();
        e.0 += 1;
        e.1 += u64::from(r.score == "good");
    }
    for (_, r) in freshdesk::ratings(&truth.freshdesk) {
        let e = csat.entry((day(r.created), "freshdesk")).or_default();
        e.0 += 1;
        e.1 += u64::from(r.value > 100);
    }
    let rows = table_rows(&dir.path().join("out/support_csat_daily"));
    assert_eq!(rows.len(), csat.len());
    for row in &rows {
        let c: Vec<&str> = row.split('|').skip(1).collect();
        let key = (
            c[0].to_owned(),
            if c[1] == "zendesk" {
                "zendesk"
            } else {
                "freshdesk"
            },
        );
        let (rated, good) = csat[&key];
        assert_eq!(
            (c[2], c[3]),
            (rated.to_string().as_str(), good.to_string().as_str()),
            "{row}"
        );
        let pct = cell_f64(c[4]).unwrap();
        assert!(
            (pct - 100.0 * good as f64 / rated as f64).abs() < 1e-9,
            "{row}"
        );
    }

    // Volume by channel sums to the tickets, social channels apart.
    let rows = table_rows(&dir.path().join("out/support_volume_by_channel"));
    let social: u64 = rows
        .iter()
        .map(|r| r.split('|').skip(1).collect::<Vec<_>>())
        .filter(|c| c[3] == "true")
        .map(|c| c[4].parse::<u64>().unwrap())
        .sum();
    assert_eq!(social, tickets.iter().filter(|t| t.2).count() as u64);

    for file in files_below(&dir.path().join("out")) {
        let bytes = std::fs::read(dir.path().join("out").join(&file)).unwrap();
        for secret in [ZD_TOKEN, FD_KEY] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret is in {file}"
            );
        }
    }
}

#[test]
fn a_refused_credential_of_either_desk_exits_77_without_showing_it() {
    let sb = start_sandbox();
    let bad_zd = "revokedZendeskTokenForTheTest";
    let bad_fd = "revokedFreshdeskKeyForTheTest";
    for (zd, fd, bad, says) in [
        (bad_zd, FD_KEY, bad_zd, "Zendesk refused the credentials"),
        (ZD_TOKEN, bad_fd, bad_fd, "Freshdesk refused the API key"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy_pipeline(dir.path(), "support_sla");
        let out = run(dir.path(), sb.port, zd, fd);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(77), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!err.contains(bad), "{err}");
    }
}
