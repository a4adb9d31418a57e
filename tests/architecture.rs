//! Architecture invariants that a compiler does not check: the core is pure (no IO, no clock, no
//! async runtime, no randomness, no hash-map iteration order) and depends on no outer layer. This
//! test reads the core's sources and fails on any forbidden path, so a stray `use` is caught in CI
//! rather than in a postmortem of a nondeterministic fold. The scenario format, beside the core,
//! is held to naming no engine, log, view or CLI the same way; the views (`src/views/`) build
//! values and text and print nothing: the command line prints. And every source file belongs to a
//! layer that names only the layers inside it.

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "sled",
    "std::fs",
    "std::io",
    "std::net",
    "std::time",
    "std::thread",
    "std::env",
    "std::process",
    "SystemTime",
    "Instant",
    "HashMap",
    "HashSet",
    "rand::",
    "crate::log",
    "crate::engine",
    "crate::cli",
    "crate::script",
    "crate::testkit",
    "crate::demo",
    "crate::views",
    "crate::explain",
    "crate::remedy",
    "crate::scenario",
    "println!",
    "eprintln!",
];

/// Reads every `.rs` file of `folder` (but `skip`) and fails on the first line whose code (not
/// its comment) names one of `forbidden`; returns how many files were read.
fn assert_names_none(folder: &str, layer: &str, forbidden: &[&str], skip: &[&str]) -> usize {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut checked = 0;
    for entry in fs::read_dir(&folder).expect("the folder exists") {
        let path = entry.expect("readable entry").path();
        let skipped = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| skip.contains(&name));
        if path.extension().is_none_or(|ext| ext != "rs") || skipped {
            continue;
        }
        let source = fs::read_to_string(&path).expect("readable source");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for name in forbidden {
                assert!(
                    !code.contains(name),
                    "{}:{}: {layer} must not use `{name}`: {line}",
                    path.display(),
                    number + 1
                );
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn core_is_pure_and_depends_on_no_outer_layer() {
    let checked = assert_names_none("src/core", "the core", FORBIDDEN, &[]);
    assert!(checked >= 5, "expected the core's modules, found {checked}");
}

/// Which modules each layer may name (`crate::…`), by source path. Dependencies point inward:
/// the core names nothing, the log and the pure shells name the core, the engine names the log
/// and the shells, the views name the state and the log's reports, and only the CLI names all.
const LAYERS: &[(&str, &[&str])] = &[
    ("src/core/", &["core"]),
    ("src/log/", &["core", "log"]),
    ("src/script.rs", &["core", "script"]),
    ("src/demo.rs", &["core", "script", "demo"]),
    (
        "src/scenario",
        &["core", "script", "scenario", "views", "remedy", "text"],
    ),
    // The conformance kit drives the real engine into an in-memory log: it sits outside them.
    (
        "src/testkit/conformance.rs",
        &["core", "log", "script", "engine", "testkit"],
    ),
    (
        "src/testkit/recording.rs",
        &["core", "script", "engine", "testkit"],
    ),
    ("src/testkit/", &["core", "script", "testkit"]),
    // The LDAP connector implements the connector contract over the core's vocabulary only.
    ("src/engine/ldap/", &["core", "engine"]),
    (
        "src/engine/",
        &["core", "log", "script", "engine", "scenario"],
    ),
    ("src/views/", &["core", "log", "remedy", "text", "views"]),
    ("src/remedy.rs", &["core", "remedy"]),
    ("src/text.rs", &["text"]),
    ("src/rules.rs", &["rules"]),
];

fn sources(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_layer_names_only_the_layers_inside_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    for path in files {
        let relative = path
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .into_owned();
        if relative.starts_with("src/cli/") || ["src/main.rs", "src/lib.rs"].contains(&&*relative) {
            continue;
        }
        let Some((_, allowed)) = LAYERS
            .iter()
            .find(|(prefix, _)| relative.starts_with(prefix))
        else {
            panic!("{relative}: a source file of no layer; add it to LAYERS and ARCHITECTURE.md");
        };
        let source = fs::read_to_string(&path).expect("readable source");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    allowed.contains(&name.as_str()),
                    "{relative}:{}: this layer may not name `crate::{name}`: {line}",
                    number + 1
                );
            }
        }
    }
}

/// The scenario format sits beside the core: it reads a file (`load_scenario`) and builds
/// scripts from the core's vocabulary, and names no engine, log, view or CLI, so it can be
/// used, and its errors tested, without any of them. Its tests may read the views.
#[test]
fn the_scenario_format_depends_only_on_the_core_and_the_script() {
    let forbidden = [
        "tokio",
        "sled",
        "crate::engine",
        "crate::log",
        "crate::cli",
        "crate::views",
        "crate::demo",
        "crate::explain",
        "crate::testkit",
    ];
    let checked = assert_names_none(
        "src/scenario",
        "the scenario format",
        &forbidden,
        &["tests.rs"],
    );
    assert!(
        checked >= 4,
        "expected the scenario's modules, found {checked}"
    );
}

/// What a view may not use: it builds values and text from the state and the log's events, and
/// the command line prints them. A view that printed, opened files or drove the engine would be a
/// second CLI, and its text could drift from its JSON again.
const FORBIDDEN_IN_VIEWS: &[&str] = &[
    "tokio",
    "sled",
    "std::fs",
    "std::io",
    "std::process",
    "std::env",
    "crate::engine",
    "crate::cli",
    "println!",
    "eprintln!",
    "print!",
    "json!",
];

#[test]
fn views_build_values_and_print_nothing() {
    let checked = assert_names_none("src/views", "a view", FORBIDDEN_IN_VIEWS, &[]);
    assert!(checked >= 7, "expected the views' modules, found {checked}");
}

/// The PostgreSQL client is the PostgreSQL store's business: every other file reaches a log in
/// PostgreSQL through `PgStore` and `RecordStore`, so the client (its runtime, its errors, its
/// password-bearing configuration) can be changed or audited in one folder.
#[test]
fn only_the_postgresql_store_names_the_postgresql_client() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let mut inside = 0;
    for path in files {
        let relative = path
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .into_owned();
        if relative.starts_with("src/log/pg/") {
            inside += 1;
            continue;
        }
        let source = fs::read_to_string(&path).expect("readable source");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("tokio_postgres"),
                "{relative}:{}: only src/log/pg/ may name the PostgreSQL client: {line}",
                number + 1
            );
        }
    }
    assert!(
        inside >= 2,
        "expected the PostgreSQL store's modules, found {inside}"
    );
}
