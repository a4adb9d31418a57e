//! The committed state: what the fold of the log says about every connector, partition and run.
//!
//! Every collection is ordered (`BTreeMap`, `BTreeSet`, `Vec`), so the same log always gives the
//! same state, byte for byte, whatever the platform or hash seed ([R14](crate::rules#r14)). Fields
//! are private to the
//! core: only the fold changes state, so every change has passed the rules.

use super::event::{RefusalCause, RunCounts};
use super::model::*;
use super::space::ObjectSpace;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// When and by what something happened: the log position, the time and the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Sequence number of the event.
    pub seq: Seq,
    /// Time stamped on the event.
    pub at: Timestamp,
    /// The run, when the event belongs to one.
    pub run: Option<RunId>,
}

/// An administrator's action as the state remembers it: when, who and why (SPEC §8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdministratorMark {
    /// The event of the action.
    pub at: Occurrence,
    /// Who acted (the envelope's actor).
    pub actor: Actor,
    /// Why, as the administrator wrote it; empty when none was given (format-1 actions).
    pub reason: String,
}

/// A partition's committed watermark set back by `set-watermark` (SPEC §8), until a run commits
/// one again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkSetBack {
    /// The administrator's action.
    pub by: AdministratorMark,
    /// The run whose committed watermark it is.
    pub run: RunId,
}

/// A watermark a run committed, and the event that did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkCommit {
    /// The watermark.
    pub watermark: Watermark,
    /// The `watermark-committed` event.
    pub at: Occurrence,
}

/// The whole folded state of one log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub(crate) last_seq: Seq,
    pub(crate) connectors: BTreeMap<ConnectorName, ConnectorState>,
    pub(crate) runs: Vec<RunRecord>,
    pub(crate) open_runs: BTreeMap<RunId, OpenRun>,
}

/// One connector and its partitions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorState {
    pub(crate) partitions: BTreeMap<PartitionName, PartitionState>,
    pub(crate) disabled: Option<Disablement>,
    pub(crate) suspended: Option<Suspension>,
    pub(crate) transient: BTreeMap<TransientFault, TransientFailures>,
    pub(crate) enabled_by: Option<AdministratorMark>,
    pub(crate) resumed_by: Option<AdministratorMark>,
}

/// A transient connector-scope code of [R9](crate::rules#r9)'s table: a fault that stops the run,
/// counts per
/// connector, and turns permanent (suspending the connector) when it repeats `retry_count` times.
///
/// Declared in the order of the codes' names, so maps keyed by it iterate as the names sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TransientFault {
    /// `connector-exception`.
    ConnectorException,
    /// `dropped-connection`.
    DroppedConnection,
    /// `failed-connection`.
    FailedConnection,
    /// `server-down`.
    ServerDown,
}

impl TransientFault {
    /// The fault's transient code, when [R9](crate::rules#r9)'s table makes it one.
    pub fn of(kind: FaultKind) -> Option<Self> {
        match kind {
            FaultKind::ConnectorException => Some(TransientFault::ConnectorException),
            FaultKind::DroppedConnection => Some(TransientFault::DroppedConnection),
            FaultKind::FailedConnection => Some(TransientFault::FailedConnection),
            FaultKind::ServerDown => Some(TransientFault::ServerDown),
            FaultKind::BadCredentials
            | FaultKind::OauthTokenExpired
            | FaultKind::WatermarkExpired => None,
        }
    }

    /// The fault.
    pub fn fault(self) -> FaultKind {
        match self {
            TransientFault::ConnectorException => FaultKind::ConnectorException,
            TransientFault::DroppedConnection => FaultKind::DroppedConnection,
            TransientFault::FailedConnection => FaultKind::FailedConnection,
            TransientFault::ServerDown => FaultKind::ServerDown,
        }
    }

    /// The code: the fault's SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        self.fault().as_str()
    }
}

/// A partition-scope code that says the delta change log cannot be used ([R5](crate::rules#r5),
/// [R9](crate::rules#r9): permanent at
/// once): its alert stays open until a clean full import.
///
/// Declared in the order of the codes' names, so maps keyed by it iterate as the names sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ChangeLogFault {
    /// The fatal import error `import-parse-error`.
    ImportParseError,
    /// The fatal import error `import-read-error`.
    ImportReadError,
    /// The fault `watermark-expired`.
    WatermarkExpired,
}

impl ChangeLogFault {
    /// The code of a fatal import error.
    pub fn of_fatal(kind: FatalImportErrorKind) -> Self {
        match kind {
            FatalImportErrorKind::ImportParseError => ChangeLogFault::ImportParseError,
            FatalImportErrorKind::ImportReadError => ChangeLogFault::ImportReadError,
        }
    }

    /// The code: the SPEC §7 name of the error or fault.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeLogFault::ImportParseError => FatalImportErrorKind::ImportParseError.as_str(),
            ChangeLogFault::ImportReadError => FatalImportErrorKind::ImportReadError.as_str(),
            ChangeLogFault::WatermarkExpired => FaultKind::WatermarkExpired.as_str(),
        }
    }
}

/// Whether runs may start on a connector or partition (SPEC §7 `health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Runs start.
    Enabled,
    /// A credentials fault disabled the connector ([R8](crate::rules#r8)).
    Disabled,
    /// A permanent error suspended the scope ([R9](crate::rules#r9)).
    Suspended,
}

impl Health {
    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Enabled => "enabled",
            Health::Disabled => "disabled",
            Health::Suspended => "suspended",
        }
    }
}

/// A connector disabled by a credentials fault, until `credentials-updated` then `enable`
/// ([R8](crate::rules#r8)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disablement {
    /// `bad-credentials` or `oauth-token-expired`.
    pub code: FaultKind,
    /// The connector's message.
    pub message: String,
    /// The fault that disabled it.
    pub since: Occurrence,
    /// The latest such fault (a disabled connector may fail again before it is re-enabled).
    pub last: Occurrence,
    /// Whether `credentials-updated` was recorded since.
    pub credentials_updated: bool,
}

/// A connector suspended by a permanent error, until `resume` ([R9](crate::rules#r9)).
///
/// Only connectors are suspended: [R9](crate::rules#r9)'s table has no transient partition-scope
/// code (the
/// partition-scope codes are permanent at once and set `full-import-required` or suspend
/// nothing), so a partition is suspended exactly when its connector is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// The transient code that reached `retry_count`.
    pub code: TransientFault,
    /// The connector's last message for it.
    pub message: String,
    /// The first of the consecutive failures.
    pub first: Occurrence,
    /// The failure that made it permanent.
    pub since: Occurrence,
}

/// Consecutive runs of a connector that ended with one transient code ([R9](crate::rules#r9)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransientFailures {
    /// How many in a row.
    pub count: u32,
    /// The first of them.
    pub first: Occurrence,
    /// The latest.
    pub last: Occurrence,
    /// The connector's latest message.
    pub message: String,
}

/// The stuck-watermark count of a partition ([R6](crate::rules#r6)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckWatermark {
    /// Consecutive delta imports held back by object errors.
    pub count: u32,
    /// The first of them.
    pub first: Option<Occurrence>,
    /// The latest of them.
    pub last: Option<Occurrence>,
    /// Whether the warning is open (`count` reached `stuck_after`).
    pub warning: bool,
    /// The end of the run that opened the warning (the one whose count reached `stuck_after`),
    /// while it is open: when the alert opened, which `first` (the first run counted) is not.
    pub opened: Option<Occurrence>,
}

/// A run limit that stopped the last run of a partition to reach one ([R11](crate::rules#r11)),
/// open until a later
/// run on the partition runs to its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitAlert {
    /// The limit, count and maximum.
    pub limit: LimitRecord,
    /// The run's end.
    pub since: Occurrence,
}

/// One partition: watermark, connector space, pending exports and open object errors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub(crate) committed_watermark: Option<Watermark>,
    pub(crate) committed_by: Option<Occurrence>,
    pub(crate) full_import_required: Option<Occurrence>,
    pub(crate) full_import_required_by_administrator: Option<AdministratorMark>,
    pub(crate) watermark_set_back: Option<WatermarkSetBack>,
    pub(crate) objects: ObjectSpace,
    pub(crate) live_objects: u64,
    pub(crate) exports: ExportQueue,
    pub(crate) object_errors: BTreeMap<Anchor, ObjectErrorRecord>,
    pub(crate) held_obsoletion: Option<HeldObsoletion>,
    pub(crate) open_run: Option<RunId>,
    pub(crate) change_log_faults: BTreeMap<ChangeLogFault, Occurrence>,
    pub(crate) stuck: StuckWatermark,
    pub(crate) limit_alerts: BTreeMap<LimitKind, LimitAlert>,
}

/// An obsoletion the deletion guard held ([R4](crate::rules#r4)), waiting for `approve-obsoletion`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldObsoletion {
    /// The full import that would have applied it.
    pub run: RunId,
    /// The objects it would mark obsolete; an object staged again since leaves the set.
    pub anchors: BTreeSet<Anchor>,
}

/// Whether an object's error came from reading it or from writing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorDirection {
    /// An import (discovery) error.
    Import,
    /// An export error.
    Export,
}

/// An open error on one object ([R7](crate::rules#r7)): it closes when the object is read or
/// exported cleanly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectErrorRecord {
    /// The latest error name.
    pub name: String,
    /// The latest description.
    pub description: String,
    /// Import or export.
    pub direction: ErrorDirection,
    /// The first occurrence since the error opened.
    pub first: Occurrence,
    /// The latest occurrence.
    pub last: Occurrence,
    /// How many distinct runs it has failed in.
    pub failing_runs: u64,
    /// How many consecutive failing runs had the latest error name ([R9](crate::rules#r9) counts by
    /// name).
    pub same_name_runs: u64,
    /// Whether it became permanent (`same_name_runs` reached `retry_count`, [R9](crate::rules#r9)).
    pub permanent: bool,
}

/// The position of a pending export: ordered by `major` (the order first queued), then `minor`
/// (negative for parents placed ahead of the object that needs them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueuePosition {
    /// The order in which the change was first queued.
    pub major: u64,
    /// 0, or below 0 for parents placed ahead of the change at `major`.
    pub minor: i64,
}

/// A change waiting to be exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingExport {
    /// The change as it will be sent.
    pub change: ExportChange,
    /// Its place in the queue.
    pub position: QueuePosition,
    /// When it was (re)queued: an export run sends only what was queued before it started.
    pub ticket: u64,
    /// A parent that must be exported first (`provisioning-parent`).
    pub waits_for: Option<Anchor>,
}

/// The partition's pending exports, one per anchor, in queue order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportQueue {
    pub(crate) order: BTreeMap<QueuePosition, Anchor>,
    pub(crate) entries: BTreeMap<Anchor, PendingExport>,
    /// Parent → the objects waiting for it, so a parent's success releases them.
    pub(crate) waiting: BTreeMap<Anchor, BTreeSet<Anchor>>,
    pub(crate) next_ticket: u64,
}

impl ExportQueue {
    /// The pending changes in the order they will be sent.
    pub fn in_order(&self) -> impl Iterator<Item = &PendingExport> + '_ {
        self.order
            .values()
            .filter_map(move |anchor| self.entries.get(anchor))
    }

    /// The pending change of an object.
    pub fn get(&self, anchor: &Anchor) -> Option<&PendingExport> {
        self.entries.get(anchor)
    }

    /// How many changes are pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first `count` changes a run may send now, in queue order.
    pub(crate) fn eligible(
        &self,
        cutoff: u64,
        sent: &BTreeSet<Anchor>,
        count: usize,
    ) -> Vec<Anchor> {
        self.in_order()
            .filter(|entry| self.is_eligible(entry, cutoff, sent))
            .take(count)
            .map(|entry| entry.change.anchor.clone())
            .collect()
    }

    /// The ticket the next queued change gets.
    pub fn next_ticket(&self) -> u64 {
        self.next_ticket
    }

    /// Queues a change, merging it into the anchor's pending change if there is one (it keeps its
    /// place). See docs/SEMANTICS.md, "Exports".
    pub(crate) fn queue(&mut self, change: ExportChange) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if let Some(entry) = self.entries.get_mut(&change.anchor) {
            let merged = &mut entry.change;
            match (merged.kind, change.kind) {
                (_, ExportChangeKind::Delete) | (_, ExportChangeKind::Add) => {
                    *merged = change;
                }
                (ExportChangeKind::Add, _) => {
                    merged.attributes.overlay(&change.attributes);
                    merged.references.overlay(&change.references);
                }
                (ExportChangeKind::Delete, _) => {
                    // An update or reference change for an object being deleted replaces the
                    // deletion: the engine wants the object to exist.
                    *merged = change;
                }
                (ExportChangeKind::Update | ExportChangeKind::References, _) => {
                    merged.kind = if change.kind == ExportChangeKind::References
                        && merged.kind == ExportChangeKind::References
                    {
                        ExportChangeKind::References
                    } else {
                        ExportChangeKind::Update
                    };
                    merged.attributes.overlay(&change.attributes);
                    merged.references.overlay(&change.references);
                }
            }
            entry.ticket = ticket;
            return;
        }
        let position = QueuePosition {
            major: ticket,
            minor: 0,
        };
        self.order.insert(position, change.anchor.clone());
        self.entries.insert(
            change.anchor.clone(),
            PendingExport {
                change,
                position,
                ticket,
                waits_for: None,
            },
        );
    }

    /// Removes a change exported with success; objects waiting for it as their parent go free.
    pub(crate) fn remove(&mut self, anchor: &Anchor) {
        if let Some(entry) = self.entries.remove(anchor) {
            self.order.remove(&entry.position);
            if let Some(parent) = entry.waits_for {
                self.stop_waiting(&parent, anchor);
            }
        }
        for child in self.waiting.remove(anchor).unwrap_or_default() {
            if let Some(entry) = self.entries.get_mut(&child) {
                entry.waits_for = None;
            }
        }
    }

    fn stop_waiting(&mut self, parent: &Anchor, child: &Anchor) {
        if let Some(children) = self.waiting.get_mut(parent) {
            children.remove(child);
            if children.is_empty() {
                self.waiting.remove(parent);
            }
        }
    }

    /// `convert-update-to-add`: the change becomes an add with every known attribute.
    pub(crate) fn convert_to_add(&mut self, anchor: &Anchor, staged: Option<Attributes>) {
        if let Some(entry) = self.entries.get_mut(anchor) {
            let mut attributes = staged.unwrap_or_default();
            attributes.overlay(&entry.change.attributes);
            entry.change.attributes = attributes;
            entry.change.kind = ExportChangeKind::Add;
        }
    }

    /// `retry-reference-attribute`: only the references remain to be written.
    pub(crate) fn keep_references(&mut self, anchor: &Anchor) {
        if let Some(entry) = self.entries.get_mut(anchor) {
            entry.change.kind = ExportChangeKind::References;
            entry.change.attributes = Attributes::new();
        }
    }

    /// `provisioning-parent`: an add of `parent` goes immediately ahead of `anchor`, which waits.
    pub(crate) fn place_parent(&mut self, anchor: &Anchor, parent: &Anchor) {
        let Some(child_position) = self.entries.get(anchor).map(|entry| entry.position) else {
            return;
        };
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        // Ahead of the child and of any parent already placed ahead of it.
        let lowest_minor = self
            .order
            .range(
                QueuePosition {
                    major: child_position.major,
                    minor: i64::MIN,
                }..=child_position,
            )
            .next()
            .map_or(child_position.minor, |(position, _)| position.minor);
        let position = QueuePosition {
            major: child_position.major,
            minor: lowest_minor - 1,
        };
        let previous = self.entries.remove(parent);
        if let Some(previous) = &previous {
            self.order.remove(&previous.position);
        }
        let mut change = previous.map(|entry| entry.change).unwrap_or(ExportChange {
            anchor: parent.clone(),
            kind: ExportChangeKind::Add,
            attributes: Attributes::new(),
            references: Attributes::new(),
        });
        change.kind = ExportChangeKind::Add;
        self.order.insert(position, parent.clone());
        self.entries.insert(
            parent.clone(),
            PendingExport {
                change,
                position,
                ticket,
                waits_for: None,
            },
        );
        let previous_parent = self
            .entries
            .get_mut(anchor)
            .and_then(|entry| entry.waits_for.replace(parent.clone()));
        if let Some(previous_parent) = previous_parent {
            self.stop_waiting(&previous_parent, anchor);
        }
        self.waiting
            .entry(parent.clone())
            .or_default()
            .insert(anchor.clone());
    }

    /// Whether a change may be sent by a run that started when the queue's ticket was `cutoff` and
    /// has already sent `sent`: queued before the run, not sent yet, not waiting for a pending parent.
    pub(crate) fn is_eligible(
        &self,
        entry: &PendingExport,
        cutoff: u64,
        sent: &BTreeSet<Anchor>,
    ) -> bool {
        entry.ticket < cutoff
            && !sent.contains(&entry.change.anchor)
            && entry
                .waits_for
                .as_ref()
                .is_none_or(|parent| !self.entries.contains_key(parent))
    }
}

/// A run as the history shows it (SPEC §7 `runs[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: RunId,
    /// Connector.
    pub connector: ConnectorName,
    /// Partition.
    pub partition: PartitionName,
    /// Step.
    pub kind: RunKind,
    /// The watermark a delta import started from.
    pub start_watermark: Option<Watermark>,
    /// `None` while the run is open.
    pub status: Option<RunStatus>,
    /// The partition's committed watermark after the run.
    pub committed_watermark: Option<Watermark>,
    /// What happened to obsoletion.
    pub obsoletion: Obsoletion,
    /// Why obsoletion was skipped.
    pub skip_reason: Option<SkipReason>,
    /// Counts.
    pub counts: RunCounts,
    /// The event that started (or refused) it.
    pub started: Occurrence,
    /// The event that ended it.
    pub ended: Option<Occurrence>,
    /// Why it did not start.
    pub refusal: Option<RefusalCause>,
    /// The fault that stopped it, with the connector's own message ([R8](crate::rules#r8)).
    pub fault: Option<Fault>,
    /// The run limit that stopped it ([R11](crate::rules#r11)).
    pub limit: Option<LimitRecord>,
    /// The watermark the run itself committed, if it committed one: what `set-watermark` may set
    /// a partition back to (SPEC §8).
    pub commit: Option<WatermarkCommit>,
}

/// A run limit that was reached ([R11](crate::rules#r11)): which, the count and the limit in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRecord {
    /// Which limit.
    pub kind: LimitKind,
    /// The count that exceeded it.
    pub count: u64,
    /// The limit in force.
    pub maximum: u64,
}

impl LimitRecord {
    /// The operator's message: what was exceeded, by how much, and what to do.
    pub fn message(&self) -> String {
        // "1 error", "2 errors": the core names no outer module, so it counts for itself.
        let count = |singular: &str| {
            format!(
                "{} {singular}{}",
                self.count,
                if self.count == 1 { "" } else { "s" }
            )
        };
        match self.kind {
            LimitKind::Snapshot => format!(
                "a limit on the number of snapshot records is exceeded ({}/{}): the partition would hold {}; adjust the synchronization filters to reduce the number of synchronized records",
                self.maximum,
                self.count,
                count("object")
            ),
            LimitKind::Errors => format!(
                "the run had {}, more than max_errors = {}: fix the failing objects, or raise the limit",
                count("error"),
                self.maximum
            ),
            LimitKind::Warnings => format!(
                "the run had {}, more than max_warnings = {}: look at the export actions repeating, or raise the limit",
                count("warning"),
                self.maximum
            ),
        }
    }
}

/// Why a run stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopCause {
    /// `custom-stop-run` on an object (or a fatal import error in a full import,
    /// [R2](crate::rules#r2)).
    ObjectStop,
    /// More errors than `max_errors`.
    ErrorLimit,
    /// More warnings than `max_warnings`.
    WarningLimit,
    /// A fatal import error ([R5](crate::rules#r5)). In a full import it acts as `custom-stop-run`
    /// ([R2](crate::rules#r2)) and reports
    /// `stopped-object-error`, but it still outranks the run limits on its page.
    FatalImport {
        /// Whether the run was a delta import.
        delta: bool,
    },
    /// The snapshot record limit ([R11](crate::rules#r11)).
    SnapshotLimit,
    /// A fault ([R8](crate::rules#r8)).
    Fault(FaultKind),
    /// Found in flight when the log was reopened ([R13](crate::rules#r13)).
    Interrupted,
}

impl StopCause {
    /// When several causes stop a run on the same page, the highest wins.
    pub fn precedence(self) -> u8 {
        match self {
            StopCause::ObjectStop => 1,
            StopCause::ErrorLimit | StopCause::WarningLimit => 2,
            StopCause::FatalImport { .. } => 3,
            StopCause::SnapshotLimit => 4,
            StopCause::Fault(_) => 5,
            StopCause::Interrupted => 6,
        }
    }

    /// The status of a run that this stopped.
    pub fn run_status(self) -> RunStatus {
        match self {
            StopCause::ObjectStop => RunStatus::StoppedObjectError,
            StopCause::ErrorLimit | StopCause::WarningLimit => RunStatus::StoppedErrorLimit,
            StopCause::FatalImport { delta: true } => RunStatus::StoppedDeltaLogBroken,
            StopCause::FatalImport { delta: false } => RunStatus::StoppedObjectError,
            StopCause::SnapshotLimit => RunStatus::StoppedSnapshotLimit,
            StopCause::Fault(kind) => kind.run_status(),
            StopCause::Interrupted => RunStatus::Interrupted,
        }
    }
}

/// Where an open run is: still reading, or closing (commit and obsoletion recorded, end to come).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunPhase {
    /// Pages or export batches may still come.
    Working,
    /// A commit or an obsoletion decision was recorded: only the end may follow.
    Closing,
}

/// The bookkeeping of a run in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRun {
    pub(crate) connector: ConnectorName,
    pub(crate) partition: PartitionName,
    pub(crate) kind: RunKind,
    pub(crate) settings: Settings,
    pub(crate) phase: RunPhase,
    pub(crate) pages_read: u64,
    pub(crate) page_errors: u64,
    pub(crate) first_error_page: Option<u64>,
    pub(crate) clean_proposal: Option<Watermark>,
    pub(crate) stop: Option<(StopCause, u64)>,
    pub(crate) fault: Option<Fault>,
    pub(crate) limit: Option<LimitRecord>,
    pub(crate) counts: RunCounts,
    pub(crate) page_error_anchors: BTreeSet<Anchor>,
    pub(crate) committed: bool,
    pub(crate) obsoletion: Option<Obsoletion>,
    pub(crate) skip_reason: Option<SkipReason>,
    pub(crate) live_at_start: u64,
    pub(crate) committed_at_start: Option<Watermark>,
    pub(crate) export_cutoff: u64,
    pub(crate) sent: BTreeSet<Anchor>,
    pub(crate) awaiting: BTreeSet<Anchor>,
}

impl OpenRun {
    /// The connector.
    pub fn connector(&self) -> &ConnectorName {
        &self.connector
    }

    /// The partition.
    pub fn partition(&self) -> &PartitionName {
        &self.partition
    }

    /// The step.
    pub fn kind(&self) -> RunKind {
        self.kind
    }

    /// The limits in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Pages read so far.
    pub fn pages_read(&self) -> u64 {
        self.pages_read
    }

    /// The first page that had an error, a fault or a limit ([R1](crate::rules#r1)'s page k).
    pub fn first_error_page(&self) -> Option<u64> {
        self.first_error_page
    }

    /// The watermark this run would commit now: the last proposal before its first error.
    pub fn clean_proposal(&self) -> Option<&Watermark> {
        self.clean_proposal.as_ref()
    }

    /// Why and on which page the run stopped, if it did.
    pub fn stop(&self) -> Option<(StopCause, u64)> {
        self.stop
    }

    /// Whether the run has stopped and only its closing events may follow.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_some()
    }

    /// Counts so far.
    pub fn counts(&self) -> RunCounts {
        self.counts
    }

    /// Exported objects whose result has not been recorded yet.
    pub fn awaiting(&self) -> &BTreeSet<Anchor> {
        &self.awaiting
    }

    /// Whether a full import has been clean so far: no error, no stop ([R2](crate::rules#r2),
    /// [R3](crate::rules#r3)).
    pub fn is_clean(&self) -> bool {
        self.counts.errors == 0 && self.stop.is_none()
    }

    /// The status the run ends with, from what happened in it (SPEC §6).
    pub fn expected_status(&self) -> RunStatus {
        if let Some((cause, _)) = self.stop {
            return cause.run_status();
        }
        if self.obsoletion == Some(Obsoletion::Held) {
            return RunStatus::StoppedDeletionThresholdExceeded;
        }
        if self.counts.errors > 0 {
            return match self.kind {
                RunKind::Export => RunStatus::CompletedExportErrors,
                RunKind::FullImport | RunKind::DeltaImport => RunStatus::CompletedDiscoveryErrors,
            };
        }
        if self.counts.warnings > 0 {
            return RunStatus::CompletedWarnings;
        }
        RunStatus::Success
    }

    /// The watermark the run must commit at its end, if any ([R1](crate::rules#r1),
    /// [R2](crate::rules#r2)).
    pub fn watermark_to_commit(&self) -> Option<&Watermark> {
        match self.kind {
            RunKind::DeltaImport => self.clean_proposal.as_ref(),
            RunKind::FullImport if self.is_clean() => self.clean_proposal.as_ref(),
            RunKind::FullImport | RunKind::Export => None,
        }
    }
}

impl State {
    /// An empty state: the fold of an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sequence number of the last event folded in (0 for none).
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The id the next run will get.
    pub fn next_run_id(&self) -> RunId {
        RunId(self.runs.len() as u64 + 1)
    }

    /// Every run in id order, open ones included (their status is `None`).
    pub fn runs(&self) -> &[RunRecord] {
        &self.runs
    }

    /// One run of the history.
    pub fn run(&self, id: RunId) -> Option<&RunRecord> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.runs.get(index)
    }

    /// A run in flight.
    pub fn open_run(&self, id: RunId) -> Option<&OpenRun> {
        self.open_runs.get(&id)
    }

    /// The runs in flight, by id.
    pub fn open_runs(&self) -> impl Iterator<Item = (RunId, &OpenRun)> + '_ {
        self.open_runs.iter().map(|(id, run)| (*id, run))
    }

    /// Every connector, by name.
    pub fn connectors(&self) -> impl Iterator<Item = (&ConnectorName, &ConnectorState)> + '_ {
        self.connectors.iter()
    }

    /// One partition, if any event named it.
    pub fn partition(
        &self,
        connector: &ConnectorName,
        partition: &PartitionName,
    ) -> Option<&PartitionState> {
        self.connectors.get(connector)?.partitions.get(partition)
    }

    /// Why a run of `kind` may not start on this partition now, if it may not: the connector is
    /// disabled ([R8](crate::rules#r8)), the connector is suspended ([R9](crate::rules#r9)), or a
    /// delta import while a full import is
    /// required ([R5](crate::rules#r5)), in that order.
    pub fn refusal_for(
        &self,
        connector: &ConnectorName,
        partition: &PartitionName,
        kind: RunKind,
    ) -> Option<(RunStatus, RefusalCause)> {
        let connector_state = self.connectors.get(connector);
        let part = connector_state.and_then(|c| c.partitions.get(partition));
        let run_of = |occurrence: &Occurrence| occurrence.run.unwrap_or(RunId(0));
        if let Some(disabled) = connector_state.and_then(|c| c.disabled.as_ref()) {
            let cause = RefusalCause::Disabled {
                set_by: run_of(&disabled.since),
                code: disabled.code,
            };
            return Some((RunStatus::NoStartDisabled, cause));
        }
        if let Some(suspension) = connector_state.and_then(|c| c.suspended.as_ref()) {
            let cause = RefusalCause::Suspended {
                set_by: run_of(&suspension.since),
                code: suspension.code.as_str().to_owned(),
            };
            return Some((RunStatus::NoStartSuspended, cause));
        }
        if kind == RunKind::DeltaImport {
            if let Some(flag) = part.and_then(|p| p.full_import_required.as_ref()) {
                // An administrator's flag has no run: run 0 stands for it (its occurrence has no
                // run), and the partition's state names the administrator.
                let cause = RefusalCause::FullImportRequired {
                    set_by: run_of(flag),
                };
                return Some((RunStatus::NoStartFullImportRequired, cause));
            }
        }
        None
    }

    /// The health of a connector's partition as SPEC §7 reports it: the connector's (only
    /// connectors are disabled or suspended, [R8](crate::rules#r8), [R9](crate::rules#r9)).
    pub fn health(&self, connector: &ConnectorName, _partition: &PartitionName) -> Health {
        let connector_state = self.connectors.get(connector);
        if connector_state.is_some_and(|c| c.disabled.is_some()) {
            Health::Disabled
        } else if connector_state.is_some_and(|c| c.suspended.is_some()) {
            Health::Suspended
        } else {
            Health::Enabled
        }
    }

    pub(crate) fn partition_mut(
        &mut self,
        connector: &ConnectorName,
        partition: &PartitionName,
    ) -> &mut PartitionState {
        self.connectors
            .entry(connector.clone())
            .or_default()
            .partitions
            .entry(partition.clone())
            .or_default()
    }
}

impl ConnectorState {
    /// Why the connector is disabled, while it is ([R8](crate::rules#r8)).
    pub fn disabled(&self) -> Option<&Disablement> {
        self.disabled.as_ref()
    }

    /// Why the connector is suspended, while it is ([R9](crate::rules#r9)).
    pub fn suspended(&self) -> Option<&Suspension> {
        self.suspended.as_ref()
    }

    /// The latest `enable` an administrator recorded, if any.
    pub fn enabled_by(&self) -> Option<&AdministratorMark> {
        self.enabled_by.as_ref()
    }

    /// The latest `resume` of the connector as a whole an administrator recorded, if any.
    pub fn resumed_by(&self) -> Option<&AdministratorMark> {
        self.resumed_by.as_ref()
    }

    /// Every partition, by name.
    pub fn partitions(&self) -> impl Iterator<Item = (&PartitionName, &PartitionState)> + '_ {
        self.partitions.iter()
    }
}

impl PartitionState {
    /// The watermark the next delta import starts from.
    pub fn committed_watermark(&self) -> Option<&Watermark> {
        self.committed_watermark.as_ref()
    }

    /// The event that committed it.
    pub fn committed_by(&self) -> Option<&Occurrence> {
        self.committed_by.as_ref()
    }

    /// The event that set `full-import-required`, while it is set.
    pub fn full_import_required(&self) -> Option<&Occurrence> {
        self.full_import_required.as_ref()
    }

    /// The administrator who set `full-import-required` (`require-full-import`), while it is set
    /// by one; `None` when a run set it ([R5](crate::rules#r5)) or it is not set.
    pub fn full_import_required_by_administrator(&self) -> Option<&AdministratorMark> {
        self.full_import_required_by_administrator.as_ref()
    }

    /// The administrator's `set-watermark` that put the committed watermark where it is, until a
    /// run commits one again.
    pub fn watermark_set_back(&self) -> Option<&WatermarkSetBack> {
        self.watermark_set_back.as_ref()
    }

    /// The stuck-watermark count ([R6](crate::rules#r6)).
    pub fn stuck(&self) -> &StuckWatermark {
        &self.stuck
    }

    /// The connector space, by anchor, obsolete objects included.
    pub fn objects(&self) -> &ObjectSpace {
        &self.objects
    }

    /// How many objects of the connector space are not obsolete.
    pub fn live_objects(&self) -> u64 {
        self.live_objects
    }

    /// The pending exports.
    pub fn exports(&self) -> &ExportQueue {
        &self.exports
    }

    /// Open object errors, by anchor.
    pub fn object_errors(&self) -> &BTreeMap<Anchor, ObjectErrorRecord> {
        &self.object_errors
    }

    /// The run in flight on this partition, if any.
    pub fn open_run(&self) -> Option<RunId> {
        self.open_run
    }

    /// The obsoletion waiting for approval, if any ([R4](crate::rules#r4)).
    pub fn held_obsoletion(&self) -> Option<&HeldObsoletion> {
        self.held_obsoletion.as_ref()
    }

    /// Stages one imported change (see docs/SEMANTICS.md, "Staging"); a clean read closes the
    /// object's open error and takes it out of a held obsoletion.
    pub(crate) fn stage(&mut self, run: RunId, change: &ObjectChange) {
        self.object_errors.remove(&change.anchor);
        if let Some(held) = &mut self.held_obsoletion {
            held.anchors.remove(&change.anchor);
        }
        match change.kind {
            ChangeKind::Add | ChangeKind::Update => {
                let merge = change.kind == ChangeKind::Update;
                let anchor = change.anchor.as_str();
                if !self
                    .objects
                    .stage_live(anchor, run, &change.attributes, merge)
                {
                    self.live_objects += 1;
                }
            }
            ChangeKind::Delete => {
                if self.objects.stage_deleted(change.anchor.as_str(), run) == Some(true) {
                    self.live_objects -= 1;
                }
            }
        }
    }

    /// Marks objects obsolete (obsoletion applied or approved); their open errors close.
    pub(crate) fn obsolete(&mut self, anchors: &[Anchor]) {
        for anchor in anchors {
            if self.objects.mark_obsolete(anchor.as_str()) {
                self.live_objects -= 1;
            }
            self.object_errors.remove(anchor);
        }
    }

    /// How many live objects there would be after staging `changes`, when that is more than
    /// `limit` ([R11](crate::rules#r11)'s snapshot count); `None` when the limit holds. A page that
    /// cannot reach the
    /// limit even if every change added an object is not counted one by one.
    pub fn live_objects_over(&self, changes: &[ObjectChange], limit: u64) -> Option<u64> {
        if self.live_objects.saturating_add(changes.len() as u64) <= limit {
            return None;
        }
        let mut live_now: BTreeMap<&Anchor, bool> = BTreeMap::new();
        let mut count = self.live_objects;
        for change in changes {
            let was_live = match live_now.get(&change.anchor) {
                Some(live) => *live,
                None => self
                    .objects
                    .get(&change.anchor)
                    .is_some_and(|object| !object.obsolete),
            };
            let is_live = match change.kind {
                ChangeKind::Add | ChangeKind::Update => true,
                ChangeKind::Delete => false,
            };
            match (was_live, is_live) {
                (false, true) => count += 1,
                (true, false) => count -= 1,
                _ => {}
            }
            live_now.insert(&change.anchor, is_live);
        }
        (count > limit).then_some(count)
    }

    /// The live objects full import `run` did not stage: what its obsoletion marks, sorted.
    pub fn unseen_live_objects(&self, run: RunId) -> Vec<Anchor> {
        let mut unseen: Vec<Anchor> = self
            .objects
            .iter_unordered()
            .filter(|(_, object)| !object.obsolete && object.staged_by != run)
            .map(|(anchor, _)| Anchor::from(anchor))
            .collect();
        unseen.sort_unstable();
        unseen
    }
}
