//! Architecture invariants that a compiler does not check: the core is pure (no IO, no clock, no
//! async runtime, no randomness, no hash-map iteration order) and depends on no outer layer. This
//! test reads the core's sources and fails on any forbidden path, so a stray `use` is caught in CI
//! rather than in a postmortem of a nondeterministic fold. The scenario format, beside the core,
//! is held to naming no engine, log, view or CLI the same way.

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
