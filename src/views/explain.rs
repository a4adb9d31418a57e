//! Explanations for a postmortem: where a partition's watermark stands and why, why obsoletion
//! was skipped or held, why a scope is disabled or suspended — each as a causal chain that names
//! runs and sequence numbers, with the remedy. Built from the folded state (and, for obsoletion,
//! the events of the run in question, read from the log here), so it reads the same at any
//! `--at` point.
//!
//! Each explanation is one value: its JSON fields are the `explain --json` contract; the facts
//! only the text shows (a run's kind or status beside its id, the run of an occurrence) are
//! fields marked `#[serde(skip)]`.

use super::state::{AdministratorView, WatermarkSetBackView};
use super::{line, watermark_json, Block, OccurrenceView, TextView};
use crate::core::*;
use crate::log::{replay, LogError, RecordStore};
use crate::remedy::RemedyCatalog;
use serde::Serialize;
use std::ops::ControlFlow;

use super::event_at as at;
use crate::text::{counted, or_no_description};

/// ` "TEXT"` after an error name, or nothing when the description is empty.
fn quoted(description: &str) -> String {
    if description.trim().is_empty() {
        String::new()
    } else {
        format!(" \"{description}\"")
    }
}

fn at_occurrence(occurrence: &Occurrence) -> String {
    at(occurrence.seq, occurrence.run.map(|run| run.0))
}

/// One object whose import error holds a watermark back ([R1](crate::rules#r1)).
#[derive(Clone, Debug, Serialize)]
pub struct HoldingObject {
    /// The object.
    pub anchor: String,
    /// Its error name.
    pub error_name: String,
    /// Its description.
    pub description: String,
    /// The event of its first occurrence.
    pub first_seq: Seq,
    /// The run of its first occurrence.
    pub first_run: Option<u64>,
    /// The event of its latest occurrence.
    pub last_seq: Seq,
    /// Distinct runs it failed in.
    pub failing_runs: u64,
    /// Whether it turned permanent ([R9](crate::rules#r9)).
    pub permanent: bool,
    /// The run of its latest occurrence.
    #[serde(skip)]
    pub last_run: Option<u64>,
}

/// Where the watermark of a partition stands and why (`explain watermark`).
#[derive(Clone, Debug, Serialize)]
pub struct WatermarkExplanation {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// The committed watermark.
    pub committed_watermark: Option<String>,
    /// The run that committed it.
    pub committed_by_run: Option<u64>,
    /// The event that committed it.
    pub committed_at_seq: Option<Seq>,
    /// Delta imports since then that ended where they started, held back by object errors.
    pub held_back_by_runs: Vec<u64>,
    /// The objects holding it back now: open import errors from the run that committed it or a
    /// later one, which the next delta import reads again.
    pub holding_objects: Vec<HoldingObject>,
    /// Objects still in error that the watermark has already moved past: their last failure was
    /// in a run before the one that committed it, so a delta import may never read them again;
    /// a full import does.
    pub moved_past_objects: Vec<HoldingObject>,
    /// Whether the stuck-watermark warning is open ([R6](crate::rules#r6)).
    pub stuck_warning: bool,
    /// The event that set `full-import-required`, if set.
    pub full_import_required_since_seq: Option<Seq>,
    /// The administrator who set `full-import-required`, when one did (SPEC §8).
    pub full_import_required_by_administrator: Option<AdministratorView>,
    /// The administrator's `set-watermark` that put the committed watermark where it is, until a
    /// run commits one again (SPEC §8).
    pub watermark_set_back: Option<WatermarkSetBackView>,
    /// What to do.
    pub remedy: Option<String>,
    /// The kind of the run that committed it.
    #[serde(skip)]
    pub committed_by_kind: Option<&'static str>,
    /// The statuses of `held_back_by_runs`, in the same order.
    #[serde(skip)]
    pub held_back_statuses: Vec<&'static str>,
    /// When the stuck-watermark warning opened ([`Alert::opened`]), while it is open.
    pub stuck_warning_opened: Option<OccurrenceView>,
    /// The run that set `full-import-required`.
    #[serde(skip)]
    pub full_import_required_by_run: Option<u64>,
}

/// Where the watermark of `partition` stands and why: who committed it, which runs and objects
/// have held it back since, the stuck-watermark warning and the full-import flag. `None` when
/// the state has no such partition.
pub fn watermark(
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
    catalog: &RemedyCatalog,
) -> Option<WatermarkExplanation> {
    let part = state.partition(connector, partition)?;
    // Runs held back count from the commit, or from an administrator's set-back after it (R6's
    // count restarts there, SPEC §8).
    let committed_seq = part
        .committed_by()
        .map_or(0, |o| o.seq)
        .max(part.watermark_set_back().map_or(0, |set| set.by.at.seq));
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
    // An open error whose last failure came before the run that committed the watermark was not
    // read by that run: the watermark moved past it. After an administrator's set-back every open
    // error is ahead of the watermark again.
    let committing_run = part.committed_by().and_then(|by| by.run);
    let moved_past = |error: &&ObjectErrorRecord| {
        part.watermark_set_back().is_none()
            && matches!((error.last.run, committing_run), (Some(last), Some(commit)) if last < commit)
    };
    let (passed, holding): (Vec<_>, Vec<_>) = part
        .object_errors()
        .iter()
        .filter(|(_, error)| error.direction == ErrorDirection::Import)
        .partition(|(_, error)| moved_past(error));
    let holding_object = |(anchor, error): (&Anchor, &ObjectErrorRecord)| HoldingObject {
        anchor: anchor.to_string(),
        error_name: error.name.clone(),
        description: error.description.clone(),
        first_seq: error.first.seq,
        first_run: error.first.run.map(|r| r.0),
        last_seq: error.last.seq,
        failing_runs: error.failing_runs,
        permanent: error.permanent,
        last_run: error.last.run.map(|r| r.0),
    };
    let holding: Vec<HoldingObject> = holding.into_iter().map(holding_object).collect();
    let moved_past_objects: Vec<HoldingObject> = passed.into_iter().map(holding_object).collect();
    let stuck = state.alerts().into_iter().find(|alert| {
        alert.code == "stuck-watermark" && alert.partition.as_ref() == Some(partition)
    });
    let remedy = if part.full_import_required().is_some() {
        catalog.find("full-import-required", "")
    } else if stuck.is_some() {
        catalog.find("stuck-watermark", "")
    } else if !holding.is_empty() {
        catalog.find(crate::remedy::OBJECT_FALLBACK, "")
    } else if !moved_past_objects.is_empty() {
        catalog.find("stuck-watermark", "")
    } else {
        None
    }
    .map(|remedy| remedy.remedy.clone());
    Some(WatermarkExplanation {
        connector: connector.to_string(),
        partition: partition.to_string(),
        committed_watermark: watermark_json(part.committed_watermark()),
        committed_by_run: part.committed_by().and_then(|o| o.run).map(|r| r.0),
        committed_at_seq: part.committed_by().map(|o| o.seq),
        held_back_by_runs: held_back.iter().map(|run| run.id.0).collect(),
        holding_objects: holding,
        moved_past_objects,
        stuck_warning: stuck.is_some(),
        full_import_required_since_seq: part.full_import_required().map(|o| o.seq),
        full_import_required_by_administrator: part
            .full_import_required_by_administrator()
            .map(AdministratorView::new),
        watermark_set_back: part.watermark_set_back().map(|set| WatermarkSetBackView {
            run: set.run.0,
            by: AdministratorView::new(&set.by),
        }),
        remedy,
        committed_by_kind: part.committed_by().map(|by| {
            by.run
                .and_then(|run| state.run(run))
                .map_or("run", |run| run.kind.as_str())
        }),
        held_back_statuses: held_back
            .iter()
            .map(|run| run.status.map_or("in-flight", RunStatus::as_str))
            .collect(),
        stuck_warning_opened: stuck
            .as_ref()
            .map(|alert| OccurrenceView::new(&alert.opened)),
        full_import_required_by_run: part.full_import_required().and_then(|o| o.run).map(|r| r.0),
    })
}

impl WatermarkExplanation {
    /// The causal chain, one fact per line, without the remedy.
    pub fn chain(&self, out: &mut Vec<Block>) {
        line(
            out,
            format!(
                "{}/{}: the committed watermark is {}.",
                self.connector,
                self.partition,
                self.committed_watermark.as_deref().unwrap_or("none")
            ),
        );
        match (self.committed_at_seq, self.committed_by_kind) {
            (Some(seq), Some(kind)) => line(
                out,
                format!(
                    "It was committed by the {kind} at {}.",
                    at(seq, self.committed_by_run)
                ),
            ),
            _ => line(out, "No run has committed a watermark yet."),
        }
        if let Some(set) = &self.watermark_set_back {
            line(
                out,
                format!(
                    "An administrator set it back to run {}'s commit: {}; the next delta import reads from there.",
                    set.run,
                    set.by.sentence()
                ),
            );
        }
        if !self.held_back_by_runs.is_empty() {
            let runs: Vec<String> = self
                .held_back_by_runs
                .iter()
                .zip(&self.held_back_statuses)
                .map(|(run, status)| format!("{run} ({status})"))
                .collect();
            line(
                out,
                format!(
                    "Since then {} ended where they started, held back by object errors: {} {}.",
                    counted(
                        self.held_back_by_runs.len(),
                        "delta import",
                        "delta imports"
                    ),
                    if self.held_back_by_runs.len() == 1 {
                        "run"
                    } else {
                        "runs"
                    },
                    runs.join(", ")
                ),
            );
        }
        if self.holding_objects.is_empty() {
            line(out, "No object error holds it back now.");
        } else {
            line(out, "Objects holding it back (a watermark never advances past an error: each stops it at the page before the object):");
            for object in &self.holding_objects {
                line(
                    out,
                    format!(
                        "  {}: {}{}, failing since {}, last at {}, in {}{}",
                        object.anchor,
                        object.error_name,
                        quoted(&object.description),
                        at(object.first_seq, object.first_run),
                        at(object.last_seq, object.last_run),
                        counted(
                            usize::try_from(object.failing_runs).unwrap_or(usize::MAX),
                            "run",
                            "runs"
                        ),
                        if object.permanent { "; permanent" } else { "" }
                    ),
                );
            }
        }
        if !self.moved_past_objects.is_empty() {
            line(
                out,
                "Objects still in error that the watermark has already moved past (a delta import may never read them again; a full import reads them again):",
            );
            for object in &self.moved_past_objects {
                line(
                    out,
                    format!(
                        "  {}: {}{}, last failed at {}",
                        object.anchor,
                        object.error_name,
                        quoted(&object.description),
                        at(object.last_seq, object.last_run),
                    ),
                );
            }
        }
        if let Some(opened) = &self.stuck_warning_opened {
            line(
                out,
                format!(
                    "The stuck-watermark warning is open since {}.",
                    at(opened.seq, opened.run)
                ),
            );
        }
        if let Some(seq) = self.full_import_required_since_seq {
            let since = match &self.full_import_required_by_administrator {
                Some(by) => format!("administrator {}", by.sentence()),
                None => at(seq, self.full_import_required_by_run),
            };
            line(
                out,
                format!(
                    "A full import is required since {since}: delta imports are refused until one completes."
                ),
            );
        }
    }
}

/// The last full import of a partition, as the obsoletion explanation tells it.
#[derive(Clone, Debug)]
pub struct LastFullImport {
    /// Its status, `in-flight` while open.
    pub status: &'static str,
    /// The event that started it.
    pub started_seq: Seq,
    /// The event that ended it.
    pub ended_seq: Option<Seq>,
    /// Its error count.
    pub errors: u64,
}

/// Why the last full import of a partition applied, skipped or held obsoletion
/// (`explain obsoletion`).
#[derive(Clone, Debug, Serialize)]
pub struct ObsoletionExplanation {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// The last full import.
    pub last_full_import_run: Option<u64>,
    /// What happened to its obsoletion.
    pub obsoletion: Option<&'static str>,
    /// Why it was skipped.
    pub skip_reason: Option<&'static str>,
    /// How many objects it obsoleted.
    pub obsoleted: Option<u64>,
    /// An obsoletion held by the deletion guard ([R4](crate::rules#r4)).
    pub held: Option<HeldView>,
    /// What to do.
    pub remedy: Option<String>,
    /// The last full import's status and extent.
    #[serde(skip)]
    pub last: Option<LastFullImport>,
    /// What failed in it (when its obsoletion was skipped): the event and a sentence.
    #[serde(skip)]
    pub failures: Vec<(Seq, String)>,
}

/// An obsoletion held by the deletion guard ([R4](crate::rules#r4)).
#[derive(Clone, Debug, Serialize)]
pub struct HeldView {
    /// The full import that held it.
    pub run: u64,
    /// The objects it would obsolete.
    pub objects: Vec<String>,
}

/// What failed in a run, as the obsoletion explanation lists it.
fn failure(event: &Event) -> Option<String> {
    match event {
        Event::DiscoveryErrorRecorded { error, .. } => Some(format!(
            "{} failed with {}: {}",
            error.anchor,
            error.name,
            or_no_description(&error.description)
        )),
        Event::FaultRecorded { fault, .. } => Some(format!(
            "fault {}: {}",
            fault.kind.as_str(),
            or_no_description(&fault.message)
        )),
        Event::LimitReached {
            limit,
            count,
            maximum,
            ..
        } => Some(format!("{} ({count} over {maximum})", limit.code())),
        Event::FatalImportErrorRecorded { error, .. } => Some(format!(
            "{}: {}",
            error.kind.as_str(),
            or_no_description(&error.description)
        )),
        _ => None,
    }
}

/// Why the last full import of `partition` applied, skipped or held obsoletion; the objects that
/// failed in it are read from its events in `store`. `Ok(None)` when the state has no such
/// partition; an error when the log cannot be read.
pub fn obsoletion<S: RecordStore + ?Sized>(
    store: &S,
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
    catalog: &RemedyCatalog,
) -> Result<Option<ObsoletionExplanation>, LogError> {
    let Some(part) = state.partition(connector, partition) else {
        return Ok(None);
    };
    let last = state.runs().iter().rev().find(|run| {
        &run.partition == partition
            && &run.connector == connector
            && run.kind == RunKind::FullImport
    });
    let mut failures = Vec::new();
    if let Some(run) = last.filter(|run| run.obsoletion == Obsoletion::Skipped) {
        let id = run.id;
        let until = run.ended.as_ref().map(|end| end.seq);
        replay(store, run.started.seq, until, &mut |seq, envelope, _| {
            if envelope.event.run() == Some(id) {
                if let Some(what) = failure(&envelope.event) {
                    failures.push((seq, what));
                }
            }
            ControlFlow::Continue(())
        })?;
    }
    let remedy = part
        .held_obsoletion()
        .and_then(|_| catalog.find("obsoletion-held", ""))
        .map(|r| r.remedy.clone());
    Ok(Some(ObsoletionExplanation {
        connector: connector.to_string(),
        partition: partition.to_string(),
        last_full_import_run: last.map(|run| run.id.0),
        obsoletion: last.map(|run| run.obsoletion.as_str()),
        skip_reason: last.and_then(|run| run.skip_reason.map(SkipReason::as_str)),
        obsoleted: last.map(|run| run.counts.obsoleted),
        held: part.held_obsoletion().map(|held| HeldView {
            run: held.run.0,
            objects: held.anchors.iter().map(Anchor::to_string).collect(),
        }),
        remedy,
        last: last.map(|run| LastFullImport {
            status: run.status.map_or("in-flight", RunStatus::as_str),
            started_seq: run.started.seq,
            ended_seq: run.ended.as_ref().map(|end| end.seq),
            errors: run.counts.errors,
        }),
        failures,
    }))
}

impl ObsoletionExplanation {
    /// The causal chain, one fact per line, without the remedy.
    pub fn chain(&self, out: &mut Vec<Block>) {
        let scope = format!("{}/{}", self.connector, self.partition);
        match (&self.last, self.last_full_import_run) {
            (Some(run), Some(id)) => {
                let span = run.ended_seq.map_or_else(
                    || format!("from event {}", run.started_seq),
                    |end| format!("events {}–{end}", run.started_seq),
                );
                let obsoletion = self.obsoletion.unwrap_or("not-applicable");
                line(
                    out,
                    format!(
                        "The last full import of {scope} is run {id} ({span}): {}; obsoletion {obsoletion}.",
                        run.status
                    ),
                );
                if obsoletion == Obsoletion::Applied.as_str() {
                    line(out, format!(
                        "It completed with zero errors, so the {} it did not see were marked obsolete.",
                        counted(usize::try_from(self.obsoleted.unwrap_or(0)).unwrap_or(usize::MAX), "live object", "live objects")
                    ));
                } else if obsoletion == Obsoletion::Skipped.as_str() {
                    let reason = if self.skip_reason == Some(SkipReason::ImportErrors.as_str()) {
                        format!("it had {}", counted(usize::try_from(run.errors).unwrap_or(usize::MAX), "error", "errors"))
                    } else {
                        "it stopped before its end".to_owned()
                    };
                    line(out, format!(
                        "Obsoletion was skipped because {reason}: no object was marked obsolete, every object it did not see is kept (obsoletion happens only at the end of a full import with zero errors)."
                    ));
                    for (seq, what) in &self.failures {
                        line(out, format!("  event {seq}: {what}"));
                    }
                    line(out, "Fix what failed and run a clean full import to obsolete what left the source.");
                }
            }
            _ => line(out, format!(
                "{scope} has had no full import: nothing was ever obsoleted (delta imports never obsolete)."
            )),
        }
        if let Some(held) = &self.held {
            let names: Vec<&str> = held.objects.iter().take(10).map(String::as_str).collect();
            line(
                out,
                format!(
                    "An obsoletion of {} is held by the deletion guard since run {}: {}{}.",
                    counted(held.objects.len(), "object", "objects"),
                    held.run,
                    names.join(", "),
                    if held.objects.len() > 10 { ", …" } else { "" }
                ),
            );
        }
    }
}

/// An open alert that bears on a scope's health.
#[derive(Clone, Debug)]
pub struct HealthCause {
    /// `connector` or `partition`.
    pub scope: &'static str,
    /// `warning` or `error`.
    pub severity: &'static str,
    /// The alert code.
    pub code: String,
    /// What happened.
    pub message: String,
    /// Its first occurrence.
    pub first: Occurrence,
    /// Its last occurrence.
    pub last: Occurrence,
    /// When the alert opened ([`Alert::opened`]).
    pub opened: Occurrence,
}

/// Why a connector or partition is enabled, disabled or suspended, and what lifts it
/// (`explain health`).
#[derive(Clone, Debug, Serialize)]
pub struct HealthExplanation {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// `enabled`, `disabled` or `suspended`.
    pub health: &'static str,
    /// What to do.
    pub remedy: Option<String>,
    /// The open connector and partition alerts that bear on it.
    #[serde(skip)]
    pub causes: Vec<HealthCause>,
    /// The status a run started now would end with, if it would not start.
    #[serde(skip)]
    pub would_end: Option<&'static str>,
    /// The latest `enable` of the connector, by whom and why (SPEC §8).
    pub enabled_by: Option<AdministratorView>,
    /// The latest `resume` of the connector, by whom and why (SPEC §8).
    pub resumed_by: Option<AdministratorView>,
}

/// Why `partition` of `connector` is enabled, disabled or suspended, and what lifts it. `None`
/// when the state has no such partition.
pub fn health(
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
    catalog: &RemedyCatalog,
) -> Option<HealthExplanation> {
    state.partition(connector, partition)?;
    let connector_state = state
        .connectors()
        .find(|(name, _)| *name == connector)
        .map(|(_, c)| c);
    let mut remedy = None;
    let mut causes = Vec::new();
    for alert in state.alerts().iter().filter(|alert| {
        &alert.connector == connector
            && alert.severity != Severity::Info
            && alert.scope != AlertScope::Object
            && alert.partition.as_ref().is_none_or(|p| p == partition)
    }) {
        causes.push(HealthCause {
            scope: alert.scope.as_str(),
            severity: alert.severity.as_str(),
            code: alert.code.clone(),
            message: alert.message.clone(),
            first: alert.first.clone(),
            last: alert.last.clone(),
            opened: alert.opened.clone(),
        });
        if remedy.is_none() {
            remedy = catalog.lookup(alert).map(|r| r.remedy.clone());
        }
    }
    Some(HealthExplanation {
        connector: connector.to_string(),
        partition: partition.to_string(),
        health: state.health(connector, partition).as_str(),
        remedy,
        causes,
        would_end: state
            .refusal_for(connector, partition, RunKind::FullImport)
            .map(|refused| refused.0.as_str()),
        enabled_by: connector_state
            .and_then(ConnectorState::enabled_by)
            .map(AdministratorView::new),
        resumed_by: connector_state
            .and_then(ConnectorState::resumed_by)
            .map(AdministratorView::new),
    })
}

impl HealthExplanation {
    /// The causal chain, one fact per line, without the remedy.
    pub fn chain(&self, out: &mut Vec<Block>) {
        line(
            out,
            format!("{}/{} is {}.", self.connector, self.partition, self.health),
        );
        for cause in &self.causes {
            line(
                out,
                format!(
                    "{} {} ({}): {}; open since {}, last at {}.",
                    cause.scope,
                    cause.severity,
                    cause.code,
                    cause.message,
                    at_occurrence(&cause.opened),
                    at_occurrence(&cause.last)
                ),
            );
        }
        if let Some(by) = &self.enabled_by {
            line(
                out,
                format!("The connector was last enabled by {}.", by.sentence()),
            );
        }
        if let Some(by) = &self.resumed_by {
            line(
                out,
                format!("The connector was last resumed by {}.", by.sentence()),
            );
        }
        if let Some(status) = self.would_end {
            line(out, format!("A run started now would end {status}."));
        }
        if self.causes.is_empty() && self.would_end.is_none() {
            line(out, "No fault is open on it: runs start normally.");
        }
    }
}

/// Any of the three explanations (`explain --json` prints the one asked for).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Explanation {
    /// `explain watermark`.
    Watermark(WatermarkExplanation),
    /// `explain obsoletion`.
    Obsoletion(ObsoletionExplanation),
    /// `explain health`.
    Health(HealthExplanation),
}

impl Explanation {
    /// The causal chain, one fact per line, without the remedy.
    pub fn chain(&self, out: &mut Vec<Block>) {
        match self {
            Explanation::Watermark(explanation) => explanation.chain(out),
            Explanation::Obsoletion(explanation) => explanation.chain(out),
            Explanation::Health(explanation) => explanation.chain(out),
        }
    }

    /// The remedy, when something needs doing.
    pub fn remedy(&self) -> Option<&str> {
        match self {
            Explanation::Watermark(explanation) => explanation.remedy.as_deref(),
            Explanation::Obsoletion(explanation) => explanation.remedy.as_deref(),
            Explanation::Health(explanation) => explanation.remedy.as_deref(),
        }
    }
}

impl TextView for Explanation {
    fn text(&self, out: &mut Vec<Block>) {
        self.chain(out);
        if let Some(remedy) = self.remedy() {
            line(out, "");
            line(out, format!("Remedy: {remedy}"));
        }
    }
}
