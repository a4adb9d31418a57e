//! Alert walls ([R10](crate::rules#r10)): the open alerts, derived from the state.
//!
//! Alerts are not stored: every one is computed from the state that causes it (an open object
//! error, a disabled or suspended connector, consecutive transient failures, the full-import flag,
//! a held obsoletion, a stuck watermark, a limit). So an alert opens and closes exactly when its
//! cause does, and two folds of one log show the same wall. Remedies are attached by the views
//! from the remedy catalog; the core knows only codes.

use super::model::*;
use super::state::*;

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// For the record: someone else must act (a partition owner told of a connector problem).
    Info,
    /// Transient: may fix itself; an administrator should watch it.
    Warning,
    /// Permanent: someone must act.
    Error,
}

impl Severity {
    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertScope {
    /// One object of a partition: a *sync issue*.
    Object,
    /// A partition: a *sync error* for that partition.
    Partition,
    /// A connector and all its partitions: a *sync error*.
    Connector,
}

impl AlertScope {
    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertScope::Object => "object",
            AlertScope::Partition => "partition",
            AlertScope::Connector => "connector",
        }
    }

    /// Whether the sync as a whole stopped (an error) or single records failed (an issue).
    pub fn class(self) -> &'static str {
        match self {
            AlertScope::Object => "sync-issue",
            AlertScope::Partition | AlertScope::Connector => "sync-error",
        }
    }
}

/// Who must hear of an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recipient {
    /// The owner of the connector (its configuration, its credentials).
    ConnectorOwner,
    /// The owner of the partition (its objects, its filters).
    PartitionOwner,
}

impl Recipient {
    /// The SPEC §7 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::ConnectorOwner => "connector-owner",
            Recipient::PartitionOwner => "partition-owner",
        }
    }
}

/// One open alert on one recipient's wall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// How bad.
    pub severity: Severity,
    /// About what.
    pub scope: AlertScope,
    /// The code: a fault's name, an object error's name, or one of the engine's own codes.
    pub code: String,
    /// To whom.
    pub recipient: Recipient,
    /// The connector.
    pub connector: ConnectorName,
    /// The partition (for a connector-scope alert, the affected partition of an `info` copy).
    pub partition: Option<PartitionName>,
    /// The object (object scope).
    pub anchor: Option<Anchor>,
    /// What happened, in the connector's or the engine's words.
    pub message: String,
    /// When the cause first occurred.
    pub first: Occurrence,
    /// When it last occurred.
    pub last: Occurrence,
    /// When the alert opened: the one "open since" every view gives. `first` for every alert but
    /// `stuck-watermark`, whose cause (the first delta import held back) precedes the alert
    /// (opened by the run whose count reached `stuck_after`). An alert that escalates (warning to
    /// error, same code and subject) stays the same alert: it opened when its warning did.
    pub opened: Occurrence,
    /// For `stuck-watermark`: the objects holding the watermark back.
    pub objects: Vec<Anchor>,
}

/// A connector's message or an error's description as an alert's message shows it: "no
/// description" when empty, so that no message starts with a bare ` (`.
fn described(text: &str) -> &str {
    if text.trim().is_empty() {
        "no description"
    } else {
        text
    }
}

impl State {
    /// Every open alert, grouped by connector and partition, in a stable order.
    pub fn alerts(&self) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for (connector, connector_state) in &self.connectors {
            let mut connector_alerts = Vec::new();
            if let Some(disabled) = &connector_state.disabled {
                connector_alerts.push((
                    Severity::Error,
                    disabled.code.as_str().to_owned(),
                    format!(
                        "{} (connector disabled{})",
                        described(&disabled.message),
                        if disabled.credentials_updated {
                            "; credentials updated, waiting for `enable`"
                        } else {
                            "; waiting for `credentials-updated`, then `enable`"
                        }
                    ),
                    disabled.since.clone(),
                    disabled.last.clone(),
                ));
            }
            if let Some(suspension) = &connector_state.suspended {
                connector_alerts.push((
                    Severity::Error,
                    suspension.code.as_str().to_owned(),
                    format!(
                        "{} (permanent: connector suspended until `resume`)",
                        described(&suspension.message)
                    ),
                    suspension.first.clone(),
                    suspension.since.clone(),
                ));
            }
            for (code, failures) in &connector_state.transient {
                let escalated = connector_state
                    .suspended
                    .as_ref()
                    .is_some_and(|suspension| suspension.code == *code);
                if !escalated {
                    connector_alerts.push((
                        Severity::Warning,
                        code.as_str().to_owned(),
                        if failures.count == 0 {
                            format!(
                                "{} (count reset by `resume`; open until a run ends without it)",
                                described(&failures.message)
                            )
                        } else {
                            format!(
                                "{} ({} consecutive runs)",
                                described(&failures.message),
                                failures.count
                            )
                        },
                        failures.first.clone(),
                        failures.last.clone(),
                    ));
                }
            }
            for (severity, code, message, first, last) in connector_alerts {
                let alert = |severity, recipient, partition: Option<&PartitionName>| Alert {
                    severity,
                    scope: AlertScope::Connector,
                    code: code.clone(),
                    recipient,
                    connector: connector.clone(),
                    partition: partition.cloned(),
                    anchor: None,
                    message: message.clone(),
                    first: first.clone(),
                    last: last.clone(),
                    opened: first.clone(),
                    objects: Vec::new(),
                };
                alerts.push(alert(severity, Recipient::ConnectorOwner, None));
                // The partitions' owners are told, but need not act (R10).
                for name in connector_state.partitions.keys() {
                    alerts.push(alert(Severity::Info, Recipient::PartitionOwner, Some(name)));
                }
            }
            for (name, part) in &connector_state.partitions {
                self.partition_alerts(connector, name, part, &mut alerts);
            }
        }
        alerts
    }

    fn partition_alerts(
        &self,
        connector: &ConnectorName,
        name: &PartitionName,
        part: &PartitionState,
        alerts: &mut Vec<Alert>,
    ) {
        let alert =
            |severity, code: &str, message: String, first: &Occurrence, last: &Occurrence| Alert {
                severity,
                scope: AlertScope::Partition,
                code: code.to_owned(),
                recipient: Recipient::PartitionOwner,
                connector: connector.clone(),
                partition: Some(name.clone()),
                anchor: None,
                message,
                first: first.clone(),
                last: last.clone(),
                opened: first.clone(),
                objects: Vec::new(),
            };
        for (code, since) in &part.change_log_faults {
            let code = code.as_str();
            let by = since
                .run
                .map_or_else(String::new, |run| format!(" in run {run}"));
            alerts.push(alert(
                Severity::Error,
                code,
                format!("the delta change log cannot be used ({code}{by})"),
                since,
                since,
            ));
        }
        if let Some(flag) = &part.full_import_required {
            let set_by = match &part.full_import_required_by_administrator {
                // SPEC §8: an administrator's `require-full-import` names who and why.
                Some(mark) if mark.reason.is_empty() => {
                    format!(" by administrator {}", mark.actor.0)
                }
                Some(mark) => format!(" by administrator {}: {}", mark.actor.0, mark.reason),
                None => flag
                    .run
                    .map_or_else(String::new, |run| format!(" by run {run}")),
            };
            alerts.push(alert(
                Severity::Error,
                "full-import-required",
                format!(
                    "delta imports are refused until a full import completes (flag set{set_by})"
                ),
                flag,
                flag,
            ));
        }
        if let Some(held) = &part.held_obsoletion {
            if let Some(ended) = self.run(held.run).and_then(|run| run.ended.as_ref()) {
                alerts.push(alert(
                    Severity::Error,
                    "obsoletion-held",
                    format!(
                        "full import {} would obsolete {} objects, over deletion_threshold; approve with `approve-obsoletion`",
                        held.run,
                        held.anchors.len()
                    ),
                    ended,
                    ended,
                ));
            }
        }
        if part.stuck.warning {
            if let (Some(first), Some(last)) = (&part.stuck.first, &part.stuck.last) {
                let objects: Vec<Anchor> = part
                    .object_errors
                    .iter()
                    .filter(|(_, error)| error.direction == ErrorDirection::Import)
                    .map(|(anchor, _)| anchor.clone())
                    .collect();
                let mut stuck = alert(
                    Severity::Warning,
                    "stuck-watermark",
                    format!(
                        "{} consecutive delta imports ended where they started, held back by {}; a full import is recommended",
                        part.stuck.count,
                        objects.iter().map(Anchor::as_str).collect::<Vec<_>>().join(", ")
                    ),
                    first,
                    last,
                );
                stuck.objects = objects;
                stuck.opened = part.stuck.opened.clone().unwrap_or_else(|| last.clone());
                alerts.push(stuck);
            }
        }
        for limit in part.limit_alerts.values() {
            alerts.push(alert(
                Severity::Error,
                limit.limit.kind.code(),
                limit.limit.message(),
                &limit.since,
                &limit.since,
            ));
        }
        for (anchor, error) in &part.object_errors {
            alerts.push(Alert {
                severity: if error.permanent {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                scope: AlertScope::Object,
                code: error.name.clone(),
                recipient: Recipient::PartitionOwner,
                connector: connector.clone(),
                partition: Some(name.clone()),
                anchor: Some(anchor.clone()),
                message: format!(
                    "{} ({} failing run{})",
                    described(&error.description),
                    error.failing_runs,
                    if error.failing_runs == 1 { "" } else { "s" }
                ),
                first: error.first.clone(),
                last: error.last.clone(),
                opened: error.first.clone(),
                objects: Vec::new(),
            });
        }
    }
}
