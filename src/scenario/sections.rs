//! The sections of a scenario, one parser each: the connector and its settings, the steps, an
//! import's pages with their objects and errors, an export's queued changes and results, and
//! attribute tables. Each says which keys its table may hold and what they mean; the names of the
//! SPEC vocabulary (kinds, errors, faults, results, actions) come from the core's enums.

use super::walker::{
    array_of_tables, choice, count, non_empty, string, table, type_name, Entry, Source, Table,
};
use super::ScenarioError;
use crate::core::{
    AdminAction, Anchor, AttributeValue, Attributes, ChangeKind, ConnectorName, DeletionThreshold,
    DiscoveryError, ExportChange, ExportChangeKind, ExportOutcome, ExportOutcomeKind,
    FatalImportError, FatalImportErrorKind, Fault, FaultKind, ObjectChange, ObjectErrorKind, Page,
    PartitionName, RunKind, Settings, Watermark,
};
use crate::script::{ImportPage, Script, Step};
use std::collections::BTreeMap;
use std::str::FromStr;
use toml::de::DeValue;

// The keys each table may hold (SPEC §7), in the order messages list them.

const ROOT_KEYS: &[&str] = &["connector", "step"];
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
const PAGE_KEYS: &[&str] = &["watermark", "objects", "errors", "fault", "message"];
const OBJECT_KEYS: &[&str] = &["anchor", "change", "attrs"];
const ERROR_KEYS: &[&str] = &["anchor", "error", "name", "description"];
const ENQUEUE_KEYS: &[&str] = &["anchor", "change", "attrs", "refs"];
const RESULT_KEYS: &[&str] = &["anchor", "result", "parent", "name", "description"];

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

/// An import page's `error`: an object error or a fatal one, two vocabularies of the core.
#[derive(Clone, Copy)]
enum ImportErrorKind {
    Object(ObjectErrorKind),
    Fatal(FatalImportErrorKind),
}

/// The import errors as messages list them: the object errors, then the fatal ones.
fn import_error_names() -> Vec<&'static str> {
    let object = ObjectErrorKind::ALL.map(ObjectErrorKind::as_str);
    let fatal = FatalImportErrorKind::ALL.map(FatalImportErrorKind::as_str);
    object.into_iter().chain(fatal).collect()
}

fn import_error_kind(name: &str) -> Option<ImportErrorKind> {
    name.parse()
        .map(ImportErrorKind::Object)
        .or_else(|_| name.parse().map(ImportErrorKind::Fatal))
        .ok()
}

/// `choice` over one vocabulary of the core: its `ALL` names, read by its `FromStr`.
fn named<T: FromStr, const N: usize>(
    source: &Source<'_>,
    entry: &Entry<'_, '_>,
    what: &str,
    names: [&str; N],
) -> Result<T, ScenarioError> {
    choice(source, entry, what, &names, |text| text.parse().ok())
}

/// What a required key holds, followed by the names it may take.
fn one_of(what: &str, names: &[&str]) -> String {
    format!("{what} (expected one of: {})", names.join(", "))
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
    if let Some(entry) = root.get("step") {
        let tables = array_of_tables(
            source,
            entry.value,
            &entry.path,
            "write [[step]] (double brackets) before each step",
        )?;
        for table in &tables {
            step_lines.push(source.locate(table.span.start).0);
            steps.push(parse_step(source, table)?);
        }
    }
    let script = Script {
        connector,
        settings,
        steps,
    };
    Ok((script, step_lines))
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
    Ok((ConnectorName(name.to_owned()), settings))
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
            if let Some(entry) = table.get("page") {
                let tables = array_of_tables(
                    source,
                    entry.value,
                    &entry.path,
                    "write [[step.page]] (double brackets) before each page",
                )?;
                for page in &tables {
                    pages.push(parse_page(source, page)?);
                }
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
            if let Some(entry) = table.get("enqueue") {
                for change in &array_of_tables(
                    source,
                    entry.value,
                    &entry.path,
                    "write enqueue = [ { anchor = \"u1\", change = \"update\", attrs = { ... } } ]",
                )? {
                    enqueue.push(parse_enqueued(source, change)?);
                }
            }
            let mut results = BTreeMap::new();
            let mut result_paths: BTreeMap<Anchor, String> = BTreeMap::new();
            if let Some(entry) = table.get("results") {
                for result in &array_of_tables(
                    source,
                    entry.value,
                    &entry.path,
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
fn fault(source: &Source<'_>, table: &Table<'_, '_>) -> Result<Option<Fault>, ScenarioError> {
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

fn parse_page(source: &Source<'_>, table: &Table<'_, '_>) -> Result<ImportPage, ScenarioError> {
    table.allow_only(source, PAGE_KEYS, |_| None)?;
    if table.get("fault").is_some() {
        if let Some(other) = table
            .entries
            .iter()
            .find(|entry| matches!(entry.name, "watermark" | "objects" | "errors"))
        {
            let key = other.name;
            return Err(source.error(
                &other.key_span,
                &other.path,
                format!(
                    "a page with `fault` is never returned (the connector fails instead), so it \
                     has no `{key}`: move `{key}` to a page of its own before this one, or \
                     remove the fault"
                ),
            ));
        }
    }
    if let Some(fault) = fault(source, table)? {
        return Ok(ImportPage::Fault(fault));
    }
    let mut page = Page::default();
    if let Some(entry) = table.get("watermark") {
        page.watermark = Some(Watermark::from_text(string(
            source,
            entry.value,
            &entry.path,
            "the watermark after this page as a string, e.g. watermark = \"B\"",
        )?));
    }
    if let Some(entry) = table.get("objects") {
        for object in &array_of_tables(
            source,
            entry.value,
            &entry.path,
            "write objects = [ { anchor = \"u1\", change = \"add\", attrs = { ... } } ]",
        )? {
            page.changes.push(parse_object(source, object)?);
        }
    }
    if let Some(entry) = table.get("errors") {
        for error in &array_of_tables(
            source,
            entry.value,
            &entry.path,
            "write errors = [ { anchor = \"u2\", error = \"custom-continue-run\" } ]",
        )? {
            match parse_import_error(source, error)? {
                ParsedImportError::Object(discovery) => page.errors.push(discovery),
                ParsedImportError::Fatal(fatal) => page.fatal_errors.push(fatal),
            }
        }
    }
    Ok(ImportPage::Page(page))
}

fn parse_object(source: &Source<'_>, table: &Table<'_, '_>) -> Result<ObjectChange, ScenarioError> {
    table.allow_only(source, OBJECT_KEYS, |_| None)?;
    let anchor = table.required(
        source,
        "anchor",
        "the object's anchor, e.g. anchor = \"u1\"",
    )?;
    let anchor = anchor_of(source, anchor)?;
    let kind = match table.get("change") {
        Some(entry) => named(
            source,
            entry,
            "change",
            ChangeKind::ALL.map(ChangeKind::as_str),
        )?,
        None => ChangeKind::Add,
    };
    let attributes = match table.get("attrs") {
        Some(entry) if kind == ChangeKind::Delete => {
            return Err(source.error(
                &entry.key_span,
                &entry.path,
                "a delete carries no attributes (the object is gone from the source): remove \
                 `attrs`, or use change = \"update\"",
            ));
        }
        Some(entry) => parse_attributes(source, entry)?,
        None => Attributes::new(),
    };
    Ok(ObjectChange {
        anchor,
        kind,
        attributes,
    })
}

enum ParsedImportError {
    Object(DiscoveryError),
    Fatal(FatalImportError),
}

fn parse_import_error(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<ParsedImportError, ScenarioError> {
    table.allow_only(source, ERROR_KEYS, |_| None)?;
    let errors = import_error_names();
    let error_entry = table.required(source, "error", &one_of("which error", &errors))?;
    let kind = choice(source, error_entry, "error", &errors, import_error_kind)?;
    let description = match table.get("description") {
        Some(entry) => string(source, entry.value, &entry.path, "the error's description")?,
        None => "",
    };
    match kind {
        ImportErrorKind::Object(kind) => {
            let anchor = table.required(
                source,
                "anchor",
                "the object that failed, e.g. anchor = \"u2\"",
            )?;
            let anchor = anchor_of(source, anchor)?;
            let name = error_name(source, table, kind.as_str())?;
            Ok(ParsedImportError::Object(DiscoveryError {
                anchor,
                kind,
                name,
                description: description.to_owned(),
            }))
        }
        ImportErrorKind::Fatal(kind) => {
            let anchor = match table.get("anchor") {
                Some(entry) => Some(anchor_of(source, entry)?),
                None => None,
            };
            // A fatal import error has no name of its own: its kind is its code (SPEC §7).
            if let Some(name) = table.get("name") {
                string(source, name.value, &name.path, "an error name")?;
            }
            Ok(ParsedImportError::Fatal(FatalImportError {
                anchor,
                kind,
                description: description.to_owned(),
            }))
        }
    }
}

/// An object error's `name`: given and not empty, or the error kind itself.
fn error_name(
    source: &Source<'_>,
    table: &Table<'_, '_>,
    default: &str,
) -> Result<String, ScenarioError> {
    match table.get("name") {
        Some(entry) => {
            let name = string(
                source,
                entry.value,
                &entry.path,
                "a short dash-separated name",
            )?;
            if name.is_empty() {
                return Err(source.error(
                    &entry.value.span(),
                    &entry.path,
                    format!(
                        "an error name cannot be empty: give a short dash-separated name such as \
                         \"invalid-characters-error\", or leave `name` out to use {default:?}"
                    ),
                ));
            }
            Ok(name.to_owned())
        }
        None => Ok(default.to_owned()),
    }
}

fn parse_enqueued(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<ExportChange, ScenarioError> {
    table.allow_only(source, ENQUEUE_KEYS, |_| None)?;
    let anchor = table.required(
        source,
        "anchor",
        "the object to export, e.g. anchor = \"u1\"",
    )?;
    let anchor = anchor_of(source, anchor)?;
    let kind = match table.get("change") {
        Some(entry) => named(
            source,
            entry,
            "change",
            ExportChangeKind::ALL.map(ExportChangeKind::as_str),
        )?,
        None => ExportChangeKind::Add,
    };
    for key in ["attrs", "refs"] {
        let Some(entry) = table.get(key) else {
            continue;
        };
        let refused = match (kind, key) {
            (ExportChangeKind::Delete, _) => Some(format!(
                "a delete carries no attributes: remove `{key}`, or use change = \"update\""
            )),
            (ExportChangeKind::References, "attrs") => Some(
                "a references change carries reference attributes only: move these to `refs`, \
                 or use change = \"update\""
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(message) = refused {
            return Err(source.error(&entry.key_span, &entry.path, message));
        }
    }
    let attributes = match table.get("attrs") {
        Some(entry) => parse_attributes(source, entry)?,
        None => Attributes::new(),
    };
    let references = match table.get("refs") {
        Some(entry) => parse_attributes(source, entry)?,
        None => Attributes::new(),
    };
    Ok(ExportChange {
        anchor,
        kind,
        attributes,
        references,
    })
}

fn parse_result<'t, 'a, 'i>(
    source: &Source<'_>,
    table: &'t Table<'a, 'i>,
) -> Result<(&'t Entry<'a, 'i>, Anchor, ExportOutcome), ScenarioError> {
    table.allow_only(source, RESULT_KEYS, |_| None)?;
    let anchor_entry = table.required(
        source,
        "anchor",
        "the exported object this result is for, e.g. anchor = \"u1\"",
    )?;
    let anchor = anchor_of(source, anchor_entry)?;
    let results = ExportOutcomeKind::ALL.map(ExportOutcomeKind::as_str);
    let result = table.required(
        source,
        "result",
        &one_of("the connector's answer", &results),
    )?;
    let kind: ExportOutcomeKind = named(source, result, "result", results)?;
    let result_text = string(source, result.value, &result.path, "a result")?;

    if kind != ExportOutcomeKind::ProvisioningParent {
        if let Some(parent) = table.get("parent") {
            return Err(source.error(
                &parent.key_span,
                &parent.path,
                format!(
                    "`parent` only goes with result = \"provisioning-parent\", not with \
                     {result_text:?}: remove it"
                ),
            ));
        }
    }
    if !matches!(
        kind,
        ExportOutcomeKind::CustomContinueRun | ExportOutcomeKind::CustomStopRun
    ) {
        if let Some(entry) = table
            .entries
            .iter()
            .find(|entry| matches!(entry.name, "name" | "description"))
        {
            return Err(source.error(
                &entry.key_span,
                &entry.path,
                format!(
                    "`{}` only goes with the error results custom-continue-run and \
                     custom-stop-run, not with {result_text:?}: remove it",
                    entry.name
                ),
            ));
        }
    }
    let description = || -> Result<String, ScenarioError> {
        Ok(match table.get("description") {
            Some(entry) => {
                string(source, entry.value, &entry.path, "the error's description")?.to_owned()
            }
            None => String::new(),
        })
    };
    let outcome = match kind {
        ExportOutcomeKind::Success => ExportOutcome::Success,
        ExportOutcomeKind::CustomContinueRun => ExportOutcome::CustomContinueRun {
            name: error_name(source, table, result_text)?,
            description: description()?,
        },
        ExportOutcomeKind::CustomStopRun => ExportOutcome::CustomStopRun {
            name: error_name(source, table, result_text)?,
            description: description()?,
        },
        ExportOutcomeKind::ConvertUpdateToAdd => ExportOutcome::ConvertUpdateToAdd,
        ExportOutcomeKind::RetryReferenceAttribute => ExportOutcome::RetryReferenceAttribute,
        ExportOutcomeKind::ProvisioningParent => {
            let parent_entry = table.required(
                source,
                "parent",
                "provisioning-parent names the missing parent container, e.g. \
                 parent = \"ou=sales\"",
            )?;
            let parent = anchor_of(source, parent_entry)?;
            if parent == anchor {
                return Err(source.error(
                    &parent_entry.value.span(),
                    &parent_entry.path,
                    format!(
                        "{:?} names itself as its own parent: the parent is the missing \
                         container above the object, e.g. \"ou=sales\"",
                        parent.as_str()
                    ),
                ));
            }
            ExportOutcome::ProvisioningParent { parent }
        }
    };
    Ok((anchor_entry, anchor, outcome))
}

fn parse_attributes(
    source: &Source<'_>,
    entry: &Entry<'_, '_>,
) -> Result<Attributes, ScenarioError> {
    let table = table(
        source,
        entry.value,
        &entry.path,
        "write a table of attribute name -> string or list of strings, e.g. \
         { mail = \"u1@example.org\", groups = [\"a\", \"b\"] }",
    )?;
    let mut attributes = Attributes::new();
    for attribute in &table.entries {
        if attribute.name.is_empty() {
            return Err(source.error(
                &attribute.key_span,
                &attribute.path,
                "an attribute needs a name",
            ));
        }
        let value = match attribute.value.get_ref() {
            DeValue::String(text) => AttributeValue::Single(text.to_string()),
            DeValue::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let path = format!("{}[{index}]", attribute.path);
                    values.push(
                        string(
                            source,
                            item,
                            &path,
                            "a string (a multi-valued attribute is a list of strings)",
                        )?
                        .to_owned(),
                    );
                }
                AttributeValue::Multi(values)
            }
            other => {
                return Err(source.error(
                    &attribute.value.span(),
                    &attribute.path,
                    format!(
                        "expected a string or a list of strings, found {}",
                        type_name(other)
                    ),
                ))
            }
        };
        attributes.0.insert(attribute.name.to_owned(), value);
    }
    Ok(attributes)
}

/// An anchor: a string naming an object, so not empty.
fn anchor_of(source: &Source<'_>, entry: &Entry<'_, '_>) -> Result<Anchor, ScenarioError> {
    let text = string(source, entry.value, &entry.path, "an anchor such as \"u1\"")?;
    if text.is_empty() {
        return Err(source.error(
            &entry.value.span(),
            &entry.path,
            "an empty anchor names no object: give the object's anchor, e.g. \"u1\"",
        ));
    }
    Ok(Anchor(text.to_owned()))
}
