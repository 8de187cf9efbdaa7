//! Whole-policy checks that run after lowering succeeded: order cycles, fencing
//! that cannot work, and settings that are legal but dangerous.

use crate::diag::{Code, Diagnostic, Span};
use crate::lower::Compiled;
use halo_model::{
    AgentClass, Bound, ConstraintKind, OpAction, QuorumMode, Resource, ResourceKind, Role,
};
use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

pub(crate) fn check(c: &Compiled) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(d) = bounds(c) {
        // Past a bound, the other checks would cost what the bound prevents.
        return vec![d];
    }
    within_one_group(c, &mut out);
    order_cycles(c, &mut out);
    fencing(c, &mut out);
    roles(c, &mut out);
    colocation_attributes(c, &mut out);
    out
}

/// A colocation by a node attribute no node declares: every node then has
/// the same (no) value, so `colocate` allows any node and `separate` none.
/// The attribute may still come from the observed state at run time, hence
/// a warning.
fn colocation_attributes(c: &Compiled, out: &mut Vec<Diagnostic>) {
    let p = &c.policy;
    for k in &p.constraints {
        let ConstraintKind::Colocation {
            node_attribute: Some(attr),
            score,
            ..
        } = &k.kind
        else {
            continue;
        };
        if p.cluster.nodes.iter().any(|n| n.attrs.contains_key(attr)) {
            continue;
        }
        let effect = if score.value() < 0 {
            "keeps it off every node"
        } else {
            "puts it on any node"
        };
        out.push(
            Diagnostic::warning(
                Code::UnknownAttribute,
                span(c, k.origin),
                format!("no node declares attribute `{attr}`: this colocation {effect}"),
            )
            .label("by an attribute no node has")
            .help(format!(
                "give the nodes the attribute (`node n1 {{ {attr} = a }}`), or check its spelling"
            )),
        );
    }
}

/// Errors first, then by position, so output is stable.
pub(crate) fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (
            a.span.file,
            a.span.range.start,
            a.span.range.end,
            &a.message,
        )
            .cmp(&(
                b.span.file,
                b.span.range.start,
                b.span.range.end,
                &b.message,
            ))
    });
}

fn span(c: &Compiled, o: halo_model::Origin) -> Span {
    c.span(o).cloned().unwrap_or_default()
}

/// Every count has a bound (halo_model::MAX_NODES and the others).
fn bounds(c: &Compiled) -> Option<Diagnostic> {
    let p = &c.policy;
    let (what, n, max) = p.exceeded_bound()?;
    // The first declaration past the bound, or the cluster block.
    let past = usize::try_from(max).unwrap_or(usize::MAX);
    let origin = match what {
        Bound::Nodes => p.cluster.nodes.get(past).map(|n| n.origin),
        Bound::Resources => p.resources.get(past).map(|r| r.origin),
        // The clone with the most instances (one per node without clone-max).
        Bound::Instances => p
            .resources
            .iter()
            .filter_map(|r| Some((r.clone.as_ref()?.max, r.origin)))
            .max_by_key(|(max, _)| max.map_or(p.cluster.nodes.len() as u64, u64::from))
            .map(|(_, o)| o),
        Bound::Chain => None,
    };
    Some(
        Diagnostic::error(
            Code::TooMany,
            span(c, origin.unwrap_or(p.cluster.origin)),
            format!("the policy has {n} {what}, more than the {max} Halo plans for"),
        )
        .label("past the bound")
        .help("split the cluster, or lower `clone-max`; the bounds keep planning fast and its memory small"),
    )
}

/// Mandatory orders between (resource, action) pairs must form a DAG, counting
/// the implied reverse orders of symmetrical constraints.
fn order_cycles(c: &Compiled, out: &mut Vec<Diagnostic>) {
    let p = &c.policy;
    let mut g: DiGraphMap<(u32, OpAction), usize> = DiGraphMap::new();
    let reverse = OpAction::inverse;
    for (i, k) in p.constraints.iter().enumerate() {
        if let ConstraintKind::Order {
            first,
            first_action,
            then,
            then_action,
            symmetrical,
            ..
        } = &k.kind
        {
            g.add_edge((first.0, *first_action), (then.0, *then_action), i);
            if *symmetrical {
                g.add_edge(
                    (then.0, reverse(*then_action)),
                    (first.0, reverse(*first_action)),
                    i,
                );
            }
        }
    }
    let mut reported = std::collections::BTreeSet::new();
    for scc in tarjan_scc(&g) {
        if scc.len() < 2 {
            continue;
        }
        let mut members: Vec<_> = scc.clone();
        members.sort();
        let mut names: Vec<String> = members
            .iter()
            .map(|(r, a)| {
                format!(
                    "{}.{a}",
                    p.resources
                        .get(*r as usize)
                        .map_or("?", |x| x.name.as_str())
                )
            })
            .collect();
        if let Some(first) = names.first().cloned() {
            names.push(first);
        }
        let first_edge = members
            .iter()
            .flat_map(|n| g.edges(*n))
            .filter(|(_, to, _)| scc.contains(to))
            .map(|(_, _, &i)| i)
            .min();
        // A symmetrical order's reverse cycle is the same mistake: say it once.
        let Some(i) = first_edge.filter(|i| reported.insert(*i)) else {
            continue;
        };
        let Some(k) = p.constraints.get(i) else {
            continue;
        };
        out.push(
            Diagnostic::error(
                Code::OrderCycle,
                span(c, k.origin),
                format!("ordering constraints form a cycle: {}", names.join(" → ")),
            )
            .label("part of the cycle")
            .help("no action can go first; remove one of these orders or make one `asymmetric`"),
        );
    }
}

fn fence_devices(c: &Compiled) -> impl Iterator<Item = &Resource> {
    c.policy.resources.iter().filter(|r| {
        r.primitive()
            .is_some_and(|p| p.agent.class == AgentClass::Stonith)
    })
}

fn fencing(c: &Compiled, out: &mut Vec<Diagnostic>) {
    let cl = &c.policy.cluster;
    let at = span(c, cl.origin);
    let devices: Vec<&Resource> = fence_devices(c).collect();
    if cl.fencing && devices.is_empty() {
        out.push(
            Diagnostic::error(Code::FencingWithoutDevice, at.clone(), "fencing is on but no fence device is declared")
                .label("this cluster cannot fence")
                .help("declare one (`fence NAME: fence_AGENT { ... }`), or say `fencing off` and accept that a lost node's resources wait"),
        );
    }
    if cl.fencing {
        for n in &cl.nodes {
            let covered = devices.iter().any(|d| {
                d.primitive()
                    .and_then(|p| p.fence.as_ref())
                    .is_some_and(|f| {
                        (f.targets.is_empty() && f.host_map.is_empty())
                            || f.targets.contains(&n.name)
                            || f.host_map.contains_key(&n.name)
                    })
            });
            if !covered && !devices.is_empty() {
                out.push(
                    Diagnostic::warning(
                        Code::NodeNotFenceable,
                        span(c, n.origin),
                        format!("no fence device can fence node `{}`", n.name),
                    )
                    .label("not in any host-map or targets")
                    .help("add the node to a fence device's `host-map` or `targets`"),
                );
            }
        }
    }
    fence_orders(c, out);
    if let (false, Some(d)) = (cl.fencing, cl.priority_fencing_delay) {
        out.push(
            Diagnostic::warning(
                Code::FencingUnused,
                at.clone(),
                format!("priority-fencing-delay {d} is never used: fencing is off"),
            )
            .label("fencing is off")
            .help("say `fencing on`, or remove priority-fencing-delay"),
        );
    }
    let safe_quorum = matches!(cl.quorum, QuorumMode::TwoNode | QuorumMode::Witness(_));
    if cl.nodes.len() == 2 && !cl.fencing && !safe_quorum {
        out.push(
            Diagnostic::warning(
                Code::TwoNodesUnfenced,
                at,
                "two nodes without fencing, two-node quorum or a witness",
            )
            .label("a split brain can run resources on both nodes")
            .help("turn fencing on, or use `quorum two-node` or `quorum witness \"HOST\"`"),
        );
    }
}

/// Fence orders name declared nodes and fence devices that can fence them.
fn fence_orders(c: &Compiled, out: &mut Vec<Diagnostic>) {
    let p = &c.policy;
    let cl = &p.cluster;
    for o in &cl.fence_orders {
        if !cl.nodes.iter().any(|n| n.name == o.node) {
            out.push(
                Diagnostic::error(
                    Code::UnknownNode,
                    span(c, o.origin),
                    format!("no node `{}` in the cluster", o.node),
                )
                .label("not a node")
                .help(format!("the cluster's nodes: {}", cl.node_list())),
            );
            continue;
        }
        if !cl.fencing {
            out.push(
                Diagnostic::warning(
                    Code::FencingUnused,
                    span(c, o.origin),
                    format!(
                        "the fence order of `{}` is never used: fencing is off",
                        o.node
                    ),
                )
                .label("fencing is off")
                .help("say `fencing on` in the cluster block, or remove the fence order"),
            );
        }
        for level in &o.levels {
            for d in &level.devices {
                fence_order_device(c, &o.node, d, level.origin, out);
            }
        }
    }
}

fn fence_order_device(
    c: &Compiled,
    node: &str,
    device: &str,
    at: halo_model::Origin,
    out: &mut Vec<Diagnostic>,
) {
    let p = &c.policy;
    let Some(r) = p.find(device).and_then(|id| p.resource(id)) else {
        out.push(
            Diagnostic::error(
                Code::UnknownResource,
                span(c, at),
                format!("no fence device `{device}` in the policy"),
            )
            .label("not declared")
            .help("declare it (`fence NAME: fence_AGENT { ... }`) or correct the name"),
        );
        return;
    };
    let Some(spec) = r.primitive().and_then(|x| x.fence.as_ref()) else {
        out.push(
            Diagnostic::error(
                Code::NotFenceDevice,
                span(c, at),
                format!("`{device}` is not a fence device"),
            )
            .label("a fence order lists fence devices")
            .help("name resources declared with `fence NAME: fence_AGENT { ... }`"),
        );
        return;
    };
    let reaches = (spec.targets.is_empty() && spec.host_map.is_empty())
        || spec.targets.iter().any(|t| t == node)
        || spec.host_map.contains_key(node);
    if !reaches {
        out.push(
            Diagnostic::warning(
                Code::FencingUnused,
                span(c, at),
                format!("fence device `{device}` cannot fence `{node}`"),
            )
            .label("not in its targets or host-map")
            .help(format!(
                "add `{node}` to `{device}`'s `targets` or `host-map`, or use another device"
            )),
        );
    }
}

fn roles(c: &Compiled, out: &mut Vec<Diagnostic>) {
    let p = &c.policy;
    let promotable = |id: halo_model::RscId| p.resource(id).is_some_and(Resource::is_promotable);
    for k in &p.constraints {
        let (rsc, role) = match &k.kind {
            ConstraintKind::Location { rsc, role, .. } => (*rsc, *role),
            ConstraintKind::Colocation {
                dependent,
                dependent_role,
                primary,
                primary_role,
                ..
            } => {
                if matches!(primary_role, Some(Role::Promoted | Role::Unpromoted))
                    && !promotable(*primary)
                {
                    out.push(not_promotable(c, *primary, k.origin));
                }
                (*dependent, *dependent_role)
            }
            ConstraintKind::Order {
                first,
                first_action,
                then,
                then_action,
                ..
            } => {
                for (r, a) in [(first, first_action), (then, then_action)] {
                    if matches!(a, OpAction::Promote | OpAction::Demote) && !promotable(*r) {
                        out.push(not_promotable(c, *r, k.origin));
                    }
                }
                continue;
            }
        };
        if matches!(role, Some(Role::Promoted | Role::Unpromoted)) && !promotable(rsc) {
            out.push(not_promotable(c, rsc, k.origin));
        }
    }
    for r in &p.resources {
        if r.meta.target_role.is_some_and(|t| {
            matches!(
                t,
                halo_model::TargetRole::Promoted | halo_model::TargetRole::Unpromoted
            )
        }) && !r.is_promotable()
        {
            out.push(
                Diagnostic::error(
                    Code::NotPromotable,
                    span(c, r.origin),
                    format!(
                        "`{}` has a promoted target role but is not promotable",
                        r.name
                    ),
                )
                .label("no roles")
                .help("use `target-role started` or `stopped`"),
            );
        }
        if let ResourceKind::Primitive(prim) = &r.kind {
            let fence = prim.agent.class == AgentClass::Stonith;
            if !fence
                && !prim
                    .ops
                    .iter()
                    .any(|o| o.action == OpAction::Monitor && !o.disabled)
                && r.meta.managed != Some(false)
            {
                out.push(
                    Diagnostic::warning(
                        Code::NoMonitor,
                        span(c, r.origin),
                        format!("`{}` has no monitor: its failures go unnoticed", r.name),
                    )
                    .label("never checked")
                    .help("add `monitor every 30s`"),
                );
            }
        }
    }
}

fn not_promotable(c: &Compiled, id: halo_model::RscId, origin: halo_model::Origin) -> Diagnostic {
    let name = c.policy.resource(id).map_or("?", |r| r.name.as_str());
    Diagnostic::error(
        Code::NotPromotable,
        span(c, origin),
        format!("`{name}` is not promotable, so it has no promoted or unpromoted role"),
    )
    .label("role or promotion of a resource without roles")
    .help(format!(
        "declare `{name}` with `promotable`, or drop the role"
    ))
}

/// Orders and colocations between members of one group (or a group and its own
/// member) contradict or repeat the group's own ordering and colocation.
fn within_one_group(c: &Compiled, out: &mut Vec<Diagnostic>) {
    let p = &c.policy;
    let unit = |id: halo_model::RscId| p.resource(id).and_then(|r| r.parent).unwrap_or(id);
    for k in &p.constraints {
        let (a, b, what) = match &k.kind {
            ConstraintKind::Order { first, then, .. } => (*first, *then, "order"),
            ConstraintKind::Colocation {
                dependent, primary, ..
            } => (*dependent, *primary, "colocation"),
            ConstraintKind::Location { .. } => continue,
        };
        if unit(a) == unit(b) {
            let g = p.resource(unit(a)).map_or("?", |r| r.name.as_str());
            out.push(
                Diagnostic::error(Code::WithinGroup, span(c, k.origin), format!("{what} inside group `{g}`"))
                    .label("both sides are in the same group")
                    .help("a group already orders and colocates its members in the order they are written; reorder the members instead"),
            );
        }
    }
}
