//! `halo cluster init`, two `halo runner` processes on 127.0.0.2 and
//! 127.0.0.3, and `halo agent exec --node` driving real agents on them over
//! QUIC; peers without a proper certificate are refused, and say why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn halo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run halo")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A cluster's directory and its running runners, stopped when dropped.
struct Demo {
    dir: PathBuf,
    runners: Vec<Child>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for r in &mut self.runners {
            let _ = r.kill();
            let _ = r.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn port() -> u16 {
    20_000 + (std::process::id() % 20_000) as u16
}

fn init(name: &str, nodes: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("halo-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut args = vec![
        "cluster".to_string(),
        "init".into(),
        "--name".into(),
        name.into(),
    ];
    for (n, ip) in nodes {
        args.push("--node".into());
        args.push(format!("{n}={ip}:{}", port()));
    }
    args.push("--out".into());
    args.push(dir.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = halo(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    dir
}

impl Demo {
    fn start(name: &str, nodes: &[(&str, &str)]) -> Demo {
        let dir = init(name, nodes);
        let mut demo = Demo {
            dir,
            runners: Vec::new(),
        };
        for (n, _) in nodes {
            let log = std::fs::File::create(demo.dir.join(format!("{n}.log"))).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_halo"))
                .args(["runner", "--config"])
                .arg(demo.dir.join(format!("{n}.toml")))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            demo.runners.push(child);
        }
        for (n, _) in nodes {
            demo.wait_listening(n);
        }
        demo
    }

    fn wait_listening(&self, node: &str) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if self.log(node).contains("runner listening") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the runner of {node} did not start:\n{}", self.log(node));
    }

    fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{node}.log"))).unwrap_or_default()
    }

    fn exec(&self, config: &Path, node: &str, rest: &[&str]) -> Output {
        let mut args = vec![
            "agent",
            "exec",
            "--config",
            config.to_str().unwrap(),
            "--node",
            node,
        ];
        args.extend_from_slice(rest);
        halo(&args)
    }

    fn admin(&self) -> PathBuf {
        self.dir.join("admin.toml")
    }

    /// An admin config with another certificate and key.
    fn config_with(&self, name: &str, cert: Option<(&Path, &Path)>) -> PathBuf {
        let base = std::fs::read_to_string(self.admin()).unwrap();
        let mut lines: Vec<String> = base
            .lines()
            .filter(|l| !l.starts_with("cert =") && !l.starts_with("key ="))
            .map(str::to_string)
            .collect();
        if let Some((c, k)) = cert {
            let at = lines.iter().position(|l| l.starts_with("ca =")).unwrap() + 1;
            lines.insert(
                at,
                format!("cert = \"{}\"\nkey = \"{}\"", c.display(), k.display()),
            );
        }
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }
}

fn outcome(o: &Output) -> String {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&o.stdout), text(&o.stderr)));
    v["outcome"].as_str().unwrap_or_default().to_string()
}

#[test]
fn two_runners_run_dummy_remotely_and_refuse_strangers() {
    let demo = Demo::start("demo", &[("n1", "127.0.0.2"), ("n2", "127.0.0.3")]);
    // Keys are private to their owner.
    for key in [
        "ca.key",
        "n1.key",
        "n2.key",
        "admin.key",
        "n1-controller.key",
    ] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(demo.dir.join(key)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let admin = demo.admin();
    for node in ["n1", "n2"] {
        let state = demo.dir.join(format!("{node}-dummy.state"));
        let state = format!("state={}", state.display());
        let dummy =
            |action: &str| demo.exec(&admin, node, &["ocf:heartbeat:Dummy", action, &state]);
        let out = dummy("start");
        assert_eq!(
            (out.status.code(), outcome(&out).as_str()),
            (Some(0), "success"),
            "{}",
            text(&out.stderr)
        );
        let out = dummy("monitor");
        assert_eq!(
            (out.status.code(), outcome(&out).as_str()),
            (Some(0), "running")
        );
        let out = dummy("stop");
        assert_eq!(outcome(&out), "success");
        let out = dummy("monitor");
        assert_eq!(
            (out.status.code(), outcome(&out).as_str()),
            (Some(1), "not-running")
        );
        assert!(
            demo.log(node).contains("accepted admin 'admin'"),
            "{}",
            demo.log(node)
        );
    }
    // A client certificate from another cluster's CA.
    let other = init("other", &[("n1", "127.0.0.2")]);
    let foreign = demo.config_with(
        "foreign",
        Some((&other.join("admin.pem"), &other.join("admin.key"))),
    );
    let out = demo.exec(&foreign, "n1", &["halo:dummy", "monitor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("refused"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&other);
    // No certificate at all.
    let anonymous = demo.config_with("anonymous", None);
    let out = demo.exec(&anonymous, "n1", &["halo:dummy", "monitor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no certificates"),
        "{}",
        text(&out.stderr)
    );
    // A node's certificate where an admin's is needed.
    let as_node = demo.config_with(
        "as-node",
        Some((&demo.dir.join("n2.pem"), &demo.dir.join("n2.key"))),
    );
    let out = demo.exec(&as_node, "n1", &["halo:dummy", "monitor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("a node certificate cannot command a runner"),
        "{}",
        text(&out.stderr)
    );
    // Each refusal is a clear line in the runner's log.
    let log = demo.log("n1");
    assert!(log.contains("UnknownIssuer"), "{log}");
    assert!(log.contains("peer sent no certificates"), "{log}");
    assert!(log.contains("refused node 'n2'"), "{log}");
    // A node the cluster does not have.
    let out = demo.exec(&admin, "n9", &["halo:dummy", "monitor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no node `n9`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn cluster_init_refuses_bad_input_and_never_overwrites() {
    let dir = init("once", &[("n1", "127.0.0.2")]);
    let out = halo(&[
        "cluster",
        "init",
        "--name",
        "once",
        "--node",
        "n1=127.0.0.2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("already holds a cluster"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let out = halo(&[
        "cluster",
        "init",
        "--name",
        "x",
        "--node",
        "n1",
        "--out",
        "/tmp/never",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("NAME=HOST"),
        "{}",
        text(&out.stderr)
    );
    let out = halo(&["runner", "--config", "/nonexistent/n1.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/n1.toml"),
        "{}",
        text(&out.stderr)
    );
}
