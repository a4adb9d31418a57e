//! Text output is safe: whatever a connector, a scenario or a remedy catalog file supplies, the
//! text views show its control characters and bidirectional overrides escaped, never raw. The
//! test writes a scenario whose anchors, watermark, error name and description, attribute value
//! and `connector-exception` fault message carry an ESC sequence (`ESC[2J` clears a screen), a
//! bell, a carriage return, a line feed and a right-to-left override (U+202E), and a remedy
//! catalog whose titles and remedies carry the same; it plays the scenario with the built binary
//! into a fresh log, runs every reading command without `--json`, and checks that neither standard
//! output nor standard error holds any control character but the line feeds ending lines, nor a
//! bidi override, that the escaped forms (`\u{1b}[2J`, `\u{07}`, `\r`, `\u{202e}`) appear where the
//! values are shown, and that each event stays on one table row. `state --json` is checked to
//! still carry the exact values (JSON-escaped by its encoder), since JSON output must not change.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder under the system's temporary folder, removed when dropped (even on failure).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "syncfold-text-safety-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The hostile values travel as TOML escapes (`\u001b`, `\u0007`, `\r`, `\n`, `\u202E`), which
/// the scenario and catalog readers turn into the raw characters. Connector and partition names
/// stay plain: the commands take them as arguments (`--partition`).
const SCENARIO: &str = r#"
[connector]
name = "hr"

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "A\u001b[2J"
  objects = [ { anchor = "u1\u001b[2J", change = "add", attrs = { mail = "m\u001b[2J\u0007@example.org" } } ]
  [[step.page]]
  watermark = "B"
  objects = [ { anchor = "u3", change = "add" } ]
  errors = [ { anchor = "u2\u202E", error = "custom-continue-run", name = "evil\u001b[31m-name",
               description = "clears\u001b[2J rings\u0007 returns\r\nbreaks reverses\u202E end" } ]

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  fault = "connector-exception"
  message = "boom\u001b[2J\u0007\r\u202E"
"#;

const REMEDIES: &str = r#"
[[remedy]]
code = "evil\u001b[31m-name"
title = "Evil title\u001b[2J"
remedy = "Do this\u001b[2J\u0007 now\u202E"
source = "cli_text_safety"

[[remedy]]
code = "connector-exception"
title = "Exception title\u001b[2J"
remedy = "Exception remedy\u001b[2J\r"
source = "cli_text_safety"
"#;

fn syncfold(args: &[&str], log: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(args)
        .arg("--log")
        .arg(log)
        .env("NO_COLOR", "1")
        .output()
        .expect("syncfold runs")
}

/// Standard output of a command that must succeed, after checking that neither of its streams
/// holds a raw control character (but a line feed) or a bidirectional control.
fn safe_text(args: &[&str], log: &Path) -> String {
    let output = syncfold(args, log);
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{args:?} failed: {err}");
    for (stream, text, bytes) in [
        ("stdout", &out, &output.stdout),
        ("stderr", &err, &output.stderr),
    ] {
        for byte in [0x1b_u8, 0x07, 0x0d] {
            assert!(
                !bytes.contains(&byte),
                "{args:?} {stream} holds byte {byte:#04x}:\n{text}"
            );
        }
        assert!(
            !text.contains('\u{202e}'),
            "{args:?} {stream} holds U+202E:\n{text}"
        );
        let raw = text.chars().find(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        });
        assert_eq!(raw, None, "{args:?} {stream} holds a raw control:\n{text}");
    }
    out.into_owned()
}

fn assert_shows(text: &str, wanted: &[&str], command: &str) {
    for shown in wanted {
        assert!(
            text.contains(shown),
            "{command} should show {shown:?}:\n{text}"
        );
    }
}

#[test]
fn text_views_show_control_characters_escaped_and_json_keeps_them() {
    let scratch = Scratch::new();
    let (scenario, remedies, log) = (
        scratch.0.join("hostile.toml"),
        scratch.0.join("remedies.toml"),
        scratch.0.join("log"),
    );
    std::fs::write(&scenario, SCENARIO).expect("write the scenario");
    std::fs::write(&remedies, REMEDIES).expect("write the catalog");
    let played = Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .arg("simulate")
        .arg(&scenario)
        .arg("--log")
        .arg(&log)
        .output()
        .expect("simulate runs");
    assert!(
        played.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&played.stderr)
    );
    let remedies = remedies.to_str().expect("a UTF-8 temporary path");

    // The escaped forms of the values, as every text view must show them.
    let watermark = r"A\u{1b}[2J";
    let object = r"u1\u{1b}[2J";
    let failing = r"u2\u{202e}";
    let name = r"evil\u{1b}[31m-name";
    let description = r"clears\u{1b}[2J rings\u{07} returns\r\nbreaks reverses\u{202e} end";
    let fault = r"boom\u{1b}[2J\u{07}\r\u{202e}";

    let events = safe_text(&["events"], &log);
    assert_shows(
        &events,
        &[watermark, failing, name, description, fault],
        "events",
    );
    let count = syncfold(&["events", "--json"], &log)
        .stdout
        .split(|&byte| byte == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    assert_eq!(
        events.lines().count(),
        count + 1,
        "one header and one row per event, however many line breaks a value holds:\n{events}"
    );

    let state = safe_text(&["state", "--remedies", remedies], &log);
    assert_shows(
        &state,
        &[
            watermark,
            failing,
            name,
            description,
            // The REMEDY column: the remedy's first sentence (these entries have no `action`).
            r"Do this\u{1b}[2J\u{07} now\u{202e}",
            r"Exception remedy\u{1b}[2J",
        ],
        "state",
    );
    let alerts = safe_text(&["alerts", "--remedies", remedies], &log);
    assert_shows(
        &alerts,
        &[
            failing,
            name,
            fault,
            r"Do this\u{1b}[2J\u{07} now\u{202e}",
            r"Exception remedy\u{1b}[2J\r",
        ],
        "alerts",
    );
    let runs = safe_text(&["runs"], &log);
    assert_shows(&runs, &[watermark], "runs");
    let explained = safe_text(&["explain", "watermark", "--partition", "people"], &log);
    assert_shows(
        &explained,
        &[watermark, failing, name, description],
        "explain watermark",
    );
    let health = safe_text(&["explain", "health", "--partition", "people"], &log);
    assert!(!health.is_empty());
    safe_text(&["explain", "obsoletion", "--partition", "people"], &log);
    let last = count.to_string();
    let diff = safe_text(&["diff", "--from", "1", "--to", &last], &log);
    assert_shows(&diff, &[object], "diff");
    safe_text(&["verify"], &log);
    // The daily filters: one object's history, one partition's state, narrowed runs.
    let history = safe_text(&["events", "--anchor", "u2\u{202e}"], &log);
    assert_shows(&history, &[failing, name, description], "events --anchor");
    let partition = safe_text(&["state", "--partition", "people"], &log);
    assert_shows(
        &partition,
        &[watermark, object, failing],
        "state --partition",
    );
    let narrowed = safe_text(&["runs", "--partition", "people", "--last", "2"], &log);
    assert_shows(&narrowed, &[watermark], "runs --partition");
    for args in [
        &["events", "--anchor", "no\u{1b}[2Jbody"][..],
        &["runs", "--connector", "no\u{1b}[2Jbody"][..],
        &["events", "--type", "no\u{1b}[2Jbody"][..],
    ] {
        let refused = syncfold(args, &log);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        let error = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.stderr.contains(&0x1b), "{error}");
        assert!(error.contains(r"no\u{1b}[2Jbody"), "{error}");
    }

    // An error naming a value goes out escaped too (standard error, exit status 2).
    let missing = syncfold(
        &["explain", "watermark", "--partition", "no\u{1b}[2Jsuch"],
        &log,
    );
    assert_eq!(missing.status.code(), Some(2));
    let error = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.stderr.contains(&0x1b), "{error}");
    assert!(error.contains(r"no\u{1b}[2Jsuch"), "{error}");

    // JSON is unchanged: the exact values, escaped only by the JSON encoder.
    let json = syncfold(&["state", "--json"], &log);
    assert!(json.status.success());
    let raw = String::from_utf8(json.stdout).expect("UTF-8");
    assert!(raw.contains(r"A\u001b[2J"), "{raw}");
    assert!(!raw.contains(r"\u{1b}"), "{raw}");
    let state: Value = serde_json::from_str(&raw).expect("one JSON document");
    let people = &state["partitions"][0];
    assert_eq!(people["committed_watermark"], "A\u{1b}[2J");
    let anchors: Vec<&str> = people["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|object| object["anchor"].as_str())
        .collect();
    assert!(anchors.contains(&"u1\u{1b}[2J"), "{anchors:?}");
    assert!(
        state["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|alert| alert["anchor"] == "u2\u{202e}" && alert["code"] == "evil\u{1b}[31m-name"),
        "{raw}"
    );
}
