//! Random CIBs for the differential test, in three kinds that follow the
//! corpus's tiers (`../shared/pcmk-corpus/manifest.json`, `tiers`):
//!
//! - **tier1**: primitives only — location scores and `#uname` rules,
//!   colocations (finite and infinite), orders of every kind (optional,
//!   serialize, asymmetric, with actions), stickiness, priorities,
//!   target-role, unmanaged resources, opt-in clusters, standby, shutting
//!   down and offline nodes, every no-quorum-policy but demote, a stonith
//!   device, migration-threshold, failure-timeout (expired or not),
//!   start-failure-is-fatal, on-fail of every tier-1 kind, disabled
//!   monitors, and histories with failed probes, monitors, starts and stops
//!   (every OCF return code), pending actions, resources active on two
//!   nodes and orphans;
//! - **tier2**: tier 1 plus groups, clones (interleave, globally-unique,
//!   clone-max, clone-node-max, a cloned group) and promotable clones
//!   (promoted-max, promotion scores, role-specific locations and
//!   colocations, failed promotes and demotes, on-fail=demote,
//!   no-quorum-policy=demote), colocations by node attribute and without
//!   influence;
//! - **tier3**: tier 2 plus attribute rules, unclean nodes to fence,
//!   on-fail=fence, utilization with every placement strategy, migratable
//!   resources and resource sets.
//!
//! Every element is written on its own line (or an opening and a closing
//! line around its children) so that `shrink.rs` can take it out.

use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use std::fmt::Write as _;

/// Which part of the feature space a case samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Tier1,
    Tier2,
    Tier3,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Tier1, Kind::Tier2, Kind::Tier3];

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Tier1 => "tier1",
            Kind::Tier2 => "tier2",
            Kind::Tier3 => "tier3",
        }
    }
}

/// Pacemaker's parameter digests for the generated resources' operations
/// (none of them has parameters): one for one-off operations, one for
/// recurring monitors. Without the right digest in the history, Pacemaker
/// restarts the resource for a "definition change".
pub struct Digests {
    pub once: String,
    pub recurring: String,
}

/// The time the generated status was recorded (`execution-date`), and the
/// time every history entry and failure is dated: ten minutes before.
const NOW: u64 = 1_700_000_600;
const THEN: u64 = 1_700_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Online,
    Standby,
    /// Online with the `shutdown` attribute set: leaving the cluster.
    Shutdown,
    Offline,
    /// Left without being expected to: must be fenced before anything it
    /// ran starts elsewhere.
    Unclean,
}

impl NodeState {
    /// Whether the node's operation history counts.
    fn reports(self) -> bool {
        self != NodeState::Offline
    }
}

struct Node {
    name: String,
    state: NodeState,
    /// Permanent node attributes, for rules and node-attribute colocations.
    attrs: Vec<(String, String)>,
    capacity: Option<u32>,
    /// Transient attributes: fail counts, promotion scores, shutdown.
    transient: Vec<(String, String)>,
    lrm: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Agent {
    Dummy,
    Stateful,
}

impl Agent {
    fn name(self) -> &'static str {
        match self {
            Agent::Dummy => "Dummy",
            Agent::Stateful => "Stateful",
        }
    }
}

/// A primitive as configured.
struct Prim {
    id: String,
    agent: Agent,
    meta: Vec<(&'static str, String)>,
    /// The monitors' `on-fail`.
    on_fail: Option<&'static str>,
    /// The monitors are configured `enabled=false`.
    monitor_disabled: bool,
    util: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Primitive,
    Group,
    Clone {
        promotable: bool,
        unique: bool,
        grouped: bool,
        max: Option<usize>,
        node_max: Option<usize>,
        promoted_max: Option<usize>,
    },
}

/// A resource at the top of the tree: what constraints name.
struct Top {
    id: String,
    shape: Shape,
    meta: Vec<(&'static str, String)>,
    /// The primitives: itself, the group's members, or the clone's child
    /// (the members of a cloned group).
    prims: Vec<Prim>,
}

impl Top {
    fn promotable(&self) -> bool {
        matches!(
            self.shape,
            Shape::Clone {
                promotable: true,
                ..
            }
        )
    }
}

struct Gen<'a> {
    r: XorShiftRng,
    kind: Kind,
    d: &'a Digests,
    call: u32,
    fencing: bool,
    /// The CIB's feature set predates per-operation fail counts (3.0.13).
    legacy: bool,
    nodes: Vec<Node>,
    tops: Vec<Top>,
}

/// A random CIB of `kind`, drawn from `seed`.
pub fn generate(seed: u64, kind: Kind, digests: &Digests) -> String {
    let mut g = Gen {
        r: XorShiftRng::seed_from_u64(seed),
        kind,
        d: digests,
        call: 10,
        fencing: false,
        legacy: false,
        nodes: Vec::new(),
        tops: Vec::new(),
    };
    g.fencing = g.chance(if kind == Kind::Tier3 { 0.5 } else { 0.2 });
    g.legacy = g.chance(0.2);
    g.draw_nodes();
    g.draw_resources();
    let mut x = String::new();
    let online = g.nodes.iter().filter(|n| n.state.reports()).count();
    let quorate = online * 2 > g.nodes.len() || g.chance(0.5);
    let _ = writeln!(
        x,
        r#"<cib admin_epoch="0" epoch="1" num_updates="1" have-quorum="{}" validate-with="pacemaker-3.7" crm_feature_set="{}" dc-uuid="1" execution-date="{NOW}">"#,
        u8::from(quorate),
        if g.legacy { "3.0.10" } else { "3.16.2" }
    );
    x.push_str("  <configuration>\n");
    g.write_options(&mut x);
    g.write_nodes(&mut x);
    g.write_resources(&mut x);
    g.write_constraints(&mut x);
    x.push_str("  </configuration>\n");
    g.draw_status();
    g.write_status(&mut x);
    x.push_str("</cib>\n");
    x
}

impl Gen<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.r.random_bool(p)
    }

    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.r.random_range(0..v.len())]
    }

    fn upto(&mut self, n: usize) -> usize {
        self.r.random_range(0..=n)
    }

    fn at_least(&self, kind: Kind) -> bool {
        self.kind >= kind
    }

    fn draw_nodes(&mut self) {
        let n = self.r.random_range(2..=5usize);
        for i in 1..=n {
            let state = match self.r.random_range(0..20) {
                0 | 1 => NodeState::Standby,
                2 => NodeState::Shutdown,
                3 | 4 if self.fencing && self.at_least(Kind::Tier3) => NodeState::Unclean,
                3 | 4 => NodeState::Offline,
                _ => NodeState::Online,
            };
            let mut attrs = Vec::new();
            if self.at_least(Kind::Tier2) && self.chance(0.7) {
                attrs.push(("site".into(), self.pick(&["a", "b"]).into()));
            }
            if self.at_least(Kind::Tier3) && self.chance(0.5) {
                attrs.push(("ram".into(), self.r.random_range(1..=8u32).to_string()));
            }
            let capacity = (self.at_least(Kind::Tier3) && self.chance(0.6))
                .then(|| self.r.random_range(1..=4u32));
            self.nodes.push(Node {
                name: format!("node{i}"),
                state,
                attrs,
                capacity,
                transient: Vec::new(),
                lrm: Vec::new(),
            });
        }
    }

    fn draw_resources(&mut self) {
        let prims = self.r.random_range(1..=5usize);
        for i in 1..=prims {
            let p = self.prim(format!("rsc{i}"), Agent::Dummy);
            let meta = self.top_meta(false);
            self.tops.push(Top {
                id: p.id.clone(),
                shape: Shape::Primitive,
                meta,
                prims: vec![p],
            });
        }
        if !self.at_least(Kind::Tier2) {
            return;
        }
        if self.chance(0.45) {
            let members = (1..=self.r.random_range(2..=3usize))
                .map(|i| self.prim(format!("grp-m{i}"), Agent::Dummy))
                .collect();
            let meta = self.top_meta(false);
            self.tops.push(Top {
                id: "grp".into(),
                shape: Shape::Group,
                meta,
                prims: members,
            });
        }
        if self.chance(0.4) {
            self.draw_clone("cln", false);
        }
        if self.chance(0.35) {
            self.draw_clone("prm", true);
        }
    }

    fn draw_clone(&mut self, id: &str, promotable: bool) {
        let grouped = !promotable && self.chance(0.2);
        let unique = !promotable && !grouped && self.chance(0.2);
        let nodes = self.nodes.len();
        let shape = Shape::Clone {
            promotable,
            unique,
            grouped,
            max: self.chance(0.3).then(|| self.r.random_range(1..=nodes)),
            node_max: (unique && self.chance(0.6)).then_some(2),
            promoted_max: (promotable && self.chance(0.25)).then_some(2),
        };
        let agent = if promotable {
            Agent::Stateful
        } else {
            Agent::Dummy
        };
        let prims = if grouped {
            vec![
                self.prim(format!("{id}-a"), agent),
                self.prim(format!("{id}-b"), agent),
            ]
        } else {
            vec![self.prim(format!("{id}-child"), agent)]
        };
        let mut meta = self.top_meta(promotable);
        if promotable {
            meta.push(("promotable", "true".into()));
        }
        if self.chance(0.4) {
            meta.push(("interleave", "true".into()));
        }
        if unique {
            meta.push(("globally-unique", "true".into()));
        }
        self.tops.push(Top {
            id: id.into(),
            shape,
            meta,
            prims,
        });
    }

    /// A primitive's own meta attributes and operation settings.
    fn prim(&mut self, id: String, agent: Agent) -> Prim {
        let mut meta = Vec::new();
        if self.chance(0.1) {
            meta.push((
                "resource-stickiness",
                self.pick(&["0", "50", "INFINITY"]).into(),
            ));
        }
        if self.chance(0.1) {
            meta.push(("migration-threshold", self.pick(&["1", "2"]).into()));
        }
        if self.chance(0.15) {
            meta.push(("failure-timeout", self.pick(&["60s", "1200s"]).into()));
        }
        if self.at_least(Kind::Tier3) && agent == Agent::Dummy && self.chance(0.3) {
            meta.push(("allow-migrate", "true".into()));
        }
        let mut kinds = vec!["ignore", "block", "stop", "restart", "standby"];
        if agent == Agent::Stateful {
            kinds.push("demote");
        }
        if self.fencing && self.at_least(Kind::Tier3) {
            kinds.push("fence");
        }
        let on_fail = self.chance(0.2).then(|| self.pick(&kinds));
        Prim {
            id,
            agent,
            meta,
            on_fail,
            monitor_disabled: self.chance(0.05),
            util: (self.at_least(Kind::Tier3) && self.chance(0.5))
                .then(|| self.r.random_range(1..=2u32)),
        }
    }

    /// Meta attributes a top-level resource may carry.
    fn top_meta(&mut self, promotable: bool) -> Vec<(&'static str, String)> {
        let mut meta = Vec::new();
        if self.chance(0.12) {
            let roles: &[&str] = if promotable {
                &["Stopped", "Unpromoted", "Started", "Promoted"]
            } else {
                &["Stopped", "Started"]
            };
            meta.push(("target-role", self.pick(roles).into()));
        }
        if self.chance(0.06) {
            meta.push(("is-managed", "false".into()));
        }
        if self.chance(0.2) {
            meta.push(("priority", self.pick(&["1", "5", "10"]).into()));
        }
        meta
    }
}

// Writing the configuration.
impl Gen<'_> {
    fn write_options(&mut self, x: &mut String) {
        let mut opts: Vec<(&str, String)> = vec![("stonith-enabled", self.fencing.to_string())];
        let mut policies = vec!["ignore", "ignore", "stop", "freeze"];
        if self.at_least(Kind::Tier2) {
            policies.push("demote");
        }
        opts.push(("no-quorum-policy", self.pick(&policies).into()));
        if self.chance(0.1) {
            opts.push(("symmetric-cluster", "false".into()));
        }
        if self.chance(0.1) {
            opts.push(("start-failure-is-fatal", "false".into()));
        }
        if self.chance(0.03) {
            opts.push(("stop-all-resources", "true".into()));
        }
        if self.at_least(Kind::Tier3) && self.chance(0.5) {
            let s = self.pick(&["utilization", "balanced", "minimal"]);
            opts.push(("placement-strategy", s.into()));
        }
        x.push_str("    <crm_config>\n      <cluster_property_set id=\"opts\">\n");
        for (k, v) in &opts {
            let _ = writeln!(
                x,
                "        <nvpair id=\"opts-{k}\" name=\"{k}\" value=\"{v}\"/>"
            );
        }
        x.push_str("      </cluster_property_set>\n    </crm_config>\n");
        let mut defaults: Vec<(&str, String)> = Vec::new();
        if let Some(s) = self.pick(&[None, Some("0"), Some("1"), Some("100")]) {
            defaults.push(("resource-stickiness", s.into()));
        }
        if let Some(t) = self.pick(&[None, None, Some("1"), Some("3")]) {
            defaults.push(("migration-threshold", t.into()));
        }
        if defaults.is_empty() {
            return;
        }
        x.push_str("    <rsc_defaults>\n      <meta_attributes id=\"defaults\">\n");
        for (k, v) in &defaults {
            let _ = writeln!(
                x,
                "        <nvpair id=\"d-{k}\" name=\"{k}\" value=\"{v}\"/>"
            );
        }
        x.push_str("      </meta_attributes>\n    </rsc_defaults>\n");
    }

    fn write_nodes(&self, x: &mut String) {
        x.push_str("    <nodes>\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let mut attrs = n.attrs.clone();
            if n.state == NodeState::Standby {
                attrs.push(("standby".into(), "on".into()));
            }
            if attrs.is_empty() && n.capacity.is_none() {
                let _ = writeln!(x, "      <node id=\"{}\" uname=\"{}\"/>", i + 1, n.name);
                continue;
            }
            let _ = writeln!(x, "      <node id=\"{}\" uname=\"{}\">", i + 1, n.name);
            if !attrs.is_empty() {
                let _ = writeln!(x, "        <instance_attributes id=\"{}-a\">", n.name);
                for (k, v) in &attrs {
                    let _ = writeln!(
                        x,
                        "          <nvpair id=\"{}-{k}\" name=\"{k}\" value=\"{v}\"/>",
                        n.name
                    );
                }
                x.push_str("        </instance_attributes>\n");
            }
            if let Some(c) = n.capacity {
                let _ = writeln!(
                    x,
                    "        <utilization id=\"{0}-u\"><nvpair id=\"{0}-cpu\" name=\"cpu\" value=\"{c}\"/></utilization>",
                    n.name
                );
            }
            x.push_str("      </node>\n");
        }
        x.push_str("    </nodes>\n");
    }

    fn write_resources(&self, x: &mut String) {
        x.push_str("    <resources>\n");
        if self.fencing {
            x.push_str("      <primitive id=\"fencer\" class=\"stonith\" type=\"fence_xvm\"/>\n");
        }
        for t in &self.tops {
            match t.shape {
                Shape::Primitive => write_prim(x, &t.prims[0], &t.meta, 6),
                Shape::Group => {
                    let _ = writeln!(x, "      <group id=\"{}\">", t.id);
                    write_meta(x, &t.id, &t.meta, 8);
                    for p in &t.prims {
                        write_prim(x, p, &[], 8);
                    }
                    x.push_str("      </group>\n");
                }
                Shape::Clone {
                    grouped,
                    max,
                    node_max,
                    promoted_max,
                    ..
                } => {
                    let _ = writeln!(x, "      <clone id=\"{}\">", t.id);
                    let mut meta = t.meta.clone();
                    let counts = [
                        ("clone-max", max),
                        ("clone-node-max", node_max),
                        ("promoted-max", promoted_max),
                    ];
                    for (k, v) in counts {
                        if let Some(v) = v {
                            meta.push((k, v.to_string()));
                        }
                    }
                    write_meta(x, &t.id, &meta, 8);
                    if grouped {
                        let _ = writeln!(x, "        <group id=\"{}-g\">", t.id);
                        for p in &t.prims {
                            write_prim(x, p, &[], 10);
                        }
                        x.push_str("        </group>\n");
                    } else {
                        write_prim(x, &t.prims[0], &[], 8);
                    }
                    x.push_str("      </clone>\n");
                }
            }
        }
        x.push_str("    </resources>\n");
    }
}

fn write_meta(x: &mut String, owner: &str, meta: &[(&str, String)], indent: usize) {
    if meta.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(x, "{pad}<meta_attributes id=\"{owner}-meta\">");
    for (k, v) in meta {
        let _ = writeln!(
            x,
            "{pad}  <nvpair id=\"{owner}-{k}\" name=\"{k}\" value=\"{v}\"/>"
        );
    }
    let _ = writeln!(x, "{pad}</meta_attributes>");
}

fn write_prim(x: &mut String, p: &Prim, top_meta: &[(&str, String)], indent: usize) {
    let pad = " ".repeat(indent);
    let _ = writeln!(
        x,
        "{pad}<primitive id=\"{}\" class=\"ocf\" provider=\"pacemaker\" type=\"{}\">",
        p.id,
        p.agent.name()
    );
    let mut meta = p.meta.clone();
    meta.extend(top_meta.iter().cloned());
    write_meta(x, &p.id, &meta, indent + 2);
    if let Some(u) = p.util {
        let _ = writeln!(
            x,
            "{pad}  <utilization id=\"{0}-u\"><nvpair id=\"{0}-cpu\" name=\"cpu\" value=\"{u}\"/></utilization>",
            p.id
        );
    }
    let extra = |role: &str| {
        let mut s = String::new();
        if let Some(f) = p.on_fail {
            if f != "demote" || role == "Promoted" {
                let _ = write!(s, " on-fail=\"{f}\"");
            }
        }
        if p.monitor_disabled {
            s.push_str(" enabled=\"false\"");
        }
        s
    };
    let _ = writeln!(x, "{pad}  <operations>");
    match p.agent {
        Agent::Dummy => {
            let _ = writeln!(
                x,
                "{pad}    <op id=\"{}-mon\" name=\"monitor\" interval=\"10s\"{}/>",
                p.id,
                extra("Started")
            );
        }
        Agent::Stateful => {
            for (role, interval) in [("Promoted", "10s"), ("Unpromoted", "11s")] {
                let _ = writeln!(
                    x,
                    "{pad}    <op id=\"{}-mon-{role}\" name=\"monitor\" interval=\"{interval}\" role=\"{role}\"{}/>",
                    p.id,
                    extra(role)
                );
            }
        }
    }
    let _ = writeln!(x, "{pad}  </operations>");
    let _ = writeln!(x, "{pad}</primitive>");
}

// Constraints.
impl Gen<'_> {
    fn write_constraints(&mut self, x: &mut String) {
        x.push_str("    <constraints>\n");
        for i in 0..self.upto(3) {
            self.write_location(x, i);
        }
        for i in 0..self.upto(3) {
            self.write_colocation(x, i);
        }
        for i in 0..self.upto(3) {
            self.write_order(x, i);
        }
        if self.at_least(Kind::Tier3) && self.tops.len() >= 2 && self.chance(0.25) {
            self.write_set(x);
        }
        x.push_str("    </constraints>\n");
    }

    fn top(&mut self) -> usize {
        self.r.random_range(0..self.tops.len())
    }

    fn score(&mut self) -> &'static str {
        self.pick(&["-INFINITY", "-50", "50", "100", "INFINITY"])
    }

    fn write_location(&mut self, x: &mut String, i: usize) {
        let t = self.top();
        let rsc = self.tops[t].id.clone();
        let score = self.score();
        let role = if self.tops[t].promotable() && self.chance(0.4) {
            " role=\"Promoted\""
        } else {
            ""
        };
        let node = self.nodes[self.r.random_range(0..self.nodes.len())]
            .name
            .clone();
        let rule = self.chance(0.35);
        if !rule {
            let _ = writeln!(
                x,
                "      <rsc_location id=\"loc{i}\" rsc=\"{rsc}\" node=\"{node}\" score=\"{score}\"{role}/>"
            );
            return;
        }
        let _ = writeln!(x, "      <rsc_location id=\"loc{i}\" rsc=\"{rsc}\">");
        let (attr, op, value) = if !self.at_least(Kind::Tier3) || self.chance(0.3) {
            ("#uname", self.pick(&["eq", "ne"]), node)
        } else if self.chance(0.5) {
            (
                "site",
                self.pick(&["eq", "ne"]),
                self.pick(&["a", "b"]).to_string(),
            )
        } else {
            (
                "ram",
                self.pick(&["gt", "lte"]),
                self.r.random_range(1..=8u32).to_string(),
            )
        };
        let scoring = if self.at_least(Kind::Tier3) && attr == "ram" && self.chance(0.4) {
            " score-attribute=\"ram\"".to_string()
        } else {
            format!(" score=\"{score}\"")
        };
        let _ = writeln!(x, "        <rule id=\"loc{i}-r\"{scoring}{role}>");
        let typed = if attr == "ram" {
            " type=\"number\""
        } else {
            ""
        };
        let _ = writeln!(
            x,
            "          <expression id=\"loc{i}-e\" attribute=\"{attr}\" operation=\"{op}\" value=\"{value}\"{typed}/>"
        );
        x.push_str("        </rule>\n      </rsc_location>\n");
    }

    fn role_of(&mut self, t: usize) -> &'static str {
        if self.tops[t].promotable() && self.chance(0.5) {
            self.pick(&["Promoted", "Unpromoted"])
        } else {
            ""
        }
    }

    fn write_colocation(&mut self, x: &mut String, i: usize) {
        let (a, b) = (self.top(), self.top());
        if a == b {
            return;
        }
        let score = self.pick(&["-INFINITY", "-100", "50", "500", "INFINITY"]);
        let mut extra = String::new();
        for (attr, t) in [("rsc-role", a), ("with-rsc-role", b)] {
            let role = self.role_of(t);
            if !role.is_empty() {
                let _ = write!(extra, " {attr}=\"{role}\"");
            }
        }
        if self.at_least(Kind::Tier2) && self.chance(0.1) {
            extra.push_str(" node-attribute=\"site\"");
        }
        if self.at_least(Kind::Tier2) && self.chance(0.1) {
            extra.push_str(" influence=\"false\"");
        }
        let _ = writeln!(
            x,
            "      <rsc_colocation id=\"col{i}\" rsc=\"{}\" with-rsc=\"{}\" score=\"{score}\"{extra}/>",
            self.tops[a].id, self.tops[b].id
        );
    }

    /// The actions an order may name on a resource.
    fn action_of(&mut self, t: usize) -> &'static str {
        if self.tops[t].promotable() && self.chance(0.5) {
            self.pick(&["promote", "demote", "start", "stop"])
        } else {
            self.pick(&["start", "start", "stop"])
        }
    }

    fn write_order(&mut self, x: &mut String, i: usize) {
        let (a, b) = (self.top(), self.top());
        if a == b {
            return;
        }
        let mut extra = String::new();
        let kind = self.pick(&["Mandatory", "Mandatory", "Optional", "Serialize"]);
        let _ = write!(extra, " kind=\"{kind}\"");
        if self.chance(0.2) {
            extra.push_str(" symmetrical=\"false\"");
        }
        if self.chance(0.25) {
            let (fa, ta) = (self.action_of(a), self.action_of(b));
            let _ = write!(extra, " first-action=\"{fa}\" then-action=\"{ta}\"");
        }
        let _ = writeln!(
            x,
            "      <rsc_order id=\"ord{i}\" first=\"{}\" then=\"{}\"{extra}/>",
            self.tops[a].id, self.tops[b].id
        );
    }

    /// A colocation or order over a set of two or three resources.
    fn write_set(&mut self, x: &mut String) {
        let mut members: Vec<usize> = (0..self.tops.len()).collect();
        for i in (1..members.len()).rev() {
            members.swap(i, self.upto(i));
        }
        members.truncate(self.r.random_range(2..=3usize.min(self.tops.len())));
        let sequential = if self.chance(0.3) {
            " sequential=\"false\""
        } else {
            ""
        };
        let (tag, scoring) = if self.chance(0.5) {
            (
                "rsc_colocation",
                format!(" score=\"{}\"", self.pick(&["INFINITY", "100"])),
            )
        } else {
            (
                "rsc_order",
                format!(" kind=\"{}\"", self.pick(&["Mandatory", "Optional"])),
            )
        };
        let _ = writeln!(x, "      <{tag} id=\"set\"{scoring}>");
        let _ = writeln!(x, "        <resource_set id=\"set-a\"{sequential}>");
        for m in members {
            let _ = writeln!(x, "          <resource_ref id=\"{}\"/>", self.tops[m].id);
        }
        let _ = writeln!(x, "        </resource_set>\n      </{tag}>");
    }
}

/// What an instance's history says happened to it on its node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Healthy,
    /// Its monitor returned this code.
    MonitorFailed(u8),
    StartFailed,
    StopFailed,
    /// A start still under way (recorded pending).
    Pending,
    PromoteFailed,
    DemoteFailed,
}

// The status section: where things run and what happened to them.
impl Gen<'_> {
    fn reporting(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.nodes[n].state.reports())
            .collect()
    }

    fn draw_status(&mut self) {
        let reporting = self.reporting();
        for n in &reporting {
            if self.nodes[*n].state == NodeState::Shutdown {
                self.nodes[*n]
                    .transient
                    .push(("shutdown".into(), THEN.to_string()));
            }
        }
        if reporting.is_empty() {
            return;
        }
        for t in 0..self.tops.len() {
            match self.tops[t].shape {
                Shape::Primitive => self.place_primitive(t, &reporting),
                Shape::Group => self.place_group(t, &reporting),
                Shape::Clone { .. } => self.place_clone(t, &reporting),
            }
        }
        if self.chance(0.07) {
            let n = self.pick(&reporting);
            let ops = [self.op("orphan", "start", 0, 0, 0, 0)];
            self.nodes[n]
                .lrm
                .push(lrm_resource("orphan", Agent::Dummy, &ops));
        }
    }

    fn place_primitive(&mut self, t: usize, reporting: &[usize]) {
        let id = self.tops[t].prims[0].id.clone();
        let mut on = Vec::new();
        if self.chance(0.55) {
            on.push(self.pick(reporting));
            if self.chance(0.04) {
                on.push(self.pick(reporting));
                on.dedup();
            }
        }
        for &n in reporting {
            if on.contains(&n) {
                let fate = self.fate(Agent::Dummy, false);
                self.record(n, &id, &id, Agent::Dummy, false, fate);
            } else {
                self.probe(n, &id, &id, Agent::Dummy);
            }
        }
    }

    fn place_group(&mut self, t: usize, reporting: &[usize]) {
        let ids: Vec<String> = self.tops[t].prims.iter().map(|p| p.id.clone()).collect();
        let at = self.chance(0.5).then(|| self.pick(reporting));
        // Sometimes only the first members run (a start that stopped midway).
        let running = if self.chance(0.2) {
            self.r.random_range(1..=ids.len())
        } else {
            ids.len()
        };
        for &n in reporting {
            for (k, id) in ids.iter().enumerate() {
                if at == Some(n) && k < running {
                    let fate = self.fate(Agent::Dummy, false);
                    self.record(n, id, id, Agent::Dummy, false, fate);
                } else {
                    self.probe(n, id, id, Agent::Dummy);
                }
            }
        }
    }

    fn place_clone(&mut self, t: usize, reporting: &[usize]) {
        let Shape::Clone {
            promotable,
            unique,
            node_max,
            ..
        } = self.tops[t].shape
        else {
            return;
        };
        let prims: Vec<(String, Agent)> = self.tops[t]
            .prims
            .iter()
            .map(|p| (p.id.clone(), p.agent))
            .collect();
        let mut promoted_left = usize::from(promotable && self.chance(0.75));
        let mut number = 0;
        for &n in reporting {
            if promotable && self.chance(0.8) {
                let score = self.pick(&["5", "10", "100"]);
                let attr = format!("master-{}", prims[0].0);
                self.nodes[n].transient.push((attr, score.into()));
            }
            let here = match self.r.random_range(0..10) {
                0..=3 => 0,
                4..=8 => 1,
                _ => node_max.unwrap_or(1),
            };
            for _ in 0..here {
                let promoted = promoted_left > 0 && self.chance(0.5);
                promoted_left -= usize::from(promoted);
                for (base, agent) in &prims {
                    let instance = format!("{base}:{number}");
                    // Anonymous instances share their fail counts by the
                    // primitive's own name.
                    let counted = if unique {
                        instance.clone()
                    } else {
                        base.clone()
                    };
                    let fate = self.fate(*agent, promoted);
                    self.record(n, &instance, &counted, *agent, promoted, fate);
                }
                number += 1;
            }
            if here == 0 && self.chance(0.6) {
                for (base, agent) in &prims {
                    let instance = format!("{base}:{number}");
                    self.probe(n, &instance, base, *agent);
                }
            }
        }
    }

    /// What happens to an instance running on its node.
    fn fate(&mut self, agent: Agent, promoted: bool) -> Fate {
        if !self.chance(0.22) {
            return Fate::Healthy;
        }
        let mut fates = vec![
            Fate::MonitorFailed(1),
            Fate::MonitorFailed(7),
            Fate::MonitorFailed(1),
            Fate::MonitorFailed(7),
            Fate::MonitorFailed(2),
            Fate::MonitorFailed(5),
            Fate::MonitorFailed(6),
            Fate::MonitorFailed(if promoted { 191 } else { 190 }),
            Fate::StartFailed,
            Fate::StopFailed,
            Fate::Pending,
        ];
        if agent == Agent::Stateful {
            fates.push(if promoted {
                Fate::DemoteFailed
            } else {
                Fate::PromoteFailed
            });
        }
        self.pick(&fates)
    }

    /// Records an instance's history on node `n`: started (and promoted),
    /// monitored, and what `fate` says; fail counts go under `counted`.
    fn record(
        &mut self,
        n: usize,
        id: &str,
        counted: &str,
        agent: Agent,
        promoted: bool,
        fate: Fate,
    ) {
        let (interval, healthy_rc) = match (agent, promoted) {
            (Agent::Stateful, true) => (10000, 8),
            (Agent::Stateful, false) => (11000, 0),
            (Agent::Dummy, _) => (10000, 0),
        };
        let mut ops = Vec::new();
        let fail = |g: &mut Self, ops: &mut Vec<String>, task: &str, iv: u32, count: &str| {
            ops.push(g.op(id, task, iv, 1, 0, 0));
            g.count_failure(n, counted, task, iv, count);
        };
        match fate {
            Fate::StartFailed => {
                let count = if self.chance(0.5) { "INFINITY" } else { "1" };
                fail(self, &mut ops, "start", 0, count);
            }
            Fate::Pending => ops.push(self.op(id, "start", 0, 193, 0, -1)),
            _ => ops.push(self.op(id, "start", 0, 0, 0, 0)),
        }
        if matches!(fate, Fate::StartFailed | Fate::Pending) {
            self.nodes[n].lrm.push(lrm_resource(id, agent, &ops));
            return;
        }
        if promoted {
            ops.push(self.op(id, "promote", 0, 0, 0, 0));
        }
        match fate {
            Fate::MonitorFailed(rc) if rc >= 190 => {
                ops.push(self.op(id, "monitor", interval, rc, healthy_rc, 0))
            }
            Fate::MonitorFailed(rc) => {
                ops.push(self.op(id, "monitor", interval, rc, healthy_rc, 0));
                self.count_failure(n, counted, "monitor", interval, "1");
            }
            Fate::StopFailed => fail(self, &mut ops, "stop", 0, "INFINITY"),
            Fate::PromoteFailed => fail(self, &mut ops, "promote", 0, "1"),
            Fate::DemoteFailed => fail(self, &mut ops, "demote", 0, "1"),
            _ => ops.push(self.op(id, "monitor", interval, healthy_rc, healthy_rc, 0)),
        }
        self.nodes[n].lrm.push(lrm_resource(id, agent, &ops));
    }

    /// Records a failure of `task` on node `n` in its fail count and last
    /// failure, named as the CIB's feature set says — or, now and then, the
    /// other way, which Pacemaker then does not count.
    fn count_failure(&mut self, n: usize, counted: &str, task: &str, interval: u32, count: &str) {
        let legacy = self.legacy != self.chance(0.08);
        let name = if legacy {
            counted.to_string()
        } else {
            format!("{counted}#{task}_{interval}")
        };
        let t = &mut self.nodes[n].transient;
        if t.iter().any(|(k, _)| *k == format!("fail-count-{name}")) {
            return;
        }
        t.push((format!("fail-count-{name}"), count.into()));
        t.push((format!("last-failure-{name}"), THEN.to_string()));
    }

    /// A probe on node `n` that found the resource stopped (or, now and
    /// then, failed).
    fn probe(&mut self, n: usize, id: &str, counted: &str, agent: Agent) {
        if !self.chance(0.7) {
            return;
        }
        let rc = if self.chance(0.04) { 1 } else { 7 };
        let op = self.op(id, "monitor", 0, rc, 7, 0);
        if rc == 1 {
            self.count_failure(n, counted, "monitor", 0, "1");
        }
        self.nodes[n].lrm.push(lrm_resource(id, agent, &[op]));
    }

    /// One operation history entry, with the transition key saying what was
    /// expected (`expect`), the result (`rc`) and the execution status
    /// (`status`: 0 done, -1 pending).
    fn op(
        &mut self,
        rsc: &str,
        task: &str,
        interval: u32,
        rc: u8,
        expect: u8,
        status: i8,
    ) -> String {
        self.call += 1;
        let c = self.call;
        let digest = if interval == 0 {
            &self.d.once
        } else {
            &self.d.recurring
        };
        let key = format!("{c}:1:{expect}:00000000-0000-0000-0000-000000000000");
        format!(
            "<lrm_rsc_op id=\"{rsc}_{task}_{interval}\" operation_key=\"{rsc}_{task}_{interval}\" operation=\"{task}\" crm-debug-origin=\"differential\" crm_feature_set=\"3.0.14\" transition-key=\"{key}\" transition-magic=\"{status}:{rc};{key}\" call-id=\"{c}\" rc-code=\"{rc}\" op-status=\"{status}\" interval=\"{interval}\" last-rc-change=\"{THEN}\" exec-time=\"1\" queue-time=\"0\" op-digest=\"{digest}\"/>"
        )
    }

    fn write_status(&self, x: &mut String) {
        x.push_str("  <status>\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let id = i + 1;
            let head = match n.state {
                NodeState::Offline => {
                    let _ = writeln!(
                        x,
                        "    <node_state id=\"{id}\" uname=\"{}\" in_ccm=\"false\" crmd=\"offline\" join=\"down\" expected=\"down\"/>",
                        n.name
                    );
                    continue;
                }
                NodeState::Unclean => {
                    "in_ccm=\"false\" crmd=\"offline\" join=\"down\" expected=\"member\""
                }
                _ => "in_ccm=\"true\" crmd=\"online\" join=\"member\" expected=\"member\"",
            };
            let _ = writeln!(
                x,
                "    <node_state id=\"{id}\" uname=\"{}\" {head}>",
                n.name
            );
            if !n.transient.is_empty() {
                let _ = writeln!(x, "      <transient_attributes id=\"{id}\">");
                let _ = writeln!(x, "        <instance_attributes id=\"status-{id}\">");
                for (k, (name, value)) in n.transient.iter().enumerate() {
                    let _ = writeln!(
                        x,
                        "          <nvpair id=\"status-{id}-{k}\" name=\"{name}\" value=\"{value}\"/>"
                    );
                }
                x.push_str("        </instance_attributes>\n      </transient_attributes>\n");
            }
            let _ = writeln!(x, "      <lrm id=\"{id}\">\n        <lrm_resources>");
            for l in &n.lrm {
                let _ = writeln!(x, "          {l}");
            }
            x.push_str("        </lrm_resources>\n      </lrm>\n    </node_state>\n");
        }
        x.push_str("  </status>\n");
    }
}

fn lrm_resource(id: &str, agent: Agent, ops: &[String]) -> String {
    format!(
        "<lrm_resource id=\"{id}\" class=\"ocf\" provider=\"pacemaker\" type=\"{}\">{}</lrm_resource>",
        agent.name(),
        ops.concat()
    )
}
