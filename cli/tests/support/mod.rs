//! A live cluster of real `halo runner` processes (each with its controller
//! replica) on loopback addresses or in network namespaces, running the real
//! Dummy and Stateful agents through wrappers that write every action to an
//! audit file; and the audit's check that no resource was ever active on two
//! nodes at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    clippy::missing_panics_doc
)]

pub mod netem;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn halo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run halo")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Nanoseconds since the epoch, as the audit writes them.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Where each node lives.
#[derive(Clone)]
pub enum Net {
    /// 127.0.S.1, 127.0.S.2, ...
    Loopback(u8),
    /// Network namespace `PREFIX-nI` with address 10.S.0.I, all on one bridge.
    Namespaces { prefix: String, subnet: u8 },
}

pub struct Options {
    pub name: String,
    pub nodes: usize,
    pub witness: bool,
    pub net: Net,
    /// Extra `[timing]` lines for every node.
    pub timing: Option<String>,
}

pub struct Cluster {
    pub dir: PathBuf,
    pub nodes: Vec<String>,
    pub audit: PathBuf,
    pub net: Net,
    procs: BTreeMap<String, Child>,
    /// When each killed node died, every time it did (ns since the epoch).
    pub deaths: BTreeMap<String, Vec<u128>>,
    /// Where `agent_fault` leaves its requests for the agents' wrappers.
    pub faults: PathBuf,
    /// The relay every node reaches the others through, in the lab
    /// (`start_lab`).
    pub relay: Option<netem::Relay>,
    /// Which lab the cluster was started for, if any.
    lab: Lab,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.procs.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Net::Namespaces { prefix, .. } = &self.net {
            // The witness's namespace, if there is one, too.
            teardown_namespaces(prefix, self.nodes.len() + 1);
        }
        if let Lab::Faults(_) = self.lab {
            for n in &self.nodes {
                let _ = sh(&format!(
                    "umount {}",
                    self.dir.join("state").join(n).display()
                ));
            }
        }
        if std::env::var_os("HALO_KEEP").is_none() && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

const WRAPPER: &str = r#"#!/bin/sh
# Audit wrapper: records each action's begin and end, then runs the real agent.
# A notification is recorded as notify-TYPE-OPERATION, and its variables go to
# AUDIT.notify, one line per notification.
log() { echo "$(date +%s%N) ${OCF_RESKEY_CRM_meta_on_node:-?} ${OCF_RESOURCE_INSTANCE:-?} $1 $2 $3" >> "AUDIT"; }
act="$1"
if [ "$1" = notify ]; then
  act="notify-${OCF_RESKEY_CRM_meta_notify_type}-${OCF_RESKEY_CRM_meta_notify_operation}"
  vars=$(env | grep '^OCF_RESKEY_CRM_meta_notify_' | sort | tr '\n' '|')
  echo "$(date +%s%N) ${OCF_RESKEY_CRM_meta_on_node:-?} $act $vars" >> "AUDIT.notify"
fi
log "$act" begin
# A fault a test asked for: this resource's next such action on this node
# fails, hangs until the runner's timeout kills it, is killed (-9), or stops
# itself (SIGSTOP) until the test continues it (the file goes once used).
f="FAULTS/${OCF_RESKEY_CRM_meta_on_node:-?}-${OCF_RESOURCE_INSTANCE:-?}-$act"
if rm "$f.fail" 2>/dev/null; then log "$act" end 1; exit 1; fi
if rm "$f.hang" 2>/dev/null; then sleep 3600; fi
if rm "$f.kill" 2>/dev/null; then kill -9 $$; fi
if rm "$f.pause" 2>/dev/null; then echo $$ > "$f.paused"; kill -STOP $$; fi
OCF_ROOT=/usr/lib/ocf REAL "$@"
rc=$?
log "$act" end "$rc"
exit $rc
"#;

fn write_wrapper(root: &Path, provider: &str, kind: &str, audit: &Path, faults: &Path) {
    let d = root.join("resource.d").join(provider);
    std::fs::create_dir_all(&d).unwrap();
    let real = format!("/usr/lib/ocf/resource.d/{provider}/{kind}");
    assert!(
        Path::new(&real).exists(),
        "{real} is missing: the test command installs resource-agents and pacemaker-resource-agents"
    );
    let body = WRAPPER
        .replace("AUDIT", &audit.display().to_string())
        .replace("FAULTS", &faults.display().to_string())
        .replace("REAL", &real);
    let p = d.join(kind);
    std::fs::write(&p, body).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fence device the fencing lab can break: `fence_dummy` (its power
/// state kept in a file), failing while FAULTS/fence-flaky.fail exists.
fn write_flaky_fence(dir: &Path, faults: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let body = format!(
        "#!/bin/sh\n# fence_dummy, failing while the lab says so.\n\
         if [ -e {flag} ]; then cat >/dev/null; echo 'fence_flaky: failing as the lab asks' >&2; exit 1; fi\n\
         exec /usr/sbin/fence_dummy \"$@\"\n",
        flag = faults.join("fence-flaky.fail").display()
    );
    let p = dir.join("fence_flaky");
    std::fs::write(&p, body).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The labs a cluster can be started for.
#[derive(Clone, Copy)]
enum Lab {
    None,
    /// The fault lab, with its relay's seed.
    Faults(u64),
    Fencing,
}

/// The agents' wrappers under DIR/ocf (and, for the fencing lab, its
/// flaky fence agent under DIR/fence).
fn write_agents(dir: &Path, audit: &Path, faults: &Path, lab: Lab) {
    let ocf = dir.join("ocf");
    let mut agents = vec![
        ("heartbeat", "Dummy"),
        ("pacemaker", "Stateful"),
        ("pacemaker", "Dummy"),
        ("heartbeat", "IPaddr2"),
    ];
    if Path::new("/usr/lib/ocf/resource.d/heartbeat/redis").exists() {
        agents.push(("heartbeat", "redis"));
    }
    for (provider, kind) in agents {
        write_wrapper(&ocf, provider, kind, audit, faults);
    }
    std::os::unix::fs::symlink("/usr/lib/ocf/lib", ocf.join("lib")).unwrap();
    if let Lab::Fencing = lab {
        write_flaky_fence(&dir.join("fence"), faults);
    }
}

/// `halo cluster init` for the nodes (and the witness), then every config
/// given the test's `[timing]`.
fn init_configs(o: &Options, nodes: &[String], out_dir: &Path) {
    let mut args: Vec<String> = vec![
        "cluster".into(),
        "init".into(),
        "--name".into(),
        o.name.clone(),
    ];
    for (i, n) in nodes.iter().enumerate() {
        args.push("--node".into());
        args.push(format!("{n}={}:7420", Cluster::address(&o.net, i + 1)));
    }
    if o.witness {
        // On loopback the witness shares the first node's address, on
        // another port; in namespaces it has its own.
        let at = match o.net {
            Net::Loopback(_) => 1,
            Net::Namespaces { .. } => o.nodes + 1,
        };
        args.push("--witness".into());
        args.push(format!("w={}:7430", Cluster::address(&o.net, at)));
    }
    args.push("--out".into());
    args.push(out_dir.display().to_string());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = halo(&a);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    if let Some(timing) = &o.timing {
        let witness = o.witness.then(|| "w".to_string());
        for n in nodes.iter().chain(&witness) {
            append(
                &out_dir.join(format!("{n}.toml")),
                &format!("\n[timing]\n{timing}\n"),
            );
        }
    }
}

fn append(file: &Path, text: &str) {
    let mut t = std::fs::read_to_string(file).unwrap();
    t.push_str(text);
    std::fs::write(file, t).unwrap();
}

fn sh(cmd: &str) -> Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

/// Removes the namespaces, their bridge and their files under /etc/netns
/// (which a test may fill before the cluster starts: `ip netns exec` puts
/// them over /etc for the node's processes).
fn teardown_namespaces(prefix: &str, n: usize) {
    remove_namespaces(prefix, n);
    for i in 1..=n {
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{prefix}-n{i}"));
    }
}

fn remove_namespaces(prefix: &str, n: usize) {
    for i in 1..=n {
        let _ = sh(&format!("ip netns del {prefix}-n{i} 2>/dev/null"));
        let _ = sh(&format!("ip link del {prefix}-v{i} 2>/dev/null"));
    }
    let _ = sh(&format!("ip link del {prefix}-br 2>/dev/null"));
}

fn setup_namespaces(prefix: &str, subnet: u8, n: usize) {
    remove_namespaces(prefix, n);
    let run = |c: &str| {
        let o = sh(c);
        assert!(o.status.success(), "{c}: {}", text(&o.stderr));
    };
    // The test itself (the admin) reaches the nodes through the bridge.
    run(&format!(
        "ip link add {prefix}-br type bridge && ip link set {prefix}-br up && \
         ip addr add 10.{subnet}.0.254/24 dev {prefix}-br"
    ));
    // Each namespace resolves the nodes' names to their addresses (`ip netns
    // exec` puts /etc/netns/NS/hosts over /etc/hosts): agents such as redis
    // point replicas at a node by its name.
    let hosts: String = (1..=n)
        .map(|i| format!("10.{subnet}.0.{i} n{i}\n"))
        .collect();
    for i in 1..=n {
        let ns = format!("{prefix}-n{i}");
        let etc = format!("/etc/netns/{ns}");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            format!("{etc}/hosts"),
            format!("127.0.0.1 localhost\n{hosts}"),
        )
        .unwrap();
        run(&format!("ip netns add {ns}"));
        run(&format!(
            "ip link add {prefix}-v{i} type veth peer name eth0 netns {ns} && \
             ip link set {prefix}-v{i} master {prefix}-br && ip link set {prefix}-v{i} up && \
             ip -n {ns} addr add 10.{subnet}.0.{i}/24 dev eth0 && ip -n {ns} link set eth0 up && \
             ip -n {ns} link set lo up"
        ));
    }
}

/// Starts a relay on the bridge for every node's runner and replica
/// address, and points each node's config at it for the other nodes.
fn relay_links(net: &Net, dir: &Path, nodes: &[String], seed: u64) -> netem::Relay {
    let Net::Namespaces { subnet, .. } = net else {
        unreachable!("start_relayed checks for namespaces")
    };
    let entry = |line: &str| -> Option<(String, std::net::SocketAddr)> {
        let (name, addr) = line.split_once(" = ")?;
        let addr = addr.trim_matches('"').parse().ok()?;
        nodes
            .contains(&name.to_string())
            .then(|| (name.to_string(), addr))
    };
    let configs: Vec<(String, String)> = nodes
        .iter()
        .map(|n| {
            let t = std::fs::read_to_string(dir.join(format!("{n}.toml"))).unwrap();
            (n.clone(), t)
        })
        .collect();
    let mut targets: Vec<std::net::SocketAddr> = configs
        .iter()
        .flat_map(|(_, t)| t.lines().filter_map(entry).map(|(_, a)| a))
        .collect();
    targets.sort();
    targets.dedup();
    let bridge = format!("10.{subnet}.0.254").parse().unwrap();
    let relay = netem::Relay::start(bridge, &targets, seed);
    for (n, t) in configs {
        let lines: Vec<String> = t
            .lines()
            .map(|line| match entry(line) {
                Some((name, addr)) if name != n => format!("{name} = \"{}\"", relay.address(addr)),
                _ => line.to_string(),
            })
            .collect();
        std::fs::write(dir.join(format!("{n}.toml")), lines.join("\n") + "\n").unwrap();
    }
    relay
}

impl Cluster {
    pub fn address(net: &Net, i: usize) -> String {
        match net {
            Net::Loopback(s) => format!("127.0.{s}.{i}"),
            Net::Namespaces { subnet, .. } => format!("10.{subnet}.0.{i}"),
        }
    }

    /// Makes the cluster's files and starts every node (not the policy).
    pub fn start(o: Options) -> Cluster {
        Self::launch(o, Lab::None)
    }

    /// As `start`, in namespaces, for the fault lab: every node reaches the
    /// others through a relay that can lose and delay their datagrams
    /// (`netem`), drawing its losses from `seed`; and each node's state
    /// directory is a small file system of its own, which `fill_state` can
    /// fill.
    pub fn start_lab(o: Options, seed: u64) -> Cluster {
        assert!(
            matches!(o.net, Net::Namespaces { .. }),
            "the lab needs namespaces"
        );
        Self::launch(o, Lab::Faults(seed))
    }

    /// As `start`, in namespaces, for the fencing lab: each node's agents
    /// keep their runtime files inside its state directory, where
    /// `fence_halo` powering the node off empties them (as a reboot empties
    /// a tmpfs), and `fence_flaky` — `fence_dummy` behind a wrapper that
    /// fails while `break_fencing` says so — is among the fence agents.
    pub fn start_fencing_lab(o: Options) -> Cluster {
        assert!(
            matches!(o.net, Net::Namespaces { .. }),
            "the lab needs namespaces"
        );
        Self::launch(o, Lab::Fencing)
    }

    /// Where a node's agents keep their runtime files (Dummy its state).
    pub fn run_dir(&self, node: &str) -> PathBuf {
        match self.lab {
            Lab::Fencing => self.dir.join("state").join(node).join("run"),
            _ => self.dir.join("run").join(node),
        }
    }

    /// Makes `fence_flaky` fail (or work again); with `all`, `fence_halo`
    /// too: its `state_root` (a link to the nodes' state directories)
    /// becomes a file, so that it cannot read which process to kill.
    pub fn break_fencing(&self, broken: bool, all: bool) {
        let flag = self.faults.join("fence-flaky.fail");
        let root = self.dir.join("fence-root");
        let _ = std::fs::remove_file(&flag);
        let _ = std::fs::remove_file(&root);
        if broken {
            std::fs::write(&flag, "").unwrap();
        }
        if broken && all {
            std::fs::write(&root, "not a directory").unwrap();
        } else {
            std::os::unix::fs::symlink(self.dir.join("state"), &root).unwrap();
        }
    }

    fn launch(o: Options, lab: Lab) -> Cluster {
        let dir = std::env::temp_dir().join(format!("halo-live-{}-{}", o.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let audit = dir.join("audit.log");
        let faults = dir.join("faults");
        std::fs::create_dir_all(&faults).unwrap();
        write_agents(&dir, &audit, &faults, lab);
        // In namespaces the witness has its own, after the nodes'.
        let spaces = o.nodes + usize::from(o.witness);
        if let Net::Namespaces { prefix, subnet } = &o.net {
            setup_namespaces(prefix, *subnet, spaces);
        }
        let nodes: Vec<String> = (1..=o.nodes).map(|i| format!("n{i}")).collect();
        let out_dir = dir.join("cluster");
        init_configs(&o, &nodes, &out_dir);
        for n in &nodes {
            let (run, fence) = match lab {
                Lab::Fencing => (
                    format!("state/{n}/run"),
                    format!(
                        "fence_dirs = [\"{}\", \"/usr/sbin\"]\n",
                        dir.join("fence").display()
                    ),
                ),
                _ => (format!("run/{n}"), String::new()),
            };
            append(
                &out_dir.join(format!("{n}.toml")),
                &format!(
                    "\n[agents]\nocf_root = \"{}\"\nrun_dir = \"{run}\"\n{fence}",
                    dir.join("ocf").display()
                ),
            );
        }
        let relay = match lab {
            Lab::Faults(seed) => Some(relay_links(&o.net, &out_dir, &nodes, seed)),
            _ => None,
        };
        if let Lab::Faults(_) = lab {
            for n in &nodes {
                let d = out_dir.join("state").join(n);
                std::fs::create_dir_all(&d).unwrap();
                let o = sh(&format!(
                    "mount -t tmpfs -o size=64m halo-lab {}",
                    d.display()
                ));
                assert!(o.status.success(), "mount: {}", text(&o.stderr));
            }
        }
        let mut c = Cluster {
            dir: out_dir,
            nodes: nodes.clone(),
            audit,
            net: o.net,
            procs: BTreeMap::new(),
            deaths: BTreeMap::new(),
            faults,
            relay,
            lab,
        };
        if let Lab::Fencing = lab {
            c.break_fencing(false, false);
        }
        for (i, n) in nodes.iter().enumerate() {
            c.spawn(n, i + 1, "runner");
        }
        if o.witness {
            let at = match c.net {
                Net::Loopback(_) => 1,
                Net::Namespaces { .. } => c.nodes.len() + 1,
            };
            c.spawn("w", at, "witness");
        }
        c
    }

    fn spawn(&mut self, name: &str, index: usize, what: &str) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let err = log.try_clone().unwrap();
        let cfg = self.dir.join(format!("{name}.toml"));
        let mut cmd = match &self.net {
            Net::Loopback(_) => Command::new(env!("CARGO_BIN_EXE_halo")),
            Net::Namespaces { prefix, .. } => {
                let mut c = Command::new("ip");
                c.args([
                    "netns",
                    "exec",
                    &format!("{prefix}-n{index}"),
                    env!("CARGO_BIN_EXE_halo"),
                ]);
                c
            }
        };
        let child = cmd
            .arg(what)
            .arg("--config")
            .arg(&cfg)
            .env("HALO_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap();
        self.procs.insert(name.to_string(), child);
    }

    pub fn admin(&self) -> String {
        self.dir.join("admin.toml").display().to_string()
    }

    /// Runs an operator command against the cluster; panics if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let cfg = self.admin();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", &cfg]);
        let out = halo(&all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "halo {}: {}{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    pub fn apply(&self, policy: &str) {
        let f = self.dir.join("policy.ha");
        std::fs::write(&f, policy).unwrap();
        self.ok(&["apply", "--yes", &f.display().to_string()]);
    }

    pub fn status(&self) -> Option<Value> {
        let cfg = self.admin();
        let out = halo(&["status", "--format", "json", "--config", &cfg]);
        if out.status.code() != Some(0) {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls the status until `pred` holds; panics with the last status and
    /// the logs after `timeout`.
    pub fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < timeout {
            if let Some(s) = self.status() {
                if pred(&s) {
                    return s;
                }
                last = Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let last = last
            .map(|s| halo_status_text(&s))
            .unwrap_or_else(|| "no status".into());
        panic!(
            "timed out after {timeout:?} waiting for {what}\nlast status:\n{last}\nlogs in {}",
            self.dir.display()
        );
    }

    /// Kills a node's process (a crash: nothing is stopped cleanly).
    pub fn kill(&mut self, node: &str) {
        if let Some(mut c) = self.procs.remove(node) {
            let _ = c.kill();
            let _ = c.wait();
            self.deaths
                .entry(node.to_string())
                .or_default()
                .push(now_ns());
        }
    }

    /// Starts a killed node's process again, as after a reboot: its agents'
    /// runtime directory (a tmpfs on a real node) starts empty.
    pub fn restart(&mut self, node: &str) {
        if let Some(mut c) = self.procs.remove(node) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let i = self.nodes.iter().position(|n| n == node).unwrap() + 1;
        let _ = std::fs::remove_dir_all(self.run_dir(node));
        let log = self.dir.join(format!("{node}.log"));
        let keep = (1..)
            .map(|k| self.dir.join(format!("{node}.log.{k}")))
            .find(|p| !p.exists())
            .unwrap();
        let _ = std::fs::rename(&log, keep);
        self.spawn(node, i, "runner");
    }

    /// Freezes a node's process (SIGSTOP): it hangs, holding whatever it
    /// held; `thaw` lets it go on.
    pub fn freeze(&self, node: &str) {
        let pid = self.pid(node).unwrap();
        assert!(sh(&format!("kill -STOP {pid}")).status.success());
    }

    pub fn thaw(&self, node: &str) {
        if let Some(pid) = self.pid(node) {
            let _ = sh(&format!("kill -CONT {pid}"));
        }
    }

    /// Whether a node's process still runs (its watchdog may have killed it).
    pub fn alive(&mut self, node: &str) -> bool {
        self.procs
            .get_mut(node)
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn pid(&self, node: &str) -> Option<u32> {
        self.procs.get(node).map(Child::id)
    }

    /// Makes `rsc`'s next `action` on `node` fail (`"fail"`) or hang until
    /// the runner's timeout kills it (`"hang"`), through the agents'
    /// wrappers.
    pub fn agent_fault(&self, node: &str, rsc: &str, action: &str, kind: &str) {
        let f = self.faults.join(format!("{node}-{rsc}-{action}.{kind}"));
        std::fs::write(f, "").unwrap();
    }

    /// Waits (up to `within`) for an agent that `agent_fault(..., "pause")`
    /// stopped; its process id.
    pub fn paused_agent(
        &self,
        node: &str,
        rsc: &str,
        action: &str,
        within: Duration,
    ) -> Option<u32> {
        let f = self.faults.join(format!("{node}-{rsc}-{action}.paused"));
        let start = Instant::now();
        while start.elapsed() < within {
            let pid = std::fs::read_to_string(&f)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok());
            if pid.is_some() {
                let _ = std::fs::remove_file(&f);
                return pid;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Continues a stopped process (SIGCONT).
    pub fn continue_process(pid: u32) {
        let _ = sh(&format!("kill -CONT {pid}"));
    }

    /// Withdraws what `agent_fault` asked and no action has used yet.
    pub fn clear_agent_faults(&self) {
        for e in std::fs::read_dir(&self.faults).unwrap().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }

    /// Fills a lab node's state directory (its own small file system, as
    /// `start_lab` made it) to the last byte, or frees it again: every
    /// write there then fails, the Raft log's appends included, as on a
    /// full or failing disk.
    pub fn fill_state(&self, node: &str, full: bool) {
        let filler = self.dir.join("state").join(node).join("filler");
        if full {
            // Ends when the file system is full.
            let _ = sh(&format!("cat /dev/zero > {}", filler.display()));
        } else {
            std::fs::remove_file(filler).unwrap();
        }
    }

    /// Cuts a namespaced node off the network (or reconnects it).
    pub fn link(&self, node: &str, up: bool) {
        let Net::Namespaces { prefix, .. } = &self.net else {
            panic!("links exist only with namespaces")
        };
        let i = self.nodes.iter().position(|n| n == node).unwrap() + 1;
        let state = if up { "up" } else { "down" };
        let o = sh(&format!("ip link set {prefix}-v{i} {state}"));
        assert!(o.status.success(), "{}", text(&o.stderr));
    }

    pub fn leader(s: &Value) -> Option<String> {
        s["leader"].as_str().map(str::to_string)
    }

    /// Where `rsc` runs, by node, with its role.
    pub fn placement(s: &Value, rsc: &str) -> BTreeMap<String, String> {
        s["doc"]["state"]["resources"][rsc]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(n, r)| {
                        (
                            n.clone(),
                            r["role"].as_str().unwrap_or("started").to_string(),
                        )
                    })
                    .filter(|(_, role)| role != "stopped")
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn online(s: &Value, node: &str) -> bool {
        s["doc"]["state"]["nodes"][node]["status"].as_str() == Some("online")
    }

    /// The audit's records: (time ns, node, resource, action, phase, rc).
    pub fn records(&self) -> Vec<Record> {
        let t = std::fs::read_to_string(&self.audit).unwrap_or_default();
        t.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some(Record {
                    at: f.first()?.parse().ok()?,
                    node: f.get(1)?.to_string(),
                    rsc: f.get(2)?.to_string(),
                    action: f.get(3)?.to_string(),
                    end: *f.get(4)? == "end",
                    rc: f.get(5).and_then(|r| r.parse().ok()),
                })
            })
            .collect()
    }

    /// The notifications the agents received: (node, `notify-TYPE-OPERATION`,
    /// the `notify_*` variables without their `OCF_RESKEY_CRM_meta_` prefix).
    pub fn notices(&self) -> Vec<(String, String, BTreeMap<String, String>)> {
        let path = self.audit.with_extension("log.notify");
        let t = std::fs::read_to_string(path).unwrap_or_default();
        t.lines()
            .filter_map(|l| {
                let mut f = l.splitn(4, ' ');
                let (_, node, what) = (f.next()?, f.next()?, f.next()?);
                let vars = f
                    .next()
                    .unwrap_or_default()
                    .split('|')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| {
                        let k = k.trim_start_matches("OCF_RESKEY_CRM_meta_");
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                Some((node.to_string(), what.to_string(), vars))
            })
            .collect()
    }

    /// How many times `rsc` was started on `node` (successful starts).
    pub fn starts(&self, rsc: &str, node: &str) -> usize {
        self.records()
            .iter()
            .filter(|r| {
                r.rsc == rsc && r.node == node && r.action == "start" && r.end && r.rc == Some(0)
            })
            .count()
    }

    /// Checks that no resource in `single` (resources that run once) was ever
    /// active on two nodes at once. Active: from the beginning of a start to
    /// the end of a successful stop, or to the death of its node.
    pub fn assert_never_double_active(&self, single: &[&str]) {
        let recs = self.records();
        for rsc in single {
            let mut spans: Vec<(u128, u128, String)> = Vec::new();
            let mut open: BTreeMap<String, u128> = BTreeMap::new();
            for r in recs.iter().filter(|r| r.rsc == *rsc) {
                match (r.action.as_str(), r.end, r.rc) {
                    ("start", false, _) => {
                        open.entry(r.node.clone()).or_insert(r.at);
                    }
                    ("stop", true, Some(0)) => {
                        if let Some(b) = open.remove(&r.node) {
                            spans.push((b, r.at, r.node.clone()));
                        }
                    }
                    _ => {}
                }
            }
            for (node, b) in open {
                // What a node ran ends with the node's first death after it
                // began (a node may die and come back more than once).
                let end = self
                    .deaths
                    .get(&node)
                    .and_then(|d| d.iter().copied().find(|t| *t >= b))
                    .unwrap_or(u128::MAX);
                spans.push((b, end, node));
            }
            for (i, a) in spans.iter().enumerate() {
                for b in &spans[i + 1..] {
                    if a.2 != b.2 && a.0 < b.1 && b.0 < a.1 {
                        panic!(
                            "{rsc} was active on {} and {} at once ({}..{} and {}..{}); audit: {}",
                            a.2,
                            b.2,
                            a.0,
                            a.1,
                            b.0,
                            b.1,
                            self.audit.display()
                        );
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub at: u128,
    pub node: String,
    pub rsc: String,
    pub action: String,
    pub end: bool,
    pub rc: Option<i32>,
}

/// The status as `halo status` prints it, for failure messages.
pub fn halo_status_text(s: &Value) -> String {
    serde_json::to_string_pretty(&s["doc"]["state"]).unwrap_or_default()
        + &format!("\nleader: {}\nlog: {}", s["leader"], s["doc"]["log"])
}

/// Polls agents' state files every 10 ms, noting each moment a resource's
/// file exists on more than one node: whether a resource that runs once ran
/// twice, from the agents' own state rather than the cluster's beliefs.
pub struct StatePoller {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::sync::Arc<std::sync::Mutex<(u64, Vec<String>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StatePoller {
    /// `files`: (label, resource, state file), one per resource and node.
    pub fn start(files: Vec<(String, String, PathBuf)>) -> StatePoller {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::new(std::sync::Mutex::new((0u64, Vec::new())));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut on: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for (label, rsc, f) in &files {
                    if f.exists() {
                        on.entry(rsc.as_str()).or_default().push(label.as_str());
                    }
                }
                let mut v = v.lock().unwrap();
                v.0 += 1;
                for labels in on.values().filter(|l| l.len() > 1) {
                    v.1.push(format!("{} at {} ns", labels.join(" and "), now_ns()));
                }
                drop(v);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        StatePoller {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// The moments seen so far when a resource ran on two nodes.
    pub fn twice(&self) -> Vec<String> {
        self.seen.lock().unwrap().1.clone()
    }

    /// Stops polling: (polls made, moments a resource ran on two nodes).
    pub fn finish(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let v = self.seen.lock().unwrap();
        (v.0, v.1.clone())
    }
}
