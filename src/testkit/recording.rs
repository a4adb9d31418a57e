//! [`Recording`]: a connector that forwards every call to the connector it wraps and keeps each
//! call with its answer, so a test can see what a real connector said, not only what the engine
//! made of it.
//!
//! Two uses, both in the conformance kit ([`super::conformance`]) and open to any test:
//!
//! - **reads have no effects**: [`repeat_reads`] asks a fresh connector the same page requests
//!   again and reports the first answer that differs;
//! - **the reference model is fed what the connector answered**: [`import_pages`] turns the calls
//!   of one import into the [`ImportPage`]s a scripted import would return, so a
//!   [`Step::Import`] of them can be played through
//!   [`ReferenceModel`](super::reference::ReferenceModel) and compared with the engine's log.

use crate::core::{
    Anchor, ExportChange, ExportOutcome, Fault, FaultKind, PageAnswer, PartitionName, RunId,
    RunKind,
};
use crate::engine::{Connector, ImportRequest, RunContext};
use crate::script::{ImportPage, Step};

/// One call the engine made to the wrapped connector, with its answer. `answer` is `None` when
/// the call never answered: the connector panicked, or the engine gave up on it (its timeout) or
/// dropped the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// [`Connector::open_run`].
    Open {
        /// The run being opened.
        context: RunContext,
        /// What the connector answered.
        answer: Option<Result<(), Fault>>,
    },
    /// [`Connector::import_page`].
    Page {
        /// The page asked for and the watermark it continues from.
        request: ImportRequest,
        /// What the connector answered.
        answer: Option<PageAnswer>,
    },
    /// [`Connector::export`].
    Export {
        /// The run.
        context: RunContext,
        /// The changes handed to the connector, in order.
        batch: Vec<ExportChange>,
        /// What the connector answered.
        answer: Option<Result<Vec<(Anchor, ExportOutcome)>, Fault>>,
    },
    /// [`Connector::close_run`], which answers nothing.
    Close {
        /// The run being closed.
        context: RunContext,
    },
}

impl Call {
    /// The run the call belongs to.
    pub fn run(&self) -> RunId {
        match self {
            Call::Open { context, .. } | Call::Export { context, .. } | Call::Close { context } => {
                context.run
            }
            Call::Page { request, .. } => request.context.run,
        }
    }
}

/// A [`Connector`] that forwards every call to `C` and records it ([`Call`]). Calls accumulate
/// across runs until [`Recording::take_calls`].
#[derive(Debug)]
pub struct Recording<C> {
    inner: C,
    calls: Vec<Call>,
}

impl<C> Recording<C> {
    /// Wraps a connector; nothing is recorded yet.
    pub fn new(inner: C) -> Self {
        Recording {
            inner,
            calls: Vec::new(),
        }
    }

    /// The calls recorded so far, in the order they were made.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Hands over the calls recorded so far and starts a new record (e.g. between two runs).
    pub fn take_calls(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }

    /// The wrapped connector.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The wrapped connector, to reconfigure it between runs.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Unwraps the connector, dropping the record.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// The pages the recorded import calls answered ([`import_pages`]).
    pub fn import_pages(&self) -> Vec<ImportPage> {
        import_pages(&self.calls)
    }

    /// The recorded import as a scripted step of `kind` on `partition`, for the reference model.
    /// `partition` and `kind` are given, not read from the calls, because a run the engine
    /// refused (`no-start-*`) calls the connector not at all and is still a step.
    pub fn import_step(&self, partition: PartitionName, kind: RunKind) -> Step {
        Step::Import {
            partition,
            kind,
            pages: self.import_pages(),
        }
    }
}

impl<C: Connector> Connector for Recording<C> {
    async fn open_run(&mut self, context: &RunContext) -> Result<(), Fault> {
        self.calls.push(Call::Open {
            context: context.clone(),
            answer: None,
        });
        let index = self.calls.len() - 1;
        let answer = self.inner.open_run(context).await;
        if let Some(Call::Open { answer: slot, .. }) = self.calls.get_mut(index) {
            *slot = Some(answer.clone());
        }
        answer
    }

    async fn import_page(&mut self, request: &ImportRequest) -> PageAnswer {
        self.calls.push(Call::Page {
            request: request.clone(),
            answer: None,
        });
        let index = self.calls.len() - 1;
        let answer = self.inner.import_page(request).await;
        if let Some(Call::Page { answer: slot, .. }) = self.calls.get_mut(index) {
            *slot = Some(answer.clone());
        }
        answer
    }

    async fn export(
        &mut self,
        context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        self.calls.push(Call::Export {
            context: context.clone(),
            batch: batch.to_vec(),
            answer: None,
        });
        let index = self.calls.len() - 1;
        let answer = self.inner.export(context, batch).await;
        if let Some(Call::Export { answer: slot, .. }) = self.calls.get_mut(index) {
            *slot = Some(answer.clone());
        }
        answer
    }

    async fn close_run(&mut self, context: &RunContext) {
        self.calls.push(Call::Close {
            context: context.clone(),
        });
        self.inner.close_run(context).await;
    }
}

/// The fault the engine records for a call that never answered.
fn unanswered(what: &str) -> Fault {
    Fault {
        kind: FaultKind::ConnectorException,
        message: format!("the connector did not answer {what}"),
    }
}

/// What the import calls among `calls` answered, as the pages of a scripted import: each page
/// read, then the fault that stopped the reading, if any (a fault of `open_run` is a fault before
/// the first page; a call that never answered is a `connector-exception`, as the engine records
/// it). Reading stops at the end of the import or the first fault. A page the engine read ahead
/// and then dropped (the page before stopped the run) is included: a scripted run stops at the
/// same page and never plays it, so the model sees the run the engine recorded.
pub fn import_pages(calls: &[Call]) -> Vec<ImportPage> {
    let mut pages = Vec::new();
    for call in calls {
        match call {
            Call::Open { answer, .. } => match answer {
                Some(Ok(())) => {}
                Some(Err(fault)) => {
                    pages.push(ImportPage::Fault(fault.clone()));
                    break;
                }
                None => {
                    pages.push(ImportPage::Fault(unanswered("open_run")));
                    break;
                }
            },
            Call::Page { answer, .. } => match answer {
                Some(Ok(Some(page))) => pages.push(ImportPage::Page(page.clone())),
                Some(Ok(None)) => break,
                Some(Err(fault)) => {
                    pages.push(ImportPage::Fault(fault.clone()));
                    break;
                }
                None => {
                    pages.push(ImportPage::Fault(unanswered("import_page")));
                    break;
                }
            },
            Call::Export { .. } | Call::Close { .. } => {}
        }
    }
    pages
}

/// Whether two answers to the same page request say the same thing: the same page, or a fault
/// of the same kind (a fault's message may carry a time or a connection id).
fn same_answer(first: &PageAnswer, second: &PageAnswer) -> bool {
    match (first, second) {
        (Ok(first), Ok(second)) => first == second,
        (Err(first), Err(second)) => first.kind == second.kind,
        _ => false,
    }
}

/// Asks `connector` (a fresh one, over the same unchanged source) every page request recorded in
/// `calls` again, in one session opened with the recorded run's context, and returns a sentence
/// naming the first request whose answer differs from the recorded one. A connector whose reads
/// have no effects answers the same; one that consumed something while reading (a queue, a
/// cursor kept at the source) does not. Calls that never answered are not asked again.
pub async fn repeat_reads<C: Connector>(calls: &[Call], connector: &mut C) -> Result<(), String> {
    let Some((context, recorded)) = calls.iter().find_map(|call| match call {
        Call::Open { context, answer } => Some((context.clone(), answer.clone())),
        _ => None,
    }) else {
        return Ok(());
    };
    let opened = connector.open_run(&context).await;
    let mut result = match (&recorded, &opened) {
        (Some(Ok(())), Err(fault)) => Err(format!(
            "open_run succeeded the first time and failed with {fault:?} when asked again"
        )),
        (Some(Err(fault)), Ok(())) => Err(format!(
            "open_run failed with {fault:?} the first time and succeeded when asked again"
        )),
        (Some(Err(first)), Err(again)) if first.kind != again.kind => Err(format!(
            "open_run failed with {first:?} the first time and with {again:?} when asked again"
        )),
        _ => Ok(()),
    };
    if result.is_ok() && opened.is_ok() {
        for call in calls {
            let Call::Page {
                request,
                answer: Some(recorded),
            } = call
            else {
                continue;
            };
            let again = connector.import_page(request).await;
            if !same_answer(recorded, &again) {
                result = Err(format!(
                    "page {} from watermark {:?} answered {recorded:?} the first time and {again:?} when asked again",
                    request.page, request.watermark
                ));
                break;
            }
        }
    }
    connector.close_run(&context).await;
    result
}
