//! How the resources colocated with a resource pull it towards the nodes they
//! prefer, before it is assigned.
//!
//! Follows Pacemaker's `apply_with_this` (pcmk_sched_primitive.c),
//! `apply_coloc_to_primary` (pcmk_sched_promotable.c) and
//! `pcmk__add_colocated_node_scores` with `add_node_scores_matching_attr`
//! (pcmk_sched_colocation.c):
//!
//! - A dependent's score on a node is its own score there (location
//!   constraints, stickiness, failures), or minus infinity where it may not run
//!   (the node is unavailable or the dependent is banned from it). It is
//!   multiplied by the colocation's factor (score / INFINITY, in single
//!   precision) and rounded half away from zero; a product of nonzero numbers
//!   never rounds to zero but to ±1.
//! - With a negative factor, a dependent's negative score is left out (a
//!   dislike of a disliked node does not become a liking).
//! - The dependent's own dependents follow, each at its own colocation's
//!   factor (signed like the outer one, not multiplied by it); a group
//!   dependent is represented by its first member, whose dependents include
//!   the next member at full strength, and so on down the group.
//! - Each level that would leave the resource no node at all is undone.
//! - A resource already being merged is skipped (a colocation loop).
//! - For a clone (`pcmk__clone_allocate`) and a promotable clone's promotion
//!   scores, a node at zero that a dependent would turn negative stays at zero,
//!   and a positive one is kept at 1 (Pacemaker's "nonnegative" selection).

use super::{Assigner, Progress, Scores};
use crate::plan::Source;
use halo_model::{ConstraintKind, ResourceKind, Role, RscId, Score};

/// One step of a merge: the factor a dependent's scores are multiplied by.
#[derive(Clone, Copy)]
struct Factor(f32);

impl Factor {
    fn of(score: Score) -> Factor {
        // Pacemaker divides in single precision; keeping it makes the
        // rounding of large scores agree.
        Factor(score.value() as f32 / Score::INF_VALUE as f32)
    }

    fn negative(self) -> bool {
        self.0 < 0.0
    }

    /// The next level's factor: the colocation's own, signed as this one.
    fn nested(self, score: Score) -> Factor {
        let f = Factor::of(score).0;
        Factor(if self.negative() { -f } else { f })
    }

    /// `score` weighted by this factor, rounded half away from zero, never
    /// zero for a nonzero score.
    fn weigh(self, score: Score) -> Score {
        let w = self.0 * score.value() as f32;
        let rounded = if w < 0.0 { w - 0.5 } else { w + 0.5 } as i64;
        if rounded == 0 && score != Score::ZERO && self.0 != 0.0 {
            return Score::new(if self.negative() { -1 } else { 1 });
        }
        Score::new(rounded)
    }
}

/// One step of a merge walk: the colocation that brings a resource in.
#[derive(Clone, Copy)]
struct Step<'k> {
    /// What its scores are multiplied by.
    f: Factor,
    /// The node attribute it goes by (`None`: by node).
    by: Option<&'k str>,
    origin: halo_model::Origin,
}

/// What one merge walk carries along.
struct Walk {
    /// Resources whose scores are being merged (loop guard).
    merging: Vec<bool>,
    /// Keep nodes a dependent would turn negative at 1, or at 0 when they
    /// were 0 (a clone's scores and promotion scores).
    nonnegative: bool,
}

impl Assigner<'_, '_> {
    /// Folds in the preferences of the resources colocated with unit `u` that
    /// are not yet assigned. With `role`, only colocations with that role of
    /// `u` count (promotion scores), else those with `u` in any role.
    pub(super) fn add_dependents(&self, u: RscId, s: &mut Scores, role: Option<Role>) {
        let mut walk = Walk {
            merging: vec![false; self.cx.p.resources.len()],
            nonnegative: role == Some(Role::Promoted) || self.cx.clone_of(u).is_some(),
        };
        if let Some(m) = walk.merging.get_mut(u.index()) {
            *m = true;
        }
        // In Pacemaker's order (`cmp_dependent_priority`, equal ones in
        // reverse declaration order).
        let mut colocations: Vec<(&halo_model::Constraint, RscId)> = self
            .cx
            .colocations_of_primary(u)
            .filter_map(|c| match &c.kind {
                ConstraintKind::Colocation { dependent, .. } => Some((c, *dependent)),
                _ => None,
            })
            .collect();
        colocations.reverse();
        colocations.sort_by(|(_, a), (_, b)| self.primary_rank(*a).cmp(&self.primary_rank(*b)));
        for (c, _) in colocations {
            let ConstraintKind::Colocation {
                dependent,
                primary,
                primary_role,
                dependent_role,
                score,
                node_attribute,
            } = &c.kind
            else {
                continue;
            };
            if self.unit(*primary) != u || self.unit(*dependent) == u {
                continue;
            }
            let role_matches = match role {
                Some(r) => *primary_role == Some(r),
                None => !matches!(primary_role, Some(Role::Promoted | Role::Unpromoted)),
            };
            if !role_matches || matches!(dependent_role, Some(Role::Promoted | Role::Unpromoted)) {
                continue;
            }
            // Not yet placed: waiting, or being placed right now (it placed
            // `u`, its primary, first).
            let d = self.unit(*dependent);
            if self.progress.get(d.index()) == Some(&Progress::Done) {
                continue;
            }
            let step = Step {
                f: Factor::of(*score),
                by: node_attribute.as_deref(),
                origin: c.origin,
            };
            self.merge(*dependent, s, step, &mut walk);
        }
    }

    /// Adds `x`'s scores, weighted by the step's factor, and then its
    /// dependents', to `s`; undone if that leaves no node.
    fn merge(&self, x: RscId, s: &mut Scores, step: Step<'_>, walk: &mut Walk) {
        if walk.merging.get(x.index()).copied().unwrap_or(true) {
            return;
        }
        // A merge costs a score per node and about as much as eight more in
        // finding what to add.
        let cost = self.cx.nodes.len() as u64 + 8;
        match self.weighing_left.get().checked_sub(cost) {
            Some(left) => self.weighing_left.set(left),
            None => {
                self.weighing_cut.set(true);
                return;
            }
        }
        if let Some(m) = walk.merging.get_mut(x.index()) {
            *m = true;
        }
        let mark = s.mark();
        let members = self.group_members(x);
        if let Some(&first) = members.first() {
            self.merge(first, s, step, walk);
        } else {
            self.add_weighted(x, s, step, walk.nonnegative);
        }
        if (0..self.cx.nodes.len()).any(|n| s.runnable(n)) {
            let last = members.last().copied().unwrap_or(x);
            for (next, score, by, origin) in self.dependents_of(last, !members.is_empty()) {
                let next_step = Step {
                    f: step.f.nested(score),
                    by,
                    origin,
                };
                self.merge(next, s, next_step, walk);
            }
            if walk.nonnegative {
                keep_positive(s);
            }
        } else {
            s.rollback(&mark);
        }
        if let Some(m) = walk.merging.get_mut(x.index()) {
            *m = false;
        }
    }

    /// Adds the primitive `x`'s own scores, weighted by the step's factor,
    /// to `work` (`add_node_scores_matching_attr`): on each node, its best
    /// score on a node that is the same place by the colocation's attribute
    /// (`best_node_score_matching_attr`: the node itself when by node).
    fn add_weighted(&self, x: RscId, work: &mut Scores, step: Step<'_>, nonnegative: bool) {
        let Step { f, by, origin } = step;
        let own = self.own_totals(x);
        for (ni, &mine) in own.iter().enumerate() {
            let theirs = match by {
                None => mine,
                Some(attr) => self.best_matching(&own, attr, ni),
            };
            if f.negative() && theirs < Score::ZERO {
                continue;
            }
            if nonnegative && marked(work, ni) {
                continue;
            }
            let before = work.total(ni);
            let w = f.weigh(theirs);
            if nonnegative && before + w < Score::ZERO && before >= Score::ZERO {
                if before > Score::ZERO {
                    work.add(
                        ni,
                        Score::NEG_INF,
                        Source::KeptPositive {
                            rsc: self.cx.name(x).to_string(),
                        },
                    );
                }
                continue;
            }
            if w != Score::ZERO {
                work.add(
                    ni,
                    w,
                    Source::Dependent {
                        origin,
                        rsc: self.cx.name(x).to_string(),
                    },
                );
            }
        }
    }

    /// The best of `own` on a node with the same value of `attr` as `ni`
    /// (`ni` among them). Pacemaker starts from minus infinity and only
    /// takes a node scored above it.
    fn best_matching(&self, own: &[Score], attr: &str, ni: usize) -> Score {
        own.iter()
            .enumerate()
            .filter(|(nj, _)| self.cx.same_place(Some(attr), *nj, ni))
            .fold(Score::NEG_INF, |best, (_, s)| best.max(*s))
    }

    /// A resource's score on each node as Pacemaker keeps it before it is
    /// assigned: a group member's its own, anything else's as a unit, and a
    /// unit being assigned its scores so far.
    fn own_totals(&self, x: RscId) -> Vec<Score> {
        let totals = |s: &Scores| (0..self.cx.nodes.len()).map(|n| s.total(n)).collect();
        if let Some(Some(partial)) = self.partial.get(x.index()) {
            // Being assigned: what its colocations applied so far.
            if self.progress.get(x.index()) == Some(&Progress::Busy) {
                return totals(partial);
            }
        }
        match self.cx.p.resource(x).and_then(|r| r.parent) {
            Some(g) if !self.group_members(g).is_empty() => totals(&self.member_scores(g, x)),
            _ => totals(&self.base_scores(x)),
        }
    }

    /// The members of `x` if it is a group, else nothing.
    fn group_members(&self, x: RscId) -> Vec<RscId> {
        match self.cx.p.resource(x).map(|r| &r.kind) {
            Some(ResourceKind::Group(m)) => m.clone(),
            _ => Vec::new(),
        }
    }

    /// The resources colocated with `x` itself, in Pacemaker's order
    /// (`cmp_dependent_priority`): a group member's next member at full
    /// strength, and the colocations that name `x` as their primary. A group
    /// dependent is represented at its end by its last member (`of_group`),
    /// so what is colocated with that member (and, once the group is being
    /// assigned, with the group) counts twice, as in Pacemaker.
    fn dependents_of(
        &self,
        x: RscId,
        of_group: bool,
    ) -> Vec<(RscId, Score, Option<&str>, halo_model::Origin)> {
        let mut out: Vec<(RscId, Score, Option<&str>, halo_model::Origin)> = Vec::new();
        // Once its group has begun to be assigned, the last member also
        // stands for the group: "R with group" becomes "R with last member"
        // (`expand_group_colocations`, run by `pcmk__group_assign`).
        let group = self.cx.p.resource(x).and_then(|r| r.parent).filter(|g| {
            self.group_members(*g).last() == Some(&x)
                && self.progress.get(self.unit(*g).index()) != Some(&Progress::NotYet)
        });
        for c in self.cx.colocations_of_primary(self.unit(x)) {
            if let ConstraintKind::Colocation {
                dependent,
                primary,
                primary_role,
                dependent_role,
                score,
                node_attribute,
            } = &c.kind
            {
                let any_role = primary_role.is_none_or(|r| r == Role::Started)
                    && dependent_role.is_none_or(|r| r == Role::Started);
                let named = *primary == x || Some(*primary) == group;
                if named && any_role && self.unit(*dependent) != self.unit(x) {
                    out.push((*dependent, *score, node_attribute.as_deref(), c.origin));
                }
            }
        }
        if !of_group {
            if let Some(g) = self.cx.p.resource(x).and_then(|r| r.parent) {
                let members = self.group_members(g);
                if let Some(i) = members.iter().position(|m| *m == x) {
                    if let (Some(&next), Some(origin)) =
                        (members.get(i + 1), self.cx.p.resource(g).map(|r| r.origin))
                    {
                        out.push((next, Score::INF, None, origin));
                    }
                }
            }
        }
        out.reverse();
        out.sort_by(|a, b| self.primary_rank(a.0).cmp(&self.primary_rank(b.0)));
        out
    }
}

/// The mark of a node a dependent would have turned negative, while the
/// merge goes on.
fn is_mark(c: &super::Contribution) -> bool {
    matches!(c.source, Source::KeptPositive { .. }) && c.score.is_neg_inf()
}

/// Whether node `ni` was marked unusable during this merge.
fn marked(s: &Scores, ni: usize) -> bool {
    s.parts.get(ni).is_some_and(|p| p.iter().any(is_mark))
}

/// Nodes marked unusable end the merge at 1.
fn keep_positive(s: &mut Scores) {
    for p in &mut s.parts {
        let Some(i) = p.iter().position(is_mark) else {
            continue;
        };
        let rest = p
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .fold(Score::ZERO, |a, (_, c)| a + c.score);
        if let Some(c) = p.get_mut(i) {
            c.score = Score::new(1 - rest.value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Factor;
    use halo_model::Score;

    #[test]
    fn weighs_as_pacemaker_rounds() {
        let f = Factor::of(Score::new(822));
        // 0.000822 × 538 = 0.44: not rounded away, but to 1.
        assert_eq!(f.weigh(Score::new(538)), Score::new(1));
        // The sign follows the factor, even for a negative score
        // (0.000765 × -373 gives +1 in Pacemaker too).
        assert_eq!(
            Factor::of(Score::new(765)).weigh(Score::new(-373)),
            Score::new(1)
        );
        // Half away from zero.
        let half = Factor::of(Score::new(500_000));
        assert_eq!(half.weigh(Score::new(3)), Score::new(2));
        assert_eq!(half.weigh(Score::new(-3)), Score::new(-2));
        // Minus infinity where the dependent cannot run, times the factor.
        assert_eq!(f.weigh(Score::NEG_INF), Score::new(-822));
        assert_eq!(Factor::of(Score::INF).weigh(Score::NEG_INF), Score::NEG_INF);
        // Nested factors keep the outer sign, not the product.
        let anti = Factor::of(Score::new(-500_000));
        assert_eq!(
            anti.nested(Score::new(200_000)).weigh(Score::new(10)),
            Score::new(-2)
        );
        assert_eq!(f.weigh(Score::ZERO), Score::ZERO);
    }
}
