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

/// A resource's history on a node: its `lrm_resource` and that element's
/// children (its operations).
pub type History<'e> = (&'e Element<'e>, &'e [Element<'e>]);

/// A node's `node_state` being folded in: opened by its tag, then its
/// transient attributes and its resources' histories, then closed.
pub struct NodeFold {
    name: String,
    /// Whether the configuration names the node: the state of one it does
    /// not is passed over.
    known: bool,
    /// Whether its transient attributes have been read.
    attributes: bool,
    /// Whether it is still joining the cluster.
    join_pending: bool,
    /// Only while it is down: the resources its history names.
    histories: Vec<String>,
}

/// What the status fold needs to know of a resource, gathered once after the
/// configuration: the fold visits every resource on every node, and reading
/// these from the policy each time (its operations, meta attributes and
/// parent) costs trips to memory for each.
#[derive(Default)]
pub(crate) struct Facts {
    /// Intervals of the monitors configured for the Stopped role, which
    /// expect "not running".
    stopped_monitors: Vec<u64>,
    /// failure-timeout in seconds; 0 for none.
    timeout: i64,
    /// An instance of a clone: itself cloned, or in a cloned group.
    cloned: bool,
    /// An instance of a unique clone.
    unique: bool,
    /// Promotable itself, or in a promotable cloned group.
    promotable: bool,
    /// Not managed (is-managed=false): "not running" from any of its
    /// operations is no failure, only what it finds.
    unmanaged: bool,
}

impl Facts {
    /// Every resource's, in the policy's order.
    pub fn of(policy: &Policy) -> Vec<Facts> {
        (0..policy.resources.len())
            .map(|i| {
                let rid = RscId(u32::try_from(i).unwrap_or(u32::MAX));
                Facts::of_one(policy, rid).unwrap_or_default()
            })
            .collect()
    }

    fn of_one(policy: &Policy, rid: RscId) -> Option<Facts> {
        let rsc = policy.resource(rid)?;
        let parent = rsc.parent.and_then(|g| policy.resource(g));
        Some(Facts {
            stopped_monitors: rsc
                .primitive()
                .map(|p| {
                    p.ops
                        .iter()
                        .filter(|o| o.action == OpAction::Monitor && o.role == Some(Role::Stopped))
                        .map(|o| o.interval.as_ms())
                        .collect()
                })
                .unwrap_or_default(),
            timeout: policy
                .meta(rid, |m| m.failure_timeout)
                .map_or(0, |t| i64::try_from(t.as_ms() / 1000).unwrap_or(i64::MAX)),
            cloned: rsc.clone.is_some() || parent.is_some_and(|g| g.clone.is_some()),
            unique: rsc
                .clone
                .as_ref()
                .or_else(|| parent.and_then(|g| g.clone.as_ref()))
                .is_some_and(|c| c.unique),
            // Members of a promotable cloned group are promotable too.
            promotable: rsc.is_promotable() || parent.is_some_and(|g| g.is_promotable()),
            unmanaged: policy.meta(rid, |m| m.managed) == Some(false),
        })
    }
}

impl NodeFold {
    /// Whether the node's histories can be read now: after its transient
    /// attributes, as fail counts decide which failures are remembered.
    pub fn histories_ready(&self) -> bool {
        self.attributes || !self.known
    }
}

impl Builder<'_> {
    /// The whole status section at once.
    pub fn status(&mut self, status: &Element, state: &mut ClusterState) {
        // Completed live migrations: (resource, source, target) of every
        // successful migrate_from, wherever it is recorded.
        self.migrated = status
            .all("node_state")
            .flat_map(|ns| ns.all("lrm"))
            .flat_map(|l| l.all("lrm_resources"))
            .flat_map(|l| l.all("lrm_resource"))
            .flat_map(|r| {
                r.all("lrm_rsc_op")
                    .filter(|op| {
                        op.attr("operation") == Some("migrate_from")
                            && op.attr("rc-code") == Some("0")
                            && op.attr("op-status").is_none_or(|s| s == "0")
                    })
                    .map(move |op| {
                        (
                            strip_instance(r.id()).to_string(),
                            op.attr("migrate_source").unwrap_or("").to_string(),
                            op.attr("migrate_target").unwrap_or("").to_string(),
                        )
                    })
            })
            .collect();
        let mut seen = Vec::new();
        for ns in status.all("node_state") {
            if let Some(n) = self.node_state(ns, state) {
                seen.push(n);
            }
        }
        self.unseen_nodes(&seen, state);
    }

    /// Nodes the status has no `node_state` for: never seen by the cluster,
    /// so not known to be down. With fencing they are unclean (startup
    /// fencing), without it offline.
    pub fn unseen_nodes(&self, seen: &[String], state: &mut ClusterState) {
        let unseen = if self.policy.cluster.fencing && self.startup_fencing {
            NodeStatus::Unclean
        } else {
            NodeStatus::Offline
        };
        for n in &self.policy.cluster.nodes {
            if !seen.contains(&n.name) {
                state.node_mut(&n.name).status = unseen;
            }
        }
    }

    /// One node's membership, transient attributes and operation history.
    /// Returns the node's name if it has one.
    pub fn node_state(&mut self, ns: &Element, state: &mut ClusterState) -> Option<String> {
        let mut n = self.open_node(ns, state)?;
        if let Some(t) = ns.first("transient_attributes") {
            self.node_attributes(&mut n, t, state);
        }
        let histories = ns
            .all("lrm")
            .flat_map(|l| l.all("lrm_resources"))
            .flat_map(|l| l.all("lrm_resource"))
            .map(|r| (r, r.children.as_slice()));
        self.node_histories(&mut n, histories, state);
        Some(self.close_node(n, state))
    }

    /// A `node_state` tag: the node's membership. `None` when it names no
    /// node.
    pub fn open_node(&mut self, ns: &Element, state: &mut ClusterState) -> Option<NodeFold> {
        let name = ns.attr("uname")?.to_string();
        let join = ns.attr("join").unwrap_or("down");
        let n = NodeFold {
            known: self.policy.cluster.nodes.iter().any(|n| n.name == name),
            name,
            attributes: false,
            join_pending: join == "pending",
            histories: Vec::new(),
        };
        if !n.known {
            // Pacemaker skips the state of a node its configuration does not
            // list (`unpack_node_state`: "no longer in the configuration").
            self.notes.push(format!(
                "node_state '{}' is of node '{}', which <nodes> does not list: its state is not read, as Pacemaker does not read it",
                ns.id(),
                n.name
            ));
            return Some(n);
        }
        let in_ccm = yes(ns.attr("in_ccm"));
        let crmd = yes(ns.attr("crmd"));
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
        state.node_mut(&n.name).status = status;
        Some(n)
    }

    /// The node's transient attributes (only the first set counts).
    pub fn node_attributes(&mut self, n: &mut NodeFold, t: &Element, state: &mut ClusterState) {
        if !n.known || n.attributes {
            return;
        }
        n.attributes = true;
        let attrs =
            crate::config::nvpairs(t, "instance_attributes", &self.refs, &mut self.unsupported);
        for (k, v) in attrs {
            self.transient(state, &n.name, &k, &v);
        }
    }

    /// Some of the node's resource histories (`lrm_resource`s), read after
    /// its attributes.
    pub fn node_histories<'e>(
        &mut self,
        n: &mut NodeFold,
        rs: impl IntoIterator<Item = History<'e>>,
        state: &mut ClusterState,
    ) {
        if !n.known {
            return;
        }
        let down = state.nodes.get(&n.name).map(|x| x.status) == Some(NodeStatus::Offline);
        // One list of operations, read into for each resource in turn.
        let mut ops = Vec::new();
        for (r, children) in rs {
            self.history(state, &n.name, r, children, &mut ops);
            if down {
                n.histories.push(strip_instance(r.id()).to_string());
            }
        }
    }

    /// The end of the node's state: returns its name.
    pub fn close_node(&mut self, n: NodeFold, state: &mut ClusterState) -> String {
        // Down, yet its history shows resources active: they were never
        // stopped, so the node must be fenced before they run elsewhere.
        let active = n.histories.iter().any(|id| {
            let shown = self
                .names
                .get(id.as_str())
                .and_then(|rid| self.policy.resource(*rid))
                .map_or(id.as_str(), |x| x.name.as_str());
            state.on(shown, &n.name).is_some_and(|x| x.role.is_active())
        });
        if active && self.policy.cluster.fencing && !n.join_pending {
            state.node_mut(&n.name).status = NodeStatus::Unclean;
        }
        n.name
    }

    /// A transient node attribute: fail counts, last failures, promotion scores,
    /// standby, or an attribute rules can test.
    fn transient(&mut self, state: &mut ClusterState, node: &str, k: &str, v: &str) {
        let legacy = self.legacy_fail_counts;
        let named = |id: &str| -> Option<String> {
            self.names
                .get(strip_instance(id))
                .and_then(|r| self.policy.resource(*r))
                .map(|r| r.name.clone())
        };
        // (the resource, and the operation the failure was counted for)
        let failure_of = |s| {
            let (id, op) = failure_attr(s, legacy)?;
            Some((named(id)?, op))
        };
        let rsc_of = |s: &str| -> Option<String> {
            let id = s.split('#').next().unwrap_or(s);
            let id = strip_instance(id);
            self.names
                .get(id)
                .and_then(|r| self.policy.resource(*r))
                .map(|r| r.name.clone())
        };
        if let Some(rest) = k.strip_prefix("fail-count-") {
            if let Some((rsc, failed_op)) = failure_of(rest) {
                let fc = state.failure_mut(&rsc, node);
                let n = crate::config::score(v)
                    .map_or(0, |s| s.value().clamp(0, i64::from(FailCount::INFINITE)));
                fc.count = fc
                    .count
                    .saturating_add(u32::try_from(n).unwrap_or(0))
                    .min(FailCount::INFINITE);
                // A probe's failure (`#monitor_0`) has no on-fail that
                // keeps acting: probes are never configured.
                if let Some((task, interval)) = failed_op.filter(|_| fc.op.is_none()) {
                    if (task, interval) != ("monitor", "0") {
                        fc.op = OpAction::parse(task);
                    }
                }
            }
        } else if let Some(rest) = k.strip_prefix("last-failure-") {
            if let Some((rsc, _)) = failure_of(rest) {
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
    fn history<'e>(
        &mut self,
        state: &mut ClusterState,
        node: &str,
        r: &'e Element<'e>,
        children: &'e [Element<'e>],
        ops: &mut Vec<Op<'e>>,
    ) {
        Op::read_history(children, ops);
        let ops: &[Op] = ops;
        // A return code that is no number cannot be read as any outcome
        // (negative ones come with failed executions, and are read).
        if let Some(op) = ops
            .iter()
            .find(|op| op.rc_code.is_some_and(|rc| rc.parse::<i32>().is_err()))
        {
            self.unsupported.push(format!(
                "operation '{}' of '{}' on '{node}': rc-code '{}' is not a number",
                op.el.id(),
                r.id(),
                op.rc_code.unwrap_or_default()
            ));
            return;
        }
        let id = strip_instance(r.id());
        let Some(rid) = self.ids.get(id) else {
            // Not in the configuration: an orphan, stopped if it is running.
            if let Some(role) =
                fold(ops, &Facts::default(), &|_, _| OnFail::Restart, None).map(|f| f.role)
            {
                if role.is_active() {
                    state.set_role(id, node, role);
                }
            }
            return;
        };
        let Some(rsc) = self.policy.resource(rid) else {
            return;
        };
        let name = rsc.name.as_str();
        // Live migrations: a completed migrate_from is a start on its target,
        // and a migrate_to whose migrate_from completed leaves the source
        // stopped; anything else (partial or failed migrations) is not
        // expressed yet.
        let mut migrated_away = false;
        for (i, op) in ops.iter().enumerate() {
            let task = op.task;
            if task != "migrate_to" && task != "migrate_from" {
                continue;
            }
            let ok = op.ok();
            let later_change = ops[i + 1..]
                .iter()
                .any(|o| matches!(o.task, "start" | "stop" | "migrate_to" | "migrate_from"));
            let completed = task == "migrate_from"
                || self.migrated.iter().any(|(r2, s, t)| {
                    r2 == id && s == node && Some(t.as_str()) == op.attr("migrate_target")
                });
            if !(ok && (completed || later_change)) {
                self.unsupported.push(format!(
                    "partial or failed live migration of '{id}' on '{node}'"
                ));
                return;
            }
            if task == "migrate_to" && !later_change {
                migrated_away = true;
            }
        }
        let Some(facts) = self.facts.get(rid.index()) else {
            return;
        };
        let fencing = self.policy.cluster.fencing;
        let prim = rsc.primitive();
        // An action's configuration is found by name and interval
        // (`find_rsc_op_entry`): a monitor of another interval, and a probe,
        // have none of their own.
        let on_fail = |action: OpAction, interval: u64| {
            prim.and_then(|p| {
                p.ops
                    .iter()
                    .find(|o| o.action == action && o.interval.as_ms() == interval)
                    .or_else(|| p.op(action, None).filter(|_| action != OpAction::Monitor))
            })
            .map(|o| o.effective_on_fail(fencing))
            .unwrap_or(match action {
                OpAction::Stop if fencing => OnFail::Fence,
                OpAction::Stop => OnFail::Block,
                _ => OnFail::Restart,
            })
        };
        // Failed operations older than failure-timeout are ignored, unless the
        // resource still has a fail count that has not expired. A failure of
        // an operation configured on-fail=block (by name and interval) makes
        // failure-timeout count for nothing (`block_failure` in
        // `pe_get_failcount`): that failure stays.
        let has_failcount = state
            .failures
            .get(name)
            .and_then(|m| m.get(node))
            .is_some_and(|fc| fc.count > 0);
        let block_failure = has_failcount
            && ops.iter().any(|op| {
                let rc: i32 = op.rc_code.and_then(|v| v.parse().ok()).unwrap_or(0);
                let configured_block = OpAction::parse(op.task).is_some_and(|a| {
                    prim.is_some_and(|p| {
                        p.ops.iter().any(|o| {
                            o.action == a
                                && o.interval.as_ms() == op.interval()
                                && o.on_fail == Some(OnFail::Block)
                        })
                    })
                });
                configured_block && expected_rc(op).is_some_and(|x| x != rc)
            });
        let timeout = if block_failure { 0 } else { facts.timeout };
        let expiry = self.now.filter(|_| timeout > 0).map(|now| {
            let unexpired = state
                .failures
                .get(name)
                .and_then(|m| m.get(node))
                .is_some_and(|fc| fc.count > 0 && now < fc.last_failure.0.saturating_add(timeout));
            Expiry {
                now,
                timeout,
                unexpired,
            }
        });
        if self.failure_outdated(rid, ops, expiry.as_ref()) {
            if let Some(fc) = state.failures.get_mut(name).and_then(|m| m.get_mut(node)) {
                fc.count = 0;
            }
        }
        let Some(Folded {
            mut role,
            failed,
            pending,
            ignored,
        }) = fold(ops, facts, &on_fail, expiry)
        else {
            return;
        };
        if migrated_away {
            role = Role::Stopped;
        }
        let redefined = if role.is_active() {
            self.redefinition(rid, ops)
        } else {
            Redefinition::Same
        };
        let changed = redefined == Redefinition::Restart;
        let reload = redefined == Redefinition::Reload;
        // A failure on-fail=ignore pretended away does not count towards
        // migration-threshold: say which operation the fail count is for.
        if let Some(op) = ignored {
            if let Some(fc) = state
                .failures
                .get_mut(&rsc.name)
                .and_then(|m| m.get_mut(node))
                .filter(|fc| fc.op.is_none())
            {
                fc.op = Some(op);
            }
        }
        let (promotable, unique, cloned) = (facts.promotable, facts.unique, facts.cloned);
        let role = match role {
            Role::Started if promotable => Role::Unpromoted,
            Role::Promoted | Role::Unpromoted if !promotable => Role::Started,
            other => other,
        };
        if role == Role::Stopped && failed.is_none() && pending.is_none() {
            // Known here, but not running: a promotion score counts where
            // the status is known (another instance's history here says as
            // much).
            if promotable {
                state
                    .resources
                    .entry(name.to_string())
                    .or_default()
                    .entry(node.to_string())
                    .or_default()
                    .probed = true;
            }
            return;
        }
        // One search of the large map (a key made each time costs less than
        // a second search); a node's key is made only for a new entry.
        let on = state.resources.entry(name.to_string()).or_default();
        if !on.contains_key(node) {
            on.insert(node.to_string(), ResourceState::default());
        }
        let Some(e) = on.get_mut(node) else {
            return;
        };
        // A second instance of a clone on this node (clone-node-max above 1,
        // or one found running twice). The failed one, if any, comes first:
        // failures are recorded for the first instance.
        if cloned && role.is_active() && e.role.is_active() {
            if failed.is_some() && e.failed.is_none() {
                e.more.push(e.role);
                e.role = role;
                e.failed = failed;
                e.pending = e.pending.or(pending);
            } else {
                e.more.push(role);
                e.pending = e.pending.or(pending);
            }
            e.changed |= changed;
            e.reload = (e.reload || reload) && !e.changed;
            if !unique {
                *self.instances_found.entry(rid).or_insert(0) += 1;
            }
            return;
        }
        e.role = role;
        e.failed = failed;
        e.pending = pending;
        e.changed = changed;
        e.reload = reload;
        // Instance numbers: a unique clone's are its own; an anonymous clone's
        // are given by Pacemaker in the order its active instances are found.
        if unique {
            e.instance = r.id().rsplit_once(':').and_then(|(_, n)| n.parse().ok());
        } else if cloned && role.is_active() {
            let next = self.instances_found.entry(rid).or_insert(0);
            e.instance = Some(*next);
            *next += 1;
        }
    }
}

impl Builder<'_> {
    /// Whether the resource, active with this history, was started with other
    /// parameters than the configuration now gives it, and whether its agent
    /// can take them in place (Pacemaker's `rsc_action_digest_cmp` and
    /// `pcmk__check_action_config`, for the one-off operations since its
    /// start): a restart when the digest of the parameters that need one
    /// differs; otherwise, when the digest of all of them differs or was not
    /// recorded, a reload if the agent can (a restart digest is recorded),
    /// a restart if not. An operation with parameters of its own restarts on
    /// any change (`calculate_main_digest`).
    fn redefinition(&self, rid: RscId, ops: &[Op]) -> Redefinition {
        let Some(params) = self.digest_params.get(&rid) else {
            return Redefinition::Same;
        };
        let last = |tasks: &[&str]| ops.iter().rposition(|o| tasks.contains(&o.task) && o.ok());
        // Without a start, the last promotion or demotion stands for it, or
        // else the first monitor since the last stop that found it running
        // (`calculate_active_ops`): its parameters are checked from there.
        let start = last(&["start", "migrate_from"])
            .or_else(|| {
                ops.iter()
                    .rposition(|o| matches!(o.task, "promote" | "demote"))
            })
            .or_else(|| implied_monitor_start(ops));
        let stop = last(&["stop"]);
        let Some(start) = start.filter(|s| stop.is_none_or(|t| t < *s)) else {
            return Redefinition::Same;
        };
        let mut worst = Redefinition::Same;
        for o in &ops[start..] {
            let interval = o.interval();
            if interval != 0 || !matches!(o.task, "monitor" | "start" | "promote" | "migrate_from")
            {
                continue;
            }
            match self.op_redefinition(rid, params, o) {
                Redefinition::Restart => return Redefinition::Restart,
                Redefinition::Reload => worst = Redefinition::Reload,
                Redefinition::Same => {}
            }
        }
        worst
    }

    /// Whether the fail count is cleared because the last failure, a start
    /// or a monitor, ran with other parameters than the configuration now
    /// gives (Pacemaker's `check_operation_expiry` with
    /// `should_clear_for_param_change`): the resource was changed to mend
    /// the failure, so the failure no longer bans it. An expired failure is
    /// left to expiry; one without a digest cannot be compared.
    fn failure_outdated(&self, rid: RscId, ops: &[Op], expiry: Option<&Expiry>) -> bool {
        let Some(params) = self.digest_params.get(&rid) else {
            return false;
        };
        let Some(o) = ops.iter().find(|o| o.el.id().ends_with("_last_failure_0")) else {
            return false;
        };
        if !matches!(o.task, "start" | "monitor") || o.attr("op-digest").is_none() {
            return false;
        }
        let expired = expiry.is_some_and(|e| {
            o.last_rc_change
                .and_then(|t| t.parse::<i64>().ok())
                .is_some_and(|t| e.now >= t.saturating_add(e.timeout))
        });
        !expired && self.op_redefinition(rid, params, o) != Redefinition::Same
    }

    /// What one recorded one-off operation says of the current parameters.
    fn op_redefinition(
        &self,
        rid: RscId,
        params: &std::collections::BTreeMap<String, String>,
        o: &Op,
    ) -> Redefinition {
        let (task, interval) = (o.task, o.interval());
        let plain = o.attr("op-digest");
        let special = o.attr("op-secure-digest").is_some() || o.attr("op-restart-digest").is_some();
        let changed = |yes: bool| {
            if yes {
                Redefinition::Restart
            } else {
                Redefinition::Same
            }
        };
        let mut digests = self.digests.borrow_mut();
        let digests = digests.entry(rid).or_default();
        // The digest of the configured parameters is the same on every
        // node: computed once per resource and operation.
        let known = digests.iter().find(|(t, i, _)| t == task && *i == interval);
        if let (Some((_, _, d)), false) = (known, special) {
            return changed(plain != Some(d.as_str()));
        }
        let mut all = params.clone();
        let own = OpAction::parse(task).and_then(|a| {
            self.policy
                .resource(rid)?
                .primitive()?
                .ops
                .iter()
                .find(|op| op.action == a && op.interval.as_ms() == interval)
        });
        let extra = own.is_some_and(|op| !op.params.is_empty());
        if let Some(op) = own {
            all.extend(op.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        // A recurring operation's digest keeps its timeout, in milliseconds
        // (`pcmk__filter_op_for_digest`): the operation's own, else the
        // operations' default, else 20 s.
        if interval > 0 {
            let timeout = own
                .and_then(|op| op.timeout)
                .or(self.policy.op_timeout)
                .map_or(20_000, |d| d.as_ms());
            all.insert("CRM_meta_timeout".to_string(), timeout.to_string());
        }
        let fence = self
            .policy
            .resource(rid)
            .and_then(|r| r.primitive())
            .is_some_and(|p| p.fence.is_some());
        // A CIB saved with its secrets masked: only the digest of the
        // other parameters can be compared.
        if let (Some(secure), Some(names)) =
            (o.attr("op-secure-digest"), o.attr("op-secure-params"))
        {
            let names: Vec<&str> = names.split_whitespace().collect();
            let mut public = all.clone();
            public.retain(|k, _| !(names.contains(&k.as_str()) || fence && stonith_param(k)));
            if digest(&public) == secure {
                return Redefinition::Same;
            }
        }
        if let Some(restart) = o.attr("op-restart-digest") {
            // Without a list, every parameter needs a restart.
            let mut only = all.clone();
            if let Some(names) = o.attr("op-force-restart") {
                let names: Vec<&str> = names.split_whitespace().collect();
                only.retain(|k, _| names.contains(&k.as_str()));
            }
            if digest(&only) != restart {
                return Redefinition::Restart;
            }
            let d = digest(&all);
            return match plain {
                Some(p) if p == d => Redefinition::Same,
                _ if extra => Redefinition::Restart,
                _ => Redefinition::Reload,
            };
        }
        let d = digest(&all);
        let result = changed(plain != Some(d.as_str()));
        digests.push((task.to_string(), interval, d));
        result
    }
}

/// The first monitor since the last stop that found the resource running
/// (0, or 8 promoted): where a history without a start has it start.
fn implied_monitor_start(ops: &[Op]) -> Option<usize> {
    let mut stop = None;
    let mut implied: Option<usize> = None;
    for (i, o) in ops.iter().enumerate() {
        if o.task == "stop" && o.op_status.is_none_or(|s| s == "0") {
            stop = Some(i);
        } else if o.task == "monitor"
            && implied.is_none_or(|m| stop.is_some_and(|s| m <= s))
            && matches!(o.rc_code, Some("0" | "8"))
        {
            implied = Some(i);
        }
    }
    implied
}

/// Parameters Pacemaker itself gives fence devices, which their agents'
/// meta-data do not list (left out of the digest of public parameters).
fn stonith_param(name: &str) -> bool {
    if matches!(name, "provides" | "stonith-timeout") {
        return true;
    }
    let Some(rest) = name.strip_prefix("pcmk_") else {
        return false;
    };
    matches!(
        rest,
        "action_limit"
            | "delay_base"
            | "delay_max"
            | "host_argument"
            | "host_check"
            | "host_list"
            | "host_map"
    ) || rest
        .split_once('_')
        .is_some_and(|(_, what)| matches!(what, "action" | "timeout" | "retries"))
}

/// Pacemaker's digest of operation parameters: MD5 of the parameters as one
/// XML element with sorted attributes, the way Pacemaker prints it.
fn digest(params: &std::collections::BTreeMap<String, String>) -> String {
    use md5::Digest as _;
    use std::fmt::Write as _;
    let mut text = String::from(" <parameters");
    for (k, v) in params {
        let v = v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        let _ = write!(text, " {k}=\"{v}\"");
    }
    text.push_str("/>\n");
    let mut hex = String::with_capacity(32);
    for b in md5::Md5::digest(text.as_bytes()) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// `rsc:2` → `rsc` (clone instance numbers).
fn strip_instance(id: &str) -> &str {
    match id.rsplit_once(':') {
        Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base,
        _ => id,
    }
}

/// One recorded operation (`lrm_rsc_op`), the attributes a history is
/// judged by read in one pass: a history reads each of them several times.
struct Op<'e> {
    el: &'e Element<'e>,
    task: &'e str,
    call_id: Option<&'e str>,
    rc_code: Option<&'e str>,
    op_status: Option<&'e str>,
    interval: Option<&'e str>,
    transition_key: Option<&'e str>,
    last_rc_change: Option<&'e str>,
}

impl<'e> Op<'e> {
    fn of(el: &'e Element<'e>) -> Op<'e> {
        let mut op = Op {
            el,
            task: "",
            call_id: None,
            rc_code: None,
            op_status: None,
            interval: None,
            transition_key: None,
            last_rc_change: None,
        };
        let mut task = None;
        for (key, value) in el.attrs() {
            let slot = match key {
                "operation" => &mut task,
                "call-id" => &mut op.call_id,
                "rc-code" => &mut op.rc_code,
                "op-status" => &mut op.op_status,
                "interval" => &mut op.interval,
                "transition-key" => &mut op.transition_key,
                "last-rc-change" => &mut op.last_rc_change,
                _ => continue,
            };
            // The first of a repeated attribute counts, as in `Element::attr`.
            slot.get_or_insert(value);
        }
        op.task = task.unwrap_or("");
        op
    }

    /// A resource's operations on a node, in the order they were called,
    /// into `ops`.
    fn read_history(children: &'e [Element<'e>], ops: &mut Vec<Op<'e>>) {
        ops.clear();
        ops.extend(
            children
                .iter()
                .filter(|c| c.name == "lrm_rsc_op")
                .map(Op::of),
        );
        ops.sort_by_key(call_id);
        // Operations with one call-id (an operation and the record of its
        // last failure) go oldest first by when their result last changed,
        // where both say (`pe__is_newer_op`); otherwise they keep their
        // order. That comparison is not a total order, so it is an
        // insertion sort within each run of equal call-ids.
        let changed = |o: &Op| o.last_rc_change.and_then(|t| t.parse::<i64>().ok());
        for i in 1..ops.len() {
            let mut j = i;
            while j > 0
                && call_id(&ops[j - 1]) == call_id(&ops[j])
                && call_id(&ops[j]) != i64::MAX
                && changed(&ops[j])
                    .zip(changed(&ops[j - 1]))
                    .is_some_and(|(this, prev)| prev > this)
            {
                ops.swap(j - 1, j);
                j -= 1;
            }
        }
    }

    /// Any other attribute.
    fn attr(&self, name: &str) -> Option<&'e str> {
        self.el.attr(name)
    }

    fn interval(&self) -> u64 {
        self.interval.and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Completed as the agent was asked to.
    fn ok(&self) -> bool {
        self.rc_code == Some("0") && self.op_status.is_none_or(|s| s == "0")
    }
}

fn call_id(op: &Op) -> i64 {
    // Pending operations have call-id -1: they come last.
    match op.call_id.and_then(|v| v.parse::<i64>().ok()) {
        Some(-1) | None => i64::MAX,
        Some(n) => n,
    }
}

/// The result Pacemaker's controller expected of an operation: the third field
/// of its transition key (`action:transition:EXPECTED:uuid`).
fn expected_rc(op: &Op) -> Option<i32> {
    op.transition_key?.split(':').nth(2)?.parse().ok()
}

/// How a recorded result counts, after comparing it with the expected one
/// (the executor's own status wins when it is not "done" or "error").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// As expected (or a result that needs no recovery).
    Done,
    /// A failure to recover from per on-fail.
    Error,
    /// A failure that also bans the resource from this node.
    Hard,
    /// A failure that bans the resource from every node.
    Fatal,
}

/// What an operation history leaves.
struct Folded {
    role: Role,
    /// The failure still standing.
    failed: Option<FailedOp>,
    /// An operation in flight.
    pending: Option<OpAction>,
    /// A failure that on-fail=ignore pretended away.
    ignored: Option<OpAction>,
}

/// When failed operations expire: at `timeout` seconds after they happened,
/// as of `now`, unless the fail count has not expired.
#[derive(Clone, Copy)]
struct Expiry {
    now: i64,
    timeout: i64,
    unexpired: bool,
}

/// An operation that completed as expected (or whose failure is ignored),
/// returning `success_rc`: the role it leaves, and whether it clears a past
/// failure.
fn succeeded(
    action: OpAction,
    success_rc: i32,
    interval: u64,
    role: &mut Role,
    failed: &mut Option<(FailedOp, u64, OnFail)>,
) {
    let clears = match action {
        _ if success_rc == 7 => {
            *role = Role::Stopped;
            true
        }
        OpAction::Monitor => {
            if !role.is_active() {
                *role = Role::Started;
            }
            failed
                .as_ref()
                .is_some_and(|(f, i, _)| f.op == OpAction::Monitor && *i == interval)
        }
        OpAction::Start => {
            *role = Role::Started;
            true
        }
        OpAction::Stop => {
            *role = Role::Stopped;
            true
        }
        OpAction::Promote => {
            *role = Role::Promoted;
            true
        }
        OpAction::Demote => {
            *role = Role::Unpromoted;
            failed
                .as_ref()
                .is_some_and(|(_, _, r)| *r == OnFail::Demote)
        }
        // A reload, or an action Halo does not plan: the resource is active
        // (`update_resource_state`); the digests of the start say what a
        // reload runs with.
        OpAction::Reload => {
            if !role.is_active() {
                *role = Role::Started;
            }
            false
        }
    };
    // A completed operation clears a past failure, unless its on-fail
    // acts beyond the resource (stop, fence, standby).
    if clears
        && failed.as_ref().is_some_and(|(f, _, r)| {
            !f.agent_missing
                && matches!(
                    r,
                    OnFail::Block | OnFail::Ignore | OnFail::Demote | OnFail::Restart
                )
        })
    {
        *failed = None;
    }
}

/// The resource a fail count or last-failure attribute (its name after
/// the prefix) is for, with the operation and interval it counts when it
/// names them, if it is named as the CIB's feature set says
/// (`generate_fail_regex`): `RSC` alone when fail counts are per resource
/// (`legacy`), `RSC#OP_INTERVAL` otherwise. A name of the other form does
/// not count.
fn failure_attr(name: &str, legacy: bool) -> Option<(&str, Option<(&str, &str)>)> {
    match name.split_once('#') {
        None => legacy.then_some((name, None)),
        Some((rsc, op)) => {
            let (task, interval) = op.rsplit_once('_')?;
            let numeric = !interval.is_empty() && interval.bytes().all(|b| b.is_ascii_digit());
            (!legacy && !task.is_empty() && numeric).then_some((rsc, Some((task, interval))))
        }
    }
}

/// Folds an operation history, as Pacemaker reads it. `on_fail` gives the configured reaction to a failure
/// of an operation (action, interval in ms); `ignore` makes Pacemaker pretend
/// the operation succeeded.
fn fold(
    ops: &[Op],
    facts: &Facts,
    on_fail: &dyn Fn(OpAction, u64) -> OnFail,
    expiry: Option<Expiry>,
) -> Option<Folded> {
    let mut role = Role::Stopped;
    let mut ignored = None;
    let mut failed: Option<(FailedOp, u64, OnFail)> = None;
    let mut pending = None;
    let mut seen = false;
    for op in ops {
        let task = op.task;
        let rc: i32 = op.rc_code.and_then(|v| v.parse().ok()).unwrap_or(0);
        // A monitor that reports "degraded" (190, 191 when promoted) found the
        // service running (promoted): Pacemaker reads it as 0 (8) and only
        // lists it among failed actions (`remap_operation` with
        // `pcmk__effective_rc`). Other operations returning it failed.
        let rc = match (task, rc) {
            ("monitor", 190) => 0,
            ("monitor", 191) => 8,
            _ => rc,
        };
        let status: i32 = op.op_status.and_then(|v| v.parse().ok()).unwrap_or(0);
        let interval = op.interval();
        let probe = task == "monitor" && interval == 0;
        // An unexpected result older than failure-timeout is forgotten,
        // a pending one included, except a probe that found the resource
        // running or not (`check_operation_expiry`, before `unpack_rsc_op`
        // looks at the status).
        let telling_probe = probe && matches!(rc, 0 | 7 | 8);
        let expired = !telling_probe
            && expiry.is_some_and(|e| {
                !e.unexpired
                    && op
                        .last_rc_change
                        .and_then(|v| v.parse::<i64>().ok())
                        .is_some_and(|at| e.now >= at.saturating_add(e.timeout))
            });
        if status == -1 || op.call_id == Some("-1") {
            if expired && expected_rc(op).is_some_and(|x| x != rc) {
                continue;
            }
            pending = OpAction::parse(task);
            match pending {
                // Pacemaker schedules a resource whose start is recorded
                // pending like a started one (`unpack_rsc_op` marks it active;
                // the start-pending flag plays no part in placement): it is
                // carried as started, not as an action Halo waits for.
                Some(OpAction::Start) => {
                    if !role.is_active() {
                        role = Role::Started;
                    }
                    pending = None;
                    seen = true;
                }
                Some(OpAction::Promote) => role = Role::Promoted,
                _ => {}
            }
            continue;
        }
        seen = true;
        // Cancelled (1) operations say nothing about the resource.
        if status == 1 {
            continue;
        }
        // A completed live migration into this node is a start here.
        let task = if task == "migrate_from" {
            "start"
        } else {
            task
        };
        // Notifications and metadata say nothing about the resource; any
        // other action Halo does not plan (`asyncmon`, `reload`, `fail`)
        // counts as one with no configuration (`unpack_rsc_op`).
        if matches!(task, "notify" | "meta-data") {
            continue;
        }
        let (action, other) = match OpAction::parse(task) {
            Some(a) => (a, None),
            None => (OpAction::Reload, Some(task)),
        };
        let expected = if action == OpAction::Monitor && facts.stopped_monitors.contains(&interval)
        {
            Some(7)
        } else {
            expected_rc(op)
        };
        if expired && expected.is_some_and(|x| x != rc) {
            continue;
        }
        // A probe that finds the agent missing or misconfigured: not running,
        // and it cannot run here.
        if probe && (rc == 5 || rc == 2 || status == 7) {
            role = Role::Stopped;
            let rc = if status == 7 { 5 } else { rc };
            let f = FailedOp {
                probe: true,
                ..FailedOp::of(action, rc)
            };
            failed = Some((f, interval, OnFail::Restart));
            continue;
        }
        let outcome = match status {
            0 | 4 => {
                let mut o = if expected.is_some_and(|e| e == rc) || (expected.is_none() && rc == 0)
                {
                    Outcome::Done
                } else {
                    Outcome::Error
                };
                match rc {
                    0 if probe => o = Outcome::Done,
                    // "Not running" from an unmanaged resource is what it
                    // is, not a failure (`remap_operation`).
                    7 if probe || expected == Some(7) || facts.unmanaged => {
                        o = Outcome::Done;
                    }
                    8 => {
                        if probe {
                            o = Outcome::Done;
                        }
                        role = Role::Promoted;
                    }
                    9 | 191 => {
                        role = Role::Promoted;
                        o = Outcome::Error;
                    }
                    6 => o = Outcome::Fatal,
                    3 if interval == 0 => o = Outcome::Hard,
                    2 | 4 | 5 => o = Outcome::Hard,
                    _ => {}
                }
                o
            }
            // The executor could not find the agent.
            7 => Outcome::Hard,
            _ => Outcome::Error,
        };
        if outcome == Outcome::Done {
            succeeded(action, rc, interval, &mut role, &mut failed);
            continue;
        }
        // A failure, unless its on-fail pretends it away (the configuration
        // is read only for failures: most operations succeed).
        let reaction = on_fail(action, interval);
        let agent_missing = status == 7;
        if reaction == OnFail::Ignore && !agent_missing {
            // Pacemaker pretends the operation succeeded.
            ignored = Some(action);
            succeeded(
                action,
                expected.unwrap_or(0),
                interval,
                &mut role,
                &mut failed,
            );
            continue;
        }
        // A failure: where does it leave the resource?
        match action {
            OpAction::Promote => role = Role::Promoted,
            OpAction::Demote => {
                role = if reaction == OnFail::Block {
                    Role::Promoted
                } else if rc == 7 {
                    Role::Stopped
                } else {
                    Role::Unpromoted
                }
            }
            _ if !role.is_active() => role = Role::Started,
            _ => {}
        }
        let rc = match outcome {
            Outcome::Hard if ![2, 3, 4, 5].contains(&rc) => 5,
            Outcome::Fatal => 6,
            // Not a hard error, whatever the agent said (a timeout, or rc 3 from
            // a recurring monitor).
            Outcome::Error if (2..=6).contains(&rc) => 1,
            _ => rc,
        };
        failed = Some((
            FailedOp {
                agent_missing,
                task: other.map(str::to_string),
                probe,
                ..FailedOp::of(action, rc)
            },
            interval,
            if agent_missing && reaction == OnFail::Ignore {
                OnFail::Restart
            } else {
                reaction
            },
        ));
    }
    (seen || pending.is_some()).then_some(Folded {
        role,
        failed: failed.map(|(f, _, _)| f),
        pending,
        ignored,
    })
}
