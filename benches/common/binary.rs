//! The `syncfold` binary the benchmarks run as an operator would: the one Cargo builds for
//! benches (`CARGO_BIN_EXE_syncfold`, in `target/release`), else `target/release/syncfold`; a
//! clear refusal when it is missing, and a warning when a source file is newer than it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The release binary, or a clear refusal.
pub fn syncfold_binary() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Cargo builds the package's binary for its benches too, and says where.
    let binary = match option_env!("CARGO_BIN_EXE_syncfold") {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.join("target"))
            .join("release")
            .join("syncfold"),
    };
    let Ok(built) = std::fs::metadata(&binary).and_then(|m| m.modified()) else {
        eprintln!(
            "{} is missing: build it with `cargo build --release --bin syncfold` (this benchmark runs the binary as an operator would)",
            binary.display()
        );
        std::process::exit(2);
    };
    if let Some(newer) = newest_source(&manifest.join("src")).filter(|(time, _)| *time > built) {
        eprintln!(
            "warning: {} is newer than {}: the figures are of an older build; run `cargo build --release --bin syncfold` first",
            newer.1.display(),
            binary.display()
        );
    }
    binary
}

fn newest_source(folder: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(folder).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_source(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, path))
        };
        if let Some(candidate) = candidate {
            if newest.as_ref().is_none_or(|(time, _)| candidate.0 > *time) {
                newest = Some(candidate);
            }
        }
    }
    newest
}
