//! The replicated document: the policy's source, the observed cluster state
//! and the fail counts, changed only by [`Command`]s that went through Raft.
//!
//! Applying a command is a pure function of the document and the command —
//! no clock (times travel inside the commands), no I/O — so every replica that
//! applies the same log holds the same document, byte for byte.

use halo_model::{
    ClusterState, FailedOp, NodeStatus, OpAction, OperatorSource, Policy, Role, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything the cluster remembers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Doc {
    /// The applied policy, as source text (each replica compiles it).
    pub policy: Option<PolicySource>,
    pub state: ClusterState,
    /// Counts the commands applied: `apply` refuses a plan shown before the
    /// cluster changed.
    pub seq: u64,
    /// Fencing requested and not yet confirmed, with the last failure.
    pub fencing: Vec<PendingFence>,
    /// The last events, newest last, for `status` (bounded).
    pub log: Vec<LogLine>,
    /// Operator moves and bans with a lifetime: they lapse at their time.
    pub expiring: Vec<Expiry>,
    /// Cluster-wide attributes agents set (`crm_attribute --type
    /// crm_config`, such as the redis agent's last primary).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// The policy's version: the sequence number of the command that
    /// applied it, and when that was.
    #[serde(default)]
    pub policy_version: u64,
    #[serde(default)]
    pub policy_applied_at: Option<Timestamp>,
    /// The leader's decisions: the transitions it computed (bounded).
    #[serde(default)]
    pub journal: crate::journal::Journal,
}

/// How many log lines the document keeps.
pub const LOG_MAX: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySource {
    /// The file name it was applied from (for diagnostics).
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFence {
    pub node: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: Timestamp,
    pub text: String,
}

pub use halo_model::Expiry;

/// What a runner found of a resource when probed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub rsc: String,
    pub role: Role,
    pub promotion: Option<i64>,
}

/// One change to the document. Each carries the leader's time when it needs
/// one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Command {
    /// A new policy. Nodes it names that have not joined are offline.
    SetPolicy {
        name: String,
        text: String,
        at: Timestamp,
    },
    /// A node's runner answered and was probed: it is online, running what
    /// was found.
    NodeJoined {
        node: String,
        found: Vec<Found>,
        at: Timestamp,
    },
    /// A node's runner stopped answering. With `fenced_by_policy` it is
    /// unclean until fenced; otherwise its lease has run out and nothing
    /// runs there any more.
    NodeLost {
        node: String,
        unclean: bool,
        at: Timestamp,
    },
    /// Fencing of `node` is confirmed: it is off, nothing runs there.
    NodeFenced { node: String, at: Timestamp },
    /// Fencing of `node` failed; it will be retried.
    FenceFailed {
        node: String,
        error: String,
        at: Timestamp,
    },
    /// An action's result.
    Done(Done),
    /// An operator's command.
    Admin { op: AdminOp, at: Timestamp },
    /// Time has passed: what was due by `at` (a move's or a ban's lifetime)
    /// lapses.
    Tick { at: Timestamp },
    /// The leader computed a transition and executes it now. Journal
    /// commands do not count as changes of the cluster (`seq`).
    Transition(Box<crate::journal::Transition>),
    /// The outcomes of transition `id`'s actions.
    TransitionDone {
        id: u64,
        outcomes: Vec<crate::journal::Outcome>,
        duration_ms: u64,
    },
    /// A lost node whose fencing was pending answers a new leader that took
    /// the lead because it still reached it (`take_over`): nothing it ran
    /// was started elsewhere (recovery waits for fencing), so it is online
    /// again with what it ran, and not fenced.
    FenceCalledOff { node: String, at: Timestamp },
}

/// An action's result, by meaning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub rsc: String,
    pub node: String,
    pub op: OpAction,
    /// For a monitor, the role it found (`Stopped` when not running);
    /// `None` when it failed.
    pub ok: bool,
    pub rc: i32,
    /// For a failed recurring monitor, the role it ran for.
    pub seen: Option<Role>,
    /// A promotion score the agent set or deleted.
    pub promotion: Option<halo_proto::PromotionChange>,
    pub at: Timestamp,
    /// Cluster-wide attributes the agent set or deleted, in order. Always
    /// written, as every field after it: the log stores commands by
    /// position, so an entry written before a field existed reads as none.
    #[serde(default)]
    pub attributes: Vec<halo_proto::AttributeChange>,
    /// For a start or a reload that succeeded: what the agent was given and
    /// which of it needs a restart to change. Last, and always written (see
    /// `attributes`).
    #[serde(default)]
    pub definition: Option<halo_model::Definition>,
}

/// What an operator can ask of the live cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum AdminOp {
    Standby {
        node: String,
        on: bool,
    },
    Maintenance {
        node: String,
        on: bool,
    },
    /// Prefer `node` (and avoid where it runs now) until `clear` or
    /// `until`, or with `auto_clear` until it runs there; replaces an earlier
    /// move of `rsc`.
    Move {
        rsc: String,
        node: String,
        #[serde(default)]
        until: Option<Timestamp>,
        #[serde(default)]
        auto_clear: bool,
    },
    /// Keep `rsc` off `node`, until `clear` or `until`.
    Ban {
        rsc: String,
        node: String,
        until: Option<Timestamp>,
    },
    Clear {
        rsc: String,
    },
    Cleanup {
        rsc: String,
    },
    /// Stop and start again where it runs.
    Restart {
        rsc: String,
    },
    /// Fence `node` now.
    Fence {
        node: String,
    },
    /// The whole cluster in maintenance, or out of it.
    ClusterMaintenance {
        on: bool,
    },
}

/// Compiles policy text against the standard library: the policy, or the
/// rendered errors.
pub fn compile(name: &str, text: &str) -> Result<Policy, String> {
    let (sources, compiled, diags) = halo_lang::compile_text(name, text, halo_stdlib::FILES);
    let errors: Vec<_> = diags
        .iter()
        .filter(|d| d.severity == halo_lang::Severity::Error)
        .collect();
    match compiled {
        Some(c) if errors.is_empty() => Ok(c.policy),
        _ => Err(errors
            .iter()
            .map(|d| d.render(&sources, false))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

impl Doc {
    /// The document without its journal (for `status`: the journal is read
    /// through `history`).
    pub fn without_journal(&self) -> Doc {
        Doc {
            policy: self.policy.clone(),
            state: self.state.clone(),
            seq: self.seq,
            fencing: self.fencing.clone(),
            log: self.log.clone(),
            expiring: self.expiring.clone(),
            attributes: self.attributes.clone(),
            policy_version: self.policy_version,
            policy_applied_at: self.policy_applied_at,
            journal: crate::journal::Journal::default(),
        }
    }

    /// What an agent may ask of the cluster (see `halo_proto::ClusterView`):
    /// the attributes agents set and every active instance with its role.
    pub fn view(&self) -> halo_proto::ClusterView {
        let running = self
            .state
            .resources
            .iter()
            .flat_map(|(rsc, per)| {
                per.iter().flat_map(move |(node, r)| {
                    r.roles()
                        .into_iter()
                        .filter(|role| role.is_active())
                        .map(move |role| (rsc.clone(), node.clone(), role.as_str().to_string()))
                })
            })
            .collect();
        halo_proto::ClusterView {
            attributes: self.attributes.clone(),
            running,
        }
    }

    /// Applies `cmd`. `policy` is the compiled current policy (the caller
    /// keeps it compiled); a `SetPolicy` returns the new one.
    pub fn apply(&mut self, cmd: &Command, policy: Option<&Arc<Policy>>) -> Option<Arc<Policy>> {
        match cmd {
            Command::Transition(t) => {
                if let Some(src) = &self.policy {
                    self.journal.record((**t).clone(), self.policy_version, src);
                }
                return None;
            }
            Command::TransitionDone {
                id,
                outcomes,
                duration_ms,
            } => {
                self.journal.finish(*id, outcomes, *duration_ms);
                return None;
            }
            _ => {}
        }
        self.seq += 1;
        let mut compiled = None;
        match cmd {
            Command::SetPolicy { name, text, at } => {
                // The leader checked it; a replica that cannot compile it
                // keeps the text and stays without a policy.
                if let Ok(p) = compile(name, text) {
                    for n in &p.cluster.nodes {
                        self.state.nodes.entry(n.name.clone()).or_insert_with(|| {
                            halo_model::NodeState {
                                status: NodeStatus::Offline,
                                ..Default::default()
                            }
                        });
                    }
                    compiled = Some(Arc::new(p));
                }
                self.policy = Some(PolicySource {
                    name: name.clone(),
                    text: text.clone(),
                });
                self.policy_version = self.seq;
                self.policy_applied_at = Some(*at);
                self.note(*at, format!("policy {name} applied"));
            }
            Command::NodeJoined { node, found, at } => {
                // What the document held running there (a node probed again
                // by a new leader, still online).
                let was: Vec<(String, Role)> = if self.state.node(node).status == NodeStatus::Online
                {
                    self.state.active_on(node)
                } else {
                    Vec::new()
                };
                // What runs there still runs with what it was given.
                let definitions: BTreeMap<String, halo_model::Definition> = if was.is_empty() {
                    BTreeMap::new()
                } else {
                    self.state
                        .resources
                        .iter()
                        .filter_map(|(rsc, m)| {
                            Some((rsc.clone(), m.get(node)?.definition.clone()?))
                        })
                        .collect()
                };
                clear_node(&mut self.state, node);
                let n = self.state.node_mut(node);
                n.status = NodeStatus::Online;
                self.state.fenced.retain(|f| f != node);
                self.fencing.retain(|f| &f.node != node);
                for f in found {
                    self.state.set_role(&f.rsc, node, f.role);
                    if let Some(e) = self
                        .state
                        .resources
                        .get_mut(&f.rsc)
                        .and_then(|m| m.get_mut(node))
                    {
                        e.promotion = f.promotion;
                        if f.role.is_active() {
                            e.definition = definitions.get(&f.rsc).cloned();
                        }
                    }
                }
                // Running before and found stopped: it failed, as a monitor
                // would have said (a failure lost in a change of leader).
                let fatal = policy.is_some_and(|p| p.cluster.start_failure_is_fatal);
                for (rsc, role) in was {
                    // A probe does not ask about fence devices (nothing runs
                    // for them on a node): what the document held stands.
                    if policy.is_some_and(|p| p.is_fence_device(&rsc)) {
                        self.state.set_role(&rsc, node, role);
                        continue;
                    }
                    let now = found.iter().find(|f| f.rsc == rsc).map(|f| f.role);
                    if now.is_none_or(|r| !r.is_active()) {
                        self.state.set_role(&rsc, node, role);
                        let d = Done {
                            rsc: rsc.clone(),
                            node: node.clone(),
                            op: OpAction::Monitor,
                            ok: false,
                            rc: 7,
                            seen: None,
                            promotion: None,
                            attributes: Vec::new(),
                            at: *at,
                            definition: None,
                        };
                        if let Some(line) = record(&mut self.state, &d, false, fatal) {
                            self.note(*at, line);
                        }
                    }
                }
                let running: Vec<&str> = found
                    .iter()
                    .filter(|f| f.role.is_active())
                    .map(|f| f.rsc.as_str())
                    .collect();
                let text = if running.is_empty() {
                    format!("node {node} joined")
                } else {
                    format!("node {node} joined, running {}", running.join(" "))
                };
                self.note(*at, text);
            }
            Command::NodeLost { node, unclean, at } => {
                if *unclean {
                    self.state.node_mut(node).status = NodeStatus::Unclean;
                    self.state.fenced.retain(|f| f != node);
                    if !self.fencing.iter().any(|f| &f.node == node) {
                        self.fencing.push(PendingFence {
                            node: node.clone(),
                            attempts: 0,
                            last_error: None,
                        });
                    }
                    self.note(*at, format!("node {node} lost: it will be fenced"));
                } else {
                    self.state.node_mut(node).status = NodeStatus::Offline;
                    clear_node(&mut self.state, node);
                    self.note(
                        *at,
                        format!("node {node} lost: its lease has run out, nothing runs there"),
                    );
                }
            }
            Command::NodeFenced { node, at } => {
                self.state.node_mut(node).status = NodeStatus::Offline;
                clear_node(&mut self.state, node);
                if !self.state.fenced.contains(node) {
                    self.state.fenced.push(node.clone());
                }
                self.fencing.retain(|f| &f.node != node);
                self.note(*at, format!("node {node} fenced"));
            }
            Command::FenceCalledOff { node, at } => {
                if self.state.node(node).status == NodeStatus::Unclean {
                    self.state.node_mut(node).status = NodeStatus::Online;
                }
                self.fencing.retain(|f| &f.node != node);
                self.note(
                    *at,
                    format!("node {node} answers the new leader: its fencing is called off"),
                );
            }
            Command::FenceFailed { node, error, at } => {
                match self.fencing.iter_mut().find(|f| &f.node == node) {
                    Some(f) => {
                        f.attempts += 1;
                        f.last_error = Some(error.clone());
                    }
                    None => self.fencing.push(PendingFence {
                        node: node.clone(),
                        attempts: 1,
                        last_error: Some(error.clone()),
                    }),
                }
                self.note(*at, format!("fencing {node} failed: {error}"));
            }
            Command::Done(d) => {
                let fatal = policy.is_some_and(|p| p.cluster.start_failure_is_fatal);
                let promotable = policy
                    .and_then(|p| p.find(&d.rsc).and_then(|i| p.resource(i)))
                    .is_some_and(|r| r.is_promotable());
                let line = record(&mut self.state, d, promotable, fatal);
                if let Some(text) = line {
                    self.note(d.at, text);
                }
                for c in &d.attributes {
                    match &c.value {
                        Some(v) => self.attributes.insert(c.name.clone(), v.clone()),
                        None => self.attributes.remove(&c.name),
                    };
                }
            }
            Command::Admin { op, at } => {
                if let Some(p) = policy {
                    self.admin(p, op, *at);
                }
            }
            Command::Tick { .. } => {}
            Command::Transition(_) | Command::TransitionDone { .. } => {}
        }
        // Moves and bans whose lifetime is over lapse.
        let now = cmd_time(cmd);
        let runs_there = |s: &halo_model::ClusterState, e: &Expiry| {
            policy.is_some_and(|p| halo_engine::scenario::runs_there(p)(s, e))
        };
        let over = Expiry::lapse(&mut self.expiring, &mut self.state, now, &runs_there);
        for e in over {
            let what = match e.by {
                OperatorSource::Move => format!("move of {} to {}", e.rsc, e.node),
                OperatorSource::Ban => format!("ban of {} from {}", e.rsc, e.node),
            };
            let why = if e.at.is_some_and(|t| t <= now) {
                "its lifetime is over"
            } else {
                "it runs there: --auto-clear"
            };
            self.note(now, format!("operator: the {what} lapsed ({why})"));
        }
        self.state.normalize();
        compiled
    }

    fn admin(&mut self, policy: &Policy, op: &AdminOp, at: Timestamp) {
        use halo_model::Event as E;
        let event = match op {
            AdminOp::Standby { node, on: true } => E::NodeStandby(node.clone()),
            AdminOp::Standby { node, on: false } => E::NodeUnstandby(node.clone()),
            AdminOp::Maintenance { node, on: true } => E::NodeMaintenance(node.clone()),
            AdminOp::Maintenance { node, on: false } => E::NodeReady(node.clone()),
            AdminOp::Move {
                rsc,
                node,
                until,
                auto_clear,
            } => {
                // A move replaces an earlier one, and its lifetime with it.
                self.expiring
                    .retain(|e| !(&e.rsc == rsc && e.by == OperatorSource::Move));
                if until.is_some() || *auto_clear {
                    self.expiring.push(Expiry {
                        rsc: rsc.clone(),
                        node: node.clone(),
                        by: OperatorSource::Move,
                        at: *until,
                        once_there: *auto_clear,
                    });
                }
                // Its lifetime is kept in `expiring`, above.
                E::Move {
                    rsc: rsc.clone(),
                    node: node.clone(),
                    lifetime: None,
                    auto_clear: false,
                }
            }
            AdminOp::Ban { rsc, node, until } => {
                if until.is_some() {
                    self.expiring.push(Expiry {
                        rsc: rsc.clone(),
                        node: node.clone(),
                        by: OperatorSource::Ban,
                        at: *until,
                        once_there: false,
                    });
                }
                E::Ban {
                    rsc: rsc.clone(),
                    node: node.clone(),
                    lifetime: None,
                }
            }
            AdminOp::Clear { rsc } => {
                self.expiring.retain(|e| &e.rsc != rsc);
                E::Clear(rsc.clone())
            }
            AdminOp::Cleanup { rsc } => E::Cleanup(rsc.clone()),
            AdminOp::Restart { rsc } => {
                // Marks every instance as started with other parameters: the
                // engine restarts it where it runs.
                for leaf in halo_engine::scenario::leaves(policy, rsc) {
                    if let Some(m) = self.state.resources.get_mut(&leaf) {
                        for r in m.values_mut().filter(|r| r.role.is_active()) {
                            r.changed = true;
                        }
                    }
                }
                self.note(at, format!("operator: restart {rsc}"));
                return;
            }
            AdminOp::ClusterMaintenance { on } => {
                self.state.maintenance = *on;
                let what = if *on {
                    "the cluster is in maintenance mode: nothing is started, stopped or recovered"
                } else {
                    "maintenance mode ends: every node is probed again and what runs is kept"
                };
                self.note(at, format!("operator: {what}"));
                return;
            }
            AdminOp::Fence { node } => {
                self.state.node_mut(node).status = NodeStatus::Unclean;
                if !self.fencing.iter().any(|f| &f.node == node) {
                    self.fencing.push(PendingFence {
                        node: node.clone(),
                        attempts: 0,
                        last_error: None,
                    });
                }
                self.note(at, format!("operator: fence {node}"));
                return;
            }
        };
        let mut now = at;
        let text = halo_engine::scenario::describe_event(&event);
        match halo_engine::scenario::apply_event(policy, &mut self.state, &mut now, &event) {
            Ok(()) => self.note(at, format!("operator: {text}")),
            Err(e) => self.note(at, format!("operator: {text}: {e}")),
        }
    }

    fn note(&mut self, at: Timestamp, text: String) {
        self.journal.cause(&text);
        self.log.push(LogLine { at, text });
        if self.log.len() > LOG_MAX {
            let extra = self.log.len() - LOG_MAX;
            self.log.drain(..extra);
        }
    }
}

fn cmd_time(cmd: &Command) -> Timestamp {
    match cmd {
        Command::SetPolicy { at, .. }
        | Command::NodeJoined { at, .. }
        | Command::NodeLost { at, .. }
        | Command::NodeFenced { at, .. }
        | Command::FenceFailed { at, .. }
        | Command::FenceCalledOff { at, .. }
        | Command::Admin { at, .. }
        | Command::Tick { at } => *at,
        Command::Done(d) => d.at,
        // Handled before: they change nothing else.
        Command::Transition(t) => t.at,
        Command::TransitionDone { .. } => Timestamp::default(),
    }
}

fn clear_node(s: &mut ClusterState, node: &str) {
    for per_node in s.resources.values_mut() {
        per_node.remove(node);
    }
}

/// Records an action's result in the state; returns a log line for what is
/// worth telling an operator (role changes and failures).
fn record(s: &mut ClusterState, d: &Done, promotable: bool, start_fatal: bool) -> Option<String> {
    let entry = s
        .resources
        .entry(d.rsc.clone())
        .or_default()
        .entry(d.node.clone())
        .or_default();
    match d.promotion {
        Some(halo_proto::PromotionChange::Set(p)) => entry.promotion = Some(p),
        Some(halo_proto::PromotionChange::Delete) => entry.promotion = None,
        None => {}
    }
    if d.ok {
        let mut roles = entry.roles();
        match d.op {
            OpAction::Start => {
                roles.push(if promotable {
                    Role::Unpromoted
                } else {
                    Role::Started
                });
                entry.definition = d.definition.clone();
            }
            OpAction::Stop => {
                roles.sort_by_key(|r| std::cmp::Reverse(*r));
                roles.pop();
                if roles.is_empty() {
                    entry.definition = None;
                }
            }
            OpAction::Reload => {
                entry.reload = false;
                entry.definition = d.definition.clone();
            }
            OpAction::Promote => match roles.iter_mut().find(|r| **r != Role::Promoted) {
                Some(r) => *r = Role::Promoted,
                None => roles.push(Role::Promoted),
            },
            OpAction::Demote => {
                if let Some(r) = roles.iter_mut().find(|r| **r == Role::Promoted) {
                    *r = Role::Unpromoted;
                }
            }
            OpAction::Monitor => {}
        }
        entry.failed = None;
        entry.changed = false;
        entry.set_roles(roles);
        return match d.op {
            OpAction::Monitor => None,
            OpAction::Start => Some(format!("started {} on {}", d.rsc, d.node)),
            OpAction::Stop => Some(format!("stopped {} on {}", d.rsc, d.node)),
            OpAction::Promote => Some(format!("promoted {} on {}", d.rsc, d.node)),
            OpAction::Demote => Some(format!("demoted {} on {}", d.rsc, d.node)),
            OpAction::Reload => Some(format!("reloaded {} on {}", d.rsc, d.node)),
        };
    }
    // A failure: counted, and the resource needs recovery per on-fail.
    let was_active = entry.role.is_active();
    // A failed reload counts as a failed monitor, as Pacemaker records it
    // (`pcmk__create_history_xml`): the instance is recovered as its
    // monitor's on-fail says.
    let op = match d.op {
        OpAction::Reload => OpAction::Monitor,
        op => op,
    };
    entry.failed = Some(FailedOp {
        agent_missing: d.rc == 5,
        ..FailedOp::of(op, d.rc)
    });
    if d.op == OpAction::Start && !was_active {
        // A failed start may have left something running: stop it.
        entry.role = Role::Started;
    }
    if let Some(role) = d.seen {
        if !entry.role.is_active() {
            entry.role = role;
        }
    }
    s.add_failure(&d.rsc, &d.node, op, d.at, start_fatal);
    Some(format!(
        "{} {} failed on {} (rc={})",
        d.rsc, d.op, d.node, d.rc
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
cluster t {
  node n1
  node n2
  fencing off
}
resource web: halo:dummy { monitor every 1s }
fence power: fence_halo { targets n1 n2 }
promotable db: halo:stateful {
  monitor promoted every 1s
  monitor unpromoted every 2s
}
"#;

    fn doc() -> (Doc, Arc<Policy>) {
        let mut d = Doc::default();
        let p = d
            .apply(
                &Command::SetPolicy {
                    name: "t.ha".into(),
                    text: POLICY.into(),
                    at: Timestamp(100),
                },
                None,
            )
            .unwrap();
        (d, p)
    }

    fn done(rsc: &str, node: &str, op: OpAction, ok: bool, rc: i32) -> Command {
        Command::Done(Done {
            rsc: rsc.into(),
            node: node.into(),
            op,
            ok,
            rc,
            seen: None,
            promotion: None,
            attributes: Vec::new(),
            at: Timestamp(200),
            definition: None,
        })
    }

    #[test]
    fn nodes_are_offline_until_they_join() {
        let (mut d, p) = doc();
        assert_eq!(d.state.node("n1").status, NodeStatus::Offline);
        d.apply(
            &Command::NodeJoined {
                node: "n1".into(),
                found: vec![Found {
                    rsc: "web".into(),
                    role: Role::Started,
                    promotion: None,
                }],
                at: Timestamp(101),
            },
            Some(&p),
        );
        assert_eq!(d.state.node("n1").status, NodeStatus::Online);
        assert_eq!(d.state.on("web", "n1").map(|r| r.role), Some(Role::Started));
        assert_eq!(d.seq, 2);
    }

    #[test]
    fn results_change_roles_and_failures_count() {
        let (mut d, p) = doc();
        d.apply(&done("db", "n1", OpAction::Start, true, 0), Some(&p));
        assert_eq!(d.state.on("db", "n1").unwrap().role, Role::Unpromoted);
        d.apply(&done("db", "n1", OpAction::Promote, true, 0), Some(&p));
        assert_eq!(d.state.on("db", "n1").unwrap().role, Role::Promoted);
        d.apply(&done("web", "n2", OpAction::Start, true, 0), Some(&p));
        d.apply(&done("web", "n2", OpAction::Monitor, false, 7), Some(&p));
        let r = d.state.on("web", "n2").unwrap();
        assert_eq!(r.failed.as_ref().map(|f| f.rc), Some(7));
        assert_eq!(d.state.failcount("web", "n2").unwrap().count, 1);
        d.apply(&done("web", "n2", OpAction::Stop, true, 0), Some(&p));
        assert!(d.state.on("web", "n2").is_none());
        assert!(d
            .log
            .iter()
            .any(|l| l.text.contains("web monitor failed on n2")));
    }

    #[test]
    fn what_an_instance_runs_with_is_kept_until_it_stops() {
        let (mut d, p) = doc();
        let with = |cmd: Command, fake: &str| match cmd {
            Command::Done(mut x) => {
                x.definition = Some(halo_model::Definition {
                    params: [("fake".to_string(), fake.to_string())].into(),
                    restart: Some(vec!["state".into()]),
                    ..Default::default()
                });
                Command::Done(x)
            }
            other => other,
        };
        let fake = |d: &Doc| {
            d.state
                .on("web", "n1")
                .and_then(|r| r.definition.as_ref())
                .map(|x| x.params["fake"].clone())
        };
        let joined = Command::NodeJoined {
            node: "n1".into(),
            found: vec![],
            at: Timestamp(150),
        };
        d.apply(&joined, Some(&p));
        d.apply(
            &with(done("web", "n1", OpAction::Start, true, 0), "one"),
            Some(&p),
        );
        assert_eq!(fake(&d).as_deref(), Some("one"));
        d.apply(
            &with(done("web", "n1", OpAction::Reload, true, 0), "two"),
            Some(&p),
        );
        assert_eq!(fake(&d).as_deref(), Some("two"));
        assert!(d.log.iter().any(|l| l.text == "reloaded web on n1"));
        // A new leader's probe finds it running: still what it was given.
        let probed = Command::NodeJoined {
            node: "n1".into(),
            found: vec![Found {
                rsc: "web".into(),
                role: Role::Started,
                promotion: None,
            }],
            at: Timestamp(160),
        };
        d.apply(&probed, Some(&p));
        assert_eq!(fake(&d).as_deref(), Some("two"));
        // A failed reload is recorded as Pacemaker records it: a failed
        // monitor, recovered as the monitor's on-fail says.
        d.apply(&done("web", "n1", OpAction::Reload, false, 1), Some(&p));
        let r = d.state.on("web", "n1").unwrap();
        assert_eq!(r.failed.as_ref().map(|f| f.op), Some(OpAction::Monitor));
        d.apply(&done("web", "n1", OpAction::Stop, true, 0), Some(&p));
        assert_eq!(fake(&d), None);
    }

    #[test]
    fn a_resource_found_stopped_on_a_new_leaders_probe_failed() {
        let (mut d, p) = doc();
        let joined = |found: Vec<Found>| Command::NodeJoined {
            node: "n1".into(),
            found,
            at: Timestamp(150),
        };
        d.apply(&joined(vec![]), Some(&p));
        d.apply(&done("web", "n1", OpAction::Start, true, 0), Some(&p));
        // A new leader probes n1: web is gone.
        d.apply(&joined(vec![]), Some(&p));
        let r = d.state.on("web", "n1").unwrap();
        assert_eq!(r.role, Role::Started, "kept, to be stopped and started");
        assert_eq!(
            r.failed.as_ref().map(|f| (f.op, f.rc)),
            Some((OpAction::Monitor, 7))
        );
        assert_eq!(d.state.failcount("web", "n1").unwrap().count, 1);
        // A node that rejoins after being lost has nothing to compare with.
        d.apply(
            &Command::NodeLost {
                node: "n1".into(),
                unclean: false,
                at: Timestamp(300),
            },
            Some(&p),
        );
        d.apply(&joined(vec![]), Some(&p));
        assert!(d.state.on("web", "n1").is_none_or(|r| r.failed.is_none()));
    }

    #[test]
    fn a_new_leaders_probe_leaves_fence_devices_alone() {
        let (mut d, p) = doc();
        let joined = Command::NodeJoined {
            node: "n1".into(),
            found: vec![],
            at: Timestamp(150),
        };
        d.apply(&joined, Some(&p));
        d.apply(&done("power", "n1", OpAction::Start, true, 0), Some(&p));
        // A probe does not ask about fence devices: absent is not stopped.
        d.apply(&joined, Some(&p));
        let r = d.state.on("power", "n1").unwrap();
        assert_eq!(r.role, Role::Started);
        assert!(r.failed.is_none(), "{r:?}");
        assert!(d.state.failcount("power", "n1").is_none());
    }

    #[test]
    fn lost_nodes_are_fenced_or_cleared() {
        let (mut d, p) = doc();
        d.apply(&done("web", "n1", OpAction::Start, true, 0), Some(&p));
        d.apply(
            &Command::NodeLost {
                node: "n1".into(),
                unclean: true,
                at: Timestamp(300),
            },
            Some(&p),
        );
        assert_eq!(d.state.node("n1").status, NodeStatus::Unclean);
        assert_eq!(d.fencing.len(), 1);
        assert!(d.state.on("web", "n1").is_some(), "unknown until fenced");
        d.apply(
            &Command::NodeFenced {
                node: "n1".into(),
                at: Timestamp(301),
            },
            Some(&p),
        );
        assert_eq!(d.state.node("n1").status, NodeStatus::Offline);
        assert!(d.state.on("web", "n1").is_none());
        assert!(d.fencing.is_empty());
    }

    #[test]
    fn bans_with_a_lifetime_lapse() {
        let (mut d, p) = doc();
        let ban = Command::Admin {
            op: AdminOp::Ban {
                rsc: "web".into(),
                node: "n1".into(),
                until: Some(Timestamp(500)),
            },
            at: Timestamp(400),
        };
        d.apply(&ban, Some(&p));
        assert_eq!(d.state.operator.len(), 1);
        d.apply(
            &Command::Admin {
                op: AdminOp::Standby {
                    node: "n2".into(),
                    on: true,
                },
                at: Timestamp(501),
            },
            Some(&p),
        );
        assert!(d.state.operator.is_empty());
        assert!(d.state.node("n2").standby);
    }

    #[test]
    fn an_auto_clearing_move_is_refused_when_the_resource_would_return() {
        let with = |extra: &str| {
            let mut d = Doc::default();
            let text = format!(
                "cluster t {{\n  node n1\n  node n2\n  fencing off\n}}\n\
                 resource web: halo:dummy {{\n  monitor every 1s\n{extra}}}\n\
                 prefer web on n1 score 50\n"
            );
            let p = d
                .apply(
                    &Command::SetPolicy {
                        name: "t.ha".into(),
                        text,
                        at: Timestamp(100),
                    },
                    None,
                )
                .unwrap();
            for (node, found) in [("n1", vec!["web"]), ("n2", vec![])] {
                let found = found
                    .into_iter()
                    .map(|r: &str| Found {
                        rsc: r.into(),
                        role: Role::Started,
                        promotion: None,
                    })
                    .collect();
                let at = Timestamp(101);
                let node = node.into();
                d.apply(&Command::NodeJoined { node, found, at }, Some(&p));
            }
            halo_engine::scenario::check_auto_clear(&p, &d.state, Timestamp(200), "web", "n2")
        };
        // Nothing holds it on n2 once the move is gone: it would go back.
        let refused = with("").unwrap_err().to_string();
        assert!(
            refused.contains("would leave n2 for n1") && refused.contains("stickiness"),
            "{refused}"
        );
        // Its stickiness (100) beats the preference (50): it stays.
        assert_eq!(with("  stickiness 100\n"), Ok(()));
    }

    #[test]
    fn a_result_logged_before_attributes_existed_still_reads() {
        // The log stores commands by position: the layout of `Done` before it
        // carried attribute changes.
        #[derive(Serialize)]
        struct Before {
            rsc: String,
            node: String,
            op: OpAction,
            ok: bool,
            rc: i32,
            seen: Option<Role>,
            promotion: Option<halo_proto::PromotionChange>,
            at: Timestamp,
        }
        let old = rmp_serde::to_vec(&Before {
            rsc: "web".into(),
            node: "n1".into(),
            op: OpAction::Start,
            ok: true,
            rc: 0,
            seen: None,
            promotion: None,
            at: Timestamp(5),
        })
        .unwrap();
        let d: Done = rmp_serde::from_slice(&old).unwrap();
        assert_eq!(
            (d.rsc.as_str(), d.at, d.attributes.len()),
            ("web", Timestamp(5), 0)
        );
    }

    #[test]
    fn same_commands_same_document() {
        let run = || {
            let (mut d, p) = doc();
            d.apply(&done("web", "n1", OpAction::Start, true, 0), Some(&p));
            d.apply(&done("web", "n1", OpAction::Monitor, false, 1), Some(&p));
            rmp_serde::to_vec(&d).unwrap()
        };
        assert_eq!(run(), run());
    }
}
