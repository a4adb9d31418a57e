//! `verify`'s answer: a verified log with what was checked, or a refusal naming the first bad
//! record and the last good one. A refusal's text is the command's error message (standard
//! error), so only the verified case has a text view.

use super::{line, Block, TextView};
use crate::core::Seq;
use crate::log::VerifyReport;
use serde::Serialize;

/// A snapshot that did not match the fold at its point.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotProblem {
    /// The record it was taken after.
    pub seq: Seq,
    /// What did not match.
    pub reason: String,
}

/// `verify --json`.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum VerifyView {
    /// Every record passed its checks.
    Verified {
        /// `true`.
        ok: bool,
        /// The exit status, 0.
        status: u8,
        /// Records checked.
        records: Seq,
        /// Records the head note acknowledges as durable.
        acknowledged: Seq,
        /// Where the head note stands, in words.
        head: String,
        /// What is wrong with either copy of the head note.
        head_copies: Vec<String>,
        /// A torn last record: a write cut by a crash, not damage.
        torn_tail: Option<Seq>,
        /// The writer process the log was read through, if one holds it.
        served_by: Option<u32>,
        /// Snapshots that matched the fold.
        snapshots_valid: Vec<Seq>,
        /// Snapshots that did not (skipped on open).
        snapshots_invalid: Vec<SnapshotProblem>,
        /// Hash of the folded state's canonical encoding, in hex.
        state_hash: String,
        /// The log, as the operator named it.
        #[serde(skip)]
        log: String,
    },
    /// The log is damaged, or could not be read.
    Refused {
        /// `false`.
        ok: bool,
        /// The exit status.
        status: u8,
        /// What is wrong and what to do.
        error: String,
        /// Records the head note acknowledges, when it could be read.
        acknowledged: Option<Seq>,
        /// Where the head note stands, in words.
        head: String,
        /// The first bad record, when the damage names one.
        first_bad_seq: Option<Seq>,
        /// The last good record, when the damage names one.
        valid_up_to: Option<Seq>,
    },
}

impl VerifyView {
    /// A verified log: `report` on the log named `log`, read through process `served_by` if a
    /// writer holds it.
    pub fn verified(
        log: &str,
        report: &VerifyReport,
        head: String,
        head_copies: Vec<String>,
        served_by: Option<u32>,
    ) -> Self {
        VerifyView::Verified {
            ok: true,
            status: 0,
            records: report.records,
            acknowledged: report.acknowledged,
            head,
            head_copies,
            torn_tail: report.torn_tail,
            served_by,
            snapshots_valid: report.snapshots_valid.clone(),
            snapshots_invalid: report
                .snapshots_invalid
                .iter()
                .map(|(seq, reason)| SnapshotProblem {
                    seq: *seq,
                    reason: reason.clone(),
                })
                .collect(),
            state_hash: report
                .state_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            log: log.to_owned(),
        }
    }
}

impl TextView for VerifyView {
    fn text(&self, out: &mut Vec<Block>) {
        let VerifyView::Verified {
            records,
            acknowledged,
            head_copies,
            torn_tail,
            served_by,
            snapshots_invalid,
            log,
            ..
        } = self
        else {
            // A refusal is said on standard error by the command, with its exit status.
            return;
        };
        line(out, format!(
            "{log}: {records} records verified (checksums, format, hash chain, rules); {acknowledged} acknowledged as durable."
        ));
        if let Some(pid) = served_by {
            line(
                out,
                format!(
                "Read through process {pid}, which holds the log: its acknowledged records only."
            ),
            );
        }
        for problem in head_copies {
            line(out, format!("Warning: {problem}; the other copy of the head note names the extent, and the next writer's flush rewrites both."));
        }
        if let Some(torn) = torn_tail {
            line(out, format!("Record {torn} is a write cut short by a crash and was never acknowledged: the log is a valid prefix; the next writer discards that record and records that it did."));
        }
        for problem in snapshots_invalid {
            line(
                out,
                format!(
                    "Snapshot after record {} is not trusted ({}); it is skipped when the log is opened.",
                    problem.seq, problem.reason
                ),
            );
        }
    }
}
