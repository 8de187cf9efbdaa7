//! Reading policy and state files: the only place the dry-run commands touch the
//! file system. Everything read is handed to the pure crates as text or data.

use halo_lang::{Compiled, Diagnostic, FileId, Sources};
use halo_model::{ClusterState, Policy};
use std::path::Path;

/// Policies and state files larger than this are refused before reading.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// A failure that is not a policy error: usage, I/O, unreadable input.
#[derive(Debug)]
pub struct InputError {
    pub message: String,
    /// The exit code: 2 for usage and I/O, 1 for bad content of a named input.
    pub code: u8,
}

impl InputError {
    pub fn io(path: &Path, e: &std::io::Error) -> InputError {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => " (no such file; check the path)",
            std::io::ErrorKind::PermissionDenied => " (permission denied)",
            _ => "",
        };
        InputError {
            message: format!("cannot read {}: {e}{hint}", path.display()),
            code: 2,
        }
    }

    pub fn usage(message: impl Into<String>) -> InputError {
        InputError {
            message: message.into(),
            code: 2,
        }
    }

    pub fn content(message: impl Into<String>) -> InputError {
        InputError {
            message: message.into(),
            code: 1,
        }
    }
}

/// Reads a file as UTF-8 text, refusing huge files and naming the first invalid
/// byte of non-UTF-8 input by line and column.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    let meta = std::fs::metadata(path).map_err(|e| InputError::io(path, &e))?;
    if meta.is_dir() {
        return Err(InputError::usage(format!(
            "{} is a directory, not a file",
            path.display()
        )));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(InputError::content(format!(
            "{}: {} bytes is larger than the {} MiB limit for inputs",
            path.display(),
            meta.len(),
            MAX_INPUT_BYTES / 1024 / 1024
        )));
    }
    // The size in the metadata can lie (devices, pipes, /proc): bound the read.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_INPUT_BYTES + 1), &mut bytes)
        })
        .map_err(|e| InputError::io(path, &e))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::content(format!(
            "{}: larger than the {} MiB limit for inputs",
            path.display(),
            MAX_INPUT_BYTES / 1024 / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..valid]);
        let (line, col) = halo_lang::diag::line_col(&text, valid);
        InputError::content(format!(
            "{}:{line}:{col}: error[halo::encoding]: the file is not valid UTF-8 (byte 0x{:02x} at offset {valid})\n  help: policy files are UTF-8 text; is this a binary file?",
            path.display(),
            e.as_bytes().get(valid).copied().unwrap_or(0)
        ))
    })
}

/// A policy file with its sources (for rendering diagnostics) and the outcome.
pub struct Loaded {
    pub sources: Sources,
    pub compiled: Option<Compiled>,
    pub diags: Vec<Diagnostic>,
}

impl Loaded {
    pub fn policy(&self) -> Option<&Policy> {
        self.compiled.as_ref().map(|c| &c.policy)
    }

    pub fn errors(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diags.len() - self.errors()
    }

    pub fn render(&self, color: bool) -> String {
        halo_lang::diag::render_all(&self.diags, &self.sources, color)
    }

    /// `file:line:col` of a policy item.
    pub fn locate(&self, origin: halo_model::Origin) -> String {
        self.compiled
            .as_ref()
            .and_then(|c| c.span(origin))
            .map_or_else(|| "?".to_string(), |s| self.sources.locate(s))
    }
}

/// Reads and compiles a policy file against the standard library.
pub fn policy(path: &Path) -> Result<Loaded, InputError> {
    let text = read_text(path)?;
    Ok(compile_text(&path.display().to_string(), text))
}

pub fn compile_text(name: &str, text: String) -> Loaded {
    let mut sources = Sources::default();
    let stdlib: Vec<FileId> = halo_stdlib::FILES
        .iter()
        .map(|(n, t)| sources.add(*n, *t))
        .collect();
    let (library, mut diags) = halo_lang::Library::load(&sources, &stdlib);
    let file = sources.add(name, text);
    let (compiled, more) = halo_lang::compile(&sources, file, &library);
    diags.extend(more);
    Loaded {
        sources,
        compiled,
        diags,
    }
}

/// Reads a cluster-state file (JSON; see docs/state-format.md) and checks that
/// the nodes it names exist in the policy.
pub fn state(path: &Path, policy: &Policy) -> Result<ClusterState, InputError> {
    let text = read_text(path)?;
    let state: ClusterState = serde_json::from_str(&text).map_err(|e| {
        InputError::content(format!(
            "{}:{}:{}: error[halo::bad-state]: {e}\n  help: see docs/state-format.md for the state file format",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let known = |n: &str| policy.cluster.nodes.iter().any(|x| x.name == n);
    let mut unknown: Vec<String> = state.nodes.keys().filter(|n| !known(n)).cloned().collect();
    for per_node in state.resources.values().chain(std::iter::empty()) {
        unknown.extend(per_node.keys().filter(|n| !known(n)).cloned());
    }
    unknown.sort();
    unknown.dedup();
    if let Some(n) = unknown.first() {
        let nodes: Vec<&str> = policy
            .cluster
            .nodes
            .iter()
            .map(|x| x.name.as_str())
            .collect();
        return Err(InputError::content(format!(
            "{}: error[halo::unknown-node]: the state names node `{n}`, which the policy does not declare\n  help: the policy's nodes are: {}",
            path.display(),
            nodes.join(", ")
        )));
    }
    Ok(state)
}
