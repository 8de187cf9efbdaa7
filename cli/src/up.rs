//! `halo up`: a whole cluster on this machine. It makes the certificates in a
//! directory, starts one `halo runner` process per node (each with its
//! controller replica) on its own loopback address, applies the policy and
//! shows the live status until Ctrl-C, which stops every process.

use crate::live::{render_status, Admin, Conn};
use crate::load::InputError;
use crate::Exit;
use clap::Args;
use halo_controller::rpc::{CtlRequest, CtlResponse};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Args)]
pub struct UpArgs {
    /// The policy to run. Its nodes become the local nodes. Default: a
    /// quickstart with a group and a promotable clone on built-in agents.
    file: Option<PathBuf>,
    /// Nodes of the quickstart (ignored with a policy file, whose nodes count).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Where to keep the cluster's files (default: a new temporary
    /// directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The runners' UDP port (controllers use the next one).
    #[arg(long, default_value_t = 7420)]
    port: u16,
    /// Start, apply and print the status once, then stop everything (for
    /// scripts).
    #[arg(long)]
    once: bool,
}

/// The quickstart's resources, after a generated cluster block.
const QUICKSTART: &str = include_str!("up.ha");

/// The first node's loopback address is 127.0.0.11, the next .12, ...
const FIRST_HOST: u8 = 11;

fn quickstart(nodes: usize) -> String {
    let names: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
    let mut out = String::from("cluster demo {\n");
    for n in &names {
        out.push_str(&format!("  node {n}\n"));
    }
    let quorum = if nodes == 2 { "two-node" } else { "majority" };
    out.push_str(&format!("  quorum {quorum}\n  fencing on\n}}\n\n"));
    out.push_str(&format!(
        "fence power: fence_halo {{\n  targets {}\n}}\n\n",
        names.join(" ")
    ));
    out.push_str(QUICKSTART);
    out
}

/// The processes of the cluster; dropping it stops them all.
struct Procs {
    children: Vec<(String, Child)>,
    dir: PathBuf,
    keep: bool,
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
        }
        for (_, c) in &mut self.children {
            let _ = c.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn run(a: &UpArgs) -> Result<Exit, InputError> {
    let (name, text) = match &a.file {
        Some(f) => (f.display().to_string(), crate::load::read_text(f)?),
        None => {
            if !(1..=9).contains(&a.nodes) {
                return Err(InputError::usage("--nodes takes 1 to 9"));
            }
            ("quickstart.ha".to_string(), quickstart(a.nodes))
        }
    };
    let loaded = crate::load::compile_text(&name, text.clone());
    errp!("{}", loaded.render(false));
    let Some(policy) = loaded.policy() else {
        return Ok(Exit::Policy);
    };
    let names: Vec<String> = policy
        .cluster
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect();
    if names.len() > 200 {
        return Err(InputError::usage("halo up runs at most 200 nodes"));
    }
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("halo-up-{}", std::process::id())),
    };
    let addr = |i: usize| {
        let host = FIRST_HOST.saturating_add(u8::try_from(i).unwrap_or(u8::MAX));
        SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), a.port))
    };
    let nodes: Vec<(String, SocketAddr)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), addr(i)))
        .collect();
    // Two nodes get a witness, the third vote.
    let witnesses: Vec<(String, SocketAddr)> = if nodes.len() == 2 {
        let w = addr(2);
        vec![(
            "witness".to_string(),
            SocketAddr::new(w.ip(), a.port.wrapping_add(1)),
        )]
    } else {
        Vec::new()
    };
    let options = halo_net::identity::InitOptions::default();
    halo_net::identity::init(&policy.cluster.name, &nodes, &witnesses, &dir, &options)
        .map_err(InputError::usage)?;
    for (n, _) in &nodes {
        give_own_run_dir(&dir, n)?;
    }
    let rt = crate::live::runtime()?;
    let _in_rt = rt.enter();
    // Ctrl-C from now on stops the cluster (dropping `procs`), whatever
    // `halo up` is waiting for — even a node still starting. One listener
    // for the whole run: a signal that comes while no future is waiting on
    // it is kept for the next wait.
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| InputError {
        message: format!("cannot listen for Ctrl-C: {e}"),
        code: 1,
    })?;
    let mut procs = Procs {
        children: Vec::new(),
        dir: dir.clone(),
        keep: a.dir.is_some(),
    };
    let exe = std::env::current_exe()
        .map_err(|e| InputError::usage(format!("cannot find the halo binary: {e}")))?;
    for (n, _) in &nodes {
        procs
            .children
            .push((n.clone(), spawn(&exe, &dir, "runner", n)?));
    }
    for (w, _) in &witnesses {
        procs
            .children
            .push((w.clone(), spawn(&exe, &dir, "witness", w)?));
    }
    let admin = Admin::connect(&Conn {
        config: dir.join("admin.toml"),
    })?;
    errln!(
        "halo up: {} nodes on {} (files and logs in {})",
        nodes.len(),
        nodes
            .iter()
            .map(|(_, a)| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        dir.display()
    );
    errln!(
        "halo up: status pages and metrics on {}",
        nodes
            .iter()
            .chain(&witnesses)
            .map(|(_, a)| format!("http://{}:{}/", a.ip(), halo_net::identity::HTTP_PORT))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let req = CtlRequest::Apply {
        name: name.clone(),
        text,
        expect_seq: None,
    };
    let applied = rt.block_on(async {
        tokio::select! {
            _ = sigint.recv() => None,
            r = admin.ask(&req, Duration::from_secs(20)) => Some(r),
        }
    });
    let Some(applied) = applied else {
        errln!("\nhalo up: stopping");
        return Ok(Exit::Ok);
    };
    match applied? {
        CtlResponse::Done { .. } => {}
        CtlResponse::Refused { why } => {
            return Err(InputError {
                message: why,
                code: 1,
            })
        }
        other => return Err(InputError::usage(format!("unexpected answer: {other:?}"))),
    }
    let first = nodes
        .get(1)
        .or(nodes.first())
        .map(|(n, _)| n.clone())
        .unwrap_or_default();
    let help = format!(
        "In another terminal:\n  \
         kill {pid}            # crash node {first}: its resources move\n  \
         halo status --config {cfg}\n  \
         halo node standby {first} --config {cfg}\n\
         Ctrl-C stops the cluster.\n",
        pid = format_args!("$(cat {})", pid_file(&dir, &first).display()),
        cfg = dir.join("admin.toml").display(),
    );
    if a.once {
        let s = rt.block_on(async {
            tokio::select! {
                _ = sigint.recv() => None,
                s = settled(&admin) => Some(s),
            }
        });
        let out = match s {
            Some(Ok(s)) => render_status(&s),
            Some(Err(e)) => format!("(no answer: {})\n", e.message),
            None => "halo up: stopping\n".to_string(),
        };
        crate::write_stdout(&out)?;
        drop(procs);
        return Ok(Exit::Ok);
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdout());
    rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let status = tokio::select! {
                _ = sigint.recv() => break,
                _ = tick.tick() => tokio::select! {
                    _ = sigint.recv() => break,
                    s = admin.status(Duration::from_secs(2)) => s,
                },
            };
            let body = match status {
                Ok(s) => render_status(&s),
                Err(e) => format!("(no answer: {})\n", e.message),
            };
            let screen = if interactive {
                format!("\x1b[2J\x1b[H{body}\n{help}")
            } else {
                format!("{body}\n")
            };
            if crate::write_stdout(&screen).is_err() {
                break;
            }
            reap(&mut procs.children);
        }
    });
    errln!("\nhalo up: stopping");
    drop(procs);
    Ok(Exit::Ok)
}

/// The status once every node has joined and nothing has changed for a
/// while (at most 30 s).
async fn settled(admin: &Admin) -> Result<halo_controller::rpc::Status, InputError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut last: Option<u64> = None;
    loop {
        let s = admin.status(Duration::from_secs(5)).await?;
        let all_up = s.runners.values().all(|up| *up)
            && s.doc
                .state
                .nodes
                .values()
                .all(|n| n.status == halo_model::NodeStatus::Online);
        let quiet = s.running.is_empty() && last == Some(s.doc.seq);
        if (all_up && quiet) || std::time::Instant::now() >= deadline {
            return Ok(s);
        }
        last = Some(s.doc.seq);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn pid_file(dir: &Path, node: &str) -> PathBuf {
    dir.join("state")
        .join(node)
        .join(halo_runner::builtin::PID_FILE)
}

/// Starts `halo runner` or `halo witness` for `name`, logging to NAME.log.
/// Gives local node `node` its own runtime directory for agents
/// (`HA_RSCTMP`): nodes sharing one would each find the others' resources
/// running there. It lies in the node's state directory, where `fence_halo`
/// empties it when it powers the node off, as a reboot empties a real
/// node's tmpfs.
fn give_own_run_dir(dir: &Path, node: &str) -> Result<(), InputError> {
    use std::io::Write as _;
    let path = dir.join(format!("{node}.toml"));
    let run = Path::new("state")
        .join(node)
        .join(halo_runner::builtin::RUN_DIR);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| InputError::io(&path, &e))?;
    write!(
        f,
        "\n# This machine runs every node: each has its own runtime directory.\n\
         [agents]\nrun_dir = \"{}\"\n",
        run.display()
    )
    .map_err(|e| InputError::io(&path, &e))
}

fn spawn(exe: &Path, dir: &Path, what: &str, name: &str) -> Result<Child, InputError> {
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| InputError::io(&log_path, &e))?;
    let err = log.try_clone().map_err(|e| InputError::io(&log_path, &e))?;
    std::process::Command::new(exe)
        .arg(what)
        .arg("--config")
        .arg(dir.join(format!("{name}.toml")))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| InputError::usage(format!("cannot start {what} {name}: {e}")))
}

/// Reaps processes that ended (a node killed from another terminal), so
/// that they do not linger as zombies.
fn reap(children: &mut [(String, Child)]) {
    for (_, c) in children.iter_mut() {
        let _ = c.try_wait();
    }
}
