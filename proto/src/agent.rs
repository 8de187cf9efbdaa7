//! Agents, actions and results.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which program carries out an action, by class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "class")]
pub enum AgentRef {
    /// `ocf:PROVIDER:TYPE`: `$OCF_ROOT/resource.d/PROVIDER/TYPE ACTION`.
    Ocf { provider: String, kind: String },
    /// `lsb:NAME`: an init script, `/etc/init.d/NAME ACTION`.
    Lsb { name: String },
    /// `systemd:UNIT`: a unit, through `systemctl`.
    Systemd { unit: String },
    /// `service:NAME`: the systemd unit on a node booted with systemd, else
    /// the init script.
    Service { name: String },
    /// `exec`: a plain command the runner supervises as a service.
    Exec,
    /// `halo:NAME`: an agent built into the runner (`dummy`, `stateful`).
    Halo { name: String },
    /// `stonith:fence_X`: a fence agent, spoken to on its standard input.
    Stonith { name: String },
}

impl AgentRef {
    /// Reads `ocf:heartbeat:Dummy`, `lsb:ssh`, `systemd:nginx`, `exec`,
    /// `halo:dummy` or `stonith:fence_dummy`; says what is wrong otherwise.
    pub fn parse(text: &str) -> Result<AgentRef, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let name_ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
        };
        let bad = |why: &str| {
            Err(format!(
                "`{text}` is not an agent: {why} (write ocf:PROVIDER:TYPE, lsb:NAME, \
                 systemd:UNIT, service:NAME, exec, halo:dummy, halo:stateful or \
                 stonith:fence_NAME)"
            ))
        };
        match parts.as_slice() {
            ["exec"] => Ok(AgentRef::Exec),
            ["ocf", provider, kind] if name_ok(provider) && name_ok(kind) => Ok(AgentRef::Ocf {
                provider: (*provider).to_string(),
                kind: (*kind).to_string(),
            }),
            ["ocf", ..] => bad("an OCF agent has a provider and a type"),
            ["lsb", name] if name_ok(name) => Ok(AgentRef::Lsb {
                name: (*name).to_string(),
            }),
            ["systemd", unit] if name_ok(unit) => Ok(AgentRef::Systemd {
                unit: (*unit).to_string(),
            }),
            ["halo", name] if matches!(*name, "dummy" | "stateful") => Ok(AgentRef::Halo {
                name: (*name).to_string(),
            }),
            ["halo", _] => bad("the built-in agents are halo:dummy and halo:stateful"),
            ["service", name] if name_ok(name) => Ok(AgentRef::Service {
                name: (*name).to_string(),
            }),
            ["stonith", name] if name_ok(name) => Ok(AgentRef::Stonith {
                name: (*name).to_string(),
            }),
            _ => bad("unknown class or malformed name"),
        }
    }

    pub fn is_fence(&self) -> bool {
        matches!(self, AgentRef::Stonith { .. })
    }
}

impl fmt::Display for AgentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentRef::Ocf { provider, kind } => write!(f, "ocf:{provider}:{kind}"),
            AgentRef::Lsb { name } => write!(f, "lsb:{name}"),
            AgentRef::Systemd { unit } => write!(f, "systemd:{unit}"),
            AgentRef::Service { name } => write!(f, "service:{name}"),
            AgentRef::Exec => f.write_str("exec"),
            AgentRef::Halo { name } => write!(f, "halo:{name}"),
            AgentRef::Stonith { name } => write!(f, "stonith:{name}"),
        }
    }
}

/// One action for a runner to carry out, with everything it needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// The resource (instance) the action is for: `OCF_RESOURCE_INSTANCE`.
    pub rsc: String,
    pub agent: AgentRef,
    /// `start`, `stop`, `monitor`, `promote`, `demote`, `notify`,
    /// `meta-data`, `validate-all`; for fence agents `off`, `on`, `reboot`,
    /// `status`, `monitor`, `list`, `metadata`.
    pub action: String,
    /// Agent parameters (`OCF_RESKEY_<name>`; for fence agents, `name=value`
    /// lines on standard input).
    pub params: BTreeMap<String, String>,
    /// Meta attributes passed to the agent (`OCF_RESKEY_CRM_meta_<name>`):
    /// clone and notification details.
    pub meta: BTreeMap<String, String>,
    /// For a recurring monitor, its interval; 0 for a one-off action.
    pub interval_ms: u64,
    /// After this long the agent and everything it started are killed.
    pub timeout_ms: u64,
    /// For fence agents: the node to act on.
    pub target: Option<String>,
    /// Parameters whose value is a secret, by the secret's name: the runner
    /// fills them in from its own store when it runs the action, so the
    /// value never travels or sits in the cluster's log.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// The cluster as the agent may ask about it (see [`ClusterView`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<ClusterView>,
}

/// What an action came to, by meaning rather than by exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The action did what it was asked.
    Success,
    /// A monitor (or a fence agent's status) found it running (on).
    Running,
    /// A monitor found it running in the promoted role.
    Promoted,
    /// It is running, but degraded (OCF 190).
    Degraded,
    /// It is running promoted, but degraded (OCF 191).
    DegradedPromoted,
    /// It is not running (a monitor, or a fence target that is off).
    NotRunning,
    /// It failed while promoted (OCF 9).
    FailedPromoted,
    /// A generic failure (OCF 1, or any unknown code).
    Error,
    /// OCF 2: the parameters are invalid.
    InvalidArgs,
    /// OCF 3: the agent does not implement the action.
    Unimplemented,
    /// OCF 4.
    InsufficientPrivileges,
    /// OCF 5: the agent, or something it needs, is not installed.
    NotInstalled,
    /// OCF 6: the resource is misconfigured.
    NotConfigured,
    /// The agent did not finish in time and was killed.
    Timeout,
}

impl Outcome {
    /// An OCF exit code for `action`, by meaning.
    pub fn of_ocf(action: &str, rc: i32) -> Outcome {
        let probe_like = matches!(action, "monitor" | "status");
        match rc {
            0 if probe_like => Outcome::Running,
            0 => Outcome::Success,
            1 => Outcome::Error,
            2 => Outcome::InvalidArgs,
            3 => Outcome::Unimplemented,
            4 => Outcome::InsufficientPrivileges,
            5 => Outcome::NotInstalled,
            6 => Outcome::NotConfigured,
            7 => Outcome::NotRunning,
            8 => Outcome::Promoted,
            9 => Outcome::FailedPromoted,
            190 => Outcome::Degraded,
            191 => Outcome::DegradedPromoted,
            _ => Outcome::Error,
        }
    }

    /// Whether the action did what it was asked; for a monitor, whether the
    /// resource runs.
    pub fn ok(self, action: &str) -> bool {
        match self {
            Outcome::Success => true,
            Outcome::Running
            | Outcome::Promoted
            | Outcome::Degraded
            | Outcome::DegradedPromoted => {
                matches!(action, "monitor" | "status")
            }
            _ => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Running => "running",
            Outcome::Promoted => "promoted",
            Outcome::Degraded => "degraded",
            Outcome::DegradedPromoted => "degraded-promoted",
            Outcome::NotRunning => "not-running",
            Outcome::FailedPromoted => "failed-promoted",
            Outcome::Error => "error",
            Outcome::InvalidArgs => "invalid-args",
            Outcome::Unimplemented => "unimplemented",
            Outcome::InsufficientPrivileges => "insufficient-privileges",
            Outcome::NotInstalled => "not-installed",
            Outcome::NotConfigured => "not-configured",
            Outcome::Timeout => "timeout",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A promotion score an agent set (`crm_attribute --promotion -v N`) or
/// removed (`-D`) while it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromotionChange {
    Set(i64),
    Delete,
}

/// What one action came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The agent's exit code; `None` when it did not exit by itself (killed
    /// at its timeout, or it could not be started).
    pub rc: Option<i32>,
    pub outcome: Outcome,
    pub duration_ms: u64,
    /// The agent's own explanation (`ocf-exit-reason:` lines), or the runner's
    /// when it could not run the agent.
    pub exit_reason: Option<String>,
    /// What the agent printed (standard output, then standard error), cut at
    /// the runner's bound.
    pub output: String,
    /// A promotion score change the agent made, the last one if several.
    pub promotion: Option<PromotionChange>,
    /// Cluster-wide attributes the agent set or deleted
    /// (`crm_attribute --type crm_config`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeChange>,
    /// For a start or a reload of an agent that can reload its parameters
    /// (its meta-data offers `reload-agent`, or a pre-OCF-1.1 `reload`):
    /// the parameters it cannot reload, whose change needs a restart
    /// (Pacemaker's `op-force-restart`). `None` when it cannot reload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Vec<String>>,
}

/// A cluster-wide attribute an agent set (`value`) or deleted (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeChange {
    pub name: String,
    pub value: Option<String>,
}

/// What an agent may ask of the cluster while it runs, through the runner's
/// stand-ins for Pacemaker's tools (`crm_attribute --type crm_config --query`,
/// `crm_mon`): as the controller knew it when it sent the action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Cluster-wide attributes agents set (the redis agent's last primary).
    pub attributes: BTreeMap<String, String>,
    /// Every active resource instance: (resource, node, role).
    pub running: Vec<(String, String, String)>,
}

impl ClusterView {
    /// The view as the runner hands it to the tools agents call (a file).
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        rmp_serde::to_vec_named(self).map_err(|e| format!("cannot encode the cluster view: {e}"))
    }

    /// A view [`ClusterView::encode`] wrote; `None` when it is not one.
    pub fn decode(bytes: &[u8]) -> Option<ClusterView> {
        rmp_serde::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_parse_and_print_back() {
        for text in [
            "ocf:heartbeat:IPaddr2",
            "lsb:ssh",
            "systemd:nginx.service",
            "service:ssh",
            "exec",
            "halo:stateful",
            "stonith:fence_dummy",
        ] {
            let a = AgentRef::parse(text).unwrap();
            assert_eq!(a.to_string(), text);
        }
    }

    #[test]
    fn bad_agents_say_what_is_expected() {
        for text in ["ocf:Dummy", "halo:nginx", "ocf:../x:y", "nfs", "lsb:"] {
            let e = AgentRef::parse(text).unwrap_err();
            assert!(e.contains(text) && e.contains("ocf:PROVIDER:TYPE"), "{e}");
        }
    }

    #[test]
    fn ocf_codes_have_meanings_by_action() {
        assert_eq!(Outcome::of_ocf("monitor", 0), Outcome::Running);
        assert_eq!(Outcome::of_ocf("start", 0), Outcome::Success);
        assert_eq!(Outcome::of_ocf("monitor", 7), Outcome::NotRunning);
        assert!(Outcome::of_ocf("monitor", 8).ok("monitor"));
        assert!(!Outcome::of_ocf("monitor", 7).ok("monitor"));
        assert!(!Outcome::of_ocf("start", 1).ok("start"));
        assert_eq!(Outcome::of_ocf("start", 42), Outcome::Error);
    }
}
