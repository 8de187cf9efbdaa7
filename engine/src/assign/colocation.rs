//! Colocations with resources already placed: how they score a dependent's
//! nodes (Pacemaker's `pcmk__apply_coloc_to_weights`, `pcmk__apply_coloc_to_priority`,
//! `pcmk__clone_apply_coloc_score`, pcmk_sched_colocation.c and pcmk_sched_clone.c)
//! and in which order a resource's primaries apply (`pcmk__add_this_with`).

use super::*;

impl<'c> Assigner<'c, '_> {
    /// The key Pacemaker sorts a resource's colocation primaries by (see
    /// `assign`): smaller goes first.
    pub(super) fn primary_rank(&self, id: RscId) -> (std::cmp::Reverse<i64>, u8, bool, &str) {
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
    pub(super) fn primaries_in_order(&self, u: RscId) -> Vec<(&'c halo_model::Constraint, RscId)> {
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

    /// Applies colocations in which `u` follows an already assigned unit. With
    /// `promotion`, only those that apply to `u`'s promoted role.
    pub(super) fn apply_primaries(&self, u: RscId, s: &mut Scores, promotion: bool) {
        for c in self.cx.colocations_of_dependent(u) {
            self.apply_primary(u, c, s, promotion);
        }
    }

    /// Applies one colocation in which `u` follows an already assigned unit.
    /// A finite negative one (or one for `u`'s promoted role) that would
    /// leave `u` no node at all is undone (`apply_this_with`).
    pub(super) fn apply_primary(
        &self,
        u: RscId,
        c: &halo_model::Constraint,
        s: &mut Scores,
        promotion: bool,
    ) {
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
        // A resource left as it is (unmanaged, or blocked by a failure) that
        // is active on several nodes is assigned to the one it counts as
        // current (`pcmk__primitive_assign` of an unmanaged resource takes
        // `pe__current_node`): only that node counts for what follows it.
        let current: Vec<(usize, Role)> = self.cx.current_node(*primary).into_iter().collect();
        let placed = if pt.instances.is_empty() {
            &held
        } else if pt.blocked && pt.instances.len() > 1 && self.cx.clone_of(*primary).is_none() {
            &current
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
    pub(super) fn colocated_by<'k>(
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
    pub(super) fn apply_inactive_primary(
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
}
