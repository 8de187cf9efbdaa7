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

mod clone;
mod colocation;
mod dependents;
mod failures;
mod group;
mod instances;
mod location;
mod orders;
mod promotable;
mod stops;
mod utilization;

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

/// Why a start is held back under `no-quorum-policy freeze`.
const FROZEN: &str = "the cluster has no quorum (no-quorum-policy freeze)";

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
        // (Nothing of it runs: a group with a member running is frozen
        // member by member, `freeze_idle_members`.)
        let frozen_idle = self.cx.freeze_blocks_starts(u)
            && self.cx.leaves(u).iter().all(|m| {
                self.cx
                    .rsc
                    .get(m.index())
                    .is_none_or(|i| i.current.is_empty())
            });
        // (One left stopped as it is, unmanaged, is assigned nowhere.)
        let left_stopped = self.cx.leaves(u) == [u] && self.member_stopped(u).is_some();
        let held = if !wanted || target.blocked || left_stopped || self.cx.clone_of(u).is_some() {
            None
        } else if self.cx.quorum_blocks_starts(u) {
            self.best_node(u, &scores)
        } else if frozen_idle {
            let mut open = scores.clone();
            for p in &mut open.parts {
                p.retain(|c| c.source != Source::NoQuorum);
            }
            // Where it would be assigned, capacity counts as for any other.
            if self.cx.p.cluster.strategy != PlacementStrategy::Default {
                self.ban_insufficient_capacity(u, &mut open);
            }
            let n = self.best_node(u, &open);
            if n.is_some() {
                target.unplaced = Some(FROZEN.to_string());
            }
            n
        } else {
            None
        };
        let held_instances = if wanted && !target.blocked {
            self.held_clone_starts(u, &scores)
        } else {
            Vec::new()
        };
        target.scores = scores;
        self.set_members(u, &target);
        if let Some((n, b)) = pinned {
            self.hold_members_before(u, n, b);
        }
        if wanted && !frozen_idle && !target.blocked && self.cx.freeze_blocks_starts(u) {
            self.freeze_idle_members(u);
        }
        if let Some(t) = self.targets.get_mut(u.index()) {
            *t = target;
        }
        // Assigned there though its start cannot happen, whether it runs
        // there now or not: what is colocated with it follows it there.
        if let Some(n) = held {
            for m in self.cx.leaves(u).into_iter().chain(std::iter::once(u)) {
                if let Some(t) = self.targets.get_mut(m.index()) {
                    t.held = vec![n];
                }
                // Assigned there, as far as later ties go
                // (`num_resources` in `compare_nodes`) and what is left of
                // the node's capacity (`pcmk__finalize_assignment` consumes
                // it whether the start can run or not).
                if m != u || self.cx.leaves(u) == [u] {
                    if let Some(l) = self.load.get_mut(n) {
                        *l += 1;
                    }
                    self.consume(m, n);
                }
            }
        }
        if !held_instances.is_empty() {
            for m in self.cx.leaves(u) {
                if let Some(t) = self.targets.get_mut(m.index()) {
                    t.held.clone_from(&held_instances);
                }
            }
        }
        if let Some(p) = self.progress.get_mut(u.index()) {
            *p = Progress::Done;
        }
    }

    /// Without quorum, a clone's instances are still assigned as usual, and
    /// the start of each on a node where none runs is unrunnable ("no
    /// quorum" under `stop`, "quorum freeze" under `freeze`:
    /// `update_resource_action_runnable`), so listed as blocked there.
    fn held_clone_starts(&self, u: RscId, scores: &Scores) -> Vec<usize> {
        if self.cx.clone_of(u) != Some(u)
            || !(self.cx.quorum_blocks_starts(u) || self.cx.freeze_blocks_starts(u))
        {
            return Vec::new();
        }
        let mut open = scores.clone();
        for p in &mut open.parts {
            p.retain(|c| c.source != Source::NoQuorum);
        }
        let runs: Vec<usize> = self.current_instances(u).iter().map(|(n, _)| *n).collect();
        let nodes = self.choose_clone_nodes(u, &open);
        nodes
            .instances
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| !runs.contains(n))
            .collect()
    }

    /// Under `no-quorum-policy freeze` without quorum, a group member that
    /// runs nowhere does not start, though others of its group run: each
    /// start of a resource not active is unrunnable ("quorum freeze",
    /// `update_resource_action_runnable`); its start is reported blocked
    /// where it was assigned. The members after it cannot start either (the
    /// group's start order makes a start after an unrunnable one
    /// unrunnable): those that run stop, the others are held too.
    fn freeze_idle_members(&mut self, u: RscId) {
        let members = self.cx.leaves(u);
        if members.len() < 2 || self.cx.clone_of(u).is_some() {
            return;
        }
        let mut behind: Option<String> = None;
        for m in members {
            let idle = self
                .cx
                .rsc
                .get(m.index())
                .is_some_and(|i| i.current.is_empty());
            let name = self.cx.name(m).to_string();
            let Some(t) = self.targets.get_mut(m.index()) else {
                continue;
            };
            if t.instances.is_empty() || (!idle && behind.is_none()) {
                continue;
            }
            if idle {
                t.held = t.instances.iter().map(|(n, _)| *n).collect();
            }
            t.instances.clear();
            t.unplaced = Some(behind.clone().unwrap_or_else(|| FROZEN.to_string()));
            behind.get_or_insert(format!("{name} cannot start before it ({FROZEN})"));
        }
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
