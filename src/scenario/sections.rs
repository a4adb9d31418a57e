//! The scenario and its steps: the document, the connector and its settings, and each step by
//! kind. What a step carries (pages, objects, errors, queued changes, results) is in `changes`.
//! The names of the SPEC vocabulary (run kinds, faults, actions) come from the core's enums.

use super::changes::{parse_enqueued, parse_page, parse_result};
use super::walker::{
    choice, count, named, non_empty, one_of, string, table, type_name, Entry, Source, Table,
};
use super::ScenarioError;
use crate::core::{
    AdminAction, Anchor, ConnectorName, DeletionThreshold, Fault, FaultKind, PartitionName,
    RunKind, Settings,
};
use crate::script::{Script, Step};
use std::collections::{BTreeMap, BTreeSet};
use toml::de::DeValue;

// The keys each table may hold (SPEC §7), in the order messages list them.

const ROOT_KEYS: &[&str] = &["connector", "step"];
/// The limits of SPEC §7, as a connector's table names them.
pub(super) const SETTINGS_KEYS: &[&str] = &[
    "retry_count",
    "max_errors",
    "max_warnings",
    "snapshot_limit",
    "stuck_after",
    "deletion_threshold",
];
const CONNECTOR_KEYS: &[&str] = &[
    "name",
    "retry_count",
    "max_errors",
    "max_warnings",
    "snapshot_limit",
    "stuck_after",
    "deletion_threshold",
];
const IMPORT_STEP_KEYS: &[&str] = &["kind", "partition", "page"];
const EXPORT_STEP_KEYS: &[&str] = &[
    "kind",
    "partition",
    "enqueue",
    "results",
    "fault",
    "message",
];
const ADMIN_STEP_KEYS: &[&str] = &["kind", "partition", "action"];

/// What a step is: a run of one of the core's run kinds, or an administrator's action.
#[derive(Clone, Copy)]
enum StepKind {
    Import(RunKind),
    Export,
    Admin,
}

/// The step kind that is not a run kind: the format's own word, not the core's.
const ADMIN_STEP: &str = "admin";

/// The step kinds as messages list them: the run kinds in SPEC order, then `admin`.
fn step_kind_names() -> Vec<&'static str> {
    let mut names = RunKind::ALL.map(RunKind::as_str).to_vec();
    names.push(ADMIN_STEP);
    names
}

fn step_kind(name: &str) -> Option<StepKind> {
    if name == ADMIN_STEP {
        return Some(StepKind::Admin);
    }
    Some(match name.parse::<RunKind>().ok()? {
        RunKind::Export => StepKind::Export,
        kind => StepKind::Import(kind),
    })
}

/// The whole document: `[connector]`, then the `[[step]]`s with the line of each.
pub(super) fn parse_document(source: &Source<'_>) -> Result<(Script, Vec<usize>), ScenarioError> {
    let document = source.document()?;
    let root = Table::new(document.get_ref(), document.span(), String::new());
    root.allow_only(source, ROOT_KEYS, |_| None)?;

    let Some(connector_entry) = root.get("connector") else {
        return Err(source.error(
            &(0..0),
            "connector",
            "missing table [connector]: every scenario names its connector, \
             e.g. [connector] with name = \"hr\" on the next line",
        ));
    };
    let (connector, settings) = parse_connector(source, connector_entry)?;

    let mut steps = Vec::new();
    let mut step_lines = Vec::new();
    let tables = root.tables(
        source,
        "step",
        "write [[step]] (double brackets) before each step",
    )?;
    for table in &tables {
        step_lines.push(source.locate(table.span.start).0);
        steps.push(parse_step(source, table)?);
    }
    check_admin_partitions(source, &tables, &steps)?;
    let script = Script {
        connector,
        settings,
        steps,
    };
    super::played::check_results_are_used(source, &script, &tables)?;
    Ok((script, step_lines))
}

/// An admin step's `partition` must be one that a run step of the scenario names (explicitly or
/// as the default `"default"`): an action on a partition nothing runs on is a misspelling, and
/// would be recorded and change nothing (docs/SEMANTICS.md).
fn check_admin_partitions(
    source: &Source<'_>,
    tables: &[Table<'_, '_>],
    steps: &[Step],
) -> Result<(), ScenarioError> {
    let declared: BTreeSet<&PartitionName> = steps
        .iter()
        .filter_map(|step| match step {
            Step::Import { partition, .. } | Step::Export { partition, .. } => Some(partition),
            Step::Admin { .. } => None,
        })
        .collect();
    for (step, table) in steps.iter().zip(tables) {
        let Step::Admin {
            partition: Some(partition),
            ..
        } = step
        else {
            continue;
        };
        if declared.contains(partition) {
            continue;
        }
        let Some(entry) = table.get("partition") else {
            continue;
        };
        let names = if declared.is_empty() {
            "no import or export step names a partition".to_owned()
        } else {
            let listed: Vec<String> = declared
                .iter()
                .map(|name| format!("{:?}", name.as_str()))
                .collect();
            format!("the import and export steps name {}", listed.join(", "))
        };
        return Err(source.error(
            &entry.value.span(),
            &entry.path,
            format!(
                "partition {:?} is not a partition of this scenario ({names}): name one of \
                 those, or leave `partition` out for the whole connector",
                partition.as_str()
            ),
        ));
    }
    Ok(())
}

fn parse_connector(
    source: &Source<'_>,
    entry: &Entry<'_, '_>,
) -> Result<(ConnectorName, Settings), ScenarioError> {
    let table = table(
        source,
        entry.value,
        &entry.path,
        "write [connector] on a line of its own, then name = \"...\"",
    )?;
    table.allow_only(source, CONNECTOR_KEYS, |_| None)?;
    let name = table.required(source, "name", "the connector's name, e.g. name = \"hr\"")?;
    let name = non_empty(source, name, "the connector's name, e.g. name = \"hr\"")?;
    let settings = parse_settings(source, &table)?;
    Ok((ConnectorName(name.to_owned()), settings))
}

/// The limits of SPEC §7 a connector's table may set (`retry_count`, `max_errors`,
/// `max_warnings`, `snapshot_limit`, `stuck_after`, `deletion_threshold`); the defaults for the
/// others. Shared by scenario files and connectors files.
pub(super) fn parse_settings(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<Settings, ScenarioError> {
    let mut settings = Settings::default();
    if let Some(entry) = table.get("retry_count") {
        settings.retry_count = runs_count(source, entry)?;
    }
    if let Some(entry) = table.get("max_errors") {
        settings.max_errors = count(source, entry.value, &entry.path, "a number of errors")?;
    }
    if let Some(entry) = table.get("max_warnings") {
        settings.max_warnings = count(source, entry.value, &entry.path, "a number of warnings")?;
    }
    if let Some(entry) = table.get("snapshot_limit") {
        settings.snapshot_limit = count(source, entry.value, &entry.path, "a number of records")?;
    }
    if let Some(entry) = table.get("stuck_after") {
        settings.stuck_after = runs_count(source, entry)?;
    }
    if let Some(entry) = table.get("deletion_threshold") {
        settings.deletion_threshold = deletion_threshold(source, entry)?;
    }
    Ok(settings)
}

/// `retry_count` and `stuck_after`: a number of consecutive runs, so at least 1.
fn runs_count(source: &Source<'_>, entry: &Entry<'_, '_>) -> Result<u32, ScenarioError> {
    let value = count(source, entry.value, &entry.path, "a number of runs")?;
    if value == 0 {
        return Err(source.error(
            &entry.value.span(),
            &entry.path,
            "must be at least 1: it counts consecutive runs (leave it out for the default, 3)",
        ));
    }
    u32::try_from(value).map_err(|_| {
        source.error(
            &entry.value.span(),
            &entry.path,
            format!("{value} is too large (at most {})", u32::MAX),
        )
    })
}

fn deletion_threshold(
    source: &Source<'_>,
    entry: &Entry<'_, '_>,
) -> Result<DeletionThreshold, ScenarioError> {
    const EXPECTED: &str = "a number of objects such as 500, or a percentage of the \
                            partition's live objects such as \"20%\"";
    let span = entry.value.span();
    match entry.value.get_ref() {
        DeValue::Integer(_) => Ok(DeletionThreshold::Count(count(
            source,
            entry.value,
            &entry.path,
            "a number of objects",
        )?)),
        DeValue::String(text) => {
            let digits = text
                .strip_suffix('%')
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
            let Some(digits) = digits else {
                return Err(source.error(
                    &span,
                    &entry.path,
                    format!("{text:?} is not a deletion threshold (expected {EXPECTED})"),
                ));
            };
            // Digits only, so a parse failure can only be an overflow: over 100% either way.
            match digits.parse::<u8>().ok().filter(|percent| *percent <= 100) {
                Some(percent) => Ok(DeletionThreshold::Percent(percent)),
                None => Err(source.error(
                    &span,
                    &entry.path,
                    format!(
                        "{text:?} is over 100% (a percentage threshold is between \"0%\" and \"100%\")"
                    ),
                )),
            }
        }
        other => Err(source.error(
            &span,
            &entry.path,
            format!("expected {EXPECTED}, found {}", type_name(other)),
        )),
    }
}

fn parse_step(source: &Source<'_>, table: &Table<'_, '_>) -> Result<Step, ScenarioError> {
    let kinds = step_kind_names();
    let kind_entry = table.required(source, "kind", &one_of("what the step is", &kinds))?;
    let kind = choice(source, kind_entry, "step kind", &kinds, step_kind)?;
    let kind_text = string(source, kind_entry.value, &kind_entry.path, "a step kind")?;
    match kind {
        StepKind::Import(run_kind) => {
            table.allow_only(source, IMPORT_STEP_KEYS, |key| misplaced(key, kind_text))?;
            let partition = partition(source, table)?;
            let mut pages = Vec::new();
            for page in &table.tables(
                source,
                "page",
                "write [[step.page]] (double brackets) before each page",
            )? {
                pages.push(parse_page(source, page)?);
            }
            Ok(Step::Import {
                partition,
                kind: run_kind,
                pages,
            })
        }
        StepKind::Export => {
            table.allow_only(source, EXPORT_STEP_KEYS, |key| misplaced(key, kind_text))?;
            let partition = partition(source, table)?;
            let fault = fault(source, table)?;
            if let (Some(_), Some(results)) = (&fault, table.get("results")) {
                return Err(source.error(
                    &results.key_span,
                    &results.path,
                    "an export with `fault` fails as a whole before anything is sent, so it has \
                     no `results`: remove `results`, or the fault",
                ));
            }
            let mut enqueue = Vec::new();
            for change in &table.tables(
                source,
                "enqueue",
                "write enqueue = [ { anchor = \"u1\", change = \"update\", attrs = { ... } } ]",
            )? {
                enqueue.push(parse_enqueued(source, change)?);
            }
            let mut results = BTreeMap::new();
            let mut result_paths: BTreeMap<Anchor, String> = BTreeMap::new();
            for result in &table.tables(
                source,
                "results",
                "write results = [ { anchor = \"u1\", result = \"success\" } ]",
            )? {
                let (anchor_entry, anchor, outcome) = parse_result(source, result)?;
                if let Some(first) = result_paths.get(&anchor) {
                    return Err(source.error(
                        &anchor_entry.value.span(),
                        &anchor_entry.path,
                        format!(
                            "anchor {:?} already has a result at {first}: give one result per \
                             object",
                            anchor.as_str()
                        ),
                    ));
                }
                result_paths.insert(anchor.clone(), result.path.clone());
                results.insert(anchor, outcome);
            }
            Ok(Step::Export {
                partition,
                enqueue,
                results,
                fault,
            })
        }
        StepKind::Admin => {
            table.allow_only(source, ADMIN_STEP_KEYS, |key| misplaced(key, kind_text))?;
            let partition = match table.get("partition") {
                Some(entry) => Some(PartitionName(
                    non_empty(
                        source,
                        entry,
                        "a partition name, e.g. partition = \"people\"",
                    )?
                    .to_owned(),
                )),
                None => None,
            };
            let actions = AdminAction::ALL.map(AdminAction::as_str);
            let action = table.required(
                source,
                "action",
                &one_of("what the administrator did", &actions),
            )?;
            let action = named(source, action, "action", actions)?;
            Ok(Step::Admin { partition, action })
        }
    }
}

/// The message for a key that is valid on another kind of step, or `None` for an unknown key.
fn misplaced(key: &str, kind: &str) -> Option<String> {
    match key {
        "page" => Some(format!(
            "`page` is only for import steps (kind = \"full-import\" or \"delta-import\"), not \
             for kind = \"{kind}\""
        )),
        "enqueue" | "results" => Some(format!(
            "`{key}` is only for export steps (kind = \"export\"), not for kind = \"{kind}\""
        )),
        "action" => Some(format!(
            "`action` is only for admin steps (kind = \"admin\"), not for kind = \"{kind}\""
        )),
        "fault" | "message" if kind == "admin" => Some(format!(
            "`{key}` is only for export steps and import pages; an admin step is an \
             administrator's action, not a run"
        )),
        "fault" | "message" => Some(format!(
            "`{key}` does not go on an import step: put it on the [[step.page]] that the \
             connector fails instead of returning"
        )),
        _ => None,
    }
}

fn partition(source: &Source<'_>, table: &Table<'_, '_>) -> Result<PartitionName, ScenarioError> {
    Ok(match table.get("partition") {
        Some(entry) => PartitionName(
            non_empty(
                source,
                entry,
                "a partition name, e.g. partition = \"people\"",
            )?
            .to_owned(),
        ),
        None => PartitionName::from("default"),
    })
}

/// `fault` and its `message`, on an import page or an export step.
pub(super) fn fault(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<Option<Fault>, ScenarioError> {
    let Some(entry) = table.get("fault") else {
        if let Some(message) = table.get("message") {
            return Err(source.error(
                &message.key_span,
                &message.path,
                "`message` goes with `fault` (what the connector said when it failed), and \
                 there is no `fault` here: add one or remove `message`",
            ));
        }
        return Ok(None);
    };
    let kind: FaultKind = named(
        source,
        entry,
        "fault",
        FaultKind::ALL.map(FaultKind::as_str),
    )?;
    let message = match table.get("message") {
        Some(message) => string(
            source,
            message.value,
            &message.path,
            "the connector's message",
        )?
        .to_owned(),
        None => kind.as_str().to_owned(),
    };
    Ok(Some(Fault { kind, message }))
}
