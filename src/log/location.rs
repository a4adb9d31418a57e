//! Where a log lives, from one `--log` value: a folder (sled), or a log in PostgreSQL named by a
//! `postgres://` or `postgresql://` URL (SPEC §10).
//!
//! The one place that tells the two apart, so that every command that takes `--log` reads the
//! value the same way. A folder is taken as given (whether it holds a log is the command's
//! question); a URL is parsed whole, and a malformed one is refused naming its part.

use super::pg::{is_pg_url, PgUrl, PgUrlError};
use std::path::{Path, PathBuf};

/// A log's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogLocation {
    /// A log folder, kept by sled.
    Folder(PathBuf),
    /// A log in a PostgreSQL database.
    Postgres(PgUrl),
}

impl LogLocation {
    /// Reads a `--log` value: a URL when it starts with `postgres://` or `postgresql://`, a
    /// folder otherwise.
    pub fn parse(text: &str) -> Result<LogLocation, PgUrlError> {
        if is_pg_url(text) {
            PgUrl::parse(text).map(LogLocation::Postgres)
        } else {
            Ok(LogLocation::Folder(PathBuf::from(text)))
        }
    }

    /// The folder, for a log kept in one.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            LogLocation::Folder(folder) => Some(folder),
            LogLocation::Postgres(_) => None,
        }
    }
}

impl std::str::FromStr for LogLocation {
    type Err = PgUrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        LogLocation::parse(text)
    }
}

/// The folder's path, or the URL without its password.
impl std::fmt::Display for LogLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogLocation::Folder(folder) => write!(f, "{}", folder.display()),
            LogLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_value_is_a_folder_or_a_url() {
        assert_eq!(
            LogLocation::parse("/var/lib/sync/log").expect("a folder"),
            LogLocation::Folder("/var/lib/sync/log".into())
        );
        // A relative folder whose name merely starts like a scheme is still a folder.
        assert!(LogLocation::parse("postgres-logs/a")
            .expect("a folder")
            .folder()
            .is_some());
        let location =
            LogLocation::parse("postgresql://u:pw-secret@db:5433/sync?log=hr").expect("a URL");
        assert!(matches!(&location, LogLocation::Postgres(url) if url.log() == "hr"));
        assert_eq!(location.to_string(), "postgres://u:***@db:5433/sync?log=hr");
        let error = LogLocation::parse("postgres://u@db:x/sync").expect_err("a bad port");
        assert_eq!(error.part, "port");
    }
}
