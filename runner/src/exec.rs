//! The `exec` class: a plain command supervised as a service, for programs
//! that have no agent. Parameters: `command` (a shell command line, run by
//! `/bin/sh -c` in its own process group, so `cd DIR && prog` works; output
//! appended to a log in the runner's state directory; only start needs it),
//! `health` (a command whose exit 0 means healthy, run by each monitor), and
//! `stop_signal` (TERM by default; KILL follows when the stop runs out of
//! time). Start waits a moment and fails if the command has already exited.

use crate::process::{self, Spawn};
use crate::{failure, joined, ms, RunnerConfig};
use halo_proto::{ActionRequest, ActionResult, Outcome};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Mutex};

/// How long a start watches the command before calling it started.
const SETTLE: Duration = Duration::from_millis(300);

/// Commands this runner started, by resource: their pid and, once they have
/// exited, their status (the runner reaps them).
#[derive(Default)]
pub struct Supervisor {
    children: Mutex<BTreeMap<String, Child>>,
}

#[derive(Clone)]
struct Child {
    pid: u32,
    exited: watch::Receiver<Option<i32>>,
}

impl Child {
    fn running(&self) -> bool {
        self.exited.borrow().is_none()
    }
}

pub async fn run(
    sup: &Supervisor,
    cfg: &RunnerConfig,
    req: &ActionRequest,
    timeout: Duration,
) -> ActionResult {
    let started = Instant::now();
    let command = req.params.get("command").filter(|c| !c.trim().is_empty());
    let files = Files::of(cfg, &req.rsc);
    // Only a start needs the command: a stop or a monitor asks about the
    // process this runner started, so a resource whose command is missing
    // (it could never have started) stops successfully instead of failing
    // its stop, which would fence the node.
    match (req.action.as_str(), command) {
        ("start" | "validate-all", None) => failure(
            Outcome::NotConfigured,
            "an exec resource needs a `command` parameter",
            Duration::ZERO,
        ),
        ("start", Some(command)) => start(sup, cfg, req, command, &files, timeout, started).await,
        ("stop", _) => stop(sup, req, &files, timeout, started).await,
        ("monitor" | "status", _) => monitor(sup, cfg, req, &files, timeout, started).await,
        ("validate-all" | "meta-data", _) => ok(Outcome::Success, started),
        (other, _) => failure(
            Outcome::Unimplemented,
            &format!("exec has no `{other}` action"),
            Duration::ZERO,
        ),
    }
}

struct Files {
    pid: PathBuf,
    log: PathBuf,
}

impl Files {
    fn of(cfg: &RunnerConfig, rsc: &str) -> Files {
        let base = crate::file_stem(rsc);
        let dir = cfg.state_dir.join("exec");
        Files {
            pid: dir.join(format!("{base}.pid")),
            log: dir.join(format!("{base}.log")),
        }
    }
}

fn ok(outcome: Outcome, started: Instant) -> ActionResult {
    ActionResult {
        rc: Some(if outcome == Outcome::NotRunning { 7 } else { 0 }),
        outcome,
        duration_ms: ms(started.elapsed()),
        exit_reason: None,
        output: String::new(),
        promotion: None,
        attributes: Vec::new(),
        restart: None,
    }
}

/// The command's process, if it runs: the one this runner started, or (after
/// a runner restart) the one its pid file names.
async fn current(sup: &Supervisor, rsc: &str, files: &Files) -> Option<u32> {
    if let Some(c) = sup.children.lock().await.get(rsc) {
        return c.running().then_some(c.pid);
    }
    let pid: u32 = std::fs::read_to_string(&files.pid)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

/// Whether a process exists, is not a zombie, and leads its own process
/// group as the commands this runner starts do (a pid file naming a pid
/// since reused by an unrelated process must not get that process signalled).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')').map(|(_, rest)| {
                rest.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
        })
        .is_some_and(|f| {
            let state = f.first().map(String::as_str);
            let group = f.get(2).and_then(|g| g.parse::<u32>().ok());
            !matches!(state, Some("Z" | "X") | None) && group == Some(pid)
        })
}

async fn start(
    sup: &Supervisor,
    cfg: &RunnerConfig,
    req: &ActionRequest,
    command: &str,
    files: &Files,
    timeout: Duration,
    started: Instant,
) -> ActionResult {
    if current(sup, &req.rsc, files).await.is_some() {
        return ok(Outcome::Success, started);
    }
    if let Some(dir) = files.pid.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return failure(
                Outcome::Error,
                &format!("cannot create {}: {e}", dir.display()),
                started.elapsed(),
            );
        }
    }
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .and_then(|f| Ok((f.try_clone()?, f)));
    let (out, err) = match opened {
        Ok(pair) => pair,
        Err(e) => {
            return failure(
                Outcome::Error,
                &format!("cannot open {}: {e}", files.log.display()),
                started.elapsed(),
            )
        }
    };
    let mut env: BTreeMap<String, String> = BTreeMap::from([
        ("PATH".to_string(), crate::PATH.to_string()),
        ("LANG".to_string(), "C".to_string()),
        ("HALO_RESOURCE".to_string(), req.rsc.clone()),
        ("HALO_NODE".to_string(), cfg.node.clone()),
    ]);
    if let Some(home) = std::env::var_os("HOME") {
        env.insert("HOME".into(), home.to_string_lossy().into_owned());
    }
    // The command is a shell command line: `cd /srv && ./serve`, pipes and
    // redirections work as in a terminal. The shell leads the process
    // group that a stop signals, so every process it started goes too. It
    // reaches the shell through its environment, not its arguments, which
    // any user can read (the command may be a secret).
    env.insert("HALO_COMMAND".into(), command.to_string());
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("c=$HALO_COMMAND; unset HALO_COMMAND; eval \"$c\"")
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return failure(
                Outcome::NotInstalled,
                &format!("cannot run /bin/sh: {e}"),
                started.elapsed(),
            )
        }
    };
    let Some(pid) = child.id() else {
        return failure(
            Outcome::Error,
            "the command exited before it could be watched",
            started.elapsed(),
        );
    };
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let code = child.wait().await.ok().map(|s| s.code().unwrap_or(-1));
        let _ = tx.send(Some(code.unwrap_or(-1)));
    });
    let _ = std::fs::write(&files.pid, format!("{pid}\n"));
    let entry = Child { pid, exited: rx };
    sup.children
        .lock()
        .await
        .insert(req.rsc.clone(), entry.clone());
    // It must still run a moment later (a typo exits at once).
    tokio::time::sleep(SETTLE.min(timeout / 2)).await;
    if let Some(code) = *entry.exited.borrow() {
        let tail = std::fs::read_to_string(&files.log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(5).collect();
        return ActionResult {
            rc: Some(1),
            outcome: Outcome::Error,
            duration_ms: ms(started.elapsed()),
            exit_reason: Some(format!("the command exited at once with status {code}")),
            output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            promotion: None,
            attributes: Vec::new(),
            restart: None,
        };
    }
    ok(Outcome::Success, started)
}

async fn stop(
    sup: &Supervisor,
    req: &ActionRequest,
    files: &Files,
    timeout: Duration,
    started: Instant,
) -> ActionResult {
    let Some(pid) = current(sup, &req.rsc, files).await else {
        let _ = std::fs::remove_file(&files.pid);
        return ok(Outcome::Success, started);
    };
    let signal = req
        .params
        .get("stop_signal")
        .map(|s| format!("SIG{}", s.trim_start_matches("SIG").to_ascii_uppercase()))
        .and_then(|s| Signal::from_str(&s).ok())
        .unwrap_or(Signal::SIGTERM);
    let group = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    let _ = killpg(group, signal);
    // Most of the stop's time is the command's to exit; then it is killed.
    let patience = timeout.mul_f64(0.8);
    while started.elapsed() < patience {
        if gone(sup, &req.rsc, pid).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !gone(sup, &req.rsc, pid).await {
        let _ = killpg(group, Signal::SIGKILL);
        while started.elapsed() < timeout && !gone(sup, &req.rsc, pid).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if !gone(sup, &req.rsc, pid).await {
        return failure(
            Outcome::Timeout,
            &format!("process {pid} survived SIGKILL"),
            started.elapsed(),
        );
    }
    sup.children.lock().await.remove(&req.rsc);
    let _ = std::fs::remove_file(&files.pid);
    ok(Outcome::Success, started)
}

/// Whether the command has exited (reaped by this runner, or gone).
async fn gone(sup: &Supervisor, rsc: &str, pid: u32) -> bool {
    match sup.children.lock().await.get(rsc) {
        Some(c) => !c.running(),
        None => !alive(pid),
    }
}

async fn monitor(
    sup: &Supervisor,
    cfg: &RunnerConfig,
    req: &ActionRequest,
    files: &Files,
    timeout: Duration,
    started: Instant,
) -> ActionResult {
    if current(sup, &req.rsc, files).await.is_none() {
        return ok(Outcome::NotRunning, started);
    }
    let Some(health) = req.params.get("health").filter(|h| !h.trim().is_empty()) else {
        return ok(Outcome::Running, started);
    };
    let spawn = Spawn {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), health.clone()],
        env: BTreeMap::from([
            ("PATH".to_string(), crate::PATH.to_string()),
            ("HALO_RESOURCE".to_string(), req.rsc.clone()),
        ]),
        stdin: None,
        timeout: timeout.saturating_sub(started.elapsed()),
        output_max: cfg.output_max,
    };
    match process::run(&spawn).await {
        Ok(f) => ActionResult {
            rc: f.code,
            outcome: match (f.timed_out, f.code) {
                (true, _) => Outcome::Timeout,
                (false, Some(0)) => Outcome::Running,
                _ => Outcome::Error,
            },
            duration_ms: ms(started.elapsed()),
            exit_reason: (f.code != Some(0)).then(|| "the health check failed".to_string()),
            output: joined(&f),
            promotion: None,
            attributes: Vec::new(),
            restart: None,
        },
        Err(e) => failure(
            Outcome::Error,
            &format!("cannot run the health check: {e}"),
            started.elapsed(),
        ),
    }
}
