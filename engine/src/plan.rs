//! The plan: target placement with its reasons, and the actions to get there as a
//! DAG of ordered actions.

use halo_model::{Duration, Origin, Role, Score};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use std::fmt;

/// What the engine decided.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Whether the cluster has quorum in the state planned from.
    pub quorate: bool,
    /// One entry per resource (groups, their members, clones), in declaration order.
    pub placements: Vec<Placement>,
    /// Actions, with an edge `a → b` when `a` must finish before `b` starts.
    pub graph: DiGraph<Action, ()>,
    /// Things an operator should know: blocked resources, resources that cannot run.
    pub notes: Vec<String>,
    /// Placement index by resource name.
    pub(crate) by_name: std::collections::BTreeMap<String, usize>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Actions in a valid execution order: a topological order in which, among
    /// actions ready at the same time, the earlier-created one comes first.
    pub fn ordered(&self) -> Vec<&Action> {
        self.execution_order()
            .into_iter()
            .filter_map(|n| self.graph.node_weight(n))
            .collect()
    }

    /// The graph's nodes in [`Plan::ordered`]'s order.
    pub fn execution_order(&self) -> Vec<NodeIndex> {
        let g = &self.graph;
        let mut indeg: Vec<usize> = g
            .node_indices()
            .map(|n| g.neighbors_directed(n, petgraph::Incoming).count())
            .collect();
        let mut ready: std::collections::BTreeSet<usize> = indeg
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == 0)
            .map(|(i, _)| i)
            .collect();
        let mut out = Vec::with_capacity(g.node_count());
        while let Some(i) = ready.pop_first() {
            let n = NodeIndex::new(i);
            out.push(n);
            for m in g.neighbors_directed(n, petgraph::Outgoing) {
                if let Some(d) = indeg.get_mut(m.index()) {
                    *d = d.saturating_sub(1);
                    if *d == 0 {
                        ready.insert(m.index());
                    }
                }
            }
        }
        debug_assert_eq!(out.len(), g.node_count(), "the action graph has a cycle");
        out
    }

    /// The plan as canonical text: its actions in execution order, numbered,
    /// each with its reasons and the actions it waits for. Deterministic, so
    /// the controllers' journal records it and a replay (`simulate --at`)
    /// is compared with it byte for byte.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let order = self.execution_order();
        let mut number = vec![0usize; self.graph.node_count()];
        for (i, n) in order.iter().enumerate() {
            number[n.index()] = i + 1;
        }
        let mut out = String::new();
        for (i, n) in order.iter().enumerate() {
            let a = &self.graph[*n];
            let _ = write!(out, "{}. {a}", i + 1);
            let reasons: Vec<String> = a.because.iter().map(ToString::to_string).collect();
            if !reasons.is_empty() {
                let _ = write!(out, " ({})", reasons.join("; "));
            }
            let mut after: Vec<usize> = self
                .graph
                .neighbors_directed(*n, petgraph::Incoming)
                .map(|m| number[m.index()])
                .collect();
            after.sort_unstable();
            after.dedup();
            if !after.is_empty() {
                let after: Vec<String> = after.iter().map(ToString::to_string).collect();
                let _ = write!(out, " after {}", after.join(", "));
            }
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// Edges as pairs of indices into [`Plan::ordered`]'s source order (node ids).
    pub fn edges(&self) -> Vec<(usize, usize)> {
        let mut e: Vec<(usize, usize)> = self
            .graph
            .raw_edges()
            .iter()
            .map(|e| (e.source().index(), e.target().index()))
            .collect();
        e.sort_unstable();
        e
    }

    pub fn placement(&self, rsc: &str) -> Option<&Placement> {
        self.by_name.get(rsc).and_then(|&i| self.placements.get(i))
    }
}

/// Where a resource should be, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Placement {
    pub rsc: String,
    /// Target instances: (node, role). Empty when the resource should be stopped.
    pub instances: Vec<(String, Role)>,
    /// The score of every node, with its parts, best first.
    pub scores: Vec<NodeScore>,
    /// For promotable clones: the promotion score of each instance's node.
    pub promotion: Option<Vec<NodeScore>>,
    /// The resource is left as it is: a failed stop or on-fail block.
    pub blocked: bool,
    /// Nodes where a clone instance is left as it is (unfenceable, maintenance,
    /// operation in flight); they appear in `instances` with their current role.
    pub frozen: Vec<String>,
    /// Position in the assignment order (resources assigned earlier win ties).
    pub assigned_as: usize,
    /// The node it counts as running on when it is active on several
    /// (`pe__current_node`; see `Ctx::current_node`).
    #[serde(skip)]
    pub current: Option<String>,
    /// Why the resource cannot run, when it cannot.
    pub unplaced: Option<String>,
    /// Nodes it would start on if a mandatory order did not hold it back
    /// (Pacemaker lists these starts as blocked).
    pub held: Vec<String>,
    /// Nodes it keeps running on only because its stop is ordered after the
    /// stop of a blocked resource (Pacemaker lists these stops as blocked).
    pub stop_held: Vec<String>,
    /// Clone instances that leave one node for another, (from, to): which
    /// stop and which start are one instance's move.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<(String, String)>,
    /// Nodes where an instance would be promoted if what its promotion
    /// needs (an order, a mandatory colocation) did not hold it back
    /// (Pacemaker lists these promotions as blocked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promote_held: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeScore {
    pub node: String,
    pub total: Score,
    pub parts: Vec<Contribution>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contribution {
    pub score: Score,
    pub source: Source,
}

/// Where a part of a node's score came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Source {
    /// A location constraint (`prefer`/`avoid`).
    Location { origin: Origin, rsc: String },
    /// Colocation with a resource already placed.
    Colocation { origin: Origin, with: String },
    /// A dependent's preference passed on through a colocation.
    Dependent { origin: Origin, rsc: String },
    /// Stickiness of a resource already active on the node.
    Stickiness { rsc: String },
    /// The node cannot run resources.
    NodeUnavailable { why: String },
    /// The fail count reached migration-threshold.
    FailCount {
        rsc: String,
        count: u32,
        threshold: u32,
    },
    /// The cluster is opt-in and nothing allows this node.
    OptIn,
    /// Agent-reported promotion score (promotable clones).
    Promotion { rsc: String },
    /// Quorum is lost and the no-quorum policy keeps resources off.
    NoQuorum,
    /// An operator's `move` or `ban`.
    Operator { rsc: String },
    /// An operation failed there with a hard error (agent not installed...).
    HardError { rsc: String, rc: i32 },
    /// The node has not enough of what the resource (and what must run with
    /// it) uses left.
    Capacity { what: String },
    /// A dependent would have made this promotion score negative, so it is
    /// kept at 1 (minus infinity while the dependents are being merged).
    KeptPositive { rsc: String },
    /// The resource is left as it is (unmanaged, or blocked by a failure)
    /// and active here: it stays, and what must run with it follows.
    Unmanaged { rsc: String },
    /// A failure (on-fail=stop, or rc 6) keeps it from starting anywhere
    /// until it is cleaned up.
    FailedStopped { rsc: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Location { rsc, .. } => write!(f, "location constraint on {rsc}"),
            Source::Colocation { with, .. } => write!(f, "colocation with {with}"),
            Source::Dependent { rsc, .. } => write!(f, "preference of dependent {rsc}"),
            Source::Stickiness { rsc } => write!(f, "stickiness of {rsc} (active here)"),
            Source::NodeUnavailable { why } => write!(f, "node {why}"),
            Source::FailCount {
                rsc,
                count,
                threshold,
            } => {
                write!(
                    f,
                    "{rsc} failed {count} times (migration-threshold {threshold})"
                )
            }
            Source::OptIn => f.write_str("opt-in cluster: no location constraint allows this node"),
            Source::Promotion { rsc } => write!(f, "promotion score reported by {rsc}"),
            Source::NoQuorum => f.write_str("no quorum"),
            Source::Operator { rsc } => write!(f, "operator move/ban of {rsc}"),
            Source::HardError { rsc, rc } => write!(f, "{rsc} failed here with hard error rc={rc}"),
            Source::Capacity { what } => write!(f, "not enough {what} left here"),
            Source::KeptPositive { rsc } => {
                write!(f, "kept at 1: dependent {rsc} would make it negative")
            }
            Source::Unmanaged { rsc } => write!(f, "{rsc} is left as it is, active here"),
            Source::FailedStopped { rsc } => write!(
                f,
                "{rsc} failed with on-fail=stop or not configured (rc 6): it starts nowhere until cleaned up"
            ),
        }
    }
}

impl Source {
    /// Whether the part is in each clone instance's own node table when
    /// the instances are ordered: the clone's location constraints (opt-in
    /// included), failures and operator moves, which Pacemaker copies into
    /// its instances; not availability, stickiness or colocations, which an
    /// instance meets only when it is assigned (`node_is_allowed` in
    /// `pcmk__cmp_instance`).
    pub fn in_instance_table(&self) -> bool {
        matches!(
            self,
            Source::Location { .. }
                | Source::OptIn
                | Source::FailCount { .. }
                | Source::HardError { .. }
                | Source::FailedStopped { .. }
                | Source::Operator { .. }
        )
    }

    /// The policy item this part came from, if any.
    pub fn origin(&self) -> Option<Origin> {
        match self {
            Source::Location { origin, .. }
            | Source::Colocation { origin, .. }
            | Source::Dependent { origin, .. } => Some(*origin),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Fence,
    Stop,
    Demote,
    Start,
    Promote,
    Monitor,
    /// The agent takes changed parameters in place, without a stop: only
    /// parameters its meta-data marks reloadable changed.
    Reload,
    /// A clone notification: one instance is told what its peers are about to
    /// do or have done (the agent's `notify` action).
    Notify,
    /// A point in the plan, run nowhere: every notification of one phase of a
    /// clone's operation has been given (Pacemaker's `confirmed-pre` and
    /// `confirmed-post` pseudo-actions, and the `post` one they follow).
    Notified,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Fence => "fence",
            ActionKind::Stop => "stop",
            ActionKind::Demote => "demote",
            ActionKind::Start => "start",
            ActionKind::Promote => "promote",
            ActionKind::Monitor => "monitor",
            ActionKind::Reload => "reload",
            ActionKind::Notify => "notify",
            ActionKind::Notified => "notified",
        }
    }

    /// Whether the action runs nowhere: a point the plan's orders pass through.
    pub fn is_pseudo(self) -> bool {
        self == ActionKind::Notified
    }
}

/// Before or after the operation a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Pre,
    Post,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
        }
    }
}

/// What a notification says: the phase, the operation, and the variables the
/// agent receives as `OCF_RESKEY_CRM_meta_<name>` (Pacemaker's `notify_type`,
/// `notify_operation` and the `notify_*_resource` / `notify_*_uname` lists).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub phase: Phase,
    /// The clone's operation: start, stop, promote or demote.
    pub op: ActionKind,
    /// The instance told, as Pacemaker names clone instances (`rsc:N`); empty
    /// for a [`ActionKind::Notified`] point.
    pub instance: String,
    /// For a point: whether it confirms the phase's notifications (Pacemaker's
    /// `confirmed-pre` / `confirmed-post`) or, for the post phase, opens it
    /// once the operation is done on every instance (`post`).
    pub confirmed: bool,
    pub vars: std::collections::BTreeMap<String, String>,
}

/// One step of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    /// The resource; `None` for fencing.
    pub rsc: Option<String>,
    /// Where it runs; empty for a [`ActionKind::Notified`] point, which runs
    /// nowhere (`ActionKind::is_pseudo`).
    pub node: String,
    /// For monitors: the interval and the role checked.
    pub interval: Option<Duration>,
    pub role: Option<Role>,
    pub timeout: Option<Duration>,
    pub because: Vec<Reason>,
    /// For notifications and their points: what is told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<Box<Notice>>,
}

impl Action {
    /// A post notification or one of its points: it tells the peers what was
    /// done, so it runs even once the rest of the plan is abandoned (Pacemaker
    /// gives these priority INFINITY, above any transition abort).
    pub fn is_post_notification(&self) -> bool {
        matches!(self.kind, ActionKind::Notify | ActionKind::Notified)
            && self.notice.as_ref().is_some_and(|n| n.phase == Phase::Post)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.rsc, self.kind) {
            (None, _) => write!(f, "fence {}", self.node),
            (Some(r), ActionKind::Monitor) => {
                write!(f, "monitor {r} on {}", self.node)?;
                if let Some(i) = self.interval {
                    write!(f, " every {i}")?;
                }
                Ok(())
            }
            (Some(r), ActionKind::Notified) => match &self.notice {
                Some(n) => write!(
                    f,
                    "notified {r} ({}{}-{})",
                    if n.confirmed { "confirmed-" } else { "" },
                    n.phase.as_str(),
                    n.op.as_str()
                ),
                None => write!(f, "notified {r}"),
            },
            (Some(r), ActionKind::Notify) => {
                write!(f, "notify {r} on {}", self.node)?;
                if let Some(n) = &self.notice {
                    write!(f, " ({}-{})", n.phase.as_str(), n.op.as_str())?;
                }
                Ok(())
            }
            (Some(r), k) => write!(f, "{} {r} on {}", k.as_str(), self.node),
        }
    }
}

/// Why an action is in the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Reason {
    /// Placed here by the scores (best node, score given).
    Placed { score: Score },
    /// Moving to a node with a better score.
    Moving {
        from: String,
        to: String,
        from_score: Score,
        to_score: Score,
    },
    /// The node it ran on can no longer run it.
    NodeUnavailable { node: String, why: String },
    /// The node is unclean and must be fenced before its resources are recovered.
    NodeUnclean,
    /// An operation failed and on-fail says to recover.
    Failed { op: String, rc: i32 },
    /// The resource cannot run anywhere now.
    CannotRun { why: String },
    /// Restarted because a resource it depends on (mandatory order) restarts.
    DependsOn { rsc: String },
    /// Chosen (or no longer chosen) for the promoted role.
    Promotion,
    /// Recurring health check for the new role.
    Health,
    /// Found active on several nodes though it runs once: restarted on one.
    MultipleActive,
    /// Started with other parameters than the policy now gives it.
    DefinitionChanged,
    /// Started with other parameters than the policy now gives it, all of
    /// which the agent can reload in place.
    Reload,
    /// A failed operation's on-fail requires fencing the node.
    OnFailFence { rsc: String },
    /// The resource is not wanted (target-role, no quorum, on-fail stop).
    NotWanted { why: String },
    /// A clone with notifications on tells its instances about an operation
    /// of their peers.
    Notification { clone: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Placed { score } => write!(f, "best node (score {score})"),
            Reason::Moving {
                from,
                to,
                from_score,
                to_score,
            } => {
                write!(f, "{to} scores {to_score}, {from} {from_score}")
            }
            Reason::NodeUnavailable { node, why } => write!(f, "{node} {why}"),
            Reason::NodeUnclean => f.write_str("node is unclean"),
            Reason::Failed { op, rc } => write!(f, "{op} failed (rc={rc})"),
            Reason::CannotRun { why } => write!(f, "cannot run: {why}"),
            Reason::DependsOn { rsc } => write!(f, "{rsc} restarts"),
            Reason::Promotion => f.write_str("promotion choice"),
            Reason::Health => f.write_str("recurring monitor"),
            Reason::MultipleActive => f.write_str("active on several nodes"),
            Reason::DefinitionChanged => f.write_str("its definition changed since it started"),
            Reason::Reload => {
                f.write_str("its definition changed since it started; the agent reloads it")
            }
            Reason::OnFailFence { rsc } => write!(f, "on-fail=fence for {rsc}"),
            Reason::NotWanted { why } => f.write_str(why),
            Reason::Notification { clone } => write!(f, "{clone} has notifications on"),
        }
    }
}
