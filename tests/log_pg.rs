//! The log in PostgreSQL (SPEC §10), against a real throwaway server.
//!
//! Each story starts a cluster of its own (`tests/common/pg.rs`: `initdb` in a temporary folder,
//! a server on a Unix socket there, run as `nobody` when the tests run as root), or uses the
//! server `SYNCFOLD_TEST_PG_URL` names. The stories: the demo week written through `Log` into
//! PostgreSQL and into sled gives the same records byte for byte, the same state, and verifies on
//! both; two logs in one database stay apart; what was flushed survives the writer's session and
//! what was not dies with it, and the log recovers as sled's does; one writer at a time — a
//! second fails at once naming the first, a writer whose session ended or that was replaced is
//! fenced and stores nothing more, and a waiting writer takes over with the next epoch; a reader
//! beside a writer never sees a gap nor a record that later disappears; a long flush and a long
//! scan cross their batch and page seams intact; a password shows nowhere; and a store on an
//! async runtime's thread says so instead of panicking. Sessions are ended with `pg_terminate_backend` from a side session, as a dead
//! network or a killed process would end them.

#[path = "common/pg.rs"]
mod pg;

use pg::{PgServer, GUARDED_PASSWORD, GUARDED_USER};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use syncfold::core::*;
use syncfold::log::*;
use syncfold::script::Player;

/// The demo week's events, grouped by command (a log flushes after each command that needs it;
/// here after every one, as often as an engine may).
fn demo_commands() -> Vec<Vec<Envelope>> {
    let mut player = Player::new(Actor::from_name("demo"), Timestamp(1_767_225_600_000), 1000);
    player
        .play_script(&syncfold::demo::week())
        .expect("the demo plays");
    player.commands().map(<[Envelope]>::to_vec).collect()
}

/// Small enough that the demo takes and prunes snapshots, so they travel through the store too.
fn options() -> LogOptions {
    LogOptions {
        snapshot_every: 40,
        ..LogOptions::default()
    }
}

fn open_pg(url: &PgUrl) -> Log<PgStore> {
    let store = PgStore::open(url, PgOpen::default()).expect("the PostgreSQL log opens");
    Log::open(store, options(), Timestamp(1))
        .expect("the log opens")
        .0
}

fn reader(url: &PgUrl) -> PgStore {
    PgStore::open_read_only(url, PgOpen::default()).expect("opens for reading")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn open_sled(folder: &std::path::Path) -> Log<SledStore> {
    let store = SledStore::open_with(
        folder,
        SledOptions {
            serve_readers: false,
        },
    )
    .expect("the sled log opens");
    Log::open(store, options(), Timestamp(1))
        .expect("the log opens")
        .0
}

fn write_all<S: RecordStore>(log: &mut Log<S>, commands: &[Vec<Envelope>]) {
    for command in commands {
        for envelope in command {
            log.append(envelope).expect("appends");
        }
        log.flush().expect("flushes");
    }
}

fn records<S: RecordStore + ?Sized>(store: &S) -> Vec<(Seq, Vec<u8>)> {
    let mut found = Vec::new();
    store
        .scan(1, &mut |seq, bytes| {
            found.push((seq, bytes.to_vec()));
            ControlFlow::Continue(())
        })
        .expect("scans");
    found
}

fn state_hash(state: &State) -> Hash {
    codec::state_hash(state).expect("the state encodes")
}

#[test]
fn the_demo_week_in_postgres_is_the_sled_log_byte_for_byte() {
    let server = PgServer::start();
    let commands = demo_commands();
    let url = server.url("demo");

    let mut pg = open_pg(&url);
    write_all(&mut pg, &commands);
    let folder = scratch("sled-beside-pg-demo");
    let mut sled = open_sled(&folder);
    write_all(&mut sled, &commands);

    let pg_records = records(pg.store());
    assert!(pg_records.len() > 50, "the demo wrote {}", pg_records.len());
    assert_eq!(
        pg_records,
        records(sled.store()),
        "the same records, byte for byte"
    );
    assert_eq!(state_hash(pg.state()), state_hash(sled.state()));
    let pg_verified = verify(pg.store()).expect("the PostgreSQL log verifies");
    let sled_verified = verify(sled.store()).expect("the sled log verifies");
    assert_eq!(pg_verified, sled_verified);
    assert!(
        !pg_verified.snapshots_valid.is_empty(),
        "snapshots were taken and kept in PostgreSQL"
    );
    assert_eq!(pg_verified.acknowledged, pg_records.len() as Seq);

    // Read by another session, and reopened by the next writer: the same log.
    drop(pg);
    let (state, report) = read(&reader(&url)).expect("reads");
    assert_eq!(state_hash(&state), state_hash(sled.state()));
    assert_eq!(report.acknowledged, Some(pg_records.len() as Seq));
    let store = PgStore::open(&url, PgOpen::default()).expect("reopens");
    assert_eq!(store.epoch(), Some(2), "the second writer of the log");
    let (log, report) = Log::open(store, options(), Timestamp(2)).expect("the log reopens");
    assert!(report.interrupted.is_empty() && report.torn_record_removed.is_none());
    assert!(report.snapshot.is_some(), "opened from a snapshot");
    assert_eq!(state_hash(log.state()), state_hash(sled.state()));
    drop(sled);
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn two_logs_in_one_database_stay_apart() {
    let server = PgServer::start();
    let commands = demo_commands();
    let (url_a, url_b) = (server.url("hr"), server.url("crm"));
    // Both writers at once: each log has a lock of its own.
    let mut a = open_pg(&url_a);
    let mut b = open_pg(&url_b);
    write_all(&mut a, &commands);
    write_all(&mut b, &commands[..commands.len() / 3]);
    let (a_records, b_records) = (records(a.store()), records(b.store()));
    assert!(b_records.len() < a_records.len());
    assert_eq!(b_records[..], a_records[..b_records.len()]);
    drop((a, b));

    let (read_a, read_b) = (reader(&url_a), reader(&url_b));
    assert_eq!(records(&read_a), a_records);
    assert_eq!(records(&read_b), b_records);
    assert_eq!(
        verify(&read_a).expect("a verifies").records,
        a_records.len() as Seq
    );
    assert_eq!(
        verify(&read_b).expect("b verifies").records,
        b_records.len() as Seq
    );
    assert!(read_a.log_exists().expect("asks") && read_b.log_exists().expect("asks"));
    let never = reader(&server.url("never-written"));
    assert!(!never.log_exists().expect("asks"));
    assert_eq!(never.last_seq().expect("last"), 0);

    if server.owned() {
        // A database laid out by a newer syncfold is refused, by writers and readers alike.
        server
            .side_session()
            .execute("UPDATE syncfold_schema SET version = 99");
        let error = PgStore::open(&url_a, PgOpen::default()).expect_err("a newer layout");
        assert!(
            matches!(error, StoreError::NewerSchema { version: 99, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("upgrade syncfold"), "{error}");
        let error = PgStore::open_read_only(&url_a, PgOpen::default()).expect_err("newer");
        assert!(error.to_string().contains("newer syncfold"), "{error}");
    }
}

/// The first command after which a run is in flight: a writer that dies there leaves a run for
/// recovery to close.
fn in_flight_point(commands: &[Vec<Envelope>]) -> usize {
    let mut state = State::new();
    let mut seq = 0;
    for (index, command) in commands.iter().enumerate() {
        for envelope in command {
            seq += 1;
            state.apply(seq, envelope).expect("the demo folds");
        }
        if index > 3 && state.open_runs().next().is_some() {
            return index + 1;
        }
    }
    panic!("the demo has a run in flight somewhere")
}

#[test]
fn what_was_flushed_survives_the_session_and_what_was_not_dies_with_it() {
    let server = PgServer::start();
    let commands = demo_commands();
    let cut = in_flight_point(&commands);
    let url = server.url("crash");

    let mut log = open_pg(&url);
    write_all(&mut log, &commands[..cut]);
    let flushed = log.last_seq();
    // More records appended, never flushed: then the session dies (a killed process, a cut
    // network).
    for envelope in commands[cut..cut + 3].iter().flatten() {
        log.append(envelope).expect("appends (buffered)");
    }
    assert!(log.last_seq() > flushed);
    server
        .side_session()
        .terminate(log.store().server_session());
    let error = log.flush().expect_err("the session is gone");
    assert!(
        matches!(error, LogError::Store(StoreError::Fenced { .. })),
        "{error}"
    );
    assert_eq!(
        error.class(),
        ErrorClass::Unavailable,
        "not damage: {error}"
    );
    assert!(error.to_string().contains("not stored"), "{error}");
    drop(log);
    assert_eq!(
        reader(&url).last_seq().expect("last"),
        flushed,
        "nothing unflushed is stored"
    );

    // The reopened log recovers as a sled log holding the same flushed records does.
    let (pg, pg_report) = Log::open(
        PgStore::open(&url, PgOpen::default()).expect("reopens"),
        options(),
        Timestamp(7),
    )
    .expect("recovers");
    let folder = scratch("sled-beside-pg-crash");
    let mut sled = open_sled(&folder);
    write_all(&mut sled, &commands[..cut]);
    drop(sled);
    let store = SledStore::open_with(
        &folder,
        SledOptions {
            serve_readers: false,
        },
    )
    .expect("the sled log reopens");
    let (sled, sled_report) = Log::open(store, options(), Timestamp(7)).expect("recovers");
    assert!(!pg_report.interrupted.is_empty(), "a run was in flight");
    assert_eq!(pg_report, sled_report);
    assert_eq!(records(pg.store()), records(sled.store()));
    assert_eq!(state_hash(pg.state()), state_hash(sled.state()));
    drop((pg, sled));
    let _ = std::fs::remove_dir_all(&folder);
    verify(&reader(&url)).expect("the recovered log verifies");
}

/// The first command after which no run is open (and the next command appends cleanly after a
/// reopening, which then has nothing to recover).
fn quiet_point(commands: &[Vec<Envelope>]) -> usize {
    let mut state = State::new();
    let mut seq = 0;
    for (index, command) in commands.iter().enumerate() {
        for envelope in command {
            seq += 1;
            state.apply(seq, envelope).expect("the demo folds");
        }
        if index > 3 && state.open_runs().next().is_none() {
            return index + 1;
        }
    }
    panic!("the demo has a quiet point")
}

#[test]
fn one_writer_at_a_time_and_a_fenced_writer_stores_nothing() {
    let server = PgServer::start();
    let commands = demo_commands();
    let url = server.url("fence");
    let side = server.side_session();

    let quiet = quiet_point(&commands);
    let mut a = open_pg(&url);
    write_all(&mut a, &commands[..quiet]);
    let a_session = a.store().server_session();

    // A second writer fails at once, naming the first.
    let started = Instant::now();
    let error = PgStore::open(&url, PgOpen::default()).expect_err("the log is held");
    assert!(started.elapsed() < Duration::from_secs(5), "at once");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Busy { .. }), "{text}");
    assert!(
        text.contains(&format!("process {}", std::process::id())),
        "{text}"
    );
    assert!(
        text.contains(&format!("server session {a_session}")),
        "{text}"
    );
    assert!(text.contains("--wait"), "{text}");

    // A writer replaced behind its back (here: the epoch moved on by hand, as a forced takeover
    // would) cannot append, though its session is alive.
    side.execute(&format!(
        "UPDATE syncfold_writers SET epoch = epoch + 1 WHERE log = '{}'",
        url.log()
    ));
    let before = reader(&url).last_seq().expect("last");
    for envelope in &commands[quiet] {
        a.append(envelope).expect("appends (buffered)");
    }
    let error = a.flush().expect_err("fenced");
    let text = error.to_string();
    assert!(text.contains("lost the right to write"), "{text}");
    assert!(text.contains("another writer took over"), "{text}");
    assert!(text.contains("not stored"), "{text}");
    assert_eq!(
        reader(&url).last_seq().expect("last"),
        before,
        "nothing stored"
    );
    // And it stays fenced: nothing it does is stored.
    assert!(matches!(
        a.flush(),
        Err(LogError::Store(StoreError::Fenced { .. }))
    ));
    side.execute(&format!(
        "UPDATE syncfold_writers SET epoch = epoch - 1 WHERE log = '{}'",
        url.log()
    ));
    drop(a);

    // A writer whose session ends is fenced; a waiting writer takes over with the next epoch.
    let mut a = open_pg(&url);
    let a_epoch = a.store().epoch().expect("epoch");
    let a_session = a.store().server_session();
    let waiting_url = url.clone();
    let b = std::thread::spawn(move || {
        PgStore::open(
            &waiting_url,
            PgOpen {
                wait: true,
                ..PgOpen::default()
            },
        )
    });
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !b.is_finished(),
        "the second writer waits while the first holds the log"
    );
    side.terminate(a_session);
    for envelope in &commands[quiet] {
        a.append(envelope).expect("appends (buffered)");
    }
    let error = a.flush().expect_err("fenced");
    let text = error.to_string();
    assert!(
        matches!(error, LogError::Store(StoreError::Fenced { .. })),
        "{text}"
    );
    assert!(text.contains("lost the right to write"), "{text}");
    assert!(text.contains("not stored"), "{text}");
    let b = b.join().expect("the waiting writer").expect("takes over");
    assert_eq!(b.epoch(), Some(a_epoch + 1));
    let (b, report) = Log::open(b, options(), Timestamp(9)).expect("the log opens for b");
    assert_eq!(
        report.acknowledged, before,
        "nothing of a's last flush is stored"
    );
    assert_eq!(b.store().url().log(), url.log());
    drop(a);
}

#[test]
fn a_reader_beside_a_writer_never_sees_a_gap_nor_a_record_that_disappears() {
    let server = PgServer::start();
    let commands = demo_commands();
    let url = server.url("tail");
    let writer_url = url.clone();
    // The writer opens before the reader starts, so the tables exist.
    let mut log = open_pg(&writer_url);
    let writer = std::thread::spawn(move || {
        write_all(&mut log, &commands);
        records(log.store())
    });
    let store = reader(&url);
    let mut seen: BTreeMap<Seq, Vec<u8>> = BTreeMap::new();
    let mut rounds = 0;
    let mut high = 0;
    loop {
        let done = writer.is_finished();
        let now = records(&store);
        for (index, (seq, bytes)) in now.iter().enumerate() {
            assert_eq!(
                *seq,
                index as Seq + 1,
                "no gap: record {} follows {index}",
                seq
            );
            if let Some(earlier) = seen.get(seq) {
                assert_eq!(earlier, bytes, "record {seq} changed");
            }
            seen.insert(*seq, bytes.clone());
        }
        assert!(now.len() as Seq >= high, "records disappeared");
        high = now.len() as Seq;
        if rounds % 10 == 0 {
            // What a reading command does: verify as it reads.
            read(&store).expect("a reader verifies what it sees beside the writer");
        }
        rounds += 1;
        if done {
            break;
        }
    }
    let last = writer.join().expect("the writer");
    assert!(
        rounds > 2,
        "the reader read while the writer wrote ({rounds} rounds)"
    );
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), last);
}

/// A subscriber that keeps every field of every event, to look for a password in them.
struct Fields(std::sync::Arc<std::sync::Mutex<String>>);

struct Recorder<'a>(&'a mut String);

impl tracing::field::Visit for Recorder<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Fields {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = self.0.lock().expect("fields");
        span.record(&mut Recorder(&mut text));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Recorder(&mut self.0.lock().expect("fields")));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut Recorder(&mut self.0.lock().expect("fields")));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_password_shows_in_no_message_debug_output_or_tracing_field() {
    let server = PgServer::start();
    let secret = "Hunter2-Secret-Word";
    let shows = |text: &str| text.contains(secret) || text.contains(GUARDED_PASSWORD);

    // A server that is not there: unavailable, named without the password, saying what to check.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = PgUrl::parse(&format!(
        "postgres://someone:{secret}@127.0.0.1:{port}/db?log=x"
    ))
    .expect("parses");
    let error = PgStore::open(&url, PgOpen::default()).expect_err("nobody listens");
    let text = format!("{error} {error:?} {url} {url:?}");
    assert!(!shows(&text), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("could not reach"), "{text}");
    assert!(!error.is_damage());
    assert_eq!(LogError::from(error).class(), ErrorClass::Unavailable);

    if !server.owned() {
        println!(
            "the authentication stories need a cluster of our own: left out on a shared server"
        );
        return;
    }
    let fields = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let subscriber = Fields(std::sync::Arc::clone(&fields));
    tracing::subscriber::with_default(subscriber, || {
        // The wrong password: the account is refused, and the message says what to check.
        let wrong = server.guarded_url("guarded-log", secret);
        let error = PgStore::open(&wrong, PgOpen::default()).expect_err("wrong password");
        let text = format!("{error} {error:?}");
        assert!(!shows(&text), "{text}");
        assert!(
            text.contains(&format!("refused the account `{GUARDED_USER}`")),
            "{text}"
        );
        assert!(text.contains("password"), "{text}");
        assert_eq!(LogError::from(error).class(), ErrorClass::Unavailable);

        // The right one: a writer and a reader open; neither shows it, nor do their errors.
        let right = server.guarded_url("guarded-log", GUARDED_PASSWORD);
        let writer = PgStore::open(&right, PgOpen::default()).expect("the right password");
        let busy = PgStore::open(&right, PgOpen::default()).expect_err("busy");
        let store = PgStore::open_read_only(&right, PgOpen::default()).expect("reads");
        let text = format!("{writer:?} {store:?} {busy} {busy:?} {right} {right:?}");
        assert!(!shows(&text), "{text}");
        assert!(text.contains(":***@"), "{text}");
        let (mut log, _) = Log::open(writer, options(), Timestamp(1)).expect("opens");
        server
            .side_session()
            .terminate(log.store().server_session());
        let error = log
            .execute(
                &Command::StartRun {
                    connector: ConnectorName::from("hr"),
                    partition: PartitionName::from("people"),
                    kind: RunKind::FullImport,
                    settings: Settings::default(),
                },
                Timestamp(2),
                &Actor::from_name("test"),
            )
            .and_then(|_| log.flush().map(|_| Vec::<Event>::new()))
            .expect_err("the session is gone");
        let text = format!("{error} {error:?}");
        assert!(!shows(&text), "{text}");
    });
    let fields = fields.lock().expect("fields").clone();
    // The store traced the log it writes (at open, or when its session ended: which of the two
    // the subscriber sees depends on the thread the connection's end is noticed on).
    assert!(
        fields.contains("writing the log") || fields.contains("the session with the server ended"),
        "the store traced: {fields}"
    );
    assert!(!shows(&fields), "{fields}");
}

/// A store blocks its thread on each request: on a thread that drives an async runtime it says
/// so instead of panicking; on a blocking-pool thread (`spawn_blocking`) it works as anywhere.
#[test]
fn a_store_used_on_an_async_runtime_thread_says_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = PgUrl::parse(&format!("postgres://someone@127.0.0.1:{port}/db")).expect("parses");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let on_runtime = runtime.block_on(async { PgStore::open(&url, PgOpen::default()) });
    let error = on_runtime.expect_err("refused");
    assert!(error.to_string().contains("async runtime"), "{error}");
    let blocking = runtime.block_on(async {
        let url = url.clone();
        tokio::task::spawn_blocking(move || PgStore::open(&url, PgOpen::default()))
            .await
            .expect("the blocking task")
    });
    let error = blocking.expect_err("nobody listens");
    assert!(error.to_string().contains("could not reach"), "{error}");
}

/// One delta import of `pages` one-object pages on partition `p<n>`.
fn delta_step(counter: u64, pages: u64) -> syncfold::script::Step {
    use syncfold::script::{ImportPage, Step};
    let pages = (1..=pages)
        .map(|page| {
            ImportPage::Page(Page {
                changes: vec![ObjectChange {
                    anchor: Anchor(format!("u{}", (counter * 7 + page) % 50)),
                    kind: ChangeKind::Update,
                    attributes: Attributes::new(),
                }],
                watermark: Some(Watermark::from_text(&format!("r{counter}p{page}"))),
                ..Page::default()
            })
        })
        .collect();
    Step::Import {
        partition: PartitionName(format!("p{}", counter % 3)),
        kind: RunKind::DeltaImport,
        pages,
    }
}

/// A flush of many records (one COPY, streamed in many chunks), read back in more pages than one scan
/// request returns: nothing lost or reordered at the seams.
#[test]
fn a_long_flush_and_a_long_scan_cross_their_batches() {
    let server = PgServer::start();
    let mut player = Player::new(Actor::from_name("long"), Timestamp(0), 1);
    let connector = ConnectorName::from("long");
    for counter in 1..=260 {
        player
            .play(&connector, &Settings::default(), &delta_step(counter, 4))
            .expect("plays");
    }
    let events = player.log().to_vec();
    assert!(events.len() > 1500, "{} events", events.len());
    let url = server.url("long");
    let mut log = open_pg(&url);
    for envelope in &events {
        log.append(envelope).expect("appends");
    }
    log.flush().expect("one flush of them all");
    let written = records(log.store());
    drop(log);
    let store = reader(&url);
    assert_eq!(records(&store), written);
    assert_eq!(written.len(), events.len());
    let verified = verify(&store).expect("verifies");
    assert_eq!(verified.records, events.len() as Seq);
    assert_eq!(verified.acknowledged, events.len() as Seq);
}
