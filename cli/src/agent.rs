//! `halo agent exec` and `halo agent describe`: one agent action on this node,
//! through the same runner code a cluster node uses.

use crate::load::InputError;
use crate::Exit;
use clap::{Args, Subcommand, ValueEnum};
use halo_proto::{ActionRequest, ActionResult, AgentRef};
use halo_runner::{metadata, Runner, RunnerConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AgentCommand {
    /// Run one action of an agent on this node and print the result as JSON.
    ///
    /// Examples:
    ///   halo agent exec ocf:heartbeat:Dummy start state=/tmp/d.state
    ///   halo agent exec ocf:heartbeat:Dummy monitor state=/tmp/d.state
    ///   halo agent exec halo:stateful promote
    ///   halo agent exec exec start command="python3 -m http.server 8080"
    ///   halo agent exec stonith:fence_dummy status --target node2 status_file=/tmp/n2
    ///
    /// The exit code is 0 when the action did what it was asked (for a
    /// monitor: the resource runs), 1 otherwise, 2 for usage errors.
    Exec(Box<ExecArgs>),
    /// Show an agent's parameters and default operations, from its meta-data.
    ///
    /// `--format ha` prints an `agent` declaration for a policy or the stdlib.
    Describe(DescribeArgs),
}

#[derive(Args)]
pub struct ExecArgs {
    /// ocf:PROVIDER:TYPE, lsb:NAME, systemd:UNIT, service:NAME, exec,
    /// halo:dummy, halo:stateful or stonith:fence_NAME.
    agent: String,
    /// start, stop, monitor, promote, demote, meta-data, validate-all...; for
    /// fence agents off, on, reboot, status, monitor, list, metadata.
    action: String,
    /// Parameters, NAME=VALUE.
    #[arg(value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Give up after this long, killing the agent and everything it started.
    #[arg(long, default_value = "20s")]
    timeout: String,
    /// The resource name the agent sees (OCF_RESOURCE_INSTANCE).
    #[arg(long)]
    rsc: Option<String>,
    /// A meta attribute for the agent, NAME=VALUE (OCF_RESKEY_CRM_meta_NAME).
    #[arg(long, value_name = "NAME=VALUE")]
    meta: Vec<String>,
    /// For a recurring monitor: its interval (agents may check more deeply).
    #[arg(long)]
    interval: Option<String>,
    /// For fence agents: the node to act on.
    #[arg(long)]
    target: Option<String>,
    /// Where built-in agents and `exec` keep their state between calls
    /// (local runs only).
    #[arg(long, default_value = "/tmp/halo-agent")]
    state_dir: PathBuf,
    /// Run it on this node's runner, over the network, rather than here.
    #[arg(long, requires = "config")]
    node: Option<String>,
    /// The admin config of the cluster (`halo cluster init` writes admin.toml).
    #[arg(long, requires = "node")]
    config: Option<PathBuf>,
}

#[derive(Args)]
pub struct DescribeArgs {
    agent: String,
    #[arg(long, value_enum, default_value_t = DescribeFormat::Text)]
    format: DescribeFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum DescribeFormat {
    Text,
    Ha,
}

pub fn run(cmd: &AgentCommand) -> Result<Exit, InputError> {
    match cmd {
        AgentCommand::Exec(a) => exec(a),
        AgentCommand::Describe(a) => describe(a),
    }
}

fn pairs(items: &[String], what: &str) -> Result<BTreeMap<String, String>, InputError> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(InputError::usage(format!(
                "`{kv}` is not a {what}: write NAME=VALUE"
            ))),
        })
        .collect()
}

fn duration_ms(text: &str, what: &str) -> Result<u64, InputError> {
    halo_model::Duration::parse(text)
        .map(|d| d.as_ms())
        .map_err(|e| InputError::usage(format!("--{what} {text}: {e}")))
}

fn runner(state_dir: PathBuf) -> Runner {
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let mut cfg = RunnerConfig::new(&node, state_dir);
    cfg.shim_program = std::env::current_exe().ok();
    Runner::new(cfg)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, InputError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(f))
        .map_err(|e| InputError::usage(format!("cannot start the async runtime: {e}")))
}

fn exec(a: &ExecArgs) -> Result<Exit, InputError> {
    let agent = AgentRef::parse(&a.agent).map_err(InputError::usage)?;
    let req = ActionRequest {
        rsc: a.rsc.clone().unwrap_or_else(|| default_rsc(&agent)),
        agent,
        action: a.action.clone(),
        params: pairs(&a.params, "parameter")?,
        meta: pairs(&a.meta, "meta attribute")?,
        interval_ms: a
            .interval
            .as_deref()
            .map_or(Ok(0), |i| duration_ms(i, "interval"))?,
        timeout_ms: duration_ms(&a.timeout, "timeout")?,
        target: a.target.clone(),
        secrets: BTreeMap::new(),
        view: None,
    };
    let result = match (&a.node, &a.config) {
        (Some(node), Some(config)) => block_on(remote(node, config, &req))??,
        _ => block_on(runner(a.state_dir.clone()).execute(&req))?,
    };
    crate::write_stdout(&(json(&result) + "\n"))?;
    Ok(if result.outcome.ok(&req.action) {
        Exit::Ok
    } else {
        Exit::Policy
    })
}

/// Runs `req` on `node`'s runner, as the admin config says to reach it.
async fn remote(
    node: &str,
    config: &std::path::Path,
    req: &ActionRequest,
) -> Result<ActionResult, InputError> {
    let cfg = halo_net::AdminConfig::load(config).map_err(InputError::usage)?;
    let client = halo_net::Client::for_node(&cfg, node).map_err(InputError::usage)?;
    // An id unique enough for this admin: the time, in microseconds.
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    client
        .execute(id, None, req)
        .await
        .map_err(|e| InputError::usage(format!("{node}: {e}")))
}

/// The name an agent's resource gets when none is given.
fn default_rsc(agent: &AgentRef) -> String {
    match agent {
        AgentRef::Ocf { kind, .. } => kind.clone(),
        AgentRef::Lsb { name } | AgentRef::Halo { name } | AgentRef::Stonith { name } => {
            name.clone()
        }
        AgentRef::Systemd { unit } => unit.clone(),
        AgentRef::Service { name } => name.clone(),
        AgentRef::Exec => "exec".into(),
    }
}

/// The result as `agent exec` prints it, fields in this order.
#[derive(serde::Serialize)]
struct Shown<'a> {
    rc: Option<i32>,
    outcome: &'a str,
    duration_ms: u64,
    exit_reason: Option<&'a str>,
    output: &'a str,
    /// The promotion score the agent set, or "deleted".
    #[serde(skip_serializing_if = "Option::is_none")]
    promotion: Option<serde_json::Value>,
}

fn json(r: &ActionResult) -> String {
    let shown = Shown {
        rc: r.rc,
        outcome: r.outcome.as_str(),
        duration_ms: r.duration_ms,
        exit_reason: r.exit_reason.as_deref(),
        output: &r.output,
        promotion: r.promotion.map(|p| match p {
            halo_proto::PromotionChange::Set(n) => serde_json::json!(n),
            halo_proto::PromotionChange::Delete => serde_json::json!("deleted"),
        }),
    };
    serde_json::to_string_pretty(&shown).unwrap_or_default()
}

fn describe(a: &DescribeArgs) -> Result<Exit, InputError> {
    let agent = AgentRef::parse(&a.agent).map_err(InputError::usage)?;
    if matches!(
        agent,
        AgentRef::Lsb { .. } | AgentRef::Systemd { .. } | AgentRef::Service { .. } | AgentRef::Exec
    ) {
        return Err(InputError::usage(format!(
            "{agent} has no meta-data: LSB scripts and systemd units take no parameters; \
             exec takes command, health and stop_signal"
        )));
    }
    let action = if agent.is_fence() {
        "metadata"
    } else {
        "meta-data"
    };
    let req = ActionRequest {
        // Defaults that name the resource keep this placeholder (as
        // stdlib/agents.ha has them).
        rsc: "RESOURCE_ID".into(),
        agent: agent.clone(),
        action: action.into(),
        params: BTreeMap::new(),
        meta: BTreeMap::new(),
        interval_ms: 0,
        timeout_ms: 10_000,
        target: None,
        secrets: BTreeMap::new(),
        view: None,
    };
    let dir = std::env::temp_dir().join("halo-describe");
    let result = block_on(runner(dir).execute(&req))?;
    if result.rc != Some(0) {
        return Err(InputError::usage(format!(
            "{agent}: meta-data failed ({}){}",
            result.outcome,
            result
                .exit_reason
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )));
    }
    let info =
        metadata::parse(&result.output).map_err(|e| InputError::usage(format!("{agent}: {e}")))?;
    crate::write_stdout(&match a.format {
        DescribeFormat::Text => text(&agent, &info),
        DescribeFormat::Ha => declaration(&agent, &info),
    })?;
    Ok(Exit::Ok)
}

fn text(agent: &AgentRef, info: &metadata::AgentInfo) -> String {
    let mut out = format!("{agent}: {}\n", info.shortdesc);
    if info.promotable() {
        out.push_str("promotable (has promote and demote)\n");
    }
    out.push_str("\nparameters:\n");
    let width = info.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in info.params.iter().filter(|p| !p.deprecated) {
        let mut flags = vec![p.kind.clone()];
        if p.required {
            flags.push("required".into());
        }
        if p.unique {
            flags.push("unique".into());
        }
        if let Some(d) = &p.default {
            flags.push(format!("default {d:?}"));
        }
        out.push_str(&format!(
            "  {:width$}  {}  [{}]\n",
            p.name,
            p.shortdesc,
            flags.join(", ")
        ));
    }
    out.push_str("\noperations:\n");
    for op in &info.actions {
        let mut s = format!("  {}", op.name);
        if let Some(r) = &op.role {
            s.push_str(&format!(" ({r})"));
        }
        if let Some(i) = op.interval.as_deref().filter(|i| *i != "0" && *i != "0s") {
            s.push_str(&format!(" every {i}"));
        }
        if let Some(t) = &op.timeout {
            s.push_str(&format!(" timeout {t}"));
        }
        out.push_str(&s);
        out.push('\n');
    }
    out
}

/// An `agent` declaration, as stdlib/agents.ha has them.
fn declaration(agent: &AgentRef, info: &metadata::AgentInfo) -> String {
    let q = |s: &str| format!("{s:?}");
    let mut out = format!("agent {agent} {{\n  description {}\n", q(&info.shortdesc));
    if info.promotable() {
        out.push_str("  promotable\n");
    }
    for p in info
        .params
        .iter()
        .filter(|p| !p.deprecated && p.name != "action")
    {
        let kind = match p.kind.as_str() {
            "integer" => "int",
            "boolean" => "bool",
            "second" | "time" => "duration",
            _ => "string",
        };
        out.push_str(&format!("  param {} {kind}", p.name));
        if p.required {
            out.push_str(" required");
        }
        if let Some(d) = &p.default {
            out.push_str(&format!(" default {}", q(d)));
        }
        if !p.shortdesc.is_empty() {
            out.push_str(&format!(" description {}", q(&p.shortdesc)));
        }
        out.push('\n');
    }
    for op in &info.actions {
        let timeout = op
            .timeout
            .as_deref()
            .map(|t| format!(" timeout {}", seconds(t)))
            .unwrap_or_default();
        match op.name.as_str() {
            "start" | "stop" | "promote" | "demote" => {
                out.push_str(&format!("  {}{timeout}\n", op.name));
            }
            "monitor" => {
                let Some(every) = op.interval.as_deref().filter(|i| *i != "0" && *i != "0s") else {
                    continue;
                };
                // Declarations give one default monitor; per-role ones are
                // the resource's to choose.
                if op.role.is_some() {
                    continue;
                }
                out.push_str(&format!("  monitor every {}{timeout}\n", seconds(every)));
            }
            _ => {}
        }
    }
    out.push_str("}\n");
    out
}

/// `20` (seconds, as meta-data often says) as `20s`; anything with a unit as is.
fn seconds(t: &str) -> String {
    if t.chars().all(|c| c.is_ascii_digit()) {
        format!("{t}s")
    } else {
        t.to_string()
    }
}
