//! Helpers shared by the end-to-end tests: locate and run the real `govstream` binary.
//!
//! `make test` builds the release binary and points `GOVSTREAM_BIN` at it before running the
//! tests; a test never builds it itself (cargo holds the build lock while tests run).

pub mod kafka;
pub mod workload;

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
        "{} is missing: run `cargo build -p govstream-cli` first, or set GOVSTREAM_BIN (make test does)",
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

/// A fresh, empty scratch directory under the target dir. Scratch directories are kept after
/// a test (to look at a failure), but those of test processes that no longer run are removed
/// the first time a process asks for one, so the directory holds at most one run per binary.
pub fn scratch(name: &str) -> PathBuf {
    let root = repo().join("target").join("e2e-scratch");
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| sweep_dead_scratch(&root));
    let d = root.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Removes `root/<name>-<pid>` directories whose process is gone (Linux: no `/proc/<pid>`).
fn sweep_dead_scratch(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.rsplit_once('-'))
            .and_then(|(_, p)| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The lines of a file, sorted (aggregates compared as sets of canonical lines).
pub fn sorted_lines(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// Reads an NDJSON file into JSON values.
pub fn read_ndjson(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A minimal HTTP/1.1 GET on loopback: (status code, body).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((code, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A child process killed (and reaped) when dropped, also when a test fails.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
