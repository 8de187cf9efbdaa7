//! Reloads: an instance started with parameters the policy no longer gives it,
//! all of which its agent can take in place, is reloaded rather than restarted
//! (Pacemaker 2.1.5, `schedule_reload` in `pcmk_sched_actions.c`).

use super::Builder;
use crate::plan::{ActionKind, Reason};
use halo_model::RscId;
use petgraph::graph::NodeIndex;
use std::collections::BTreeMap;

impl Builder<'_, '_> {
    /// A reload for every instance that calls for one, once every stop and
    /// demotion of the plan is known: as in Pacemaker, a stop or a demotion
    /// of the instance cancels its reload (`pe_order_then_cancels_first`),
    /// and nothing is reloaded on a node being fenced. A reload is ordered
    /// against nothing but the instance's recurring monitors, which it
    /// reschedules (`pcmk__new_ordering` of `reload_key` in
    /// `pcmk_sched_recurring.c`): constraints order starts, stops, promotions
    /// and demotions, never reloads. Blocked (unmanaged) and failed
    /// instances are never reloaded: the first get no action at all, the
    /// second are recovered.
    pub(super) fn reloads(&mut self) {
        let cx = self.cx;
        if cx.rsc.iter().all(|info| info.reload.is_empty()) {
            return;
        }
        let mut monitors: BTreeMap<(String, String), Vec<NodeIndex>> = BTreeMap::new();
        for ix in self.graph.node_indices() {
            let a = &self.graph[ix];
            if let (ActionKind::Monitor, Some(r)) = (a.kind, &a.rsc) {
                monitors
                    .entry((r.clone(), a.node.clone()))
                    .or_default()
                    .push(ix);
            }
        }
        for (i, info) in cx.rsc.iter().enumerate() {
            if info.reload.is_empty() || info.blocked.is_some() {
                continue;
            }
            let id = RscId(u32::try_from(i).unwrap_or(u32::MAX));
            for &n in &info.reload {
                let cancelled = [ActionKind::Stop, ActionKind::Demote]
                    .into_iter()
                    .any(|k| self.get(id, k, n).is_some());
                let failed = info.recover.iter().any(|(f, _)| *f == n);
                let frozen = info.frozen.iter().any(|(f, _)| *f == n);
                let up = cx.nodes.get(n).is_some_and(|x| x.up());
                if cancelled || failed || frozen || !up || self.fence_of(n).is_some() {
                    continue;
                }
                let reload = self.add(Some(id), ActionKind::Reload, n, Reason::Reload);
                let key = (cx.name(id).to_string(), cx.node_name(n));
                match monitors.get(&key) {
                    // Its role changes in this plan too: the monitors of the
                    // new role are there already.
                    Some(existing) => {
                        for &ix in existing {
                            self.edge(Some(reload), Some(ix));
                        }
                    }
                    None => {
                        let role = info.current.iter().find(|(c, _)| *c == n).map(|(_, r)| *r);
                        debug_assert!(role.is_some(), "a reload is planned only where it runs");
                        if let Some(role) = role {
                            self.add_monitors(id, n, role, Some(reload));
                        }
                    }
                }
            }
        }
    }
}
