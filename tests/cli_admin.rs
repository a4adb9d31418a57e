//! `syncfold admin ACTION` as an operator drives it (SPEC §8): a scenario is simulated into a
//! log, then each action is recorded with the binary; each test checks the exit status, the
//! sentence printed, and the effect through `state --json` and `events --json`. A refused
//! `set-watermark` exits 1 naming the rule; wrong flags and unknown names exit 2 naming them; a
//! log written by format 1 (the golden demo log) still verifies and folds, and takes a format-3
//! action beside its old events.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn syncfold() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_syncfold"));
    command.env_remove("USER").env_remove("LOGNAME");
    command
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-admin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Simulates `scenario` (TOML text) into `dir/log` and returns the log folder.
fn simulate(dir: &Path, scenario: &str) -> PathBuf {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).expect("scenario written");
    let log = dir.join("log");
    let output = syncfold()
        .arg("simulate")
        .arg(&file)
        .arg("--log")
        .arg(&log)
        .output()
        .expect("simulate runs");
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    log
}

fn admin(log: &Path, args: &[&str]) -> Output {
    syncfold()
        .arg("admin")
        .arg(args[0])
        .arg("--log")
        .arg(log)
        .args(&args[1..])
        .output()
        .expect("admin runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn state(log: &Path) -> Value {
    let output = syncfold()
        .args(["state", "--json", "--log"])
        .arg(log)
        .output()
        .expect("state runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("state --json")
}

fn events(log: &Path) -> Vec<Value> {
    let output = syncfold()
        .args(["events", "--json", "--log"])
        .arg(log)
        .output()
        .expect("events runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn partition<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["partitions"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .expect("partition")
}

/// Run 1 commits usn-10, run 2 commits usn-20, run 3 is held back at usn-20 by an object error.
const THREE_DELTAS: &str = r#"
[connector]
name = "hr"

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "usn-10"
  objects = [ { anchor = "u1", change = "add", attrs = { mail = "u1@example.org" } } ]

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "usn-20"
  objects = [ { anchor = "u2", change = "add", attrs = { mail = "u2@example.org" } } ]

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "usn-30"
  errors = [ { anchor = "u3", error = "custom-continue-run", name = "invalid-characters-error",
               description = "bad name" } ]
"#;

#[test]
fn set_watermark_goes_back_to_a_runs_commit_and_says_so() {
    let dir = scratch("set-watermark");
    let log = simulate(&dir, THREE_DELTAS);
    let output = admin(
        &log,
        &[
            "set-watermark",
            "--partition",
            "people",
            "--run",
            "1",
            "--reason",
            "re-read after the source restore",
            "--actor",
            "alice",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(
        said.contains("people's committed watermark is now usn-10 again (committed by run 1"),
        "{said}"
    );
    assert!(
        said.contains("the next delta import reads from there"),
        "{said}"
    );
    let state = state(&log);
    assert_eq!(partition(&state, "people")["committed_watermark"], "usn-10");
    assert_eq!(
        partition(&state, "people")["watermark_set_back"]["by"]["actor"],
        "alice"
    );
    let last = events(&log).pop().expect("an event");
    assert_eq!(last["type"], "admin-action");
    assert_eq!(last["actor"], "alice");
    assert_eq!(last["run"], Value::Null);
    assert_eq!(last["event"]["action"], "set-watermark");
    assert_eq!(last["event"]["run"], 1);
    assert_eq!(last["event"]["reason"], "re-read after the source restore");
    // explain watermark tells who set it back.
    let explained = syncfold()
        .args(["explain", "watermark", "--partition", "people", "--log"])
        .arg(&log)
        .output()
        .expect("explain runs");
    let explained = text(&explained.stdout);
    assert!(
        explained.contains("An administrator set it back to run 1's commit: alice"),
        "{explained}"
    );
}

#[test]
fn set_watermark_to_a_run_that_committed_nothing_exits_1_naming_the_rule() {
    let dir = scratch("set-watermark-refused");
    let log = simulate(&dir, THREE_DELTAS);
    let before = events(&log).len();
    let output = admin(
        &log,
        &["set-watermark", "--partition", "people", "--run", "3"],
    );
    assert_eq!(output.status.code(), Some(1));
    let error = text(&output.stderr);
    assert!(
        error.contains("refused, because a watermark never advances past an error"),
        "{error}"
    );
    assert!(
        !error.contains("R1"),
        "no rule number for the operator: {error}"
    );
    assert!(
        error.contains("run 3 did not commit a watermark on people"),
        "{error}"
    );
    assert_eq!(
        events(&log).len(),
        before,
        "a refused action records nothing"
    );
    assert_eq!(
        partition(&state(&log), "people")["committed_watermark"],
        "usn-20"
    );
}

#[test]
fn wrong_flags_and_unknown_names_exit_2_naming_them() {
    let dir = scratch("usage");
    let log = simulate(&dir, THREE_DELTAS);
    let cases: [(&[&str], &str); 5] = [
        (&["set-watermark", "--partition", "people"], "--run"),
        (&["set-watermark", "--run", "1"], "--partition"),
        (&["enable", "--run", "1"], "--run is for set-watermark only"),
        (&["enable", "--connector", "crm"], "no connector named crm"),
        (
            &["require-full-import", "--partition", "groups"],
            "no partition named groups",
        ),
    ];
    for (args, named) in cases {
        let output = admin(&log, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let error = text(&output.stderr);
        assert!(error.contains(named), "{args:?}: {error}");
    }
}

#[test]
fn require_full_import_names_the_administrator_in_state_and_alerts() {
    let dir = scratch("require-full-import");
    let log = simulate(&dir, THREE_DELTAS);
    let output = admin(
        &log,
        &[
            "require-full-import",
            "--partition",
            "people",
            "--reason",
            "source restored from backup",
            "--actor",
            "bob",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let said = text(&output.stdout);
    assert!(
        said.contains("hr/people now requires a full import, by bob (source restored from backup)"),
        "{said}"
    );
    let state = state(&log);
    let people = partition(&state, "people");
    assert_eq!(people["full_import_required"], true);
    assert_eq!(people["full_import_required_by_run"], Value::Null);
    assert_eq!(
        people["full_import_required_by_administrator"]["actor"],
        "bob"
    );
    let alert = state["alerts"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["code"] == "full-import-required"))
        .expect("the full-import-required alert");
    assert_eq!(alert["severity"], "error");
    let alerts = syncfold()
        .args(["alerts", "--log"])
        .arg(&log)
        .output()
        .expect("alerts runs");
    assert!(
        text(&alerts.stdout).contains("by administrator bob: source restored from backup"),
        "{}",
        text(&alerts.stdout)
    );
}

/// Run 1 commits W1; run 2 hits bad credentials and disables the connector.
const DISABLED: &str = r#"
[connector]
name = "exchange"

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "W1"
  objects = [ { anchor = "m1", change = "add", attrs = { subject = "hello" } } ]

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  fault = "bad-credentials"
"#;

#[test]
fn credentials_updated_then_enable_lifts_a_disabled_connector() {
    let dir = scratch("enable");
    let log = simulate(&dir, DISABLED);
    // enable alone changes nothing and says why (R8).
    let output = admin(&log, &["enable", "--reason", "try"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("stays disabled"));
    assert_eq!(partition(&state(&log), "people")["health"], "disabled");
    let output = admin(
        &log,
        &["credentials-updated", "--reason", "password rotated"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("credentials updated"));
    let output = admin(
        &log,
        &[
            "enable",
            "--reason",
            "new password verified",
            "--actor",
            "carol",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("exchange is enabled again"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(partition(&state(&log), "people")["health"], "enabled");
    let health = syncfold()
        .args(["explain", "health", "--partition", "people", "--log"])
        .arg(&log)
        .output()
        .expect("explain runs");
    assert!(
        text(&health.stdout).contains("last enabled by carol at event"),
        "{}",
        text(&health.stdout)
    );
    assert!(text(&health.stdout).contains("(new password verified)"));
    // The default actor, without USER or LOGNAME, is "administrator".
    let first = events(&log)
        .into_iter()
        .find(|event| event["type"] == "admin-action")
        .expect("an admin action");
    assert_eq!(first["actor"], "administrator");
    assert_eq!(first["event"]["action"], "enable");
}

#[test]
fn an_old_log_still_verifies_folds_and_takes_an_action() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-v1/demo-sled");
    let dir = scratch("golden");
    let log = dir.join("log");
    copy_dir(&golden, &log);
    let verified = syncfold()
        .args(["verify", "--log"])
        .arg(&log)
        .output()
        .expect("verify runs");
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let before = state(&log);
    let partition_name = before["partitions"][0]["name"]
        .as_str()
        .expect("a partition")
        .to_owned();
    let connector = before["runs"][0]["connector"].as_str().map(str::to_owned);
    let mut args = vec![
        "require-full-import",
        "--partition",
        partition_name.as_str(),
        "--reason",
        "audit",
    ];
    if let Some(connector) = &connector {
        args.extend(["--connector", connector.as_str()]);
    }
    let output = admin(&log, &args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let verified = syncfold()
        .args(["verify", "--log"])
        .arg(&log)
        .output()
        .expect("verify runs");
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let after = state(&log);
    assert_eq!(
        after["runs"], before["runs"],
        "the old history folds as before"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copied");
        }
    }
}
