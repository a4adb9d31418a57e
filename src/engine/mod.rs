//! The engine: the tokio shell that drives connectors through the core into the log.
//!
//! - [`connector`]: the contract an embedder implements.
//! - [`driver`]: [`Engine`], which runs steps, one at a time per partition, many at once across
//!   partitions and connectors, into one log with one total order.
//! - [`scripted`]: the scenario connector, and [`scripted::play`] to play a scripted history.
//! - [`ldap`]: the first real connector, an OpenLDAP directory (SPEC §9).
//!
//! Scenario files (SPEC §7) are parsed into scripts by [`crate::scenario`], which is pure.

pub mod connector;
pub mod driver;
pub mod ldap;
pub mod scripted;

pub use connector::{BoxFuture, Connector, DynConnector, ImportRequest, RunContext};
pub use driver::{system_clock, Engine, EngineError, EngineOptions, RunReport};
