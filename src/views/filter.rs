//! Filters of the reading commands: which events concern an object ([`concerns_anchor`]), where an
//! event happened ([`event_scope`]), the narrowing of `events` ([`EventFilter`]) and of `runs`
//! ([`RunFilter`]), and the names a filter may use ([`EVENT_TYPES`], [`run_statuses`]), checked
//! against the log before anything is shown ([`FilterError`]), so a misspelt name is an error
//! naming the choices, never an empty answer.
//!
//! These are plain functions of the events and the state: the command line only parses the flags
//! and prints what they keep.

use super::parse_rfc3339;
use crate::core::*;

/// Every event type name as `events --json` prints it in `type` (SPEC §7), in the order of the
/// event vocabulary.
pub const EVENT_TYPES: [&str; 19] = [
    "run-started",
    "run-refused",
    "discovery-error",
    "fatal-import-error",
    "page-read",
    "fault",
    "limit-reached",
    "watermark-committed",
    "obsoletion-applied",
    "obsoletion-skipped",
    "obsoletion-held",
    "export-queued",
    "export-batch-sent",
    "export-result",
    "run-interrupted",
    "run-ended",
    "admin-action",
    "torn-record-discarded",
    "present-records-accepted",
];

/// The run status `runs` shows for a run that is still open (besides SPEC §6's statuses).
pub const IN_FLIGHT: &str = "in-flight";

/// Every status `runs --status` accepts: SPEC §6's, then [`IN_FLIGHT`].
pub fn run_statuses() -> Vec<&'static str> {
    RunStatus::ALL
        .iter()
        .map(|status| status.as_str())
        .chain([IN_FLIGHT])
        .collect()
}

/// Whether `event` concerns the object `anchor`: whether its facts name `anchor` as an object it
/// acted on or reported on. That is a page that staged a change of it, a discovery error or a
/// fatal import error on it, an obsoletion (applied or held) that lists it, an export change
/// queued for it, an export batch that sent it, and an export result for it or naming it as the
/// missing parent (`provisioning-parent`). Attribute values (a reference to it from another
/// object included) do not count, nor do events about the run as a whole (its start, its end, a
/// fault, a watermark commit), which name no object. SEMANTICS ("One object's history") says why.
pub fn concerns_anchor(event: &Event, anchor: &Anchor) -> bool {
    // Every event kind is listed, so a new one must decide whether it names objects.
    match event {
        Event::DiscoveryErrorRecorded { error, .. } => error.anchor == *anchor,
        Event::FatalImportErrorRecorded { error, .. } => error.anchor.as_ref() == Some(anchor),
        Event::PageRead { changes, .. } => changes.iter().any(|change| change.anchor == *anchor),
        Event::ObsoletionApplied { anchors, .. }
        | Event::ObsoletionHeld { anchors, .. }
        | Event::ExportBatchSent { anchors, .. } => anchors.contains(anchor),
        Event::ExportQueued { change, .. } => change.anchor == *anchor,
        Event::ExportResultRecorded {
            anchor: object,
            outcome,
            ..
        } => {
            object == anchor
                || matches!(outcome, ExportOutcome::ProvisioningParent { parent } if parent == anchor)
        }
        Event::RunStarted { .. }
        | Event::RunRefused { .. }
        | Event::FaultRecorded { .. }
        | Event::LimitReached { .. }
        | Event::WatermarkCommitted { .. }
        | Event::ObsoletionSkipped { .. }
        | Event::RunInterrupted { .. }
        | Event::RunEnded { .. }
        | Event::AdminActionRecorded { .. }
        | Event::AdministratorActed { .. }
        | Event::TornRecordDiscarded { .. }
        | Event::PresentRecordsAccepted { .. } => false,
    }
}

/// Where an event happened: its connector, and its partition (`None`: the connector as a whole,
/// an administrator's action on every partition). `None` for the log's own events (recovery, an
/// accepted head note), which belong to no connector. A run's events are placed by their run,
/// looked up in `state` (any state that holds the run: the one just after the event will do).
pub fn event_scope<'a>(
    event: &'a Event,
    state: &'a State,
) -> Option<(&'a ConnectorName, Option<&'a PartitionName>)> {
    match event {
        Event::RunStarted {
            connector,
            partition,
            ..
        }
        | Event::RunRefused {
            connector,
            partition,
            ..
        }
        | Event::ExportQueued {
            connector,
            partition,
            ..
        } => Some((connector, Some(partition))),
        Event::AdminActionRecorded {
            connector,
            partition,
            ..
        }
        | Event::AdministratorActed {
            connector,
            partition,
            ..
        } => Some((connector, partition.as_ref())),
        other => {
            let run = state.run(other.run()?)?;
            Some((&run.connector, Some(&run.partition)))
        }
    }
}

/// Whether `state` knows partition `partition` on `connector`.
fn has_partition(state: &State, connector: &ConnectorName, partition: &PartitionName) -> bool {
    state.connectors().any(|(name, connector_state)| {
        name == connector && connector_state.partitions().any(|(p, _)| p == partition)
    })
}

/// A point of `--since` or `--until`: an event's sequence number or a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// The event with this sequence number.
    Seq(Seq),
    /// This time (RFC 3339, parsed to milliseconds since the Unix epoch, UTC).
    Time(Timestamp),
}

impl Point {
    /// `text` as a point: digits are a sequence number, anything else must be an RFC 3339 time
    /// such as `2026-12-01T03:00:00Z` or `2026-12-01T04:00:00.250+01:00`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(Point::Seq)
                .map_err(|_| format!("{text} is too large for a sequence number"));
        }
        parse_rfc3339(text).map(Point::Time).ok_or_else(|| {
            format!(
                "{text} is neither a sequence number nor an RFC 3339 time (e.g. 2026-12-01T03:00:00Z)"
            )
        })
    }

    /// Whether the event at `seq`, stamped `at`, is at or after this point.
    fn at_or_before(self, seq: Seq, at: Timestamp) -> bool {
        match self {
            Point::Seq(point) => point <= seq,
            Point::Time(point) => point <= at,
        }
    }

    /// Whether the event at `seq`, stamped `at`, is at or before this point.
    fn at_or_after(self, seq: Seq, at: Timestamp) -> bool {
        match self {
            Point::Seq(point) => point >= seq,
            Point::Time(point) => point >= at,
        }
    }
}

/// A filter value that names nothing the log or the vocabulary knows: the command refuses it
/// (status 2) with the choices, rather than answer with nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// `--type` names no event type.
    #[error("unknown event type `{given}`; the event types are: {}", EVENT_TYPES.join(", "))]
    UnknownType {
        /// The name given.
        given: String,
    },
    /// `--status` names no run status.
    #[error("unknown run status `{given}`; the statuses are: {}", run_statuses().join(", "))]
    UnknownStatus {
        /// The name given.
        given: String,
    },
    /// `--connector` names no connector of the log.
    #[error("no connector `{given}` in the log{}", choices(known))]
    UnknownConnector {
        /// The name given.
        given: String,
        /// The connectors the log knows.
        known: Vec<String>,
    },
    /// `--partition` names no partition of the log (of the connector, when one is named).
    #[error(
        "no partition `{given}`{} in the log{}",
        on_connector(connector),
        choices(known)
    )]
    UnknownPartition {
        /// The name given.
        given: String,
        /// The connector named with it, if any.
        connector: Option<String>,
        /// The partitions it knows, as `connector/partition`.
        known: Vec<String>,
    },
    /// `--partition` names a partition several connectors have, and no `--connector` says which.
    #[error("partition `{given}` is on several connectors ({}): name one with --connector", connectors.join(", "))]
    AmbiguousPartition {
        /// The name given.
        given: String,
        /// The connectors that have it.
        connectors: Vec<String>,
    },
}

fn choices(known: &[String]) -> String {
    if known.is_empty() {
        " (it knows none yet)".to_owned()
    } else {
        format!("; it knows: {}", known.join(", "))
    }
}

fn on_connector(connector: &Option<String>) -> String {
    connector
        .as_ref()
        .map_or_else(String::new, |c| format!(" on connector `{c}`"))
}

/// Checks `--connector` and `--partition` against `state`: each must name something it knows
/// (the partition on the connector, when both are named).
pub fn check_scope(
    state: &State,
    connector: Option<&ConnectorName>,
    partition: Option<&PartitionName>,
) -> Result<(), FilterError> {
    if let Some(connector) = connector {
        if !state.connectors().any(|(name, _)| name == connector) {
            return Err(FilterError::UnknownConnector {
                given: connector.to_string(),
                known: state
                    .connectors()
                    .map(|(name, _)| name.to_string())
                    .collect(),
            });
        }
    }
    if let Some(partition) = partition {
        let known: Vec<(&ConnectorName, &PartitionName)> = state
            .connectors()
            .filter(|(name, _)| connector.is_none_or(|wanted| *name == wanted))
            .flat_map(|(name, c)| c.partitions().map(move |(p, _)| (name, p)))
            .collect();
        if !known.iter().any(|(_, p)| *p == partition) {
            return Err(FilterError::UnknownPartition {
                given: partition.to_string(),
                connector: connector.map(ConnectorName::to_string),
                known: known.iter().map(|(c, p)| format!("{c}/{p}")).collect(),
            });
        }
    }
    Ok(())
}

/// The one partition `--partition` (and `--connector`, when given) names: an error naming the
/// choices when it names none, or several on different connectors without `--connector`.
pub fn choose_partition(
    state: &State,
    connector: Option<&ConnectorName>,
    partition: &PartitionName,
) -> Result<ConnectorName, FilterError> {
    check_scope(state, connector, Some(partition))?;
    let holders: Vec<&ConnectorName> = state
        .connectors()
        .filter(|(name, _)| connector.is_none_or(|wanted| *name == wanted))
        .filter(|(name, _)| has_partition(state, name, partition))
        .map(|(name, _)| name)
        .collect();
    match holders.as_slice() {
        [one] => Ok((*one).clone()),
        many => Err(FilterError::AmbiguousPartition {
            given: partition.to_string(),
            connectors: many.iter().map(|c| c.to_string()).collect(),
        }),
    }
}

/// Checks `--type` names against [`EVENT_TYPES`].
pub fn check_types(types: &[String]) -> Result<(), FilterError> {
    match types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        Some(given) => Err(FilterError::UnknownType {
            given: given.clone(),
        }),
        None => Ok(()),
    }
}

/// Checks `--status` names against [`run_statuses`].
pub fn check_statuses(statuses: &[String]) -> Result<(), FilterError> {
    let known = run_statuses();
    match statuses.iter().find(|s| !known.contains(&s.as_str())) {
        Some(given) => Err(FilterError::UnknownStatus {
            given: given.clone(),
        }),
        None => Ok(()),
    }
}

/// The narrowing of `events`: every condition given must hold (an empty list or `None` is no
/// condition). Several `types` are alternatives.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only events of this run.
    pub run: Option<RunId>,
    /// Only events that concern this object ([`concerns_anchor`]).
    pub anchor: Option<Anchor>,
    /// Only events of these types ([`EVENT_TYPES`]).
    pub types: Vec<String>,
    /// Only events on this connector ([`event_scope`]).
    pub connector: Option<ConnectorName>,
    /// Only events on this partition, an action on its connector as a whole included.
    pub partition: Option<PartitionName>,
    /// Only events at or after this point (inclusive).
    pub since: Option<Point>,
    /// Only events at or before this point (inclusive).
    pub until: Option<Point>,
}

impl EventFilter {
    /// Whether the filter keeps the event at `seq`; `state` is one that knows its run (the state
    /// just after it, or a later one).
    pub fn keeps(&self, seq: Seq, envelope: &Envelope, state: &State) -> bool {
        let event = &envelope.event;
        if self.run.is_some_and(|run| event.run() != Some(run)) {
            return false;
        }
        if !self.types.is_empty() && !self.types.iter().any(|t| t == event.type_name()) {
            return false;
        }
        if self
            .since
            .is_some_and(|since| !since.at_or_before(seq, envelope.at))
            || self
                .until
                .is_some_and(|until| !until.at_or_after(seq, envelope.at))
        {
            return false;
        }
        if self.connector.is_some() || self.partition.is_some() {
            let Some((connector, partition)) = event_scope(event, state) else {
                return false;
            };
            if self.connector.as_ref().is_some_and(|c| c != connector) {
                return false;
            }
            if let Some(wanted) = &self.partition {
                let on_it = match partition {
                    Some(partition) => partition == wanted,
                    None => has_partition(state, connector, wanted),
                };
                if !on_it {
                    return false;
                }
            }
        }
        self.anchor
            .as_ref()
            .is_none_or(|anchor| concerns_anchor(event, anchor))
    }

    /// Checks the names the filter uses against the vocabulary and `state` (the log's state).
    pub fn check(&self, state: &State) -> Result<(), FilterError> {
        check_types(&self.types)?;
        check_scope(state, self.connector.as_ref(), self.partition.as_ref())
    }
}

/// The narrowing of `runs`: every condition given must hold; several `statuses` are
/// alternatives; `last` keeps the last N runs that pass the others.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only runs with one of these statuses ([`run_statuses`]; `in-flight` for an open run).
    pub statuses: Vec<String>,
    /// Only runs on this connector.
    pub connector: Option<ConnectorName>,
    /// Only runs on this partition.
    pub partition: Option<PartitionName>,
    /// Only the last N runs (by id) of those the other conditions keep.
    pub last: Option<usize>,
}

impl RunFilter {
    /// The runs the filter keeps, in id order.
    pub fn apply<'a>(&self, runs: &'a [RunRecord]) -> Vec<&'a RunRecord> {
        let kept: Vec<&RunRecord> = runs
            .iter()
            .filter(|run| {
                let status = run.status.map_or(IN_FLIGHT, RunStatus::as_str);
                (self.statuses.is_empty() || self.statuses.iter().any(|s| s == status))
                    && self.connector.as_ref().is_none_or(|c| *c == run.connector)
                    && self.partition.as_ref().is_none_or(|p| *p == run.partition)
            })
            .collect();
        let skip = self.last.map_or(0, |last| kept.len().saturating_sub(last));
        kept.into_iter().skip(skip).collect()
    }

    /// Checks the names the filter uses against the vocabulary and `state`.
    pub fn check(&self, state: &State) -> Result<(), FilterError> {
        check_statuses(&self.statuses)?;
        check_scope(state, self.connector.as_ref(), self.partition.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str) -> Anchor {
        Anchor::from(text)
    }

    fn change(anchor: &str) -> ObjectChange {
        ObjectChange {
            anchor: a(anchor),
            kind: ChangeKind::Add,
            attributes: Attributes::default(),
        }
    }

    fn export(anchor: &str) -> ExportChange {
        ExportChange {
            anchor: a(anchor),
            kind: ExportChangeKind::Update,
            attributes: Attributes::default(),
            references: Attributes::default(),
        }
    }

    /// One event of every kind, each naming `u1` where its kind can name an object (and `u2`
    /// beside it), with whether it concerns `u1`.
    fn every_kind() -> Vec<(Event, bool)> {
        let run = RunId(1);
        let hr = ConnectorName::from("hr");
        let people = PartitionName::from("people");
        vec![
            (
                Event::RunStarted {
                    run,
                    connector: hr.clone(),
                    partition: people.clone(),
                    kind: RunKind::FullImport,
                    start_watermark: None,
                    settings: Settings::default(),
                },
                false,
            ),
            (
                Event::RunRefused {
                    run,
                    connector: hr.clone(),
                    partition: people.clone(),
                    kind: RunKind::DeltaImport,
                    status: RunStatus::NoStartFullImportRequired,
                    cause: RefusalCause::FullImportRequired { set_by: RunId(0) },
                },
                false,
            ),
            (
                Event::DiscoveryErrorRecorded {
                    run,
                    page: 1,
                    error: DiscoveryError {
                        anchor: a("u1"),
                        kind: ObjectErrorKind::CustomContinueRun,
                        name: "bad".to_owned(),
                        description: "u2 is fine".to_owned(),
                    },
                },
                true,
            ),
            (
                Event::FatalImportErrorRecorded {
                    run,
                    page: 1,
                    error: FatalImportError {
                        anchor: Some(a("u1")),
                        kind: FatalImportErrorKind::ImportParseError,
                        description: "unreadable".to_owned(),
                    },
                },
                true,
            ),
            (
                Event::PageRead {
                    run,
                    page: 1,
                    changes: vec![change("u2"), change("u1")],
                    proposed_watermark: None,
                },
                true,
            ),
            (
                Event::FaultRecorded {
                    run,
                    page: Some(2),
                    fault: Fault {
                        kind: FaultKind::ServerDown,
                        message: "u1 unreachable".to_owned(),
                    },
                },
                false,
            ),
            (
                Event::LimitReached {
                    run,
                    page: 1,
                    limit: LimitKind::Errors,
                    count: 2,
                    maximum: 1,
                },
                false,
            ),
            (
                Event::WatermarkCommitted {
                    run,
                    watermark: Watermark::from_text("u1"),
                },
                false,
            ),
            (
                Event::ObsoletionApplied {
                    run,
                    anchors: vec![a("u1"), a("u2")],
                },
                true,
            ),
            (
                Event::ObsoletionSkipped {
                    run,
                    reason: SkipReason::ImportErrors,
                },
                false,
            ),
            (
                Event::ObsoletionHeld {
                    run,
                    anchors: vec![a("u0"), a("u1")],
                },
                true,
            ),
            (
                Event::ExportQueued {
                    connector: hr.clone(),
                    partition: people.clone(),
                    change: export("u1"),
                },
                true,
            ),
            (
                Event::ExportBatchSent {
                    run,
                    anchors: vec![a("u2"), a("u1")],
                },
                true,
            ),
            (
                Event::ExportResultRecorded {
                    run,
                    anchor: a("u1"),
                    outcome: ExportOutcome::Success,
                },
                true,
            ),
            (Event::RunInterrupted { run }, false),
            (
                Event::RunEnded {
                    run,
                    status: RunStatus::Success,
                    counts: RunCounts::default(),
                    committed_watermark: None,
                },
                false,
            ),
            (
                Event::AdminActionRecorded {
                    connector: hr,
                    partition: Some(people),
                    action: AdminAction::ApproveObsoletion,
                },
                false,
            ),
            (Event::TornRecordDiscarded { seq: 9, length: 3 }, false),
            (
                Event::PresentRecordsAccepted {
                    through: 8,
                    reason: "u1".to_owned(),
                },
                false,
            ),
        ]
    }

    #[test]
    fn an_object_is_concerned_by_exactly_the_events_that_name_it() {
        for (event, concerns) in every_kind() {
            assert_eq!(
                concerns_anchor(&event, &a("u1")),
                concerns,
                "{}",
                event.type_name()
            );
            // Text that merely mentions it (a description, a watermark, a reason) does not count,
            // and neither does an anchor the event does not name.
            assert!(!concerns_anchor(&event, &a("u9")), "{}", event.type_name());
        }
    }

    #[test]
    fn an_export_result_concerns_the_missing_parent_too() {
        let result = Event::ExportResultRecorded {
            run: RunId(1),
            anchor: a("u3"),
            outcome: ExportOutcome::ProvisioningParent {
                parent: a("ou=sales"),
            },
        };
        assert!(concerns_anchor(&result, &a("u3")));
        assert!(concerns_anchor(&result, &a("ou=sales")));
        assert!(!concerns_anchor(&result, &a("u1")));
    }

    #[test]
    fn every_event_type_can_be_named() {
        let kinds = every_kind();
        assert_eq!(kinds.len(), EVENT_TYPES.len());
        for ((event, _), name) in kinds.iter().zip(EVENT_TYPES) {
            assert_eq!(event.type_name(), name);
        }
        assert!(check_types(&["page-read".to_owned()]).is_ok());
        let error = check_types(&["pageread".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("page-read, fault"), "{error}");
    }

    #[test]
    fn points_are_sequence_numbers_or_rfc_3339_times() {
        assert_eq!(Point::parse("12"), Ok(Point::Seq(12)));
        assert_eq!(
            Point::parse("2026-01-01T00:00:00Z"),
            Ok(Point::Time(Timestamp(1_767_225_600_000)))
        );
        assert!(Point::parse("yesterday").is_err());
        assert!(Point::parse("").is_err());
        let since = Point::Seq(3);
        assert!(since.at_or_before(3, Timestamp(0)) && !since.at_or_before(2, Timestamp(0)));
        let until = Point::Time(Timestamp(10));
        assert!(until.at_or_after(99, Timestamp(10)) && !until.at_or_after(1, Timestamp(11)));
    }

    #[test]
    fn unknown_statuses_name_the_choices() {
        assert!(check_statuses(&["success".to_owned(), IN_FLIGHT.to_owned()]).is_ok());
        let error = check_statuses(&["ok".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("stopped-server-down"), "{error}");
    }
}
