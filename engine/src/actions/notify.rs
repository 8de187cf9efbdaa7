//! Clone notifications (Pacemaker's `pe_notif.c`, ordered as `clone.c` and
//! `pcmk_sched_clone.c` order them).
//!
//! For a clone with `notify` on, each of its operations in this plan (start,
//! stop, promote, demote, when some instance does it) is wrapped in
//! notifications: every instance concerned is told before ("pre") and after
//! ("post"), with the lists of which instances start, stop, promote and demote,
//! and which are active, promoted, unpromoted and inactive. The phases are
//! ordered through points that run nowhere ([`ActionKind::Notified`]):
//!
//! ```text
//! pre notifications -> confirmed-pre -> the operation on every instance -> post
//!   -> post notifications -> confirmed-post -> recurring monitors
//! ```
//!
//! Who is told (`create_notify_actions`): for a stop or demotion, every active
//! instance where it runs, except on a node being fenced; after a stop only
//! those that keep running. For a start or promotion, every instance that will
//! run, where it will run; before a start only those already running.

use super::Builder;
use crate::plan::{Action, ActionKind, Notice, Phase, Reason};
use halo_model::{Role, RscId};
use petgraph::graph::NodeIndex;
use std::collections::BTreeMap;

/// The clone's operations that take notifications, in the order their phases
/// are ordered against each other.
const OPS: [ActionKind; 4] = [
    ActionKind::Demote,
    ActionKind::Stop,
    ActionKind::Start,
    ActionKind::Promote,
];

/// The plan's recurring monitors, by (resource, node).
type Monitors = BTreeMap<(String, usize), Vec<NodeIndex>>;

/// One clone instance in this plan: where it runs now and where it will run.
#[derive(Clone, Debug)]
struct Instance {
    leaf: RscId,
    /// Pacemaker's name for it: the primitive and a number (`db:0`).
    name: String,
    now: Option<(usize, Role)>,
    next: Option<(usize, Role)>,
    /// What it does in this plan (a stop implied by fencing counts as a stop).
    does: Vec<ActionKind>,
}

/// The notifications of one operation of one clone.
struct Phases {
    pre_done: NodeIndex,
    post_done: NodeIndex,
    /// The pre notifications (for orders from earlier operations' phases).
    pre: Vec<NodeIndex>,
}

impl Builder<'_, '_> {
    /// Notifications for every clone that has them on.
    pub(super) fn notifications(&mut self) {
        let cx = self.cx;
        let notifying: Vec<RscId> =
            cx.p.resources
                .iter()
                .enumerate()
                .filter(|(_, r)| r.clone.as_ref().is_some_and(|c| c.notify))
                .map(|(i, _)| RscId(u32::try_from(i).unwrap_or(u32::MAX)))
                .collect();
        if notifying.is_empty() {
            return;
        }
        // The monitors post notifications precede, found once.
        let monitors = self.monitors_by_node();
        for id in notifying {
            self.notify_clone(id, &monitors);
        }
    }

    fn notify_clone(&mut self, clone: RscId, monitors: &Monitors) {
        let instances = self.instances(clone);
        // Pacemaker builds the lists for each operation from the same
        // instances and actions: they are the same for all four.
        let vars = self.notify_vars(&instances);
        let mut phases: BTreeMap<ActionKind, Phases> = BTreeMap::new();
        for op in OPS {
            if !instances.iter().any(|x| x.does.contains(&op)) {
                continue;
            }
            let ph = self.phases(clone, op, &instances, &vars, monitors);
            phases.insert(op, ph);
        }
        // Between operations (`clone_create_pseudo_actions` and the
        // promotable clone's own orders): a later operation's notifications
        // wait for an earlier one's to be confirmed.
        let after: [(ActionKind, ActionKind); 6] = [
            (ActionKind::Stop, ActionKind::Start),
            (ActionKind::Stop, ActionKind::Promote),
            (ActionKind::Start, ActionKind::Promote),
            (ActionKind::Demote, ActionKind::Promote),
            (ActionKind::Demote, ActionKind::Start),
            (ActionKind::Demote, ActionKind::Stop),
        ];
        for (first, then) in after {
            let (Some(f), Some(t)) = (phases.get(&first), phases.get(&then)) else {
                continue;
            };
            let from = f.post_done;
            let to: Vec<NodeIndex> = t.pre.iter().copied().chain([t.pre_done]).collect();
            for x in to {
                self.edge(Some(from), Some(x));
            }
        }
        self.order_after_notifications(clone, &phases);
    }

    /// Orders whose `first` is the clone wait until the clone's post
    /// notifications are confirmed (`action_uuid_for_ordering`), unless they
    /// bind instance to instance (interleaved clones).
    fn order_after_notifications(&mut self, clone: RscId, phases: &BTreeMap<ActionKind, Phases>) {
        let cx = self.cx;
        let mut pairs: Vec<(NodeIndex, RscId, ActionKind)> = Vec::new();
        for side in cx.order_sides() {
            let (f, fa, t, ta) = (side.first, side.first_action, side.then, side.then_action);
            if side.interleave || cx.unit_of(f) != clone {
                continue;
            }
            if let Some(ph) = phases.get(&super::kind_of(fa)) {
                for leaf in cx.leaves(t) {
                    pairs.push((ph.post_done, leaf, super::kind_of(ta)));
                }
            }
        }
        for (from, t, kind) in pairs {
            for (_, ix) in self.all(t, kind) {
                self.edge(Some(from), Some(ix));
            }
        }
    }

    /// The clone's instances, numbered as Pacemaker numbers them: those active
    /// now first, an instance that moves keeps its number, new ones after.
    fn instances(&self, clone: RscId) -> Vec<Instance> {
        let cx = self.cx;
        let total =
            cx.p.resource(clone)
                .and_then(|r| r.clone.as_ref())
                .and_then(|c| c.max)
                .map_or(cx.nodes.len(), |m| m as usize);
        let mut out = Vec::new();
        for leaf in cx.leaves(clone) {
            let (Some(info), Some(target)) =
                (cx.rsc.get(leaf.index()), self.targets.get(leaf.index()))
            else {
                continue;
            };
            // Instances on nodes that are lost without fencing are gone.
            let now: Vec<(usize, Role)> = info
                .current
                .iter()
                .copied()
                .filter(|(n, _)| {
                    self.fence_of(*n).is_some() || cx.nodes.get(*n).is_some_and(|x| x.up())
                })
                .collect();
            let named = self.name_instances(leaf, &now, &target.instances, total);
            out.extend(named);
        }
        out
    }

    /// One primitive's instances with what each does in the plan (as the
    /// builder recorded it; a stop, or a demotion, implied by fencing counts
    /// as done), numbered: active instances first, in node order; one that
    /// starts takes the number of one that stops for good (a move), then the
    /// next free one; the rest, inactive, up to clone-max.
    fn name_instances(
        &self,
        leaf: RscId,
        now: &[(usize, Role)],
        next: &[(usize, Role)],
        total: usize,
    ) -> Vec<Instance> {
        let name = self.cx.name(leaf).to_string();
        let mut out: Vec<Instance> = Vec::new();
        for (n, copy, was, will) in super::pair_instances(now, next) {
            let mut does: Vec<ActionKind> = OPS
                .into_iter()
                .filter(|k| self.done.contains(&(leaf.index(), n, copy, *k)))
                .collect();
            if self.fence_of(n).is_some() && was.is_active() {
                if was == Role::Promoted {
                    does.push(ActionKind::Demote);
                }
                does.push(ActionKind::Stop);
            }
            let at = |r: Role| r.is_active().then_some((n, r));
            out.push(Instance {
                leaf,
                name: String::new(),
                now: at(was),
                next: at(will),
                does,
            });
        }
        let mut free: Vec<usize> = Vec::new();
        let mut used = 0;
        for x in out.iter_mut().filter(|x| x.now.is_some()) {
            x.name = format!("{name}:{used}");
            if x.next.is_none() {
                free.push(used);
            }
            used += 1;
        }
        free.reverse();
        for x in out.iter_mut().filter(|x| x.now.is_none()) {
            let k = free.pop().unwrap_or_else(|| {
                used += 1;
                used - 1
            });
            x.name = format!("{name}:{k}");
        }
        for k in used..total.max(used) {
            out.push(Instance {
                leaf,
                name: format!("{name}:{k}"),
                now: None,
                next: None,
                does: Vec::new(),
            });
        }
        out
    }
}

impl Builder<'_, '_> {
    /// Pacemaker's notification variables for one operation of the clone
    /// (`add_notif_keys`): who starts, stops, promotes and demotes, who is
    /// active, promoted, unpromoted and inactive, and the nodes.
    fn notify_vars(&self, instances: &[Instance]) -> BTreeMap<String, String> {
        let cx = self.cx;
        let node = |n: usize| cx.nodes.get(n).map_or("", |x| x.name.as_str());
        let doing = |k: ActionKind| -> Vec<(&str, &str)> {
            instances
                .iter()
                .filter(|x| x.does.contains(&k))
                .filter_map(|x| {
                    let at = match k {
                        ActionKind::Start | ActionKind::Promote => x.next,
                        _ => x.now,
                    };
                    at.map(|(n, _)| (x.name.as_str(), node(n)))
                })
                .collect()
        };
        let being = |role: Option<Role>| -> Vec<(&str, &str)> {
            instances
                .iter()
                .filter_map(|x| x.now.map(|(n, r)| (x, n, r)))
                .filter(|(_, _, r)| role.is_none_or(|w| w == *r))
                .map(|(x, n, _)| (x.name.as_str(), node(n)))
                .collect()
        };
        let mut vars = BTreeMap::new();
        let mut put = |what: &str, entries: Vec<(&str, &str)>| {
            let (rscs, nodes) = lists(entries);
            vars.insert(format!("notify_{what}_resource"), rscs);
            vars.insert(format!("notify_{what}_uname"), nodes);
        };
        put("stop", doing(ActionKind::Stop));
        put("start", doing(ActionKind::Start));
        put("demote", doing(ActionKind::Demote));
        put("promote", doing(ActionKind::Promote));
        put("active", being(None));
        // Pacemaker still sets the old names for agents written before 2.1.
        for what in ["unpromoted", "slave"] {
            put(what, being(Some(Role::Unpromoted)));
        }
        for what in ["promoted", "master"] {
            put(what, being(Some(Role::Promoted)));
        }
        let inactive: Vec<(&str, &str)> = instances
            .iter()
            .filter(|x| x.now.is_none())
            .map(|x| (x.name.as_str(), ""))
            .collect();
        vars.insert("notify_inactive_resource".into(), lists(inactive).0);
        // The nodes the clone may run on, by name, and every node.
        let mut names: Vec<&str> = cx.nodes.iter().map(|n| n.name.as_str()).collect();
        vars.insert("notify_all_uname".into(), words(&names));
        names.sort_unstable();
        vars.insert("notify_available_uname".into(), words(&names));
        vars
    }

    /// The notifications of one operation and the points that order them.
    fn phases(
        &mut self,
        clone: RscId,
        op: ActionKind,
        instances: &[Instance],
        vars: &BTreeMap<String, String>,
        monitors: &Monitors,
    ) -> Phases {
        let cx = self.cx;
        let fenced: Vec<bool> = (0..cx.nodes.len())
            .map(|n| self.fence_of(n).is_some())
            .collect();
        let told = |x: &Instance, phase: Phase| -> Option<usize> {
            match op {
                ActionKind::Stop | ActionKind::Demote => {
                    let (n, _) = x.now?;
                    let here = cx.nodes.get(n).is_some_and(|v| v.up())
                        && !fenced.get(n).copied().unwrap_or(false);
                    let keeps = op == ActionKind::Demote || !x.does.contains(&ActionKind::Stop);
                    (here && (phase == Phase::Pre || keeps)).then_some(n)
                }
                _ => {
                    let (n, _) = x.next?;
                    let already = op == ActionKind::Promote || !x.does.contains(&ActionKind::Start);
                    (phase == Phase::Post || already).then_some(n)
                }
            }
        };
        let pre_done = self.point(clone, op, Phase::Pre, true);
        let post = self.point(clone, op, Phase::Post, false);
        let post_done = self.point(clone, op, Phase::Post, true);
        self.edge(Some(pre_done), Some(post));
        self.edge(Some(post), Some(post_done));
        let mut pre = Vec::new();
        for x in instances {
            if let Some(n) = told(x, Phase::Pre) {
                let ix = self.notify(clone, x, n, op, Phase::Pre, vars);
                self.edge(Some(ix), Some(pre_done));
                pre.push(ix);
            }
            if let Some(n) = told(x, Phase::Post) {
                let ix = self.notify(clone, x, n, op, Phase::Post, vars);
                self.edge(Some(post), Some(ix));
                self.edge(Some(ix), Some(post_done));
                let key = (cx.name(x.leaf).to_string(), n);
                for &m in monitors.get(&key).into_iter().flatten() {
                    self.edge(Some(post_done), Some(m));
                }
            }
            // A stop or demotion implied by fencing is done once the node is
            // fenced.
            if let Some(f) = x.now.and_then(|(n, _)| self.fence_of(n)) {
                if matches!(op, ActionKind::Stop | ActionKind::Demote) && x.does.contains(&op) {
                    self.edge(Some(f), Some(post));
                }
            }
        }
        for leaf in cx.leaves(clone) {
            for (_, ix) in self.all(leaf, op) {
                self.edge(Some(pre_done), Some(ix));
                self.edge(Some(ix), Some(post));
            }
        }
        Phases {
            pre_done,
            post_done,
            pre,
        }
    }

    /// The recurring monitors in the plan, by (resource, node).
    fn monitors_by_node(&self) -> Monitors {
        let mut m = Monitors::new();
        for ix in self.graph.node_indices() {
            let Some(a) = self.graph.node_weight(ix) else {
                continue;
            };
            if let (ActionKind::Monitor, Some(r), Some(n)) =
                (a.kind, &a.rsc, self.cx.node_index(&a.node))
            {
                m.entry((r.clone(), n)).or_default().push(ix);
            }
        }
        m
    }

    fn point(&mut self, clone: RscId, op: ActionKind, phase: Phase, confirmed: bool) -> NodeIndex {
        let notice = Notice {
            phase,
            op,
            instance: String::new(),
            confirmed,
            vars: BTreeMap::new(),
        };
        let rsc = self.cx.name(clone).to_string();
        self.notice_action(ActionKind::Notified, rsc, String::new(), clone, notice)
    }

    /// A notification or one of its points, for `clone`.
    fn notice_action(
        &mut self,
        kind: ActionKind,
        rsc: String,
        node: String,
        clone: RscId,
        notice: Notice,
    ) -> NodeIndex {
        debug_assert_eq!(
            kind.is_pseudo(),
            node.is_empty(),
            "a point runs nowhere, a notification somewhere"
        );
        self.graph.add_node(Action {
            kind,
            rsc: Some(rsc),
            node,
            interval: None,
            role: None,
            timeout: None,
            because: vec![Reason::Notification {
                clone: self.cx.name(clone).to_string(),
            }],
            notice: Some(Box::new(notice)),
        })
    }

    fn notify(
        &mut self,
        clone: RscId,
        x: &Instance,
        node: usize,
        op: ActionKind,
        phase: Phase,
        vars: &BTreeMap<String, String>,
    ) -> NodeIndex {
        let mut vars = vars.clone();
        let key_op = match (phase, op) {
            (Phase::Pre, k) => k.as_str(),
            (Phase::Post, ActionKind::Start) => "running",
            (Phase::Post, ActionKind::Stop) => "stopped",
            (Phase::Post, ActionKind::Promote) => "promoted",
            (Phase::Post, _) => "demoted",
        };
        vars.insert("notify_type".into(), phase.as_str().into());
        vars.insert("notify_operation".into(), op.as_str().into());
        vars.insert("notify_key_type".into(), phase.as_str().into());
        vars.insert("notify_key_operation".into(), key_op.into());
        let notice = Notice {
            phase,
            op,
            instance: x.name.clone(),
            confirmed: false,
            vars,
        };
        let (rsc, node) = (self.cx.name(x.leaf).to_string(), self.cx.node_name(node));
        self.notice_action(ActionKind::Notify, rsc, node, clone, notice)
    }
}

/// Pacemaker's lists (`notify_entries_to_strings`): entries sorted by instance
/// then node name, each instance once, joined by spaces; an empty list is one
/// space.
fn lists(mut entries: Vec<(&str, &str)>) -> (String, String) {
    entries.sort_unstable();
    entries.dedup_by(|a, b| a.0 == b.0);
    let rscs: Vec<&str> = entries.iter().map(|e| e.0).collect();
    let nodes: Vec<&str> = entries.iter().map(|e| e.1).collect();
    (words(&rscs), words(&nodes))
}

fn words(list: &[&str]) -> String {
    if list.is_empty() {
        " ".to_string()
    } else {
        list.join(" ")
    }
}
