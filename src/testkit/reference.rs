//! The reference model: the rules of SPEC.md (sections 2, 3 [R7](crate::rules#r7)/R11, 4 and 6) and
//! docs/SEMANTICS.md, written a second time, directly and independently of `core`'s fold and
//! decider, so that property tests comparing the two catch a bug in either.
//!
//! It plays the same [`Step`]s the [`crate::script::Player`] plays and keeps only what the rules
//! talk about: committed watermarks, `full-import-required`, the connector space, held obsoletions,
//! the export queue, one record per run, health and the alert wall. It is pure: no IO, no clock,
//! no randomness, no hash maps.
//!
//! Health is modelled ([R8](crate::rules#r8) disabling after a credentials fault,
//! [R9](crate::rules#r9) suspension after `retry_count`
//! consecutive runs ending with the same transient connector-scope fault); runs are refused for
//! `disabled`, then `suspended`, then (delta imports) `full-import-required`
//! ([R5](crate::rules#r5)).
//!
//! [R6](crate::rules#r6) is modelled per partition: the count of consecutive delta imports that
//! ended `completed-discovery-errors` or `stopped-object-error` with the committed watermark where
//! it started, reset by any run that moves the watermark, and the stuck-watermark warning from
//! `stuck_after` on ([`ReferenceModel::stuck_count`], [`ReferenceModel::stuck_warning`]).
//!
//! The alert wall ([R10](crate::rules#r10)) is [`ReferenceModel::alerts`], a pure function of the
//! model's state: object errors (a warning, an error once the same name failed `retry_count`
//! consecutive runs that read or exported the object), transient faults and their escalation to a
//! suspension, credentials, the codes of a broken change log, `full-import-required`,
//! `obsoletion-held`, `stuck-watermark` naming the objects holding the watermark back, and the
//! limit alerts; connector-scope alerts go to the connector owner and, as `info`, to each
//! partition's owner. Only what [`ModelAlert`] compares is kept, so the model knows an open
//! object error's name, direction and consecutive count, not its description or occurrences.
//!
//! Out of scope on purpose: alert messages, remedies and occurrences (sequence numbers, times,
//! first and last runs), an object error's description and failing-run total, interrupted runs
//! (R13; the steps the model plays never leave a run in flight).
//!
//! The administrator actions of SPEC §8 that [`Step`] does not carry, `set-watermark` and
//! `require-full-import`, are played by [`ReferenceModel::administer`], refusals included.

use crate::core::{
    AdminAction, AlertScope, Anchor, Attributes, ChangeKind, ConnectorName, DeletionThreshold,
    ExportChange, ExportChangeKind, ExportOutcome, FaultKind, ObjectChange, ObjectErrorKind,
    Obsoletion, OperatorAction, PartitionName, Recipient, RunKind, RunStatus, Settings, Severity,
    Watermark,
};
use crate::script::{ImportPage, Step};
use std::collections::{BTreeMap, BTreeSet};

/// What the model records about one run (the comparable part of SPEC §7 `runs[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRun {
    /// Run id: integers from 1, one per import or export step, refused runs included.
    pub id: u64,
    /// The partition the run was for.
    pub partition: PartitionName,
    /// Full import, delta import or export.
    pub kind: RunKind,
    /// The run's status (SPEC §6).
    pub status: RunStatus,
    /// The partition's committed watermark after the run (refused runs too).
    pub committed_watermark: Option<Watermark>,
    /// What happened to obsoletion (`not-applicable` for delta, export and refused runs).
    pub obsoletion: Obsoletion,
    /// How many objects this run marked obsolete.
    pub obsoleted: u64,
    /// Object-level and fatal import errors (SEMANTICS "Error counting").
    pub errors: u64,
    /// Export actions: convert-update-to-add, provisioning-parent, retry-reference-attribute.
    pub warnings: u64,
}

/// One open alert as an alert wall shows it ([R10](crate::rules#r10), SPEC §7 `alerts[]`): the
/// comparable part, without remedy texts, messages or occurrences (which the model does not keep).
///
/// A connector-scope alert appears once for the connector owner (`partition` is `None`) and once,
/// as `info`, for the owner of each partition of the connector (`partition` names it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModelAlert {
    /// Object, partition or connector.
    pub scope: AlertScope,
    /// The partition: the object's or the partition's; for a connector-scope alert the partition
    /// whose owner is told, or `None` for the connector owner's copy.
    pub partition: Option<PartitionName>,
    /// The object (object scope only).
    pub anchor: Option<Anchor>,
    /// The code: an object error's name, a fault's name, a fatal import error's kind, or one of
    /// the engine's own codes.
    pub code: String,
    /// `warning` (transient), `error` (permanent) or `info` (a partition owner's copy of a
    /// connector-scope alert).
    pub severity: Severity,
    /// Who is told.
    pub recipient: Recipient,
    /// For `stuck-watermark`: the objects holding the watermark back, sorted; empty otherwise.
    pub objects: Vec<Anchor>,
}

/// Whether an object's latest error came from an import or an export (SEMANTICS "Object errors").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Import,
    Export,
}

/// An object's open error record, as far as alerts need it ([R7](crate::rules#r7),
/// [R9](crate::rules#r9)).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ObjectError {
    /// The error name of the latest occurrence: the alert's code.
    name: String,
    /// Import or export, of the latest occurrence.
    direction: Direction,
    /// The run of the latest occurrence (a run counts once however often it fails the object).
    last_run: u64,
    /// Consecutive runs that failed the object with `name`.
    same_name_runs: u32,
    /// `same_name_runs` reached `retry_count`: the alert is an error.
    permanent: bool,
}

/// One object of the connector space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Object {
    attributes: Attributes,
    obsolete: bool,
}

/// One pending export (at most one per anchor).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    anchor: Anchor,
    kind: ExportChangeKind,
    attributes: Attributes,
    references: Attributes,
}

/// Everything the model keeps for one partition.
#[derive(Clone, Debug, Default)]
struct Partition {
    committed: Option<Watermark>,
    full_import_required: bool,
    objects: BTreeMap<Anchor, Object>,
    /// [R4](crate::rules#r4): objects a held obsoletion would mark obsolete once approved.
    held: BTreeSet<Anchor>,
    /// §4: pending exports in send order.
    queue: Vec<Pending>,
    /// provisioning-parent: child anchor -> the parent it waits for.
    waiting_for: BTreeMap<Anchor, Anchor>,
    /// [R9](crate::rules#r9): the partition's own suspension (no current code causes one; lifted by
    /// `resume`).
    suspended: bool,
    /// [R7](crate::rules#r7): open object errors, by anchor.
    object_errors: BTreeMap<Anchor, ObjectError>,
    /// [R6](crate::rules#r6): consecutive delta imports held back by object errors.
    stuck_count: u32,
    /// [R6](crate::rules#r6): the stuck-watermark warning is open.
    stuck_warning: bool,
    /// [R5](crate::rules#r5), [R10](crate::rules#r10): the permanent codes of a broken change log
    /// met so far (`watermark-expired`, `import-parse-error`, `import-read-error`), open until a
    /// clean full import clears the flag.
    change_log_codes: BTreeSet<&'static str>,
    /// [R4](crate::rules#r4): an obsoletion is held (open until approval or a later clean full
    /// import, even if every held object is staged again meanwhile).
    obsoletion_held: bool,
    /// [R11](crate::rules#r11): the limit codes that stopped runs, open until a later run on the
    /// partition runs to its end.
    limit_codes: BTreeSet<&'static str>,
}

impl Partition {
    fn live_anchors(&self) -> BTreeSet<Anchor> {
        self.objects
            .iter()
            .filter(|(_, object)| !object.obsolete)
            .map(|(anchor, _)| anchor.clone())
            .collect()
    }

    /// [R11](crate::rules#r11) / SEMANTICS Imports step 1: live objects after staging these clean
    /// changes.
    fn live_count_after(&self, changes: &[&ObjectChange]) -> u64 {
        let mut live = self.live_anchors();
        for change in changes {
            match change.kind {
                ChangeKind::Add | ChangeKind::Update => {
                    live.insert(change.anchor.clone());
                }
                ChangeKind::Delete => {
                    live.remove(&change.anchor);
                }
            }
        }
        live.len() as u64
    }

    /// SEMANTICS "Staging".
    fn stage(&mut self, change: &ObjectChange) {
        match change.kind {
            ChangeKind::Add => {
                self.objects.insert(
                    change.anchor.clone(),
                    Object {
                        attributes: change.attributes.clone(),
                        obsolete: false,
                    },
                );
            }
            ChangeKind::Update => {
                let object = self.objects.entry(change.anchor.clone()).or_default();
                object.attributes.overlay(&change.attributes);
                object.obsolete = false;
            }
            ChangeKind::Delete => {
                // A staged deletion of a known object; unknown anchors: no-op.
                if let Some(object) = self.objects.get_mut(&change.anchor) {
                    object.obsolete = true;
                }
            }
        }
        // R4: an object staged again since the hold is not obsoleted by the approval.
        self.held.remove(&change.anchor);
        // R7/R10: an object read cleanly closes its error (a delete of an unknown anchor was read
        // cleanly too).
        self.object_errors.remove(&change.anchor);
    }

    /// Marks `anchor` obsolete if it is known; an object that becomes obsolete closes its error
    /// (R10).
    fn obsolete(&mut self, anchor: &Anchor) {
        if let Some(object) = self.objects.get_mut(anchor) {
            object.obsolete = true;
            self.object_errors.remove(anchor);
        }
    }

    /// [R7](crate::rules#r7), [R9](crate::rules#r9): run `run` failed the object `anchor` with
    /// `name`; the error becomes permanent when the same name failed `retry_count` consecutive
    /// runs that read or exported the object.
    fn object_failed(
        &mut self,
        anchor: &Anchor,
        name: &str,
        direction: Direction,
        run: u64,
        retry_count: u32,
    ) {
        let same_name_runs = match self.object_errors.get(anchor) {
            Some(open) if open.name == name && open.last_run == run => open.same_name_runs,
            Some(open) if open.name == name => open.same_name_runs.saturating_add(1),
            _ => 1,
        };
        self.object_errors.insert(
            anchor.clone(),
            ObjectError {
                name: name.to_owned(),
                direction,
                last_run: run,
                same_name_runs,
                permanent: same_name_runs >= retry_count,
            },
        );
    }

    /// [R4](crate::rules#r4): `approve-obsoletion` marks the held objects obsolete.
    fn approve_obsoletion(&mut self) {
        for anchor in std::mem::take(&mut self.held) {
            self.obsolete(&anchor);
        }
        self.obsoletion_held = false;
    }

    /// [R6](crate::rules#r6) after a started import ended with `status`: a run that moved the
    /// committed watermark resets the count and closes the warning; a delta import held back by
    /// object errors (`completed-discovery-errors`, `stopped-object-error`) where it started
    /// counts, and opens the warning at `stuck_after`; anything else neither counts nor resets.
    fn stuck_after_run(
        &mut self,
        kind: RunKind,
        status: RunStatus,
        committed_at_start: &Option<Watermark>,
        stuck_after: u32,
    ) {
        if &self.committed != committed_at_start {
            self.stuck_count = 0;
            self.stuck_warning = false;
        } else if kind == RunKind::DeltaImport
            && matches!(
                status,
                RunStatus::CompletedDiscoveryErrors | RunStatus::StoppedObjectError
            )
        {
            self.stuck_count = self.stuck_count.saturating_add(1);
            if self.stuck_count >= stuck_after {
                self.stuck_warning = true;
            }
        }
    }

    /// [R10](crate::rules#r10), [R11](crate::rules#r11) after a started run ended: a limit that
    /// stopped it opens its alert; a run that ran to its end closes them all.
    fn limits_after_run(&mut self, status: RunStatus, limit: Option<&'static str>) {
        if let Some(code) = limit {
            self.limit_codes.insert(code);
        } else if ran_to_its_end(status) {
            self.limit_codes.clear();
        }
    }

    fn position(&self, anchor: &Anchor) -> Option<usize> {
        self.queue
            .iter()
            .position(|pending| &pending.anchor == anchor)
    }

    fn is_pending(&self, anchor: &Anchor) -> bool {
        self.position(anchor).is_some()
    }

    /// provisioning-parent: the object waits while its parent is still pending.
    fn is_waiting(&self, anchor: &Anchor) -> bool {
        self.waiting_for
            .get(anchor)
            .is_some_and(|parent| self.is_pending(parent))
    }

    /// SEMANTICS Exports: one entry per anchor, merged in place, keeping its place.
    fn queue_export(&mut self, change: &ExportChange) {
        let Some(index) = self.position(&change.anchor) else {
            self.queue.push(Pending {
                anchor: change.anchor.clone(),
                kind: change.kind,
                attributes: change.attributes.clone(),
                references: change.references.clone(),
            });
            return;
        };
        let entry = &mut self.queue[index];
        entry.kind = merged_kind(entry.kind, change.kind);
        match change.kind {
            // anything + add -> add with the new attributes; anything + delete -> delete.
            ExportChangeKind::Add | ExportChangeKind::Delete => {
                entry.attributes = change.attributes.clone();
                entry.references = change.references.clone();
            }
            // Updates (and references) merge attributes; reference attributes merge the same way.
            ExportChangeKind::Update | ExportChangeKind::References => {
                entry.attributes.overlay(&change.attributes);
                entry.references.overlay(&change.references);
            }
        }
    }

    /// §4 success: the pending change is done; children waiting for it may go; the object's
    /// error closes (R10: exported cleanly).
    fn export_succeeded(&mut self, anchor: &Anchor) {
        self.object_errors.remove(anchor);
        if let Some(index) = self.position(anchor) {
            self.queue.remove(index);
        }
        self.waiting_for.remove(anchor);
        self.waiting_for.retain(|_, parent| parent != anchor);
    }

    /// §4 convert-update-to-add: an add with the connector-space attributes overlaid by the
    /// pending change's; it keeps its place.
    fn convert_to_add(&mut self, anchor: &Anchor) {
        let known = self
            .objects
            .get(anchor)
            .map(|object| object.attributes.clone())
            .unwrap_or_default();
        if let Some(index) = self.position(anchor) {
            let entry = &mut self.queue[index];
            let mut attributes = known;
            attributes.overlay(&entry.attributes);
            entry.attributes = attributes;
            entry.kind = ExportChangeKind::Add;
        }
    }

    /// §4 provisioning-parent: an add of the parent immediately ahead of the object (a pending
    /// parent becomes an add and moves there); the object waits for the parent.
    fn provision_parent(&mut self, anchor: &Anchor, parent: &Anchor) {
        if parent == anchor {
            // Waiting for itself would never end: nothing to place (see the report).
            return;
        }
        let parent_entry = match self.position(parent) {
            Some(index) => {
                let mut entry = self.queue.remove(index);
                entry.kind = ExportChangeKind::Add;
                entry
            }
            None => Pending {
                anchor: parent.clone(),
                kind: ExportChangeKind::Add,
                attributes: Attributes::new(),
                references: Attributes::new(),
            },
        };
        let child_index = self.position(anchor).unwrap_or(self.queue.len());
        self.queue.insert(child_index, parent_entry);
        self.waiting_for.insert(anchor.clone(), parent.clone());
        // SEMANTICS Exports: the parent placed ahead is an add that waits for nothing, so objects
        // a connector names as parents of each other (a cycle) cannot wait for ever.
        self.waiting_for.remove(parent);
    }

    /// §4 retry-reference-attribute: only the reference attributes stay pending.
    fn references_only(&mut self, anchor: &Anchor) {
        if let Some(index) = self.position(anchor) {
            let entry = &mut self.queue[index];
            entry.kind = ExportChangeKind::References;
            entry.attributes = Attributes::new();
        }
    }
}

/// SEMANTICS Exports: the kind of a pending entry after queueing `new` onto `old`.
fn merged_kind(old: ExportChangeKind, new: ExportChangeKind) -> ExportChangeKind {
    use ExportChangeKind::*;
    match (old, new) {
        (_, Delete) => Delete,
        (_, Add) => Add,
        (Add, Update) => Add,
        (Update | References, Update) => Update,
        // Not in SEMANTICS: an update after a not-yet-sent delete means the object lives on.
        (Delete, Update) => Update,
        // Not in SEMANTICS: references merge into whatever is pending; after a delete they
        // are all that is left to write.
        (Delete, References) => References,
        (kept, References) => kept,
    }
}

/// [R11](crate::rules#r11): the limit a run's counts now exceed, as its alert code: errors over
/// `max_errors` first, then warnings over `max_warnings` (not written down in SEMANTICS; see the
/// module doc).
fn exceeded_limit(run: &ModelRun, settings: &Settings) -> Option<&'static str> {
    if run.errors > settings.max_errors {
        Some("error-limit-exceeded")
    } else if run.warnings > settings.max_warnings {
        Some("warning-limit-exceeded")
    } else {
        None
    }
}

/// SPEC §6: a run that ran to its end (`success` or a `completed-*` status).
fn ran_to_its_end(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::Success
            | RunStatus::CompletedWarnings
            | RunStatus::CompletedDiscoveryErrors
            | RunStatus::CompletedExportErrors
    )
}

/// [R9](crate::rules#r9): the transient connector-scope codes.
fn is_transient_connector_code(fault: FaultKind) -> bool {
    matches!(
        fault,
        FaultKind::ServerDown
            | FaultKind::FailedConnection
            | FaultKind::DroppedConnection
            | FaultKind::ConnectorException
    )
}

/// [R8](crate::rules#r8), [R9](crate::rules#r9): the connector's health.
#[derive(Clone, Debug, Default)]
struct Health {
    /// [R8](crate::rules#r8): disabled by a credentials fault.
    disabled: bool,
    /// [R8](crate::rules#r8): `credentials-updated` recorded since the connector was disabled.
    credentials_updated: bool,
    /// [R9](crate::rules#r9): suspended after a transient code reached `retry_count`.
    suspended: bool,
    /// [R9](crate::rules#r9): consecutive runs of the connector that ended with each transient
    /// code.
    counts: BTreeMap<FaultKind, u32>,
    /// [R8](crate::rules#r8): the credentials fault that disabled the connector (its alert's code).
    disabled_by: Option<FaultKind>,
    /// [R9](crate::rules#r9): the transient code whose count reached `retry_count` (the
    /// suspension's alert, an error).
    suspended_by: Option<FaultKind>,
    /// [R10](crate::rules#r10): transient codes whose warning is open: the last run of the
    /// connector that ended ended with it (`resume` resets the count, not the alert).
    transient_open: BTreeSet<FaultKind>,
}

/// How a run's step ended, for the health bookkeeping.
enum Ending {
    /// The run did not start: no counter counts or resets.
    Refused,
    /// The run started and ended, stopped by this fault or by none.
    Ended(Option<FaultKind>),
}

/// The rules, played step by step over one connector.
#[derive(Clone, Debug)]
pub struct ReferenceModel {
    connector: ConnectorName,
    settings: Settings,
    export_batch_size: usize,
    partitions: BTreeMap<PartitionName, Partition>,
    health: Health,
    runs: Vec<ModelRun>,
    /// SPEC §8 `set-watermark`: the watermark each run committed, by run id (a run that
    /// committed none is absent).
    commits: BTreeMap<u64, (PartitionName, Watermark)>,
}

/// Why the model refuses an administrator's action of SPEC §8 (the rule it breaks, in a word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelRefusal {
    /// `set-watermark` and `require-full-import` act on a partition, and none was named.
    NoPartition,
    /// The partition named is not one the connector has (no run ever named it).
    UnknownPartition,
    /// `set-watermark` names no run.
    NoRun,
    /// The run named committed no watermark on that partition (R1: the administrator may go back
    /// to a watermark a run committed, not invent one).
    NotCommitted,
}

impl ReferenceModel {
    /// An empty model of one connector, with the limits in force for every run and the largest
    /// export batch (clamped to at least 1, as the player does).
    pub fn new(connector: ConnectorName, settings: Settings, export_batch_size: usize) -> Self {
        ReferenceModel {
            connector,
            settings,
            export_batch_size: export_batch_size.max(1),
            partitions: BTreeMap::new(),
            health: Health::default(),
            runs: Vec::new(),
            commits: BTreeMap::new(),
        }
    }

    /// The connector this model plays.
    pub fn connector(&self) -> &ConnectorName {
        &self.connector
    }

    /// Plays one step with the settings given to [`ReferenceModel::new`]; returns the run record
    /// if the step was a run (started or refused).
    pub fn apply(&mut self, step: &Step) -> Option<ModelRun> {
        self.play(step)
    }

    /// Plays one step with `settings` in force for it alone, as an engine takes settings per run
    /// ([`crate::engine::Engine::run`]); later [`ReferenceModel::apply`] calls use the settings of
    /// [`ReferenceModel::new`] again.
    pub fn apply_with(&mut self, step: &Step, settings: &Settings) -> Option<ModelRun> {
        let default = std::mem::replace(&mut self.settings, settings.clone());
        let run = self.play(step);
        self.settings = default;
        run
    }

    fn play(&mut self, step: &Step) -> Option<ModelRun> {
        let (run, ending) = match step {
            Step::Import {
                partition,
                kind,
                pages,
            } => self.import(partition, *kind, pages),
            Step::Export {
                partition,
                enqueue,
                results,
                fault,
            } => self.export(partition, enqueue, results, fault.as_ref().map(|f| f.kind)),
            Step::Admin { partition, action } => {
                self.admin(partition.as_ref(), *action);
                return None;
            }
        };
        if let Ending::Ended(fault) = ending {
            self.run_ended(fault);
        }
        self.runs.push(run.clone());
        Some(run)
    }

    /// Every run so far, in id order.
    pub fn runs(&self) -> &[ModelRun] {
        &self.runs
    }

    /// The runs that committed a watermark, with the partition they committed it on, in id order
    /// (what `set-watermark` may name).
    pub fn committed_runs(&self) -> Vec<(u64, PartitionName)> {
        self.commits
            .iter()
            .map(|(run, (partition, _))| (*run, partition.clone()))
            .collect()
    }

    /// The watermark the next delta import of `partition` starts from.
    pub fn committed_watermark(&self, partition: &PartitionName) -> Option<Watermark> {
        self.partitions
            .get(partition)
            .and_then(|p| p.committed.clone())
    }

    /// Whether delta imports of `partition` are refused until a full import commits
    /// ([R5](crate::rules#r5)).
    pub fn full_import_required(&self, partition: &PartitionName) -> bool {
        self.partitions
            .get(partition)
            .is_some_and(|p| p.full_import_required)
    }

    /// Connector space: anchor -> obsolete flag.
    pub fn objects(&self, partition: &PartitionName) -> BTreeMap<Anchor, bool> {
        self.partitions
            .get(partition)
            .map(|p| {
                p.objects
                    .iter()
                    .map(|(anchor, object)| (anchor.clone(), object.obsolete))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Pending exports in queue (send) order.
    pub fn pending_exports(&self, partition: &PartitionName) -> Vec<(Anchor, ExportChangeKind)> {
        self.partitions
            .get(partition)
            .map(|p| {
                p.queue
                    .iter()
                    .map(|pending| (pending.anchor.clone(), pending.kind))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The partition's health as SPEC §7 names it: the connector's disabling wins, then the
    /// connector's or the partition's suspension.
    pub fn health(&self, partition: &PartitionName) -> &'static str {
        let partition_suspended = self.partitions.get(partition).is_some_and(|p| p.suspended);
        if self.health.disabled {
            "disabled"
        } else if self.health.suspended || partition_suspended {
            "suspended"
        } else {
            "enabled"
        }
    }

    /// [R6](crate::rules#r6): consecutive delta imports of `partition` that ended where they
    /// started because object errors held the watermark back (since the last run that moved it).
    pub fn stuck_count(&self, partition: &PartitionName) -> u32 {
        self.partitions.get(partition).map_or(0, |p| p.stuck_count)
    }

    /// [R6](crate::rules#r6): whether the stuck-watermark warning of `partition` is open.
    pub fn stuck_warning(&self, partition: &PartitionName) -> bool {
        self.partitions
            .get(partition)
            .is_some_and(|p| p.stuck_warning)
    }

    /// The alert wall ([R10](crate::rules#r10)): every open alert, sorted, as a pure function of
    /// the model's state.
    ///
    /// Connector scope: a credentials fault while the connector is disabled (error); each
    /// transient code whose last run ended with it (warning), or that suspended the connector
    /// (error, until `resume`). Each goes to the connector owner and, as `info`, to the owner of
    /// every partition of the connector. Partition scope (partition owner): the codes of a broken
    /// change log and `full-import-required` (errors, until a clean full import), `obsoletion-held`
    /// (error), `stuck-watermark` (warning, naming the objects with open import errors), the limit
    /// codes (errors). Object scope (partition owner): each open object error under its name, an
    /// error once permanent, a warning before.
    pub fn alerts(&self) -> Vec<ModelAlert> {
        let mut alerts = Vec::new();
        let health = &self.health;
        let mut connector_codes: Vec<(FaultKind, Severity)> = Vec::new();
        if let Some(code) = health.disabled_by {
            connector_codes.push((code, Severity::Error));
        }
        let transient = health
            .transient_open
            .iter()
            .copied()
            .chain(health.suspended_by);
        for code in transient.collect::<BTreeSet<_>>() {
            let severity = if health.suspended_by == Some(code) {
                Severity::Error
            } else {
                Severity::Warning
            };
            connector_codes.push((code, severity));
        }
        for (code, severity) in connector_codes {
            let alert = |partition: Option<&PartitionName>, severity, recipient| ModelAlert {
                scope: AlertScope::Connector,
                partition: partition.cloned(),
                anchor: None,
                code: code.as_str().to_owned(),
                severity,
                recipient,
                objects: Vec::new(),
            };
            alerts.push(alert(None, severity, Recipient::ConnectorOwner));
            for name in self.partitions.keys() {
                alerts.push(alert(Some(name), Severity::Info, Recipient::PartitionOwner));
            }
        }
        for (name, partition) in &self.partitions {
            let alert = |code: &str, severity, objects| ModelAlert {
                scope: AlertScope::Partition,
                partition: Some(name.clone()),
                anchor: None,
                code: code.to_owned(),
                severity,
                recipient: Recipient::PartitionOwner,
                objects,
            };
            for code in &partition.change_log_codes {
                alerts.push(alert(code, Severity::Error, Vec::new()));
            }
            if partition.full_import_required {
                alerts.push(alert("full-import-required", Severity::Error, Vec::new()));
            }
            if partition.obsoletion_held {
                alerts.push(alert("obsoletion-held", Severity::Error, Vec::new()));
            }
            if partition.stuck_warning {
                let holding: Vec<Anchor> = partition
                    .object_errors
                    .iter()
                    .filter(|(_, error)| error.direction == Direction::Import)
                    .map(|(anchor, _)| anchor.clone())
                    .collect();
                alerts.push(alert("stuck-watermark", Severity::Warning, holding));
            }
            for code in &partition.limit_codes {
                alerts.push(alert(code, Severity::Error, Vec::new()));
            }
            for (anchor, error) in &partition.object_errors {
                alerts.push(ModelAlert {
                    scope: AlertScope::Object,
                    partition: Some(name.clone()),
                    anchor: Some(anchor.clone()),
                    code: error.name.clone(),
                    severity: if error.permanent {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    recipient: Recipient::PartitionOwner,
                    objects: Vec::new(),
                });
            }
        }
        alerts.sort();
        alerts
    }

    /// The partitions used so far by a run or a queued export (admin steps create none), sorted.
    pub fn partitions(&self) -> Vec<PartitionName> {
        self.partitions.keys().cloned().collect()
    }

    fn next_id(&self) -> u64 {
        self.runs.len() as u64 + 1
    }

    /// SEMANTICS "Transient to permanent": why a run of `kind` on `name` does not start, in the
    /// order disabled, suspended (connector or partition), full-import-required (delta only).
    fn refusal(&self, name: &PartitionName, kind: RunKind) -> Option<RunStatus> {
        let partition = self.partitions.get(name);
        if self.health.disabled {
            Some(RunStatus::NoStartDisabled)
        } else if self.health.suspended || partition.is_some_and(|p| p.suspended) {
            Some(RunStatus::NoStartSuspended)
        } else if kind == RunKind::DeltaImport && partition.is_some_and(|p| p.full_import_required)
        {
            Some(RunStatus::NoStartFullImportRequired)
        } else {
            None
        }
    }

    /// [R8](crate::rules#r8), [R9](crate::rules#r9): a started run ended, stopped by `fault` or by
    /// none.
    fn run_ended(&mut self, fault: Option<FaultKind>) {
        let health = &mut self.health;
        // A run that ends without a code resets that code's count and closes its warning (R10).
        health.counts.retain(|code, _| Some(*code) == fault);
        health.transient_open.retain(|code| Some(*code) == fault);
        match fault {
            Some(code @ (FaultKind::BadCredentials | FaultKind::OauthTokenExpired)) => {
                // R8: permanent at once; the connector is disabled for all its partitions.
                health.disabled = true;
                health.disabled_by = Some(code);
                health.credentials_updated = false;
            }
            Some(code) if is_transient_connector_code(code) => {
                health.transient_open.insert(code);
                let count = health.counts.entry(code).or_insert(0);
                *count += 1;
                if *count >= self.settings.retry_count {
                    health.suspended = true;
                    health.suspended_by = Some(code);
                }
            }
            _ => {}
        }
    }

    /// SPEC §2 and SEMANTICS "Imports".
    fn import(
        &mut self,
        name: &PartitionName,
        kind: RunKind,
        pages: &[ImportPage],
    ) -> (ModelRun, Ending) {
        let id = self.next_id();
        let refusal = self.refusal(name, kind);
        let settings = self.settings.clone();
        let partition = self.partitions.entry(name.clone()).or_default();
        let mut run = ModelRun {
            id,
            partition: name.clone(),
            kind,
            status: RunStatus::Success,
            committed_watermark: None,
            obsoletion: Obsoletion::NotApplicable,
            obsoleted: 0,
            errors: 0,
            warnings: 0,
        };

        // R8, R9, R5: a run that does not start changes nothing else.
        if let Some(status) = refusal {
            run.status = status;
            run.committed_watermark = partition.committed.clone();
            return (run, Ending::Refused);
        }
        let mut ending_fault: Option<FaultKind> = None;
        let mut limit_code: Option<&'static str> = None;
        let committed_at_start = partition.committed.clone();

        let live_at_start = partition.live_anchors();
        let mut seen: BTreeSet<Anchor> = BTreeSet::new();
        let mut stop: Option<RunStatus> = None;
        let mut error_page_met = false; // R1: page k has been reached
        let mut delta_candidate: Option<Watermark> = None; // proposal of page k-1
        let mut last_proposal: Option<Watermark> = None; // R2: a full import's last proposal
        let mut committed_now: Option<Watermark> = None; // SPEC §8: what this run committed

        for page in pages {
            if stop.is_some() {
                break;
            }
            let page = match page {
                ImportPage::Page(page) => page,
                ImportPage::Fault(fault) => {
                    // A fault replaces the page: nothing of it is read.
                    error_page_met = true;
                    stop = Some(fault.kind.run_status());
                    ending_fault = Some(fault.kind);
                    if fault.kind == FaultKind::WatermarkExpired {
                        partition.full_import_required = true; // R5
                        partition.change_log_codes.insert(fault.kind.as_str());
                    }
                    continue;
                }
            };

            let error_anchors: BTreeSet<&Anchor> = page
                .errors
                .iter()
                .map(|error| &error.anchor)
                .chain(
                    page.fatal_errors
                        .iter()
                        .filter_map(|fatal| fatal.anchor.as_ref()),
                )
                .collect();
            let clean: Vec<&ObjectChange> = page
                .changes
                .iter()
                .filter(|change| !error_anchors.contains(&change.anchor))
                .collect();

            // 1. R11 snapshot limit, on live objects, before anything of the page is recorded.
            if partition.live_count_after(&clean) > settings.snapshot_limit {
                error_page_met = true;
                stop = Some(RunStatus::StoppedSnapshotLimit);
                limit_code = Some("snapshot-limit-exceeded");
                continue;
            }

            // 2. The page's errors: one per object-level error, one per fatal import error.
            run.errors += page.errors.len() as u64 + page.fatal_errors.len() as u64;
            seen.extend(error_anchors.iter().map(|anchor| (*anchor).clone()));
            for error in &page.errors {
                partition.object_failed(
                    &error.anchor,
                    &error.name,
                    Direction::Import,
                    id,
                    settings.retry_count,
                );
            }
            // R2: in a full import a fatal import error acts as `custom-stop-run`, which R7
            // records on the object: one that names an object opens its error, under its kind.
            // In a delta import it is the partition's (R5, R9's table), not the object's.
            for fatal in &page.fatal_errors {
                if let (RunKind::FullImport, Some(anchor)) = (kind, &fatal.anchor) {
                    partition.object_failed(
                        anchor,
                        fatal.kind.as_str(),
                        Direction::Import,
                        id,
                        settings.retry_count,
                    );
                }
            }

            // 3. Clean objects are staged in order (R1), even on and after page k.
            for change in &clean {
                partition.stage(change);
                seen.insert(change.anchor.clone());
            }

            // R1: the watermark never advances past an error page.
            if !page.errors.is_empty() || !page.fatal_errors.is_empty() {
                error_page_met = true;
            }
            if let Some(watermark) = &page.watermark {
                last_proposal = Some(watermark.clone());
                if !error_page_met {
                    delta_candidate = Some(watermark.clone());
                }
            }

            // 4. Stop precedence: fatal import error > error limit > custom-stop-run.
            let custom_stop = page
                .errors
                .iter()
                .any(|error| error.kind == ObjectErrorKind::CustomStopRun);
            // SEMANTICS "Health": a limit exceeded on a page whose fatal import error names the
            // status still opens its alert (the run did exceed it).
            let exceeded = exceeded_limit(&run, &settings);
            if exceeded.is_some() {
                limit_code = exceeded;
            }
            stop = if !page.fatal_errors.is_empty() {
                if kind == RunKind::DeltaImport {
                    partition.full_import_required = true; // R5
                    for fatal in &page.fatal_errors {
                        partition.change_log_codes.insert(fatal.kind.as_str());
                    }
                    Some(RunStatus::StoppedDeltaLogBroken)
                } else {
                    Some(RunStatus::StoppedObjectError) // R2: acts as custom-stop-run
                }
            } else if exceeded.is_some() {
                Some(RunStatus::StoppedErrorLimit) // R11
            } else if custom_stop {
                Some(RunStatus::StoppedObjectError) // R7
            } else {
                None
            };
        }

        let ran_status = stop.unwrap_or(if run.errors > 0 {
            RunStatus::CompletedDiscoveryErrors
        } else {
            RunStatus::Success
        });
        run.status = ran_status;

        match kind {
            RunKind::FullImport if run.errors == 0 && stop.is_none() => {
                // R2: a clean full import commits its last proposal and clears the flag.
                if let Some(watermark) = last_proposal {
                    partition.committed = Some(watermark.clone());
                    committed_now = Some(watermark);
                }
                partition.full_import_required = false;
                // R10: the broken change log's alerts close with the flag.
                partition.change_log_codes.clear();

                // R3: every live object not seen is obsoleted, unless R4 holds it.
                let unseen: BTreeSet<Anchor> = live_at_start
                    .iter()
                    .filter(|anchor| !seen.contains(*anchor))
                    .filter(|anchor| partition.objects.get(*anchor).is_some_and(|o| !o.obsolete))
                    .cloned()
                    .collect();
                let count = unseen.len() as u64;
                let exceeded = match settings.deletion_threshold {
                    DeletionThreshold::Count(limit) => count > limit,
                    DeletionThreshold::Percent(percent) => {
                        count * 100 > u64::from(percent) * live_at_start.len() as u64
                    }
                };
                if exceeded {
                    partition.held = unseen;
                    partition.obsoletion_held = true;
                    run.obsoletion = Obsoletion::Held;
                    run.status = RunStatus::StoppedDeletionThresholdExceeded;
                } else {
                    for anchor in &unseen {
                        partition.obsolete(anchor);
                    }
                    // A later clean full import supersedes an earlier hold (R10).
                    partition.held.clear();
                    partition.obsoletion_held = false;
                    run.obsoletion = Obsoletion::Applied;
                    run.obsoleted = count;
                }
            }
            RunKind::FullImport => {
                // R2/R3: an errored or stopped full import commits nothing and obsoletes nothing.
                run.obsoletion = Obsoletion::Skipped;
            }
            RunKind::DeltaImport | RunKind::Export => {
                // R1: commit the proposal of page k-1, or of the last page; nothing if none.
                if let Some(watermark) = delta_candidate {
                    partition.committed = Some(watermark.clone());
                    committed_now = Some(watermark);
                }
            }
        }

        run.committed_watermark = partition.committed.clone();
        partition.stuck_after_run(kind, run.status, &committed_at_start, settings.stuck_after);
        partition.limits_after_run(run.status, limit_code);
        if let Some(watermark) = committed_now {
            self.commits.insert(id, (name.clone(), watermark));
        }
        (run, Ending::Ended(ending_fault))
    }

    /// SPEC §4 and SEMANTICS "Exports".
    fn export(
        &mut self,
        name: &PartitionName,
        enqueue: &[ExportChange],
        results: &BTreeMap<Anchor, ExportOutcome>,
        fault: Option<FaultKind>,
    ) -> (ModelRun, Ending) {
        let id = self.next_id();
        let settings = self.settings.clone();
        let batch_size = self.export_batch_size;
        // Changes are queued before the run starts, so a refused run queues them too.
        let partition = self.partitions.entry(name.clone()).or_default();
        for change in enqueue {
            partition.queue_export(change);
        }
        let refusal = self.refusal(name, RunKind::Export);
        let partition = self.partitions.entry(name.clone()).or_default();

        let mut run = ModelRun {
            id,
            partition: name.clone(),
            kind: RunKind::Export,
            status: RunStatus::Success,
            committed_watermark: None,
            obsoletion: Obsoletion::NotApplicable,
            obsoleted: 0,
            errors: 0,
            warnings: 0,
        };
        if let Some(status) = refusal {
            run.status = status;
            run.committed_watermark = partition.committed.clone();
            return (run, Ending::Refused);
        }
        // A fault on the export: nothing is sent. SEMANTICS: `watermark-expired` met by any run,
        // an export included, opens its alert (an export sets no flag: it has no watermark).
        let mut stop: Option<RunStatus> = fault.map(FaultKind::run_status);
        if fault == Some(FaultKind::WatermarkExpired) {
            partition
                .change_log_codes
                .insert(FaultKind::WatermarkExpired.as_str());
        }
        let mut limit_code: Option<&'static str> = None;

        // Only what was pending when the run started is sent, each at most once.
        let pending_at_start: BTreeSet<Anchor> =
            partition.queue.iter().map(|p| p.anchor.clone()).collect();
        let mut sent: BTreeSet<Anchor> = BTreeSet::new();
        // A parent placed by provisioning-parent counts as queued by this run: it waits for the
        // next run even if the parent had a change pending before (§4, SEMANTICS).
        let mut placed: BTreeSet<Anchor> = BTreeSet::new();

        while stop.is_none() {
            let batch: Vec<Anchor> = partition
                .queue
                .iter()
                .map(|pending| &pending.anchor)
                .filter(|anchor| pending_at_start.contains(*anchor))
                .filter(|anchor| !sent.contains(*anchor))
                .filter(|anchor| !placed.contains(*anchor))
                .filter(|anchor| !partition.is_waiting(anchor))
                .take(batch_size)
                .cloned()
                .collect();
            if batch.is_empty() {
                break;
            }

            let mut custom_stop = false;
            for anchor in &batch {
                sent.insert(anchor.clone());
                let outcome = results
                    .get(anchor)
                    .cloned()
                    .unwrap_or(ExportOutcome::Success);
                match outcome {
                    ExportOutcome::Success => partition.export_succeeded(anchor),
                    ExportOutcome::CustomContinueRun { ref name, .. }
                    | ExportOutcome::CustomStopRun { ref name, .. } => {
                        run.errors += 1;
                        partition.object_failed(
                            anchor,
                            name,
                            Direction::Export,
                            id,
                            settings.retry_count,
                        );
                        custom_stop = matches!(outcome, ExportOutcome::CustomStopRun { .. });
                    }
                    ExportOutcome::ConvertUpdateToAdd => {
                        run.warnings += 1;
                        partition.convert_to_add(anchor);
                    }
                    ExportOutcome::ProvisioningParent { parent } => {
                        run.warnings += 1;
                        partition.provision_parent(anchor, &parent);
                        placed.insert(parent);
                    }
                    ExportOutcome::RetryReferenceAttribute => {
                        run.warnings += 1;
                        partition.references_only(anchor);
                    }
                }
                if custom_stop {
                    // The connector exports nothing after a custom-stop-run in its batch.
                    break;
                }
            }

            // After the batch: R11 limits, then custom-stop-run (as for imports).
            if let Some(code) = exceeded_limit(&run, &settings) {
                limit_code = Some(code);
                stop = Some(RunStatus::StoppedErrorLimit);
            } else if custom_stop {
                stop = Some(RunStatus::StoppedObjectError);
            }
        }

        run.status = match stop {
            Some(status) => status,
            None if run.errors > 0 => RunStatus::CompletedExportErrors,
            None if run.warnings > 0 => RunStatus::CompletedWarnings,
            None => RunStatus::Success,
        };
        run.committed_watermark = partition.committed.clone();
        partition.limits_after_run(run.status, limit_code);
        (run, Ending::Ended(fault))
    }

    /// An administrator's action as `syncfold admin` records it (SPEC §8), with the run it names
    /// (`set-watermark`). The four actions of SPEC §7 are facts, never refused, as for
    /// [`Step::Admin`]. `set-watermark` (a partition, a run) sets the partition's committed
    /// watermark back to the one that run committed on it, clears nothing else, and restarts R6's
    /// count (its warning closes, as when a run moves the watermark); refused when the run
    /// committed no watermark on that partition. `require-full-import` (a partition) sets
    /// `full-import-required`; a clean full import clears it as usual. Both need a partition the
    /// connector has. No run is ever in flight between the steps the model plays, so the refusal
    /// of a set-watermark during a run is not modelled.
    pub fn administer(
        &mut self,
        partition: Option<&PartitionName>,
        action: OperatorAction,
        run: Option<u64>,
    ) -> Result<(), ModelRefusal> {
        let needs_partition = matches!(
            action,
            OperatorAction::SetWatermark | OperatorAction::RequireFullImport
        );
        if !needs_partition {
            if let Some(action) = action.as_admin_action() {
                self.admin(partition, action);
            }
            return Ok(());
        }
        let name = partition.ok_or(ModelRefusal::NoPartition)?;
        if !self.partitions.contains_key(name) {
            return Err(ModelRefusal::UnknownPartition);
        }
        if action == OperatorAction::RequireFullImport {
            if let Some(part) = self.partitions.get_mut(name) {
                part.full_import_required = true;
            }
            return Ok(());
        }
        let run = run.ok_or(ModelRefusal::NoRun)?;
        let watermark = match self.commits.get(&run) {
            Some((on, watermark)) if on == name => watermark.clone(),
            _ => return Err(ModelRefusal::NotCommitted),
        };
        if let Some(part) = self.partitions.get_mut(name) {
            part.committed = Some(watermark);
            part.stuck_count = 0;
            part.stuck_warning = false;
        }
        Ok(())
    }

    /// Administrator actions: recorded facts, never refused, even when they change nothing.
    fn admin(&mut self, partition: Option<&PartitionName>, action: AdminAction) {
        match action {
            AdminAction::ApproveObsoletion => match partition {
                Some(name) => {
                    if let Some(partition) = self.partitions.get_mut(name) {
                        partition.approve_obsoletion();
                    }
                }
                // R9: an action without a partition applies to every partition of the connector.
                None => {
                    for partition in self.partitions.values_mut() {
                        partition.approve_obsoletion();
                    }
                }
            },
            // R8: credentials are the connector's, whatever partition the action names; they
            // count only while the connector is disabled.
            AdminAction::CredentialsUpdated => {
                if self.health.disabled {
                    self.health.credentials_updated = true;
                }
            }
            // R8: `enable` after `credentials-updated` since the disabling; otherwise nothing.
            AdminAction::Enable => {
                if self.health.disabled && self.health.credentials_updated {
                    self.health.disabled = false;
                    self.health.disabled_by = None;
                    self.health.credentials_updated = false;
                }
            }
            AdminAction::Resume => match partition {
                // A partition's resume lifts only the partition's own suspension.
                Some(name) => {
                    if let Some(partition) = self.partitions.get_mut(name) {
                        partition.suspended = false;
                    }
                }
                // On the connector: lifts its suspension, resets the counts, and (R9: an action
                // without a partition applies to every partition) lifts the partitions' too.
                None => {
                    self.health.suspended = false;
                    self.health.suspended_by = None;
                    self.health.counts.clear();
                    for partition in self.partitions.values_mut() {
                        partition.suspended = false;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{AttributeValue, DiscoveryError, Page};

    fn part() -> PartitionName {
        PartitionName::from("people")
    }

    fn anchor(text: &str) -> Anchor {
        Anchor::from(text)
    }

    fn wm(text: &str) -> Watermark {
        Watermark::from_text(text)
    }

    fn add(text: &str) -> ObjectChange {
        let mut attributes = Attributes::new();
        attributes.0.insert(
            "mail".into(),
            AttributeValue::Single(format!("{text}@example.org")),
        );
        ObjectChange {
            anchor: anchor(text),
            kind: ChangeKind::Add,
            attributes,
        }
    }

    fn continue_error(text: &str) -> DiscoveryError {
        DiscoveryError {
            anchor: anchor(text),
            kind: ObjectErrorKind::CustomContinueRun,
            name: "invalid-characters-error".into(),
            description: "bad".into(),
        }
    }

    fn page(
        watermark: &str,
        changes: Vec<ObjectChange>,
        errors: Vec<DiscoveryError>,
    ) -> ImportPage {
        ImportPage::Page(Page {
            changes,
            errors,
            fatal_errors: Vec::new(),
            watermark: Some(wm(watermark)),
        })
    }

    fn import(kind: RunKind, pages: Vec<ImportPage>) -> Step {
        Step::Import {
            partition: part(),
            kind,
            pages,
        }
    }

    fn model(batch: usize) -> ReferenceModel {
        ReferenceModel::new(ConnectorName::from("hr"), Settings::default(), batch)
    }

    #[test]
    fn seed_pages_a_b_c_commit_a() {
        let mut model = model(100);
        let run = model.apply(&import(
            RunKind::DeltaImport,
            vec![
                page("A", vec![add("u1")], vec![]),
                page("B", vec![add("u2"), add("u3")], vec![continue_error("u2")]),
                page("C", vec![add("u4")], vec![]),
            ],
        ));
        let run = run.expect("an import is a run");
        assert_eq!(run.id, 1);
        assert_eq!(run.status, RunStatus::CompletedDiscoveryErrors);
        assert_eq!(run.committed_watermark, Some(wm("A")));
        assert_eq!(run.errors, 1);
        assert_eq!(run.obsoletion, Obsoletion::NotApplicable);
        // Clean objects are staged on and after page k; the errored one is not.
        let objects: Vec<Anchor> = model.objects(&part()).into_keys().collect();
        assert_eq!(objects, vec![anchor("u1"), anchor("u3"), anchor("u4")]);

        // The next delta re-reads page 2 from A; clean now, it moves the watermark to C.
        let run = model.apply(&import(
            RunKind::DeltaImport,
            vec![
                page("B", vec![add("u2"), add("u3")], vec![]),
                page("C", vec![add("u4")], vec![]),
            ],
        ));
        assert_eq!(run.map(|r| r.status), Some(RunStatus::Success));
        assert_eq!(model.committed_watermark(&part()), Some(wm("C")));
    }

    #[test]
    fn errored_full_import_skips_obsoletion() {
        let mut model = model(100);
        let first = model.apply(&import(
            RunKind::FullImport,
            vec![page("F1", vec![add("u1"), add("u2"), add("u3")], vec![])],
        ));
        assert_eq!(
            first.as_ref().map(|r| r.obsoletion),
            Some(Obsoletion::Applied)
        );
        assert_eq!(model.committed_watermark(&part()), Some(wm("F1")));

        let run = model
            .apply(&import(
                RunKind::FullImport,
                vec![page(
                    "F2",
                    vec![add("u1"), add("u2")],
                    vec![continue_error("u2")],
                )],
            ))
            .expect("an import is a run");
        assert_eq!(run.status, RunStatus::CompletedDiscoveryErrors);
        assert_eq!(run.obsoletion, Obsoletion::Skipped);
        assert_eq!(run.obsoleted, 0);
        assert_eq!(run.committed_watermark, Some(wm("F1")));
        assert!(model.objects(&part()).values().all(|obsolete| !obsolete));

        // A clean full import that misses u3 obsoletes it.
        let run = model
            .apply(&import(
                RunKind::FullImport,
                vec![page("F3", vec![add("u1"), add("u2")], vec![])],
            ))
            .expect("an import is a run");
        assert_eq!((run.obsoletion, run.obsoleted), (Obsoletion::Applied, 1));
        assert_eq!(model.objects(&part()).get(&anchor("u3")), Some(&true));
    }

    #[test]
    fn deletion_threshold_holds_until_approved() {
        let settings = Settings {
            deletion_threshold: DeletionThreshold::Count(1),
            ..Settings::default()
        };
        let mut model = ReferenceModel::new(ConnectorName::from("hr"), settings, 100);
        model.apply(&import(
            RunKind::FullImport,
            vec![page("F1", vec![add("u1"), add("u2"), add("u3")], vec![])],
        ));
        let run = model
            .apply(&import(
                RunKind::FullImport,
                vec![page("F2", vec![add("u1")], vec![])],
            ))
            .expect("an import is a run");
        assert_eq!(run.status, RunStatus::StoppedDeletionThresholdExceeded);
        assert_eq!(run.obsoletion, Obsoletion::Held);
        assert_eq!(run.committed_watermark, Some(wm("F2")));
        // u2 comes back before the approval: only u3 is obsoleted.
        model.apply(&import(
            RunKind::DeltaImport,
            vec![page("D1", vec![add("u2")], vec![])],
        ));
        model.apply(&Step::Admin {
            partition: None,
            action: AdminAction::ApproveObsoletion,
        });
        let objects = model.objects(&part());
        assert_eq!(objects.get(&anchor("u2")), Some(&false));
        assert_eq!(objects.get(&anchor("u3")), Some(&true));
    }

    #[test]
    fn provisioning_parent_goes_first_next_run() {
        for batch in [1, 100] {
            let mut model = model(batch);
            let child = anchor("cn=ann,ou=sales");
            let parent = anchor("ou=sales");
            let change = ExportChange {
                anchor: child.clone(),
                kind: ExportChangeKind::Add,
                attributes: Attributes::new(),
                references: Attributes::new(),
            };
            let mut results = BTreeMap::new();
            results.insert(
                child.clone(),
                ExportOutcome::ProvisioningParent {
                    parent: parent.clone(),
                },
            );
            let run = model
                .apply(&Step::Export {
                    partition: part(),
                    enqueue: vec![change],
                    results,
                    fault: None,
                })
                .expect("an export is a run");
            assert_eq!(run.status, RunStatus::CompletedWarnings);
            assert_eq!((run.errors, run.warnings), (0, 1));
            assert_eq!(
                model.pending_exports(&part()),
                vec![
                    (parent.clone(), ExportChangeKind::Add),
                    (child.clone(), ExportChangeKind::Add)
                ]
            );

            // Next run: the parent first, then the child in the same run.
            let run = model
                .apply(&Step::Export {
                    partition: part(),
                    enqueue: vec![],
                    results: BTreeMap::new(),
                    fault: None,
                })
                .expect("an export is a run");
            assert_eq!(run.id, 2);
            assert_eq!(run.status, RunStatus::Success);
            assert!(model.pending_exports(&part()).is_empty());
        }
    }
    fn fault_run(kind: RunKind, fault: FaultKind) -> Step {
        import(
            kind,
            vec![ImportPage::Fault(crate::core::Fault {
                kind: fault,
                message: "generated".into(),
            })],
        )
    }

    fn admin(action: AdminAction, partition: Option<PartitionName>) -> Step {
        Step::Admin { partition, action }
    }

    fn status(model: &mut ReferenceModel, step: &Step) -> RunStatus {
        model.apply(step).expect("a run").status
    }

    #[test]
    fn credentials_fault_disables_until_updated_then_enabled() {
        let mut model = model(100);
        model.apply(&import(
            RunKind::FullImport,
            vec![page("F1", vec![add("u1")], vec![])],
        ));
        let run = model
            .apply(&fault_run(RunKind::DeltaImport, FaultKind::BadCredentials))
            .expect("a run");
        assert_eq!(run.status, RunStatus::StoppedBadServerCredentials);
        assert_eq!(model.health(&part()), "disabled");
        // Every partition, every kind; a refused export still queues its changes.
        assert_eq!(
            status(&mut model, &import(RunKind::FullImport, vec![])),
            RunStatus::NoStartDisabled
        );
        let other = PartitionName::from("other");
        let refused = model
            .apply(&Step::Export {
                partition: other.clone(),
                enqueue: vec![ExportChange {
                    anchor: anchor("u9"),
                    kind: ExportChangeKind::Add,
                    attributes: Attributes::new(),
                    references: Attributes::new(),
                }],
                results: BTreeMap::new(),
                fault: None,
            })
            .expect("a run");
        assert_eq!(refused.status, RunStatus::NoStartDisabled);
        assert_eq!(refused.id, 4);
        assert_eq!(
            model.pending_exports(&other),
            vec![(anchor("u9"), ExportChangeKind::Add)]
        );
        assert_eq!(model.health(&other), "disabled");

        // enable alone does nothing; resume does nothing either.
        model.apply(&admin(AdminAction::Enable, None));
        model.apply(&admin(AdminAction::Resume, None));
        assert_eq!(model.health(&part()), "disabled");
        // credentials-updated (any partition argument) then enable.
        model.apply(&admin(AdminAction::CredentialsUpdated, Some(other.clone())));
        assert_eq!(
            status(&mut model, &import(RunKind::DeltaImport, vec![])),
            RunStatus::NoStartDisabled
        );
        model.apply(&admin(AdminAction::Enable, Some(part())));
        assert_eq!(model.health(&part()), "enabled");
        assert_eq!(
            status(&mut model, &import(RunKind::DeltaImport, vec![])),
            RunStatus::Success
        );
        assert_eq!(model.committed_watermark(&part()), Some(wm("F1")));

        // credentials-updated while enabled does not pre-authorise the next enable.
        model.apply(&admin(AdminAction::CredentialsUpdated, None));
        model.apply(&fault_run(
            RunKind::FullImport,
            FaultKind::OauthTokenExpired,
        ));
        model.apply(&admin(AdminAction::Enable, None));
        assert_eq!(model.health(&part()), "disabled");
    }

    #[test]
    fn three_consecutive_server_down_runs_suspend_until_resume() {
        let mut model = model(100);
        let other = PartitionName::from("other");
        let server_down_export = |partition: &PartitionName| Step::Export {
            partition: partition.clone(),
            enqueue: vec![],
            results: BTreeMap::new(),
            fault: Some(crate::core::Fault {
                kind: FaultKind::ServerDown,
                message: "down".into(),
            }),
        };
        // Two server-down runs, then one that ends without it: the count starts again.
        model.apply(&fault_run(RunKind::DeltaImport, FaultKind::ServerDown));
        model.apply(&server_down_export(&other));
        assert_eq!(model.health(&part()), "enabled");
        model.apply(&fault_run(RunKind::FullImport, FaultKind::FailedConnection));
        model.apply(&fault_run(RunKind::DeltaImport, FaultKind::ServerDown));
        model.apply(&fault_run(RunKind::DeltaImport, FaultKind::ServerDown));
        assert_eq!(model.health(&part()), "enabled");
        // A non-transient fault resets the count too.
        model.apply(&fault_run(
            RunKind::DeltaImport,
            FaultKind::WatermarkExpired,
        ));
        assert_eq!(model.health(&part()), "enabled");
        // Two server-down runs, with a refused run between them that neither counts nor resets.
        model.apply(&fault_run(RunKind::FullImport, FaultKind::ServerDown));
        assert_eq!(
            status(&mut model, &import(RunKind::DeltaImport, vec![])),
            RunStatus::NoStartFullImportRequired
        );
        model.apply(&server_down_export(&other));
        assert_eq!(model.health(&part()), "enabled");
        let third = model
            .apply(&fault_run(RunKind::FullImport, FaultKind::ServerDown))
            .expect("a run");
        assert_eq!(third.status, RunStatus::StoppedServerDown);
        assert_eq!(model.health(&part()), "suspended");
        assert_eq!(model.health(&other), "suspended");
        // Suspended comes before full-import-required.
        assert_eq!(
            status(&mut model, &import(RunKind::DeltaImport, vec![])),
            RunStatus::NoStartSuspended
        );
        assert_eq!(
            status(&mut model, &server_down_export(&other)),
            RunStatus::NoStartSuspended
        );
        // A partition's resume does not lift the connector's suspension.
        model.apply(&admin(AdminAction::Resume, Some(part())));
        assert_eq!(model.health(&part()), "suspended");
        model.apply(&admin(AdminAction::Resume, None));
        assert_eq!(model.health(&part()), "enabled");
        // The counts were reset: two more server-down runs do not suspend.
        model.apply(&fault_run(RunKind::FullImport, FaultKind::ServerDown));
        model.apply(&fault_run(RunKind::FullImport, FaultKind::ServerDown));
        assert_eq!(model.health(&part()), "enabled");
        model.apply(&fault_run(RunKind::FullImport, FaultKind::ServerDown));
        assert_eq!(model.health(&part()), "suspended");
    }

    fn model_with(settings: Settings) -> ReferenceModel {
        ReferenceModel::new(ConnectorName::from("hr"), settings, 100)
    }

    /// The alert codes on the wall with their scope, severity and partition (for short asserts).
    fn wall(model: &ReferenceModel) -> Vec<(AlertScope, Severity, String, Option<String>)> {
        model
            .alerts()
            .into_iter()
            .map(|alert| {
                (
                    alert.scope,
                    alert.severity,
                    alert.code,
                    alert.partition.map(|p| p.0),
                )
            })
            .collect()
    }

    #[test]
    fn stuck_watermark_opens_at_stuck_after_and_closes_when_the_watermark_moves() {
        let mut model = model_with(Settings {
            stuck_after: 2,
            ..Settings::default()
        });
        model.apply(&import(
            RunKind::FullImport,
            vec![page("F1", vec![add("u1")], vec![])],
        ));
        let held_back = || {
            import(
                RunKind::DeltaImport,
                vec![page("D", vec![add("u2")], vec![continue_error("u2")])],
            )
        };
        model.apply(&held_back());
        assert_eq!(model.stuck_count(&part()), 1);
        assert!(!model.stuck_warning(&part()));
        // A run stopped by a fault and a clean run that reads nothing new neither count nor reset.
        model.apply(&fault_run(RunKind::DeltaImport, FaultKind::ServerDown));
        model.apply(&import(RunKind::DeltaImport, vec![]));
        assert_eq!(model.stuck_count(&part()), 1);
        model.apply(&held_back());
        assert_eq!(model.stuck_count(&part()), 2);
        let stuck: Vec<ModelAlert> = model
            .alerts()
            .into_iter()
            .filter(|alert| alert.code == "stuck-watermark")
            .collect();
        assert_eq!(stuck.len(), 1);
        assert_eq!(stuck[0].severity, Severity::Warning);
        assert_eq!(stuck[0].objects, vec![anchor("u2")]);
        // The object read cleanly moves the watermark: the count resets, the warning closes.
        model.apply(&import(
            RunKind::DeltaImport,
            vec![page("D2", vec![add("u2")], vec![])],
        ));
        assert_eq!(model.stuck_count(&part()), 0);
        assert!(model.alerts().is_empty());
    }

    #[test]
    fn the_wall_escalates_a_transient_fault_and_tells_partition_owners() {
        let mut model = model_with(Settings {
            retry_count: 2,
            ..Settings::default()
        });
        model.apply(&import(
            RunKind::FullImport,
            vec![page("F1", vec![], vec![])],
        ));
        model.apply(&fault_run(RunKind::DeltaImport, FaultKind::ServerDown));
        let warning = (
            AlertScope::Connector,
            Severity::Warning,
            "server-down".to_owned(),
            None,
        );
        let info = (
            AlertScope::Connector,
            Severity::Info,
            "server-down".to_owned(),
            Some("people".to_owned()),
        );
        assert_eq!(wall(&model), vec![warning.clone(), info.clone()]);
        model.apply(&fault_run(RunKind::DeltaImport, FaultKind::ServerDown));
        let error = (
            AlertScope::Connector,
            Severity::Error,
            "server-down".to_owned(),
            None,
        );
        assert_eq!(wall(&model), vec![error, info.clone()]);
        // resume lifts the suspension; the fault's alert is a warning again until a run ends
        // without it.
        model.apply(&admin(AdminAction::Resume, None));
        assert_eq!(wall(&model), vec![warning, info]);
        model.apply(&import(RunKind::DeltaImport, vec![]));
        assert!(wall(&model).is_empty());
    }

    #[test]
    fn object_errors_become_permanent_after_retry_count_runs_of_the_same_name() {
        let mut model = model_with(Settings {
            retry_count: 2,
            ..Settings::default()
        });
        let failing = || {
            import(
                RunKind::DeltaImport,
                vec![page(
                    "D",
                    vec![],
                    vec![continue_error("u1"), continue_error("u1")],
                )],
            )
        };
        model.apply(&failing());
        let object = |severity| {
            (
                AlertScope::Object,
                severity,
                "invalid-characters-error".to_owned(),
                Some("people".to_owned()),
            )
        };
        // Twice in one run counts once.
        assert_eq!(wall(&model), vec![object(Severity::Warning)]);
        model.apply(&fault_run(RunKind::DeltaImport, FaultKind::ServerDown));
        model.apply(&import(RunKind::DeltaImport, vec![]));
        model.apply(&failing());
        assert!(wall(&model).contains(&object(Severity::Error)));
        model.apply(&import(
            RunKind::DeltaImport,
            vec![page("D", vec![add("u1")], vec![])],
        ));
        assert!(wall(&model).is_empty());
    }

    /// SPEC §8: set-watermark goes back to what a run committed on the partition (restarting
    /// R6's count) and is refused for a run that committed nothing there; require-full-import
    /// sets the flag until a clean full import.
    #[test]
    fn set_watermark_and_require_full_import() {
        let mut model = model(10);
        let action = OperatorAction::SetWatermark;
        assert_eq!(
            model.administer(Some(&part()), action, Some(1)),
            Err(ModelRefusal::UnknownPartition)
        );
        model.apply(&import(
            RunKind::DeltaImport,
            vec![page("A", vec![add("u1")], vec![])],
        ));
        let held = vec![page("B", vec![], vec![continue_error("u2")])];
        for _ in 0..3 {
            model.apply(&import(RunKind::DeltaImport, held.clone()));
        }
        assert_eq!(model.committed_watermark(&part()), Some(wm("A")));
        assert!(model.stuck_warning(&part()));
        // Run 2 was held back at its first page: it committed nothing.
        assert_eq!(
            model.administer(Some(&part()), action, Some(2)),
            Err(ModelRefusal::NotCommitted)
        );
        assert_eq!(
            model.administer(Some(&part()), action, None),
            Err(ModelRefusal::NoRun)
        );
        assert_eq!(
            model.administer(None, action, Some(1)),
            Err(ModelRefusal::NoPartition)
        );
        assert_eq!(model.administer(Some(&part()), action, Some(1)), Ok(()));
        assert_eq!(model.committed_watermark(&part()), Some(wm("A")));
        assert_eq!(
            (model.stuck_count(&part()), model.stuck_warning(&part())),
            (0, false)
        );

        let require = OperatorAction::RequireFullImport;
        assert_eq!(model.administer(Some(&part()), require, None), Ok(()));
        assert!(model.full_import_required(&part()));
        let refused = model
            .apply(&import(RunKind::DeltaImport, vec![]))
            .expect("a run");
        assert_eq!(refused.status, RunStatus::NoStartFullImportRequired);
        model.apply(&import(
            RunKind::FullImport,
            vec![page("F", vec![add("u1")], vec![])],
        ));
        assert!(!model.full_import_required(&part()));
        assert_eq!(model.committed_watermark(&part()), Some(wm("F")));
    }
}
