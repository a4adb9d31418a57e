//! The run machine decides a run's course whatever order its pump answers in.
//!
//! `Player` (synchronous) and `Engine` (tokio) are two pumps of one `RunMachine`. An embedder may
//! write a third. Here a pump of its own answers every connector call *before* the command of the
//! same drain is carried out (the opposite of the player's order), with or without read-ahead and
//! with any page limit: for every generated history the log must hold exactly the events the
//! player writes, so the order in which a shell answers cannot change what a run records.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use syncfold::core::*;
use syncfold::script::{Player, Script, ScriptedAnswers, Step};
use syncfold::testkit::generate::{script, HistoryShape};

/// A pump that drains every action, answers the connector first, then carries out the command.
fn connector_first(script: &Script, read_ahead: bool, batch: usize) -> Vec<Envelope> {
    let mut state = State::new();
    let mut log = Vec::new();
    let mut execute = |state: &mut State, command: &Command| -> Result<Executed, Rejection> {
        let events = decide(state, command)?;
        for event in &events {
            let envelope = Envelope::new(Timestamp(0), Actor::from_name("t"), event.clone());
            state
                .apply(state.last_seq() + 1, &envelope)
                .expect("the fold accepts what the decider decided");
            log.push(envelope);
        }
        Ok(Executed::new(state, events))
    };
    for step in &script.steps {
        let (before, plan) = step.prepare(&script.connector, &script.settings);
        for command in &before {
            execute(&mut state, command).expect("accepted");
        }
        let Some(mut plan) = plan else { continue };
        plan.read_ahead = read_ahead;
        plan.batch_size_max = batch;
        let mut answers = ScriptedAnswers::of(step);
        let mut machine = RunMachine::new(plan);
        let mut finished = false;
        while !finished {
            let mut command = None;
            let mut call = None;
            while let Some(action) = machine.poll() {
                match action {
                    Action::Execute(next) => {
                        assert!(command.replace(next).is_none(), "one command per drain")
                    }
                    Action::Finished { .. } => finished = true,
                    other => assert!(call.replace(other).is_none(), "one call per drain"),
                }
            }
            assert!(
                finished || command.is_some() || call.is_some(),
                "the machine waits for nothing"
            );
            match call {
                Some(Action::Open { .. }) => machine.opened(answers.open()),
                Some(Action::ReadPage { page, .. }) => machine.page_read(answers.page(page)),
                Some(Action::Export { changes }) => machine.exported(Ok(answers.export(&changes))),
                Some(Action::Close) => machine.closed(),
                _ => Ok(()),
            }
            .expect("the machine asked for this answer");
            if let Some(command) = command {
                match execute(&mut state, &command) {
                    Ok(executed) => machine.executed(&executed).expect("asked"),
                    Err(rejection) => machine.refused(rejection).expect("a connector's answer"),
                }
            }
        }
    }
    log
}

fn events(log: &[Envelope]) -> Vec<Event> {
    log.iter().map(|envelope| envelope.event.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_answer_order_records_what_the_player_records(
        script in script(HistoryShape::default()),
        read_ahead in any::<bool>(),
        batch in 1usize..4,
    ) {
        let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 0)
            .with_batch_size_max(batch);
        player.play_script(&script).expect("the player plays generated histories");
        let pumped = connector_first(&script, read_ahead, batch);
        prop_assert_eq!(events(&pumped), events(player.log()));
    }
}

/// The machine's page limit: page `pages_max` is recorded, page `pages_max + 1` is never asked
/// for, and the run stops as a connector exception naming the limit.
#[test]
fn a_run_reads_at_most_its_page_limit() {
    let page = |mark: &str| {
        syncfold::script::ImportPage::Page(Page {
            watermark: Some(Watermark::from_text(mark)),
            ..Page::default()
        })
    };
    let step = Step::Import {
        partition: PartitionName::from("p"),
        kind: RunKind::FullImport,
        pages: vec![page("a"), page("b"), page("c")],
    };
    let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 0);
    let mut plan = RunPlan::new(
        "c".into(),
        "p".into(),
        RunKind::FullImport,
        Settings::default(),
    );
    plan.pages_max = 2;
    let run = player
        .run(plan, ScriptedAnswers::of(&step))
        .expect("the run plays");
    let record = player.state().run(run).expect("recorded");
    assert_eq!(record.counts.pages, 2);
    assert_eq!(record.status, Some(RunStatus::StoppedConnectorException));
    let fault = record.fault.as_ref().expect("a fault");
    assert!(fault.message.contains("more than 2 pages"), "{fault:?}");
}

/// An embedder's own loop over a real log: the machine pumped with `Log::step`.
fn through_log(script: &Script) -> Vec<Event> {
    use syncfold::log::{replay, Log, LogOptions, MemoryStore};
    let (mut log, _) =
        Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).expect("log");
    let me = Actor::from_name("t");
    for step in &script.steps {
        let (before, plan) = step.prepare(&script.connector, &script.settings);
        for command in before {
            log.step(command, Timestamp(0), &me).expect("accepted");
        }
        let Some(plan) = plan else { continue };
        let mut answers = ScriptedAnswers::of(step);
        let mut machine = RunMachine::new(plan);
        while let Some(action) = machine.poll() {
            match action {
                Action::Execute(command) => {
                    let executed = log.step(command, Timestamp(0), &me).expect("accepted");
                    machine.executed(&executed).expect("asked")
                }
                Action::Open { .. } => machine.opened(answers.open()).expect("asked"),
                Action::ReadPage { page, .. } => {
                    machine.page_read(answers.page(page)).expect("asked")
                }
                Action::Export { changes } => machine
                    .exported(Ok(answers.export(&changes)))
                    .expect("asked"),
                Action::Close => machine.closed().expect("asked"),
                Action::Finished { run, .. } => {
                    let durable = log.durable().expect("a run's end is flushed");
                    assert!(
                        log.finished_run(run, &durable).is_some(),
                        "run {run} is durable"
                    );
                }
            }
        }
    }
    let mut events = Vec::new();
    replay(log.store(), 1, None, &mut |_, envelope, _| {
        events.push(envelope.event.clone());
        std::ops::ControlFlow::Continue(())
    })
    .expect("replays");
    events
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 100,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// The machine pumped over a real log writes the player's events, and each run it finishes
    /// is durable.
    #[test]
    fn a_pump_over_the_log_records_what_the_player_records(script in script(HistoryShape::default())) {
        let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 0);
        player.play_script(&script).expect("plays");
        prop_assert_eq!(through_log(&script), events(player.log()));
    }
}

/// The typed run API: an export sends its batch with the changes, a stop-run result stops it,
/// and a start on a disabled connector is refused with a durable record.
#[test]
fn the_typed_run_api_answers_with_what_happened() {
    use syncfold::log::{Log, LogOptions, MemoryStore, RunStart};
    let (mut log, _) =
        Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0)).expect("log");
    let me = Actor::from_name("mine");
    let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
    for anchor in ["a", "b", "c"] {
        let change = ExportChange {
            anchor: Anchor::from(anchor),
            kind: ExportChangeKind::Add,
            attributes: Attributes::new(),
            references: Attributes::new(),
        };
        let queue = Command::QueueExport {
            connector: hr.clone(),
            partition: people.clone(),
            change,
        };
        log.step(queue, Timestamp(1), &me).expect("queued");
    }
    let settings = Settings::default();
    let RunStart::Started { run, .. } = log
        .start_run(&hr, &people, RunKind::Export, &settings, Timestamp(2), &me)
        .expect("starts")
    else {
        panic!("an export on a new partition starts");
    };
    let batch = log
        .next_export_batch(run, 2, Timestamp(3), &me)
        .expect("a batch");
    let anchors: Vec<&str> = batch
        .iter()
        .map(|change| change.anchor.0.as_str())
        .collect();
    assert_eq!(
        anchors,
        ["a", "b"],
        "in queue order, at most the batch size"
    );
    let stop = ExportOutcome::CustomStopRun {
        name: "quota".into(),
        description: "the mailbox quota is reached".into(),
    };
    let recorded = log
        .record_export_results(run, vec![(Anchor::from("a"), stop)], Timestamp(4), &me)
        .expect("recorded");
    assert!(
        recorded.run_stopped,
        "a custom-stop-run result stops the run"
    );
    let ended = log.end_run(run, Timestamp(5), &me).expect("ends");
    assert_eq!(ended.record.status, Some(RunStatus::StoppedObjectError));
    // A page for a run that has ended is refused, and changes nothing.
    let last = log.last_seq();
    let late = log.record_page(run, Page::default(), Timestamp(6), &me);
    assert!(
        matches!(late, Err(syncfold::log::LogError::Rejected(_))),
        "{late:?}"
    );
    assert_eq!(log.last_seq(), last);
    // Bad credentials disable the connector: the next start is refused, durably.
    let RunStart::Started { run, .. } = log
        .start_run(
            &hr,
            &people,
            RunKind::FullImport,
            &settings,
            Timestamp(7),
            &me,
        )
        .expect("starts")
    else {
        panic!("not disabled yet");
    };
    let fault = Fault {
        kind: FaultKind::BadCredentials,
        message: "invalid credentials".into(),
    };
    log.record_fault(run, fault, Timestamp(8), &me)
        .expect("recorded");
    log.end_run(run, Timestamp(9), &me).expect("ends");
    let refused = log
        .start_run(
            &hr,
            &people,
            RunKind::FullImport,
            &settings,
            Timestamp(10),
            &me,
        )
        .expect("answers");
    let RunStart::Refused(report) = refused else {
        panic!("a disabled connector's run is refused: {refused:?}");
    };
    assert_eq!(report.record.status, Some(RunStatus::NoStartDisabled));
    assert!(report
        .durable
        .covers(report.record.ended.as_ref().expect("ended").seq));
}
