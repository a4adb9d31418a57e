//! The engine: drives connectors run by run, asks the core to decide, appends through the log.
//!
//! One writer thread owns the [`Log`]: every run's commands reach it through one bounded queue, so
//! runs of several connectors and partitions proceed concurrently while the log keeps one total
//! order, and a slow disk slows connectors down instead of growing memory. A run is reported
//! finished ([`RunReport`]) only with the [`Durable`] token the log minted when it flushed the
//! run's end (R13). One run at a time per partition: a second run on a busy partition waits.

use super::connector::{Connector, ImportRequest, RunContext};
use crate::core::*;
use crate::log::{Durable, Log, LogError, RecordStore};
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, info_span, warn, Instrument};

/// How the engine bounds its work.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Largest export batch handed to a connector.
    pub export_batch_size: usize,
    /// Longest a single connector call may take before it counts as a `connector-exception`.
    pub connector_call_timeout: Duration,
    /// Commands waiting for the log writer; a full queue makes runs wait.
    pub queue_depth: usize,
    /// Most pages one import may read (a connector that never ends is a connector bug).
    pub pages_per_run_max: u64,
    /// Who the engine says it is on the events it writes.
    pub actor: Actor,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            export_batch_size: 100,
            connector_call_timeout: Duration::from_secs(300),
            queue_depth: 64,
            pages_per_run_max: 10_000_000,
            actor: Actor::from_name("syncfold-engine"),
        }
    }
}

/// The engine cannot go on: the log failed or refused what the engine asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The log failed (disk, damage) or refused a command.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The log writer stopped (after an earlier failure, or at shutdown).
    #[error("the log writer has stopped; restart the engine to continue from the log")]
    WriterStopped,
}

/// A finished run, with the proof that its end is durable.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The run as the history shows it.
    pub record: RunRecord,
    /// The flush that made its end durable.
    pub durable: Durable,
}

/// What the writer answers for one command.
struct Executed {
    events: Vec<Event>,
    durable: Option<Durable>,
    run_stopped: bool,
    batch: Vec<ExportChange>,
    record: Option<RunRecord>,
}

type Inspector = Box<dyn FnOnce(&State) + Send>;

/// Held by the run in progress on a partition: one run at a time per partition.
type PartitionLock = Arc<tokio::sync::Mutex<()>>;

type Reply = oneshot::Sender<Result<Executed, LogError>>;

enum Request {
    Execute {
        command: Command,
        at: Timestamp,
        reply: Reply,
    },
    Inspect(Inspector),
}

/// Drives runs into one log.
pub struct Engine<S: RecordStore + Send + 'static> {
    requests: mpsc::Sender<Request>,
    writer: Option<std::thread::JoinHandle<Log<S>>>,
    partitions: Mutex<BTreeMap<(ConnectorName, PartitionName), PartitionLock>>,
    options: EngineOptions,
    clock: fn() -> Timestamp,
}

/// The wall clock, in milliseconds since the Unix epoch.
pub fn system_clock() -> Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
}

fn writer_loop<S: RecordStore>(mut log: Log<S>, mut requests: mpsc::Receiver<Request>) -> Log<S> {
    let actor = Actor::from_name("syncfold-engine");
    log.defer_snapshots();
    while let Some(request) = requests.blocking_recv() {
        match request {
            Request::Inspect(inspect) => inspect(log.state()),
            Request::Execute { command, at, reply } => {
                let result = log.execute(command, at, &actor).map(|events| {
                    let run = events.first().and_then(Event::run);
                    let durable = log.durable();
                    let run_stopped = run.is_some_and(|run| {
                        log.state().open_run(run).is_none_or(OpenRun::is_stopped)
                    });
                    let batch = match events.first() {
                        Some(Event::ExportBatchSent { run, anchors }) => log
                            .state()
                            .run(*run)
                            .and_then(|record| {
                                log.state().partition(&record.connector, &record.partition)
                            })
                            .map(|part| {
                                anchors
                                    .iter()
                                    .filter_map(|anchor| part.exports().get(anchor))
                                    .map(|entry| entry.change.clone())
                                    .collect()
                            })
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    let record = match events.last() {
                        Some(Event::RunEnded { run, .. } | Event::RunRefused { run, .. }) => {
                            log.state().run(*run).cloned()
                        }
                        _ => None,
                    };
                    Executed {
                        events,
                        durable,
                        run_stopped,
                        batch,
                        record,
                    }
                });
                let _ = reply.send(result);
                // After a commit point, once the run has its answer (a snapshot in the middle of
                // a run would hold up its pages). A failed snapshot only costs a longer open.
                if log.acknowledged() == log.last_seq() {
                    if let Err(error) = log.snapshot_if_due() {
                        warn!(%error, "snapshot not taken");
                    }
                }
            }
        }
    }
    // At shutdown, whatever was appended since the last commit point (and the last snapshot)
    // becomes durable too.
    if let Err(error) = log.flush() {
        warn!(%error, "the log could not be flushed at shutdown");
    }
    log
}

/// Polls a connector's future, turning a panic inside it into an error carrying its message.
struct CatchUnwind<'a, T>(Pin<Box<dyn Future<Output = T> + Send + 'a>>);

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, String>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| future.poll(context))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                Poll::Ready(Err(message))
            }
        }
    }
}

/// Runs one connector call under the engine's timeout and panic guard; every failure is a fault.
async fn guarded<'a, T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, Fault>> + Send + 'a,
    what: &str,
) -> Result<T, Fault> {
    match tokio::time::timeout(timeout, CatchUnwind(Box::pin(call))).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(Fault {
            kind: FaultKind::ConnectorException,
            message: format!("the connector panicked during {what}: {panic}"),
        }),
        Err(_) => Err(Fault {
            kind: FaultKind::ConnectorException,
            message: format!("the connector did not answer {what} within {timeout:?}"),
        }),
    }
}

impl<S: RecordStore + Send + 'static> Engine<S> {
    /// Starts an engine over an open log, with the wall clock.
    pub fn new(log: Log<S>, options: EngineOptions) -> Self {
        Self::with_clock(log, options, system_clock)
    }

    /// Starts an engine whose events are stamped by `clock` (tests use a fixed one).
    pub fn with_clock(log: Log<S>, options: EngineOptions, clock: fn() -> Timestamp) -> Self {
        let (requests, receiver) = mpsc::channel(options.queue_depth.max(1));
        let writer = std::thread::Builder::new()
            .name("syncfold-log-writer".into())
            .spawn(move || writer_loop(log, receiver))
            .ok();
        Engine {
            requests,
            writer,
            partitions: Mutex::new(BTreeMap::new()),
            options,
            clock,
        }
    }

    async fn execute(&self, command: Command) -> Result<Executed, EngineError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Execute {
            command,
            at: (self.clock)(),
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| EngineError::WriterStopped)?;
        Ok(answer.await.map_err(|_| EngineError::WriterStopped)??)
    }

    /// Reads the current state (a consistent view between two commands).
    pub async fn inspect<T: Send + 'static>(
        &self,
        read: impl FnOnce(&State) -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        let (reply, answer) = oneshot::channel();
        let inspect: Inspector = Box::new(move |state| {
            let _ = reply.send(read(state));
        });
        self.requests
            .send(Request::Inspect(inspect))
            .await
            .map_err(|_| EngineError::WriterStopped)?;
        answer.await.map_err(|_| EngineError::WriterStopped)
    }

    /// Queues a change for export on a partition (sent by its next export run).
    pub async fn queue_export(
        &self,
        connector: &ConnectorName,
        partition: &PartitionName,
        change: ExportChange,
    ) -> Result<(), EngineError> {
        self.execute(Command::QueueExport {
            connector: connector.clone(),
            partition: partition.clone(),
            change,
        })
        .await?;
        Ok(())
    }

    /// Records an administrator's action, durably.
    pub async fn admin(
        &self,
        connector: &ConnectorName,
        partition: Option<&PartitionName>,
        action: AdminAction,
    ) -> Result<Durable, EngineError> {
        let executed = self
            .execute(Command::RecordAdminAction {
                connector: connector.clone(),
                partition: partition.cloned(),
                action,
            })
            .await?;
        executed.durable.ok_or(EngineError::WriterStopped)
    }

    fn partition_lock(
        &self,
        connector: &ConnectorName,
        partition: &PartitionName,
    ) -> PartitionLock {
        let mut locks = self
            .partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks
            .entry((connector.clone(), partition.clone()))
            .or_default()
            .clone()
    }

    /// Runs one step (`kind`) of `connector` on `partition`, to its end, and reports it once its
    /// end is durable. A run that may not start is reported too (`no-start-*`).
    pub async fn run<C: Connector>(
        &self,
        connector: &mut C,
        name: &ConnectorName,
        partition: &PartitionName,
        kind: RunKind,
        settings: &Settings,
    ) -> Result<RunReport, EngineError> {
        let lock = self.partition_lock(name, partition);
        let _one_run_per_partition = lock.lock().await;
        let started = self
            .execute(Command::StartRun {
                connector: name.clone(),
                partition: partition.clone(),
                kind,
                settings: settings.clone(),
            })
            .await?;
        let (run, start_watermark) = match started.events.first() {
            Some(Event::RunStarted {
                run,
                start_watermark,
                ..
            }) => (*run, start_watermark.clone()),
            _ => return Self::report(started),
        };
        let context = RunContext {
            run,
            connector: name.clone(),
            partition: partition.clone(),
            kind,
            start_watermark,
        };
        let span = info_span!(
            "run",
            connector = %name,
            partition = %partition,
            run = run.0,
            kind = kind.as_str(),
        );
        async {
            let timeout = self.options.connector_call_timeout;
            match guarded(timeout, connector.open_run(&context), "open_run").await {
                Ok(()) => {
                    if kind.is_import() {
                        self.import(connector, &context).await?;
                    } else {
                        self.export(connector, &context).await?;
                    }
                }
                Err(fault) => {
                    self.record_fault(run, fault).await?;
                }
            }
            let close = async {
                connector.close_run(&context).await;
                Ok(())
            };
            if let Err(fault) = guarded(timeout, close, "close_run").await {
                warn!(message = %fault.message, "closing the run failed; the run's outcome stands");
            }
            let ended = self.execute(Command::EndRun { run }).await?;
            let report = Self::report(ended)?;
            info!(
                status = report.record.status.map_or("open", RunStatus::as_str),
                watermark = report
                    .record
                    .committed_watermark
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), Watermark::display_text),
                errors = report.record.counts.errors,
                "run finished"
            );
            Ok(report)
        }
        .instrument(span)
        .await
    }

    /// Records a fault that stops the run, and says so in the trace.
    async fn record_fault(&self, run: RunId, fault: Fault) -> Result<(), EngineError> {
        warn!(fault = fault.kind.as_str(), message = %fault.message, "connector fault");
        self.execute(Command::RecordFault { run, fault }).await?;
        Ok(())
    }

    fn report(executed: Executed) -> Result<RunReport, EngineError> {
        match (executed.record, executed.durable) {
            (Some(record), Some(durable))
                if record
                    .ended
                    .as_ref()
                    .is_some_and(|end| durable.covers(end.seq)) =>
            {
                Ok(RunReport { record, durable })
            }
            _ => Err(EngineError::WriterStopped),
        }
    }

    /// Reads pages and records them, reading page n+1 while page n is being recorded. When page n
    /// stops the run, the page read ahead is dropped unrecorded (reads have no effect to undo).
    async fn import<C: Connector>(
        &self,
        connector: &mut C,
        context: &RunContext,
    ) -> Result<(), EngineError> {
        let most = self.options.pages_per_run_max;
        let mut watermark = context.start_watermark.clone();
        let mut answer = self
            .read_page(connector, context, 1, watermark.clone())
            .await;
        for number in 1..=most {
            let page = match answer {
                Ok(Some(page)) => page,
                Ok(None) => return Ok(()),
                Err(fault) => return self.record_fault(context.run, fault).await,
            };
            if page.watermark.is_some() {
                watermark.clone_from(&page.watermark);
            }
            let span = info_span!("page", page = number);
            span.in_scope(|| {
                info!(
                    objects = page.changes.len(),
                    errors = page.errors.len() + page.fatal_errors.len(),
                    watermark = page
                        .watermark
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), Watermark::display_text),
                    "page read"
                );
            });
            let record = self
                .execute(Command::RecordPage {
                    run: context.run,
                    page,
                })
                .instrument(span);
            let recorded = if number < most {
                let read = self.read_page(connector, context, number + 1, watermark.clone());
                let (recorded, next) = tokio::join!(record, read);
                answer = next;
                recorded?
            } else {
                answer = Ok(None);
                record.await?
            };
            if recorded.run_stopped {
                return Ok(());
            }
        }
        let fault = Fault {
            kind: FaultKind::ConnectorException,
            message: format!("the connector returned more than {most} pages in one run"),
        };
        self.record_fault(context.run, fault).await
    }

    /// Asks the connector for page `page` from `watermark`, under the call timeout and panic guard.
    async fn read_page<C: Connector>(
        &self,
        connector: &mut C,
        context: &RunContext,
        page: u64,
        watermark: Option<Watermark>,
    ) -> Result<Option<Page>, Fault> {
        let request = ImportRequest {
            context: context.clone(),
            page,
            watermark,
        };
        let timeout = self.options.connector_call_timeout;
        guarded(timeout, connector.import_page(&request), "import_page")
            .instrument(info_span!("page", page))
            .await
    }

    async fn export<C: Connector>(
        &self,
        connector: &mut C,
        context: &RunContext,
    ) -> Result<(), EngineError> {
        let timeout = self.options.connector_call_timeout;
        loop {
            let sent = self
                .execute(Command::SendExportBatch {
                    run: context.run,
                    batch_size_max: self.options.export_batch_size.max(1),
                })
                .await?;
            if sent.batch.is_empty() {
                return Ok(());
            }
            let span = info_span!("batch", objects = sent.batch.len());
            let answer = guarded(timeout, connector.export(context, &sent.batch), "export")
                .instrument(span)
                .await;
            let fault = match answer {
                Ok(results) => {
                    match self
                        .execute(Command::RecordExportResults {
                            run: context.run,
                            results,
                        })
                        .await
                    {
                        Ok(recorded) if recorded.run_stopped => return Ok(()),
                        Ok(_) => continue,
                        // The connector answered with the wrong objects: a connector bug.
                        Err(EngineError::Log(LogError::Rejected(rejection))) => Fault {
                            kind: FaultKind::ConnectorException,
                            message: format!(
                                "the connector's export results were refused: {}",
                                rejection.detail()
                            ),
                        },
                        Err(error) => return Err(error),
                    }
                }
                Err(fault) => fault,
            };
            return self.record_fault(context.run, fault).await;
        }
    }

    /// Stops the engine after the queued commands and gives the log back.
    pub fn shutdown(mut self) -> Result<Log<S>, EngineError> {
        let writer = self.writer.take();
        drop(self);
        writer
            .ok_or(EngineError::WriterStopped)?
            .join()
            .map_err(|_| EngineError::WriterStopped)
    }
}
