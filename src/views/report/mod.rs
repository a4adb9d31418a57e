//! The postmortem report (`syncfold report`): one [`ReportModel`] built from the log's events over
//! a range and the state at the range's end, rendered as one self-contained HTML page by
//! [`html::render`].
//!
//! The model is made of the same typed views as the reading commands ([`RunView`] per run,
//! [`AlertView`] per alert, the events' `type` names and `seq` of `events --json`), so the page
//! and the command line cannot disagree. Every fact carries the `seq` of the event it came from.
//!
//! # Aggregation (large logs)
//!
//! The page must stay usable for a log of a million events, so the model holds aggregates, never
//! the events themselves:
//!
//! - every run in the range is one [`ReportRun`] with its counts, status and the `seq` of its first
//!   and last event in the range; the **last [`ReportLimits::runs`] runs** (by id) are drawn one
//!   bar each, the **older runs are bucketed** per connector and partition ([`RunBucket`]: how
//!   many, by status, errors and warnings, first and last `seq`), one bar per bucket;
//! - the events of a run are embedded only for the runs drawn one by one, at most
//!   [`ReportLimits::events_per_run`] per run (the first ones); the rest are counted
//!   (`events_more`) and the page names the command that lists them all;
//! - each partition's watermark history keeps its last [`ReportLimits::history`] commits and holds
//!   (the older ones counted); the stuck-watermark and full-import-required windows are all kept
//!   (each is an interval, few per partition);
//! - the objects with the longest-open errors are the [`ReportLimits::objects`] oldest; the
//!   administrator's actions the first [`ReportLimits::admin_actions`];
//! - the alert wall is read at the range's end and at the end of each run drawn (at most
//!   [`ReportLimits::alerts_per_run`] alerts each), in a second walk that reads at most
//!   [`ReportLimits::runs`] walls.
//!
//! While the log is walked, events are kept for at most `runs` runs at a time (the newest), so
//! memory is bounded by the limits, not by the log.

pub mod html;

use super::filter::{event_scope, Point};
use super::{rfc3339, watermark_json, AlertView, RunView};
use crate::core::*;
use crate::log::{replay, LogError, RecordStore, VerifyReport};
use crate::remedy::RemedyCatalog;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// How much the page shows one by one; the rest is aggregated (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportLimits {
    /// Runs drawn one bar each (the newest); older runs are bucketed.
    pub runs: usize,
    /// Events embedded per run drawn (its first ones).
    pub events_per_run: usize,
    /// Commits and holds kept per partition (the newest).
    pub history: usize,
    /// Objects with the longest-open errors.
    pub objects: usize,
    /// Administrator actions listed (the first ones).
    pub admin_actions: usize,
    /// Alerts listed in a drawn run's wall at its end.
    pub alerts_per_run: usize,
}

impl Default for ReportLimits {
    fn default() -> Self {
        ReportLimits {
            runs: 300,
            events_per_run: 40,
            history: 200,
            objects: 20,
            admin_actions: 500,
            alerts_per_run: 20,
        }
    }
}

/// Whether the page can be trusted: `verify`'s answer, in short.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ReportVerification {
    /// Every record passed its checks.
    Verified {
        /// Records checked.
        records: Seq,
        /// Records the head note acknowledges as durable.
        acknowledged: Seq,
        /// A torn last record (a write cut by a crash, never acknowledged; not damage).
        torn_tail: Option<Seq>,
    },
    /// The log is damaged or could not be read: the page shows what precedes the damage.
    Damaged {
        /// What is wrong.
        error: String,
        /// The first bad record, when the damage names one.
        first_bad_seq: Option<Seq>,
        /// The last good record, when the damage names one: the page reads up to it.
        valid_up_to: Option<Seq>,
    },
}

impl ReportVerification {
    /// The verification of `result` (of [`crate::log::verify`]).
    pub fn of(result: &Result<VerifyReport, LogError>) -> Self {
        match result {
            Ok(report) => ReportVerification::Verified {
                records: report.records,
                acknowledged: report.acknowledged,
                torn_tail: report.torn_tail,
            },
            Err(error) => {
                let (first_bad_seq, valid_up_to) = match error {
                    LogError::Corrupt {
                        seq, valid_up_to, ..
                    } => (Some(*seq), Some(*valid_up_to)),
                    LogError::NewerFormat { seq, .. } => (Some(*seq), Some(seq.saturating_sub(1))),
                    LogError::Rule(violation) => {
                        (Some(violation.seq), Some(violation.seq.saturating_sub(1)))
                    }
                    LogError::MissingAcknowledged { from, .. } => {
                        (Some(*from), Some(from.saturating_sub(1)))
                    }
                    _ => (None, None),
                };
                ReportVerification::Damaged {
                    error: error.to_string(),
                    first_bad_seq,
                    valid_up_to,
                }
            }
        }
    }

    /// Whether the log is damaged.
    pub fn is_damaged(&self) -> bool {
        matches!(self, ReportVerification::Damaged { .. })
    }

    /// The last record that may be read: all of them, or those before the damage (none when the
    /// damage names no extent).
    pub fn readable_to(&self, last: Seq) -> Seq {
        match self {
            ReportVerification::Verified { .. } => last,
            ReportVerification::Damaged { valid_up_to, .. } => valid_up_to.unwrap_or(0).min(last),
        }
    }
}

/// One event of a run as the page lists it: the vocabulary of `events --json`.
#[derive(Clone, Debug, Serialize)]
pub struct ReportEvent {
    /// Its position in the log.
    pub seq: Seq,
    /// Its `events --json` type (`run-started`, `page-read`, …).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Who caused it.
    pub actor: String,
    /// One sentence about it.
    pub summary: String,
}

impl ReportEvent {
    fn new(seq: Seq, envelope: &Envelope) -> Self {
        ReportEvent {
            seq,
            kind: envelope.event.type_name(),
            at: rfc3339(envelope.at),
            actor: envelope.actor.0.clone(),
            summary: super::event_summary(&envelope.event),
        }
    }
}

/// One run of the range.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRun {
    /// The run as `runs --json` shows it at the range's end.
    pub run: RunView,
    /// When it started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// When it ended; `None` while open at the range's end.
    pub ended_ms: Option<i64>,
    /// Its first event in the range.
    pub first_seq: Seq,
    /// Its last event in the range.
    pub last_seq: Seq,
    /// Its events in the range.
    pub events_in_range: u64,
    /// Its first events (at most [`ReportLimits::events_per_run`]); empty for a bucketed run.
    pub events: Vec<ReportEvent>,
    /// Its events in the range not embedded.
    pub events_more: u64,
    /// The alert wall just after its last event in the range (at most
    /// [`ReportLimits::alerts_per_run`]), when it was read ([`ReportModel::wall_points`]).
    pub alerts_at_end: Vec<AlertView>,
    /// Alerts of that wall not listed.
    pub alerts_at_end_more: u64,
}

/// Older runs of one partition, aggregated (beyond [`ReportLimits::runs`]).
#[derive(Clone, Debug, Serialize)]
pub struct RunBucket {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// The first run of the bucket.
    pub first_run: u64,
    /// The last run of the bucket.
    pub last_run: u64,
    /// How many runs.
    pub runs: u64,
    /// Runs by status (`in-flight` for open ones).
    pub statuses: BTreeMap<&'static str, u64>,
    /// Errors of its runs.
    pub errors: u64,
    /// Warnings of its runs.
    pub warnings: u64,
    /// Its first event.
    pub first_seq: Seq,
    /// Its last event.
    pub last_seq: Seq,
    /// When its first run started.
    pub started_ms: i64,
    /// When its last run ended (or started).
    pub ended_ms: i64,
}

/// A watermark commit.
#[derive(Clone, Debug, Serialize)]
pub struct CommitView {
    /// The `watermark-committed` event.
    pub seq: Seq,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The run that committed it.
    pub run: u64,
    /// The watermark.
    pub watermark: String,
}

/// A delta import held back by object errors: its watermark did not move.
#[derive(Clone, Debug, Serialize)]
pub struct HoldView {
    /// The run's `run-ended` event.
    pub seq: Seq,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The run.
    pub run: u64,
    /// The watermark it stayed at.
    pub watermark: Option<String>,
    /// The objects holding it (their open import errors), the first of them.
    pub objects: Vec<String>,
    /// How many more objects hold it.
    pub objects_more: u64,
    /// Consecutive held delta imports, this one included.
    pub count: u32,
}

/// An interval of a partition's history: a stuck-watermark warning or a full import required.
#[derive(Clone, Debug, Serialize)]
pub struct WindowView {
    /// The event that opened it (set the flag).
    pub from_seq: Seq,
    /// When, milliseconds since the Unix epoch.
    pub from_ms: i64,
    /// The run that opened it, if a run did.
    pub set_by_run: Option<u64>,
    /// The administrator who opened it, if one did.
    pub set_by_actor: Option<String>,
    /// The administrator's reason.
    pub reason: Option<String>,
    /// The event that closed it; `None` while open at the range's end.
    pub to_seq: Option<Seq>,
    /// When it closed.
    pub to_ms: Option<i64>,
    /// The run that closed it, if a run did.
    pub cleared_by_run: Option<u64>,
}

/// One partition's watermark history in the range.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionHistory {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// Its committed watermark at the range's end.
    pub committed_watermark: Option<String>,
    /// The newest commits (at most [`ReportLimits::history`]).
    pub commits: Vec<CommitView>,
    /// Older commits in the range not listed.
    pub commits_more: u64,
    /// The newest held delta imports.
    pub holds: Vec<HoldView>,
    /// Older holds not listed.
    pub holds_more: u64,
    /// Stuck-watermark warnings (R6).
    pub stuck: Vec<WindowView>,
    /// Full import required (R5): from the run or administrator that set it to the run that
    /// cleared it.
    pub full_import_required: Vec<WindowView>,
}

/// An object's open error at the range's end.
#[derive(Clone, Debug, Serialize)]
pub struct OpenErrorView {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// The object.
    pub anchor: String,
    /// The latest error name.
    pub name: String,
    /// The latest description.
    pub description: String,
    /// `import` or `export`.
    pub direction: &'static str,
    /// The event that opened it.
    pub first_seq: Seq,
    /// When, milliseconds since the Unix epoch.
    pub first_ms: i64,
    /// Its latest occurrence.
    pub last_seq: Seq,
    /// Runs it failed in.
    pub failing_runs: u64,
    /// Whether it became permanent (R9).
    pub permanent: bool,
}

/// An administrator's action.
#[derive(Clone, Debug, Serialize)]
pub struct AdminActionView {
    /// Its event.
    pub seq: Seq,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Who.
    pub actor: String,
    /// The action (`enable`, `set-watermark`, `accept-present-records`, …).
    pub action: &'static str,
    /// Connector, if the action names one.
    pub connector: Option<String>,
    /// Partition, if the action names one.
    pub partition: Option<String>,
    /// The run the action names (`set-watermark`).
    pub run: Option<u64>,
    /// Why, as the administrator wrote it.
    pub reason: String,
}

/// The range the report covers, resolved to sequence numbers.
#[derive(Clone, Debug, Serialize)]
pub struct RangeView {
    /// The first event in the range.
    pub from: Seq,
    /// The last event in the range (the state the alert wall is read from).
    pub to: Seq,
    /// Events in the range.
    pub events: u64,
    /// The earliest time in the range, milliseconds since the Unix epoch.
    pub start_ms: Option<i64>,
    /// The latest time in the range.
    pub end_ms: Option<i64>,
}

/// Everything the report page shows.
#[derive(Clone, Debug, Serialize)]
pub struct ReportModel {
    /// The log, as the operator named it.
    pub log: String,
    /// Whether the log verified, and how far.
    pub verification: ReportVerification,
    /// The range shown.
    pub range: RangeView,
    /// The runs drawn one by one (the newest [`ReportLimits::runs`]), by id.
    pub runs: Vec<ReportRun>,
    /// The older runs, bucketed per partition.
    pub buckets: Vec<RunBucket>,
    /// Each partition's watermark history.
    pub partitions: Vec<PartitionHistory>,
    /// Objects with the longest-open errors at the range's end, oldest first.
    pub longest_open_errors: Vec<OpenErrorView>,
    /// Open object errors at the range's end, all of them.
    pub open_errors: u64,
    /// The alert wall at the range's end.
    pub alerts: Vec<AlertView>,
    /// Administrator actions in the range, the first ones.
    pub admin_actions: Vec<AdminActionView>,
    /// Administrator actions not listed.
    pub admin_actions_more: u64,
    /// The limits the model was built with.
    #[serde(skip)]
    pub limits: ReportLimits,
    /// Whether the drawn runs' walls were read ([`ReportModel::read_walls`]).
    #[serde(skip)]
    pub walls_read: bool,
}

impl ReportModel {
    /// Where the wall of each drawn run is read: just after its last event in the range.
    pub fn wall_points(&self) -> std::collections::BTreeSet<Seq> {
        self.runs.iter().map(|run| run.last_seq).collect()
    }

    /// Gives each drawn run whose last event in the range is `seq` the alert wall of `state`, the
    /// state just after it.
    pub fn read_walls(&mut self, seq: Seq, state: &State, catalog: &RemedyCatalog) {
        self.walls_read = true;
        let cap = self.limits.alerts_per_run;
        for run in self.runs.iter_mut().filter(|run| run.last_seq == seq) {
            let alerts = state.alerts();
            run.alerts_at_end_more = alerts.len().saturating_sub(cap) as u64;
            run.alerts_at_end = alerts
                .iter()
                .take(cap)
                .map(|alert| AlertView::new(alert, catalog))
                .collect();
        }
    }
}

/// What the walk keeps of one run.
struct Tally {
    first_seq: Seq,
    last_seq: Seq,
    events: u64,
}

/// What the walk keeps of one partition.
#[derive(Default)]
struct Track {
    commits: Vec<CommitView>,
    commits_more: u64,
    holds: Vec<HoldView>,
    holds_more: u64,
    stuck: Vec<WindowView>,
    stuck_open: bool,
    full_import_required: Vec<WindowView>,
    required_open: bool,
}

/// Pushes `item` onto `list`, keeping the newest `cap`; counts the ones dropped.
fn keep_newest<T>(list: &mut Vec<T>, more: &mut u64, cap: usize, item: T) {
    list.push(item);
    if list.len() > cap {
        list.remove(0);
        *more += 1;
    }
}

/// Builds a [`ReportModel`] from events fed in log order ([`ReportBuilder::event`], each with the
/// state just after it), then the state at the range's end ([`ReportBuilder::finish`]).
pub struct ReportBuilder {
    limits: ReportLimits,
    from: Seq,
    to: Seq,
    count: u64,
    first: Option<Seq>,
    last: Option<Seq>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    runs: BTreeMap<u64, Tally>,
    events: BTreeMap<u64, (Vec<ReportEvent>, u64)>,
    partitions: BTreeMap<(ConnectorName, PartitionName), Track>,
    admin: Vec<AdminActionView>,
    admin_more: u64,
}

impl ReportBuilder {
    /// A builder keeping the events from `from` to `to` (sequence numbers, inclusive).
    pub fn new(from: Seq, to: Seq, limits: ReportLimits) -> Self {
        ReportBuilder {
            limits,
            from,
            to,
            count: 0,
            first: None,
            last: None,
            start_ms: None,
            end_ms: None,
            runs: BTreeMap::new(),
            events: BTreeMap::new(),
            partitions: BTreeMap::new(),
            admin: Vec::new(),
            admin_more: 0,
        }
    }

    /// Takes the event at `seq`; `state` is the state just after it. Events outside the range
    /// are ignored.
    pub fn event(&mut self, seq: Seq, envelope: &Envelope, state: &State) {
        if seq < self.from || seq > self.to {
            return;
        }
        self.count += 1;
        self.first.get_or_insert(seq);
        self.last = Some(seq);
        let at = envelope.at.0;
        self.start_ms = Some(self.start_ms.map_or(at, |start| start.min(at)));
        self.end_ms = Some(self.end_ms.map_or(at, |end| end.max(at)));
        let event = &envelope.event;
        if let Some(run) = event.run() {
            let tally = self.runs.entry(run.0).or_insert(Tally {
                first_seq: seq,
                last_seq: seq,
                events: 0,
            });
            tally.last_seq = seq;
            tally.events += 1;
            let (events, more) = self.events.entry(run.0).or_default();
            if events.len() < self.limits.events_per_run {
                events.push(ReportEvent::new(seq, envelope));
            } else {
                *more += 1;
            }
            // Events are kept for the newest runs only: the older ones will be bucketed.
            while self.events.len() > self.limits.runs {
                self.events.pop_first();
            }
        }
        self.admin_action(seq, envelope);
        if let Event::WatermarkCommitted { run, watermark } = event {
            if let Some(record) = state.run(*run) {
                let key = (record.connector.clone(), record.partition.clone());
                let track = self.partitions.entry(key).or_default();
                keep_newest(
                    &mut track.commits,
                    &mut track.commits_more,
                    self.limits.history,
                    CommitView {
                        seq,
                        at_ms: at,
                        run: run.0,
                        watermark: super::watermark_text(watermark),
                    },
                );
            }
        }
        let Some((connector, partition)) = event_scope(event, state) else {
            return;
        };
        let names: Vec<PartitionName> = match partition {
            Some(partition) => vec![partition.clone()],
            None => state
                .connectors()
                .filter(|(name, _)| *name == connector)
                .flat_map(|(_, c)| c.partitions().map(|(name, _)| name.clone()))
                .collect(),
        };
        for name in names {
            if let Some(part) = state.partition(connector, &name) {
                let track = self
                    .partitions
                    .entry((connector.clone(), name))
                    .or_default();
                Self::track(track, part, seq, envelope, self.limits);
            }
        }
    }

    /// Follows one partition's flags across the event at `seq`.
    fn track(
        track: &mut Track,
        part: &PartitionState,
        seq: Seq,
        envelope: &Envelope,
        limits: ReportLimits,
    ) {
        let at = envelope.at.0;
        let run = envelope.event.run().map(|run| run.0);
        let administrator = run.is_none().then(|| envelope.actor.0.clone());
        let stuck = part.stuck();
        if stuck.warning && !track.stuck_open {
            let opened = stuck.opened.as_ref().or(stuck.last.as_ref());
            track.stuck.push(WindowView {
                from_seq: opened.map_or(seq, |o| o.seq),
                from_ms: opened.map_or(at, |o| o.at.0),
                set_by_run: opened.and_then(|o| o.run).map(|r| r.0),
                set_by_actor: None,
                reason: None,
                to_seq: None,
                to_ms: None,
                cleared_by_run: None,
            });
        } else if !stuck.warning && track.stuck_open {
            if let Some(window) = track.stuck.last_mut() {
                window.to_seq = Some(seq);
                window.to_ms = Some(at);
                window.cleared_by_run = run;
            }
        }
        track.stuck_open = stuck.warning;
        match (part.full_import_required(), track.required_open) {
            (Some(set), false) => {
                let by_administrator = part.full_import_required_by_administrator();
                track.full_import_required.push(WindowView {
                    from_seq: set.seq,
                    from_ms: set.at.0,
                    set_by_run: set.run.map(|r| r.0).filter(|r| *r != 0),
                    set_by_actor: by_administrator
                        .map(|mark| mark.actor.0.clone())
                        .or_else(|| set.run.is_none().then(|| administrator.clone()).flatten()),
                    reason: by_administrator.map(|mark| mark.reason.clone()),
                    to_seq: None,
                    to_ms: None,
                    cleared_by_run: None,
                });
            }
            (None, true) => {
                if let Some(window) = track.full_import_required.last_mut() {
                    window.to_seq = Some(seq);
                    window.to_ms = Some(at);
                    window.cleared_by_run = run;
                }
            }
            _ => {}
        }
        track.required_open = part.full_import_required().is_some();
        if let Event::RunEnded {
            run,
            committed_watermark,
            ..
        } = &envelope.event
        {
            let held = stuck.count > 0
                && stuck
                    .last
                    .as_ref()
                    .is_some_and(|last| last.seq == seq && last.run == Some(*run));
            if held {
                let holding: Vec<&Anchor> = part
                    .object_errors()
                    .iter()
                    .filter(|(_, error)| error.direction == ErrorDirection::Import)
                    .map(|(anchor, _)| anchor)
                    .collect();
                let shown = holding.len().min(20);
                keep_newest(
                    &mut track.holds,
                    &mut track.holds_more,
                    limits.history,
                    HoldView {
                        seq,
                        at_ms: at,
                        run: run.0,
                        watermark: watermark_json(committed_watermark.as_ref()),
                        objects: holding[..shown].iter().map(|a| a.to_string()).collect(),
                        objects_more: (holding.len() - shown) as u64,
                        count: stuck.count,
                    },
                );
            }
        }
    }

    /// Lists the event at `seq` if it is an administrator's action.
    fn admin_action(&mut self, seq: Seq, envelope: &Envelope) {
        let (action, connector, partition, run, reason) = match &envelope.event {
            Event::AdministratorActed {
                connector,
                partition,
                action,
                run,
                reason,
            } => (
                action.as_str(),
                Some(connector.to_string()),
                partition.as_ref().map(PartitionName::to_string),
                run.map(|r| r.0),
                reason.clone(),
            ),
            Event::AdminActionRecorded {
                connector,
                partition,
                action,
            } => (
                action.as_str(),
                Some(connector.to_string()),
                partition.as_ref().map(PartitionName::to_string),
                None,
                String::new(),
            ),
            Event::PresentRecordsAccepted { reason, .. } => {
                ("accept-present-records", None, None, None, reason.clone())
            }
            _ => return,
        };
        if self.admin.len() >= self.limits.admin_actions {
            self.admin_more += 1;
            return;
        }
        self.admin.push(AdminActionView {
            seq,
            at: rfc3339(envelope.at),
            actor: envelope.actor.0.clone(),
            action,
            connector,
            partition,
            run,
            reason,
        });
    }

    /// The model: `state` is the state at the range's end, `catalog` gives the alerts' remedies.
    pub fn finish(
        mut self,
        log: &str,
        state: &State,
        catalog: &RemedyCatalog,
        verification: ReportVerification,
    ) -> ReportModel {
        let limits = self.limits;
        let ids: Vec<u64> = self.runs.keys().copied().collect();
        let drawn_from = ids.len().saturating_sub(limits.runs);
        let mut runs = Vec::new();
        let mut buckets: BTreeMap<(String, String), RunBucket> = BTreeMap::new();
        let mut start_ms = self.start_ms;
        let mut end_ms = self.end_ms;
        for (index, id) in ids.iter().enumerate() {
            let Some(record) = state.run(RunId(*id)) else {
                continue;
            };
            let tally = &self.runs[id];
            let view = RunView::new(record);
            let started_ms = record.started.at.0;
            let ended_ms = record.ended.as_ref().map(|end| end.at.0);
            start_ms = Some(start_ms.map_or(started_ms, |s| s.min(started_ms)));
            if let Some(ended) = ended_ms {
                end_ms = Some(end_ms.map_or(ended, |e| e.max(ended)));
            }
            if index < drawn_from {
                let bucket = buckets
                    .entry((view.connector.clone(), view.partition.clone()))
                    .or_insert_with(|| RunBucket {
                        connector: view.connector.clone(),
                        partition: view.partition.clone(),
                        first_run: *id,
                        last_run: *id,
                        runs: 0,
                        statuses: BTreeMap::new(),
                        errors: 0,
                        warnings: 0,
                        first_seq: tally.first_seq,
                        last_seq: tally.last_seq,
                        started_ms,
                        ended_ms: ended_ms.unwrap_or(started_ms),
                    });
                bucket.last_run = *id;
                bucket.runs += 1;
                *bucket.statuses.entry(view.status_text()).or_default() += 1;
                bucket.errors += view.errors;
                bucket.warnings += view.warnings;
                bucket.last_seq = tally.last_seq;
                bucket.started_ms = bucket.started_ms.min(started_ms);
                bucket.ended_ms = bucket.ended_ms.max(ended_ms.unwrap_or(started_ms));
                continue;
            }
            let (events, more) = self.events.remove(id).unwrap_or_default();
            runs.push(ReportRun {
                run: view,
                started_ms,
                ended_ms,
                first_seq: tally.first_seq,
                last_seq: tally.last_seq,
                events_in_range: tally.events,
                events_more: more,
                events,
                alerts_at_end: Vec::new(),
                alerts_at_end_more: 0,
            });
        }
        let partitions = std::mem::take(&mut self.partitions)
            .into_iter()
            .map(|((connector, partition), track)| PartitionHistory {
                committed_watermark: state
                    .partition(&connector, &partition)
                    .and_then(|part| watermark_json(part.committed_watermark())),
                connector: connector.to_string(),
                partition: partition.to_string(),
                commits: track.commits,
                commits_more: track.commits_more,
                holds: track.holds,
                holds_more: track.holds_more,
                stuck: track.stuck,
                full_import_required: track.full_import_required,
            })
            .collect();
        let mut open: Vec<OpenErrorView> = state
            .connectors()
            .flat_map(|(connector, c)| {
                c.partitions().flat_map(move |(partition, part)| {
                    part.object_errors()
                        .iter()
                        .map(move |(anchor, error)| OpenErrorView {
                            connector: connector.to_string(),
                            partition: partition.to_string(),
                            anchor: anchor.to_string(),
                            name: error.name.clone(),
                            description: error.description.clone(),
                            direction: match error.direction {
                                ErrorDirection::Import => "import",
                                ErrorDirection::Export => "export",
                            },
                            first_seq: error.first.seq,
                            first_ms: error.first.at.0,
                            last_seq: error.last.seq,
                            failing_runs: error.failing_runs,
                            permanent: error.permanent,
                        })
                })
            })
            .collect();
        let open_errors = open.len() as u64;
        open.sort_by_key(|error| (error.first_seq, error.anchor.clone()));
        open.truncate(limits.objects);
        ReportModel {
            log: log.to_owned(),
            verification,
            range: RangeView {
                from: self.first.unwrap_or(self.from),
                to: self.last.unwrap_or(self.to),
                events: self.count,
                start_ms,
                end_ms,
            },
            runs,
            buckets: buckets.into_values().collect(),
            partitions,
            longest_open_errors: open,
            open_errors,
            alerts: state
                .alerts()
                .iter()
                .map(|alert| AlertView::new(alert, catalog))
                .collect(),
            admin_actions: self.admin,
            admin_actions_more: self.admin_more,
            limits,
            walls_read: false,
        }
    }
}

/// Resolves `--from`/`--to` to sequence numbers within `1..=last`: a time is the first event at
/// or after it (`from`), the last at or before it (`to`). Reads the log's times only when a
/// point is a time.
fn resolve<S: RecordStore + ?Sized>(
    store: &S,
    from: Option<Point>,
    to: Option<Point>,
    last: Seq,
) -> Result<(Seq, Seq), LogError> {
    let mut from_seq = match from {
        Some(Point::Seq(seq)) => seq.max(1),
        _ => 1,
    };
    let mut to_seq = match to {
        Some(Point::Seq(seq)) => seq.min(last),
        _ => last,
    };
    let from_time = match from {
        Some(Point::Time(at)) => Some(at),
        _ => None,
    };
    let to_time = match to {
        Some(Point::Time(at)) => Some(at),
        _ => None,
    };
    if (from_time.is_some() || to_time.is_some()) && last > 0 {
        let mut first_after: Option<Seq> = None;
        let mut last_before: Option<Seq> = None;
        replay(store, 1, Some(last), &mut |seq, envelope, _| {
            if from_time.is_some_and(|at| envelope.at >= at) && first_after.is_none() {
                first_after = Some(seq);
            }
            if to_time.is_some_and(|at| envelope.at <= at) {
                last_before = Some(seq);
            }
            ControlFlow::Continue(())
        })?;
        if from_time.is_some() {
            from_seq = from_seq.max(first_after.unwrap_or(last + 1));
        }
        if to_time.is_some() {
            to_seq = to_seq.min(last_before.unwrap_or(0));
        }
    }
    Ok((from_seq, to_seq))
}

/// The report of the log in `store` named `log`, over `from`..`to` (inclusive; the whole log when
/// `None`), read only up to what `verification` says is readable; `catalog` gives the alerts'
/// remedies. Reads the log through [`replay`]; writes nothing.
pub fn build<S: RecordStore + ?Sized>(
    store: &S,
    log: &str,
    from: Option<Point>,
    to: Option<Point>,
    catalog: &RemedyCatalog,
    verification: ReportVerification,
    limits: ReportLimits,
) -> Result<ReportModel, LogError> {
    let last = verification.readable_to(store.last_seq()?);
    let (from_seq, to_seq) = resolve(store, from, to, last)?;
    let mut builder = ReportBuilder::new(from_seq, to_seq, limits);
    let state = if to_seq == 0 || from_seq > to_seq {
        if to_seq == 0 {
            State::new()
        } else {
            crate::log::state_at(store, to_seq)?
        }
    } else {
        replay(
            store,
            from_seq,
            Some(to_seq),
            &mut |seq, envelope, state| {
                builder.event(seq, envelope, state);
                ControlFlow::Continue(())
            },
        )?
    };
    let mut model = builder.finish(log, &state, catalog, verification);
    // The wall at each drawn run's end: a second walk, reading at most `limits.runs` walls, so
    // the cost does not grow with the runs of the log.
    let points = model.wall_points();
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        replay(store, *first, Some(*last), &mut |seq, _, state| {
            if points.contains(&seq) {
                model.read_walls(seq, state, catalog);
            }
            ControlFlow::Continue(())
        })?;
    }
    model.walls_read = true;
    Ok(model)
}
