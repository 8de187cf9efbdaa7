//! `cargo xtask conformance [--corpus DIR] [--bless] [--tier N]`
//!
//! Runs Pacemaker's scheduler regression corpus (`../shared/pcmk-corpus` by
//! default, or `--corpus DIR` / `HALO_PCMK_CORPUS`; it is never copied into the
//! project) through `halo simulate --cib CASE.xml --format pacemaker`, compared by
//! the corpus's own `compare.py`, and prints pass rates per tier.
//!
//! `tests/pcmk.passing` is a ratchet: the names of the cases that pass. A case
//! listed there that no longer passes fails the run (with the command that
//! reproduces it); `--bless` rewrites the list after an improvement.

mod deb;
mod differential;
mod generate;
mod notifications;
mod shrink;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const RATCHET: &str = "tests/pcmk.passing";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("conformance") => match conformance(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::from(2)
            }
        },
        Some("differential") => match differential::run(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::from(2)
            }
        },
        Some("notifications") => match notifications::run(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::from(2)
            }
        },
        Some("deb") => match deb::deb(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::from(2)
            }
        },
        Some("lab") => match lab(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::from(2)
            }
        },
        Some("import-roundtrip") => match import_roundtrip(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: cargo xtask conformance [--corpus DIR] [--bless] [--tier N]\n       cargo xtask deb [--out DIR]\n       cargo xtask import-roundtrip [--corpus DIR]\n       cargo xtask lab [--fencing] [--iterations N] [--seed S] [--fault KIND[,KIND...]]\n       cargo xtask notifications [--corpus DIR]\n       cargo xtask differential [--cases N] [--seed S] [--kind tier1|tier2|tier3|all] [--generator own|gen-cib] [--out DIR] [--min-agreement PCT]\n       cargo xtask differential --replay tests/differential\n       cargo xtask differential --minimize CIB [--out DIR]");
            ExitCode::from(2)
        }
    }
}

/// The kinds of fault the lab injects (`Fault` in `cli/tests/safety.rs`).
const LAB_FAULTS: &str = "Kill|KillLeader|FreezeShort|FreezeLong|Partition|ServiceDies|Lossy|MonitorHangs|StartFails|StopHangs|DiskFull|AgentKilled|AgentPaused|FenceLevelFails|FencingFails";

/// The fault lab, or with `--fencing` the fencing lab (`cli/tests/safety.rs`),
/// in release mode, with its iterations and seed: a live cluster through
/// random faults, its audits always on.
fn lab(args: &[String]) -> Result<ExitCode, String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["test", "--release", "-p", "halo", "--test", "safety"]);
    // The fencing lab, or the fault lab.
    let fencing = args.iter().any(|a| a == "--fencing");
    cmd.arg(if fencing {
        "the_fencing_lab"
    } else {
        "the_fault_lab"
    });
    cmd.args(["--", "--nocapture"]);
    let mut it = args.iter().filter(|a| *a != "--fencing");
    while let Some(a) = it.next() {
        let (var, what) = match a.as_str() {
            "--iterations" if fencing => ("LAB_FENCING_ITERATIONS", "a number of iterations"),
            "--iterations" => ("LAB_ITERATIONS", "a number of iterations"),
            "--seed" => ("LAB_SEED", "a seed"),
            "--fault" => ("LAB_FAULT", "a kind of fault"),
            other => {
                return Err(format!(
                    "lab: unknown option {other} (--fencing, --iterations N, --seed S, --fault KIND[,KIND...]; kinds: {LAB_FAULTS})"
                ))
            }
        };
        let v = it.next().ok_or_else(|| format!("{a} needs {what}"))?;
        if var == "LAB_FAULT" {
            if let Some(k) = v.split(',').find(|k| {
                !LAB_FAULTS
                    .split('|')
                    .any(|f| f.eq_ignore_ascii_case(k.trim()))
            }) {
                return Err(format!("--fault {k}: not a kind of fault ({LAB_FAULTS})"));
            }
        } else {
            v.parse::<u64>()
                .map_err(|_| format!("{a} {v}: not a whole number"))?;
        }
        cmd.env(var, v);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds `halo` in release mode and returns its path.
/// The halo binary to judge with: `HALO_BIN` when set (another build, for
/// instance one from before a fix, to shrink the case it fixes), else this
/// tree's release build.
pub(crate) fn build_halo() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("HALO_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "-p", "halo"])
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build failed".into());
    }
    Ok(root().join("target/release/halo"))
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

struct Options {
    corpus: PathBuf,
    bless: bool,
    tier: Option<String>,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        corpus: std::env::var_os("HALO_PCMK_CORPUS")
            .map_or_else(|| root().join("../shared/pcmk-corpus"), PathBuf::from),
        bless: false,
        tier: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--corpus" => o.corpus = PathBuf::from(it.next().ok_or("--corpus needs a directory")?),
            "--bless" => o.bless = true,
            "--tier" => o.tier = Some(it.next().ok_or("--tier needs a number")?.clone()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

fn conformance(args: &[String]) -> Result<ExitCode, String> {
    let o = options(args)?;
    let compare = o.corpus.join("compare.py");
    if !compare.exists() {
        return Err(format!(
            "no Pacemaker corpus at {} (give --corpus DIR or set HALO_PCMK_CORPUS)",
            o.corpus.display()
        ));
    }
    eprintln!("building halo (release)...");
    let halo = build_halo()?;
    let out = std::env::temp_dir().join(format!("halo-conformance-{}.json", std::process::id()));
    let cmd = format!(
        "{} simulate --cib {{xml}} --format pacemaker",
        halo.display()
    );
    eprintln!("running the corpus ({})...", o.corpus.display());
    let mut run = Command::new("python3");
    run.arg(&compare)
        .args([
            "--manifest",
            &o.corpus.join("manifest.json").to_string_lossy(),
        ])
        .args(["--xml-dir", &o.corpus.join("xml").to_string_lossy()])
        .args([
            "--cmd",
            &cmd,
            "--jobs",
            "2",
            "--json",
            &out.to_string_lossy(),
        ]);
    if let Some(t) = &o.tier {
        run.args(["--tier", t]);
    }
    let result = run
        .output()
        .map_err(|e| format!("cannot run python3 {}: {e}", compare.display()))?;
    if !result.status.success() {
        return Err(format!(
            "compare.py failed: {}",
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).map_err(|e| e.to_string())?)
            .map_err(|e| format!("compare.py wrote unreadable JSON: {e}"))?;
    let _ = std::fs::remove_file(&out);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(o.corpus.join("manifest.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let tier_of = |case: &str| manifest["cases"][case]["tier"].as_u64().unwrap_or(0);

    let mut passing = BTreeSet::new();
    let mut outcomes: BTreeMap<String, String> = BTreeMap::new();
    let mut by_tier: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for r in report["results"].as_array().into_iter().flatten() {
        let case = r["case"].as_str().unwrap_or_default().to_string();
        let outcome = r["outcome"].as_str().unwrap_or_default().to_string();
        let t = by_tier.entry(tier_of(&case)).or_default();
        t.1 += 1;
        if outcome == "pass" {
            t.0 += 1;
            passing.insert(case.clone());
        }
        outcomes.insert(case, outcome);
    }
    for (tier, (pass, total)) in &by_tier {
        let pct = if *total == 0 {
            0.0
        } else {
            100.0 * *pass as f64 / *total as f64
        };
        println!("tier {tier}: {pass}/{total} pass ({pct:.0}%)");
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outcomes.values() {
        *counts.entry(o.as_str()).or_default() += 1;
    }
    println!("outcomes: {counts:?}");
    for bad in ["crashed", "timeout"] {
        for (case, _) in outcomes.iter().filter(|(_, o)| o.as_str() == bad) {
            println!("{bad}: {case}");
        }
    }

    let ratchet_path = root().join(RATCHET);
    let listed: BTreeSet<String> = std::fs::read_to_string(&ratchet_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if o.bless {
        if o.tier.is_some() {
            return Err("--bless needs the whole corpus (no --tier)".into());
        }
        let mut text = String::from("# Pacemaker corpus cases that `halo simulate --cib` decides as crm_simulate does.\n# Written by `cargo xtask conformance --bless`; CI fails if a listed case regresses.\n");
        for c in &passing {
            text.push_str(c);
            text.push('\n');
        }
        std::fs::write(&ratchet_path, text).map_err(|e| e.to_string())?;
        println!("wrote {} ({} cases)", RATCHET, passing.len());
        return Ok(ExitCode::SUCCESS);
    }
    let regressed: Vec<&String> = listed
        .iter()
        .filter(|c| outcomes.contains_key(*c) && !passing.contains(*c))
        .collect();
    let newly: usize = passing.iter().filter(|c| !listed.contains(*c)).count();
    if newly > 0 {
        println!("{newly} case(s) pass that {RATCHET} does not list yet: run `cargo xtask conformance --bless`");
    }
    let crashed = outcomes.values().any(|o| o == "crashed" || o == "timeout");
    if regressed.is_empty() && !crashed {
        println!(
            "conformance ratchet holds ({} listed cases pass)",
            listed.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for c in &regressed {
        println!(
            "REGRESSED {c} ({}): reproduce with `{} simulate --cib {} --format pacemaker` and compare with {}",
            outcomes.get(*c).map_or("?", String::as_str),
            halo.display(),
            o.corpus.join("xml").join(format!("{c}.xml")).display(),
            o.corpus.join("summary").join(format!("{c}.summary")).display()
        );
    }
    Ok(ExitCode::FAILURE)
}

/// `cargo xtask import-roundtrip`: `halo import` on every corpus case either
/// writes a policy that passes `halo check` and plans exactly as `simulate --cib`
/// does, or exits 3 naming what is unsupported. Anything else fails.
fn import_roundtrip(args: &[String]) -> Result<ExitCode, String> {
    let o = options(args)?;
    let xml_dir = o.corpus.join("xml");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&xml_dir)
        .map_err(|e| format!("no Pacemaker corpus at {}: {e}", xml_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    cases.sort();
    let halo = build_halo()?;
    let out = std::env::temp_dir().join(format!("halo-import-{}", std::process::id()));
    let run = |args: &[&str]| {
        Command::new(&halo)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run halo: {e}"))
    };
    let (mut same, mut unsupported, mut bad) = (0, 0, Vec::new());
    for case in &cases {
        let xml = case.to_string_lossy().into_owned();
        let imported = run(&["import", &xml, "-o", &out.to_string_lossy()])?;
        match imported.status.code() {
            Some(3) => unsupported += 1,
            Some(0) => {
                let stem = case
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let ha = out
                    .join(format!("{stem}.ha"))
                    .to_string_lossy()
                    .into_owned();
                let state = out
                    .join(format!("{stem}.state.json"))
                    .to_string_lossy()
                    .into_owned();
                let check = run(&["check", &ha])?;
                let a = run(&["simulate", "--cib", &xml, "--now", "1700000000"])?;
                let b = run(&["simulate", &ha, "--state", &state, "--now", "1700000000"])?;
                if check.status.success() && a.status.success() && a.stdout == b.stdout {
                    same += 1;
                } else {
                    bad.push(format!(
                        "{stem}: the imported policy plans differently or fails check"
                    ));
                }
            }
            other => bad.push(format!(
                "{}: halo import exited {other:?}: {}",
                case.display(),
                String::from_utf8_lossy(&imported.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "import: {same} round-trip, {unsupported} unsupported (exit 3), {} wrong",
        bad.len()
    );
    for b in &bad {
        println!("  {b}");
    }
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
