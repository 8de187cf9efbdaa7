//! Lowering: syntax tree → policy IR, resolving names and collecting every error.
//!
//! Pass 1 reads agent declarations; pass 2 the cluster, defaults and resources; pass
//! 3 constraints and tests, which refer to names from pass 2. Each statement that
//! fails adds a diagnostic and is skipped; lowering always goes on to the end.

pub(crate) mod cursor;
mod resources;
mod rules;
mod scenarios;

use crate::agents::{lower_agent, AgentSchema};
use crate::diag::{Code, Diagnostic, FileId, Sources, Span};
use crate::syntax::{self, Stmt, Token};
use cursor::{suggest, unknown_keyword, Cursor, Res};
use halo_model::{
    ConstraintKind, LocationScore, LocationTarget, NoQuorumPolicy, OpAction, OrderKind, Origin,
    PlacementStrategy, Policy, QuorumMode, Role, RscId, Score,
};
use std::collections::BTreeMap;

/// A compiled policy with the table that maps its origins back to source.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub policy: Policy,
    /// `origins[o.0]` is the span of the item with origin `o`.
    pub origins: Vec<Span>,
    pub agents: BTreeMap<String, AgentSchema>,
}

impl Compiled {
    pub fn span(&self, origin: Origin) -> Option<&Span> {
        self.origins.get(origin.0 as usize)
    }
}

/// At most this many diagnostics are reported per file; the rest are counted.
pub const MAX_DIAGNOSTICS: usize = 50;

/// Keeps the first [`MAX_DIAGNOSTICS`] diagnostics and says how many were left out.
fn cap(mut diags: Vec<Diagnostic>, file: FileId) -> Vec<Diagnostic> {
    if diags.len() <= MAX_DIAGNOSTICS {
        return diags;
    }
    let more = diags.len() - MAX_DIAGNOSTICS;
    let errors = diags
        .iter()
        .skip(MAX_DIAGNOSTICS)
        .filter(|d| d.is_error())
        .count();
    diags.truncate(MAX_DIAGNOSTICS);
    let span = diags
        .last()
        .map_or_else(|| Span::new(file, 0..0), |d| d.span.clone());
    let kind = if errors > 0 {
        Diagnostic::error
    } else {
        Diagnostic::warning
    };
    diags.push(
        kind(
            Code::TooManyDiagnostics,
            span,
            format!("{more} more diagnostics not shown ({errors} of them errors)"),
        )
        .label("after this one")
        .help("fix the ones above and run `halo check` again"),
    );
    diags
}

fn too_many_resources(span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::TooMany,
        span,
        format!("more than {} resources", halo_model::MAX_RESOURCES),
    )
    .label("past the bound")
    .help("split the cluster; the bounds keep planning fast and its memory small")
}

pub(crate) const TOP_LEVEL: &[&str] = &[
    "cluster",
    "defaults",
    "resource",
    "group",
    "clone",
    "promotable",
    "fence",
    "prefer",
    "avoid",
    "colocate",
    "separate",
    "order",
    "test",
    "agent",
];

/// Agent declarations read once (from the standard library) and shared by every
/// compilation.
#[derive(Clone, Debug, Default)]
pub struct Library {
    agents: BTreeMap<String, AgentSchema>,
}

impl Library {
    /// Reads the `agent` declarations of `files` (other statements are ignored).
    pub fn load(sources: &Sources, files: &[FileId]) -> (Library, Vec<Diagnostic>) {
        let mut lib = Library::default();
        let mut diags = Vec::new();
        for &f in files {
            let text = sources.get(f).map_or("", |x| x.text.as_str());
            let (stmts, d) = syntax::parse(f, text);
            diags.extend(d);
            for s in stmts
                .iter()
                .filter(|s| s.keyword().is_some_and(|k| k.text == "agent"))
            {
                if let Some(a) = lower_agent(s, &mut diags) {
                    lib.agents.insert(a.agent.clone(), a);
                }
            }
        }
        (lib, diags)
    }

    pub fn agent(&self, name: &str) -> Option<&AgentSchema> {
        self.agents.get(name)
    }
}

/// Compiles one policy text against library texts (name, text), e.g. the
/// standard library: the sources table (for rendering), the policy if there are
/// no errors, and every diagnostic.
pub fn compile_text(
    name: &str,
    text: &str,
    library: &[(&str, &str)],
) -> (Sources, Option<Compiled>, Vec<Diagnostic>) {
    let mut sources = Sources::default();
    let files: Vec<FileId> = library.iter().map(|(n, t)| sources.add(*n, *t)).collect();
    let (lib, mut diags) = Library::load(&sources, &files);
    let file = sources.add(name, text);
    let (compiled, more) = compile(&sources, file, &lib);
    diags.extend(more);
    (sources, compiled, diags)
}

/// Compiles one policy file against a library of agent declarations. Returns the
/// policy when there are no errors; the diagnostics (errors and warnings) either
/// way.
pub fn compile(
    sources: &Sources,
    file: FileId,
    library: &Library,
) -> (Option<Compiled>, Vec<Diagnostic>) {
    let mut l = Lower {
        agents: library.agents.clone(),
        ..Lower::default()
    };
    let mut file_stmts = Vec::new();
    let text = sources.get(file).map_or("", |f| f.text.as_str());
    l.text = Some((text.to_string(), crate::diag::LineIndex::new(text)));
    l.file = file;
    let (stmts, diags) = syntax::parse(file, text);
    let syntax_ok = diags.is_empty();
    l.diags.extend(diags);
    file_stmts.extend(stmts);
    if syntax_ok {
        // Lowering a partial tree would only add errors caused by the syntax ones.
        l.lower_file(&file_stmts);
    }
    let mut compiled = Compiled {
        policy: l.policy,
        origins: l.origins,
        agents: l.agents,
    };
    let mut diags = l.diags;
    if syntax_ok {
        // Whole-policy checks run on what lowered, so their errors are reported
        // alongside the others rather than after they are fixed.
        diags.extend(crate::check::check(&compiled));
    }
    crate::check::sort(&mut diags);
    let diags = cap(diags, file);
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    compiled
        .policy
        .cluster
        .nodes
        .sort_by(|a, b| a.name.cmp(&b.name));
    (Some(compiled), diags)
}

#[derive(Default)]
pub(crate) struct Lower {
    pub diags: Vec<Diagnostic>,
    pub policy: Policy,
    pub origins: Vec<Span>,
    pub agents: BTreeMap<String, AgentSchema>,
    /// Where each resource's name was declared.
    pub rsc_spans: BTreeMap<String, Span>,
    pub node_spans: BTreeMap<String, Span>,
    pub text: Option<(String, crate::diag::LineIndex)>,
    file: FileId,
    cluster_span: Option<Span>,
    defaults_span: Option<Span>,
}

impl Lower {
    pub fn origin(&mut self, span: &Span) -> Origin {
        self.origins.push(span.clone());
        Origin(u32::try_from(self.origins.len() - 1).unwrap_or(u32::MAX))
    }

    pub fn report(&mut self, r: Res<()>) {
        if let Err(d) = r {
            self.diags.push(d);
        }
    }

    fn add_agent(&mut self, s: &Stmt) {
        if let Some(a) = lower_agent(s, &mut self.diags) {
            self.agents.insert(a.agent.clone(), a);
        }
    }

    fn lower_file(&mut self, stmts: &[Stmt]) {
        self.policy.cluster.symmetric = true;
        // Declarations past the bound are refused before any is lowered:
        // lowering them would cost what the bound prevents.
        let declarations = |s: &&Stmt| {
            s.keyword().is_some_and(|k| {
                matches!(
                    k.text.as_str(),
                    "resource" | "group" | "clone" | "promotable" | "fence"
                )
            })
        };
        let past = usize::try_from(halo_model::MAX_RESOURCES).unwrap_or(usize::MAX);
        if let Some(s) = stmts.iter().filter(declarations).nth(past) {
            self.diags.push(too_many_resources(s.span.clone()));
            return;
        }
        for s in stmts {
            let Some(kw) = s.keyword() else {
                self.diags.push(
                    Diagnostic::error(Code::Syntax, s.span.clone(), "expected a statement keyword")
                        .label("a block or value with no statement")
                        .help(format!("top-level statements: {}", TOP_LEVEL.join(", "))),
                );
                continue;
            };
            match kw.text.as_str() {
                "agent" => self.add_agent(s),
                "cluster" => {
                    let r = self.cluster(s);
                    self.report(r);
                }
                "defaults" => {
                    let r = self.defaults(s);
                    self.report(r);
                }
                "resource" | "group" | "clone" | "promotable" | "fence" => {
                    if self.policy.resources.len() as u64 >= halo_model::MAX_RESOURCES {
                        // Group members count too.
                        self.diags.push(too_many_resources(kw.span.clone()));
                        return;
                    }
                    let r = self.declare(s, None);
                    self.report(r.map(|_| ()));
                }
                "prefer" | "avoid" | "colocate" | "separate" | "order" | "test" => {}
                _ => self
                    .diags
                    .push(unknown_keyword(kw, "at the top level", TOP_LEVEL)),
            }
        }
        if self.cluster_span.is_none() {
            let span = Span::new(self.file, 0..0);
            self.diags.push(
                Diagnostic::error(Code::NoCluster, span, "the policy has no `cluster` block")
                    .label("expected `cluster NAME { node ... }`")
                    .help("declare the nodes: `cluster web { node web1  node web2 }`"),
            );
        }
        for s in stmts {
            let Some(kw) = s.keyword() else { continue };
            let r = match kw.text.as_str() {
                "prefer" | "avoid" => self.location(s),
                "colocate" | "separate" => self.colocation(s),
                "order" => self.order(s),
                "test" => self.scenario(s),
                _ => Ok(()),
            };
            self.report(r);
        }
    }

    fn cluster(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        c.word("cluster")?;
        let name = c.name("the cluster's name")?;
        c.end()?;
        if let Some(prev) = &self.cluster_span {
            return Err(self.duplicate("cluster block", &name.text, &name.span, prev));
        }
        self.cluster_span = Some(name.span.clone());
        self.policy.cluster.name = name.text.clone();
        self.policy.cluster.origin = self.origin(&name.span);
        self.policy.cluster.fencing = true;
        self.policy.cluster.start_failure_is_fatal = true;
        self.policy.cluster.stop_orphans = true;
        let Some(block) = &s.block else {
            return Err(Diagnostic::error(
                Code::Syntax,
                c.here(),
                "expected `{` after the cluster's name",
            )
            .label("the cluster needs a block of nodes")
            .help("write `cluster NAME { node n1  node n2 }`"));
        };
        self.once_each(&block.stmts, CLUSTER_SETTINGS, "the cluster block");
        for st in &block.stmts {
            let r = self.cluster_stmt(st);
            self.report(r);
        }
        if self.policy.cluster.nodes.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    Code::NoNodes,
                    name.span.clone(),
                    "the cluster declares no nodes",
                )
                .label("this cluster")
                .help("add `node NAME` lines inside the cluster block"),
            );
        }
        Ok(())
    }

    fn cluster_stmt(&mut self, s: &Stmt) -> Res<()> {
        let allowed: Vec<&str> = ["node", "alert", "fence-order"]
            .into_iter()
            .chain(CLUSTER_SETTINGS.iter().copied())
            .collect();
        let mut c = Cursor::new(s);
        let Some(kw) = c.next() else {
            return Ok(());
        };
        match kw.text.as_str() {
            "node" => return self.node(s),
            "alert" => return self.alert(s),
            "fence-order" => return self.fence_order(s),
            "quorum" => {
                let t = c.name("a quorum mode: majority, two-node, witness or ignore")?;
                self.policy.cluster.quorum = match t.text.as_str() {
                    "majority" => QuorumMode::Majority,
                    "two-node" => QuorumMode::TwoNode,
                    "ignore" => QuorumMode::Ignore,
                    "witness" => {
                        let w = c.value("the witness's address")?;
                        if w.text.trim().is_empty() {
                            return Err(Diagnostic::error(
                                Code::BadValue,
                                w.span.clone(),
                                "the witness's address is empty",
                            )
                            .label("no address")
                            .help("write `quorum witness \"HOST\"`, the witness's host name or address"));
                        }
                        cursor::check_address(w, "the witness's address")?;
                        QuorumMode::Witness(w.text.clone())
                    }
                    _ => {
                        return Err(bad_choice(
                            t,
                            "quorum mode",
                            &["majority", "two-node", "witness", "ignore"],
                        ))
                    }
                };
            }
            "no-quorum-policy" => {
                let t = c.name("stop, freeze, ignore or demote")?;
                self.policy.cluster.no_quorum_policy = match t.text.as_str() {
                    "stop" => NoQuorumPolicy::Stop,
                    "freeze" => NoQuorumPolicy::Freeze,
                    "ignore" => NoQuorumPolicy::Ignore,
                    "demote" => NoQuorumPolicy::Demote,
                    _ => {
                        return Err(bad_choice(
                            t,
                            "no-quorum policy",
                            &["stop", "freeze", "ignore", "demote"],
                        ))
                    }
                };
            }
            "fencing" => self.policy.cluster.fencing = c.boolean()?,
            "priority-fencing-delay" => {
                let (d, _) = c.duration()?;
                self.policy.cluster.priority_fencing_delay = Some(d).filter(|d| d.as_ms() > 0);
            }
            "start-failure-is-fatal" => self.policy.cluster.start_failure_is_fatal = c.boolean()?,
            "stop-orphans" => self.policy.cluster.stop_orphans = c.boolean()?,
            "ties" => {
                let t = c.name("stay or spread")?;
                self.policy.cluster.spread_ties = match t.text.as_str() {
                    "stay" => false,
                    "spread" => true,
                    _ => return Err(bad_choice(t, "tie rule", &["stay", "spread"])),
                };
            }
            "placement-strategy" => {
                let t = c.name("default, utilization, minimal or balanced")?;
                self.policy.cluster.strategy = match t.text.as_str() {
                    "default" => PlacementStrategy::Default,
                    "utilization" => PlacementStrategy::Utilization,
                    "minimal" => PlacementStrategy::Minimal,
                    "balanced" => PlacementStrategy::Balanced,
                    _ => {
                        return Err(bad_choice(
                            t,
                            "placement strategy",
                            &["default", "utilization", "minimal", "balanced"],
                        ))
                    }
                };
            }
            "placement" => {
                let t = c.name("symmetric or opt-in")?;
                self.policy.cluster.symmetric = match t.text.as_str() {
                    "symmetric" => true,
                    "opt-in" => false,
                    _ => return Err(bad_choice(t, "placement", &["symmetric", "opt-in"])),
                };
            }
            _ => return Err(unknown_keyword(kw, "in a cluster block", &allowed)),
        }
        c.end()?;
        c.no_block()
    }

    fn node(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        c.word("node")?;
        let name = c.name("the node's name")?;
        cursor::check_name(name, "node")?;
        let mut spec = halo_model::NodeSpec {
            name: name.text.clone(),
            ..Default::default()
        };
        if c.eat_word("address") {
            spec.address = Some(c.value("an address")?.text.clone());
        }
        c.end()?;
        if let Some(prev) = self.node_spans.get(&name.text) {
            return Err(self.duplicate("node", &name.text, &name.span, prev));
        }
        for st in s.block.iter().flat_map(|b| &b.stmts) {
            let mut c = Cursor::new(st);
            let r = (|| -> Res<()> {
                if c.eat_word("address") {
                    let a = c.value("an address")?;
                    if spec.address.is_some() {
                        return Err(Diagnostic::error(
                            Code::Duplicate,
                            a.span.clone(),
                            format!("node `{}` has two addresses", spec.name),
                        )
                        .label("second address")
                        .help("a node has one address; remove one of them"));
                    }
                    spec.address = Some(a.text.clone());
                } else if c.eat_word("capacity") {
                    let what = c.name("what the node offers, e.g. `cpu`")?;
                    let (n, _) = c.integer("the capacity")?;
                    spec.capacity.insert(what.text.clone(), n);
                } else {
                    let key =
                        c.name("`address`, `capacity NAME N` or an attribute `NAME = VALUE`")?;
                    if !c.eat_op("=") {
                        return Err(unknown_keyword(
                            key,
                            "in a node block",
                            &["address", "capacity", "NAME = VALUE"],
                        ));
                    }
                    let v = c.value("the attribute's value")?;
                    spec.attrs.insert(key.text.clone(), v.text.clone());
                }
                c.end()?;
                c.no_block()
            })();
            self.report(r);
        }
        self.node_spans.insert(name.text.clone(), name.span.clone());
        spec.origin = self.origin(&name.span);
        self.policy.cluster.nodes.push(spec);
        Ok(())
    }

    /// `alert NAME "PROGRAM" { to "RECIPIENT"  timeout 30s  NAME = VALUE }`
    fn alert(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        c.word("alert")?;
        let name = c.name("the alert's name")?;
        let path =
            c.value("the program to run, e.g. \"/usr/share/pacemaker/alerts/alert_smtp.sh\"")?;
        c.end()?;
        if path.text.trim().is_empty() {
            return Err(Diagnostic::error(Code::BadValue, path.span.clone(), "the alert's program is empty")
                .label("no program")
                .help("give the path of the program to run, e.g. \"/usr/share/pacemaker/alerts/alert_file.sh\""));
        }
        if let Some(prev) = self
            .policy
            .cluster
            .alerts
            .iter()
            .find(|a| a.name == name.text)
        {
            let prev = self
                .origins
                .get(prev.origin.0 as usize)
                .cloned()
                .unwrap_or_else(|| name.span.clone());
            return Err(self.duplicate("alert", &name.text, &name.span, &prev));
        }
        let mut alert = halo_model::Alert {
            name: name.text.clone(),
            path: path.text.clone(),
            origin: self.origin(&name.span),
            ..Default::default()
        };
        for st in s.block.iter().flat_map(|b| &b.stmts) {
            let mut c = Cursor::new(st);
            let r = (|| -> Res<()> {
                if c.eat_word("to") {
                    alert.recipients.push(
                        c.value("the recipient, e.g. \"ops@example.com\"")?
                            .text
                            .clone(),
                    );
                } else if c.eat_word("timeout") {
                    alert.timeout = Some(c.timeout()?);
                } else if c.eat_word("select") {
                    alert.select = Some(alert_kinds(&mut c)?);
                } else {
                    let key = c.name(
                        "`to RECIPIENT`, `timeout D`, `select KINDS` or a setting `NAME = VALUE`",
                    )?;
                    if !c.eat_op("=") {
                        return Err(unknown_keyword(
                            key,
                            "in an alert block",
                            &["to", "timeout", "select", "NAME = VALUE"],
                        ));
                    }
                    let v = c.value("the setting's value")?;
                    alert.params.insert(key.text.clone(), v.text.clone());
                }
                c.end()?;
                c.no_block()
            })();
            self.report(r);
        }
        self.policy.cluster.alerts.push(alert);
        Ok(())
    }

    /// `fence-order NODE { level DEVICE... }`: the node's fencing topology.
    /// Names are checked once every device is declared (check.rs).
    fn fence_order(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        c.word("fence-order")?;
        let node = c.name("the node it fences")?;
        c.end()?;
        if let Some(prev) = self
            .policy
            .cluster
            .fence_orders
            .iter()
            .find(|o| o.node == node.text)
        {
            let prev = self
                .origins
                .get(prev.origin.0 as usize)
                .cloned()
                .unwrap_or_else(|| node.span.clone());
            return Err(self.duplicate("fence-order", &node.text, &node.span, &prev));
        }
        let mut order = halo_model::FenceOrder {
            node: node.text.clone(),
            levels: Vec::new(),
            origin: self.origin(&node.span),
        };
        for st in s.block.iter().flat_map(|b| &b.stmts) {
            let mut c = Cursor::new(st);
            let r = (|| -> Res<halo_model::FenceLevel> {
                let at = c.here();
                c.word("level")?;
                let mut devices = Vec::new();
                while !c.at_end() {
                    devices.push(c.name("a fence device's name")?.text.clone());
                }
                if devices.is_empty() {
                    return Err(Diagnostic::error(
                        Code::Syntax,
                        at.clone(),
                        "a fencing level names no device",
                    )
                    .label("no device")
                    .help("write `level DEVICE...`: the fence devices that must all succeed"));
                }
                c.end()?;
                c.no_block()?;
                Ok(halo_model::FenceLevel {
                    devices,
                    origin: self.origin(&at),
                })
            })();
            match r {
                Ok(level) => order.levels.push(level),
                Err(d) => self.diags.push(d),
            }
        }
        if order.levels.is_empty() {
            return Err(Diagnostic::error(
                Code::Syntax,
                node.span.clone(),
                format!("the fence order of `{}` has no level", node.text),
            )
            .label("no `level` lines")
            .help("add `level DEVICE...` lines, tried in order: `fence-order n1 { level ipmi-n1  level pdu-a pdu-b }`"));
        }
        if order.levels.len() > halo_model::MAX_FENCE_LEVELS {
            return Err(Diagnostic::error(
                Code::TooMany,
                node.span.clone(),
                format!(
                    "the fence order of `{}` has {} levels, more than the {} Pacemaker allows",
                    node.text,
                    order.levels.len(),
                    halo_model::MAX_FENCE_LEVELS
                ),
            )
            .label("too many levels")
            .help(
                "merge levels: each level's devices must all succeed, and levels are alternatives",
            ));
        }
        self.policy.cluster.fence_orders.push(order);
        Ok(())
    }

    fn defaults(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        c.word("defaults")?;
        c.end()?;
        if let Some(prev) = &self.defaults_span {
            return Err(self.duplicate("defaults block", "defaults", &s.span, prev));
        }
        self.defaults_span = Some(s.span.clone());
        if let Some(b) = &s.block {
            self.once_each(&b.stmts, META_SETTINGS, "the defaults block");
        }
        for st in s.block.iter().flat_map(|b| &b.stmts) {
            let mut c = Cursor::new(st);
            let r = (|| -> Res<()> {
                if c.eat_word("op-timeout") {
                    self.policy.op_timeout = Some(c.timeout()?);
                } else {
                    let mut meta = std::mem::take(&mut self.policy.defaults);
                    let r = resources::meta_stmt(
                        &mut c,
                        &mut meta,
                        "in a defaults block",
                        &["op-timeout"],
                    );
                    self.policy.defaults = meta;
                    r?;
                }
                c.end()?;
                c.no_block()
            })();
            self.report(r);
        }
        Ok(())
    }

    /// Resolves a node name, with a suggestion when it is unknown.
    pub fn node_ref(&self, t: &Token) -> Res<String> {
        if self.node_spans.contains_key(&t.text) {
            return Ok(t.text.clone());
        }
        let help =
            suggest(&t.text, self.node_spans.keys().map(String::as_str)).unwrap_or_else(|| {
                format!(
                    "the cluster's nodes are: {}",
                    self.node_spans
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        Err(Diagnostic::error(
            Code::UnknownNode,
            t.span.clone(),
            format!("unknown node `{}`", t.text),
        )
        .label("not a node of this cluster")
        .help(help))
    }

    /// Resolves `name`, `name.role` or `name.action`.
    pub fn rsc_ref(&self, c: &mut Cursor<'_>, what: &str) -> Res<Ref> {
        let t = c.name(what)?;
        let (name, suffix) = match t.kind {
            syntax::TokenKind::Word => match t.text.rsplit_once('.') {
                Some((n, s)) if SUFFIXES.contains(&s) => (n.to_string(), Some(s.to_string())),
                _ => (t.text.clone(), None),
            },
            _ => {
                // A quoted name may be followed by `.role` as a separate word.
                let suffix = c
                    .peek_word()
                    .and_then(|w| w.strip_prefix('.'))
                    .filter(|s| SUFFIXES.contains(s))
                    .map(str::to_string);
                if suffix.is_some() {
                    c.next();
                }
                (t.text.clone(), suffix)
            }
        };
        let Some(id) = self.policy.find(&name) else {
            let help = suggest(&name, self.rsc_spans.keys().map(String::as_str))
                .unwrap_or_else(|| "declare it with `resource NAME: AGENT`".to_string());
            return Err(Diagnostic::error(
                Code::UnknownResource,
                t.span.clone(),
                format!("unknown resource `{name}`"),
            )
            .label("not declared")
            .help(help));
        };
        Ok(Ref {
            id,
            name,
            suffix,
            span: t.span.clone(),
        })
    }

    fn push_constraint(&mut self, kind: ConstraintKind, span: &Span) {
        let origin = self.origin(span);
        self.policy
            .constraints
            .push(halo_model::Constraint { kind, origin });
    }

    fn location(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        let avoid = c.next().is_some_and(|t| t.text == "avoid");
        let r = self.rsc_ref(&mut c, "a resource")?;
        let role = r.role()?;
        let target = if c.eat_word("on") {
            let mut nodes = Vec::new();
            while let Some(w) = c.peek() {
                if w.is_word("score") {
                    break;
                }
                c.next();
                nodes.push(self.node_ref(w)?);
            }
            if nodes.is_empty() {
                return Err(c.expected("a node name"));
            }
            LocationTarget::Nodes(nodes)
        } else if c.eat_word("where") {
            LocationTarget::Rule(rules::rule(&mut c)?)
        } else {
            return Err(c.expected("`on NODE` or `where RULE`"));
        };
        let mut score = LocationScore::Fixed(Score::INF);
        if c.eat_word("score") {
            // `score from ATTR`: each node's value of a node attribute
            // (Pacemaker's score-attribute).
            if avoid && c.peek_word() == Some("from") {
                let from = c.here();
                return Err(Diagnostic::error(
                    Code::Syntax,
                    from,
                    "`avoid` takes a fixed score, not one from an attribute",
                )
                .label("a score from a node attribute")
                .help(
                    "write `prefer ... score from ATTR`: a node whose value is negative is avoided",
                ));
            }
            score = if c.eat_word("from") {
                LocationScore::Attribute(
                    c.name("a node attribute whose value is the score")?
                        .text
                        .clone(),
                )
            } else {
                LocationScore::Fixed(c.score()?)
            };
        }
        c.end()?;
        c.no_block()?;
        if let (true, LocationScore::Fixed(s)) = (avoid, &mut score) {
            *s = Score::new(-s.value().abs());
        }
        self.push_constraint(
            ConstraintKind::Location {
                rsc: r.id,
                role,
                target,
                score,
            },
            &s.span,
        );
        Ok(())
    }

    fn colocation(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        let separate = c.next().is_some_and(|t| t.text == "separate");
        let dep = self.rsc_ref(&mut c, "the resource to place")?;
        c.word(if separate { "from" } else { "with" })?;
        let primary = self.rsc_ref(&mut c, "the resource it follows")?;
        // `by ATTR`: nodes alike in that attribute count as one place
        // (Pacemaker's `node-attribute`); `by name` is the node itself.
        let (mut node_attribute, mut by_given) = (None, false);
        let mut score = None;
        while !c.at_end() {
            if !by_given && c.eat_word("by") {
                let attr =
                    c.name("a node attribute (`by site`: on a node with the same `site`)")?;
                by_given = true;
                if attr.text != "name" {
                    node_attribute = Some(attr.text.clone());
                }
            } else if score.is_none() && c.eat_word("score") {
                score = Some(c.score()?);
            } else {
                let what = match (by_given, score.is_some()) {
                    (false, false) => "`by ATTRIBUTE`, `score N` or the end of the line",
                    (false, true) => "`by ATTRIBUTE` or the end of the line",
                    (true, false) => "`score N` or the end of the line",
                    (true, true) => "the end of the line",
                };
                return Err(c.expected(what));
            }
        }
        let mut score = score.unwrap_or(Score::INF);
        c.end()?;
        c.no_block()?;
        if separate {
            score = Score::new(-score.value().abs());
        }
        if dep.id == primary.id {
            return Err(Diagnostic::error(
                Code::SelfColocation,
                primary.span.clone(),
                format!("`{}` is colocated with itself", dep.name),
            )
            .label("same resource")
            .help("a colocation relates two different resources"));
        }
        let (dependent_role, primary_role) = (dep.role()?, primary.role()?);
        self.push_constraint(
            ConstraintKind::Colocation {
                dependent: dep.id,
                dependent_role,
                primary: primary.id,
                primary_role,
                score,
                node_attribute,
            },
            &s.span,
        );
        Ok(())
    }

    /// `order a then b then c [needs N] [optional] [asymmetric]`; a link of
    /// the chain may be `x or y`: any one of them satisfies what follows.
    fn order(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        c.word("order")?;
        let mut chain = vec![self.order_link(&mut c, "the first resource")?];
        while c.eat_word("then") {
            chain.push(self.order_link(&mut c, "the resource that follows")?);
        }
        if chain.len() < 2 {
            return Err(c.expected("`then RESOURCE`"));
        }
        let (mut kind, mut symmetrical) = (OrderKind::Mandatory, true);
        let mut first_min = None;
        while !c.at_end() {
            if c.eat_word("needs") {
                first_min = Some(c.count("how many instances of the first clone")?);
            } else if c.eat_word("optional") {
                kind = OrderKind::Optional;
                if c.eat_word("restart") {
                    kind = OrderKind::Restart;
                }
            } else if c.eat_word("mandatory") {
                kind = OrderKind::Mandatory;
            } else if c.eat_word("asymmetric") {
                symmetrical = false;
            } else if c.eat_word("symmetric") {
                symmetrical = true;
            } else {
                return Err(c.expected(
                    "`then`, `or`, `optional` (`optional restart`), `asymmetric` or `needs N`",
                ));
            }
        }
        c.no_block()?;
        for pair in chain.windows(2) {
            let [firsts, thens] = pair else { continue };
            // Any one of several firsts will do: a threshold of one by default.
            let any_of: Vec<RscId> = if firsts.len() > 1 {
                firsts.iter().map(|r| r.id).collect()
            } else {
                Vec::new()
            };
            let min = if any_of.is_empty() {
                first_min
            } else {
                first_min.or(Some(1))
            };
            for a in firsts {
                for b in thens {
                    if a.id == b.id {
                        return Err(Diagnostic::error(
                            Code::SelfOrder,
                            b.span.clone(),
                            format!("`{}` is ordered after itself", a.name),
                        )
                        .label("same resource")
                        .help("an order relates two different resources"));
                    }
                    let (first_action, then_action) = (a.action()?, b.action()?);
                    self.push_constraint(
                        ConstraintKind::Order {
                            first: a.id,
                            first_action,
                            then: b.id,
                            then_action,
                            kind,
                            symmetrical,
                            first_min: min,
                            any_of: any_of.clone(),
                        },
                        &s.span,
                    );
                }
            }
        }
        Ok(())
    }

    /// One link of an order chain: `RESOURCE[.action]`, or several joined by
    /// `or`, all with the same action.
    fn order_link(&self, c: &mut Cursor<'_>, what: &str) -> Res<Vec<Ref>> {
        let mut link = vec![self.rsc_ref(c, what)?];
        while c.eat_word("or") {
            let r = self.rsc_ref(c, "another resource that can satisfy the order")?;
            if r.action()? != link[0].action()? {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    r.span.clone(),
                    format!("`{}` takes another action than `{}`", r.name, link[0].name),
                )
                .label("another action")
                .help(
                    "the resources joined by `or` share one action: write the same suffix on each",
                ));
            }
            if link.iter().any(|x| x.id == r.id) {
                return Err(Diagnostic::error(
                    Code::BadValue,
                    r.span.clone(),
                    format!("`{}` is named twice in one `or`", r.name),
                )
                .label("named again")
                .help("name each resource once"));
            }
            link.push(r);
        }
        Ok(link)
    }
}

const SUFFIXES: &[&str] = &[
    "promoted",
    "unpromoted",
    "started",
    "start",
    "stop",
    "promote",
    "demote",
    "monitor",
];

/// A reference to a resource, with an optional `.role` or `.action` suffix.
pub(crate) struct Ref {
    pub id: RscId,
    pub name: String,
    pub suffix: Option<String>,
    pub span: Span,
}

impl Ref {
    pub fn role(&self) -> Res<Option<Role>> {
        match self.suffix.as_deref() {
            None => Ok(None),
            Some("promoted") => Ok(Some(Role::Promoted)),
            Some("unpromoted") => Ok(Some(Role::Unpromoted)),
            Some("started") => Ok(Some(Role::Started)),
            Some(other) => Err(Diagnostic::error(
                Code::BadRole,
                self.span.clone(),
                format!("`.{other}` is an action, not a role"),
            )
            .label("expected a role")
            .help(format!(
                "use `{}.promoted`, `{}.unpromoted` or `{}`",
                self.name, self.name, self.name
            ))),
        }
    }

    pub fn action(&self) -> Res<OpAction> {
        match self.suffix.as_deref() {
            None | Some("start") => Ok(OpAction::Start),
            Some("stop") => Ok(OpAction::Stop),
            Some("promote") => Ok(OpAction::Promote),
            Some("demote") => Ok(OpAction::Demote),
            Some("monitor") => Err(Diagnostic::error(
                Code::BadAction,
                self.span.clone(),
                "monitors cannot be ordered",
            )
            .label("not orderable")
            .help(format!(
                "order `{}.start`, `.stop`, `.promote` or `.demote`",
                self.name
            ))),
            Some(other) => Err(Diagnostic::error(
                Code::BadAction,
                self.span.clone(),
                format!("`.{other}` is a role, not an action"),
            )
            .label("expected an action")
            .help(format!(
                "use `{}.start`, `.stop`, `.promote` or `.demote`",
                self.name
            ))),
        }
    }
}

/// Cluster settings that hold one value.
const CLUSTER_SETTINGS: &[&str] = &[
    "quorum",
    "no-quorum-policy",
    "fencing",
    "priority-fencing-delay",
    "placement",
    "start-failure-is-fatal",
    "stop-orphans",
    "ties",
    "placement-strategy",
];

/// Resource (and defaults) settings that hold one value.
pub(crate) const META_SETTINGS: &[&str] = &[
    "stickiness",
    "migration-threshold",
    "failure-timeout",
    "priority",
    "managed",
    "allow-migrate",
    "requires",
    "multiple-active",
    "target-role",
    "op-timeout",
    "clone-max",
    "clone-node-max",
    "promoted-max",
    "promoted-node-max",
    "globally-unique",
    "interleave",
    "notify",
    "timeout",
    "retries",
];

impl Lower {
    /// A setting that holds one value may be given once in a block: a
    /// second one (`fencing on` ... `fencing off`) would silently replace
    /// the first, so it is an error that names both places.
    pub(crate) fn once_each(&mut self, stmts: &[Stmt], single: &[&str], place: &str) {
        let mut seen: BTreeMap<&str, &Span> = BTreeMap::new();
        for st in stmts {
            let Some(kw) = st.keyword() else { continue };
            let Some(name) = single.iter().find(|k| kw.is_word(k)) else {
                continue;
            };
            let Some(first) = seen.get(name) else {
                seen.insert(name, &kw.span);
                continue;
            };
            let at = match &self.text {
                Some((text, lines)) => {
                    let (line, col) = lines.line_col(text, first.range.start);
                    format!("line {line}, column {col}")
                }
                None => "earlier".to_string(),
            };
            self.diags.push(
                Diagnostic::error(
                    Code::DuplicateSetting,
                    kw.span.clone(),
                    format!("`{name}` is set twice in {place}"),
                )
                .label("set again here")
                .help(format!(
                    "it is first set at {at}; one value holds, so keep one of the two lines"
                )),
            );
        }
    }
}

pub(crate) fn duplicate(what: &str, name: &str, at: &Span, prev: &Span) -> Diagnostic {
    let _ = prev;
    Diagnostic::error(
        Code::Duplicate,
        at.clone(),
        format!("{what} `{name}` is declared twice"),
    )
    .label("second declaration")
    .help("names must be unique; rename or remove one of them")
}

pub(crate) fn bad_choice(t: &Token, what: &str, allowed: &[&str]) -> Diagnostic {
    let help = suggest(&t.text, allowed.iter().copied())
        .unwrap_or_else(|| format!("choose one of: {}", allowed.join(", ")));
    Diagnostic::error(
        Code::BadValue,
        t.span.clone(),
        format!("`{}` is not a {what}", t.text),
    )
    .label(format!("expected a {what}"))
    .help(help)
}

/// `select nodes fencing resources`: the kinds of event an alert is run for.
fn alert_kinds(c: &mut Cursor) -> Res<Vec<halo_model::AlertKind>> {
    use halo_model::AlertKind;
    let all: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut kinds = Vec::new();
    while !c.at_end() {
        let t = c.name("a kind of event: nodes, fencing or resources")?;
        let Some(k) = AlertKind::parse(&t.text) else {
            let why = if t.text == "attributes" {
                "Halo sends no attribute alerts (Pacemaker's select_attributes)".to_string()
            } else {
                format!("`{}` is not a kind of event", t.text)
            };
            return Err(Diagnostic::error(Code::BadValue, t.span.clone(), why)
                .label("unknown kind")
                .help(format!("select from {}", all.join(", "))));
        };
        kinds.push(k);
    }
    if kinds.is_empty() {
        return Err(
            c.expected("the kinds of event to run the alert for: nodes, fencing, resources")
        );
    }
    kinds.sort_unstable();
    kinds.dedup();
    Ok(kinds)
}
