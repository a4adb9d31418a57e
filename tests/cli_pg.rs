//! The command line on a log in PostgreSQL (SPEC §10), against a throwaway cluster
//! (`tests/common/pg.rs`): every example scenario simulated into a PostgreSQL log and into a sled
//! log gives byte-identical `simulate --json`, `state --json`, `runs --json`, `alerts --json` and
//! `events --json` (a scenario's clock is its own, so times agree too), and `verify` passes; the reading commands leave the PostgreSQL log as they found it; administrator
//! actions and queued changes work on it; a malformed URL is status 2 and never echoes the text.

#[path = "common/pg.rs"]
mod pg;

mod common;
use common::{ok, syncfold};

use pg::PgServer;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .expect("examples")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
    found.sort();
    found
}

#[test]
fn every_example_folds_the_same_on_sled_and_on_postgresql() {
    let server = PgServer::start();
    let scratch = std::env::temp_dir().join(format!("syncfold-cli-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    for (index, example) in examples().iter().enumerate() {
        let name = example
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .replace('-', "_");
        let url = server.url(&format!("ex{index}_{name}")).to_string();
        let folder = scratch.join(&name);
        let folder = folder.to_str().expect("utf-8");
        let scenario = example.to_str().expect("utf-8");
        let on_sled = ok(
            &syncfold(&["simulate", scenario, "--log", folder, "--json"]),
            "simulate sled",
        );
        let on_pg = ok(
            &syncfold(&["simulate", scenario, "--log", &url, "--json"]),
            "simulate pg",
        );
        assert_eq!(on_sled, on_pg, "{name}: simulate prints the same runs");
        for args in [
            vec!["state", "--json"],
            vec!["runs", "--json"],
            vec!["alerts", "--json"],
        ] {
            let mut sled_args = args.clone();
            sled_args.extend(["--log", folder]);
            let mut pg_args = args.clone();
            pg_args.extend(["--log", url.as_str()]);
            assert_eq!(
                ok(&syncfold(&sled_args), "sled read"),
                ok(&syncfold(&pg_args), "pg read"),
                "{name}: `{}` differs between sled and PostgreSQL",
                args.join(" ")
            );
        }
        let events_sled = ok(&syncfold(&["events", "--json", "--log", folder]), "events");
        let events_pg = ok(&syncfold(&["events", "--json", "--log", &url]), "events");
        assert_eq!(events_sled, events_pg, "{name}: events, times included");
        ok(&syncfold(&["verify", "--log", &url]), "verify pg");
        // Reading changed nothing: the same events again.
        assert_eq!(
            events_pg,
            ok(&syncfold(&["events", "--json", "--log", &url]), "events")
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn writers_and_mistakes_on_a_postgresql_log() {
    let server = PgServer::start();
    let url = server.url("cli_writers").to_string();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/credentials.toml");
    ok(
        &syncfold(&["simulate", example.to_str().expect("utf-8"), "--log", &url]),
        "simulate",
    );
    let said = ok(
        &syncfold(&[
            "admin",
            "require-full-import",
            "--log",
            &url,
            "--partition",
            "people",
            "--reason",
            "restored from backup",
            "--actor",
            "alice",
        ]),
        "admin",
    );
    assert!(said.contains("alice"), "{said}");
    let state = ok(
        &syncfold(&["state", "--log", &url, "--partition", "people", "--json"]),
        "state",
    );
    assert!(state.contains("\"full_import_required\":true"), "{state}");

    // The report reads a PostgreSQL log as it reads a folder.
    let page = ok(
        &syncfold(&["report", "--log", &url, "--out", "-"]),
        "report",
    );
    assert!(page.contains("class=\"run-bar\""), "a run bar on the page");

    // A log name that does not exist is no log (status 2), and reading it creates nothing.
    let missing = server.url("never_written").to_string();
    let output = syncfold(&["state", "--log", &missing]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A malformed URL: status 2, and the text (which may hold a password) is not echoed.
    let output = syncfold(&["state", "--log", "postgres://u:s3cr3t-Pw@host:notaport/db"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("s3cr3t-Pw"), "{stderr}");
    assert!(stderr.contains("port"), "{stderr}");
}

/// `copy` moves a log from sled to PostgreSQL and back, record for record: the copies read the
/// same as the original; a destination that holds a log is refused and left as it was.
#[test]
fn a_log_moves_between_sled_and_postgresql_and_back() {
    let server = PgServer::start();
    let scratch = std::env::temp_dir().join(format!("syncfold-cli-pg-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let original = scratch.join("original");
    let back = scratch.join("back");
    let (original, back) = (
        original.to_str().expect("utf-8").to_owned(),
        back.to_str().expect("utf-8").to_owned(),
    );
    ok(&syncfold(&["demo", "--log", &original]), "demo");
    let url = server.url("copied").to_string();
    let said = ok(
        &syncfold(&["copy", "--from", &original, "--to", &url]),
        "copy to pg",
    );
    assert!(said.starts_with("Copied 61 records"), "{said}");
    ok(
        &syncfold(&["copy", "--from", &url, "--to", &back]),
        "copy back",
    );
    for args in [
        vec!["state", "--json"],
        vec!["events", "--json"],
        vec!["runs", "--json"],
    ] {
        let read = |log: &str| {
            let mut all = args.clone();
            all.extend(["--log", log]);
            ok(&syncfold(&all), "read")
        };
        let first = read(&original);
        assert_eq!(
            first,
            read(&url),
            "`{}` on the PostgreSQL copy",
            args.join(" ")
        );
        assert_eq!(
            first,
            read(&back),
            "`{}` on the copy of the copy",
            args.join(" ")
        );
    }
    ok(
        &syncfold(&["verify", "--log", &back]),
        "verify the copy back",
    );
    // Into a log that already holds one: refused, status 2, the destination unchanged.
    let before = ok(&syncfold(&["events", "--json", "--log", &url]), "events");
    let output = syncfold(&["copy", "--from", &original, "--to", &url]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already holds a log (61 records)"));
    assert_eq!(
        before,
        ok(&syncfold(&["events", "--json", "--log", &url]), "events")
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
