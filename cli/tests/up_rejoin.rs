//! `halo up` with a real agent: the runner of the node that holds an
//! `ocf:heartbeat:Dummy` resource is killed, the resource fails over, the
//! node's runner is started again, six times. Measured from outside through
//! `halo status`, as an operator would: how long each failover takes, that
//! the rejoining node never stops the healthy copy (its Dummy state file is
//! never replaced), and that no status ever shows the resource on two nodes.
//! It prints the failover times it measured and holds them to p50 < 1 s and
//! max < 2 s.
//! (Its own test binary: the failover times are not shared with other
//! clusters starting on the same two cores.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::Cluster;

const WAIT: Duration = Duration::from_secs(30);

const POLICY: &str =
    "cluster uprejoin {\n  node n1\n  node n2\n  node n3\n  quorum majority\n  fencing on\n}\n\n\
fence power: fence_halo {\n  targets n1 n2 n3\n}\n\n\
defaults {\n  stickiness 10\n}\n\n\
resource web: ocf:heartbeat:Dummy {\n  monitor every 1s\n}\n";

/// `halo up` and every runner the test started again; all stopped when
/// dropped, even when the test fails midway.
struct Up {
    up: Child,
    dir: PathBuf,
    restarted: Vec<Child>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.up.id().to_string()])
            .status();
        let _ = self.up.wait();
        for c in &mut self.restarted {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Up {
    fn status(&self) -> Option<serde_json::Value> {
        let admin = self.dir.join("admin.toml").display().to_string();
        let out = support::halo(&["status", "--format", "json", "--config", &admin]);
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls the status until `pred` holds, checking on every poll that web
    /// is never shown on two nodes.
    fn wait(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if let Some(s) = self.status() {
                let on = Cluster::placement(&s, "web");
                assert!(on.len() <= 1, "web shown active on two nodes: {on:?}");
                if pred(&s) {
                    return s;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}; files in {}",
            self.dir.display()
        );
    }

    fn pid(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.join("state").join(node).join("halo.pid"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// The identity of the Dummy state file of web on `node`: a stop
    /// removes it and a start makes a new one.
    fn copy_on(&self, node: &str) -> Option<u64> {
        let f = self
            .dir
            .join("state")
            .join(node)
            .join("run/Dummy-web.state");
        std::fs::metadata(f).ok().map(|m| m.ino())
    }

    fn restart(&mut self, node: &str) {
        // Appended: every round's log is kept for a failure's diagnosis.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{node}.restart.log")))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_halo"))
            .args(["runner", "--config"])
            .arg(self.dir.join(format!("{node}.toml")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.restarted.push(child);
    }
}

fn web(s: &serde_json::Value) -> Option<String> {
    Cluster::placement(s, "web").into_keys().next()
}

fn quiet(s: &serde_json::Value) -> bool {
    s["running"].as_array().is_some_and(Vec::is_empty)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

#[test]
fn halo_up_with_a_real_agent_restarts_nothing_healthy_when_a_node_rejoins() {
    let dir = std::env::temp_dir().join(format!("halo-up-rejoin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web.ha");
    std::fs::write(&file, POLICY).unwrap();
    let cluster = dir.join("cluster");
    let up = Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(["up", "--port", "7560", "--dir"])
        .arg(&cluster)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = Up {
        up,
        dir: cluster,
        restarted: Vec::new(),
    };
    let s = up.wait("web running", |s| web(s).is_some() && quiet(s));
    // Each local node has its own runtime directory: the copy is there only.
    let mut holder = web(&s).unwrap();
    for n in ["n1", "n2", "n3"] {
        assert_eq!(up.copy_on(n).is_some(), n == holder, "Dummy state on {n}");
    }
    let mut failovers = Vec::new();
    for round in 0..6 {
        let victim = holder.clone();
        let pid = up.pid(&victim);
        let killed = Instant::now();
        assert!(Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success());
        let s = up.wait("web on another node", |s| {
            web(s).is_some_and(|n| n != victim)
        });
        failovers.push(killed.elapsed());
        holder = web(&s).unwrap();
        let copy = up.copy_on(&holder).expect("the new copy's state file");
        // Fenced as a power-off would: the dead node's runtime state is gone.
        up.wait("the victim fenced", |s| {
            s["doc"]["state"]["fenced"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| *x == victim))
        });
        assert_eq!(up.copy_on(&victim), None, "{victim} kept its runtime state");
        up.restart(&victim);
        up.wait(&format!("{victim} back (round {round})"), |s| {
            Cluster::online(s, &victim) && quiet(s)
        });
        // Give the rejoined node's probe and any plan time to act.
        std::thread::sleep(Duration::from_secs(2));
        let s = up.wait("quiet", quiet);
        assert_eq!(web(&s).as_deref(), Some(holder.as_str()));
        assert_eq!(
            up.copy_on(&holder),
            Some(copy),
            "the healthy copy on {holder} was stopped and started again (round {round})"
        );
        let log = s["doc"]["log"].as_array().cloned().unwrap_or_default();
        assert!(
            !log.iter()
                .any(|l| l["text"] == format!("stopped web on {holder}")),
            "the healthy copy was stopped: {log:?}"
        );
    }
    failovers.sort();
    let (p50, max) = (percentile(&failovers, 50), *failovers.last().unwrap());
    eprintln!("halo up failover over 6 kills, measured through halo status: p50 {p50:?}, max {max:?} ({failovers:?})");
    // Issue 14's acceptance bounds. Measured here: p50 about 0.3 s, max
    // 0.4-0.6 s even with builds running beside it, so the bounds hold with
    // a margin of three; this test has its test binary to itself.
    assert!(p50 < Duration::from_secs(1), "failover p50 {p50:?}");
    assert!(max < Duration::from_secs(2), "failover max {max:?}");
}
