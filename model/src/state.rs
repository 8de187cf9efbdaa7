//! The observed cluster state: what the engine plans from, what `--state` files
//! hold, and what the live controller keeps.
//!
//! Its file form is JSON (see `docs/state-format.md`). Every field has a default, so a
//! state file need only say what differs from "every node online, nothing running".

use crate::{OpAction, Role, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterState {
    /// Nodes by name. A policy node missing here is online.
    pub nodes: BTreeMap<String, NodeState>,
    /// Resource name → node name → what runs there. Clone instances are listed
    /// under the clone's name, one entry per node.
    pub resources: BTreeMap<String, BTreeMap<String, ResourceState>>,
    /// Resource name → node name → failures.
    pub failures: BTreeMap<String, BTreeMap<String, FailCount>>,
    /// Nodes whose fencing has been confirmed since they were last seen unclean.
    pub fenced: Vec<String>,
    /// Whether the quorum witness is reachable (quorum `witness`); default true.
    pub witness_up: Option<bool>,
    /// Constraints an operator added at run time (`resource move`, `ban`).
    pub operator: Vec<OperatorConstraint>,
    /// Quorum as the membership layer decided it, when it is known (an imported
    /// CIB's `have-quorum`); otherwise the engine counts votes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorate: Option<bool>,
    /// The whole cluster is in maintenance (`halo maintenance on`, Pacemaker's
    /// `maintenance-mode`): nothing is started, stopped, promoted, demoted or
    /// recovered until it ends.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub maintenance: bool,
}

/// A run-time location preference from an operator command: `move` adds `inf` on
/// the target node, `ban` adds `-inf`; `clear` removes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConstraint {
    pub rsc: String,
    pub node: String,
    pub score: crate::Score,
    /// Which command added it: a later `move` of the same resource replaces
    /// everything an earlier `move` added, and leaves bans alone.
    #[serde(default, skip_serializing_if = "OperatorSource::is_ban")]
    pub by: OperatorSource,
}

/// When what a `move` or a `ban` with a lifetime added lapses: kept by the
/// controller, and by the scenario runner for `move ... for D` and
/// `move ... auto-clear`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiry {
    pub rsc: String,
    /// The banned node (for a move: its target).
    pub node: String,
    #[serde(default)]
    pub by: OperatorSource,
    /// When its lifetime is over, if it has one.
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// A move that ends once the resource runs on its target (`--auto-clear`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub once_there: bool,
}

impl Expiry {
    /// Whether operator constraint `o` is what this expiry ends: a ban's
    /// `-inf` on its node, or everything its move added.
    pub fn covers(&self, o: &OperatorConstraint) -> bool {
        o.rsc == self.rsc
            && o.by == self.by
            && match self.by {
                OperatorSource::Ban => o.node == self.node && o.score == crate::Score::NEG_INF,
                OperatorSource::Move => true,
            }
    }

    /// Ends what the expiries due by `now` cover in `state`, and returns them:
    /// those whose lifetime is over, and auto-clearing moves whose resource
    /// `runs_there` (on its target, as `state` shows).
    pub fn lapse(
        expiring: &mut Vec<Expiry>,
        state: &mut ClusterState,
        now: Timestamp,
        runs_there: &dyn Fn(&ClusterState, &Expiry) -> bool,
    ) -> Vec<Expiry> {
        let due =
            |e: &Expiry| e.at.is_some_and(|t| t <= now) || (e.once_there && runs_there(state, e));
        let (over, keep): (Vec<_>, Vec<_>) = expiring.drain(..).partition(due);
        *expiring = keep;
        for e in &over {
            state.operator.retain(|o| !e.covers(o));
        }
        over
    }
}

/// The operator command behind an [`OperatorConstraint`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorSource {
    /// `ban RSC NODE`: `-inf` on the node until `clear` (or its lifetime).
    #[default]
    Ban,
    /// `move RSC NODE`: `inf` on the target and `-inf` where it ran.
    Move,
}

impl OperatorSource {
    pub fn is_ban(&self) -> bool {
        *self == OperatorSource::Ban
    }
}

impl ClusterState {
    pub fn node(&self, name: &str) -> NodeState {
        self.nodes.get(name).cloned().unwrap_or_default()
    }

    pub fn node_mut(&mut self, name: &str) -> &mut NodeState {
        self.nodes.entry(name.to_string()).or_default()
    }

    /// What runs of `rsc` on `node`, if anything was observed.
    pub fn on(&self, rsc: &str, node: &str) -> Option<&ResourceState> {
        self.resources.get(rsc).and_then(|m| m.get(node))
    }

    /// What is active on `node`, with its role, by resource name.
    pub fn active_on(&self, node: &str) -> Vec<(String, Role)> {
        self.resources
            .iter()
            .filter_map(|(r, per)| per.get(node).map(|x| (r.clone(), x.role)))
            .filter(|(_, role)| role.is_active())
            .collect()
    }

    pub fn set_role(&mut self, rsc: &str, node: &str, role: Role) {
        let entry = self
            .resources
            .entry(rsc.to_string())
            .or_default()
            .entry(node.to_string())
            .or_default();
        entry.role = role;
        entry.failed = None;
    }

    pub fn failcount(&self, rsc: &str, node: &str) -> Option<&FailCount> {
        self.failures.get(rsc).and_then(|m| m.get(node))
    }

    /// The failure record of `rsc` on `node`, created empty if there is none.
    pub fn failure_mut(&mut self, rsc: &str, node: &str) -> &mut FailCount {
        self.failures
            .entry(rsc.to_string())
            .or_default()
            .entry(node.to_string())
            .or_default()
    }

    /// Records one more failure of `rsc` on `node` at `at`.
    pub fn add_failure(
        &mut self,
        rsc: &str,
        node: &str,
        op: OpAction,
        at: Timestamp,
        start_is_fatal: bool,
    ) {
        let fatal = op == OpAction::Start && start_is_fatal;
        let fc = self.failure_mut(rsc, node);
        fc.count = if fatal {
            FailCount::INFINITE
        } else {
            fc.count.saturating_add(1).min(FailCount::INFINITE)
        };
        fc.last_failure = at;
        fc.op = Some(op);
    }

    /// Removes empty maps and stopped entries so that equal states compare equal.
    pub fn normalize(&mut self) {
        for m in self.resources.values_mut() {
            for r in m.values_mut() {
                if r.more.iter().any(|x| !x.is_active())
                    || !r.role.is_active() && !r.more.is_empty()
                {
                    let roles = r.roles();
                    r.set_roles(roles);
                }
            }
            m.retain(|_, r| {
                r.role != Role::Stopped
                    || r.failed.is_some()
                    || r.pending.is_some()
                    || r.promotion.is_some()
                    || r.probed
            });
        }
        self.resources.retain(|_, m| !m.is_empty());
        for m in self.failures.values_mut() {
            m.retain(|_, f| f.count > 0);
        }
        self.failures.retain(|_, m| !m.is_empty());
        self.operator.sort_by(|a, b| {
            (&a.rsc, &a.node, a.by, a.score).cmp(&(&b.rsc, &b.node, b.by, b.score))
        });
        self.operator.dedup();
        self.fenced.sort();
        self.fenced.dedup();
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeState {
    pub status: NodeStatus,
    pub standby: bool,
    pub maintenance: bool,
    /// Transient node attributes (as set by agents); merged over the policy's.
    pub attrs: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeStatus {
    #[default]
    Online,
    /// Cleanly down: nothing runs there.
    Offline,
    /// Lost without a clean shutdown: its resources are in an unknown state until
    /// the node is fenced.
    Unclean,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceState {
    pub role: Role,
    /// The last operation failed; the resource needs recovery per on-fail.
    pub failed: Option<FailedOp>,
    /// The promotion score the agent reported on this node (promotable clones).
    pub promotion: Option<i64>,
    /// An operation in flight.
    pub pending: Option<OpAction>,
    /// For a clone instance imported from Pacemaker: its instance number
    /// (`rsc:N`), which breaks ties between otherwise equal instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// It was started with other parameters than the policy now gives it:
    /// it restarts to take them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub changed: bool,
    /// It was started with other parameters than the policy now gives it,
    /// all of which its agent can reload (an imported CIB's digests say so):
    /// it reloads them in place.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reload: bool,
    /// What the agent was given when it started (or last reloaded) here:
    /// the live cluster compares it with the policy to restart or reload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<Definition>,
    /// Further instances of a clone active on this node (clone-node-max above
    /// 1, or an instance found running twice), by role. `role`, `failed` and
    /// `pending` describe the first instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<Role>,
    /// Its status here is known though it is stopped: an operation history
    /// says so (a probe found it not running; Pacemaker's `known_on`). Only
    /// promotable clones are recorded so, as a promotion score counts for
    /// an instance where the status is known.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probed: bool,
}

impl ResourceState {
    /// Whether its status on the node is known: active, failed, in flight
    /// or probed.
    pub fn known(&self) -> bool {
        self.role.is_active() || self.failed.is_some() || self.pending.is_some() || self.probed
    }
}

impl ResourceState {
    /// The roles of every instance active on the node, the first first.
    pub fn roles(&self) -> Vec<Role> {
        std::iter::once(self.role)
            .filter(|r| r.is_active())
            .chain(self.more.iter().copied().filter(|r| r.is_active()))
            .collect()
    }

    /// Sets the instances active on the node, highest role first.
    pub fn set_roles(&mut self, mut roles: Vec<Role>) {
        roles.retain(|r| r.is_active());
        roles.sort_by_key(|r| std::cmp::Reverse(*r));
        let mut it = roles.into_iter();
        self.role = it.next().unwrap_or(Role::Stopped);
        self.more = it.collect();
    }
}

/// The parameters an agent was started (or last reloaded) with, as it got
/// them, and which of them it can reload without a restart. Every field is
/// always written: the controller's log stores it by position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Definition {
    /// Parameters by value.
    pub params: BTreeMap<String, String>,
    /// Parameters whose value is a secret, by the secret's name.
    pub secrets: BTreeMap<String, String>,
    /// Where the agent can reload (its meta-data offers `reload-agent` or
    /// `reload`): the parameters it cannot, so that a change to any of them
    /// restarts it (Pacemaker's `op-force-restart` list). `None` when the
    /// agent cannot reload: any change restarts it.
    pub restart: Option<Vec<String>>,
    /// Parameters of the start operation alone. They apply only at a start:
    /// where there are any, every change restarts (Pacemaker's
    /// `calculate_main_digest` for a one-off operation with its own
    /// parameters).
    pub start_only: BTreeMap<String, String>,
}

/// What a change of parameters calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redefinition {
    Same,
    /// Only parameters the agent can reload changed.
    Reload,
    Restart,
}

impl Definition {
    /// What going from this definition to `now` takes, by Pacemaker's rule
    /// (`rsc_action_digest_cmp` and `pcmk__check_action_config`): the
    /// parameters that force a restart compared first, then all of them; a
    /// change of only the others reloads where the agent can.
    pub fn compare(&self, now: &Definition) -> Redefinition {
        let same = |a: &Definition, b: &Definition| {
            a.params == b.params && a.secrets == b.secrets && a.start_only == b.start_only
        };
        if same(self, now) {
            return Redefinition::Same;
        }
        let Some(restart) = &self.restart else {
            return Redefinition::Restart;
        };
        let pick = |m: &BTreeMap<String, String>| -> Vec<(String, String)> {
            restart
                .iter()
                .filter_map(|k| m.get(k).map(|v| (k.clone(), v.clone())))
                .collect()
        };
        let start_only = !self.start_only.is_empty() || !now.start_only.is_empty();
        if start_only
            || pick(&self.params) != pick(&now.params)
            || pick(&self.secrets) != pick(&now.secrets)
        {
            Redefinition::Restart
        } else {
            Redefinition::Reload
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedOp {
    pub op: OpAction,
    #[serde(default)]
    pub rc: i32,
    /// The node could not find the agent at all: on-fail=ignore does not
    /// apply, and the resource may not run on this node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent_missing: bool,
    /// The agent action as a history names it when it is none Halo plans
    /// (an imported `asyncmon` or `fail`). `op` is then `Reload`, the one
    /// action never declared, so the failure is recovered with the default
    /// on-fail, as Pacemaker does for an action with no configuration
    /// (`unpack_rsc_op_failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The failure was a probe's (a one-off monitor asking whether the
    /// resource runs on the node). Probes are never configured, so the
    /// configured monitors' on-fail does not apply: Pacemaker looks an
    /// action's configuration up by name and interval (`find_rsc_op_entry`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
}

impl FailedOp {
    /// A failure of one of Halo's actions.
    pub fn of(op: OpAction, rc: i32) -> FailedOp {
        FailedOp {
            op,
            rc,
            agent_missing: false,
            task: None,
            probe: false,
        }
    }

    /// The failed action's name, as the agent was asked to run it.
    pub fn action_name(&self) -> &str {
        self.task.as_deref().unwrap_or(self.op.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailCount {
    pub count: u32,
    pub last_failure: Timestamp,
    /// The operation that failed last: its on-fail (stop, standby) keeps acting
    /// until the failure is cleaned up or expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<OpAction>,
}

impl FailCount {
    /// A fail count that reaches any migration-threshold (a failed start).
    pub const INFINITE: u32 = 1_000_000;
}
