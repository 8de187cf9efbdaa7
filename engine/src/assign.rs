//! Assignment: choose nodes (and roles) for every resource.
//!
//! Units (top-level primitives, groups, clones) are assigned in priority order,
//! then declaration order. Before a unit is assigned, the units it is colocated
//! with are assigned (so it can follow them), and the preferences of the units
//! colocated with it are folded into its scores (so it can go where they want to
//! be). A node's score is the sum of its parts; the best node wins, ties going to
//! the node the resource already runs on, then to the node with fewer resources
//! assigned, then to the node whose name sorts first.

use crate::ctx::Ctx;
use crate::plan::{Contribution, NodeScore, Source};
use halo_model::{
    CloneSpec, ConstraintKind, LocationTarget, NoQuorumPolicy, OpAction, PlacementStrategy,
    ResourceKind, Role, RscId, Score, TargetRole,
};
use std::collections::BTreeMap;

mod dependents;
mod instances;
mod orders;

/// Per-node scores with their parts, indexed like `Ctx::nodes`.
#[derive(Clone, Default)]
pub(crate) struct Scores {
    pub parts: Vec<Vec<Contribution>>,
}

impl Scores {
    fn new(n: usize) -> Scores {
        Scores {
            parts: vec![Vec::new(); n],
        }
    }

    pub fn add(&mut self, node: usize, score: Score, source: Source) {
        if let Some(p) = self.parts.get_mut(node) {
            p.push(Contribution { score, source });
        }
    }

    pub fn total(&self, node: usize) -> Score {
        self.parts.get(node).map_or(Score::NEG_INF, |p| {
            p.iter().fold(Score::ZERO, |acc, c| acc + c.score)
        })
    }

    /// Where each node's parts end now, to undo what is added after.
    pub fn mark(&self) -> Vec<usize> {
        self.parts.iter().map(Vec::len).collect()
    }

    /// Drops the parts added since `mark`.
    pub fn rollback(&mut self, mark: &[usize]) {
        for (p, &len) in self.parts.iter_mut().zip(mark) {
            p.truncate(len);
        }
    }

    /// The node's total without the parts `skip` picks out.
    pub fn total_except(&self, node: usize, skip: impl Fn(&Contribution) -> bool) -> Score {
        self.parts.get(node).map_or(Score::NEG_INF, |p| {
            p.iter()
                .filter(|c| !skip(c))
                .fold(Score::ZERO, |acc, c| acc + c.score)
        })
    }

    pub fn runnable(&self, node: usize) -> bool {
        let t = self.total(node);
        !t.is_neg_inf() && t >= Score::ZERO
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    NotYet,
    Busy,
    Done,
}

/// The outcome for one resource.
#[derive(Clone, Default)]
pub(crate) struct Target {
    /// (node index, role) of each instance.
    pub instances: Vec<(usize, Role)>,
    pub scores: Scores,
    pub promotion: Option<Scores>,
    pub unplaced: Option<String>,
    pub order: usize,
    /// Left as it is (a member, or the unit it belongs to, is blocked).
    pub blocked: bool,
    /// Where it would run if a mandatory order did not hold it back.
    pub held: Vec<usize>,
    /// Where it would stop if a mandatory order did not keep it running: its
    /// stop must follow an action that cannot happen (the stop of a blocked
    /// resource, a start that will not happen).
    pub stop_held: Vec<usize>,
    /// Why its stop is held (with `stop_held`).
    pub stop_held_why: Option<String>,
    /// Clone instances that leave one node for another: (from, to), as the
    /// distribution paired them (Pacemaker keeps each instance's identity).
    pub moves: Vec<(usize, usize)>,
    /// Nodes whose instance stays unpromoted only because what its
    /// promotion needs will not happen.
    pub promote_held: Vec<usize>,
    /// New instances by node, with their rank among the instances not
    /// running: their numbers follow the running ones' in that order.
    pub new_rank: Vec<(usize, usize)>,
    /// Nodes whose active instance is an orphan (found beyond clone-max):
    /// it stops there even where an instance is placed, which then starts.
    pub orphans: Vec<usize>,
}

/// Where a clone's instances go (see `Target`).
#[derive(Default)]
struct CloneNodes {
    instances: Vec<(usize, Role)>,
    moves: Vec<(usize, usize)>,
    new_rank: Vec<(usize, usize)>,
    orphans: Vec<usize>,
}

pub(crate) struct Assigner<'c, 'a> {
    cx: &'c Ctx<'a>,
    progress: Vec<Progress>,
    /// A unit's scores while it is being assigned, as far as they go.
    partial: Vec<Option<Scores>>,
    pub targets: Vec<Target>,
    load: Vec<u32>,
    /// What each node has left to offer (placement strategies other than
    /// default): its capacity less what was assigned to it in this plan.
    remaining: Vec<BTreeMap<String, i64>>,
    counter: usize,
    /// How many more node scores the dependents' walks may add in this plan
    /// (see [`MAX_WEIGHING`]).
    weighing_left: std::cell::Cell<u64>,
    /// Whether a walk stopped at that bound.
    weighing_cut: std::cell::Cell<bool>,
}

/// The most node scores the dependents' walks of one plan add (each merge
/// counted as its nodes plus eight, for its fixed cost). Pacemaker
/// follows every path of colocations to the end, which takes time quadratic in
/// a chain's length and exponential in a web of loops (`crm_simulate` does not
/// finish on 1,000 resources with 1,500 colocations among them); past this
/// bound the walks stop, the plan says so, and planning stays within seconds.
pub(crate) const MAX_WEIGHING: u64 = 20_000_000;

/// Why a stop ordered after a blocked resource's stop is held.
const BEHIND_BLOCKED_STOP: &str = "its stop is ordered after the stop of a blocked resource";

/// What [`Assigner::run`] decided.
pub(crate) struct Assigned {
    pub targets: Vec<Target>,
    /// The dependents' walks stopped at [`MAX_WEIGHING`].
    pub weighing_cut: bool,
}

impl<'c, 'a> Assigner<'c, 'a> {
    pub fn run(cx: &'c Ctx<'a>) -> Assigned {
        let n = cx.p.resources.len();
        let mut a = Assigner {
            cx,
            progress: vec![Progress::NotYet; n],
            partial: vec![None; n],
            targets: vec![Target::default(); n],
            load: vec![0; cx.nodes.len()],
            remaining: cx
                .nodes
                .iter()
                .map(|n| {
                    cx.p.cluster
                        .nodes
                        .iter()
                        .find(|s| s.name == n.name)
                        .map(|s| s.capacity.clone())
                        .unwrap_or_default()
                })
                .collect(),
            counter: 0,
            weighing_left: std::cell::Cell::new(MAX_WEIGHING),
            weighing_cut: std::cell::Cell::new(false),
        };
        let mut units: Vec<RscId> = (0..n)
            .map(|i| RscId(u32::try_from(i).unwrap_or(u32::MAX)))
            .filter(|id| cx.p.resource(*id).is_some_and(|r| r.parent.is_none()))
            .collect();
        // Stable sort: equal priorities keep declaration order.
        units.sort_by_key(|id| std::cmp::Reverse(cx.p.meta(*id, |m| m.priority).unwrap_or(0)));
        if cx.p.cluster.strategy != PlacementStrategy::Default {
            a.sort_for_utilization(&mut units);
        }
        for u in units {
            a.assign(u);
        }
        a.enforce_mandatory_orders();
        a.hold_stops_behind_blocked();
        Assigned {
            weighing_cut: a.weighing_cut.get(),
            targets: a.targets,
        }
    }

    /// The key Pacemaker sorts a resource's colocation primaries by (see
    /// `assign`): smaller goes first.
    fn primary_rank(&self, id: RscId) -> (std::cmp::Reverse<i64>, u8, bool, &str) {
        let r = self.cx.p.resource(id);
        let priority = self.cx.p.meta(id, |m| m.priority).unwrap_or(0);
        let (variant, promotable) = match r {
            Some(r) if r.clone.is_some() => (0, !r.is_promotable()),
            Some(r) if matches!(r.kind, halo_model::ResourceKind::Group(_)) => (1, true),
            _ => (2, true),
        };
        (
            std::cmp::Reverse(priority),
            variant,
            promotable,
            self.cx.name(id),
        )
    }

    /// The colocations `u` follows, each with its primary, in the order
    /// Pacemaker applies them: its "this with" list, kept sorted by
    /// `cmp_primary_priority` as each is inserted before its equals
    /// (`pcmk__add_this_with`). A group's own list is moved into its first
    /// member's when the group is assigned (`expand_group_colocations`),
    /// inserted again one by one after the member's own, so colocations
    /// of a group with one primary apply in declaration order. The later
    /// members' colocations come after the first member's.
    fn primaries_in_order(&self, u: RscId) -> Vec<(&'c halo_model::Constraint, RscId)> {
        // The unit's colocations, or only those whose dependent is `d`.
        let of = |d: Option<RscId>| -> Vec<(&'c halo_model::Constraint, RscId)> {
            self.cx
                .colocations_of_dependent(u)
                .filter_map(|c| match &c.kind {
                    ConstraintKind::Colocation {
                        dependent, primary, ..
                    } if d.is_none_or(|d| *dependent == d) && self.unit(*primary) != u => {
                        Some((c, *primary))
                    }
                    _ => None,
                })
                .collect()
        };
        let insert = |list: &mut Vec<(&'c halo_model::Constraint, RscId)>,
                      item: (&'c halo_model::Constraint, RscId)| {
            let key = self.primary_rank(item.1);
            let at = list
                .iter()
                .position(|(_, p)| key <= self.primary_rank(*p))
                .unwrap_or(list.len());
            list.insert(at, item);
        };
        let sorted = |items: Vec<(&'c halo_model::Constraint, RscId)>| {
            let mut list = Vec::new();
            for item in items {
                insert(&mut list, item);
            }
            list
        };
        let is_group = self
            .cx
            .p
            .resource(u)
            .is_some_and(|r| r.clone.is_none() && matches!(r.kind, ResourceKind::Group(_)));
        let leaves = self.cx.leaves(u);
        if !is_group || leaves.is_empty() {
            // A primitive or a clone: every colocation of the unit at once.
            return sorted(of(None));
        }
        let mut list = sorted(of(Some(leaves[0])));
        for item in sorted(of(Some(u))) {
            insert(&mut list, item);
        }
        for m in &leaves[1..] {
            list.extend(sorted(of(Some(*m))));
        }
        list
    }

    fn unit(&self, id: RscId) -> RscId {
        self.cx.unit.get(id.index()).copied().unwrap_or(id)
    }

    fn assign(&mut self, u: RscId) {
        if self.progress.get(u.index()) != Some(&Progress::NotYet) {
            return;
        }
        if let Some(p) = self.progress.get_mut(u.index()) {
            *p = Progress::Busy;
        }
        // Pacemaker assigns the resources a resource is colocated with in the
        // order of its "this with" list (`cmp_primary_priority` in
        // pcmk_sched_colocation.c): higher priority first, then clones before
        // groups before primitives, promotable clones before others, then by
        // name; equal ones in reverse declaration order (each new one is
        // inserted before its equals, `g_list_insert_sorted`). Each
        // is assigned and its colocation applied before the next one
        // (`apply_this_with`), so a dependent merged meanwhile shows the
        // scores applied so far. The dependents' preferences come last.
        let primaries = self.primaries_in_order(u);
        let mut scores = self.base_scores(u);
        for (c, primary) in primaries {
            // Lent to the merges that reach `u` while its primary is assigned.
            let slot = u.index();
            if let Some(p) = self.partial.get_mut(slot) {
                *p = Some(scores);
            }
            self.assign(self.unit(primary));
            let back = self.partial.get_mut(slot).and_then(Option::take);
            debug_assert!(back.is_some(), "the partial scores of a unit come back");
            scores = back.unwrap_or_else(|| self.base_scores(u));
            self.apply_primary(u, c, &mut scores, false);
        }
        self.add_dependents(u, &mut scores, None);
        let prefer = if self.cx.p.cluster.strategy == PlacementStrategy::Default {
            None
        } else {
            self.ban_insufficient_capacity(u, &mut scores)
        };
        let mut target = Target {
            order: self.counter,
            ..Target::default()
        };
        self.counter += 1;
        let why_not = self.why_not_run(u);
        let pinned = self.pinned_by_blocked_member(u);
        if let Some((n, _)) = pinned {
            // The group stays where its blocked member is (if it may run).
            match &why_not {
                Some(why) => target.unplaced = Some(why.clone()),
                None if scores.runnable(n) => target.instances = vec![(n, Role::Started)],
                None => {
                    target.unplaced = Some(format!("{} cannot run its group", self.cx.node_name(n)))
                }
            }
        } else if let Some(blocked) = self.blocked(u) {
            target.instances = self.current_instances(u);
            target.unplaced = Some(blocked);
            target.blocked = true;
        } else if let Some(why) = why_not {
            target.unplaced = Some(why);
        } else if self.cx.clone_of(u).is_some() {
            let nodes = self.choose_clone_nodes(u, &scores);
            target.instances = nodes.instances;
            target.moves = nodes.moves;
            target.new_rank = nodes.new_rank;
            target.orphans = nodes.orphans;
        } else if let Some(n) = prefer
            .filter(|&p| {
                scores.runnable(p)
                    && (0..self.cx.nodes.len())
                        .filter(|&x| scores.runnable(x))
                        .all(|x| scores.total(x) <= scores.total(p))
            })
            .or_else(|| self.best_node(u, &scores))
        {
            target.instances = vec![(n, Role::Started)];
        } else {
            target.unplaced = Some("no node can run it".to_string());
        }
        if self.cx.p.resource(u).is_some_and(|r| r.is_promotable()) && target.unplaced.is_none() {
            let (promo, inst) = self.promote(u, &target, &scores);
            target.promotion = Some(promo);
            target.instances = inst;
        }
        if target.instances.is_empty() && target.unplaced.is_none() {
            target.unplaced = Some("no node can run it".to_string());
        }
        // Without quorum, where it would start is still worth telling
        // (Pacemaker assigns it and lists the start as blocked).
        // Under `freeze`, one that runs nowhere is assigned as usual too,
        // and its start is what is blocked (`update_resource_action_runnable`:
        // "quorum freeze").
        let wanted = self.cx.p.meta(u, |m| m.target_role) != Some(TargetRole::Stopped);
        let frozen_idle = self.cx.freeze_blocks_starts(u) && self.current_instances(u).is_empty();
        let held = if !wanted || target.blocked || self.cx.clone_of(u).is_some() {
            None
        } else if self.cx.quorum_blocks_starts(u) {
            self.best_node(u, &scores)
        } else if frozen_idle {
            let mut open = scores.clone();
            for p in &mut open.parts {
                p.retain(|c| c.source != Source::NoQuorum);
            }
            let n = self.best_node(u, &open);
            if n.is_some() {
                target.unplaced =
                    Some("the cluster has no quorum (no-quorum-policy freeze)".to_string());
            }
            n
        } else {
            None
        };
        target.scores = scores;
        self.set_members(u, &target);
        if let Some((n, b)) = pinned {
            self.hold_members_before(u, n, b);
        }
        if let Some(t) = self.targets.get_mut(u.index()) {
            *t = target;
        }
        if let Some(n) = held {
            for m in self.cx.leaves(u).into_iter().chain(std::iter::once(u)) {
                let idle = self
                    .cx
                    .rsc
                    .get(m.index())
                    .is_some_and(|i| i.current.is_empty());
                if let Some(t) = self.targets.get_mut(m.index()).filter(|_| idle) {
                    t.held = vec![n];
                    // Assigned there, as far as later ties go
                    // (`num_resources` in `compare_nodes`).
                    if m != u || self.cx.leaves(u) == [u] {
                        if let Some(l) = self.load.get_mut(n) {
                            *l += 1;
                        }
                    }
                }
            }
        }
        if let Some(p) = self.progress.get_mut(u.index()) {
            *p = Progress::Done;
        }
    }

    /// Group members follow the group: all of them on the group's nodes, except
    /// that a member that may not run stops itself and every member after it.
    fn set_members(&mut self, u: RscId, t: &Target) {
        let leaves = self.cx.leaves(u);
        let grouped = leaves.len() > 1 || leaves.first() != Some(&u);
        let mut stopped: Option<String> = None;
        for m in leaves {
            let mut mt = Target {
                order: t.order,
                scores: t.scores.clone(),
                blocked: t.blocked,
                ..Target::default()
            };
            if stopped.is_none() && grouped {
                if let Some(why) = self.member_stopped(m) {
                    stopped = Some(why);
                }
            }
            // A member that may not run where its group goes stops there, and
            // so do the members after it.
            if stopped.is_none() && grouped && !t.blocked && self.cx.clone_of(u).is_none() {
                if let Some(&(n, _)) = t.instances.first() {
                    let mut own = Scores::new(self.cx.nodes.len());
                    let mut unused = vec![false; self.cx.nodes.len()];
                    self.constraint_scores(m, &mut own, &mut unused);
                    self.failure_scores(m, &mut own);
                    if own.total(n).is_neg_inf() {
                        stopped = Some(format!(
                            "{} may not run on {}",
                            self.cx.name(m),
                            self.cx.node_name(n)
                        ));
                    }
                }
            }
            match &stopped {
                _ if t.blocked => {
                    // A blocked unit stays exactly as it is, member by member.
                    mt.instances = self
                        .cx
                        .rsc
                        .get(m.index())
                        .map(|i| i.current.clone())
                        .unwrap_or_default();
                    mt.unplaced = t.unplaced.clone();
                }
                Some(why) => mt.unplaced = Some(why.clone()),
                None => {
                    mt.instances = t.instances.clone();
                    mt.unplaced = t.unplaced.clone();
                    mt.moves = t.moves.clone();
                    mt.orphans = t.orphans.clone();
                }
            }
            for (n, _) in &mt.instances {
                if let Some(l) = self.load.get_mut(*n) {
                    *l += 1;
                }
                self.consume(m, *n);
            }
            if grouped {
                if let Some(slot) = self.targets.get_mut(m.index()) {
                    *slot = mt;
                }
            }
        }
    }

    /// For a group (not cloned) with a running member left as it is: that
    /// member's node and position. The group is not blocked as a whole: the
    /// members after it stop before it and may do so, the ones before it may
    /// not stop (`hold_members_before`).
    fn pinned_by_blocked_member(&self, u: RscId) -> Option<(usize, usize)> {
        if self.cx.clone_of(u).is_some() {
            return None;
        }
        let Some(halo_model::ResourceKind::Group(members)) = self.cx.p.resource(u).map(|r| &r.kind)
        else {
            return None;
        };
        members.iter().enumerate().find_map(|(b, m)| {
            let info = self.cx.rsc.get(m.index())?;
            info.blocked.as_ref()?;
            match info.current[..] {
                [(n, _)] => Some((n, b)),
                _ => None,
            }
        })
    }

    /// Members before a blocked one stop only after it does, which cannot
    /// happen: one that would stop (or restart, because a member before it
    /// starts) stays where it is, its stop held.
    fn hold_members_before(&mut self, u: RscId, n: usize, b: usize) {
        let members = self.cx.leaves(u);
        let mut earlier_starts = false;
        for &m in members.iter().take(b) {
            let runs_here = self
                .cx
                .rsc
                .get(m.index())
                .is_some_and(|i| i.current.iter().any(|(c, _)| *c == n));
            let Some(t) = self.targets.get_mut(m.index()) else {
                continue;
            };
            let stays = t.instances.iter().any(|(c, _)| *c == n);
            if runs_here && (!stays || earlier_starts) {
                t.instances = vec![(n, Role::Started)];
                t.stop_held = vec![n];
                t.stop_held_why = Some(BEHIND_BLOCKED_STOP.to_string());
            } else if !runs_here && stays {
                earlier_starts = true;
            }
        }
    }

    fn member_stopped(&self, m: RscId) -> Option<String> {
        let r = self.cx.p.resource(m)?;
        if r.meta.target_role == Some(TargetRole::Stopped) {
            return Some(format!("{} has target-role stopped", r.name));
        }
        let info = self.cx.rsc.get(m.index())?;
        if let Some(why) = &info.stop_wanted {
            return Some(why.clone());
        }
        // Left as it is, and stopped: it stays stopped.
        if let Some(why) = info.blocked.as_ref().filter(|_| info.current.is_empty()) {
            if self.cx.clone_of(m).is_none() {
                return Some(format!("{} stays stopped ({why})", r.name));
            }
        }
        None
    }

    /// A unit is left as it is when a member that runs is (a stopped member
    /// left as it is only stops the members after it).
    fn blocked(&self, u: RscId) -> Option<String> {
        let clone = self.cx.clone_of(u).is_some();
        self.cx.leaves(u).into_iter().find_map(|m| {
            self.cx
                .rsc
                .get(m.index())
                .filter(|i| clone || !i.current.is_empty())
                .and_then(|i| i.blocked.clone())
        })
    }

    fn why_not_run(&self, u: RscId) -> Option<String> {
        let r = self.cx.p.resource(u)?;
        if self.cx.p.meta(u, |m| m.target_role) == Some(TargetRole::Stopped) {
            return Some("target-role is stopped".to_string());
        }
        if self.cx.quorum_blocks_starts(u) {
            return Some("the cluster has no quorum".to_string());
        }
        if r.parent.is_none() && self.cx.leaves(u).len() == 1 && self.member_stopped(u).is_some() {
            return self.member_stopped(u);
        }
        None
    }

    /// Active instances now, as (node, role), for resources left as they are.
    fn current_instances(&self, u: RscId) -> Vec<(usize, Role)> {
        let leaves = self.cx.leaves(u);
        let first = leaves.first().copied().unwrap_or(u);
        self.cx
            .rsc
            .get(first.index())
            .map(|i| i.current.clone())
            .unwrap_or_default()
    }

    /// Scores from the unit itself: node availability, location constraints,
    /// fail counts and stickiness, summed over a group's members.
    pub fn base_scores(&self, u: RscId) -> Scores {
        let cx = self.cx;
        let mut s = self.node_bans(&cx.leaves(u));
        let mut allowed_by_location = vec![false; cx.nodes.len()];
        let leaves: Vec<RscId> = cx.leaves(u).into_iter().filter(|m| *m != u).collect();
        // The unit's own constraints, then each member's. A group member whose
        // preferences would leave the group nowhere to run is left out, and so
        // are the members after it (they follow it): the group runs without
        // them, as Pacemaker places a group by its first member.
        self.constraint_scores(u, &mut s, &mut allowed_by_location);
        let mut parts: Vec<Scores> = Vec::new();
        for &m in &leaves {
            let mut part = Scores::new(cx.nodes.len());
            self.constraint_scores(m, &mut part, &mut allowed_by_location);
            parts.push(part);
        }
        if leaves.is_empty() {
            self.failure_scores(u, &mut s);
        }
        let grouped = leaves.len() > 1;
        for (i, (&m, part)) in leaves.iter().zip(parts).enumerate() {
            let mut with = s.clone();
            for (ni, contributions) in part.parts.into_iter().enumerate() {
                for c in contributions {
                    with.add(ni, c.score, c.source);
                }
            }
            self.failure_scores(m, &mut with);
            let runnable = |x: &Scores| (0..cx.nodes.len()).any(|n| x.runnable(n));
            if grouped && i > 0 && runnable(&s) && !runnable(&with) {
                break;
            }
            s = with;
        }
        self.opt_in(&mut s, &allowed_by_location);
        s
    }

    /// The scores Pacemaker keeps for one group member on its own (its
    /// `allowed_nodes`): the member's location constraints, failures and
    /// stickiness, and for the first member the group's location constraints
    /// (`pcmk__group_apply_location` gives the later members the group's
    /// constraints at score 0: they follow the first one).
    fn member_scores(&self, group: RscId, m: RscId) -> Scores {
        let mut s = self.node_bans(&[m]);
        let mut allowed = vec![false; self.cx.nodes.len()];
        if self.cx.leaves(group).first() == Some(&m) {
            self.constraint_scores(group, &mut s, &mut allowed);
        } else {
            let mut at_zero = Scores::new(self.cx.nodes.len());
            self.constraint_scores(group, &mut at_zero, &mut allowed);
        }
        self.constraint_scores(m, &mut s, &mut allowed);
        self.failure_scores(m, &mut s);
        self.opt_in(&mut s, &allowed);
        s
    }

    /// Nodes nothing may run on: unavailable ones, and without quorum under
    /// `no-quorum-policy freeze`, those where none of `here` runs.
    fn node_bans(&self, here: &[RscId]) -> Scores {
        let cx = self.cx;
        let mut s = Scores::new(cx.nodes.len());
        // Without quorum under `freeze`, nothing may go up a role
        // (`pcmk__primitive_assign`): what is stopped stays stopped, but what
        // runs may still move within the partition. A clone's instances stay
        // where they run (no instance may start), and so does everything
        // while an unclean node cannot be fenced (Pacemaker's finer rule:
        // starts that need fencing wait for it).
        let frozen = !cx.may_start() && cx.p.cluster.no_quorum_policy == NoQuorumPolicy::Freeze;
        let runs_on: Vec<usize> = here
            .iter()
            .filter_map(|m| cx.rsc.get(m.index()))
            .flat_map(|i| i.current.iter().map(|(n, _)| *n))
            .collect();
        let stays_put = here.iter().any(|m| cx.clone_of(*m).is_some())
            || cx
                .nodes
                .iter()
                .any(|n| n.status == halo_model::NodeStatus::Unclean && !n.fenceable);
        for (ni, node) in cx.nodes.iter().enumerate() {
            if let Some(why) = node.unavailable() {
                s.add(
                    ni,
                    Score::NEG_INF,
                    Source::NodeUnavailable {
                        why: format!("{} {why}", node.name),
                    },
                );
            }
            let may_be_here = if stays_put {
                runs_on.contains(&ni)
            } else {
                !runs_on.is_empty()
            };
            if frozen && !may_be_here {
                s.add(ni, Score::NEG_INF, Source::NoQuorum);
            }
        }
        s
    }

    /// In an opt-in cluster, a node no location constraint allows is banned.
    fn opt_in(&self, s: &mut Scores, allowed_by_location: &[bool]) {
        if !self.cx.p.cluster.symmetric {
            for (ni, allowed) in allowed_by_location.iter().enumerate() {
                if !allowed {
                    s.add(ni, Score::NEG_INF, Source::OptIn);
                }
            }
        }
    }

    /// Location constraints and operator moves of `m`.
    fn constraint_scores(&self, m: RscId, s: &mut Scores, allowed_by_location: &mut [bool]) {
        let cx = self.cx;
        for c in cx.locations(m) {
            let ConstraintKind::Location { target, score, .. } = &c.kind else {
                continue;
            };
            for (ni, node) in cx.nodes.iter().enumerate() {
                let hit = match target {
                    LocationTarget::Nodes(ns) => ns.contains(&node.name),
                    LocationTarget::Rule(rule) => rule.eval(&node.name, &node.attrs),
                };
                if hit {
                    let score = score.on(&node.attrs);
                    s.add(
                        ni,
                        score,
                        Source::Location {
                            origin: c.origin,
                            rsc: cx.name(m).to_string(),
                        },
                    );
                    if score >= Score::ZERO {
                        if let Some(a) = allowed_by_location.get_mut(ni) {
                            *a = true;
                        }
                    }
                }
            }
        }
        for oc in cx.s.operator.iter().filter(|o| o.rsc == cx.name(m)) {
            if let Some(ni) = cx.node_index(&oc.node) {
                s.add(
                    ni,
                    oc.score,
                    Source::Operator {
                        rsc: oc.rsc.clone(),
                    },
                );
                if oc.score >= Score::ZERO {
                    if let Some(a) = allowed_by_location.get_mut(ni) {
                        *a = true;
                    }
                }
            }
        }
    }

    /// Fail counts, hard errors and stickiness of the primitive `m`.
    fn failure_scores(&self, m: RscId, s: &mut Scores) {
        let cx = self.cx;
        let Some(info) = cx.rsc.get(m.index()) else {
            return;
        };
        let threshold =
            cx.p.meta(m, |x| x.migration_threshold)
                .unwrap_or(halo_model::FailCount::INFINITE);
        for (&ni, &count) in &info.failcount {
            if threshold > 0 && count >= threshold {
                s.add(
                    ni,
                    Score::NEG_INF,
                    Source::FailCount {
                        rsc: cx.name(m).to_string(),
                        count,
                        threshold,
                    },
                );
            }
        }
        for &(ni, rc) in &info.banned {
            s.add(
                ni,
                Score::NEG_INF,
                Source::HardError {
                    rsc: cx.name(m).to_string(),
                    rc,
                },
            );
        }
        // A resource left as it is (unmanaged, or blocked by a failure) is
        // held wherever it is active (`native_add_running` gives it INFINITY
        // there), and what must run with it is drawn there through it.
        if info.blocked.is_some() && cx.clone_of(m).is_none() {
            for &(ni, _) in &info.current {
                s.add(
                    ni,
                    Score::INF,
                    Source::Unmanaged {
                        rsc: cx.name(m).to_string(),
                    },
                );
            }
        }
        // Stickiness holds a resource active on exactly one node there, failed
        // or not (a failure below the threshold is recovered in place). A
        // clone's goes to each instance, not to the clone's own scores
        // (`apply_stickiness`): the distribution weighs it.
        let stickiness = cx.p.meta(m, |x| x.stickiness).unwrap_or(Score::ZERO);
        if stickiness > Score::ZERO && cx.clone_of(m).is_none() {
            if let [(ni, _)] = info.current[..] {
                s.add(
                    ni,
                    stickiness,
                    Source::Stickiness {
                        rsc: cx.name(m).to_string(),
                    },
                );
            }
        }
    }

    /// Applies colocations in which `u` follows an already assigned unit. With
    /// `promotion`, only those that apply to `u`'s promoted role.
    fn apply_primaries(&self, u: RscId, s: &mut Scores, promotion: bool) {
        for c in self.cx.colocations_of_dependent(u) {
            self.apply_primary(u, c, s, promotion);
        }
    }

    /// Applies one colocation in which `u` follows an already assigned unit.
    /// A finite negative one (or one for `u`'s promoted role) that would
    /// leave `u` no node at all is undone (`apply_this_with`).
    fn apply_primary(&self, u: RscId, c: &halo_model::Constraint, s: &mut Scores, promotion: bool) {
        let ConstraintKind::Colocation {
            dependent,
            dependent_role,
            primary,
            primary_role,
            score,
            node_attribute,
        } = &c.kind
        else {
            return;
        };
        if self.unit(*dependent) != u || self.unit(*primary) == u {
            return;
        }
        if promotion != (*dependent_role == Some(Role::Promoted)) {
            return;
        }
        // A primary still being assigned is a colocation loop: the
        // constraint that closes the loop is left out, as Pacemaker does.
        if self.progress.get(self.unit(*primary).index()) != Some(&Progress::Done) {
            return;
        }
        let Some(pt) = self.targets.get(primary.index()) else {
            return;
        };
        let revertible = promotion || (*score < Score::ZERO && !score.is_neg_inf());
        let archive = revertible.then(|| s.mark());
        // A clone instance left alone after a failure is no instance to
        // be with, when the dependent must be with one.
        let failed_here = |ni: usize| {
            score.is_inf()
                && self.cx.clone_of(*primary).is_some()
                && self.cx.leaves(*primary).iter().any(|m| {
                    self.cx
                        .rsc
                        .get(m.index())
                        .is_some_and(|i| i.blocked_on.contains(&ni))
                })
        };
        // How many of the primary's instances (in the wanted role) each
        // node gets: a finite score counts once per instance, as Pacemaker
        // applies it instance by instance (`pcmk__clone_apply_coloc_score`).
        // A primary that may not start for want of quorum is still assigned
        // in Pacemaker (its start is what is blocked): its dependents follow
        // it there, and are blocked in turn.
        let held: Vec<(usize, Role)> = pt.held.iter().map(|n| (*n, Role::Started)).collect();
        let placed = if pt.instances.is_empty() {
            &held
        } else {
            &pt.instances
        };
        let by = self.colocated_by(*primary, *score, *primary_role, promotion, node_attribute);
        let count_on: Vec<usize> = (0..self.cx.nodes.len())
            .map(|ni| {
                if failed_here(ni) {
                    return 0;
                }
                placed
                    .iter()
                    .filter(|(n, r)| {
                        self.cx.same_place(by, *n, ni)
                            && match primary_role {
                                None | Some(Role::Started) => true,
                                Some(want) => r == want,
                            }
                    })
                    .count()
            })
            .collect();
        let on: Vec<bool> = count_on.iter().map(|c| *c > 0).collect();
        let with = match primary_role {
            Some(r @ (Role::Promoted | Role::Unpromoted)) => {
                format!("{}.{r}", self.cx.name(*primary))
            }
            _ => self.cx.name(*primary).to_string(),
        };
        let with = match by {
            Some(attr) => format!("{with} by {attr}"),
            None => with,
        };
        // A promotion colocated for good with a primitive, group or
        // promotable clone where it runs gets its score there, infinity
        // included (`pcmk__apply_coloc_to_priority`); a plain clone's
        // instances add nothing to it.
        let adds_inf = promotion
            && self
                .cx
                .clone_of(*primary)
                .and_then(|c| self.cx.p.resource(c))
                .is_none_or(|r| r.is_promotable());
        for (ni, here) in on.iter().enumerate() {
            let v = if score.is_inf() {
                match (*here, adds_inf) {
                    (true, true) => *score,
                    (true, false) => Score::ZERO,
                    (false, _) => Score::NEG_INF,
                }
            } else if *here {
                (0..count_on[ni]).fold(Score::ZERO, |t, _| t + *score)
            } else {
                Score::ZERO
            };
            if v != Score::ZERO {
                s.add(
                    ni,
                    v,
                    Source::Colocation {
                        origin: c.origin,
                        with: with.clone(),
                    },
                );
            }
        }
        if let Some(archive) = archive {
            if !(0..self.cx.nodes.len()).any(|n| s.runnable(n)) {
                s.rollback(&archive);
            }
        }
        if *score > Score::ZERO
            && !score.is_inf()
            && matches!(primary_role, None | Some(Role::Started))
        {
            self.apply_inactive_primary(*primary, pt, s, c.origin, &with, *score);
        }
    }

    /// The node attribute by which a colocation places its dependent, where
    /// its primary is assigned: its own, except where Pacemaker matches a
    /// clone's instances node by node. A mandatory colocation with a clone
    /// allows exactly its instances' nodes (`pcmk__clone_apply_coloc_score`,
    /// `pcmk__update_dependent_with_promotable`: `node_list_exclude`), and a
    /// promotion colocated with a promotable clone's role looks for that
    /// role's instance on the dependent's own node (`find_compatible_child`).
    fn colocated_by<'k>(
        &self,
        primary: RscId,
        score: Score,
        primary_role: Option<Role>,
        promotion: bool,
        node_attribute: &'k Option<String>,
    ) -> Option<&'k str> {
        let by_instance = self.cx.clone_of(primary).is_some()
            && (score.is_inf()
                || (promotion && matches!(primary_role, Some(Role::Promoted | Role::Unpromoted))));
        if by_instance {
            None
        } else {
            node_attribute.as_deref()
        }
    }

    /// A finite positive colocation with a primary (or clone instance) that
    /// was assigned no node lowers every node by its score, one instance at
    /// a time, each undone if it would leave no node at all
    /// (`pcmk__apply_coloc_to_weights`, "primary inactive"). A clone has
    /// clone-max instances, one per configured node by default.
    fn apply_inactive_primary(
        &self,
        primary: RscId,
        pt: &Target,
        s: &mut Scores,
        origin: halo_model::Origin,
        with: &str,
        score: Score,
    ) {
        let inactive = match self
            .cx
            .p
            .resource(self.cx.clone_of(primary).unwrap_or(primary))
        {
            Some(r) if r.clone.is_some() => {
                let max = r
                    .clone
                    .as_ref()
                    .and_then(|c| c.max)
                    .map_or(self.cx.nodes.len(), |m| m as usize);
                max.saturating_sub(pt.instances.len())
            }
            Some(_) => usize::from(pt.instances.is_empty()),
            None => 0,
        };
        for _ in 0..inactive {
            let archive = s.mark();
            for ni in 0..self.cx.nodes.len() {
                s.add(
                    ni,
                    Score::new(-score.value()),
                    Source::Colocation {
                        origin,
                        with: format!("{with} (not running)"),
                    },
                );
            }
            if !(0..self.cx.nodes.len()).any(|n| s.runnable(n)) {
                s.rollback(&archive);
                // Each further one would be undone the same way.
                break;
            }
        }
    }

    /// The node for a single-instance unit. Nodes rank by score, then fewer
    /// resources assigned so far, then the current node, then name; but the
    /// current node wins any tie on the best score, unless the cluster spreads
    /// ties and that score is zero or less (Pacemaker's rule).
    fn best_node(&self, u: RscId, s: &Scores) -> Option<usize> {
        let current: Vec<(usize, Role)> = self.cx.current_node(u).into_iter().collect();
        let is_current = |n: usize| current.iter().any(|(c, _)| *c == n);
        let spread = self.cx.p.cluster.spread_ties;
        let strategy = self.cx.p.cluster.strategy;
        let mut order: Vec<usize> = (0..self.cx.nodes.len())
            .filter(|&n| s.runnable(n))
            .collect();
        // Best first: score; under balanced, more free capacity; fewer
        // resources so far; the current node; name. Minimal goes from score
        // straight to name, packing resources onto as few nodes as it can.
        merge_sort(&mut order, &|&a: &usize, &b: &usize| {
            let by_score = s.total(b).cmp(&s.total(a));
            if by_score != std::cmp::Ordering::Equal || strategy == PlacementStrategy::Minimal {
                return by_score.then(a.cmp(&b));
            }
            if strategy == PlacementStrategy::Balanced {
                let c = self.capacity_vote(a, b);
                if c != std::cmp::Ordering::Equal {
                    return c;
                }
            }
            let load = |n: usize| self.load.get(n).copied().unwrap_or(0);
            load(a)
                .cmp(&load(b))
                .then(is_current(b).cmp(&is_current(a)))
                .then(a.cmp(&b))
        });
        let best = *order.first()?;
        if (!spread || s.total(best) > Score::ZERO) && !is_current(best) {
            if let Some(&(c, _)) = current
                .iter()
                .find(|(c, _)| s.runnable(*c) && s.total(*c) == s.total(best))
            {
                return Some(c);
            }
        }
        Some(best)
    }

    /// Nodes for a clone's instances: up to clone-max, at most clone-node-max per
    /// node, best nodes first (ties: nodes that already run one, less load, name).
    /// Also the instances that move, (from, to), where the distribution
    /// tells them.
    fn choose_clone_nodes(&self, u: RscId, s: &Scores) -> CloneNodes {
        let Some(spec) = self.cx.p.resource(u).and_then(|r| r.clone.clone()) else {
            return CloneNodes::default();
        };
        let mut moves = Vec::new();
        let mut new_rank = Vec::new();
        let node_max = spec.node_max.max(1) as usize;
        // No more can run than every node's share: a larger clone-max means
        // the same, and bounds the work below.
        let max = spec
            .max
            .map_or(self.cx.nodes.len(), |m| m as usize)
            .min(self.cx.nodes.len().saturating_mul(node_max));
        let (current, orphans) = self.split_orphans(&spec, self.current_instances(u));
        let role = if spec.promotable {
            Role::Unpromoted
        } else {
            Role::Started
        };
        // Frozen instances stay where they are and count against clone-max.
        let frozen = self.frozen(u);
        let mut out: Vec<(usize, Role)> = frozen.clone();
        if node_max == 1 {
            let taken: Vec<usize> = frozen.iter().map(|(n, _)| *n).collect();
            let room = max.saturating_sub(out.len());
            let nodes = self.one_per_node(u, s, &current, &taken, room);
            moves.extend(
                nodes
                    .iter()
                    .filter_map(|p| p.from.filter(|f| *f != p.node).map(|f| (f, p.node))),
            );
            new_rank.extend(nodes.iter().filter_map(|p| p.new_rank.map(|k| (p.node, k))));
            out.extend(nodes.into_iter().map(|p| (p.node, role)));
        } else {
            // `several_per_node` picks its best node by its own key each time:
            // the candidates need no order.
            let runnable: Vec<usize> = (0..self.cx.nodes.len())
                .filter(|&n| s.runnable(n))
                .collect();
            let members = self.cx.leaves(u).len().max(1);
            let nodes =
                self.several_per_node(&out, &runnable, s, (max, node_max), members, &current);
            out.extend(nodes.into_iter().map(|n| (n, role)));
        }
        out.sort();
        CloneNodes {
            instances: out,
            moves,
            new_rank,
            orphans,
        }
    }

    /// The active instances of a clone that count as its instances, and the
    /// nodes of the orphans: for an anonymous clone, the first clone-max
    /// found count, the rest are orphans. Pacemaker gives each
    /// active instance it finds in the status the first instance number not
    /// yet active (`find_anonymous_clone`), so the numbers the status
    /// records do not count, and one found when all clone-max numbers are
    /// taken is an orphan, which stops wherever it runs. Halo finds them in
    /// node order (Pacemaker in the order its status lists the nodes).
    fn split_orphans(
        &self,
        spec: &CloneSpec,
        mut current: Vec<(usize, Role)>,
    ) -> (Vec<(usize, Role)>, Vec<usize>) {
        let max = spec.max.map_or(self.cx.nodes.len(), |m| m as usize);
        if spec.unique || current.len() <= max {
            return (current, Vec::new());
        }
        let orphans = current.split_off(max).into_iter().map(|(n, _)| n).collect();
        (current, orphans)
    }

    /// The nodes of a clone's instances, one per node, as Pacemaker
    /// distributes them (see `instances.rs`): each running instance weighs
    /// its own node with the clone's stickiness. Each node comes with the
    /// node of the running instance that took it.
    fn one_per_node(
        &self,
        u: RscId,
        s: &Scores,
        current: &[(usize, Role)],
        taken: &[usize],
        room: usize,
    ) -> Vec<instances::Placed> {
        let cx = self.cx;
        let leaves: Vec<RscId> = cx.leaves(u).into_iter().filter(|m| *m != u).collect();
        let members = if leaves.is_empty() { vec![u] } else { leaves };
        let first = members.first().copied().unwrap_or(u);
        // Each running instance adds its own stickiness on its node (the
        // members' for a cloned group).
        let stickiness = members
            .iter()
            .map(|&m| cx.p.meta(m, |x| x.stickiness).unwrap_or(Score::ZERO))
            .filter(|x| *x > Score::ZERO)
            .fold(Score::ZERO, |a, b| a + b);
        let failed: Vec<usize> = cx
            .rsc
            .get(first.index())
            .map(|i| i.recover.iter().map(|(n, _)| *n).collect())
            .unwrap_or_default();
        let name = cx.name(first).to_string();
        // Only a globally-unique clone's instances keep the numbers the
        // status gives them (see `split_orphans`).
        let unique =
            cx.p.resource(u)
                .and_then(|r| r.clone.as_ref())
                .is_some_and(|c| c.unique);
        let running: Vec<instances::Running> = current
            .iter()
            .map(|&(node, _)| instances::Running {
                node,
                number: cx
                    .nodes
                    .get(node)
                    .and_then(|x| cx.s.on(&name, &x.name))
                    .and_then(|r| r.instance)
                    .filter(|_| unique),
                failed: failed.contains(&node),
            })
            .collect();
        // An instance weighs nodes by its own scores: the clone's, but for
        // what the clone's dependents add, which only the clone's own node
        // order and the check that a node allows an instance see
        // (`pcmk__clone_allocate` merges them into the clone alone).
        // When every available node gets an instance, an instance sees only
        // the clone's colocations that ban or require (negative or
        // INFINITY): a finite preference would only shuffle instances
        // (`append_parent_colocation` when not `all_coloc`).
        let available = |n: usize| cx.nodes.get(n).is_some_and(|x| x.unavailable().is_none());
        let max =
            cx.p.resource(u)
                .and_then(|r| r.clone.as_ref())
                .and_then(|c| c.max)
                .map_or(cx.nodes.len(), |m| m as usize);
        let all_coloc = max < (0..cx.nodes.len()).filter(|&n| available(n)).count();
        let score = |n: usize| {
            s.total_except(n, |c| match c.source {
                Source::Dependent { .. } => true,
                Source::Colocation { .. } => {
                    !all_coloc && c.score > Score::ZERO && !c.score.is_inf()
                }
                _ => false,
            })
        };
        // An instance may run only where the clone's own score is not
        // negative (`can_run_instance`); its stickiness is not in it.
        let runnable = |n: usize| s.runnable(n);
        // Whether an instance's own node table allows a node when instances
        // are ordered (`Source::in_instance_table`).
        let allowed = |n: usize| {
            let t = s.total_except(n, |c| !c.source.in_instance_table());
            !t.is_neg_inf() && t >= Score::ZERO
        };
        let load = |n: usize| self.load.get(n).copied().unwrap_or(0);
        let promoted = |n: usize| {
            cx.nodes
                .get(n)
                .and_then(|x| self.reported_promotion(u, x))
                .map(Score::new)
        };
        let known = |n: usize| {
            cx.nodes
                .get(n)
                .is_some_and(|x| cx.s.on(&name, &x.name).is_some_and(|r| r.known()))
        };
        let promotion = instances::Promotion {
            score: &promoted,
            known: &known,
            available: &available,
        };
        let field = instances::Field {
            score: &score,
            runnable: &runnable,
            allowed: &allowed,
            load: &load,
            nodes: cx.nodes.len(),
            keep_ties: !cx.p.cluster.spread_ties,
            promotion: cx
                .p
                .resource(u)
                .is_some_and(|r| r.is_promotable())
                .then_some(&promotion),
        };
        instances::distribute(&field, &running, taken, room, stickiness)
    }

    /// Places clone instances one at a time when a node may hold several
    /// (Pacemaker's order): first each running instance on its node, up to an
    /// even share per node, then every other instance on the best node with
    /// room left, ties going to the node with fewer resources so far. Returns
    /// the nodes of the instances placed besides those `placed` already.
    ///
    /// Each instance adds its primitives to its node's load, as each
    /// assigned primitive counts among the node's resources when nodes
    /// tie (`pcmk__finalize_assignment`, `compare_nodes`).
    fn several_per_node(
        &self,
        placed: &[(usize, Role)],
        order: &[usize],
        s: &Scores,
        (max, node_max): (usize, usize),
        members: usize,
        current: &[(usize, Role)],
    ) -> Vec<usize> {
        let mut count = vec![0usize; self.cx.nodes.len()];
        for (n, _) in placed {
            if let Some(c) = count.get_mut(*n) {
                *c += 1;
            }
        }
        let room = max.saturating_sub(placed.len());
        let mut out: Vec<usize> = Vec::new();
        let share = (max / order.len().max(1)).max(1).min(node_max);
        for &(n, _) in current {
            if out.len() >= room {
                break;
            }
            if s.runnable(n) && count.get(n).is_some_and(|&c| c < share) {
                out.push(n);
                count[n] += 1;
            }
        }
        while out.len() < room {
            let load =
                |n: usize| self.load.get(n).copied().unwrap_or(0) as usize + count[n] * members;
            let Some(&best) = order
                .iter()
                .filter(|&&n| count[n] < node_max)
                .min_by_key(|&&n| (std::cmp::Reverse(s.total(n)), load(n), n))
            else {
                break;
            };
            out.push(best);
            count[best] += 1;
        }
        out
    }

    /// Instances of a clone that are left as they are, with their roles.
    fn frozen(&self, u: RscId) -> Vec<(usize, Role)> {
        let first = self.cx.leaves(u).first().copied().unwrap_or(u);
        self.cx
            .rsc
            .get(first.index())
            .map(|i| i.frozen.clone())
            .unwrap_or_default()
    }

    /// The promotion score the agent reported for the clone's instance on
    /// `node` (for a cloned group, the sum over its members that reported
    /// one; `promotion_score`).
    fn reported_promotion(&self, u: RscId, node: &crate::ctx::NodeInfo) -> Option<i64> {
        let cx = self.cx;
        let reported_by = |n: &str| {
            cx.s.on(n, &node.name)
                .and_then(|r| r.promotion)
                .or_else(|| {
                    node.attrs
                        .get(&format!("master-{n}"))
                        .and_then(|v| v.parse::<i64>().ok())
                })
        };
        std::iter::once(u)
            .chain(cx.leaves(u).into_iter().filter(|m| *m != u))
            .filter_map(|m| reported_by(cx.name(m)))
            .fold(None, |acc: Option<i64>, v| {
                Some(acc.unwrap_or(0).saturating_add(v))
            })
    }

    /// Whether the promotion score reported on a node counts for the
    /// instance placed there (`promotion_score_applies`): for one that ran
    /// there and stays; on a node where no instance ran and the status is
    /// known; for a new instance with no history anywhere. An instance
    /// drawn to another node does not see the score there until it has a
    /// history there.
    fn promotion_counts<'t>(&self, u: RscId, target: &'t Target) -> impl Fn(usize) -> bool + 't {
        let cx = self.cx;
        let current: Vec<usize> = self.current_instances(u).iter().map(|(n, _)| *n).collect();
        let first = cx.leaves(u).first().copied().unwrap_or(u);
        let name = cx.name(first);
        let known: Vec<bool> = cx
            .nodes
            .iter()
            .map(|x| cx.s.on(name, &x.name).is_some_and(|r| r.known()))
            .collect();
        let known_stopped = known
            .iter()
            .enumerate()
            .any(|(m, k)| *k && !current.contains(&m));
        // Instances are told apart only when placed one per node.
        let told =
            cx.p.resource(u)
                .and_then(|r| r.clone.as_ref())
                .is_some_and(|c| c.node_max <= 1);
        move |n: usize| {
            if !told {
                return true;
            }
            let ran_here = current.contains(&n);
            let left = target.moves.iter().any(|(f, _)| *f == n);
            let arrived = target.moves.iter().any(|(_, t)| *t == n);
            (ran_here && !left && !arrived)
                || (!ran_here && known.get(n).copied().unwrap_or(false))
                || target
                    .new_rank
                    .iter()
                    .any(|&(x, k)| x == n && instances::without_history(k, known_stopped))
        }
    }

    /// Picks promoted instances: highest promotion score first (ties as
    /// `cmp_promotable_instance` breaks them, below). An instance is eligible only with a promotion score
    /// from its agent or a constraint, and a total of at least zero.
    fn promote(
        &self,
        u: RscId,
        target: &Target,
        placed_by: &Scores,
    ) -> (Scores, Vec<(usize, Role)>) {
        let cx = self.cx;
        let inst = target.instances.as_slice();
        let counts = self.promotion_counts(u, target);
        let mut s = Scores::new(cx.nodes.len());
        let name = cx.name(u).to_string();
        let spec =
            cx.p.resource(u)
                .and_then(|r| r.clone.clone())
                .unwrap_or_default();
        let info = cx.rsc.get(u.index());
        // The clone's own location preferences for its nodes count towards
        // promotion too (Pacemaker adds the node's weight to the score).
        let mut placed = Scores::new(cx.nodes.len());
        let mut unused = vec![false; cx.nodes.len()];
        self.constraint_scores(u, &mut placed, &mut unused);
        for &(ni, _) in inst {
            let Some(node) = cx.nodes.get(ni) else {
                continue;
            };
            if let Some(v) = self.reported_promotion(u, node).filter(|_| counts(ni)) {
                s.add(ni, Score::new(v), Source::Promotion { rsc: name.clone() });
                for c in placed.parts.get(ni).into_iter().flatten() {
                    if !c.score.is_neg_inf() {
                        s.add(ni, c.score, c.source.clone());
                    }
                }
            }
            if info.is_some_and(|i| i.no_promote.contains(&ni)) {
                s.add(ni, Score::NEG_INF, Source::Promotion { rsc: name.clone() });
            }
        }
        for c in cx.all_locations(u) {
            let ConstraintKind::Location {
                role: Some(Role::Promoted),
                target,
                score,
                ..
            } = &c.kind
            else {
                continue;
            };
            for &(ni, _) in inst {
                let Some(node) = cx.nodes.get(ni) else {
                    continue;
                };
                let hit = match target {
                    LocationTarget::Nodes(ns) => ns.contains(&node.name),
                    LocationTarget::Rule(r) => r.eval(&node.name, &node.attrs),
                };
                if hit {
                    s.add(
                        ni,
                        score.on(&node.attrs),
                        Source::Location {
                            origin: c.origin,
                            rsc: name.clone(),
                        },
                    );
                }
            }
        }
        self.apply_primaries(u, &mut s, true);
        self.add_dependents(u, &mut s, Some(Role::Promoted));
        let no_quorum_demote =
            !cx.may_start() && cx.p.cluster.no_quorum_policy == NoQuorumPolicy::Demote;
        let wants_promotion =
            cx.p.meta(u, |m| m.target_role) != Some(TargetRole::Unpromoted) && !no_quorum_demote;
        let current: Vec<usize> = info
            .map(|i| {
                i.current
                    .iter()
                    .filter(|(_, r)| *r == Role::Promoted)
                    .map(|(n, _)| *n)
                    .collect()
            })
            .unwrap_or_default();
        let mut cands: Vec<usize> = inst
            .iter()
            .map(|(n, _)| *n)
            .filter(|&n| s.parts.get(n).is_some_and(|p| !p.is_empty()) && s.runnable(n))
            .collect();
        // Ties (`cmp_promotable_instance`, then `pcmk__cmp_instance`): the
        // instance already promoted, then one that did not fail, then the
        // one its colocations favour, then (for an imported cluster) the
        // lower instance number, then the node name.
        // A new instance's number follows the running ones', by its rank
        // among the new (`u32::MAX` only where the state gives no number).
        let running = u32::try_from(self.current_instances(u).len()).unwrap_or(u32::MAX);
        let instance = |n: usize| {
            if let Some(&(_, k)) = target.new_rank.iter().find(|(x, _)| *x == n) {
                return running.saturating_add(u32::try_from(k).unwrap_or(u32::MAX));
            }
            // An instance the distribution moved keeps its number.
            let from = target
                .moves
                .iter()
                .find(|(_, t)| *t == n)
                .map_or(n, |(f, _)| *f);
            cx.nodes
                .get(from)
                .and_then(|x| cx.s.on(&name, &x.name))
                .and_then(|r| r.instance)
                .unwrap_or(u32::MAX)
        };
        let leaves = cx.leaves(u);
        let failed = |n: usize| {
            cx.nodes.get(n).is_some_and(|x| {
                std::iter::once(u).chain(leaves.iter().copied()).any(|m| {
                    cx.s.on(cx.name(m), &x.name)
                        .is_some_and(|r| r.failed.is_some())
                })
            })
        };
        // The clone's colocations on the instance's node: with its primaries,
        // and its dependents' that are not negative
        // (`cmp_instance_by_colocation`).
        let colocated = |n: usize| {
            placed_by
                .parts
                .get(n)
                .into_iter()
                .flatten()
                .filter(|c| match c.source {
                    Source::Colocation { .. } => true,
                    Source::Dependent { .. } => c.score >= Score::ZERO,
                    _ => false,
                })
                .fold(Score::ZERO, |a, c| a + c.score)
        };
        cands.sort_by(|&a, &b| {
            let key = |n: usize| {
                (
                    std::cmp::Reverse(s.total(n)),
                    !current.contains(&n),
                    failed(n),
                    std::cmp::Reverse(colocated(n)),
                    instance(n),
                    n,
                )
            };
            key(a).cmp(&key(b))
        });
        // Frozen instances keep their role, and a frozen primary takes a slot.
        let frozen = self.frozen(u);
        let frozen_promoted: Vec<usize> = frozen
            .iter()
            .filter(|(_, r)| *r == Role::Promoted)
            .map(|(n, _)| *n)
            .collect();
        cands.retain(|n| !frozen.iter().any(|(f, _)| f == n));
        let freeze = !cx.may_start() && cx.p.cluster.no_quorum_policy == NoQuorumPolicy::Freeze;
        let slots = (spec.promoted_max as usize).saturating_sub(frozen_promoted.len());
        let mut promoted: Vec<usize> = if freeze {
            // No quorum, freeze: nothing new is promoted; primaries stay primaries.
            cands
                .into_iter()
                .filter(|n| current.contains(n))
                .take(slots)
                .collect()
        } else if wants_promotion {
            // At most promoted-node-max on one node.
            let per_node = spec.promoted_node_max.max(1) as usize;
            let mut picked: Vec<usize> = Vec::new();
            for n in cands {
                if picked.len() >= slots {
                    break;
                }
                if picked.iter().filter(|&&p| p == n).count() < per_node {
                    picked.push(n);
                }
            }
            picked
        } else {
            Vec::new()
        };
        promoted.extend(frozen_promoted);
        // Each pick promotes one instance on its node.
        let out = inst
            .iter()
            .map(|&(n, _)| match promoted.iter().position(|&p| p == n) {
                Some(i) => {
                    promoted.swap_remove(i);
                    (n, Role::Promoted)
                }
                None => (n, Role::Unpromoted),
            })
            .collect();
        (s, out)
    }

    /// A stop ordered after the stop of a resource a failure blocks (the
    /// inverse of a symmetrical start order, or an explicit stop order)
    /// cannot happen: the
    /// resource keeps running where it would have stopped.
    fn hold_stops_behind_blocked(&mut self) {
        let cx = self.cx;
        // Stops after a stop that cannot happen, followed along chains.
        for _ in 0..=cx.p.constraints.len() {
            let mut changed = false;
            for (c, forward, inverse) in cx.order_directions() {
                let ConstraintKind::Order {
                    first,
                    first_action,
                    then,
                    then_action,
                    kind: halo_model::OrderKind::Mandatory,
                    symmetrical,
                    ..
                } = &c.kind
                else {
                    continue;
                };
                // (stops first, stops after it)
                let (before, after) = match (first_action, then_action) {
                    (OpAction::Start, OpAction::Start) if *symmetrical && inverse => {
                        (*then, *first)
                    }
                    (OpAction::Stop, OpAction::Stop) if forward => (*first, *then),
                    _ => continue,
                };
                if self.stop_unrunnable(before) {
                    changed |= self.hold_stop(after, BEHIND_BLOCKED_STOP);
                }
            }
            if !changed {
                break;
            }
        }
        // A stop ordered after a start or promotion that cannot happen
        // (`pe_order_runnable_left`, which only an order's own direction
        // has). The stop so held does not hold others: the inverse of an
        // order has no such flag.
        for c in cx.orders() {
            if let ConstraintKind::Order {
                then,
                then_action: OpAction::Stop,
                ..
            } = &c.kind
            {
                if let Some((why, _)) = self.first_falls_short(&c.kind) {
                    self.hold_stop(*then, &why);
                }
            }
        }
    }

    /// Keeps `after` running where it runs, its stop held. Only a resource
    /// that runs once, on one node, is kept there (moving it would need
    /// that stop too); clones and resources active on several nodes are
    /// recovered as usual. Returns whether anything changed.
    fn hold_stop(&mut self, after: RscId, why: &str) -> bool {
        let cx = self.cx;
        if cx.clone_of(after).is_some() {
            return false;
        }
        let mut changed = false;
        for id in cx.leaves(after) {
            let now = self.current_instances(id);
            let Some(t) = self.targets.get_mut(id.index()) else {
                continue;
            };
            let [(n, role)] = now[..] else {
                continue;
            };
            if t.blocked || t.instances.iter().any(|(x, _)| *x == n) {
                continue;
            }
            t.instances = vec![(n, role)];
            t.stop_held = vec![n];
            t.stop_held_why = Some(why.to_string());
            changed = true;
        }
        changed
    }

    /// Whether `id`'s stop cannot happen. Only a failure makes a blocked
    /// resource's stop unrunnable (`pe_rsc_block`); an unmanaged one's stop
    /// is merely optional, and orders after it go ahead
    /// (`update_action_optional`). A stop held behind another is too.
    fn stop_unrunnable(&self, id: RscId) -> bool {
        let Some(t) = self.targets.get(id.index()) else {
            return false;
        };
        let failure_blocked = t.blocked
            && self
                .current_instances(id)
                .iter()
                .any(|(n, _)| self.cx.rsc[id.index()].blocked_on.contains(n));
        failure_blocked || !t.stop_held.is_empty()
    }

    /// Units in the order Pacemaker assigns them under a placement strategy:
    /// priority, then the score on the node each runs on now, then the scores
    /// node by node (names in order; unavailable nodes count as -inf).
    fn sort_for_utilization(&self, units: &mut [RscId]) {
        let cx = self.cx;
        let scored: Vec<(RscId, i64, Vec<Score>, Score)> = units
            .iter()
            .map(|&u| {
                let s = self.base_scores(u);
                let current = self
                    .current_instances(u)
                    .first()
                    .map_or(Score::NEG_INF, |(n, _)| s.total(*n));
                let per_node = (0..cx.nodes.len())
                    .map(|n| {
                        if cx.nodes.get(n).is_some_and(|x| x.unavailable().is_some()) {
                            Score::NEG_INF
                        } else {
                            s.total(n)
                        }
                    })
                    .collect();
                (
                    u,
                    cx.p.meta(u, |m| m.priority).unwrap_or(0),
                    per_node,
                    current,
                )
            })
            .collect();
        // The node list: available nodes first; under balanced, the ones with
        // more capacity first; then by name.
        let mut nodes: Vec<usize> = (0..cx.nodes.len()).collect();
        let balanced = cx.p.cluster.strategy == PlacementStrategy::Balanced;
        merge_sort(&mut nodes, &|&a: &usize, &b: &usize| {
            let down = |n: usize| cx.nodes.get(n).is_some_and(|x| x.unavailable().is_some());
            down(a)
                .cmp(&down(b))
                .then_with(|| {
                    if balanced {
                        self.capacity_vote(a, b)
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .then(a.cmp(&b))
        });
        let mut order: Vec<usize> = (0..scored.len()).collect();
        merge_sort(&mut order, &|&a: &usize, &b: &usize| {
            let (x, y) = (&scored[a], &scored[b]);
            y.1.cmp(&x.1).then(y.3.cmp(&x.3)).then_with(|| {
                nodes
                    .iter()
                    .map(|&n| y.2[n].cmp(&x.2[n]))
                    .find(|o| *o != std::cmp::Ordering::Equal)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        let sorted: Vec<RscId> = order.iter().map(|&i| scored[i].0).collect();
        units.copy_from_slice(&sorted);
    }

    /// What a unit uses: the sum over its primitives (one instance of a clone).
    fn utilization(&self, u: RscId) -> BTreeMap<String, i64> {
        let mut need: BTreeMap<String, i64> = BTreeMap::new();
        for m in self.cx.leaves(u) {
            if let Some(p) = self.cx.p.resource(m).and_then(|r| r.primitive()) {
                for (k, v) in &p.utilization {
                    *need.entry(k.clone()).or_default() += v;
                }
            }
        }
        need
    }

    fn fits(&self, n: usize, need: &BTreeMap<String, i64>) -> bool {
        let left = self.remaining.get(n);
        need.iter()
            .all(|(k, v)| *v <= left.and_then(|l| l.get(k)).copied().unwrap_or(0))
    }

    /// Takes what primitive `m` uses from node `n`'s capacity.
    fn consume(&mut self, m: RscId, n: usize) {
        if self.cx.p.cluster.strategy == PlacementStrategy::Default {
            return;
        }
        let Some(p) = self.cx.p.resource(m).and_then(|r| r.primitive()) else {
            return;
        };
        if let Some(left) = self.remaining.get_mut(n) {
            for (k, v) in &p.utilization {
                let e = left.entry(k.clone()).or_insert(0);
                *e = (*e - v).max(0);
            }
        }
    }

    /// Pacemaker's comparison of free capacity: a vote over the attributes
    /// (more of one counts one), not a sum. `Less` means `a` has more.
    fn capacity_vote(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let empty = BTreeMap::new();
        let (la, lb) = (
            self.remaining.get(a).unwrap_or(&empty),
            self.remaining.get(b).unwrap_or(&empty),
        );
        let mut vote = 0i32;
        for k in la.keys().chain(lb.keys().filter(|k| !la.contains_key(*k))) {
            let (x, y) = (
                la.get(k).copied().unwrap_or(0),
                lb.get(k).copied().unwrap_or(0),
            );
            vote += match x.cmp(&y) {
                std::cmp::Ordering::Greater => -1,
                std::cmp::Ordering::Less => 1,
                std::cmp::Ordering::Equal => 0,
            };
        }
        vote.cmp(&0)
    }

    /// Bans the nodes where the unit (with the units that must run with it and
    /// are not placed yet) does not fit. When it fits nowhere as a whole, only
    /// nodes where it does not fit alone are banned, and the node with the
    /// most room is returned as the one to prefer.
    fn ban_insufficient_capacity(&self, u: RscId, s: &mut Scores) -> Option<usize> {
        let own = self.utilization(u);
        let mut need = own.clone();
        // Units that must run with it (infinite colocations, followed
        // through) and are not placed yet; a clone only brings clones along.
        let clone = self.cx.clone_of(u).is_some();
        let mut seen = vec![u];
        let mut todo = vec![u];
        while let Some(x) = todo.pop() {
            for c in self.cx.colocations_of_primary(x) {
                let ConstraintKind::Colocation {
                    dependent, score, ..
                } = &c.kind
                else {
                    continue;
                };
                let d = self.unit(*dependent);
                if !score.is_inf()
                    || seen.contains(&d)
                    || self.progress.get(d.index()) == Some(&Progress::Done)
                    || (clone && self.cx.clone_of(d).is_none())
                {
                    continue;
                }
                seen.push(d);
                todo.push(d);
                for (k, v) in self.utilization(d) {
                    *need.entry(k).or_default() += v;
                }
            }
        }
        if need.is_empty() {
            return None;
        }
        let examined: Vec<usize> = (0..self.cx.nodes.len())
            .filter(|&n| s.runnable(n))
            .collect();
        let (wanted, prefer) = if examined.iter().any(|&n| self.fits(n, &need)) {
            (&need, None)
        } else {
            let mut most: Option<usize> = None;
            for &n in &examined {
                if most.is_none_or(|m| self.capacity_vote(n, m) == std::cmp::Ordering::Less) {
                    most = Some(n);
                }
            }
            (&own, most)
        };
        for &n in &examined {
            if !self.fits(n, wanted) {
                let what = wanted
                    .keys()
                    .filter(|k| !self.fits(n, &BTreeMap::from([((*k).clone(), wanted[*k])])))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                s.add(n, Score::NEG_INF, Source::Capacity { what });
            }
        }
        prefer.filter(|&n| s.runnable(n))
    }
}

/// Scores as the plan reports them: every node, best first, then by name.
pub(crate) fn node_scores(cx: &Ctx<'_>, s: Scores) -> Vec<NodeScore> {
    let mut out: Vec<(usize, Score, Vec<Contribution>)> = s
        .parts
        .into_iter()
        .map(Some)
        .chain(std::iter::repeat(None))
        .take(cx.nodes.len())
        .enumerate()
        .map(|(ni, parts)| {
            // As `Scores::total` adds them up.
            let total = parts.as_ref().map_or(Score::NEG_INF, |p| {
                p.iter().fold(Score::ZERO, |acc, c| acc + c.score)
            });
            (ni, total, parts.unwrap_or_default())
        })
        .collect();
    // Best first; on a tie by node name, which is the nodes' order.
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.into_iter()
        .filter_map(|(ni, total, parts)| {
            Some(NodeScore {
                node: cx.nodes.get(ni)?.name.clone(),
                total,
                parts,
            })
        })
        .collect()
}

/// A stable top-down merge sort, as GLib's `g_list_sort` does it: the left
/// half takes the larger share, and on a tie the left element goes first. The
/// exact algorithm matters when the comparison is not transitive (Pacemaker's
/// capacity vote).
fn merge_sort<T: Copy>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> std::cmp::Ordering) {
    if v.len() < 2 {
        return;
    }
    let mid = v.len().div_ceil(2);
    merge_sort(&mut v[..mid], cmp);
    merge_sort(&mut v[mid..], cmp);
    let (left, right) = (v[..mid].to_vec(), v[mid..].to_vec());
    let (mut i, mut j) = (0, 0);
    for slot in v.iter_mut() {
        let take_left = j >= right.len()
            || (i < left.len() && cmp(&left[i], &right[j]) != std::cmp::Ordering::Greater);
        if take_left {
            *slot = left[i];
            i += 1;
        } else {
            *slot = right[j];
            j += 1;
        }
    }
}
