//! What the command line says to an operator in text mode carries no internal references and
//! reads as English: no rule numbers (`R1`), no `SPEC §7`, no seed documents, no catalog file of
//! the source tree, no "1 runs", and no empty brackets for an empty description. Rules stay in the
//! docs and in JSON `rule` fields; provenance stays in the catalog's `source`.
//!
//! Every example scenario is played into a log and read with every reading command in text mode;
//! the demo, every `--help` and a few error paths (refusals included) are read too.

mod common;
use common::syncfold;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-optext-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

/// The internal references and grammar slips an operator must not read, each with why.
fn slips(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    for (at, window) in bytes.windows(2).enumerate() {
        let before_is_word =
            at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        if window[0] == b'R' && window[1].is_ascii_digit() && !before_is_word {
            found.push(format!("a rule number near {:?}", context(text, at)));
        }
    }
    for needle in ["SPEC", "§", "seed 0", "remedies.toml", "()"] {
        if let Some(at) = text.find(needle) {
            found.push(format!("{needle:?} near {:?}", context(text, at)));
        }
    }
    for needle in [
        "1 runs",
        "1 objects",
        "1 live objects",
        "1 errors",
        "1 warnings",
        "1 changes",
    ] {
        let mut from = 0;
        while let Some(at) = text[from..].find(needle).map(|at| at + from) {
            if at == 0 || !bytes[at - 1].is_ascii_digit() {
                found.push(format!("{needle:?} near {:?}", context(text, at)));
            }
            from = at + 1;
        }
    }
    found
}

fn context(text: &str, at: usize) -> &str {
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(40)
        .map_or(0, |(i, _)| i);
    let end = text[at..]
        .char_indices()
        .nth(40)
        .map_or(text.len(), |(i, _)| at + i);
    &text[start..end]
}

/// Runs a command and collects what its text says on both streams, failing on none of them.
fn said(args: &[&str], all: &mut Vec<(String, String)>) -> Output {
    let output = syncfold(args);
    for stream in [&output.stdout, &output.stderr] {
        all.push((args.join(" "), String::from_utf8_lossy(stream).into_owned()));
    }
    output
}

fn check(all: &[(String, String)]) {
    let mut problems = Vec::new();
    for (command, text) in all {
        for slip in slips(text) {
            problems.push(format!("syncfold {command}: {slip}"));
        }
    }
    assert!(
        problems.is_empty(),
        "operator text with internal references or slips:\n{}",
        problems.join("\n")
    );
}

fn partitions(log: &str) -> Vec<(String, String)> {
    let state: Value =
        serde_json::from_slice(&syncfold(&["state", "--log", log, "--json"]).stdout).expect("JSON");
    state["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            (
                p["connector"].as_str().expect("connector").to_owned(),
                p["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect()
}

/// Every reading command, in text mode, on the log at `log`, at the end and at `at`.
fn read_everything(log: &str, all: &mut Vec<(String, String)>) {
    let last = {
        let state: Value =
            serde_json::from_slice(&syncfold(&["state", "--log", log, "--json"]).stdout)
                .expect("JSON");
        state["last_seq"].as_u64().expect("last_seq")
    };
    let middle = (last / 2).to_string();
    let last = last.to_string();
    for at in [None, Some(middle.as_str())] {
        let with_at = |args: &[&str]| -> Vec<String> {
            let mut args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
            args.extend(["--log".to_owned(), log.to_owned()]);
            if let Some(at) = at {
                args.extend(["--at".to_owned(), at.to_owned()]);
            }
            args
        };
        for command in [&["state"][..], &["runs"], &["alerts"]] {
            let args = with_at(command);
            said(&args.iter().map(String::as_str).collect::<Vec<_>>(), all);
        }
        for (connector, partition) in partitions(log) {
            let args = with_at(&[
                "state",
                "--partition",
                &partition,
                "--connector",
                &connector,
            ]);
            said(&args.iter().map(String::as_str).collect::<Vec<_>>(), all);
            for what in ["watermark", "obsoletion", "health"] {
                let args = with_at(&[
                    "explain",
                    what,
                    "--partition",
                    &partition,
                    "--connector",
                    &connector,
                ]);
                said(&args.iter().map(String::as_str).collect::<Vec<_>>(), all);
            }
        }
    }
    said(&["events", "--log", log], all);
    said(&["diff", "--log", log, "--from", "0", "--to", &last], all);
    said(
        &["diff", "--log", log, "--from", &middle, "--to", &last],
        all,
    );
    said(&["verify", "--log", log], all);
}

#[test]
fn every_example_s_reading_commands_speak_to_the_operator_without_internal_references() {
    let dir = scratch("examples");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("examples")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 10, "the examples are found");
    let mut all = Vec::new();
    for scenario in &scenarios {
        let name = scenario
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let log = dir.join(&name);
        let log = log.to_str().expect("utf-8");
        let played = said(
            &["simulate", scenario.to_str().expect("utf-8"), "--log", log],
            &mut all,
        );
        assert!(played.status.success(), "{name}: {played:?}");
        read_everything(log, &mut all);
    }
    check(&all);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_help_and_refusals_speak_to_the_operator_without_internal_references() {
    let dir = scratch("demo");
    let log = dir.join("demo");
    let log = log.to_str().expect("utf-8");
    let mut all = Vec::new();
    let demo = said(&["demo", "--log", log], &mut all);
    assert!(demo.status.success(), "{demo:?}");
    read_everything(log, &mut all);
    said(&["remedies"], &mut all);
    said(&["--help"], &mut all);
    for command in [
        "demo", "simulate", "state", "runs", "events", "diff", "alerts", "explain", "remedies",
        "verify", "admin",
    ] {
        let help = said(&[command, "--help"], &mut all);
        assert!(help.status.success(), "{command} --help");
    }
    // Errors and refusals: each says what is wrong in words.
    let missing = dir.join("missing");
    let missing = missing.to_str().expect("utf-8");
    for (args, status) in [
        (vec!["state", "--log", missing], 2),
        (vec!["diff", "--log", log, "--from", "9", "--to", "3"], 2),
        (
            vec!["explain", "health", "--log", log, "--partition", "nobody"],
            2,
        ),
        (vec!["runs", "--log", log, "--status", "bogus"], 2),
        (vec!["events", "--log", log, "--anchor", "nobody"], 2),
        (vec!["state", "--log", log, "--at", "100000"], 2),
        (vec!["alerts", "--log", log, "--remedies", missing], 2),
        (
            vec![
                "admin",
                "set-watermark",
                "--log",
                log,
                "--partition",
                "people",
                "--actor",
                "t",
            ],
            2,
        ),
        // Run 2 held the watermark back: it committed none, so it cannot be gone back to.
        (
            vec![
                "admin",
                "set-watermark",
                "--log",
                log,
                "--partition",
                "people",
                "--run",
                "2",
                "--actor",
                "t",
                "--reason",
                "try",
            ],
            1,
        ),
    ] {
        let output = said(&args, &mut all);
        assert_eq!(output.status.code(), Some(status), "{args:?}: {output:?}");
    }
    // Recorded actions say what changed; an empty reason leaves no empty brackets.
    for args in [
        vec!["admin", "enable", "--log", log, "--actor", "t"],
        vec!["admin", "resume", "--log", log, "--actor", "t"],
        vec!["admin", "credentials-updated", "--log", log, "--actor", "t"],
        vec![
            "admin",
            "require-full-import",
            "--log",
            log,
            "--partition",
            "people",
            "--actor",
            "t",
        ],
        vec!["admin", "approve-obsoletion", "--log", log, "--actor", "t"],
        vec![
            "admin",
            "set-watermark",
            "--log",
            log,
            "--partition",
            "people",
            "--run",
            "9",
            "--actor",
            "t",
        ],
    ] {
        let output = said(&args, &mut all);
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
    read_everything(log, &mut all);
    check(&all);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_slip_finder_finds_slips() {
    assert!(!slips("refused by R1 (a watermark").is_empty());
    assert!(!slips("see SPEC §7").is_empty());
    assert!(!slips("seed 004: x").is_empty());
    assert!(!slips("1 runs").is_empty());
    assert!(!slips("u9 ()").is_empty());
    assert!(
        slips("11 runs, 21 objects, ERROR2, usn-R2x").len() == 1,
        "only the R2 after a dash"
    );
    assert!(slips("event 26 (run 4), 1 run, 2 objects").is_empty());
}

/// The alert wall an operator scans: each alert names what it is about, a remedy shared by
/// several alerts is said once below them, the state's REMEDY column holds the action, and an
/// empty description reads "no description", never `()` or `""`.
#[test]
fn alerts_name_their_subjects_say_each_remedy_once_and_never_show_an_empty_description() {
    let dir = scratch("wall");
    let scenario = dir.join("wall.toml");
    std::fs::write(
        &scenario,
        r#"[connector]
name = "hr"

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "A"
  objects = [ { anchor = "u1" } ]
  [[step.page]]
  watermark = "B"
  errors = [ { anchor = "u2", error = "custom-continue-run", name = "bad-name", description = "" },
             { anchor = "u3", error = "custom-continue-run", name = "other-name", description = "" } ]
"#,
    )
    .expect("scenario");
    let log = dir.join("log");
    let log = log.to_str().expect("utf-8");
    let mut all = Vec::new();
    let played = said(
        &["simulate", scenario.to_str().expect("utf-8"), "--log", log],
        &mut all,
    );
    assert!(played.status.success(), "{played:?}");
    let alerts = String::from_utf8(syncfold(&["alerts", "--log", log]).stdout).expect("utf-8");
    for subject in ["object u2 in hr/people", "object u3 in hr/people"] {
        assert!(alerts.contains(subject), "names {subject}:\n{alerts}");
    }
    assert!(alerts.contains("no description"), "{alerts}");
    let fallback = &syncfold::remedy::RemedyCatalog::builtin()
        .find(syncfold::remedy::OBJECT_FALLBACK, "")
        .expect("the object fallback")
        .clone();
    assert_eq!(
        alerts.matches(fallback.remedy.as_str()).count(),
        1,
        "the shared remedy is said once:\n{alerts}"
    );
    let state = String::from_utf8(syncfold(&["state", "--log", log]).stdout).expect("utf-8");
    assert!(
        state.contains(&fallback.action()),
        "REMEDY column:\n{state}"
    );
    assert!(
        !state.contains(&fallback.title),
        "the action, not the title:\n{state}"
    );
    assert!(state.contains("health enabled"), "{state}");
    read_everything(log, &mut all);
    check(&all);
    for text in all.iter().map(|(_, text)| text) {
        assert!(
            !text.contains("\"\""),
            "an empty description in quotes:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
