//! The command line as a user drives it: `syncfold simulate` and `syncfold state --json` on every
//! example scenario, checked against the `#>` expectation lines written in each example by
//! `syncfold::scenario::expect` (the same reading the library test uses, here on the binary's
//! JSON, each line at its run through `state --at`); every malformed scenario fixture, missing
//! logs and logs in use get errors that say where and what to do;
//! and `simulate` killed with SIGKILL mid-run keeps every run it printed.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use syncfold::scenario::expect;

fn syncfold() -> Command {
    Command::new(env!("CARGO_BIN_EXE_syncfold"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The `.toml` files in a folder of the crate, sorted.
fn toml_files(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect(folder)
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    found.sort();
    found
}

fn state_json(log: &Path) -> Value {
    let output = syncfold()
        .args(["state", "--log"])
        .arg(log)
        .arg("--json")
        .output()
        .expect("state runs");
    assert!(
        output.status.success(),
        "state failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("state --json prints one JSON document")
}

/// `state --at SEQ --json`: the state just after event SEQ.
fn state_json_at(log: &Path, seq: &Value) -> Result<Value, String> {
    let output = syncfold()
        .args(["state", "--log"])
        .arg(log)
        .args(["--at", &seq.to_string(), "--json"])
        .output()
        .map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())
}

#[test]
fn every_example_reproduces_its_expected_outcome_through_the_binary() {
    let examples = toml_files("examples");
    assert!(examples.len() >= 6, "the seed cases are all there");
    for example in examples {
        let log = scratch(
            example
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("example"),
        );
        let output = syncfold()
            .arg("simulate")
            .arg(&example)
            .arg("--log")
            .arg(&log)
            .arg("--json")
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}: {}",
            example.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("utf-8");
        let printed: Vec<Value> = stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|_| panic!("{}: a non-JSON line: {line}", example.display()))
            })
            .collect();
        for (index, run) in printed.iter().enumerate() {
            assert_eq!(run["id"], index as u64 + 1);
            for key in ["partition", "kind", "status", "committed_watermark"] {
                assert!(run.get(key).is_some(), "simulate --json lacks {key}");
            }
        }
        let state = state_json(&log);
        assert_eq!(state["runs"].as_array().map(Vec::len), Some(printed.len()));
        for (line, run) in printed.iter().zip(state["runs"].as_array().expect("runs")) {
            assert_eq!(line["status"], run["status"]);
            assert_eq!(line["committed_watermark"], run["committed_watermark"]);
        }
        assert!(state["alerts"].is_array());
        // Each `#>` line is checked where the library checks it: just after its run ended
        // (`state --at` that run's last event), or at the end.
        let source = std::fs::read_to_string(&example).expect("example");
        let expectations =
            expect::parse(&source).unwrap_or_else(|error| panic!("{}: {error}", example.display()));
        let wrong = expect::check_all(&expectations, &state, |run| {
            let ended = state["runs"]
                .as_array()
                .and_then(|runs| runs.iter().find(|record| record["id"] == run))
                .map(|record| record["ended_seq"].clone())
                .ok_or_else(|| format!("no run {run}"))?;
            state_json_at(&log, &ended)
        });
        assert!(
            wrong.is_empty(),
            "{}:\n{}",
            example.display(),
            wrong.join("\n")
        );
        let checked = expectations.len();
        assert!(checked > 3, "{}: few expectations", example.display());
        let _ = std::fs::remove_dir_all(&log);
    }
}

/// Every case under `tests/fixtures/scenarios/malformed/` (`NAME.toml` and the exact message in
/// `NAME.expected`, the same files the library test reads): `simulate` exits with status 2,
/// prints `error: ` and that message (naming file, line, column and key) and nothing else, and
/// writes nothing.
#[test]
fn a_malformed_scenario_names_file_line_and_key_and_writes_nothing() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/malformed");
    let cases = toml_files("tests/fixtures/scenarios/malformed");
    assert!(cases.len() >= 54, "the malformed cases are all there");
    let dir = scratch("malformed");
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("log");
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|name| name.to_str())
            .expect("name");
        let expected = std::fs::read_to_string(case.with_extension("expected")).expect(".expected");
        // Run from the fixtures folder, so the file is named as its `.expected` names it.
        let output = syncfold()
            .current_dir(&fixtures)
            .arg("simulate")
            .arg(name)
            .arg("--log")
            .arg(&log)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(
            stderr,
            format!(
                "error: {}\n",
                syncfold::text::escape(expected.trim_end_matches('\n'))
            ),
            "{name}"
        );
        assert!(output.stdout.is_empty(), "{name}");
        assert!(
            !log.exists(),
            "{name}: nothing is written for a malformed scenario"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reading_a_missing_log_or_one_in_use_says_what_to_do() {
    let missing = scratch("missing");
    let output = syncfold()
        .args(["state", "--log"])
        .arg(&missing)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no syncfold log at") && stderr.contains("syncfold simulate"),
        "{stderr}"
    );
    assert!(!missing.exists(), "a reading command creates nothing");

    let log = scratch("in-use");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/watermark-abc.toml");
    let run = |command: &str, scenario: Option<&Path>| {
        let mut line = syncfold();
        line.arg(command);
        if let Some(scenario) = scenario {
            line.arg(scenario);
        }
        line.arg("--log").arg(&log).output().expect("runs")
    };
    assert!(run("simulate", Some(&example)).status.success());
    // A holder that serves readers (the default): the reading command reads through it.
    let holder = syncfold::log::SledStore::open(&log).expect("this test holds the log");
    let output = run("state", None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("completed-discovery-errors"));
    // A second writer is refused at once, naming the remedy.
    let output = run("simulate", Some(&example));
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    drop(holder);
    // A holder that does not serve readers: the reader says who holds the log and what to do.
    let holder = syncfold::log::SledStore::open_with(
        &log,
        syncfold::log::SledOptions {
            serve_readers: false,
        },
    )
    .expect("this test holds the log");
    let output = run("state", None);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not serve readers"), "{stderr}");
    drop(holder);
    let _ = std::fs::remove_dir_all(&log);

    let output = syncfold()
        .args(["state", "--logg", "x"])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "a wrong flag is a usage error"
    );
}

#[test]
fn simulate_killed_mid_run_keeps_every_run_it_printed() {
    let dir = scratch("kill");
    std::fs::create_dir_all(&dir).expect("dir");
    let scenario = dir.join("long.toml");
    common::long_scenario(&scenario, 400, 12, 20);
    for (round, after) in [1usize, 7, 25, 60, 3].into_iter().enumerate() {
        let log = dir.join(format!("log{round}"));
        let mut child = syncfold()
            .arg("simulate")
            .arg(&scenario)
            .arg("--log")
            .arg(&log)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut printed = Vec::new();
        while printed.len() < after {
            match lines.next() {
                Some(Ok(line)) => {
                    printed.push(serde_json::from_str::<Value>(&line).expect("JSON line"))
                }
                _ => break,
            }
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        assert_eq!(
            printed.len(),
            after,
            "round {round}: simulate printed runs before the kill"
        );
        let state = state_json(&log);
        let runs = state["runs"].as_array().expect("runs");
        assert!(
            runs.len() >= printed.len(),
            "round {round}: printed runs are missing"
        );
        for line in &printed {
            let id = line["id"].as_u64().expect("id") as usize;
            let run = &runs[id - 1];
            assert_eq!(run["status"], line["status"], "round {round}: run {id}");
            assert_eq!(
                run["committed_watermark"], line["committed_watermark"],
                "round {round}: run {id}"
            );
        }
        let _ = std::fs::remove_dir_all(&log);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A log that lost both copies of its head note: readers warn and still show it, `verify` fails
/// naming the records present, a writer refuses to append, and `admin accept-records` (with a
/// reason, recorded in the log) is the one way back to writing.
#[test]
fn a_lost_head_note_is_never_silent_and_accept_records_brings_the_log_back() {
    let log = scratch("head-lost");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/watermark-abc.toml");
    let run = |args: &[&str]| {
        syncfold()
            .args(args)
            .arg("--log")
            .arg(&log)
            .output()
            .expect("runs")
    };
    let simulate = || {
        syncfold()
            .arg("simulate")
            .arg(&example)
            .arg("--log")
            .arg(&log)
            .output()
            .expect("runs")
    };
    assert!(simulate().status.success());
    std::fs::write(log.join("HEAD"), b"").expect("empty HEAD");
    std::fs::write(log.join("HEAD.mirror"), [0u8; 128]).expect("zero the mirror");

    let verify = run(&["verify"]);
    assert_eq!(verify.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(stderr.contains("head note is lost"), "{stderr}");
    assert!(stderr.contains("records 1 to 19"), "{stderr}");
    assert!(stderr.contains("accept-records"), "{stderr}");
    let json = run(&["verify", "--json"]);
    let line: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("verify --json prints one object");
    assert_eq!(line["ok"], false);

    let state = run(&["state"]);
    assert_eq!(
        state.status.code(),
        Some(0),
        "readers still show the records"
    );
    assert!(String::from_utf8_lossy(&state.stderr).contains("warning"));

    let refused = simulate();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("head note is lost"));

    let no_reason = run(&["admin", "accept-records"]);
    assert_eq!(no_reason.status.code(), Some(2), "the reason is required");
    let accepted = syncfold()
        .args([
            "admin",
            "accept-records",
            "--reason",
            "HEAD lost with the disk; no backup",
        ])
        .args(["--actor", "alice", "--log"])
        .arg(&log)
        .output()
        .expect("runs");
    assert_eq!(accepted.status.code(), Some(0), "{accepted:?}");
    assert!(String::from_utf8_lossy(&accepted.stdout).contains("records 1 to 19 accepted by alice"));
    let events = run(&["events", "--json"]);
    let last: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&events.stdout)
            .lines()
            .last()
            .expect("events"),
    )
    .expect("json");
    assert_eq!(last["type"], "present-records-accepted");
    assert_eq!(last["actor"], "alice");
    assert_eq!(run(&["verify"]).status.code(), Some(0));
    assert!(simulate().status.success(), "writable again");
    let again = run(&["admin", "accept-records", "--reason", "twice"]);
    assert_eq!(again.status.code(), Some(2), "nothing to accept: {again:?}");
    let _ = std::fs::remove_dir_all(&log);
}

/// A full disk is an I/O failure, not damage: `simulate` stops with status 3 and says the disk is
/// full, every run it printed is in the log, and the log verifies. The disk is a 600 KiB tmpfs
/// mounted by the test (root only; elsewhere the test says it was skipped).
#[test]
fn a_full_disk_is_said_as_such_and_loses_nothing_acknowledged() {
    let mount = scratch("full-disk");
    std::fs::create_dir_all(&mount).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k", "tmpfs"])
        .arg(&mount)
        .output();
    if !mounted.as_ref().is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: mounting a small tmpfs needs root ({mounted:?})");
        let _ = std::fs::remove_dir_all(&mount);
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let guard = Unmount(mount.clone());
    let scenario = scratch("full-disk-scenario.toml");
    let mut file = std::fs::File::create(&scenario).expect("scenario");
    writeln!(
        file,
        "[connector]\nname = \"hr\"\nsnapshot_limit = 1000000\n"
    )
    .expect("write");
    for run in 0..300 {
        let objects: Vec<String> = (0..20)
            .map(|n| {
                format!(
                    "{{ anchor = \"u{}\", change = \"add\", attrs = {{ mail = \"{}\" }} }}",
                    run * 20 + n,
                    "x".repeat(200)
                )
            })
            .collect();
        writeln!(
            file,
            "[[step]]\nkind = \"full-import\"\npartition = \"people\"\n  [[step.page]]\n  watermark = \"W{run}\"\n  objects = [ {} ]\n",
            objects.join(", ")
        )
        .expect("write");
    }
    drop(file);
    let log = mount.join("log");
    let output = syncfold()
        .arg("simulate")
        .arg(&scenario)
        .arg("--log")
        .arg(&log)
        .arg("--json")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("is full"), "{stderr}");
    assert!(!stderr.contains("damaged"), "{stderr}");
    let printed = String::from_utf8_lossy(&output.stdout).lines().count();
    assert!(printed > 0, "some runs fit before the disk filled");
    let verify = syncfold()
        .args(["verify", "--json", "--log"])
        .arg(&log)
        .output()
        .expect("runs");
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).expect("one object");
    assert_eq!(report["ok"], true, "{report}");
    let runs = syncfold()
        .args(["runs", "--json", "--log"])
        .arg(&log)
        .output()
        .expect("runs");
    let ended = String::from_utf8_lossy(&runs.stdout)
        .lines()
        .filter(|line| line.contains("\"status\":\"success\""))
        .count();
    assert!(
        ended >= printed,
        "every run printed as durable is in the log"
    );
    let _ = std::fs::remove_file(&scenario);
    drop(guard);
}

/// The review's findings, each as an operator meets it: a demo log that `simulate` appended to is
/// not the demo's to replace; a damaged copy of the head note is said by `verify`; an output that
/// cannot be written is status 3 with a sentence; copies left in TMPDIR by a killed reader are
/// swept by the next one (a live process's never); a writer waits for a reader's copy.
#[test]
fn evidence_edges_from_the_review() {
    let dir = scratch("edges");
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("log");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/watermark-abc.toml");
    let demo = syncfold()
        .arg("demo")
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    assert!(demo.status.success());
    let simulate = |log: &Path| {
        syncfold()
            .arg("simulate")
            .arg(&example)
            .arg("--log")
            .arg(log)
            .output()
            .expect("runs")
    };
    assert!(
        simulate(&log).status.success(),
        "simulate may append to a demo log"
    );
    let again = syncfold()
        .arg("demo")
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("did not write (or not alone)"));

    // One damaged copy of the note: verify passes and says which.
    std::fs::write(log.join("HEAD.mirror"), b"garbage").expect("damage the mirror");
    let verify = syncfold()
        .args(["verify", "--log"])
        .arg(&log)
        .output()
        .expect("runs");
    assert_eq!(verify.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("Warning: HEAD.mirror has no valid slot"),
        "{verify:?}"
    );

    // An output that cannot be written.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    if let Ok(full) = full {
        let output = syncfold()
            .args(["runs", "--json", "--log"])
            .arg(&log)
            .stdout(full)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&output.stderr).contains("could not write the output"));
    }

    // Leftovers of a dead reader are swept; a live process's are not.
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let mut gone = Command::new("true").spawn().expect("spawn");
    let dead = gone.id();
    gone.wait().expect("reaped");
    let dead_copy = tmp.join(format!("syncfold-read-{dead}-0-1"));
    let live_copy = tmp.join(format!("syncfold-read-{}-0-1", std::process::id()));
    std::fs::create_dir_all(dead_copy.join("sled")).expect("leftover");
    std::fs::create_dir_all(&live_copy).expect("live");
    let read = syncfold()
        .args(["runs", "--log"])
        .arg(&log)
        .env("TMPDIR", &tmp)
        .output()
        .expect("runs");
    assert!(read.status.success());
    assert!(!dead_copy.exists(), "a dead reader's copy is swept");
    assert!(live_copy.exists(), "a live process's copy is left alone");

    // A writer waits while only a reader holds the sled files.
    let db = std::fs::File::open(log.join("sled").join("db")).expect("db");
    db.try_lock_shared().expect("a reader's shared lock");
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(700));
        drop(db);
    });
    let started = std::time::Instant::now();
    let output = simulate(&log);
    assert!(output.status.success(), "{output:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(600));
    release.join().expect("released");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scenario whose export results all get used when played into a new log can still leave one
/// unused in a log with earlier history (here a disabled connector): `simulate` stops after that
/// run with status 2, naming the step and saying what the log now holds (issue 16).
#[test]
fn an_export_result_left_unused_by_the_log_history_stops_simulate_with_status_2() {
    let dir = scratch("unused-result");
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("log");
    let disable = dir.join("disable.toml");
    std::fs::write(
        &disable,
        "[connector]\nname = \"hr\"\n[[step]]\nkind = \"full-import\"\n  [[step.page]]\n  \
         fault = \"bad-credentials\"\n",
    )
    .expect("write");
    let export = dir.join("export.toml");
    std::fs::write(
        &export,
        "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\n\
         enqueue = [ { anchor = \"u2\", change = \"add\" } ]\n\
         results = [ { anchor = \"u2\", result = \"success\" } ]\n[[step]]\nkind = \"export\"\n",
    )
    .expect("write");
    let first = syncfold()
        .arg("simulate")
        .arg(&disable)
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    assert_eq!(first.status.code(), Some(0));
    let output = syncfold()
        .arg("simulate")
        .arg(&export)
        .arg("--log")
        .arg(&log)
        .arg("--json")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: {}:3: step[0].results: export result for `u2`, which this export run did not \
             send; the run did not start (no-start-disabled): remove the result, or the steps \
             that keep the run from starting; run 2 and the steps before it are in {} (nothing \
             after it was played)\n",
            export.display(),
            log.display()
        )
    );
    // The run is durable and printed; the step after it was not played.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("\"no-start-disabled\""), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
