//! `halo simulate --cib ... --format pacemaker`: the plan as Pacemaker 2.1's
//! `Transition Summary:` section, line for line comparable with `crm_simulate`.

use halo_engine::{ActionKind, Plan, Reason};
use halo_model::{ClusterState, Policy, Role};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Pacemaker's role names.
fn role(r: Role) -> &'static str {
    match r {
        Role::Stopped => "Stopped",
        Role::Started => "Started",
        Role::Unpromoted => "Unpromoted",
        Role::Promoted => "Promoted",
    }
}

/// A primitive found active on several nodes that runs on one afterwards:
/// its role does not change, so Pacemaker tells one line, from the node it
/// counts as current (the engine's `Placement::current`, after
/// `pe__current_node`) to where it runs next; the stops elsewhere go untold
/// (`rsc_action_default`).
fn multiply_active(
    policy: &Policy,
    state: &ClusterState,
    plan: &Plan,
    rsc: &str,
    mine: &[&&halo_engine::Action],
    shown: &str,
) -> Option<String> {
    let active: Vec<&str> = policy
        .cluster
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .filter(|n| state.on(rsc, n).is_some_and(|x| x.role.is_active()))
        .collect();
    if active.len() < 2 {
        return None;
    }
    let mut starts = mine.iter().filter(|a| a.kind == ActionKind::Start);
    let next = match (starts.next(), starts.next()) {
        (Some(next), None) => next.node.as_str(),
        // Still assigned, but its start may not happen: one stop line.
        (None, None) => plan.placement(rsc)?.held.first()?.as_str(),
        _ => return None,
    };
    let current = plan.placement(rsc)?.current.as_deref()?;
    // Pacemaker's failed flag is the resource's, whichever node it failed on.
    let failed = state
        .resources
        .get(rsc)
        .is_some_and(|per| per.values().any(|x| x.failed.is_some()))
        || mine
            .iter()
            .any(|a| a.because.iter().any(|b| matches!(b, Reason::Failed { .. })));
    if mine.iter().all(|a| a.kind != ActionKind::Start) {
        return Some(format!("  * Stop {shown} ( {current} )"));
    }
    Some(match (current == next, failed) {
        (true, true) => format!("  * Recover {shown} ( {current} )"),
        (true, false) => format!("  * Restart {shown} ( {current} )"),
        (false, true) => format!("  * Recover {shown} ( {current} -> {next} )"),
        (false, false) => format!("  * Move {shown} ( {current} -> {next} )"),
    })
}

/// The Transition Summary of a plan. `display` maps resource names to the ids
/// Pacemaker prints (a clone's primitive).
pub fn transition_summary(
    policy: &Policy,
    state: &ClusterState,
    plan: &Plan,
    display: &BTreeMap<String, String>,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    let actions: Vec<&halo_engine::Action> = plan.graph.node_weights().collect();
    // Actions by resource, so the summary stays linear in the plan's size.
    let mut by_rsc: BTreeMap<&str, Vec<&&halo_engine::Action>> = BTreeMap::new();
    for a in &actions {
        if let Some(r) = a.rsc.as_deref() {
            by_rsc.entry(r).or_default().push(a);
        }
    }
    for a in actions.iter().filter(|a| a.kind == ActionKind::Fence) {
        lines.push(format!(
            "  * Fence (reboot) {} 'peer is no longer part of the cluster'",
            a.node
        ));
    }
    let fenced: Vec<&str> = actions
        .iter()
        .filter(|a| a.kind == ActionKind::Fence)
        .map(|a| a.node.as_str())
        .collect();
    for (ri, r) in policy.resources.iter().enumerate() {
        if r.primitive().is_none() {
            continue;
        }
        let rid = halo_model::RscId(u32::try_from(ri).unwrap_or(u32::MAX));
        let mine: Vec<&&halo_engine::Action> =
            by_rsc.get(r.name.as_str()).cloned().unwrap_or_default();
        let cloned = policy.in_clone(rid);
        // A resource on a node being fenced is stopped by the fencing:
        // Pacemaker lists it (a stop, or a move when it starts elsewhere),
        // as it keeps a pseudo stop for it. A single resource that starts
        // elsewhere is a move, told below from its start.
        let starts_somewhere = mine.iter().any(|a| a.kind == ActionKind::Start);
        let fenced_here: Vec<&str> = if cloned || !starts_somewhere {
            fenced
                .iter()
                .copied()
                .filter(|n| state.on(&r.name, n).is_some_and(|x| x.role.is_active()))
                .collect()
        } else {
            Vec::new()
        };
        if mine.is_empty() && fenced_here.is_empty() {
            continue;
        }
        let shown = display
            .get(&r.name)
            .cloned()
            .unwrap_or_else(|| r.name.clone());
        let promotable = r.is_promotable()
            || r.parent
                .and_then(|g| policy.resource(g))
                .is_some_and(|g| g.is_promotable());
        if !cloned {
            if let Some(line) = multiply_active(policy, state, plan, &r.name, &mine, &shown) {
                lines.push(line);
                continue;
            }
        }
        let has = |k: ActionKind, n: &str| mine.iter().any(|a| a.kind == k && a.node == n);
        let current = |n: &str| state.on(&r.name, n).map_or(Role::Stopped, |x| x.role);
        let with_role = |n: &str, r: Role| {
            if promotable {
                format!("{} {n}", role(r))
            } else {
                n.to_string()
            }
        };
        let mut nodes: Vec<&str> = mine.iter().map(|a| a.node.as_str()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let mut fenced_here = fenced_here;
        // Clone instances the distribution moved: each one's stop (or the
        // fencing of its node) and start are one move, told first; what is
        // left on each node is counted below.
        let mut used: BTreeMap<(ActionKind, &str), usize> = BTreeMap::new();
        let (mut moved_from, mut moved_to): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        // (A clone's moves are its own placement's, or its clone's when the
        // primitive is placed with it.)
        let parent_name = r
            .parent
            .and_then(|g| policy.resource(g))
            .map(|g| g.name.as_str());
        let moves = plan
            .placement(&r.name)
            .filter(|p| !p.moves.is_empty())
            .or_else(|| parent_name.and_then(|g| plan.placement(g)))
            .filter(|_| cloned)
            .map(|p| p.moves.as_slice())
            .unwrap_or_default();
        for (from, to) in moves {
            let left = |k: ActionKind, n: &str, used: &BTreeMap<(ActionKind, &str), usize>| {
                mine.iter().filter(|a| a.kind == k && a.node == n).count()
                    > used.get(&(k, n)).copied().unwrap_or(0)
            };
            let Some(to) = nodes.iter().copied().find(|n| *n == to.as_str()) else {
                continue;
            };
            if !left(ActionKind::Start, to, &used) {
                continue;
            }
            let from = if let Some(i) = fenced_here.iter().position(|n| *n == from.as_str()) {
                fenced_here.remove(i)
            } else if let Some(f) = nodes
                .iter()
                .copied()
                .find(|n| *n == from.as_str() && left(ActionKind::Stop, n, &used))
            {
                *used.entry((ActionKind::Stop, f)).or_default() += 1;
                f
            } else {
                continue;
            };
            *used.entry((ActionKind::Start, to)).or_default() += 1;
            moved_from.push(from);
            moved_to.push(to);
        }
        let mut stops: Vec<&str> = fenced_here;
        let mut starts: Vec<&str> = Vec::new();
        let count = |k: ActionKind, n: &str| {
            mine.iter().filter(|a| a.kind == k && a.node == n).count()
                - used.get(&(k, n)).copied().unwrap_or(0)
        };
        // Promotions that go with a start, node by node (a node may start
        // several instances of a clone).
        let mut promote_with_start: BTreeMap<&str, usize> = BTreeMap::new();
        for &n in &nodes {
            let (stops_n, starts_n) = (count(ActionKind::Stop, n), count(ActionKind::Start, n));
            let (mut promotes, mut demotes) =
                (count(ActionKind::Promote, n), count(ActionKind::Demote, n));
            let was = current(n);
            let restarts = stops_n.min(starts_n);
            for _ in 0..restarts {
                // Failed anywhere makes it a recovery (Pacemaker's flag is
                // per resource, not per node).
                let failed = mine.iter().any(|a| {
                    (a.node == n
                        || mine
                            .iter()
                            .any(|m| m.because.contains(&Reason::MultipleActive)))
                        && a.because.iter().any(|b| matches!(b, Reason::Failed { .. }))
                });
                let verb = if failed { "Recover" } else { "Restart" };
                let now_role = if promotes > 0 && demotes > 0 {
                    // Demoted to stop, promoted again after the start.
                    promotes -= 1;
                    demotes -= 1;
                    Role::Promoted
                } else if promotes > 0 {
                    promotes -= 1;
                    Role::Promoted
                } else if demotes > 0 {
                    demotes -= 1;
                    Role::Unpromoted
                } else {
                    was
                };
                let detail = if promotable && now_role != was {
                    format!("{} -> {} {n}", role(was), role(now_role))
                } else {
                    with_role(n, was)
                };
                lines.push(format!("  * {verb} {shown} ( {detail} )"));
            }
            // A demotion before a stop is part of that stop's line, a move's
            // too.
            let moved_away = used.get(&(ActionKind::Stop, n)).copied().unwrap_or(0);
            demotes = demotes.saturating_sub(moved_away);
            for _ in restarts..stops_n {
                stops.push(n);
                demotes = demotes.saturating_sub(1);
            }
            // A start told as a move may come with a promotion.
            for _ in 0..used.get(&(ActionKind::Start, n)).copied().unwrap_or(0) {
                if promotes > 0 {
                    promotes -= 1;
                    *promote_with_start.entry(n).or_default() += 1;
                }
            }
            for _ in restarts..starts_n {
                starts.push(n);
                if promotes > 0 {
                    promotes -= 1;
                    *promote_with_start.entry(n).or_default() += 1;
                }
            }
            for _ in 0..promotes {
                lines.push(format!(
                    "  * Promote {shown} ( {} -> Promoted {n} )",
                    role(if was.is_active() {
                        was
                    } else {
                        Role::Unpromoted
                    })
                ));
            }
            for _ in 0..demotes {
                lines.push(format!("  * Demote {shown} ( Promoted -> Unpromoted {n} )"));
            }
            if has(ActionKind::Reload, n) {
                lines.push(format!("  * Reload {shown} ( {} )", with_role(n, was)));
            }
        }
        // A start that moves off a fenced node has no stop of its own.
        for &n in &starts.clone() {
            let from = mine
                .iter()
                .find(|a| a.kind == ActionKind::Start && a.node == n)
                .and_then(|a| {
                    a.because.iter().find_map(|b| match b {
                        Reason::Moving { from, .. }
                            if !stops.contains(&from.as_str()) && from != n =>
                        {
                            Some(from.clone())
                        }
                        _ => None,
                    })
                });
            if let Some(from) = from {
                if r.clone.is_none()
                    && r.parent
                        .and_then(|g| policy.resource(g))
                        .is_none_or(|g| g.clone.is_none())
                {
                    // Fenced because this resource failed there: it failed,
                    // and a failed resource that moves is recovered
                    // (`rsc_action_default`).
                    let failed_there = actions.iter().any(|a| {
                        a.kind == ActionKind::Fence
                            && a.node == from
                            && a.because
                                .iter()
                                .any(|b| matches!(b, Reason::OnFailFence { rsc } if *rsc == r.name))
                    });
                    let verb = if failed_there { "Recover" } else { "Move" };
                    lines.push(format!("  * {verb} {shown} ( {from} -> {n} )"));
                    starts.retain(|x| *x != n);
                }
            }
        }
        // Found active on several nodes: Pacemaker reports only the restart.
        let multiple = mine
            .iter()
            .any(|a| a.because.contains(&Reason::MultipleActive));
        let restarted = nodes
            .iter()
            .any(|n| has(ActionKind::Stop, n) && has(ActionKind::Start, n));
        if multiple && restarted {
            stops.clear();
        }
        // A clone instance on a node the clone may no longer use (a negative
        // score there) is stopped, and a new instance starts: Pacemaker
        // places the instances that are not running before it. One on a node
        // that is merely unavailable (standby, down) moves.
        let mut lone_stops: Vec<&str> = Vec::new();
        if cloned {
            // Whether the clone is still allowed there: its own constraints
            // and failures, as Pacemaker weighs an instance's node
            // (availability, stickiness and colocations apart).
            let score_on = |n: &str| {
                plan.placement(&r.name)
                    .and_then(|p| p.scores.iter().find(|x| x.node == n))
                    .map(|x| {
                        x.parts
                            .iter()
                            .filter(|c| c.source.in_instance_table())
                            .fold(halo_model::Score::ZERO, |a, c| a + c.score)
                    })
            };
            let (keep, mut lone): (Vec<&str>, Vec<&str>) = stops
                .iter()
                .partition(|n| score_on(n).is_none_or(|t| t >= halo_model::Score::ZERO));
            // Only as many as the clone has instances not running: when all
            // of them run, the one on the banned node is the one that moves.
            let spec = r
                .clone
                .as_ref()
                .or_else(|| r.parent.and_then(|g| policy.resource(g)?.clone.as_ref()));
            let instances = spec.map_or(policy.cluster.nodes.len(), |c| {
                c.max.map_or(policy.cluster.nodes.len(), |m| m as usize)
            });
            let running: usize = state
                .resources
                .get(&r.name)
                .map_or(0, |m| m.values().map(|x| x.roles().len()).sum());
            let spare = instances.saturating_sub(running);
            let mut stops_kept = keep;
            stops_kept.extend(lone.drain(spare.min(lone.len())..));
            stops = stops_kept;
            lone_stops = lone;
        }
        let engine_moves = moved_from.len();
        moved_from.append(&mut stops);
        moved_to.append(&mut starts);
        stops = moved_from;
        starts = moved_to;
        // Stops paired with starts are moves (recoveries when the stop is for a
        // failure), instance by instance. For a promotable clone placed one
        // instance per node, the engine's distribution already told which
        // instance moved where (above), promotion priorities included: any
        // other stop is an instance left without a node, and any other start
        // a new instance.
        let spec = r
            .clone
            .as_ref()
            .or_else(|| r.parent.and_then(|g| policy.resource(g)?.clone.as_ref()));
        let told = promotable && spec.is_some_and(|c| c.node_max <= 1 && !c.unique);
        // How many pairs are still to be told, when the engine told them all.
        let mut left_to_pair: Option<usize> = told.then_some(engine_moves);
        while let (Some(&from), Some(&to)) = (stops.first(), starts.first()) {
            match left_to_pair.as_mut() {
                Some(0) => break,
                Some(k) => *k -= 1,
                None => {}
            }
            let failed = mine.iter().any(|a| {
                a.node == from
                    && a.kind == ActionKind::Stop
                    && a.because.iter().any(|b| matches!(b, Reason::Failed { .. }))
            });
            if failed && !promotable {
                lines.push(format!("  * Recover {shown} ( {from} -> {to} )"));
                stops.remove(0);
                starts.remove(0);
                continue;
            }
            if promotable {
                // A failed instance that moves is recovered, its roles told
                // as for a move (`rsc_action_default`).
                let verb = if failed { "Recover" } else { "Move" };
                let was = current(from);
                let with_promotion = promote_with_start.get(to).is_some_and(|k| *k > 0);
                let next = if with_promotion {
                    Role::Promoted
                } else {
                    Role::Unpromoted
                };
                if was == next {
                    if let Some(k) = promote_with_start.get_mut(to).filter(|_| with_promotion) {
                        *k -= 1;
                    }
                    // Pacemaker names an unchanged role after the nodes.
                    lines.push(format!(
                        "  * {verb} {shown} ( {from} -> {to} {} )",
                        role(was)
                    ));
                } else if left_to_pair.is_some() {
                    // An instance the engine moved, changing role on the way.
                    if let Some(k) = promote_with_start.get_mut(to).filter(|_| with_promotion) {
                        *k -= 1;
                    }
                    lines.push(format!(
                        "  * {verb} {shown} ( {} {from} -> {} {to} )",
                        role(was),
                        role(next)
                    ));
                } else {
                    break;
                }
            } else if migrates(policy, state, &by_rsc, rid, Some((from, to)), 0) {
                lines.push(format!("  * Migrate {shown} ( {from} -> {to} )"));
            } else {
                lines.push(format!("  * Move {shown} ( {from} -> {to} )"));
            }
            stops.remove(0);
            starts.remove(0);
        }
        for n in stops.into_iter().chain(lone_stops) {
            lines.push(format!("  * Stop {shown} ( {} )", with_role(n, current(n))));
        }
        let promote_held = plan
            .placement(&r.name)
            .map_or(&[][..], |p| &p.promote_held[..]);
        for n in starts {
            let promoted = promote_with_start.get_mut(n).filter(|k| **k > 0);
            if promote_held.iter().any(|h| h == n) {
                // Started, and would be promoted but for what holds it back.
                lines.push(format!(
                    "  * Promote {shown} ( Stopped -> Promoted {n} ) blocked"
                ));
            } else if let Some(k) = promoted {
                *k -= 1;
                lines.push(format!("  * Promote {shown} ( Stopped -> Promoted {n} )"));
            } else {
                lines.push(format!("  * Start {shown} ( {n} )"));
            }
        }
    }
    // Starts that a mandatory order holds back are listed as blocked.
    for (i, p) in plan.placements.iter().enumerate() {
        let Some(r) = policy.resources.get(i) else {
            continue;
        };
        if r.primitive().is_none() {
            continue;
        }
        let shown = display
            .get(&p.rsc)
            .cloned()
            .unwrap_or_else(|| p.rsc.clone());
        // Only for resources that run nowhere now; a running one is reported
        // by its stop.
        // Without fencing, what ran on a lost node counts as stopped.
        let up = |n: &str| match state.node(n).status {
            halo_model::NodeStatus::Online => true,
            halo_model::NodeStatus::Unclean => policy.cluster.fencing,
            _ => false,
        };
        // A clone's instances are told node by node.
        let cloned = policy.find(&r.name).is_some_and(|id| policy.in_clone(id));
        let runs_on = |held: &str| {
            state.resources.get(&p.rsc).is_some_and(|m| {
                m.iter()
                    .any(|(n, x)| x.role.is_active() && up(n) && (!cloned || n == held))
            })
        };
        // An instance that would have moved there and cannot start is told
        // by its stop alone (`rsc_action_default`).
        let moved_here = |n: &str| cloned && p.moves.iter().any(|(_, to)| to == n);
        for n in p.held.iter().filter(|n| !runs_on(n) && !moved_here(n)) {
            if p.promote_held.contains(n) {
                lines.push(format!(
                    "  * Promote {shown} ( Stopped -> Promoted {n} ) blocked"
                ));
            } else {
                lines.push(format!("  * Start {shown} ( {n} ) blocked"));
            }
        }
        for n in &p.stop_held {
            lines.push(format!("  * Stop {shown} ( {n} ) blocked"));
        }
    }
    // Resources the policy no longer has.
    for a in actions.iter().filter(|a| a.kind == ActionKind::Stop) {
        if let Some(rsc) = a.rsc.as_deref().filter(|r| plan.placement(r).is_none()) {
            // Its role is told when its history shows it promoted.
            let was = state.on(rsc, &a.node).map_or(Role::Stopped, |x| x.role);
            let at = if was == Role::Promoted {
                format!("{} {}", role(was), a.node)
            } else {
                a.node.clone()
            };
            lines.push(format!("  * Stop {rsc} ( {at} )  due to node availability"));
        }
    }
    let mut out = String::from("Transition Summary:\n");
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    out
}

/// Whether Pacemaker would move `rsc` live (migrate_to / migrate_from) rather
/// than stop it on `from` and start it elsewhere: it allows migration, did not
/// fail, leaves a node that is up, and nothing it must start after (by a
/// mandatory order, or an earlier member of its group) is itself stopped and
/// started again without migrating.
fn migrates(
    policy: &Policy,
    state: &ClusterState,
    by_rsc: &BTreeMap<&str, Vec<&&halo_engine::Action>>,
    id: halo_model::RscId,
    pair: Option<(&str, &str)>,
    depth: usize,
) -> bool {
    let Some(r) = policy.resource(id) else {
        return false;
    };
    if depth > 16 || r.primitive().is_none() || policy.meta(id, |m| m.allow_migrate) != Some(true) {
        return false;
    }
    let mine = by_rsc.get(r.name.as_str()).map_or(&[][..], Vec::as_slice);
    // A clone's instance is told pair by pair: the stop on the node it
    // leaves, the start on the node it goes to (Pacemaker migrates
    // instances of a clone that allows it as it migrates primitives).
    let on = |n: Option<&str>, a: &&&halo_engine::Action| n.is_none_or(|n| a.node == n);
    let stop = mine
        .iter()
        .find(|a| a.kind == ActionKind::Stop && on(pair.map(|p| p.0), a));
    let start = mine
        .iter()
        .find(|a| a.kind == ActionKind::Start && on(pair.map(|p| p.1), a));
    let (Some(stop), Some(start)) = (stop, start) else {
        return false;
    };
    let failed =
        |a: &&&halo_engine::Action| a.because.iter().any(|b| matches!(b, Reason::Failed { .. }));
    if stop.node == start.node
        || mine.iter().any(|a| on(pair.map(|p| p.0), a) && failed(a))
        || state.node(&stop.node).status != halo_model::NodeStatus::Online
    {
        return false;
    }
    // What must start before it: mandatory orders, and the earlier members of
    // its group.
    let mut before: Vec<halo_model::RscId> = Vec::new();
    let mut targets = vec![id];
    if let Some(g) = r.parent {
        targets.push(g);
        if let Some(halo_model::ResourceKind::Group(ms)) = policy.resource(g).map(|g| &g.kind) {
            before.extend(ms.iter().take_while(|m| **m != id));
        }
    }
    for c in &policy.constraints {
        if let halo_model::ConstraintKind::Order {
            first,
            first_action: halo_model::OpAction::Start,
            then,
            then_action: halo_model::OpAction::Start,
            kind: halo_model::OrderKind::Mandatory,
            ..
        } = &c.kind
        {
            if targets.contains(then) {
                match policy.resource(*first).map(|f| &f.kind) {
                    Some(halo_model::ResourceKind::Group(ms)) => before.extend(ms.iter()),
                    Some(_) => before.push(*first),
                    None => {}
                }
            }
        }
    }
    before.into_iter().all(|b| {
        let Some(br) = policy.resource(b) else {
            return true;
        };
        let theirs = by_rsc.get(br.name.as_str()).map_or(&[][..], Vec::as_slice);
        let restarted = theirs.iter().any(|a| a.kind == ActionKind::Stop)
            && theirs.iter().any(|a| a.kind == ActionKind::Start);
        !restarted || migrates(policy, state, by_rsc, b, None, depth + 1)
    })
}
