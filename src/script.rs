//! Scripted histories: what a connector returns, step by step, played synchronously through the
//! core. Pure like the core (no IO, no clock: time comes from a caller-supplied clock), so property
//! tests, the demo and the reference model share one vocabulary of steps; the tokio engine plays
//! the same steps against real or scripted connectors.
//!
//! Public for the command line, the test kit and tests; an embedder drives the
//! [`Engine`](crate::engine::Engine) or the log ([`crate::log`]'s run API) instead.

use crate::core::*;
use std::collections::{BTreeMap, BTreeSet};

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
#[non_exhaustive]
pub enum PlayError {
    /// The decider refused a command.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The fold refused an event the decider produced: a bug in the core.
    #[error(transparent)]
    Violated(#[from] Violation),
    /// The run machine was answered out of turn: a bug in the player.
    #[error(transparent)]
    OutOfTurn(#[from] Unexpected),
}

/// What a scripted connector answers for one step: the pages of an import, or the results (and
/// the fault) of an export. Pure, so the [`Player`] and the engine's scenario connector answer
/// from the same script the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptedAnswers {
    pages: Vec<ImportPage>,
    results: BTreeMap<Anchor, ExportOutcome>,
    fault: Option<Fault>,
    /// The objects the run handed to the connector so far.
    sent: BTreeSet<Anchor>,
    /// The objects the connector answered so far.
    answered: BTreeSet<Anchor>,
}

/// Why a scripted export result was never used: what the run did instead of sending its object
/// and hearing the scripted answer (see [`ScriptedAnswers::unused`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnusedResult {
    /// The run did not start (it ended with this `no-start-*` status), so it sent nothing.
    NotStarted(RunStatus),
    /// The object was not pending on the partition when the run started: never queued, or
    /// already exported by an earlier run.
    NotPending(PartitionName),
    /// The object was pending but the run stopped (with this status) before sending it; it stays
    /// pending for the next export run.
    StoppedFirst(RunStatus),
    /// The object was sent in the batch that an earlier object's `custom-stop-run` stopped, so
    /// the connector never answered it.
    Unanswered,
}

impl UnusedResult {
    /// The whole sentence for the result for `anchor`: what happened, then the remedy.
    pub fn sentence(&self, anchor: &Anchor) -> String {
        let anchor = anchor.as_str();
        match self {
            UnusedResult::NotStarted(status) => format!(
                "export result for `{anchor}`, which this export run did not send; the run did \
                 not start ({status}): remove the result, or the steps that keep the run from \
                 starting"
            ),
            UnusedResult::NotPending(partition) => format!(
                "export result for `{anchor}`, which this export run did not send; it is not \
                 pending on partition {:?} when the run starts (never queued, or already \
                 exported by an earlier run): queue it with `enqueue` in this or an earlier \
                 export step, or remove the result",
                partition.as_str()
            ),
            UnusedResult::StoppedFirst(status) => format!(
                "export result for `{anchor}`, which this export run did not send; the run \
                 stopped ({status}) before sending it, so it stays pending: move the result to \
                 the next export step, or remove it"
            ),
            UnusedResult::Unanswered => format!(
                "export result for `{anchor}`, which this export run sent but the connector \
                 never answered; an earlier object's custom-stop-run in the same batch stopped \
                 the run first, so `{anchor}` stays pending: move the result to the next export \
                 step, or remove it"
            ),
        }
    }
}

impl Step {
    /// What the step means for a pump: the commands carried out before its run (the changes an
    /// export queues, or the administrator's action), and the run's plan (`None` for an
    /// administrator's step). The player and any other pump of a script share this reading.
    pub fn prepare(
        &self,
        connector: &ConnectorName,
        settings: &Settings,
    ) -> (Vec<Command>, Option<RunPlan>) {
        let plan = |partition: &PartitionName, kind| {
            Some(RunPlan::new(
                connector.clone(),
                partition.clone(),
                kind,
                settings.clone(),
            ))
        };
        match self {
            Step::Import {
                partition, kind, ..
            } => (Vec::new(), plan(partition, *kind)),
            Step::Export {
                partition, enqueue, ..
            } => {
                let queue = enqueue
                    .iter()
                    .map(|change| Command::QueueExport {
                        connector: connector.clone(),
                        partition: partition.clone(),
                        change: change.clone(),
                    })
                    .collect();
                (queue, plan(partition, RunKind::Export))
            }
            Step::Admin { partition, action } => {
                let admin = Command::RecordAdminAction {
                    connector: connector.clone(),
                    partition: partition.clone(),
                    action: *action,
                };
                (vec![admin], None)
            }
        }
    }
}

impl ScriptedAnswers {
    /// The answers a step scripts (an administrator's step scripts none).
    pub fn of(step: &Step) -> Self {
        match step {
            Step::Import { pages, .. } => ScriptedAnswers {
                pages: pages.clone(),
                ..Self::default()
            },
            Step::Export { results, fault, .. } => ScriptedAnswers {
                results: results.clone(),
                fault: fault.clone(),
                ..Self::default()
            },
            Step::Admin { .. } => Self::default(),
        }
    }

    /// Opening the session: an export's scripted fault fails it (once).
    pub fn open(&mut self) -> Result<(), Fault> {
        self.fault.take().map_or(Ok(()), Err)
    }

    /// Page `page` (from 1): the scripted page or fault, or the end of the import.
    pub fn page(&self, page: u64) -> PageAnswer {
        let index = usize::try_from(page.saturating_sub(1)).unwrap_or(usize::MAX);
        match self.pages.get(index) {
            None => Ok(None),
            Some(ImportPage::Page(page)) => Ok(Some(page.clone())),
            Some(ImportPage::Fault(fault)) => Err(fault.clone()),
        }
    }

    /// The results for an export batch (see [`scripted_answers`]).
    pub fn export(&mut self, batch: &[ExportChange]) -> Vec<(Anchor, ExportOutcome)> {
        let answers = scripted_answers(&self.results, batch.iter().map(|change| &change.anchor));
        self.sent
            .extend(batch.iter().map(|change| change.anchor.clone()));
        self.answered
            .extend(answers.iter().map(|(anchor, _)| anchor.clone()));
        answers
    }

    /// The scripted export results the run has not used so far, in anchor order, with why:
    /// `record` is the run as it ended, `pending` the objects pending on its partition when it
    /// started. A scenario's results must all be used (docs/SEMANTICS.md).
    pub fn unused(
        &self,
        record: &crate::core::RunRecord,
        pending: &BTreeSet<Anchor>,
    ) -> Vec<(Anchor, UnusedResult)> {
        self.results
            .keys()
            .filter(|anchor| !self.answered.contains(*anchor))
            .map(|anchor| {
                let status = record.status.unwrap_or(RunStatus::Interrupted);
                let why = if record.refusal.is_some() {
                    UnusedResult::NotStarted(status)
                } else if self.sent.contains(anchor) {
                    UnusedResult::Unanswered
                } else if !pending.contains(anchor) {
                    UnusedResult::NotPending(record.partition.clone())
                } else {
                    UnusedResult::StoppedFirst(status)
                };
                (anchor.clone(), why)
            })
            .collect()
    }
}

/// Plays steps through the core, keeping the state and the events in log order. Each run is a
/// [`RunMachine`] pumped synchronously: every action is carried out at once, with the script's
/// answers for the connector.
#[derive(Clone, Debug)]
pub struct Player {
    state: State,
    log: Vec<Envelope>,
    /// Where each command's events end in `log` (exclusive), in order.
    commands: Vec<usize>,
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
            commands: Vec::new(),
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

    /// The events of each command executed so far, in log order: what a log appends, and
    /// flushes after when [`needs_flush`] says so, for one command.
    pub fn commands(&self) -> impl Iterator<Item = &[Envelope]> + '_ {
        let mut start = 0;
        self.commands.iter().map(move |&end| {
            let events = self.log.get(start..end).unwrap_or_default();
            start = end;
            events
        })
    }

    /// The time the next event will carry.
    pub fn clock(&self) -> Timestamp {
        self.clock
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
        if !events.is_empty() {
            self.commands.push(self.log.len());
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
        let (before, plan) = step.prepare(connector, settings);
        for command in &before {
            self.execute(command)?;
        }
        let Some(mut plan) = plan else {
            return Ok(None);
        };
        plan.batch_size_max = self.batch_size_max;
        self.run(plan, ScriptedAnswers::of(step)).map(Some)
    }

    /// Pumps one run's machine to its end, answering for the connector from the script.
    pub fn run(&mut self, plan: RunPlan, mut answers: ScriptedAnswers) -> Result<RunId, PlayError> {
        self.run_with(plan, &mut answers)
    }

    /// [`Player::run`], keeping the answers so the caller can ask which were used
    /// ([`ScriptedAnswers::unused`]).
    pub fn run_with(
        &mut self,
        plan: RunPlan,
        answers: &mut ScriptedAnswers,
    ) -> Result<RunId, PlayError> {
        let mut machine = RunMachine::new(plan);
        while let Some(action) = machine.poll() {
            match action {
                Action::Execute(command) => match self.execute(&command) {
                    Ok(events) => machine.executed(&Executed::new(&self.state, events))?,
                    Err(PlayError::Rejected(rejection)) => machine.refused(rejection)?,
                    Err(error) => return Err(error),
                },
                Action::Open { .. } => machine.opened(answers.open())?,
                Action::ReadPage { page, .. } => machine.page_read(answers.page(page))?,
                Action::Export { changes } => machine.exported(Ok(answers.export(&changes)))?,
                Action::Close => machine.closed()?,
                Action::Finished { run, .. } => return Ok(run),
            }
        }
        Err(PlayError::OutOfTurn(Unexpected {
            input: "nothing",
            phase: "waiting for an answer the player never gives",
        }))
    }
}

/// The objects pending export on a partition of `state`, the `pending` that
/// [`ScriptedAnswers::unused`] takes.
pub fn pending_anchors(
    state: &State,
    connector: &ConnectorName,
    partition: &PartitionName,
) -> BTreeSet<Anchor> {
    state
        .partition(connector, partition)
        .map(|part| {
            part.exports()
                .in_order()
                .map(|entry| entry.change.anchor.clone())
                .collect()
        })
        .unwrap_or_default()
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
