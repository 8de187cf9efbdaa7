//! After assignment: what may not start because what it must follow, or run
//! with, cannot.
//!
//! Follows Pacemaker's `pcmk__update_action_for_orderings`
//! (pcmk_sched_actions.c) for orders that make `then` runnable only when
//! `first` is (`pe_order_runnable_left`: mandatory orders and thresholds),
//! with:
//!
//! - a group's start: its "running" pseudo-action is runnable only where
//!   every member starts (`pcmk__group_action_flags`, pcmk_sched_group.c), so
//!   what follows a group waits for its last member;
//! - `order a or b then c` (`require-all=false` on a set): the "one-or-more"
//!   pseudo-action is runnable when any member's action is (`order_rsc_sets`,
//!   pcmk_sched_ordering.c), so `c` needs one of them, not both;
//! - a threshold (`needs N`, `clone-min`) counts the instances that will run
//!   (`clone_min_ordering`);
//! - a start made unrunnable takes the starts of its mandatory dependents with
//!   it: a resource colocated with score INFINITY with a primary that would
//!   start but may not (for a clone, no instance may) cannot start either, and
//!   one colocated in the promoted role is not promoted
//!   (`pcmk__block_colocation_dependents`, pcmk_sched_colocation.c).
//!
//! Everything repeats until nothing more is held back: what one hold stops
//! may hold back what follows it.

use super::Assigner;
use halo_model::{ConstraintKind, OpAction, OrderKind, ResourceKind, Role, RscId, Score};

impl Assigner<'_, '_> {
    /// Holds back what mandatory orders and colocations keep from starting,
    /// until nothing more changes.
    pub(super) fn enforce_mandatory_orders(&mut self) {
        let cx = self.cx;
        for _ in 0..=cx.p.constraints.len() {
            let mut changed = false;
            for c in cx.orders() {
                changed |= self.enforce_order(&c.kind);
            }
            changed |= self.block_colocated_dependents();
            if !changed {
                return;
            }
        }
        debug_assert!(false, "holding back starts did not settle");
    }

    /// One order: holds `then` back (its start, or only its promotion) when
    /// too little of `first` will start or be promoted. Returns whether it
    /// held anything back. (A stop it makes unrunnable is held once starts
    /// are settled: `hold_stops_behind_blocked`.)
    fn enforce_order(&mut self, kind: &ConstraintKind) -> bool {
        let ConstraintKind::Order {
            then,
            then_action,
            symmetrical,
            ..
        } = kind
        else {
            return false;
        };
        if matches!(then_action, OpAction::Stop | OpAction::Demote) {
            return false;
        }
        let Some(why) = self.first_falls_short(kind) else {
            return false;
        };
        let ids = self.with_members(*then);
        // An order before a promotion holds back only the promotion.
        if *then_action == OpAction::Promote {
            return self.hold_promotion(&ids);
        }
        let mut changed = false;
        for id in ids {
            changed |= self.hold_start(id, &why, *symmetrical);
        }
        changed
    }

    /// Whether an order's `then` action is made unrunnable because too
    /// little of `first` will start or be promoted (`pe_order_runnable_left`:
    /// a mandatory order whose first action is a start or a promotion, and
    /// every threshold): why.
    pub(super) fn first_falls_short(&self, kind: &ConstraintKind) -> Option<String> {
        let cx = self.cx;
        let ConstraintKind::Order {
            first,
            first_action,
            kind,
            first_min,
            any_of,
            ..
        } = kind
        else {
            return None;
        };
        // A threshold holds `then` back whatever the order's kind.
        let gate = first_min.filter(|k| *k > 0);
        if *kind != OrderKind::Mandatory && gate.is_none() {
            return None;
        }
        if !matches!(first_action, OpAction::Start | OpAction::Promote) {
            return None;
        }
        let firsts = if any_of.is_empty() {
            std::slice::from_ref(first)
        } else {
            &any_of[..]
        };
        // An unmanaged resource is left as it is: where it runs, its start
        // is optional yet runnable (`update_action_optional` leaves it
        // runnable), so what follows it may start; where it does not run,
        // it starts nowhere; where a failure blocks it, its stop cannot run
        // and neither can the start after it (`left_running`).
        let need = usize::try_from(gate.unwrap_or(1)).unwrap_or(usize::MAX);
        let able: usize = firsts
            .iter()
            .map(|f| {
                if self.targets[f.index()].blocked {
                    self.left_running(*f, *first_action)
                } else {
                    self.able(*f, *first_action)
                }
            })
            .sum();
        if able >= need {
            return None;
        }
        let why = match gate {
            Some(_) if !any_of.is_empty() => format!(
                "it is ordered after any of {}, and none can {first_action}",
                any_of
                    .iter()
                    .map(|f| cx.name(*f))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(k) => format!(
                "it needs {k} instance(s) of {} to {first_action}, and fewer can",
                cx.name(*first)
            ),
            None => format!(
                "it is ordered after {}.{first_action}, which will not happen",
                cx.name(*first)
            ),
        };
        Some(why)
    }

    /// How many instances of a resource left as it is run now (for
    /// `promote`, in the promoted role), not counting those a failure
    /// blocks (on-fail=block, a failed stop): their stop cannot run, and
    /// the start after it cannot either (Pacemaker's `pe_rsc_block`).
    fn left_running(&self, f: RscId, action: OpAction) -> usize {
        let blocked_on = &self.cx.rsc[f.index()].blocked_on;
        self.current_instances(f)
            .iter()
            .filter(|(_, r)| action != OpAction::Promote || *r == Role::Promoted)
            .filter(|(n, _)| !blocked_on.contains(n))
            .count()
    }

    /// How many instances of `f` will start (or, for `promote`, be promoted).
    /// A group's count only where every member will: its "running"
    /// pseudo-action needs every member's start (`pcmk__group_action_flags`).
    fn able(&self, f: RscId, action: OpAction) -> usize {
        let members = match self.cx.p.resource(f).map(|r| &r.kind) {
            Some(ResourceKind::Group(m)) => &m[..],
            _ => &[],
        };
        self.targets[f.index()]
            .instances
            .iter()
            .filter(|(_, r)| action != OpAction::Promote || *r == Role::Promoted)
            .filter(|(n, _)| {
                members.iter().all(|m| {
                    self.targets[m.index()]
                        .instances
                        .iter()
                        .any(|(x, _)| x == n)
                })
            })
            .count()
    }

    /// A resource and, for a group, its members.
    fn with_members(&self, id: RscId) -> Vec<RscId> {
        let mut ids = vec![id];
        ids.extend(self.cx.leaves(id).into_iter().filter(|m| *m != id));
        ids
    }

    /// Promoted instances of `ids` stay unpromoted.
    fn hold_promotion(&mut self, ids: &[RscId]) -> bool {
        let mut changed = false;
        for id in ids {
            let t = &mut self.targets[id.index()];
            for inst in t.instances.iter_mut().filter(|(_, r)| *r == Role::Promoted) {
                inst.1 = Role::Unpromoted;
                t.promote_held.push(inst.0);
                changed = true;
            }
        }
        changed
    }

    /// `id` does not start, and where it runs it stops (its own start being
    /// unrunnable makes its stop required: the "shutdown" case of
    /// `pe_order_restart` in `pcmk__update_action_for_orderings`), unless an
    /// asymmetrical order only gates starts and `id` already runs where it
    /// should. Returns whether it held anything back.
    fn hold_start(&mut self, id: RscId, why: &str, symmetrical: bool) -> bool {
        let cx = self.cx;
        let now = self.current_instances(id);
        let t = &self.targets[id.index()];
        // (One active on more nodes than it will run on must stop and start
        // again: that start is held back too.)
        let stays = !symmetrical && !t.instances.is_empty() && now.len() <= t.instances.len() && {
            let recover = &cx.rsc[id.index()].recover;
            t.instances.iter().all(|(n, _)| {
                now.iter().any(|(c, _)| c == n) && !recover.iter().any(|(x, _)| x == n)
            })
        };
        if stays {
            return false;
        }
        let t = &mut self.targets[id.index()];
        if t.instances.is_empty() || t.blocked {
            return false;
        }
        t.held = t.instances.iter().map(|(n, _)| *n).collect();
        // An instance to be started and promoted is still chosen for
        // promotion (`pcmk__set_instance_roles` reads assignments, not
        // whether starts can run): its promotion is what is blocked.
        let promoted = t
            .instances
            .iter()
            .filter(|(n, r)| *r == Role::Promoted && !now.iter().any(|(c, _)| c == n))
            .map(|(n, _)| *n);
        t.promote_held.extend(promoted);
        t.instances.clear();
        t.unplaced = Some(why.to_string());
        true
    }

    /// A primary held back from starting holds back its mandatory
    /// dependents (`pcmk__block_colocation_dependents`): a dependent in the
    /// promoted role is only not promoted. Returns whether anything changed.
    fn block_colocated_dependents(&mut self) -> bool {
        let cx = self.cx;
        let mut changed = false;
        for c in &cx.p.constraints {
            let ConstraintKind::Colocation {
                dependent,
                dependent_role,
                primary,
                score,
                ..
            } = &c.kind
            else {
                continue;
            };
            let p = &self.targets[primary.index()];
            if *score < Score::INF || p.held.is_empty() || !p.instances.is_empty() {
                continue;
            }
            let ids = self.with_members(*dependent);
            if *dependent_role == Some(Role::Promoted) {
                changed |= self.hold_promotion(&ids);
                continue;
            }
            let why = format!("it must run with {}, which cannot start", cx.name(*primary));
            for id in ids {
                changed |= self.hold_start(id, &why, true);
            }
        }
        changed
    }
}
