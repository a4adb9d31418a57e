//! The postmortem commands as an operator uses them after a bad night.
//!
//! `state --at N` is checked against an independent reconstruction: the events printed by
//! `events --json` are parsed back and folded by the library, for every N of a real history, and
//! both give the same state. `explain watermark` names the objects and errors holding a watermark
//! back; `diff` shows what changed; `alerts` filters by recipient; `verify` accepts a healthy log
//! and, on a damaged one, exits non-zero naming the damage and the remedy without a panic;
//! `demo` writes a log the other commands can read; errors say what to do.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use syncfold::core::*;
use syncfold::remedy::RemedyCatalog;

fn syncfold(args: &[&str], log: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(args)
        .arg("--log")
        .arg(log)
        .output()
        .expect("syncfold runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-pm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn simulated(example: &str, name: &str) -> PathBuf {
    let log = scratch(name);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(example);
    let output = Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .arg("simulate")
        .arg(&scenario)
        .arg("--log")
        .arg(&log)
        .output()
        .expect("simulate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    log
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[test]
fn state_at_reproduces_the_state_after_any_event() {
    let log = simulated("stuck-watermark.toml", "at");
    let lines = stdout(&syncfold(&["events", "--json"], &log));
    let events: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert!(events.len() > 10);
    let catalog = RemedyCatalog::builtin();
    let mut state = State::new();
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event["seq"],
            index as u64 + 1,
            "seq counts from 1 in log order"
        );
        assert!(event["type"].is_string());
        assert!(event.get("run").is_some());
        let envelope = Envelope::new(
            Timestamp(event["at_ms"].as_i64().expect("time")),
            Actor(event["actor"].as_str().expect("actor").to_owned()),
            serde_json::from_value(event["event"].clone()).expect("the event reads back"),
        );
        state.apply(state.last_seq() + 1, &envelope).expect("folds");
        let seq = (index + 1).to_string();
        let printed: Value =
            serde_json::from_str(&stdout(&syncfold(&["state", "--at", &seq, "--json"], &log)))
                .expect("JSON");
        assert_eq!(
            printed,
            syncfold::views::state_json(&state, &catalog),
            "state --at {seq}"
        );
    }
    let beyond = syncfold(&["state", "--at", "999", "--json"], &log);
    assert_eq!(beyond.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("the log ends at event"));
    let _ = std::fs::remove_dir_all(&log);
}

#[test]
fn explain_names_what_holds_a_watermark_back() {
    let log = simulated("stuck-watermark.toml", "explain");
    // Just after run 4 ended: find its end in the events.
    let events = stdout(&syncfold(&["events", "--json", "--run", "4"], &log));
    let end = events
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .find(|event| event["type"] == "run-ended")
        .expect("run 4 ended");
    let at = end["seq"].to_string();
    let text = stdout(&syncfold(
        &["explain", "watermark", "--partition", "people", "--at", &at],
        &log,
    ));
    assert!(text.contains("the committed watermark is A"), "{text}");
    assert!(
        text.contains("committed by the delta-import at event 3 (run 1)"),
        "{text}"
    );
    assert!(
        text.contains("runs 2 (completed-discovery-errors), 3 (completed-discovery-errors), 4"),
        "{text}"
    );
    assert!(text.contains("u9: invalid-characters-error"), "{text}");
    assert!(text.contains("stuck-watermark warning is open"), "{text}");
    assert!(text.contains("Remedy:"), "{text}");
    let json: Value = serde_json::from_str(&stdout(&syncfold(
        &[
            "explain",
            "watermark",
            "--partition",
            "people",
            "--at",
            &at,
            "--json",
        ],
        &log,
    )))
    .expect("JSON");
    assert_eq!(json["holding_objects"][0]["anchor"], "u9");
    assert_eq!(json["committed_by_run"], 1);
    assert_eq!(json["held_back_by_runs"], serde_json::json!([2, 3, 4]));
    // After the full import, nothing holds it back.
    let now = stdout(&syncfold(
        &["explain", "watermark", "--partition", "people"],
        &log,
    ));
    assert!(
        now.contains("the committed watermark is F")
            && now.contains("No object error holds it back"),
        "{now}"
    );
    let unknown = syncfold(&["explain", "watermark", "--partition", "nobody"], &log);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("the log knows: people"));
    let _ = std::fs::remove_dir_all(&log);
}

#[test]
fn explain_obsoletion_and_health_say_why() {
    let log = simulated("errored-full-import.toml", "obsoletion");
    let events: Vec<Value> = stdout(&syncfold(&["events", "--json", "--run", "2"], &log))
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let at = events.last().expect("events")["seq"].to_string();
    let text = stdout(&syncfold(
        &[
            "explain",
            "obsoletion",
            "--partition",
            "people",
            "--at",
            &at,
        ],
        &log,
    ));
    assert!(text.contains("obsoletion skipped"), "{text}");
    assert!(text.contains("because it had 1 error(s)"), "{text}");
    assert!(
        text.contains("failed ("),
        "the failing object is named: {text}"
    );
    let _ = std::fs::remove_dir_all(&log);

    let log = simulated("credentials.toml", "health");
    let text = stdout(&syncfold(
        &["explain", "health", "--partition", "people", "--at", "8"],
        &log,
    ));
    assert!(
        text.contains("is disabled")
            && text.contains("oauth-token-expired")
            && text.contains("credentials-updated"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&log);
}

#[test]
fn diff_alerts_runs_and_events_read_the_log() {
    let log = simulated("escalation.toml", "diff");
    let runs: Vec<Value> = stdout(&syncfold(&["runs", "--json"], &log))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(runs.len(), 9);
    let end_of = |id: usize| runs[id - 1]["ended_seq"].to_string();
    let diff: Value = serde_json::from_str(&stdout(&syncfold(
        &["diff", "--from", &end_of(6), "--to", &end_of(7), "--json"],
        &log,
    )))
    .expect("JSON");
    assert_eq!(diff["partitions"][0]["health"]["after"], "suspended");
    assert_eq!(diff["alerts"]["opened"][0]["code"], "server-down");
    assert_eq!(diff["alerts"]["opened"][0]["severity"], "error");
    let text = stdout(&syncfold(
        &["diff", "--from", &end_of(6), "--to", &end_of(7)],
        &log,
    ));
    assert!(
        text.contains("health \"enabled\" -> \"suspended\""),
        "{text}"
    );
    let backwards = syncfold(&["diff", "--from", "9", "--to", "3"], &log);
    assert_eq!(backwards.status.code(), Some(2));

    let log2 = simulated("credentials.toml", "alerts");
    // Cut before the credentials were fixed: the wall at that moment has the connector error.
    let everything: Vec<Value> = stdout(&syncfold(&["alerts", "--json"], &log2))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(everything.is_empty(), "the story ends with a clean wall");
    let _ = std::fs::remove_dir_all(&log2);
    let owners: Vec<Value> = stdout(&syncfold(
        &["alerts", "--recipient", "partition-owner", "--json"],
        &log,
    ))
    .lines()
    .map(|l| serde_json::from_str(l).expect("JSON"))
    .collect();
    assert!(owners.iter().all(|a| a["recipient"] == "partition-owner"));
    let table = stdout(&syncfold(&["events", "--from", "1", "--to", "5"], &log));
    assert_eq!(
        table.lines().count(),
        6,
        "a header and five events: {table}"
    );
    let _ = std::fs::remove_dir_all(&log);
}

#[test]
fn verify_accepts_a_healthy_log_and_names_damage_without_a_panic() {
    let log = simulated("watermark-abc.toml", "verify");
    let text = stdout(&syncfold(&["verify"], &log));
    assert!(text.contains("records verified"), "{text}");
    let json: Value =
        serde_json::from_str(&stdout(&syncfold(&["verify", "--json"], &log))).expect("JSON");
    assert_eq!(json["ok"], true);
    let records = json["records"].as_u64().expect("records");
    let db = log.join("sled").join("db");
    let size = std::fs::metadata(&db).expect("db").len();
    let mut failures = 0;
    for round in 0..10u64 {
        let copy = scratch(&format!("verify-damaged-{round}"));
        std::fs::create_dir_all(copy.join("sled")).expect("dir");
        std::fs::copy(log.join("HEAD"), copy.join("HEAD")).expect("copy");
        for entry in std::fs::read_dir(log.join("sled")).expect("sled") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_file() {
                std::fs::copy(entry.path(), copy.join("sled").join(entry.file_name()))
                    .expect("copy");
            }
        }
        {
            use std::os::unix::fs::FileExt;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(copy.join("sled").join("db"))
                .expect("db");
            file.write_all_at(&[0xA5; 16], size * round / 10)
                .expect("damage");
        }
        let output = syncfold(&["verify", "--json"], &copy);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        match output.status.code() {
            // Damage where sled keeps nothing of ours: the log is exactly what it was.
            Some(0) => {
                let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
                assert_eq!(report["records"].as_u64(), Some(records), "round {round}");
            }
            Some(1) => {
                failures += 1;
                assert!(
                    stderr.contains("restore") || stderr.contains("backup"),
                    "the remedy is named: {stderr}"
                );
                assert!(stderr.contains("record"), "the damage is named: {stderr}");
            }
            other => panic!("round {round}: exit {other:?}: {stderr}"),
        }
        let _ = std::fs::remove_dir_all(&copy);
    }
    let _ = failures;
    // Damage inside one record's bytes (a bad sector under a value): named exactly.
    let copy = scratch("verify-record");
    let output = Command::new("cp")
        .arg("-r")
        .arg(&log)
        .arg(&copy)
        .output()
        .expect("cp");
    assert!(output.status.success());
    common::damage_record(&copy, 5);
    let output = syncfold(&["verify"], &copy);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("record 5 is damaged"), "{stderr}");
    assert!(
        stderr.contains("records 1 to 4 are intact") && stderr.contains("Restore"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&copy);
    let _ = std::fs::remove_dir_all(&log);
}

#[test]
fn a_log_from_a_newer_syncfold_asks_for_an_upgrade() {
    let log = simulated("watermark-abc.toml", "newer");
    {
        use syncfold::log::RecordStore;
        let mut store = syncfold::log::SledStore::open(&log).expect("open");
        let last = store.last_seq().expect("last");
        let previous = syncfold::log::record::hash(&store.get(last).expect("get").expect("record"));
        let mut newer = Vec::new();
        syncfold::log::record::encode(last + 1, &previous, b"future", &mut newer);
        newer[4..6].copy_from_slice(&9u16.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&newer[..8]);
        crc.update(&newer[12..]);
        let crc = crc.finalize();
        newer[8..12].copy_from_slice(&crc.to_le_bytes());
        store.append(last + 1, &newer).expect("append");
        store.flush().expect("flush");
    }
    for command in [&["state"][..], &["verify"][..], &["runs"][..]] {
        let output = syncfold(command, &log);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("written by a newer syncfold, format 9: upgrade"),
            "{command:?}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&log);
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in [
        "demo", "simulate", "state", "runs", "events", "diff", "alerts", "explain", "verify",
        "admin",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_syncfold"))
            .args([command, "--help"])
            .output()
            .expect("help");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command}");
        assert!(text.contains("Example"), "{command} --help has no example");
        assert!(
            text.contains(&format!("syncfold {command}")),
            "{command} --help shows no command line"
        );
        assert!(
            text.contains("Exit status: 0 ok; 1 the log is damaged"),
            "{command} --help does not document the exit statuses"
        );
    }
}
