//! The JSON-lines connector of `examples/jsonl_connector.rs`: a folder of change feeds, one per
//! partition (`<partition>.jsonl`), whose line numbers are its watermarks. A module of its own so
//! that the example's `main` and the conformance test (`tests/conformance.rs`) use the same
//! connector.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use syncfold::core::*;
use syncfold::engine::{Connector, ImportRequest, RunContext};

/// The connector: a folder of feeds.
pub struct JsonLinesConnector {
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
    /// A connector over the feeds in `folder`, answering pages of up to `page_lines` lines.
    pub fn new(folder: PathBuf, page_lines: usize) -> Self {
        JsonLinesConnector {
            folder,
            page_lines: page_lines.max(1),
            lines: Vec::new(),
        }
    }

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
