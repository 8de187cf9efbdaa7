//! `halo runner`: the daemon. It serves QUIC on the node's address to peers
//! whose certificate the cluster's CA signed and whose role may command it
//! (a controller or an admin client; a node certificate is refused), carries
//! out their actions, keeps each result until it is delivered (a connection
//! lost mid-action loses nothing), runs recurring monitors itself and reports
//! their changes to subscribers, and refuses commands from a controller older
//! than the newest it has heard from.

use crate::{Runner, RunnerConfig};
use halo_net::identity::{identity_of, Identity, Role};
use halo_net::{frame, tls, NodeConfig};
use halo_proto::wire::{MonitorEvent, Request, Response};
use halo_proto::{ActionRequest, ActionResult};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Mutex};
use tracing::{info, warn};

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

struct Daemon {
    node: String,
    runner: Runner,
    /// The newest controller epoch heard of.
    epoch: AtomicU64,
    /// Results by (client, id): kept until delivered.
    outbox: Mutex<Outbox>,
    monitors: Mutex<BTreeMap<(String, u64), tokio::task::JoinHandle<()>>>,
    events: broadcast::Sender<MonitorEvent>,
}

/// Serves until the process is stopped. An error only when it cannot start.
pub async fn serve(cfg: NodeConfig, shim: Option<std::path::PathBuf>) -> Result<(), String> {
    std::fs::create_dir_all(&cfg.state_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.state_dir.display()))?;
    let crypto = tls::server(&cfg.ca, &cfg.cert, &cfg.key)?;
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)
        .map_err(|e| format!("cannot use the TLS settings for QUIC: {e}"))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server.transport_config(tls::transport());
    let endpoint = quinn::Endpoint::server(server, cfg.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let (events, _) = broadcast::channel(EVENTS_MAX);
    let d = Arc::new(Daemon {
        node: cfg.node.clone(),
        runner: Runner::new(runner_config(&cfg, shim)),
        epoch: AtomicU64::new(0),
        outbox: Mutex::new(BTreeMap::new()),
        monitors: Mutex::new(BTreeMap::new()),
        events,
    });
    info!(node = %cfg.node, cluster = %cfg.cluster, listen = %cfg.listen, "runner listening");
    while let Some(incoming) = endpoint.accept().await {
        let d = d.clone();
        tokio::spawn(async move { d.connection(incoming).await });
    }
    Ok(())
}

impl Daemon {
    async fn connection(self: Arc<Self>, incoming: quinn::Incoming) {
        let peer = incoming.remote_address();
        let conn = match incoming.await {
            Ok(c) => c,
            Err(e) => {
                warn!(%peer, "refused a connection: {e} (no certificate, or one the cluster's CA did not sign)");
                return;
            }
        };
        let who = conn
            .peer_identity()
            .and_then(|any| {
                any.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                    .ok()
            })
            .and_then(|certs| certs.first().map(|c| identity_of(c)))
            .unwrap_or_else(|| Err("no client certificate".into()));
        let who = match who {
            Ok(w) if w.role != Role::Node => w,
            Ok(w) => {
                warn!(%peer, "refused {w}: a node certificate cannot command a runner (use a controller or admin certificate)");
                conn.close(1u32.into(), b"a node certificate cannot command a runner");
                return;
            }
            Err(e) => {
                warn!(%peer, "refused a connection: {e}");
                conn.close(1u32.into(), e.as_bytes());
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

    async fn stream(
        &self,
        who: &Identity,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) {
        let req = match frame::read::<Request>(&mut recv).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                warn!("{who}: {e}");
                let _ = frame::write(&mut send, &Response::Refused { why: e }).await;
                let _ = send.finish();
                return;
            }
        };
        if let Err(why) = self.check_epoch(who, &req) {
            warn!("refused a command of {who}: {why}");
            let _ = frame::write(&mut send, &Response::Refused { why }).await;
            let _ = send.finish();
            return;
        }
        match req {
            Request::Hello => {
                let _ = frame::write(
                    &mut send,
                    &Response::Hello {
                        node: self.node.clone(),
                        version: halo_proto::wire::VERSION,
                    },
                )
                .await;
            }
            Request::Heartbeat { .. } => {
                let running = self.monitors.lock().await.len();
                let _ = frame::write(
                    &mut send,
                    &Response::Heartbeat {
                        node: self.node.clone(),
                        epoch: self.epoch.load(Ordering::SeqCst),
                        running,
                    },
                )
                .await;
            }
            Request::Execute { id, action, .. } => {
                self.run_and_answer(who, id, action, &mut send).await;
                return;
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
                    let _ = frame::write(&mut send, &Response::Refused { why }).await;
                    let _ = send.finish();
                    return;
                }
                info!(
                    target = action.target.as_deref().unwrap_or_default(),
                    device = %action.rsc, "{who} asks to fence ({})", action.action
                );
                self.run_and_answer(who, id, action, &mut send).await;
                return;
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
                    if frame::write(&mut send, &resp).await.is_err() {
                        return;
                    }
                    if matches!(resp, Response::Result { .. }) {
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
                let _ = frame::write(&mut send, &resp).await;
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
                let _ = frame::write(&mut send, &Response::Ok).await;
            }
            Request::Subscribe => {
                let mut rx = self.events.subscribe();
                loop {
                    match rx.recv().await {
                        Ok(e) => {
                            if frame::write(&mut send, &Response::Event(e)).await.is_err() {
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
        let _ = send.finish();
    }

    /// Runs an action and answers with its result; the result stays in the
    /// outbox unless the answer was sent.
    async fn run_and_answer(
        &self,
        who: &Identity,
        id: u64,
        action: ActionRequest,
        send: &mut quinn::SendStream,
    ) {
        let rx = self.start(who, id, action).await;
        if let Some(result) = wait(rx).await {
            if frame::write(send, &Response::Result { id, result })
                .await
                .is_ok()
                && send.finish().is_ok()
            {
                self.outbox.lock().await.remove(&(who.name.clone(), id));
            }
        }
    }

    /// Controllers must say their epoch, and not be older than the newest.
    fn check_epoch(&self, who: &Identity, req: &Request) -> Result<(), String> {
        let epoch = match req {
            Request::Heartbeat { epoch }
            | Request::Execute { epoch, .. }
            | Request::Fence { epoch, .. }
            | Request::MonitorStart { epoch, .. }
            | Request::MonitorStop { epoch, .. } => *epoch,
            _ => return Ok(()),
        };
        match (who.role, epoch) {
            (Role::Controller, None) => Err("a controller's commands carry its epoch".into()),
            (_, Some(e)) => {
                let newest = self.epoch.fetch_max(e, Ordering::SeqCst);
                if e < newest {
                    Err(format!(
                        "stale controller: epoch {e} is older than epoch {newest}, which this runner has heard from"
                    ))
                } else {
                    Ok(())
                }
            }
            (_, None) => Ok(()),
        }
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
        let runner = self.runner.clone();
        info!(rsc = %action.rsc, agent = %action.agent, action = %action.action, "{who} asks");
        tokio::spawn(async move {
            let result = runner.execute(&action).await;
            info!(
                rsc = %action.rsc, action = %action.action, outcome = %result.outcome,
                duration_ms = result.duration_ms, "done"
            );
            let _ = tx.send(Some(result));
        });
        rx
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
