//! The core agrees with an independent reference model of the rules.
//!
//! `syncfold::testkit::reference::ReferenceModel` was written from SPEC.md and docs/SEMANTICS.md alone,
//! without the core's decider or fold. proptest-state-machine generates histories step by step
//! (imports with errors, faults and limits; exports with every action; administrator actions),
//! plays each step through the real core and through the model, and after every step compares
//! what both say (`syncfold::testkit::agreement::compare`, the check embedders use too): each partition's committed watermark, `full-import-required`, connector space
//! (anchor and obsolete flag) and pending exports in send order, and every run's status,
//! committed watermark, obsoletion, obsoleted count, errors and warnings. On a disagreement
//! proptest shrinks the history to the shortest one that shows it.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use syncfold::core::*;
use syncfold::script::{ImportPage, Player, Step};
use syncfold::testkit::agreement;
use syncfold::testkit::generate::{settings, step, HistoryShape};
use syncfold::testkit::reference::ReferenceModel;

#[derive(Clone, Debug)]
struct Reference {
    model: ReferenceModel,
    settings: Settings,
    batch_size: usize,
    steps: usize,
    /// Wide histories, or the health shape (many faults and errors on few objects) so that
    /// escalations, suspensions, disabling and stuck watermarks happen.
    shape: HistoryShape,
}

struct Rules;

impl ReferenceStateMachine for Rules {
    type State = Reference;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Reference> {
        let shape = prop_oneof![Just(HistoryShape::default()), Just(HistoryShape::health())];
        (settings(), 1usize..4, shape)
            .prop_map(|(settings, batch_size, shape)| Reference {
                model: ReferenceModel::new(ConnectorName::from("c"), settings.clone(), batch_size),
                settings,
                batch_size,
                steps: 0,
                shape,
            })
            .boxed()
    }

    fn transitions(state: &Reference) -> BoxedStrategy<Step> {
        let index = state.steps;
        step(&state.shape)
            .prop_map(move |mut step| {
                // Unique watermarks per step and page, so a commit names exactly its page.
                if let Step::Import { pages, .. } = &mut step {
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

    fn apply(mut state: Reference, step: &Step) -> Reference {
        state.model.apply(step);
        state.steps += 1;
        state
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

    fn apply(mut core: Core, reference: &Reference, step: Step) -> Core {
        if let Err(error) = core
            .player
            .play(&ConnectorName::from("c"), &reference.settings, &step)
        {
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
        config.cases = 1000;
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
