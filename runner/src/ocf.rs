//! OCF resource agents: `$OCF_ROOT/resource.d/PROVIDER/TYPE ACTION`, with the
//! action's parameters and meta attributes in the environment.

use crate::process::Spawn;
use crate::{exit_reason, failure, joined, ms, shim, RunnerConfig};
use halo_proto::{ActionRequest, ActionResult, Outcome};
use std::collections::BTreeMap;
use std::time::Duration;

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
    let scores = match shim::Scores::prepare(cfg, &req.rsc, req.view.as_ref(), &mut env) {
        Ok(s) => s,
        Err(e) => return failure(Outcome::Error, &e, Duration::ZERO),
    };
    let spawn = Spawn {
        program: program.clone(),
        args: vec![req.action.clone()],
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
