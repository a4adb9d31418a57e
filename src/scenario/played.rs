//! The checks that need the scenario played: a scenario is a whole story, played from a new log,
//! so what each export run sends is known before anything is written. The script is played
//! through the pure [`Player`] (the engine answers from the same [`ScriptedAnswers`]), and every
//! export result must answer an object the run sent: a result the run never used is refused at
//! its place instead of being dropped (docs/SEMANTICS.md, "Scenario results").

use super::walker::{Source, Table};
use super::ScenarioError;
use crate::core::{Actor, Timestamp};
use crate::script::{pending_anchors, Player, Script, ScriptedAnswers, Step};

/// Plays `script` (whose steps were parsed from `tables`, in order) and refuses the first export
/// result, in file order, that its run did not send and answer.
pub(super) fn check_results_are_used(
    source: &Source<'_>,
    script: &Script,
    tables: &[Table<'_, '_>],
) -> Result<(), ScenarioError> {
    let mut player = Player::new(Actor::from_name("scenario-check"), Timestamp(0), 1);
    for (step, table) in script.steps.iter().zip(tables) {
        let (before, plan) = step.prepare(&script.connector, &script.settings);
        for command in &before {
            // The player's refusals are the engine's too; `simulate` reports them as it plays.
            if player.execute(command).is_err() {
                return Ok(());
            }
        }
        let Some(plan) = plan else {
            continue;
        };
        let Step::Export { partition, .. } = step else {
            if player.run(plan, ScriptedAnswers::of(step)).is_err() {
                return Ok(());
            }
            continue;
        };
        let pending = pending_anchors(player.state(), &script.connector, partition);
        let mut answers = ScriptedAnswers::of(step);
        let Ok(run) = player.run_with(plan, &mut answers) else {
            return Ok(());
        };
        let Some(record) = player.state().run(run) else {
            return Ok(());
        };
        let unused = answers.unused(record, &pending);
        if unused.is_empty() {
            continue;
        }
        // The first unused result as the file writes them.
        let results = table.tables(source, "results", "")?;
        let first = results
            .iter()
            .filter_map(|result| result.get("anchor"))
            .find_map(|entry| {
                let text = entry.value.get_ref().as_str()?;
                let (anchor, why) = unused.iter().find(|(anchor, _)| anchor.as_str() == text)?;
                Some((entry, anchor, why))
            });
        if let Some((entry, anchor, why)) = first {
            return Err(source.error(&entry.value.span(), &entry.path, why.sentence(anchor)));
        }
    }
    Ok(())
}
