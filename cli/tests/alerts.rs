//! Alerts on a live cluster: Pacemaker's own sample alert agent
//! (`alert_file.sh.sample`, Debian's pacemaker-common) records a node's loss
//! and its fencing, and resource operations, with the `CRM_alert_*`
//! interface; a failing alert is shown in `status` and changes no plan.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;
use support::{Cluster, Net, Options};

const WAIT: Duration = Duration::from_secs(40);
const SAMPLE: &str = "/usr/share/pacemaker/alerts/alert_file.sh.sample";

#[test]
fn pacemakers_sample_alert_agent_records_a_node_loss_and_its_fencing() {
    assert!(
        std::path::Path::new(SAMPLE).exists(),
        "{SAMPLE} is missing: the test command installs pacemaker-cli-utils, which brings pacemaker-common"
    );
    let mut c = Cluster::start(Options {
        name: "alerts".into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(67),
        timing: None,
    });
    let log = c.dir.join("alerts.log");
    // The same agent, for node events only (Pacemaker's select_nodes).
    let nodes_log = c.dir.join("nodes.log");
    let policy = format!(
        "cluster alerts {{\n  node n1\n  node n2\n  node n3\n  fencing on\n\
         \x20 alert file \"{SAMPLE}\" {{\n    to \"{}\"\n  }}\n\
         \x20 alert nodes \"{SAMPLE}\" {{\n    to \"{}\"\n    select nodes\n  }}\n\
         \x20 alert broken \"/bin/false\"\n}}\n\n\
         fence power: fence_halo {{\n  targets n1 n2 n3\n}}\n\n\
         resource web: ocf:heartbeat:Dummy {{\n  monitor every 1s\n}}\n",
        log.display(),
        nodes_log.display()
    );
    c.apply(&policy);
    let s = c.wait("web running", WAIT, |s| {
        Cluster::placement(s, "web").len() == 1
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    let victim = Cluster::placement(&s, "web").into_keys().next().unwrap();
    c.kill(&victim);
    c.wait("web recovered elsewhere", WAIT, |s| {
        Cluster::placement(s, "web").keys().any(|n| *n != victim)
    });
    let start = std::time::Instant::now();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let want = [
        format!("Node '{victim}' is now 'lost'"),
        format!("Fencing Operation reboot of {victim}"),
        "Resource operation 'start' for 'web'".to_string(),
    ];
    while !want.iter().all(|w| text().contains(w.as_str())) {
        assert!(
            start.elapsed() < WAIT,
            "the alert agent did not record {want:?}:\n{}",
            text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The alert that selects node events saw the loss and nothing else.
    let nodes_text = std::fs::read_to_string(&nodes_log).unwrap_or_default();
    assert!(
        nodes_text.contains(&format!("Node '{victim}' is now 'lost'")),
        "{nodes_text}"
    );
    assert!(
        !nodes_text.contains("Resource operation") && !nodes_text.contains("Fencing Operation"),
        "an alert for node events only ran for another kind:\n{nodes_text}"
    );
    // The alert that fails is reported, and changed nothing.
    let s = c.wait("the failing alert shown", WAIT, |s| {
        s["alert_failures"].as_array().is_some_and(|f| {
            f.iter()
                .any(|x| x.as_str().is_some_and(|t| t.contains("broken")))
        })
    });
    assert_eq!(Cluster::placement(&s, "web").len(), 1);
    assert!(c.ok(&["status"]).contains("Alert failed: alert broken"));
}
