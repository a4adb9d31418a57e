//! The refusal conditions: one variant per condition under which the fold refuses an event
//! ([`EventRefusal`]) or the decider refuses a command ([`CommandRefusal`]), each with the typed
//! data that names it (runs, pages, anchors, watermarks, counts). A test or an embedder matches on
//! the condition instead of reading a message. The rule follows from the variant (`rule()`), so a
//! condition cannot be filed under the wrong rule, and the message is rendered from it
//! (`Display`), so the text is the same wherever it is shown.
//!
//! The two enums are separate because the two sides refuse different things: the fold checks
//! facts that may be forged (formats, orders, counts, statuses, obsoletion, export order), the
//! decider checks requests against what is open. Only "never started" and "already ended" occur
//! on both sides, and the administrator's refusals ([`AdminRefusal`]), which each side wraps.
//!
//! ```
//! use syncfold::core::*;
//!
//! let mut state = State::new();
//! let page = Event::PageRead {
//!     run: RunId(1),
//!     page: 1,
//!     changes: Vec::new(),
//!     proposed_watermark: None,
//! };
//! let envelope = Envelope::new(Timestamp(0), Actor::from_name("doc"), page);
//! let Err(violation) = state.apply(1, &envelope) else {
//!     panic!("a page of a run that never started folds");
//! };
//! assert_eq!(*violation.refusal, EventRefusal::RunNeverStarted { run: RunId(1) });
//! assert_eq!(violation.rule, Rule::R15);
//! assert_eq!(
//!     violation.to_string(),
//!     "event 1 breaks the rule that an event must fit an open run, in order: run 1 was never started"
//! );
//! ```

use super::event::{RefusalCause, RunCounts};
use super::model::*;
use super::rule::Rule;
use super::state::StopCause;
use std::fmt;

/// Why the fold refused an event: one variant per condition, with the data that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventRefusal {
    /// [R12](crate::rules#r12): the envelope's format is newer than this build reads (or 0).
    UnknownEventFormat {
        /// The envelope's format version.
        version: u16,
        /// The newest format this build reads.
        newest: u16,
    },
    /// [R12](crate::rules#r12): the envelope's format is older than the format that introduced its
    /// event.
    EventFormatTooOld {
        /// The event's type name.
        event: &'static str,
        /// The envelope's format version.
        version: u16,
        /// The format the event needs.
        needed: u16,
    },
    /// [R15](crate::rules#r15): the event's sequence number does not follow the last folded one.
    OutOfOrder {
        /// The sequence number expected.
        expected: Seq,
        /// The one given.
        got: Seq,
    },
    /// [R15](crate::rules#r15): `torn-record-discarded` names another record than the one whose
    /// place it takes.
    TornRecordMisplaced {
        /// The event's own sequence number.
        at: Seq,
        /// The record it names.
        names: Seq,
    },
    /// [R15](crate::rules#r15): `present-records-accepted` does not directly follow the records it
    /// accepts.
    AcceptanceMisplaced {
        /// The last record accepted.
        through: Seq,
        /// The event's own sequence number.
        at: Seq,
    },
    /// [R15](crate::rules#r15): the run was never started.
    RunNeverStarted {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): the run has already ended.
    RunAlreadyEnded {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): the run recorded its commit or obsoletion: only its end may follow.
    RunClosing {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): an import event for an export run.
    NotAnImport {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): an export event for an import run.
    NotAnExport {
        /// The run.
        run: RunId,
        /// Its kind.
        kind: RunKind,
    },
    /// [R15](crate::rules#r15): an event about another page than the one being read.
    PageOutOfOrder {
        /// The run.
        run: RunId,
        /// The page the event names.
        page: u64,
        /// The page being read.
        expected: u64,
    },
    /// [R15](crate::rules#r15): a page after the page the run stopped on (or after a stop that ends
    /// reading).
    PageAfterStop {
        /// The run.
        run: RunId,
        /// The page it stopped on.
        stop_page: u64,
        /// The page the event names.
        page: u64,
    },
    /// [R11](crate::rules#r11): the run went on after its errors exceeded `max_errors`.
    ErrorsOverLimit {
        /// The run.
        run: RunId,
        /// Its errors before the work in progress.
        errors: u64,
        /// The limit in force.
        max_errors: u64,
    },
    /// [R11](crate::rules#r11): the run went on after its warnings exceeded `max_warnings`.
    WarningsOverLimit {
        /// The run.
        run: RunId,
        /// Its warnings.
        warnings: u64,
        /// The limit in force.
        max_warnings: u64,
    },
    /// [R15](crate::rules#r15): a run started on a partition that has a run open.
    RunStillOpen {
        /// The run that started.
        run: RunId,
        /// The run still open.
        open: RunId,
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
    },
    /// [R5](crate::rules#r5), [R8](crate::rules#r8) or [R9](crate::rules#r9) (after the cause): a
    /// run started that the state says must not start.
    StartedWhileRefused {
        /// The run.
        run: RunId,
        /// Its kind.
        kind: RunKind,
        /// The `no-start-*` status it must end with.
        status: RunStatus,
        /// Why.
        cause: RefusalCause,
    },
    /// [R1](crate::rules#r1): a delta import starts from another watermark than the committed one.
    StartWatermarkMismatch {
        /// The run.
        run: RunId,
        /// The watermark it starts from.
        start: Option<Watermark>,
        /// The committed watermark.
        committed: Option<Watermark>,
    },
    /// [R15](crate::rules#r15): a full import or export names a start watermark.
    StartWatermarkForbidden {
        /// The run.
        run: RunId,
        /// Its kind.
        kind: RunKind,
    },
    /// [R15](crate::rules#r15): run ids go in order.
    RunIdOutOfOrder {
        /// The id expected.
        expected: RunId,
        /// The id given.
        got: RunId,
    },
    /// [R5](crate::rules#r5), [R8](crate::rules#r8) or [R9](crate::rules#r9) (after the recorded
    /// cause): a run refused otherwise than the state demands.
    RefusalNotDemanded(Box<RefusalMismatch>),
    /// [R1](crate::rules#r1): a page stages an object that had an error on that page.
    StagesErroredObject {
        /// The run.
        run: RunId,
        /// The page.
        page: u64,
        /// The object.
        anchor: Anchor,
    },
    /// [R11](crate::rules#r11): a page would take the partition over its snapshot limit.
    PageOverSnapshotLimit {
        /// The run.
        run: RunId,
        /// The page.
        page: u64,
        /// Live objects after the page.
        live_after: u64,
        /// The limit in force.
        snapshot_limit: u64,
    },
    /// [R15](crate::rules#r15): a fault after the run stopped.
    FaultAfterStop {
        /// The run.
        run: RunId,
        /// The page it stopped on.
        stop_page: u64,
        /// Why it stopped.
        cause: StopCause,
    },
    /// [R15](crate::rules#r15): a fault in an import that names no page.
    ImportFaultWithoutPage {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): a fault in an export that names a page.
    ExportFaultWithPage {
        /// The run.
        run: RunId,
    },
    /// [R11](crate::rules#r11): the snapshot limit reached by an export.
    SnapshotLimitOnExport {
        /// The run.
        run: RunId,
    },
    /// [R11](crate::rules#r11): a limit reached with other numbers than the run's, or not exceeded.
    LimitMismatch {
        /// The run.
        run: RunId,
        /// Which limit.
        limit: LimitKind,
        /// The count the event gives.
        count: u64,
        /// The maximum the event gives.
        maximum: u64,
        /// The run's own count.
        actual: u64,
        /// The limit in force.
        configured: u64,
    },
    /// [R15](crate::rules#r15): a limit reached on another page than the current one.
    LimitPageMismatch {
        /// The run.
        run: RunId,
        /// The page the event names.
        page: u64,
        /// The current page.
        expected: u64,
    },
    /// [R15](crate::rules#r15): a limit reached after the run stopped (other than refining a stop
    /// on the same page).
    LimitAfterStop {
        /// The run.
        run: RunId,
        /// The page it stopped on.
        stop_page: u64,
    },
    /// [R15](crate::rules#r15): an export commits a watermark.
    ExportCommits {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): a run commits twice.
    AlreadyCommitted {
        /// The run.
        run: RunId,
    },
    /// [R13](crate::rules#r13): an interrupted run commits: its proposals are discarded.
    CommitAfterInterruption {
        /// The run.
        run: RunId,
    },
    /// [R2](crate::rules#r2): a full import with errors or a stop commits.
    UncleanFullImportCommits {
        /// The run.
        run: RunId,
        /// Its errors.
        errors: u64,
        /// Whether it stopped.
        stopped: bool,
    },
    /// [R1](crate::rules#r1): a run commits another watermark than the last one before its first
    /// error.
    CommitPastError {
        /// The run.
        run: RunId,
        /// The watermark committed.
        watermark: Watermark,
        /// [R1](crate::rules#r1)'s page k.
        first_error_page: Option<u64>,
        /// The last watermark before it.
        clean_proposal: Option<Watermark>,
    },
    /// [R3](crate::rules#r3): obsoletion decided by a run that is not a full import.
    ObsoletionByNonFullImport {
        /// The run.
        run: RunId,
        /// Its kind.
        kind: RunKind,
    },
    /// [R15](crate::rules#r15): obsoletion decided twice.
    ObsoletionAlreadyDecided {
        /// The run.
        run: RunId,
        /// The first decision.
        previous: Obsoletion,
    },
    /// [R15](crate::rules#r15): a run's partition is missing from the state.
    RunWithoutPartition {
        /// The run.
        run: RunId,
    },
    /// [R3](crate::rules#r3): obsoletion applied or held after errors or a stop.
    ObsoletionAfterErrors {
        /// The run.
        run: RunId,
        /// Its errors.
        errors: u64,
        /// Whether it stopped.
        stopped: bool,
    },
    /// [R3](crate::rules#r3): obsoletion of other objects than the live ones the run did not see.
    ObsoletionMismatch {
        /// The run.
        run: RunId,
        /// How many the event obsoletes.
        obsoleted: usize,
        /// How many live objects were not seen.
        unseen: usize,
    },
    /// [R4](crate::rules#r4): obsoletion applied over the deletion threshold, or held under it.
    DeletionThresholdMisapplied {
        /// The run.
        run: RunId,
        /// Whether the count exceeds the threshold (so it was wrongly applied).
        exceeds: bool,
        /// Objects obsoleted or held.
        count: usize,
        /// The threshold in force.
        threshold: DeletionThreshold,
        /// Live objects when the run started.
        live_before: u64,
    },
    /// [R3](crate::rules#r3): obsoletion skipped by a clean full import.
    ObsoletionSkippedWhenClean {
        /// The run.
        run: RunId,
    },
    /// [R3](crate::rules#r3): obsoletion skipped for the wrong reason.
    SkipReasonMismatch {
        /// The run.
        run: RunId,
        /// The reason recorded.
        reason: Option<SkipReason>,
        /// The reason the run demands.
        expected: SkipReason,
    },
    /// [R3](crate::rules#r3): `not-applicable` recorded as a decision.
    NotApplicableDecision,
    /// SPEC §4: a batch after the export stopped.
    BatchAfterStop {
        /// The run.
        run: RunId,
    },
    /// SPEC §4: a batch before the previous one's results.
    BatchBeforeResults {
        /// The run.
        run: RunId,
        /// Results still awaited.
        awaiting: usize,
    },
    /// SPEC §4: an empty batch.
    EmptyBatch {
        /// The run.
        run: RunId,
    },
    /// SPEC §4: a batch other than the next eligible changes in queue order.
    BatchOutOfOrder {
        /// The run.
        run: RunId,
        /// What the event sends.
        sent: Vec<Anchor>,
        /// The next eligible changes.
        eligible: Vec<Anchor>,
    },
    /// SPEC §4: a result for an object not awaited.
    ResultNotAwaited {
        /// The run.
        run: RunId,
        /// The object.
        anchor: Anchor,
    },
    /// SPEC §4: a result after a fault or interruption stopped the export.
    ResultAfterStop {
        /// The run.
        run: RunId,
        /// Why it stopped.
        cause: StopCause,
        /// The object.
        anchor: Anchor,
    },
    /// SPEC §4: `provisioning-parent` naming the object itself.
    OwnParent {
        /// The run.
        run: RunId,
        /// The object.
        anchor: Anchor,
    },
    /// [R3](crate::rules#r3): a full import ended without its obsoletion decision.
    EndWithoutObsoletion {
        /// The run.
        run: RunId,
    },
    /// [R1](crate::rules#r1) ([R2](crate::rules#r2) for a full import): a run ended without
    /// committing what it must.
    EndWithoutCommit {
        /// The run.
        run: RunId,
        /// Its kind.
        kind: RunKind,
        /// The watermark it must commit.
        watermark: Watermark,
    },
    /// SPEC §4: an unstopped export ended with results awaited.
    EndWithoutResults {
        /// The run.
        run: RunId,
        /// The objects awaited.
        awaiting: Vec<Anchor>,
    },
    /// SPEC §4: an unstopped export ended with an eligible change unsent.
    EndWithUnsent {
        /// The run.
        run: RunId,
        /// The first such change.
        anchor: Anchor,
    },
    /// SPEC §6: a run ends with another status than what happened in it.
    StatusMismatch {
        /// The run.
        run: RunId,
        /// The status recorded.
        status: RunStatus,
        /// The status the fold expects.
        expected: RunStatus,
    },
    /// SPEC §6: a run ends with other counts than the fold's.
    CountsMismatch {
        /// The run.
        run: RunId,
        /// The counts recorded (boxed, as the folded ones, so that every refusal stays small).
        counts: Box<RunCounts>,
        /// The counts folded.
        folded: Box<RunCounts>,
    },
    /// [R1](crate::rules#r1): a run ends reporting another watermark than the committed one.
    EndWatermarkMismatch {
        /// The run.
        run: RunId,
        /// The watermark reported.
        reported: Option<Watermark>,
        /// The committed watermark.
        committed: Option<Watermark>,
    },
    /// SPEC §8: an administrator's action the state does not allow (as the decider refuses it).
    Administrator(AdminRefusal),
    /// [R15](crate::rules#r15): a run checked open is missing (a bug in the fold, reported rather
    /// than panicking).
    RunNotOpen {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): a run has no history record (a bug in the fold, reported rather
    /// than panicking).
    RunWithoutRecord {
        /// The run.
        run: RunId,
    },
}

/// A run refused otherwise than the state demands: the data of
/// [`EventRefusal::RefusalNotDemanded`], boxed there so that every refusal stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalMismatch {
    /// The run.
    pub run: RunId,
    /// Connector.
    pub connector: ConnectorName,
    /// Partition.
    pub partition: PartitionName,
    /// The status recorded.
    pub status: RunStatus,
    /// The cause recorded.
    pub cause: RefusalCause,
    /// What the state demands: a refusal, or `None` for "it starts".
    pub demanded: Option<(RunStatus, RefusalCause)>,
    /// The run that set the partition's full-import flag, if it is set.
    pub flag_set_by: Option<RunId>,
}

fn refusal_rule(cause: &RefusalCause) -> Rule {
    match cause {
        RefusalCause::FullImportRequired { .. } => Rule::R5,
        RefusalCause::Disabled { .. } => Rule::R8,
        RefusalCause::Suspended { .. } => Rule::R9,
    }
}

impl EventRefusal {
    /// The rule the condition breaks.
    pub fn rule(&self) -> Rule {
        use EventRefusal::*;
        match self {
            UnknownEventFormat { .. } | EventFormatTooOld { .. } => Rule::R12,
            StartWatermarkMismatch { .. }
            | StagesErroredObject { .. }
            | CommitPastError { .. }
            | EndWatermarkMismatch { .. } => Rule::R1,
            UncleanFullImportCommits { .. } => Rule::R2,
            EndWithoutCommit { kind, .. } => {
                if *kind == RunKind::FullImport {
                    Rule::R2
                } else {
                    Rule::R1
                }
            }
            ObsoletionByNonFullImport { .. }
            | ObsoletionAfterErrors { .. }
            | ObsoletionMismatch { .. }
            | ObsoletionSkippedWhenClean { .. }
            | SkipReasonMismatch { .. }
            | NotApplicableDecision
            | EndWithoutObsoletion { .. } => Rule::R3,
            DeletionThresholdMisapplied { .. } => Rule::R4,
            StartedWhileRefused { cause, .. } => refusal_rule(cause),
            RefusalNotDemanded(mismatch) => refusal_rule(&mismatch.cause),
            ErrorsOverLimit { .. }
            | WarningsOverLimit { .. }
            | PageOverSnapshotLimit { .. }
            | SnapshotLimitOnExport { .. }
            | LimitMismatch { .. } => Rule::R11,
            CommitAfterInterruption { .. } => Rule::R13,
            Administrator(refusal) => refusal.rule(),
            OutOfOrder { .. }
            | TornRecordMisplaced { .. }
            | AcceptanceMisplaced { .. }
            | RunNeverStarted { .. }
            | RunAlreadyEnded { .. }
            | RunClosing { .. }
            | NotAnImport { .. }
            | NotAnExport { .. }
            | PageOutOfOrder { .. }
            | PageAfterStop { .. }
            | RunStillOpen { .. }
            | StartWatermarkForbidden { .. }
            | RunIdOutOfOrder { .. }
            | FaultAfterStop { .. }
            | ImportFaultWithoutPage { .. }
            | ExportFaultWithPage { .. }
            | LimitPageMismatch { .. }
            | LimitAfterStop { .. }
            | ExportCommits { .. }
            | AlreadyCommitted { .. }
            | ObsoletionAlreadyDecided { .. }
            | RunWithoutPartition { .. }
            | RunNotOpen { .. }
            | RunWithoutRecord { .. } => Rule::R15,
            BatchAfterStop { .. }
            | BatchBeforeResults { .. }
            | EmptyBatch { .. }
            | BatchOutOfOrder { .. }
            | ResultNotAwaited { .. }
            | ResultAfterStop { .. }
            | OwnParent { .. }
            | EndWithoutResults { .. }
            | EndWithUnsent { .. } => Rule::Exports,
            StatusMismatch { .. } | CountsMismatch { .. } => Rule::Statuses,
        }
    }
}

/// A watermark as messages show it: its text, or `none`.
pub(crate) fn show(watermark: Option<&Watermark>) -> String {
    watermark.map_or_else(|| "none".to_owned(), Watermark::display_text)
}

/// At most five anchors, then how many more.
fn list(anchors: &[Anchor]) -> String {
    let shown: Vec<&str> = anchors.iter().take(5).map(Anchor::as_str).collect();
    let more = anchors.len().saturating_sub(5);
    if more > 0 {
        format!("[{}, and {more} more]", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}

fn describe_refusal(cause: &RefusalCause) -> String {
    match cause {
        RefusalCause::FullImportRequired { set_by } if set_by.0 == 0 => {
            "a full import required by an administrator".to_owned()
        }
        RefusalCause::FullImportRequired { set_by } => {
            format!("a full import required by run {set_by}")
        }
        RefusalCause::Disabled { set_by, code } => {
            format!("disabled by {} in run {set_by}", code.as_str())
        }
        RefusalCause::Suspended { set_by, code } => {
            format!("suspended by {code} in run {set_by}")
        }
    }
}

fn and_stopped(stopped: bool) -> &'static str {
    if stopped {
        " and stopped"
    } else {
        ""
    }
}

impl fmt::Display for EventRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EventRefusal::*;
        match self {
            UnknownEventFormat { version, newest } => write!(
                f,
                "event format {version} is not known to this build (it reads up to {newest}): written by a newer syncfold, upgrade"
            ),
            EventFormatTooOld {
                event,
                version,
                needed,
            } => write!(
                f,
                "a {event} event in an envelope of format {version}: it needs format {needed}"
            ),
            OutOfOrder { expected, got } => {
                write!(f, "out of order: expected event {expected}, got {got}")
            }
            TornRecordMisplaced { at, names } => write!(
                f,
                "a torn record is recorded as discarded at {at}, but names record {names}"
            ),
            AcceptanceMisplaced { through, at } => write!(
                f,
                "records 1 to {through} are accepted by event {at}, which must follow them directly"
            ),
            RunNeverStarted { run } => write!(f, "run {run} was never started"),
            RunAlreadyEnded { run } => write!(f, "run {run} has already ended"),
            RunClosing { run } => write!(
                f,
                "run {run} is closing: only its end may follow its commit or obsoletion"
            ),
            NotAnImport { run } => write!(f, "run {run} is an export, not an import"),
            NotAnExport { run, kind } => {
                write!(f, "run {run} is a {}, not an export", kind.as_str())
            }
            PageOutOfOrder {
                run,
                page,
                expected,
            } => write!(
                f,
                "run {run}: page {page} out of order, page {expected} is being read"
            ),
            PageAfterStop {
                run,
                stop_page,
                page,
            } => write!(
                f,
                "run {run} stopped on page {stop_page}: no page {page} may follow"
            ),
            ErrorsOverLimit {
                run,
                errors,
                max_errors,
            } => write!(
                f,
                "run {run} went on after {errors} errors (max_errors {max_errors})"
            ),
            WarningsOverLimit {
                run,
                warnings,
                max_warnings,
            } => write!(
                f,
                "run {run} went on after {warnings} warnings (max_warnings {max_warnings})"
            ),
            RunStillOpen {
                run,
                open,
                connector,
                partition,
            } => write!(
                f,
                "run {run}: run {open} is still open on {connector}/{partition}"
            ),
            StartedWhileRefused {
                run,
                kind,
                status,
                cause,
            } => write!(
                f,
                "{} {run} started while it must end {} ({})",
                kind.as_str(),
                status.as_str(),
                describe_refusal(cause)
            ),
            StartWatermarkMismatch {
                run,
                start,
                committed,
            } => write!(
                f,
                "delta import {run} starts from {} but the committed watermark is {}",
                show(start.as_ref()),
                show(committed.as_ref())
            ),
            StartWatermarkForbidden { run, kind } => {
                write!(f, "{} {run} cannot start from a watermark", kind.as_str())
            }
            RunIdOutOfOrder { expected, got } => write!(
                f,
                "run ids go in order: expected run {expected}, got run {got}"
            ),
            RefusalNotDemanded(mismatch) => {
                let RefusalMismatch {
                    run,
                    connector,
                    partition,
                    status,
                    cause,
                    demanded,
                    flag_set_by,
                } = mismatch.as_ref();
                write!(
                f,
                "run {run} of {connector}/{partition} refused as {} ({}), but the state demands {}; the full-import flag on {connector}/{partition} was set by {}",
                status.as_str(),
                describe_refusal(cause),
                demanded.as_ref().map_or_else(
                    || "that it starts".to_owned(),
                    |(status, cause)| format!("{} ({})", status.as_str(), describe_refusal(cause))
                ),
                flag_set_by.map_or("no run".to_owned(), |r| format!("run {r}"))
            )
            }
            StagesErroredObject { run, page, anchor } => write!(
                f,
                "run {run} page {page} stages {anchor}, which had an error on this page"
            ),
            PageOverSnapshotLimit {
                run,
                page,
                live_after,
                snapshot_limit,
            } => write!(
                f,
                "run {run} page {page} would hold {live_after} live objects, over snapshot_limit {snapshot_limit}"
            ),
            FaultAfterStop {
                run,
                stop_page,
                cause,
            } => write!(
                f,
                "run {run} already stopped on page {stop_page} ({cause:?})"
            ),
            ImportFaultWithoutPage { run } => write!(
                f,
                "run {run}: a fault in an import names the page it replaced"
            ),
            ExportFaultWithPage { run } => write!(f, "run {run}: an export has no pages"),
            SnapshotLimitOnExport { run } => {
                write!(f, "run {run}: the snapshot limit applies to imports")
            }
            LimitMismatch {
                run,
                limit,
                count,
                maximum,
                actual,
                configured,
            } => write!(
                f,
                "run {run}: {} reached with count {count} and maximum {maximum}, but the run has {actual} against a limit of {configured}",
                limit.code()
            ),
            LimitPageMismatch {
                run,
                page,
                expected,
            } => write!(
                f,
                "run {run}: limit on page {page}, but page {expected} is current"
            ),
            LimitAfterStop { run, stop_page } => {
                write!(f, "run {run} already stopped on page {stop_page}")
            }
            ExportCommits { run } => write!(f, "export {run} has no watermark to commit"),
            AlreadyCommitted { run } => write!(f, "run {run} already committed"),
            CommitAfterInterruption { run } => write!(
                f,
                "run {run} was interrupted: its proposals are discarded"
            ),
            UncleanFullImportCommits {
                run,
                errors,
                stopped,
            } => write!(
                f,
                "full import {run} had {errors} errors{}: it may not commit",
                and_stopped(*stopped)
            ),
            CommitPastError {
                run,
                watermark,
                first_error_page,
                clean_proposal,
            } => write!(
                f,
                "run {run} commits {watermark} but the last watermark before its first error{} is {}",
                first_error_page.map_or(String::new(), |page| format!(" (page {page})")),
                show(clean_proposal.as_ref())
            ),
            ObsoletionByNonFullImport { run, kind } => write!(
                f,
                "run {run} is a {}: only full imports obsolete",
                kind.as_str()
            ),
            ObsoletionAlreadyDecided { run, previous } => write!(
                f,
                "run {run} already decided obsoletion ({})",
                previous.as_str()
            ),
            RunWithoutPartition { run } => write!(f, "run {run} has no partition"),
            ObsoletionAfterErrors {
                run,
                errors,
                stopped,
            } => write!(
                f,
                "full import {run} had {errors} errors{}: obsoletion must be skipped",
                and_stopped(*stopped)
            ),
            ObsoletionMismatch {
                run,
                obsoleted,
                unseen,
            } => write!(
                f,
                "run {run} obsoletes {obsoleted} objects, but {unseen} live objects were not seen"
            ),
            DeletionThresholdMisapplied {
                run,
                exceeds,
                count,
                threshold,
                live_before,
            } => write!(
                f,
                "run {run} {} {count} objects against deletion_threshold {threshold:?} of {live_before} live objects",
                if *exceeds { "applies" } else { "holds" }
            ),
            ObsoletionSkippedWhenClean { run } => write!(
                f,
                "full import {run} was clean: obsoletion may not be skipped"
            ),
            SkipReasonMismatch {
                run,
                reason,
                expected,
            } => write!(
                f,
                "run {run} skips obsoletion for {}, but the reason is {}",
                reason.map_or("no reason", SkipReason::as_str),
                expected.as_str()
            ),
            NotApplicableDecision => f.write_str("not-applicable is not an obsoletion decision"),
            BatchAfterStop { run } => write!(f, "export {run} stopped: nothing more is sent"),
            BatchBeforeResults { run, awaiting } => write!(
                f,
                "export {run} sent a batch before the results of the previous one ({awaiting} awaiting)"
            ),
            EmptyBatch { run } => write!(f, "export {run} sent an empty batch"),
            BatchOutOfOrder {
                run,
                sent,
                eligible,
            } => write!(
                f,
                "export {run} sent {} but the next pending changes in queue order are {}",
                list(sent),
                list(eligible)
            ),
            ResultNotAwaited { run, anchor } => {
                write!(f, "export {run} has no result awaited for {anchor}")
            }
            ResultAfterStop { run, cause, anchor } => write!(
                f,
                "export {run} stopped ({cause:?}) before the result for {anchor}"
            ),
            OwnParent { run, anchor } => {
                write!(f, "export {run}: {anchor} cannot be its own parent")
            }
            EndWithoutObsoletion { run } => write!(
                f,
                "full import {run} ended without recording its obsoletion"
            ),
            EndWithoutCommit { run, watermark, .. } => {
                write!(f, "run {run} ended without committing {watermark}")
            }
            EndWithoutResults { run, awaiting } => {
                write!(f, "export {run} ended without results for {}", list(awaiting))
            }
            EndWithUnsent { run, anchor } => write!(
                f,
                "export {run} ended without sending the pending change of {anchor}"
            ),
            StatusMismatch {
                run,
                status,
                expected,
            } => write!(
                f,
                "run {run} ends {} but what happened in it makes it {}",
                status.as_str(),
                expected.as_str()
            ),
            CountsMismatch {
                run,
                counts,
                folded,
            } => write!(
                f,
                "run {run} ends with counts {counts:?} but folded {folded:?}"
            ),
            EndWatermarkMismatch {
                run,
                reported,
                committed,
            } => write!(
                f,
                "run {run} ends reporting watermark {} but {} is committed",
                show(reported.as_ref()),
                show(committed.as_ref())
            ),
            Administrator(refusal) => refusal.fmt(f),
            RunNotOpen { run } => write!(f, "run {run} is not open"),
            RunWithoutRecord { run } => write!(f, "run {run} has no history record"),
        }
    }
}

/// Why the decider refused a command: one variant per condition, with the data that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandRefusal {
    /// [R15](crate::rules#r15): the run was never started.
    RunNeverStarted {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): the run has already ended.
    RunAlreadyEnded {
        /// The run.
        run: RunId,
    },
    /// [R15](crate::rules#r15): an import command for an export, or an export command for an
    /// import.
    WrongRunKind {
        /// The run.
        run: RunId,
        /// Its kind.
        kind: RunKind,
    },
    /// [R15](crate::rules#r15): the run stopped; only its end may be asked for.
    RunStopped {
        /// The run.
        run: RunId,
        /// The page it stopped on.
        page: u64,
    },
    /// [R15](crate::rules#r15): a run is asked for on a partition that has one open.
    RunStillOpen {
        /// The run open.
        open: RunId,
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
    },
    /// SPEC §4: the export's batch in flight still awaits results.
    ResultsAwaited {
        /// The run.
        run: RunId,
        /// How many.
        awaiting: usize,
    },
    /// SPEC §4: a result for an object not sent, or already answered.
    ResultNotAwaited {
        /// The run.
        run: RunId,
        /// The object.
        anchor: Anchor,
    },
    /// SPEC §4: the connector named an object as its own parent.
    OwnParent {
        /// The run.
        run: RunId,
        /// The object.
        anchor: Anchor,
    },
    /// SPEC §4: two results for one object.
    DuplicateResult {
        /// The run.
        run: RunId,
        /// The object.
        anchor: Anchor,
    },
    /// SPEC §4: no result for some objects of a batch that did not stop.
    ResultsMissing {
        /// The run.
        run: RunId,
        /// How many objects have no result.
        missing: usize,
        /// The first of them.
        first: Option<Anchor>,
    },
    /// [R15](crate::rules#r15): a run's partition is missing from the state.
    RunWithoutPartition {
        /// The run.
        run: RunId,
    },
    /// SPEC §4: an unstopped export asked to end with pending changes left to send.
    PendingLeft {
        /// The run.
        run: RunId,
    },
    /// SPEC §8: an administrator's action the state does not allow.
    Administrator(AdminRefusal),
}

impl CommandRefusal {
    /// The rule the command would break.
    pub fn rule(&self) -> Rule {
        use CommandRefusal::*;
        match self {
            RunNeverStarted { .. }
            | RunAlreadyEnded { .. }
            | WrongRunKind { .. }
            | RunStopped { .. }
            | RunStillOpen { .. }
            | RunWithoutPartition { .. } => Rule::R15,
            Administrator(refusal) => refusal.rule(),
            ResultsAwaited { .. }
            | ResultNotAwaited { .. }
            | OwnParent { .. }
            | DuplicateResult { .. }
            | ResultsMissing { .. }
            | PendingLeft { .. } => Rule::Exports,
        }
    }
}

impl fmt::Display for CommandRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CommandRefusal::*;
        match self {
            RunNeverStarted { run } => write!(f, "run {run} was never started"),
            RunAlreadyEnded { run } => write!(f, "run {run} has already ended"),
            WrongRunKind { run, kind } => write!(f, "run {run} is a {}", kind.as_str()),
            RunStopped { run, page } => write!(f, "run {run} stopped on page {page}: end it"),
            RunStillOpen {
                open,
                connector,
                partition,
            } => write!(
                f,
                "run {open} is still open on {connector}/{partition}: one run at a time"
            ),
            ResultsAwaited { run, awaiting } => {
                write!(f, "export {run} still awaits {awaiting} results")
            }
            ResultNotAwaited { run, anchor } => write!(
                f,
                "export {run} did not send {anchor}, or already has its result"
            ),
            OwnParent { run, anchor } => write!(
                f,
                "export {run}: the connector named {anchor} as its own parent"
            ),
            DuplicateResult { run, anchor } => {
                write!(f, "export {run}: two results for {anchor}")
            }
            ResultsMissing {
                run,
                missing,
                first,
            } => write!(
                f,
                "export {run}: the connector returned no result for {missing} object(s), first {}",
                first.as_ref().map_or("?", Anchor::as_str)
            ),
            RunWithoutPartition { run } => write!(f, "run {run} has no partition"),
            PendingLeft { run } => {
                write!(f, "export {run} has pending changes left to send")
            }
            Administrator(refusal) => refusal.fmt(f),
        }
    }
}

/// Why an administrator's action (SPEC §8) is refused: the same conditions on both sides, since
/// the decider refuses the command and the fold re-checks the event
/// ([`EventRefusal::Administrator`], [`CommandRefusal::Administrator`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminRefusal {
    /// A partition action names no partition.
    NoPartition {
        /// The action.
        action: OperatorAction,
    },
    /// A partition action names a partition no event named.
    UnknownPartition {
        /// The action.
        action: OperatorAction,
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
    },
    /// [R1](crate::rules#r1), SPEC §8: `set-watermark` names no run.
    SetWatermarkWithoutRun {
        /// Partition.
        partition: PartitionName,
    },
    /// [R1](crate::rules#r1), SPEC §8: `set-watermark` names a run that did not commit a watermark
    /// on the partition, so there is no watermark a run vouched for to set back to.
    SetWatermarkNotCommitted {
        /// The run named.
        run: RunId,
        /// Partition.
        partition: PartitionName,
    },
    /// [R15](crate::rules#r15), SPEC §8: `set-watermark` while a run is in flight on the
    /// partition, which owns its watermark until it ends.
    SetWatermarkDuringRun {
        /// Partition.
        partition: PartitionName,
        /// The run in flight.
        open: RunId,
    },
}

impl AdminRefusal {
    /// The rule the action would break.
    pub fn rule(&self) -> Rule {
        use AdminRefusal::*;
        match self {
            SetWatermarkWithoutRun { .. } | SetWatermarkNotCommitted { .. } => Rule::R1,
            NoPartition { .. } | UnknownPartition { .. } | SetWatermarkDuringRun { .. } => {
                Rule::R15
            }
        }
    }
}

impl fmt::Display for AdminRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AdminRefusal::*;
        match self {
            NoPartition { action } => write!(
                f,
                "{} acts on a partition and names none",
                action.as_str()
            ),
            UnknownPartition {
                action,
                connector,
                partition,
            } => write!(
                f,
                "{} names partition {partition} of {connector}, which no run has used",
                action.as_str()
            ),
            SetWatermarkWithoutRun { partition } => write!(
                f,
                "set-watermark on {partition} names no run whose committed watermark to set back to"
            ),
            SetWatermarkNotCommitted { run, partition } => write!(
                f,
                "run {run} did not commit a watermark on {partition}: set-watermark sets back only a watermark a run committed"
            ),
            SetWatermarkDuringRun { partition, open } => write!(
                f,
                "run {open} is in flight on {partition}: the watermark can be set back only between runs"
            ),
        }
    }
}
