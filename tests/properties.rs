//! Property tests of the core's rules over generated histories.
//!
//! Each case generates a history of many runs on several partitions (pages, object errors, fatal
//! import errors, faults, small limits, exports, administrator actions), plays it through the
//! decider and the fold, and then checks a rule by walking the *events* in the log, not the state:
//! the checks recompute what each rule allows from the facts and compare it with what was
//! committed. Other properties fold prefixes and damaged logs. At least 1000 histories per property
//! (set `PROPTEST_CASES` to change it); shrunk counterexamples stay in `proptest-regressions/`.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::{BTreeMap, BTreeSet};
use syncfold::core::*;
use syncfold::script::{Player, Script};
use syncfold::testkit::generate::{script, HistoryShape};

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 1000;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/properties.txt",
    )));
    config
}

fn play(script: &Script, batch_size_max: usize) -> Player {
    let mut player = Player::new(Actor::from_name("proptest"), Timestamp(1_000), 7)
        .with_batch_size_max(batch_size_max);
    if let Err(error) = player.play_script(script) {
        panic!("a generated history must play without a refusal: {error}");
    }
    player
}

fn encode(state: &State) -> Vec<u8> {
    bincode::serde::encode_to_vec(state, bincode::config::standard()).expect("state encodes")
}

/// What the events of one run say happened in it.
#[derive(Default, Debug)]
struct RunFacts {
    kind: Option<RunKind>,
    proposals: BTreeMap<u64, Option<Watermark>>,
    first_error_page: Option<u64>,
    errors: u64,
    stopped: bool,
    committed: Option<Watermark>,
    obsoletion: Vec<&'static str>,
    skip_reason: Option<SkipReason>,
    refused: bool,
}

fn facts(log: &[Envelope]) -> BTreeMap<RunId, RunFacts> {
    let mut runs: BTreeMap<RunId, RunFacts> = BTreeMap::new();
    for envelope in log {
        let Some(run) = envelope.event.run() else {
            continue;
        };
        let facts = runs.entry(run).or_default();
        let error_on = |page: u64, facts: &mut RunFacts| {
            facts.first_error_page = Some(facts.first_error_page.map_or(page, |p| p.min(page)));
        };
        match &envelope.event {
            Event::RunStarted { kind, .. } => facts.kind = Some(*kind),
            Event::RunRefused { kind, .. } => {
                facts.kind = Some(*kind);
                facts.refused = true;
            }
            Event::PageRead {
                page,
                proposed_watermark,
                ..
            } => {
                facts.proposals.insert(*page, proposed_watermark.clone());
            }
            Event::DiscoveryErrorRecorded { page, error, .. } => {
                error_on(*page, facts);
                facts.errors += 1;
                if error.kind == ObjectErrorKind::CustomStopRun {
                    facts.stopped = true;
                }
            }
            Event::FatalImportErrorRecorded { page, .. } => {
                error_on(*page, facts);
                facts.errors += 1;
                facts.stopped = true;
            }
            Event::FaultRecorded { page, .. } => {
                if let Some(page) = page {
                    error_on(*page, facts);
                }
                facts.stopped = true;
            }
            Event::LimitReached { page, .. } => {
                error_on(*page, facts);
                facts.stopped = true;
            }
            Event::ExportResultRecorded { outcome, .. } => {
                if matches!(
                    outcome,
                    ExportOutcome::CustomContinueRun { .. } | ExportOutcome::CustomStopRun { .. }
                ) {
                    facts.errors += 1;
                }
            }
            Event::WatermarkCommitted { watermark, .. } => {
                facts.committed = Some(watermark.clone())
            }
            Event::ObsoletionApplied { .. } => facts.obsoletion.push("applied"),
            Event::ObsoletionHeld { .. } => facts.obsoletion.push("held"),
            Event::ObsoletionSkipped { reason, .. } => {
                facts.obsoletion.push("skipped");
                facts.skip_reason = Some(*reason);
            }
            _ => {}
        }
    }
    runs
}

/// The last watermark proposed on a page before `before` (all pages when `None`).
fn last_proposal_before(facts: &RunFacts, before: Option<u64>) -> Option<Watermark> {
    facts
        .proposals
        .iter()
        .filter(|(page, _)| before.is_none_or(|limit| **page < limit))
        .filter_map(|(_, watermark)| watermark.clone())
        .next_back()
}

proptest! {
    #![proptest_config(config())]

    /// R1, R2: a committed watermark is the previous committed one or a proposal from a page
    /// before the run's first error; a clean run commits its last proposal; an errored or stopped
    /// full import commits nothing.
    #[test]
    fn watermark_never_advances_past_an_error(script in script(HistoryShape::default()), batch in 1usize..4) {
        let player = play(&script, batch);
        let mut committed: BTreeMap<PartitionName, Option<Watermark>> = BTreeMap::new();
        let runs = facts(player.log());
        for record in player.state().runs() {
            let facts = &runs[&record.id];
            let before = committed.get(&record.partition).cloned().flatten();
            match record.kind {
                RunKind::DeltaImport if !facts.refused => {
                    let allowed = last_proposal_before(facts, facts.first_error_page);
                    prop_assert_eq!(&facts.committed, &allowed, "run {} commits the last proposal before its first error", record.id);
                    if facts.first_error_page.is_none() {
                        prop_assert_eq!(&facts.committed, &last_proposal_before(facts, None), "clean delta {} commits its last proposal", record.id);
                    }
                }
                RunKind::FullImport => {
                    if facts.errors > 0 || facts.stopped {
                        prop_assert_eq!(&facts.committed, &None, "errored or stopped full import {} commits nothing", record.id);
                    } else {
                        prop_assert_eq!(&facts.committed, &last_proposal_before(facts, None), "clean full import {} commits its last proposal", record.id);
                    }
                }
                _ => prop_assert_eq!(&facts.committed, &None),
            }
            let after = facts.committed.clone().or(before);
            prop_assert_eq!(&record.committed_watermark, &after, "run {} reports the partition's committed watermark", record.id);
            committed.insert(record.partition.clone(), after);
        }
        for (partition, watermark) in committed {
            let state = player.state().partition(&script.connector, &partition);
            prop_assert_eq!(state.and_then(|p| p.committed_watermark().cloned()), watermark);
        }
    }

    /// R3: obsoletion is applied (or held) only at the end of a zero-error, unstopped full import
    /// and is otherwise recorded as skipped with its reason; other runs never obsolete.
    #[test]
    fn obsoletion_only_after_a_clean_full_import(script in script(HistoryShape::default()), batch in 1usize..4) {
        let player = play(&script, batch);
        let runs = facts(player.log());
        for record in player.state().runs() {
            let facts = &runs[&record.id];
            if record.kind != RunKind::FullImport || facts.refused {
                prop_assert!(facts.obsoletion.is_empty(), "run {} ({:?}) recorded obsoletion", record.id, record.kind);
                prop_assert_eq!(record.obsoletion, Obsoletion::NotApplicable);
                continue;
            }
            prop_assert_eq!(facts.obsoletion.len(), 1, "full import {} decides obsoletion once", record.id);
            if facts.errors > 0 || facts.stopped {
                prop_assert_eq!(facts.obsoletion[0], "skipped");
                let reason = if facts.errors > 0 { SkipReason::ImportErrors } else { SkipReason::RunStopped };
                prop_assert_eq!(facts.skip_reason, Some(reason));
                prop_assert_eq!(record.counts.obsoleted, 0);
            } else {
                prop_assert!(facts.obsoletion[0] != "skipped", "clean full import {} skipped obsoletion", record.id);
            }
        }
    }

    /// R14: folding is deterministic (two folds encode to identical bytes), the incremental state
    /// equals a fresh fold, and any prefix folded then continued with the tail gives the same state.
    #[test]
    fn folding_is_deterministic_for_every_prefix(script in script(HistoryShape::default()), cut in any::<prop::sample::Index>()) {
        let player = play(&script, 2);
        let log = player.log();
        let first = State::fold(log).expect("a played log folds");
        let second = State::fold(log).expect("a played log folds");
        prop_assert_eq!(encode(&first), encode(&second));
        prop_assert_eq!(encode(&first), encode(player.state()));
        let cut = cut.index(log.len() + 1);
        let mut resumed = State::fold(&log[..cut]).expect("every prefix folds");
        resumed.apply_all(&log[cut..]).expect("the tail folds onto the prefix");
        prop_assert_eq!(encode(&resumed), encode(&first));
    }

    /// R15: an event that breaks a rule is refused with the rule named, and the state is unchanged.
    #[test]
    fn bad_events_are_refused_naming_the_rule(script in script(HistoryShape::default())) {
        let player = play(&script, 3);
        let log = player.log();
        let runs = facts(log);
        let end = State::fold(log).expect("a played log folds");
        let mut checked = BTreeSet::new();

        // Commits past an error: for each import with an error page and a later proposal, replay up
        // to its closing events and commit that later proposal instead.
        for (run, facts) in &runs {
            let Some(error_page) = facts.first_error_page else { continue };
            let Some(bad) = facts.proposals.range(error_page..).filter_map(|(_, w)| w.clone()).next_back() else { continue };
            if facts.kind.is_none_or(|kind| !kind.is_import()) || facts.refused {
                continue;
            }
            let closing = log.iter().position(|envelope| envelope.event.run() == Some(*run) && matches!(envelope.event,
                Event::WatermarkCommitted { .. } | Event::ObsoletionApplied { .. } | Event::ObsoletionSkipped { .. }
                | Event::ObsoletionHeld { .. } | Event::RunInterrupted { .. } | Event::RunEnded { .. }));
            let Some(closing) = closing else { continue };
            let mut state = State::fold(&log[..closing]).expect("prefix folds");
            let before = encode(&state);
            let bad_event = Envelope::new(Timestamp(0), Actor::from_name("forger"), Event::WatermarkCommitted { run: *run, watermark: bad });
            let violation = state.apply(closing as u64 + 1, &bad_event).expect_err("a commit past an error is refused");
            let expected = if facts.kind == Some(RunKind::FullImport) { Rule::R2 } else { Rule::R1 };
            prop_assert_eq!(violation.rule, expected, "{}", violation);
            prop_assert!(
                matches!(*violation.refusal, EventRefusal::CommitPastError { run: named, .. }
                    | EventRefusal::UncleanFullImportCommits { run: named, .. } if named == *run),
                "{}", violation
            );
            prop_assert_eq!(violation.seq, closing as u64 + 1);
            prop_assert_eq!(encode(&state), before, "a refused event leaves the state as it was");
            checked.insert("commit past an error");
        }

        // Obsoletion after an errored full import.
        for (run, facts) in &runs {
            if facts.kind != Some(RunKind::FullImport) || facts.errors == 0 {
                continue;
            }
            let Some(closing) = log.iter().position(|envelope| envelope.event.run() == Some(*run)
                && matches!(envelope.event, Event::ObsoletionSkipped { .. })) else { continue };
            let mut state = State::fold(&log[..closing]).expect("prefix folds");
            let forged = Envelope::new(Timestamp(0), Actor::from_name("forger"), Event::ObsoletionApplied { run: *run, anchors: Vec::new() });
            let violation = state.apply(closing as u64 + 1, &forged).expect_err("obsoletion after errors is refused");
            prop_assert_eq!(violation.rule, Rule::R3, "{}", violation);
            prop_assert!(
                matches!(*violation.refusal, EventRefusal::ObsoletionAfterErrors { run: named, stopped: _, errors } if named == *run && errors > 0),
                "{}", violation
            );
            checked.insert("obsoletion after errors");
        }

        // A page for a run that is not open, and for a run that never existed.
        let mut state = end.clone();
        let next_seq = log.len() as u64 + 1;
        for run in [RunId(1), RunId(log.len() as u64 + 10)] {
            let forged = Envelope::new(Timestamp(0), Actor::from_name("forger"), Event::PageRead { run, page: 1, changes: Vec::new(), proposed_watermark: None });
            let violation = state.apply(next_seq, &forged).expect_err("a page for a closed or unknown run is refused");
            prop_assert_eq!(violation.rule, Rule::R15, "{}", violation);
            let expected = if end.run(run).is_some() {
                EventRefusal::RunAlreadyEnded { run }
            } else {
                EventRefusal::RunNeverStarted { run }
            };
            prop_assert_eq!(&*violation.refusal, &expected);
        }
        prop_assert_eq!(encode(&state), encode(&end));

        // Out of order, and from a newer format.
        if let Some(last) = log.last() {
            let violation = state.apply(next_seq + 1, last).expect_err("a gap in sequence numbers is refused");
            prop_assert_eq!(violation.rule, Rule::R15);
            prop_assert_eq!(&*violation.refusal, &EventRefusal::OutOfOrder { expected: next_seq, got: next_seq + 1 });
            let mut newer = last.clone();
            newer.version = EVENT_FORMAT_VERSION + 1;
            let violation = state.apply(next_seq, &newer).expect_err("a newer format is refused");
            prop_assert_eq!(violation.rule, Rule::R12);
            prop_assert_eq!(
                &*violation.refusal,
                &EventRefusal::UnknownEventFormat { version: EVENT_FORMAT_VERSION + 1, newest: EVENT_FORMAT_VERSION }
            );
            prop_assert!(violation.detail().contains("upgrade"));
        }
        prop_assert_eq!(encode(&state), encode(&end));
    }
}
