//! The daily reading commands as an operator uses them: run times, filters, one object's history.
//!
//! Every example is played into a log with the real binary, then read back as an operator would.
//! Every run of every example carries `connector`, `started_at`, `ended_at` (RFC 3339 UTC) and
//! `duration_ms`, consistent with each other, in `runs --json` and `state --json` alike.
//! `events --anchor A` prints exactly the events the library's `concerns_anchor` picks, for every
//! object of every example, and a known object's life (staged, failed, obsoleted; queued, sent,
//! answered) in order. Each filter of `events` and `runs` is checked as a property over the
//! examples: what it keeps is a subset of the unfiltered answer, in order, and satisfies it.
//! `--at 0` is the state before any event. A name the log does not know is status 2 with the
//! choices. Two connectors with a partition of the same name come from
//! `tests/fixtures/daily/`.

mod common;

use common::{logged_events, stdout_ok as stdout, syncfold_on as syncfold};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use syncfold::core::*;
use syncfold::views::filter::concerns_anchor;
use syncfold::views::{parse_rfc3339, rfc3339};

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn simulate(scenario: &Path, log: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .arg("simulate")
        .arg(scenario)
        .arg("--log")
        .arg(log)
        .output()
        .expect("simulate");
    assert!(
        output.status.success(),
        "{}: {}",
        scenario.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-daily-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every example played into a log of its own, and the two fixtures played into one log.
fn every_log(name: &str) -> Vec<PathBuf> {
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(manifest().join("examples"))
        .expect("examples/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    scenarios.sort();
    let mut logs = Vec::new();
    for scenario in &scenarios {
        let stem = scenario.file_stem().expect("stem").to_string_lossy();
        let log = scratch(&format!("{name}-{stem}"));
        simulate(scenario, &log);
        logs.push(log);
    }
    logs.push(two_connectors(name));
    logs
}

/// `object-life.toml` then `second-connector.toml`, played into one log.
fn two_connectors(name: &str) -> PathBuf {
    let log = scratch(&format!("{name}-two-connectors"));
    let fixtures = manifest().join("tests/fixtures/daily");
    simulate(&fixtures.join("object-life.toml"), &log);
    simulate(&fixtures.join("second-connector.toml"), &log);
    log
}

fn remove(logs: &[PathBuf]) {
    for log in logs {
        let _ = std::fs::remove_dir_all(log);
    }
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|event| event["seq"].as_u64().expect("seq"))
        .collect()
}

/// `kept` is a subsequence of `all` (the same events, in the same order).
fn is_subsequence(kept: &[u64], all: &[u64]) -> bool {
    let mut rest = all.iter();
    kept.iter().all(|seq| rest.any(|other| other == seq))
}

/// A time as every view writes it: RFC 3339, UTC, milliseconds, `Z`.
fn time_of(value: &Value, what: &str) -> Timestamp {
    let text = value.as_str().unwrap_or_else(|| panic!("{what}: {value}"));
    let at = parse_rfc3339(text).unwrap_or_else(|| panic!("{what}: {text} is not RFC 3339"));
    assert_eq!(rfc3339(at), text, "{what}: UTC with milliseconds");
    at
}

fn check_run_times(run: &Value, context: &str) {
    for key in [
        "id",
        "connector",
        "partition",
        "kind",
        "status",
        "started_at",
        "ended_at",
        "duration_ms",
        "committed_watermark",
        "errors",
        "warnings",
    ] {
        assert!(run.get(key).is_some(), "{context}: no `{key}` in {run}");
    }
    assert!(run["connector"].as_str().is_some_and(|c| !c.is_empty()));
    let started = time_of(&run["started_at"], context);
    if run["status"].is_null() {
        assert!(
            run["ended_at"].is_null() && run["duration_ms"].is_null(),
            "{context}"
        );
    } else {
        let ended = time_of(&run["ended_at"], context);
        assert!(ended >= started, "{context}: ends before it starts: {run}");
        assert_eq!(
            run["duration_ms"].as_i64(),
            Some(ended.0 - started.0),
            "{context}: duration_ms is ended_at - started_at"
        );
    }
}

#[test]
fn every_run_of_every_example_has_consistent_times_in_runs_and_state() {
    let logs = every_log("times");
    for log in &logs {
        let runs = json_lines(&syncfold(&["runs", "--json"], log));
        assert!(!runs.is_empty(), "{}", log.display());
        let state: Value =
            serde_json::from_str(&stdout(&syncfold(&["state", "--json"], log))).expect("JSON");
        let state_runs = state["runs"].as_array().expect("runs[]");
        assert_eq!(&runs, state_runs, "runs --json and state --json agree");
        for run in &runs {
            check_run_times(run, &format!("{} run {}", log.display(), run["id"]));
        }
        let text = stdout(&syncfold(&["runs"], log));
        let header = text.lines().next().expect("a header");
        for column in ["CONNECTOR", "PARTITION", "STARTED", "DURATION", "STATUS"] {
            assert!(header.contains(column), "{header}");
        }
        for run in &runs {
            let started = run["started_at"].as_str().expect("started_at");
            assert!(text.contains(started), "the text shows {started}");
        }
    }
    remove(&logs);
}

#[test]
fn events_anchor_prints_exactly_what_the_library_says_concerns_the_object() {
    let logs = every_log("anchor");
    for log in &logs {
        let logged = logged_events(log);
        let mut anchors: Vec<String> = json_lines(&syncfold(&["events", "--json"], log))
            .iter()
            .flat_map(|event| {
                let facts = &event["event"];
                let mut named: Vec<String> = Vec::new();
                for key in ["anchor", "parent"] {
                    if let Some(anchor) = facts[key].as_str() {
                        named.push(anchor.to_owned());
                    }
                }
                for anchor in facts["anchors"].as_array().into_iter().flatten() {
                    named.extend(anchor.as_str().map(str::to_owned));
                }
                for change in facts["changes"].as_array().into_iter().flatten() {
                    named.extend(change["anchor"].as_str().map(str::to_owned));
                }
                named
            })
            .collect();
        anchors.sort();
        anchors.dedup();
        for anchor in &anchors {
            let expected: Vec<u64> = logged
                .iter()
                .filter(|(_, envelope)| concerns_anchor(&envelope.event, &Anchor::from(&**anchor)))
                .map(|(seq, _)| *seq)
                .collect();
            assert!(
                !expected.is_empty(),
                "{anchor} is named in {}",
                log.display()
            );
            let printed = json_lines(&syncfold(&["events", "--anchor", anchor, "--json"], log));
            assert_eq!(seqs(&printed), expected, "{anchor} in {}", log.display());
        }
    }
    remove(&logs);
}

#[test]
fn one_objects_life_is_its_staging_error_and_obsoletion_in_order() {
    let log = two_connectors("life");
    let life = json_lines(&syncfold(&["events", "--anchor", "u2", "--json"], &log));
    let steps: Vec<(&str, u64)> = life
        .iter()
        .map(|e| {
            (
                e["type"].as_str().expect("type"),
                e["run"].as_u64().expect("run"),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("page-read", 1),
            ("discovery-error", 2),
            ("obsoletion-applied", 3)
        ]
    );
    assert_eq!(life[1]["event"]["name"], "invalid-characters-error");
    for event in &life {
        time_of(&event["at"], "an event's time");
    }
    let exported = json_lines(&syncfold(&["events", "--anchor", "u1", "--json"], &log));
    let types: Vec<&str> = exported
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "page-read",
            "page-read",
            "export-queued",
            "export-batch-sent",
            "export-result"
        ]
    );
    // The text names the run and the time of each step.
    let text = stdout(&syncfold(&["events", "--anchor", "u2"], &log));
    assert!(text
        .lines()
        .next()
        .is_some_and(|h| h.contains("AT") && h.contains("RUN")));
    assert!(text.contains(life[2]["at"].as_str().expect("at")));
    // Narrowed further, the history keeps its order.
    let errors = json_lines(&syncfold(
        &[
            "events",
            "--anchor",
            "u2",
            "--type",
            "discovery-error",
            "--json",
        ],
        &log,
    ));
    assert_eq!(seqs(&errors), [life[1]["seq"].as_u64().expect("seq")]);
    let _ = std::fs::remove_dir_all(&log);
}

/// Property over every log: each filter of `events` keeps a subsequence of the unfiltered events,
/// and every event it keeps satisfies it; the filters that must keep something do.
#[test]
fn event_filters_narrow_to_what_they_name() {
    let logs = every_log("events");
    for log in &logs {
        let all = json_lines(&syncfold(&["events", "--json"], log));
        let all_seqs = seqs(&all);
        let runs = json_lines(&syncfold(&["runs", "--json"], log));
        let place = |event: &Value| -> Option<(String, Option<String>)> {
            let facts = &event["event"];
            if let Some(connector) = facts["connector"].as_str() {
                return Some((
                    connector.to_owned(),
                    facts["partition"].as_str().map(str::to_owned),
                ));
            }
            let run = runs.iter().find(|r| r["id"] == event["run"])?;
            Some((
                run["connector"].as_str()?.to_owned(),
                run["partition"].as_str().map(str::to_owned),
            ))
        };
        let check = |args: &[&str], keeps: &dyn Fn(&Value) -> bool| {
            let mut full = vec!["events"];
            full.extend_from_slice(args);
            full.push("--json");
            let kept = json_lines(&syncfold(&full, log));
            assert!(
                is_subsequence(&seqs(&kept), &all_seqs),
                "{args:?} on {}",
                log.display()
            );
            for event in &kept {
                assert!(keeps(event), "{args:?} kept {event}");
            }
            let expected = all.iter().filter(|e| keeps(e)).count();
            assert_eq!(kept.len(), expected, "{args:?} on {}", log.display());
        };
        let mut types: Vec<&str> = all.iter().filter_map(|e| e["type"].as_str()).collect();
        types.sort_unstable();
        types.dedup();
        for t in &types {
            check(&["--type", t], &|e| e["type"] == *t);
        }
        if let [first, second, ..] = types.as_slice() {
            let both = format!("{first},{second}");
            check(&["--type", &both], &|e| {
                e["type"] == *first || e["type"] == *second
            });
            check(&["--type", first, "--type", second], &|e| {
                e["type"] == *first || e["type"] == *second
            });
        }
        let mut scopes: Vec<(String, String)> = runs
            .iter()
            .map(|r| {
                (
                    r["connector"].as_str().expect("connector").to_owned(),
                    r["partition"].as_str().expect("partition").to_owned(),
                )
            })
            .collect();
        scopes.sort();
        scopes.dedup();
        for (connector, partition) in &scopes {
            check(&["--connector", connector], &|e| {
                place(e).is_some_and(|(c, _)| c == *connector)
            });
            check(
                &["--connector", connector, "--partition", partition],
                &|e| {
                    place(e).is_some_and(|(c, p)| {
                        c == *connector && p.as_ref().is_none_or(|p| p == partition)
                    })
                },
            );
        }
        let middle = all[all.len() / 2]["seq"].as_u64().expect("seq");
        let quarter = all[all.len() / 4]["seq"].as_u64().expect("seq");
        check(&["--since", &middle.to_string()], &|e| {
            e["seq"].as_u64() >= Some(middle)
        });
        check(&["--until", &middle.to_string()], &|e| {
            e["seq"].as_u64() <= Some(middle)
        });
        check(
            &[
                "--since",
                &quarter.to_string(),
                "--until",
                &middle.to_string(),
            ],
            &|e| (quarter..=middle).contains(&e["seq"].as_u64().expect("seq")),
        );
        let at = |e: &Value| time_of(&e["at"], "at");
        let noon = at(&all[all.len() / 2]);
        let noon_text = rfc3339(noon);
        check(&["--since", &noon_text], &|e| at(e) >= noon);
        check(&["--until", &noon_text], &|e| at(e) <= noon);
        if let Some(run) = all.iter().find_map(|e| e["run"].as_u64()) {
            let id = run.to_string();
            check(&["--run", &id, "--since", &noon_text], &|e| {
                e["run"].as_u64() == Some(run) && at(e) >= noon
            });
        }
    }
    remove(&logs);
}

/// Property over every log: each filter of `runs` keeps a subsequence of the runs that
/// satisfies it; `--last N` keeps the last N of them.
#[test]
fn run_filters_narrow_to_what_they_name() {
    let logs = every_log("runs");
    for log in &logs {
        let all = json_lines(&syncfold(&["runs", "--json"], log));
        let ids = |runs: &[Value]| -> Vec<u64> {
            runs.iter().map(|r| r["id"].as_u64().expect("id")).collect()
        };
        let all_ids = ids(&all);
        let check = |args: &[&str], keeps: &dyn Fn(&Value) -> bool| -> Vec<u64> {
            let mut full = vec!["runs"];
            full.extend_from_slice(args);
            full.push("--json");
            let kept = ids(&json_lines(&syncfold(&full, log)));
            let expected: Vec<u64> = all
                .iter()
                .filter(|r| keeps(r))
                .map(|r| r["id"].as_u64().expect("id"))
                .collect();
            assert_eq!(kept, expected, "{args:?} on {}", log.display());
            assert!(is_subsequence(&kept, &all_ids));
            kept
        };
        let mut statuses: Vec<&str> = all.iter().filter_map(|r| r["status"].as_str()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        for status in &statuses {
            assert!(!check(&["--status", status], &|r| r["status"] == *status).is_empty());
        }
        if let [first, second, ..] = statuses.as_slice() {
            check(&["--status", first, "--status", second], &|r| {
                r["status"] == *first || r["status"] == *second
            });
        }
        for key in ["connector", "partition"] {
            let flag = format!("--{key}");
            for run in &all {
                let name = run[key].as_str().expect("name");
                check(&[&flag, name], &|r| r[key] == name);
            }
        }
        for last in [0usize, 1, 2, all.len() + 3] {
            let kept = ids(&json_lines(&syncfold(
                &["runs", "--last", &last.to_string(), "--json"],
                log,
            )));
            assert_eq!(kept, all_ids[all_ids.len().saturating_sub(last)..]);
        }
        // `--at SEQ` shows the runs as `state --at SEQ` does.
        let events = json_lines(&syncfold(&["events", "--json"], log));
        let middle = events[events.len() / 2]["seq"]
            .as_u64()
            .expect("seq")
            .to_string();
        let state: Value = serde_json::from_str(&stdout(&syncfold(
            &["state", "--at", &middle, "--json"],
            log,
        )))
        .expect("JSON");
        let then = json_lines(&syncfold(&["runs", "--at", &middle, "--json"], log));
        assert_eq!(Some(&then), state["runs"].as_array());
        let alerts = json_lines(&syncfold(&["alerts", "--at", &middle, "--json"], log));
        assert_eq!(Some(&alerts), state["alerts"].as_array());
    }
    remove(&logs);
}

#[test]
fn at_zero_is_before_any_event() {
    let log = two_connectors("zero");
    let state: Value =
        serde_json::from_str(&stdout(&syncfold(&["state", "--at", "0", "--json"], &log)))
            .expect("JSON");
    assert_eq!(state["last_seq"], 0);
    for key in ["runs", "partitions", "alerts"] {
        assert_eq!(state[key], serde_json::json!([]), "{key} at 0");
    }
    assert!(stdout(&syncfold(&["runs", "--at", "0", "--json"], &log)).is_empty());
    assert!(stdout(&syncfold(&["alerts", "--at", "0", "--json"], &log)).is_empty());
    assert!(stdout(&syncfold(&["runs", "--at", "0"], &log)).contains("No runs"));
    // `diff --from 0` compares with the empty state: every partition is new.
    let last = json_lines(&syncfold(&["events", "--json"], &log))
        .len()
        .to_string();
    let diff = stdout(&syncfold(
        &["diff", "--from", "0", "--to", &last, "--json"],
        &log,
    ));
    for partition in ["people", "accounts"] {
        assert!(diff.contains(partition), "{diff}");
    }
    // Event 1 is the first run's start: `--at 1` shows it.
    let one = json_lines(&syncfold(&["runs", "--at", "1", "--json"], &log));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["status"], Value::Null);
    let _ = std::fs::remove_dir_all(&log);
}

#[test]
fn one_partitions_state_is_its_item_of_partitions_with_its_runs_and_alerts() {
    let log = two_connectors("partition");
    let state: Value =
        serde_json::from_str(&stdout(&syncfold(&["state", "--json"], &log))).expect("JSON");
    for (connector, partition) in [("hr", "people"), ("crm", "people"), ("crm", "accounts")] {
        let view: Value = serde_json::from_str(&stdout(&syncfold(
            &[
                "state",
                "--connector",
                connector,
                "--partition",
                partition,
                "--json",
            ],
            &log,
        )))
        .expect("JSON");
        let item = state["partitions"]
            .as_array()
            .expect("partitions[]")
            .iter()
            .find(|p| p["connector"] == connector && p["name"] == partition)
            .expect("the partition");
        for (key, value) in item.as_object().expect("object") {
            assert_eq!(&view[key], value, "{connector}/{partition} {key}");
        }
        let runs: Vec<&Value> = state["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter(|r| r["connector"] == connector && r["partition"] == partition)
            .collect();
        assert_eq!(
            view["runs"]
                .as_array()
                .map(|r| r.iter().collect::<Vec<_>>()),
            Some(runs)
        );
        for alert in view["alerts"].as_array().expect("alerts") {
            assert_eq!(alert["connector"], connector);
            assert!(alert["partition"].is_null() || alert["partition"] == partition);
        }
    }
    // The crm people delta import faulted: it is on the crm view, not on hr's.
    let statuses = |connector: &str| -> Vec<Value> {
        let view: Value = serde_json::from_str(&stdout(&syncfold(
            &[
                "state",
                "--connector",
                connector,
                "--partition",
                "people",
                "--json",
            ],
            &log,
        )))
        .expect("JSON");
        view["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| r["status"].clone())
            .collect()
    };
    assert!(statuses("crm").contains(&Value::from("stopped-server-down")));
    assert!(!statuses("hr").contains(&Value::from("stopped-server-down")));
    // A partition only one connector has needs no --connector.
    let accounts = stdout(&syncfold(&["state", "--partition", "accounts"], &log));
    assert!(accounts.contains("crm/accounts") && accounts.contains("a1"));
    let _ = std::fs::remove_dir_all(&log);
}

/// A name the log does not know is an error naming the choices, never an empty answer.
#[test]
fn unknown_names_exit_2_with_the_choices() {
    let log = two_connectors("unknown");
    let cases: [(&[&str], &[&str]); 10] = [
        (
            &["runs", "--status", "succes"],
            &["`succes`", "success", "stopped-server-down", "in-flight"],
        ),
        (&["runs", "--connector", "ldap"], &["`ldap`", "crm", "hr"]),
        (
            &["runs", "--partition", "staff"],
            &["`staff`", "hr/people", "crm/accounts"],
        ),
        (
            &["runs", "--connector", "hr", "--partition", "accounts"],
            &["`accounts`", "hr/people"],
        ),
        (
            &["events", "--type", "page-red"],
            &[
                "`page-red`",
                "page-read",
                "discovery-error",
                "export-result",
            ],
        ),
        (&["events", "--connector", "ldap"], &["`ldap`", "crm, hr"]),
        (
            &["events", "--partition", "staff"],
            &["`staff`", "crm/people"],
        ),
        (&["events", "--anchor", "nobody"], &["`nobody`"]),
        (
            &["state", "--partition", "people"],
            &["several connectors", "crm, hr", "--connector"],
        ),
        (
            &["state", "--partition", "staff"],
            &["`staff`", "hr/people"],
        ),
    ];
    for (args, said) in cases {
        let output = syncfold(args, &log);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?} printed nothing");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for words in said {
            assert!(stderr.contains(words), "{args:?}: {stderr}");
        }
    }
    for bad in ["yesterday", "2026-13-01T00:00:00Z"] {
        let output = syncfold(&["events", "--since", bad], &log);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("RFC 3339"));
    }
    let _ = std::fs::remove_dir_all(&log);
}
