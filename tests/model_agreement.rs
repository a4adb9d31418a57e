//! The core agrees with an independent reference model of the rules.
//!
//! `syncfold::testkit::reference::ReferenceModel` was written from SPEC.md and docs/SEMANTICS.md alone,
//! without the core's decider or fold. proptest-state-machine generates histories step by step
//! (imports with errors, faults and limits; exports with every action; administrator actions,
//! SPEC §8's `set-watermark` and `require-full-import` included, whose acceptance or refusal the
//! core and the model must agree on, refusal reason included),
//! half of them wide and half in the health shape (few objects, many faults and errors), plays
//! each step through the real core and through the model, and after every step compares what both
//! say (`syncfold::testkit::agreement::compare`, the check embedders use too): each partition's
//! committed watermark, `full-import-required`, connector space (anchor and obsolete flag),
//! pending exports in send order and stuck-watermark count and warning (R6), every run's status,
//! committed watermark, obsoletion, obsoleted count, errors and warnings, and the alert wall
//! (R10: scope, partition, anchor, code, severity, recipient, and the objects a stuck-watermark
//! alert names). On a disagreement proptest shrinks the history to the shortest one that shows
//! it. A second test draws histories the same way and counts how many reach, and close, each kind
//! of alert, so that the agreement is never vacuous for one of them.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use syncfold::core::*;
use syncfold::script::{ImportPage, PlayError, Player, Step};
use syncfold::testkit::agreement;
use syncfold::testkit::generate::{history_step, settings, HistoryShape, HistoryStep};
use syncfold::testkit::reference::{ModelAlert, ModelRefusal, ReferenceModel};

#[derive(Clone, Debug)]
struct Reference {
    model: ReferenceModel,
    settings: Settings,
    batch_size: usize,
    steps: usize,
    /// Wide histories, or the health shape (many faults and errors on few objects) so that
    /// escalations, suspensions, disabling and stuck watermarks happen.
    shape: HistoryShape,
    /// What the model said to the last administrator's action of SPEC §8, for the core to agree.
    administered: Option<Result<(), ModelRefusal>>,
}

struct Rules;

impl ReferenceStateMachine for Rules {
    type State = Reference;
    type Transition = HistoryStep;

    fn init_state() -> BoxedStrategy<Reference> {
        let shape = prop_oneof![Just(HistoryShape::default()), Just(HistoryShape::health())];
        (settings(), 1usize..4, shape)
            .prop_map(|(settings, batch_size, shape)| Reference {
                model: ReferenceModel::new(ConnectorName::from("c"), settings.clone(), batch_size),
                settings,
                batch_size,
                steps: 0,
                shape,
                administered: None,
            })
            .boxed()
    }

    fn transitions(state: &Reference) -> BoxedStrategy<HistoryStep> {
        let index = state.steps;
        // set-watermark mostly names a run that committed (as the model says: a model that is
        // wrong about it is refused by the core, and the two disagree), else any run.
        let runs: Vec<(RunId, PartitionName)> = state
            .model
            .committed_runs()
            .into_iter()
            .map(|(run, partition)| (RunId(run), partition))
            .collect();
        let last_run = state.model.runs().len() as u64;
        history_step(&state.shape, &runs, last_run)
            .prop_map(move |mut step| {
                // Unique watermarks per step and page, so a commit names exactly its page.
                if let HistoryStep::Step(Step::Import { pages, .. }) = &mut step {
                    for (page_index, page) in pages.iter_mut().enumerate() {
                        if let ImportPage::Page(page) = page {
                            if page.watermark.is_some() {
                                page.watermark = Some(Watermark::from_text(&format!(
                                    "s{index}p{}",
                                    page_index + 1
                                )));
                            }
                        }
                    }
                }
                step
            })
            .boxed()
    }

    fn apply(mut state: Reference, step: &HistoryStep) -> Reference {
        state.administered = match step {
            HistoryStep::Step(step) => {
                state.model.apply(step);
                None
            }
            HistoryStep::Administer {
                partition,
                action,
                run,
            } => Some(
                state
                    .model
                    .administer(partition.as_ref(), *action, run.map(|run| run.0)),
            ),
        };
        state.steps += 1;
        state
    }
}

/// The model's word for the core's refusal of an administrator's action.
fn as_model_refusal(rejection: &Rejection) -> Option<ModelRefusal> {
    match &rejection.refusal {
        CommandRefusal::Administrator(refusal) => match refusal {
            AdminRefusal::NoPartition { .. } => Some(ModelRefusal::NoPartition),
            AdminRefusal::UnknownPartition { .. } => Some(ModelRefusal::UnknownPartition),
            AdminRefusal::SetWatermarkWithoutRun { .. } => Some(ModelRefusal::NoRun),
            AdminRefusal::SetWatermarkNotCommitted { .. } => Some(ModelRefusal::NotCommitted),
            _ => None,
        },
        _ => None,
    }
}

struct Core {
    player: Player,
}

impl StateMachineTest for Core {
    type SystemUnderTest = Core;
    type Reference = Rules;

    fn init_test(reference: &Reference) -> Core {
        Core {
            player: Player::new(Actor::from_name("model-test"), Timestamp(0), 1)
                .with_batch_size_max(reference.batch_size),
        }
    }

    fn apply(mut core: Core, reference: &Reference, step: HistoryStep) -> Core {
        let connector = ConnectorName::from("c");
        if let Some(command) = step.command(&connector) {
            // SPEC §8: the core and the model accept and refuse the same actions, for the same
            // reason.
            let core_said = match core.player.execute(&command) {
                Ok(_) => Ok(()),
                Err(PlayError::Rejected(rejection)) => Err(as_model_refusal(&rejection)
                    .unwrap_or_else(|| panic!("an unexpected refusal: {rejection}"))),
                Err(error) => panic!("the core failed an administrator's action: {error}"),
            };
            assert_eq!(
                Some(core_said),
                reference.administered,
                "the core and the model disagree on {step:?}"
            );
            return core;
        }
        let HistoryStep::Step(step) = step else {
            unreachable!("an administrator's action is a command")
        };
        if let Err(error) = core.player.play(&connector, &reference.settings, &step) {
            panic!("the core refused a generated step: {error}\nstep: {step:?}");
        }
        core
    }

    fn check_invariants(core: &Core, reference: &Reference) {
        let differences = agreement::compare(
            core.player.state(),
            &ConnectorName::from("c"),
            &reference.model,
        );
        let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
        assert!(
            differences.is_empty(),
            "the core and the model disagree:\n{}",
            listed.join("\n")
        );
    }
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        // Cheap (about 15 s on 2 cores): rare histories, such as parents that name each other,
        // need thousands of cases to come up.
        config.cases = 20_000;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/model_agreement.txt",
    )));
    config
}

prop_state_machine! {
    #![proptest_config(config())]

    /// The core and the reference model agree after every step of every generated history.
    #[test]
    fn core_agrees_with_the_reference_model(sequential 1..30 => Core);
}

const TRANSIENT: [&str; 4] = [
    "server-down",
    "failed-connection",
    "dropped-connection",
    "connector-exception",
];

/// The kind of an alert of the model's wall, as the coverage test counts it (one name for each
/// kind of alert R10 and SEMANTICS define).
fn alert_kind(alert: &ModelAlert) -> &'static str {
    let transient = TRANSIENT.contains(&alert.code.as_str());
    match (alert.scope, alert.severity, alert.code.as_str()) {
        (AlertScope::Object, Severity::Error, _) => "object error (permanent)",
        (AlertScope::Object, _, _) => "object warning",
        (AlertScope::Connector, Severity::Info, _) => "connector info to a partition owner",
        (AlertScope::Connector, Severity::Warning, _) if transient => "transient fault (warning)",
        (AlertScope::Connector, _, _) if transient => "escalated: suspended (error)",
        (AlertScope::Connector, _, _) => "credentials: disabled (error)",
        (_, _, "full-import-required") => "full-import-required",
        (_, _, "watermark-expired" | "import-parse-error" | "import-read-error") => {
            "broken change log"
        }
        (_, _, "obsoletion-held") => "obsoletion-held",
        (_, _, "stuck-watermark") if alert.objects.is_empty() => "stuck-watermark",
        (_, _, "stuck-watermark") => "stuck-watermark naming objects",
        (_, _, "snapshot-limit-exceeded") => "snapshot-limit-exceeded",
        (_, _, "error-limit-exceeded") => "error-limit-exceeded",
        (_, _, "warning-limit-exceeded") => "warning-limit-exceeded",
        _ => "other",
    }
}

/// The generated histories reach every kind of alert, and close the ones that close by a run, in
/// enough of the cases: otherwise the agreement above would hold vacuously for them. Histories
/// are drawn exactly as the state machine test draws them (same initial states and transitions,
/// 1 to 29 steps), from a fixed seed, and played through the model alone.
#[test]
fn generated_histories_reach_every_alert_kind() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::{BTreeMap, BTreeSet};

    let histories = 1000;
    let mut runner = TestRunner::deterministic();
    let mut opened: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut closed: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut administered: BTreeMap<(&'static str, &'static str), u32> = BTreeMap::new();
    for _ in 0..histories {
        let mut state = Rules::init_state()
            .new_tree(&mut runner)
            .expect("an initial state")
            .current();
        let length = (1usize..30)
            .new_tree(&mut runner)
            .expect("a length")
            .current();
        let (mut opened_here, mut closed_here) = (BTreeSet::new(), BTreeSet::new());
        let mut before: BTreeSet<ModelAlert> = BTreeSet::new();
        for _ in 0..length {
            let step = Rules::transitions(&state)
                .new_tree(&mut runner)
                .expect("a step")
                .current();
            state = Rules::apply(state, &step);
            if let (HistoryStep::Administer { action, .. }, Some(said)) =
                (&step, state.administered)
            {
                let outcome = match said {
                    Ok(()) => "accepted",
                    Err(ModelRefusal::NotCommitted) => "refused: not committed",
                    Err(_) => "refused: no or unknown partition, or no run",
                };
                *administered.entry((action.as_str(), outcome)).or_default() += 1;
            }
            let after: BTreeSet<ModelAlert> = state.model.alerts().into_iter().collect();
            opened_here.extend(after.iter().map(alert_kind));
            closed_here.extend(before.difference(&after).map(alert_kind));
            before = after;
        }
        for kind in opened_here {
            *opened.entry(kind).or_default() += 1;
        }
        for kind in closed_here {
            *closed.entry(kind).or_default() += 1;
        }
    }
    println!("histories reaching each alert kind (of {histories}): {opened:#?}");
    println!("histories closing each alert kind (of {histories}): {closed:#?}");
    println!("administrator actions of SPEC §8 (in {histories} histories): {administered:#?}");
    // SPEC §8's actions are drawn, accepted and refused often enough to be compared.
    for (kind, least) in [
        (("set-watermark", "accepted"), 200),
        (("set-watermark", "refused: not committed"), 100),
        (
            (
                "set-watermark",
                "refused: no or unknown partition, or no run",
            ),
            20,
        ),
        (("require-full-import", "accepted"), 100),
    ] {
        let count = administered.get(&kind).copied().unwrap_or(0);
        assert!(
            count >= least,
            "only {count} of {kind:?}: {administered:#?}"
        );
    }
    let every_kind = [
        "object warning",
        "object error (permanent)",
        "connector info to a partition owner",
        "transient fault (warning)",
        "escalated: suspended (error)",
        "credentials: disabled (error)",
        "full-import-required",
        "broken change log",
        "obsoletion-held",
        "stuck-watermark naming objects",
        "snapshot-limit-exceeded",
        "error-limit-exceeded",
        "warning-limit-exceeded",
    ];
    for kind in every_kind {
        let count = opened.get(kind).copied().unwrap_or(0);
        assert!(
            count >= 5,
            "only {count} histories reach {kind}: {opened:#?}"
        );
    }
    for kind in [
        "object warning",
        "transient fault (warning)",
        "escalated: suspended (error)",
        "credentials: disabled (error)",
        "full-import-required",
        "obsoletion-held",
        "stuck-watermark naming objects",
        "snapshot-limit-exceeded",
        "error-limit-exceeded",
    ] {
        let count = closed.get(kind).copied().unwrap_or(0);
        assert!(
            count >= 3,
            "only {count} histories close {kind}: {closed:#?}"
        );
    }
}
