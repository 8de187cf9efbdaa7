//! The transition summary: a plan's actions folded into what an operator reads —
//! "move web from web1 to web2" rather than "stop web on web1; start web on web2".

use crate::plan::{ActionKind, Plan, Reason};
use halo_model::Role;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Transition {
    Fence {
        node: String,
        reason: String,
    },
    Start {
        rsc: String,
        node: String,
    },
    Stop {
        rsc: String,
        node: String,
        reason: String,
    },
    Move {
        rsc: String,
        from: String,
        to: String,
        reason: String,
    },
    /// Stopped and started on the same node after a failure.
    Recover {
        rsc: String,
        node: String,
        reason: String,
    },
    /// Stopped and started on the same node because something it depends on did.
    Restart {
        rsc: String,
        node: String,
        reason: String,
    },
    Promote {
        rsc: String,
        node: String,
    },
    Demote {
        rsc: String,
        node: String,
    },
    /// Changed parameters taken in place, without a stop.
    Reload {
        rsc: String,
        node: String,
    },
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transition::Fence { node, reason } => write!(f, "Fence    {node:<16} because {reason}"),
            Transition::Start { rsc, node } => write!(f, "Start    {rsc:<16} ( {node} )"),
            Transition::Stop { rsc, node, reason } => {
                write!(f, "Stop     {rsc:<16} ( {node} )  because {reason}")
            }
            Transition::Move {
                rsc,
                from,
                to,
                reason,
            } => {
                write!(f, "Move     {rsc:<16} ( {from} -> {to} )  because {reason}")
            }
            Transition::Recover { rsc, node, reason } => {
                write!(f, "Recover  {rsc:<16} ( {node} )  because {reason}")
            }
            Transition::Restart { rsc, node, reason } => {
                write!(f, "Restart  {rsc:<16} ( {node} )  because {reason}")
            }
            Transition::Promote { rsc, node } => write!(f, "Promote  {rsc:<16} ( {node} )"),
            Transition::Demote { rsc, node } => write!(f, "Demote   {rsc:<16} ( {node} )"),
            Transition::Reload { rsc, node } => {
                write!(
                    f,
                    "Reload   {rsc:<16} ( {node} )  because its parameters changed"
                )
            }
        }
    }
}

/// Folds a plan's actions into transitions, fencing first, then resources in
/// declaration order (unknown resources last, by name).
pub fn transitions(plan: &Plan) -> Vec<Transition> {
    let mut out = Vec::new();
    let order: BTreeMap<&str, usize> = plan
        .placements
        .iter()
        .enumerate()
        .map(|(i, p)| (p.rsc.as_str(), i))
        .collect();
    let mut per_rsc: BTreeMap<(usize, String), Vec<&crate::Action>> = BTreeMap::new();
    for a in plan.graph.node_weights() {
        match &a.rsc {
            None => out.push(Transition::Fence {
                node: a.node.clone(),
                reason: a
                    .because
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            Some(r) => per_rsc
                .entry((
                    order.get(r.as_str()).copied().unwrap_or(usize::MAX),
                    r.clone(),
                ))
                .or_default()
                .push(a),
        }
    }
    out.sort_by(|a, b| format!("{a}").cmp(&format!("{b}")));
    for ((_, rsc), actions) in per_rsc {
        // The first action of each kind on each node, and the nodes where
        // one failed, found once: a resource may have thousands of actions.
        let mut first: BTreeMap<(ActionKind, &str), &crate::Action> = BTreeMap::new();
        for a in &actions {
            first.entry((a.kind, a.node.as_str())).or_insert(a);
        }
        let failed_on: std::collections::BTreeSet<&str> = actions
            .iter()
            .filter(|a| a.because.iter().any(|b| matches!(b, Reason::Failed { .. })))
            .map(|a| a.node.as_str())
            .collect();
        let has = |k: ActionKind, n: &str| first.contains_key(&(k, n));
        let reason_of = |k: ActionKind, n: &str| {
            first
                .get(&(k, n))
                .map(|a| {
                    a.because
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default()
        };
        let mut stops: Vec<&str> = actions
            .iter()
            .filter(|a| a.kind == ActionKind::Stop)
            .map(|a| a.node.as_str())
            .collect();
        let mut starts: Vec<&str> = actions
            .iter()
            .filter(|a| a.kind == ActionKind::Start)
            .map(|a| a.node.as_str())
            .collect();
        stops.sort_unstable();
        starts.sort_unstable();
        let single = plan
            .placement(&rsc)
            .is_none_or(|p| p.promotion.is_none() && p.instances.len() <= 1);
        // Same node: recover or restart.
        let start_set: std::collections::BTreeSet<&str> = starts.iter().copied().collect();
        let mut same: Vec<&str> = stops
            .iter()
            .copied()
            .filter(|n| start_set.contains(n))
            .collect();
        same.dedup();
        let same_set: std::collections::BTreeSet<&str> = same.iter().copied().collect();
        stops.retain(|x| !same_set.contains(x));
        starts.retain(|x| !same_set.contains(x));
        for n in same {
            let reason = reason_of(ActionKind::Stop, n);
            let (rsc, node) = (rsc.clone(), n.to_string());
            out.push(if failed_on.contains(n) {
                Transition::Recover { rsc, node, reason }
            } else {
                Transition::Restart { rsc, node, reason }
            });
        }
        if single && stops.len() == 1 && starts.len() == 1 {
            let (from, to) = (stops[0], starts[0]);
            out.push(Transition::Move {
                rsc: rsc.clone(),
                from: from.into(),
                to: to.into(),
                reason: reason_of(ActionKind::Stop, from),
            });
            stops.clear();
            starts.clear();
        }
        for n in stops {
            out.push(Transition::Stop {
                rsc: rsc.clone(),
                node: n.into(),
                reason: reason_of(ActionKind::Stop, n),
            });
        }
        for n in starts {
            // A start that moves a resource off a fenced node has no stop of its
            // own (the fence stopped it): it is still a move.
            let moved_from = first.get(&(ActionKind::Start, n)).and_then(|a| {
                a.because.iter().find_map(|b| match b {
                    Reason::Moving { from, .. } if single && from != n => Some(from.clone()),
                    _ => None,
                })
            });
            if let Some(from) = moved_from {
                let reason = format!("{from} is fenced");
                out.push(Transition::Move {
                    rsc: rsc.clone(),
                    from,
                    to: n.into(),
                    reason,
                });
                continue;
            }
            out.push(Transition::Start {
                rsc: rsc.clone(),
                node: n.into(),
            });
        }
        let mut nodes: Vec<&str> = actions.iter().map(|a| a.node.as_str()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for n in nodes {
            if has(ActionKind::Demote, n) && !has(ActionKind::Stop, n) {
                out.push(Transition::Demote {
                    rsc: rsc.clone(),
                    node: n.into(),
                });
            }
            // Demoted, restarted and promoted again in place: the role is the
            // same, and the Recover/Restart line says it all.
            let same_role =
                has(ActionKind::Demote, n) && has(ActionKind::Stop, n) && has(ActionKind::Start, n);
            if has(ActionKind::Promote, n) && !same_role {
                out.push(Transition::Promote {
                    rsc: rsc.clone(),
                    node: n.into(),
                });
            }
            if has(ActionKind::Reload, n) {
                out.push(Transition::Reload {
                    rsc: rsc.clone(),
                    node: n.into(),
                });
            }
        }
    }
    out
}

/// Short role names for status displays.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Stopped => "Stopped",
        Role::Started => "Started",
        Role::Unpromoted => "Unpromoted",
        Role::Promoted => "Promoted",
    }
}
