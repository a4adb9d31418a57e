//! `syncfold copy --from LOG --to LOG`: moves a log between stores (a sled folder, a PostgreSQL
//! log) record by record, so an operator can start on sled and move. The source is verified
//! whole first (checksums, chain, rules); each record is checked again as it is copied, byte for
//! byte, chain included; the copy's head note acknowledges exactly what was copied; and the copy
//! is verified and must fold to the same state hash. The destination must be a new or empty log:
//! a copy never appends to, or mixes with, another history.

use super::location::LogAt;
use super::{class_status, fail, fail_log, open_existing, open_store, USAGE};
use std::ops::ControlFlow;
use std::process::ExitCode;
use syncfold::log::{record, verify, Head, LogError, RecordStore, GENESIS};

fn hex(hash: &[u8]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Copies the log at `from` into the new log at `to`.
pub(super) fn copy(from: &LogAt, to: &LogAt) -> ExitCode {
    let source = match open_existing(from) {
        Ok(source) => source,
        Err(code) => return code,
    };
    let checked = match verify(source.store()) {
        Ok(report) => report,
        Err(error) => {
            return fail(
                class_status(error.class()),
                format!(
                    "{from}: {error}; the log was not copied (`syncfold verify --log {from}` says more)"
                ),
            )
        }
    };
    // A torn last record was never acknowledged: it is not part of the history to move.
    let last = match checked.torn_tail {
        Some(torn) => torn.saturating_sub(1),
        None => checked.records,
    };
    let mut destination = match open_store(to, false) {
        Ok(store) => store,
        Err(error) => return fail_log(to, error),
    };
    match destination.last_seq() {
        Ok(0) => {}
        Ok(held) => {
            return fail(
                USAGE,
                format!(
                    "{to} already holds a log ({held} records): copy into a new log (a new folder, or another log= name)"
                ),
            )
        }
        Err(error) => return fail_log(to, error.into()),
    }
    let mut previous = GENESIS;
    let mut copied = 0;
    let mut damaged: Option<String> = None;
    let mut unwritable: Option<LogError> = None;
    let scanned = source.store().scan(1, &mut |seq, bytes| {
        if seq > last {
            return ControlFlow::Break(());
        }
        match record::check(bytes, seq, &previous) {
            Ok(record) => previous = record.hash,
            Err(error) => {
                damaged = Some(format!("record {seq}: {error}"));
                return ControlFlow::Break(());
            }
        }
        if let Err(error) = destination.append(seq, bytes) {
            unwritable = Some(error.into());
            return ControlFlow::Break(());
        }
        copied = seq;
        ControlFlow::Continue(())
    });
    if let Err(error) = scanned {
        return fail_log(from, error.into());
    }
    if let Some(error) = unwritable {
        return fail_log(to, error);
    }
    if let Some(what) = damaged {
        // The whole log verified a moment ago: a record that fails now changed under us.
        return fail(
            class_status(syncfold::log::ErrorClass::Damage),
            format!("{from}: {what}, while copying (it verified a moment before: is something else writing it?); the copy at {to} is incomplete: remove it"),
        );
    }
    if copied != last {
        return fail(
            class_status(syncfold::log::ErrorClass::Damage),
            format!(
                "{from}: record {} could not be read while copying; nothing more was copied",
                copied + 1
            ),
        );
    }
    let head = Head {
        seq: copied,
        hash: previous,
    };
    if let Err(error) = destination
        .flush()
        .and_then(|()| destination.write_head(&head))
    {
        return fail_log(to, error.into());
    }
    drop(destination);
    let copy = match open_existing(to) {
        Ok(copy) => copy,
        Err(code) => return code,
    };
    match verify(copy.store()) {
        Ok(report) if report.state_hash == checked.state_hash && report.records == copied => {
            say!(
                "Copied {} from {from} to {to}; both verify (checksums, hash chain, rules) and fold to the same state {}.",
                syncfold::text::counted(usize::try_from(copied).unwrap_or(usize::MAX), "record", "records"),
                hex(&report.state_hash[..8]),
            );
            ExitCode::SUCCESS
        }
        Ok(report) => fail(
            class_status(syncfold::log::ErrorClass::Bug),
            format!(
                "the copy at {to} verifies but differs from {from} ({} records, state {}, against {} and {}): do not use it",
                report.records,
                hex(&report.state_hash[..8]),
                copied,
                hex(&checked.state_hash[..8])
            ),
        ),
        Err(error) => fail_log(to, error),
    }
}
