//! The command line as a user drives it: `syncfold simulate` and `syncfold state --json` on every
//! example scenario, checked against the `#>` expectation lines written in each example (the same
//! lines the library test checks against the core, here read back from the binary's JSON);
//! malformed scenarios, missing logs and logs in use get errors that say where and what to do;
//! and `simulate` killed with SIGKILL mid-run keeps every run it printed.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn syncfold() -> Command {
    Command::new(env!("CARGO_BIN_EXE_syncfold"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("examples/")
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

fn text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn names(value: &Value) -> String {
    let names: Vec<&String> = value
        .as_object()
        .map(|map| map.keys().collect())
        .unwrap_or_default();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names
            .iter()
            .map(|name| name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn pairs(body: &str) -> Vec<(&str, &str)> {
    body.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .collect()
}

/// Checks one `#>` line against `state --json`; returns what differs.
fn check(line: &str, state: &Value) -> Option<String> {
    let (head, body) = line.split_once(':')?;
    let head = head.trim();
    let body = body.trim();
    let runs = state["runs"].as_array().expect("runs[]");
    let partition = |name: &str| {
        state["partitions"]
            .as_array()
            .expect("partitions[]")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let people = partition("people");
    if let Some(rest) = head.strip_prefix("run ") {
        let mut words = rest.split_whitespace();
        let id: usize = words.next()?.parse().ok()?;
        let run = &runs[id - 1];
        let kind = words.next()?;
        if run["kind"] != kind {
            return Some(format!("run {id} is a {}, not a {kind}", run["kind"]));
        }
        for (key, want) in pairs(body) {
            let got = text(&run[key]);
            if got != want {
                return Some(format!(
                    "run {id} {key}: JSON says {got}, the example says {want}"
                ));
            }
        }
        return None;
    }
    if let Some(rest) = head.strip_prefix("limit run ") {
        let id: usize = rest.trim().parse().ok()?;
        let limit = &runs[id - 1]["limit"];
        let mut words = body.split_whitespace();
        let code = words.next()?;
        if limit["code"] != code {
            return Some(format!("run {id} limit code {}", limit["code"]));
        }
        for (key, want) in pairs(body) {
            if text(&limit[key]) != want {
                return Some(format!("run {id} limit {key}: {}", limit[key]));
            }
        }
        if !text(&limit["message"]).contains(&format!(
            "{}/{}",
            text(&limit["maximum"]),
            text(&limit["count"])
        )) {
            return Some(format!(
                "run {id} limit message lacks limit/count: {}",
                limit["message"]
            ));
        }
        return None;
    }
    if let Some(name) = head.strip_prefix("partition ") {
        let part = partition(name.trim());
        for (key, want) in pairs(body) {
            if text(&part[key]) != want {
                return Some(format!("partition {name} {key}: {}", part[key]));
            }
        }
        return None;
    }
    let objects = people["objects"].as_array().cloned().unwrap_or_default();
    let listed = |obsolete: bool| {
        let anchors: Vec<String> = objects
            .iter()
            .filter(|o| o["obsolete"] == obsolete)
            .map(|o| text(&o["anchor"]))
            .collect();
        if anchors.is_empty() {
            "(none)".to_owned()
        } else {
            anchors.join(" ")
        }
    };
    let pending = people["pending_exports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match head {
        "alerts" => {
            let mut got: Vec<String> = state["alerts"]
                .as_array()
                .expect("alerts[]")
                .iter()
                .filter(|alert| alert["severity"] != "info")
                .map(|alert| {
                    let mut label = format!(
                        "{}:{}:{}",
                        text(&alert["code"]),
                        text(&alert["severity"]),
                        text(&alert["scope"])
                    );
                    if !alert["anchor"].is_null() {
                        label.push_str(&format!("@{}", text(&alert["anchor"])));
                    }
                    assert!(
                        alert["remedy"].is_string(),
                        "alert without a remedy: {alert}"
                    );
                    label
                })
                .collect();
            got.sort();
            let mut want: Vec<&str> = if body == "(none)" {
                Vec::new()
            } else {
                body.split_whitespace().collect()
            };
            want.sort();
            (got.join(" ") != want.join(" ")).then(|| format!("alerts: {}", got.join(" ")))
        }
        "objects live" => {
            (listed(false) != body).then(|| format!("live objects: {}", listed(false)))
        }
        "objects obsolete" => {
            (listed(true) != body).then(|| format!("obsolete objects: {}", listed(true)))
        }
        "pending_exports" => {
            let got: Vec<String> = pending
                .iter()
                .map(|p| format!("{}={}", text(&p["anchor"]), text(&p["change"])))
                .collect();
            let got = if got.is_empty() {
                "(none)".to_owned()
            } else {
                got.join(" ")
            };
            (got != body).then(|| format!("pending exports: {got}"))
        }
        _ => {
            let anchor = head.strip_prefix("pending_export ")?;
            let entry = pending.iter().find(|p| p["anchor"] == anchor.trim());
            let Some(entry) = entry else {
                return Some(format!("{anchor} is not pending"));
            };
            for (key, want) in pairs(body) {
                let got = match key {
                    "attrs" | "refs" => names(&entry[key]),
                    _ => text(&entry[key]),
                };
                if got != want {
                    return Some(format!("pending export {anchor} {key}: {got}"));
                }
            }
            None
        }
    }
}

#[test]
fn every_example_reproduces_its_expected_outcome_through_the_binary() {
    let examples = examples();
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
        let source = std::fs::read_to_string(&example).expect("example");
        // Run lines hold for good once the run ended; other lines describe the state right after
        // the run line before them, so through the final state only the last group is checked.
        let expectations: Vec<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("#>"))
            .map(str::trim)
            .collect();
        let last_run_line = expectations
            .iter()
            .rposition(|line| line.starts_with("run "))
            .unwrap_or(0);
        let mut checked = 0;
        for (index, line) in expectations.iter().enumerate() {
            let run_level = line.starts_with("run ") || line.starts_with("limit run ");
            if !run_level && index < last_run_line {
                continue;
            }
            if let Some(difference) = check(line, &state) {
                panic!("{}: `#>{line}`: {difference}", example.display());
            }
            checked += 1;
        }
        assert!(checked > 3, "{}: few expectations", example.display());
        let _ = std::fs::remove_dir_all(&log);
    }
}

#[test]
fn a_malformed_scenario_names_file_line_and_key_and_writes_nothing() {
    let dir = scratch("malformed");
    std::fs::create_dir_all(&dir).expect("dir");
    let scenario = dir.join("bad.toml");
    std::fs::write(
        &scenario,
        "[connector]\nname = \"hr\"\n\n[[step]]\nkind = \"delta-import\"\n  [[step.page]]\n  watermark = \"A\"\n  errors = [ { anchor = \"u2\", error = \"custom-stop\" } ]\n",
    )
    .expect("write");
    let log = dir.join("log");
    let output = syncfold()
        .arg("simulate")
        .arg(&scenario)
        .arg("--log")
        .arg(&log)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml:8:"), "{stderr}");
    assert!(
        stderr.contains("step[0].page[0].errors[0].error"),
        "{stderr}"
    );
    assert!(
        stderr.contains("custom-stop-run"),
        "the expected values are listed: {stderr}"
    );
    assert!(output.stdout.is_empty());
    assert!(!log.exists(), "nothing is written for a malformed scenario");
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
