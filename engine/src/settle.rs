//! Applying a plan to a state as if every action succeeded: what `halo simulate`
//! shows as the revised status and what `halo test` steps through.
//!
//! The simulated agents behave like `ocf:pacemaker:Stateful` for promotion scores:
//! an instance that starts reports 5, one that is promoted reports 10, one that is
//! demoted reports 5 again — unless the state already carries another score.

use crate::plan::{ActionKind, Plan};
use halo_model::{ClusterState, NodeStatus, Role};

/// Promotion score a simulated replica reports.
pub const REPLICA_SCORE: i64 = 5;
/// Promotion score a simulated primary reports.
pub const PRIMARY_SCORE: i64 = 10;

/// The state after every action of `plan` succeeded.
pub fn apply(plan: &Plan, state: &ClusterState) -> ClusterState {
    let mut s = state.clone();
    // Nothing runs on a node that is cleanly down, whatever a stale record says.
    let offline: Vec<String> = s
        .nodes
        .iter()
        .filter(|(_, n)| n.status == NodeStatus::Offline)
        .map(|(k, _)| k.clone())
        .collect();
    for per_node in s.resources.values_mut() {
        per_node.retain(|n, _| !offline.contains(n));
    }
    for a in plan.ordered() {
        // Notifications change no role.
        if matches!(a.kind, ActionKind::Notify | ActionKind::Notified) {
            continue;
        }
        let Some(rsc) = &a.rsc else {
            // Fencing: the node is powered off and nothing runs there any more.
            let n = s.node_mut(&a.node);
            n.status = NodeStatus::Offline;
            for per_node in s.resources.values_mut() {
                per_node.remove(&a.node);
            }
            s.fenced.retain(|f| f != &a.node);
            continue;
        };
        let promotable = plan
            .placement(rsc)
            .and_then(|p| p.promotion.as_ref())
            .is_some()
            || s.on(rsc, &a.node)
                .is_some_and(|r| matches!(r.role, Role::Promoted | Role::Unpromoted));
        let entry = s
            .resources
            .entry(rsc.clone())
            .or_default()
            .entry(a.node.clone())
            .or_default();
        // A node may hold several instances of a clone: an action changes one.
        let mut roles = entry.roles();
        match a.kind {
            ActionKind::Stop => {
                // The lowest role goes (a promoted instance is demoted first).
                roles.sort_by_key(|r| std::cmp::Reverse(*r));
                roles.pop();
                entry.failed = None;
            }
            ActionKind::Start => {
                entry.failed = None;
                // Started as the policy gives it now.
                entry.changed = false;
                entry.reload = false;
                entry.definition = None;
                if promotable {
                    roles.push(Role::Unpromoted);
                    entry.promotion.get_or_insert(REPLICA_SCORE);
                } else {
                    roles.push(Role::Started);
                }
            }
            ActionKind::Promote => {
                match roles.iter_mut().find(|r| **r != Role::Promoted) {
                    Some(r) => *r = Role::Promoted,
                    None => roles.push(Role::Promoted),
                }
                if entry.promotion.is_none_or(|p| p == REPLICA_SCORE) {
                    entry.promotion = Some(PRIMARY_SCORE);
                }
            }
            ActionKind::Demote => {
                if let Some(r) = roles.iter_mut().find(|r| **r == Role::Promoted) {
                    *r = Role::Unpromoted;
                }
                if entry.promotion == Some(PRIMARY_SCORE) {
                    entry.promotion = Some(REPLICA_SCORE);
                }
            }
            // Now as the policy gives it: no record needed.
            ActionKind::Reload => {
                entry.reload = false;
                entry.definition = None;
            }
            ActionKind::Fence | ActionKind::Monitor => {}
            ActionKind::Notify | ActionKind::Notified => {
                debug_assert!(false, "notifications were skipped above");
            }
        }
        entry.set_roles(roles);
    }
    s.normalize();
    s
}
