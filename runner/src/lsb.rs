//! LSB init scripts: `/etc/init.d/NAME start|stop|status`, their exit codes
//! mapped to outcomes (a monitor is `status`).

use crate::process::Spawn;
use crate::{failure, joined, ms, RunnerConfig};
use halo_proto::{ActionRequest, ActionResult, Outcome};
use std::time::Duration;

pub async fn run(
    cfg: &RunnerConfig,
    req: &ActionRequest,
    name: &str,
    timeout: Duration,
) -> ActionResult {
    let program = cfg.lsb_dir.join(name);
    if !program.is_file() {
        return failure(
            Outcome::NotInstalled,
            &format!("no init script at {}", program.display()),
            Duration::ZERO,
        );
    }
    let verb = match req.action.as_str() {
        "monitor" | "status" => "status",
        "start" | "stop" | "restart" | "force-reload" => req.action.as_str(),
        other => {
            return failure(
                Outcome::Unimplemented,
                &format!("LSB scripts have no `{other}` action"),
                Duration::ZERO,
            )
        }
    };
    let env = crate::base_env();
    let spawn = Spawn {
        program: program.clone(),
        args: vec![verb.to_string()],
        env,
        stdin: None,
        timeout,
        output_max: cfg.output_max,
    };
    let f = match crate::run_agent(&spawn).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let outcome = match (f.timed_out, f.code) {
        (true, _) => Outcome::Timeout,
        (false, None) => Outcome::Error,
        (false, Some(rc)) => outcome(verb, rc),
    };
    ActionResult {
        rc: f.code,
        outcome,
        duration_ms: ms(f.duration),
        exit_reason: f.timed_out.then(|| {
            format!(
                "timed out after {} ms: killed with everything it started",
                ms(timeout)
            )
        }),
        output: joined(&f),
        promotion: None,
        attributes: Vec::new(),
        restart: None,
    }
}

/// LSB's codes: `status` says 0 running, 1-3 not running (dead with a pid or
/// lock file left, or stopped), 4 unknown; the other actions say 0 success,
/// then as OCF does (1 generic ... 7 not running).
fn outcome(verb: &str, rc: i32) -> Outcome {
    if verb == "status" {
        return match rc {
            0 => Outcome::Running,
            1..=3 => Outcome::NotRunning,
            _ => Outcome::Error,
        };
    }
    Outcome::of_ocf(verb, rc)
}

#[cfg(test)]
mod tests {
    use super::outcome;
    use halo_proto::Outcome;

    #[test]
    fn status_codes_follow_lsb() {
        assert_eq!(outcome("status", 0), Outcome::Running);
        assert_eq!(outcome("status", 3), Outcome::NotRunning);
        assert_eq!(outcome("status", 1), Outcome::NotRunning);
        assert_eq!(outcome("status", 4), Outcome::Error);
        assert_eq!(outcome("start", 0), Outcome::Success);
        assert_eq!(outcome("start", 5), Outcome::NotInstalled);
    }
}
