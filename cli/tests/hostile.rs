//! Hostile inputs at every entry point: the files under `tests/hostile/` (listed
//! with what they must give in `tests/hostile/expect`) and inputs too large to
//! keep in the repository, made here. Each runs the real `halo` binary under a
//! 10 s deadline (see [`DEADLINE`]) and a 2 GiB address-space limit: no panic, no hang, bounded
//! memory, the expected exit status, and nothing accepted silently (the expected
//! words on standard error, naming the file when it is refused).

// Tests fail by panicking; helpers outside #[test] functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod scratch;
use scratch::Scratch;

/// 10 s for the release build the user runs; a debug build (`cargo test`)
/// parses several times slower, and is given four times as long.
const DEADLINE: Duration = Duration::from_secs(if cfg!(debug_assertions) { 40 } else { 10 });
/// The address space a run may take, in KiB (`ulimit -v`).
const MEMORY_KIB: u64 = 2 * 1024 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What one run gave.
struct Run {
    code: Option<i32>,
    /// What a plan says (its notes) is on standard output.
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `halo ARGS` from the repository root under the deadline and the memory
/// limit; a run past the deadline is killed and reported as such.
fn run(args: &[&str]) -> Run {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_halo"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run halo");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    Run {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        took,
    }
}

/// The command for an input, by the folder it is in.
fn command(rel: &str, path: &str) -> Vec<String> {
    let args: &[&str] = match rel.split('/').next() {
        Some("ha") => &["check", path],
        Some("state") => &["simulate", "examples/apache.ha", "--state", path],
        Some("cib") => &["simulate", "--cib", path],
        Some("plan") => &["simulate", path],
        other => panic!("no entry point for {other:?} in tests/hostile"),
    };
    args.iter().map(ToString::to_string).collect()
}

/// Checks one run against its expectation; returns what is wrong.
fn judge(name: &str, path: &str, r: &Run, exit: i32, says: &str) -> Option<String> {
    let err = &r.stderr;
    if r.code.is_none() {
        return Some(format!(
            "{name}: no exit status after {:?} (hung, killed or out of memory)\n{err}",
            r.took
        ));
    }
    if err.contains("panicked") {
        return Some(format!("{name}: panicked\n{err}"));
    }
    if r.code != Some(exit) {
        return Some(format!("{name}: exit {:?}, expected {exit}\n{err}", r.code));
    }
    if says != "-" && !err.contains(says) && !r.stdout.contains(says) {
        return Some(format!("{name}: expected `{says}` in\n{err}"));
    }
    if exit != 0 && !err.contains(path) {
        return Some(format!("{name}: the error does not name the file\n{err}"));
    }
    None
}

#[test]
fn every_hostile_file_is_refused_or_noted() {
    let list = std::fs::read_to_string(root().join("tests/hostile/expect")).unwrap();
    let mut failures = Vec::new();
    let mut kinds = 0;
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut parts = line.splitn(3, ' ');
        let (rel, exit, says) = (
            parts.next().unwrap(),
            parts.next().unwrap().parse::<i32>().unwrap(),
            parts.next().unwrap_or("-"),
        );
        let path = format!("tests/hostile/{rel}");
        assert!(root().join(&path).exists(), "{path} is listed but missing");
        let args = command(rel, &path);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        failures.extend(judge(rel, &path, &r, exit, says));
        kinds += 1;
    }
    // Every file there is listed: an input nobody checks proves nothing.
    for dir in ["ha", "state", "cib"] {
        for f in std::fs::read_dir(root().join("tests/hostile").join(dir)).unwrap() {
            let name = format!("{dir}/{}", f.unwrap().file_name().to_string_lossy());
            assert!(
                list.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name} is not listed in tests/hostile/expect"
            );
        }
    }
    assert!(kinds >= 90, "only {kinds} hostile files");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const CLUSTER: &str = "cluster c {\n  node n1\n  node n2\n  node n3\n  fencing off\n}\n";

/// Inputs too large to keep as files, made here: each past a bound.
#[test]
fn inputs_past_every_bound_are_refused_quickly() {
    let many_resources: String = (0..150_000)
        .map(|i| format!("resource r{i}: ocf:heartbeat:Dummy {{ monitor every 10s }}\n"))
        .collect();
    let huge_clone_policy = format!(
        "{CLUSTER}{}",
        (0..200)
            .map(|i| format!(
                "clone c{i}: ocf:heartbeat:Dummy {{\n  monitor every 10s\n  clone-max 10000\n}}\n"
            ))
            .collect::<String>()
    );
    let long_name = format!(
        "cluster c {{\n  node {}\n  node n2\n  node n3\n  fencing off\n}}\n",
        "n".repeat(100_000)
    );
    let attrs: String = (0..150_000).map(|i| format!("\"a{i}\": \"x\",")).collect();
    let huge_attrs = format!(
        "{{\"nodes\": {{\"web1\": {{\"attrs\": {{{}}}}}}}}}",
        attrs.trim_end_matches(',')
    );
    let values = format!(
        "{{\"fenced\": [{}\"web1\"]}}",
        "\"web1\", ".repeat(1_100_000)
    );
    let resources: String = (0..1000)
        .map(|i| format!("resource r{i}: ocf:heartbeat:Dummy {{ monitor every 10s }}\n"))
        .collect();
    let chain: String = (1..2000)
        .map(|i| format!("colocate r{i} with r{} score 10\n", i - 1))
        .collect();
    let chain = format!(
        "{CLUSTER}{}{chain}",
        (0..2000)
            .map(|i| format!("resource r{i}: ocf:heartbeat:Dummy {{ monitor every 10s }}\n"))
            .collect::<String>()
    );
    // 1,500 colocations among 1,000 resources, in loops: crm_simulate does not
    // finish; Halo weighs them within its bound and says so.
    let web: String = (0..1500)
        .map(|i| {
            format!(
                "colocate r{} with r{} score {}\n",
                i % 1000,
                (i * 7 + 1) % 1000,
                i % 50
            )
        })
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str, i32, &str)> = vec![
        (
            "colocation-chain.ha",
            chain.into_bytes(),
            "ha",
            1,
            "2000 resources in one chain",
        ),
        (
            "colocation-web.ha",
            format!("{CLUSTER}{resources}{web}").into_bytes(),
            "plan",
            0,
            "too long or too entangled to weigh in full",
        ),
        (
            "many-values.json",
            values.into_bytes(),
            "state",
            1,
            "more than 1000000 values",
        ),
        (
            "many-resources.ha",
            format!("{CLUSTER}{many_resources}").into_bytes(),
            "ha",
            1,
            "more than 100000 resources",
        ),
        (
            "many-instances.ha",
            huge_clone_policy.into_bytes(),
            "ha",
            1,
            "2000000 resource instances",
        ),
        (
            "long-node-name.ha",
            long_name.into_bytes(),
            "ha",
            1,
            "100000 bytes long",
        ),
        (
            "huge-attrs.json",
            huge_attrs.into_bytes(),
            "state",
            1,
            "more than 100000 keys",
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, entry, exit, says) in cases {
        let f = Scratch::new(name, &bytes);
        let args = command(&format!("{entry}/{name}"), f.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        failures.extend(judge(name, f.path(), &run(&args), exit, says));
    }
    // Devices are refused before a byte is read, at every entry point.
    for (entry, exit) in [("ha", 2), ("state", 2), ("cib", 2)] {
        let args = command(&format!("{entry}/zero"), "/dev/zero");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        failures.extend(judge(
            &format!("/dev/zero as {entry}"),
            "/dev/zero",
            &run(&args),
            exit,
            "-",
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
