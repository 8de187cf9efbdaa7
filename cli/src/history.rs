//! `halo history`: the live cluster's decision journal — every transition
//! the leader computed, why, from what, and what came of it — and the
//! replays of its transitions (`simulate --at N`, `why --at N`), which
//! recompute a recorded plan from its recorded inputs.

use crate::live::{Admin, Conn};
use crate::load::{InputError, Loaded};
use crate::Exit;
use clap::{Args, Subcommand, ValueEnum};
use halo_controller::journal::Transition;
use halo_controller::rpc::{CtlRequest, CtlResponse, History};
use halo_model::Timestamp;
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    halo history                       every kept transition, oldest first\n  \
    halo history show 12               transition 12: its cause, inputs, plan and outcomes\n  \
    halo simulate --at 12              replay it: the same plan, recomputed\n  \
    halo why --at 12 db                why db went where it went in transition 12")]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub cmd: Option<HistoryCommand>,
    #[arg(long, value_enum, default_value_t = HistoryFormat::Text, global = true)]
    pub format: HistoryFormat,
    /// The admin config `halo cluster init` wrote (or $HALO_CONFIG).
    #[arg(long, env = "HALO_CONFIG", default_value = "admin.toml", global = true)]
    pub config: std::path::PathBuf,
}

#[derive(Subcommand)]
pub enum HistoryCommand {
    /// One transition whole: its cause, the state it planned from, the plan
    /// and each action's outcome.
    Show {
        /// The transition's number (from `halo history`).
        id: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum HistoryFormat {
    Text,
    Json,
}

/// Asks the leader for transition `id`, or for the list.
pub fn fetch(conn: &Conn, id: Option<u64>) -> Result<History, InputError> {
    let rt = crate::live::runtime()?;
    let _in_rt = rt.enter();
    let admin = Admin::connect(conn)?;
    let r = rt.block_on(admin.ask(&CtlRequest::History { id }, Duration::from_secs(10)))?;
    match r {
        CtlResponse::History { history } => Ok(*history),
        CtlResponse::Refused { why } => Err(InputError {
            message: why,
            code: 1,
        }),
        other => Err(InputError::usage(format!("unexpected answer: {other:?}"))),
    }
}

pub fn run(a: &HistoryArgs) -> Result<Exit, InputError> {
    let id = a.cmd.as_ref().map(|HistoryCommand::Show { id }| *id);
    let conn = Conn {
        config: a.config.clone(),
    };
    let h = fetch(&conn, id)?;
    let text = match (a.format, id) {
        (HistoryFormat::Json, _) => {
            serde_json::to_string_pretty(&h).map_err(|e| InputError::usage(e.to_string()))? + "\n"
        }
        (HistoryFormat::Text, None) => list(&h),
        (HistoryFormat::Text, Some(_)) => h.transitions.iter().map(show).collect(),
    };
    crate::write_stdout(&text)?;
    Ok(Exit::Ok)
}

fn time(t: Timestamp) -> String {
    crate::live::utc(t)
}

fn list(h: &History) -> String {
    let mut out = format!(
        "cluster {}: {} transitions kept",
        h.cluster,
        h.transitions.len()
    );
    if let Some(first) = h.first_kept.filter(|f| *f > 0) {
        let _ = write!(
            out,
            " (the {first} before were dropped: the journal is bounded)"
        );
    }
    out.push('\n');
    for t in &h.transitions {
        let actions = t.plan.lines().filter(|l| !l.starts_with("note: ")).count();
        let failed = t.outcomes.iter().filter(|o| !o.ok).count();
        let result = match t.duration_ms {
            None => "not finished".to_string(),
            Some(ms) if failed > 0 => format!("{failed} failed, {ms} ms"),
            Some(ms) => format!("done in {ms} ms"),
        };
        let cause = if t.cause.is_empty() {
            "retry".to_string()
        } else {
            t.cause.join("; ")
        };
        let _ = writeln!(
            out,
            "{:>5}  {}  {:>3} actions  {:<18} {cause}",
            t.id,
            time(t.at),
            actions,
            result
        );
    }
    out
}

/// One transition in full.
pub fn show(t: &Transition) -> String {
    let mut out = format!(
        "transition {} at {} (leader {}, term {}, policy version {})\n",
        t.id,
        time(t.at),
        t.leader,
        t.term,
        t.policy
    );
    out.push_str("cause:\n");
    if t.cause.is_empty() {
        out.push_str(
            "  (nothing new: the previous plan again, after a failed or interrupted round)\n",
        );
    }
    for c in &t.cause {
        let _ = writeln!(out, "  {c}");
    }
    out.push_str("plan:\n");
    for l in t.plan.lines() {
        let _ = writeln!(out, "  {l}");
    }
    out.push_str("outcomes:\n");
    if t.outcomes.is_empty() {
        out.push_str("  (none recorded)\n");
    }
    for o in &t.outcomes {
        let _ = writeln!(
            out,
            "  +{:>6} ms  {:>6} ms  {:<6} {}",
            o.started_ms,
            o.took_ms,
            if o.ok { "ok" } else { "FAILED" },
            o.action
        );
    }
    match t.duration_ms {
        Some(ms) => {
            let _ = writeln!(out, "took {ms} ms");
        }
        None => out.push_str("not finished (the leader changed or stopped during it)\n"),
    }
    out
}

/// Fetches transition `id` and compiles the policy it planned with.
pub fn replay(conn: &Conn, id: u64) -> Result<(Loaded, Transition), InputError> {
    let mut h = fetch(conn, Some(id))?;
    let Some(t) = h.transitions.pop() else {
        return Err(InputError::usage(format!("there is no transition {id}")));
    };
    let Some(src) = h.policies.remove(&t.policy) else {
        return Err(InputError::usage(format!(
            "transition {id}: the policy it planned with (version {}) is not in the journal",
            t.policy
        )));
    };
    Ok((crate::load::compile_text(&src.name, src.text), t))
}
