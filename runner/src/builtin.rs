//! Agents built into the runner, for demos and tests on machines without
//! resource-agents: `halo:dummy` (a service that is started or not, as a state
//! file says) and `halo:stateful` (the same with a promoted role and promotion
//! scores, 5 unpromoted and 10 promoted, as `ocf:pacemaker:Stateful` reports).
//!
//! Parameters: `state` (the state file; default under the runner's state
//! directory), `delay` (seconds each action takes, to exercise timeouts). A
//! file `STATE.rc` holding a number makes monitors return it (a test hook,
//! like Stateful's).

use crate::{failure, ms, RunnerConfig};
use halo_proto::{ActionRequest, ActionResult, Outcome, PromotionChange};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The built-in fence agent: `stonith:fence_halo`.
pub const FENCE: &str = "fence_halo";

/// The file in a node's state directory holding its halo process's id.
pub const PID_FILE: &str = "halo.pid";

/// The runtime directory of a local node (`halo up`) in its state directory:
/// `fence_halo` empties it when it powers the node off.
pub const RUN_DIR: &str = "run";

const SCORE_UNPROMOTED: i64 = 5;
const SCORE_PROMOTED: i64 = 10;

pub async fn run(cfg: &RunnerConfig, req: &ActionRequest, name: &str) -> ActionResult {
    let started = Instant::now();
    let timeout = Duration::from_millis(req.timeout_ms.max(1));
    let stateful = name == "stateful";
    let work = async {
        if let Some(delay) = req.params.get("delay").and_then(|d| d.parse::<f64>().ok()) {
            tokio::time::sleep(Duration::from_secs_f64(delay.clamp(0.0, 86_400.0))).await;
        }
        act(cfg, req, stateful)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((rc, promotion, reason)) => ActionResult {
            rc: Some(rc),
            outcome: Outcome::of_ocf(&req.action, rc),
            duration_ms: ms(started.elapsed()),
            exit_reason: reason,
            output: if req.action == "meta-data" {
                metadata(name).unwrap_or_default()
            } else {
                String::new()
            },
            promotion,
            attributes: Vec::new(),
            restart: None,
        },
        Err(_) => failure(
            Outcome::Timeout,
            &format!("timed out after {} ms", ms(timeout)),
            started.elapsed(),
        ),
    }
}

fn state_file(cfg: &RunnerConfig, req: &ActionRequest) -> PathBuf {
    match req.params.get("state") {
        Some(p) => PathBuf::from(p),
        None => cfg
            .state_dir
            .join("builtin")
            .join(format!("{}.state", crate::file_stem(&req.rsc))),
    }
}

/// (OCF exit code, promotion change, exit reason)
fn act(
    cfg: &RunnerConfig,
    req: &ActionRequest,
    stateful: bool,
) -> (i32, Option<PromotionChange>, Option<String>) {
    let file = state_file(cfg, req);
    let now = std::fs::read_to_string(&file).ok();
    let promoted = now.as_deref().map(str::trim) == Some("promoted");
    let write = |what: &str| -> Result<(), String> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&file, what).map_err(|e| format!("cannot write {}: {e}", file.display()))
    };
    let score = |n: i64| stateful.then_some(PromotionChange::Set(n));
    let err = |e: String| (1, None, Some(e));
    match req.action.as_str() {
        "start" => match write("started") {
            Ok(()) => (0, score(SCORE_UNPROMOTED), None),
            Err(e) => err(e),
        },
        "stop" => match std::fs::remove_file(&file) {
            Ok(()) => (0, stateful.then_some(PromotionChange::Delete), None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, None, None),
            Err(e) => err(format!("cannot remove {}: {e}", file.display())),
        },
        "monitor" | "status" => {
            let hook = PathBuf::from(format!("{}.rc", file.display()));
            if let Some(rc) = std::fs::read_to_string(&hook)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return (rc, None, Some(format!("{} says {rc}", hook.display())));
            }
            match (&now, promoted) {
                (None, _) => (7, None, None),
                (Some(_), true) => (8, None, None),
                (Some(_), false) => (0, None, None),
            }
        }
        "promote" | "demote" if !stateful => {
            (3, None, Some("halo:dummy has no promoted role".into()))
        }
        "promote" if now.is_none() => (7, None, Some("not running".into())),
        "promote" => match write("promoted") {
            Ok(()) => (0, score(SCORE_PROMOTED), None),
            Err(e) => err(e),
        },
        "demote" if now.is_none() => (7, None, Some("not running".into())),
        "demote" => match write("started") {
            Ok(()) => (0, score(SCORE_UNPROMOTED), None),
            Err(e) => err(e),
        },
        "validate-all" | "meta-data" | "notify" | "reload" => (0, None, None),
        other => (3, None, Some(format!("no `{other}` action"))),
    }
}

/// The built-in agents' meta-data, in the OCF format.
pub fn metadata(name: &str) -> Option<String> {
    let (desc, promotable) = match name {
        "dummy" => (
            "A service that runs or not, as its state file says (built into the runner)",
            false,
        ),
        "stateful" => (
            "A service with a promoted role, reporting promotion scores (built into the runner)",
            true,
        ),
        _ => return None,
    };
    let roles = if promotable {
        r#"
    <action name="promote" timeout="10s"/>
    <action name="demote" timeout="10s"/>
    <action name="monitor" timeout="10s" interval="10s" role="Promoted" depth="0"/>
    <action name="monitor" timeout="10s" interval="11s" role="Unpromoted" depth="0"/>"#
    } else {
        r#"
    <action name="monitor" timeout="10s" interval="10s" depth="0"/>"#
    };
    Some(format!(
        r#"<?xml version="1.0"?>
<resource-agent name="{name}" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">{desc}</shortdesc>
  <longdesc lang="en">{desc}</longdesc>
  <parameters>
    <parameter name="state" unique="1" required="0">
      <shortdesc lang="en">State file</shortdesc>
      <content type="string"/>
    </parameter>
    <parameter name="delay" unique="0" required="0">
      <shortdesc lang="en">Seconds each action takes</shortdesc>
      <content type="string" default="0"/>
    </parameter>
  </parameters>
  <actions>
    <action name="start" timeout="10s"/>
    <action name="stop" timeout="10s"/>{roles}
    <action name="meta-data" timeout="5s"/>
    <action name="validate-all" timeout="5s"/>
  </actions>
</resource-agent>
"#
    ))
}

/// `stonith:fence_halo`: "powers off" a node of a cluster whose nodes all run
/// on this machine (`halo up`) by killing the node's halo process, whose id
/// its state directory holds, and waiting until it is gone. `on` cannot be
/// done (nothing restarts a process); `monitor`, `status` and `list` answer.
pub async fn fence(cfg: &RunnerConfig, req: &ActionRequest, timeout: Duration) -> ActionResult {
    let started = Instant::now();
    let done = |outcome: Outcome, rc: i32, reason: Option<String>| ActionResult {
        rc: Some(rc),
        outcome,
        duration_ms: ms(started.elapsed()),
        exit_reason: reason,
        output: String::new(),
        promotion: None,
        attributes: Vec::new(),
        restart: None,
    };
    let action = req.action.as_str();
    if matches!(
        action,
        "monitor" | "status" | "list" | "metadata" | "meta-data"
    ) {
        // Like a fence agent whose device answers: monitor and status say
        // "running" (fence.rs), the rest succeed.
        return done(
            if matches!(action, "status" | "monitor") {
                Outcome::Running
            } else {
                Outcome::Success
            },
            0,
            None,
        );
    }
    if !matches!(action, "off" | "reboot") {
        return failure(
            Outcome::Unimplemented,
            &format!("fence_halo cannot `{action}`: it only powers nodes off"),
            started.elapsed(),
        );
    }
    let Some(target) = req.target.as_deref() else {
        return failure(Outcome::InvalidArgs, "no target node", started.elapsed());
    };
    let root = match req.params.get("state_root") {
        Some(r) => PathBuf::from(r),
        None => cfg
            .state_dir
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    };
    let pid_file = root.join(crate::file_stem(target)).join(PID_FILE);
    let pid = match std::fs::read_to_string(&pid_file) {
        Ok(t) => t.trim().parse::<i32>().ok(),
        // No process was ever started there: it is off.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return failure(
                Outcome::Error,
                &format!("cannot read {}: {e}", pid_file.display()),
                started.elapsed(),
            )
        }
    };
    if let Some(pid) = pid.filter(|p| is_halo(*p)) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        while is_halo(pid) {
            if started.elapsed() >= timeout {
                return failure(
                    Outcome::Timeout,
                    &format!("process {pid} of {target} is still there after SIGKILL"),
                    started.elapsed(),
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Off, as after a power cut: what the node's agents kept in its runtime
    // directory (a tmpfs on a real node) is gone.
    let run = root.join(crate::file_stem(target)).join(RUN_DIR);
    match std::fs::remove_dir_all(&run) {
        Ok(()) => done(Outcome::Success, 0, None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => done(Outcome::Success, 0, None),
        Err(e) => failure(
            Outcome::Error,
            &format!(
                "{target} is off, but its runtime directory {} stays: {e}",
                run.display()
            ),
            started.elapsed(),
        ),
    }
}

/// Whether process `pid` lives and is a halo process (not a reused id).
fn is_halo(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // A zombie is dead already: only its parent has not reaped it yet.
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    !zombie && cmd.windows(4).any(|w| w == b"halo")
}
