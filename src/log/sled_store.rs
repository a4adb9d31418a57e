//! The default store: sled for records and snapshots, and a small head note beside it.
//!
//! Layout of a log folder:
//!
//! ```text
//! DIR/sled/         the sled database: tree `records` (key: sequence number, big-endian, so
//!                   sled's order is log order) and tree `snapshots` (same keys)
//! DIR/HEAD          the head note: two 64-byte slots written alternately with fdatasync, each
//!                   holding a generation, the last acknowledged sequence number, its record hash
//!                   and a CRC
//! DIR/HEAD.mirror   the same note, written after HEAD: one lost or damaged write of either file
//!                   leaves the other
//! DIR/SERVING       while a writer holds the log: its process id and the socket it answers
//!                   readers on (see `serve`)
//! ```
//!
//! The head note exists because sled 0.34 can lose every record after a damaged spot in its files
//! and then open cleanly: the log compares what sled returns with what it acknowledged. A new log
//! gets a note at once (nothing acknowledged yet), so a log that has records and no readable note
//! lost its note: the acknowledged extent is then unknown, and the log says so.
//!
//! sled cannot open a database without writing to it, and it locks it. So a writer opens the
//! folder itself ([`SledStore::open`]); a reader never does: it reads a private copy of the sled
//! files taken while no writer holds them, or asks the writer (see [`super::reading`]).
//!
//! sled reports damage as errors, but has been seen to panic on some damaged files; every call
//! into it is guarded, so both become a [`StoreError`] naming the folder and the remedy.

use super::quiet::catching;
use super::record::{Hash, GENESIS};
use super::serve::{ReadSource, Server};
use super::store::{Head, HeadNote, RecordStore, StoreError};
use crate::core::Seq;
use std::fs::{File, OpenOptions, TryLockError};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const HEAD_MAGIC: &[u8; 4] = b"SFLH";
const HEAD_SLOT_BYTES: usize = 64;
/// How long a writer waits for readers copying the sled files (a copy of a log of millions of
/// objects takes seconds; a reader holds its lock for nothing else).
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether the processes holding the log's sled files are all readers: a shared lock can be had
/// exactly when no writer holds sled's exclusive one.
fn only_readers(folder: &Path) -> bool {
    matches!(probe(folder), Ok(Probe::Free(_)))
}

/// Whether a writer holds the sled files of `folder`: sled takes an exclusive `flock` on its
/// `db` file, so a shared one succeeds exactly when no writer is there. The returned file keeps
/// the shared lock until dropped (a writer that starts meanwhile waits or reports the log busy).
pub(crate) enum Probe {
    Free(Option<File>),
    Held,
}

pub(crate) fn probe(folder: &Path) -> Result<Probe, StoreError> {
    let db = folder.join("sled").join("db");
    let file = match File::open(&db) {
        Ok(file) => file,
        // No sled files at all: nothing to lock, nothing a writer holds.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Probe::Free(None)),
        Err(error) => return Err(StoreError::io(folder, "read (sled/db)", &error)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Probe::Free(Some(file))),
        Err(TryLockError::WouldBlock) => Ok(Probe::Held),
        Err(TryLockError::Error(error)) => {
            Err(StoreError::io(folder, "locked for reading", &error))
        }
    }
}

/// The head note's file names: the note, then its mirror.
pub(crate) const HEAD_FILES: [&str; 2] = ["HEAD", "HEAD.mirror"];

/// How a writer opens a log folder.
#[derive(Clone, Debug)]
pub struct SledOptions {
    /// Answer reading commands of other processes on a local socket while this store is open
    /// (on by default: `syncfold state --log DIR` then works beside a running engine).
    pub serve_readers: bool,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            serve_readers: true,
        }
    }
}

/// A log folder backed by sled.
pub struct SledStore {
    folder: PathBuf,
    db: sled::Db,
    records: sled::Tree,
    snapshots: sled::Tree,
    mode: Mode,
}

enum Mode {
    /// This process holds the log: it writes the head note and may serve readers.
    Writer {
        files: [File; 2],
        generation: u64,
        acknowledged: Arc<Mutex<HeadNote>>,
        _server: Option<Server>,
    },
    /// A private copy opened for reading: the note was read from the folder, nothing is written.
    Reader { head: HeadNote, _copy: TempCopy },
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("folder", &self.folder)
            .field("writer", &matches!(self.mode, Mode::Writer { .. }))
            .finish()
    }
}

fn damaged(folder: &Path, doing: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        context: format!(
            "the log at {} could not be {doing}: its sled files are damaged. Copy the folder aside, then restore it from a backup",
            folder.display(),
        ),
        message: message.to_string(),
    }
}

/// sled's words for "another process holds the lock".
fn is_lock_error(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock
        || error.to_string().contains("could not acquire lock")
}

fn sled_error(folder: &Path, doing: &str, error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(io) if is_lock_error(&io) => StoreError::InUse {
            path: folder.display().to_string(),
        },
        // A file sled expects inside its folder (a blob, a segment) is gone: that is damage,
        // not an operating-system refusal.
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => damaged(
            folder,
            doing,
            format!("a file of its sled folder is missing ({io})"),
        ),
        sled::Error::Io(io) => StoreError::io(folder, doing, &io),
        other => damaged(folder, doing, other),
    }
}

/// Runs a sled call, turning its errors and its panics into a `StoreError`.
fn guarded<T>(
    folder: &Path,
    doing: &str,
    call: impl FnOnce() -> sled::Result<T>,
) -> Result<T, StoreError> {
    match catching(call) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(sled_error(folder, doing, error)),
        Err(panic) => Err(damaged(folder, doing, format!("sled panicked: {panic}"))),
    }
}

fn key(seq: Seq) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(folder: &Path, key: &[u8]) -> Result<Seq, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        damaged(
            folder,
            "read",
            format!(
                "a key of {} bytes where a sequence number belongs",
                key.len()
            ),
        )
    })?;
    Ok(Seq::from_be_bytes(bytes))
}

/// Whether `folder` looks like a log folder (its sled files or a head note are there).
pub fn is_log_folder(folder: &Path) -> bool {
    folder.join("sled").is_dir() || HEAD_FILES.iter().any(|name| folder.join(name).exists())
}

/// What one head-note file holds.
enum FileNote {
    Missing,
    Found(u64, Head),
    Unreadable(String),
}

fn read_head_file(folder: &Path, name: &str) -> Result<FileNote, StoreError> {
    let path = folder.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(FileNote::Missing),
        Err(error) => return Err(StoreError::io(folder, &format!("read ({name})"), &error)),
    };
    let mut best: Option<(u64, Head)> = None;
    for slot in bytes.chunks(HEAD_SLOT_BYTES).take(2) {
        if let Some((generation, head)) = parse_head_slot(slot) {
            if best.is_none_or(|(g, _)| generation > g) {
                best = Some((generation, head));
            }
        }
    }
    Ok(match best {
        Some((generation, head)) => FileNote::Found(generation, head),
        None if bytes.is_empty() => FileNote::Unreadable(format!("{name} is empty")),
        None if bytes.iter().all(|byte| *byte == 0) => {
            FileNote::Unreadable(format!("{name} holds only zeros"))
        }
        None => FileNote::Unreadable(format!("{name} has no valid slot ({} bytes)", bytes.len())),
    })
}

/// Reads the head note of a log folder without opening sled: the highest valid generation of
/// either file wins. Works on a read-only folder and beside a running writer (whose note may be
/// one flush ahead of what a reader then reads, never behind what it had acknowledged before).
pub fn read_head_note(folder: &Path) -> Result<HeadNote, StoreError> {
    Ok(read_head_generation(folder)?.0)
}

/// What is wrong with either copy of the head note while the note as a whole is readable: a copy
/// that is damaged, missing beside a written one, or behind the other (each flush writes the same
/// generation into both). Nothing is lost while one copy is current, but the redundancy is: the
/// next writer's flush rewrites both. A mirror missing beside a note of a log written before the
/// mirror existed is not reported.
pub fn head_copy_problems(folder: &Path) -> Result<Vec<String>, StoreError> {
    let notes = [
        read_head_file(folder, HEAD_FILES[0])?,
        read_head_file(folder, HEAD_FILES[1])?,
    ];
    let newest = notes
        .iter()
        .filter_map(|note| match note {
            FileNote::Found(generation, _) => Some(*generation),
            _ => None,
        })
        .max();
    let Some(newest) = newest else {
        return Ok(Vec::new());
    };
    let mut problems = Vec::new();
    for (note, name) in notes.iter().zip(HEAD_FILES) {
        match note {
            FileNote::Found(generation, _) if *generation < newest => problems.push(format!(
                "{name} is behind the other copy (generation {generation} of {newest})"
            )),
            FileNote::Found(..) => {}
            FileNote::Unreadable(why) => problems.push(why.clone()),
            FileNote::Missing if name == HEAD_FILES[0] => {
                problems.push(format!("{name} is missing"))
            }
            FileNote::Missing => {}
        }
    }
    Ok(problems)
}

fn read_head_generation(folder: &Path) -> Result<(HeadNote, u64), StoreError> {
    let mut best: Option<(u64, Head)> = None;
    let mut problems = Vec::new();
    let mut missing = 0;
    for name in HEAD_FILES {
        match read_head_file(folder, name)? {
            FileNote::Missing => {
                missing += 1;
                problems.push(format!("{name} is missing"));
            }
            FileNote::Found(generation, head) => {
                if best.is_none_or(|(g, _)| generation > g) {
                    best = Some((generation, head));
                }
            }
            FileNote::Unreadable(why) => problems.push(why),
        }
    }
    Ok(match best {
        Some((generation, head)) => (HeadNote::At(head), generation),
        None if missing == HEAD_FILES.len() => (HeadNote::Absent, 0),
        None => (
            HeadNote::Lost {
                why: problems.join("; "),
            },
            0,
        ),
    })
}

fn parse_head_slot(slot: &[u8]) -> Option<(u64, Head)> {
    if slot.len() != HEAD_SLOT_BYTES || &slot[..4] != HEAD_MAGIC {
        return None;
    }
    let stored = u32::from_le_bytes(slot[8..12].try_into().ok()?);
    if stored != head_checksum(slot) || u16::from_le_bytes([slot[4], slot[5]]) != 1 {
        return None;
    }
    let generation = u64::from_le_bytes(slot[12..20].try_into().ok()?);
    let seq = u64::from_le_bytes(slot[20..28].try_into().ok()?);
    let hash: Hash = slot[28..60].try_into().ok()?;
    Some((generation, Head { seq, hash }))
}

fn head_checksum(slot: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&slot[..8]);
    hasher.update(&slot[12..]);
    hasher.finalize()
}

fn head_slot(generation: u64, head: &Head) -> [u8; HEAD_SLOT_BYTES] {
    let mut slot = [0u8; HEAD_SLOT_BYTES];
    slot[..4].copy_from_slice(HEAD_MAGIC);
    slot[4..6].copy_from_slice(&1u16.to_le_bytes());
    slot[12..20].copy_from_slice(&generation.to_le_bytes());
    slot[20..28].copy_from_slice(&head.seq.to_le_bytes());
    slot[28..60].copy_from_slice(&head.hash);
    let crc = head_checksum(&slot);
    slot[8..12].copy_from_slice(&crc.to_le_bytes());
    slot
}

fn open_sled(folder: &Path, path: &Path) -> Result<sled::Db, StoreError> {
    guarded(folder, "opened", || {
        sled::Config::new().path(path).flush_every_ms(None).open()
    })
}

impl SledStore {
    /// Opens (creating if needed) the log folder `folder` for writing, and serves readers.
    pub fn open(folder: &Path) -> Result<Self, StoreError> {
        Self::open_with(folder, SledOptions::default())
    }

    /// Opens (creating if needed) the log folder `folder` for writing.
    pub fn open_with(folder: &Path, options: SledOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(folder).map_err(|e| StoreError::io(folder, "created", &e))?;
        if is_log_folder(folder) && !folder.join("sled").is_dir() {
            // sled would start an empty database inside the evidence: refuse instead.
            return Err(damaged(
                folder,
                "opened",
                "its sled folder is missing, though its head note is there",
            ));
        }
        // Readers copying the sled files hold shared locks; a writer holds sled's exclusive one.
        // While a shared lock can be had, only readers are there: wait for them (a copy of a big
        // log takes a while). Otherwise another writer holds the log: say so at once.
        let started = std::time::Instant::now();
        let db = loop {
            match open_sled(folder, &folder.join("sled")) {
                Err(StoreError::InUse { .. })
                    if only_readers(folder) && started.elapsed() < READER_WAIT =>
                {
                    if started.elapsed() >= std::time::Duration::from_secs(2) {
                        tracing::info!(folder = %folder.display(), "waiting for readers copying the log");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                opened => break opened?,
            }
        };
        let records = guarded(folder, "opened", || db.open_tree("records"))?;
        let snapshots = guarded(folder, "opened", || db.open_tree("snapshots"))?;
        // sled holds the lock now: the folder is this process's to write.
        let (note, mut generation) = read_head_generation(folder)?;
        let open_file = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(folder.join(name))
                .map_err(|e| StoreError::io(folder, &format!("opened ({name})"), &e))
        };
        let files = [open_file(HEAD_FILES[0])?, open_file(HEAD_FILES[1])?];
        let empty = guarded(folder, "read", || records.last())?.is_none();
        let note = if note == HeadNote::Absent && empty {
            // A new log: note at once that nothing is acknowledged, so that a log with records
            // and no readable note can only mean a lost note.
            let head = Head {
                seq: 0,
                hash: GENESIS,
            };
            generation = 1;
            write_slots(folder, &files, generation, &head)?;
            sync_folder(folder)?;
            HeadNote::At(head)
        } else {
            note
        };
        let acknowledged = Arc::new(Mutex::new(note));
        let server = if options.serve_readers {
            let source = SledSource {
                records: records.clone(),
                snapshots: snapshots.clone(),
                acknowledged: Arc::clone(&acknowledged),
            };
            match Server::start(folder, Box::new(source)) {
                Ok(server) => Some(server),
                Err(error) => {
                    tracing::warn!(folder = %folder.display(), %error, "readers of this log will not be served while it is held");
                    None
                }
            }
        } else {
            None
        };
        Ok(SledStore {
            folder: folder.to_path_buf(),
            db,
            records,
            snapshots,
            mode: Mode::Writer {
                files,
                generation,
                acknowledged,
                _server: server,
            },
        })
    }

    /// Opens a private copy of the sled files of `folder` for reading. The caller holds a
    /// shared lock on the folder's sled files, so no writer changes them during the copy.
    pub(crate) fn open_copy(folder: &Path) -> Result<Self, StoreError> {
        let head = read_head_note(folder)?;
        let copy = TempCopy::new(folder)?;
        let source = folder.join("sled");
        if source.is_dir() {
            copy_tree(&source, &copy.sled(), folder)?;
        }
        let db = open_sled(folder, &copy.sled())?;
        let records = guarded(folder, "opened", || db.open_tree("records"))?;
        let snapshots = guarded(folder, "opened", || db.open_tree("snapshots"))?;
        Ok(SledStore {
            folder: folder.to_path_buf(),
            db,
            records,
            snapshots,
            mode: Mode::Reader { head, _copy: copy },
        })
    }

    /// The log folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    fn refuse_read_only(&self) -> StoreError {
        StoreError::ReadOnly {
            path: self.folder.display().to_string(),
        }
    }

    fn writer(&mut self) -> Result<(), StoreError> {
        match self.mode {
            Mode::Writer { .. } => Ok(()),
            Mode::Reader { .. } => Err(self.refuse_read_only()),
        }
    }
}

/// Writes generation `generation` of the note into its slot of both files, each made durable
/// before the next: a crash between them leaves one of the two current.
fn write_slots(
    folder: &Path,
    files: &[File; 2],
    generation: u64,
    head: &Head,
) -> Result<(), StoreError> {
    let slot = head_slot(generation, head);
    let offset = (generation % 2) * HEAD_SLOT_BYTES as u64;
    for (file, name) in files.iter().zip(HEAD_FILES) {
        file.write_all_at(&slot, offset)
            .and_then(|()| file.sync_data())
            .map_err(|e| StoreError::io(folder, &format!("written ({name})"), &e))?;
        // A note written into a file nobody can reach any more acknowledges nothing: the folder
        // was removed or replaced under this writer, which must not report anything durable.
        use std::os::unix::fs::MetadataExt;
        let linked = file
            .metadata()
            .map_err(|e| StoreError::io(folder, &format!("checked ({name})"), &e))?
            .nlink();
        if linked == 0 {
            return Err(StoreError::Backend {
                context: format!(
                    "the log at {} was removed while this process was writing it; nothing after its last acknowledged record is durable. Find out what removed it, and restore the folder from a backup",
                    folder.display()
                ),
                message: format!("{name} is no longer in the folder"),
            });
        }
    }
    Ok(())
}

fn sync_folder(folder: &Path) -> Result<(), StoreError> {
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| StoreError::io(folder, "synced", &e))
}

impl RecordStore for SledStore {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        self.writer()?;
        let previous = guarded(&self.folder, "appended to", || {
            self.records.insert(key(seq), record)
        })?;
        if previous.is_some() {
            return Err(StoreError::Conflict { seq });
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.writer()?;
        guarded(&self.folder, "flushed", || self.db.flush())?;
        Ok(())
    }

    fn last_seq(&self) -> Result<Seq, StoreError> {
        match guarded(&self.folder, "read", || self.records.last())? {
            Some((key, _)) => seq_of(&self.folder, &key),
            None => Ok(0),
        }
    }

    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        scan_tree(&self.folder, &self.records, from, Seq::MAX, visit)
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(guarded(&self.folder, "read", || self.records.get(key(seq)))?.map(|v| v.to_vec()))
    }

    fn records_from(&self, from: Seq) -> Result<Option<super::RecordIter>, StoreError> {
        let folder = self.folder.clone();
        let mut range = guarded(&folder, "read", || Ok(self.records.range(key(from)..)))?;
        let mut failed = false;
        Ok(Some(Box::new(std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let item = match guarded(&folder, "read", || range.next().transpose()) {
                Ok(item) => item?,
                Err(error) => {
                    failed = true;
                    return Some(Err(error));
                }
            };
            let record = seq_of(&folder, &item.0).map(|seq| (seq, item.1.to_vec()));
            failed = record.is_err();
            Some(record)
        }))))
    }

    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        self.writer()?;
        let last = self.last_seq()?;
        for seq in from..=last {
            guarded(&self.folder, "repaired", || self.records.remove(key(seq)))?;
        }
        self.flush()
    }

    fn read_head(&self) -> Result<HeadNote, StoreError> {
        match &self.mode {
            Mode::Writer { acknowledged, .. } => Ok(current(acknowledged)),
            Mode::Reader { head, .. } => Ok(head.clone()),
        }
    }

    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        let Mode::Writer {
            files, generation, ..
        } = &self.mode
        else {
            return Err(self.refuse_read_only());
        };
        let next = *generation + 1;
        write_slots(&self.folder, files, next, head)?;
        if let Mode::Writer {
            generation,
            acknowledged,
            ..
        } = &mut self.mode
        {
            *generation = next;
            let mut note = acknowledged
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *note = HeadNote::At(*head);
        }
        Ok(())
    }

    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        self.writer()?;
        guarded(&self.folder, "written (snapshot)", || {
            self.snapshots.insert(key(seq), bytes)
        })?;
        Ok(())
    }

    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        snapshot_seqs(&self.folder, &self.snapshots, Seq::MAX)
    }

    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(guarded(&self.folder, "read (snapshots)", || {
            self.snapshots.get(key(seq))
        })?
        .map(|v| v.to_vec()))
    }

    fn read_snapshot(&self, seq: Seq, visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        let found = guarded(&self.folder, "read (snapshots)", || {
            self.snapshots.get(key(seq))
        })?;
        match found {
            Some(bytes) => {
                visit(&bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        self.writer()?;
        guarded(&self.folder, "written (snapshots)", || {
            self.snapshots.remove(key(seq))
        })?;
        Ok(())
    }
}

fn scan_tree(
    folder: &Path,
    tree: &sled::Tree,
    from: Seq,
    to: Seq,
    visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    if from > to {
        return Ok(());
    }
    let mut iterator = guarded(folder, "read", || Ok(tree.range(key(from)..=key(to))))?;
    loop {
        let Some(item) = guarded(folder, "read", || iterator.next().transpose())? else {
            return Ok(());
        };
        let seq = seq_of(folder, &item.0)?;
        if visit(seq, &item.1).is_break() {
            return Ok(());
        }
    }
}

fn snapshot_seqs(folder: &Path, tree: &sled::Tree, up_to: Seq) -> Result<Vec<Seq>, StoreError> {
    let mut seqs = Vec::new();
    let mut keys = guarded(folder, "read (snapshots)", || Ok(tree.iter().keys()))?;
    while let Some(key) = guarded(folder, "read (snapshots)", || keys.next().transpose())? {
        let seq = seq_of(folder, &key)?;
        if seq <= up_to {
            seqs.push(seq);
        }
    }
    Ok(seqs)
}

/// The head note a writer last made durable (shared by the writer and its reader socket).
fn current(acknowledged: &Mutex<HeadNote>) -> HeadNote {
    acknowledged
        .lock()
        .map(|note| note.clone())
        .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
}

/// What a writer serves to readers: its trees and its acknowledged head, nothing past it.
struct SledSource {
    records: sled::Tree,
    snapshots: sled::Tree,
    acknowledged: Arc<Mutex<HeadNote>>,
}

impl ReadSource for SledSource {
    fn head(&self) -> HeadNote {
        current(&self.acknowledged)
    }

    fn snapshot_seqs(&self, up_to: Seq) -> Result<Vec<Seq>, StoreError> {
        snapshot_seqs(Path::new("(served)"), &self.snapshots, up_to)
    }

    fn scan(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        scan_tree(Path::new("(served)"), &self.records, from, to, visit)
    }

    fn snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(guarded(Path::new("(served)"), "read (snapshots)", || {
            self.snapshots.get(key(seq))
        })?
        .map(|v| v.to_vec()))
    }
}

/// A private folder for a reader's copy of the sled files, removed when dropped.
struct TempCopy {
    path: PathBuf,
}

impl TempCopy {
    fn new(folder: &Path) -> Result<Self, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = base.join(format!(
                "syncfold-read-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(TempCopy { path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(StoreError::io(
                        &base,
                        &format!(
                            "used for a private copy of the log at {} (set TMPDIR to a writable folder)",
                            folder.display()
                        ),
                        &error,
                    ))
                }
            }
        }
        Err(StoreError::Io {
            context: format!("no private folder for a copy of {}", folder.display()),
            message: "100 names were taken".to_owned(),
            remedy: "set TMPDIR to another writable folder".to_owned(),
            kind: std::io::ErrorKind::AlreadyExists,
        })
    }

    fn sled(&self) -> PathBuf {
        self.path.join("sled")
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Copies the files below `from` into `to` (created), naming `folder` in errors.
fn copy_tree(from: &Path, to: &Path, folder: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(to).map_err(|e| StoreError::io(to, "created", &e))?;
    let entries = std::fs::read_dir(from).map_err(|e| StoreError::io(folder, "read", &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(folder, "read", &e))?;
        let kind = entry
            .file_type()
            .map_err(|e| StoreError::io(folder, "read", &e))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, folder)?;
        } else if kind.is_file() {
            // `std::fs::copy` uses copy_file_range, which shares blocks where the file system can.
            // It keeps the source's mode, and sled opens its files for writing: the copy is ours.
            let copied = std::fs::copy(entry.path(), &target).and_then(|_| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
            });
            copied.map_err(|e| match e.kind() {
                // What filled up is the temporary folder, not the disk holding the evidence.
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    StoreError::io(
                        &std::env::temp_dir(),
                        &format!(
                            "used for a private copy of the log at {} (set TMPDIR to a folder with room for its sled files)",
                            folder.display()
                        ),
                        &e,
                    )
                }
                _ => StoreError::io(
                    folder,
                    &format!("copied for reading ({})", entry.path().display()),
                    &e,
                ),
            })?;
        }
    }
    Ok(())
}
