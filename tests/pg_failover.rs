//! Failover on a log in PostgreSQL with real processes (SPEC §10, R13), against a throwaway
//! cluster (`tests/common/pg.rs`).
//!
//! - Failover under fire: three `syncfold simulate LONG --log URL --wait --json` processes and
//!   one group-committing writer of this test binary (a child that flushes in the middle of its
//!   runs, so that a run in flight is durable when it dies: `simulate` only makes a run durable at
//!   its end, so a SIGKILL never leaves one of its runs half in the log) compete for one log. The
//!   log's holder (`syncfold_writers.pid`, whose session holds the advisory lock in `pg_locks`) is
//!   killed with SIGKILL at pseudo-random moments (a `simulate` at least 50 times, the child on
//!   top) and restarted, so that four keep competing. Then: every run any process printed is in
//!   the log with the same status; the log verifies; every run the child left durable and open is
//!   closed as `interrupted`, and no run is left in flight; each epoch belongs to one process and the processes' runs are not
//!   interleaved (each process's runs are one block of the log, in the order of the epochs).
//!   Once, midway, a writer without `--wait` fails at once (status 3) naming the holder.
//! - A reader beside it: `state --json` and `events --json` in a loop never see a gap in `seq`
//!   nor a record that later disappears.
//! - A cut connection: a writer whose server session is terminated exits non-zero saying it lost
//!   the log (status 3), what it printed before is in the log, nothing is appended after, and
//!   its lock ended with its session (a new writer takes the log over at once, in the next epoch).

mod common;
use common::{ok, syncfold};
#[path = "common/pg.rs"]
mod pg;

use pg::{PgServer, SideSession};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use syncfold::core::*;
use syncfold::log::{Log, LogOptions, PgOpen, PgStore, PgUrl};

const CHILD_URL: &str = "SYNCFOLD_TEST_FAILOVER_URL";
/// Kills of a `simulate` holding the log in the failover test (at least 50; the child's kills
/// come on top).
const KILLS: usize = 52;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// xorshift64: the test's only randomness, seeded, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// ---------------------------------------------------------------------------------------------
// The group-committing child.

/// The child: takes the log over (waiting for its holder), announces its epoch, then appends
/// delta imports forever, flushing after every page, printing `open RUN` once a run's start is
/// durable, `ending RUN` before it ends the run and `done RUN` once its end is durable (each after `@`: libtest prints lines of its own).
fn run_stepper_child(url: &PgUrl) -> ! {
    let store = PgStore::open(
        url,
        PgOpen {
            wait: true,
            ..PgOpen::default()
        },
    )
    .unwrap_or_else(|error| {
        eprintln!("child cannot open the log: {error}");
        std::process::exit(3)
    });
    let epoch = store.epoch().expect("a writer has an epoch");
    let (mut log, _) = Log::open(
        store,
        LogOptions::default(),
        syncfold::engine::system_clock(),
    )
    .unwrap_or_else(|error| {
        eprintln!("child cannot recover the log: {error}");
        std::process::exit(3)
    });
    println!("@epoch {epoch}");
    let connector = ConnectorName::from("stepper");
    let actor = Actor::from_name("stepper-child");
    let mut counter = log.state().runs().len() as u64;
    loop {
        counter += 1;
        let now = syncfold::engine::system_clock();
        let events = log
            .execute(
                &Command::StartRun {
                    connector: connector.clone(),
                    partition: PartitionName(format!("s{}", counter % 2)),
                    kind: RunKind::DeltaImport,
                    settings: Settings::default(),
                },
                now,
                &actor,
            )
            .expect("start");
        let Some(Event::RunStarted { run, .. }) = events.first() else {
            continue;
        };
        let run = *run;
        for page in 1..=3u64 {
            let read = Page {
                changes: vec![ObjectChange {
                    anchor: Anchor(format!("v{}", (counter * 7 + page) % 50)),
                    kind: ChangeKind::Update,
                    attributes: Attributes::new(),
                }],
                watermark: Some(Watermark::from_text(&format!("c{counter}p{page}"))),
                ..Page::default()
            };
            log.execute(&Command::RecordPage { run, page: read }, now, &actor)
                .expect("page");
            log.flush().expect("flush");
            if page == 1 {
                println!("@open {}", run.0);
            }
        }
        // From here its end may be durable before `done` is printed.
        println!("@ending {}", run.0);
        log.execute(&Command::EndRun { run }, now, &actor)
            .expect("end");
        log.flush().expect("flush");
        println!("@done {}", run.0);
    }
}

/// Entry point of the child process; a no-op in a normal test run.
#[test]
fn child_process_entry() {
    let Some(url) = std::env::var_os(CHILD_URL) else {
        return;
    };
    let url = PgUrl::parse(url.to_str().expect("utf-8")).expect("the child's URL");
    run_stepper_child(&url)
}

// ---------------------------------------------------------------------------------------------
// The competing processes.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Simulate,
    Stepper,
}

/// One competing process and the threads collecting what it prints.
struct Competitor {
    number: usize,
    kind: Kind,
    child: Child,
    stdout: JoinHandle<Vec<String>>,
    stderr: JoinHandle<String>,
}

/// What a competitor printed, once it ended.
struct Ended {
    number: usize,
    kind: Kind,
    pid: u32,
    killed: bool,
    success: bool,
    lines: Vec<String>,
    stderr: String,
}

fn spawn(number: usize, kind: Kind, scenario: &Path, url: &str) -> Competitor {
    let mut command = match kind {
        Kind::Simulate => {
            let mut command = Process::new(env!("CARGO_BIN_EXE_syncfold"));
            command.args([
                "simulate",
                scenario.to_str().expect("utf-8"),
                "--log",
                url,
                "--wait",
                "--json",
            ]);
            command
        }
        Kind::Stepper => {
            let mut command = Process::new(std::env::current_exe().expect("test binary"));
            command
                .args([
                    "child_process_entry",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_URL, url);
            command
        }
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a competitor starts");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let stdout = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(err).read_to_string(&mut text);
        text
    });
    Competitor {
        number,
        kind,
        child,
        stdout,
        stderr,
    }
}

impl Competitor {
    fn end(mut self, kill: bool) -> Ended {
        let pid = self.child.id();
        if kill {
            self.child.kill().expect("SIGKILL");
        }
        let status = self.child.wait().expect("wait");
        Ended {
            number: self.number,
            kind: self.kind,
            pid,
            killed: status.signal() == Some(9),
            success: status.success(),
            lines: self.stdout.join().expect("stdout reader"),
            stderr: self.stderr.join().expect("stderr reader"),
        }
    }
}

/// The log's holder: the process id and epoch in `syncfold_writers`, if that writer's session
/// still holds an advisory lock (a dead holder's row stays until the next writer takes over).
fn holder(side: &SideSession, log: &str) -> Option<(u32, i64)> {
    let rows = side.column(&format!(
        "SELECT w.pid || ' ' || w.epoch FROM syncfold_writers w
         JOIN pg_locks l ON l.pid = w.backend_pid AND l.locktype = 'advisory' AND l.granted
         WHERE w.log = '{log}'"
    ));
    let row = rows.into_iter().next()??;
    let (pid, epoch) = row.split_once(' ')?;
    Some((pid.parse().ok()?, epoch.parse().ok()?))
}

// ---------------------------------------------------------------------------------------------
// The reader beside the writers.

/// What the reader saw.
#[derive(Default)]
struct Seen {
    rounds: usize,
    last_events: Vec<String>,
    /// Runs seen ended in a `state --json`, with their status.
    ended: BTreeMap<u64, String>,
}

/// `events --json` and `state --json` in a loop until `stop`: events dense from 1, each
/// snapshot a prefix of the next, `last_seq` never going back, an ended run never changing.
fn reader_loop(url: String, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut last_seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let output = syncfold(&["state", "--log", &url, "--json"]);
        if output.status.code() == Some(2) && seen.rounds == 0 {
            // No log yet.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let state: Value = serde_json::from_str(&ok(&output, "state --json")).expect("json");
        let seq = state["last_seq"].as_u64().expect("last_seq");
        assert!(seq >= last_seq, "state went back from {last_seq} to {seq}");
        last_seq = seq;
        for run in state["runs"].as_array().expect("runs") {
            if run["in_flight"].as_bool() == Some(true) {
                continue;
            }
            let id = run["id"].as_u64().expect("id");
            let status = run["status"].as_str().expect("status").to_owned();
            if let Some(before) = seen.ended.insert(id, status.clone()) {
                assert_eq!(before, status, "run {id} changed its status");
            }
        }
        let events = ok(
            &syncfold(&["events", "--log", &url, "--json"]),
            "events --json",
        );
        let lines: Vec<String> = events.lines().map(str::to_owned).collect();
        for (index, line) in lines.iter().enumerate() {
            let event: Value = serde_json::from_str(line).expect("json");
            assert_eq!(
                event["seq"].as_u64(),
                Some(index as u64 + 1),
                "events are dense from 1"
            );
        }
        assert!(
            lines.len() >= seen.last_events.len()
                && lines[..seen.last_events.len()] == seen.last_events[..],
            "an earlier snapshot of the events ({} records) is not a prefix of a later one ({})",
            seen.last_events.len(),
            lines.len()
        );
        assert!(
            lines.len() as u64 >= last_seq,
            "events read after state show fewer records"
        );
        seen.last_events = lines;
        seen.rounds += 1;
    }
    seen
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn failover_under_fire_loses_nothing_printed() {
    let started = Instant::now();
    let server = PgServer::start();
    let url = server.url("failover");
    let log = url.log().to_owned();
    let url = url.to_string();
    let folder = scratch("pg-failover");
    let scenario = folder.join("long.toml");
    common::long_scenario(&scenario, 600, 3, 3);
    let side = server.side_session();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (url, stop) = (url.clone(), stop.clone());
        std::thread::spawn(move || reader_loop(url, stop))
    };

    let kinds = [
        Kind::Simulate,
        Kind::Simulate,
        Kind::Simulate,
        Kind::Stepper,
    ];
    let mut numbers = 0..;
    let mut slots: Vec<Competitor> = kinds
        .iter()
        .map(|kind| spawn(numbers.next().expect("n"), *kind, &scenario, &url))
        .collect();
    // The first writer creates the tables.
    while side.column("SELECT to_regclass('syncfold_writers')::text")
        != vec![Some("syncfold_writers".to_owned())]
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut ended: Vec<Ended> = Vec::new();
    let mut epochs: Vec<(i64, u32)> = Vec::new();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut kills = 0;
    let mut busy_checked = false;
    let tiny = folder.join("tiny.toml");
    common::long_scenario(&tiny, 1, 1, 1);
    let tiny_text = tiny.to_str().expect("utf-8");
    let mut finished = 0;
    let mut kinds_killed: BTreeMap<&str, usize> = BTreeMap::new();
    let give_up = Instant::now() + Duration::from_secs(170);
    while kinds_killed.get("simulate").copied().unwrap_or(0) < KILLS {
        assert!(
            Instant::now() < give_up,
            "only {kills} kills in time; epochs {epochs:?}\n{}",
            server.server_log()
        );
        // A competitor that ended on its own (a scenario played to its end) is replaced.
        for competitor in &mut slots {
            if competitor.child.try_wait().expect("try_wait").is_some() {
                let kind = competitor.kind;
                let fresh = spawn(numbers.next().expect("n"), kind, &scenario, &url);
                let done = std::mem::replace(competitor, fresh).end(false);
                assert!(
                    done.kind == Kind::Simulate && done.success,
                    "competitor {} ended on its own: {}",
                    done.number,
                    done.stderr
                );
                finished += 1;
                ended.push(done);
            }
        }
        let Some((pid, epoch)) = holder(&side, &log) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if epochs.last().is_none_or(|(last, _)| *last != epoch) {
            epochs.push((epoch, pid));
        }
        let Some(slot) = slots.iter().position(|c| c.child.id() == pid) else {
            // The holder was just replaced (its row names a process already ended): wait.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if kills == 10 && !busy_checked {
            // Without --wait, another writer fails at once naming the holder.
            busy_checked = true;
            let output = syncfold(&["simulate", tiny_text, "--log", &url]);
            let said = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(3), "busy: {said}");
            assert!(
                said.contains(&format!("process {pid} "))
                    && said.contains(&format!("epoch {epoch}")),
                "the holder named: {said}"
            );
        }
        // Kill it a moment after it took over, or (one time in four) at once, while it may still
        // be recovering what its predecessor left (closing a run as interrupted).
        let draw = rng.next();
        let delay = if draw.is_multiple_of(4) {
            draw % 7
        } else {
            draw % 250
        };
        std::thread::sleep(Duration::from_millis(delay));
        let kind = slots[slot].kind;
        let fresh = spawn(numbers.next().expect("n"), kind, &scenario, &url);
        let done = std::mem::replace(&mut slots[slot], fresh).end(true);
        if done.killed {
            kills += 1;
            *kinds_killed
                .entry(match kind {
                    Kind::Simulate => "simulate",
                    Kind::Stepper => "stepper",
                })
                .or_default() += 1;
        }
        ended.push(done);
    }
    // Stop the survivors, then one last writer closes what they left in flight.
    for competitor in slots {
        ended.push(competitor.end(true));
    }
    ok(
        &syncfold(&["simulate", tiny_text, "--log", &url, "--wait", "--json"]),
        "the last writer",
    );
    stop.store(true, Ordering::Relaxed);
    let seen = reader
        .join()
        .expect("the reader found no gap and no lost record");

    // The log verifies, and the reader's last snapshot is a prefix of it.
    ok(&syncfold(&["verify", "--log", &url]), "verify");
    let final_events: Vec<String> = ok(&syncfold(&["events", "--log", &url, "--json"]), "events")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        final_events.len() >= seen.last_events.len()
            && final_events[..seen.last_events.len()] == seen.last_events[..],
        "the reader's last snapshot is not a prefix of the final log"
    );
    let runs: BTreeMap<u64, Value> = ok(&syncfold(&["runs", "--log", &url, "--json"]), "runs")
        .lines()
        .map(|line| {
            let run: Value = serde_json::from_str(line).expect("json");
            (run["id"].as_u64().expect("id"), run)
        })
        .collect();
    for (id, status) in &seen.ended {
        assert_eq!(
            runs[id]["status"].as_str(),
            Some(status.as_str()),
            "run {id} as the reader saw it ended"
        );
    }
    // No run is left in flight.
    for (id, run) in &runs {
        assert_eq!(run["in_flight"], Value::Bool(false), "run {id} in flight");
    }

    // Every printed run is in the log as printed; the child's runs left open are interrupted.
    let mut owner: BTreeMap<u64, usize> = BTreeMap::new();
    let mut printed = 0;
    let mut left_open = BTreeSet::new();
    for done in &ended {
        let mut opened = BTreeSet::new();
        for line in &done.lines {
            let id = match done.kind {
                Kind::Simulate => {
                    let Ok(json) = serde_json::from_str::<Value>(line) else {
                        panic!("competitor {} printed {line:?}", done.number)
                    };
                    let id = json["id"].as_u64().expect("id");
                    let run = runs
                        .get(&id)
                        .unwrap_or_else(|| panic!("printed run {id} is not in the log"));
                    for field in ["partition", "kind", "status", "committed_watermark"] {
                        assert_eq!(json[field], run[field], "run {id}: {field}");
                    }
                    printed += 1;
                    id
                }
                Kind::Stepper => {
                    // libtest's own lines have no `@`; the child's may follow one of them.
                    let Some((_, said)) = line.rsplit_once('@') else {
                        continue;
                    };
                    let (word, number) = said.split_once(' ').expect("a child's line");
                    let number: u64 = number.parse().expect("a number");
                    match word {
                        "epoch" => {
                            // The child's own word for its epoch agrees with the writers' row.
                            if let Some((epoch, _)) =
                                epochs.iter().find(|(_, pid)| *pid == done.pid)
                            {
                                assert_eq!(*epoch as u64, number, "the child's epoch");
                            }
                            continue;
                        }
                        "open" => {
                            opened.insert(number);
                        }
                        "ending" => {
                            opened.remove(&number);
                        }
                        "done" => {
                            let status = runs[&number]["status"].as_str().expect("status");
                            assert_ne!(status, "interrupted", "run {number} ended");
                            printed += 1;
                        }
                        _ => panic!("the child printed {line:?}"),
                    }
                    number
                }
            };
            if let Some(other) = owner.insert(id, done.number) {
                assert_eq!(other, done.number, "run {id} printed by two processes");
            }
        }
        assert!(opened.len() <= 1, "one run at a time: {opened:?}");
        left_open.extend(opened);
    }
    for id in &left_open {
        assert_eq!(
            runs[id]["status"].as_str(),
            Some("interrupted"),
            "run {id} was durable and open when its writer died"
        );
    }
    let interrupted = runs
        .values()
        .filter(|run| run["status"] == "interrupted")
        .count();
    assert!(
        interrupted <= kills + kinds.len(),
        "{interrupted} interrupted runs for {kills} kills"
    );

    // One process per epoch, epochs increasing; each process's runs are one block of the log,
    // and the blocks come in the order of the epochs.
    for pair in epochs.windows(2) {
        assert!(pair[0].0 < pair[1].0, "epochs went back: {epochs:?}");
    }
    let pids: BTreeSet<u32> = epochs.iter().map(|(_, pid)| *pid).collect();
    assert_eq!(
        pids.len(),
        epochs.len(),
        "a process with two epochs: {epochs:?}"
    );
    let mut blocks: Vec<usize> = Vec::new();
    for number in owner.values() {
        if blocks.last() != Some(number) {
            assert!(
                !blocks.contains(number),
                "process {number}'s runs are interleaved with another's: {owner:?}"
            );
            blocks.push(*number);
        }
    }
    let pid_of: BTreeMap<usize, u32> = ended.iter().map(|e| (e.number, e.pid)).collect();
    let epoch_of: BTreeMap<u32, i64> = epochs.iter().map(|(epoch, pid)| (*pid, *epoch)).collect();
    let block_epochs: Vec<i64> = blocks
        .iter()
        .filter_map(|number| epoch_of.get(&pid_of[number]).copied())
        .collect();
    assert!(
        block_epochs.windows(2).all(|pair| pair[0] < pair[1]),
        "the processes' runs are not in the order of their epochs: {block_epochs:?}"
    );
    assert!(
        !left_open.is_empty(),
        "the child died with a run open at least once"
    );
    println!(
        "{kills} kills ({kinds_killed:?}), {finished} scenarios played to their end, {} epochs seen, {printed} printed runs checked, \
         {} left open and interrupted, {} runs and {} records in the log, reader rounds {}, {:?}",
        epochs.len(),
        left_open.len(),
        runs.len(),
        final_events.len(),
        seen.rounds,
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn a_writer_whose_session_is_cut_cannot_append_and_says_so() {
    let server = PgServer::start();
    let url = server.url("cut");
    let log = url.log().to_owned();
    let url = url.to_string();
    let folder = scratch("pg-cut");
    let scenario = folder.join("long.toml");
    common::long_scenario(&scenario, 5_000, 3, 3);
    let mut writer = Process::new(env!("CARGO_BIN_EXE_syncfold"))
        .args([
            "simulate",
            scenario.to_str().expect("utf-8"),
            "--log",
            &url,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("simulate starts");
    let (sender, lines) = std::sync::mpsc::channel();
    let out = writer.stdout.take().expect("stdout");
    let stdout = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = sender.send(());
            all.push(line);
        }
        all
    });
    let err = writer.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(err).read_to_string(&mut text);
        text
    });
    for _ in 0..5 {
        lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer prints runs");
    }
    let side = server.side_session();
    let row = side.column(&format!(
        "SELECT pid || ' ' || backend_pid FROM syncfold_writers WHERE log = '{log}'"
    ));
    let row = row.into_iter().next().flatten().expect("a writer row");
    let (pid, backend) = row.split_once(' ').expect("two values");
    assert_eq!(
        pid.parse::<u32>().ok(),
        Some(writer.id()),
        "the writer's row"
    );
    side.terminate(backend.parse().expect("a backend pid"));
    let status = writer.wait().expect("wait");
    let printed = stdout.join().expect("stdout");
    let stderr = stderr.join().expect("stderr");
    assert_eq!(
        status.code(),
        Some(3),
        "the cut writer is unavailable: {stderr}"
    );
    assert!(
        printed.len() < 5_000,
        "the writer stopped before its scenario's end"
    );
    let said = stderr.to_lowercase();
    assert!(
        said.contains("lost the right to write") && said.contains("session"),
        "the writer says it lost the log: {stderr}"
    );
    println!(
        "exit {status:?}, {} runs printed, said: {stderr}",
        printed.len()
    );

    // What it printed is in the log, which verifies; it appends nothing more.
    ok(&syncfold(&["verify", "--log", &url]), "verify");
    let runs: BTreeMap<u64, Value> = ok(&syncfold(&["runs", "--log", &url, "--json"]), "runs")
        .lines()
        .map(|line| {
            let run: Value = serde_json::from_str(line).expect("json");
            (run["id"].as_u64().expect("id"), run)
        })
        .collect();
    for line in &printed {
        let json: Value = serde_json::from_str(line).expect("json");
        let id = json["id"].as_u64().expect("id");
        let run = runs
            .get(&id)
            .unwrap_or_else(|| panic!("printed run {id} is not in the log"));
        for field in ["partition", "kind", "status", "committed_watermark"] {
            assert_eq!(json[field], run[field], "run {id}: {field}");
        }
    }
    let events = ok(&syncfold(&["events", "--log", &url, "--json"]), "events");
    // What it says of its last flush is so: records it says were not stored are not.
    // ("records N to M were not stored" or "record N was not stored"; a head note not stored
    // says nothing of the records.)
    let not_stored = ["were not stored", "was not stored"]
        .iter()
        .find_map(|phrase| stderr.split_once(phrase))
        .and_then(|(before, _)| {
            let words: Vec<&str> = before.split_whitespace().rev().take(4).collect();
            match words[..] {
                [_, "to", first, "records", ..] | [first, "record", ..] => {
                    first.parse::<u64>().ok()
                }
                _ => None,
            }
        });
    if let Some(first) = not_stored {
        assert_eq!(
            events.lines().count() as u64,
            first - 1,
            "the log ends just before the records the writer says were not stored: {stderr}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        events,
        ok(&syncfold(&["events", "--log", &url, "--json"]), "events"),
        "nothing appended after the writer ended"
    );
    // Its lock ended with its session: a writer that does not wait takes the log over at once.
    let epoch = |side: &SideSession| {
        side.column(&format!(
            "SELECT epoch::text FROM syncfold_writers WHERE log = '{log}'"
        ))
    };
    let before = epoch(&side);
    let tiny = folder.join("tiny.toml");
    common::long_scenario(&tiny, 1, 1, 1);
    ok(
        &syncfold(&["simulate", tiny.to_str().expect("utf-8"), "--log", &url]),
        "a new writer",
    );
    let after = epoch(&side);
    let number = |epoch: &[Option<String>]| -> i64 {
        epoch[0]
            .as_deref()
            .expect("an epoch")
            .parse()
            .expect("a number")
    };
    assert_eq!(number(&after), number(&before) + 1, "the next epoch");
    ok(&syncfold(&["verify", "--log", &url]), "verify");
    let _ = std::fs::remove_dir_all(&folder);
}
