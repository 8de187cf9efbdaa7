//! Stand-ins for the Pacemaker tools agents call. Agents such as Stateful and
//! redis report how much they want to be promoted by calling
//! `crm_attribute --promotion -v SCORE` (or `crm_master`); redis also keeps its
//! last primary in a cluster-wide attribute (`crm_attribute --type crm_config`)
//! and asks `crm_mon` whether a primary runs. The runner puts a directory
//! first in their `PATH` and in `HA_SBIN_DIR` whose `crm_attribute`,
//! `crm_master`, `crm_mon` and `cibadmin` are the `halo` binary itself; called
//! by those names, it records scores and attribute changes in a file the
//! runner reads when the action ends, and answers queries from the view of
//! the cluster the controller sent with the action ([`main`]).

use crate::RunnerConfig;
use halo_proto::{AttributeChange, ClusterView, PromotionChange};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the file a score is written to.
pub const SCORE_FILE_VAR: &str = "HALO_PROMOTION_FILE";

/// The environment variable naming the file that holds the resource's
/// promotion score on this node, as the agent last set it (what `crm_master
/// -G` answers).
pub const CURRENT_FILE_VAR: &str = "HALO_PROMOTION_CURRENT";

/// Removes the promotion scores kept on this node.
pub fn forget_scores(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir.join("scores")) else {
        return;
    };
    for e in entries.flatten() {
        if e.path().extension().is_some_and(|x| x == "current") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The environment variable naming the file holding the action's
/// [`ClusterView`] ([`ClusterView::encode`]).
pub const VIEW_FILE_VAR: &str = "HALO_CLUSTER_VIEW";

/// The names the shim answers to.
pub const NAMES: &[&str] = &["crm_attribute", "crm_master", "crm_mon", "cibadmin"];

/// The score file of one action, and the score kept for its resource.
pub struct Scores {
    file: Option<PathBuf>,
    current: Option<PathBuf>,
}

impl Scores {
    /// No shim: the agent's scores are lost.
    pub fn none() -> Scores {
        Scores {
            file: None,
            current: None,
        }
    }

    /// Sets up the shim for an action of `rsc` and points `env` at it. Without
    /// a shim program, agents find no `crm_attribute` and scores are lost.
    pub fn prepare(
        cfg: &RunnerConfig,
        rsc: &str,
        view: Option<&ClusterView>,
        env: &mut BTreeMap<String, String>,
    ) -> Result<Scores, String> {
        let Some(program) = &cfg.shim_program else {
            return Ok(Scores::none());
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
        let current = attrs.join(format!("{}.current", crate::file_stem(rsc)));
        env.insert(CURRENT_FILE_VAR.into(), current.display().to_string());
        if let Some(view) = view {
            let path = attrs.join(format!("{}.view", crate::file_stem(rsc)));
            std::fs::write(&path, view.encode()?)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            env.insert(VIEW_FILE_VAR.into(), path.display().to_string());
        }
        Ok(Scores {
            file: Some(file),
            current: Some(current),
        })
    }

    /// The last change the agent made, if any; it is kept as the
    /// resource's score on this node.
    pub fn read(&self) -> Option<PromotionChange> {
        let text = std::fs::read_to_string(self.file.as_ref()?).ok()?;
        let change = text.lines().filter_map(parse_line).next_back();
        if let (Some(c), Some(current)) = (change, &self.current) {
            let _ = match c {
                PromotionChange::Set(n) => std::fs::write(current, n.to_string()),
                PromotionChange::Delete => std::fs::remove_file(current),
            };
        }
        change
    }

    /// The score kept for the resource on this node: what a probe reports
    /// when the agent, finding its score set, did not set it again (a
    /// controller that probes a node it lost touch with learns it again).
    pub fn kept(&self) -> Option<PromotionChange> {
        let text = std::fs::read_to_string(self.current.as_ref()?).ok()?;
        text.trim().parse().ok().map(PromotionChange::Set)
    }

    /// The cluster-wide attributes the agent set or deleted, in order.
    pub fn attributes(&self) -> Vec<AttributeChange> {
        let Some(text) = self
            .file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
        else {
            return Vec::new();
        };
        text.lines().filter_map(parse_attribute).collect()
    }
}

/// `attr NAME\tVALUE` (set) or `attr-delete NAME` lines of the score file.
fn parse_attribute(l: &str) -> Option<AttributeChange> {
    if let Some(rest) = l.strip_prefix("attr ") {
        let (name, value) = rest.split_once('\t')?;
        return Some(AttributeChange {
            name: name.to_string(),
            value: Some(value.to_string()),
        });
    }
    let name = l.strip_prefix("attr-delete ")?;
    Some(AttributeChange {
        name: name.to_string(),
        value: None,
    })
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

/// The options of a `crm_attribute` or `crm_master` call that matter here.
#[derive(Default)]
struct Args {
    promotion: bool,
    value: Option<String>,
    delete: bool,
    query: bool,
    quiet: bool,
    kind: Option<String>,
    name: Option<String>,
}

impl Args {
    fn parse(invoked_as: &str, args: &[String]) -> Args {
        let mut a = Args {
            promotion: invoked_as == "crm_master",
            ..Args::default()
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "-p" | "--promotion" => a.promotion = true,
                "-v" | "--update" => a.value = it.next().cloned(),
                "-D" | "--delete" => a.delete = true,
                "-G" | "--query" => a.query = true,
                "-Q" | "--quiet" | "-q" => a.quiet = true,
                "-t" | "--type" => a.kind = it.next().cloned(),
                "-n" | "--name" => a.name = it.next().cloned(),
                // Options with a value that does not matter here.
                "-l" | "--lifetime" | "-N" | "--node" | "-r" | "--resource" | "-d"
                | "--default" | "-s" | "--set-name" => {
                    it.next();
                }
                other => {
                    // `--promotion=RSC` names the resource, which the runner knows.
                    if other.starts_with("--promotion=") {
                        a.promotion = true;
                    } else if let Some(v) = other.strip_prefix("--update=") {
                        a.value = Some(v.to_string());
                    } else if let Some(v) = other.strip_prefix("--type=") {
                        a.kind = Some(v.to_string());
                    } else if let Some(v) = other.strip_prefix("--name=") {
                        a.name = Some(v.to_string());
                    }
                }
            }
        }
        a
    }
}

/// `crm_attribute`, `crm_master`, `crm_mon` and `cibadmin` as the shim:
/// records `--promotion -v N` (`-p`, `--promotion=N`; `crm_master -v N`) and
/// `-D` in the score file, sets, deletes and queries cluster-wide attributes
/// (`--type crm_config`), and prints the running resources as `crm_mon -1
/// --output-as=xml` does. Other uses (node attributes) are refused with a
/// message. Returns the exit code.
pub fn main(invoked_as: &str, args: &[String]) -> i32 {
    match invoked_as {
        "crm_mon" => return crm_mon(),
        // crm_mon's callers feed it the CIB (`CIB_file=<(cibadmin -Q)`),
        // which the stand-in does not read.
        "cibadmin" => {
            println!("<cib validate-with=\"none\"/>");
            return 0;
        }
        _ => {}
    }
    let a = Args::parse(invoked_as, args);
    if a.kind.as_deref() == Some("crm_config") && !a.promotion {
        return cluster_attribute(invoked_as, &a);
    }
    if !a.promotion {
        eprintln!(
            "{invoked_as} (halo runner shim): only promotion scores and cluster-wide attributes (--type crm_config) are supported here"
        );
        return 0;
    }
    if a.query {
        return promotion_query(&a);
    }
    let line = match (a.delete, &a.value) {
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
    record(invoked_as, &line)
}

/// `crm_master -G`: the score this action set, or else the one kept for the
/// resource on this node; "no such attribute" (105) when there is none.
fn promotion_query(a: &Args) -> i32 {
    let read = |var: &str| std::env::var_os(var).and_then(|f| std::fs::read_to_string(f).ok());
    let mine = read(SCORE_FILE_VAR)
        .unwrap_or_default()
        .lines()
        .filter_map(parse_line)
        .next_back();
    let score = match mine {
        Some(PromotionChange::Set(n)) => Some(n),
        Some(PromotionChange::Delete) => None,
        None => read(CURRENT_FILE_VAR).and_then(|t| t.trim().parse().ok()),
    };
    match score {
        Some(n) if a.quiet => println!("{n}"),
        Some(n) => println!(
            "scope=status  name=master-{} value={n}",
            a.name.as_deref().unwrap_or("resource")
        ),
        None => {
            eprintln!("Error performing operation: No such device or address");
            return 105;
        }
    }
    0
}

/// Appends `line` to the action's score file.
fn record(invoked_as: &str, line: &str) -> i32 {
    let Some(file) = std::env::var_os(SCORE_FILE_VAR) else {
        eprintln!("{invoked_as}: not run by a halo runner ({SCORE_FILE_VAR} is not set)");
        return 1;
    };
    match append(Path::new(&file), line) {
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

/// The view the controller sent with the action (empty without one).
fn view() -> ClusterView {
    std::env::var_os(VIEW_FILE_VAR)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| ClusterView::decode(&b))
        .unwrap_or_default()
}

/// `crm_attribute --type crm_config --name N` with `-v V`, `-D` or
/// `--query`: a query sees what this action set, then the controller's view.
fn cluster_attribute(invoked_as: &str, a: &Args) -> i32 {
    let Some(name) = a
        .name
        .as_deref()
        .filter(|n| !n.is_empty() && !n.contains(['\t', '\n']))
    else {
        eprintln!("{invoked_as}: give the attribute's name (--name NAME)");
        return 64;
    };
    if a.delete {
        return record(invoked_as, &format!("attr-delete {name}"));
    }
    if let (Some(v), false) = (&a.value, a.query) {
        if v.contains('\n') {
            eprintln!("{invoked_as}: a value holds a line break");
            return 64;
        }
        return record(invoked_as, &format!("attr {name}\t{v}"));
    }
    let own = std::env::var_os(SCORE_FILE_VAR)
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    let mine = own
        .lines()
        .filter_map(parse_attribute)
        .rfind(|c| c.name == name)
        .map(|c| c.value);
    let value = match mine {
        Some(v) => v,
        None => view().attributes.get(name).cloned(),
    };
    match value {
        Some(v) if a.quiet => println!("{v}"),
        Some(v) => println!("scope=crm_config  name={name} value={v}"),
        None => {
            eprintln!("Error performing operation: No such device or address");
            return 105;
        }
    }
    0
}

/// `crm_mon -1 --output-as=xml`: the running resources with their roles, as
/// crm_mon lists them (agents grep its lines).
fn crm_mon() -> i32 {
    let v = view();
    println!("<pacemaker-result api-version=\"2.25\" request=\"crm_mon\">\n  <resources>");
    for (rsc, node, role) in &v.running {
        let role = match role.as_str() {
            "promoted" => "Promoted",
            "unpromoted" => "Unpromoted",
            _ => "Started",
        };
        println!(
            "    <resource id=\"{}\" role=\"{role}\" active=\"true\" orphaned=\"false\" blocked=\"false\" managed=\"true\" failed=\"false\" failure_ignored=\"false\" nodes_running_on=\"1\">\n      <node name=\"{}\" id=\"{}\" cached=\"true\"/>\n    </resource>",
            xml_escape(rsc),
            xml_escape(node),
            xml_escape(node)
        );
    }
    println!("  </resources>\n</pacemaker-result>");
    0
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

    #[test]
    fn cluster_attribute_lines_read_back() {
        assert_eq!(
            parse_attribute("attr redis_REPL_INFO\tn2"),
            Some(AttributeChange {
                name: "redis_REPL_INFO".into(),
                value: Some("n2".into())
            })
        );
        assert_eq!(
            parse_attribute("attr-delete x"),
            Some(AttributeChange {
                name: "x".into(),
                value: None
            })
        );
        assert_eq!(parse_attribute("set 10"), None);
        // The redis agent's calls.
        let args = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let a = Args::parse(
            "crm_attribute",
            &args("--type crm_config --name redis_REPL_INFO -s redis_replication --query -q"),
        );
        assert_eq!(a.kind.as_deref(), Some("crm_config"));
        assert_eq!(a.name.as_deref(), Some("redis_REPL_INFO"));
        assert!(a.query && a.quiet && !a.promotion);
        let a = Args::parse("crm_master", &args("-N n1 -l reboot -G --quiet"));
        assert!(a.promotion && a.query && a.quiet);
    }
}
