//! `syncfold demo` tells the whole week night by night, with dates, and what it tells is what the
//! log holds: every run appears once, under its night, with the status, start time and committed
//! watermark that `runs --json` reads back from the log it wrote; escalations are said as such;
//! and every command of its "Try next" list works on that log.

mod common;
use common::syncfold;

use common::stdout_ok;
use serde_json::Value;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-cli-demo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_demo_tells_each_night_with_its_date_and_the_runs_the_log_holds() {
    let log = scratch("week");
    let log_arg = log.to_str().expect("utf-8 path");
    let told = stdout_ok(&syncfold(&["demo", "--log", log_arg]));

    // Eight nights, in order, each with its date.
    let days = [
        "Thursday 1",
        "Friday 2",
        "Saturday 3",
        "Sunday 4",
        "Monday 5",
        "Tuesday 6",
        "Wednesday 7",
        "Thursday 8",
    ];
    let mut at = 0;
    let mut night_of_line = Vec::new();
    for (index, day) in days.iter().enumerate() {
        let header = format!("== Night {} · {day} January 2026 ==", index + 1);
        let found = told[at..]
            .find(&header)
            .unwrap_or_else(|| panic!("`{header}` after byte {at} in:\n{told}"));
        at += found + header.len();
        night_of_line.push(at);
    }
    let night_of = |offset: usize| {
        night_of_line
            .iter()
            .filter(|&&start| start <= offset)
            .count()
    };

    // Every run of the log, once, under a night, as the log says it ended.
    let runs: Vec<Value> = stdout_ok(&syncfold(&["runs", "--log", log_arg, "--json"]))
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(runs.len(), 9, "the week has nine runs");
    let mut last_night = 0;
    for run in &runs {
        let id = run["id"].as_u64().expect("id");
        let started = run["started_at"].as_str().expect("started_at");
        let sentence_start = format!(
            "{} run {id} {} of people: {}",
            &started[11..16],
            run["kind"].as_str().expect("kind"),
            run["status"].as_str().expect("status")
        );
        let matches: Vec<usize> = told
            .match_indices(&sentence_start)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(matches.len(), 1, "run {id} told once as `{sentence_start}`");
        let night = night_of(matches[0]);
        assert!(night >= last_night, "run {id} is told in order");
        last_night = night;
        // The night's date is the run's start date.
        assert_eq!(
            started[8..10].trim_start_matches('0'),
            days[night - 1].split(' ').nth(1).expect("day"),
            "run {id} is told under the night it started"
        );
        let line = told[matches[0]..].lines().next().expect("a line");
        if let Some(watermark) = run["committed_watermark"].as_str() {
            if run["kind"] != "export" {
                assert!(line.contains(watermark), "run {id}: {line}");
            }
        }
    }

    // An escalation is one change, said as such; the credentials alerts open and close around the
    // administrator's morning actions; the week ends with every alert closed.
    assert!(told.contains(
        "Alerts escalated: invalid-characters-error on uid=user17,ou=people from warning to error."
    ));
    assert!(told.contains("next morning: the administrator records credentials-updated"));
    assert!(told.contains("Alerts closed: error oauth-token-expired on corp-directory"));
    assert!(told.contains("No open alerts."));

    // Every suggested command works on the log the demo wrote.
    let suggestions: Vec<&str> = told
        .split("Try next on this log:")
        .nth(1)
        .expect("a try-next list")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("syncfold "))
        .collect();
    assert!(suggestions.len() >= 8, "{suggestions:?}");
    for suggestion in suggestions {
        let args: Vec<&str> = suggestion.split_whitespace().collect();
        let output = syncfold(&args);
        assert!(
            output.status.success(),
            "`syncfold {suggestion}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !output.stdout.is_empty(),
            "`syncfold {suggestion}` printed nothing"
        );
    }
    let _ = std::fs::remove_dir_all(&log);
    let _ = std::fs::remove_file(format!("{log_arg}-report.html"));
}
