//! The postmortem commands as an operator uses them after a bad night.
//!
//! `state --at N` is checked against an independent reconstruction: the events the library reads
//! from the log are folded one by one, for every N of a real history, and both give the same
//! state; `events --json` prints each of those events (`seq`, `type`, `run`, time, actor), and for
//! every example it speaks `state --json`'s vocabulary (no Rust enum name, no watermark as bytes).
//! `explain watermark` names the objects and errors holding a watermark back; `diff` shows what changed; `alerts` filters by recipient; `verify` accepts a healthy log
//! and, on a damaged one, exits non-zero naming the damage and the remedy without a panic;
//! `demo` writes a log the other commands can read; errors say what to do.

mod common;

use common::{logged_events, stdout_ok as stdout, syncfold_on as syncfold};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use syncfold::core::*;
use syncfold::remedy::RemedyCatalog;

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

#[test]
fn state_at_reproduces_the_state_after_any_event() {
    let log = simulated("stuck-watermark.toml", "at");
    let lines = stdout(&syncfold(&["events", "--json"], &log));
    let printed_events: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let logged = logged_events(&log);
    assert!(logged.len() > 10);
    assert_eq!(printed_events.len(), logged.len(), "one line per event");
    let catalog = RemedyCatalog::builtin();
    let mut state = State::new();
    for (index, ((seq, envelope), event)) in logged.iter().zip(&printed_events).enumerate() {
        assert_eq!(
            event["seq"],
            index as u64 + 1,
            "seq counts from 1 in log order"
        );
        assert_eq!(*seq, index as u64 + 1);
        assert_eq!(event["type"], envelope.event.type_name());
        assert_eq!(
            event["run"],
            serde_json::json!(envelope.event.run().map(|r| r.0))
        );
        assert_eq!(event["at_ms"], envelope.at.0);
        assert_eq!(event["actor"], envelope.actor.0.as_str());
        state.apply(state.last_seq() + 1, envelope).expect("folds");
        let seq = (index + 1).to_string();
        let printed: Value =
            serde_json::from_str(&stdout(&syncfold(&["state", "--at", &seq, "--json"], &log)))
                .expect("JSON");
        assert_eq!(
            printed,
            serde_json::to_value(syncfold::views::StateView::new(&state, &catalog)).expect("JSON"),
            "state --at {seq}"
        );
    }
    let beyond = syncfold(&["state", "--at", "999", "--json"], &log);
    assert_eq!(beyond.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("the log ends at event"));
    let _ = std::fs::remove_dir_all(&log);
}

/// Every string that is a key or a value in `value`, with where it is.
fn strings(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => out.push((path.to_owned(), text.clone())),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                strings(item, &format!("{path}[{index}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let at = format!("{path}.{key}");
                out.push((at.clone(), key.clone()));
                strings(item, &at, out);
            }
        }
        _ => {}
    }
}

/// Whether `text` reads like a Rust type or variant name: `FullImport`, `Success`.
fn is_pascal_case(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && text.chars().all(|c| c.is_ascii_alphanumeric())
        && text.chars().any(|c| c.is_ascii_lowercase())
}

/// The keys whose values are SPEC vocabulary (kinds, statuses, error names, faults, outcomes,
/// actions, causes, codes), as opposed to free text or watermarks a scenario chose.
const VOCABULARY: [&str; 12] = [
    "type",
    "kind",
    "status",
    "error",
    "change",
    "result",
    "action",
    "cause",
    "code",
    "skip_reason",
    "obsoletion",
    "deletion_threshold",
];

/// Whether the string at `path` breaks the vocabulary: any key in PascalCase; a vocabulary value
/// in PascalCase; any other value shaped like a Rust variant with a word inside (`CustomStopRun`).
fn is_rust_name(path: &str, text: &str, is_key: bool) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    if is_key || VOCABULARY.contains(&last) {
        return is_pascal_case(text);
    }
    is_pascal_case(text) && text.chars().skip(1).any(|c| c.is_ascii_uppercase())
}

/// Whether `value` is a list of small integers: how serde writes a `Watermark(Vec<u8>)`.
fn is_byte_array(value: &Value) -> bool {
    value.as_array().is_some_and(|items| {
        !items.is_empty()
            && items
                .iter()
                .all(|item| item.as_u64().is_some_and(|n| n < 256))
    })
}

fn byte_arrays(value: &Value, path: &str, out: &mut Vec<String>) {
    if is_byte_array(value) {
        out.push(path.to_owned());
    }
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                byte_arrays(item, &format!("{path}[{index}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                byte_arrays(item, &format!("{path}.{key}"), out);
            }
        }
        _ => {}
    }
}

/// SPEC §8: `events --json` speaks the vocabulary of `state --json`. For every example scenario,
/// no key or value of any event line is a Rust enum name (PascalCase), no watermark is written as
/// a list of bytes, and every watermark the state shows is written the same way in the events.
#[test]
fn events_json_of_every_example_speaks_the_state_vocabulary() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("examples")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 10, "{scenarios:?}");
    for scenario in &scenarios {
        let name = scenario
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let log = simulated(&format!("{name}.toml"), &format!("vocabulary-{name}"));
        let lines = stdout(&syncfold(&["events", "--json"], &log));
        let mut event_watermarks = std::collections::BTreeSet::new();
        for line in lines.lines() {
            let event: Value = serde_json::from_str(line).expect("JSON");
            let mut found = Vec::new();
            strings(&event, "", &mut found);
            for (path, text) in &found {
                let is_key = path.ends_with(&format!(".{text}"));
                assert!(
                    !is_rust_name(path, text, is_key),
                    "{name}: a Rust name at {path}: {text:?} in {line}"
                );
            }
            let mut arrays = Vec::new();
            byte_arrays(&event, "", &mut arrays);
            assert!(
                arrays.is_empty(),
                "{name}: byte arrays at {arrays:?} in {line}"
            );
            let detail = &event["event"];
            for key in [
                "watermark",
                "proposed_watermark",
                "start_watermark",
                "committed_watermark",
            ] {
                if let Some(text) = detail[key].as_str() {
                    event_watermarks.insert(text.to_owned());
                }
            }
        }
        let state: Value =
            serde_json::from_str(&stdout(&syncfold(&["state", "--json"], &log))).expect("JSON");
        for run in state["runs"].as_array().expect("runs") {
            if let Some(committed) = run["committed_watermark"].as_str() {
                assert!(
                    event_watermarks.contains(committed),
                    "{name}: run {} committed {committed:?}, which no event names so",
                    run["id"]
                );
            }
        }
        let _ = std::fs::remove_dir_all(&log);
    }
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
    assert!(text.contains("because it had 1 error:"), "{text}");
    assert!(
        text.contains("failed with "),
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
    // The transient warning turned permanent: one alert that escalated, not one closed and one
    // opened.
    assert_eq!(diff["alerts"]["opened"], serde_json::json!([]));
    assert_eq!(diff["alerts"]["closed"], serde_json::json!([]));
    let escalated = &diff["alerts"]["escalated"][0];
    assert_eq!(escalated["code"], "server-down");
    assert_eq!(escalated["severity_before"], "warning");
    assert_eq!(escalated["severity_after"], "error");
    assert_eq!(escalated["severity"], "error");
    assert_eq!(escalated["connector"], "crm");
    let text = stdout(&syncfold(
        &["diff", "--from", &end_of(6), "--to", &end_of(7)],
        &log,
    ));
    assert!(
        text.contains("health \"enabled\" -> \"suspended\""),
        "{text}"
    );
    assert!(
        text.contains("alert escalated: warning → error server-down on connector crm"),
        "{text}"
    );
    assert!(
        !text.contains("alert opened") && !text.contains("alert closed"),
        "{text}"
    );
    // `resume` turns the error back into a warning: de-escalated, one change again.
    let resumed = runs[8]["started_seq"].as_u64().expect("run 9 started") - 1;
    let back: Value = serde_json::from_str(&stdout(&syncfold(
        &[
            "diff",
            "--from",
            &end_of(8),
            "--to",
            &resumed.to_string(),
            "--json",
        ],
        &log,
    )))
    .expect("JSON");
    assert_eq!(back["alerts"]["de_escalated"][0]["code"], "server-down");
    assert_eq!(
        back["alerts"]["de_escalated"][0]["severity_before"],
        "error"
    );
    assert_eq!(
        back["alerts"]["de_escalated"][0]["severity_after"],
        "warning"
    );
    assert_eq!(back["alerts"]["opened"], serde_json::json!([]));
    assert_eq!(back["alerts"]["closed"], serde_json::json!([]));
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
        "admin", "report",
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

/// `syncfold remedies` prints the catalog in force: every built-in entry, then a file's, as text
/// (escaped) and as one JSON object per entry.
#[test]
fn remedies_prints_the_catalog_in_force() {
    let builtin = syncfold::remedy::RemedyCatalog::builtin();
    let output = Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(["remedies", "--json"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), builtin.entries().len());
    for (line, entry) in lines.iter().zip(builtin.entries()) {
        assert_eq!(line["code"], entry.code.as_str());
        assert_eq!(line["remedy"], entry.remedy.as_str());
    }
    let folder = std::env::temp_dir().join(format!("syncfold-remedies-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("scratch");
    let file = folder.join("ours.toml");
    std::fs::write(
        &file,
        "[[remedy]]\ncode = \"server-down\"\ntitle = \"Ours\"\nremedy = \"Call the \\u001b[31mNOC\"\nsource = \"our runbook\"\n",
    )
    .expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .arg("remedies")
        .arg("--remedies")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("server-down: Ours"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "a catalog file's escape is shown, not obeyed"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

/// A catalog file of our own, for `--remedies`.
fn our_remedies(name: &str) -> (PathBuf, PathBuf) {
    let folder = std::env::temp_dir().join(format!("syncfold-ours-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("scratch");
    let file = folder.join("ours.toml");
    std::fs::write(
        &file,
        "[[remedy]]\ncode = \"stuck-watermark\"\ntitle = \"Ours\"\nremedy = \"Page the directory team on call.\"\nsource = \"our runbook\"\n\n[[remedy]]\ncode = \"invalid-characters-error\"\ntitle = \"Ours too\"\nremedy = \"Ask HR to fix the cn.\"\nsource = \"our runbook\"\n",
    )
    .expect("written");
    (folder, file)
}

/// `explain` takes `--remedies` as `alerts` and `state` do: the catalog file's remedy is the
/// one shown, and a bad file is a usage error.
#[test]
fn explain_shows_the_remedy_of_a_catalog_file() {
    let log = simulated("stuck-watermark.toml", "explain-remedies");
    let (folder, file) = our_remedies("explain");
    let file = file.to_str().expect("utf-8");
    let end_of_run_4 = runs_of(&log)[3]["ended_seq"].to_string();
    for what in ["watermark", "health"] {
        let args = [
            "explain",
            what,
            "--partition",
            "people",
            "--at",
            &end_of_run_4,
            "--remedies",
            file,
        ];
        let text = stdout(&syncfold(&args, &log));
        assert!(
            text.contains("Remedy: Page the directory team on call."),
            "explain {what}:\n{text}"
        );
    }
    let missing = syncfold(
        &[
            "explain",
            "health",
            "--partition",
            "people",
            "--remedies",
            "/nonexistent/ours.toml",
        ],
        &log,
    );
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let _ = std::fs::remove_dir_all(&folder);
    let _ = std::fs::remove_dir_all(&log);
}

fn runs_of(log: &Path) -> Vec<Value> {
    stdout(&syncfold(&["runs", "--json"], log))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

/// `diff` takes `--remedies` too, and shows an object alert that turned from a warning into an
/// error as one change, with its remedy from the catalog file.
#[test]
fn diff_shows_an_escalation_as_one_change_with_the_catalog_s_remedy() {
    let log = simulated("stuck-watermark.toml", "diff-escalation");
    let (folder, file) = our_remedies("diff");
    let runs = runs_of(&log);
    let (from, to) = (
        runs[2]["ended_seq"].to_string(),
        runs[3]["ended_seq"].to_string(),
    );
    let args = [
        "diff",
        "--from",
        &from,
        "--to",
        &to,
        "--remedies",
        file.to_str().expect("utf-8"),
    ];
    let text = stdout(&syncfold(&args, &log));
    assert!(
        text.contains("alert escalated: warning → error invalid-characters-error on object u9 in directory/people"),
        "{text}"
    );
    assert!(text.contains("remedy: Ask HR to fix the cn."), "{text}");
    assert!(
        text.contains("alert opened: warning stuck-watermark on directory/people"),
        "{text}"
    );
    assert!(
        text.contains("remedy: Page the directory team on call."),
        "{text}"
    );
    assert!(!text.contains("alert closed"), "{text}");
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let diff: Value = serde_json::from_str(&stdout(&syncfold(&json_args, &log))).expect("JSON");
    let escalated = &diff["alerts"]["escalated"];
    assert_eq!(escalated.as_array().map(Vec::len), Some(1), "{diff}");
    assert_eq!(escalated[0]["anchor"], "u9");
    assert_eq!(escalated[0]["severity_before"], "warning");
    assert_eq!(escalated[0]["severity_after"], "error");
    assert_eq!(escalated[0]["remedy"], "Ask HR to fix the cn.");
    assert_eq!(diff["alerts"]["opened"][0]["code"], "stuck-watermark");
    assert_eq!(diff["alerts"]["closed"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(&folder);
    let _ = std::fs::remove_dir_all(&log);
}
