//! `syncfold run` and `syncfold enqueue` against a real OpenLDAP server, as an operator uses them
//! (SPEC §9): a connectors file with the password in an environment variable, a full import, a
//! change made with `ldapmodify` picked up by a delta import, the connector space equal to an
//! `ldapsearch` of the partition, changes queued from a JSON-lines file and exported, a wrong
//! connectors file refused at its place, a wrong password recorded as `bad-credentials` — and
//! the password in no output and no byte of the log.

mod common;

use common::slapd::{Slapd, ADMIN_DN, PEOPLE};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD_ENV: &str = "SYNCFOLD_TEST_LDAP_PASSWORD";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syncfold-ldap-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn syncfold(args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncfold"))
        .args(args)
        .env(PASSWORD_ENV, password)
        .output()
        .expect("syncfold runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn connectors_file(dir: &Path, url: &str) -> PathBuf {
    let file = dir.join("connectors.toml");
    std::fs::write(
        &file,
        format!(
            r#"[[connector]]
name = "corp"
type = "ldap"
url = "{url}"
bind_dn = "{ADMIN_DN}"
password_env = "{PASSWORD_ENV}"
page_size = 50

  [[connector.partition]]
  name = "people"
  base_dn = "{PEOPLE}"
  filter = "(objectClass=inetOrgPerson)"
  attributes = ["cn", "sn", "mail", "title", "manager"]
  reference_attributes = ["manager"]
"#
        ),
    )
    .expect("write the connectors file");
    file
}

/// The one JSON line `run --json` prints.
fn run_line(output: &Output) -> Value {
    assert!(output.status.success(), "run failed: {}", text(output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    serde_json::from_str(lines[0]).expect("JSON")
}

#[test]
fn an_operator_imports_changes_and_exports_with_the_command_line() {
    let Some(slapd) = Slapd::start_or_skip("ldap_cli", 120) else {
        return;
    };
    let dir = scratch("story");
    let log = dir.join("log");
    let config = connectors_file(&dir, &slapd.url());
    let password = slapd.password().to_owned();
    let mut everything = String::new();
    let run = |kind: &str, everything: &mut String| {
        let output = syncfold(
            &[
                "run",
                "--config",
                p(&config),
                "--log",
                p(&log),
                "--connector",
                "corp",
                "--partition",
                "people",
                kind,
                "--json",
            ],
            &password,
        );
        everything.push_str(&text(&output));
        run_line(&output)
    };

    // A full import: 120 people in 3 pages, a watermark committed.
    let full = run("full-import", &mut everything);
    assert_eq!(full["status"], "success", "{full}");
    assert_eq!(full["kind"], "full-import");
    let first_watermark = full["committed_watermark"]
        .as_str()
        .expect("committed")
        .to_owned();

    // An administrator changes the directory; a delta import picks it up.
    slapd.ldapmodify(&format!(
        "dn: uid=user00003,{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: lead\n\n\
         dn: uid=user00007,{PEOPLE}\nchangetype: delete\n"
    ));
    let delta = run("delta-import", &mut everything);
    assert_eq!(delta["status"], "success", "{delta}");
    assert_ne!(
        delta["committed_watermark"].as_str(),
        Some(first_watermark.as_str())
    );

    // The connector space is what ldapsearch shows.
    let state_output = syncfold(
        &["state", "--log", p(&log), "--partition", "people", "--json"],
        &password,
    );
    everything.push_str(&text(&state_output));
    let state: Value = serde_json::from_slice(&state_output.stdout).expect("state JSON");
    let mut live: Vec<String> = state["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["obsolete"] == false)
        .map(|o| o["anchor"].as_str().expect("anchor").to_lowercase())
        .collect();
    live.sort();
    let mut searched: Vec<String> = slapd
        .ldapsearch(PEOPLE, "(objectClass=inetOrgPerson)")
        .keys()
        .map(|dn| dn.to_lowercase())
        .collect();
    searched.sort();
    assert_eq!(live, searched, "the connector space is the directory");
    assert!(!live.iter().any(|dn| dn.starts_with("uid=user00007,")));

    // Changes queued from a file and exported: the directory shows them.
    let changes = dir.join("changes.jsonl");
    std::fs::write(
        &changes,
        format!(
            "{{\"anchor\": \"uid=user00004,{PEOPLE}\", \"change\": \"update\", \"attrs\": {{\"title\": \"architect\"}}, \"refs\": {{\"manager\": \"uid=user00003,{PEOPLE}\"}}}}\n"
        ),
    )
    .expect("write changes");
    let queued = syncfold(
        &[
            "enqueue",
            "--log",
            p(&log),
            "--connector",
            "corp",
            "--partition",
            "people",
            p(&changes),
        ],
        &password,
    );
    everything.push_str(&text(&queued));
    assert!(queued.status.success(), "{}", text(&queued));
    let export = run("export", &mut everything);
    assert_eq!(export["status"], "success", "{export}");
    let entry = slapd.ldapsearch(&format!("uid=user00004,{PEOPLE}"), "(objectClass=*)");
    let attributes = entry.values().next().expect("the entry");
    assert_eq!(attributes.get("title"), Some(&vec!["architect".to_owned()]));
    assert_eq!(
        attributes.get("manager").map(|v| v[0].to_lowercase()),
        Some(format!("uid=user00003,{PEOPLE}").to_lowercase())
    );

    // A wrong password: the run is recorded as stopped, and the connector is disabled.
    let wrong = syncfold(
        &[
            "run",
            "--config",
            p(&config),
            "--log",
            p(&log),
            "--connector",
            "corp",
            "--partition",
            "people",
            "delta-import",
            "--json",
        ],
        "not-the-password",
    );
    everything.push_str(&text(&wrong));
    let wrong = run_line(&wrong);
    assert_eq!(wrong["status"], "stopped-bad-server-credentials", "{wrong}");

    // The password is in no output and in no byte of the log folder.
    assert!(!everything.contains(&password), "the password was printed");
    let mut stack = vec![log.clone()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("log folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !bytes
                        .windows(password.len())
                        .any(|w| w == password.as_bytes()),
                    "the password is in {}",
                    path.display()
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_wrong_connectors_file_or_name_is_refused_before_anything_runs() {
    let dir = scratch("wrong");
    let log = dir.join("log");
    let config = connectors_file(&dir, "ldap://127.0.0.1:9");
    let broken = dir.join("broken.toml");
    let text_of = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &broken,
        text_of.replace(
            &format!("password_env = \"{PASSWORD_ENV}\""),
            "password = \"hunter2\"",
        ),
    )
    .expect("write");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--config", p(&broken), "--connector", "corp", "--partition", "people"],
            "broken.toml:6:1: connector[0].password: a password is never written in a connectors file",
        ),
        (
            &["--config", p(&config), "--connector", "crop", "--partition", "people"],
            "configures no connector named \"crop\" (it has: corp)",
        ),
        (
            &["--config", p(&config), "--connector", "corp", "--partition", "peple"],
            "has no partition named \"peple\" (it has: people)",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["run", "--log", p(&log)];
        all.extend_from_slice(args);
        all.push("full-import");
        let output = syncfold(&all, "x");
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(text(&output).contains(expected), "{}", text(&output));
        assert!(!log.exists(), "nothing was written");
    }
    // An unreachable server: the run is recorded, as server-down.
    let output = syncfold(
        &[
            "run",
            "--config",
            p(&config),
            "--log",
            p(&log),
            "--connector",
            "corp",
            "--partition",
            "people",
            "full-import",
            "--json",
        ],
        "x",
    );
    assert_eq!(run_line(&output)["status"], "stopped-server-down");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example connectors file stays valid.
#[test]
fn the_example_connectors_file_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ldap/connectors.toml");
    let file = syncfold::scenario::connectors::load_connectors(&example).expect("valid example");
    let corp = file.connector("corp").expect("corp");
    assert_eq!(corp.partition_names(), vec!["people", "groups"]);
}
