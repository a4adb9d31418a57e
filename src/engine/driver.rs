//! The engine: drives connectors run by run, asks the core to decide, appends through the log.
//!
//! One writer thread owns the [`Log`]: every run's commands reach it through one bounded queue, so
//! runs of several connectors and partitions proceed concurrently while the log keeps one total
//! order, and a slow disk slows connectors down instead of growing memory. A run is reported
//! finished ([`RunReport`]) only with the [`Durable`] token the log minted when it flushed the
//! run's end ([R13](crate::rules#r13)). One run at a time per partition: a second run on a busy
//! partition waits.
//!
//! A run is never left open behind the engine's back. A run whose future is dropped (an outer
//! timeout, a `select!`, a task aborted at shutdown) is closed as `interrupted` and its partition
//! freed; [`Engine::interrupt`] stops a run on purpose, the same way; a shutdown closes every run
//! still in flight as `interrupted`. Each is recorded, so the log says why the run has no outcome.
//!
//! The engine needs tokio's time driver (every connector call runs under a timeout): a runtime
//! built without `enable_time()` gets [`EngineError::NoTimeDriver`], not a panic.

use super::connector::{Connector, ImportRequest, RunContext};
use crate::core::*;
pub use crate::log::RunReport;
use crate::log::{Durable, ErrorClass, Log, LogError, RecordStore};
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
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
#[non_exhaustive]
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
    /// it, so it cannot be reported as finished ([R13](crate::rules#r13)). A bug of the log or the
    /// engine.
    #[error("{what} was recorded but is not durable; restart the engine to continue from the log")]
    NotDurable {
        /// What was not made durable.
        what: String,
    },
    /// The run machine was answered out of turn: a bug of the engine.
    #[error(transparent)]
    OutOfTurn(#[from] Unexpected),
    /// A scripted export result that its run never used
    /// ([`scripted::play_checked`](super::scripted::play_checked)):
    /// the scenario's input is wrong for the log it is played into. The run and those before it
    /// are in the log; nothing after it was played.
    #[error("step {step} (run {run}): {}", why.sentence(anchor))]
    UnusedExportResult {
        /// The step, from 0 (the scenario's `step[N]`).
        step: usize,
        /// The export run.
        run: RunId,
        /// The object the result is for.
        anchor: Anchor,
        /// What the run did instead.
        why: crate::script::UnusedResult,
    },
    /// The tokio runtime has no time driver, which the connector-call timeouts need.
    #[error("the engine needs tokio's time driver for its connector-call timeouts: build the runtime with `enable_time()` or `enable_all()`")]
    NoTimeDriver,
}

impl EngineError {
    /// What kind of failure this is (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self {
            EngineError::Log(error) => error.class(),
            EngineError::WriterStopped | EngineError::WriterNotStarted { .. } => {
                ErrorClass::Unavailable
            }
            EngineError::WriterPanicked { .. }
            | EngineError::NotDurable { .. }
            | EngineError::OutOfTurn(_)
            | EngineError::NoTimeDriver => ErrorClass::Bug,
            EngineError::UnusedExportResult { .. } => ErrorClass::Input,
        }
    }
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
    /// A run's future was dropped: close the partition's open run, if any, as interrupted.
    Abandoned {
        connector: ConnectorName,
        partition: PartitionName,
        at: Timestamp,
    },
}

/// The engine's clock: any function of nothing that gives the time to stamp events with.
type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// What the connector answered to one call of a run.
enum Answer {
    Opened(Result<(), Fault>),
    Page(PageAnswer),
    Exported(Result<Vec<(Anchor, ExportOutcome)>, Fault>),
    Closed,
}

/// Drives runs into one log. Shared by reference (or in an `Arc`) between the tasks that run
/// connectors; every method takes `&self`.
pub struct Engine<S: RecordStore + Send + 'static> {
    /// `None` once shut down: nothing more reaches the writer.
    requests: RwLock<Option<mpsc::Sender<Request>>>,
    /// The writer thread, until it is joined; or why it never started.
    writer: Mutex<Option<Result<std::thread::JoinHandle<Log<S>>, String>>>,
    partitions: Mutex<BTreeMap<(ConnectorName, PartitionName), PartitionLock>>,
    /// The runs in progress, each with the signal that interrupts it.
    running: Mutex<BTreeMap<RunId, Arc<Notify>>>,
    options: EngineOptions,
    clock: Clock,
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
    clock: Clock,
) -> Log<S> {
    let shutdown_at = || clock();
    log.defer_snapshots();
    while let Some(request) = requests.blocking_recv() {
        match request {
            Request::Inspect(inspect) => inspect(log.state()),
            Request::Abandoned {
                connector,
                partition,
                at,
            } => {
                let open = log
                    .state()
                    .partition(&connector, &partition)
                    .and_then(|part| part.open_run());
                if let Some(run) = open {
                    warn!(run = run.0, %connector, %partition, "a run was dropped before its end; it is recorded as interrupted");
                    interrupt(&mut log, run, at, &actor);
                }
            }
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
    // At shutdown, runs still in flight will never end: they are recorded as interrupted (as the
    // next writer would), and whatever was appended since the last commit point becomes durable.
    let open: Vec<RunId> = log.state().open_runs().map(|(run, _)| run).collect();
    for run in open {
        warn!(
            run = run.0,
            "the engine shut down during a run; it is recorded as interrupted"
        );
        interrupt(&mut log, run, shutdown_at(), &actor);
    }
    if let Err(error) = log.flush() {
        warn!(%error, "the log could not be flushed at shutdown");
    }
    log
}

/// Closes an open run as interrupted; a failure only stays in the trace (the next writer to open
/// the log interrupts the run instead).
fn interrupt<S: RecordStore>(log: &mut Log<S>, run: RunId, at: Timestamp, actor: &Actor) {
    if let Err(error) = log.execute(Command::InterruptRun { run }, at, actor) {
        warn!(run = run.0, %error, "the run could not be recorded as interrupted");
    }
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

    /// Starts an engine whose events are stamped by `clock`: any function, a closure over a test's
    /// own clock included. Its events carry `options.actor`.
    pub fn with_clock(
        log: Log<S>,
        options: EngineOptions,
        clock: impl Fn() -> Timestamp + Send + Sync + 'static,
    ) -> Self {
        let clock: Clock = Arc::new(clock);
        let (requests, receiver) = mpsc::channel(options.queue_depth.max(1));
        let actor = options.actor.clone();
        let writer_clock = Arc::clone(&clock);
        let writer = std::thread::Builder::new()
            .name("syncfold-log-writer".into())
            .spawn(move || writer_loop(log, receiver, actor, writer_clock))
            .map_err(|error| error.to_string());
        Engine {
            requests: RwLock::new(Some(requests)),
            writer: Mutex::new(Some(writer)),
            partitions: Mutex::new(BTreeMap::new()),
            running: Mutex::new(BTreeMap::new()),
            options,
            clock,
        }
    }

    /// Why the writer is not there to answer: never started, or stopped.
    fn writer_gone(&self) -> EngineError {
        match &*lock(&self.writer) {
            Some(Err(reason)) => EngineError::WriterNotStarted {
                reason: reason.clone(),
            },
            _ => EngineError::WriterStopped,
        }
    }

    /// A handle on the writer's queue, unless the engine was shut down.
    fn sender(&self) -> Result<mpsc::Sender<Request>, EngineError> {
        let requests = self
            .requests
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        requests.clone().ok_or_else(|| self.writer_gone())
    }

    async fn execute(&self, command: Command) -> Result<Written, EngineError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Execute {
            command,
            at: (self.clock)(),
            reply,
        };
        if self.sender()?.send(request).await.is_err() {
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
        if self
            .sender()?
            .send(Request::Inspect(inspect))
            .await
            .is_err()
        {
            return Err(self.writer_gone());
        }
        answer.await.map_err(|_| self.writer_gone())
    }

    /// Asks run `run` to stop: at its next step it closes the connector's session, is recorded
    /// as `interrupted` and reports so. Returns whether such a run was in progress here. For an
    /// embedder's own shutdown; a run's future that is dropped is interrupted the same way.
    pub fn interrupt(&self, run: RunId) -> bool {
        match lock(&self.running).get(&run) {
            Some(signal) => {
                signal.notify_one();
                true
            }
            None => false,
        }
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
        lock(&self.partitions)
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
        if crate::log::quiet::catching(|| drop(tokio::time::sleep(Duration::ZERO))).is_err() {
            return Err(EngineError::NoTimeDriver);
        }
        // After a shutdown, fail at once rather than wait for the partition.
        self.sender()?;
        let held = self.partition_lock(name, partition).lock_owned().await;
        let mut guard = RunGuard {
            engine: self,
            connector: name.clone(),
            partition: partition.clone(),
            held: Some(held),
            run: None,
            over: false,
        };
        let mut plan = RunPlan::new(name.clone(), partition.clone(), kind, settings.clone());
        plan.batch_size_max = self.options.export_batch_size.max(1);
        plan.pages_max = self.options.pages_per_run_max;
        let span = info_span!("run", connector = %name, partition = %partition,
            run = tracing::field::Empty, kind = kind.as_str());
        let result = self
            .pump(RunMachine::new(plan), connector, &mut guard)
            .instrument(span)
            .await;
        // Reported: nothing is left for the guard to close. Failed: the guard asks the writer to
        // close whatever is still open, so the partition is not blocked until the log reopens.
        guard.over = result.is_ok();
        result
    }

    /// The run loop: drain the machine's actions, carry out its command and its connector call
    /// together (or stop for [`Engine::interrupt`]), hand both answers back, and again.
    async fn pump<C: Connector>(
        &self,
        mut machine: RunMachine,
        connector: &mut C,
        guard: &mut RunGuard<'_, S>,
    ) -> Result<RunReport, EngineError> {
        let plan = machine.plan();
        let mut context = RunContext {
            run: RunId(0),
            connector: plan.connector.clone(),
            partition: plan.partition.clone(),
            kind: plan.kind,
            start_watermark: None,
        };
        let signal = Arc::new(Notify::new());
        let mut last = None;
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
                        lock(&self.running).insert(run, Arc::clone(&signal));
                        guard.run = Some(run);
                        context.run = run;
                        context.start_watermark.clone_from(start_watermark);
                        call = Some(action);
                    }
                    other => call = Some(other),
                }
            }
            // A run may be interrupted at any step but its close and end (on their way).
            let ending = matches!(command, Some(Command::EndRun { .. }))
                || matches!(call, Some(Action::Close));
            let answers = tokio::select! {
                biased;
                () = signal.notified(), if !ending => None,
                both = async {
                    tokio::join!(self.execute_traced(command), self.call(connector, &context, call))
                } => Some(both),
            };
            let Some((written, answer)) = answers else {
                return self.interrupted(connector, &context).await;
            };
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

    /// Ends a run that [`Engine::interrupt`] stopped: the connector's session is closed and the
    /// run is recorded as `interrupted`, durably.
    async fn interrupted<C: Connector>(
        &self,
        connector: &mut C,
        context: &RunContext,
    ) -> Result<RunReport, EngineError> {
        warn!("the run was interrupted");
        self.call(connector, context, Some(Action::Close)).await;
        let written = self
            .execute(Command::InterruptRun { run: context.run })
            .await?;
        Self::report(context.run, Some(written))
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

    /// Stops the engine after the queued commands and gives the log back; runs still in flight
    /// are recorded as `interrupted`. Works from a shared handle; only the first call gets the
    /// log (later ones: [`EngineError::WriterStopped`]). Blocks until the writer has flushed:
    /// call it outside the runtime, or in `spawn_blocking`.
    pub fn shutdown(&self) -> Result<Log<S>, EngineError> {
        drop(
            self.requests
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take(),
        );
        // Runs in progress stop at their next step instead of waiting on their connector.
        for signal in lock(&self.running).values() {
            signal.notify_one();
        }
        let writer = lock(&self.writer).take();
        match writer {
            None => Err(EngineError::WriterStopped),
            Some(Err(reason)) => Err(EngineError::WriterNotStarted { reason }),
            Some(Ok(handle)) => handle.join().map_err(|panic| EngineError::WriterPanicked {
                message: panic_message(panic.as_ref()),
            }),
        }
    }
}

/// Locks a mutex of the engine's bookkeeping; a panic elsewhere while it was held leaves data that
/// is still consistent (maps of handles), so a poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held by a run from the moment it holds its partition: when the run's future is dropped before
/// its end, the partition's open run is closed as interrupted (by the writer, in log order) and
/// only then is the partition free for the next run.
struct RunGuard<'a, S: RecordStore + Send + 'static> {
    engine: &'a Engine<S>,
    connector: ConnectorName,
    partition: PartitionName,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    run: Option<RunId>,
    /// The run reported: nothing to close.
    over: bool,
}

impl<S: RecordStore + Send + 'static> Drop for RunGuard<'_, S> {
    fn drop(&mut self) {
        if let Some(run) = self.run {
            lock(&self.engine.running).remove(&run);
        }
        if self.over {
            return;
        }
        let Ok(sender) = self.engine.sender() else {
            // Shut down: the writer interrupted every open run on its way out.
            return;
        };
        let request = Request::Abandoned {
            connector: self.connector.clone(),
            partition: self.partition.clone(),
            at: (self.engine.clock)(),
        };
        match sender.try_send(request) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(request)) => {
                // The queue is full: wait for room in a task that keeps the partition until the
                // request is queued, so no next run can start before it.
                let held = self.held.take();
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        let _ = sender.send(request).await;
                        drop(held);
                    });
                }
            }
        }
    }
}
