//! The scenario connector: a [`Connector`] that answers from a scenario file, so any run history
//! can be reproduced through the real engine and log (`syncfold simulate`).

use super::connector::{Connector, ImportRequest, RunContext};
use super::driver::{Engine, EngineError, RunReport};
use crate::core::*;
use crate::log::RecordStore;
use crate::script::{scripted_answers, ImportPage, Script, Step};
use std::collections::BTreeMap;

/// Answers one scripted step at a time: the pages of an import, or the results of an export.
#[derive(Clone, Debug, Default)]
pub struct ScriptedConnector {
    pages: Vec<ImportPage>,
    results: BTreeMap<Anchor, ExportOutcome>,
    fault: Option<Fault>,
}

impl ScriptedConnector {
    /// A connector with nothing scripted (imports read no page; exports succeed).
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the next run's answers from a step.
    pub fn script(&mut self, step: &Step) {
        *self = Self::default();
        match step {
            Step::Import { pages, .. } => self.pages = pages.clone(),
            Step::Export { results, fault, .. } => {
                self.results = results.clone();
                self.fault = fault.clone();
            }
            Step::Admin { .. } => {}
        }
    }
}

impl Connector for ScriptedConnector {
    async fn open_run(&mut self, _context: &RunContext) -> Result<(), Fault> {
        match self.fault.take() {
            Some(fault) => Err(fault),
            None => Ok(()),
        }
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        let index = usize::try_from(request.page.saturating_sub(1)).unwrap_or(usize::MAX);
        match self.pages.get(index) {
            None => Ok(None),
            Some(ImportPage::Page(page)) => Ok(Some(page.clone())),
            Some(ImportPage::Fault(fault)) => Err(fault.clone()),
        }
    }

    async fn export(
        &mut self,
        _context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        let answers = scripted_answers(&self.results, batch.iter().map(|change| &change.anchor));
        Ok(answers)
    }
}

/// Plays every step of `script` through `engine` with a [`ScriptedConnector`], calling
/// `on_run` with each run as soon as it is durable.
pub async fn play<S: RecordStore + Send + 'static>(
    engine: &Engine<S>,
    script: &Script,
    mut on_run: impl FnMut(&RunReport),
) -> Result<(), EngineError> {
    let mut connector = ScriptedConnector::new();
    for step in &script.steps {
        match step {
            Step::Import {
                partition, kind, ..
            } => {
                connector.script(step);
                let report = engine
                    .run(
                        &mut connector,
                        &script.connector,
                        partition,
                        *kind,
                        &script.settings,
                    )
                    .await?;
                on_run(&report);
            }
            Step::Export {
                partition, enqueue, ..
            } => {
                for change in enqueue {
                    engine
                        .queue_export(&script.connector, partition, change.clone())
                        .await?;
                }
                connector.script(step);
                let report = engine
                    .run(
                        &mut connector,
                        &script.connector,
                        partition,
                        RunKind::Export,
                        &script.settings,
                    )
                    .await?;
                on_run(&report);
            }
            Step::Admin { partition, action } => {
                engine
                    .admin(&script.connector, partition.as_ref(), *action)
                    .await?;
            }
        }
    }
    Ok(())
}
