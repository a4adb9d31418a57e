//! Alerts: one [`AlertView`] per open alert with its remedy from the catalog (`alerts --json`,
//! `state --json` `alerts[]`), the alert wall of `state` and the list of `alerts`.

use super::{line, Block, Table};
use crate::core::*;
use crate::remedy::RemedyCatalog;
use serde::Serialize;

/// When an alert's cause occurred: the event, its time and its run.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct OccurrenceView {
    /// The event.
    pub seq: Seq,
    /// Its time, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Its run, if any.
    pub run: Option<u64>,
}

impl OccurrenceView {
    /// "event 12 (run 3)", or "event 12" for an event of no run.
    pub fn text(&self) -> String {
        super::event_at(self.seq, self.run)
    }

    /// The view of `occurrence`.
    pub fn new(occurrence: &Occurrence) -> Self {
        OccurrenceView {
            seq: occurrence.seq,
            at_ms: occurrence.at.0,
            run: occurrence.run.map(|run| run.0),
        }
    }
}

/// One open alert, with its remedy from the catalog (SPEC §7 `alerts[]`).
#[derive(Clone, Debug, Serialize)]
pub struct AlertView {
    /// `warning`, `error` or `info`.
    pub severity: &'static str,
    /// `object`, `partition` or `connector`.
    pub scope: &'static str,
    /// `sync-error` (the sync as a whole) or `sync-issue` (single records).
    pub class: &'static str,
    /// The code: a fault's name, an object error's name, or one of the engine's own codes.
    pub code: String,
    /// `connector-owner` or `partition-owner`.
    pub recipient: &'static str,
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: Option<String>,
    /// The object (object scope).
    pub anchor: Option<String>,
    /// What happened.
    pub message: String,
    /// For `stuck-watermark`: the objects holding the watermark back.
    pub objects: Vec<String>,
    /// When the cause first occurred.
    pub first: OccurrenceView,
    /// When it last occurred.
    pub last: OccurrenceView,
    /// When the alert opened ([`Alert::opened`]): what `alerts`, `explain health` and
    /// `explain watermark` call "open since".
    pub opened: OccurrenceView,
    /// What to do, from the catalog.
    pub remedy: Option<String>,
    /// The remedy's short title.
    pub remedy_title: Option<String>,
    /// The remedy's actionable sentence ([`Remedy::action`](crate::remedy::Remedy::action)): the
    /// REMEDY column of the alert wall.
    pub remedy_action: Option<String>,
    /// Where the advice comes from.
    pub remedy_source: Option<String>,
}

impl AlertView {
    /// The view of `alert`, its remedy looked up in `catalog`.
    pub fn new(alert: &Alert, catalog: &RemedyCatalog) -> Self {
        let remedy = catalog.lookup(alert);
        AlertView {
            severity: alert.severity.as_str(),
            scope: alert.scope.as_str(),
            class: alert.scope.class(),
            code: alert.code.clone(),
            recipient: alert.recipient.as_str(),
            connector: alert.connector.to_string(),
            partition: alert.partition.as_ref().map(PartitionName::to_string),
            anchor: alert.anchor.as_ref().map(Anchor::to_string),
            message: alert.message.clone(),
            objects: alert.objects.iter().map(Anchor::to_string).collect(),
            first: OccurrenceView::new(&alert.first),
            last: OccurrenceView::new(&alert.last),
            opened: OccurrenceView::new(&alert.opened),
            remedy: remedy.map(|r| r.remedy.clone()),
            remedy_title: remedy.map(|r| r.title.clone()),
            remedy_action: remedy.map(crate::remedy::Remedy::action),
            remedy_source: remedy.map(|r| r.source.clone()),
        }
    }

    /// What the alert is about, in words: "object u9 in hr/people", "hr/people", "connector hr".
    pub fn subject(&self) -> String {
        match (&self.anchor, &self.partition) {
            (Some(anchor), Some(partition)) => {
                format!("object {anchor} in {}/{partition}", self.connector)
            }
            (Some(anchor), None) => format!("object {anchor} of {}", self.connector),
            (None, Some(partition)) if self.scope == AlertScope::Connector.as_str() => {
                format!("connector {} (partition {partition})", self.connector)
            }
            (None, Some(partition)) => format!("{}/{partition}", self.connector),
            (None, None) => format!("connector {}", self.connector),
        }
    }

    /// Whether this is an `info` copy for a partition owner (no action needed from them).
    pub fn is_info(&self) -> bool {
        self.severity == Severity::Info.as_str()
    }
}

/// The alert wall of `state`: sync errors (the sync stopped) first, then sync issues (single
/// records); `info` copies are left out.
pub fn alert_wall(alerts: &[AlertView], out: &mut Vec<Block>) {
    let alerts: Vec<&AlertView> = alerts.iter().filter(|alert| !alert.is_info()).collect();
    if alerts.is_empty() {
        line(out, "No open alerts.");
        return;
    }
    let sections = [
        (
            "sync-error",
            "Sync errors (connector and partition: the sync as a whole):",
        ),
        ("sync-issue", "Sync issues (single records):"),
    ];
    for (class, title) in sections {
        let mut table = Table::new(&[
            "SEVERITY",
            "CODE",
            "PARTITION",
            "OBJECT",
            "RECIPIENT",
            "REMEDY",
        ]);
        for alert in alerts.iter().filter(|alert| alert.class == class) {
            table.row(&[
                alert.severity,
                &alert.code,
                alert.partition.as_deref().unwrap_or("-"),
                alert.anchor.as_deref().unwrap_or("-"),
                alert.recipient,
                alert
                    .remedy_action
                    .as_deref()
                    .unwrap_or("no remedy in the catalog"),
            ]);
        }
        if table.rows.is_empty() {
            continue;
        }
        line(out, title);
        out.push(Block::Table(table));
        line(out, "");
    }
}

/// The text of `alerts`: every alert given (the recipient's, when `recipient` is named) in a
/// table, then what happened and what to do about each one that needs action. Alerts that share a
/// remedy are listed together, each on its own line naming what it is about, above the remedy
/// said once: a wall of a hundred failing objects reads as a hundred lines and one paragraph.
pub fn alerts_text(alerts: &[AlertView], recipient: Option<&str>, out: &mut Vec<Block>) {
    if alerts.is_empty() {
        line(
            out,
            format!(
                "No open alerts{}.",
                recipient.map_or(String::new(), |r| format!(" for {r}"))
            ),
        );
        return;
    }
    let mut table = Table::new(&[
        "SEVERITY",
        "CLASS",
        "CODE",
        "RECIPIENT",
        "CONNECTOR",
        "PARTITION",
        "OBJECT",
        "OPEN SINCE",
        "LAST",
    ]);
    for alert in alerts {
        table.row(&[
            alert.severity,
            alert.class,
            &alert.code,
            alert.recipient,
            &alert.connector,
            alert.partition.as_deref().unwrap_or("-"),
            alert.anchor.as_deref().unwrap_or("-"),
            &alert.opened.text(),
            &alert.last.text(),
        ]);
    }
    out.push(Block::Table(table));
    // Alerts that need action, grouped by remedy in the order each remedy first appears.
    let mut groups: Vec<(Option<&str>, Vec<&AlertView>)> = Vec::new();
    for alert in alerts.iter().filter(|alert| !alert.is_info()) {
        let remedy = alert.remedy.as_deref();
        match groups.iter_mut().find(|(r, _)| *r == remedy) {
            Some((_, members)) => members.push(alert),
            None => groups.push((remedy, vec![alert])),
        }
    }
    for (remedy, members) in groups {
        line(out, "");
        for alert in members {
            line(
                out,
                format!(
                    "{} on {} ({}, open since {}): {}",
                    alert.code,
                    alert.subject(),
                    alert.severity,
                    alert.opened.text(),
                    crate::text::or_no_description(&alert.message)
                ),
            );
        }
        line(
            out,
            format!(
                "  Remedy: {}",
                remedy.unwrap_or("no remedy in the catalog.")
            ),
        );
    }
}
