//! Architecture invariants that a compiler does not check: the core is pure (no IO, no clock, no
//! async runtime, no randomness, no hash-map iteration order) and depends on no outer layer. This
//! test reads the core's sources and fails on any forbidden path, so a stray `use` is caught in CI
//! rather than in a postmortem of a nondeterministic fold.

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

#[test]
fn core_is_pure_and_depends_on_no_outer_layer() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut checked = 0;
    for entry in fs::read_dir(&core).expect("src/core exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let source = fs::read_to_string(&path).expect("readable source");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for forbidden in FORBIDDEN {
                assert!(
                    !code.contains(forbidden),
                    "{}:{}: the core must not use `{forbidden}`: {line}",
                    path.display(),
                    number + 1
                );
            }
        }
        checked += 1;
    }
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
    (
        "src/engine/",
        &["core", "log", "script", "engine", "scenario"],
    ),
    (
        "src/views",
        &["core", "log", "remedy", "text", "views", "explain"],
    ),
    (
        "src/explain.rs",
        &["core", "log", "remedy", "text", "views", "explain"],
    ),
    ("src/remedy.rs", &["core", "remedy"]),
    ("src/text.rs", &["text"]),
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
