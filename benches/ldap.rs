//! `cargo bench --bench ldap -- [--entries 10000,100000] [--repeats 3] [--page-size 500]
//! [--changes 10000] [--json]`
//!
//! What `syncfold run` costs against the directory it reads, measured side by side in one run
//! against the same throwaway slapd (issue 17). The benchmark runs the `syncfold` binary as an
//! operator would: the one Cargo builds for benches (`CARGO_BIN_EXE_syncfold`, in
//! `target/release`), else `target/release/syncfold`, and says so when it is missing or older
//! than the sources.
//!
//! For each N of `--entries`, a fresh slapd (`tests/common/slapd.rs`: mdb, accesslog overlay)
//! gets N `inetOrgPerson` entries through `slapadd` while it is stopped (minutes faster than
//! `ldapadd` for 100,000; the accesslog then holds only the three base entries, so the full
//! import's accesslog position is the newest of those, and the delta import reads exactly the
//! changes made after it). Then, alternating, R times each (after one untimed warm-up of each,
//! which also checks that both see N entries):
//!
//! - **ldapsearch**: `ldapsearch -E pr=P/noprompt` of the partition (same base, filter,
//!   attributes and page size as the connector) to `/dev/null`;
//! - **syncfold**: `syncfold run ... full-import --json` into a fresh sled log, until it has
//!   printed its durable answer.
//!
//! The ratio is ldapsearch's median time over syncfold's: 1.0 means syncfold lists the partition
//! as fast as the directory's own client, ≥ 0.8 is the target (the directory, not syncfold, is
//! the limit).
//!
//! **Delta import**, on the largest N: after one full import (untimed), R times: M modifies of
//! distinct entries in one `ldapmodify` (untimed, its rate printed for context), then `syncfold
//! run ... delta-import` (timed), checked to end at the accesslog's newest record. The figure is
//! M over the median time, in changes per second.
//!
//! Every figure is a median; the last line is one JSON object for scripts. Absolute times depend
//! on the machine and its load; the ratios are the result.

#[allow(dead_code)]
#[path = "../tests/common/slapd.rs"]
mod slapd;

use serde_json::Value;
use slapd::{Slapd, ADMIN_DN, PEOPLE, SUFFIX};

#[path = "common/binary.rs"]
mod binary;
#[path = "common/flags.rs"]
mod flags;
use binary::syncfold_binary;
use flags::Flags;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FILTER: &str = "(objectClass=inetOrgPerson)";
const ATTRIBUTES: [&str; 7] = [
    "uid",
    "cn",
    "sn",
    "givenName",
    "mail",
    "employeeNumber",
    "description",
];
const USAGE: &str = "cargo bench --bench ldap -- [--entries N[,N...]] [--repeats R] [--page-size P] [--changes M] [--json]";

struct Args {
    entries: Vec<usize>,
    repeats: usize,
    page_size: u32,
    changes: usize,
    json_only: bool,
}

fn args() -> Args {
    let mut parsed = Args {
        entries: vec![10_000, 100_000],
        repeats: 3,
        page_size: 500,
        changes: 10_000,
        json_only: false,
    };
    let mut flags = Flags::new(USAGE);
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--json" => parsed.json_only = true,
            "--entries" => {
                parsed.entries = flags
                    .positives(&flag)
                    .into_iter()
                    .map(|n| n as usize)
                    .collect()
            }
            "--repeats" => parsed.repeats = flags.positive(&flag) as usize,
            "--page-size" => match flags.positive(&flag) {
                size @ 1..=10_000 => parsed.page_size = size as u32,
                size => flags.fail(&format!("--page-size is at most 10000, not {size}")),
            },
            "--changes" => parsed.changes = flags.positive(&flag) as usize,
            _ => flags.unknown(&flag),
        }
    }
    parsed
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn check(output: &Output, what: &str) {
    if !output.status.success() {
        panic!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A slapd with `people` entries, loaded offline with `slapadd`.
fn server_with(people: usize) -> Slapd {
    let mut server = Slapd::start(0);
    server.stop();
    let ldif = server.folder().join("people.ldif");
    let mut text = String::with_capacity(people * 300);
    for number in 0..people {
        text.push_str(&slapd::person(number));
    }
    std::fs::write(&ldif, text).expect("write the people's LDIF");
    let output = Command::new("/usr/sbin/slapadd")
        .arg("-q")
        .arg("-f")
        .arg(server.folder().join("slapd.conf"))
        .args(["-b", SUFFIX, "-l"])
        .arg(&ldif)
        .output()
        .expect("slapadd runs");
    check(&output, "slapadd");
    let _ = std::fs::remove_file(&ldif);
    server.start_again();
    server
}

fn connectors_file(server: &Slapd, entries: usize, page_size: u32) -> PathBuf {
    let file = server.folder().join("connectors.toml");
    let attributes: Vec<String> = ATTRIBUTES.iter().map(|a| format!("{a:?}")).collect();
    std::fs::write(
        &file,
        format!(
            r#"[[connector]]
name = "corp"
type = "ldap"
url = "{url}"
bind_dn = "{ADMIN_DN}"
password_file = "{password}"
page_size = {page_size}
snapshot_limit = {snapshot_limit}

  [[connector.partition]]
  name = "people"
  base_dn = "{PEOPLE}"
  filter = "{FILTER}"
  attributes = [{attributes}]
"#,
            url = server.url(),
            // Room for the largest partition (the default limit of SPEC §7 is below 100,000).
            snapshot_limit = 10 * entries.max(100_000),
            password = server.password_file().display(),
            attributes = attributes.join(", "),
        ),
    )
    .expect("write the connectors file");
    file
}

fn ldapsearch(server: &Slapd, page_size: u32) -> Command {
    let mut command = Command::new("ldapsearch");
    command
        .args(["-x", "-LLL", "-H", &server.url(), "-D", ADMIN_DN, "-y"])
        .arg(server.password_file())
        .args([
            "-E",
            &format!("pr={page_size}/noprompt"),
            "-b",
            PEOPLE,
            FILTER,
        ])
        .args(ATTRIBUTES);
    command
}

/// One `ldapsearch` of the partition to `/dev/null`.
fn time_ldapsearch(server: &Slapd, page_size: u32) -> f64 {
    let started = Instant::now();
    let status = ldapsearch(server, page_size)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ldapsearch runs");
    let elapsed = secs(started.elapsed());
    assert!(status.success(), "ldapsearch failed: {status}");
    elapsed
}

struct Syncfold<'a> {
    binary: &'a Path,
    config: &'a Path,
}

impl Syncfold<'_> {
    /// `syncfold run ... KIND --json` into `log`: the elapsed seconds and the JSON line.
    fn run(&self, log: &Path, kind: &str) -> (f64, Value) {
        let started = Instant::now();
        let output = Command::new(self.binary)
            .arg("run")
            .arg("--config")
            .arg(self.config)
            .arg("--log")
            .arg(log)
            .args([
                "--connector",
                "corp",
                "--partition",
                "people",
                kind,
                "--json",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("syncfold runs");
        let elapsed = secs(started.elapsed());
        check(&output, &format!("syncfold run {kind}"));
        let line: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "syncfold run {kind} printed no JSON line ({error}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        assert_eq!(line["status"], "success", "syncfold run {kind}: {line}");
        (elapsed, line)
    }

    /// The live objects of the partition in `log`.
    fn live_objects(&self, log: &Path) -> usize {
        let output = Command::new(self.binary)
            .args(["state", "--partition", "people", "--json", "--log"])
            .arg(log)
            .output()
            .expect("syncfold state runs");
        check(&output, "syncfold state");
        let state: Value = serde_json::from_slice(&output.stdout).expect("state JSON");
        state["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .filter(|object| object["obsolete"] == false)
            .count()
    }
}

struct FullResult {
    entries: usize,
    ldapsearch_s: f64,
    syncfold_s: f64,
}

impl FullResult {
    fn ratio(&self) -> f64 {
        self.ldapsearch_s / self.syncfold_s
    }
}

fn full_imports(
    server: &Slapd,
    syncfold: &Syncfold<'_>,
    entries: usize,
    args: &Args,
    scratch: &Path,
) -> FullResult {
    // Warm-up, untimed: both read the whole partition once, and both see every entry.
    let output = ldapsearch(server, args.page_size)
        .output()
        .expect("ldapsearch runs");
    check(&output, "ldapsearch");
    let listed = output
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"dn: "))
        .count();
    assert_eq!(listed, entries, "ldapsearch lists every entry");
    let warm = scratch.join(format!("warm-{entries}"));
    syncfold.run(&warm, "full-import");
    assert_eq!(
        syncfold.live_objects(&warm),
        entries,
        "syncfold imports every entry"
    );
    let _ = std::fs::remove_dir_all(&warm);

    let (mut searched, mut imported) = (Vec::new(), Vec::new());
    for repeat in 0..args.repeats {
        let log = scratch.join(format!("full-{entries}-{repeat}"));
        // Alternate which goes first, so neither always runs on the other's warm cache.
        let (search, import) = if repeat % 2 == 0 {
            let search = time_ldapsearch(server, args.page_size);
            (search, syncfold.run(&log, "full-import").0)
        } else {
            let import = syncfold.run(&log, "full-import").0;
            (time_ldapsearch(server, args.page_size), import)
        };
        let _ = std::fs::remove_dir_all(&log);
        if !args.json_only {
            println!(
                "  {entries} entries, repeat {}: ldapsearch {search:.3} s, syncfold full import {import:.3} s (ratio {:.2})",
                repeat + 1,
                search / import
            );
        }
        searched.push(search);
        imported.push(import);
    }
    FullResult {
        entries,
        ldapsearch_s: median(&mut searched),
        syncfold_s: median(&mut imported),
    }
}

struct DeltaResult {
    changes: usize,
    delta_s: f64,
    ldapmodify_s: f64,
}

fn delta_imports(
    server: &Slapd,
    syncfold: &Syncfold<'_>,
    entries: usize,
    args: &Args,
    scratch: &Path,
) -> DeltaResult {
    let changes = args.changes.min(entries);
    let log = scratch.join("delta");
    syncfold.run(&log, "full-import");
    let (mut deltas, mut modifies) = (Vec::new(), Vec::new());
    for repeat in 0..args.repeats {
        // Fresh changes: a new description on `changes` distinct entries, spread over the
        // partition.
        let stride = entries / changes;
        let mut ldif = String::with_capacity(changes * 120);
        for change in 0..changes {
            let number = change * stride;
            ldif.push_str(&format!(
                "dn: uid=user{number:05},{PEOPLE}\nchangetype: modify\nreplace: description\ndescription: delta {repeat} of {number}\n\n"
            ));
        }
        let started = Instant::now();
        server.ldapmodify(&ldif);
        let modify = secs(started.elapsed());
        let (delta, line) = syncfold.run(&log, "delta-import");
        let newest = server
            .accesslog_starts()
            .pop()
            .expect("the accesslog holds the changes");
        assert_eq!(
            line["committed_watermark"].as_str(),
            Some(newest.as_str()),
            "the delta import read every change"
        );
        if !args.json_only {
            println!(
                "  delta repeat {}: {changes} modifies by ldapmodify in {modify:.3} s, delta import {delta:.3} s ({:.0} changes/s)",
                repeat + 1,
                changes as f64 / delta
            );
        }
        deltas.push(delta);
        modifies.push(modify);
    }
    let _ = std::fs::remove_dir_all(&log);
    DeltaResult {
        changes,
        delta_s: median(&mut deltas),
        ldapmodify_s: median(&mut modifies),
    }
}

fn thousands(n: usize) -> String {
    if n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn main() {
    let args = args();
    let binary = syncfold_binary();
    if !Slapd::available() {
        eprintln!("slapd and ldap-utils are needed: apt-get install slapd ldap-utils");
        std::process::exit(2);
    }
    let scratch = std::env::temp_dir().join(format!("syncfold-bench-ldap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch folder");

    let mut fulls = Vec::new();
    let mut delta = None;
    let largest = args.entries.iter().copied().max().unwrap_or(0);
    for &entries in &args.entries {
        if !args.json_only {
            println!("{entries} entries: loading a fresh slapd with slapadd");
        }
        let server = server_with(entries);
        let config = connectors_file(&server, entries, args.page_size);
        let syncfold = Syncfold {
            binary: &binary,
            config: &config,
        };
        let full = full_imports(&server, &syncfold, entries, &args, &scratch);
        if !args.json_only {
            println!(
                "{entries} entries, median of {}: ldapsearch {:.3} s ({:.0} entries/s), syncfold full import {:.3} s ({:.0} entries/s): ratio {:.2} (target ≥ 0.8)",
                args.repeats,
                full.ldapsearch_s,
                entries as f64 / full.ldapsearch_s,
                full.syncfold_s,
                entries as f64 / full.syncfold_s,
                full.ratio()
            );
        }
        fulls.push(full);
        if entries == largest && delta.is_none() {
            let result = delta_imports(&server, &syncfold, entries, &args, &scratch);
            if !args.json_only {
                println!(
                    "delta import of {} modifies on {entries} entries, median of {}: {:.3} s, {:.0} changes/s (ldapmodify applied them at {:.0} changes/s)",
                    result.changes,
                    args.repeats,
                    result.delta_s,
                    result.changes as f64 / result.delta_s,
                    result.changes as f64 / result.ldapmodify_s
                );
            }
            delta = Some((entries, result));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let mut json = serde_json::Map::new();
    json.insert("page_size".into(), args.page_size.into());
    json.insert("repeats".into(), args.repeats.into());
    for full in &fulls {
        let name = thousands(full.entries);
        let round = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
        json.insert(
            format!("ldap_full_{name}_vs_ldapsearch"),
            round(full.ratio(), 3).into(),
        );
        json.insert(
            format!("ldap_full_{name}_syncfold_s"),
            round(full.syncfold_s, 3).into(),
        );
        json.insert(
            format!("ldap_full_{name}_ldapsearch_s"),
            round(full.ldapsearch_s, 3).into(),
        );
    }
    if let Some((entries, result)) = delta {
        json.insert("ldap_delta_entries".into(), entries.into());
        json.insert("ldap_delta_changes".into(), result.changes.into());
        json.insert(
            "ldap_delta_changes_per_s".into(),
            ((result.changes as f64 / result.delta_s).round() as u64).into(),
        );
        json.insert(
            "ldap_delta_ldapmodify_changes_per_s".into(),
            ((result.changes as f64 / result.ldapmodify_s).round() as u64).into(),
        );
    }
    println!("{}", Value::Object(json));
}
