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
//! `main` builds a feed in a temporary folder, runs a full import, appends lines (one of them
//! bad), runs two delta imports and an export through the real engine into a sled log, and prints
//! the state as `syncfold state --json` would.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use syncfold::core::*;
use syncfold::engine::{Connector, Engine, EngineOptions, ImportRequest, RunContext};
use syncfold::log::{Log, LogOptions, SledStore};

/// The connector: a folder of feeds.
struct JsonLinesConnector {
    folder: PathBuf,
    page_lines: usize,
    /// The feed read at `open_run`, as (line number, line).
    lines: Vec<(u64, String)>,
}

fn fault(kind: FaultKind, message: String) -> Fault {
    Fault { kind, message }
}

fn attributes(value: Option<&Value>) -> Attributes {
    let mut attributes = Attributes::new();
    if let Some(Value::Object(map)) = value {
        for (name, value) in map {
            let value = match value {
                Value::Array(items) => AttributeValue::Multi(
                    items
                        .iter()
                        .map(|item| item.as_str().unwrap_or_default().to_owned())
                        .collect(),
                ),
                other => AttributeValue::Single(
                    other
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_owned),
                ),
            };
            attributes.0.insert(name.clone(), value);
        }
    }
    attributes
}

impl JsonLinesConnector {
    fn feed(&self, partition: &PartitionName) -> PathBuf {
        self.folder.join(format!("{partition}.jsonl"))
    }

    /// Turns one feed line into a change or an object-level error, or a fault if unreadable.
    fn parse(number: u64, line: &str) -> Result<Result<ObjectChange, DiscoveryError>, Fault> {
        let value: Value = serde_json::from_str(line).map_err(|error| {
            fault(
                FaultKind::ConnectorException,
                format!("line {number} is not JSON: {error}"),
            )
        })?;
        let anchor = value.get("anchor").and_then(Value::as_str).ok_or_else(|| {
            fault(
                FaultKind::ConnectorException,
                format!("line {number} has no anchor"),
            )
        })?;
        if let Some(name) = value.get("error").and_then(Value::as_str) {
            return Ok(Err(DiscoveryError {
                anchor: Anchor::from(anchor),
                kind: ObjectErrorKind::CustomContinueRun,
                name: name.to_owned(),
                description: value
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }));
        }
        let kind = match value.get("change").and_then(Value::as_str).unwrap_or("add") {
            "add" => ChangeKind::Add,
            "update" => ChangeKind::Update,
            "delete" => ChangeKind::Delete,
            other => {
                return Err(fault(
                    FaultKind::ConnectorException,
                    format!("line {number}: unknown change {other:?}"),
                ))
            }
        };
        Ok(Ok(ObjectChange {
            anchor: Anchor::from(anchor),
            kind,
            attributes: attributes(value.get("attrs")),
        }))
    }
}

impl Connector for JsonLinesConnector {
    async fn open_run(&mut self, context: &RunContext) -> Result<(), Fault> {
        if !self.folder.is_dir() {
            return Err(fault(
                FaultKind::ServerDown,
                format!("{} does not exist", self.folder.display()),
            ));
        }
        self.lines.clear();
        if context.kind == RunKind::Export {
            return Ok(());
        }
        let text = match std::fs::read_to_string(self.feed(&context.partition)) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(fault(FaultKind::FailedConnection, error.to_string())),
        };
        let from: u64 = match (&context.kind, &context.start_watermark) {
            (RunKind::DeltaImport, Some(watermark)) => {
                watermark.display_text().parse().map_err(|_| {
                    // A watermark this feed never handed out: the change log cannot resume from it.
                    fault(
                        FaultKind::WatermarkExpired,
                        format!("watermark {watermark} is not a line number"),
                    )
                })?
            }
            _ => 0,
        };
        self.lines = text
            .lines()
            .enumerate()
            .map(|(index, line)| (index as u64 + 1, line.to_owned()))
            .filter(|(number, line)| *number > from && !line.trim().is_empty())
            .collect();
        Ok(())
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        let start = (request.page as usize - 1) * self.page_lines;
        let Some(chunk) = self
            .lines
            .get(start..(start + self.page_lines).min(self.lines.len()))
        else {
            return Ok(None);
        };
        if chunk.is_empty() {
            return Ok(None);
        }
        let mut page = Page::default();
        for (number, line) in chunk {
            match Self::parse(*number, line)? {
                Ok(change) => page.changes.push(change),
                Err(error) => page.errors.push(error),
            }
        }
        page.watermark = chunk
            .last()
            .map(|(number, _)| Watermark::from_text(&number.to_string()));
        Ok(Some(page))
    }

    async fn export(
        &mut self,
        context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        let path = self
            .folder
            .join(format!("{}.exported.jsonl", context.partition));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|error| {
                fault(
                    FaultKind::DroppedConnection,
                    format!("{}: {error}", path.display()),
                )
            })?;
        let mut results = Vec::with_capacity(batch.len());
        for change in batch {
            let line = serde_json::json!({ "anchor": change.anchor.as_str(), "change": change.kind.as_str() });
            writeln!(file, "{line}")
                .map_err(|error| fault(FaultKind::DroppedConnection, error.to_string()))?;
            results.push((change.anchor.clone(), ExportOutcome::Success));
        }
        Ok(results)
    }
}

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
    let mut connector = JsonLinesConnector {
        folder: folder.join("feed"),
        page_lines: 2,
        lines: Vec::new(),
    };
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
