//! Which nodes the instances of a clone go to when each node holds at most
//! one instance: Pacemaker's `distribute_children` (pcmk_sched_clone.c)
//! over instances ordered as `pcmk__cmp_instance` orders them
//! (pcmk_sched_resource.c), each instance assigned as `assign_best_node`
//! (pcmk_sched_primitive.c) assigns a primitive.
//!
//! Each instance weighs the nodes by the clone's scores plus its own
//! stickiness on the node it runs on. First every running instance that
//! has not failed is kept where it runs when no free node weighs more for
//! it; then every other instance — those that were not kept first, then the
//! stopped ones — takes the free node it weighs most (ties: fewer resources
//! placed there, then its own node, then the node's order). So an instance
//! that another node draws away moves there, and its old node may take
//! another instance: the set of nodes differs from the best nodes by score
//! alone when stickiness and order interact.

use halo_model::Score;

/// A running instance: its node, its instance number where the state gives
/// one (Pacemaker's `rsc:N`), and whether it failed there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Running {
    pub node: usize,
    pub number: Option<u32>,
    pub failed: bool,
}

/// What the distribution needs to know of the nodes.
pub(crate) struct Field<'a> {
    /// The clone's score on each node.
    pub score: &'a dyn Fn(usize) -> Score,
    /// The same without the clone's finite negative colocations, which an
    /// instance gives back when they leave it no node (the copy-and-revert
    /// of `apply_this_with`).
    pub reverted: &'a dyn Fn(usize) -> Score,
    /// Whether the clone may run on the node at all.
    pub runnable: &'a dyn Fn(usize) -> bool,
    /// Whether the clone's scores allow the node, be it available or not
    /// (an instance active on a node they no longer allow is placed last).
    pub allowed: &'a dyn Fn(usize) -> bool,
    /// Resources placed on the node so far.
    pub load: &'a dyn Fn(usize) -> u32,
    pub nodes: usize,
    /// Whether an instance keeps its node on any tie for the best weight
    /// (Halo's `ties stay`), not only on a positive one (Pacemaker's rule).
    pub keep_ties: bool,
    /// A promotable clone's promotion scores, which weigh in each
    /// instance's nodes; `None` for other clones.
    pub promotion: Option<&'a Promotion<'a>>,
}

/// A promotable clone's promotion scores as its instances weigh them
/// (`pcmk__add_promotion_scores`): each instance adds a positive score to
/// its weight for an available node where the score counts for it, and the
/// highest such score is its priority, which orders the instances before
/// whether they run (`pcmk__cmp_instance`).
pub(crate) struct Promotion<'a> {
    /// The promotion score reported on the node, if any.
    pub score: &'a dyn Fn(usize) -> Option<Score>,
    /// Whether the status knows the resource on the node (a history there).
    pub known: &'a dyn Fn(usize) -> bool,
    /// Whether the node can run resources now (not standby, down or in
    /// maintenance): a score there could only shuffle instances.
    pub available: &'a dyn Fn(usize) -> bool,
}

/// Where one instance goes: its node, the node it ran on (`None` for one
/// that was not running), and for a new instance its rank among those not
/// running (their instance numbers follow the running ones', in this
/// order; see [`without_history`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    pub node: usize,
    pub from: Option<usize>,
    pub new_rank: Option<usize>,
}

/// Whether the new instance of this rank has no history anywhere, so that
/// every node's promotion score counts for it: histories of stopped
/// anonymous instances all belong to the first instance not running
/// (`find_anonymous_clone`), so only that one has any, and only when the
/// resource is known stopped somewhere.
pub(crate) fn without_history(rank: usize, known_stopped_somewhere: bool) -> bool {
    rank > 0 || !known_stopped_somewhere
}

/// An instance being placed: a running one, or the `k`-th of those not
/// running (in instance-number order).
#[derive(Clone, Copy)]
enum Inst<'r> {
    Running(&'r Running),
    Inactive(usize),
}

impl Inst<'_> {
    fn node(self) -> Option<usize> {
        match self {
            Inst::Running(r) => Some(r.node),
            Inst::Inactive(_) => None,
        }
    }
}

impl Promotion<'_> {
    /// Whether the score on `n` counts for `inst` (`promotion_score_applies`):
    /// on its own node; on a node where no instance runs and the resource's
    /// status is known; everywhere for an instance that has no history at
    /// all. Only where the clone allows the node.
    fn applies(&self, field: &Field<'_>, inst: Inst<'_>, n: usize, running: &[Running]) -> bool {
        let active_on = |m: usize| running.iter().any(|r| r.node == m);
        (field.allowed)(n)
            && (inst.node() == Some(n)
                || (!active_on(n) && (self.known)(n))
                || self.unknown_everywhere(field.nodes, inst, running))
    }

    /// Whether the instance has no history at all ([`without_history`]).
    fn unknown_everywhere(&self, nodes: usize, inst: Inst<'_>, running: &[Running]) -> bool {
        match inst {
            Inst::Running(_) => false,
            Inst::Inactive(k) => without_history(
                k,
                (0..nodes).any(|m| (self.known)(m) && !running.iter().any(|r| r.node == m)),
            ),
        }
    }

    /// What `inst` adds to its weight for `n`.
    fn bonus(&self, field: &Field<'_>, inst: Inst<'_>, n: usize, running: &[Running]) -> Score {
        match (self.score)(n) {
            Some(p)
                if p > Score::ZERO
                    && (self.available)(n)
                    && self.applies(field, inst, n, running) =>
            {
                p
            }
            _ => Score::ZERO,
        }
    }

    /// The instance's priority: its highest positive score that counts.
    fn priority(&self, field: &Field<'_>, inst: Inst<'_>, running: &[Running]) -> Score {
        (0..field.nodes)
            .map(|n| self.bonus(field, inst, n, running))
            .max()
            .unwrap_or(Score::ZERO)
    }
}

/// Assigns up to `max` instances, one per node, besides those on `taken`
/// nodes; `stickiness` is each instance's on its own node (0 when the
/// clone's scores already hold it). Returns the chosen nodes, in the order
/// they were chosen, each with the instance that took it.
pub(crate) fn distribute(
    field: &Field<'_>,
    running: &[Running],
    taken: &[usize],
    max: usize,
    stickiness: Score,
) -> Vec<Placed> {
    let mut free: Vec<bool> = (0..field.nodes)
        .map(|n| (field.runnable)(n) && !taken.contains(&n))
        .collect();
    let weight_with = |i: Inst<'_>, n: usize, base: &dyn Fn(usize) -> Score| {
        let own = i.node() == Some(n);
        let promotion = field
            .promotion
            .map_or(Score::ZERO, |p| p.bonus(field, i, n, running));
        base(n) + if own { stickiness } else { Score::ZERO } + promotion
    };
    // An instance left no node by the clone's finite negative colocations
    // weighs the nodes without them.
    let base = |i: Inst<'_>, free: &[bool]| -> &dyn Fn(usize) -> Score {
        let any = (0..field.nodes)
            .any(|x| free.get(x) == Some(&true) && allows(weight_with(i, x, field.score)));
        if any {
            field.score
        } else {
            field.reverted
        }
    };
    let priority = |i: Inst<'_>| {
        field
            .promotion
            .map_or(Score::ZERO, |p| p.priority(field, i, running))
    };
    // `pcmk__cmp_instance`'s order: instances active on a node the clone
    // no longer allows last; higher priority first; running before not
    // running; among running ones, those that have not failed, then by
    // number, then by node (its other criteria concern instances active on
    // several nodes, which the free-node checks below settle).
    let inactive = max.saturating_sub(running.len());
    let mut order: Vec<Inst<'_>> = running
        .iter()
        .map(Inst::Running)
        .chain((0..inactive).map(Inst::Inactive))
        .collect();
    order.sort_by_cached_key(|&i| {
        let (unwelcome, rest) = match i {
            Inst::Running(r) => (
                !(field.allowed)(r.node),
                (false, r.failed, (r.number.is_none(), r.number), r.node),
            ),
            Inst::Inactive(k) => (false, (true, false, (true, None), k)),
        };
        (unwelcome, std::cmp::Reverse(priority(i)), rest)
    });
    let placed = |node: usize, inst: Inst<'_>| Placed {
        node,
        from: inst.node(),
        new_rank: match inst {
            Inst::Running(_) => None,
            Inst::Inactive(k) => Some(k),
        },
    };
    let mut chosen: Vec<Placed> = Vec::new();
    let mut kept = vec![false; order.len()];
    // First every running instance that has not failed stays where it runs
    // when no free node weighs more for it.
    for (i, inst) in order.iter().enumerate() {
        let Inst::Running(r) = *inst else { continue };
        if chosen.len() >= max || r.failed || !free.get(r.node).copied().unwrap_or(false) {
            continue;
        }
        let b = base(*inst, &free);
        let best = (0..field.nodes)
            .filter(|&n| free[n])
            .map(|n| weight_with(*inst, n, b))
            .max();
        let own = weight_with(*inst, r.node, b);
        if best.is_some_and(|b| own >= b) && allows(own) {
            free[r.node] = false;
            chosen.push(placed(r.node, *inst));
            kept[i] = true;
        }
    }
    // Then the rest, in the same order.
    for (inst, _) in order.iter().zip(&kept).filter(|(_, k)| !**k) {
        if chosen.len() >= max {
            break;
        }
        let b = base(*inst, &free);
        let Some(n) = best_node(field, &free, |n| weight_with(*inst, n, b), inst.node()) else {
            break;
        };
        free[n] = false;
        chosen.push(placed(n, *inst));
    }
    chosen
}

/// Whether an instance's own weight on a node lets it run there: the
/// clone's score, its own stickiness and the clone's colocations it was
/// handed, not negative (`assign_best_node` leaves a resource whose best
/// node weighs less than zero unassigned).
fn allows(w: Score) -> bool {
    !w.is_neg_inf() && w >= Score::ZERO
}

/// The free node an instance weighs most: ties go to the node with fewer
/// resources, then the lower index; then, when the best weight is positive
/// (or the cluster keeps ties), to the instance's own node if it is among
/// the best (`assign_best_node`).
fn best_node(
    field: &Field<'_>,
    free: &[bool],
    weight: impl Fn(usize) -> Score,
    own: Option<usize>,
) -> Option<usize> {
    let best = (0..field.nodes)
        .filter(|&n| free[n] && allows(weight(n)))
        .min_by_key(|&n| (std::cmp::Reverse(weight(n)), (field.load)(n), n))?;
    let top = weight(best);
    match own {
        Some(o)
            if (field.keep_ties || top > Score::ZERO)
                && free.get(o) == Some(&true)
                && weight(o) == top =>
        {
            Some(o)
        }
        _ => Some(best),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scores: &[i64], running: &[(usize, u32)], max: usize, stick: i64) -> Vec<usize> {
        let score = |n: usize| Score::new(scores[n]);
        let runnable = |n: usize| scores[n] > -1_000_000;
        let load = |_: usize| 0;
        let field = Field {
            score: &score,
            reverted: &score,
            runnable: &runnable,
            allowed: &runnable,
            load: &load,
            nodes: scores.len(),
            keep_ties: false,
            promotion: None,
        };
        let running: Vec<Running> = running
            .iter()
            .map(|&(node, number)| Running {
                node,
                number: Some(number),
                failed: false,
            })
            .collect();
        let mut out: Vec<usize> = distribute(&field, &running, &[], max, Score::new(stick))
            .into_iter()
            .map(|p| p.node)
            .collect();
        out.sort_unstable();
        out
    }

    /// Found by the settle property (seed 4180789128580081524): two
    /// instances on nodes tied at zero swapped nodes, plan after plan, when
    /// the busier node came first; with ties kept, each keeps its own.
    #[test]
    fn instances_tied_at_zero_keep_their_nodes_when_ties_stay() {
        let score = |n: usize| Score::new([0, 0, 22][n]);
        let yes = |_: usize| true;
        let load = |n: usize| u32::from(n == 0);
        let running: Vec<Running> = (0..3)
            .map(|n| Running {
                node: n,
                number: Some(u32::try_from(n).unwrap_or_default()),
                failed: false,
            })
            .collect();
        for (keep_ties, want) in [(true, [0, 1]), (false, [1, 0])] {
            let field = Field {
                score: &score,
                reverted: &score,
                runnable: &yes,
                allowed: &yes,
                load: &load,
                nodes: 3,
                keep_ties,
                promotion: None,
            };
            let got: Vec<(usize, Option<usize>)> =
                distribute(&field, &running, &[], 3, Score::ZERO)
                    .into_iter()
                    .map(|p| (p.node, p.from))
                    .collect();
            for (from, to) in [(0, want[0]), (1, want[1])] {
                assert!(
                    got.contains(&(to, Some(from))),
                    "keep_ties {keep_ties}: {got:?}"
                );
            }
        }
    }

    /// An instance with no history weighs a node's promotion score where no
    /// running instance sees it (the node was never probed): it outranks the
    /// running instance, takes that node, and the running one stays where it
    /// is. Without promotion scores the running instance would go there and
    /// a new one would start in its place.
    #[test]
    fn a_promotion_score_draws_a_new_instance_not_the_running_one() {
        let score = |n: usize| Score::new([0, 50][n]);
        let yes = |_: usize| true;
        let load = |_: usize| 0;
        let promoted = |n: usize| (n == 1).then_some(Score::new(10));
        let known = |n: usize| n == 0;
        let promotion = Promotion {
            score: &promoted,
            known: &known,
            available: &yes,
        };
        let running = [Running {
            node: 0,
            number: Some(0),
            failed: false,
        }];
        let mut field = Field {
            score: &score,
            reverted: &score,
            runnable: &yes,
            allowed: &yes,
            load: &load,
            nodes: 2,
            keep_ties: false,
            promotion: Some(&promotion),
        };
        let pairs = |field: &Field<'_>| -> Vec<(usize, Option<usize>)> {
            distribute(field, &running, &[], 2, Score::new(1))
                .into_iter()
                .map(|p| (p.node, p.from))
                .collect()
        };
        assert_eq!(pairs(&field), vec![(1, None), (0, Some(0))]);
        field.promotion = None;
        assert_eq!(pairs(&field), vec![(1, Some(0)), (0, None)]);
    }

    #[test]
    fn stickiness_keeps_an_instance_against_an_equal_pull() {
        // Node 1 scores 1 more than node 0, where the instance runs with
        // stickiness 1: it stays.
        assert_eq!(run(&[0, 1, 0], &[(0, 0)], 1, 1), vec![0]);
        assert_eq!(run(&[0, 2, 0], &[(0, 0)], 1, 1), vec![1]);
    }

    #[test]
    fn the_first_instance_drawn_away_frees_its_node_for_the_next() {
        // Instances on nodes 0 and 1; node 2 draws both. Instance 0 goes
        // there, instance 1 keeps its node: nodes 1 and 2, not 0 and 2.
        assert_eq!(run(&[0, 0, 2], &[(0, 0), (1, 1)], 2, 1), vec![1, 2]);
        assert_eq!(run(&[0, 0, 2], &[(0, 1), (1, 0)], 2, 1), vec![0, 2]);
    }
}
