//! The fold refuses forged events, naming the rule, and says what is wrong (R15).
//!
//! A valid history never trips the fold's checks (the decider only emits valid events), so each
//! test here plays a short real history and then offers the fold one forged event — the kind a
//! buggy engine, a hand-edited log or a hostile writer could produce — and checks the violation:
//! its rule, its sequence number, a detail that names the run, page, object or watermark, and that
//! the state is left exactly as it was. SPEC's names (statuses, kinds, faults, results, event
//! types) are pinned too: acceptance tests and operators' scripts rely on them.

use std::collections::BTreeMap;
use syncfold::core::*;
use syncfold::script::{ImportPage, Player, Step};

fn people() -> PartitionName {
    PartitionName::from("people")
}

fn hr() -> ConnectorName {
    ConnectorName::from("hr")
}

fn w(text: &str) -> Watermark {
    Watermark::from_text(text)
}

fn page(mark: &str, anchors: &[&str], errors: &[(&str, ObjectErrorKind)]) -> Page {
    Page {
        changes: anchors
            .iter()
            .map(|anchor| ObjectChange {
                anchor: Anchor::from(*anchor),
                kind: ChangeKind::Add,
                attributes: Attributes::new(),
            })
            .collect(),
        errors: errors
            .iter()
            .map(|(anchor, kind)| DiscoveryError {
                anchor: Anchor::from(*anchor),
                kind: *kind,
                name: "invalid-characters-error".into(),
                description: "forged".into(),
            })
            .collect(),
        fatal_errors: Vec::new(),
        watermark: Some(w(mark)),
    }
}

fn player() -> Player {
    Player::new(Actor::from_name("test"), Timestamp(0), 1)
}

fn start(player: &mut Player, kind: RunKind, settings: Settings) -> RunId {
    let events = player
        .execute(&Command::StartRun {
            connector: hr(),
            partition: people(),
            kind,
            settings,
        })
        .expect("starts");
    match events.first() {
        Some(Event::RunStarted { run, .. }) => *run,
        other => panic!("not started: {other:?}"),
    }
}

/// Offers `event` to a copy of the player's state; returns the violation, checking that the
/// state is untouched.
fn refuse(player: &Player, event: Event) -> Violation {
    let mut state = player.state().clone();
    let seq = state.last_seq() + 1;
    let violation = state
        .apply(
            seq,
            &Envelope::new(Timestamp(0), Actor::from_name("forger"), event.clone()),
        )
        .expect_err(&format!("the fold accepted a forged {event:?}"));
    assert_eq!(violation.seq, seq);
    assert_eq!(&state, player.state(), "a refused event changes nothing");
    violation
}

/// Checks that the fold refuses `event` for exactly the condition `expected` (its typed data
/// included), under `rule`, and that the message, rendered from the condition, says `detail`.
fn assert_refused(player: &Player, event: Event, rule: Rule, expected: EventRefusal, detail: &str) {
    let violation = refuse(player, event);
    assert_eq!(*violation.refusal, expected, "{violation}");
    assert_eq!(violation.rule, rule, "{violation}");
    assert_eq!(
        expected.rule(),
        rule,
        "the condition is filed under its rule"
    );
    assert!(
        violation.detail().contains(detail),
        "detail {:?} lacks {detail:?}",
        violation.detail()
    );
    assert_eq!(
        violation.to_string(),
        format!(
            "event {} breaks {rule}: {}",
            violation.seq,
            violation.detail()
        )
    );
}

#[test]
fn events_for_runs_that_are_not_open() {
    let mut p = player();
    let run = start(&mut p, RunKind::DeltaImport, Settings::default());
    p.execute(&Command::EndRun { run }).expect("ends");
    let page_of = |run| Event::PageRead {
        run,
        page: 1,
        changes: vec![],
        proposed_watermark: None,
    };
    assert_refused(
        &p,
        page_of(run),
        Rule::R15,
        EventRefusal::RunAlreadyEnded { run },
        "run 1 has already ended",
    );
    assert_refused(
        &p,
        page_of(RunId(9)),
        Rule::R15,
        EventRefusal::RunNeverStarted { run: RunId(9) },
        "run 9 was never started",
    );
    assert_refused(
        &p,
        Event::RunStarted {
            run: RunId(5),
            connector: hr(),
            partition: people(),
            kind: RunKind::FullImport,
            start_watermark: None,
            settings: Settings::default(),
        },
        Rule::R15,
        EventRefusal::RunIdOutOfOrder {
            expected: RunId(2),
            got: RunId(5),
        },
        "expected run 2, got run 5",
    );
}

#[test]
fn events_of_the_wrong_run_kind() {
    let mut p = player();
    let export = start(&mut p, RunKind::Export, Settings::default());
    assert_refused(
        &p,
        Event::PageRead {
            run: export,
            page: 1,
            changes: vec![],
            proposed_watermark: None,
        },
        Rule::R15,
        EventRefusal::NotAnImport { run: export },
        "is an export, not an import",
    );
    p.execute(&Command::EndRun { run: export }).expect("ends");
    let import = start(&mut p, RunKind::DeltaImport, Settings::default());
    assert_refused(
        &p,
        Event::ExportBatchSent {
            run: import,
            anchors: vec![Anchor::from("u1")],
        },
        Rule::R15,
        EventRefusal::NotAnExport {
            run: import,
            kind: RunKind::DeltaImport,
        },
        "is a delta-import, not an export",
    );
    assert_refused(
        &p,
        Event::WatermarkCommitted {
            run: export,
            watermark: w("X"),
        },
        Rule::R15,
        EventRefusal::RunAlreadyEnded { run: export },
        "already ended",
    );
}

#[test]
fn pages_out_of_order_or_after_a_stop() {
    let mut p = player();
    let run = start(&mut p, RunKind::DeltaImport, Settings::default());
    p.execute(&Command::RecordPage {
        run,
        page: page("A", &["u1"], &[]),
    })
    .expect("page 1");
    assert_refused(
        &p,
        Event::PageRead {
            run,
            page: 3,
            changes: vec![],
            proposed_watermark: None,
        },
        Rule::R15,
        EventRefusal::PageOutOfOrder {
            run,
            page: 3,
            expected: 2,
        },
        "page 3 out of order, page 2 is being read",
    );
    p.execute(&Command::RecordFault {
        run,
        fault: Fault {
            kind: FaultKind::ServerDown,
            message: "down".into(),
        },
    })
    .expect("fault");
    // The fault replaced page 2: nothing of page 2 may follow.
    assert_refused(
        &p,
        Event::PageRead {
            run,
            page: 2,
            changes: vec![],
            proposed_watermark: Some(w("B")),
        },
        Rule::R15,
        EventRefusal::PageAfterStop {
            run,
            stop_page: 2,
            page: 2,
        },
        "stopped on page 2",
    );
    assert_refused(
        &p,
        Event::FaultRecorded {
            run,
            page: Some(2),
            fault: Fault {
                kind: FaultKind::ServerDown,
                message: "again".into(),
            },
        },
        Rule::R15,
        EventRefusal::FaultAfterStop {
            run,
            stop_page: 2,
            cause: StopCause::Fault(FaultKind::ServerDown),
        },
        "already stopped",
    );
    // A page that stages an object that had an error on that same page breaks R1.
    let mut q = player();
    let run = start(&mut q, RunKind::DeltaImport, Settings::default());
    q.execute(&Command::RecordPage {
        run,
        page: page("A", &["u1"], &[]),
    })
    .expect("page 1");
    let mut state = q.state().clone();
    let error = Envelope::new(
        Timestamp(0),
        Actor::from_name("forger"),
        Event::DiscoveryErrorRecorded {
            run,
            page: 2,
            error: DiscoveryError {
                anchor: Anchor::from("u2"),
                kind: ObjectErrorKind::CustomContinueRun,
                name: "e".into(),
                description: String::new(),
            },
        },
    );
    state
        .apply(state.last_seq() + 1, &error)
        .expect("an error on page 2");
    let staged = Envelope::new(
        Timestamp(0),
        Actor::from_name("forger"),
        Event::PageRead {
            run,
            page: 2,
            changes: page("B", &["u2"], &[]).changes,
            proposed_watermark: Some(w("B")),
        },
    );
    let violation = state
        .apply(state.last_seq() + 1, &staged)
        .expect_err("staging an errored object");
    assert_eq!(violation.rule, Rule::R1);
    assert_eq!(
        *violation.refusal,
        EventRefusal::StagesErroredObject {
            run,
            page: 2,
            anchor: Anchor::from("u2"),
        }
    );
    assert!(
        violation
            .detail()
            .contains("stages u2, which had an error on this page"),
        "{}",
        violation.detail()
    );
}

#[test]
fn commits_past_an_error_and_by_errored_full_imports() {
    let mut p = player();
    let run = start(&mut p, RunKind::DeltaImport, Settings::default());
    p.execute(&Command::RecordPage {
        run,
        page: page("A", &["u1"], &[]),
    })
    .expect("page 1");
    p.execute(&Command::RecordPage {
        run,
        page: page("B", &[], &[("u2", ObjectErrorKind::CustomContinueRun)]),
    })
    .expect("page 2");
    p.execute(&Command::RecordPage {
        run,
        page: page("C", &["u3"], &[]),
    })
    .expect("page 3");
    assert_refused(
        &p,
        Event::WatermarkCommitted {
            run,
            watermark: w("C"),
        },
        Rule::R1,
        EventRefusal::CommitPastError {
            run,
            watermark: w("C"),
            first_error_page: Some(2),
            clean_proposal: Some(w("A")),
        },
        "commits C but the last watermark before its first error (page 2) is A",
    );
    let mut q = player();
    let full = start(&mut q, RunKind::FullImport, Settings::default());
    q.execute(&Command::RecordPage {
        run: full,
        page: page("F", &["a"], &[("b", ObjectErrorKind::CustomContinueRun)]),
    })
    .expect("page");
    assert_refused(
        &q,
        Event::WatermarkCommitted {
            run: full,
            watermark: w("F"),
        },
        Rule::R2,
        EventRefusal::UncleanFullImportCommits {
            run: full,
            errors: 1,
            stopped: false,
        },
        "had 1 errors",
    );
    assert_refused(
        &q,
        Event::ObsoletionApplied {
            run: full,
            anchors: vec![],
        },
        Rule::R3,
        EventRefusal::ObsoletionAfterErrors {
            run: full,
            errors: 1,
            stopped: false,
        },
        "obsoletion must be skipped",
    );
    assert_refused(
        &q,
        Event::ObsoletionSkipped {
            run: full,
            reason: SkipReason::RunStopped,
        },
        Rule::R3,
        EventRefusal::SkipReasonMismatch {
            run: full,
            reason: Some(SkipReason::RunStopped),
            expected: SkipReason::ImportErrors,
        },
        "the reason is import-errors",
    );
    // Ending a full import without deciding obsoletion breaks R3; ending without the commit the
    // rules require breaks R2.
    let mut r = player();
    let clean = start(&mut r, RunKind::FullImport, Settings::default());
    r.execute(&Command::RecordPage {
        run: clean,
        page: page("F", &["a"], &[]),
    })
    .expect("page");
    let end = Event::RunEnded {
        run: clean,
        status: RunStatus::Success,
        counts: RunCounts::default(),
        committed_watermark: None,
    };
    assert_refused(
        &r,
        end,
        Rule::R3,
        EventRefusal::EndWithoutObsoletion { run: clean },
        "ended without recording its obsoletion",
    );
    assert_refused(
        &r,
        Event::ObsoletionSkipped {
            run: clean,
            reason: SkipReason::RunStopped,
        },
        Rule::R3,
        EventRefusal::ObsoletionSkippedWhenClean { run: clean },
        "was clean",
    );
    assert_refused(
        &r,
        Event::ObsoletionApplied {
            run: clean,
            anchors: vec![Anchor::from("zz")],
        },
        Rule::R3,
        EventRefusal::ObsoletionMismatch {
            run: clean,
            obsoleted: 1,
            unseen: 0,
        },
        "obsoletes 1 objects, but 0 live objects were not seen",
    );
}

#[test]
fn run_ends_that_misreport_what_happened() {
    let mut p = player();
    let run = start(&mut p, RunKind::DeltaImport, Settings::default());
    p.execute(&Command::RecordPage {
        run,
        page: page("A", &["u1"], &[("u2", ObjectErrorKind::CustomContinueRun)]),
    })
    .expect("page");
    p.execute(&Command::RecordPage {
        run,
        page: page("B", &["u3"], &[]),
    })
    .expect("page");
    let counts = RunCounts {
        pages: 2,
        staged: 2,
        errors: 1,
        ..RunCounts::default()
    };
    let ended = |status, counts, committed| Event::RunEnded {
        run,
        status,
        counts,
        committed_watermark: committed,
    };
    assert_refused(
        &p,
        ended(RunStatus::Success, counts, None),
        Rule::Statuses,
        EventRefusal::StatusMismatch {
            run,
            status: RunStatus::Success,
            expected: RunStatus::CompletedDiscoveryErrors,
        },
        "ends success but what happened in it makes it completed-discovery-errors",
    );
    assert_refused(
        &p,
        ended(
            RunStatus::CompletedDiscoveryErrors,
            RunCounts { pages: 1, ..counts },
            None,
        ),
        Rule::Statuses,
        EventRefusal::CountsMismatch {
            run,
            counts: Box::new(RunCounts { pages: 1, ..counts }),
            folded: Box::new(counts),
        },
        "counts",
    );
    assert_refused(
        &p,
        ended(RunStatus::CompletedDiscoveryErrors, counts, Some(w("B"))),
        Rule::R1,
        EventRefusal::EndWatermarkMismatch {
            run,
            reported: Some(w("B")),
            committed: None,
        },
        "reporting watermark B but none is committed",
    );
    // A clean delta whose end comes without its commit.
    let mut q = player();
    let clean = start(&mut q, RunKind::DeltaImport, Settings::default());
    q.execute(&Command::RecordPage {
        run: clean,
        page: page("A", &["u1"], &[]),
    })
    .expect("page");
    let end = Event::RunEnded {
        run: clean,
        status: RunStatus::Success,
        counts: RunCounts {
            pages: 1,
            staged: 1,
            ..RunCounts::default()
        },
        committed_watermark: None,
    };
    assert_refused(
        &q,
        end,
        Rule::R1,
        EventRefusal::EndWithoutCommit {
            run: clean,
            kind: RunKind::DeltaImport,
            watermark: w("A"),
        },
        "ended without committing A",
    );
}

#[test]
fn limits_that_were_not_reached_or_went_ignored() {
    let settings = Settings {
        max_errors: 1,
        snapshot_limit: 2,
        ..Settings::default()
    };
    let mut p = player();
    let run = start(&mut p, RunKind::DeltaImport, settings.clone());
    p.execute(&Command::RecordPage {
        run,
        page: page("A", &["u1"], &[("x", ObjectErrorKind::CustomContinueRun)]),
    })
    .expect("page");
    let limit = |limit, count, maximum, page| Event::LimitReached {
        run,
        page,
        limit,
        count,
        maximum,
    };
    let mismatch = |limit, count, maximum, actual, configured| EventRefusal::LimitMismatch {
        run,
        limit,
        count,
        maximum,
        actual,
        configured,
    };
    assert_refused(
        &p,
        limit(LimitKind::Errors, 1, 1, 1),
        Rule::R11,
        mismatch(LimitKind::Errors, 1, 1, 1, 1),
        "reached with count 1 and maximum 1",
    );
    assert_refused(
        &p,
        limit(LimitKind::Errors, 2, 1, 1),
        Rule::R11,
        mismatch(LimitKind::Errors, 2, 1, 1, 1),
        "the run has 1 against a limit of 1",
    );
    assert_refused(
        &p,
        limit(LimitKind::Errors, 1, 0, 1),
        Rule::R11,
        mismatch(LimitKind::Errors, 1, 0, 1, 1),
        "limit of 1",
    );
    assert_refused(
        &p,
        limit(LimitKind::Snapshot, 3, 5, 2),
        Rule::R11,
        mismatch(LimitKind::Snapshot, 3, 5, 3, 2),
        "the run has 3 against a limit of 2",
    );
    assert_refused(
        &p,
        limit(LimitKind::Snapshot, 3, 2, 5),
        Rule::R15,
        EventRefusal::LimitPageMismatch {
            run,
            page: 5,
            expected: 2,
        },
        "limit on page 5, but page 2 is current",
    );
    // Past the limit, the run must stop: another page breaks R11.
    let mut state = p.state().clone();
    let over = Envelope::new(
        Timestamp(0),
        Actor::from_name("forger"),
        Event::DiscoveryErrorRecorded {
            run,
            page: 2,
            error: DiscoveryError {
                anchor: Anchor::from("y"),
                kind: ObjectErrorKind::CustomContinueRun,
                name: "e".into(),
                description: String::new(),
            },
        },
    );
    state
        .apply(state.last_seq() + 1, &over)
        .expect("a second error on page 2 is a fact");
    let read = Envelope::new(
        Timestamp(0),
        Actor::from_name("forger"),
        Event::PageRead {
            run,
            page: 2,
            changes: vec![],
            proposed_watermark: None,
        },
    );
    state
        .apply(state.last_seq() + 1, &read)
        .expect("page 2 completes");
    let next = Envelope::new(
        Timestamp(0),
        Actor::from_name("forger"),
        Event::PageRead {
            run,
            page: 3,
            changes: vec![],
            proposed_watermark: None,
        },
    );
    let violation = state
        .apply(state.last_seq() + 1, &next)
        .expect_err("going on past max_errors");
    assert_eq!(violation.rule, Rule::R11);
    assert_eq!(
        *violation.refusal,
        EventRefusal::ErrorsOverLimit {
            run,
            errors: 2,
            max_errors: 1,
        }
    );
    assert!(
        violation
            .detail()
            .contains("went on after 2 errors (max_errors 1)"),
        "{}",
        violation.detail()
    );
    // Staging past the snapshot limit breaks R11 as well.
    let mut q = player();
    let full = start(&mut q, RunKind::FullImport, settings);
    assert_refused(
        &q,
        Event::PageRead {
            run: full,
            page: 1,
            changes: page("F", &["a", "b", "c"], &[]).changes,
            proposed_watermark: None,
        },
        Rule::R11,
        EventRefusal::PageOverSnapshotLimit {
            run: full,
            page: 1,
            live_after: 3,
            snapshot_limit: 2,
        },
        "would hold 3 live objects, over snapshot_limit 2",
    );
    // A limit after a stop that outranks it is refused; one on the same page as custom-stop-run
    // refines the stop.
    let mut r = player();
    let stopped = start(
        &mut r,
        RunKind::DeltaImport,
        Settings {
            max_errors: 0,
            ..Settings::default()
        },
    );
    r.execute(&Command::RecordFault {
        run: stopped,
        fault: Fault {
            kind: FaultKind::ServerDown,
            message: "down".into(),
        },
    })
    .expect("fault");
    assert_refused(
        &r,
        Event::LimitReached {
            run: stopped,
            page: 0,
            limit: LimitKind::Errors,
            count: 0,
            maximum: 0,
        },
        Rule::R11,
        EventRefusal::LimitMismatch {
            run: stopped,
            limit: LimitKind::Errors,
            count: 0,
            maximum: 0,
            actual: 0,
            configured: 0,
        },
        "count 0",
    );
}

#[test]
fn refusals_that_do_not_match_the_flag() {
    let mut p = player();
    let run = start(&mut p, RunKind::DeltaImport, Settings::default());
    let mut broken = page("A", &[], &[]);
    broken.fatal_errors = vec![FatalImportError {
        anchor: None,
        kind: FatalImportErrorKind::ImportReadError,
        description: "x".into(),
    }];
    p.execute(&Command::RecordPage { run, page: broken })
        .expect("page");
    p.execute(&Command::EndRun { run }).expect("ends");
    let refused = |kind, status, set_by| Event::RunRefused {
        run: RunId(2),
        connector: hr(),
        partition: people(),
        kind,
        status,
        cause: RefusalCause::FullImportRequired { set_by },
    };
    // The refusal the state demands of a delta import: the flag run 1 set.
    let demanded = Some((
        RunStatus::NoStartFullImportRequired,
        RefusalCause::FullImportRequired { set_by: RunId(1) },
    ));
    let not_demanded = |status, set_by, delta: bool| {
        EventRefusal::RefusalNotDemanded(Box::new(RefusalMismatch {
            run: RunId(2),
            connector: hr(),
            partition: people(),
            status,
            cause: RefusalCause::FullImportRequired { set_by },
            demanded: if delta { demanded.clone() } else { None },
            flag_set_by: Some(RunId(1)),
        }))
    };
    let ok = refused(
        RunKind::DeltaImport,
        RunStatus::NoStartFullImportRequired,
        RunId(1),
    );
    let mut state = p.state().clone();
    state
        .apply(
            state.last_seq() + 1,
            &Envelope::new(Timestamp(0), Actor::from_name("t"), ok),
        )
        .expect("a true refusal folds");
    assert_refused(
        &p,
        refused(
            RunKind::FullImport,
            RunStatus::NoStartFullImportRequired,
            RunId(1),
        ),
        Rule::R5,
        not_demanded(RunStatus::NoStartFullImportRequired, RunId(1), false),
        "flag on hr/people was set by run 1",
    );
    assert_refused(
        &p,
        refused(RunKind::DeltaImport, RunStatus::NoStartDisabled, RunId(1)),
        Rule::R5,
        not_demanded(RunStatus::NoStartDisabled, RunId(1), true),
        "refused as no-start-disabled",
    );
    assert_refused(
        &p,
        refused(
            RunKind::DeltaImport,
            RunStatus::NoStartFullImportRequired,
            RunId(7),
        ),
        Rule::R5,
        not_demanded(RunStatus::NoStartFullImportRequired, RunId(7), true),
        "required by run 7",
    );
    // A delta import that starts anyway breaks R5.
    assert_refused(
        &p,
        Event::RunStarted {
            run: RunId(2),
            connector: hr(),
            partition: people(),
            kind: RunKind::DeltaImport,
            start_watermark: None,
            settings: Settings::default(),
        },
        Rule::R5,
        EventRefusal::StartedWhileRefused {
            run: RunId(2),
            kind: RunKind::DeltaImport,
            status: RunStatus::NoStartFullImportRequired,
            cause: RefusalCause::FullImportRequired { set_by: RunId(1) },
        },
        "started while it must end no-start-full-import-required (a full import required by run 1)",
    );
    // On a partition without the flag, a refusal names no run.
    let q = player();
    let other = Event::RunRefused {
        run: RunId(1),
        connector: hr(),
        partition: people(),
        kind: RunKind::DeltaImport,
        status: RunStatus::NoStartFullImportRequired,
        cause: RefusalCause::FullImportRequired { set_by: RunId(1) },
    };
    assert_refused(
        &q,
        other,
        Rule::R5,
        EventRefusal::RefusalNotDemanded(Box::new(RefusalMismatch {
            run: RunId(1),
            connector: hr(),
            partition: people(),
            status: RunStatus::NoStartFullImportRequired,
            cause: RefusalCause::FullImportRequired { set_by: RunId(1) },
            demanded: None,
            flag_set_by: None,
        })),
        "was set by no run",
    );
}

#[test]
fn exports_out_of_queue_order_or_unsent() {
    let mut p = player();
    for anchor in ["u1", "u2"] {
        p.execute(&Command::QueueExport {
            connector: hr(),
            partition: people(),
            change: ExportChange {
                anchor: Anchor::from(anchor),
                kind: ExportChangeKind::Add,
                attributes: Attributes::new(),
                references: Attributes::new(),
            },
        })
        .expect("queued");
    }
    let run = start(&mut p, RunKind::Export, Settings::default());
    assert_refused(
        &p,
        Event::ExportBatchSent {
            run,
            anchors: vec![Anchor::from("u2")],
        },
        Rule::Exports,
        EventRefusal::BatchOutOfOrder {
            run,
            sent: vec![Anchor::from("u2")],
            eligible: vec![Anchor::from("u1")],
        },
        "next pending changes in queue order are [u1]",
    );
    assert_refused(
        &p,
        Event::ExportResultRecorded {
            run,
            anchor: Anchor::from("u1"),
            outcome: ExportOutcome::Success,
        },
        Rule::Exports,
        EventRefusal::ResultNotAwaited {
            run,
            anchor: Anchor::from("u1"),
        },
        "no result awaited for u1",
    );
    let end = Event::RunEnded {
        run,
        status: RunStatus::Success,
        counts: RunCounts::default(),
        committed_watermark: None,
    };
    assert_refused(
        &p,
        end,
        Rule::Exports,
        EventRefusal::EndWithUnsent {
            run,
            anchor: Anchor::from("u1"),
        },
        "without sending the pending change of u1",
    );
    // The decider refuses a connector's answer that leaves objects without a result.
    p.execute(&Command::SendExportBatch {
        run,
        batch_size_max: 10,
    })
    .expect("batch");
    let partial = decide(
        p.state(),
        &Command::RecordExportResults {
            run,
            results: vec![(Anchor::from("u1"), ExportOutcome::Success)],
        },
    )
    .expect_err("a result is missing");
    assert_eq!(partial.rule, Rule::Exports);
    assert_eq!(
        partial.refusal,
        CommandRefusal::ResultsMissing {
            run,
            missing: 1,
            first: Some(Anchor::from("u2")),
        }
    );
    assert!(
        partial
            .detail()
            .contains("no result for 1 object(s), first u2"),
        "{}",
        partial.detail()
    );
    // With a custom-stop-run the rest of the batch may go unanswered.
    let stop = ExportOutcome::CustomStopRun {
        name: "quota".into(),
        description: String::new(),
    };
    decide(
        p.state(),
        &Command::RecordExportResults {
            run,
            results: vec![(Anchor::from("u1"), stop)],
        },
    )
    .expect("a stop ends the batch");
}

#[test]
fn interrupted_full_imports_record_why_obsoletion_was_skipped() {
    for (errors, reason) in [
        (true, SkipReason::ImportErrors),
        (false, SkipReason::RunStopped),
    ] {
        let mut p = player();
        let run = start(&mut p, RunKind::FullImport, Settings::default());
        let failing: &[(&str, ObjectErrorKind)] = if errors {
            &[("b", ObjectErrorKind::CustomContinueRun)]
        } else {
            &[]
        };
        p.execute(&Command::RecordPage {
            run,
            page: page("F", &["a"], failing),
        })
        .expect("page");
        p.execute(&Command::InterruptRun { run })
            .expect("interrupted");
        let record = p.state().run(run).expect("run");
        assert_eq!(record.status, Some(RunStatus::Interrupted));
        assert_eq!(record.skip_reason, Some(reason));
        assert_eq!(
            record.committed_watermark, None,
            "an interrupted run's proposals are discarded"
        );
    }
}

#[test]
fn violations_name_watermarks_and_objects_readably() {
    let binary = Watermark(vec![0xff, 0x00, 0x10]);
    assert_eq!(binary.display_text(), "0xff0010");
    assert_eq!(format!("{binary}"), "0xff0010");
    assert_eq!(format!("{binary:?}"), "Watermark(0xff0010)");
    assert_eq!(w("usn-42").display_text(), "usn-42");
    let mut p = player();
    for index in 0..7 {
        p.execute(&Command::QueueExport {
            connector: hr(),
            partition: people(),
            change: ExportChange {
                anchor: Anchor(format!("u{index}")),
                kind: ExportChangeKind::Add,
                attributes: Attributes::new(),
                references: Attributes::new(),
            },
        })
        .expect("queued");
    }
    let run = start(&mut p, RunKind::Export, Settings::default());
    let anchors: Vec<Anchor> = (1..7).map(|index| Anchor(format!("u{index}"))).collect();
    assert_refused(&p, Event::ExportBatchSent { run, anchors: anchors.clone() }, Rule::Exports, EventRefusal::BatchOutOfOrder {
            run,
            sent: anchors,
            eligible: (0..6).map(|index| Anchor(format!("u{index}"))).collect(),
        }, "sent [u1, u2, u3, u4, u5, and 1 more] but the next pending changes in queue order are [u0, u1, u2, u3, u4, and 1 more]");
}

#[test]
fn updates_overlay_attributes_and_adds_replace_them() {
    let attrs = |pairs: &[(&str, &str)]| {
        Attributes(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), AttributeValue::Single((*v).to_owned())))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let change = |kind, attributes| ObjectChange {
        anchor: Anchor::from("u1"),
        kind,
        attributes,
    };
    let mut p = player();
    let script = [
        change(ChangeKind::Add, attrs(&[("mail", "a@x"), ("title", "eng")])),
        change(ChangeKind::Update, attrs(&[("title", "lead")])),
    ];
    p.play(
        &hr(),
        &Settings::default(),
        &Step::Import {
            partition: people(),
            kind: RunKind::DeltaImport,
            pages: vec![ImportPage::Page(Page {
                changes: script.to_vec(),
                ..Page::default()
            })],
        },
    )
    .expect("plays");
    let object = &p
        .state()
        .partition(&hr(), &people())
        .expect("partition")
        .objects()
        .get(Anchor::from("u1"))
        .expect("in the connector space");
    assert_eq!(
        object.attributes.unpack(),
        attrs(&[("mail", "a@x"), ("title", "lead")])
    );
    assert!(!object.attributes.is_empty());
    assert!(Attributes::new().is_empty());
}

/// SPEC §6 and §7 names: acceptance tests and operators' scripts rely on them; never rename.
#[test]
fn spec_names_are_pinned() {
    let kinds: Vec<&str> = [RunKind::FullImport, RunKind::DeltaImport, RunKind::Export]
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(kinds, ["full-import", "delta-import", "export"]);
    let changes: Vec<&str> = [ChangeKind::Add, ChangeKind::Update, ChangeKind::Delete]
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(changes, ["add", "update", "delete"]);
    let exports: Vec<&str> = [
        ExportChangeKind::Add,
        ExportChangeKind::Update,
        ExportChangeKind::Delete,
        ExportChangeKind::References,
    ]
    .iter()
    .map(|k| k.as_str())
    .collect();
    assert_eq!(exports, ["add", "update", "delete", "references"]);
    assert_eq!(
        [
            ObjectErrorKind::CustomContinueRun.as_str(),
            ObjectErrorKind::CustomStopRun.as_str()
        ],
        ["custom-continue-run", "custom-stop-run"]
    );
    assert_eq!(
        [
            FatalImportErrorKind::ImportParseError.as_str(),
            FatalImportErrorKind::ImportReadError.as_str()
        ],
        ["import-parse-error", "import-read-error"]
    );
    let faults: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        faults,
        [
            "server-down",
            "failed-connection",
            "dropped-connection",
            "bad-credentials",
            "oauth-token-expired",
            "watermark-expired",
            "connector-exception"
        ]
    );
    let limits: Vec<&str> = [LimitKind::Errors, LimitKind::Warnings, LimitKind::Snapshot]
        .iter()
        .map(|k| k.code())
        .collect();
    assert_eq!(
        limits,
        [
            "error-limit-exceeded",
            "warning-limit-exceeded",
            "snapshot-limit-exceeded"
        ]
    );
    let outcomes: Vec<&str> = [
        ExportOutcome::Success,
        ExportOutcome::CustomContinueRun {
            name: String::new(),
            description: String::new(),
        },
        ExportOutcome::CustomStopRun {
            name: String::new(),
            description: String::new(),
        },
        ExportOutcome::ConvertUpdateToAdd,
        ExportOutcome::ProvisioningParent {
            parent: Anchor::from("p"),
        },
        ExportOutcome::RetryReferenceAttribute,
    ]
    .iter()
    .map(ExportOutcome::as_str)
    .collect();
    assert_eq!(
        outcomes,
        [
            "success",
            "custom-continue-run",
            "custom-stop-run",
            "convert-update-to-add",
            "provisioning-parent",
            "retry-reference-attribute"
        ]
    );
    let actions: Vec<&str> = [
        AdminAction::CredentialsUpdated,
        AdminAction::Enable,
        AdminAction::Resume,
        AdminAction::ApproveObsoletion,
    ]
    .iter()
    .map(|a| a.as_str())
    .collect();
    assert_eq!(
        actions,
        [
            "credentials-updated",
            "enable",
            "resume",
            "approve-obsoletion"
        ]
    );
    let obsoletion: Vec<&str> = Obsoletion::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(obsoletion, ["applied", "skipped", "held", "not-applicable"]);
    let statuses: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "success",
            "completed-warnings",
            "completed-discovery-errors",
            "completed-export-errors",
            "stopped-object-error",
            "stopped-error-limit",
            "stopped-snapshot-limit",
            "stopped-deletion-threshold-exceeded",
            "stopped-server-down",
            "stopped-connectivity",
            "stopped-bad-server-credentials",
            "stopped-connector-exception",
            "stopped-delta-log-broken",
            "stopped-watermark-expired",
            "no-start-full-import-required",
            "no-start-disabled",
            "no-start-suspended",
            "interrupted"
        ]
    );
    // The alert wall's and health's names (SPEC §7 `alerts[]`, `partitions[].health`).
    let severities: Vec<&str> = [Severity::Info, Severity::Warning, Severity::Error]
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(severities, ["info", "warning", "error"]);
    let scopes: Vec<(&str, &str)> = [
        AlertScope::Object,
        AlertScope::Partition,
        AlertScope::Connector,
    ]
    .iter()
    .map(|s| (s.as_str(), s.class()))
    .collect();
    assert_eq!(
        scopes,
        [
            ("object", "sync-issue"),
            ("partition", "sync-error"),
            ("connector", "sync-error")
        ]
    );
    assert_eq!(
        [
            Recipient::ConnectorOwner.as_str(),
            Recipient::PartitionOwner.as_str()
        ],
        ["connector-owner", "partition-owner"]
    );
    let health: Vec<&str> = [Health::Enabled, Health::Disabled, Health::Suspended]
        .iter()
        .map(|h| h.as_str())
        .collect();
    assert_eq!(health, ["enabled", "disabled", "suspended"]);
    assert_eq!(SkipReason::ImportErrors.as_str(), "import-errors");
    assert_eq!(SkipReason::RunStopped.as_str(), "run-stopped");
    // Event type names (`events --json`): distinct and dash-separated.
    let mut p = player();
    p.play_script(&syncfold::demo::week()).expect("demo");
    let names: std::collections::BTreeSet<&str> =
        p.log().iter().map(|e| e.event.type_name()).collect();
    for name in [
        "run-started",
        "page-read",
        "discovery-error",
        "fault",
        "watermark-committed",
        "obsoletion-applied",
        "obsoletion-skipped",
        "export-queued",
        "export-batch-sent",
        "export-result",
        "run-ended",
        "admin-action",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
}

/// A limit may refine a stop only on the stop's own page and only over custom-stop-run or a
/// fatal import error: after a fault, even a limit whose counts are right is refused.
#[test]
fn a_limit_cannot_follow_a_fault() {
    let mut p = player();
    p.execute(&Command::QueueExport {
        connector: hr(),
        partition: people(),
        change: ExportChange {
            anchor: Anchor::from("u1"),
            kind: ExportChangeKind::Add,
            attributes: Attributes::new(),
            references: Attributes::new(),
        },
    })
    .expect("queued");
    let run = start(
        &mut p,
        RunKind::Export,
        Settings {
            max_errors: 0,
            ..Settings::default()
        },
    );
    p.execute(&Command::SendExportBatch {
        run,
        batch_size_max: 10,
    })
    .expect("batch");
    let mut state = p.state().clone();
    let forged = |event| Envelope::new(Timestamp(0), Actor::from_name("forger"), event);
    let failed = ExportOutcome::CustomContinueRun {
        name: "denied".into(),
        description: String::new(),
    };
    state
        .apply(
            state.last_seq() + 1,
            &forged(Event::ExportResultRecorded {
                run,
                anchor: Anchor::from("u1"),
                outcome: failed,
            }),
        )
        .expect("the result folds");
    let fault = Fault {
        kind: FaultKind::DroppedConnection,
        message: "reset".into(),
    };
    state
        .apply(
            state.last_seq() + 1,
            &forged(Event::FaultRecorded {
                run,
                page: None,
                fault,
            }),
        )
        .expect("the fault folds");
    let before = state.clone();
    let limit = Event::LimitReached {
        run,
        page: 0,
        limit: LimitKind::Errors,
        count: 1,
        maximum: 0,
    };
    let violation = state
        .apply(state.last_seq() + 1, &forged(limit))
        .expect_err("a limit after a fault");
    assert_eq!(violation.rule, Rule::R15);
    assert_eq!(
        *violation.refusal,
        EventRefusal::LimitAfterStop { run, stop_page: 0 }
    );
    assert!(
        violation.detail().contains("already stopped on page 0"),
        "{}",
        violation.detail()
    );
    assert_eq!(state, before);
}
