//! Groups: where their members go, and which members are held where a
//! member before them is blocked (Pacemaker's `pcmk__group_assign`,
//! pcmk_sched_group.c).

use super::*;

impl Assigner<'_, '_> {
    /// Group members follow the group: all of them on the group's nodes, except
    /// that a member that may not run stops itself and every member after it.
    pub(super) fn set_members(&mut self, u: RscId, t: &Target) {
        let leaves = self.cx.leaves(u);
        let grouped = leaves.len() > 1 || leaves.first() != Some(&u);
        let mut stopped: Option<String> = None;
        // A cloned group's instances, member by member: nodes where a member
        // does not fit (under a placement strategy) lose it and the members
        // after it, as a group does (`member_fits`).
        let cloned_group = grouped && !t.blocked && self.cx.clone_of(u).is_some();
        let mut gone: Vec<usize> = Vec::new();
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
                    } else if let Err(why) = self.member_fits(m, n) {
                        stopped = Some(why);
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
                    if cloned_group {
                        for &(n, _) in &t.instances {
                            if !gone.contains(&n) && self.member_fits(m, n).is_err() {
                                gone.push(n);
                            }
                        }
                        mt.instances.retain(|(n, _)| !gone.contains(n));
                        mt.moves.retain(|(_, to)| !gone.contains(to));
                    }
                }
            }
            // A resource left as it is on several nodes is assigned to one
            // of them, the first it is active on that is up
            // (`pcmk__primitive_assign` takes `pe__current_node`): only
            // there does it count toward later ties.
            let counted = if t.blocked && self.cx.clone_of(u).is_none() {
                mt.instances
                    .iter()
                    .map(|(n, _)| *n)
                    .find(|n| self.cx.nodes.get(*n).is_some_and(|x| x.up()))
            } else {
                None
            };
            for (n, _) in &mt.instances {
                if counted.is_none_or(|c| c == *n) {
                    if let Some(l) = self.load.get_mut(*n) {
                        *l += 1;
                    }
                }
                self.consume(m, *n);
            }
            if grouped {
                if let Some(slot) = self.targets.get_mut(m.index()) {
                    *slot = mt;
                }
            }
            if stopped.is_none() && grouped && !t.blocked && self.cx.clone_of(u).is_none() {
                stopped = self.failure_blocks_after(m, t);
            }
        }
    }

    /// A member a failure blocks where its group runs (on-fail=block, a
    /// failed stop) can neither stop nor start there, so the start of the
    /// member after it cannot run and what runs after it stops (the
    /// group's internal start order is mandatory: the end of
    /// `update_action_for_ordering_flags` makes the start after an
    /// unrunnable one unrunnable; the "shutdown" case of `pe_order_restart`
    /// makes the stop of a running member required).
    fn failure_blocks_after(&self, m: RscId, t: &Target) -> Option<String> {
        let &(n, _) = t.instances.first()?;
        let info = self.cx.rsc.get(m.index())?;
        info.blocked_on.contains(&n).then(|| {
            format!(
                "{} is blocked by a failure on {}: what follows it in its group cannot start",
                self.cx.name(m),
                self.cx.node_name(n)
            )
        })
    }

    /// For a group (not cloned) with a running member left as it is: that
    /// member's node and position. The group is not blocked as a whole: the
    /// members after it stop before it and may do so, the ones before it may
    /// not stop (`hold_members_before`).
    pub(super) fn pinned_by_blocked_member(&self, u: RscId) -> Option<(usize, usize)> {
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
    pub(super) fn hold_members_before(&mut self, u: RscId, n: usize, b: usize) {
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

    pub(super) fn member_stopped(&self, m: RscId) -> Option<String> {
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
}
