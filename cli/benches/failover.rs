//! Failover time: how long from a node's death to its resource running on
//! another node, on a 3-node cluster on loopback with default settings
//! (heartbeat 50 ms, timeout 250 ms, election 150 ms, fencing on with fence_halo), running
//! the real Dummy agent.
//!
//! Each round kills the node that runs `web` (SIGKILL: a crash), measures,
//! then boots the node again. Every third round first moves `web` to the
//! leader's node, so that a third of the kills take the leader down with the
//! resource — as a crash of a random node of three would. The time is split
//! into
//! - detection: from the kill to the leader declaring the node lost,
//! - fencing: from then to the fence being confirmed,
//! - start: from then to Dummy's start finishing on another node.
//!
//! `cargo bench -p halo --bench failover [-- ROUNDS]` (default 20).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;
use support::{Cluster, Net, Options};

const POLICY: &str =
    "cluster bench {\n  node n1\n  node n2\n  node n3\n  quorum majority\n  fencing on\n}\n\n\
defaults {\n  stickiness 10\n}\n\n\
fence power: fence_halo {\n  targets n1 n2 n3\n}\n\n\
resource web: ocf:heartbeat:Dummy {\n  monitor every 1s\n}\n";

/// Nanoseconds since the epoch of a log line's RFC 3339 UTC timestamp
/// (`2026-11-23T16:31:23.259274Z`).
fn log_time(line: &str) -> Option<u128> {
    let ts = line.split_whitespace().next()?;
    let (date, time) = ts.trim_end_matches('Z').split_once('T')?;
    let d: Vec<i64> = date.split('-').filter_map(|x| x.parse().ok()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').filter_map(|x| x.parse().ok()).collect();
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2];
    let frac_ns: u128 = format!("{frac:0<9}")[..9].parse().ok()?;
    Some(u128::try_from(secs).ok()? * 1_000_000_000 + frac_ns)
}

/// The first log line after `after` (in any node's logs) with `needle` and
/// `node=VICTIM`.
fn logged(c: &Cluster, after: u128, needle: &str, victim: &str) -> Option<u128> {
    let mut best: Option<u128> = None;
    for e in std::fs::read_dir(&c.dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.contains(".log") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in text.lines() {
            if l.contains(needle) && l.contains(&format!("node={victim}"))
                || l.contains(needle) && l.contains(&format!("target={victim}"))
            {
                if let Some(t) = log_time(l).filter(|t| *t >= after) {
                    best = Some(best.map_or(t, |b| b.min(t)));
                }
            }
        }
    }
    best
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let mut c = Cluster::start(Options {
        name: "bench".into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(60),
        timing: None,
    });
    c.apply(POLICY);
    let wait = Duration::from_secs(30);
    let (mut detect, mut fence, mut start, mut total) = (vec![], vec![], vec![], vec![]);
    let mut leader_totals = vec![];
    let nodes = c.nodes.clone();
    let settled = |s: &serde_json::Value| {
        Cluster::placement(s, "web").len() == 1
            && nodes.iter().all(|n| Cluster::online(s, n))
            && s["running"].as_array().is_some_and(Vec::is_empty)
    };
    for round in 1..=rounds {
        let mut s = c.wait("web running, every node online", wait, settled);
        if round % 3 == 0 {
            let leader = Cluster::leader(&s).unwrap();
            if !Cluster::placement(&s, "web").contains_key(&leader) {
                c.ok(&["resource", "move", "web", &leader]);
                c.wait("web on the leader's node", wait, |s| {
                    settled(s) && Cluster::placement(s, "web").contains_key(&leader)
                });
                // Stickiness keeps it there without the move's preference.
                c.ok(&["resource", "clear", "web"]);
                s = c.wait("web running, every node online", wait, settled);
            }
        }
        let victim = Cluster::placement(&s, "web").into_keys().next().unwrap();
        let leader_killed = Cluster::leader(&s).as_deref() == Some(victim.as_str());
        // Let the monitors and heartbeats run a moment, as in a quiet cluster.
        std::thread::sleep(Duration::from_millis(300));
        let t0 = support::now_ns();
        c.kill(&victim);
        c.wait("web elsewhere", wait, |s| {
            Cluster::placement(s, "web").keys().any(|n| *n != victim)
        });
        let started = c
            .records()
            .iter()
            .filter(|r| r.rsc == "web" && r.action == "start" && r.end && r.rc == Some(0))
            .filter(|r| r.node != victim && r.at >= t0)
            .map(|r| r.at)
            .min()
            .unwrap();
        let lost = logged(&c, t0, "node lost", &victim).unwrap_or(t0);
        let fenced = logged(&c, t0, "fenced", &victim).unwrap_or(lost);
        let ms = |a: u128, b: u128| b.saturating_sub(a) as f64 / 1e6;
        detect.push(ms(t0, lost));
        fence.push(ms(lost, fenced));
        start.push(ms(fenced, started));
        total.push(ms(t0, started));
        if leader_killed {
            leader_totals.push(ms(t0, started));
        }
        eprintln!(
            "round {round:>2} (t0 {}.{:03}): {victim}{} killed, web running elsewhere after {:>6.1} ms \
             (detection {:.1}, fencing {:.1}, start {:.1})",
            (t0 / 1_000_000_000) % 60,
            (t0 / 1_000_000) % 1000,
            if leader_killed { " (the leader)" } else { "" },
            ms(t0, started),
            ms(t0, lost),
            ms(lost, fenced),
            ms(fenced, started)
        );
        c.restart(&victim);
    }
    for v in [
        &mut detect,
        &mut fence,
        &mut start,
        &mut total,
        &mut leader_totals,
    ] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "failover over {rounds} kills ({} of them the leader's node), 3 nodes on loopback, default timing:",
        leader_totals.len()
    );
    println!(
        "  {:<26} {:>8} {:>8} {:>8}",
        "", "p50 ms", "p99 ms", "max ms"
    );
    for (name, v) in [
        ("detection", &detect),
        ("fencing", &fence),
        ("start elsewhere", &start),
        ("node loss to running", &total),
        ("  of which the leader's node", &leader_totals),
    ] {
        println!(
            "  {:<26} {:>8.1} {:>8.1} {:>8.1}",
            name,
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
}
