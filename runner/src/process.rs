//! Running one agent process: its own process group, a deadline after which
//! the whole group is killed, standard input written and closed, and output
//! captured up to a bound.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How long output is still read after the agent exits: something it left
/// running may hold its pipes open.
const OUTPUT_GRACE: Duration = Duration::from_millis(200);

/// One process to run.
#[derive(Clone, Debug, Default)]
pub struct Spawn {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment: nothing is inherited from the runner.
    pub env: BTreeMap<String, String>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Bytes kept of each of standard output and standard error.
    pub output_max: usize,
}

/// How it ended.
#[derive(Clone, Debug, Default)]
pub struct Finished {
    /// The exit code; `None` when it was killed or died of a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

/// Runs `s` to completion or to its deadline. An error only when it could not
/// be started at all.
pub async fn run(s: &Spawn) -> std::io::Result<Finished> {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&s.program);
    cmd.args(&s.args)
        .env_clear()
        .envs(&s.env)
        .stdin(if s.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that a timeout kills everything it started.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    if let (Some(input), Some(mut pipe)) = (s.stdin.clone(), child.stdin.take()) {
        // An agent that does not read its input must not block the runner.
        tokio::spawn(async move {
            let _ = pipe.write_all(&input).await;
            let _ = pipe.shutdown().await;
        });
    }
    let out = tokio::spawn(read_bounded(child.stdout.take(), s.output_max));
    let err = tokio::spawn(read_bounded(child.stderr.take(), s.output_max));
    let (code, timed_out) = match tokio::time::timeout(s.timeout, child.wait()).await {
        Ok(status) => (status.ok().and_then(|st| st.code()), false),
        Err(_) => {
            kill_group(pid);
            let _ = child.wait().await;
            (None, true)
        }
    };
    let collect = |h: tokio::task::JoinHandle<String>| async move {
        match tokio::time::timeout(OUTPUT_GRACE, h).await {
            Ok(Ok(text)) => text,
            _ => String::new(),
        }
    };
    let stdout = collect(out).await;
    let stderr = collect(err).await;
    Ok(Finished {
        code,
        timed_out,
        stdout,
        stderr,
        duration: started.elapsed(),
    })
}

/// Kills the process group led by `pid` (the agent and all it started).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Reads a pipe to its end, keeping the first `max` bytes (lossy UTF-8).
async fn read_bounded<R: AsyncRead + Unpin>(pipe: Option<R>, max: usize) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let mut cut = false;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = max.saturating_sub(kept.len());
                kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                cut |= n > room;
            }
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if cut {
        text.push_str("\n[output cut: more than the runner keeps]\n");
    }
    text
}
