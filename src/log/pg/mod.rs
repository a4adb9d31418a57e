//! A log in PostgreSQL (SPEC §10): several engines, one shared log, one writer at a time.
//!
//! [`PgStore`] is a [`RecordStore`]: it keeps record bytes by sequence number, snapshots and the
//! head note in a database, and the log does every check above it (CRC, chain, rules, the
//! acknowledged extent), exactly as over sled. What a database adds is sharing, so what this
//! module is about is *who may write*.
//!
//! # Tables
//!
//! Created on first use by a writer, in the connection's default schema, keyed by the log's name
//! so that several logs live in one database. Their names are public (operators query them,
//! later versions migrate them): never rename them.
//!
//! ```text
//! syncfold_schema     (singleton, version)                      the layout's version: 1
//! syncfold_records    (log, seq, bytes)       key (log, seq)    the records, as the log encodes them
//! syncfold_snapshots  (log, seq, bytes)       key (log, seq)    the snapshots
//! syncfold_heads      (log, seq, hash, written_at)  key log     the head note
//! syncfold_writers    (log, epoch, pid, host, backend_pid, since)  key log   the current writer
//! ```
//!
//! A database whose `syncfold_schema` names a newer version is refused
//! ([`StoreError::NewerSchema`]), as a sled log of a newer format is.
//!
//! # The sequence is the log's own
//!
//! A record's `seq` is the one the log gives it ([`RecordStore::append`]), never a PostgreSQL
//! sequence (those are handed out in the order transactions *start*, not commit, so a reader
//! tailing by number could skip a number that commits later). Every flush transaction checks,
//! under the writer's row lock, that the log's last stored record is the one this writer
//! expects, and appends the next numbers after it: the numbers are dense and in commit order, and
//! a reader that has seen record `n` will see `n + 1` next and nothing before it later.
//!
//! # Batching and durability
//!
//! `append` buffers in memory (and commits early once the buffer reaches
//! [`PENDING_BYTES_MAX`], which only makes more of the log durable sooner); `flush` commits the
//! buffered records and snapshot changes in one transaction, with `synchronous_commit` on for the
//! session, and returns once the server has said the commit is done; `write_head` is a
//! transaction of its own, durable on return. A process that dies before a flush leaves nothing
//! of what it buffered: the log reopens at its last flush, a prefix (R13).
//!
//! # The fence: one writer at a time
//!
//! Two mechanisms, each enough for its half:
//!
//! - **Exclusion.** A writer takes a session-level advisory lock (key: the first 8 bytes of the
//!   BLAKE3 hash of `syncfold log NAME`, so any log name works and two names collide with
//!   odds of 2⁻⁶⁴) on the very connection that appends. The server releases it when that session
//!   ends, however it ends. A second writer fails at once with [`StoreError::Busy`] naming the
//!   holder, or, with [`PgOpen::wait`], polls until the lock is free and takes over.
//! - **Fencing.** Taking over increments the log's *epoch* in `syncfold_writers` (with the
//!   holder's process id, host, server session and time). Every write transaction (flush, head
//!   note, discard) first locks that row (`SELECT … FOR UPDATE`) and checks that the epoch is
//!   still this writer's, and that the last record is the one it expects. So a writer that was
//!   replaced cannot append even before it learns it was, and a writer whose session ended
//!   cannot either (its connection is gone, and this store never reconnects on its own: a new
//!   session would not hold the lock). Either way it gets [`StoreError::Fenced`], saying what
//!   of its last flush was stored: nothing, or — when the connection broke during the commit
//!   itself — unknown until the log is reopened.
//!
//! Readers ([`PgStore::open_read_only`]) take no lock, never write (their session is read-only),
//! and see only committed records, at any time beside the writer.
//!
//! # Why `tokio-postgres` on a private runtime
//!
//! The [`RecordStore`] trait is synchronous. The `postgres` crate is a synchronous wrapper that
//! runs `tokio-postgres` on a private current-thread runtime; building it costs the same crates
//! plus the wrapper. We drive `tokio-postgres` on our own current-thread runtime instead,
//! because the fence needs what the wrapper hides: a deadline on every request
//! ([`PgOpen::request_timeout`]: a writer whose server stops answering must learn it is fenced,
//! not hang in a flush forever), and knowing whether a failure came before or during `COMMIT`
//! (only the latter leaves a flush's outcome unknown). `default-features = false` with only
//! `runtime` (tokio's `net` and `time`, which syncfold already builds): no TLS, no OpenSSL, plain
//! TCP or a Unix socket; no optional type support. A store must not be used from inside an
//! async runtime's thread (it would block it); it says so instead of panicking.
//!
//! Passwords never appear in messages, `Debug` output or tracing fields: [`PgUrl`] shows itself
//! without one, and every message built from a server's answer is scrubbed of it as well.

mod url;

pub use url::{check_log_name, is_pg_url, PgHost, PgUrl, PgUrlError, Secret, DEFAULT_LOG_NAME};

use super::quiet::catching;
use super::record::Hash;
use super::store::{Head, HeadNote, RecordStore, StoreError};
use crate::core::Seq;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};

/// The newest table layout this build knows.
pub const SCHEMA_VERSION: i64 = 1;
/// Buffered record bytes past which `append` commits what it has (bounded memory).
pub const PENDING_BYTES_MAX: usize = 32 << 20;
/// Rows read per request while scanning.
const SCAN_PAGE_ROWS: i64 = 512;
/// How often a waiting writer asks for the lock again.
const WAIT_POLL: Duration = Duration::from_millis(200);
/// How often a waiting writer says it is still waiting.
const WAIT_NOTICE: Duration = Duration::from_secs(10);

const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS syncfold_records (
    log text NOT NULL,
    seq bigint NOT NULL CHECK (seq > 0),
    bytes bytea NOT NULL,
    PRIMARY KEY (log, seq)
);
CREATE TABLE IF NOT EXISTS syncfold_snapshots (
    log text NOT NULL,
    seq bigint NOT NULL CHECK (seq > 0),
    bytes bytea NOT NULL,
    PRIMARY KEY (log, seq)
);
CREATE TABLE IF NOT EXISTS syncfold_heads (
    log text PRIMARY KEY,
    seq bigint NOT NULL CHECK (seq >= 0),
    hash bytea NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS syncfold_writers (
    log text PRIMARY KEY,
    epoch bigint NOT NULL,
    pid bigint NOT NULL,
    host text NOT NULL,
    backend_pid integer NOT NULL,
    since timestamptz NOT NULL
);
";

/// How a writer opens a log in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgOpen {
    /// When another writer holds the log: wait until it stops and take over (`true`), or fail
    /// at once naming it (`false`, the default).
    pub wait: bool,
    /// How long to wait for the server to accept the connection.
    pub connect_timeout: Duration,
    /// How long any one request (a flush, a page of a scan) may take before the store gives
    /// up on its session: a writer is then fenced, a reader fails.
    pub request_timeout: Duration,
}

impl Default for PgOpen {
    fn default() -> Self {
        PgOpen {
            wait: false,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The advisory-lock key of a log: the first 8 bytes of the BLAKE3 hash of its name.
pub fn lock_key(log: &str) -> i64 {
    let hash = blake3::hash(format!("syncfold log {log}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_le_bytes(first)
}

/// The transaction-level lock taken while the tables are created.
fn schema_lock_key() -> i64 {
    lock_key("\u{0}schema")
}

/// A private runtime that may be dropped anywhere: a plain `Runtime` refuses (by panicking) to
/// be dropped on a thread that drives another one, and a store may be dropped there.
struct Driver(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for Driver {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        // Taken only by `drop`.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("a driver is used after it was dropped"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            // Drops the session's task at once, which closes its socket: the server ends the
            // session (and releases a writer's lock) as soon as it sees that.
            runtime.shutdown_background();
        }
    }
}

/// A log in a PostgreSQL database: a writer holding the log's lock, or a reader.
pub struct PgStore {
    url: PgUrl,
    runtime: Driver,
    client: Client,
    request_timeout: Duration,
    session: i32,
    role: Role,
}

enum Role {
    Writer(Box<Writer>),
    /// `tables`: whether the database holds syncfold's tables (a reader creates nothing; with
    /// none, the log is empty).
    Reader {
        tables: bool,
    },
}

/// What a writer knows and buffers. While it holds the lock nobody else changes the log, so
/// its own view of the stored extent is exact (and every flush checks it anyway).
struct Writer {
    epoch: i64,
    stored_last: Seq,
    pending: Vec<(Seq, Vec<u8>)>,
    pending_bytes: usize,
    stored_snapshots: BTreeSet<Seq>,
    snapshot_puts: BTreeMap<Seq, Vec<u8>>,
    snapshot_removals: BTreeSet<Seq>,
    head: HeadNote,
    /// Why this writer may no longer write, once it knows.
    fenced: Option<String>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("PgStore");
        debug.field("url", &self.url.to_string());
        match &self.role {
            Role::Writer(writer) => debug
                .field("writer", &true)
                .field("epoch", &writer.epoch)
                .field("fenced", &writer.fenced.is_some()),
            Role::Reader { .. } => debug.field("writer", &false),
        };
        debug.finish()
    }
}

/// Why a request did not answer.
enum Blocked<E> {
    /// The client or the server said no.
    Failed(E),
    /// No answer within the deadline.
    TimedOut(Duration),
    /// Called from inside an async runtime, where blocking would stall it.
    Nested,
    /// The client panicked (a bug of the client, caught): the session's state is unknown.
    Panicked(String),
}

/// A plain request's failure.
type Trouble = Blocked<tokio_postgres::Error>;

/// Why a write transaction did not commit.
enum TxFail {
    Pg(tokio_postgres::Error),
    /// The fence said no: another writer's epoch, or no writer row.
    Fence(String),
    /// The last stored record is not the one this writer expects.
    Last {
        found: Seq,
    },
}

impl From<tokio_postgres::Error> for TxFail {
    fn from(error: tokio_postgres::Error) -> Self {
        TxFail::Pg(error)
    }
}

/// Runs `request` on `runtime` under `deadline`.
fn block<T, E>(
    runtime: &tokio::runtime::Runtime,
    deadline: Duration,
    request: impl Future<Output = Result<T, E>>,
) -> Result<T, Blocked<E>> {
    // Tokio refuses (by panicking, before it polls anything) to block a thread that drives a
    // runtime; a blocking-pool thread (`spawn_blocking`) is fine. Only tokio can tell the two
    // apart, so its refusal is caught and said in words.
    let outcome = catching(|| {
        runtime.block_on(async {
            match tokio::time::timeout(deadline, request).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(Blocked::Failed(error)),
                Err(_) => Err(Blocked::TimedOut(deadline)),
            }
        })
    });
    match outcome {
        Ok(answer) => answer,
        Err(panic) if panic.contains("from within a runtime") => Err(Blocked::Nested),
        Err(panic) => Err(Blocked::Panicked(panic)),
    }
}

/// What one write transaction stores, after the fence.
enum Change<'a> {
    /// Buffered records and snapshot changes (a flush).
    Append {
        records: &'a [(Seq, Vec<u8>)],
        puts: &'a BTreeMap<Seq, Vec<u8>>,
        removals: &'a BTreeSet<Seq>,
    },
    /// The head note.
    Head { seq: i64, hash: &'a [u8] },
    /// Records from this one on are removed (recovery of a torn tail).
    Discard { from: i64 },
}

/// Runs one write transaction: the fence first (the writer row locked, its epoch checked, the
/// last record checked), then `change`, then the commit. `committing` is set just before the
/// commit is sent: a failure after it leaves the outcome unknown.
async fn fenced_transaction(
    client: &mut Client,
    log: &str,
    epoch: i64,
    expected_last: Seq,
    change: &Change<'_>,
    committing: &Cell<bool>,
) -> Result<(), TxFail> {
    let transaction = client.transaction().await?;
    match fenced_statements(&transaction, log, epoch, expected_last, change).await {
        Ok(()) => {
            committing.set(true);
            transaction.commit().await?;
            Ok(())
        }
        Err(error) => {
            // Said now, not left to the transaction's drop: a dropped transaction only queues
            // its rollback, and this runtime sends nothing until the next request, so the
            // writer row would stay locked meanwhile.
            let _ = transaction.rollback().await;
            Err(error)
        }
    }
}

/// The fence, then `change`, inside `transaction`.
async fn fenced_statements(
    transaction: &tokio_postgres::Transaction<'_>,
    log: &str,
    epoch: i64,
    expected_last: Seq,
    change: &Change<'_>,
) -> Result<(), TxFail> {
    let row = transaction
        .query_opt(
            "SELECT epoch, pid, host FROM syncfold_writers WHERE log = $1 FOR UPDATE",
            &[&log],
        )
        .await?;
    let Some(row) = row else {
        return Err(TxFail::Fence(
            "the log has no writer on record any more".to_owned(),
        ));
    };
    let current: i64 = row.try_get(0)?;
    if current != epoch {
        let pid: i64 = row.try_get(1)?;
        let host: String = row.try_get(2)?;
        return Err(TxFail::Fence(format!(
            "another writer took over the log (process {pid} on {host}, epoch {current}; this writer's was {epoch})"
        )));
    }
    let last: Option<i64> = transaction
        .query_one(
            "SELECT (SELECT seq FROM syncfold_records WHERE log = $1 ORDER BY seq DESC LIMIT 1)",
            &[&log],
        )
        .await?
        .try_get(0)?;
    let last = last.map_or(0, |seq| Seq::try_from(seq).unwrap_or(Seq::MAX));
    if last != expected_last {
        return Err(TxFail::Last { found: last });
    }
    match change {
        Change::Append {
            records,
            puts,
            removals,
        } => {
            if !records.is_empty() {
                // `COPY … FROM STDIN BINARY` streams the rows in the transaction: about twice as
                // fast as batched `INSERT … SELECT FROM unnest(…)` for the same bytes
                // (benches/pg.rs), and with no batch to bound.
                let sink = transaction
                    .copy_in("COPY syncfold_records (log, seq, bytes) FROM STDIN BINARY")
                    .await?;
                let writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::BYTEA]);
                let mut writer = std::pin::pin!(writer);
                for (seq, record) in records.iter() {
                    // Appends checked every number against bigint.
                    let seq = i64::try_from(*seq).unwrap_or(i64::MAX);
                    writer
                        .as_mut()
                        .write(&[&log, &seq, &record.as_slice()])
                        .await?;
                }
                writer.finish().await?;
            }
            for (seq, snapshot) in puts.iter() {
                let seq = i64::try_from(*seq).unwrap_or(i64::MAX);
                transaction
                    .execute(
                        "INSERT INTO syncfold_snapshots (log, seq, bytes) VALUES ($1, $2, $3)
                         ON CONFLICT (log, seq) DO UPDATE SET bytes = EXCLUDED.bytes",
                        &[&log, &seq, snapshot],
                    )
                    .await?;
            }
            if !removals.is_empty() {
                let seqs: Vec<i64> = removals
                    .iter()
                    .map(|seq| i64::try_from(*seq).unwrap_or(i64::MAX))
                    .collect();
                transaction
                    .execute(
                        "DELETE FROM syncfold_snapshots WHERE log = $1 AND seq = ANY($2)",
                        &[&log, &seqs],
                    )
                    .await?;
            }
        }
        Change::Head { seq, hash } => {
            transaction
                .execute(
                    "INSERT INTO syncfold_heads (log, seq, hash, written_at) VALUES ($1, $2, $3, now())
                     ON CONFLICT (log) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash,
                        written_at = EXCLUDED.written_at",
                    &[&log, seq, hash],
                )
                .await?;
        }
        Change::Discard { from } => {
            transaction
                .execute(
                    "DELETE FROM syncfold_records WHERE log = $1 AND seq >= $2",
                    &[&log, from],
                )
                .await?;
        }
    }
    Ok(())
}

/// What an error says, with its causes, in one line (a server's message and its code).
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether an error means the session is gone (and with it a writer's lock).
fn session_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code)
            || code.code() == "57P05";
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

fn to_db(seq: Seq) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Backend {
        context: "a sequence number past PostgreSQL's bigint cannot be stored".to_owned(),
        message: format!("sequence number {seq}"),
    })
}

/// This machine's name, for the writers table (Linux says it in `/proc`; elsewhere `HOSTNAME`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "an unknown host".to_owned())
}

/// The failure to connect to `url`, in words an operator can act on.
fn connect_failure(url: &PgUrl, trouble: Trouble) -> StoreError {
    let scrubbed = |text: String| scrub(url, text);
    match trouble {
        Blocked::Nested => nested(url),
        Blocked::Panicked(panic) => StoreError::Unavailable {
            context: format!("the PostgreSQL client failed while connecting to {url}"),
            message: scrubbed(panic),
            remedy: "this is a bug of the client library: report it with this message".to_owned(),
        },
        Blocked::TimedOut(after) => StoreError::Unavailable {
            context: format!("could not reach the PostgreSQL server of {url}"),
            message: format!("no answer within {} s", after.as_secs()),
            remedy: "check that the server runs and answers there (host and port, or the socket folder given by host=) and that no firewall drops the connection".to_owned(),
        },
        Blocked::Failed(error) => {
            let message = scrubbed(describe(&error));
            let code = error.code().cloned();
            let refused_account = code.as_ref().is_some_and(|code| {
                *code == SqlState::INVALID_PASSWORD
                    || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            }) || message.starts_with("authentication error")
                || message.contains("password missing");
            if refused_account {
                StoreError::Unavailable {
                    context: format!(
                        "the PostgreSQL server of {url} refused the account `{}`",
                        url.user()
                    ),
                    message,
                    remedy: "check the user name and the password (in the URL, or PGPASSWORD) and the server's pg_hba.conf; an account that must use TLS cannot be used by this build".to_owned(),
                }
            } else if code.as_ref() == Some(&SqlState::INVALID_CATALOG_NAME) {
                StoreError::Unavailable {
                    context: format!(
                        "the database `{}` does not exist on the server of {url}",
                        url.dbname()
                    ),
                    message,
                    remedy: format!(
                        "create it (createdb {}) or correct the URL",
                        url.dbname()
                    ),
                }
            } else if code.is_some() {
                StoreError::Unavailable {
                    context: format!("the PostgreSQL server of {url} refused the connection"),
                    message,
                    remedy: "check the server's log and its connection limits, then try again"
                        .to_owned(),
                }
            } else {
                StoreError::Unavailable {
                    context: format!("could not reach the PostgreSQL server of {url}"),
                    message,
                    remedy: "check that the server runs and accepts connections there (host and port, or the socket folder given by host=), and that the URL is right".to_owned(),
                }
            }
        }
    }
}

fn nested(url: &PgUrl) -> StoreError {
    StoreError::Unavailable {
        context: format!("the log {url} was used from inside an async runtime"),
        message: "a PostgreSQL store blocks its thread on every request".to_owned(),
        remedy: "use it from a thread of its own (std::thread::spawn, or tokio's spawn_blocking)"
            .to_owned(),
    }
}

/// `text` with the URL's password replaced by `***`: the server never echoes it, and this makes
/// sure of it.
fn scrub(url: &PgUrl, text: String) -> String {
    match url.password() {
        Some(secret) if secret.expose().len() >= 3 && text.contains(secret.expose()) => {
            text.replace(secret.expose(), "***")
        }
        _ => text,
    }
}

/// The log's tables hold a value that cannot be one of its own.
fn damaged(url: &PgUrl, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        context: format!(
            "the log {url} holds a row syncfold did not write: restore the database from a backup, or find who edited the syncfold_* tables"
        ),
        message: what.to_string(),
    }
}

fn from_db(url: &PgUrl, table: &str, seq: i64) -> Result<Seq, StoreError> {
    Seq::try_from(seq).map_err(|_| damaged(url, format!("{table} holds the sequence number {seq}")))
}

impl PgStore {
    /// Opens the log named in `url` for writing: connects, creates the tables on first use,
    /// takes the log's writer lock (or fails naming its holder, or waits: [`PgOpen::wait`]) and
    /// starts a new epoch. From then on, only this store can append to the log, until it is
    /// dropped or its session ends.
    pub fn open(url: &PgUrl, options: PgOpen) -> Result<PgStore, StoreError> {
        let mut store = PgStore::connect(url, &options, Role::Reader { tables: false })?;
        store.simple("set the session up", "SET synchronous_commit = on")?;
        store.create_tables()?;
        let key = lock_key(url.log());
        let started = std::time::Instant::now();
        let mut noticed = started;
        let mut unseen = 0;
        loop {
            let taken: bool = store.query_scalar(
                "locked for writing",
                "SELECT pg_try_advisory_lock($1)",
                &[&key],
            )?;
            if taken {
                break;
            }
            let holder = match store.holder(key)? {
                Some(holder) => holder,
                // The holder stopped between the two questions: ask again at once (a few times:
                // a server that hides its locks from this account must not spin this loop).
                None if unseen < 3 => {
                    unseen += 1;
                    continue;
                }
                None => "another session (the server does not show which)".to_owned(),
            };
            if !options.wait {
                return Err(StoreError::Busy {
                    log: url.to_string(),
                    holder,
                });
            }
            if noticed.elapsed() >= WAIT_NOTICE || noticed == started {
                tracing::info!(log = %url, holder = holder.as_str(), waited_s = started.elapsed().as_secs(), "waiting for the log's writer to stop");
                noticed = std::time::Instant::now();
            }
            std::thread::sleep(WAIT_POLL);
        }
        let pid = i64::from(std::process::id());
        let host = host_name();
        let log = url.log().to_owned();
        let PgStore {
            runtime, client, ..
        } = &mut store;
        let epoch = block(runtime, options.request_timeout, async {
            let transaction = client.transaction().await?;
            let row = transaction
                .query_one(
                    "INSERT INTO syncfold_writers (log, epoch, pid, host, backend_pid, since)
                     VALUES ($1, 1, $2, $3, pg_backend_pid(), now())
                     ON CONFLICT (log) DO UPDATE SET epoch = syncfold_writers.epoch + 1,
                        pid = EXCLUDED.pid, host = EXCLUDED.host,
                        backend_pid = EXCLUDED.backend_pid, since = EXCLUDED.since
                     RETURNING epoch",
                    &[&log, &pid, &host],
                )
                .await?;
            let epoch: i64 = row.try_get(0)?;
            transaction.commit().await?;
            Ok::<_, tokio_postgres::Error>(epoch)
        })
        .map_err(|trouble| store.failure("taken over (writers)", trouble))?;
        let stored_last = store.stored_last()?;
        let head = store.stored_head()?;
        let stored_snapshots = store.stored_snapshot_seqs()?.into_iter().collect();
        store.role = Role::Writer(Box::new(Writer {
            epoch,
            stored_last,
            pending: Vec::new(),
            pending_bytes: 0,
            stored_snapshots,
            snapshot_puts: BTreeMap::new(),
            snapshot_removals: BTreeSet::new(),
            head,
            fenced: None,
        }));
        tracing::info!(log = %url, epoch, "writing the log");
        Ok(store)
    }

    /// Opens the log named in `url` for reading: no lock, no write (the session is read-only),
    /// only committed records, beside a writer. A database without syncfold's tables reads as
    /// an empty log; [`PgStore::log_exists`] tells the two apart.
    pub fn open_read_only(url: &PgUrl, options: PgOpen) -> Result<PgStore, StoreError> {
        let mut store = PgStore::connect(url, &options, Role::Reader { tables: false })?;
        store.simple(
            "set the session up",
            "SET default_transaction_read_only = on",
        )?;
        let tables = store.tables_present()?;
        if tables {
            store.check_schema_version()?;
        }
        store.role = Role::Reader { tables };
        Ok(store)
    }

    fn connect(url: &PgUrl, options: &PgOpen, role: Role) -> Result<PgStore, StoreError> {
        let runtime = Driver(Some(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| StoreError::Unavailable {
                    context: format!("no runtime could be started to reach {url}"),
                    message: error.to_string(),
                    remedy: "check the process's limits (threads, file descriptors)".to_owned(),
                })?,
        ));
        let config = url.config(options.connect_timeout);
        // The client's own connect timeout covers each address; this covers the handshake too.
        let deadline = options.connect_timeout + Duration::from_secs(5);
        let (client, connection) = block(&runtime, deadline, config.connect(NoTls))
            .map_err(|trouble| connect_failure(url, trouble))?;
        let shown = url.to_string();
        runtime.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(log = shown.as_str(), error = %error, "the session with the server ended");
            }
        });
        let mut store = PgStore {
            url: url.clone(),
            runtime,
            client,
            request_timeout: options.request_timeout,
            session: 0,
            role,
        };
        store.session = store.query_scalar("opened", "SELECT pg_backend_pid()", &[])?;
        Ok(store)
    }

    /// The log's location, without its password.
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// This writer's epoch: 1 for the log's first writer, one more at each takeover. `None` for
    /// a reader.
    pub fn epoch(&self) -> Option<u64> {
        match &self.role {
            Role::Writer(writer) => u64::try_from(writer.epoch).ok(),
            Role::Reader { .. } => None,
        }
    }

    /// The server's process id for this store's session (`pg_backend_pid()`), as
    /// `syncfold_writers.backend_pid` and `pg_stat_activity.pid` name it.
    pub fn server_session(&self) -> i32 {
        self.session
    }

    /// Whether the log exists: it has records, a head note or ever had a writer.
    pub fn log_exists(&self) -> Result<bool, StoreError> {
        if let Role::Reader { tables: false } = self.role {
            return Ok(false);
        }
        self.query_scalar(
            "read",
            "SELECT EXISTS (SELECT 1 FROM syncfold_heads WHERE log = $1)
                 OR EXISTS (SELECT 1 FROM syncfold_writers WHERE log = $1)
                 OR EXISTS (SELECT 1 FROM syncfold_records WHERE log = $1)",
            &[&self.url.log()],
        )
    }

    fn simple(&self, doing: &str, statements: &str) -> Result<(), StoreError> {
        block(
            &self.runtime,
            self.request_timeout,
            self.client.batch_execute(statements),
        )
        .map_err(|trouble| self.failure(doing, trouble))
    }

    fn query_scalar<T>(
        &self,
        doing: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<T, StoreError>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let row = block(
            &self.runtime,
            self.request_timeout,
            self.client.query_one(sql, params),
        )
        .map_err(|trouble| self.failure(doing, trouble))?;
        row.try_get(0)
            .map_err(|error| damaged(&self.url, describe(&error)))
    }

    fn query(
        &self,
        doing: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        block(
            &self.runtime,
            self.request_timeout,
            self.client.query(sql, params),
        )
        .map_err(|trouble| self.failure(doing, trouble))
    }

    fn tables_present(&self) -> Result<bool, StoreError> {
        self.query_scalar(
            "read",
            "SELECT to_regclass('syncfold_schema') IS NOT NULL",
            &[],
        )
    }

    fn check_schema_version(&self) -> Result<(), StoreError> {
        let version: Option<i64> = self.query_scalar(
            "read (syncfold_schema)",
            "SELECT max(version) FROM syncfold_schema",
            &[],
        )?;
        match version {
            Some(version) if version > SCHEMA_VERSION => Err(StoreError::NewerSchema {
                place: format!("the database `{}` of {}", self.url.dbname(), self.url),
                version,
                known: SCHEMA_VERSION,
            }),
            Some(_) => Ok(()),
            None => Err(damaged(&self.url, "syncfold_schema holds no version")),
        }
    }

    /// Creates the tables on first use, one writer at a time (a transaction-level lock), and
    /// refuses a layout newer than this build's.
    fn create_tables(&mut self) -> Result<(), StoreError> {
        if self.tables_present()? {
            return self.check_schema_version();
        }
        let key = schema_lock_key();
        let PgStore {
            runtime, client, ..
        } = self;
        block(runtime, self.request_timeout, async {
            let transaction = client.transaction().await?;
            transaction
                .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                .await?;
            transaction
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS syncfold_schema (
                        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                        version bigint NOT NULL
                    )",
                )
                .await?;
            transaction.batch_execute(CREATE_TABLES).await?;
            transaction
                .execute(
                    "INSERT INTO syncfold_schema (version) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&SCHEMA_VERSION],
                )
                .await?;
            transaction.commit().await
        })
        .map_err(|trouble| self.failure("prepared (creating the syncfold_* tables)", trouble))?;
        self.check_schema_version()
    }

    /// Who holds the log's lock, in words; `None` when nobody does any more.
    fn holder(&self, key: i64) -> Result<Option<String>, StoreError> {
        let high = key >> 32;
        let low = key & 0xffff_ffff;
        let session: Option<i32> = self.query_scalar(
            "read (pg_locks)",
            "SELECT (SELECT pid FROM pg_locks
                     WHERE locktype = 'advisory' AND granted AND objsubid = 1
                       AND classid::bigint = ($1::bigint & 4294967295) AND objid::bigint = $2
                       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                     LIMIT 1)",
            &[&high, &low],
        )?;
        let Some(session) = session else {
            return Ok(None);
        };
        let rows = self.query(
            "read (syncfold_writers)",
            "SELECT pid, host, to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), epoch, backend_pid
             FROM syncfold_writers WHERE log = $1",
            &[&self.url.log()],
        )?;
        let described = rows.first().and_then(|row| {
            let pid: i64 = row.try_get(0).ok()?;
            let host: String = row.try_get(1).ok()?;
            let since: String = row.try_get(2).ok()?;
            let epoch: i64 = row.try_get(3).ok()?;
            let backend: i32 = row.try_get(4).ok()?;
            (backend == session).then(|| {
                format!("process {pid} on {host} (writing since {since}, epoch {epoch}, server session {backend})")
            })
        });
        Ok(Some(described.unwrap_or_else(|| {
            format!("server session {session} (a writer still opening the log)")
        })))
    }

    fn stored_last(&self) -> Result<Seq, StoreError> {
        let last: Option<i64> = self.query_scalar(
            "read",
            "SELECT (SELECT seq FROM syncfold_records WHERE log = $1 ORDER BY seq DESC LIMIT 1)",
            &[&self.url.log()],
        )?;
        last.map_or(Ok(0), |seq| from_db(&self.url, "syncfold_records", seq))
    }

    fn stored_head(&self) -> Result<HeadNote, StoreError> {
        let rows = self.query(
            "read (syncfold_heads)",
            "SELECT seq, hash FROM syncfold_heads WHERE log = $1",
            &[&self.url.log()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(HeadNote::Absent);
        };
        let seq: i64 = row
            .try_get(0)
            .map_err(|error| damaged(&self.url, describe(&error)))?;
        let hash: Vec<u8> = row
            .try_get(1)
            .map_err(|error| damaged(&self.url, describe(&error)))?;
        let (Ok(seq), Ok(hash)) = (Seq::try_from(seq), Hash::try_from(hash.as_slice())) else {
            return Ok(HeadNote::Lost {
                why: format!(
                    "the row of syncfold_heads holds sequence number {seq} and a hash of {} bytes",
                    hash.len()
                ),
            });
        };
        Ok(HeadNote::At(Head { seq, hash }))
    }

    fn stored_snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        let rows = self.query(
            "read (syncfold_snapshots)",
            "SELECT seq FROM syncfold_snapshots WHERE log = $1 ORDER BY seq",
            &[&self.url.log()],
        )?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row
                    .try_get(0)
                    .map_err(|error| damaged(&self.url, describe(&error)))?;
                from_db(&self.url, "syncfold_snapshots", seq)
            })
            .collect()
    }

    /// Visits stored records `from..=to` in pages; `Break` when `visit` broke.
    fn scan_stored(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let mut next = from.max(1);
        let to = to.min(i64::MAX as Seq);
        while next <= to {
            let rows = self.query(
                "read",
                "SELECT seq, bytes FROM syncfold_records
                 WHERE log = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4",
                &[&self.url.log(), &to_db(next)?, &to_db(to)?, &SCAN_PAGE_ROWS],
            )?;
            for row in &rows {
                let seq: i64 = row
                    .try_get(0)
                    .map_err(|error| damaged(&self.url, describe(&error)))?;
                let bytes: &[u8] = row
                    .try_get(1)
                    .map_err(|error| damaged(&self.url, describe(&error)))?;
                let seq = from_db(&self.url, "syncfold_records", seq)?;
                if visit(seq, bytes).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                next = seq + 1;
            }
            if (rows.len() as i64) < SCAN_PAGE_ROWS {
                break;
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn stored_record(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.stored_bytes(
            "read",
            "SELECT bytes FROM syncfold_records WHERE log = $1 AND seq = $2",
            seq,
        )
    }

    fn stored_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.stored_bytes(
            "read (syncfold_snapshots)",
            "SELECT bytes FROM syncfold_snapshots WHERE log = $1 AND seq = $2",
            seq,
        )
    }

    /// The `bytes` of the one row `select` finds for this log and `seq`, if any.
    fn stored_bytes(
        &self,
        doing: &str,
        select: &str,
        seq: Seq,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(doing, select, &[&self.url.log(), &to_db(seq)?])?;
        rows.first()
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(|error| damaged(&self.url, describe(&error)))
    }

    /// A failed request, as a `StoreError`. A writer whose session ended or did not answer in
    /// time is fenced from then on: its lock went with its session.
    fn failure(&self, doing: &str, trouble: Trouble) -> StoreError {
        let url = &self.url;
        let lost = match &trouble {
            Blocked::Nested => return nested(url),
            Blocked::TimedOut(after) => Some(format!("no answer within {} s", after.as_secs())),
            Blocked::Panicked(panic) => Some(format!(
                "the PostgreSQL client failed: {}",
                scrub(url, panic.clone())
            )),
            Blocked::Failed(error) if session_lost(error) => Some(scrub(url, describe(error))),
            Blocked::Failed(_) => None,
        };
        if let Some(message) = lost {
            return match self.role {
                Role::Writer(_) => StoreError::Fenced {
                    log: url.to_string(),
                    reason: format!(
                        "its session with the server ended while the log was being {doing} ({message}), and its writer's lock ended with it"
                    ),
                },
                Role::Reader { .. } => StoreError::Unavailable {
                    context: format!("the connection to {url} was lost while the log was being {doing}"),
                    message,
                    remedy: "run the command again; if it keeps failing, check the server and the network".to_owned(),
                },
            };
        }
        let Blocked::Failed(error) = trouble else {
            return nested(url);
        };
        let message = scrub(url, describe(&error));
        let code = error
            .code()
            .map(|code| code.code().to_owned())
            .unwrap_or_default();
        let context = format!("the log {url} could not be {doing}");
        match code.as_str() {
            "42P01" => StoreError::Backend {
                context: format!("{context}: the syncfold_* tables are missing from the database `{}` (removed behind syncfold's back); restore them from a backup", url.dbname()),
                message,
            },
            "42501" => StoreError::Unavailable {
                context,
                message,
                remedy: format!("grant the account `{}` access to the syncfold_* tables (and, on first use, the right to create tables in the database's schema)", url.user()),
            },
            "25006" => StoreError::Unavailable {
                context,
                message,
                remedy: "the server takes no writes (a standby, or a read-only database): write to the primary".to_owned(),
            },
            code if code.starts_with("53") => StoreError::Unavailable {
                context,
                message,
                remedy: "the server is out of resources (disk, memory or connections): free them and try again; what was acknowledged is intact".to_owned(),
            },
            _ => StoreError::Unavailable {
                context,
                message,
                remedy: "check the server's log, then try again".to_owned(),
            },
        }
    }

    fn refuse_read_only(&self) -> StoreError {
        StoreError::ReadOnly {
            path: self.url.to_string(),
        }
    }

    /// The writer's state, when this store may still write.
    fn writer(&self) -> Result<&Writer, StoreError> {
        match &self.role {
            Role::Reader { .. } => Err(self.refuse_read_only()),
            Role::Writer(writer) => match &writer.fenced {
                Some(reason) => Err(StoreError::Fenced {
                    log: self.url.to_string(),
                    reason: reason.clone(),
                }),
                None => Ok(writer),
            },
        }
    }

    fn writer_mut(&mut self) -> Result<&mut Writer, StoreError> {
        self.writer()?;
        match &mut self.role {
            Role::Writer(writer) => Ok(writer),
            Role::Reader { .. } => Err(StoreError::ReadOnly {
                path: self.url.to_string(),
            }),
        }
    }

    /// Records that this writer is fenced, and returns the error saying so.
    fn fence(&mut self, error: StoreError) -> StoreError {
        if let (Role::Writer(writer), StoreError::Fenced { reason, .. }) = (&mut self.role, &error)
        {
            writer.fenced = Some(reason.clone());
        }
        error
    }

    /// Runs one fenced write transaction of `change`; `what` names what it stores, for the
    /// error when it does not. A writer that is refused by the fence, or whose session ends, is
    /// fenced from then on.
    fn write(&mut self, doing: &str, what: &str, change: Change<'_>) -> Result<(), StoreError> {
        let (epoch, expected_last) = {
            let writer = self.writer()?;
            (writer.epoch, writer.stored_last)
        };
        let committing = Cell::new(false);
        let outcome = block(
            &self.runtime,
            self.request_timeout,
            fenced_transaction(
                &mut self.client,
                self.url.log(),
                epoch,
                expected_last,
                &change,
                &committing,
            ),
        );
        let trouble = match outcome {
            Ok(()) => return Ok(()),
            Err(trouble) => trouble,
        };
        let were = if what.starts_with("records ") || what == "snapshot changes" {
            "were"
        } else {
            "was"
        };
        // A commit the server refused was rolled back; only a session lost during the commit
        // leaves its outcome unknown.
        let unknown = committing.get()
            && match &trouble {
                Blocked::Failed(TxFail::Pg(error)) => session_lost(error),
                Blocked::Failed(_) | Blocked::Nested => false,
                Blocked::TimedOut(_) | Blocked::Panicked(_) => true,
            };
        let stored = if unknown {
            format!("whether {what} {were} stored is unknown (the connection broke during the commit): reopen the log to see")
        } else {
            format!("{what} {were} not stored")
        };
        let log = self.url.to_string();
        let error = match trouble {
            Blocked::Failed(TxFail::Fence(reason)) => StoreError::Fenced {
                log,
                reason: format!("{reason}; {stored}"),
            },
            Blocked::Failed(TxFail::Last { found }) => StoreError::Fenced {
                log,
                reason: format!(
                    "the log's last record is {found}, not {expected_last} as this writer expected: something else wrote to it; {stored}"
                ),
            },
            Blocked::Failed(TxFail::Pg(error)) => self.failure(doing, Blocked::Failed(error)),
            Blocked::TimedOut(after) => self.failure(doing, Blocked::TimedOut(after)),
            Blocked::Panicked(panic) => self.failure(doing, Blocked::Panicked(panic)),
            Blocked::Nested => nested(&self.url),
        };
        let error = match error {
            StoreError::Fenced { log, reason } if !reason.ends_with(&stored) => {
                StoreError::Fenced {
                    log,
                    reason: format!("{reason}; {stored}"),
                }
            }
            other => other,
        };
        Err(self.fence(error))
    }

    /// Commits the buffered records and snapshot changes in one fenced transaction.
    fn commit_pending(&mut self) -> Result<(), StoreError> {
        self.writer()?;
        let Role::Writer(writer) = &mut self.role else {
            return Err(self.refuse_read_only());
        };
        if writer.pending.is_empty()
            && writer.snapshot_puts.is_empty()
            && writer.snapshot_removals.is_empty()
        {
            return Ok(());
        }
        let what = match (writer.pending.first(), writer.pending.last()) {
            (Some((first, _)), Some((last, _))) if first == last => format!("record {first}"),
            (Some((first, _)), Some((last, _))) => format!("records {first} to {last}"),
            _ => "snapshot changes".to_owned(),
        };
        // The buffers are lent to the transaction and given back: kept for a retry when the
        // flush failed for a passing cause, cleared when it committed.
        let records = std::mem::take(&mut writer.pending);
        let puts = std::mem::take(&mut writer.snapshot_puts);
        let removals = std::mem::take(&mut writer.snapshot_removals);
        let written = self.write(
            "flushed",
            &what,
            Change::Append {
                records: &records,
                puts: &puts,
                removals: &removals,
            },
        );
        let Role::Writer(writer) = &mut self.role else {
            return written;
        };
        match written {
            Ok(()) => {
                if let Some((last, _)) = records.last() {
                    writer.stored_last = *last;
                }
                writer.pending_bytes = 0;
                writer.stored_snapshots.extend(puts.into_keys());
                for seq in removals {
                    writer.stored_snapshots.remove(&seq);
                }
                Ok(())
            }
            Err(error) => {
                writer.pending = records;
                writer.snapshot_puts = puts;
                writer.snapshot_removals = removals;
                Err(error)
            }
        }
    }
}

impl RecordStore for PgStore {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        let last = self.last_seq()?;
        let writer = self.writer_mut()?;
        if seq <= last {
            return Err(StoreError::Conflict { seq });
        }
        if seq != last + 1 {
            return Err(StoreError::OutOfOrder { seq, last });
        }
        to_db(seq)?;
        writer.pending.push((seq, record.to_vec()));
        writer.pending_bytes += record.len();
        if writer.pending_bytes >= PENDING_BYTES_MAX {
            self.commit_pending()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.commit_pending()
    }

    fn last_seq(&self) -> Result<Seq, StoreError> {
        match &self.role {
            Role::Writer(writer) => Ok(writer
                .pending
                .last()
                .map_or(writer.stored_last, |(seq, _)| *seq)),
            Role::Reader { tables: false } => Ok(0),
            Role::Reader { tables: true } => self.stored_last(),
        }
    }

    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        match &self.role {
            Role::Reader { tables: false } => Ok(()),
            Role::Reader { tables: true } => self.scan_stored(from, Seq::MAX, visit).map(|_| ()),
            Role::Writer(writer) => {
                if self
                    .scan_stored(from, writer.stored_last, visit)?
                    .is_break()
                {
                    return Ok(());
                }
                for (seq, record) in writer.pending.iter().filter(|(seq, _)| *seq >= from) {
                    if visit(*seq, record).is_break() {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.role {
            Role::Reader { tables: false } => Ok(None),
            Role::Writer(writer) if seq > writer.stored_last => Ok(writer
                .pending
                .iter()
                .find(|(pending, _)| *pending == seq)
                .map(|(_, record)| record.clone())),
            _ => self.stored_record(seq),
        }
    }

    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        let writer = self.writer_mut()?;
        writer.pending.retain(|(seq, _)| *seq < from);
        writer.pending_bytes = writer.pending.iter().map(|(_, record)| record.len()).sum();
        if from > writer.stored_last {
            return Ok(());
        }
        let first = to_db(from)?;
        let what = format!("the removal of records from {from} on");
        self.write("repaired", &what, Change::Discard { from: first })?;
        if let Role::Writer(writer) = &mut self.role {
            writer.stored_last = from.saturating_sub(1);
        }
        Ok(())
    }

    fn read_head(&self) -> Result<HeadNote, StoreError> {
        match &self.role {
            Role::Writer(writer) => Ok(writer.head.clone()),
            Role::Reader { tables: false } => Ok(HeadNote::Absent),
            Role::Reader { tables: true } => self.stored_head(),
        }
    }

    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        // The note acknowledges records: they are committed first, whatever the caller did.
        if head.seq > self.writer()?.stored_last {
            self.commit_pending()?;
        }
        let seq = to_db(head.seq)?;
        let what = format!("the head note (record {})", head.seq);
        self.write(
            "written (head note)",
            &what,
            Change::Head {
                seq,
                hash: &head.hash,
            },
        )?;
        self.writer_mut()?.head = HeadNote::At(*head);
        Ok(())
    }

    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        let writer = self.writer_mut()?;
        writer.snapshot_removals.remove(&seq);
        writer.snapshot_puts.insert(seq, bytes.to_vec());
        Ok(())
    }

    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        match &self.role {
            Role::Reader { tables: false } => Ok(Vec::new()),
            Role::Reader { tables: true } => self.stored_snapshot_seqs(),
            Role::Writer(writer) => {
                let mut seqs: BTreeSet<Seq> = writer
                    .stored_snapshots
                    .difference(&writer.snapshot_removals)
                    .copied()
                    .collect();
                seqs.extend(writer.snapshot_puts.keys().copied());
                Ok(seqs.into_iter().collect())
            }
        }
    }

    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.role {
            Role::Reader { tables: false } => Ok(None),
            Role::Writer(writer) => {
                if let Some(bytes) = writer.snapshot_puts.get(&seq) {
                    return Ok(Some(bytes.clone()));
                }
                if writer.snapshot_removals.contains(&seq) {
                    return Ok(None);
                }
                self.stored_snapshot(seq)
            }
            Role::Reader { tables: true } => self.stored_snapshot(seq),
        }
    }

    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        let writer = self.writer_mut()?;
        writer.snapshot_puts.remove(&seq);
        if writer.stored_snapshots.contains(&seq) {
            writer.snapshot_removals.insert(seq);
        }
        Ok(())
    }
}
