//! Promotion scores. Agents such as Stateful and redis report how much they
//! want to be promoted by calling `crm_attribute --promotion -v SCORE` (or
//! `crm_master`). The runner puts a directory first in their `PATH` and in
//! `HA_SBIN_DIR` whose `crm_attribute` and `crm_master` are the `halo` binary
//! itself; called by those names, it records the score in a file the runner
//! reads when the action ends ([`main`]).

use crate::RunnerConfig;
use halo_proto::PromotionChange;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the file a score is written to.
pub const SCORE_FILE_VAR: &str = "HALO_PROMOTION_FILE";

/// The names the shim answers to.
pub const NAMES: &[&str] = &["crm_attribute", "crm_master"];

/// The score file of one action.
pub struct Scores {
    file: Option<PathBuf>,
}

impl Scores {
    /// Sets up the shim for an action of `rsc` and points `env` at it. Without
    /// a shim program, agents find no `crm_attribute` and scores are lost.
    pub fn prepare(
        cfg: &RunnerConfig,
        rsc: &str,
        env: &mut BTreeMap<String, String>,
    ) -> Result<Scores, String> {
        let Some(program) = &cfg.shim_program else {
            return Ok(Scores { file: None });
        };
        let dir = cfg.state_dir.join("shim");
        let attrs = cfg.state_dir.join("scores");
        for d in [&dir, &attrs] {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        for name in NAMES {
            let link = dir.join(name);
            if std::fs::read_link(&link).ok().as_deref() != Some(program.as_path()) {
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(program, &link)
                    .map_err(|e| format!("cannot create {}: {e}", link.display()))?;
            }
        }
        let file = attrs.join(crate::file_stem(rsc));
        let _ = std::fs::remove_file(&file);
        env.insert("HA_SBIN_DIR".into(), dir.display().to_string());
        env.insert("PATH".into(), format!("{}:{}", dir.display(), crate::PATH));
        env.insert(SCORE_FILE_VAR.into(), file.display().to_string());
        Ok(Scores { file: Some(file) })
    }

    /// The last change the agent made, if any.
    pub fn read(&self) -> Option<PromotionChange> {
        let text = std::fs::read_to_string(self.file.as_ref()?).ok()?;
        text.lines().filter_map(parse_line).next_back()
    }
}

fn parse_line(l: &str) -> Option<PromotionChange> {
    match l.trim() {
        "delete" => Some(PromotionChange::Delete),
        v => v
            .strip_prefix("set ")?
            .trim()
            .parse()
            .ok()
            .map(PromotionChange::Set),
    }
}

/// `crm_attribute`/`crm_master` as the shim: records `--promotion -v N`
/// (`-p`, `--promotion=N`; `crm_master -v N`) and `-D` in the score file.
/// Other uses (node attributes, queries) are refused with a message: the
/// runner reports only promotion scores. Returns the exit code.
pub fn main(invoked_as: &str, args: &[String]) -> i32 {
    let mut promotion = invoked_as == "crm_master";
    let mut value: Option<String> = None;
    let mut delete = false;
    let mut query = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" | "--promotion" => promotion = true,
            "-v" | "--update" => value = it.next().cloned(),
            "-D" | "--delete" => delete = true,
            "-G" | "--query" | "-Q" | "--quiet" | "-q" => query |= a == "-G" || a == "--query",
            // Options with a value that does not matter here.
            "-l" | "--lifetime" | "-N" | "--node" | "-n" | "--name" | "-t" | "--type" | "-r"
            | "--resource" | "-d" | "--default" => {
                it.next();
            }
            other => {
                // `--promotion=RSC` names the resource, which the runner knows.
                if other.starts_with("--promotion=") {
                    promotion = true;
                } else if let Some(v) = other.strip_prefix("--update=") {
                    value = Some(v.to_string());
                }
            }
        }
    }
    if !promotion {
        eprintln!("{invoked_as} (halo runner shim): only promotion scores are supported here");
        return 0;
    }
    if query {
        eprintln!("{invoked_as} (halo runner shim): promotion scores cannot be queried here");
        return 105;
    }
    let line = match (delete, value) {
        (true, _) => "delete".to_string(),
        (false, Some(v)) => match v.trim().parse::<i64>() {
            Ok(n) => format!("set {n}"),
            Err(_) => {
                eprintln!("{invoked_as}: `{v}` is not a score");
                return 1;
            }
        },
        (false, None) => {
            eprintln!("{invoked_as}: give -v SCORE or -D");
            return 64;
        }
    };
    let Some(file) = std::env::var_os(SCORE_FILE_VAR) else {
        eprintln!("{invoked_as}: not run by a halo runner ({SCORE_FILE_VAR} is not set)");
        return 1;
    };
    match append(Path::new(&file), &line) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "{invoked_as}: cannot write {}: {e}",
                Path::new(&file).display()
            );
            1
        }
    }
}

fn append(file: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    writeln!(f, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_lines_read_back() {
        assert_eq!(parse_line("set 10"), Some(PromotionChange::Set(10)));
        assert_eq!(parse_line("delete"), Some(PromotionChange::Delete));
        assert_eq!(parse_line("garbage"), None);
        assert_eq!(crate::file_stem("db:0/x"), "db_0_x");
    }
}
