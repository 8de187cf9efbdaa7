//! Text, JSON and DOT renderings of cluster status and plans.

use crate::load::Input;
use halo_engine::summary::{role_label, transitions};
use halo_engine::Plan;
use halo_model::{ClusterState, NodeStatus, Policy, ResourceKind, Role};
use serde::ser::{SerializeMap as _, Serializer as _};
use std::fmt::Write as _;
use std::io::Write as _;

/// crm_mon-like status: nodes, then resources with where they run.
pub fn status(policy: &Policy, state: &ClusterState, plan: Option<&Plan>) -> String {
    let mut out = String::new();
    let mut online = Vec::new();
    let mut other = Vec::new();
    for n in &policy.cluster.nodes {
        let st = state.node(&n.name);
        match st.status {
            NodeStatus::Online if st.standby => other.push(format!("Node {}: standby", n.name)),
            NodeStatus::Online if st.maintenance => {
                other.push(format!("Node {}: maintenance", n.name))
            }
            NodeStatus::Online => online.push(n.name.clone()),
            NodeStatus::Offline => other.push(format!("Node {}: OFFLINE", n.name)),
            NodeStatus::Unclean => other.push(format!("Node {}: UNCLEAN (offline)", n.name)),
        }
    }
    let _ = writeln!(out, "  * Node List:");
    for o in &other {
        let _ = writeln!(out, "    * {o}");
    }
    let _ = writeln!(out, "    * Online: [ {} ]", online.join(" "));
    if let Some(p) = plan {
        if !p.quorate {
            let _ = writeln!(out, "  * The cluster does NOT have quorum");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  * Full List of Resources:");
    for r in policy.resources.iter().filter(|r| r.parent.is_none()) {
        match &r.kind {
            ResourceKind::Primitive(p) => {
                let _ = writeln!(
                    out,
                    "    * {:<14} ({}):\t{}",
                    r.name,
                    p.agent,
                    where_(state, &r.name, r.clone.is_some())
                );
            }
            ResourceKind::Group(members) => {
                let kind = if r.clone.is_some() {
                    "Clone Set"
                } else {
                    "Resource Group"
                };
                let _ = writeln!(out, "    * {kind}: {}:", r.name);
                for m in members {
                    let Some(mr) = policy.resource(*m) else {
                        continue;
                    };
                    let agent = mr
                        .primitive()
                        .map(|p| p.agent.to_string())
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "      * {:<12} ({agent}):\t{}",
                        mr.name,
                        where_(state, &mr.name, r.clone.is_some())
                    );
                }
            }
        }
    }
    let names = policy.name_index();
    let mut orphans: Vec<&String> = state
        .resources
        .keys()
        .filter(|k| !names.contains_key(k.as_str()))
        .collect();
    orphans.sort();
    for o in orphans {
        let _ = writeln!(
            out,
            "    * {o:<14} (ORPHANED):\t{}",
            where_(state, o, false)
        );
    }
    out
}

fn where_(state: &ClusterState, rsc: &str, many: bool) -> String {
    let Some(per_node) = state.resources.get(rsc) else {
        return "Stopped".into();
    };
    let mut parts: Vec<String> = Vec::new();
    for role in [Role::Promoted, Role::Unpromoted, Role::Started] {
        let nodes: Vec<&str> = per_node
            .iter()
            .filter(|(_, r)| r.role == role)
            .map(|(n, _)| n.as_str())
            .collect();
        if !nodes.is_empty() {
            parts.push(if many || nodes.len() > 1 {
                format!("{}: [ {} ]", role_label(role), nodes.join(" "))
            } else {
                format!("{} {}", role_label(role), nodes.join(" "))
            });
        }
    }
    let failed: Vec<String> = per_node
        .iter()
        .filter_map(|(n, r)| {
            r.failed
                .as_ref()
                .map(|f| format!("FAILED {} on {n} (rc={})", f.action_name(), f.rc))
        })
        .collect();
    parts.extend(failed);
    if parts.is_empty() {
        "Stopped".into()
    } else {
        parts.join(", ")
    }
}

/// The full text report of `halo simulate`.
pub fn simulate_text(
    loaded: &dyn Input,
    state: &ClusterState,
    plan: &Plan,
    revised: &ClusterState,
) -> String {
    let Some(policy) = loaded.policy() else {
        return String::new();
    };
    let mut out = String::new();
    let _ = writeln!(out, "Current cluster status:");
    out.push_str(&status(policy, state, Some(plan)));
    let _ = writeln!(out);
    let _ = writeln!(out, "Transition Summary:");
    for t in transitions(plan) {
        let _ = writeln!(out, "  * {t}");
    }
    for n in &plan.notes {
        let _ = writeln!(out, "  ! {n}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Executing Cluster Transition:");
    for (i, a) in plan.ordered().iter().enumerate() {
        let because: Vec<String> = a.because.iter().map(ToString::to_string).collect();
        let by = match (
            &a.rsc,
            policy
                .cluster
                .fence_orders
                .iter()
                .find(|o| o.node == a.node),
        ) {
            (None, Some(o)) => format!(" by {}", fence_order_text(o)),
            _ => String::new(),
        };
        let _ = writeln!(out, "  * {:>3}. {a}{by}  ({})", i + 1, because.join("; "));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Revised Cluster Status:");
    out.push_str(&status(policy, revised, None));
    out
}

/// A fence order as `simulate` shows it: `ipmi-n1, else pdu-a + pdu-b`.
fn fence_order_text(o: &halo_model::FenceOrder) -> String {
    o.levels
        .iter()
        .map(|l| l.devices.join(" + "))
        .collect::<Vec<_>>()
        .join(", else ")
}

/// The machine-readable form: transitions, actions with their order, placements
/// with score breakdowns, notes and the revised state. Written as it is produced,
/// item by item, so a plan of a million actions never exists as a value tree.
pub fn write_simulate_json(
    out: impl std::io::Write,
    loaded: &dyn Input,
    plan: &Plan,
    revised: &ClusterState,
) -> serde_json::Result<()> {
    let order = plan.execution_order();
    let mut position = vec![0usize; plan.graph.node_count()];
    for (i, n) in order.iter().enumerate() {
        position[n.index()] = i;
    }
    let mut edges: Vec<(usize, usize)> = plan
        .graph
        .raw_edges()
        .iter()
        .map(|e| (position[e.source().index()], position[e.target().index()]))
        .collect();
    edges.sort_unstable();
    let actions = order.iter().filter_map(|n| plan.graph.node_weight(*n));
    let placements = plan.placements.iter().map(|p| {
        let mut v = serde_json::to_value(p).unwrap_or_default();
        annotate_origins(&mut v, loaded);
        v
    });
    let mut ser = serde_json::Serializer::pretty(std::io::BufWriter::new(out));
    let mut m = ser.serialize_map(Some(7))?;
    // Keys in alphabetical order, as the format has always had them.
    m.serialize_entry("actions", &Streamed::new(actions))?;
    m.serialize_entry("edges", &edges)?;
    m.serialize_entry("notes", &plan.notes)?;
    m.serialize_entry("placements", &Streamed::new(placements))?;
    m.serialize_entry("quorate", &plan.quorate)?;
    m.serialize_entry("revised_state", revised)?;
    m.serialize_entry("transitions", &transitions(plan))?;
    m.end()?;
    let mut w = ser.into_inner();
    w.write_all(b"\n")
        .and_then(|()| w.flush())
        .map_err(serde_json::Error::io)
}

/// A sequence serialized straight from an iterator, taken once.
struct Streamed<I>(std::cell::Cell<Option<I>>);

impl<I> Streamed<I> {
    fn new(items: I) -> Self {
        Streamed(std::cell::Cell::new(Some(items)))
    }
}

impl<I: Iterator<Item = T>, T: serde::Serialize> serde::Serialize for Streamed<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.take() {
            Some(items) => s.collect_seq(items),
            None => Err(serde::ser::Error::custom(
                "a streamed sequence is written once",
            )),
        }
    }
}

/// Adds `"at": "file:line:col"` beside every `"origin"` in a JSON tree.
fn annotate_origins(v: &mut serde_json::Value, loaded: &dyn Input) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(o) = m.get("origin").and_then(serde_json::Value::as_u64) {
                let at = loaded.locate(halo_model::Origin(u32::try_from(o).unwrap_or(u32::MAX)));
                m.insert("at".into(), serde_json::Value::String(at));
            }
            for x in m.values_mut() {
                annotate_origins(x, loaded);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| annotate_origins(x, loaded)),
        _ => {}
    }
}

/// The action graph in Graphviz DOT.
pub fn simulate_dot(plan: &Plan) -> String {
    let mut out = String::from(
        "digraph plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for ix in plan.graph.node_indices() {
        if let Some(a) = plan.graph.node_weight(ix) {
            let _ = writeln!(
                out,
                "  a{} [label=\"{}\"];",
                ix.index(),
                a.to_string().replace('"', "\\\"")
            );
        }
    }
    for (a, b) in plan.edges() {
        let _ = writeln!(out, "  a{a} -> a{b};");
    }
    out.push_str("}\n");
    out
}

/// `halo why`: the score of every node for a resource, with each part and where
/// in the policy it came from.
pub fn why(loaded: &dyn Input, plan: &Plan, rsc: &str) -> String {
    let mut out = String::new();
    let Some(p) = plan.placement(rsc) else {
        return out;
    };
    let target = if p.instances.is_empty() {
        format!(
            "stopped ({})",
            p.unplaced.as_deref().unwrap_or("no node can run it")
        )
    } else {
        p.instances
            .iter()
            .map(|(n, r)| format!("{n} ({r})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "{rsc}: {target}");
    if p.blocked {
        let _ = writeln!(
            out,
            "  blocked: {}",
            p.unplaced.as_deref().unwrap_or("left as it is")
        );
    }
    // The order and tie rules this policy uses.
    let cluster = loaded.policy().map(|p| &p.cluster);
    let strategy = cluster.map_or(halo_model::PlacementStrategy::Default, |c| c.strategy);
    let order = if strategy == halo_model::PlacementStrategy::Default {
        "by priority, then in declaration order"
    } else {
        "by priority, then by score on the node each runs on, then node by node"
    };
    let _ = writeln!(
        out,
        "  assigned {} (resources are assigned {order}; earlier ones win ties)",
        ordinal(p.assigned_as + 1)
    );
    let current = if cluster.is_some_and(|c| c.spread_ties) {
        "current node if the score is above zero"
    } else {
        "current node"
    };
    let ties = match strategy {
        halo_model::PlacementStrategy::Minimal => format!("{current}, then name"),
        halo_model::PlacementStrategy::Balanced => {
            format!("{current}, then more free capacity, then fewer resources, then name")
        }
        _ => format!("{current}, then fewer resources, then name"),
    };
    let _ = writeln!(out, "  node scores (ties: {ties}):");
    write_scores(&mut out, loaded, &p.scores);
    if let Some(promo) = &p.promotion {
        let _ = writeln!(out, "  promotion scores:");
        write_scores(&mut out, loaded, promo);
    }
    out
}

fn write_scores(out: &mut String, loaded: &dyn Input, scores: &[halo_engine::NodeScore]) {
    for s in scores {
        let _ = writeln!(out, "    {:<16} {:>8}", s.node, s.total.to_string());
        for c in &s.parts {
            let at = c
                .source
                .origin()
                .map(|o| format!("  [{}]", loaded.locate(o)))
                .unwrap_or_default();
            let _ = writeln!(out, "      {:>8}  {}{at}", c.score.to_string(), c.source);
        }
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
