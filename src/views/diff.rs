//! What changed between two points of a log (`diff`): runs that ended in between, and per
//! partition the watermark, the flags, health, objects and the export queue; alerts opened and
//! closed, and alerts that escalated (warning to error) or de-escalated, each as one change. Built
//! from the two folded states alone.

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

/// Alerts (other than `info` copies) that opened, closed, or changed severity.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AlertChanges {
    /// Open at the later event, not at the earlier one.
    pub opened: Vec<AlertView>,
    /// Open at the earlier event, not at the later one.
    pub closed: Vec<AlertView>,
    /// Open at both events, warning at the earlier and error at the later one (same code,
    /// scope, connector, partition, object and recipient): one alert that escalated, not one
    /// closed and one opened.
    pub escalated: Vec<SeverityChange>,
    /// Open at both events, error at the earlier and warning at the later one (a `resume` turns
    /// a suspension's error back into a warning).
    pub de_escalated: Vec<SeverityChange>,
}

/// One open alert whose severity changed: the alert as it is at the later event (its
/// `severity` is `severity_after`), with the severity it had at the earlier one.
#[derive(Clone, Debug, Serialize)]
pub struct SeverityChange {
    /// The severity at the earlier event.
    pub severity_before: &'static str,
    /// The severity at the later event.
    pub severity_after: &'static str,
    /// The alert at the later event.
    #[serde(flatten)]
    pub alert: AlertView,
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
        // An alert is the same alert at both points when all of this is the same; its severity
        // may differ (it escalated or de-escalated). `info` copies are left out.
        let key = |alert: &Alert| {
            (
                alert.connector.clone(),
                alert.scope,
                alert.code.clone(),
                alert.partition.clone(),
                alert.anchor.clone(),
                alert.recipient,
            )
        };
        let acting = |state: &State| -> BTreeMap<_, Alert> {
            state
                .alerts()
                .into_iter()
                .filter(|a| a.severity != Severity::Info)
                .map(|a| (key(&a), a))
                .collect()
        };
        let (old_alerts, new_alerts) = (acting(before), acting(after));
        let only_in = |these: &BTreeMap<_, Alert>, those: &BTreeMap<_, Alert>| {
            these
                .iter()
                .filter(|(k, _)| !those.contains_key(*k))
                .map(|(_, a)| AlertView::new(a, catalog))
                .collect()
        };
        let mut escalated = Vec::new();
        let mut de_escalated = Vec::new();
        for (k, new) in &new_alerts {
            let Some(old) = old_alerts.get(k) else {
                continue;
            };
            if old.severity == new.severity {
                continue;
            }
            let change = SeverityChange {
                severity_before: old.severity.as_str(),
                severity_after: new.severity.as_str(),
                alert: AlertView::new(new, catalog),
            };
            if new.severity > old.severity {
                escalated.push(change);
            } else {
                de_escalated.push(change);
            }
        }
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
                escalated,
                de_escalated,
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
                    "{} {kind}: {}",
                    crate::text::counted(list.len(), "object", "objects"),
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
                    "  run {} {}/{} {} ended {} (committed {}){}",
                    run.id,
                    run.connector,
                    run.partition,
                    run.kind,
                    run.status.unwrap_or("-"),
                    run.committed_watermark.as_deref().unwrap_or("none"),
                    match run.note() {
                        note if note.is_empty() => String::new(),
                        note => format!(": {note}"),
                    }
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
                        "  alert {label}: {} {} on {}",
                        alert.severity,
                        alert.code,
                        alert.subject()
                    ),
                );
                if label == "opened" {
                    if let Some(action) = &alert.remedy_action {
                        line(out, format!("    remedy: {action}"));
                    }
                }
            }
        }
        for (label, changes) in [
            ("escalated", &self.alerts.escalated),
            ("de-escalated", &self.alerts.de_escalated),
        ] {
            for change in changes {
                line(
                    out,
                    format!(
                        "  alert {label}: {} → {} {} on {}",
                        change.severity_before,
                        change.severity_after,
                        change.alert.code,
                        change.alert.subject()
                    ),
                );
                if label == "escalated" {
                    if let Some(action) = &change.alert.remedy_action {
                        line(out, format!("    remedy: {action}"));
                    }
                }
            }
        }
    }
}
