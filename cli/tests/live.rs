//! End-to-end: live clusters of real `halo runner` processes (runner and
//! controller replica each) on loopback, running the real Dummy and Stateful
//! agents. Nodes are killed, leaders are killed, monitors fail, nodes go to
//! standby; the audit of every agent action proves that no resource that runs
//! once was ever active on two nodes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;
use support::{Cluster, Net, Options};

const WAIT: Duration = Duration::from_secs(30);

fn policy(cluster: &str, nodes: &[&str], fencing: bool, quorum: &str) -> String {
    let list = nodes.join(" ");
    let node_lines: String = nodes.iter().map(|n| format!("  node {n}\n")).collect();
    let fence = if fencing {
        format!("fence power: fence_halo {{\n  targets {list}\n}}\n")
    } else {
        String::new()
    };
    format!(
        "cluster {cluster} {{\n{node_lines}  quorum {quorum}\n  fencing {}\n}}\n\n\
         defaults {{\n  stickiness 10\n  migration-threshold 2\n}}\n\n{fence}\n\
         resource web: ocf:heartbeat:Dummy {{\n  monitor every 1s\n  stop timeout 3s\n}}\n\n\
         promotable db: ocf:pacemaker:Stateful {{\n  monitor promoted every 1s\n  monitor unpromoted every 2s\n  clone-max 2\n}}\n",
        if fencing { "on" } else { "off" }
    )
}

fn three(name: &str, subnet: u8) -> Cluster {
    let c = Cluster::start(Options {
        name: name.into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(subnet),
        timing: None,
    });
    c.apply(&policy(name, &["n1", "n2", "n3"], true, "majority"));
    c
}

/// Waits until web runs and db has a primary and a replica.
fn settled(c: &Cluster) -> serde_json::Value {
    c.wait("web running and db promoted", WAIT, |s| {
        Cluster::placement(s, "web").len() == 1
            && Cluster::placement(s, "db")
                .values()
                .filter(|r| *r == "promoted")
                .count()
                == 1
            && Cluster::placement(s, "db").len() == 2
            && s["running"].as_array().is_some_and(Vec::is_empty)
    })
}

fn web_node(s: &serde_json::Value) -> String {
    Cluster::placement(s, "web").keys().next().cloned().unwrap()
}

#[test]
fn a_killed_node_is_fenced_and_its_resources_start_elsewhere() {
    let mut c = three("kill", 51);
    let s = settled(&c);
    let victim = web_node(&s);
    c.kill(&victim);
    let s = c.wait("web running on another node", WAIT, |s| {
        Cluster::placement(s, "web").keys().any(|n| *n != victim)
    });
    let fenced = s["doc"]["state"]["fenced"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        fenced.iter().any(|f| f.as_str() == Some(victim.as_str())),
        "{victim} was not fenced before web moved: {s}"
    );
    assert!(!Cluster::online(&s, &victim));
    c.assert_never_double_active(&["web"]);
}

#[test]
fn a_new_leader_carries_on_without_restarting_healthy_resources() {
    let mut c = three("leader", 52);
    let s = settled(&c);
    let leader = Cluster::leader(&s).unwrap();
    // What runs on the other nodes must keep running, untouched.
    let healthy: Vec<(String, String)> = ["web", "db"]
        .iter()
        .flat_map(|r| {
            Cluster::placement(&s, r)
                .into_keys()
                .filter(|n| *n != leader)
                .map(|n| (r.to_string(), n))
                .collect::<Vec<_>>()
        })
        .collect();
    let starts: Vec<usize> = healthy.iter().map(|(r, n)| c.starts(r, n)).collect();
    c.kill(&leader);
    let s = c.wait("a new leader, with everything running again", WAIT, |s| {
        Cluster::leader(s).is_some_and(|l| l != leader)
            && Cluster::placement(s, "web").len() == 1
            && !Cluster::placement(s, "web").contains_key(&leader)
            && Cluster::placement(s, "db")
                .values()
                .any(|r| r == "promoted")
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    for ((r, n), before) in healthy.iter().zip(starts) {
        assert!(
            Cluster::placement(&s, r).contains_key(n),
            "{r} no longer runs on {n}: {s}"
        );
        assert_eq!(c.starts(r, n), before, "{r} was started again on {n}");
        let stops = c
            .records()
            .iter()
            .filter(|x| x.rsc == *r && x.node == *n && x.action == "stop")
            .count();
        assert_eq!(stops, 0, "{r} was stopped on {n} though it was healthy");
    }
    c.assert_never_double_active(&["web"]);
}

#[test]
fn a_failing_monitor_restarts_then_moves_after_migration_threshold() {
    let c = three("monitor", 53);
    let s = settled(&c);
    let node = web_node(&s);
    let state = c.dir.join("run").join(&node).join("Dummy-web.state");
    // Dummy is "running" while its state file exists.
    assert!(state.exists(), "{} missing", state.display());
    std::fs::remove_file(&state).unwrap();
    c.wait("web restarted in place after one failure", WAIT, |s| {
        s["doc"]["state"]["failures"]["web"][&node]["count"].as_u64() == Some(1)
            && s["doc"]["state"]["resources"]["web"][&node]["failed"].is_null()
            && Cluster::placement(s, "web").contains_key(&node)
            && c.starts("web", &node) == 2
    });
    // A second failure reaches migration-threshold 2: web leaves the node.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(&state).unwrap();
    let s = c.wait("web moved away", WAIT, |s| {
        Cluster::placement(s, "web").keys().any(|n| *n != node)
    });
    assert_eq!(
        s["doc"]["state"]["failures"]["web"][&node]["count"].as_u64(),
        Some(2)
    );
    c.assert_never_double_active(&["web"]);
}

#[test]
fn standby_moves_resources_off_and_unstandby_lets_them_back() {
    let c = three("standby", 54);
    let s = settled(&c);
    let node = web_node(&s);
    c.ok(&["node", "standby", &node]);
    let s = c.wait("nothing on the standby node", WAIT, |s| {
        !Cluster::placement(s, "web").contains_key(&node)
            && !Cluster::placement(s, "db").contains_key(&node)
            && Cluster::placement(s, "web").len() == 1
    });
    assert_eq!(s["doc"]["state"]["nodes"][&node]["standby"], true);
    c.ok(&["node", "unstandby", &node]);
    // The replica has a free node again: db's second instance comes back.
    c.wait("db back on the node", WAIT, |s| {
        s["doc"]["state"]["nodes"][&node]["standby"] == false
            && Cluster::placement(s, "db").len() == 2
    });
    c.assert_never_double_active(&["web"]);
}

#[test]
fn two_nodes_and_a_witness_survive_the_loss_of_a_node() {
    let mut c = Cluster::start(Options {
        name: "witness".into(),
        nodes: 2,
        witness: true,
        net: Net::Loopback(55),
        timing: None,
    });
    c.apply(&policy("witness", &["n1", "n2"], true, "two-node"));
    let s = settled(&c);
    let victim = web_node(&s);
    c.kill(&victim);
    let s = c.wait("web on the other node", WAIT, |s| {
        Cluster::placement(s, "web").keys().any(|n| *n != victim)
            && Cluster::placement(s, "db")
                .values()
                .any(|r| r == "promoted")
    });
    assert!(s["replicas"]["w"].as_bool().is_some());
    c.assert_never_double_active(&["web"]);
}

#[test]
fn operator_commands_are_checked_and_explained() {
    let c = three("admin", 56);
    settled(&c);
    let cfg = c.admin();
    let out = support::halo(&["node", "standby", "nope", "--config", &cfg]);
    assert_ne!(out.status.code(), Some(0));
    let err = support::text(&out.stderr);
    assert!(
        err.contains("no node `nope`") && err.contains("n1"),
        "{err}"
    );
    let out = support::halo(&["resource", "move", "ghost", "n1", "--config", &cfg]);
    assert!(support::text(&out.stderr).contains("no resource `ghost`"));
    // A policy with errors is refused with its diagnostics, and nothing changes.
    let bad = c.dir.join("bad.ha");
    std::fs::write(
        &bad,
        "cluster admin {\n  node n1\n}\nresource web: ocf:heartbeat:Dummy { bogus }\n",
    )
    .unwrap();
    let out = support::halo(&[
        "apply",
        "--yes",
        &bad.display().to_string(),
        "--config",
        &cfg,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", support::text(&out.stderr));
    // Move, then ban with a lifetime, then clear.
    let s = c.status().unwrap();
    let from = web_node(&s);
    let to = if from == "n1" { "n2" } else { "n1" };
    c.ok(&["resource", "move", "web", to]);
    c.wait("web moved by the operator", WAIT, |s| {
        Cluster::placement(s, "web").contains_key(to)
    });
    c.ok(&["resource", "clear", "web"]);
    // What if the node running web failed? Nothing changes in the cluster.
    let quiet = c.wait("the cluster quiet", WAIT, |s| {
        s["running"].as_array().is_some_and(Vec::is_empty)
            && Cluster::placement(s, "web").contains_key(to)
    });
    let before = Cluster::placement(&quiet, "web");
    let what_if = c.ok(&["simulate", "--live", "--node-fail", to]);
    assert!(what_if.contains("Transition Summary"), "{what_if}");
    assert!(
        what_if.lines().any(|l| l.contains("web") && l.contains(to)),
        "{what_if}"
    );
    assert_eq!(Cluster::placement(&c.status().unwrap(), "web"), before);
    let text = c.ok(&["status"]);
    assert!(text.contains("Full List of Resources"), "{text}");
    assert!(text.contains("operator"), "{text}");
}

/// Whether this machine lets the test make network namespaces (root, and
/// iproute2 installed).
fn namespaces_work() -> bool {
    std::process::Command::new("ip")
        .args(["netns", "add", "halo-probe"])
        .output()
        .is_ok_and(|o| o.status.success())
        && std::process::Command::new("ip")
            .args(["netns", "del", "halo-probe"])
            .output()
            .is_ok_and(|o| o.status.success())
}

#[test]
fn a_partitioned_node_stops_its_resources_and_the_majority_recovers_them() {
    assert!(
        namespaces_work(),
        "this test needs root and iproute2 (`ip netns`): the test command installs iproute2"
    );
    let c = Cluster::start(Options {
        name: "partition".into(),
        nodes: 3,
        witness: false,
        net: Net::Namespaces {
            prefix: "hpart".into(),
            subnet: 57,
        },
        timing: None,
    });
    c.apply(&policy("partition", &["n1", "n2", "n3"], false, "majority"));
    let s = settled(&c);
    let victim = web_node(&s);
    c.link(&victim, false);
    let s = c.wait("web running on the majority side", WAIT, |s| {
        Cluster::placement(s, "web").keys().any(|n| *n != victim)
            && Cluster::leader(s).is_some_and(|l| l != victim)
    });
    // The cut-off node stopped web itself when its lease ran out.
    let stopped = c.records().iter().any(|r| {
        r.rsc == "web" && r.node == victim && r.action == "stop" && r.end && r.rc == Some(0)
    });
    assert!(stopped, "{victim} did not stop web when cut off: {s}");
    c.assert_never_double_active(&["web"]);
    // Healed: the node rejoins and runs nothing it should not.
    c.link(&victim, true);
    c.wait("the node back online", WAIT, |s| {
        Cluster::online(s, &victim)
    });
    c.assert_never_double_active(&["web"]);
}

/// The README's main command: `halo up` starts a local cluster, a killed
/// node's resources move, and Ctrl-C stops every process it started.
#[test]
fn halo_up_runs_a_local_cluster_that_survives_a_killed_node() {
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("halo-up-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    /// Stops `halo up` and its nodes even when the test fails midway.
    struct Up(std::process::Child, std::path::PathBuf);
    impl Drop for Up {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-INT", &self.0.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let _ = self.0.wait();
            for n in ["n1", "n2", "n3"] {
                let pid = self.1.join("state").join(n).join("halo.pid");
                if let Ok(pid) = std::fs::read_to_string(pid) {
                    let _ = Command::new("kill")
                        .args(["-9", pid.trim()])
                        .stderr(Stdio::null())
                        .status();
                }
            }
        }
    }
    let mut up = Up(
        Command::new(env!("CARGO_BIN_EXE_halo"))
            .args(["up", "--port", "7520", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        dir.clone(),
    );
    let admin = dir.join("admin.toml").display().to_string();
    let status = || -> Option<serde_json::Value> {
        let out = support::halo(&["status", "--format", "json", "--config", &admin]);
        serde_json::from_slice(&out.stdout).ok()
    };
    let wait = |what: &str, pred: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
        let start = std::time::Instant::now();
        while start.elapsed() < WAIT {
            if let Some(s) = status().filter(|s| pred(s)) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "halo up: timed out waiting for {what}; files in {}",
            dir.display()
        );
    };
    let s = wait("the quickstart running", &|s| {
        Cluster::placement(s, "app").len() == 1
            && Cluster::placement(s, "db")
                .values()
                .any(|r| r == "promoted")
    });
    let victim = Cluster::placement(&s, "app").into_keys().next().unwrap();
    let pid_file = dir.join("state").join(&victim).join("halo.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    wait("app running on another node", &|s| {
        Cluster::placement(s, "app").keys().any(|n| *n != victim)
    });
    // Ctrl-C: every node process goes.
    assert!(Command::new("kill")
        .args(["-INT", &up.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    // Within a few seconds (a hang fails the test instead of holding it).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = up.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "halo up did not stop within 15 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "halo up exited with {exit}");
    for n in ["n1", "n2", "n3"] {
        let pid = std::fs::read_to_string(dir.join("state").join(n).join("halo.pid")).unwrap();
        assert!(
            !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "{n}'s process outlived halo up"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
