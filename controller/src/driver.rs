//! The leader's work: watch the runners, record what happens in the
//! replicated document, plan with the engine and carry the plan out.
//!
//! One round: take the document, plan, run the plan's actions in the order
//! its graph gives (each as soon as the actions before it succeeded), record
//! every result through Raft. A failed action, a lost node, a monitor's
//! failure or an operator's command ends the round once the actions under
//! way have finished, and the next round plans again from the new document.

use crate::doc::{Command, Done, Found};
use crate::link::Link;
use crate::node::Controller;
use crate::rpc::{CtlRequest, CtlResponse};
use halo_engine::{Action, ActionKind, Plan};
use halo_model::{NodeStatus, OpAction, Policy, Role, Timestamp};
use halo_proto::wire::{MonitorEvent, Request, Response};
use halo_proto::{ActionRequest, ActionResult, AgentRef, Outcome};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

/// Something the leader heard about.
#[derive(Debug)]
pub(crate) enum Ev {
    /// A runner answered a heartbeat (after not answering, or for the first
    /// time this term).
    Up(String),
    /// A runner has not answered for the timeout.
    Down { node: String },
    /// A recurring monitor's result.
    Monitor(String, MonitorEvent),
    /// The runner answers as another run of its process than before: it
    /// restarted, perhaps too briefly to be missed.
    Restarted(String),
}

/// Default timeout of an action the policy gives none.
const ACTION_TIMEOUT: Duration = Duration::from_secs(20);

/// Wait after a first failure to fence a node (doubling after each next).
const FENCE_RETRY: Duration = Duration::from_millis(200);

/// The wall clock as the engine's time.
pub(crate) fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// What the leader knows of one node's runner this term.
#[derive(Default)]
struct NodeView {
    up: bool,
    /// Heartbeats decided: up or down.
    known: bool,
    /// Probed and recorded this term.
    joined: bool,
    /// With fencing off: when its lease has surely run out.
    lease_end: Option<Instant>,
    /// When fencing it may be tried again.
    fence_after: Option<Instant>,
}

/// The leader for one term.
pub(crate) struct Leader {
    pub ctl: Arc<Controller>,
    pub term: u64,
    ids: AtomicU64,
    nodes: BTreeMap<String, NodeView>,
    events: mpsc::UnboundedReceiver<Ev>,
    /// Heartbeats and monitor subscriptions: aborted with the leader.
    _tasks: JoinSet<()>,
    /// The last transition journalled (its plan and state): the same again,
    /// retried because nothing came of it, is not journalled twice.
    journalled: Option<(String, halo_model::ClusterState)>,
    /// Resources of lost nodes, and when the loss was noticed: their next
    /// start elsewhere ends the failover's start phase.
    failing_over: BTreeMap<String, Instant>,
}

/// One action under way: which node of the graph, and what became of it.
struct Finished {
    index: NodeIndex,
    ok: bool,
    /// When it started and how long it took.
    started: Instant,
    took: Duration,
}

impl Leader {
    pub(crate) fn new(ctl: Arc<Controller>, term: u64) -> Leader {
        let (tx, events) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for (node, client) in &ctl.runners {
            tasks.spawn(heartbeats(
                ctl.clone(),
                node.clone(),
                client.clone(),
                term,
                tx.clone(),
            ));
            tasks.spawn(monitor_events(node.clone(), client.clone(), tx.clone()));
        }
        let nodes = ctl
            .runners
            .keys()
            .map(|n| (n.clone(), NodeView::default()))
            .collect();
        Leader {
            ctl,
            term,
            ids: AtomicU64::new(term << 32),
            nodes,
            events,
            _tasks: tasks,
            journalled: None,
            failing_over: BTreeMap::new(),
        }
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Leads until the task is dropped (leadership lost).
    pub(crate) async fn run(mut self) {
        info!(term = self.term, "leading the cluster");
        let mut kick = self.ctl.kick.subscribe();
        loop {
            while let Ok(ev) = self.events.try_recv() {
                self.handle(ev).await;
            }
            if self.ctl.unrecorded.swap(false, Ordering::SeqCst) {
                // What the runners did may differ from the document: ask
                // them again before planning.
                for v in self.nodes.values_mut() {
                    v.joined = false;
                }
            }
            self.join_and_expire().await;
            self.lapse_lifetimes().await;
            let (policy, mut state) = self
                .ctl
                .sm
                .read(|m| (m.policy.clone(), m.doc.state.clone()));
            // Quorum is the controllers' majority, which this leader has.
            state.quorate = Some(true);
            // A node that stopped answering, whose lease is still being
            // waited out, may still run what it ran: nothing new goes there,
            // and what runs there moves only through a stop on it (which
            // cannot happen while it is silent) or once it is recorded lost.
            for (n, v) in &self.nodes {
                if v.known && !v.up && state.node(n).status == NodeStatus::Online {
                    state.node_mut(n).standby = true;
                }
            }
            // Plan only once every node is decided, and every node that
            // answers has been probed (unless it waits to be fenced).
            let settled = self.nodes.iter().all(|(n, v)| {
                v.known && (!v.up || v.joined || state.node(n).status == NodeStatus::Unclean)
            });
            let at = now();
            let plan = match (&policy, settled) {
                (Some(p), true) => {
                    let t = Instant::now();
                    let plan = halo_engine::plan(p, &state, at);
                    self.ctl
                        .metrics
                        .plan_seconds
                        .observe(t.elapsed().as_secs_f64());
                    Some(plan)
                }
                _ => None,
            };
            let work = plan.as_ref().is_some_and(|p| self.has_work(p));
            let mut wait = self
                .next_timer()
                .into_iter()
                .chain(self.next_lapse().map(|d| d + Duration::from_millis(10)))
                .min()
                .unwrap_or(Duration::from_secs(5));
            if let (Some(policy), Some(plan), true) = (&policy, &plan, work) {
                let before = self.ctl.sm.read(|m| m.doc.seq);
                let id = self.journal(plan, state, at).await;
                self.ctl.metrics.transitions.inc();
                self.execute(policy, plan, id).await;
                if self.ctl.sm.read(|m| m.doc.seq) != before {
                    continue;
                }
                // Nothing came of the round (a runner unreachable, fencing
                // to wait for): the same plan again would come to the same.
                // Wait for news first, or a moment.
                wait = wait.min(Duration::from_millis(
                    self.ctl.cfg.timing.heartbeat_ms.max(10),
                ));
            }
            // Nothing to do: wait for news, or for a timer.
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ev) => self.handle(ev).await,
                    None => return,
                },
                _ = kick.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Records the transition about to be executed in the journal (unless
    /// it repeats the last one); its number.
    async fn journal(
        &mut self,
        plan: &Plan,
        state: halo_model::ClusterState,
        at: halo_model::Timestamp,
    ) -> Option<u64> {
        let text = plan.to_text();
        if self
            .journalled
            .as_ref()
            .is_some_and(|(p, s)| *p == text && *s == state)
        {
            return None;
        }
        let t = crate::journal::Transition {
            id: 0,
            term: self.term,
            leader: self.ctl.cfg.name.clone(),
            cause: Vec::new(),
            policy: 0,
            at,
            state: state.clone(),
            plan: text.clone(),
            outcomes: Vec::new(),
            duration_ms: None,
        };
        self.journalled = Some((text, state));
        if !self.commit(Command::Transition(Box::new(t))).await {
            return None;
        }
        self.ctl.sm.read(|m| m.doc.journal.next.checked_sub(1))
    }

    /// Whether the plan has anything to do now (fencing may have to wait).
    fn has_work(&self, plan: &Plan) -> bool {
        plan.graph.node_weights().any(|a| self.may_run(a))
    }

    fn may_run(&self, a: &Action) -> bool {
        match a.kind {
            ActionKind::Fence => self
                .nodes
                .get(&a.node)
                .and_then(|v| v.fence_after)
                .is_none_or(|t| Instant::now() >= t),
            _ => true,
        }
    }

    fn next_timer(&self) -> Option<Duration> {
        let now = Instant::now();
        self.nodes
            .values()
            .flat_map(|v| [v.lease_end, v.fence_after])
            .flatten()
            .map(|t| t.saturating_duration_since(now))
            .min()
            .map(|d| d.max(Duration::from_millis(5)))
    }

    async fn commit(&self, cmd: Command) -> bool {
        match self.ctl.commit(cmd).await {
            Ok(_) => true,
            Err(e) => {
                warn!("cannot record a change: {e}");
                false
            }
        }
    }

    async fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Restarted(node) => {
                // Its monitors are gone and what it ran may be too: probe it
                // again, as a node that joins (a resource the document
                // holds there and the probe does not find has failed).
                info!(%node, "the runner restarted: probing it again");
                if let Some(v) = self.nodes.get_mut(&node) {
                    v.joined = false;
                }
            }
            Ev::Up(node) => {
                if let Some(v) = self.nodes.get_mut(&node) {
                    v.up = true;
                    v.known = true;
                    v.lease_end = None;
                }
            }
            Ev::Down { node } => {
                let fencing = self
                    .ctl
                    .sm
                    .read(|m| m.policy.as_ref().is_some_and(|p| p.cluster.fencing));
                let Some(v) = self.nodes.get_mut(&node) else {
                    return;
                };
                v.up = false;
                v.known = true;
                v.joined = false;
                let status = self.ctl.sm.read(|m| m.doc.state.node(&node).status);
                if status != NodeStatus::Online {
                    return;
                }
                self.ctl.alert(&crate::alerts::Event::Node {
                    node: node.clone(),
                    desc: "lost".into(),
                });
                let lost: Vec<String> = self.ctl.sm.read(|m| {
                    m.doc
                        .state
                        .resources
                        .iter()
                        .filter(|(_, on)| on.get(&node).is_some_and(|r| r.role.is_active()))
                        .map(|(r, _)| r.clone())
                        .collect()
                });
                let noticed = Instant::now();
                self.failing_over
                    .extend(lost.into_iter().map(|r| (r, noticed)));
                if fencing {
                    info!(%node, "node lost: fencing it");
                    self.commit(Command::NodeLost {
                        node,
                        unclean: true,
                        at: now(),
                    })
                    .await;
                } else {
                    // It stops its resources itself when its lease runs out,
                    // and may take their stop timeouts to do so (or its
                    // watchdog does, if it hangs): until then they may still
                    // run there.
                    let stops = self
                        .ctl
                        .sm
                        .read(|m| stop_budget(m.policy.as_deref(), &m.doc.state, &node));
                    let end = Instant::now() + self.ctl.cfg.timing.lease_wait(stops);
                    info!(%node, "node lost: its resources move when its lease has run out");
                    v.lease_end = Some(end);
                }
            }
            Ev::Monitor(node, e) => {
                self.monitor_event(&node, e).await;
            }
        }
    }

    /// Probes and records nodes that came up; records nodes whose lease ran
    /// out.
    /// Records the passing of time when a move's or a ban's lifetime is
    /// over (the document changes only through commands).
    async fn lapse_lifetimes(&mut self) {
        let t = now();
        let due = self
            .ctl
            .sm
            .read(|m| m.doc.expiring.iter().any(|e| e.at.is_some_and(|a| a <= t)));
        if due {
            self.commit(Command::Tick { at: t }).await;
        }
    }

    /// How long until the next lifetime ends, if one will.
    fn next_lapse(&self) -> Option<Duration> {
        let t = now();
        self.ctl.sm.read(|m| {
            m.doc
                .expiring
                .iter()
                .filter_map(|e| e.at)
                .map(|at| Duration::from_secs(u64::try_from(at.0 - t.0).unwrap_or(0)))
                .min()
        })
    }

    async fn join_and_expire(&mut self) {
        let now_i = Instant::now();
        let expired: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, v)| !v.up && v.lease_end.is_some_and(|t| now_i >= t))
            .map(|(n, _)| n.clone())
            .collect();
        for node in expired {
            if let Some(v) = self.nodes.get_mut(&node) {
                v.lease_end = None;
            }
            self.commit(Command::NodeLost {
                node,
                unclean: false,
                at: now(),
            })
            .await;
        }
        let joining: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, v)| v.up && !v.joined)
            .map(|(n, _)| n.clone())
            .collect();
        let Some(policy) = self.ctl.sm.read(|m| m.policy.clone()) else {
            return;
        };
        for node in joining {
            let status = self.ctl.sm.read(|m| m.doc.state.node(&node).status);
            if status == NodeStatus::Unclean {
                // Fenced first, then it may join.
                continue;
            }
            let Some(client) = self.ctl.runners.get(&node).cloned() else {
                continue;
            };
            match self.probe(&policy, &node, &client).await {
                Ok(found) => {
                    if self
                        .commit(Command::NodeJoined {
                            node: node.clone(),
                            found,
                            at: now(),
                        })
                        .await
                    {
                        if let Some(v) = self.nodes.get_mut(&node) {
                            v.joined = true;
                        }
                        self.ctl.alert(&crate::alerts::Event::Node {
                            node: node.clone(),
                            desc: "member".into(),
                        });
                        // What runs there is watched again (its runner may
                        // have restarted and lost its monitors): what the
                        // probe found, and the fence devices the document
                        // keeps there (a probe does not ask about those).
                        let kept = self.ctl.sm.read(|m| m.doc.state.active_on(&node));
                        for (rsc, role) in kept {
                            self.watch(&policy, &node, &rsc, role).await;
                        }
                    }
                }
                Err(e) => warn!(%node, "cannot probe: {e}"),
            }
        }
    }

    /// Starts the recurring monitors of `rsc` in `role` on `node`.
    async fn watch(&self, policy: &Policy, node: &str, rsc: &str, role: Role) {
        let Some(p) = policy
            .find(rsc)
            .and_then(|i| policy.resource(i))
            .and_then(|r| r.primitive())
        else {
            return;
        };
        for op in p.monitors_for(role) {
            let a = Action {
                kind: ActionKind::Monitor,
                rsc: Some(rsc.to_string()),
                node: node.to_string(),
                interval: Some(op.interval),
                role: Some(role),
                timeout: op.timeout,
                because: Vec::new(),
                notice: None,
            };
            start_monitor(&self.ctl, policy, &a, self.term).await;
        }
    }

    /// Asks a node's runner what of the policy's resources runs there.
    async fn probe(
        &self,
        policy: &Policy,
        node: &str,
        client: &Arc<Link>,
    ) -> Result<Vec<Found>, String> {
        let mut jobs = JoinSet::new();
        for r in &policy.resources {
            let Some(p) = r.primitive() else { continue };
            if p.fence.is_some() {
                continue;
            }
            let Some(req) = request(policy, &r.name, OpAction::Monitor, None, None) else {
                continue;
            };
            let client = client.clone();
            let id = self.next_id();
            let epoch = Some(self.term);
            let promotable = r.is_promotable();
            let name = r.name.clone();
            jobs.spawn(async move {
                let res = client.execute(id, epoch, &req).await?;
                let role = match res.outcome {
                    Outcome::Running | Outcome::Degraded if promotable => Role::Unpromoted,
                    Outcome::Running | Outcome::Degraded => Role::Started,
                    Outcome::Promoted | Outcome::DegradedPromoted => Role::Promoted,
                    _ => Role::Stopped,
                };
                let promotion = match res.promotion {
                    Some(halo_proto::PromotionChange::Set(p)) => Some(p),
                    _ => None,
                };
                Ok::<Found, String>(Found {
                    rsc: name,
                    role,
                    promotion,
                })
            });
        }
        let mut found = Vec::new();
        while let Some(j) = jobs.join_next().await {
            match j {
                Ok(Ok(f)) => found.push(f),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(e.to_string()),
            }
        }
        found.sort_by(|a, b| a.rsc.cmp(&b.rsc));
        info!(%node, "probed {} resources", found.len());
        Ok(found)
    }

    /// A recurring monitor reported: a result other than the role the
    /// document expects is a failure. Whether a failure was recorded.
    async fn monitor_event(&mut self, node: &str, e: MonitorEvent) -> bool {
        let (expected, failed, maintenance) = self.ctl.sm.read(|m| {
            let r = m.doc.state.on(&e.rsc, node);
            (
                r.map(|r| r.role).unwrap_or(Role::Stopped),
                r.is_some_and(|r| r.failed.is_some()),
                m.doc.state.maintenance,
            )
        });
        if maintenance {
            // Nothing is recovered in maintenance, and what runs then may be
            // changed by hand: the probe at its end says what runs.
            return false;
        }
        if !expected.is_active() {
            // A monitor left over from an earlier role or leader.
            if let Some(client) = self.ctl.runners.get(node) {
                let _ = client
                    .call(&Request::MonitorStop {
                        epoch: Some(self.term),
                        rsc: e.rsc.clone(),
                        interval_ms: e.interval_ms,
                    })
                    .await;
            }
            return false;
        }
        let fine = match expected {
            Role::Promoted => matches!(
                e.result.outcome,
                Outcome::Promoted | Outcome::DegradedPromoted
            ),
            _ => matches!(e.result.outcome, Outcome::Running | Outcome::Degraded),
        };
        if fine || failed {
            return false;
        }
        warn!(rsc = %e.rsc, %node, outcome = %e.result.outcome, "monitor failed");
        self.ctl.alert(&crate::alerts::Event::Resource {
            rsc: e.rsc.clone(),
            node: node.to_string(),
            task: "monitor".into(),
            interval_ms: e.interval_ms,
            rc: rc_of(&e.result),
            target_rc: if expected == Role::Promoted { 8 } else { 0 },
            desc: e.result.outcome.to_string(),
        });
        let seen = match e.result.outcome {
            Outcome::Promoted => Some(Role::Promoted),
            _ => None,
        };
        self.commit(Command::Done(Done {
            rsc: e.rsc.clone(),
            node: node.to_string(),
            op: OpAction::Monitor,
            ok: false,
            rc: rc_of(&e.result),
            seen,
            promotion: None,
            attributes: Vec::new(),
            at: now(),
            definition: None,
        }))
        .await;
        // Recorded or not (then every node is probed again), the plan is
        // out of date.
        true
    }

    /// Carries out `plan` until it is done or something ends the round.
    async fn execute(&mut self, policy: &Arc<Policy>, plan: &Plan, journal: Option<u64>) {
        let began = Instant::now();
        let mut outcomes = Vec::new();
        let g = &plan.graph;
        let mut waiting: BTreeMap<NodeIndex, usize> = g
            .node_indices()
            .map(|i| (i, g.neighbors_directed(i, Direction::Incoming).count()))
            .collect();
        let mut ready: VecDeque<NodeIndex> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(i, _)| *i)
            .collect();
        let mut running: JoinSet<Finished> = JoinSet::new();
        let mut labels: BTreeMap<NodeIndex, String> = BTreeMap::new();
        let mut stop = false;
        let mut kick = self.ctl.kick.subscribe();
        kick.mark_unchanged();
        loop {
            while let Some(i) = ready.pop_front() {
                let Some(a) = g.node_weight(i) else { continue };
                // A stopping round still starts the monitors of what it
                // brought up: the next plan sees those resources in
                // their role already and does not ask for them again. It
                // still tells the peers of what was done (post notifications
                // run after an abort, as Pacemaker gives them priority
                // INFINITY).
                let finishes = a.kind == ActionKind::Monitor || a.is_post_notification();
                if (stop && !finishes) || !self.may_run(a) {
                    continue;
                }
                labels.insert(i, a.to_string());
                let job = self.job(policy, a.clone());
                running.spawn(async move {
                    let started = Instant::now();
                    let ok = job.await;
                    Finished {
                        index: i,
                        ok,
                        started,
                        took: started.elapsed(),
                    }
                });
            }
            self.ctl.set_running(labels.values().cloned().collect());
            if running.is_empty() {
                break;
            }
            tokio::select! {
                done = running.join_next() => {
                    let Some(done) = done else { break };
                    let Ok(f) = done else { stop = true; continue };
                    labels.remove(&f.index);
                    if let Some(a) = g.node_weight(f.index) {
                        outcomes.push(self.outcome(a, &f, began));
                    }
                    if !f.ok {
                        stop = true;
                        // The peers are told even of a failed operation.
                        for next in g.neighbors_directed(f.index, Direction::Outgoing) {
                            let post = g.node_weight(next).is_some_and(Action::is_post_notification);
                            if let (true, Some(n)) = (post, waiting.get_mut(&next)) {
                                *n = n.saturating_sub(1);
                                if *n == 0 {
                                    ready.push_back(next);
                                }
                            }
                        }
                        if let Some(a) = g.node_weight(f.index).filter(|a| a.kind == ActionKind::Fence) {
                            // Back off: 200 ms after the first failure, doubling to 5 s.
                            let attempts = self.ctl.sm.read(|m| {
                                m.doc.fencing.iter().find(|p| p.node == a.node).map_or(1, |p| p.attempts)
                            });
                            let wait = FENCE_RETRY
                                .saturating_mul(1 << attempts.saturating_sub(1).min(5))
                                .min(Duration::from_secs(5));
                            if let Some(v) = self.nodes.get_mut(&a.node) {
                                v.fence_after = Some(Instant::now() + wait);
                            }
                        }
                        continue;
                    }
                    for next in g.neighbors_directed(f.index, Direction::Outgoing) {
                        if let Some(n) = waiting.get_mut(&next) {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                ready.push_back(next);
                            }
                        }
                    }
                }
                ev = self.events.recv() => match ev {
                    // Runners report every monitor result: only a failure,
                    // now recorded, makes the plan out of date.
                    Some(Ev::Monitor(node, e)) => stop |= self.monitor_event(&node, e).await,
                    Some(ev) => {
                        stop |= matches!(ev, Ev::Down { .. });
                        self.handle(ev).await;
                    }
                    None => {}
                },
                _ = kick.changed() => stop = true,
            }
        }
        self.ctl.set_running(Vec::new());
        if let Some(id) = journal {
            let duration_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.commit(Command::TransitionDone {
                id,
                outcomes,
                duration_ms,
            })
            .await;
        }
    }

    /// What became of one action, for the journal and the metrics.
    fn outcome(&mut self, a: &Action, f: &Finished, began: Instant) -> crate::journal::Outcome {
        let m = &self.ctl.metrics;
        if !a.kind.is_pseudo() {
            let outcome = if f.ok { "ok" } else { "failed" };
            m.actions
                .with_label_values(&[a.kind.as_str(), outcome])
                .inc();
        }
        match a.kind {
            ActionKind::Fence => {
                let outcome = if f.ok { "ok" } else { "failed" };
                m.fencing.with_label_values(&[&a.node, outcome]).inc();
                m.failover
                    .with_label_values(&["fencing"])
                    .observe(f.took.as_secs_f64());
            }
            ActionKind::Start | ActionKind::Promote if f.ok => {
                if let Some(lost) = a.rsc.as_ref().and_then(|r| self.failing_over.remove(r)) {
                    m.failover
                        .with_label_values(&["start"])
                        .observe(lost.elapsed().as_secs_f64());
                }
            }
            _ => {}
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        crate::journal::Outcome {
            action: a.to_string(),
            ok: f.ok,
            started_ms: ms(f.started.saturating_duration_since(began)),
            took_ms: ms(f.took),
        }
    }

    /// One action, carried out and recorded: whether it succeeded.
    fn job(
        &self,
        policy: &Arc<Policy>,
        a: Action,
    ) -> impl std::future::Future<Output = bool> + Send + 'static {
        let ctl = self.ctl.clone();
        let term = self.term;
        let id = self.next_id();
        let policy = policy.clone();
        // A notification for a node whose runner has stopped answering (lost,
        // its lease running out) is not sent: Pacemaker sends none to a node
        // that is not online, and waiting for the runner would hold the plan.
        let unreachable = a.kind == ActionKind::Notify
            && self.nodes.get(&a.node).is_some_and(|v| v.known && !v.up);
        async move {
            // A point in the plan: nothing to run.
            if a.kind.is_pseudo() {
                return true;
            }
            if unreachable {
                info!("{a}: not sent, {} does not answer", a.node);
                return true;
            }
            // A leader that has not heard from a majority lately may have been
            // replaced already: it must not act.
            if !ctl.confirm_leadership().await {
                warn!("{a}: not sent, no recent answer from a majority of the controllers");
                return false;
            }
            match a.kind {
                ActionKind::Fence => fence(&ctl, &policy, &a.node, term, id).await,
                ActionKind::Monitor => start_monitor(&ctl, &policy, &a, term).await,
                ActionKind::Notify => run_notify(&ctl, &policy, &a, term, id).await,
                ActionKind::Notified => true,
                ActionKind::Start => run_action(&ctl, &policy, &a, OpAction::Start, term, id).await,
                ActionKind::Stop => run_action(&ctl, &policy, &a, OpAction::Stop, term, id).await,
                ActionKind::Promote => {
                    run_action(&ctl, &policy, &a, OpAction::Promote, term, id).await
                }
                ActionKind::Demote => {
                    run_action(&ctl, &policy, &a, OpAction::Demote, term, id).await
                }
                ActionKind::Reload => {
                    run_action(&ctl, &policy, &a, OpAction::Reload, term, id).await
                }
            }
        }
    }
}

/// The longest a runner may take to stop what runs on `node`: the largest
/// stop timeout among its resources.
fn stop_budget(policy: Option<&Policy>, state: &halo_model::ClusterState, node: &str) -> Duration {
    let Some(policy) = policy else {
        return ACTION_TIMEOUT;
    };
    state
        .resources
        .iter()
        .filter(|(_, per)| per.get(node).is_some_and(|r| r.role.is_active()))
        .filter_map(|(rsc, _)| request(policy, rsc, OpAction::Stop, None, None))
        .map(|r| Duration::from_millis(r.timeout_ms))
        .max()
        .unwrap_or(Duration::ZERO)
}

/// The longest stop timeout of any resource of `policy`, and whose it is:
/// the most a lost node may take to stop what it runs (fencing off).
pub fn longest_stop(policy: &Policy) -> Option<(Duration, String)> {
    policy
        .resources
        .iter()
        .filter(|r| r.primitive().is_some_and(|p| p.fence.is_none()))
        .filter_map(|r| {
            let req = request(policy, &r.name, OpAction::Stop, None, None)?;
            Some((Duration::from_millis(req.timeout_ms), r.name.clone()))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
}

/// The exit code to record for a result (a timeout or an agent that could not
/// run counts as a generic error, 1).
fn rc_of(r: &ActionResult) -> i32 {
    match (r.rc, r.outcome) {
        (Some(rc), _) => rc,
        (None, Outcome::NotInstalled) => 5,
        (None, _) => 1,
    }
}

/// The runner request for `op` on `rsc` (a primitive or clone), as the policy
/// defines it.
fn request(
    policy: &Policy,
    rsc: &str,
    op: OpAction,
    role: Option<Role>,
    interval: Option<halo_model::Duration>,
) -> Option<ActionRequest> {
    let p = policy.resource(policy.find(rsc)?)?.primitive()?;
    let declared = p.ops.iter().find(|o| {
        o.action == op
            && interval.is_none_or(|i| o.interval == i)
            && (role.is_none() || o.role.is_none() || o.role == role)
    });
    // A fence device is "started" by checking it can reach its hardware.
    let action = match (p.fence.is_some(), op) {
        (true, OpAction::Start) => "monitor",
        // Pacemaker's name; the runner runs `reload` for an agent older than
        // OCF 1.1.
        (_, OpAction::Reload) => "reload-agent",
        _ => op.as_str(),
    };
    agent_request(policy, rsc, action, declared, interval)
}

/// The runner request for the agent's `action` on `rsc`, with the timeout and
/// parameters of the operation the policy declares for it, if any.
fn agent_request(
    policy: &Policy,
    rsc: &str,
    action: &str,
    declared: Option<&halo_model::Operation>,
    interval: Option<halo_model::Duration>,
) -> Option<ActionRequest> {
    let r = policy.resource(policy.find(rsc)?)?;
    let p = r.primitive()?;
    let agent = AgentRef::parse(&p.agent.to_string()).ok()?;
    let timeout = declared
        .and_then(|o| o.timeout)
        .or(policy.op_timeout)
        .map(|d| Duration::from_millis(d.as_ms()))
        .unwrap_or(ACTION_TIMEOUT);
    // Secrets go by name: the node's runner fills in their values.
    let (mut params, secrets) = p.agent_params();
    if let Some(o) = declared {
        params.extend(o.params.clone());
    }
    let mut meta = BTreeMap::new();
    if let Some(c) = &r.clone {
        let nodes = policy.cluster.nodes.len();
        meta.insert(
            "clone_max".to_string(),
            c.max.map_or(nodes.to_string(), |m| m.to_string()),
        );
        meta.insert("clone_node_max".to_string(), c.node_max.to_string());
        meta.insert("notify".to_string(), c.notify.to_string());
        meta.insert("globally_unique".to_string(), c.unique.to_string());
        if c.promotable {
            meta.insert("promotable".to_string(), "true".to_string());
            // Agents written before Pacemaker 2.1 read the older names
            // (`ocf_is_ms` checks master_max), which Pacemaker still sets.
            for (name, n) in [
                ("promoted_max", c.promoted_max),
                ("master_max", c.promoted_max),
                ("promoted_node_max", c.promoted_node_max),
                ("master_node_max", c.promoted_node_max),
            ] {
                meta.insert(name.to_string(), n.to_string());
            }
        }
    }
    Some(ActionRequest {
        rsc: rsc.to_string(),
        agent,
        action: action.to_string(),
        params,
        meta,
        interval_ms: interval.map_or(0, |i| i.as_ms()),
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        target: None,
        secrets,
        view: None,
    })
}

async fn run_action(
    ctl: &Arc<Controller>,
    policy: &Policy,
    a: &Action,
    op: OpAction,
    term: u64,
    id: u64,
) -> bool {
    let Some(rsc) = &a.rsc else { return false };
    let Some(client) = ctl.runners.get(&a.node) else {
        warn!(node = %a.node, "no runner address for {}: it is not in [nodes]", a.node);
        return false;
    };
    let is_fence_device = policy.is_fence_device(rsc);
    let result = if is_fence_device && op == OpAction::Stop {
        // Nothing to stop: the device is simply no longer used from there.
        Ok(None)
    } else {
        let Some(mut req) = request(policy, rsc, op, a.role, None) else {
            warn!(%rsc, "cannot build the request for {a}");
            return false;
        };
        req.view = Some(ctl.sm.read(|m| m.doc.view()));
        // An instance stops with the parameters it was started with, as
        // Pacemaker's controller keeps them (`stop_params`): a changed state
        // file or address must not make the agent look in the wrong place.
        if op == OpAction::Stop {
            let started = ctl.sm.read(|m| {
                m.doc
                    .state
                    .on(rsc, &a.node)
                    .and_then(|r| r.definition.clone())
            });
            if let Some(d) = started {
                let own = policy
                    .find(rsc)
                    .and_then(|id| policy.resource(id)?.primitive())
                    .and_then(|p| p.op(OpAction::Stop, None))
                    .map(|o| o.params.clone())
                    .unwrap_or_default();
                req.params = d.params;
                req.params.extend(own);
                req.secrets = d.secrets;
            }
        }
        info!("{a}");
        // The agent's own timeout bounds the action; a runner that cannot
        // answer by then (unreachable) does not hold the round up longer.
        let limit = Duration::from_millis(req.timeout_ms + 2 * ctl.cfg.timing.timeout_ms);
        match tokio::time::timeout(limit, client.execute(id, Some(term), &req)).await {
            Ok(r) => r.map(Some),
            Err(_) => Err(format!("no result within {} ms", limit.as_millis())),
        }
    };
    match result {
        Ok(r) => {
            // Judged by the action the runner ran: a fence device's start is
            // its agent's monitor, which answers "running".
            let sent = if is_fence_device && op == OpAction::Start {
                "monitor"
            } else {
                op.as_str()
            };
            let ok = r.as_ref().is_none_or(|r| r.outcome.ok(sent));
            if let Some(r) = r.as_ref().filter(|_| !ok) {
                warn!(
                    "{a} failed: {} {}",
                    r.outcome,
                    r.exit_reason.as_deref().unwrap_or_default()
                );
            }
            ctl.alert(&crate::alerts::Event::Resource {
                rsc: rsc.clone(),
                node: a.node.clone(),
                task: op.as_str().into(),
                interval_ms: 0,
                rc: r.as_ref().map_or(0, rc_of),
                target_rc: 0,
                desc: r
                    .as_ref()
                    .map_or_else(|| "ok".to_string(), |r| r.outcome.to_string()),
            });
            // What the agent now runs with, and what it could reload.
            let definition = match (op, &r) {
                (OpAction::Start | OpAction::Reload, Some(r)) if ok && !is_fence_device => policy
                    .find(rsc)
                    .and_then(|id| policy.resource(id)?.primitive())
                    .map(|p| halo_model::Definition {
                        restart: r.restart.clone(),
                        ..p.definition()
                    }),
                _ => None,
            };
            let done = Done {
                rsc: rsc.clone(),
                node: a.node.clone(),
                op,
                ok,
                rc: r.as_ref().map_or(0, rc_of),
                seen: None,
                attributes: r.as_ref().map(|r| r.attributes.clone()).unwrap_or_default(),
                promotion: r.and_then(|r| r.promotion),
                at: now(),
                definition,
            };
            match ctl.commit(Command::Done(done)).await {
                Ok(_) => ok,
                Err(e) => {
                    warn!("{a}: its result could not be recorded: {e}");
                    false
                }
            }
        }
        Err(e) => {
            // The runner is unreachable: the node's loss will be handled when
            // its heartbeats stop; nothing is recorded about the action.
            warn!("{a}: {e}");
            false
        }
    }
}

/// A clone notification: the agent's `notify` action, with Pacemaker's
/// variables as `OCF_RESKEY_CRM_meta_notify_*`. It changes no role and its
/// failure holds nothing up: Pacemaker ignores a failed notify
/// (`pcmk__update_graph`'s callers treat it as done), so it is only logged.
async fn run_notify(
    ctl: &Arc<Controller>,
    policy: &Policy,
    a: &Action,
    term: u64,
    id: u64,
) -> bool {
    let (Some(rsc), Some(notice)) = (&a.rsc, &a.notice) else {
        return true;
    };
    let Some(client) = ctl.runners.get(&a.node) else {
        warn!(node = %a.node, "no runner address for {}: {a} not sent", a.node);
        return true;
    };
    let Some(mut req) = agent_request(policy, rsc, "notify", None, None) else {
        warn!(%rsc, "cannot build the request for {a}");
        return true;
    };
    req.meta.extend(notice.vars.clone());
    req.view = Some(ctl.sm.read(|m| m.doc.view()));
    info!("{a}");
    let limit = Duration::from_millis(req.timeout_ms + 2 * ctl.cfg.timing.timeout_ms);
    match tokio::time::timeout(limit, client.execute(id, Some(term), &req)).await {
        Ok(Ok(r)) if r.outcome.ok("notify") => {}
        Ok(Ok(r)) => warn!(
            "{a} failed: {} {} (ignored, as Pacemaker ignores it)",
            r.outcome,
            r.exit_reason.as_deref().unwrap_or_default()
        ),
        Ok(Err(e)) => warn!("{a}: {e}"),
        Err(_) => warn!("{a}: no result within {} ms", limit.as_millis()),
    }
    true
}

async fn start_monitor(ctl: &Arc<Controller>, policy: &Policy, a: &Action, term: u64) -> bool {
    let (Some(rsc), Some(interval)) = (&a.rsc, a.interval) else {
        return true;
    };
    let Some(client) = ctl.runners.get(&a.node) else {
        return false;
    };
    let Some(req) = request(policy, rsc, OpAction::Monitor, a.role, Some(interval)) else {
        return false;
    };
    match client
        .call(&Request::MonitorStart {
            epoch: Some(term),
            action: req,
            digest_every: 0,
        })
        .await
    {
        Ok(Response::Ok) => true,
        Ok(other) => {
            warn!("{a}: {other:?}");
            false
        }
        Err(e) => {
            warn!("{a}: {e}");
            false
        }
    }
}

/// Fences `target` with a device that may fence it, run by another node's
/// runner; records the outcome.
async fn fence(ctl: &Arc<Controller>, policy: &Policy, target: &str, term: u64, id: u64) -> bool {
    if ctl.took_over_for(target).await {
        info!(%target, "not fenced: this replica took the lead because it still reaches {target}");
        let _ = ctl
            .commit(Command::FenceCalledOff {
                node: target.to_string(),
                at: now(),
            })
            .await;
        return false;
    }
    let mut error = format!("no fence device can fence {target}");
    let levels = fence_levels(policy, target);
    // Pacemaker's fencer delays the first level only.
    if let Some(first) = levels.first().and_then(|l| l.first()) {
        let (delay, why, important) = fence_delay(ctl, policy, target, first);
        if !delay.is_zero() {
            info!(%target, "fencing delayed by {} ms: {why}", delay.as_millis());
            let wait = tokio::time::sleep(delay);
            if important {
                // Meanwhile a replica that still reaches it may take the lead.
                tokio::select! {
                    () = wait => {}
                    () = hand_over(ctl, target) => {}
                }
            } else {
                wait.await;
            }
            // Leadership may have moved meanwhile: a replaced leader must
            // not fence.
            if !ctl.confirm_leadership().await {
                warn!(%target, "not fenced after the delay: no longer the confirmed leader");
                return false;
            }
        }
    }
    for level in levels {
        let done = if let [device] = level.as_slice() {
            fence_with(ctl, policy, device, target, "reboot", term, id).await
        } else {
            reboot_level(ctl, policy, &level, target, term, id).await
        };
        match done {
            Ok(exec) => {
                info!(%target, devices = %level.join(", "), "fenced");
                ctl.alert(&crate::alerts::Event::Fencing {
                    target: target.to_string(),
                    task: "reboot".into(),
                    rc: 0,
                    desc: format!("Operation reboot of {target} by {exec} for halo: OK"),
                });
                return ctl
                    .commit(Command::NodeFenced {
                        node: target.to_string(),
                        at: now(),
                    })
                    .await
                    .is_ok();
            }
            Err(e) => {
                warn!(%target, devices = %level.join(", "), "this fencing level failed: {e}");
                error = e;
            }
        }
    }
    warn!(%target, "fencing failed: {error}");
    ctl.alert(&crate::alerts::Event::Fencing {
        target: target.to_string(),
        task: "reboot".into(),
        rc: 1,
        desc: format!("Operation reboot of {target} for halo: {error}"),
    });
    let _ = ctl
        .commit(Command::FenceFailed {
            node: target.to_string(),
            error,
            at: now(),
        })
        .await;
    false
}

/// Asks the other replicas, again and again, to take the lead from this
/// one, which lost `target` though `target` runs the most important
/// resources (`take_over` in node.rs); once one does, waits for the end of
/// the delay, by which this replica no longer leads and does not fence.
async fn hand_over(ctl: &Controller, target: &str) {
    let limit = Duration::from_millis(ctl.cfg.timing.election_ms);
    loop {
        for (id, who) in &ctl.replicas.names {
            // This replica has no link to itself.
            let Some(link) = ctl.replicas.clients.get(id) else {
                continue;
            };
            let ask = CtlRequest::TakeOver {
                target: target.to_string(),
            };
            if let Ok(CtlResponse::TookOver) = link.ctl(ask, limit).await {
                info!(%target, "{who} takes the lead: it still reaches {target}");
                return std::future::pending().await;
            }
        }
        tokio::time::sleep(limit * 2).await;
    }
}

/// How long to wait before fencing `target` with `device` first, why, and
/// whether `priority-fencing-delay` is part of it:
/// `priority-fencing-delay` when `target` runs the most important resources
/// and this side holds no more than half the nodes (Pacemaker's
/// `node_priority_fencing_delay`), plus the device's own delay — its base,
/// and a random part up to its maximum (`schedule_stonith_command`).
fn fence_delay(
    ctl: &Controller,
    policy: &Policy,
    target: &str,
    device: &str,
) -> (Duration, String, bool) {
    let mut why = Vec::new();
    let mut delay = Duration::ZERO;
    let mut important = false;
    if let Some(d) = policy.cluster.priority_fencing_delay {
        let answering = ctl.answering();
        let online = policy
            .cluster
            .nodes
            .iter()
            .filter(|n| n.name != target && answering.contains(&n.name))
            .count();
        let priorities = ctl.sm.read(|m| node_priorities(policy, &m.doc.state));
        let top = priorities.values().copied().max().unwrap_or(0);
        let low = priorities.values().copied().min().unwrap_or(0);
        let mine = priorities.get(target).copied().unwrap_or(0);
        if online <= policy.cluster.nodes.len() / 2 && low != top && mine == top {
            important = true;
            delay += Duration::from_millis(d.as_ms());
            why.push(format!(
                "priority-fencing-delay {d}: {target} runs the most important resources (priority {mine})"
            ));
        }
    }
    let spec = policy
        .find(device)
        .and_then(|r| policy.resource(r)?.primitive()?.fence.as_ref());
    if let Some(spec) = spec {
        let base = spec.delay_base.map_or(0, |d| d.as_ms());
        let max = spec.delay_max.map_or(base, |d| d.as_ms());
        // A base above the maximum is limited to it, as Pacemaker does.
        let base = base.min(max);
        if max > 0 {
            let random = if max > base {
                rand::Rng::gen_range(&mut rand::thread_rng(), 0..max - base)
            } else {
                0
            };
            delay += Duration::from_millis(base + random);
            why.push(format!(
                "{device}'s delay ({} ms of up to {max} ms)",
                base + random
            ));
        }
    }
    (delay, why.join("; "), important)
}

/// Each node's priority: the sum of the priorities of what runs there and
/// has not failed, a promoted instance counting one more (Pacemaker's
/// `native_priority_to_node`).
fn node_priorities(policy: &Policy, state: &halo_model::ClusterState) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = policy
        .cluster
        .nodes
        .iter()
        .map(|n| (n.name.clone(), 0))
        .collect();
    for (rsc, per) in &state.resources {
        let Some(id) = policy.find(rsc) else { continue };
        let priority = policy.meta(id, |m| m.priority).unwrap_or(0);
        if priority == 0 {
            continue;
        }
        for (node, r) in per {
            if r.failed.is_some() {
                continue;
            }
            for role in r.roles() {
                let p = priority + i64::from(role == Role::Promoted);
                *out.entry(node.clone()).or_default() += p;
            }
        }
    }
    out
}

/// The ways to fence `target`, tried in order: its fence order's levels
/// (every device of a level must succeed), or else each device that can
/// fence it, alone, in declaration order (Pacemaker's fencer without a
/// topology).
fn fence_levels(policy: &Policy, target: &str) -> Vec<Vec<String>> {
    if let Some(o) = policy
        .cluster
        .fence_orders
        .iter()
        .find(|o| o.node == target)
    {
        return o.levels.iter().map(|l| l.devices.clone()).collect();
    }
    policy
        .resources
        .iter()
        .filter(|r| {
            r.primitive()
                .and_then(|p| p.fence.as_ref())
                .is_some_and(|f| f.targets.is_empty() || f.targets.iter().any(|t| t == target))
        })
        .map(|r| vec![r.name.clone()])
        .collect()
}

/// A level of several devices reboots the node as Pacemaker's fencer does
/// (`fenced_remote.c`, `advance_topology_level`): every device powers it
/// off, then every device powers it on again — think of the two power
/// supplies of one machine. The level fails at the first device that cannot
/// power it off; failures to power it on are only logged.
async fn reboot_level(
    ctl: &Arc<Controller>,
    policy: &Policy,
    level: &[String],
    target: &str,
    term: u64,
    id: u64,
) -> Result<String, String> {
    let mut exec = String::new();
    for d in level {
        exec = fence_with(ctl, policy, d, target, "off", term, id).await?;
    }
    for d in level {
        if let Err(e) = fence_with(ctl, policy, d, target, "on", term, id).await {
            info!(%target, device = %d, "not powered on again: {e}");
        }
    }
    Ok(exec)
}

/// Runs fence device `device` with `action` against `target`, from a node
/// whose runner answers (one where the device runs first): the node it ran
/// from, or what failed where.
async fn fence_with(
    ctl: &Arc<Controller>,
    policy: &Policy,
    device: &str,
    target: &str,
    action: &str,
    term: u64,
    id: u64,
) -> Result<String, String> {
    let spec = policy
        .find(device)
        .and_then(|r| policy.resource(r)?.primitive()?.fence.as_ref())
        .ok_or_else(|| format!("{device} is not a fence device"))?;
    let exec = fence_executor(ctl, policy, device, target)
        .ok_or_else(|| format!("no node is online to run fence device {device}"))?;
    let client = ctl
        .runners
        .get(exec.as_str())
        .ok_or_else(|| format!("no runner address for {exec}"))?;
    let mut req = request(policy, device, OpAction::Start, None, None)
        .ok_or_else(|| format!("cannot build the request for {device}"))?;
    req.action = action.to_string();
    req.target = Some(
        spec.host_map
            .get(target)
            .cloned()
            .unwrap_or_else(|| target.to_string()),
    );
    if let Some(t) = spec.timeout {
        req.timeout_ms = t.as_ms();
    }
    info!(%target, %device, via = %exec, %action, "fencing");
    match client.fence(id, Some(term), &req).await {
        Ok(res) if res.outcome.ok(action) => Ok(exec),
        Ok(res) => Err(format!(
            "{device} via {exec}: {} {}",
            res.outcome,
            res.exit_reason.unwrap_or_default()
        )),
        Err(e) => Err(format!("{device} via {exec}: {e}")),
    }
}

/// The node to run fence device `device` from: any node whose runner answers
/// — even one the document still holds unclean (when every node was lost at
/// once, one of them must fence the others) — one where the device runs
/// first, then those online.
fn fence_executor(ctl: &Controller, policy: &Policy, device: &str, target: &str) -> Option<String> {
    let answering = ctl.answering();
    ctl.sm.read(|m| {
        let s = &m.doc.state;
        let mut online: Vec<String> = policy
            .cluster
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .filter(|n| n != target && answering.contains(n))
            .collect();
        online.sort_by_key(|n| s.node(n).status != NodeStatus::Online);
        let running = s.resources.get(device).and_then(|per| {
            online
                .iter()
                .find(|n| per.get(*n).is_some_and(|x| x.role.is_active()))
                .cloned()
        });
        running.or_else(|| online.first().cloned())
    })
}

/// Heartbeats to one runner, for the term: reports it up and down. Each
/// heartbeat runs on its own, so a runner is declared lost as soon as it has
/// been silent for the timeout, not when a pending heartbeat gives up.
async fn heartbeats(
    ctl: Arc<Controller>,
    node: String,
    client: Arc<Link>,
    term: u64,
    tx: mpsc::UnboundedSender<Ev>,
) {
    let t = ctl.cfg.timing;
    let every = Duration::from_millis(t.heartbeat_ms);
    let timeout = Duration::from_millis(t.timeout_ms);
    // A connection from this replica's earlier terms may lead to a runner
    // process that has restarted since: start the term on a new one. And
    // a heartbeat that goes unanswered for half the timeout drops the
    // connection (see `request_within`), so the next ones reconnect well
    // before the runner would be declared lost.
    client.reconnect().await;
    let beat_limit = (timeout / 2).max(every * 2).min(timeout);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    // Silence counts from the start of the term — except, with fencing on,
    // on the node of the leader before: this replica last heard it before
    // the election, which that leader's silence caused. When the old
    // leader's node dies, waiting out a full timeout again would double the
    // failover time. Its runner still gets a short grace to answer: a
    // replica may be slow while its node's runner is fine. (Only that node:
    // followers do not talk to each other, so no other replica's silence
    // says anything.)
    let fencing = ctl
        .sm
        .read(|m| m.policy.as_ref().is_some_and(|p| p.cluster.fencing));
    let since = match ctl.previous_leader_heard(&node) {
        Some(heard) if fencing => {
            let floor = started
                .checked_sub(timeout.saturating_sub(every * 2))
                .unwrap_or(started);
            heard.clamp(floor, started)
        }
        _ => started,
    };
    let mut last_ok: Option<Instant> = None;
    // None: not decided yet this term.
    let mut up: Option<bool> = None;
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(Instant, u64)>();
    let mut boot: Option<u64> = None;
    let mut pending = JoinSet::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                while pending.try_join_next().is_some() {}
                // A leader cut off from the other replicas must not keep the
                // runners' leases alive: a new leader on the other side is
                // waiting them out.
                let ack = ctl.raft.metrics().borrow().millis_since_quorum_ack;
                if ack.is_some_and(|ms| ms <= t.lease_ms / 2) {
                    let fencing = ctl
                        .sm
                        .read(|m| m.policy.as_ref().is_some_and(|p| p.cluster.fencing));
                    // Once the runner is declared lost, its lease is left
                    // to run out (the leader is counting on that) until it
                    // is back.
                    let req = Request::Heartbeat {
                        epoch: Some(term),
                        lease_ms: (!fencing).then_some(t.lease_ms),
                        hold: up == Some(false),
                    };
                    let (client, answers_tx, node) = (client.clone(), answers_tx.clone(), node.clone());
                    let rtt = ctl.metrics.runner_rtt.with_label_values(&[&node]);
                    pending.spawn(async move {
                        let sent = Instant::now();
                        match client.call_within(&req, beat_limit).await {
                            Ok(Response::Heartbeat { boot, .. }) => {
                                rtt.observe(sent.elapsed().as_secs_f64());
                                let _ = answers_tx.send((sent, boot));
                            }
                            Ok(Response::Refused { why }) => {
                                warn!(%node, "the runner refuses this controller: {why}");
                            }
                            _ => {}
                        }
                    });
                }
            }
            Some((sent, now_boot)) = answers.recv() => {
                last_ok = last_ok.max(Some(sent));
                let restarted = boot.is_some_and(|b| b != now_boot);
                boot = Some(now_boot);
                if restarted && tx.send(Ev::Restarted(node.clone())).is_err() {
                    return;
                }
            }
        }
        let silent = last_ok.unwrap_or(since).elapsed();
        let now_up = last_ok.is_some() && silent < timeout;
        let now_down = silent >= timeout;
        if now_up && up != Some(true) {
            up = Some(true);
            ctl.set_runner(&node, true);
            if tx.send(Ev::Up(node.clone())).is_err() {
                return;
            }
        } else if now_down && up != Some(false) {
            if up == Some(true) {
                // How long the node was silent before it was declared lost.
                ctl.metrics
                    .failover
                    .with_label_values(&["detection"])
                    .observe(silent.as_secs_f64());
            }
            up = Some(false);
            ctl.set_runner(&node, false);
            if tx.send(Ev::Down { node: node.clone() }).is_err() {
                return;
            }
        }
    }
}

/// Monitor events from one runner, resubscribing after a lost connection.
async fn monitor_events(node: String, client: Arc<Link>, tx: mpsc::UnboundedSender<Ev>) {
    loop {
        match client.subscribe().await {
            Ok(mut events) => {
                while let Ok(Some(e)) = events.next().await {
                    if tx.send(Ev::Monitor(node.clone(), e)).is_err() {
                        return;
                    }
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        if tx.is_closed() {
            return;
        }
    }
}
