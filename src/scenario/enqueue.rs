//! Export changes as `syncfold enqueue` reads them (SPEC §9): one JSON object per line with the
//! names of a scenario's `enqueue` (SPEC §7): `anchor`, `change` (`add`, the default, `update`,
//! `delete` or `references`), `attrs` and `refs` (name → string or list of strings).
//!
//! ```text
//! {"anchor": "uid=u1,ou=people,dc=example,dc=org", "change": "update", "attrs": {"title": "lead"}}
//! {"anchor": "uid=u2,ou=people,dc=example,dc=org", "change": "delete"}
//! ```
//!
//! A file is taken whole or not at all: the first wrong line is reported as `FILE:LINE:COLUMN:
//! KEY: what; expected …`, and nothing is queued. Blank lines are skipped.

use super::ScenarioError;
use crate::core::{Anchor, AttributeValue, Attributes, ExportChange, ExportChangeKind};
use serde_json::Value;
use std::collections::BTreeMap;

const KEYS: [&str; 4] = ["anchor", "change", "attrs", "refs"];

fn at(file: &str, line: usize, column: usize, key: &str, message: String) -> ScenarioError {
    ScenarioError {
        file: file.to_owned(),
        line: Some(line),
        column: Some(column),
        key: (!key.is_empty()).then(|| key.to_owned()),
        message,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses JSON-lines `text` into export changes; `source_name` names the file in messages.
pub fn parse_export_changes(
    source_name: &str,
    text: &str,
) -> Result<Vec<ExportChange>, ScenarioError> {
    let mut changes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|error| {
            at(
                source_name,
                number,
                error.column().max(1),
                "",
                format!(
                    "not a JSON object: {error} (expected one object per line, e.g. \
                     {{\"anchor\": \"u1\", \"change\": \"update\", \"attrs\": {{\"title\": \"lead\"}}}})"
                ),
            )
        })?;
        changes.push(change(source_name, number, &value)?);
    }
    Ok(changes)
}

fn change(file: &str, line: usize, value: &Value) -> Result<ExportChange, ScenarioError> {
    let here = |key: &str, message: String| at(file, line, 1, key, message);
    let Value::Object(object) = value else {
        return Err(here(
            "",
            format!("expected a JSON object, found {}", json_type(value)),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(here(
            unknown,
            format!(
                "unknown key {unknown:?} (expected one of: {})",
                KEYS.join(", ")
            ),
        ));
    }
    let anchor = match object.get("anchor") {
        Some(Value::String(text)) if !text.is_empty() => Anchor::from(text.as_str()),
        Some(Value::String(_)) => {
            return Err(here(
                "anchor",
                "must not be empty (expected the object to export)".to_owned(),
            ))
        }
        Some(other) => {
            return Err(here(
                "anchor",
                format!(
                    "expected a string (the object to export), found {}",
                    json_type(other)
                ),
            ))
        }
        None => {
            return Err(here(
                "anchor",
                "missing key `anchor`: the object to export, e.g. \"anchor\": \"u1\"".to_owned(),
            ))
        }
    };
    let names = ExportChangeKind::ALL
        .map(ExportChangeKind::as_str)
        .join(", ");
    let kind = match object.get("change") {
        None => ExportChangeKind::Add,
        Some(Value::String(text)) => text.parse::<ExportChangeKind>().map_err(|_| {
            here(
                "change",
                format!("unknown change {text:?} (expected one of: {names})"),
            )
        })?,
        Some(other) => {
            return Err(here(
                "change",
                format!(
                    "expected a string (one of: {names}), found {}",
                    json_type(other)
                ),
            ))
        }
    };
    for key in ["attrs", "refs"] {
        if !object.contains_key(key) {
            continue;
        }
        let refused = match (kind, key) {
            (ExportChangeKind::Delete, _) => Some(format!(
                "a delete carries no attributes: remove `{key}`, or use \"change\": \"update\""
            )),
            (ExportChangeKind::References, "attrs") => Some(
                "a references change carries reference attributes only: move these to `refs`, \
                 or use \"change\": \"update\""
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(message) = refused {
            return Err(here(key, message));
        }
    }
    let attributes = |key: &str| -> Result<Attributes, ScenarioError> {
        let Some(value) = object.get(key) else {
            return Ok(Attributes::new());
        };
        let Value::Object(map) = value else {
            return Err(here(
                key,
                format!(
                    "expected an object of attribute name → string or list of strings, found {}",
                    json_type(value)
                ),
            ));
        };
        let mut out = BTreeMap::new();
        for (name, value) in map {
            let path = format!("{key}.{name}");
            let value = match value {
                Value::String(text) => AttributeValue::Single(text.clone()),
                Value::Array(items) => AttributeValue::Multi(
                    items
                        .iter()
                        .map(|item| match item {
                            Value::String(text) => Ok(text.clone()),
                            other => Err(here(
                                &path,
                                format!(
                                    "a list of values holds strings only, found {}",
                                    json_type(other)
                                ),
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(here(
                        &path,
                        format!(
                            "expected a string or a list of strings, found {}",
                            json_type(other)
                        ),
                    ))
                }
            };
            out.insert(name.clone(), value);
        }
        Ok(Attributes(out))
    };
    Ok(ExportChange {
        anchor,
        kind,
        attributes: attributes("attrs")?,
        references: attributes("refs")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_changes_with_the_scenario_names() {
        let text = "{\"anchor\":\"u1\",\"change\":\"update\",\"attrs\":{\"title\":\"lead\",\"mail\":[\"a\",\"b\"]},\"refs\":{\"manager\":\"u9\"}}\n\n{\"anchor\":\"u2\",\"change\":\"delete\"}\n{\"anchor\":\"u3\"}\n";
        let changes = parse_export_changes("q.jsonl", text).expect("valid");
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0].kind, ExportChangeKind::Update);
        assert_eq!(
            changes[0].attributes.0.get("mail"),
            Some(&AttributeValue::Multi(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            changes[0].references.0.get("manager"),
            Some(&AttributeValue::Single("u9".into()))
        );
        assert_eq!(changes[1].kind, ExportChangeKind::Delete);
        assert_eq!(changes[2].kind, ExportChangeKind::Add);
    }

    #[test]
    fn the_first_wrong_line_is_placed_and_says_what_to_write() {
        let cases = [
            ("{\"anchor\":\"u1\"}\n{\"anchor\": 7}", "q.jsonl:2:1: anchor: expected a string"),
            ("{\"anchor\":\"u1\",", "q.jsonl:1:"),
            ("{\"anchor\":\"u1\",\"change\":\"rename\"}", "q.jsonl:1:1: change: unknown change \"rename\" (expected one of: add, update, delete, references)"),
            ("{\"anchor\":\"u1\",\"change\":\"delete\",\"attrs\":{}}", "q.jsonl:1:1: attrs: a delete carries no attributes"),
            ("{\"anchor\":\"u1\",\"attrs\":{\"n\":1}}", "q.jsonl:1:1: attrs.n: expected a string or a list of strings, found a number"),
            ("{\"anchor\":\"u1\",\"atrs\":{}}", "q.jsonl:1:1: atrs: unknown key \"atrs\""),
            ("{\"change\":\"add\"}", "q.jsonl:1:1: anchor: missing key `anchor`"),
            ("[1]", "q.jsonl:1:1: expected a JSON object, found an array"),
        ];
        for (text, expected) in cases {
            let error = parse_export_changes("q.jsonl", text).expect_err(expected);
            assert!(
                error.to_string().starts_with(expected),
                "got:      {error}\nexpected: {expected}…"
            );
        }
    }
}
