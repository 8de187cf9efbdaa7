//! The `halo` binary as a user runs it: exit codes, located errors on malformed
//! input of every kind (never a panic, never a hang), byte-identical output.

// Tests fail by panicking; helpers outside #[test] functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod scratch;
use scratch::Scratch;

fn halo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run halo")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const VALID: &str = "cluster c {\n  node n1\n  node n2\n  node n3\n  fencing off\n}\n\nresource r: ocf:heartbeat:Dummy {\n  monitor every 10s\n}\n";

/// Runs `halo check` on `bytes` and asserts a located error, the exit code, no
/// panic, and an answer within a second.
fn rejects(name: &str, bytes: &[u8], expect_in_stderr: &str) {
    let f = Scratch::new(name, bytes);
    let start = Instant::now();
    let out = halo(&["check", f.path()]);
    let took = start.elapsed();
    let err = text(&out.stderr);
    assert!(
        took < Duration::from_secs(1) || cfg!(debug_assertions) && took < Duration::from_secs(5),
        "{name}: took {took:?}"
    );
    assert!(!err.contains("panicked"), "{name}: panicked:\n{err}");
    let code = out.status.code().unwrap();
    assert!(code == 1 || code == 2, "{name}: exit code {code}\n{err}");
    assert!(
        err.contains(expect_in_stderr),
        "{name}: expected `{expect_in_stderr}` in:\n{err}"
    );
    assert!(
        err.contains(&format!("{}:", f.path())),
        "{name}: error does not name the file:\n{err}"
    );
}

#[test]
fn examples_check_format_and_pass_their_tests() {
    for f in std::fs::read_dir(root().join("examples")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "ha") {
            let p = p.to_str().unwrap().to_string();
            let out = halo(&["check", &p]);
            assert_eq!(out.status.code(), Some(0), "{p}: {}", text(&out.stderr));
            let out = halo(&["fmt", "--check", &p]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{p} is not formatted: {}",
                text(&out.stdout)
            );
        }
    }
    let out = halo(&["test", "--ci", "tests/policies"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = halo(&["test", "--ci", "examples"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let last = stdout.lines().last().unwrap();
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 12, "{last}");
    assert!(last.ends_with(" 0 failed"), "{last}");
}

#[test]
fn malformed_input_gives_located_errors() {
    rejects(
        "unclosed.ha",
        b"cluster c {\n  node n1\n",
        "unclosed.ha:1:11",
    );
    rejects(
        "stray.ha",
        b"cluster c { node n1 }\n}\n",
        "without a matching",
    );
    rejects(
        "keyword.ha",
        format!("{VALID}colocat r with r\n").as_bytes(),
        "did you mean `colocate`?",
    );
    rejects(
        "unknown-rsc.ha",
        format!("{VALID}prefer web on n1\n").as_bytes(),
        "unknown resource `web`",
    );
    rejects(
        "unknown-node.ha",
        format!("{VALID}prefer r on n9\n").as_bytes(),
        "unknown node `n9`",
    );
    rejects(
        "dup.ha",
        format!("{VALID}resource r: ocf:heartbeat:Dummy\n").as_bytes(),
        "declared twice",
    );
    rejects(
        "duration.ha",
        format!("{VALID}resource s: ocf:heartbeat:Dummy {{\n  monitor every 10x\n}}\n").as_bytes(),
        "not a unit of time",
    );
    rejects(
        "score.ha",
        format!("{VALID}prefer r on n1 score lots\n").as_bytes(),
        "is not a score",
    );
    rejects(
        "cycle.ha",
        format!("{VALID}resource s: ocf:heartbeat:Dummy {{\n  monitor every 10s\n}}\norder r then s asymmetric\norder s then r asymmetric\n").as_bytes(),
        "cycle",
    );
    rejects(
        "binary.ha",
        &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0xff, 0xfe],
        "not valid UTF-8",
    );
    rejects("nul.ha", b"cluster c {\n  node n1\0\n}\n", "NUL byte");
    rejects(
        "utf8.ha",
        b"cluster c {\n  node \xc3\x28 }\n",
        "utf8.ha:2:8",
    );
    rejects("deep.ha", "{".repeat(100_000).as_bytes(), "nest more than");
    rejects(
        "deep-parens.ha",
        format!(
            "{VALID}prefer r where {}a == b{} \n",
            "(".repeat(100_000),
            ")".repeat(100_000)
        )
        .as_bytes(),
        "deep",
    );
    let long = format!("{VALID}prefer r on n1 score 5 {}\n", "x".repeat(5_000_000));
    rejects("long.ha", long.as_bytes(), "unexpected `x");
    rejects("empty.ha", b"", "no `cluster` block");
    rejects(
        "words.ha",
        "x ".repeat(2_500_000).as_bytes(),
        "more than 10000 words",
    );
    rejects(
        "escape.ha",
        b"cluster c {\n  node \"a\\p\"\n}\n",
        "unknown escape `\\p`",
    );
    // A setting that holds one value is given once per block: the last one
    // would otherwise win without a word.
    rejects(
        "fencing-twice.ha",
        b"cluster c {\n  node n1\n  node n2\n  node n3\n  fencing on\n  fencing off\n}\n",
        "fencing-twice.ha:6:3: `fencing` is set twice in the cluster block",
    );
    rejects(
        "quorum-twice.ha",
        b"cluster c {\n  node n1\n  quorum majority\n  quorum ignore\n}\n",
        "`quorum` is set twice",
    );
    rejects(
        "stickiness-twice.ha",
        format!("{VALID}defaults {{\n  stickiness 1\n  stickiness 2\n}}\n").as_bytes(),
        "first set at line 12, column 3",
    );
    rejects(
        "threshold-twice.ha",
        format!("{VALID}resource s: ocf:heartbeat:Dummy {{\n  migration-threshold 1\n  migration-threshold 3\n  monitor every 10s\n}}\n").as_bytes(),
        "`migration-threshold` is set twice in `s`",
    );
    rejects(
        "nul-in-string.ha",
        format!("{VALID}resource s: ocf:heartbeat:Dummy {{\n  fake = \"a\0b\"\n}}\n").as_bytes(),
        "control character U+0000 inside a string",
    );
    rejects(
        "clone-max.ha",
        format!("{VALID}clone x: ocf:heartbeat:Dummy {{\n  monitor every 10s\n  clone-max 4294967295\n}}\n").as_bytes(),
        "`clone-max 4294967295` is more than the 10000",
    );
    rejects(
        "empty-witness.ha",
        b"cluster c {\n  node n1\n  node n2\n  quorum witness \"\"\n}\n",
        "the witness's address is empty",
    );
    let dups = format!("cluster c {{ {} }}\n", "node n {}; ".repeat(100_000));
    rejects("dups.ha", dups.as_bytes(), "more diagnostics not shown");
}

#[test]
fn byte_order_marks_and_crlf_line_endings_are_fine() {
    let f = Scratch::new("bom.ha", format!("\u{feff}{VALID}").as_bytes());
    let out = halo(&["check", f.path()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let crlf = format!("{VALID}prefer x on n1\n").replace('\n', "\r\n");
    let f = Scratch::new("crlf.ha", crlf.as_bytes());
    let err = text(&halo(&["check", f.path()]).stderr);
    assert!(err.contains("crlf.ha:11:8"), "{err}");
    assert!(err.contains(" 11 │ prefer x on n1"), "{err}");
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let f = Scratch::new(
        "many.ha",
        format!("{VALID}prefer a on n1\nprefer r on n7\ncolocate r with b\n").as_bytes(),
    );
    let out = halo(&["check", f.path()]);
    let err = text(&out.stderr);
    for want in [
        "unknown resource `a`",
        "unknown node `n7`",
        "unknown resource `b`",
    ] {
        assert!(err.contains(want), "missing {want}:\n{err}");
    }
    assert!(
        text(&out.stdout).contains("3 errors"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    let out = halo(&["check", "/nonexistent/policy.ha"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no such file"),
        "{}",
        text(&out.stderr)
    );
    let out = halo(&["simulate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = halo(&["simulate", "examples/apache.ha", "--node-fail", "web9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown node `web9`"));
    let out = halo(&["simulate", "examples/apache.ha", "--op-fail", "vip-monitor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("RSC:OP@NODE"));
    // A device is refused at once, not read for gigabytes.
    for args in [
        vec!["simulate", "examples/apache.ha", "--state", "/dev/zero"],
        vec!["simulate", "--cib", "/dev/zero"],
        vec!["import", "/dev/zero"],
        vec!["check", "/dev/zero"],
    ] {
        let start = Instant::now();
        let out = halo(&args);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{args:?} took long"
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("is a device"),
            "{}",
            text(&out.stderr)
        );
    }
    // A named pipe nobody writes to does not hang the command.
    let fifo = std::env::temp_dir().join(format!("halo-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo_path = fifo.display().to_string();
    let start = Instant::now();
    let out = halo(&["simulate", "examples/apache.ha", "--state", &fifo_path]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "a FIFO without a writer hung"
    );
    assert_ne!(out.status.code(), Some(0));
    let _ = std::fs::remove_file(&fifo);
}

#[test]
fn bad_state_files_are_located() {
    let f = Scratch::new(
        "bad-state.json",
        b"{\n  \"nodes\": {\n    \"web1\": { \"status\": \"sleeping\" }\n  }\n}\n",
    );
    let out = halo(&["simulate", "examples/apache.ha", "--state", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("bad-state.json:3:"), "{err}");
    let f = Scratch::new("unknown-node.json", b"{\"nodes\": {\"web7\": {}}}");
    let out = halo(&["simulate", "examples/apache.ha", "--state", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`web7`"));
    // Nothing accepted silently: a key given twice, a return code that is no
    // exit status; a byte-order mark is fine.
    for (name, body, expect) in [
        (
            "dup-key.json",
            "{\n  \"nodes\": {\n    \"web1\": {\"standby\": true},\n    \"web1\": {}\n  }\n}\n",
            "dup-key.json:4:",
        ),
        (
            "rc-negative.json",
            "{\"resources\": {\"web\": {\"web1\": {\"role\": \"started\", \"failed\": {\"op\": \"monitor\", \"rc\": -1}}}}}",
            "is -1: a return code is an exit status",
        ),
        (
            "rc-huge.json",
            "{\"resources\": {\"web\": {\"web1\": {\"role\": \"started\", \"failed\": {\"op\": \"monitor\", \"rc\": 99999}}}}}",
            "is 99999",
        ),
    ] {
        let f = Scratch::new(name, body.as_bytes());
        let out = halo(&["simulate", "examples/apache.ha", "--state", f.path()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(expect), "{name}: expected `{expect}` in {err}");
    }
    let f = Scratch::new("bom.json", "\u{feff}{\"nodes\": {\"web1\": {}}}".as_bytes());
    let out = halo(&["simulate", "examples/apache.ha", "--state", f.path()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn simulate_is_byte_identical_across_runs() {
    for format in ["text", "json", "dot"] {
        let args = [
            "simulate",
            "examples/quickstart.ha",
            "--node-fail",
            "node1",
            "--format",
            format,
        ];
        let a = halo(&args);
        let b = halo(&args);
        assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
        assert_eq!(a.stdout, b.stdout, "{format} output differs between runs");
        assert!(!a.stdout.is_empty());
    }
}

#[test]
fn simulate_json_lists_actions_in_an_order_its_edges_respect() {
    let out = halo(&[
        "simulate",
        "examples/quickstart.ha",
        "--node-fail",
        "node1",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = v["actions"].as_array().unwrap();
    let edges = v["edges"].as_array().unwrap();
    assert!(actions.len() > 3 && !edges.is_empty(), "{v}");
    for e in edges {
        let (a, b) = (e[0].as_u64().unwrap(), e[1].as_u64().unwrap());
        assert!(a < b, "edge {a} -> {b} goes backwards in the action list");
        assert!((b as usize) < actions.len());
    }
    for key in [
        "notes",
        "placements",
        "quorate",
        "revised_state",
        "transitions",
    ] {
        assert!(v.get(key).is_some(), "no `{key}`");
    }
    let at = v["placements"].to_string();
    assert!(
        at.contains("quickstart.ha:"),
        "placements are not located: {at}"
    );
}

#[test]
fn simulate_shows_fencing_before_recovery() {
    let state = Scratch::new(
        "rhel-state.json",
        br#"{"resources": {
            "clusterfence": {"ip-10-0-3-58.ec2.internal": {"role": "started"}},
            "Apache": {"ip-10-0-4-38.ec2.internal": {"role": "started"}},
            "PHP-FPM": {"ip-10-0-4-38.ec2.internal": {"role": "started"}}}}"#,
    );
    let out = halo(&[
        "simulate",
        "examples/rhel-web.ha",
        "--state",
        state.path(),
        "--node-fail",
        "ip-10-0-4-38.ec2.internal",
    ]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let fence = s.find("1. fence ip-10-0-4-38.ec2.internal").expect(&s);
    let start = s.find("start Apache on").expect(&s);
    assert!(fence < start, "{s}");
}

#[test]
fn why_names_the_lines_that_scored() {
    let out = halo(&["why", "examples/apache.ha", "web"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(s.contains("web: web1 (started)"), "{s}");
    assert!(
        s.contains("50  location constraint on web  [examples/apache.ha:28:1]"),
        "{s}"
    );
    assert!(s.contains("declaration order"), "{s}");
}

#[test]
fn check_json_lists_diagnostics() {
    let f = Scratch::new("j.ha", format!("{VALID}prefer q on n1\n").as_bytes());
    let out = halo(&["check", "--format", "json", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v[0]["diagnostics"][0];
    assert_eq!(d["code"], "halo::unknown-resource");
    assert_eq!(d["line"], 11);
    assert_eq!(d["column"], 8);
}

#[test]
fn fmt_rewrites_check_and_diff() {
    let f = Scratch::new("fmt.ha", b"cluster c { node n1; node n2\nfencing off }\nresource r : ocf:heartbeat:Dummy { monitor every 10s }\n");
    let out = halo(&["fmt", "--check", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    let out = halo(&["fmt", "--diff", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("\n+  node n2\n")
            && text(&out.stdout).contains("\n@@ -1,3 +1,7 @@\n"),
        "{}",
        text(&out.stdout)
    );
    let out = halo(&["fmt", f.path()]);
    assert_eq!(out.status.code(), Some(0));
    let out = halo(&["fmt", "--check", f.path()]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_failing_test_fails_the_run() {
    let f = Scratch::new(
        "failing.ha",
        format!("{VALID}test \"wrong\" {{\n  expect r running on n2\n}}\n").as_bytes(),
    );
    let out = halo(&["test", f.path()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("expected r running on n2, but it is running on n1"),
        "{s}"
    );
    assert!(s.ends_with("0 passed, 1 failed\n"), "{s}");
    let snap = f.0.parent().unwrap().join("__snapshots__/failing.ha.snap");
    let _ = std::fs::remove_file(snap);
}

const CIB: &str = r#"<cib have-quorum="1">
  <configuration>
    <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
    <resources>
      <primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/>
      <primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/>
      BUNDLE
    </resources>
    <constraints><rsc_location id="l" rsc="b" node="n2" score="100"/></constraints>
  </configuration>
  <status>
    <node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
      <lrm id="1"><lrm_resources><lrm_resource id="b" class="ocf" provider="heartbeat" type="Dummy">
        <lrm_rsc_op id="b_last_0" operation="start" call-id="2" rc-code="0" op-status="0" interval="0"/>
      </lrm_resource></lrm_resources></lrm>
    </node_state>
    <node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
  </status>
</cib>"#;

#[test]
fn simulate_a_pacemaker_cib() {
    let f = Scratch::new("cib.xml", CIB.replace("BUNDLE", "").as_bytes());
    let out = halo(&["simulate", "--cib", f.path(), "--format", "pacemaker"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with("Transition Summary:\n"), "{s}");
    assert!(s.contains("  * Start a ( n1 )\n"), "{s}");
    assert!(s.contains("  * Move b ( n1 -> n2 )\n"), "{s}");
}

#[test]
fn unsupported_cib_features_are_named_with_exit_3() {
    let f = Scratch::new(
        "cib-bundle.xml",
        CIB.replace("BUNDLE", "<bundle id=\"httpd-bundle\"/>")
            .as_bytes(),
    );
    let out = halo(&["simulate", "--cib", f.path(), "--format", "pacemaker"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("unsupported: bundle 'httpd-bundle'"),
        "{}",
        text(&out.stderr)
    );
    let f = Scratch::new("not-xml.xml", b"<cib><configuration>");
    let out = halo(&["simulate", "--cib", f.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not-xml.xml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn import_writes_a_policy_that_checks_and_plans_the_same() {
    let f = Scratch::new("imported.xml", CIB.replace("BUNDLE", "").as_bytes());
    let dir = f.0.parent().unwrap().join("import-out");
    let out = halo(&["import", f.path(), "-o", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ha = dir.join("imported.ha");
    let state = dir.join("imported.state.json");
    let check = halo(&["check", ha.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let a = halo(&["simulate", "--cib", f.path(), "--now", "1"]);
    let b = halo(&[
        "simulate",
        ha.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--now",
        "1",
    ]);
    assert_eq!(text(&a.stdout), text(&b.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn agent_exec_runs_one_action_and_prints_json() {
    let dir = std::env::temp_dir().join(format!("halo-cli-agent-{}", std::process::id()));
    let state = dir.display().to_string();
    let exec = |action: &str| {
        halo(&[
            "agent",
            "exec",
            "halo:stateful",
            action,
            "--rsc",
            "db",
            "--state-dir",
            &state,
        ])
    };
    let json = |o: &Output| -> serde_json::Value { serde_json::from_slice(&o.stdout).unwrap() };
    let out = exec("monitor");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a monitor that finds it stopped fails"
    );
    assert_eq!(json(&out)["outcome"], "not-running");
    let out = exec("start");
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(
        (v["rc"].as_i64(), v["outcome"].as_str()),
        (Some(0), Some("success"))
    );
    assert_eq!(v["promotion"], 5);
    for key in ["duration_ms", "exit_reason", "output"] {
        assert!(v.get(key).is_some(), "no {key} in {v}");
    }
    assert_eq!(exec("promote").status.code(), Some(0));
    let out = exec("monitor");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a monitor that finds it promoted succeeds"
    );
    assert_eq!(json(&out)["outcome"], "promoted");
    assert_eq!(exec("stop").status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn agent_exec_refuses_bad_input_with_exit_2() {
    for (args, expect) in [
        (
            &["agent", "exec", "ocf:Dummy", "start"][..],
            "ocf:PROVIDER:TYPE",
        ),
        (
            &["agent", "exec", "halo:dummy", "start", "nonsense"][..],
            "NAME=VALUE",
        ),
        (
            &["agent", "exec", "halo:dummy", "start", "--timeout", "soon"][..],
            "--timeout soon",
        ),
        (&["agent", "describe", "lsb:ssh"][..], "no meta-data"),
    ] {
        let out = halo(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected `{expect}` in {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn agent_describe_writes_a_declaration_that_compiles() {
    let out = halo(&["agent", "describe", "halo:stateful", "--format", "ha"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let decl = text(&out.stdout);
    assert!(
        decl.contains("agent halo:stateful {") && decl.contains("promotable"),
        "{decl}"
    );
    let policy = format!(
        "{decl}\ncluster c {{\n  node n1\n  node n2\n  node n3\n  fencing off\n}}\n\n\
         promotable db: halo:stateful {{\n  delay = \"0\"\n  monitor promoted every 10s\n}}\n"
    );
    let f = Scratch::new("described.ha", policy.as_bytes());
    let out = halo(&["check", f.path()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{policy}",
        text(&out.stderr)
    );
    let text_out = text(&halo(&["agent", "describe", "halo:dummy"]).stdout);
    assert!(
        text_out.contains("parameters:") && text_out.contains("delay"),
        "{text_out}"
    );
}

#[test]
fn a_closed_or_full_standard_output_is_no_panic() {
    use std::process::{Command, Stdio};
    let files: Vec<String> = std::fs::read_dir("../examples")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ha"))
        .map(|p| p.display().to_string())
        .collect();
    // `halo check ... | head -1`: the reader is gone before the output.
    let mut child = Command::new(env!("CARGO_BIN_EXE_halo"))
        .arg("check")
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    // `> /dev/full`: reported, exit 2.
    for args in [
        vec!["check", "../examples/apache.ha"],
        vec!["simulate", "../examples/quickstart.ha", "--format", "json"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_halo"))
            .args(&args)
            .stdout(
                std::fs::File::options()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot write output"), "{args:?}: {err}");
    }
}

#[test]
fn check_shows_how_long_a_lost_node_holds_its_resources_with_fencing_off() {
    // The Redis seed runs with fencing off: its longest stop is 20 s.
    let out = halo(&["check", "examples/redis.ha"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("resources start elsewhere 25.35 s later")
            && shown.contains("twice the watchdog 2 s"),
        "{shown}"
    );
    let out = halo(&["check", "--format", "json", "examples/redis.ha"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["lost_node_wait_ms"], 25350, "{v}");
    // With fencing on, the fence decides: no such wait.
    let out = halo(&["check", "examples/quickstart.ha"]);
    assert!(!text(&out.stdout).contains("fencing off"));
}
