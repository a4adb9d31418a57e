//! The event vocabulary: facts in the past tense, appended to the log and folded into state.
//!
//! Every event travels in an [`Envelope`] that carries the format version, the time and the actor,
//! all supplied by the caller (the core has no clock). The order of the events of one page is part of
//! the contract, because the fold checks it: the page's errors come first (`DiscoveryErrorRecorded`,
//! `FatalImportErrorRecorded`), then `PageRead` with the staged changes, then any `LimitReached`.
//! A run closes with an optional `WatermarkCommitted`, the obsoletion decision of a full import, and
//! `RunEnded`.

use super::model::*;
use serde::{Deserialize, Serialize};

/// The newest event format this build reads and writes. A log holding a higher version was
/// written by a newer syncfold and is refused, never misread.
///
/// Format 2 added the log's own events ([`Event::TornRecordDiscarded`],
/// [`Event::PresentRecordsAccepted`]). An envelope carries the lowest version that can encode its
/// event ([`Event::format_version`]), so a log without the new events stays readable by builds
/// that know only format 1, and one with them is refused by those builds with an upgrade message
/// instead of being misread.
///
/// Format 3 added the administrator's actions with a reason ([`Event::AdministratorActed`]: the
/// actions of SPEC §8, `set-watermark` and `require-full-import`, and the four of §7 recorded by
/// `syncfold admin`).
pub const EVENT_FORMAT_VERSION: u16 = 3;

/// One event with the facts every event carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Event format version ([`EVENT_FORMAT_VERSION`] when written by this build).
    pub version: u16,
    /// When it happened, as the shell's clock said.
    pub at: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// What happened.
    pub event: Event,
}

impl Envelope {
    /// Wraps an event in the lowest format version that has it.
    pub fn new(at: Timestamp, actor: Actor, event: Event) -> Self {
        Envelope {
            version: event.format_version(),
            at,
            actor,
            event,
        }
    }
}

/// Why a run did not start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalCause {
    /// A delta import while the partition needs a full import ([R5](crate::rules#r5)), with the run
    /// that said so.
    FullImportRequired {
        /// The run whose fatal import error or `watermark-expired` fault set the flag; run 0 when
        /// an administrator set it (`require-full-import`, format 3), whom the partition's state
        /// names ([`PartitionState::full_import_required_by_administrator`](crate::core::PartitionState::full_import_required_by_administrator)).
        set_by: RunId,
    },
    /// The connector is disabled after a credentials fault ([R8](crate::rules#r8)).
    Disabled {
        /// The run whose fault disabled it.
        set_by: RunId,
        /// `bad-credentials` or `oauth-token-expired`.
        code: FaultKind,
    },
    /// The connector or the partition is suspended after a permanent error ([R9](crate::rules#r9)).
    Suspended {
        /// The run whose failure made the error permanent.
        set_by: RunId,
        /// The error's code.
        code: String,
    },
}

/// Counts a run ends with; repeated on `RunEnded` so a reader of the log sees them without folding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Pages read.
    pub pages: u64,
    /// Object changes staged (imports).
    pub staged: u64,
    /// Export results received (exports).
    pub exported: u64,
    /// Object-level and fatal import errors.
    pub errors: u64,
    /// Warnings (export actions).
    pub warnings: u64,
    /// Objects marked obsolete at the end of a full import.
    pub obsoleted: u64,
}

/// Something that happened to a run, a partition or the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// A run started against a partition.
    RunStarted {
        /// The new run's id: the next one in order.
        run: RunId,
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
        /// Step.
        kind: RunKind,
        /// The committed watermark a delta import starts from; `None` for full imports and exports.
        start_watermark: Option<Watermark>,
        /// Limits in force.
        settings: Settings,
    },
    /// A run was asked for and did not start; it still takes a run id.
    RunRefused {
        /// The refused run's id.
        run: RunId,
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
        /// Step that was asked for.
        kind: RunKind,
        /// The `no-start-*` status.
        status: RunStatus,
        /// Why.
        cause: RefusalCause,
    },
    /// An object-level import error on a page of an import ([R7](crate::rules#r7)).
    DiscoveryErrorRecorded {
        /// Run.
        run: RunId,
        /// Page number, from 1.
        page: u64,
        /// The error as the connector reported it.
        error: DiscoveryError,
    },
    /// A fatal import error on a page: the delta change log is broken ([R5](crate::rules#r5)).
    FatalImportErrorRecorded {
        /// Run.
        run: RunId,
        /// Page number, from 1.
        page: u64,
        /// The error as the connector reported it.
        error: FatalImportError,
    },
    /// A page was read: its clean changes are staged and its watermark is proposed.
    PageRead {
        /// Run.
        run: RunId,
        /// Page number, from 1.
        page: u64,
        /// The changes staged, in order (the page's objects without those that had an error).
        changes: Vec<ObjectChange>,
        /// The watermark after this page.
        proposed_watermark: Option<Watermark>,
    },
    /// The connector failed as a whole ([R8](crate::rules#r8)): the run stops.
    FaultRecorded {
        /// Run.
        run: RunId,
        /// The page it failed instead of returning (imports), or `None` (exports).
        page: Option<u64>,
        /// The fault.
        fault: Fault,
    },
    /// A run limit stopped the run ([R11](crate::rules#r11)).
    LimitReached {
        /// Run.
        run: RunId,
        /// The page on which the limit was reached (0 for exports).
        page: u64,
        /// Which limit.
        limit: LimitKind,
        /// The count that exceeded it.
        count: u64,
        /// The limit in force.
        maximum: u64,
    },
    /// The run committed a watermark: the next delta import starts there ([R1](crate::rules#r1),
    /// [R2](crate::rules#r2)).
    WatermarkCommitted {
        /// Run.
        run: RunId,
        /// The committed watermark.
        watermark: Watermark,
    },
    /// Objects not seen by a clean full import were marked obsolete ([R3](crate::rules#r3)).
    ObsoletionApplied {
        /// Run.
        run: RunId,
        /// The objects marked obsolete, sorted.
        anchors: Vec<Anchor>,
    },
    /// A full import's obsoletion was skipped ([R3](crate::rules#r3)).
    ObsoletionSkipped {
        /// Run.
        run: RunId,
        /// Why.
        reason: SkipReason,
    },
    /// A clean full import's obsoletion was held by the deletion guard ([R4](crate::rules#r4)).
    ObsoletionHeld {
        /// Run.
        run: RunId,
        /// The objects it would obsolete, sorted.
        anchors: Vec<Anchor>,
    },
    /// A change was queued for export on a partition.
    ExportQueued {
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
        /// The change.
        change: ExportChange,
    },
    /// An export run sent these pending changes to the connector, in this order.
    ExportBatchSent {
        /// Run.
        run: RunId,
        /// The objects sent.
        anchors: Vec<Anchor>,
    },
    /// The connector's result for one exported object (section 4).
    ExportResultRecorded {
        /// Run.
        run: RunId,
        /// The object.
        anchor: Anchor,
        /// The result.
        outcome: ExportOutcome,
    },
    /// The log was reopened with this run still open ([R13](crate::rules#r13)): it is closed as
    /// `interrupted`.
    RunInterrupted {
        /// Run.
        run: RunId,
    },
    /// A run ended.
    RunEnded {
        /// Run.
        run: RunId,
        /// Its status (section 6).
        status: RunStatus,
        /// Its counts.
        counts: RunCounts,
        /// The partition's committed watermark after the run.
        committed_watermark: Option<Watermark>,
    },
    /// An administrator acted on a connector or one of its partitions.
    AdminActionRecorded {
        /// Connector.
        connector: ConnectorName,
        /// The partition, or `None` for the connector and all its partitions.
        partition: Option<PartitionName>,
        /// The action.
        action: AdminAction,
    },
    /// A writer reopened the log and found its last record torn by a crash: a write past the
    /// head note, never acknowledged as durable, so nobody was told of it (or, when an
    /// administrator accepted the records present of a log whose note was lost, a bad last record
    /// that is not among them). The writer removed it and records that here, at the same
    /// sequence number, so the log says what recovery did.
    TornRecordDiscarded {
        /// The sequence number of the torn record (this event takes its place).
        seq: Seq,
        /// How many bytes of it were found.
        length: u64,
    },
    /// An administrator accepted the records present in a log whose head note was lost, so the
    /// log can be written again: records that were acknowledged after the last present one, if
    /// any, cannot be recovered from this copy. The actor and the time are on the envelope.
    PresentRecordsAccepted {
        /// The last record present (and accepted); this event follows it.
        through: Seq,
        /// Why the administrator accepted them (for instance, no backup holds more).
        reason: String,
    },
    /// An administrator acted (`syncfold admin`, SPEC §8), with a reason; the actor and the time
    /// are on the envelope. Format 3; [`Event::AdminActionRecorded`] of format 1 keeps folding as
    /// before.
    AdministratorActed {
        /// Connector.
        connector: ConnectorName,
        /// The partition, or `None` for the connector and all its partitions.
        partition: Option<PartitionName>,
        /// The action.
        action: OperatorAction,
        /// The run the action names (`set-watermark`: the run whose committed watermark is set
        /// back); not the run the event belongs to, which is none.
        run: Option<RunId>,
        /// Why, as the administrator wrote it (empty when none was given).
        reason: String,
    },
}

impl Event {
    /// The event's type as `events --json` names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run-started",
            Event::RunRefused { .. } => "run-refused",
            Event::DiscoveryErrorRecorded { .. } => "discovery-error",
            Event::FatalImportErrorRecorded { .. } => "fatal-import-error",
            Event::PageRead { .. } => "page-read",
            Event::FaultRecorded { .. } => "fault",
            Event::LimitReached { .. } => "limit-reached",
            Event::WatermarkCommitted { .. } => "watermark-committed",
            Event::ObsoletionApplied { .. } => "obsoletion-applied",
            Event::ObsoletionSkipped { .. } => "obsoletion-skipped",
            Event::ObsoletionHeld { .. } => "obsoletion-held",
            Event::ExportQueued { .. } => "export-queued",
            Event::ExportBatchSent { .. } => "export-batch-sent",
            Event::ExportResultRecorded { .. } => "export-result",
            Event::RunInterrupted { .. } => "run-interrupted",
            Event::RunEnded { .. } => "run-ended",
            Event::AdminActionRecorded { .. } => "admin-action",
            Event::TornRecordDiscarded { .. } => "torn-record-discarded",
            Event::PresentRecordsAccepted { .. } => "present-records-accepted",
            Event::AdministratorActed { .. } => "admin-action",
        }
    }

    /// The lowest event format that can hold this event (see [`EVENT_FORMAT_VERSION`]).
    pub fn format_version(&self) -> u16 {
        match self {
            Event::AdministratorActed { .. } => 3,
            Event::TornRecordDiscarded { .. } | Event::PresentRecordsAccepted { .. } => 2,
            _ => 1,
        }
    }

    /// The run this event belongs to, if any.
    pub fn run(&self) -> Option<RunId> {
        match self {
            Event::RunStarted { run, .. }
            | Event::RunRefused { run, .. }
            | Event::DiscoveryErrorRecorded { run, .. }
            | Event::FatalImportErrorRecorded { run, .. }
            | Event::PageRead { run, .. }
            | Event::FaultRecorded { run, .. }
            | Event::LimitReached { run, .. }
            | Event::WatermarkCommitted { run, .. }
            | Event::ObsoletionApplied { run, .. }
            | Event::ObsoletionSkipped { run, .. }
            | Event::ObsoletionHeld { run, .. }
            | Event::ExportBatchSent { run, .. }
            | Event::ExportResultRecorded { run, .. }
            | Event::RunInterrupted { run }
            | Event::RunEnded { run, .. } => Some(*run),
            Event::ExportQueued { .. }
            | Event::AdminActionRecorded { .. }
            | Event::AdministratorActed { .. }
            | Event::TornRecordDiscarded { .. }
            | Event::PresentRecordsAccepted { .. } => None,
        }
    }

    /// Whether the log must be durable right after this event before anyone is told
    /// ([R13](crate::rules#r13)): a
    /// watermark commit, a run's end or refusal, an administrator's action. Pages and the other
    /// events are group-committed by the next such point.
    pub fn is_commit_point(&self) -> bool {
        matches!(
            self,
            Event::WatermarkCommitted { .. }
                | Event::RunEnded { .. }
                | Event::RunRefused { .. }
                | Event::AdminActionRecorded { .. }
                | Event::AdministratorActed { .. }
                | Event::TornRecordDiscarded { .. }
                | Event::PresentRecordsAccepted { .. }
        )
    }
}
