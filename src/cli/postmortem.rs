//! The reading commands a postmortem needs: `runs`, `events`, `diff`, `alerts`, `explain`,
//! `verify`. Each opens an existing log, reads it through the verified replay, and prints a table
//! for people or JSON for programs. Text for people goes out through `print_table`, `say!` and
//! `fail`, which escape what the log's writers supplied (see `syncfold::text`).

use super::{catalog, fail, open_existing, print_runs, print_table, USAGE};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::log::{
    open_for_reading, read_head_note, replay, state_at, verify_with_progress, HeadNote, LogError,
    RecordStore,
};
use syncfold::remedy::RemedyCatalog;
use syncfold::views;

/// `state --at SEQ`, or the current state.
pub(super) fn state_of(folder: &Path, at: Option<Seq>) -> Result<State, ExitCode> {
    let log = open_existing(folder)?;
    match at {
        None => Ok(log.state().clone()),
        Some(seq) => state_at(log.store(), seq).map_err(|error| super::fail_log(folder, error)),
    }
}

pub(super) fn runs(folder: &Path, json: bool) -> ExitCode {
    let state = match state_of(folder, None) {
        Ok(state) => state,
        Err(code) => return code,
    };
    if json {
        for run in state.runs() {
            println!("{}", views::run_json(run));
        }
    } else if state.runs().is_empty() {
        say!("No runs in {}.", folder.display());
    } else {
        print_runs(&state);
    }
    ExitCode::SUCCESS
}

pub(super) fn events(
    folder: &Path,
    run: Option<u64>,
    from: Option<Seq>,
    to: Option<Seq>,
    json: bool,
) -> ExitCode {
    let log = match open_existing(folder) {
        Ok(log) => log,
        Err(code) => return code,
    };
    // As `state --at`: asking past the end is an input error, not an empty answer.
    let last = log.state().last_seq();
    if let Some(seq) = from.filter(|seq| *seq > last.max(1)) {
        return super::fail_log(folder, LogError::Beyond { seq, last });
    }
    let mut rows = Vec::new();
    let mut out = std::io::stdout().lock();
    let result = replay(
        log.store(),
        from.unwrap_or(1).max(1),
        to,
        &mut |seq, envelope, _| {
            if run.is_some_and(|run| envelope.event.run() != Some(RunId(run))) {
                return ControlFlow::Continue(());
            }
            if json {
                use std::io::Write;
                // A write that fails ends the command as `println!` would (see main.rs): a closed
                // pipe quietly, a full disk with a sentence; never a silently short output.
                if let Err(error) = writeln!(out, "{}", views::event_json(seq, envelope)) {
                    panic!("failed printing to stdout: {error}");
                }
            } else {
                rows.push(vec![
                    seq.to_string(),
                    envelope
                        .event
                        .run()
                        .map_or("-".to_owned(), |run| run.to_string()),
                    envelope.event.type_name().to_owned(),
                    views::event_summary(&envelope.event),
                ]);
            }
            ControlFlow::Continue(())
        },
    );
    if let Err(error) = result {
        return super::fail_log(folder, error);
    }
    if !json {
        print_table(&["SEQ", "RUN", "TYPE", "WHAT"], &rows, None);
    }
    ExitCode::SUCCESS
}

pub(super) fn alerts(
    folder: &Path,
    recipient: Option<&str>,
    json: bool,
    remedies: Option<&Path>,
) -> ExitCode {
    let catalog = match catalog(remedies) {
        Ok(catalog) => catalog,
        Err(code) => return code,
    };
    let state = match state_of(folder, None) {
        Ok(state) => state,
        Err(code) => return code,
    };
    let alerts: Vec<Alert> = state
        .alerts()
        .into_iter()
        .filter(|alert| recipient.is_none_or(|wanted| alert.recipient.as_str() == wanted))
        .collect();
    if json {
        for alert in &alerts {
            println!("{}", views::alert_json(alert, &catalog));
        }
        return ExitCode::SUCCESS;
    }
    if alerts.is_empty() {
        say!(
            "No open alerts{}.",
            recipient.map_or(String::new(), |r| format!(" for {r}"))
        );
        return ExitCode::SUCCESS;
    }
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|alert| {
            vec![
                alert.severity.as_str().to_owned(),
                alert.scope.class().to_owned(),
                alert.code.clone(),
                alert.recipient.as_str().to_owned(),
                alert
                    .partition
                    .as_ref()
                    .map_or("-".to_owned(), |p| p.to_string()),
                alert
                    .anchor
                    .as_ref()
                    .map_or("-".to_owned(), |a| a.to_string()),
                format!("{}–{}", alert.first.seq, alert.last.seq),
            ]
        })
        .collect();
    print_table(
        &[
            "SEVERITY",
            "CLASS",
            "CODE",
            "RECIPIENT",
            "PARTITION",
            "OBJECT",
            "EVENTS",
        ],
        &rows,
        None,
    );
    for alert in alerts.iter().filter(|a| a.severity != Severity::Info) {
        let remedy = catalog
            .lookup(alert)
            .map_or("(no remedy in the catalog)", |r| r.remedy.as_str());
        println!();
        say!(
            "{} {}: {}",
            alert.severity.as_str(),
            alert.code,
            alert.message
        );
        say!("  remedy: {remedy}");
    }
    ExitCode::SUCCESS
}

/// What changed between two points of a log.
fn diff_json(before: &State, after: &State, from: Seq, to: Seq, catalog: &RemedyCatalog) -> Value {
    let mut partitions = Vec::new();
    let mut names: BTreeSet<(ConnectorName, PartitionName)> = BTreeSet::new();
    for state in [before, after] {
        for (connector, connector_state) in state.connectors() {
            for (name, _) in connector_state.partitions() {
                names.insert((connector.clone(), name.clone()));
            }
        }
    }
    let empty = PartitionState::default();
    for (connector, name) in &names {
        let old = before.partition(connector, name).unwrap_or(&empty);
        let new = after.partition(connector, name).unwrap_or(&empty);
        let mut added = Vec::new();
        let mut obsoleted = Vec::new();
        let mut revived = Vec::new();
        let mut changed = Vec::new();
        for (anchor, object) in new.objects() {
            match old.objects().get(anchor) {
                None => added.push(anchor.as_str()),
                Some(previous) if !previous.obsolete && object.obsolete => {
                    obsoleted.push(anchor.as_str())
                }
                Some(previous) if previous.obsolete && !object.obsolete => {
                    revived.push(anchor.as_str())
                }
                Some(previous) if previous.attributes != object.attributes => {
                    changed.push(anchor.as_str())
                }
                Some(_) => {}
            }
        }
        let pending = |part: &PartitionState| -> BTreeMap<String, String> {
            part.exports()
                .in_order()
                .map(|e| (e.change.anchor.0.clone(), e.change.kind.as_str().to_owned()))
                .collect()
        };
        let (old_pending, new_pending) = (pending(old), pending(new));
        let queued: Vec<String> = new_pending
            .iter()
            .filter(|(anchor, kind)| old_pending.get(*anchor) != Some(kind))
            .map(|(anchor, kind)| format!("{anchor}={kind}"))
            .collect();
        let done: Vec<&String> = old_pending
            .keys()
            .filter(|anchor| !new_pending.contains_key(*anchor))
            .collect();
        let health = (
            before.health(connector, name),
            after.health(connector, name),
        );
        let entry = json!({
            "connector": connector.as_str(),
            "partition": name.as_str(),
            "committed_watermark": {
                "before": old.committed_watermark().map(Watermark::display_text),
                "after": new.committed_watermark().map(Watermark::display_text),
            },
            "full_import_required": { "before": old.full_import_required().is_some(), "after": new.full_import_required().is_some() },
            "health": { "before": health.0.as_str(), "after": health.1.as_str() },
            "objects": { "added": added, "obsoleted": obsoleted, "revived": revived, "changed": changed },
            "pending_exports": { "queued_or_changed": queued, "done": done },
        });
        partitions.push(entry);
    }
    let key = |alert: &Alert| {
        (
            alert.connector.clone(),
            alert.scope,
            alert.code.clone(),
            alert.partition.clone(),
            alert.anchor.clone(),
            alert.recipient,
            alert.severity,
        )
    };
    let old_alerts: BTreeMap<_, Alert> =
        before.alerts().into_iter().map(|a| (key(&a), a)).collect();
    let new_alerts: BTreeMap<_, Alert> = after.alerts().into_iter().map(|a| (key(&a), a)).collect();
    let opened: Vec<Value> = new_alerts
        .iter()
        .filter(|(k, a)| !old_alerts.contains_key(*k) && a.severity != Severity::Info)
        .map(|(_, a)| views::alert_json(a, catalog))
        .collect();
    let closed: Vec<Value> = old_alerts
        .iter()
        .filter(|(k, a)| !new_alerts.contains_key(*k) && a.severity != Severity::Info)
        .map(|(_, a)| views::alert_json(a, catalog))
        .collect();
    let runs: Vec<Value> = after
        .runs()
        .iter()
        .filter(|run| {
            run.ended
                .as_ref()
                .is_some_and(|end| end.seq > from && end.seq <= to)
        })
        .map(views::run_json)
        .collect();
    json!({ "from": from, "to": to, "runs_ended": runs, "partitions": partitions, "alerts": { "opened": opened, "closed": closed } })
}

pub(super) fn diff(folder: &Path, from: Seq, to: Seq, json: bool) -> ExitCode {
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
    let catalog = RemedyCatalog::builtin();
    let diff = diff_json(&before, &after, from, to, &catalog);
    if json {
        println!("{diff}");
        return ExitCode::SUCCESS;
    }
    println!("From event {from} to event {to}:");
    for run in diff["runs_ended"].as_array().into_iter().flatten() {
        say!(
            "  run {} {} {} ended {} (committed {})",
            run["id"],
            run["partition"].as_str().unwrap_or("-"),
            run["kind"].as_str().unwrap_or("-"),
            run["status"].as_str().unwrap_or("-"),
            run["committed_watermark"].as_str().unwrap_or("none")
        );
    }
    for part in diff["partitions"].as_array().into_iter().flatten() {
        let name = format!(
            "{}/{}",
            part["connector"].as_str().unwrap_or("-"),
            part["partition"].as_str().unwrap_or("-")
        );
        let mut said = false;
        let mut change = |line: String| {
            say!("  {name}: {line}");
            said = true;
        };
        let w = &part["committed_watermark"];
        if w["before"] != w["after"] {
            change(format!(
                "watermark {} -> {}",
                w["before"].as_str().unwrap_or("none"),
                w["after"].as_str().unwrap_or("none")
            ));
        }
        for (what, field) in [
            ("health", "health"),
            ("full import required", "full_import_required"),
        ] {
            if part[field]["before"] != part[field]["after"] {
                change(format!(
                    "{what} {} -> {}",
                    part[field]["before"], part[field]["after"]
                ));
            }
        }
        for kind in ["added", "obsoleted", "revived", "changed"] {
            let list: Vec<&str> = part["objects"][kind]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !list.is_empty() {
                change(format!(
                    "{} object(s) {kind}: {}",
                    list.len(),
                    abbreviate(&list)
                ));
            }
        }
        for (kind, label) in [
            ("queued_or_changed", "exports queued or changed"),
            ("done", "exports done"),
        ] {
            let list: Vec<&str> = part["pending_exports"][kind]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !list.is_empty() {
                change(format!("{label}: {}", abbreviate(&list)));
            }
        }
        if !said {
            say!("  {name}: no change");
        }
    }
    for (label, key) in [("opened", "opened"), ("closed", "closed")] {
        for alert in diff["alerts"][key].as_array().into_iter().flatten() {
            say!(
                "  alert {label}: {} {} {}{}",
                alert["severity"].as_str().unwrap_or("-"),
                alert["code"].as_str().unwrap_or("-"),
                alert["partition"].as_str().unwrap_or(""),
                alert["anchor"]
                    .as_str()
                    .map_or(String::new(), |a| format!(" {a}"))
            );
        }
    }
    ExitCode::SUCCESS
}

fn abbreviate(list: &[&str]) -> String {
    if list.len() <= 8 {
        list.join(", ")
    } else {
        format!("{}, and {} more", list[..8].join(", "), list.len() - 8)
    }
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
    folder: &Path,
    what: &str,
    partition: &str,
    connector: Option<&str>,
    at: Option<Seq>,
    json: bool,
) -> ExitCode {
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
    let catalog = RemedyCatalog::builtin();
    let explanation = match what {
        "watermark" => syncfold::explain::watermark(&state, &connector, &partition, &catalog),
        "health" => syncfold::explain::health(&state, &connector, &partition, &catalog),
        _ => {
            let last = state.runs().iter().rev().find(|run| {
                run.partition == partition
                    && run.connector == connector
                    && run.kind == RunKind::FullImport
            });
            let mut events = Vec::new();
            if let Some(run) = last {
                let id = run.id;
                let until = run.ended.as_ref().map(|end| end.seq);
                let read = replay(
                    log.store(),
                    run.started.seq,
                    until,
                    &mut |seq, envelope, _| {
                        if envelope.event.run() == Some(id) {
                            events.push((seq, envelope.clone()));
                        }
                        ControlFlow::Continue(())
                    },
                );
                if let Err(error) = read {
                    return super::fail_log(folder, error);
                }
            }
            syncfold::explain::obsoletion(&state, &connector, &partition, &events, &catalog)
        }
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
        println!("{}", explanation.json);
    } else {
        for line in &explanation.lines {
            say!("{line}");
        }
        if let Some(remedy) = &explanation.remedy {
            println!();
            say!("Remedy: {remedy}");
        }
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
fn read_head_copies(folder: &Path) -> Vec<String> {
    syncfold::log::head_copy_problems(folder).unwrap_or_else(|error| vec![error.to_string()])
}

pub(super) fn verify_log(folder: &Path, json: bool) -> ExitCode {
    let refuse = |code: u8, message: String, acknowledged: Option<Seq>, head: String| {
        if json {
            println!(
                "{}",
                json!({ "ok": false, "status": code, "error": message, "acknowledged": acknowledged, "head": head, "first_bad_seq": null, "valid_up_to": null })
            );
        }
        fail(code, message)
    };
    if !super::is_log_folder(folder) {
        return refuse(
            USAGE,
            format!("no syncfold log at {}: nothing to verify", folder.display()),
            None,
            "absent".to_owned(),
        );
    }
    // The head note is read apart from the store, so the acknowledged extent is named even when
    // the store cannot be opened at all.
    let (acknowledged, head) = match read_head_note(folder) {
        Ok(HeadNote::At(head)) => (
            Some(head.seq),
            format!("the head note acknowledges records 1 to {}", head.seq),
        ),
        Ok(HeadNote::Absent) => (None, "there is no head note".to_owned()),
        Ok(HeadNote::Lost { why }) => (None, format!("the head note is lost ({why})")),
        Err(error) => (None, format!("the head note could not be read ({error})")),
    };
    // A damaged or stale copy of the note loses nothing while the other is current, but the
    // redundancy is gone until the next writer's flush: said, not failed.
    let copies = read_head_copies(folder);
    let store = match open_for_reading(folder) {
        Ok(store) => store,
        Err(error) => {
            let error = LogError::from(error);
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
    let result = verify_with_progress(&store, &mut |done, total| progress.tick(done, total));
    progress.finish();
    match result {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    json!({
                        "ok": true,
                        "status": 0,
                        "records": report.records,
                        "acknowledged": report.acknowledged,
                        "head": head,
                        "head_copies": copies,
                        "torn_tail": report.torn_tail,
                        "served_by": store.holder(),
                        "snapshots_valid": report.snapshots_valid,
                        "snapshots_invalid": report.snapshots_invalid.iter().map(|(seq, why)| json!({"seq": seq, "reason": why})).collect::<Vec<_>>(),
                        "state_hash": report.state_hash.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    })
                );
            } else {
                say!(
                    "{}: {} records verified (checksums, format, hash chain, rules); {} acknowledged as durable.",
                    folder.display(),
                    report.records,
                    report.acknowledged
                );
                if let Some(pid) = store.holder() {
                    say!("Read through process {pid}, which holds the log: its acknowledged records only.");
                }
                for problem in &copies {
                    say!("Warning: {problem}; the other copy of the head note names the extent, and the next writer's flush rewrites both.");
                }
                if let Some(torn) = report.torn_tail {
                    say!("Record {torn} is a write cut short by a crash and was never acknowledged: the log is a valid prefix; the next writer discards that record and records that it did.");
                }
                for (seq, why) in &report.snapshots_invalid {
                    say!("Snapshot after record {seq} is not trusted ({why}); it is skipped when the log is opened.");
                }
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
                println!(
                    "{}",
                    json!({ "ok": false, "status": code, "error": message, "acknowledged": acknowledged, "head": head, "first_bad_seq": first_bad, "valid_up_to": valid_up_to })
                );
            }
            fail(code, message)
        }
    }
}
