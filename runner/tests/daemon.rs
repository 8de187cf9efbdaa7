//! The runner daemon over real QUIC with certificates from `cluster init`:
//! results survive a lost connection, stale controllers are refused, and
//! recurring monitors report changes as they happen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use halo_net::{AdminConfig, Client, NodeConfig};
use halo_proto::wire::{Request, Response};
use halo_proto::{ActionRequest, AgentRef, Outcome};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Cluster {
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A one-node cluster whose runner serves in this process on `port`.
async fn cluster(name: &str, port: u16) -> Cluster {
    let dir = std::env::temp_dir().join(format!("halo-daemon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    halo_net::identity::init(
        name,
        &[("n1".to_string(), addr)],
        &[],
        &dir,
        &Default::default(),
    )
    .unwrap();
    let cfg = NodeConfig::load(&dir.join("n1.toml")).unwrap();
    tokio::spawn(halo_runner::daemon::serve(cfg, None, None));
    Cluster { dir }
}

impl Cluster {
    /// A client with the admin certificate, or with `cert` (e.g.
    /// `n1-controller`) instead.
    fn client(&self, cert: Option<&str>) -> Client {
        let mut cfg = AdminConfig::load(&self.dir.join("admin.toml")).unwrap();
        if let Some(c) = cert {
            cfg.cert = Some(self.dir.join(format!("{c}.pem")));
            cfg.key = Some(self.dir.join(format!("{c}.key")));
        }
        Client::for_node(&cfg, "n1").unwrap()
    }

    fn state(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }
}

fn action(rsc: &str, agent: &str, what: &str, params: &[(&str, &str)]) -> ActionRequest {
    ActionRequest {
        rsc: rsc.into(),
        agent: AgentRef::parse(agent).unwrap(),
        action: what.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        meta: BTreeMap::new(),
        interval_ms: 0,
        timeout_ms: 10_000,
        target: None,
        secrets: BTreeMap::new(),
        view: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_is_collected_after_the_connection_drops() {
    let c = cluster("drop", 27431).await;
    let slow = action("db", "halo:dummy", "start", &[("delay", "3")]);
    // The first client goes away while the action runs. It is connected
    // first, and waits long enough for the request to arrive even on a
    // loaded machine, but not for the action to end.
    let first = c.client(None);
    assert!(matches!(
        first.call(&Request::Hello).await.unwrap(),
        Response::Hello { .. }
    ));
    let gave_up =
        tokio::time::timeout(Duration::from_millis(1500), first.execute(41, None, &slow)).await;
    assert!(gave_up.is_err(), "the action should still be running");
    drop(first);
    // The same admin, reconnected, gets the result once it is there.
    let again = c.client(None);
    let result = again.collect(41).await.unwrap();
    assert_eq!(result.outcome, Outcome::Success, "{result:?}");
    assert!(result.duration_ms >= 3000, "{result:?}");
    // Delivered once: it is not kept after that.
    let e = again.collect(41).await.unwrap_err();
    assert!(e.contains("no action 41"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_from_a_stale_controller_are_refused() {
    let c = cluster("epoch", 27432).await;
    let ctl = c.client(Some("n1-controller"));
    let monitor = action("web", "halo:dummy", "monitor", &[]);
    let newer = ctl.execute(1, Some(7), &monitor).await.unwrap();
    assert_eq!(newer.outcome, Outcome::NotRunning);
    let e = ctl.execute(2, Some(6), &monitor).await.unwrap_err();
    assert!(
        e.contains("stale controller") && e.contains("epoch 6"),
        "{e}"
    );
    let e = ctl.execute(3, None, &monitor).await.unwrap_err();
    assert!(e.contains("carry its epoch"), "{e}");
    // The same epoch again, or a newer one, is fine.
    assert!(ctl.execute(4, Some(7), &monitor).await.is_ok());
    assert!(ctl.execute(5, Some(8), &monitor).await.is_ok());
    // A node certificate commands nothing.
    let e = c
        .client(Some("n1"))
        .execute(6, None, &monitor)
        .await
        .unwrap_err();
    assert!(e.contains("node certificate cannot command"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_monitor_reports_a_failure_as_it_happens() {
    let c = cluster("monitor", 27433).await;
    let admin = c.client(None);
    let state = c.state("web.state");
    let p = [("state", state.as_str())];
    assert!(admin
        .execute(1, None, &action("web", "halo:dummy", "start", &p))
        .await
        .unwrap()
        .outcome
        .ok("start"));
    let mut events = admin.subscribe().await.unwrap();
    let mut monitor = action("web", "halo:dummy", "monitor", &p);
    monitor.interval_ms = 100;
    let started = admin
        .call(&Request::MonitorStart {
            epoch: None,
            action: monitor,
            digest_every: 1000,
        })
        .await
        .unwrap();
    assert_eq!(started, Response::Ok);
    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.rsc.as_str(), first.result.outcome, first.changed),
        ("web", Outcome::Running, true)
    );
    // The service dies behind the runner's back: the next run notices.
    std::fs::remove_file(&state).unwrap();
    let died = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (next.result.outcome, next.changed),
        (Outcome::NotRunning, true),
        "{next:?}"
    );
    // Within a few intervals, not at the next digest (100 s away).
    assert!(
        died.elapsed() < Duration::from_secs(3),
        "{:?}",
        died.elapsed()
    );
    // Unchanged results are not reported (only the digest, every 1000th).
    let quiet = tokio::time::timeout(Duration::from_millis(500), events.next()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    let stopped = admin
        .call(&Request::MonitorStop {
            epoch: None,
            rsc: "web".into(),
            interval_ms: 100,
        })
        .await
        .unwrap();
    assert_eq!(stopped, Response::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_fences_a_node_through_a_runner() {
    let c = cluster("fence", 27434).await;
    let ctl = c.client(Some("n1-controller"));
    let status = c.state("n2.status");
    let mut off = action(
        "fence-n2",
        "stonith:fence_dummy",
        "off",
        &[("status_file", status.as_str())],
    );
    off.target = Some("n2".into());
    let r = ctl.fence(1, Some(1), &off).await.unwrap();
    assert_eq!(r.outcome, Outcome::Success, "{r:?}");
    let mut reboot = off.clone();
    reboot.action = "reboot".into();
    assert_eq!(
        ctl.fence(2, Some(1), &reboot).await.unwrap().outcome,
        Outcome::Success
    );
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "on");
    // Not a fence action: refused, with what a fence request needs.
    let e = ctl
        .fence(3, Some(1), &action("web", "halo:dummy", "start", &[]))
        .await
        .unwrap_err();
    assert!(e.contains("a fence request names a fence agent"), "{e}");
    let mut untargeted = off.clone();
    untargeted.target = None;
    assert!(ctl.fence(4, Some(1), &untargeted).await.is_err());
}
