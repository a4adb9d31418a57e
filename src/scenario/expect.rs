//! The `#>` expectation language: what an example's comment says the state is, one fact a line,
//! checked against the `state --json` document (SPEC §7 names).
//!
//! ```text
//! #> run 2 delta-import: status=completed-discovery-errors start_watermark=A errors=1
//! #> limit run 1: snapshot-limit-exceeded count=4 maximum=3
//! #> partition people: committed_watermark=D full_import_required=false health=enabled
//! #> objects live: u1 u2
//! #> objects obsolete: (none)
//! #> pending_exports: u1=references u2=add
//! #> pending_export u1: change=references attrs=(none) refs=manager
//! #> alerts: invalid-characters-error:error:object@u9 stuck-watermark:warning:partition
//! ```
//!
//! - A `run` line names the run's kind and any fields of `runs[]` as `key=value` (`null` where the
//!   JSON has none); a `limit run` line the limit that stopped it (`(none)` if none did).
//! - A `partition` line names fields of `partitions[]`; the `objects`, `pending_exports` and
//!   `pending_export` lines after it are about that partition, or else about the partition of
//!   the run whose line opened their group.
//! - `alerts` lists the open alerts that need someone to act (info copies left out) as
//!   `code:severity:scope`, with `@anchor` for objects, in any order; each must carry a remedy.
//! - Lists are space-separated; `(none)` is the empty list.
//!
//! Lines after `#> run N` are checked against the state just after run N ended; lines before any
//! run line against the final state. Because the checks read the JSON document, the same lines
//! are checked against the binary's output (`tests/cli.rs`, through `state --at`) and the
//! library's (the scenario module's tests), with one reading of the language.

use serde_json::Value;
use std::fmt;

/// When an expectation is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// Just after run N ended: the lines after `#> run N`.
    AfterRun(u64),
    /// At the end of the scenario: the lines before any run line.
    Final,
}

/// What one `#>` line expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// `run N KIND: key=value ...`: the run's kind and fields of `runs[]`.
    Run {
        /// The run id.
        id: u64,
        /// Its kind, e.g. `delta-import`.
        kind: String,
        /// Fields of `runs[]` and their expected text.
        fields: Vec<(String, String)>,
    },
    /// `limit run N: CODE count=C maximum=M`, or `(none)`.
    Limit {
        /// The run id.
        run: u64,
        /// The expected limit as `CODE count=C maximum=M`, or `(none)`.
        expected: String,
    },
    /// `partition NAME: key=value ...`: fields of `partitions[]`.
    Partition {
        /// The partition's name.
        name: String,
        /// Fields of `partitions[]` and their expected text.
        fields: Vec<(String, String)>,
    },
    /// `objects live: ...` or `objects obsolete: ...`: the anchors, in any order.
    Objects {
        /// Whether the obsolete objects are listed, or the live ones.
        obsolete: bool,
        /// The anchors, sorted.
        anchors: Vec<String>,
    },
    /// `pending_exports: ANCHOR=CHANGE ...`: the queue in order.
    PendingExports {
        /// `anchor=change`, in queue order.
        entries: Vec<String>,
    },
    /// `pending_export ANCHOR: change=... attrs=a,b refs=(none)`: one queued change.
    PendingExport {
        /// The queued object.
        anchor: String,
        /// Fields of `pending_exports[]`; `attrs` and `refs` as comma-separated names.
        fields: Vec<(String, String)>,
    },
    /// `alerts: CODE:SEVERITY:SCOPE[@ANCHOR] ...`: the open alerts that are not info, any order.
    Alerts {
        /// The alerts as labels, sorted.
        alerts: Vec<String>,
    },
}

/// One `#>` line, where it is, and when and about which partition it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The 1-based line in the file.
    pub line: usize,
    /// The text after `#>`, trimmed.
    pub text: String,
    /// When it is checked.
    pub checkpoint: Checkpoint,
    /// The partition named by the last `partition` line of its group, if any.
    pub partition: Option<String>,
    /// What it expects.
    pub check: Check,
}

/// A `#>` line that does not say anything the language knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: `#> {text}`: {problem}")]
pub struct ExpectationError {
    /// The 1-based line in the file.
    pub line: usize,
    /// The text after `#>`, trimmed.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Reads every `#>` line of a scenario file's text, in order.
pub fn parse(text: &str) -> Result<Vec<Expectation>, ExpectationError> {
    let mut expectations = Vec::new();
    let mut checkpoint = Checkpoint::Final;
    let mut partition = None;
    for (index, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("#>") else {
            continue;
        };
        let text = rest.trim().to_owned();
        let error = |problem: &str| ExpectationError {
            line: index + 1,
            text: text.clone(),
            problem: problem.to_owned(),
        };
        let check = parse_check(&text).map_err(|problem| error(&problem))?;
        match &check {
            Check::Run { id, .. } => {
                checkpoint = Checkpoint::AfterRun(*id);
                partition = None;
            }
            Check::Partition { name, .. } => partition = Some(name.clone()),
            _ => {}
        }
        expectations.push(Expectation {
            line: index + 1,
            text,
            checkpoint,
            partition: partition.clone(),
            check,
        });
    }
    Ok(expectations)
}

fn parse_check(text: &str) -> Result<Check, String> {
    let (head, body) = text
        .split_once(':')
        .ok_or("a `#>` line is `WHAT: EXPECTED`, with a colon")?;
    let head: Vec<&str> = head.split_whitespace().collect();
    let body: Vec<&str> = body.split_whitespace().collect();
    Ok(match head.as_slice() {
        ["run", id, kind] => Check::Run {
            id: run_id(id)?,
            kind: (*kind).to_owned(),
            fields: pairs(&body)?,
        },
        ["limit", "run", id] => Check::Limit {
            run: run_id(id)?,
            expected: body.join(" "),
        },
        ["partition", name] => Check::Partition {
            name: (*name).to_owned(),
            fields: pairs(&body)?,
        },
        ["objects", which @ ("live" | "obsolete")] => Check::Objects {
            obsolete: *which == "obsolete",
            anchors: sorted(list(&body)),
        },
        ["pending_exports"] => Check::PendingExports {
            entries: list(&body),
        },
        ["pending_export", anchor] => Check::PendingExport {
            anchor: (*anchor).to_owned(),
            fields: pairs(&body)?,
        },
        ["alerts"] => Check::Alerts {
            alerts: sorted(list(&body)),
        },
        _ => {
            return Err(
                "unknown line (expected `run N KIND`, `limit run N`, `partition NAME`, \
                        `objects live|obsolete`, `pending_exports`, `pending_export ANCHOR` \
                        or `alerts`, then a colon)"
                    .to_owned(),
            )
        }
    })
}

fn run_id(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a run number"))
}

fn pairs(words: &[&str]) -> Result<Vec<(String, String)>, String> {
    words
        .iter()
        .map(|word| {
            word.split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| format!("{word:?} is not key=value"))
        })
        .collect()
}

/// A space-separated list; `(none)` is the empty list.
fn list(words: &[&str]) -> Vec<String> {
    if words == ["(none)"] {
        Vec::new()
    } else {
        words.iter().map(|word| (*word).to_owned()).collect()
    }
}

fn sorted(mut words: Vec<String>) -> Vec<String> {
    words.sort();
    words
}

/// A list as the lines write it: space-separated, `(none)` when empty.
fn shown(words: &[String]) -> String {
    if words.is_empty() {
        "(none)".to_owned()
    } else {
        words.join(" ")
    }
}

/// A JSON value as the lines write it: strings bare, `null`, numbers and booleans as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Attribute names as the lines write them: comma-separated, `(none)` when there are none.
fn names(value: &Value) -> String {
    match value.as_object() {
        Some(map) if !map.is_empty() => map.keys().cloned().collect::<Vec<_>>().join(","),
        _ => "(none)".to_owned(),
    }
}

fn items<'v>(state: &'v Value, key: &str) -> &'v [Value] {
    state[key].as_array().map_or(&[], Vec::as_slice)
}

fn run(state: &Value, id: u64) -> Option<&Value> {
    items(state, "runs").iter().find(|run| run["id"] == id)
}

/// What differs between one expected and one actual text.
struct Differences(Vec<String>);

impl Differences {
    fn compare(&mut self, what: impl fmt::Display, expected: &str, actual: &str) {
        if expected != actual {
            self.0
                .push(format!("{what}: expected {expected}, actual {actual}"));
        }
    }

    /// Each `key=value` against the field `key` of `object`, read by `read`.
    fn fields(
        &mut self,
        what: &str,
        object: &Value,
        fields: &[(String, String)],
        read: impl Fn(&str, &Value) -> String,
    ) {
        for (key, expected) in fields {
            match object.get(key) {
                Some(value) => {
                    self.compare(format_args!("{what} {key}"), expected, &read(key, value))
                }
                None => self.0.push(format!("{what} has no field `{key}`")),
            }
        }
    }
}

impl Expectation {
    /// Checks this expectation against a `state --json` document; returns what differs, nothing
    /// when it holds.
    pub fn check(&self, state: &Value) -> Vec<String> {
        let mut differences = Differences(Vec::new());
        match &self.check {
            Check::Run { id, kind, fields } => match run(state, *id) {
                None => differences.0.push(format!("there is no run {id}")),
                Some(record) => {
                    let what = format!("run {id}");
                    differences.compare(format_args!("{what} kind"), kind, &text(&record["kind"]));
                    differences.fields(&what, record, fields, |_, value| text(value));
                }
            },
            Check::Limit { run: id, expected } => match run(state, *id) {
                None => differences.0.push(format!("there is no run {id}")),
                Some(record) => {
                    let limit = &record["limit"];
                    let actual = if limit.is_null() {
                        "(none)".to_owned()
                    } else {
                        let (count, maximum) = (text(&limit["count"]), text(&limit["maximum"]));
                        if !text(&limit["message"]).contains(&format!("{maximum}/{count}")) {
                            differences.0.push(format!(
                                "run {id} limit message does not say {maximum}/{count}: {}",
                                limit["message"]
                            ));
                        }
                        format!("{} count={count} maximum={maximum}", text(&limit["code"]))
                    };
                    differences.compare(format_args!("run {id} limit"), expected, &actual);
                }
            },
            Check::Partition { name, fields } => match partition(state, name) {
                None => differences.0.push(format!("there is no partition {name}")),
                Some(part) => {
                    differences.fields(&format!("partition {name}"), part, fields, |_, value| {
                        text(value)
                    })
                }
            },
            Check::Objects { obsolete, anchors } => {
                let part = self.partition_of(state, &mut differences);
                let mut actual: Vec<String> = items(part, "objects")
                    .iter()
                    .filter(|object| object["obsolete"] == *obsolete)
                    .map(|object| text(&object["anchor"]))
                    .collect();
                actual.sort();
                let which = if *obsolete { "obsolete" } else { "live" };
                differences.compare(
                    format_args!("objects {which}"),
                    &shown(anchors),
                    &shown(&actual),
                );
            }
            Check::PendingExports { entries } => {
                let part = self.partition_of(state, &mut differences);
                let actual: Vec<String> = items(part, "pending_exports")
                    .iter()
                    .map(|entry| format!("{}={}", text(&entry["anchor"]), text(&entry["change"])))
                    .collect();
                differences.compare("pending_exports", &shown(entries), &shown(&actual));
            }
            Check::PendingExport { anchor, fields } => {
                let part = self.partition_of(state, &mut differences);
                match items(part, "pending_exports")
                    .iter()
                    .find(|entry| entry["anchor"] == anchor.as_str())
                {
                    None => differences.0.push(format!("{anchor} is not pending")),
                    Some(entry) => differences.fields(
                        &format!("pending_export {anchor}"),
                        entry,
                        fields,
                        |key, value| match key {
                            "attrs" | "refs" => names(value),
                            _ => text(value),
                        },
                    ),
                }
            }
            Check::Alerts { alerts } => {
                let mut actual = Vec::new();
                for alert in items(state, "alerts") {
                    if alert["severity"] == "info" {
                        continue;
                    }
                    let mut label = format!(
                        "{}:{}:{}",
                        text(&alert["code"]),
                        text(&alert["severity"]),
                        text(&alert["scope"])
                    );
                    if !alert["anchor"].is_null() {
                        label.push_str(&format!("@{}", text(&alert["anchor"])));
                    }
                    if !alert["remedy"].is_string() {
                        differences.0.push(format!("alert {label} has no remedy"));
                    }
                    actual.push(label);
                }
                actual.sort();
                differences.compare("alerts", &shown(alerts), &shown(&actual));
            }
        }
        differences.0
    }

    /// The partition an object or export line is about: the one its group's partition line
    /// named, or else that of the run whose line opened the group.
    fn partition_of<'v>(&self, state: &'v Value, differences: &mut Differences) -> &'v Value {
        let name = match (&self.partition, self.checkpoint) {
            (Some(name), _) => Some(name.as_str()),
            (None, Checkpoint::AfterRun(id)) => {
                run(state, id).and_then(|run| run["partition"].as_str())
            }
            (None, Checkpoint::Final) => None,
        };
        let Some(name) = name else {
            differences.0.push(
                "which partition? put a `#> partition NAME:` line before this one".to_owned(),
            );
            return &Value::Null;
        };
        partition(state, name).unwrap_or_else(|| {
            differences.0.push(format!("there is no partition {name}"));
            &Value::Null
        })
    }
}

fn partition<'v>(state: &'v Value, name: &str) -> Option<&'v Value> {
    items(state, "partitions")
        .iter()
        .find(|part| part["name"] == name)
}

/// Checks every expectation of a file: those after `#> run N` against `state_after(N)`, the
/// `state --json` document just after run N ended, the others against `final_state`. Also checks
/// that the run lines describe exactly the runs of `final_state`, in order. Returns what differs,
/// each as `line L: `#> ...`: difference`, nothing when every line holds.
pub fn check_all(
    expectations: &[Expectation],
    final_state: &Value,
    mut state_after: impl FnMut(u64) -> Result<Value, String>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut at: Option<(u64, Value)> = None;
    for expectation in expectations {
        let state = match expectation.checkpoint {
            Checkpoint::Final => final_state,
            Checkpoint::AfterRun(id) => {
                if at.as_ref().is_none_or(|(cached, _)| *cached != id) {
                    match state_after(id) {
                        Ok(state) => at = Some((id, state)),
                        Err(problem) => {
                            wrong.push(format!(
                                "line {}: `#> {}`: no state after run {id}: {problem}",
                                expectation.line, expectation.text
                            ));
                            continue;
                        }
                    }
                }
                match &at {
                    Some((_, state)) => state,
                    None => continue,
                }
            }
        };
        for difference in expectation.check(state) {
            wrong.push(format!(
                "line {}: `#> {}`: {difference}",
                expectation.line, expectation.text
            ));
        }
    }
    let described: Vec<u64> = expectations
        .iter()
        .filter_map(|expectation| match expectation.check {
            Check::Run { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    let played: Vec<u64> = items(final_state, "runs")
        .iter()
        .filter_map(|run| run["id"].as_u64())
        .collect();
    if !expectations.is_empty() && described != played {
        wrong.push(format!(
            "the comment describes runs {described:?}, the scenario played runs {played:?}"
        ));
    }
    wrong
}
