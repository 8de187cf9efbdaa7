//! Self-fencing with fencing off: a watchdog process beside the node's own.
//!
//! With fencing off, a node cut off from the leader must stop what it runs
//! before the majority starts it elsewhere. The runner does so when its lease
//! runs out — if it can: a node process that hangs (frozen, swapping, stuck
//! in the kernel) or crashes stops nothing. So the node process starts a
//! small watchdog process (`halo watchdog`, the same binary) and feeds it
//! through a pipe while it holds a valid lease. When the feeding stops for
//! `watchdog_ms` while armed, or the pipe closes (the node process ended),
//! the watchdog kills the node process — nothing it was about to do can
//! happen any more — and stops everything the node ran, with the stop
//! requests the runner kept it up to date with. The majority waits twice
//! the watchdog's timeout on top of the lease and the stop timeouts, as
//! Pacemaker's `stonith-watchdog-timeout` is twice SBD's watchdog timeout.
//!
//! What it guards against: a halo process that hangs, is killed, or exits
//! while it holds a lease. What it does not: a hung kernel or a machine that
//! freezes whole, which freezes the watchdog too — that takes a hardware
//! watchdog device resetting the machine (not supported yet).

use crate::Runner;
use halo_proto::watchdog::{WatchdogMsg, MESSAGE_MAX};
use halo_proto::ActionRequest;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tracing::{error, info, warn};

/// The runner's end: the watchdog process and the pipe that feeds it.
pub struct Feeder {
    program: PathBuf,
    config: PathBuf,
    child: Option<(tokio::process::Child, tokio::process::ChildStdin)>,
    /// The stop requests last sent, so that only changes are sent again.
    sent: Option<Vec<ActionRequest>>,
    armed: bool,
}

impl Feeder {
    /// Starts `PROGRAM watchdog --config CONFIG --pid THIS-PROCESS`.
    pub fn spawn(program: &Path, config: &Path) -> Result<Feeder, String> {
        let mut f = Feeder {
            program: program.to_path_buf(),
            config: config.to_path_buf(),
            child: None,
            sent: None,
            armed: false,
        };
        f.start()?;
        Ok(f)
    }

    fn start(&mut self) -> Result<(), String> {
        let mut child = tokio::process::Command::new(&self.program)
            .arg("watchdog")
            .arg("--config")
            .arg(&self.config)
            .arg("--pid")
            .arg(std::process::id().to_string())
            .stdin(std::process::Stdio::piped())
            // Its own process group: a terminal's Ctrl-C that stops the node
            // must not take its watchdog along.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the watchdog {}: {e}", self.program.display()))?;
        let stdin = child
            .stdin
            .take()
            .ok_or("the watchdog process has no standard input")?;
        info!(pid = child.id(), "watchdog process started");
        self.child = Some((child, stdin));
        self.sent = None;
        self.armed = false;
        Ok(())
    }

    async fn send(&mut self, m: &WatchdogMsg) -> Result<(), String> {
        let bytes = m.encode()?;
        if self.child.is_none() {
            self.start()?;
        }
        let Some((_, stdin)) = self.child.as_mut() else {
            return Err("no watchdog process".into());
        };
        if let Err(e) = stdin.write_all(&bytes).await {
            // It died (it fired, or was killed): a new one, told everything.
            error!("the watchdog process is gone ({e}): starting another");
            self.child = None;
            return Err(e.to_string());
        }
        Ok(())
    }

    /// The runner holds a valid lease and runs what `stops` undo: the
    /// watchdog is armed, its countdown starts again.
    pub async fn feed(&mut self, stops: Vec<ActionRequest>) {
        if self.sent.as_ref() != Some(&stops) {
            if self.send(&WatchdogMsg::Stops(stops.clone())).await.is_err() {
                return;
            }
            self.sent = Some(stops);
        }
        if self.send(&WatchdogMsg::Feed).await.is_ok() && !self.armed {
            self.armed = true;
            info!("watchdog armed: this node holds a lease");
        }
    }

    /// Nothing to guard (no lease, or what ran was stopped).
    pub async fn disarm(&mut self) {
        if self.armed && self.send(&WatchdogMsg::Disarm).await.is_ok() {
            self.armed = false;
            info!("watchdog disarmed: this node holds no lease");
        }
    }
}

/// The watchdog process: reads the runner's messages on standard input until
/// it must fire or the runner ends while disarmed.
pub async fn watch(runner: Runner, parent: u32, timeout: Duration) -> Result<(), String> {
    let mut input = tokio::io::stdin();
    let mut armed = false;
    let mut stops: Vec<ActionRequest> = Vec::new();
    loop {
        let next = if armed {
            match tokio::time::timeout(timeout, read(&mut input)).await {
                Ok(m) => m,
                Err(_) => {
                    let why = format!("no word from the runner for {} ms", timeout.as_millis());
                    fire(&runner, parent, &stops, &why).await;
                    return Ok(());
                }
            }
        } else {
            read(&mut input).await
        };
        match next {
            Ok(Some(WatchdogMsg::Feed)) => armed = true,
            Ok(Some(WatchdogMsg::Stops(s))) => stops = s,
            Ok(Some(WatchdogMsg::Disarm)) => armed = false,
            Ok(None) if armed => {
                fire(
                    &runner,
                    parent,
                    &stops,
                    "the node process ended holding a lease",
                )
                .await;
                return Ok(());
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                if armed {
                    fire(&runner, parent, &stops, &e).await;
                }
                return Err(e);
            }
        }
    }
}

/// The next message; `None` at the end of the input.
async fn read(input: &mut (impl AsyncRead + Unpin)) -> Result<Option<WatchdogMsg>, String> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("cannot read from the runner: {e}")),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MESSAGE_MAX {
        return Err(format!(
            "a message of {len} bytes from the runner is too long"
        ));
    }
    let mut body = vec![0u8; len];
    input
        .read_exact(&mut body)
        .await
        .map_err(|e| format!("cannot read from the runner: {e}"))?;
    WatchdogMsg::decode(&body).map(Some)
}

/// Kills the node process, then stops everything it ran.
async fn fire(runner: &Runner, parent: u32, stops: &[ActionRequest], why: &str) {
    error!(
        "watchdog fires: {why}; killing the node process {parent} and stopping the {} resources it ran",
        stops.len()
    );
    // Only our own parent: once it has died, its pid may be another's.
    let ours = nix::unistd::getppid().as_raw().unsigned_abs() == parent;
    if let (true, Ok(pid)) = (ours, i32::try_from(parent)) {
        let pid = nix::unistd::Pid::from_raw(pid);
        if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
            warn!("cannot kill the node process {parent}: {e}");
        }
    }
    let mut jobs = tokio::task::JoinSet::new();
    for req in stops.iter().cloned() {
        let runner = runner.clone();
        jobs.spawn(async move {
            let r = runner.execute(&req).await;
            (req.rsc, r.outcome)
        });
    }
    while let Some(done) = jobs.join_next().await {
        match done {
            Ok((rsc, outcome)) => info!(%rsc, %outcome, "stopped by the watchdog"),
            Err(e) => error!("a stop by the watchdog did not finish: {e}"),
        }
    }
}

/// What the node has for a watchdog: the process one always; a hardware
/// device (`/dev/watchdog`) is detected and reported, not used yet.
pub fn describe() -> String {
    if Path::new("/dev/watchdog").exists() {
        "a watchdog process (/dev/watchdog exists but hardware watchdogs are not supported yet)"
            .into()
    } else {
        "a watchdog process (no watchdog device on this machine)".into()
    }
}
