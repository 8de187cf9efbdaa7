//! Alerts: the programs a policy's `alert` blocks name, run by the leader on
//! every cluster event with Pacemaker's alert-agent interface (the
//! `CRM_alert_*` environment, the keys of include/crm/common/alerts_internal.h
//! in Pacemaker 2.1.5), so Pacemaker's sample agents work unchanged.
//! Each run is its own task, bounded by the alert's timeout: an alert never
//! delays or changes a plan. A failing run is logged and kept for `status`.

use halo_model::{Alert, AlertKind};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};

/// Pacemaker's default alert timeout.
const TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// Failed runs kept for `status`, newest last.
pub const FAILURES_MAX: usize = 20;

/// Runs of alert programs at once, at most; more are dropped, and say so.
const RUNNING_MAX: u64 = 64;

/// What happened, in the alert interface's terms (`CRM_alert_kind`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node's membership changed: `desc` is `member` or `lost`.
    Node { node: String, desc: String },
    /// A node was fenced (or its fencing failed).
    Fencing {
        target: String,
        task: String,
        rc: i32,
        desc: String,
    },
    /// An operation of a resource completed.
    Resource {
        rsc: String,
        node: String,
        task: String,
        interval_ms: u64,
        rc: i32,
        target_rc: i32,
        desc: String,
    },
}

impl Event {
    /// The kind an alert's `select` names for it.
    pub fn kind(&self) -> AlertKind {
        match self {
            Event::Node { .. } => AlertKind::Nodes,
            Event::Fencing { .. } => AlertKind::Fencing,
            Event::Resource { .. } => AlertKind::Resources,
        }
    }
}

/// The environment of one run of an alert program for `event`.
fn environment(
    alert: &Alert,
    recipient: Option<&str>,
    event: &Event,
    sequence: u64,
    node_ids: &BTreeMap<String, usize>,
    now: std::time::SystemTime,
) -> BTreeMap<String, String> {
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut env: BTreeMap<String, String> = alert.params.clone();
    let mut set = |k: &str, v: String| {
        env.insert(format!("CRM_alert_{k}"), v);
    };
    set("version", "2.1.5".into());
    set("recipient", recipient.unwrap_or_default().to_string());
    set("node_sequence", sequence.to_string());
    set("timestamp", timestamp(since));
    set("timestamp_epoch", since.as_secs().to_string());
    set("timestamp_usec", since.subsec_micros().to_string());
    let id = |n: &str| node_ids.get(n).map_or(String::new(), |i| i.to_string());
    match event {
        Event::Node { node, desc } => {
            set("kind", "node".into());
            set("node", node.clone());
            set("nodeid", id(node));
            set("desc", desc.clone());
        }
        Event::Fencing {
            target,
            task,
            rc,
            desc,
        } => {
            set("kind", "fencing".into());
            set("node", target.clone());
            set("nodeid", id(target));
            set("task", task.clone());
            set("rc", rc.to_string());
            set("desc", desc.clone());
        }
        Event::Resource {
            rsc,
            node,
            task,
            interval_ms,
            rc,
            target_rc,
            desc,
        } => {
            set("kind", "resource".into());
            set("rsc", rsc.clone());
            set("node", node.clone());
            set("nodeid", id(node));
            set("task", task.clone());
            set("interval", interval_ms.to_string());
            set("rc", rc.to_string());
            set("target_rc", target_rc.to_string());
            set("status", "0".into());
            set("desc", desc.clone());
        }
    }
    env
}

/// `HH:MM:SS.ffffff` in UTC, as Pacemaker's default timestamp format prints.
fn timestamp(since_epoch: Duration) -> String {
    let s = since_epoch.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        since_epoch.subsec_micros()
    )
}

/// The leader's alert sender: numbers events and keeps the failures.
#[derive(Default)]
pub struct Alerts {
    sequence: AtomicU64,
    running: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Alerts {
    /// Runs every alert of the policy that selects `event`'s kind, once per
    /// recipient (once without one when it has none), each in its own task.
    pub fn send(&self, alerts: &[Alert], node_ids: &BTreeMap<String, usize>, event: &Event) {
        if alerts.is_empty() {
            return;
        }
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now();
        for alert in alerts.iter().filter(|a| a.selects(event.kind())) {
            let recipients: Vec<Option<&str>> = if alert.recipients.is_empty() {
                vec![None]
            } else {
                alert.recipients.iter().map(|r| Some(r.as_str())).collect()
            };
            for recipient in recipients {
                if self.running.fetch_add(1, Ordering::SeqCst) >= RUNNING_MAX {
                    self.running.fetch_sub(1, Ordering::SeqCst);
                    self.failed(format!(
                        "alert {}: more than {RUNNING_MAX} runs at once; this one was dropped",
                        alert.name
                    ));
                    continue;
                }
                let env = environment(alert, recipient, event, sequence, node_ids, now);
                let (path, name) = (alert.path.clone(), alert.name.clone());
                let timeout = alert
                    .timeout
                    .map_or(TIMEOUT_DEFAULT, |t| Duration::from_millis(t.as_ms()));
                let (running, failures) = (self.running.clone(), self.failures.clone());
                tokio::spawn(async move {
                    let outcome = run(&path, &env, timeout).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    if let Err(why) = outcome {
                        warn!(alert = %name, "alert failed: {why}");
                        keep(&failures, format!("alert {name} ({path}): {why}"));
                    }
                });
            }
        }
    }

    fn failed(&self, why: String) {
        warn!("{why}");
        keep(&self.failures, why);
    }

    /// The last failed runs, oldest first.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

fn keep(failures: &Mutex<Vec<String>>, why: String) {
    let mut f = failures.lock().unwrap_or_else(|p| p.into_inner());
    f.push(why);
    let extra = f.len().saturating_sub(FAILURES_MAX);
    f.drain(..extra);
}

/// One run of an alert program: its own process group, killed whole at the
/// timeout; a non-zero exit is a failure.
async fn run(path: &str, env: &BTreeMap<String, String>, timeout: Duration) -> Result<(), String> {
    let mut child = tokio::process::Command::new(path)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            info!(%path, "alert ran");
            Ok(())
        }
        Ok(Ok(status)) => Err(format!("it exited with {status}")),
        Ok(Err(e)) => Err(format!("cannot wait for it: {e}")),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                // The whole group: what the program started goes too.
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            let _ = child.kill().await;
            Err(format!(
                "it ran past its timeout of {} ms",
                timeout.as_millis()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_environment_is_pacemakers() {
        let alert = Alert {
            name: "log".into(),
            path: "/bin/true".into(),
            recipients: vec!["/tmp/x".into()],
            params: BTreeMap::from([("debug_exec_order".to_string(), "false".to_string())]),
            timeout: None,
            select: None,
            origin: halo_model::Origin(0),
        };
        let ids = BTreeMap::from([("n2".to_string(), 2)]);
        let at = std::time::UNIX_EPOCH + Duration::from_micros(3_723_000_042);
        let e = Event::Resource {
            rsc: "web".into(),
            node: "n2".into(),
            task: "monitor".into(),
            interval_ms: 10_000,
            rc: 7,
            target_rc: 0,
            desc: "not running".into(),
        };
        let env = environment(&alert, Some("/tmp/x"), &e, 5, &ids, at);
        let get = |k: &str| env.get(k).cloned().unwrap_or_default();
        assert_eq!(get("CRM_alert_kind"), "resource");
        assert_eq!(get("CRM_alert_recipient"), "/tmp/x");
        assert_eq!(get("CRM_alert_nodeid"), "2");
        assert_eq!(get("CRM_alert_interval"), "10000");
        assert_eq!(get("CRM_alert_rc"), "7");
        assert_eq!(get("CRM_alert_target_rc"), "0");
        assert_eq!(get("CRM_alert_node_sequence"), "5");
        assert_eq!(get("CRM_alert_timestamp"), "01:02:03.000042");
        assert_eq!(get("debug_exec_order"), "false");
    }
}
