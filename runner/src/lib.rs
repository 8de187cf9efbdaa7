//! The node runner: carries out concrete agent actions on this node and says
//! what came of them. It knows nothing of the policy language or the engine:
//! a request names an agent class, an action and its parameters.
//!
//! Every action has a deadline, after which the agent's whole process group is
//! killed; at most one action runs per resource at a time and a bounded number
//! run at once; what an agent prints is kept up to a bound. Nothing here
//! panics on bad input: an agent that cannot be run is a result, not an error.

pub mod builtin;
pub mod daemon;
mod exec;
mod fence;
mod lsb;
pub mod metadata;
mod ocf;
pub mod process;
pub mod secrets;
pub mod shim;
mod systemd;
pub mod watchdog;

use halo_proto::{ActionRequest, ActionResult, AgentRef, Outcome};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};

/// Where agents live and how much the runner allows them.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// This node's name (`OCF_RESKEY_CRM_meta_on_node`, fence host maps).
    pub node: String,
    /// The runner's own files: built-in agents' state, supervised commands'
    /// pid files, the `crm_attribute` shim.
    pub state_dir: PathBuf,
    /// `OCF_ROOT`: agents are in `resource.d/PROVIDER/TYPE` below it.
    pub ocf_root: PathBuf,
    /// Where `lsb:NAME` scripts are.
    pub lsb_dir: PathBuf,
    /// Where `stonith:fence_NAME` agents are looked for, in order.
    pub fence_dirs: Vec<PathBuf>,
    /// The program that answers as `crm_attribute` for agents that report
    /// promotion scores (the `halo` binary itself); none: scores are lost.
    pub shim_program: Option<PathBuf>,
    /// Actions running at once on this node.
    pub parallel_max: usize,
    /// Bytes of output kept per stream and action.
    pub output_max: usize,
    /// Fence agents: attempts per request (the first included).
    pub fence_attempts: u32,
    /// The node's runtime directory for agents (`HA_RSCTMP`, `HA_VARRUN`,
    /// where Dummy and Stateful keep their state); default: the system's
    /// (`/run/resource-agents`, `/var/run`). Several nodes on one machine
    /// need one each.
    pub run_dir: Option<PathBuf>,
}

impl RunnerConfig {
    /// Debian's locations, for `node`, with state under `state_dir`.
    pub fn new(node: &str, state_dir: PathBuf) -> RunnerConfig {
        RunnerConfig {
            node: node.to_string(),
            state_dir,
            ocf_root: PathBuf::from("/usr/lib/ocf"),
            lsb_dir: PathBuf::from("/etc/init.d"),
            run_dir: None,
            fence_dirs: vec![PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")],
            shim_program: None,
            parallel_max: 8,
            output_max: 64 * 1024,
            fence_attempts: 2,
        }
    }
}

/// Carries out actions; cheap to share between tasks.
#[derive(Clone)]
pub struct Runner {
    cfg: Arc<RunnerConfig>,
    slots: Arc<Semaphore>,
    /// One lock per resource: its actions run one at a time.
    busy: Arc<Mutex<BTreeMap<String, Arc<Mutex<()>>>>>,
    supervisor: Arc<exec::Supervisor>,
}

impl Runner {
    pub fn new(cfg: RunnerConfig) -> Runner {
        let slots = Arc::new(Semaphore::new(cfg.parallel_max.max(1)));
        Runner {
            cfg: Arc::new(cfg),
            slots,
            busy: Arc::new(Mutex::new(BTreeMap::new())),
            supervisor: Arc::new(exec::Supervisor::default()),
        }
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.cfg
    }

    /// Carries out one action: waits for the resource's previous action and
    /// for a free slot, then runs it to its end or its deadline.
    pub async fn execute(&self, req: &ActionRequest) -> ActionResult {
        let lock = {
            let mut busy = self.busy.lock().await;
            busy.entry(req.rsc.clone()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        let Ok(_slot) = self.slots.acquire().await else {
            return failure(
                Outcome::Error,
                "the runner is shutting down",
                Duration::ZERO,
            );
        };
        let timeout = Duration::from_millis(req.timeout_ms.max(1));
        if req.secrets.is_empty() {
            return self.dispatch(req, timeout).await;
        }
        // The secrets' values exist only in this copy of the request, for
        // this run of the agent, and are masked in what it printed.
        let (values, errors) = secrets::Store::new(&self.cfg.state_dir).resolve(&req.secrets);
        if let Some(e) = errors.first() {
            // Nothing that needs the value may start without it; a stop or
            // a monitor runs anyway, without it (a stop that fails for want
            // of a secret would get the node fenced).
            if !matches!(req.action.as_str(), "stop" | "monitor" | "status") {
                return failure(Outcome::NotInstalled, &e.to_string(), Duration::ZERO);
            }
            tracing::warn!(rsc = %req.rsc, action = %req.action, "running without a secret: {e}");
        }
        let mut with = req.clone();
        with.params.extend(values.clone());
        with.secrets.clear();
        let mut r = self.dispatch(&with, timeout).await;
        r.output = secrets::mask(&r.output, &values);
        r.exit_reason = r.exit_reason.map(|x| secrets::mask(&x, &values));
        r
    }

    /// Runs the agent of `req`'s class.
    async fn dispatch(&self, req: &ActionRequest, timeout: Duration) -> ActionResult {
        match &req.agent {
            AgentRef::Ocf { provider, kind } => {
                ocf::run(&self.cfg, req, provider, kind, timeout).await
            }
            AgentRef::Lsb { name } => lsb::run(&self.cfg, req, name, timeout).await,
            AgentRef::Systemd { unit } => systemd::run(&self.cfg, req, unit, timeout).await,
            AgentRef::Service { name } if systemd::booted() => {
                systemd::run(&self.cfg, req, name, timeout).await
            }
            AgentRef::Service { name } => lsb::run(&self.cfg, req, name, timeout).await,
            AgentRef::Exec => exec::run(&self.supervisor, &self.cfg, req, timeout).await,
            AgentRef::Halo { name } => builtin::run(&self.cfg, req, name).await,
            AgentRef::Stonith { name } if name == builtin::FENCE => {
                builtin::fence(&self.cfg, req, timeout).await
            }
            AgentRef::Stonith { name } => fence::run(&self.cfg, req, name, timeout).await,
        }
    }
}

/// A result for an action that never got to run its agent.
pub(crate) fn failure(outcome: Outcome, why: &str, took: Duration) -> ActionResult {
    ActionResult {
        rc: None,
        outcome,
        duration_ms: ms(took),
        exit_reason: Some(why.to_string()),
        output: String::new(),
        promotion: None,
        attributes: Vec::new(),
        restart: None,
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The output an agent left: standard output, then standard error.
pub(crate) fn joined(f: &process::Finished) -> String {
    let mut s = f.stdout.clone();
    if !f.stderr.is_empty() {
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&f.stderr);
    }
    s
}

/// The last `ocf-exit-reason:` line an agent printed (on either stream).
pub(crate) fn exit_reason(f: &process::Finished) -> Option<String> {
    f.stderr
        .lines()
        .chain(f.stdout.lines())
        .filter_map(|l| l.split_once("ocf-exit-reason:").map(|(_, r)| r.trim()))
        .rfind(|r| !r.is_empty())
        .map(str::to_string)
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it
/// (created with `mode`), synced, then renamed over it.
pub(crate) fn write_synced(path: &std::path::Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{}.tmp", name.unwrap_or_default()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A resource name as a file name in the runner's state directory.
pub(crate) fn file_stem(rsc: &str) -> String {
    rsc.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs an agent's process; one that cannot be started at all is a
/// `not-installed` result, ready to return.
pub(crate) async fn run_agent(spawn: &process::Spawn) -> Result<process::Finished, ActionResult> {
    process::run(spawn).await.map_err(|e| {
        failure(
            Outcome::NotInstalled,
            &format!("cannot run {}: {e}", spawn.program.display()),
            Duration::ZERO,
        )
    })
}

/// The environment every agent starts from: a system `PATH` and the C locale.
pub(crate) fn base_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("PATH".to_string(), PATH.to_string()),
        ("LANG".to_string(), "C".to_string()),
    ])
}

/// The search path agents get: system directories only.
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
