//! `halo report`: one archive for a bug report (as crm_report gathers a
//! Pacemaker cluster's): the status, the whole decision journal with every
//! transition's inputs, the policies, the config files and the logs beside
//! them — never a private key, and with the values of sensitive-looking
//! parameters (passwords, tokens...) replaced by `<redacted>`.

use crate::live::{Admin, Conn};
use crate::load::InputError;
use crate::Exit;
use clap::Args;
use halo_controller::rpc::{CtlRequest, CtlResponse, History};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args)]
#[command(
    after_help = "The archive holds: status.json, history.json (every kept transition \
with its state), policy.ha and policies/ (the versions the journal planned with), config/ \
(the *.toml files beside the admin config) and logs/ (the *.log files there and any --log). \
Private keys are never included; values of parameters whose names suggest a secret \
(password, passwd, secret, token, key, credential) are replaced by <redacted>, in the \
policies, the state and the logs. Secrets a policy names with secret(\"NAME\") stay in the \
nodes' stores and are never in the cluster's state."
)]
pub struct ReportArgs {
    /// The archive to write (default: halo-report-CLUSTER-TIME.tar.gz here).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// A log file to include as well (repeatable).
    #[arg(long = "log", value_name = "FILE")]
    logs: Vec<PathBuf>,
    #[command(flatten)]
    conn: Conn,
}

/// Parameter names whose values are not copied.
const SENSITIVE: &[&str] = &["pass", "secret", "token", "key", "credential"];

fn sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SENSITIVE.iter().any(|s| n.contains(s))
}

/// Replaces the value after each sensitive name in `text`: `name=value`,
/// `name: value` and `name value` (the policy language's form).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&redact_line(line));
    }
    out
}

fn redact_line(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    let mut hidden = false;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        out.push_str(word);
        rest = &rest[end..];
        if hidden || !sensitive(word) {
            continue;
        }
        // The separator, then the value (quoted or up to a space or `,`).
        // A JSON key's closing quote, then `=`, `:` or blanks.
        let after_quote = rest.strip_prefix('"').unwrap_or(rest);
        let sep = rest.len() - after_quote.trim_start_matches([' ', '=', ':', '\t']).len();
        if sep == rest.len() - after_quote.len() {
            continue;
        }
        if rest[sep..].starts_with(['\n', '{']) || rest.len() == sep {
            continue;
        }
        out.push_str(&rest[..sep]);
        rest = &rest[sep..];
        let value_end = if let Some(q) = rest.strip_prefix('"') {
            q.find('"').map_or(rest.len(), |i| i + 2)
        } else {
            rest.find([' ', ',', '\n', '\t', ';', '}'])
                .unwrap_or(rest.len())
        };
        if rest[..value_end].starts_with("secret(") {
            continue;
        }
        out.push_str("<redacted>");
        rest = &rest[value_end..];
        hidden = true;
    }
    out.push_str(rest);
    out
}

fn io(what: &Path, e: std::io::Error) -> InputError {
    InputError::usage(format!("cannot write {}: {e}", what.display()))
}

pub fn run(a: &ReportArgs) -> Result<Exit, InputError> {
    let rt = crate::live::runtime()?;
    let _in_rt = rt.enter();
    let admin = Admin::connect(&a.conn)?;
    let status = rt.block_on(admin.status(Duration::from_secs(10)))?;
    let history = rt.block_on(whole_history(&admin))?;
    let stamp = crate::live::utc(halo_model::Timestamp(crate::load::clock())).replace(':', "");
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("halo-report-{}-{stamp}.tar.gz", status.cluster)));
    let file = std::fs::File::create(&out).map_err(|e| io(&out, e))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut files = Vec::new();
    let mut add = |name: &str, text: &str| -> Result<(), InputError> {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(u64::try_from(crate::load::clock()).unwrap_or(0));
        tar.append_data(&mut h, name, text.as_bytes())
            .map_err(|e| io(&out, e))?;
        files.push(name.to_string());
        Ok(())
    };
    add("status.json", &redact(&pretty(&status)))?;
    add("history.json", &redact(&pretty(&history)))?;
    if let Some(p) = &status.doc.policy {
        add("policy.ha", &redact(&p.text))?;
    }
    for (v, p) in &history.policies {
        add(
            &format!("policies/{v}-{}", p.name.replace('/', "_")),
            &redact(&p.text),
        )?;
    }
    let dir = a.conn.config.parent().unwrap_or(Path::new("."));
    for (sub, ext) in [("config", "toml"), ("logs", "log")] {
        for p in beside(dir, ext) {
            add(&format!("{sub}/{}", file_name(&p)), &redact(&read(&p)?))?;
        }
    }
    for p in &a.logs {
        add(&format!("logs/{}", file_name(p)), &redact(&read(p)?))?;
    }
    let gz = tar.into_inner().map_err(|e| io(&out, e))?;
    gz.finish().map_err(|e| io(&out, e))?;
    let mut text = format!("wrote {}:\n", out.display());
    for f in &files {
        text.push_str(&format!("  {f}\n"));
    }
    crate::write_stdout(&text)?;
    Ok(Exit::Ok)
}

/// Every kept transition, with its state and policy.
async fn whole_history(admin: &Admin) -> Result<History, InputError> {
    let list = match admin
        .ask(&CtlRequest::History { id: None }, Duration::from_secs(10))
        .await?
    {
        CtlResponse::History { history } => *history,
        other => return Err(InputError::usage(format!("unexpected answer: {other:?}"))),
    };
    let mut whole = History {
        cluster: list.cluster,
        first_kept: list.first_kept,
        ..History::default()
    };
    for t in &list.transitions {
        let r = admin
            .ask(
                &CtlRequest::History { id: Some(t.id) },
                Duration::from_secs(10),
            )
            .await?;
        // A transition dropped meanwhile (the journal is bounded) is skipped.
        if let CtlResponse::History { history } = r {
            whole.transitions.extend(history.transitions);
            whole.policies.extend(history.policies);
        }
    }
    Ok(whole)
}

fn beside(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| "unnamed".into(), |n| n.to_string_lossy().into_owned())
}

fn read(p: &Path) -> Result<String, InputError> {
    let bytes = std::fs::read(p)
        .map_err(|e| InputError::usage(format!("cannot read {}: {e}", p.display())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn values_of_sensitive_names_are_hidden_in_every_form() {
        assert_eq!(
            redact("  param password \"hunter2\"\n  ip 10.0.0.1\n"),
            "  param password <redacted>\n  ip 10.0.0.1\n"
        );
        assert_eq!(
            redact("api_token=abc123 user=bob"),
            "api_token=<redacted> user=bob"
        );
        assert_eq!(redact("\"passwd\": \"x y\","), "\"passwd\": <redacted>,");
        assert_eq!(
            redact("  passwd secret(\"db-pass\")\n"),
            "  passwd secret(\"db-pass\")\n"
        );
        assert_eq!(redact("key = \"n1.key\""), "key = <redacted>");
        assert_eq!(redact("nothing here"), "nothing here");
    }
}
