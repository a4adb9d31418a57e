//! The URL of a log in PostgreSQL (SPEC §10): `postgres://USER@HOST:PORT/DB?log=NAME`.
//!
//! Parsed here rather than by the client's connection-string parser, for three reasons: `log=`
//! is ours and must not reach the server; an error must name the part that is wrong and show an
//! example, never echo the text (which may hold a password); and the password must stay out of
//! every message, `Debug` output and tracing field. A [`PgUrl`] therefore keeps its password in a
//! [`Secret`] whose `Debug` and `Display` say `***`, and shows itself (`Display`) without it.
//!
//! Accepted forms (`postgresql://` alike):
//!
//! ```text
//! postgres://USER[:PASSWORD]@HOST[:PORT]/DB?log=NAME          TCP (HOST may be [IPv6])
//! postgres://USER@/DB?host=/path/to/socket/folder&log=NAME    a Unix socket in that folder
//! postgres://USER@%2Fpath%2Fto%2Fsocket%2Ffolder/DB           the same, percent-encoded
//! ```
//!
//! Query parameters: `log` (default `default`), `host`, `port`, `user`, `password`, `dbname`,
//! `connect_timeout` (seconds), `application_name`, and `sslmode` (`disable` or `prefer` only:
//! this build speaks plain TCP or a Unix socket, no TLS). Defaults: the user from `PGUSER`, then
//! `USER`; the password from `PGPASSWORD` when the URL has none; the host `/var/run/postgresql`
//! when that folder exists, else `localhost`; port 5432; the database named as the user.

use std::fmt;
use std::time::Duration;

/// The log name used when the URL has no `log=`.
pub const DEFAULT_LOG_NAME: &str = "default";
/// Longest log name accepted.
pub const LOG_NAME_BYTES_MAX: usize = 100;
const EXAMPLE: &str = "postgres://USER@HOST:PORT/DB?log=NAME (or postgres://USER@/DB?host=/path/to/socket/folder&log=NAME)";
const DEFAULT_SOCKET_FOLDER: &str = "/var/run/postgresql";
const DEFAULT_PORT: u16 = 5432;

/// A password, kept out of every message: its `Debug` and `Display` are `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The password itself, for the connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgHost {
    /// A host name or address, reached over TCP.
    Tcp(String),
    /// A folder holding the server's Unix socket (`.s.PGSQL.PORT`).
    Socket(std::path::PathBuf),
}

/// A malformed log URL: which part, what is wrong, and an example. Never holds the password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the log URL's {part} {problem}; expected {EXAMPLE}")]
pub struct PgUrlError {
    /// The part of the URL at fault (`scheme`, `port`, `log=`…).
    pub part: String,
    /// What is wrong with it.
    pub problem: String,
}

fn wrong(part: &str, problem: impl Into<String>) -> PgUrlError {
    PgUrlError {
        part: part.to_owned(),
        problem: problem.into(),
    }
}

/// A parsed log URL: the server, the account, the database and the log's name.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    user: String,
    password: Option<Secret>,
    host: PgHost,
    port: u16,
    dbname: String,
    log: String,
    connect_timeout: Option<Duration>,
    application_name: Option<String>,
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgUrl")
            .field("url", &self.to_string())
            .finish()
    }
}

/// The URL without its password (`USER:***@` when one was given), for messages and logs.
impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.password.is_some() { ":***" } else { "" };
        match &self.host {
            PgHost::Tcp(host) if host.contains(':') => write!(
                f,
                "postgres://{}{secret}@[{host}]:{}/{}?log={}",
                self.user, self.port, self.dbname, self.log
            ),
            PgHost::Tcp(host) => write!(
                f,
                "postgres://{}{secret}@{host}:{}/{}?log={}",
                self.user, self.port, self.dbname, self.log
            ),
            PgHost::Socket(folder) => write!(
                f,
                "postgres://{}{secret}@/{}?host={}&port={}&log={}",
                self.user,
                self.dbname,
                folder.display(),
                self.port,
                self.log
            ),
        }
    }
}

/// Whether `text` names a log in PostgreSQL rather than a folder.
pub fn is_pg_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

fn percent_decode(part: &str, text: &str) -> Result<String, PgUrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let digits = bytes
                .get(at + 1..at + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| {
                    wrong(
                        part,
                        "has a '%' not followed by two hexadecimal digits (write %25 for '%')",
                    )
                })?;
            out.push(digits);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).map_err(|_| wrong(part, "is not UTF-8 once percent-decoded"))
}

/// Checks a log name: 1 to 100 letters, digits, `.`, `_` or `-`.
pub fn check_log_name(name: &str) -> Result<(), PgUrlError> {
    if name.is_empty() {
        return Err(wrong(
            "log=",
            "is empty (leave it out for the log named `default`)",
        ));
    }
    if name.len() > LOG_NAME_BYTES_MAX {
        return Err(wrong(
            "log=",
            format!(
                "is {} bytes long, more than {LOG_NAME_BYTES_MAX}",
                name.len()
            ),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(wrong(
            "log=",
            format!(
                "holds {bad:?}; a log name is made of letters, digits, '.', '_' and '-' (`{}`)",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

fn parse_port(text: &str, part: &str) -> Result<u16, PgUrlError> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(wrong(
            part,
            format!(
                "`{}` is not a port number (1 to 65535)",
                text.escape_debug()
            ),
        )),
    }
}

fn host_of(text: String) -> PgHost {
    if text.starts_with('/') {
        PgHost::Socket(text.into())
    } else {
        PgHost::Tcp(text)
    }
}

impl PgUrl {
    /// Parses a log URL (see the module's forms). The error names the part at fault and never
    /// repeats the password.
    pub fn parse(text: &str) -> Result<PgUrl, PgUrlError> {
        PgUrl::parse_with(text, &|name| std::env::var(name).ok())
    }

    /// [`PgUrl::parse`], taking the environment (`PGUSER`, `USER`, `PGPASSWORD`) from `env`.
    pub fn parse_with(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PgUrl, PgUrlError> {
        let rest = text
            .strip_prefix("postgresql://")
            .or_else(|| text.strip_prefix("postgres://"))
            .ok_or_else(|| wrong("scheme", "must be postgres:// or postgresql://"))?;
        if rest.contains('#') {
            return Err(wrong("fragment", "(#…) is not allowed (write %23 for '#')"));
        }
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((authority, path)) => (authority, Some(path)),
            None => (before_query, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let mut user = None;
        let mut password = None;
        if let Some(userinfo) = userinfo {
            let (name, secret) = match userinfo.split_once(':') {
                Some((name, secret)) => (name, Some(secret)),
                None => (userinfo, None),
            };
            if !name.is_empty() {
                user = Some(percent_decode("user", name)?);
            }
            if let Some(secret) = secret {
                // The password's own text is never shown, whatever is wrong with it.
                let decoded = percent_decode("password", secret).map_err(|_| {
                    wrong(
                        "password",
                        "is malformed (a '%' must be followed by two hexadecimal digits)",
                    )
                })?;
                password = Some(Secret(decoded));
            }
        }
        let mut host = None;
        let mut port = None;
        if !hostport.is_empty() {
            if hostport.contains(',') {
                return Err(wrong(
                    "host",
                    "names several servers; give one (failover between servers is not supported)",
                ));
            }
            let (name, port_text) = if let Some(inner) = hostport.strip_prefix('[') {
                let (address, after) = inner
                    .split_once(']')
                    .ok_or_else(|| wrong("host", "opens '[' without closing it"))?;
                let port_text =
                    match after {
                        "" => None,
                        after => Some(after.strip_prefix(':').ok_or_else(|| {
                            wrong("host", "has text after ']' that is not ':PORT'")
                        })?),
                    };
                (address.to_owned(), port_text)
            } else {
                match hostport.rsplit_once(':') {
                    Some((name, port_text)) => (percent_decode("host", name)?, Some(port_text)),
                    None => (percent_decode("host", hostport)?, None),
                }
            };
            if !name.is_empty() {
                host = Some(host_of(name));
            }
            if let Some(port_text) = port_text {
                port = Some(parse_port(port_text, "port")?);
            }
        }
        let mut dbname = match path {
            Some(path) if path.contains('/') => {
                return Err(wrong(
                    "database",
                    "holds a '/'; the path is only the database's name",
                ))
            }
            Some("") | None => None,
            Some(path) => Some(percent_decode("database", path)?),
        };
        let mut log = None;
        let mut connect_timeout = None;
        let mut application_name = None;
        let mut seen: Vec<String> = Vec::new();
        for pair in query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
        {
            // The pair is not shown: it may be a password written without its key.
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| wrong("query", "has a parameter without '=VALUE'"))?;
            let key = percent_decode("query", key)?;
            if seen.contains(&key) {
                return Err(wrong(&format!("{key}="), "is given twice"));
            }
            seen.push(key.clone());
            let part = format!("{key}=");
            if key == "password" {
                let decoded = percent_decode("password", value).map_err(|_| {
                    wrong(
                        "password",
                        "is malformed (a '%' must be followed by two hexadecimal digits)",
                    )
                })?;
                password = Some(Secret(decoded));
                continue;
            }
            let value = percent_decode(&part, value)?;
            match key.as_str() {
                "log" => log = Some(value),
                "host" => host = Some(host_of(value)),
                "port" => port = Some(parse_port(&value, &part)?),
                "user" => user = Some(value),
                "dbname" => dbname = Some(value),
                "connect_timeout" => {
                    let seconds = value.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| {
                        wrong(&part, "must be a whole number of seconds, at least 1")
                    })?;
                    connect_timeout = Some(Duration::from_secs(seconds));
                }
                "application_name" => application_name = Some(value),
                "sslmode" => match value.as_str() {
                    "disable" | "prefer" | "allow" => {}
                    _ => {
                        return Err(wrong(
                            &part,
                            "asks for TLS, which this build of syncfold does not speak yet; use a Unix socket or a trusted network, with sslmode=disable",
                        ))
                    }
                },
                other => {
                    return Err(wrong(
                        "query",
                        format!(
                            "has the unknown parameter `{}`; known: log, host, port, user, password, dbname, connect_timeout, application_name, sslmode",
                            other.escape_debug()
                        ),
                    ))
                }
            }
        }
        let log = log.unwrap_or_else(|| DEFAULT_LOG_NAME.to_owned());
        check_log_name(&log)?;
        let user = match user.or_else(|| env("PGUSER")).or_else(|| env("USER")) {
            Some(user) if !user.is_empty() => user,
            _ => {
                return Err(wrong(
                    "user",
                    "is missing (and neither PGUSER nor USER is set)",
                ))
            }
        };
        let password = password.or_else(|| env("PGPASSWORD").map(Secret));
        let host = host.unwrap_or_else(|| {
            if std::path::Path::new(DEFAULT_SOCKET_FOLDER).is_dir() {
                PgHost::Socket(DEFAULT_SOCKET_FOLDER.into())
            } else {
                PgHost::Tcp("localhost".to_owned())
            }
        });
        let dbname = dbname.unwrap_or_else(|| user.clone());
        if dbname.is_empty() {
            return Err(wrong("database", "is empty"));
        }
        Ok(PgUrl {
            user,
            password,
            host,
            port: port.unwrap_or(DEFAULT_PORT),
            dbname,
            log,
            connect_timeout,
            application_name,
        })
    }

    /// The log's name in the database.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// The same server, account and database, another log.
    pub fn with_log(&self, log: &str) -> Result<PgUrl, PgUrlError> {
        check_log_name(log)?;
        Ok(PgUrl {
            log: log.to_owned(),
            ..self.clone()
        })
    }

    /// The account.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The database.
    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    /// The server.
    pub fn host(&self) -> &PgHost {
        &self.host
    }

    /// The port (also the name of a Unix socket: `.s.PGSQL.PORT`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether a password was given (in the URL or `PGPASSWORD`).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The password, when the caller must hide it from a text of its own.
    pub(crate) fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// The client's configuration: everything but `log=`.
    pub(crate) fn config(&self, connect_timeout: Duration) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .user(&self.user)
            .dbname(&self.dbname)
            .port(self.port)
            .ssl_mode(tokio_postgres::config::SslMode::Disable)
            .connect_timeout(self.connect_timeout.unwrap_or(connect_timeout))
            .application_name(
                self.application_name
                    .clone()
                    .unwrap_or_else(|| format!("syncfold log {}", self.log)),
            );
        match &self.host {
            PgHost::Tcp(host) => config.host(host),
            PgHost::Socket(folder) => config.host_path(folder),
        };
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PgUrl, PgUrlError> {
        PgUrl::parse_with(text, &|name| (name == "USER").then(|| "osuser".to_owned()))
    }

    #[test]
    fn the_forms_of_spec_10_parse() {
        let url = parse("postgres://alice@db.example:6543/sync?log=hr").expect("parses");
        assert_eq!(
            (url.user(), url.dbname(), url.log(), url.port()),
            ("alice", "sync", "hr", 6543)
        );
        assert_eq!(url.host(), &PgHost::Tcp("db.example".to_owned()));
        assert_eq!(
            url.to_string(),
            "postgres://alice@db.example:6543/sync?log=hr"
        );

        let url = parse("postgresql://bob@/sync?host=/tmp/pg%20dir&log=a.b-c_d").expect("parses");
        assert_eq!(url.host(), &PgHost::Socket("/tmp/pg dir".into()));
        assert_eq!(url.log(), "a.b-c_d");

        let url = parse("postgres://%2Frun%2Fpg/sync").expect("parses");
        assert_eq!(url.host(), &PgHost::Socket("/run/pg".into()));
        assert_eq!((url.user(), url.log()), ("osuser", DEFAULT_LOG_NAME));

        let url = parse("postgres://u@[::1]:7000/d").expect("parses");
        assert_eq!(url.host(), &PgHost::Tcp("::1".to_owned()));
        assert_eq!(url.to_string(), "postgres://u@[::1]:7000/d?log=default");
    }

    #[test]
    fn a_password_is_never_shown() {
        let url = parse("postgres://u:Hunter2-Secret@h/d?log=x").expect("parses");
        assert!(url.has_password());
        for text in [
            url.to_string(),
            format!("{url:?}"),
            format!("{:?}", url.config(Duration::from_secs(1))),
        ] {
            assert!(!text.contains("Hunter2"), "{text}");
        }
        let url = parse("postgres://u@h/d?password=Hunter2-Secret").expect("parses");
        assert!(!format!("{url:?}").contains("Hunter2"));
        let error = parse("postgres://u:Hunter2%zz@h/d").expect_err("malformed");
        assert!(!error.to_string().contains("Hunter2"), "{error}");
        let error = parse("postgres://u:Hunter2@h:99999/d").expect_err("bad port");
        assert!(!error.to_string().contains("Hunter2"), "{error}");
    }

    #[test]
    fn a_malformed_url_names_its_part_and_shows_an_example() {
        for (text, part) in [
            ("mysql://u@h/d", "scheme"),
            ("postgres://u@h:port/d", "port"),
            ("postgres://u@h/d?log=", "log="),
            ("postgres://u@h/d?log=a/b", "log="),
            ("postgres://u@h/d?log=a&log=b", "log="),
            ("postgres://u@h/d?flavour=x", "query"),
            ("postgres://u@h/d?sslmode=require", "sslmode="),
            ("postgres://u@h,g/d", "host"),
            ("postgres://u@h/d/e", "database"),
        ] {
            let error = parse(text).expect_err(text);
            assert_eq!(error.part, part, "{text}: {error}");
            assert!(error
                .to_string()
                .contains("postgres://USER@HOST:PORT/DB?log=NAME"));
        }
    }
}
