//! The state: [`StateView`] (`state --json`: `runs[]`, `partitions[]`, `alerts[]`) and its text,
//! the runs table, one paragraph per partition and the alert wall.

use super::{
    alert_wall, line, runs_table, watermark_json, AlertView, AttributesView, Block, RunView, Table,
    TextView,
};
use crate::core::*;
use crate::remedy::RemedyCatalog;
use crate::text::counted;
use serde::Serialize;

/// One staged object of a partition's connector space.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectView {
    /// Its anchor.
    pub anchor: String,
    /// Whether it is marked obsolete.
    pub obsolete: bool,
}

/// One change waiting to be exported, in queue order.
#[derive(Clone, Debug, Serialize)]
pub struct PendingExportView {
    /// The object.
    pub anchor: String,
    /// `add`, `update`, `delete` or `references`.
    pub change: &'static str,
    /// Non-reference attributes.
    pub attrs: AttributesView,
    /// Reference attributes.
    pub refs: AttributesView,
    /// The parent whose add it waits for (`provisioning-parent`).
    pub waits_for: Option<String>,
}

/// One object's open error record ([R7](crate::rules#r7)).
#[derive(Clone, Debug, Serialize)]
pub struct ObjectErrorView {
    /// The object.
    pub anchor: String,
    /// The error name of its latest occurrence.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Distinct runs it failed in.
    pub failing_runs: u64,
    /// The event of its first occurrence.
    pub first_seq: Seq,
    /// The event of its latest occurrence.
    pub last_seq: Seq,
}

/// One partition as `state --json` lists it in `partitions[]`.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionView {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub name: String,
    /// The watermark the next delta import starts from.
    pub committed_watermark: Option<String>,
    /// The run that committed it.
    pub committed_by_run: Option<u64>,
    /// Whether delta imports are refused until a full import completes ([R5](crate::rules#r5)).
    pub full_import_required: bool,
    /// The run that set the flag.
    pub full_import_required_by_run: Option<u64>,
    /// The administrator who set the flag (`require-full-import`), or `null` when a run did or
    /// it is not set.
    pub full_import_required_by_administrator: Option<AdministratorView>,
    /// The administrator's `set-watermark` that put the committed watermark where it is, or
    /// `null`.
    pub watermark_set_back: Option<WatermarkSetBackView>,
    /// `enabled`, `disabled` or `suspended`.
    pub health: &'static str,
    /// Objects not marked obsolete.
    pub live_objects: u64,
    /// The connector space.
    pub objects: Vec<ObjectView>,
    /// The export queue, in order.
    pub pending_exports: Vec<PendingExportView>,
    /// Open object error records.
    pub object_errors: Vec<ObjectErrorView>,
}

/// An administrator's action as views show it: who, why and the event (SPEC §8).
#[derive(Clone, Debug, Serialize)]
pub struct AdministratorView {
    /// Who.
    pub actor: String,
    /// Why (empty when no reason was given).
    pub reason: String,
    /// The event of the action.
    pub seq: Seq,
}

impl AdministratorView {
    /// The view of `mark`.
    pub fn new(mark: &AdministratorMark) -> Self {
        AdministratorView {
            actor: mark.actor.0.clone(),
            reason: mark.reason.clone(),
            seq: mark.at.seq,
        }
    }

    /// "alice at event 25 (reason)".
    pub fn sentence(&self) -> String {
        format!(
            "{} at event {}{}",
            self.actor,
            self.seq,
            crate::text::parenthesized(&self.reason)
        )
    }
}

/// A committed watermark set back by `set-watermark`.
#[derive(Clone, Debug, Serialize)]
pub struct WatermarkSetBackView {
    /// The run whose committed watermark it is.
    pub run: u64,
    /// The administrator's action.
    pub by: AdministratorView,
}

impl PartitionView {
    /// The view of partition `name` of `connector`, whose health is `health`.
    pub fn new(
        connector: &ConnectorName,
        name: &PartitionName,
        part: &PartitionState,
        health: Health,
    ) -> Self {
        PartitionView {
            connector: connector.to_string(),
            name: name.to_string(),
            committed_watermark: watermark_json(part.committed_watermark()),
            committed_by_run: part.committed_by().and_then(|o| o.run).map(|run| run.0),
            full_import_required: part.full_import_required().is_some(),
            full_import_required_by_run: part
                .full_import_required()
                .and_then(|o| o.run)
                .map(|run| run.0),
            full_import_required_by_administrator: part
                .full_import_required_by_administrator()
                .map(AdministratorView::new),
            watermark_set_back: part.watermark_set_back().map(|set| WatermarkSetBackView {
                run: set.run.0,
                by: AdministratorView::new(&set.by),
            }),
            health: health.as_str(),
            live_objects: part.live_objects(),
            objects: part
                .objects()
                .iter()
                .map(|(anchor, object)| ObjectView {
                    anchor: anchor.to_string(),
                    obsolete: object.obsolete,
                })
                .collect(),
            pending_exports: part
                .exports()
                .in_order()
                .map(|entry| PendingExportView {
                    anchor: entry.change.anchor.to_string(),
                    change: entry.change.kind.as_str(),
                    attrs: AttributesView(entry.change.attributes.clone()),
                    refs: AttributesView(entry.change.references.clone()),
                    waits_for: entry.waits_for.as_ref().map(Anchor::to_string),
                })
                .collect(),
            object_errors: part
                .object_errors()
                .iter()
                .map(|(anchor, error)| ObjectErrorView {
                    anchor: anchor.to_string(),
                    name: error.name.clone(),
                    description: error.description.clone(),
                    failing_runs: error.failing_runs,
                    first_seq: error.first.seq,
                    last_seq: error.last.seq,
                })
                .collect(),
        }
    }
}

impl TextView for PartitionView {
    fn text(&self, out: &mut Vec<Block>) {
        line(
            out,
            format!(
                "{}/{}: watermark {}{}, health {}, {} of {}, {}, full import required: {}",
                self.connector,
                self.name,
                self.committed_watermark.as_deref().unwrap_or("-"),
                self.committed_by_run
                    .map_or_else(String::new, |run| format!(" (committed by run {run})")),
                self.health,
                counted(
                    usize::try_from(self.live_objects).unwrap_or(usize::MAX),
                    "live object",
                    "live objects"
                ),
                self.objects.len(),
                counted(
                    self.pending_exports.len(),
                    "pending export",
                    "pending exports"
                ),
                if self.full_import_required {
                    "yes"
                } else {
                    "no"
                }
            ),
        );
        if let (true, None, Some(run)) = (
            self.full_import_required,
            &self.full_import_required_by_administrator,
            self.full_import_required_by_run,
        ) {
            line(out, format!("  full import required since run {run}"));
        }
        if let Some(by) = &self.full_import_required_by_administrator {
            line(
                out,
                format!("  full import required by administrator {}", by.sentence()),
            );
        }
        if let Some(set) = &self.watermark_set_back {
            line(
                out,
                format!(
                    "  watermark set back to run {}'s commit by {}",
                    set.run,
                    set.by.sentence()
                ),
            );
        }
        if self.health != Health::Enabled.as_str() {
            line(
                out,
                format!(
                    "  health: {}: runs on it do not start (`syncfold explain health --partition {}` says why)",
                    self.health, self.name
                ),
            );
        }
        for entry in &self.pending_exports {
            line(
                out,
                format!("  pending export: {} {}", entry.change, entry.anchor),
            );
        }
        for error in &self.object_errors {
            line(
                out,
                format!(
                    "  open error on {}: {}{}, failing in {} since event {}",
                    error.anchor,
                    error.name,
                    crate::text::parenthesized(&error.description),
                    counted(
                        usize::try_from(error.failing_runs).unwrap_or(usize::MAX),
                        "run",
                        "runs"
                    ),
                    error.first_seq
                ),
            );
        }
    }
}

/// The whole state as `state --json` prints it: `runs[]`, `partitions[]`, `alerts[]` (SPEC §7).
#[derive(Clone, Debug, Serialize)]
pub struct StateView {
    /// The last event folded.
    pub last_seq: Seq,
    /// Every run, in id order.
    pub runs: Vec<RunView>,
    /// Every partition, by connector and name.
    pub partitions: Vec<PartitionView>,
    /// Open alerts, with their remedies.
    pub alerts: Vec<AlertView>,
}

impl StateView {
    /// The view of `state`, remedies from `catalog`.
    pub fn new(state: &State, catalog: &RemedyCatalog) -> Self {
        let mut partitions = Vec::new();
        for (connector, connector_state) in state.connectors() {
            for (name, part) in connector_state.partitions() {
                partitions.push(PartitionView::new(
                    connector,
                    name,
                    part,
                    state.health(connector, name),
                ));
            }
        }
        StateView {
            last_seq: state.last_seq(),
            runs: state.runs().iter().map(RunView::new).collect(),
            partitions,
            alerts: state
                .alerts()
                .iter()
                .map(|alert| AlertView::new(alert, catalog))
                .collect(),
        }
    }

    /// The runs table.
    pub fn runs_text(&self, out: &mut Vec<Block>) {
        if self.runs.is_empty() {
            line(out, "No runs.");
            return;
        }
        out.push(Block::Table(runs_table(&self.runs)));
    }

    /// One paragraph per partition.
    pub fn partitions_text(&self, out: &mut Vec<Block>) {
        for partition in &self.partitions {
            partition.text(out);
        }
    }

    /// The alert wall.
    pub fn alerts_text(&self, out: &mut Vec<Block>) {
        alert_wall(&self.alerts, out);
    }
}

impl TextView for StateView {
    fn text(&self, out: &mut Vec<Block>) {
        self.runs_text(out);
        line(out, "");
        self.partitions_text(out);
        line(out, "");
        self.alerts_text(out);
    }
}

/// One partition and what concerns it, as `state --partition P --json` prints it: the keys of
/// its `partitions[]` item in `state --json` (`connector`, `name`, `committed_watermark`, `objects`,
/// `pending_exports`, …), plus `runs` (its runs, in id order) and `alerts` (the open alerts on it
/// or on its connector as a whole), each as `state --json` writes them.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionStateView {
    /// The partition, as in `partitions[]`.
    #[serde(flatten)]
    pub partition: PartitionView,
    /// Its runs, in id order.
    pub runs: Vec<RunView>,
    /// Open alerts on it, or on its connector as a whole.
    pub alerts: Vec<AlertView>,
}

impl PartitionStateView {
    /// The view of partition `name` of `connector` in `state`, or `None` when the state has no
    /// such partition.
    pub fn new(
        state: &State,
        connector: &ConnectorName,
        name: &PartitionName,
        catalog: &RemedyCatalog,
    ) -> Option<Self> {
        let (_, connector_state) = state.connectors().find(|(c, _)| *c == connector)?;
        let (_, part) = connector_state.partitions().find(|(p, _)| *p == name)?;
        Some(PartitionStateView {
            partition: PartitionView::new(connector, name, part, state.health(connector, name)),
            runs: state
                .runs()
                .iter()
                .filter(|run| run.connector == *connector && run.partition == *name)
                .map(RunView::new)
                .collect(),
            alerts: state
                .alerts()
                .iter()
                .filter(|alert| {
                    alert.connector == *connector
                        && alert.partition.as_ref().is_none_or(|p| p == name)
                })
                .map(|alert| AlertView::new(alert, catalog))
                .collect(),
        })
    }
}

impl TextView for PartitionStateView {
    fn text(&self, out: &mut Vec<Block>) {
        self.partition.text(out);
        line(out, "");
        if self.partition.objects.is_empty() {
            line(out, "No objects staged.");
        } else {
            let mut objects = Table::new(&["ANCHOR", "OBSOLETE"]);
            for object in &self.partition.objects {
                objects.row(&[&object.anchor, if object.obsolete { "yes" } else { "no" }]);
            }
            out.push(Block::Table(objects));
        }
        line(out, "");
        if self.runs.is_empty() {
            line(out, "No runs on this partition.");
        } else {
            out.push(Block::Table(runs_table(&self.runs)));
        }
        line(out, "");
        alert_wall(&self.alerts, out);
    }
}
