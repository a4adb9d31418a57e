//! The reading commands a postmortem needs: `runs`, `events`, `diff`, `alerts`, `explain`,
//! `verify`. Each opens an existing log, reads it through the verified replay, builds the view
//! from the library (`syncfold::views`) and prints it as JSON for programs or as its text for
//! people; the views' text is escaped where it is made (see `syncfold::text`), and `say!` and
//! `fail` escape the command's own messages.

use super::location::LogAt;
use super::{catalog, fail, json_text, open_existing, print_blocks, print_json, print_text, USAGE};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::log::{
    open_for_reading, read_head_note, replay, state_at, verify_with_progress, HeadNote, LogError,
    PgOpen, PgStore, RecordStore,
};
use syncfold::views::explain::{self, Explanation};
use syncfold::views::filter::{self, EventFilter, FilterError, Point, RunFilter};
use syncfold::views::{self, AlertView, Block, DiffView, EventView, RunView, VerifyView};

/// `state --at SEQ`, or the current state.
pub(super) fn state_of(folder: &LogAt, at: Option<Seq>) -> Result<State, ExitCode> {
    let log = open_existing(folder)?;
    match at {
        None => Ok(log.state().clone()),
        Some(seq) => state_at(log.store(), seq).map_err(|error| super::fail_log(folder, error)),
    }
}

/// Fails with status 2 for a filter value the log or the vocabulary does not know.
fn fail_filter(error: FilterError) -> ExitCode {
    fail(USAGE, error)
}

pub(super) fn runs(folder: &LogAt, filter: &RunFilter, at: Option<Seq>, json: bool) -> ExitCode {
    let state = match state_of(folder, at) {
        Ok(state) => state,
        Err(code) => return code,
    };
    if let Err(error) = filter.check(&state) {
        return fail_filter(error);
    }
    let runs: Vec<RunView> = filter
        .apply(state.runs())
        .into_iter()
        .map(RunView::new)
        .collect();
    if json {
        for run in &runs {
            print_json(run);
        }
    } else if runs.is_empty() {
        let narrowed = !filter.statuses.is_empty()
            || filter.connector.is_some()
            || filter.partition.is_some()
            || filter.last.is_some();
        say!(
            "No runs{} in {}{}.",
            if narrowed { " match" } else { "" },
            folder.display(),
            at.map_or_else(String::new, |seq| match seq {
                0 => " before any event".to_owned(),
                seq => format!(" as it was just after event {seq}"),
            })
        );
    } else {
        if let Some(seq) = at {
            println!("{}\n", super::as_it_was(seq));
        }
        print_blocks(&[Block::Table(views::runs_table(&runs))]);
    }
    ExitCode::SUCCESS
}

pub(super) fn events(
    folder: &LogAt,
    filter: &EventFilter,
    from: Option<Seq>,
    to: Option<Seq>,
    json: bool,
) -> ExitCode {
    let log = match open_existing(folder) {
        Ok(log) => log,
        Err(code) => return code,
    };
    if let Err(error) = filter.check(log.state()) {
        return fail_filter(error);
    }
    // As `state --at`: asking past the end is an input error, not an empty answer.
    let last = log.state().last_seq();
    let since = match filter.since {
        Some(Point::Seq(seq)) => Some(seq),
        _ => None,
    };
    if let Some(seq) = from.or(since).filter(|seq| *seq > last.max(1)) {
        return super::fail_log(folder, LogError::Beyond { seq, last });
    }
    let start = from.unwrap_or(1).max(since.unwrap_or(1)).max(1);
    let mut shown = Vec::new();
    let mut kept = 0u64;
    let mut out = std::io::stdout().lock();
    let result = replay(log.store(), start, to, &mut |seq, envelope, state| {
        if !filter.keeps(seq, envelope, state) {
            return ControlFlow::Continue(());
        }
        kept += 1;
        let view = EventView::new(seq, envelope);
        if json {
            use std::io::Write;
            // A write that fails ends the command as `println!` would (see main.rs): a closed
            // pipe quietly, a full disk with a sentence; never a silently short output.
            if let Err(error) = writeln!(out, "{}", json_text(&view)) {
                panic!("failed printing to stdout: {error}");
            }
        } else {
            shown.push(view);
        }
        ControlFlow::Continue(())
    });
    drop(out);
    if let Err(error) = result {
        return super::fail_log(folder, error);
    }
    // An object no event of the log names is a misspelt anchor, not an object without history.
    if let (0, Some(anchor)) = (kept, &filter.anchor) {
        let mut named = false;
        let search = replay(log.store(), 1, None, &mut |_, envelope, _| {
            if filter::concerns_anchor(&envelope.event, anchor) {
                named = true;
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if let Err(error) = search {
            return super::fail_log(folder, error);
        }
        if !named {
            return fail(
                USAGE,
                format!(
                    "no event of {} names the object `{anchor}`; `syncfold state --log {} --partition P` lists a partition's objects",
                    folder.display(),
                    folder.display()
                ),
            );
        }
    }
    if !json {
        if shown.is_empty() {
            say!("No events match in {}.", folder.display());
        } else {
            print_blocks(&[Block::Table(views::events_table(&shown))]);
        }
    }
    ExitCode::SUCCESS
}

pub(super) fn alerts(
    folder: &LogAt,
    recipient: Option<&str>,
    at: Option<Seq>,
    json: bool,
    remedies: Option<&Path>,
) -> ExitCode {
    let catalog = match catalog(remedies) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let state = match state_of(folder, at) {
        Ok(state) => state,
        Err(code) => return code,
    };
    let alerts: Vec<AlertView> = state
        .alerts()
        .iter()
        .map(|alert| AlertView::new(alert, &catalog))
        .filter(|alert| recipient.is_none_or(|wanted| alert.recipient == wanted))
        .collect();
    if json {
        for alert in &alerts {
            print_json(alert);
        }
    } else {
        if let Some(seq) = at {
            println!("{}\n", super::as_it_was(seq));
        }
        let mut out = Vec::new();
        views::alerts_text(&alerts, recipient, &mut out);
        print_blocks(&out);
    }
    ExitCode::SUCCESS
}

pub(super) fn diff(
    folder: &LogAt,
    from: Seq,
    to: Seq,
    json: bool,
    remedies: Option<&Path>,
) -> ExitCode {
    let catalog = match catalog(remedies) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    if from > to {
        return fail(
            USAGE,
            format!("--from {from} is after --to {to}: give the earlier event first"),
        );
    }
    let log = match open_existing(folder) {
        Ok(log) => log,
        Err(code) => return code,
    };
    let (before, after) = match (state_at(log.store(), from), state_at(log.store(), to)) {
        (Ok(before), Ok(after)) => (before, after),
        (Err(error), _) | (_, Err(error)) => return super::fail_log(folder, error),
    };
    let diff = DiffView::between(&before, &after, from, to, &catalog);
    if json {
        print_json(&diff);
    } else {
        print_text(&diff);
    }
    ExitCode::SUCCESS
}

/// Which partition to explain: `--connector` when the log has several.
fn choose_connector(state: &State, wanted: Option<&str>) -> Result<ConnectorName, ExitCode> {
    if let Some(wanted) = wanted {
        return Ok(ConnectorName::from(wanted));
    }
    let names: Vec<&ConnectorName> = state.connectors().map(|(name, _)| name).collect();
    match names.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(fail(
            USAGE,
            "the log has no connector yet: nothing to explain",
        )),
        many => Err(fail(
            USAGE,
            format!(
                "the log has several connectors ({}): name one with --connector",
                many.iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

pub(super) fn explain(
    folder: &LogAt,
    what: &str,
    partition: &str,
    connector: Option<&str>,
    at: Option<Seq>,
    json: bool,
    remedies: Option<&Path>,
) -> ExitCode {
    let catalog = match catalog(remedies) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let log = match open_existing(folder) {
        Ok(log) => log,
        Err(code) => return code,
    };
    let state = match at {
        None => log.state().clone(),
        Some(seq) => match state_at(log.store(), seq) {
            Ok(state) => state,
            Err(error) => return super::fail_log(folder, error),
        },
    };
    let connector = match choose_connector(&state, connector) {
        Ok(connector) => connector,
        Err(code) => return code,
    };
    let partition = PartitionName::from(partition);
    let explanation = match what {
        "watermark" => {
            explain::watermark(&state, &connector, &partition, &catalog).map(Explanation::Watermark)
        }
        "health" => {
            explain::health(&state, &connector, &partition, &catalog).map(Explanation::Health)
        }
        _ => match explain::obsoletion(log.store(), &state, &connector, &partition, &catalog) {
            Ok(explanation) => explanation.map(Explanation::Obsoletion),
            Err(error) => return super::fail_log(folder, error),
        },
    };
    let Some(explanation) = explanation else {
        let known: Vec<String> = state
            .connectors()
            .flat_map(|(_, c)| c.partitions().map(|(name, _)| name.to_string()))
            .collect();
        return fail(
            USAGE,
            format!(
                "no partition {partition} on {connector}; the log knows: {}",
                known.join(", ")
            ),
        );
    };
    if json {
        print_json(&explanation);
    } else {
        print_text(&explanation);
    }
    ExitCode::SUCCESS
}

/// The first bad record and the last good one that `error` names, where it names them.
fn damage_extent(error: &LogError) -> (Option<Seq>, Option<Seq>) {
    match error {
        LogError::Corrupt {
            seq, valid_up_to, ..
        } => (Some(*seq), Some(*valid_up_to)),
        LogError::NewerFormat { seq, .. } => (Some(*seq), Some(seq.saturating_sub(1))),
        LogError::Rule(violation) => (Some(violation.seq), Some(violation.seq.saturating_sub(1))),
        LogError::MissingAcknowledged { from, .. } => (Some(*from), Some(from.saturating_sub(1))),
        _ => (None, None),
    }
}

/// What is wrong with either copy of the head note, for `verify` to say.
fn read_head_copies(folder: &std::path::Path) -> Vec<String> {
    syncfold::log::head_copy_problems(folder).unwrap_or_else(|error| vec![error.to_string()])
}

/// A store to verify, the process that holds it (sled), and what is wrong with the head note's
/// copies (sled).
type VerifyTarget = (Box<dyn RecordStore>, Option<u32>, Vec<String>);

pub(super) fn verify_log(folder: &LogAt, json: bool) -> ExitCode {
    let refuse = |status: u8, error: String, acknowledged: Option<Seq>, head: String| {
        if json {
            print_json(&VerifyView::Refused {
                ok: false,
                status,
                error: error.clone(),
                acknowledged,
                head,
                first_bad_seq: None,
                valid_up_to: None,
            });
        }
        fail(status, error)
    };
    if !super::is_log_folder(folder) {
        return refuse(
            USAGE,
            format!("no syncfold log at {}: nothing to verify", folder.display()),
            None,
            "absent".to_owned(),
        );
    }
    let describe = |note: Result<HeadNote, String>| match note {
        Ok(HeadNote::At(head)) => (
            Some(head.seq),
            format!("the head note acknowledges records 1 to {}", head.seq),
        ),
        Ok(HeadNote::Absent) => (None, "there is no head note".to_owned()),
        Ok(HeadNote::Lost { why }) => (None, format!("the head note is lost ({why})")),
        Err(error) => (None, format!("the head note could not be read ({error})")),
    };
    let opened: Result<VerifyTarget, LogError>;
    let (acknowledged, head);
    match folder {
        LogAt::Folder(path) => {
            // The head note is read apart from the store, so the acknowledged extent is named
            // even when the store cannot be opened at all.
            (acknowledged, head) = describe(read_head_note(path).map_err(|e| e.to_string()));
            // A damaged or stale copy of the note loses nothing while the other is current, but
            // the redundancy is gone until the next writer's flush: said, not failed.
            let copies = read_head_copies(path);
            opened = open_for_reading(path)
                .map(|store| {
                    let holder = store.holder();
                    (Box::new(store) as Box<dyn RecordStore>, holder, copies)
                })
                .map_err(LogError::from);
        }
        LogAt::Invalid(why) => return fail(USAGE, format!("--log: {why}")),
        LogAt::Pg(url) => {
            let store = PgStore::open_read_only(url, PgOpen::default());
            let note = match &store {
                Ok(store) => store.read_head().map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            (acknowledged, head) = describe(note);
            opened = store
                .map(|store| (Box::new(store) as Box<dyn RecordStore>, None, Vec::new()))
                .map_err(LogError::from);
        }
    }
    let (store, holder, copies) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            return refuse(
                super::exit_status(&error),
                format!("{}: {error}; {head}", folder.display()),
                acknowledged,
                head,
            );
        }
    };
    let records = store.last_seq().unwrap_or(0);
    let progress = super::Progress::start("verifying", records);
    let result = verify_with_progress(&*store, &mut |done, total| progress.tick(done, total));
    progress.finish();
    match result {
        Ok(report) => {
            let view =
                VerifyView::verified(&folder.display().to_string(), &report, head, copies, holder);
            if json {
                print_json(&view);
            } else {
                print_text(&view);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            let code = super::exit_status(&error);
            let (first_bad, valid_up_to) = damage_extent(&error);
            let text = super::log_message(folder, &error);
            // A lost note says so itself; other failures are told where the note stands.
            let message = if matches!(error, LogError::HeadLost { .. }) {
                format!("{}: {text}", folder.display())
            } else {
                format!("{}: {text}; {head}", folder.display())
            };
            if json {
                print_json(&VerifyView::Refused {
                    ok: false,
                    status: code,
                    error: message.clone(),
                    acknowledged,
                    head,
                    first_bad_seq: first_bad,
                    valid_up_to,
                });
            }
            fail(code, message)
        }
    }
}
