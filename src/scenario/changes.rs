//! What a step carries: an import's pages with their objects and errors, an export's queued
//! changes and the connector's results, and the attribute tables inside them. The names of the
//! SPEC vocabulary (changes, errors, results) come from the core's enums.

use super::sections::fault;
use super::walker::{choice, named, one_of, string, table, type_name, Entry, Source, Table};
use super::ScenarioError;
use crate::core::{
    Anchor, AttributeValue, Attributes, ChangeKind, DiscoveryError, ExportChange, ExportChangeKind,
    ExportOutcome, ExportOutcomeKind, FatalImportError, FatalImportErrorKind, ObjectChange,
    ObjectErrorKind, Page, Watermark,
};
use crate::script::ImportPage;
use std::collections::BTreeMap;
use std::str::FromStr;
use toml::de::DeValue;

// The keys each table may hold (SPEC §7), in the order messages list them.

const PAGE_KEYS: &[&str] = &["watermark", "objects", "errors", "fault", "message"];
const OBJECT_KEYS: &[&str] = &["anchor", "change", "attrs"];
const ERROR_KEYS: &[&str] = &["anchor", "error", "name", "description"];
const ENQUEUE_KEYS: &[&str] = &["anchor", "change", "attrs", "refs"];
const RESULT_KEYS: &[&str] = &["anchor", "result", "parent", "name", "description"];
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

/// One `[[step.page]]`: a page the connector returned, or the fault it failed with instead.
pub(super) fn parse_page(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<ImportPage, ScenarioError> {
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
    for object in &table.tables(
        source,
        "objects",
        "write objects = [ { anchor = \"u1\", change = \"add\", attrs = { ... } } ]",
    )? {
        page.changes.push(parse_object(source, object)?);
    }
    // Where each object error's anchor is, to refuse a second error for one object.
    let mut failed: BTreeMap<Anchor, (usize, usize, String)> = BTreeMap::new();
    for error in &table.tables(
        source,
        "errors",
        "write errors = [ { anchor = \"u2\", error = \"custom-continue-run\" } ]",
    )? {
        match parse_import_error(source, error)? {
            ParsedImportError::Object(discovery) => {
                let entry = error.get("anchor");
                if let (Some(entry), Some((line, column, path))) =
                    (entry, failed.get(&discovery.anchor))
                {
                    return Err(source.error(
                        &entry.value.span(),
                        &entry.path,
                        format!(
                            "anchor {:?} already has an error on this page at {line}:{column} \
                             ({path}): an object fails once per page, so give it one error \
                             (the page's other errors go on other objects)",
                            discovery.anchor.as_str()
                        ),
                    ));
                }
                if let Some(entry) = entry {
                    let (line, column) = source.locate(entry.value.span().start);
                    failed.insert(discovery.anchor.clone(), (line, column, error.path.clone()));
                }
                page.errors.push(discovery);
            }
            ParsedImportError::Fatal(fatal) => page.fatal_errors.push(fatal),
        }
    }
    Ok(ImportPage::Page(page))
}

fn parse_object(source: &Source<'_>, table: &Table<'_, '_>) -> Result<ObjectChange, ScenarioError> {
    table.allow_only(source, OBJECT_KEYS, |_| None)?;
    let (anchor, kind) = anchor_and_change(
        source,
        table,
        "the object's anchor, e.g. anchor = \"u1\"",
        ChangeKind::ALL.map(ChangeKind::as_str),
        ChangeKind::Add,
    )?;
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
            let (_, anchor) = required_anchor(
                source,
                table,
                "anchor",
                "the object that failed, e.g. anchor = \"u2\"",
            )?;
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

/// One queued change of an export step's `enqueue`.
pub(super) fn parse_enqueued(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<ExportChange, ScenarioError> {
    table.allow_only(source, ENQUEUE_KEYS, |_| None)?;
    let (anchor, kind) = anchor_and_change(
        source,
        table,
        "the object to export, e.g. anchor = \"u1\"",
        ExportChangeKind::ALL.map(ExportChangeKind::as_str),
        ExportChangeKind::Add,
    )?;
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

/// One of an export step's `results`: the anchor's entry (for messages), the anchor and the
/// outcome.
pub(super) fn parse_result<'t, 'a, 'i>(
    source: &Source<'_>,
    table: &'t Table<'a, 'i>,
) -> Result<(&'t Entry<'a, 'i>, Anchor, ExportOutcome), ScenarioError> {
    table.allow_only(source, RESULT_KEYS, |_| None)?;
    let (anchor_entry, anchor) = required_anchor(
        source,
        table,
        "anchor",
        "the exported object this result is for, e.g. anchor = \"u1\"",
    )?;
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
            let (parent_entry, parent) = required_anchor(
                source,
                table,
                "parent",
                "provisioning-parent names the missing parent container, e.g. \
                 parent = \"ou=sales\"",
            )?;
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

/// The required key `key` as an anchor, with its entry (for messages about it); `what` says
/// which object it names.
fn required_anchor<'t, 'a, 'i>(
    source: &Source<'_>,
    table: &'t Table<'a, 'i>,
    key: &str,
    what: &str,
) -> Result<(&'t Entry<'a, 'i>, Anchor), ScenarioError> {
    let entry = table.required(source, key, what)?;
    Ok((entry, anchor_of(source, entry)?))
}

/// The `anchor` and the `change` that an imported object and a queued export both have: `what`
/// says which object the anchor names; the change is one of `changes`, `default` when absent.
fn anchor_and_change<T: FromStr, const N: usize>(
    source: &Source<'_>,
    table: &Table<'_, '_>,
    what: &str,
    changes: [&str; N],
    default: T,
) -> Result<(Anchor, T), ScenarioError> {
    let (_, anchor) = required_anchor(source, table, "anchor", what)?;
    let change = match table.get("change") {
        Some(entry) => named(source, entry, "change", changes)?,
        None => default,
    };
    Ok((anchor, change))
}
