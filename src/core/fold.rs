//! The fold: state + event → state, or a [`Violation`] naming the rule the event breaks
//! ([R15](crate::rules#r15)).
//!
//! Each handler checks everything first and mutates only once the event is known to be valid, so a
//! refused event leaves the state exactly as it was: a reader can report the violation and go on
//! showing the state up to the event before it.

use super::event::*;
use super::model::*;
use super::refusal::{AdminRefusal, EventRefusal, RefusalMismatch};
use super::rule::Violation;
use super::state::*;
use std::collections::BTreeSet;

type Check<T = ()> = Result<T, EventRefusal>;

fn refuse<T>(refusal: EventRefusal) -> Check<T> {
    Err(refusal)
}

impl State {
    /// Folds one event into the state. `seq` must follow the last folded event.
    ///
    /// On error the state is unchanged and the violation names `seq`, the rule and the details.
    pub fn apply(&mut self, seq: Seq, envelope: &Envelope) -> Result<(), Violation> {
        // Debug builds assert on both sides of the fold (`invariants.rs`): what the event may
        // change is taken before, and checked after it was folded or refused.
        #[cfg(debug_assertions)]
        let before = super::invariants::Fingerprint::of(self);
        let result = self.apply_checked(seq, envelope);
        #[cfg(debug_assertions)]
        self.assert_folded(&before, seq, &envelope.event, result.is_ok());
        result.map_err(|refusal| Violation::new(seq, refusal))
    }

    /// Folds events numbered from `last_seq() + 1`, stopping at the first violation.
    pub fn apply_all<'a>(
        &mut self,
        envelopes: impl IntoIterator<Item = &'a Envelope>,
    ) -> Result<(), Violation> {
        for envelope in envelopes {
            self.apply(self.last_seq + 1, envelope)?;
        }
        Ok(())
    }

    /// Folds a whole history into a new state.
    pub fn fold<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> Result<State, Violation> {
        let mut state = State::new();
        state.apply_all(envelopes)?;
        Ok(state)
    }

    fn apply_checked(&mut self, seq: Seq, envelope: &Envelope) -> Check {
        if envelope.version == 0 || envelope.version > EVENT_FORMAT_VERSION {
            return refuse(EventRefusal::UnknownEventFormat {
                version: envelope.version,
                newest: EVENT_FORMAT_VERSION,
            });
        }
        if envelope.version < envelope.event.format_version() {
            return refuse(EventRefusal::EventFormatTooOld {
                event: envelope.event.type_name(),
                version: envelope.version,
                needed: envelope.event.format_version(),
            });
        }
        if seq != self.last_seq + 1 {
            return refuse(EventRefusal::OutOfOrder {
                expected: self.last_seq + 1,
                got: seq,
            });
        }
        let here = Occurrence {
            seq,
            at: envelope.at,
            run: envelope.event.run(),
        };
        match &envelope.event {
            Event::RunStarted {
                run,
                connector,
                partition,
                kind,
                start_watermark,
                settings,
            } => self.on_run_started(
                &here,
                *run,
                connector,
                partition,
                *kind,
                start_watermark,
                settings,
            )?,
            Event::RunRefused {
                run,
                connector,
                partition,
                kind,
                status,
                cause,
            } => self.on_run_refused(&here, *run, connector, partition, *kind, *status, cause)?,
            Event::DiscoveryErrorRecorded { run, page, error } => {
                self.on_discovery_error(&here, *run, *page, error)?
            }
            Event::FatalImportErrorRecorded { run, page, error } => {
                self.on_fatal_import_error(&here, *run, *page, error)?
            }
            Event::PageRead {
                run,
                page,
                changes,
                proposed_watermark,
            } => self.on_page_read(*run, *page, changes, proposed_watermark)?,
            Event::FaultRecorded { run, page, fault } => {
                self.on_fault(&here, *run, *page, fault)?
            }
            Event::LimitReached {
                run,
                page,
                limit,
                count,
                maximum,
            } => self.on_limit(*run, *page, *limit, *count, *maximum)?,
            Event::WatermarkCommitted { run, watermark } => {
                self.on_watermark_committed(&here, *run, watermark)?
            }
            Event::ObsoletionApplied { run, anchors } => {
                self.on_obsoletion_decided(*run, Obsoletion::Applied, anchors, None)?
            }
            Event::ObsoletionHeld { run, anchors } => {
                self.on_obsoletion_decided(*run, Obsoletion::Held, anchors, None)?
            }
            Event::ObsoletionSkipped { run, reason } => {
                self.on_obsoletion_decided(*run, Obsoletion::Skipped, &[], Some(*reason))?
            }
            Event::ExportQueued {
                connector,
                partition,
                change,
            } => {
                self.partition_mut(connector, partition)
                    .exports
                    .queue(change.clone());
            }
            Event::ExportBatchSent { run, anchors } => self.on_export_batch(*run, anchors)?,
            Event::ExportResultRecorded {
                run,
                anchor,
                outcome,
            } => self.on_export_result(&here, *run, anchor, outcome)?,
            Event::RunInterrupted { run } => self.on_run_interrupted(*run)?,
            Event::RunEnded {
                run,
                status,
                counts,
                committed_watermark,
            } => self.on_run_ended(&here, *run, *status, counts, committed_watermark)?,
            Event::AdminActionRecorded {
                connector,
                partition,
                action,
            } => self.on_admin_action(
                &here,
                &envelope.actor,
                connector,
                partition.as_ref(),
                *action,
                "",
            )?,
            Event::AdministratorActed {
                connector,
                partition,
                action,
                run,
                reason,
            } => {
                let mark = AdministratorMark {
                    at: here.clone(),
                    actor: envelope.actor.clone(),
                    reason: reason.clone(),
                };
                match action.as_admin_action() {
                    Some(admin) => self.on_admin_action(
                        &here,
                        &envelope.actor,
                        connector,
                        partition.as_ref(),
                        admin,
                        reason,
                    )?,
                    None => self.on_partition_action(
                        mark,
                        connector,
                        partition.as_ref(),
                        *action,
                        *run,
                    )?,
                }
            }
            Event::TornRecordDiscarded { seq: torn, .. } => {
                // The event takes the torn record's place: it names its own sequence number.
                if *torn != seq {
                    return refuse(EventRefusal::TornRecordMisplaced {
                        at: seq,
                        names: *torn,
                    });
                }
            }
            Event::PresentRecordsAccepted { through, .. } => {
                if *through + 1 != seq {
                    return refuse(EventRefusal::AcceptanceMisplaced {
                        through: *through,
                        at: seq,
                    });
                }
            }
        }
        self.last_seq = seq;
        Ok(())
    }

    fn open(&self, run: RunId) -> Check<&OpenRun> {
        match self.open_runs.get(&run) {
            Some(open) => Ok(open),
            None if self.run(run).is_some() => refuse(EventRefusal::RunAlreadyEnded { run }),
            None => refuse(EventRefusal::RunNeverStarted { run }),
        }
    }

    /// An open run still working (not closing), of an import kind when `import` says so.
    fn working(&self, run: RunId, import: Option<bool>) -> Check<&OpenRun> {
        let open = self.open(run)?;
        if open.phase == RunPhase::Closing {
            return refuse(EventRefusal::RunClosing { run });
        }
        match import {
            Some(true) if !open.kind.is_import() => refuse(EventRefusal::NotAnImport { run }),
            Some(false) if open.kind.is_import() => refuse(EventRefusal::NotAnExport {
                run,
                kind: open.kind,
            }),
            _ => Ok(open),
        }
    }

    /// Checks that an event about page `page` of an import may come now: it is the page being read,
    /// and the run has not stopped on an earlier page, nor in a way that ends reading
    /// ([R11](crate::rules#r11), [R15](crate::rules#r15)).
    fn check_page_in_progress(open: &OpenRun, run: RunId, page: u64) -> Check {
        let expected = open.pages_read + 1;
        if page != expected {
            return refuse(EventRefusal::PageOutOfOrder {
                run,
                page,
                expected,
            });
        }
        if let Some((cause, stop_page)) = open.stop {
            let same_page_may_go_on =
                matches!(cause, StopCause::ObjectStop | StopCause::FatalImport { .. });
            if stop_page != page || !same_page_may_go_on {
                return refuse(EventRefusal::PageAfterStop {
                    run,
                    stop_page,
                    page,
                });
            }
        }
        Self::check_limits_respected(open, run, open.page_errors)
    }

    /// [R11](crate::rules#r11): a run whose errors or warnings exceeded its limit before the work
    /// in progress must
    /// have stopped. `in_progress` errors belong to the page still being read and are let through.
    fn check_limits_respected(open: &OpenRun, run: RunId, in_progress: u64) -> Check {
        if open.stop.is_some() {
            return Ok(());
        }
        let errors_before = open.counts.errors - in_progress;
        if errors_before > open.settings.max_errors {
            return refuse(EventRefusal::ErrorsOverLimit {
                run,
                errors: errors_before,
                max_errors: open.settings.max_errors,
            });
        }
        if open.counts.warnings > open.settings.max_warnings {
            return refuse(EventRefusal::WarningsOverLimit {
                run,
                warnings: open.counts.warnings,
                max_warnings: open.settings.max_warnings,
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn on_run_started(
        &mut self,
        here: &Occurrence,
        run: RunId,
        connector: &ConnectorName,
        partition: &PartitionName,
        kind: RunKind,
        start_watermark: &Option<Watermark>,
        settings: &Settings,
    ) -> Check {
        self.check_next_run(run)?;
        let existing = self.partition(connector, partition);
        if let Some(open) = existing.and_then(|p| p.open_run) {
            return refuse(EventRefusal::RunStillOpen {
                run,
                open,
                connector: connector.clone(),
                partition: partition.clone(),
            });
        }
        let committed = existing.and_then(|p| p.committed_watermark.as_ref());
        if let Some((status, cause)) = self.refusal_for(connector, partition, kind) {
            return refuse(EventRefusal::StartedWhileRefused {
                run,
                kind,
                status,
                cause,
            });
        }
        match kind {
            RunKind::DeltaImport => {
                if start_watermark.as_ref() != committed {
                    return refuse(EventRefusal::StartWatermarkMismatch {
                        run,
                        start: start_watermark.clone(),
                        committed: committed.cloned(),
                    });
                }
            }
            RunKind::FullImport | RunKind::Export => {
                if start_watermark.is_some() {
                    return refuse(EventRefusal::StartWatermarkForbidden { run, kind });
                }
            }
        }
        debug_assert!(!self.open_runs.contains_key(&run), "run {run} opened twice");
        let part = self.partition_mut(connector, partition);
        part.open_run = Some(run);
        let open = OpenRun {
            connector: connector.clone(),
            partition: partition.clone(),
            kind,
            settings: settings.clone(),
            phase: RunPhase::Working,
            pages_read: 0,
            page_errors: 0,
            first_error_page: None,
            clean_proposal: None,
            stop: None,
            fault: None,
            limit: None,
            counts: RunCounts::default(),
            page_error_anchors: BTreeSet::new(),
            committed: false,
            obsoletion: None,
            skip_reason: None,
            live_at_start: part.live_objects,
            committed_at_start: part.committed_watermark.clone(),
            export_cutoff: part.exports.next_ticket,
            sent: BTreeSet::new(),
            awaiting: BTreeSet::new(),
        };
        self.open_runs.insert(run, open);
        self.runs.push(RunRecord {
            id: run,
            connector: connector.clone(),
            partition: partition.clone(),
            kind,
            start_watermark: start_watermark.clone(),
            status: None,
            committed_watermark: None,
            obsoletion: Obsoletion::NotApplicable,
            skip_reason: None,
            counts: RunCounts::default(),
            started: here.clone(),
            ended: None,
            refusal: None,
            fault: None,
            limit: None,
            commit: None,
        });
        Ok(())
    }

    fn check_next_run(&self, run: RunId) -> Check {
        let next = self.next_run_id();
        if run != next {
            return refuse(EventRefusal::RunIdOutOfOrder {
                expected: next,
                got: run,
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn on_run_refused(
        &mut self,
        here: &Occurrence,
        run: RunId,
        connector: &ConnectorName,
        partition: &PartitionName,
        kind: RunKind,
        status: RunStatus,
        cause: &RefusalCause,
    ) -> Check {
        self.check_next_run(run)?;
        let existing = self.partition(connector, partition);
        let demanded = self.refusal_for(connector, partition, kind);
        if demanded.as_ref() != Some(&(status, cause.clone())) {
            let flag_set_by = existing
                .and_then(|p| p.full_import_required.as_ref())
                .and_then(|flag| flag.run);
            return refuse(EventRefusal::RefusalNotDemanded(Box::new(
                RefusalMismatch {
                    run,
                    connector: connector.clone(),
                    partition: partition.clone(),
                    status,
                    cause: cause.clone(),
                    demanded,
                    flag_set_by,
                },
            )));
        }
        let committed = existing.and_then(|p| p.committed_watermark.clone());
        // A partition that was asked for exists, even if no run on it could start: its health
        // (a suspended connector's, say) and its owner's info alerts must be visible (R10).
        self.partition_mut(connector, partition);
        self.runs.push(RunRecord {
            id: run,
            connector: connector.clone(),
            partition: partition.clone(),
            kind,
            start_watermark: if kind == RunKind::DeltaImport {
                committed.clone()
            } else {
                None
            },
            status: Some(status),
            committed_watermark: committed,
            obsoletion: Obsoletion::NotApplicable,
            skip_reason: None,
            counts: RunCounts::default(),
            started: here.clone(),
            ended: Some(here.clone()),
            refusal: Some(cause.clone()),
            fault: None,
            limit: None,
            commit: None,
        });
        Ok(())
    }

    fn on_discovery_error(
        &mut self,
        here: &Occurrence,
        run: RunId,
        page: u64,
        error: &DiscoveryError,
    ) -> Check {
        let open = self.working(run, Some(true))?;
        Self::check_page_in_progress(open, run, page)?;
        let (connector, partition) = (open.connector.clone(), open.partition.clone());
        let retry_count = open.settings.retry_count;
        record_object_error(
            self.partition_mut(&connector, &partition),
            &error.anchor,
            &error.name,
            &error.description,
            ErrorDirection::Import,
            here,
            retry_count,
        );
        let open = self.open_run_mut(run);
        open.note_page_error(page, &error.anchor);
        if error.kind == ObjectErrorKind::CustomStopRun {
            open.set_stop(StopCause::ObjectStop, page);
        }
        Ok(())
    }

    fn on_fatal_import_error(
        &mut self,
        here: &Occurrence,
        run: RunId,
        page: u64,
        error: &FatalImportError,
    ) -> Check {
        let open = self.working(run, Some(true))?;
        Self::check_page_in_progress(open, run, page)?;
        let (connector, partition, kind) =
            (open.connector.clone(), open.partition.clone(), open.kind);
        let retry_count = open.settings.retry_count;
        let part = self.partition_mut(&connector, &partition);
        let delta = kind == RunKind::DeltaImport;
        if delta {
            // R5: the change log is broken; only a full import gives a new watermark.
            if part.full_import_required.is_none() {
                part.full_import_required = Some(here.clone());
            }
            part.change_log_faults
                .entry(ChangeLogFault::of_fatal(error.kind))
                .or_insert_with(|| here.clone());
        } else {
            // R2: in a full import it acts as custom-stop-run on the object.
            if let Some(anchor) = &error.anchor {
                record_object_error(
                    part,
                    anchor,
                    error.kind.as_str(),
                    &error.description,
                    ErrorDirection::Import,
                    here,
                    retry_count,
                );
            }
        }
        let cause = StopCause::FatalImport { delta };
        let open = self.open_run_mut(run);
        match &error.anchor {
            Some(anchor) => open.note_page_error(page, anchor),
            None => {
                open.counts.errors += 1;
                open.page_errors += 1;
                open.first_error_page.get_or_insert(page);
            }
        }
        open.set_stop(cause, page);
        Ok(())
    }

    fn on_page_read(
        &mut self,
        run: RunId,
        page: u64,
        changes: &[ObjectChange],
        proposed: &Option<Watermark>,
    ) -> Check {
        let open = self.working(run, Some(true))?;
        Self::check_page_in_progress(open, run, page)?;
        if let Some(change) = changes
            .iter()
            .find(|change| open.page_error_anchors.contains(&change.anchor))
        {
            return refuse(EventRefusal::StagesErroredObject {
                run,
                page,
                anchor: change.anchor.clone(),
            });
        }
        let (connector, partition) = (open.connector.clone(), open.partition.clone());
        let snapshot_limit = open.settings.snapshot_limit;
        let part = self.partition_mut(&connector, &partition);
        if let Some(live_after) = part.live_objects_over(changes, snapshot_limit) {
            return refuse(EventRefusal::PageOverSnapshotLimit {
                run,
                page,
                live_after,
                snapshot_limit,
            });
        }
        for change in changes {
            part.stage(run, change);
        }
        // R11: a page that was let through keeps the partition within its snapshot limit.
        debug_assert!(
            part.live_objects <= snapshot_limit,
            "run {run} page {page} over the limit"
        );
        let open = self.open_run_mut(run);
        debug_assert_eq!(
            open.pages_read + 1,
            page,
            "run {run}: page checked in order"
        );
        open.pages_read = page;
        open.page_errors = 0;
        open.page_error_anchors.clear();
        open.counts.pages += 1;
        open.counts.staged += changes.len() as u64;
        if open.first_error_page.is_none() {
            if let Some(watermark) = proposed {
                open.clean_proposal = Some(watermark.clone());
            }
        }
        Ok(())
    }

    fn on_fault(
        &mut self,
        here: &Occurrence,
        run: RunId,
        page: Option<u64>,
        fault: &Fault,
    ) -> Check {
        let open = self.working(run, None)?;
        if let Some((cause, stop_page)) = open.stop {
            return refuse(EventRefusal::FaultAfterStop {
                run,
                stop_page,
                cause,
            });
        }
        let stop_page = match (open.kind.is_import(), page) {
            (true, Some(page)) => {
                Self::check_page_in_progress(open, run, page)?;
                page
            }
            (false, None) => 0,
            (true, None) => return refuse(EventRefusal::ImportFaultWithoutPage { run }),
            (false, Some(_)) => return refuse(EventRefusal::ExportFaultWithPage { run }),
        };
        let (connector, partition, kind) =
            (open.connector.clone(), open.partition.clone(), open.kind);
        if fault.kind == FaultKind::WatermarkExpired {
            let part = self.partition_mut(&connector, &partition);
            if kind.is_import() && part.full_import_required.is_none() {
                part.full_import_required = Some(here.clone());
            }
            // R9: permanent at partition scope in any run, so an error alert (R10) until a clean
            // full import, even when the flag was already set or the run was an export.
            part.change_log_faults
                .entry(ChangeLogFault::WatermarkExpired)
                .or_insert_with(|| here.clone());
        }
        if matches!(
            fault.kind,
            FaultKind::BadCredentials | FaultKind::OauthTokenExpired
        ) {
            // R8: permanent at once: the connector is disabled until credentials-updated, enable.
            let state = self.connectors.entry(connector.clone()).or_default();
            match &mut state.disabled {
                Some(disabled) => {
                    disabled.last = here.clone();
                    disabled.message.clone_from(&fault.message);
                }
                None => {
                    state.disabled = Some(Disablement {
                        code: fault.kind,
                        message: fault.message.clone(),
                        since: here.clone(),
                        last: here.clone(),
                        credentials_updated: false,
                    });
                }
            }
        }
        let open = self.open_run_mut(run);
        if kind.is_import() {
            open.first_error_page.get_or_insert(stop_page);
        }
        open.set_stop(StopCause::Fault(fault.kind), stop_page);
        open.fault = Some(fault.clone());
        Ok(())
    }

    fn on_limit(
        &mut self,
        run: RunId,
        page: u64,
        limit: LimitKind,
        count: u64,
        maximum: u64,
    ) -> Check {
        let open = self.working(run, None)?;
        let settings = &open.settings;
        let (configured, actual, expected_page) = match limit {
            LimitKind::Errors => (settings.max_errors, open.counts.errors, open.pages_read),
            LimitKind::Warnings => (settings.max_warnings, open.counts.warnings, open.pages_read),
            LimitKind::Snapshot => (settings.snapshot_limit, count, open.pages_read + 1),
        };
        let expected_page = if open.kind.is_import() {
            expected_page
        } else {
            0
        };
        if limit == LimitKind::Snapshot && !open.kind.is_import() {
            return refuse(EventRefusal::SnapshotLimitOnExport { run });
        }
        if maximum != configured || count != actual || count <= maximum {
            return refuse(EventRefusal::LimitMismatch {
                run,
                limit,
                count,
                maximum,
                actual,
                configured,
            });
        }
        if page != expected_page {
            return refuse(EventRefusal::LimitPageMismatch {
                run,
                page,
                expected: expected_page,
            });
        }
        if let Some((cause, stop_page)) = open.stop {
            let may_refine = stop_page == page
                && limit != LimitKind::Snapshot
                && matches!(cause, StopCause::ObjectStop | StopCause::FatalImport { .. });
            if !may_refine {
                return refuse(EventRefusal::LimitAfterStop { run, stop_page });
            }
        }
        let kind = open.kind;
        let open = self.open_run_mut(run);
        let cause = match limit {
            LimitKind::Errors => StopCause::ErrorLimit,
            LimitKind::Warnings => StopCause::WarningLimit,
            LimitKind::Snapshot => StopCause::SnapshotLimit,
        };
        if kind.is_import() {
            open.first_error_page.get_or_insert(page);
        }
        open.set_stop(cause, page);
        open.limit = Some(LimitRecord {
            kind: limit,
            count,
            maximum,
        });
        Ok(())
    }

    fn on_watermark_committed(
        &mut self,
        here: &Occurrence,
        run: RunId,
        watermark: &Watermark,
    ) -> Check {
        let open = self.open(run)?;
        if !open.kind.is_import() {
            return refuse(EventRefusal::ExportCommits { run });
        }
        if open.committed {
            return refuse(EventRefusal::AlreadyCommitted { run });
        }
        Self::check_limits_respected(open, run, 0)?;
        if open
            .stop
            .is_some_and(|(cause, _)| cause == StopCause::Interrupted)
        {
            return refuse(EventRefusal::CommitAfterInterruption { run });
        }
        if open.kind == RunKind::FullImport && !open.is_clean() {
            return refuse(EventRefusal::UncleanFullImportCommits {
                run,
                errors: open.counts.errors,
                stopped: open.stop.is_some(),
            });
        }
        if open.clean_proposal.as_ref() != Some(watermark) {
            return refuse(EventRefusal::CommitPastError {
                run,
                watermark: watermark.clone(),
                first_error_page: open.first_error_page,
                clean_proposal: open.clean_proposal.clone(),
            });
        }
        let (connector, partition) = (open.connector.clone(), open.partition.clone());
        let part = self.partition_mut(&connector, &partition);
        part.committed_watermark = Some(watermark.clone());
        part.committed_by = Some(here.clone());
        // A run's own commit replaces an administrator's set-back (SPEC §8).
        part.watermark_set_back = None;
        if let Some(record) = self.run_record_mut(run) {
            record.commit = Some(WatermarkCommit {
                watermark: watermark.clone(),
                at: here.clone(),
            });
        }
        let open = self.open_run_mut(run);
        // R1: what is committed is the last proposal before the first error.
        debug_assert_eq!(open.clean_proposal.as_ref(), Some(watermark));
        open.committed = true;
        open.phase = RunPhase::Closing;
        Ok(())
    }

    fn on_obsoletion_decided(
        &mut self,
        run: RunId,
        decision: Obsoletion,
        anchors: &[Anchor],
        reason: Option<SkipReason>,
    ) -> Check {
        let open = self.open(run)?;
        if open.kind != RunKind::FullImport {
            return refuse(EventRefusal::ObsoletionByNonFullImport {
                run,
                kind: open.kind,
            });
        }
        if let Some(previous) = open.obsoletion {
            return refuse(EventRefusal::ObsoletionAlreadyDecided { run, previous });
        }
        Self::check_limits_respected(open, run, 0)?;
        let part = self
            .partition(&open.connector, &open.partition)
            .ok_or(EventRefusal::RunWithoutPartition { run })?;
        match decision {
            Obsoletion::Applied | Obsoletion::Held => {
                if !open.is_clean() {
                    return refuse(EventRefusal::ObsoletionAfterErrors {
                        run,
                        errors: open.counts.errors,
                        stopped: open.stop.is_some(),
                    });
                }
                let expected = part.unseen_live_objects(run);
                if anchors != expected.as_slice() {
                    return refuse(EventRefusal::ObsoletionMismatch {
                        run,
                        obsoleted: anchors.len(),
                        unseen: expected.len(),
                    });
                }
                let exceeds =
                    exceeds_threshold(&open.settings, anchors.len() as u64, open.live_at_start);
                if exceeds != (decision == Obsoletion::Held) {
                    return refuse(EventRefusal::DeletionThresholdMisapplied {
                        run,
                        exceeds,
                        count: anchors.len(),
                        threshold: open.settings.deletion_threshold,
                        live_before: open.live_at_start,
                    });
                }
            }
            Obsoletion::Skipped => {
                if open.is_clean() {
                    return refuse(EventRefusal::ObsoletionSkippedWhenClean { run });
                }
                let expected = if open.counts.errors > 0 {
                    SkipReason::ImportErrors
                } else {
                    SkipReason::RunStopped
                };
                if reason != Some(expected) {
                    return refuse(EventRefusal::SkipReasonMismatch {
                        run,
                        reason,
                        expected,
                    });
                }
            }
            Obsoletion::NotApplicable => return refuse(EventRefusal::NotApplicableDecision),
        }
        let (connector, partition) = (open.connector.clone(), open.partition.clone());
        let part = self.partition_mut(&connector, &partition);
        match decision {
            Obsoletion::Applied => {
                part.held_obsoletion = None;
                part.obsolete(anchors);
                debug_assert!(anchors
                    .iter()
                    .all(|anchor| part.objects.get(anchor).is_some_and(|o| o.obsolete)));
            }
            Obsoletion::Held => {
                part.held_obsoletion = Some(HeldObsoletion {
                    run,
                    anchors: anchors.iter().cloned().collect(),
                });
            }
            Obsoletion::Skipped | Obsoletion::NotApplicable => {}
        }
        let open = self.open_run_mut(run);
        if decision == Obsoletion::Applied {
            open.counts.obsoleted = anchors.len() as u64;
        }
        open.obsoletion = Some(decision);
        open.skip_reason = reason;
        open.phase = RunPhase::Closing;
        Ok(())
    }

    fn on_export_batch(&mut self, run: RunId, anchors: &[Anchor]) -> Check {
        let open = self.working(run, Some(false))?;
        if let Some((_, _)) = open.stop {
            return refuse(EventRefusal::BatchAfterStop { run });
        }
        Self::check_limits_respected(open, run, 0)?;
        if !open.awaiting.is_empty() {
            return refuse(EventRefusal::BatchBeforeResults {
                run,
                awaiting: open.awaiting.len(),
            });
        }
        if anchors.is_empty() {
            return refuse(EventRefusal::EmptyBatch { run });
        }
        let part = self
            .partition(&open.connector, &open.partition)
            .ok_or(EventRefusal::RunWithoutPartition { run })?;
        let eligible = part
            .exports
            .eligible(open.export_cutoff, &open.sent, anchors.len());
        if eligible.iter().ne(anchors.iter()) {
            return refuse(EventRefusal::BatchOutOfOrder {
                run,
                sent: anchors.to_vec(),
                eligible,
            });
        }
        let open = self.open_run_mut(run);
        open.sent.extend(anchors.iter().cloned());
        open.awaiting.extend(anchors.iter().cloned());
        Ok(())
    }

    fn on_export_result(
        &mut self,
        here: &Occurrence,
        run: RunId,
        anchor: &Anchor,
        outcome: &ExportOutcome,
    ) -> Check {
        let open = self.working(run, Some(false))?;
        if !open.awaiting.contains(anchor) {
            return refuse(EventRefusal::ResultNotAwaited {
                run,
                anchor: anchor.clone(),
            });
        }
        if let Some((cause, _)) = open.stop {
            if matches!(cause, StopCause::Fault(_) | StopCause::Interrupted) {
                return refuse(EventRefusal::ResultAfterStop {
                    run,
                    cause,
                    anchor: anchor.clone(),
                });
            }
        }
        if let ExportOutcome::ProvisioningParent { parent } = outcome {
            if parent == anchor {
                return refuse(EventRefusal::OwnParent {
                    run,
                    anchor: anchor.clone(),
                });
            }
        }
        let (connector, partition) = (open.connector.clone(), open.partition.clone());
        let retry_count = open.settings.retry_count;
        let part = self.partition_mut(&connector, &partition);
        let mut error = false;
        let mut warning = false;
        let mut stop = false;
        match outcome {
            ExportOutcome::Success => {
                part.exports.remove(anchor);
                part.object_errors.remove(anchor);
            }
            ExportOutcome::CustomContinueRun { name, description }
            | ExportOutcome::CustomStopRun { name, description } => {
                record_object_error(
                    part,
                    anchor,
                    name,
                    description,
                    ErrorDirection::Export,
                    here,
                    retry_count,
                );
                error = true;
                stop = matches!(outcome, ExportOutcome::CustomStopRun { .. });
            }
            ExportOutcome::ConvertUpdateToAdd => {
                let staged = part.objects.get(anchor).map(|o| o.attributes.unpack());
                part.exports.convert_to_add(anchor, staged);
                warning = true;
            }
            ExportOutcome::ProvisioningParent { parent } => {
                part.exports.place_parent(anchor, parent);
                warning = true;
            }
            ExportOutcome::RetryReferenceAttribute => {
                part.exports.keep_references(anchor);
                warning = true;
            }
        }
        let open = self.open_run_mut(run);
        open.awaiting.remove(anchor);
        open.counts.exported += 1;
        if error {
            open.counts.errors += 1;
        }
        if warning {
            open.counts.warnings += 1;
        }
        if stop {
            open.set_stop(StopCause::ObjectStop, 0);
        }
        Ok(())
    }

    fn on_run_interrupted(&mut self, run: RunId) -> Check {
        self.open(run)?;
        let open = self.open_run_mut(run);
        // R13: whatever it committed stands; what it only proposed is dropped.
        open.stop = Some((StopCause::Interrupted, open.pages_read + 1));
        open.clean_proposal = None;
        Ok(())
    }

    fn on_run_ended(
        &mut self,
        here: &Occurrence,
        run: RunId,
        status: RunStatus,
        counts: &RunCounts,
        committed_watermark: &Option<Watermark>,
    ) -> Check {
        let open = self.open(run)?;
        Self::check_limits_respected(open, run, 0)?;
        if open.kind == RunKind::FullImport && open.obsoletion.is_none() {
            return refuse(EventRefusal::EndWithoutObsoletion { run });
        }
        if let Some(watermark) = open.watermark_to_commit() {
            if !open.committed {
                return refuse(EventRefusal::EndWithoutCommit {
                    run,
                    kind: open.kind,
                    watermark: watermark.clone(),
                });
            }
        }
        let part = self
            .partition(&open.connector, &open.partition)
            .ok_or(EventRefusal::RunWithoutPartition { run })?;
        if open.kind == RunKind::Export && open.stop.is_none() {
            if !open.awaiting.is_empty() {
                return refuse(EventRefusal::EndWithoutResults {
                    run,
                    awaiting: open.awaiting.iter().cloned().collect(),
                });
            }
            let unsent = part.exports.eligible(open.export_cutoff, &open.sent, 1);
            if let Some(anchor) = unsent.first() {
                return refuse(EventRefusal::EndWithUnsent {
                    run,
                    anchor: anchor.clone(),
                });
            }
        }
        let expected = open.expected_status();
        if status != expected {
            return refuse(EventRefusal::StatusMismatch {
                run,
                status,
                expected,
            });
        }
        if *counts != open.counts {
            return refuse(EventRefusal::CountsMismatch {
                run,
                counts: Box::new(*counts),
                folded: Box::new(open.counts),
            });
        }
        if committed_watermark.as_ref() != part.committed_watermark.as_ref() {
            return refuse(EventRefusal::EndWatermarkMismatch {
                run,
                reported: committed_watermark.clone(),
                committed: part.committed_watermark.clone(),
            });
        }
        let clean_full_import = open.kind == RunKind::FullImport && open.is_clean();
        let (connector, partition) = (open.connector.clone(), open.partition.clone());
        let part = self.partition_mut(&connector, &partition);
        part.open_run = None;
        if clean_full_import {
            // R2: a clean full import, even one whose obsoletion is held, clears the flag.
            part.full_import_required = None;
            part.full_import_required_by_administrator = None;
            part.change_log_faults.clear();
        }
        let committed = part.committed_watermark.clone();
        let Some(open) = self.open_runs.remove(&run) else {
            return refuse(EventRefusal::RunNotOpen { run });
        };
        if status != RunStatus::Interrupted {
            // A run cut by a crash did not end: it neither counts nor resets (R6, R9).
            let moved = committed != open.committed_at_start;
            self.account_run_end(here, &open, status, moved);
        }
        let Some(record) = self.run_record_mut(run) else {
            return refuse(EventRefusal::RunWithoutRecord { run });
        };
        record.status = Some(status);
        record.committed_watermark = committed;
        record.obsoletion = open.obsoletion.unwrap_or(Obsoletion::NotApplicable);
        record.skip_reason = open.skip_reason;
        record.counts = open.counts;
        record.fault = open.fault;
        record.limit = open.limit;
        record.ended = Some(here.clone());
        Ok(())
    }

    /// What a run's end does to health, escalation, limits and the stuck count
    /// ([R6](crate::rules#r6), [R9](crate::rules#r9), [R11](crate::rules#r11)).
    fn account_run_end(
        &mut self,
        here: &Occurrence,
        open: &OpenRun,
        status: RunStatus,
        moved: bool,
    ) {
        let settings = &open.settings;
        let transient = open
            .fault
            .as_ref()
            .and_then(|fault| Some((TransientFault::of(fault.kind)?, fault)));
        let connector_state = self.connectors.entry(open.connector.clone()).or_default();
        // R9: a run that ends without a code resets that code's count.
        let code = transient.map(|(code, _)| code);
        connector_state
            .transient
            .retain(|counted, _| Some(*counted) == code);
        if let Some((code, fault)) = transient {
            let failures =
                connector_state
                    .transient
                    .entry(code)
                    .or_insert_with(|| TransientFailures {
                        count: 0,
                        first: here.clone(),
                        last: here.clone(),
                        message: String::new(),
                    });
            failures.count += 1;
            failures.last = here.clone();
            failures.message.clone_from(&fault.message);
            if failures.count >= settings.retry_count.max(1) && connector_state.suspended.is_none()
            {
                // Logged as permanent with the same code: the connector is suspended.
                connector_state.suspended = Some(Suspension {
                    code,
                    message: fault.message.clone(),
                    first: failures.first.clone(),
                    since: here.clone(),
                });
            }
        }
        let part = self.partition_mut(&open.connector, &open.partition);
        // R11: a limit alert stays open until a later run on the partition runs to its end.
        // A run stopped by another limit opens that limit's alert and leaves the others open.
        if status.ran_to_end() {
            part.limit_alerts.clear();
        }
        if let Some(limit) = open.limit {
            part.limit_alerts.insert(
                limit.kind,
                LimitAlert {
                    limit,
                    since: here.clone(),
                },
            );
        }
        // R6: delta imports held back by object errors count; a moved watermark resets.
        if moved {
            part.stuck = StuckWatermark::default();
        } else if open.kind == RunKind::DeltaImport
            && matches!(
                status,
                RunStatus::CompletedDiscoveryErrors | RunStatus::StoppedObjectError
            )
        {
            let stuck = &mut part.stuck;
            stuck.count += 1;
            stuck.first.get_or_insert_with(|| here.clone());
            stuck.last = Some(here.clone());
            stuck.warning = stuck.count >= settings.stuck_after.max(1);
            if !stuck.warning {
                stuck.opened = None;
            } else if stuck.opened.is_none() {
                stuck.opened = Some(here.clone());
            }
        }
    }

    fn on_admin_action(
        &mut self,
        here: &Occurrence,
        actor: &Actor,
        connector: &ConnectorName,
        partition: Option<&PartitionName>,
        action: AdminAction,
        reason: &str,
    ) -> Check {
        if let Some(state) = self.connectors.get_mut(connector) {
            // Who enabled or resumed, and why, for `explain health` (SPEC §8).
            let mark = || AdministratorMark {
                at: here.clone(),
                actor: actor.clone(),
                reason: reason.to_owned(),
            };
            match action {
                AdminAction::Enable => state.enabled_by = Some(mark()),
                AdminAction::Resume if partition.is_none() => state.resumed_by = Some(mark()),
                _ => {}
            }
            match action {
                // R8: credentials are the connector's, whatever partition the action names.
                AdminAction::CredentialsUpdated => {
                    if let Some(disabled) = &mut state.disabled {
                        disabled.credentials_updated = true;
                    }
                }
                AdminAction::Enable => {
                    if state
                        .disabled
                        .as_ref()
                        .is_some_and(|d| d.credentials_updated)
                    {
                        state.disabled = None;
                    }
                }
                // R9: only connectors are suspended (no partition-scope code is transient), so a
                // partition's `resume` lifts nothing: it is recorded, as every action is.
                AdminAction::Resume => {
                    if partition.is_none() {
                        state.suspended = None;
                        // R9: `resume` starts the escalation count again; R10: the transient
                        // alert stays open until a run ends without the fault (an administrator's
                        // action is not a run).
                        for failures in state.transient.values_mut() {
                            failures.count = 0;
                        }
                    }
                }
                AdminAction::ApproveObsoletion => {}
            }
        }
        if action == AdminAction::ApproveObsoletion {
            // Approving with nothing held changes nothing; the action is still a recorded fact.
            let Some(state) = self.connectors.get_mut(connector) else {
                return Ok(());
            };
            for (name, part) in state.partitions.iter_mut() {
                if partition.is_some_and(|wanted| wanted != name) {
                    continue;
                }
                if let Some(held) = part.held_obsoletion.take() {
                    let anchors: Vec<Anchor> = held.anchors.into_iter().collect();
                    part.obsolete(&anchors);
                }
            }
        }
        Ok(())
    }

    /// SPEC §8's partition actions, `set-watermark` and `require-full-import`: checked here as the
    /// decider checks them, so a hand-made event cannot set a watermark no run committed.
    fn on_partition_action(
        &mut self,
        mark: AdministratorMark,
        connector: &ConnectorName,
        partition: Option<&PartitionName>,
        action: OperatorAction,
        run: Option<RunId>,
    ) -> Check {
        let Some(partition) = partition else {
            return refuse(EventRefusal::Administrator(AdminRefusal::NoPartition {
                action,
            }));
        };
        let Some(part) = self.partition(connector, partition) else {
            return refuse(EventRefusal::Administrator(
                AdminRefusal::UnknownPartition {
                    action,
                    connector: connector.clone(),
                    partition: partition.clone(),
                },
            ));
        };
        match action {
            OperatorAction::SetWatermark => {
                let Some(run) = run else {
                    return refuse(EventRefusal::Administrator(
                        AdminRefusal::SetWatermarkWithoutRun {
                            partition: partition.clone(),
                        },
                    ));
                };
                if let Some(open) = part.open_run {
                    return refuse(EventRefusal::Administrator(
                        AdminRefusal::SetWatermarkDuringRun {
                            partition: partition.clone(),
                            open,
                        },
                    ));
                }
                let commit = self
                    .run(run)
                    .filter(|record| {
                        &record.connector == connector && &record.partition == partition
                    })
                    .and_then(|record| record.commit.clone());
                let Some(commit) = commit else {
                    return refuse(EventRefusal::Administrator(
                        AdminRefusal::SetWatermarkNotCommitted {
                            run,
                            partition: partition.clone(),
                        },
                    ));
                };
                let part = self.partition_mut(connector, partition);
                part.committed_watermark = Some(commit.watermark);
                part.committed_by = Some(commit.at);
                // R6: the count restarts from the watermark set back (and its warning closes, as
                // when a run moves the watermark); nothing else is cleared.
                part.stuck = StuckWatermark::default();
                part.watermark_set_back = Some(WatermarkSetBack { by: mark, run });
            }
            OperatorAction::RequireFullImport => {
                let part = self.partition_mut(connector, partition);
                // R5: the flag keeps its first cause while it is set, as when a second run breaks
                // the change log again.
                if part.full_import_required.is_none() {
                    part.full_import_required = Some(mark.at.clone());
                    part.full_import_required_by_administrator = Some(mark);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn open_run_mut(&mut self, run: RunId) -> &mut OpenRun {
        // Every caller checked that the run is open; a missing run here is a bug in the fold.
        self.open_runs
            .get_mut(&run)
            .unwrap_or_else(|| unreachable!("run {run} was checked open"))
    }

    fn run_record_mut(&mut self, run: RunId) -> Option<&mut RunRecord> {
        let index = usize::try_from(run.0).ok()?.checked_sub(1)?;
        self.runs.get_mut(index)
    }
}

impl OpenRun {
    // An errored object is not added to `seen`: a full import with an error never obsoletes.
    fn note_page_error(&mut self, page: u64, anchor: &Anchor) {
        self.counts.errors += 1;
        self.page_errors += 1;
        self.first_error_page.get_or_insert(page);
        self.page_error_anchors.insert(anchor.clone());
    }

    fn set_stop(&mut self, cause: StopCause, page: u64) {
        match self.stop {
            Some((existing, _)) if existing.precedence() >= cause.precedence() => {}
            _ => self.stop = Some((cause, page)),
        }
    }
}

/// [R4](crate::rules#r4): whether obsoleting `count` objects of `live_before` exceeds the deletion
/// threshold.
pub fn exceeds_threshold(settings: &Settings, count: u64, live_before: u64) -> bool {
    match settings.deletion_threshold {
        DeletionThreshold::Count(maximum) => count > maximum,
        DeletionThreshold::Percent(percent) => {
            u128::from(count) * 100 > u128::from(percent) * u128::from(live_before)
        }
    }
}

fn record_object_error(
    part: &mut PartitionState,
    anchor: &Anchor,
    name: &str,
    description: &str,
    direction: ErrorDirection,
    here: &Occurrence,
    retry_count: u32,
) {
    let record = part
        .object_errors
        .entry(anchor.clone())
        .or_insert_with(|| ObjectErrorRecord {
            name: name.to_owned(),
            description: description.to_owned(),
            direction,
            first: here.clone(),
            last: here.clone(),
            failing_runs: 0,
            same_name_runs: 0,
            permanent: false,
        });
    let new_run = record.failing_runs == 0 || record.last.run != here.run;
    if new_run {
        record.failing_runs += 1;
        // R9 counts consecutive failures of the same code: another name starts over.
        // A new record starts at 0 with this name, so its first failure counts 1.
        record.same_name_runs = if record.name == name {
            record.same_name_runs + 1
        } else {
            1
        };
    } else if record.name != name {
        record.same_name_runs = 1;
    }
    record.permanent = record.same_name_runs >= u64::from(retry_count.max(1));
    record.name = name.to_owned();
    record.description = description.to_owned();
    record.direction = direction;
    record.last = here.clone();
}
