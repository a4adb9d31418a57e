//! The `syncfold` command line. A thin shell over the library: it parses arguments, calls the
//! library, and renders for people. See `syncfold --help`.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::log::{verify, Log, LogOptions, SledStore};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Demo { log } => {
            demo(log.unwrap_or_else(|| std::env::temp_dir().join("syncfold-demo")))
        }
    }
}

fn is_log_folder(folder: &Path) -> bool {
    folder.join("HEAD").is_file() && folder.join("sled").is_dir()
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
    println!();
    print_partitions(state);
    ExitCode::SUCCESS
}

fn watermark(watermark: Option<&Watermark>) -> String {
    watermark.map_or_else(|| "-".to_owned(), Watermark::display_text)
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
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
                run.status.map_or("open", RunStatus::as_str).to_owned(),
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
