//! The scenario corpus: `tests/scenarios/<area>/<case>/` holds `policy.ha`, an
//! optional `state.json`, optional `args` (extra `halo simulate` flags, one per
//! line) and `plan.snap`, the reviewed output of `halo simulate`. The folder
//! listing is the test list; a new case needs no code.
//!
//! To add or update cases: `INSTA_UPDATE=always cargo test -p halo --test
//! scenarios`, then review the `plan.snap` diffs.

// Tests fail by panicking; helpers outside #[test] functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut out = Vec::new();
    for area in std::fs::read_dir(&root).unwrap() {
        let area = area.unwrap().path();
        if !area.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&area).unwrap() {
            let case = case.unwrap().path();
            if case.join("policy.ha").exists() {
                out.push(case);
            }
        }
    }
    out.sort();
    out
}

fn simulate(case: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_halo"));
    cmd.current_dir(case)
        .env("NO_COLOR", "1")
        .args(["simulate", "policy.ha"]);
    if case.join("state.json").exists() {
        cmd.args(["--state", "state.json"]);
    }
    if let Ok(args) = std::fs::read_to_string(case.join("args")) {
        cmd.args(args.lines().filter(|l| !l.trim().is_empty()));
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{}: halo simulate failed:\n{stderr}",
        case.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn scenario_corpus() {
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "only {} scenario cases found",
        cases.len()
    );
    for case in cases {
        let description = std::fs::read_to_string(case.join("policy.ha"))
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .to_string();
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&case);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_description(description);
        settings.bind(|| insta::assert_snapshot!("plan", simulate(&case)));
    }
}
