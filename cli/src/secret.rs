//! `halo secret set|list|remove`: the node's secret store, which the runner
//! reads when an action needs a `secret("NAME")` parameter. Run on the node
//! itself, with its config; a value is read from standard input, so that it
//! never appears in a command line or a shell's history.

use crate::load::InputError;
use crate::Exit;
use clap::{Args, Subcommand};
use halo_runner::secrets::Store;
use std::io::Read as _;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Keep a secret on this node: the value is read from standard input
    /// (one trailing newline dropped) and kept with mode 0600 in the node's
    /// state directory.
    ///
    /// Example:
    ///   printf %s "$AWS_SECRET" | halo secret set aws-key --config /etc/halo/n1.toml
    Set {
        /// The name the policy uses: `secret("NAME")`.
        name: String,
        #[command(flatten)]
        node: NodeConfigArg,
    },
    /// List the names of the secrets this node keeps (never their values).
    List {
        #[command(flatten)]
        node: NodeConfigArg,
    },
    /// Remove a secret from this node.
    Remove {
        name: String,
        #[command(flatten)]
        node: NodeConfigArg,
    },
}

#[derive(Args)]
pub struct NodeConfigArg {
    /// The node's config file, as `halo cluster init` wrote it.
    #[arg(long)]
    config: PathBuf,
}

/// The store of the node whose config is `path`.
fn store(node: &NodeConfigArg) -> Result<Store, InputError> {
    let cfg = halo_net::NodeConfig::load(&node.config).map_err(InputError::usage)?;
    Ok(Store::new(&cfg.state_dir))
}

/// Reads a value from standard input, up to the store's bound.
fn read_value() -> Result<String, InputError> {
    let limit = halo_runner::secrets::VALUE_MAX;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(u64::try_from(limit).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            InputError::usage(format!("cannot read the value from standard input: {e}"))
        })?;
    if bytes.len() > limit {
        return Err(InputError::usage(format!(
            "the value on standard input is longer than {limit} bytes"
        )));
    }
    let mut text = String::from_utf8(bytes)
        .map_err(|_| InputError::usage("the value on standard input is not UTF-8 text"))?;
    if text.ends_with('\n') {
        text.pop();
    }
    if text.is_empty() {
        return Err(InputError::usage(
            "no value on standard input: pipe it in, e.g. `printf %s \"$VALUE\" | halo secret set NAME --config NODE.toml`",
        ));
    }
    Ok(text)
}

pub fn run(cmd: &SecretCommand) -> Result<Exit, InputError> {
    match cmd {
        SecretCommand::Set { name, node } => {
            let value = read_value()?;
            store(node)?
                .set(name, &value)
                .map_err(|e| InputError::usage(e.to_string()))?;
            errln!("secret `{name}` set");
        }
        SecretCommand::List { node } => {
            let names = store(node)?
                .names()
                .map_err(|e| InputError::usage(e.to_string()))?;
            crate::write_stdout(&names.iter().map(|n| format!("{n}\n")).collect::<String>())?;
        }
        SecretCommand::Remove { name, node } => {
            let removed = store(node)?
                .remove(name)
                .map_err(|e| InputError::usage(e.to_string()))?;
            if !removed {
                return Err(InputError::usage(format!(
                    "no secret `{name}` on this node"
                )));
            }
            errln!("secret `{name}` removed");
        }
    }
    Ok(Exit::Ok)
}
