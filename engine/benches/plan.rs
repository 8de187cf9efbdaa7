//! How `plan` scales: synthetic clusters of N nodes × M resources with groups,
//! clones, location/colocation/order constraints, failures and an offline node.
//!
//!   cargo bench -p halo-engine --bench plan
//!
//! Pacemaker's scheduler takes about 32 s and 2.2 GB at 32 nodes × 5,000
//! resources (crm_simulate 2.1.5, measured on this project's CI machine class);
//! the side-by-side comparison against crm_simulate lives with the Pacemaker
//! importer (it needs the same input in both tools).

use halo_engine::plan;
use halo_model::*;
use std::collections::BTreeMap;

fn main() {
    divan::main();
}

fn dummy() -> Primitive {
    Primitive {
        agent: Agent {
            class: AgentClass::Ocf,
            provider: "heartbeat".into(),
            kind: "Dummy".into(),
        },
        params: BTreeMap::new(),
        ops: vec![Operation {
            action: OpAction::Monitor,
            interval: Duration::from_secs(10),
            timeout: Some(Duration::from_secs(20)),
            role: None,
            on_fail: None,
            origin: Origin(0),
            params: BTreeMap::new(),
            disabled: false,
        }],
        fence: None,
        utilization: BTreeMap::new(),
    }
}

fn rsc(
    name: String,
    kind: ResourceKind,
    parent: Option<RscId>,
    clone: Option<CloneSpec>,
) -> Resource {
    Resource {
        name,
        kind,
        meta: Meta::default(),
        clone,
        parent,
        origin: Origin(0),
    }
}

/// A cluster of `nodes` nodes and about `resources` primitives: a third in groups
/// of three, a few clones, the rest plain; constraints on a fraction of them; all
/// running where a previous plan put them, with some failures and node 0 offline.
fn cluster(nodes: usize, resources: usize) -> (Policy, ClusterState) {
    let mut p = Policy::default();
    p.cluster.name = "bench".into();
    p.cluster.fencing = false;
    p.cluster.symmetric = true;
    p.cluster.quorum = QuorumMode::Majority;
    p.defaults.stickiness = Some(Score::new(100));
    p.defaults.migration_threshold = Some(3);
    for i in 0..nodes {
        p.cluster.nodes.push(NodeSpec {
            name: format!("node{i:03}"),
            ..Default::default()
        });
    }
    let mut i = 0;
    while i < resources {
        let id = RscId(p.resources.len() as u32);
        if i % 9 == 0 && i + 3 <= resources {
            let members = (1..=3).map(|k| RscId(id.0 + k)).collect();
            p.resources.push(rsc(
                format!("g{i}"),
                ResourceKind::Group(members),
                None,
                None,
            ));
            for k in 0..3 {
                p.resources.push(rsc(
                    format!("g{i}m{k}"),
                    ResourceKind::Primitive(dummy()),
                    Some(id),
                    None,
                ));
            }
            i += 3;
        } else if i % 500 == 1 {
            let spec = CloneSpec {
                max: Some(nodes as u32 / 2),
                ..CloneSpec::default()
            };
            p.resources.push(rsc(
                format!("c{i}"),
                ResourceKind::Primitive(dummy()),
                None,
                Some(spec),
            ));
            i += 1;
        } else {
            p.resources.push(rsc(
                format!("r{i}"),
                ResourceKind::Primitive(dummy()),
                None,
                None,
            ));
            i += 1;
        }
    }
    let tops: Vec<RscId> = (0..p.resources.len())
        .map(|i| RscId(i as u32))
        .filter(|r| p.resources[r.index()].parent.is_none())
        .collect();
    for (k, r) in tops.iter().enumerate() {
        if k % 3 == 0 {
            let node = format!("node{:03}", (k * 7) % nodes);
            p.constraints.push(Constraint {
                kind: ConstraintKind::Location {
                    rsc: *r,
                    role: None,
                    target: LocationTarget::Nodes(vec![node]),
                    score: Score::new(50).into(),
                },
                origin: Origin(0),
            });
        }
        if k % 10 == 5 {
            p.constraints.push(Constraint {
                kind: ConstraintKind::Colocation {
                    dependent: *r,
                    dependent_role: None,
                    primary: tops[k - 1],
                    primary_role: None,
                    score: Score::INF,
                    node_attribute: None,
                },
                origin: Origin(0),
            });
        }
        if k % 10 == 7 {
            p.constraints.push(Constraint {
                kind: ConstraintKind::Order {
                    first: tops[k - 2],
                    first_action: OpAction::Start,
                    then: *r,
                    then_action: OpAction::Start,
                    kind: OrderKind::Mandatory,
                    symmetrical: true,
                    first_min: None,
                    any_of: Vec::new(),
                },
                origin: Origin(0),
            });
        }
    }
    let mut s = ClusterState::default();
    s.node_mut("node000").status = NodeStatus::Offline;
    let first = plan(&p, &ClusterState::default(), Timestamp(0));
    let settled = halo_engine::settle::apply(&first, &ClusterState::default());
    s.resources = settled.resources;
    for (k, name) in s
        .resources
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .iter()
        .enumerate()
    {
        if k % 50 == 0 {
            if let Some((node, _)) = s.resources[name]
                .iter()
                .next()
                .map(|(n, r)| (n.clone(), r.clone()))
            {
                s.add_failure(name, &node, OpAction::Monitor, Timestamp(0), true);
                if let Some(e) = s.resources.get_mut(name).and_then(|m| m.get_mut(&node)) {
                    e.failed = Some(FailedOp::of(OpAction::Monitor, 7));
                }
            }
        }
    }
    (p, s)
}

#[divan::bench(args = [(16, 1_000), (32, 5_000), (64, 10_000)])]
fn plan_after_failures(bencher: divan::Bencher, (nodes, resources): (usize, usize)) {
    let (p, s) = cluster(nodes, resources);
    bencher.bench(|| plan(divan::black_box(&p), divan::black_box(&s), Timestamp(0)));
}
