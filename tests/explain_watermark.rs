//! `explain watermark` tells the objects that hold the committed watermark back from the objects
//! still in error that the watermark has already moved past (issue 16's misleading case: run 1
//! fails on `u9` on page B and commits A; run 2 reads B and C without `u9` and commits C; `u9` does
//! not hold C back, and a delta import may never read it again).

use syncfold::core::*;
use syncfold::remedy::RemedyCatalog;
use syncfold::script::{ImportPage, Player, Step};
use syncfold::views::explain::watermark;

fn page(mark: &str, failing: Option<&str>) -> ImportPage {
    let mut page = Page {
        watermark: Some(Watermark::from_text(mark)),
        ..Page::default()
    };
    if let Some(anchor) = failing {
        page.errors.push(DiscoveryError {
            anchor: Anchor::from(anchor),
            kind: ObjectErrorKind::CustomContinueRun,
            name: "invalid-characters-error".into(),
            description: "a control character in cn".into(),
        });
    }
    ImportPage::Page(page)
}

fn delta(pages: Vec<ImportPage>) -> Step {
    Step::Import {
        partition: PartitionName::from("people"),
        kind: RunKind::DeltaImport,
        pages,
    }
}

fn anchors(objects: &[syncfold::views::explain::HoldingObject]) -> Vec<&str> {
    objects
        .iter()
        .map(|object| object.anchor.as_str())
        .collect()
}

#[test]
fn an_error_the_watermark_moved_past_is_named_as_such_not_as_holding_it_back() {
    let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
    let settings = Settings::default();
    let catalog = RemedyCatalog::builtin();
    let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 1);
    player
        .play(
            &hr,
            &settings,
            &delta(vec![page("A", None), page("B", Some("u9"))]),
        )
        .expect("run 1");
    let after_one = watermark(player.state(), &hr, &people, &catalog).expect("explained");
    assert_eq!(after_one.committed_watermark.as_deref(), Some("A"));
    assert_eq!(
        anchors(&after_one.holding_objects),
        ["u9"],
        "u9 holds A back"
    );
    assert!(after_one.moved_past_objects.is_empty());

    player
        .play(
            &hr,
            &settings,
            &delta(vec![page("B", None), page("C", None)]),
        )
        .expect("run 2");
    let after_two = watermark(player.state(), &hr, &people, &catalog).expect("explained");
    assert_eq!(after_two.committed_watermark.as_deref(), Some("C"));
    assert!(
        after_two.holding_objects.is_empty(),
        "nothing holds C back: {:?}",
        anchors(&after_two.holding_objects)
    );
    assert_eq!(anchors(&after_two.moved_past_objects), ["u9"]);
    assert!(after_two.remedy.is_some(), "says what to do: a full import");
}

#[test]
fn an_error_in_the_committing_run_still_holds_the_watermark_back() {
    // Run 2 fails on u9 again on its second page: it commits its first page, and u9 holds it back.
    let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
    let settings = Settings::default();
    let catalog = RemedyCatalog::builtin();
    let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 1);
    for pages in [
        vec![page("A", None), page("B", Some("u9"))],
        vec![page("B2", None), page("C", Some("u9"))],
    ] {
        player.play(&hr, &settings, &delta(pages)).expect("runs");
    }
    let explained = watermark(player.state(), &hr, &people, &catalog).expect("explained");
    assert_eq!(explained.committed_watermark.as_deref(), Some("B2"));
    assert_eq!(anchors(&explained.holding_objects), ["u9"]);
    assert!(explained.moved_past_objects.is_empty());
}

mod common;

use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-ew-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect()
}

/// The "open since" of the stuck-watermark alert as `alerts` (JSON and text), `explain health`
/// (text) and `explain watermark` (JSON and text) give it, each as "event S (run R)".
fn open_since_everywhere(log: &Path, at: Option<&str>) -> Vec<String> {
    let with_at = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        if let Some(at) = at {
            all.extend(["--at".to_owned(), at.to_owned()]);
        }
        all
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::stdout_ok(&common::syncfold_on(&args, log))
    };
    let phrase = |value: &serde_json::Value| {
        format!(
            "event {} (run {})",
            value["seq"].as_u64().expect("seq"),
            value["run"].as_u64().expect("run")
        )
    };
    let since_in = |text: &str, what: &str| -> String {
        let line = text
            .lines()
            .find(|line| line.contains("stuck-watermark") && line.contains("since event"))
            .unwrap_or_else(|| panic!("{what} names when the warning opened:\n{text}"));
        let from = line.find("since event").expect("since") + "since ".len();
        let rest = &line[from..];
        rest[..=rest.find(')').expect("run")].to_owned()
    };
    let alerts = json_lines(&run(with_at(&["alerts", "--json"])));
    let stuck = alerts
        .iter()
        .find(|alert| alert["code"] == "stuck-watermark")
        .expect("the stuck-watermark alert is open");
    let watermark: serde_json::Value = serde_json::from_str(&run(with_at(&[
        "explain",
        "watermark",
        "--partition",
        "people",
        "--json",
    ])))
    .expect("json");
    vec![
        phrase(&stuck["opened"]),
        since_in(&run(with_at(&["alerts"])), "alerts"),
        since_in(
            &run(with_at(&["explain", "health", "--partition", "people"])),
            "explain health",
        ),
        phrase(&watermark["stuck_warning_opened"]),
        since_in(
            &run(with_at(&["explain", "watermark", "--partition", "people"])).replace(
                "The stuck-watermark warning is open since",
                "stuck-watermark since",
            ),
            "explain watermark",
        ),
    ]
}

#[test]
fn alerts_and_both_explanations_give_one_open_since_for_a_stuck_watermark() {
    // stuck_after 2, retry_count 3: runs 2 to 5 fail on u9. The warning opens at the end of run 3
    // (the second held back), u9's alert escalates to an error at run 4, run 5 holds it back once
    // more. The cause's first occurrence (run 2) and the latest (run 5) are not when it opened.
    let dir = scratch("stuck");
    let failing = r#"
[[step]]
kind = "delta-import"
partition = "people"
  [[step.page]]
  watermark = "B"
  errors = [ { anchor = "u9", error = "custom-continue-run", name = "invalid-characters-error",
               description = "the cn attribute holds U+0007" } ]
"#;
    let scenario = format!(
        "[connector]\nname = \"directory\"\nstuck_after = 2\nretry_count = 3\n\n[[step]]\nkind = \"delta-import\"\npartition = \"people\"\n  [[step.page]]\n  watermark = \"A\"\n  objects = [ {{ anchor = \"u1\" }} ]\n{}",
        failing.repeat(4)
    );
    let path = dir.join("stuck.toml");
    std::fs::write(&path, scenario).expect("scenario");
    let log = dir.join("log");
    let played = std::process::Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .arg("simulate")
        .arg(&path)
        .arg("--log")
        .arg(&log)
        .output()
        .expect("simulate");
    common::stdout_ok(&played);
    let runs = json_lines(&common::stdout_ok(&common::syncfold_on(
        &["runs", "--json"],
        &log,
    )));
    let run3_end = runs[2]["ended_seq"].as_u64().expect("run 3 ended");
    let alerts = json_lines(&common::stdout_ok(&common::syncfold_on(
        &["alerts", "--json"],
        &log,
    )));
    let u9 = alerts
        .iter()
        .find(|alert| alert["anchor"] == "u9")
        .expect("u9's alert");
    assert_eq!(u9["severity"], "error", "u9's alert escalated");
    let expected = format!("event {run3_end} (run 3)");
    for (view, said) in [
        "alerts --json",
        "alerts",
        "explain health",
        "explain watermark --json",
        "explain watermark",
    ]
    .iter()
    .zip(open_since_everywhere(&log, None))
    {
        assert_eq!(said, expected, "{view}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_s_stuck_warning_opened_at_event_26_in_every_view() {
    let dir = scratch("demo");
    let log = dir.join("demo");
    let played = std::process::Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(["demo", "--log"])
        .arg(&log)
        .output()
        .expect("demo");
    common::stdout_ok(&played);
    for said in open_since_everywhere(&log, Some("26")) {
        assert_eq!(said, "event 26 (run 4)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
