//! Never active twice, even when a node hangs, through real processes.
//! The two tests run at once (each on its own addresses), which keeps the
//! test command short: they mostly wait.
//!
//! # A frozen node
//!
//! Fencing off, a node that hangs: its runner frozen (SIGSTOP) for 20 s,
//! then for 60 s, while it runs the resource. Its watchdog process, no
//! longer fed, kills it and stops the resource; the majority starts it
//! elsewhere only after its wait (the lease, twice the watchdog's timeout,
//! the stop timeout). Whether it ever ran on two nodes at once is read from
//! the agent's own state files (Dummy keeps one per node while it runs),
//! polled every 10 ms — not from what the cluster believes.
//!
//! # The fault lab
//!
//! A cluster of three real `halo runner` processes in network
//! namespaces, fencing off, runs two resources with Pacemaker's Dummy agents
//! through random faults drawn from a seed (the kinds: [`Fault`]) — nodes
//! killed, frozen, cut off, on lossy and slow links (a relay in user space:
//! `support/netem.rs`), services that die, agents that hang, fail, are
//! killed or paused mid-action, a stop
//! that hangs until the operator cleans up, a full disk under a replica —
//! with the audits always on:
//!
//! - never active on two nodes, read from the agents' own state files on
//!   every node, polled every 10 ms (not from what the cluster believes);
//! - once the faults stop, every resource runs exactly once, every node and
//!   every replica is back, and nothing is under way;
//! - no committed change is lost: each iteration applies a policy whose
//!   `web` takes the iteration's number as a (reloadable) parameter; at the
//!   end of the iteration the cluster holds that policy and `web` runs with
//!   that number.
//!
//! `LAB_ITERATIONS` (default 20), `LAB_SEED` (default: a fresh one,
//! printed) and `LAB_FAULT` (some kinds only, by name, comma-separated)
//! choose the run; `cargo xtask lab --iterations N --seed S --fault KIND`
//! runs it in release mode. Every failure names its seed and iteration.
//!
//! # The fencing lab
//!
//! The same cluster with fencing on, through node losses while fencing
//! works, while the first fence level fails and while every device fails
//! (nothing the lost node ran may start elsewhere until a fence succeeds),
//! and a stop that hangs (its node is fenced, then the move completes).
//! `LAB_FENCING_ITERATIONS` (default 8) and `LAB_SEED` choose the run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use support::netem::Impairment;
use support::{Cluster, Net, Options, StatePoller};

const CONVERGE: Duration = Duration::from_secs(120);
/// How long a converged cluster must stay so, nothing recorded meanwhile.
const STABLE: Duration = Duration::from_secs(2);
const NODES: [&str; 3] = ["n1", "n2", "n3"];

#[derive(Clone, Copy, Debug)]
enum Fault {
    Kill,
    KillLeader,
    FreezeShort,
    FreezeLong,
    Partition,
    /// The service dies under its agent: the agent's own state is removed
    /// where `web` runs, so its next monitor fails and it is recovered.
    ServiceDies,
    /// A node's links lose and delay datagrams for a while.
    Lossy,
    /// `web`'s next monitor hangs where it runs, until its timeout.
    MonitorHangs,
    /// `web`'s next monitor is killed (-9) mid-action: a failed monitor.
    AgentKilled,
    /// `web`'s next monitor is stopped (SIGSTOP) mid-action, and continued
    /// after less than its timeout (nothing happens) or after more (it
    /// timed out and was killed: `web` is recovered).
    AgentPaused,
    /// The service dies and its agent then fails to start it again there:
    /// it moves.
    StartFails,
    /// `web` is moved and its stop hangs on the node it leaves: the stop
    /// times out, and with fencing off `web` is blocked there, never
    /// started elsewhere, until the operator cleans it up.
    StopHangs,
    /// The fencing lab: a node lost while its fence order's first level
    /// fails; the second fences it.
    FenceLevelFails,
    /// The fencing lab: a node lost while every fence device fails; what it
    /// ran stays put until a fence succeeds.
    FencingFails,
    /// A node's state directory is full for a while: every write there
    /// fails (as on a full or failing disk).
    DiskFull,
}

const FAULTS: [Fault; 13] = [
    Fault::Kill,
    Fault::KillLeader,
    Fault::FreezeShort,
    Fault::FreezeLong,
    Fault::Partition,
    Fault::ServiceDies,
    Fault::Lossy,
    Fault::MonitorHangs,
    Fault::AgentKilled,
    Fault::AgentPaused,
    Fault::StartFails,
    Fault::StopHangs,
    Fault::DiskFull,
];

fn policy(iteration: usize) -> String {
    format!(
        "cluster lab {{\n  node n1\n  node n2\n  node n3\n  fencing off\n}}\n\n{}",
        resources(iteration)
    )
}

/// The labs' resources: `web` runs with the iteration's number.
fn resources(iteration: usize) -> String {
    format!(
        "defaults {{\n  stickiness 10\n}}\n\n\
         resource web: ocf:pacemaker:Dummy {{\n  fake = \"{iteration}\"\n  \
         failure-timeout 10s\n  monitor every 1s timeout 2s\n  stop timeout 2s\n}}\n\n\
         resource db: ocf:heartbeat:Dummy {{\n  monitor every 1s\n  stop timeout 2s\n}}\n"
    )
}

/// Applies a policy as an operator would: shown, then applied, and shown
/// again when the cluster changed in between (the apply is then refused).
fn apply(c: &Cluster, text: &str) {
    let f = c.dir.join("policy.ha");
    std::fs::write(&f, text).unwrap();
    operator(c, &["apply", "--yes", &f.display().to_string()]);
}

/// Runs an operator command until it succeeds, as an operator would while
/// the cluster changes or its leader fails: each failure must say why, and
/// the command must succeed within a while.
fn operator(c: &Cluster, args: &[&str]) {
    let cfg = c.admin();
    let mut all = args.to_vec();
    all.extend(["--config", &cfg]);
    let start = Instant::now();
    loop {
        let out = support::halo(&all);
        if out.status.success() {
            return;
        }
        let err = support::text(&out.stderr);
        assert!(
            !err.trim().is_empty(),
            "halo {args:?} failed without a word"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "halo {args:?} kept failing for a minute: {err}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Everything back and quiet, each resource once, and the iteration's
/// policy in force: what the cluster must reach once the faults stop.
fn converged(s: &serde_json::Value, iteration: usize) -> bool {
    let fake = format!("fake = \"{iteration}\"");
    NODES
        .iter()
        .all(|n| Cluster::online(s, n) && s["replicas"][n] == true)
        && ["web", "db"]
            .iter()
            .all(|r| Cluster::placement(s, r).len() == 1)
        && s["running"].as_array().is_some_and(Vec::is_empty)
        && s["doc"]["policy"]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&fake))
        && Cluster::placement(s, "web").keys().all(|n| {
            s["doc"]["state"]["resources"]["web"][n]["definition"]["params"]["fake"]
                == iteration.to_string().as_str()
        })
}

fn sleep_ms(rng: &mut StdRng, range: std::ops::Range<u64>) {
    std::thread::sleep(Duration::from_millis(rng.gen_range(range)));
}

/// One fault, then everything healed: dead nodes started again, links up.
fn inject(c: &mut Cluster, rng: &mut StdRng, fault: Fault, iteration: usize) -> String {
    let s = c.status().unwrap();
    let running: Vec<String> = Cluster::placement(&s, "web").into_keys().collect();
    let node = match fault {
        Fault::KillLeader => Cluster::leader(&s).unwrap_or_else(|| "n1".into()),
        // Half the time the leader's: it cannot append to its own log.
        Fault::DiskFull if rng.gen_bool(0.5) => Cluster::leader(&s).unwrap_or_else(|| "n1".into()),
        Fault::ServiceDies if !running.is_empty() => running[0].clone(),
        // Half the time a node that runs something.
        _ if rng.gen_bool(0.5) && !running.is_empty() => running[0].clone(),
        _ => NODES[rng.gen_range(0..NODES.len())].to_string(),
    };
    match fault {
        Fault::Kill | Fault::KillLeader => {
            c.kill(&node);
            // Shorter and longer than the survivors' wait (about 7 s).
            sleep_ms(rng, 500..9000);
            c.restart(&node);
        }
        Fault::FreezeShort => {
            c.freeze(&node);
            sleep_ms(rng, 50..200);
            c.thaw(&node);
        }
        Fault::FreezeLong => {
            c.freeze(&node);
            sleep_ms(rng, 2500..6000);
            c.thaw(&node);
        }
        Fault::Partition => {
            c.link(&node, false);
            sleep_ms(rng, 2000..9000);
            c.link(&node, true);
        }
        Fault::ServiceDies => service_dies(c, &node),
        Fault::Lossy => {
            let relay = c.relay.as_ref().unwrap();
            let ip = node_ip(c, &node);
            let how = Impairment {
                loss: rng.gen_range(0.05..0.4),
                delay: Duration::from_millis(rng.gen_range(10..150)),
                jitter: Duration::from_millis(rng.gen_range(0..50)),
            };
            relay.impair(ip, how);
            sleep_ms(rng, 3000..10000);
            relay.heal(ip);
            return format!("{fault:?} {node} ({how:?})");
        }
        Fault::MonitorHangs => c.agent_fault(&node, "web", "monitor", "hang"),
        Fault::AgentKilled => c.agent_fault(&node, "web", "monitor", "kill"),
        Fault::AgentPaused => {
            c.agent_fault(&node, "web", "monitor", "pause");
            // Shorter or longer than the monitor's 2 s timeout.
            let pause = Duration::from_millis(rng.gen_range(100..4000));
            // Not running there: no monitor comes.
            if let Some(pid) = c.paused_agent(&node, "web", "monitor", Duration::from_secs(5)) {
                std::thread::sleep(pause);
                Cluster::continue_process(pid);
            }
            c.clear_agent_faults();
            return format!("{fault:?} {node} ({} ms)", pause.as_millis());
        }
        Fault::StartFails => {
            c.agent_fault(&node, "web", "start", "fail");
            service_dies(c, &node);
        }
        Fault::StopHangs => stop_hangs(c, &node),
        Fault::DiskFull => {
            c.fill_state(&node, true);
            // The iteration's change is made meanwhile: the node cannot
            // record it (nor, leading, its own log).
            sleep_ms(rng, 200..2000);
            apply(c, &policy(iteration));
            // More entries, to get past the last page the log file has.
            for _ in 0..8 {
                operator(c, &["resource", "cleanup", "db"]);
            }
            sleep_ms(rng, 1000..5000);
            c.fill_state(&node, false);
        }
        Fault::FenceLevelFails | Fault::FencingFails => {
            unreachable!("{fault:?} is a fencing-lab fault")
        }
    }
    // A node its watchdog killed is started again, as after a reset.
    for n in NODES {
        if !c.alive(n) {
            c.restart(n);
        }
    }
    format!("{fault:?} {node}")
}

fn service_dies(c: &Cluster, node: &str) {
    let state = c.run_dir(node).join("Dummy-web.state");
    // Not running there (yet): nothing to kill.
    let _ = std::fs::remove_file(state);
}

fn node_ip(c: &Cluster, node: &str) -> IpAddr {
    let i = c.nodes.iter().position(|n| n == node).unwrap() + 1;
    Cluster::address(&c.net, i).parse().unwrap()
}

/// Moves `web` (`--auto-clear`) away from `node`, where it runs, its stop
/// there set to hang; the node it goes to, if it runs there and a node
/// accepts the move.
fn move_with_hanging_stop(c: &Cluster, node: &str) -> Option<&'static str> {
    let s = c.status().unwrap();
    if !Cluster::placement(&s, "web").contains_key(node) {
        return None;
    }
    c.agent_fault(node, "web", "stop", "hang");
    // A node that recently failed to start it refuses the move (its
    // failure not yet expired): another, if any.
    let cfg = c.admin();
    let to = NODES.into_iter().filter(|n| *n != node).find(|to| {
        support::halo(&[
            "resource",
            "move",
            "web",
            to,
            "--auto-clear",
            "--config",
            &cfg,
        ])
        .status
        .success()
    });
    if to.is_none() {
        c.clear_agent_faults();
    }
    to
}

/// Moves `web` away from `node`, whose stop then hangs past its timeout:
/// `web` must then stay blocked there, started nowhere else (the poller
/// watches the agent's state file, which the stop never removed), until
/// the operator cleans it up; the move then completes.
fn stop_hangs(c: &Cluster, node: &str) {
    let Some(to) = move_with_hanging_stop(c, node) else {
        return;
    };
    let blocked = c.wait("web's stop to fail", CONVERGE, |s| {
        s["running"].as_array().is_some_and(Vec::is_empty)
            && s["doc"]["state"]["resources"]["web"][node]["failed"].is_object()
    });
    assert!(
        !Cluster::placement(&blocked, "web").contains_key(to),
        "web started on {to} while its stop on {node} had failed"
    );
    std::thread::sleep(Duration::from_secs(2));
    operator(c, &["resource", "cleanup", "web"]);
}

/// The kinds of fault `LAB_FAULT` names (comma-separated), or all.
fn kinds_from_env(all: &[Fault]) -> Vec<Fault> {
    match std::env::var("LAB_FAULT") {
        Ok(k) => k
            .split(',')
            .map(|k| {
                *all.iter()
                    .find(|f| format!("{f:?}").eq_ignore_ascii_case(k.trim()))
                    .unwrap_or_else(|| panic!("LAB_FAULT={k}: not one of {all:?}"))
            })
            .collect(),
        Err(_) => all.to_vec(),
    }
}

/// How one lab runs: its policy for an iteration, how it injects a fault,
/// and whether it powers fenced nodes on again (the fencing lab).
struct Lab {
    name: &'static str,
    policy: Box<dyn Fn(usize) -> String>,
    inject: fn(&mut Cluster, &mut StdRng, Fault, usize) -> String,
    power_on_fenced: bool,
}

/// Iterates a lab: each iteration applies its policy, injects a fault and
/// waits for convergence, the audits on throughout.
fn run_lab(c: &mut Cluster, lab: &Lab, kinds: &[Fault], seed: u64, iterations: usize) {
    eprintln!(
        "{}: seed {seed}, {iterations} iterations of {kinds:?} (LAB_SEED={seed} replays it)",
        lab.name
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let files = NODES
        .iter()
        .flat_map(|n| {
            ["web", "db"].map(|r| {
                let file = c.run_dir(n).join(format!("Dummy-{r}.state"));
                (format!("{r} on {n}"), r.to_string(), file)
            })
        })
        .collect();
    let poller = StatePoller::start(files);
    let started = Instant::now();
    // Every node up and every resource placed before the first fault.
    apply(c, &(lab.policy)(0));
    if let Err(why) = converge(c, 0, lab.power_on_fenced) {
        panic!(
            "{}: the cluster did not settle before the faults: {why}",
            lab.name
        );
    }
    for i in 1..=iterations {
        let fault = kinds[rng.gen_range(0..kinds.len())];
        if !matches!(fault, Fault::DiskFull) {
            apply(c, &(lab.policy)(i));
        }
        let what = (lab.inject)(c, &mut rng, fault, i);
        let at = Instant::now();
        let fail = |why: &str| -> ! {
            panic!(
                "{}, seed {seed}, iteration {i} ({what}): {why}; LAB_SEED={seed} replays it",
                lab.name
            )
        };
        let last = converge(c, i, lab.power_on_fenced).unwrap_or_else(|last| fail(&last));
        if let Some(twice) = poller.twice().first() {
            fail(&format!("ran on two nodes at once: {twice}"));
        }
        // What the agents themselves say runs is what the cluster says.
        for r in ["web", "db"] {
            let placed: Vec<String> = Cluster::placement(&last, r).into_keys().collect();
            let running: Vec<String> = NODES
                .iter()
                .filter(|n| c.run_dir(n).join(format!("Dummy-{r}.state")).exists())
                .map(|n| n.to_string())
                .collect();
            if placed != running {
                fail(&format!(
                    "{r}: the cluster says {placed:?}, the agents {running:?}"
                ));
            }
        }
        eprintln!(
            "iteration {i}: {what}: converged in {:.1} s",
            at.elapsed().as_secs_f64()
        );
    }
    let (samples, twice) = poller.finish();
    assert!(twice.is_empty(), "seed {seed}: ran on two nodes: {twice:?}");
    eprintln!(
        "{}: {iterations} iterations in {:.0} s, {samples} polls, no audit violated",
        lab.name,
        started.elapsed().as_secs_f64()
    );
}

/// Waits until the cluster has converged and stayed so, with nothing
/// recorded meanwhile, for `STABLE` (a node started again may not have been
/// noticed yet); the last status, or why not within `CONVERGE`. With
/// `power_on`, a node that was fenced (dead, and offline for the cluster) is
/// started again, as its power coming back.
fn converge(c: &mut Cluster, i: usize, power_on: bool) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + CONVERGE;
    let mut last = None;
    let mut calm: Option<(Instant, serde_json::Value)> = None;
    loop {
        if let Some(s) = c.status() {
            if power_on {
                for n in NODES {
                    if !c.alive(n) && s["doc"]["state"]["nodes"][n]["status"] == "offline" {
                        c.restart(n);
                    }
                }
            }
            if converged(&s, i) {
                match &calm {
                    Some((since, seq)) if *seq == s["doc"]["seq"] => {
                        if since.elapsed() >= STABLE {
                            return Ok(s);
                        }
                    }
                    _ => calm = Some((Instant::now(), s["doc"]["seq"].clone())),
                }
            } else {
                calm = None;
            }
            last = Some(s);
        }
        if Instant::now() > deadline {
            let state = last
                .map(|s| support::halo_status_text(&s))
                .unwrap_or_default();
            return Err(format!("no convergence within {CONVERGE:?}\n{state}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_fault_lab_keeps_every_audit() {
    let seed: u64 = env_or("LAB_SEED", rand::random());
    let iterations: usize = env_or("LAB_ITERATIONS", 20);
    let kinds = kinds_from_env(&FAULTS);
    let mut c = Cluster::start_lab(
        Options {
            name: "lab".into(),
            nodes: 3,
            witness: false,
            net: Net::Namespaces {
                prefix: "hlab".into(),
                subnet: 59,
            },
            timing: None,
        },
        seed,
    );
    let lab = Lab {
        name: "fault lab",
        policy: Box::new(policy),
        inject,
        power_on_fenced: false,
    };
    run_lab(&mut c, &lab, &kinds, seed, iterations);
}

// A frozen node.

/// How long the frozen-node test waits for each step.
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

// The fencing lab.

/// The faults of the fencing lab: nodes lost while fencing works, while its
/// first level fails, and while every device fails.
const FENCING_FAULTS: [Fault; 5] = [
    Fault::Kill,
    Fault::FreezeLong,
    Fault::FenceLevelFails,
    Fault::FencingFails,
    Fault::StopHangs,
];

/// Fencing on: each node's fence order tries `flaky` with `power` first,
/// then `power` alone.
fn fencing_policy(iteration: usize, root: &str, flaky: &str) -> String {
    let mut p = String::from("cluster fencelab {\n  node n1\n  node n2\n  node n3\n");
    for n in NODES {
        p.push_str(&format!(
            "  fence-order {n} {{\n    level flaky power\n    level power\n  }}\n"
        ));
    }
    p + &format!(
        "}}\n\nfence flaky: fence_flaky {{\n  type = file\n  status_file = \"{flaky}\"\n}}\n\n\
         fence power: fence_halo {{\n  targets n1 n2 n3\n  state_root = \"{root}\"\n}}\n\n{}",
        resources(iteration)
    )
}

/// Loses a node with fencing on: killed, or frozen past the loss timeout
/// (`fence_halo` then kills it); while the first fence level fails; or
/// while every device fails — then what it ran must not start elsewhere
/// until a fence succeeds, once the devices work again.
fn inject_fencing(c: &mut Cluster, rng: &mut StdRng, fault: Fault, _: usize) -> String {
    let s = c.status().unwrap();
    let ran = |s: &serde_json::Value, n: &str| {
        ["web", "db"]
            .into_iter()
            .filter(|r| Cluster::placement(s, r).contains_key(n))
            .collect::<Vec<_>>()
    };
    let web: Vec<String> = Cluster::placement(&s, "web").into_keys().collect();
    let node = match web.first() {
        Some(n) if rng.gen_bool(0.5) => n.clone(),
        _ => NODES[rng.gen_range(0..NODES.len())].to_string(),
    };
    match fault {
        Fault::Kill => c.kill(&node),
        Fault::FreezeLong => {
            c.freeze(&node);
            sleep_ms(rng, 2500..6000);
            c.thaw(&node);
        }
        Fault::FenceLevelFails => {
            c.break_fencing(true, false);
            c.kill(&node);
            c.wait("the node fenced by the second level", CONVERGE, |s| {
                s["doc"]["state"]["nodes"][&node]["status"] == "offline"
            });
            c.break_fencing(false, false);
        }
        Fault::FencingFails => {
            let held = ran(&s, &node);
            c.break_fencing(true, true);
            c.kill(&node);
            let until = Instant::now() + Duration::from_millis(rng.gen_range(3000..8000));
            while Instant::now() < until {
                if let Some(s) = c.status() {
                    assert_ne!(
                        s["doc"]["state"]["nodes"][&node]["status"], "offline",
                        "{node} taken for fenced though every fence device fails"
                    );
                    for r in &held {
                        assert!(
                            Cluster::placement(&s, r).keys().all(|n| *n == node),
                            "{r} started elsewhere while {node} could not be fenced"
                        );
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            c.break_fencing(false, false);
            return format!("{fault:?} {node} (held {held:?})");
        }
        // With fencing on, the stop's failure fences the node (its
        // default on-fail), and the move completes once it is off.
        Fault::StopHangs => {
            if move_with_hanging_stop(c, &node).is_none() {
                return format!("{fault:?} {node} (web not there, or no move allowed)");
            }
        }
        _ => unreachable!("{fault:?} is not a fencing-lab fault"),
    }
    format!("{fault:?} {node}")
}

#[test]
fn the_fencing_lab_keeps_every_audit() {
    let seed: u64 = env_or("LAB_SEED", rand::random());
    let iterations: usize = env_or("LAB_FENCING_ITERATIONS", 8);
    let kinds = kinds_from_env(&FENCING_FAULTS);
    let mut c = Cluster::start_fencing_lab(Options {
        name: "fencelab".into(),
        nodes: 3,
        witness: false,
        net: Net::Namespaces {
            prefix: "hfen".into(),
            subnet: 61,
        },
        timing: None,
    });
    let root = c.dir.join("fence-root").display().to_string();
    let flaky = c.dir.join("flaky.status").display().to_string();
    let lab = Lab {
        name: "fencing lab",
        policy: Box::new(move |i| fencing_policy(i, &root, &flaky)),
        inject: inject_fencing,
        power_on_fenced: true,
    };
    run_lab(&mut c, &lab, &kinds, seed, iterations);
}
