//! Explanations for a postmortem: where a partition's watermark stands and why, why obsoletion
//! was skipped or held, why a scope is disabled or suspended — each as a causal chain that names
//! runs and sequence numbers, with the remedy. Built from the folded state alone (and, for
//! obsoletion, the events of the run in question), so it reads the same at any `--at` point.

use crate::core::*;
use crate::remedy::RemedyCatalog;
use serde_json::{json, Value};

/// An explanation: lines for people, the same facts for programs.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The causal chain, one fact per line.
    pub lines: Vec<String>,
    /// The remedy, when something needs doing.
    pub remedy: Option<String>,
    /// The facts as JSON.
    pub json: Value,
}

fn at(occurrence: &Occurrence) -> String {
    match occurrence.run {
        Some(run) => format!("event {} (run {run})", occurrence.seq),
        None => format!("event {}", occurrence.seq),
    }
}

fn text(watermark: Option<&Watermark>) -> String {
    watermark.map_or_else(|| "none".to_owned(), Watermark::display_text)
}

/// Where the watermark of `partition` stands and why: who committed it, which runs and objects
/// have held it back since, the stuck-watermark warning and the full-import flag.
pub fn watermark(
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
    catalog: &RemedyCatalog,
) -> Option<Explanation> {
    let part = state.partition(connector, partition)?;
    let mut lines = vec![format!(
        "{connector}/{partition}: the committed watermark is {}.",
        text(part.committed_watermark())
    )];
    let committed_seq = part.committed_by().map_or(0, |o| o.seq);
    match part.committed_by() {
        Some(by) => {
            let kind = by
                .run
                .and_then(|run| state.run(run))
                .map_or("run", |run| run.kind.as_str());
            lines.push(format!("It was committed by the {kind} at {}.", at(by)));
        }
        None => lines.push("No run has committed a watermark yet.".to_owned()),
    }
    let held_back: Vec<&RunRecord> = state
        .runs()
        .iter()
        .filter(|run| {
            &run.partition == partition
                && &run.connector == connector
                && run.kind == RunKind::DeltaImport
                && run.started.seq > committed_seq
                && matches!(
                    run.status,
                    Some(RunStatus::CompletedDiscoveryErrors | RunStatus::StoppedObjectError)
                )
        })
        .collect();
    if !held_back.is_empty() {
        let runs: Vec<String> = held_back
            .iter()
            .map(|run| {
                format!(
                    "{} ({})",
                    run.id,
                    run.status.map_or("in-flight", RunStatus::as_str)
                )
            })
            .collect();
        lines.push(format!(
            "Since then {} delta import(s) ended where they started, held back by object errors: runs {}.",
            held_back.len(),
            runs.join(", ")
        ));
    }
    let holding: Vec<(&Anchor, &ObjectErrorRecord)> = part
        .object_errors()
        .iter()
        .filter(|(_, error)| error.direction == ErrorDirection::Import)
        .collect();
    if holding.is_empty() {
        lines.push("No object error holds it back now.".to_owned());
    } else {
        lines.push("Objects holding it back (their errors stop the watermark at the page before them, R1):".to_owned());
        for (anchor, error) in &holding {
            lines.push(format!(
                "  {anchor}: {} \"{}\", failing since {}, last at {}, in {} run(s){}",
                error.name,
                error.description,
                at(&error.first),
                at(&error.last),
                error.failing_runs,
                if error.permanent { "; permanent" } else { "" }
            ));
        }
    }
    let stuck = state.alerts().into_iter().find(|alert| {
        alert.code == "stuck-watermark" && alert.partition.as_ref() == Some(partition)
    });
    if let Some(stuck) = &stuck {
        lines.push(format!(
            "The stuck-watermark warning is open since {}.",
            at(&stuck.last)
        ));
    }
    if let Some(flag) = part.full_import_required() {
        lines.push(format!(
            "A full import is required since {}: delta imports are refused until one completes.",
            at(flag)
        ));
    }
    let remedy = if part.full_import_required().is_some() {
        catalog.find("full-import-required", "")
    } else if stuck.is_some() {
        catalog.find("stuck-watermark", "")
    } else if !holding.is_empty() {
        catalog.find(crate::remedy::OBJECT_FALLBACK, "")
    } else {
        None
    }
    .map(|remedy| remedy.remedy.clone());
    let json = json!({
        "connector": connector.as_str(),
        "partition": partition.as_str(),
        "committed_watermark": part.committed_watermark().map(Watermark::display_text),
        "committed_by_run": part.committed_by().and_then(|o| o.run).map(|r| r.0),
        "committed_at_seq": part.committed_by().map(|o| o.seq),
        "held_back_by_runs": held_back.iter().map(|run| run.id.0).collect::<Vec<_>>(),
        "holding_objects": holding.iter().map(|(anchor, error)| json!({
            "anchor": anchor.as_str(),
            "error_name": error.name,
            "description": error.description,
            "first_seq": error.first.seq,
            "first_run": error.first.run.map(|r| r.0),
            "last_seq": error.last.seq,
            "failing_runs": error.failing_runs,
            "permanent": error.permanent,
        })).collect::<Vec<_>>(),
        "stuck_warning": stuck.is_some(),
        "full_import_required_since_seq": part.full_import_required().map(|o| o.seq),
        "remedy": remedy,
    });
    Some(Explanation {
        lines,
        remedy,
        json,
    })
}

/// Why the last full import of `partition` applied, skipped or held obsoletion; `run_events` are
/// that run's events (for the objects that failed in it).
pub fn obsoletion(
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
    run_events: &[(Seq, Envelope)],
    catalog: &RemedyCatalog,
) -> Option<Explanation> {
    let part = state.partition(connector, partition)?;
    let last = state.runs().iter().rev().find(|run| {
        &run.partition == partition
            && &run.connector == connector
            && run.kind == RunKind::FullImport
    });
    let mut lines = Vec::new();
    let mut remedy = None;
    match last {
        None => lines.push(format!(
            "{connector}/{partition} has had no full import: nothing was ever obsoleted (delta imports never obsolete, R3)."
        )),
        Some(run) => {
            let span = run
                .ended
                .as_ref()
                .map_or_else(|| format!("from event {}", run.started.seq), |end| format!("events {}–{}", run.started.seq, end.seq));
            lines.push(format!(
                "The last full import of {connector}/{partition} is run {} ({span}): {}; obsoletion {}.",
                run.id,
                run.status.map_or("in-flight", RunStatus::as_str),
                run.obsoletion.as_str()
            ));
            match run.obsoletion {
                Obsoletion::Applied => lines.push(format!(
                    "It completed with zero errors, so the {} live object(s) it did not see were marked obsolete (R3).",
                    run.counts.obsoleted
                )),
                Obsoletion::Skipped => {
                    let reason = match run.skip_reason {
                        Some(SkipReason::ImportErrors) => format!("it had {} error(s)", run.counts.errors),
                        _ => "it stopped before its end".to_owned(),
                    };
                    lines.push(format!(
                        "Obsoletion was skipped because {reason}: no object was marked obsolete, every object it did not see is kept (R3)."
                    ));
                    for (seq, envelope) in run_events {
                        match &envelope.event {
                            Event::DiscoveryErrorRecorded { error, .. } => lines.push(format!(
                                "  event {seq}: {} failed ({}): {}",
                                error.anchor, error.name, error.description
                            )),
                            Event::FaultRecorded { fault, .. } => lines.push(format!(
                                "  event {seq}: fault {}: {}",
                                fault.kind.as_str(),
                                fault.message
                            )),
                            Event::LimitReached { limit, count, maximum, .. } => lines.push(format!(
                                "  event {seq}: {} ({count} over {maximum})",
                                limit.code()
                            )),
                            Event::FatalImportErrorRecorded { error, .. } => lines.push(format!(
                                "  event {seq}: {}: {}",
                                error.kind.as_str(),
                                error.description
                            )),
                            _ => {}
                        }
                    }
                    lines.push("Fix what failed and run a clean full import to obsolete what left the source.".to_owned());
                }
                Obsoletion::Held | Obsoletion::NotApplicable => {}
            }
        }
    }
    if let Some(held) = part.held_obsoletion() {
        let names: Vec<&str> = held.anchors.iter().take(10).map(Anchor::as_str).collect();
        lines.push(format!(
            "An obsoletion of {} object(s) is held by the deletion guard since run {} (R4): {}{}.",
            held.anchors.len(),
            held.run,
            names.join(", "),
            if held.anchors.len() > 10 { ", …" } else { "" }
        ));
        remedy = catalog
            .find("obsoletion-held", "")
            .map(|r| r.remedy.clone());
    }
    let json = json!({
        "connector": connector.as_str(),
        "partition": partition.as_str(),
        "last_full_import_run": last.map(|run| run.id.0),
        "obsoletion": last.map(|run| run.obsoletion.as_str()),
        "skip_reason": last.and_then(|run| run.skip_reason.map(SkipReason::as_str)),
        "obsoleted": last.map(|run| run.counts.obsoleted),
        "held": part.held_obsoletion().map(|held| json!({
            "run": held.run.0,
            "objects": held.anchors.iter().map(Anchor::as_str).collect::<Vec<_>>(),
        })),
        "remedy": remedy,
    });
    Some(Explanation {
        lines,
        remedy,
        json,
    })
}

/// Why a connector or partition is enabled, disabled or suspended, and what lifts it.
pub fn health(
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
    catalog: &RemedyCatalog,
) -> Option<Explanation> {
    state.partition(connector, partition)?;
    let health = state.health(connector, partition);
    let mut lines = vec![format!("{connector}/{partition} is {}.", health.as_str())];
    let mut remedy = None;
    let alerts = state.alerts();
    for alert in alerts.iter().filter(|alert| {
        &alert.connector == connector
            && alert.severity != Severity::Info
            && alert.scope != AlertScope::Object
            && alert.partition.as_ref().is_none_or(|p| p == partition)
    }) {
        lines.push(format!(
            "{} {} ({}): {}; first at {}, last at {}.",
            alert.scope.as_str(),
            alert.severity.as_str(),
            alert.code,
            alert.message,
            at(&alert.first),
            at(&alert.last)
        ));
        if remedy.is_none() {
            remedy = catalog.lookup(alert).map(|r| r.remedy.clone());
        }
    }
    if let Some(refused) = state.refusal_for(connector, partition, RunKind::FullImport) {
        lines.push(format!(
            "A run started now would end {}.",
            refused.0.as_str()
        ));
    }
    if lines.len() == 1 {
        lines.push("No fault is open on it: runs start normally.".to_owned());
    }
    let json = json!({
        "connector": connector.as_str(),
        "partition": partition.as_str(),
        "health": health.as_str(),
        "remedy": remedy,
    });
    Some(Explanation {
        lines,
        remedy,
        json,
    })
}
