//! Every pair of faults a log folder can suffer loses nothing silently. Once per run the library
//! writes a realistic sled log: the demo week, then full imports of 400 objects per partition in
//! pages of 50 to 200 (one object carries a 150 KiB photo, so sled writes blob files under
//! `sled/blobs/`), hundreds of small delta imports, snapshots, a flush after every run and one
//! restart half-way (so sled's own `snap.*` file lies behind the newest records, as in a log that
//! has been running): about 2,800 records and a 4.7 MB `db` file. What it wrote is the ground
//! truth: each record's bytes (encoded independently, and checked against what sled returns), each
//! event, the acknowledged sequence number (all of them), and `HEAD` and `HEAD.mirror` as they were
//! after an early flush. The faults: each head-note file emptied, zeroed, truncated to 40 bytes or
//! replaced by its early copy; `sled/db` cut at 24 points (spread over the bytes sled wrote, and
//! within the last 64 KiB of them, down to the last byte); a 4 KiB block of it zeroed at 16
//! offsets; each blob file deleted; sled's `snap.*` file deleted. Each fault alone and each pair of
//! distinct faults is applied to a fresh copy of the pristine folder, which is then read three
//! ways: as a reader (`open_for_reading` + `read`), by `verify`, and as a writer (`SledStore` +
//! `Log::open`), each guarded against panics (and the whole against hangs). Each outcome must be
//! (a) success with the records an exact, byte-for-byte prefix of the ground truth holding every
//! acknowledged record and the state folded from exactly those events (for a writer, plus only
//! the events its recovery appended), or a reader's success that reports the head note lost; or
//! (b) an error naming the extent: a record or a range of records (a named intact prefix is
//! checked against the ground truth), a lost head note, or sled refusing the folder's files (the
//! error names the folder). Never a silent loss, never other records, never a panic. Both head
//! files old *and* the records cut is three faults, outside the design's claim: that family is run
//! too and reported, not asserted (the note cannot catch it). A summary is printed (`--nocapture`);
//! `SYNCFOLD_FAULTS_VERBOSE=1` also prints each single fault's three outcomes.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use syncfold::core::*;
use syncfold::log::*;
use syncfold::script::{ImportPage, Player, Step};

/// Partitions of the generated connector, and objects in each.
const PARTITIONS: u64 = 3;
const OBJECTS: u64 = 400;
/// Rounds of one run per partition; every `FULL_EVERY`th round is a full import.
const ROUNDS: u64 = 160;
const FULL_EVERY: u64 = 40;
/// Page sizes of full imports, in turn.
const PAGE_SIZES: [u64; 5] = [50, 120, 200, 80, 150];
/// sled 0.34 writes a value to its own file under `sled/blobs/` above a quarter of its 512 KiB
/// segment; the photo makes every full import's first page (and every snapshot) such a value.
const PHOTO_BYTES: usize = 150 * 1024;
const SNAPSHOT_EVERY: u64 = 1500;
/// The round after whose first flush the head-note files are copied (the "old copy").
const OLD_HEAD_ROUND: u64 = 20;
/// The round before which the writer is closed and reopened.
const RESTART_ROUND: u64 = ROUNDS / 2;
const TAIL_CUTS: u64 = 17;
const BLOCKS_ZEROED: u64 = 15;
const BLOCK: u64 = 4096;
/// A case that takes longer than this is reported as a hang.
const HANG: Duration = Duration::from_secs(120);
const HEAD_FILES: [&str; 2] = ["HEAD", "HEAD.mirror"];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readdir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn writer_store(folder: &Path) -> Result<SledStore, StoreError> {
    SledStore::open_with(
        folder,
        SledOptions {
            serve_readers: false,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The history

fn object(partition: u64, index: u64, round: u64, kind: ChangeKind) -> ObjectChange {
    let mut attributes = BTreeMap::new();
    attributes.insert(
        "mail".to_owned(),
        AttributeValue::Single(format!("user{index:04}.p{partition}@example.org")),
    );
    attributes.insert(
        "description".to_owned(),
        AttributeValue::Single(format!(
            "person {index} of partition {partition}, as read in round {round}; badge {:08x}",
            (index * 2_654_435_761 + round) % 0xFFFF_FFFF
        )),
    );
    attributes.insert(
        "memberOf".to_owned(),
        AttributeValue::Multi(
            (0..1 + index % 4)
                .map(|group| format!("cn=group{},ou=groups", (index + group * 7) % 23))
                .collect(),
        ),
    );
    if partition == 0 && index == 0 && kind == ChangeKind::Add {
        let photo: String = (0..PHOTO_BYTES as u64)
            .map(|at| char::from(b'A' + ((at * 31 + round) % 26) as u8))
            .collect();
        attributes.insert("jpegPhoto".to_owned(), AttributeValue::Single(photo));
    }
    ObjectChange {
        anchor: Anchor(format!("uid=user{index:04},ou=p{partition}")),
        kind,
        attributes: Attributes(attributes),
    }
}

fn full_import(partition: u64, round: u64) -> Step {
    let mut pages = Vec::new();
    let mut next = 0;
    while next < OBJECTS {
        let size = PAGE_SIZES[pages.len() % PAGE_SIZES.len()].min(OBJECTS - next);
        pages.push(ImportPage::Page(Page {
            changes: (next..next + size)
                .map(|index| object(partition, index, round, ChangeKind::Add))
                .collect(),
            watermark: Some(Watermark::from_text(&format!(
                "usn-{round}-{partition}-{}",
                pages.len() + 1
            ))),
            ..Page::default()
        }));
        next += size;
    }
    Step::Import {
        partition: PartitionName(format!("p{partition}")),
        kind: RunKind::FullImport,
        pages,
    }
}

fn delta_import(partition: u64, round: u64) -> Step {
    let pages = (1..=1 + round % 4)
        .map(|page| {
            let mut read = Page {
                changes: (0..1 + (round + page) % 6)
                    .map(|at| {
                        let index = (round * 37 + page * 11 + at * 5) % OBJECTS;
                        object(partition, index, round, ChangeKind::Update)
                    })
                    .collect(),
                watermark: Some(Watermark::from_text(&format!(
                    "usn-{round}-{partition}-{page}"
                ))),
                ..Page::default()
            };
            if (round + page).is_multiple_of(13) {
                read.errors.push(DiscoveryError {
                    anchor: Anchor(format!("uid=bad{round},ou=p{partition}")),
                    kind: ObjectErrorKind::CustomContinueRun,
                    name: "invalid-characters-error".into(),
                    description: "the cn attribute holds a control character".into(),
                });
            }
            ImportPage::Page(read)
        })
        .collect();
    Step::Import {
        partition: PartitionName(format!("p{partition}")),
        kind: RunKind::DeltaImport,
        pages,
    }
}

/// What was written and acknowledged: the ground truth every outcome is compared with.
struct Truth {
    /// The pristine log folder (never damaged; each case copies it).
    folder: PathBuf,
    events: Vec<Envelope>,
    /// Each record's bytes, as encoded independently of the store, index `i` for record `i + 1`.
    records: Vec<Vec<u8>>,
    /// The last record acknowledged as durable (every record: the log was flushed at the end).
    acknowledged: Seq,
    /// `HEAD` and `HEAD.mirror` as they were after an early flush, and the record they name.
    old_heads: [Vec<u8>; 2],
    old_seq: Seq,
    /// The length of `sled/db`, where its last non-zero byte ends (sled allocates ahead), the
    /// blob files and sled's snapshot files.
    db_len: u64,
    db_end: u64,
    blobs: Vec<String>,
    sled_snapshots: Vec<String>,
    /// State hashes of folded prefixes, by length.
    hashes: Mutex<BTreeMap<Seq, Hash>>,
}

impl Truth {
    fn state_hash_at(&self, k: Seq) -> Hash {
        if let Some(hash) = self.hashes.lock().expect("lock").get(&k) {
            return *hash;
        }
        let state = State::fold(&self.events[..k as usize]).expect("the history folds");
        let hash = codec::state_hash(&state).expect("hash");
        self.hashes.lock().expect("lock").insert(k, hash);
        hash
    }
}

fn names_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| keep(name))
        .collect();
    names.sort();
    names
}

/// Writes the log with the library, once.
fn write_truth(root: &Path) -> Truth {
    let folder = root.join("pristine");
    let mut player = Player::new(
        Actor::from_name("faults"),
        Timestamp(1_767_225_600_000),
        1000,
    );
    player
        .play_script(&syncfold::demo::week())
        .expect("the demo plays");
    let options = LogOptions {
        snapshot_every: SNAPSHOT_EVERY,
        ..LogOptions::default()
    };
    let open = || {
        let (log, report) = Log::open(
            writer_store(&folder).expect("opens"),
            options.clone(),
            Timestamp(0),
        )
        .expect("the log opens");
        assert!(report.interrupted.is_empty() && report.torn_record_removed.is_none());
        log
    };
    let mut log = open();
    let connector = ConnectorName::from("hr");
    let mut appended = 0;
    let mut old = None;
    for round in 0..ROUNDS {
        if round == RESTART_ROUND {
            // The engine restarts: sled writes its own snapshot file when it opens, so the
            // second half of the history lies past it, as in a log that has been running.
            drop(log);
            log = open();
        }
        for partition in 0..PARTITIONS {
            let step = if round.is_multiple_of(FULL_EVERY) {
                full_import(partition, round)
            } else {
                delta_import(partition, round)
            };
            player
                .play(&connector, &Settings::default(), &step)
                .expect("the history plays");
            for envelope in &player.log()[appended..] {
                log.append(envelope).expect("appends");
            }
            appended = player.log().len();
            // Every run is acknowledged when it ends, as the engine does.
            let durable = log.flush().expect("flush");
            if round == OLD_HEAD_ROUND && old.is_none() {
                let read = |name| std::fs::read(folder.join(name)).expect("head file");
                old = Some(([read(HEAD_FILES[0]), read(HEAD_FILES[1])], durable.seq()));
            }
        }
    }
    let durable = log.flush().expect("flush");
    let snapshots = log.store().snapshot_seqs().expect("snapshots");
    drop(log);
    let events = player.log().to_vec();
    assert_eq!(durable.seq(), events.len() as Seq);
    assert!(snapshots.len() >= 2, "the log has snapshots: {snapshots:?}");
    // The records as the log encodes them, computed without the store.
    let mut records = Vec::with_capacity(events.len());
    let mut previous = GENESIS;
    for (index, envelope) in events.iter().enumerate() {
        let payload = codec::encode_event(envelope).expect("encodes");
        let mut bytes = Vec::new();
        record::encode(index as Seq + 1, &previous, &payload, &mut bytes);
        previous = record::hash(&bytes);
        records.push(bytes);
    }
    assert_eq!(durable.hash(), &previous);
    assert_eq!(
        read_head_note(&folder).expect("head note"),
        HeadNote::At(Head {
            seq: durable.seq(),
            hash: previous
        })
    );
    // Read back through sled: the store holds exactly those bytes. (On a copy: opening lets sled
    // write its own snapshot file, and the pristine folder is the one the writer left.)
    {
        let copy = root.join("readback");
        copy_folder(&folder, &copy);
        let store = writer_store(&copy).expect("reopens");
        let mut stored = Vec::new();
        store
            .scan(1, &mut |seq, bytes| {
                assert_eq!(seq, stored.len() as Seq + 1);
                stored.push(bytes.to_vec());
                std::ops::ControlFlow::Continue(())
            })
            .expect("scan");
        assert!(stored == records, "sled returns what was written");
        drop(store);
        let _ = std::fs::remove_dir_all(&copy);
    }
    let (old_heads, old_seq) = old.expect("an early flush");
    assert!(old_seq > 0 && old_seq < durable.seq() / 2);
    let sled = folder.join("sled");
    let db = std::fs::read(sled.join("db")).expect("db");
    Truth {
        db_len: db.len() as u64,
        db_end: db
            .iter()
            .rposition(|byte| *byte != 0)
            .map_or(0, |at| at as u64 + 1),
        blobs: names_in(&sled.join("blobs"), |_| true),
        sled_snapshots: names_in(&sled, |name| name.starts_with("snap.")),
        folder,
        events,
        records,
        acknowledged: durable.seq(),
        old_heads,
        old_seq,
        hashes: Mutex::new(BTreeMap::new()),
    }
}

// ---------------------------------------------------------------------------------------------
// The faults

#[derive(Clone, Debug, PartialEq, Eq)]
enum Fault {
    HeadEmptied(usize),
    HeadZeroed(usize),
    HeadTruncated(usize),
    HeadOld(usize),
    TailCut(u64),
    BlockZeroed(u64),
    BlobDeleted(String),
    SledSnapshotDeleted(String),
}

impl Fault {
    /// The kind, for the summary.
    fn kind(&self) -> String {
        match self {
            Fault::HeadEmptied(file) => format!("{} emptied", HEAD_FILES[*file]),
            Fault::HeadZeroed(file) => format!("{} zeroed", HEAD_FILES[*file]),
            Fault::HeadTruncated(file) => format!("{} truncated", HEAD_FILES[*file]),
            Fault::HeadOld(file) => format!("{} old copy", HEAD_FILES[*file]),
            Fault::TailCut(_) => "db tail cut".to_owned(),
            Fault::BlockZeroed(_) => "db 4 KiB block zeroed".to_owned(),
            Fault::BlobDeleted(_) => "blob deleted".to_owned(),
            Fault::SledSnapshotDeleted(_) => "sled snap file deleted".to_owned(),
        }
    }

    /// Exactly what it does, to reproduce a case.
    fn describe(&self) -> String {
        match self {
            Fault::HeadEmptied(file) => format!("{} truncated to 0 bytes", HEAD_FILES[*file]),
            Fault::HeadZeroed(file) => format!("{} replaced by 128 zero bytes", HEAD_FILES[*file]),
            Fault::HeadTruncated(file) => format!("{} truncated to 40 bytes", HEAD_FILES[*file]),
            Fault::HeadOld(file) => format!("{} replaced by its early copy", HEAD_FILES[*file]),
            Fault::TailCut(len) => format!("sled/db truncated to {len} bytes"),
            Fault::BlockZeroed(offset) => format!("sled/db bytes {offset}..+4096 zeroed"),
            Fault::BlobDeleted(name) => format!("sled/blobs/{name} deleted"),
            Fault::SledSnapshotDeleted(name) => format!("sled/{name} deleted"),
        }
    }

    /// Damages the log folder `log`.
    fn apply(&self, log: &Path, truth: &Truth) {
        use std::os::unix::fs::FileExt;
        let db = || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(log.join("sled").join("db"))
                .expect("sled/db")
        };
        match self {
            Fault::HeadEmptied(file) => {
                std::fs::write(log.join(HEAD_FILES[*file]), []).expect("write")
            }
            Fault::HeadZeroed(file) => {
                std::fs::write(log.join(HEAD_FILES[*file]), [0u8; 128]).expect("write")
            }
            Fault::HeadTruncated(file) => {
                let path = log.join(HEAD_FILES[*file]);
                let bytes = std::fs::read(&path).expect("read");
                std::fs::write(&path, &bytes[..bytes.len().min(40)]).expect("write");
            }
            Fault::HeadOld(file) => {
                std::fs::write(log.join(HEAD_FILES[*file]), &truth.old_heads[*file]).expect("write")
            }
            Fault::TailCut(len) => {
                let file = db();
                let now = file.metadata().expect("meta").len();
                file.set_len((*len).min(now)).expect("truncate");
            }
            Fault::BlockZeroed(offset) => {
                // Within the file as it is (after a cut, a block past its end is already gone).
                let file = db();
                let now = file.metadata().expect("meta").len();
                if *offset < now {
                    let zeros = vec![0u8; BLOCK.min(now - offset) as usize];
                    file.write_all_at(&zeros, *offset).expect("zero");
                }
            }
            Fault::BlobDeleted(name) => {
                std::fs::remove_file(log.join("sled").join("blobs").join(name)).expect("rm")
            }
            Fault::SledSnapshotDeleted(name) => {
                std::fs::remove_file(log.join("sled").join(name)).expect("rm")
            }
        }
    }
}

fn faults(truth: &Truth) -> Vec<Fault> {
    let mut faults = Vec::new();
    for file in 0..2 {
        faults.push(Fault::HeadEmptied(file));
        faults.push(Fault::HeadZeroed(file));
        faults.push(Fault::HeadTruncated(file));
        faults.push(Fault::HeadOld(file));
    }
    // Spread over the bytes sled wrote (past them it only allocated zeros), and near their end:
    // the last writes, down to the last byte; and at their end (only zeros cut).
    let end = truth.db_end;
    let mut cuts: Vec<u64> = (0..TAIL_CUTS).map(|at| end * at / TAIL_CUTS).collect();
    for back in [64 * 1024, 16 * 1024, BLOCK, 1024, 64, 1, 0] {
        cuts.push(end.saturating_sub(back));
    }
    cuts.sort_unstable();
    cuts.dedup();
    faults.extend(cuts.into_iter().map(Fault::TailCut));
    let mut blocks: Vec<u64> = (0..BLOCKS_ZEROED)
        .map(|at| end * at / BLOCKS_ZEROED / BLOCK * BLOCK)
        .collect();
    blocks.push(end.saturating_sub(1) / BLOCK * BLOCK);
    blocks.sort_unstable();
    blocks.dedup();
    faults.extend(blocks.into_iter().map(Fault::BlockZeroed));
    faults.extend(truth.blobs.iter().cloned().map(Fault::BlobDeleted));
    faults.extend(
        truth
            .sled_snapshots
            .iter()
            .cloned()
            .map(Fault::SledSnapshotDeleted),
    );
    faults
}

// ---------------------------------------------------------------------------------------------
// The outcomes

/// An acceptable outcome of one view of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Success: every acknowledged record, byte for byte, and the state folded from them.
    ExactPrefix,
    /// A reader's success on a log whose head note is lost: the records present are an exact
    /// prefix, and the report says the acknowledged extent is unknown.
    ReadHeadLostReported,
    /// "records A to B were acknowledged as durable but are missing".
    MissingNamed,
    /// "record N is damaged ...; records 1 to M are intact" (or another error naming a record).
    RecordNamed,
    /// "the head note is lost ...: the log holds records 1 to N".
    HeadLostNamed,
    /// sled refused the folder's files: a store error naming the folder and saying they are
    /// damaged.
    StoreDamaged,
    /// sled failed with an I/O error (a file it needs is missing): a store error naming the
    /// folder, though not saying the files are damaged.
    StoreIo,
}

/// What a view found: an acceptable outcome, or what went wrong (a silent loss, other records,
/// an error that names no extent, a panic).
type Verdict = Result<Seen, String>;

/// An acceptable outcome, with the error's message (empty for a success).
#[derive(Clone, Debug)]
struct Seen {
    outcome: Outcome,
    message: String,
}

impl From<Outcome> for Seen {
    fn from(outcome: Outcome) -> Self {
        Seen {
            outcome,
            message: String::new(),
        }
    }
}

fn scan_all(store: &dyn RecordStore) -> Result<Vec<Vec<u8>>, String> {
    let mut records = Vec::new();
    store
        .scan(1, &mut |_, bytes| {
            records.push(bytes.to_vec());
            std::ops::ControlFlow::Continue(())
        })
        .map_err(|error| format!("the records could not be scanned again: {error}"))?;
    Ok(records)
}

/// Records 1 to `k` of `present` are the ground truth's, byte for byte.
fn exact_prefix(present: &[Vec<u8>], k: Seq, truth: &Truth) -> Result<(), String> {
    let k = k as usize;
    if k > truth.records.len() || present.len() < k {
        return Err(format!(
            "{k} records claimed, {} present, {} written",
            present.len(),
            truth.records.len()
        ));
    }
    match (0..k).find(|at| present[*at] != truth.records[*at]) {
        Some(at) => Err(format!("record {} differs from the one written", at + 1)),
        None => Ok(()),
    }
}

/// An error is acceptable when it names the extent (and, when the store is at hand, a prefix it
/// calls intact is the ground truth's).
fn classify(
    error: &LogError,
    folder: &Path,
    store: Option<&dyn RecordStore>,
    truth: &Truth,
) -> Verdict {
    classify_outcome(error, folder, store, truth).map(|outcome| Seen {
        outcome,
        message: error.to_string(),
    })
}

fn classify_outcome(
    error: &LogError,
    folder: &Path,
    store: Option<&dyn RecordStore>,
    truth: &Truth,
) -> Result<Outcome, String> {
    let message = error.to_string();
    let named = |text: String| -> Result<(), String> {
        if message.contains(&text) {
            Ok(())
        } else {
            Err(format!("the error does not say {text:?}: {message}"))
        }
    };
    match error {
        LogError::Corrupt {
            seq, valid_up_to, ..
        } => {
            named(format!("record {seq} "))?;
            named(format!("records 1 to {valid_up_to} are intact"))?;
            if let Some(store) = store {
                exact_prefix(&scan_all(store)?, *valid_up_to, truth)
                    .map_err(|why| format!("{why}, below the named damage: {message}"))?;
            }
            Ok(Outcome::RecordNamed)
        }
        LogError::NewerFormat { seq, .. } => {
            named(format!("record {seq} "))?;
            Ok(Outcome::RecordNamed)
        }
        LogError::Rule(violation) => {
            named(format!("event {} ", violation.seq))?;
            Ok(Outcome::RecordNamed)
        }
        LogError::MissingAcknowledged { from, to } => {
            named(format!("records {from} to {to} were acknowledged"))?;
            if *to > truth.acknowledged || from > to {
                return Err(format!("a range that was never acknowledged: {message}"));
            }
            Ok(Outcome::MissingNamed)
        }
        LogError::HeadLost { .. } => {
            named("head note is lost".to_owned())?;
            Ok(Outcome::HeadLostNamed)
        }
        LogError::Store(store_error) => {
            named(folder.display().to_string())?;
            match store_error {
                StoreError::Backend { .. } => Ok(Outcome::StoreDamaged),
                StoreError::Io { .. } => Ok(Outcome::StoreIo),
                _ => Err(format!("an unexpected store error: {message}")),
            }
        }
        _ => Err(format!("an error naming no extent: {message}")),
    }
}

/// A message cut to a line, for the verbose listing.
fn shorten(message: &str) -> String {
    let mut short: String = message.chars().take(240).collect();
    if short.len() < message.len() {
        short.push('…');
    }
    short
}

fn guarded(view: impl FnOnce() -> Verdict) -> Verdict {
    match catch_unwind(AssertUnwindSafe(view)) {
        Ok(verdict) => verdict,
        Err(panic) => Err(format!(
            "PANIC: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        )),
    }
}

/// The three views of one damaged folder.
#[derive(Debug)]
struct Views {
    read: Verdict,
    verify: Verdict,
    write: Verdict,
}

fn check(folder: &Path, truth: &Truth) -> Views {
    let mut verify_verdict = Err("not run: the folder could not be opened for reading".to_owned());
    let read_verdict = guarded(|| {
        let store = match open_for_reading(folder) {
            Ok(store) => store,
            Err(error) => {
                let verdict = classify(&LogError::Store(error), folder, None, truth);
                verify_verdict = verdict.clone();
                return verdict;
            }
        };
        verify_verdict = guarded(|| match verify(&store) {
            Ok(report) => {
                let k = report.records;
                exact_prefix(&scan_all(&store)?, k, truth)?;
                if report.state_hash != truth.state_hash_at(k) {
                    return Err(format!("verify folded other state from {k} records"));
                }
                if k < truth.acknowledged {
                    return Err(format!(
                        "SILENT LOSS: verify passed with {k} records of {} acknowledged",
                        truth.acknowledged
                    ));
                }
                Ok(Outcome::ExactPrefix.into())
            }
            Err(error) => classify(&error, folder, Some(&store), truth),
        });
        match read(&store) {
            Ok((state, report)) => {
                let k = report.last;
                exact_prefix(&scan_all(&store)?, k, truth)?;
                if codec::state_hash(&state).expect("hash") != truth.state_hash_at(k) {
                    return Err(format!("read folded other state from {k} records"));
                }
                if report.head_lost.is_some() {
                    Ok(Outcome::ReadHeadLostReported.into())
                } else if k < truth.acknowledged {
                    Err(format!(
                        "SILENT LOSS: read returned {k} records of {} acknowledged (the note it read: {:?})",
                        truth.acknowledged, report.acknowledged
                    ))
                } else {
                    Ok(Outcome::ExactPrefix.into())
                }
            }
            Err(error) => classify(&error, folder, Some(&store), truth),
        }
    });
    let write_verdict = guarded(|| {
        let store = writer_store(folder)
            .map_err(LogError::Store)
            .map_err(|error| classify(&error, folder, None, truth));
        let store = match store {
            Ok(store) => store,
            Err(verdict) => return verdict,
        };
        match Log::open(store, LogOptions::default(), Timestamp(0)) {
            Ok((log, _)) => {
                let present = scan_all(log.store())?;
                let kept = present
                    .iter()
                    .zip(&truth.records)
                    .take_while(|(found, written)| found == written)
                    .count();
                if (kept as Seq) < truth.acknowledged {
                    // Recovery may have appended its own events after what the store returned.
                    return Err(format!(
                        "SILENT LOSS: a writer opened the log with records 1 to {kept} as written \
                         and {} other records after them, of {} acknowledged",
                        present.len() - kept,
                        truth.acknowledged
                    ));
                }
                // Past the acknowledged records: only what recovery itself recorded, chained.
                let mut state = State::fold(&truth.events[..kept])
                    .map_err(|violation| format!("the history does not fold: {violation}"))?;
                for (at, bytes) in present.iter().enumerate().skip(kept) {
                    let seq = at as Seq + 1;
                    let checked = record::check(bytes, seq, &record::hash(&present[at - 1]))
                        .map_err(|error| format!("record {seq} written by recovery: {error}"))?;
                    let envelope = codec::decode_event(checked.payload)
                        .map_err(|error| format!("record {seq} written by recovery: {error}"))?;
                    state.apply(seq, &envelope).map_err(|violation| {
                        format!("record {seq} written by recovery: {violation}")
                    })?;
                }
                if codec::state_hash(log.state()).ok() != codec::state_hash(&state).ok() {
                    return Err("a writer folded other state".to_owned());
                }
                Ok(Outcome::ExactPrefix.into())
            }
            Err(error) => classify(&error, folder, None, truth),
        }
    });
    Views {
        read: read_verdict,
        verify: verify_verdict,
        write: write_verdict,
    }
}

// ---------------------------------------------------------------------------------------------
// The test

struct Case {
    faults: Vec<Fault>,
    /// Within the design's claim (one or two faults).
    claimed: bool,
}

impl Case {
    fn describe(&self) -> String {
        self.faults
            .iter()
            .map(Fault::describe)
            .collect::<Vec<_>>()
            .join(", then ")
    }
}

#[derive(Default)]
struct Tally {
    cases: u64,
    by_view: BTreeMap<(&'static str, Outcome), u64>,
    by_kind: BTreeMap<String, BTreeMap<Outcome, u64>>,
    /// Cases with an old copy of a head-note file and a cut of sled's file, as read.
    old_and_cut: BTreeMap<Outcome, u64>,
    /// Cases where some view lost acknowledged records silently.
    silent_cases: u64,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, case: &Case, views: &Views) {
        self.cases += 1;
        let verdicts = [&views.read, &views.verify, &views.write];
        if verdicts
            .iter()
            .any(|verdict| matches!(verdict, Err(why) if why.contains("SILENT LOSS")))
        {
            self.silent_cases += 1;
        }
        for (name, verdict) in [
            ("read", &views.read),
            ("verify", &views.verify),
            ("write", &views.write),
        ] {
            match verdict {
                Ok(seen) => *self.by_view.entry((name, seen.outcome)).or_default() += 1,
                Err(why) => self
                    .failures
                    .push(format!("[{}] {name}: {why}", case.describe())),
            }
        }
        if let Ok(Seen { outcome, .. }) = views.read {
            let has = |kind: fn(&Fault) -> bool| case.faults.iter().any(kind);
            if has(|f| matches!(f, Fault::HeadOld(_))) && has(|f| matches!(f, Fault::TailCut(_))) {
                *self.old_and_cut.entry(outcome).or_default() += 1;
            }
            let mut kinds: Vec<String> = case.faults.iter().map(Fault::kind).collect();
            kinds.dedup();
            for kind in kinds {
                *self
                    .by_kind
                    .entry(kind)
                    .or_default()
                    .entry(outcome)
                    .or_default() += 1;
            }
        }
    }
}

#[test]
fn every_pair_of_faults_gives_the_acknowledged_prefix_or_names_the_extent() {
    let started = Instant::now();
    let root = scratch("faults");
    let truth = Arc::new(write_truth(&root));
    let written = started.elapsed();
    // The blob fault must not pass vacuously.
    assert!(
        !truth.blobs.is_empty(),
        "sled wrote no blob file: the blob fault would be vacuous"
    );
    let faults = faults(&truth);
    let mut cases = Vec::new();
    for (a, first) in faults.iter().enumerate() {
        cases.push(Case {
            faults: vec![first.clone()],
            claimed: true,
        });
        for second in &faults[a + 1..] {
            cases.push(Case {
                faults: vec![first.clone(), second.clone()],
                claimed: true,
            });
        }
    }
    // Outside the claim: both head files old, and the records cut.
    for cut in faults.iter().filter(|f| matches!(f, Fault::TailCut(_))) {
        cases.push(Case {
            faults: vec![Fault::HeadOld(0), Fault::HeadOld(1), cut.clone()],
            claimed: false,
        });
    }
    // Control: an undamaged copy reads, verifies and opens as written.
    let control = root.join("control");
    copy_folder(&truth.folder, &control);
    let views = check(&control, &truth);
    assert!(
        [&views.read, &views.verify, &views.write]
            .iter()
            .all(|verdict| matches!(verdict, Ok(seen) if seen.outcome == Outcome::ExactPrefix)),
        "an undamaged log reads as written: {views:?}"
    );
    let _ = std::fs::remove_dir_all(&control);
    let cases = Arc::new(cases);
    let next = Arc::new(AtomicUsize::new(0));
    let in_flight: Arc<Mutex<BTreeMap<usize, Instant>>> = Arc::default();
    let (sender, results) = mpsc::channel();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    for _ in 0..workers {
        let (cases, next, in_flight, truth, root, sender) = (
            Arc::clone(&cases),
            Arc::clone(&next),
            Arc::clone(&in_flight),
            Arc::clone(&truth),
            root.clone(),
            sender.clone(),
        );
        std::thread::spawn(move || loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(case) = cases.get(index) else { return };
            in_flight
                .lock()
                .expect("lock")
                .insert(index, Instant::now());
            let copy = root.join(format!("case{index}"));
            copy_folder(&truth.folder, &copy);
            for fault in &case.faults {
                fault.apply(&copy, &truth);
            }
            let views = check(&copy, &truth);
            let _ = std::fs::remove_dir_all(&copy);
            in_flight.lock().expect("lock").remove(&index);
            if sender.send((index, views)).is_err() {
                return;
            }
        });
    }
    drop(sender);
    let verbose = std::env::var_os("SYNCFOLD_FAULTS_VERBOSE").is_some();
    let mut claimed = Tally::default();
    let mut beyond = Tally::default();
    for _ in 0..cases.len() {
        let (index, views) = match results.recv_timeout(HANG) {
            Ok(result) => result,
            Err(_) => {
                let stuck: Vec<String> = in_flight
                    .lock()
                    .expect("lock")
                    .keys()
                    .map(|index| cases[*index].describe())
                    .collect();
                panic!("no case finished in {HANG:?}; in flight: {stuck:?}");
            }
        };
        let case = &cases[index];
        if verbose && case.faults.len() == 1 {
            let show = |verdict: &Verdict| match verdict {
                Ok(seen) => format!("{:?} {}", seen.outcome, shorten(&seen.message)),
                Err(why) => format!("FAILED {why}"),
            };
            println!(
                "single [{}]\n    read: {}\n    verify: {}\n    write: {}",
                case.describe(),
                show(&views.read),
                show(&views.verify),
                show(&views.write)
            );
        }
        if case.claimed {
            claimed.add(case, &views);
        } else {
            beyond.add(case, &views);
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    let elapsed = started.elapsed();

    println!(
        "log of {} records ({} acknowledged; early head copies name record {}), sled/db {} bytes (data to {}), {} blob files, sled snapshot files {:?}; written in {written:.1?}",
        truth.records.len(),
        truth.acknowledged,
        truth.old_seq,
        truth.db_len,
        truth.db_end,
        truth.blobs.len(),
        truth.sled_snapshots,
    );
    let single = faults.len();
    println!(
        "faults: {single} ({}); cases within the claim: {} ({single} single, {} pairs), each read, verified and opened by a writer",
        faults
            .iter()
            .fold(BTreeMap::<String, u64>::new(), |mut counts, fault| {
                *counts.entry(fault.kind()).or_default() += 1;
                counts
            })
            .iter()
            .map(|(kind, count)| format!("{kind} x{count}"))
            .collect::<Vec<_>>()
            .join(", "),
        claimed.cases,
        claimed.cases - single as u64,
    );
    let by_view = |tally: &Tally| {
        ["read", "verify", "write"]
            .iter()
            .map(|view| {
                let outcomes: Vec<String> = tally
                    .by_view
                    .iter()
                    .filter(|((name, _), _)| name == view)
                    .map(|((_, outcome), count)| format!("{outcome:?} {count}"))
                    .collect();
                format!("{view}: {}", outcomes.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    println!("outcomes within the claim: {}", by_view(&claimed));
    for (kind, outcomes) in &claimed.by_kind {
        println!("  cases with {kind} (as read): {outcomes:?}");
    }
    println!(
        "  cases with an old head-note copy and a cut of sled/db (as read): {:?}",
        claimed.old_and_cut
    );
    println!(
        "outside the claim ({} cases: both head files old and the records cut): {}",
        beyond.cases,
        by_view(&beyond)
    );
    for failure in &beyond.failures {
        println!("  outside the claim: {failure}");
    }
    let silent = claimed.silent_cases;
    let panics = claimed
        .failures
        .iter()
        .chain(&beyond.failures)
        .filter(|failure| failure.contains("PANIC"))
        .count();
    let counts = |view: &str| {
        let count = |wanted: &[Outcome]| -> u64 {
            wanted
                .iter()
                .map(|outcome| claimed.by_view.get(&(view, *outcome)).copied().unwrap_or(0))
                .sum()
        };
        format!(
            "{view}: exact prefix {}, head lost reported {}, errors naming the extent {} \
             (missing records {}, a damaged record {}, head lost {}, sled refused {}, sled I/O {})",
            count(&[Outcome::ExactPrefix]),
            count(&[Outcome::ReadHeadLostReported]),
            count(&[
                Outcome::MissingNamed,
                Outcome::RecordNamed,
                Outcome::HeadLostNamed,
                Outcome::StoreDamaged,
                Outcome::StoreIo
            ]),
            count(&[Outcome::MissingNamed]),
            count(&[Outcome::RecordNamed]),
            count(&[Outcome::HeadLostNamed]),
            count(&[Outcome::StoreDamaged]),
            count(&[Outcome::StoreIo]),
        )
    };
    println!(
        "summary: {} cases ({single} single faults, {} pairs) in {elapsed:.1?}; {}; {}; {}; \
         cases with a silent loss {silent}, panics {panics}, failure lines {}; outside the claim: \
         {} cases, {} with a silent loss",
        claimed.cases,
        claimed.cases - single as u64,
        counts("read"),
        counts("verify"),
        counts("write"),
        claimed.failures.len(),
        beyond.cases,
        beyond.silent_cases,
    );
    for failure in &claimed.failures {
        println!("  FAILED {failure}");
    }
    assert_eq!(silent, 0, "silent losses: {:#?}", claimed.failures);
    // Not vacuous: sled did lose acknowledged records without an error, and the note caught it,
    // also when one of its files was an old copy.
    assert!(
        claimed.old_and_cut.contains_key(&Outcome::MissingNamed),
        "no case had sled lose records past an old head-note copy: {:?}",
        claimed.old_and_cut
    );
    assert_eq!(panics, 0, "panics");
    assert!(
        claimed.failures.is_empty(),
        "every outcome is an exact prefix or names the extent: {:#?}",
        claimed.failures
    );
}
