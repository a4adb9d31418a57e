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

/// The scenario format sits beside the core: it reads a file (`load_scenario`) and builds
/// scripts from the core's vocabulary, and names no engine, log, view or CLI, so it can be
/// used, and its errors tested, without any of them. Its tests may read the views.
#[test]
fn the_scenario_format_depends_only_on_the_core_and_the_script() {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/scenario");
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
    let mut checked = 0;
    for entry in fs::read_dir(&scenario).expect("src/scenario exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_none_or(|ext| ext != "rs")
            || path.file_name().is_some_and(|name| name == "tests.rs")
        {
            continue;
        }
        let source = fs::read_to_string(&path).expect("readable source");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for name in forbidden {
                assert!(
                    !code.contains(name),
                    "{}:{}: the scenario format must not use `{name}`: {line}",
                    path.display(),
                    number + 1
                );
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 4,
        "expected the scenario's modules, found {checked}"
    );
}
