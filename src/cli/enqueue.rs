//! `syncfold enqueue`: queues export changes read from a JSON-lines file (SPEC §9) on one
//! partition of a log, all or none: the file is validated whole before the first event is
//! appended, and the events are made durable before the command says they are queued.

use super::location::LogAt;
use super::{fail, fail_log, is_log_folder, USAGE};
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use syncfold::core::*;
use syncfold::engine::system_clock;
use syncfold::log::{Log, LogOptions};
use syncfold::scenario::enqueue::parse_export_changes;
use syncfold::scenario::SCENARIO_BYTES_MAX;

/// Queues the changes of `file` on `connector`/`partition` of the log at `folder`.
pub(super) fn enqueue(
    folder: &LogAt,
    wait: bool,
    connector: &str,
    partition: &str,
    file: &Path,
    actor: String,
) -> ExitCode {
    let name = file.display().to_string();
    let mut text = String::new();
    let read = std::fs::File::open(file).and_then(|f| {
        f.take(SCENARIO_BYTES_MAX as u64 + 1)
            .read_to_string(&mut text)
    });
    match read {
        Err(error) => {
            return fail(
                USAGE,
                format!("{name}: cannot read the changes file: {error}"),
            )
        }
        Ok(size) if size > SCENARIO_BYTES_MAX => {
            return fail(
                USAGE,
                format!(
                    "{name}: larger than {SCENARIO_BYTES_MAX} bytes; split it into several files"
                ),
            )
        }
        Ok(_) => {}
    }
    let changes = match parse_export_changes(&name, &text) {
        Ok(changes) => changes,
        Err(error) => return fail(USAGE, error),
    };
    if changes.is_empty() {
        return fail(
            USAGE,
            format!("{name}: no change to queue (one JSON object per line, e.g. {{\"anchor\": \"u1\", \"change\": \"update\", \"attrs\": {{\"title\": \"lead\"}}}})"),
        );
    }
    if !is_log_folder(folder) {
        return fail(
            USAGE,
            format!(
                "no syncfold log at {}: changes are queued on a log that a run wrote (`syncfold run --config FILE --log {} …`)",
                folder.display(),
                folder.display()
            ),
        );
    }
    let opened = super::open_store(folder, wait)
        .and_then(|store| Log::open(store, LogOptions::default(), system_clock()));
    let mut log = match opened {
        Ok((log, _)) => log,
        Err(error) => return fail_log(folder, error),
    };
    let connector = ConnectorName::from(connector);
    let partition = PartitionName::from(partition);
    if log.state().partition(&connector, &partition).is_none() {
        let known: Vec<String> = log
            .state()
            .connectors()
            .flat_map(|(c, state)| state.partitions().map(move |(p, _)| format!("{c}/{p}")))
            .collect();
        return fail(
            USAGE,
            format!(
                "{} has no partition {connector}/{partition} (it has: {}); run an import of it first, or name one of those with --connector and --partition",
                folder.display(),
                if known.is_empty() { "none yet".to_owned() } else { known.join(", ") }
            ),
        );
    }
    let actor = Actor::from_name(&actor);
    let first = log.state().last_seq() + 1;
    for change in &changes {
        let command = Command::QueueExport {
            connector: connector.clone(),
            partition: partition.clone(),
            change: change.clone(),
        };
        if let Err(error) = log.execute(command, system_clock(), &actor) {
            return fail_log(folder, error);
        }
    }
    if let Err(error) = log.flush() {
        return fail_log(folder, error);
    }
    let last = log.state().last_seq();
    let pending = log
        .state()
        .partition(&connector, &partition)
        .map_or(0, |p| p.exports().in_order().count());
    say!(
        "Queued {} for export on {connector}/{partition} (events {first} to {last}, durable); {} now pending: the next export run sends them.",
        syncfold::text::counted(changes.len(), "change", "changes"),
        syncfold::text::counted(pending, "change", "changes"),
    );
    ExitCode::SUCCESS
}
