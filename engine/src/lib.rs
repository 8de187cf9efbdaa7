//! Halo's placement engine: `plan(&Policy, &ClusterState, now) -> Plan`.
//!
//! A pure function. It does no I/O, reads no clock (time is the `now` argument),
//! uses no randomness and never iterates a hash map: the same input gives the same
//! plan, byte for byte. It never sees source text: policy items carry origins that
//! the caller maps back to file and line. It never acts on a plan — the runtime (or
//! `halo simulate`) does.
//!
//! Phases, in order: unpack the state ([`ctx`]), assign nodes and roles
//! ([`assign`]), derive the actions and their ordering ([`actions`]).

mod actions;
mod assign;
mod ctx;
mod plan;
pub mod scenario;
pub mod settle;
pub mod summary;

pub use plan::{
    Action, ActionKind, Contribution, NodeScore, Notice, Phase, Placement, Plan, Reason, Source,
};

use halo_model::{ClusterState, Policy, RscId, Timestamp};

/// Computes the plan that takes the cluster from `state` to what `policy` wants.
pub fn plan(policy: &Policy, state: &ClusterState, now: Timestamp) -> Plan {
    let cx = ctx::Ctx::new(policy, state, now);
    let assign::Assigned {
        targets,
        weighing_cut,
    } = assign::Assigner::run(&cx);
    let (graph, mut notes) = actions::Builder::build(&cx, &targets);
    if weighing_cut {
        notes.push(format!(
            "colocation chains are too long or too entangled to weigh in full: dependents' preferences past {} node scores were not counted (Pacemaker would follow them all, for minutes or more); shorten the chains",
            assign::MAX_WEIGHING
        ));
    }
    let placements = policy
        .resources
        .iter()
        .zip(targets)
        .enumerate()
        .map(|(i, (r, t))| {
            let id = RscId(u32::try_from(i).unwrap_or(u32::MAX));
            placement(&cx, id, r, t)
        })
        .collect::<Vec<Placement>>();
    let by_name = placements
        .iter()
        .enumerate()
        .map(|(i, p)| (p.rsc.clone(), i))
        .collect();
    Plan {
        quorate: cx.quorate,
        placements,
        graph,
        notes,
        by_name,
    }
}

/// What the plan tells of one resource, from its assignment.
fn placement(cx: &ctx::Ctx, id: RscId, r: &halo_model::Resource, t: assign::Target) -> Placement {
    Placement {
        rsc: r.name.clone(),
        instances: t
            .instances
            .iter()
            .filter_map(|(n, role)| cx.nodes.get(*n).map(|x| (x.name.clone(), *role)))
            .collect(),
        scores: assign::node_scores(cx, t.scores),
        promotion: t.promotion.map(|p| {
            let mut s = assign::node_scores(cx, p);
            s.retain(|ns| {
                t.instances
                    .iter()
                    .any(|(n, _)| cx.nodes.get(*n).is_some_and(|x| x.name == ns.node))
            });
            s
        }),
        blocked: t.blocked || cx.rsc.get(id.index()).is_some_and(|x| x.blocked.is_some()),
        frozen: cx
            .rsc
            .get(cx.leaves(id).first().map_or(id.index(), |l| l.index()))
            .map(|x| {
                x.frozen
                    .iter()
                    .filter_map(|(n, _)| cx.nodes.get(*n).map(|m| m.name.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        assigned_as: t.order,
        current: cx
            .current_node(id)
            .and_then(|(n, _)| cx.nodes.get(n).map(|x| x.name.clone())),
        unplaced: t.unplaced,
        held: t
            .held
            .iter()
            .filter_map(|n| cx.nodes.get(*n).map(|x| x.name.clone()))
            .collect(),
        stop_held: t
            .stop_held
            .iter()
            .filter_map(|n| cx.nodes.get(*n).map(|x| x.name.clone()))
            .collect(),
        promote_held: t
            .promote_held
            .iter()
            .filter_map(|n| cx.nodes.get(*n).map(|x| x.name.clone()))
            .collect(),
        moves: t
            .moves
            .iter()
            .filter_map(|(f, to)| {
                Some((
                    cx.nodes.get(*f)?.name.clone(),
                    cx.nodes.get(*to)?.name.clone(),
                ))
            })
            .collect(),
    }
}
