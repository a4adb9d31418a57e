//! proptest strategies for scripted histories: many runs on several partitions mixing pages,
//! object errors, fatal import errors, faults, limits, exports and administrator actions.
//!
//! Anchors come from a small pool so that runs touch the same objects again (re-reads, deletes,
//! obsoletion, error records that open and close); limits are drawn small so that they bite.
//! Watermarks are unique per page (`s<step>p<page>`), so a committed watermark names exactly the
//! page that proposed it.

use crate::core::*;
use crate::script::{ImportPage, Script, Step};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The shape of generated histories.
#[derive(Clone, Debug)]
pub struct HistoryShape {
    /// Partitions to spread runs over (named `p0`, `p1`, …).
    pub partitions: usize,
    /// Object anchors to draw from (named `a0`, `a1`, …).
    pub anchors: usize,
    /// Most steps in one history.
    pub steps_max: usize,
    /// Most pages in one import.
    pub pages_max: usize,
    /// Most changes in one page.
    pub changes_max: usize,
    /// One page in this many is a fault instead (health histories want many).
    pub fault_one_in: u32,
}

impl Default for HistoryShape {
    fn default() -> Self {
        HistoryShape {
            partitions: 3,
            anchors: 10,
            steps_max: 24,
            pages_max: 5,
            changes_max: 5,
            fault_one_in: 13,
        }
    }
}

impl HistoryShape {
    /// Histories for the health rules ([R6](crate::rules#r6), [R8](crate::rules#r8),
    /// [R9](crate::rules#r9)): few partitions and anchors, many faults and
    /// errors, so escalation, disabling and stuck watermarks happen often.
    pub fn health() -> Self {
        HistoryShape {
            partitions: 2,
            anchors: 4,
            steps_max: 30,
            pages_max: 3,
            changes_max: 3,
            fault_one_in: 3,
        }
    }
}

/// A partition name `p0`…
pub fn partition(shape: &HistoryShape) -> impl Strategy<Value = PartitionName> {
    (0..shape.partitions.max(1)).prop_map(|index| PartitionName(format!("p{index}")))
}

/// An anchor from the pool `a0`…
pub fn anchor(shape: &HistoryShape) -> impl Strategy<Value = Anchor> {
    (0..shape.anchors.max(1)).prop_map(|index| Anchor(format!("a{index}")))
}

fn attributes() -> impl Strategy<Value = Attributes> {
    btree_map(
        prop_oneof![Just("mail".to_owned()), Just("title".to_owned())],
        prop_oneof![
            "[a-z]{1,6}".prop_map(AttributeValue::Single),
            vec("[a-z]{1,3}", 0..3).prop_map(AttributeValue::Multi),
        ],
        0..2,
    )
    .prop_map(Attributes)
}

/// Settings whose limits are small enough to be reached by generated histories.
pub fn settings() -> impl Strategy<Value = Settings> {
    (
        prop_oneof![2 => 1u32..4, 1 => Just(3u32)],
        prop_oneof![2 => 1u32..4, 1 => Just(3u32)],
        prop_oneof![3 => 0u64..6, 1 => Just(5000u64)],
        prop_oneof![3 => 0u64..4, 1 => Just(100_000u64)],
        prop_oneof![3 => 2u64..12, 1 => Just(10_000u64)],
        prop_oneof![
            2 => (0u64..5).prop_map(DeletionThreshold::Count),
            1 => (0u8..=100).prop_map(DeletionThreshold::Percent),
            1 => Just(DeletionThreshold::Count(500)),
        ],
    )
        .prop_map(
            |(
                retry_count,
                stuck_after,
                max_errors,
                max_warnings,
                snapshot_limit,
                deletion_threshold,
            )| Settings {
                retry_count,
                stuck_after,
                max_errors,
                max_warnings,
                snapshot_limit,
                deletion_threshold,
            },
        )
}

fn change(shape: &HistoryShape) -> impl Strategy<Value = ObjectChange> {
    (
        anchor(shape),
        prop_oneof![
            4 => Just(ChangeKind::Add),
            3 => Just(ChangeKind::Update),
            2 => Just(ChangeKind::Delete),
        ],
        attributes(),
    )
        .prop_map(|(anchor, kind, attributes)| ObjectChange {
            anchor,
            kind,
            attributes: if kind == ChangeKind::Delete {
                Attributes::new()
            } else {
                attributes
            },
        })
}

fn discovery_error(shape: &HistoryShape) -> impl Strategy<Value = DiscoveryError> {
    (
        anchor(shape),
        prop_oneof![
            4 => Just(ObjectErrorKind::CustomContinueRun),
            1 => Just(ObjectErrorKind::CustomStopRun),
        ],
        prop_oneof![
            Just("invalid-characters-error"),
            Just("missing-attribute-error"),
        ],
    )
        .prop_map(|(anchor, kind, name)| DiscoveryError {
            anchor,
            kind,
            name: name.to_owned(),
            description: format!("generated {name}"),
        })
}

fn fatal_import_error(shape: &HistoryShape) -> impl Strategy<Value = FatalImportError> {
    (
        option::of(anchor(shape)),
        prop_oneof![
            Just(FatalImportErrorKind::ImportParseError),
            Just(FatalImportErrorKind::ImportReadError),
        ],
    )
        .prop_map(|(anchor, kind)| FatalImportError {
            anchor,
            kind,
            description: format!("generated {}", kind.as_str()),
        })
}

/// Any fault of [R8](crate::rules#r8), with a message.
pub fn fault() -> impl Strategy<Value = Fault> {
    proptest::sample::select(FaultKind::ALL.to_vec()).prop_map(|kind| Fault {
        kind,
        message: format!("generated {}", kind.as_str()),
    })
}

fn page(shape: &HistoryShape) -> impl Strategy<Value = ImportPage> {
    let page = (
        vec(change(shape), 0..=shape.changes_max),
        prop_oneof![3 => Just(Vec::new()), 2 => vec(discovery_error(shape), 1..3)],
        prop_oneof![15 => Just(Vec::new()), 1 => vec(fatal_import_error(shape), 1..3)],
        prop::bool::weighted(0.9),
    )
        .prop_map(|(changes, errors, fatal_errors, has_watermark)| {
            ImportPage::Page(Page {
                changes,
                errors,
                fatal_errors,
                // A placeholder: `script` numbers every watermark uniquely.
                watermark: has_watermark.then(|| Watermark::from_text("?")),
            })
        });
    let faults = shape.fault_one_in.max(2) - 1;
    prop_oneof![faults => page, 1 => fault().prop_map(ImportPage::Fault)]
}

fn export_change(shape: &HistoryShape) -> impl Strategy<Value = ExportChange> {
    (
        anchor(shape),
        prop_oneof![
            3 => Just(ExportChangeKind::Add),
            3 => Just(ExportChangeKind::Update),
            1 => Just(ExportChangeKind::Delete),
            1 => Just(ExportChangeKind::References),
        ],
        attributes(),
        prop_oneof![
            2 => Just(Attributes::new()),
            1 => anchor(shape).prop_map(|target| {
                Attributes(BTreeMap::from([(
                    "manager".to_owned(),
                    AttributeValue::Single(target.0),
                )]))
            }),
        ],
    )
        .prop_map(|(anchor, kind, attributes, references)| ExportChange {
            anchor,
            kind,
            attributes,
            references,
        })
}

fn export_outcome(shape: &HistoryShape) -> impl Strategy<Value = ExportOutcome> {
    let named = |stop: bool| {
        move |name: &'static str| {
            let name = name.to_owned();
            let description = format!("generated {name}");
            if stop {
                ExportOutcome::CustomStopRun { name, description }
            } else {
                ExportOutcome::CustomContinueRun { name, description }
            }
        }
    };
    prop_oneof![
        3 => Just(ExportOutcome::Success),
        2 => Just("permission-denied").prop_map(named(false)),
        1 => Just("target-unavailable").prop_map(named(true)),
        1 => Just(ExportOutcome::ConvertUpdateToAdd),
        1 => prop_oneof![
            Just(Anchor::from("ou=sales")),
            Just(Anchor::from("ou=staff")),
            anchor(shape),
        ]
        .prop_map(|parent| ExportOutcome::ProvisioningParent { parent }),
        1 => Just(ExportOutcome::RetryReferenceAttribute),
    ]
}

/// One step: a delta or full import, an export, or an administrator's action.
pub fn step(shape: &HistoryShape) -> impl Strategy<Value = Step> {
    let import = (
        partition(shape),
        prop_oneof![3 => Just(RunKind::DeltaImport), 2 => Just(RunKind::FullImport)],
        vec(page(shape), 0..=shape.pages_max),
    )
        .prop_map(|(partition, kind, pages)| Step::Import {
            partition,
            kind,
            pages,
        });
    let results_anchor = prop_oneof![
        4 => anchor(shape),
        1 => prop_oneof![Just(Anchor::from("ou=sales")), Just(Anchor::from("ou=staff"))],
    ];
    let export = (
        partition(shape),
        vec(export_change(shape), 0..4),
        btree_map(results_anchor, export_outcome(shape), 0..4),
        prop_oneof![10 => Just(None), 1 => fault().prop_map(Some)],
    )
        .prop_map(|(partition, enqueue, mut results, fault)| {
            // A connector never names an object as its own parent.
            results.retain(|anchor, outcome| {
                !matches!(outcome, ExportOutcome::ProvisioningParent { parent } if parent == anchor)
            });
            Step::Export {
                partition,
                enqueue,
                results,
                fault,
            }
        });
    let admin = (
        option::of(partition(shape)),
        proptest::sample::select(vec![
            AdminAction::CredentialsUpdated,
            AdminAction::Enable,
            AdminAction::Resume,
            AdminAction::ApproveObsoletion,
        ]),
    )
        .prop_map(|(partition, action)| Step::Admin { partition, action });
    prop_oneof![8 => import, 3 => export, 1 => admin]
}

/// One step of a generated history: a scripted [`Step`], or an administrator's action of SPEC §8
/// that scenario files and [`Step`] do not carry (`set-watermark`, `require-full-import`), which
/// a pump carries out as [`Command::Administer`] and which the core may refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryStep {
    /// A run or one of SPEC §7's administrator actions.
    Step(Step),
    /// An administrator's action with the run it names (`set-watermark`).
    Administer {
        /// The partition, or `None` (refused: both actions need one).
        partition: Option<PartitionName>,
        /// `set-watermark` or `require-full-import`.
        action: OperatorAction,
        /// The run `set-watermark` names, or `None` (refused).
        run: Option<RunId>,
    },
}

impl HistoryStep {
    /// The command an administrator's action is (`None` for a scripted step).
    pub fn command(&self, connector: &ConnectorName) -> Option<Command> {
        match self {
            HistoryStep::Step(_) => None,
            HistoryStep::Administer {
                partition,
                action,
                run,
            } => Some(Command::Administer {
                connector: connector.clone(),
                partition: partition.clone(),
                action: *action,
                run: *run,
                reason: "generated".to_owned(),
            }),
        }
    }
}

/// `set-watermark` and `require-full-import`, accepted and refused. `runs` are runs so far with
/// their partitions (a caller that knows which runs committed a watermark passes those):
/// `set-watermark` mostly names one of them on its own partition, else any partition and a run
/// id up to `last_run + 1` (a run elsewhere, one that committed nothing, or none yet: refused);
/// one action in twenty names no partition, and one set-watermark in twenty no run (refused).
pub fn operator_action(
    shape: &HistoryShape,
    runs: &[(RunId, PartitionName)],
    last_run: u64,
) -> impl Strategy<Value = HistoryStep> {
    let last = last_run;
    let any = (partition(shape), (1..=last + 1).prop_map(RunId)).boxed();
    let known = if runs.is_empty() {
        any.clone()
    } else {
        proptest::sample::select(runs.to_vec())
            .prop_map(|(run, partition)| (partition, run))
            .boxed()
    };
    let set = (
        prop_oneof![3 => known, 1 => any],
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |((partition, run), no_partition, no_run)| HistoryStep::Administer {
                partition: (!no_partition).then_some(partition),
                action: OperatorAction::SetWatermark,
                run: (!no_run).then_some(run),
            },
        );
    let require =
        (partition(shape), prop::bool::weighted(0.05)).prop_map(|(partition, no_partition)| {
            HistoryStep::Administer {
                partition: (!no_partition).then_some(partition),
                action: OperatorAction::RequireFullImport,
                run: None,
            }
        });
    prop_oneof![3 => set, 1 => require]
}

/// A step of a history with `last_run` runs so far: mostly a [`step`], and about one in ten an
/// [`operator_action`] (`runs` as it takes them).
pub fn history_step(
    shape: &HistoryShape,
    runs: &[(RunId, PartitionName)],
    last_run: u64,
) -> impl Strategy<Value = HistoryStep> {
    prop_oneof![
        9 => step(shape).prop_map(HistoryStep::Step),
        1 => operator_action(shape, runs, last_run),
    ]
}

/// A whole history for connector `c`, with settings drawn by [`settings`] and unique watermarks.
pub fn script(shape: HistoryShape) -> impl Strategy<Value = Script> {
    (settings(), vec(step(&shape), 1..=shape.steps_max.max(1))).prop_map(|(settings, steps)| {
        Script {
            connector: ConnectorName::from("c"),
            settings,
            steps: number_watermarks(steps),
        }
    })
}

/// Gives every proposed watermark a unique name `s<step>p<page>`.
pub fn number_watermarks(mut steps: Vec<Step>) -> Vec<Step> {
    for (step_index, step) in steps.iter_mut().enumerate() {
        if let Step::Import { pages, .. } = step {
            for (page_index, page) in pages.iter_mut().enumerate() {
                if let ImportPage::Page(page) = page {
                    if page.watermark.is_some() {
                        page.watermark = Some(Watermark::from_text(&format!(
                            "s{step_index}p{}",
                            page_index + 1
                        )));
                    }
                }
            }
        }
    }
    steps
}
