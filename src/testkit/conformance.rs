//! The connector conformance kit: property tests of the [`Connector`] contract, run against an
//! embedder's own connector over a test source the embedder controls.
//!
//! The embedder implements [`ConformanceSource`] for a source system they can change from a test
//! (an in-memory directory, a JSON-lines feed in a temporary folder, an LDAP server in a
//! container): it builds a fresh connector for the source and carries out source changes (add,
//! modify, delete, make an entry unreadable and readable again, break or prune the change log).
//! [`operations`] is a proptest strategy of sequences of such changes interleaved with full and
//! delta imports; [`check`] plays one sequence through the real [`Engine`] into a
//! [`MemoryStore`] log, each run's connector wrapped in a [`Recording`], while the kit keeps its
//! own view of what the source holds. After every run it checks the [`Property`]s:
//!
//! - [`Property::FullImportComplete`]: after a clean full import, the connector space holds every
//!   readable entry with the attributes the source has, and nothing else live;
//! - [`Property::DeltaMissesNothing`]: after a delta import from the committed watermark that ran
//!   to its end, the same holds for every readable entry, and deleted entries are gone;
//! - [`Property::ReadsHaveNoEffects`]: an import leaves the source as it was
//!   ([`ConformanceSource::observe`]) and a fresh connector asked the same page requests again
//!   answers the same ([`super::recording::repeat_reads`]);
//! - [`Property::ObjectErrorsReported`]: every unreadable entry is a [`DiscoveryError`] on a page
//!   of every import that ran to its end (its change cannot have been committed past,
//!   [R1](crate::rules#r1)), never dropped and never passed as a change; no readable entry is
//!   reported as an error;
//! - [`Property::FaultCodes`]: after a pruned change log the next delta import ends
//!   `stopped-watermark-expired` (the fault `watermark-expired`); after a broken change log it ends
//!   `stopped-delta-log-broken` (a fatal `import-read-error` or `import-parse-error`), both setting
//!   `full-import-required` ([R5](crate::rules#r5)); a full import still works; a healthy source
//!   faults never (a connector whose delta import needs a committed watermark,
//!   [`Capabilities::delta_needs_watermark`], faults `watermark-expired` without one);
//! - [`Property::ModelAgreement`]: the engine's log agrees ([`agreement::compare`]) with the
//!   [`ReferenceModel`] fed with what the connector answered.
//!
//! A failure ([`Failure`]) names the property, the operation that broke it and the whole sequence,
//! so proptest's shrunk counterexample reads as a story.
//!
//! ```
//! use proptest::prelude::*;
//! use std::sync::{Arc, Mutex};
//! use syncfold::core::*;
//! use syncfold::testkit::conformance::{self, Capabilities, ConformanceSource, SourceResult};
//!
//! /// The test source: a toy system (a list of entries) and the connector under test for it.
//! #[derive(Default)]
//! struct Names(Arc<Mutex<Vec<(Anchor, Attributes)>>>);
//! # struct NamesConnector(Arc<Mutex<Vec<(Anchor, Attributes)>>>);
//! # impl syncfold::engine::Connector for NamesConnector {
//! #     async fn open_run(&mut self, _: &syncfold::engine::RunContext) -> Result<(), Fault> { Ok(()) }
//! #     async fn import_page(&mut self, request: &syncfold::engine::ImportRequest)
//! #         -> Result<Option<Page>, Fault> {
//! #         // One page listing everything; this toy has no change log, so full imports only.
//! #         if request.page > 1 { return Ok(None); }
//! #         let entries = self.0.lock().map_err(|_| Fault {
//! #             kind: FaultKind::ConnectorException, message: "poisoned".into() })?;
//! #         let changes = entries.iter().map(|(anchor, attributes)| ObjectChange {
//! #             anchor: anchor.clone(), kind: ChangeKind::Add, attributes: attributes.clone(),
//! #         }).collect();
//! #         Ok(Some(Page { changes, watermark: Some(Watermark::from_text("0")), ..Page::default() }))
//! #     }
//! #     async fn export(&mut self, _: &syncfold::engine::RunContext, _: &[ExportChange])
//! #         -> Result<Vec<(Anchor, ExportOutcome)>, Fault> { Ok(Vec::new()) }
//! # }
//!
//! impl ConformanceSource for Names {
//!     type Connector = NamesConnector; // your connector
//!     fn capabilities(&self) -> Capabilities {
//!         Capabilities { delta_import: false, ..Capabilities::BASIC }
//!     }
//!     fn connector(&mut self) -> NamesConnector {
//!         NamesConnector(self.0.clone())
//!     }
//!     fn add(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult {
//!         self.0.lock().map_err(|e| e.to_string())?.push((anchor.clone(), attributes.clone()));
//!         Ok(())
//!     }
//!     fn modify(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult {
//!         for (entry, values) in self.0.lock().map_err(|e| e.to_string())?.iter_mut() {
//!             if entry == anchor { values.overlay(attributes) }
//!         }
//!         Ok(())
//!     }
//!     fn delete(&mut self, anchor: &Anchor) -> SourceResult {
//!         self.0.lock().map_err(|e| e.to_string())?.retain(|(entry, _)| entry != anchor);
//!         Ok(())
//!     }
//! }
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     // In a test file: `#[test]` here.
//!     fn names_conform(ops in conformance::operations(&Names::default().capabilities(), 1..16)) {
//!         conformance::check(Names::default(), &ops)?;
//!     }
//! }
//! # names_conform();
//! ```

use super::agreement;
use super::recording::{import_pages, repeat_reads, Call, Recording};
use super::reference::ReferenceModel;
use crate::core::*;
use crate::engine::{Connector, Engine, EngineOptions};
use crate::log::{verify, Log, LogOptions, MemoryStore};
use crate::script::Step;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// What a source change method returns: `Err` when the test source could not carry the change
/// out (the kit reports it as a [`Property::Setup`] failure, not as a broken property).
pub type SourceResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Which changes a test source can make and which imports its connector supports. Operations a
/// source cannot do are never generated by [`operations`] and skipped by [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// [`ConformanceSource::add`].
    pub add: bool,
    /// [`ConformanceSource::modify`].
    pub modify: bool,
    /// [`ConformanceSource::delete`].
    pub delete: bool,
    /// [`ConformanceSource::make_unreadable`] and [`ConformanceSource::make_readable`].
    pub unreadable: bool,
    /// [`ConformanceSource::break_change_log`].
    pub break_change_log: bool,
    /// [`ConformanceSource::prune_change_log`].
    pub prune_change_log: bool,
    /// The connector does delta imports (a listing-only connector does full imports only).
    pub delta_import: bool,
    /// The connector's delta import needs a committed watermark: without one (no full import
    /// has committed a position yet) it faults `watermark-expired`, as after a prune, and the
    /// kit expects `stopped-watermark-expired`. Off, a delta import without a watermark reads
    /// the change log from its beginning and must be healthy until the log is pruned. A real
    /// change log with a retention (an LDAP accesslog purged by `logpurge`) cannot tell whether
    /// its beginning is the source's: such a connector asks for a full import first.
    pub delta_needs_watermark: bool,
    /// The source holds an attribute's values as a set, as LDAP does: a multi-value with a
    /// duplicate is refused (LDAP result 20, `attributeOrValueExists`), and a connector cannot
    /// tell a one-value set from a single value, so it imports it as one. On, the kit generates
    /// multi-values of two or three distinct values (lowercase letters, so distinct under
    /// case-insensitive matching too), in any order; off, any list of one or two values.
    pub value_sets: bool,
}

impl Capabilities {
    /// Every change and both imports (a delta import without a watermark reads the change log
    /// from its beginning).
    pub const ALL: Capabilities = Capabilities {
        add: true,
        modify: true,
        delete: true,
        unreadable: true,
        break_change_log: true,
        prune_change_log: true,
        delta_import: true,
        delta_needs_watermark: false,
        value_sets: false,
    };

    /// Add, modify, delete, full and delta imports: what any source with a change log can do.
    pub const BASIC: Capabilities = Capabilities {
        unreadable: false,
        break_change_log: false,
        prune_change_log: false,
        ..Capabilities::ALL
    };

    /// Whether the source can carry out `operation`.
    pub fn allows(&self, operation: &Operation) -> bool {
        match operation {
            Operation::Add { .. } => self.add,
            Operation::Modify { .. } => self.modify,
            Operation::Delete { .. } => self.delete,
            Operation::MakeUnreadable { .. } | Operation::MakeReadable { .. } => self.unreadable,
            Operation::BreakChangeLog => self.break_change_log,
            Operation::PruneChangeLog => self.prune_change_log,
            Operation::FullImport => true,
            Operation::DeltaImport => self.delta_import,
        }
    }
}

/// The test source an embedder hands the kit: a system they can change from a test, and the
/// connector under test for it.
///
/// Each change method changes the *source*, as an administrator or an application would; the kit
/// calls them only between runs, and only when its own view says they apply (`modify`, `delete`
/// and `make_unreadable` on a readable entry that exists, `add` on an anchor that does not,
/// `make_readable` on an unreadable entry). Every change must reach the change log that delta
/// imports read, as a change after every watermark handed out before it.
pub trait ConformanceSource {
    /// The connector under test.
    type Connector: Connector;

    /// The changes this source can make. Methods for changes it cannot make are never called.
    fn capabilities(&self) -> Capabilities;

    /// A fresh connector for this source. The kit asks for one per run (and one more to repeat a
    /// run's reads), so whatever a connector must remember between runs lives at the source or
    /// in the watermark, as with a real engine that restarts.
    fn connector(&mut self) -> Self::Connector;

    /// The anchor of entry number `index` (the kit draws entries from a small pool so that
    /// changes meet again). The default is `e<index>`; a directory may want a DN.
    fn anchor(&self, index: usize) -> Anchor {
        Anchor(format!("e{index}"))
    }

    /// What the connector imports for entry `anchor` while it holds `attributes` (the ones the
    /// kit set). The default is exactly those. A source whose entries carry attributes of their
    /// own adds them here: an LDAP entry has the `objectClass` and the naming and mandatory
    /// attributes (`uid`, `cn`, `sn`) its schema requires, a table row its key columns. The kit
    /// compares the connector space with this, so return what the source holds, not what the
    /// connector happens to answer.
    fn imported(&self, anchor: &Anchor, attributes: &Attributes) -> Attributes {
        let _ = anchor;
        attributes.clone()
    }

    /// Creates an entry `anchor` with exactly these attributes (and whatever attributes of its
    /// own the source gives every entry, [`ConformanceSource::imported`]). Its connector must
    /// then import it with them (a full import: an add; a delta import: an add or an update).
    fn add(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult;

    /// Sets these attributes on the entry (other attributes keep their values), as a change in
    /// the change log. Imported, the entry's attributes are its old ones overlaid with these.
    fn modify(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult;

    /// Deletes the entry. A delta import must then report a delete change for it; a clean full
    /// import no longer lists it (so the engine obsoletes it, [R3](crate::rules#r3)).
    fn delete(&mut self, anchor: &Anchor) -> SourceResult;

    /// Makes the entry unreadable (a value the connector cannot decode, a permission taken away),
    /// as a change in the change log. Every import reading it must then report it as a
    /// [`DiscoveryError`] on a page, and not as a change, until it is readable again.
    fn make_unreadable(&mut self, anchor: &Anchor) -> SourceResult {
        Err(format!("make_unreadable({anchor}) is not supported by this source").into())
    }

    /// Makes an unreadable entry readable again, with the attributes it had, as a change in the
    /// change log: the next import reads it whole.
    fn make_readable(&mut self, anchor: &Anchor) -> SourceResult {
        Err(format!("make_readable({anchor}) is not supported by this source").into())
    }

    /// Breaks the change log at its current end (a corrupt or unparsable record): a delta import
    /// from any watermark handed out before must then stop with a fatal import error
    /// (`import-read-error` or `import-parse-error`, [R5](crate::rules#r5)), while a full import
    /// still reads the
    /// entries and proposes a position after the break, from which delta imports work again.
    fn break_change_log(&mut self) -> SourceResult {
        Err("break_change_log is not supported by this source".into())
    }

    /// Prunes the change log up to its current end, so that every watermark handed out before
    /// (and no watermark at all) has expired: the next delta import from one must fail with the
    /// fault `watermark-expired` ([R5](crate::rules#r5), SPEC §9), while a full import proposes a
    /// position from which
    /// delta imports work again.
    fn prune_change_log(&mut self) -> SourceResult {
        Err("prune_change_log is not supported by this source".into())
    }

    /// Everything the source holds, rendered as text, for the check that an import changes
    /// nothing at the source; `None` (the default) when the source cannot be observed whole,
    /// which leaves only the repeated-reads half of [`Property::ReadsHaveNoEffects`].
    fn observe(&self) -> Option<String> {
        None
    }
}

/// One step of a conformance sequence: a change at the source, or an import through the engine.
/// Entries are numbers into the pool named by [`ConformanceSource::anchor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Create entry `entry` with these attributes (skipped when it exists).
    Add {
        /// The entry's number.
        entry: usize,
        /// Its attributes.
        attributes: Attributes,
    },
    /// Set these attributes on a readable entry (skipped otherwise).
    Modify {
        /// The entry's number.
        entry: usize,
        /// The attributes to set.
        attributes: Attributes,
    },
    /// Delete a readable entry (skipped otherwise).
    Delete {
        /// The entry's number.
        entry: usize,
    },
    /// Make a readable entry unreadable (skipped otherwise).
    MakeUnreadable {
        /// The entry's number.
        entry: usize,
    },
    /// Make an unreadable entry readable again (skipped otherwise).
    MakeReadable {
        /// The entry's number.
        entry: usize,
    },
    /// Break the change log.
    BreakChangeLog,
    /// Prune the change log.
    PruneChangeLog,
    /// Run a full import through the engine.
    FullImport,
    /// Run a delta import through the engine.
    DeltaImport,
}

impl Operation {
    /// The entry a source change is about; `None` for the change log's operations and imports.
    pub fn entry(&self) -> Option<usize> {
        match self {
            Operation::Add { entry, .. }
            | Operation::Modify { entry, .. }
            | Operation::Delete { entry }
            | Operation::MakeUnreadable { entry }
            | Operation::MakeReadable { entry } => Some(*entry),
            Operation::BreakChangeLog
            | Operation::PruneChangeLog
            | Operation::FullImport
            | Operation::DeltaImport => None,
        }
    }
}

/// How many entries the pool of generated sequences holds.
pub const ENTRIES: usize = 6;

/// The attribute names generated sequences use (`inetOrgPerson` has both, so an LDAP test source
/// takes them as they are).
pub const ATTRIBUTE_NAMES: [&str; 2] = ["mail", "title"];

/// One or two attributes of [`ATTRIBUTE_NAMES`]; multi-values as [`Capabilities::value_sets`]
/// says the source holds them.
fn attributes(value_sets: bool) -> impl Strategy<Value = Attributes> {
    let multi = if value_sets {
        btree_set("[a-z]{1,4}", 2..=3)
            .prop_map(|set| set.into_iter().collect::<Vec<_>>())
            .prop_shuffle()
            .boxed()
    } else {
        vec("[a-z]{1,4}", 1..3).boxed()
    };
    btree_map(
        proptest::sample::select(ATTRIBUTE_NAMES.to_vec()).prop_map(str::to_owned),
        prop_oneof![
            3 => "[a-z]{1,6}".prop_map(AttributeValue::Single),
            1 => multi.prop_map(AttributeValue::Multi),
        ],
        1..=2,
    )
    .prop_map(Attributes)
}

/// Sequences of `length` operations a source with `capabilities` can carry out: source changes
/// interleaved with full and delta imports (imports about one step in three, so that several
/// changes land between two imports and both kinds of import meet every change).
pub fn operations(
    capabilities: &Capabilities,
    length: Range<usize>,
) -> impl Strategy<Value = Vec<Operation>> {
    let caps = *capabilities;
    let entry = 0..ENTRIES;
    let weight = |allowed: bool, weight: u32| if allowed { weight } else { 0 };
    let operation = prop_oneof![
        weight(caps.add, 6) => (entry.clone(), attributes(caps.value_sets))
            .prop_map(|(entry, attributes)| Operation::Add { entry, attributes }),
        weight(caps.modify, 4) => (entry.clone(), attributes(caps.value_sets))
            .prop_map(|(entry, attributes)| Operation::Modify { entry, attributes }),
        weight(caps.delete, 2) => entry.clone().prop_map(|entry| Operation::Delete { entry }),
        weight(caps.unreadable, 2) => entry.clone().prop_map(|entry| Operation::MakeUnreadable { entry }),
        weight(caps.unreadable, 2) => entry.prop_map(|entry| Operation::MakeReadable { entry }),
        weight(caps.break_change_log, 1) => Just(Operation::BreakChangeLog),
        weight(caps.prune_change_log, 1) => Just(Operation::PruneChangeLog),
        3 => Just(Operation::FullImport),
        weight(caps.delta_import, 5) => Just(Operation::DeltaImport),
    ];
    vec(operation, length)
}

/// A property of the connector contract the kit checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// After a clean full import the connector space is the source: every readable entry live
    /// with its attributes, nothing else live.
    FullImportComplete,
    /// After a delta import that ran to its end, every readable entry is live with its attributes
    /// and every deleted entry is gone: the delta from the committed watermark missed nothing.
    DeltaMissesNothing,
    /// An import leaves the source as it was, and the same page requests get the same answers.
    ReadsHaveNoEffects,
    /// Unreadable entries are object errors on a page, never dropped or passed as changes; readable
    /// entries are not errors.
    ObjectErrorsReported,
    /// A pruned change log is `watermark-expired`, a broken one a fatal import error
    /// (`stopped-delta-log-broken`), both setting `full-import-required`; a healthy source and a
    /// full import fault never (but see [`Capabilities::delta_needs_watermark`]).
    FaultCodes,
    /// The engine's log agrees with the reference model fed with what the connector answered.
    ModelAgreement,
    /// Not a property: the test source could not carry out a change, or the engine or its log
    /// failed (a bug of the test source or of syncfold).
    Setup,
}

impl Property {
    /// A short dash-separated name, as failures print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Property::FullImportComplete => "full-import-complete",
            Property::DeltaMissesNothing => "delta-misses-nothing",
            Property::ReadsHaveNoEffects => "reads-have-no-effects",
            Property::ObjectErrorsReported => "object-errors-reported",
            Property::FaultCodes => "fault-codes",
            Property::ModelAgreement => "model-agreement",
            Property::Setup => "setup",
        }
    }
}

/// A property broke: which one, at which operation, and why, with the whole sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The property.
    pub property: Property,
    /// The index in `operations` of the operation during or after which it broke.
    pub at: usize,
    /// What was expected and what happened.
    pub detail: String,
    /// The sequence checked.
    pub operations: Vec<Operation>,
    /// For each operation, whether it was carried out (`false`: it did not apply and was skipped).
    pub applied: Vec<bool>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the connector breaks `{}` at operation {}: {}",
            self.property.as_str(),
            self.at,
            self.detail
        )?;
        writeln!(f, "operations:")?;
        for (index, operation) in self.operations.iter().enumerate() {
            let marker = if index == self.at { ">" } else { " " };
            let skipped = match self.applied.get(index) {
                Some(false) => "  (skipped: does not apply)",
                Some(true) => "",
                None => "  (not reached)",
            };
            writeln!(f, "{marker}{index:>3}: {operation:?}{skipped}")?;
        }
        Ok(())
    }
}

/// A `Failure` is an error, so `check(..)?` in a `proptest!` body fails the case with its text.
impl std::error::Error for Failure {}

/// What a passing [`check`] exercised, so a test can show its sequences are meaningful (that
/// deltas ran to their end, that unreadable entries and faults happened).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Source changes carried out.
    pub changes: u64,
    /// Runs through the engine (refused ones included).
    pub runs: u64,
    /// Clean full imports checked against the source.
    pub clean_full_imports: u64,
    /// Delta imports that ran to their end, checked against the source.
    pub complete_deltas: u64,
    /// Object errors reported for unreadable entries.
    pub object_errors: u64,
    /// Delta imports that ended `stopped-watermark-expired` after a prune.
    pub expired: u64,
    /// Delta imports that ended `stopped-delta-log-broken` after a break.
    pub broken: u64,
}

impl std::ops::AddAssign for Coverage {
    fn add_assign(&mut self, other: Coverage) {
        self.changes += other.changes;
        self.runs += other.runs;
        self.clean_full_imports += other.clean_full_imports;
        self.complete_deltas += other.complete_deltas;
        self.object_errors += other.object_errors;
        self.expired += other.expired;
        self.broken += other.broken;
    }
}

/// One entry as the kit knows the source holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    attributes: Attributes,
    readable: bool,
}

/// The kit's own view of the source: entries, and whether a delta import from the committed
/// watermark must meet a pruned or broken change log.
#[derive(Clone, Debug, Default)]
struct Expected {
    entries: BTreeMap<Anchor, Entry>,
    /// Pruned since the last clean full import (which commits a position after the prune).
    pruned: bool,
    /// Broken since the last clean full import.
    broken: bool,
    /// [`Capabilities::delta_needs_watermark`].
    needs_watermark: bool,
}

impl Expected {
    fn unreadable(&self) -> BTreeSet<Anchor> {
        self.entries
            .iter()
            .filter(|(_, entry)| !entry.readable)
            .map(|(anchor, _)| anchor.clone())
            .collect()
    }

    /// Whether `operation` applies to the source as the kit knows it.
    fn applies(&self, anchor: Option<&Anchor>, operation: &Operation) -> bool {
        let entry = anchor.and_then(|anchor| self.entries.get(anchor));
        match operation {
            Operation::Add { .. } => entry.is_none(),
            Operation::Modify { .. }
            | Operation::Delete { .. }
            | Operation::MakeUnreadable { .. } => entry.is_some_and(|entry| entry.readable),
            Operation::MakeReadable { .. } => entry.is_some_and(|entry| !entry.readable),
            _ => true,
        }
    }
}

const CONNECTOR: &str = "conformance";
const PARTITION: &str = "source";

/// The settings every run of the kit uses: the defaults, with no deletion guard, so that a clean
/// full import always applies its obsoletion and the kit can compare the connector space.
fn kit_settings() -> Settings {
    Settings {
        deletion_threshold: DeletionThreshold::Count(u64::MAX),
        ..Settings::default()
    }
}

/// Plays `operations` against `source` through the real engine, checking every [`Property`]
/// after every run; returns what was exercised, or the first property that broke.
///
/// Synchronous: it runs the engine on a runtime of its own, so call it from a plain `#[test]` or
/// a `proptest!` body, not from inside an async runtime. That runtime is a current-thread tokio
/// runtime with its I/O and time drivers enabled, so a connector that talks to a real server
/// (sockets, timeouts, a task spawned to drive its connection) runs on it as on the engine's.
pub fn check<S: ConformanceSource>(
    mut source: S,
    operations: &[Operation],
) -> Result<Coverage, Failure> {
    let mut checker = Checker {
        operations,
        applied: Vec::with_capacity(operations.len()),
        at: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| checker.fail(Property::Setup, format!("no tokio runtime: {error}")))?;
    let (log, _) = Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0))
        .map_err(|error| checker.fail(Property::Setup, format!("no log: {error}")))?;
    let options = EngineOptions {
        connector_call_timeout: Duration::from_secs(30),
        pages_per_run_max: 100_000,
        actor: Actor::from_name("conformance-kit"),
        ..EngineOptions::default()
    };
    let engine = Engine::with_clock(log, options, || Timestamp(0));
    let result = checker.play(&mut source, &runtime, &engine);
    // The log the engine wrote must verify, whatever the connector did.
    let verified = engine
        .shutdown()
        .map_err(|error| error.to_string())
        .and_then(|log| verify(log.store()).map_err(|error| error.to_string()));
    let coverage = result?;
    verified
        .map_err(|error| checker.fail(Property::Setup, format!("the engine's log: {error}")))?;
    Ok(coverage)
}

/// Plays a sequence and builds failures that name where it stands.
struct Checker<'a> {
    operations: &'a [Operation],
    applied: Vec<bool>,
    at: usize,
}

impl Checker<'_> {
    fn fail(&self, property: Property, detail: String) -> Failure {
        Failure {
            property,
            at: self.at,
            detail,
            operations: self.operations.to_vec(),
            applied: self.applied.clone(),
        }
    }

    fn play<S: ConformanceSource>(
        &mut self,
        source: &mut S,
        runtime: &tokio::runtime::Runtime,
        engine: &Engine<MemoryStore>,
    ) -> Result<Coverage, Failure> {
        let capabilities = source.capabilities();
        let settings = kit_settings();
        let connector = ConnectorName::from(CONNECTOR);
        let partition = PartitionName::from(PARTITION);
        let mut model = ReferenceModel::new(connector.clone(), settings.clone(), 100);
        let mut expected = Expected {
            needs_watermark: capabilities.delta_needs_watermark,
            ..Expected::default()
        };
        let mut coverage = Coverage::default();
        for (index, operation) in self.operations.iter().enumerate() {
            self.at = index;
            let anchor = operation.entry().map(|entry| source.anchor(entry));
            if !capabilities.allows(operation) || !expected.applies(anchor.as_ref(), operation) {
                self.applied.push(false);
                continue;
            }
            self.applied.push(true);
            let kind = match operation {
                Operation::FullImport => RunKind::FullImport,
                Operation::DeltaImport => RunKind::DeltaImport,
                change => {
                    self.change(source, &mut expected, anchor, change)?;
                    coverage.changes += 1;
                    continue;
                }
            };
            let run = Run {
                connector: &connector,
                partition: &partition,
                kind,
                settings: &settings,
                runtime,
                engine,
            };
            self.import(source, &run, &mut model, &mut expected, &mut coverage)?;
            coverage.runs += 1;
        }
        Ok(coverage)
    }

    /// Carries out a source change and updates the kit's view.
    fn change<S: ConformanceSource>(
        &self,
        source: &mut S,
        expected: &mut Expected,
        anchor: Option<Anchor>,
        operation: &Operation,
    ) -> Result<(), Failure> {
        let setup = |error: Box<dyn std::error::Error + Send + Sync>| {
            self.fail(
                Property::Setup,
                format!("the test source could not carry out {operation:?}: {error}"),
            )
        };
        match (operation, anchor) {
            (Operation::Add { attributes, .. }, Some(anchor)) => {
                source.add(&anchor, attributes).map_err(setup)?;
                expected.entries.insert(
                    anchor,
                    Entry {
                        attributes: attributes.clone(),
                        readable: true,
                    },
                );
            }
            (Operation::Modify { attributes, .. }, Some(anchor)) => {
                source.modify(&anchor, attributes).map_err(setup)?;
                if let Some(entry) = expected.entries.get_mut(&anchor) {
                    entry.attributes.overlay(attributes);
                }
            }
            (Operation::Delete { .. }, Some(anchor)) => {
                source.delete(&anchor).map_err(setup)?;
                expected.entries.remove(&anchor);
            }
            (Operation::MakeUnreadable { .. } | Operation::MakeReadable { .. }, Some(anchor)) => {
                let readable = matches!(operation, Operation::MakeReadable { .. });
                if readable {
                    source.make_readable(&anchor).map_err(setup)?;
                } else {
                    source.make_unreadable(&anchor).map_err(setup)?;
                }
                if let Some(entry) = expected.entries.get_mut(&anchor) {
                    entry.readable = readable;
                }
            }
            (Operation::BreakChangeLog, _) => {
                source.break_change_log().map_err(setup)?;
                expected.broken = true;
            }
            (Operation::PruneChangeLog, _) => {
                source.prune_change_log().map_err(setup)?;
                expected.pruned = true;
            }
            // Imports are runs, not changes; every entry operation has its anchor.
            _ => {}
        }
        Ok(())
    }

    /// Runs one import through the engine and checks every property after it.
    fn import<S: ConformanceSource>(
        &self,
        source: &mut S,
        run: &Run<'_>,
        model: &mut ReferenceModel,
        expected: &mut Expected,
        coverage: &mut Coverage,
    ) -> Result<(), Failure> {
        let before = source.observe();
        let mut recording = Recording::new(source.connector());
        let report = run
            .runtime
            .block_on(run.engine.run(
                &mut recording,
                run.connector,
                run.partition,
                run.kind,
                run.settings,
            ))
            .map_err(|error| self.fail(Property::Setup, format!("the engine failed: {error}")))?;
        let calls = recording.take_calls();
        let record = report.record;
        let status = record.status;
        let effects = |when: &str, now: Option<String>| {
            if now != before {
                Err(self.fail(
                    Property::ReadsHaveNoEffects,
                    format!("the source changed {when}:\nbefore: {before:?}\nafter:  {now:?}"),
                ))
            } else {
                Ok(())
            }
        };
        effects(
            &format!("during {} {}", run.kind.as_str(), record.id),
            source.observe(),
        )?;
        let mut fresh = source.connector();
        run.runtime
            .block_on(repeat_reads(&calls, &mut fresh))
            .map_err(|detail| self.fail(Property::ReadsHaveNoEffects, detail))?;
        effects("while the same pages were asked again", source.observe())?;

        // The model plays what the connector answered; the engine's log must say the same.
        let step = Step::Import {
            partition: run.partition.clone(),
            kind: run.kind,
            pages: import_pages(&calls),
        };
        model.apply_with(&step, run.settings);
        let state = run
            .runtime
            .block_on(run.engine.inspect(|state| state.clone()))
            .map_err(|error| self.fail(Property::Setup, format!("the engine failed: {error}")))?;
        let differences = agreement::compare(&state, run.connector, model);
        if !differences.is_empty() {
            let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
            return Err(self.fail(Property::ModelAgreement, listed.join("; ")));
        }

        let Some(status) = status else {
            return Err(self.fail(Property::Setup, format!("run {} has no status", record.id)));
        };
        if record.refusal.is_some() {
            // Refused (`no-start-*`): the connector was not asked anything.
            return Ok(());
        }
        self.fault_codes(&record, status, expected, &state, run)?;
        match status {
            RunStatus::StoppedWatermarkExpired => coverage.expired += 1,
            RunStatus::StoppedDeltaLogBroken => coverage.broken += 1,
            _ => {}
        }
        let ran_to_end = matches!(
            status,
            RunStatus::Success | RunStatus::CompletedDiscoveryErrors
        );
        if !ran_to_end {
            return Ok(());
        }
        coverage.object_errors += self.object_errors(&calls, expected)?;
        let part = state.partition(run.connector, run.partition);
        let objects = part.map(|part| part.objects().clone()).unwrap_or_default();
        match run.kind {
            RunKind::FullImport => {
                let clean = status == RunStatus::Success;
                self.connector_space(
                    source,
                    Property::FullImportComplete,
                    &objects,
                    expected,
                    clean,
                )?;
                if clean {
                    coverage.clean_full_imports += 1;
                    // A clean full import committed a position after any prune or break.
                    expected.pruned = false;
                    expected.broken = false;
                }
            }
            _ => {
                self.connector_space(
                    source,
                    Property::DeltaMissesNothing,
                    &objects,
                    expected,
                    true,
                )?;
                coverage.complete_deltas += 1;
            }
        }
        Ok(())
    }

    /// [`Property::FaultCodes`] for a run that started and ended `status`.
    fn fault_codes(
        &self,
        record: &RunRecord,
        status: RunStatus,
        expected: &Expected,
        state: &State,
        run: &Run<'_>,
    ) -> Result<(), Failure> {
        let kind = record.kind;
        let needs_watermark = kind == RunKind::DeltaImport
            && record.start_watermark.is_none()
            && expected.needs_watermark;
        let healthy = [
            RunStatus::Success,
            RunStatus::CompletedDiscoveryErrors,
            RunStatus::StoppedObjectError,
        ];
        let allowed: Vec<RunStatus> = match kind {
            _ if needs_watermark => vec![RunStatus::StoppedWatermarkExpired],
            RunKind::DeltaImport if expected.pruned && expected.broken => vec![
                RunStatus::StoppedWatermarkExpired,
                RunStatus::StoppedDeltaLogBroken,
            ],
            RunKind::DeltaImport if expected.pruned => vec![RunStatus::StoppedWatermarkExpired],
            // An object error that stops the run may come before the break is reached.
            RunKind::DeltaImport if expected.broken => vec![
                RunStatus::StoppedDeltaLogBroken,
                RunStatus::StoppedObjectError,
            ],
            _ => healthy.to_vec(),
        };
        let why = match kind {
            _ if needs_watermark => {
                "the partition has no committed watermark and the connector's delta import needs one"
            }
            RunKind::DeltaImport if expected.pruned => {
                "the change log was pruned past the committed watermark"
            }
            RunKind::DeltaImport if expected.broken => {
                "the change log was broken after the committed watermark"
            }
            RunKind::DeltaImport => "the change log is whole",
            _ => "a full import reads the entries, not the change log",
        };
        if !allowed.contains(&status) {
            let names: Vec<&str> = allowed.iter().map(|status| status.as_str()).collect();
            // What the connector said, so that a failure against a real source can be diagnosed
            // from its text alone.
            let from = match &record.start_watermark {
                Some(watermark) => format!("from watermark {}", watermark.display_text()),
                None => "from no watermark".to_owned(),
            };
            let said = match &record.fault {
                Some(fault) => format!(" (fault `{}`: {})", fault.kind.as_str(), fault.message),
                None => String::new(),
            };
            return Err(self.fail(
                Property::FaultCodes,
                format!(
                    "{} {from} ended `{}`{said}; {why}, so it must end {}",
                    kind.as_str(),
                    status.as_str(),
                    names.join(" or ")
                ),
            ));
        }
        let flagged = state
            .partition(run.connector, run.partition)
            .is_some_and(|part| part.full_import_required().is_some());
        if matches!(
            status,
            RunStatus::StoppedWatermarkExpired | RunStatus::StoppedDeltaLogBroken
        ) && !flagged
        {
            return Err(self.fail(
                Property::FaultCodes,
                format!(
                    "`{}` did not set full-import-required (R5)",
                    status.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// [`Property::ObjectErrorsReported`] for an import that ran to its end; returns how many
    /// object errors it reported.
    fn object_errors(&self, calls: &[Call], expected: &Expected) -> Result<u64, Failure> {
        let mut reported = BTreeSet::new();
        let mut passed = BTreeSet::new();
        let mut count = 0;
        for call in calls {
            if let Call::Page {
                answer: Some(Ok(Some(page))),
                ..
            } = call
            {
                for error in &page.errors {
                    reported.insert(error.anchor.clone());
                    count += 1;
                }
                passed.extend(page.changes.iter().map(|change| change.anchor.clone()));
            }
        }
        let unreadable = expected.unreadable();
        let dropped: Vec<&Anchor> = unreadable.difference(&reported).collect();
        if !dropped.is_empty() {
            return Err(self.fail(
                Property::ObjectErrorsReported,
                format!("unreadable entries {dropped:?} were not reported as object errors (a change to them is after the committed watermark, R1)"),
            ));
        }
        let stale: Vec<&Anchor> = reported.difference(&unreadable).collect();
        if !stale.is_empty() {
            return Err(self.fail(
                Property::ObjectErrorsReported,
                format!("entries {stale:?} were reported as object errors but are readable at the source"),
            ));
        }
        let leaked: Vec<&Anchor> = unreadable.intersection(&passed).collect();
        if !leaked.is_empty() {
            return Err(self.fail(
                Property::ObjectErrorsReported,
                format!("unreadable entries {leaked:?} were passed as changes"),
            ));
        }
        Ok(count)
    }

    /// Every readable entry is live in the connector space with the source's attributes
    /// ([`ConformanceSource::imported`]); with `gone_checked`, every other live object is an
    /// unreadable entry (deleted ones are gone).
    fn connector_space<S: ConformanceSource>(
        &self,
        source: &S,
        property: Property,
        objects: &ObjectSpace,
        expected: &Expected,
        gone_checked: bool,
    ) -> Result<(), Failure> {
        for (anchor, entry) in expected.entries.iter().filter(|(_, e)| e.readable) {
            match objects.get(anchor) {
                None => {
                    return Err(self.fail(
                        property,
                        format!("entry {anchor} is at the source but not in the connector space"),
                    ))
                }
                Some(object) if object.obsolete => {
                    return Err(self.fail(
                        property,
                        format!(
                            "entry {anchor} is at the source but obsolete in the connector space"
                        ),
                    ))
                }
                Some(object) => {
                    let staged = object.attributes.unpack();
                    let held = source.imported(anchor, &entry.attributes);
                    if staged != held {
                        return Err(self.fail(
                            property,
                            format!(
                                "entry {anchor} has {held:?} at the source but {staged:?} in the connector space"
                            ),
                        ));
                    }
                }
            }
        }
        if gone_checked {
            let lingering: Vec<Anchor> = objects
                .iter()
                .filter(|(anchor, object)| {
                    !object.obsolete && !expected.entries.contains_key(&Anchor::from(*anchor))
                })
                .map(|(anchor, _)| Anchor::from(anchor))
                .collect();
            if !lingering.is_empty() {
                return Err(self.fail(
                    property,
                    format!("entries {lingering:?} are gone from the source but live in the connector space"),
                ));
            }
        }
        Ok(())
    }
}

/// The run an import operation makes, and the engine (on its runtime) that makes it.
struct Run<'a> {
    connector: &'a ConnectorName,
    partition: &'a PartitionName,
    kind: RunKind,
    settings: &'a Settings,
    runtime: &'a tokio::runtime::Runtime,
    engine: &'a Engine<MemoryStore>,
}
