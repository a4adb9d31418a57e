//! `explain watermark` checked against the fold on generated histories (issue 16).
//!
//! For every partition after every history, this file reads the events alone (which page of which
//! run proposed each watermark, on which page each object failed, what each run committed) and
//! checks the explanation against them:
//!
//! - every object it names as **holding the watermark back** has an open import error whose
//!   latest failure was in a run that kept the watermark: that run committed no watermark, or one
//!   proposed on a page before its first error page, and the object failed on that first error
//!   page or after it (so the committed watermark is not past the object, and the next delta
//!   import reads it again). Unless an administrator set the watermark back, that run is the one
//!   that committed the watermark or a later one;
//! - every object it names as **moved past** has an open import error whose latest failure came
//!   before the run that committed the watermark, and no administrator has set it back since;
//! - the two lists are disjoint and together are exactly the partition's open import errors:
//!   nothing in error is left unsaid;
//! - every run it names as **held back** is a delta import since the commit point that ended with
//!   the committed watermark it started from, with object errors.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::{BTreeMap, BTreeSet};
use syncfold::core::*;
use syncfold::remedy::RemedyCatalog;
use syncfold::script::Player;
use syncfold::testkit::generate::{script, HistoryShape};
use syncfold::views::explain::watermark;

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 500;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/explain_properties.txt",
    )));
    config
}

/// What the events say about one run.
#[derive(Default, Debug)]
struct RunFacts {
    kind: Option<RunKind>,
    start_watermark: Option<Watermark>,
    /// Page number by the watermark it proposed (watermarks are unique per page in generated
    /// histories).
    proposed_on: BTreeMap<Watermark, u64>,
    /// Every object error (and fatal import error naming an object): object and page.
    errors: Vec<(Anchor, u64)>,
    committed: Option<Watermark>,
    ended_with: Option<Option<Watermark>>,
}

impl RunFacts {
    fn first_error_page(&self) -> Option<u64> {
        self.errors.iter().map(|(_, page)| *page).min()
    }

    /// The run did not move the committed watermark past its first error page.
    fn kept_the_watermark(&self) -> bool {
        match (&self.committed, self.first_error_page()) {
            (None, _) => true,
            (Some(committed), Some(first)) => self
                .proposed_on
                .get(committed)
                .is_some_and(|page| *page < first),
            (Some(_), None) => true,
        }
    }
}

fn facts(events: &[Envelope]) -> BTreeMap<RunId, RunFacts> {
    let mut runs: BTreeMap<RunId, RunFacts> = BTreeMap::new();
    for envelope in events {
        match &envelope.event {
            Event::RunStarted {
                run,
                kind,
                start_watermark,
                ..
            } => {
                let facts = runs.entry(*run).or_default();
                facts.kind = Some(*kind);
                facts.start_watermark = start_watermark.clone();
            }
            Event::PageRead {
                run,
                page,
                proposed_watermark: Some(mark),
                ..
            } => {
                runs.entry(*run)
                    .or_default()
                    .proposed_on
                    .insert(mark.clone(), *page);
            }
            Event::DiscoveryErrorRecorded { run, page, error } => {
                runs.entry(*run)
                    .or_default()
                    .errors
                    .push((error.anchor.clone(), *page));
            }
            // A fatal import error that names an object is an open import error of it too.
            Event::FatalImportErrorRecorded { run, page, error } => {
                if let Some(anchor) = &error.anchor {
                    runs.entry(*run)
                        .or_default()
                        .errors
                        .push((anchor.clone(), *page));
                }
            }
            Event::WatermarkCommitted { run, watermark } => {
                runs.entry(*run).or_default().committed = Some(watermark.clone());
            }
            Event::RunEnded {
                run,
                committed_watermark,
                ..
            } => {
                runs.entry(*run).or_default().ended_with = Some(committed_watermark.clone());
            }
            _ => {}
        }
    }
    runs
}

fn check(player: &Player, connector: &ConnectorName) -> Result<(), TestCaseError> {
    let state = player.state();
    let runs = facts(player.log());
    let catalog = RemedyCatalog::builtin();
    let Some((_, connector_state)) = state.connectors().find(|(c, _)| *c == connector) else {
        return Ok(());
    };
    for (name, part) in connector_state.partitions() {
        let explanation =
            watermark(state, connector, name, &catalog).expect("a partition of the state");
        let committing_run = part.committed_by().and_then(|by| by.run);
        let set_back = part.watermark_set_back().is_some();
        let open: BTreeMap<&Anchor, &ObjectErrorRecord> = part
            .object_errors()
            .iter()
            .filter(|(_, error)| error.direction == ErrorDirection::Import)
            .collect();

        let holding: BTreeSet<&str> = explanation
            .holding_objects
            .iter()
            .map(|o| o.anchor.as_str())
            .collect();
        let passed: BTreeSet<&str> = explanation
            .moved_past_objects
            .iter()
            .map(|o| o.anchor.as_str())
            .collect();
        prop_assert!(
            holding.is_disjoint(&passed),
            "{name}: an object both holds the watermark back and is moved past"
        );
        let named: BTreeSet<&str> = holding.union(&passed).copied().collect();
        let in_error: BTreeSet<&str> = open.keys().map(|a| a.as_str()).collect();
        prop_assert_eq!(
            &named,
            &in_error,
            "{}: the explanation names exactly the open import errors",
            name
        );

        for object in &explanation.holding_objects {
            let anchor = Anchor::from(object.anchor.as_str());
            let error = open[&anchor];
            let last = error.last.run.expect("an import error belongs to a run");
            let run = &runs[&last];
            let first = run.first_error_page().expect("the run recorded errors");
            prop_assert!(
                run.kept_the_watermark(),
                "{name}: {} holds the watermark back, but run {last}, its latest failure, moved the \
                 watermark past its first error page {first}: {run:?}",
                object.anchor
            );
            prop_assert!(
                run.errors
                    .iter()
                    .any(|(a, page)| *a == anchor && *page >= first),
                "{name}: {} is named as holding back, but run {last} has no error of it",
                object.anchor
            );
            if !set_back {
                prop_assert!(
                    committing_run.is_none_or(|commit| last >= commit),
                    "{name}: {} last failed in run {last}, before the committing run {:?}: the \
                     watermark moved past it",
                    object.anchor,
                    committing_run
                );
            }
        }
        for object in &explanation.moved_past_objects {
            let anchor = Anchor::from(object.anchor.as_str());
            let last = open[&anchor]
                .last
                .run
                .expect("an import error belongs to a run");
            prop_assert!(!set_back, "{name}: nothing is moved past after a set-back");
            let commit = committing_run.expect("a moved-past object needs a committing run");
            prop_assert!(
                last < commit && runs[&commit].committed.is_some(),
                "{name}: {} is named as moved past, but its latest failure (run {last}) is not \
                 before the run that committed the watermark (run {commit})",
                object.anchor
            );
        }
        for id in &explanation.held_back_by_runs {
            let run = &runs[&RunId(*id)];
            prop_assert_eq!(run.kind, Some(RunKind::DeltaImport));
            prop_assert!(!run.errors.is_empty(), "run {id} had object errors");
            prop_assert_eq!(
                run.ended_with.clone().flatten(),
                run.start_watermark.clone(),
                "run {} ended where it started",
                id
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn explain_watermark_agrees_with_the_events(script in script(HistoryShape::health())) {
        let mut player = Player::new(Actor::from_name("prop"), Timestamp(0), 1);
        for step in &script.steps {
            if player.play(&script.connector, &script.settings, step).is_err() {
                break;
            }
            check(&player, &script.connector)?;
        }
    }

    /// With administrators setting watermarks back and requiring full imports between runs.
    #[test]
    fn explain_watermark_agrees_with_the_events_after_administrators_act(
        script in script(HistoryShape::health()),
        actions in proptest::collection::vec((0usize..30, any::<usize>(), any::<bool>()), 1..5),
    ) {
        let mut player = Player::new(Actor::from_name("prop"), Timestamp(0), 1);
        for (index, step) in script.steps.iter().enumerate() {
            if player.play(&script.connector, &script.settings, step).is_err() {
                break;
            }
            for (_, pick, set_back) in actions.iter().filter(|(at, _, _)| *at == index) {
                // Mostly a run that committed a watermark (else any run, which is refused).
                let committed: Vec<RunId> = facts(player.log())
                    .into_iter()
                    .filter(|(_, run)| run.committed.is_some())
                    .map(|(id, _)| id)
                    .collect();
                let all: Vec<RunId> = player.state().runs().iter().map(|run| run.id).collect();
                let choices = if committed.is_empty() || pick % 4 == 0 { &all } else { &committed };
                let Some(run) = choices
                    .get(pick % choices.len().max(1))
                    .and_then(|id| player.state().run(*id))
                else {
                    continue;
                };
                let command = Command::Administer {
                    connector: script.connector.clone(),
                    partition: Some(run.partition.clone()),
                    action: if *set_back {
                        OperatorAction::SetWatermark
                    } else {
                        OperatorAction::RequireFullImport
                    },
                    run: set_back.then_some(run.id),
                    reason: "property".to_owned(),
                };
                // A refused action (the run committed nothing there) changes nothing.
                let _ = player.execute(&command);
            }
            check(&player, &script.connector)?;
        }
    }

    #[test]
    fn explain_watermark_agrees_with_the_events_in_wide_histories(
        script in script(HistoryShape::default())
    ) {
        let mut player = Player::new(Actor::from_name("prop"), Timestamp(0), 1);
        for step in &script.steps {
            if player.play(&script.connector, &script.settings, step).is_err() {
                break;
            }
        }
        check(&player, &script.connector)?;
    }
}
