//! Fencing off, a node that hangs: its runner frozen (SIGSTOP) for 20 s,
//! then for 60 s, while it runs the resource. Its watchdog process, no
//! longer fed, kills it and stops the resource; the majority starts it
//! elsewhere only after its wait (the lease, twice the watchdog's timeout,
//! the stop timeout). Whether it ever ran on two nodes at once is read from
//! the agent's own state files (Dummy keeps one per node while it runs),
//! polled every 10 ms — not from what the cluster believes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};
use support::{Cluster, Net, Options, StatePoller};

const WAIT: Duration = Duration::from_secs(90);

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
        .map(|n| {
            let file = c.dir.join("run").join(n).join("Dummy-web.state");
            (n.clone(), "web".to_string(), file)
        })
        .collect();
    let poller = StatePoller::start(files);
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
