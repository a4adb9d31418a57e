//! The postmortem report (issue 20): its model built from played scenarios (the same typed views
//! as the reading commands), and `syncfold report` on every example log: a well-formed page, one
//! `run-bar` per run of `runs --json`, no URL, connector text escaped, a damaged log said at the
//! top, the log unchanged.

mod common;
use common::syncfold;

use common::{damage_record, stdout_ok, syncfold_on};
use std::path::{Path, PathBuf};
use std::process::Command;
use syncfold::core::*;
use syncfold::remedy::RemedyCatalog;
use syncfold::scenario::load_scenario;
use syncfold::script::{Player, Script};
use syncfold::views::report::{ReportBuilder, ReportLimits, ReportModel, ReportVerification};

/// The report model of `script` played in memory, over events `from..=to`.
fn model_of(script: &Script, from: Seq, to: Option<Seq>, limits: ReportLimits) -> ReportModel {
    let mut player = Player::new(
        Actor::from_name("report"),
        Timestamp(1_767_225_600_000),
        100,
    );
    player.play_script(script).expect("plays");
    let events = player.log().to_vec();
    let to = to.unwrap_or(events.len() as Seq);
    let mut builder = ReportBuilder::new(from, to, limits);
    let mut state = State::new();
    for (index, envelope) in events.iter().enumerate() {
        let seq = index as Seq + 1;
        if seq > to {
            break;
        }
        state.apply(seq, envelope).expect("folds");
        builder.event(seq, envelope, &state);
    }
    let verification = ReportVerification::Verified {
        records: events.len() as Seq,
        acknowledged: events.len() as Seq,
        torn_tail: None,
    };
    let catalog = RemedyCatalog::builtin();
    let mut model = builder.finish("memory", &state, &catalog, verification);
    // The walls at the drawn runs' ends, as `report::build` reads them in its second walk.
    let points = model.wall_points();
    let mut state = State::new();
    for (index, envelope) in events.iter().enumerate() {
        let seq = index as Seq + 1;
        state.apply(seq, envelope).expect("folds");
        if points.contains(&seq) {
            model.read_walls(seq, &state, &catalog);
        }
    }
    model
}

fn example(name: &str) -> Script {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    load_scenario(&path).expect("the example loads").script
}

#[test]
fn the_model_of_the_demo_week_has_every_run_alert_and_administrator_action() {
    let script = syncfold::demo::week();
    let mut player = Player::new(
        Actor::from_name("report"),
        Timestamp(1_767_225_600_000),
        100,
    );
    player.play_script(&script).expect("plays");
    let state = player.state().clone();
    let model = model_of(&script, 1, None, ReportLimits::default());
    assert_eq!(model.runs.len(), state.runs().len());
    assert!(model.buckets.is_empty());
    for (shown, record) in model.runs.iter().zip(state.runs()) {
        assert_eq!(shown.run.id, record.id.0);
        assert_eq!(shown.first_seq, record.started.seq, "run {}", record.id);
        assert_eq!(
            shown.last_seq,
            record
                .ended
                .as_ref()
                .map_or(record.started.seq, |end| end.seq),
            "run {}",
            record.id
        );
        assert_eq!(
            shown.events.len() as u64 + shown.events_more,
            shown.events_in_range
        );
        assert_eq!(
            shown.events.first().map(|e| e.seq),
            Some(record.started.seq)
        );
        assert!(shown.events[0].kind == "run-started" || shown.events[0].kind == "run-refused");
    }
    assert_eq!(model.alerts.len(), state.alerts().len());
    let administrators = player
        .log()
        .iter()
        .filter(|envelope| envelope.event.type_name() == "admin-action")
        .count();
    assert!(administrators > 0, "the demo has an administrator's action");
    assert_eq!(model.admin_actions.len(), administrators);
    assert_eq!(model.range.from, 1);
    assert_eq!(model.range.to, player.log().len() as Seq);
}

#[test]
fn a_stuck_watermark_shows_its_holds_its_window_and_the_full_import_that_cleared_it() {
    let model = model_of(
        &example("stuck-watermark.toml"),
        1,
        None,
        ReportLimits::default(),
    );
    let [part] = &model.partitions[..] else {
        panic!("one partition: {:?}", model.partitions);
    };
    let commits: Vec<(&str, u64)> = part
        .commits
        .iter()
        .map(|c| (c.watermark.as_str(), c.run))
        .collect();
    assert_eq!(commits, [("A", 1), ("F", 5)]);
    let holds: Vec<(u64, u32, &[String])> = part
        .holds
        .iter()
        .map(|h| (h.run, h.count, &h.objects[..]))
        .collect();
    let u9 = ["u9".to_owned()];
    assert_eq!(holds, [(2, 1, &u9[..]), (3, 2, &u9[..]), (4, 3, &u9[..])]);
    let [window] = &part.stuck[..] else {
        panic!("one stuck window: {:?}", part.stuck);
    };
    assert_eq!(window.set_by_run, Some(4));
    assert_eq!(window.from_seq, part.holds[2].seq);
    assert_eq!(window.cleared_by_run, Some(5));
    assert!(window.to_seq.is_some());
    assert!(part.full_import_required.is_empty());
    // The wall at each run's end: the warning is open after run 4, closed after run 5.
    let codes = |run: usize| -> Vec<&str> {
        model.runs[run]
            .alerts_at_end
            .iter()
            .map(|alert| alert.code.as_str())
            .collect()
    };
    assert!(codes(3).contains(&"stuck-watermark"), "{:?}", codes(3));
    assert!(!codes(2).contains(&"stuck-watermark"), "{:?}", codes(2));
    assert!(!codes(4).contains(&"stuck-watermark"), "{:?}", codes(4));
    assert!(codes(0).is_empty());
}

#[test]
fn a_broken_delta_log_shows_full_import_required_from_the_run_that_set_it_to_the_one_that_cleared_it(
) {
    let model = model_of(
        &example("broken-delta-log.toml"),
        1,
        None,
        ReportLimits::default(),
    );
    let [part] = &model.partitions[..] else {
        panic!("one partition");
    };
    let [window] = &part.full_import_required[..] else {
        panic!("one window: {:?}", part.full_import_required);
    };
    assert_eq!(window.set_by_run, Some(1));
    assert_eq!(window.cleared_by_run, Some(3));
    let refused = &model.runs[1].run;
    assert_eq!(refused.status, Some("no-start-full-import-required"));
    assert_eq!(refused.refused_by_run, Some(1));
    assert!(model.runs[0].run.fault.is_none());
    assert_eq!(model.runs[0].run.errors, 1);
}

#[test]
fn runs_beyond_the_cap_are_bucketed_and_events_beyond_the_cap_counted() {
    let script = syncfold::demo::week();
    let all = model_of(&script, 1, None, ReportLimits::default());
    let limits = ReportLimits {
        runs: 2,
        events_per_run: 3,
        ..ReportLimits::default()
    };
    let capped = model_of(&script, 1, None, limits);
    assert_eq!(capped.runs.len(), 2);
    let bucketed: u64 = capped.buckets.iter().map(|b| b.runs).sum();
    assert_eq!(bucketed as usize + 2, all.runs.len());
    let newest: Vec<u64> = all
        .runs
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|r| r.run.id)
        .collect();
    assert_eq!(
        capped.runs.iter().map(|r| r.run.id).collect::<Vec<_>>(),
        newest
    );
    for run in &capped.runs {
        assert!(run.events.len() <= 3);
        assert_eq!(
            run.events.len() as u64 + run.events_more,
            run.events_in_range
        );
    }
    let errors: u64 = capped.buckets.iter().map(|b| b.errors).sum::<u64>()
        + capped.runs.iter().map(|r| r.run.errors).sum::<u64>();
    assert_eq!(
        errors,
        all.runs.iter().map(|r| r.run.errors).sum::<u64>(),
        "aggregates keep every count"
    );
}

#[test]
fn a_range_shows_only_the_runs_with_events_in_it() {
    let script = example("stuck-watermark.toml");
    let all = model_of(&script, 1, None, ReportLimits::default());
    let third = &all.runs[2];
    let model = model_of(
        &script,
        third.first_seq,
        Some(third.last_seq),
        ReportLimits::default(),
    );
    assert_eq!(
        model.runs.iter().map(|r| r.run.id).collect::<Vec<_>>(),
        [third.run.id]
    );
    assert_eq!(model.range.from, third.first_seq);
    assert_eq!(model.range.to, third.last_seq);
}

// ---- the command ----

/// A folder of its own under the temporary folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("syncfold-report-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn simulate(scenario: &Path, log: &Path) {
    let output = syncfold_on(&["simulate", scenario.to_str().expect("utf-8")], log);
    stdout_ok(&output);
}

fn report(log: &Path, out: &Path) -> std::process::Output {
    syncfold_on(&["report", "--out", out.to_str().expect("utf-8")], log)
}

/// Tags balance: every element opened is closed in order, void elements and `/>` aside; the
/// text of `<script>` and `<style>` is skipped. Panics naming the first mismatch.
fn assert_well_formed(page: &str) {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];
    assert!(page.starts_with("<!DOCTYPE html>"), "no doctype");
    let mut open: Vec<String> = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find('<') {
        rest = &rest[at..];
        if rest.starts_with("<!") {
            rest = &rest[rest.find('>').expect("closed declaration") + 1..];
            continue;
        }
        let end = rest.find('>').expect("a tag ends");
        let tag = &rest[1..end];
        assert!(!tag.contains('<'), "a `<` inside a tag: {tag}");
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            let top = open
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name, "</{name}> closes <{top}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(!name.is_empty(), "an unnamed tag: <{tag}>");
        // Attribute quotes balance.
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes: <{tag}>"
        );
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "script" || name == "style" {
            let close = format!("</{name}>");
            let body_end = rest.find(&close).expect("raw text ends");
            assert!(!rest[..body_end].contains("</"), "`</` inside <{name}>");
            rest = &rest[body_end + close.len()..];
            continue;
        }
        open.push(name);
    }
    assert!(open.is_empty(), "left open: {open:?}");
    let mut ids: Vec<&str> = page
        .match_indices(" id=\"")
        .map(|(at, _)| {
            let value = &page[at + 5..];
            &value[..value.find('"').expect("quote")]
        })
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "an id used twice");
    assert!(!rest.contains('>'), "a stray `>` after the last tag");
}

/// No URL: nothing fetched or linked off the page.
fn assert_offline(page: &str) {
    assert!(!page.contains("http://"), "an http URL");
    assert!(!page.contains("https://"), "an https URL");
    // Text never holds a `"` (escaped as `&quot;`), so `src="` can only be an attribute.
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in page.match_indices(attribute) {
            let value = &page[at + attribute.len()..];
            assert!(
                value.starts_with('#'),
                "{attribute} to something else than the page: {}",
                &value[..value.len().min(40)]
            );
        }
    }
    assert!(!page.contains("<link"), "a linked resource");
    assert!(!page.contains("@import"), "an imported style sheet");
}

fn examples() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .expect("examples")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
    found.sort();
    assert!(found.len() >= 10, "the examples: {found:?}");
    found
}

#[test]
fn the_report_of_every_example_log_is_a_well_formed_offline_page_with_one_bar_per_run() {
    let dir = Scratch::new("examples");
    for scenario in examples() {
        let name = scenario
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let log = dir.path().join(&name);
        simulate(&scenario, &log);
        let verified_before = stdout_ok(&syncfold_on(&["verify", "--json"], &log));
        let out = dir.path().join(format!("{name}.html"));
        stdout_ok(&report(&log, &out));
        let page = std::fs::read_to_string(&out).expect("the page");
        assert_well_formed(&page);
        assert_offline(&page);
        let runs = stdout_ok(&syncfold_on(&["runs", "--json"], &log));
        let ids: Vec<u64> = runs
            .lines()
            .map(|line| {
                let run: serde_json::Value = serde_json::from_str(line).expect("json");
                run["id"].as_u64().expect("id")
            })
            .collect();
        let bars: Vec<u64> = page
            .match_indices("class=\"run-bar")
            .map(|(at, _)| {
                let tag = &page[at..at + page[at..].find('>').expect("tag end")];
                let value = &tag[tag.find("data-run=\"").expect("data-run") + 10..];
                value[..value.find('"').expect("quote")]
                    .parse()
                    .expect("id")
            })
            .collect();
        assert_eq!(bars, ids, "{name}: one bar per run, in order");
        for id in &ids {
            assert!(
                page.contains(&format!(
                    "<section class=\"run-events\" id=\"run-{id}\" hidden>"
                )),
                "{name}: run {id}'s events"
            );
        }
        let top = &page[..page.find("id=\"timeline\"").expect("timeline")];
        assert!(
            top.contains("class=\"banner ok\""),
            "{name}: verified at the top"
        );
        assert!(!page.contains("DAMAGED"), "{name}");
        assert_eq!(
            page.matches("<h3>Alert wall just after").count()
                + page.matches("No open alerts just after").count(),
            ids.len(),
            "{name}: the wall at each run's end"
        );
        // Reading never writes: the log verifies to the same state.
        let verified_after = stdout_ok(&syncfold_on(&["verify", "--json"], &log));
        assert_eq!(
            verified_before, verified_after,
            "{name}: the log is unchanged"
        );
    }
}

#[test]
fn connector_text_is_escaped_on_the_page() {
    let dir = Scratch::new("hostile");
    let scenario = dir.path().join("hostile.toml");
    std::fs::write(
        &scenario,
        r#"
[connector]
name = "directory"

[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "A\"><img src=x onerror=alert(1)>"
  errors = [ { anchor = "u<b>9</b>", error = "custom-continue-run", name = "invalid-characters-error",
               description = "<script>alert(1)</script> & 'quoted' \"double\" \u001b[2J" } ]
  objects = [ { anchor = "u1" } ]
"#,
    )
    .expect("write");
    let log = dir.path().join("log");
    simulate(&scenario, &log);
    let out = dir.path().join("report.html");
    stdout_ok(&report(&log, &out));
    let page = std::fs::read_to_string(&out).expect("the page");
    assert_well_formed(&page);
    assert_offline(&page);
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;quoted&#39; &quot;double&quot; \\u{1b}[2J"));
    assert!(!page.contains("<b>9</b>"));
    assert!(page.contains("u&lt;b&gt;9&lt;/b&gt;"));
    assert!(!page.contains("<img"));
    assert!(!page.contains('\u{1b}'));
    assert_eq!(page.matches("<script>").count(), 1, "our one script");
}

#[test]
fn a_damaged_log_says_so_at_the_top_and_shows_what_precedes_the_damage() {
    let dir = Scratch::new("damaged");
    let log = dir.path().join("log");
    simulate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/stuck-watermark.toml"),
        &log,
    );
    damage_record(&log, 12);
    let out = dir.path().join("report.html");
    let output = report(&log, &out);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the status says the log is damaged"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("12"));
    let page = std::fs::read_to_string(&out).expect("the page is written all the same");
    assert_well_formed(&page);
    let top = &page[..page.find("id=\"timeline\"").expect("timeline")];
    assert!(top.contains("class=\"banner damaged\""), "{top}");
    assert!(top.contains("DAMAGED LOG"));
    assert!(top.contains("First bad record: seq 12."));
    assert!(top.contains("records 1 to 11 only"));
    // Runs 1 and 2 (events 1..=11) are drawn; nothing of the damaged record or after it is.
    assert!(page.contains("data-run=\"1\""));
    assert!(!page.contains("id=\"seq-12\""));
    assert!(!page.contains("data-run=\"5\""));
}

#[test]
fn the_page_goes_to_standard_output_with_dash_and_a_range_narrows_it() {
    let dir = Scratch::new("stdout");
    let log = dir.path().join("log");
    simulate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/stuck-watermark.toml"),
        &log,
    );
    let log_text = log.to_str().expect("utf-8");
    let page = stdout_ok(&syncfold(&[
        "report", "--log", log_text, "--from", "5", "--to", "9", "--out", "-",
    ]));
    assert_well_formed(&page);
    let bars = page.matches("class=\"run-bar").count();
    assert_eq!(bars, 1, "run 2 alone has events 5 to 9");
    assert!(page.contains("data-run=\"2\""));
    let by_time = stdout_ok(&syncfold(&[
        "report",
        "--log",
        log_text,
        "--from",
        "2030-01-01T00:00:00Z",
        "--out",
        "-",
    ]));
    assert_eq!(by_time.matches("class=\"run-bar").count(), 0);
    let refused = syncfold(&["report", "--log", log_text, "--from", "9", "--to", "4"]);
    assert_eq!(refused.status.code(), Some(2));
    let help = stdout_ok(&syncfold(&["report", "--help"]));
    assert!(help.contains("syncfold report --log ./abc-log"));
}

#[test]
fn the_default_output_is_syncfold_report_html_in_the_current_folder() {
    let dir = Scratch::new("default");
    let log = dir.path().join("log");
    simulate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/watermark-abc.toml"),
        &log,
    );
    let output = Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(["report", "--log", "log"])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    stdout_ok(&output);
    assert!(dir.path().join("syncfold-report.html").is_file());
}
