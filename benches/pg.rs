//! `cargo bench --bench pg -- [--objects N] [--page-size P] [--repeats R] [--fsync-off] [--json]`
//!
//! What the PostgreSQL log costs over plain PostgreSQL, measured side by side in one run on the
//! same record bytes, over the same Unix socket of a throwaway cluster (`tests/common/pg.rs`,
//! started with the server's defaults: `fsync = on`, `full_page_writes = on`; `--fsync-off` uses
//! the tests' `fsync = off` instead). Every figure is the median of R repetitions (default 3); the
//! measured systems alternate their order from one repetition to the next.
//!
//! - The records: one full import of N objects in pages of P, played once through the engine into
//!   a `MemoryStore` (timed too: the engine's own cost, with no storage under it); its record
//!   bytes and commit points (the records after which the log flushes) are what every baseline
//!   writes.
//! - **ingest, syncfold** (the real path): the same full import through the engine into a fresh
//!   PostgreSQL log (`Log` over `PgStore`), until the run is reported durable.
//! - **ingest, behind `Pipelined`**: the same, with the store wrapped in `Pipelined` (appends and
//!   their early commits on a thread of their own), which the CLI does not do for PostgreSQL.
//! - **ingest, store alone**: the record bytes appended to a fresh `PgStore`, with a flush and a
//!   head note at each commit point, as `Log::flush` does (no encoding, no folding, no snapshot).
//! - **ingest, raw `COPY`**: the same bytes, `COPY … FROM STDIN BINARY` into a plain table of the
//!   same shape (`log, seq, bytes`, key `(log, seq)`), one `COPY` (one transaction) per commit
//!   point, `synchronous_commit = on`, with `tokio-postgres` directly.
//! - **ingest, raw `INSERT`**: the same, as batched `INSERT … SELECT FROM unnest(…)` statements
//!   (prepared once), one transaction per commit point.
//! - **replay**: a verified fold of the whole log from record 1 (`syncfold::log::replay`) on a
//!   read-only `PgStore`, against a raw `SELECT seq, bytes … ORDER BY seq` of the `COPY` table that
//!   only touches the bytes, and the same scan decoding every record.
//!
//! Absolute times depend on the machine and its disk; the ratios are the result (above 1: syncfold
//! is faster). The last line is one JSON object for scripts.

#[path = "../tests/common/pg.rs"]
mod pg;

use pg::PgServer;
use std::ops::ControlFlow;
use std::time::Instant;
use syncfold::core::*;
use syncfold::engine::{Engine, EngineOptions};
use syncfold::log::record::HEADER_BYTES;
use syncfold::log::{
    codec, replay, Head, Log, LogOptions, MemoryStore, PgOpen, PgStore, PgUrl, Pipelined,
    RecordStore,
};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

#[path = "common/directory.rs"]
mod directory;
use directory::Directory;
#[path = "common/flags.rs"]
mod flags;
use flags::Flags;

struct Args {
    objects: u64,
    page_size: u64,
    repeats: usize,
    fsync: bool,
    json_only: bool,
}

fn args() -> Args {
    let mut parsed = Args {
        objects: 100_000,
        page_size: 1000,
        repeats: 3,
        fsync: true,
        json_only: false,
    };
    let mut flags = Flags::new(
        "cargo bench --bench pg -- [--objects N] [--page-size P] [--repeats R] [--fsync-off] [--json]",
    );
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--json" => parsed.json_only = true,
            "--fsync-off" => parsed.fsync = false,
            "--objects" => parsed.objects = flags.positive(&flag),
            "--page-size" => parsed.page_size = flags.positive(&flag),
            "--repeats" => parsed.repeats = flags.positive(&flag) as usize,
            _ => flags.unknown(&flag),
        }
    }
    parsed
}

/// One full import of `args.objects` through the engine into `log`; the seconds until the run
/// was reported durable, and the log.
fn full_import<S: RecordStore + Send + 'static>(log: Log<S>, args: &Args) -> (f64, Log<S>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let engine = Engine::new(log, EngineOptions::default());
    let mut directory = Directory::new(args.objects, args.page_size);
    let settings = Settings {
        snapshot_limit: u64::MAX,
        ..Settings::default()
    };
    let started = Instant::now();
    let report = runtime
        .block_on(engine.run(
            &mut directory,
            &ConnectorName::from("directory"),
            &PartitionName::from("people"),
            RunKind::FullImport,
            &settings,
        ))
        .expect("the full import");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.record.status, Some(RunStatus::Success));
    assert_eq!(report.record.counts.staged, args.objects);
    (seconds, engine.shutdown().expect("stop the engine"))
}

/// The records of one full import, and the engine's time with no storage under it.
struct Records {
    memory_seconds: f64,
    /// Every record's bytes, in order, and whether the log flushed right after it.
    records: Vec<(Vec<u8>, bool)>,
    /// The snapshots the log kept, and their bytes (the engine's path writes them too).
    snapshots: usize,
    snapshot_bytes: u64,
}

fn generate(args: &Args) -> Records {
    let (log, _) =
        Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).expect("open the log");
    let (memory_seconds, log) = full_import(log, args);
    let store = log.into_store();
    let mut records = Vec::new();
    store
        .scan(1, &mut |_, bytes| {
            let envelope = codec::decode_event(&bytes[HEADER_BYTES..]).expect("decode");
            records.push((bytes.to_vec(), envelope.event.is_commit_point()));
            ControlFlow::Continue(())
        })
        .expect("scan");
    let snapshots = store.snapshot_seqs().expect("snapshots");
    let snapshot_bytes = snapshots
        .iter()
        .map(|seq| {
            store
                .get_snapshot(*seq)
                .expect("a snapshot")
                .map_or(0, |b| b.len() as u64)
        })
        .sum();
    Records {
        memory_seconds,
        records,
        snapshots: snapshots.len(),
        snapshot_bytes,
    }
}

fn pg_open(url: &PgUrl) -> PgStore {
    PgStore::open(url, PgOpen::default()).expect("the PostgreSQL log opens")
}

/// The real path: the engine's full import into a fresh PostgreSQL log. Opening is not timed.
fn syncfold_ingest(url: &PgUrl, args: &Args) -> f64 {
    let (log, _) =
        Log::open(pg_open(url), LogOptions::default(), Timestamp(0)).expect("open the log");
    full_import(log, args).0
}

/// The same, with the store behind `Pipelined` (its appends, and so its early commits, on a thread
/// of their own): what overlapping the engine's work with the store's would buy.
fn pipelined_ingest(url: &PgUrl, args: &Args) -> f64 {
    let store = Pipelined::new(pg_open(url));
    let (log, _) = Log::open(store, LogOptions::default(), Timestamp(0)).expect("open the log");
    full_import(log, args).0
}

/// The record bytes appended to a fresh `PgStore`, flushed and noted at each commit point as
/// `Log::flush` does. Opening is not timed.
fn store_ingest(url: &PgUrl, records: &[(Vec<u8>, bool)]) -> f64 {
    let mut store = pg_open(url);
    let started = Instant::now();
    for (index, (record, commit)) in records.iter().enumerate() {
        let seq = index as Seq + 1;
        store.append(seq, record).expect("append");
        if *commit || index + 1 == records.len() {
            store.flush().expect("flush");
            store
                .write_head(&Head {
                    seq,
                    hash: syncfold::log::record::hash(record),
                })
                .expect("head note");
        }
    }
    started.elapsed().as_secs_f64()
}

/// A plain `tokio-postgres` session of the benchmark's own, on a private runtime.
struct Raw {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Raw {
    fn connect(server: &PgServer) -> Raw {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (client, connection) = runtime
            .block_on(server.client_config().connect(NoTls))
            .expect("the raw session connects");
        runtime.spawn(connection);
        runtime
            .block_on(client.batch_execute("SET synchronous_commit = on"))
            .expect("synchronous_commit");
        Raw { runtime, client }
    }
}

/// The records cut at their commit points: each slice is one transaction.
fn segments(records: &[(Vec<u8>, bool)]) -> Vec<std::ops::Range<usize>> {
    let mut cuts = Vec::new();
    let mut start = 0;
    for (index, (_, commit)) in records.iter().enumerate() {
        if *commit || index + 1 == records.len() {
            cuts.push(start..index + 1);
            start = index + 1;
        }
    }
    cuts
}

/// One `COPY … FROM STDIN BINARY` per commit point into the plain table.
fn raw_copy(raw: &Raw, log: &str, records: &[(Vec<u8>, bool)]) -> f64 {
    let started = Instant::now();
    raw.runtime
        .block_on(async {
            for segment in segments(records) {
                let sink = raw
                    .client
                    .copy_in("COPY bench_raw_records (log, seq, bytes) FROM STDIN BINARY")
                    .await?;
                let writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::BYTEA]);
                let mut writer = std::pin::pin!(writer);
                for index in segment {
                    let seq = index as i64 + 1;
                    let bytes: &[u8] = &records[index].0;
                    writer.as_mut().write(&[&log, &seq, &bytes]).await?;
                }
                writer.finish().await?;
            }
            Ok::<_, tokio_postgres::Error>(())
        })
        .expect("raw COPY");
    started.elapsed().as_secs_f64()
}

/// Batched `INSERT`s (prepared once, at most 1000 rows each) in one transaction per commit point.
fn raw_insert(raw: &mut Raw, log: &str, records: &[(Vec<u8>, bool)]) -> f64 {
    let started = Instant::now();
    let Raw { runtime, client } = raw;
    runtime
        .block_on(async {
            let insert = client
                .prepare(
                    "INSERT INTO bench_raw_records (log, seq, bytes)
                     SELECT $1, seq, bytes FROM unnest($2::bigint[], $3::bytea[]) AS t(seq, bytes)",
                )
                .await?;
            for segment in segments(records) {
                let transaction = client.transaction().await?;
                let rows: Vec<usize> = segment.collect();
                for chunk in rows.chunks(1000) {
                    let seqs: Vec<i64> = chunk.iter().map(|index| *index as i64 + 1).collect();
                    let bytes: Vec<&[u8]> =
                        chunk.iter().map(|index| &records[*index].0[..]).collect();
                    let params: [&(dyn ToSql + Sync); 3] = [&log, &seqs, &bytes];
                    transaction.execute(&insert, &params).await?;
                }
                transaction.commit().await?;
            }
            Ok::<_, tokio_postgres::Error>(())
        })
        .expect("raw INSERT");
    started.elapsed().as_secs_f64()
}

/// A verified fold of the whole log from record 1 on a read-only store (opening not timed).
fn syncfold_replay(url: &PgUrl, objects: u64) -> f64 {
    let store = PgStore::open_read_only(url, PgOpen::default()).expect("opens for reading");
    let started = Instant::now();
    let state = replay(&store, 1, None, &mut |_, _, _| ControlFlow::Continue(())).expect("replay");
    let seconds = started.elapsed().as_secs_f64();
    let folded: u64 = state
        .connectors()
        .flat_map(|(_, connector)| connector.partitions())
        .map(|(_, part)| part.objects().len() as u64)
        .sum();
    assert_eq!(folded, objects);
    seconds
}

/// A raw `SELECT seq, bytes … ORDER BY seq` of one log in the plain table: touches every byte
/// (a sum), or decodes every record when `decode`. Returns the seconds and the objects seen.
fn raw_scan(raw: &Raw, log: &str, decode: bool) -> (f64, u64) {
    let started = Instant::now();
    let rows = raw
        .runtime
        .block_on(raw.client.query(
            "SELECT seq, bytes FROM bench_raw_records WHERE log = $1 ORDER BY seq",
            &[&log],
        ))
        .expect("raw SELECT");
    let mut objects = 0u64;
    let mut touched = 0u64;
    for row in &rows {
        let _seq: i64 = row.get(0);
        let bytes: &[u8] = row.get(1);
        if decode {
            let envelope = codec::decode_event(&bytes[HEADER_BYTES..]).expect("decode");
            if let Event::PageRead { changes, .. } = &envelope.event {
                objects += changes.len() as u64;
            }
        } else {
            touched = bytes
                .iter()
                .fold(touched, |sum, byte| sum.wrapping_add(u64::from(*byte)));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(touched);
    (seconds, objects)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[derive(Default)]
struct Samples {
    memory: Vec<f64>,
    ingest: Vec<f64>,
    store: Vec<f64>,
    pipelined: Vec<f64>,
    copy: Vec<f64>,
    insert: Vec<f64>,
    replay: Vec<f64>,
    scan: Vec<f64>,
    scan_decode: Vec<f64>,
}

fn main() {
    let args = args();
    let objects = args.objects as f64;
    let server = if args.fsync {
        PgServer::start_durable()
    } else {
        PgServer::start()
    };
    let mut raw = Raw::connect(&server);
    raw.runtime
        .block_on(raw.client.batch_execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_records (
                log text NOT NULL,
                seq bigint NOT NULL CHECK (seq > 0),
                bytes bytea NOT NULL,
                PRIMARY KEY (log, seq)
            )",
        ))
        .expect("the raw table");
    let settings: Vec<String> = [
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "server_version",
    ]
    .iter()
    .map(|name| {
        let value: String = raw
            .runtime
            .block_on(raw.client.query_one(&format!("SHOW {name}"), &[]))
            .expect("SHOW")
            .get(0);
        format!("{name}={value}")
    })
    .collect();
    let mut samples = Samples::default();
    let (mut record_count, mut log_bytes, mut commits) = (0, 0u64, 0);
    let (mut snapshots, mut snapshot_bytes) = (0, 0u64);
    for repeat in 0..args.repeats {
        if !args.json_only {
            eprintln!("repeat {} of {}", repeat + 1, args.repeats);
        }
        let generated = generate(&args);
        samples.memory.push(generated.memory_seconds);
        (snapshots, snapshot_bytes) = (generated.snapshots, generated.snapshot_bytes);
        let records = generated.records;
        record_count = records.len();
        log_bytes = records.iter().map(|(r, _)| r.len() as u64).sum();
        commits = segments(&records).len();

        let url = server.url(&format!("bench-engine-{repeat}"));
        let store_url = server.url(&format!("bench-store-{repeat}"));
        let copy_log = format!("copy-{repeat}");
        let insert_log = format!("insert-{repeat}");
        let pipelined_url = server.url(&format!("bench-pipelined-{repeat}"));
        // Each system in turn, the order reversed every other repeat.
        let mut order = [0, 1, 2, 3, 4];
        if repeat % 2 == 1 {
            order.reverse();
        }
        for system in order {
            match system {
                0 => samples.ingest.push(syncfold_ingest(&url, &args)),
                1 => samples.copy.push(raw_copy(&raw, &copy_log, &records)),
                2 => samples.store.push(store_ingest(&store_url, &records)),
                3 => samples
                    .pipelined
                    .push(pipelined_ingest(&pipelined_url, &args)),
                _ => samples
                    .insert
                    .push(raw_insert(&mut raw, &insert_log, &records)),
            }
        }
        let mut order = [0, 1, 2];
        if repeat % 2 == 1 {
            order.reverse();
        }
        for system in order {
            match system {
                0 => samples.replay.push(syncfold_replay(&url, args.objects)),
                1 => samples.scan.push(raw_scan(&raw, &copy_log, false).0),
                _ => {
                    let (seconds, seen) = raw_scan(&raw, &copy_log, true);
                    assert_eq!(seen, args.objects);
                    samples.scan_decode.push(seconds);
                }
            }
        }
    }
    let memory = median(samples.memory);
    let ingest = median(samples.ingest);
    let store = median(samples.store);
    let pipelined = median(samples.pipelined);
    let copy = median(samples.copy);
    let insert = median(samples.insert);
    let replay = median(samples.replay);
    let scan = median(samples.scan);
    let scan_decode = median(samples.scan_decode);
    let rate = |seconds: f64| objects / seconds;
    if !args.json_only {
        println!(
            "{} objects in pages of {}: {} records ({:.1} MB), {} commit points, {} snapshots kept ({:.1} MB); median of {}; {}\n",
            args.objects,
            args.page_size,
            record_count,
            log_bytes as f64 / 1e6,
            commits,
            snapshots,
            snapshot_bytes as f64 / 1e6,
            args.repeats,
            settings.join(" "),
        );
        println!(
            "{:<52} {:>10} {:>14} {:>12}",
            "", "seconds", "objects/s", "syncfold is"
        );
        // The last column: syncfold's speed as a multiple of the baseline's on that line.
        let row = |name: &str, seconds: f64, syncfold: Option<f64>| {
            let ratio = syncfold.map_or_else(String::new, |ours| format!("{:.2}x", seconds / ours));
            println!(
                "{name:<52} {seconds:>10.3} {:>14.0} {ratio:>12}",
                rate(seconds)
            );
        };
        row("ingest: engine into memory (no storage)", memory, None);
        row("ingest: syncfold engine into PostgreSQL", ingest, None);
        row(
            "ingest: same, the PgStore behind Pipelined",
            pipelined,
            None,
        );
        row("ingest: PgStore alone, same bytes and flushes", store, None);
        row(
            "ingest: raw COPY BINARY, same bytes and commits",
            copy,
            Some(ingest),
        );
        row(
            "ingest: raw batched INSERT, same bytes and commits",
            insert,
            Some(ingest),
        );
        for (name, seconds) in [
            ("  behind Pipelined, against raw COPY", pipelined),
            ("  PgStore alone, against raw COPY", store),
        ] {
            println!(
                "{name:<52} {:>10} {:>14} {:>12}",
                "",
                "",
                format!("{:.2}x", copy / seconds)
            );
        }
        row("replay: syncfold verified fold from record 1", replay, None);
        row(
            "replay: raw SELECT scan touching the bytes",
            scan,
            Some(replay),
        );
        row(
            "replay: raw SELECT scan + decode",
            scan_decode,
            Some(replay),
        );
        println!();
    }
    println!(
        "{{\"objects\":{},\"records\":{},\"commit_points\":{},\"snapshot_bytes\":{},\"fsync\":{},\"ingest_objects_per_s\":{:.0},\"pg_ingest_vs_raw\":{:.3},\"pg_ingest_vs_raw_insert\":{:.3},\"pg_pipelined_ingest_vs_raw\":{:.3},\"pg_store_vs_raw\":{:.3},\"memory_ingest_objects_per_s\":{:.0},\"replay_objects_per_s\":{:.0},\"pg_replay_vs_raw_scan\":{:.3},\"pg_replay_vs_raw_scan_decode\":{:.3},\"ingest_s\":{:.3},\"pipelined_s\":{:.3},\"store_s\":{:.3},\"copy_s\":{:.3},\"insert_s\":{:.3},\"replay_s\":{:.3},\"scan_s\":{:.3},\"scan_decode_s\":{:.3}}}",
        args.objects,
        record_count,
        commits,
        snapshot_bytes,
        args.fsync,
        rate(ingest),
        copy / ingest,
        insert / ingest,
        copy / pipelined,
        copy / store,
        rate(memory),
        rate(replay),
        scan / replay,
        scan_decode / replay,
        ingest,
        pipelined,
        store,
        copy,
        insert,
        replay,
        scan,
        scan_decode,
    );
}
