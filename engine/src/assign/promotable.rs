//! Promotable clones: which instances are promoted (Pacemaker's
//! `pcmk__set_instance_roles`, `promotion_score`, `pcmk__add_promotion_scores`,
//! pcmk_sched_promotable.c).

use super::*;

impl Assigner<'_, '_> {
    /// The promotion score the agent reported for the clone's instance on
    /// `node` (for a cloned group, the sum over its members that reported
    /// one; `promotion_score`).
    pub(super) fn reported_promotion(&self, u: RscId, node: &crate::ctx::NodeInfo) -> Option<i64> {
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
    pub(super) fn promotion_counts<'t>(
        &self,
        u: RscId,
        target: &'t Target,
    ) -> impl Fn(usize) -> bool + 't {
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
    pub(super) fn promote(
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
}
