//! What changed between two points of a log (`diff`): runs that ended in between, and per
//! partition the watermark, the flags, health, objects and the export queue; alerts opened and
//! closed. Built from the two folded states alone.

use super::{line, watermark_json, AlertView, Block, RunView, TextView};
use crate::core::*;
use crate::remedy::RemedyCatalog;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A value before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BeforeAfter<T> {
    /// At the earlier event.
    pub before: T,
    /// At the later event.
    pub after: T,
}

impl<T: PartialEq> BeforeAfter<T> {
    fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// How a partition's connector space changed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ObjectChanges {
    /// Objects that appeared.
    pub added: Vec<String>,
    /// Objects marked obsolete.
    pub obsoleted: Vec<String>,
    /// Obsolete objects staged again.
    pub revived: Vec<String>,
    /// Objects whose attributes changed.
    pub changed: Vec<String>,
}

/// How a partition's export queue changed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExportChanges {
    /// `anchor=change` for each entry queued or whose change kind changed.
    pub queued_or_changed: Vec<String>,
    /// Anchors no longer pending.
    pub done: Vec<String>,
}

/// How one partition changed.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionDiff {
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// The committed watermark.
    pub committed_watermark: BeforeAfter<Option<String>>,
    /// The full-import flag ([R5](crate::rules#r5)).
    pub full_import_required: BeforeAfter<bool>,
    /// `enabled`, `disabled` or `suspended`.
    pub health: BeforeAfter<&'static str>,
    /// The connector space.
    pub objects: ObjectChanges,
    /// The export queue.
    pub pending_exports: ExportChanges,
}

/// Alerts (other than `info` copies) that opened or closed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AlertChanges {
    /// Open at the later event, not at the earlier one.
    pub opened: Vec<AlertView>,
    /// Open at the earlier event, not at the later one.
    pub closed: Vec<AlertView>,
}

/// What changed between event `from` and event `to` (`diff --json`).
#[derive(Clone, Debug, Serialize)]
pub struct DiffView {
    /// The earlier event.
    pub from: Seq,
    /// The later event.
    pub to: Seq,
    /// Runs that ended after `from`, up to and including `to`.
    pub runs_ended: Vec<RunView>,
    /// Every partition known at either point.
    pub partitions: Vec<PartitionDiff>,
    /// Alerts opened and closed.
    pub alerts: AlertChanges,
}

impl PartitionDiff {
    fn between(
        before: &State,
        after: &State,
        connector: &ConnectorName,
        name: &PartitionName,
    ) -> Self {
        let empty = PartitionState::default();
        let old = before.partition(connector, name).unwrap_or(&empty);
        let new = after.partition(connector, name).unwrap_or(&empty);
        let mut objects = ObjectChanges::default();
        for (anchor, object) in new.objects() {
            let list = match old.objects().get(anchor) {
                None => &mut objects.added,
                Some(previous) if !previous.obsolete && object.obsolete => &mut objects.obsoleted,
                Some(previous) if previous.obsolete && !object.obsolete => &mut objects.revived,
                Some(previous) if previous.attributes != object.attributes => &mut objects.changed,
                Some(_) => continue,
            };
            list.push(anchor.to_string());
        }
        let pending = |part: &PartitionState| -> BTreeMap<String, &'static str> {
            part.exports()
                .in_order()
                .map(|e| (e.change.anchor.to_string(), e.change.kind.as_str()))
                .collect()
        };
        let (old_pending, new_pending) = (pending(old), pending(new));
        PartitionDiff {
            connector: connector.to_string(),
            partition: name.to_string(),
            committed_watermark: BeforeAfter {
                before: watermark_json(old.committed_watermark()),
                after: watermark_json(new.committed_watermark()),
            },
            full_import_required: BeforeAfter {
                before: old.full_import_required().is_some(),
                after: new.full_import_required().is_some(),
            },
            health: BeforeAfter {
                before: before.health(connector, name).as_str(),
                after: after.health(connector, name).as_str(),
            },
            objects,
            pending_exports: ExportChanges {
                queued_or_changed: new_pending
                    .iter()
                    .filter(|(anchor, kind)| old_pending.get(*anchor) != Some(kind))
                    .map(|(anchor, kind)| format!("{anchor}={kind}"))
                    .collect(),
                done: old_pending
                    .keys()
                    .filter(|anchor| !new_pending.contains_key(*anchor))
                    .cloned()
                    .collect(),
            },
        }
    }
}

impl DiffView {
    /// What changed from `before` (the state at event `from`) to `after` (at event `to`).
    pub fn between(
        before: &State,
        after: &State,
        from: Seq,
        to: Seq,
        catalog: &RemedyCatalog,
    ) -> Self {
        let mut names: BTreeSet<(ConnectorName, PartitionName)> = BTreeSet::new();
        for state in [before, after] {
            for (connector, connector_state) in state.connectors() {
                for (name, _) in connector_state.partitions() {
                    names.insert((connector.clone(), name.clone()));
                }
            }
        }
        let partitions = names
            .iter()
            .map(|(connector, name)| PartitionDiff::between(before, after, connector, name))
            .collect();
        // An alert is the same alert at both points when all of this is the same.
        let key = |alert: &Alert| {
            (
                alert.connector.clone(),
                alert.scope,
                alert.code.clone(),
                alert.partition.clone(),
                alert.anchor.clone(),
                alert.recipient,
                alert.severity,
            )
        };
        let old_alerts: BTreeMap<_, Alert> =
            before.alerts().into_iter().map(|a| (key(&a), a)).collect();
        let new_alerts: BTreeMap<_, Alert> =
            after.alerts().into_iter().map(|a| (key(&a), a)).collect();
        let only_in = |these: &BTreeMap<_, Alert>, those: &BTreeMap<_, Alert>| {
            these
                .iter()
                .filter(|(k, a)| !those.contains_key(*k) && a.severity != Severity::Info)
                .map(|(_, a)| AlertView::new(a, catalog))
                .collect()
        };
        DiffView {
            from,
            to,
            runs_ended: after
                .runs()
                .iter()
                .filter(|run| {
                    run.ended
                        .as_ref()
                        .is_some_and(|end| end.seq > from && end.seq <= to)
                })
                .map(RunView::new)
                .collect(),
            partitions,
            alerts: AlertChanges {
                opened: only_in(&new_alerts, &old_alerts),
                closed: only_in(&old_alerts, &new_alerts),
            },
        }
    }
}

/// At most eight names, then how many more.
fn abbreviate(list: &[String]) -> String {
    if list.len() <= 8 {
        list.join(", ")
    } else {
        format!("{}, and {} more", list[..8].join(", "), list.len() - 8)
    }
}

impl TextView for PartitionDiff {
    fn text(&self, out: &mut Vec<Block>) {
        let name = format!("{}/{}", self.connector, self.partition);
        let mut changes = Vec::new();
        let w = &self.committed_watermark;
        if w.changed() {
            changes.push(format!(
                "watermark {} -> {}",
                w.before.as_deref().unwrap_or("none"),
                w.after.as_deref().unwrap_or("none")
            ));
        }
        if self.health.changed() {
            changes.push(format!(
                "health \"{}\" -> \"{}\"",
                self.health.before, self.health.after
            ));
        }
        if self.full_import_required.changed() {
            changes.push(format!(
                "full import required {} -> {}",
                self.full_import_required.before, self.full_import_required.after
            ));
        }
        let objects = &self.objects;
        for (kind, list) in [
            ("added", &objects.added),
            ("obsoleted", &objects.obsoleted),
            ("revived", &objects.revived),
            ("changed", &objects.changed),
        ] {
            if !list.is_empty() {
                changes.push(format!(
                    "{} object(s) {kind}: {}",
                    list.len(),
                    abbreviate(list)
                ));
            }
        }
        for (label, list) in [
            (
                "exports queued or changed",
                &self.pending_exports.queued_or_changed,
            ),
            ("exports done", &self.pending_exports.done),
        ] {
            if !list.is_empty() {
                changes.push(format!("{label}: {}", abbreviate(list)));
            }
        }
        if changes.is_empty() {
            changes.push("no change".to_owned());
        }
        for change in changes {
            line(out, format!("  {name}: {change}"));
        }
    }
}

impl TextView for DiffView {
    fn text(&self, out: &mut Vec<Block>) {
        line(
            out,
            format!("From event {} to event {}:", self.from, self.to),
        );
        for run in &self.runs_ended {
            line(
                out,
                format!(
                    "  run {} {} {} ended {} (committed {})",
                    run.id,
                    run.partition,
                    run.kind,
                    run.status.unwrap_or("-"),
                    run.committed_watermark.as_deref().unwrap_or("none")
                ),
            );
        }
        for partition in &self.partitions {
            partition.text(out);
        }
        for (label, alerts) in [
            ("opened", &self.alerts.opened),
            ("closed", &self.alerts.closed),
        ] {
            for alert in alerts {
                line(
                    out,
                    format!(
                        "  alert {label}: {} {} {}{}",
                        alert.severity,
                        alert.code,
                        alert.partition.as_deref().unwrap_or(""),
                        alert
                            .anchor
                            .as_deref()
                            .map_or(String::new(), |a| format!(" {a}"))
                    ),
                );
            }
        }
    }
}
