//! Architecture invariants that a compiler does not check: the core is pure (no IO, no clock, no
//! async runtime, no randomness, no hash-map iteration order) and depends on no outer layer. This
//! test reads the core's sources and fails on any forbidden path, so a stray `use` is caught in CI
//! rather than in a postmortem of a nondeterministic fold; likewise
//! the views (`src/views/`) build values and text and print nothing: the command line prints.

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

/// Fails on the first line of code (comments aside) in a `.rs` file of `folder` that uses a
/// path of `forbidden`, naming the place and `what` it breaks; returns how many files it read.
fn assert_sources_avoid(folder: &str, forbidden: &[&str], what: &str) -> usize {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut checked = 0;
    for entry in fs::read_dir(&folder).expect("the folder exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let source = fs::read_to_string(&path).expect("readable source");
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for forbidden in forbidden {
                assert!(
                    !code.contains(forbidden),
                    "{}:{}: {what} must not use `{forbidden}`: {line}",
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
    let checked = assert_sources_avoid("src/core", FORBIDDEN, "the core");
    assert!(checked >= 5, "expected the core's modules, found {checked}");
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
    let checked = assert_sources_avoid("src/views", FORBIDDEN_IN_VIEWS, "a view");
    assert!(checked >= 7, "expected the views' modules, found {checked}");
}
