//! Prometheus metrics. Two kinds of series:
//!
//! - **This replica's own**, kept as it runs: planning time, actions by kind
//!   and outcome, fencing attempts, failover phases, runner round trips,
//!   leader changes, the Raft term and log indices. Every replica exports
//!   these, labelled with its name.
//! - **The cluster's**, computed at scrape time from the replicated document:
//!   nodes, resources, fail counts, migration thresholds, whether fencing is
//!   on, the last configuration change, quorum. Only the leader exports them,
//!   so that scraping every replica does not count each node three times
//!   (ha_cluster_exporter's users report exactly that). Their names are
//!   ha_cluster_exporter's, so its dashboards and alerts keep working.

use crate::doc::Doc;
use halo_model::{ClusterState, NodeStatus, Policy, Role};
use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry, TextEncoder,
};
use std::collections::BTreeMap;

/// This replica's own series.
pub struct Metrics {
    registry: Registry,
    pub plan_seconds: Histogram,
    pub actions: IntCounterVec,
    pub fencing: IntCounterVec,
    pub failover: HistogramVec,
    pub runner_rtt: HistogramVec,
    pub transitions: IntCounter,
    pub leader_changes: IntCounter,
    pub term: IntGauge,
    pub last_log_index: IntGauge,
    pub applied_index: IntGauge,
    pub is_leader: IntGauge,
}

/// Failover phases take from milliseconds (a start) to minutes (a lease
/// waited out, a slow fence device).
const PHASE_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Planning and round trips: microseconds to a second.
const FAST_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

fn register<C: Collector + Clone + 'static>(r: &Registry, c: C) -> C {
    // Names are fixed and distinct: registering cannot fail.
    if let Err(e) = r.register(Box::new(c.clone())) {
        debug_assert!(false, "metric registered twice: {e}");
    }
    c
}

impl Metrics {
    pub fn new(replica: &str) -> Result<Metrics, prometheus::Error> {
        let labels = [("replica".to_string(), replica.to_string())]
            .into_iter()
            .collect();
        let r = Registry::new_custom(Some("halo".into()), Some(labels))?;
        let hist = |name: &str, help: &str, buckets: &[f64]| {
            HistogramOpts::new(name, help).buckets(buckets.to_vec())
        };
        Ok(Metrics {
            plan_seconds: register(
                &r,
                Histogram::with_opts(hist(
                    "plan_duration_seconds",
                    "Time the engine took to compute a plan.",
                    FAST_BUCKETS,
                ))?,
            ),
            actions: register(
                &r,
                IntCounterVec::new(
                    Opts::new("actions_total", "Actions this replica ran as leader, by kind and outcome (ok, failed, unreachable)."),
                    &["kind", "outcome"],
                )?,
            ),
            fencing: register(
                &r,
                IntCounterVec::new(
                    Opts::new("fencing_attempts_total", "Fencing attempts this replica made as leader, by target node and outcome."),
                    &["node", "outcome"],
                )?,
            ),
            failover: register(
                &r,
                HistogramVec::new(
                    hist(
                        "failover_phase_seconds",
                        "Failover phases: detection (a node's last answer to its loss), fencing (the fence call), start (the loss to each of its resources started elsewhere).",
                        PHASE_BUCKETS,
                    ),
                    &["phase"],
                )?,
            ),
            runner_rtt: register(
                &r,
                HistogramVec::new(
                    hist(
                        "runner_rtt_seconds",
                        "Round trip of the leader's heartbeats to each node's runner.",
                        FAST_BUCKETS,
                    ),
                    &["node"],
                )?,
            ),
            transitions: register(
                &r,
                IntCounter::new("transitions_total", "Plans this replica executed as leader.")?,
            ),
            leader_changes: register(
                &r,
                IntCounter::new(
                    "leader_changes_total",
                    "Times this replica saw the cluster's leader change.",
                )?,
            ),
            term: register(&r, IntGauge::new("raft_term", "The current Raft term.")?),
            last_log_index: register(
                &r,
                IntGauge::new("raft_last_log_index", "The index of this replica's last Raft log entry.")?,
            ),
            applied_index: register(
                &r,
                IntGauge::new(
                    "raft_commit_index",
                    "The index of the last committed Raft log entry this replica applied.",
                )?,
            ),
            is_leader: register(
                &r,
                IntGauge::new("leader", "1 while this replica leads the cluster.")?,
            ),
            registry: r,
        })
    }

    /// The text exposition: this replica's series, then the cluster's when
    /// `cluster` is given (the leader's view).
    pub fn render(&self, cluster: Option<ClusterView<'_>>) -> String {
        let mut families = self.registry.gather();
        if let Some(view) = cluster {
            families.extend(cluster_families(view));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            return format!("# cannot encode the metrics: {e}\n");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// What the cluster-wide series are computed from.
#[derive(Clone, Copy)]
pub struct ClusterView<'a> {
    pub policy: Option<&'a Policy>,
    pub doc: &'a Doc,
    /// Whether each node's runner answers the leader.
    pub runners: &'a BTreeMap<String, bool>,
    /// Whether this leader hears a majority of replicas.
    pub quorate: bool,
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> Option<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels).ok()?;
    r.register(Box::new(g.clone())).ok()?;
    Some(g)
}

fn gauge(r: &Registry, name: &str, help: &str, value: f64) {
    if let Ok(g) = Gauge::new(name, help) {
        g.set(value);
        let _ = r.register(Box::new(g));
    }
}

fn cluster_families(v: ClusterView<'_>) -> Vec<prometheus::proto::MetricFamily> {
    let r = Registry::new();
    let state = &v.doc.state;
    nodes(&r, &v);
    resources(&r, v.policy, state);
    failures(&r, v.policy, state);
    let fencing = v.policy.is_some_and(|p| p.cluster.fencing);
    gauge(
        &r,
        "ha_cluster_pacemaker_stonith_enabled",
        "Whether fencing is enabled in the policy.",
        f64::from(u8::from(fencing)),
    );
    let changed = v.doc.policy_applied_at.map_or(0.0, |t| t.0 as f64);
    gauge(
        &r,
        "ha_cluster_pacemaker_config_last_change",
        "When the policy in force was applied (Unix time, seconds).",
        changed,
    );
    gauge(
        &r,
        "ha_cluster_corosync_quorate",
        "Whether the cluster has quorum (the leader hears a majority of replicas).",
        f64::from(u8::from(v.quorate)),
    );
    gauge(
        &r,
        "halo_fencing_pending",
        "Nodes waiting to be fenced.",
        v.doc.fencing.len() as f64,
    );
    r.gather()
}

fn nodes(r: &Registry, v: &ClusterView<'_>) {
    let Some(g) = gauge_vec(
        r,
        "ha_cluster_pacemaker_nodes",
        "The cluster's nodes: one series per node and status that holds.",
        &["node", "type", "status"],
    ) else {
        return;
    };
    let names: Vec<&str> = match v.policy {
        Some(p) => p.cluster.nodes.iter().map(|n| n.name.as_str()).collect(),
        None => v.runners.keys().map(String::as_str).collect(),
    };
    for name in &names {
        let n = v.doc.state.node(name);
        let answers = v.runners.get(*name).copied().unwrap_or(false);
        let statuses = [
            ("online", n.status == NodeStatus::Online && answers),
            ("standby", n.standby),
            ("maintenance", n.maintenance),
            ("unclean", n.status == NodeStatus::Unclean),
            ("offline", n.status == NodeStatus::Offline || !answers),
        ];
        for (status, holds) in statuses {
            if holds {
                g.with_label_values(&[name, "member", status]).set(1.0);
            }
        }
    }
    gauge(
        r,
        // ha_cluster_exporter's `ha_cluster_pacemaker_nodes_total`, renamed:
        // a gauge named `_total` fails Prometheus's naming rules (promtool).
        "halo_cluster_nodes",
        "How many nodes the cluster has.",
        names.len() as f64,
    );
}

/// The group and the clone a resource belongs to ("" when none). In
/// Halo a clone is a resource (or group) with instances, named as itself.
fn parents(policy: &Policy, rsc: &str) -> (String, String) {
    let Some(r) = policy.find(rsc).and_then(|id| policy.resource(id)) else {
        return Default::default();
    };
    let group = r.parent.and_then(|g| policy.resource(g));
    let clone = [Some(r), group]
        .into_iter()
        .flatten()
        .find(|x| x.clone.is_some())
        .map(|x| x.name.clone())
        .unwrap_or_default();
    (group.map(|g| g.name.clone()).unwrap_or_default(), clone)
}

fn resources(r: &Registry, policy: Option<&Policy>, state: &ClusterState) {
    let Some(g) = gauge_vec(
        r,
        "ha_cluster_pacemaker_resources",
        "What runs where: one series per resource, node and role.",
        &[
            "node", "resource", "role", "managed", "status", "agent", "group", "clone",
        ],
    ) else {
        return;
    };
    let mut total = 0;
    for (rsc, on) in &state.resources {
        let id = policy.and_then(|p| p.find(rsc));
        let agent = id
            .and_then(|id| policy?.resource(id)?.primitive())
            .map(|p| p.agent.to_string())
            .unwrap_or_default();
        let managed = id
            .and_then(|id| policy?.meta(id, |m| m.managed))
            .unwrap_or(true);
        let (group, clone) = policy.map(|p| parents(p, rsc)).unwrap_or_default();
        for (node, s) in on {
            if s.role == Role::Stopped && s.failed.is_none() {
                continue;
            }
            total += 1;
            let status = if s.failed.is_some() {
                "failed"
            } else {
                "active"
            };
            let managed = if managed { "true" } else { "false" };
            g.with_label_values(&[
                node,
                rsc,
                &s.role.to_string(),
                managed,
                status,
                &agent,
                &group,
                &clone,
            ])
            .set(1.0);
        }
    }
    gauge(
        r,
        // ha_cluster_exporter's `ha_cluster_pacemaker_resources_total` (see
        // `halo_cluster_nodes`).
        "halo_cluster_resources",
        "How many resource instances are active or failed.",
        f64::from(total),
    );
}

fn failures(r: &Registry, policy: Option<&Policy>, state: &ClusterState) {
    let (Some(count), Some(threshold)) = (
        gauge_vec(
            r,
            "ha_cluster_pacemaker_fail_count",
            "Failures of each resource on each node.",
            &["node", "resource"],
        ),
        gauge_vec(
            r,
            "ha_cluster_pacemaker_migration_threshold",
            "Failures of a resource on a node after which it moves away (0: never).",
            &["node", "resource"],
        ),
    ) else {
        return;
    };
    for (rsc, on) in &state.failures {
        let limit = policy
            .and_then(|p| p.meta(p.find(rsc)?, |m| m.migration_threshold))
            .unwrap_or(0);
        for (node, f) in on {
            count
                .with_label_values(&[node, rsc])
                .set(f64::from(f.count));
            threshold
                .with_label_values(&[node, rsc])
                .set(f64::from(limit));
        }
    }
}
