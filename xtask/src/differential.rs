//! `cargo xtask differential [--cases N] [--seed S] [--kind tier1|tier2|tier3|all] [--generator own|gen-cib] [--out DIR] [--min-agreement PCT]`
//! (`--help` for all its forms, `--minimize CIB` to shrink one case)
//!
//! Differential testing against Pacemaker: generates random CIBs
//! (`generate.rs`: three kinds that follow the corpus's tiers, drawn in turn
//! unless `--kind` picks one), runs `crm_simulate -x CIB -S` and
//! `halo simulate --cib CIB --format pacemaker` on each, and compares their
//! Transition Summaries the way the corpus's `compare.py` does (reason text
//! ignored, clone instance numbers stripped, `blocked` kept). Agreement is
//! reported per kind and per feature (the corpus's `classify.py` tags).
//!
//! With `--generator gen-cib`, the CIBs come from `../shared/tools/gen_cib.py`
//! instead (Dummy primitives, groups, anonymous interleaved clones, location
//! / colocation / order chains, stickiness, running, failed, offline and
//! unclean nodes, fencing, with and without probes), its arguments drawn at
//! random for each case.
//!
//! `cargo xtask differential --replay DIR` runs the saved disagreements kept
//! as regression cases (`tests/differential`: `NAME.xml` and crm_simulate's
//! summary `NAME.pacemaker.txt`) and fails if Halo disagrees with any; it
//! needs no crm_simulate.
//!
//! Without `--seed`, each run draws a fresh seed and prints it; pass it back
//! with `--seed` (and the same `--kind` and `--cases`) to replay a run. Every
//! disagreement is written to DIR (default `target/differential`) as a
//! reproducer: the CIB and both summaries; the first few are shrunk to a
//! minimal CIB that still disagrees (`CASE.min.xml`). The run fails when the
//! agreement rate falls below `--min-agreement` (default 0: report only).
//! Cases crm_simulate itself cannot plan (Pacemaker 2.1.5 asserts on a few
//! random clusters) are listed and left out of the rate.

use crate::generate::{self, Digests, Kind};
use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Clone, Copy, PartialEq)]
enum Generator {
    Own,
    GenCib,
}

struct Options {
    cases: u32,
    /// The kinds of the own generator's cases: one, or all three in turn.
    kinds: Vec<Kind>,
    seed: u64,
    generator: Generator,
    out: PathBuf,
    min_agreement: f64,
    /// How many disagreements of the run are shrunk.
    shrink: u32,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        cases: 200,
        kinds: Kind::ALL.to_vec(),
        seed: fresh_seed(),
        generator: Generator::Own,
        out: crate::root().join("target/differential"),
        min_agreement: 0.0,
        shrink: 3,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().cloned().ok_or(format!("{a} needs {what}"));
        match a.as_str() {
            "--cases" => {
                o.cases = value("a number")?
                    .parse()
                    .map_err(|_| "--cases needs a number")?
            }
            "--seed" => {
                o.seed = value("a number")?
                    .parse()
                    .map_err(|_| "--seed needs a number")?
            }
            "--generator" => {
                o.generator = match value("own or gen-cib")?.as_str() {
                    "own" => Generator::Own,
                    "gen-cib" => Generator::GenCib,
                    g => return Err(format!("--generator: `{g}` is not own or gen-cib")),
                }
            }
            "--kind" => {
                let k = value("tier1, tier2, tier3 or all")?;
                o.kinds = match Kind::parse(&k) {
                    Some(kind) => vec![kind],
                    None if k == "all" => Kind::ALL.to_vec(),
                    None => return Err(format!("--kind: `{k}` is not tier1, tier2, tier3 or all")),
                }
            }
            "--out" => o.out = PathBuf::from(value("a directory")?),
            "--shrink" => {
                o.shrink = value("a number")?
                    .parse()
                    .map_err(|_| "--shrink needs a number")?
            }
            "--min-agreement" => {
                o.min_agreement = value("a percentage")?
                    .parse()
                    .map_err(|_| "--min-agreement needs a percentage")?
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

const USAGE: &str =
    "usage: cargo xtask differential [--cases N] [--seed S] [--kind tier1|tier2|tier3|all]
           [--generator own|gen-cib] [--out DIR] [--shrink K] [--min-agreement PCT]
       cargo xtask differential --replay tests/differential
       cargo xtask differential --minimize CIB [--out DIR]

Generates random CIBs, plans each with crm_simulate and with halo, and
compares their transition summaries. A fresh seed is drawn and printed
unless --seed is given. Disagreements go to DIR (default
target/differential); the first K (default 3) are shrunk to CASE.min.xml.
--replay runs the kept regression cases; --minimize shrinks one CIB on
which the two disagree and writes NAME.min.xml (with both summaries) to DIR.
HALO_BIN=PATH judges with another halo binary (one built before a fix, to
shrink the case the fix makes agree).";

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    match args {
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        [flag, dir] if flag == "--replay" => return replay(Path::new(dir)),
        [flag, cib, rest @ ..] if flag == "--minimize" => {
            let out = match rest {
                [] => crate::root().join("target/differential"),
                [o, dir] if o == "--out" => PathBuf::from(dir),
                _ => return Err(format!("--minimize CIB takes only --out DIR\n{USAGE}")),
            };
            return minimize_file(Path::new(cib), &out);
        }
        _ => {}
    }
    let o = options(args)?;
    if Command::new("crm_simulate")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(
            "crm_simulate not found: install Debian's pacemaker-cli-utils (scripts/test does)"
                .into(),
        );
    }
    let halo = crate::build_halo()?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    // Every case of the run, for the per-feature report.
    let all = o.out.join("cases");
    let _ = std::fs::remove_dir_all(&all);
    std::fs::create_dir_all(&all).map_err(|e| format!("{}: {e}", all.display()))?;
    let work = o.out.join("work.xml");
    let digests = digests(&o.out)?;
    let mut tally: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut shrunk = 0u32;
    let mut outcome: BTreeMap<String, bool> = BTreeMap::new();
    println!(
        "differential: {} cases, seed {} (replay with --seed {})",
        o.cases, o.seed, o.seed
    );
    for i in 0..o.cases {
        let seed = o.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(i));
        let (label, cib) = match o.generator {
            Generator::Own => {
                let kind = o.kinds[i as usize % o.kinds.len()];
                (kind.name(), generate::generate(seed, kind, &digests))
            }
            Generator::GenCib => ("gen-cib", gen_cib(seed, &o.out)?),
        };
        let case = format!("{label}-{seed}");
        let _ = std::fs::write(all.join(format!("{case}.xml")), &cib);
        let t = tally.entry(label).or_default();
        match judge(&halo, &work, &cib)? {
            Verdict::Invalid { pcmk } => {
                t.invalid += 1;
                save(&o.out, &case, &cib, &pcmk, "")?;
                eprintln!("  {case}: crm_simulate gave no plan (a generator defect)");
            }
            Verdict::Unsupported { pcmk, why } => {
                t.unsupported += 1;
                save(&o.out, &case, &cib, &pcmk, &why)?;
            }
            Verdict::Agree => {
                t.agree += 1;
                outcome.insert(case, true);
            }
            Verdict::Disagree { pcmk, ours } => {
                t.disagree += 1;
                outcome.insert(case.clone(), false);
                save(&o.out, &case, &cib, &pcmk, &ours)?;
                if shrunk < o.shrink {
                    shrunk += 1;
                    minimize(&halo, &o.out, &case, &cib, &differing(&pcmk, &ours))?;
                }
            }
        }
        if (i + 1) % 50 == 0 {
            eprintln!("  {} of {} cases", i + 1, o.cases);
        }
    }
    report_features(&all, &outcome);
    let mut sum = Tally::default();
    for (label, t) in &tally {
        if tally.len() > 1 {
            println!("  {label}: {}", t.line());
        }
        sum.add(t);
    }
    let rate = sum.rate();
    println!(
        "differential: {}; reproducers in {}",
        sum.line(),
        o.out.display()
    );
    if sum.invalid > 0 {
        eprintln!(
            "{} case(s) crm_simulate could not plan (its own assertion, or a generator defect): kept in {} as *.pacemaker.txt",
            sum.invalid,
            o.out.display()
        );
    }
    Ok(if rate + 1e-9 < o.min_agreement {
        eprintln!(
            "agreement {rate:.1}% is below the required {:.1}%",
            o.min_agreement
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// How the cases of one kind came out.
#[derive(Default)]
struct Tally {
    agree: u32,
    disagree: u32,
    unsupported: u32,
    /// Cases crm_simulate itself could not plan: not counted in the rate.
    invalid: u32,
}

impl Tally {
    fn total(&self) -> u32 {
        self.agree + self.disagree + self.unsupported
    }

    fn rate(&self) -> f64 {
        if self.total() == 0 {
            100.0
        } else {
            f64::from(self.agree) * 100.0 / f64::from(self.total())
        }
    }

    fn add(&mut self, o: &Tally) {
        self.agree += o.agree;
        self.disagree += o.disagree;
        self.unsupported += o.unsupported;
        self.invalid += o.invalid;
    }

    fn line(&self) -> String {
        format!(
            "{}/{} agree ({:.1}%), {} disagree, {} unsupported, {} invalid",
            self.agree,
            self.total(),
            self.rate(),
            self.disagree,
            self.unsupported,
            self.invalid
        )
    }
}

/// What the two schedulers make of one CIB.
enum Verdict {
    Agree,
    /// crm_simulate printed no plan: it failed on the CIB (an assertion of
    /// its own, or a CIB it does not take).
    Invalid {
        pcmk: String,
    },
    Disagree {
        pcmk: String,
        ours: String,
    },
    /// Halo refuses the CIB as using what it does not support (exit 3).
    Unsupported {
        pcmk: String,
        why: String,
    },
}

/// Runs crm_simulate and Halo on `cib` (written to `work`) and compares
/// their Transition Summaries.
fn judge(halo: &Path, work: &Path, cib: &str) -> Result<Verdict, String> {
    std::fs::write(work, cib).map_err(|e| format!("{}: {e}", work.display()))?;
    let pcmk = summary_of(Command::new("crm_simulate").arg("-x").arg(work).arg("-S"))?;
    if !pcmk.contains("Transition Summary:") {
        return Ok(Verdict::Invalid { pcmk });
    }
    let ours = Command::new(halo)
        .args(["simulate", "--format", "pacemaker", "--cib"])
        .arg(work)
        .output()
        .map_err(|e| format!("cannot run halo: {e}"))?;
    if ours.status.code() == Some(3) {
        let why = String::from_utf8_lossy(&ours.stderr).into_owned();
        return Ok(Verdict::Unsupported { pcmk, why });
    }
    let text = String::from_utf8_lossy(&ours.stdout).into_owned();
    if !ours.status.success() || !text.contains("Transition Summary:") {
        return Err(format!(
            "halo failed on {} (exit {:?}): {}",
            work.display(),
            ours.status.code(),
            String::from_utf8_lossy(&ours.stderr)
        ));
    }
    Ok(if entries(&pcmk) == entries(&text) {
        Verdict::Agree
    } else {
        Verdict::Disagree { pcmk, ours: text }
    })
}

/// The summary entries only one of the two plans has.
fn differing(pcmk: &str, ours: &str) -> BTreeSet<String> {
    let (a, b): (BTreeSet<String>, BTreeSet<String>) = (
        entries(pcmk).into_iter().collect(),
        entries(ours).into_iter().collect(),
    );
    a.symmetric_difference(&b).cloned().collect()
}

/// Shrinks a disagreement (see `shrink.rs`) and saves the result beside
/// it as `CASE.min.xml` with both summaries: a regression case once copied
/// to tests/differential. A smaller CIB is kept only while it still shows
/// one of the entries the two plans differed on (`wanted`): taking out a
/// cluster option or a meta attribute can turn the case into another
/// disagreement, which would hide the one found.
fn minimize(
    halo: &Path,
    out: &Path,
    case: &str,
    cib: &str,
    wanted: &BTreeSet<String>,
) -> Result<(), String> {
    let work = out.join("shrink.xml");
    let mut failure = None;
    let small = crate::shrink::shrink(
        cib,
        600,
        &mut |candidate| match judge(halo, &work, candidate) {
            Ok(Verdict::Disagree { pcmk, ours }) => {
                section(&pcmk).contains('*') && !differing(&pcmk, &ours).is_disjoint(wanted)
            }
            Ok(_) => false,
            Err(e) => {
                failure.get_or_insert(e);
                false
            }
        },
    );
    if let Some(e) = failure {
        eprintln!("  (while shrinking {case}, halo failed on a candidate: {e})");
    }
    if let Verdict::Disagree { pcmk, ours } = judge(halo, &work, &small)? {
        let name = format!("{case}.min");
        save(out, &name, &small, &pcmk, &ours)?;
        eprintln!(
            "  {case}: shrunk from {} to {} lines: {}",
            cib.lines().count(),
            small.lines().count(),
            out.join(format!("{name}.xml")).display()
        );
    }
    Ok(())
}

/// `--minimize CIB`: shrinks one saved disagreement.
fn minimize_file(cib: &Path, out: &Path) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(cib).map_err(|e| format!("{}: {e}", cib.display()))?;
    let case = cib
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| format!("{}: not a file name", cib.display()))?
        .to_string();
    let halo = crate::build_halo()?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let work = out.join("work.xml");
    let Verdict::Disagree { pcmk, ours } = judge(&halo, &work, &text)? else {
        eprintln!(
            "{}: halo and crm_simulate agree (or it cannot be planned): nothing to shrink",
            cib.display()
        );
        return Ok(ExitCode::FAILURE);
    };
    minimize(&halo, out, &case, &text, &differing(&pcmk, &ours))?;
    Ok(ExitCode::SUCCESS)
}

/// Agreement per feature: the corpus's `classify.py` tags every case, and
/// each tag seen in at least 10 cases is reported, least agreement first.
fn report_features(dir: &Path, outcome: &BTreeMap<String, bool>) {
    let script = crate::root().join("../shared/pcmk-corpus/classify.py");
    if !script.exists() || outcome.is_empty() {
        return;
    }
    let Ok(run) = Command::new("python3").arg(&script).arg(dir).output() else {
        return;
    };
    let Ok(tags) = serde_json::from_slice::<serde_json::Value>(&run.stdout) else {
        eprintln!("classify.py gave no JSON: no per-feature report");
        return;
    };
    let mut per: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for (case, ok) in outcome {
        for t in tags[case]["features"].as_array().into_iter().flatten() {
            let e = per
                .entry(t.as_str().unwrap_or_default().to_string())
                .or_default();
            e.1 += 1;
            e.0 += u32::from(*ok);
        }
    }
    let mut rows: Vec<(f64, String, u32, u32)> = per
        .into_iter()
        .filter(|(_, (_, n))| *n >= 10)
        .map(|(t, (a, n))| (f64::from(a) * 100.0 / f64::from(n), t, a, n))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    println!("agreement per feature (classify.py tags in 10 cases or more):");
    for (pct, tag, a, n) in rows {
        println!("  {pct:5.1}%  {a:>5}/{n:<5}  {tag}");
    }
}

/// Runs every kept regression case in `dir` and compares with the summary
/// crm_simulate gave for it.
fn replay(dir: &Path) -> Result<ExitCode, String> {
    let halo = crate::build_halo()?;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    cases.sort();
    let mut failed = 0;
    for cib in &cases {
        let expected_file = cib.with_extension("pacemaker.txt");
        let expected = std::fs::read_to_string(&expected_file)
            .map_err(|e| format!("{}: {e}", expected_file.display()))?;
        let ours = Command::new(&halo)
            .args(["simulate", "--format", "pacemaker", "--cib"])
            .arg(cib)
            .output()
            .map_err(|e| format!("cannot run halo: {e}"))?;
        let text = String::from_utf8_lossy(&ours.stdout);
        if entries(&expected) != entries(&text) {
            failed += 1;
            eprintln!(
                "{}: Halo disagrees with crm_simulate\n--- crm_simulate\n{}--- halo\n{}",
                cib.display(),
                section(&expected),
                section(&text)
            );
        }
    }
    println!(
        "differential regressions: {}/{} agree",
        cases.len() - failed,
        cases.len()
    );
    Ok(if failed == 0 && !cases.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A seed nobody chose: the clock's nanoseconds mixed with the process id.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    // Short enough to type back.
    mixed % 1_000_000_000
}

/// A CIB from `gen_cib.py`, with arguments drawn from `seed`: half the cases
/// with primitives only, half with groups and clones.
fn gen_cib(seed: u64, out: &Path) -> Result<String, String> {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let r = &mut rng;
    let nodes = r.random_range(2..=6u32);
    let resources = r.random_range(2..=12u32);
    let pick = |r: &mut XorShiftRng, v: &[&str]| v[r.random_range(0..v.len())].to_string();
    let mut args: Vec<String> = vec![
        "--nodes".into(),
        nodes.to_string(),
        "--resources".into(),
        resources.to_string(),
        "--colocations".into(),
        r.random_range(0..=6u32).to_string(),
        "--orders".into(),
        r.random_range(0..=6u32).to_string(),
        "--locations".into(),
        r.random_range(0..=8u32).to_string(),
        "--stickiness".into(),
        pick(r, &["0", "0", "1", "100", "1000"]),
        "--running".into(),
        pick(r, &["0", "0.3", "0.6", "1.0"]),
        "--failed".into(),
        r.random_range(0..=2u32).to_string(),
        "--offline".into(),
        r.random_range(0..=1u32.min(nodes - 1)).to_string(),
        "--probes".into(),
        pick(r, &["all", "all", "none"]),
        "--seed".into(),
        seed.to_string(),
    ];
    if r.random_bool(0.4) {
        args.push("--fencing".into());
    }
    if r.random_bool(0.5) {
        let size = r.random_range(2..=3u32);
        let groups = r.random_range(0..=2u32).min(resources / size);
        args.extend([
            "--groups".into(),
            groups.to_string(),
            "--group-size".into(),
            size.to_string(),
            "--clones".into(),
            r.random_range(0..=2u32).to_string(),
        ]);
    }
    let event = pick(r, &["none", "node-down", "rsc-fail"]);
    let file = out.join("gen-cib.xml");
    if r.random_bool(0.5) {
        // The state the cluster converges to (crm_simulate's own plan
        // applied), then an event on it: what a running cluster sees.
        run_gen_cib(&args, &file)?;
        let graph = out.join("gen-cib-graph.xml");
        let sim = Command::new("crm_simulate")
            .arg("-x")
            .arg(&file)
            .arg("-S")
            .arg("-G")
            .arg(&graph)
            .output()
            .map_err(|e| format!("cannot run crm_simulate: {e}"))?;
        if !sim.status.success() {
            return Err(format!(
                "crm_simulate -G failed on gen_cib.py {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&sim.stderr)
            ));
        }
        args.extend(["--apply-graph".into(), graph.display().to_string()]);
    }
    args.extend(["--event".into(), event]);
    run_gen_cib(&args, &file)?;
    let cib = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    // The arguments as a comment inside the root element (nothing may
    // precede a declaration), `--name value` written `name=value` as a
    // comment may not hold `--`.
    let mut shown = String::new();
    for a in &args {
        match a.strip_prefix("--") {
            Some(name) => {
                let _ = write!(shown, " {name}");
            }
            None => {
                let _ = write!(shown, "={a}");
            }
        }
    }
    let line = format!("<!-- gen_cib.py{shown} -->");
    Ok(match cib.split_once('\n') {
        Some((root, rest)) => format!("{root}\n  {line}\n{rest}"),
        None => cib,
    })
}

fn run_gen_cib(args: &[String], file: &Path) -> Result<(), String> {
    let script = crate::root().join("../shared/tools/gen_cib.py");
    let run = Command::new("python3")
        .arg(&script)
        .args(args)
        .arg("-o")
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run python3 {}: {e}", script.display()))?;
    if !run.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            script.display(),
            args.join(" "),
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    Ok(())
}

fn summary_of(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run crm_simulate: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn save(dir: &Path, case: &str, cib: &str, pcmk: &str, ours: &str) -> Result<(), String> {
    let base = dir.join(case);
    let write = |ext: &str, text: &str| {
        let p = PathBuf::from(format!("{}.{ext}", base.display()));
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("xml", cib)?;
    write("pacemaker.txt", &section(pcmk))?;
    write("halo.txt", &section(ours))
}

/// The Transition Summary section of a `crm_simulate`-style output.
fn section(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("Transition Summary:") {
            inside = true;
        } else if inside && !line.starts_with(' ') {
            break;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The summary's entries, normalized as `compare.py` does: verb, resource
/// without its clone instance number, the details in parentheses with spaces
/// collapsed, and whether the action is blocked; fencing as (node, action).
fn entries(text: &str) -> Vec<String> {
    let mut v: Vec<String> = section(text)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("* "))
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("Fence ") {
                let mut w = rest.split_whitespace();
                let action = w.next()?;
                let node = w.next()?;
                return Some(format!("fence {node} {action}"));
            }
            let (head, tail) = l.split_once('(')?;
            let (details, after) = tail.split_once(')')?;
            let mut h = head.split_whitespace();
            let verb = h.next()?;
            let rsc = h.next()?;
            let rsc = match rsc.rsplit_once(':') {
                Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base,
                _ => rsc,
            };
            let details = details.split_whitespace().collect::<Vec<_>>().join(" ");
            let blocked =
                after.trim_end().ends_with("blocked)") || after.trim_end().ends_with("blocked");
            Some(format!(
                "{verb} {rsc} ({details}){}",
                if blocked { " blocked" } else { "" }
            ))
        })
        .collect();
    v.sort();
    v
}

/// Asks crm_simulate for the digests: it starts a Dummy on a small cluster and
/// writes the history it would record.
fn digests(dir: &Path) -> Result<Digests, String> {
    let input = dir.join("digests.xml");
    let output = dir.join("digests-out.xml");
    let cib = r#"<cib admin_epoch="0" epoch="1" num_updates="1" have-quorum="1" validate-with="pacemaker-3.7">
  <configuration>
    <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="node1"/></nodes>
    <resources><primitive id="d" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="d-mon" name="monitor" interval="10s"/></operations></primitive></resources>
    <constraints/>
  </configuration>
  <status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/></status>
</cib>
"#;
    std::fs::write(&input, cib).map_err(|e| format!("{}: {e}", input.display()))?;
    Command::new("crm_simulate")
        .arg("-x")
        .arg(&input)
        .arg("-S")
        .arg("-O")
        .arg(&output)
        .output()
        .map_err(|e| format!("cannot run crm_simulate: {e}"))?;
    let text =
        std::fs::read_to_string(&output).map_err(|e| format!("{}: {e}", output.display()))?;
    let digest_of = |key: &str| -> Option<String> {
        let at = text.find(&format!("operation_key=\"{key}\""))?;
        let tag_end = at + text[at..].find('>')?;
        let tag = &text[at..tag_end];
        let d = tag.split("op-digest=\"").nth(1)?;
        Some(d.split('"').next()?.to_string())
    };
    match (digest_of("d_start_0"), digest_of("d_monitor_10000")) {
        (Some(once), Some(recurring)) => Ok(Digests { once, recurring }),
        _ => Err(format!(
            "crm_simulate wrote no operation digests to {}",
            output.display()
        )),
    }
}
