//! The scenario connector: a [`Connector`] that answers from a scenario file, so any run history
//! can be reproduced through the real engine and log (`syncfold simulate`).

use super::connector::{Connector, ImportRequest, RunContext};
use super::driver::{Engine, EngineError, RunReport};
use crate::core::*;
use crate::log::RecordStore;
use crate::script::{Script, ScriptedAnswers, Step};

/// Answers one scripted step at a time: the pages of an import, or the results of an export,
/// exactly as the [`Player`](crate::script::Player) answers them ([`ScriptedAnswers`]).
#[derive(Clone, Debug, Default)]
pub struct ScriptedConnector {
    answers: ScriptedAnswers,
}

impl ScriptedConnector {
    /// A connector with nothing scripted (imports read no page; exports succeed).
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the next run's answers from a step.
    pub fn script(&mut self, step: &Step) {
        self.answers = ScriptedAnswers::of(step);
    }
}

impl Connector for ScriptedConnector {
    async fn open_run(&mut self, _context: &RunContext) -> Result<(), Fault> {
        self.answers.open()
    }

    async fn import_page(&mut self, request: &ImportRequest) -> Result<Option<Page>, Fault> {
        self.answers.page(request.page)
    }

    async fn export(
        &mut self,
        _context: &RunContext,
        batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        Ok(self.answers.export(batch))
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
