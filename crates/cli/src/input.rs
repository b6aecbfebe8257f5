//! Reading upstream records from files: one record per line, in the source's own encoding.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Calls `f(line_number, record_bytes)` for every non-empty line of `path` (1-based numbers;
/// the terminator `\n` or `\r\n` is not part of the record). Streams: memory stays flat.
pub fn for_each_line(path: &Path, mut f: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let mut rec = buf.as_slice();
        if let Some(x) = rec.strip_suffix(b"\n") {
            rec = x;
            if let Some(x) = rec.strip_suffix(b"\r") {
                rec = x;
            }
        }
        if rec.is_empty() {
            continue;
        }
        f(line, rec)?;
    }
}
