//! Raft storage for openraft: the log and the vote, and the state machine
//! that applies committed commands to the [`Doc`].
//!
//! The vote, the log and the last snapshot are kept on disk in the replica's
//! state directory (`vote`, `log`, `snapshot`), written and synced before
//! openraft is told they are: a replica that restarts keeps its promises
//! (never votes twice in a term) and its log, and rebuilds its document from
//! the snapshot and the log. The document itself is in memory.

use crate::doc::{Command, Doc};
use halo_model::Policy;
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, LogState, RaftLogId, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// What a committed command answers: the document's sequence number after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub seq: u64,
}

openraft::declare_raft_types!(
    /// Halo's Raft: commands on the document, replicas numbered from 1.
    pub TypeConfig:
        D = Command,
        R = Applied,
        AsyncRuntime = crate::runtime::Runtime,
);

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-written
    // (every update is a single insert or assignment), so go on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The log and the vote, in memory and on disk.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    dir: PathBuf,
    last_purged: Option<LogId<NodeId>>,
    log: BTreeMap<u64, Entry<TypeConfig>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    /// The log file, appended to.
    file: std::fs::File,
}

/// What the `vote` file holds.
#[derive(Serialize, Deserialize)]
struct VoteFile {
    vote: Option<Vote<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
}

/// What went wrong with a file, in words.
fn io_err(e: impl std::fmt::Display, what: &str, path: &Path) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// A storage failure for openraft.
fn storage_error(why: String) -> StorageError<NodeId> {
    StorageIOError::write(&std::io::Error::other(why)).into()
}

/// Writes `bytes` to `path` atomically: a synced temporary file, renamed.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(d) = path.parent() {
        std::fs::File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// The first bytes of a log file: its format (checksummed frames).
const LOG_MAGIC: &[u8; 8] = b"HALOLOG1";

/// The first bytes of the vote and snapshot files, before their checksum.
const FILE_MAGIC: &[u8; 8] = b"HALOSUM1";

/// A frame's header: the body's length, the body's CRC32C, and the CRC32C
/// of those eight bytes (so that a damaged length is caught rather than
/// taken for a torn tail).
const FRAME_HEADER: usize = 12;

/// One log entry as a frame: its header, then its MessagePack.
fn frame(e: &Entry<TypeConfig>) -> Result<Vec<u8>, String> {
    let body = rmp_serde::to_vec(e).map_err(|x| x.to_string())?;
    let len = u32::try_from(body.len())
        .map_err(|_| format!("entry {} is too large for a frame", e.log_id.index))?;
    let mut out = Vec::with_capacity(FRAME_HEADER + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    let head = crc32c::crc32c(&out);
    out.extend_from_slice(&head.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The big-endian `u32` at `at` (the caller checked the length).
fn be32(b: &[u8], at: usize) -> u32 {
    debug_assert!(b.len() >= at + 4, "be32 past the end");
    let mut x = [0u8; 4];
    x.copy_from_slice(b.get(at..at + 4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(x)
}

/// The entries of a log file, and where a torn last frame began (a crash
/// mid-append: never synced, so never acknowledged). Anything else that is
/// wrong is damage, reported with the file and the byte offset; the caller
/// refuses to start rather than drop entries it may have acknowledged.
fn read_frames(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<Entry<TypeConfig>>, Option<usize>), String> {
    let damaged = |at: usize, what: &str| {
        format!(
            "{} is damaged at byte {at}: {what}. The replica does not start, so that it \
             cannot lose changes it acknowledged; the other replicas go on. To rejoin, move \
             the directory {} away and start the node again: the replica comes back empty \
             and copies the log from the leader",
            path.display(),
            path.parent().unwrap_or(path).display()
        )
    };
    if bytes.is_empty() {
        return Ok((Vec::new(), None));
    }
    if bytes.get(..LOG_MAGIC.len()) != Some(&LOG_MAGIC[..]) {
        return Err(damaged(0, "it does not begin as a Halo log does"));
    }
    let mut out = Vec::new();
    let mut at = LOG_MAGIC.len();
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + FRAME_HEADER) else {
            return Ok((out, Some(at)));
        };
        if crc32c::crc32c(&head[..8]) != be32(head, 8) {
            return Err(damaged(at, "a frame's header fails its checksum"));
        }
        let n = be32(head, 0) as usize;
        let Some(body) = bytes.get(at + FRAME_HEADER..at + FRAME_HEADER + n) else {
            return Ok((out, Some(at)));
        };
        if crc32c::crc32c(body) != be32(head, 4) {
            return Err(damaged(at, "an entry fails its checksum"));
        }
        let e: Entry<TypeConfig> = rmp_serde::from_slice(body)
            .map_err(|e| damaged(at, &format!("an entry cannot be read ({e})")))?;
        out.push(e);
        at += FRAME_HEADER + n;
    }
    Ok((out, None))
}

/// `body` with the file magic and its checksum before it.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(FILE_MAGIC);
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The body of a file written by [`sealed`], or what is wrong with it.
fn unsealed<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], String> {
    let damaged = |what: &str| {
        format!(
            "{} is damaged: {what}. The replica does not start; to rejoin, move the \
             directory {} away and start the node again (the replica comes back empty \
             and copies the log from the leader)",
            path.display(),
            path.parent().unwrap_or(path).display()
        )
    };
    if bytes.get(..FILE_MAGIC.len()) != Some(&FILE_MAGIC[..]) {
        return Err(damaged("it does not begin as a Halo file does"));
    }
    let body = bytes.get(12..).ok_or_else(|| damaged("it is cut short"))?;
    if crc32c::crc32c(body) != be32(bytes, 8) {
        return Err(damaged("its checksum does not match"));
    }
    Ok(body)
}

impl LogStore {
    /// Opens (or creates) the store in `dir`. `fresh` tells whether it held
    /// nothing: a fresh replica may propose the first membership.
    pub fn open(dir: &Path) -> Result<(LogStore, bool), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let vote_path = dir.join("vote");
        let log_path = dir.join("log");
        let vf: Option<VoteFile> = match std::fs::read(&vote_path) {
            Ok(b) => Some(
                rmp_serde::from_slice(unsealed(&b, &vote_path)?)
                    .map_err(|e| format!("{} cannot be read: {e}", vote_path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", vote_path.display())),
        };
        let bytes = match std::fs::read(&log_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", log_path.display())),
        };
        let (entries, torn) = read_frames(&bytes, &log_path)?;
        let fresh = vf.is_none() && entries.is_empty();
        let (vote, last_purged) = vf.map_or((None, None), |v| (v.vote, v.last_purged));
        let log: BTreeMap<u64, Entry<TypeConfig>> = entries
            .into_iter()
            .filter(|e| last_purged.is_none_or(|p| e.log_id.index > p.index))
            .map(|e| (e.log_id.index, e))
            .collect();
        let mut inner = LogInner {
            dir: dir.to_path_buf(),
            last_purged,
            log,
            committed: None,
            vote,
            file: std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?,
        };
        if let Some(at) = torn {
            // A crash mid-append: that frame was never synced, so never
            // acknowledged to anybody.
            tracing::warn!(
                "{}: dropping the torn last frame at byte {at} of {} (an append cut short by a crash)",
                log_path.display(),
                bytes.len()
            );
        }
        if torn.is_some() || bytes.is_empty() {
            inner.rewrite()?;
        }
        Ok((
            LogStore {
                inner: Arc::new(Mutex::new(inner)),
            },
            fresh,
        ))
    }
}

impl LogInner {
    fn save_vote_file(&self) -> Result<(), String> {
        let path = self.dir.join("vote");
        let bytes = rmp_serde::to_vec(&VoteFile {
            vote: self.vote,
            last_purged: self.last_purged,
        })
        .map_err(|e| io_err(e, "encode", &path))?;
        write_atomic(&path, &sealed(&bytes)).map_err(|e| io_err(e, "write", &path))
    }

    /// Writes the whole log file again (after truncating or purging).
    fn rewrite(&mut self) -> Result<(), String> {
        let path = self.dir.join("log");
        let mut bytes = LOG_MAGIC.to_vec();
        for e in self.log.values() {
            bytes.extend(frame(e).map_err(|e| io_err(e, "encode", &path))?);
        }
        write_atomic(&path, &bytes).map_err(|e| io_err(e, "write", &path))?;
        self.file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err(e, "open", &path))?;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let inner = lock(&self.inner);
        Ok(inner.log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let inner = lock(&self.inner);
        let last = inner
            .log
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        lock(&self.inner).committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(lock(&self.inner).committed)
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = lock(&self.inner);
        inner.vote = Some(*vote);
        inner.save_vote_file().map_err(storage_error)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(lock(&self.inner).vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        use std::io::Write as _;
        let result = {
            let mut inner = lock(&self.inner);
            let path = inner.dir.join("log");
            let mut bytes = Vec::new();
            let mut batch = Vec::new();
            for e in entries {
                bytes.extend(
                    frame(&e)
                        .map_err(|x| io_err(x, "encode", &path))
                        .map_err(storage_error)?,
                );
                batch.push(e);
            }
            let written = inner
                .file
                .write_all(&bytes)
                .and_then(|()| inner.file.sync_data());
            if written.is_ok() {
                for e in batch {
                    inner.log.insert(e.log_id.index, e);
                }
            }
            written
        };
        let ok = result.is_ok();
        callback.log_io_completed(result);
        if ok {
            Ok(())
        } else {
            Err(
                StorageIOError::write_logs(&std::io::Error::other("cannot append to the log"))
                    .into(),
            )
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = lock(&self.inner);
        inner.log.split_off(&log_id.index);
        inner.rewrite().map_err(storage_error)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = lock(&self.inner);
        inner.last_purged = Some(log_id);
        let keep = inner.log.split_off(&(log_id.index + 1));
        inner.log = keep;
        inner.save_vote_file().map_err(storage_error)?;
        inner.rewrite().map_err(storage_error)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }
}

/// The applied document and what openraft needs to know about it.
pub struct Machine {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, BasicNode>,
    pub doc: Doc,
    /// The document's policy, compiled.
    pub policy: Option<Arc<Policy>>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotData {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    doc: Doc,
}

/// The last snapshot: its description and its bytes.
type Stored = (SnapshotMeta<NodeId, BasicNode>, Vec<u8>);

/// The state machine. Cloning shares it; `changes` tells watchers the
/// document's sequence number whenever a command is applied.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Machine>>,
    snapshot: Arc<Mutex<Option<Stored>>>,
    changes: watch::Sender<u64>,
    dir: PathBuf,
}

impl StateMachine {
    /// The state machine of the replica whose state directory is `dir`,
    /// starting from the snapshot saved there, if any.
    pub fn open(dir: &Path) -> Result<StateMachine, String> {
        let path = dir.join("snapshot");
        let saved: Option<Stored> = match std::fs::read(&path) {
            Ok(b) => Some(
                rmp_serde::from_slice(unsealed(&b, &path)?)
                    .map_err(|e| format!("{} cannot be read: {e}", path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut m = Machine {
            last_applied: None,
            membership: StoredMembership::default(),
            doc: Doc::default(),
            policy: None,
        };
        if let Some((meta, bytes)) = &saved {
            let data: SnapshotData = rmp_serde::from_slice(bytes)
                .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
            m.policy = compiled(&data.doc);
            m.last_applied = meta.last_log_id;
            m.membership = meta.last_membership.clone();
            m.doc = data.doc;
        }
        Ok(StateMachine {
            inner: Arc::new(Mutex::new(m)),
            snapshot: Arc::new(Mutex::new(saved)),
            changes: watch::channel(0).0,
            dir: dir.to_path_buf(),
        })
    }

    /// Keeps the snapshot, on disk too.
    fn keep(&self, stored: Stored) -> Result<(), String> {
        let path = self.dir.join("snapshot");
        let bytes = rmp_serde::to_vec(&stored).map_err(|e| io_err(e, "encode", &path))?;
        write_atomic(&path, &sealed(&bytes)).map_err(|e| io_err(e, "write", &path))?;
        *lock(&self.snapshot) = Some(stored);
        Ok(())
    }
}

/// The document's policy, compiled.
fn compiled(doc: &Doc) -> Option<Arc<Policy>> {
    doc.policy
        .as_ref()
        .and_then(|p| crate::doc::compile(&p.name, &p.text).ok())
        .map(Arc::new)
}

impl StateMachine {
    /// Reads the machine under its lock (keep `f` short: no waiting inside).
    pub fn read<T>(&self, f: impl FnOnce(&Machine) -> T) -> T {
        f(&lock(&self.inner))
    }

    /// The document's sequence number, on every change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The machine as snapshot bytes, with what they cover.
    fn encode(&self) -> Result<Stored, rmp_serde::encode::Error> {
        let m = lock(&self.inner);
        let data = rmp_serde::to_vec_named(&SnapshotData {
            last_applied: m.last_applied,
            membership: m.membership.clone(),
            doc: m.doc.clone(),
        })?;
        let snapshot_id = match m.last_applied {
            Some(l) => format!("{}-{}", l.leader_id, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: m.last_applied,
            last_membership: m.membership.clone(),
            snapshot_id,
        };
        Ok((meta, data))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (meta, data) = self
            .encode()
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        self.keep((meta.clone(), data.clone()))
            .map_err(storage_error)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let m = lock(&self.inner);
        Ok((m.last_applied, m.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let seq = {
            let mut m = lock(&self.inner);
            for e in entries {
                m.last_applied = Some(e.log_id);
                match e.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(cmd) => {
                        let policy = m.policy.clone();
                        if let Some(p) = m.doc.apply(&cmd, policy.as_ref()) {
                            m.policy = Some(p);
                        }
                    }
                    EntryPayload::Membership(mem) => {
                        m.membership = StoredMembership::new(Some(e.log_id), mem);
                    }
                }
                out.push(Applied { seq: m.doc.seq });
            }
            m.doc.seq
        };
        self.changes.send_replace(seq);
        Ok(out)
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let data: SnapshotData = rmp_serde::from_slice(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let policy = compiled(&data.doc);
        let seq = data.doc.seq;
        {
            let mut m = lock(&self.inner);
            m.last_applied = meta.last_log_id;
            m.membership = meta.last_membership.clone();
            m.doc = data.doc;
            m.policy = policy;
        }
        self.keep((meta.clone(), bytes)).map_err(storage_error)?;
        self.changes.send_replace(seq);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(lock(&self.snapshot).as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use openraft::testing::{StoreBuilder, Suite};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn temp_dir(what: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "halo-store-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, PathBuf> for Builder {
        async fn build(&self) -> Result<(PathBuf, LogStore, StateMachine), StorageError<NodeId>> {
            let dir = temp_dir("suite");
            let io = |e: String| -> StorageError<NodeId> {
                StorageIOError::read(&std::io::Error::other(e)).into()
            };
            let (log, _) = LogStore::open(&dir).map_err(io)?;
            let sm = StateMachine::open(&dir).map_err(io)?;
            Ok((dir, log, sm))
        }
    }

    fn entry(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(crate::doc::Command::Admin {
                op: crate::doc::AdminOp::Cleanup {
                    rsc: format!("r{index}"),
                },
                at: halo_model::Timestamp(index as i64),
            }),
        }
    }

    /// Commands as the log stores them (MessagePack by position) read back
    /// equal: a field left out when empty would shift every later one.
    #[test]
    fn results_with_what_an_agent_was_given_survive_the_log() {
        for definition in [
            None,
            Some(halo_model::Definition {
                params: [("fake".to_string(), "two".to_string())].into(),
                restart: Some(vec!["state".into()]),
                ..Default::default()
            }),
            Some(halo_model::Definition::default()),
        ] {
            let e = Entry::<TypeConfig> {
                log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), 7),
                payload: EntryPayload::Normal(crate::doc::Command::Done(crate::doc::Done {
                    rsc: "web".into(),
                    node: "n1".into(),
                    op: halo_model::OpAction::Start,
                    ok: true,
                    rc: 0,
                    seen: None,
                    promotion: None,
                    at: halo_model::Timestamp(1),
                    attributes: Vec::new(),
                    definition: definition.clone(),
                })),
            };
            let bytes = rmp_serde::to_vec(&e).unwrap();
            let back: Entry<TypeConfig> = rmp_serde::from_slice(&bytes).unwrap();
            match back.payload {
                EntryPayload::Normal(crate::doc::Command::Done(d)) => {
                    assert_eq!(d.definition, definition);
                }
                _ => panic!("not read back as a result"),
            }
        }
    }

    /// A log file of `n` entries, and where each frame ends.
    fn log_bytes(n: u64) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = LOG_MAGIC.to_vec();
        let mut ends = Vec::new();
        for i in 1..=n {
            bytes.extend(frame(&entry(i)).unwrap());
            ends.push(bytes.len());
        }
        (bytes, ends)
    }

    #[test]
    fn every_damaged_byte_of_the_log_is_detected_with_its_offset() {
        let dir = temp_dir("damage");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let (bytes, _) = log_bytes(4);
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let Err(e) = LogStore::open(&dir) else {
                panic!("a flipped byte at {at} was accepted");
            };
            assert!(e.contains("is damaged at byte") && e.contains("log"), "{e}");
            // The file is left as it was, for the operator to look at.
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bad,
                "the damaged log was rewritten"
            );
        }
    }

    #[test]
    fn a_torn_last_frame_is_dropped_and_nothing_before_it() {
        let dir = temp_dir("torn");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let (bytes, ends) = log_bytes(4);
        for cut in LOG_MAGIC.len()..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let (store, _) = LogStore::open(&dir).unwrap();
            let kept = lock(&store.inner).log.len();
            let whole = ends.iter().filter(|e| **e <= cut).count();
            assert_eq!(kept, whole, "cut at {cut}");
            drop(store);
            // The torn frame is gone from the file too.
            let (again, torn) = read_frames(&std::fs::read(&path).unwrap(), &path).unwrap();
            assert_eq!((again.len(), torn), (whole, None));
        }
    }

    #[test]
    fn a_damaged_vote_or_snapshot_is_refused() {
        for file in ["vote", "snapshot"] {
            let dir = temp_dir("seal");
            std::fs::create_dir_all(&dir).unwrap();
            let body = b"some bytes of a file".to_vec();
            let mut bytes = sealed(&body);
            assert_eq!(unsealed(&bytes, &dir.join(file)).unwrap(), &body[..]);
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            std::fs::write(dir.join(file), &bytes).unwrap();
            let e = if file == "vote" {
                LogStore::open(&dir).err()
            } else {
                StateMachine::open(&dir).err()
            };
            let e = e.unwrap_or_else(|| panic!("a damaged {file} was accepted"));
            assert!(e.contains("checksum"), "{e}");
        }
    }

    #[test]
    fn passes_openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_replica_keeps_its_vote_log_and_document() {
        let dir = temp_dir("restart");
        let start = |dir: PathBuf| async move {
            let (log, fresh) = LogStore::open(&dir).unwrap();
            let sm = StateMachine::open(&dir).unwrap();
            let config = Arc::new(
                openraft::Config {
                    heartbeat_interval: 50,
                    election_timeout_min: 150,
                    election_timeout_max: 300,
                    ..Default::default()
                }
                .validate()
                .unwrap(),
            );
            let net = crate::rpc::Network {
                replicas: Arc::new(crate::rpc::Replicas {
                    names: BTreeMap::from([(1, "c1".to_string())]),
                    clients: BTreeMap::new(),
                }),
            };
            let raft = Raft::new(1, config, net, log, sm.clone()).await.unwrap();
            (raft, sm, fresh)
        };
        let (raft, _, fresh) = start(dir.clone()).await;
        assert!(fresh);
        raft.initialize(BTreeMap::from([(1, BasicNode::default())]))
            .await
            .unwrap();
        raft.wait(Some(std::time::Duration::from_secs(5)))
            .current_leader(1, "leader")
            .await
            .unwrap();
        let cmd = crate::doc::Command::SetPolicy {
            name: "t.ha".into(),
            text: "cluster t {\n  node n1\n}\n".into(),
            at: halo_model::Timestamp(1),
        };
        let seq = raft.client_write(cmd).await.unwrap().data.seq;
        let term = raft.metrics().borrow().current_term;
        raft.shutdown().await.unwrap();
        drop(raft);

        {
            let (mut log, fresh) = LogStore::open(&dir).unwrap();
            assert!(!fresh, "the replica forgot its log");
            let vote = log.read_vote().await.unwrap().expect("the vote was lost");
            assert!(
                vote.leader_id().term >= term,
                "an older vote came back: {vote:?}"
            );
        }
        let (raft, sm, _) = start(dir.clone()).await;
        raft.wait(Some(std::time::Duration::from_secs(5)))
            .applied_index_at_least(Some(1), "log re-applied")
            .await
            .unwrap();
        let (doc_seq, has_policy) = sm.read(|m| (m.doc.seq, m.doc.policy.is_some()));
        assert_eq!(doc_seq, seq);
        assert!(has_policy);
        raft.shutdown().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
