//! # syncfold
//!
//! Event-sourced bookkeeping for synchronization engines. Every page an import reads, every
//! object-level error, watermark proposal and commit, export result, fault and administrator action
//! is an event; a pure state machine folds them into the committed state: watermarks, connector
//! space, obsoletion, pending exports and run history. Because the state is a fold of facts, a
//! postmortem can replay any night, and property tests can prove the rules, above all that a
//! watermark never advances past an error and that obsoletion is skipped after an errored full
//! import.
//!
//! Layers, each usable on its own; dependencies point inward only:
//!
//! - [`core`]: events, state, decide and fold. Pure: no IO, no clock, no tokio, no randomness.
//! - [`testkit`] (feature `testkit`): history generators, a reference model of the rules and a
//!   synchronous player, so embedders can run our property tests against their own code.
//!
//! See `docs/ARCHITECTURE.md` for the map and `docs/SEMANTICS.md` for every decision SPEC.md left
//! open.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
pub mod demo;
pub mod engine;
pub mod log;
pub mod remedy;
pub mod script;
pub mod text;
pub mod views;

#[cfg(feature = "testkit")]
pub mod testkit;
