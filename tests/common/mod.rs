//! Helpers shared by the CLI tests (each test file is its own crate and uses a part of them).

#![allow(dead_code)]

pub mod slapd;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use syncfold::core::{Envelope, Seq};

/// Runs `syncfold ARGS --log LOG` as an operator would.
pub fn syncfold_on(args: &[&str], log: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(args)
        .arg("--log")
        .arg(log)
        .output()
        .expect("syncfold runs")
}

/// Runs `syncfold ARGS` as an operator would.
pub fn syncfold(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(args)
        .output()
        .expect("syncfold runs")
}

/// The standard output of `what`, a command that must have succeeded.
pub fn ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The standard output of a command that must have succeeded.
pub fn stdout_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The events of the log at `folder`, read by the library (a private copy; the log is unchanged).
pub fn logged_events(folder: &Path) -> Vec<(Seq, Envelope)> {
    let store = syncfold::log::open_for_reading(folder).expect("the log opens");
    let mut events = Vec::new();
    syncfold::log::replay(&store, 1, None, &mut |seq, envelope, _| {
        events.push((seq, envelope.clone()));
        std::ops::ControlFlow::Continue(())
    })
    .expect("the log reads");
    events
}

/// A long scenario: `runs` delta imports of `pages` pages of `objects` objects each, on three
/// partitions `p0`..`p2` of connector `long`, with an object error now and then.
pub fn long_scenario(path: &Path, runs: usize, pages: usize, objects: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(
        file,
        "[connector]\nname = \"long\"\nsnapshot_limit = 1000000\n"
    )
    .expect("write");
    for run in 0..runs {
        writeln!(
            file,
            "[[step]]\nkind = \"delta-import\"\npartition = \"p{}\"",
            run % 3
        )
        .expect("write");
        for page in 0..pages {
            writeln!(file, "  [[step.page]]\n  watermark = \"r{run}p{page}\"").expect("write");
            write!(file, "  objects = [").expect("write");
            for object in 0..objects {
                write!(
                    file,
                    "{{ anchor = \"u{}\", change = \"update\", attrs = {{ mail = \"x{run}\" }} }}, ",
                    (page * objects + object) % 400
                )
                .expect("write");
            }
            writeln!(file, "]").expect("write");
            if (run + page) % 13 == 0 {
                writeln!(
                    file,
                    "  errors = [ {{ anchor = \"bad{run}\", error = \"custom-continue-run\", name = \"e\" }} ]"
                )
                .expect("write");
            }
        }
    }
    file.flush().expect("flush");
}

/// Flips one bit in the middle of record `seq` of the log at `folder`, behind the log's back
/// (through sled itself), as damage on disk would.
pub fn damage_record(folder: &Path, seq: u64) {
    let db = sled::open(folder.join("sled")).expect("sled");
    let records = db.open_tree("records").expect("tree");
    let mut value = records
        .get(seq.to_be_bytes())
        .expect("get")
        .expect("the record")
        .to_vec();
    let middle = value.len() / 2;
    value[middle] ^= 0x20;
    records.insert(seq.to_be_bytes(), value).expect("insert");
    db.flush().expect("flush");
}
