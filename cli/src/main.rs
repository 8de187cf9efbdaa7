//! `halo`: the command line. Dry-run commands (check, fmt, simulate, why, test)
//! read files here and hand text and data to the pure crates.

/// `println!` that never panics: a closed pipe ends the output quietly, any
/// other failure (a full disk) is reported when the command ends (exit 2).
macro_rules! outln {
    ($($t:tt)*) => { $crate::out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` that never panics (see `outln!`).
macro_rules! outp {
    ($($t:tt)*) => { $crate::out(format_args!($($t)*)) };
}

/// `eprintln!` that never panics: with standard error closed there is
/// nowhere to report anything.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `eprint!` that never panics (see `errln!`).
macro_rules! errp {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

mod agent;
mod cluster;
mod generate;
mod history;
mod live;
mod load;
mod pacemaker;
mod render;
mod report;
mod secret;
mod testing;
mod up;

use clap::{Args, Parser, Subcommand, ValueEnum};
use halo_controller::journal::Transition;
use halo_engine::scenario::apply_event;
use halo_model::{ClusterState, Event, OpAction, Timestamp};
use load::{InputError, Loaded};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes scripts can rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// Everything is fine.
    Ok = 0,
    /// The policy (or a state file, or a test) has errors.
    Policy = 1,
    /// Bad usage or an I/O error.
    Usage = 2,
    /// The input uses something Halo cannot express yet (named on stderr).
    Unsupported = 3,
    /// The live cluster cannot be reached (no leader answers).
    Unreachable = 4,
}

#[derive(Parser)]
#[command(
    name = "halo",
    version,
    about = "Halo: a high-availability cluster manager driven by .ha policy files",
    long_about = "Halo keeps services running on a cluster of nodes, as a policy in a .ha file says.\n\n\
Dry runs work anywhere, without a cluster:\n  \
halo check web.ha                  find mistakes, with the line and a fix\n  \
halo simulate web.ha --node-fail web1   what happens if web1 crashes?\n  \
halo why web.ha web                why does `web` run where it runs?\n  \
halo test examples/                run the policies' test scenarios\n  \
halo fmt --check web.ha            is the file in canonical layout?\n\n\
A live cluster:\n  \
halo up                            a 3-node cluster on this machine, with live status\n  \
halo cluster init --name c --node n1=10.0.0.1 ... --out c/   certificates and configs\n  \
halo runner --config c/n1.toml     on each node: its runner and controller replica\n  \
halo apply --config c/admin.toml web.ha   show the plan, ask, apply\n  \
halo status --config c/admin.toml --watch\n\n\
Exit codes: 0 ok, 1 policy or test errors (or a refused command), 2 usage or I/O\n\
errors, 3 unsupported Pacemaker features, 4 the cluster cannot be reached."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check policy files for errors and dangerous settings.
    Check(CheckArgs),
    /// Rewrite policy files in canonical layout (or check / show the difference).
    Fmt(FmtArgs),
    /// Show the plan the cluster would execute, from a state and events.
    Simulate(SimulateArgs),
    /// Explain a resource's placement: every node's score and where it came from.
    Why(WhyArgs),
    /// Run the `test` blocks of policies and compare plans with their snapshots.
    Test(TestArgs),
    /// Turn a Pacemaker CIB (`cibadmin -Q` output) into a .ha policy and a state
    /// file. Exit 3, naming each, if it uses what Halo cannot express yet.
    Import(ImportArgs),
    /// Run resource-agent and fence-agent actions on this node, or show what
    /// an agent takes.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Create a cluster: its CA, certificates and config files.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Run a node's daemon: its runner, which carries out agent actions for
    /// the controllers and admins over QUIC with mutual TLS, and its
    /// controller replica when the config has a [controller] section.
    Runner(cluster::RunnerArgs),
    /// A node's watchdog process, started by `halo runner` itself (fencing
    /// off: it stops what the node runs when the runner stops feeding it).
    #[command(hide = true)]
    Watchdog(live::WatchdogArgs),
    /// Run a witness: a controller replica without resources, the third
    /// vote of a two-node cluster.
    Witness(live::WitnessArgs),
    /// Start a whole cluster on this machine (loopback), apply a policy and
    /// show its status live; Ctrl-C stops everything.
    Up(up::UpArgs),
    /// Show the plan for a policy against the live cluster, ask, and apply it.
    Apply(live::ApplyArgs),
    /// The live cluster: controllers, nodes, resources, failures, fencing.
    Status(live::StatusArgs),
    /// Put a node in standby or maintenance, or take it out.
    #[command(subcommand)]
    Node(live::NodeCommand),
    /// Move, ban, clear, clean up or restart a resource.
    #[command(subcommand)]
    Resource(live::ResourceCommand),
    /// Fence (power off) a node now.
    Fence(live::FenceArgs),
    /// The live cluster's decision journal: each transition the leader
    /// computed, its cause, inputs, plan and outcomes (replay one with
    /// `simulate --at N`).
    History(history::HistoryArgs),
    /// Write one archive for a bug report: status, the decision journal,
    /// policies, configs and logs, with secrets redacted.
    Report(report::ReportArgs),
    /// Put the whole cluster in maintenance (nothing is started, stopped or
    /// recovered), or take it out: every node is probed again and what runs
    /// is kept, healthy services are not restarted.
    Maintenance(live::MaintenanceArgs),
    /// Keep, list or remove the secrets a policy names (`secret("NAME")`)
    /// in this node's store; run on the node, with its config.
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Write shell completions and man pages (for packages).
    #[command(hide = true)]
    Generate(generate::GenerateArgs),
}

#[derive(Args)]
struct ImportArgs {
    /// The CIB XML.
    cib: PathBuf,
    /// Directory to write NAME.ha and NAME.state.json into (NAME: the CIB file's
    /// name without extension).
    #[arg(short, long, default_value = ".")]
    out: PathBuf,
}

#[derive(Args)]
struct CheckArgs {
    /// Policy files to check (each is a separate policy).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
    /// A node's config file, whose [timing] the failover times shown for a
    /// policy with fencing off are computed with (default: the defaults).
    #[arg(long, value_name = "NODE.toml")]
    timing: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
}

#[derive(Args)]
struct FmtArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Do not write; exit 1 if a file is not in canonical layout.
    #[arg(long, conflicts_with = "diff")]
    check: bool,
    /// Do not write; print what would change as a diff (exit 1 if anything would).
    #[arg(long)]
    diff: bool,
}

/// The state to plan from and what happens to it.
#[derive(Args, Clone)]
struct Scenario {
    /// Cluster-state file (JSON, see docs/state-format.md). Default: every node
    /// online and nothing running yet.
    #[arg(long)]
    state: Option<PathBuf>,
    /// NODE crashes (unclean: fenced first when fencing is on). Repeatable.
    #[arg(long, value_name = "NODE")]
    node_fail: Vec<String>,
    /// NODE is cleanly down. Repeatable.
    #[arg(long, value_name = "NODE")]
    node_down: Vec<String>,
    /// NODE is put in standby. Repeatable.
    #[arg(long, value_name = "NODE")]
    standby: Vec<String>,
    /// An operation fails: RSC:OP@NODE[=RC], e.g. `web:monitor@web1=7`. Repeatable.
    #[arg(long, value_name = "RSC:OP@NODE[=RC]")]
    op_fail: Vec<String>,
    /// The time to plan at, in seconds since the epoch: failures whose
    /// `last_failure` is older than failure-timeout at this time have expired.
    /// Default for a policy: 0 (dry runs of policies never read the clock; pass
    /// `--now $(date +%s)` for "now"). Default for --cib: the CIB's
    /// execution-date if it has one, else the current time, as crm_simulate does.
    #[arg(long)]
    now: Option<i64>,
}

#[derive(Args)]
struct SimulateArgs {
    /// The policy (.ha). Or give a Pacemaker CIB with --cib, or --live, or
    /// --at.
    #[arg(required_unless_present_any = ["cib", "live", "at"])]
    file: Option<PathBuf>,
    /// Replay transition N of the live cluster's journal (`halo history`):
    /// plan again from the policy, state and time it recorded, and check the
    /// plan is the one the cluster computed then (exit 1 if not).
    #[arg(long, value_name = "N", conflicts_with_all = ["cib", "state", "live", "file"])]
    at: Option<u64>,
    /// What-if against the live cluster: plan from its current state, with
    /// its policy (or FILE's, to see what applying FILE would do), after the
    /// events given. Nothing is changed.
    #[arg(long, conflicts_with_all = ["cib", "state"])]
    live: bool,
    /// With --live or --at: the admin config (or $HALO_CONFIG).
    #[arg(long, env = "HALO_CONFIG", default_value = "admin.toml")]
    config: PathBuf,
    /// Plan from a Pacemaker CIB (the XML of `cibadmin -Q`): its configuration
    /// becomes the policy and its status the state. Exit 3 if it uses what Halo
    /// cannot express yet.
    #[arg(long, conflicts_with_all = ["file", "state"])]
    cib: Option<PathBuf>,
    #[command(flatten)]
    scenario: Scenario,
    /// text (crm_simulate-like with reasons), json, dot (the action graph), or
    /// pacemaker (only the Transition Summary, in Pacemaker 2.1's line
    /// format), or plan (the actions as the cluster's journal records them).
    #[arg(long, value_enum, default_value_t = SimFormat::Text)]
    format: SimFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum SimFormat {
    Text,
    Json,
    Dot,
    Pacemaker,
    Plan,
}

#[derive(Args)]
#[command(override_usage = "halo why [OPTIONS] FILE RSC\n       halo why [OPTIONS] --at N RSC")]
struct WhyArgs {
    /// The policy (.ha) and the resource to explain; with --at, only the
    /// resource.
    #[arg(value_name = "FILE RSC", num_args = 1..=2, required = true)]
    args: Vec<String>,
    /// Explain the placement in transition N of the live cluster's journal
    /// (`halo history`), from the inputs it recorded.
    #[arg(long, value_name = "N", conflicts_with = "state")]
    at: Option<u64>,
    /// With --at: the admin config (or $HALO_CONFIG).
    #[arg(long, env = "HALO_CONFIG", default_value = "admin.toml")]
    config: PathBuf,
    #[command(flatten)]
    scenario: Scenario,
}

#[derive(Args)]
struct TestArgs {
    /// Policy files or directories (searched for *.ha). Default: the current directory.
    paths: Vec<PathBuf>,
    /// Accept the current plans as the new snapshots.
    #[arg(long, conflicts_with = "ci")]
    update: bool,
    /// Never write snapshots; a missing one fails the run (for CI).
    #[arg(long)]
    ci: bool,
}

fn main() -> ExitCode {
    // Agents that report promotion scores call `crm_attribute`: the runner
    // points them at this binary under that name.
    let args: Vec<String> = std::env::args().collect();
    let called = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("halo")
        .to_string();
    if halo_runner::shim::NAMES.contains(&called.as_str()) {
        let code = halo_runner::shim::main(&called, args.get(1..).unwrap_or_default());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let result = match cli.command {
        Command::Check(a) => check(&a, color),
        Command::Fmt(a) => fmt(&a),
        Command::Simulate(a) => simulate(&a, color),
        Command::Why(a) => why(&a, color),
        Command::History(a) => history::run(&a),
        Command::Report(a) => report::run(&a),
        Command::Test(a) => test(&a, color),
        Command::Import(a) => import(&a, color),
        Command::Agent(a) => agent::run(&a),
        Command::Cluster(a) => cluster::run(&a),
        Command::Runner(a) => live::runner(&a.config),
        Command::Witness(a) => live::witness(&a),
        Command::Watchdog(a) => live::watchdog(&a),
        Command::Up(a) => up::run(&a),
        Command::Generate(a) => generate::run(&a, <Cli as clap::CommandFactory>::command()),
        Command::Apply(a) => live::apply(&a, color),
        Command::Status(a) => live::status(&a),
        Command::Node(c) => live::node(&c),
        Command::Resource(c) => live::resource(&c),
        Command::Fence(a) => live::fence(&a),
        Command::Maintenance(a) => live::maintenance(&a),
        Command::Secret(c) => secret::run(&c),
    };
    let mut code = match result {
        Ok(code) => code,
        Err(e) => {
            errln!("halo: {}", e.message);
            exit_of(&e)
        }
    };
    let failed = OUTPUT_FAILED.lock().map(|f| f.clone()).unwrap_or(None);
    if let Some(e) = failed {
        errln!("halo: cannot write output: {e}");
        code = worse(code, Exit::Usage);
    }
    ExitCode::from(code as u8)
}

fn check(a: &CheckArgs, color: bool) -> Result<Exit, InputError> {
    let timing = match &a.timing {
        Some(p) => {
            halo_net::NodeConfig::load(p)
                .map_err(InputError::usage)?
                .timing
        }
        None => halo_net::Timing::default(),
    };
    let mut worst = Exit::Ok;
    let mut json = Vec::new();
    for f in &a.files {
        let loaded = match load::policy(f) {
            Ok(l) => l,
            Err(e) => {
                match a.format {
                    CheckFormat::Text => errln!("halo: {}", e.message),
                    CheckFormat::Json => json.push(serde_json::json!({
                        "file": f.display().to_string(),
                        "ok": false,
                        "error": e.message,
                        "diagnostics": [],
                    })),
                }
                worst = worse(worst, exit_of(&e));
                continue;
            }
        };
        if loaded.errors() > 0 {
            worst = worse(worst, Exit::Policy);
        }
        match a.format {
            CheckFormat::Text => {
                errp!("{}", loaded.render(color));
                let (e, w) = (loaded.errors(), loaded.warnings());
                if e == 0 {
                    outln!("{}: ok ({w} warning{})", f.display(), plural(w));
                    if let Some(t) = loaded.policy().and_then(|p| lease_timing(p, &timing)) {
                        outln!("  {t}");
                    }
                } else {
                    outln!(
                        "{}: {e} error{}, {w} warning{}",
                        f.display(),
                        plural(e),
                        plural(w)
                    );
                }
            }
            CheckFormat::Json => {
                let mut j = check_json(f, &loaded);
                if let Some(wait) = loaded.policy().and_then(|p| lease_wait(p, &timing)) {
                    j["lost_node_wait_ms"] = serde_json::json!(wait.0.as_millis() as u64);
                }
                json.push(j);
            }
        }
    }
    if let CheckFormat::Json = a.format {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    }
    Ok(worst)
}

/// Fencing off: how long after a node is declared lost its resources start
/// elsewhere, and the longest stop in it (SBD's timeout arithmetic, which
/// users get wrong, done once by the program that waits).
fn lease_wait(
    p: &halo_model::Policy,
    t: &halo_net::Timing,
) -> Option<(std::time::Duration, String)> {
    if p.cluster.fencing {
        return None;
    }
    let (stop, whose) = halo_controller::longest_stop(p).unwrap_or_default();
    Some((t.lease_wait(stop), format!("{} s (`{whose}`)", secs(stop))))
}

fn secs(d: std::time::Duration) -> String {
    let s = format!("{:.2}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The line `check` prints about it.
fn lease_timing(p: &halo_model::Policy, t: &halo_net::Timing) -> Option<String> {
    let (wait, stop) = lease_wait(p, t)?;
    let ms = std::time::Duration::from_millis;
    Some(format!(
        "fencing off: a node silent for {} s is lost; its resources start elsewhere {} s later \
         (timeout {} s + lease {} s and a tenth + twice the watchdog {} s + the longest stop {stop})",
        secs(ms(t.timeout_ms)),
        secs(wait),
        secs(ms(t.timeout_ms)),
        secs(ms(t.lease_ms)),
        secs(ms(t.watchdog_ms)),
    ))
}

fn check_json(f: &std::path::Path, l: &Loaded) -> serde_json::Value {
    let diags: Vec<serde_json::Value> = l
        .diags
        .iter()
        .map(|d| {
            let (line, col) = l.sources.line_col(d.span.file, d.span.range.start);
            let file = l.sources.get(d.span.file).map_or("", |s| s.name.as_str());
            serde_json::json!({
                "severity": if d.is_error() { "error" } else { "warning" },
                "code": d.code.as_str(),
                "message": d.message,
                "file": file,
                "line": line,
                "column": col,
                "label": d.label,
                "help": d.help,
            })
        })
        .collect();
    serde_json::json!({ "file": f.display().to_string(), "ok": l.errors() == 0, "diagnostics": diags })
}

fn fmt(a: &FmtArgs) -> Result<Exit, InputError> {
    let mut worst = Exit::Ok;
    for f in &a.files {
        let text = match load::read_text(f) {
            Ok(t) => t,
            Err(e) => {
                errln!("halo: {}", e.message);
                worst = worse(worst, exit_of(&e));
                continue;
            }
        };
        let loaded_name = f.display().to_string();
        let formatted = match halo_lang::fmt::format(&text) {
            Ok(t) => t,
            Err(_) => {
                let l = load::compile_text(&loaded_name, text);
                errp!("{}", l.render(false));
                errln!(
                    "halo: {}: not formatted: fix the syntax errors first",
                    f.display()
                );
                worst = worse(worst, Exit::Policy);
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if a.check {
            outln!(
                "{}: not in canonical layout (run `halo fmt {}`)",
                f.display(),
                f.display()
            );
            worst = worse(worst, Exit::Policy);
        } else if a.diff {
            let name = f.display().to_string();
            outp!(
                "{}",
                testing::diff_named(&text, &formatted, &name, &format!("{name} (formatted)"))
            );
            worst = worse(worst, Exit::Policy);
        } else {
            let tmp = f.with_extension("ha.fmt-tmp");
            std::fs::write(&tmp, &formatted)
                .and_then(|()| std::fs::rename(&tmp, f))
                .map_err(|e| InputError::io(f, &e))?;
            outln!("formatted {}", f.display());
        }
    }
    Ok(worst)
}

/// Loads the policy, the state, and applies the scenario's events.
/// What a dry run plans from: its input, the state after the events, the time.
type Prepared = (Box<dyn load::Input>, ClusterState, Timestamp);

/// Loads a `.ha` policy (and `--state`) or imports a CIB, then applies the
/// scenario's events.
fn prepare_input(
    file: Option<&std::path::Path>,
    cib: Option<&std::path::Path>,
    sc: &Scenario,
    color: bool,
) -> Result<Prepared, Result<Exit, InputError>> {
    let Some(cib) = cib else {
        let Some(file) = file else {
            return Err(Err(InputError::usage(
                "give a policy file or --cib CIB.xml",
            )));
        };
        let (loaded, state, now) = prepare(file, sc, color)?;
        return Ok((Box::new(loaded), state, now));
    };
    let mut cib = load::cib(cib, sc.now).map_err(Err)?;
    for n in &cib.imported.notes {
        errln!("note: {n}");
    }
    if !cib.imported.unsupported.is_empty() {
        for u in &cib.imported.unsupported {
            errln!("unsupported: {u}");
        }
        return Err(Err(InputError {
            message: format!(
                "{}: uses what Halo cannot express yet (listed above)",
                cib.path
            ),
            code: 3,
        }));
    }
    // Only the policy and the display names are needed after this.
    let mut state = std::mem::take(&mut cib.imported.state);
    let start = sc
        .now
        .or(cib.imported.execution_date)
        .unwrap_or_else(load::clock);
    let sc = Scenario {
        now: Some(start),
        ..sc.clone()
    };
    let now = apply_events(&cib.imported.policy, &mut state, &sc).map_err(Err)?;
    Ok((Box::new(cib), state, now))
}

/// A policy's errors (not its warnings), rendered.
fn errors_only(loaded: &Loaded, color: bool) -> String {
    let errors: Vec<_> = loaded
        .diags
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    halo_lang::diag::render_all(&errors, &loaded.sources, color)
}

/// The live cluster's state and policy (or FILE's), after the events given.
fn prepare_live(a: &SimulateArgs, color: bool) -> Result<Prepared, Result<Exit, InputError>> {
    let rt = live::runtime().map_err(Err)?;
    let _in_rt = rt.enter();
    let admin = live::Admin::connect(&live::Conn {
        config: a.config.clone(),
    })
    .map_err(Err)?;
    let status = rt
        .block_on(admin.status(std::time::Duration::from_secs(10)))
        .map_err(Err)?;
    let loaded = match (&a.file, &status.doc.policy) {
        (Some(f), _) => load::policy(f).map_err(Err)?,
        (None, Some(p)) => load::compile_text(&p.name, p.text.clone()),
        (None, None) => {
            return Err(Err(InputError::usage(
                "the cluster has no policy yet: give one (halo simulate --live FILE.ha)",
            )))
        }
    };
    errp!("{}", errors_only(&loaded, color));
    let Some(policy) = loaded.policy() else {
        return Err(Ok(Exit::Policy));
    };
    let mut state = status.doc.state.clone();
    // The live cluster decides quorum by its controllers' majority.
    state.quorate = Some(true);
    let sc = Scenario {
        now: Some(a.scenario.now.unwrap_or_else(load::clock)),
        ..a.scenario.clone()
    };
    let now = apply_events(policy, &mut state, &sc).map_err(Err)?;
    Ok((Box::new(loaded), state, now))
}

fn prepare(
    file: &std::path::Path,
    sc: &Scenario,
    color: bool,
) -> Result<(Loaded, ClusterState, Timestamp), Result<Exit, InputError>> {
    let loaded = load::policy(file).map_err(Err)?;
    errp!("{}", errors_only(&loaded, color));
    let Some(policy) = loaded.policy() else {
        errln!(
            "halo: {}: {} error{}; run `halo check` for warnings too",
            file.display(),
            loaded.errors(),
            plural(loaded.errors())
        );
        return Err(Ok(Exit::Policy));
    };
    let mut state = match &sc.state {
        Some(p) => load::state(p, policy).map_err(Err)?,
        None => ClusterState::default(),
    };
    let now = apply_events(policy, &mut state, sc).map_err(Err)?;
    Ok((loaded, state, now))
}

/// Applies the scenario flags (--node-fail, --op-fail, ...) to a state.
fn apply_events(
    policy: &halo_model::Policy,
    state: &mut ClusterState,
    sc: &Scenario,
) -> Result<Timestamp, InputError> {
    let mut now = Timestamp(sc.now.unwrap_or(0));
    let mut events = Vec::new();
    let node = |n: &String| -> Result<String, InputError> {
        if policy.cluster.nodes.iter().any(|x| &x.name == n) {
            Ok(n.clone())
        } else {
            Err(InputError::usage(format!(
                "unknown node `{n}`; the policy's nodes are: {}",
                policy.cluster.node_list()
            )))
        }
    };
    for n in &sc.node_fail {
        events.push(Event::NodeFails(node(n)?));
    }
    for n in &sc.node_down {
        events.push(Event::NodeStops(node(n)?));
    }
    for n in &sc.standby {
        events.push(Event::NodeStandby(node(n)?));
    }
    for spec in &sc.op_fail {
        let e = parse_op_fail(spec, policy)?;
        node(match &e {
            Event::OpFails { node, .. } => node,
            _ => spec,
        })?;
        events.push(e);
    }
    for e in &events {
        apply_event(policy, state, &mut now, e).map_err(InputError::usage)?;
    }
    Ok(now)
}

/// `RSC:OP@NODE[=RC]`.
fn parse_op_fail(spec: &str, policy: &halo_model::Policy) -> Result<Event, InputError> {
    let bad = || {
        InputError::usage(format!(
            "--op-fail `{spec}`: expected RSC:OP@NODE[=RC], e.g. `web:monitor@web1=7`"
        ))
    };
    let (rsc, rest) = spec.split_once(':').ok_or_else(bad)?;
    let (op, rest) = rest.split_once('@').ok_or_else(bad)?;
    let (node, rc) = match rest.split_once('=') {
        Some((n, rc)) => (n, Some(rc.parse::<i32>().map_err(|_| bad())?)),
        None => (rest, None),
    };
    let op = OpAction::parse(op).ok_or_else(|| InputError::usage(format!("--op-fail `{spec}`: `{op}` is not an operation (start, stop, monitor, promote, demote)")))?;
    let Some(r) = policy.find(rsc).and_then(|id| policy.resource(id)) else {
        return Err(InputError::usage(format!(
            "--op-fail `{spec}`: unknown resource `{rsc}`"
        )));
    };
    if r.primitive().is_none() {
        return Err(InputError::usage(format!(
            "--op-fail `{spec}`: `{rsc}` is a group; name the member whose operation fails"
        )));
    }
    if rc == Some(0) {
        return Err(InputError::usage(format!(
            "--op-fail `{spec}`: rc 0 means success; a failure has another exit code (7: not running)"
        )));
    }
    let rc = rc.unwrap_or(if op == OpAction::Monitor { 7 } else { 1 });
    Ok(Event::OpFails {
        rsc: rsc.to_string(),
        op,
        node: node.to_string(),
        rc,
    })
}

/// A recorded transition's inputs, after the events given, and the
/// recorded transition when no event changes them (to compare with).
type AtPrepared = (Loaded, ClusterState, Timestamp, Option<Transition>);

fn prepare_at(
    id: u64,
    config: &std::path::Path,
    sc: &Scenario,
    color: bool,
) -> Result<AtPrepared, Result<Exit, InputError>> {
    let conn = live::Conn {
        config: config.to_path_buf(),
    };
    let (loaded, recorded) = history::replay(&conn, id).map_err(Err)?;
    errp!("{}", errors_only(&loaded, color));
    let Some(policy) = loaded.policy() else {
        return Err(Ok(Exit::Policy));
    };
    let what_if = !sc.node_fail.is_empty()
        || !sc.node_down.is_empty()
        || !sc.standby.is_empty()
        || !sc.op_fail.is_empty()
        || sc.now.is_some();
    let sc = Scenario {
        now: Some(sc.now.unwrap_or(recorded.at.0)),
        ..sc.clone()
    };
    let mut state = recorded.state.clone();
    let now = apply_events(policy, &mut state, &sc).map_err(Err)?;
    Ok((loaded, state, now, (!what_if).then_some(recorded)))
}

fn simulate(a: &SimulateArgs, color: bool) -> Result<Exit, InputError> {
    let mut replay = None;
    let prepared = if let Some(id) = a.at {
        prepare_at(id, &a.config, &a.scenario, color).map(|(loaded, state, now, r)| {
            replay = r;
            (Box::new(loaded) as Box<dyn load::Input>, state, now)
        })
    } else if a.live {
        prepare_live(a, color)
    } else {
        prepare_input(a.file.as_deref(), a.cib.as_deref(), &a.scenario, color)
    };
    let (input, state, now) = match prepared {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(policy) = input.policy() else {
        return Ok(Exit::Policy);
    };
    let plan = halo_engine::plan(policy, &state, now);
    // The state after the plan, for the formats that show it.
    let revised = || halo_engine::settle::apply(&plan, &state);
    let written = match a.format {
        SimFormat::Text => write_stdout(&render::simulate_text(
            input.as_ref(),
            &state,
            &plan,
            &revised(),
        )),
        SimFormat::Json => {
            let out = std::io::stdout().lock();
            match render::write_simulate_json(out, input.as_ref(), &plan, &revised()) {
                Err(e) if e.io_error_kind() != Some(std::io::ErrorKind::BrokenPipe) => {
                    Err(InputError::usage(format!("cannot write output: {e}")))
                }
                _ => Ok(()),
            }
        }
        SimFormat::Dot => write_stdout(&render::simulate_dot(&plan)),
        SimFormat::Pacemaker => {
            let display = match &a.cib {
                Some(_) => input_display(input.as_ref()),
                None => Default::default(),
            };
            write_stdout(&pacemaker::transition_summary(
                policy, &state, &plan, &display,
            ))
        }
        SimFormat::Plan => write_stdout(&plan.to_text()),
    };
    written?;
    if let Some(r) = &replay {
        let again = plan.to_text();
        if again != r.plan {
            errln!(
                "halo: transition {}: the replayed plan differs from the recorded one:\n{}",
                r.id,
                testing::diff(&r.plan, &again)
            );
            return Ok(Exit::Policy);
        }
        errln!(
            "halo: transition {}: replayed from its recorded policy, state and time; the same plan as recorded",
            r.id
        );
    }
    // The process ends here: freeing a large cluster's policy, state and plan
    // piece by piece would only delay the exit.
    std::mem::forget((plan, state, input));
    Ok(Exit::Ok)
}

fn why(a: &WhyArgs, color: bool) -> Result<Exit, InputError> {
    let (prepared, rsc) = match (a.at, a.args.as_slice()) {
        (Some(id), [rsc]) => (
            prepare_at(id, &a.config, &a.scenario, color)
                .map(|(loaded, state, now, _)| (loaded, state, now)),
            rsc,
        ),
        (None, [file, rsc]) => (prepare(file.as_ref(), &a.scenario, color), rsc),
        (Some(_), _) => {
            return Err(InputError::usage(
                "with --at, name only the resource: halo why --at N RSC (the policy is the one transition N planned with)",
            ))
        }
        (None, _) => {
            return Err(InputError::usage(
                "name the policy and the resource: halo why FILE RSC (or halo why --at N RSC)",
            ))
        }
    };
    let (loaded, state, now) = match prepared {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(policy) = loaded.policy() else {
        return Ok(Exit::Policy);
    };
    if policy.find(rsc).is_none() {
        let names: Vec<&str> = policy.resources.iter().map(|r| r.name.as_str()).collect();
        return Err(InputError::usage(format!(
            "unknown resource `{}`; the policy's resources are: {}",
            rsc,
            names.join(", ")
        )));
    }
    let plan = halo_engine::plan(policy, &state, now);
    write_stdout(&render::why(&loaded, &plan, rsc))?;
    Ok(Exit::Ok)
}

fn test(a: &TestArgs, color: bool) -> Result<Exit, InputError> {
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        a.paths.clone()
    };
    let files = testing::collect(&paths)?;
    let mut totals = testing::Totals::default();
    for f in &files {
        let mut out = String::new();
        testing::run_file(
            f,
            testing::SnapshotMode {
                update: a.update,
                ci: a.ci,
            },
            color,
            &mut out,
            &mut totals,
        );
        write_stdout(&out)?;
    }
    for w in &totals.written {
        outln!("wrote snapshot {} (review and commit it)", w.display());
    }
    outln!("{} passed, {} failed", totals.passed, totals.failed);
    Ok(if totals.failed > 0 {
        Exit::Policy
    } else {
        Exit::Ok
    })
}

/// The first failure to write standard output (other than a closed pipe).
static OUTPUT_FAILED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Writes to standard output; see `outln!`.
pub(crate) fn out(args: std::fmt::Arguments<'_>) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let mut failed = OUTPUT_FAILED.lock().unwrap_or_else(|p| p.into_inner());
            failed.get_or_insert_with(|| e.to_string());
        }
    }
}

pub(crate) fn write_stdout(text: &str) -> Result<(), InputError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`halo simulate ... | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(InputError::usage(format!("cannot write output: {e}"))),
    }
}

/// The exit code for an input error.
fn exit_of(e: &InputError) -> Exit {
    match e.code {
        1 => Exit::Policy,
        3 => Exit::Unsupported,
        4 => Exit::Unreachable,
        _ => Exit::Usage,
    }
}

fn worse(a: Exit, b: Exit) -> Exit {
    if (b as u8) > (a as u8) {
        b
    } else {
        a
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The names Pacemaker prints for an imported CIB's resources.
fn input_display(input: &dyn load::Input) -> std::collections::BTreeMap<String, String> {
    input.display()
}

fn import(a: &ImportArgs, color: bool) -> Result<Exit, InputError> {
    let cib = load::cib(&a.cib, None)?;
    for n in &cib.imported.notes {
        errln!("note: {n}");
    }
    if !cib.imported.unsupported.is_empty() {
        for u in &cib.imported.unsupported {
            errln!("unsupported: {u}");
        }
        return Err(InputError {
            message: format!(
                "{}: uses what Halo cannot express yet (listed above); nothing written",
                cib.path
            ),
            code: 3,
        });
    }
    let stem = a.cib.file_stem().map_or_else(
        || "imported".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let text = halo_lang::print::print_policy(&cib.imported.policy);
    let text = halo_lang::fmt::format(&text).map_err(|_| {
        InputError::usage(format!(
            "{}: internal error: the written policy does not parse",
            cib.path
        ))
    })?;
    let ha = a.out.join(format!("{stem}.ha"));
    // The written policy must pass `halo check`: compile it before writing.
    let loaded = load::compile_text(&ha.display().to_string(), text.clone());
    if loaded.errors() > 0 {
        // What the CIB says that a Halo policy refuses (a parameter the agent
        // does not take, fencing with no device...) cannot be carried over.
        let _ = color;
        for d in loaded.diags.iter().filter(|d| d.is_error()) {
            errln!("unsupported: {}", d.message);
        }
        return Err(InputError {
            message: format!(
                "{}: uses what a Halo policy refuses (listed above); nothing written",
                cib.path
            ),
            code: 3,
        });
    }
    let state = serde_json::to_string_pretty(&cib.imported.state).unwrap_or_default() + "\n";
    let json = a.out.join(format!("{stem}.state.json"));
    std::fs::create_dir_all(&a.out).map_err(|e| InputError::io(&a.out, &e))?;
    for (path, body) in [(&ha, text.as_str()), (&json, state.as_str())] {
        let tmp = path.with_extension("import-tmp");
        std::fs::write(&tmp, body)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| InputError::io(path, &e))?;
    }
    outln!("wrote {} and {}", ha.display(), json.display());
    outln!(
        "try: halo simulate {} --state {}",
        ha.display(),
        json.display()
    );
    Ok(Exit::Ok)
}
