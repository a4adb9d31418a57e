//! `cargo bench --bench syncfold -- [--objects N] [--page-size P] [--repetitions R] [--json]`
//!
//! What the log costs over the storage it writes to, measured side by side in one run on the same
//! bytes. Every figure is the median of R repetitions (default 3), each on fresh folders:
//!
//! - **ingest**: one full import of N objects through the [`Engine`], from an in-memory connector
//!   that builds pages of P objects, until the run is reported durable; against the same record
//!   bytes put into a raw sled tree, appended to a plain file with `fdatasync`, and inserted into
//!   SQLite (WAL, `synchronous=FULL`, one row per object change), each flushed at the same commit
//!   points (one transaction per commit point for SQLite);
//! - **replay**: a verified fold of the whole log into state, against a raw sled scan that decodes
//!   the same records;
//! - **open**: reopening the log from its newest snapshot, against a full fold;
//! - **memory**: the process's peak resident memory during ingest, and the folded state's heap
//!   bytes for N objects against their encoded size.
//!
//! Absolute times depend on the machine; the ratios are the result. The last line is one JSON
//! object for scripts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;
use syncfold::core::*;
use syncfold::engine::{Engine, EngineOptions};
use syncfold::log::record::HEADER_BYTES;
use syncfold::log::{codec, replay, Log, LogOptions, Pipelined, RecordStore, SledStore};

#[path = "common/directory.rs"]
mod directory;
#[path = "common/flags.rs"]
mod flags;
use directory::Directory;
use flags::Flags;

/// Counts heap bytes while `COUNTING` is set, to weigh the state; otherwise a plain pass-through.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static COUNTED: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        COUNTED.fetch_add(delta, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The heap bytes a clone of `state` allocates: the state's own size.
fn heap_size(state: &State) -> usize {
    COUNTED.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let copy = state.clone();
    COUNTING.store(false, Ordering::Relaxed);
    let size = COUNTED.load(Ordering::Relaxed).max(0) as usize;
    drop(copy);
    size
}

extern "C" {
    /// glibc: returns freed heap memory to the system.
    fn malloc_trim(pad: usize) -> i32;
}

/// Returns what earlier phases freed to the system, then resets the process's peak resident size
/// (Linux `clear_refs` 5), so that the next reading is the peak of what follows alone.
fn reset_peak_rss() {
    // SAFETY: malloc_trim only releases free memory held by the allocator.
    unsafe {
        malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident size in MB, from `/proc/self/status` (0 where there is none).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Args {
    objects: u64,
    page_size: u64,
    repetitions: usize,
    json_only: bool,
    /// Only the syncfold ingest, for a profiler.
    ingest_only: bool,
}

fn args() -> Args {
    let mut parsed = Args {
        objects: 1_000_000,
        page_size: 1000,
        repetitions: 3,
        json_only: false,
        ingest_only: false,
    };
    let mut flags = Flags::new(
        "cargo bench --bench syncfold -- [--objects N] [--page-size P] [--repetitions R] [--json] [--ingest-only]",
    );
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--json" => parsed.json_only = true,
            "--ingest-only" => parsed.ingest_only = true,
            "--objects" => parsed.objects = flags.positive(&flag),
            "--page-size" => parsed.page_size = flags.positive(&flag),
            "--repetitions" => parsed.repetitions = flags.positive(&flag) as usize,
            _ => flags.unknown(&flag),
        }
    }
    parsed
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What one ingest through syncfold left behind, for the baselines to write the same bytes.
struct Ingested {
    seconds: f64,
    peak_rss_mb: f64,
    /// Every record's bytes, in order, and whether the log flushed right after it.
    records: Vec<(Vec<u8>, bool)>,
    /// The SQLite rows: one per object change (its encoded bytes) or per other event.
    rows: Vec<(u64, Vec<u8>, bool)>,
    object_bytes: u64,
}

fn ingest(folder: &Path, args: &Args) -> Ingested {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let store = Pipelined::new(SledStore::open(folder).expect("open the log"));
    let (log, _) = Log::open(store, LogOptions::default(), Timestamp(0)).expect("open the log");
    let engine = Engine::new(log, EngineOptions::default());
    let mut directory = Directory::new(args.objects, args.page_size);
    let settings = Settings {
        snapshot_limit: u64::MAX,
        ..Settings::default()
    };
    reset_peak_rss();
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
    let peak_rss_mb = peak_rss_mb();
    assert_eq!(report.record.status, Some(RunStatus::Success));
    assert_eq!(report.record.counts.staged, args.objects);
    let log = engine.shutdown().expect("stop the engine");
    let store = log.into_store();
    let mut records = Vec::new();
    let mut rows = Vec::new();
    let mut object_bytes = 0;
    store
        .scan(1, &mut |seq, bytes| {
            let envelope = codec::decode_event(&bytes[HEADER_BYTES..]).expect("decode");
            let commit = envelope.event.is_commit_point();
            match &envelope.event {
                Event::PageRead { changes, .. } => {
                    for change in changes {
                        let row = codec::encode_change(change).expect("encode");
                        object_bytes += row.len() as u64;
                        rows.push((seq, row, false));
                    }
                    if let Some(last) = rows.last_mut() {
                        last.2 = commit;
                    }
                }
                _ => rows.push((seq, bytes[HEADER_BYTES..].to_vec(), commit)),
            }
            records.push((bytes.to_vec(), commit));
            ControlFlow::Continue(())
        })
        .expect("scan");
    Ingested {
        seconds,
        peak_rss_mb,
        records,
        rows,
        object_bytes,
    }
}

fn raw_sled(folder: &Path, records: &[(Vec<u8>, bool)]) -> (f64, sled::Db) {
    let db = sled::Config::new()
        .path(folder.join("sled"))
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let tree = db.open_tree("records").expect("tree");
    let started = Instant::now();
    for (index, (record, commit)) in records.iter().enumerate() {
        tree.insert((index as u64 + 1).to_be_bytes(), record.as_slice())
            .expect("insert");
        if *commit {
            db.flush().expect("flush");
        }
    }
    (started.elapsed().as_secs_f64(), db)
}

fn plain_file(folder: &Path, records: &[(Vec<u8>, bool)]) -> f64 {
    let started = Instant::now();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(folder.join("records"))
        .expect("file");
    for (record, commit) in records {
        file.write_all(record).expect("write");
        if *commit {
            file.sync_data().expect("fdatasync");
        }
    }
    started.elapsed().as_secs_f64()
}

fn sqlite(folder: &Path, rows: &[(u64, Vec<u8>, bool)]) -> f64 {
    let started = Instant::now();
    let mut db = rusqlite::Connection::open(folder.join("audit.db")).expect("sqlite");
    db.pragma_update(None, "journal_mode", "WAL").expect("wal");
    db.pragma_update(None, "synchronous", "FULL").expect("full");
    db.execute_batch(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, body BLOB NOT NULL)",
    )
    .expect("table");
    let mut transaction = db.transaction().expect("begin");
    for (seq, body, commit) in rows {
        transaction
            .prepare_cached("INSERT INTO audit (seq, body) VALUES (?1, ?2)")
            .expect("prepare")
            .execute(rusqlite::params![*seq as i64, body])
            .expect("insert");
        if *commit {
            transaction.commit().expect("commit");
            transaction = db.transaction().expect("begin");
        }
    }
    transaction.commit().expect("commit");
    started.elapsed().as_secs_f64()
}

/// A raw scan of the baseline tree that decodes every record, as a reader without syncfold would.
fn raw_scan(db: &sled::Db) -> (f64, u64) {
    let tree = db.open_tree("records").expect("tree");
    let started = Instant::now();
    let mut objects = 0u64;
    for entry in tree.iter() {
        let (_, value) = entry.expect("scan");
        let envelope = codec::decode_event(&value[HEADER_BYTES..]).expect("decode");
        if let Event::PageRead { changes, .. } = &envelope.event {
            objects += changes.len() as u64;
        }
    }
    (started.elapsed().as_secs_f64(), objects)
}

/// A verified fold of the whole log from its first record (no snapshot).
fn full_fold(folder: &Path) -> (f64, State) {
    let store = SledStore::open(folder).expect("open the log");
    let started = Instant::now();
    let state = replay(&store, 1, None, &mut |_, _, _| ControlFlow::Continue(())).expect("replay");
    (started.elapsed().as_secs_f64(), state)
}

/// Opening the log as an engine does: from its newest trusted snapshot.
fn open_log(folder: &Path) -> (f64, Option<Seq>) {
    let store = SledStore::open(folder).expect("open the log");
    let started = Instant::now();
    let (log, report) =
        Log::open(store, LogOptions::default(), Timestamp(0)).expect("open the log");
    let seconds = started.elapsed().as_secs_f64();
    drop(log);
    (seconds, report.snapshot)
}

/// The chain check every open does below its snapshot (checksums and hashes, no decoding), timed
/// alone up to the snapshot the open starts from.
fn chain_check(folder: &Path, up_to: Seq) -> f64 {
    let store = SledStore::open(folder).expect("open the log");
    let started = Instant::now();
    syncfold::log::check_chain(&store, up_to).expect("an intact chain");
    started.elapsed().as_secs_f64()
}

/// The two parts of opening from snapshot `seq` that grow with the state: reading its bytes from
/// sled (which lends its buffer), and checking and decoding them (BLAKE3, block copies, bounds).
fn snapshot_parts(folder: &Path, seq: Seq) -> (f64, f64) {
    let store = SledStore::open(folder).expect("open the log");
    let started = Instant::now();
    let mut size = 0;
    store
        .read_snapshot(seq, &mut |bytes| size = bytes.len())
        .expect("the snapshot reads");
    let read = started.elapsed().as_secs_f64();
    assert!(size > 0, "the snapshot the open used is there");
    let bytes = store
        .get_snapshot(seq)
        .expect("the snapshot reads")
        .expect("it is there");
    let started = Instant::now();
    let decoded = syncfold::log::snapshot::decode(seq, &bytes).expect("the snapshot decodes");
    let decode = started.elapsed().as_secs_f64();
    drop(decoded);
    (read, decode)
}

/// What a reading command pays: a private copy of the sled files, then a read-only fold from the
/// newest snapshot.
fn read_copy(folder: &Path) -> f64 {
    let started = Instant::now();
    let store = syncfold::log::open_for_reading(folder).expect("open for reading");
    let (state, _) = syncfold::log::read(&store).expect("read");
    let seconds = started.elapsed().as_secs_f64();
    drop((state, store));
    seconds
}

#[derive(Default)]
struct Samples {
    ingest: Vec<f64>,
    raw_sled: Vec<f64>,
    file: Vec<f64>,
    sqlite: Vec<f64>,
    replay: Vec<f64>,
    raw_scan: Vec<f64>,
    open: Vec<f64>,
    chain: Vec<f64>,
    snapshot_read: Vec<f64>,
    snapshot_decode: Vec<f64>,
    read: Vec<f64>,
    peak_rss_mb: Vec<f64>,
}

fn main() {
    let args = args();
    let objects = args.objects as f64;
    let mut samples = Samples::default();
    let (mut log_bytes, mut object_bytes, mut state_bytes) = (0u64, 0u64, 0usize);
    let mut snapshot_used = None;
    for repetition in 0..args.repetitions {
        if !args.json_only {
            eprintln!("repetition {} of {}", repetition + 1, args.repetitions);
        }
        let folder = scratch("log");
        let ingested = ingest(&folder, &args);
        log_bytes = ingested.records.iter().map(|(r, _)| r.len() as u64).sum();
        object_bytes = ingested.object_bytes;
        samples.ingest.push(ingested.seconds);
        samples.peak_rss_mb.push(ingested.peak_rss_mb);
        if args.ingest_only {
            eprintln!(
                "ingest {:.3} s, peak RSS {:.0} MB",
                ingested.seconds, ingested.peak_rss_mb
            );
            let _ = std::fs::remove_dir_all(&folder);
            continue;
        }

        let raw_folder = scratch("raw");
        let (seconds, raw_db) = raw_sled(&raw_folder, &ingested.records);
        samples.raw_sled.push(seconds);
        let file_folder = scratch("file");
        samples
            .file
            .push(plain_file(&file_folder, &ingested.records));
        let sqlite_folder = scratch("sqlite");
        samples.sqlite.push(sqlite(&sqlite_folder, &ingested.rows));
        drop(ingested);

        let (seconds, scanned) = raw_scan(&raw_db);
        assert_eq!(scanned, args.objects);
        samples.raw_scan.push(seconds);
        drop(raw_db);
        let (seconds, state) = full_fold(&folder);
        samples.replay.push(seconds);
        state_bytes = heap_size(&state);
        drop(state);
        let (seconds, snapshot) = open_log(&folder);
        samples.open.push(seconds);
        samples
            .chain
            .push(chain_check(&folder, snapshot.unwrap_or(0)));
        if let Some(seq) = snapshot {
            let (read, decode) = snapshot_parts(&folder, seq);
            samples.snapshot_read.push(read);
            samples.snapshot_decode.push(decode);
        }
        samples.read.push(read_copy(&folder));
        snapshot_used = snapshot;
        for dir in [&folder, &raw_folder, &file_folder, &sqlite_folder] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if args.ingest_only {
        return;
    }
    let ingest = median(samples.ingest);
    let raw_sled = median(samples.raw_sled);
    let file = median(samples.file);
    let sqlite = median(samples.sqlite);
    let replay = median(samples.replay);
    let raw_scan = median(samples.raw_scan);
    let open = median(samples.open);
    let chain = median(samples.chain);
    // Absent when the log had no snapshot to open from.
    let part = |values: Vec<f64>| {
        if values.is_empty() {
            0.0
        } else {
            median(values)
        }
    };
    let snapshot_read = part(samples.snapshot_read);
    let snapshot_decode = part(samples.snapshot_decode);
    let read = median(samples.read);
    let peak_rss = median(samples.peak_rss_mb);
    let rate = |seconds: f64| objects / seconds;
    if !args.json_only {
        println!(
            "{} objects in pages of {}, {:.0} bytes per object encoded ({:.1} MB of records), median of {}\n",
            args.objects,
            args.page_size,
            object_bytes as f64 / objects,
            log_bytes as f64 / 1e6,
            args.repetitions,
        );
        println!(
            "{:<44} {:>10} {:>14} {:>12}",
            "", "seconds", "objects/s", "syncfold is"
        );
        // The last column: syncfold's speed as a multiple of the baseline's on that line.
        let row = |name: &str, seconds: f64, syncfold: Option<f64>| {
            let ratio = syncfold.map_or_else(String::new, |ours| format!("{:.2}x", seconds / ours));
            println!(
                "{name:<44} {seconds:>10.3} {:>14.0} {ratio:>12}",
                rate(seconds)
            );
        };
        row("ingest: syncfold engine, full import", ingest, None);
        row(
            "ingest: raw sled, same bytes and flushes",
            raw_sled,
            Some(ingest),
        );
        row("ingest: plain file + fdatasync", file, Some(ingest));
        row("ingest: SQLite WAL synchronous=FULL", sqlite, Some(ingest));
        row("replay: syncfold verified fold", replay, None);
        row("replay: raw sled scan + decode", raw_scan, Some(replay));
        println!(
            "open: {:.1} ms from {}, full fold {:.1} ms ({:.1}%)",
            open * 1e3,
            snapshot_used.map_or_else(
                || "no snapshot".to_owned(),
                |s| format!("the snapshot at event {s}")
            ),
            replay * 1e3,
            open / replay * 100.0
        );
        println!(
            "  of which the chain check below the snapshot: {:.1} ms ({:.1}% of the open); a reading command (private copy + read-only fold): {:.1} ms ({:.2}x the open)",
            chain * 1e3,
            chain / open * 100.0,
            read * 1e3,
            read / open
        );
        println!(
            "  the snapshot alone: reading it from sled {:.1} ms, checking and decoding it {:.1} ms",
            snapshot_read * 1e3,
            snapshot_decode * 1e3
        );
        println!(
            "memory: peak RSS during ingest {:.0} MB; state {:.1} MB for {} objects = {:.2}x their encoded {:.1} MB\n",
            peak_rss,
            state_bytes as f64 / 1e6,
            args.objects,
            state_bytes as f64 / object_bytes as f64,
            object_bytes as f64 / 1e6
        );
    }
    println!(
        "{{\"objects\":{},\"ingest_objects_per_s\":{:.0},\"ingest_vs_raw_sled\":{:.3},\"ingest_vs_sqlite\":{:.3},\"ingest_vs_file\":{:.3},\"replay_objects_per_s\":{:.0},\"replay_vs_raw_scan\":{:.3},\"open_with_snapshot_ms\":{:.1},\"full_fold_ms\":{:.1},\"chain_check_ms\":{:.1},\"snapshot_read_ms\":{:.1},\"snapshot_decode_ms\":{:.1},\"read_copy_ms\":{:.1},\"peak_rss_mb\":{:.0},\"state_bytes\":{},\"encoded_object_bytes\":{},\"state_vs_encoded\":{:.3}}}",
        args.objects,
        rate(ingest),
        raw_sled / ingest,
        sqlite / ingest,
        file / ingest,
        rate(replay),
        raw_scan / replay,
        open * 1e3,
        replay * 1e3,
        chain * 1e3,
        snapshot_read * 1e3,
        snapshot_decode * 1e3,
        read * 1e3,
        peak_rss,
        state_bytes,
        object_bytes,
        state_bytes as f64 / object_bytes as f64,
    );
}
