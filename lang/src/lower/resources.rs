//! Resource declarations: `resource`, `group`, `clone`, `promotable`, `fence`.

use super::cursor::{check_name, suggest, unknown_keyword, Cursor, Res};
use super::{bad_choice, Lower};
use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::{Stmt, TokenKind};
use halo_model::{
    Agent, AgentClass, CloneSpec, Duration, FenceSpec, Meta, MultipleActive, OnFail, OpAction,
    Operation, ParamValue, Primitive, Requires, Resource, ResourceKind, Role, RscId, TargetRole,
};
use std::collections::BTreeMap;

/// What kind of declaration a statement makes, from its first words.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decl {
    Primitive,
    Clone { promotable: bool },
    Fence,
    Group,
    CloneGroup { promotable: bool },
}

const META: &[&str] = &[
    "stickiness",
    "migration-threshold",
    "failure-timeout",
    "priority",
    "target-role",
    "managed",
    "multiple-active",
    "allow-migrate",
    "requires",
];
const CLONE_OPTS: &[&str] = &[
    "clone-max",
    "clone-node-max",
    "promoted-max",
    "promoted-node-max",
    "interleave",
    "globally-unique",
    "notify",
];
const FENCE_OPTS: &[&str] = &[
    "host-map",
    "targets",
    "timeout",
    "retries",
    "delay-base",
    "delay-max",
];
const OPS: &[&str] = &["start", "stop", "monitor", "promote", "demote"];

impl Lower {
    /// Declares a resource (and, for groups, its members). Returns its id.
    pub(super) fn declare(&mut self, s: &Stmt, parent: Option<RscId>) -> Res<RscId> {
        let mut c = Cursor::new(s);
        let kw = c.next().map(|t| t.text.as_str()).unwrap_or_default();
        let decl = match kw {
            "resource" => Decl::Primitive,
            "fence" => Decl::Fence,
            "group" => Decl::Group,
            "clone" | "promotable" => {
                let promotable = kw == "promotable";
                if c.eat_word("group") {
                    Decl::CloneGroup { promotable }
                } else {
                    Decl::Clone { promotable }
                }
            }
            _ => return Err(c.expected("`resource`, `group`, `clone`, `promotable` or `fence`")),
        };
        if parent.is_some() && decl != Decl::Primitive {
            return Err(Diagnostic::error(
                Code::BadMember,
                s.span.clone(),
                "a group's members are plain resources",
            )
            .label("not allowed inside a group")
            .help("declare members with `resource NAME: AGENT`; a group cannot hold groups, clones or fence devices"));
        }
        let name = c.name("the resource's name")?;
        check_name(name, "resource")?;
        if name.text.contains('.') && name.kind == TokenKind::Word {
            return Err(Diagnostic::error(
                Code::BadName,
                name.span.clone(),
                format!("`{}`: resource names cannot contain `.`", name.text),
            )
            .label("`.` separates a name from a role or action")
            .help("use `-` or `_`, or quote the name"));
        }
        if let Some(prev) = self.rsc_spans.get(&name.text).cloned() {
            return Err(self.duplicate("resource", &name.text, &name.span, &prev));
        }
        let agent = match decl {
            Decl::Primitive | Decl::Clone { .. } | Decl::Fence => {
                c.op(":")?;
                let t = c.name("an agent such as `ocf:heartbeat:IPaddr2`")?;
                // A clone may also be of a fence device (it runs on every node).
                let parsed = match decl {
                    Decl::Clone { promotable: false } => parse_agent(&t.text, false)
                        .or_else(|e| parse_agent(&t.text, true).map_err(|_| e)),
                    _ => parse_agent(&t.text, decl == Decl::Fence),
                };
                Some(parsed.map_err(|(m, h)| {
                    Diagnostic::error(Code::BadAgent, t.span.clone(), m)
                        .label("not an agent")
                        .help(h)
                })?)
            }
            _ => None,
        };
        c.end()?;
        let id = RscId(u32::try_from(self.policy.resources.len()).unwrap_or(u32::MAX));
        self.rsc_spans.insert(name.text.clone(), name.span.clone());
        let origin = self.origin(&name.span);
        let clone = match decl {
            Decl::Clone { promotable } | Decl::CloneGroup { promotable } => Some(CloneSpec {
                promotable,
                ..CloneSpec::default()
            }),
            _ => None,
        };
        let kind = match &agent {
            Some(a) => ResourceKind::Primitive(Primitive {
                agent: a.clone(),
                params: BTreeMap::new(),
                ops: Vec::new(),
                fence: (a.class == AgentClass::Stonith).then(Box::<FenceSpec>::default),
                utilization: BTreeMap::new(),
            }),
            None => ResourceKind::Group(Vec::new()),
        };
        self.policy.resources.push(Resource {
            name: name.text.clone(),
            kind,
            meta: Meta::default(),
            clone,
            parent,
            origin,
        });
        let mut param_spans = BTreeMap::new();
        if let Some(b) = &s.block {
            self.once_each(&b.stmts, super::META_SETTINGS, &format!("`{}`", name.text));
        }
        for st in s.block.iter().flat_map(|b| &b.stmts) {
            let r = self.body_stmt(st, id, decl, &mut param_spans);
            self.report(r);
        }
        if matches!(decl, Decl::Group | Decl::CloneGroup { .. }) && self.members(id).is_empty() {
            self.diags.push(
                Diagnostic::error(
                    Code::EmptyGroup,
                    name.span.clone(),
                    format!("group `{}` has no members", name.text),
                )
                .label("empty group")
                .help("add members with `resource NAME: AGENT` inside the group's block"),
            );
        }
        if let Some(a) = agent {
            self.check_primitive(id, &a, &param_spans, &name.span);
        }
        Ok(id)
    }

    fn members(&self, id: RscId) -> &[RscId] {
        match self.policy.resource(id).map(|r| &r.kind) {
            Some(ResourceKind::Group(m)) => m,
            _ => &[],
        }
    }

    pub(super) fn duplicate(&self, what: &str, name: &str, at: &Span, prev: &Span) -> Diagnostic {
        let mut d = super::duplicate(what, name, at, prev);
        if let Some((text, lines)) = &self.text {
            let (line, col) = lines.line_col(text, prev.range.start);
            d = d.help(format!(
                "first declared at line {line}, column {col}; names must be unique"
            ));
        }
        d
    }

    fn body_stmt(
        &mut self,
        s: &Stmt,
        id: RscId,
        decl: Decl,
        param_spans: &mut BTreeMap<String, Span>,
    ) -> Res<()> {
        let mut c = Cursor::new(s);
        let Some(first) = c.peek() else {
            return Err(
                Diagnostic::error(Code::Syntax, s.span.clone(), "expected a statement")
                    .label("a block with no statement"),
            );
        };
        let is_group = matches!(decl, Decl::Group | Decl::CloneGroup { .. });
        // Other declarations reach `declare` too, which says why a group cannot
        // hold them.
        let declares = ["resource", "group", "clone", "promotable", "fence"];
        if is_group && declares.iter().any(|kw| first.is_word(kw)) {
            let member = self.declare(s, Some(id))?;
            if let Some(ResourceKind::Group(m)) = self
                .policy
                .resources
                .get_mut(id.index())
                .map(|r| &mut r.kind)
            {
                m.push(member);
            }
            return Ok(());
        }
        if !is_group && c.stmt.tokens.get(1).is_some_and(|t| t.is_op("=")) {
            return self.params(&mut c, id, param_spans);
        }
        let kw = first.text.as_str();
        let is_clone = matches!(decl, Decl::Clone { .. } | Decl::CloneGroup { .. });
        let is_fence = self
            .policy
            .resource(id)
            .and_then(|r| r.primitive())
            .is_some_and(|p| p.fence.is_some());
        if kw == "utilization" && !is_group {
            c.next();
            let what = c.name("what the resource takes, e.g. `cpu`")?;
            let (n, span) = c.integer("the amount")?;
            if n < 0 {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    span,
                    format!("a negative amount of `{}`", what.text),
                )
                .label("below zero")
                .help("a resource takes zero or more of a node's capacity"));
            }
            if let Some(p) = self.primitive_mut(id) {
                p.utilization.insert(what.text.clone(), n);
            }
        } else if OPS.contains(&kw) && !is_group {
            let op = self.operation(&mut c, id)?;
            if let Some(p) = self.primitive_mut(id) {
                p.ops.push(op);
            }
        } else if is_clone && CLONE_OPTS.contains(&kw) {
            c.next();
            let spec = self
                .policy
                .resources
                .get_mut(id.index())
                .and_then(|r| r.clone.as_mut());
            let mut local = spec.cloned().unwrap_or_default();
            clone_opt(&mut c, kw, &mut local)?;
            if let Some(spec) = self
                .policy
                .resources
                .get_mut(id.index())
                .and_then(|r| r.clone.as_mut())
            {
                *spec = local;
            }
        } else if is_fence && FENCE_OPTS.contains(&kw) {
            c.next();
            self.fence_opt(&mut c, s, kw, id)?;
            return Ok(());
        } else if META.contains(&kw) {
            let mut meta = self
                .policy
                .resources
                .get(id.index())
                .map(|r| r.meta.clone())
                .unwrap_or_default();
            meta_stmt(&mut c, &mut meta, "", &[])?;
            if let Some(r) = self.policy.resources.get_mut(id.index()) {
                r.meta = meta;
            }
        } else {
            let mut allowed: Vec<&str> = Vec::new();
            if is_group {
                allowed.push("resource");
            } else {
                allowed.push("NAME = VALUE");
                allowed.extend(OPS);
                allowed.push("utilization");
            }
            allowed.extend(META);
            if is_clone {
                allowed.extend(CLONE_OPTS);
            }
            if is_fence {
                allowed.extend(FENCE_OPTS);
            }
            let place = match decl {
                Decl::Group => "in a group",
                Decl::Fence => "in a fence device",
                Decl::Clone { .. } | Decl::CloneGroup { .. } => "in a clone",
                Decl::Primitive => "in a resource",
            };
            return Err(unknown_keyword(first, place, &allowed));
        }
        c.end()?;
        c.no_block()
    }

    fn primitive_mut(&mut self, id: RscId) -> Option<&mut Primitive> {
        match self
            .policy
            .resources
            .get_mut(id.index())
            .map(|r| &mut r.kind)
        {
            Some(ResourceKind::Primitive(p)) => Some(p),
            _ => None,
        }
    }

    /// `key = value` pairs, several per line allowed.
    fn params(
        &mut self,
        c: &mut Cursor<'_>,
        id: RscId,
        spans: &mut BTreeMap<String, Span>,
    ) -> Res<()> {
        while !c.at_end() {
            let key = c.name("a parameter name")?;
            c.op("=")?;
            let value = if c.peek().is_some_and(|t| t.is_word("secret")) {
                c.next();
                c.op("(")?;
                let v = c.name("the secret's name in quotes")?.text.clone();
                c.op(")")?;
                ParamValue::Secret(v)
            } else {
                ParamValue::Text(c.value("the parameter's value")?.text.clone())
            };
            if spans.contains_key(&key.text) {
                return Err(Diagnostic::error(
                    Code::Duplicate,
                    key.span.clone(),
                    format!("parameter `{}` is set twice", key.text),
                )
                .label("second value")
                .help("remove one of the two lines"));
            }
            spans.insert(key.text.clone(), key.span.clone());
            if let Some(p) = self.primitive_mut(id) {
                p.params.insert(key.text.clone(), value);
            }
        }
        c.no_block()
    }

    /// `monitor [promoted|unpromoted] every 10s [timeout 20s] [on-fail restart]`.
    fn operation(&mut self, c: &mut Cursor<'_>, id: RscId) -> Res<Operation> {
        let kw = c.name("an operation")?;
        let action = OpAction::parse(&kw.text).ok_or_else(|| c.expected("an operation"))?;
        let mut op = Operation {
            action,
            interval: Duration::ZERO,
            timeout: None,
            role: None,
            on_fail: None,
            params: BTreeMap::new(),
            disabled: false,
            origin: self.origin(&c.stmt.span),
        };
        while let Some(t) = c.next() {
            match t.text.as_str() {
                "promoted" | "unpromoted" if action == OpAction::Monitor => {
                    op.role = Some(if t.text == "promoted" {
                        Role::Promoted
                    } else {
                        Role::Unpromoted
                    });
                    if !self
                        .policy
                        .resource(id)
                        .is_some_and(Resource::is_promotable)
                    {
                        return Err(Diagnostic::error(
                            Code::RoleOnNonPromotable,
                            t.span.clone(),
                            format!(
                                "`{}` has no roles: it is not promotable",
                                self.policy.resource(id).map_or("", |r| r.name.as_str())
                            ),
                        )
                        .label("role monitor")
                        .help("declare it with `promotable NAME: AGENT` or drop the role"));
                    }
                }
                "stopped" if action == OpAction::Monitor => op.role = Some(Role::Stopped),
                // Declared but not run (Pacemaker's enabled=false).
                "disabled" if action == OpAction::Monitor => op.disabled = true,
                "every" | "interval" if action == OpAction::Monitor => {
                    op.interval = c.duration()?.0
                }
                "timeout" => op.timeout = Some(c.timeout()?),
                // Agent parameters for this operation only: `with NAME = VALUE`.
                "with" => {
                    let k = c.name("a parameter name")?;
                    if !c.eat_op("=") {
                        return Err(c.expected("`=` and the parameter's value"));
                    }
                    let v = c.value("the parameter's value")?;
                    op.params.insert(k.text.clone(), v.text.clone());
                }
                "on-fail" => {
                    let f = c.name("an on-fail policy")?;
                    op.on_fail = Some(OnFail::parse(&f.text).ok_or_else(|| {
                        bad_choice(
                            f,
                            "on-fail policy",
                            &[
                                "restart", "block", "stop", "ignore", "fence", "standby", "demote",
                            ],
                        )
                    })?);
                }
                _ => {
                    let mut allowed = vec!["timeout", "on-fail", "with"];
                    if action == OpAction::Monitor {
                        allowed.extend(["every", "promoted", "unpromoted", "disabled"]);
                    }
                    return Err(Diagnostic::error(
                        Code::Syntax,
                        t.span.clone(),
                        format!("unexpected `{}` in a {action} operation", t.shown()),
                    )
                    .label("not an operation option")
                    .help(
                        suggest(&t.text, allowed.iter().copied())
                            .unwrap_or_else(|| format!("options: {}", allowed.join(", "))),
                    ));
                }
            }
        }
        if action == OpAction::Monitor && op.interval == Duration::ZERO {
            return Err(Diagnostic::error(
                Code::MonitorInterval,
                kw.span.clone(),
                "a monitor needs an interval",
            )
            .label("how often?")
            .help("write `monitor every 10s`"));
        }
        if let Some(p) = self.policy.resource(id).and_then(Resource::primitive) {
            let same = |o: &&Operation| {
                o.action == op.action && o.interval == op.interval && o.role == op.role
            };
            if p.ops.iter().any(|o| same(&o)) {
                return Err(Diagnostic::error(
                    Code::Duplicate,
                    c.stmt.span.clone(),
                    format!("`{action}` is declared twice with the same interval"),
                )
                .label("duplicate operation")
                .help("each operation (and each monitor interval) appears once"));
            }
        }
        Ok(op)
    }

    fn fence_opt(&mut self, c: &mut Cursor<'_>, s: &Stmt, kw: &str, id: RscId) -> Res<()> {
        let mut fence = self
            .primitive_mut(id)
            .and_then(|p| p.fence.take())
            .unwrap_or_default();
        let r = (|| -> Res<()> {
            match kw {
                "timeout" => fence.timeout = Some(c.timeout()?),
                "retries" => fence.retries = c.count("the number of retries")?,
                "delay-base" => fence.delay_base = Some(c.duration()?.0),
                "delay-max" => fence.delay_max = Some(c.duration()?.0),
                "targets" => {
                    while let Some(t) = c.next() {
                        fence.targets.push(self.node_ref(t)?);
                    }
                }
                _ => {
                    let Some(block) = &s.block else {
                        return Err(c.expected("`{ NODE = \"plug\", ... }`"));
                    };
                    for st in &block.stmts {
                        let mut m = Cursor::new(st);
                        let node = m.name("a node name")?;
                        let node = self.node_ref(node)?;
                        m.op("=")?;
                        let plug = m.value("the agent's name for the node")?.text.clone();
                        m.end()?;
                        fence.host_map.insert(node, plug);
                    }
                    return c.end();
                }
            }
            c.end()?;
            c.no_block()
        })();
        if let Some(p) = self.primitive_mut(id) {
            p.fence = Some(fence);
        }
        r
    }

    /// Validates a primitive against its agent's declaration and fills in default
    /// operation timeouts.
    fn check_primitive(
        &mut self,
        id: RscId,
        agent: &Agent,
        spans: &BTreeMap<String, Span>,
        name_span: &Span,
    ) {
        let Some(rsc) = self.policy.resource(id) else {
            return;
        };
        let rsc_name = rsc.name.clone();
        let key = agent.to_string();
        let class_key = match agent.class {
            AgentClass::Lsb => Some("lsb:*"),
            AgentClass::Systemd | AgentClass::Service => Some("systemd:*"),
            _ => None,
        };
        let schema = self
            .agents
            .get(&key)
            .or_else(|| class_key.and_then(|k| self.agents.get(k)))
            .cloned();
        let Some(schema) = schema else {
            self.diags.push(
                Diagnostic::warning(Code::UnknownAgent, name_span.clone(), format!("no declaration for agent `{key}`: its parameters are not checked"))
                    .label("agent not declared")
                    .help(format!("declare it with `agent {key} {{ param ... }}` (see stdlib/), or generate one from the agent's meta-data")),
            );
            return;
        };
        if schema.promotable
            != self
                .policy
                .resource(id)
                .is_some_and(Resource::is_promotable)
        {
            if schema.promotable && rsc.clone.is_none() {
                self.diags.push(
                    Diagnostic::warning(Code::PromotableAgent, name_span.clone(), format!("`{key}` is a promotable agent but `{rsc_name}` is not promotable"))
                        .label("runs without roles")
                        .help(format!("declare it with `promotable {rsc_name}: {key}` to get a primary and replicas")),
                );
            } else if !schema.promotable && rsc.is_promotable() {
                self.diags.push(
                    Diagnostic::error(Code::NotPromotable, name_span.clone(), format!("`{key}` cannot be promoted"))
                        .label("promotable clone of an agent without roles")
                        .help("use `clone` instead of `promotable`, or an agent that supports promote/demote"),
                );
            }
        }
        let at = |p: &str| spans.get(p).cloned().unwrap_or_else(|| name_span.clone());
        let params = self
            .policy
            .resource(id)
            .and_then(Resource::primitive)
            .map(|p| p.params.clone())
            .unwrap_or_default();
        let diags = schema.check_params(&rsc_name, &params, &at, name_span);
        self.diags.extend(diags);
        let default_timeout = self.policy.op_timeout;
        if let Some(p) = self.primitive_mut(id) {
            for op in &mut p.ops {
                if op.timeout.is_none() {
                    op.timeout = schema
                        .default_op(op.action)
                        .map(|d| d.timeout)
                        .or(default_timeout);
                }
            }
        }
    }
}

/// Reads one meta statement (`stickiness 100`) into `meta`.
pub(super) fn meta_stmt(
    c: &mut Cursor<'_>,
    meta: &mut Meta,
    place: &str,
    extra: &[&str],
) -> Res<()> {
    let Some(kw) = c.next() else { return Ok(()) };
    match kw.text.as_str() {
        "stickiness" => meta.stickiness = Some(c.score()?),
        "migration-threshold" => {
            meta.migration_threshold = Some(c.count("the migration threshold")?)
        }
        "failure-timeout" => meta.failure_timeout = Some(c.duration()?.0),
        "priority" => meta.priority = Some(c.integer("the priority")?.0),
        "managed" => meta.managed = Some(c.boolean()?),
        "allow-migrate" => meta.allow_migrate = Some(c.boolean()?),
        "requires" => {
            let t = c.name("nothing, quorum or fencing")?;
            meta.requires = Some(match t.text.as_str() {
                "nothing" => Requires::Nothing,
                "quorum" => Requires::Quorum,
                "fencing" => Requires::Fencing,
                _ => {
                    return Err(bad_choice(
                        t,
                        "requirement",
                        &["nothing", "quorum", "fencing"],
                    ))
                }
            });
        }
        "multiple-active" => {
            let t = c.name("restart, stop or block")?;
            meta.multiple_active = Some(match t.text.as_str() {
                "restart" => MultipleActive::Restart,
                "stop" => MultipleActive::Stop,
                "block" => MultipleActive::Block,
                _ => {
                    return Err(bad_choice(
                        t,
                        "multiple-active reaction",
                        &["restart", "stop", "block"],
                    ))
                }
            });
        }
        "target-role" => {
            let t = c.name("stopped, started, unpromoted or promoted")?;
            meta.target_role = Some(match t.text.as_str() {
                "stopped" => TargetRole::Stopped,
                "started" => TargetRole::Started,
                "unpromoted" => TargetRole::Unpromoted,
                "promoted" => TargetRole::Promoted,
                _ => {
                    return Err(bad_choice(
                        t,
                        "target role",
                        &["stopped", "started", "unpromoted", "promoted"],
                    ))
                }
            });
        }
        _ => {
            let mut allowed = META.to_vec();
            allowed.extend(extra);
            return Err(unknown_keyword(kw, place, &allowed));
        }
    }
    Ok(())
}

fn clone_opt(c: &mut Cursor<'_>, kw: &str, spec: &mut CloneSpec) -> Res<()> {
    let at = c.here();
    let bad = |msg: String, help: &str| {
        Err(Diagnostic::error(Code::BadValue, at.clone(), msg)
            .label("not allowed")
            .help(help.to_string()))
    };
    if kw.starts_with("promoted") && !spec.promotable {
        return bad(
            format!("`{kw}` applies to promotable clones only"),
            "declare it with `promotable`, or remove this line",
        );
    }
    let bounded = |n: u32, limit: u32| -> Res<u32> {
        if n > limit {
            return Err(Diagnostic::error(
                Code::BadValue,
                at.clone(),
                format!("`{kw} {n}` is more than the {limit} Halo allows"),
            )
            .label("too many")
            .help(
                "a clone runs at most clone-node-max instances per node: give a count that can run",
            ));
        }
        Ok(n)
    };
    let limit = if kw == "clone-max" {
        halo_model::CLONE_MAX_LIMIT
    } else {
        halo_model::CLONE_NODE_MAX_LIMIT
    };
    match kw {
        "clone-max" => {
            let n = bounded(c.count("clone-max")?, limit)?;
            if n == 0 {
                return bad(
                    "clone-max 0 would never run an instance".into(),
                    "use `target-role stopped` to stop a clone",
                );
            }
            spec.max = Some(n);
        }
        "clone-node-max" => {
            let n = bounded(c.count("clone-node-max")?, limit)?;
            if n == 0 {
                return bad(
                    "clone-node-max 0 would never run an instance".into(),
                    "use `target-role stopped` to stop a clone",
                );
            }
            spec.node_max = n;
        }
        "promoted-max" => spec.promoted_max = bounded(c.count("promoted-max")?, limit)?,
        "promoted-node-max" => {
            spec.promoted_node_max = bounded(c.count("promoted-node-max")?, limit)?;
        }
        "globally-unique" => spec.unique = if c.at_end() { true } else { c.boolean()? },
        "notify" => spec.notify = if c.at_end() { true } else { c.boolean()? },
        _ => spec.interleave = if c.at_end() { true } else { c.boolean()? },
    }
    Ok(())
}

/// Parses `ocf:heartbeat:IPaddr2`, `lsb:name`, `systemd:unit`, `service:name`,
/// `stonith:fence_x` (or, for fence devices, a bare `fence_x`), the built-in
/// `halo:dummy` and `halo:stateful`, and `exec`.
pub(crate) fn parse_agent(text: &str, fence: bool) -> Result<Agent, (String, String)> {
    let parts: Vec<&str> = text.split(':').collect();
    let agent = |class, provider: &str, kind: &str| Agent {
        class,
        provider: provider.to_string(),
        kind: kind.to_string(),
    };
    let a = match parts.as_slice() {
        ["ocf", provider, kind] => agent(AgentClass::Ocf, provider, kind),
        ["lsb", kind] => agent(AgentClass::Lsb, "", kind),
        ["systemd", kind] => agent(AgentClass::Systemd, "", kind),
        ["service", kind] => agent(AgentClass::Service, "", kind),
        ["stonith", kind] => agent(AgentClass::Stonith, "", kind),
        ["halo", kind @ ("dummy" | "stateful")] => agent(AgentClass::Halo, "", kind),
        ["exec"] if !fence => agent(AgentClass::Exec, "", "exec"),
        [kind] if fence => agent(AgentClass::Stonith, "", kind),
        ["halo", _] => {
            return Err((
                format!("`{text}` is not a built-in agent"),
                "the built-in agents are `halo:dummy` and `halo:stateful`".into(),
            ))
        }
        ["ocf", ..] => {
            return Err((
                format!("`{text}` is not an OCF agent name"),
                "OCF agents are written `ocf:PROVIDER:TYPE`, e.g. `ocf:heartbeat:IPaddr2`".into(),
            ))
        }
        [class @ ("lsb" | "systemd" | "service" | "stonith")] => {
            return Err((
                format!("`{text}` names a class but no agent"),
                format!("write `{class}:NAME`"),
            ))
        }
        [class, ..] => {
            let help = suggest(
                class,
                [
                    "ocf", "lsb", "systemd", "service", "stonith", "halo", "exec",
                ],
            )
            .unwrap_or_else(|| {
                "classes: ocf:PROVIDER:TYPE, lsb:NAME, systemd:UNIT, service:NAME, \
                     stonith:fence_X, halo:dummy, halo:stateful, exec"
                    .into()
            });
            return Err((format!("`{text}` is not an agent of a known class"), help));
        }
        [] => {
            return Err((
                "empty agent name".into(),
                "write e.g. `ocf:heartbeat:Dummy`".into(),
            ))
        }
    };
    let named = |p: &str| p.is_empty() || Agent::valid_part(p, false);
    if !named(&a.provider) || !Agent::valid_part(&a.kind, true) {
        return Err((
            format!("`{text}` is not an agent name"),
            "providers and agent names are letters, digits and `- _ . + @` (an LSB \
             script or a fence plugin may be a path), no part beginning with `.`"
                .into(),
        ));
    }
    if fence != (a.class == AgentClass::Stonith) {
        return Err(if fence {
            (
                format!("`{text}` is not a fence agent"),
                "fence devices use fence agents: `fence NAME: fence_aws`".into(),
            )
        } else {
            (
                format!("`{text}` is a fence agent"),
                "declare fence devices with `fence NAME: AGENT { ... }`".into(),
            )
        });
    }
    Ok(a)
}
