//! The runner against real agents: Debian's resource-agents (Dummy, anything,
//! IPaddr2 in a network namespace), Pacemaker's Stateful and Dummy, fence-agents'
//! fence_dummy, an LSB script and OCF agents written here, the exec class and
//! the built-in agents. `scripts/test` installs the packages.

// Tests fail by panicking; helpers outside #[test] functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use halo_proto::{ActionRequest, ActionResult, AgentRef, Outcome, PromotionChange};
use halo_runner::{Runner, RunnerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A scratch directory, removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("halo-runner-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
    fn s(&self, p: &str) -> String {
        self.path(p).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn runner(dir: &Scratch) -> Runner {
    let mut cfg = RunnerConfig::new("node1", dir.path("state"));
    cfg.shim_program = Some(PathBuf::from(env!("CARGO_BIN_EXE_halo-crm-attribute")));
    Runner::new(cfg)
}

fn req(rsc: &str, agent: &str, action: &str, params: &[(&str, &str)]) -> ActionRequest {
    ActionRequest {
        rsc: rsc.into(),
        agent: AgentRef::parse(agent).unwrap(),
        action: action.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        meta: BTreeMap::new(),
        interval_ms: 0,
        timeout_ms: 20_000,
        target: None,
        secrets: BTreeMap::new(),
        view: None,
    }
}

async fn run(r: &Runner, q: &ActionRequest) -> ActionResult {
    r.execute(q).await
}

/// An agent the test runs must be installed (`scripts/test` installs it).
fn need(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: scripts/test installs resource-agents, fence-agents and \
         pacemaker-resource-agents"
    );
}

#[tokio::test]
async fn dummy_starts_monitors_and_stops_idempotently() {
    need("/usr/lib/ocf/resource.d/heartbeat/Dummy");
    let d = Scratch::new("dummy");
    let r = runner(&d);
    let state = d.s("dummy.state");
    let p = [("state", state.as_str())];
    let mon = req("web", "ocf:heartbeat:Dummy", "monitor", &p);
    assert_eq!(run(&r, &mon).await.outcome, Outcome::NotRunning);
    for _ in 0..2 {
        let res = run(&r, &req("web", "ocf:heartbeat:Dummy", "start", &p)).await;
        assert_eq!(
            (res.rc, res.outcome),
            (Some(0), Outcome::Success),
            "{res:?}"
        );
    }
    let res = run(&r, &mon).await;
    assert_eq!((res.rc, res.outcome), (Some(0), Outcome::Running));
    assert!(res.outcome.ok("monitor"));
    for _ in 0..2 {
        let res = run(&r, &req("web", "ocf:heartbeat:Dummy", "stop", &p)).await;
        assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    }
    let res = run(&r, &mon).await;
    assert_eq!((res.rc, res.outcome), (Some(7), Outcome::NotRunning));
    assert!(!res.outcome.ok("monitor"));
}

/// The runner's own files failing (a full or broken state directory: here
/// a file where its `scores` directory should be, which stops root too) is
/// no failure of the resource: the agent runs without the shim, and a stop
/// still stops.
#[tokio::test]
async fn a_broken_state_directory_does_not_fail_the_agents_actions() {
    need("/usr/lib/ocf/resource.d/heartbeat/Dummy");
    let d = Scratch::new("broken-state");
    std::fs::create_dir_all(d.path("state")).unwrap();
    std::fs::write(d.path("state/scores"), "not a directory").unwrap();
    let r = runner(&d);
    let state = d.s("dummy.state");
    let p = [("state", state.as_str())];
    for action in ["start", "stop"] {
        let res = run(&r, &req("web", "ocf:heartbeat:Dummy", action, &p)).await;
        assert_eq!(
            (res.rc, res.outcome),
            (Some(0), Outcome::Success),
            "{action}: {res:?}"
        );
    }
    assert!(!Path::new(&state).exists(), "the stop did not stop");
}

#[tokio::test]
async fn a_slow_agent_times_out() {
    need("/usr/lib/ocf/resource.d/pacemaker/Dummy");
    let d = Scratch::new("sleepy");
    let r = runner(&d);
    let state = d.s("sleepy.state");
    let mut q = req(
        "sleepy",
        "ocf:pacemaker:Dummy",
        "start",
        &[("state", &state), ("op_sleep", "30")],
    );
    q.timeout_ms = 700;
    let t = Instant::now();
    let res = run(&r, &q).await;
    assert_eq!(res.outcome, Outcome::Timeout, "{res:?}");
    assert_eq!(res.rc, None);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(res.exit_reason.unwrap().contains("timed out"));
}

/// Whether a process is gone (or a zombie nobody has reaped yet).
fn dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_hung_agent_is_killed_with_its_children() {
    let d = Scratch::new("hang");
    let agent_dir = d.path("ocf/resource.d/test");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let child_pid = d.s("child.pid");
    let own_pid = d.s("agent.pid");
    let script = format!(
        "#!/bin/sh\necho $$ > {own_pid}\nsleep 1000 &\necho $! > {child_pid}\nsleep 1000\n"
    );
    let path = agent_dir.join("Hang");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cfg = RunnerConfig::new("node1", d.path("state"));
    cfg.ocf_root = d.path("ocf");
    let r = Runner::new(cfg);
    let mut q = req("hang", "ocf:test:Hang", "start", &[]);
    q.timeout_ms = 500;
    let res = run(&r, &q).await;
    assert_eq!(res.outcome, Outcome::Timeout, "{res:?}");
    let agent = std::fs::read_to_string(&own_pid).unwrap();
    let child = std::fs::read_to_string(&child_pid).unwrap();
    // SIGKILL is immediate, but let the kernel tear them down.
    let t = Instant::now();
    while !(dead(&agent) && dead(&child)) && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dead(&agent), "the agent {agent} survived its timeout");
    assert!(
        dead(&child),
        "the agent's child {child} survived its timeout"
    );
}

#[tokio::test]
async fn stateful_reports_promotion_scores() {
    need("/usr/lib/ocf/resource.d/pacemaker/Stateful");
    let d = Scratch::new("stateful");
    let r = runner(&d);
    let state = d.s("db.state");
    let p = [("state", state.as_str())];
    let step = |action: &'static str| req("db", "ocf:pacemaker:Stateful", action, &p);
    let res = run(&r, &step("start")).await;
    assert_eq!(
        (res.outcome, res.promotion),
        (Outcome::Success, Some(PromotionChange::Set(5))),
        "{res:?}"
    );
    let res = run(&r, &step("promote")).await;
    assert_eq!(res.promotion, Some(PromotionChange::Set(10)), "{res:?}");
    let res = run(&r, &step("monitor")).await;
    assert_eq!((res.rc, res.outcome), (Some(8), Outcome::Promoted));
    let res = run(&r, &step("demote")).await;
    assert_eq!(res.promotion, Some(PromotionChange::Set(5)));
    let res = run(&r, &step("monitor")).await;
    assert_eq!(res.outcome, Outcome::Running);
    let res = run(&r, &step("stop")).await;
    assert_eq!(
        (res.outcome, res.promotion),
        (Outcome::Success, Some(PromotionChange::Delete))
    );
}

#[tokio::test]
async fn anything_runs_a_daemon() {
    need("/usr/lib/ocf/resource.d/heartbeat/anything");
    let d = Scratch::new("anything");
    let r = runner(&d);
    let pidfile = d.s("sleeper.pid");
    let p = [
        ("binfile", "/bin/sleep"),
        ("cmdline_options", "1000"),
        ("pidfile", pidfile.as_str()),
    ];
    let res = run(&r, &req("sleeper", "ocf:heartbeat:anything", "start", &p)).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(!dead(&pid), "the daemon is not running");
    let res = run(&r, &req("sleeper", "ocf:heartbeat:anything", "monitor", &p)).await;
    assert_eq!(res.outcome, Outcome::Running, "{res:?}");
    let res = run(&r, &req("sleeper", "ocf:heartbeat:anything", "stop", &p)).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    let t = Instant::now();
    while !dead(&pid) && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dead(&pid), "the daemon survived its stop");
    let res = run(&r, &req("sleeper", "ocf:heartbeat:anything", "monitor", &p)).await;
    assert_eq!(res.outcome, Outcome::NotRunning, "{res:?}");
}

/// A network namespace with an interface `d0` (one end of a veth pair whose
/// other end stays inside too), deleted at the end.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        let ns = format!("halo-{name}-{}", std::process::id());
        let ip = |args: &[&str]| {
            let st = std::process::Command::new("ip")
                .args(args)
                .status()
                .unwrap();
            assert!(
                st.success(),
                "ip {args:?} failed (the tests need root and iproute2)"
            );
        };
        ip(&["netns", "add", &ns]);
        let n = Netns(ns.clone());
        ip(&[
            "-n", &ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1",
        ]);
        ip(&["-n", &ns, "link", "set", "d0", "up"]);
        ip(&["-n", &ns, "link", "set", "d1", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "addr", "add", "10.99.0.1/24", "dev", "d0"]);
        n
    }
    fn addresses(&self) -> String {
        let out = std::process::Command::new("ip")
            .args(["-n", &self.0, "addr", "show", "d0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[tokio::test]
async fn ipaddr2_adds_and_removes_an_address_in_a_namespace() {
    need("/usr/lib/ocf/resource.d/heartbeat/IPaddr2");
    let d = Scratch::new("ipaddr2");
    let ns = Netns::new("ip");
    // The real IPaddr2, run inside the namespace by a wrapper agent.
    let agent_dir = d.path("ocf/resource.d/test");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let wrapper = agent_dir.join("IPaddr2");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport OCF_ROOT=/usr/lib/ocf\nexec ip netns exec {} /usr/lib/ocf/resource.d/heartbeat/IPaddr2 \"$@\"\n",
            ns.0
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut cfg = RunnerConfig::new("node1", d.path("state"));
    cfg.ocf_root = d.path("ocf");
    let r = Runner::new(cfg);
    let p = [("ip", "10.99.0.50"), ("cidr_netmask", "24"), ("nic", "d0")];
    let res = run(&r, &req("vip", "ocf:test:IPaddr2", "start", &p)).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    assert!(
        ns.addresses().contains("10.99.0.50/24"),
        "{}",
        ns.addresses()
    );
    let res = run(&r, &req("vip", "ocf:test:IPaddr2", "monitor", &p)).await;
    assert_eq!(res.outcome, Outcome::Running, "{res:?}");
    let res = run(&r, &req("vip", "ocf:test:IPaddr2", "stop", &p)).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    assert!(!ns.addresses().contains("10.99.0.50"), "{}", ns.addresses());
    let res = run(&r, &req("vip", "ocf:test:IPaddr2", "monitor", &p)).await;
    assert_eq!(res.outcome, Outcome::NotRunning, "{res:?}");
}

#[tokio::test]
async fn an_lsb_script_maps_status_codes() {
    let d = Scratch::new("lsb");
    std::fs::create_dir_all(d.path("init.d")).unwrap();
    let flag = d.s("svc.running");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  start) touch {flag} ;;\n  stop) rm -f {flag} ;;\n  \
         status) [ -e {flag} ] && exit 0 || exit 3 ;;\n  *) exit 3 ;;\nesac\nexit 0\n"
    );
    let path = d.path("init.d/svc");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cfg = RunnerConfig::new("node1", d.path("state"));
    cfg.lsb_dir = d.path("init.d");
    let r = Runner::new(cfg);
    assert_eq!(
        run(&r, &req("svc", "lsb:svc", "monitor", &[]))
            .await
            .outcome,
        Outcome::NotRunning
    );
    assert_eq!(
        run(&r, &req("svc", "lsb:svc", "start", &[])).await.outcome,
        Outcome::Success
    );
    assert_eq!(
        run(&r, &req("svc", "lsb:svc", "monitor", &[]))
            .await
            .outcome,
        Outcome::Running
    );
    assert_eq!(
        run(&r, &req("svc", "lsb:svc", "stop", &[])).await.outcome,
        Outcome::Success
    );
    assert_eq!(
        run(&r, &req("svc", "lsb:svc", "monitor", &[]))
            .await
            .outcome,
        Outcome::NotRunning
    );
    let missing = run(&r, &req("nope", "lsb:nope", "start", &[])).await;
    assert_eq!(missing.outcome, Outcome::NotInstalled);
    assert!(missing.exit_reason.unwrap().contains("init.d/nope"));
}

#[tokio::test]
async fn fence_dummy_powers_nodes_off_and_on() {
    need("/usr/sbin/fence_dummy");
    let d = Scratch::new("fence");
    let r = runner(&d);
    let n2 = d.s("n2.status");
    let n3 = d.s("n3.status");
    let fence = |action: &str, status: &str, target: &str| {
        let mut q = req(
            "fence1",
            "stonith:fence_dummy",
            action,
            &[("status_file", status)],
        );
        q.target = Some(target.into());
        q
    };
    let res = run(&r, &fence("reboot", &n2, "n2")).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    assert_eq!(
        run(&r, &fence("status", &n2, "n2")).await.outcome,
        Outcome::Running
    );
    assert_eq!(
        run(&r, &fence("status", &n3, "n3")).await.outcome,
        Outcome::NotRunning
    );
    assert_eq!(
        run(&r, &fence("off", &n2, "n2")).await.outcome,
        Outcome::Success
    );
    assert_eq!(
        run(&r, &fence("status", &n2, "n2")).await.outcome,
        Outcome::NotRunning
    );
    assert_eq!(
        run(&r, &fence("on", &n2, "n2")).await.outcome,
        Outcome::Success
    );
    assert_eq!(
        run(&r, &fence("status", &n2, "n2")).await.outcome,
        Outcome::Running
    );
    // A device that fails: reported (after the retry), not hidden.
    let mut q = req(
        "fence2",
        "stonith:fence_dummy",
        "off",
        &[("type", "fail"), ("power_timeout", "1")],
    );
    q.target = Some("n3".into());
    let res = run(&r, &q).await;
    assert_eq!(res.outcome, Outcome::Error, "{res:?}");
    assert!(res.exit_reason.is_some());
    // Power actions need a target.
    let res = run(&r, &req("fence1", "stonith:fence_dummy", "off", &[])).await;
    assert_eq!(res.outcome, Outcome::InvalidArgs);
}

#[tokio::test]
async fn exec_supervises_a_plain_command() {
    let d = Scratch::new("exec");
    let r = runner(&d);
    let marker = d.s("healthy");
    let health = format!("test -e {marker}");
    let p = [("command", "sleep 1000"), ("health", health.as_str())];
    let step = |a: &'static str| req("worker", "exec", a, &p);
    assert_eq!(run(&r, &step("monitor")).await.outcome, Outcome::NotRunning);
    let res = run(&r, &step("start")).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    // Running, but the health check fails until the marker exists.
    assert_eq!(run(&r, &step("monitor")).await.outcome, Outcome::Error);
    std::fs::write(&marker, "").unwrap();
    assert_eq!(run(&r, &step("monitor")).await.outcome, Outcome::Running);
    assert_eq!(run(&r, &step("start")).await.outcome, Outcome::Success);
    let res = run(&r, &step("stop")).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    assert_eq!(run(&r, &step("monitor")).await.outcome, Outcome::NotRunning);
    // A command that exits at once does not start.
    let res = run(
        &r,
        &req(
            "typo",
            "exec",
            "start",
            &[("command", "no-such-program-here")],
        ),
    )
    .await;
    assert_eq!(res.outcome, Outcome::Error, "{res:?}");
    assert!(res.exit_reason.unwrap().contains("exited at once"));
    // A command that ignores SIGTERM is killed when the stop runs out of time.
    let stubborn = [(
        "command",
        "sh -c 'trap \"\" TERM; while :; do sleep 1; done'",
    )];
    assert_eq!(
        run(&r, &req("stubborn", "exec", "start", &stubborn))
            .await
            .outcome,
        Outcome::Success
    );
    let mut q = req("stubborn", "exec", "stop", &stubborn);
    q.timeout_ms = 1000;
    let res = run(&r, &q).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    assert_eq!(
        run(&r, &req("stubborn", "exec", "monitor", &stubborn))
            .await
            .outcome,
        Outcome::NotRunning
    );
}

#[tokio::test]
async fn exec_commands_are_shell_command_lines_and_stop_without_one_is_safe() {
    let d = Scratch::new("exec-shell");
    let r = runner(&d);
    let work = d.s("work");
    std::fs::create_dir_all(&work).unwrap();
    // A compound command: `cd` then a pipeline, as typed in a terminal.
    let command = format!("cd {work} && echo up > started && sleep 1000 | cat");
    let p = [("command", command.as_str())];
    let res = run(&r, &req("compound", "exec", "start", &p)).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    assert!(std::path::Path::new(&work).join("started").exists());
    assert_eq!(
        run(&r, &req("compound", "exec", "monitor", &p))
            .await
            .outcome,
        Outcome::Running
    );
    let pgrep = || {
        std::process::Command::new("pgrep")
            .args(["-f", "^sleep 1000$"])
            .output()
            .unwrap()
    };
    assert!(pgrep().status.success(), "the pipeline's sleep should run");
    let res = run(&r, &req("compound", "exec", "stop", &p)).await;
    assert_eq!(res.outcome, Outcome::Success, "{res:?}");
    // The whole process group went, not only the shell.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left = pgrep();
    assert!(
        !left.status.success()
            || !String::from_utf8_lossy(&left.stdout).lines().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/environ"))
                    .is_ok_and(|e| e.contains("HALO_RESOURCE=compound"))
            }),
        "a process of the stopped command lives on"
    );
    // Without a command it cannot have started: a stop succeeds and a
    // monitor says stopped (a failed stop would fence the node); a start
    // says what is missing.
    assert_eq!(
        run(&r, &req("nocmd", "exec", "stop", &[])).await.outcome,
        Outcome::Success
    );
    assert_eq!(
        run(&r, &req("nocmd", "exec", "monitor", &[])).await.outcome,
        Outcome::NotRunning
    );
    let res = run(&r, &req("nocmd", "exec", "start", &[])).await;
    assert_eq!(res.outcome, Outcome::NotConfigured, "{res:?}");
}

#[tokio::test]
async fn built_in_agents_need_nothing_installed() {
    let d = Scratch::new("builtin");
    let r = runner(&d);
    let s = |a: &'static str| req("db", "halo:stateful", a, &[]);
    assert_eq!(run(&r, &s("monitor")).await.outcome, Outcome::NotRunning);
    assert_eq!(
        run(&r, &s("start")).await.promotion,
        Some(PromotionChange::Set(5))
    );
    assert_eq!(
        run(&r, &s("promote")).await.promotion,
        Some(PromotionChange::Set(10))
    );
    assert_eq!(run(&r, &s("monitor")).await.outcome, Outcome::Promoted);
    assert_eq!(
        run(&r, &s("stop")).await.promotion,
        Some(PromotionChange::Delete)
    );
    let dummy = |a: &'static str| req("web", "halo:dummy", a, &[]);
    assert_eq!(run(&r, &dummy("start")).await.outcome, Outcome::Success);
    assert_eq!(run(&r, &dummy("monitor")).await.outcome, Outcome::Running);
    assert_eq!(
        run(&r, &dummy("promote")).await.outcome,
        Outcome::Unimplemented
    );
    let mut slow = req("slow", "halo:dummy", "start", &[("delay", "5")]);
    slow.timeout_ms = 200;
    assert_eq!(run(&r, &slow).await.outcome, Outcome::Timeout);
}

#[tokio::test]
async fn systemd_units_say_when_the_node_has_no_systemd() {
    if Path::new("/run/systemd/system").is_dir() {
        return; // A systemd host: nothing to refuse.
    }
    let d = Scratch::new("systemd");
    let r = runner(&d);
    let res = run(&r, &req("web", "systemd:nginx", "start", &[])).await;
    assert_eq!(res.outcome, Outcome::NotInstalled);
    assert!(res
        .exit_reason
        .unwrap()
        .contains("systemd is not this node's init"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_action_per_resource_and_a_bounded_number_at_once() {
    let d = Scratch::new("bounds");
    let mut cfg = RunnerConfig::new("node1", d.path("state"));
    cfg.parallel_max = 2;
    let r = Runner::new(cfg);
    let slow = |rsc: &str| req(rsc, "halo:dummy", "start", &[("delay", "0.3")]);
    // The same resource: one after the other.
    let t = Instant::now();
    let (q1, q2) = (slow("one"), slow("one"));
    let (a, b) = tokio::join!(run(&r, &q1), run(&r, &q2));
    assert!(a.outcome.ok("start") && b.outcome.ok("start"));
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    // Two resources: side by side.
    let t = Instant::now();
    let (qa, qb) = (slow("a"), slow("b"));
    let _ = tokio::join!(run(&r, &qa), run(&r, &qb));
    assert!(
        t.elapsed() < Duration::from_millis(550),
        "{:?}",
        t.elapsed()
    );
    // Three with two slots: the third waits.
    let t = Instant::now();
    let (qc, qd, qe) = (slow("c"), slow("d"), slow("e"));
    let _ = tokio::join!(run(&r, &qc), run(&r, &qd), run(&r, &qe));
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn output_is_kept_up_to_a_bound() {
    let d = Scratch::new("chatty");
    let agent_dir = d.path("ocf/resource.d/test");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let path = agent_dir.join("Chatty");
    std::fs::write(
        &path,
        "#!/bin/sh\nhead -c 1000000 /dev/zero | tr '\\0' x\necho 'ocf-exit-reason:disk on fire' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cfg = RunnerConfig::new("node1", d.path("state"));
    cfg.ocf_root = d.path("ocf");
    cfg.output_max = 4096;
    let r = Runner::new(cfg);
    let res = run(&r, &req("chatty", "ocf:test:Chatty", "start", &[])).await;
    assert_eq!(res.outcome, Outcome::Error);
    assert!(res.output.len() < 9000, "{}", res.output.len());
    assert!(res.output.contains("output cut"));
    assert_eq!(res.exit_reason.as_deref(), Some("disk on fire"));
}
