//! The command line: a thin shell over the library that parses arguments, calls the library and
//! renders for people (tables, colour on a terminal, progress on long work) or programs (`--json`).

mod postmortem;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::engine::{scenario, scripted, system_clock, Engine, EngineOptions};
use syncfold::log::{verify, Log, LogError, LogOptions, SledStore, StoreError};
use syncfold::remedy::RemedyCatalog;
use syncfold::script::Player;

#[derive(Parser)]
#[command(
    name = "syncfold",
    version,
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
    #[command(after_help = "Examples:\n  syncfold demo\n  syncfold demo --log ./demo-log")]
    Demo {
        /// The log folder to write (replaced if it holds an earlier demo log).
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
    },
    /// Play a scenario file through the engine into a log (SPEC §7).
    #[command(
        after_help = "Examples:\n  syncfold simulate examples/watermark-abc.toml --log ./abc-log\n  syncfold simulate examples/export-actions.toml --log ./exports --json"
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
    /// Print the state folded from a log: runs, partitions, alerts.
    #[command(
        after_help = "Examples:\n  syncfold state --log ./abc-log\n  syncfold state --log ./abc-log --json\n  syncfold state --log ./abc-log --remedies ./our-remedies.toml"
    )]
    State {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The state just after this event (see `syncfold events`), instead of now.
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
        /// Print JSON (SPEC §7) instead of tables.
        #[arg(long)]
        json: bool,
        /// A remedy catalog file extending the built-in one (same format as src/remedies.toml).
        #[arg(long, value_name = "FILE")]
        remedies: Option<PathBuf>,
    },
    /// List the runs of a log: status, watermarks, obsoletion, counts.
    #[command(
        after_help = "Examples:\n  syncfold runs --log ./abc-log\n  syncfold runs --log ./abc-log --json"
    )]
    Runs {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// One JSON object per line per run.
        #[arg(long)]
        json: bool,
    },
    /// List the events of a log, verified as they are read.
    #[command(
        after_help = "Examples:\n  syncfold events --log ./abc-log\n  syncfold events --log ./abc-log --run 2\n  syncfold events --log ./abc-log --from 10 --to 20 --json"
    )]
    Events {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Only the events of this run.
        #[arg(long, value_name = "N")]
        run: Option<u64>,
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
    #[command(after_help = "Example:\n  syncfold diff --log ./abc-log --from 10 --to 40")]
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
        after_help = "Examples:\n  syncfold alerts --log ./abc-log\n  syncfold alerts --log ./abc-log --recipient connector-owner --json"
    )]
    Alerts {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Only the alerts for this recipient.
        #[arg(long, value_enum)]
        recipient: Option<RecipientArg>,
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
        after_help = "Examples:\n  syncfold explain watermark --log ./abc-log --partition people\n  syncfold explain obsoletion --log ./abc-log --partition people\n  syncfold explain health --log ./abc-log --partition people --at 40"
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
    /// Check a whole log: checksums, formats, hash chain, rules, acknowledged length, snapshots.
    /// Exits non-zero naming the first bad event and the remedy.
    #[command(
        after_help = "Examples:\n  syncfold verify --log ./abc-log\n  syncfold verify --log ./abc-log --json"
    )]
    Verify {
        /// The log folder.
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
        if !self.shown || done % 1000 != 0 || total == 0 {
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
            json,
            remedies,
        } => state(&log, at, json, remedies.as_deref()),
        Commands::Runs { log, json } => postmortem::runs(&log, json),
        Commands::Events {
            log,
            run,
            from,
            to,
            json,
        } => postmortem::events(&log, run, from, to, json),
        Commands::Diff {
            log,
            from,
            to,
            json,
        } => postmortem::diff(&log, from, to, json),
        Commands::Alerts {
            log,
            recipient,
            json,
            remedies,
        } => postmortem::alerts(
            &log,
            recipient.map(|r| match r {
                RecipientArg::ConnectorOwner => "connector-owner",
                RecipientArg::PartitionOwner => "partition-owner",
            }),
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
    }
}

fn is_log_folder(folder: &Path) -> bool {
    folder.join("HEAD").is_file() && folder.join("sled").is_dir()
}

/// Exit status for bad input (a malformed scenario, a missing log, a wrong flag).
const USAGE: u8 = 2;

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// Opens an existing log folder for reading, closing runs left in flight (R13).
fn open_existing(folder: &Path) -> Result<Log<SledStore>, ExitCode> {
    if !is_log_folder(folder) {
        return Err(fail(
            USAGE,
            format!(
                "no syncfold log at {}: write one with `syncfold simulate SCENARIO --log {}` or `syncfold demo --log {}`",
                folder.display(),
                folder.display(),
                folder.display()
            ),
        ));
    }
    open_log(folder)
}

fn open_log(folder: &Path) -> Result<Log<SledStore>, ExitCode> {
    let opened = SledStore::open(folder)
        .map_err(LogError::from)
        .and_then(|store| Log::open(store, LogOptions::default(), system_clock()));
    match opened {
        Ok((log, report)) => {
            for run in &report.interrupted {
                eprintln!("note: run {run} was in flight when the log was last closed; it is recorded as interrupted");
            }
            for (seq, reason) in &report.snapshots_skipped {
                eprintln!("warning: snapshot after record {seq} skipped: {reason}");
            }
            Ok(log)
        }
        Err(LogError::Store(error @ StoreError::InUse { .. })) => Err(fail(USAGE, error)),
        Err(error) => Err(fail(1, error)),
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
        Err(error) => return fail(1, format!("cannot start the engine's runtime: {error}")),
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
        let line = if json {
            syncfold::views::finished_run_json(&report.record).to_string()
        } else {
            let run = &report.record;
            format!(
                "run {} {} {}: {} (committed watermark {})",
                run.id,
                run.partition,
                run.kind.as_str(),
                run.status.map_or("open", RunStatus::as_str),
                watermark(run.committed_watermark.as_ref())
            )
        };
        // The run is durable (the report carries the log's token): print it and push it out now.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
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
            1,
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
                println!(
                    "\n{} runs played from {} into {} ({} events).",
                    scenario
                        .script
                        .steps
                        .iter()
                        .filter(|s| !matches!(s, syncfold::script::Step::Admin { .. }))
                        .count(),
                    path.display(),
                    folder.display(),
                    log.last_seq()
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(1, error),
    }
}

fn catalog(extra: Option<&Path>) -> Result<RemedyCatalog, ExitCode> {
    let builtin = RemedyCatalog::builtin();
    match extra {
        None => Ok(builtin),
        Some(path) => builtin.with_file(path).map_err(|error| fail(USAGE, error)),
    }
}

fn state(folder: &Path, at: Option<Seq>, json: bool, remedies: Option<&Path>) -> ExitCode {
    let catalog = match catalog(remedies) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let state = match postmortem::state_of(folder, at) {
        Ok(state) => state,
        Err(code) => return code,
    };
    if json {
        println!("{}", syncfold::views::state_json(&state, &catalog));
    } else {
        if let Some(seq) = at {
            println!("As it was just after event {seq}:\n");
        }
        print_runs(&state);
        println!();
        print_partitions(&state);
        println!();
        print_alerts(&state, &catalog);
    }
    ExitCode::SUCCESS
}

/// The alert wall: sync errors (the sync stopped) first, then sync issues (single records).
fn print_alerts(state: &State, catalog: &RemedyCatalog) {
    let alerts: Vec<Alert> = state
        .alerts()
        .into_iter()
        .filter(|alert| alert.severity != Severity::Info)
        .collect();
    if alerts.is_empty() {
        println!("No open alerts.");
        return;
    }
    let sections = [
        (
            "sync-error",
            "Sync errors (connector and partition: the sync as a whole):",
        ),
        ("sync-issue", "Sync issues (single records):"),
    ];
    for (class, title) in sections {
        let rows: Vec<Vec<String>> = alerts
            .iter()
            .filter(|alert| alert.scope.class() == class)
            .map(|alert| {
                vec![
                    alert.severity.as_str().to_owned(),
                    alert.code.clone(),
                    alert
                        .partition
                        .as_ref()
                        .map_or("-".to_owned(), |p| p.to_string()),
                    alert
                        .anchor
                        .as_ref()
                        .map_or("-".to_owned(), |a| a.to_string()),
                    alert.recipient.as_str().to_owned(),
                    catalog
                        .lookup(alert)
                        .map_or("(no remedy)".to_owned(), |r| r.title.clone()),
                ]
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        println!("{title}");
        print_table(
            &[
                "SEVERITY",
                "CODE",
                "PARTITION",
                "OBJECT",
                "RECIPIENT",
                "REMEDY",
            ],
            &rows,
        );
        println!();
    }
}

fn demo(folder: PathBuf) -> ExitCode {
    if folder.exists() {
        let empty = std::fs::read_dir(&folder).is_ok_and(|mut entries| entries.next().is_none());
        if !empty && !is_log_folder(&folder) {
            eprintln!(
                "error: {} exists and is not a syncfold log; name another folder with --log DIR",
                folder.display()
            );
            return ExitCode::from(2);
        }
        if let Err(error) = std::fs::remove_dir_all(&folder) {
            eprintln!(
                "error: cannot replace the earlier demo log at {}: {error}",
                folder.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let script = syncfold::demo::week();
    let mut player = Player::new(
        Actor::from_name("syncfold-demo"),
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
            for envelope in player.log() {
                log.append(envelope)?;
                if matches!(
                    envelope.event,
                    Event::RunEnded { .. } | Event::RunRefused { .. }
                ) {
                    log.flush()?;
                }
            }
            log.flush()?;
            Ok(log.last_seq())
        })
        .and_then(|_| verify(&SledStore::open(&folder)?));
    let report = match written {
        Ok(report) => report,
        Err(error) => {
            eprintln!(
                "error: writing the demo log to {} failed: {error}",
                folder.display()
            );
            return ExitCode::FAILURE;
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
    print_runs(state);
    let catalog = RemedyCatalog::builtin();
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
        print_alerts(&then, &catalog);
        println!("== Night 4: where the watermark stood and why ==\n");
        if let Some(explanation) =
            syncfold::explain::watermark(&then, &script.connector, &people, &catalog)
        {
            for line in &explanation.lines {
                println!("{line}");
            }
        }
    }
    println!("\n== The end of the week ==\n");
    print_partitions(state);
    println!();
    print_alerts(state, &catalog);
    if let Some(explanation) =
        syncfold::explain::watermark(state, &script.connector, &people, &catalog)
    {
        for line in &explanation.lines {
            println!("{line}");
        }
    }
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

fn watermark(watermark: Option<&Watermark>) -> String {
    watermark.map_or_else(|| "-".to_owned(), Watermark::display_text)
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
        "open" => "36",
        _ => "31",
    };
    format!("\x1b[{code}m{status}\x1b[0m")
}

/// Characters a terminal shows, colour codes left out.
fn visible_len(text: &str) -> usize {
    let mut count = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => count += 1,
        }
    }
    count
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(visible_len(cell));
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| {
                format!(
                    "{cell}{}",
                    " ".repeat(width.saturating_sub(visible_len(cell)))
                )
            })
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn print_runs(state: &State) {
    let rows: Vec<Vec<String>> = state
        .runs()
        .iter()
        .map(|run| {
            vec![
                run.id.to_string(),
                run.partition.to_string(),
                run.kind.as_str().to_owned(),
                watermark(run.start_watermark.as_ref()),
                paint_status(run.status.map_or("open", RunStatus::as_str)),
                watermark(run.committed_watermark.as_ref()),
                run.obsoletion.as_str().to_owned(),
                run.counts.obsoleted.to_string(),
                run.counts.errors.to_string(),
                run.counts.warnings.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "RUN",
            "PARTITION",
            "KIND",
            "START",
            "STATUS",
            "COMMITTED",
            "OBSOLETION",
            "OBSOLETED",
            "ERRORS",
            "WARNINGS",
        ],
        &rows,
    );
}

fn print_partitions(state: &State) {
    for (connector, connector_state) in state.connectors() {
        for (name, part) in connector_state.partitions() {
            println!(
                "{connector}/{name}: watermark {}, {} live objects of {}, {} pending exports, full import required: {}",
                watermark(part.committed_watermark()),
                part.live_objects(),
                part.objects().len(),
                part.exports().len(),
                if part.full_import_required().is_some() { "yes" } else { "no" }
            );
            for entry in part.exports().in_order() {
                println!(
                    "  pending export: {} {}",
                    entry.change.kind.as_str(),
                    entry.change.anchor
                );
            }
            for (anchor, error) in part.object_errors() {
                println!(
                    "  open error on {anchor}: {} ({}), failing in {} runs since event {}",
                    error.name, error.description, error.failing_runs, error.first.seq
                );
            }
        }
    }
}
