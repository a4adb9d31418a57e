//! The connector conformance kit (`syncfold::testkit::conformance`) passes honest connectors and
//! fails broken ones.
//!
//! Two users of the kit, as an embedder would write them: an in-memory directory with a change
//! log of sequence numbers, whose connector is written here (every change the kit can make), and
//! the JSON-lines connector of `examples/jsonl_connector.rs` over a feed in a temporary folder
//! (add, modify, delete). proptest generates sequences of source changes and imports; the kit
//! plays each through the real engine and checks every property after every run. Then two
//! deliberately broken variants of the directory's connector (one drops unreadable entries, one
//! skips the first change after the watermark) must fail the kit, each on its property, both on
//! a written sequence and when proptest searches for it: the kit cannot pass everything.

use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestError, TestRng, TestRunner,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use syncfold::core::*;
use syncfold::engine::{Connector, ImportRequest, RunContext};
use syncfold::testkit::conformance::{
    check, operations, Capabilities, ConformanceSource, Coverage, Operation, Property, SourceResult,
};

// ---- The in-memory directory: what an embedder writes to test a connector (the user (a)). ----

/// One change log record: entry `anchor` changed, or the log is broken here.
#[derive(Clone, Debug)]
enum Logged {
    Changed(Anchor),
    Broken,
}

/// The source system: entries (attributes, readable) and a change log numbered from 1.
#[derive(Debug, Default)]
struct Directory {
    entries: BTreeMap<Anchor, (Attributes, bool)>,
    log: Vec<(u64, Logged)>,
    sequence: u64,
    /// Records up to here were pruned: a watermark below it has expired.
    horizon: u64,
}

impl Directory {
    fn record(&mut self, logged: Logged) {
        self.sequence += 1;
        self.log.push((self.sequence, logged));
    }
}

/// How a connector variant misbehaves, for the tests that the kit catches it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Flaw {
    None,
    DropsUnreadableEntries,
    SkipsFirstChangeAfterWatermark,
}

/// The connector: full imports list the entries, delta imports read the change log after the
/// watermark (the last change's sequence number) and each changed entry as it is now.
struct DirectoryConnector {
    directory: Arc<Mutex<Directory>>,
    page_size: usize,
    flaw: Flaw,
}

fn exception(message: &str) -> Fault {
    Fault {
        kind: FaultKind::ConnectorException,
        message: message.to_owned(),
    }
}

impl DirectoryConnector {
    /// The entry as a page reports it: a full add, an object error, or a delete.
    fn read(&self, directory: &Directory, anchor: &Anchor, page: &mut Page) {
        match directory.entries.get(anchor) {
            Some((_, false)) if self.flaw == Flaw::DropsUnreadableEntries => {}
            Some((_, false)) => page.errors.push(DiscoveryError {
                anchor: anchor.clone(),
                kind: ObjectErrorKind::CustomContinueRun,
                name: "unreadable-entry-error".into(),
                description: format!("{anchor} cannot be read"),
            }),
            Some((attributes, true)) => page.changes.push(ObjectChange {
                anchor: anchor.clone(),
                kind: ChangeKind::Add,
                attributes: attributes.clone(),
            }),
            None => page.changes.push(ObjectChange {
                anchor: anchor.clone(),
                kind: ChangeKind::Delete,
                attributes: Attributes::new(),
            }),
        }
    }
}

impl Connector for DirectoryConnector {
    async fn open_run(&mut self, _context: &RunContext) -> Result<(), Fault> {
        Ok(())
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        let directory = self.directory.lock().map_err(|_| exception("poisoned"))?;
        let watermark = |sequence: u64| Some(Watermark::from_text(&sequence.to_string()));
        let position = match &request.watermark {
            Some(text) => text
                .display_text()
                .parse::<u64>()
                .map_err(|_| exception("not a watermark of this directory"))?,
            None => 0,
        };
        let mut page = Page::default();
        if request.context.kind == RunKind::FullImport {
            // Every page proposes the position read before the listing began (SPEC §9).
            let start = if request.page == 1 {
                directory.sequence
            } else {
                position
            };
            let skip = (request.page as usize - 1) * self.page_size;
            let anchors: Vec<&Anchor> = directory
                .entries
                .keys()
                .skip(skip)
                .take(self.page_size)
                .collect();
            // An empty directory still answers one page: its position must be committed.
            if anchors.is_empty() && request.page > 1 {
                return Ok(None);
            }
            for anchor in anchors {
                self.read(&directory, anchor, &mut page);
            }
            page.watermark = watermark(start);
            return Ok(Some(page));
        }
        if position < directory.horizon {
            return Err(Fault {
                kind: FaultKind::WatermarkExpired,
                message: format!("the change log starts after {position}"),
            });
        }
        let skip = usize::from(self.flaw == Flaw::SkipsFirstChangeAfterWatermark);
        let after: Vec<&(u64, Logged)> = directory
            .log
            .iter()
            .filter(|(sequence, _)| *sequence > position)
            .skip(skip)
            .take(self.page_size)
            .collect();
        let Some((last, _)) = after.last() else {
            return Ok(None);
        };
        for (sequence, logged) in &after {
            match logged {
                Logged::Changed(anchor) => self.read(&directory, anchor, &mut page),
                Logged::Broken => page.fatal_errors.push(FatalImportError {
                    anchor: None,
                    kind: FatalImportErrorKind::ImportReadError,
                    description: format!("change log record {sequence} is unreadable"),
                }),
            }
        }
        page.watermark = watermark(*last);
        Ok(Some(page))
    }

    async fn export(
        &mut self,
        _context: &RunContext,
        _batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        Err(exception("this directory is read-only"))
    }
}

/// The test source the kit changes.
struct DirectorySource {
    directory: Arc<Mutex<Directory>>,
    flaw: Flaw,
}

impl DirectorySource {
    fn new(flaw: Flaw) -> Self {
        DirectorySource {
            directory: Arc::default(),
            flaw,
        }
    }

    fn change(&mut self, change: impl FnOnce(&mut Directory)) -> SourceResult {
        let mut directory = self.directory.lock().map_err(|_| "poisoned")?;
        change(&mut directory);
        Ok(())
    }

    fn logged(
        &mut self,
        anchor: &Anchor,
        change: impl FnOnce(&mut (Attributes, bool)),
    ) -> SourceResult {
        self.change(|directory| {
            if let Some(entry) = directory.entries.get_mut(anchor) {
                change(entry);
            }
            directory.record(Logged::Changed(anchor.clone()));
        })
    }
}

impl ConformanceSource for DirectorySource {
    type Connector = DirectoryConnector;

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn connector(&mut self) -> DirectoryConnector {
        DirectoryConnector {
            directory: Arc::clone(&self.directory),
            page_size: 2,
            flaw: self.flaw,
        }
    }

    fn add(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult {
        let added = (attributes.clone(), true);
        self.change(|directory| drop(directory.entries.insert(anchor.clone(), added)))?;
        self.logged(anchor, |_| {})
    }

    fn modify(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult {
        self.logged(anchor, |(values, _)| values.overlay(attributes))
    }

    fn delete(&mut self, anchor: &Anchor) -> SourceResult {
        self.change(|directory| drop(directory.entries.remove(anchor)))?;
        self.logged(anchor, |_| {})
    }

    fn make_unreadable(&mut self, anchor: &Anchor) -> SourceResult {
        self.logged(anchor, |(_, readable)| *readable = false)
    }

    fn make_readable(&mut self, anchor: &Anchor) -> SourceResult {
        self.logged(anchor, |(_, readable)| *readable = true)
    }

    fn break_change_log(&mut self) -> SourceResult {
        self.change(|directory| directory.record(Logged::Broken))
    }

    fn prune_change_log(&mut self) -> SourceResult {
        self.change(|directory| {
            directory.sequence += 1;
            directory.horizon = directory.sequence;
            directory.log.clear();
        })
    }

    fn observe(&self) -> Option<String> {
        self.directory
            .lock()
            .ok()
            .map(|directory| format!("{directory:?}"))
    }
}

// ---- The properties, for both users of the kit. ----

/// Runs the kit over `cases` generated sequences of what `capabilities` allow, each on a fresh
/// source; panics with the shrunk failure, or returns what the cases exercised.
fn conforms<S: ConformanceSource>(
    capabilities: Capabilities,
    cases: u32,
    source: impl Fn() -> S,
) -> Coverage {
    let mut config = Config::with_cases(cases);
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(
        "proptest-regressions/conformance.txt",
    )));
    let total = Mutex::new(Coverage::default());
    let result = TestRunner::new(config).run(&operations(&capabilities, 1..32), |ops| {
        let coverage = check(source(), &ops)?;
        *total.lock().unwrap() += coverage;
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    total.into_inner().unwrap()
}

/// An honest connector over a source that makes every change passes every property, and the
/// sequences reach every property: clean full imports, deltas to their end, object errors, an
/// expired and a broken change log.
#[test]
fn the_directory_connector_conforms() {
    let coverage = conforms(Capabilities::ALL, 1024, || DirectorySource::new(Flaw::None));
    println!("{coverage:?}");
    assert!(coverage.clean_full_imports > 50, "{coverage:?}");
    assert!(coverage.complete_deltas > 100, "{coverage:?}");
    assert!(coverage.object_errors > 10, "{coverage:?}");
    assert!(coverage.expired > 5, "{coverage:?}");
    assert!(coverage.broken > 5, "{coverage:?}");
}

// ---- Broken connectors fail the kit, on the property they break. ----

fn add(entry: usize, mail: &str) -> Operation {
    let attributes = Attributes(BTreeMap::from([(
        "mail".to_owned(),
        AttributeValue::Single(mail.to_owned()),
    )]));
    Operation::Add { entry, attributes }
}

/// The property `flaw` breaks on a written sequence, and the property it breaks on the shortest
/// sequence proptest finds for it (the kit finds the flaw by itself and shrinks it to a story; a
/// flaw may break more than one property, and the search may meet another one first).
fn broken(flaw: Flaw, written: &[Operation]) -> (Property, Property) {
    let failure = check(DirectorySource::new(flaw), written).expect_err("the kit must fail");
    println!("{failure}");
    let config = Config {
        failure_persistence: None,
        ..Config::with_cases(256)
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let found =
        TestRunner::new_with_rng(config, rng).run(&operations(&Capabilities::ALL, 1..24), |ops| {
            check(DirectorySource::new(flaw), &ops)?;
            Ok(())
        });
    let Err(TestError::Fail(_, shrunk)) = found else {
        panic!("proptest did not find the flaw {flaw:?}: {found:?}");
    };
    let again = check(DirectorySource::new(flaw), &shrunk).expect_err("the shrunk case fails");
    println!("{again}");
    assert!(shrunk.len() <= 4, "not shrunk to a short story: {again}");
    (failure.property, again.property)
}

/// A connector that silently drops unreadable entries breaks `object-errors-reported`: the
/// delta reads the change, finds the entry unreadable, and says nothing.
#[test]
fn a_connector_dropping_unreadable_entries_fails_the_kit() {
    let written = [
        add(0, "a"),
        Operation::FullImport,
        Operation::MakeUnreadable { entry: 0 },
        Operation::DeltaImport,
    ];
    let (written, found) = broken(Flaw::DropsUnreadableEntries, &written);
    assert_eq!(written, Property::ObjectErrorsReported);
    assert_eq!(found, Property::ObjectErrorsReported);
}

/// A connector whose delta skips the first change after the watermark breaks
/// `delta-misses-nothing`: the modification made after the full import never arrives.
#[test]
fn a_connector_skipping_the_first_change_fails_the_kit() {
    let written = [
        add(0, "a"),
        Operation::FullImport,
        Operation::Modify {
            entry: 0,
            attributes: Attributes(BTreeMap::from([(
                "title".to_owned(),
                AttributeValue::Single("lead".to_owned()),
            )])),
        },
        Operation::DeltaImport,
    ];
    let (written, found) = broken(Flaw::SkipsFirstChangeAfterWatermark, &written);
    assert_eq!(written, Property::DeltaMissesNothing);
    // Skipping a break in the change log too: then the delta does not stop as R5 says.
    assert!(
        [Property::DeltaMissesNothing, Property::FaultCodes].contains(&found),
        "{found:?}"
    );
}

// ---- The JSON-lines example connector (the user (b)): a feed in a temporary folder. ----

#[allow(dead_code)]
#[path = "../examples/jsonl_connector/connector.rs"]
mod jsonl;

/// A feed `people.jsonl` in a folder of its own, removed when the source is dropped. Every
/// change is a line appended to it; the feed cannot be pruned, broken on purpose or hold an
/// unreadable entry that becomes readable again (its history is replayed as it was written).
struct FeedSource {
    folder: std::path::PathBuf,
}

impl FeedSource {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let folder = std::env::temp_dir().join(format!(
            "syncfold-conformance-{}-{number}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("a temporary folder");
        FeedSource { folder }
    }

    fn append(&self, line: serde_json::Value) -> SourceResult {
        use std::io::Write;
        let mut feed = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.folder.join("source.jsonl"))?;
        writeln!(feed, "{line}")?;
        Ok(())
    }
}

impl Drop for FeedSource {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn json_attributes(attributes: &Attributes) -> serde_json::Value {
    let map = attributes.0.iter().map(|(name, value)| {
        let value = match value {
            AttributeValue::Single(text) => serde_json::json!(text),
            AttributeValue::Multi(items) => serde_json::json!(items),
        };
        (name.clone(), value)
    });
    serde_json::Value::Object(map.collect())
}

impl ConformanceSource for FeedSource {
    type Connector = jsonl::JsonLinesConnector;

    fn capabilities(&self) -> Capabilities {
        Capabilities::BASIC
    }

    fn connector(&mut self) -> jsonl::JsonLinesConnector {
        jsonl::JsonLinesConnector::new(self.folder.clone(), 2)
    }

    fn add(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult {
        self.append(serde_json::json!({
            "anchor": anchor.as_str(), "change": "add", "attrs": json_attributes(attributes)
        }))
    }

    fn modify(&mut self, anchor: &Anchor, attributes: &Attributes) -> SourceResult {
        self.append(serde_json::json!({
            "anchor": anchor.as_str(), "change": "update", "attrs": json_attributes(attributes)
        }))
    }

    fn delete(&mut self, anchor: &Anchor) -> SourceResult {
        self.append(serde_json::json!({ "anchor": anchor.as_str(), "change": "delete" }))
    }

    fn observe(&self) -> Option<String> {
        std::fs::read_to_string(self.folder.join("source.jsonl")).ok()
    }
}

/// The example's connector passes every property its feed can exercise.
#[test]
fn the_jsonl_example_connector_conforms() {
    let coverage = conforms(Capabilities::BASIC, 256, FeedSource::new);
    println!("{coverage:?}");
    assert!(coverage.clean_full_imports > 20, "{coverage:?}");
    assert!(coverage.complete_deltas > 40, "{coverage:?}");
}
