//! Seed 003 end to end: two nodes and a witness, each in its own network
//! namespace with its own address; the real `redis-server` under the real
//! `ocf:heartbeat:redis` agent, promotable with notifications, and a real
//! `ocf:heartbeat:IPaddr2` VIP with the primary. Keys written through the VIP
//! survive the loss of the primary's node: the replica is promoted, the VIP
//! follows, and the old primary comes back as a replica of the new one.
//!
//! The agent finds the primary through Halo's stand-ins for Pacemaker's tools:
//! its last primary in a cluster-wide attribute (`crm_attribute --type
//! crm_config`) and whether it runs in `crm_mon`; replicas re-point in the
//! post-promote notification. Each node has its own /etc/redis (config, data,
//! run directory) through /etc/netns, which `ip netns exec` mounts over /etc.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{Cluster, Net, Options};

const WAIT: Duration = Duration::from_secs(90);
const PREFIX: &str = "hredis";
const SUBNET: u8 = 58;
const VIP: &str = "10.58.0.100";

fn address(node: &str) -> String {
    format!("10.{SUBNET}.0.{}", node.trim_start_matches('n'))
}

/// `redis-cli -h HOST ARGS`: its output when it answered.
fn redis(host: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", "6379"])
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Each node's /etc/redis: its configuration, data and run directories.
fn prepare_nodes() {
    for i in 1..=2 {
        let etc = format!("/etc/netns/{PREFIX}-n{i}/redis");
        let _ = std::fs::remove_dir_all(&etc);
        for d in ["data", "run"] {
            std::fs::create_dir_all(format!("{etc}/{d}")).unwrap();
        }
        std::fs::write(
            format!("{etc}/redis.conf"),
            "bind 0.0.0.0\nport 6379\nprotected-mode no\ndir /etc/redis/data\n\
             logfile /etc/redis/redis.log\nsave \"\"\nappendonly no\n",
        )
        .unwrap();
        let o = Command::new("chown")
            .args(["-R", "redis:redis", &etc])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

fn policy() -> String {
    format!(
        "cluster {PREFIX} {{\n  node n1\n  node n2\n  quorum two-node\n  fencing off\n}}\n\n\
         promotable redis: ocf:heartbeat:redis {{\n  config = \"/etc/redis/redis.conf\"\n  \
         rundir = \"/etc/redis/run\"\n  start timeout 60s\n  monitor every 2s\n  \
         monitor promoted every 1s\n  monitor unpromoted every 2s\n  promoted-max 1\n  notify\n}}\n\n\
         resource VirtualIP: ocf:heartbeat:IPaddr2 {{\n  ip = {VIP}\n  cidr_netmask = 24\n  \
         nic = eth0\n  monitor every 2s\n}}\n\n\
         colocate VirtualIP with redis.promoted\norder redis.promote then VirtualIP.start\n"
    )
}

fn role_of(s: &serde_json::Value, node: &str) -> Option<String> {
    Cluster::placement(s, "redis").get(node).cloned()
}

/// Kills what still runs in the nodes' namespaces (redis-server daemonizes:
/// stopping the runners leaves it), before the cluster's teardown.
struct KillServers;

impl Drop for KillServers {
    fn drop(&mut self) {
        for i in 1..=2 {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("ip netns pids {PREFIX}-n{i} | xargs -r kill -9"))
                .output();
        }
    }
}

/// Kills everything that runs on `node` (its runner, its redis-server), takes
/// away the addresses it held beside its own (the VIP) and cuts its link, as
/// when the machine dies.
fn kill_node(c: &mut Cluster, node: &str) {
    c.kill(node);
    let ns = format!("{PREFIX}-n{}", node.trim_start_matches('n'));
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ip netns pids {ns} | xargs -r kill -9; ip -n {ns} addr del {VIP}/24 dev eth0 2>/dev/null; true"
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    c.link(node, false);
}

#[test]
fn redis_survives_the_loss_of_its_primary_and_the_old_primary_rejoins_as_a_replica() {
    assert!(
        Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok(),
        "redis-server is missing: the test command installs it"
    );
    prepare_nodes();
    let mut c = Cluster::start(Options {
        name: PREFIX.into(),
        nodes: 2,
        witness: true,
        net: Net::Namespaces {
            prefix: PREFIX.into(),
            subnet: SUBNET,
        },
        timing: None,
    });
    let _servers = KillServers;
    c.apply(&policy());
    let s = c.wait(
        "a primary, a replica and the VIP with the primary",
        WAIT,
        |s| {
            let p = Cluster::placement(s, "redis");
            p.len() == 2
                && p.values().any(|r| r == "promoted")
                && Cluster::placement(s, "VirtualIP").len() == 1
                && s["running"].as_array().is_some_and(Vec::is_empty)
        },
    );
    let primary = ["n1", "n2"]
        .into_iter()
        .find(|n| role_of(&s, n).as_deref() == Some("promoted"))
        .unwrap()
        .to_string();
    let replica = if primary == "n1" { "n2" } else { "n1" }.to_string();
    assert_eq!(
        Cluster::placement(&s, "VirtualIP").keys().next(),
        Some(&primary)
    );
    // The replica follows the primary, by the name the agent recorded.
    until("the replica's link to the primary", || {
        redis(&address(&replica), &["info", "replication"]).is_some_and(|i| {
            i.contains("master_link_status:up") && i.contains(&format!("master_host:{primary}"))
        })
    });
    for i in 0..20 {
        assert_eq!(
            redis(VIP, &["set", &format!("k{i}"), &format!("v{i}")]).as_deref(),
            Some("OK")
        );
    }
    until("the keys on the replica", || {
        redis(&address(&replica), &["get", "k19"]).as_deref() == Some("v19")
    });

    // The primary's node dies: the replica is promoted and the VIP follows.
    kill_node(&mut c, &primary);
    c.wait("the replica promoted, the VIP with it", WAIT, |s| {
        role_of(s, &replica).as_deref() == Some("promoted")
            && Cluster::placement(s, "VirtualIP")
                .keys()
                .any(|n| *n == replica)
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    // The VIP's new home answered ARP for it; forget the old one.
    let _ = Command::new("ip")
        .args(["neigh", "flush", "dev", &format!("{PREFIX}-br")])
        .output();
    until("the keys through the VIP", || {
        (0..20).all(|i| redis(VIP, &["get", &format!("k{i}")]) == Some(format!("v{i}")))
    });
    assert_eq!(
        redis(VIP, &["set", "after", "failover"]).as_deref(),
        Some("OK")
    );

    // The old primary comes back: it starts as a replica of the new primary
    // and catches up.
    c.link(&primary, true);
    c.restart(&primary);
    c.wait("the old primary back as a replica", WAIT, |s| {
        role_of(s, &primary).as_deref() == Some("unpromoted")
            && role_of(s, &replica).as_deref() == Some("promoted")
            && s["running"].as_array().is_some_and(Vec::is_empty)
    });
    until("the old primary replicating from the new one", || {
        redis(&address(&primary), &["info", "replication"]).is_some_and(|i| {
            i.contains("role:slave")
                && i.contains(&format!("master_host:{replica}"))
                && i.contains("master_link_status:up")
        }) && redis(&address(&primary), &["get", "after"]).as_deref() == Some("failover")
    });
    c.assert_never_double_active(&["VirtualIP"]);
}
