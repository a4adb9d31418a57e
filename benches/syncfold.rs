//! `cargo bench --bench syncfold -- [--pages N] [--objects-per-page M] [--flush-every K]`
//!
//! Measures, in one run and on the same bytes, what the log costs over the storage it writes to:
//! appending page events through `Log` (fold + encode + chain + sled insert) against inserting the
//! identical record bytes into a raw sled tree, and a flush of each. Every figure is the median of
//! three repetitions, each on a fresh folder. Ratios, not absolute times, are the result: absolute
//! times depend on the machine.

use std::path::PathBuf;
use std::time::Instant;
use syncfold::core::*;
use syncfold::log::{Log, LogOptions, SledStore};

struct Args {
    pages: u64,
    objects_per_page: u64,
    flush_every: u64,
}

fn args() -> Args {
    let mut parsed = Args {
        pages: 1000,
        objects_per_page: 100,
        flush_every: 10,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut index = 0;
    while index < raw.len() {
        let value = raw.get(index + 1).and_then(|v| v.parse().ok());
        match (raw[index].as_str(), value) {
            ("--pages", Some(v)) => parsed.pages = v,
            ("--objects-per-page", Some(v)) => parsed.objects_per_page = v,
            ("--flush-every", Some(v)) => parsed.flush_every = v.max(1),
            ("--bench", _) => {
                index += 1;
                continue;
            }
            (other, _) => {
                eprintln!("unknown or incomplete argument {other}; use --pages N --objects-per-page M --flush-every K");
                std::process::exit(2);
            }
        }
        index += 2;
    }
    parsed
}

fn page(number: u64, objects: u64) -> Page {
    Page {
        changes: (0..objects)
            .map(|index| {
                let id = number * objects + index;
                ObjectChange {
                    anchor: Anchor(format!("uid=user{id:07},ou=people")),
                    kind: ChangeKind::Update,
                    attributes: Attributes(
                        [(
                            "mail".to_owned(),
                            AttributeValue::Single(format!("user{id}@example.org")),
                        )]
                        .into_iter()
                        .collect(),
                    ),
                }
            })
            .collect(),
        watermark: Some(Watermark::from_text(&format!("usn-{number}"))),
        ..Page::default()
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Timing {
    append_s: f64,
    flush_s: f64,
    flushes: u64,
}

/// Appends one delta import of `pages` pages through the log, flushing every `flush_every` pages.
/// Returns the timings and every record's bytes (for the raw sled baseline).
fn through_log(args: &Args, pages: &[Page]) -> (Timing, Vec<Vec<u8>>) {
    let folder = scratch("log");
    let store = SledStore::open(&folder).expect("open sled");
    let options = LogOptions {
        snapshot_every: 0,
        ..LogOptions::default()
    };
    let (mut log, _) = Log::open(store, options, Timestamp(0)).expect("open log");
    let actor = Actor::from_name("bench");
    log.execute(
        &Command::StartRun {
            connector: ConnectorName::from("bench"),
            partition: PartitionName::from("people"),
            kind: RunKind::DeltaImport,
            settings: Settings {
                snapshot_limit: u64::MAX,
                ..Settings::default()
            },
        },
        Timestamp(0),
        &actor,
    )
    .expect("start");
    let (mut append_s, mut flush_s, mut flushes) = (0.0, 0.0, 0);
    for (index, page) in pages.iter().enumerate() {
        let started = Instant::now();
        log.execute(
            &Command::RecordPage {
                run: RunId(1),
                page: page.clone(),
            },
            Timestamp(1),
            &actor,
        )
        .expect("page");
        append_s += started.elapsed().as_secs_f64();
        if (index as u64 + 1) % args.flush_every == 0 {
            let started = Instant::now();
            log.flush().expect("flush");
            flush_s += started.elapsed().as_secs_f64();
            flushes += 1;
        }
    }
    let mut records = Vec::new();
    for seq in 1..=log.last_seq() {
        records.push(
            syncfold::log::RecordStore::get(log.store(), seq)
                .expect("get")
                .expect("record"),
        );
    }
    drop(log);
    let _ = std::fs::remove_dir_all(&folder);
    (
        Timing {
            append_s,
            flush_s,
            flushes,
        },
        records,
    )
}

/// Inserts the same record bytes into a raw sled tree with the same flush points.
fn raw_sled(args: &Args, records: &[Vec<u8>]) -> Timing {
    let folder = scratch("raw");
    let db = sled::Config::new()
        .path(&folder)
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let tree = db.open_tree("records").expect("tree");
    tree.insert(0u64.to_be_bytes(), records[0].as_slice())
        .expect("insert");
    let (mut append_s, mut flush_s, mut flushes) = (0.0, 0.0, 0);
    for (index, record) in records[1..].iter().enumerate() {
        let started = Instant::now();
        tree.insert((index as u64 + 1).to_be_bytes(), record.as_slice())
            .expect("insert");
        append_s += started.elapsed().as_secs_f64();
        if (index as u64 + 1) % args.flush_every == 0 {
            let started = Instant::now();
            db.flush().expect("flush");
            flush_s += started.elapsed().as_secs_f64();
            flushes += 1;
        }
    }
    drop(tree);
    drop(db);
    let _ = std::fs::remove_dir_all(&folder);
    Timing {
        append_s,
        flush_s,
        flushes,
    }
}

fn main() {
    let args = args();
    let pages: Vec<Page> = (0..args.pages)
        .map(|n| page(n, args.objects_per_page))
        .collect();
    let (mut log_append, mut log_flush, mut raw_append, mut raw_flush) =
        (vec![], vec![], vec![], vec![]);
    let mut bytes = 0;
    for _ in 0..3 {
        let (log, records) = through_log(&args, &pages);
        bytes = records.iter().map(Vec::len).sum::<usize>();
        let raw = raw_sled(&args, &records);
        log_append.push(log.append_s / args.pages as f64);
        raw_append.push(raw.append_s / args.pages as f64);
        log_flush.push(log.flush_s / log.flushes.max(1) as f64);
        raw_flush.push(raw.flush_s / raw.flushes.max(1) as f64);
    }
    let (la, ra, lf, rf) = (
        median(log_append),
        median(raw_append),
        median(log_flush),
        median(raw_flush),
    );
    let objects = args.objects_per_page as f64;
    println!(
        "{} pages x {} objects ({:.1} MB of records), flush every {} pages, median of 3\n",
        args.pages,
        args.objects_per_page,
        bytes as f64 / 1e6,
        args.flush_every
    );
    println!(
        "{:<34} {:>14} {:>14} {:>8}",
        "", "syncfold log", "raw sled", "ratio"
    );
    println!(
        "{:<34} {:>11.1} us {:>11.1} us {:>7.2}x",
        "append one page event",
        la * 1e6,
        ra * 1e6,
        la / ra
    );
    println!(
        "{:<34} {:>11.0} /s {:>11.0} /s",
        "objects appended per second",
        objects / la,
        objects / ra
    );
    println!(
        "{:<34} {:>11.2} ms {:>11.2} ms {:>7.2}x",
        "flush (commit point)",
        lf * 1e3,
        rf * 1e3,
        lf / rf
    );
    println!(
        "{{\"append_page_us\":{:.2},\"raw_sled_append_page_us\":{:.2},\"append_vs_raw_sled\":{:.3},\"flush_ms\":{:.3},\"raw_sled_flush_ms\":{:.3},\"flush_vs_raw_sled\":{:.3}}}",
        la * 1e6, ra * 1e6, la / ra, lf * 1e3, rf * 1e3, lf / rf
    );
}
