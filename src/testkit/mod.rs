//! The public test kit (feature `testkit`), for embedders who want to test their own engines and
//! connectors the way syncfold tests itself:
//!
//! - [`generate`]: proptest strategies of scripted histories (pages, errors, faults, limits,
//!   exports, administrator actions);
//! - [`reference`](mod@reference): a reference model of the rules written independently of the core;
//! - [`agreement`]: the check that a folded state (the core's, or an engine's log) agrees with
//!   that model, as a list of differences;
//! - [`recording`]: [`recording::Recording`], a connector wrapper that records every call and
//!   answer;
//! - [`conformance`]: property tests of the connector contract, run against an embedder's
//!   connector over a test source they control ([`conformance::ConformanceSource`]); see its
//!   documentation for the few lines that wire a connector in.
//!
//! `generate`, `reference` and `agreement` are pure like the core; `recording` and
//! `conformance` drive the real engine and an in-memory log.

pub mod agreement;
pub mod conformance;
pub mod generate;
pub mod recording;
pub mod reference;
