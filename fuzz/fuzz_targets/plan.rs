//! Plan the quickstart policy from an arbitrary cluster state: `plan` must not
//! panic, must be deterministic, and must produce a DAG.
#![no_main]

use arbitrary::Arbitrary;
use halo_lang::{compile, Library, Sources};
use halo_model::{ClusterState, FailedOp, NodeStatus, OpAction, Policy, Role, Timestamp};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> Option<&'static Policy> {
    static POL: OnceLock<Option<Policy>> = OnceLock::new();
    POL.get_or_init(|| {
        let mut sources = Sources::default();
        let files: Vec<_> = halo_stdlib::FILES.iter().map(|(n, t)| sources.add(*n, *t)).collect();
        let (library, _) = Library::load(&sources, &files);
        let file = sources.add("quickstart.ha", POLICY);
        compile(&sources, file, &library).0.map(|c| c.policy)
    })
    .as_ref()
}

const POLICY: &str = include_str!("../../examples/quickstart.ha");
const NODES: &[&str] = &["node1", "node2", "node3"];
const RESOURCES: &[&str] = &["power", "db", "ip", "app", "orphan"];

#[derive(Arbitrary, Debug)]
struct Input {
    nodes: Vec<(u8, u8, bool, bool)>,
    running: Vec<(u8, u8, u8, Option<i8>, bool)>,
    failures: Vec<(u8, u8, u8, i16)>,
    now: i32,
}

fuzz_target!(|input: Input| {
    let Some(policy) = policy() else { return };
    let mut s = ClusterState::default();
    for (n, status, standby, maintenance) in input.nodes.iter().take(8) {
        let ns = s.node_mut(NODES[*n as usize % NODES.len()]);
        ns.status = [NodeStatus::Online, NodeStatus::Offline, NodeStatus::Unclean][*status as usize % 3];
        ns.standby = *standby;
        ns.maintenance = *maintenance;
    }
    for (r, n, role, promo, failed) in input.running.iter().take(16) {
        let e = s
            .resources
            .entry(RESOURCES[*r as usize % RESOURCES.len()].to_string())
            .or_default()
            .entry(NODES[*n as usize % NODES.len()].to_string())
            .or_default();
        e.role = [Role::Started, Role::Promoted, Role::Unpromoted, Role::Stopped][*role as usize % 4];
        e.promotion = promo.map(i64::from);
        if *failed {
            e.failed = Some(FailedOp::of([OpAction::Monitor, OpAction::Stop, OpAction::Start][*role as usize % 3], 1));
        }
    }
    for (r, n, count, at) in input.failures.iter().take(8) {
        let fc = s
            .failures
            .entry(RESOURCES[*r as usize % RESOURCES.len()].to_string())
            .or_default()
            .entry(NODES[*n as usize % NODES.len()].to_string())
            .or_default();
        fc.count = u32::from(*count);
        fc.last_failure = Timestamp(i64::from(*at));
    }
    let now = Timestamp(i64::from(input.now));
    let a = halo_engine::plan(policy, &s, now);
    let b = halo_engine::plan(policy, &s, now);
    assert_eq!(format!("{:?}", a.ordered()), format!("{:?}", b.ordered()));
    assert_eq!(a.ordered().len(), a.graph.node_count(), "the plan has a cycle");
    let _ = halo_engine::settle::apply(&a, &s);
});
