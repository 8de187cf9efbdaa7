//! Unpacking: policy + observed state → an indexed view the phases share.
//!
//! Nodes are indexed in name order, resources by `RscId`. Everything the later
//! phases need to know about the present (what runs where, what failed, which
//! nodes can run resources, quorum) is computed here once.

use halo_model::{
    ClusterState, ConstraintKind, FailedOp, MultipleActive, NoQuorumPolicy, NodeStatus, OnFail,
    OpAction, Policy, QuorumMode, Redefinition, Requires, ResourceKind, Role, RscId, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) struct NodeInfo {
    pub name: String,
    pub status: NodeStatus,
    pub standby: bool,
    pub maintenance: bool,
    pub attrs: BTreeMap<String, String>,
    /// Must be fenced in this plan (unclean, or an on-fail=fence failure).
    pub fence: Option<FenceWhy>,
    /// Fencing is possible: quorum, and a fence device that can target the node.
    pub fenceable: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum FenceWhy {
    Unclean,
    OnFail(String),
}

impl NodeInfo {
    /// Why the node cannot take resources, if it cannot.
    pub fn unavailable(&self) -> Option<&'static str> {
        if self.fence.is_some() {
            return Some("must be fenced");
        }
        match self.status {
            NodeStatus::Offline => Some("is offline"),
            NodeStatus::Unclean => Some("is unclean"),
            NodeStatus::Online if self.standby => Some("is in standby"),
            NodeStatus::Online if self.maintenance => Some("is in maintenance"),
            NodeStatus::Online => None,
        }
    }

    /// Whether what the state says runs here can be trusted to run here.
    pub fn up(&self) -> bool {
        self.status == NodeStatus::Online
    }
}

/// What the present holds for one resource.
#[derive(Default)]
pub(crate) struct RscInfo {
    /// Active instances (node index, role), on nodes that are up or unclean.
    pub current: Vec<(usize, Role)>,
    /// Instances whose last operation failed and must be recovered (stopped).
    pub recover: Vec<(usize, FailedOp)>,
    /// Effective fail count per node (expired failures count zero).
    pub failcount: BTreeMap<usize, u32>,
    /// Left alone: failed stop, on-fail block, unmanaged, or on a maintenance node.
    pub blocked: Option<String>,
    /// on-fail=stop: stop and do not start anywhere.
    pub stop_wanted: Option<String>,
    /// A failure took every node from it when the status was read: one
    /// with on-fail=stop (`unpack_rsc_op_failure` replaces its allowed nodes
    /// with every node at minus infinity) or a fatal one, rc 6
    /// (`resource_location` on every node). Unlike `stop_wanted` alone,
    /// what colocates with it then finds no node it likes.
    pub banned_everywhere: bool,
    /// Nodes where it runs with parameters the policy no longer gives it,
    /// some of which its agent cannot reload: it restarts there.
    pub changed: Vec<usize>,
    /// Nodes where it runs with parameters the policy no longer gives it,
    /// all of which its agent can reload in place.
    pub reload: Vec<usize>,
    /// Nodes where the promoted role failed with on-fail=demote.
    pub no_promote: Vec<usize>,
    /// Clone instances left exactly as they are (unreachable node that cannot be
    /// fenced, maintenance, an operation in flight). For a single-instance
    /// resource the whole resource is `blocked` instead.
    pub frozen: Vec<(usize, Role)>,
    /// Nodes where an operation failed with a hard error (invalid arguments,
    /// unimplemented, not installed): it cannot run there until cleanup.
    pub banned: Vec<(usize, i32)>,
    /// Nodes where an instance is left alone after a failure (on-fail=block,
    /// a failed stop): it does not count as running there for resources that
    /// must run with it.
    pub blocked_on: Vec<usize>,
}

pub(crate) struct Ctx<'a> {
    pub p: &'a Policy,
    pub s: &'a ClusterState,
    pub now: Timestamp,
    pub nodes: Vec<NodeInfo>,
    pub rsc: Vec<RscInfo>,
    pub quorate: bool,
    /// The group or clone a resource is assigned with: itself when top-level.
    pub unit: Vec<RscId>,
    /// Constraint indices by resource, so no phase scans every constraint per
    /// resource: location constraints by resource, colocations by the unit of
    /// their dependent and of their primary.
    pub locations_of: Vec<Vec<usize>>,
    pub colocations_as_dependent: Vec<Vec<usize>>,
    pub colocations_as_primary: Vec<Vec<usize>>,
    /// The order constraints that take effect, in declaration order.
    /// Order constraints by index, with which of their directions take
    /// effect: (index, forward, inverse).
    pub orders: Vec<(usize, bool, bool)>,
}

impl<'a> Ctx<'a> {
    pub fn new(p: &'a Policy, s: &'a ClusterState, now: Timestamp) -> Ctx<'a> {
        let mut nodes: Vec<NodeInfo> = p
            .cluster
            .nodes
            .iter()
            .map(|spec| {
                let st = s.node(&spec.name);
                let mut attrs = spec.attrs.clone();
                attrs.extend(st.attrs.clone());
                let fenced = s.fenced.contains(&spec.name);
                let status = match st.status {
                    // Without fencing, a lost node is assumed down (Pacemaker's
                    // behaviour with stonith disabled); a fenced node is down.
                    NodeStatus::Unclean if !p.cluster.fencing || fenced => NodeStatus::Offline,
                    other => other,
                };
                NodeInfo {
                    name: spec.name.clone(),
                    status,
                    standby: st.standby,
                    maintenance: st.maintenance,
                    attrs,
                    fence: (status == NodeStatus::Unclean).then_some(FenceWhy::Unclean),
                    fenceable: false,
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let unit = p
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.parent
                    .unwrap_or(RscId(u32::try_from(i).unwrap_or(u32::MAX)))
            })
            .collect();
        let n = p.resources.len();
        let mut cx = Ctx {
            p,
            s,
            now,
            quorate: true,
            rsc: Vec::new(),
            nodes,
            unit,
            locations_of: vec![Vec::new(); n],
            colocations_as_dependent: vec![Vec::new(); n],
            colocations_as_primary: vec![Vec::new(); n],
            orders: Vec::new(),
        };
        cx.index_constraints();
        cx.quorate = cx.compute_quorum();
        // An unclean node that cannot be fenced (no quorum, or no device that can
        // fence it) keeps its resources in an unknown state: they must not be
        // stopped there (it is unreachable) nor started elsewhere (they may run).
        let fenceable: Vec<bool> = cx.nodes.iter().map(|n| cx.can_fence(&n.name)).collect();
        for (n, ok) in cx.nodes.iter_mut().zip(fenceable) {
            n.fenceable = ok;
            if !ok {
                n.fence = None;
            }
        }
        cx.rsc = (0..p.resources.len())
            .map(|i| cx.unpack_resource(RscId(u32::try_from(i).unwrap_or(u32::MAX))))
            .collect();
        cx.apply_on_fail_to_nodes();
        cx
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
    }

    /// A node's name by index (empty for an index out of range).
    pub fn node_name(&self, n: usize) -> String {
        self.nodes
            .get(n)
            .map(|x| x.name.clone())
            .unwrap_or_default()
    }

    pub fn name(&self, id: RscId) -> &str {
        self.p.resource(id).map_or("?", |r| r.name.as_str())
    }

    /// The resource that is cloned: the resource itself, or its group if the group is.
    pub fn clone_of(&self, id: RscId) -> Option<RscId> {
        let r = self.p.resource(id)?;
        if r.clone.is_some() {
            return Some(id);
        }
        let parent = r.parent?;
        self.p.resource(parent)?.clone.as_ref().map(|_| parent)
    }

    /// Primitive members of a unit (itself if primitive), in start order.
    pub fn leaves(&self, id: RscId) -> Vec<RscId> {
        match self.p.resource(id).map(|r| &r.kind) {
            Some(ResourceKind::Group(m)) => m.clone(),
            Some(ResourceKind::Primitive(_)) => vec![id],
            None => Vec::new(),
        }
    }

    fn compute_quorum(&self) -> bool {
        if let Some(q) = self.s.quorate {
            return q;
        }
        let total = self.nodes.len();
        let up = self
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Online)
            .count();
        match &self.p.cluster.quorum {
            QuorumMode::Ignore => true,
            QuorumMode::TwoNode if total == 2 => up >= 1,
            QuorumMode::TwoNode | QuorumMode::Majority => up * 2 > total,
            QuorumMode::Witness(_) => {
                let w = usize::from(self.s.witness_up.unwrap_or(true));
                (up + w) * 2 > total + 1
            }
        }
    }

    /// Whether fencing may happen: it is on, and the partition has quorum (or
    /// the no-quorum policy is ignore).
    pub fn may_fence(&self) -> bool {
        self.p.cluster.fencing && self.may_start()
    }

    /// Whether `node` can be fenced now: fencing may happen and some fence device
    /// targets it (its `targets`, its host map, or every node if it names none).
    fn can_fence(&self, node: &str) -> bool {
        self.may_fence()
            && self
                .p
                .resources
                .iter()
                .filter_map(|r| r.primitive())
                .filter_map(|p| p.fence.as_ref())
                .any(|f| {
                    if !f.targets.is_empty() {
                        f.targets.iter().any(|t| t == node)
                    } else {
                        f.host_map.is_empty() || f.host_map.contains_key(node)
                    }
                })
    }

    /// Whether resources may be started (no-quorum policy).
    /// What a start of `id` needs: its `requires`, else fencing when the
    /// cluster fences and it is not a fence device, else quorum.
    pub fn requires(&self, id: RscId) -> Requires {
        self.p.meta(id, |m| m.requires).unwrap_or_else(|| {
            let fence_device = self
                .leaves(id)
                .iter()
                .filter_map(|m| self.p.resource(*m).and_then(|r| r.primitive()))
                .any(|p| p.fence.is_some());
            if self.p.cluster.fencing && !fence_device {
                Requires::Fencing
            } else {
                Requires::Quorum
            }
        })
    }

    /// Without quorum: `stop` stops everything, `demote` everything but
    /// promotable clones (demoted when promoting); `freeze` acts in scoring.
    /// A resource that requires nothing starts anyway; a group's members
    /// each by their own `requires` (`update_resource_action_runnable`
    /// reads the primitive's), a member inheriting the group's.
    pub fn quorum_blocks_starts(&self, u: RscId) -> bool {
        let nqp = self.p.cluster.no_quorum_policy;
        self.leaves(u)
            .iter()
            .any(|m| self.requires(*m) != Requires::Nothing)
            && !self.may_start()
            && nqp != NoQuorumPolicy::Freeze
            && (nqp == NoQuorumPolicy::Stop
                || !self.p.resource(u).is_some_and(|r| r.is_promotable()))
    }

    /// The one node a single-instance unit counts as running on, when it
    /// is active on several (`pe__current_node`): the first it was found
    /// on; without fencing (nothing needs it), the first that is up and
    /// clean. Only that node wins ties (`compare_nodes`,
    /// `assign_best_node`), and the summary tells its move from there
    /// (`rsc_action_default`).
    pub fn current_node(&self, u: RscId) -> Option<(usize, Role)> {
        let first = self.leaves(u).first().copied().unwrap_or(u);
        let current = &self.rsc.get(first.index())?.current;
        let clean = |n: usize| {
            self.p.cluster.fencing
                || self
                    .nodes
                    .get(n)
                    .is_some_and(|x| x.status == NodeStatus::Online && x.fence.is_none())
        };
        current
            .iter()
            .copied()
            .find(|(n, _)| clean(*n))
            .or_else(|| current.first().copied())
    }

    /// Without quorum under `freeze`: nothing that needs quorum may start
    /// (what runs stays up and may move within the partition).
    pub fn freeze_blocks_starts(&self, u: RscId) -> bool {
        self.leaves(u)
            .iter()
            .any(|m| self.requires(*m) != Requires::Nothing)
            && !self.quorate
            && self.p.cluster.no_quorum_policy == NoQuorumPolicy::Freeze
    }

    pub fn may_start(&self) -> bool {
        self.quorate || self.p.cluster.no_quorum_policy == NoQuorumPolicy::Ignore
    }

    fn unpack_resource(&self, id: RscId) -> RscInfo {
        let mut info = RscInfo::default();
        // Nodes where a failure needs fencing that cannot happen now.
        let mut unfenced: Vec<usize> = Vec::new();
        let Some(r) = self.p.resource(id) else {
            return info;
        };
        let Some(prim) = r.primitive() else {
            return info;
        };
        let observed = self.s.resources.get(&r.name);
        let failures = self.s.failures.get(&r.name);
        let failure_timeout = self.p.meta(id, |m| m.failure_timeout);
        // Only the nodes the state says something about, in node order.
        let mut visit: Vec<usize> = observed
            .into_iter()
            .flat_map(|m| m.keys())
            .chain(failures.into_iter().flat_map(|m| m.keys()))
            .filter_map(|n| self.node_index(n))
            .collect();
        visit.sort_unstable();
        visit.dedup();
        for ni in visit {
            let Some(node) = self.nodes.get(ni) else {
                continue;
            };
            if let Some(fc) = failures.and_then(|m| m.get(&node.name)) {
                // A failure of an operation configured on-fail=block keeps
                // its fail count whatever failure-timeout says
                // (`block_failure` in `pe_get_failcount`).
                let block_failure = observed
                    .and_then(|m| m.get(&node.name))
                    .and_then(|rs| rs.failed.as_ref())
                    .is_some_and(|f| {
                        !f.probe
                            && prim.op(f.op, None).and_then(|o| o.on_fail) == Some(OnFail::Block)
                    });
                let expired = !block_failure
                    && failure_timeout
                        .is_some_and(|t| t.as_ms() > 0 && self.now.since(fc.last_failure) >= t);
                // Failures of an operation with on-fail=ignore do not count.
                let ignored = fc.op.is_some_and(|op| {
                    prim.op(op, None).and_then(|o| o.on_fail) == Some(OnFail::Ignore)
                });
                if !expired && !ignored && fc.count > 0 {
                    info.failcount.insert(ni, fc.count);
                }
            }
            let Some(rs) = observed.and_then(|m| m.get(&node.name)) else {
                continue;
            };
            if node.status == NodeStatus::Offline {
                continue;
            }
            // An operation in flight may leave it running: count it as active.
            let role = match (rs.pending, rs.role) {
                (Some(_), Role::Stopped) if r.is_promotable() => Role::Unpromoted,
                (Some(_), Role::Stopped) => Role::Started,
                (_, role) => role,
            };
            let active = role.is_active();
            if active {
                info.current.push((ni, role));
                // Further instances of a clone on the same node.
                info.current
                    .extend(rs.more.iter().filter(|r| r.is_active()).map(|r| (ni, *r)));
                match redefinition(prim, rs) {
                    Redefinition::Restart => info.changed.push(ni),
                    Redefinition::Reload => info.reload.push(ni),
                    Redefinition::Same => {}
                }
            }
            let frozen_why = if !active {
                None
            } else if let Some(op) = rs.pending {
                Some(format!("a {op} is in flight on {}", node.name))
            } else if node.maintenance {
                Some(format!("{} is in maintenance", node.name))
            } else if node.status == NodeStatus::Unclean
                && !node.fenceable
                && self.requires(id) == Requires::Fencing
            {
                Some(format!(
                    "it may still run on {}, which is unclean and cannot be fenced now",
                    node.name
                ))
            } else {
                None
            };
            if let Some(why) = frozen_why {
                if self.clone_of(id).is_some() {
                    info.frozen.push((ni, role));
                } else {
                    info.blocked = Some(why);
                }
            }
            let Some(failed) = &rs.failed else { continue };
            let role = (failed.op == OpAction::Monitor)
                .then_some(rs.role)
                .filter(|r| *r != Role::Started);
            let mut on_fail = failure_on_fail(prim, failed, role, self.p.cluster.fencing);
            // A missing agent cannot be ignored.
            if failed.agent_missing && on_fail == OnFail::Ignore {
                on_fail = OnFail::Restart;
            }
            // OCF hard errors: 2 invalid arguments, 3 unimplemented, 4
            // insufficient privileges, 5 not installed (this node only); 6 not
            // configured (anywhere).
            if on_fail != OnFail::Ignore {
                match failed.rc {
                    2..=5 => info.banned.push((ni, failed.rc)),
                    6 => {
                        info.stop_wanted =
                            Some(format!("{} is not configured correctly (rc 6)", r.name));
                        info.banned_everywhere = true;
                    }
                    _ => {}
                }
            }
            // On a node about to be fenced, the failure needs nothing more:
            // the fencing stops it, and it may start again elsewhere
            // (`process_rsc_state` ignores on-fail on an unclean node). On
            // an unclean node that cannot be fenced now, the rules below
            // already give Pacemaker's outcome (its stop there is listed).
            if node.status == NodeStatus::Unclean && node.fenceable {
                on_fail = OnFail::Ignore;
            }
            match on_fail {
                OnFail::Ignore => {}
                OnFail::Block => {
                    info.blocked_on.push(ni);
                    info.blocked = Some(format!(
                        "{} failed on {} (on-fail=block)",
                        failed.op, node.name
                    ))
                }
                OnFail::Fence if !node.fenceable => {
                    unfenced.push(ni);
                    info.blocked = Some(format!(
                        "{} failed on {} and the node cannot be fenced",
                        failed.op, node.name
                    ))
                }
                OnFail::Stop => {
                    info.stop_wanted = Some(format!("{} failed with on-fail=stop", r.name));
                    info.banned_everywhere = true;
                    info.recover.push((ni, failed.clone()));
                }
                OnFail::Demote if rs.role == Role::Promoted => info.no_promote.push(ni),
                _ => info.recover.push((ni, failed.clone())),
            }
            // A failed stop leaves the resource in an unknown state: nothing may
            // start it elsewhere until the node is fenced or the failure is cleared.
            if failed.op == OpAction::Stop && on_fail != OnFail::Fence && on_fail != OnFail::Ignore
            {
                info.blocked_on.push(ni);
                info.blocked = Some(format!("stop failed on {}", node.name));
            }
        }
        // on-fail=stop keeps acting until the failure is cleaned up or expires.
        for &ni in info.failcount.keys() {
            let Some(node) = self.nodes.get(ni) else {
                continue;
            };
            let op = self.s.failcount(&r.name, &node.name).and_then(|f| f.op);
            let on_fail = op.map(|op| {
                prim.op(op, None)
                    .map(|o| o.effective_on_fail(self.p.cluster.fencing))
                    .unwrap_or_else(|| default_on_fail(op, self.p.cluster.fencing))
            });
            if on_fail == Some(OnFail::Stop) {
                info.stop_wanted = Some(format!("{} failed with on-fail=stop", r.name));
                info.banned_everywhere = true;
            }
        }
        let unmanaged =
            r.meta.managed == Some(false) || self.p.meta(id, |m| m.managed) == Some(false);
        if unmanaged {
            info.blocked = Some("unmanaged".to_string());
        }
        // Pacemaker's maintenance-mode: every resource is unmanaged
        // (`common_unpack` in lib/pengine/complex.c), left as it is.
        if self.s.maintenance {
            info.blocked = Some("the cluster is in maintenance mode".to_string());
        }
        // Active on several nodes though it runs once, and stuck on one that
        // cannot be fenced: Pacemaker still stops it where it can (the
        // multiple-active recovery stops every instance) and starts it
        // nowhere, the start waiting for the stop that cannot run.
        if self.clone_of(id).is_none()
            && !unmanaged
            && !self.s.maintenance
            && !unfenced.is_empty()
            && info.blocked_on.is_empty()
            && info.current.iter().any(|(n, _)| !unfenced.contains(n))
            && info
                .current
                .iter()
                .all(|(n, _)| unfenced.contains(n) || self.nodes.get(*n).is_some_and(|x| x.up()))
        {
            if let Some(why) = info.blocked.take() {
                info.stop_wanted = Some(format!("{} is active on several nodes and {why}", r.name));
            }
        }
        // Active on several nodes though it runs once.
        if self.clone_of(id).is_none() && info.current.len() > 1 {
            match self.p.meta(id, |m| m.multiple_active) {
                Some(MultipleActive::Block) => {
                    info.blocked =
                        Some("it is active on several nodes (multiple-active block)".into())
                }
                Some(MultipleActive::Stop) => {
                    info.stop_wanted = Some(format!(
                        "{} is active on several nodes (multiple-active stop)",
                        r.name
                    ))
                }
                _ => {}
            }
        }
        info
    }

    /// on-fail=fence and on-fail=standby act on the node.
    fn apply_on_fail_to_nodes(&mut self) {
        let fencing = self.p.cluster.fencing;
        for (i, r) in self.p.resources.iter().enumerate() {
            let Some(prim) = r.primitive() else { continue };
            let Some(info) = self.rsc.get(i) else {
                continue;
            };
            let mut fence = Vec::new();
            let mut standby = Vec::new();
            for (ni, failed) in &info.recover {
                let on_fail = failure_on_fail(prim, failed, None, fencing);
                match on_fail {
                    OnFail::Fence if self.nodes.get(*ni).is_some_and(|n| n.fenceable) => {
                        fence.push(*ni)
                    }
                    OnFail::Standby => standby.push(*ni),
                    _ => {}
                }
            }
            // on-fail=standby keeps the node in standby until cleanup or expiry.
            for &ni in info.failcount.keys() {
                let Some(node) = self.nodes.get(ni) else {
                    continue;
                };
                let op = self.s.failcount(&r.name, &node.name).and_then(|f| f.op);
                if op.and_then(|op| prim.op(op, None)).and_then(|o| o.on_fail)
                    == Some(OnFail::Standby)
                {
                    standby.push(ni);
                }
            }
            for ni in fence {
                if let Some(n) = self.nodes.get_mut(ni) {
                    n.fence.get_or_insert(FenceWhy::OnFail(r.name.clone()));
                }
            }
            for ni in standby {
                if let Some(n) = self.nodes.get_mut(ni) {
                    n.standby = true;
                }
            }
        }
    }

    fn index_constraints(&mut self) {
        // Action pairs already ordered: Pacemaker keeps only the first
        // ordering between two actions (`order_actions` drops one that shares
        // a flag with an existing one, and every ordering carries
        // `pe_order_optional`), and creates them in declaration order, each
        // symmetrical one followed by its inverse. A direction that repeats
        // an earlier one is dropped alone.
        let mut ordered: BTreeSet<(RscId, OpAction, RscId, OpAction)> = BTreeSet::new();
        for (i, c) in self.p.constraints.iter().enumerate() {
            match &c.kind {
                ConstraintKind::Location { rsc, .. } => {
                    if let Some(v) = self.locations_of.get_mut(rsc.index()) {
                        v.push(i);
                    }
                }
                ConstraintKind::Colocation {
                    dependent, primary, ..
                } => {
                    let (d, p) = (self.unit_of(*dependent), self.unit_of(*primary));
                    if let Some(v) = self.colocations_as_dependent.get_mut(d.index()) {
                        v.push(i);
                    }
                    if let Some(v) = self.colocations_as_primary.get_mut(p.index()) {
                        v.push(i);
                    }
                }
                ConstraintKind::Order {
                    first,
                    first_action,
                    then,
                    then_action,
                    symmetrical,
                    ..
                } => {
                    let forward = (*first, *first_action, *then, *then_action);
                    let inverse = (*then, then_action.inverse(), *first, first_action.inverse());
                    let new_forward = ordered.insert(forward);
                    let new_inverse = *symmetrical && ordered.insert(inverse);
                    if new_forward || new_inverse {
                        self.orders.push((i, new_forward, new_inverse));
                    }
                }
            }
        }
    }

    /// Whether both resources are clones with `interleave`: orders between them
    /// bind instances on the same node only.
    /// Whether an order between two clones binds instance to instance on
    /// each node (`can_interleave_actions`): both sides must be clones, and
    /// the one whose flag counts is `then`, unless `then`'s action is a stop
    /// or demotion, when it is `first` (so a symmetrical order's inverse
    /// follows the same clone as the order itself).
    pub fn interleaved(&self, first: RscId, then: RscId, then_action: OpAction) -> bool {
        let spec = |r: RscId| {
            self.clone_of(r)
                .and_then(|c| self.p.resource(c))
                .and_then(|x| x.clone.as_ref())
        };
        let (Some(f), Some(t)) = (spec(first), spec(then)) else {
            return false;
        };
        if matches!(then_action, OpAction::Stop | OpAction::Demote) {
            f.interleave
        } else {
            t.interleave
        }
    }

    pub fn unit_of(&self, id: RscId) -> RscId {
        self.unit.get(id.index()).copied().unwrap_or(id)
    }

    /// Location constraints on `id` (all roles).
    pub fn all_locations(&self, id: RscId) -> impl Iterator<Item = &halo_model::Constraint> + '_ {
        self.locations_of
            .get(id.index())
            .into_iter()
            .flatten()
            .filter_map(|&i| self.p.constraints.get(i))
    }

    /// Location constraints that apply to placement (not to a role) of `id`.
    pub fn locations(&self, id: RscId) -> impl Iterator<Item = &halo_model::Constraint> + '_ {
        self.all_locations(id).filter(|c| {
            !matches!(
                &c.kind,
                ConstraintKind::Location {
                    role: Some(Role::Promoted | Role::Unpromoted),
                    ..
                }
            )
        })
    }

    /// Whether nodes `a` and `b` are one place for a colocation by `attr`
    /// (`None`: by node, the node itself): by an attribute, nodes with the
    /// same value of it, compared as Pacemaker compares it (`pe_node_attribute_raw`
    /// and `pcmk__str_eq` with `pcmk__str_casei`), case-insensitively, and
    /// two nodes that both lack it alike.
    pub fn same_place(&self, attr: Option<&str>, a: usize, b: usize) -> bool {
        let Some(attr) = attr else {
            return a == b;
        };
        let value = |n: usize| {
            self.nodes
                .get(n)
                .and_then(|node| node.attrs.get(attr))
                .map(String::as_str)
        };
        match (value(a), value(b)) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            (x, y) => x.is_none() && y.is_none(),
        }
    }

    /// Colocations whose dependent is in unit `u`.
    pub fn colocations_of_dependent(
        &self,
        u: RscId,
    ) -> impl Iterator<Item = &halo_model::Constraint> + '_ {
        self.colocations_as_dependent
            .get(u.index())
            .into_iter()
            .flatten()
            .filter_map(|&i| self.p.constraints.get(i))
    }

    /// Every order that takes effect as it binds actions: (first, its action,
    /// then, its action), followed by its inverse when it is symmetrical
    /// (Pacemaker's `invert_action`: then's inverse action before first's).
    /// Orders within one unit are a group's own and left out.
    ///
    /// A threshold (`needs N`, an `or`) goes through a pseudo-action and
    /// binds no instance to another (`clone_min_ordering`,
    /// `order_rsc_sets`): it is never interleaved.
    pub fn order_sides(&self) -> Vec<OrderSide> {
        let mut sides = Vec::new();
        for (c, forward, inverse) in self.order_directions() {
            let ConstraintKind::Order {
                first,
                first_action,
                then,
                then_action,
                symmetrical,
                first_min,
                any_of,
                ..
            } = &c.kind
            else {
                continue;
            };
            if self.unit_of(*first) == self.unit_of(*then) {
                continue;
            }
            let threshold = first_min.is_some_and(|k| k > 0) || !any_of.is_empty();
            let side = |f: RscId, fa: OpAction, t: RscId, ta: OpAction| OrderSide {
                first: f,
                first_action: fa,
                then: t,
                then_action: ta,
                interleave: !threshold && self.interleaved(f, t, ta),
            };
            if forward {
                sides.push(side(*first, *first_action, *then, *then_action));
            }
            if *symmetrical && inverse {
                sides.push(side(
                    *then,
                    then_action.inverse(),
                    *first,
                    first_action.inverse(),
                ));
            }
        }
        sides
    }

    /// The order constraints whose forward direction takes effect (see
    /// `index_constraints`).
    pub fn orders(&self) -> impl Iterator<Item = &halo_model::Constraint> + '_ {
        self.order_directions()
            .filter(|(_, forward, _)| *forward)
            .map(|(c, _, _)| c)
    }

    /// The order constraints that take effect, with whether their forward
    /// direction and their inverse do.
    pub fn order_directions(
        &self,
    ) -> impl Iterator<Item = (&halo_model::Constraint, bool, bool)> + '_ {
        self.orders
            .iter()
            .filter_map(|&(i, f, b)| Some((self.p.constraints.get(i)?, f, b)))
    }

    /// Colocations whose primary is in unit `u`.
    pub fn colocations_of_primary(
        &self,
        u: RscId,
    ) -> impl Iterator<Item = &halo_model::Constraint> + '_ {
        self.colocations_as_primary
            .get(u.index())
            .into_iter()
            .flatten()
            .filter_map(|&i| self.p.constraints.get(i))
    }
}

/// One side of an order as it binds actions (see [`Ctx::order_sides`]).
#[derive(Clone, Copy, Debug)]
pub struct OrderSide {
    pub first: RscId,
    pub first_action: OpAction,
    pub then: RscId,
    pub then_action: OpAction,
    /// Instance to instance on each node (see [`Ctx::interleaved`]).
    pub interleave: bool,
}

/// The reaction a failure calls for: its action's declared on-fail (the
/// declaration for the role it failed in first), or the default. A probe is
/// never declared — Pacemaker finds an action's configuration by name and
/// interval (`find_rsc_op_entry`) — so a failed probe takes the default.
fn failure_on_fail(
    prim: &halo_model::Primitive,
    failed: &halo_model::FailedOp,
    role: Option<Role>,
    fencing: bool,
) -> OnFail {
    let declared = if failed.probe {
        None
    } else {
        prim.op(failed.op, role)
            .or_else(|| prim.op(failed.op, None))
    };
    declared
        .map(|o| o.effective_on_fail(fencing))
        .unwrap_or_else(|| default_on_fail(failed.op, fencing))
}

/// Pacemaker's default on-fail for an operation that has no declaration.
fn default_on_fail(op: OpAction, fencing: bool) -> OnFail {
    match op {
        OpAction::Stop if fencing => OnFail::Fence,
        OpAction::Stop => OnFail::Block,
        _ => OnFail::Restart,
    }
}

/// What the parameters an instance runs with call for: an operator's restart
/// or an imported digest says so outright; otherwise what the agent was
/// started with is compared with what the policy gives it now (no record
/// means it was started as the policy says).
fn redefinition(prim: &halo_model::Primitive, rs: &halo_model::ResourceState) -> Redefinition {
    if rs.changed {
        Redefinition::Restart
    } else if rs.reload {
        Redefinition::Reload
    } else {
        rs.definition
            .as_ref()
            .map_or(Redefinition::Same, |d| d.compare(&prim.definition()))
    }
}
