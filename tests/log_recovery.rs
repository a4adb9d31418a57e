//! The log against crashes and damage, through the store API (no processes, no files).
//!
//! Generated histories are appended to a `Log` over a `MemoryStore`, flushed at generated points,
//! then the store "crashes" (losing what was not flushed, or tearing or corrupting the first lost
//! write) or is damaged on purpose (a flipped bit, zeroed, truncated, duplicated, reordered or
//! removed record, a newer format). Reopening must give the exact acknowledged-or-longer prefix of
//! what was written, or an error naming the first bad record: never garbage, never a panic. A
//! snapshot plus the tail must fold to the same state as the whole log, for any cut point.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::{BTreeMap, BTreeSet};
use syncfold::core::*;
use syncfold::log::*;
use syncfold::script::Player;
use syncfold::testkit::generate::{script, HistoryShape};

fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/log_recovery.txt",
    )));
    config
}

fn history(script: &syncfold::script::Script) -> Vec<Envelope> {
    let mut player = Player::new(Actor::from_name("proptest"), Timestamp(0), 3);
    player
        .play_script(script)
        .expect("generated histories play");
    player.log().to_vec()
}

fn open(
    store: MemoryStore,
    snapshot_every: u64,
) -> Result<(Log<MemoryStore>, OpenReport), LogError> {
    let options = LogOptions {
        snapshot_every,
        ..LogOptions::default()
    };
    Log::open(store, options, Timestamp(9_999))
}

fn state_hash(state: &State) -> Hash {
    codec::state_hash(state).expect("state encodes")
}

/// Appends `events` to a fresh log, flushing after every index in `flush_after`.
fn write(
    events: &[Envelope],
    flush_after: &BTreeSet<usize>,
    snapshot_every: u64,
) -> (MemoryStore, u64) {
    let (mut log, _) = open(MemoryStore::new(), snapshot_every).expect("empty log opens");
    let mut acknowledged = 0;
    for (index, envelope) in events.iter().enumerate() {
        log.append(envelope).expect("a played history appends");
        if flush_after.contains(&index) {
            acknowledged = log.flush().expect("flush").seq();
        }
    }
    (log.into_store(), acknowledged)
}

/// Every watermark a history committed, per (connector, partition).
fn committed_watermarks(
    events: &[Envelope],
    upto: usize,
) -> BTreeMap<PartitionName, BTreeSet<Watermark>> {
    let mut state = State::new();
    let mut seen: BTreeMap<PartitionName, BTreeSet<Watermark>> = BTreeMap::new();
    for envelope in &events[..upto] {
        state.apply(state.last_seq() + 1, envelope).expect("valid");
        if let Event::WatermarkCommitted { run, watermark } = &envelope.event {
            let partition = state.run(*run).expect("run").partition.clone();
            seen.entry(partition).or_default().insert(watermark.clone());
        }
    }
    seen
}

fn crash_mode() -> impl Strategy<Value = Crash> {
    prop_oneof![
        Just(Crash::DropUnflushed),
        Just(Crash::TearLastWrite),
        Just(Crash::CorruptLastWrite),
    ]
}

proptest! {
    #![proptest_config(config(300))]

    /// R13: after a crash at any point, reopening yields a prefix of what was appended that holds
    /// every acknowledged record; the chain verifies; each recovered committed watermark had been
    /// committed; runs in flight are closed as interrupted.
    #[test]
    fn a_crash_leaves_an_acknowledged_prefix(
        script in script(HistoryShape::default()),
        flushes in proptest::collection::btree_set(0usize..200, 0..12),
        crash in crash_mode(),
        snapshot_every in prop_oneof![Just(0u64), 1u64..40],
    ) {
        let events = history(&script);
        let (mut store, acknowledged) = write(&events, &flushes, snapshot_every);
        store.crash(crash);
        let stored = store.last_seq().expect("last");
        let (log, report) = open(store, snapshot_every).expect("a crashed log reopens");
        prop_assert_eq!(report.acknowledged, acknowledged);
        let written = stored - u64::from(report.torn_record_removed.is_some());
        prop_assert!(written >= acknowledged, "every acknowledged record survives");
        prop_assert!(written as usize <= events.len());
        // The surviving records are exactly the first `written` events, byte for byte.
        let mut survivors = Vec::new();
        log.store().scan(1, &mut |seq, bytes| {
            if seq <= written {
                survivors.push(bytes.to_vec());
            }
            std::ops::ControlFlow::Continue(())
        }).expect("scan");
        prop_assert_eq!(survivors.len() as u64, written);
        for (index, bytes) in survivors.iter().enumerate() {
            let payload = &bytes[record::HEADER_BYTES..];
            prop_assert_eq!(&codec::decode_event(payload).expect("decodes"), &events[index]);
        }
        // Runs in flight at the crash, and only those, are closed as interrupted.
        let before = State::fold(&events[..written as usize]).expect("prefix folds");
        let in_flight: Vec<RunId> = before.open_runs().map(|(run, _)| run).collect();
        prop_assert_eq!(&report.interrupted, &in_flight);
        for run in &report.interrupted {
            prop_assert_eq!(log.state().run(*run).and_then(|r| r.status), Some(RunStatus::Interrupted));
        }
        prop_assert!(log.state().open_runs().next().is_none());
        // The recovered committed watermarks had all been committed, never merely proposed.
        let committed = committed_watermarks(&events, written as usize);
        for (_, connector_state) in log.state().connectors() {
            for (name, partition) in connector_state.partitions() {
                if let Some(watermark) = partition.committed_watermark() {
                    prop_assert!(committed.get(name).is_some_and(|set| set.contains(watermark)),
                        "partition {} recovered watermark {} that was never committed", name, watermark);
                }
            }
        }
        let verified = verify(log.store()).expect("the recovered log verifies");
        prop_assert_eq!(verified.records, log.last_seq());
        prop_assert_eq!(verified.torn_tail, None);
    }

    /// R14: a snapshot plus the tail folds to the same state as the whole log, for any cut point.
    #[test]
    fn snapshot_and_tail_equal_the_full_fold(
        script in script(HistoryShape::default()),
        cut in any::<prop::sample::Index>(),
    ) {
        let events = history(&script);
        let cut = cut.index(events.len()) as u64 + 1;
        let all: BTreeSet<usize> = [events.len() - 1].into();
        let (mut store, _) = write(&events, &all, 0);
        let at_cut = State::fold(&events[..cut as usize]).expect("prefix folds");
        let record_at_cut = store.get(cut).expect("get").expect("record");
        let bytes = snapshot::encode(cut, &record::hash(&record_at_cut), &at_cut).expect("encodes");
        store.put_snapshot(cut, &bytes).expect("put");
        let (log, report) = open(store, 0).expect("opens from the snapshot");
        prop_assert_eq!(report.snapshot, Some(cut));
        prop_assert_eq!(report.records_folded, events.len() as u64 - cut);
        let full = State::fold(&events).expect("full fold");
        prop_assert_eq!(state_hash(log.state()), state_hash(&full));
        let verified = verify(log.store()).expect("verifies");
        prop_assert_eq!(verified.snapshots_valid, vec![cut]);
    }
}

/// A flushed log of the demo history, and its events.
fn demo_store() -> (MemoryStore, Vec<Envelope>) {
    let events = history(&syncfold::demo::week());
    let all: BTreeSet<usize> = [events.len() - 1].into();
    let (store, acknowledged) = write(&events, &all, 0);
    assert_eq!(acknowledged, events.len() as u64);
    (store, events)
}

fn expect_corrupt_at(store: MemoryStore, seq: Seq, class: &str) {
    match open(store.clone(), 0) {
        Err(LogError::Corrupt {
            seq: found,
            valid_up_to,
            ..
        }) => {
            assert_eq!(found, seq, "{class}: the first bad record is named");
            assert_eq!(valid_up_to, seq - 1, "{class}");
        }
        Err(LogError::MissingAcknowledged { from, .. }) => {
            assert_eq!(from, seq, "{class}: the missing records are named");
        }
        Err(other) => panic!("{class}: unexpected error {other}"),
        Ok(_) => panic!("{class}: damage at record {seq} was accepted"),
    }
    let verified = verify(&store);
    assert!(verified.is_err(), "{class}: verify must fail too");
}

/// Every class of damage, at every record of a real history: an error naming the record.
#[test]
fn damaged_records_are_named_never_accepted() {
    let (store, events) = demo_store();
    let last = events.len() as u64;
    let mut tried = BTreeMap::<&str, u64>::new();
    for seq in 1..=last {
        let bytes = store.clone().records_mut()[&seq].clone();
        for position in [0, 5, 9, 13, 20, 40, 63, bytes.len() / 2, bytes.len() - 1] {
            let mut damaged = store.clone();
            damaged.records_mut().get_mut(&seq).expect("record")[position] ^= 0x04;
            expect_corrupt_at(damaged, seq, "flip");
            *tried.entry("flipped bit").or_default() += 1;
        }
        let mut zeroed = store.clone();
        zeroed.records_mut().get_mut(&seq).expect("record").fill(0);
        expect_corrupt_at(zeroed, seq, "zeroed");
        *tried.entry("zeroed record").or_default() += 1;

        for keep in [0, 11, 64, bytes.len() - 1] {
            let mut truncated = store.clone();
            truncated
                .records_mut()
                .get_mut(&seq)
                .expect("record")
                .truncate(keep);
            expect_corrupt_at(truncated, seq, "truncated");
            *tried.entry("truncated record").or_default() += 1;
        }
        if seq < last {
            let mut duplicated = store.clone();
            let copy = duplicated.records_mut()[&seq].clone();
            duplicated.records_mut().insert(seq + 1, copy);
            expect_corrupt_at(duplicated, seq + 1, "duplicated");
            *tried.entry("duplicated record").or_default() += 1;

            let mut reordered = store.clone();
            let next = reordered.records_mut()[&(seq + 1)].clone();
            let this = reordered.records_mut()[&seq].clone();
            reordered.records_mut().insert(seq, next);
            reordered.records_mut().insert(seq + 1, this);
            expect_corrupt_at(reordered, seq, "reordered");
            *tried.entry("reordered records").or_default() += 1;

            let mut removed = store.clone();
            removed.records_mut().remove(&seq);
            expect_corrupt_at(removed, seq, "removed");
            *tried.entry("removed record").or_default() += 1;
        }
    }
    // Losing the acknowledged tail (what sled can do silently) is named as missing records.
    for keep in [0, 1, last / 2, last - 1] {
        let mut lost = store.clone();
        lost.records_mut().retain(|seq, _| *seq <= keep);
        match open(lost, 0) {
            Err(LogError::MissingAcknowledged { from, to }) => {
                assert_eq!((from, to), (keep + 1, last));
            }
            other => panic!("a lost tail must be named, got {other:?}"),
        }
        *tried.entry("lost acknowledged tail").or_default() += 1;
    }
    let total: u64 = tried.values().sum();
    println!("corruptions tried: {total} {tried:?}");
    assert!(total > 1000);
}

/// A torn or corrupted last write that was never acknowledged is a crash, not damage: it is
/// removed on open and the log goes on from the acknowledged prefix.
#[test]
fn a_torn_unacknowledged_tail_is_removed() {
    for crash in [
        Crash::TearLastWrite,
        Crash::CorruptLastWrite,
        Crash::DropUnflushed,
    ] {
        let events = history(&syncfold::demo::week());
        let flushed: BTreeSet<usize> = [29].into();
        let (mut store, acknowledged) = write(&events, &flushed, 0);
        assert_eq!(acknowledged, 30);
        store.crash(crash);
        let (log, report) = open(store, 0).expect("reopens");
        if crash != Crash::DropUnflushed {
            assert_eq!(report.torn_record_removed, Some(31), "{crash:?}");
        }
        assert_eq!(report.acknowledged, 30);
        let expected = State::fold(&events[..30]).expect("prefix");
        assert_eq!(
            report.interrupted,
            expected.open_runs().map(|(run, _)| run).collect::<Vec<_>>()
        );
        assert!(log.last_seq() >= 30);
    }
}

/// A record from a newer format is refused with an upgrade message, not a decode failure.
#[test]
fn a_newer_format_asks_for_an_upgrade() {
    let (mut store, events) = demo_store();
    let last = events.len() as u64;
    let previous = record::hash(&store.records_mut()[&last]);
    let mut newer = Vec::new();
    record::encode(last + 1, &previous, b"from the future", &mut newer);
    newer[4..6].copy_from_slice(&2u16.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&newer[..8]);
    crc.update(&newer[12..]);
    let crc = crc.finalize();
    newer[8..12].copy_from_slice(&crc.to_le_bytes());
    store.records_mut().insert(last + 1, newer);
    store.flush().expect("flush");
    let error = open(store, 0).expect_err("a newer record is refused");
    assert!(
        matches!(error, LogError::NewerFormat { version: 2, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("written by a newer syncfold, format 2: upgrade"),
        "{error}"
    );
}

/// Decoding never trusts a length: nine bytes claiming a 1 TiB string are an error, not an
/// allocation that aborts the process.
#[test]
fn decoding_bounds_every_length() {
    let mut claim = vec![0u8];
    claim.push(0xFF); // varint marker for a u64 length
    claim.extend_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(codec::decode_event(&claim).is_err());
    let mut state_claim = vec![0xFF];
    state_claim.extend_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(codec::decode_state(&state_claim).is_err());
    // Trailing bytes after a valid event are refused too.
    let events = history(&syncfold::demo::week());
    let mut bytes = codec::encode_event(&events[0]).expect("encodes");
    assert_eq!(codec::decode_event(&bytes).expect("decodes"), events[0]);
    bytes.push(0);
    assert!(codec::decode_event(&bytes).is_err());
}

/// A snapshot that fails its checks is skipped with the reason, never trusted.
#[test]
fn a_damaged_snapshot_is_skipped() {
    let events = history(&syncfold::demo::week());
    let flushes: BTreeSet<usize> = [19, 39, events.len() - 1].into();
    let (mut store, _) = write(&events, &flushes, 10);
    let seqs = store.snapshot_seqs().expect("seqs");
    assert_eq!(seqs.len(), 2, "two snapshots kept: {seqs:?}");
    let newest = *seqs.last().expect("a snapshot");
    let bytes = store.snapshots_mut().get_mut(&newest).expect("snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let (log, report) = open(store, 0).expect("opens from the older snapshot");
    assert_eq!(report.snapshot, Some(seqs[0]));
    assert_eq!(report.snapshots_skipped.len(), 1);
    assert_eq!(report.snapshots_skipped[0].0, newest);
    let full = State::fold(&events).expect("fold");
    assert_eq!(state_hash(log.state()), state_hash(&full));
    let verified = verify(log.store()).expect("records are fine");
    assert_eq!(verified.snapshots_invalid.len(), 1);
}

/// A rule violation in a stored record is named by verify and by open.
#[test]
fn a_record_breaking_a_rule_is_named() {
    let events = history(&syncfold::demo::week());
    let (mut log, _) = open(MemoryStore::new(), 0).expect("opens");
    for envelope in &events[..10] {
        log.append(envelope).expect("appends");
    }
    // Appending through the log refuses the bad event and stores nothing.
    let forged = Envelope::new(
        Timestamp(0),
        Actor::from_name("forger"),
        Event::PageRead {
            run: RunId(99),
            page: 1,
            changes: Vec::new(),
            proposed_watermark: None,
        },
    );
    let before = log.last_seq();
    assert!(matches!(log.append(&forged), Err(LogError::Rule(_))));
    assert_eq!(log.last_seq(), before);
    assert_eq!(log.store().last_seq().expect("last"), before);
    // Written behind the log's back, it is caught on open.
    let mut store = log.into_store();
    let previous = record::hash(&store.records_mut()[&before]);
    let mut bytes = Vec::new();
    record::encode(
        before + 1,
        &previous,
        &codec::encode_event(&forged).expect("encodes"),
        &mut bytes,
    );
    store.records_mut().insert(before + 1, bytes);
    match open(store.clone(), 0) {
        Err(LogError::Rule(violation)) => {
            assert_eq!(violation.seq, before + 1);
            assert_eq!(violation.rule, Rule::R15);
        }
        other => panic!("expected a rule violation, got {other:?}"),
    }
    assert!(matches!(verify(&store), Err(LogError::Rule(_))));
}

/// R13: ending a run through `execute` is a commit point: the run survives a crash right after,
/// while pages not yet flushed do not.
#[test]
fn a_run_is_durable_once_execute_ends_it() {
    let actor = Actor::from_name("engine");
    let (mut log, _) = open(MemoryStore::new(), 0).expect("opens");
    let start = Command::StartRun {
        connector: ConnectorName::from("hr"),
        partition: PartitionName::from("people"),
        kind: RunKind::DeltaImport,
        settings: Settings::default(),
    };
    let page = |mark: &str| Command::RecordPage {
        run: RunId(1),
        page: Page {
            watermark: Some(Watermark::from_text(mark)),
            ..Page::default()
        },
    };
    log.execute(&start, Timestamp(1), &actor).expect("start");
    log.execute(page("A"), Timestamp(2), &actor).expect("page");
    assert_eq!(
        log.acknowledged(),
        0,
        "pages are group-committed, not flushed one by one"
    );
    log.execute(&Command::EndRun { run: RunId(1) }, Timestamp(3), &actor)
        .expect("end");
    let durable = log.durable().expect("ending a run flushed");
    assert!(log.finished_run(RunId(1), &durable).is_some());
    log.execute(&start, Timestamp(4), &actor)
        .expect("second run");
    log.execute(
        &Command::RecordPage {
            run: RunId(2),
            page: Page::default(),
        },
        Timestamp(5),
        &actor,
    )
    .expect("page");
    assert!(
        log.finished_run(RunId(2), &durable).is_none(),
        "an open run is not finished"
    );
    let mut store = log.into_store();
    store.crash(Crash::DropUnflushed);
    let (log, report) = open(store, 0).expect("reopens");
    assert!(
        report.interrupted.is_empty(),
        "run 2's start was never flushed"
    );
    assert_eq!(log.state().runs().len(), 1);
    let run = log.state().run(RunId(1)).expect("run 1 survived");
    assert_eq!(run.status, Some(RunStatus::Success));
    assert_eq!(run.committed_watermark, Some(Watermark::from_text("A")));
}

/// A store read on the caller's thread only: `records_from` is left at its default, so a walk
/// over it takes the sequential path (`RecordStore::scan`) that the PostgreSQL store and a
/// reader beside a writer take, while the `MemoryStore` itself takes the overlapped one.
struct ScanOnly(MemoryStore);

impl RecordStore for ScanOnly {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        self.0.append(seq, record)
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        self.0.flush()
    }
    fn last_seq(&self) -> Result<Seq, StoreError> {
        self.0.last_seq()
    }
    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.0.scan(from, visit)
    }
    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(seq)
    }
    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        self.0.discard_from(from)
    }
    fn read_head(&self) -> Result<HeadNote, StoreError> {
        self.0.read_head()
    }
    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        self.0.write_head(head)
    }
    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        self.0.put_snapshot(seq, bytes)
    }
    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        self.0.snapshot_seqs()
    }
    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get_snapshot(seq)
    }
    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        self.0.remove_snapshot(seq)
    }
}

/// What reading a store gives, comparable across the two walks.
fn outcome(store: &dyn RecordStore) -> String {
    match syncfold::log::read(store) {
        Ok((state, report)) => format!("{:?} {report:?}", state_hash(&state)),
        Err(error) => format!("error: {error}"),
    }
}

/// Replay reads and checks records on a second thread while it folds (the overlapped walk): on
/// every kind of damage at every record of the demo week, and on the intact log, it gives
/// exactly what the sequential walk gives — the same state, or the same error naming the same
/// record.
///
/// A snapshot at the middle of the week makes the open check the chain below it on a second
/// thread while it decodes the snapshot (`chain_marks`), so damage below, at and above the
/// snapshot is compared too.
#[test]
fn the_overlapped_and_the_sequential_walk_agree() {
    let (mut store, events) = demo_store();
    let last = events.len() as u64;
    let cut = last / 2;
    let at_cut = State::fold(&events[..cut as usize]).expect("prefix folds");
    let record_at_cut = store.get(cut).expect("get").expect("record");
    let bytes =
        snapshot::encode(cut, &record::hash(&record_at_cut), &at_cut).expect("snapshot encodes");
    store.put_snapshot(cut, &bytes).expect("put");
    store.flush().expect("flush");
    assert!(outcome(&store).contains(&format!("snapshot: Some({cut})")));
    let mut compared = 0;
    let mut agree = |damaged: MemoryStore| {
        let overlapped = outcome(&damaged);
        let sequential = outcome(&ScanOnly(damaged));
        assert_eq!(overlapped, sequential);
        compared += 1;
        overlapped
    };
    assert!(!agree(store.clone()).starts_with("error"));
    for seq in 1..=last {
        let bytes = store.clone().records_mut()[&seq].clone();
        for position in [0, 9, 20, bytes.len() / 2, bytes.len() - 1] {
            let mut damaged = store.clone();
            damaged.records_mut().get_mut(&seq).expect("record")[position] ^= 0x04;
            assert!(agree(damaged).starts_with("error"));
        }
        let mut truncated = store.clone();
        truncated
            .records_mut()
            .get_mut(&seq)
            .expect("record")
            .truncate(40);
        agree(truncated);
        let mut removed = store.clone();
        removed.records_mut().remove(&seq);
        agree(removed);
    }
    assert!(compared > 7 * last as usize);
}
