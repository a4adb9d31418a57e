//! The connector contract: what an engine embedder implements to plug a system into syncfold.
//!
//! A connector is driven run by run. For every run the engine calls [`Connector::open_run`], then
//! either [`Connector::import_page`] page after page (imports) or [`Connector::export`] batch after
//! batch (exports), then [`Connector::close_run`]. The connector reports what happened as values:
//!
//! - object-level problems travel *inside* the page or the export results (a [`DiscoveryError`]
//!   on a page; [`ExportOutcome::CustomContinueRun`] and friends per exported object; a
//!   [`FatalImportError`] when the delta change log is broken): only that record is affected;
//! - a [`Fault`] (`Err`) means the whole run cannot go on: server down, bad credentials, an expired
//!   watermark, or anything else (`connector-exception` with the connector's own message).
//!
//! A connector that panics, hangs past the engine's call timeout or answers an export batch with
//! the wrong objects is recorded as `connector-exception` with what happened; the engine itself
//! never goes down because a connector did ([R8](crate::rules#r8)).
//!
//! **What a page proposes as its watermark.** A delta import's page proposes the change-log
//! position of its last change, so a page's watermark is exact and [R1](crate::rules#r1) can hold
//! the run back to the
//! page before an error. A full import's pages propose the delta position read *before the
//! listing began* (every page the same one): changes made while the listing runs are then read
//! again by the next delta import instead of being skipped, and a clean full import leaves the
//! partition ready for deltas. A source with nothing to list still answers one empty page carrying
//! that position. A connector without a change log proposes no watermark (`None`), and only full
//! imports make sense for it.
//!
//! The engine reads one page ahead: it asks for page n+1 while page n is being recorded. When page
//! n stops the run (a limit, a fatal import error), page n+1 is dropped unrecorded, so
//! `import_page` must be a read without effects to undo (as every directory or change-log read is).
//!
//! Methods take `&mut self`: a run owns its connector. To run several partitions of one system
//! at once, give each concurrent run its own connector value. See `examples/jsonl_connector.rs`
//! for a complete connector.

use crate::core::*;
use std::future::Future;

/// The run a connector call belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunContext {
    /// The run's id in the log.
    pub run: RunId,
    /// The connector's configured name.
    pub connector: ConnectorName,
    /// The partition.
    pub partition: PartitionName,
    /// Full import, delta import or export.
    pub kind: RunKind,
    /// For a delta import, the committed watermark it starts from.
    pub start_watermark: Option<Watermark>,
}

/// A request for the next page of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRequest {
    /// The run.
    pub context: RunContext,
    /// The page number asked for, from 1.
    pub page: u64,
    /// Where to continue from: the start watermark for page 1, then the watermark the previous
    /// page proposed (`None` for a full import's first page).
    pub watermark: Option<Watermark>,
}

/// A system syncfold synchronizes with.
pub trait Connector: Send {
    /// Connects for a run. An `Err` stops the run with that fault before any page or batch.
    fn open_run(&mut self, context: &RunContext) -> impl Future<Output = Result<(), Fault>> + Send;

    /// Reads the next page of an import, or `Ok(None)` when there are no more.
    fn import_page(
        &mut self,
        request: &ImportRequest,
    ) -> impl Future<Output = Result<Option<Page>, Fault>> + Send;

    /// Writes a batch of changes; returns one result per object of the batch. After a
    /// `custom-stop-run` a connector exports nothing more and omits the rest of the batch.
    fn export(
        &mut self,
        context: &RunContext,
        batch: &[ExportChange],
    ) -> impl Future<Output = Result<Vec<(Anchor, ExportOutcome)>, Fault>> + Send;

    /// Disconnects after a run, whatever its outcome.
    fn close_run(&mut self, context: &RunContext) -> impl Future<Output = ()> + Send {
        let _ = context;
        async {}
    }
}

/// A boxed future a [`DynConnector`] returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Connector`] in a form that can be a trait object, so a registry of configured connectors
/// can hold `Box<dyn DynConnector>` (an LDAP directory beside a CRM) instead of an enum. Every
/// [`Connector`] is one; a `Box<dyn DynConnector>` is a [`Connector`] again, so the engine runs
/// it as any other. The price is one allocation per call.
pub trait DynConnector: Send {
    /// See [`Connector::open_run`].
    fn open_run<'a>(&'a mut self, context: &'a RunContext) -> BoxFuture<'a, Result<(), Fault>>;
    /// See [`Connector::import_page`].
    fn import_page<'a>(
        &'a mut self,
        request: &'a ImportRequest,
    ) -> BoxFuture<'a, Result<Option<Page>, Fault>>;
    /// See [`Connector::export`].
    fn export<'a>(
        &'a mut self,
        context: &'a RunContext,
        batch: &'a [ExportChange],
    ) -> BoxFuture<'a, Result<Vec<(Anchor, ExportOutcome)>, Fault>>;
    /// See [`Connector::close_run`].
    fn close_run<'a>(&'a mut self, context: &'a RunContext) -> BoxFuture<'a, ()>;
}

impl<C: Connector> DynConnector for C {
    fn open_run<'a>(&'a mut self, context: &'a RunContext) -> BoxFuture<'a, Result<(), Fault>> {
        Box::pin(Connector::open_run(self, context))
    }

    fn import_page<'a>(
        &'a mut self,
        request: &'a ImportRequest,
    ) -> BoxFuture<'a, Result<Option<Page>, Fault>> {
        Box::pin(Connector::import_page(self, request))
    }

    fn export<'a>(
        &'a mut self,
        context: &'a RunContext,
        batch: &'a [ExportChange],
    ) -> BoxFuture<'a, Result<Vec<(Anchor, ExportOutcome)>, Fault>> {
        Box::pin(Connector::export(self, context, batch))
    }

    fn close_run<'a>(&'a mut self, context: &'a RunContext) -> BoxFuture<'a, ()> {
        Box::pin(Connector::close_run(self, context))
    }
}

impl Connector for Box<dyn DynConnector> {
    async fn open_run(&mut self, context: &RunContext) -> Result<(), Fault> {
        DynConnector::open_run(self.as_mut(), context).await
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        DynConnector::import_page(self.as_mut(), request).await
    }

    async fn export(
        &mut self,
        context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        DynConnector::export(self.as_mut(), context, batch).await
    }

    async fn close_run(&mut self, context: &RunContext) {
        DynConnector::close_run(self.as_mut(), context).await
    }
}
