//! The log as evidence, proven through the binary as an operator meets it. Every reading command
//! (`state`, `runs`, `events`, `diff`, `alerts`, `explain`, `verify`, as text and as JSON) is run
//! on a log left by a crash (a run in flight and a torn last record), on a read-only bind mount, as
//! a user who may not write the folder, and beside a running `simulate`; each time the folder's
//! file list and every file's bytes, mode and modification time are fingerprinted (blake3) before
//! and after and must not differ, and the private temporary folder given to the child as `TMPDIR`
//! must be empty again once it ends. A run in flight is shown in flight (with `runs --json`
//! carrying SPEC §8's fields), a run printed by `simulate` survives its `kill -9`, and what a
//! reader only reports (a run in flight, a torn tail) the next writer is shown to recover. `demo --log` is shown to refuse every folder that is not new,
//! empty or an unheld earlier demo log, leaving it byte for byte; every command piped into
//! `head -c 1` ends without a panic, a "Broken pipe" or a hang; and the exit statuses (0 ok,
//! 1 damaged, 2 usage, 3 busy or unreadable) are the same across commands, with `verify --json`
//! printing exactly one JSON object in every case. Each test works in its own scratch folder under
//! the temporary folder, removed when it ends (a guard's `Drop`, so also when it fails).

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use syncfold::core::{
    decide, Actor, Anchor, AttributeValue, Attributes, ChangeKind, Command as CoreCommand,
    ConnectorName, Envelope, Event, ObjectChange, Page, PartitionName, RunKind, Settings,
    Timestamp, Watermark,
};
use syncfold::log::{Log, LogOptions, RecordStore, SledOptions, SledStore};

const BIN: &str = env!("CARGO_BIN_EXE_syncfold");

/// A scratch folder, removed when dropped (when the test passes and when it fails).
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("syncfold-evidence-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch folder");
        Scratch { path }
    }

    fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A new empty folder inside the scratch folder.
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.join(name);
        std::fs::create_dir_all(&dir).expect("folder");
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves none.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A read-only bind mount, unmounted when dropped.
struct BindMount {
    target: PathBuf,
}

impl BindMount {
    fn read_only(source: &Path, target: &Path) -> Result<BindMount, String> {
        std::fs::create_dir_all(target).map_err(|e| format!("mkdir {}: {e}", target.display()))?;
        let mount = |args: &[&str]| -> Result<(), String> {
            let output = Command::new("mount")
                .args(args)
                .output()
                .map_err(|e| format!("mount {}: {e}", args.join(" ")))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "mount {} failed ({}): {}",
                    args.join(" "),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
        };
        let target_text = target.display().to_string();
        mount(&["--bind", &source.display().to_string(), &target_text])?;
        // From here on the guard unmounts, whatever happens next.
        let guard = BindMount {
            target: target.to_path_buf(),
        };
        mount(&["-o", "remount,ro,bind", &target_text])?;
        Ok(guard)
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.target)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}

fn command(tmp: &Path, args: &[String]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("TMPDIR", tmp)
        .env_remove("RUST_BACKTRACE");
    command
}

/// Runs the binary with `args`, `TMPDIR` set to `tmp`.
fn syncfold(tmp: &Path, args: &[String]) -> Output {
    command(tmp, args).output().expect("syncfold runs")
}

/// Runs the binary as user `nobody` (uid and gid 65534, no supplementary groups).
fn syncfold_as_nobody(tmp: &Path, args: &[String]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args)
        .env("TMPDIR", tmp)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("setpriv runs")
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

/// `words` followed by `--log LOG`.
fn with_log(words: &[&str], log: &Path) -> Vec<String> {
    let mut all = args(words);
    all.push("--log".to_owned());
    all.push(log.display().to_string());
    all
}

fn shown(args: &[String]) -> String {
    format!("syncfold {}", args.join(" "))
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_status(output: &Output, code: i32, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: exit status {:?}, expected {code}\nstdout: {}\nstderr: {}",
        output.status,
        stdout_of(output),
        stderr_of(output)
    );
    let stderr = stderr_of(output);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("hit a bug"),
        "{what}: {stderr}"
    );
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn simulate(tmp: &Path, scenario: &Path, log: &Path) {
    let words = ["simulate", &scenario.display().to_string()];
    let output = syncfold(tmp, &with_log(&words, log));
    assert_status(&output, 0, &format!("simulate {}", scenario.display()));
}

/// JSON lines, each parsed.
fn json_lines(output: &Output, what: &str) -> Vec<Value> {
    stdout_of(output)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {line}"))
        })
        .collect()
}

fn json_document(output: &Output, what: &str) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON document ({e}): {}",
            stdout_of(output)
        )
    })
}

/// Every reading command, as text and as JSON, on `log`.
fn reading_commands(log: &Path, partition: &str, diff_to: &str) -> Vec<Vec<String>> {
    let commands: [&[&str]; 11] = [
        &["state"],
        &["state", "--at", "3"],
        &["runs"],
        &["events"],
        &["events", "--run", "1"],
        &["diff", "--from", "1", "--to", diff_to],
        &["alerts"],
        &["explain", "watermark", "--partition", partition],
        &["explain", "obsoletion", "--partition", partition],
        &["explain", "health", "--partition", partition],
        &["verify"],
    ];
    let mut all = Vec::new();
    for words in commands {
        for json in [false, true] {
            let mut line = with_log(words, log);
            if json {
                line.push("--json".to_owned());
            }
            all.push(line);
        }
    }
    all
}

/// Each file and folder under `root` (itself included): its kind, mode and modification time,
/// and for a file its length and blake3 hash.
fn fingerprint(root: &Path) -> BTreeMap<String, String> {
    fn visit(root: &Path, path: &Path, out: &mut BTreeMap<String, String>) {
        let meta =
            std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = match path.strip_prefix(root) {
            Ok(relative) if !relative.as_os_str().is_empty() => relative.display().to_string(),
            _ => ".".to_owned(),
        };
        let common = format!(
            "mode {:o} mtime {}.{:09}",
            meta.mode(),
            meta.mtime(),
            meta.mtime_nsec()
        );
        if meta.is_dir() {
            out.insert(name, format!("folder, {common}"));
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .map(|entry| entry.expect("entry").path())
                .collect();
            entries.sort();
            for entry in entries {
                visit(root, &entry, out);
            }
        } else if meta.is_file() {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(
                name,
                format!(
                    "file, {common}, {} bytes, blake3 {}",
                    bytes.len(),
                    blake3::hash(&bytes).to_hex()
                ),
            );
        } else {
            out.insert(name, format!("{:?}, {common}", meta.file_type()));
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

fn assert_unchanged(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    what: &str,
) {
    if before == after {
        return;
    }
    let mut differences = Vec::new();
    for (name, was) in before {
        match after.get(name) {
            None => differences.push(format!("removed {name} ({was})")),
            Some(now) if now != was => differences.push(format!("changed {name}: {was} -> {now}")),
            Some(_) => {}
        }
    }
    for (name, now) in after {
        if !before.contains_key(name) {
            differences.push(format!("created {name} ({now})"));
        }
    }
    panic!(
        "{what} changed the log folder:\n  {}",
        differences.join("\n  ")
    );
}

/// `tmp` (a child's `TMPDIR`) holds nothing: no `syncfold-read-*` copy was left behind.
fn assert_empty(tmp: &Path, what: &str) {
    let left: Vec<String> = std::fs::read_dir(tmp)
        .expect("TMPDIR")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        left.is_empty(),
        "{what} left {left:?} in its TMPDIR {}",
        tmp.display()
    );
}

/// Waits until no process holds the log's sled files (sled's exclusive lock on `sled/db`), so
/// the writer that held it has closed every file and writes nothing more.
fn wait_unheld(log: &Path) {
    let db = log.join("sled").join("db");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let file = std::fs::File::open(&db).expect("sled/db");
        if file.try_lock().is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{} stayed locked", db.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `done` every few milliseconds until it holds or `limit` passes.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn page(watermark: &str, anchor: &str) -> Page {
    Page {
        changes: vec![ObjectChange {
            anchor: Anchor::from(anchor),
            kind: ChangeKind::Add,
            attributes: Attributes(BTreeMap::from([(
                "mail".to_owned(),
                AttributeValue::Single(format!("{anchor}@example.org")),
            )])),
        }],
        watermark: Some(Watermark::from_text(watermark)),
        ..Page::default()
    }
}

/// Leaves the log at `folder` as a crash would: a delta import of `hr/people` started and read a
/// page (both durable), and the page after it was half written past the head note. Returns the
/// run in flight and the torn record's sequence number.
fn leave_in_flight_with_torn_tail(folder: &Path) -> (u64, u64) {
    let store = SledStore::open(folder).expect("the test opens the log as its writer");
    let now = Timestamp(1_900_000_000_000);
    let (mut log, report) = Log::open(store, LogOptions::default(), now).expect("the log opens");
    assert!(report.interrupted.is_empty() && report.torn_record_removed.is_none());
    let actor = Actor::from_name("evidence-test");
    let started = log
        .execute(
            CoreCommand::StartRun {
                connector: ConnectorName::from("hr"),
                partition: PartitionName::from("people"),
                kind: RunKind::DeltaImport,
                settings: Settings::default(),
            },
            now,
            &actor,
        )
        .expect("the run starts");
    let run = match started.first() {
        Some(Event::RunStarted { run, .. }) => *run,
        other => panic!("expected a started run, got {other:?}"),
    };
    log.execute(
        CoreCommand::RecordPage {
            run,
            page: page("E", "u6"),
        },
        now,
        &actor,
    )
    .expect("a page");
    log.flush().expect("flush");
    let last = log.last_seq();
    // The record the writer would have appended next, encoded as it would: cut in half.
    let next = decide(
        log.state(),
        CoreCommand::RecordPage {
            run,
            page: page("F", "u7"),
        },
    )
    .expect("the next page is accepted");
    let envelope = Envelope::new(now, actor, next.into_iter().next().expect("an event"));
    let payload = syncfold::log::codec::encode_event(&envelope).expect("encodes");
    let mut store = log.into_store();
    let previous =
        syncfold::log::record::hash(&store.get(last).expect("get").expect("the last record"));
    let mut record = Vec::new();
    syncfold::log::record::encode(last + 1, &previous, &payload, &mut record);
    store
        .append(last + 1, &record[..record.len() / 2])
        .expect("the torn record is stored");
    store.flush().expect("flush");
    drop(store);
    (run.0, last + 1)
}

/// A scenario of one delta import of one page on `connector`/`partition`.
fn tiny_scenario(path: &Path, connector: &str, partition: &str) {
    std::fs::write(
        path,
        format!(
            "[connector]\nname = \"{connector}\"\n\n[[step]]\nkind = \"delta-import\"\npartition = \"{partition}\"\n  [[step.page]]\n  watermark = \"tiny\"\n  objects = [ {{ anchor = \"t1\", change = \"add\", attrs = {{ mail = \"t1@example.org\" }} }} ]\n"
        ),
    )
    .expect("write the scenario");
}

fn run_with_id(runs: &[Value], id: u64) -> &Value {
    runs.iter()
        .find(|run| run["id"] == id)
        .unwrap_or_else(|| panic!("no run {id} in {runs:?}"))
}

/// A command line without its `--log DIR`: the same key for the same command on any folder.
fn key(line: &[String]) -> String {
    let mut words = Vec::new();
    let mut skip = false;
    for word in line {
        if skip {
            skip = false;
        } else if word == "--log" {
            skip = true;
        } else {
            words.push(word.as_str());
        }
    }
    words.join(" ")
}

/// Runs every reading command on `log` through `run`: each must exit 0, leave the folder
/// `watched` exactly as `before` and its `tmp` empty. Returns the outputs by [`key`].
fn read_everything(
    log: &Path,
    partition: &str,
    watched: &Path,
    before: &BTreeMap<String, String>,
    tmp: &Path,
    run: impl Fn(&[String]) -> Output,
) -> BTreeMap<String, Output> {
    let mut outputs = BTreeMap::new();
    for line in reading_commands(log, partition, "5") {
        let what = shown(&line);
        let output = run(&line);
        assert_status(&output, 0, &what);
        assert_unchanged(before, &fingerprint(watched), &what);
        assert_empty(tmp, &what);
        outputs.insert(key(&line), output);
    }
    outputs
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn reading_leaves_every_byte_as_it_was() {
    let scratch = Scratch::new("untouched");
    let tmp = scratch.dir("tmp");
    let log = scratch.join("log");
    simulate(&tmp, &example("watermark-abc.toml"), &log);
    let (in_flight, torn) = leave_in_flight_with_torn_tail(&log);
    wait_unheld(&log);
    let before = fingerprint(&log);
    assert!(before.keys().any(|name| name.starts_with("sled/")));
    assert!(!log.join("SERVING").exists(), "no writer holds the log now");

    let outputs = read_everything(&log, "people", &log, &before, &tmp, |line| {
        syncfold(&tmp, line)
    });

    // The run in flight is shown in flight, and said so on stderr.
    let runs_json = &outputs["runs --json"];
    assert!(
        stdout_of(runs_json).contains("\"in_flight\":true"),
        "{}",
        stdout_of(runs_json)
    );
    let runs = json_lines(runs_json, "runs --json");
    assert_eq!(runs.len() as u64, in_flight, "every run is listed");
    for run in &runs {
        let open = run["id"] == in_flight;
        assert_eq!(run["in_flight"], open, "{run}");
        assert_eq!(run["status"].is_null(), open, "{run}");
    }
    assert!(stdout_of(&outputs["runs"]).contains("in-flight"));
    let state = json_document(&outputs["state --json"], "state --json");
    assert_eq!(state["last_seq"], torn - 1, "the torn record is not folded");
    let state_runs = state["runs"].as_array().expect("runs[]");
    assert_eq!(run_with_id(state_runs, in_flight)["in_flight"], true);
    for (name, output) in &outputs {
        if name.starts_with("verify") {
            continue;
        }
        let stderr = stderr_of(output);
        assert!(
            stderr.contains(&format!("run {in_flight} is in flight")),
            "{name}: stderr does not say run {in_flight} is in flight: {stderr}"
        );
        assert!(
            stderr.contains(&format!("record {torn} is a write cut short by a crash")),
            "{name}: stderr does not report the torn record {torn}: {stderr}"
        );
    }
    // The torn record is reported, not counted and not removed.
    let events = json_lines(&outputs["events --json"], "events --json");
    assert_eq!(events.len() as u64, torn - 1);
    assert_eq!(events.last().expect("events")["seq"], torn - 1);
    let verified = json_document(&outputs["verify --json"], "verify --json");
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["torn_tail"], torn, "{verified}");
    assert!(
        stdout_of(&outputs["verify"]).contains(&format!("Record {torn} is a write cut short")),
        "{}",
        stdout_of(&outputs["verify"])
    );

    // The next writer recovers what the readers only reported, and records that it did.
    let tiny = scratch.join("tiny.toml");
    tiny_scenario(&tiny, "hr", "people");
    let output = syncfold(
        &tmp,
        &with_log(&["simulate", &tiny.display().to_string()], &log),
    );
    assert_status(&output, 0, "simulate after the crash");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(&format!("record {torn} was a write cut short"))
            && stderr.contains(&format!("run {in_flight} was in flight")),
        "{stderr}"
    );
    let events = json_lines(
        &syncfold(&tmp, &with_log(&["events", "--json"], &log)),
        "events --json",
    );
    let at = |seq: u64| {
        events
            .iter()
            .find(|event| event["seq"] == seq)
            .unwrap_or_else(|| panic!("no event {seq}"))
    };
    assert_eq!(at(torn)["type"], "torn-record-discarded", "{}", at(torn));
    assert!(
        events
            .iter()
            .any(|event| event["type"] == "run-interrupted" && event["run"] == in_flight),
        "run {in_flight} is recorded as interrupted"
    );
    let runs = json_lines(
        &syncfold(&tmp, &with_log(&["runs", "--json"], &log)),
        "runs --json",
    );
    assert_eq!(run_with_id(&runs, in_flight)["status"], "interrupted");
    assert!(runs.iter().all(|run| run["in_flight"] == false));
    assert_eq!(run_with_id(&runs, in_flight + 1)["status"], "success");
    assert_empty(&tmp, "simulate");
    assert_ne!(
        before,
        fingerprint(&log),
        "a writer changes the folder: the fingerprint sees writes"
    );

    // SPEC §8: each line of `runs --json` carries `started_at` and `ended_at` (RFC 3339 UTC,
    // `null` while open) and `duration_ms`; the run that was in flight was shown open.
    let was_open = run_with_id(&json_lines(runs_json, "runs --json"), in_flight).clone();
    for run in runs.iter().chain([&was_open]) {
        for field in ["started_at", "ended_at", "duration_ms"] {
            assert!(
                run.get(field).is_some(),
                "SPEC §8: runs --json lacks `{field}`: {run}"
            );
        }
        assert!(run["started_at"].is_string(), "{run}");
    }
    assert!(was_open["ended_at"].is_null(), "{was_open}");
    assert!(runs.iter().all(|run| run["ended_at"].is_string()));
}

#[test]
fn reading_a_read_only_bind_mount_and_as_a_user_without_write_permission() {
    let scratch = Scratch::new("read-only");
    let tmp = scratch.dir("tmp");
    let source = scratch.join("log");
    let scenario = example("watermark-abc.toml");
    simulate(&tmp, &scenario, &source);
    wait_unheld(&source);
    let before = fingerprint(&source);
    let reference = read_everything(&source, "people", &source, &before, &tmp, |line| {
        syncfold(&tmp, line)
    });
    let same_stdout = |outputs: &BTreeMap<String, Output>, log: &Path, who: &str| {
        for (name, output) in outputs {
            let got = stdout_of(output).replace(&log.display().to_string(), "LOG");
            let want = stdout_of(&reference[name]).replace(&source.display().to_string(), "LOG");
            assert_eq!(
                got, want,
                "{name} {who}: stdout differs from the writable folder's"
            );
        }
    };
    if !is_root() {
        eprintln!(
            "SKIPPED: the read-only bind mount and the reading as user nobody need root (this test runs as uid {}); only the reading of the writable folder was checked",
            // SAFETY: geteuid has no preconditions and cannot fail.
            unsafe { libc::geteuid() }
        );
        return;
    }

    // A read-only bind mount of the log folder.
    let mounted = scratch.join("read-only-view");
    match BindMount::read_only(&source, &mounted) {
        Err(why) => {
            eprintln!("SKIPPED: the read-only bind mount part, because mounting was refused: {why}")
        }
        Ok(guard) => {
            let probe = std::fs::write(mounted.join("probe"), b"x");
            assert!(
                probe
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ReadOnlyFilesystem),
                "the bind mount is not read-only: {probe:?}"
            );
            let outputs = read_everything(&mounted, "people", &source, &before, &tmp, |line| {
                syncfold(&tmp, line)
            });
            same_stdout(&outputs, &mounted, "on the read-only bind mount");
            let writer = syncfold(
                &tmp,
                &with_log(&["simulate", &scenario.display().to_string()], &mounted),
            );
            assert_status(&writer, 3, "simulate on a read-only bind mount");
            let stderr = stderr_of(&writer);
            assert!(
                stderr.contains("read-only") && !stderr.contains("damaged"),
                "simulate on a read-only folder: {stderr}"
            );
            assert_unchanged(
                &before,
                &fingerprint(&source),
                "simulate on the read-only mount",
            );
            assert_empty(&tmp, "simulate on the read-only mount");
            drop(guard);
        }
    }

    // User nobody: may read the folder, may not write it; its TMPDIR is its own.
    let nobody_tmp = scratch.dir("nobody-tmp");
    std::fs::set_permissions(&nobody_tmp, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let outputs = read_everything(&source, "people", &source, &before, &nobody_tmp, |line| {
        syncfold_as_nobody(&nobody_tmp, line)
    });
    same_stdout(&outputs, &source, "as user nobody");
    let writer = syncfold_as_nobody(
        &nobody_tmp,
        &with_log(&["simulate", &scenario.display().to_string()], &source),
    );
    assert_status(&writer, 3, "simulate as user nobody");
    let stderr = stderr_of(&writer);
    assert!(
        stderr.to_lowercase().contains("permission") && !stderr.contains("damaged"),
        "simulate as a user who may not write the log: {stderr}"
    );
    assert_unchanged(&before, &fingerprint(&source), "simulate as user nobody");
    assert_empty(&nobody_tmp, "simulate as user nobody");
}

#[test]
fn a_reader_beside_a_running_simulate_gets_the_state() {
    let scratch = Scratch::new("beside");
    let tmp = scratch.dir("tmp");
    let scenario = scratch.join("long.toml");
    // Many short runs (the scenario's size is capped at 16 MiB), so simulate runs for a while.
    common::long_scenario(&scenario, 12_000, 1, 5);
    let log = scratch.join("log");
    let simulate_stderr = scratch.join("simulate.stderr");
    let simulate_err = std::fs::File::create(&simulate_stderr).expect("file");
    let mut child = Running(
        command(
            &tmp,
            &with_log(
                &["simulate", &scenario.display().to_string(), "--json"],
                &log,
            ),
        )
        .stdout(Stdio::piped())
        .stderr(simulate_err)
        .spawn()
        .expect("simulate starts"),
    );
    let pid = child.0.id();
    let printed = Arc::new(Mutex::new(Vec::<Value>::new()));
    let reader = {
        let printed = Arc::clone(&printed);
        let stdout = child.0.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let run: Value = serde_json::from_str(&line).expect("simulate prints JSON lines");
                printed.lock().expect("lock").push(run);
            }
        })
    };
    let count = || printed.lock().expect("lock").len();
    wait_for(
        Duration::from_secs(120),
        "simulate to print 20 runs",
        || count() >= 20 || child.0.try_wait().expect("try_wait").is_some(),
    );
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "simulate ended before the reads: {}",
        std::fs::read_to_string(&simulate_stderr).unwrap_or_default()
    );
    assert!(log.join("SERVING").is_file(), "the writer announces itself");
    let durable = count();
    let state = syncfold(&tmp, &with_log(&["state", "--json"], &log));
    let runs_durable = count();
    let runs = syncfold(&tmp, &with_log(&["runs", "--json"], &log));
    let verify = syncfold(&tmp, &with_log(&["verify", "--json"], &log));
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "simulate was running all along the reads"
    );
    assert_status(&state, 0, "state --json beside simulate");
    let state = json_document(&state, "state --json");
    let state_runs = state["runs"].as_array().expect("runs[]");
    assert!(
        state_runs.len() >= durable,
        "state shows {} runs, simulate had printed {durable} as durable",
        state_runs.len()
    );
    assert_status(&runs, 0, "runs --json beside simulate");
    let listed = json_lines(&runs, "runs --json");
    assert!(
        listed.len() >= runs_durable,
        "runs shows {} runs, simulate had printed {runs_durable} as durable",
        listed.len()
    );
    for line in printed.lock().expect("lock").iter().take(durable) {
        let id = line["id"].as_u64().expect("id");
        assert_eq!(run_with_id(state_runs, id)["status"], line["status"]);
        assert_eq!(
            run_with_id(state_runs, id)["committed_watermark"],
            line["committed_watermark"]
        );
    }
    assert_status(&verify, 0, "verify --json beside simulate");
    let verify = json_document(&verify, "verify --json");
    assert_eq!(verify["ok"], true);
    assert_eq!(
        verify["served_by"], pid,
        "read through the writer: {verify}"
    );
    assert_empty(&tmp, "the readers beside simulate");

    // kill -9, then read what it left.
    child.0.kill().expect("SIGKILL");
    let _ = child.0.wait();
    reader.join().expect("the stdout reader");
    let printed = printed.lock().expect("lock").clone();
    let after_kill = syncfold(&tmp, &with_log(&["runs", "--json"], &log));
    assert_status(&after_kill, 0, "runs --json after kill -9");
    let listed = json_lines(&after_kill, "runs --json");
    assert!(listed.len() >= printed.len(), "every printed run survived");
    for line in &printed {
        let id = line["id"].as_u64().expect("id");
        assert_eq!(run_with_id(&listed, id)["status"], line["status"]);
    }
    let open: Vec<u64> = listed
        .iter()
        .filter(|run| run["in_flight"] == true)
        .map(|run| run["id"].as_u64().expect("id"))
        .collect();
    for run in &listed {
        assert_eq!(run["in_flight"], run["status"].is_null(), "{run}");
    }
    let stderr = stderr_of(&after_kill);
    for id in &open {
        assert!(
            stderr.contains(&format!("run {id} is in flight")),
            "{stderr}"
        );
    }
    eprintln!(
        "beside: {durable} runs durable before the reads, {} printed before the kill, {} in the log after it, in flight: {open:?}",
        printed.len(),
        listed.len()
    );

    // A writer closes what was in flight as interrupted.
    let tiny = scratch.join("tiny.toml");
    tiny_scenario(&tiny, "long", "p0");
    let output = syncfold(
        &tmp,
        &with_log(&["simulate", &tiny.display().to_string()], &log),
    );
    assert_status(&output, 0, "simulate after kill -9");
    let after = json_lines(
        &syncfold(&tmp, &with_log(&["runs", "--json"], &log)),
        "runs --json",
    );
    for id in &open {
        assert_eq!(run_with_id(&after, *id)["status"], "interrupted");
    }
    assert!(after.iter().all(|run| run["in_flight"] == false));
    assert_eq!(after.len(), listed.len() + 1);
    assert_empty(&tmp, "simulate after kill -9");
}

#[test]
fn demo_never_destroys_a_log_it_did_not_write() {
    let scratch = Scratch::new("demo");
    let tmp = scratch.dir("tmp");
    let demo = |folder: &Path| syncfold(&tmp, &with_log(&["demo"], folder));

    // (a) A log that simulate wrote: refused, untouched.
    let simulated = scratch.join("simulated");
    simulate(&tmp, &example("watermark-abc.toml"), &simulated);
    wait_unheld(&simulated);
    let before = fingerprint(&simulated);
    let output = demo(&simulated);
    assert_status(&output, 2, "demo over a simulate log");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("the demo did not write") && stderr.contains("--log DIR"),
        "the refusal names the remedy: {stderr}"
    );
    assert_unchanged(
        &before,
        &fingerprint(&simulated),
        "demo over a simulate log",
    );

    // (e) An empty folder: written.
    let earlier = scratch.dir("earlier-demo");
    let output = demo(&earlier);
    assert_status(&output, 0, "demo into an empty folder");
    assert!(stdout_of(&output).contains("The week is in the sled log"));
    let events = |folder: &Path| {
        let output = syncfold(&tmp, &with_log(&["events", "--json"], folder));
        assert_status(&output, 0, "events --json");
        stdout_of(&output)
    };
    let demo_events = events(&earlier);
    assert!(demo_events.contains("syncfold-demo"));

    // (b) An earlier demo log that a writer holds (this test): refused with 3, intact.
    let holder = SledStore::open(&earlier).expect("the test holds the demo log");
    let held = fingerprint(&earlier);
    let output = demo(&earlier);
    assert_status(&output, 3, "demo over a held demo log");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("is held by") && stderr.contains("--log DIR"),
        "{stderr}"
    );
    assert_unchanged(&held, &fingerprint(&earlier), "demo over a held demo log");
    drop(holder);
    wait_unheld(&earlier);
    assert_eq!(events(&earlier), demo_events, "the held demo log is intact");

    // (c) The same demo log, nobody holding it: replaced (not appended to).
    let output = demo(&earlier);
    assert_status(&output, 0, "demo over an earlier, unheld demo log");
    assert_eq!(
        events(&earlier),
        demo_events,
        "the earlier demo log was replaced by the same week"
    );
    let verified = syncfold(&tmp, &with_log(&["verify"], &earlier));
    assert_status(&verified, 0, "verify of the replaced demo log");

    // (d) A folder that holds something else: refused, untouched.
    let other = scratch.dir("not-a-log");
    std::fs::write(other.join("notes.txt"), b"the operator's notes\n").expect("write");
    std::fs::create_dir_all(other.join("sub")).expect("mkdir");
    std::fs::write(other.join("sub").join("data.bin"), [0u8, 1, 2, 3]).expect("write");
    let before = fingerprint(&other);
    let output = demo(&other);
    assert_status(&output, 2, "demo over a folder that is not a log");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("is not a syncfold log") && stderr.contains("--log DIR"),
        "{stderr}"
    );
    assert_unchanged(
        &before,
        &fingerprint(&other),
        "demo over a folder that is not a log",
    );

    // (e) A folder that does not exist yet: written.
    let new = scratch.join("new");
    let output = demo(&new);
    assert_status(&output, 0, "demo into a new folder");
    assert_eq!(events(&new), demo_events);
    assert_empty(&tmp, "demo");
}

/// Runs `BIN ARGS 2>ERR | head -c 1` in bash and returns the left side's exit status
/// (`PIPESTATUS[0]`: 141 when SIGPIPE ended it). Fails the test if the pipeline hangs.
fn into_head(tmp: &Path, err: &Path, line: &[String]) -> i32 {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(r#"err=$1; shift; "$@" 2>"$err" | head -c 1 >/dev/null; exit "${PIPESTATUS[0]}""#)
        .arg("bash")
        .arg(err)
        .arg(BIN)
        .args(line)
        .env("TMPDIR", tmp)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status
                .code()
                .unwrap_or_else(|| panic!("{}: bash ended by {status}", shown(line)));
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(format!("-{}", child.id()))
                .status();
            let _ = child.wait();
            panic!("{} | head -c 1 did not end", shown(line));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn piping_every_command_into_head_prints_no_panic() {
    let scratch = Scratch::new("pipe");
    let tmp = scratch.dir("tmp");
    let scenario = scratch.join("long.toml");
    common::long_scenario(&scenario, 300, 4, 20);
    let log = scratch.join("log");
    simulate(&tmp, &scenario, &log);
    let err = scratch.join("stderr");
    let scenario = scenario.display().to_string();
    let mut lines = vec![
        with_log(&["demo"], &scratch.join("demo")),
        with_log(&["simulate", &scenario], &scratch.join("simulated-text")),
        with_log(
            &["simulate", &scenario, "--json"],
            &scratch.join("simulated-json"),
        ),
    ];
    lines.extend(reading_commands(&log, "p0", "100"));
    let mut statuses = BTreeMap::new();
    for line in &lines {
        let status = into_head(&tmp, &err, line);
        *statuses.entry(status).or_insert(0) += 1;
        let stderr = std::fs::read_to_string(&err).expect("stderr file");
        let what = format!("{} | head -c 1", shown(line));
        for word in ["panicked", "Broken pipe", "RUST_BACKTRACE"] {
            assert!(
                !stderr.contains(word),
                "{what}: stderr says {word}: {stderr}"
            );
        }
        assert!(
            stderr.is_empty(),
            "{what}: a closed pipe ends the command quietly, but stderr says: {stderr}"
        );
        assert!(
            status == 0 || status == 141,
            "{what}: exit status {status}, expected 141 (SIGPIPE) or 0"
        );
        assert_empty(&tmp, &what);
    }
    eprintln!("pipe: exit statuses of the commands piped into head -c 1: {statuses:?}");
    // The logs written into a closed pipe are valid logs.
    for name in ["demo", "simulated-text", "simulated-json"] {
        let output = syncfold(&tmp, &with_log(&["verify"], &scratch.join(name)));
        assert_status(
            &output,
            0,
            &format!("verify of the log {name} written into a closed pipe"),
        );
    }
    // A large log's events (hundreds of KB, more than a pipe holds) into a closed pipe: the
    // writer side ends by SIGPIPE, never with 0 after a silently short output.
    let events = json_lines(
        &syncfold(&tmp, &with_log(&["events", "--json"], &log)),
        "events --json",
    );
    assert!(events.len() > 2000, "a large log: {} events", events.len());
    for line in [
        with_log(&["events"], &log),
        with_log(&["events", "--json"], &log),
    ] {
        let status = into_head(&tmp, &err, &line);
        assert_eq!(status, 141, "{} | head -c 1", shown(&line));
        assert_eq!(std::fs::read_to_string(&err).expect("stderr"), "");
    }
}

/// `verify --json` printed exactly one JSON object, with an `ok` field; returns it.
fn one_verify_object(output: &Output, what: &str) -> Value {
    let stdout = stdout_of(output);
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "{what}: verify --json prints one line: {stdout}"
    );
    let value: Value = serde_json::from_str(stdout.trim_end())
        .unwrap_or_else(|e| panic!("{what}: verify --json is not JSON ({e}): {stdout}"));
    assert!(value.is_object(), "{what}: {value}");
    assert!(value["ok"].is_boolean(), "{what}: no ok field: {value}");
    value
}

#[test]
fn exit_statuses_are_consistent() {
    let scratch = Scratch::new("status");
    let tmp = scratch.dir("tmp");

    // A missing log folder: 2 for every reading command, and nothing is created.
    let missing = scratch.join("no-such-log");
    for line in reading_commands(&missing, "people", "5") {
        let output = syncfold(&tmp, &line);
        assert_status(&output, 2, &shown(&line));
        assert!(
            stderr_of(&output).contains("no syncfold log at"),
            "{}: {}",
            shown(&line),
            stderr_of(&output)
        );
        assert!(!missing.exists(), "{} created the folder", shown(&line));
    }
    let report = one_verify_object(
        &syncfold(&tmp, &with_log(&["verify", "--json"], &missing)),
        "verify --json of a missing folder",
    );
    assert_eq!(report["ok"], false);
    assert_eq!(report["status"], 2);

    // A healthy log.
    let log = scratch.join("log");
    simulate(&tmp, &example("stuck-watermark.toml"), &log);
    let report = one_verify_object(
        &syncfold(&tmp, &with_log(&["verify", "--json"], &log)),
        "verify --json of a healthy log",
    );
    assert_eq!(report["ok"], true);

    // A wrong flag, an unknown command, a missing argument: 2.
    let commands: [&[&str]; 8] = [
        &["state"],
        &["runs"],
        &["events"],
        &["diff", "--from", "1", "--to", "2"],
        &["alerts"],
        &["explain", "watermark", "--partition", "people"],
        &["verify"],
        &["simulate", "x.toml"],
    ];
    for words in commands {
        let mut line = with_log(words, &log);
        line.push("--no-such-flag".to_owned());
        assert_status(&syncfold(&tmp, &line), 2, &shown(&line));
    }
    for line in [
        args(&["frobnicate"]),
        with_log(&["diff", "--from", "1"], &log),
        with_log(&["explain", "watermark"], &log),
        with_log(&["explain", "everything", "--partition", "people"], &log),
        with_log(&["state", "--at", "many"], &log),
        args(&["state"]),
    ] {
        assert_status(&syncfold(&tmp, &line), 2, &shown(&line));
    }

    // A damaged record (one byte of record 5 flipped): 1 for every reading command.
    let damaged = scratch.join("damaged");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(&log)
        .arg(&damaged)
        .status()
        .expect("cp");
    assert!(copied.success());
    common::damage_record(&damaged, 5);
    for line in reading_commands(&damaged, "people", "5") {
        let output = syncfold(&tmp, &line);
        assert_status(&output, 1, &shown(&line));
        assert!(
            stderr_of(&output).contains("record 5 is damaged"),
            "{}: {}",
            shown(&line),
            stderr_of(&output)
        );
    }
    let report = one_verify_object(
        &syncfold(&tmp, &with_log(&["verify", "--json"], &damaged)),
        "verify --json of a damaged log",
    );
    assert_eq!(report["ok"], false);
    assert_eq!(report["status"], 1);
    assert_eq!(report["first_bad_seq"], 5);

    // A log held by a process that does not serve readers: 3, busy.
    let holder = SledStore::open_with(
        &log,
        SledOptions {
            serve_readers: false,
        },
    )
    .expect("the test holds the log");
    for words in [&["state"][..], &["runs"], &["events"], &["verify"]] {
        let line = with_log(words, &log);
        let output = syncfold(&tmp, &line);
        assert_status(&output, 3, &shown(&line));
    }
    let report = one_verify_object(
        &syncfold(&tmp, &with_log(&["verify", "--json"], &log)),
        "verify --json of a held log",
    );
    assert_eq!(report["ok"], false);
    assert_eq!(report["status"], 3);
    drop(holder);
    assert_empty(&tmp, "the reading commands");
}
