//! The parser maps every SPEC §7 key to the script it means (one scenario using every key);
//! every malformed scenario under `tests/fixtures/scenarios/malformed/` is refused with exactly
//! the message in its `.expected` file; and every example under `examples/` plays through the
//! core exactly as the `#>` lines of its comment say, read from the view `state --json` prints.

use super::expect;
use super::*;
use crate::core::{
    Actor, AdminAction, Anchor, AttributeValue, Attributes, ChangeKind, ConnectorName,
    DeletionThreshold, DiscoveryError, ExportChange, ExportChangeKind, ExportOutcome,
    FatalImportError, FatalImportErrorKind, Fault, FaultKind, ObjectChange, ObjectErrorKind, Page,
    PartitionName, RunKind, Settings, State, Timestamp, Watermark,
};
use crate::script::{ImportPage, Player, Step};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn single(value: &str) -> AttributeValue {
    AttributeValue::Single(value.to_owned())
}

fn attrs(pairs: &[(&str, AttributeValue)]) -> Attributes {
    Attributes(
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect(),
    )
}

const EVERY_KEY: &str = r#"
[connector]
name = "hr"
retry_count = 4
max_errors = 10
max_warnings = 20
snapshot_limit = 30
stuck_after = 2
deletion_threshold = "20%"

[[step]]
kind = "delta-import"
partition = "people"

  [[step.page]]
  watermark = "A"
  objects = [ { anchor = "u1", change = "add", attrs = { mail = "u1@example.org", groups = ["a", "b"] } },
          { anchor = "u2", change = "update", attrs = { title = "lead" } },
          { anchor = "u3", change = "delete" },
          { anchor = "u4" } ]
  errors = [ { anchor = "u5", error = "custom-continue-run", name = "invalid-characters-error", description = "bad name" },
         { anchor = "u6", error = "custom-stop-run" },
         { anchor = "u7", error = "import-parse-error", name = "ignored", description = "log corrupt" } ]

  [[step.page]]
  errors = [ { error = "import-read-error" } ]

  [[step.page]]
  fault = "connector-exception"
  message = "NullReferenceException"

  [[step.page]]
  fault = "server-down"

[[step]]
kind = "full-import"

  [[step.page]]
  watermark = "F"

[[step]]
kind = "export"
partition = "people"
enqueue = [ { anchor = "u1", change = "update", attrs = { title = "lead" }, refs = { manager = "u9", reports = ["u2", "u3"] } },
        { anchor = "u2", change = "add" },
        { anchor = "u3", change = "delete" },
        { anchor = "u4", change = "references", refs = { manager = "u1" } },
        { anchor = "u5", change = "update" },
        { anchor = "u8" } ]
results = [ { anchor = "u1", result = "retry-reference-attribute" },
        { anchor = "u2", result = "provisioning-parent", parent = "ou=sales" },
        { anchor = "u3", result = "success" },
        { anchor = "u4", result = "custom-continue-run" },
        { anchor = "u5", result = "convert-update-to-add" },
        { anchor = "u8", result = "custom-stop-run", name = "x", description = "..." } ]

[[step]]
kind = "export"
fault = "failed-connection"
message = "connection refused"

[[step]]
kind = "export"
fault = "bad-credentials"

[[step]]
kind = "admin"
action = "credentials-updated"

[[step]]
kind = "admin"
action = "enable"
partition = "people"

[[step]]
kind = "admin"
action = "resume"

[[step]]
kind = "admin"
action = "approve-obsoletion"
partition = "people"
"#;

#[test]
fn a_scenario_using_every_key_becomes_the_expected_script() {
    let scenario = parse_scenario("every-key.toml", EVERY_KEY).expect("valid");
    let people = PartitionName::from("people");
    let expected = Script {
        connector: ConnectorName::from("hr"),
        settings: Settings {
            retry_count: 4,
            max_errors: 10,
            max_warnings: 20,
            snapshot_limit: 30,
            stuck_after: 2,
            deletion_threshold: DeletionThreshold::Percent(20),
        },
        steps: vec![
            Step::Import {
                partition: people.clone(),
                kind: RunKind::DeltaImport,
                pages: vec![
                    ImportPage::Page(Page {
                        changes: vec![
                            ObjectChange {
                                anchor: Anchor::from("u1"),
                                kind: ChangeKind::Add,
                                attributes: attrs(&[
                                    ("mail", single("u1@example.org")),
                                    (
                                        "groups",
                                        AttributeValue::Multi(vec!["a".into(), "b".into()]),
                                    ),
                                ]),
                            },
                            ObjectChange {
                                anchor: Anchor::from("u2"),
                                kind: ChangeKind::Update,
                                attributes: attrs(&[("title", single("lead"))]),
                            },
                            ObjectChange {
                                anchor: Anchor::from("u3"),
                                kind: ChangeKind::Delete,
                                attributes: Attributes::new(),
                            },
                            ObjectChange {
                                anchor: Anchor::from("u4"),
                                kind: ChangeKind::Add,
                                attributes: Attributes::new(),
                            },
                        ],
                        errors: vec![
                            DiscoveryError {
                                anchor: Anchor::from("u5"),
                                kind: ObjectErrorKind::CustomContinueRun,
                                name: "invalid-characters-error".into(),
                                description: "bad name".into(),
                            },
                            DiscoveryError {
                                anchor: Anchor::from("u6"),
                                kind: ObjectErrorKind::CustomStopRun,
                                name: "custom-stop-run".into(),
                                description: String::new(),
                            },
                        ],
                        fatal_errors: vec![FatalImportError {
                            anchor: Some(Anchor::from("u7")),
                            kind: FatalImportErrorKind::ImportParseError,
                            description: "log corrupt".into(),
                        }],
                        watermark: Some(Watermark::from_text("A")),
                    }),
                    ImportPage::Page(Page {
                        fatal_errors: vec![FatalImportError {
                            anchor: None,
                            kind: FatalImportErrorKind::ImportReadError,
                            description: String::new(),
                        }],
                        ..Page::default()
                    }),
                    ImportPage::Fault(Fault {
                        kind: FaultKind::ConnectorException,
                        message: "NullReferenceException".into(),
                    }),
                    ImportPage::Fault(Fault {
                        kind: FaultKind::ServerDown,
                        message: "server-down".into(),
                    }),
                ],
            },
            Step::Import {
                partition: PartitionName::from("default"),
                kind: RunKind::FullImport,
                pages: vec![ImportPage::Page(Page {
                    watermark: Some(Watermark::from_text("F")),
                    ..Page::default()
                })],
            },
            Step::Export {
                partition: people.clone(),
                enqueue: vec![
                    ExportChange {
                        anchor: Anchor::from("u1"),
                        kind: ExportChangeKind::Update,
                        attributes: attrs(&[("title", single("lead"))]),
                        references: attrs(&[
                            ("manager", single("u9")),
                            (
                                "reports",
                                AttributeValue::Multi(vec!["u2".into(), "u3".into()]),
                            ),
                        ]),
                    },
                    ExportChange {
                        anchor: Anchor::from("u2"),
                        kind: ExportChangeKind::Add,
                        attributes: Attributes::new(),
                        references: Attributes::new(),
                    },
                    ExportChange {
                        anchor: Anchor::from("u3"),
                        kind: ExportChangeKind::Delete,
                        attributes: Attributes::new(),
                        references: Attributes::new(),
                    },
                    ExportChange {
                        anchor: Anchor::from("u4"),
                        kind: ExportChangeKind::References,
                        attributes: Attributes::new(),
                        references: attrs(&[("manager", single("u1"))]),
                    },
                    ExportChange {
                        anchor: Anchor::from("u5"),
                        kind: ExportChangeKind::Update,
                        attributes: Attributes::new(),
                        references: Attributes::new(),
                    },
                    ExportChange {
                        anchor: Anchor::from("u8"),
                        kind: ExportChangeKind::Add,
                        attributes: Attributes::new(),
                        references: Attributes::new(),
                    },
                ],
                results: BTreeMap::from([
                    (Anchor::from("u1"), ExportOutcome::RetryReferenceAttribute),
                    (
                        Anchor::from("u2"),
                        ExportOutcome::ProvisioningParent {
                            parent: Anchor::from("ou=sales"),
                        },
                    ),
                    (Anchor::from("u3"), ExportOutcome::Success),
                    (
                        Anchor::from("u4"),
                        ExportOutcome::CustomContinueRun {
                            name: "custom-continue-run".into(),
                            description: String::new(),
                        },
                    ),
                    (Anchor::from("u5"), ExportOutcome::ConvertUpdateToAdd),
                    (
                        Anchor::from("u8"),
                        ExportOutcome::CustomStopRun {
                            name: "x".into(),
                            description: "...".into(),
                        },
                    ),
                ]),
                fault: None,
            },
            Step::Export {
                partition: PartitionName::from("default"),
                enqueue: Vec::new(),
                results: BTreeMap::new(),
                fault: Some(Fault {
                    kind: FaultKind::FailedConnection,
                    message: "connection refused".into(),
                }),
            },
            Step::Export {
                partition: PartitionName::from("default"),
                enqueue: Vec::new(),
                results: BTreeMap::new(),
                fault: Some(Fault {
                    kind: FaultKind::BadCredentials,
                    message: "bad-credentials".into(),
                }),
            },
            Step::Admin {
                partition: None,
                action: AdminAction::CredentialsUpdated,
            },
            Step::Admin {
                partition: Some(people.clone()),
                action: AdminAction::Enable,
            },
            Step::Admin {
                partition: None,
                action: AdminAction::Resume,
            },
            Step::Admin {
                partition: Some(people),
                action: AdminAction::ApproveObsoletion,
            },
        ],
    };
    assert_eq!(scenario.script, expected);
    assert_eq!(scenario.source, "every-key.toml");
    assert_eq!(
        scenario.step_lines,
        vec![11, 35, 41, 57, 62, 66, 70, 75, 79]
    );
}

#[test]
fn defaults_and_every_fault_and_a_count_threshold() {
    let mut text = String::from("[connector]\nname = \"c\"\ndeletion_threshold = 0\n");
    for name in FaultKind::ALL.map(FaultKind::as_str) {
        text.push_str(&format!(
            "[[step]]\nkind = \"full-import\"\n[[step.page]]\nfault = \"{name}\"\n"
        ));
    }
    let scenario = parse_scenario("faults.toml", &text).expect("valid");
    assert_eq!(
        scenario.script.settings,
        Settings {
            deletion_threshold: DeletionThreshold::Count(0),
            ..Settings::default()
        }
    );
    let faults: Vec<FaultKind> = scenario
        .script
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Import { pages, .. } => match pages.first() {
                Some(ImportPage::Fault(fault)) => Some(fault.kind),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(faults, FaultKind::ALL.to_vec());

    let empty = parse_scenario("empty.toml", "[connector]\nname = \"c\"\n").expect("valid");
    assert!(empty.script.steps.is_empty());
    assert_eq!(empty.script.settings, Settings::default());
    let percent = parse_scenario(
        "p.toml",
        "[connector]\nname = \"c\"\ndeletion_threshold = \"100%\"\n",
    )
    .expect("valid");
    assert_eq!(
        percent.script.settings.deletion_threshold,
        DeletionThreshold::Percent(100)
    );
}

#[test]
fn an_unreadable_file_names_its_path() {
    let path = Path::new("/nonexistent/scenario-that-is-not-there.toml");
    let error = load_scenario(path).expect_err("refused");
    assert_eq!(error.file, "/nonexistent/scenario-that-is-not-there.toml");
    assert_eq!((error.line, error.key.as_deref()), (None, None));
    assert!(
        error.to_string().starts_with(
            "/nonexistent/scenario-that-is-not-there.toml: cannot open the scenario file: "
        ),
        "{error}"
    );
}

// ------------------------------------------------------------------------------------------
// The examples: play each through the core and check the `#>` lines of its comment.

/// The examples written for the seed cases; each must exist and carry `#>` expectations.
const SEED_EXAMPLES: &[&str] = &[
    "watermark-abc.toml",
    "errored-full-import.toml",
    "broken-delta-log.toml",
    "snapshot-limit.toml",
    "export-actions.toml",
    "custom-stop-run.toml",
];

/// The `state --json` document of a state: the view the CLI prints, so the library reads the
/// examples' `#>` lines exactly as `tests/cli.rs` reads them from the binary.
fn state_view(state: &State) -> Value {
    let catalog = crate::remedy::RemedyCatalog::builtin();
    serde_json::to_value(crate::views::StateView::new(state, &catalog)).expect("a view is JSON")
}

fn play_example(path: &Path) -> Vec<String> {
    let scenario = load_scenario(path).unwrap_or_else(|error| panic!("{error}"));
    let text = std::fs::read_to_string(path).expect("readable");
    let expectations = expect::parse(&text).unwrap_or_else(|error| panic!("{error}"));
    let script = &scenario.script;
    let mut player = Player::new(Actor::from_name("x"), Timestamp(0), 1);
    let mut runs = Vec::new();
    let mut after_run = BTreeMap::new();
    for (step, line) in script.steps.iter().zip(&scenario.step_lines) {
        let run = player
            .play(&script.connector, &script.settings, step)
            .unwrap_or_else(|error| {
                panic!("{}:{line}: the core refused: {error}", scenario.source)
            });
        if let Some(run) = run {
            runs.push(run);
            after_run.insert(run.0, state_view(player.state()));
        }
    }
    // Playing the whole script at once gives the same state as step by step.
    let mut whole = Player::new(Actor::from_name("x"), Timestamp(0), 1);
    assert_eq!(whole.play_script(script).expect("plays"), runs);
    assert_eq!(whole.state(), player.state());

    expect::check_all(&expectations, &state_view(player.state()), |run| {
        after_run
            .get(&run)
            .cloned()
            .ok_or_else(|| "the scenario has no such run".to_owned())
    })
    .into_iter()
    .map(|problem| format!("{}: {problem}", scenario.source))
    .collect()
}

fn files_in(directory: &Path, extension: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    paths.sort();
    paths
}

#[test]
fn examples_play_as_their_comments_say() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let paths = files_in(&directory, "toml");
    for name in SEED_EXAMPLES {
        let path = directory.join(name);
        assert!(paths.contains(&path), "examples/{name} is missing");
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.contains("\n#> run 1 "),
            "examples/{name} has no `#>` expectations"
        );
    }
    let mut wrong = Vec::new();
    for path in &paths {
        wrong.extend(play_example(path));
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// Each `NAME.toml` under `tests/fixtures/scenarios/malformed/` is refused with the message of
/// its `NAME.expected`, written as if the file were named `NAME.toml`: a new case is a new pair.
#[test]
fn every_malformed_fixture_is_refused_with_its_expected_message() {
    let directory =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/malformed");
    let cases = files_in(&directory, "toml");
    let mut wrong = Vec::new();
    for path in &cases {
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|error| panic!("{}: no .expected file: {error}", path.display()));
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("UTF-8");
        match load_scenario(path) {
            Ok(_) => wrong.push(format!("{name}: accepted")),
            Err(error) => {
                assert_eq!(error.file, path.display().to_string());
                let as_named = ScenarioError {
                    file: name.to_owned(),
                    ..error
                };
                if as_named.to_string() != expected.trim_end_matches('\n') {
                    wrong.push(format!(
                        "{name}:\n  expected {}\n  actual   {as_named}",
                        expected.trim_end()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert!(cases.len() >= 54, "the malformed cases are all there");
    assert_eq!(files_in(&directory, "expected").len(), cases.len());
}

/// The `#>` reader on a small document: object lines are about the run's partition until a
/// partition line names another; a difference names its line; a line the language does not know
/// is an error, not a silent pass.
#[test]
fn expectations_read_their_partition_and_name_what_differs() {
    let text = "# a comment\n\
                #> run 1 delta-import: status=success committed_watermark=A\n\
                #> objects live: u2 u1\n\
                #> partition hr: health=enabled\n\
                #> objects live: (none)\n";
    let expectations = expect::parse(text).expect("valid lines");
    assert_eq!(expectations.len(), 4);
    assert_eq!(expectations[1].checkpoint, expect::Checkpoint::AfterRun(1));
    assert_eq!(expectations[3].partition.as_deref(), Some("hr"));
    let state = serde_json::json!({
        "runs": [{ "id": 1, "kind": "delta-import", "partition": "people", "status": "success",
                   "committed_watermark": "A" }],
        "partitions": [
            { "name": "people", "health": "enabled", "pending_exports": [],
              "objects": [{ "anchor": "u1", "obsolete": false }, { "anchor": "u2", "obsolete": false }] },
            { "name": "hr", "health": "disabled", "pending_exports": [], "objects": [] },
        ],
        "alerts": [],
    });
    let wrong = expect::check_all(&expectations, &state, |_| Ok(state.clone()));
    assert_eq!(
        wrong,
        [
            "line 4: `#> partition hr: health=enabled`: partition hr health: expected enabled, \
          actual disabled"
        ]
    );
    for bad in [
        "#> run one delta-import: x=y",
        "#> runs 1: x=y",
        "#> alerts none",
    ] {
        assert!(expect::parse(bad).is_err(), "{bad}");
    }
}
