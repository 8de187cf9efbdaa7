//! The live cluster cannot be broken by an operator command, a certificate
//! holder, a damaged disk, a missing secret or its own leader changes: real
//! `halo runner` processes on loopback, the real Dummy agent, and the same
//! checks an operator would make through `halo status`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use halo_proto::wire::{Request, Response};
use std::time::Duration;
use support::{Cluster, Net, Options};

const WAIT: Duration = Duration::from_secs(40);

fn policy(cluster: &str, threshold: u32, extra: &str) -> String {
    format!(
        "cluster {cluster} {{\n  node n1\n  node n2\n  node n3\n  quorum majority\n  fencing on\n}}\n\n\
         defaults {{\n  stickiness 10\n  migration-threshold {threshold}\n}}\n\n\
         fence power: fence_halo {{\n  targets n1 n2 n3\n}}\n\n\
         resource web: ocf:heartbeat:Dummy {{\n  monitor every 1s\n  stop timeout 3s\n}}\n{extra}"
    )
}

fn start(name: &str, subnet: u8, threshold: u32, extra: &str) -> Cluster {
    let c = Cluster::start(Options {
        name: name.into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(subnet),
        timing: None,
    });
    c.apply(&policy(name, threshold, extra));
    c
}

fn quiet(s: &serde_json::Value) -> bool {
    s["running"].as_array().is_some_and(Vec::is_empty)
}

fn web_on(s: &serde_json::Value) -> Vec<String> {
    Cluster::placement(s, "web").into_keys().collect()
}

fn settled(c: &Cluster) -> serde_json::Value {
    c.wait("web running, the cluster quiet", WAIT, |s| {
        web_on(s).len() == 1 && quiet(s) && !Cluster::placement(s, "power").is_empty()
    })
}

/// Runs `halo ARGS --config ADMIN` and returns (exit code, stderr).
fn try_halo(c: &Cluster, args: &[&str]) -> (Option<i32>, String) {
    let cfg = c.admin();
    let mut all = args.to_vec();
    all.extend(["--config", &cfg]);
    let out = support::halo(&all);
    (out.status.code(), support::text(&out.stderr))
}

#[test]
fn moves_land_on_their_target_or_are_refused_and_foreign_policies_are_refused() {
    let c = start("moves", 61, 3, "");
    let s = settled(&c);
    let first = web_on(&s).remove(0);
    let others: Vec<String> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| n.to_string())
        .filter(|n| *n != first)
        .collect();
    // Five moves in a row, back and forth: each ends on its target.
    let targets = [&others[0], &first, &others[0], &others[1], &first];
    for (i, to) in targets.iter().enumerate() {
        c.ok(&["resource", "move", "web", to]);
        c.wait(&format!("move {} to {to}", i + 1), WAIT, |s| {
            web_on(s) == [to.to_string()] && quiet(s)
        });
    }
    // A target that cannot run it: refused up front, with the reason.
    c.ok(&["node", "standby", &others[1]]);
    c.wait("the node in standby", WAIT, |s| {
        s["doc"]["state"]["nodes"][&others[1]]["standby"] == true && quiet(s)
    });
    let (code, err) = try_halo(&c, &["resource", "move", "web", &others[1]]);
    assert_ne!(code, Some(0), "a move to a standby node was accepted");
    assert!(
        err.contains("cannot run on") && err.contains(others[1].as_str()),
        "{err}"
    );
    let s = c.status().unwrap();
    assert_eq!(
        web_on(&s),
        vec![first.clone()],
        "a refused move changed something"
    );
    c.ok(&["node", "unstandby", &others[1]]);
    // `clear` removes what the moves added; the resource stays (stickiness).
    c.ok(&["resource", "clear", "web"]);
    let s = c.wait("no operator constraints left", WAIT, |s| {
        s["doc"]["state"]["operator"]
            .as_array()
            .is_none_or(|o| o.iter().all(|x| x["rsc"] != "web"))
    });
    assert_eq!(web_on(&s), vec![first.clone()]);
    // A move with a lifetime: it lands, then its constraints lapse by
    // themselves (the resource stays, by stickiness).
    c.ok(&["resource", "move", "web", &others[0], "--lifetime", "2s"]);
    c.wait("the timed move landed", WAIT, |s| {
        web_on(s) == [others[0].clone()] && quiet(s)
    });
    let s = c.wait("the timed move lapsed", WAIT, |s| {
        s["doc"]["state"]["operator"]
            .as_array()
            .is_none_or(|o| o.iter().all(|x| x["rsc"] != "web"))
    });
    assert!(
        s["doc"]["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"].as_str().is_some_and(|t| t.contains("lapsed"))),
        "{}",
        s["doc"]["log"]
    );
    assert_eq!(web_on(&s), vec![others[0].clone()]);
    // An auto-clearing move: it lands, then removes itself as soon as the
    // resource runs there, which stays by stickiness.
    c.ok(&["resource", "move", "web", &first, "--auto-clear"]);
    let s = c.wait("the auto-clearing move landed and lapsed", WAIT, |s| {
        web_on(s) == [first.clone()]
            && quiet(s)
            && s["doc"]["state"]["operator"]
                .as_array()
                .is_none_or(|o| o.iter().all(|x| x["rsc"] != "web"))
    });
    assert!(
        s["doc"]["log"].as_array().unwrap().iter().any(|l| l["text"]
            .as_str()
            .is_some_and(|t| t.contains("lapsed (it runs there: --auto-clear)"))),
        "{}",
        s["doc"]["log"]
    );
    // A policy for another cluster is refused, naming both clusters.
    let other = c.dir.join("other.ha");
    std::fs::write(&other, policy("elsewhere", 3, "")).unwrap();
    let (code, err) = try_halo(&c, &["apply", "--yes", &other.display().to_string()]);
    assert_ne!(code, Some(0), "another cluster's policy was applied");
    assert!(err.contains("elsewhere") && err.contains("moves"), "{err}");
    c.assert_never_double_active(&["web"]);
}

/// Sends `req` to `node`'s runner with the admin certificate or, with
/// `cert`, another one (`n1-controller`).
fn ask(c: &Cluster, node: &str, cert: Option<&str>, req: &Request) -> Response {
    let mut cfg = halo_net::AdminConfig::load(std::path::Path::new(&c.admin())).unwrap();
    if let Some(name) = cert {
        cfg.cert = Some(c.dir.join(format!("{name}.pem")));
        cfg.key = Some(c.dir.join(format!("{name}.key")));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = halo_net::Client::for_node(&cfg, node).unwrap();
        client.call(req).await.unwrap()
    })
}

fn monitor_of_web(epoch: Option<u64>) -> Request {
    Request::Execute {
        epoch,
        id: 9_000_000 + epoch.unwrap_or(0) % 1000,
        action: halo_proto::ActionRequest {
            rsc: "probe-only".into(),
            agent: halo_proto::AgentRef::parse("halo:dummy").unwrap(),
            action: "monitor".into(),
            params: Default::default(),
            meta: Default::default(),
            interval_ms: 0,
            timeout_ms: 5_000,
            target: None,
            secrets: Default::default(),
            view: None,
        },
    }
}

#[test]
fn no_certificate_can_silence_the_leader_and_epochs_survive_a_restart() {
    let mut c = start("epochs", 62, 3, "");
    let s = settled(&c);
    // The admin certificate tries to raise every runner's epoch past the
    // leader's: refused, and the leader goes on acting.
    for n in ["n1", "n2", "n3"] {
        let beat = Request::Heartbeat {
            epoch: Some(u64::MAX),
            lease_ms: None,
            hold: false,
        };
        match ask(&c, n, None, &beat) {
            Response::Refused { why } => assert!(why.contains("only a controller"), "{why}"),
            other => panic!("{n} accepted an admin's epoch: {other:?}"),
        }
        match ask(&c, n, None, &monitor_of_web(Some(u64::MAX - 1))) {
            Response::Refused { why } => assert!(why.contains("only a controller"), "{why}"),
            other => panic!("{n} accepted an admin's epoch: {other:?}"),
        }
    }
    let victim = web_on(&s).remove(0);
    c.kill(&victim);
    c.wait("web recovered on another node (fenced first)", WAIT, |s| {
        web_on(s).iter().any(|n| *n != victim)
    });
    // The runner keeps the newest epoch across its restart.
    c.restart(&victim);
    let s = c.wait("the node back", WAIT, |s| Cluster::online(s, &victim));
    let term = s["term"].as_u64().unwrap();
    let kept = std::fs::read_to_string(c.dir.join("state").join(&victim).join("epoch")).unwrap();
    assert_eq!(kept.trim().parse::<u64>().unwrap(), term);
    match ask(
        &c,
        &victim,
        Some("n1-controller"),
        &monitor_of_web(Some(term - 1)),
    ) {
        Response::Refused { why } => assert!(why.contains("stale controller"), "{why}"),
        other => panic!("a restarted runner obeyed an older epoch: {other:?}"),
    }
    c.assert_never_double_active(&["web"]);
}

/// Waits until a killed node has been fenced (so that the fence, which
/// powers it off, cannot fall on its next boot).
fn fenced(c: &Cluster, node: &str) {
    c.wait(&format!("{node} fenced"), WAIT, |s| {
        s["doc"]["state"]["fenced"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == node))
    });
}

#[test]
fn a_damaged_log_keeps_its_replica_down_and_no_committed_change_is_lost() {
    let mut c = start("damage", 63, 3, "");
    let s = settled(&c);
    let leader = Cluster::leader(&s).unwrap();
    let victim = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| *n != leader)
        .unwrap()
        .to_string();
    for n in ["n1", "n2"] {
        c.ok(&["node", "standby", n]);
        c.ok(&["node", "unstandby", n]);
    }
    let s = c.wait("quiet again", WAIT, |s| web_on(s).len() == 1 && quiet(s));
    let seq = s["doc"]["seq"].as_u64().unwrap();
    c.kill(&victim);
    fenced(&c, &victim);
    let log = c
        .dir
        .join("state")
        .join(&victim)
        .join("controller/raft/log");
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    c.restart(&victim);
    let text = || std::fs::read_to_string(c.dir.join(format!("{victim}.log"))).unwrap_or_default();
    let start = std::time::Instant::now();
    while !text().contains("is damaged at byte") {
        assert!(
            start.elapsed() < WAIT,
            "no report of the damage:\n{}",
            text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(text().contains("controller/raft/log"), "{}", text());
    // The damaged file is left for the operator, not rewritten.
    assert_eq!(std::fs::read(&log).unwrap(), bytes);
    // Its runner serves; the two intact replicas keep every change.
    let s = c.wait("the node's runner back, its replica down", WAIT, |s| {
        Cluster::online(s, &victim) && s["replicas"][&victim] == false
    });
    assert!(s["doc"]["seq"].as_u64().unwrap() >= seq);
    c.ok(&["node", "standby", "n3"]);
    c.ok(&["node", "unstandby", "n3"]);
    let s = c.wait("changes still committed", WAIT, |s| {
        s["doc"]["seq"].as_u64().unwrap() > seq + 1
    });
    assert_eq!(s["doc"]["state"]["nodes"]["n3"]["standby"], false);
    // Moved away, the replica comes back empty and copies the log.
    c.kill(&victim);
    fenced(&c, &victim);
    let raft = c.dir.join("state").join(&victim).join("controller/raft");
    std::fs::rename(&raft, raft.with_extension("damaged")).unwrap();
    c.restart(&victim);
    c.wait("the replica rejoined", WAIT, |s| {
        s["replicas"][&victim] == true
    });
    c.assert_never_double_active(&["web"]);
}

#[test]
fn leader_changes_leave_fence_devices_alone_and_restarts_depose_no_leader() {
    // migration-threshold 1: a single made-up failure would ban the device.
    let mut c = start("leaders", 64, 1, "");
    let mut s = settled(&c);
    for round in 0..2 {
        let leader = Cluster::leader(&s).unwrap();
        c.kill(&leader);
        c.wait(&format!("a new leader ({round})"), WAIT, |s| {
            Cluster::leader(s).is_some_and(|l| l != leader) && web_on(s).len() == 1 && quiet(s)
        });
        fenced(&c, &leader);
        c.restart(&leader);
        s = c.wait("the old leader's node back", WAIT, |s| {
            Cluster::online(s, &leader) && quiet(s)
        });
    }
    let failures = &s["doc"]["state"]["failures"];
    assert!(
        failures["power"].is_null(),
        "the fence device failed: {failures}"
    );
    assert!(
        !s["doc"]["log"].as_array().unwrap().iter().any(|l| l["text"]
            .as_str()
            .unwrap_or_default()
            .contains("power monitor failed")),
        "{}",
        s["doc"]["log"]
    );
    assert!(!Cluster::placement(&s, "power").is_empty(), "power stopped");
    // A node that restarts again and again does not unseat the leader.
    let leader = Cluster::leader(&s).unwrap();
    let term = s["term"].as_u64().unwrap();
    let other = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| *n != leader && !web_on(&s).iter().any(|w| w == n))
        .unwrap();
    for _ in 0..3 {
        c.kill(other);
        fenced(&c, other);
        c.restart(other);
        c.wait("the node back", WAIT, |s| {
            Cluster::online(s, other) && quiet(s)
        });
    }
    let s = c.status().unwrap();
    assert_eq!(Cluster::leader(&s).as_deref(), Some(leader.as_str()));
    assert_eq!(
        s["term"].as_u64(),
        Some(term),
        "a restarted replica raised the term"
    );
    c.assert_never_double_active(&["web"]);
}

#[test]
fn secrets_reach_the_agent_and_appear_nowhere_else_and_a_missing_one_fences_nothing() {
    let token = format!(
        "tok{}x{}",
        std::process::id(),
        support::now_ns() % 1_000_000
    );
    let c = Cluster::start(Options {
        name: "secrets".into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(65),
        timing: None,
    });
    let marks = c.dir.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // Only n2 has the secret: the command, with a token in a comment.
    let value = format!(
        "cd {} && echo \"$HALO_NODE\" > arrived; exec sleep 1000 # {token}",
        marks.display()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(["secret", "set", "job-cmd", "--config"])
        .arg(c.dir.join("n2.toml"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut p| {
            use std::io::Write as _;
            p.stdin.take().unwrap().write_all(value.as_bytes())?;
            p.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    let f = c.dir.join("policy.ha");
    std::fs::write(
        &f,
        policy(
            "secrets",
            3,
            "\nresource job: exec {\n  command = secret(\"job-cmd\")\n  monitor every 1s\n}\n",
        ),
    )
    .unwrap();
    let (code, err) = try_halo(&c, &["apply", "--yes", &f.display().to_string()]);
    assert_eq!(code, Some(0), "{err}");
    for n in ["n1", "n3"] {
        assert!(
            err.contains(&format!("node {n} lacks secret `job-cmd`")),
            "no warning for {n}: {err}"
        );
    }
    let s = c.wait(
        "job running on n2, the only node with its secret",
        WAIT,
        |s| Cluster::placement(s, "job").keys().eq(["n2"]) && quiet(s),
    );
    assert_eq!(
        std::fs::read_to_string(marks.join("arrived"))
            .unwrap()
            .trim(),
        "n2"
    );
    // Nothing was fenced for it.
    assert!(s["doc"]["state"]["fenced"]
        .as_array()
        .is_none_or(Vec::is_empty));
    assert!(s["doc"]["fencing"].as_array().is_none_or(Vec::is_empty));
    assert!(["n1", "n2", "n3"].iter().all(|n| Cluster::online(&s, n)));
    // The value is in n2's store and nowhere else: files, logs, processes.
    let store = c.dir.join("state/n2/secrets/job-cmd");
    let mut found = Vec::new();
    let mut dirs = vec![c.dir.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p != store
                // std's substring search (built optimized): a byte-window scan
                // of the logs took minutes in a debug build.
                && std::fs::read(&p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&token))
            {
                found.push(p);
            }
        }
    }
    assert!(found.is_empty(), "the secret leaked into {found:?}");
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmd).contains(&token),
            "the secret is in the arguments of process {}",
            p.path().display()
        );
    }
    let text = support::halo_status_text(&s);
    assert!(!text.contains(&token));
    // Stop it where it runs: the stop succeeds and nothing is fenced.
    c.ok(&["resource", "ban", "job", "n2"]);
    let s = c.wait("job stopped (no node has its secret now)", WAIT, |s| {
        Cluster::placement(s, "job").is_empty() && quiet(s)
    });
    assert!(s["doc"]["state"]["fenced"]
        .as_array()
        .is_none_or(Vec::is_empty));
}

/// Counts every action of `rsc` in the audit (begun), whatever its result.
fn actions(c: &Cluster, rsc: &str, action: &str) -> usize {
    c.records()
        .iter()
        .filter(|r| r.rsc == rsc && r.action == action && !r.end)
        .count()
}

#[test]
fn maintenance_mode_touches_nothing_and_its_end_restarts_nothing_healthy() {
    let c = start("maint", 66, 3, "");
    let s = settled(&c);
    let node = web_on(&s).remove(0);
    let state = c.dir.join("run").join(&node).join("Dummy-web.state");
    let (starts, stops) = (actions(&c, "web", "start"), actions(&c, "web", "stop"));
    c.ok(&["maintenance", "on"]);
    c.wait("maintenance mode on", WAIT, |s| {
        s["doc"]["state"]["maintenance"] == true
    });
    assert!(c.ok(&["status"]).contains("MAINTENANCE MODE"));
    // Stopped by hand during maintenance: nothing recovers it.
    std::fs::remove_file(&state).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        actions(&c, "web", "start"),
        starts,
        "started during maintenance"
    );
    assert_eq!(
        actions(&c, "web", "stop"),
        stops,
        "stopped during maintenance"
    );
    // Started again by hand; maintenance ends: the probe finds it running
    // and keeps it, nothing is stopped or started.
    std::fs::write(&state, "").unwrap();
    c.ok(&["maintenance", "off"]);
    let s = c.wait("maintenance over, the cluster quiet", WAIT, |s| {
        s["doc"]["state"]["maintenance"].is_null() && quiet(s) && web_on(s).len() == 1
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(web_on(&s), vec![node.clone()]);
    assert_eq!(
        actions(&c, "web", "start"),
        starts,
        "restarted after maintenance"
    );
    assert_eq!(
        actions(&c, "web", "stop"),
        stops,
        "stopped after maintenance"
    );
    // What stopped during maintenance is recovered once it ends.
    c.ok(&["maintenance", "on"]);
    c.wait("maintenance mode on", WAIT, |s| {
        s["doc"]["state"]["maintenance"] == true
    });
    std::fs::remove_file(&state).unwrap();
    c.ok(&["maintenance", "off"]);
    c.wait("web recovered after maintenance", WAIT, |_| {
        actions(&c, "web", "start") > starts
    });
    c.wait("web running again", WAIT, |s| {
        web_on(s).len() == 1 && quiet(s)
    });
    c.assert_never_double_active(&["web"]);
}
