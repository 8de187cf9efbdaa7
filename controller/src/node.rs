//! One controller replica: its Raft, its QUIC server (Raft messages from the
//! other replicas, requests from operators), and the leader's work whenever
//! this replica leads.

use crate::doc::{compile, AdminOp, Command};
use crate::driver::{now, Leader};
use crate::link::Link;
use crate::rpc::{CtlRequest, CtlResponse, Network, Replicas, Status};
use crate::store::{LogStore, NodeId, Raft, StateMachine};
use halo_net::identity::{Identity, Role};
use halo_net::{frame, server, tls, Client, ControllerConfig};
use openraft::{BasicNode, ServerState};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// How long a replica that stopped on a storage error, or could not start
/// from its storage, waits before it starts again.
pub const RESTART_AFTER: Duration = Duration::from_secs(5);

/// Runs a replica for as long as the process runs. Its storage failing
/// (a full or failing disk: its Raft stops at the first write it cannot
/// make) ends only the replica, not the process: the node's runner goes on
/// and the other replicas keep the cluster, while this one starts again
/// every [`RESTART_AFTER`] from what its disk holds, until it can.
pub async fn run(cfg: ControllerConfig) -> Result<(), String> {
    let mut restarting = false;
    loop {
        match Controller::start(cfg.clone()).await {
            Ok(c) => match c.serve().await {
                Ok(()) => return Ok(()),
                Err(ServeError::RaftStopped(why)) => {
                    restarting = true;
                    tracing::error!(
                        "this node's controller replica stopped: {why}; it starts again in {} s from what its disk holds",
                        RESTART_AFTER.as_secs()
                    );
                }
                // At the first start a setup error is the config's; once
                // the replica ran, its port may still be held by the
                // connections of the run that stopped: try again.
                Err(ServeError::Setup(why)) if restarting => tracing::error!(
                    "this node's controller replica does not start again yet: {why}; it tries again in {} s",
                    RESTART_AFTER.as_secs()
                ),
                Err(ServeError::Setup(why)) => return Err(why),
            },
            Err(StartError::Storage(why)) => tracing::error!(
                "this node's controller replica does not start: {why}; it tries again in {} s",
                RESTART_AFTER.as_secs()
            ),
            Err(e) => return Err(e.to_string()),
        }
        tokio::time::sleep(RESTART_AFTER).await;
    }
}

/// Why a replica stopped serving.
#[derive(Debug)]
pub enum ServeError {
    /// Its server could not be set up (its address or certificate).
    Setup(String),
    /// Its Raft stopped on an error, its storage failing: the replica can
    /// start again from what its disk holds.
    RaftStopped(String),
}

/// Why a replica does not start.
#[derive(Debug)]
pub enum StartError {
    /// Its configuration or transport cannot be set up.
    Setup(String),
    /// Its stored state (vote, log, snapshot) is damaged or unreadable: the
    /// replica stays down rather than lose what it acknowledged.
    Storage(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Setup(why) | StartError::Storage(why) => f.write_str(why),
        }
    }
}

pub struct Controller {
    pub cfg: ControllerConfig,
    pub me: NodeId,
    pub replicas: Arc<Replicas>,
    pub raft: Raft,
    pub sm: StateMachine,
    /// A client of every node's runner, with this replica's certificate.
    pub runners: BTreeMap<String, Arc<Link>>,
    /// Bumped when an operator changed the document: the leader plans again.
    pub kick: watch::Sender<u64>,
    /// A change could not be recorded (an action's result among them): the
    /// leader re-learns what runs before it plans again.
    pub(crate) unrecorded: std::sync::atomic::AtomicBool,
    live: Mutex<Live>,
    /// When this replica started: it has heard no leader since before.
    started: tokio::time::Instant,
    /// The alert programs this replica runs while it leads.
    pub(crate) alerts: crate::alerts::Alerts,
    /// This replica's own metrics (`http.rs` serves them).
    pub(crate) metrics: crate::metrics::Metrics,
}

/// The leader's view, for `status`.
#[derive(Default)]
struct Live {
    runners: BTreeMap<String, bool>,
    running: Vec<String>,
    /// The replica whose appends (a leader's messages) came in last, and
    /// when.
    last_leader: Option<(String, tokio::time::Instant)>,
    /// The node this replica took the lead for (`take_over`): it still
    /// reached that node, whose pending fencing it calls off.
    took_over_for: Option<String>,
    /// When this replica last granted another's pre-vote.
    pre_vote_granted: Option<tokio::time::Instant>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Replicas by Raft id: 1, 2, ... in the order of their names.
fn replica_ids(cfg: &ControllerConfig) -> BTreeMap<NodeId, String> {
    cfg.controllers
        .keys()
        .enumerate()
        .map(|(i, n)| (i as NodeId + 1, n.clone()))
        .collect()
}

impl Controller {
    /// Starts the replica's Raft; `serve` then runs it.
    pub async fn start(cfg: ControllerConfig) -> Result<Arc<Controller>, StartError> {
        let names = replica_ids(&cfg);
        let peer_tls = || {
            tls::client(&cfg.ca, Some((cfg.cert.as_path(), cfg.key.as_path())))
                .map_err(StartError::Setup)
        };
        let election = Duration::from_millis(cfg.timing.election_ms);
        let mut replicas = BTreeMap::new();
        for (id, name) in &names {
            let Some(addr) = cfg.controllers.get(name).filter(|_| *name != cfg.name) else {
                continue;
            };
            let mut c = Client::new(peer_tls()?, *addr, name)
                .map_err(StartError::Setup)?
                .labelled(format!("the controller on {name}"));
            c.patience = election;
            replicas.insert(*id, Link::Quic(Box::new(c)));
        }
        let mut runners = BTreeMap::new();
        for (name, addr) in &cfg.nodes {
            let mut c = Client::new(peer_tls()?, *addr, name).map_err(StartError::Setup)?;
            c.patience = Duration::from_millis(cfg.timing.timeout_ms);
            runners.insert(name.clone(), Link::Quic(Box::new(c)));
        }
        Controller::assemble(cfg, replicas, runners).await
    }

    /// Starts the replica's Raft with the given links to the other replicas
    /// (by Raft id) and to the runners (by node).
    pub async fn assemble(
        cfg: ControllerConfig,
        replica_links: BTreeMap<NodeId, Link>,
        runner_links: BTreeMap<String, Link>,
    ) -> Result<Arc<Controller>, StartError> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(|e| {
            StartError::Storage(format!("cannot create {}: {e}", cfg.state_dir.display()))
        })?;
        let names = replica_ids(&cfg);
        let me = names
            .iter()
            .find(|(_, n)| **n == cfg.name)
            .map(|(id, _)| *id)
            .ok_or_else(|| {
                StartError::Setup(format!(
                    "[controllers] does not list this replica, `{}`",
                    cfg.name
                ))
            })?;
        let replicas = Arc::new(Replicas {
            names: names.clone(),
            clients: replica_links
                .into_iter()
                .map(|(id, l)| (id, Arc::new(l)))
                .collect(),
        });
        let runners = runner_links
            .into_iter()
            .map(|(n, l)| (n, Arc::new(l)))
            .collect();
        let e = cfg.timing.election_ms;
        let config = openraft::Config {
            cluster_name: cfg.cluster.clone(),
            heartbeat_interval: (e / 3).max(10),
            // A narrow window: followers refuse votes for election_timeout_max
            // after the last heartbeat (openraft's leader lease), so a wide
            // window mostly delays the election by a second round.
            election_timeout_min: e,
            election_timeout_max: e + (e / 3).max(1),
            // Elections start only after a pre-vote (`campaign`): openraft
            // 0.9 has none, and a replica that restarted or was cut off
            // would otherwise raise the term and depose a healthy leader.
            enable_elect: false,
            // Entries per append: a journalled transition carries a whole
            // state, and a message must fit in a frame (4 MiB) for a
            // replica that lags far behind to catch up.
            max_payload_entries: 64,
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| StartError::Setup(format!("bad Raft settings: {e}")))?,
        );
        let metrics = crate::metrics::Metrics::new(&cfg.name)
            .map_err(|e| StartError::Setup(format!("cannot set up the metrics: {e}")))?;
        let raft_dir = cfg.state_dir.join("raft");
        let (log, fresh) = LogStore::open(&raft_dir).map_err(StartError::Storage)?;
        let sm = StateMachine::open(&raft_dir).map_err(StartError::Storage)?;
        let raft = Raft::new(
            me,
            config,
            Network {
                replicas: replicas.clone(),
            },
            log,
            sm.clone(),
        )
        .await
        .map_err(|e| StartError::Storage(format!("cannot start Raft: {e}")))?;
        let members: BTreeMap<NodeId, BasicNode> = names
            .iter()
            .map(|(id, n)| {
                let addr = cfg
                    .controllers
                    .get(n)
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                (*id, BasicNode { addr })
            })
            .collect();
        // A new replica proposes the first membership (every replica
        // proposes the same one; once one has a log, the others' proposals
        // are refused, which is fine). A replica that restarts has its log
        // and must not: it would start an election and unseat the leader.
        if fresh {
            if let Err(e) = raft.initialize(members).await {
                info!("Raft already initialized: {e}");
            }
        }
        Ok(Arc::new(Controller {
            cfg,
            me,
            replicas,
            raft,
            sm,
            runners,
            kick: watch::channel(0).0,
            unrecorded: std::sync::atomic::AtomicBool::new(false),
            live: Mutex::new(Live::default()),
            started: tokio::time::Instant::now(),
            alerts: crate::alerts::Alerts::default(),
            metrics,
        }))
    }

    /// Serves the replica until the process stops, or until its Raft stops
    /// on an error (its storage failing): every task it started is then
    /// ended and its ports freed, so that it can start again.
    pub async fn serve(self: Arc<Self>) -> Result<(), ServeError> {
        let endpoint =
            server::endpoint(&self.cfg.ca, &self.cfg.cert, &self.cfg.key, self.cfg.listen)
                .map_err(ServeError::Setup)?;
        info!(replica = %self.cfg.name, listen = %self.cfg.listen, "controller listening");
        let http = self.cfg.http.map(|addr| {
            let c = self.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::http::serve(c, addr).await {
                    warn!("{e}");
                }
            })
        });
        let work = self.lead_when_elected();
        let accept = async {
            while let Some(incoming) = endpoint.accept().await {
                let c = self.clone();
                tokio::spawn(async move { c.connection(incoming).await });
            }
        };
        let why = tokio::select! {
            () = accept => return Ok(()),
            why = self.raft_stopped() => why,
        };
        work.abort();
        if let Some(h) = http {
            h.abort();
        }
        endpoint.close(0u32.into(), b"the replica stopped");
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        Err(ServeError::RaftStopped(why))
    }

    /// Waits until this replica's Raft has stopped; why it did.
    async fn raft_stopped(&self) -> String {
        let mut m = self.raft.metrics();
        loop {
            if let Err(e) = &m.borrow_and_update().running_state {
                return e.to_string();
            }
            if m.changed().await.is_err() {
                return "its Raft ended".into();
            }
        }
    }

    /// From now on, does the leader's work whenever this replica leads, and
    /// stands for election when the leader is gone.
    pub fn lead_when_elected(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let (campaign, supervise) = (self.clone().campaign(), self.clone().supervise());
        // One task: aborting it (a simulated power-off) ends both.
        tokio::spawn(async move {
            tokio::join!(campaign, supervise);
        })
    }

    /// Raft's pre-vote: when this replica has heard no leader for an
    /// election timeout (plus a stagger by replica id, so that two replicas
    /// rarely stand at once), it asks the others whether they would vote for
    /// it, and starts an election only when a majority, itself included,
    /// hear no leader either and hold no longer log.
    async fn campaign(self: Arc<Self>) {
        let e = self.cfg.timing.election_ms;
        let peers = self.replicas.names.len().max(1) as u64;
        let stagger = (e / 3).max(1) * (self.me.saturating_sub(1) % peers);
        let wait = self.leader_lease() + Duration::from_millis(stagger);
        let mut tick = tokio::time::interval(Duration::from_millis((e / 10).max(5)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_try: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            if self.is_leader() || self.heard_leader_within(wait) || self.granted_within(wait) {
                continue;
            }
            if last_try.is_some_and(|t| t.elapsed() < wait) {
                continue;
            }
            last_try = Some(tokio::time::Instant::now());
            if self.pre_vote(Duration::from_millis(e)).await {
                info!(
                    "no leader heard for {} ms, and a majority agree: standing for election",
                    wait.as_millis()
                );
                if let Err(err) = self.raft.trigger().elect().await {
                    warn!("cannot start an election: {err}");
                    return;
                }
            }
        }
    }

    /// Whether a leader's appends reached this replica within `d` (counting
    /// from the replica's start when none has).
    fn heard_leader_within(&self, d: Duration) -> bool {
        let last = lock(&self.live)
            .last_leader
            .as_ref()
            .map_or(self.started, |(_, at)| *at);
        last.elapsed() < d
    }

    /// Asks every other replica for its pre-vote; whether a majority,
    /// this replica included, grant it.
    async fn pre_vote(&self, limit: Duration) -> bool {
        let last_log = self.last_log_id();
        let mut asks = tokio::task::JoinSet::new();
        for link in self.replicas.clients.values() {
            let link = link.clone();
            asks.spawn(async move {
                matches!(
                    link.ctl(CtlRequest::PreVote { last_log }, limit).await,
                    Ok(CtlResponse::PreVote { granted: true })
                )
            });
        }
        let mut granted = 1;
        while let Some(r) = asks.join_next().await {
            granted += usize::from(r.unwrap_or(false));
        }
        granted * 2 > self.replicas.names.len()
    }

    /// Takes the lead from `leader`, which lost `target`'s runner while
    /// `target` runs the most important resources: when this replica still
    /// reaches that runner and a majority would vote for it (its pre-vote:
    /// they hear no leader, or are this replica), it stands for election at
    /// once. Pacemaker's `priority-fencing-delay` lets the node with the
    /// important resources win a fence race; with one leader, the side that
    /// still sees that node takes the lead instead, and it is not fenced.
    async fn take_over(&self, leader: &str, target: &str) -> CtlResponse {
        let limit = Duration::from_millis(self.cfg.timing.election_ms);
        let refused = |why: String| CtlResponse::Refused { why };
        if !self.reaches(target).await {
            return refused(format!("{} does not reach {target} either", self.cfg.name));
        }
        if !self.pre_vote(limit).await {
            return refused(format!("a majority still follows {leader}"));
        }
        info!(%leader, %target, "taking the lead: {leader} lost {target}, which runs the most important resources and which this replica still reaches");
        match self.raft.trigger().elect().await {
            Ok(()) => {
                lock(&self.live).took_over_for = Some(target.to_string());
                CtlResponse::TookOver
            }
            Err(e) => refused(format!("cannot stand for election: {e}")),
        }
    }

    /// Whether this replica took the lead for `node` (see `take_over`) and
    /// still reaches its runner.
    /// Once: the take-over is spent by the fencing it calls off.
    pub(crate) async fn took_over_for(&self, node: &str) -> bool {
        let mine = {
            let mut live = lock(&self.live);
            let mine = live.took_over_for.as_deref() == Some(node);
            if mine {
                live.took_over_for = None;
            }
            mine
        };
        mine && self.reaches(node).await
    }

    /// Whether `node`'s runner answers this replica (within an election
    /// timeout).
    async fn reaches(&self, node: &str) -> bool {
        let Some(link) = self.runners.get(node) else {
            return false;
        };
        let limit = Duration::from_millis(self.cfg.timing.election_ms);
        let hello = tokio::time::timeout(limit, link.call(&halo_proto::wire::Request::Hello));
        matches!(hello.await, Ok(Ok(_)))
    }

    /// The id of this replica's last log entry.
    fn last_log_id(&self) -> Option<openraft::LogId<NodeId>> {
        self.raft.data_metrics().borrow().last_log
    }

    /// How long a follower that heard a leader refuses votes: openraft's
    /// leader lease, its longest election timeout.
    fn leader_lease(&self) -> Duration {
        let e = self.cfg.timing.election_ms;
        Duration::from_millis(e + (e / 3).max(1))
    }

    /// Answers another replica's pre-vote: granted when this replica does
    /// not lead, has heard no leader for the leader lease (so it would grant
    /// the real vote too), and holds no longer log than the candidate. A
    /// replica that grants one stands back itself for a while, so that two
    /// candidates do not split the votes.
    fn grant_pre_vote(&self, candidate_last: Option<openraft::LogId<NodeId>>) -> bool {
        let grant = !self.is_leader()
            && !self.heard_leader_within(self.leader_lease())
            && candidate_last >= self.last_log_id();
        if grant {
            lock(&self.live).pre_vote_granted = Some(tokio::time::Instant::now());
        }
        grant
    }

    /// Whether this replica granted another's pre-vote within `d`.
    fn granted_within(&self, d: Duration) -> bool {
        lock(&self.live)
            .pre_vote_granted
            .is_some_and(|at| at.elapsed() < d)
    }

    /// Runs the leader's work while this replica leads.
    async fn supervise(self: Arc<Self>) {
        let mut metrics = self.raft.metrics();
        let mut leading: Option<(u64, tokio::task::JoinHandle<()>)> = None;
        let mut seen_leader = None;
        loop {
            let (state, leader, term) = {
                let m = metrics.borrow_and_update();
                (m.state, m.current_leader, m.current_term)
            };
            if leader.is_some() && leader != seen_leader {
                if seen_leader.is_some() {
                    self.metrics.leader_changes.inc();
                }
                seen_leader = leader;
            }
            let lead = state == ServerState::Leader && leader == Some(self.me);
            match (&leading, lead) {
                (Some((t, _)), true) if *t == term => {}
                (_, true) => {
                    if let Some((_, h)) = leading.take() {
                        h.abort();
                    }
                    let l = Leader::new(self.clone(), term);
                    leading = Some((term, tokio::spawn(l.run())));
                }
                (Some(_), false) => {
                    if let Some((t, h)) = leading.take() {
                        info!(term = t, "no longer leading");
                        h.abort();
                    }
                    let mut live = lock(&self.live);
                    live.running.clear();
                }
                (None, false) => {}
            }
            if metrics.changed().await.is_err() {
                if let Some((_, h)) = leading.take() {
                    h.abort();
                }
                return;
            }
        }
    }

    /// Records a change through Raft (on the leader).
    pub async fn commit(&self, cmd: Command) -> Result<u64, String> {
        self.write(cmd).await.map_err(|(_, why)| why)
    }

    /// Commits `cmd`; a failure says whether it was because this replica no
    /// longer leads (openraft's ForwardToLeader), which this replica may
    /// learn before its own view of the leadership changes.
    async fn write(&self, cmd: Command) -> Result<u64, (bool, String)> {
        let r = self
            .raft
            .client_write(cmd)
            .await
            .map(|r| r.data.seq)
            .map_err(|e| {
                let deposed = matches!(
                    &e,
                    openraft::error::RaftError::APIError(
                        openraft::error::ClientWriteError::ForwardToLeader(_)
                    )
                );
                (deposed, e.to_string())
            });
        if r.is_err() {
            self.unrecorded
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        r
    }

    /// Runs the policy's alert programs for `event` (never waits for them).
    pub(crate) fn alert(&self, event: &crate::alerts::Event) {
        let Some(policy) = self.sm.read(|m| m.policy.clone()) else {
            return;
        };
        let ids = policy
            .cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i + 1))
            .collect();
        self.alerts.send(&policy.cluster.alerts, &ids, event);
    }

    pub(crate) fn set_running(&self, running: Vec<String>) {
        lock(&self.live).running = running;
    }

    /// Whether a majority of the replicas confirm, now, that this replica
    /// leads (within the election timeout): a leader cut off from them may
    /// have been replaced already and must not act.
    pub(crate) async fn confirm_leadership(&self) -> bool {
        let limit = Duration::from_millis(self.cfg.timing.election_ms);
        matches!(
            tokio::time::timeout(limit, self.raft.ensure_linearizable()).await,
            Ok(Ok(_))
        )
    }

    /// The nodes whose runners answer the leader's heartbeats.
    pub(crate) fn answering(&self) -> Vec<String> {
        lock(&self.live)
            .runners
            .iter()
            .filter(|(_, up)| **up)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// When this replica last heard the leader before it, if that leader
    /// is the replica on `node`.
    pub(crate) fn previous_leader_heard(&self, node: &str) -> Option<tokio::time::Instant> {
        match &lock(&self.live).last_leader {
            Some((name, at)) if name == node => Some(*at),
            _ => None,
        }
    }

    pub(crate) fn set_runner(&self, node: &str, up: bool) {
        lock(&self.live).runners.insert(node.to_string(), up);
    }

    fn leader_name(&self) -> Option<String> {
        let id = self.raft.metrics().borrow().current_leader?;
        self.replicas.name_of(id).map(str::to_string)
    }

    fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.me)
    }

    /// The metrics as Prometheus text: this replica's, and the cluster's
    /// while it leads.
    pub(crate) fn metrics_text(&self) -> String {
        let (term, last, applied, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let lead = m.state == ServerState::Leader && m.current_leader == Some(self.me);
            (
                m.current_term,
                m.last_log_index,
                m.last_applied.map(|l| l.index),
                lead,
            )
        };
        let gauge = |v: Option<u64>| i64::try_from(v.unwrap_or(0)).unwrap_or(i64::MAX);
        self.metrics.term.set(gauge(Some(term)));
        self.metrics.last_log_index.set(gauge(last));
        self.metrics.applied_index.set(gauge(applied));
        self.metrics.is_leader.set(i64::from(leader));
        if !leader {
            return self.metrics.render(None);
        }
        let runners = lock(&self.live).runners.clone();
        self.sm.read(|m| {
            self.metrics.render(Some(crate::metrics::ClusterView {
                policy: m.policy.as_deref(),
                doc: &m.doc,
                runners: &runners,
                quorate: true,
            }))
        })
    }

    /// The journal: one transition whole, or all without their states.
    fn history(&self, id: Option<u64>) -> CtlResponse {
        let history = self.sm.read(|m| {
            let j = &m.doc.journal;
            let transitions: Vec<_> = match id {
                Some(id) => j.get(id).cloned().into_iter().collect(),
                None => j
                    .transitions
                    .iter()
                    .map(|t| crate::journal::Transition {
                        state: Default::default(),
                        ..t.clone()
                    })
                    .collect(),
            };
            let policies = j
                .policies
                .iter()
                .filter(|(v, _)| id.is_some() && transitions.iter().any(|t| t.policy == **v))
                .map(|(v, p)| (*v, p.clone()))
                .collect();
            crate::rpc::History {
                cluster: self.cfg.cluster.clone(),
                transitions,
                policies,
                first_kept: j.transitions.front().map(|t| t.id),
            }
        });
        match (id, history.transitions.is_empty()) {
            (Some(id), true) => CtlResponse::Refused {
                why: match history.first_kept {
                    Some(first) if id < first => format!(
                        "transition {id} is no longer kept: the journal keeps the last {} \
                         transitions (and {} MiB); the oldest kept is {first}",
                        crate::journal::JOURNAL_MAX,
                        crate::journal::JOURNAL_BYTES >> 20
                    ),
                    _ => format!("there is no transition {id} (see `halo history`)"),
                },
            },
            _ => CtlResponse::History {
                history: Box::new(history),
            },
        }
    }

    /// What the status page shows: the status, and the last transitions.
    pub(crate) fn page_view(&self) -> crate::http::PageView {
        let transitions = self.sm.read(|m| {
            let j = &m.doc.journal.transitions;
            j.iter()
                .skip(j.len().saturating_sub(crate::http::PAGE_TRANSITIONS))
                .rev()
                .map(crate::http::TransitionView::of)
                .collect()
        });
        crate::http::PageView {
            status: self.status(),
            transitions,
        }
    }

    pub(crate) fn status(&self) -> Status {
        let (term, replication, last) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_term, m.replication.clone(), m.last_log_index)
        };
        let replicas = self
            .replicas
            .names
            .iter()
            .map(|(id, name)| {
                let ok = *id == self.me
                    || replication
                        .as_ref()
                        .and_then(|r| r.get(id).cloned().flatten())
                        .is_some_and(|l| Some(l.index) == last);
                (name.clone(), ok)
            })
            .collect();
        let live = lock(&self.live);
        let runners = self
            .cfg
            .nodes
            .keys()
            .map(|n| (n.clone(), live.runners.get(n).copied().unwrap_or(false)))
            .collect();
        Status {
            cluster: self.cfg.cluster.clone(),
            replica: self.cfg.name.clone(),
            leader: self.leader_name(),
            term,
            replicas,
            runners,
            running: live.running.clone(),
            alert_failures: self.alerts.failures(),
            doc: self.sm.read(|m| m.doc.without_journal()),
        }
    }

    async fn connection(self: Arc<Self>, incoming: quinn::Incoming) {
        let peer = incoming.remote_address();
        let (conn, who) = match server::accept(incoming).await {
            Ok((c, w)) if w.role == Role::Node => {
                warn!(%peer, "refused {w}: a node certificate cannot talk to a controller");
                c.close(
                    1u32.into(),
                    b"a node certificate cannot talk to a controller",
                );
                return;
            }
            Ok(x) => x,
            Err(e) => {
                warn!(%peer, "refused a connection: {e}");
                return;
            }
        };
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            let c = self.clone();
            let who = who.clone();
            tokio::spawn(async move {
                let answer = match frame::read::<CtlRequest>(&mut recv).await {
                    Ok(Some(req)) => c.answer(&who, req).await,
                    Ok(None) => return,
                    Err(why) => CtlResponse::Refused { why },
                };
                let _ = frame::write(&mut send, &answer).await;
                let _ = send.finish();
            });
        }
    }

    /// Answers a request of `who`: a Raft message from another replica, or
    /// an operator's request (on the leader).
    pub async fn answer(&self, who: &Identity, req: CtlRequest) -> CtlResponse {
        let raft_msg = matches!(
            req,
            CtlRequest::Vote { .. }
                | CtlRequest::Append { .. }
                | CtlRequest::Snapshot { .. }
                | CtlRequest::PreVote { .. }
                | CtlRequest::TakeOver { .. }
        );
        if raft_msg != (who.role == Role::Controller) {
            return CtlResponse::Refused {
                why: format!(
                    "{who} may not send this: Raft messages come from controllers, operator requests from admin certificates"
                ),
            };
        }
        if matches!(req, CtlRequest::Append { .. }) {
            lock(&self.live).last_leader = Some((who.name.clone(), tokio::time::Instant::now()));
        }
        match req {
            CtlRequest::Vote { rpc } => CtlResponse::Vote {
                rpc: self.raft.vote(rpc).await,
            },
            CtlRequest::Append { rpc } => CtlResponse::Append {
                rpc: self.raft.append_entries(rpc).await,
            },
            CtlRequest::Snapshot { rpc } => CtlResponse::Snapshot {
                rpc: self.raft.install_snapshot(rpc).await,
            },
            CtlRequest::PreVote { last_log } => CtlResponse::PreVote {
                granted: self.grant_pre_vote(last_log),
            },
            CtlRequest::TakeOver { target } => self.take_over(&who.name, &target).await,
            _ if !self.is_leader() => CtlResponse::NotLeader {
                leader: self.leader_name(),
            },
            CtlRequest::Status => CtlResponse::Status {
                status: Box::new(self.status()),
            },
            CtlRequest::History { id } => self.history(id),
            CtlRequest::Apply {
                name,
                text,
                expect_seq,
            } => self.apply(who, name, text, expect_seq).await,
            CtlRequest::Admin { op, lifetime_s } => self.admin(who, op, lifetime_s).await,
        }
    }

    async fn apply(
        &self,
        who: &Identity,
        name: String,
        text: String,
        expect_seq: Option<u64>,
    ) -> CtlResponse {
        let policy = match compile(&name, &text) {
            Ok(p) => p,
            Err(why) => return CtlResponse::Refused { why },
        };
        if policy.cluster.name != self.cfg.cluster {
            return CtlResponse::Refused {
                why: format!(
                    "{name} is the policy of cluster `{}`, but this is cluster `{}`: \
                     nothing was applied (check --config, or rename the policy's cluster)",
                    policy.cluster.name, self.cfg.cluster
                ),
            };
        }
        let unknown: Vec<&str> = policy
            .cluster
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| !self.cfg.nodes.contains_key(*n))
            .collect();
        if !unknown.is_empty() {
            return CtlResponse::Refused {
                why: format!(
                    "{name}: node {} has no runner in this cluster (its nodes are {}): \
                     name the nodes `halo cluster init` made",
                    unknown.join(", "),
                    self.cfg
                        .nodes
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        }
        let seq = self.sm.read(|m| m.doc.seq);
        if let Some(e) = expect_seq.filter(|e| *e != seq) {
            return CtlResponse::Refused {
                why: format!(
                    "the cluster changed since the plan was shown (change {e}, now {seq}): \
                     nothing was applied; run apply again to see the new plan"
                ),
            };
        }
        info!("{who} applies {name}");
        self.done(
            self.write(Command::SetPolicy {
                name,
                text,
                at: now(),
            })
            .await,
        )
    }

    async fn admin(&self, who: &Identity, op: AdminOp, lifetime_s: Option<u64>) -> CtlResponse {
        let Some(policy) = self.sm.read(|m| m.policy.clone()) else {
            return CtlResponse::Refused {
                why: "no policy has been applied yet: run `halo apply FILE.ha` first".into(),
            };
        };
        let node_ok = |n: &str| policy.cluster.nodes.iter().any(|x| x.name == n);
        let rsc_ok = |r: &str| policy.find(r).is_some();
        let (node, rsc) = match &op {
            AdminOp::Standby { node, .. }
            | AdminOp::Maintenance { node, .. }
            | AdminOp::Fence { node } => (Some(node), None),
            AdminOp::Move { rsc, node, .. } | AdminOp::Ban { rsc, node, .. } => {
                (Some(node), Some(rsc))
            }
            AdminOp::Clear { rsc } | AdminOp::Cleanup { rsc } | AdminOp::Restart { rsc } => {
                (None, Some(rsc))
            }
            AdminOp::ClusterMaintenance { .. } => (None, None),
        };
        if let Some(n) = node.filter(|n| !node_ok(n)) {
            return CtlResponse::Refused {
                why: format!(
                    "no node `{n}` in the policy: its nodes are {}",
                    policy.cluster.node_list()
                ),
            };
        }
        if let Some(r) = rsc.filter(|r| !rsc_ok(r)) {
            return CtlResponse::Refused {
                why: format!("no resource `{r}` in the policy (see `halo status`)"),
            };
        }
        let at = now();
        if let AdminOp::Move {
            rsc,
            node,
            auto_clear,
            ..
        } = &op
        {
            let state = self.sm.read(|m| m.doc.state.clone());
            let check = if *auto_clear {
                halo_engine::scenario::check_auto_clear
            } else {
                halo_engine::scenario::check_move
            };
            if let Err(why) = check(&policy, &state, at, rsc, node) {
                return CtlResponse::Refused {
                    why: format!("move refused, nothing changed: {why}"),
                };
            }
        }
        let until = lifetime_s.map(|s| at.plus(halo_model::Duration::from_secs(s)));
        let op = match op {
            AdminOp::Ban { rsc, node, .. } => AdminOp::Ban { rsc, node, until },
            AdminOp::Move {
                rsc,
                node,
                auto_clear,
                ..
            } => AdminOp::Move {
                rsc,
                node,
                until,
                auto_clear,
            },
            op => op,
        };
        info!("{who}: {op:?}");
        // Out of maintenance: what runs may have changed by hand meanwhile,
        // so the leader asks every node again before it plans.
        let reprobe = matches!(op, AdminOp::ClusterMaintenance { on: false });
        let r = self.write(Command::Admin { op, at }).await;
        if reprobe && r.is_ok() {
            self.unrecorded
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.done(r)
    }

    fn done(&self, r: Result<u64, (bool, String)>) -> CtlResponse {
        match r {
            Ok(seq) => {
                self.kick.send_modify(|k| *k += 1);
                CtlResponse::Done { seq }
            }
            // Leadership moved while the change was on its way: nothing was
            // recorded here; the client asks the new leader (even when the
            // refusal came before this replica saw itself deposed).
            Err((deposed, _)) if deposed || !self.is_leader() => CtlResponse::NotLeader {
                leader: self.leader_name(),
            },
            Err((_, why)) => CtlResponse::Refused {
                why: format!("not recorded: {why}"),
            },
        }
    }
}
