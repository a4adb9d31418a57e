//! `syncfold enqueue` as an operator uses it (SPEC §9): a JSON-lines file of export changes is
//! queued whole on a partition the log knows, shown at once by `state`, and sent by the next export
//! run; a wrong line, an unknown partition or a missing log is status 2 naming the place, and
//! queues nothing.

mod common;
use common::syncfold;

use common::{logged_events, stdout_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "syncfold-cli-enqueue-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn changes_are_queued_whole_or_not_at_all() {
    let dir = scratch("whole");
    let log = dir.join("log");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/export-actions.toml");
    stdout_ok(&syncfold(&[
        "simulate",
        path(&example),
        "--log",
        path(&log),
    ]));
    let before = logged_events(&log).len();

    let good = dir.join("good.jsonl");
    std::fs::write(
        &good,
        "{\"anchor\":\"u7\",\"change\":\"update\",\"attrs\":{\"title\":\"lead\"},\"refs\":{\"manager\":\"u2\"}}\n\n{\"anchor\":\"u8\",\"change\":\"delete\"}\n",
    )
    .expect("write");
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"anchor\":\"u9\",\"change\":\"add\"}\n{\"anchor\":\"u10\",\"change\":\"rename\"}\n",
    )
    .expect("write");

    // A wrong second line: status 2, placed, and not even the first line is queued.
    let output = syncfold(&[
        "enqueue",
        "--log",
        path(&log),
        "--connector",
        "directory",
        "--partition",
        "people",
        path(&bad),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.jsonl:2:1: change: unknown change \"rename\""),
        "{stderr}"
    );
    assert_eq!(logged_events(&log).len(), before, "nothing queued");

    // A partition the log does not know: status 2 naming the ones it has.
    let output = syncfold(&[
        "enqueue",
        "--log",
        path(&log),
        "--connector",
        "directory",
        "--partition",
        "peple",
        path(&good),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("it has: directory/people"));
    assert_eq!(logged_events(&log).len(), before, "nothing queued");

    // No log there: status 2, and no log is created.
    let nowhere = dir.join("nowhere");
    let output = syncfold(&[
        "enqueue",
        "--log",
        path(&nowhere),
        "--connector",
        "directory",
        "--partition",
        "people",
        path(&good),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!nowhere.exists());

    // The good file: two events, and state shows both pending, as written.
    let said = stdout_ok(&syncfold(&[
        "enqueue",
        "--log",
        path(&log),
        "--connector",
        "directory",
        "--partition",
        "people",
        path(&good),
    ]));
    assert!(
        said.starts_with("Queued 2 changes for export on directory/people"),
        "{said}"
    );
    let events = logged_events(&log);
    assert_eq!(events.len(), before + 2);
    let state: Value = serde_json::from_str(&stdout_ok(&syncfold(&[
        "state",
        "--log",
        path(&log),
        "--partition",
        "people",
        "--json",
    ])))
    .expect("JSON");
    let pending: Vec<(String, String)> = state["pending_exports"]
        .as_array()
        .expect("pending_exports")
        .iter()
        .map(|p| {
            (
                p["anchor"].as_str().expect("anchor").to_owned(),
                p["change"].as_str().expect("change").to_owned(),
            )
        })
        .collect();
    assert!(
        pending.contains(&("u7".into(), "update".into())),
        "{pending:?}"
    );
    assert!(
        pending.contains(&("u8".into(), "delete".into())),
        "{pending:?}"
    );
    let u7 = state["pending_exports"]
        .as_array()
        .expect("pending")
        .iter()
        .find(|p| p["anchor"] == "u7")
        .expect("u7");
    assert_eq!(u7["attrs"]["title"], "lead");
    assert_eq!(u7["refs"]["manager"], "u2");
    let _ = std::fs::remove_dir_all(&dir);
}
