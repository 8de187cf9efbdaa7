//! Reading policy and state files: the only place the dry-run commands touch the
//! file system. Everything read is handed to the pure crates as text or data.

use halo_lang::{Compiled, Diagnostic, Sources};
use halo_model::{ClusterState, Policy};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Policies larger than this are refused before reading.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// The largest state file read: a state of 100,000 resources on 64 nodes takes
/// a few tens of megabytes.
pub const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;
/// Pacemaker CIBs carry operation histories: a 64-node cluster with 10,000
/// resources writes several hundred megabytes.
pub const MAX_CIB_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// How many parts of a CIB the reader may have read ahead of the importer.
const AHEAD: usize = 16;

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
    read_text_bounded(path, MAX_INPUT_BYTES)
}

/// Reads a file as UTF-8 text of at most `max` bytes.
pub fn read_text_bounded(path: &Path, max: u64) -> Result<String, InputError> {
    let file = open_bounded(path, max)?;
    // The size in the metadata can lie (pipes, /proc): bound the read.
    let mut bytes = Vec::new();
    read_patiently(std::io::Read::take(file, max + 1), &mut bytes)
        .map_err(|e| InputError::io(path, &e))?;
    if bytes.len() as u64 > max {
        return Err(InputError::usage(format!(
            "{}: larger than the {} MiB limit for inputs",
            path.display(),
            max / 1024 / 1024
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

/// How long a pipe may stay silent before its reader gives up.
const PIPE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads to the end; a pipe opened without blocking (see `open_bounded`)
/// that has nothing yet is waited for, but not past `PIPE_PATIENCE` of
/// silence.
fn read_patiently(mut r: impl std::io::Read, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut quiet_since = std::time::Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                out.extend_from_slice(buf.get(..n).unwrap_or_default());
                quiet_since = std::time::Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if quiet_since.elapsed() > PIPE_PATIENCE {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "nothing came through the pipe for 5 s",
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Opens a file for reading, refusing directories, devices and files its
/// metadata says are larger than `max` bytes. A named pipe is opened without
/// waiting for a writer (one that never comes would hang the command).
fn open_bounded(path: &Path, max: u64) -> Result<std::fs::File, InputError> {
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    let meta = std::fs::metadata(path).map_err(|e| InputError::io(path, &e))?;
    if meta.is_dir() {
        return Err(InputError::usage(format!(
            "{} is a directory, not a file",
            path.display()
        )));
    }
    let kind = meta.file_type();
    if kind.is_char_device() || kind.is_block_device() || kind.is_socket() {
        return Err(InputError::usage(format!(
            "{} is a device or a socket, not a file: give a file (or a pipe)",
            path.display()
        )));
    }
    if kind.is_fifo() {
        return std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
            .map_err(|e| InputError::io(path, &e));
    }
    if meta.len() > max {
        return Err(InputError::usage(format!(
            "{}: {} bytes is larger than the {} MiB limit for inputs",
            path.display(),
            meta.len(),
            max / 1024 / 1024
        )));
    }
    std::fs::File::open(path).map_err(|e| InputError::io(path, &e))
}

/// A policy file with its sources (for rendering diagnostics) and the outcome.
pub struct Loaded {
    pub sources: Sources,
    pub compiled: Option<Compiled>,
    pub diags: Vec<Diagnostic>,
}

/// Where a policy came from: a `.ha` file or an imported CIB. Renderers use it
/// to name the source of each policy item.
pub trait Input {
    fn policy(&self) -> Option<&Policy>;
    /// Where a policy item came from: `file:line:col`, or the CIB element id.
    fn locate(&self, origin: halo_model::Origin) -> String;
    /// The names another tool prints for the resources (Pacemaker's ids).
    fn display(&self) -> std::collections::BTreeMap<String, String> {
        Default::default()
    }
}

impl Input for Loaded {
    fn policy(&self) -> Option<&Policy> {
        self.compiled.as_ref().map(|c| &c.policy)
    }

    fn locate(&self, origin: halo_model::Origin) -> String {
        Loaded::locate(self, origin)
    }
}

/// An imported Pacemaker CIB.
pub struct Cib {
    pub path: String,
    pub imported: halo_pcmk::Imported,
}

impl Input for Cib {
    fn policy(&self) -> Option<&Policy> {
        Some(&self.imported.policy)
    }

    fn locate(&self, origin: halo_model::Origin) -> String {
        let id = self
            .imported
            .origins
            .get(origin.0 as usize)
            .map_or("?", String::as_str);
        format!("{} id={id}", self.path)
    }

    fn display(&self) -> std::collections::BTreeMap<String, String> {
        self.imported.display.clone()
    }
}

/// Reads and imports a CIB (the output of `cibadmin -Q`) as of `now`, or of
/// its execution-date, or of the clock.
pub fn cib(path: &Path, now: Option<i64>) -> Result<Cib, InputError> {
    // Read piece by piece when the CIB allows it (a large status is never
    // held whole); otherwise, or when something is wrong with it, read whole,
    // which names what is wrong best.
    let imported = match streamed_cib(path, now)? {
        Some(imported) => imported,
        None => {
            let text = read_text_bounded(path, MAX_CIB_BYTES)?;
            halo_pcmk::import_at(&text, now, Some(clock())).map_err(|m| {
                InputError::content(format!(
                    "{}: error[halo::bad-cib]: {m}\n  help: give the XML that `cibadmin -Q` prints",
                    path.display()
                ))
            })?
        }
    };
    Ok(Cib {
        path: path.display().to_string(),
        imported,
    })
}

/// A CIB imported as it is read; `None` when it must be read whole.
///
/// One thread reads the file and splits it into parts while this one folds
/// them into the policy and state: reading and tokenizing the XML costs about
/// as much as the import itself, and the two overlap.
fn streamed_cib(path: &Path, now: Option<i64>) -> Result<Option<halo_pcmk::Imported>, InputError> {
    let file = open_bounded(path, MAX_CIB_BYTES)?;
    let source =
        std::io::BufReader::with_capacity(1 << 16, std::io::Read::take(file, MAX_CIB_BYTES + 1));
    let clock = clock();
    // Parts sent and not yet taken by the importer.
    let backlog = &AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // The reader runs ahead by a bounded number of parts (about 32 KiB
        // of text each): that bounds the memory in flight.
        let (parts, received) = std::sync::mpsc::sync_channel(AHEAD);
        // Imported parts come back to be read into again.
        let (used, spare) = std::sync::mpsc::channel();
        let reader = scope.spawn(move || {
            let mut read = halo_pcmk::Parts::new(source);
            while let Some(mut part) = read.next() {
                while let Ok(piece) = spare.try_recv() {
                    read.recycle(piece);
                }
                // When the importer is behind (it has parts waiting), this
                // thread takes on the attribute scan of the part it holds:
                // the work is shared by whichever thread is slower on the
                // machine at hand.
                if backlog.load(Ordering::Relaxed) > 0 {
                    if let Some(piece) = part.as_mut().ok().and_then(halo_pcmk::Part::piece_mut) {
                        piece.find_attributes();
                    }
                }
                backlog.fetch_add(1, Ordering::Relaxed);
                // The importer stopped early: it reads the file whole.
                if parts.send(part).is_err() {
                    break;
                }
            }
            // Past the limit (the size in the metadata lied): the whole read
            // refuses it.
            read.into_inner().get_ref().limit() == 0
        });
        let received = received.into_iter().inspect(|_| {
            backlog.fetch_sub(1, Ordering::Relaxed);
        });
        let imported = halo_pcmk::import_parts(received, now, Some(clock), |piece| {
            // The reader may have finished: the piece is dropped then.
            let _ = used.send(piece);
        });
        let too_large = reader.join().unwrap_or(true);
        Ok(imported.ok().flatten().filter(|_| !too_large))
    })
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
    let (sources, compiled, diags) = halo_lang::compile_text(name, &text, halo_stdlib::FILES);
    Loaded {
        sources,
        compiled,
        diags,
    }
}

/// Reads a cluster-state file (JSON; see docs/state-format.md) and checks it
/// against the policy: nodes must exist, group names are not resources, roles
/// need a promotable resource, operator constraints are `inf` or `-inf`.
pub fn state(path: &Path, policy: &Policy) -> Result<ClusterState, InputError> {
    let text = read_text_bounded(path, MAX_STATE_BYTES)?;
    let bad = |msg: String| {
        InputError::content(format!(
            "{}: error[halo::bad-state]: {msg}\n  help: see docs/state-format.md for the state file format",
            path.display()
        ))
    };
    // A byte-order mark is not content (as in policy files).
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if !text.trim_start().starts_with('{') {
        return Err(bad("the state must be a JSON object (`{ ... }`)".into()));
    }
    let located = |e: serde_json::Error| {
        InputError::content(format!(
            "{}:{}:{}: error[halo::bad-state]: {e}\n  help: see docs/state-format.md for the state file format",
            path.display(),
            e.line(),
            e.column()
        ))
    };
    // A key given twice would silently replace the first value (a typo
    // must not be ignored): refused, at the second.
    json_strict::check(text).map_err(located)?;
    let state: ClusterState = serde_json::from_str(text).map_err(located)?;
    state_bounds(&state).map_err(bad)?;
    let known = |n: &str| policy.cluster.nodes.iter().any(|x| x.name == n);
    let mut named: Vec<(&str, String)> = state.nodes.keys().map(|n| ("nodes", n.clone())).collect();
    for per_node in state.resources.values() {
        named.extend(per_node.keys().map(|n| ("resources", n.clone())));
    }
    for per_node in state.failures.values() {
        named.extend(per_node.keys().map(|n| ("failures", n.clone())));
    }
    named.extend(state.fenced.iter().map(|n| ("fenced", n.clone())));
    named.extend(state.operator.iter().map(|o| ("operator", o.node.clone())));
    if let Some((section, n)) = named.iter().find(|(_, n)| !known(n)) {
        return Err(bad(format!(
            "`{section}` names node `{n}`, which the policy does not declare (its nodes: {})",
            policy.cluster.node_list()
        )));
    }
    let names = policy.name_index();
    for (name, per_node) in &state.resources {
        let Some(r) = names.get(name.as_str()).and_then(|id| policy.resource(*id)) else {
            continue;
        };
        if r.primitive().is_none() {
            return Err(bad(format!(
                "`{name}` is a group: list the state of its members instead"
            )));
        }
        let promotable = r.is_promotable()
            || r.parent
                .and_then(|g| policy.resource(g))
                .is_some_and(|g| g.is_promotable());
        if let Some((node, rs)) = per_node.iter().find(|(_, rs)| {
            !promotable
                && matches!(
                    rs.role,
                    halo_model::Role::Promoted | halo_model::Role::Unpromoted
                )
        }) {
            return Err(bad(format!(
                "`{name}` is {} on `{node}`, but it is not promotable (use `started`)",
                rs.role
            )));
        }
    }
    for o in &state.operator {
        if policy.find(&o.rsc).is_none() {
            return Err(bad(format!(
                "`operator` names resource `{}`, which the policy does not declare",
                o.rsc
            )));
        }
        if !o.score.is_inf() && !o.score.is_neg_inf() {
            return Err(bad(format!(
                "operator constraint on `{}` has score {}: only 1000000 (move) or -1000000 (ban)",
                o.rsc, o.score
            )));
        }
    }
    Ok(state)
}

/// The most attributes a node may have in a state file.
const MAX_NODE_ATTRS: usize = 1_000;

/// The latest time a state file may give (the last second of the year 9999):
/// anything later is no time, and a failure then would never expire.
const LAST_TIME: i64 = 253_402_300_799;

/// Values a state file may give only within bounds: return codes are exit
/// statuses, counts of instances and attributes stay within what a cluster
/// holds, times are times.
fn state_bounds(state: &ClusterState) -> Result<(), String> {
    let mut instances = 0u64;
    for (rsc, per_node) in &state.resources {
        for (node, r) in per_node {
            if let Some(f) = r.failed.as_ref().filter(|f| !(0..=255).contains(&f.rc)) {
                return Err(format!(
                    "`resources.{rsc}.{node}.failed.rc` is {}: a return code is an exit status, 0 to 255",
                    f.rc
                ));
            }
            if r.more.len() >= halo_model::CLONE_NODE_MAX_LIMIT as usize {
                return Err(format!(
                    "`resources.{rsc}.{node}.more` lists {} more instances: a node runs at most {} of one clone",
                    r.more.len(),
                    halo_model::CLONE_NODE_MAX_LIMIT
                ));
            }
            instances += 1 + r.more.len() as u64;
        }
    }
    if instances > halo_model::MAX_INSTANCES {
        return Err(format!(
            "the state lists {instances} resource instances, more than the {} Halo plans for",
            halo_model::MAX_INSTANCES
        ));
    }
    if let Some((n, s)) = state
        .nodes
        .iter()
        .find(|(_, s)| s.attrs.len() > MAX_NODE_ATTRS)
    {
        return Err(format!(
            "node `{n}` has {} attributes, more than the {MAX_NODE_ATTRS} a node may have",
            s.attrs.len()
        ));
    }
    for (rsc, per_node) in &state.failures {
        for (node, f) in per_node {
            if !(0..=LAST_TIME).contains(&f.last_failure.0) {
                return Err(format!(
                    "`failures.{rsc}.{node}.last_failure` is {}: not a time (seconds since 1970, before the year 10000)",
                    f.last_failure.0
                ));
            }
        }
    }
    Ok(())
}

/// A JSON reader that reads nothing into memory: it checks that no object
/// gives a key twice, that strings hold no control characters, and that the
/// document's size in values stays within bounds, before the state is read.
mod json_strict {
    use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
    use std::cell::Cell;
    use std::collections::BTreeSet;

    /// The most keys one object may have.
    const MAX_KEYS: usize = 100_000;

    /// The most values (numbers, strings, objects, arrays...) a state file may
    /// hold: a state of 100,000 instances (Halo's bound) with a failure each
    /// holds about 700,000. It bounds the memory the state takes once read: a
    /// 50 MB state past it is refused having taken 60 MB.
    const MAX_VALUES: usize = 1_000_000;

    /// Checks a whole JSON text.
    pub fn check(text: &str) -> serde_json::Result<()> {
        let count = Cell::new(0);
        let mut de = serde_json::Deserializer::from_str(text);
        Walk(&count).deserialize(&mut de)?;
        de.end()
    }

    /// Refuses a string with a control character other than tab and newline:
    /// no name holds one, and it would be shown as something it is not.
    fn text<E: Error>(s: &str) -> Result<(), E> {
        match s
            .chars()
            .find(|c| c.is_control() && *c != '\t' && *c != '\n')
        {
            Some(c) => Err(E::custom(format!(
                "control character U+{:04X} in the string {s:?}",
                u32::from(c)
            ))),
            None => Ok(()),
        }
    }

    /// One value, counted.
    struct Walk<'c>(&'c Cell<usize>);

    impl Walk<'_> {
        fn counted<E: Error>(&self) -> Result<(), E> {
            self.0.set(self.0.get() + 1);
            if self.0.get() > MAX_VALUES {
                return Err(E::custom(format!(
                    "the state holds more than {MAX_VALUES} values; no cluster's state is that large"
                )));
            }
            Ok(())
        }
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            self.counted()?;
            let mut seen = BTreeSet::new();
            while let Some(k) = m.next_key::<String>()? {
                text(&k)?;
                if seen.len() >= MAX_KEYS {
                    return Err(A::Error::custom(format!(
                        "an object has more than {MAX_KEYS} keys; no cluster has that many nodes, resources or attributes"
                    )));
                }
                if !seen.insert(k.clone()) {
                    return Err(A::Error::custom(format!(
                        "key `{k}` is given twice in one object (the second would silently replace the first)"
                    )));
                }
                m.next_value_seed(Walk(self.0))?;
            }
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            self.counted()?;
            while s.next_element_seed(Walk(self.0))?.is_some() {}
            Ok(())
        }

        fn visit_bool<E: Error>(self, _: bool) -> Result<(), E> {
            self.counted()
        }
        fn visit_i64<E: Error>(self, _: i64) -> Result<(), E> {
            self.counted()
        }
        fn visit_u64<E: Error>(self, _: u64) -> Result<(), E> {
            self.counted()
        }
        fn visit_f64<E: Error>(self, _: f64) -> Result<(), E> {
            self.counted()
        }
        fn visit_str<E: Error>(self, s: &str) -> Result<(), E> {
            text(s)?;
            self.counted()
        }
        fn visit_unit<E: Error>(self) -> Result<(), E> {
            self.counted()
        }
    }
}

/// The wall clock, in seconds since the epoch.
pub fn clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
