//! The live cluster from the command line: the daemons (`runner` with its
//! controller replica, `witness`), and the operator's commands, which go to
//! the controllers' leader over QUIC with the admin certificate.

use crate::load::InputError;
use crate::Exit;
use clap::{Args, Subcommand, ValueEnum};
use halo_controller::doc::AdminOp;
use halo_controller::rpc::{CtlRequest, CtlResponse, Status};
use halo_net::{AdminConfig, Client};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to reach the cluster.
#[derive(Args, Clone)]
pub struct Conn {
    /// The admin config `halo cluster init` wrote (or $HALO_CONFIG).
    #[arg(long, env = "HALO_CONFIG", default_value = "admin.toml")]
    pub config: PathBuf,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// The policy to apply.
    file: PathBuf,
    /// Apply without asking.
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Refresh every second until interrupted.
    #[arg(long)]
    watch: bool,
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    format: StatusFormat,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Move every resource off NODE and keep them off.
    Standby {
        node: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Let NODE run resources again.
    Unstandby {
        node: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Leave NODE's resources alone: no starts, stops or monitors.
    Maintenance {
        node: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// End maintenance on NODE.
    Ready {
        node: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
pub enum ResourceCommand {
    /// Move RSC to NODE: it stays there until `clear`, for --lifetime, or,
    /// with --auto-clear, until it runs there. A
    /// move replaces an earlier move of RSC; it is refused, with the reason,
    /// when RSC could not run on NODE.
    Move {
        rsc: String,
        node: String,
        /// How long the move lasts (e.g. 10m, 1h); default: until `clear`.
        #[arg(long)]
        lifetime: Option<String>,
        /// The move removes itself once RSC runs on NODE, leaving it there by
        /// its stickiness; refused, with the reason, when RSC would then move
        /// on or back.
        #[arg(long)]
        auto_clear: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Keep RSC off NODE, until `clear` or for --lifetime.
    Ban {
        rsc: String,
        node: String,
        /// How long the ban lasts (e.g. 10m, 1h); default: until `clear`.
        #[arg(long)]
        lifetime: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove what `move` and `ban` added for RSC.
    Clear {
        rsc: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Forget RSC's failures (fail counts and failed operations).
    Cleanup {
        rsc: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop RSC and start it again where it runs.
    Restart {
        rsc: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Args)]
pub struct MaintenanceArgs {
    /// `on`: leave every resource as it is (no start, stop or recovery) until
    /// `off`, which probes every node again and keeps what runs.
    state: OnOff,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// `halo maintenance on|off`.
pub fn maintenance(a: &MaintenanceArgs) -> Result<Exit, InputError> {
    send(
        &a.conn,
        AdminOp::ClusterMaintenance {
            on: matches!(a.state, OnOff::On),
        },
        None,
    )
}

#[derive(Args)]
pub struct FenceArgs {
    /// The node to fence now.
    node: String,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args)]
pub struct WitnessArgs {
    /// The witness's config file, as `halo cluster init --witness` wrote it.
    #[arg(long)]
    config: PathBuf,
}

/// A client of the controllers: finds the leader and asks it.
pub struct Admin {
    cfg: AdminConfig,
    clients: Vec<(String, std::sync::Arc<Client>)>,
}

impl Admin {
    pub fn connect(conn: &Conn) -> Result<Admin, InputError> {
        let cfg = AdminConfig::load(&conn.config).map_err(|e| {
            InputError::usage(format!(
                "{e}\n  help: give the admin config `halo cluster init` wrote with --config, or set HALO_CONFIG"
            ))
        })?;
        if cfg.controllers.is_empty() {
            return Err(InputError::usage(format!(
                "{}: no [controllers]: this cluster was made without controllers (run `halo cluster init` again)",
                conn.config.display()
            )));
        }
        let cert = match (&cfg.cert, &cfg.key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        };
        let mut clients = Vec::new();
        for (name, addr) in &cfg.controllers {
            let tls = halo_net::tls::client(&cfg.ca, cert).map_err(InputError::usage)?;
            let mut c = Client::new(tls, *addr, name)
                .map_err(InputError::usage)?
                .labelled(format!("the controller on {name}"));
            c.patience = Duration::from_millis(500);
            clients.push((name.clone(), std::sync::Arc::new(c)));
        }
        Ok(Admin { cfg, clients })
    }

    /// Asks the leader for up to `patience`: every controller at once and
    /// each again until one leads (a follower answers that it does not
    /// lead, and does nothing), so that a dead or slow controller costs no
    /// time; the leader's answer is the one.
    pub async fn ask(
        &self,
        req: &CtlRequest,
        patience: Duration,
    ) -> Result<CtlResponse, InputError> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut asks = tokio::task::JoinSet::new();
        for (name, c) in &self.clients {
            let (name, c, req) = (name.clone(), c.clone(), req.clone());
            asks.spawn(async move {
                loop {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    let why = match tokio::time::timeout(
                        left.min(Duration::from_secs(2)),
                        c.request::<_, CtlResponse>(&req),
                    )
                    .await
                    {
                        Ok(Ok(CtlResponse::NotLeader { .. })) => format!("{name} does not lead"),
                        Ok(Ok(r)) => return Ok(r),
                        Ok(Err(e)) => e,
                        Err(_) => format!("{name} did not answer in time"),
                    };
                    if tokio::time::Instant::now() + Duration::from_millis(100) >= deadline {
                        return Err(why);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
        let mut errors: Vec<String> = Vec::new();
        while let Some(done) = asks.join_next().await {
            match done {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(why)) => errors.push(why),
                Err(e) => errors.push(e.to_string()),
            }
        }
        errors.sort();
        let where_: Vec<String> = self
            .cfg
            .controllers
            .iter()
            .map(|(n, a)| format!("{n} at {a}"))
            .collect();
        Err(InputError {
            message: format!(
                "cannot reach the leader of cluster {}: {}\n  help: is `halo runner` running on a majority of the controllers' nodes ({})?",
                self.cfg.cluster,
                errors.join("; "),
                where_.join(", ")
            ),
            code: 4,
        })
    }

    pub async fn status(&self, patience: Duration) -> Result<Status, InputError> {
        match self.ask(&CtlRequest::Status, patience).await? {
            CtlResponse::Status { status } => Ok(*status),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(r: CtlResponse) -> InputError {
    match r {
        CtlResponse::Refused { why } => InputError {
            message: why,
            code: 1,
        },
        other => InputError::usage(format!("unexpected answer: {other:?}")),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, InputError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| InputError::usage(format!("cannot start the async runtime: {e}")))
}

pub fn logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HALO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=off")),
        )
        .try_init();
}

/// `halo runner`: the node's runner, and its controller replica if the
/// config has one. Writes the process id into the state directory.
pub fn runner(config: &Path) -> Result<Exit, InputError> {
    let cfg = halo_net::NodeConfig::load(config).map_err(InputError::usage)?;
    logging();
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| InputError::io(&cfg.state_dir, &e))?;
    let pid_file = cfg.state_dir.join(halo_runner::builtin::PID_FILE);
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .map_err(|e| InputError::io(&pid_file, &e))?;
    let shim = std::env::current_exe().ok();
    let ctl = cfg.controller();
    let rt = runtime()?;
    // The watchdog process: with fencing off, what this node runs is stopped
    // even if this process hangs or dies while it holds a lease.
    let watchdog = match &shim {
        Some(me) => {
            let _in_rt = rt.enter();
            let w = halo_runner::watchdog::Feeder::spawn(me, config).map_err(InputError::usage)?;
            tracing::info!(
                "watchdog: {} (fires {} ms after the runner last fed it)",
                halo_runner::watchdog::describe(),
                cfg.timing.watchdog_ms
            );
            Some(w)
        }
        None => {
            tracing::warn!("no watchdog: the path of this program is unknown");
            None
        }
    };
    rt.block_on(async move {
        // The node's resources do not depend on its replica: when its
        // storage fails, the runner goes on, the other replicas keep the
        // cluster, and the replica starts again once it can.
        let controller = async {
            match ctl {
                Some(c) => halo_controller::run(c).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = halo_runner::daemon::serve(cfg, shim, watchdog) => r.map_err(InputError::usage),
            r = controller => r.map_err(InputError::usage),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted: stopping");
                Ok(())
            }
        }
    })?;
    Ok(Exit::Ok)
}

#[derive(clap::Args)]
pub struct WatchdogArgs {
    /// The node's config file.
    #[arg(long)]
    pub config: PathBuf,
    /// The node process to kill when the watchdog fires.
    #[arg(long)]
    pub pid: u32,
}

/// `halo watchdog`: started by `halo runner`, fed through standard input.
pub fn watchdog(a: &WatchdogArgs) -> Result<Exit, InputError> {
    let cfg = halo_net::NodeConfig::load(&a.config).map_err(InputError::usage)?;
    logging();
    let runner = halo_runner::Runner::new(halo_runner::daemon::runner_config(
        &cfg,
        std::env::current_exe().ok(),
    ));
    let timeout = Duration::from_millis(cfg.timing.watchdog_ms);
    runtime()?
        .block_on(halo_runner::watchdog::watch(runner, a.pid, timeout))
        .map_err(InputError::usage)?;
    Ok(Exit::Ok)
}

/// `halo witness`: a controller replica that runs no resources.
pub fn witness(a: &WitnessArgs) -> Result<Exit, InputError> {
    let cfg = halo_net::ControllerConfig::load(&a.config).map_err(InputError::usage)?;
    logging();
    runtime()?.block_on(async move {
        tokio::select! {
            r = halo_controller::run(cfg) => r.map_err(InputError::usage),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(Exit::Ok)
}

/// `halo apply`: shows the plan, asks, applies.
pub fn apply(a: &ApplyArgs, color: bool) -> Result<Exit, InputError> {
    let loaded = crate::load::policy(&a.file)?;
    errp!("{}", loaded.render(color));
    let Some(policy) = loaded.policy() else {
        return Ok(Exit::Policy);
    };
    let text = crate::load::read_text(&a.file)?;
    let rt = runtime()?;
    let _in_rt = rt.enter();
    let admin = Admin::connect(&a.conn)?;
    let status = rt.block_on(admin.status(Duration::from_secs(10)))?;
    if policy.cluster.name != status.cluster {
        return Err(InputError {
            message: format!(
                "{} is the policy of cluster `{}`, but --config reaches cluster `{}`: \
                 nothing applied (check --config, or the policy's `cluster` name)",
                a.file.display(),
                policy.cluster.name,
                status.cluster
            ),
            code: 1,
        });
    }
    rt.block_on(warn_missing_secrets(&admin.cfg, policy));
    let state = status.doc.state.clone();
    let plan = halo_engine::plan(policy, &state, halo_model::Timestamp(crate::load::clock()));
    let revised = halo_engine::settle::apply(&plan, &state);
    crate::write_stdout(&crate::render::simulate_text(
        &loaded, &state, &plan, &revised,
    ))?;
    if !a.yes {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(InputError::usage(
                "not applied: confirm with --yes (standard input is not a terminal to ask on)",
            ));
        }
        errp!(
            "Apply {} to cluster {}? [y/N] ",
            a.file.display(),
            status.cluster
        );
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| InputError::usage(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            errln!("not applied");
            return Ok(Exit::Ok);
        }
    }
    let req = CtlRequest::Apply {
        name: a.file.display().to_string(),
        text,
        expect_seq: Some(status.doc.seq),
    };
    match rt.block_on(admin.ask(&req, Duration::from_secs(10)))? {
        CtlResponse::Done { seq } => {
            outln!("applied {} (change {seq})", a.file.display());
            Ok(Exit::Ok)
        }
        other => Err(unexpected(other)),
    }
}

/// Warns, node by node, of the secrets the policy names that a node's
/// store lacks: what needs them cannot start there.
async fn warn_missing_secrets(cfg: &AdminConfig, policy: &halo_model::Policy) {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &policy.resources {
        for v in r.primitive().iter().flat_map(|p| p.params.values()) {
            if let halo_model::ParamValue::Secret(name) = v {
                users.entry(name.clone()).or_default().push(r.name.clone());
            }
        }
    }
    if users.is_empty() {
        return;
    }
    let names: Vec<String> = users.keys().cloned().collect();
    for node in policy.cluster.nodes.iter().map(|n| &n.name) {
        let asked = match Client::for_node(cfg, node) {
            Ok(c) => {
                let req = halo_proto::wire::Request::SecretsMissing {
                    names: names.clone(),
                };
                tokio::time::timeout(Duration::from_secs(5), c.call(&req)).await
            }
            Err(e) => {
                errln!("warning: cannot ask {node} which secrets it has: {e}");
                continue;
            }
        };
        match asked {
            Ok(Ok(halo_proto::wire::Response::Missing { names })) => {
                for n in names {
                    let by = users.get(&n).map(|u| u.join(", ")).unwrap_or_default();
                    errln!(
                        "warning: node {node} lacks secret `{n}` (used by {by}), which cannot \
                         start there: on {node}, run `halo secret set {n} --config NODE.toml`"
                    );
                }
            }
            Ok(Ok(other)) => errln!("warning: {node} answered {other:?} about its secrets"),
            Ok(Err(e)) => errln!("warning: cannot ask {node} which secrets it has: {e}"),
            Err(_) => errln!("warning: {node} did not say which secrets it has within 5 s"),
        }
    }
}

/// `halo status`.
pub fn status(a: &StatusArgs) -> Result<Exit, InputError> {
    let rt = runtime()?;
    let _in_rt = rt.enter();
    let admin = Admin::connect(&a.conn)?;
    loop {
        let s = rt.block_on(admin.status(Duration::from_secs(5)));
        let text = match (&s, a.format) {
            (Ok(s), StatusFormat::Json) => {
                serde_json::to_string_pretty(s).unwrap_or_default() + "\n"
            }
            (Ok(s), StatusFormat::Text) => render_status(s),
            (Err(e), _) if a.watch => format!("halo: {}\n", e.message),
            (Err(_), _) => return s.map(|_| Exit::Ok),
        };
        if !a.watch {
            crate::write_stdout(&text)?;
            return Ok(Exit::Ok);
        }
        // Clear the screen, then draw.
        crate::write_stdout(&format!("\x1b[2J\x1b[H{text}"))?;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// crm_mon's sections: the controllers, the nodes, the resources, the
/// failures, pending fencing, actions under way and recent events.
pub fn render_status(s: &Status) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Cluster {}: leader {} (term {}), change {}",
        s.cluster,
        s.leader.as_deref().unwrap_or("none"),
        s.term,
        s.doc.seq
    );
    let replicas: Vec<String> = s
        .replicas
        .iter()
        .map(|(n, ok)| {
            if *ok {
                n.clone()
            } else {
                format!("{n} (behind)")
            }
        })
        .collect();
    let _ = writeln!(out, "  * Controllers: {}", replicas.join(" "));
    for f in &s.alert_failures {
        let _ = writeln!(out, "  * Alert failed: {f}");
    }
    if s.doc.state.maintenance {
        let _ = writeln!(
            out,
            "  * MAINTENANCE MODE: nothing is started, stopped or recovered (halo maintenance off)"
        );
    }
    let Some(src) = &s.doc.policy else {
        let _ = writeln!(out, "\nNo policy applied yet: halo apply FILE.ha");
        return out;
    };
    let _ = writeln!(out, "  * Policy: {}", src.name);
    let _ = writeln!(out);
    let policy = match halo_controller::doc::compile(&src.name, &src.text) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(out, "the applied policy does not compile here:\n{e}");
            return out;
        }
    };
    out.push_str(&crate::render::status(&policy, &s.doc.state, None));
    let down: Vec<&String> = s
        .runners
        .iter()
        .filter(|(_, up)| !**up)
        .map(|(n, _)| n)
        .collect();
    if !down.is_empty() {
        let names: Vec<&str> = down.iter().map(|n| n.as_str()).collect();
        let _ = writeln!(out, "\n  * Runners not answering: {}", names.join(" "));
    }
    let fails: Vec<String> = s
        .doc
        .state
        .failures
        .iter()
        .flat_map(|(r, per)| {
            per.iter().map(move |(n, f)| {
                let count = if f.count >= halo_model::FailCount::INFINITE {
                    "INFINITY".to_string()
                } else {
                    f.count.to_string()
                };
                let op = f.op.map(|o| format!(" ({o})")).unwrap_or_default();
                format!("{r} on {n}: fail count {count}{op}")
            })
        })
        .collect();
    if !fails.is_empty() {
        let _ = writeln!(out, "\nFailures:");
        for f in fails {
            let _ = writeln!(out, "  * {f}");
        }
    }
    if !s.doc.fencing.is_empty() {
        let _ = writeln!(out, "\nPending Fencing:");
        for f in &s.doc.fencing {
            let err = f
                .last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  * {} ({} attempts{err})", f.node, f.attempts);
        }
    }
    if !s.running.is_empty() {
        let _ = writeln!(out, "\nActions under way:");
        for a in &s.running {
            let _ = writeln!(out, "  * {a}");
        }
    }
    if !s.doc.log.is_empty() {
        let _ = writeln!(out, "\nRecent events:");
        for l in s.doc.log.iter().rev().take(8).rev() {
            let _ = writeln!(out, "  * {} {}", clock_label(l.at.0), l.text);
        }
    }
    out
}

/// A wall-clock time as HH:MM:SS (UTC).
/// A time as `2026-12-06T21:29:07Z`.
pub fn utc(t: halo_model::Timestamp) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.0).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn clock_label(secs: i64) -> String {
    let d = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", d / 3600, d % 3600 / 60, d % 60)
}

fn send(conn: &Conn, op: AdminOp, lifetime_s: Option<u64>) -> Result<Exit, InputError> {
    let rt = runtime()?;
    let _in_rt = rt.enter();
    let admin = Admin::connect(conn)?;
    let what = format!("{op:?}");
    match rt.block_on(admin.ask(
        &CtlRequest::Admin { op, lifetime_s },
        Duration::from_secs(10),
    ))? {
        CtlResponse::Done { seq } => {
            outln!("done (change {seq})");
            let _ = what;
            Ok(Exit::Ok)
        }
        other => Err(unexpected(other)),
    }
}

pub fn node(c: &NodeCommand) -> Result<Exit, InputError> {
    let (op, conn) = match c {
        NodeCommand::Standby { node, conn } => (
            AdminOp::Standby {
                node: node.clone(),
                on: true,
            },
            conn,
        ),
        NodeCommand::Unstandby { node, conn } => (
            AdminOp::Standby {
                node: node.clone(),
                on: false,
            },
            conn,
        ),
        NodeCommand::Maintenance { node, conn } => (
            AdminOp::Maintenance {
                node: node.clone(),
                on: true,
            },
            conn,
        ),
        NodeCommand::Ready { node, conn } => (
            AdminOp::Maintenance {
                node: node.clone(),
                on: false,
            },
            conn,
        ),
    };
    send(conn, op, None)
}

/// A `--lifetime` in whole seconds (at least one).
fn lifetime_secs(lifetime: Option<&str>) -> Result<Option<u64>, InputError> {
    lifetime
        .map(|l| {
            halo_model::Duration::parse(l)
                .map(|d| d.as_secs().max(1))
                .map_err(|e| InputError::usage(format!("--lifetime {l}: {e}")))
        })
        .transpose()
}

pub fn resource(c: &ResourceCommand) -> Result<Exit, InputError> {
    match c {
        ResourceCommand::Move {
            rsc,
            node,
            lifetime,
            auto_clear,
            conn,
        } => send(
            conn,
            AdminOp::Move {
                rsc: rsc.clone(),
                node: node.clone(),
                until: None,
                auto_clear: *auto_clear,
            },
            lifetime_secs(lifetime.as_deref())?,
        ),
        ResourceCommand::Ban {
            rsc,
            node,
            lifetime,
            conn,
        } => send(
            conn,
            AdminOp::Ban {
                rsc: rsc.clone(),
                node: node.clone(),
                until: None,
            },
            lifetime_secs(lifetime.as_deref())?,
        ),
        ResourceCommand::Clear { rsc, conn } => {
            send(conn, AdminOp::Clear { rsc: rsc.clone() }, None)
        }
        ResourceCommand::Cleanup { rsc, conn } => {
            send(conn, AdminOp::Cleanup { rsc: rsc.clone() }, None)
        }
        ResourceCommand::Restart { rsc, conn } => {
            send(conn, AdminOp::Restart { rsc: rsc.clone() }, None)
        }
    }
}

pub fn fence(a: &FenceArgs) -> Result<Exit, InputError> {
    send(
        &a.conn,
        AdminOp::Fence {
            node: a.node.clone(),
        },
        None,
    )
}
