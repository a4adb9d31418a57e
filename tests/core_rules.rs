//! The rules of SPEC.md told as stories a reader can check: each test plays a short scripted
//! history through the public core API (`decide` + `State::apply`, via `script::Player`) and asserts
//! the outcome the SPEC and the seed documents give: the page 1/2/3, watermark A/B/C example, an
//! errored full import that keeps every object, a broken delta change log, the run limits, each
//! export action, the deletion guard, and interrupted runs.

use std::collections::BTreeMap;
use syncfold::core::*;
use syncfold::script::{ImportPage, Player, Script, Step};

fn a(name: &str) -> Anchor {
    Anchor::from(name)
}

fn w(name: &str) -> Watermark {
    Watermark::from_text(name)
}

fn add(anchor: &str) -> ObjectChange {
    ObjectChange {
        anchor: a(anchor),
        kind: ChangeKind::Add,
        attributes: Attributes(BTreeMap::from([(
            "mail".to_owned(),
            AttributeValue::Single(format!("{anchor}@example.org")),
        )])),
    }
}

fn error(anchor: &str, kind: ObjectErrorKind) -> DiscoveryError {
    DiscoveryError {
        anchor: a(anchor),
        kind,
        name: "invalid-characters-error".into(),
        description: "the name holds a control character".into(),
    }
}

fn page(watermark: &str, objects: &[&str]) -> ImportPage {
    ImportPage::Page(Page {
        changes: objects.iter().map(|anchor| add(anchor)).collect(),
        watermark: Some(w(watermark)),
        ..Page::default()
    })
}

fn page_with_errors(watermark: &str, objects: &[&str], errors: Vec<DiscoveryError>) -> ImportPage {
    let ImportPage::Page(mut page) = page(watermark, objects) else {
        unreachable!()
    };
    page.errors = errors;
    ImportPage::Page(page)
}

fn import(kind: RunKind, pages: Vec<ImportPage>) -> Step {
    Step::Import {
        partition: PartitionName::from("people"),
        kind,
        pages,
    }
}

fn fault(kind: FaultKind) -> ImportPage {
    ImportPage::Fault(Fault {
        kind,
        message: format!("{} from the test", kind.as_str()),
    })
}

struct Story {
    player: Player,
    script: Script,
}

impl Story {
    fn new(settings: Settings) -> Self {
        Story {
            player: Player::new(
                Actor::from_name("story"),
                Timestamp(1_700_000_000_000),
                1000,
            ),
            script: Script {
                connector: ConnectorName::from("hr"),
                settings,
                steps: Vec::new(),
            },
        }
    }

    fn play(&mut self, step: Step) -> RunId {
        let run = self
            .player
            .play(&self.script.connector, &self.script.settings, &step)
            .expect("the story plays")
            .expect("the step is a run");
        self.script.steps.push(step);
        run
    }

    fn admin(&mut self, action: AdminAction) {
        let step = Step::Admin {
            partition: Some(PartitionName::from("people")),
            action,
        };
        self.player
            .play(&self.script.connector, &self.script.settings, &step)
            .expect("the action is recorded");
    }

    fn run(&self, run: RunId) -> &RunRecord {
        self.player.state().run(run).expect("the run exists")
    }

    fn partition(&self) -> &PartitionState {
        self.player
            .state()
            .partition(&self.script.connector, &PartitionName::from("people"))
            .expect("the partition exists")
    }

    fn live(&self) -> Vec<&str> {
        self.partition()
            .objects()
            .iter()
            .filter(|(_, object)| !object.obsolete)
            .map(|(anchor, _)| anchor)
            .collect()
    }

    fn pending(&self) -> Vec<(String, &'static str)> {
        self.partition()
            .exports()
            .in_order()
            .map(|entry| (entry.change.anchor.0.clone(), entry.change.kind.as_str()))
            .collect()
    }
}

/// The seed's example: page 2 has a discovery error, so watermark A is committed though C was
/// read; the next delta import reads page 2 again; a clean full import then commits its watermark.
#[test]
fn watermark_a_is_committed_when_page_two_fails() {
    let mut story = Story::new(Settings::default());
    let first = story.play(import(
        RunKind::DeltaImport,
        vec![
            page("A", &["u1"]),
            page_with_errors(
                "B",
                &["u2", "u3"],
                vec![error("u2", ObjectErrorKind::CustomContinueRun)],
            ),
            page("C", &["u4"]),
        ],
    ));
    let record = story.run(first);
    assert_eq!(record.status, Some(RunStatus::CompletedDiscoveryErrors));
    assert_eq!(record.committed_watermark, Some(w("A")));
    assert_eq!(record.counts.errors, 1);
    // Objects read without error are staged even on and after the failing page; u2 is not.
    assert_eq!(story.live(), vec!["u1", "u3", "u4"]);

    let second = story.play(import(
        RunKind::DeltaImport,
        vec![page_with_errors(
            "B",
            &["u2"],
            vec![error("u2", ObjectErrorKind::CustomContinueRun)],
        )],
    ));
    assert_eq!(story.run(second).start_watermark, Some(w("A")));
    assert_eq!(story.run(second).committed_watermark, Some(w("A")));
    let open_error = &story.partition().object_errors()[&a("u2")];
    assert_eq!(open_error.failing_runs, 2);
    assert_eq!(open_error.first.run, Some(first));
    assert_eq!(open_error.last.run, Some(second));

    let full = story.play(import(
        RunKind::FullImport,
        vec![page("C2", &["u1", "u2", "u3", "u4"])],
    ));
    assert_eq!(story.run(full).status, Some(RunStatus::Success));
    assert_eq!(story.partition().committed_watermark(), Some(&w("C2")));
    assert!(
        story.partition().object_errors().is_empty(),
        "a clean read closes the error"
    );
}

/// R3: an errored full import keeps every object (no obsoletion, skip recorded); the next clean
/// one obsoletes what left.
#[test]
fn errored_full_import_skips_obsoletion() {
    let mut story = Story::new(Settings::default());
    story.play(import(
        RunKind::FullImport,
        vec![page("F1", &["a", "b", "c"])],
    ));
    let errored = story.play(import(
        RunKind::FullImport,
        vec![page_with_errors(
            "F2",
            &["a"],
            vec![error("b", ObjectErrorKind::CustomContinueRun)],
        )],
    ));
    let record = story.run(errored);
    assert_eq!(record.status, Some(RunStatus::CompletedDiscoveryErrors));
    assert_eq!(record.obsoletion, Obsoletion::Skipped);
    assert_eq!(record.skip_reason, Some(SkipReason::ImportErrors));
    assert_eq!(
        record.committed_watermark,
        Some(w("F1")),
        "R2: nothing committed"
    );
    assert_eq!(story.live(), vec!["a", "b", "c"]);

    let clean = story.play(import(RunKind::FullImport, vec![page("F3", &["a", "b"])]));
    let record = story.run(clean);
    assert_eq!(record.obsoletion, Obsoletion::Applied);
    assert_eq!(record.counts.obsoleted, 1);
    assert_eq!(story.live(), vec!["a", "b"]);
    assert!(
        story
            .partition()
            .objects()
            .get(a("c"))
            .expect("in the connector space")
            .obsolete
    );
}

/// R5: a broken delta change log stops the run, commits per R1 and requires a full import; the
/// refused delta names the run that set the flag; a clean full import clears it.
#[test]
fn broken_delta_log_requires_a_full_import() {
    let mut story = Story::new(Settings::default());
    let ImportPage::Page(mut broken) = page("W2", &["u2"]) else {
        unreachable!()
    };
    broken.fatal_errors = vec![FatalImportError {
        anchor: Some(a("u9")),
        kind: FatalImportErrorKind::ImportReadError,
        description: "change log entry 4411 unreadable".into(),
    }];
    let delta = story.play(import(
        RunKind::DeltaImport,
        vec![
            page("W1", &["u1"]),
            ImportPage::Page(broken),
            page("W3", &["u3"]),
        ],
    ));
    assert_eq!(
        story.run(delta).status,
        Some(RunStatus::StoppedDeltaLogBroken)
    );
    assert_eq!(story.run(delta).committed_watermark, Some(w("W1")));
    assert_eq!(story.run(delta).counts.pages, 2, "page 3 is never read");
    assert_eq!(
        story.partition().full_import_required().and_then(|o| o.run),
        Some(delta)
    );

    let refused = story.play(import(RunKind::DeltaImport, vec![page("W9", &["u9"])]));
    let record = story.run(refused);
    assert_eq!(record.status, Some(RunStatus::NoStartFullImportRequired));
    assert_eq!(
        record.refusal,
        Some(RefusalCause::FullImportRequired { set_by: delta })
    );
    assert_eq!(record.committed_watermark, Some(w("W1")));

    story.play(import(RunKind::FullImport, vec![page("F", &["u1", "u2"])]));
    assert!(story.partition().full_import_required().is_none());
    assert_eq!(story.partition().committed_watermark(), Some(&w("F")));
}

/// R5: `watermark-expired` sets the flag too; R1: a fault on page 2 commits page 1's watermark.
#[test]
fn faults_stop_the_run_and_hold_the_watermark() {
    let mut story = Story::new(Settings::default());
    let down = story.play(import(
        RunKind::DeltaImport,
        vec![
            page("W1", &["u1"]),
            fault(FaultKind::ServerDown),
            page("W3", &["u3"]),
        ],
    ));
    assert_eq!(story.run(down).status, Some(RunStatus::StoppedServerDown));
    assert_eq!(story.run(down).committed_watermark, Some(w("W1")));
    assert_eq!(
        story.run(down).counts.errors,
        0,
        "a fault is a status, not an object error"
    );

    for (kind, status) in [
        (FaultKind::FailedConnection, RunStatus::StoppedConnectivity),
        (FaultKind::DroppedConnection, RunStatus::StoppedConnectivity),
        (
            FaultKind::BadCredentials,
            RunStatus::StoppedBadServerCredentials,
        ),
        (
            FaultKind::OauthTokenExpired,
            RunStatus::StoppedBadServerCredentials,
        ),
        (
            FaultKind::ConnectorException,
            RunStatus::StoppedConnectorException,
        ),
    ] {
        let run = story.play(import(RunKind::DeltaImport, vec![fault(kind)]));
        assert_eq!(story.run(run).status, Some(status), "{}", kind.as_str());
        assert_eq!(story.run(run).committed_watermark, Some(w("W1")));
        if status == RunStatus::StoppedBadServerCredentials {
            // R8: disabled until an administrator updates the credentials and enables it.
            story.admin(AdminAction::CredentialsUpdated);
            story.admin(AdminAction::Enable);
        }
    }

    let expired = story.play(import(
        RunKind::DeltaImport,
        vec![fault(FaultKind::WatermarkExpired)],
    ));
    assert_eq!(
        story.run(expired).status,
        Some(RunStatus::StoppedWatermarkExpired)
    );
    assert_eq!(
        story.partition().full_import_required().and_then(|o| o.run),
        Some(expired)
    );
}

/// R7: custom-stop-run stops the run after its page; the following page is never read.
#[test]
fn custom_stop_run_stops_after_its_page() {
    let mut story = Story::new(Settings::default());
    let run = story.play(import(
        RunKind::DeltaImport,
        vec![
            page("W1", &["u1"]),
            page_with_errors(
                "W2",
                &["u2"],
                vec![error("u5", ObjectErrorKind::CustomStopRun)],
            ),
            page("W3", &["u3"]),
        ],
    ));
    let record = story.run(run);
    assert_eq!(record.status, Some(RunStatus::StoppedObjectError));
    assert_eq!(record.committed_watermark, Some(w("W1")));
    assert_eq!(
        story.live(),
        vec!["u1", "u2"],
        "page 2's clean objects are staged, page 3 unread"
    );
}

/// R11: the snapshot limit stops before staging the page that would exceed it; the error limit
/// stops once the errors exceed `max_errors`.
#[test]
fn run_limits_stop_the_run() {
    let mut story = Story::new(Settings {
        snapshot_limit: 3,
        max_errors: 1,
        ..Settings::default()
    });
    let full = story.play(import(
        RunKind::FullImport,
        vec![
            page("F1", &["a", "b"]),
            page("F2", &["c", "d"]),
            page("F3", &["e"]),
        ],
    ));
    let record = story.run(full);
    assert_eq!(record.status, Some(RunStatus::StoppedSnapshotLimit));
    assert_eq!(record.obsoletion, Obsoletion::Skipped);
    assert_eq!(record.skip_reason, Some(SkipReason::RunStopped));
    assert_eq!(record.committed_watermark, None);
    assert_eq!(story.live(), vec!["a", "b"], "page 2 is not staged at all");

    let delta = story.play(import(
        RunKind::DeltaImport,
        vec![
            page_with_errors(
                "D1",
                &[],
                vec![
                    error("x", ObjectErrorKind::CustomContinueRun),
                    error("y", ObjectErrorKind::CustomContinueRun),
                ],
            ),
            page("D2", &["c"]),
        ],
    ));
    let record = story.run(delta);
    assert_eq!(record.status, Some(RunStatus::StoppedErrorLimit));
    assert_eq!(record.counts.errors, 2);
    assert_eq!(record.counts.pages, 1);
}

fn export_step(enqueue: &[(&str, ExportChangeKind)], results: Vec<(&str, ExportOutcome)>) -> Step {
    Step::Export {
        partition: PartitionName::from("people"),
        enqueue: enqueue
            .iter()
            .map(|(anchor, kind)| ExportChange {
                anchor: a(anchor),
                kind: *kind,
                attributes: Attributes(BTreeMap::from([(
                    "title".to_owned(),
                    AttributeValue::Single("lead".into()),
                )])),
                references: Attributes(BTreeMap::from([(
                    "manager".to_owned(),
                    AttributeValue::Single("u9".into()),
                )])),
            })
            .collect(),
        results: results
            .into_iter()
            .map(|(anchor, outcome)| (a(anchor), outcome))
            .collect(),
        fault: None,
    }
}

/// SPEC §4: each export action leaves the object pending in the right shape for the next run,
/// and the parent goes first.
#[test]
fn export_actions_requeue_for_the_next_run() {
    let mut story = Story::new(Settings::default());
    story.play(import(RunKind::FullImport, vec![page("F", &["u2"])]));
    let first = story.play(export_step(
        &[
            ("u1", ExportChangeKind::Update),
            ("u2", ExportChangeKind::Update),
            ("u3", ExportChangeKind::Add),
            ("u4", ExportChangeKind::Update),
        ],
        vec![
            ("u1", ExportOutcome::RetryReferenceAttribute),
            ("u2", ExportOutcome::ConvertUpdateToAdd),
            (
                "u3",
                ExportOutcome::ProvisioningParent {
                    parent: a("ou=sales"),
                },
            ),
        ],
    ));
    assert_eq!(story.run(first).status, Some(RunStatus::CompletedWarnings));
    assert_eq!(story.run(first).counts.warnings, 3);
    assert_eq!(
        story.pending(),
        vec![
            ("u1".to_owned(), "references"),
            ("u2".to_owned(), "add"),
            ("ou=sales".to_owned(), "add"),
            ("u3".to_owned(), "add"),
        ]
    );
    let u2 = story.partition().exports().get(&a("u2")).expect("pending");
    assert!(
        u2.change.attributes.0.contains_key("mail"),
        "an add carries all attributes"
    );
    assert!(story
        .partition()
        .exports()
        .get(&a("u1"))
        .expect("pending")
        .change
        .attributes
        .is_empty());

    // The parent fails: the object waits for it and is not sent.
    let second = story.play(export_step(
        &[],
        vec![(
            "ou=sales",
            ExportOutcome::CustomContinueRun {
                name: "permission-denied".into(),
                description: "no right to create OUs".into(),
            },
        )],
    ));
    assert_eq!(
        story.run(second).status,
        Some(RunStatus::CompletedExportErrors)
    );
    assert_eq!(
        story.run(second).counts.exported,
        3,
        "u1, u2 and the parent were sent; u3 waits"
    );
    assert_eq!(
        story.pending(),
        vec![("ou=sales".to_owned(), "add"), ("u3".to_owned(), "add")]
    );

    let third = story.play(export_step(&[], vec![]));
    assert_eq!(story.run(third).status, Some(RunStatus::Success));
    assert_eq!(
        story.run(third).counts.exported,
        2,
        "the parent first, then the object"
    );
    assert!(story.pending().is_empty());
}

/// SPEC §4: custom-stop-run stops the export; the object and everything not yet sent stay pending.
#[test]
fn export_stop_keeps_everything_not_sent() {
    let mut story = Story::new(Settings::default());
    let run = story.play(export_step(
        &[
            ("u1", ExportChangeKind::Add),
            ("u2", ExportChangeKind::Add),
            ("u3", ExportChangeKind::Add),
        ],
        vec![(
            "u2",
            ExportOutcome::CustomStopRun {
                name: "target-unavailable".into(),
                description: "quota exceeded".into(),
            },
        )],
    ));
    assert_eq!(story.run(run).status, Some(RunStatus::StoppedObjectError));
    assert_eq!(
        story.pending(),
        vec![("u2".to_owned(), "add"), ("u3".to_owned(), "add")]
    );
    assert_eq!(
        story.partition().object_errors()[&a("u2")].direction,
        ErrorDirection::Export
    );
}

/// R4: a clean full import that would obsolete more than the threshold holds the obsoletion,
/// commits its watermark, and the approval applies it.
#[test]
fn deletion_guard_holds_until_approved() {
    let mut story = Story::new(Settings {
        deletion_threshold: DeletionThreshold::Percent(20),
        ..Settings::default()
    });
    story.play(import(
        RunKind::FullImport,
        vec![page("F1", &["a", "b", "c", "d", "e"])],
    ));
    let guarded = story.play(import(
        RunKind::FullImport,
        vec![page("F2", &["a", "b", "c"])],
    ));
    let record = story.run(guarded);
    assert_eq!(
        record.status,
        Some(RunStatus::StoppedDeletionThresholdExceeded)
    );
    assert_eq!(record.obsoletion, Obsoletion::Held);
    assert_eq!(record.committed_watermark, Some(w("F2")));
    assert_eq!(story.live(), vec!["a", "b", "c", "d", "e"]);
    story.admin(AdminAction::ApproveObsoletion);
    assert_eq!(story.live(), vec!["a", "b", "c"]);
    assert!(story.partition().held_obsoletion().is_none());
}

/// R13: a run found in flight is closed as interrupted; what it only proposed is discarded.
#[test]
fn interrupted_run_discards_its_proposals() {
    let mut player = Player::new(Actor::from_name("story"), Timestamp(0), 1);
    let (connector, partition) = (ConnectorName::from("hr"), PartitionName::from("people"));
    player
        .execute(&Command::StartRun {
            connector: connector.clone(),
            partition: partition.clone(),
            kind: RunKind::DeltaImport,
            settings: Settings::default(),
        })
        .expect("starts");
    let ImportPage::Page(read) = page("P1", &["u1"]) else {
        unreachable!()
    };
    player
        .execute(&Command::RecordPage {
            run: RunId(1),
            page: read,
        })
        .expect("page");
    player
        .execute(&Command::InterruptRun { run: RunId(1) })
        .expect("interrupts");
    let record = player.state().run(RunId(1)).expect("run");
    assert_eq!(record.status, Some(RunStatus::Interrupted));
    assert_eq!(record.committed_watermark, None);
    let part = player
        .state()
        .partition(&connector, &partition)
        .expect("partition");
    assert!(part.open_run().is_none());
}

/// Bad input to the core gets a typed error naming the rule, never a panic.
#[test]
fn bad_commands_and_events_are_typed_errors() {
    let state = State::new();
    let rejection = decide(
        &state,
        &Command::RecordPage {
            run: RunId(7),
            page: Page::default(),
        },
    )
    .expect_err("unknown run");
    assert_eq!(rejection.rule, Rule::R15);
    assert!(rejection.to_string().contains("run 7 was never started"));

    let mut state = State::new();
    let stray = Envelope::new(
        Timestamp(0),
        Actor::from_name("test"),
        Event::WatermarkCommitted {
            run: RunId(1),
            watermark: w("X"),
        },
    );
    let violation = state.apply(1, &stray).expect_err("no such run");
    assert_eq!((violation.seq, violation.rule), (1, Rule::R15));
    let violation = state.apply(5, &stray).expect_err("out of order");
    assert!(
        violation.to_string().contains("expected event 1, got 5"),
        "{violation}"
    );
}

/// R9 for objects: an error becomes permanent after `retry_count` consecutive failing runs with
/// the *same* name; another name, in a later run or later in the same run, starts the count over.
#[test]
fn an_object_error_turns_permanent_by_name() {
    let mut story = Story::new(Settings::default());
    let named = |name: &str| DiscoveryError {
        anchor: a("u1"),
        kind: ObjectErrorKind::CustomContinueRun,
        name: name.into(),
        description: String::new(),
    };
    let failing = |errors: Vec<DiscoveryError>| {
        import(
            RunKind::DeltaImport,
            errors
                .into_iter()
                .map(|error| {
                    ImportPage::Page(Page {
                        errors: vec![error],
                        ..Page::default()
                    })
                })
                .collect(),
        )
    };
    let permanent = |story: &Story| {
        let record = &story.partition().object_errors()[&a("u1")];
        (record.same_name_runs, record.permanent)
    };
    story.play(failing(vec![named("missing-attribute")]));
    story.play(failing(vec![named("missing-attribute")]));
    assert_eq!(permanent(&story), (2, false));
    // A third run fails with another name: the count starts over.
    story.play(failing(vec![named("invalid-characters")]));
    assert_eq!(permanent(&story), (1, false));
    story.play(failing(vec![named("invalid-characters")]));
    story.play(failing(vec![named("invalid-characters")]));
    assert_eq!(
        permanent(&story),
        (3, true),
        "three consecutive runs with one name"
    );
    // Later in one run, another name also starts over.
    story.play(failing(vec![named("invalid-characters"), named("quota")]));
    assert_eq!(permanent(&story), (1, false));
    assert_eq!(story.partition().object_errors()[&a("u1")].failing_runs, 6);
}

/// Error counting (SEMANTICS): a fatal import error that names no object still counts one error,
/// and two fatal errors on one page count two. (Found by mutation testing: `+= 1` turned into
/// `*= 1` on the anchor-less branch changed no outcome.)
#[test]
fn a_fatal_import_error_without_an_object_counts_one_error() {
    let mut story = Story::new(Settings::default());
    let ImportPage::Page(mut broken) = page("W1", &["u1"]) else {
        unreachable!()
    };
    broken.fatal_errors = vec![FatalImportError {
        anchor: None,
        kind: FatalImportErrorKind::ImportReadError,
        description: "the change log's segment 12 is unreadable".into(),
    }];
    let run = story.play(import(
        RunKind::DeltaImport,
        vec![ImportPage::Page(broken.clone())],
    ));
    assert_eq!(
        story.run(run).status,
        Some(RunStatus::StoppedDeltaLogBroken)
    );
    assert_eq!(story.run(run).counts.errors, 1);

    let mut story = Story::new(Settings::default());
    broken.fatal_errors.push(FatalImportError {
        anchor: Some(a("u7")),
        kind: FatalImportErrorKind::ImportParseError,
        description: "entry 4412 truncated".into(),
    });
    let run = story.play(import(RunKind::DeltaImport, vec![ImportPage::Page(broken)]));
    assert_eq!(story.run(run).counts.errors, 2);
}

/// R13: an interrupted run stops on the page after the last one it read, and says so to whoever
/// asks to record more. (Found by mutation testing: `pages_read + 1` turned into `- 1` or `* 1`
/// changed no outcome.)
#[test]
fn an_interrupted_run_stops_on_the_page_after_the_last_one_read() {
    let actor = Actor::from_name("story");
    let mut state = State::new();
    let apply = |state: &mut State, command: Command| {
        for event in decide(state, command).expect("decided") {
            let envelope = Envelope::new(Timestamp(0), actor.clone(), event);
            state.apply(state.last_seq() + 1, &envelope).expect("folds");
        }
    };
    apply(
        &mut state,
        Command::StartRun {
            connector: ConnectorName::from("hr"),
            partition: PartitionName::from("people"),
            kind: RunKind::DeltaImport,
            settings: Settings::default(),
        },
    );
    let run = RunId(1);
    for watermark in ["W1", "W2"] {
        let ImportPage::Page(page) = page(watermark, &["u1"]) else {
            unreachable!()
        };
        apply(&mut state, Command::RecordPage { run, page });
    }
    let interrupted = Envelope::new(Timestamp(0), actor.clone(), Event::RunInterrupted { run });
    state
        .apply(state.last_seq() + 1, &interrupted)
        .expect("folds");
    let open = state.open_run(run).expect("still open until it ends");
    assert_eq!(open.stop(), Some((StopCause::Interrupted, 3)));
    let refused = decide(
        &state,
        Command::RecordPage {
            run,
            page: Page::default(),
        },
    )
    .expect_err("an interrupted run reads no more pages");
    assert!(
        refused.to_string().contains("stopped on page 3"),
        "{refused}"
    );
}

/// R9: a transient code that reaches `retry_count` suspends its scope, and R9's table has no
/// transient partition-scope code, so every suspension is the connector's: each partition of the
/// connector (one first named while suspended included) reports `suspended` and refuses runs;
/// the wall holds one connector-scope error and an `info` copy per partition, never a
/// partition-scope suspension; a partition's `resume` lifts nothing and only the connector's
/// lifts it. (Regression: `PartitionState` carried a `suspended` field no event could set, and the
/// health, refusal and alert code read it; it is gone, and snapshots moved to format 4.)
#[test]
fn a_suspension_is_the_connectors_and_a_connector_resume_lifts_it() {
    let mut story = Story::new(Settings {
        retry_count: 2,
        ..Settings::default()
    });
    let connector = ConnectorName::from("hr");
    let people = PartitionName::from("people");
    let groups = PartitionName::from("groups");
    let on = |partition: &PartitionName, kind| Step::Import {
        partition: partition.clone(),
        kind,
        pages: vec![fault(FaultKind::ServerDown)],
    };
    story.play(on(&people, RunKind::DeltaImport));
    assert_eq!(
        story.player.state().health(&connector, &people),
        Health::Enabled
    );
    let second = story.play(on(&people, RunKind::FullImport));
    assert_eq!(story.run(second).status, Some(RunStatus::StoppedServerDown));
    // Suspended now; `groups` is first named by a run that does not start.
    let refused = story.play(on(&groups, RunKind::FullImport));
    assert_eq!(story.run(refused).status, Some(RunStatus::NoStartSuspended));
    assert_eq!(
        story.run(refused).refusal,
        Some(RefusalCause::Suspended {
            set_by: second,
            code: "server-down".into(),
        })
    );
    let health = |story: &Story| {
        [&people, &groups].map(|partition| story.player.state().health(&connector, partition))
    };
    assert_eq!(health(&story), [Health::Suspended; 2]);
    let wall = |story: &Story| -> Vec<(AlertScope, Severity, Recipient, Option<String>)> {
        story
            .player
            .state()
            .alerts()
            .into_iter()
            .filter(|alert| alert.code == "server-down")
            .map(|alert| {
                (
                    alert.scope,
                    alert.severity,
                    alert.recipient,
                    alert.partition.map(|p| p.0),
                )
            })
            .collect()
    };
    let suspended_wall = vec![
        (
            AlertScope::Connector,
            Severity::Error,
            Recipient::ConnectorOwner,
            None,
        ),
        (
            AlertScope::Connector,
            Severity::Info,
            Recipient::PartitionOwner,
            Some("groups".to_owned()),
        ),
        (
            AlertScope::Connector,
            Severity::Info,
            Recipient::PartitionOwner,
            Some("people".to_owned()),
        ),
    ];
    assert_eq!(wall(&story), suspended_wall);
    // A partition's resume is recorded and lifts nothing: the partition was never suspended on
    // its own.
    story.admin(AdminAction::Resume);
    assert_eq!(health(&story), [Health::Suspended; 2]);
    assert_eq!(wall(&story), suspended_wall);
    let still = story.play(on(&people, RunKind::FullImport));
    assert_eq!(story.run(still).status, Some(RunStatus::NoStartSuspended));
    // The connector's resume lifts it for every partition; the transient alert stays open, a
    // warning again, until a run ends without the fault (R10).
    story
        .player
        .play(
            &connector,
            &story.script.settings,
            &Step::Admin {
                partition: None,
                action: AdminAction::Resume,
            },
        )
        .expect("the action is recorded");
    assert_eq!(health(&story), [Health::Enabled; 2]);
    assert_eq!(
        wall(&story)
            .iter()
            .map(|(_, severity, ..)| *severity)
            .collect::<Vec<_>>(),
        [Severity::Warning, Severity::Info, Severity::Info]
    );
    let clean = story.play(import(RunKind::FullImport, vec![page("F", &["u1"])]));
    assert_eq!(story.run(clean).status, Some(RunStatus::Success));
    assert!(wall(&story).is_empty());
}

/// Snapshot format 7 (docs/FORMAT.md; format 6 before the connector space was stored as laid out
/// in memory, format 5 before the stuck warning's opening, format 4 before the administrator's
/// marks) pinned on a suspended connector: transient failures are
/// keyed by a typed code and a partition carries no suspension of its own. Format 3 encoded the
/// same history differently (string codes, a per-partition `suspended` that no event set), so it
/// fails here. Any change to the state's layout fails here too: bump the snapshot format
/// (`src/log/snapshot.rs`, docs/FORMAT.md) and then this hash.
#[test]
fn the_snapshot_state_layout_is_pinned() {
    let mut story = Story::new(Settings {
        retry_count: 2,
        ..Settings::default()
    });
    for (partition, kind) in [
        ("people", RunKind::DeltaImport),
        ("people", RunKind::FullImport),
        ("groups", RunKind::FullImport),
    ] {
        story.play(Step::Import {
            partition: PartitionName::from(partition),
            kind,
            pages: vec![fault(FaultKind::ServerDown)],
        });
    }
    let hash = syncfold::log::codec::state_hash(story.player.state()).expect("encodes");
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(
        hex, "21c49db5d87185f03560ad19ec592ee418ec723b64269c84f92ba6b90d3fe148",
        "the state's layout changed: bump the snapshot format"
    );
}

/// The connector space's layout (format 7, layout 1: `src/core/space.rs`) pinned on a history
/// that stages, updates, deletes and obsoletes objects: the same history must keep giving the
/// same bytes, and a layout change must bump the snapshot format.
#[test]
fn the_connector_space_layout_is_pinned() {
    let mut story = Story::new(Settings::default());
    let anchors: Vec<String> = (0..40).map(|i| format!("uid=u{i:02},ou=people")).collect();
    let all: Vec<&str> = anchors.iter().map(String::as_str).collect();
    story.play(import(
        RunKind::FullImport,
        vec![page("F1", &all[..20]), page("F2", &all[20..])],
    ));
    let mut delta = Page {
        watermark: Some(w("D1")),
        ..Page::default()
    };
    delta.changes.push(ObjectChange {
        kind: ChangeKind::Update,
        ..add(all[3])
    });
    delta.changes.push(ObjectChange {
        kind: ChangeKind::Delete,
        attributes: Attributes::default(),
        ..add(all[4])
    });
    delta.changes.push(add("uid=new,ou=people"));
    story.play(import(RunKind::DeltaImport, vec![ImportPage::Page(delta)]));
    story.play(import(RunKind::FullImport, vec![page("F3", &all[..38])]));
    let part = story.partition();
    assert_eq!(part.objects().len(), 41);
    assert_eq!(part.live_objects(), 38);
    let hash = syncfold::log::codec::state_hash(story.player.state()).expect("encodes");
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(
        hex, "77f635f5d98303fc89565fc6f174cee57c8a127d8834a998573dfbe0b2575d64",
        "the connector space's layout changed: bump the snapshot format"
    );
}
