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
mod postmortem;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::engine::{scripted, system_clock, Engine, EngineOptions};
use syncfold::log::{
    open_for_reading, verify, ErrorClass, Log, LogError, LogOptions, ReadStore, RecordStore,
    SledStore, StoreError,
};
use syncfold::remedy::RemedyCatalog;
use syncfold::scenario;
use syncfold::script::Player;
use syncfold::views::explain;
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
    /// Play a scenario file through the engine into a log (SPEC §7).
    #[command(
        after_help = concat!("Examples:\n  syncfold simulate examples/watermark-abc.toml --log ./abc-log\n  syncfold simulate examples/export-actions.toml --log ./exports --json", "\n\n", exit_status!())
    )]
    Simulate {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// The log folder (created if missing; appended to if it holds a log).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Print one JSON object per line for each run, once it is durable, and nothing else.
        #[arg(long)]
        json: bool,
    },
    /// Print the state folded from a log: runs, partitions, alerts; or one partition's.
    #[command(
        after_help = concat!("Examples:\n  syncfold state --log ./abc-log\n  syncfold state --log ./abc-log --json\n  syncfold state --log ./abc-log --at 0    # before any event: empty\n  syncfold state --log ./abc-log --partition people --json\n  syncfold state --log ./abc-log --connector hr --partition people\n  syncfold state --log ./abc-log --remedies ./our-remedies.toml", "\n\n", exit_status!())
    )]
    State {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
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
        /// Print JSON (SPEC §7) instead of tables.
        #[arg(long)]
        json: bool,
        /// A remedy catalog file extending the built-in one (same format as src/remedies.toml).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// List the runs of a log: connector, times, status, watermarks, obsoletion, counts.
    #[command(
        after_help = concat!("Examples:\n  syncfold runs --log ./abc-log\n  syncfold runs --log ./abc-log --json\n  syncfold runs --log ./abc-log --status stopped-server-down --status completed-discovery-errors\n  syncfold runs --log ./abc-log --last 5\n  syncfold runs --log ./abc-log --connector hr --partition people\n  syncfold runs --log ./abc-log --at 40", "\n\n", exit_status!())
    )]
    Runs {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Only runs with this status (SPEC §6, or `in-flight`); repeat the flag or separate
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
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
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
    #[command(after_help = concat!("Example:\n  syncfold diff --log ./abc-log --from 10 --to 40", "\n\n", exit_status!()))]
    Diff {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The earlier event.
        #[arg(long, value_name = "SEQ")]
        from: u64,
        /// The later event.
        #[arg(long, value_name = "SEQ")]
        to: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the alert wall: open alerts with their remedies.
    #[command(
        after_help = concat!("Examples:\n  syncfold alerts --log ./abc-log\n  syncfold alerts --log ./abc-log --recipient connector-owner --json\n  syncfold alerts --log ./abc-log --at 40", "\n\n", exit_status!())
    )]
    Alerts {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Only the alerts for this recipient.
        #[arg(long, value_enum)]
        recipient: Option<RecipientArg>,
        /// The alerts open just after this event (0: before any event, none), e.g. `--at 40`.
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
        /// One JSON object per line per alert.
        #[arg(long)]
        json: bool,
        /// A remedy catalog file extending the built-in one.
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// Explain where a watermark stands, why obsoletion was skipped or held, or why a scope is
    /// disabled or suspended: the causal chain with sequence numbers, and the remedy.
    #[command(
        after_help = concat!("Examples:\n  syncfold explain watermark --log ./abc-log --partition people\n  syncfold explain obsoletion --log ./abc-log --partition people\n  syncfold explain health --log ./abc-log --partition people --at 40", "\n\n", exit_status!())
    )]
    Explain {
        /// What to explain.
        #[arg(value_enum)]
        what: ExplainWhat,
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
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
    },
    /// Print the remedy catalog: what to do about each alert code (the built-in catalog, extended
    /// by a file of the same shape).
    #[command(
        after_help = concat!("Examples:\n  syncfold remedies\n  syncfold remedies --json\n  syncfold remedies --remedies ./our-remedies.toml", "\n\n", exit_status!())
    )]
    Remedies {
        /// A remedy catalog file extending the built-in one.
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
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record an administrator's action on a log: one event with the actor and the reason
    /// (SPEC §8); prints what changed, or names the rule that refuses it.
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
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
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

/// An administrator's action (SPEC §7, §8), or one on the log itself.
#[derive(Clone, Copy, ValueEnum)]
enum AdminArg {
    /// New credentials were entered for a connector disabled by a credentials fault (R8).
    CredentialsUpdated,
    /// Enable a connector disabled by a credentials fault, after credentials-updated (R8).
    Enable,
    /// Resume a suspended connector (R9).
    Resume,
    /// Apply the obsoletion the deletion guard held (R4).
    ApproveObsoletion,
    /// Set a partition's committed watermark back to the one a run committed (SPEC §8).
    SetWatermark,
    /// Require a full import of a partition before its next delta import (R5, SPEC §8).
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
    match cli.command {
        Commands::Demo { log } => {
            demo(log.unwrap_or_else(|| std::env::temp_dir().join("syncfold-demo")))
        }
        Commands::Simulate {
            scenario,
            log,
            json,
        } => simulate(&scenario, &log, json),
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
        } => postmortem::diff(&log, from, to, json),
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
        ),
        Commands::Verify { log, json } => postmortem::verify_log(&log, json),
        Commands::Remedies { remedies, json } => print_remedies(remedies.as_deref(), json),
        Commands::Admin {
            action,
            log,
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
fn accept_records(folder: &Path, reason: &str, actor: Option<String>) -> ExitCode {
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
    let accepted = SledStore::open(folder)
        .map_err(LogError::from)
        .and_then(|store| {
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

fn is_log_folder(folder: &Path) -> bool {
    syncfold::log::is_log_folder(folder)
}

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
fn log_message(folder: &Path, error: &LogError) -> String {
    error
        .to_string()
        .replace("--log LOG", &format!("--log {}", folder.display()))
}

/// Fails with the status that fits `error`, naming the log.
fn fail_log(folder: &Path, error: LogError) -> ExitCode {
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
    store: ReadStore,
    state: State,
}

impl Reading {
    fn store(&self) -> &ReadStore {
        &self.store
    }

    fn state(&self) -> &State {
        &self.state
    }
}

fn no_log(folder: &Path) -> ExitCode {
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
fn open_existing(folder: &Path) -> Result<Reading, ExitCode> {
    if !is_log_folder(folder) {
        return Err(no_log(folder));
    }
    // A writer that stops while it answers leaves the log to be read from the folder: try again.
    let mut attempt = 0;
    let (store, state, report) = loop {
        attempt += 1;
        let store = open_for_reading(folder).map_err(|error| fail_log(folder, error.into()))?;
        match syncfold::log::read(&store) {
            Ok((state, report)) => break (store, state, report),
            Err(LogError::Store(StoreError::Io { .. }))
                if store.holder().is_some() && attempt < 3 => {}
            Err(error) => return Err(fail_log(folder, error)),
        }
    };
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
    match store.holder() {
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
    Ok(Reading { store, state })
}

/// Opens a log folder for writing (creating it if needed), recovering what a crash left.
fn open_log(folder: &Path) -> Result<Log<SledStore>, ExitCode> {
    let opened = SledStore::open(folder)
        .map_err(LogError::from)
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

fn simulate(path: &Path, folder: &Path, json: bool) -> ExitCode {
    // The whole scenario is checked before anything is written.
    let scenario = match scenario::load_scenario(path) {
        Ok(scenario) => scenario,
        Err(error) => return fail(USAGE, error),
    };
    if folder.exists() && !is_log_folder(folder) {
        let empty = std::fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_none());
        if !empty {
            return fail(
                USAGE,
                format!(
                    "{} exists and is not a syncfold log; name an empty or new folder with --log",
                    folder.display()
                ),
            );
        }
    }
    let log = match open_log(folder) {
        Ok(log) => log,
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
    let engine = Engine::new(log, EngineOptions::default());
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
    let result = runtime.block_on(scripted::play(&engine, &scenario.script, |report| {
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
    }));
    if progress {
        eprintln!();
    }
    let shutdown = engine.shutdown();
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
            say!("  {}", entry.remedy);
            say!("  Source: {}.", entry.source);
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
    folder: &Path,
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

/// Whether the log at `folder` is a demo log: every event in it was written by the demo. A
/// demo log that anything else appended to (a `simulate` into the same folder) is no longer one.
fn is_demo_log(folder: &Path) -> Result<bool, LogError> {
    let store = open_for_reading(folder)?;
    let mut demo_only = store.last_seq()? > 0;
    syncfold::log::replay(&store, 1, None, &mut |_, envelope, _| {
        if envelope.actor.0 == syncfold::demo::ACTOR {
            std::ops::ControlFlow::Continue(())
        } else {
            demo_only = false;
            std::ops::ControlFlow::Break(())
        }
    })?;
    Ok(demo_only)
}

/// Makes `folder` ready for the demo: a new or empty folder is used as it is; an earlier demo
/// log that no process holds is removed (under the log's lock, so no writer starts meanwhile).
/// Anything else is refused: the demo never destroys a log it did not write.
fn clear_for_demo(folder: &Path) -> Result<(), ExitCode> {
    let refuse = |code: u8, why: String| {
        Err(fail(
            code,
            format!(
                "{why}; the demo writes only into a new or empty folder, or over an earlier demo log that no process holds: name another folder with --log DIR"
            ),
        ))
    };
    if !folder.exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_none());
    if empty {
        return Ok(());
    }
    if !is_log_folder(folder) {
        return refuse(
            USAGE,
            format!("{} exists and is not a syncfold log", folder.display()),
        );
    }
    match is_demo_log(folder) {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                USAGE,
                format!(
                    "{} holds a syncfold log that the demo did not write (or not alone)",
                    folder.display()
                ),
            )
        }
        Err(error) => {
            return refuse(
                exit_status(&error),
                format!("{}: {error}", folder.display()),
            )
        }
    }
    // sled's own lock: held by any writer of this log; ours while the folder is removed.
    let lock = std::fs::File::open(folder.join("sled").join("db"));
    let _lock = match lock {
        Ok(file) => match file.try_lock() {
            Ok(()) => Some(file),
            Err(_) => {
                let holder = syncfold::log::announcement(folder).map_or_else(
                    || "another process".to_owned(),
                    |a| format!("process {}", a.pid),
                );
                return refuse(
                    UNAVAILABLE,
                    format!("the demo log at {} is held by {holder}", folder.display()),
                );
            }
        },
        Err(_) => None,
    };
    if let Err(error) = std::fs::remove_dir_all(folder) {
        return Err(fail(
            UNAVAILABLE,
            format!(
                "cannot replace the earlier demo log at {}: {error}",
                folder.display()
            ),
        ));
    }
    Ok(())
}

fn demo(folder: PathBuf) -> ExitCode {
    if let Err(code) = clear_for_demo(&folder) {
        return code;
    }
    let script = syncfold::demo::week();
    let mut player = Player::new(
        Actor::from_name(syncfold::demo::ACTOR),
        Timestamp(1_767_225_600_000),
        250,
    );
    for step in &script.steps {
        // A night between runs, so first and last occurrences read like a real week.
        player.advance_clock(86_400_000);
        if let Err(error) = player.play(&script.connector, &script.settings, step) {
            eprintln!("error: the demo history was refused by the core: {error}");
            return ExitCode::FAILURE;
        }
    }
    let written = SledStore::open(&folder)
        .map_err(syncfold::log::LogError::from)
        .and_then(|store| Log::open(store, LogOptions::default(), Timestamp(0)))
        .and_then(|(mut log, _)| {
            // Command by command, flushed where the engine's log flushes (R13).
            for command in player.commands() {
                for envelope in command {
                    log.append(envelope)?;
                }
                if needs_flush(command.iter().map(|envelope| &envelope.event)) {
                    log.flush()?;
                }
            }
            log.flush()?;
            Ok(log.last_seq())
        })
        .and_then(|_| verify(&open_for_reading(&folder)?));
    let report = match written {
        Ok(report) => report,
        Err(error) => {
            return fail(
                exit_status(&error),
                format!(
                    "writing the demo log to {} failed: {error}",
                    folder.display()
                ),
            );
        }
    };
    let state = player.state();
    println!(
        "Played a week of `{}` into the sled log at {}: {} events, {} runs; verified {} records (checksums, hash chain, rules).\n",
        script.connector,
        folder.display(),
        report.records,
        state.runs().len(),
        report.records,
    );
    let catalog = RemedyCatalog::builtin();
    let view = StateView::new(state, &catalog);
    let mut out = Vec::new();
    view.runs_text(&mut out);
    print_blocks(&out);
    let people = PartitionName::from("people");
    // Night 4: the bad object has held the watermark back three times; the warning fires.
    if let Some(night4) = state.run(RunId(4)).and_then(|run| run.ended.as_ref()) {
        let mut then = State::new();
        for envelope in player.log().iter().take(night4.seq as usize) {
            if then.apply(then.last_seq() + 1, envelope).is_err() {
                break;
            }
        }
        println!(
            "\n== Night 4, just after event {}: the alert wall ==\n",
            night4.seq
        );
        let mut out = Vec::new();
        StateView::new(&then, &catalog).alerts_text(&mut out);
        print_blocks(&out);
        println!("== Night 4: where the watermark stood and why ==\n");
        if let Some(explanation) = explain::watermark(&then, &script.connector, &people, &catalog) {
            let mut out = Vec::new();
            explanation.chain(&mut out);
            print_blocks(&out);
        }
    }
    println!("\n== The end of the week ==\n");
    let mut out = Vec::new();
    view.partitions_text(&mut out);
    out.push(Block::Line(Escaped::default()));
    view.alerts_text(&mut out);
    if let Some(explanation) = explain::watermark(state, &script.connector, &people, &catalog) {
        explanation.chain(&mut out);
    }
    print_blocks(&out);
    let log = folder.display();
    let end_of = |run: u64| {
        state
            .run(RunId(run))
            .and_then(|run| run.ended.as_ref())
            .map_or(0, |end| end.seq)
    };
    let (night4, night6) = (end_of(4), end_of(8));
    println!(
        "\nTry next on this log:\n  syncfold runs --log {log}\n  syncfold events --log {log} --run 4\n  syncfold state --log {log} --at {night4}\n  syncfold explain watermark --log {log} --partition people --at {night4}\n  syncfold explain obsoletion --log {log} --partition people --at {night6}\n  syncfold diff --log {log} --from {night6} --to {}\n  syncfold alerts --log {log}\n  syncfold verify --log {log}",
        report.records
    );
    ExitCode::SUCCESS
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
