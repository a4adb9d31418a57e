//! Events: one [`EventView`] per event of the log (`events --json`, the events table), in the
//! vocabulary of `state --json`: SPEC's kebab-case names for kinds, statuses, error names, faults,
//! outcomes and actions, and watermarks written by [`watermark_text`](super::watermark_text).
//! The event's facts are under `event`, named as the scenario format and `state --json` name
//! them (`anchor`, `change`, `attrs`, `error`, `fault`, `committed_watermark`, …).

use super::{
    rfc3339, watermark_json, watermark_text, AttributesView, FaultView, LimitView, RefusalView,
    Table,
};
use crate::core::*;
use crate::text::{counted, or_no_description};
use serde::Serialize;

/// One event as `events --json` prints it: `seq`, `type` and `run` (SPEC §7), its time, actor
/// and a sentence about it, and its facts.
#[derive(Clone, Debug, Serialize)]
pub struct EventView {
    /// Its position in the log, from 1.
    pub seq: Seq,
    /// The SPEC event name (`run-started`, `page-read`, …).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The run it belongs to, if any.
    pub run: Option<u64>,
    /// When it happened, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// When it happened, RFC 3339 UTC.
    pub at: String,
    /// Who caused it.
    pub actor: String,
    /// One sentence about it, for people.
    pub summary: String,
    /// Its facts.
    pub event: EventDetail,
}

impl EventView {
    /// The view of the event at `seq`.
    pub fn new(seq: Seq, envelope: &Envelope) -> Self {
        EventView {
            seq,
            kind: envelope.event.type_name(),
            run: envelope.event.run().map(|run| run.0),
            at_ms: envelope.at.0,
            at: rfc3339(envelope.at),
            actor: envelope.actor.0.clone(),
            summary: event_summary(&envelope.event),
            event: EventDetail::new(&envelope.event),
        }
    }
}

impl EventView {
    /// The summary as the events table shows it: an administrator's action names the actor who
    /// took it (the JSON has it as `actor`).
    pub fn what(&self) -> String {
        match self.summary.strip_prefix("administrator:") {
            Some(rest) => format!("administrator {}:{rest}", self.actor),
            None => self.summary.clone(),
        }
    }
}

/// The events table: `SEQ`, `AT` (RFC 3339 UTC), `RUN`, `TYPE`, `WHAT`.
pub fn events_table(events: &[EventView]) -> Table {
    let mut table = Table::new(&["SEQ", "AT", "RUN", "TYPE", "WHAT"]);
    for event in events {
        table.row(&[
            &event.seq.to_string(),
            &event.at,
            &event.run.map_or("-".to_owned(), |run| run.to_string()),
            event.kind,
            &event.what(),
        ]);
    }
    table
}

/// The limits in force for a run, named as the scenario's `[connector]` settings.
#[derive(Clone, Debug, Serialize)]
pub struct SettingsView {
    /// [R9](crate::rules#r9).
    pub retry_count: u32,
    /// [R11](crate::rules#r11).
    pub max_errors: u64,
    /// [R11](crate::rules#r11).
    pub max_warnings: u64,
    /// [R11](crate::rules#r11).
    pub snapshot_limit: u64,
    /// [R6](crate::rules#r6).
    pub stuck_after: u32,
    /// [R4](crate::rules#r4): a number, or a percentage such as `"20%"`.
    pub deletion_threshold: ThresholdView,
}

/// The deletion guard's threshold as a scenario writes it.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ThresholdView {
    /// At most this many objects.
    Count(u64),
    /// At most this percentage, written `"20%"`.
    Percent(String),
}

/// One object change of a page: the shape of a scenario's `objects[]`.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeView {
    /// The object.
    pub anchor: String,
    /// `add`, `update` or `delete`.
    pub change: &'static str,
    /// Its attributes.
    pub attrs: AttributesView,
}

fn anchors(anchors: &[Anchor]) -> Vec<String> {
    anchors.iter().map(Anchor::to_string).collect()
}

/// The facts of one event, by its type (the type itself is [`EventView::kind`]).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum EventDetail {
    /// `run-started`.
    RunStarted {
        /// Connector.
        connector: String,
        /// Partition.
        partition: String,
        /// `full-import`, `delta-import` or `export`.
        kind: &'static str,
        /// The committed watermark a delta import starts from.
        start_watermark: Option<String>,
        /// The limits in force.
        settings: SettingsView,
    },
    /// `run-refused`.
    RunRefused {
        /// Connector.
        connector: String,
        /// Partition.
        partition: String,
        /// The step asked for.
        kind: &'static str,
        /// The `no-start-*` status.
        status: &'static str,
        /// The run that caused the refusal.
        refused_by_run: u64,
        /// Why.
        refusal: RefusalView,
    },
    /// `discovery-error`: an object-level import error, as a scenario's `errors[]` entry.
    DiscoveryError {
        /// Page, from 1.
        page: u64,
        /// The object.
        anchor: String,
        /// `custom-continue-run` or `custom-stop-run`.
        error: &'static str,
        /// The error name.
        name: String,
        /// The description.
        description: String,
    },
    /// `fatal-import-error`.
    FatalImportError {
        /// Page, from 1.
        page: u64,
        /// The object being read, if known.
        anchor: Option<String>,
        /// `import-parse-error` or `import-read-error`.
        error: &'static str,
        /// What the connector said.
        description: String,
    },
    /// `page-read`.
    PageRead {
        /// Page, from 1.
        page: u64,
        /// The changes staged.
        changes: Vec<ChangeView>,
        /// The watermark after the page.
        proposed_watermark: Option<String>,
    },
    /// `fault`.
    Fault {
        /// The page it replaced (imports).
        page: Option<u64>,
        /// The fault.
        fault: FaultView,
    },
    /// `limit-reached`.
    LimitReached {
        /// The page (0 for exports).
        page: u64,
        /// The limit.
        limit: LimitView,
    },
    /// `watermark-committed`.
    WatermarkCommitted {
        /// The committed watermark.
        watermark: String,
    },
    /// `obsoletion-applied`, `obsoletion-held`, `export-batch-sent`: the objects concerned.
    Objects {
        /// The objects.
        anchors: Vec<String>,
    },
    /// `obsoletion-skipped`.
    ObsoletionSkipped {
        /// `import-errors` or `run-stopped`.
        skip_reason: &'static str,
    },
    /// `export-queued`: as a scenario's `enqueue[]` entry.
    ExportQueued {
        /// Connector.
        connector: String,
        /// Partition.
        partition: String,
        /// The object.
        anchor: String,
        /// `add`, `update`, `delete` or `references`.
        change: &'static str,
        /// Attributes.
        attrs: AttributesView,
        /// Reference attributes.
        refs: AttributesView,
    },
    /// `export-result`: as a scenario's `results[]` entry.
    ExportResult {
        /// The object.
        anchor: String,
        /// `success`, `custom-continue-run`, … (SPEC §4).
        result: &'static str,
        /// The error name (`custom-*`).
        name: Option<String>,
        /// The description (`custom-*`).
        description: Option<String>,
        /// The missing parent (`provisioning-parent`).
        parent: Option<String>,
    },
    /// `run-ended`.
    RunEnded {
        /// The SPEC §6 status.
        status: &'static str,
        /// The partition's committed watermark after the run.
        committed_watermark: Option<String>,
        /// Pages read.
        pages: u64,
        /// Changes staged.
        staged: u64,
        /// Export results received.
        exported: u64,
        /// Errors.
        errors: u64,
        /// Warnings.
        warnings: u64,
        /// Objects obsoleted.
        obsoleted: u64,
    },
    /// `admin-action`.
    AdminAction {
        /// Connector.
        connector: String,
        /// The partition, or `null` for the connector and all its partitions.
        partition: Option<String>,
        /// `credentials-updated`, `enable`, `resume`, `approve-obsoletion`, `set-watermark`,
        /// `require-full-import`.
        action: &'static str,
        /// The run the action names (`set-watermark`), or `null`.
        run: Option<u64>,
        /// The administrator's reason; `null` for actions recorded without one (format 1).
        reason: Option<String>,
    },
    /// `torn-record-discarded`.
    TornRecordDiscarded {
        /// The torn record's sequence number.
        seq: Seq,
        /// Its length in bytes.
        length: u64,
    },
    /// `present-records-accepted`.
    PresentRecordsAccepted {
        /// The last record accepted.
        through: Seq,
        /// The administrator's reason.
        reason: String,
    },
    /// `run-interrupted`: no facts beyond the run.
    RunInterrupted {},
}

impl EventDetail {
    /// The facts of `event`.
    pub fn new(event: &Event) -> Self {
        match event {
            Event::RunStarted {
                connector,
                partition,
                kind,
                start_watermark,
                settings,
                ..
            } => EventDetail::RunStarted {
                connector: connector.to_string(),
                partition: partition.to_string(),
                kind: kind.as_str(),
                start_watermark: watermark_json(start_watermark.as_ref()),
                settings: SettingsView {
                    retry_count: settings.retry_count,
                    max_errors: settings.max_errors,
                    max_warnings: settings.max_warnings,
                    snapshot_limit: settings.snapshot_limit,
                    stuck_after: settings.stuck_after,
                    deletion_threshold: match settings.deletion_threshold {
                        DeletionThreshold::Count(count) => ThresholdView::Count(count),
                        DeletionThreshold::Percent(percent) => {
                            ThresholdView::Percent(format!("{percent}%"))
                        }
                    },
                },
            },
            Event::RunRefused {
                connector,
                partition,
                kind,
                status,
                cause,
                ..
            } => {
                let (refusal, refused_by_run) = RefusalView::new(cause);
                EventDetail::RunRefused {
                    connector: connector.to_string(),
                    partition: partition.to_string(),
                    kind: kind.as_str(),
                    status: status.as_str(),
                    refused_by_run,
                    refusal,
                }
            }
            Event::DiscoveryErrorRecorded { page, error, .. } => EventDetail::DiscoveryError {
                page: *page,
                anchor: error.anchor.to_string(),
                error: error.kind.as_str(),
                name: error.name.clone(),
                description: error.description.clone(),
            },
            Event::FatalImportErrorRecorded { page, error, .. } => EventDetail::FatalImportError {
                page: *page,
                anchor: error.anchor.as_ref().map(Anchor::to_string),
                error: error.kind.as_str(),
                description: error.description.clone(),
            },
            Event::PageRead {
                page,
                changes,
                proposed_watermark,
                ..
            } => EventDetail::PageRead {
                page: *page,
                changes: changes
                    .iter()
                    .map(|change| ChangeView {
                        anchor: change.anchor.to_string(),
                        change: change.kind.as_str(),
                        attrs: AttributesView(change.attributes.clone()),
                    })
                    .collect(),
                proposed_watermark: watermark_json(proposed_watermark.as_ref()),
            },
            Event::FaultRecorded { page, fault, .. } => EventDetail::Fault {
                page: *page,
                fault: FaultView::new(fault),
            },
            Event::LimitReached {
                page,
                limit,
                count,
                maximum,
                ..
            } => EventDetail::LimitReached {
                page: *page,
                limit: LimitView::new(&LimitRecord {
                    kind: *limit,
                    count: *count,
                    maximum: *maximum,
                }),
            },
            Event::WatermarkCommitted { watermark, .. } => EventDetail::WatermarkCommitted {
                watermark: watermark_text(watermark),
            },
            Event::ObsoletionApplied { anchors: list, .. }
            | Event::ObsoletionHeld { anchors: list, .. }
            | Event::ExportBatchSent { anchors: list, .. } => EventDetail::Objects {
                anchors: anchors(list),
            },
            Event::ObsoletionSkipped { reason, .. } => EventDetail::ObsoletionSkipped {
                skip_reason: reason.as_str(),
            },
            Event::ExportQueued {
                connector,
                partition,
                change,
            } => EventDetail::ExportQueued {
                connector: connector.to_string(),
                partition: partition.to_string(),
                anchor: change.anchor.to_string(),
                change: change.kind.as_str(),
                attrs: AttributesView(change.attributes.clone()),
                refs: AttributesView(change.references.clone()),
            },
            Event::ExportResultRecorded {
                anchor, outcome, ..
            } => {
                let (name, description, parent) = match outcome {
                    ExportOutcome::CustomContinueRun { name, description }
                    | ExportOutcome::CustomStopRun { name, description } => {
                        (Some(name.clone()), Some(description.clone()), None)
                    }
                    ExportOutcome::ProvisioningParent { parent } => {
                        (None, None, Some(parent.to_string()))
                    }
                    ExportOutcome::Success
                    | ExportOutcome::ConvertUpdateToAdd
                    | ExportOutcome::RetryReferenceAttribute => (None, None, None),
                };
                EventDetail::ExportResult {
                    anchor: anchor.to_string(),
                    result: outcome.as_str(),
                    name,
                    description,
                    parent,
                }
            }
            Event::RunInterrupted { .. } => EventDetail::RunInterrupted {},
            Event::RunEnded {
                status,
                counts,
                committed_watermark,
                ..
            } => EventDetail::RunEnded {
                status: status.as_str(),
                committed_watermark: watermark_json(committed_watermark.as_ref()),
                pages: counts.pages,
                staged: counts.staged,
                exported: counts.exported,
                errors: counts.errors,
                warnings: counts.warnings,
                obsoleted: counts.obsoleted,
            },
            Event::AdminActionRecorded {
                connector,
                partition,
                action,
            } => EventDetail::AdminAction {
                connector: connector.to_string(),
                partition: partition.as_ref().map(PartitionName::to_string),
                action: action.as_str(),
                run: None,
                reason: None,
            },
            Event::AdministratorActed {
                connector,
                partition,
                action,
                run,
                reason,
            } => EventDetail::AdminAction {
                connector: connector.to_string(),
                partition: partition.as_ref().map(PartitionName::to_string),
                action: action.as_str(),
                run: run.map(|run| run.0),
                reason: Some(reason.clone()),
            },
            Event::TornRecordDiscarded { seq, length } => EventDetail::TornRecordDiscarded {
                seq: *seq,
                length: *length,
            },
            Event::PresentRecordsAccepted { through, reason } => {
                EventDetail::PresentRecordsAccepted {
                    through: *through,
                    reason: reason.clone(),
                }
            }
        }
    }
}

/// One sentence about an event, for people.
pub fn event_summary(event: &Event) -> String {
    let mark = |w: &Option<Watermark>| {
        w.as_ref().map_or_else(
            || "no watermark".to_owned(),
            |w| format!("watermark {}", watermark_text(w)),
        )
    };
    match event {
        Event::RunStarted {
            connector,
            partition,
            kind,
            start_watermark,
            ..
        } => format!(
            "{} of {connector}/{partition} started from {}",
            kind.as_str(),
            mark(start_watermark)
        ),
        Event::RunRefused { kind, status, .. } => {
            format!("{} did not start: {}", kind.as_str(), status.as_str())
        }
        Event::DiscoveryErrorRecorded { page, error, .. } => format!(
            "page {page}: {} failed ({}, {}): {}",
            error.anchor,
            error.name,
            error.kind.as_str(),
            or_no_description(&error.description)
        ),
        Event::FatalImportErrorRecorded { page, error, .. } => format!(
            "page {page}: {}{}: {}",
            error.kind.as_str(),
            error
                .anchor
                .as_ref()
                .map_or_else(String::new, |a| format!(" on {a}")),
            or_no_description(&error.description)
        ),
        Event::PageRead {
            page,
            changes,
            proposed_watermark,
            ..
        } => format!(
            "page {page}: {} staged, proposes {}",
            counted(changes.len(), "change", "changes"),
            mark(proposed_watermark)
        ),
        Event::FaultRecorded { page, fault, .. } => format!(
            "{}{}: {}",
            fault.kind.as_str(),
            page.map_or_else(String::new, |p| format!(" instead of page {p}")),
            or_no_description(&fault.message)
        ),
        Event::LimitReached {
            limit,
            count,
            maximum,
            ..
        } => format!("{}: {count} over {maximum}", limit.code()),
        Event::WatermarkCommitted { watermark, .. } => {
            format!("committed watermark {}", watermark_text(watermark))
        }
        Event::ObsoletionApplied { anchors, .. } => {
            format!(
                "obsoletion applied: {} obsolete",
                counted(anchors.len(), "object", "objects")
            )
        }
        Event::ObsoletionSkipped { reason, .. } => {
            format!("obsoletion skipped ({})", reason.as_str())
        }
        Event::ObsoletionHeld { anchors, .. } => format!(
            "obsoletion of {} held by the deletion guard",
            counted(anchors.len(), "object", "objects")
        ),
        Event::ExportQueued {
            partition, change, ..
        } => format!(
            "{} of {} queued on {partition}",
            change.kind.as_str(),
            change.anchor
        ),
        Event::ExportBatchSent { anchors, .. } => {
            format!("{} sent", counted(anchors.len(), "change", "changes"))
        }
        Event::ExportResultRecorded {
            anchor, outcome, ..
        } => format!("{anchor}: {}", outcome.as_str()),
        Event::RunInterrupted { .. } => "found in flight when the log was reopened".to_owned(),
        Event::RunEnded {
            status,
            committed_watermark,
            counts,
            ..
        } => format!(
            "ended {} ({}, {}), committed {}",
            status.as_str(),
            counted(
                usize::try_from(counts.errors).unwrap_or(usize::MAX),
                "error",
                "errors"
            ),
            counted(
                usize::try_from(counts.warnings).unwrap_or(usize::MAX),
                "warning",
                "warnings"
            ),
            committed_watermark
                .as_ref()
                .map_or_else(|| "nothing".to_owned(), watermark_text)
        ),
        Event::AdminActionRecorded {
            connector,
            partition,
            action,
        } => format!(
            "administrator: {} on {connector}{}",
            action.as_str(),
            partition
                .as_ref()
                .map_or_else(String::new, |p| format!("/{p}"))
        ),
        Event::AdministratorActed {
            connector,
            partition,
            action,
            run,
            reason,
        } => format!(
            "administrator: {} on {connector}{}{}{}",
            action.as_str(),
            partition
                .as_ref()
                .map_or_else(String::new, |p| format!("/{p}")),
            run.map_or_else(String::new, |run| format!(" (run {run})")),
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        ),
        Event::TornRecordDiscarded { seq, length } => format!(
            "recovery: record {seq}, the last, failed its checks ({length} bytes: a write cut short) and was discarded"
        ),
        Event::PresentRecordsAccepted { through, reason } => format!(
            "administrator: accepted records 1 to {through} of a log whose head note was lost{}",
            crate::text::parenthesized(reason)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(event: Event) -> serde_json::Value {
        let envelope = Envelope::new(Timestamp(0), Actor::from_name("test"), event);
        serde_json::to_value(EventView::new(7, &envelope)).unwrap_or_default()
    }

    #[test]
    fn events_use_the_state_vocabulary_and_the_one_watermark_rule() {
        let committed = json(Event::WatermarkCommitted {
            run: RunId(3),
            watermark: Watermark(vec![0xff, 0x00]),
        });
        assert_eq!(committed["seq"], 7);
        assert_eq!(committed["type"], "watermark-committed");
        assert_eq!(committed["run"], 3);
        assert_eq!(committed["at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(committed["event"]["watermark"], "0xff00");
        let result = json(Event::ExportResultRecorded {
            run: RunId(4),
            anchor: Anchor::from("u1"),
            outcome: ExportOutcome::ProvisioningParent {
                parent: Anchor::from("ou=sales"),
            },
        });
        assert_eq!(result["event"]["result"], "provisioning-parent");
        assert_eq!(result["event"]["parent"], "ou=sales");
        assert_eq!(result["event"]["name"], serde_json::Value::Null);
        let interrupted = json(Event::RunInterrupted { run: RunId(5) });
        assert_eq!(
            interrupted["event"],
            serde_json::Value::Object(Default::default())
        );
    }
}
