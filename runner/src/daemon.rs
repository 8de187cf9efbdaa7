//! `halo runner`: the daemon. It serves QUIC on the node's address to peers
//! whose certificate the cluster's CA signed and whose role may command it
//! (a controller or an admin client; a node certificate is refused), carries
//! out their actions, keeps each result until it is delivered (a connection
//! lost mid-action loses nothing), runs recurring monitors itself and reports
//! their changes to subscribers, and refuses commands from a controller older
//! than the newest it has heard from.

use crate::{Runner, RunnerConfig};
use halo_net::identity::{Identity, Role};
use halo_net::{frame, server, NodeConfig};
use halo_proto::wire::{MonitorEvent, Request, Response};
use halo_proto::{ActionRequest, ActionResult, Outcome};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Mutex};
use tokio::time::Instant;
use tracing::{info, warn};

/// Where a request's answers go: a QUIC stream, or (in the simulation) a
/// channel.
pub trait Reply: Send {
    /// Sends one answer; whether it went out.
    fn send(&mut self, r: Response) -> impl std::future::Future<Output = bool> + Send;
    /// No more answers; whether the peer got them all.
    fn finish(&mut self) -> impl std::future::Future<Output = bool> + Send;
}

struct QuicReply(quinn::SendStream);

impl Reply for QuicReply {
    async fn send(&mut self, r: Response) -> bool {
        frame::write(&mut self.0, &r).await.is_ok()
    }
    async fn finish(&mut self) -> bool {
        self.0.finish().is_ok()
    }
}

impl Reply for tokio::sync::mpsc::UnboundedSender<Response> {
    async fn send(&mut self, r: Response) -> bool {
        tokio::sync::mpsc::UnboundedSender::send(self, r).is_ok()
    }
    async fn finish(&mut self) -> bool {
        !self.is_closed()
    }
}

/// Results kept for collection at most; the oldest delivered go first.
const OUTBOX_MAX: usize = 4096;

/// Monitor events buffered for a slow subscriber.
const EVENTS_MAX: usize = 1024;

/// The runner's configuration from a node's config file.
pub fn runner_config(c: &NodeConfig, shim: Option<std::path::PathBuf>) -> RunnerConfig {
    let mut r = RunnerConfig::new(&c.node, c.state_dir.clone());
    if let Some(p) = &c.agents.ocf_root {
        r.ocf_root = p.clone();
    }
    if let Some(p) = &c.agents.lsb_dir {
        r.lsb_dir = p.clone();
    }
    if let Some(p) = &c.agents.fence_dirs {
        r.fence_dirs = p.clone();
    }
    if let Some(p) = &c.agents.run_dir {
        r.run_dir = Some(p.clone());
    }
    if let Some(n) = c.limits.parallel_max {
        r.parallel_max = n;
    }
    if let Some(n) = c.limits.output_max {
        r.output_max = n;
    }
    r.shim_program = shim;
    r
}

type Outbox = BTreeMap<(String, u64), watch::Receiver<Option<ActionResult>>>;

/// A runner's daemon, apart from its transport.
pub struct Daemon {
    node: String,
    runner: Runner,
    /// The newest controller epoch heard of; only controller certificates
    /// move it, and it is on disk before a command of a newer epoch runs.
    epoch: AtomicU64,
    /// Where the epoch is kept across restarts, and the lock that orders
    /// its writes.
    epoch_file: std::sync::Mutex<std::path::PathBuf>,
    /// Results by (client, id): kept until delivered.
    outbox: Mutex<Outbox>,
    monitors: Mutex<BTreeMap<(String, u64), tokio::task::JoinHandle<()>>>,
    events: broadcast::Sender<MonitorEvent>,
    /// What this runner knows to be active, by resource: the stop request
    /// that undoes it (for the lease).
    active: Arc<Mutex<BTreeMap<String, ActionRequest>>>,
    /// When the leader last renewed the lease, and for how long.
    lease: std::sync::Mutex<Option<(Instant, Duration)>>,
    /// This run of the daemon, told in heartbeats (see `boot_id`).
    boot: u64,
    /// The node's watchdog process, fed while the lease is valid (a real
    /// node's daemon; none in simulations).
    watchdog: Mutex<Option<crate::watchdog::Feeder>>,
}

/// An identifier for a run of the daemon: the time it started, made unique
/// within the process (a simulation runs several daemons in one).
fn boot_id() -> u64 {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos.wrapping_add(RUNS.fetch_add(1, Ordering::Relaxed))
}

/// The file in the runner's state directory that keeps the newest epoch.
pub const EPOCH_FILE: &str = "epoch";

/// The epoch kept in `path` (0 when there is none yet).
fn read_epoch(path: &std::path::Path) -> Result<u64, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().map_err(|_| {
            format!(
                "{} is damaged ({:?} is not an epoch): it holds the newest controller term \
                 this runner obeyed; write the cluster's current term (`halo status`) into it",
                path.display(),
                text.trim()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Keeps `epoch` in `path`, whole or not at all.
fn write_epoch(path: &std::path::Path, epoch: u64) -> Result<(), String> {
    crate::write_synced(path, format!("{epoch}\n").as_bytes(), 0o644).map_err(|e| {
        warn!("cannot keep epoch {epoch} in {}: {e}", path.display());
        format!(
            "this runner cannot keep epoch {epoch} in {} ({e}), so it refuses the command",
            path.display()
        )
    })
}

/// How often the lease is checked.
const LEASE_CHECK: Duration = Duration::from_millis(20);

/// Serves until the process is stopped. An error only when it cannot start.
pub async fn serve(
    cfg: NodeConfig,
    shim: Option<std::path::PathBuf>,
    watchdog: Option<crate::watchdog::Feeder>,
) -> Result<(), String> {
    for d in std::iter::once(&cfg.state_dir).chain(&cfg.agents.run_dir) {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    // Promotion scores live as long as the node's membership, as Pacemaker's
    // transient attributes do: a runner that starts again starts without.
    crate::shim::forget_scores(&cfg.state_dir);
    let endpoint = server::endpoint(&cfg.ca, &cfg.cert, &cfg.key, cfg.listen)?;
    let d = Daemon::new(&cfg.node, Runner::new(runner_config(&cfg, shim)))?;
    *d.watchdog.lock().await = watchdog;
    info!(node = %cfg.node, cluster = %cfg.cluster, listen = %cfg.listen, "runner listening");
    while let Some(incoming) = endpoint.accept().await {
        let d = d.clone();
        tokio::spawn(async move { d.connection(incoming).await });
    }
    Ok(())
}

impl Daemon {
    /// A daemon for `node`, carrying out actions with `runner`; it watches
    /// its lease from now on. It starts from the epoch it kept in the
    /// runner's state directory, so that a controller deposed while this
    /// runner was down cannot command it after its restart.
    pub fn new(node: &str, runner: Runner) -> Result<Arc<Daemon>, String> {
        let epoch_file = runner.config().state_dir.join(EPOCH_FILE);
        let epoch = read_epoch(&epoch_file)?;
        let (events, _) = broadcast::channel(EVENTS_MAX);
        let d = Arc::new(Daemon {
            node: node.to_string(),
            runner,
            epoch: AtomicU64::new(epoch),
            epoch_file: std::sync::Mutex::new(epoch_file),
            outbox: Mutex::new(BTreeMap::new()),
            monitors: Mutex::new(BTreeMap::new()),
            events,
            active: Arc::new(Mutex::new(BTreeMap::new())),
            lease: std::sync::Mutex::new(None),
            boot: boot_id(),
            watchdog: Mutex::new(None),
        });
        tokio::spawn(d.clone().watch_lease());
        Ok(d)
    }

    async fn connection(self: Arc<Self>, incoming: quinn::Incoming) {
        let peer = incoming.remote_address();
        let (conn, who) = match server::accept(incoming).await {
            Ok((c, w)) if w.role == Role::Node => {
                warn!(%peer, "refused {w}: a node certificate cannot command a runner (use a controller or admin certificate)");
                c.close(1u32.into(), b"a node certificate cannot command a runner");
                return;
            }
            Ok(x) => x,
            Err(e) => {
                warn!(%peer, "refused a connection: {e}");
                return;
            }
        };
        info!(%peer, "accepted {who}");
        loop {
            match conn.accept_bi().await {
                Ok((send, recv)) => {
                    let d = self.clone();
                    let who = who.clone();
                    tokio::spawn(async move { d.stream(&who, send, recv).await });
                }
                Err(e) => {
                    info!(%peer, "{who} left: {e}");
                    return;
                }
            }
        }
    }

    async fn stream(&self, who: &Identity, send: quinn::SendStream, mut recv: quinn::RecvStream) {
        let mut out = QuicReply(send);
        match frame::read::<Request>(&mut recv).await {
            Ok(Some(req)) => self.handle(who, req, &mut out).await,
            Ok(None) => return,
            Err(e) => {
                warn!("{who}: {e}");
                out.send(Response::Refused { why: e }).await;
            }
        }
        out.finish().await;
    }

    /// Answers one request of `who` on `out`: one response, or for
    /// `Subscribe` one per monitor event until `out` is closed. The caller
    /// finishes `out`.
    pub async fn handle<R: Reply>(&self, who: &Identity, req: Request, out: &mut R) {
        if let Err(why) = self.check_epoch(who, &req) {
            warn!("refused a command of {who}: {why}");
            out.send(Response::Refused { why }).await;
            return;
        }
        match req {
            Request::Hello => {
                out.send(Response::Hello {
                    node: self.node.clone(),
                    version: halo_proto::wire::VERSION,
                })
                .await;
            }
            Request::Heartbeat { lease_ms, hold, .. } => {
                if who.role == Role::Controller && !hold {
                    *self.lease_guard() =
                        lease_ms.map(|ms| (Instant::now(), Duration::from_millis(ms)));
                }
                let running = self.monitors.lock().await.len();
                out.send(Response::Heartbeat {
                    node: self.node.clone(),
                    epoch: self.epoch.load(Ordering::SeqCst),
                    running,
                    boot: self.boot,
                })
                .await;
            }
            Request::Execute { id, action, .. } => {
                self.run_and_answer(who, id, action, out).await;
            }
            Request::Fence { id, action, .. } => {
                let power = matches!(action.action.as_str(), "off" | "on" | "reboot");
                if !action.agent.is_fence() || !power || action.target.is_none() {
                    let why = format!(
                        "a fence request names a fence agent, a power action (off, on, reboot) \
                         and a target; got {} {} for {}",
                        action.agent,
                        action.action,
                        action.target.as_deref().unwrap_or("no target")
                    );
                    out.send(Response::Refused { why }).await;
                    return;
                }
                info!(
                    target = action.target.as_deref().unwrap_or_default(),
                    device = %action.rsc, "{who} asks to fence ({})", action.action
                );
                self.run_and_answer(who, id, action, out).await;
            }
            Request::Collect { ids } => {
                for id in ids {
                    let rx = self
                        .outbox
                        .lock()
                        .await
                        .get(&(who.name.clone(), id))
                        .cloned();
                    let resp = match rx {
                        Some(rx) => match wait(rx).await {
                            Some(result) => Response::Result { id, result },
                            None => Response::Refused {
                                why: format!("action {id} was lost"),
                            },
                        },
                        None => Response::Refused {
                            why: format!("no action {id} from {who} on {}", self.node),
                        },
                    };
                    let result = matches!(resp, Response::Result { .. });
                    if !out.send(resp).await {
                        return;
                    }
                    if result {
                        self.outbox.lock().await.remove(&(who.name.clone(), id));
                    }
                }
            }
            Request::MonitorStart {
                action,
                digest_every,
                ..
            } => {
                let resp = self.monitor_start(action, digest_every).await;
                out.send(resp).await;
            }
            Request::MonitorStop {
                rsc, interval_ms, ..
            } => {
                if let Some(h) = self
                    .monitors
                    .lock()
                    .await
                    .remove(&(rsc.clone(), interval_ms))
                {
                    h.abort();
                    info!(%rsc, interval_ms, "monitor stopped");
                }
                out.send(Response::Ok).await;
            }
            Request::SecretsMissing { names } => {
                let store = crate::secrets::Store::new(&self.runner.config().state_dir);
                out.send(Response::Missing {
                    names: store.missing(&names),
                })
                .await;
            }
            Request::Subscribe => {
                let mut rx = self.events.subscribe();
                loop {
                    match rx.recv().await {
                        Ok(e) => {
                            if !out.send(Response::Event(e)).await {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            warn!("{who} fell {n} monitor events behind; they were dropped");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            }
        }
    }

    /// Runs an action and answers with its result; the result stays in the
    /// outbox unless the answer was sent.
    async fn run_and_answer<R: Reply>(
        &self,
        who: &Identity,
        id: u64,
        action: ActionRequest,
        out: &mut R,
    ) {
        let rx = self.start(who, id, action).await;
        if let Some(result) = wait(rx).await {
            if out.send(Response::Result { id, result }).await && out.finish().await {
                self.outbox.lock().await.remove(&(who.name.clone(), id));
            }
        }
    }

    /// Controllers must say their epoch, and not be older than the newest;
    /// nobody else may carry one (an admin certificate could otherwise
    /// raise the epoch past the real leader's and silence it). A newer
    /// epoch is written to disk before its command is accepted.
    fn check_epoch(&self, who: &Identity, req: &Request) -> Result<(), String> {
        let epoch = match req {
            Request::Heartbeat { epoch, .. }
            | Request::Execute { epoch, .. }
            | Request::Fence { epoch, .. }
            | Request::MonitorStart { epoch, .. }
            | Request::MonitorStop { epoch, .. } => *epoch,
            _ => return Ok(()),
        };
        match (who.role, epoch) {
            (Role::Controller, None) => Err("a controller's commands carry its epoch".into()),
            (Role::Controller, Some(e)) => self.raise_epoch(e),
            (_, Some(_)) => Err(format!(
                "only a controller's commands carry an epoch, and {who} is not a controller"
            )),
            (_, None) => Ok(()),
        }
    }

    /// Accepts epoch `e` if it is not older than the newest heard of,
    /// keeping a newer one on disk first.
    fn raise_epoch(&self, e: u64) -> Result<(), String> {
        let path = self.epoch_file.lock().unwrap_or_else(|p| p.into_inner());
        let newest = self.epoch.load(Ordering::SeqCst);
        if e < newest {
            return Err(format!(
                "stale controller: epoch {e} is older than epoch {newest}, which this runner has heard from"
            ));
        }
        if e > newest {
            write_epoch(&path, e)?;
            self.epoch.store(e, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Starts an action in the background; its result goes to the outbox.
    async fn start(
        &self,
        who: &Identity,
        id: u64,
        action: ActionRequest,
    ) -> watch::Receiver<Option<ActionResult>> {
        let key = (who.name.clone(), id);
        let mut outbox = self.outbox.lock().await;
        if let Some(rx) = outbox.get(&key) {
            // The same action again (a retry after a lost connection).
            return rx.clone();
        }
        let (tx, rx) = watch::channel(None);
        if outbox.len() >= OUTBOX_MAX {
            let done: Option<(String, u64)> = outbox
                .iter()
                .find(|(_, r)| r.borrow().is_some())
                .map(|(k, _)| k.clone());
            if let Some(k) = done {
                outbox.remove(&k);
            }
        }
        outbox.insert(key, rx.clone());
        drop(outbox);
        if matches!(action.action.as_str(), "stop" | "promote" | "demote") {
            // The resource's monitors check the role it had: they go, and
            // the controller starts those of the new role.
            self.stop_monitors(&action.rsc).await;
        }
        let runner = self.runner.clone();
        let this = self.active_handle();
        info!(rsc = %action.rsc, agent = %action.agent, action = %action.action, "{who} asks");
        // From the moment a start begins, the resource may run here: if this
        // runner hangs before the start ends, its lease's end and its
        // watchdog must still stop it.
        may_run(&this, &action).await;
        tokio::spawn(async move {
            let result = match never_started(&this, &runner, &action).await {
                Some(r) => r,
                None => runner.execute(&action).await,
            };
            info!(
                rsc = %action.rsc, action = %action.action, outcome = %result.outcome,
                duration_ms = result.duration_ms, "done"
            );
            track(&this, &action, &result).await;
            let _ = tx.send(Some(result));
        });
        rx
    }

    fn lease_guard(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Duration)>> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn active_handle(&self) -> Arc<Mutex<BTreeMap<String, ActionRequest>>> {
        self.active.clone()
    }

    async fn stop_monitors(&self, rsc: &str) {
        let mut m = self.monitors.lock().await;
        let keys: Vec<(String, u64)> = m.keys().filter(|(r, _)| r == rsc).cloned().collect();
        for k in keys {
            if let Some(h) = m.remove(&k) {
                h.abort();
            }
        }
    }

    /// With a lease (fencing off): when the leader has not renewed it in
    /// time, this node may be cut off from the cluster, which will start its
    /// resources elsewhere: stop them all here, now.
    async fn watch_lease(self: Arc<Self>) {
        let mut tick = tokio::time::interval(LEASE_CHECK);
        loop {
            tick.tick().await;
            let (valid, expired) = {
                let mut lease = self.lease_guard();
                match *lease {
                    Some((at, len)) if at.elapsed() >= len => {
                        *lease = None;
                        (false, true)
                    }
                    Some(_) => (true, false),
                    None => (false, false),
                }
            };
            if !expired {
                // Fed only while the lease is valid: a runner that hangs or
                // ends now is stopped by its watchdog before the majority's
                // wait is over.
                let mut w = self.watchdog.lock().await;
                if let Some(w) = w.as_mut() {
                    if valid {
                        let stops = self.active.lock().await.values().cloned().collect();
                        w.feed(stops).await;
                    } else {
                        w.disarm().await;
                    }
                }
                continue;
            }
            let stops: Vec<ActionRequest> = self.active.lock().await.values().cloned().collect();
            warn!(
                "no heartbeat from the leader within the lease: stopping the {} resources that run here",
                stops.len()
            );
            let mut m = self.monitors.lock().await;
            for (_, h) in std::mem::take(&mut *m) {
                h.abort();
            }
            drop(m);
            let mut jobs = tokio::task::JoinSet::new();
            for req in stops {
                let runner = self.runner.clone();
                let active = self.active.clone();
                jobs.spawn(async move {
                    let r = runner.execute(&req).await;
                    info!(rsc = %req.rsc, outcome = %r.outcome, "stopped at the end of the lease");
                    track(&active, &req, &r).await;
                });
            }
            while jobs.join_next().await.is_some() {}
            // What ran here is stopped: nothing left to guard (unless the
            // stops took longer than the watchdog's timeout, and it fired).
            if let Some(w) = self.watchdog.lock().await.as_mut() {
                w.disarm().await;
            }
        }
    }

    async fn monitor_start(&self, action: ActionRequest, digest_every: u32) -> Response {
        if action.interval_ms == 0 {
            return Response::Refused {
                why: "a recurring monitor needs an interval".into(),
            };
        }
        let key = (action.rsc.clone(), action.interval_ms);
        let runner = self.runner.clone();
        let events = self.events.clone();
        let handle = tokio::spawn(async move {
            let mut last: Option<(Option<i32>, halo_proto::Outcome)> = None;
            let mut seq = 0u64;
            let every = u64::from(digest_every.max(1));
            let mut tick = tokio::time::interval(Duration::from_millis(action.interval_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let result = runner.execute(&action).await;
                seq += 1;
                let now = (result.rc, result.outcome);
                let changed = last != Some(now);
                last = Some(now);
                if changed || seq.is_multiple_of(every) {
                    let _ = events.send(MonitorEvent {
                        rsc: action.rsc.clone(),
                        interval_ms: action.interval_ms,
                        seq,
                        changed,
                        result,
                    });
                }
            }
        });
        if let Some(old) = self.monitors.lock().await.insert(key.clone(), handle) {
            old.abort();
        }
        info!(rsc = %key.0, interval_ms = key.1, "monitor started");
        Response::Ok
    }
}

/// Records that `req` (a start, a promotion, a demotion or a reload) may
/// leave its resource running, with the stop that undoes it, before it runs.
async fn may_run(active: &Mutex<BTreeMap<String, ActionRequest>>, req: &ActionRequest) {
    let starts = matches!(
        req.action.as_str(),
        "start" | "promote" | "demote" | "reload-agent"
    );
    if !starts || req.agent.is_fence() || req.interval_ms > 0 {
        return;
    }
    let mut stop = req.clone();
    stop.action = "stop".into();
    active.lock().await.entry(req.rsc.clone()).or_insert(stop);
}

/// For a stop or a probe of a resource whose secrets this node lacks and
/// that this runner has not started: the answer, without running the agent.
/// A start cannot run without its secrets, so the resource does not run
/// here; the agent, missing a parameter it requires, might fail its stop
/// and get the node fenced for nothing.
async fn never_started(
    active: &Mutex<BTreeMap<String, ActionRequest>>,
    runner: &Runner,
    req: &ActionRequest,
) -> Option<ActionResult> {
    let probe = req.action == "monitor" && req.interval_ms == 0;
    if req.secrets.is_empty() || !(probe || req.action == "stop") {
        return None;
    }
    let store = crate::secrets::Store::new(&runner.config().state_dir);
    let missing = store.missing(req.secrets.values());
    if missing.is_empty() || active.lock().await.contains_key(&req.rsc) {
        return None;
    }
    let (outcome, rc) = if probe {
        (Outcome::NotRunning, 7)
    } else {
        (Outcome::Success, 0)
    };
    Some(ActionResult {
        rc: Some(rc),
        outcome,
        duration_ms: 0,
        exit_reason: Some(format!(
            "not running here: it cannot have started without secret {} (not in this node's store)",
            missing.join(", ")
        )),
        output: String::new(),
        promotion: None,
        attributes: Vec::new(),
        restart: None,
    })
}

/// Keeps the record of what runs here up to date with a result.
async fn track(
    active: &Mutex<BTreeMap<String, ActionRequest>>,
    req: &ActionRequest,
    r: &ActionResult,
) {
    if req.agent.is_fence() || req.interval_ms > 0 {
        return;
    }
    let mut active = active.lock().await;
    let runs = match (req.action.as_str(), r.outcome) {
        ("start" | "promote" | "demote" | "reload-agent", o) if o.ok("start") => true,
        ("stop", o) if o.ok("stop") => false,
        (
            "monitor",
            Outcome::Running | Outcome::Promoted | Outcome::Degraded | Outcome::DegradedPromoted,
        ) => true,
        ("monitor", Outcome::NotRunning) => false,
        _ => return,
    };
    if runs {
        let mut stop = req.clone();
        stop.action = "stop".into();
        stop.interval_ms = 0;
        active.insert(req.rsc.clone(), stop);
    } else {
        active.remove(&req.rsc);
    }
}

/// The result once there is one; `None` if the action's task vanished.
async fn wait(mut rx: watch::Receiver<Option<ActionResult>>) -> Option<ActionResult> {
    loop {
        if let Some(r) = rx.borrow().clone() {
            return Some(r);
        }
        if rx.changed().await.is_err() {
            return rx.borrow().clone();
        }
    }
}
