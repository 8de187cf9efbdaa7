//! The policy IR: what a `.ha` file means, with names resolved to ids.

use crate::{Duration, Score};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Where a policy item came from. The language crate keeps the table that maps an
/// origin to a file and span; the engine only passes origins through to reasons.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize)]
pub struct Origin(pub u32);

/// Index of a resource in [`Policy::resources`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub struct RscId(pub u32);

impl RscId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index of a constraint in [`Policy::constraints`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub struct ConstraintId(pub u32);

/// A compiled policy.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Policy {
    pub cluster: Cluster,
    pub defaults: Meta,
    /// Default timeout for operations that set none.
    pub op_timeout: Option<Duration>,
    /// Every resource: primitives, groups (whose members also appear here, after
    /// the group) and fence devices, in declaration order. Declaration order is the
    /// final tie-break between resources of equal priority.
    pub resources: Vec<Resource>,
    pub constraints: Vec<Constraint>,
    pub tests: Vec<Scenario>,
}

impl Policy {
    pub fn resource(&self, id: RscId) -> Option<&Resource> {
        self.resources.get(id.index())
    }

    /// Whether `id` is, or is inside, a clone (its instances are many).
    pub fn in_clone(&self, id: RscId) -> bool {
        let mut at = self.resource(id);
        while let Some(r) = at {
            if r.clone.is_some() {
                return true;
            }
            at = r.parent.and_then(|p| self.resource(p));
        }
        false
    }

    /// How many resource instances the policy asks for: each primitive once,
    /// or once per instance of the clone it is part of.
    pub fn instance_count(&self) -> u64 {
        let nodes = self.cluster.nodes.len() as u64;
        self.resources
            .iter()
            .filter(|r| r.primitive().is_some())
            .map(|r| {
                let owner = r.parent.and_then(|p| self.resource(p));
                r.clone
                    .as_ref()
                    .or(owner.and_then(|o| o.clone.as_ref()))
                    .map_or(1, |c| c.max.map_or(nodes, u64::from))
            })
            .sum()
    }

    /// The first bound on counts the policy goes past, as (which, how many,
    /// the bound).
    pub fn exceeded_bound(&self) -> Option<(Bound, u64, u64)> {
        [
            (Bound::Nodes, self.cluster.nodes.len() as u64, MAX_NODES),
            (Bound::Resources, self.resources.len() as u64, MAX_RESOURCES),
            (Bound::Instances, self.instance_count(), MAX_INSTANCES),
            (Bound::Chain, self.longest_chain() as u64, MAX_CHAIN),
        ]
        .into_iter()
        .find(|(_, n, max)| n > max)
    }

    /// How many resources the longest chain of colocations or of orders links
    /// (a group's members count as chained in order), loops followed once.
    pub fn longest_chain(&self) -> usize {
        let mut colocated = Vec::new();
        let mut ordered = Vec::new();
        for r in &self.resources {
            if let ResourceKind::Group(members) = &r.kind {
                for w in members.windows(2) {
                    colocated.push((w[1].index(), w[0].index()));
                    ordered.push((w[0].index(), w[1].index()));
                }
            }
        }
        for c in &self.constraints {
            match c.kind {
                ConstraintKind::Colocation {
                    dependent, primary, ..
                } => colocated.push((dependent.index(), primary.index())),
                ConstraintKind::Order { first, then, .. } => {
                    ordered.push((first.index(), then.index()))
                }
                _ => {}
            }
        }
        let n = self.resources.len();
        longest_path(n, &colocated).max(longest_path(n, &ordered))
    }

    /// Every resource by name, for callers that look up many names (`find` is
    /// a linear scan).
    pub fn name_index(&self) -> BTreeMap<&str, RscId> {
        self.resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.as_str(), RscId(u32::try_from(i).unwrap_or(u32::MAX))))
            .collect()
    }

    /// Whether `name` is a fence device (a primitive of a fence agent).
    pub fn is_fence_device(&self, name: &str) -> bool {
        self.find(name)
            .and_then(|i| self.resource(i))
            .and_then(|r| r.primitive())
            .is_some_and(|p| p.fence.is_some())
    }

    pub fn find(&self, name: &str) -> Option<RscId> {
        self.resources
            .iter()
            .position(|r| r.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(RscId)
    }

    /// The meta attribute of a resource, falling back to its group, then defaults.
    pub fn meta<T: Copy>(&self, id: RscId, pick: impl Fn(&Meta) -> Option<T>) -> Option<T> {
        let mut cur = self.resource(id);
        while let Some(r) = cur {
            if let Some(v) = pick(&r.meta) {
                return Some(v);
            }
            cur = r.parent.and_then(|p| self.resource(p));
        }
        pick(&self.defaults)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Cluster {
    pub name: String,
    pub nodes: Vec<NodeSpec>,
    pub quorum: QuorumMode,
    pub no_quorum_policy: NoQuorumPolicy,
    /// Whether unclean nodes are fenced before their resources are recovered.
    pub fencing: bool,
    /// `false` makes the cluster opt-in: resources run only where a location
    /// constraint allows them.
    pub symmetric: bool,
    /// A failed start bans the resource from the node at once (fail count
    /// `inf`); when false it counts as one failure, like any other.
    pub start_failure_is_fatal: bool,
    /// Whether a resource the state shows running but the policy no longer
    /// has is stopped (`true`, the default) or left alone, unmanaged
    /// (Pacemaker's `stop-orphan-resources`).
    pub stop_orphans: bool,
    /// How a resource chooses among nodes with equal best scores: `false`
    /// (Halo's default) keeps it where it runs; `true` follows Pacemaker, where
    /// a zero score is no reason to stay and the node with the fewest
    /// resources wins.
    pub spread_ties: bool,
    /// Fencing a node that runs the cluster's most important resources
    /// waits this long, when the fencing side holds no more than half the
    /// nodes (Pacemaker's `priority-fencing-delay`).
    pub priority_fencing_delay: Option<Duration>,
    /// How utilization shapes placement.
    pub strategy: PlacementStrategy,
    /// Programs told about every cluster event (a resource started, a node
    /// fenced...), in declaration order.
    pub alerts: Vec<Alert>,
    /// Fencing topology: for a node, the fence devices to try, level by level.
    pub fence_orders: Vec<FenceOrder>,
    pub origin: Origin,
}

impl Cluster {
    /// The nodes' names, comma-separated, for messages that list them.
    pub fn node_list(&self) -> String {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        names.join(", ")
    }
}

/// How one node is fenced (Pacemaker's `fencing-level`s for a target): the
/// levels are tried in order; a level succeeds when every one of its devices
/// does, and the first level that succeeds fences the node. Without one, any
/// device that can fence the node will do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FenceOrder {
    pub node: String,
    pub levels: Vec<FenceLevel>,
    pub origin: Origin,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FenceLevel {
    /// Fence devices, by name, each of which must succeed.
    pub devices: Vec<String>,
    pub origin: Origin,
}

/// Most levels a node's fence order may have (Pacemaker allows indices 1 to 9).
pub const MAX_FENCE_LEVELS: usize = 9;

/// An alert: a program the controller runs on each cluster event, once per
/// recipient, with the event in its environment (Pacemaker's alert agents, such
/// as `alert_smtp.sh`, follow the same interface). Alerts never change a plan.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Alert {
    pub name: String,
    /// The program to run.
    pub path: String,
    /// Where the program sends the event (an address, a file...), passed to
    /// it as the recipient; with none, it runs once without one.
    pub recipients: Vec<String>,
    /// Extra `NAME = VALUE` settings passed in the program's environment.
    pub params: BTreeMap<String, String>,
    /// How long one run may take before it is killed.
    pub timeout: Option<Duration>,
    /// The kinds of event it is run for (Pacemaker's `select`); every kind
    /// when not given.
    pub select: Option<Vec<AlertKind>>,
    pub origin: Origin,
}

impl Alert {
    /// Whether the alert is run for events of `kind`.
    pub fn selects(&self, kind: AlertKind) -> bool {
        self.select.as_ref().is_none_or(|s| s.contains(&kind))
    }
}

/// A kind of event an alert can be run for (`CRM_alert_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// A node joins or is lost.
    Nodes,
    /// A node is fenced, or its fencing fails.
    Fencing,
    /// An operation of a resource completes.
    Resources,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [AlertKind::Nodes, AlertKind::Fencing, AlertKind::Resources];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Nodes => "nodes",
            AlertKind::Fencing => "fencing",
            AlertKind::Resources => "resources",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Pacemaker's placement-strategy: whether node capacities and resource
/// utilization count, and how nodes with equal scores are chosen between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlacementStrategy {
    /// Utilization is ignored.
    #[default]
    Default,
    /// A resource runs only where its utilization fits the node's capacity.
    Utilization,
    /// As utilization, packing resources onto as few nodes as possible.
    Minimal,
    /// As utilization, preferring the node with the most free capacity.
    Balanced,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub address: Option<String>,
    pub attrs: BTreeMap<String, String>,
    /// What the node offers resources (`cpu`, `memory`...), for placement
    /// strategies other than default.
    pub capacity: BTreeMap<String, i64>,
    pub origin: Origin,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuorumMode {
    /// More than half of the configured nodes (plus the witness) must be up.
    #[default]
    Majority,
    /// Two-node mode: one surviving node of a two-node cluster keeps quorum.
    TwoNode,
    /// A witness process holds a third vote.
    Witness(String),
    /// Quorum is never lost.
    Ignore,
}

/// What a partition without quorum does (Pacemaker's no-quorum-policy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoQuorumPolicy {
    #[default]
    Stop,
    Freeze,
    Ignore,
    Demote,
}

/// Resource meta attributes. `None` means "inherit" (group, then defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Meta {
    pub stickiness: Option<Score>,
    pub migration_threshold: Option<u32>,
    pub failure_timeout: Option<Duration>,
    pub priority: Option<i64>,
    pub target_role: Option<TargetRole>,
    pub managed: Option<bool>,
    pub multiple_active: Option<MultipleActive>,
    /// The agent can move the service live (migrate_to / migrate_from)
    /// instead of stopping it on one node and starting it on another.
    pub allow_migrate: Option<bool>,
    /// What a start needs (default: fencing when the cluster fences and the
    /// resource is not a fence device, else quorum).
    pub requires: Option<Requires>,
}

/// What must hold before a resource may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requires {
    /// Nothing: it starts even without quorum, and without waiting for a
    /// lost node to be fenced.
    Nothing,
    /// Quorum, but not fencing: it may start elsewhere while a lost node that
    /// ran it is not fenced yet.
    Quorum,
    /// Quorum, and the fencing of any lost node that may still run it.
    Fencing,
}

/// What to do with a single-instance resource found active on several nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MultipleActive {
    /// Stop it everywhere, then start it on one node (the default).
    Restart,
    /// Stop it everywhere and leave it stopped.
    Stop,
    /// Leave it alone: an operator must sort it out.
    Block,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetRole {
    Stopped,
    Started,
    Unpromoted,
    Promoted,
}

#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    pub name: String,
    pub kind: ResourceKind,
    pub meta: Meta,
    /// Set when the resource runs as several instances.
    pub clone: Option<CloneSpec>,
    /// The group this resource is a member of.
    pub parent: Option<RscId>,
    pub origin: Origin,
}

impl Resource {
    pub fn is_promotable(&self) -> bool {
        self.clone.as_ref().is_some_and(|c| c.promotable)
    }

    pub fn primitive(&self) -> Option<&Primitive> {
        match &self.kind {
            ResourceKind::Primitive(p) => Some(p),
            ResourceKind::Group(_) => None,
        }
    }
}

/// A count with a bound (see [`Policy::exceeded_bound`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Nodes,
    Resources,
    Instances,
    Chain,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Nodes => "nodes",
            Bound::Resources => "resources",
            Bound::Instances => "resource instances",
            Bound::Chain => "resources in one chain of colocations or orders",
        })
    }
}

/// The most nodes a cluster may have: the language and the importer refuse
/// more, as they refuse every count past its bound, so that planning stays
/// bounded in time and memory.
pub const MAX_NODES: u64 = 1_000;

/// The most resources a policy may declare (primitives, groups, clones, fence
/// devices).
pub const MAX_RESOURCES: u64 = 100_000;

/// The most resources one chain of colocations or of orders may link (see
/// [`Policy::longest_chain`]): planning follows such chains one link at a time.
pub const MAX_CHAIN: u64 = 1_000;

/// The number of vertices on the longest path of a directed graph of `n`
/// vertices, found depth first without recursion; an edge back into the path
/// being followed (a loop) is not followed.
fn longest_path(n: usize, edges: &[(usize, usize)]) -> usize {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        if let Some(o) = out.get_mut(a) {
            o.push(b);
        }
    }
    // 0: not seen; 1: on the path being followed; 2: done, `height` known.
    let mut state = vec![0u8; n];
    let mut height = vec![1usize; n];
    let mut longest = 0;
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&w) = out[v].get(*next) {
                *next += 1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    2 => height[v] = height[v].max(height[w] + 1),
                    _ => {}
                }
            } else {
                state[v] = 2;
                longest = longest.max(height[v]);
                stack.pop();
                if let Some(&(parent, _)) = stack.last() {
                    height[parent] = height[parent].max(height[v] + 1);
                }
            }
        }
    }
    longest
}

/// The most resource instances a policy may ask for (see
/// [`Policy::instance_count`]): planning 100,000 takes `halo simulate` about
/// 6 s (measured: a clone of 10,000 instances on 1,000 nodes, 0.57 s).
pub const MAX_INSTANCES: u64 = 100_000;

/// The most instances a clone may have in all (`clone-max`): the language
/// and the importer refuse more, so planning stays bounded.
pub const CLONE_MAX_LIMIT: u32 = 10_000;

/// The most instances of a clone one node may run (`clone-node-max`,
/// `promoted-max`, `promoted-node-max` too).
pub const CLONE_NODE_MAX_LIMIT: u32 = 1_000;

/// How many instances of a clone run, and whether they have roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloneSpec {
    pub promotable: bool,
    /// Instances in all; `None` means one per node.
    pub max: Option<u32>,
    pub node_max: u32,
    pub promoted_max: u32,
    pub promoted_node_max: u32,
    /// Order against another clone instance by instance, on the same node.
    pub interleave: bool,
    /// Instances are distinct services (Pacemaker's globally-unique), not
    /// copies of one; Halo still runs at most one per node.
    pub unique: bool,
    /// Instances are told before and after their peers start, stop, promote
    /// or demote (Pacemaker's clone notifications, `notify=true`).
    pub notify: bool,
}

impl Default for CloneSpec {
    fn default() -> CloneSpec {
        CloneSpec {
            promotable: false,
            max: None,
            node_max: 1,
            promoted_max: 1,
            promoted_node_max: 1,
            interleave: false,
            unique: false,
            notify: false,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    Primitive(Primitive),
    /// Members in start order.
    Group(Vec<RscId>),
}

#[derive(Clone, Debug, Serialize)]
pub struct Primitive {
    pub agent: Agent,
    pub params: BTreeMap<String, ParamValue>,
    pub ops: Vec<Operation>,
    /// Present on fence devices.
    pub fence: Option<Box<FenceSpec>>,
    /// What the resource takes of a node's capacity.
    pub utilization: BTreeMap<String, i64>,
}

impl Primitive {
    /// The operation declared for `action` (and role, for monitors).
    pub fn op(&self, action: OpAction, role: Option<Role>) -> Option<&Operation> {
        self.ops
            .iter()
            .find(|o| o.action == action && (role.is_none() || o.role == role))
    }

    /// The agent's parameters as the runner gets them: by value, and the
    /// secrets by name (the node's runner fills those in).
    pub fn agent_params(&self) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let (mut params, mut secrets) = (BTreeMap::new(), BTreeMap::new());
        for (k, v) in &self.params {
            match v {
                ParamValue::Text(t) => params.insert(k.clone(), t.clone()),
                ParamValue::Secret(name) => secrets.insert(k.clone(), name.clone()),
            };
        }
        (params, secrets)
    }

    /// What the policy starts the agent with now, to compare with what it
    /// was started with (`restart` is left for the agent to say).
    pub fn definition(&self) -> crate::Definition {
        let (params, secrets) = self.agent_params();
        crate::Definition {
            params,
            secrets,
            restart: None,
            start_only: self
                .op(OpAction::Start, None)
                .map(|o| o.params.clone())
                .unwrap_or_default(),
        }
    }

    /// The recurring monitors that apply to an instance in `role`.
    pub fn monitors_for(&self, role: Role) -> impl Iterator<Item = &Operation> {
        self.ops.iter().filter(move |o| {
            o.action == OpAction::Monitor
                && o.interval > Duration::ZERO
                && !o.disabled
                && match o.role {
                    None => true,
                    Some(r) => r == role,
                }
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Agent {
    pub class: AgentClass,
    /// The OCF provider (`heartbeat`, `pacemaker`); empty for other classes.
    pub provider: String,
    pub kind: String,
}

impl Agent {
    /// Whether `part` can be an agent's provider or type: it names a file
    /// or a unit, so it is letters, digits and `- _ . + @`, with `/` where
    /// `paths` allows it (an agent by its path, as Pacemaker allows for
    /// types; a cluster-glue `external/ssh` fence plugin; never a provider),
    /// and no part of the path is empty or begins with `.`.
    pub fn valid_part(part: &str, paths: bool) -> bool {
        let segment = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '@'))
        };
        !part.is_empty()
            && part.len() <= 255
            && if paths {
                part.strip_prefix('/')
                    .unwrap_or(part)
                    .split('/')
                    .all(segment)
            } else {
                segment(part)
            }
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            AgentClass::Ocf => write!(f, "ocf:{}:{}", self.provider, self.kind),
            AgentClass::Lsb => write!(f, "lsb:{}", self.kind),
            AgentClass::Systemd => write!(f, "systemd:{}", self.kind),
            AgentClass::Service => write!(f, "service:{}", self.kind),
            AgentClass::Stonith => write!(f, "stonith:{}", self.kind),
            AgentClass::Halo => write!(f, "halo:{}", self.kind),
            AgentClass::Exec => f.write_str("exec"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentClass {
    Ocf,
    Lsb,
    Systemd,
    Service,
    Stonith,
    /// Built into the runner: `halo:dummy`, `halo:stateful`.
    Halo,
    /// A plain command the runner supervises: `exec`.
    Exec,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamValue {
    Text(String),
    /// Resolved by the runner from its local secret store; never in the policy.
    Secret(String),
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct FenceSpec {
    /// Node name → the agent's name for it (plug, instance id).
    pub host_map: BTreeMap<String, String>,
    /// The nodes this device can fence; empty means every node.
    pub targets: Vec<String>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    /// Wait this long before fencing with it (Pacemaker's `pcmk_delay_base`).
    pub delay_base: Option<Duration>,
    /// Wait a random time up to this long (from `delay_base`) before
    /// fencing with it (`pcmk_delay_max`): of two nodes shooting each other,
    /// one is likely to be first.
    pub delay_max: Option<Duration>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum OpAction {
    Start,
    Stop,
    Monitor,
    Promote,
    Demote,
    /// The agent takes changed parameters in place (`reload-agent`, or a
    /// pre-OCF-1.1 agent's `reload`). Never declared or ordered: the engine
    /// plans it when only reloadable parameters changed.
    Reload,
}

impl OpAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OpAction::Start => "start",
            OpAction::Stop => "stop",
            OpAction::Monitor => "monitor",
            OpAction::Promote => "promote",
            OpAction::Demote => "demote",
            OpAction::Reload => "reload",
        }
    }

    /// The action that undoes this one: what a symmetrical order orders the
    /// other way round (Pacemaker's `invert_action`).
    pub fn inverse(self) -> OpAction {
        match self {
            OpAction::Start => OpAction::Stop,
            OpAction::Stop => OpAction::Start,
            OpAction::Promote => OpAction::Demote,
            OpAction::Demote => OpAction::Promote,
            OpAction::Monitor => OpAction::Monitor,
            OpAction::Reload => OpAction::Reload,
        }
    }

    pub fn parse(s: &str) -> Option<OpAction> {
        Some(match s {
            "start" => OpAction::Start,
            "stop" => OpAction::Stop,
            "monitor" => OpAction::Monitor,
            "promote" => OpAction::Promote,
            "demote" => OpAction::Demote,
            _ => return None,
        })
    }
}

impl fmt::Display for OpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Operation {
    pub action: OpAction,
    /// Zero for one-shot operations; the period of a recurring monitor.
    pub interval: Duration,
    pub timeout: Option<Duration>,
    /// For monitors: the role the check applies to.
    pub role: Option<Role>,
    pub on_fail: Option<OnFail>,
    /// Extra agent parameters for this operation only (`OCF_CHECK_LEVEL`).
    pub params: BTreeMap<String, String>,
    /// A recurring monitor that is not run (Pacemaker's `enabled=false`):
    /// what it declares (on-fail, timeout) still holds for a failure of it
    /// in the history, as Pacemaker finds a disabled operation's
    /// configuration too (`custom_action` includes disabled entries).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    pub origin: Origin,
}

impl Operation {
    /// What a failure of this operation does, with Pacemaker's defaults: a failed
    /// stop fences the node when fencing is on and blocks the resource otherwise;
    /// everything else restarts.
    pub fn effective_on_fail(&self, fencing: bool) -> OnFail {
        match (self.on_fail, self.action) {
            (Some(f), _) => f,
            (None, OpAction::Stop) if fencing => OnFail::Fence,
            (None, OpAction::Stop) => OnFail::Block,
            (None, _) => OnFail::Restart,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFail {
    Ignore,
    Block,
    Stop,
    Restart,
    Fence,
    Standby,
    Demote,
}

impl OnFail {
    pub fn parse(s: &str) -> Option<OnFail> {
        Some(match s {
            "ignore" => OnFail::Ignore,
            "block" => OnFail::Block,
            "stop" => OnFail::Stop,
            "restart" => OnFail::Restart,
            "fence" => OnFail::Fence,
            "standby" => OnFail::Standby,
            "demote" => OnFail::Demote,
            _ => return None,
        })
    }
}

/// The role an instance has (or should have) on a node.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    #[default]
    Stopped,
    Started,
    Unpromoted,
    Promoted,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stopped => "stopped",
            Role::Started => "started",
            Role::Unpromoted => "unpromoted",
            Role::Promoted => "promoted",
        }
    }

    /// Whether the instance is running (in any active role).
    pub fn is_active(self) -> bool {
        self != Role::Stopped
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Constraint {
    pub kind: ConstraintKind,
    pub origin: Origin,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConstraintKind {
    Location {
        rsc: RscId,
        /// Applies to the instances in this role only (promotion preference).
        role: Option<Role>,
        target: LocationTarget,
        score: LocationScore,
    },
    Colocation {
        dependent: RscId,
        dependent_role: Option<Role>,
        primary: RscId,
        primary_role: Option<Role>,
        score: Score,
        /// Colocate by this node attribute (Pacemaker's `node-attribute`):
        /// "the same node" becomes "a node with the same value of it"
        /// (case-insensitively; nodes that lack it alike). `None` is the
        /// node itself.
        #[serde(skip_serializing_if = "Option::is_none")]
        node_attribute: Option<String>,
    },
    Order {
        first: RscId,
        first_action: OpAction,
        then: RscId,
        then_action: OpAction,
        kind: OrderKind,
        symmetrical: bool,
        /// `then` needs at least this many instances of `first` (a clone) able
        /// to run, on any nodes; such an order is a threshold, not a chain: a
        /// restart of one instance of `first` does not restart `then`.
        /// (Pacemaker's `require-all=false` is 1, `clone-min=N` is N.)
        first_min: Option<u32>,
        /// `order a or b then c`: every resource of the `or`, `first` among
        /// them, when there are several; empty otherwise. Any of them
        /// satisfies the order: `then` needs `first_min` instances of them
        /// together, and the order is one pair per member. (Pacemaker's
        /// `require-all=false` on a set of several resources, whose
        /// "one-or-more" pseudo-action is runnable when any member's is.)
        any_of: Vec<RscId>,
    },
}

/// What a location constraint adds on a node it targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationScore {
    Fixed(Score),
    /// The node's value of this attribute, read as a score
    /// ([`Score::from_text`]); minus infinity on a node without it
    /// (Pacemaker's `score-attribute`, `get_node_score`).
    Attribute(String),
}

impl LocationScore {
    /// The score on a node with these attributes.
    pub fn on(&self, attrs: &BTreeMap<String, String>) -> Score {
        match self {
            LocationScore::Fixed(s) => *s,
            LocationScore::Attribute(a) => {
                attrs.get(a).map_or(Score::NEG_INF, |v| Score::from_text(v))
            }
        }
    }
}

impl From<Score> for LocationScore {
    fn from(s: Score) -> LocationScore {
        LocationScore::Fixed(s)
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationTarget {
    Nodes(Vec<String>),
    Rule(Rule),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderKind {
    /// `then` may only run while `first` runs, and restarts with it.
    Mandatory,
    /// Only orders actions that happen in the same transition.
    Optional,
    /// As optional, and `then` restarts whenever `first` starts or restarts
    /// (never held back when `first` cannot run): Pacemaker's deprecated
    /// `restart-type=restart` on `then`.
    Restart,
}

/// A boolean expression over node attributes. The attribute `name` is the node's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Defined(String),
    Compare {
        attr: String,
        op: CmpOp,
        value: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

impl Rule {
    /// Evaluates the rule against a node's name and attributes. Comparisons are
    /// numeric when both sides are integers, textual otherwise.
    pub fn eval(&self, node: &str, attrs: &BTreeMap<String, String>) -> bool {
        let get = |a: &str| -> Option<&str> {
            if a == "name" {
                Some(node)
            } else {
                attrs.get(a).map(String::as_str)
            }
        };
        match self {
            Rule::And(rs) => rs.iter().all(|r| r.eval(node, attrs)),
            Rule::Or(rs) => rs.iter().any(|r| r.eval(node, attrs)),
            Rule::Not(r) => !r.eval(node, attrs),
            Rule::Defined(a) => get(a).is_some(),
            Rule::Compare { attr, op, value } => {
                let Some(actual) = get(attr) else {
                    return *op == CmpOp::Ne;
                };
                // Numbers compare as numbers (integers exactly, decimals as
                // such); anything else as text.
                let ord = match (actual.parse::<i64>(), value.parse::<i64>()) {
                    (Ok(a), Ok(b)) => a.cmp(&b),
                    _ => match (actual.parse::<f64>(), value.parse::<f64>()) {
                        (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() => a.total_cmp(&b),
                        _ => actual.cmp(value.as_str()),
                    },
                };
                match op {
                    CmpOp::Eq => ord.is_eq(),
                    CmpOp::Ne => ord.is_ne(),
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Ge => ord.is_ge(),
                }
            }
        }
    }
}

/// A `test` block: a starting state, then events and expectations in order.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub name: String,
    pub given: Vec<Fact>,
    pub steps: Vec<Step>,
    pub origin: Origin,
}

/// A statement about the cluster's observed state in a `given` block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fact {
    /// The resource is active in `role` on each of `nodes`.
    Running {
        rsc: String,
        role: Role,
        nodes: Vec<String>,
    },
    NodeDown(String),
    NodeStandby(String),
    NodeMaintenance(String),
    Failures {
        rsc: String,
        node: String,
        count: u32,
    },
    Promotion {
        rsc: String,
        node: String,
        score: i64,
    },
    /// The start time of the scenario, in seconds.
    Time(i64),
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    When {
        event: Event,
        origin: Origin,
    },
    Expect {
        expectation: Expectation,
        origin: Origin,
    },
}

/// Something that happens to the cluster in a `when` statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// The node crashes (unclean: fenced if fencing is on).
    NodeFails(String),
    /// The node shuts down cleanly, stopping its resources first.
    NodeStops(String),
    NodeReturns(String),
    NodeStandby(String),
    NodeUnstandby(String),
    NodeMaintenance(String),
    NodeReady(String),
    OpFails {
        rsc: String,
        op: OpAction,
        node: String,
        rc: i32,
    },
    TimePasses(Duration),
    /// The operator clears a resource's failures (`cleanup`).
    Cleanup(String),
    /// The operator moves a resource to a node (a temporary `prefer ... inf`),
    /// for a lifetime if given; with `auto_clear`, until it runs there.
    Move {
        rsc: String,
        node: String,
        lifetime: Option<Duration>,
        auto_clear: bool,
    },
    /// The operator bans a resource from a node (a temporary `avoid ... -inf`),
    /// for a lifetime if given.
    Ban {
        rsc: String,
        node: String,
        lifetime: Option<Duration>,
    },
    /// The operator removes the constraints that `move` and `ban` added.
    Clear(String),
}

/// What an `expect` statement asserts after the cluster has settled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expectation {
    /// Active in `role` exactly on `nodes` (for `running`, any active role).
    Running {
        rsc: String,
        role: Option<Role>,
        nodes: Vec<String>,
    },
    Stopped(String),
    NotOn {
        rsc: String,
        node: String,
    },
    Blocked(String),
    Fenced(String),
    NotFenced(String),
}
