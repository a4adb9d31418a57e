//! A throwaway PostgreSQL server for the tests of the PostgreSQL log.
//!
//! [`PgServer::start`] uses the server named by `SYNCFOLD_TEST_PG_URL` when it is set (a plain
//! `postgres://USER[:PASSWORD]@HOST:PORT/DB` URL, without `log=`; every test then uses log names
//! of its own), and otherwise makes a cluster of its own: `initdb` in a fresh folder under the
//! temporary folder, a server listening only on a Unix socket in that folder (no TCP port, so
//! parallel test runs never collide), and a database `syncfold_test`. The cluster is stopped
//! (`pg_ctl stop -m immediate`) and its folder removed when the `PgServer` is dropped, a failed
//! test included.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: the harness then runs `initdb` and
//! `pg_ctl` as the unprivileged account `nobody` (`runuser -u nobody --`), in a folder owned by
//! it; the tests themselves stay root and reach the server through its socket. The binaries are
//! looked for on `PATH`, then in `/usr/lib/postgresql/*/bin`; when they are missing the tests fail
//! saying how to get them (`.ci/run` installs the `postgresql` package), never pass silently.
//!
//! A cluster left behind by a test process that was killed (`SIGKILL` skips every drop) is
//! stopped and removed by the next test run.
//!
//! The cluster runs with `fsync = off`: these tests kill sessions, never the server or the
//! machine, and what a commit means to syncfold (the server said so, with `synchronous_commit` on)
//! is unchanged by it; it keeps the file fast on a busy machine. A benchmark that measures what a
//! commit costs starts its cluster with [`PgServer::start_durable`] instead: the server's own
//! defaults (`fsync = on`, `full_page_writes = on`).

#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use syncfold::log::PgUrl;

/// The account `initdb` makes the superuser of a cluster of our own.
const SUPERUSER: &str = "syncfold";
/// The database the tests write to.
const DATABASE: &str = "syncfold_test";
/// An account that must give its password (scram-sha-256), for the password stories.
pub const GUARDED_USER: &str = "guarded";
/// Its password.
pub const GUARDED_PASSWORD: &str = "Correct-Horse-7731";
/// The environment variable naming a server to use instead of a cluster of our own.
pub const SERVER_VARIABLE: &str = "SYNCFOLD_TEST_PG_URL";
/// The account the server runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";

static NAMES: AtomicU64 = AtomicU64::new(0);

/// A server for one test: a cluster of its own, or the one `SYNCFOLD_TEST_PG_URL` names.
pub struct PgServer {
    /// The server's URL without `log=`.
    base: String,
    /// The client configuration of a side session (the test's own SQL).
    side: tokio_postgres::Config,
    cluster: Option<Cluster>,
}

struct Cluster {
    folder: PathBuf,
    bin: PathBuf,
    as_user: Option<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.folder.join("data");
        let _ = run_as(
            self.as_user.as_deref(),
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .output();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn run_as(user: Option<&str>, program: &Path, args: &[&str]) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program).args(args);
            command
        }
        None => {
            let mut command = Command::new(program);
            command.args(args);
            command
        }
    }
}

/// The folder holding `initdb` and `pg_ctl`.
fn binaries() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file());
    let installed = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin").join("initdb"))
            .filter(|initdb| initdb.is_file())
            .collect();
        found.sort_by_key(|path| {
            path.components()
                .nth(4)
                .and_then(|version| version.as_os_str().to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        found.pop()
    };
    let initdb = on_path.or_else(installed).unwrap_or_else(|| {
        panic!(
            "PostgreSQL's initdb and pg_ctl were not found (on PATH or in /usr/lib/postgresql/*/bin): \
             the PostgreSQL log's tests need a server. `.ci/run` installs them (apt-get install postgresql); \
             or set {SERVER_VARIABLE} to a server's postgres:// URL"
        )
    });
    let initdb = std::fs::canonicalize(&initdb).unwrap_or(initdb);
    let bin = initdb
        .parent()
        .expect("initdb is in a folder")
        .to_path_buf();
    assert!(
        bin.join("pg_ctl").is_file(),
        "{} has initdb but no pg_ctl: install PostgreSQL's server package (apt-get install postgresql)",
        bin.display()
    );
    bin
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// The numeric ids of `user`.
fn ids_of(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, user])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the account {user} is missing: the tests run PostgreSQL as {user} when run as root"))
    };
    (id("-u"), id("-g"))
}

fn checked(mut command: Command, what: &str, log: Option<&Path>) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what} could not run: {error}"));
    if !output.status.success() {
        let server_log = log
            .and_then(|log| std::fs::read_to_string(log).ok())
            .unwrap_or_default();
        panic!(
            "{what} failed: {}\n{}\n{server_log}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

impl PgServer {
    /// A server for one test (see the module's doc): a cluster of our own runs with `fsync = off`.
    pub fn start() -> PgServer {
        PgServer::start_with(false)
    }

    /// A server whose commits reach the disk (a cluster of our own keeps the server's defaults,
    /// `fsync = on` and `full_page_writes = on`), for benchmarks. A server named by
    /// `SYNCFOLD_TEST_PG_URL` is used as it is configured.
    pub fn start_durable() -> PgServer {
        PgServer::start_with(true)
    }

    fn start_with(durable: bool) -> PgServer {
        if let Ok(url) = std::env::var(SERVER_VARIABLE) {
            let side: tokio_postgres::Config = url
                .parse()
                .unwrap_or_else(|_| panic!("{SERVER_VARIABLE} is not a postgres:// URL"));
            return PgServer {
                base: url,
                side,
                cluster: None,
            };
        }
        let bin = binaries();
        let as_user = running_as_root().then(|| UNPRIVILEGED.to_owned());
        sweep_leftovers(&bin, as_user.as_deref());
        let folder = std::env::temp_dir().join(format!(
            "syncfold-pg-{}-{}",
            std::process::id(),
            NAMES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("a folder for the cluster");
        if let Some(user) = &as_user {
            let (uid, gid) = ids_of(user);
            std::os::unix::fs::chown(&folder, Some(uid), Some(gid))
                .expect("the cluster's folder given to the server's account");
        }
        // Dropped on any panic below: the server stopped, the folder removed.
        let cluster = Cluster {
            folder: folder.clone(),
            bin: bin.clone(),
            as_user: as_user.clone(),
        };
        let data = folder.join("data");
        let data_text = data.to_string_lossy().into_owned();
        checked(
            run_as(
                as_user.as_deref(),
                &bin.join("initdb"),
                &[
                    "-D",
                    &data_text,
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "-N",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
            ),
            &format!(
                "initdb (as {}; the temporary folder must be reachable by that account)",
                as_user.as_deref().unwrap_or("this account")
            ),
            None,
        );
        let fast = if durable {
            ""
        } else {
            "fsync = off\nfull_page_writes = off\n"
        };
        let settings = format!(
            "\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = 5432\n{fast}max_connections = 40\n",
            folder.display()
        );
        append(&data.join("postgresql.conf"), &settings);
        // The guarded account must give its password; everyone else is trusted on the socket.
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all {GUARDED_USER} scram-sha-256\nlocal all all trust\n"),
        )
        .expect("pg_hba.conf written");
        let server_log = folder.join("server.log");
        let mut start = run_as(
            as_user.as_deref(),
            &bin.join("pg_ctl"),
            &[
                "-D",
                &data_text,
                "-l",
                &server_log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        // pg_ctl hands its standard output to the server, which keeps it open: don't wait on it.
        start
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        checked(start, "pg_ctl start", Some(&server_log));
        let mut side = tokio_postgres::Config::new();
        side.host_path(&folder)
            .port(5432)
            .user(SUPERUSER)
            .dbname("postgres");
        let server = PgServer {
            base: format!(
                "postgres://{SUPERUSER}@/{DATABASE}?host={}",
                folder.display()
            ),
            side,
            cluster: Some(cluster),
        };
        let admin = server.side_session();
        admin.execute(&format!("CREATE DATABASE {DATABASE}"));
        admin.execute(&format!(
            "CREATE ROLE {GUARDED_USER} LOGIN PASSWORD '{GUARDED_PASSWORD}'"
        ));
        drop(admin);
        let mut server = server;
        server.side.dbname(DATABASE);
        server
            .side_session()
            .execute(&format!("GRANT ALL ON SCHEMA public TO {GUARDED_USER}"));
        server
    }

    /// Whether the server is a cluster of this test's own (every story may run), rather than a
    /// shared one (stories that change the whole database are left out).
    pub fn owned(&self) -> bool {
        self.cluster.is_some()
    }

    /// The URL of a log of this test: `name` made unique on a shared server.
    pub fn url(&self, name: &str) -> PgUrl {
        let name = if self.owned() {
            name.to_owned()
        } else {
            format!(
                "{name}-{}-{}",
                std::process::id(),
                NAMES.fetch_add(1, Ordering::Relaxed)
            )
        };
        let separator = if self.base.contains('?') { '&' } else { '?' };
        PgUrl::parse(&format!("{}{separator}log={name}", self.base)).expect("the test URL parses")
    }

    /// The URL of a log as the guarded account, with `password` (only on a cluster of our own).
    pub fn guarded_url(&self, name: &str, password: &str) -> PgUrl {
        let cluster = self
            .cluster
            .as_ref()
            .expect("the guarded account exists on a cluster of our own");
        PgUrl::parse(&format!(
            "postgres://{GUARDED_USER}:{password}@/{DATABASE}?host={}&log={name}",
            cluster.folder.display()
        ))
        .expect("the guarded URL parses")
    }

    /// A session of the test's own, beside the stores: to end a store's session, look at the
    /// tables, or change them behind syncfold's back.
    pub fn side_session(&self) -> SideSession {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (client, connection) = runtime
            .block_on(self.side.connect(tokio_postgres::NoTls))
            .expect("the side session connects");
        runtime.spawn(connection);
        SideSession { runtime, client }
    }

    /// The client configuration of a side session (the test's own SQL), for a caller that drives
    /// `tokio-postgres` itself.
    pub fn client_config(&self) -> tokio_postgres::Config {
        self.side.clone()
    }

    /// The server's log, for a failure's message (empty on a shared server).
    pub fn server_log(&self) -> String {
        self.cluster
            .as_ref()
            .and_then(|cluster| std::fs::read_to_string(cluster.folder.join("server.log")).ok())
            .unwrap_or_default()
    }
}

/// Stops and removes the clusters of test processes that were killed before they could (a
/// `syncfold-pg-PID-N` folder whose process is gone); a live process's clusters are left alone.
fn sweep_leftovers(bin: &Path, as_user: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("syncfold-pg-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let data = entry.path().join("data");
        let _ = run_as(
            as_user,
            &bin.join("pg_ctl"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .output();
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("postgresql.conf opens");
    file.write_all(text.as_bytes())
        .expect("postgresql.conf written");
}

/// A plain SQL session for the test's own moves.
pub struct SideSession {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl SideSession {
    /// Runs statements that return nothing.
    pub fn execute(&self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|error| panic!("{sql}: {error:?}"));
    }

    /// The first column of every row, as text (SQL `NULL` as `None`).
    pub fn column(&self, sql: &str) -> Vec<Option<String>> {
        let messages = self
            .runtime
            .block_on(self.client.simple_query(sql))
            .unwrap_or_else(|error| panic!("{sql}: {error:?}"));
        messages
            .into_iter()
            .filter_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
                _ => None,
            })
            .collect()
    }

    /// Ends the server session `backend` (`pg_terminate_backend`), as a dead network or a killed
    /// process would, and waits until it is gone.
    pub fn terminate(&self, backend: i32) {
        let ended = self.column(&format!("SELECT pg_terminate_backend({backend}, 10000)"));
        assert_eq!(ended, vec![Some("t".to_owned())], "session {backend} ended");
    }
}
