//! Scripted histories: what a connector returns, step by step, played synchronously through the
//! core. Pure like the core (no IO, no clock: time comes from a caller-supplied clock), so property
//! tests, the demo and the reference model share one vocabulary of steps; the tokio engine plays
//! the same steps against real or scripted connectors.

use crate::core::*;
use std::collections::BTreeMap;

/// What the connector does when asked for the next page of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportPage {
    /// It returns a page.
    Page(Page),
    /// It fails instead of returning the page.
    Fault(Fault),
}

/// One step of a scripted history: a run (import or export) or an administrator's action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A full or delta import returning these pages, in order.
    Import {
        /// Partition.
        partition: PartitionName,
        /// `FullImport` or `DeltaImport`.
        kind: RunKind,
        /// What the connector returns for each page asked.
        pages: Vec<ImportPage>,
    },
    /// Queue these changes, then run an export whose connector answers with `results`.
    Export {
        /// Partition.
        partition: PartitionName,
        /// Changes queued before the run starts.
        enqueue: Vec<ExportChange>,
        /// The connector's answer per object; objects not named succeed.
        results: BTreeMap<Anchor, ExportOutcome>,
        /// The export fails as a whole before sending anything.
        fault: Option<Fault>,
    },
    /// An administrator's action.
    Admin {
        /// A partition, or `None` for the whole connector.
        partition: Option<PartitionName>,
        /// The action.
        action: AdminAction,
    },
}

/// A whole scripted history for one connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The connector.
    pub connector: ConnectorName,
    /// The limits in force for every run.
    pub settings: Settings,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Why a step could not be played: the core refused a command or an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlayError {
    /// The decider refused a command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The fold refused an event the decider produced: a bug in the core.
    #[error(transparent)]
    Violated(#[from] Violation),
}

/// Plays steps through the core, keeping the state and the events in log order.
#[derive(Clone, Debug)]
pub struct Player {
    state: State,
    log: Vec<Envelope>,
    actor: Actor,
    clock: Timestamp,
    tick_ms: i64,
    batch_size_max: usize,
}

impl Player {
    /// A player over an empty log whose clock starts at `start` and advances `tick_ms` per event.
    pub fn new(actor: Actor, start: Timestamp, tick_ms: i64) -> Self {
        Player {
            state: State::new(),
            log: Vec::new(),
            actor,
            clock: start,
            tick_ms,
            batch_size_max: 100,
        }
    }

    /// Sets the largest export batch (default 100).
    pub fn with_batch_size_max(mut self, batch_size_max: usize) -> Self {
        self.batch_size_max = batch_size_max.max(1);
        self
    }

    /// The state folded so far.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Every event so far, in log order (the event at index `i` has sequence number `i + 1`).
    pub fn log(&self) -> &[Envelope] {
        &self.log
    }

    /// Moves the clock forward, e.g. to put a night between two runs.
    pub fn advance_clock(&mut self, milliseconds: i64) {
        self.clock = Timestamp(self.clock.0 + milliseconds);
    }

    /// Decides a command and folds its events; returns the events.
    pub fn execute(&mut self, command: &Command) -> Result<Vec<Event>, PlayError> {
        let events = decide(&self.state, command)?;
        for event in &events {
            let envelope = Envelope::new(self.clock, self.actor.clone(), event.clone());
            self.state.apply(self.state.last_seq() + 1, &envelope)?;
            self.log.push(envelope);
            self.clock = Timestamp(self.clock.0 + self.tick_ms);
        }
        Ok(events)
    }

    /// Plays every step of a script; returns the run ids of its runs in order.
    pub fn play_script(&mut self, script: &Script) -> Result<Vec<RunId>, PlayError> {
        let mut runs = Vec::new();
        for step in &script.steps {
            if let Some(run) = self.play(&script.connector, &script.settings, step)? {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// Plays one step; returns the run it made, if it was a run (started or refused).
    pub fn play(
        &mut self,
        connector: &ConnectorName,
        settings: &Settings,
        step: &Step,
    ) -> Result<Option<RunId>, PlayError> {
        match step {
            Step::Import {
                partition,
                kind,
                pages,
            } => {
                let Some(run) = self.start(connector, partition, *kind, settings)? else {
                    return Ok(Some(self.state.next_run_id().prev()));
                };
                for page in pages {
                    if self.stopped(run) {
                        break;
                    }
                    let command = match page {
                        ImportPage::Page(page) => Command::RecordPage {
                            run,
                            page: page.clone(),
                        },
                        ImportPage::Fault(fault) => Command::RecordFault {
                            run,
                            fault: fault.clone(),
                        },
                    };
                    self.execute(&command)?;
                }
                self.execute(&Command::EndRun { run })?;
                Ok(Some(run))
            }
            Step::Export {
                partition,
                enqueue,
                results,
                fault,
            } => {
                for change in enqueue {
                    self.execute(&Command::QueueExport {
                        connector: connector.clone(),
                        partition: partition.clone(),
                        change: change.clone(),
                    })?;
                }
                let Some(run) = self.start(connector, partition, RunKind::Export, settings)? else {
                    return Ok(Some(self.state.next_run_id().prev()));
                };
                if let Some(fault) = fault {
                    self.execute(&Command::RecordFault {
                        run,
                        fault: fault.clone(),
                    })?;
                }
                while !self.stopped(run) {
                    let sent = self.execute(&Command::SendExportBatch {
                        run,
                        batch_size_max: self.batch_size_max,
                    })?;
                    let Some(Event::ExportBatchSent { anchors, .. }) = sent.first() else {
                        break;
                    };
                    let answers = scripted_answers(results, anchors);
                    self.execute(&Command::RecordExportResults {
                        run,
                        results: answers,
                    })?;
                }
                self.execute(&Command::EndRun { run })?;
                Ok(Some(run))
            }
            Step::Admin { partition, action } => {
                self.execute(&Command::RecordAdminAction {
                    connector: connector.clone(),
                    partition: partition.clone(),
                    action: *action,
                })?;
                Ok(None)
            }
        }
    }

    /// Starts a run; `None` when the core refused to start it (the refusal is recorded).
    fn start(
        &mut self,
        connector: &ConnectorName,
        partition: &PartitionName,
        kind: RunKind,
        settings: &Settings,
    ) -> Result<Option<RunId>, PlayError> {
        let events = self.execute(&Command::StartRun {
            connector: connector.clone(),
            partition: partition.clone(),
            kind,
            settings: settings.clone(),
        })?;
        Ok(match events.first() {
            Some(Event::RunStarted { run, .. }) => Some(*run),
            _ => None,
        })
    }

    fn stopped(&self, run: RunId) -> bool {
        self.state.open_run(run).is_none_or(OpenRun::is_stopped)
    }
}

/// How a scripted connector answers an export batch: each object's scripted result, `success`
/// for the others, and nothing after a `custom-stop-run` (the rest of the batch gets no result
/// and stays pending).
pub fn scripted_answers<'a>(
    results: &BTreeMap<Anchor, ExportOutcome>,
    batch: impl IntoIterator<Item = &'a Anchor>,
) -> Vec<(Anchor, ExportOutcome)> {
    let mut answers = Vec::new();
    for anchor in batch {
        let outcome = results
            .get(anchor)
            .cloned()
            .unwrap_or(ExportOutcome::Success);
        let stop = matches!(outcome, ExportOutcome::CustomStopRun { .. });
        answers.push((anchor.clone(), outcome));
        if stop {
            break;
        }
    }
    answers
}

impl RunId {
    /// The id before this one (for the run a refusal just took).
    pub fn prev(self) -> RunId {
        RunId(self.0.saturating_sub(1))
    }
}
