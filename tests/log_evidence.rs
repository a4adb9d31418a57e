//! The log as evidence, through the library: reading changes nothing and reports what a writer
//! would recover; only a writer recovers, and records each step as an event; a lost head note is
//! reported and refused until an administrator accepts the records present; damage below a
//! snapshot is found by every open; a writer serves its acknowledged records to readers of other
//! processes over its socket.
//!
//! Histories come from the demo week played through the core (`Player`), appended to a `Log`
//! over a `MemoryStore` (crashes simulated by the store) or a sled folder (for the socket).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use syncfold::core::*;
use syncfold::log::*;
use syncfold::script::Player;

fn history() -> Vec<Envelope> {
    let mut player = Player::new(Actor::from_name("story"), Timestamp(0), 3);
    player
        .play_script(&syncfold::demo::week())
        .expect("the demo plays");
    player.log().to_vec()
}

fn options(snapshot_every: u64) -> LogOptions {
    LogOptions {
        snapshot_every,
        ..LogOptions::default()
    }
}

/// Appends `events` to a fresh log over `store`, flushing after every index in `flush_after`.
fn write<S: RecordStore>(
    store: S,
    events: &[Envelope],
    flush_after: &BTreeSet<usize>,
    snapshot_every: u64,
) -> Log<S> {
    let (mut log, _) = Log::open(store, options(snapshot_every), Timestamp(0)).expect("opens");
    for (index, envelope) in events.iter().enumerate() {
        log.append(envelope).expect("appends");
        if flush_after.contains(&index) {
            log.flush().expect("flush");
        }
    }
    log
}

/// Every record of a store, for comparing stores byte for byte.
fn records<S: RecordStore + ?Sized>(store: &S) -> Vec<(Seq, Vec<u8>)> {
    let mut all = Vec::new();
    store
        .scan(1, &mut |seq, bytes| {
            all.push((seq, bytes.to_vec()));
            ControlFlow::Continue(())
        })
        .expect("scan");
    all
}

fn event_at(log: &Log<MemoryStore>, seq: Seq) -> Event {
    let bytes = log.store().get(seq).expect("get").expect("present");
    let checked = record::check(
        &bytes,
        seq,
        &record::hash(&log.store().get(seq - 1).expect("get").expect("present")),
    )
    .expect("an intact record");
    codec::decode_event(checked.payload).expect("decodes").event
}

#[test]
fn reading_changes_nothing_and_a_writer_records_what_it_recovered() {
    let events = history();
    // Acknowledged up to 30 (mid-week, a run in flight), then a crash tears record 31.
    let flushed: BTreeSet<usize> = [29].into();
    let mut store = write(MemoryStore::new(), &events[..40], &flushed, 0).into_store();
    store.crash(Crash::TearLastWrite);
    let before = (records(&store), store.read_head().expect("head"));

    let (state, report) = read(&store).expect("a crashed log reads");
    assert_eq!(report.torn_tail, Some(31));
    assert_eq!(report.acknowledged, Some(30));
    assert_eq!(report.head_lost, None);
    let expected = State::fold(&events[..30]).expect("prefix");
    assert_eq!(
        codec::state_hash(&state).ok(),
        codec::state_hash(&expected).ok()
    );
    let open: Vec<RunId> = expected.open_runs().map(|(run, _)| run).collect();
    assert!(!open.is_empty(), "the story needs a run in flight");
    assert_eq!(report.in_flight, open);
    verify(&store).expect("a torn unacknowledged tail is a valid prefix");
    assert_eq!(
        (records(&store), store.read_head().expect("head")),
        before,
        "reading and verifying leave the store as they found it"
    );

    // A writer recovers, and the log says what it did.
    let (log, opened) = Log::open(store, options(0), Timestamp(7)).expect("reopens");
    assert_eq!(opened.torn_record_removed, Some(31));
    assert_eq!(opened.interrupted, open);
    match event_at(&log, 31) {
        Event::TornRecordDiscarded { seq, length } => {
            assert_eq!(seq, 31);
            assert!(length > 0);
        }
        other => panic!("expected the discard to be recorded at 31, got {other:?}"),
    }
    let interrupted: Vec<RunId> = (32..=log.last_seq())
        .filter_map(|seq| match event_at(&log, seq) {
            Event::RunEnded {
                run,
                status: RunStatus::Interrupted,
                ..
            } => Some(run),
            _ => None,
        })
        .collect();
    assert_eq!(
        interrupted, open,
        "each run in flight is closed by an event"
    );
    assert_eq!(log.acknowledged(), log.last_seq(), "recovery is durable");
    let store = log.into_store();
    verify(&store).expect("the recovered log verifies");
    // A writer that reopens finds nothing more to recover.
    let (_, again) = Log::open(store, options(0), Timestamp(8)).expect("reopens");
    assert_eq!(again.torn_record_removed, None);
    assert!(again.interrupted.is_empty());
}

#[test]
fn a_lost_head_note_is_reported_and_refused_until_accepted() {
    let events = history();
    let flushed: BTreeSet<usize> = (0..events.len()).collect();
    let intact = write(MemoryStore::new(), &events, &flushed, 0).into_store();
    let last = events.len() as Seq;
    for lost in [
        HeadNote::Lost {
            why: "HEAD holds only zeros; HEAD.mirror is empty".to_owned(),
        },
        HeadNote::Absent,
    ] {
        let mut store = intact.clone();
        store.set_head(lost);
        let (_, report) = read(&store).expect("readers still see the records present");
        assert!(report.head_lost.is_some());
        assert_eq!(report.acknowledged, None);
        match verify(&store) {
            Err(LogError::HeadLost { records, .. }) => assert_eq!(records, last),
            other => panic!("verify must fail on a lost head note, got {other:?}"),
        }
        let message = verify(&store).expect_err("fails").to_string();
        assert!(
            message.contains(&format!("records 1 to {last}")),
            "{message}"
        );
        assert!(message.contains("accept-records"), "{message}");
        match Log::open(store.clone(), options(0), Timestamp(1)) {
            Err(LogError::HeadLost { records, .. }) => assert_eq!(records, last),
            other => panic!("a writer must refuse a lost head note, got {other:?}"),
        }
        let administrator = Actor::from_name("alice");
        let (log, report) = Log::accept_present_records(
            store,
            options(0),
            Timestamp(2),
            &administrator,
            "no backup holds more",
        )
        .expect("an administrator accepts the records present");
        assert_eq!(report.accepted_at, Some(last + 1));
        match event_at(&log, last + 1) {
            Event::PresentRecordsAccepted { through, reason } => {
                assert_eq!(through, last);
                assert_eq!(reason, "no backup holds more");
            }
            other => panic!("expected the acceptance at {}, got {other:?}", last + 1),
        }
        assert_eq!(log.acknowledged(), log.last_seq());
        let store = log.into_store();
        let verified = verify(&store).expect("accepted, the log verifies again");
        assert_eq!(verified.acknowledged, store.last_seq().expect("last"));
    }
    assert!(matches!(
        Log::accept_present_records(
            intact,
            options(0),
            Timestamp(3),
            &Actor::from_name("alice"),
            "why not"
        ),
        Err(LogError::NothingToAccept)
    ));
}

#[test]
fn damage_below_the_snapshot_is_found_by_every_open() {
    let events = history();
    let flushed: BTreeSet<usize> = (0..events.len()).step_by(5).collect();
    let mut store = write(MemoryStore::new(), &events, &flushed, 10).into_store();
    let snapshots = store.snapshot_seqs().expect("snapshots");
    let newest = *snapshots.last().expect("the story takes snapshots");
    assert!(newest > 5);
    // One byte of record 3, long before the newest snapshot.
    if let Some(bytes) = store.records_mut().get_mut(&3) {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
    }
    for (what, outcome) in [
        ("read", read(&store).map(|_| ())),
        (
            "replay",
            replay(&store, newest, None, &mut |_, _, _| {
                ControlFlow::Continue(())
            })
            .map(|_| ()),
        ),
        ("verify", verify(&store).map(|_| ())),
        (
            "open",
            Log::open(store.clone(), options(10), Timestamp(1)).map(|_| ()),
        ),
    ] {
        match outcome {
            Err(LogError::Corrupt {
                seq, valid_up_to, ..
            }) => {
                assert_eq!((seq, valid_up_to), (3, 2), "{what}")
            }
            other => panic!("{what}: damage below the snapshot must be found, got {other:?}"),
        }
    }
}

#[test]
fn an_event_of_format_two_needs_an_envelope_of_format_two() {
    let event = Event::TornRecordDiscarded { seq: 1, length: 10 };
    let envelope = Envelope::new(Timestamp(0), Actor::from_name("x"), event.clone());
    assert_eq!(envelope.version, 2);
    let ordinary = Envelope::new(
        Timestamp(0),
        Actor::from_name("x"),
        Event::AdminActionRecorded {
            connector: ConnectorName::from("hr"),
            partition: None,
            action: AdminAction::Resume,
        },
    );
    assert_eq!(ordinary.version, 1, "old events keep format 1");
    let mislabelled = Envelope {
        version: 1,
        ..envelope
    };
    let refused = State::new().apply(1, &mislabelled).expect_err("refused");
    assert_eq!(refused.rule, Rule::R12);
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("syncfold-evidence-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_writer_serves_its_acknowledged_records_and_nothing_more() {
    let events = history();
    let folder = Scratch::new("served");
    let flushed: BTreeSet<usize> = [19, 39].into();
    let store = SledStore::open(&folder.0).expect("a new log");
    let log = write(store, &events[..50], &flushed, 8);
    assert_eq!(log.acknowledged(), 40);
    assert_eq!(log.last_seq(), 50);
    let announced = announcement(&folder.0).expect("a writer announces itself");
    assert_eq!(announced.pid, std::process::id());

    let reader = open_for_reading(&folder.0).expect("readable beside its writer");
    assert_eq!(reader.holder(), Some(std::process::id()));
    assert_eq!(
        reader.last_seq().expect("last"),
        40,
        "only acknowledged records"
    );
    let (state, report) = read(&reader).expect("reads");
    assert_eq!(report.acknowledged, Some(40));
    let expected = State::fold(&events[..40]).expect("prefix");
    assert_eq!(
        codec::state_hash(&state).ok(),
        codec::state_hash(&expected).ok()
    );
    assert!(reader
        .snapshot_seqs()
        .expect("snapshots")
        .iter()
        .all(|seq| *seq <= 40));
    // A scan stopped early leaves its answer unread; the next request must still be answered.
    let mut seen = 0;
    reader
        .scan(1, &mut |_, _| {
            seen += 1;
            ControlFlow::Break(())
        })
        .expect("scan");
    assert_eq!(seen, 1);
    assert_eq!(
        reader.get(40).expect("get"),
        log.store().get(40).expect("get"),
        "the served record is the stored one"
    );
    verify(&reader).expect("verifies through the writer");
    drop(reader);

    drop(log);
    assert!(
        announcement(&folder.0).is_none(),
        "the announcement goes with the writer"
    );
    let copy = open_for_reading(&folder.0).expect("readable without a writer");
    assert_eq!(copy.holder(), None);
    // Without a writer the reader sees every record stored, acknowledged or not.
    assert_eq!(copy.last_seq().expect("last"), 50);
}

/// A writer whose folder is removed under it (by another program, by hand) reports nothing more
/// as durable: its next flush fails, naming what happened.
#[test]
fn a_writer_whose_folder_was_removed_acknowledges_nothing_more() {
    let events = history();
    let folder = Scratch::new("removed");
    let store = SledStore::open(&folder.0).expect("a new log");
    let mut log = write(store, &events[..10], &[9].into(), 0);
    assert_eq!(log.acknowledged(), 10);
    std::fs::remove_dir_all(&folder.0).expect("removed under the writer");
    for envelope in &events[10..12] {
        log.append(envelope).expect("appends to sled's open files");
    }
    let error = log
        .flush()
        .expect_err("nothing is acknowledged into a removed folder");
    assert!(
        error
            .to_string()
            .contains("was removed while this process was writing it"),
        "{error}"
    );
    assert_eq!(log.acknowledged(), 10);
}

/// With the head note lost, a bad last record cannot be told from a write cut by a crash: it is
/// damage to readers and to `verify`, and accepting the present records discards it, saying so.
#[test]
fn a_bad_last_record_of_a_log_without_its_note_is_damage_until_accepted() {
    let events = history();
    let flushed: BTreeSet<usize> = (0..events.len()).collect();
    let mut store = write(MemoryStore::new(), &events, &flushed, 0).into_store();
    let last = events.len() as Seq;
    if let Some(bytes) = store.records_mut().get_mut(&last) {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x08;
    }
    store.set_head(HeadNote::Lost {
        why: "both copies deleted".to_owned(),
    });
    for (what, outcome) in [
        ("read", read(&store).map(|_| ())),
        ("verify", verify(&store).map(|_| ())),
    ] {
        match outcome {
            Err(LogError::Corrupt { seq, .. }) => assert_eq!(seq, last, "{what}"),
            other => panic!("{what}: expected damage at {last}, got {other:?}"),
        }
    }
    let (log, report) = Log::accept_present_records(
        store,
        options(0),
        Timestamp(5),
        &Actor::from_name("alice"),
        "the last record is beyond saving",
    )
    .expect("accepting the present records discards the bad last one");
    assert_eq!(report.torn_record_removed, Some(last));
    assert_eq!(report.accepted_at, Some(last + 1));
    assert!(matches!(
        event_at(&log, last),
        Event::TornRecordDiscarded { seq, .. } if seq == last
    ));
    verify(&log.into_store()).expect("verifies once accepted");
}

/// A note that was written and cannot be read is lost even when no record is left: the records
/// were there once, so `verify` fails and a writer refuses to start over silently.
#[test]
fn a_lost_note_over_no_records_is_still_lost() {
    let mut store = MemoryStore::new();
    store.set_head(HeadNote::Lost {
        why: "HEAD holds only zeros".to_owned(),
    });
    assert!(matches!(
        verify(&store),
        Err(LogError::HeadLost { records: 0, .. })
    ));
    let message = verify(&store).expect_err("fails").to_string();
    assert!(message.contains("holds no records"), "{message}");
    assert!(matches!(
        Log::open(store, options(0), Timestamp(1)),
        Err(LogError::HeadLost { .. })
    ));
}
