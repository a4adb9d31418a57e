//! Where records live. A [`RecordStore`] keeps opaque record bytes by sequence number, a few
//! snapshots, and the *head note*: the sequence number and hash of the last record the log
//! acknowledged as durable, kept apart from the records so that a store that silently loses its
//! tail is caught (sled 0.34 can).
//!
//! The store knows nothing of events, chains or rules: [`super::Log`] checks all of that, so a new
//! backend (PostgreSQL for several engines sharing one log) implements only these few methods.
//! A store never mints a durability token; the log does, after the store's flush returned.

use super::record::Hash;
use crate::core::Seq;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// The last record the log acknowledged as durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its sequence number.
    pub seq: Seq,
    /// Its hash.
    pub hash: Hash,
}

/// What a store's head note says about the acknowledged extent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadNote {
    /// No note was ever written: a new log.
    Absent,
    /// The last record acknowledged as durable (sequence number 0 for a log that has none yet).
    At(Head),
    /// A note was written, but no copy of it can be read: how many records were acknowledged is
    /// unknown, so a store that lost records from its end cannot be caught.
    Lost {
        /// What was found instead (each copy's state).
        why: String,
    },
}

impl HeadNote {
    /// The head, when one is known.
    pub fn head(&self) -> Option<Head> {
        match self {
            HeadNote::At(head) => Some(*head),
            HeadNote::Absent | HeadNote::Lost { .. } => None,
        }
    }
}

/// A store failed. Its message says where, and what the operator can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another writer appended at this sequence number first (stores shared by several engines).
    #[error("sequence number {seq} is already taken: another writer appended first")]
    Conflict {
        /// The contested sequence number.
        seq: Seq,
    },
    /// Appends must follow the last record.
    #[error("append of record {seq} out of order: the last record is {last}")]
    OutOfOrder {
        /// The record offered.
        seq: Seq,
        /// The last record stored.
        last: Seq,
    },
    /// Another process holds the log.
    #[error(
        "the log at {path} is in use by another process: stop it, or use another --log folder"
    )]
    InUse {
        /// The log's folder.
        path: String,
    },
    /// Another process holds the log and does not answer readers (an older syncfold, or an
    /// embedder that turned serving off).
    #[error("the log at {path} is held by {holder}, which has not answered readers (it may still be opening the log, or it does not serve readers); try again, read it once that process has stopped, or read a copy of the folder")]
    Held {
        /// The log's folder.
        path: String,
        /// Who holds it, as far as is known ("process 1234", or "another process").
        holder: String,
    },
    /// The store was opened for reading and was asked to write.
    #[error("the log at {path} is open for reading only; nothing is written to it")]
    ReadOnly {
        /// The log's folder.
        path: String,
    },
    /// The operating system refused or failed an operation: permissions, a read-only file
    /// system, a full disk. The log itself is not known to be damaged.
    #[error("{context}: {message}; {remedy}")]
    Io {
        /// What the store was doing, and where.
        context: String,
        /// What the operating system said.
        message: String,
        /// What the operator can do about it.
        remedy: String,
        /// The kind of failure.
        kind: std::io::ErrorKind,
    },
    /// Another process writes this log (a store several engines share): one writer at a time.
    #[error("the log {log} is being written by {holder}; only one writer at a time: stop that process, or open the log waiting (--wait) to take over once it stops")]
    Busy {
        /// The log, as its location is shown (never with a password).
        log: String,
        /// Who holds it: process, host, since when, as far as the store knows.
        holder: String,
    },
    /// This process has lost the right to write the log: its session with the store ended (and
    /// its writer's lock with it), or another writer took over. It is fenced: nothing it sends
    /// from now on is stored.
    #[error("this process lost the right to write the log {log}: {reason}. Reopen the log to continue from what is stored")]
    Fenced {
        /// The log, as its location is shown (never with a password).
        log: String,
        /// What happened, and what of the last flush was stored.
        reason: String,
    },
    /// The store's server cannot be reached, refused the account, or failed a request for a
    /// reason that says nothing about the log's contents.
    #[error("{context}: {message}; {remedy}")]
    Unavailable {
        /// What the store was doing, and where (never with a password).
        context: String,
        /// What the server or the network said.
        message: String,
        /// What the operator can check or do.
        remedy: String,
    },
    /// The store was laid out by a newer syncfold than this one.
    #[error("{place} was laid out by a newer syncfold (schema version {version}; this build knows up to {known}): upgrade syncfold to use it")]
    NewerSchema {
        /// The database, as its location is shown.
        place: String,
        /// The version found.
        version: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The storage holds bytes it cannot make sense of.
    #[error("{context}: {message}")]
    Backend {
        /// What the store was doing, and where, and the remedy.
        context: String,
        /// What the backend said.
        message: String,
    },
}

impl StoreError {
    /// An I/O failure while `doing` (for example "read (HEAD)") at `place`, with the remedy its
    /// kind calls for.
    pub fn io(place: &std::path::Path, doing: &str, error: &std::io::Error) -> StoreError {
        use std::io::ErrorKind;
        let remedy = match error.kind() {
            ErrorKind::PermissionDenied => format!(
                "this account may not do that there; run as the log's owner, or give it access to {}",
                place.display()
            ),
            ErrorKind::ReadOnlyFilesystem => format!(
                "{} is on a read-only file system; reading commands work there, writers need a writable copy",
                place.display()
            ),
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => format!(
                "the disk holding {} is full; free space and run the command again (what was acknowledged is intact)",
                place.display()
            ),
            ErrorKind::NotFound => format!("{} is missing", place.display()),
            _ => "check the disk and the operating system's log, then run the command again"
                .to_owned(),
        };
        // sled wraps some operating-system errors into custom ones whose text is their `Debug`
        // form; the kind says the same in words.
        let text = error.to_string();
        let message = if text.starts_with("Os {") {
            error.kind().to_string()
        } else {
            text
        };
        StoreError::Io {
            context: format!("the log at {} could not be {doing}", place.display()),
            message,
            remedy,
            kind: error.kind(),
        }
    }

    /// Whether the failure says the log is damaged (as opposed to unreachable or refused).
    pub fn is_damage(&self) -> bool {
        matches!(self, StoreError::Backend { .. })
    }
}

/// Records as owned bytes, from an iterator another thread may drive
/// ([`RecordStore::records_from`]).
pub type RecordIter = Box<dyn Iterator<Item = Result<(Seq, Vec<u8>), StoreError>> + Send>;

/// A place to keep records, snapshots and the head note.
pub trait RecordStore {
    /// Stores `record` as number `seq`, which must be one past the last.
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError>;

    /// Makes every appended record durable; returns only once they are.
    fn flush(&mut self) -> Result<(), StoreError>;

    /// The last record's sequence number (0 when empty).
    fn last_seq(&self) -> Result<Seq, StoreError>;

    /// Visits the records from `from` on, in order, until `visit` breaks.
    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// One record.
    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError>;

    /// The records from `from` on, in order, as an iterator that another thread can drive, so a
    /// replay reads and checks records on one thread while it decodes and folds on another
    /// (only one buffer per record crosses threads). The default, `None`: this store is read on
    /// the caller's thread only, through [`RecordStore::scan`].
    fn records_from(&self, from: Seq) -> Result<Option<RecordIter>, StoreError> {
        let _ = from;
        Ok(None)
    }

    /// Removes records from `from` on. Used only by recovery, for a torn record past the head
    /// note (never acknowledged, so never reported to anyone).
    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError>;

    /// The head note.
    fn read_head(&self) -> Result<HeadNote, StoreError>;

    /// Replaces the head note durably; returns only once it is on stable storage.
    fn write_head(&mut self, head: &Head) -> Result<(), StoreError>;

    /// Stores a snapshot taken after record `seq` (made durable by the next flush).
    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError>;

    /// The snapshots' sequence numbers, oldest first.
    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError>;

    /// One snapshot's bytes.
    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError>;

    /// Hands one snapshot's bytes to `visit` without copying them where the store can (sled
    /// lends its own buffer; a million-object snapshot is 150 MB). `Ok(false)`: there is none.
    fn read_snapshot(&self, seq: Seq, visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        match self.get_snapshot(seq)? {
            Some(bytes) => {
                visit(&bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes a snapshot.
    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError>;
}

/// How a [`MemoryStore`] crash damages what was not flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// Everything appended since the last flush is lost.
    DropUnflushed,
    /// As `DropUnflushed`, but the first lost record survives torn: only its first half is kept.
    TearLastWrite,
    /// As `DropUnflushed`, but the first lost record survives with one bit flipped.
    CorruptLastWrite,
}

/// Records in memory. The default for tests and for embedders who keep their own durability;
/// [`MemoryStore::crash`] simulates a power cut, so crash semantics are testable without processes.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    records: BTreeMap<Seq, Vec<u8>>,
    snapshots: BTreeMap<Seq, Vec<u8>>,
    head: HeadNote,
    flushed: Seq,
    flushed_snapshots: Vec<Seq>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            records: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            head: HeadNote::Absent,
            flushed: 0,
            flushed_snapshots: Vec::new(),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the head note, for tests that damage or lose it on purpose.
    pub fn set_head(&mut self, head: HeadNote) {
        self.head = head;
    }

    /// Simulates a crash: what was not flushed is lost, or left damaged as `crash` says.
    pub fn crash(&mut self, crash: Crash) {
        let lost: Vec<Seq> = self
            .records
            .range(self.flushed + 1..)
            .map(|(seq, _)| *seq)
            .collect();
        let first_lost = lost.first().copied();
        let mut survivor = first_lost.and_then(|seq| self.records.get(&seq).cloned());
        for seq in lost {
            self.records.remove(&seq);
        }
        self.snapshots
            .retain(|seq, _| self.flushed_snapshots.contains(seq));
        match (crash, first_lost, survivor.as_mut()) {
            (Crash::TearLastWrite, Some(seq), Some(bytes)) => {
                bytes.truncate(bytes.len() / 2);
                self.records.insert(seq, bytes.clone());
            }
            (Crash::CorruptLastWrite, Some(seq), Some(bytes)) if !bytes.is_empty() => {
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x10;
                self.records.insert(seq, bytes.clone());
            }
            _ => {}
        }
    }

    /// Direct access to the records, for tests that damage them on purpose.
    pub fn records_mut(&mut self) -> &mut BTreeMap<Seq, Vec<u8>> {
        &mut self.records
    }

    /// Direct access to the snapshots, for tests that damage them on purpose.
    pub fn snapshots_mut(&mut self) -> &mut BTreeMap<Seq, Vec<u8>> {
        &mut self.snapshots
    }
}

impl RecordStore for MemoryStore {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        let last = self.last_seq()?;
        if self.records.contains_key(&seq) {
            return Err(StoreError::Conflict { seq });
        }
        if seq != last + 1 {
            return Err(StoreError::OutOfOrder { seq, last });
        }
        self.records.insert(seq, record.to_vec());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.flushed = self.last_seq()?;
        self.flushed_snapshots = self.snapshots.keys().copied().collect();
        Ok(())
    }

    fn last_seq(&self) -> Result<Seq, StoreError> {
        Ok(self.records.keys().next_back().copied().unwrap_or(0))
    }

    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        for (seq, bytes) in self.records.range(from..) {
            if visit(*seq, bytes).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn records_from(&self, from: Seq) -> Result<Option<RecordIter>, StoreError> {
        // A copy: the tests' store is small, and its replay then takes the overlapped path the
        // sled store takes.
        let records: Vec<(Seq, Vec<u8>)> = self
            .records
            .range(from..)
            .map(|(seq, bytes)| (*seq, bytes.clone()))
            .collect();
        Ok(Some(Box::new(records.into_iter().map(Ok))))
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.records.get(&seq).cloned())
    }

    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        self.records.retain(|seq, _| *seq < from);
        self.flushed = self.flushed.min(from.saturating_sub(1));
        Ok(())
    }

    fn read_head(&self) -> Result<HeadNote, StoreError> {
        Ok(self.head.clone())
    }

    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        self.head = HeadNote::At(*head);
        Ok(())
    }

    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        self.snapshots.insert(seq, bytes.to_vec());
        Ok(())
    }

    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        Ok(self.snapshots.keys().copied().collect())
    }

    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.snapshots.get(&seq).cloned())
    }

    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        self.snapshots.remove(&seq);
        Ok(())
    }
}

/// A boxed store is a store: so one `Log` type can hold a sled or a PostgreSQL store chosen at
/// run time (`Log<Box<dyn RecordStore + Send>>`), as the command line does.
impl<T: RecordStore + ?Sized> RecordStore for Box<T> {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        (**self).append(seq, record)
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        (**self).flush()
    }
    fn last_seq(&self) -> Result<Seq, StoreError> {
        (**self).last_seq()
    }
    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        (**self).scan(from, visit)
    }
    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(seq)
    }
    fn records_from(&self, from: Seq) -> Result<Option<RecordIter>, StoreError> {
        (**self).records_from(from)
    }
    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        (**self).discard_from(from)
    }
    fn read_head(&self) -> Result<HeadNote, StoreError> {
        (**self).read_head()
    }
    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        (**self).write_head(head)
    }
    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        (**self).put_snapshot(seq, bytes)
    }
    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        (**self).snapshot_seqs()
    }
    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get_snapshot(seq)
    }
    fn read_snapshot(&self, seq: Seq, visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        (**self).read_snapshot(seq, visit)
    }
    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        (**self).remove_snapshot(seq)
    }
}
