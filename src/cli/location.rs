//! Where a log is, as `--log` names it: a folder (the sled log) or a PostgreSQL URL (SPEC §10,
//! `postgres://USER@HOST:PORT/DB?log=NAME`). Every command but `demo` takes either; the
//! commands open the store the location names and treat it alike from there (the same records,
//! chain, rules and `verify`).

use std::fmt;
use std::path::{Path, PathBuf};
use syncfold::log::{LogLocation, PgUrl};

/// A log's place.
#[derive(Clone, Debug)]
pub(crate) enum LogAt {
    /// A sled log in this folder.
    Folder(PathBuf),
    /// A log in a PostgreSQL database.
    Pg(PgUrl),
    /// A `--log` value that is neither: why. Kept rather than refused by the argument parser,
    /// which would echo the value (a URL may hold a password); [`LogAt::invalid`] is checked
    /// before any command runs.
    Invalid(String),
}

impl LogAt {
    /// `--log`'s value: a PostgreSQL URL when it starts with `postgres://` or `postgresql://`,
    /// else a folder. A malformed URL is refused naming the part and an example, never echoing
    /// the text (it may hold a password).
    pub(crate) fn parse(text: &str) -> Result<LogAt, String> {
        if text.is_empty() {
            return Ok(LogAt::Invalid(
                "--log needs a folder or a postgres:// URL".to_owned(),
            ));
        }
        Ok(match LogLocation::parse(text) {
            Ok(LogLocation::Folder(folder)) => LogAt::Folder(folder),
            Ok(LogLocation::Postgres(url)) => LogAt::Pg(url),
            Err(error) => LogAt::Invalid(error.to_string()),
        })
    }

    /// Why the value given is not a log's place, if it is not.
    pub(crate) fn invalid(&self) -> Option<&str> {
        match self {
            LogAt::Invalid(why) => Some(why),
            _ => None,
        }
    }

    /// The folder of a sled log.
    pub(crate) fn folder(&self) -> Option<&Path> {
        match self {
            LogAt::Folder(folder) => Some(folder),
            LogAt::Pg(_) | LogAt::Invalid(_) => None,
        }
    }

    /// The log as messages name it: the folder, or the URL without its password.
    pub(crate) fn display(&self) -> &Self {
        self
    }
}

impl fmt::Display for LogAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogAt::Folder(folder) => write!(f, "{}", folder.display()),
            LogAt::Pg(url) => write!(f, "{url}"),
            LogAt::Invalid(_) => write!(f, "the --log given"),
        }
    }
}
