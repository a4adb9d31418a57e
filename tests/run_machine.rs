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
        let (partition, kind) = match step {
            Step::Import {
                partition, kind, ..
            } => (partition, *kind),
            Step::Export {
                partition, enqueue, ..
            } => {
                for change in enqueue {
                    let queue = Command::QueueExport {
                        connector: script.connector.clone(),
                        partition: partition.clone(),
                        change: change.clone(),
                    };
                    execute(&mut state, &queue).expect("queued");
                }
                (partition, RunKind::Export)
            }
            Step::Admin { partition, action } => {
                let admin = Command::RecordAdminAction {
                    connector: script.connector.clone(),
                    partition: partition.clone(),
                    action: *action,
                };
                execute(&mut state, &admin).expect("recorded");
                continue;
            }
        };
        let mut plan = RunPlan::new(
            script.connector.clone(),
            partition.clone(),
            kind,
            script.settings.clone(),
        );
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
