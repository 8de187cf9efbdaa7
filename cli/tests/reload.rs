//! Reloads on a live cluster, with Pacemaker's own `ocf:pacemaker:Dummy` (an
//! OCF 1.1 agent with `reload-agent`; `fake` and `envfile` are reloadable,
//! `state` is not): a change of a reloadable parameter is previewed by
//! `halo apply` as a reload and carried out by the agent's `reload-agent`,
//! with no stop and no start; a change of a parameter that needs a restart
//! stops the instance with the parameters it was started with, then starts
//! it with the new ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::Duration;
use support::{Cluster, Net, Options};

const WAIT: Duration = Duration::from_secs(60);

fn policy(dir: &Path, fake: &str, state: &str) -> String {
    format!(
        "cluster reload {{\n  node n1\n  node n2\n  fencing off\n}}\n\n\
         resource web: ocf:pacemaker:Dummy {{\n  fake = \"{fake}\"\n  \
         state = \"{}\"\n  envfile = \"{}\"\n  monitor every 1s\n}}\n",
        dir.join(state).display(),
        dir.join("web.env").display()
    )
}

/// The parameters the cluster says web runs with on `node`.
fn started_with(s: &serde_json::Value, node: &str, param: &str) -> Option<String> {
    s["doc"]["state"]["resources"]["web"][node]["definition"]["params"][param]
        .as_str()
        .map(str::to_string)
}

/// The actions web's agent ran on `node` after `after` (ns), as the audit
/// wrapper saw them end: (action, rc).
fn actions_since(c: &Cluster, node: &str, after: u128) -> Vec<(String, Option<i32>)> {
    c.records()
        .into_iter()
        .filter(|r| r.rsc == "web" && r.node == node && r.end && r.at > after)
        .map(|r| (r.action, r.rc))
        .collect()
}

#[test]
fn a_reloadable_parameter_reloads_without_a_stop_and_another_restarts() {
    let c = Cluster::start(Options {
        name: "reload".into(),
        nodes: 2,
        witness: false,
        net: Net::Loopback(71),
        timing: None,
    });
    let dir = c.dir.clone();
    let file = dir.join("policy.ha").display().to_string();
    let apply = |text: String| {
        std::fs::write(&file, text).unwrap();
        c.ok(&["apply", "--yes", &file])
    };
    apply(policy(&dir, "one", "web-1.state"));
    let s = c.wait("web started", WAIT, |s| {
        Cluster::placement(s, "web").len() == 1
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    let node = Cluster::placement(&s, "web").into_keys().next().unwrap();
    assert_eq!(started_with(&s, &node, "fake").as_deref(), Some("one"));
    // What the agent said it cannot reload was recorded with the start.
    let restart = &s["doc"]["state"]["resources"]["web"][&node]["definition"]["restart"];
    assert!(
        restart
            .as_array()
            .is_some_and(|r| r.iter().any(|p| p == "state")
                && !r.iter().any(|p| p == "fake" || p == "envfile")),
        "{restart}"
    );
    assert!(dir.join("web-1.state").exists());

    // Only `fake` changes: the preview says reload, the agent reloads.
    let before = support::now_ns();
    let shown = apply(policy(&dir, "two", "web-1.state"));
    assert!(
        shown
            .lines()
            .any(|l| l.contains("Reload") && l.contains("web")),
        "apply's preview does not show the reload:\n{shown}"
    );
    c.wait("web reloaded with fake=two", WAIT, |s| {
        started_with(s, &node, "fake").as_deref() == Some("two")
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    let done = actions_since(&c, &node, before);
    assert!(
        done.contains(&("reload-agent".to_string(), Some(0))),
        "no reload-agent ran on {node}: {done:?}"
    );
    assert!(
        !done.iter().any(|(a, _)| a == "stop" || a == "start"),
        "a reload must not stop or start web: {done:?}"
    );
    // The agent itself got the new value, in its reload.
    let env = std::fs::read_to_string(dir.join("web.env")).unwrap();
    let reload = env.rsplit("### reload-agent @").next().unwrap();
    assert!(reload.contains("OCF_RESKEY_fake=two"), "{reload}");
    assert!(
        dir.join("web-1.state").exists(),
        "the reload lost web's state"
    );
    assert_eq!(c.starts("web", &node), 1);

    // `state` changes too: it cannot be reloaded, so web restarts; its stop
    // is given the state file it was started with.
    let before = support::now_ns();
    let shown = apply(policy(&dir, "two", "web-2.state"));
    assert!(
        shown
            .lines()
            .any(|l| l.contains("Restart") && l.contains("web")),
        "apply's preview does not show the restart:\n{shown}"
    );
    c.wait("web restarted with its new state file", WAIT, |s| {
        started_with(s, &node, "state").is_some_and(|p| p.ends_with("web-2.state"))
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    let done = actions_since(&c, &node, before);
    assert!(
        done.contains(&("stop".to_string(), Some(0)))
            && done.contains(&("start".to_string(), Some(0))),
        "web was not restarted on {node}: {done:?}"
    );
    assert!(
        !dir.join("web-1.state").exists(),
        "the stop was not given the state file web was started with"
    );
    assert!(dir.join("web-2.state").exists());
}
