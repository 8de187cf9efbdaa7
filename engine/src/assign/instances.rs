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
}

/// Assigns up to `max` instances, one per node, besides those on `taken`
/// nodes; `stickiness` is each instance's on its own node (0 when the
/// clone's scores already hold it). Returns the chosen nodes, in the order
/// they were chosen, each with the node of the running instance that took
/// it (`None` for an instance that was not running).
pub(crate) fn distribute(
    field: &Field<'_>,
    running: &[Running],
    taken: &[usize],
    max: usize,
    stickiness: Score,
) -> Vec<(usize, Option<usize>)> {
    let mut free: Vec<bool> = (0..field.nodes)
        .map(|n| (field.runnable)(n) && !taken.contains(&n))
        .collect();
    let mut order: Vec<Running> = running.to_vec();
    // Instances that have not failed first, then by number, then by node
    // (pcmk__cmp_instance's last criteria; the ones before it concern
    // instances active on several nodes or on disallowed ones, which the
    // free-node checks below settle).
    order.sort_by_key(|r| (r.failed, r.number.unwrap_or(u32::MAX), r.node));
    let weight = |r: Option<&Running>, n: usize| {
        let own = r.is_some_and(|r| r.node == n);
        (field.score)(n) + if own { stickiness } else { Score::ZERO }
    };
    let mut chosen: Vec<(usize, Option<usize>)> = Vec::new();
    let mut kept = vec![false; order.len()];
    for (i, r) in order.iter().enumerate() {
        if chosen.len() >= max || r.failed || !free.get(r.node).copied().unwrap_or(false) {
            continue;
        }
        let best = (0..field.nodes)
            .filter(|&n| free[n])
            .map(|n| weight(Some(r), n))
            .max();
        if best.is_some_and(|b| weight(Some(r), r.node) >= b) {
            free[r.node] = false;
            chosen.push((r.node, Some(r.node)));
            kept[i] = true;
        }
    }
    // The rest in `pcmk__cmp_instance`'s order: instances active on a node
    // the clone still allows, then the inactive ones (as many as the clone
    // has beyond its running ones), then those active on a node it no
    // longer allows.
    let left: Vec<&Running> = order
        .iter()
        .zip(&kept)
        .filter(|(_, k)| !**k)
        .map(|(r, _)| r)
        .collect();
    let (welcome, unwelcome): (Vec<&Running>, Vec<&Running>) =
        left.into_iter().partition(|r| (field.allowed)(r.node));
    let inactive = max.saturating_sub(running.len());
    let rest = welcome
        .into_iter()
        .map(Some)
        .chain(std::iter::repeat_n(None, inactive))
        .chain(unwelcome.into_iter().map(Some));
    for r in rest {
        if chosen.len() >= max {
            break;
        }
        let Some(n) = best_node(field, &free, |n| weight(r, n), r.map(|r| r.node)) else {
            break;
        };
        free[n] = false;
        chosen.push((n, r.map(|r| r.node)));
    }
    chosen
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
        .filter(|&n| free[n])
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
            runnable: &runnable,
            allowed: &runnable,
            load: &load,
            nodes: scores.len(),
            keep_ties: false,
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
            .map(|(n, _)| n)
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
                runnable: &yes,
                allowed: &yes,
                load: &load,
                nodes: 3,
                keep_ties,
            };
            let got = distribute(&field, &running, &[], 3, Score::ZERO);
            for (from, to) in [(0, want[0]), (1, want[1])] {
                assert!(
                    got.contains(&(to, Some(from))),
                    "keep_ties {keep_ties}: {got:?}"
                );
            }
        }
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
