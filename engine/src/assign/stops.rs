//! Stops that cannot happen, and what they keep running: a stop ordered
//! after a blocked resource's stop, or after a start that will not happen
//! (Pacemaker's `pe_order_runnable_left` and `pe_rsc_block` in
//! `pcmk__update_action_for_orderings`).

use super::*;

impl Assigner<'_, '_> {
    /// A stop ordered after the stop of a resource a failure blocks (the
    /// inverse of a symmetrical start order, or an explicit stop order), or
    /// after a start or promotion that will not happen, cannot happen: the
    /// resource keeps running where it would have stopped.
    pub(super) fn hold_stops_behind_blocked(&mut self) {
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
                if let Some(why) = self.first_falls_short(&c.kind) {
                    self.hold_stop(*then, &why);
                }
            }
        }
    }

    /// Keeps `after` running where it runs, its stop held. Only a resource
    /// that runs once, on one node, is kept there (moving it would need
    /// that stop too); clones and resources active on several nodes are
    /// recovered as usual. Returns whether anything changed.
    pub(super) fn hold_stop(&mut self, after: RscId, why: &str) -> bool {
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
    pub(super) fn stop_unrunnable(&self, id: RscId) -> bool {
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
}
