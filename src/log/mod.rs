//! The event log: verified records in a store, snapshots, crash recovery, format versions
//! (SPEC [R12](crate::rules#r12)–[R14](crate::rules#r14)).
//!
//! A [`Log`] owns a [`RecordStore`] and the state folded from it. Appending an event first folds it
//! (so an event that breaks a rule never reaches the store), then encodes it once into a record
//! chained to the one before, then hands the bytes to the store. [`Log::flush`] makes everything
//! durable, writes the head note and only then mints a [`Durable`] token: the one proof the engine
//! accepts before it reports a run finished ([R13](crate::rules#r13)).
//!
//! Opening a log trusts nothing it has not checked: it starts from the newest snapshot that passes
//! its checks and is tied to the chain, verifies and folds every record after it, compares the
//! result with the head note (a store that lost acknowledged records is an error naming them), and
//! closes runs left in flight as `interrupted`. The decision table for a bad record:
//!
//! | where the bad record is | what it means | what happens |
//! | --- | --- | --- |
//! | the last record, past the head note, torn or failing its checksum | a write cut by a crash, never acknowledged | removed on open, reported |
//! | anywhere else | damage | error naming the record; nothing is removed |
//! | intact but of a newer format | a newer syncfold wrote it | error: upgrade |
//! | records missing below the head note | the store lost acknowledged data | error naming the range |
//!
//! ```
//! use syncfold::core::*;
//! use syncfold::log::{Log, LogOptions, MemoryStore};
//!
//! let (mut log, _) = Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).unwrap();
//! let actor = Actor::from_name("doc");
//! log.execute(&Command::StartRun {
//!     connector: ConnectorName::from("hr"),
//!     partition: PartitionName::from("people"),
//!     kind: RunKind::FullImport,
//!     settings: Settings::default(),
//! }, Timestamp(1), &actor).unwrap();
//! // Ending a run is a commit point: the log flushes before `execute` returns.
//! log.execute(&Command::EndRun { run: RunId(1) }, Timestamp(2), &actor).unwrap();
//! let durable = log.durable().unwrap();
//! assert!(log.finished_run(RunId(1), &durable).is_some());
//! ```

pub mod codec;
mod location;
mod pg;
mod pipelined;
pub(crate) mod quiet;
mod reading;
pub mod record;
mod runs;
mod serve;
mod sled_store;
pub mod snapshot;
mod store;

pub use location::LogLocation;
pub use pg::{
    check_log_name, is_pg_url, lock_key, PgHost, PgOpen, PgStore, PgUrl, PgUrlError, Secret,
    DEFAULT_LOG_NAME, PENDING_BYTES_MAX, SCHEMA_VERSION,
};
pub use pipelined::Pipelined;
pub use reading::{open_for_reading, ReadStore};
pub use record::{Hash, RecordError, GENESIS};
pub use runs::{Recorded, RunReport, RunStart};
pub use serve::{announcement, Announcement, ServedStore};
pub use sled_store::{head_copy_problems, is_log_folder, read_head_note, SledOptions, SledStore};
pub use store::{Crash, Head, HeadNote, MemoryStore, RecordIter, RecordStore, StoreError};

use crate::core::*;
use std::ops::ControlFlow;

/// Why an event did not become a record.
enum Unstaged {
    /// It could not be encoded.
    Encode(String),
    /// The fold refused it.
    Refused(Violation),
}

/// How a log takes snapshots and who it says recovered it.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Take a snapshot at the first flush once this much was folded since the last one (0:
    /// never). Each event weighs 1 plus the objects it carries, so a snapshot, whose cost grows
    /// with the connector space, is taken after folding work of the same order.
    pub snapshot_every: u64,
    /// How many snapshots to keep.
    pub snapshots_kept: usize,
    /// The actor stamped on events the log writes itself (closing interrupted runs).
    pub actor: Actor,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            snapshot_every: 10_000,
            snapshots_kept: 2,
            actor: Actor::from_name("syncfold-recovery"),
        }
    }
}

/// Why the log cannot be read or written. Each message names the place and the remedy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A record is damaged.
    #[error("record {seq} is damaged ({problem}); records 1 to {valid_up_to} are intact. Restore the log folder from a backup; `syncfold verify` shows the extent")]
    Corrupt {
        /// The first bad record.
        seq: Seq,
        /// What is wrong with it.
        problem: String,
        /// The last record of the intact prefix.
        valid_up_to: Seq,
    },
    /// A record was written by a newer format.
    #[error("record {seq} was written by a newer syncfold, format {version}: upgrade syncfold to read this log")]
    NewerFormat {
        /// The record.
        seq: Seq,
        /// Its format version.
        version: u16,
    },
    /// The store holds fewer records than the log acknowledged as durable.
    #[error("records {from} to {to} were acknowledged as durable but are missing from the store, which lost them without an error; restore the log folder from a backup")]
    MissingAcknowledged {
        /// First missing record.
        from: Seq,
        /// Last acknowledged record.
        to: Seq,
    },
    /// A record folded into a rule violation.
    #[error("{0}; the log was written by a faulty engine or edited: `syncfold verify` names every such record")]
    Rule(#[from] Violation),
    /// The head note was written and cannot be read: how many records were acknowledged is
    /// unknown.
    #[error("the head note is lost ({why}): the log holds {}, but how many records were acknowledged as durable is unknown, so records lost from its end cannot be ruled out. Look for a copy or backup of the folder that holds more records; if there is none, accept the present records with `syncfold admin accept-records --log LOG --reason TEXT` before writing to this log again", present(*records))]
    HeadLost {
        /// The last record present.
        records: Seq,
        /// What was found instead of the note.
        why: String,
    },
    /// The fold refused an event the decider produced for a command: a bug in syncfold's decider,
    /// not a damaged log. Nothing of the command reached the store.
    #[error("bug in syncfold: the rules refused event {index} of the {count} that the command `{command}` decided ({violation}); nothing of the command was written. Reopen the log and report this")]
    DeciderBug {
        /// The command, as its type.
        command: String,
        /// Which of its events was refused, from 1.
        index: usize,
        /// How many events the command decided.
        count: usize,
        /// The refusal.
        violation: Violation,
    },
    /// A command's events do not fit what the typed run API expected of it (a start that neither
    /// started nor refused, an end that left the run open): a bug in syncfold.
    #[error("bug in syncfold: {what}. Reopen the log and report this")]
    Unfitting {
        /// What did not fit.
        what: String,
    },
    /// The decider refused a command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An earlier append failed half-way; the in-memory state may be ahead of the store.
    #[error(
        "an earlier append to this log failed; reopen the log to continue from what is stored"
    )]
    Poisoned,
    /// An event could not be encoded.
    #[error("an event could not be encoded: {0}")]
    Encode(String),
    /// An administrator asked to accept the present records of a log whose head note is intact.
    #[error("the head note of this log is intact: there are no unacknowledged records to accept")]
    NothingToAccept,
    /// A sequence number past the end of the log was asked for.
    #[error("the log ends at event {last}; there is no event {seq} (see `syncfold events` for the events there are)")]
    Beyond {
        /// The number asked for.
        seq: Seq,
        /// The last event of the log.
        last: Seq,
    },
}

/// "records 1 to N", or "no records".
fn present(records: Seq) -> String {
    if records == 0 {
        "no records".to_owned()
    } else {
        format!("records 1 to {records}")
    }
}

/// What kind of failure an error is, for a caller that must act on it: an exit status, a page to
/// an operator, a retry. Every error of the log and the engine has exactly one
/// ([`LogError::class`], [`EngineError::class`](crate::engine::EngineError::class)); the match is
/// inside the crate, so a new error cannot be added without being classed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The log is damaged or breaks a rule (a refused command included): restore, or fix the
    /// input that was refused.
    Damage,
    /// The request was wrong (a sequence past the end, nothing to accept): change the request.
    Input,
    /// The log cannot be read or written now for another cause than damage (permissions, a full
    /// or read-only disk, a newer format, a busy holder): the remedy is outside the log.
    Unavailable,
    /// A bug in syncfold: report it.
    Bug,
}

impl LogError {
    /// What kind of failure this is (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self {
            LogError::Corrupt { .. }
            | LogError::MissingAcknowledged { .. }
            | LogError::Rule(_)
            | LogError::HeadLost { .. }
            | LogError::Rejected(_)
            | LogError::Encode(_) => ErrorClass::Damage,
            LogError::Store(store) if store.is_damage() => ErrorClass::Damage,
            LogError::Store(StoreError::Conflict { .. } | StoreError::OutOfOrder { .. }) => {
                ErrorClass::Damage
            }
            LogError::Beyond { .. } | LogError::NothingToAccept => ErrorClass::Input,
            LogError::NewerFormat { .. } | LogError::Store(_) | LogError::Poisoned => {
                ErrorClass::Unavailable
            }
            // The decider and the fold disagree: a bug, whatever the log holds.
            LogError::DeciderBug { .. } | LogError::Unfitting { .. } => ErrorClass::Bug,
        }
    }
}

/// Proof that every record up to [`Durable::seq`] is on stable storage. Only [`Log::flush`] makes
/// one, after the store's flush and the head note's write returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durable {
    seq: Seq,
    hash: Hash,
}

impl Durable {
    /// The last durable record.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// That record's hash.
    pub fn hash(&self) -> &Hash {
        &self.hash
    }

    /// Whether record `seq` is durable.
    pub fn covers(&self, seq: Seq) -> bool {
        seq <= self.seq
    }
}

/// What reading a log found, without changing anything ([`read`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// The snapshot the fold started from.
    pub snapshot: Option<Seq>,
    /// Snapshots that failed their checks and were skipped, with the reason.
    pub snapshots_skipped: Vec<(Seq, String)>,
    /// The last record verified and folded.
    pub last: Seq,
    /// The last record acknowledged as durable, if the head note says.
    pub acknowledged: Option<Seq>,
    /// Why the head note could not be read, when the log has records and no readable note.
    pub head_lost: Option<String>,
    /// A torn last record past the head note: a write cut by a crash, left in place (the next
    /// writer discards it and records that it did).
    pub torn_tail: Option<Seq>,
    /// Runs open at the end of the log: running now if a writer holds the log, otherwise found
    /// in flight (the next writer closes them as `interrupted`).
    pub in_flight: Vec<RunId>,
}

/// What opening a log found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The snapshot the fold started from.
    pub snapshot: Option<Seq>,
    /// Snapshots that failed their checks and were skipped, with the reason.
    pub snapshots_skipped: Vec<(Seq, String)>,
    /// Records verified and folded after the snapshot.
    pub records_folded: u64,
    /// The head note's sequence number.
    pub acknowledged: Seq,
    /// A torn record past the head note that was removed.
    pub torn_record_removed: Option<Seq>,
    /// Runs found in flight and closed as interrupted.
    pub interrupted: Vec<RunId>,
    /// The event recording that an administrator accepted the records before it
    /// ([`Log::accept_present_records`]).
    pub accepted_at: Option<Seq>,
}

/// What [`verify`] found in a healthy log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked (checksum, format, chain, decoding, rules).
    pub records: Seq,
    /// The head note's sequence number.
    pub acknowledged: Seq,
    /// A torn last record past the head note: a write cut by a crash, not damage.
    pub torn_tail: Option<Seq>,
    /// Snapshots that matched the fold at their point.
    pub snapshots_valid: Vec<Seq>,
    /// Snapshots that did not, with the reason (they are skipped on open).
    pub snapshots_invalid: Vec<(Seq, String)>,
    /// Hash of the folded state's canonical encoding.
    pub state_hash: Hash,
}

/// An event log over a store, with its folded state.
pub struct Log<S: RecordStore> {
    store: S,
    state: State,
    last_hash: Hash,
    acknowledged: Seq,
    options: LogOptions,
    since_snapshot: u64,
    snapshot_on_flush: bool,
    poisoned: bool,
    durable: Option<Durable>,
    payload: Vec<u8>,
    record: Vec<u8>,
}

impl<S: RecordStore> std::fmt::Debug for Log<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("last_seq", &self.state.last_seq())
            .field("acknowledged", &self.acknowledged)
            .finish()
    }
}

/// Where a walk over the records starts: after a snapshot, or at the beginning.
struct Start {
    state: State,
    seq: Seq,
    hash: Hash,
}

/// The outcome of walking records: the state, the last good hash, and a torn tail if any.
struct Walk {
    state: State,
    last_hash: Hash,
    records: u64,
    weight: u64,
    torn_tail: Option<Seq>,
    acknowledged_hash: Option<Hash>,
}

/// How much folding `event` is worth, for the snapshot schedule: 1 plus the objects it carries.
fn weight(event: &Event) -> u64 {
    1 + match event {
        Event::PageRead { changes, .. } => changes.len() as u64,
        Event::ObsoletionApplied { anchors, .. } | Event::ObsoletionHeld { anchors, .. } => {
            anchors.len() as u64
        }
        _ => 0,
    }
}

/// Record `expected` is missing: the store's next one is `found`.
fn gap(expected: Seq, found: Seq) -> LogError {
    LogError::Corrupt {
        seq: expected,
        problem: format!("missing: the store's next record is {found}"),
        valid_up_to: expected - 1,
    }
}

/// Record `seq` failed its checks: written by a newer format, or damaged.
fn record_failure(seq: Seq, problem: RecordError) -> LogError {
    match problem {
        RecordError::NewerFormat { version } => LogError::NewerFormat { seq, version },
        problem => LogError::Corrupt {
            seq,
            problem: problem.to_string(),
            valid_up_to: seq - 1,
        },
    }
}

/// Verifies and folds the records after `start`. `on_event` sees each event with the state after
/// it, and may stop the walk there.
fn walk<S: RecordStore + ?Sized>(
    store: &S,
    start: Start,
    acknowledged: Seq,
    last: Seq,
    on_event: &mut dyn FnMut(Seq, &Envelope, &State) -> ControlFlow<()>,
) -> Result<Walk, LogError> {
    let mut walk = Walk {
        state: start.state,
        last_hash: start.hash,
        records: 0,
        weight: 0,
        torn_tail: None,
        acknowledged_hash: None,
    };
    let mut expected = start.seq + 1;
    let mut failure: Option<LogError> = None;
    // One record, already checked against the hash before it: the rules, decoding and folding.
    // Returns the event once folded, for the caller to free where it was decoded.
    let mut fold_one = |seq: Seq, checked: CheckedEvent| -> (ControlFlow<()>, Option<Envelope>) {
        if seq != expected {
            failure = Some(gap(expected, seq));
            return (ControlFlow::Break(()), None);
        }
        let (hash, decoded) = match checked {
            Ok(checked) => checked,
            Err(
                problem @ (RecordError::Truncated { .. }
                | RecordError::Checksum { .. }
                | RecordError::BadMagic),
            ) if seq == last && seq > acknowledged => {
                // A write cut by a crash: never acknowledged, so never reported to anyone.
                let _ = problem;
                walk.torn_tail = Some(seq);
                return (ControlFlow::Break(()), None);
            }
            Err(problem) => {
                failure = Some(record_failure(seq, problem));
                return (ControlFlow::Break(()), None);
            }
        };
        let envelope = match decoded {
            Ok(envelope) => envelope,
            Err(error) => {
                failure = Some(LogError::Corrupt {
                    seq,
                    problem: format!("intact but undecodable: {error}"),
                    valid_up_to: seq - 1,
                });
                return (ControlFlow::Break(()), None);
            }
        };
        if let Err(violation) = walk.state.apply(seq, &envelope) {
            failure = Some(LogError::Rule(violation));
            return (ControlFlow::Break(()), Some(envelope));
        }
        walk.last_hash = hash;
        if seq == acknowledged {
            walk.acknowledged_hash = Some(hash);
        }
        walk.records += 1;
        walk.weight += weight(&envelope.event);
        expected += 1;
        let flow = on_event(seq, &envelope, &walk.state);
        (flow, Some(envelope))
    };
    match store.records_from(start.seq + 1)? {
        Some(records) => overlapped(records, start.hash, &mut fold_one)?,
        None => {
            let mut previous = start.hash;
            store.scan(start.seq + 1, &mut |seq, bytes| {
                let checked = record::check(bytes, seq, &previous)
                    .map(|c| (c.hash, codec::decode_event(c.payload)));
                if let Ok((hash, _)) = &checked {
                    previous = *hash;
                }
                fold_one(seq, checked).0
            })?;
        }
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(walk)
}

/// A record checked against the hash before it and decoded: its hash and event (or why it does
/// not decode), or why the check failed.
type CheckedEvent = Result<(Hash, Result<Envelope, codec::CodecError>), RecordError>;

/// How many decoded records may wait for the folding thread (a page of 1000 objects is about
/// 110 KB encoded, a few hundred KB decoded: some MB in flight at most).
const RECORDS_AHEAD: usize = 32;

/// Drives `records` on a second thread, which reads each record, checks it (CRC, format, the
/// hash chain) and decodes it, while this thread folds the one before: reading, checking and
/// decoding overlap folding. A folded event goes back to the reading thread to be freed, so
/// every object is allocated and freed on the same thread (freeing a decoded page on another
/// thread costs more than the overlap saves, measured before). The reading thread stops after
/// the first record that fails its check or does not decode, which it hands over as it met it,
/// and when the folding side stops listening.
fn overlapped(
    records: RecordIter,
    start_hash: Hash,
    fold_one: &mut dyn FnMut(Seq, CheckedEvent) -> (ControlFlow<()>, Option<Envelope>),
) -> Result<(), StoreError> {
    use std::sync::mpsc;
    std::thread::scope(|scope| {
        let (sender, receiver) =
            mpsc::sync_channel::<Result<(Seq, CheckedEvent), StoreError>>(RECORDS_AHEAD);
        let (give_back, given_back) = mpsc::channel::<Envelope>();
        scope.spawn(move || {
            let mut previous = start_hash;
            for item in records {
                while let Ok(folded) = given_back.try_recv() {
                    drop(folded);
                }
                let checked = item.map(|(seq, bytes)| {
                    let checked = record::check(&bytes, seq, &previous)
                        .map(|c| (c.hash, codec::decode_event(c.payload)));
                    (seq, checked)
                });
                let stop = match &checked {
                    Ok((_, Ok((hash, Ok(_))))) => {
                        previous = *hash;
                        false
                    }
                    _ => true,
                };
                if sender.send(checked).is_err() || stop {
                    break;
                }
            }
            drop(sender);
            // Free what the folding thread gives back until it is done.
            for folded in given_back {
                drop(folded);
            }
        });
        for item in receiver {
            let (seq, checked) = item?;
            let (flow, folded) = fold_one(seq, checked);
            if let Some(folded) = folded {
                // Freed here only if the reading thread has already gone.
                let _ = give_back.send(folded);
            }
            if flow.is_break() {
                break;
            }
        }
        Ok(())
    })
}

/// What the head note and the store say about a log's extent.
struct Extent {
    /// The head, when the note is readable.
    head: Option<Head>,
    /// The last record stored.
    last: Seq,
    /// Why the acknowledged extent is unknown: the log has records and no readable note.
    lost: Option<String>,
}

impl Extent {
    /// The acknowledged sequence number, 0 when none is known.
    fn acknowledged(&self) -> Seq {
        self.head.map_or(0, |head| head.seq)
    }

    /// The last record that may not be torn: a bad last record past it is a write cut by a
    /// crash. When the note is lost nobody can tell, so every bad record is damage.
    fn torn_after(&self) -> Seq {
        match (&self.head, &self.lost) {
            (Some(head), _) => head.seq,
            (None, Some(_)) => Seq::MAX,
            (None, None) => 0,
        }
    }
}

/// The head note, the last stored record and the acknowledged one; a store holding fewer records
/// than it acknowledged lost them (sled can, silently).
fn extent<S: RecordStore + ?Sized>(store: &S) -> Result<Extent, LogError> {
    let note = store.read_head()?;
    let last = store.last_seq()?;
    let (head, lost) = match note {
        HeadNote::At(head) => (Some(head), None),
        HeadNote::Absent if last == 0 => (None, None),
        HeadNote::Absent => (
            None,
            Some("no head note at all, though the log has records".to_owned()),
        ),
        // A note that was written and cannot be read proves records were acknowledged, even
        // when none is left.
        HeadNote::Lost { why } => (None, Some(why)),
    };
    if let Some(head) = head {
        if head.seq > last {
            return Err(LogError::MissingAcknowledged {
                from: last + 1,
                to: head.seq,
            });
        }
    }
    Ok(Extent { head, last, lost })
}

/// Checks the chain of records 1 to `up_to` (checksums, formats, hashes) without decoding or
/// folding them, and returns the hash of record `up_to`: the records a snapshot stands for are
/// still evidence, and damage among them must be found before anyone writes after them or reads
/// past them. Every open does this below the snapshot it starts from.
pub fn check_chain<S: RecordStore + ?Sized>(store: &S, up_to: Seq) -> Result<Hash, LogError> {
    if up_to == 0 {
        return Ok(GENESIS);
    }
    let mut expected = 1;
    let mut previous = GENESIS;
    let mut failure = None;
    store.scan(1, &mut |seq, bytes| {
        if seq != expected {
            failure = Some(gap(expected, seq));
            return ControlFlow::Break(());
        }
        match record::check(bytes, seq, &previous) {
            Ok(checked) => previous = checked.hash,
            Err(problem) => {
                failure = Some(record_failure(seq, problem));
                return ControlFlow::Break(());
            }
        }
        expected += 1;
        if seq == up_to {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    if expected <= up_to {
        return Err(LogError::Corrupt {
            seq: expected,
            problem: "missing".to_owned(),
            valid_up_to: expected - 1,
        });
    }
    Ok(previous)
}

/// The chain checked from record 1 up to a snapshot, with the hash at each snapshot it passed.
struct ChainMarks {
    hashes: std::collections::BTreeMap<Seq, Hash>,
    /// The first record the walk could not vouch for, and why.
    failure: Option<(Seq, LogError)>,
}

impl ChainMarks {
    /// The hash of record `seq` as `check_chain(store, seq)` would give it; `None` when the walk
    /// did not mark it (a snapshot taken since), for the caller to check it itself.
    fn hash_at(self, seq: Seq) -> Option<Result<Hash, LogError>> {
        if seq == 0 {
            return Some(Ok(GENESIS));
        }
        if let Some(hash) = self.hashes.get(&seq) {
            return Some(Ok(*hash));
        }
        match self.failure {
            Some((at, failure)) if at <= seq => Some(Err(failure)),
            _ => None,
        }
    }
}

/// Walks `records` from record 1 to `up_to` as [`check_chain`] does, keeping the hash at every
/// sequence number in `marks`.
fn chain_marks(records: RecordIter, up_to: Seq, marks: &[Seq]) -> ChainMarks {
    let mut walked = ChainMarks {
        hashes: std::collections::BTreeMap::new(),
        failure: None,
    };
    let mut expected = 1;
    let mut previous = GENESIS;
    for item in records {
        let (seq, bytes) = match item {
            Ok(record) => record,
            Err(error) => {
                walked.failure = Some((expected, error.into()));
                return walked;
            }
        };
        if seq != expected {
            walked.failure = Some((expected, gap(expected, seq)));
            return walked;
        }
        match record::check(&bytes, seq, &previous) {
            Ok(checked) => previous = checked.hash,
            Err(problem) => {
                walked.failure = Some((seq, record_failure(seq, problem)));
                return walked;
            }
        }
        if marks.binary_search(&seq).is_ok() {
            walked.hashes.insert(seq, previous);
        }
        if seq == up_to {
            return walked;
        }
        expected += 1;
    }
    walked.failure = Some((
        expected,
        LogError::Corrupt {
            seq: expected,
            problem: "missing".to_owned(),
            valid_up_to: expected - 1,
        },
    ));
    walked
}

/// The newest trusted snapshot at or before `bound`, with the records before it chain-checked.
fn checked_start<S: RecordStore + ?Sized>(
    store: &S,
    bound: Seq,
) -> Result<(Start, Vec<(Seq, String)>), LogError> {
    // The chain below the newest snapshot is checked on a second thread while this one reads and
    // decodes the snapshot, when the store lends a record iterator; the result is the same as
    // checking up to the snapshot chosen afterwards (`ChainMarks::hash_at`).
    let all = store.snapshot_seqs()?;
    let snapshots: Vec<Seq> = all.iter().copied().filter(|&seq| seq <= bound).collect();
    let records = match snapshots.last() {
        Some(_) => store.records_from(1)?,
        None => None,
    };
    let (start, skipped, marks) = match (snapshots.last().copied(), records) {
        (Some(newest), Some(records)) => std::thread::scope(|scope| {
            let walker = scope.spawn(move || chain_marks(records, newest, &snapshots));
            let found = trusted_start(store, &all, bound);
            let marks = match walker.join() {
                Ok(marks) => marks,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            found.map(|(start, skipped)| (start, skipped, Some(marks)))
        })?,
        _ => {
            let (start, skipped) = trusted_start(store, &all, bound)?;
            (start, skipped, None)
        }
    };
    let up_to = start.seq;
    let hash = match marks.and_then(|marks| marks.hash_at(up_to)) {
        Some(hash) => hash?,
        None => check_chain(store, up_to)?,
    };
    if hash != start.hash {
        return Err(LogError::Corrupt {
            seq: up_to,
            problem: "differs from the record a snapshot was taken after".to_owned(),
            valid_up_to: up_to.saturating_sub(1),
        });
    }
    Ok((start, skipped))
}

/// Checks the head note against the store: nothing acknowledged may be missing or different.
fn check_head<S: RecordStore + ?Sized>(
    store: &S,
    head: Option<Head>,
    last: Seq,
    hash_seen: Option<Hash>,
) -> Result<(), LogError> {
    let Some(head) = head else { return Ok(()) };
    if head.seq == 0 {
        return Ok(());
    }
    if head.seq > last {
        return Err(LogError::MissingAcknowledged {
            from: last + 1,
            to: head.seq,
        });
    }
    let hash = match hash_seen {
        Some(hash) => hash,
        None => match store.get(head.seq)? {
            Some(bytes) => record::hash(&bytes),
            None => {
                return Err(LogError::MissingAcknowledged {
                    from: head.seq,
                    to: head.seq,
                })
            }
        },
    };
    if hash != head.hash {
        return Err(LogError::Corrupt {
            seq: head.seq,
            problem: "differs from the record that was acknowledged as durable".to_owned(),
            valid_up_to: head.seq - 1,
        });
    }
    Ok(())
}

/// The newest snapshot that passes its checks and is tied to the chain, and the ones skipped.
fn trusted_start<S: RecordStore + ?Sized>(
    store: &S,
    snapshot_seqs: &[Seq],
    last: Seq,
) -> Result<(Start, Vec<(Seq, String)>), LogError> {
    let mut skipped = Vec::new();
    for &seq in snapshot_seqs.iter().rev() {
        if seq > last {
            skipped.push((
                seq,
                format!("taken after record {seq}, but the log ends at {last}"),
            ));
            continue;
        }
        // A snapshot is a shortcut: one the store cannot even read is skipped like a bad one.
        // It is checked and decoded where the store keeps it, without a copy.
        let mut decoded = None;
        match store.read_snapshot(seq, &mut |bytes| {
            decoded = Some(snapshot::decode(seq, bytes));
        }) {
            Ok(_) => {}
            Err(error) => {
                skipped.push((seq, format!("unreadable: {error}")));
                continue;
            }
        }
        let Some(decoded) = decoded else { continue };
        match decoded {
            Ok(found) => {
                let tied = store
                    .get(seq)?
                    .is_some_and(|record| record::hash(&record) == found.record_hash);
                if tied {
                    return Ok((
                        Start {
                            state: found.state,
                            seq,
                            hash: found.record_hash,
                        },
                        skipped,
                    ));
                }
                skipped.push((
                    seq,
                    format!("record {seq} is not the one it was taken after"),
                ));
            }
            Err(reason) => skipped.push((seq, reason)),
        }
    }
    Ok((
        Start {
            state: State::new(),
            seq: 0,
            hash: GENESIS,
        },
        skipped,
    ))
}

/// Reads a log without changing anything: verifies the chain up to its newest trusted snapshot,
/// then verifies and folds every record after it, and checks the head note. A run in flight and
/// a torn last record are reported, not closed or removed (only a writer recovers, and records
/// what it did); a lost head note is reported in [`ReadReport::head_lost`], not refused.
pub fn read<S: RecordStore + ?Sized>(store: &S) -> Result<(State, ReadReport), LogError> {
    let extent = extent(store)?;
    let (start, snapshots_skipped) = checked_start(store, extent.last)?;
    let snapshot = (start.seq > 0).then_some(start.seq);
    let walk = walk(
        store,
        start,
        extent.torn_after(),
        extent.last,
        &mut |_, _, _| ControlFlow::Continue(()),
    )?;
    check_head(store, extent.head, extent.last, walk.acknowledged_hash)?;
    let report = ReadReport {
        snapshot,
        snapshots_skipped,
        last: walk.state.last_seq(),
        acknowledged: extent.head.map(|head| head.seq),
        head_lost: extent.lost,
        torn_tail: walk.torn_tail,
        in_flight: walk.state.open_runs().map(|(run, _)| run).collect(),
    };
    Ok((walk.state, report))
}

impl<S: RecordStore> Log<S> {
    /// Opens a log for writing: verifies the chain up to its newest trusted snapshot and every
    /// record after it, folds it, and recovers what a crash left: a torn unacknowledged last
    /// record is discarded and runs left in flight are closed as `interrupted` (stamped `now`),
    /// each recorded as an event. A log whose head note is lost is refused
    /// ([`LogError::HeadLost`]) until [`Log::accept_present_records`].
    pub fn open(
        store: S,
        options: LogOptions,
        now: Timestamp,
    ) -> Result<(Self, OpenReport), LogError> {
        Self::open_inner(store, options, now, None)
    }

    /// Opens a log whose head note is lost, accepting the records present (an administrator's
    /// decision, recorded with `reason` and `actor` as [`Event::PresentRecordsAccepted`]), then
    /// recovers as [`Log::open`] does. Refused when the note is readable: there is nothing to
    /// accept.
    pub fn accept_present_records(
        store: S,
        options: LogOptions,
        now: Timestamp,
        actor: &Actor,
        reason: &str,
    ) -> Result<(Self, OpenReport), LogError> {
        Self::open_inner(store, options, now, Some((actor, reason)))
    }

    fn open_inner(
        store: S,
        options: LogOptions,
        now: Timestamp,
        accept: Option<(&Actor, &str)>,
    ) -> Result<(Self, OpenReport), LogError> {
        let mut store = store;
        let extent = extent(&store)?;
        if extent.head.is_none() && extent.lost.is_none() && extent.last == 0 {
            // A new log notes at once that nothing is acknowledged: from now on a log with
            // records and no readable note can only be one that lost its note.
            store.write_head(&Head {
                seq: 0,
                hash: GENESIS,
            })?;
        }
        match (&extent.lost, accept) {
            (Some(why), None) => {
                return Err(LogError::HeadLost {
                    records: extent.last,
                    why: why.clone(),
                })
            }
            (None, Some(_)) => return Err(LogError::NothingToAccept),
            _ => {}
        }
        let (start, snapshots_skipped) = checked_start(&store, extent.last)?;
        for (seq, reason) in &snapshots_skipped {
            tracing::warn!(snapshot = seq, reason = reason.as_str(), "snapshot skipped");
        }
        let snapshot = (start.seq > 0).then_some(start.seq);
        // Accepting the present records accepts that a bad last record is not among them.
        let torn_after = if accept.is_some() {
            0
        } else {
            extent.torn_after()
        };
        let walk = walk(&store, start, torn_after, extent.last, &mut |_, _, _| {
            ControlFlow::Continue(())
        })?;
        check_head(&store, extent.head, extent.last, walk.acknowledged_hash)?;
        let acknowledged = extent.acknowledged();
        let mut log = Log {
            store,
            state: walk.state,
            last_hash: walk.last_hash,
            acknowledged,
            options,
            since_snapshot: walk.weight,
            snapshot_on_flush: true,
            poisoned: false,
            durable: None,
            payload: Vec::new(),
            record: Vec::new(),
        };
        let mut report = OpenReport {
            snapshot,
            snapshots_skipped,
            records_folded: walk.records,
            acknowledged,
            torn_record_removed: walk.torn_tail,
            interrupted: Vec::new(),
            accepted_at: None,
        };
        let actor = log.options.actor.clone();
        if let Some(torn) = walk.torn_tail {
            let length = log.store.get(torn)?.map_or(0, |bytes| bytes.len() as u64);
            tracing::warn!(
                record = torn,
                "discarding a torn record that was never acknowledged"
            );
            log.store.discard_from(torn)?;
            log.append(&Envelope::new(
                now,
                actor.clone(),
                Event::TornRecordDiscarded { seq: torn, length },
            ))?;
        }
        if let Some((administrator, reason)) = accept {
            report.accepted_at = Some(log.last_seq() + 1);
            log.append(&Envelope::new(
                now,
                administrator.clone(),
                Event::PresentRecordsAccepted {
                    through: log.last_seq(),
                    reason: reason.to_owned(),
                },
            ))?;
        }
        let in_flight: Vec<RunId> = log.state.open_runs().map(|(run, _)| run).collect();
        for run in &in_flight {
            log.execute(&Command::InterruptRun { run: *run }, now, &actor)?;
        }
        if log.last_seq() > log.acknowledged || accept.is_some() {
            log.flush()?;
        }
        report.interrupted = in_flight;
        Ok((log, report))
    }

    /// The state folded from every record.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The last record's sequence number.
    pub fn last_seq(&self) -> Seq {
        self.state.last_seq()
    }

    /// The last record acknowledged as durable.
    pub fn acknowledged(&self) -> Seq {
        self.acknowledged
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back (to simulate a crash, or to reopen).
    pub fn into_store(self) -> S {
        self.store
    }

    /// Folds `envelope` and appends it. A rule violation leaves both the state and the store as
    /// they were; a store failure poisons the log (reopen it).
    pub fn append(&mut self, envelope: &Envelope) -> Result<Seq, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let previous = self.last_hash;
        let mut record = std::mem::take(&mut self.record);
        let staged = self.stage(envelope, &previous, &mut record);
        self.record = record;
        let seq = match staged {
            Ok(seq) => seq,
            Err(Unstaged::Encode(error)) => return Err(LogError::Encode(error)),
            Err(Unstaged::Refused(violation)) => return Err(LogError::Rule(violation)),
        };
        if let Err(error) = self.store.append(seq, &self.record) {
            self.poisoned = true;
            return Err(error.into());
        }
        self.last_hash = record::hash(&self.record);
        Ok(seq)
    }

    /// Encodes `envelope`, folds it, and lays it out in `out` as the next record, chained to
    /// `previous`; the one path by which an event becomes a record. On failure the state is as
    /// it was (the fold checks before it changes anything).
    fn stage(
        &mut self,
        envelope: &Envelope,
        previous: &Hash,
        out: &mut Vec<u8>,
    ) -> Result<Seq, Unstaged> {
        let seq = self.state.last_seq() + 1;
        codec::encode_event_into(envelope, &mut self.payload)
            .map_err(|error| Unstaged::Encode(error.to_string()))?;
        self.state.apply(seq, envelope).map_err(Unstaged::Refused)?;
        record::encode(seq, previous, &self.payload, out);
        self.since_snapshot += weight(&envelope.event);
        Ok(seq)
    }

    /// Decides `command` and appends the resulting events, stamped `at` by `actor`: all of them
    /// or none. Every event is folded before any reaches the store; if the fold refuses one (a
    /// bug of the decider, [`LogError::DeciderBug`]), nothing is written, and the log is
    /// poisoned when earlier events of the command were already folded (reopen it).
    ///
    /// When the events commit a watermark, end a run (refused runs included) or record an
    /// administrator's action, the log is flushed
    /// before this returns ([R13](crate::rules#r13)); other events (pages) are group-committed by
    /// the next flush.
    /// [`Log::durable`] then holds the proof.
    pub fn execute(
        &mut self,
        command: impl Into<Command>,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<Vec<Event>, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let command = command.into();
        let name = command.name();
        let decided = decide(&self.state, command)?;
        self.append_decided(name, decided, at, actor)
    }

    /// Folds every event a command decided, then appends them all (see [`Log::execute`]).
    fn append_decided(
        &mut self,
        name: &str,
        decided: Vec<Event>,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<Vec<Event>, LogError> {
        let count = decided.len();
        let mut events = Vec::with_capacity(count);
        let mut records: Vec<Vec<u8>> = Vec::with_capacity(count);
        let mut last_hash = self.last_hash;
        for (index, event) in decided.into_iter().enumerate() {
            let envelope = Envelope::new(at, actor.clone(), event);
            let mut bytes = Vec::new();
            if let Err(unstaged) = self.stage(&envelope, &last_hash, &mut bytes) {
                // Earlier events of this command changed the state but not the store.
                self.poisoned = index > 0;
                return Err(match unstaged {
                    Unstaged::Encode(error) => LogError::Encode(error),
                    Unstaged::Refused(violation) => LogError::DeciderBug {
                        command: name.to_owned(),
                        index: index + 1,
                        count,
                        violation,
                    },
                });
            }
            last_hash = record::hash(&bytes);
            records.push(bytes);
            events.push(envelope.event);
        }
        let first = self.state.last_seq() + 1 - records.len() as Seq;
        for (offset, bytes) in records.iter().enumerate() {
            if let Err(error) = self.store.append(first + offset as Seq, bytes) {
                self.poisoned = true;
                return Err(error.into());
            }
        }
        self.last_hash = last_hash;
        if needs_flush(&events) {
            self.flush()?;
        }
        Ok(events)
    }

    /// The proof of the last flush, if any.
    pub fn durable(&self) -> Option<Durable> {
        self.durable
    }

    /// Makes every appended record durable, records the head note, and returns the proof.
    pub fn flush(&mut self) -> Result<Durable, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let seq = self.state.last_seq();
        if self.snapshot_on_flush {
            self.snapshot_if_due()?;
        }
        self.store.flush()?;
        if seq > self.acknowledged {
            self.store.write_head(&Head {
                seq,
                hash: self.last_hash,
            })?;
            self.acknowledged = seq;
        }
        let durable = Durable {
            seq,
            hash: self.last_hash,
        };
        self.durable = Some(durable);
        Ok(durable)
    }

    /// Takes a snapshot if enough was folded since the last one (see [`LogOptions`]). A flush
    /// does this itself unless an engine drives the log: the engine calls it after commit points,
    /// once it has told the run its end is durable, so a snapshot never delays an
    /// acknowledgement.
    pub fn snapshot_if_due(&mut self) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        if self.snapshot_due() {
            self.take_snapshot()?;
        }
        Ok(())
    }

    /// A snapshot is due once `snapshot_every` was folded since the last one, and at least half
    /// the connector space: encoding a snapshot costs in proportion to the state, so snapshots
    /// stay a bounded share of the work however large the state grows.
    fn snapshot_due(&self) -> bool {
        let objects: u64 = self
            .state
            .connectors()
            .flat_map(|(_, connector)| connector.partitions())
            .map(|(_, part)| part.objects().len() as u64)
            .sum();
        self.options.snapshot_every > 0
            && self.since_snapshot >= self.options.snapshot_every.max(objects / 2)
    }

    /// Leaves snapshots to [`Log::snapshot_if_due`] (the engine's writer calls it between
    /// commands).
    pub(crate) fn defer_snapshots(&mut self) {
        self.snapshot_on_flush = false;
    }

    fn take_snapshot(&mut self) -> Result<(), LogError> {
        let seq = self.state.last_seq();
        let bytes = snapshot::encode(seq, &self.last_hash, &self.state)
            .map_err(|error| LogError::Encode(error.to_string()))?;
        self.store.put_snapshot(seq, &bytes)?;
        let seqs = self.store.snapshot_seqs()?;
        let kept = self.options.snapshots_kept.max(1);
        for old in seqs.iter().take(seqs.len().saturating_sub(kept)) {
            self.store.remove_snapshot(*old)?;
        }
        self.since_snapshot = 0;
        Ok(())
    }

    /// The record of a run that ended, but only if `durable` covers its end: the engine reports a
    /// run finished through this, so nothing is reported that a crash could take back
    /// ([R13](crate::rules#r13)).
    pub fn finished_run(&self, run: RunId, durable: &Durable) -> Option<&RunRecord> {
        let record = self.state.run(run)?;
        let ended = record.ended.as_ref()?;
        durable.covers(ended.seq).then_some(record)
    }
}

/// Reads every record of `store` without changing anything, checking checksums, formats, the
/// chain, decoding, the rules (by folding) and the head note, and every snapshot against the fold.
pub fn verify<S: RecordStore + ?Sized>(store: &S) -> Result<VerifyReport, LogError> {
    verify_with_progress(store, &mut |_, _| {})
}

/// [`verify`], telling `progress` (record checked, last record) as it goes, for long logs.
pub fn verify_with_progress<S: RecordStore + ?Sized>(
    store: &S,
    progress: &mut dyn FnMut(Seq, Seq),
) -> Result<VerifyReport, LogError> {
    let extent = extent(store)?;
    let (head, last, acknowledged) = (extent.head, extent.last, extent.acknowledged());
    let torn_after = extent.torn_after();
    let snapshot_seqs = store.snapshot_seqs()?;
    let mut snapshot_hashes = std::collections::BTreeMap::new();
    let start = Start {
        state: State::new(),
        seq: 0,
        hash: GENESIS,
    };
    let walk = walk(store, start, torn_after, last, &mut |seq, _, state| {
        if snapshot_seqs.contains(&seq) {
            snapshot_hashes.insert(seq, codec::state_hash(state).ok());
        }
        progress(seq, last);
        ControlFlow::Continue(())
    })?;
    check_head(store, head, last, walk.acknowledged_hash)?;
    if let Some(why) = extent.lost {
        return Err(LogError::HeadLost {
            records: walk.state.last_seq(),
            why,
        });
    }
    let mut snapshots_valid = Vec::new();
    let mut snapshots_invalid = Vec::new();
    for seq in snapshot_seqs {
        let verdict = match store.get_snapshot(seq) {
            Err(error) => Err(format!("unreadable: {error}")),
            Ok(None) => Err("vanished".to_owned()),
            Ok(Some(bytes)) => snapshot::decode(seq, &bytes).and_then(|found| {
                let hash = codec::state_hash(&found.state).ok();
                match snapshot_hashes.get(&seq) {
                    Some(folded) if *folded == hash && hash.is_some() => Ok(()),
                    Some(_) => Err("differs from the state folded from the records".to_owned()),
                    None => Err(format!("taken after record {seq}, which is not in the log")),
                }
            }),
        };
        match verdict {
            Ok(()) => snapshots_valid.push(seq),
            Err(reason) => snapshots_invalid.push((seq, reason)),
        }
    }
    Ok(VerifyReport {
        records: walk.records,
        acknowledged,
        torn_tail: walk.torn_tail,
        snapshots_valid,
        snapshots_invalid,
        state_hash: codec::state_hash(&walk.state)
            .map_err(|error| LogError::Encode(error.to_string()))?,
    })
}

/// Replays a log read-only, verifying every record it reads: `visit` sees each event from `from`
/// to `until` (inclusive; `None`: to the end) with the state just after it, and may stop early.
/// The fold starts from the newest trusted snapshot before `from`, so a late window is cheap.
/// Returns the state after the last event folded.
pub fn replay<S: RecordStore + ?Sized>(
    store: &S,
    from: Seq,
    until: Option<Seq>,
    visit: &mut dyn FnMut(Seq, &Envelope, &State) -> ControlFlow<()>,
) -> Result<State, LogError> {
    let extent = extent(store)?;
    let bound = until.map_or(from.saturating_sub(1), |until| {
        until.min(from.saturating_sub(1))
    });
    let (start, _) = checked_start(store, extent.last.min(bound))?;
    let walk = walk(
        store,
        start,
        extent.torn_after(),
        extent.last,
        &mut |seq, envelope, state| {
            if until.is_some_and(|until| seq > until) {
                return ControlFlow::Break(());
            }
            let flow = if seq >= from {
                visit(seq, envelope, state)
            } else {
                ControlFlow::Continue(())
            };
            if until == Some(seq) {
                ControlFlow::Break(())
            } else {
                flow
            }
        },
    )?;
    Ok(walk.state)
}

/// The state just after event `seq` ([R14](crate::rules#r14): the same at any time, from any
/// process). `seq` 0 is the state before any event: the empty state.
pub fn state_at<S: RecordStore + ?Sized>(store: &S, seq: Seq) -> Result<State, LogError> {
    let last = store.last_seq()?;
    if seq > last {
        return Err(LogError::Beyond { seq, last });
    }
    if seq == 0 {
        // `replay` folds at least the first event it is asked for; 0 is before every event.
        return Ok(State::new());
    }
    replay(store, seq, Some(seq), &mut |_, _, _| {
        ControlFlow::Continue(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decider bug (events the fold refuses) writes nothing of the command, is named as a bug,
    /// and poisons the log when the first events had already been folded in memory.
    #[test]
    fn a_command_is_appended_whole_or_not_at_all() {
        let actor = Actor::from_name("test");
        let (mut log, _) =
            Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).expect("opens");
        let started = Event::RunStarted {
            run: RunId(1),
            connector: ConnectorName::from("hr"),
            partition: PartitionName::from("people"),
            kind: RunKind::FullImport,
            start_watermark: None,
            settings: Settings::default(),
        };
        // The second event names a run that was never started: the fold refuses it.
        let stray = Event::RunInterrupted { run: RunId(7) };
        let error = log
            .append_decided("start-run", vec![started, stray], Timestamp(1), &actor)
            .expect_err("refused");
        match &error {
            LogError::DeciderBug {
                command,
                index,
                count,
                ..
            } => assert_eq!((command.as_str(), *index, *count), ("start-run", 2, 2)),
            other => panic!("expected a decider bug, got {other:?}"),
        }
        assert!(error.to_string().starts_with("bug in syncfold"), "{error}");
        assert_eq!(
            log.store().last_seq().expect("last"),
            0,
            "nothing was written"
        );
        assert!(matches!(log.flush(), Err(LogError::Poisoned)));
        // Reopened, the log is as it was before the command.
        let (reopened, _) =
            Log::open(log.into_store(), LogOptions::default(), Timestamp(2)).expect("reopens");
        assert_eq!(reopened.last_seq(), 0);
    }
}
