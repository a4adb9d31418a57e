//! The engine as an embedder holds it: runs whose futures are dropped, runs stopped on purpose, a
//! shutdown from a shared handle with a run in flight, a runtime without timers, a test clock
//! that keeps state, and connectors held as trait objects. In each case the log says what
//! happened to every run, and the partition is free for the next one.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use syncfold::core::*;
use syncfold::engine::scripted::ScriptedConnector;
use syncfold::engine::{
    Connector, DynConnector, Engine, EngineError, EngineOptions, ImportRequest, RunContext,
};
use syncfold::log::{verify, Log, LogOptions, MemoryStore};
use syncfold::script::{ImportPage, Step};

fn engine() -> Engine<MemoryStore> {
    let (log, _) = Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).expect("log");
    Engine::with_clock(log, EngineOptions::default(), || Timestamp(1_000))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime")
}

/// Returns page 1, then hangs on page 2 (far longer than any test waits).
struct Hangs;

impl Connector for Hangs {
    async fn open_run(&mut self, _context: &RunContext) -> Result<(), Fault> {
        Ok(())
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        if request.page >= 2 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(Some(Page {
            watermark: Some(Watermark::from_text("W1")),
            ..Page::default()
        }))
    }

    async fn export(
        &mut self,
        _context: &RunContext,
        _batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        Ok(Vec::new())
    }
}

fn names() -> (ConnectorName, PartitionName) {
    (ConnectorName::from("hr"), PartitionName::from("people"))
}

fn status(engine: &Engine<MemoryStore>, run: u64) -> Option<RunStatus> {
    runtime()
        .block_on(engine.inspect(move |state| state.run(RunId(run)).and_then(|r| r.status)))
        .expect("the engine answers")
}

/// Waits until run 1 has recorded its first page.
async fn first_page_recorded(engine: &Engine<MemoryStore>) {
    for _ in 0..500 {
        let pages = engine
            .inspect(|state| state.open_run(RunId(1)).map_or(0, |run| run.counts().pages))
            .await
            .expect("the engine answers");
        if pages >= 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run 1 never recorded its first page");
}

#[test]
fn a_dropped_run_is_recorded_as_interrupted_and_frees_its_partition() {
    let engine = engine();
    let (connector, partition) = names();
    let settings = Settings::default();
    let next = runtime().block_on(async {
        let cut = tokio::time::timeout(
            Duration::from_millis(300),
            engine.run(
                &mut Hangs,
                &connector,
                &partition,
                RunKind::FullImport,
                &settings,
            ),
        )
        .await;
        assert!(cut.is_err(), "the outer timeout cut the run");
        // Without the interruption this run would be refused: run 1 would still be open.
        engine
            .run(
                &mut ScriptedConnector::new(),
                &connector,
                &partition,
                RunKind::FullImport,
                &settings,
            )
            .await
            .expect("the partition is free again")
    });
    assert_eq!(next.record.id, RunId(2));
    assert_eq!(next.record.status, Some(RunStatus::Success));
    assert_eq!(status(&engine, 1), Some(RunStatus::Interrupted));
    let log = engine.shutdown().expect("shutdown");
    verify(log.store()).expect("the log verifies");
}

#[test]
fn interrupt_stops_a_run_and_reports_it_interrupted() {
    let engine = Arc::new(engine());
    let runtime = runtime();
    let report = runtime.block_on(async {
        let running = Arc::clone(&engine);
        let task = tokio::spawn(async move {
            let (connector, partition) = names();
            running
                .run(
                    &mut Hangs,
                    &connector,
                    &partition,
                    RunKind::DeltaImport,
                    &Settings::default(),
                )
                .await
        });
        first_page_recorded(&engine).await;
        assert!(engine.interrupt(RunId(1)), "run 1 is in progress");
        assert!(!engine.interrupt(RunId(7)), "there is no run 7");
        task.await.expect("the task ends").expect("the run reports")
    });
    assert_eq!(report.record.status, Some(RunStatus::Interrupted));
    assert_eq!(report.record.counts.pages, 1);
    let end = report.record.ended.as_ref().expect("ended").seq;
    assert!(report.durable.covers(end), "reported only once durable");
    assert!(
        !engine.interrupt(RunId(1)),
        "a finished run cannot be interrupted"
    );
}

#[test]
fn shutdown_from_a_shared_handle_interrupts_the_run_in_flight() {
    let engine = Arc::new(engine());
    let runtime = runtime();
    let running = Arc::clone(&engine);
    runtime.spawn(async move {
        let (connector, partition) = names();
        let _ = running
            .run(
                &mut Hangs,
                &connector,
                &partition,
                RunKind::FullImport,
                &Settings::default(),
            )
            .await;
    });
    runtime.block_on(first_page_recorded(&engine));
    let log = engine.shutdown().expect("the first shutdown gets the log");
    let run = log.state().run(RunId(1)).expect("run 1");
    assert_eq!(run.status, Some(RunStatus::Interrupted));
    assert_eq!(log.acknowledged(), log.last_seq(), "flushed on the way out");
    assert!(matches!(engine.shutdown(), Err(EngineError::WriterStopped)));
    let (connector, partition) = names();
    let after = runtime.block_on(engine.run(
        &mut ScriptedConnector::new(),
        &connector,
        &partition,
        RunKind::FullImport,
        &Settings::default(),
    ));
    assert!(
        matches!(after, Err(EngineError::WriterStopped)),
        "{after:?}"
    );
}

#[test]
fn a_runtime_without_timers_is_an_error_not_a_panic() {
    let engine = engine();
    let (connector, partition) = names();
    let without_timers = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let result = without_timers.block_on(engine.run(
        &mut ScriptedConnector::new(),
        &connector,
        &partition,
        RunKind::FullImport,
        &Settings::default(),
    ));
    let error = result.expect_err("no time driver");
    assert!(matches!(error, EngineError::NoTimeDriver));
    assert!(error.to_string().contains("enable_time()"), "{error}");
    // Nothing was started, so nothing is left open.
    assert_eq!(status(&engine, 1), None);
}

#[test]
fn the_clock_may_be_a_closure_with_state() {
    let ticks = Arc::new(AtomicI64::new(100));
    let clock = {
        let ticks = Arc::clone(&ticks);
        move || Timestamp(ticks.fetch_add(1, Ordering::SeqCst))
    };
    let (log, _) = Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).expect("log");
    let engine = Engine::with_clock(log, EngineOptions::default(), clock);
    let (connector, partition) = names();
    let report = runtime()
        .block_on(engine.run(
            &mut ScriptedConnector::new(),
            &connector,
            &partition,
            RunKind::FullImport,
            &Settings::default(),
        ))
        .expect("runs");
    assert_eq!(report.record.started.at, Timestamp(100));
    assert!(
        ticks.load(Ordering::SeqCst) > 101,
        "each command read the clock"
    );
}

#[test]
fn connectors_can_be_held_as_trait_objects() {
    let step = Step::Import {
        partition: PartitionName::from("people"),
        kind: RunKind::FullImport,
        pages: vec![ImportPage::Page(Page {
            changes: vec![ObjectChange {
                anchor: Anchor::from("u1"),
                kind: ChangeKind::Add,
                attributes: Attributes::new(),
            }],
            watermark: Some(Watermark::from_text("W1")),
            ..Page::default()
        })],
    };
    let mut scripted = ScriptedConnector::new();
    scripted.script(&step);
    let mut registry: Vec<(ConnectorName, Box<dyn DynConnector>)> = vec![
        (ConnectorName::from("hr"), Box::new(scripted)),
        (
            ConnectorName::from("crm"),
            Box::new(ScriptedConnector::new()),
        ),
    ];
    let engine = engine();
    let partition = PartitionName::from("people");
    let runtime = runtime();
    for (name, connector) in &mut registry {
        let report = runtime
            .block_on(engine.run(
                connector,
                name,
                &partition,
                RunKind::FullImport,
                &Settings::default(),
            ))
            .expect("runs");
        assert_eq!(report.record.status, Some(RunStatus::Success));
    }
    let staged = runtime
        .block_on(engine.inspect(|state| {
            state
                .partition(&ConnectorName::from("hr"), &PartitionName::from("people"))
                .map_or(0, |part| part.objects().len())
        }))
        .expect("answers");
    assert_eq!(staged, 1);
}
