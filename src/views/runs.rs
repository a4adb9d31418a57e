//! Runs: one [`RunView`] per run (`runs --json`, `state --json` `runs[]`, the runs table) and the
//! short [`FinishedRunView`] `simulate --json` prints as each run becomes durable.

use super::{line, rfc3339, watermark_json, Block, Table, TextView};
use crate::core::*;
use serde::Serialize;

/// One run, as `state --json` lists it in `runs[]` and `runs --json` prints it (SPEC §7, §8).
#[derive(Clone, Debug, Serialize)]
pub struct RunView {
    /// Run id: integers from 1 in the order runs started.
    pub id: u64,
    /// Connector.
    pub connector: String,
    /// Partition.
    pub partition: String,
    /// `full-import`, `delta-import` or `export`.
    pub kind: &'static str,
    /// The committed watermark a delta import starts from.
    pub start_watermark: Option<String>,
    /// The SPEC §6 status; `null` while the run is open.
    pub status: Option<&'static str>,
    /// A run without a status is open: running, if a writer holds the log, or found in flight,
    /// which the next writer closes as `interrupted` ([R13](crate::rules#r13)).
    pub in_flight: bool,
    /// The partition's committed watermark after the run.
    pub committed_watermark: Option<String>,
    /// `applied`, `skipped`, `held` or `not-applicable`.
    pub obsoletion: &'static str,
    /// Why obsoletion was skipped.
    pub skip_reason: Option<&'static str>,
    /// For a run that did not start: the run that caused the refusal.
    pub refused_by_run: Option<u64>,
    /// For a run that did not start: why.
    pub refusal: Option<RefusalView>,
    /// Objects marked obsolete.
    pub obsoleted: u64,
    /// Object-level and fatal import errors.
    pub errors: u64,
    /// Warnings (export actions).
    pub warnings: u64,
    /// Pages read.
    pub pages: u64,
    /// Changes staged.
    pub staged: u64,
    /// Export results received.
    pub exported: u64,
    /// The fault that stopped it.
    pub fault: Option<FaultView>,
    /// The limit that stopped it.
    pub limit: Option<LimitView>,
    /// The event that started it.
    pub started_seq: Seq,
    /// The event that ended it.
    pub ended_seq: Option<Seq>,
    /// When it started: the time of its `run-started` or `run-refused` event (RFC 3339, UTC).
    pub started_at: String,
    /// When it ended: the time of its `run-ended` event (RFC 3339, UTC); `null` while open.
    pub ended_at: Option<String>,
    /// `ended_at` minus `started_at` in milliseconds; `null` while open.
    pub duration_ms: Option<i64>,
}

/// Why a run did not start, as `refusal` in `runs[]` and in a `run-refused` event.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum RefusalView {
    /// A delta import while the partition needs a full import ([R5](crate::rules#r5)).
    FullImportRequired,
    /// The connector is disabled ([R8](crate::rules#r8)).
    Disabled {
        /// The credentials fault that disabled it.
        code: &'static str,
    },
    /// The scope is suspended ([R9](crate::rules#r9)).
    Suspended {
        /// The error that became permanent.
        code: String,
    },
}

impl RefusalView {
    /// The view of `cause`, and the run that caused it.
    pub fn new(cause: &RefusalCause) -> (Self, u64) {
        match cause {
            RefusalCause::FullImportRequired { set_by } => {
                (RefusalView::FullImportRequired, set_by.0)
            }
            RefusalCause::Disabled { set_by, code } => (
                RefusalView::Disabled {
                    code: code.as_str(),
                },
                set_by.0,
            ),
            RefusalCause::Suspended { set_by, code } => {
                (RefusalView::Suspended { code: code.clone() }, set_by.0)
            }
        }
    }
}

/// A fault with the connector's message.
#[derive(Clone, Debug, Serialize)]
pub struct FaultView {
    /// The fault's SPEC name (`server-down`, …).
    pub kind: &'static str,
    /// What the connector said.
    pub message: String,
}

impl FaultView {
    /// The view of `fault`.
    pub fn new(fault: &Fault) -> Self {
        FaultView {
            kind: fault.kind.as_str(),
            message: fault.message.clone(),
        }
    }
}

/// A run limit that was exceeded ([R11](crate::rules#r11)).
#[derive(Clone, Debug, Serialize)]
pub struct LimitView {
    /// The alert code (`error-limit-exceeded`, …).
    pub code: &'static str,
    /// The count that exceeded it.
    pub count: u64,
    /// The limit in force.
    pub maximum: u64,
    /// The operator's message.
    pub message: String,
}

impl LimitView {
    /// The view of `limit`.
    pub fn new(limit: &LimitRecord) -> Self {
        LimitView {
            code: limit.kind.code(),
            count: limit.count,
            maximum: limit.maximum,
            message: limit.message(),
        }
    }
}

impl RunView {
    /// The view of `run`.
    pub fn new(run: &RunRecord) -> Self {
        let refusal = run.refusal.as_ref().map(RefusalView::new);
        RunView {
            id: run.id.0,
            connector: run.connector.to_string(),
            partition: run.partition.to_string(),
            kind: run.kind.as_str(),
            start_watermark: watermark_json(run.start_watermark.as_ref()),
            status: run.status.map(RunStatus::as_str),
            in_flight: run.status.is_none(),
            committed_watermark: watermark_json(run.committed_watermark.as_ref()),
            obsoletion: run.obsoletion.as_str(),
            skip_reason: run.skip_reason.map(SkipReason::as_str),
            refused_by_run: refusal.as_ref().map(|(_, by)| *by),
            refusal: refusal.map(|(view, _)| view),
            obsoleted: run.counts.obsoleted,
            errors: run.counts.errors,
            warnings: run.counts.warnings,
            pages: run.counts.pages,
            staged: run.counts.staged,
            exported: run.counts.exported,
            fault: run.fault.as_ref().map(FaultView::new),
            limit: run.limit.as_ref().map(LimitView::new),
            started_seq: run.started.seq,
            ended_seq: run.ended.as_ref().map(|end| end.seq),
            started_at: rfc3339(run.started.at),
            ended_at: run.ended.as_ref().map(|end| rfc3339(end.at)),
            duration_ms: run
                .ended
                .as_ref()
                .map(|end| end.at.0.saturating_sub(run.started.at.0)),
        }
    }

    /// The status for people: `in-flight` while the run is open.
    pub fn status_text(&self) -> &'static str {
        self.status.unwrap_or("in-flight")
    }

    /// What the JSON says beside the status about why the run ended as it did, for the NOTE
    /// column: why it did not start, the fault and its message, the limit, why obsoletion was
    /// skipped. Empty when there is nothing to say.
    pub fn note(&self) -> String {
        let mut notes = Vec::new();
        if let (Some(refusal), Some(by)) = (&self.refusal, self.refused_by_run) {
            notes.push(match refusal {
                RefusalView::FullImportRequired if by == 0 => {
                    "refused: a full import required by an administrator".to_owned()
                }
                RefusalView::FullImportRequired => {
                    format!("refused: a full import required since run {by}")
                }
                RefusalView::Disabled { code } => {
                    format!("refused: connector disabled by run {by} ({code})")
                }
                RefusalView::Suspended { code } => {
                    format!("refused: connector suspended by run {by} ({code})")
                }
            });
        }
        if let Some(fault) = &self.fault {
            notes.push(format!(
                "{}: {}",
                fault.kind,
                crate::text::or_no_description(&fault.message)
            ));
        }
        if let Some(limit) = &self.limit {
            notes.push(format!(
                "{} ({} over {})",
                limit.code, limit.count, limit.maximum
            ));
        }
        if let Some(reason) = self.skip_reason {
            notes.push(format!("obsoletion skipped: {reason}"));
        }
        notes.join("; ")
    }
}

/// A duration for people: milliseconds below a second, then seconds with milliseconds
/// (`1.250s`), minutes and seconds (`4m05s`), hours and minutes (`2h07m`).
pub fn duration_text(duration_ms: i64) -> String {
    let ms = duration_ms.max(0);
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{}.{:03}s", ms / 1000, ms % 1000),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// The runs table of `runs` and `state`: one row per run, with its connector, when it started
/// (RFC 3339 UTC), how long it took (`-` while open) and a note on why it ended as it did
/// ([`RunView::note`]).
pub fn runs_table(runs: &[RunView]) -> Table {
    let mut table = Table::new(&[
        "RUN",
        "CONNECTOR",
        "PARTITION",
        "KIND",
        "STARTED",
        "DURATION",
        "FROM",
        "STATUS",
        "COMMITTED",
        "OBSOLETION",
        "OBSOLETED",
        "ERRORS",
        "WARNINGS",
        "NOTE",
    ]);
    table.status_column = Some(7);
    for run in runs {
        table.row(&[
            &run.id.to_string(),
            &run.connector,
            &run.partition,
            run.kind,
            &run.started_at,
            &run.duration_ms
                .map_or_else(|| "-".to_owned(), duration_text),
            run.start_watermark.as_deref().unwrap_or("-"),
            run.status_text(),
            run.committed_watermark.as_deref().unwrap_or("-"),
            run.obsoletion,
            &run.obsoleted.to_string(),
            &run.errors.to_string(),
            &run.warnings.to_string(),
            &run.note(),
        ]);
    }
    table
}

/// One finished run as `simulate --json` prints it (SPEC §7).
#[derive(Clone, Debug, Serialize)]
pub struct FinishedRunView {
    /// Run id.
    pub id: u64,
    /// Partition.
    pub partition: String,
    /// `full-import`, `delta-import` or `export`.
    pub kind: &'static str,
    /// The SPEC §6 status.
    pub status: Option<&'static str>,
    /// The partition's committed watermark after the run.
    pub committed_watermark: Option<String>,
}

impl FinishedRunView {
    /// The view of `run`.
    pub fn new(run: &RunRecord) -> Self {
        FinishedRunView {
            id: run.id.0,
            partition: run.partition.to_string(),
            kind: run.kind.as_str(),
            status: run.status.map(RunStatus::as_str),
            committed_watermark: watermark_json(run.committed_watermark.as_ref()),
        }
    }
}

impl TextView for FinishedRunView {
    fn text(&self, out: &mut Vec<Block>) {
        line(
            out,
            format!(
                "run {} {} {}: {} (committed watermark {})",
                self.id,
                self.partition,
                self.kind,
                self.status.unwrap_or("in-flight"),
                self.committed_watermark.as_deref().unwrap_or("-")
            ),
        );
    }
}
