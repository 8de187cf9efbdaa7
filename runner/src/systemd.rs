//! systemd units, through `systemctl`. A node whose init is not systemd
//! cannot run them, and says so.

use crate::process::Spawn;
use crate::{failure, joined, ms, RunnerConfig};
use halo_proto::{ActionRequest, ActionResult, Outcome};
use std::path::Path;
use std::time::Duration;

/// Whether this node was booted with systemd (systemd's own `sd_booted` test).
pub fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

pub async fn run(
    cfg: &RunnerConfig,
    req: &ActionRequest,
    unit: &str,
    timeout: Duration,
) -> ActionResult {
    if !booted() {
        return failure(
            Outcome::NotInstalled,
            &format!(
                "systemd:{unit} cannot run on {}: systemd is not this node's init \
                 (no /run/systemd/system); use an lsb: or exec resource there",
                cfg.node
            ),
            Duration::ZERO,
        );
    }
    let unit = if unit.contains('.') {
        unit.to_string()
    } else {
        format!("{unit}.service")
    };
    let args: Vec<String> = match req.action.as_str() {
        "start" | "stop" => vec![req.action.clone(), unit.clone()],
        "monitor" | "status" => vec!["is-active".into(), "--quiet".into(), unit.clone()],
        other => {
            return failure(
                Outcome::Unimplemented,
                &format!("systemd units have no `{other}` action"),
                Duration::ZERO,
            )
        }
    };
    let spawn = Spawn {
        program: "/bin/systemctl".into(),
        args,
        env: crate::base_env(),
        stdin: None,
        timeout,
        output_max: cfg.output_max,
    };
    let f = match crate::run_agent(&spawn).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let monitor = matches!(req.action.as_str(), "monitor" | "status");
    let outcome = match (f.timed_out, f.code) {
        (true, _) => Outcome::Timeout,
        (false, Some(0)) if monitor => Outcome::Running,
        (false, Some(0)) => Outcome::Success,
        (false, Some(_)) if monitor => Outcome::NotRunning,
        _ => Outcome::Error,
    };
    ActionResult {
        rc: f.code,
        outcome,
        duration_ms: ms(f.duration),
        exit_reason: None,
        output: joined(&f),
        promotion: None,
        attributes: Vec::new(),
        restart: None,
    }
}
