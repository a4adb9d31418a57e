//! The administrator's actions of SPEC §8 told as stories through the public core API
//! (`script::Player`, which decides and folds): `set-watermark` goes back to the watermark a run
//! committed and restarts R6's count, and is refused (typed, naming the rule) when the run
//! committed nothing on the partition or a run is in flight; the fold refuses the same forged
//! events; `require-full-import` refuses the next delta import until a clean full import, with the
//! administrator as the cause; the four actions of §7 keep their effect when recorded with a
//! reason, and the state remembers who enabled and why. A property closes: whatever the history,
//! `set-watermark` never sets a watermark no run committed.

use proptest::prelude::*;
use std::collections::BTreeMap;
use syncfold::core::*;
use syncfold::script::{ImportPage, PlayError, Player, Step};

fn people() -> PartitionName {
    PartitionName::from("people")
}

fn hr() -> ConnectorName {
    ConnectorName::from("hr")
}

fn w(name: &str) -> Watermark {
    Watermark::from_text(name)
}

fn page(watermark: &str, anchor: &str, error: bool) -> ImportPage {
    let change = ObjectChange {
        anchor: Anchor::from(anchor),
        kind: ChangeKind::Add,
        attributes: Attributes(BTreeMap::from([(
            "mail".to_owned(),
            AttributeValue::Single(format!("{anchor}@example.org")),
        )])),
    };
    let mut page = Page {
        watermark: Some(w(watermark)),
        ..Page::default()
    };
    if error {
        page.errors = vec![DiscoveryError {
            anchor: Anchor::from(anchor),
            kind: ObjectErrorKind::CustomContinueRun,
            name: "invalid-characters-error".into(),
            description: "bad".into(),
        }];
    } else {
        page.changes = vec![change];
    }
    ImportPage::Page(page)
}

struct Story {
    player: Player,
    settings: Settings,
}

impl Story {
    fn new() -> Self {
        Story {
            player: Player::new(Actor::from_name("alice"), Timestamp(1_700_000_000_000), 10),
            settings: Settings {
                stuck_after: 2,
                ..Settings::default()
            },
        }
    }

    fn import(&mut self, kind: RunKind, pages: Vec<ImportPage>) -> RunId {
        let step = Step::Import {
            partition: people(),
            kind,
            pages,
        };
        self.player
            .play(&hr(), &self.settings, &step)
            .expect("the story plays")
            .expect("a run")
    }

    fn act(
        &mut self,
        action: OperatorAction,
        run: Option<RunId>,
        reason: &str,
    ) -> Result<Vec<Event>, PlayError> {
        self.player.execute(&Command::Administer {
            connector: hr(),
            partition: Some(people()),
            action,
            run,
            reason: reason.to_owned(),
        })
    }

    fn part(&self) -> &PartitionState {
        self.player
            .state()
            .partition(&hr(), &people())
            .expect("the partition")
    }

    fn run(&self, run: RunId) -> &RunRecord {
        self.player.state().run(run).expect("the run")
    }
}

fn refusal(result: Result<Vec<Event>, PlayError>) -> Rejection {
    match result {
        Err(PlayError::Rejected(rejection)) => rejection,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn set_watermark_goes_back_to_the_watermark_a_run_committed_and_restarts_r6() {
    let mut story = Story::new();
    let first = story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    story.import(RunKind::DeltaImport, vec![page("usn-20", "u2", false)]);
    // Two held-back deltas: the stuck-watermark warning opens (stuck_after = 2).
    story.import(RunKind::DeltaImport, vec![page("usn-30", "u3", true)]);
    story.import(RunKind::DeltaImport, vec![page("usn-30", "u3", true)]);
    assert!(story.part().stuck().warning);
    let events = story
        .act(
            OperatorAction::SetWatermark,
            Some(first),
            "re-read the window",
        )
        .expect("set-watermark is recorded");
    assert!(matches!(
        events.as_slice(),
        [Event::AdministratorActed { action: OperatorAction::SetWatermark, run: Some(run), reason, .. }]
            if *run == first && reason == "re-read the window"
    ));
    assert_eq!(story.part().committed_watermark(), Some(&w("usn-10")));
    assert_eq!(story.part().committed_by().and_then(|o| o.run), Some(first));
    let set = story.part().watermark_set_back().expect("the set-back");
    assert_eq!(set.run, first);
    assert_eq!(set.by.actor, Actor::from_name("alice"));
    assert_eq!(set.by.reason, "re-read the window");
    // R6: the count restarts and its warning closes; the object's error stays open.
    assert_eq!(story.part().stuck().count, 0);
    assert!(!story.part().stuck().warning);
    assert!(story
        .part()
        .object_errors()
        .contains_key(&Anchor::from("u3")));
    assert!(!story
        .player
        .state()
        .alerts()
        .iter()
        .any(|alert| alert.code == "stuck-watermark"));
    // The next delta import reads from usn-10; its own commit replaces the set-back.
    let next = story.import(RunKind::DeltaImport, vec![page("usn-40", "u4", false)]);
    assert_eq!(story.run(next).start_watermark, Some(w("usn-10")));
    assert_eq!(story.part().committed_watermark(), Some(&w("usn-40")));
    assert!(story.part().watermark_set_back().is_none());
}

#[test]
fn set_watermark_is_refused_for_a_run_that_committed_nothing_on_the_partition() {
    let mut story = Story::new();
    story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    let held = story.import(RunKind::DeltaImport, vec![page("usn-20", "u2", true)]);
    let rejection = refusal(story.act(OperatorAction::SetWatermark, Some(held), ""));
    assert_eq!(
        rejection.refusal,
        CommandRefusal::Administrator(AdminRefusal::SetWatermarkNotCommitted {
            run: held,
            partition: people(),
        })
    );
    assert_eq!(rejection.rule, Rule::R1);
    assert!(
        rejection
            .to_string()
            .contains("the rule that a watermark never advances past an error"),
        "{rejection}"
    );
    // A run that never was is refused the same way; no run at all is refused too.
    let rejection = refusal(story.act(OperatorAction::SetWatermark, Some(RunId(99)), ""));
    assert_eq!(rejection.rule, Rule::R1);
    let rejection = refusal(story.act(OperatorAction::SetWatermark, None, ""));
    assert_eq!(
        rejection.refusal,
        CommandRefusal::Administrator(AdminRefusal::SetWatermarkWithoutRun {
            partition: people()
        })
    );
}

#[test]
fn set_watermark_is_refused_while_a_run_is_in_flight() {
    let mut story = Story::new();
    let first = story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    story
        .player
        .execute(&Command::StartRun {
            connector: hr(),
            partition: people(),
            kind: RunKind::DeltaImport,
            settings: Settings::default(),
        })
        .expect("a run starts");
    let rejection = refusal(story.act(OperatorAction::SetWatermark, Some(first), ""));
    assert_eq!(
        rejection.refusal,
        CommandRefusal::Administrator(AdminRefusal::SetWatermarkDuringRun {
            partition: people(),
            open: RunId(2),
        })
    );
    assert_eq!(rejection.rule, Rule::R15);
}

#[test]
fn the_fold_refuses_a_forged_set_watermark() {
    let mut story = Story::new();
    story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    let held = story.import(RunKind::DeltaImport, vec![page("usn-20", "u2", true)]);
    let mut state = story.player.state().clone();
    let forged = Envelope::new(
        Timestamp(0),
        Actor::from_name("mallory"),
        Event::AdministratorActed {
            connector: hr(),
            partition: Some(people()),
            action: OperatorAction::SetWatermark,
            run: Some(held),
            reason: String::new(),
        },
    );
    assert_eq!(forged.version, 3);
    let violation = state
        .apply(state.last_seq() + 1, &forged)
        .expect_err("the fold refuses it");
    assert_eq!(
        *violation.refusal,
        EventRefusal::Administrator(AdminRefusal::SetWatermarkNotCommitted {
            run: held,
            partition: people(),
        })
    );
    assert_eq!(violation.rule, Rule::R1);
    // The event needs format 3: written as format 2, it is refused as too old.
    let old = Envelope {
        version: 2,
        ..forged
    };
    let violation = state
        .apply(state.last_seq() + 1, &old)
        .expect_err("format 2 cannot hold it");
    assert_eq!(violation.rule, Rule::R12);
}

#[test]
fn require_full_import_refuses_delta_imports_until_a_clean_full_import() {
    let mut story = Story::new();
    story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    story
        .act(OperatorAction::RequireFullImport, None, "source restored")
        .expect("recorded");
    let flag = story
        .part()
        .full_import_required()
        .expect("the flag")
        .clone();
    assert_eq!(flag.run, None);
    let by = story
        .part()
        .full_import_required_by_administrator()
        .expect("the administrator");
    assert_eq!(by.actor, Actor::from_name("alice"));
    assert_eq!(by.reason, "source restored");
    let alert = story
        .player
        .state()
        .alerts()
        .into_iter()
        .find(|alert| alert.code == "full-import-required")
        .expect("the alert");
    assert!(alert
        .message
        .contains("by administrator alice: source restored"));
    // The next delta import is refused; run 0 in the cause stands for the administrator.
    let refused = story.import(RunKind::DeltaImport, vec![]);
    assert_eq!(
        story.run(refused).status,
        Some(RunStatus::NoStartFullImportRequired)
    );
    assert_eq!(
        story.run(refused).refusal,
        Some(RefusalCause::FullImportRequired { set_by: RunId(0) })
    );
    // An errored full import leaves the flag; a clean one clears it and its cause.
    story.import(RunKind::FullImport, vec![page("usn-50", "u1", true)]);
    assert!(story.part().full_import_required().is_some());
    story.import(RunKind::FullImport, vec![page("usn-60", "u1", false)]);
    assert!(story.part().full_import_required().is_none());
    assert!(story
        .part()
        .full_import_required_by_administrator()
        .is_none());
    let delta = story.import(RunKind::DeltaImport, vec![page("usn-70", "u2", false)]);
    assert_eq!(story.run(delta).status, Some(RunStatus::Success));
}

#[test]
fn require_full_import_keeps_a_runs_cause_when_the_flag_is_already_set() {
    let mut story = Story::new();
    story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    let expired = story.import(
        RunKind::DeltaImport,
        vec![ImportPage::Fault(Fault {
            kind: FaultKind::WatermarkExpired,
            message: "pruned".into(),
        })],
    );
    story
        .act(OperatorAction::RequireFullImport, None, "belt and braces")
        .expect("recorded");
    assert_eq!(
        story.part().full_import_required().and_then(|o| o.run),
        Some(expired)
    );
    assert!(story
        .part()
        .full_import_required_by_administrator()
        .is_none());
}

#[test]
fn partition_actions_need_a_known_partition() {
    let mut story = Story::new();
    story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    let result = story.player.execute(&Command::Administer {
        connector: hr(),
        partition: None,
        action: OperatorAction::RequireFullImport,
        run: None,
        reason: String::new(),
    });
    assert_eq!(
        refusal(result).refusal,
        CommandRefusal::Administrator(AdminRefusal::NoPartition {
            action: OperatorAction::RequireFullImport
        })
    );
    let result = story.player.execute(&Command::Administer {
        connector: hr(),
        partition: Some(PartitionName::from("groups")),
        action: OperatorAction::RequireFullImport,
        run: None,
        reason: String::new(),
    });
    assert!(matches!(
        refusal(result).refusal,
        CommandRefusal::Administrator(AdminRefusal::UnknownPartition { .. })
    ));
}

#[test]
fn enable_with_a_reason_lifts_a_disablement_as_before_and_remembers_who() {
    let mut story = Story::new();
    story.import(RunKind::DeltaImport, vec![page("usn-10", "u1", false)]);
    story.import(
        RunKind::DeltaImport,
        vec![ImportPage::Fault(Fault {
            kind: FaultKind::BadCredentials,
            message: "invalid credentials".into(),
        })],
    );
    assert_eq!(
        story.player.state().health(&hr(), &people()),
        Health::Disabled
    );
    for (action, reason) in [
        (OperatorAction::CredentialsUpdated, "rotated"),
        (OperatorAction::Enable, "verified"),
    ] {
        story
            .player
            .execute(&Command::Administer {
                connector: hr(),
                partition: None,
                action,
                run: None,
                reason: reason.to_owned(),
            })
            .expect("recorded");
    }
    assert_eq!(
        story.player.state().health(&hr(), &people()),
        Health::Enabled
    );
    let connector = story
        .player
        .state()
        .connectors()
        .find(|(name, _)| **name == hr())
        .map(|(_, c)| c)
        .expect("the connector");
    let by = connector.enabled_by().expect("who enabled");
    assert_eq!(by.reason, "verified");
    assert_eq!(by.actor, Actor::from_name("alice"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the history of clean and held-back deltas, and whichever run is named,
    /// `set-watermark` either is refused or sets exactly the watermark that run committed.
    #[test]
    fn set_watermark_never_sets_a_watermark_no_run_committed(
        runs in proptest::collection::vec(any::<bool>(), 1..8),
        named in 1u64..10,
    ) {
        let mut story = Story::new();
        for (index, clean) in runs.iter().enumerate() {
            story.import(
                RunKind::DeltaImport,
                vec![page(&format!("usn-{index}"), &format!("u{index}"), !clean)],
            );
        }
        let committed = story
            .player
            .state()
            .run(RunId(named))
            .and_then(|record| record.commit.clone());
        let result = story.act(OperatorAction::SetWatermark, Some(RunId(named)), "");
        match committed {
            Some(commit) => {
                prop_assert!(result.is_ok());
                prop_assert_eq!(story.part().committed_watermark(), Some(&commit.watermark));
            }
            None => {
                prop_assert!(result.is_err());
            }
        }
    }
}
