//! Scenario files: a TOML script of what a connector returns, run by run, parsed and validated
//! into a [`Script`] that the core's [`Player`](crate::script::Player) and the engine play.
//!
//! The format is the contract of SPEC.md §7; its key names are a public interface, described
//! with every default in `docs/SCENARIOS.md`. In brief: a `[connector]` table (its `name` and
//! optional settings), then one `[[step]]` per step, played in order: `full-import` and
//! `delta-import` steps list the connector's `[[step.page]]`s (objects, errors, or a `fault`),
//! `export` steps list what is `enqueue`d and the connector's `results`, and `admin` steps name
//! an administrator's `action`. Every key of SPEC §7 is accepted exactly as written there and no
//! other key is: a misspelt key is an error, never silently ignored.
//!
//! The whole file is checked before anything is played, the script included: it is played through
//! the pure [`Player`](crate::script::Player) as into a new log, and an export result that its
//! run does not use is refused at its place. A [`ScenarioError`] names the file, the
//! line and column, the key as a dotted path with 0-based indices
//! (`step[3].page[2].errors[0].error`), what is wrong and what was expected.
//!
//! - [`expect`]: the `#>` expectation lines of the examples, checked against `state --json`.
//! - `sections` (the document, connector and steps) and `changes` (pages, objects, errors, queued
//!   changes, results, attributes): one parser per section of the format.
//! - `walker`: typed, positioned access to the TOML tree, where every error gets its place.
//! - `played`: the checks that need the script played (every export result is used by its run).

mod changes;
pub mod connectors;
pub mod enqueue;
pub mod expect;
mod played;
mod sections;
mod walker;

#[cfg(test)]
mod tests;

use crate::script::Script;
use std::fmt;
use std::io::Read;
use std::path::Path;
use walker::Source;

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

impl ScenarioError {
    /// An error about the file as a whole: it has no line and no key.
    pub(crate) fn whole_file(file: &str, message: String) -> Self {
        ScenarioError {
            file: file.to_owned(),
            line: None,
            column: None,
            key: None,
            message,
        }
    }
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
    let (name, text) = read_text(path, "scenario file", too_large_message)?;
    parse_scenario(&name, &text)
}

/// Reads the UTF-8 text of a file of ours (`what`: "scenario file", "connectors file") up to
/// [`SCENARIO_BYTES_MAX`], with its name as messages give it; every failure names the file.
pub(crate) fn read_text(
    path: &Path,
    what: &str,
    too_large: fn() -> String,
) -> Result<(String, String), ScenarioError> {
    let name = path.display().to_string();
    let unreadable = |message: String| ScenarioError::whole_file(&name, message);
    let file = std::fs::File::open(path)
        .map_err(|error| unreadable(format!("cannot open the {what}: {error}")))?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file at the limit from one over it.
    let limit = u64::try_from(SCENARIO_BYTES_MAX)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|error| unreadable(format!("cannot read the {what}: {error}")))?;
    if bytes.len() > SCENARIO_BYTES_MAX {
        return Err(unreadable(too_large()));
    }
    let text = String::from_utf8(bytes).map_err(|error| {
        unreadable(format!(
            "the {what} is not UTF-8 text (byte {} is not valid); save it as UTF-8 TOML",
            error.utf8_error().valid_up_to()
        ))
    })?;
    Ok((name, text))
}

/// Parses scenario TOML `text`; `source_name` names the file in messages.
pub fn parse_scenario(source_name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    if text.len() > SCENARIO_BYTES_MAX {
        return Err(ScenarioError::whole_file(source_name, too_large_message()));
    }
    let source = Source::new(source_name, text);
    let (script, step_lines) = sections::parse_document(&source)?;
    Ok(Scenario {
        script,
        source: source_name.to_owned(),
        step_lines,
    })
}

fn too_large_message() -> String {
    format!("the scenario is larger than {SCENARIO_BYTES_MAX} bytes; split it into several files")
}
