//! What an LDAP connector is configured with: where the directory is, who binds, where the
//! password comes from, and the partitions (subtrees) it synchronizes.
//!
//! Every field is public so a parsed connectors file (SPEC §9) maps onto these structs field by
//! field; [`LdapPartition::new`] and [`LdapSettings::new`] fill the documented defaults. The
//! password is never held here: only where to read it ([`PasswordSource`]), read at each run's
//! bind into a [`Secret`] that cannot be printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The default page size of SPEC §9: entries (full import) or change-log records (delta
/// import) per page.
pub const PAGE_SIZE_DEFAULT: u32 = 500;

/// The largest page size accepted: a page is held in memory and recorded as one event.
pub const PAGE_SIZE_MAX: u32 = 10_000;

/// Where the bind password is read from, at the start of every run (so a rotated password is
/// picked up without restarting anything).
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The value of this environment variable (SPEC §9 `password_env`).
    Env(String),
    /// The contents of this file, without one trailing newline (SPEC §9 `password_file`).
    File(PathBuf),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Where the secret lives is not secret; the value never passes through here.
        match self {
            PasswordSource::Env(name) => write!(f, "Env({name})"),
            PasswordSource::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Env(name) => write!(f, "the environment variable {name}"),
            PasswordSource::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

impl PasswordSource {
    /// Reads the password now. The error names the source and the remedy, never the value.
    pub fn read(&self) -> Result<Secret, String> {
        match self {
            PasswordSource::Env(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(Secret(value)),
                Ok(_) => Err(format!(
                    "the bind password is empty in {self}; set it to the password of the bind DN"
                )),
                Err(std::env::VarError::NotPresent) => Err(format!(
                    "the bind password is missing: {self} is not set; set it to the password of the bind DN"
                )),
                Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                    "the bind password in {self} is not UTF-8 text; LDAP simple binds need a text password"
                )),
            },
            PasswordSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|error| {
                    format!(
                        "the bind password cannot be read from {self}: {error}; check the path and that syncfold may read it"
                    )
                })?;
                let mut text = String::from_utf8(bytes).map_err(|_| {
                    format!(
                        "the bind password in {self} is not UTF-8 text; LDAP simple binds need a text password"
                    )
                })?;
                // Editors end files with a newline; a password never does.
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                if text.is_empty() {
                    return Err(format!(
                        "the bind password in {self} is empty; write the password of the bind DN into it"
                    ));
                }
                Ok(Secret(text))
            }
        }
    }
}

/// A password in memory. Its `Debug` and `Display` print `<redacted>`; the value is reachable
/// only through [`Secret::expose`], which the connector calls once, to bind.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret from its value (for embedders that hold passwords their own way).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (the bind).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a delta import reads changes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeltaSource {
    /// OpenLDAP's `accesslog` overlay: one entry per successful write, named by its `reqStart`
    /// time (the default, and the only source implemented so far).
    #[default]
    Accesslog,
    /// The content synchronization protocol (RFC 4533). Named by SPEC §9; not implemented yet:
    /// a delta import on such a partition is a `connector-exception` that says so.
    Syncrepl,
}

impl DeltaSource {
    /// The SPEC §9 name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeltaSource::Accesslog => "accesslog",
            DeltaSource::Syncrepl => "syncrepl",
        }
    }
}

/// One partition: a subtree of the directory with its own watermark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapPartition {
    /// The partition's name in syncfold (SPEC §9 `name`).
    pub name: String,
    /// The subtree read, searched with scope `sub` (SPEC §9 `base_dn`).
    pub base_dn: String,
    /// The LDAP filter an entry must match to belong to the partition (default
    /// `(objectClass=*)`). A delta import re-reads a changed entry with it, so an entry that
    /// stops matching arrives as a deletion.
    pub filter: String,
    /// The attributes read; empty means all user attributes (`*`).
    pub attributes: Vec<String>,
    /// DN-valued attributes that name other entries (`manager`, `member`). An export writes them
    /// in a second modify after the others, and only once every entry they name exists.
    pub reference_attributes: Vec<String>,
    /// Where delta imports read changes from (default: the accesslog).
    pub delta: DeltaSource,
    /// The suffix of the accesslog database (default `cn=accesslog`).
    pub accesslog_base: String,
}

impl LdapPartition {
    /// A partition of the subtree `base_dn` with every default of SPEC §9.
    pub fn new(name: impl Into<String>, base_dn: impl Into<String>) -> Self {
        LdapPartition {
            name: name.into(),
            base_dn: base_dn.into(),
            filter: "(objectClass=*)".to_owned(),
            attributes: Vec::new(),
            reference_attributes: Vec::new(),
            delta: DeltaSource::Accesslog,
            accesslog_base: "cn=accesslog".to_owned(),
        }
    }

    /// Whether `attribute` is one of the partition's reference attributes (names compare
    /// without regard to case, as LDAP attribute descriptions do).
    pub fn is_reference(&self, attribute: &str) -> bool {
        self.reference_attributes
            .iter()
            .any(|name| name.eq_ignore_ascii_case(attribute))
    }
}

/// One LDAP connector: a directory server and the partitions synchronized with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapSettings {
    /// The server, as an `ldap://host:port` URL (SPEC §9 `url`; TLS is not built in yet).
    pub url: String,
    /// The DN the connector binds as (SPEC §9 `bind_dn`).
    pub bind_dn: String,
    /// Where the bind password is read from (SPEC §9 `password_env` / `password_file`).
    pub password: PasswordSource,
    /// Entries or change-log records per page (SPEC §9 `page_size`, default 500, at most
    /// [`PAGE_SIZE_MAX`]).
    pub page_size: u32,
    /// Longest wait for the TCP connection; past it the server counts as down.
    pub connect_timeout: Duration,
    /// Longest wait for one LDAP operation's answer; past it the run stops with
    /// `connector-exception`. Keep it below the engine's call timeout.
    pub operation_timeout: Duration,
    /// The partitions, by name.
    pub partitions: Vec<LdapPartition>,
}

impl LdapSettings {
    /// Settings with the defaults of SPEC §9 and no partition yet.
    pub fn new(
        url: impl Into<String>,
        bind_dn: impl Into<String>,
        password: PasswordSource,
    ) -> Self {
        LdapSettings {
            url: url.into(),
            bind_dn: bind_dn.into(),
            password,
            page_size: PAGE_SIZE_DEFAULT,
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(120),
            partitions: Vec::new(),
        }
    }

    /// The same settings with one more partition.
    pub fn with_partition(mut self, partition: LdapPartition) -> Self {
        self.partitions.push(partition);
        self
    }

    /// The partition named `name`, or a message naming the configured ones.
    pub fn partition(&self, name: &str) -> Result<&LdapPartition, String> {
        self.partitions
            .iter()
            .find(|partition| partition.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.partitions.iter().map(|p| p.name.as_str()).collect();
                format!(
                    "partition {name:?} is not configured for the LDAP server {}; configured: {}",
                    self.url,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )
            })
    }

    /// The page size in force, within 1..=[`PAGE_SIZE_MAX`].
    pub fn page_size_bounded(&self) -> u32 {
        self.page_size.clamp(1, PAGE_SIZE_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_as_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            format!("{secret:?} {secret}"),
            "Secret(<redacted>) <redacted>"
        );
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_password_file_loses_one_trailing_newline_and_nothing_else() {
        let path = std::env::temp_dir().join(format!("syncfold-ldap-pw-{}", std::process::id()));
        std::fs::write(&path, " two words \r\n").expect("written");
        let read = PasswordSource::File(path.clone()).read();
        let _ = std::fs::remove_file(&path);
        assert_eq!(read.expect("readable").expose(), " two words ");
    }

    #[test]
    fn a_missing_password_is_named_by_its_source_with_the_remedy() {
        let source = PasswordSource::Env("SYNCFOLD_TEST_LDAP_PASSWORD_NEVER_SET".into());
        let message = source.read().expect_err("not set");
        assert!(message.contains("SYNCFOLD_TEST_LDAP_PASSWORD_NEVER_SET is not set; set it"));
        let file = PasswordSource::File("/nonexistent/syncfold/password".into());
        assert!(file
            .read()
            .expect_err("missing")
            .contains("/nonexistent/syncfold/password"));
    }

    #[test]
    fn partitions_take_the_defaults_of_spec_section_9() {
        let partition = LdapPartition::new("people", "ou=people,dc=example,dc=org");
        assert_eq!(partition.filter, "(objectClass=*)");
        assert!(partition.attributes.is_empty());
        assert_eq!(partition.delta, DeltaSource::Accesslog);
        assert_eq!(partition.accesslog_base, "cn=accesslog");
        let settings = LdapSettings::new("ldap://h:1", "cn=a", PasswordSource::Env("P".into()))
            .with_partition(partition);
        assert_eq!(settings.page_size, 500);
        assert!(settings.partition("people").is_ok());
        let unknown = settings.partition("groups").expect_err("not configured");
        assert!(unknown.contains("configured: people"), "{unknown}");
    }
}
