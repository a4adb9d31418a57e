//! Connectors files (SPEC §9): the real systems `syncfold run` drives, validated as scenario files
//! are, every problem placed as `FILE:LINE:COLUMN: KEY: what; expected …`.
//!
//! ```toml
//! [[connector]]
//! name = "corp"
//! type = "ldap"
//! url = "ldap://127.0.0.1:3389"
//! bind_dn = "cn=admin,dc=example,dc=org"
//! password_env = "CORP_LDAP_PASSWORD"   # or password_file = "PATH"
//! page_size = 500                       # optional; and the limits of SPEC §7
//!
//!   [[connector.partition]]
//!   name = "people"
//!   base_dn = "ou=people,dc=example,dc=org"
//!   filter = "(objectClass=inetOrgPerson)"        # default (objectClass=*)
//!   attributes = ["cn", "sn", "mail", "manager"]   # default: all user attributes
//!   reference_attributes = ["manager"]             # DN-valued; exported after the others
//!   delta = "accesslog"                            # the delta source (the default)
//!   accesslog_base = "cn=accesslog"                # the default
//! ```
//!
//! A secret is never in the file: it names where the password is (an environment variable or a
//! file), and the connector reads it when it binds. Nothing here reads it.

use super::sections::{parse_settings, SETTINGS_KEYS};
use super::walker::{count, non_empty, string, type_name, Entry, Source, Table};
use super::{ScenarioError, SCENARIO_BYTES_MAX};
use crate::core::{ConnectorName, PartitionName, Settings};
use std::path::{Path, PathBuf};
use toml::de::DeValue;

/// The connector types this build has.
pub const CONNECTOR_TYPES: [&str; 1] = ["ldap"];

/// The delta sources of an LDAP partition this build has.
pub const DELTA_SOURCES: [&str; 1] = ["accesslog"];

/// The largest page size accepted: servers cap paged results near this, and a page is held in
/// memory whole.
pub const PAGE_SIZE_MAX: u64 = 10_000;

/// A parsed and validated connectors file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorsFile {
    /// The file name as the caller gave it, for messages.
    pub source: String,
    /// The connectors, in file order; their names are unique.
    pub connectors: Vec<ConnectorConfig>,
}

impl ConnectorsFile {
    /// The connector named `name`.
    pub fn connector(&self, name: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.name.as_str() == name)
    }

    /// The connectors' names, in file order, for messages.
    pub fn names(&self) -> Vec<&str> {
        self.connectors.iter().map(|c| c.name.as_str()).collect()
    }
}

/// One `[[connector]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Its name: the connector the log records.
    pub name: ConnectorName,
    /// The limits of SPEC §7 for its runs.
    pub settings: Settings,
    /// How to reach the directory.
    pub ldap: LdapConfig,
    /// Its partitions, in file order; their names are unique within the connector.
    pub partitions: Vec<PartitionConfig>,
    /// The 1-based line of its `[[connector]]` header.
    pub line: usize,
}

impl ConnectorConfig {
    /// The partition named `name`.
    pub fn partition(&self, name: &str) -> Option<&PartitionConfig> {
        self.partitions.iter().find(|p| p.name.as_str() == name)
    }

    /// The partitions' names, in file order, for messages.
    pub fn partition_names(&self) -> Vec<&str> {
        self.partitions.iter().map(|p| p.name.as_str()).collect()
    }
}

/// How an LDAP connector reaches its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapConfig {
    /// `ldap://HOST:PORT`.
    pub url: String,
    /// The DN it binds as.
    pub bind_dn: String,
    /// Where the bind password is: never the password itself.
    pub password: PasswordSource,
    /// Entries per page of a full import, and changes per page of a delta import.
    pub page_size: u32,
}

/// Where a secret is kept. The file names the place; the connector reads the secret when it
/// binds, so it never enters the log, a message or a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// An environment variable of the process that runs the connector.
    Env(String),
    /// A file whose content (without a trailing line break) is the password.
    File(PathBuf),
}

/// One `[[connector.partition]]` of an LDAP connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionConfig {
    /// Its name.
    pub name: PartitionName,
    /// The subtree it holds.
    pub base_dn: String,
    /// Which entries of the subtree belong to it.
    pub filter: String,
    /// The attributes it reads and writes; `None` for all user attributes.
    pub attributes: Option<Vec<String>>,
    /// DN-valued attributes, exported after the others.
    pub reference_attributes: Vec<String>,
    /// The delta source: `accesslog`.
    pub delta: String,
    /// Where the accesslog overlay writes its entries.
    pub accesslog_base: String,
}

const ROOT_KEYS: &[&str] = &["connector"];
const LDAP_KEYS: &[&str] = &[
    "name",
    "type",
    "url",
    "bind_dn",
    "password_env",
    "password_file",
    "page_size",
    "partition",
];
const PARTITION_KEYS: &[&str] = &[
    "name",
    "base_dn",
    "filter",
    "attributes",
    "reference_attributes",
    "delta",
    "accesslog_base",
];

/// Reads and validates the connectors file at `path`.
pub fn load_connectors(path: &Path) -> Result<ConnectorsFile, ScenarioError> {
    let (name, text) = super::read_text(path, "connectors file", || {
        format!(
            "the connectors file is larger than {SCENARIO_BYTES_MAX} bytes; is it the right file?"
        )
    })?;
    parse_connectors(&name, &text)
}

/// Parses connectors TOML `text`; `source_name` names the file in messages.
pub fn parse_connectors(source_name: &str, text: &str) -> Result<ConnectorsFile, ScenarioError> {
    let source = Source::new(source_name, text);
    let document = source.document()?;
    let root = Table::new(document.get_ref(), document.span(), String::new());
    root.allow_only(&source, ROOT_KEYS, |_| None)?;
    let tables = root.tables(
        &source,
        "connector",
        "write [[connector]] (double brackets) before each connector",
    )?;
    if tables.is_empty() {
        return Err(source.error(
            &(0..0),
            "connector",
            "no [[connector]]: a connectors file configures at least one, e.g. [[connector]] \
             with name = \"corp\" and type = \"ldap\" on the next lines",
        ));
    }
    let mut connectors: Vec<ConnectorConfig> = Vec::new();
    for table in &tables {
        let connector = parse_connector(&source, table)?;
        if let Some(earlier) = connectors.iter().find(|c| c.name == connector.name) {
            let entry = table.get("name").map_or(&table.span, |e| &e.key_span);
            return Err(source.error(
                entry,
                &format!("{}.name", table.path),
                format!(
                    "a second connector named {:?} (the first is at line {}); give each connector its own name",
                    connector.name.as_str(),
                    earlier.line
                ),
            ));
        }
        connectors.push(connector);
    }
    Ok(ConnectorsFile {
        source: source_name.to_owned(),
        connectors,
    })
}

fn parse_connector(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<ConnectorConfig, ScenarioError> {
    let allowed: Vec<&str> = LDAP_KEYS.iter().chain(SETTINGS_KEYS).copied().collect();
    table.allow_only(source, &allowed, |key| {
        (key == "password").then(|| {
            "a password is never written in a connectors file: name where it is kept with \
             password_env = \"VARIABLE\" or password_file = \"PATH\""
                .to_owned()
        })
    })?;
    let line = source.locate(table.span.start).0;
    let name = table.required(source, "name", "the connector's name, e.g. name = \"corp\"")?;
    let name = non_empty(source, name, "the connector's name, e.g. name = \"corp\"")?;
    let kind = table.required(source, "type", "the connector's type, e.g. type = \"ldap\"")?;
    let kind_text = string(source, kind.value, &kind.path, "the connector's type")?;
    if !CONNECTOR_TYPES.contains(&kind_text) {
        return Err(source.error(
            &kind.value.span(),
            &kind.path,
            format!(
                "unknown connector type {kind_text:?} (expected one of: {})",
                CONNECTOR_TYPES.join(", ")
            ),
        ));
    }
    let url = table.required(
        source,
        "url",
        "the server, e.g. url = \"ldap://127.0.0.1:389\"",
    )?;
    let url_text = non_empty(source, url, "the server, e.g. \"ldap://127.0.0.1:389\"")?;
    if !url_text.starts_with("ldap://") {
        let why = if url_text.starts_with("ldaps://") {
            "ldaps:// is not supported by this build of syncfold yet"
        } else {
            "an LDAP URL starts with ldap://"
        };
        return Err(source.error(
            &url.value.span(),
            &url.path,
            format!("{why} (expected ldap://HOST:PORT, e.g. \"ldap://127.0.0.1:389\")"),
        ));
    }
    let bind_dn = table.required(
        source,
        "bind_dn",
        "the DN to bind as, e.g. bind_dn = \"cn=admin,dc=example,dc=org\"",
    )?;
    let bind_dn = non_empty(source, bind_dn, "the DN to bind as")?;
    let password =
        match (table.get("password_env"), table.get("password_file")) {
            (Some(env), None) => PasswordSource::Env(
                non_empty(source, env, "an environment variable's name")?.to_owned(),
            ),
            (None, Some(file)) => PasswordSource::File(PathBuf::from(non_empty(
                source,
                file,
                "the path of a file holding the password",
            )?)),
            (Some(_), Some(second)) => {
                return Err(source.error(
                    &second.key_span,
                    &second.path,
                    "password_env and password_file are both given: keep one",
                ))
            }
            (None, None) => return Err(source.error(
                &table.span,
                &format!("{}.password_env", table.path),
                "missing key `password_env` or `password_file`: where the bind password is kept, \
                 e.g. password_env = \"CORP_LDAP_PASSWORD\"",
            )),
        };
    let page_size = match table.get("page_size") {
        Some(entry) => {
            let size = count(source, entry.value, &entry.path, "entries per page")?;
            if size == 0 || size > PAGE_SIZE_MAX {
                return Err(source.error(
                    &entry.value.span(),
                    &entry.path,
                    format!("must be from 1 to {PAGE_SIZE_MAX} entries per page (got {size})"),
                ));
            }
            u32::try_from(size).unwrap_or(u32::MAX)
        }
        None => 500,
    };
    let settings = parse_settings(source, table)?;
    let partition_tables = table.tables(
        source,
        "partition",
        "write [[connector.partition]] (double brackets) after its connector",
    )?;
    if partition_tables.is_empty() {
        return Err(source.error(
            &table.span,
            &format!("{}.partition", table.path),
            "no [[connector.partition]]: a connector needs at least one partition, \
             with name and base_dn",
        ));
    }
    let mut partitions: Vec<PartitionConfig> = Vec::new();
    for partition_table in &partition_tables {
        let partition = parse_partition(source, partition_table)?;
        if partitions.iter().any(|p| p.name == partition.name) {
            let at = partition_table
                .get("name")
                .map_or(&partition_table.span, |e| &e.key_span);
            return Err(source.error(
                at,
                &format!("{}.name", partition_table.path),
                format!(
                    "a second partition named {:?} in this connector; give each its own name",
                    partition.name.as_str()
                ),
            ));
        }
        partitions.push(partition);
    }
    Ok(ConnectorConfig {
        name: ConnectorName(name.to_owned()),
        settings,
        ldap: LdapConfig {
            url: url_text.to_owned(),
            bind_dn: bind_dn.to_owned(),
            password,
            page_size,
        },
        partitions,
        line,
    })
}

/// A list of attribute names: strings, not empty, no repeats.
fn names(source: &Source<'_>, entry: &Entry<'_, '_>) -> Result<Vec<String>, ScenarioError> {
    let DeValue::Array(items) = entry.value.get_ref() else {
        return Err(source.error(
            &entry.value.span(),
            &entry.path,
            format!(
                "expected an array of attribute names, e.g. [\"cn\", \"mail\"], found {}",
                type_name(entry.value.get_ref())
            ),
        ));
    };
    let mut out: Vec<String> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("{}[{index}]", entry.path);
        let name = string(source, item, &path, "an attribute name")?;
        if name.is_empty()
            || name
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == ';'))
        {
            return Err(source.error(
                &item.span(),
                &path,
                format!(
                    "{name:?} is not an attribute name (letters, digits and dashes, e.g. \"mail\")"
                ),
            ));
        }
        if out.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
            return Err(source.error(
                &item.span(),
                &path,
                format!("{name:?} is listed twice (attribute names ignore case)"),
            ));
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

fn parse_partition(
    source: &Source<'_>,
    table: &Table<'_, '_>,
) -> Result<PartitionConfig, ScenarioError> {
    table.allow_only(source, PARTITION_KEYS, |_| None)?;
    let name = table.required(
        source,
        "name",
        "the partition's name, e.g. name = \"people\"",
    )?;
    let name = non_empty(source, name, "the partition's name")?;
    let base_dn = table.required(
        source,
        "base_dn",
        "the subtree it holds, e.g. base_dn = \"ou=people,dc=example,dc=org\"",
    )?;
    let base_dn = non_empty(source, base_dn, "the subtree it holds")?;
    let filter = match table.get("filter") {
        Some(entry) => {
            let text = non_empty(
                source,
                entry,
                "an LDAP filter, e.g. \"(objectClass=person)\"",
            )?;
            if !(text.starts_with('(') && text.ends_with(')')) {
                return Err(source.error(
                    &entry.value.span(),
                    &entry.path,
                    format!("{text:?} is not an LDAP filter: write it in parentheses, e.g. \"(objectClass=person)\""),
                ));
            }
            text.to_owned()
        }
        None => "(objectClass=*)".to_owned(),
    };
    let attributes = table
        .get("attributes")
        .map(|entry| names(source, entry))
        .transpose()?;
    let reference_attributes = match table.get("reference_attributes") {
        Some(entry) => {
            let references = names(source, entry)?;
            if let Some(listed) = &attributes {
                if let Some(missing) = references
                    .iter()
                    .find(|r| !listed.iter().any(|a| a.eq_ignore_ascii_case(r)))
                {
                    return Err(source.error(
                        &entry.value.span(),
                        &entry.path,
                        format!(
                            "{missing:?} is not in this partition's attributes ({}): add it there too",
                            listed.join(", ")
                        ),
                    ));
                }
            }
            references
        }
        None => Vec::new(),
    };
    let delta = match table.get("delta") {
        Some(entry) => {
            let text = string(source, entry.value, &entry.path, "the delta source")?;
            if !DELTA_SOURCES.contains(&text) {
                let why = if text == "syncrepl" {
                    "syncrepl is not supported by this build of syncfold yet"
                } else {
                    "unknown delta source"
                };
                return Err(source.error(
                    &entry.value.span(),
                    &entry.path,
                    format!(
                        "{why}: {text:?} (expected one of: {})",
                        DELTA_SOURCES.join(", ")
                    ),
                ));
            }
            text.to_owned()
        }
        None => "accesslog".to_owned(),
    };
    let accesslog_base = match table.get("accesslog_base") {
        Some(entry) => non_empty(
            source,
            entry,
            "the accesslog database's suffix, e.g. \"cn=accesslog\"",
        )?
        .to_owned(),
        None => "cn=accesslog".to_owned(),
    };
    Ok(PartitionConfig {
        name: PartitionName(name.to_owned()),
        base_dn: base_dn.to_owned(),
        filter,
        attributes,
        reference_attributes,
        delta,
        accesslog_base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"[[connector]]
name = "corp"
type = "ldap"
url = "ldap://127.0.0.1:3389"
bind_dn = "cn=admin,dc=example,dc=org"
password_env = "CORP_LDAP_PASSWORD"
max_errors = 10

  [[connector.partition]]
  name = "people"
  base_dn = "ou=people,dc=example,dc=org"
  filter = "(objectClass=inetOrgPerson)"
  attributes = ["cn", "sn", "mail", "manager"]
  reference_attributes = ["manager"]

  [[connector.partition]]
  name = "groups"
  base_dn = "ou=groups,dc=example,dc=org"
"#;

    #[test]
    fn a_whole_file_reads_with_its_defaults() {
        let file = parse_connectors("c.toml", GOOD).expect("valid");
        let corp = file.connector("corp").expect("corp");
        assert_eq!(corp.line, 1);
        assert_eq!(corp.ldap.page_size, 500);
        assert_eq!(corp.settings.max_errors, 10);
        assert_eq!(
            corp.ldap.password,
            PasswordSource::Env("CORP_LDAP_PASSWORD".into())
        );
        let people = corp.partition("people").expect("people");
        assert_eq!(people.reference_attributes, vec!["manager".to_owned()]);
        let groups = corp.partition("groups").expect("groups");
        assert_eq!(groups.filter, "(objectClass=*)");
        assert_eq!(groups.attributes, None);
        assert_eq!(groups.delta, "accesslog");
        assert_eq!(groups.accesslog_base, "cn=accesslog");
        assert_eq!(corp.partition_names(), vec!["people", "groups"]);
    }

    /// Each mistake is placed and says what to write instead.
    #[test]
    fn every_mistake_names_its_place_and_the_remedy() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "password_env = \"CORP_LDAP_PASSWORD\"",
                "password = \"hunter2\"",
                "c.toml:6:1: connector[0].password: a password is never written in a connectors file",
            ),
            (
                "password_env = \"CORP_LDAP_PASSWORD\"",
                "password_env = \"X\"\npassword_file = \"/run/secret\"",
                "c.toml:7:1: connector[0].password_file: password_env and password_file are both given",
            ),
            (
                "password_env = \"CORP_LDAP_PASSWORD\"",
                "",
                "c.toml:1:1: connector[0].password_env: missing key `password_env` or `password_file`",
            ),
            (
                "type = \"ldap\"",
                "type = \"ad\"",
                "c.toml:3:8: connector[0].type: unknown connector type \"ad\" (expected one of: ldap)",
            ),
            (
                "url = \"ldap://127.0.0.1:3389\"",
                "url = \"ldaps://127.0.0.1:636\"",
                "c.toml:4:7: connector[0].url: ldaps:// is not supported by this build",
            ),
            (
                "max_errors = 10",
                "page_size = 0",
                "c.toml:7:13: connector[0].page_size: must be from 1 to 10000",
            ),
            (
                "reference_attributes = [\"manager\"]",
                "reference_attributes = [\"owner\"]",
                "c.toml:14:26: connector[0].partition[0].reference_attributes: \"owner\" is not in this partition's attributes",
            ),
            (
                "  name = \"groups\"",
                "  name = \"groups\"\n  delta = \"syncrepl\"",
                "c.toml:18:11: connector[0].partition[1].delta: syncrepl is not supported by this build of syncfold yet",
            ),
            (
                "  name = \"groups\"",
                "  name = \"people\"",
                "c.toml:17:3: connector[0].partition[1].name: a second partition named \"people\"",
            ),
            (
                "filter = \"(objectClass=inetOrgPerson)\"",
                "filter = \"objectClass=inetOrgPerson\"",
                "c.toml:12:12: connector[0].partition[0].filter: \"objectClass=inetOrgPerson\" is not an LDAP filter",
            ),
            (
                "  base_dn = \"ou=groups,dc=example,dc=org\"",
                "  base_dn = \"ou=groups,dc=example,dc=org\"\n  bind_dn = \"x\"",
                "c.toml:19:3: connector[0].partition[1].bind_dn: unknown key \"bind_dn\"",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(GOOD.contains(from), "the case edits {from:?}");
            let text = GOOD.replacen(from, to, 1);
            let error = parse_connectors("c.toml", &text).expect_err(expected);
            assert!(
                error.to_string().starts_with(expected),
                "got:      {error}\nexpected: {expected}…"
            );
        }
        let twice = format!(
            "{GOOD}\n{}",
            GOOD.replace("name = \"groups\"", "name = \"g\"")
        );
        let error = parse_connectors("c.toml", &twice).expect_err("two connectors named corp");
        assert!(
            error.to_string().starts_with(
                "c.toml:21:1: connector[1].name: a second connector named \"corp\" (the first is at line 1)"
            ),
            "{error}"
        );
        let error = parse_connectors("c.toml", "").expect_err("empty");
        assert!(error.to_string().contains("no [[connector]]"), "{error}");
    }
}
