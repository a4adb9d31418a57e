//! The command line: a thin shell over the library that parses arguments, calls the library and
//! renders for people (tables, colour on a terminal, progress on long work) or programs (`--json`).
//!
//! Text for people carries values others wrote (anchors, error texts, fault messages, watermarks,
//! names, remedies from a catalog file); they reach the terminal only through
//! [`syncfold::text::escape`], applied where values become text: the library's views escape every
//! line and cell they make ([`syncfold::views::Escaped`]), `say!` every line of the commands' own,
//! `fail` every message. JSON needs no escaping and gets none.

/// Prints one line for people, formatted like `println!` and then escaped
/// ([`syncfold::text::escape`]), so a control character or bidirectional override inside a value
/// is shown, never obeyed. Line breaks inside are escaped too: print blank lines apart.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", syncfold::text::escape(&format!($($arg)*)))
    };
}

mod admin;
mod copy;
mod demo;
mod enqueue;
mod location;
mod postmortem;
mod report;
mod run;

use clap::{Parser, Subcommand, ValueEnum};
use location::LogAt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::engine::{scripted, system_clock, Engine, EngineOptions};
use syncfold::log::{
    open_for_reading, verify, ErrorClass, Log, LogError, LogOptions, PgOpen, PgStore, PgUrl,
    RecordStore, SledStore, StoreError,
};
use syncfold::remedy::RemedyCatalog;
use syncfold::scenario;
use syncfold::views::filter::{self, EventFilter, Point, RunFilter};
use syncfold::views::{
    Block, Escaped, FinishedRunView, PartitionStateView, StateView, Table, TextView,
};

/// The exit-status paragraph every `--help` ends with (a macro, so `concat!` can use it).
macro_rules! exit_status {
    () => {
        "Exit status: 0 ok; 1 the log is damaged or a rule refused what was asked; 2 usage or input error; 3 the log is busy or cannot be read or written for another cause (permissions, a full or read-only disk, a newer format); 141 the output pipe closed; 101 a bug in syncfold."
    };
}

#[derive(Parser)]
#[command(
    name = "syncfold",
    version,
    after_help = exit_status!(),
    about = "Event-sourced bookkeeping for synchronization engines",
    long_about = "syncfold folds the event log of a synchronization engine (pages read, object \
                  errors, watermark commits, exports, faults, administrator actions) into the \
                  committed state, and explains it."
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Play the built-in week of a directory sync into a sled log and show what happened.
    #[command(after_help = concat!("Examples:\n  syncfold demo\n  syncfold demo --log ./demo-log", "\n\n", exit_status!()))]
    Demo {
        /// The log folder to write (replaced if it holds an earlier demo log).
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
    },
    /// Play a scenario file through the engine into a log.
    #[command(
        after_help = concat!("Examples:\n  syncfold simulate examples/watermark-abc.toml --log ./abc-log\n  syncfold simulate examples/export-actions.toml --log ./exports --json", "\n\n", exit_status!())
    )]
    Simulate {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// The log: a folder (created if missing) or postgres://USER@HOST:PORT/DB?log=NAME; appended to if it holds a log.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// With a log another writer holds: wait until it stops (a PostgreSQL log's holder may
        /// die on another machine) and take over, closing its run in flight as interrupted.
        #[arg(long)]
        wait: bool,
        /// Print one JSON object per line for each run, once it is durable, and nothing else.
        #[arg(long)]
        json: bool,
    },
    /// Print the state folded from a log: runs, partitions, alerts; or one partition's.
    #[command(
        after_help = concat!("Examples:\n  syncfold state --log ./abc-log\n  syncfold state --log ./abc-log --json\n  syncfold state --log ./abc-log --at 0    # before any event: empty\n  syncfold state --log ./abc-log --partition people --json\n  syncfold state --log ./abc-log --connector hr --partition people\n  syncfold state --log ./abc-log --remedies ./our-catalog.toml", "\n\n", exit_status!())
    )]
    State {
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// The state just after this event (see `syncfold events`), instead of now; 0 is before
        /// any event (the empty state).
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
        /// Only this partition: its `partitions[]` item with its objects, plus its `runs` and
        /// `alerts` (e.g. `--partition people`).
        #[arg(long, value_name = "P")]
        partition: Option<String>,
        /// The partition's connector, needed when several connectors have a partition of that
        /// name (e.g. `--connector hr --partition people`).
        #[arg(long, value_name = "C", requires = "partition")]
        connector: Option<String>,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// A remedy catalog file extending the built-in one: TOML `[[remedy]]` entries with
        /// `code`, `title`, `remedy` and `source` (`syncfold remedies` shows the built-in ones).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// List the runs of a log: connector, times, status, watermarks, obsoletion, counts.
    #[command(
        after_help = concat!("Examples:\n  syncfold runs --log ./abc-log\n  syncfold runs --log ./abc-log --json\n  syncfold runs --log ./abc-log --status stopped-server-down --status completed-discovery-errors\n  syncfold runs --log ./abc-log --last 5\n  syncfold runs --log ./abc-log --connector hr --partition people\n  syncfold runs --log ./abc-log --at 40", "\n\n", exit_status!())
    )]
    Runs {
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// Only runs with this status (a run status, or `in-flight`); repeat the flag or separate
        /// with commas for several (e.g. `--status success,completed-warnings`).
        #[arg(long, value_name = "S", value_delimiter = ',')]
        status: Vec<String>,
        /// Only the last N runs of those the other filters keep (e.g. `--last 5`).
        #[arg(long, value_name = "N")]
        last: Option<usize>,
        /// Only runs on this connector (e.g. `--connector hr`).
        #[arg(long, value_name = "C")]
        connector: Option<String>,
        /// Only runs on this partition (e.g. `--partition people`).
        #[arg(long, value_name = "P")]
        partition: Option<String>,
        /// The runs as they stood just after this event (0: before any event, no runs), e.g.
        /// `--at 40`.
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
        /// One JSON object per line per run.
        #[arg(long)]
        json: bool,
    },
    /// List the events of a log, verified as they are read; filters narrow them (all must hold).
    #[command(
        after_help = concat!("Examples:\n  syncfold events --log ./abc-log\n  syncfold events --log ./abc-log --run 2\n  syncfold events --log ./abc-log --from 10 --to 20 --json\n  syncfold events --log ./abc-log --anchor u2          # one object's whole life\n  syncfold events --log ./abc-log --type discovery-error --type fault\n  syncfold events --log ./abc-log --connector hr --partition people\n  syncfold events --log ./abc-log --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z\n  syncfold events --log ./abc-log --since 120 --until 180", "\n\n", exit_status!())
    )]
    Events {
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// Only the events of this run.
        #[arg(long, value_name = "N")]
        run: Option<u64>,
        /// Only the events that concern this object: pages that staged it, errors on it, export
        /// changes queued, sent and answered for it, obsoletions that list it (e.g. `--anchor u2`).
        #[arg(long, value_name = "A")]
        anchor: Option<String>,
        /// Only events of this type, as `events --json` prints `type`; repeat the flag or separate
        /// with commas for several (e.g. `--type page-read,discovery-error`).
        #[arg(long = "type", value_name = "T", value_delimiter = ',')]
        types: Vec<String>,
        /// Only events on this connector (e.g. `--connector hr`).
        #[arg(long, value_name = "C")]
        connector: Option<String>,
        /// Only events on this partition, actions on its whole connector included (e.g.
        /// `--partition people`).
        #[arg(long, value_name = "P")]
        partition: Option<String>,
        /// Only events at or after this point: a sequence number or an RFC 3339 time (e.g.
        /// `--since 120`, `--since 2026-12-01T00:00:00Z`).
        #[arg(long, value_name = "X", value_parser = Point::parse)]
        since: Option<Point>,
        /// Only events at or before this point: a sequence number or an RFC 3339 time (e.g.
        /// `--until 180`, `--until 2026-12-02T00:00:00Z`).
        #[arg(long, value_name = "X", value_parser = Point::parse)]
        until: Option<Point>,
        /// From this event on.
        #[arg(long, value_name = "SEQ")]
        from: Option<u64>,
        /// Up to this event.
        #[arg(long, value_name = "SEQ")]
        to: Option<u64>,
        /// One JSON object per line per event (`seq`, `type`, `run`, …).
        #[arg(long)]
        json: bool,
    },
    /// Show what changed between two events: watermarks, objects, exports, health, alerts.
    #[command(after_help = concat!("Examples:\n  syncfold diff --log ./abc-log --from 10 --to 40\n  syncfold diff --log ./abc-log --from 10 --to 40 --remedies ./our-catalog.toml", "\n\n", exit_status!()))]
    Diff {
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// The earlier event.
        #[arg(long, value_name = "SEQ")]
        from: u64,
        /// The later event.
        #[arg(long, value_name = "SEQ")]
        to: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A remedy catalog file extending the built-in one: TOML `[[remedy]]` entries with
        /// `code`, `title`, `remedy` and `source` (`syncfold remedies` shows the built-in ones).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// Show the alert wall: open alerts with their remedies.
    #[command(
        after_help = concat!("Examples:\n  syncfold alerts --log ./abc-log\n  syncfold alerts --log ./abc-log --recipient connector-owner --json\n  syncfold alerts --log ./abc-log --at 40", "\n\n", exit_status!())
    )]
    Alerts {
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// Only the alerts for this recipient.
        #[arg(long, value_enum)]
        recipient: Option<RecipientArg>,
        /// The alerts open just after this event (0: before any event, none), e.g. `--at 40`.
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
        /// One JSON object per line per alert.
        #[arg(long)]
        json: bool,
        /// A remedy catalog file extending the built-in one: TOML `[[remedy]]` entries with
        /// `code`, `title`, `remedy` and `source` (`syncfold remedies` shows the built-in ones).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// Explain where a watermark stands, why obsoletion was skipped or held, or why a scope is
    /// disabled or suspended: the causal chain with sequence numbers, and the remedy.
    #[command(
        after_help = concat!("Examples:\n  syncfold explain watermark --log ./abc-log --partition people\n  syncfold explain obsoletion --log ./abc-log --partition people\n  syncfold explain health --log ./abc-log --partition people --at 40\n  syncfold explain health --log ./abc-log --partition people --remedies ./our-catalog.toml", "\n\n", exit_status!())
    )]
    Explain {
        /// What to explain.
        #[arg(value_enum)]
        what: ExplainWhat,
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// The partition.
        #[arg(long)]
        partition: String,
        /// The connector (needed only when the log has several).
        #[arg(long)]
        connector: Option<String>,
        /// As it was just after this event.
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A remedy catalog file extending the built-in one: TOML `[[remedy]]` entries with
        /// `code`, `title`, `remedy` and `source` (`syncfold remedies` shows the built-in ones).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// Print the remedy catalog: what to do about each alert code (the built-in catalog, extended
    /// by a file of the same shape).
    #[command(
        after_help = concat!("Examples:\n  syncfold remedies\n  syncfold remedies --json\n  syncfold remedies --remedies ./our-catalog.toml", "\n\n", exit_status!())
    )]
    Remedies {
        /// A remedy catalog file extending the built-in one: TOML `[[remedy]]` entries with
        /// `code`, `title`, `remedy` and `source` (`syncfold remedies` shows the built-in ones).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
        /// One JSON object per line per entry (`code`, `message_contains`, `title`, `remedy`,
        /// `source`).
        #[arg(long)]
        json: bool,
    },
    /// Check a whole log: checksums, formats, hash chain, rules, acknowledged length, snapshots.
    /// Exits non-zero naming the first bad event and the remedy.
    #[command(
        after_help = concat!("Examples:\n  syncfold verify --log ./abc-log\n  syncfold verify --log ./abc-log --json", "\n\n", exit_status!())
    )]
    Verify {
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the postmortem report of a log as one self-contained HTML page (no network, no
    /// CDN): a timeline of runs, each partition's watermark history, errors and warnings per run,
    /// the objects with the longest-open errors, the alert wall, administrator actions and each
    /// run's events on click, every number naming its event's seq; the log's verification at the
    /// top. Never changes the log.
    #[command(
        after_help = concat!("Examples:\n  syncfold report --log ./abc-log                      # writes ./syncfold-report.html\n  syncfold report --log ./abc-log --out night.html\n  syncfold report --log ./abc-log --from 120 --to 480 --out -\n  syncfold report --log ./abc-log --from 2026-12-01T00:00:00Z --to 2026-12-02T00:00:00Z\n\nLarge logs: the newest 300 runs are drawn one bar each and older runs are bucketed per partition; a run's first 40 events are embedded, the rest named by the command that lists them.\nA damaged log: the page says so in a banner at its top and shows the records before the damage; the exit status is then 1.", "\n\n", exit_status!())
    )]
    Report {
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// The first event of the range: a sequence number or an RFC 3339 time (the first event
        /// at or after it); the log's first event by default.
        #[arg(long, value_name = "SEQ|TIME", value_parser = Point::parse)]
        from: Option<Point>,
        /// The last event of the range: a sequence number or an RFC 3339 time (the last event at
        /// or before it); the alert wall is the one just after it. The log's last event by default.
        #[arg(long, value_name = "SEQ|TIME", value_parser = Point::parse)]
        to: Option<Point>,
        /// The file to write (replaced if it exists); `-` for standard output.
        #[arg(long, value_name = "FILE", default_value = "syncfold-report.html")]
        out: PathBuf,
        /// A remedy catalog file extending the built-in one: TOML `[[remedy]]` entries with
        /// `code`, `title`, `remedy` and `source` (`syncfold remedies` shows the built-in ones).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// Run one full import, delta import or export of a real connector (an LDAP directory)
    /// configured in a connectors file, into a log; prints the run as `simulate` does.
    #[command(
        after_help = concat!("Examples:\n",
            "  CORP_LDAP_PASSWORD=... syncfold run --config connectors.toml --log ./corp-log --connector corp --partition people full-import\n",
            "  syncfold run --config connectors.toml --log ./corp-log --connector corp --partition people delta-import --json\n",
            "  syncfold run --config connectors.toml --log ./corp-log --connector corp --partition people export\n",
            "\nconnectors.toml:\n",
            "  [[connector]]\n",
            "  name = \"corp\"\n",
            "  type = \"ldap\"\n",
            "  url = \"ldap://127.0.0.1:389\"\n",
            "  bind_dn = \"cn=admin,dc=example,dc=org\"\n",
            "  password_env = \"CORP_LDAP_PASSWORD\"   # or password_file = \"PATH\"; never the password itself\n",
            "    [[connector.partition]]\n",
            "    name = \"people\"\n",
            "    base_dn = \"ou=people,dc=example,dc=org\"\n",
            "\nThe exit status says whether the run was recorded; how it ended is its status in the output (a run the server stopped is recorded, status 0).",
            "\n\n", exit_status!())
    )]
    Run {
        /// full-import, delta-import or export.
        #[arg(value_enum)]
        kind: RunKindArg,
        /// The connectors file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The log: a folder (created if missing) or postgres://USER@HOST:PORT/DB?log=NAME; appended to if it holds a log.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// With a log another writer holds: wait until it stops (a PostgreSQL log's holder may
        /// die on another machine) and take over, closing its run in flight as interrupted.
        #[arg(long)]
        wait: bool,
        /// The connector, as the connectors file names it.
        #[arg(long, value_name = "C")]
        connector: String,
        /// The partition, as the connectors file names it.
        #[arg(long, value_name = "P")]
        partition: String,
        /// Print the run as one JSON object, once it is durable, and nothing else.
        #[arg(long)]
        json: bool,
    },
    /// Copy a log into a new one, between stores (a sled folder, a PostgreSQL log), verified
    /// record by record; the copy must fold to the same state.
    #[command(
        after_help = concat!("Examples:\n",
            "  syncfold copy --from ./corp-log --to 'postgres://syncfold@db.example.org:5432/sync?log=corp'\n",
            "  syncfold copy --from 'postgres://syncfold@/sync?host=/var/run/postgresql&log=corp' --to ./corp-log-copy\n",
            "\nThe source is verified whole first; the destination must be new or empty. Stop the source's writer first: records it appends during the copy are not copied.",
            "\n\n", exit_status!())
    )]
    Copy {
        /// The log to copy: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        from: LogAt,
        /// The new log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        to: LogAt,
    },
    /// Queue export changes on a partition from a JSON-lines file: one object per line with
    /// `anchor`, `change` (add, update, delete, references), `attrs` and `refs`.
    #[command(
        after_help = concat!("Examples:\n",
            "  syncfold enqueue --log ./corp-log --connector corp --partition people changes.jsonl\n",
            "\nA line of changes.jsonl:\n",
            "  {\"anchor\": \"uid=u1,ou=people,dc=example,dc=org\", \"change\": \"update\", \"attrs\": {\"title\": \"lead\"}, \"refs\": {\"manager\": \"uid=u9,ou=people,dc=example,dc=org\"}}\n",
            "\nThe file is taken whole or not at all; the next export run (`syncfold run … export`) sends the changes.",
            "\n\n", exit_status!())
    )]
    Enqueue {
        /// The JSON-lines file of changes.
        file: PathBuf,
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// With a log another writer holds: wait until it stops (a PostgreSQL log's holder may
        /// die on another machine) and take over, closing its run in flight as interrupted.
        #[arg(long)]
        wait: bool,
        /// The connector.
        #[arg(long, value_name = "C")]
        connector: String,
        /// The partition.
        #[arg(long, value_name = "P")]
        partition: String,
        /// Who (recorded in the log); default: the USER or LOGNAME environment variable.
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
    /// Record an administrator's action on a log: one event with the actor and the reason
    /// and prints what changed, or says which rule refuses it.
    #[command(
        after_help = concat!("Examples:\n",
            "  syncfold admin credentials-updated --log ./log --connector hr --reason \"password rotated, ticket 4411\"\n",
            "  syncfold admin enable --log ./log --connector hr --reason \"new password verified\"\n",
            "  syncfold admin resume --log ./log --connector hr --reason \"server back after maintenance\"\n",
            "  syncfold admin approve-obsoletion --log ./log --partition people --reason \"HR confirmed 600 leavers\"\n",
            "  syncfold admin set-watermark --log ./log --partition people --run 4 --reason \"re-read the window after the source restore\"\n",
            "  syncfold admin require-full-import --log ./log --partition people --reason \"source restored from backup\"\n",
            "  syncfold admin accept-records --log ./log --reason \"HEAD lost in the disk failure of 2026-12-01; no backup holds more records\"\n",
            "\n--connector may be omitted when the log has one connector. set-watermark and require-full-import need --partition; set-watermark needs --run, the run whose committed watermark the partition goes back to.",
            "\n\n", exit_status!())
    )]
    Admin {
        /// The action.
        #[arg(value_enum)]
        action: AdminArg,
        /// The log: a folder, or postgres://USER@HOST:PORT/DB?log=NAME.
        #[arg(long, value_name = "LOG", value_parser = LogAt::parse)]
        log: LogAt,
        /// With a log another writer holds: wait until it stops (a PostgreSQL log's holder may
        /// die on another machine) and take over, closing its run in flight as interrupted.
        #[arg(long)]
        wait: bool,
        /// The connector (default: the log's only connector).
        #[arg(long, value_name = "C")]
        connector: Option<String>,
        /// The partition (default: the connector as a whole; required by set-watermark and
        /// require-full-import).
        #[arg(long, value_name = "P")]
        partition: Option<String>,
        /// The run whose committed watermark set-watermark goes back to.
        #[arg(long, value_name = "N")]
        run: Option<u64>,
        /// Why (recorded in the log; required by accept-records).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Who (recorded in the log); default: the USER or LOGNAME environment variable, else
        /// "administrator".
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
    },
}

/// A run's kind on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum RunKindArg {
    /// Read the whole partition; a clean one obsoletes what it did not see.
    FullImport,
    /// Read the changes after the committed watermark.
    DeltaImport,
    /// Send the pending export changes.
    Export,
}

impl RunKindArg {
    fn kind(self) -> RunKind {
        match self {
            RunKindArg::FullImport => RunKind::FullImport,
            RunKindArg::DeltaImport => RunKind::DeltaImport,
            RunKindArg::Export => RunKind::Export,
        }
    }
}

/// An administrator's action, or one on the log itself.
#[derive(Clone, Copy, ValueEnum)]
enum AdminArg {
    /// New credentials were entered for a connector disabled by a credentials fault.
    CredentialsUpdated,
    /// Enable a connector disabled by a credentials fault, after credentials-updated.
    Enable,
    /// Resume a connector suspended after repeated transient errors.
    Resume,
    /// Apply the obsoletion the deletion guard held.
    ApproveObsoletion,
    /// Set a partition's committed watermark back to the one a run committed.
    SetWatermark,
    /// Require a full import of a partition before its next delta import.
    RequireFullImport,
    /// Accept the records present in a log whose head note is lost, so writers may append to it
    /// again (records acknowledged after the last present one, if any, are given up).
    AcceptRecords,
}

impl AdminArg {
    /// The action recorded in the log, for every action but accept-records.
    fn operator_action(self) -> Option<OperatorAction> {
        match self {
            AdminArg::CredentialsUpdated => Some(OperatorAction::CredentialsUpdated),
            AdminArg::Enable => Some(OperatorAction::Enable),
            AdminArg::Resume => Some(OperatorAction::Resume),
            AdminArg::ApproveObsoletion => Some(OperatorAction::ApproveObsoletion),
            AdminArg::SetWatermark => Some(OperatorAction::SetWatermark),
            AdminArg::RequireFullImport => Some(OperatorAction::RequireFullImport),
            AdminArg::AcceptRecords => None,
        }
    }
}

/// Whose alert wall.
#[derive(Clone, Copy, ValueEnum)]
enum RecipientArg {
    /// The connector's owner.
    ConnectorOwner,
    /// The partitions' owners.
    PartitionOwner,
}

/// What `explain` explains.
#[derive(Clone, Copy, ValueEnum)]
enum ExplainWhat {
    /// Where the committed watermark stands and what holds it back.
    Watermark,
    /// Why the last full import applied, skipped or held obsoletion.
    Obsoletion,
    /// Why a scope is enabled, disabled or suspended.
    Health,
}

/// A progress bar on standard error for long work, only on a terminal.
struct Progress {
    what: &'static str,
    shown: bool,
}

impl Progress {
    fn start(what: &'static str, total: u64) -> Self {
        use std::io::IsTerminal;
        let shown = std::io::stderr().is_terminal() && total > 10_000;
        Progress { what, shown }
    }

    /// Redraws the bar every 1,000 records.
    fn tick(&self, done: u64, total: u64) {
        if !self.shown || !done.is_multiple_of(1000) || total == 0 {
            return;
        }
        let width = 30;
        let filled = (done.min(total) * width / total) as usize;
        eprint!(
            "\r{} [{}{}] {done}/{total} records",
            self.what,
            "#".repeat(filled),
            " ".repeat(width as usize - filled)
        );
    }

    fn finish(self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

/// Parses the arguments and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let given = match &cli.command {
        Commands::Simulate { log, .. }
        | Commands::State { log, .. }
        | Commands::Runs { log, .. }
        | Commands::Events { log, .. }
        | Commands::Diff { log, .. }
        | Commands::Alerts { log, .. }
        | Commands::Explain { log, .. }
        | Commands::Verify { log, .. }
        | Commands::Report { log, .. }
        | Commands::Run { log, .. }
        | Commands::Enqueue { log, .. }
        | Commands::Admin { log, .. } => Some(log),
        Commands::Copy { from, to } => from.invalid().is_some().then_some(from).or(Some(to)),
        Commands::Demo { .. } | Commands::Remedies { .. } => None,
    };
    if let Some(why) = given.and_then(LogAt::invalid) {
        return fail(USAGE, format!("--log: {why}"));
    }
    match cli.command {
        Commands::Demo { log } => {
            demo::demo(log.unwrap_or_else(|| std::env::temp_dir().join("syncfold-demo")))
        }
        Commands::Simulate {
            scenario,
            log,
            wait,
            json,
        } => simulate(&scenario, &log, wait, json),
        Commands::State {
            log,
            at,
            partition,
            connector,
            json,
            remedies,
        } => state(
            &log,
            at,
            partition.as_deref().map(|p| (connector.as_deref(), p)),
            json,
            remedies.as_deref(),
        ),
        Commands::Runs {
            log,
            status,
            last,
            connector,
            partition,
            at,
            json,
        } => {
            let filter = RunFilter {
                statuses: status,
                connector: connector.as_deref().map(ConnectorName::from),
                partition: partition.as_deref().map(PartitionName::from),
                last,
            };
            postmortem::runs(&log, &filter, at, json)
        }
        Commands::Events {
            log,
            run,
            anchor,
            types,
            connector,
            partition,
            since,
            until,
            from,
            to,
            json,
        } => {
            let filter = EventFilter {
                run: run.map(RunId),
                anchor: anchor.as_deref().map(Anchor::from),
                types,
                connector: connector.as_deref().map(ConnectorName::from),
                partition: partition.as_deref().map(PartitionName::from),
                since,
                until,
            };
            postmortem::events(&log, &filter, from, to, json)
        }
        Commands::Diff {
            log,
            from,
            to,
            json,
            remedies,
        } => postmortem::diff(&log, from, to, json, remedies.as_deref()),
        Commands::Alerts {
            log,
            recipient,
            at,
            json,
            remedies,
        } => postmortem::alerts(
            &log,
            recipient.map(|r| match r {
                RecipientArg::ConnectorOwner => "connector-owner",
                RecipientArg::PartitionOwner => "partition-owner",
            }),
            at,
            json,
            remedies.as_deref(),
        ),
        Commands::Explain {
            what,
            log,
            partition,
            connector,
            at,
            json,
            remedies,
        } => postmortem::explain(
            &log,
            match what {
                ExplainWhat::Watermark => "watermark",
                ExplainWhat::Obsoletion => "obsoletion",
                ExplainWhat::Health => "health",
            },
            &partition,
            connector.as_deref(),
            at,
            json,
            remedies.as_deref(),
        ),
        Commands::Verify { log, json } => postmortem::verify_log(&log, json),
        Commands::Report {
            log,
            from,
            to,
            out,
            remedies,
        } => report::report(&report::Request {
            log: &log,
            from,
            to,
            out: &out,
            remedies: remedies.as_deref(),
        }),
        Commands::Remedies { remedies, json } => print_remedies(remedies.as_deref(), json),
        Commands::Copy { from, to } => copy::copy(&from, &to),
        Commands::Run {
            kind,
            config,
            log,
            wait,
            connector,
            partition,
            json,
        } => run::run(run::Request {
            config: &config,
            log: &log,
            wait,
            connector: &connector,
            partition: &partition,
            kind: kind.kind(),
            json,
        }),
        Commands::Enqueue {
            file,
            log,
            wait,
            connector,
            partition,
            actor,
        } => enqueue::enqueue(
            &log,
            wait,
            &connector,
            &partition,
            &file,
            default_actor(actor),
        ),
        Commands::Admin {
            action,
            log,
            wait,
            connector,
            partition,
            run,
            reason,
            actor,
        } => match action.operator_action() {
            None => accept_records(&log, reason.as_deref().unwrap_or(""), actor),
            Some(action) => admin::administer(
                &log,
                admin::Request {
                    wait,
                    action,
                    connector,
                    partition,
                    run,
                    reason: reason.unwrap_or_default(),
                    actor: default_actor(actor),
                },
            ),
        },
    }
}

/// `admin accept-records`: the one way to write again to a log whose head note is lost.
fn accept_records(folder: &LogAt, reason: &str, actor: Option<String>) -> ExitCode {
    if !is_log_folder(folder) {
        return no_log(folder);
    }
    if reason.trim().is_empty() {
        return fail(
            USAGE,
            "--reason must say why the present records are accepted (it is recorded in the log)",
        );
    }
    let actor = default_actor(actor);
    let accepted = open_store(folder, false).and_then(|store| {
        Log::accept_present_records(
            store,
            LogOptions::default(),
            system_clock(),
            &Actor::from_name(&actor),
            reason,
        )
    });
    match accepted {
        Ok((_, report)) => {
            let event = report.accepted_at.unwrap_or(0);
            say!(
                "{}: records 1 to {} accepted by {actor} ({reason}); recorded as event {event}. The log can be written again.",
                folder.display(),
                event.saturating_sub(1),
            );
            if let Some(torn) = report.torn_record_removed {
                say!("Record {torn}, the last, failed its checks and is not among them: it was discarded, and the log records that.");
            }
            for run in &report.interrupted {
                say!("Run {run} was in flight; it is recorded as interrupted.");
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail_log(folder, error),
    }
}

/// The administrator's name: `--actor`, else the OS user (`USER`, `LOGNAME`), else
/// "administrator".
fn default_actor(actor: Option<String>) -> String {
    actor
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "administrator".to_owned())
}

/// The exit status for an engine that could not go on.
fn engine_status(error: &syncfold::engine::EngineError) -> u8 {
    class_status(error.class())
}

/// Whether a log may be there: a sled log folder; for PostgreSQL, whether the log exists is
/// known once it is opened (readers then say so), so the answer is yes.
fn is_log_folder(folder: &LogAt) -> bool {
    match folder {
        LogAt::Folder(path) => syncfold::log::is_log_folder(path),
        LogAt::Pg(_) => true,
        LogAt::Invalid(_) => false,
    }
}

/// Whether `folder` is a folder that exists, holds something, and is not a log: a writer must
/// not start a log among someone else's files.
fn is_foreign_folder(folder: &LogAt) -> bool {
    folder.folder().is_some_and(|path| {
        path.exists()
            && !syncfold::log::is_log_folder(path)
            && !std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
    })
}

/// A writer's store at `folder`: a sled folder (created if missing) or a PostgreSQL log (its
/// writer lock taken, waiting for it when `wait`).
fn open_store(folder: &LogAt, wait: bool) -> Result<Box<dyn RecordStore + Send>, LogError> {
    match folder {
        LogAt::Folder(path) => loop {
            match SledStore::open(path) {
                Ok(store) => break Ok(Box::new(store)),
                // Held by a live writer that announces itself: wait for it, as asked.
                Err(_) if wait && syncfold::log::announcement(path).is_some() => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(error) => break Err(error.into()),
            }
        },
        LogAt::Pg(url) => Ok(Box::new(PgStore::open(
            url,
            PgOpen {
                wait,
                ..PgOpen::default()
            },
        )?)),
        LogAt::Invalid(why) => Err(LogError::Store(StoreError::Backend {
            context: "--log".to_owned(),
            message: why.clone(),
        })),
    }
}

/// A writer's log, as every writing command holds it.
type AnyLog = Log<Box<dyn RecordStore + Send>>;

/// Exit status when the log is damaged or a rule is broken (a refused command included).
const DAMAGED: u8 = 1;
/// Exit status for bad input (a malformed scenario, a missing log, a wrong flag).
const USAGE: u8 = 2;
/// Exit status for a bug in syncfold (as for a panic).
const BUG: u8 = 101;
/// Exit status when the log is busy or cannot be read or written for another cause than damage
/// (permissions, a read-only or full disk, a newer format, a holder that does not serve readers).
const UNAVAILABLE: u8 = 3;

/// The exit status that says what kind of failure `error` is.
fn exit_status(error: &LogError) -> u8 {
    class_status(error.class())
}

/// The exit status of each kind of failure (the table in every `--help`).
fn class_status(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Damage => DAMAGED,
        ErrorClass::Input => USAGE,
        ErrorClass::Unavailable => UNAVAILABLE,
        ErrorClass::Bug => BUG,
    }
}

/// `error`'s sentence about the log at `folder`, its remedies naming that folder.
fn log_message(folder: &LogAt, error: &LogError) -> String {
    error
        .to_string()
        .replace("--log LOG", &format!("--log {}", folder.display()))
}

/// Fails with the status that fits `error`, naming the log.
fn fail_log(folder: &LogAt, error: LogError) -> ExitCode {
    let message = log_message(folder, &error);
    fail(
        exit_status(&error),
        format!("{}: {message}", folder.display()),
    )
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    // Messages can quote names, anchors and texts from the log or a scenario: escape them.
    eprintln!("error: {}", syncfold::text::escape(&message.to_string()));
    ExitCode::from(code)
}

/// A log opened for reading: its store (never written) and the state folded from it.
pub(crate) struct Reading {
    store: Box<dyn RecordStore>,
    state: State,
}

impl Reading {
    fn store(&self) -> &dyn RecordStore {
        &*self.store
    }

    fn state(&self) -> &State {
        &self.state
    }
}

fn no_log(folder: &LogAt) -> ExitCode {
    fail(
        USAGE,
        format!(
            "no syncfold log at {}: write one with `syncfold simulate SCENARIO --log {}` or `syncfold demo --log {}`",
            folder.display(),
            folder.display(),
            folder.display()
        ),
    )
}

/// Opens an existing log folder for reading, changing nothing in it: runs in flight, a torn
/// tail and a lost head note are reported on standard error, not repaired.
fn open_existing(folder: &LogAt) -> Result<Reading, ExitCode> {
    let path = match folder {
        LogAt::Folder(path) => path,
        LogAt::Pg(url) => return open_existing_pg(folder, url),
        LogAt::Invalid(why) => return Err(fail(USAGE, format!("--log: {why}"))),
    };
    if !syncfold::log::is_log_folder(path) {
        return Err(no_log(folder));
    }
    // A writer that stops while it answers leaves the log to be read from the folder: try again.
    let mut attempt = 0;
    let (store, state, report) = loop {
        attempt += 1;
        let store = open_for_reading(path).map_err(|error| fail_log(folder, error.into()))?;
        match syncfold::log::read(&store) {
            Ok((state, report)) => break (store, state, report),
            Err(LogError::Store(StoreError::Io { .. }))
                if store.holder().is_some() && attempt < 3 => {}
            Err(error) => return Err(fail_log(folder, error)),
        }
    };
    report_reading(folder, &report, store.holder());
    Ok(Reading {
        store: Box::new(store),
        state,
    })
}

/// Opens a log in PostgreSQL for reading: committed records only, no lock, nothing written.
fn open_existing_pg(folder: &LogAt, url: &PgUrl) -> Result<Reading, ExitCode> {
    let store = PgStore::open_read_only(url, PgOpen::default())
        .map_err(|error| fail_log(folder, error.into()))?;
    if !store
        .log_exists()
        .map_err(|error| fail_log(folder, error.into()))?
    {
        return Err(no_log(folder));
    }
    let (state, report) = syncfold::log::read(&store).map_err(|error| fail_log(folder, error))?;
    report_reading(folder, &report, None);
    Ok(Reading {
        store: Box::new(store),
        state,
    })
}

/// What a reader found and did not repair, on standard error.
fn report_reading(folder: &LogAt, report: &syncfold::log::ReadReport, holder: Option<u32>) {
    for (seq, reason) in &report.snapshots_skipped {
        eprintln!("warning: snapshot after record {seq} skipped: {reason}");
    }
    if let Some(why) = &report.head_lost {
        eprintln!(
            "warning: {}: {}",
            folder.display(),
            syncfold::text::escape(&log_message(
                folder,
                &LogError::HeadLost {
                    records: report.last,
                    why: why.clone()
                }
            ))
        );
    }
    if let Some(torn) = report.torn_tail {
        eprintln!("note: record {torn} is a write cut short by a crash, never acknowledged; it is shown as absent, and the next writer discards it");
    }
    match holder {
        Some(pid) => {
            for run in &report.in_flight {
                eprintln!("note: run {run} is running (process {pid} holds the log; what it has not yet made durable is not shown)");
            }
        }
        None => {
            for run in &report.in_flight {
                eprintln!("note: run {run} is in flight: it was open when the log was last written; the next writer closes it as interrupted");
            }
        }
    }
}

/// Opens a log folder for writing (creating it if needed), recovering what a crash left.
fn open_log(folder: &LogAt, wait: bool) -> Result<AnyLog, ExitCode> {
    let opened = open_store(folder, wait)
        .and_then(|store| Log::open(store, LogOptions::default(), system_clock()));
    match opened {
        Ok((log, report)) => {
            if let Some(torn) = report.torn_record_removed {
                eprintln!("note: record {torn} was a write cut short by a crash, never acknowledged; it was discarded and the log records that");
            }
            for run in &report.interrupted {
                eprintln!("note: run {run} was in flight when the log was last closed; it is recorded as interrupted");
            }
            for (seq, reason) in &report.snapshots_skipped {
                eprintln!("warning: snapshot after record {seq} skipped: {reason}");
            }
            Ok(log)
        }
        Err(error) => Err(fail_log(folder, error)),
    }
}

/// Where a scenario's time starts on an empty log: 2026-01-01T00:00:00Z.
const SCENARIO_EPOCH: Timestamp = Timestamp(1_767_225_600_000);
/// How far a scenario's clock moves per event written.
const SCENARIO_TICK_MS: i64 = 100;

/// The clock of a scenario played by `simulate`: it starts at [`SCENARIO_EPOCH`] on an empty log
/// (one second after the log's last event otherwise) and moves [`SCENARIO_TICK_MS`] per command,
/// so a scenario plays to the same events, times included, into any log (sled or PostgreSQL),
/// every time: a reproduction is byte for byte.
fn scenario_clock(log: &AnyLog) -> impl Fn() -> Timestamp + Send + Sync + 'static {
    let last_seq = log.last_seq();
    let mut start = SCENARIO_EPOCH.0;
    if last_seq > 0 {
        let _ = syncfold::log::replay(
            log.store(),
            last_seq,
            Some(last_seq),
            &mut |_, envelope, _| {
                start = start.max(envelope.at.0.saturating_add(1000));
                std::ops::ControlFlow::Break(())
            },
        );
    }
    let next = std::sync::atomic::AtomicI64::new(start);
    move || Timestamp(next.fetch_add(SCENARIO_TICK_MS, std::sync::atomic::Ordering::SeqCst))
}

fn simulate(path: &Path, folder: &LogAt, wait: bool, json: bool) -> ExitCode {
    // The whole scenario is checked before anything is written.
    let scenario = match scenario::load_scenario(path) {
        Ok(scenario) => scenario,
        Err(error) => return fail(USAGE, error),
    };
    if is_foreign_folder(folder) {
        {
            return fail(
                USAGE,
                format!(
                    "{} exists and is not a syncfold log; name an empty or new folder with --log",
                    folder.display()
                ),
            );
        }
    }
    let log = match open_log(folder, wait) {
        Ok(log) => {
            let clock = scenario_clock(&log);
            (log, clock)
        }
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(
                UNAVAILABLE,
                format!("cannot start the engine's runtime: {error}"),
            )
        }
    };
    let engine = Engine::with_clock(log.0, EngineOptions::default(), log.1);
    // On a terminal, with the runs going to a file or a pipe, a progress line on stderr.
    let progress = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal() && !std::io::stdout().is_terminal()
    };
    let total = scenario
        .script
        .steps
        .iter()
        .filter(|step| !matches!(step, syncfold::script::Step::Admin { .. }))
        .count();
    let mut played = 0usize;
    let result = runtime.block_on(scripted::play_checked(
        &engine,
        &scenario.script,
        |report| {
            use std::io::Write;
            let view = FinishedRunView::new(&report.record);
            let text = if json {
                format!("{}\n", json_text(&view))
            } else {
                render(&view.blocks())
            };
            // The run is durable (the report carries the log's token): print it and push it out now.
            // A closed pipe ends the command here (see main.rs), not after the whole scenario.
            let mut out = std::io::stdout().lock();
            if let Err(error) = write!(out, "{text}").and_then(|()| out.flush()) {
                panic!("failed printing to stdout: {error}");
            }
            played += 1;
            if progress {
                eprint!("\rplayed {played} of {total} runs");
            }
        },
    ));
    if progress {
        eprintln!();
    }
    let shutdown = engine.shutdown();
    if let Err(syncfold::engine::EngineError::UnusedExportResult {
        step,
        run,
        anchor,
        why,
    }) = &result
    {
        // The scenario's input, wrong for this log's earlier history: placed like a load error,
        // and saying what the log now holds.
        let line = scenario.step_lines.get(*step).copied().unwrap_or(0);
        return fail(
            USAGE,
            format!(
                "{}:{line}: step[{step}].results: {}; run {run} and the steps before it are in \
                 {} (nothing after it was played)",
                path.display(),
                why.sentence(anchor),
                folder.display()
            ),
        );
    }
    if let Err(error) = result {
        return fail(
            engine_status(&error),
            format!(
                "simulating {} into {} failed: {error}",
                path.display(),
                folder.display()
            ),
        );
    }
    match shutdown {
        Ok(log) => {
            if !json {
                let runs = scenario
                    .script
                    .steps
                    .iter()
                    .filter(|s| !matches!(s, syncfold::script::Step::Admin { .. }))
                    .count();
                println!(
                    "\n{} played from {} into {} ({}).",
                    syncfold::text::counted(runs, "run", "runs"),
                    path.display(),
                    folder.display(),
                    syncfold::text::counted(
                        usize::try_from(log.last_seq()).unwrap_or(usize::MAX),
                        "event",
                        "events"
                    )
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(
            engine_status(&error),
            format!("{}: {error}", folder.display()),
        ),
    }
}

/// `remedies`: every entry of the catalog in force, in the order a lookup sees them.
fn print_remedies(extra: Option<&Path>, json: bool) -> ExitCode {
    let catalog = match catalog(extra) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    for entry in catalog.entries() {
        if json {
            match serde_json::to_string(entry) {
                Ok(line) => println!("{line}"),
                Err(error) => return fail(BUG, format!("a remedy could not be written: {error}")),
            }
        } else {
            match &entry.message_contains {
                Some(text) => say!(
                    "{} (message containing \"{text}\"): {}",
                    entry.code,
                    entry.title
                ),
                None => say!("{}: {}", entry.code, entry.title),
            }
            // The action and the remedy; the entry's source is provenance for the docs and the
            // JSON (`--json`), not advice.
            say!("  Action: {}", entry.action());
            say!("  {}", entry.remedy);
            println!();
        }
    }
    ExitCode::SUCCESS
}

fn catalog(extra: Option<&Path>) -> Result<RemedyCatalog, ExitCode> {
    let builtin = RemedyCatalog::builtin();
    match extra {
        None => Ok(builtin),
        Some(path) => builtin.with_file(path).map_err(|error| fail(USAGE, error)),
    }
}

/// `state`: the whole state, or with `--partition` (and `--connector`) one partition's.
fn state(
    folder: &LogAt,
    at: Option<Seq>,
    partition: Option<(Option<&str>, &str)>,
    json: bool,
    remedies: Option<&Path>,
) -> ExitCode {
    let catalog = match catalog(remedies) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let state = match postmortem::state_of(folder, at) {
        Ok(state) => state,
        Err(code) => return code,
    };
    let heading = || {
        if let Some(seq) = at {
            println!("{}\n", as_it_was(seq));
        }
    };
    if let Some((connector, partition)) = partition {
        let connector = connector.map(ConnectorName::from);
        let partition = PartitionName::from(partition);
        let view = filter::choose_partition(&state, connector.as_ref(), &partition)
            .map(|c| PartitionStateView::new(&state, &c, &partition, &catalog));
        let view = match view {
            Ok(Some(view)) => view,
            Ok(None) => return fail(USAGE, format!("no partition `{partition}` in the log")),
            Err(error) => return fail(USAGE, error),
        };
        if json {
            print_json(&view);
        } else {
            heading();
            print_text(&view);
        }
        return ExitCode::SUCCESS;
    }
    let view = StateView::new(&state, &catalog);
    if json {
        print_json(&view);
    } else {
        heading();
        print_text(&view);
    }
    ExitCode::SUCCESS
}

/// The heading of a reading at `--at SEQ`.
fn as_it_was(seq: Seq) -> String {
    if seq == 0 {
        "As it was before any event (--at 0):".to_owned()
    } else {
        format!("As it was just after event {seq}:")
    }
}

/// Whether to colour standard output: only on a terminal, and never when `NO_COLOR` is set.
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A run status, coloured on a terminal: green when clean, yellow for warnings and object
/// errors, red for stops and refusals.
fn paint_status(status: &str) -> String {
    if !colour() {
        return status.to_owned();
    }
    let code = match status {
        "success" => "32",
        s if s.starts_with("completed") => "33",
        "in-flight" => "36",
        _ => "31",
    };
    format!("\x1b[{code}m{status}\x1b[0m")
}

/// Writes a table for people into `out`: columns padded to their widest cell, two spaces apart.
/// The cells were escaped when the view made them ([`syncfold::views::Escaped`]), so a value
/// cannot move the cursor, colour the screen or break its row. The cells of the status column,
/// if any, are run statuses (our own words) and are coloured after padding, so our colour codes
/// survive and never count toward a width.
fn render_table(table: &Table, out: &mut String) {
    // Escaped text holds no control characters, so its width is its number of characters.
    let width_of = |text: &str| text.chars().count();
    let mut widths: Vec<usize> = table.header.iter().map(|h| width_of(h)).collect();
    for row in &table.rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(width_of(cell.as_str()));
        }
    }
    let mut line = |cells: &[&str], paint: bool| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                let padding = " ".repeat(width.saturating_sub(width_of(cell)));
                if paint && Some(column) == table.status_column {
                    format!("{}{padding}", paint_status(cell))
                } else {
                    format!("{cell}{padding}")
                }
            })
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&table.header, false);
    for row in &table.rows {
        let cells: Vec<&str> = row.iter().map(Escaped::as_str).collect();
        line(&cells, true);
    }
}

/// A text view's blocks as text: each line as it is (escaped when the view made it), each
/// table laid out.
fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Line(line) => {
                out.push_str(line.as_str());
                out.push('\n');
            }
            Block::Table(table) => render_table(table, &mut out),
        }
    }
    out
}

/// Prints a text view's blocks.
fn print_blocks(blocks: &[Block]) {
    print!("{}", render(blocks));
}

/// Prints a view's text for people.
fn print_text(view: &impl TextView) {
    print_blocks(&view.blocks());
}

/// A view's JSON on one line. The views serialize plain structs with string keys, which cannot
/// fail; if one ever did, that is a bug of syncfold (status 101), not something to hide.
fn json_text(view: &impl serde::Serialize) -> String {
    match serde_json::to_string(view) {
        Ok(text) => text,
        Err(error) => panic!("a view could not be written as JSON: {error}"),
    }
}

/// Prints a view's JSON on one line.
fn print_json(view: &impl serde::Serialize) {
    println!("{}", json_text(view));
}
