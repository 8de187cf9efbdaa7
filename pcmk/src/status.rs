//! The status section: node membership and each resource's operation history,
//! folded into Halo's observed state (role per node, failures, fail counts,
//! promotion scores, operations in flight).

use crate::config::Builder;
use crate::xml::Element;
use halo_model::*;

/// Whether a membership attribute says "yes": `true`, `online`, `member`, or a
/// timestamp (newer Pacemaker writes the time the node joined).
fn yes(v: Option<&str>) -> bool {
    match v {
        None => false,
        Some(v) => {
            matches!(v, "true" | "online" | "member" | "yes" | "1")
                || v.parse::<i64>().is_ok_and(|n| n > 0)
        }
    }
}

impl Builder {
    pub fn status(&mut self, status: &Element, state: &mut ClusterState) {
        // A node the cluster has never seen is not known to be down: with fencing
        // it is unclean (startup fencing), without it offline.
        let seen: Vec<&str> = status
            .all("node_state")
            .filter_map(|n| n.attr("uname"))
            .collect();
        let unseen = if self.policy.cluster.fencing && self.startup_fencing {
            NodeStatus::Unclean
        } else {
            NodeStatus::Offline
        };
        for n in &self.policy.cluster.nodes {
            if !seen.contains(&n.name.as_str()) {
                state.node_mut(&n.name).status = unseen;
            }
        }
        for ns in status.all("node_state") {
            let Some(name) = ns.attr("uname").map(str::to_string) else {
                continue;
            };
            if !self.policy.cluster.nodes.iter().any(|n| n.name == name) {
                continue;
            }
            let in_ccm = yes(ns.attr("in_ccm"));
            let crmd = yes(ns.attr("crmd"));
            let join = ns.attr("join").unwrap_or("down");
            let expected = ns.attr("expected").unwrap_or("down");
            let status = if in_ccm && crmd && join == "member" {
                NodeStatus::Online
            } else if expected == "down"
                || join == "pending"
                || (!in_ccm && join == "down" && expected != "member")
            {
                // Cleanly down, or still joining: nothing runs there yet.
                NodeStatus::Offline
            } else {
                NodeStatus::Unclean
            };
            let node = state.node_mut(&name);
            node.status = status;
            if let Some(t) = ns.path(&["transient_attributes"]) {
                let attrs = crate::config::nvpairs(t, "instance_attributes", &mut self.unsupported);
                for (k, v) in attrs {
                    self.transient(state, &name, &k, &v);
                }
            }
            for r in ns
                .path(&["lrm", "lrm_resources"])
                .into_iter()
                .flat_map(|l| l.all("lrm_resource"))
            {
                self.history(state, &name, r);
            }
            // Down, yet its history shows resources active: they were never
            // stopped, so the node must be fenced before they run elsewhere.
            let active_here = state
                .resources
                .values()
                .any(|m| m.get(&name).is_some_and(|r| r.role.is_active()));
            if state.node(&name).status == NodeStatus::Offline
                && active_here
                && self.policy.cluster.fencing
                && join != "pending"
            {
                state.node_mut(&name).status = NodeStatus::Unclean;
            }
        }
    }

    /// A transient node attribute: fail counts, last failures, promotion scores,
    /// standby, or an attribute rules can test.
    fn transient(&mut self, state: &mut ClusterState, node: &str, k: &str, v: &str) {
        let rsc_of = |s: &str| -> Option<String> {
            let id = s.split('#').next().unwrap_or(s);
            let id = strip_instance(id);
            self.names
                .get(id)
                .and_then(|r| self.policy.resource(*r))
                .map(|r| r.name.clone())
        };
        if let Some(rest) = k.strip_prefix("fail-count-") {
            if let Some(rsc) = rsc_of(rest) {
                let fc = state.failure_mut(&rsc, node);
                let n = crate::config::score(v)
                    .map_or(0, |s| s.value().clamp(0, i64::from(FailCount::INFINITE)));
                fc.count = fc
                    .count
                    .saturating_add(u32::try_from(n).unwrap_or(0))
                    .min(FailCount::INFINITE);
                if fc.op.is_none() {
                    fc.op = rest
                        .split('#')
                        .nth(1)
                        .and_then(|o| o.split('_').next())
                        .and_then(OpAction::parse);
                }
            }
        } else if let Some(rest) = k.strip_prefix("last-failure-") {
            if let Some(rsc) = rsc_of(rest) {
                let fc = state.failure_mut(&rsc, node);
                fc.last_failure = fc.last_failure.max(Timestamp(v.parse().unwrap_or(0)));
            }
        } else if let Some(rest) = k
            .strip_prefix("master-")
            .or_else(|| k.strip_prefix("promotion-"))
        {
            if let Some(rsc) = rsc_of(rest) {
                let e = state
                    .resources
                    .entry(rsc)
                    .or_default()
                    .entry(node.to_string())
                    .or_default();
                e.promotion = crate::config::score(v).map(|s| s.value());
            }
        } else if k == "standby" {
            state.node_mut(node).standby = v == "true" || v == "on";
        } else if k == "shutdown" {
            // The node is shutting down: its resources must leave it.
            if v != "0" && !v.is_empty() {
                state.node_mut(node).standby = true;
            }
        } else if k == "terminate" {
            if v == "true" || v == "1" {
                state.node_mut(node).status = NodeStatus::Unclean;
            }
        } else if k != "probe_complete" {
            state
                .node_mut(node)
                .attrs
                .insert(k.to_string(), v.to_string());
        }
    }

    /// Folds one resource's operation history on one node, in call order.
    fn history(&mut self, state: &mut ClusterState, node: &str, r: &Element) {
        let id = strip_instance(r.id());
        let Some(&rid) = self.names.get(id) else {
            // Not in the configuration: an orphan, stopped if it is running.
            let mut ops: Vec<&Element> = r.all("lrm_rsc_op").collect();
            ops.sort_by_key(|o| call_id(o));
            if let Some(role) = fold(&ops, &[]).map(|(role, _, _)| role) {
                if role.is_active() {
                    state.set_role(id, node, role);
                }
            }
            return;
        };
        let Some(rsc) = self.policy.resource(rid) else {
            return;
        };
        let name = rsc.name.clone();
        let mut ops: Vec<&Element> = r.all("lrm_rsc_op").collect();
        ops.sort_by_key(|o| call_id(o));
        // Monitors configured for the Stopped role expect "not running".
        let stopped_monitors: Vec<u64> = rsc
            .primitive()
            .map(|p| {
                p.ops
                    .iter()
                    .filter(|o| o.action == OpAction::Monitor && o.role == Some(Role::Stopped))
                    .map(|o| o.interval.as_ms())
                    .collect()
            })
            .unwrap_or_default();
        let Some((role, failed, pending)) = fold(&ops, &stopped_monitors) else {
            return;
        };
        let promotable = rsc.is_promotable();
        let role = match role {
            Role::Started if promotable => Role::Unpromoted,
            Role::Promoted | Role::Unpromoted if !promotable => Role::Started,
            other => other,
        };
        if role == Role::Stopped && failed.is_none() && pending.is_none() {
            return;
        }
        let e = state
            .resources
            .entry(name)
            .or_default()
            .entry(node.to_string())
            .or_default();
        e.role = role;
        e.failed = failed;
        e.pending = pending;
    }
}

/// `rsc:2` → `rsc` (clone instance numbers).
fn strip_instance(id: &str) -> &str {
    match id.rsplit_once(':') {
        Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base,
        _ => id,
    }
}

fn call_id(op: &Element) -> i64 {
    // Pending operations have call-id -1: they come last.
    match op.attr("call-id").and_then(|v| v.parse::<i64>().ok()) {
        Some(-1) | None => i64::MAX,
        Some(n) => n,
    }
}

/// The role an operation history leaves, the failure still standing, and an
/// operation in flight.
fn fold(
    ops: &[&Element],
    stopped_monitors: &[u64],
) -> Option<(Role, Option<FailedOp>, Option<OpAction>)> {
    let mut role = Role::Stopped;
    let mut failed: Option<FailedOp> = None;
    let mut pending = None;
    let mut seen = false;
    for op in ops {
        let task = op.attr("operation").unwrap_or("");
        let rc: i32 = op.attr("rc-code").and_then(|v| v.parse().ok()).unwrap_or(0);
        let status: i32 = op
            .attr("op-status")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let interval = op
            .attr("interval")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if status == -1 || op.attr("call-id") == Some("-1") {
            pending = OpAction::parse(task);
            continue;
        }
        seen = true;
        // Cancelled (1) operations say nothing about the resource.
        if status == 1 {
            continue;
        }
        let Some(action) = OpAction::parse(task) else {
            continue;
        };
        // Executor status: 0 done and 4 "rc not as expected" leave the rc to
        // speak; a timeout (2) or an executor failure (3, 5...) is a failure
        // whatever the rc.
        let done = status == 0 || status == 4;
        let rc = if !done && rc == 0 { 1 } else { rc };
        let ok = rc == 0 && done;
        match action {
            OpAction::Monitor => match rc {
                0 if done => {
                    if !role.is_active() {
                        role = Role::Started;
                    }
                    if role == Role::Promoted && interval == 0 {
                        role = Role::Started;
                    }
                }
                8 if done => role = Role::Promoted,
                9 => {
                    role = Role::Promoted;
                    failed = Some(FailedOp {
                        op: OpAction::Monitor,
                        rc,
                    });
                }
                // A probe, or a monitor of the Stopped role, that finds it not
                // running: as expected.
                7 if done && (interval == 0 || stopped_monitors.contains(&interval)) => {
                    role = Role::Stopped;
                    failed = None;
                }
                // A probe that finds the agent missing or misconfigured: not
                // running, and it cannot run here.
                2 | 5 | 6 if interval == 0 => {
                    role = Role::Stopped;
                    failed = Some(FailedOp {
                        op: OpAction::Monitor,
                        rc,
                    });
                }
                _ => {
                    // A recurring monitor that fails: the resource was active and
                    // is not healthy any more.
                    if !role.is_active() {
                        role = Role::Started;
                    }
                    failed = Some(FailedOp {
                        op: OpAction::Monitor,
                        rc,
                    });
                }
            },
            OpAction::Start if ok => {
                role = Role::Started;
                failed = None;
            }
            OpAction::Stop if ok => {
                role = Role::Stopped;
                failed = None;
            }
            OpAction::Promote if ok => {
                role = Role::Promoted;
                failed = None;
            }
            OpAction::Demote if ok => {
                role = Role::Unpromoted;
                failed = None;
            }
            OpAction::Promote => {
                // A failed promotion may have half-promoted it.
                role = Role::Promoted;
                failed = Some(FailedOp {
                    op: OpAction::Promote,
                    rc,
                });
            }
            OpAction::Demote => {
                role = if rc == 7 {
                    Role::Stopped
                } else {
                    Role::Unpromoted
                };
                failed = Some(FailedOp {
                    op: OpAction::Demote,
                    rc,
                });
            }
            other => {
                if !role.is_active() {
                    role = Role::Started;
                }
                failed = Some(FailedOp { op: other, rc });
            }
        }
    }
    (seen || pending.is_some()).then_some((role, failed, pending))
}
