//! The JSON plan is written as a stream: `simulate --format json` needs about the
//! memory of the text format, not a value tree of the whole plan (which took 1.43 GB
//! where the text took 118 MB on an imported 64 x 10,000 cluster).
//!
//! Alone in its test binary, so that no other test's processes run beside it.

#![allow(clippy::unwrap_used)]

mod scratch;

use nix::sys::resource::{getrusage, UsageWho};
use scratch::Scratch;
use std::process::{Command, Stdio};

/// Runs `halo ARGS` with its output thrown away: its exit status, and the largest
/// peak resident memory of any child this test has run so far, in MiB (the kernel
/// keeps the maximum over the waited-for children).
fn run(args: &[&str]) -> (Option<i32>, u64) {
    let status = Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    // ru_maxrss is in KiB on Linux.
    let peak = u64::try_from(usage.max_rss()).unwrap() / 1024;
    (status.code(), peak)
}

/// 8,000 resources on 16 nodes, in chains of 100: a plan of 16,000 actions whose
/// JSON is about 20 MB.
fn big_policy() -> String {
    let nodes: String = (0..16).map(|i| format!("  node n{i}\n")).collect();
    let resources: String = (0..8000)
        .map(|i| format!("resource r{i}: ocf:heartbeat:Dummy {{ monitor every 10s }}\n"))
        .collect();
    let orders: String = (1..8000)
        .filter(|i| i % 100 != 0)
        .map(|i| format!("order r{} then r{i}\n", i - 1))
        .collect();
    format!("cluster c {{\n{nodes}  fencing off\n}}\n{resources}{orders}")
}

#[test]
fn the_json_plan_takes_about_the_memory_of_the_text_plan() {
    let policy = Scratch::new("memory.ha", big_policy().as_bytes());
    // The text run first: after the JSON run the maximum is the larger of the two.
    let (text_exit, text) = run(&["simulate", policy.path(), "--format", "text"]);
    let (json_exit, json) = run(&["simulate", policy.path(), "--format", "json"]);
    assert_eq!((text_exit, json_exit), (Some(0), Some(0)));
    // A value tree of this plan takes about 300 MB beside the plan's 45 MB.
    assert!(
        json <= text + text / 2 + 16,
        "simulate --format json peaked at {json} MiB, the text format at {text} MiB"
    );
}
