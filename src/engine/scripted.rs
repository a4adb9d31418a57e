//! The scenario connector: a [`Connector`] that answers from a scenario file, so any run history
//! can be reproduced through the real engine and log (`syncfold simulate`).

use super::connector::{Connector, ImportRequest, RunContext};
use super::driver::{Engine, EngineError, RunReport};
use crate::core::*;
use crate::log::RecordStore;
use crate::script::{pending_anchors, Script, ScriptedAnswers, Step};

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
/// `on_run` with each run as soon as it is durable. A scripted export result whose object the run
/// does not send is not used, as by the [`Player`](crate::script::Player); [`play_checked`]
/// refuses it instead.
pub async fn play<S: RecordStore + Send + 'static>(
    engine: &Engine<S>,
    script: &Script,
    on_run: impl FnMut(&RunReport),
) -> Result<(), EngineError> {
    play_inner(engine, script, false, on_run).await
}

/// [`play`] for a scenario file (`syncfold simulate`), where every scripted export result must be
/// used: an export run that does not send, and hear answered, an object its step has a result for
/// ends the play with [`EngineError::UnusedExportResult`] once that run is durable (and reported
/// to `on_run`). `load_scenario` refuses such a scenario before anything is played when it is
/// played into a new log; this catches a log whose earlier history makes the difference.
pub async fn play_checked<S: RecordStore + Send + 'static>(
    engine: &Engine<S>,
    script: &Script,
    on_run: impl FnMut(&RunReport),
) -> Result<(), EngineError> {
    play_inner(engine, script, true, on_run).await
}

async fn play_inner<S: RecordStore + Send + 'static>(
    engine: &Engine<S>,
    script: &Script,
    check: bool,
    mut on_run: impl FnMut(&RunReport),
) -> Result<(), EngineError> {
    let mut connector = ScriptedConnector::new();
    for (index, step) in script.steps.iter().enumerate() {
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
                let (connector_name, partition_name) =
                    (script.connector.clone(), partition.clone());
                let pending = engine
                    .inspect(move |state| pending_anchors(state, &connector_name, &partition_name))
                    .await?;
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
                let unused = connector.answers.unused(&report.record, &pending);
                if let (true, Some((anchor, why))) = (check, unused.into_iter().next()) {
                    return Err(EngineError::UnusedExportResult {
                        step: index,
                        run: report.record.id,
                        anchor,
                        why,
                    });
                }
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
