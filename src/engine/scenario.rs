//! Scenario files: a TOML script of what a connector returns, run by run, parsed and validated
//! into a [`Script`] that the core's [`Player`](crate::script::Player) and the engine play.
//!
//! The format is the contract of SPEC.md §7; its key names are a public interface. In brief:
//!
//! ```toml
//! [connector]
//! name = "hr"                   # required
//! retry_count = 3               # optional settings, defaults below
//! deletion_threshold = "20%"    # a count such as 500, or a percentage "0%".."100%"
//!
//! [[step]]                      # one per step, played in order
//! kind = "delta-import"         # full-import | delta-import | export | admin
//! partition = "people"
//!   [[step.page]]               # import steps only: what the connector returns, page by page
//!   watermark = "B"
//!   objects = [ { anchor = "u1", change = "add", attrs = { mail = "u1@example.org" } } ]
//!   errors  = [ { anchor = "u2", error = "custom-continue-run", name = "invalid-characters-error",
//!                 description = "..." } ]
//!   [[step.page]]
//!   fault = "server-down"       # the connector fails instead of returning this page
//!
//! [[step]]
//! kind = "export"
//! enqueue = [ { anchor = "u1", change = "update", attrs = { title = "lead" }, refs = { manager = "u9" } } ]
//! results = [ { anchor = "u1", result = "retry-reference-attribute" } ]
//!
//! [[step]]
//! kind = "admin"
//! action = "enable"             # credentials-updated | enable | resume | approve-obsoletion
//! ```
//!
//! Every key of SPEC §7 is accepted exactly as written there; no other key is (a misspelt key is an
//! error, never silently ignored). Where SPEC §7 is silent, these are the defaults:
//!
//! - **Settings** not given keep [`Settings::default`]: `retry_count` 3, `max_errors` 5000,
//!   `max_warnings` 100000, `snapshot_limit` 10000, `stuck_after` 3, `deletion_threshold` 500.
//!   Numbers are whole and not negative; `retry_count` and `stuck_after` count runs and are at
//!   least 1.
//! - **`partition`** defaults to `"default"` on import and export steps. On an admin step an absent
//!   partition means the connector as a whole (SPEC §7).
//! - **`change`** defaults to `"add"`, both for an imported object (`add` | `update` | `delete`) and
//!   for a queued export (`add` | `update` | `delete` | `references`). A `delete` carries no `attrs`
//!   (nor `refs`); a `references` change carries `refs` only.
//! - **`attrs` / `refs`**: a string is a single-valued attribute, a list of strings a multi-valued
//!   one, in the order given.
//! - **Object errors** (`custom-continue-run`, `custom-stop-run`) need an `anchor`; `name` defaults to
//!   the error kind itself and `description` to `""`. **Fatal import errors** (`import-parse-error`,
//!   `import-read-error`): any number per page (a corrupted change log can hold several unreadable
//!   entries; each is recorded and counted), `anchor` optional (the object being read, when known), `name` accepted and ignored, `description` defaulting to `""`.
//! - A page with **`fault`** is not returned at all, so it has no `watermark`, `objects` or `errors`;
//!   `message` (the connector's own words) defaults to the fault's name. An export step's `fault`
//!   fails the export as a whole before anything is sent, so it has no `results`.
//! - **Export `results`**: objects not named succeed; one result per anchor; `parent` is required for
//!   `provisioning-parent` (and differs from the anchor), refused elsewhere; `name` / `description`
//!   only go with the `custom-*` results and default as for object errors.
//! - An import step may have no pages (the connector returned nothing); a scenario may have no steps.
//!
//! A [`ScenarioError`] names the file, the line and column, the key as a dotted path with 0-based
//! indices (`step[3].page[2].errors[0].error`), what is wrong and what was expected.

use crate::core::{
    AdminAction, Anchor, AttributeValue, Attributes, ChangeKind, ConnectorName, DeletionThreshold,
    DiscoveryError, ExportChange, ExportChangeKind, ExportOutcome, FatalImportError,
    FatalImportErrorKind, Fault, FaultKind, ObjectChange, ObjectErrorKind, Page, PartitionName,
    RunKind, Settings, Watermark,
};
use crate::script::{ImportPage, Script, Step};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The largest scenario accepted, in bytes: a scenario is a hand-written or generated test story,
/// and a bound keeps a wrong file (a log, a dump) from being read whole into memory.
pub const SCENARIO_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A parsed and validated scenario: the script to play and where each step came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The connector, its settings and the steps, ready to play.
    pub script: Script,
    /// The file name as the caller gave it, for messages.
    pub source: String,
    /// The 1-based line of each `[[step]]` header, in the order of `script.steps`.
    pub step_lines: Vec<usize>,
}

/// Why a scenario was refused: where, which key, what is wrong and what was expected.
///
/// Displays as `FILE:LINE:COLUMN: KEY: MESSAGE`, leaving out what is not known (an unreadable file
/// has no line; a TOML syntax error has no key).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The file name as given.
    pub file: String,
    /// 1-based line, when the problem has a place in the text.
    pub line: Option<usize>,
    /// 1-based column (in characters), with the line.
    pub column: Option<usize>,
    /// The key as a dotted path with 0-based indices, e.g. `step[3].page[2].errors[0].error`.
    pub key: Option<String>,
    /// What is wrong, and what was expected or how to fix it.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Reads and parses a scenario file. The file name in messages is `path` as given.
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    let name = path.display().to_string();
    let unreadable = |message: String| ScenarioError {
        file: name.clone(),
        line: None,
        column: None,
        key: None,
        message,
    };
    let file = std::fs::File::open(path)
        .map_err(|error| unreadable(format!("cannot open the scenario file: {error}")))?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file at the limit from one over it.
    let limit = u64::try_from(SCENARIO_BYTES_MAX)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|error| unreadable(format!("cannot read the scenario file: {error}")))?;
    if bytes.len() > SCENARIO_BYTES_MAX {
        return Err(unreadable(too_large_message()));
    }
    let text = String::from_utf8(bytes).map_err(|error| {
        unreadable(format!(
            "the scenario file is not UTF-8 text (byte {} is not valid); save it as UTF-8 TOML",
            error.utf8_error().valid_up_to()
        ))
    })?;
    parse_scenario(&name, &text)
}

/// Parses scenario TOML `text`; `source_name` names the file in messages.
pub fn parse_scenario(source_name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let source = Source::new(source_name, text);
    if text.len() > SCENARIO_BYTES_MAX {
        return Err(ScenarioError {
            file: source_name.to_owned(),
            line: None,
            column: None,
            key: None,
            message: too_large_message(),
        });
    }
    let document = DeTable::parse(text).map_err(|error| source.syntax_error(&error))?;
    let root = Table::new(document.get_ref(), document.span(), String::new());
    root.allow_only(&source, ROOT_KEYS, |_| None)?;

    let Some(connector_entry) = root.get("connector") else {
        return Err(source.error(
            &(0..0),
            "connector",
            "missing table [connector]: every scenario names its connector, \
             e.g. [connector] with name = \"hr\" on the next line",
        ));
    };
    let (connector, settings) = parse_connector(&source, connector_entry)?;

    let mut steps = Vec::new();
    let mut step_lines = Vec::new();
    if let Some(entry) = root.get("step") {
        let tables = array_of_tables(
            &source,
            entry.value,
            &entry.path,
            "write [[step]] (double brackets) before each step",
        )?;
        for table in &tables {
            step_lines.push(source.locate(table.span.start).0);
            steps.push(parse_step(&source, table)?);
        }
    }
    Ok(Scenario {
        script: Script {
            connector,
            settings,
            steps,
        },
        source: source_name.to_owned(),
        step_lines,
    })
}

fn too_large_message() -> String {
    format!("the scenario is larger than {SCENARIO_BYTES_MAX} bytes; split it into several files")
}

// ---------------------------------------------------------------------------------------------
// Keys and vocabularies (SPEC §7). The option lists are in SPEC order, which is how messages
// list them.

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

#[derive(Clone, Copy)]
enum StepKind {
    Import(RunKind),
    Export,
    Admin,
}

const STEP_KINDS: &[(&str, StepKind)] = &[
    ("full-import", StepKind::Import(RunKind::FullImport)),
    ("delta-import", StepKind::Import(RunKind::DeltaImport)),
    ("export", StepKind::Export),
    ("admin", StepKind::Admin),
];

const CHANGES: &[(&str, ChangeKind)] = &[
    ("add", ChangeKind::Add),
    ("update", ChangeKind::Update),
    ("delete", ChangeKind::Delete),
];

const EXPORT_CHANGES: &[(&str, ExportChangeKind)] = &[
    ("add", ExportChangeKind::Add),
    ("update", ExportChangeKind::Update),
    ("delete", ExportChangeKind::Delete),
    ("references", ExportChangeKind::References),
];

#[derive(Clone, Copy)]
enum ImportErrorKind {
    Object(ObjectErrorKind),
    Fatal(FatalImportErrorKind),
}

const IMPORT_ERRORS: &[(&str, ImportErrorKind)] = &[
    (
        "custom-continue-run",
        ImportErrorKind::Object(ObjectErrorKind::CustomContinueRun),
    ),
    (
        "custom-stop-run",
        ImportErrorKind::Object(ObjectErrorKind::CustomStopRun),
    ),
    (
        "import-parse-error",
        ImportErrorKind::Fatal(FatalImportErrorKind::ImportParseError),
    ),
    (
        "import-read-error",
        ImportErrorKind::Fatal(FatalImportErrorKind::ImportReadError),
    ),
];

const FAULTS: &[(&str, FaultKind)] = &[
    ("server-down", FaultKind::ServerDown),
    ("failed-connection", FaultKind::FailedConnection),
    ("dropped-connection", FaultKind::DroppedConnection),
    ("bad-credentials", FaultKind::BadCredentials),
    ("oauth-token-expired", FaultKind::OauthTokenExpired),
    ("watermark-expired", FaultKind::WatermarkExpired),
    ("connector-exception", FaultKind::ConnectorException),
];

#[derive(Clone, Copy)]
enum ResultKind {
    Success,
    CustomContinueRun,
    CustomStopRun,
    ConvertUpdateToAdd,
    ProvisioningParent,
    RetryReferenceAttribute,
}

const RESULTS: &[(&str, ResultKind)] = &[
    ("success", ResultKind::Success),
    ("custom-continue-run", ResultKind::CustomContinueRun),
    ("custom-stop-run", ResultKind::CustomStopRun),
    ("convert-update-to-add", ResultKind::ConvertUpdateToAdd),
    ("provisioning-parent", ResultKind::ProvisioningParent),
    (
        "retry-reference-attribute",
        ResultKind::RetryReferenceAttribute,
    ),
];

const ACTIONS: &[(&str, AdminAction)] = &[
    ("credentials-updated", AdminAction::CredentialsUpdated),
    ("enable", AdminAction::Enable),
    ("resume", AdminAction::Resume),
    ("approve-obsoletion", AdminAction::ApproveObsoletion),
];

// ---------------------------------------------------------------------------------------------
// The sections of a scenario.

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
    let kind_entry = table.required(
        source,
        "kind",
        "what the step is (expected one of: full-import, delta-import, export, admin)",
    )?;
    let kind = choice(source, kind_entry, "step kind", STEP_KINDS)?;
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
            let action = table.required(
                source,
                "action",
                "what the administrator did (expected one of: credentials-updated, enable, \
                 resume, approve-obsoletion)",
            )?;
            let action = choice(source, action, "action", ACTIONS)?;
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
    let kind = choice(source, entry, "fault", FAULTS)?;
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
        Some(entry) => choice(source, entry, "change", CHANGES)?,
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
    let error_entry = table.required(
        source,
        "error",
        "which error (expected one of: custom-continue-run, custom-stop-run, \
         import-parse-error, import-read-error)",
    )?;
    let kind = choice(source, error_entry, "error", IMPORT_ERRORS)?;
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
        Some(entry) => choice(source, entry, "change", EXPORT_CHANGES)?,
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
    let result = table.required(
        source,
        "result",
        "the connector's answer (expected one of: success, custom-continue-run, \
         custom-stop-run, convert-update-to-add, provisioning-parent, retry-reference-attribute)",
    )?;
    let kind = choice(source, result, "result", RESULTS)?;
    let result_text = string(source, result.value, &result.path, "a result")?;

    if !matches!(kind, ResultKind::ProvisioningParent) {
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
        ResultKind::CustomContinueRun | ResultKind::CustomStopRun
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
        ResultKind::Success => ExportOutcome::Success,
        ResultKind::CustomContinueRun => ExportOutcome::CustomContinueRun {
            name: error_name(source, table, result_text)?,
            description: description()?,
        },
        ResultKind::CustomStopRun => ExportOutcome::CustomStopRun {
            name: error_name(source, table, result_text)?,
            description: description()?,
        },
        ResultKind::ConvertUpdateToAdd => ExportOutcome::ConvertUpdateToAdd,
        ResultKind::RetryReferenceAttribute => ExportOutcome::RetryReferenceAttribute,
        ResultKind::ProvisioningParent => {
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

// ---------------------------------------------------------------------------------------------
// Typed access to the spanned TOML tree, every error placed at a span and a key path.

/// The scenario text and where its lines start, to turn byte offsets into line and column.
struct Source<'t> {
    file: &'t str,
    text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Source<'t> {
    fn new(file: &'t str, text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(index, _)| index + 1))
            .collect();
        Source {
            file,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn locate(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_index = self
            .line_starts
            .partition_point(|start| *start <= offset)
            .saturating_sub(1);
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0);
        let column = self
            .text
            .get(line_start..)
            .unwrap_or("")
            .char_indices()
            .take_while(|(index, _)| line_start + index < offset)
            .count();
        (line_index + 1, column + 1)
    }

    fn error(&self, span: &Range<usize>, key: &str, message: impl Into<String>) -> ScenarioError {
        let (line, column) = self.locate(span.start);
        ScenarioError {
            file: self.file.to_owned(),
            line: Some(line),
            column: Some(column),
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    fn syntax_error(&self, error: &toml::de::Error) -> ScenarioError {
        let (line, column) = match error.span() {
            Some(span) => {
                let (line, column) = self.locate(span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ScenarioError {
            file: self.file.to_owned(),
            line,
            column,
            key: None,
            message: format!("TOML syntax error: {}", error.message().trim_end()),
        }
    }
}

/// One key of a table: its name, where the key is written, its value and its dotted path.
struct Entry<'a, 'i> {
    name: &'a str,
    key_span: Range<usize>,
    value: &'a Spanned<DeValue<'i>>,
    path: String,
}

/// A table's entries in the order they appear in the file, so the first problem is reported.
struct Table<'a, 'i> {
    span: Range<usize>,
    path: String,
    entries: Vec<Entry<'a, 'i>>,
}

impl<'a, 'i> Table<'a, 'i> {
    fn new(table: &'a DeTable<'i>, span: Range<usize>, path: String) -> Self {
        let mut entries: Vec<Entry<'a, 'i>> = table
            .iter()
            .map(|(key, value)| Entry {
                name: key.get_ref().as_ref(),
                key_span: key.span(),
                value,
                path: child_path(&path, key.get_ref()),
            })
            .collect();
        entries.sort_by_key(|entry| entry.key_span.start);
        Table {
            span,
            path,
            entries,
        }
    }

    fn get(&self, name: &str) -> Option<&Entry<'a, 'i>> {
        self.entries.iter().find(|entry| entry.name == name)
    }

    /// Refuses the first key not in `allowed`, with `misplaced`'s message when it has one.
    fn allow_only(
        &self,
        source: &Source<'_>,
        allowed: &[&str],
        misplaced: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ScenarioError> {
        match self
            .entries
            .iter()
            .find(|entry| !allowed.contains(&entry.name))
        {
            Some(entry) => Err(source.error(
                &entry.key_span,
                &entry.path,
                misplaced(entry.name).unwrap_or_else(|| {
                    format!(
                        "unknown key {:?} (expected one of: {})",
                        entry.name,
                        allowed.join(", ")
                    )
                }),
            )),
            None => Ok(()),
        }
    }

    fn required(
        &self,
        source: &Source<'_>,
        name: &str,
        what: &str,
    ) -> Result<&Entry<'a, 'i>, ScenarioError> {
        self.get(name).ok_or_else(|| {
            source.error(
                &self.span,
                &child_path(&self.path, name),
                format!("missing key `{name}`: {what}"),
            )
        })
    }
}

/// `parent.name`, quoting a name that is not a bare TOML key.
fn child_path(parent: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let name = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn table<'a, 'i>(
    source: &Source<'_>,
    value: &'a Spanned<DeValue<'i>>,
    path: &str,
    how: &str,
) -> Result<Table<'a, 'i>, ScenarioError> {
    match value.get_ref() {
        DeValue::Table(table) => Ok(Table::new(table, value.span(), path.to_owned())),
        other => Err(source.error(
            &value.span(),
            path,
            format!("expected a table, found {} ({how})", type_name(other)),
        )),
    }
}

fn array_of_tables<'a, 'i>(
    source: &Source<'_>,
    value: &'a Spanned<DeValue<'i>>,
    path: &str,
    how: &str,
) -> Result<Vec<Table<'a, 'i>>, ScenarioError> {
    let DeValue::Array(items) = value.get_ref() else {
        return Err(source.error(
            &value.span(),
            path,
            format!(
                "expected an array of tables, found {} ({how})",
                type_name(value.get_ref())
            ),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| table(source, item, &format!("{path}[{index}]"), how))
        .collect()
}

fn string<'a>(
    source: &Source<'_>,
    value: &'a Spanned<DeValue<'_>>,
    path: &str,
    what: &str,
) -> Result<&'a str, ScenarioError> {
    match value.get_ref() {
        DeValue::String(text) => Ok(text.as_ref()),
        other => Err(source.error(
            &value.span(),
            path,
            format!("expected a string ({what}), found {}", type_name(other)),
        )),
    }
}

fn non_empty<'a>(
    source: &Source<'_>,
    entry: &Entry<'a, '_>,
    what: &str,
) -> Result<&'a str, ScenarioError> {
    let text = string(source, entry.value, &entry.path, what)?;
    if text.is_empty() {
        return Err(source.error(
            &entry.value.span(),
            &entry.path,
            format!("must not be empty (expected {what})"),
        ));
    }
    Ok(text)
}

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

/// A whole number, not negative.
fn count(
    source: &Source<'_>,
    value: &Spanned<DeValue<'_>>,
    path: &str,
    what: &str,
) -> Result<u64, ScenarioError> {
    let DeValue::Integer(integer) = value.get_ref() else {
        return Err(source.error(
            &value.span(),
            path,
            format!(
                "expected a whole number ({what}), found {}",
                type_name(value.get_ref())
            ),
        ));
    };
    let text = integer.as_str();
    if text.starts_with('-') && text.trim_start_matches(['-', '0']).is_empty() {
        return Ok(0);
    }
    if text.starts_with('-') {
        return Err(source.error(
            &value.span(),
            path,
            format!("must not be negative (got {text}; expected {what}, 0 or more)"),
        ));
    }
    u64::from_str_radix(text.trim_start_matches('+'), integer.radix()).map_err(|_| {
        source.error(
            &value.span(),
            path,
            format!("{text} is too large (at most {})", u64::MAX),
        )
    })
}

/// A string naming one of `options`.
fn choice<T: Copy>(
    source: &Source<'_>,
    entry: &Entry<'_, '_>,
    what: &str,
    options: &[(&str, T)],
) -> Result<T, ScenarioError> {
    let names = options
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    let text = string(
        source,
        entry.value,
        &entry.path,
        &format!("one of: {names}"),
    )?;
    options
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            source.error(
                &entry.value.span(),
                &entry.path,
                format!("unknown {what} {text:?} (expected one of: {names})"),
            )
        })
}

#[cfg(test)]
mod tests {
    //! The parser maps every SPEC §7 key to the script it means (one scenario using every key),
    //! refuses malformed scenarios with the exact line and key, and every example under
    //! `examples/` plays through the real core exactly as the `#>` lines of its comment say.

    use super::*;
    use crate::core::{Actor, Event, RefusalCause, RunId, State, Timestamp};
    use crate::script::Player;

    fn single(value: &str) -> AttributeValue {
        AttributeValue::Single(value.to_owned())
    }

    fn attrs(pairs: &[(&str, AttributeValue)]) -> Attributes {
        Attributes(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        )
    }

    const EVERY_KEY: &str = r#"
[connector]
name = "hr"
retry_count = 4
max_errors = 10
max_warnings = 20
snapshot_limit = 30
stuck_after = 2
deletion_threshold = "20%"

[[step]]
kind = "delta-import"
partition = "people"

  [[step.page]]
  watermark = "A"
  objects = [ { anchor = "u1", change = "add", attrs = { mail = "u1@example.org", groups = ["a", "b"] } },
              { anchor = "u2", change = "update", attrs = { title = "lead" } },
              { anchor = "u3", change = "delete" },
              { anchor = "u4" } ]
  errors = [ { anchor = "u5", error = "custom-continue-run", name = "invalid-characters-error", description = "bad name" },
             { anchor = "u6", error = "custom-stop-run" },
             { anchor = "u7", error = "import-parse-error", name = "ignored", description = "log corrupt" } ]

  [[step.page]]
  errors = [ { error = "import-read-error" } ]

  [[step.page]]
  fault = "connector-exception"
  message = "NullReferenceException"

  [[step.page]]
  fault = "server-down"

[[step]]
kind = "full-import"

  [[step.page]]
  watermark = "F"

[[step]]
kind = "export"
partition = "people"
enqueue = [ { anchor = "u1", change = "update", attrs = { title = "lead" }, refs = { manager = "u9", reports = ["u2", "u3"] } },
            { anchor = "u2", change = "add" },
            { anchor = "u3", change = "delete" },
            { anchor = "u4", change = "references", refs = { manager = "u1" } },
            { anchor = "u8" } ]
results = [ { anchor = "u1", result = "retry-reference-attribute" },
            { anchor = "u2", result = "provisioning-parent", parent = "ou=sales" },
            { anchor = "u3", result = "custom-stop-run", name = "x", description = "..." },
            { anchor = "u4", result = "custom-continue-run" },
            { anchor = "u5", result = "convert-update-to-add" },
            { anchor = "u8", result = "success" } ]

[[step]]
kind = "export"
fault = "failed-connection"
message = "connection refused"

[[step]]
kind = "export"
fault = "bad-credentials"

[[step]]
kind = "admin"
action = "credentials-updated"

[[step]]
kind = "admin"
action = "enable"
partition = "people"

[[step]]
kind = "admin"
action = "resume"

[[step]]
kind = "admin"
action = "approve-obsoletion"
partition = "people"
"#;

    #[test]
    fn a_scenario_using_every_key_becomes_the_expected_script() {
        let scenario = parse_scenario("every-key.toml", EVERY_KEY).expect("valid");
        let people = PartitionName::from("people");
        let expected = Script {
            connector: ConnectorName::from("hr"),
            settings: Settings {
                retry_count: 4,
                max_errors: 10,
                max_warnings: 20,
                snapshot_limit: 30,
                stuck_after: 2,
                deletion_threshold: DeletionThreshold::Percent(20),
            },
            steps: vec![
                Step::Import {
                    partition: people.clone(),
                    kind: RunKind::DeltaImport,
                    pages: vec![
                        ImportPage::Page(Page {
                            changes: vec![
                                ObjectChange {
                                    anchor: Anchor::from("u1"),
                                    kind: ChangeKind::Add,
                                    attributes: attrs(&[
                                        ("mail", single("u1@example.org")),
                                        (
                                            "groups",
                                            AttributeValue::Multi(vec!["a".into(), "b".into()]),
                                        ),
                                    ]),
                                },
                                ObjectChange {
                                    anchor: Anchor::from("u2"),
                                    kind: ChangeKind::Update,
                                    attributes: attrs(&[("title", single("lead"))]),
                                },
                                ObjectChange {
                                    anchor: Anchor::from("u3"),
                                    kind: ChangeKind::Delete,
                                    attributes: Attributes::new(),
                                },
                                ObjectChange {
                                    anchor: Anchor::from("u4"),
                                    kind: ChangeKind::Add,
                                    attributes: Attributes::new(),
                                },
                            ],
                            errors: vec![
                                DiscoveryError {
                                    anchor: Anchor::from("u5"),
                                    kind: ObjectErrorKind::CustomContinueRun,
                                    name: "invalid-characters-error".into(),
                                    description: "bad name".into(),
                                },
                                DiscoveryError {
                                    anchor: Anchor::from("u6"),
                                    kind: ObjectErrorKind::CustomStopRun,
                                    name: "custom-stop-run".into(),
                                    description: String::new(),
                                },
                            ],
                            fatal_errors: vec![FatalImportError {
                                anchor: Some(Anchor::from("u7")),
                                kind: FatalImportErrorKind::ImportParseError,
                                description: "log corrupt".into(),
                            }],
                            watermark: Some(Watermark::from_text("A")),
                        }),
                        ImportPage::Page(Page {
                            fatal_errors: vec![FatalImportError {
                                anchor: None,
                                kind: FatalImportErrorKind::ImportReadError,
                                description: String::new(),
                            }],
                            ..Page::default()
                        }),
                        ImportPage::Fault(Fault {
                            kind: FaultKind::ConnectorException,
                            message: "NullReferenceException".into(),
                        }),
                        ImportPage::Fault(Fault {
                            kind: FaultKind::ServerDown,
                            message: "server-down".into(),
                        }),
                    ],
                },
                Step::Import {
                    partition: PartitionName::from("default"),
                    kind: RunKind::FullImport,
                    pages: vec![ImportPage::Page(Page {
                        watermark: Some(Watermark::from_text("F")),
                        ..Page::default()
                    })],
                },
                Step::Export {
                    partition: people.clone(),
                    enqueue: vec![
                        ExportChange {
                            anchor: Anchor::from("u1"),
                            kind: ExportChangeKind::Update,
                            attributes: attrs(&[("title", single("lead"))]),
                            references: attrs(&[
                                ("manager", single("u9")),
                                (
                                    "reports",
                                    AttributeValue::Multi(vec!["u2".into(), "u3".into()]),
                                ),
                            ]),
                        },
                        ExportChange {
                            anchor: Anchor::from("u2"),
                            kind: ExportChangeKind::Add,
                            attributes: Attributes::new(),
                            references: Attributes::new(),
                        },
                        ExportChange {
                            anchor: Anchor::from("u3"),
                            kind: ExportChangeKind::Delete,
                            attributes: Attributes::new(),
                            references: Attributes::new(),
                        },
                        ExportChange {
                            anchor: Anchor::from("u4"),
                            kind: ExportChangeKind::References,
                            attributes: Attributes::new(),
                            references: attrs(&[("manager", single("u1"))]),
                        },
                        ExportChange {
                            anchor: Anchor::from("u8"),
                            kind: ExportChangeKind::Add,
                            attributes: Attributes::new(),
                            references: Attributes::new(),
                        },
                    ],
                    results: BTreeMap::from([
                        (Anchor::from("u1"), ExportOutcome::RetryReferenceAttribute),
                        (
                            Anchor::from("u2"),
                            ExportOutcome::ProvisioningParent {
                                parent: Anchor::from("ou=sales"),
                            },
                        ),
                        (
                            Anchor::from("u3"),
                            ExportOutcome::CustomStopRun {
                                name: "x".into(),
                                description: "...".into(),
                            },
                        ),
                        (
                            Anchor::from("u4"),
                            ExportOutcome::CustomContinueRun {
                                name: "custom-continue-run".into(),
                                description: String::new(),
                            },
                        ),
                        (Anchor::from("u5"), ExportOutcome::ConvertUpdateToAdd),
                        (Anchor::from("u8"), ExportOutcome::Success),
                    ]),
                    fault: None,
                },
                Step::Export {
                    partition: PartitionName::from("default"),
                    enqueue: Vec::new(),
                    results: BTreeMap::new(),
                    fault: Some(Fault {
                        kind: FaultKind::FailedConnection,
                        message: "connection refused".into(),
                    }),
                },
                Step::Export {
                    partition: PartitionName::from("default"),
                    enqueue: Vec::new(),
                    results: BTreeMap::new(),
                    fault: Some(Fault {
                        kind: FaultKind::BadCredentials,
                        message: "bad-credentials".into(),
                    }),
                },
                Step::Admin {
                    partition: None,
                    action: AdminAction::CredentialsUpdated,
                },
                Step::Admin {
                    partition: Some(people.clone()),
                    action: AdminAction::Enable,
                },
                Step::Admin {
                    partition: None,
                    action: AdminAction::Resume,
                },
                Step::Admin {
                    partition: Some(people),
                    action: AdminAction::ApproveObsoletion,
                },
            ],
        };
        assert_eq!(scenario.script, expected);
        assert_eq!(scenario.source, "every-key.toml");
        assert_eq!(
            scenario.step_lines,
            vec![11, 35, 41, 56, 61, 65, 69, 74, 78]
        );
    }

    #[test]
    fn defaults_and_every_fault_and_a_count_threshold() {
        let mut text = String::from("[connector]\nname = \"c\"\ndeletion_threshold = 0\n");
        for (name, _) in FAULTS {
            text.push_str(&format!(
                "[[step]]\nkind = \"full-import\"\n[[step.page]]\nfault = \"{name}\"\n"
            ));
        }
        let scenario = parse_scenario("faults.toml", &text).expect("valid");
        assert_eq!(
            scenario.script.settings,
            Settings {
                deletion_threshold: DeletionThreshold::Count(0),
                ..Settings::default()
            }
        );
        let faults: Vec<FaultKind> = scenario
            .script
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Import { pages, .. } => match pages.first() {
                    Some(ImportPage::Fault(fault)) => Some(fault.kind),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(faults, FaultKind::ALL.to_vec());

        let empty = parse_scenario("empty.toml", "[connector]\nname = \"c\"\n").expect("valid");
        assert!(empty.script.steps.is_empty());
        assert_eq!(empty.script.settings, Settings::default());
        let percent = parse_scenario(
            "p.toml",
            "[connector]\nname = \"c\"\ndeletion_threshold = \"100%\"\n",
        )
        .expect("valid");
        assert_eq!(
            percent.script.settings.deletion_threshold,
            DeletionThreshold::Percent(100)
        );
    }

    /// A malformed scenario, the line and key its error must name, and a part of the message.
    struct Malformed {
        case: &'static str,
        text: &'static str,
        line: usize,
        key: Option<&'static str>,
        says: &'static str,
    }

    const MALFORMED: &[Malformed] = &[
        Malformed {
            case: "unknown key in [connector]",
            text: "[connector]\nname = \"hr\"\nretries = 3\n",
            line: 3,
            key: Some("connector.retries"),
            says: "unknown key \"retries\" (expected one of: name, retry_count,",
        },
        Malformed {
            case: "unknown key at the top",
            text: "[connector]\nname = \"hr\"\n\n[[steps]]\nkind = \"export\"\n",
            line: 4,
            key: Some("steps"),
            says: "unknown key \"steps\" (expected one of: connector, step)",
        },
        Malformed {
            case: "unknown key on a page",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"full-import\"\n  [[step.page]]\n  watermark = \"A\"\n  object = []\n",
            line: 7,
            key: Some("step[0].page[0].object"),
            says: "unknown key \"object\"",
        },
        Malformed {
            case: "bad error kind",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nerrors = [\n  { anchor = \"u1\", error = \"custom-stop\" },\n]\n",
            line: 7,
            key: Some("step[0].page[0].errors[0].error"),
            says: "unknown error \"custom-stop\" (expected one of: custom-continue-run, custom-stop-run, import-parse-error, import-read-error)",
        },
        Malformed {
            case: "bad step kind",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta\"\n",
            line: 4,
            key: Some("step[0].kind"),
            says: "unknown step kind \"delta\" (expected one of: full-import, delta-import, export, admin)",
        },
        Malformed {
            case: "bad change",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nobjects = [ { anchor = \"u1\", change = \"modify\" } ]\n",
            line: 6,
            key: Some("step[0].page[0].objects[0].change"),
            says: "unknown change \"modify\" (expected one of: add, update, delete)",
        },
        Malformed {
            case: "missing connector name",
            text: "# a comment\n[connector]\nmax_errors = 5\n",
            line: 2,
            key: Some("connector.name"),
            says: "missing key `name`",
        },
        Malformed {
            case: "missing [connector]",
            text: "[[step]]\nkind = \"export\"\n",
            line: 1,
            key: Some("connector"),
            says: "missing table [connector]",
        },
        Malformed {
            case: "empty connector name",
            text: "[connector]\nname = \"\"\n",
            line: 2,
            key: Some("connector.name"),
            says: "must not be empty",
        },
        Malformed {
            case: "fault and objects on one page",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nwatermark = \"A\"\n[[step.page]]\nfault = \"server-down\"\nobjects = [ { anchor = \"u1\" } ]\n",
            line: 9,
            key: Some("step[0].page[1].objects"),
            says: "a page with `fault` is never returned",
        },
        Malformed {
            case: "watermark before the fault on one page",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nwatermark = \"A\"\nfault = \"server-down\"\n",
            line: 6,
            key: Some("step[0].page[0].watermark"),
            says: "so it has no `watermark`",
        },
        Malformed {
            case: "message without a fault",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nmessage = \"boom\"\n",
            line: 6,
            key: Some("step[0].page[0].message"),
            says: "`message` goes with `fault`",
        },
        Malformed {
            case: "unknown fault",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nfault = \"timeout\"\n",
            line: 6,
            key: Some("step[0].page[0].fault"),
            says: "unknown fault \"timeout\" (expected one of: server-down,",
        },
        Malformed {
            case: "percentage over 100",
            text: "[connector]\nname = \"hr\"\ndeletion_threshold = \"120%\"\n",
            line: 3,
            key: Some("connector.deletion_threshold"),
            says: "\"120%\" is over 100%",
        },
        Malformed {
            case: "threshold that is no number",
            text: "[connector]\nname = \"hr\"\ndeletion_threshold = \"abc\"\n",
            line: 3,
            key: Some("connector.deletion_threshold"),
            says: "\"abc\" is not a deletion threshold (expected a number of objects such as 500, or a percentage",
        },
        Malformed {
            case: "negative threshold",
            text: "[connector]\nname = \"hr\"\ndeletion_threshold = -1\n",
            line: 3,
            key: Some("connector.deletion_threshold"),
            says: "must not be negative (got -1",
        },
        Malformed {
            case: "negative number",
            text: "[connector]\nname = \"hr\"\nmax_errors = -5\n",
            line: 3,
            key: Some("connector.max_errors"),
            says: "must not be negative (got -5",
        },
        Malformed {
            case: "float for a count",
            text: "[connector]\nname = \"hr\"\nsnapshot_limit = 1.5\n",
            line: 3,
            key: Some("connector.snapshot_limit"),
            says: "expected a whole number (a number of records), found a float",
        },
        Malformed {
            case: "zero retry_count",
            text: "[connector]\nname = \"hr\"\nretry_count = 0\n",
            line: 3,
            key: Some("connector.retry_count"),
            says: "must be at least 1",
        },
        Malformed {
            case: "retry_count over u32",
            text: "[connector]\nname = \"hr\"\nretry_count = 4294967296\n",
            line: 3,
            key: Some("connector.retry_count"),
            says: "too large",
        },
        Malformed {
            case: "provisioning-parent without parent",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nresults = [\n  { anchor = \"u3\", result = \"provisioning-parent\" },\n]\n",
            line: 6,
            key: Some("step[0].results[0].parent"),
            says: "missing key `parent`",
        },
        Malformed {
            case: "own parent",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nresults = [\n  { anchor = \"u3\", result = \"provisioning-parent\",\n    parent = \"u3\" },\n]\n",
            line: 7,
            key: Some("step[0].results[0].parent"),
            says: "names itself as its own parent",
        },
        Malformed {
            case: "parent on another result",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nresults = [ { anchor = \"u3\", result = \"success\", parent = \"ou=x\" } ]\n",
            line: 5,
            key: Some("step[0].results[0].parent"),
            says: "`parent` only goes with result = \"provisioning-parent\"",
        },
        Malformed {
            case: "name on a result that is no error",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nresults = [ { anchor = \"u3\", result = \"convert-update-to-add\", name = \"x\" } ]\n",
            line: 5,
            key: Some("step[0].results[0].name"),
            says: "`name` only goes with the error results",
        },
        Malformed {
            case: "duplicate anchors in results",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nresults = [\n  { anchor = \"u1\", result = \"success\" },\n  { anchor = \"u1\", result = \"custom-continue-run\" },\n]\n",
            line: 7,
            key: Some("step[0].results[1].anchor"),
            says: "anchor \"u1\" already has a result at step[0].results[0]",
        },
        Malformed {
            case: "result missing",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nresults = [ { anchor = \"u1\" } ]\n",
            line: 5,
            key: Some("step[0].results[0].result"),
            says: "missing key `result`",
        },
        Malformed {
            case: "results with a fault",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nfault = \"server-down\"\nresults = [ { anchor = \"u1\", result = \"success\" } ]\n",
            line: 6,
            key: Some("step[0].results"),
            says: "fails as a whole before anything is sent",
        },
        Malformed {
            case: "empty anchor",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"full-import\"\n[[step.page]]\nobjects = [ { anchor = \"\" } ]\n",
            line: 6,
            key: Some("step[0].page[0].objects[0].anchor"),
            says: "an empty anchor names no object",
        },
        Malformed {
            case: "empty anchor in enqueue",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nenqueue = [ { anchor = \"\", change = \"add\" } ]\n",
            line: 5,
            key: Some("step[0].enqueue[0].anchor"),
            says: "an empty anchor names no object",
        },
        Malformed {
            case: "object error without anchor",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"full-import\"\n[[step.page]]\nerrors = [\n { error = \"custom-continue-run\" } ]\n",
            line: 7,
            key: Some("step[0].page[0].errors[0].anchor"),
            says: "missing key `anchor`",
        },
        Malformed {
            case: "pages on an export step",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\n  [[step.page]]\n  watermark = \"A\"\n",
            line: 5,
            key: Some("step[0].page"),
            says: "`page` is only for import steps (kind = \"full-import\" or \"delta-import\"), not for kind = \"export\"",
        },
        Malformed {
            case: "pages on an admin step",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"admin\"\naction = \"enable\"\n  [[step.page]]\n",
            line: 6,
            key: Some("step[0].page"),
            says: "not for kind = \"admin\"",
        },
        Malformed {
            case: "enqueue on an import step",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\nenqueue = [ { anchor = \"u1\" } ]\n",
            line: 5,
            key: Some("step[0].enqueue"),
            says: "`enqueue` is only for export steps",
        },
        Malformed {
            case: "results on an import step",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"full-import\"\nresults = []\n",
            line: 5,
            key: Some("step[0].results"),
            says: "`results` is only for export steps",
        },
        Malformed {
            case: "fault on an import step itself",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"full-import\"\nfault = \"server-down\"\n",
            line: 5,
            key: Some("step[0].fault"),
            says: "put it on the [[step.page]]",
        },
        Malformed {
            case: "action missing on an admin step",
            text: "[connector]\nname = \"hr\"\n\n[[step]]\nkind = \"admin\"\npartition = \"people\"\n",
            line: 4,
            key: Some("step[0].action"),
            says: "missing key `action`",
        },
        Malformed {
            case: "action on an export step",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\naction = \"enable\"\n",
            line: 5,
            key: Some("step[0].action"),
            says: "`action` is only for admin steps",
        },
        Malformed {
            case: "unknown action",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"admin\"\naction = \"approve\"\n",
            line: 5,
            key: Some("step[0].action"),
            says: "unknown action \"approve\" (expected one of: credentials-updated, enable, resume, approve-obsoletion)",
        },
        Malformed {
            case: "kind missing",
            text: "[connector]\nname = \"hr\"\n[[step]]\npartition = \"people\"\n",
            line: 3,
            key: Some("step[0].kind"),
            says: "missing key `kind`",
        },
        Malformed {
            case: "a single [step] table",
            text: "[connector]\nname = \"hr\"\n[step]\nkind = \"export\"\n",
            line: 3,
            key: Some("step"),
            says: "expected an array of tables, found a table (write [[step]] (double brackets)",
        },
        Malformed {
            case: "watermark that is no string",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nwatermark = 3\n",
            line: 6,
            key: Some("step[0].page[0].watermark"),
            says: "expected a string (the watermark after this page",
        },
        Malformed {
            case: "attribute that is a number",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nobjects = [ { anchor = \"u1\", attrs = { age = 42 } } ]\n",
            line: 6,
            key: Some("step[0].page[0].objects[0].attrs.age"),
            says: "expected a string or a list of strings, found an integer",
        },
        Malformed {
            case: "multi-valued attribute with a number",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nobjects = [ { anchor = \"u1\", attrs = { \"e.mail\" = [\"a\", 2] } } ]\n",
            line: 6,
            key: Some("step[0].page[0].objects[0].attrs.\"e.mail\"[1]"),
            says: "expected a string (a string (a multi-valued attribute is a list of strings)), found an integer",
        },
        Malformed {
            case: "delete with attributes",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nobjects = [ { anchor = \"u1\", change = \"delete\", attrs = { a = \"b\" } } ]\n",
            line: 6,
            key: Some("step[0].page[0].objects[0].attrs"),
            says: "a delete carries no attributes",
        },
        Malformed {
            case: "references change with attributes",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nenqueue = [ { anchor = \"u1\", change = \"references\", attrs = { a = \"b\" } } ]\n",
            line: 5,
            key: Some("step[0].enqueue[0].attrs"),
            says: "a references change carries reference attributes only",
        },
        Malformed {
            case: "empty error name",
            text: "[connector]\nname = \"hr\"\n[[step]]\nkind = \"export\"\nresults = [ { anchor = \"u1\", result = \"custom-stop-run\", name = \"\" } ]\n",
            line: 5,
            key: Some("step[0].results[0].name"),
            says: "an error name cannot be empty",
        },
        Malformed {
            case: "TOML syntax error: unterminated string",
            text: "[connector]\nname = \"hr\"\n\n[[step]]\nkind = \"export\n",
            line: 5,
            key: None,
            says: "TOML syntax error: invalid basic string",
        },
        Malformed {
            case: "TOML syntax error: duplicate key",
            text: "[connector]\nname = \"hr\"\nname = \"crm\"\n",
            line: 3,
            key: None,
            says: "TOML syntax error: duplicate key",
        },
    ];

    #[test]
    fn malformed_scenarios_name_the_line_and_the_key() {
        let mut wrong = Vec::new();
        for case in MALFORMED {
            match parse_scenario("bad.toml", case.text) {
                Ok(_) => wrong.push(format!("{}: accepted", case.case)),
                Err(error) => {
                    if error.file != "bad.toml"
                        || error.line != Some(case.line)
                        || error.column.is_none()
                        || error.key.as_deref() != case.key
                        || !error.message.contains(case.says)
                    {
                        wrong.push(format!(
                            "{}: expected line {} key {:?} saying {:?}, got {error:?}",
                            case.case, case.line, case.key, case.says
                        ));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(MALFORMED.len() >= 12);
    }

    #[test]
    fn errors_display_file_line_column_key_and_the_fix() {
        let text = "[connector]\nname = \"hr\"\n[[step]]\nkind = \"delta-import\"\n[[step.page]]\nerrors = [\n    { anchor = \"u1\", error = \"custom-stop\" },\n]\n";
        let error = parse_scenario("examples/foo.toml", text).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "examples/foo.toml:7:30: step[0].page[0].errors[0].error: unknown error \
             \"custom-stop\" (expected one of: custom-continue-run, custom-stop-run, \
             import-parse-error, import-read-error)"
        );
        let syntax = parse_scenario("s.toml", "[connector\n").expect_err("refused");
        assert!(
            syntax
                .to_string()
                .starts_with("s.toml:1:11: TOML syntax error: "),
            "{syntax}"
        );
        // Columns count characters, not bytes.
        let wide = parse_scenario("w.toml", "[connector]\nname = \"hr\"\n\"é\" = 1\n")
            .expect_err("refused");
        assert_eq!((wide.line, wide.column), (Some(3), Some(1)));
        let wide =
            parse_scenario("w.toml", "[connector]\nname = \"é\"\nx = 1\n").expect_err("refused");
        assert_eq!(wide.to_string(), "w.toml:3:1: connector.x: unknown key \"x\" (expected one of: name, retry_count, max_errors, max_warnings, snapshot_limit, stuck_after, deletion_threshold)");
        let value = parse_scenario("v.toml", "[connector]\nname = \"é\"\nmax_errors = \"é\"\n")
            .expect_err("refused");
        assert_eq!((value.line, value.column), (Some(3), Some(14)));
    }

    #[test]
    fn an_unreadable_file_names_its_path() {
        let path = Path::new("/nonexistent/scenario-that-is-not-there.toml");
        let error = load_scenario(path).expect_err("refused");
        assert_eq!(error.file, "/nonexistent/scenario-that-is-not-there.toml");
        assert_eq!((error.line, error.key.as_deref()), (None, None));
        assert!(
            error.to_string().starts_with(
                "/nonexistent/scenario-that-is-not-there.toml: cannot open the scenario file: "
            ),
            "{error}"
        );
    }

    // ------------------------------------------------------------------------------------------
    // The examples: play each through the core and check the `#>` lines of its comment.

    /// The examples written for the seed cases; each must exist and carry `#>` expectations.
    const SEED_EXAMPLES: &[&str] = &[
        "watermark-abc.toml",
        "errored-full-import.toml",
        "broken-delta-log.toml",
        "snapshot-limit.toml",
        "export-actions.toml",
        "custom-stop-run.toml",
    ];

    /// The `#>` lines after `#> run N` (checked once run N has ended), or the final ones (those
    /// before any run line).
    struct Group {
        run: Option<u64>,
        partition: Option<String>,
        lines: Vec<(usize, String)>,
    }

    fn expectations(text: &str) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let Some(check) = line.strip_prefix("#>") else {
                continue;
            };
            let check = check.trim().to_owned();
            let words: Vec<&str> = check.split_whitespace().collect();
            match words.as_slice() {
                ["run", number, ..] => groups.push(Group {
                    run: Some(number.parse().expect("a run number after `#> run`")),
                    partition: None,
                    lines: Vec::new(),
                }),
                // A partition line after a run line belongs to that run's checkpoint; before any
                // run line it opens the final one.
                ["partition", name, ..] => match groups.last_mut() {
                    Some(group) if group.run.is_some() && group.partition.is_none() => {
                        group.partition = Some(name.trim_end_matches(':').to_owned());
                    }
                    _ => groups.push(Group {
                        run: None,
                        partition: Some(name.trim_end_matches(':').to_owned()),
                        lines: Vec::new(),
                    }),
                },
                _ => {}
            }
            groups
                .last_mut()
                .expect("the first `#>` line is a run or a partition line")
                .lines
                .push((index + 1, check));
        }
        groups
    }

    fn text_of(watermark: Option<&Watermark>) -> String {
        watermark.map_or_else(|| "null".to_owned(), Watermark::display_text)
    }

    fn names(attributes: &Attributes) -> String {
        if attributes.is_empty() {
            "(none)".to_owned()
        } else {
            attributes.0.keys().cloned().collect::<Vec<_>>().join(",")
        }
    }

    fn list(words: &[&str]) -> Vec<String> {
        if words == ["(none)"] {
            Vec::new()
        } else {
            words.iter().map(|word| (*word).to_owned()).collect()
        }
    }

    /// Checks one `#>` line against the state; returns what differs.
    fn check_line(
        state: &State,
        log: &[crate::core::Envelope],
        connector: &ConnectorName,
        partition: &PartitionName,
        check: &str,
    ) -> Vec<String> {
        let mut wrong = Vec::new();
        let mut differ = |what: &str, expected: &str, actual: String| {
            if expected != actual {
                wrong.push(format!("{what}: expected {expected}, actual {actual}"));
            }
        };
        let (head, body) = check.split_once(':').expect("a `#>` line has a colon");
        let head: Vec<&str> = head.split_whitespace().collect();
        let body: Vec<&str> = body.split_whitespace().collect();
        let part = state.partition(connector, partition);
        match head.as_slice() {
            ["run", number, kind] => {
                let run = RunId(number.parse().expect("run number"));
                let Some(record) = state.run(run) else {
                    differ("run", number, "no such run".into());
                    return wrong;
                };
                differ("kind", kind, record.kind.as_str().to_owned());
                for pair in body {
                    let (key, expected) = pair.split_once('=').expect("key=value");
                    let counts = record.counts;
                    let actual = match key {
                        "status" => record.status.map_or("open", |s| s.as_str()).to_owned(),
                        "start_watermark" => text_of(record.start_watermark.as_ref()),
                        "committed_watermark" => text_of(record.committed_watermark.as_ref()),
                        "obsoletion" => record.obsoletion.as_str().to_owned(),
                        "skip_reason" => {
                            record.skip_reason.map_or("null", |r| r.as_str()).to_owned()
                        }
                        "obsoleted" => counts.obsoleted.to_string(),
                        "errors" => counts.errors.to_string(),
                        "warnings" => counts.warnings.to_string(),
                        "exported" => counts.exported.to_string(),
                        "pages" => counts.pages.to_string(),
                        "refused_by_run" => match &record.refusal {
                            Some(
                                RefusalCause::FullImportRequired { set_by }
                                | RefusalCause::Disabled { set_by, .. }
                                | RefusalCause::Suspended { set_by, .. },
                            ) => set_by.to_string(),
                            None => "null".to_owned(),
                        },
                        other => panic!("unknown run key {other:?} in `#> {check}`"),
                    };
                    differ(&format!("run {number} {key}"), expected, actual);
                }
            }
            ["limit", "run", number] => {
                let run = RunId(number.parse().expect("run number"));
                let reached: Vec<String> = log
                    .iter()
                    .filter_map(|envelope| match &envelope.event {
                        Event::LimitReached {
                            run: limited,
                            limit,
                            count,
                            maximum,
                            ..
                        } if *limited == run => {
                            Some(format!("{} count={count} maximum={maximum}", limit.code()))
                        }
                        _ => None,
                    })
                    .collect();
                differ("limits reached", &body.join(" "), reached.join(" "));
            }
            ["partition", _] => {
                let Some(part) = part else {
                    differ("partition", "present", "absent".into());
                    return wrong;
                };
                for pair in body {
                    let (key, expected) = pair.split_once('=').expect("key=value");
                    let actual = match key {
                        "committed_watermark" => text_of(part.committed_watermark()),
                        "full_import_required" => part.full_import_required().is_some().to_string(),
                        "health" => state.health(connector, partition).as_str().to_owned(),
                        other => panic!("unknown partition key {other:?} in `#> {check}`"),
                    };
                    differ(key, expected, actual);
                }
            }
            ["objects", which @ ("live" | "obsolete")] => {
                let obsolete = *which == "obsolete";
                let actual: Vec<String> = part
                    .map(|part| {
                        part.objects()
                            .iter()
                            .filter(|(_, object)| object.obsolete == obsolete)
                            .map(|(anchor, _)| anchor.0.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut expected = list(&body);
                expected.sort();
                differ(
                    &format!("objects {which}"),
                    &expected.join(" "),
                    actual.join(" "),
                );
            }
            ["pending_exports"] => {
                let actual: Vec<String> = part
                    .map(|part| {
                        part.exports()
                            .in_order()
                            .map(|entry| {
                                format!("{}={}", entry.change.anchor, entry.change.kind.as_str())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                differ("pending_exports", &list(&body).join(" "), actual.join(" "));
            }
            ["pending_export", anchor] => {
                let entry = part.and_then(|part| part.exports().get(&Anchor::from(*anchor)));
                let actual = entry.map_or_else(
                    || "not pending".to_owned(),
                    |entry| {
                        format!(
                            "change={} attrs={} refs={}",
                            entry.change.kind.as_str(),
                            names(&entry.change.attributes),
                            names(&entry.change.references)
                        )
                    },
                );
                differ(&format!("pending_export {anchor}"), &body.join(" "), actual);
            }
            ["alerts"] => {
                // The open alerts that need someone to act (info copies left out), each as
                // code:severity:scope, with @anchor for objects, sorted.
                let mut actual: Vec<String> = state
                    .alerts()
                    .iter()
                    .filter(|alert| alert.severity != crate::core::Severity::Info)
                    .map(|alert| {
                        let mut text = format!(
                            "{}:{}:{}",
                            alert.code,
                            alert.severity.as_str(),
                            alert.scope.as_str()
                        );
                        if let Some(anchor) = &alert.anchor {
                            text.push_str(&format!("@{anchor}"));
                        }
                        text
                    })
                    .collect();
                actual.sort();
                let mut expected = list(&body);
                expected.sort();
                differ("alerts", &expected.join(" "), actual.join(" "));
            }
            _ => panic!("unknown `#>` line: {check}"),
        }
        wrong
    }

    fn check_example(path: &Path) -> Vec<String> {
        let scenario = load_scenario(path).unwrap_or_else(|error| panic!("{error}"));
        let text = std::fs::read_to_string(path).expect("readable");
        let groups = expectations(&text);
        let script = &scenario.script;
        let mut wrong = Vec::new();
        let mut player = Player::new(Actor::from_name("x"), Timestamp(0), 1);
        let mut runs = Vec::new();
        for (step, line) in script.steps.iter().zip(&scenario.step_lines) {
            let run = player
                .play(&script.connector, &script.settings, step)
                .unwrap_or_else(|error| {
                    panic!("{}:{line}: the core refused: {error}", scenario.source)
                });
            let Some(run) = run else { continue };
            runs.push(run);
            let partition = match step {
                Step::Import { partition, .. } | Step::Export { partition, .. } => partition,
                Step::Admin { .. } => unreachable!("admin steps are not runs"),
            };
            for group in groups.iter().filter(|group| group.run == Some(run.0)) {
                for (line, check) in &group.lines {
                    for problem in check_line(
                        player.state(),
                        player.log(),
                        &script.connector,
                        partition,
                        check,
                    ) {
                        wrong.push(format!("{}:{line}: {problem}", scenario.source));
                    }
                }
            }
        }
        for group in groups.iter().filter(|group| group.run.is_none()) {
            let partition = PartitionName(group.partition.clone().unwrap_or_default());
            for (line, check) in &group.lines {
                for problem in check_line(
                    player.state(),
                    player.log(),
                    &script.connector,
                    &partition,
                    check,
                ) {
                    wrong.push(format!("{}:{line}: {problem}", scenario.source));
                }
            }
        }
        let checked: Vec<u64> = groups.iter().filter_map(|group| group.run).collect();
        let played: Vec<u64> = runs.iter().map(|run| run.0).collect();
        if !groups.is_empty() && checked != played {
            wrong.push(format!(
                "{}: the comment describes runs {checked:?}, the scenario played runs {played:?}",
                scenario.source
            ));
        }
        // Playing the whole script at once gives the same state as step by step.
        let mut whole = Player::new(Actor::from_name("x"), Timestamp(0), 1);
        let whole_runs = whole.play_script(script).expect("plays");
        assert_eq!(whole_runs, runs);
        assert_eq!(whole.state(), player.state());
        wrong
    }

    #[test]
    fn examples_play_as_their_comments_say() {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&directory)
            .expect("examples/ exists")
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        for name in SEED_EXAMPLES {
            let path = directory.join(name);
            assert!(paths.contains(&path), "examples/{name} is missing");
            let text = std::fs::read_to_string(&path).expect("readable");
            assert!(
                text.contains("\n#> run 1 "),
                "examples/{name} has no `#>` expectations"
            );
        }
        let mut wrong = Vec::new();
        for path in &paths {
            wrong.extend(check_example(path));
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }
}
