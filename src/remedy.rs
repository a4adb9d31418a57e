//! The remedy catalog: what to do about each alert, as data (`src/remedies.toml`, built in),
//! extensible by a file of the same shape that the embedder names.
//!
//! Remedies are attached to alerts when a view is made, never stored in the state: changing the
//! catalog changes advice, not history ([R14](crate::rules#r14)).

use crate::core::{Alert, AlertScope};
use serde::Deserialize;
use std::path::Path;

/// The catalog built into syncfold.
pub const BUILTIN: &str = include_str!("remedies.toml");

/// The code that matches any object error the catalog does not name.
pub const OBJECT_FALLBACK: &str = "*object*";

/// One entry of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Remedy {
    /// The alert code it answers.
    pub code: String,
    /// Only for alerts whose message contains this text (case-insensitive).
    #[serde(default)]
    pub message_contains: Option<String>,
    /// A short title.
    pub title: String,
    /// The actionable sentence, short enough for a column of the alert wall; when absent,
    /// [`Remedy::action`] shortens the remedy's first sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What to do.
    pub remedy: String,
    /// Where the advice comes from: provenance for the docs and the JSON, never printed in text.
    pub source: String,
}

/// The longest [`Remedy::action`] made from a remedy's first sentence, in characters.
pub const ACTION_MAX: usize = 100;

impl Remedy {
    /// What to do, in one short sentence: the entry's `action`, else the remedy's first sentence,
    /// cut at a word before [`ACTION_MAX`] characters with "…" when longer.
    pub fn action(&self) -> String {
        if let Some(action) = self.action.as_deref().filter(|a| !a.trim().is_empty()) {
            return action.trim().to_owned();
        }
        let text = self.remedy.trim();
        let first = text.find(". ").map_or(text, |end| &text[..=end]);
        shorten(first, ACTION_MAX)
    }
}

/// `text`, cut at a word boundary so that it and a trailing "…" fit `max` characters.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let at_word = cut.rfind(' ').map_or(cut.as_str(), |space| &cut[..space]);
    format!("{}…", at_word.trim_end_matches([',', ';', ':', ' ']))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    remedy: Vec<Remedy>,
}

/// A catalog file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("remedy catalog {file}: {message}")]
pub struct CatalogError {
    /// The file.
    pub file: String,
    /// What is wrong, with the line when the parser knows it.
    pub message: String,
}

/// Remedies by code, later entries taking precedence over earlier ones.
#[derive(Clone, Debug)]
pub struct RemedyCatalog {
    entries: Vec<Remedy>,
}

impl RemedyCatalog {
    /// The built-in catalog.
    pub fn builtin() -> Self {
        // The built-in text is part of the program and tested; failing to parse it is a bug.
        Self::parse("the built-in catalog", BUILTIN)
            .unwrap_or_else(|error| unreachable!("the built-in remedy catalog is valid: {error}"))
    }

    /// Parses a catalog from TOML text.
    pub fn parse(file: &str, text: &str) -> Result<Self, CatalogError> {
        let parsed: CatalogFile = toml::from_str(text).map_err(|error| CatalogError {
            file: file.to_owned(),
            message: error.to_string(),
        })?;
        if let Some(empty) = parsed.remedy.iter().find(|r| r.remedy.trim().is_empty()) {
            return Err(CatalogError {
                file: file.to_owned(),
                message: format!("the entry for {} has an empty remedy", empty.code),
            });
        }
        Ok(RemedyCatalog {
            entries: parsed.remedy,
        })
    }

    /// This catalog extended (and overridden where codes meet) by the entries of `path`.
    pub fn with_file(mut self, path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|error| CatalogError {
            file: path.display().to_string(),
            message: format!("cannot be read: {error}"),
        })?;
        let extra = Self::parse(&path.display().to_string(), &text)?;
        self.entries.extend(extra.entries);
        Ok(self)
    }

    /// Every entry, in precedence order (later wins).
    pub fn entries(&self) -> &[Remedy] {
        &self.entries
    }

    /// The remedy for an alert: the last entry for its code whose `message_contains` matches,
    /// preferring entries with a `message_contains`; for object errors of unknown names, the
    /// object fallback.
    pub fn lookup(&self, alert: &Alert) -> Option<&Remedy> {
        self.find(&alert.code, &alert.message).or_else(|| {
            (alert.scope == AlertScope::Object)
                .then(|| self.find(OBJECT_FALLBACK, &alert.message))
                .flatten()
        })
    }

    /// The remedy for a code and message.
    pub fn find(&self, code: &str, message: &str) -> Option<&Remedy> {
        let message = message.to_lowercase();
        let matching = |entry: &&Remedy| {
            entry.code == code
                && entry
                    .message_contains
                    .as_ref()
                    .is_none_or(|text| message.contains(&text.to_lowercase()))
        };
        self.entries
            .iter()
            .rev()
            .filter(matching)
            .find(|entry| entry.message_contains.is_some())
            .or_else(|| self.entries.iter().rev().find(matching))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: Option<&str>, remedy: &str) -> Remedy {
        Remedy {
            code: "x".into(),
            message_contains: None,
            title: "A title".into(),
            action: action.map(str::to_owned),
            remedy: remedy.into(),
            source: "here".into(),
        }
    }

    #[test]
    fn an_action_is_the_entry_s_or_its_remedy_s_first_sentence_shortened() {
        assert_eq!(
            entry(Some("Run a full import."), "Long. Text.").action(),
            "Run a full import."
        );
        assert_eq!(
            entry(None, "Call the vendor. Then wait.").action(),
            "Call the vendor."
        );
        let long = "word ".repeat(40);
        let action = entry(None, &long).action();
        assert!(action.chars().count() <= ACTION_MAX, "{action}");
        assert!(action.ends_with("word…"), "{action}");
        for remedy in RemedyCatalog::builtin().entries() {
            assert!(remedy.action.is_some(), "{} has an action", remedy.code);
            assert!(
                remedy.action().chars().count() <= ACTION_MAX,
                "{}",
                remedy.code
            );
        }
    }
}
