//! Views of the state for people and programs. The JSON field names are SPEC §7's public
//! contract (acceptance tests rely on them): add fields, never rename these.

use crate::core::*;
use crate::remedy::RemedyCatalog;
use serde_json::{json, Value};

fn attributes_json(attributes: &Attributes) -> Value {
    let map: serde_json::Map<String, Value> = attributes
        .0
        .iter()
        .map(|(name, value)| {
            let value = match value {
                AttributeValue::Single(text) => Value::String(text.clone()),
                AttributeValue::Multi(texts) => texts.iter().cloned().map(Value::String).collect(),
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(map)
}

fn watermark(watermark: Option<&Watermark>) -> Value {
    watermark.map_or(Value::Null, |w| Value::String(w.display_text()))
}

/// A time stamp (milliseconds since the Unix epoch, UTC) as RFC 3339 with milliseconds, e.g.
/// `2026-01-01T00:00:00.000Z`: the form SPEC §8 asks of `started_at` and `ended_at`.
pub fn rfc3339(at: Timestamp) -> String {
    let millis = at.0.rem_euclid(1000);
    let seconds = at.0.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// One run as `state --json` lists it in `runs[]`.
pub fn run_json(run: &RunRecord) -> Value {
    json!({
        "id": run.id.0,
        "connector": run.connector.as_str(),
        "partition": run.partition.as_str(),
        "kind": run.kind.as_str(),
        "start_watermark": watermark(run.start_watermark.as_ref()),
        "status": run.status.map(RunStatus::as_str),
        // A run without a status is open: running, if a writer holds the log, or found in
        // flight, which the next writer closes as `interrupted` (R13).
        "in_flight": run.status.is_none(),
        "committed_watermark": watermark(run.committed_watermark.as_ref()),
        "obsoletion": run.obsoletion.as_str(),
        "skip_reason": run.skip_reason.map(SkipReason::as_str),
        "refused_by_run": run.refusal.as_ref().map(|cause| match cause {
            RefusalCause::FullImportRequired { set_by }
            | RefusalCause::Disabled { set_by, .. }
            | RefusalCause::Suspended { set_by, .. } => set_by.0,
        }),
        "refusal": run.refusal.as_ref().map(|cause| match cause {
            RefusalCause::FullImportRequired { .. } => json!({ "cause": "full-import-required" }),
            RefusalCause::Disabled { code, .. } => json!({ "cause": "disabled", "code": code.as_str() }),
            RefusalCause::Suspended { code, .. } => json!({ "cause": "suspended", "code": code }),
        }),
        "obsoleted": run.counts.obsoleted,
        "errors": run.counts.errors,
        "warnings": run.counts.warnings,
        "pages": run.counts.pages,
        "staged": run.counts.staged,
        "exported": run.counts.exported,
        "fault": run.fault.as_ref().map(|fault| json!({ "kind": fault.kind.as_str(), "message": fault.message })),
        "limit": run.limit.as_ref().map(|limit| json!({
            "code": limit.kind.code(),
            "count": limit.count,
            "maximum": limit.maximum,
            "message": limit.message(),
        })),
        "started_seq": run.started.seq,
        "ended_seq": run.ended.as_ref().map(|end| end.seq),
        "started_at": rfc3339(run.started.at),
        "ended_at": run.ended.as_ref().map(|end| rfc3339(end.at)),
        "duration_ms": run.ended.as_ref().map(|end| end.at.0.saturating_sub(run.started.at.0)),
    })
}

/// One finished run as `simulate --json` prints it.
pub fn finished_run_json(run: &RunRecord) -> Value {
    json!({
        "id": run.id.0,
        "partition": run.partition.as_str(),
        "kind": run.kind.as_str(),
        "status": run.status.map(RunStatus::as_str),
        "committed_watermark": watermark(run.committed_watermark.as_ref()),
    })
}

fn partition_json(
    connector: &ConnectorName,
    name: &PartitionName,
    part: &PartitionState,
    health: Health,
) -> Value {
    let objects: Vec<Value> = part
        .objects()
        .iter()
        .map(|(anchor, object)| json!({ "anchor": anchor.as_str(), "obsolete": object.obsolete }))
        .collect();
    let pending: Vec<Value> = part
        .exports()
        .in_order()
        .map(|entry| {
            json!({
                "anchor": entry.change.anchor.as_str(),
                "change": entry.change.kind.as_str(),
                "attrs": attributes_json(&entry.change.attributes),
                "refs": attributes_json(&entry.change.references),
                "waits_for": entry.waits_for.as_ref().map(Anchor::as_str),
            })
        })
        .collect();
    let errors: Vec<Value> = part
        .object_errors()
        .iter()
        .map(|(anchor, error)| {
            json!({
                "anchor": anchor.as_str(),
                "name": error.name,
                "description": error.description,
                "failing_runs": error.failing_runs,
                "first_seq": error.first.seq,
                "last_seq": error.last.seq,
            })
        })
        .collect();
    json!({
        "connector": connector.as_str(),
        "name": name.as_str(),
        "committed_watermark": watermark(part.committed_watermark()),
        "committed_by_run": part.committed_by().and_then(|o| o.run).map(|run| run.0),
        "full_import_required": part.full_import_required().is_some(),
        "full_import_required_by_run": part.full_import_required().and_then(|o| o.run).map(|run| run.0),
        "health": health.as_str(),
        "live_objects": part.live_objects(),
        "objects": objects,
        "pending_exports": pending,
        "object_errors": errors,
    })
}

fn occurrence_json(occurrence: &Occurrence) -> Value {
    json!({ "seq": occurrence.seq, "at_ms": occurrence.at.0, "run": occurrence.run.map(|run| run.0) })
}

/// One open alert, with its remedy from the catalog (SPEC §7 `alerts[]`).
pub fn alert_json(alert: &Alert, catalog: &RemedyCatalog) -> Value {
    let remedy = catalog.lookup(alert);
    json!({
        "severity": alert.severity.as_str(),
        "scope": alert.scope.as_str(),
        "class": alert.scope.class(),
        "code": alert.code,
        "recipient": alert.recipient.as_str(),
        "connector": alert.connector.as_str(),
        "partition": alert.partition.as_ref().map(PartitionName::as_str),
        "anchor": alert.anchor.as_ref().map(Anchor::as_str),
        "message": alert.message,
        "objects": alert.objects.iter().map(Anchor::as_str).collect::<Vec<_>>(),
        "first": occurrence_json(&alert.first),
        "last": occurrence_json(&alert.last),
        "remedy": remedy.map(|r| r.remedy.as_str()),
        "remedy_title": remedy.map(|r| r.title.as_str()),
        "remedy_source": remedy.map(|r| r.source.as_str()),
    })
}

/// The whole state as `state --json` prints it: `runs[]`, `partitions[]`, `alerts[]`.
pub fn state_json(state: &State, catalog: &RemedyCatalog) -> Value {
    let runs: Vec<Value> = state.runs().iter().map(run_json).collect();
    let mut partitions = Vec::new();
    for (connector, connector_state) in state.connectors() {
        for (name, part) in connector_state.partitions() {
            partitions.push(partition_json(
                connector,
                name,
                part,
                state.health(connector, name),
            ));
        }
    }
    let alerts: Vec<Value> = state
        .alerts()
        .iter()
        .map(|alert| alert_json(alert, catalog))
        .collect();
    json!({
        "last_seq": state.last_seq(),
        "runs": runs,
        "partitions": partitions,
        "alerts": alerts,
    })
}

/// One sentence about an event, for people.
pub fn event_summary(event: &Event) -> String {
    let mark = |w: &Option<Watermark>| {
        w.as_ref()
            .map_or_else(|| "no watermark".to_owned(), |w| format!("watermark {w}"))
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
            error.description
        ),
        Event::FatalImportErrorRecorded { page, error, .. } => format!(
            "page {page}: {}{}: {}",
            error.kind.as_str(),
            error
                .anchor
                .as_ref()
                .map_or_else(String::new, |a| format!(" on {a}")),
            error.description
        ),
        Event::PageRead {
            page,
            changes,
            proposed_watermark,
            ..
        } => format!(
            "page {page}: {} change{} staged, proposes {}",
            changes.len(),
            if changes.len() == 1 { "" } else { "s" },
            mark(proposed_watermark)
        ),
        Event::FaultRecorded { page, fault, .. } => format!(
            "{}{}: {}",
            fault.kind.as_str(),
            page.map_or_else(String::new, |p| format!(" instead of page {p}")),
            fault.message
        ),
        Event::LimitReached {
            limit,
            count,
            maximum,
            ..
        } => format!("{}: {count} over {maximum}", limit.code()),
        Event::WatermarkCommitted { watermark, .. } => format!("committed watermark {watermark}"),
        Event::ObsoletionApplied { anchors, .. } => {
            format!("obsoletion applied: {} object(s) obsolete", anchors.len())
        }
        Event::ObsoletionSkipped { reason, .. } => {
            format!("obsoletion skipped ({})", reason.as_str())
        }
        Event::ObsoletionHeld { anchors, .. } => format!(
            "obsoletion of {} object(s) held by the deletion guard",
            anchors.len()
        ),
        Event::ExportQueued {
            partition, change, ..
        } => format!(
            "{} of {} queued on {partition}",
            change.kind.as_str(),
            change.anchor
        ),
        Event::ExportBatchSent { anchors, .. } => format!("{} change(s) sent", anchors.len()),
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
            "ended {} ({} errors, {} warnings), committed {}",
            status.as_str(),
            counts.errors,
            counts.warnings,
            committed_watermark
                .as_ref()
                .map_or_else(|| "nothing".to_owned(), Watermark::display_text)
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
        Event::TornRecordDiscarded { seq, length } => format!(
            "recovery: record {seq}, the last, failed its checks ({length} bytes: a write cut short) and was discarded"
        ),
        Event::PresentRecordsAccepted { through, reason } => format!(
            "administrator: accepted records 1 to {through} of a log whose head note was lost ({reason})"
        ),
    }
}

/// One event as `events --json` prints it: at least `seq`, `type` and `run` (SPEC §7).
pub fn event_json(seq: Seq, envelope: &Envelope) -> Value {
    json!({
        "seq": seq,
        "type": envelope.event.type_name(),
        "run": envelope.event.run().map(|run| run.0),
        "at_ms": envelope.at.0,
        "actor": envelope.actor.0,
        "summary": event_summary(&envelope.event),
        "event": serde_json::to_value(&envelope.event).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stamps_read_as_rfc_3339_utc() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Timestamp(1_767_225_600_000)),
            "2026-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(Timestamp(951_825_599_999)),
            "2000-02-29T11:59:59.999Z"
        );
        assert_eq!(rfc3339(Timestamp(-1)), "1969-12-31T23:59:59.999Z");
    }
}
