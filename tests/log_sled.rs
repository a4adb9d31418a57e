//! The log on real sled folders and real processes.
//!
//! - Crash: this test binary re-runs itself as a child (as sled's own harness does) that appends
//!   runs to a sled log, flushing at every commit point and printing each acknowledgement; the
//!   parent kills it with SIGKILL at pseudo-random moments, at least 50 times, and after each kill
//!   reopens the log and checks that every acknowledged record is there with the hash the child
//!   printed, that the chain and the rules verify, and that each partition's committed watermark is
//!   the last acknowledged one or a later commit.
//! - Damage: 8 bytes of sled's files are overwritten at many offsets; opening gives the exact
//!   original state or an error naming the damage, never other state and never a panic.
//! - Determinism: two separate processes fold the same log to the same state hash.
//! - Format evolution: golden logs written by format 1 (committed under `tests/fixtures/`) fold to
//!   the state hash recorded beside them, forever.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;
use syncfold::core::*;
use syncfold::log::*;
use syncfold::script::{ImportPage, Player, Step};

const CHILD_LOG: &str = "SYNCFOLD_TEST_CHILD_LOG";
const CHILD_ROLE: &str = "SYNCFOLD_TEST_CHILD_ROLE";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn hex(hash: &[u8]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn open_sled(folder: &Path) -> Result<(Log<SledStore>, OpenReport), LogError> {
    let store = SledStore::open(folder)?;
    Log::open(store, LogOptions::default(), Timestamp(1))
}

/// One delta import of `pages` pages on partition `p<n>`, one page failing now and then.
fn delta_step(counter: u64, pages: u64) -> Step {
    let pages = (1..=pages)
        .map(|page| {
            let tag = format!("r{counter}p{page}");
            let mut read = Page {
                changes: vec![ObjectChange {
                    anchor: Anchor(format!("u{}", (counter * 7 + page) % 50)),
                    kind: ChangeKind::Update,
                    attributes: Attributes::new(),
                }],
                watermark: Some(Watermark::from_text(&tag)),
                ..Page::default()
            };
            if (counter + page).is_multiple_of(11) {
                read.errors.push(DiscoveryError {
                    anchor: Anchor(format!("bad{counter}")),
                    kind: ObjectErrorKind::CustomContinueRun,
                    name: "invalid-characters-error".into(),
                    description: "generated".into(),
                });
            }
            ImportPage::Page(read)
        })
        .collect();
    Step::Import {
        partition: PartitionName(format!("p{}", counter % 3)),
        kind: RunKind::DeltaImport,
        pages,
    }
}

/// The child: appends runs forever, flushing at each commit point, printing acknowledgements.
fn run_writer_child(folder: &Path) -> ! {
    let (mut log, _) = open_sled(folder).unwrap_or_else(|error| {
        eprintln!("child cannot open the log: {error}");
        std::process::exit(3)
    });
    let connector = ConnectorName::from("crash");
    let settings = Settings::default();
    let actor = Actor::from_name("crash-child");
    let mut counter = log.state().runs().len() as u64;
    loop {
        counter += 1;
        let Step::Import {
            partition,
            kind,
            pages,
        } = delta_step(counter, 1 + counter % 4)
        else {
            unreachable!()
        };
        let events = log
            .execute(
                &Command::StartRun {
                    connector: connector.clone(),
                    partition: partition.clone(),
                    kind,
                    settings: settings.clone(),
                },
                Timestamp(counter as i64),
                &actor,
            )
            .expect("start");
        let Some(Event::RunStarted { run, .. }) = events.first() else {
            continue;
        };
        for (index, page) in pages.into_iter().enumerate() {
            let ImportPage::Page(page) = page else {
                unreachable!()
            };
            log.execute(
                &Command::RecordPage { run: *run, page },
                Timestamp(counter as i64),
                &actor,
            )
            .expect("page");
            if index % 2 == 1 {
                // Group commit between pages sometimes, as an engine may.
                log.flush().expect("flush");
            }
        }
        log.execute(
            &Command::EndRun { run: *run },
            Timestamp(counter as i64),
            &actor,
        )
        .expect("end");
        let durable = log.flush().expect("flush");
        let finished = log.finished_run(*run, &durable).expect("durable run");
        println!(
            "\nack {} {} {} {}",
            durable.seq(),
            hex(durable.hash()),
            finished.partition,
            finished
                .committed_watermark
                .as_ref()
                .map_or("-".to_owned(), Watermark::display_text)
        );
    }
}

/// The child of the determinism test: verifies the log and prints the state hash.
fn run_hash_child(folder: &Path) -> ! {
    let store = SledStore::open(folder).expect("open");
    let report = verify(&store).expect("verifies");
    println!("\nhash {}", hex(&report.state_hash));
    std::process::exit(0)
}

/// Entry point of the child processes; a no-op in a normal test run.
#[test]
fn child_process_entry() {
    let (Some(folder), Some(role)) = (std::env::var_os(CHILD_LOG), std::env::var_os(CHILD_ROLE))
    else {
        return;
    };
    let folder = PathBuf::from(folder);
    match role.to_str() {
        Some("writer") => run_writer_child(&folder),
        Some("hash") => run_hash_child(&folder),
        _ => std::process::exit(2),
    }
}

fn child(folder: &Path, role: &str) -> Process {
    let mut command = Process::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            "child_process_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_LOG, folder)
        .env(CHILD_ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let folder = scratch("kill");
    let kills: u64 = std::env::var("SYNCFOLD_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut acknowledged_total = 0;
    let mut last_acknowledged: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for kill in 0..kills {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(5 + seed % 120);
        let mut process = child(&folder, "writer").spawn().expect("spawn child");
        let stdout = process.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(delay);
        process.kill().expect("SIGKILL");
        let _ = process.wait();
        let lines = reader.join().expect("reader");
        let mut acks = Vec::new();
        for line in &lines {
            let parts: Vec<&str> = line.split(' ').collect();
            if parts.len() == 5 && parts[0] == "ack" {
                let seq: u64 = parts[1].parse().expect("seq");
                acks.push((seq, parts[2].to_owned()));
                last_acknowledged.insert(parts[3].to_owned(), (seq, parts[4].to_owned()));
            }
        }
        acknowledged_total += acks.len();
        let store = SledStore::open(&folder).expect("reopen after SIGKILL");
        for (seq, hash) in &acks {
            let record = store
                .get(*seq)
                .expect("read")
                .unwrap_or_else(|| panic!("kill {kill}: acknowledged record {seq} is missing"));
            assert_eq!(
                &hex(&record::hash(&record)),
                hash,
                "kill {kill}: record {seq} changed"
            );
        }
        let report = verify(&store).unwrap_or_else(|error| panic!("kill {kill}: {error}"));
        assert!(report.records >= acks.last().map_or(0, |(seq, _)| *seq));
        let (log, _) = Log::open(store, LogOptions::default(), Timestamp(1))
            .unwrap_or_else(|error| panic!("kill {kill}: {error}"));
        // Each partition's committed watermark is the last acknowledged one or a later commit.
        for (partition, (seq, watermark)) in &last_acknowledged {
            let state = log
                .state()
                .partition(
                    &ConnectorName::from("crash"),
                    &PartitionName(partition.clone()),
                )
                .expect("partition");
            let committed = state
                .committed_watermark()
                .map_or("-".to_owned(), Watermark::display_text);
            let committed_at = state.committed_by().map_or(0, |o| o.seq);
            assert!(
                committed == *watermark || committed_at > *seq || watermark == "-",
                "kill {kill}: {partition} recovered {committed}, acknowledged {watermark} at {seq}"
            );
        }
        assert!(
            log.state().open_runs().next().is_none(),
            "recovery closes runs in flight"
        );
    }
    println!("{kills} kills survived, {acknowledged_total} acknowledgements checked");
    assert!(
        acknowledged_total > 0,
        "the children acknowledged runs before being killed"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

/// Writes a sled log of `runs` runs of generated deltas; returns its folder, records and state hash.
fn sled_log(name: &str, runs: u64) -> (PathBuf, u64, Hash) {
    let folder = scratch(name);
    let mut player = Player::new(Actor::from_name("writer"), Timestamp(0), 1);
    let connector = ConnectorName::from("damage");
    for counter in 1..=runs {
        player
            .play(&connector, &Settings::default(), &delta_step(counter, 4))
            .expect("plays");
    }
    let (mut log, _) = open_sled(&folder.join("log")).expect("opens");
    for envelope in player.log() {
        log.append(envelope).expect("appends");
    }
    log.flush().expect("flush");
    let hash = codec::state_hash(log.state()).expect("hash");
    (folder, player.log().len() as u64, hash)
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

#[test]
fn damaged_sled_files_never_give_other_state() {
    let (folder, records, original) = sled_log("damage", 330);
    assert!(records >= 2000, "{records} records");
    let source = folder.join("log");
    let db = source.join("sled").join("db");
    let size = std::fs::metadata(&db).expect("db file").len();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    // Control: an undamaged copy opens with the original state.
    let control = folder.join("control");
    copy_folder(&source, &control);
    let (log, _) = open_sled(&control).expect("an undamaged copy opens");
    assert_eq!(codec::state_hash(log.state()).expect("hash"), original);
    drop(log);
    let mut records_returned = Vec::new();
    let offsets = 120;
    for step in 0..offsets {
        let offset = size * step / offsets;
        let copy = folder.join(format!("copy{step}"));
        copy_folder(&source, &copy);
        {
            use std::os::unix::fs::FileExt;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(copy.join("sled").join("db"))
                .expect("db");
            file.write_all_at(&0xDEAD_BEEF_DEAD_BEEFu64.to_le_bytes(), offset)
                .expect("damage");
        }
        let outcome = std::panic::catch_unwind(|| match open_sled(&copy) {
            Ok((log, _)) => {
                assert_eq!(
                    codec::state_hash(log.state()).expect("hash"),
                    original,
                    "damage at offset {offset} was accepted as other state"
                );
                "opened with the original state".to_owned()
            }
            Err(LogError::MissingAcknowledged { from, .. }) => {
                format!(
                    "acknowledged records missing (named): sled returned {}",
                    from - 1
                )
            }
            Err(LogError::Corrupt { .. }) => "damaged record (named)".to_owned(),
            Err(LogError::Store(error)) => {
                assert!(
                    error.to_string().contains("syncfold verify"),
                    "remedy named: {error}"
                );
                "store error with remedy".to_owned()
            }
            Err(other) => format!("other error: {other}"),
        });
        let outcome =
            outcome.unwrap_or_else(|_| panic!("a panic escaped for damage at offset {offset}"));
        if let Some(returned) =
            outcome.strip_prefix("acknowledged records missing (named): sled returned ")
        {
            records_returned.push(returned.parse::<u64>().unwrap_or(0));
            *outcomes
                .entry("acknowledged records missing (named)".to_owned())
                .or_default() += 1;
        } else {
            *outcomes.entry(outcome).or_default() += 1;
        }
        let _ = std::fs::remove_dir_all(&copy);
    }
    println!(
        "sled db of {size} bytes, {records} records, damaged at {offsets} offsets: {outcomes:?}"
    );
    println!("records sled returned without an error where some were lost: {records_returned:?}");
    assert!(
        outcomes.keys().all(|outcome| !outcome.starts_with("other")),
        "{outcomes:?}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn two_processes_fold_to_the_same_state_hash() {
    let (folder, _, original) = sled_log("determinism", 40);
    let mut hashes = Vec::new();
    for _ in 0..2 {
        let output = child(&folder.join("log"), "hash")
            .stderr(Stdio::piped())
            .output()
            .expect("child runs");
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text
            .lines()
            .find(|line| line.starts_with("hash "))
            .unwrap_or_else(|| {
                // The harness prints "test child_process_entry ... " before the child's own output.
                panic!(
                    "no hash line; stdout: {text}; stderr: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
        hashes.push(line.trim_start_matches("hash ").to_owned());
    }
    assert_eq!(hashes[0], hashes[1]);
    assert_eq!(hashes[0], hex(&original));
    let _ = std::fs::remove_dir_all(&folder);
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-v1")
}

/// What a golden log must keep folding to: the run table and the partitions, as an operator reads
/// them. (Not the state hash: the state gains fields as syncfold grows; old logs must still fold
/// to the same outcome.)
fn outcome(state: &State) -> String {
    let mut out = String::new();
    for run in state.runs() {
        out.push_str(&format!(
            "run {} {} {} {} committed={} obsoletion={} obsoleted={} errors={} warnings={}\n",
            run.id,
            run.partition,
            run.kind.as_str(),
            run.status.map_or("open", RunStatus::as_str),
            run.committed_watermark
                .as_ref()
                .map_or("-".to_owned(), Watermark::display_text),
            run.obsoletion.as_str(),
            run.counts.obsoleted,
            run.counts.errors,
            run.counts.warnings
        ));
    }
    for (connector, connector_state) in state.connectors() {
        for (name, part) in connector_state.partitions() {
            let live: Vec<&str> = part
                .objects()
                .iter()
                .filter(|(_, o)| !o.obsolete)
                .map(|(a, _)| a)
                .collect();
            let pending: Vec<String> = part
                .exports()
                .in_order()
                .map(|e| format!("{}:{}", e.change.kind.as_str(), e.change.anchor))
                .collect();
            out.push_str(&format!(
                "partition {connector}/{name} committed={} live={} pending=[{}] errors={}\n",
                part.committed_watermark()
                    .map_or("-".to_owned(), Watermark::display_text),
                live.join(","),
                pending.join(","),
                part.object_errors()
                    .keys()
                    .map(Anchor::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
    }
    out
}

/// Golden logs of format 1 keep folding to the outcome they were written with. Set
/// `SYNCFOLD_WRITE_GOLDEN=1` to (re)write them; only do so when adding a new format's goldens.
#[test]
fn golden_logs_of_format_1_still_fold() {
    let dir = fixtures();
    if std::env::var_os("SYNCFOLD_WRITE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fixtures");
        let mut player = Player::new(
            Actor::from_name("golden"),
            Timestamp(1_767_225_600_000),
            1000,
        );
        player.play_script(&syncfold::demo::week()).expect("plays");
        let (mut log, _) = open_sled(&dir.join("demo-sled")).expect("opens");
        let mut stream = Vec::new();
        for envelope in player.log() {
            let seq = log.append(envelope).expect("appends");
            let bytes = log.store().get(seq).expect("get").expect("record");
            stream.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            stream.extend_from_slice(&bytes);
        }
        log.flush().expect("flush");
        std::fs::write(dir.join("demo.records"), stream).expect("write stream");
        std::fs::write(dir.join("demo.expected"), outcome(log.state())).expect("write outcome");
    }
    let expected =
        std::fs::read_to_string(dir.join("demo.expected")).expect("golden outcome is committed");

    // The record stream, decoded record by record with the chain checked.
    let stream = std::fs::read(dir.join("demo.records")).expect("golden records are committed");
    let mut state = State::new();
    let (mut at, mut previous, mut seq) = (0usize, GENESIS, 0u64);
    while at < stream.len() {
        let len = u32::from_le_bytes(stream[at..at + 4].try_into().expect("length")) as usize;
        let bytes = &stream[at + 4..at + 4 + len];
        seq += 1;
        let checked = record::check(bytes, seq, &previous).expect("a golden record checks");
        let envelope = codec::decode_event(checked.payload).expect("a golden record decodes");
        state.apply(seq, &envelope).expect("a golden record folds");
        previous = checked.hash;
        at += 4 + len;
    }
    assert_eq!(outcome(&state), expected);

    // The sled folder, opened like any log (on a copy: opening may let sled tidy its files).
    let copy = scratch("golden");
    copy_folder(&dir.join("demo-sled"), &copy);
    let (log, report) = open_sled(&copy).expect("the golden sled log opens");
    assert!(report.interrupted.is_empty());
    assert_eq!(outcome(log.state()), expected);
    assert_eq!(log.state().runs().len(), 9);
    let _ = std::fs::remove_dir_all(&copy);

    // Read in place, as a reading command does: the committed folder (written before the head
    // note had a mirror) reads, and not one byte of it changes.
    let folder = dir.join("demo-sled");
    let fingerprint = || {
        let mut files = Vec::new();
        let mut pending = vec![folder.clone()];
        while let Some(next) = pending.pop() {
            for entry in std::fs::read_dir(&next).expect("readable folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    files.push((path.clone(), std::fs::read(&path).expect("readable file")));
                }
            }
        }
        files.sort();
        files
    };
    let before = fingerprint();
    let store = syncfold::log::open_for_reading(&folder).expect("reads in place");
    let (state, report) = syncfold::log::read(&store).expect("the golden log reads");
    drop(store);
    assert_eq!(outcome(&state), expected);
    assert_eq!(report.head_lost, None);
    assert!(report.in_flight.is_empty());
    assert!(
        before == fingerprint(),
        "reading changed the committed golden log"
    );
}
