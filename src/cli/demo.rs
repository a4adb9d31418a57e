//! `syncfold demo`: plays the built-in week ([`syncfold::demo::nights`]) into a sled log and
//! tells it night by night, with dates: what happened at the source, then what the engine made of
//! it, read from the folded state (each run's status, duration and watermark; the alerts that
//! opened or closed). Night 4 shows the alert wall and the watermark's explanation; the end of the
//! week shows the state and the commands to try next.

use super::{exit_status, fail, print_blocks, render, verify, UNAVAILABLE, USAGE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::demo::Night;
use syncfold::log::{open_for_reading, Log, LogError, LogOptions, RecordStore, SledStore};
use syncfold::remedy::RemedyCatalog;
use syncfold::script::Player;
use syncfold::views::explain;
use syncfold::views::{duration_text, rfc3339, AlertView, Block, Escaped, RunView, StateView};

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
pub(super) fn clear_for_demo(folder: &Path) -> Result<(), ExitCode> {
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
    if !syncfold::log::is_log_folder(folder) {
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

const WEEKDAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A date for people, `Thursday 1 January 2026`, from a time (UTC).
fn date_text(at: Timestamp) -> String {
    let text = rfc3339(at);
    let day_number = at.0.div_euclid(86_400_000);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[day_number.rem_euclid(7) as usize];
    let (year, month, day) = (&text[0..4], &text[5..7], &text[8..10]);
    let month = month
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("?");
    format!("{weekday} {} {month} {year}", day.trim_start_matches('0'))
}

/// The time of day for people, `01:00`, from a time (UTC).
fn clock_text(at: &str) -> &str {
    at.get(11..16).unwrap_or(at)
}

/// What an alert is about, for a sentence: the object, else the partition, else the connector.
fn alert_subject(alert: &AlertView) -> String {
    alert
        .anchor
        .clone()
        .or_else(|| alert.partition.clone())
        .unwrap_or_else(|| alert.connector.clone())
}

/// The open alerts by what they are about (code and subject), with their severity.
fn alert_keys(state: &State, catalog: &RemedyCatalog) -> BTreeMap<(String, String), String> {
    StateView::new(state, catalog)
        .alerts
        .iter()
        .map(|alert| {
            (
                (alert.code.clone(), alert_subject(alert)),
                alert.severity.to_owned(),
            )
        })
        .collect()
}

/// One sentence on what a finished run did.
fn run_sentence(run: &RunView, before: Option<&str>) -> String {
    let mut parts = vec![format!(
        "{} run {} {} of {}: {}",
        clock_text(&run.started_at),
        run.id,
        run.kind,
        run.partition,
        run.status_text()
    )];
    if let Some(duration) = run.duration_ms {
        parts[0].push_str(&format!(" in {}", duration_text(duration)));
    }
    if let Some(fault) = &run.fault {
        parts.push(format!("stopped by {} ({})", fault.kind, fault.message));
    }
    if run.kind != "export" {
        let after = run.committed_watermark.as_deref();
        parts.push(match (before, after) {
            (_, None) => "no watermark committed".to_owned(),
            (b, Some(a)) if b == Some(a) => format!("the committed watermark stays at {a}"),
            (_, Some(a)) => format!("watermark {a} committed"),
        });
    }
    if run.errors > 0 {
        parts.push(syncfold::text::counted(
            run.errors as usize,
            "object error",
            "object errors",
        ));
    }
    if run.warnings > 0 {
        parts.push(syncfold::text::counted(
            run.warnings as usize,
            "warning",
            "warnings",
        ));
    }
    match run.obsoletion {
        "applied" if run.obsoleted > 0 => parts.push(format!(
            "{} made obsolete",
            syncfold::text::counted(run.obsoleted as usize, "object", "objects")
        )),
        "skipped" => parts.push("obsoletion skipped: every object is kept".to_owned()),
        "held" => parts.push("obsoletion held for approval".to_owned()),
        _ => {}
    }
    format!("{}.", parts.join("; "))
}

/// What the demo tells, gathered while it plays and printed once the log is written and
/// verified, so a failure to write is never preceded by a story of a log that does not exist.
#[derive(Default)]
struct Told(String);

impl Told {
    /// One line for people, escaped.
    fn line(&mut self, text: impl AsRef<str>) {
        self.0.push_str(&syncfold::text::escape(text.as_ref()));
        self.0.push('\n');
    }

    /// A text view's blocks.
    fn blocks(&mut self, blocks: &[Block]) {
        self.0.push_str(&render(blocks));
    }
}

/// Says which alerts opened, changed severity or closed between two moments.
fn tell_alerts(
    told: &mut Told,
    before: &BTreeMap<(String, String), String>,
    after: &BTreeMap<(String, String), String>,
) {
    let (mut opened, mut changed, mut closed) = (Vec::new(), Vec::new(), Vec::new());
    for ((code, subject), severity) in after {
        match before.get(&(code.clone(), subject.clone())) {
            None => opened.push(format!("{severity} {code} on {subject}")),
            Some(was) if was != severity => {
                changed.push(format!("{code} on {subject} from {was} to {severity}"))
            }
            Some(_) => {}
        }
    }
    for ((code, subject), severity) in before {
        if !after.contains_key(&(code.clone(), subject.clone())) {
            closed.push(format!("{severity} {code} on {subject}"));
        }
    }
    for (what, list) in [
        ("Alerts opened", opened),
        ("Alerts escalated", changed),
        ("Alerts closed", closed),
    ] {
        if !list.is_empty() {
            told.line(format!("  {what}: {}.", list.join("; ")));
        }
    }
}

/// Plays one night (and its morning) and tells it.
fn tell_night(
    told: &mut Told,
    night: &Night,
    player: &mut Player,
    script: &syncfold::script::Script,
    catalog: &RemedyCatalog,
) -> Result<(), String> {
    let alerts_before = alert_keys(player.state(), catalog);
    told.line(format!(
        "== Night {} · {} ==",
        night.number,
        date_text(night.starts_at())
    ));
    told.line(night.story);
    let to = |player: &mut Player, at: Timestamp| {
        let now = player.clock();
        if at.0 > now.0 {
            player.advance_clock(at.0 - now.0);
        }
    };
    to(player, night.starts_at());
    for step in &night.steps {
        let played = player
            .play(&script.connector, &script.settings, step)
            .map_err(|error| error.to_string())?;
        if let Some(run) = played.and_then(|id| player.state().run(id)) {
            // The committed watermark before this run, on its partition.
            let before = player
                .state()
                .runs()
                .iter()
                .rfind(|other| other.id < run.id && other.partition == run.partition)
                .and_then(|other| other.committed_watermark.as_ref())
                .map(Watermark::display_text);
            told.line(format!(
                "  {}",
                run_sentence(&RunView::new(run), before.as_deref())
            ));
        }
        player.advance_clock(600_000);
    }
    let after_night = alert_keys(player.state(), catalog);
    tell_alerts(told, &alerts_before, &after_night);
    if !night.morning.is_empty() {
        to(player, night.morning_at());
        for step in &night.morning {
            let at = rfc3339(player.clock());
            player
                .play(&script.connector, &script.settings, step)
                .map_err(|error| error.to_string())?;
            if let syncfold::script::Step::Admin { partition, action } = step {
                let scope = partition.as_ref().map_or_else(
                    || format!("connector {}", script.connector),
                    |p| format!("partition {}/{p}", script.connector),
                );
                told.line(format!(
                    "  {} next morning: the administrator records {} on {scope}.",
                    clock_text(&at),
                    action.as_str()
                ));
            }
        }
    }
    if !night.morning.is_empty() {
        tell_alerts(told, &after_night, &alert_keys(player.state(), catalog));
    }
    told.line("");
    Ok(())
}

pub(super) fn demo(folder: PathBuf) -> ExitCode {
    if let Err(code) = clear_for_demo(&folder) {
        return code;
    }
    let script = syncfold::demo::week();
    let catalog = RemedyCatalog::builtin();
    let mut player = Player::new(
        Actor::from_name(syncfold::demo::ACTOR),
        syncfold::demo::FIRST_NIGHT,
        250,
    );
    let mut told = Told::default();
    told.line(format!(
        "A week of the connector `{}` (an LDAP directory, partition people), night by night.",
        script.connector
    ));
    told.line("");
    let people = PartitionName::from("people");
    let mut night4_seq = 0;
    for night in syncfold::demo::nights() {
        if let Err(error) = tell_night(&mut told, &night, &mut player, &script, &catalog) {
            eprintln!("error: the demo history was refused by the core: {error}");
            return ExitCode::FAILURE;
        }
        if night.number == 4 {
            // The bad object has held the watermark back three times; the warning fires.
            night4_seq = player.state().last_seq();
            let then = player.state();
            told.line(format!(
                "== Night 4, just after event {night4_seq}: the alert wall =="
            ));
            told.line("");
            let mut out = Vec::new();
            StateView::new(then, &catalog).alerts_text(&mut out);
            told.blocks(&out);
            told.line("== Night 4: where the watermark stood and why ==");
            told.line("");
            if let Some(explanation) =
                explain::watermark(then, &script.connector, &people, &catalog)
            {
                let mut out = Vec::new();
                explanation.chain(&mut out);
                told.blocks(&out);
            }
            told.line("");
        }
    }
    let written = SledStore::open(&folder)
        .map_err(LogError::from)
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
    print!("{}", told.0);
    let state = player.state();
    let view = StateView::new(state, &catalog);
    println!("== The end of the week ==\n");
    let mut out = Vec::new();
    view.runs_text(&mut out);
    out.push(Block::Line(Escaped::default()));
    view.partitions_text(&mut out);
    out.push(Block::Line(Escaped::default()));
    view.alerts_text(&mut out);
    if let Some(explanation) = explain::watermark(state, &script.connector, &people, &catalog) {
        explanation.chain(&mut out);
    }
    print_blocks(&out);
    println!();
    say!(
        "The week is in the sled log at {}: {}, {}; verified {} (checksums, hash chain, rules).",
        folder.display(),
        syncfold::text::counted(report.records as usize, "event", "events"),
        syncfold::text::counted(state.runs().len(), "run", "runs"),
        syncfold::text::counted(report.records as usize, "record", "records"),
    );
    let log = folder.display();
    let end_of = |run: u64| {
        state
            .run(RunId(run))
            .and_then(|run| run.ended.as_ref())
            .map_or(0, |end| end.seq)
    };
    let night7 = end_of(8);
    println!();
    println!("Try next on this log:");
    let last = report.records;
    for command in [
        format!("runs --log {log}"),
        format!("events --log {log} --run 4"),
        format!("events --log {log} --anchor uid=user17,ou=people"),
        format!("state --log {log} --at {night4_seq}"),
        format!("explain watermark --log {log} --partition people --at {night4_seq}"),
        format!("explain obsoletion --log {log} --partition people --at {night7}"),
        format!("diff --log {log} --from {night7} --to {last}"),
        format!("alerts --log {log}"),
        format!("report --log {log} --out {log}-report.html"),
        format!("verify --log {log}"),
    ] {
        say!("  syncfold {command}");
    }
    ExitCode::SUCCESS
}
