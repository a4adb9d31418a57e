//! # syncfold
//!
//! Event-sourced bookkeeping for synchronization engines. Every page an import reads, every
//! object-level error, watermark proposal and commit, export result, fault and administrator action
//! is an event in a verified log; a pure state machine folds them into the committed state:
//! watermarks, connector space, obsoletion, pending exports, health and run history. Because the
//! state is a fold of facts, a postmortem can replay any night, and property tests prove the
//! [`rules`], above all that a watermark never advances past an error ([R1]) and that
//! obsoletion is skipped after an errored full import ([R3]).
//!
//! [R1]: crate::rules#r1
//! [R3]: crate::rules#r3
//!
//! ## Quickstart: your connector, the engine, the state
//!
//! Implement [`Connector`] for the system you synchronize, hand it to an [`Engine`] over a
//! [`Log`], and read the folded [`State`]:
//!
//! ```
//! use syncfold::{Connector, Engine, EngineOptions, ImportRequest, Log, LogOptions, MemoryStore, RunContext};
//! use syncfold::core::*;
//!
//! /// A directory of two pages; the second holds an entry that cannot be read.
//! struct Directory;
//!
//! impl Connector for Directory {
//!     async fn open_run(&mut self, _run: &RunContext) -> Result<(), Fault> {
//!         Ok(())
//!     }
//!
//!     async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
//!         let user = |name: &str| ObjectChange {
//!             anchor: Anchor::from(name),
//!             kind: ChangeKind::Add,
//!             attributes: Attributes::new(),
//!         };
//!         Ok(match request.page {
//!             1 => Some(Page {
//!                 changes: vec![user("uid=ada"), user("uid=grace")],
//!                 watermark: Some(Watermark::from_text("usn-2")),
//!                 ..Page::default()
//!             }),
//!             2 => Some(Page {
//!                 changes: vec![user("uid=alan")],
//!                 errors: vec![DiscoveryError {
//!                     anchor: Anchor::from("uid=edsger"),
//!                     kind: ObjectErrorKind::CustomContinueRun,
//!                     name: "invalid-characters-error".into(),
//!                     description: "a control character in cn".into(),
//!                 }],
//!                 watermark: Some(Watermark::from_text("usn-4")),
//!                 ..Page::default()
//!             }),
//!             _ => None,
//!         })
//!     }
//!
//!     async fn export(
//!         &mut self,
//!         _run: &RunContext,
//!         batch: &[ExportChange],
//!     ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
//!         Ok(batch.iter().map(|change| (change.anchor.clone(), ExportOutcome::Success)).collect())
//!     }
//! }
//!
//! let (log, _) = Log::open(MemoryStore::new(), LogOptions::default(), Timestamp(0))?;
//! let engine = Engine::new(log, EngineOptions::default());
//! let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
//! let runtime = tokio::runtime::Runtime::new().expect("a runtime");
//! let report = runtime.block_on(engine.run(
//!     &mut Directory, &hr, &people, RunKind::DeltaImport, &Settings::default(),
//! ))?;
//! // The error on page 2 holds the watermark at page 1's (R1); the readable users are staged.
//! assert_eq!(report.record.status, Some(RunStatus::CompletedDiscoveryErrors));
//! assert_eq!(report.record.committed_watermark, Some(Watermark::from_text("usn-2")));
//! let log = engine.shutdown()?;
//! let partition = log.state().partition(&hr, &people).expect("imported");
//! assert_eq!(partition.objects().len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For a log that survives the process, open a [`SledStore`] folder instead of a
//! [`MemoryStore`]; `syncfold state --log DIR` then shows the same state.
//!
//! ## Three ways to embed it
//!
//! - **Let the engine drive**: [`Engine`] runs your [`Connector`]s under timeouts and a panic
//!   guard, reads ahead, writes one ordered log, reports each run once durable, and closes a
//!   cancelled run as interrupted.
//! - **Drive the log yourself** from your own run loop: the typed run API on [`Log`]
//!   (`start_run`, `record_page`, `next_export_batch`, `end_run`, see [`log`]'s guide), with the
//!   core's [`RunMachine`](core::RunMachine) to say what comes next.
//! - **Check your connector** against the rules with the test kit (feature `testkit`).
//!
//! ## Layers
//!
//! Dependencies point inward only:
//!
//! - [`core`]: events, state, the decider, the fold and the run machine. Pure: no IO, no clock,
//!   no tokio, no randomness.
//! - [`log`]: records, the hash chain, snapshots and stores (sled, memory); reading never writes.
//! - [`engine`]: the tokio driver and the connector contract.
//! - [`scenario`]: scenario files parsed into scripts, and the `#>` expectations of the examples.
//! - the views and the command line: [`views`] (with the explanations), [`remedy`], [`text`], and the
//!   `syncfold` binary. `testkit` (feature `testkit`) holds history generators, the reference model
//!   of the rules and the connector conformance kit.
//!
//! The modules [`script`] and [`demo`] are the synchronous player and the built-in demo history
//! the command line and the tests use; they are public for those, not a stable embedding API.
//!
//! The repository's `docs/ARCHITECTURE.md` has the map and `docs/SEMANTICS.md` every decision
//! the rules left open.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod core;
pub mod demo;
pub mod engine;
pub mod log;
pub mod remedy;
pub mod rules;
pub mod scenario;
pub mod script;
pub mod text;
pub mod views;

#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;

pub use crate::core::{Fault, Page, RunKind, RunStatus, Settings, State, Watermark};
pub use crate::engine::{
    Connector, DynConnector, Engine, EngineError, EngineOptions, ImportRequest, RunContext,
};
pub use crate::log::{Log, LogError, LogOptions, MemoryStore, RunReport, SledStore};
