//! The run machine: one run of a connector, from start to end, as a sans-IO state machine.
//!
//! The machine decides *what happens next* in a run and nothing else: it does no IO, keeps no
//! clock and calls no connector. A shell (the synchronous `script::Player`, the tokio
//! `engine::Engine`, an embedder's own loop) pumps it:
//!
//! 1. take every [`Action`] from [`RunMachine::poll`] until it returns `None`;
//! 2. carry them out (an action may overlap the other one of the same drain: a page read while
//!    the previous page is recorded);
//! 3. hand each answer back ([`RunMachine::executed`], [`RunMachine::page_read`], …), and go to 1.
//!
//! A drain holds at most one [`Action::Execute`] and at most one connector call, so "carry them
//! out" is at most two things at once. The rules themselves stay in [`decide`](super::decide)
//! and the fold: the machine only sequences commands, and learns what they did from
//! [`Executed`], which is read from the state after the fold. The flush policy is not the
//! machine's either: [`needs_flush`] says which commands the log makes durable before it answers,
//! and the log applies it to every command it executes, run or not.

use super::decide::Command;
use super::event::Event;
use super::model::*;
use super::rule::Rejection;
use super::state::{OpenRun, RunRecord, State};
use std::collections::VecDeque;

/// Whether the log must be flushed (made durable) before the command that decided `events` is
/// answered ([R13](crate::rules#r13)): it committed a watermark, ended or refused a run, or
/// recorded an
/// administrator's action ([`Event::is_commit_point`]). The one flush policy: the log applies it
/// to every command, so the engine, the player writing into a log and an embedder's loop flush at
/// the same points.
pub fn needs_flush<'a>(events: impl IntoIterator<Item = &'a Event>) -> bool {
    events.into_iter().any(Event::is_commit_point)
}

/// What a run needs to know before it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPlan {
    /// The connector.
    pub connector: ConnectorName,
    /// The partition.
    pub partition: PartitionName,
    /// Full import, delta import or export.
    pub kind: RunKind,
    /// The limits in force for this run.
    pub settings: Settings,
    /// Largest export batch handed to the connector (at least 1).
    pub batch_size_max: usize,
    /// Most pages one import may read; a connector that returns more is faulted as a
    /// `connector-exception` (a connector that never ends is a connector bug).
    pub pages_max: u64,
    /// Whether an import reads page n+1 while page n is recorded. When page n stops the run, the
    /// page read ahead is dropped unrecorded (a read has no effect to undo).
    pub read_ahead: bool,
}

impl RunPlan {
    /// A plan with the engine's defaults: batches of 100, at most 10,000,000 pages, read-ahead.
    pub fn new(
        connector: ConnectorName,
        partition: PartitionName,
        kind: RunKind,
        settings: Settings,
    ) -> Self {
        RunPlan {
            connector,
            partition,
            kind,
            settings,
            batch_size_max: 100,
            pages_max: 10_000_000,
            read_ahead: true,
        }
    }
}

/// What the shell must do next. Deliberately not `#[non_exhaustive]`: a pump must carry out every
/// action, so a new one is a breaking change that the compiler points out in every pump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Decide this command against the state, fold and append its events, then hand the result
    /// to [`RunMachine::executed`] (or a refusal to [`RunMachine::refused`]).
    Execute(Command),
    /// Open the connector's session for run `run`; then [`RunMachine::opened`].
    Open {
        /// The run the log started.
        run: RunId,
        /// Where a delta import starts reading (the committed watermark), if anywhere.
        start_watermark: Option<Watermark>,
    },
    /// Ask the connector for import page `page` (from 1), continuing after `watermark`; then
    /// [`RunMachine::page_read`].
    ReadPage {
        /// The page number.
        page: u64,
        /// The watermark of the last page read (the start watermark before the first).
        watermark: Option<Watermark>,
    },
    /// Hand these changes to the connector; then [`RunMachine::exported`].
    Export {
        /// The batch the log just recorded as sent, in queue order.
        changes: Vec<ExportChange>,
    },
    /// Close the connector's session (its outcome does not change the run's); then
    /// [`RunMachine::closed`].
    Close,
    /// The run is over: ended, or refused before it started. Its record is in the state.
    Finished {
        /// The run.
        run: RunId,
        /// Whether it started (`false`: refused, `no-start-*`).
        started: bool,
    },
}

/// What a command did, as the machine needs to know it. Built from the state right after the
/// command's events were folded ([`Executed::new`]), so a shell whose state lives elsewhere (the
/// engine's log-writer thread) sends this instead of the state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Executed {
    /// The events the command decided, in log order.
    pub events: Vec<Event>,
    /// Whether the run they belong to has stopped (a fault, a limit, a stop-run result) or is no
    /// longer open.
    pub run_stopped: bool,
    /// For an export batch: the changes it sends, looked up in the partition's queue.
    pub batch: Vec<ExportChange>,
    /// For a run's end or refusal: the run as the history now shows it.
    pub record: Option<RunRecord>,
}

impl Executed {
    /// Reads what `events` did from `state`, the state right after they were folded.
    pub fn new(state: &State, events: Vec<Event>) -> Self {
        let run = events.first().and_then(Event::run);
        let run_stopped =
            run.is_some_and(|run| state.open_run(run).is_none_or(OpenRun::is_stopped));
        let batch = match events.first() {
            Some(Event::ExportBatchSent { run, anchors }) => state
                .run(*run)
                .and_then(|record| state.partition(&record.connector, &record.partition))
                .map(|partition| {
                    anchors
                        .iter()
                        .filter_map(|anchor| partition.exports().get(anchor))
                        .map(|entry| entry.change.clone())
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let record = match events.last() {
            Some(Event::RunEnded { run, .. } | Event::RunRefused { run, .. }) => {
                state.run(*run).cloned()
            }
            _ => None,
        };
        Executed {
            events,
            run_stopped,
            batch,
            record,
        }
    }
}

/// The machine answered an input it did not expect in its current phase: a bug of the shell
/// driving it (answering twice, answering an action never asked for).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the run machine did not expect {input} while {phase}")]
pub struct Unexpected {
    /// What the shell handed in.
    pub input: &'static str,
    /// What the machine was waiting for.
    pub phase: &'static str,
}

/// Where the run stands, between two inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// `StartRun` is executing.
    Starting,
    /// The connector's session is opening.
    Opening,
    /// An import is reading and recording pages.
    Importing,
    /// An export is sending a batch, waiting for the connector, or recording its results.
    Exporting,
    /// The run stopped (or has nothing more to do) and waits for the connector call still in
    /// flight before closing.
    Draining,
    /// The connector's session is closing.
    Closing,
    /// `EndRun` is executing.
    Ending,
    /// Over.
    Finished,
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Starting => "starting the run",
            Phase::Opening => "opening the connector",
            Phase::Importing => "importing",
            Phase::Exporting => "exporting",
            Phase::Draining => "waiting for the last connector call",
            Phase::Closing => "closing the connector",
            Phase::Ending => "ending the run",
            Phase::Finished => "finished",
        }
    }
}

/// An answer of the connector to an import page request.
pub type PageAnswer = Result<Option<Page>, Fault>;

/// One run, from `StartRun` to `RunEnded` (or `RunRefused`), as a sans-IO state machine. See the
/// module documentation for the pumping rule.
#[derive(Clone, Debug)]
pub struct RunMachine {
    plan: RunPlan,
    phase: Phase,
    run: Option<RunId>,
    started: bool,
    actions: VecDeque<Action>,
    /// A command is executing (at most one at a time).
    executing: bool,
    /// A connector call is in flight (at most one at a time).
    calling: bool,
    /// The watermark the next page is read after.
    watermark: Option<Watermark>,
    /// The page the last `ReadPage` asked for.
    asked: u64,
    /// The page being recorded, if a `RecordPage` is executing.
    recording: Option<u64>,
    /// A page answer that arrived while the previous page was still being recorded.
    waiting: Option<(u64, PageAnswer)>,
    /// The command executing records an export batch's results (not: sends a batch).
    recording_results: bool,
}

impl RunMachine {
    /// A machine for one run; its first action is `Execute(StartRun)`.
    pub fn new(plan: RunPlan) -> Self {
        let start = Command::StartRun {
            connector: plan.connector.clone(),
            partition: plan.partition.clone(),
            kind: plan.kind,
            settings: plan.settings.clone(),
        };
        RunMachine {
            plan,
            phase: Phase::Starting,
            run: None,
            started: false,
            actions: VecDeque::from([Action::Execute(start)]),
            executing: true,
            calling: false,
            watermark: None,
            asked: 0,
            recording: None,
            waiting: None,
            recording_results: false,
        }
    }

    /// The next thing to do, or `None` until an answer comes back.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The run's id, once the log started (or refused) it.
    pub fn run(&self) -> Option<RunId> {
        self.run
    }

    /// The plan this machine runs.
    pub fn plan(&self) -> &RunPlan {
        &self.plan
    }

    /// Whether the run is over ([`Action::Finished`] was issued).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The last [`Action::Execute`] was carried out.
    pub fn executed(&mut self, executed: &Executed) -> Result<(), Unexpected> {
        if !self.executing {
            return Err(self.unexpected("a command's result"));
        }
        self.executing = false;
        match self.phase {
            Phase::Starting => match executed.events.first() {
                Some(Event::RunStarted {
                    run,
                    start_watermark,
                    ..
                }) => {
                    self.run = Some(*run);
                    self.started = true;
                    self.watermark.clone_from(start_watermark);
                    self.phase = Phase::Opening;
                    self.call(Action::Open {
                        run: *run,
                        start_watermark: start_watermark.clone(),
                    });
                }
                Some(Event::RunRefused { run, .. }) => {
                    self.run = Some(*run);
                    self.finish();
                }
                _ => return Err(self.unexpected("a start that neither started nor refused")),
            },
            Phase::Importing => {
                let recorded = self.recording.take();
                if executed.run_stopped {
                    self.waiting = None;
                    self.drain();
                } else if recorded.is_some_and(|page| page >= self.plan.pages_max) {
                    let most = self.plan.pages_max;
                    self.stop_with(Fault {
                        kind: FaultKind::ConnectorException,
                        message: format!(
                            "the connector returned more than {most} pages in one run"
                        ),
                    });
                } else if !self.calling && self.waiting.is_none() {
                    // No read ahead: ask for the next page now.
                    self.read_next();
                } else {
                    self.take_waiting();
                }
            }
            Phase::Exporting => {
                let results_recorded = std::mem::take(&mut self.recording_results);
                if executed.run_stopped {
                    self.drain();
                } else if results_recorded {
                    self.send_batch();
                } else if executed.batch.is_empty() {
                    // Nothing left to send.
                    self.drain();
                } else {
                    self.call(Action::Export {
                        changes: executed.batch.clone(),
                    });
                }
            }
            // A fault recorded while draining (`stop_with`): the run has stopped.
            Phase::Draining => self.drain(),
            Phase::Ending => self.finish(),
            Phase::Opening | Phase::Closing | Phase::Finished => {
                return Err(self.unexpected("a command's result"))
            }
        }
        Ok(())
    }

    /// The last [`Action::Execute`] was refused by the decider. The machine turns a refusal of
    /// the connector's export results (answers for objects not in the batch: a connector bug)
    /// into a `connector-exception` fault; any other refusal is the shell's to report, and is
    /// handed back.
    pub fn refused(&mut self, rejection: Rejection) -> Result<(), Rejection> {
        if self.executing && self.phase == Phase::Exporting && self.recording_results {
            self.executing = false;
            self.recording_results = false;
            self.stop_with(Fault {
                kind: FaultKind::ConnectorException,
                message: format!(
                    "the connector's export results were refused: {}",
                    rejection.detail()
                ),
            });
            return Ok(());
        }
        Err(rejection)
    }

    /// The connector's session opened, or failed to (the run records the fault and stops).
    pub fn opened(&mut self, answer: Result<(), Fault>) -> Result<(), Unexpected> {
        if self.phase != Phase::Opening || !self.calling {
            return Err(self.unexpected("the connector's open"));
        }
        self.calling = false;
        match answer {
            Err(fault) => self.stop_with(fault),
            Ok(()) if self.plan.kind.is_import() => {
                self.phase = Phase::Importing;
                self.read_next();
            }
            Ok(()) => {
                self.phase = Phase::Exporting;
                self.send_batch();
            }
        }
        Ok(())
    }

    /// The connector answered the last [`Action::ReadPage`]: a page, the end of the import
    /// (`Ok(None)`), or a fault.
    pub fn page_read(&mut self, answer: PageAnswer) -> Result<(), Unexpected> {
        if !self.calling || !matches!(self.phase, Phase::Importing | Phase::Draining) {
            return Err(self.unexpected("a page"));
        }
        self.calling = false;
        if self.phase == Phase::Draining {
            // Read ahead of a page that stopped the run: dropped unrecorded.
            self.drain();
            return Ok(());
        }
        self.waiting = Some((self.asked, answer));
        if !self.executing {
            self.take_waiting();
        }
        Ok(())
    }

    /// The connector answered the last [`Action::Export`] with one outcome per object (objects
    /// it did not answer stay pending), or failed as a whole.
    pub fn exported(
        &mut self,
        answer: Result<Vec<(Anchor, ExportOutcome)>, Fault>,
    ) -> Result<(), Unexpected> {
        if !self.calling || self.phase != Phase::Exporting {
            return Err(self.unexpected("export results"));
        }
        self.calling = false;
        match (answer, self.run) {
            (Ok(results), Some(run)) => {
                self.recording_results = true;
                self.execute(Command::RecordExportResults { run, results });
            }
            (Err(fault), _) => self.stop_with(fault),
            (Ok(_), None) => return Err(self.unexpected("export results")),
        }
        Ok(())
    }

    /// The connector's session is closed; the run ends.
    pub fn closed(&mut self) -> Result<(), Unexpected> {
        if self.phase != Phase::Closing || !self.calling {
            return Err(self.unexpected("the connector's close"));
        }
        self.calling = false;
        match self.run {
            Some(run) => {
                self.phase = Phase::Ending;
                self.execute(Command::EndRun { run });
                Ok(())
            }
            None => Err(self.unexpected("the connector's close")),
        }
    }

    fn unexpected(&self, input: &'static str) -> Unexpected {
        Unexpected {
            input,
            phase: self.phase.name(),
        }
    }

    fn execute(&mut self, command: Command) {
        debug_assert!(!self.executing, "one command at a time");
        self.executing = true;
        self.actions.push_back(Action::Execute(command));
    }

    fn call(&mut self, action: Action) {
        debug_assert!(!self.calling, "one connector call at a time");
        self.calling = true;
        self.actions.push_back(action);
    }

    fn read_next(&mut self) {
        self.asked += 1;
        let action = Action::ReadPage {
            page: self.asked,
            watermark: self.watermark.clone(),
        };
        self.call(action);
    }

    fn send_batch(&mut self) {
        if let Some(run) = self.run {
            let batch_size_max = self.plan.batch_size_max.max(1);
            self.execute(Command::SendExportBatch {
                run,
                batch_size_max,
            });
        }
    }

    /// Records the page answer that waited for the previous page's record, if any.
    fn take_waiting(&mut self) {
        let Some((number, answer)) = self.waiting.take() else {
            return;
        };
        let (Some(run), true) = (self.run, self.phase == Phase::Importing) else {
            return;
        };
        match answer {
            Ok(None) => self.drain(),
            Err(fault) => self.stop_with(fault),
            Ok(Some(page)) => {
                if page.watermark.is_some() {
                    self.watermark.clone_from(&page.watermark);
                }
                self.recording = Some(number);
                self.execute(Command::RecordPage { run, page });
                if self.plan.read_ahead && number < self.plan.pages_max {
                    self.read_next();
                }
            }
        }
    }

    /// Records a fault; the run stops, and closes once it is recorded.
    fn stop_with(&mut self, fault: Fault) {
        let Some(run) = self.run else { return };
        self.phase = Phase::Draining;
        self.execute(Command::RecordFault { run, fault });
    }

    /// The run has nothing more to do: once no command and no connector call is in flight, the
    /// connector's session closes.
    fn drain(&mut self) {
        self.phase = Phase::Draining;
        if !self.executing && !self.calling {
            self.phase = Phase::Closing;
            self.call(Action::Close);
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Finished;
        if let Some(run) = self.run {
            self.actions.push_back(Action::Finished {
                run,
                started: self.started,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{decide, Actor, Envelope};

    /// Pumps a machine through the core with scripted answers; returns the actions it asked for.
    fn pump(plan: RunPlan, pages: &[PageAnswer], state: &mut State) -> Vec<&'static str> {
        let mut machine = RunMachine::new(plan);
        let mut asked = Vec::new();
        let mut guard = 0;
        while asked.last() != Some(&"finished") {
            guard += 1;
            assert!(guard < 1000, "the machine does not finish");
            let mut drained = Vec::new();
            while let Some(action) = machine.poll() {
                drained.push(action);
            }
            assert!(!drained.is_empty(), "a machine that waits for nothing");
            for action in drained {
                match action {
                    Action::Execute(command) => {
                        asked.push("execute");
                        let events = decide(state, &command).expect("accepted");
                        for event in &events {
                            let envelope =
                                Envelope::new(Timestamp(0), Actor::from_name("t"), event.clone());
                            state.apply(state.last_seq() + 1, &envelope).expect("valid");
                        }
                        machine
                            .executed(&Executed::new(state, events))
                            .expect("expected");
                    }
                    Action::Open { .. } => {
                        asked.push("open");
                        machine.opened(Ok(())).expect("expected");
                    }
                    Action::ReadPage { page, .. } => {
                        asked.push("read");
                        let answer = pages.get(page as usize - 1).cloned().unwrap_or(Ok(None));
                        machine.page_read(answer).expect("expected");
                    }
                    Action::Export { .. } => {
                        asked.push("export");
                        machine.exported(Ok(Vec::new())).expect("expected");
                    }
                    Action::Close => {
                        asked.push("close");
                        machine.closed().expect("expected");
                    }
                    Action::Finished { .. } => asked.push("finished"),
                }
            }
        }
        asked
    }

    fn plan(kind: RunKind) -> RunPlan {
        RunPlan::new("c".into(), "p".into(), kind, Settings::default())
    }

    fn page(watermark: &str) -> PageAnswer {
        Ok(Some(Page {
            watermark: Some(Watermark::from_text(watermark)),
            ..Page::default()
        }))
    }

    #[test]
    fn an_import_reads_until_the_connector_has_no_more_pages() {
        let mut state = State::new();
        let asked = pump(
            plan(RunKind::FullImport),
            &[page("a"), page("b")],
            &mut state,
        );
        assert_eq!(
            asked,
            [
                "execute", "open", "read", "execute", "read", "execute", "read", "close",
                "execute", "finished"
            ]
        );
        let record = state.run(RunId(1)).expect("the run");
        assert_eq!(record.status, Some(RunStatus::Success));
        assert_eq!(record.counts.pages, 2);
    }

    #[test]
    fn the_page_limit_faults_the_run_after_its_last_page() {
        let mut state = State::new();
        let mut limited = plan(RunKind::FullImport);
        limited.pages_max = 1;
        pump(limited, &[page("a"), page("b")], &mut state);
        let record = state.run(RunId(1)).expect("the run");
        assert_eq!(record.counts.pages, 1);
        assert_eq!(record.status, Some(RunStatus::StoppedConnectorException));
    }

    #[test]
    fn a_fault_stops_the_import_and_the_page_read_ahead_is_dropped() {
        let mut state = State::new();
        let fault = Fault {
            kind: FaultKind::FailedConnection,
            message: "down".into(),
        };
        pump(
            plan(RunKind::FullImport),
            &[page("a"), Err(fault), page("c")],
            &mut state,
        );
        let record = state.run(RunId(1)).expect("the run");
        assert_eq!(record.counts.pages, 1);
        assert_eq!(record.status, Some(RunStatus::StoppedConnectivity));
    }

    #[test]
    fn answering_what_was_not_asked_is_refused() {
        let mut machine = RunMachine::new(plan(RunKind::FullImport));
        assert!(machine.page_read(Ok(None)).is_err());
        assert!(machine.closed().is_err());
        assert!(machine.opened(Ok(())).is_err());
    }
}
