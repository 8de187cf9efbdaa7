//! Actions: the difference between what runs now and the target, as a DAG.
//!
//! Per instance: demote → stop → start → promote → monitor. Across instances and
//! resources: stops before starts of the same resource, fencing before recovery of
//! what ran on the fenced node, group members in order (stops in reverse), and
//! order constraints (reversed for stops when symmetrical). A mandatory order
//! restarts `then` when `first` restarts.

use crate::assign::Target;
use crate::ctx::{Ctx, FenceWhy};
use crate::plan::{Action, ActionKind, Reason};
use halo_model::{ConstraintKind, OpAction, Role, RscId};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

mod notify;
mod reload;

type Key = (Option<usize>, ActionKind, usize); // (resource index, kind, node index)

pub(crate) struct Builder<'c, 'a> {
    cx: &'c Ctx<'a>,
    targets: &'c [Target],
    pub graph: DiGraph<Action, ()>,
    index: BTreeMap<Key, NodeIndex>,
    /// Actions for further instances on a node: (first instance's, twin).
    twins: Vec<(NodeIndex, NodeIndex)>,
    /// The graph's edges, to add each once without scanning an action's
    /// edges (one action may precede thousands).
    edge_set: std::collections::BTreeSet<(NodeIndex, NodeIndex)>,
    /// What each instance does: (resource, node, copy, kind) for every stop,
    /// start, promotion and demotion added (read by the notifications).
    done: std::collections::BTreeSet<(usize, usize, usize, ActionKind)>,
}

impl<'c, 'a> Builder<'c, 'a> {
    pub fn build(cx: &'c Ctx<'a>, targets: &'c [Target]) -> (DiGraph<Action, ()>, Vec<String>) {
        let mut b = Builder {
            cx,
            targets,
            graph: DiGraph::new(),
            index: BTreeMap::new(),
            twins: Vec::new(),
            edge_set: std::collections::BTreeSet::new(),
            done: std::collections::BTreeSet::new(),
        };
        let mut notes = Vec::new();
        b.fencing(&mut notes);
        for i in 0..cx.p.resources.len() {
            b.resource(RscId(u32::try_from(i).unwrap_or(u32::MAX)), &mut notes);
        }
        b.orphans();
        b.restart_dependents();
        b.reloads();
        b.edges();
        b.notifications();
        b.mirror_twins();
        (b.graph, notes)
    }

    fn add(
        &mut self,
        rsc: Option<RscId>,
        kind: ActionKind,
        node: usize,
        because: Reason,
    ) -> NodeIndex {
        let key = (rsc.map(RscId::index), kind, node);
        if let Some(&ix) = self.index.get(&key) {
            if let Some(a) = self.graph.node_weight_mut(ix) {
                if !a.because.contains(&because) {
                    a.because.push(because);
                }
            }
            return ix;
        }
        let prim = rsc
            .and_then(|r| self.cx.p.resource(r))
            .and_then(|r| r.primitive());
        let timeout = prim.and_then(|p| {
            let action = match kind {
                ActionKind::Stop => OpAction::Stop,
                ActionKind::Start => OpAction::Start,
                ActionKind::Promote => OpAction::Promote,
                ActionKind::Demote => OpAction::Demote,
                _ => return None,
            };
            p.op(action, None).and_then(|o| o.timeout)
        });
        let action = Action {
            kind,
            rsc: rsc.map(|r| self.cx.name(r).to_string()),
            node: self.cx.node_name(node),
            interval: None,
            role: None,
            timeout,
            because: vec![because],
            notice: None,
        };
        let ix = self.graph.add_node(action);
        self.index.insert(key, ix);
        ix
    }

    /// One action for the `copy`-th instance of `rsc` on `node`: the first
    /// instance's is the one orders attach to; a further instance gets a twin
    /// of it, which takes the same orders at the end (`mirror_twins`).
    fn add_copy(
        &mut self,
        rsc: Option<RscId>,
        kind: ActionKind,
        node: usize,
        because: Reason,
        copy: usize,
    ) -> NodeIndex {
        let key = (rsc.map(RscId::index), kind, node);
        // The action at `key` is another instance's when this is a further
        // one, or when only further instances have acted here so far (a
        // surplus instance stopped before the first one restarts).
        let other = rsc.is_some_and(|r| copy > 0 || self.only_other_copies(r, node, kind));
        if let Some(r) = rsc {
            self.done.insert((r.index(), node, copy, kind));
        }
        let Some(&first) = self.index.get(&key).filter(|_| other) else {
            return self.add(rsc, kind, node, because);
        };
        let Some(mut twin) = self.graph.node_weight(first).cloned() else {
            return self.add(rsc, kind, node, because);
        };
        twin.because = vec![because];
        let ix = self.graph.add_node(twin);
        self.twins.push((first, ix));
        ix
    }

    /// Whether instances of `rsc` on `node` beyond the first have an action
    /// of this kind, and the first has none.
    fn only_other_copies(&self, rsc: RscId, node: usize, kind: ActionKind) -> bool {
        let r = rsc.index();
        !self.done.contains(&(r, node, 0, kind))
            && self
                .done
                .range((r, node, 1, ActionKind::Fence)..)
                .take_while(|(r2, n2, ..)| (*r2, *n2) == (r, node))
                .any(|(.., k)| *k == kind)
    }

    /// Gives each twin the orders of the action it copies.
    fn mirror_twins(&mut self) {
        for (first, twin) in std::mem::take(&mut self.twins) {
            let before: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(first, petgraph::Direction::Incoming)
                .collect();
            let after: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(first, petgraph::Direction::Outgoing)
                .collect();
            for b in before {
                self.edge(Some(b), Some(twin));
            }
            for a in after {
                self.edge(Some(twin), Some(a));
            }
        }
    }

    fn get(&self, rsc: RscId, kind: ActionKind, node: usize) -> Option<NodeIndex> {
        self.index.get(&(Some(rsc.index()), kind, node)).copied()
    }

    /// Every action of one kind for one resource: (node, action), by node.
    fn all(&self, rsc: RscId, kind: ActionKind) -> Vec<(usize, NodeIndex)> {
        let r = Some(rsc.index());
        self.index
            .range((r, kind, 0)..=(r, kind, usize::MAX))
            .map(|(&(_, _, n), &ix)| (n, ix))
            .collect()
    }

    fn edge(&mut self, a: Option<NodeIndex>, b: Option<NodeIndex>) {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b && self.edge_set.insert((a, b)) {
                self.graph.add_edge(a, b, ());
            }
        }
    }

    fn fencing(&mut self, notes: &mut Vec<String>) {
        if !self.cx.p.cluster.fencing {
            return;
        }
        for (ni, node) in self.cx.nodes.iter().enumerate() {
            if node.status == halo_model::NodeStatus::Unclean && !node.fenceable {
                let why = if self.cx.may_fence() {
                    "no fence device can fence it"
                } else {
                    "the cluster has no quorum"
                };
                notes.push(format!("node {} needs fencing, but {why}", node.name));
                continue;
            }
            let Some(why) = &node.fence else { continue };
            let reason = match why {
                FenceWhy::Unclean => Reason::NodeUnclean,
                FenceWhy::OnFail(rsc) => Reason::OnFailFence { rsc: rsc.clone() },
            };
            self.add(None, ActionKind::Fence, ni, reason);
        }
    }

    fn fence_of(&self, node: usize) -> Option<NodeIndex> {
        self.index.get(&(None, ActionKind::Fence, node)).copied()
    }

    /// Actions for one primitive, instance by instance.
    fn resource(&mut self, id: RscId, notes: &mut Vec<String>) {
        let cx = self.cx;
        let Some(r) = cx.p.resource(id) else { return };
        if r.primitive().is_none() {
            return;
        }
        let Some(info) = cx.rsc.get(id.index()) else {
            return;
        };
        let Some(target) = self.targets.get(id.index()) else {
            return;
        };
        if let Some(why) = info
            .blocked
            .as_ref()
            .or(target.unplaced.as_ref().filter(|_| target.blocked))
        {
            notes.push(format!(
                "{} is blocked: {why}; no action is taken for it",
                r.name
            ));
            return;
        }
        let names = |ns: &[usize]| -> String {
            ns.iter()
                .filter_map(|n| cx.nodes.get(*n).map(|x| x.name.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !target.held.is_empty() && info.current.is_empty() {
            notes.push(format!(
                "{} cannot start on {}: {}",
                r.name,
                names(&target.held),
                target
                    .unplaced
                    .as_deref()
                    .unwrap_or("a mandatory order holds it back")
            ));
        }
        debug_assert!(
            target.stop_held.is_empty() || target.stop_held_why.is_some(),
            "a held stop without its reason"
        );
        if let (false, Some(why)) = (target.stop_held.is_empty(), &target.stop_held_why) {
            notes.push(format!(
                "{} stays on {}: {why}",
                r.name,
                names(&target.stop_held)
            ));
        }
        if !info.frozen.is_empty() {
            notes.push(format!(
                "{} is left as it is on {}",
                r.name,
                info.frozen
                    .iter()
                    .filter_map(|(n, _)| cx.nodes.get(*n).map(|x| x.name.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let moving_to = target.instances.first().map(|(n, _)| *n);
        // Instance by instance (the first on a node is the one a failure is
        // recorded for); frozen instances are left exactly as they are.
        let pairs: Vec<(usize, usize, Role, Role)> =
            pair_instances(&info.current, &target.instances)
                .into_iter()
                .filter(|(n, ..)| !info.frozen.iter().any(|(f, _)| f == n))
                .collect();
        // Active on several nodes though it should run once: stop it
        // everywhere, then start it on its node (Pacemaker's stop_start).
        // (What does not require fencing is not counted on lost nodes.)
        let counted = info
            .current
            .iter()
            .filter(|(c, _)| {
                cx.requires(id) == halo_model::Requires::Fencing
                    || cx
                        .nodes
                        .get(*c)
                        .is_some_and(|x| x.status != halo_model::NodeStatus::Unclean)
            })
            .count();
        let multiple = cx.clone_of(id).is_none() && counted > 1;
        for (n, copy, cur, tgt) in pairs {
            // Its stop cannot happen there, so neither can a recovery or a
            // restart, whose start follows that stop: it is left as it is
            // (the held stop is what the summary shows).
            if target.stop_held.contains(&n) {
                continue;
            }
            let failed = info
                .recover
                .iter()
                .find(|(c, _)| *c == n && copy == 0)
                .map(|(_, f)| f.clone());
            let node = &cx.nodes[n.min(cx.nodes.len().saturating_sub(1))];
            let fenced = self.fence_of(n).is_some();
            let mut changed = false;
            let mut last = None;
            let redefined = info.changed.contains(&n);
            // A clone instance drawn to another node leaves this one, and
            // another instance takes its place here (Pacemaker keeps each
            // instance's identity: a stop here, a start there, a start here).
            let replaced_by = target
                .moves
                .iter()
                .find(|(f, t)| *f == n && *t != n && copy == 0)
                .map(|(_, t)| *t)
                .filter(|_| cur.is_active() && tgt.is_active())
                // Not when the node sheds a surplus instance: that one's
                // stop is the move's.
                .filter(|_| {
                    let on = |v: &[(usize, Role)]| v.iter().filter(|(x, _)| *x == n).count();
                    on(&info.current) <= on(&target.instances)
                });
            // An orphan instance stops, and an instance placed here starts
            // in its place.
            let orphan = copy == 0 && target.orphans.contains(&n);
            if cur.is_active()
                && (tgt == Role::Stopped
                    || failed.is_some()
                    || multiple
                    || redefined
                    || replaced_by.is_some()
                    || orphan)
            {
                let why = if let Some(f) = &failed {
                    Reason::Failed {
                        op: f.action_name().to_string(),
                        rc: f.rc,
                    }
                } else if multiple {
                    Reason::MultipleActive
                } else if redefined && tgt.is_active() {
                    Reason::DefinitionChanged
                } else if orphan {
                    Reason::NotWanted {
                        why: "an instance beyond clone-max".into(),
                    }
                } else if let Some(to) = replaced_by {
                    Reason::Moving {
                        from: node.name.clone(),
                        to: cx.nodes.get(to).map(|x| x.name.clone()).unwrap_or_default(),
                        from_score: target.scores.total(n),
                        to_score: target.scores.total(to),
                    }
                } else if let Some(u) = node.unavailable() {
                    Reason::NodeUnavailable {
                        node: node.name.clone(),
                        why: u.to_string(),
                    }
                } else if let (Some(to), true) = (moving_to, cx.clone_of(id).is_none()) {
                    Reason::Moving {
                        from: node.name.clone(),
                        to: cx.nodes.get(to).map(|x| x.name.clone()).unwrap_or_default(),
                        from_score: target.scores.total(n),
                        to_score: target.scores.total(to),
                    }
                } else {
                    Reason::NotWanted {
                        why: target
                            .unplaced
                            .clone()
                            .unwrap_or_else(|| "not placed here".into()),
                    }
                };
                // Nothing can be run on a lost node: fencing stops what ran
                // there, and what does not require fencing is simply
                // recovered elsewhere.
                let lost = node.status == halo_model::NodeStatus::Unclean;
                if !fenced && !lost {
                    if cur == Role::Promoted {
                        last =
                            Some(self.add_copy(Some(id), ActionKind::Demote, n, why.clone(), copy));
                    }
                    self.add_copy(Some(id), ActionKind::Stop, n, why, copy);
                }
                changed = tgt.is_active();
                if tgt.is_active() {
                    last = Some(self.add_copy(
                        Some(id),
                        ActionKind::Start,
                        n,
                        Reason::Placed {
                            score: target.scores.total(n),
                        },
                        copy,
                    ));
                    if tgt == Role::Promoted {
                        last = Some(self.add_copy(
                            Some(id),
                            ActionKind::Promote,
                            n,
                            Reason::Promotion,
                            copy,
                        ));
                    }
                }
            } else if !cur.is_active() && tgt.is_active() {
                let why = match info.current.first() {
                    Some((from, _)) if cx.clone_of(id).is_none() => Reason::Moving {
                        from: cx
                            .nodes
                            .get(*from)
                            .map(|x| x.name.clone())
                            .unwrap_or_default(),
                        to: node.name.clone(),
                        from_score: target.scores.total(*from),
                        to_score: target.scores.total(n),
                    },
                    _ => Reason::Placed {
                        score: target.scores.total(n),
                    },
                };
                last = Some(self.add_copy(Some(id), ActionKind::Start, n, why, copy));
                if tgt == Role::Promoted {
                    last = Some(self.add_copy(
                        Some(id),
                        ActionKind::Promote,
                        n,
                        Reason::Promotion,
                        copy,
                    ));
                }
                changed = true;
            } else if cur == Role::Promoted && tgt == Role::Unpromoted {
                last =
                    Some(self.add_copy(Some(id), ActionKind::Demote, n, Reason::Promotion, copy));
                changed = true;
            } else if matches!(cur, Role::Unpromoted | Role::Started) && tgt == Role::Promoted {
                last =
                    Some(self.add_copy(Some(id), ActionKind::Promote, n, Reason::Promotion, copy));
                changed = true;
            }
            if changed {
                self.add_monitors(id, n, tgt, last);
            }
        }
    }

    /// The recurring monitors of `id` in `role` on `node`, after the action that
    /// brought it into that role.
    fn add_monitors(&mut self, id: RscId, node: usize, role: Role, after: Option<NodeIndex>) {
        let Some(prim) = self.cx.p.resource(id).and_then(|r| r.primitive()) else {
            return;
        };
        for op in prim.monitors_for(role) {
            let action = Action {
                kind: ActionKind::Monitor,
                rsc: Some(self.cx.name(id).to_string()),
                node: self.cx.node_name(node),
                interval: Some(op.interval),
                role: op.role,
                timeout: op.timeout,
                because: vec![Reason::Health],
                notice: None,
            };
            let ix = self.graph.add_node(action);
            let after = after.or_else(|| {
                [ActionKind::Promote, ActionKind::Demote, ActionKind::Start]
                    .into_iter()
                    .find_map(|k| self.get(id, k, node))
            });
            self.edge(after, Some(ix));
        }
    }

    /// Resources the state shows running that the policy no longer has: they
    /// stop, unless the cluster leaves them alone (`stop-orphans off`, which
    /// makes them unmanaged: `process_orphan_resource`).
    fn orphans(&mut self) {
        let cx = self.cx;
        if !cx.p.cluster.stop_orphans {
            return;
        }
        let mut extra = Vec::new();
        let known = cx.p.name_index();
        for (name, per_node) in &cx.s.resources {
            if known.contains_key(name.as_str()) {
                continue;
            }
            for (node, rs) in per_node {
                if let (Some(ni), true) = (cx.node_index(node), rs.role.is_active()) {
                    if cx.nodes.get(ni).is_some_and(|n| n.up()) {
                        extra.push((name.clone(), ni));
                    }
                }
            }
        }
        for (name, ni) in extra {
            let action = Action {
                kind: ActionKind::Stop,
                rsc: Some(name),
                node: cx.node_name(ni),
                interval: None,
                role: None,
                timeout: None,
                because: vec![Reason::NotWanted {
                    why: "no longer in the policy".into(),
                }],
                notice: None,
            };
            self.graph.add_node(action);
        }
    }

    /// Mandatory orders (and group membership): when `first` stops on a node
    /// where it will run again or elsewhere, a running `then` restarts too.
    /// An order whose `then` action is a stop restarts `then` the same way:
    /// `first`'s action made required makes `then`'s stop required
    /// (`pe_order_implies_then`), and `then`, still placed, starts again.
    fn restart_dependents(&mut self) {
        let cx = self.cx;
        // (first, what of first triggers, then, same node only, from an order)
        let mut pairs: Vec<(RscId, &[ActionKind], RscId, bool, bool)> = Vec::new();
        // `then` restarts when `first` stops or (re)starts: its start must follow.
        const ON_START: &[ActionKind] = &[ActionKind::Stop, ActionKind::Start];
        const ON_PROMOTE: &[ActionKind] =
            &[ActionKind::Stop, ActionKind::Demote, ActionKind::Promote];
        const ON_STOP: &[ActionKind] = &[ActionKind::Stop];
        for c in cx.orders() {
            let ConstraintKind::Order {
                first,
                first_action,
                then,
                then_action: then_action @ (OpAction::Start | OpAction::Stop),
                kind,
                first_min,
                symmetrical,
                ..
            } = &c.kind
            else {
                continue;
            };
            // An asymmetrical order only holds `then` back when `first`
            // cannot run; it never restarts it (Pacemaker gives it no
            // pe_order_implies_then, `handle_asymmetric_ordering`); an
            // optional one restarts it only when `then` asks to
            // (`handle_restart_type`).
            let restarts = match kind {
                halo_model::OrderKind::Mandatory => *symmetrical,
                halo_model::OrderKind::Restart => true,
                halo_model::OrderKind::Optional => false,
            };
            if !restarts {
                continue;
            }
            // `stop first then stop then`: `first` stopping makes `then`'s
            // stop required, and `then`, still placed, starts again;
            // `stop first then start then` makes `then`'s start required,
            // which for a running `then` is a restart.
            let (trigger, ordered) = match (first_action, then_action) {
                (OpAction::Start, _) => (ON_START, true),
                (OpAction::Promote, _) => (ON_PROMOTE, true),
                (OpAction::Stop, OpAction::Stop) => (ON_STOP, false),
                // (A clone's start is its instances' starts together: made
                // required, it restarts none that keeps its node.)
                (OpAction::Stop, OpAction::Start) if cx.clone_of(*then).is_none() => {
                    (ON_STOP, false)
                }
                _ => continue,
            };
            if cx.unit_of(*first) == cx.unit_of(*then) {
                continue;
            }
            // A threshold does not chain restarts.
            if first_min.is_some_and(|k| k > 0) {
                continue;
            }
            let interleave = cx.interleaved(*first, *then, OpAction::Start);
            for f in cx.leaves(*first) {
                for t in cx.leaves(*then) {
                    pairs.push((f, trigger, t, interleave, ordered));
                }
            }
        }
        for r in &cx.p.resources {
            if let halo_model::ResourceKind::Group(m) = &r.kind {
                // Members of one group instance share a node; a member that
                // starts (or moves) restarts the members after it.
                for w in m.windows(2) {
                    if let [a, b] = w {
                        pairs.push((*a, ON_START, *b, true, false));
                    }
                }
            }
        }
        for _ in 0..=pairs.len() {
            let mut changed = false;
            for &(f, trigger, t, same_node, ordered) in &pairs {
                // An order after a start restarts `then` only when `first`
                // starts (moves or restarts): `first` merely stopping holds
                // `then` back instead (or, for an asymmetrical order, leaves
                // it alone).
                if ordered
                    && self.all(f, ActionKind::Start).is_empty()
                    && self.all(f, ActionKind::Promote).is_empty()
                {
                    continue;
                }
                // A start (or promotion) of `first` only forces `then` to restart
                // when nothing of `first` ran (or was promoted) before: another
                // clone instance starting elsewhere does not. Between instances
                // on one node (interleaved clones, group members), it is the
                // instance on that node that counts: one starting where none
                // ran restarts the `then` instance there.
                let before = cx
                    .rsc
                    .get(f.index())
                    .map(|i| i.current.clone())
                    .unwrap_or_default();
                // A `then` outside any clone waits for the clone's completed
                // start, judged on the node `then` runs on
                // (`action_flags_for_ordering` asks the clone about `then`'s
                // node): an instance starting there restarts it, instances
                // starting or stopping elsewhere do not.
                let then_whole = cx.clone_of(f).is_some() && cx.clone_of(t).is_none();
                let same_node = same_node || then_whole;
                // A single resource moving off a node being fenced has no
                // stop of its own (the fencing implies it), yet its start
                // is a change `then` must follow:
                // `pcmk__update_action_for_orderings` makes `then`'s start
                // required with `first`'s.
                let single = cx.clone_of(f).is_none()
                    && !before.is_empty()
                    && before.iter().all(|(b, _)| self.fence_of(*b).is_some());
                let fresh = |k: ActionKind, n: usize| {
                    if then_whole {
                        return matches!(k, ActionKind::Start | ActionKind::Promote);
                    }
                    let was = |x: &&(usize, Role)| !same_node || x.0 == n;
                    match k {
                        ActionKind::Start => single || !before.iter().any(|x| was(&x)),
                        ActionKind::Promote => {
                            !before.iter().any(|x| was(&x) && x.1 == Role::Promoted)
                        }
                        _ => true,
                    }
                };
                let triggered: Vec<usize> = trigger
                    .iter()
                    .flat_map(|k| {
                        self.all(f, *k)
                            .into_iter()
                            .filter(move |(n, _)| fresh(*k, *n))
                    })
                    .map(|(n, _)| n)
                    .collect();
                if triggered.is_empty() {
                    continue;
                }
                // A clone as a whole: instances stopping or starting elsewhere
                // leave it started; an instance restarting (stopped and started
                // again) restarts what depends on the clone.
                let restarts_somewhere = before.iter().any(|(n, _)| {
                    self.get(f, ActionKind::Stop, *n).is_some()
                        && self.get(f, ActionKind::Start, *n).is_some()
                });
                if cx.clone_of(f).is_some()
                    && !same_node
                    && !before.is_empty()
                    && !restarts_somewhere
                {
                    continue;
                }
                let Some(info) = cx.rsc.get(t.index()) else {
                    continue;
                };
                let Some(target) = self.targets.get(t.index()) else {
                    continue;
                };
                // Its stop waits for a stop that cannot happen: it stays.
                if info.blocked.is_some() || target.blocked || !target.stop_held.is_empty() {
                    continue;
                }
                for &(n, role) in &info.current {
                    // (A surplus instance stopping there leaves the first
                    // one untouched.)
                    let untouched = (self.get(t, ActionKind::Stop, n).is_none()
                        || self.only_other_copies(t, n, ActionKind::Stop))
                        && self.fence_of(n).is_none();
                    let frozen = info.frozen.iter().any(|(x, _)| *x == n);
                    if !untouched || frozen || (same_node && !triggered.contains(&n)) {
                        continue;
                    }
                    let why = Reason::DependsOn {
                        rsc: cx.name(f).to_string(),
                    };
                    if role == Role::Promoted {
                        self.add_copy(Some(t), ActionKind::Demote, n, why.clone(), 0);
                    }
                    self.add_copy(Some(t), ActionKind::Stop, n, why.clone(), 0);
                    // Per node: `then` comes back only if `first` does, there.
                    let first_back = !same_node
                        || self.get(f, ActionKind::Start, n).is_some()
                        || (cx.clone_of(f).is_some() && self.get(f, ActionKind::Stop, n).is_none());
                    if let Some(&(_, tr)) = target
                        .instances
                        .iter()
                        .find(|(tn, _)| *tn == n)
                        .filter(|_| first_back)
                    {
                        self.add_copy(Some(t), ActionKind::Start, n, why.clone(), 0);
                        if tr == Role::Promoted {
                            self.add_copy(Some(t), ActionKind::Promote, n, why, 0);
                        }
                        self.add_monitors(t, n, tr, None);
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn edges(&mut self) {
        let cx = self.cx;
        for i in 0..cx.p.resources.len() {
            let id = RscId(u32::try_from(i).unwrap_or(u32::MAX));
            let [demotes, stops, starts, promotes] = [
                ActionKind::Demote,
                ActionKind::Stop,
                ActionKind::Start,
                ActionKind::Promote,
            ]
            .map(|k| self.all(id, k));
            // Within an instance: demote, stop, start, promote.
            let mut nodes: Vec<usize> = [&demotes, &stops, &starts, &promotes]
                .iter()
                .flat_map(|v| v.iter().map(|(n, _)| *n))
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            for n in nodes {
                let at =
                    |v: &[(usize, NodeIndex)]| v.iter().find(|(m, _)| *m == n).map(|(_, ix)| *ix);
                let chain: Vec<NodeIndex> = [at(&demotes), at(&stops), at(&starts), at(&promotes)]
                    .into_iter()
                    .flatten()
                    .collect();
                for w in chain.windows(2) {
                    if let [a, b] = w {
                        self.edge(Some(*a), Some(*b));
                    }
                }
            }
            // Across nodes: stops before starts, demotions before promotions.
            for (from, to) in [(&stops, &starts), (&demotes, &promotes)] {
                for &(a, x) in from {
                    for &(b, y) in to {
                        if a != b {
                            self.edge(Some(x), Some(y));
                        }
                    }
                }
            }
            // Fencing before recovering what ran on the fenced node (unless it
            // does not require fencing).
            let needs_fencing = cx.requires(id) == halo_model::Requires::Fencing;
            if let Some(info) = cx.rsc.get(i).filter(|_| needs_fencing) {
                for (cn, _) in &info.current {
                    let Some(f) = self.fence_of(*cn) else {
                        continue;
                    };
                    for &(_, y) in starts.iter().chain(&promotes) {
                        self.edge(Some(f), Some(y));
                    }
                }
            }
        }
        // Group members: starts in order, stops in reverse.
        for r in &cx.p.resources {
            let halo_model::ResourceKind::Group(members) = &r.kind else {
                continue;
            };
            let per_node = r.clone.is_some();
            for w in members.windows(2) {
                let [a, b] = w else { continue };
                self.order_pair(*a, ActionKind::Start, *b, ActionKind::Start, per_node);
                self.order_pair(*b, ActionKind::Stop, *a, ActionKind::Stop, per_node);
            }
        }
        // Order constraints, and the inverse of each symmetrical one.
        for side in cx.order_sides() {
            let (first, then, interleave) = (side.first, side.then, side.interleave);
            let (fk, tk) = (kind_of(side.first_action), kind_of(side.then_action));
            // An order on a group binds every member: the group as a whole starts
            // after its predecessor and stops before it.
            let (fl, tl) = (cx.leaves(first), cx.leaves(then));
            for &f in &fl {
                for &t in &tl {
                    self.order_pair(f, fk, t, tk, interleave);
                }
            }
        }
    }

    fn order_pair(&mut self, a: RscId, ak: ActionKind, b: RscId, bk: ActionKind, same_node: bool) {
        let (xs, ys) = (self.all(a, ak), self.all(b, bk));
        for &(n, x) in &xs {
            for &(m, y) in &ys {
                if !same_node || n == m {
                    self.edge(Some(x), Some(y));
                }
            }
        }
    }
}

/// A resource's instances as (node, copy, role now, role wanted): on each
/// node the current and wanted roles, highest first, are paired (a node may
/// hold several instances of a clone); `Stopped` where there is none. Each
/// list is grouped by node once: a resource may have thousands of instances.
fn pair_instances(
    now: &[(usize, Role)],
    wanted: &[(usize, Role)],
) -> Vec<(usize, usize, Role, Role)> {
    let by_node = |list: &[(usize, Role)]| {
        let mut m: BTreeMap<usize, Vec<Role>> = BTreeMap::new();
        for &(n, r) in list {
            m.entry(n).or_default().push(r);
        }
        m.values_mut()
            .for_each(|v| v.sort_by_key(|r| std::cmp::Reverse(*r)));
        m
    };
    let (a, b) = (by_node(now), by_node(wanted));
    let mut nodes: Vec<usize> = a.keys().chain(b.keys()).copied().collect();
    nodes.sort_unstable();
    nodes.dedup();
    let mut out = Vec::new();
    for n in nodes {
        let (x, y) = (a.get(&n), b.get(&n));
        let len = x.map_or(0, Vec::len).max(y.map_or(0, Vec::len));
        for i in 0..len {
            let role =
                |v: Option<&Vec<Role>>| v.and_then(|v| v.get(i)).copied().unwrap_or(Role::Stopped);
            out.push((n, i, role(x), role(y)));
        }
    }
    out
}

fn kind_of(a: OpAction) -> ActionKind {
    match a {
        OpAction::Start => ActionKind::Start,
        OpAction::Stop => ActionKind::Stop,
        OpAction::Promote => ActionKind::Promote,
        OpAction::Demote => ActionKind::Demote,
        OpAction::Monitor => ActionKind::Monitor,
        OpAction::Reload => ActionKind::Reload,
    }
}
