//! Operating a live cluster, with the tools an operator would use: a real
//! Prometheus server scrapes every replica's metrics (and `promtool` checks
//! them); headless Chromium watches the status page while a node is killed;
//! every transition in the decision journal is replayed with `simulate --at`
//! and gives the recorded plan byte for byte; `halo report` writes its
//! archive without a private key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{halo, text, Cluster, Net, Options};

const WAIT: Duration = Duration::from_secs(60);
const SUBNET: u8 = 81;

fn policy() -> String {
    "cluster ops {\n  node n1\n  node n2\n  node n3\n  quorum majority\n  fencing on\n}\n\n\
     fence power: fence_halo {\n  targets n1 n2 n3\n}\n\n\
     resource web: ocf:heartbeat:Dummy {\n  monitor every 1s\n}\n\n\
     promotable db: ocf:pacemaker:Stateful {\n  monitor promoted every 1s\n  \
     monitor unpromoted every 2s\n  clone-max 2\n}\n"
        .to_string()
}

/// A replica's metrics and status page address (`cluster init` puts them on
/// the node's loopback address, port 9664).
fn http_of(node: &str) -> String {
    let i: usize = node.trim_start_matches('n').parse().unwrap();
    format!("127.0.{SUBNET}.{i}:9664")
}

/// A plain HTTP GET; the body, or None when nothing answers.
fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

/// A sample's value in Prometheus text (`name{labels} value`).
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let f = std::fs::File::create(log).unwrap();
    cmd.stdout(f.try_clone().unwrap())
        .stderr(f)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (scripts/test installs it)"))
}

fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_operator_watches_scrapes_replays_and_reports_a_live_cluster() {
    let mut c = Cluster::start(Options {
        name: "ops".into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(SUBNET),
        timing: None,
    });
    c.apply(&policy());
    let s = c.wait("web and db running", WAIT, |s| {
        Cluster::placement(s, "web").len() == 1
            && Cluster::placement(s, "db")
                .values()
                .any(|r| r == "promoted")
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    let leader = Cluster::leader(&s).unwrap();
    // The node to kill: not the leader (whose page the browser watches).
    let victim = c.nodes.iter().find(|n| **n != leader).unwrap().clone();

    metrics_are_valid_and_cluster_series_come_from_the_leader_only(&c, &leader);
    let mut helpers = Killed(Vec::new());
    let prometheus = start_prometheus(&c, &mut helpers);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let browser = rt.block_on(open_page(&c, &leader, &mut helpers));
    rt.block_on(wait_for_cell(&browser, &victim, "answers"));

    c.kill(&victim);
    rt.block_on(wait_for_cell(&browser, &victim, "silent"));
    c.wait("the killed node fenced and web running", WAIT, |s| {
        s["doc"]["state"]["nodes"][&victim]["status"] == "offline"
            && Cluster::placement(s, "web").len() == 1
            && Cluster::placement(s, "db")
                .values()
                .any(|r| r == "promoted")
    });
    rt.block_on(async {
        wait_for_cell(&browser, &victim, "offline").await;
        let png = browser.screenshot().await.unwrap();
        std::fs::write(artifacts().join("status-page.png"), png).unwrap();
        // The journal's newest transition is listed with its cause.
        let first = browser
            .find(fantoccini::Locator::Css(
                "#transitions tbody tr td:nth-child(3)",
            ))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!first.is_empty(), "a transition without a cause");
        browser.close().await.unwrap();
    });

    prometheus_has_the_series(&prometheus, &victim);
    let kept = every_transition_replays_byte_for_byte(&c);
    the_report_holds_everything_but_keys(&c);

    // The killed node's replica comes back with the journal it had on disk
    // and catches up with the rest: the same transitions.
    c.restart(&victim);
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < WAIT {
        if let Some(body) = get(&http_of(&victim), "/api/status") {
            let v: Value = serde_json::from_str(&body).unwrap();
            seen = v["transitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_u64().unwrap())
                .collect();
            if kept.iter().rev().take(10).all(|id| seen.contains(id)) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{victim}'s replica shows transitions {seen:?}, the cluster kept {kept:?}");
}

fn metrics_are_valid_and_cluster_series_come_from_the_leader_only(c: &Cluster, leader: &str) {
    for n in &c.nodes {
        let m = get(&http_of(n), "/metrics").unwrap_or_else(|| panic!("no metrics from {n}"));
        let cluster_wide = m.contains("halo_cluster_nodes");
        assert_eq!(cluster_wide, n == leader, "{n}'s metrics:\n{m}");
        assert_eq!(
            sample(&m, "halo_leader{"),
            Some(f64::from(u8::from(n == leader)))
        );
        let path = c.dir.join(format!("{n}.metrics"));
        std::fs::write(&path, &m).unwrap();
        let out = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .expect("promtool (Debian's prometheus package; scripts/test installs it)");
        assert!(
            out.status.success(),
            "promtool check metrics on {n}'s metrics: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        if n == leader {
            assert_eq!(sample(&m, "halo_cluster_nodes"), Some(3.0));
            assert_eq!(
                sample(&m, "ha_cluster_pacemaker_stonith_enabled"),
                Some(1.0)
            );
            assert!(
                m.contains("ha_cluster_pacemaker_resources{agent=\"ocf:heartbeat:Dummy\""),
                "{m}"
            );
            let count = |prefix: &str| sample(&m, prefix).unwrap_or(0.0);
            assert!(count("halo_plan_duration_seconds_count") >= 1.0, "{m}");
            assert!(
                count("halo_actions_total{kind=\"start\",outcome=\"ok\"") >= 1.0,
                "{m}"
            );
        }
    }
}

/// Prometheus on its own address, scraping every replica each second.
fn start_prometheus(c: &Cluster, helpers: &mut Killed) -> String {
    let dir = c.dir.join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let targets: Vec<String> = c
        .nodes
        .iter()
        .map(|n| format!("'{}'", http_of(n)))
        .collect();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: halo\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let addr = format!("127.0.{SUBNET}.200:9090");
    helpers.0.push(spawn(
        Command::new("prometheus").args([
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", dir.join("data").display()),
            &format!("--web.listen-address={addr}"),
        ]),
        &dir.join("prometheus.log"),
    ));
    addr
}

/// Queries Prometheus until `query` gives a value that `ok` accepts.
fn query_until(prom: &str, query: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < WAIT {
        if let Some(body) = get(prom, &format!("/api/v1/query?query={query}")) {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let value = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|x| x.parse::<f64>().ok());
            if let Some(x) = value.filter(|x| ok(*x)) {
                return x;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("Prometheus never answered {query} as expected; last answer: {last}");
}

fn prometheus_has_the_series(prom: &str, victim: &str) {
    // Scraping every replica counts the nodes once: only the leader
    // exports the cluster's series.
    query_until(prom, "count(halo_cluster_nodes)", |x| x == 1.0);
    query_until(prom, "max(halo_cluster_nodes)", |x| x == 3.0);
    // Each live replica exports its own; one leads.
    query_until(prom, "sum(halo_leader)", |x| x == 1.0);
    // The kill went through each failover phase.
    for phase in ["detection", "fencing", "start"] {
        query_until(
            prom,
            &format!("sum(halo_failover_phase_seconds_count{{phase=\"{phase}\"}})"),
            |x| x >= 1.0,
        );
    }
    query_until(
        prom,
        &format!("sum(halo_fencing_attempts_total{{node=\"{victim}\",outcome=\"ok\"}})"),
        |x| x >= 1.0,
    );
}

async fn open_page(c: &Cluster, leader: &str, helpers: &mut Killed) -> fantoccini::Client {
    let port = 19_000 + u16::from(SUBNET);
    helpers.0.push(spawn(
        Command::new("chromedriver").arg(format!("--port={port}")),
        &c.dir.join("chromedriver.log"),
    ));
    let profile = c.dir.join("chromium-profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1200,1600",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let start = Instant::now();
    let client = loop {
        // chromedriver speaks plain HTTP on the loopback: no TLS client.
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        match fantoccini::ClientBuilder::new(http)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(e) if start.elapsed() > Duration::from_secs(20) => {
                panic!("cannot drive Chromium through chromedriver: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    client
        .goto(&format!("http://{}/", http_of(leader)))
        .await
        .unwrap();
    client
}

/// Waits until the page (never reloaded) shows `want` in `node`'s runner or
/// state cell.
async fn wait_for_cell(browser: &fantoccini::Client, node: &str, want: &str) {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < WAIT {
        let row = format!("#nodes tr[data-key='{node}']");
        if let Ok(el) = browser.find(fantoccini::Locator::Css(&row)).await {
            last = el.text().await.unwrap_or_default();
            if last.contains(want) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the status page never showed {node} {want}; its row: {last}");
}

/// The ids of the kept transitions.
fn every_transition_replays_byte_for_byte(c: &Cluster) -> Vec<u64> {
    let cfg = c.admin();
    let list: Value = serde_json::from_str(&c.ok(&["history", "--format", "json"])).unwrap();
    let ids: Vec<u64> = list["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert!(ids.len() >= 3, "too few transitions: {ids:?}");
    let last = ids.last().unwrap().to_string();
    let why = c.ok(&["why", "--at", &last, "web"]);
    assert!(why.starts_with("web: "), "halo why --at {last} web:\n{why}");
    let text_list = c.ok(&["history"]);
    assert!(
        text_list.contains("lost"),
        "the node's loss is no transition's cause:\n{text_list}"
    );
    for &id in &ids {
        let shown: Value =
            serde_json::from_str(&c.ok(&["history", "show", &id.to_string(), "--format", "json"]))
                .unwrap();
        let recorded = shown["transitions"][0]["plan"]
            .as_str()
            .unwrap()
            .to_string();
        let out = halo(&[
            "simulate",
            "--at",
            &id.to_string(),
            "--format",
            "plan",
            "--config",
            &cfg,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            recorded,
            "transition {id} replays differently"
        );
    }
    ids
}

fn the_report_holds_everything_but_keys(c: &Cluster) {
    let out = c.dir.join("report.tar.gz");
    c.ok(&["report", "--out", &out.display().to_string()]);
    let x = c.dir.join("report");
    std::fs::create_dir_all(&x).unwrap();
    let untar = Command::new("tar")
        .args([
            "xzf",
            &out.display().to_string(),
            "-C",
            &x.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(untar.status.success(), "{}", text(&untar.stderr));
    for f in [
        "status.json",
        "history.json",
        "policy.ha",
        "config/admin.toml",
        "logs/n1.log",
    ] {
        assert!(x.join(f).exists(), "{f} is missing from the report");
    }
    let grep = Command::new("grep")
        .args(["-rl", "PRIVATE KEY", &x.display().to_string()])
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "a key in the report: {}",
        text(&grep.stdout)
    );
    let history: Value =
        serde_json::from_str(&std::fs::read_to_string(x.join("history.json")).unwrap()).unwrap();
    assert!(history["transitions"][0]["state"]["nodes"].is_object());
}

/// Off the loopback, the endpoint is HTTPS and answers only the cluster's
/// admin (or controller) certificates.
#[test]
fn off_the_loopback_only_admin_certificates_read_the_status() {
    let mut c = Cluster::start(Options {
        name: "opstls".into(),
        nodes: 1,
        witness: false,
        net: Net::Loopback(82),
        timing: None,
    });
    c.kill("n1");
    let cfg = c.dir.join("n1.toml");
    let t = std::fs::read_to_string(&cfg).unwrap();
    let open = "0.0.0.0:9682";
    let t = t
        .lines()
        .map(|l| {
            if l.starts_with("http = ") {
                format!("http = \"{open}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(t.contains(open), "cluster init wrote no http line:\n{t}");
    std::fs::write(&cfg, t).unwrap();
    c.restart("n1");
    let d = c.dir.clone();
    let curl = |cert: Option<&str>| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "5", "--cacert"])
            .arg(d.join("ca.pem"));
        if let Some(name) = cert {
            cmd.arg("--cert")
                .arg(d.join(format!("{name}.pem")))
                .arg("--key")
                .arg(d.join(format!("{name}.key")));
        }
        cmd.arg("https://127.0.82.1:9682/metrics");
        cmd.output().expect("curl (scripts/test installs it)")
    };
    let start = Instant::now();
    let admin = loop {
        let out = curl(Some("admin"));
        if out.status.success() || start.elapsed() > WAIT {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(admin.status.success(), "{}", text(&admin.stderr));
    assert!(text(&admin.stdout).contains("halo_raft_term"));
    // Plain HTTP is not served there, and neither is a client without a
    // certificate or with a node's.
    assert!(get("127.0.82.1:9682", "/metrics").is_none());
    for cert in [None, Some("n1")] {
        let out = curl(cert);
        assert!(
            !out.status.success(),
            "{cert:?} read the metrics: {}",
            text(&out.stdout)
        );
    }
}
