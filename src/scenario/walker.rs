//! Typed access to a TOML tree that keeps positions: every value is read through a getter that,
//! when the value is not what was expected, builds a [`ScenarioError`] naming the file, the line
//! and column, the key as a dotted path, what was found and what was expected.
//!
//! Nothing here knows the scenario format; `sections` says which keys exist and what they mean.

use super::ScenarioError;
use std::ops::Range;
use std::str::FromStr;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The scenario text and where its lines start, to turn byte offsets into line and column.
pub(super) struct Source<'t> {
    file: &'t str,
    text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Source<'t> {
    pub(super) fn new(file: &'t str, text: &'t str) -> Self {
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
    pub(super) fn locate(&self, offset: usize) -> (usize, usize) {
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

    /// An error at `span`, about the value or key at `key` (a dotted path; empty for none).
    pub(super) fn error(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = self.locate(span.start);
        ScenarioError {
            file: self.file.to_owned(),
            line: Some(line),
            column: Some(column),
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    /// Parses the text into a spanned TOML document; a syntax error is placed where TOML says.
    pub(super) fn document(&self) -> Result<Spanned<DeTable<'t>>, ScenarioError> {
        DeTable::parse(self.text).map_err(|error| self.syntax_error(&error))
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
pub(super) struct Entry<'a, 'i> {
    /// The key as written.
    pub(super) name: &'a str,
    /// Where the key is written, for errors about the key itself (misplaced, not allowed).
    pub(super) key_span: Range<usize>,
    /// The value with its place, for errors about the value.
    pub(super) value: &'a Spanned<DeValue<'i>>,
    /// The dotted path with 0-based indices, e.g. `step[0].page[1].objects`.
    pub(super) path: String,
}

/// A table's entries in the order they appear in the file, so the first problem is reported.
pub(super) struct Table<'a, 'i> {
    /// Where the table is written: its header, or its `{` for an inline table.
    pub(super) span: Range<usize>,
    /// Its dotted path; empty for the document itself.
    pub(super) path: String,
    /// Its keys in file order.
    pub(super) entries: Vec<Entry<'a, 'i>>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// The entries of `table`, written at `span`, whose path is `path`.
    pub(super) fn new(table: &'a DeTable<'i>, span: Range<usize>, path: String) -> Self {
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

    /// The entry named `name`, if the table has it.
    pub(super) fn get(&self, name: &str) -> Option<&Entry<'a, 'i>> {
        self.entries.iter().find(|entry| entry.name == name)
    }

    /// Refuses the first key not in `allowed`, with `misplaced`'s message when it has one.
    pub(super) fn allow_only(
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

    /// The tables of the array of tables `name`, none when it is absent; `how` says how to write
    /// one there.
    pub(super) fn tables(
        &self,
        source: &Source<'_>,
        name: &str,
        how: &str,
    ) -> Result<Vec<Table<'a, 'i>>, ScenarioError> {
        match self.get(name) {
            Some(entry) => array_of_tables(source, entry.value, &entry.path, how),
            None => Ok(Vec::new()),
        }
    }

    /// The entry named `name`, or an error placed at the table saying `what` it should hold.
    pub(super) fn required(
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

/// What a value is, as messages say it ("found an integer").
pub(super) fn type_name(value: &DeValue<'_>) -> &'static str {
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

/// `value` as a table; `how` says how to write one there.
pub(super) fn table<'a, 'i>(
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

/// `value` as an array of tables (`[[x]]` or `[ { ... } ]`); `how` says how to write one there.
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

/// `value` as a string; `what` says what the string means.
pub(super) fn string<'a>(
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

/// The entry's value as a string that is not empty; `what` says what it means.
pub(super) fn non_empty<'a>(
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

/// A whole number, not negative.
pub(super) fn count(
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

/// A string naming one of `names`, which `find` turns into its value (a vocabulary's `FromStr`,
/// or a union of vocabularies); messages list `names` in the order given.
pub(super) fn choice<T>(
    source: &Source<'_>,
    entry: &Entry<'_, '_>,
    what: &str,
    names: &[&str],
    find: impl Fn(&str) -> Option<T>,
) -> Result<T, ScenarioError> {
    let names = names.join(", ");
    let text = string(
        source,
        entry.value,
        &entry.path,
        &format!("one of: {names}"),
    )?;
    find(text).ok_or_else(|| {
        source.error(
            &entry.value.span(),
            &entry.path,
            format!("unknown {what} {text:?} (expected one of: {names})"),
        )
    })
}

/// `choice` over one vocabulary of the core: its `ALL` names, read by its `FromStr`.
pub(super) fn named<T: FromStr, const N: usize>(
    source: &Source<'_>,
    entry: &Entry<'_, '_>,
    what: &str,
    names: [&str; N],
) -> Result<T, ScenarioError> {
    choice(source, entry, what, &names, |text| text.parse().ok())
}

/// What a required key holds, followed by the names it may take.
pub(super) fn one_of(what: &str, names: &[&str]) -> String {
    format!("{what} (expected one of: {})", names.join(", "))
}
