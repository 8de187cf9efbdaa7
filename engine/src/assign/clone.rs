//! Clones: which nodes their instances go to (Pacemaker's `pcmk__clone_allocate`,
//! `distribute_children`, pcmk_sched_clone.c; one instance per node in
//! `instances.rs`), and which active instances are orphans
//! (`find_anonymous_clone`, unpack.c).

use super::*;

impl Assigner<'_, '_> {
    /// Nodes for a clone's instances: up to clone-max, at most clone-node-max per
    /// node, best nodes first (ties: nodes that already run one, less load, name).
    /// Also the instances that move, (from, to), where the distribution
    /// tells them.
    pub(super) fn choose_clone_nodes(&self, u: RscId, s: &Scores) -> CloneNodes {
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
    pub(super) fn split_orphans(
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
    pub(super) fn one_per_node(
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
        let handed = |c: &Contribution, revert: bool| match c.source {
            Source::Dependent { .. } | Source::KeptPositive { .. } => true,
            Source::Colocation { .. } => {
                (!all_coloc && c.score > Score::ZERO && !c.score.is_inf())
                    || (revert && c.score < Score::ZERO && !c.score.is_neg_inf())
            }
            _ => false,
        };
        let score = |n: usize| s.total_except(n, |c| handed(c, false));
        let reverted = |n: usize| s.total_except(n, |c| handed(c, true));
        // An instance may run only where the clone's own score is not
        // negative (`can_run_instance`); its stickiness is not in it, nor
        // are the clone's own colocations, which Pacemaker hands to each
        // instance (`append_parent_colocation`) and which weigh in the
        // instance's own weight (`score`), checked by `distribute`.
        let runnable = |n: usize| {
            let t = s.total_except(n, |c| matches!(c.source, Source::Colocation { .. }));
            !t.is_neg_inf() && t >= Score::ZERO
        };
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
            reverted: &reverted,
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
    pub(super) fn several_per_node(
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
    pub(super) fn frozen(&self, u: RscId) -> Vec<(usize, Role)> {
        let first = self.cx.leaves(u).first().copied().unwrap_or(u);
        self.cx
            .rsc
            .get(first.index())
            .map(|i| i.frozen.clone())
            .unwrap_or_default()
    }
}
