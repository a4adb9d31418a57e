//! Driving the log yourself: a typed run API for embedders with a run loop of their own.
//!
//! The [`Engine`](crate::engine::Engine) is one way to run connectors. An embedder whose sync
//! engine already has its own scheduler, threads and connector calls drives the [`Log`] directly,
//! with one call per thing that happened, and gets typed answers instead of the events a command
//! decided:
//!
//! | call | answer |
//! | --- | --- |
//! | [`Log::start_run`] | [`RunStart::Started`] with the run and its start watermark, or [`RunStart::Refused`] with why (durable) |
//! | [`Log::record_page`] | whether the run has stopped (a limit, a fatal import error): then end it |
//! | [`Log::record_fault`] | the run has stopped: end it |
//! | [`Log::next_export_batch`] | the changes to send, in queue order; empty when nothing is left |
//! | [`Log::record_export_results`] | whether the run has stopped (a `custom-stop-run`) |
//! | [`Log::end_run`] | the run's record with the [`Durable`] token covering its end ([R13](crate::rules#r13)) |
//!
//! Every call is checked by the decider and the fold exactly as the engine's commands are: a call
//! out of order (a page for a run that ended, a second run on a busy partition) is
//! [`LogError::Rejected`] naming the rule, and the log is unchanged. Time and actor are the
//! caller's: the log has no clock.
//!
//! Which call comes next is the run machine's to say ([`RunMachine`]); an embedder
//! may pump it with [`Log::step`] instead of writing the sequence out by hand.
//!
//! ```
//! use syncfold::core::*;
//! use syncfold::log::{Log, LogOptions, MemoryStore, RunStart};
//!
//! let (mut log, _) = Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).unwrap();
//! let me = Actor::from_name("my-engine");
//! let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
//!
//! // A delta import of two pages; the second has an object that failed.
//! let RunStart::Started { run, start_watermark } =
//!     log.start_run(&hr, &people, RunKind::DeltaImport, &Settings::default(), Timestamp(1), &me)?
//! else {
//!     panic!("a new partition may run");
//! };
//! assert_eq!(start_watermark, None);
//! let mut pages = vec![
//!     Page { watermark: Some(Watermark::from_text("usn-10")), ..Page::default() },
//!     Page { watermark: Some(Watermark::from_text("usn-20")), ..Page::default() },
//! ];
//! pages[1].errors.push(DiscoveryError {
//!     anchor: Anchor::from("uid=u9"),
//!     kind: ObjectErrorKind::CustomContinueRun,
//!     name: "invalid-characters-error".into(),
//!     description: "a control character in cn".into(),
//! });
//! for page in pages {
//!     if log.record_page(run, page, Timestamp(2), &me)?.run_stopped {
//!         break;
//!     }
//! }
//! let ended = log.end_run(run, Timestamp(3), &me)?;
//! // R1: the watermark stops before the page with the error.
//! assert_eq!(ended.record.committed_watermark, Some(Watermark::from_text("usn-10")));
//! assert!(ended.durable.covers(ended.record.ended.as_ref().unwrap().seq));
//!
//! // The next delta import starts where the last one committed.
//! let RunStart::Started { start_watermark, .. } =
//!     log.start_run(&hr, &people, RunKind::DeltaImport, &Settings::default(), Timestamp(4), &me)?
//! else {
//!     panic!("the partition is free");
//! };
//! assert_eq!(start_watermark, Some(Watermark::from_text("usn-10")));
//! # Ok::<(), syncfold::log::LogError>(())
//! ```
//!
//! ## With the run machine
//!
//! The same loop, with the order of calls left to the core: pump a [`RunMachine`] with
//! [`Log::step`] and answer its connector actions from your own connector. After every answer,
//! take every action until `poll` returns `None` (a drain holds at most one command and one
//! connector call; here they are simply done one after the other).
//!
//! ```
//! use syncfold::core::*;
//! use syncfold::log::{Log, LogOptions, MemoryStore};
//!
//! /// Your connector, as your engine calls it (synchronous here).
//! fn read_page(page: u64, _after: Option<&Watermark>) -> Result<Option<Page>, Fault> {
//!     Ok((page <= 2).then(|| Page {
//!         watermark: Some(Watermark::from_text(&format!("usn-{page}"))),
//!         ..Page::default()
//!     }))
//! }
//! fn export(batch: &[ExportChange]) -> Vec<(Anchor, ExportOutcome)> {
//!     batch.iter().map(|change| (change.anchor.clone(), ExportOutcome::Success)).collect()
//! }
//!
//! let (mut log, _) = Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0))?;
//! let me = Actor::from_name("my-engine");
//! let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
//! let queued = ExportChange {
//!     anchor: Anchor::from("uid=ada"),
//!     kind: ExportChangeKind::Add,
//!     attributes: Attributes::new(),
//!     references: Attributes::new(),
//! };
//! log.step(Command::QueueExport { connector: hr.clone(), partition: people.clone(), change: queued },
//!     Timestamp(1), &me)?;
//!
//! for kind in [RunKind::DeltaImport, RunKind::Export] {
//!     let plan = RunPlan::new(hr.clone(), people.clone(), kind, Settings::default());
//!     let mut machine = RunMachine::new(plan);
//!     while let Some(action) = machine.poll() {
//!         match action {
//!             Action::Execute(command) => match log.step(command, Timestamp(2), &me) {
//!                 Ok(executed) => machine.executed(&executed)?,
//!                 // Only a connector's bad export answer is the machine's to handle.
//!                 Err(syncfold::log::LogError::Rejected(no)) => machine.refused(no)?,
//!                 Err(error) => return Err(error.into()),
//!             },
//!             Action::Open { .. } => machine.opened(Ok(()))?,
//!             Action::ReadPage { page, watermark } => {
//!                 machine.page_read(read_page(page, watermark.as_ref()))?
//!             }
//!             Action::Export { changes } => machine.exported(Ok(export(&changes)))?,
//!             Action::Close => machine.closed()?,
//!             Action::Finished { run, .. } => {
//!                 let durable = log.durable().expect("a run's end is flushed");
//!                 let record = log.finished_run(run, &durable).expect("durable");
//!                 assert_eq!(record.status, Some(RunStatus::Success));
//!             }
//!         }
//!     }
//! }
//! let part = log.state().partition(&hr, &people).expect("ran");
//! assert_eq!(part.committed_watermark(), Some(&Watermark::from_text("usn-2")));
//! assert!(part.exports().is_empty(), "the queued add was exported");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{Durable, Log, LogError, RecordStore};
use crate::core::*;

/// How [`Log::start_run`] went.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStart {
    /// The run started: read from `start_watermark` (a delta import's committed watermark).
    Started {
        /// The run.
        run: RunId,
        /// Where a delta import continues from; `None` for full imports, exports and a first
        /// delta import.
        start_watermark: Option<Watermark>,
    },
    /// The run may not start (`no-start-*`): disabled, suspended, or a full import is required.
    /// The refusal is a run of its own in the history, already durable.
    Refused(Box<RunReport>),
}

/// What [`Log::record_page`] and [`Log::record_export_results`] tell the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The run has stopped (a limit, a fatal import error, a `custom-stop-run` result): read or
    /// send nothing more, and end it.
    pub run_stopped: bool,
}

/// A finished run with the proof that its end is durable ([R13](crate::rules#r13)): what the engine
/// reports for each
/// run, and what [`Log::end_run`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// The run as the history shows it.
    pub record: RunRecord,
    /// The flush that made its end durable.
    pub durable: Durable,
}

impl<S: RecordStore> Log<S> {
    /// Executes a command and says what it did ([`Executed`]): the step an embedder's pump of a
    /// [`RunMachine`] takes for [`Action::Execute`].
    pub fn step(
        &mut self,
        command: Command,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<Executed, LogError> {
        let events = self.execute(command, at, actor)?;
        Ok(Executed::new(self.state(), events))
    }

    /// Starts a run of `kind` on a partition, or records why it may not start.
    pub fn start_run(
        &mut self,
        connector: &ConnectorName,
        partition: &PartitionName,
        kind: RunKind,
        settings: &Settings,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<RunStart, LogError> {
        let command = Command::StartRun {
            connector: connector.clone(),
            partition: partition.clone(),
            kind,
            settings: settings.clone(),
        };
        let executed = self.step(command, at, actor)?;
        match executed.events.first() {
            Some(Event::RunStarted {
                run,
                start_watermark,
                ..
            }) => Ok(RunStart::Started {
                run: *run,
                start_watermark: start_watermark.clone(),
            }),
            Some(Event::RunRefused { run, .. }) => self
                .report(*run)
                .map(|report| RunStart::Refused(Box::new(report))),
            _ => Err(LogError::Unfitting {
                what: "a start that neither started nor refused a run".to_owned(),
            }),
        }
    }

    /// Records the next page an import read.
    pub fn record_page(
        &mut self,
        run: RunId,
        page: Page,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<Recorded, LogError> {
        let executed = self.step(Command::RecordPage { run, page }, at, actor)?;
        Ok(Recorded {
            run_stopped: executed.run_stopped,
        })
    }

    /// Records that the connector failed as a whole; the run has stopped and must be ended.
    pub fn record_fault(
        &mut self,
        run: RunId,
        fault: Fault,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<(), LogError> {
        self.step(Command::RecordFault { run, fault }, at, actor)?;
        Ok(())
    }

    /// Takes the next batch of an export run (at most `batch_size_max` changes, in queue order,
    /// with what each change carries); empty when nothing is left to send.
    pub fn next_export_batch(
        &mut self,
        run: RunId,
        batch_size_max: usize,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<Vec<ExportChange>, LogError> {
        let command = Command::SendExportBatch {
            run,
            batch_size_max,
        };
        Ok(self.step(command, at, actor)?.batch)
    }

    /// Records the connector's results for the batch in flight, one per object it answered.
    pub fn record_export_results(
        &mut self,
        run: RunId,
        results: Vec<(Anchor, ExportOutcome)>,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<Recorded, LogError> {
        let executed = self.step(Command::RecordExportResults { run, results }, at, actor)?;
        Ok(Recorded {
            run_stopped: executed.run_stopped,
        })
    }

    /// Ends a run: commits its watermark if the rules allow, decides a full import's obsoletion,
    /// and returns its record once the end is durable.
    pub fn end_run(
        &mut self,
        run: RunId,
        at: Timestamp,
        actor: &Actor,
    ) -> Result<RunReport, LogError> {
        self.step(Command::EndRun { run }, at, actor)?;
        self.report(run)
    }

    /// The finished run with the flush that covers its end (made now if the last one does not).
    fn report(&mut self, run: RunId) -> Result<RunReport, LogError> {
        let durable = match self.durable() {
            Some(durable) if self.finished_run(run, &durable).is_some() => durable,
            _ => self.flush()?,
        };
        let record =
            self.finished_run(run, &durable)
                .cloned()
                .ok_or_else(|| LogError::Unfitting {
                    what: format!("run {run} has not ended after its end was recorded"),
                })?;
        Ok(RunReport { record, durable })
    }
}
