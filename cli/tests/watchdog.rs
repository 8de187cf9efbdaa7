//! Fencing off, a node that hangs: its runner frozen (SIGSTOP) for 20 s,
//! then for 60 s, while it runs the resource. Its watchdog process, no
//! longer fed, kills it and stops the resource; the majority starts it
//! elsewhere only after its wait (the lease, twice the watchdog's timeout,
//! the stop timeout). Whether it ever ran on two nodes at once is read from
//! the agent's own state files (Dummy keeps one per node while it runs),
//! polled every 10 ms — not from what the cluster believes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Cluster, Net, Options};

const WAIT: Duration = Duration::from_secs(90);

/// Polls the agent's state file on every node every 10 ms, noting each
/// moment it exists on more than one.
struct Poller {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(u64, Vec<String>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(files: Vec<(String, PathBuf)>) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((0u64, Vec::new())));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let on: Vec<&str> = files
                    .iter()
                    .filter(|(_, f)| f.exists())
                    .map(|(n, _)| n.as_str())
                    .collect();
                let mut v = v.lock().unwrap();
                v.0 += 1;
                if on.len() > 1 {
                    v.1.push(format!("{} at {} ns", on.join(" and "), support::now_ns()));
                }
                drop(v);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Poller {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// (samples taken, moments it ran on two nodes).
    fn finish(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let v = self.seen.lock().unwrap();
        (v.0, v.1.clone())
    }
}

fn web_on(s: &serde_json::Value) -> Vec<String> {
    Cluster::placement(s, "web").into_keys().collect()
}

fn quiet(s: &serde_json::Value) -> bool {
    s["running"].as_array().is_some_and(Vec::is_empty)
}

#[test]
fn a_frozen_node_never_runs_its_resource_beside_another_fencing_off() {
    let mut c = Cluster::start(Options {
        name: "watchdog".into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(72),
        timing: None,
    });
    c.apply(
        "cluster watchdog {\n  node n1\n  node n2\n  node n3\n  fencing off\n}\n\n\
         resource web: ocf:heartbeat:Dummy {\n  monitor every 1s\n  stop timeout 5s\n}\n",
    );
    let files = c
        .nodes
        .iter()
        .map(|n| (n.clone(), c.dir.join("run").join(n).join("Dummy-web.state")))
        .collect();
    let poller = Poller::start(files);
    for seconds in [20, 60] {
        let s = c.wait("web running on one node", WAIT, |s| {
            web_on(s).len() == 1 && quiet(s)
        });
        let victim = web_on(&s).remove(0);
        let frozen = Instant::now();
        c.freeze(&victim);
        c.wait("web started elsewhere", WAIT, |s| {
            web_on(s).iter().any(|n| *n != victim)
        });
        eprintln!(
            "{victim} frozen: web started elsewhere after {:.1} s",
            frozen.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_secs(seconds).saturating_sub(frozen.elapsed()));
        c.thaw(&victim);
        assert!(
            !c.alive(&victim),
            "{victim}'s watchdog did not kill it while it was frozen for {seconds} s"
        );
        let log = std::fs::read_to_string(c.dir.join(format!("{victim}.log"))).unwrap();
        assert!(log.contains("watchdog fires"), "{victim}'s log:\n{log}");
        // As after a reset: the node comes back, and web stays where it is.
        c.restart(&victim);
        c.wait("the frozen node back", WAIT, |s| {
            Cluster::online(s, &victim) && web_on(s).len() == 1 && quiet(s)
        });
    }
    let (samples, twice) = poller.finish();
    assert!(samples > 5000, "only {samples} polls of the state files");
    assert!(twice.is_empty(), "web ran on two nodes: {twice:?}");
}
