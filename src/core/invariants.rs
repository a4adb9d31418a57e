//! Assertions on both sides of the fold (debug builds only), as TigerBeetle asserts on both sides
//! of every state change: what an event may change is captured before it is folded, and checked
//! after it was folded or refused.
//!
//! A broken invariant here is a bug in the fold, never bad input: a refused event must leave the
//! state as it was, an applied one must keep the state consistent. States decoded from a snapshot
//! are input, though, so everything but the sequence number is checked after an event only when
//! the state-wide invariants held before it ("the fold preserves them"): a forged snapshot is
//! never turned into a panic.
//!
//! Every check is cheap (proportional to the partitions and open runs) except the connector-space
//! counts, which are checked when a run ends or an administrator acts, once per run.

use super::event::{Event, RunCounts};
use super::model::*;
use super::state::*;

/// What one event may change, taken before it is folded: O(partitions + open runs).
#[derive(Debug, PartialEq)]
pub(crate) struct Fingerprint {
    last_seq: Seq,
    runs: usize,
    open: Vec<(RunId, u64, RunCounts, bool, RunPhase)>,
    partitions: Vec<PartitionPrint>,
    connectors: Vec<(ConnectorName, bool, bool, usize)>,
    consistent: bool,
}

/// The cheap facts of one partition.
#[derive(Debug, PartialEq)]
struct PartitionPrint {
    connector: ConnectorName,
    partition: PartitionName,
    committed: Option<Watermark>,
    live_objects: u64,
    objects: usize,
    exports: usize,
    next_ticket: u64,
    object_errors: usize,
    open_run: Option<RunId>,
    full_import_required: bool,
    held: Option<usize>,
    change_log_faults: usize,
}

impl Fingerprint {
    /// The fingerprint of `state` before an event.
    pub(crate) fn of(state: &State) -> Self {
        let mut partitions = Vec::new();
        let mut connectors = Vec::new();
        for (connector, connector_state) in &state.connectors {
            connectors.push((
                connector.clone(),
                connector_state.disabled.is_some(),
                connector_state.suspended.is_some(),
                connector_state.transient.len(),
            ));
            for (partition, part) in &connector_state.partitions {
                partitions.push(PartitionPrint {
                    connector: connector.clone(),
                    partition: partition.clone(),
                    committed: part.committed_watermark.clone(),
                    live_objects: part.live_objects,
                    objects: part.objects.len(),
                    exports: part.exports.len(),
                    next_ticket: part.exports.next_ticket,
                    object_errors: part.object_errors.len(),
                    open_run: part.open_run,
                    full_import_required: part.full_import_required.is_some(),
                    held: part.held_obsoletion.as_ref().map(|held| held.anchors.len()),
                    change_log_faults: part.change_log_faults.len(),
                });
            }
        }
        Fingerprint {
            last_seq: state.last_seq,
            runs: state.runs.len(),
            open: state
                .open_runs
                .iter()
                .map(|(id, open)| {
                    (
                        *id,
                        open.pages_read,
                        open.counts,
                        open.committed,
                        open.phase,
                    )
                })
                .collect(),
            partitions,
            connectors,
            consistent: state.cheap_breach().is_none(),
        }
    }
}

impl State {
    /// Checks, after `event` was offered as `seq`, what must hold whether it was folded
    /// (`applied`) or refused. Panics on a bug in the fold.
    pub(crate) fn assert_folded(
        &self,
        before: &Fingerprint,
        seq: Seq,
        event: &Event,
        applied: bool,
    ) {
        if applied {
            assert_eq!(
                self.last_seq, seq,
                "event {seq} folded without advancing last_seq"
            );
            assert_eq!(seq, before.last_seq + 1, "event {seq} folded out of order");
        } else {
            assert_eq!(
                self.last_seq, before.last_seq,
                "refused event {seq} moved last_seq"
            );
        }
        if !before.consistent {
            return;
        }
        let after = Fingerprint::of(self);
        if !applied {
            // R15: a refused event leaves the state exactly as it was.
            assert_eq!(&after, before, "refused event {seq} changed the state");
            return;
        }
        let new_runs = usize::from(matches!(
            event,
            Event::RunStarted { .. } | Event::RunRefused { .. }
        ));
        assert_eq!(
            after.runs,
            before.runs + new_runs,
            "event {seq} added runs it may not"
        );
        // R1, R13: only a commit (or an administrator's set-watermark, back to a watermark a run
        // committed, SPEC §8) moves a committed watermark, and partitions are never dropped.
        assert!(after.partitions.len() >= before.partitions.len());
        let sets_watermark = match event {
            Event::WatermarkCommitted { .. } => true,
            Event::AdministratorActed { action, .. } => *action == OperatorAction::SetWatermark,
            _ => false,
        };
        if !sets_watermark {
            for old in &before.partitions {
                // Both lists are in (connector, partition) order, as the state's maps are.
                let now = after
                    .partitions
                    .binary_search_by(|p| {
                        (&p.connector, &p.partition).cmp(&(&old.connector, &old.partition))
                    })
                    .map(|index| &after.partitions[index]);
                let now = now.unwrap_or_else(|_| panic!("event {seq} dropped a partition"));
                assert_eq!(
                    now.committed, old.committed,
                    "event {seq} moved a watermark without committing"
                );
            }
        }
        // An open run's pages and counts only grow while it is open.
        for (id, pages_read, counts, committed, _) in &before.open {
            if let Some((_, pages_now, counts_now, committed_now, _)) =
                after.open.iter().find(|(open, ..)| open == id)
            {
                assert!(pages_now >= pages_read, "run {id}: pages read went back");
                assert!(
                    counts_now.pages >= counts.pages
                        && counts_now.staged >= counts.staged
                        && counts_now.exported >= counts.exported
                        && counts_now.errors >= counts.errors
                        && counts_now.warnings >= counts.warnings
                        && counts_now.obsoleted >= counts.obsoleted,
                    "run {id}: counts went back: {counts:?} -> {counts_now:?}"
                );
                assert!(
                    *committed_now || !committed,
                    "run {id}: a commit was undone"
                );
            }
        }
        if let Some(run) = event.run() {
            if let Some(record) = self.run(run) {
                // No run is both open and ended.
                let open = self.open_runs.contains_key(&run);
                assert_eq!(
                    open,
                    record.ended.is_none(),
                    "run {run}: open and ended disagree"
                );
                assert_eq!(
                    open,
                    record.status.is_none(),
                    "run {run}: open and status disagree"
                );
            }
        }
        if let Some(breach) = self.cheap_breach() {
            panic!("event {seq} broke an invariant: {breach}");
        }
        if matches!(
            event,
            Event::RunEnded { .. }
                | Event::AdminActionRecorded { .. }
                | Event::AdministratorActed { .. }
        ) {
            if let Some(breach) = self.connector_space_breach() {
                panic!("event {seq} broke an invariant: {breach}");
            }
        }
    }

    /// The first state-wide invariant that does not hold, of those that cost O(partitions +
    /// open runs).
    fn cheap_breach(&self) -> Option<String> {
        if let Some(last) = self.runs.last() {
            if last.id.0 != self.runs.len() as u64 {
                return Some(format!(
                    "run {} is number {} of the history",
                    last.id,
                    self.runs.len()
                ));
            }
        }
        for (id, open) in &self.open_runs {
            let ended = self
                .run(*id)
                .is_none_or(|record| record.status.is_some() || record.ended.is_some());
            if ended {
                return Some(format!("run {id} is open and has no open history record"));
            }
            let named = self
                .partition(&open.connector, &open.partition)
                .and_then(|part| part.open_run);
            if named != Some(*id) {
                return Some(format!(
                    "run {id} is open but its partition names {named:?}"
                ));
            }
            if open.pages_read != open.counts.pages {
                return Some(format!(
                    "run {id} read {} pages but counts {}",
                    open.pages_read, open.counts.pages
                ));
            }
            if !open.awaiting.is_subset(&open.sent) {
                return Some(format!(
                    "run {id} awaits results for objects it did not send"
                ));
            }
        }
        let mut partitions_open = 0;
        for (connector, connector_state) in &self.connectors {
            if let Some(disabled) = &connector_state.disabled {
                if !matches!(
                    disabled.code,
                    FaultKind::BadCredentials | FaultKind::OauthTokenExpired
                ) {
                    return Some(format!(
                        "{connector} is disabled by {}",
                        disabled.code.as_str()
                    ));
                }
            }
            for (name, part) in &connector_state.partitions {
                if part.live_objects > part.objects.len() as u64 {
                    return Some(format!(
                        "{connector}/{name} counts {} live objects of {}",
                        part.live_objects,
                        part.objects.len()
                    ));
                }
                if let Some(run) = part.open_run {
                    partitions_open += 1;
                    if !self.open_runs.contains_key(&run) {
                        return Some(format!(
                            "{connector}/{name} names run {run} open, which is not"
                        ));
                    }
                }
            }
        }
        if partitions_open != self.open_runs.len() {
            return Some(format!(
                "{partitions_open} partitions have a run open, but {} runs are open",
                self.open_runs.len()
            ));
        }
        None
    }

    /// The first connector-space invariant that does not hold (O(objects)): the live count is
    /// the number of objects not obsolete, and a held obsoletion holds only live objects.
    fn connector_space_breach(&self) -> Option<String> {
        for (connector, connector_state) in &self.connectors {
            for (name, part) in &connector_state.partitions {
                let live = part
                    .objects
                    .iter_unordered()
                    .filter(|(_, object)| !object.obsolete)
                    .count() as u64;
                if live != part.live_objects {
                    return Some(format!(
                        "{connector}/{name} counts {} live objects, but {live} are not obsolete",
                        part.live_objects
                    ));
                }
                if let Some(held) = &part.held_obsoletion {
                    let dead = held.anchors.iter().find(|anchor| {
                        part.objects
                            .get(*anchor)
                            .is_none_or(|object| object.obsolete)
                    });
                    if let Some(anchor) = dead {
                        return Some(format!(
                            "{connector}/{name} holds the obsoletion of {anchor}, which is not live"
                        ));
                    }
                }
            }
        }
        None
    }
}
