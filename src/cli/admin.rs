//! `syncfold admin ACTION` for the administrator's actions of SPEC §7 and §8: opens the log as its
//! writer, records one action (with the actor and the reason), and says in one or two operator
//! sentences what changed, judged by comparing the state before and after. A refusal names the
//! rule (status 1); a wrong flag, or a connector or partition the log does not know, is a usage
//! error (status 2) that names it and the remedy.

use super::location::LogAt;
use super::{fail, fail_log, is_log_folder, no_log, USAGE};
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::engine::system_clock;
use syncfold::log::{Log, LogError, LogOptions};

/// What the administrator asked for, as parsed from the command line.
pub(crate) struct Request {
    /// `--wait`: wait for another writer to stop and take over.
    pub wait: bool,
    /// The action.
    pub action: OperatorAction,
    /// `--connector`, if given.
    pub connector: Option<String>,
    /// `--partition`, if given.
    pub partition: Option<String>,
    /// `--run`, if given.
    pub run: Option<u64>,
    /// `--reason`, empty when not given.
    pub reason: String,
    /// Who.
    pub actor: String,
}

/// Records `request` in the log at `folder` and reports what changed.
pub(crate) fn administer(folder: &LogAt, request: Request) -> ExitCode {
    let action = request.action;
    let name = action.as_str();
    if action.needs_partition() && request.partition.is_none() {
        return fail(
            USAGE,
            format!("{name} acts on one partition: give it with --partition P"),
        );
    }
    match (action, request.run) {
        (OperatorAction::SetWatermark, None) => {
            return fail(
                USAGE,
                "set-watermark needs --run N, the run whose committed watermark the partition goes back to (`syncfold runs --log LOG` lists them)",
            )
        }
        (OperatorAction::SetWatermark, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return fail(
                USAGE,
                format!("--run is for set-watermark only; {name} names no run: leave it out"),
            )
        }
    }
    if !is_log_folder(folder) {
        return no_log(folder);
    }
    let opened = super::open_store(folder, request.wait)
        .and_then(|store| Log::open(store, LogOptions::default(), system_clock()));
    let mut log = match opened {
        Ok((log, _)) => log,
        Err(error) => return fail_log(folder, error),
    };
    let connector = match pick_connector(log.state(), request.connector.as_deref(), folder) {
        Ok(connector) => connector,
        Err(message) => return fail(USAGE, message),
    };
    let partition = request.partition.as_deref().map(PartitionName::from);
    if let Some(partition) = &partition {
        if log.state().partition(&connector, partition).is_none() {
            let known = partition_names(log.state(), &connector);
            return fail(
                USAGE,
                format!(
                    "{connector} has no partition named {partition} in {} (its partitions: {known}); give one of them with --partition",
                    folder.display()
                ),
            );
        }
    }
    let before = log.state().clone();
    let command = Command::Administer {
        connector: connector.clone(),
        partition: partition.clone(),
        action,
        run: request.run.map(RunId),
        reason: request.reason.clone(),
    };
    let actor = Actor::from_name(&request.actor);
    if let Err(error) = log.execute(command, system_clock(), &actor) {
        return match error {
            LogError::Rejected(rejection) => fail(
                super::DAMAGED,
                format!(
                    "{name} refused, because {}: {}",
                    rejection.rule.summary(),
                    rejection.detail()
                ),
            ),
            error => fail_log(folder, error),
        };
    }
    let seq = log.state().last_seq();
    let said = Said {
        who: &request.actor,
        reason: &request.reason,
        seq,
    };
    for line in report(
        &before,
        log.state(),
        &connector,
        partition.as_ref(),
        action,
        &said,
    ) {
        say!("{line}");
    }
    ExitCode::SUCCESS
}

/// The connector named, or the log's only one.
fn pick_connector(
    state: &State,
    named: Option<&str>,
    folder: &LogAt,
) -> Result<ConnectorName, String> {
    let known: Vec<&ConnectorName> = state.connectors().map(|(name, _)| name).collect();
    let list = || {
        known
            .iter()
            .map(|name| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match named {
        Some(name) => {
            let name = ConnectorName::from(name);
            if known.contains(&&name) {
                Ok(name)
            } else if known.is_empty() {
                Err(format!(
                    "{} has no connector yet (no run was recorded): nothing to act on",
                    folder.display()
                ))
            } else {
                Err(format!(
                    "{} has no connector named {name} (its connectors: {}); give one of them with --connector",
                    folder.display(),
                    list()
                ))
            }
        }
        None => match known.as_slice() {
            [only] => Ok((*only).clone()),
            [] => Err(format!(
                "{} has no connector yet (no run was recorded): nothing to act on",
                folder.display()
            )),
            _ => Err(format!(
                "{} has several connectors ({}): say which with --connector",
                folder.display(),
                list()
            )),
        },
    }
}

fn partition_names(state: &State, connector: &ConnectorName) -> String {
    state
        .connectors()
        .find(|(name, _)| *name == connector)
        .map(|(_, c)| {
            c.partitions()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Who acted, why, and the event that records it.
struct Said<'a> {
    who: &'a str,
    reason: &'a str,
    seq: Seq,
}

impl Said<'_> {
    /// "by alice (reason), event 12".
    fn by(&self) -> String {
        if self.reason.trim().is_empty() {
            format!("by {}, event {}", self.who, self.seq)
        } else {
            format!(
                "by {} ({}), event {}",
                self.who,
                self.reason.trim(),
                self.seq
            )
        }
    }
}

fn connector_state<'a>(state: &'a State, connector: &ConnectorName) -> Option<&'a ConnectorState> {
    state
        .connectors()
        .find(|(name, _)| *name == connector)
        .map(|(_, c)| c)
}

/// One or two sentences on what the action changed.
fn report(
    before: &State,
    after: &State,
    connector: &ConnectorName,
    partition: Option<&PartitionName>,
    action: OperatorAction,
    said: &Said,
) -> Vec<String> {
    let was = connector_state(before, connector);
    let by = said.by();
    let scope = match partition {
        Some(partition) => format!("{connector}/{partition}"),
        None => connector.to_string(),
    };
    match action {
        OperatorAction::CredentialsUpdated => match was.and_then(ConnectorState::disabled) {
            Some(disabled) => vec![
                format!("{connector}: credentials updated, recorded {by}."),
                format!(
                    "It stays disabled ({} in run {}) until `syncfold admin enable --connector {connector}`.",
                    disabled.code.as_str(),
                    disabled.since.run.map_or(0, |run| run.0)
                ),
            ],
            None => vec![format!(
                "{connector}: credentials updated, recorded {by}; the connector was not disabled, so nothing else changed."
            )],
        },
        OperatorAction::Enable => {
            let disabled = was.and_then(ConnectorState::disabled);
            let now = connector_state(after, connector).and_then(ConnectorState::disabled);
            match (disabled, now) {
                (Some(_), None) => vec![
                    format!("{connector} is enabled again, {by}; its runs may start."),
                ],
                (Some(_), Some(_)) => vec![
                    format!("{connector} stays disabled: a credentials fault disables the connector until credentials-updated, then enable, so credentials-updated must come first; enable recorded {by}."),
                    format!("Run `syncfold admin credentials-updated --connector {connector}` once the credentials are fixed, then enable again."),
                ],
                (None, _) => vec![format!(
                    "{connector} was not disabled; enable recorded {by}, nothing changed."
                )],
            }
        }
        OperatorAction::Resume => {
            let suspended = was.and_then(ConnectorState::suspended);
            match (partition, suspended) {
                (None, Some(suspension)) => vec![
                    format!("{connector} is resumed, {by}; its runs may start again."),
                    format!(
                        "The count of {} failures starts again; its alert stays open until a run ends without it.",
                        suspension.code.as_str()
                    ),
                ],
                (Some(_), Some(_)) => vec![format!(
                    "{scope}: resume recorded {by}; the suspension is the connector's: resume the connector as a whole, without --partition."
                )],
                (_, None) => vec![format!(
                    "{connector} was not suspended; resume recorded {by}, nothing changed."
                )],
            }
        }
        OperatorAction::ApproveObsoletion => {
            let mut lines = Vec::new();
            if let Some(state) = was {
                for (name, part) in state.partitions() {
                    if partition.is_some_and(|wanted| wanted != name) {
                        continue;
                    }
                    if let Some(held) = part.held_obsoletion() {
                        lines.push(format!(
                            "{connector}/{name}: the obsoletion held since run {} is applied, {by}: {} now obsolete.",
                            held.run,
                            match held.anchors.len() {
                                1 => "1 object is".to_owned(),
                                count => format!("{count} objects are"),
                            }
                        ));
                    }
                }
            }
            if lines.is_empty() {
                lines.push(format!(
                    "{scope}: no obsoletion was held; approve-obsoletion recorded {by}, nothing changed."
                ));
            }
            lines
        }
        OperatorAction::SetWatermark => {
            let Some(partition) = partition else {
                return Vec::new();
            };
            let part = after.partition(connector, partition);
            let watermark = part
                .and_then(PartitionState::committed_watermark)
                .map_or_else(|| "none".to_owned(), Watermark::display_text);
            let run = part
                .and_then(PartitionState::watermark_set_back)
                .map_or(0, |set| set.run.0);
            let old = before
                .partition(connector, partition)
                .and_then(PartitionState::committed_watermark)
                .map_or_else(|| "none".to_owned(), Watermark::display_text);
            vec![
                format!("{partition}'s committed watermark is now {watermark} again (committed by run {run}; it was {old}); the next delta import reads from there."),
                format!("Set back {by}; the stuck-watermark count starts again, nothing else changed."),
            ]
        }
        OperatorAction::RequireFullImport => {
            let Some(partition) = partition else {
                return Vec::new();
            };
            let part = before.partition(connector, partition);
            match part.and_then(PartitionState::full_import_required) {
                Some(flag) => {
                    let cause = match part.and_then(PartitionState::full_import_required_by_administrator) {
                        Some(mark) => format!("by {} at event {}", mark.actor.0, mark.at.seq),
                        None => format!("by run {}", flag.run.map_or(0, |run| run.0)),
                    };
                    vec![format!(
                        "{scope} already required a full import (set {cause}), and still does; require-full-import recorded {by}."
                    )]
                }
                None => vec![
                    format!("{scope} now requires a full import, {by}."),
                    "Delta imports are refused (no-start-full-import-required) until a full import completes with zero errors.".to_owned(),
                ],
            }
        }
        _ => vec![format!("{scope}: {} recorded {by}.", action.as_str())],
    }
}
