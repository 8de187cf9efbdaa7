//! Scenarios (`test` blocks): build a state from `given` facts, apply `when`
//! events, let the cluster settle by planning and applying until nothing is left
//! to do, and check `expect` assertions.
//!
//! Events are the same state changes the live controller records when they happen
//! for real, so `apply_event` is shared with the runtime.

use crate::settle::{apply, PRIMARY_SCORE, REPLICA_SCORE};
use crate::summary::{transitions, Transition};
use crate::{plan, Plan};
use halo_model::{
    ClusterState, Event, Expectation, Expiry, Fact, FailedOp, NodeStatus, OperatorConstraint,
    OperatorSource, Origin, Policy, ResourceKind, Role, Scenario, Score, Step, Timestamp,
};

/// Plans applied in a row before the engine is declared not to settle.
pub const SETTLE_ROUNDS_MAX: usize = 16;

/// The state described by a `given` block, and the start time.
pub fn state_from_facts(policy: &Policy, facts: &[Fact]) -> (ClusterState, Timestamp) {
    let mut s = ClusterState::default();
    let mut now = Timestamp(0);
    for f in facts {
        match f {
            Fact::Running { rsc, role, nodes } => {
                for leaf in leaves(policy, rsc) {
                    for n in nodes {
                        s.set_role(&leaf, n, *role);
                        if matches!(role, Role::Promoted | Role::Unpromoted) {
                            if let Some(e) = s.resources.get_mut(&leaf).and_then(|m| m.get_mut(n)) {
                                e.promotion.get_or_insert(if *role == Role::Promoted {
                                    PRIMARY_SCORE
                                } else {
                                    REPLICA_SCORE
                                });
                            }
                        }
                    }
                }
            }
            Fact::NodeDown(n) => s.node_mut(n).status = NodeStatus::Offline,
            Fact::NodeStandby(n) => s.node_mut(n).standby = true,
            Fact::NodeMaintenance(n) => s.node_mut(n).maintenance = true,
            Fact::Failures { rsc, node, count } => {
                s.failure_mut(rsc, node).count = *count;
            }
            Fact::Promotion { rsc, node, score } => {
                let e = s
                    .resources
                    .entry(rsc.clone())
                    .or_default()
                    .entry(node.clone())
                    .or_default();
                e.promotion = Some(*score);
            }
            Fact::Time(t) => now = Timestamp(*t),
        }
    }
    for per_node in s.failures.values_mut() {
        for fc in per_node.values_mut() {
            fc.last_failure = now;
        }
    }
    (s, now)
}

/// The primitives a name stands for: a group's members, or itself.
/// The primitives `name` stands for: itself, or a group's members.
pub fn leaves(policy: &Policy, name: &str) -> Vec<String> {
    let Some(id) = policy.find(name) else {
        return vec![name.to_string()];
    };
    match policy.resource(id).map(|r| &r.kind) {
        Some(ResourceKind::Group(members)) => members
            .iter()
            .filter_map(|m| policy.resource(*m).map(|r| r.name.clone()))
            .collect(),
        _ => vec![name.to_string()],
    }
}

/// Records an event in the state. Fails when the event cannot happen in this
/// state (an operation failing where the resource does not run).
pub fn apply_event(
    policy: &Policy,
    s: &mut ClusterState,
    now: &mut Timestamp,
    e: &Event,
) -> Result<(), String> {
    match e {
        Event::NodeFails(n) => {
            s.node_mut(n).status = NodeStatus::Unclean;
            s.fenced.retain(|f| f != n);
            if !policy.cluster.fencing {
                // Nobody will fence it: what ran there is lost with it.
                s.node_mut(n).status = NodeStatus::Offline;
                clear_node(s, n);
            }
        }
        Event::NodeStops(n) => {
            s.node_mut(n).status = NodeStatus::Offline;
            clear_node(s, n);
        }
        Event::NodeReturns(n) => {
            s.node_mut(n).status = NodeStatus::Online;
            s.fenced.retain(|f| f != n);
            clear_node(s, n);
        }
        Event::NodeStandby(n) => s.node_mut(n).standby = true,
        Event::NodeUnstandby(n) => s.node_mut(n).standby = false,
        Event::NodeMaintenance(n) => s.node_mut(n).maintenance = true,
        Event::NodeReady(n) => s.node_mut(n).maintenance = false,
        Event::OpFails { rsc, op, node, rc } => {
            let active = s.on(rsc, node).is_some_and(|r| r.role.is_active());
            if !active && *op != halo_model::OpAction::Start {
                return Err(format!(
                    "{rsc} does not run on {node}, so its {op} cannot fail there"
                ));
            }
            let fatal = *op == halo_model::OpAction::Start;
            s.add_failure(rsc, node, *op, *now, policy.cluster.start_failure_is_fatal);
            let entry = s
                .resources
                .entry(rsc.clone())
                .or_default()
                .entry(node.clone())
                .or_default();
            if fatal && !active {
                entry.role = Role::Started;
            }
            entry.failed = Some(FailedOp::of(*op, *rc));
        }
        Event::TimePasses(d) => *now = now.plus(*d),
        Event::Cleanup(rsc) => {
            for leaf in leaves(policy, rsc) {
                s.failures.remove(&leaf);
                if let Some(per_node) = s.resources.get_mut(&leaf) {
                    for r in per_node.values_mut() {
                        r.failed = None;
                    }
                }
            }
        }
        Event::Move { rsc, node, .. } => apply_move(policy, s, rsc, node),
        Event::Ban { rsc, node, .. } => {
            s.operator.push(OperatorConstraint {
                rsc: rsc.clone(),
                node: node.clone(),
                score: Score::NEG_INF,
                by: OperatorSource::Ban,
            });
        }
        Event::Clear(rsc) => s.operator.retain(|o| &o.rsc != rsc),
    }
    s.normalize();
    Ok(())
}

/// `move RSC NODE`, after Pacemaker's `cli_resource_move`
/// (tools/crm_resource_runtime.c): the move clears what an earlier move of
/// the resource added and any ban on the target, then prefers the target
/// with `inf`. Unlike it, Halo also keeps the resource off where it runs now
/// with `-inf` every time (Pacemaker only with `--force`), so that
/// stickiness, even `inf`, cannot hold it. The constraints stay until
/// `clear` (or the move's lifetime).
fn apply_move(policy: &Policy, s: &mut ClusterState, rsc: &str, node: &str) {
    s.operator.retain(|o| {
        o.rsc != rsc || (o.by != OperatorSource::Move && !(o.node == node && o.score < Score::ZERO))
    });
    let from: Vec<String> = leaves(policy, rsc)
        .iter()
        .filter_map(|leaf| s.resources.get(leaf))
        .flat_map(|m| {
            m.iter()
                .filter(|(n, r)| r.role.is_active() && n.as_str() != node)
                .map(|(n, _)| n.clone())
        })
        .collect();
    for n in from {
        s.operator.push(OperatorConstraint {
            rsc: rsc.to_string(),
            node: n,
            score: Score::NEG_INF,
            by: OperatorSource::Move,
        });
    }
    s.operator.push(OperatorConstraint {
        rsc: rsc.to_string(),
        node: node.to_string(),
        score: Score::INF,
        by: OperatorSource::Move,
    });
}

fn clear_node(s: &mut ClusterState, n: &str) {
    for per_node in s.resources.values_mut() {
        per_node.remove(n);
    }
}

/// Why `move RSC NODE` cannot do what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveRefused {
    /// Clones run on several nodes; a move names one.
    Clone { rsc: String },
    /// The resource would not end up on the target: where it would run, and
    /// the parts of the target's score that keep it away.
    Elsewhere {
        rsc: String,
        node: String,
        would_run: Vec<String>,
        because: Vec<String>,
    },
    /// The cluster would not settle after the move.
    Unsettled { why: String },
    /// An auto-clearing move would be undone: once it lapses, the resource
    /// would move on (or back) to these nodes.
    WouldReturn {
        rsc: String,
        node: String,
        would_run: Vec<String>,
    },
}

impl std::fmt::Display for MoveRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoveRefused::Clone { rsc } => write!(
                f,
                "`{rsc}` runs as several instances and a move names one node: \
                 use `halo resource ban {rsc} NODE` to keep an instance off a node"
            ),
            MoveRefused::Elsewhere {
                rsc,
                node,
                would_run,
                because,
            } => {
                let now = if would_run.is_empty() {
                    "would run nowhere".to_string()
                } else {
                    format!("would run on {}", would_run.join(", "))
                };
                write!(
                    f,
                    "`{rsc}` cannot run on {node}, so after the move it {now}"
                )?;
                if !because.is_empty() {
                    write!(f, ": {}", because.join("; "))?;
                }
                write!(f, " (see `halo why {rsc}`)")
            }
            MoveRefused::Unsettled { why } => write!(f, "after the move, {why}"),
            MoveRefused::WouldReturn {
                rsc,
                node,
                would_run,
            } => write!(
                f,
                "once the move cleared itself, `{rsc}` would leave {node} for {}: \
                 nothing keeps it there (give it stickiness, or move it without --auto-clear)",
                if would_run.is_empty() {
                    "nowhere".to_string()
                } else {
                    would_run.join(", ")
                }
            ),
        }
    }
}

/// Whether `move RSC NODE` would leave `rsc` running on `node` (and only
/// there) once the cluster settles; checked before an operator's move is
/// recorded, so that a move ends on its target or is refused up front.
pub fn check_move(
    policy: &Policy,
    state: &ClusterState,
    now: Timestamp,
    rsc: &str,
    node: &str,
) -> Result<(), MoveRefused> {
    let is_clone = policy
        .find(rsc)
        .and_then(|id| policy.resource(id))
        .is_some_and(|r| r.clone.is_some());
    if is_clone {
        return Err(MoveRefused::Clone {
            rsc: rsc.to_string(),
        });
    }
    let mut s = state.clone();
    apply_move(policy, &mut s, rsc, node);
    s.normalize();
    let plans = settle(policy, &mut s, now).map_err(|why| MoveRefused::Unsettled { why })?;
    let would_run = running_on(policy, &s, rsc);
    if would_run == [node] {
        return Ok(());
    }
    let first = plans
        .first()
        .map_or_else(|| plan(policy, &s, now), Clone::clone);
    let because = first
        .placement(rsc)
        .and_then(|p| p.scores.iter().find(|x| x.node == node))
        .map(|x| {
            x.parts
                .iter()
                .filter(|c| c.score < Score::ZERO)
                .map(|c| format!("{} {}", c.score, c.source))
                .collect()
        })
        .unwrap_or_default();
    Err(MoveRefused::Elsewhere {
        rsc: rsc.to_string(),
        node: node.to_string(),
        would_run,
        because,
    })
}

/// The nodes where any primitive of `rsc` runs in `s`, by name.
fn running_on(policy: &Policy, s: &ClusterState, rsc: &str) -> Vec<String> {
    let mut on: Vec<String> = leaves(policy, rsc)
        .iter()
        .filter_map(|l| s.resources.get(l))
        .flat_map(|m| {
            m.iter()
                .filter(|(_, r)| r.role.is_active())
                .map(|(n, _)| n.clone())
        })
        .collect();
    on.sort();
    on.dedup();
    on
}

/// Whether `move RSC NODE --auto-clear` keeps `rsc` on `node` once the move
/// clears itself: checked as [`check_move`] is, then the move is taken away
/// from the settled cluster and it must stay (as pcs checks its
/// self-removing move).
pub fn check_auto_clear(
    policy: &Policy,
    state: &ClusterState,
    now: Timestamp,
    rsc: &str,
    node: &str,
) -> Result<(), MoveRefused> {
    check_move(policy, state, now, rsc, node)?;
    let mut s = state.clone();
    apply_move(policy, &mut s, rsc, node);
    s.normalize();
    settle(policy, &mut s, now).map_err(|why| MoveRefused::Unsettled { why })?;
    s.operator
        .retain(|o| !(o.rsc == rsc && o.by == OperatorSource::Move));
    settle(policy, &mut s, now).map_err(|why| MoveRefused::Unsettled { why })?;
    let would_run = running_on(policy, &s, rsc);
    if would_run == [node] {
        return Ok(());
    }
    Err(MoveRefused::WouldReturn {
        rsc: rsc.to_string(),
        node: node.to_string(),
        would_run,
    })
}

/// Plans and applies until the plan is empty. Returns the plans applied.
pub fn settle(policy: &Policy, s: &mut ClusterState, now: Timestamp) -> Result<Vec<Plan>, String> {
    let mut plans = Vec::new();
    for _ in 0..SETTLE_ROUNDS_MAX {
        let p = plan(policy, s, now);
        if p.is_empty() {
            return Ok(plans);
        }
        *s = apply(&p, s);
        plans.push(p);
    }
    Err(format!(
        "the cluster did not settle after {SETTLE_ROUNDS_MAX} plans"
    ))
}

/// What happened at one step of a scenario.
#[derive(Clone, Debug)]
pub struct StepOutcome {
    pub origin: Origin,
    /// `None` when the step passed.
    pub failure: Option<String>,
    /// For events: the transitions the cluster went through to settle.
    pub transitions: Vec<Transition>,
    /// For events: every action but monitors, in execution order, plan by plan.
    pub actions: Vec<String>,
    pub title: String,
}

/// Runs a scenario and reports every step.
pub fn run(policy: &Policy, sc: &Scenario) -> Vec<StepOutcome> {
    let (mut s, mut now) = state_from_facts(policy, &sc.given);
    // Moves and bans given a lifetime (`move ... for D`), until they lapse.
    let mut expiring: Vec<Expiry> = Vec::new();
    let mut out = Vec::new();
    let initial = settle(policy, &mut s, now);
    out.push(StepOutcome {
        origin: sc.origin,
        failure: initial.as_ref().err().cloned(),
        transitions: initial
            .as_ref()
            .map(|ps| ps.iter().flat_map(transitions).collect())
            .unwrap_or_default(),
        actions: initial
            .as_ref()
            .map(|ps| action_list(ps))
            .unwrap_or_default(),
        title: "given".to_string(),
    });
    for step in &sc.steps {
        match step {
            Step::When { event, origin } => {
                let mut failure = apply_event(policy, &mut s, &mut now, event).err();
                if failure.is_none() {
                    track_lifetimes(&mut expiring, event, now);
                    Expiry::lapse(&mut expiring, &mut s, now, &runs_there(policy));
                    s.normalize();
                }
                let (mut trans, mut actions) = (Vec::new(), Vec::new());
                // Settles, and again once an auto-clearing move that has done
                // its work lapses (as the controller does).
                let mut rounds = 0;
                while failure.is_none() && rounds < 2 {
                    rounds += 1;
                    match settle(policy, &mut s, now) {
                        Ok(ps) => {
                            trans.extend(ps.iter().flat_map(transitions));
                            actions.extend(action_list(&ps));
                        }
                        Err(e) => failure = Some(e),
                    }
                    if Expiry::lapse(&mut expiring, &mut s, now, &runs_there(policy)).is_empty() {
                        break;
                    }
                    s.normalize();
                }
                out.push(StepOutcome {
                    origin: *origin,
                    failure,
                    transitions: trans,
                    actions,
                    title: format!("when {}", describe_event(event)),
                });
            }
            Step::Expect {
                expectation,
                origin,
            } => {
                let failure = check(policy, &s, now, expectation, &out);
                out.push(StepOutcome {
                    origin: *origin,
                    failure,
                    transitions: Vec::new(),
                    actions: Vec::new(),
                    title: format!("expect {}", describe_expectation(expectation)),
                });
            }
        }
    }
    out
}

fn action_list(plans: &[Plan]) -> Vec<String> {
    plans
        .iter()
        .map(|p| {
            p.ordered()
                .iter()
                .filter(|a| a.kind != crate::ActionKind::Monitor)
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" > ")
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn active_nodes(policy: &Policy, s: &ClusterState, rsc: &str, role: Option<Role>) -> Vec<String> {
    let leaves = leaves(policy, rsc);
    let Some(first) = leaves.first() else {
        return Vec::new();
    };
    let mut nodes: Vec<String> = s
        .resources
        .get(first)
        .map(|m| {
            m.iter()
                .filter(|(_, r)| r.role.is_active() && role.is_none_or(|want| r.role == want))
                .map(|(n, _)| n.clone())
                .collect()
        })
        .unwrap_or_default();
    // A group runs where all of its members run.
    nodes.retain(|n| {
        leaves
            .iter()
            .all(|l| s.on(l, n).is_some_and(|r| r.role.is_active()))
    });
    nodes
}

fn check(
    policy: &Policy,
    s: &ClusterState,
    now: Timestamp,
    e: &Expectation,
    so_far: &[StepOutcome],
) -> Option<String> {
    let fenced = |node: &str| {
        so_far
            .iter()
            .flat_map(|o| &o.transitions)
            .any(|t| matches!(t, Transition::Fence { node: n, .. } if n == node))
    };
    match e {
        Expectation::Running { rsc, role, nodes } => {
            let mut want = nodes.clone();
            want.sort();
            let got = active_nodes(policy, s, rsc, *role);
            (got != want).then(|| {
                let what = role.map_or("running", |r| r.as_str());
                format!(
                    "expected {rsc} {what} on {}, but it is {what} on {}",
                    list(&want),
                    list(&got)
                )
            })
        }
        Expectation::Stopped(rsc) => {
            let got = active_nodes(policy, s, rsc, None);
            (!got.is_empty())
                .then(|| format!("expected {rsc} stopped, but it runs on {}", list(&got)))
        }
        Expectation::NotOn { rsc, node } => {
            let got = active_nodes(policy, s, rsc, None);
            got.contains(node)
                .then(|| format!("expected {rsc} not on {node}, but it runs there"))
        }
        Expectation::Blocked(rsc) => {
            let p = plan(policy, s, now);
            let blocked = leaves(policy, rsc)
                .iter()
                .any(|l| p.placement(l).is_some_and(|x| x.blocked));
            (!blocked).then(|| format!("expected {rsc} to be blocked, but it is managed normally"))
        }
        Expectation::Fenced(node) => {
            (!fenced(node)).then(|| format!("expected {node} to have been fenced, but it was not"))
        }
        Expectation::NotFenced(node) => {
            fenced(node).then(|| format!("expected {node} not to be fenced, but it was"))
        }
    }
}

fn list(nodes: &[String]) -> String {
    if nodes.is_empty() {
        "no node".to_string()
    } else {
        nodes.join(", ")
    }
}

pub fn describe_event(e: &Event) -> String {
    match e {
        Event::NodeFails(n) => format!("node {n} fails"),
        Event::NodeStops(n) => format!("node {n} stops"),
        Event::NodeReturns(n) => format!("node {n} returns"),
        Event::NodeStandby(n) => format!("node {n} standby"),
        Event::NodeUnstandby(n) => format!("node {n} unstandby"),
        Event::NodeMaintenance(n) => format!("node {n} maintenance"),
        Event::NodeReady(n) => format!("node {n} ready"),
        Event::OpFails { rsc, op, node, rc } => format!("{rsc}.{op} fails on {node} rc {rc}"),
        Event::TimePasses(d) => format!("{d} passes"),
        Event::Cleanup(r) => format!("cleanup {r}"),
        Event::Move {
            rsc,
            node,
            lifetime,
            auto_clear,
        } => format!(
            "move {rsc} to {node}{}{}",
            for_lifetime(*lifetime),
            if *auto_clear { " auto-clear" } else { "" }
        ),
        Event::Ban {
            rsc,
            node,
            lifetime,
        } => format!("ban {rsc} from {node}{}", for_lifetime(*lifetime)),
        Event::Clear(r) => format!("clear {r}"),
    }
}

fn for_lifetime(d: Option<halo_model::Duration>) -> String {
    d.map(|d| format!(" for {d}")).unwrap_or_default()
}

/// What a move or a ban with a lifetime, a later move or a `clear` does to
/// the lifetimes kept (as the controller keeps them: see `halo_model::Expiry`).
fn track_lifetimes(expiring: &mut Vec<Expiry>, event: &Event, now: Timestamp) {
    let (rsc, node, by, lifetime, once_there) = match event {
        Event::Move {
            rsc,
            node,
            lifetime,
            auto_clear,
        } => {
            // A move replaces an earlier one, and its lifetime with it.
            expiring.retain(|e| !(&e.rsc == rsc && e.by == OperatorSource::Move));
            (rsc, node, OperatorSource::Move, lifetime, *auto_clear)
        }
        Event::Ban {
            rsc,
            node,
            lifetime,
        } => (rsc, node, OperatorSource::Ban, lifetime, false),
        Event::Clear(rsc) => {
            expiring.retain(|e| &e.rsc != rsc);
            return;
        }
        _ => return,
    };
    if lifetime.is_some() || once_there {
        expiring.push(Expiry {
            rsc: rsc.clone(),
            node: node.clone(),
            by,
            at: lifetime.map(|d| now.plus(d)),
            once_there,
        });
    }
}

/// Whether every primitive of the expiry's resource runs on its node: an
/// auto-clearing move has done its work.
pub fn runs_there(policy: &Policy) -> impl Fn(&ClusterState, &Expiry) -> bool + '_ {
    move |s: &ClusterState, e: &Expiry| {
        leaves(policy, &e.rsc)
            .iter()
            .all(|l| s.on(l, &e.node).is_some_and(|r| r.role.is_active()))
    }
}

pub fn describe_expectation(e: &Expectation) -> String {
    match e {
        Expectation::Running { rsc, role, nodes } => {
            format!(
                "{rsc} {} on {}",
                role.map_or("running", |r| r.as_str()),
                nodes.join(" ")
            )
        }
        Expectation::Stopped(r) => format!("{r} stopped"),
        Expectation::NotOn { rsc, node } => format!("{rsc} not on {node}"),
        Expectation::Blocked(r) => format!("{r} blocked"),
        Expectation::Fenced(n) => format!("node {n} fenced"),
        Expectation::NotFenced(n) => format!("node {n} not fenced"),
    }
}
