//! A complete connector: a JSON-lines change feed in a folder, whose line numbers are its
//! watermarks. Run it with `cargo run --example jsonl_connector`.
//!
//! The folder holds one feed per partition, `<partition>.jsonl`, one change per line:
//!
//! ```text
//! {"anchor": "u1", "change": "add", "attrs": {"mail": "u1@example.org"}}
//! {"anchor": "u2", "error": "invalid-characters-error", "description": "bad cn"}
//! ```
//!
//! A full import reads every line; a delta import reads the lines after the watermark (a line
//! number). Each page holds up to `page_lines` lines and proposes the number of its last line, so
//! a failed line holds the watermark back exactly as the engine's rule R1 says, and the next delta
//! import reads it again. Exports append to `<partition>.exported.jsonl`. A missing folder is the
//! fault `server-down`; an unreadable line is a `connector-exception` naming the line.
//!
//! The connector is in `jsonl_connector/connector.rs`, which `tests/conformance.rs` also runs
//! through the conformance kit. `main` builds a feed in a temporary folder, runs a full import,
//! appends lines (one of them bad), runs two delta imports and an export through the real engine
//! into a sled log, and prints the state as `syncfold state --json` would.

#[path = "jsonl_connector/connector.rs"]
mod connector;

use connector::JsonLinesConnector;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use syncfold::core::*;
use syncfold::engine::{Engine, EngineOptions};
use syncfold::log::{Log, LogOptions, SledStore};

fn append(path: &Path, lines: &[&str]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("feed");
    for line in lines {
        writeln!(file, "{line}").expect("write");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let folder = std::env::temp_dir().join(format!("syncfold-jsonl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(folder.join("feed")).expect("folder");
    let feed = folder.join("feed").join("people.jsonl");
    append(
        &feed,
        &[
            r#"{"anchor": "u1", "attrs": {"mail": "u1@example.org"}}"#,
            r#"{"anchor": "u2", "attrs": {"mail": "u2@example.org"}}"#,
            r#"{"anchor": "u3", "attrs": {"mail": "u3@example.org", "groups": ["staff", "oncall"]}}"#,
        ],
    );
    let store = SledStore::open(&folder.join("log")).expect("log folder");
    let (log, _) = Log::open(
        store,
        LogOptions::default(),
        syncfold::engine::system_clock(),
    )
    .expect("log");
    let engine = Engine::new(log, EngineOptions::default());
    let mut connector = JsonLinesConnector::new(folder.join("feed"), 2);
    let (name, people, settings) = (
        ConnectorName::from("feed"),
        PartitionName::from("people"),
        Settings::default(),
    );

    let mut reports = Vec::new();
    reports.push(
        engine
            .run(
                &mut connector,
                &name,
                &people,
                RunKind::FullImport,
                &settings,
            )
            .await
            .expect("full"),
    );
    append(
        &feed,
        &[
            r#"{"anchor": "u2", "change": "update", "attrs": {"title": "lead"}}"#,
            r#"{"anchor": "u4", "error": "invalid-characters-error", "description": "cn holds U+0007"}"#,
            r#"{"anchor": "u5", "attrs": {"mail": "u5@example.org"}}"#,
            r#"{"anchor": "u1", "change": "delete"}"#,
        ],
    );
    reports.push(
        engine
            .run(
                &mut connector,
                &name,
                &people,
                RunKind::DeltaImport,
                &settings,
            )
            .await
            .expect("delta"),
    );
    reports.push(
        engine
            .run(
                &mut connector,
                &name,
                &people,
                RunKind::DeltaImport,
                &settings,
            )
            .await
            .expect("delta"),
    );
    let change = ExportChange {
        anchor: Anchor::from("u3"),
        kind: ExportChangeKind::Update,
        attributes: Attributes(BTreeMap::from([(
            "title".to_owned(),
            AttributeValue::Single("lead".into()),
        )])),
        references: Attributes::new(),
    };
    engine
        .queue_export(&name, &people, change)
        .await
        .expect("queue");
    reports.push(
        engine
            .run(&mut connector, &name, &people, RunKind::Export, &settings)
            .await
            .expect("export"),
    );
    for report in &reports {
        let run = &report.record;
        println!(
            "run {} {}: {} (watermark {}), durable up to event {}",
            run.id,
            run.kind.as_str(),
            run.status.map_or("open", RunStatus::as_str),
            run.committed_watermark
                .as_ref()
                .map_or("-".to_owned(), Watermark::display_text),
            report.durable.seq()
        );
    }
    let log = engine.shutdown().expect("shutdown");
    println!(
        "{}",
        serde_json::to_string_pretty(&syncfold::views::StateView::new(
            log.state(),
            &syncfold::remedy::RemedyCatalog::builtin()
        ))
        .expect("json")
    );
    let _ = std::fs::remove_dir_all(&folder);
}
