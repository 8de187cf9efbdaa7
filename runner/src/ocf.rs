//! OCF resource agents: `$OCF_ROOT/resource.d/PROVIDER/TYPE ACTION`, with the
//! action's parameters and meta attributes in the environment.

use crate::metadata::{self, AgentInfo, Reload};
use crate::process::Spawn;
use crate::{exit_reason, failure, joined, ms, shim, RunnerConfig};
use halo_proto::{ActionRequest, ActionResult, Outcome};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The action's `crm_attribute` shim. The runner's bookkeeping failing
/// (its state directory full or read-only) is no failure of the resource:
/// a stop must still stop. The agent then runs without the shim, its
/// promotion scores lost for this action, and the log says so.
fn scores(
    cfg: &RunnerConfig,
    req: &ActionRequest,
    env: &mut BTreeMap<String, String>,
) -> shim::Scores {
    let mut with = env.clone();
    match shim::Scores::prepare(cfg, &req.rsc, req.view.as_ref(), &mut with) {
        Ok(s) => {
            *env = with;
            s
        }
        Err(e) => {
            tracing::warn!(rsc = %req.rsc, action = %req.action, "{e}: the agent runs without the crm_attribute shim, its promotion scores lost this time");
            shim::Scores::none()
        }
    }
}

/// How long an agent may take to print its meta-data.
const META_TIMEOUT: Duration = Duration::from_secs(10);

/// The feature set agents compare against to pick `crm_attribute --promotion`
/// over the older `crm_master` (Pacemaker 2.1's).
const CRM_FEATURE_SET: &str = "3.16.2";

pub async fn run(
    cfg: &RunnerConfig,
    req: &ActionRequest,
    provider: &str,
    kind: &str,
    timeout: Duration,
) -> ActionResult {
    let program = cfg.ocf_root.join("resource.d").join(provider).join(kind);
    if !program.is_file() {
        return failure(
            Outcome::NotInstalled,
            &format!("no OCF agent at {}", program.display()),
            Duration::ZERO,
        );
    }
    let mut env = environment(cfg, req, timeout);
    env.insert("OCF_RESOURCE_TYPE".into(), kind.into());
    env.insert("OCF_RESOURCE_PROVIDER".into(), provider.into());
    let scores = scores(cfg, req, &mut env);
    // A start records, and a reload needs, how the agent reloads.
    let reload = match req.action.as_str() {
        "start" | "reload-agent" => Some(reload_support(cfg, &program, &env).await),
        _ => None,
    };
    // Pacemaker schedules `reload-agent`; an agent older than OCF 1.1 gets
    // its `reload` instead (`controld_execd.c`, `do_lrm_rsc_op`).
    let action = match (req.action.as_str(), &reload) {
        ("reload-agent", Some((Reload::Legacy, _))) => "reload".to_string(),
        (a, _) => a.to_string(),
    };
    let spawn = Spawn {
        program: program.clone(),
        args: vec![action],
        env,
        stdin: None,
        timeout,
        output_max: cfg.output_max,
    };
    let f = match crate::run_agent(&spawn).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let outcome = if f.timed_out {
        Outcome::Timeout
    } else {
        f.code
            .map_or(Outcome::Error, |rc| Outcome::of_ocf(&req.action, rc))
    };
    ActionResult {
        rc: f.code,
        outcome,
        duration_ms: ms(f.duration),
        exit_reason: exit_reason(&f).or_else(|| {
            f.timed_out.then(|| {
                format!(
                    "timed out after {} ms: killed with everything it started",
                    ms(timeout)
                )
            })
        }),
        output: joined(&f),
        promotion: scores.read().or_else(|| {
            let probe = req.action == "monitor" && req.interval_ms == 0;
            probe.then(|| scores.kept()).flatten()
        }),
        attributes: scores.attributes(),
        restart: reload.and_then(|(_, restart)| restart),
    }
}

/// Agents' meta-data, by program and its modification time: read once, as
/// Pacemaker's controller caches it, and again when the agent is replaced.
type MetaCache = BTreeMap<PathBuf, (Option<SystemTime>, Option<AgentInfo>)>;
static META: Mutex<MetaCache> = Mutex::new(BTreeMap::new());

/// How the agent at `program` reloads, and the parameters whose change
/// still needs a restart, from its meta-data. An agent whose meta-data cannot
/// be read cannot reload: a change restarts it.
async fn reload_support(
    cfg: &RunnerConfig,
    program: &Path,
    env: &BTreeMap<String, String>,
) -> (Reload, Option<Vec<String>>) {
    let stamp = std::fs::metadata(program).and_then(|m| m.modified()).ok();
    let cached = META
        .lock()
        .ok()
        .and_then(|c| c.get(program).filter(|(t, _)| *t == stamp).cloned());
    let info = match cached {
        Some((_, info)) => info,
        None => {
            let spawn = Spawn {
                program: program.to_path_buf(),
                args: vec!["meta-data".into()],
                env: env.clone(),
                stdin: None,
                timeout: META_TIMEOUT,
                output_max: cfg.output_max.max(1 << 20),
            };
            let info = match crate::run_agent(&spawn).await {
                Ok(f) if f.code == Some(0) => metadata::parse(&f.stdout).ok(),
                _ => None,
            };
            if let Ok(mut c) = META.lock() {
                c.insert(program.to_path_buf(), (stamp, info.clone()));
            }
            info
        }
    };
    match info {
        Some(i) => (i.reload(), i.restart_params()),
        None => (Reload::None, None),
    }
}

/// The OCF environment of an action: `OCF_ROOT`, the resource instance, its
/// parameters as `OCF_RESKEY_<name>` and its meta attributes as
/// `OCF_RESKEY_CRM_meta_<name>`, the interval and timeout in milliseconds.
pub fn environment(
    cfg: &RunnerConfig,
    req: &ActionRequest,
    timeout: Duration,
) -> BTreeMap<String, String> {
    let mut env = crate::base_env();
    env.insert("OCF_ROOT".into(), cfg.ocf_root.display().to_string());
    env.insert("OCF_RA_VERSION_MAJOR".into(), "1".into());
    env.insert("OCF_RA_VERSION_MINOR".into(), "1".into());
    env.insert("OCF_RESOURCE_INSTANCE".into(), req.rsc.clone());
    env.insert("OCF_RESKEY_crm_feature_set".into(), CRM_FEATURE_SET.into());
    if let Some(d) = &cfg.run_dir {
        env.insert("HA_RSCTMP".into(), d.display().to_string());
        env.insert("HA_VARRUN".into(), d.display().to_string());
    }
    for (k, v) in &req.params {
        env.insert(format!("OCF_RESKEY_{k}"), v.clone());
    }
    let mut meta = req.meta.clone();
    meta.insert("interval".into(), req.interval_ms.to_string());
    meta.insert("timeout".into(), ms(timeout).to_string());
    meta.entry("on_node".into())
        .or_insert_with(|| cfg.node.clone());
    meta.entry("on_node_uuid".into())
        .or_insert_with(|| cfg.node.clone());
    for (k, v) in meta {
        env.insert(format!("OCF_RESKEY_CRM_meta_{}", k.replace('-', "_")), v);
    }
    env
}
