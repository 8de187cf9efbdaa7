//! Fence agents (`stonith:fence_X`): the fence-agents standard-input protocol,
//! one `name=value` per line (`action=off`, the device's parameters, and the
//! target as `nodename=` and, through a host map or the agent's own
//! parameter, `plug=`). Power actions are retried; status says 0 on, 2 off.

use crate::process::{self, Spawn};
use crate::{failure, joined, ms, RunnerConfig};
use halo_proto::{ActionRequest, ActionResult, Outcome};
use std::path::PathBuf;
use std::time::Duration;

/// Device parameters that are Pacemaker's, not the agent's.
fn pacemaker_param(name: &str) -> bool {
    name.starts_with("pcmk_") || matches!(name, "provides" | "priority")
}

pub async fn run(
    cfg: &RunnerConfig,
    req: &ActionRequest,
    name: &str,
    timeout: Duration,
) -> ActionResult {
    let Some(program) = find(cfg, name) else {
        return failure(
            Outcome::NotInstalled,
            &format!(
                "no fence agent {name} in {}",
                cfg.fence_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Duration::ZERO,
        );
    };
    let action = match req.action.as_str() {
        "meta-data" => "metadata",
        other => other,
    };
    let power = matches!(action, "off" | "on" | "reboot");
    if power && req.target.is_none() {
        return failure(
            Outcome::InvalidArgs,
            &format!("`{action}` needs a target node"),
            Duration::ZERO,
        );
    }
    let stdin = input(req, action);
    let attempts = if power { cfg.fence_attempts.max(1) } else { 1 };
    let mut last = None;
    let mut took = Duration::ZERO;
    for _ in 0..attempts {
        let spawn = Spawn {
            program: program.clone(),
            args: Vec::new(),
            env: crate::base_env(),
            stdin: Some(stdin.clone().into_bytes()),
            timeout,
            output_max: cfg.output_max,
        };
        let f = match crate::run_agent(&spawn).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        took += f.duration;
        let outcome = match (f.timed_out, f.code) {
            (true, _) => Outcome::Timeout,
            (false, Some(0)) if matches!(action, "status" | "monitor") => Outcome::Running,
            (false, Some(0)) => Outcome::Success,
            (false, Some(2)) if action == "status" => Outcome::NotRunning,
            _ => Outcome::Error,
        };
        let done = outcome != Outcome::Error && outcome != Outcome::Timeout;
        last = Some(ActionResult {
            rc: f.code,
            outcome,
            duration_ms: ms(took),
            exit_reason: (!done).then(|| reason(&f, timeout)),
            output: joined(&f),
            promotion: None,
            attributes: Vec::new(),
            restart: None,
        });
        if done {
            break;
        }
    }
    last.unwrap_or_else(|| failure(Outcome::Error, "the fence agent did not run", took))
}

fn find(cfg: &RunnerConfig, name: &str) -> Option<PathBuf> {
    cfg.fence_dirs
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What the agent reads: the action, the device's own parameters, and the
/// target. `pcmk_host_map` (`node:plug;node2:plug2`) names the plug of each
/// node; `pcmk_host_argument` the parameter the plug goes in (default `plug`,
/// `none` for agents that take none).
fn input(req: &ActionRequest, action: &str) -> String {
    let mut lines = vec![format!("action={action}")];
    for (k, v) in &req.params {
        if !pacemaker_param(k) && k != "action" {
            lines.push(format!("{k}={v}"));
        }
    }
    if let Some(target) = &req.target {
        lines.push(format!("nodename={target}"));
        let mapped = req.params.get("pcmk_host_map").and_then(|map| {
            map.split([';', ' ', ','])
                .filter_map(|pair| pair.split_once(['=', ':']))
                .find(|(n, _)| n.trim() == target)
                .map(|(_, plug)| plug.trim().to_string())
        });
        let argument = req
            .params
            .get("pcmk_host_argument")
            .map_or("plug", String::as_str);
        if let (Some(plug), true) = (mapped, argument != "none") {
            lines.push(format!("{argument}={plug}"));
        }
    }
    lines.join("\n") + "\n"
}

fn reason(f: &process::Finished, timeout: Duration) -> String {
    if f.timed_out {
        return format!("timed out after {} ms: killed", ms(timeout));
    }
    f.stderr
        .lines()
        .chain(f.stdout.lines())
        .rfind(|l| !l.trim().is_empty())
        .map_or_else(
            || "the fence agent failed".to_string(),
            |l| l.trim().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo_proto::AgentRef;
    use std::collections::BTreeMap;

    #[test]
    fn the_target_goes_in_by_host_map() {
        let req = ActionRequest {
            rsc: "fence1".into(),
            agent: AgentRef::Stonith {
                name: "fence_ipmilan".into(),
            },
            action: "off".into(),
            params: BTreeMap::from([
                ("ip".to_string(), "10.0.0.9".to_string()),
                ("pcmk_host_map".to_string(), "n1:3;n2:4".to_string()),
                ("pcmk_delay_max".to_string(), "5s".to_string()),
            ]),
            meta: BTreeMap::new(),
            interval_ms: 0,
            timeout_ms: 1000,
            target: Some("n2".into()),
            secrets: BTreeMap::new(),
            view: None,
        };
        assert_eq!(
            input(&req, "off"),
            "action=off\nip=10.0.0.9\nnodename=n2\nplug=4\n"
        );
    }
}
