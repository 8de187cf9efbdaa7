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
    /// CIB id (resource, clone child, cloned group) → Halo resource.
    pub names: BTreeMap<String, RscId>,
    /// Halo resource name → the id Pacemaker prints for its instances.
    pub display: BTreeMap<String, String>,
    /// Node attributes from the nodes section that are node state in Halo.
    pub standby: Vec<String>,
    pub maintenance: Vec<String>,
    /// Whether nodes never seen are fenced (startup-fencing).
    pub startup_fencing: bool,
    /// The time the status is read at (failure-timeout expiry), if known.
    pub now: Option<i64>,
    /// What `id-ref`s point at.
    pub refs: Refs<'a>,
    /// Clones' clone-min, for the orders that start after them.
    pub clone_min: BTreeMap<RscId, u32>,
    /// Completed live migrations: (resource id, source node, target node).
    pub migrated: Vec<(String, String, String)>,
    /// Node name → CIB node id.
    pub node_ids: BTreeMap<String, String>,
    /// Built-in node attributes rules use (`#is_dc`, `#id`, `#kind`), as the
    /// plain node attributes they become.
    pub builtin_attrs: std::collections::BTreeSet<&'static str>,
}

/// The node attributes Pacemaker's built-in `#is_dc`, `#id` and `#kind` become.
pub(crate) const IS_DC: &str = "is-dc";
pub(crate) const NODE_ID: &str = "node-id";
pub(crate) const NODE_KIND: &str = "node-kind";

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

fn truthy(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "on" | "yes" | "y" | "1"
    )
}

pub(crate) fn score(v: &str) -> Option<Score> {
    v.trim().trim_start_matches('+').parse::<Score>().ok()
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

/// Pacemaker durations: `10s`, `1m`, `500ms`, `10` (seconds), ISO-8601 `PT10S`.
fn duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    // ISO 8601: PT1H30M10S.
    if let Some(iso) = v.strip_prefix("PT") {
        let (mut secs, mut num) = (0u64, String::new());
        for c in iso.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u64 = num.parse().ok()?;
            num.clear();
            secs += n * match c {
                'H' => 3600,
                'M' => 60,
                'S' => 1,
                _ => return None,
            };
        }
        return num.is_empty().then(|| Duration::from_secs(secs));
    }
    // Pacemaker's units: ms/msec, s/sec, m/min, h/hr.
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "ms" | "msec" => n,
        "" | "s" | "sec" => n * 1000,
        "m" | "min" => n * 60_000,
        "h" | "hr" => n * 3_600_000,
        _ => return None,
    };
    Some(Duration::from_ms(ms))
}

impl Builder<'_> {
    fn origin(&mut self, id: &str) -> Origin {
        self.origins.push(id.to_string());
        Origin(u32::try_from(self.origins.len() - 1).unwrap_or(u32::MAX))
    }

    fn next_id(&self) -> RscId {
        RscId(u32::try_from(self.policy.resources.len()).unwrap_or(u32::MAX))
    }

    pub fn configuration(&mut self, cfg: &Element) {
        let props = cfg
            .first("crm_config")
            .map(|c| nvpairs(c, "cluster_property_set", &self.refs, &mut self.unsupported))
            .unwrap_or_default();
        self.properties(&props);
        if let Some(d) = cfg.first("rsc_defaults") {
            let m = nvpairs(d, "meta_attributes", &self.refs, &mut self.unsupported);
            self.policy.defaults = self.meta(&m, "rsc_defaults");
        }
        if let Some(d) = cfg.first("op_defaults") {
            let m = nvpairs(d, "meta_attributes", &self.refs, &mut self.unsupported);
            self.policy.op_timeout = m.get("timeout").and_then(|t| duration(t));
            for k in m
                .keys()
                .filter(|k| !matches!(k.as_str(), "timeout" | "record-pending" | "interval"))
            {
                self.unsupported.push(format!("op_defaults {k}"));
            }
        }
        if let Some(nodes) = cfg.first("nodes") {
            self.nodes(nodes);
        }
        if let Some(rs) = cfg.first("resources") {
            for el in &rs.children {
                self.resource(el, None);
            }
        }
        if let Some(cs) = cfg.first("constraints") {
            for el in &cs.children {
                self.constraint(el);
            }
        }
        for el in &cfg.children {
            if matches!(el.name, "fencing-topology" | "tags" | "acls" | "alerts")
                && !el.children.is_empty()
            {
                self.unsupported.push(format!("{} section", el.name));
            }
        }
    }

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
                "maintenance-mode" | "stop-all-resources" => truthy(v),

                "placement-strategy" => v != "default",
                "node-health-strategy" => v != "none",
                "enable-startup-probes" | "stop-orphan-resources" | "stop-orphan-actions" => {
                    !truthy(v)
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
            self.node_ids.insert(name.clone(), n.id().to_string());
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
            if !self.policy.cluster.nodes.iter().any(|x| x.name == name) {
                self.policy.cluster.nodes.push(spec);
            }
        }
    }

    fn meta(&mut self, m: &BTreeMap<String, String>, owner: &str) -> Meta {
        let mut meta = Meta::default();
        for (k, v) in m {
            match k.as_str() {
                "resource-stickiness" | "resource_stickiness" => meta.stickiness = score(v),
                "migration-threshold" => {
                    meta.migration_threshold =
                        score(v).map(|s| u32::try_from(s.value().max(0)).unwrap_or(0))
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
                "priority" => meta.priority = v.parse().ok(),
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
                "requires" if v != "quorum" && v != "fencing" => {
                    self.unsupported.push(format!("requires={v} on '{owner}'"))
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
            "template" => {
                self.unsupported
                    .push(format!("resource template '{}'", el.id()));
                None
            }
            _ => None,
        }
    }

    fn primitive(
        &mut self,
        el: &Element,
        parent: Option<RscId>,
        clone: Option<CloneSpec>,
        name: String,
    ) -> Option<RscId> {
        if el.attr("template").is_some() {
            self.unsupported
                .push(format!("resource template for '{}'", el.id()));
            return None;
        }
        if self.names.contains_key(el.id()) {
            self.unsupported
                .push(format!("duplicate resource id '{}'", el.id()));
            return None;
        }
        let class = el.attr("class").unwrap_or("ocf");
        if class == "ocf"
            && el.attr("provider") == Some("pacemaker")
            && el.attr("type") == Some("remote")
        {
            self.unsupported
                .push(format!("remote node connection '{}'", el.id()));
            return None;
        }
        let kind = el.attr("type").unwrap_or("").to_string();
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
        for (k, v) in nvpairs(el, "instance_attributes", &self.refs, &mut self.unsupported) {
            params.insert(k, ParamValue::Text(v));
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
            FenceSpec {
                host_map,
                targets,
                timeout: None,
                retries: 0,
            }
        });
        // Carried by the fence spec now.
        params.remove("pcmk_host_map");
        params.remove("pcmk_host_list");
        let mut ops = Vec::new();
        for op in el.first("operations").into_iter().flat_map(|o| o.all("op")) {
            let Some(action) = op.attr("name").and_then(OpAction::parse) else {
                continue;
            };
            if op.attr("enabled").is_some_and(|v| !truthy(v)) {
                continue;
            }
            let origin = self.origin(op.id());
            ops.push(Operation {
                action,
                interval: op
                    .attr("interval")
                    .and_then(duration)
                    .unwrap_or(Duration::ZERO),
                timeout: op.attr("timeout").and_then(duration),
                role: op
                    .attr("role")
                    .and_then(role)
                    .filter(|r| *r != Role::Started),
                on_fail: op.attr("on-fail").and_then(OnFail::parse),
                origin,
            });
        }
        let m = nvpairs(el, "meta_attributes", &self.refs, &mut self.unsupported);
        let meta = self.meta(&m, el.id());
        let id = self.next_id();
        let origin = self.origin(el.id());
        self.policy.resources.push(Resource {
            name: name.clone(),
            kind: ResourceKind::Primitive(Primitive {
                agent: Agent {
                    class: agent_class,
                    provider: el.attr("provider").unwrap_or("").to_string(),
                    kind,
                },
                params,
                ops,
                fence,
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
        for p in el.all("primitive") {
            if let Some(m) = self.primitive(p, Some(id), None, p.id().to_string()) {
                members.push(m);
            }
        }
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
        let num = |k: &str| m.get(k).and_then(|v| v.parse::<u32>().ok());
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
        };
        if spec.node_max > 1 {
            self.unsupported
                .push(format!("clone-node-max={} of '{}'", spec.node_max, el.id()));
        }
        let clone_min = m.get("clone-min").map(|v| v.parse::<u32>().unwrap_or(0));
        if m.get("globally-unique").is_some_and(|v| truthy(v)) {
            self.unsupported
                .push(format!("globally-unique clone '{}'", el.id()));
        }
        let meta = self.meta(&m, el.id());
        let child = el
            .children
            .iter()
            .find(|c| matches!(c.name, "primitive" | "group"));
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
        }?;
        // The clone's own meta attributes apply to it; the child's stay beneath.
        if let Some(r) = self.policy.resources.get_mut(id.index()) {
            let own = &mut r.meta;
            own.stickiness = meta.stickiness.or(own.stickiness);
            own.migration_threshold = meta.migration_threshold.or(own.migration_threshold);
            own.failure_timeout = meta.failure_timeout.or(own.failure_timeout);
            own.priority = meta.priority.or(own.priority);
            own.managed = meta.managed.or(own.managed);
            own.target_role = meta.target_role.or(own.target_role);
            own.multiple_active = meta.multiple_active.or(own.multiple_active);
            own.allow_migrate = meta.allow_migrate.or(own.allow_migrate);
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

    fn rsc(&self, el: &Element, attr: &str) -> Option<RscId> {
        el.attr(attr).and_then(|n| self.names.get(n)).copied()
    }

    fn constraint(&mut self, el: &Element) {
        let id = el.id().to_string();
        if el.first("resource_set").is_some() {
            self.unsupported
                .push(format!("resource sets in constraint '{id}'"));
            return;
        }
        match el.name {
            "rsc_location" if el.attr("resource-discovery").is_some_and(|v| v != "always") => {
                self.unsupported
                    .push(format!("resource-discovery in location '{id}'"));
            }
            "rsc_location" => self.location(el),
            "rsc_colocation" if el.attr("node-attribute").is_some_and(|a| a != "#uname") => {
                self.unsupported
                    .push(format!("colocation by node attribute in '{id}'"));
            }

            "rsc_colocation" => {
                let (Some(dependent), Some(primary), Some(score)) = (
                    self.rsc(el, "rsc"),
                    self.rsc(el, "with-rsc"),
                    el.attr("score").and_then(score),
                ) else {
                    if el.attr("score").is_none() {
                        self.unsupported
                            .push(format!("colocation '{id}' without a score"));
                    }
                    return;
                };
                if dependent == primary {
                    return;
                }
                let origin = self.origin(&id);
                self.policy.constraints.push(Constraint {
                    kind: ConstraintKind::Colocation {
                        dependent,
                        dependent_role: el
                            .attr("rsc-role")
                            .and_then(role)
                            .filter(|r| *r != Role::Started),
                        primary,
                        primary_role: el
                            .attr("with-rsc-role")
                            .and_then(role)
                            .filter(|r| *r != Role::Started),
                        score,
                    },
                    origin,
                });
            }
            "rsc_order" => {
                let (Some(first), Some(then)) = (self.rsc(el, "first"), self.rsc(el, "then"))
                else {
                    return;
                };
                let action = |a: Option<&str>| a.and_then(OpAction::parse);
                let first_action = action(el.attr("first-action")).unwrap_or(OpAction::Start);
                let then_action = action(el.attr("then-action")).unwrap_or(first_action);
                let kind = match (el.attr("kind"), el.attr("score").and_then(score)) {
                    (Some("Optional"), _) => OrderKind::Optional,
                    (Some("Serialize"), _) => {
                        self.unsupported.push(format!("serializing order '{id}'"));
                        return;
                    }
                    (None, Some(s)) if s == Score::ZERO => OrderKind::Optional,
                    _ => OrderKind::Mandatory,
                };
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
                let symmetrical = el.attr("symmetrical").is_none_or(truthy);
                let origin = self.origin(&id);
                self.policy.constraints.push(Constraint {
                    kind: ConstraintKind::Order {
                        first,
                        first_action,
                        then,
                        then_action,
                        kind,
                        symmetrical,
                        first_min,
                    },
                    origin,
                });
            }
            "rsc_ticket" => self.unsupported.push(format!("ticket constraint '{id}'")),
            _ => {}
        }
    }

    fn location(&mut self, el: &Element) {
        let id = el.id().to_string();
        if el.attr("rsc-pattern").is_some() {
            self.unsupported
                .push(format!("rsc-pattern in location '{id}'"));
            return;
        }
        let Some(rsc) = self.rsc(el, "rsc") else {
            return;
        };
        let rsc_role = el
            .attr("role")
            .and_then(role)
            .filter(|r| *r != Role::Started);
        if el.attr("node").is_some() && el.attr("score").and_then(score).is_none() {
            self.unsupported.push(format!(
                "score '{}' in location '{id}'",
                el.attr("score").unwrap_or("")
            ));
            return;
        }
        if let (Some(node), Some(score)) = (el.attr("node"), el.attr("score").and_then(score)) {
            let origin = self.origin(&id);
            self.policy.constraints.push(Constraint {
                kind: ConstraintKind::Location {
                    rsc,
                    role: rsc_role,
                    target: LocationTarget::Nodes(vec![node.to_string()]),
                    score,
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
            let Some(score) = r.attr("score").and_then(score) else {
                self.unsupported
                    .push(format!("rule '{}' without a fixed score", r.id()));
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
