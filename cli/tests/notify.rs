//! Clone notifications on a live cluster: Pacemaker's own `ocf:pacemaker:Stateful`
//! agent, in a promotable clone with `notify`, receives the `notify` actions and
//! the `OCF_RESKEY_CRM_meta_notify_*` variables Pacemaker sets, in plan order:
//! the pre-promote notifications end before the promotion begins, the
//! post-promote ones begin after it ends; when the primary's node is lost and
//! fenced, the survivors are told of the stop and of the new promotion.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::{Cluster, Net, Options, Record};

const WAIT: Duration = Duration::from_secs(60);

type Notice = (String, String, BTreeMap<String, String>);

fn words(vars: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    let mut w: Vec<String> = vars
        .get(key)
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    w.sort();
    w
}

/// The notifications of kind `what` each node received.
fn told<'a>(notices: &'a [Notice], what: &str) -> Vec<&'a Notice> {
    notices.iter().filter(|n| n.1 == what).collect()
}

fn promoted(s: &serde_json::Value) -> Option<String> {
    Cluster::placement(s, "db")
        .into_iter()
        .find(|(_, role)| role == "promoted")
        .map(|(n, _)| n)
}

/// Promotion of `db` on `node` and the notifications around it, in the audit
/// log's order: every pre-promote notification ended before the promotion
/// began, every post-promote one began after it ended.
fn assert_promotion_wrapped(recs: &[Record], node: &str, after: u128) {
    let recs: Vec<&Record> = recs.iter().filter(|r| r.at >= after).collect();
    let promote = |end: bool| {
        recs.iter()
            .find(|r| r.action == "promote" && r.node == node && r.end == end)
            .map(|r| r.at)
            .unwrap_or_else(|| panic!("no promote of db on {node} in the audit"))
    };
    let (begin, end) = (promote(false), promote(true));
    for r in &recs {
        match (r.action.as_str(), r.end) {
            ("notify-pre-promote", true) if r.at < end => {
                assert!(
                    r.at <= begin,
                    "a pre-promote notification on {} ended after the promotion began",
                    r.node
                );
            }
            ("notify-post-promote", false) if r.at > begin => {
                assert!(
                    r.at >= end,
                    "a post-promote notification on {} began before the promotion ended",
                    r.node
                );
            }
            _ => {}
        }
    }
}

#[test]
fn a_promotable_clone_with_notify_tells_its_instances_as_pacemaker_does() {
    let mut c = Cluster::start(Options {
        name: "notify".into(),
        nodes: 3,
        witness: false,
        net: Net::Loopback(69),
        timing: None,
    });
    c.apply(
        "cluster notify {\n  node n1\n  node n2\n  node n3\n  fencing on\n}\n\n\
         fence power: fence_halo {\n  targets n1 n2 n3\n}\n\n\
         promotable db: ocf:pacemaker:Stateful {\n  monitor promoted every 1s\n  \
         monitor unpromoted every 2s\n  promoted-max 1\n  notify\n}\n",
    );
    let settled = |s: &serde_json::Value| {
        Cluster::placement(s, "db").len() == 3
            && promoted(s).is_some()
            && s["running"].as_array().is_some_and(Vec::is_empty)
    };
    let s = c.wait("db promoted on one node, unpromoted on two", WAIT, settled);
    let primary = promoted(&s).unwrap();
    let notices = c.notices();
    // Every instance was told of the starts, itself among them.
    for node in ["n1", "n2", "n3"] {
        assert!(
            told(&notices, "notify-post-start")
                .iter()
                .any(|n| n.0 == node
                    && words(&n.2, "notify_start_uname").contains(&node.to_string())),
            "{node} was not told of its own start: {notices:?}"
        );
    }
    // Before and after the promotion, every instance is told who is promoted,
    // with the lists of active and unpromoted instances.
    for what in ["notify-pre-promote", "notify-post-promote"] {
        let got = told(&notices, what);
        let mut nodes: Vec<&str> = got.iter().map(|n| n.0.as_str()).collect();
        nodes.sort_unstable();
        // A leader elected while the first was telling them (a loaded test
        // machine) tells them again, as a new DC does in Pacemaker: only
        // then may a node be told twice.
        if s["term"].as_u64().is_some_and(|t| t > 1) {
            nodes.dedup();
        }
        assert_eq!(nodes, ["n1", "n2", "n3"], "{what}: {got:?}");
        for n in got {
            assert_eq!(
                words(&n.2, "notify_promote_uname"),
                std::slice::from_ref(&primary),
                "{n:?}"
            );
            assert_eq!(
                words(&n.2, "notify_active_uname"),
                ["n1", "n2", "n3"],
                "{n:?}"
            );
            assert_eq!(
                words(&n.2, "notify_unpromoted_uname"),
                ["n1", "n2", "n3"],
                "{n:?}"
            );
            assert_eq!(
                n.2.get("notify_promoted_uname").map(String::as_str),
                Some(" "),
                "{n:?}"
            );
            // The names Pacemaker gave these lists before 2.1 are set too.
            assert_eq!(
                n.2.get("notify_slave_uname"),
                n.2.get("notify_unpromoted_uname")
            );
        }
    }
    assert_promotion_wrapped(&c.records(), &primary, 0);

    // The primary's node is lost: it is fenced, the survivors are told of the
    // stop, then of the promotion of one of them.
    let lost_at = support::now_ns();
    c.kill(&primary);
    let s = c.wait("db promoted on a survivor", WAIT, |s| {
        promoted(s).is_some_and(|p| p != primary)
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    let next = promoted(&s).unwrap();
    let notices = c.notices();
    let survivors: Vec<String> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|n| *n != primary)
        .map(str::to_string)
        .collect();
    for node in &survivors {
        assert!(
            told(&notices, "notify-post-stop")
                .iter()
                .any(|n| &n.0 == node && words(&n.2, "notify_stop_uname") == [primary.clone()]),
            "{node} was not told that db stopped on {primary}: {notices:?}"
        );
        assert!(
            told(&notices, "notify-post-promote")
                .iter()
                .any(|n| &n.0 == node && words(&n.2, "notify_promote_uname") == [next.clone()]),
            "{node} was not told that db was promoted on {next}: {notices:?}"
        );
    }
    // Nothing is told on the lost node.
    let recs = c.records();
    assert!(
        !recs
            .iter()
            .any(|r| r.at > lost_at && r.node == primary && r.action.starts_with("notify")),
        "a notification ran on the lost node {primary}"
    );
    assert_promotion_wrapped(&recs, &next, lost_at);
}
