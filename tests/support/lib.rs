//! Helpers shared by the end-to-end tests: locate and run the real `govstream` binary.
//!
//! `make test` builds the binary before running the tests; a test never builds it itself
//! (cargo holds the build lock while tests run).

pub mod kafka;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of the `govstream` binary: $GOVSTREAM_BIN, else the debug build in the target dir.
pub fn govstream_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GOVSTREAM_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let p = target.join("debug").join("govstream");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p govstream-cli` first (make test does)",
        p.display()
    );
    p
}

/// Runs `govstream ARGS` in the repository root and returns its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(govstream_bin())
        .args(args)
        .current_dir(repo())
        .env("GOVSTREAM_LOG", "warn")
        .output()
        .expect("govstream runs")
}

/// A fresh, empty scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let d = repo()
        .join("target")
        .join("e2e-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Reads an NDJSON file into JSON values.
pub fn read_ndjson(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}
