//! `halo test`: runs every `test` block and compares each scenario's plans with
//! its snapshot in `__snapshots__/FILE.snap` beside the policy. A snapshot that
//! differs fails the test and shows the diff; `--update` rewrites snapshots. New
//! snapshots are written on first run, so the review of the change sees them.

use crate::load;
use halo_engine::scenario::{run, StepOutcome};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub written: Vec<PathBuf>,
}

/// Collects `.ha` files under the given paths (directories recursively, sorted).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, load::InputError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| load::InputError::io(p, &e))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), load::InputError> {
    let rd = std::fs::read_dir(dir).map_err(|e| load::InputError::io(dir, &e))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            if e.file_name()
                .is_some_and(|n| n != "__snapshots__" && n != "target")
            {
                walk(&e, out)?;
            }
        } else if e.extension().is_some_and(|x| x == "ha") {
            out.push(e);
        }
    }
    Ok(())
}

/// Runs one file's tests, printing results to `out`.
/// How `halo test` treats snapshots.
#[derive(Clone, Copy)]
pub struct SnapshotMode {
    /// Rewrite snapshots that differ.
    pub update: bool,
    /// Never write: a missing snapshot fails (for CI, where nothing is reviewed).
    pub ci: bool,
}

pub fn run_file(
    path: &Path,
    mode: SnapshotMode,
    color: bool,
    out: &mut String,
    totals: &mut Totals,
) {
    let loaded = match load::policy(path) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(out, "{}", e.message);
            totals.failed += 1;
            return;
        }
    };
    if loaded.errors() > 0 {
        out.push_str(&loaded.render(color));
        let _ = writeln!(
            out,
            "{}: does not compile; its tests cannot run",
            path.display()
        );
        totals.failed += 1;
        return;
    }
    let Some(policy) = loaded.policy() else {
        return;
    };
    if policy.tests.is_empty() {
        return;
    }
    let mut snapshot = String::new();
    let mut results = Vec::new();
    for sc in &policy.tests {
        let steps = run(policy, sc);
        let failures: Vec<&StepOutcome> = steps.iter().filter(|s| s.failure.is_some()).collect();
        let _ = writeln!(snapshot, "test {:?}", sc.name);
        for s in &steps {
            write_step(&mut snapshot, s);
        }
        snapshot.push('\n');
        results.push((
            sc,
            failures
                .iter()
                .map(|f| {
                    (
                        loaded.locate(f.origin),
                        f.failure.clone().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>(),
        ));
    }
    let snap_path = snapshot_path(path);
    let old = std::fs::read_to_string(&snap_path).ok();
    let snapshot_diff = match &old {
        Some(o) if *o == snapshot => None,
        Some(o) if !mode.update => Some(diff(o, &snapshot)),
        None if mode.ci => Some(format!(
            "    (no snapshot: run `halo test {}` and commit {})\n",
            path.display(),
            snap_path.display()
        )),
        _ => {
            if let Err(e) = write_snapshot(&snap_path, &snapshot) {
                let _ = writeln!(out, "cannot write snapshot {}: {e}", snap_path.display());
            } else {
                totals.written.push(snap_path.clone());
            }
            None
        }
    };
    for (sc, failures) in results {
        if failures.is_empty() && snapshot_diff.is_none() {
            let _ = writeln!(out, "test {} :: {} ... ok", path.display(), sc.name);
            totals.passed += 1;
        } else {
            let _ = writeln!(out, "test {} :: {} ... FAILED", path.display(), sc.name);
            for (at, msg) in failures {
                let _ = writeln!(out, "    {at}: {msg}");
            }
            totals.failed += 1;
        }
    }
    if let Some(d) = snapshot_diff {
        let _ = writeln!(out, "snapshot {} does not match (- recorded, + now); if the change is intended, run `halo test --update`:", snap_path.display());
        out.push_str(&d);
    }
}

fn write_step(out: &mut String, s: &StepOutcome) {
    let status = if s.failure.is_some() { "FAILED" } else { "ok" };
    if s.title.starts_with("expect") {
        let _ = writeln!(out, "  {} ... {status}", s.title);
        return;
    }
    let _ = writeln!(out, "  {}", s.title);
    if s.transitions.is_empty() {
        let _ = writeln!(out, "    (nothing to do)");
    }
    for t in &s.transitions {
        let _ = writeln!(out, "    * {t}");
    }
    for a in &s.actions {
        let _ = writeln!(out, "    order: {a}");
    }
    if let Some(f) = &s.failure {
        let _ = writeln!(out, "    ! {f}");
    }
}

fn snapshot_path(policy: &Path) -> PathBuf {
    let dir = policy.parent().unwrap_or(Path::new("."));
    let name = policy
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join("__snapshots__").join(format!("{name}.snap"))
}

fn write_snapshot(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    // Write then rename, so an interrupted run never leaves half a snapshot.
    let tmp = path.with_extension("snap.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

pub fn diff(old: &str, new: &str) -> String {
    diff_named(old, new, "recorded", "now")
}

/// A unified diff with headers, hunk positions and three lines of context.
pub fn diff_named(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}
