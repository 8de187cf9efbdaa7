//! The configuration section: properties, nodes, resources, constraints and
//! defaults, turned into Halo's policy IR. What Halo cannot express is listed by
//! name in `unsupported`, never silently dropped.

use crate::xml::Element;
use halo_model::*;
use std::collections::BTreeMap;

#[derive(Default)]
pub(crate) struct Builder<'a> {
    pub policy: Policy,
    /// `origins[o]` is the CIB id of the element an item came from.
    pub origins: Vec<String>,
    pub unsupported: Vec<String>,
    /// What the import leaves out without changing a decision, named for
    /// the operator (see [`crate::Imported::notes`]).
    pub notes: Vec<String>,
    /// CIB id (resource, clone child, cloned group) → Halo resource.
    pub names: BTreeMap<String, RscId>,
    /// The same, for the status's many lookups (see [`Ids`]).
    pub ids: Ids,
    /// What the status fold needs of each resource, by [`RscId`].
    pub facts: Vec<crate::status::Facts>,
    /// Halo resource name → the id Pacemaker prints for its instances.
    pub display: BTreeMap<String, String>,
    /// Node attributes from the nodes section that are node state in Halo.
    pub standby: Vec<String>,
    pub maintenance: Vec<String>,
    /// Whether nodes never seen are fenced (startup-fencing).
    pub startup_fencing: bool,
    /// The time the status is read at (failure-timeout expiry), if known.
    pub now: Option<i64>,
    /// Fail counts are named per resource (`fail-count-RSC`), not per
    /// operation (`fail-count-RSC#OP_INTERVAL`): see `Top` in lib.rs.
    pub legacy_fail_counts: bool,
    /// What `id-ref`s point at.
    pub refs: Refs<'a>,
    /// Clones' clone-min, for the orders that start after them.
    pub clone_min: BTreeMap<RscId, u32>,
    /// Completed live migrations: (resource id, source node, target node).
    pub migrated: Vec<(String, String, String)>,
    /// rsc_defaults sets that apply to resources of given agents: (the
    /// agents, whether any one is enough, the meta attributes).
    pub agent_defaults: Vec<(Vec<AgentMatch>, bool, BTreeMap<String, String>)>,
    /// Each primitive's parameters as Pacemaker digests them (its operations'
    /// own parameters are in the policy).
    pub digest_params: BTreeMap<RscId, BTreeMap<String, String>>,
    /// Digests of each resource's configured parameters computed so far, by
    /// (operation, interval): the same on every node.
    pub digests: std::cell::RefCell<BTreeMap<RscId, Vec<Digested>>>,
    /// Tags: tag id → the ids it names.
    pub tags: BTreeMap<String, Vec<String>>,
    /// Resource templates by id, and the resources made from each.
    pub templates: BTreeMap<&'a str, &'a Element<'a>>,
    pub template_users: BTreeMap<String, Vec<RscId>>,
    /// Active instances of each anonymous clone found so far in the status.
    pub instances_found: BTreeMap<RscId, u32>,
    /// Node name → CIB node id.
    pub node_ids: BTreeMap<String, String>,
    /// The instance attributes of the group and clone being read, nearest
    /// first: a primitive inherits what it does not set itself
    /// (`get_rsc_attributes`).
    pub inherited: Vec<BTreeMap<String, String>>,
    /// CIB ids of resources with `restart-type=restart`.
    pub restart_type: std::collections::BTreeSet<String>,
    /// op_defaults sets with a rule, in the order they apply.
    pub op_default_rules: Vec<OpDefaults>,
    /// Built-in node attributes rules use (`#is_dc`, `#id`, `#kind`), as the
    /// plain node attributes they become.
    pub builtin_attrs: std::collections::BTreeSet<&'static str>,
}

/// The resource each CIB id names, found by a hash of the id. The status looks
/// up an id for every resource on every node (16,000 times at 16 nodes and
/// 1,000 resources): a hash is compared in one step where an ordered map
/// compares strings a dozen times. The hash is FNV-1a, and entries with the
/// same hash are ordered by id: no order depends on anything but the input.
#[derive(Default)]
pub(crate) struct Ids {
    by_hash: Vec<(u64, String, RscId)>,
}

impl Ids {
    pub fn of(names: &BTreeMap<String, RscId>) -> Ids {
        let mut by_hash: Vec<(u64, String, RscId)> =
            names.iter().map(|(k, &r)| (fnv(k), k.clone(), r)).collect();
        by_hash.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ids { by_hash }
    }

    pub fn get(&self, id: &str) -> Option<RscId> {
        let hash = fnv(id);
        let first = self.by_hash.partition_point(|(h, _, _)| *h < hash);
        self.by_hash
            .get(first..)?
            .iter()
            .take_while(|(h, _, _)| *h == hash)
            .find(|(_, k, _)| k == id)
            .map(|(_, _, r)| *r)
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A digest of a resource's parameters for one operation: (operation,
/// interval in ms, digest).
pub type Digested = (String, u64, String);

/// The node attributes Pacemaker's built-in `#is_dc`, `#id` and `#kind` become.
pub(crate) const IS_DC: &str = "is-dc";
pub(crate) const NODE_ID: &str = "node-id";
pub(crate) const NODE_KIND: &str = "node-kind";

/// A resource set of a constraint (or one side of a constraint on a template):
/// its element, for the set's own attributes, and its members in order.
pub(crate) struct Set<'e> {
    pub el: Option<&'e Element<'e>>,
    pub members: Vec<RscId>,
}

impl Set<'_> {
    fn attr(&self, k: &str) -> Option<&str> {
        self.el.and_then(|e| e.attr(k))
    }

    /// `sequential` as written: `None` when absent (defaults differ by place).
    fn sequential(&self) -> Option<bool> {
        self.attr("sequential").map(truthy)
    }

    fn role(&self) -> Option<Role> {
        self.attr("role")
            .and_then(role)
            .filter(|r| *r != Role::Started)
    }

    fn action(&self) -> OpAction {
        self.attr("action")
            .and_then(OpAction::parse)
            .unwrap_or(OpAction::Start)
    }
}

/// An `rsc_expression`: which agents a rule picks (absent parts match any).
#[derive(Clone, Debug)]
pub(crate) struct AgentMatch {
    class: Option<String>,
    provider: Option<String>,
    kind: Option<String>,
}

impl AgentMatch {
    fn matches(&self, class: &str, provider: &str, kind: &str) -> bool {
        self.class.as_deref().is_none_or(|c| c == class)
            && self.provider.as_deref().is_none_or(|p| p == provider)
            && self.kind.as_deref().is_none_or(|t| t == kind)
    }
}

/// An op_defaults set with a rule that picks operations by their resource's
/// agent (`rsc_expression`) and by name and interval (`op_expression`).
pub(crate) struct OpDefaults {
    id: String,
    agents: Vec<AgentMatch>,
    /// (name, interval in ms if the expression gives one)
    ops: Vec<(String, Option<u64>)>,
    /// `boolean-op="or"`: any expression is enough.
    any: bool,
    score: i64,
    timeout: Duration,
}

impl OpDefaults {
    fn of(set: &Element, rule: &Element) -> Result<OpDefaults, String> {
        let id = set.id();
        let mut agents = Vec::new();
        let mut ops = Vec::new();
        for e in &rule.children {
            let a = |k: &str| e.attr(k).map(str::to_string);
            match e.name {
                "rsc_expression" => agents.push(AgentMatch {
                    class: a("class"),
                    provider: a("provider"),
                    kind: a("type"),
                }),
                "op_expression" => {
                    let interval = match e.attr("interval") {
                        None => None,
                        Some(v) => Some(duration(v).ok_or_else(|| {
                            format!("op_defaults rule in '{id}': interval '{v}' is not a duration")
                        })?),
                    };
                    ops.push((a("name").unwrap_or_default(), interval.map(|d| d.as_ms())));
                }
                other => {
                    return Err(format!(
                        "rule in op_defaults set '{id}': a {other} (only agents and operations are expressed)"
                    ))
                }
            }
        }
        let mut timeout = None;
        for p in set.all("nvpair") {
            match (p.attr("name"), p.attr("value")) {
                (Some("timeout"), Some(v)) => {
                    timeout = Some(duration(v).ok_or_else(|| {
                        format!("op_defaults set '{id}': timeout '{v}' is not a duration")
                    })?);
                }
                (Some("record-pending" | "interval"), _) => {}
                (Some(k), _) => return Err(format!("op_defaults set '{id}': {k} under a rule")),
                (None, _) => {}
            }
        }
        let timeout =
            timeout.ok_or_else(|| format!("op_defaults set '{id}': a rule without a timeout"))?;
        Ok(OpDefaults {
            id: id.to_string(),
            agents,
            ops,
            any: rule.attr("boolean-op") == Some("or"),
            score: set_score(set),
            timeout,
        })
    }

    fn applies(
        &self,
        (class, provider, kind): (&str, &str, &str),
        task: &str,
        interval_ms: u64,
    ) -> bool {
        let agents = self.agents.iter().map(|m| m.matches(class, provider, kind));
        let ops = self
            .ops
            .iter()
            .map(|(n, i)| n == task && i.is_none_or(|i| i == interval_ms));
        let mut all = agents.chain(ops);
        if self.any {
            all.any(|x| x)
        } else {
            all.all(|x| x)
        }
    }
}

/// The score a set of name-value pairs is ordered by (its `score`, 0 without;
/// read as Pacemaker's `char2score` reads it).
fn set_score(set: &Element) -> i64 {
    set.attr("score").map_or(0, |v| Score::from_text(v).value())
}

/// Elements that `id-ref` attributes point at, by id (only those referenced).
#[derive(Default)]
pub(crate) struct Refs<'a>(BTreeMap<&'a str, &'a Element<'a>>);

impl<'a> Refs<'a> {
    /// Collects the elements of `root` (read from `text`) that something in it
    /// refers to.
    pub fn of(root: &'a Element<'a>, text: &str) -> Refs<'a> {
        if !text.contains("id-ref") {
            return Refs::default();
        }
        let mut wanted = std::collections::BTreeSet::new();
        let mut stack = vec![root];
        while let Some(e) = stack.pop() {
            if let Some(r) = e.attr("id-ref") {
                wanted.insert(r);
            }
            stack.extend(e.children.iter());
        }
        let mut found = BTreeMap::new();
        if !wanted.is_empty() {
            let mut stack = vec![root];
            while let Some(e) = stack.pop() {
                if e.attr("id-ref").is_none() && wanted.contains(e.id()) {
                    found.insert(e.id(), e);
                }
                stack.extend(e.children.iter());
            }
        }
        Refs(found)
    }

    /// `el` itself, or the element its `id-ref` names.
    fn resolve<'s>(&'s self, el: &'s Element<'a>) -> Option<&'s Element<'a>> {
        match el.attr("id-ref") {
            None => Some(el),
            Some(r) => self.0.get(r).copied(),
        }
    }
}

/// name → value of every nvpair in the sets named `set` directly under `el`,
/// following `id-ref`s to sets and nvpairs defined elsewhere.
pub(crate) fn nvpairs(
    el: &Element,
    set: &str,
    refs: &Refs<'_>,
    unsupported: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in el.all(set) {
        let Some(s) = refs.resolve(s) else {
            unsupported.push(format!(
                "{set} id-ref '{}' to nothing",
                s.attr("id-ref").unwrap_or("")
            ));
            continue;
        };
        if s.first("rule").is_some() {
            unsupported.push(format!("rule in {set} '{}'", s.id()));
            continue;
        }
        for p in s.all("nvpair") {
            let Some(target) = refs.resolve(p) else {
                unsupported.push(format!(
                    "nvpair id-ref '{}' to nothing",
                    p.attr("id-ref").unwrap_or("")
                ));
                continue;
            };
            // A reference may rename the pair it borrows the value of.
            let name = p.attr("name").or(target.attr("name"));
            if let (Some(n), Some(v)) = (name, target.attr("value")) {
                out.insert(n.to_string(), v.to_string());
            }
        }
    }
    out
}

/// A utilization or capacity value as Pacemaker reads it: the leading
/// integer (`10GB` is 10), 0 when there is none.
fn utilization_value(v: &str) -> i64 {
    let v = v.trim();
    let end = v
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(v.len(), |(i, _)| i);
    v[..end].parse().unwrap_or(0)
}

fn truthy(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "on" | "yes" | "y" | "1"
    )
}

/// A score as Pacemaker writes it: an integer or `INFINITY`, with one
/// optional sign (`+-INFINITY` is no score, not `-INFINITY`).
pub(crate) fn score(v: &str) -> Option<Score> {
    let v = v.trim();
    let unsigned = v.strip_prefix('+').unwrap_or(v);
    if unsigned.starts_with(['+', '-']) && unsigned.len() < v.len() {
        return None;
    }
    unsigned.parse::<Score>().ok()
}

fn is_default(v: &str) -> bool {
    v.eq_ignore_ascii_case("default")
}

fn role(v: &str) -> Option<Role> {
    match v {
        "Started" => Some(Role::Started),
        "Master" | "Promoted" => Some(Role::Promoted),
        "Slave" | "Unpromoted" => Some(Role::Unpromoted),
        "Stopped" => Some(Role::Stopped),
        _ => None,
    }
}

/// Beyond about a year is no interval or timeout anybody means.
const YEAR_MS: u64 = 366 * 24 * 3_600_000;

/// Pacemaker durations: `10s`, `1m`, `500ms`, `10` (seconds), ISO-8601
/// periods as `crm_time_parse_duration` (lib/common/iso8601.c) reads them
/// (`PT10S`, `P40S`, `P1DT2H`; here a month counts 30 days, a year 365).
fn duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Some(iso) = v.strip_prefix('P') {
        let (mut secs, mut num, mut time) = (0u64, String::new(), false);
        for c in iso.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            if c == 'T' && num.is_empty() && !time {
                time = true;
                continue;
            }
            let n: u64 = num.parse().ok()?;
            num.clear();
            let unit = match (c, time) {
                ('Y', false) => 365 * 86_400,
                ('M', false) => 30 * 86_400,
                ('W', false) => 7 * 86_400,
                ('D', false) => 86_400,
                ('H', _) => 3600,
                ('M', true) => 60,
                ('S', _) => 1,
                _ => return None,
            };
            secs = secs.checked_add(n.checked_mul(unit)?)?;
        }
        let ms = secs.checked_mul(1000)?;
        return (num.is_empty() && ms <= YEAR_MS).then(|| Duration::from_ms(ms));
    }
    // Pacemaker's units: ms/msec, s/sec, m/min, h/hr.
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "ms" | "msec" => Some(n),
        "" | "s" | "sec" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" | "hr" => n.checked_mul(3_600_000),
        _ => return None,
    }?;
    (ms <= YEAR_MS).then(|| Duration::from_ms(ms))
}

/// The cluster options Pacemaker 2.1.5 defines (scheduler, controller,
/// fencer and cluster layer): others are ignored by Pacemaker and noted here.
const KNOWN_OPTIONS: &[&str] = &[
    // lib/pengine/common.c
    "no-quorum-policy",
    "symmetric-cluster",
    "maintenance-mode",
    "start-failure-is-fatal",
    "enable-startup-probes",
    "shutdown-lock",
    "shutdown-lock-limit",
    "stonith-enabled",
    "stonith-action",
    "stonith-timeout",
    "have-watchdog",
    "concurrent-fencing",
    "startup-fencing",
    "priority-fencing-delay",
    "cluster-delay",
    "batch-limit",
    "migration-limit",
    "stop-all-resources",
    "stop-orphan-resources",
    "stop-orphan-actions",
    "remove-after-stop",
    "pe-error-series-max",
    "pe-warn-series-max",
    "pe-input-series-max",
    "node-health-strategy",
    "node-health-base",
    "node-health-green",
    "node-health-yellow",
    "node-health-red",
    "placement-strategy",
    // daemons/controld/controld_control.c, with their older names
    "dc-version",
    "cluster-infrastructure",
    "cluster-name",
    "dc-deadtime",
    "cluster-recheck-interval",
    "load-threshold",
    "node-action-limit",
    "election-timeout",
    "shutdown-escalation",
    "join-integration-timeout",
    "crmd-integration-timeout",
    "join-finalization-timeout",
    "crmd-finalization-timeout",
    "transition-delay",
    "crmd-transition-delay",
    "stonith-watchdog-timeout",
    "stonith-max-attempts",
    "fence-reaction",
    "cluster-ipc-limit",
    // read elsewhere: the CIB manager, the controller, legacy defaults
    "enable-acl",
    "last-lrm-refresh",
    "default-resource-stickiness",
    "is-managed-default",
    "default-action-timeout",
    "expected-quorum-votes",
    "notification-agent",
    "notification-recipient",
];

/// The meta attributes Pacemaker 2.1.5 reads for a resource (primitive,
/// group, clone or bundle, `lib/pengine/complex.c`, `clone.c`, `group.c` and
/// the remote-node ones of `utils.c`); others are noted.
const KNOWN_META: &[&str] = &[
    "priority",
    "target-role",
    "is-managed",
    "maintenance",
    "resource-stickiness",
    "resource_stickiness",
    "requires",
    "migration-threshold",
    "failure-timeout",
    "multiple-active",
    "allow-migrate",
    "container-attribute-target",
    "remote-node",
    "remote-port",
    "remote-addr",
    "remote-connect-timeout",
    "remote-allow-migrate",
    "critical",
    "allow-unhealthy-nodes",
    "notify",
    "globally-unique",
    "clone-max",
    "clone-node-max",
    "clone-min",
    "promotable",
    "promoted-max",
    "promoted-node-max",
    "master-max",
    "master-node-max",
    "interleave",
    "ordered",
    "collocated",
    "restart-type",
    "description",
    "resource-failure-stickiness",
];

impl Builder<'_> {
    fn origin(&mut self, id: &str) -> Origin {
        self.origins.push(id.to_string());
        Origin(u32::try_from(self.origins.len() - 1).unwrap_or(u32::MAX))
    }

    fn next_id(&self) -> RscId {
        RscId(u32::try_from(self.policy.resources.len()).unwrap_or(u32::MAX))
    }

    /// `op_defaults`: sets without a rule are the default operation timeout;
    /// sets whose rule picks operations by agent and by name (and interval)
    /// give the operations they pick their timeout, written into each.
    fn op_defaults(&mut self, d: &Element) {
        let mut plain = d.clone();
        let mut ruled = Vec::new();
        // Where the first plain set with a timeout stands: (score, position).
        let mut plain_first: Option<(i64, usize)> = None;
        for (pos, s) in d.children.iter().enumerate() {
            match s.first("rule") {
                Some(rule) => ruled.push((pos, OpDefaults::of(s, rule))),
                None if plain_first.is_none()
                    && s.all("nvpair").any(|p| p.attr("name") == Some("timeout")) =>
                {
                    plain_first = Some((set_score(s), pos));
                }
                None => {}
            }
        }
        plain.children.retain(|s| s.first("rule").is_none());
        // Sets go by their score, highest first, equals in document order;
        // the first to set a value wins (`pe__unpack_dataset_nvpairs`). A
        // rule set after the plain default never gives its timeout.
        let mut rules = Vec::new();
        for (pos, r) in ruled {
            match r {
                Ok(r) => {
                    let ahead = plain_first.is_none_or(|(score, at)| {
                        r.score > score || (r.score == score && pos < at)
                    });
                    if ahead {
                        rules.push(r);
                    }
                }
                Err(e) => self.unsupported.push(e),
            }
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.score));
        self.op_default_rules = rules;
        let m = nvpairs(&plain, "meta_attributes", &self.refs, &mut self.unsupported);
        self.policy.op_timeout = m.get("timeout").and_then(|t| duration(t));
        for k in m
            .keys()
            .filter(|k| !matches!(k.as_str(), "timeout" | "record-pending" | "interval"))
        {
            self.unsupported.push(format!("op_defaults {k}"));
        }
    }

    /// Gives operations without a timeout of their own the one op_defaults
    /// rules pick for them, and writes the start and stop (promote and
    /// demote) Pacemaker always schedules when a rule picks them.
    fn apply_op_defaults(
        &mut self,
        ops: &mut Vec<Operation>,
        agent: (&str, &str, &str),
        promotable: bool,
    ) {
        if self.op_default_rules.is_empty() {
            return;
        }
        for op in ops.iter_mut().filter(|o| o.timeout.is_none()) {
            op.timeout = self.ruled_timeout(agent, op.action.as_str(), op.interval.as_ms());
        }
        let implied: &[OpAction] = if promotable {
            &[
                OpAction::Start,
                OpAction::Stop,
                OpAction::Promote,
                OpAction::Demote,
            ]
        } else {
            &[OpAction::Start, OpAction::Stop]
        };
        for &action in implied {
            if ops.iter().any(|o| o.action == action) {
                continue;
            }
            let Some(i) = self
                .op_default_rules
                .iter()
                .position(|r| r.applies(agent, action.as_str(), 0))
            else {
                continue;
            };
            let (timeout, id) = (
                self.op_default_rules[i].timeout,
                self.op_default_rules[i].id.clone(),
            );
            let origin = self.origin(&id);
            ops.push(Operation {
                action,
                interval: Duration::ZERO,
                timeout: Some(timeout),
                role: None,
                on_fail: None,
                params: BTreeMap::new(),
                disabled: false,
                origin,
            });
        }
    }

    /// The timeout op_defaults rules give an operation without its own.
    fn ruled_timeout(
        &self,
        agent: (&str, &str, &str),
        task: &str,
        interval_ms: u64,
    ) -> Option<Duration> {
        self.op_default_rules
            .iter()
            .find(|r| r.applies(agent, task, interval_ms))
            .map(|r| r.timeout)
    }

    pub fn configuration(&mut self, cfg: &Element) {
        let props = cfg
            .first("crm_config")
            .map(|c| nvpairs(c, "cluster_property_set", &self.refs, &mut self.unsupported))
            .unwrap_or_default();
        self.properties(&props);
        if let Some(d) = cfg.first("rsc_defaults") {
            // Sets whose rule only picks resources by agent apply to those
            // resources (the import writes them into each); plain sets are the
            // defaults.
            let mut plain = d.clone();
            let mut by_agent = Vec::new();
            plain.children.retain(|s| {
                let Some(rule) = s.first("rule") else {
                    return true;
                };
                let exprs: Option<Vec<AgentMatch>> = rule
                    .children
                    .iter()
                    .map(|e| {
                        (e.name == "rsc_expression").then(|| {
                            let a = |k: &str| e.attr(k).map(str::to_string);
                            AgentMatch {
                                class: a("class"),
                                provider: a("provider"),
                                kind: a("type"),
                            }
                        })
                    })
                    .collect();
                match exprs {
                    Some(exprs) if !exprs.is_empty() => {
                        let set: BTreeMap<String, String> = s
                            .all("nvpair")
                            .filter_map(|p| {
                                Some((p.attr("name")?.to_string(), p.attr("value")?.to_string()))
                            })
                            .collect();
                        by_agent.push((exprs, rule.attr("boolean-op") == Some("or"), set));
                        false
                    }
                    _ => true,
                }
            });
            self.agent_defaults = by_agent;
            let m = nvpairs(&plain, "meta_attributes", &self.refs, &mut self.unsupported);
            self.policy.defaults = self.meta(&m, "rsc_defaults");
        }
        if let Some(d) = cfg.first("op_defaults") {
            self.op_defaults(d);
        }
        if let Some(nodes) = cfg.first("nodes") {
            self.nodes(nodes);
        }
        if let Some(rs) = cfg.first("resources") {
            for el in &rs.children {
                self.resource(el, None);
            }
        }
        if props.get("stop-all-resources").is_some_and(|v| truthy(v)) {
            self.stop_all();
        }
        self.unmanage_without_fence_device(&props);
        // Promotion scores set as permanent node attributes name Pacemaker's
        // primitive; Halo looks them up by its resource's name.
        for n in &mut self.policy.cluster.nodes {
            let renamed: Vec<(String, String)> = n
                .attrs
                .keys()
                .filter_map(|k| {
                    let rest = k
                        .strip_prefix("master-")
                        .or_else(|| k.strip_prefix("promotion-"))?;
                    let id = rest.rsplit_once(':').map_or(rest, |(base, _)| base);
                    let r = self
                        .names
                        .get(id)
                        .and_then(|r| self.policy.resources.get(r.index()))?;
                    let new = format!("master-{}", r.name);
                    (new != *k).then(|| (k.clone(), new))
                })
                .collect();
            for (old, new) in renamed {
                if let Some(v) = n.attrs.remove(&old) {
                    n.attrs.entry(new).or_insert(v);
                }
            }
        }
        for t in cfg.first("tags").into_iter().flat_map(|t| t.all("tag")) {
            let refs = t.all("obj_ref").map(|r| r.id().to_string()).collect();
            self.tags.insert(t.id().to_string(), refs);
        }
        if let Some(cs) = cfg.first("constraints") {
            for el in &cs.children {
                self.constraint(el);
            }
        }
        for el in &cfg.children {
            if el.name == "acls" && !el.children.is_empty() {
                self.unsupported.push(format!("{} section", el.name));
            }
        }
        if let Some(t) = cfg.first("fencing-topology") {
            self.fencing_topology(t);
        }
        for a in cfg.first("alerts").into_iter().flat_map(|a| a.all("alert")) {
            self.alert(a);
        }
    }

    /// `stop-all-resources`: every resource, fence devices included, is to
    /// be stopped (Pacemaker assigns none: `pe_flag_stop_everything`). The
    /// policy says so resource by resource, as `target-role` would.
    fn stop_all(&mut self) {
        for r in &mut self.policy.resources {
            if r.parent.is_none() {
                r.meta.target_role = Some(TargetRole::Stopped);
            }
        }
        self.notes.push(
            "cluster option stop-all-resources=true is carried as every resource's target role: stopped"
                .into(),
        );
    }

    /// Fencing levels, as each node's fence order: levels by index, each
    /// with its comma-separated devices (Pacemaker's `fencing-level`). Levels
    /// that choose their nodes by pattern or attribute are not supported.
    fn fencing_topology(&mut self, t: &Element) {
        let mut by_node: BTreeMap<String, Vec<(u32, Vec<String>)>> = BTreeMap::new();
        for l in t.all("fencing-level") {
            let id = l.id();
            if l.attr("target-pattern").is_some() {
                self.unsupported.push(format!(
                    "fencing-level '{id}' chooses its nodes by a pattern: Halo's fence orders name their node"
                ));
                continue;
            }
            // By attribute: the nodes that have it, each named.
            let targets: Vec<String> = match (l.attr("target-attribute"), l.attr("target")) {
                (Some(name), _) => {
                    let value = l.attr("target-value").unwrap_or("");
                    self.policy
                        .cluster
                        .nodes
                        .iter()
                        .filter(|n| n.attrs.get(name).map(String::as_str) == Some(value))
                        .map(|n| n.name.clone())
                        .collect()
                }
                (None, Some(t)) => vec![t.to_string()],
                (None, None) => Vec::new(),
            };
            let (false, Some(index)) = (
                targets.is_empty() && l.attr("target-attribute").is_none(),
                l.attr("index").and_then(|i| i.trim().parse::<u32>().ok()),
            ) else {
                self.unsupported.push(format!(
                    "fencing-level '{id}' without a target and a numeric index"
                ));
                continue;
            };
            let devices: Vec<String> = l
                .attr("devices")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect();
            for target in targets {
                by_node
                    .entry(target)
                    .or_default()
                    .push((index, devices.clone()));
            }
        }
        for (node, mut levels) in by_node {
            levels.sort_by_key(|(i, _)| *i);
            self.policy
                .cluster
                .fence_orders
                .push(halo_model::FenceOrder {
                    node,
                    levels: levels
                        .into_iter()
                        .map(|(_, devices)| halo_model::FenceLevel {
                            devices,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                });
        }
    }

    /// An alert and its recipients. What Halo's alerts do not have (event
    /// filters, per-recipient settings, timestamp formats) is reported.
    fn alert(&mut self, a: &Element) {
        let id = a.id();
        let mut alert = halo_model::Alert {
            name: id.to_string(),
            path: a.attr("path").unwrap_or_default().to_string(),
            params: nvpairs(a, "instance_attributes", &self.refs, &mut self.unsupported),
            ..Default::default()
        };
        let meta = nvpairs(a, "meta_attributes", &self.refs, &mut self.unsupported);
        for (k, v) in &meta {
            match k.as_str() {
                "timeout" => alert.timeout = duration(v),
                _ => self
                    .unsupported
                    .push(format!("alert meta attribute {k} in '{id}'")),
            }
        }
        if let Some(select) = a.first("select") {
            alert.select = self.alert_select(select, id);
        }
        for r in a.all("recipient") {
            if r.first("instance_attributes").is_some() || r.first("meta_attributes").is_some() {
                self.unsupported
                    .push(format!("recipient attributes in '{}'", r.id()));
            }
            alert
                .recipients
                .push(r.attr("value").unwrap_or_default().to_string());
        }
        self.policy.cluster.alerts.push(alert);
    }

    /// The kinds of event an alert's `<select>` lists (Pacemaker's
    /// `unpack_alert_filter`; one that lists none selects every kind);
    /// attribute alerts, which Halo does not send, are reported.
    fn alert_select(&mut self, select: &Element, id: &str) -> Option<Vec<halo_model::AlertKind>> {
        use halo_model::AlertKind;
        let mut kinds = Vec::new();
        for child in &select.children {
            match child.name {
                "select_nodes" => kinds.push(AlertKind::Nodes),
                "select_fencing" => kinds.push(AlertKind::Fencing),
                "select_resources" => kinds.push(AlertKind::Resources),
                "select_attributes" => self.unsupported.push(format!(
                    "alert '{id}' selects attribute changes: Halo sends no attribute alerts"
                )),
                other => self.notes.push(format!(
                    "alert '{id}': <{other}> in <select> is ignored, as Pacemaker ignores it"
                )),
            }
        }
        kinds.sort_unstable();
        kinds.dedup();
        (!kinds.is_empty()).then_some(kinds)
    }

    /// With fencing enabled and no fence device (nor watchdog self-fencing:
    /// `have-watchdog`), Pacemaker manages no resource: each stays as it is,
    /// nothing starts or stops (`pcmk__primitive_assign`, with the flag
    /// `common_unpack` sets for a resource of class stonith). The import
    /// marks every primitive unmanaged, and says so.
    fn unmanage_without_fence_device(&mut self, props: &BTreeMap<String, String>) {
        let watchdog = props.get("have-watchdog").is_some_and(|v| truthy(v));
        let device = self
            .policy
            .resources
            .iter()
            .any(|r| r.primitive().is_some_and(|p| p.fence.is_some()));
        if !self.policy.cluster.fencing || watchdog || device {
            return;
        }
        let mut any = false;
        for r in &mut self.policy.resources {
            if r.primitive().is_some() {
                r.meta.managed = Some(false);
                any = true;
            }
        }
        if any {
            self.notes.push(
                "stonith-enabled is true but no fence device is configured: as in Pacemaker, \
                 every resource is left unmanaged (nothing starts or stops)"
                    .into(),
            );
        }
    }

    /// Reads the cluster options (`crm_config`). Options that only tune the
    /// controller's timing or logging are read as nothing changes a plan.
    fn properties(&mut self, props: &BTreeMap<String, String>) {
        let c = &mut self.policy.cluster;
        c.name = props
            .get("cluster-name")
            .cloned()
            .unwrap_or_else(|| "imported".into());
        c.fencing = props.get("stonith-enabled").is_none_or(|v| truthy(v));
        c.symmetric = props.get("symmetric-cluster").is_none_or(|v| truthy(v));
        // Pacemaker's tie rule: a zero score is no reason to stay.
        c.spread_ties = true;
        c.start_failure_is_fatal = props
            .get("start-failure-is-fatal")
            .is_none_or(|v| truthy(v));
        self.startup_fencing = props.get("startup-fencing").is_none_or(|v| truthy(v));
        c.stop_orphans = props.get("stop-orphan-resources").is_none_or(|v| truthy(v));
        c.no_quorum_policy = match props.get("no-quorum-policy").map(String::as_str) {
            Some("freeze") => NoQuorumPolicy::Freeze,
            Some("ignore") => NoQuorumPolicy::Ignore,
            Some("demote") => NoQuorumPolicy::Demote,
            Some("suicide") => {
                self.unsupported.push("no-quorum-policy 'suicide'".into());
                NoQuorumPolicy::Stop
            }
            _ => NoQuorumPolicy::Stop,
        };
        if let Some(s) = props
            .get("default-resource-stickiness")
            .and_then(|v| score(v))
        {
            self.policy.defaults.stickiness = Some(s);
        }
        for (k, v) in props {
            let unsupported = match k.as_str() {
                "maintenance-mode" => truthy(v),

                "placement-strategy" => {
                    self.policy.cluster.strategy = match v.to_ascii_lowercase().as_str() {
                        "utilization" => PlacementStrategy::Utilization,
                        "minimal" => PlacementStrategy::Minimal,
                        "balanced" => PlacementStrategy::Balanced,
                        _ => PlacementStrategy::Default,
                    };
                    false
                }
                "node-health-strategy" => v != "none",
                "stop-orphan-resources" => false,
                "stop-orphan-actions" if !truthy(v) => {
                    self.notes.push(format!(
                        "cluster option {k}={v} is not carried: a monitor removed from the policy stops running on every node, since Halo's runners run only the policy's monitors"
                    ));
                    false
                }
                "enable-startup-probes" | "stop-orphan-actions" => !truthy(v),
                "priority-fencing-delay" if !self.policy.cluster.fencing => {
                    self.notes.push(format!(
                        "cluster option {k}={v} is not carried: fencing is off (stonith-enabled=false), so it would never be used"
                    ));
                    false
                }
                "priority-fencing-delay" => {
                    self.policy.cluster.priority_fencing_delay =
                        duration(v).filter(|d| d.as_ms() > 0);
                    false
                }
                // Timing of fencing, which a plan does not show: noted.
                "stonith-timeout" | "stonith-watchdog-timeout" => {
                    self.notes.push(format!(
                        "cluster option {k}={v} is not carried: Halo's fence devices have their own timeout and retries, and its watchdog its own timing ([timing] watchdog_ms)"
                    ));
                    false
                }
                _ if !KNOWN_OPTIONS.contains(&k.as_str()) => {
                    self.notes.push(format!(
                        "cluster option {k}={v} is not one Pacemaker 2.1.5 knows: ignored, as Pacemaker ignores it"
                    ));
                    false
                }
                _ => false,
            };
            if unsupported {
                self.unsupported.push(format!("cluster option {k}={v}"));
            }
        }
    }

    fn nodes(&mut self, nodes: &Element) {
        for n in nodes.all("node") {
            let name = n.attr("uname").unwrap_or_else(|| n.id()).to_string();
            if n.attr("type")
                .is_some_and(|t| t != "member" && t != "normal")
            {
                self.unsupported
                    .push(format!("{} node '{name}'", n.attr("type").unwrap_or("")));
                continue;
            }
            let attrs = nvpairs(n, "instance_attributes", &self.refs, &mut self.unsupported);
            let mut spec = NodeSpec {
                name: name.clone(),
                origin: Origin(0),
                ..Default::default()
            };
            spec.origin = self.origin(n.id());
            for (k, v) in nvpairs(n, "utilization", &self.refs, &mut self.unsupported) {
                spec.capacity.insert(k, utilization_value(&v));
            }
            for (k, v) in attrs {
                match k.as_str() {
                    "standby" if truthy(&v) => self.standby.push(name.clone()),
                    "maintenance" if truthy(&v) => self.maintenance.push(name.clone()),
                    "standby" | "maintenance" => {}
                    _ => {
                        spec.attrs.insert(k, v);
                    }
                }
            }
            if let Some(first) = self.node_ids.get(&name) {
                // Two node entries with one name: which one's state and
                // attributes hold is anybody's guess.
                let msg = format!(
                    "node name '{name}' given to more than one node (ids {first} and {})",
                    n.id()
                );
                self.unsupported.push(msg);
                continue;
            }
            self.node_ids.insert(name.clone(), n.id().to_string());
            self.policy.cluster.nodes.push(spec);
        }
    }

    /// A score as Pacemaker's `char2score` reads it: `INFINITY` and integers,
    /// and otherwise the leading integer (`pcmk__scan_ll`), or 0, noted.
    fn char2score(&mut self, k: &str, v: &str, owner: &str) -> Score {
        if let Some(s) = score(v) {
            return s;
        }
        let n = Score::from_text(v).value();
        self.notes.push(format!(
            "{k}={v} of '{owner}' is not a whole number: read as {n}, as Pacemaker reads it"
        ));
        Score::new(n)
    }

    fn meta(&mut self, m: &BTreeMap<String, String>, owner: &str) -> Meta {
        let mut meta = Meta::default();
        if m.get("restart-type")
            .is_some_and(|v| v.eq_ignore_ascii_case("restart"))
        {
            self.restart_type.insert(owner.to_string());
        }
        for (k, v) in m {
            match k.as_str() {
                // `common_unpack` (lib/pengine/complex.c): "default" leaves
                // stickiness at 0 and the threshold at INFINITY; a negative
                // threshold is read as 1.
                "resource-stickiness" | "resource_stickiness" => {
                    meta.stickiness = Some(if is_default(v) {
                        Score::ZERO
                    } else {
                        self.char2score(k, v, owner)
                    })
                }
                "migration-threshold" if !is_default(v) => {
                    let n = self.char2score(k, v, owner).value();
                    // Not a u32: negative.
                    meta.migration_threshold = Some(u32::try_from(n).unwrap_or(1));
                }
                "failure-timeout" => {
                    meta.failure_timeout = duration(v);
                    if meta.failure_timeout.is_none() {
                        self.unsupported
                            .push(format!("failure-timeout={v} of '{owner}'"));
                    }
                }
                "maintenance" if truthy(v) => self
                    .unsupported
                    .push(format!("maintenance mode of resource '{owner}'")),
                "priority" => meta.priority = Some(self.char2score(k, v, owner).value()),
                "is-managed" => meta.managed = Some(truthy(v)),
                "target-role" => {
                    meta.target_role = match v.to_ascii_lowercase().as_str() {
                        "stopped" => Some(TargetRole::Stopped),
                        "started" => Some(TargetRole::Started),
                        "master" | "promoted" => Some(TargetRole::Promoted),
                        "slave" | "unpromoted" => Some(TargetRole::Unpromoted),
                        "#default" => None,
                        other => {
                            self.unsupported
                                .push(format!("target-role={other} of '{owner}'"));
                            None
                        }
                    }
                }
                "allow-migrate" => meta.allow_migrate = Some(truthy(v)),
                "requires" => {
                    meta.requires = match v.as_str() {
                        "nothing" => Some(Requires::Nothing),
                        "quorum" => Some(Requires::Quorum),
                        "fencing" => Some(Requires::Fencing),
                        _ => {
                            self.unsupported.push(format!("requires={v} on '{owner}'"));
                            None
                        }
                    }
                }
                "multiple-active" => {
                    meta.multiple_active = match v.as_str() {
                        "stop_start" => Some(MultipleActive::Restart),
                        "stop_only" => Some(MultipleActive::Stop),
                        "block" => Some(MultipleActive::Block),
                        _ => {
                            self.unsupported
                                .push(format!("multiple-active={v} on '{owner}'"));
                            None
                        }
                    }
                }
                "container" | "remote-node" => self
                    .unsupported
                    .push(format!("guest node resource '{owner}'")),
                _ if !KNOWN_META.contains(&k.as_str()) => self.notes.push(format!(
                    "meta attribute {k}={v} of '{owner}' is not one Pacemaker 2.1.5 knows: ignored, as Pacemaker ignores it"
                )),
                _ => {}
            }
        }
        meta
    }

    fn resource(&mut self, el: &Element, clone: Option<CloneSpec>) -> Option<RscId> {
        match el.name {
            "primitive" => self.primitive(el, None, clone, el.id().to_string()),
            "group" => self.group(el, clone, el.id().to_string()),
            "clone" | "master" => self.clone(el),
            "bundle" => {
                self.unsupported.push(format!("bundle '{}'", el.id()));
                None
            }
            // A template is used by the primitives made from it.
            "template" => None,
            other => {
                self.unsupported
                    .push(format!("element <{other}> in the resources section"));
                None
            }
        }
    }

    fn primitive(
        &mut self,
        el: &Element,
        parent: Option<RscId>,
        clone: Option<CloneSpec>,
        name: String,
    ) -> Option<RscId> {
        // A primitive made from a template takes the template's agent, and its
        // parameters, meta attributes and operations unless it sets its own.
        let template = match el.attr("template") {
            None => None,
            Some(t) => match self.templates.get(t).copied() {
                Some(t) => Some(t),
                None => {
                    self.unsupported
                        .push(format!("unknown template '{t}' of '{}'", el.id()));
                    return None;
                }
            },
        };
        let from = |k: &str| el.attr(k).or_else(|| template.and_then(|t| t.attr(k)));
        if self.names.contains_key(el.id()) {
            self.unsupported
                .push(format!("duplicate resource id '{}'", el.id()));
            return None;
        }
        let class = from("class").unwrap_or("ocf");
        if class == "ocf" && from("provider") == Some("pacemaker") && from("type") == Some("remote")
        {
            self.unsupported
                .push(format!("remote node connection '{}'", el.id()));
            return None;
        }
        let kind = from("type").unwrap_or("").to_string();
        let provider_ok = from("provider").is_none_or(|p| Agent::valid_part(p, false));
        if !Agent::valid_part(&kind, true) || !provider_ok {
            self.unsupported.push(format!(
                "agent '{}:{}:{kind}' of '{}': Halo takes agent names of letters, digits and - _ . + @ (and a path of them)",
                class,
                from("provider").unwrap_or(""),
                el.id()
            ));
            return None;
        }
        let agent_class = match class {
            "ocf" => AgentClass::Ocf,
            "lsb" => AgentClass::Lsb,
            "systemd" => AgentClass::Systemd,
            "service" | "upstart" => AgentClass::Service,
            "stonith" => AgentClass::Stonith,
            other => {
                self.unsupported
                    .push(format!("agent class '{other}' of '{}'", el.id()));
                return None;
            }
        };
        let mut params = BTreeMap::new();
        for src in template.into_iter().chain(std::iter::once(el)) {
            for (k, v) in nvpairs(
                src,
                "instance_attributes",
                &self.refs,
                &mut self.unsupported,
            ) {
                params.insert(k, ParamValue::Text(v));
            }
        }
        for set in self.inherited.iter().rev() {
            for (k, v) in set {
                params
                    .entry(k.clone())
                    .or_insert_with(|| ParamValue::Text(v.clone()));
            }
        }
        let fence = (agent_class == AgentClass::Stonith).then(|| {
            let text = |k: &str| match params.get(k) {
                Some(ParamValue::Text(t)) => Some(t.clone()),
                _ => None,
            };
            let host_map = text("pcmk_host_map")
                .map(|m| {
                    m.split([';', ' ', ','])
                        .filter_map(|p| p.split_once(':'))
                        .map(|(n, plug)| (n.to_string(), plug.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let targets = text("pcmk_host_list")
                .map(|l| {
                    l.split([' ', ',', ';'])
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            // The device's own bound and retries for the power action Halo
            // uses (reboot; off when the cluster fences by powering off).
            let timeout = text("pcmk_reboot_timeout")
                .or_else(|| text("pcmk_off_timeout"))
                .and_then(|t| duration(&t));
            let retries = text("pcmk_reboot_retries")
                .or_else(|| text("pcmk_off_retries"))
                .and_then(|r| r.trim().parse::<u32>().ok())
                .unwrap_or(0);
            // Fencing delays: a base for every target (a per-node mapping
            // is not supported), and a random delay up to a maximum.
            let delay_base = text("pcmk_delay_base").and_then(|t| {
                if t.contains(':') {
                    self.unsupported.push(format!(
                        "pcmk_delay_base={t} of '{}' maps nodes to delays: Halo's delay-base is one duration",
                        el.id()
                    ));
                    None
                } else {
                    duration(&t)
                }
            });
            let delay_max = text("pcmk_delay_max").and_then(|t| duration(&t));
            Box::new(FenceSpec {
                host_map,
                targets,
                timeout,
                retries,
                delay_base,
                delay_max,
            })
        });
        // What Pacemaker digests to tell whether the parameters changed.
        let digest_params: BTreeMap<String, String> = params
            .iter()
            .filter_map(|(k, v)| match v {
                ParamValue::Text(t) => Some((k.clone(), t.clone())),
                ParamValue::Secret(_) => None,
            })
            .collect();
        // Carried by the fence spec now.
        for k in [
            "pcmk_host_map",
            "pcmk_host_list",
            "pcmk_reboot_timeout",
            "pcmk_off_timeout",
            "pcmk_reboot_retries",
            "pcmk_off_retries",
            "pcmk_delay_base",
            "pcmk_delay_max",
        ] {
            params.remove(k);
        }
        let mut ops = Vec::new();
        let own_ops: Vec<&Element> = el
            .first("operations")
            .into_iter()
            .flat_map(|o| o.all("op"))
            .collect();
        let key = |o: &Element| {
            (
                o.attr("name").map(str::to_string),
                o.attr("interval").and_then(duration),
            )
        };
        let inherited = template
            .and_then(|t| t.first("operations"))
            .into_iter()
            .flat_map(|o| o.all("op"))
            .filter(|o| !own_ops.iter().any(|m| key(m) == key(o)));
        for op in inherited.chain(own_ops.iter().copied()) {
            let extra = nvpairs(op, "instance_attributes", &self.refs, &mut self.unsupported);
            let Some(action) = op.attr("name").and_then(OpAction::parse) else {
                // The notification itself is sent (the clone's notify=true),
                // and a reload planned where the agent can reload.
                if let Some(what @ ("notify" | "reload" | "reload-agent")) = op.attr("name") {
                    let does = if what == "notify" {
                        "sends notifications"
                    } else {
                        "reloads"
                    };
                    self.notes.push(format!(
                        "operation '{}' ({what}) of '{}' is not carried: Halo {does} with the cluster's default operation timeout",
                        op.id(),
                        el.id(),
                    ));
                    continue;
                }
                self.notes.push(format!(
                    "operation '{}' ({}) of '{}' is not carried: Halo does not run {} operations",
                    op.id(),
                    op.attr("name").unwrap_or(""),
                    el.id(),
                    op.attr("name").unwrap_or("such")
                ));
                continue;
            };
            // A disabled recurring monitor is not run, but what it declares
            // still holds for its failures (Pacemaker's `custom_action`
            // finds disabled entries too): it is kept, marked disabled.
            let disabled = op.attr("enabled").is_some_and(|v| !truthy(v));
            let recurring = action == OpAction::Monitor
                && op
                    .attr("interval")
                    .and_then(duration)
                    .is_some_and(|d| d > Duration::ZERO);
            if disabled && !recurring {
                self.notes.push(format!(
                    "operation '{}' of '{}' is disabled (enabled=false): not carried",
                    op.id(),
                    el.id()
                ));
                continue;
            }
            // An interval that cannot be read is named: dropping it would
            // silently lose a health check. A timeout that cannot be read is
            // left to the default, as Pacemaker leaves it, and noted.
            let interval = match op.attr("interval") {
                None => Duration::ZERO,
                Some(v) => match duration(v) {
                    Some(d) => d,
                    None => {
                        self.unsupported.push(format!(
                            "operation '{}' of '{}': interval '{v}' is not a duration",
                            op.id(),
                            el.id()
                        ));
                        continue;
                    }
                },
            };
            let timeout = op.attr("timeout").and_then(|v| {
                let d = duration(v);
                if d.is_none() {
                    self.notes.push(format!(
                        "operation '{}' of '{}': timeout '{v}' is not a duration, so the default applies",
                        op.id(),
                        el.id()
                    ));
                }
                d
            });
            let origin = self.origin(op.id());
            ops.push(Operation {
                action,
                interval,
                timeout,
                role: op
                    .attr("role")
                    .and_then(role)
                    .filter(|r| *r != Role::Started),
                on_fail: op.attr("on-fail").and_then(OnFail::parse),
                params: extra,
                disabled,
                origin,
            });
        }
        let promotable = clone.as_ref().is_some_and(|c| c.promotable);
        self.apply_op_defaults(
            &mut ops,
            (class, from("provider").unwrap_or(""), &kind),
            promotable,
        );
        let mut m = BTreeMap::new();
        let mut utilization = BTreeMap::new();
        for src in template.into_iter().chain(std::iter::once(el)) {
            m.extend(nvpairs(
                src,
                "meta_attributes",
                &self.refs,
                &mut self.unsupported,
            ));
            for (k, v) in nvpairs(src, "utilization", &self.refs, &mut self.unsupported) {
                utilization.insert(k, utilization_value(&v));
            }
        }
        let provider = from("provider").unwrap_or("");
        for (exprs, any, set) in &self.agent_defaults {
            let hit = |e: &AgentMatch| e.matches(class, provider, &kind);
            let applies = if *any {
                exprs.iter().any(hit)
            } else {
                exprs.iter().all(hit)
            };
            if applies {
                for (k, v) in set {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let meta = self.meta(&m, el.id());
        if clone.is_none() && parent.is_none() && m.get("notify").is_some_and(|v| truthy(v)) {
            self.notes.push(format!(
                "'{}' has notify=true, which only a clone's instances are sent: nothing to carry, as Pacemaker does nothing with it",
                el.id()
            ));
        }
        let id = self.next_id();
        self.digest_params.insert(id, digest_params);
        if let Some(t) = el.attr("template") {
            self.template_users
                .entry(t.to_string())
                .or_default()
                .push(id);
        }
        let origin = self.origin(el.id());
        self.policy.resources.push(Resource {
            name: name.clone(),
            kind: ResourceKind::Primitive(Primitive {
                agent: Agent {
                    class: agent_class,
                    provider: from("provider").unwrap_or("").to_string(),
                    kind,
                },
                params,
                ops,
                fence,
                utilization,
            }),
            meta,
            clone,
            parent,
            origin,
        });
        self.names.insert(el.id().to_string(), id);
        self.names.insert(name.clone(), id);
        self.display.insert(name, el.id().to_string());
        Some(id)
    }

    fn group(&mut self, el: &Element, clone: Option<CloneSpec>, name: String) -> Option<RscId> {
        let id = self.next_id();
        let origin = self.origin(el.id());
        let m = nvpairs(el, "meta_attributes", &self.refs, &mut self.unsupported);
        let meta = self.meta(&m, el.id());
        self.policy.resources.push(Resource {
            name: name.clone(),
            kind: ResourceKind::Group(Vec::new()),
            meta,
            clone,
            parent: None,
            origin,
        });
        self.names.insert(el.id().to_string(), id);
        self.names.insert(name.clone(), id);
        self.display.insert(name, el.id().to_string());
        let mut members = Vec::new();
        let own = nvpairs(el, "instance_attributes", &self.refs, &mut self.unsupported);
        self.inherited.push(own);
        for p in el.all("primitive") {
            if let Some(m) = self.primitive(p, Some(id), None, p.id().to_string()) {
                members.push(m);
            }
        }
        self.inherited.pop();
        if let Some(ResourceKind::Group(v)) = self
            .policy
            .resources
            .get_mut(id.index())
            .map(|r| &mut r.kind)
        {
            *v = members;
        }
        Some(id)
    }

    fn clone(&mut self, el: &Element) -> Option<RscId> {
        let m = nvpairs(el, "meta_attributes", &self.refs, &mut self.unsupported);
        // A count Halo cannot read, or more than it allows, is named, never
        // dropped for a default.
        let mut refused = Vec::new();
        let mut num = |k: &str| {
            let v = m.get(k)?;
            let limit = if k == "clone-max" {
                halo_model::CLONE_MAX_LIMIT
            } else {
                halo_model::CLONE_NODE_MAX_LIMIT
            };
            match v.trim().parse::<u32>() {
                Ok(n) if n <= limit => Some(n),
                Ok(n) => {
                    refused.push(format!(
                        "clone '{}': {k}={n}, more than the {limit} Halo allows",
                        el.id()
                    ));
                    None
                }
                Err(_) => {
                    refused.push(format!("clone '{}': {k}='{v}' is not a count", el.id()));
                    None
                }
            }
        };
        let promotable = el.name == "master" || m.get("promotable").is_some_and(|v| truthy(v));
        let spec = CloneSpec {
            promotable,
            max: num("clone-max"),
            node_max: num("clone-node-max").unwrap_or(1),
            promoted_max: num("promoted-max")
                .or_else(|| num("master-max"))
                .unwrap_or(1),
            promoted_node_max: num("promoted-node-max")
                .or_else(|| num("master-node-max"))
                .unwrap_or(1),
            interleave: m.get("interleave").is_some_and(|v| truthy(v)),
            unique: m.get("globally-unique").is_some_and(|v| truthy(v)),
            notify: m.get("notify").is_some_and(|v| truthy(v)),
        };
        self.unsupported.append(&mut refused);
        let clone_min = m.get("clone-min").map(|v| v.parse::<u32>().unwrap_or(0));
        let meta = self.meta(&m, el.id());
        let child = el
            .children
            .iter()
            .find(|c| matches!(c.name, "primitive" | "group"));
        let own = nvpairs(el, "instance_attributes", &self.refs, &mut self.unsupported);
        self.inherited.push(own);
        let id = match child {
            Some(c) if c.name == "primitive" => {
                self.primitive(c, None, Some(spec), el.id().to_string())
            }
            Some(c) => self.group(c, Some(spec), el.id().to_string()),
            None => {
                self.unsupported
                    .push(format!("clone '{}' without a primitive or group", el.id()));
                None
            }
        };
        self.inherited.pop();
        let id = id?;
        // An instance's meta attributes are its own first, then what the
        // clone sets, then the defaults (`get_meta_attributes`): what the
        // child sets itself wins over the clone, the clone over the
        // defaults the child took. Only the clone's priority orders clones.
        let mut ignored = Vec::new();
        let set_by_child = child
            .map(|c| nvpairs(c, "meta_attributes", &self.refs, &mut ignored))
            .unwrap_or_default();
        let child_sets = |k: &str| {
            set_by_child.contains_key(k) || set_by_child.contains_key(&k.replace('-', "_"))
        };
        if let Some(r) = self.policy.resources.get_mut(id.index()) {
            let own = &mut r.meta;
            macro_rules! merge {
                ($field:ident, $key:literal) => {
                    if !child_sets($key) {
                        own.$field = meta.$field.or(own.$field);
                    }
                };
            }
            merge!(stickiness, "resource-stickiness");
            merge!(migration_threshold, "migration-threshold");
            merge!(failure_timeout, "failure-timeout");
            own.priority = meta.priority.or(own.priority);
            merge!(managed, "is-managed");
            merge!(target_role, "target-role");
            merge!(multiple_active, "multiple-active");
            merge!(allow_migrate, "allow-migrate");
            merge!(requires, "requires");
            // A clone without a stickiness of its own or from the defaults
            // gets 1, so that its instances are not shuffled for nothing
            // (`clone_unpack`); its instances inherit it.
            if own.stickiness.is_none() && self.policy.defaults.stickiness.is_none() {
                own.stickiness = Some(halo_model::Score::new(1));
            }
        }
        if let Some(c) = child {
            self.names.insert(c.id().to_string(), id);
            self.display.insert(el.id().to_string(), c.id().to_string());
        }
        self.names.insert(el.id().to_string(), id);
        if let Some(k) = clone_min {
            self.clone_min.insert(id, k);
        }
        Some(id)
    }

    /// The resources an id names: the resource, or every resource made from
    /// the template of that name.
    fn members_of(&self, id: &str) -> Vec<RscId> {
        match self.names.get(id) {
            Some(&r) => vec![r],
            None => match self.tags.get(id) {
                // A tag names resources (or templates) in order.
                Some(refs) => refs
                    .iter()
                    .flat_map(|r| match self.names.get(r.as_str()) {
                        Some(&x) => vec![x],
                        None => self.template_users.get(r).cloned().unwrap_or_default(),
                    })
                    .collect(),
                None => self.template_users.get(id).cloned().unwrap_or_default(),
            },
        }
    }

    /// The resources a constraint's attribute names. A name that is no
    /// resource, tag or template makes Pacemaker ignore the constraint (and
    /// say so); Halo ignores it too, and notes it.
    fn rscs(&mut self, el: &Element, attr: &str) -> Vec<RscId> {
        let Some(n) = el.attr(attr) else {
            return Vec::new();
        };
        let found = self.members_of(n);
        let known = !found.is_empty()
            || self.tags.contains_key(n)
            || self.templates.contains_key(n)
            || self
                .unsupported
                .iter()
                .any(|u| u.contains(&format!("'{n}'")));
        if !known {
            self.notes.push(format!(
                "constraint '{}' names resource '{n}', which does not exist: it is ignored, as Pacemaker ignores it",
                el.id()
            ));
        }
        found
    }

    /// The resource sets of a constraint. `None` (and the reason recorded)
    /// when a member is unknown.
    fn sets<'e>(&mut self, el: &'e Element<'e>) -> Option<Vec<Set<'e>>> {
        let mut out = Vec::new();
        for s in el.all("resource_set") {
            if s.attr("id-ref").is_some() {
                self.unsupported
                    .push(format!("resource_set id-ref in constraint '{}'", el.id()));
                return None;
            }
            let mut members = Vec::new();
            for r in s.all("resource_ref") {
                let found = self.members_of(r.id());
                if found.is_empty() {
                    self.unsupported.push(format!(
                        "unknown resource '{}' in set '{}'",
                        r.id(),
                        s.id()
                    ));
                    return None;
                }
                members.extend(found);
            }
            out.push(Set {
                el: Some(s),
                members,
            });
        }
        Some(out)
    }

    fn constraint(&mut self, el: &Element) {
        let id = el.id().to_string();
        match el.name {
            "rsc_location" if el.attr("resource-discovery").is_some_and(|v| v != "always") => {
                self.unsupported
                    .push(format!("resource-discovery in location '{id}'"));
            }
            "rsc_location" => self.location(el),
            "rsc_colocation" => self.colocation(el),
            "rsc_order" => self.order(el),
            "rsc_ticket" => self.unsupported.push(format!("ticket constraint '{id}'")),
            _ => {}
        }
    }

    /// A colocation, or a colocation of resource sets expanded into pairs as
    /// Pacemaker does: within a set each member follows the one before it (a
    /// negative score keeps it away from every earlier one); between sets the
    /// earlier set follows the later one.
    fn colocation(&mut self, el: &Element) {
        let id = el.id().to_string();
        let cscore = el.attr("score").and_then(score);
        if el.attr("score").is_some() && cscore.is_none() {
            self.unsupported.push(format!(
                "score '{}' in colocation '{id}'",
                el.attr("score").unwrap_or("")
            ));
            return;
        }
        // (dependent, its role, primary, its role, score)
        type Pair = (RscId, Option<Role>, RscId, Option<Role>, Score);
        let mut pairs: Vec<Pair> = Vec::new();
        if el.first("resource_set").is_some() {
            let Some(sets) = self.sets(el) else { return };
            for set in &sets {
                let local = set
                    .attr("score")
                    .and_then(score)
                    .or(cscore)
                    .unwrap_or(Score::ZERO);
                if local == Score::ZERO || set.sequential() == Some(false) {
                    continue;
                }
                // ordering="listed" (undocumented) keeps the pre-2.0
                // direction: each member follows the one after it.
                let listed = set.attr("ordering") == Some("listed");
                let (m, r) = (&set.members, set.role());
                if local > Score::ZERO {
                    for w in m.windows(2) {
                        if listed {
                            pairs.push((w[0], r, w[1], r, local));
                        } else {
                            pairs.push((w[1], r, w[0], r, local));
                        }
                    }
                } else {
                    for (j, later) in m.iter().enumerate() {
                        for earlier in &m[..j] {
                            pairs.push((*later, r, *earlier, r, local));
                        }
                    }
                }
            }
            if let Some(cs) = cscore.filter(|s| *s != Score::ZERO) {
                for w in sets.windows(2) {
                    let [a, b] = w else { continue };
                    let deps: Vec<RscId> = if a.sequential() == Some(false) {
                        a.members.clone()
                    } else {
                        a.members.first().copied().into_iter().collect()
                    };
                    let prims: Vec<RscId> = if b.sequential() == Some(false) {
                        b.members.clone()
                    } else {
                        b.members.last().copied().into_iter().collect()
                    };
                    for d in &deps {
                        for p in &prims {
                            pairs.push((*d, a.role(), *p, b.role(), cs));
                        }
                    }
                }
            }
        } else {
            let Some(cs) = cscore else {
                self.unsupported
                    .push(format!("colocation '{id}' without a score"));
                return;
            };
            let role_of = |k: &str| el.attr(k).and_then(role).filter(|r| *r != Role::Started);
            for d in self.rscs(el, "rsc") {
                for p in self.rscs(el, "with-rsc") {
                    pairs.push((d, role_of("rsc-role"), p, role_of("with-rsc-role"), cs));
                }
            }
        }
        let node_attribute = self.colocation_attribute(el);
        let origin = self.origin(&id);
        for (dependent, dependent_role, primary, primary_role, score) in pairs {
            if dependent == primary {
                continue;
            }
            if score.is_inf()
                && dependent_role.is_none()
                && primary_role.is_none()
                && self.follows_in_group(dependent, primary)
            {
                self.notes.push(format!(
                    "colocation '{id}' is not written: its group already keeps '{}' with '{}'",
                    self.policy
                        .resource(dependent)
                        .map_or("", |r| r.name.as_str()),
                    self.policy
                        .resource(primary)
                        .map_or("", |r| r.name.as_str()),
                ));
                continue;
            }
            self.policy.constraints.push(Constraint {
                kind: ConstraintKind::Colocation {
                    dependent,
                    dependent_role,
                    primary,
                    primary_role,
                    score,
                    node_attribute: node_attribute.clone(),
                },
                origin,
            });
        }
    }

    /// The node attribute a colocation goes by, `None` for the node itself
    /// (`#uname`). Only a colocation of two resources named directly has
    /// one: Pacemaker turns one that names a tag or template into resource
    /// sets (`unpack_colocation_tags`), and colocations of sets are by node
    /// (`unpack_colocation_set` and `colocate_rsc_sets` pass none); so the
    /// attribute of those is dropped, with a note.
    fn colocation_attribute(&mut self, el: &Element) -> Option<String> {
        let attr = el.attr("node-attribute").filter(|a| *a != "#uname")?;
        let expanded = |n: Option<&str>| {
            n.is_some_and(|n| self.tags.contains_key(n) || self.templates.contains_key(n))
        };
        if el.first("resource_set").is_some()
            || expanded(el.attr("rsc"))
            || expanded(el.attr("with-rsc"))
        {
            self.notes.push(format!(
                "colocation '{}' is by node, not by node-attribute '{attr}': Pacemaker reads a colocation of sets, tags or templates so",
                el.id()
            ));
            return None;
        }
        Some(attr.to_string())
    }

    /// Whether `later` comes after `earlier` in one group, so the group's own
    /// colocation of each member with the one before it already keeps
    /// `later` with `earlier` (pcs writes such colocations).
    fn follows_in_group(&self, later: RscId, earlier: RscId) -> bool {
        let parent = |r: RscId| self.policy.resource(r).and_then(|x| x.parent);
        let Some(g) = parent(later).filter(|g| parent(earlier) == Some(*g)) else {
            return false;
        };
        match self.policy.resource(g).map(|r| &r.kind) {
            Some(halo_model::ResourceKind::Group(members)) => {
                let at = |r: RscId| members.iter().position(|m| *m == r);
                matches!((at(later), at(earlier)), (Some(l), Some(e)) if l > e)
            }
            _ => false,
        }
    }

    /// An order's kind and whether it is symmetrical, from `kind`, the
    /// deprecated `score` and `symmetrical` of `el` (falling back to `outer`).
    /// Serialize orders behave as optional asymmetrical ones in Pacemaker 2.1.
    fn order_kind(el: &Element, outer: Option<&Element>) -> (OrderKind, bool) {
        let pick = |k: &str| el.attr(k).or_else(|| outer.and_then(|o| o.attr(k)));
        let (kind, serialize) = match (pick("kind"), pick("score").and_then(score)) {
            (Some("Optional"), _) => (OrderKind::Optional, false),
            (Some("Serialize"), _) => (OrderKind::Optional, true),
            (None, Some(s)) if s == Score::ZERO => (OrderKind::Optional, false),
            _ => (OrderKind::Mandatory, false),
        };
        let symmetrical = !serialize && pick("symmetrical").is_none_or(truthy);
        (kind, symmetrical)
    }

    /// An order, or an order of resource sets expanded into pairs: members of
    /// a sequential set one after another; between sets, the last of a
    /// sequential set before the first of the next (every member otherwise).
    fn order(&mut self, el: &Element) {
        let id = el.id().to_string();
        let (kind, symmetrical) = Self::order_kind(el, None);
        // (first, first action, then, then action, kind, symmetrical,
        // first_min, any_of)
        type Pair = (
            RscId,
            OpAction,
            RscId,
            OpAction,
            OrderKind,
            bool,
            Option<u32>,
            Vec<RscId>,
        );
        let mut pairs: Vec<Pair> = Vec::new();
        if el.first("resource_set").is_some() {
            let Some(sets) = self.sets(el) else { return };
            for set in &sets {
                let (sk, ssym) = Self::order_kind(set.el.unwrap_or(el), Some(el));
                let a = set.action();
                let serialize = set.attr("kind").or(el.attr("kind")) == Some("Serialize");
                let m = &set.members;
                if serialize {
                    for (j, later) in m.iter().enumerate() {
                        for earlier in &m[..j] {
                            pairs.push((
                                *earlier,
                                a,
                                *later,
                                a,
                                OrderKind::Optional,
                                false,
                                None,
                                vec![],
                            ));
                        }
                    }
                } else if set.sequential() != Some(false) {
                    for w in m.windows(2) {
                        pairs.push((w[0], a, w[1], a, sk, ssym, None, vec![]));
                    }
                }
            }
            for w in sets.windows(2) {
                let [a, b] = w else { continue };
                let (a1, a2) = (a.action(), b.action());
                let require_all = a.attr("require-all").is_none_or(truthy)
                    || matches!(a1, OpAction::Stop | OpAction::Demote);
                let mut from: Vec<RscId> = if a.sequential() == Some(true) {
                    a.members.last().copied().into_iter().collect()
                } else {
                    a.members.clone()
                };
                let mut to: Vec<RscId> = if b.sequential() == Some(true) {
                    b.members.first().copied().into_iter().collect()
                } else {
                    b.members.clone()
                };
                let mut first_min = None;
                let mut any_of = Vec::new();
                if !require_all {
                    // Any one member of the first set (any one instance of a
                    // clone) lets every member of the next start: Pacemaker's
                    // "one-or-more" pseudo-action (order_rsc_sets), whatever
                    // either set's `sequential`.
                    first_min = Some(1);
                    from = a.members.clone();
                    to = b.members.clone();
                    if from.len() > 1 {
                        any_of = from.clone();
                    }
                }
                for x in &from {
                    for y in &to {
                        pairs.push((*x, a1, *y, a2, kind, symmetrical, first_min, any_of.clone()));
                    }
                }
            }
        } else {
            let action = |a: Option<&str>| a.and_then(OpAction::parse);
            // An optional order restarts a `then` with restart-type=restart
            // (`handle_restart_type`; simple orders only).
            let kind = match el.attr("then") {
                Some(t) if kind == OrderKind::Optional && self.restart_type.contains(t) => {
                    OrderKind::Restart
                }
                _ => kind,
            };
            let first_action = action(el.attr("first-action")).unwrap_or(OpAction::Start);
            let then_action = action(el.attr("then-action")).unwrap_or(first_action);
            for first in self.rscs(el, "first") {
                // A clone first: clone-min, else require-all=false (any one
                // instance), makes the order a threshold.
                let first_min = if self
                    .policy
                    .resource(first)
                    .is_some_and(|r| r.clone.is_some())
                {
                    match self.clone_min.get(&first) {
                        Some(&k) => Some(k).filter(|k| *k > 0),
                        None => el
                            .attr("require-all")
                            .is_some_and(|v| !truthy(v))
                            .then_some(1),
                    }
                } else {
                    None
                };
                for then in self.rscs(el, "then") {
                    pairs.push((
                        first,
                        first_action,
                        then,
                        then_action,
                        kind,
                        symmetrical,
                        first_min,
                        vec![],
                    ));
                }
            }
        }
        let origin = self.origin(&id);
        for (first, first_action, then, then_action, kind, symmetrical, first_min, any_of) in pairs
        {
            if first == then {
                continue;
            }
            self.policy.constraints.push(Constraint {
                kind: ConstraintKind::Order {
                    first,
                    first_action,
                    then,
                    then_action,
                    kind,
                    symmetrical,
                    first_min,
                    any_of,
                },
                origin,
            });
        }
    }

    fn location(&mut self, el: &Element) {
        let id = el.id().to_string();
        if el.attr("rsc-pattern").is_some() {
            self.unsupported
                .push(format!("rsc-pattern in location '{id}'"));
            return;
        }
        if el.first("resource_set").is_some() {
            // Each member of each set gets the constraint on its own; a set's
            // score and role stand in for the constraint's.
            let Some(sets) = self.sets(el) else { return };
            for set in sets {
                for m in set.members {
                    self.location_of(el, m, set.el);
                }
            }
            return;
        }
        for rsc in self.rscs(el, "rsc") {
            self.location_of(el, rsc, None);
        }
    }

    /// One location constraint for `rsc`; `set` may override score and role.
    fn location_of(&mut self, el: &Element, rsc: RscId, set: Option<&Element>) {
        let id = el.id().to_string();
        let pick = |k: &str| set.and_then(|s| s.attr(k)).or_else(|| el.attr(k));
        let rsc_role = pick("role").and_then(role).filter(|r| *r != Role::Started);
        if el.attr("node").is_some() && pick("score").and_then(score).is_none() {
            self.unsupported.push(format!(
                "score '{}' in location '{id}'",
                pick("score").unwrap_or("")
            ));
            return;
        }
        if let (Some(node), Some(score)) = (el.attr("node"), pick("score").and_then(score)) {
            let origin = self.origin(&id);
            self.policy.constraints.push(Constraint {
                kind: ConstraintKind::Location {
                    rsc,
                    role: rsc_role,
                    target: LocationTarget::Nodes(vec![node.to_string()]),
                    score: score.into(),
                },
                origin,
            });
            return;
        }
        for r in el.all("rule") {
            let role = r
                .attr("role")
                .and_then(role)
                .filter(|x| *x != Role::Started)
                .or(rsc_role);
            let Some(score) = self.rule_score(r) else {
                continue;
            };
            let Some(rule) = self.rule(r) else { continue };
            let origin = self.origin(r.id());
            self.policy.constraints.push(Constraint {
                kind: ConstraintKind::Location {
                    rsc,
                    role,
                    target: LocationTarget::Rule(rule),
                    score,
                },
                origin,
            });
        }
    }

    /// What a location rule adds where it matches (`generate_location_rule`,
    /// `get_node_score`): its `score` read as `char2score` reads it, else
    /// the node's value of its `score-attribute`, else 0.
    fn rule_score(&mut self, r: &Element) -> Option<LocationScore> {
        if let Some(v) = r.attr("score") {
            return Some(self.char2score("score", v, r.id()).into());
        }
        match r.attr("score-attribute") {
            Some(a) if a.starts_with('#') => {
                self.unsupported
                    .push(format!("score-attribute '{a}' in rule '{}'", r.id()));
                None
            }
            Some(a) => Some(LocationScore::Attribute(a.to_string())),
            None => {
                self.notes.push(format!(
                    "rule '{}' has no score: it adds 0, as Pacemaker assumes",
                    r.id()
                ));
                Some(Score::ZERO.into())
            }
        }
    }

    fn rule(&mut self, r: &Element) -> Option<Rule> {
        let mut parts = Vec::new();
        for e in &r.children {
            match e.name {
                "expression" => {
                    let attr = e.attr("attribute")?;
                    // Built-in attributes that are fixed for a saved CIB become
                    // plain node attributes (set on every node by the import).
                    let builtin = match attr {
                        "#uname" => Some("name"),
                        "#is_dc" => Some(IS_DC),
                        "#id" => Some(NODE_ID),
                        "#kind" => Some(NODE_KIND),
                        _ => None,
                    };
                    if let Some(b) = builtin.filter(|b| *b != "name") {
                        self.builtin_attrs.insert(b);
                    }
                    let attr = builtin.unwrap_or(attr).to_string();
                    if attr.starts_with('#') {
                        self.unsupported
                            .push(format!("node attribute '{attr}' in rule '{}'", r.id()));
                        return None;
                    }
                    // Strings compare as Halo compares them, except numbers
                    // ordered as text.
                    let textual = |v: Option<&str>| {
                        matches!(
                            e.attr("operation"),
                            Some("eq" | "ne" | "defined" | "not_defined")
                        ) || v.is_some_and(|v| v.parse::<i64>().is_err())
                    };
                    if e.attr("type").is_some_and(|t| {
                        t != "number"
                            && t != "integer"
                            && !(t == "string" && textual(e.attr("value")))
                    }) || e.attr("value-source").is_some_and(|v| v != "literal")
                    {
                        self.unsupported
                            .push(format!("typed or referenced value in rule '{}'", r.id()));
                        return None;
                    }
                    let value = e.attr("value").unwrap_or("").to_string();
                    let op = match e.attr("operation")? {
                        "eq" => CmpOp::Eq,
                        "ne" => CmpOp::Ne,
                        "lt" => CmpOp::Lt,
                        "lte" => CmpOp::Le,
                        "gt" => CmpOp::Gt,
                        "gte" => CmpOp::Ge,
                        "defined" => {
                            parts.push(Rule::Defined(attr));
                            continue;
                        }
                        "not_defined" => {
                            parts.push(Rule::Not(Box::new(Rule::Defined(attr))));
                            continue;
                        }
                        other => {
                            self.unsupported
                                .push(format!("operation '{other}' in rule '{}'", r.id()));
                            return None;
                        }
                    };
                    parts.push(Rule::Compare { attr, op, value });
                }
                "rule" => parts.push(self.rule(e)?),
                other => {
                    self.unsupported
                        .push(format!("{other} in rule '{}'", r.id()));
                    return None;
                }
            }
        }
        Some(if r.attr("boolean-op") == Some("or") {
            Rule::Or(parts)
        } else {
            Rule::And(parts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_find_what_the_names_map_finds() {
        let names: BTreeMap<String, RscId> = (0..500u32)
            .flat_map(|i| [(format!("rsc{i}"), RscId(i)), (format!("g{i}:0"), RscId(i))])
            .collect();
        let ids = Ids::of(&names);
        for probe in (0..600).flat_map(|i| [format!("rsc{i}"), format!("g{i}:0"), format!("x{i}")])
        {
            assert_eq!(ids.get(&probe), names.get(&probe).copied(), "{probe}");
        }
        assert_eq!(ids.get(""), None);
    }
}
