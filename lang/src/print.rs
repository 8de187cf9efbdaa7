//! Policy IR → `.ha` text: how `halo import` writes a policy it did not read
//! from a file. The output is in canonical layout and compiles back to the
//! same IR (names, resources, constraints and settings).

use crate::syntax::quote;
use halo_model::*;
use std::fmt::Write as _;

/// A name as a bare word when the grammar reads it back as one, else quoted.
fn name(n: &str) -> String {
    let bare = !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        && !matches!(n, "inf" | "-inf");
    if bare {
        n.to_string()
    } else {
        quote(n)
    }
}

/// An agent reference as the grammar reads it back: a bare word when it is
/// one, else quoted (never text that could end the statement).
fn agent(a: &Agent) -> String {
    let text = a.to_string();
    let bare = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if bare {
        text
    } else {
        quote(&text)
    }
}

fn role_suffix(r: Option<Role>) -> &'static str {
    match r {
        Some(Role::Promoted) => ".promoted",
        Some(Role::Unpromoted) => ".unpromoted",
        _ => "",
    }
}

fn rule(r: &Rule) -> String {
    match r {
        Rule::And(rs) if rs.is_empty() => "defined name".to_string(),
        Rule::Or(rs) if rs.is_empty() => "not defined name".to_string(),
        Rule::And(rs) => rs
            .iter()
            .map(|x| format!("({})", rule(x)))
            .collect::<Vec<_>>()
            .join(" and "),
        Rule::Or(rs) => rs
            .iter()
            .map(|x| format!("({})", rule(x)))
            .collect::<Vec<_>>()
            .join(" or "),
        Rule::Not(x) => format!("not ({})", rule(x)),
        Rule::Defined(a) => format!("defined {}", name(a)),
        Rule::Compare { attr, op, value } => {
            format!("{} {} {}", name(attr), op.as_str(), quote(value))
        }
    }
}

/// Writes a policy as `.ha` text (before `fmt`).
pub fn print_policy(p: &Policy) -> String {
    let mut out = String::new();
    let c = &p.cluster;
    let _ = writeln!(out, "cluster {} {{", name(&c.name));
    for n in &c.nodes {
        let _ = write!(out, "node {} {{", name(&n.name));
        if let Some(a) = &n.address {
            let _ = write!(out, "\naddress {}", quote(a));
        }
        for (k, v) in &n.attrs {
            let _ = write!(out, "\n{} = {}", name(k), quote(v));
        }
        for (k, v) in &n.capacity {
            let _ = write!(out, "\ncapacity {} {v}", name(k));
        }
        out.push_str("\n}\n");
    }
    let quorum = match &c.quorum {
        QuorumMode::Majority => "majority".to_string(),
        QuorumMode::TwoNode => "two-node".to_string(),
        QuorumMode::Ignore => "ignore".to_string(),
        QuorumMode::Witness(w) => format!("witness {}", quote(w)),
    };
    let nqp = match c.no_quorum_policy {
        NoQuorumPolicy::Stop => "stop",
        NoQuorumPolicy::Freeze => "freeze",
        NoQuorumPolicy::Ignore => "ignore",
        NoQuorumPolicy::Demote => "demote",
    };
    let _ = writeln!(out, "quorum {quorum}\nno-quorum-policy {nqp}");
    let _ = writeln!(out, "fencing {}", if c.fencing { "on" } else { "off" });
    let _ = writeln!(
        out,
        "placement {}",
        if c.symmetric { "symmetric" } else { "opt-in" }
    );
    if let Some(d) = c.priority_fencing_delay {
        let _ = writeln!(out, "priority-fencing-delay {d}");
    }
    if c.spread_ties {
        out.push_str("ties spread\n");
    }
    let strategy = match c.strategy {
        PlacementStrategy::Default => None,
        PlacementStrategy::Utilization => Some("utilization"),
        PlacementStrategy::Minimal => Some("minimal"),
        PlacementStrategy::Balanced => Some("balanced"),
    };
    if let Some(s) = strategy {
        let _ = writeln!(out, "placement-strategy {s}");
    }
    for o in &c.fence_orders {
        let _ = write!(out, "fence-order {} {{", name(&o.node));
        for l in &o.levels {
            let devices: Vec<String> = l.devices.iter().map(|d| name(d)).collect();
            let _ = write!(out, "\nlevel {}", devices.join(" "));
        }
        out.push_str("\n}\n");
    }
    for a in &c.alerts {
        let _ = write!(out, "alert {} {} {{", name(&a.name), quote(&a.path));
        for r in &a.recipients {
            let _ = write!(out, "\nto {}", quote(r));
        }
        if let Some(t) = a.timeout {
            let _ = write!(out, "\ntimeout {t}");
        }
        if let Some(kinds) = &a.select {
            let words: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            let _ = write!(out, "\nselect {}", words.join(" "));
        }
        for (k, v) in &a.params {
            let _ = write!(out, "\n{} = {}", name(k), quote(v));
        }
        out.push_str("\n}\n");
    }
    let on_off = |b: bool| if b { "on" } else { "off" };
    if !c.stop_orphans {
        out.push_str("stop-orphans off\n");
    }
    let _ = writeln!(
        out,
        "start-failure-is-fatal {}\n}}\n",
        on_off(c.start_failure_is_fatal)
    );
    let mut defaults = meta_lines(&p.defaults);
    if let Some(t) = p.op_timeout {
        defaults.push(format!("op-timeout {t}"));
    }
    if !defaults.is_empty() {
        let _ = writeln!(out, "defaults {{\n{}\n}}\n", defaults.join("\n"));
    }
    for (i, r) in p.resources.iter().enumerate() {
        if r.parent.is_none() {
            resource(&mut out, p, RscId(u32::try_from(i).unwrap_or(u32::MAX)), r);
        }
    }
    for k in &p.constraints {
        constraint(&mut out, p, k);
    }
    out
}

fn meta_lines(m: &Meta) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(s) = m.stickiness {
        v.push(format!("stickiness {s}"));
    }
    if let Some(t) = m.migration_threshold {
        if t >= FailCount::INFINITE {
            v.push("migration-threshold inf".to_string());
        } else {
            v.push(format!("migration-threshold {t}"));
        }
    }
    if let Some(d) = m.failure_timeout {
        v.push(format!("failure-timeout {d}"));
    }
    if let Some(pr) = m.priority {
        v.push(format!("priority {pr}"));
    }
    if let Some(t) = m.target_role {
        let t = match t {
            TargetRole::Stopped => "stopped",
            TargetRole::Started => "started",
            TargetRole::Unpromoted => "unpromoted",
            TargetRole::Promoted => "promoted",
        };
        v.push(format!("target-role {t}"));
    }
    if let Some(m) = m.managed {
        v.push(format!("managed {}", if m { "yes" } else { "no" }));
    }
    if let Some(r) = m.requires {
        let r = match r {
            Requires::Nothing => "nothing",
            Requires::Quorum => "quorum",
            Requires::Fencing => "fencing",
        };
        v.push(format!("requires {r}"));
    }
    if let Some(a) = m.allow_migrate {
        v.push(format!("allow-migrate {}", if a { "yes" } else { "no" }));
    }
    if let Some(m) = m.multiple_active {
        v.push(format!(
            "multiple-active {}",
            match m {
                MultipleActive::Restart => "restart",
                MultipleActive::Stop => "stop",
                MultipleActive::Block => "block",
            }
        ));
    }
    v
}

fn resource(out: &mut String, p: &Policy, _id: RscId, r: &Resource) {
    let mut body: Vec<String> = Vec::new();
    let head = match &r.kind {
        ResourceKind::Primitive(prim) => {
            let fence = prim.agent.class == AgentClass::Stonith;
            let kw = match (&r.clone, fence) {
                (Some(c), _) if c.promotable => "promotable",
                (Some(_), _) => "clone",
                (None, true) => "fence",
                (None, false) => "resource",
            };
            primitive_body(prim, &mut body);
            format!("{kw} {}: {}", name(&r.name), agent(&prim.agent))
        }
        ResourceKind::Group(members) => {
            let kw = match &r.clone {
                Some(c) if c.promotable => "promotable group",
                Some(_) => "clone group",
                None => "group",
            };
            for m in members {
                let Some(mr) = p.resource(*m) else { continue };
                let Some(prim) = mr.primitive() else { continue };
                let mut mb = Vec::new();
                primitive_body(prim, &mut mb);
                mb.extend(meta_lines(&mr.meta));
                body.push(format!(
                    "resource {}: {} {{\n{}\n}}",
                    name(&mr.name),
                    agent(&prim.agent),
                    mb.join("\n")
                ));
            }
            format!("{kw} {}", name(&r.name))
        }
    };
    body.extend(meta_lines(&r.meta));
    if let Some(c) = &r.clone {
        if let Some(m) = c.max {
            body.push(format!("clone-max {m}"));
        }
        if c.node_max != 1 {
            body.push(format!("clone-node-max {}", c.node_max));
        }
        if c.promotable {
            body.push(format!("promoted-max {}", c.promoted_max));
            body.push(format!("promoted-node-max {}", c.promoted_node_max));
        }
        if c.unique {
            body.push("globally-unique".to_string());
        }
        if c.notify {
            body.push("notify".to_string());
        }
        if c.interleave {
            body.push("interleave".to_string());
        }
    }
    let _ = writeln!(out, "{head} {{\n{}\n}}\n", body.join("\n"));
}

fn primitive_body(prim: &Primitive, body: &mut Vec<String>) {
    for (k, v) in &prim.params {
        let v = match v {
            ParamValue::Text(t) => quote(t),
            ParamValue::Secret(s) => format!("secret({})", quote(s)),
        };
        body.push(format!("{} = {v}", name(k)));
    }
    for (k, v) in &prim.utilization {
        body.push(format!("utilization {} {v}", name(k)));
    }
    for op in &prim.ops {
        let mut line = op.action.as_str().to_string();
        if op.action == OpAction::Monitor {
            match op.role {
                Some(Role::Promoted) => line.push_str(" promoted"),
                Some(Role::Unpromoted) => line.push_str(" unpromoted"),
                Some(Role::Stopped) => line.push_str(" stopped"),
                _ => {}
            }
            if op.interval == Duration::ZERO {
                // A probe setting: Halo probes on its own.
                continue;
            }
            let _ = write!(line, " every {}", op.interval);
        }
        if let Some(t) = op.timeout {
            let _ = write!(line, " timeout {t}");
        }
        if let Some(f) = op.on_fail {
            let f = format!("{f:?}").to_lowercase();
            let _ = write!(line, " on-fail {f}");
        }
        for (k, v) in &op.params {
            let _ = write!(line, " with {} = {}", name(k), quote(v));
        }
        if op.disabled {
            line.push_str(" disabled");
        }
        body.push(line);
    }
    if let Some(f) = &prim.fence {
        if !f.host_map.is_empty() {
            let map: Vec<String> = f
                .host_map
                .iter()
                .map(|(n, plug)| format!("{} = {}", name(n), quote(plug)))
                .collect();
            body.push(format!("host-map {{\n{}\n}}", map.join("\n")));
        }
        if !f.targets.is_empty() {
            body.push(format!(
                "targets {}",
                f.targets
                    .iter()
                    .map(|t| name(t))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        if let Some(t) = f.timeout {
            body.push(format!("timeout {t}"));
        }
        if let Some(d) = f.delay_base {
            body.push(format!("delay-base {d}"));
        }
        if let Some(d) = f.delay_max {
            body.push(format!("delay-max {d}"));
        }
        if f.retries > 0 {
            body.push(format!("retries {}", f.retries));
        }
    }
}

fn constraint(out: &mut String, p: &Policy, k: &Constraint) {
    let n = |id: RscId| {
        p.resource(id)
            .map_or_else(|| "?".to_string(), |r| name(&r.name))
    };
    let line = match &k.kind {
        ConstraintKind::Location {
            rsc,
            role,
            target,
            score,
        } => {
            let target = match target {
                LocationTarget::Nodes(ns) => format!(
                    "on {}",
                    ns.iter().map(|x| name(x)).collect::<Vec<_>>().join(" ")
                ),
                LocationTarget::Rule(r) => format!("where {}", rule(r)),
            };
            let score = match score {
                LocationScore::Fixed(s) => s.to_string(),
                LocationScore::Attribute(a) => format!("from {}", name(a)),
            };
            format!(
                "prefer {}{} {target} score {score}",
                n(*rsc),
                role_suffix(*role)
            )
        }
        ConstraintKind::Colocation {
            dependent,
            dependent_role,
            primary,
            primary_role,
            score,
            node_attribute,
        } => format!(
            "colocate {}{} with {}{}{} score {score}",
            n(*dependent),
            role_suffix(*dependent_role),
            n(*primary),
            role_suffix(*primary_role),
            node_attribute
                .as_ref()
                .map_or(String::new(), |a| format!(" by {}", name(a)))
        ),
        ConstraintKind::Order {
            first,
            first_action,
            then,
            then_action,
            kind,
            symmetrical,
            first_min,
            any_of,
        } => {
            // An `or` is one pair per member: written once, with its first.
            if any_of.first().is_some_and(|a| a != first) {
                return;
            }
            let firsts = if any_of.is_empty() {
                std::slice::from_ref(first)
            } else {
                &any_of[..]
            };
            let firsts: Vec<String> = firsts
                .iter()
                .map(|f| format!("{}.{first_action}", n(*f)))
                .collect();
            let mut l = format!(
                "order {} then {}.{then_action}",
                firsts.join(" or "),
                n(*then)
            );
            // One of an `or` is the default threshold.
            let implied = (!any_of.is_empty()).then_some(1);
            if let Some(k) = first_min.filter(|k| Some(*k) != implied) {
                let _ = write!(l, " needs {k}");
            }
            match kind {
                OrderKind::Optional => l.push_str(" optional"),
                OrderKind::Restart => l.push_str(" optional restart"),
                OrderKind::Mandatory => {}
            }
            if !symmetrical {
                l.push_str(" asymmetric");
            }
            l
        }
    };
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::print_policy;

    fn compile(text: &str) -> halo_model::Policy {
        let (_, compiled, diags) = crate::compile_text("p.ha", text, &[]);
        assert!(diags.iter().all(|d| !d.is_error()), "{text}\n{diags:?}");
        compiled.expect("compiles").policy
    }

    #[test]
    fn fence_orders_survive_printing() {
        let p = compile(
            "cluster c {\n node n1\n node n2\n\
             fence-order n1 { level ipmi; level pdu-a pdu-b }\n}\n\
             fence ipmi: fence_ipmilan { ip = 10.0.0.1; targets n1 }\n\
             fence pdu-a: fence_apc { ip = 10.0.0.2 }\n\
             fence pdu-b: fence_apc { ip = 10.0.0.3 }\n",
        );
        let again = compile(&print_policy(&p));
        let levels = |p: &halo_model::Policy| {
            p.cluster
                .fence_orders
                .iter()
                .map(|o| {
                    let l: Vec<Vec<String>> = o.levels.iter().map(|l| l.devices.clone()).collect();
                    (o.node.clone(), l)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            levels(&p),
            [(
                "n1".to_string(),
                vec![
                    vec!["ipmi".to_string()],
                    vec!["pdu-a".into(), "pdu-b".into()]
                ]
            )]
        );
        assert_eq!(levels(&p), levels(&again));
    }

    #[test]
    fn fencing_delays_survive_printing() {
        let p = compile(
            "cluster c {\n node n1\n node n2\n priority-fencing-delay 10s\n}\n\
             fence ipmi: fence_ipmilan { ip = 10.0.0.1; delay-base 2s; delay-max 5s }\n",
        );
        let again = compile(&print_policy(&p));
        let delays = |p: &halo_model::Policy| {
            let f = p.resources[0].primitive().unwrap().fence.clone().unwrap();
            (p.cluster.priority_fencing_delay, f.delay_base, f.delay_max)
        };
        let s = halo_model::Duration::from_secs;
        assert_eq!(delays(&p), (Some(s(10)), Some(s(2)), Some(s(5))));
        assert_eq!(delays(&p), delays(&again));
    }

    #[test]
    fn alerts_survive_printing() {
        let p = compile(
            "cluster c {\n node n1\n fencing off\n\
             alert mail \"/usr/share/pacemaker/alerts/alert_smtp.sh\" {\n\
               to \"ops@example.com\"; to \"oncall@example.com\"\n\
               select nodes fencing\n\
               timeout 30s; email_sender = \"halo@example.com\" }\n\
             alert log \"/usr/local/bin/log alert.sh\" }",
        );
        let again = compile(&print_policy(&p));
        let show = |p: &halo_model::Policy| {
            p.cluster
                .alerts
                .iter()
                .map(|a| {
                    format!(
                        "{} {} {:?} {:?} {:?} {:?}",
                        a.name, a.path, a.recipients, a.timeout, a.params, a.select
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(show(&p).len(), 2);
        assert_eq!(show(&p), show(&again));
        assert_eq!(
            p.cluster.alerts[0].recipients,
            ["ops@example.com", "oncall@example.com"]
        );
        use halo_model::AlertKind;
        assert_eq!(
            p.cluster.alerts[0].select,
            Some(vec![AlertKind::Nodes, AlertKind::Fencing])
        );
        assert_eq!(p.cluster.alerts[1].select, None);
    }
}
