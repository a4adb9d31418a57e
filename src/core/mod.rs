//! The pure core: events, state, the decider and the fold. No IO, no clock, no randomness, no
//! async runtime, no hash-map iteration order: the same events always give the same state
//! ([R14](crate::rules#r14)).
//!
//! The core is driven in two steps, like an event-sourced aggregate:
//!
//! 1. [`decide`] turns a [`Command`] (start a run, record a page, end a run, …) and the current
//!    [`State`] into the [`Event`]s that carry it out, applying the rules of SPEC.md: which objects
//!    are staged, when a limit stops a run, which watermark a run commits, whether obsoletion
//!    applies. A command that cannot be carried out is a [`Rejection`] naming the rule.
//! 2. [`State::apply`] folds each event, wrapped in an [`Envelope`] with its time and actor, into
//!    the state, *re-checking* every rule: an event that would break one (a commit past an error,
//!    a page for a run that is not open, obsoletion after an errored full import) is refused with a
//!    [`Violation`] naming its sequence number and the rule, and the state stays as it was
//!    ([R15](crate::rules#r15)).
//!
//! Every refusal names its condition as a typed variant ([`EventRefusal`] for the fold,
//! [`CommandRefusal`] for the decider) whose rule and message follow from it. Debug builds
//! assert on both sides of the fold (`invariants.rs`): a refused event changes nothing, an
//! applied one advances the log by one and keeps the state's invariants.
//!
//! The shell (engine, log, CLI) supplies time, persistence and connectors. The core depends on
//! none of them.
//!
//! ```
//! use syncfold::core::*;
//!
//! let mut state = State::new();
//! let connector = ConnectorName::from("hr");
//! let partition = PartitionName::from("people");
//! let mut step = |state: &mut State, command: Command| -> Vec<Event> {
//!     let events = decide(state, &command).expect("accepted");
//!     for event in &events {
//!         let envelope = Envelope::new(Timestamp(0), Actor::from_name("doc"), event.clone());
//!         state.apply(state.last_seq() + 1, &envelope).expect("valid");
//!     }
//!     events
//! };
//! step(&mut state, Command::StartRun {
//!     connector: connector.clone(),
//!     partition: partition.clone(),
//!     kind: RunKind::DeltaImport,
//!     settings: Settings::default(),
//! });
//! let run = RunId(1);
//! for (watermark, failing) in [("A", false), ("B", true), ("C", false)] {
//!     let mut page = Page { watermark: Some(Watermark::from_text(watermark)), ..Page::default() };
//!     if failing {
//!         page.errors.push(DiscoveryError {
//!             anchor: Anchor::from("u2"),
//!             kind: ObjectErrorKind::CustomContinueRun,
//!             name: "invalid-characters-error".into(),
//!             description: "bad name".into(),
//!         });
//!     }
//!     step(&mut state, Command::RecordPage { run, page });
//! }
//! step(&mut state, Command::EndRun { run });
//! // The seed's example: page 2 failed, so watermark A is committed, not C.
//! let part = state.partition(&connector, &partition).unwrap();
//! assert_eq!(part.committed_watermark(), Some(&Watermark::from_text("A")));
//! assert_eq!(state.run(run).unwrap().status, Some(RunStatus::CompletedDiscoveryErrors));
//! ```

mod alerts;
mod decide;
mod event;
mod fold;
#[cfg(debug_assertions)]
mod invariants;
mod model;
mod packed;
mod refusal;
mod rule;
mod run;
mod space;
mod state;

pub use alerts::{Alert, AlertScope, Recipient, Severity};
pub use decide::{decide, Command};
pub use event::*;
pub use fold::exceeds_threshold;
pub use model::*;
pub use packed::{PackedAttributes, PackedRef};
pub use refusal::{AdminRefusal, CommandRefusal, EventRefusal, RefusalMismatch};
pub use rule::{Rejection, Rule, Violation};
pub use run::{needs_flush, Action, Executed, PageAnswer, RunMachine, RunPlan, Unexpected};
pub use space::{ObjectRef, ObjectSpace, StagedObject};
pub use state::*;
