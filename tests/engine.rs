//! The tokio engine drives connectors through the core into the log as the rules say.
//!
//! The engine playing a scripted history must reach exactly the outcome of the pure synchronous
//! player (same runs, statuses, watermarks, connector space and pending exports), for the demo and
//! for generated histories; connectors that panic, hang or answer an export batch with the wrong
//! objects become `connector-exception` runs while the engine goes on; many partitions and
//! connectors run at once into one log that verifies; every run is reported with a durability
//! token that covers its end.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::ops::ControlFlow;
use std::time::Duration;
use syncfold::core::*;
use syncfold::engine::scripted::{play, ScriptedConnector};
use syncfold::engine::{Connector, Engine, EngineOptions, ImportRequest, RunContext};
use syncfold::log::{replay, verify, Log, LogOptions, MemoryStore};
use syncfold::script::{Player, Script};
use syncfold::testkit::generate::{script, HistoryShape};

fn clock() -> Timestamp {
    Timestamp(1_000)
}

fn engine(options: EngineOptions) -> Engine<MemoryStore> {
    let (log, _) = Log::open(MemoryStore::new(), LogOptions::default(), clock()).expect("log");
    Engine::with_clock(log, options, clock)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime")
}

/// The outcome an operator reads: runs and partitions, without times and sequence numbers.
fn outcome(state: &State) -> String {
    let mut out = String::new();
    for run in state.runs() {
        out.push_str(&format!(
            "{} {} {} {:?} {:?} {:?} {:?}\n",
            run.id,
            run.partition,
            run.kind.as_str(),
            run.status,
            run.committed_watermark,
            run.obsoletion,
            run.counts
        ));
    }
    for (connector, connector_state) in state.connectors() {
        for (name, part) in connector_state.partitions() {
            let objects: Vec<(String, bool)> = part
                .objects()
                .iter()
                .map(|(a, o)| (a.to_owned(), o.obsolete))
                .collect();
            let pending: Vec<(String, &str)> = part
                .exports()
                .in_order()
                .map(|e| (e.change.anchor.0.clone(), e.change.kind.as_str()))
                .collect();
            out.push_str(&format!(
                "{connector}/{name} {:?} {} {objects:?} {pending:?}\n",
                part.committed_watermark(),
                part.full_import_required().is_some()
            ));
        }
    }
    out
}

/// Every event of a log, with the actor that wrote it.
fn events_of(store: &MemoryStore) -> Vec<(String, Event)> {
    let mut events = Vec::new();
    replay(store, 1, None, &mut |_, envelope, _| {
        events.push((envelope.actor.0.clone(), envelope.event.clone()));
        ControlFlow::Continue(())
    })
    .expect("the engine's log replays");
    events
}

fn through_engine(script: &Script, batch: usize) -> (State, Vec<u64>, Vec<(String, Event)>) {
    let engine = engine(EngineOptions {
        export_batch_size: batch,
        actor: Actor::from_name("player"),
        ..EngineOptions::default()
    });
    let mut reported = Vec::new();
    runtime()
        .block_on(play(&engine, script, |report| {
            let end = report
                .record
                .ended
                .as_ref()
                .expect("a reported run has ended")
                .seq;
            assert!(
                report.durable.covers(end),
                "run {} reported before it was durable",
                report.record.id
            );
            reported.push(report.record.id.0);
        }))
        .expect("plays");
    let log = engine.shutdown().expect("shutdown");
    verify(log.store()).expect("the engine's log verifies");
    (log.state().clone(), reported, events_of(log.store()))
}

/// The player's state and events, each with its actor.
fn through_player(script: &Script, batch: usize) -> (State, Vec<(String, Event)>) {
    let mut player = Player::new(Actor::from_name("player"), clock(), 0).with_batch_size_max(batch);
    player.play_script(script).expect("plays");
    let events = player
        .log()
        .iter()
        .map(|envelope| (envelope.actor.0.clone(), envelope.event.clone()))
        .collect();
    (player.state().clone(), events)
}

#[test]
fn the_engine_reaches_the_players_outcome_on_the_demo() {
    let script = syncfold::demo::week();
    let (state, reported, events) = through_engine(&script, 100);
    let (played, played_events) = through_player(&script, 100);
    assert_eq!(outcome(&state), outcome(&played));
    assert_eq!(
        events, played_events,
        "the same events, by the engine's actor"
    );
    assert_eq!(
        reported,
        (1..=9).collect::<Vec<u64>>(),
        "every run is reported, in order"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { ProptestConfig::default().cases } else { 200 },
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/engine.txt"))),
        ..ProptestConfig::default()
    })]

    /// The async engine and the pure player agree on every generated history: the same events
    /// (both pump one run machine), so the same outcome.
    #[test]
    fn the_engine_reaches_the_players_outcome(script in script(HistoryShape::default()), batch in 1usize..4) {
        let (state, _, events) = through_engine(&script, batch);
        let (played, played_events) = through_player(&script, batch);
        prop_assert_eq!(outcome(&state), outcome(&played));
        prop_assert_eq!(events, played_events);
    }
}

/// A connector that misbehaves in the way its name says.
enum Misbehaving {
    Panics,
    Hangs,
    AnswersForStrangers,
}

impl Connector for Misbehaving {
    async fn open_run(&mut self, _context: &RunContext) -> Result<(), Fault> {
        Ok(())
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        match self {
            Misbehaving::Panics if request.page == 2 => {
                panic!("index out of bounds in the LDAP parser")
            }
            Misbehaving::Hangs if request.page == 2 => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(None)
            }
            _ if request.page <= 3 => Ok(Some(Page {
                watermark: Some(Watermark::from_text(&format!("W{}", request.page))),
                ..Page::default()
            })),
            _ => Ok(None),
        }
    }

    async fn export(
        &mut self,
        _context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        Ok(batch
            .iter()
            .map(|_| (Anchor::from("stranger"), ExportOutcome::Success))
            .collect())
    }
}

#[test]
fn misbehaving_connectors_are_connector_exceptions_and_the_engine_goes_on() {
    let engine = engine(EngineOptions {
        connector_call_timeout: Duration::from_millis(200),
        ..EngineOptions::default()
    });
    let name = ConnectorName::from("ldap");
    let people = PartitionName::from("people");
    let settings = Settings::default();
    runtime().block_on(async {
        for (mut connector, expected) in [
            (
                Misbehaving::Panics,
                "panicked during import_page: index out of bounds",
            ),
            (Misbehaving::Hangs, "did not answer import_page within"),
        ] {
            let report = engine
                .run(
                    &mut connector,
                    &name,
                    &people,
                    RunKind::DeltaImport,
                    &settings,
                )
                .await
                .expect("run");
            assert_eq!(
                report.record.status,
                Some(RunStatus::StoppedConnectorException)
            );
            assert_eq!(
                report.record.committed_watermark,
                Some(Watermark::from_text("W1")),
                "R1: page 1 commits"
            );
            let fault = report
                .record
                .fault
                .as_ref()
                .expect("the fault is on the run");
            assert_eq!(fault.kind, FaultKind::ConnectorException);
            assert!(fault.message.contains(expected), "{}", fault.message);
        }
        engine
            .queue_export(
                &name,
                &people,
                ExportChange {
                    anchor: Anchor::from("u1"),
                    kind: ExportChangeKind::Add,
                    attributes: Attributes::new(),
                    references: Attributes::new(),
                },
            )
            .await
            .expect("queue");
        let report = engine
            .run(
                &mut Misbehaving::AnswersForStrangers,
                &name,
                &people,
                RunKind::Export,
                &settings,
            )
            .await
            .expect("export");
        assert_eq!(
            report.record.status,
            Some(RunStatus::StoppedConnectorException)
        );
        let message = &report.record.fault.as_ref().expect("fault").message;
        assert!(message.contains("export results were refused"), "{message}");
        let pending = engine
            .inspect(|state| {
                state
                    .partition(&ConnectorName::from("ldap"), &PartitionName::from("people"))
                    .map_or(0, |p| p.exports().len())
            })
            .await
            .expect("inspect");
        assert_eq!(pending, 1, "nothing is lost: u1 is still pending");
        // Three runs in a row ended with connector-exception: R9 makes it permanent and
        // suspends the connector until an administrator resumes it.
        let report = engine
            .run(
                &mut ScriptedConnector::new(),
                &name,
                &people,
                RunKind::FullImport,
                &settings,
            )
            .await
            .expect("refused run");
        assert_eq!(report.record.status, Some(RunStatus::NoStartSuspended));
        engine
            .admin(&name, None, AdminAction::Resume)
            .await
            .expect("resume");
        // The engine still works after all that.
        let report = engine
            .run(
                &mut ScriptedConnector::new(),
                &name,
                &people,
                RunKind::FullImport,
                &settings,
            )
            .await
            .expect("full");
        assert_eq!(report.record.status, Some(RunStatus::Success));
    });
    let log = engine.shutdown().expect("shutdown");
    verify(log.store()).expect("the log verifies after the misbehaviour");
}

#[test]
fn many_partitions_and_connectors_at_once_share_one_ordered_log() {
    let engine = std::sync::Arc::new(engine(EngineOptions {
        queue_depth: 4,
        ..EngineOptions::default()
    }));
    let runtime = runtime();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for connector_index in 0..3 {
            for partition_index in 0..4 {
                let engine = engine.clone();
                tasks.push(tokio::spawn(async move {
                    let name = ConnectorName(format!("c{connector_index}"));
                    let partition = PartitionName(format!("p{partition_index}"));
                    let mut connector = ScriptedConnector::new();
                    for round in 0..5u64 {
                        let pages = (1..=3)
                            .map(|page| {
                                syncfold::script::ImportPage::Page(Page {
                                    changes: vec![ObjectChange {
                                        anchor: Anchor(format!("u{round}-{page}")),
                                        kind: ChangeKind::Add,
                                        attributes: Attributes::new(),
                                    }],
                                    watermark: Some(Watermark::from_text(&format!(
                                        "r{round}p{page}"
                                    ))),
                                    ..Page::default()
                                })
                            })
                            .collect();
                        connector.script(&syncfold::script::Step::Import {
                            partition: partition.clone(),
                            kind: RunKind::DeltaImport,
                            pages,
                        });
                        let report = engine
                            .run(
                                &mut connector,
                                &name,
                                &partition,
                                RunKind::DeltaImport,
                                &Settings::default(),
                            )
                            .await
                            .expect("run");
                        assert_eq!(report.record.status, Some(RunStatus::Success));
                        assert_eq!(
                            report.record.committed_watermark,
                            Some(Watermark::from_text(&format!("r{round}p3")))
                        );
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("task");
        }
    });
    let engine = std::sync::Arc::into_inner(engine).expect("sole owner");
    let log = engine.shutdown().expect("shutdown");
    let report = verify(log.store()).expect("one verified log");
    assert_eq!(log.state().runs().len(), 60);
    assert_eq!(report.records, log.last_seq());
    // Runs of one partition never overlapped: each started after the previous one ended.
    let mut last_end: std::collections::BTreeMap<(ConnectorName, PartitionName), u64> =
        Default::default();
    for run in log.state().runs() {
        let key = (run.connector.clone(), run.partition.clone());
        let previous = last_end.get(&key).copied().unwrap_or(0);
        assert!(
            run.started.seq > previous,
            "run {} overlapped the previous run of its partition",
            run.id
        );
        last_end.insert(key, run.ended.as_ref().expect("ended").seq);
    }
}
