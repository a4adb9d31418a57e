//! The decider: state + command → the events that carry it out, or a [`Rejection`].
//!
//! The decider is where the rules are *applied*: which objects of a page are staged, when a limit
//! stops a run, which watermark a run commits, whether obsoletion applies. The fold then *checks*
//! the same rules on every event, so a decider bug or a hand-made event cannot slip a broken rule
//! into the state. Events returned by one call must be folded before the next call.

use super::event::*;
use super::fold::exceeds_threshold;
use super::model::*;
use super::refusal::{AdminRefusal, CommandRefusal};
use super::rule::Rejection;
use super::state::*;
use std::collections::BTreeSet;

/// A request to the core: what the engine or an administrator wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Start a run of `kind` on a partition (or record why it cannot start).
    StartRun {
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
        /// Step.
        kind: RunKind,
        /// Limits in force.
        settings: Settings,
    },
    /// Record the next page an import read.
    RecordPage {
        /// Run.
        run: RunId,
        /// What the connector returned.
        page: Page,
    },
    /// Record that the connector failed as a whole; the run stops.
    RecordFault {
        /// Run.
        run: RunId,
        /// The fault.
        fault: Fault,
    },
    /// Pick the next batch of pending changes an export run sends, at most `batch_size_max`.
    SendExportBatch {
        /// Run.
        run: RunId,
        /// Largest batch.
        batch_size_max: usize,
    },
    /// Record the connector's results for the batch in flight.
    RecordExportResults {
        /// Run.
        run: RunId,
        /// One result per object, in the order the connector returned them.
        results: Vec<(Anchor, ExportOutcome)>,
    },
    /// Close a run: commit, decide obsoletion, end.
    EndRun {
        /// Run.
        run: RunId,
    },
    /// Close a run found in flight when the log was reopened ([R13](crate::rules#r13)).
    InterruptRun {
        /// Run.
        run: RunId,
    },
    /// Queue a change for export.
    QueueExport {
        /// Connector.
        connector: ConnectorName,
        /// Partition.
        partition: PartitionName,
        /// The change.
        change: ExportChange,
    },
    /// Record an administrator's action.
    RecordAdminAction {
        /// Connector.
        connector: ConnectorName,
        /// A partition, or `None` for the connector and all its partitions.
        partition: Option<PartitionName>,
        /// The action.
        action: AdminAction,
    },
    /// Record an administrator's action with its reason (`syncfold admin`, SPEC §8); the actor
    /// goes on the envelope. `set-watermark` and `require-full-import` are refused when their
    /// rule says so; the other actions are facts, never refused.
    Administer {
        /// Connector.
        connector: ConnectorName,
        /// A partition, or `None` for the connector and all its partitions.
        partition: Option<PartitionName>,
        /// The action.
        action: OperatorAction,
        /// The run the action names (`set-watermark`).
        run: Option<RunId>,
        /// Why.
        reason: String,
    },
}

/// Decides the events that carry out `command` on `state`. Given the command by value, a page's
/// changes move into its event; given a reference, they are copied.
pub fn decide(state: &State, command: impl Into<Command>) -> Result<Vec<Event>, Rejection> {
    match command.into() {
        Command::StartRun {
            ref connector,
            ref partition,
            kind,
            ref settings,
        } => start_run(state, connector, partition, kind, settings),
        Command::RecordPage { run, page } => record_page(state, run, page),
        Command::RecordFault { run, ref fault } => record_fault(state, run, fault),
        Command::SendExportBatch {
            run,
            batch_size_max,
        } => send_export_batch(state, run, batch_size_max),
        Command::RecordExportResults { run, ref results } => {
            record_export_results(state, run, results)
        }
        Command::EndRun { run } => end_run(state, run, false),
        Command::InterruptRun { run } => end_run(state, run, true),
        Command::QueueExport {
            connector,
            partition,
            change,
        } => Ok(vec![Event::ExportQueued {
            connector,
            partition,
            change,
        }]),
        Command::RecordAdminAction {
            ref connector,
            ref partition,
            action,
        } => record_admin_action(connector, partition.as_ref(), action),
        Command::Administer {
            connector,
            partition,
            action,
            run,
            reason,
        } => administer(state, connector, partition, action, run, reason),
    }
}

impl Command {
    /// The command's kind, as messages name it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::StartRun { .. } => "start-run",
            Command::RecordPage { .. } => "record-page",
            Command::RecordFault { .. } => "record-fault",
            Command::SendExportBatch { .. } => "send-export-batch",
            Command::RecordExportResults { .. } => "record-export-results",
            Command::EndRun { .. } => "end-run",
            Command::InterruptRun { .. } => "interrupt-run",
            Command::QueueExport { .. } => "queue-export",
            Command::RecordAdminAction { .. } => "record-admin-action",
            Command::Administer { .. } => "administer",
        }
    }
}

impl From<&Command> for Command {
    fn from(command: &Command) -> Self {
        command.clone()
    }
}

fn open_run(state: &State, run: RunId) -> Result<&OpenRun, Rejection> {
    state.open_run(run).ok_or_else(|| {
        Rejection::new(if state.run(run).is_some() {
            CommandRefusal::RunAlreadyEnded { run }
        } else {
            CommandRefusal::RunNeverStarted { run }
        })
    })
}

fn working_run(state: &State, run: RunId, import: bool) -> Result<&OpenRun, Rejection> {
    let open = open_run(state, run)?;
    if open.kind().is_import() != import {
        return Err(Rejection::new(CommandRefusal::WrongRunKind {
            run,
            kind: open.kind(),
        }));
    }
    if let Some((_, page)) = open.stop() {
        return Err(Rejection::new(CommandRefusal::RunStopped { run, page }));
    }
    Ok(open)
}

fn start_run(
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
    kind: RunKind,
    settings: &Settings,
) -> Result<Vec<Event>, Rejection> {
    let run = state.next_run_id();
    let existing = state.partition(connector, partition);
    if let Some(open) = existing.and_then(PartitionState::open_run) {
        return Err(Rejection::new(CommandRefusal::RunStillOpen {
            open,
            connector: connector.clone(),
            partition: partition.clone(),
        }));
    }
    if let Some((status, cause)) = state.refusal_for(connector, partition, kind) {
        return Ok(vec![Event::RunRefused {
            run,
            connector: connector.clone(),
            partition: partition.clone(),
            kind,
            status,
            cause,
        }]);
    }
    let start_watermark = match kind {
        RunKind::DeltaImport => existing.and_then(|p| p.committed_watermark().cloned()),
        RunKind::FullImport | RunKind::Export => None,
    };
    Ok(vec![Event::RunStarted {
        run,
        connector: connector.clone(),
        partition: partition.clone(),
        kind,
        start_watermark,
        settings: settings.clone(),
    }])
}

fn record_page(state: &State, run: RunId, page: Page) -> Result<Vec<Event>, Rejection> {
    let open = working_run(state, run, true)?;
    let number = open.pages_read() + 1;
    let Page {
        changes,
        errors,
        fatal_errors,
        watermark,
    } = page;
    let clean: Vec<ObjectChange> = if errors.is_empty() && fatal_errors.is_empty() {
        changes
    } else {
        let failed: BTreeSet<&Anchor> = errors
            .iter()
            .map(|error| &error.anchor)
            .chain(
                fatal_errors
                    .iter()
                    .filter_map(|fatal| fatal.anchor.as_ref()),
            )
            .collect();
        changes
            .into_iter()
            .filter(|change| !failed.contains(&change.anchor))
            .collect()
    };
    let settings = open.settings();
    let over = state
        .partition(open.connector(), open.partition())
        .map_or_else(
            || PartitionState::default().live_objects_over(&clean, settings.snapshot_limit),
            |part| part.live_objects_over(&clean, settings.snapshot_limit),
        );
    if let Some(live_after) = over {
        // R11: stop before staging the page that would exceed the limit.
        return Ok(vec![Event::LimitReached {
            run,
            page: number,
            limit: LimitKind::Snapshot,
            count: live_after,
            maximum: settings.snapshot_limit,
        }]);
    }
    let errors_after = open.counts().errors + errors.len() as u64 + fatal_errors.len() as u64;
    let mut events = Vec::with_capacity(errors.len() + fatal_errors.len() + 2);
    events.extend(
        errors
            .into_iter()
            .map(|error| Event::DiscoveryErrorRecorded {
                run,
                page: number,
                error,
            }),
    );
    events.extend(
        fatal_errors
            .into_iter()
            .map(|error| Event::FatalImportErrorRecorded {
                run,
                page: number,
                error,
            }),
    );
    events.push(Event::PageRead {
        run,
        page: number,
        changes: clean,
        proposed_watermark: watermark,
    });
    if errors_after > settings.max_errors {
        events.push(Event::LimitReached {
            run,
            page: number,
            limit: LimitKind::Errors,
            count: errors_after,
            maximum: settings.max_errors,
        });
    }
    Ok(events)
}

fn record_fault(state: &State, run: RunId, fault: &Fault) -> Result<Vec<Event>, Rejection> {
    let open = open_run(state, run)?;
    let open = working_run(state, run, open.kind().is_import())?;
    let page = open.kind().is_import().then(|| open.pages_read() + 1);
    Ok(vec![Event::FaultRecorded {
        run,
        page,
        fault: fault.clone(),
    }])
}

fn send_export_batch(
    state: &State,
    run: RunId,
    batch_size_max: usize,
) -> Result<Vec<Event>, Rejection> {
    let open = working_run(state, run, false)?;
    if !open.awaiting().is_empty() {
        return Err(Rejection::new(CommandRefusal::ResultsAwaited {
            run,
            awaiting: open.awaiting().len(),
        }));
    }
    let anchors = state
        .partition(open.connector(), open.partition())
        .map(|part| {
            part.exports()
                .eligible(open.export_cutoff, &open.sent, batch_size_max)
        })
        .unwrap_or_default();
    if anchors.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Event::ExportBatchSent { run, anchors }])
}

fn record_export_results(
    state: &State,
    run: RunId,
    results: &[(Anchor, ExportOutcome)],
) -> Result<Vec<Event>, Rejection> {
    let open = working_run(state, run, false)?;
    let mut answered = BTreeSet::new();
    for (anchor, outcome) in results {
        if !open.awaiting().contains(anchor) {
            return Err(Rejection::new(CommandRefusal::ResultNotAwaited {
                run,
                anchor: anchor.clone(),
            }));
        }
        if let ExportOutcome::ProvisioningParent { parent } = outcome {
            if parent == anchor {
                return Err(Rejection::new(CommandRefusal::OwnParent {
                    run,
                    anchor: anchor.clone(),
                }));
            }
        }
        if !answered.insert(anchor) {
            return Err(Rejection::new(CommandRefusal::DuplicateResult {
                run,
                anchor: anchor.clone(),
            }));
        }
    }
    let stopped = results
        .iter()
        .any(|(_, outcome)| matches!(outcome, ExportOutcome::CustomStopRun { .. }));
    if !stopped && answered.len() != open.awaiting().len() {
        let missing: Vec<&Anchor> = open
            .awaiting()
            .iter()
            .filter(|anchor| !answered.contains(anchor))
            .collect();
        return Err(Rejection::new(CommandRefusal::ResultsMissing {
            run,
            missing: missing.len(),
            first: missing.first().map(|anchor| (*anchor).clone()),
        }));
    }
    let mut events: Vec<Event> = results
        .iter()
        .map(|(anchor, outcome)| Event::ExportResultRecorded {
            run,
            anchor: anchor.clone(),
            outcome: outcome.clone(),
        })
        .collect();
    let counts = open.counts();
    let errors = counts.errors
        + results
            .iter()
            .filter(|(_, outcome)| {
                matches!(
                    outcome,
                    ExportOutcome::CustomContinueRun { .. } | ExportOutcome::CustomStopRun { .. }
                )
            })
            .count() as u64;
    let warnings = counts.warnings
        + results
            .iter()
            .filter(|(_, outcome)| {
                matches!(
                    outcome,
                    ExportOutcome::ConvertUpdateToAdd
                        | ExportOutcome::ProvisioningParent { .. }
                        | ExportOutcome::RetryReferenceAttribute
                )
            })
            .count() as u64;
    let settings = open.settings();
    if errors > settings.max_errors {
        events.push(Event::LimitReached {
            run,
            page: 0,
            limit: LimitKind::Errors,
            count: errors,
            maximum: settings.max_errors,
        });
    } else if warnings > settings.max_warnings {
        events.push(Event::LimitReached {
            run,
            page: 0,
            limit: LimitKind::Warnings,
            count: warnings,
            maximum: settings.max_warnings,
        });
    }
    Ok(events)
}

fn end_run(state: &State, run: RunId, interrupted: bool) -> Result<Vec<Event>, Rejection> {
    let open = open_run(state, run)?;
    let part = state
        .partition(open.connector(), open.partition())
        .ok_or_else(|| Rejection::new(CommandRefusal::RunWithoutPartition { run }))?;
    let mut events = Vec::new();
    let mut counts = open.counts();
    let mut status = open.expected_status();
    let mut committed = part.committed_watermark().cloned();

    if interrupted {
        events.push(Event::RunInterrupted { run });
        status = RunStatus::Interrupted;
        if open.kind() == RunKind::FullImport && open.obsoletion.is_none() {
            events.push(Event::ObsoletionSkipped {
                run,
                reason: if counts.errors > 0 {
                    SkipReason::ImportErrors
                } else {
                    SkipReason::RunStopped
                },
            });
        }
    } else {
        if open.kind() == RunKind::Export && open.stop().is_none() {
            if !open.awaiting().is_empty() {
                return Err(Rejection::new(CommandRefusal::ResultsAwaited {
                    run,
                    awaiting: open.awaiting().len(),
                }));
            }
            if !part
                .exports()
                .eligible(open.export_cutoff, &open.sent, 1)
                .is_empty()
            {
                return Err(Rejection::new(CommandRefusal::PendingLeft { run }));
            }
        }
        if !open.committed {
            if let Some(watermark) = open.watermark_to_commit() {
                events.push(Event::WatermarkCommitted {
                    run,
                    watermark: watermark.clone(),
                });
                committed = Some(watermark.clone());
            }
        }
        if open.kind() == RunKind::FullImport && open.obsoletion.is_none() {
            if open.is_clean() {
                let anchors = part.unseen_live_objects(run);
                if exceeds_threshold(open.settings(), anchors.len() as u64, open.live_at_start) {
                    events.push(Event::ObsoletionHeld { run, anchors });
                    status = RunStatus::StoppedDeletionThresholdExceeded;
                } else {
                    counts.obsoleted = anchors.len() as u64;
                    events.push(Event::ObsoletionApplied { run, anchors });
                }
            } else {
                events.push(Event::ObsoletionSkipped {
                    run,
                    reason: if counts.errors > 0 {
                        SkipReason::ImportErrors
                    } else {
                        SkipReason::RunStopped
                    },
                });
            }
        }
    }
    events.push(Event::RunEnded {
        run,
        status,
        counts,
        committed_watermark: committed,
    });
    Ok(events)
}

fn record_admin_action(
    connector: &ConnectorName,
    partition: Option<&PartitionName>,
    action: AdminAction,
) -> Result<Vec<Event>, Rejection> {
    // An action is a fact even when it changes nothing (approving with nothing held): it is
    // recorded, never refused, so a postmortem sees what the administrator did.
    Ok(vec![Event::AdminActionRecorded {
        connector: connector.clone(),
        partition: partition.cloned(),
        action,
    }])
}

/// SPEC §8: checks a partition action against the state, as the fold re-checks it.
fn administer(
    state: &State,
    connector: ConnectorName,
    partition: Option<PartitionName>,
    action: OperatorAction,
    run: Option<RunId>,
    reason: String,
) -> Result<Vec<Event>, Rejection> {
    if action.needs_partition() {
        let Some(name) = partition.as_ref() else {
            return Err(Rejection::new(CommandRefusal::Administrator(
                AdminRefusal::NoPartition { action },
            )));
        };
        let Some(part) = state.partition(&connector, name) else {
            return Err(Rejection::new(CommandRefusal::Administrator(
                AdminRefusal::UnknownPartition {
                    action,
                    connector,
                    partition: name.clone(),
                },
            )));
        };
        if action == OperatorAction::SetWatermark {
            let Some(run) = run else {
                return Err(Rejection::new(CommandRefusal::Administrator(
                    AdminRefusal::SetWatermarkWithoutRun {
                        partition: name.clone(),
                    },
                )));
            };
            if let Some(open) = part.open_run() {
                return Err(Rejection::new(CommandRefusal::Administrator(
                    AdminRefusal::SetWatermarkDuringRun {
                        partition: name.clone(),
                        open,
                    },
                )));
            }
            let committed = state.run(run).is_some_and(|record| {
                record.connector == connector
                    && &record.partition == name
                    && record.commit.is_some()
            });
            if !committed {
                return Err(Rejection::new(CommandRefusal::Administrator(
                    AdminRefusal::SetWatermarkNotCommitted {
                        run,
                        partition: name.clone(),
                    },
                )));
            }
        }
    }
    // Only set-watermark names a run; a run given with another action is not recorded.
    let run = if action == OperatorAction::SetWatermark {
        run
    } else {
        None
    };
    Ok(vec![Event::AdministratorActed {
        connector,
        partition,
        action,
        run,
        reason,
    }])
}
