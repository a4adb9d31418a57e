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

/// The engine cannot go on: the log failed or refused what the engine asked, or the log writer
/// is gone. Each cause is its own variant so an embedder can tell a disk from a bug.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The log failed (disk, damage) or refused a command.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The log-writer thread could not be started (the system refused a thread).
    #[error("the log writer could not be started: {reason}")]
    WriterNotStarted {
        /// Why the system refused.
        reason: String,
    },
    /// The log writer has stopped taking commands: the engine was shut down, or the writer ended
    /// after a panic (see the next variant when it is joined).
    #[error("the log writer has stopped; restart the engine to continue from the log")]
    WriterStopped,
    /// The log writer panicked (a bug); its message is kept.
    #[error("the log writer panicked: {message}; restart the engine to continue from the log")]
    WriterPanicked {
        /// The panic's message.
        message: String,
    },
    /// A run's end or an administrator's action was recorded but the log has no flush covering
    /// it, so it cannot be reported as finished (R13). A bug of the log or the engine.
    #[error("{what} was recorded but is not durable; restart the engine to continue from the log")]
    NotDurable {
        /// What was not made durable.
        what: String,
    },
    /// The run machine was answered out of turn: a bug of the engine.
    #[error(transparent)]
    OutOfTurn(#[from] Unexpected),
}

/// A finished run, with the proof that its end is durable.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The run as the history shows it.
    pub record: RunRecord,
    /// The flush that made its end durable.
    pub durable: Durable,
}

/// What the writer answers for one command: what it did, and the last flush.
struct Written {
    executed: Executed,
    durable: Option<Durable>,
}

type Inspector = Box<dyn FnOnce(&State) + Send>;

/// Held by the run in progress on a partition: one run at a time per partition.
type PartitionLock = Arc<tokio::sync::Mutex<()>>;

type Reply = oneshot::Sender<Result<Written, LogError>>;

enum Request {
    Execute {
        command: Command,
        at: Timestamp,
        reply: Reply,
    },
    Inspect(Inspector),
}

/// What the connector answered to one call of a run.
enum Answer {
    Opened(Result<(), Fault>),
    Page(PageAnswer),
    Exported(Result<Vec<(Anchor, ExportOutcome)>, Fault>),
    Closed,
}

/// Drives runs into one log.
pub struct Engine<S: RecordStore + Send + 'static> {
    requests: mpsc::Sender<Request>,
    writer: Result<std::thread::JoinHandle<Log<S>>, String>,
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

fn writer_loop<S: RecordStore>(
    mut log: Log<S>,
    mut requests: mpsc::Receiver<Request>,
    actor: Actor,
) -> Log<S> {
    log.defer_snapshots();
    while let Some(request) = requests.blocking_recv() {
        match request {
            Request::Inspect(inspect) => inspect(log.state()),
            Request::Execute { command, at, reply } => {
                let result = log.execute(command, at, &actor).map(|events| Written {
                    executed: Executed::new(log.state(), events),
                    durable: log.durable(),
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
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
            Err(panic) => Poll::Ready(Err(panic_message(panic.as_ref()))),
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

    /// Starts an engine whose events are stamped by `clock` (tests use a fixed one). Its events
    /// carry `options.actor`.
    pub fn with_clock(log: Log<S>, options: EngineOptions, clock: fn() -> Timestamp) -> Self {
        let (requests, receiver) = mpsc::channel(options.queue_depth.max(1));
        let actor = options.actor.clone();
        let writer = std::thread::Builder::new()
            .name("syncfold-log-writer".into())
            .spawn(move || writer_loop(log, receiver, actor))
            .map_err(|error| error.to_string());
        Engine {
            requests,
            writer,
            partitions: Mutex::new(BTreeMap::new()),
            options,
            clock,
        }
    }

    /// Why the writer is not there to answer: never started, or stopped.
    fn writer_gone(&self) -> EngineError {
        match &self.writer {
            Err(reason) => EngineError::WriterNotStarted {
                reason: reason.clone(),
            },
            Ok(_) => EngineError::WriterStopped,
        }
    }

    async fn execute(&self, command: Command) -> Result<Written, EngineError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Execute {
            command,
            at: (self.clock)(),
            reply,
        };
        if self.requests.send(request).await.is_err() {
            return Err(self.writer_gone());
        }
        Ok(answer.await.map_err(|_| self.writer_gone())??)
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
        if self.requests.send(Request::Inspect(inspect)).await.is_err() {
            return Err(self.writer_gone());
        }
        answer.await.map_err(|_| self.writer_gone())
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
        let written = self
            .execute(Command::RecordAdminAction {
                connector: connector.clone(),
                partition: partition.cloned(),
                action,
            })
            .await?;
        written.durable.ok_or_else(|| EngineError::NotDurable {
            what: format!("the administrator's action {}", action.as_str()),
        })
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
    ///
    /// The run is a [`RunMachine`] pumped here: each drain of its actions holds at most one
    /// command for the log and one connector call, carried out together (so page n+1 is read
    /// while page n is recorded), and their answers go back before the next drain.
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
        let mut plan = RunPlan::new(name.clone(), partition.clone(), kind, settings.clone());
        plan.batch_size_max = self.options.export_batch_size.max(1);
        plan.pages_max = self.options.pages_per_run_max;
        let mut machine = RunMachine::new(plan);
        let span = info_span!("run", connector = %name, partition = %partition,
            run = tracing::field::Empty, kind = kind.as_str());
        let mut context = RunContext {
            run: RunId(0),
            connector: name.clone(),
            partition: partition.clone(),
            kind,
            start_watermark: None,
        };
        let mut last = None;
        async {
            loop {
                let (mut command, mut call) = (None, None);
                while let Some(action) = machine.poll() {
                    match action {
                        Action::Execute(next) => command = Some(next),
                        Action::Finished { run, .. } => return Self::report(run, last),
                        Action::Open {
                            run,
                            ref start_watermark,
                        } => {
                            tracing::Span::current().record("run", run.0);
                            context.run = run;
                            context.start_watermark.clone_from(start_watermark);
                            call = Some(action);
                        }
                        other => call = Some(other),
                    }
                }
                let (written, answer) = tokio::join!(
                    self.execute_traced(command),
                    self.call(connector, &context, call)
                );
                match written {
                    Some(Ok(written)) => {
                        machine.executed(&written.executed)?;
                        last = Some(written);
                    }
                    Some(Err(EngineError::Log(LogError::Rejected(rejection)))) => {
                        machine.refused(rejection).map_err(LogError::Rejected)?
                    }
                    Some(Err(error)) => return Err(error),
                    None => {}
                }
                match answer {
                    Some(Answer::Opened(answer)) => machine.opened(answer)?,
                    Some(Answer::Page(answer)) => machine.page_read(answer)?,
                    Some(Answer::Exported(answer)) => machine.exported(answer)?,
                    Some(Answer::Closed) => machine.closed()?,
                    None => {}
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Executes the machine's command, if it has one, saying in the trace what a page held and
    /// which fault stopped a run.
    async fn execute_traced(
        &self,
        command: Option<Command>,
    ) -> Option<Result<Written, EngineError>> {
        match &command {
            Some(Command::RecordPage { page, .. }) => info!(
                objects = page.changes.len(),
                errors = page.errors.len() + page.fatal_errors.len(),
                watermark = page
                    .watermark
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), Watermark::display_text),
                "page read"
            ),
            Some(Command::RecordFault { fault, .. }) => {
                warn!(fault = fault.kind.as_str(), message = %fault.message, "connector fault");
            }
            _ => {}
        }
        Some(self.execute(command?).await)
    }

    /// Carries out the machine's connector call, if it has one, under the call timeout and the
    /// panic guard (a failure of either is a `connector-exception` fault).
    async fn call<C: Connector>(
        &self,
        connector: &mut C,
        context: &RunContext,
        action: Option<Action>,
    ) -> Option<Answer> {
        let timeout = self.options.connector_call_timeout;
        Some(match action? {
            Action::Open { .. } => {
                Answer::Opened(guarded(timeout, connector.open_run(context), "open_run").await)
            }
            Action::ReadPage { page, watermark } => {
                let request = ImportRequest {
                    context: context.clone(),
                    page,
                    watermark,
                };
                let read = guarded(timeout, connector.import_page(&request), "import_page");
                Answer::Page(read.instrument(info_span!("page", page)).await)
            }
            Action::Export { changes } => {
                let span = info_span!("batch", objects = changes.len());
                let sent = guarded(timeout, connector.export(context, &changes), "export");
                Answer::Exported(sent.instrument(span).await)
            }
            Action::Close => {
                let close = async {
                    connector.close_run(context).await;
                    Ok(())
                };
                if let Err(fault) = guarded(timeout, close, "close_run").await {
                    warn!(message = %fault.message, "closing the run failed; the run's outcome stands");
                }
                Answer::Closed
            }
            Action::Execute(_) | Action::Finished { .. } => return None,
        })
    }

    /// The report of a finished run: its record, and the flush that covers its end.
    fn report(run: RunId, last: Option<Written>) -> Result<RunReport, EngineError> {
        let not_durable = || EngineError::NotDurable {
            what: format!("the end of run {run}"),
        };
        let written = last.ok_or_else(not_durable)?;
        let (Some(record), Some(durable)) = (written.executed.record, written.durable) else {
            return Err(not_durable());
        };
        if !record
            .ended
            .as_ref()
            .is_some_and(|end| durable.covers(end.seq))
        {
            return Err(not_durable());
        }
        info!(
            status = record.status.map_or("open", RunStatus::as_str),
            watermark = record
                .committed_watermark
                .as_ref()
                .map_or_else(|| "-".to_owned(), Watermark::display_text),
            errors = record.counts.errors,
            "run finished"
        );
        Ok(RunReport { record, durable })
    }

    /// Stops the engine after the queued commands and gives the log back.
    pub fn shutdown(mut self) -> Result<Log<S>, EngineError> {
        let writer = std::mem::replace(&mut self.writer, Err(String::new()));
        drop(self);
        match writer {
            Err(reason) => Err(EngineError::WriterNotStarted { reason }),
            Ok(handle) => handle.join().map_err(|panic| EngineError::WriterPanicked {
                message: panic_message(panic.as_ref()),
            }),
        }
    }
}
