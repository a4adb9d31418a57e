//! `cargo bench --bench report -- [--runs N] [--repeats R] [--json]`
//!
//! The postmortem report of a large log, against the verified read it cannot do without. A log
//! of N delta imports (default 100,000) over two partitions, each of 8 pages of one object
//! (every tenth run has a discovery error on its fifth page): about 11 events per run, so about
//! 1,100,000 events at the default. It is written by `syncfold simulate` from generated scenario
//! files (untimed). Then, alternating, R times (default 3):
//!
//! - *verify*: `syncfold verify --log LOG` (every record's checksum, format, chain and rules:
//!   the read every reading command, the report included, pays);
//! - *report*: `syncfold report --log LOG --out FILE`.
//!
//! Both are the release binary run as an operator would (`benches/common/binary.rs`). It prints
//! the medians, the report's time over verify's, the report's peak resident memory (from GNU
//! `time` when `/usr/bin/time` is there), the page's size and how many run bars it draws. The
//! last line is one JSON object.

#[path = "common/binary.rs"]
mod binary;
#[path = "common/flags.rs"]
mod flags;
use flags::Flags;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Runs per scenario file: each stays below the scenario reader's 16 MiB.
const RUNS_PER_FILE: u64 = 20_000;

struct Args {
    runs: u64,
    repeats: usize,
    json_only: bool,
}

fn args() -> Args {
    let mut parsed = Args {
        runs: 100_000,
        repeats: 3,
        json_only: false,
    };
    let mut flags = Flags::new("cargo bench --bench report -- [--runs N] [--repeats R] [--json]");
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--json" => parsed.json_only = true,
            "--runs" => parsed.runs = flags.positive(&flag),
            "--repeats" => parsed.repeats = flags.positive(&flag) as usize,
            _ => flags.unknown(&flag),
        }
    }
    parsed
}

/// The scenario files of `runs` delta imports, written into `folder`.
fn scenarios(folder: &Path, runs: u64) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut watermark = 0u64;
    let mut first = 0;
    while first < runs {
        let last = (first + RUNS_PER_FILE).min(runs);
        let mut text = String::from("[connector]\nname = \"directory\"\n");
        for run in first..last {
            let partition = if run % 2 == 0 { "people" } else { "groups" };
            text.push_str(&format!(
                "[[step]]\nkind = \"delta-import\"\npartition = \"{partition}\"\n"
            ));
            for page in 0..8u64 {
                watermark += 1;
                let anchor = format!("u{}", (run * 31 + page * 7) % 5000);
                if run % 10 == 3 && page == 4 {
                    text.push_str(&format!(
                        "  [[step.page]]\n  watermark = \"W{watermark:09}\"\n  errors = [ {{ anchor = \"{anchor}\", error = \"custom-continue-run\", name = \"invalid-characters-error\", description = \"the cn holds <U+0007> & more\" }} ]\n"
                    ));
                } else {
                    text.push_str(&format!(
                        "  [[step.page]]\n  watermark = \"W{watermark:09}\"\n  objects = [ {{ anchor = \"{anchor}\" }} ]\n"
                    ));
                }
            }
        }
        let file = folder.join(format!("runs-{first:07}.toml"));
        std::fs::write(&file, text).expect("write a scenario file");
        files.push(file);
        first = last;
    }
    files
}

/// Runs `command` to its end; its wall time in seconds and, under GNU time, its peak RSS in MB.
fn timed(binary: &Path, args: &[&str]) -> (f64, Option<f64>) {
    let gnu_time = Path::new("/usr/bin/time");
    let mut command = if gnu_time.exists() {
        let mut command = Command::new(gnu_time);
        command.args(["-f", "peak-rss-kb %M"]).arg(binary);
        command
    } else {
        Command::new(binary)
    };
    let started = Instant::now();
    let output = command.args(args).output().expect("run syncfold");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "syncfold {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peak = String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|line| line.strip_prefix("peak-rss-kb "))
        .and_then(|kb| kb.trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    (seconds, peak)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args = args();
    let binary = binary::syncfold_binary();
    let folder = std::env::temp_dir().join(format!("syncfold-bench-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("a scratch folder");
    let log = folder.join("log");
    let page = folder.join("report.html");
    let log_arg = log.to_string_lossy().into_owned();
    let page_arg = page.to_string_lossy().into_owned();

    let started = Instant::now();
    for file in scenarios(&folder, args.runs) {
        let file = file.to_string_lossy().into_owned();
        timed(&binary, &["simulate", "--log", &log_arg, &file]);
    }
    if !args.json_only {
        eprintln!(
            "wrote a log of {} runs in {:.1} s",
            args.runs,
            started.elapsed().as_secs_f64()
        );
    }

    let (mut verify, mut report, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for repeat in 0..args.repeats {
        // Alternate which goes first, so neither always meets the other's warm cache.
        let verify_first = repeat % 2 == 0;
        if verify_first {
            verify.push(timed(&binary, &["verify", "--log", &log_arg]).0);
        }
        let (seconds, peak) = timed(&binary, &["report", "--log", &log_arg, "--out", &page_arg]);
        report.push(seconds);
        peaks.extend(peak);
        if !verify_first {
            verify.push(timed(&binary, &["verify", "--log", &log_arg]).0);
        }
    }
    let html = std::fs::read_to_string(&page).expect("the report page");
    let bars = html.matches("class=\"run-bar").count();
    // The page says "(N events)" in its range note.
    let events = html
        .find(" events)")
        .and_then(|at| {
            let start = html[..at].rfind('(')? + 1;
            html[start..at].parse::<u64>().ok()
        })
        .unwrap_or(0);
    let (verify, report) = (median(verify), median(report));
    let peak = (!peaks.is_empty()).then(|| median(peaks));
    if !args.json_only {
        println!(
            "{} runs, {events} events; median of {}",
            args.runs, args.repeats
        );
        println!("  syncfold verify:  {verify:.2} s");
        println!(
            "  syncfold report:  {report:.2} s ({:.2}x verify), peak RSS {}, page {:.1} MB, {bars} run bars",
            report / verify,
            peak.map_or_else(|| "n/a (no /usr/bin/time)".to_owned(), |mb| format!("{mb:.0} MB")),
            html.len() as f64 / 1e6
        );
    }
    println!(
        "{{\"runs\":{},\"events\":{events},\"verify_s\":{verify:.3},\"report_s\":{report:.3},\"report_vs_verify\":{:.3},\"report_peak_rss_mb\":{},\"page_bytes\":{},\"run_bars\":{bars}}}",
        args.runs,
        report / verify,
        peak.map_or_else(|| "null".to_owned(), |mb| format!("{mb:.0}")),
        html.len()
    );
    let _ = std::fs::remove_dir_all(&folder);
}
