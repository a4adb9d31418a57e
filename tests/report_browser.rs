//! The report in a real browser: headless Chromium (Debian's `chromium`, installed by `.ci/run`)
//! opens the report of each example log and of the demo, offline; the page logs nothing to the
//! console (no error, no failed script), the DOM the browser built has one `run-bar` per run that
//! `runs --json` lists, a screenshot is written to the test's output folder, and the page passes
//! `tidy`'s HTML check without errors. Without chromium or tidy the test says so loudly and skips,
//! except under CI, where it fails.

mod common;
use common::{ok, syncfold};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Chromium headless with the flags a closed network needs; `extra` says what to produce.
fn chromium(profile: &Path, page: &Path, extra: &[String]) -> Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[test]
fn every_report_opens_in_chromium_without_a_console_message_and_with_one_bar_per_run() {
    for tool in ["chromium", "tidy"] {
        if !available(tool) {
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is missing, and CI must run the browser test: .ci/run installs chromium and tidy"
            );
            eprintln!("\n!!!!! SKIPPED the browser test: {tool} is not installed (apt-get install chromium tidy, as .ci/run does) !!!!!\n");
            return;
        }
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("output folder");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut logs: Vec<(String, PathBuf)> = Vec::new();
    let demo = out.join("demo-log");
    ok(
        &syncfold(&["demo", "--log", demo.to_str().expect("utf-8")]),
        "demo",
    );
    logs.push(("demo".to_owned(), demo));
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("examples")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    scenarios.sort();
    for scenario in scenarios {
        let name = scenario
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let log = out.join(format!("{name}-log"));
        ok(
            &syncfold(&[
                "simulate",
                scenario.to_str().expect("utf-8"),
                "--log",
                log.to_str().expect("utf-8"),
            ]),
            "simulate",
        );
        logs.push((name, log));
    }
    for (name, log) in &logs {
        let log = log.to_str().expect("utf-8");
        let page = out.join(format!("{name}.html"));
        ok(
            &syncfold(&[
                "report",
                "--log",
                log,
                "--out",
                page.to_str().expect("utf-8"),
            ]),
            "report",
        );
        let runs = ok(&syncfold(&["runs", "--log", log, "--json"]), "runs")
            .lines()
            .count();

        let dom = chromium(
            &out.join(format!("{name}-profile")),
            &page,
            &["--dump-dom".to_owned()],
        );
        assert!(dom.status.success(), "{name}: chromium failed");
        let console: Vec<String> = String::from_utf8_lossy(&dom.stderr)
            .lines()
            .filter(|line| line.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect();
        assert!(
            console.is_empty(),
            "{name}: the page logged to the console: {console:?}"
        );
        let built = String::from_utf8_lossy(&dom.stdout);
        // `run-bar`, or `run-bar refused` for a run that did not start.
        let bars = built
            .match_indices("<rect class=\"run-bar")
            .filter(|(at, found)| {
                matches!(built.as_bytes().get(at + found.len()), Some(b'"' | b' '))
            })
            .count();
        assert_eq!(
            bars, runs,
            "{name}: one bar per run in the page the browser built"
        );

        let shot = out.join(format!("{name}.png"));
        let screenshot = chromium(
            &out.join(format!("{name}-profile")),
            &page,
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=1280,1600".to_owned(),
            ],
        );
        assert!(screenshot.status.success(), "{name}: no screenshot");
        assert!(
            std::fs::metadata(&shot).is_ok_and(|meta| meta.len() > 10_000),
            "{name}: the screenshot at {} is missing or empty",
            shot.display()
        );

        // tidy: 0 clean, 1 warnings only, 2 errors.
        let tidy = Command::new("tidy")
            .args(["-q", "-e", "--show-warnings", "no"])
            .arg(&page)
            .output()
            .expect("tidy runs");
        assert!(
            tidy.status.code().is_some_and(|code| code < 2),
            "{name}: tidy finds HTML errors: {}",
            String::from_utf8_lossy(&tidy.stderr)
        );
    }
    eprintln!("screenshots in {}", out.display());
}
