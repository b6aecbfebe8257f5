//! Reading upstream records from files, in the source's own encoding: one record per line, or
//! for CSV one record per row, where a quoted field may span lines (RFC 4180).

use anyhow::{Context, Result};
use govstream_normalize::csv::RecordSplitter;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Calls `f(line_number, record_bytes)` for every non-empty record of `path`: a line, or with
/// `csv` a row whose quoted fields may hold line breaks (its number is that of its first
/// line). Numbers are 1-based; the final `\n` or `\r\n` is not part of the record. Streams:
/// memory stays flat.
pub fn for_each_record(
    path: &Path,
    csv: bool,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    let mut first_line = 0u64;
    let mut splitter = RecordSplitter::default();
    loop {
        if !csv {
            buf.clear();
        }
        let start = buf.len();
        let n = r
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            // A CSV row whose quote never closed: handed over as it is (and rejected).
            if csv && !buf.is_empty() {
                f(first_line, &buf)?;
            }
            return Ok(());
        }
        line += 1;
        if csv {
            if start == 0 {
                first_line = line;
            }
            if !splitter.line_ends_record(&buf[start..]) {
                continue;
            }
        } else {
            first_line = line;
        }
        let mut rec = buf.as_slice();
        if let Some(x) = rec.strip_suffix(b"\n") {
            rec = x;
            if let Some(x) = rec.strip_suffix(b"\r") {
                rec = x;
            }
        }
        if !rec.is_empty() {
            f(first_line, rec)?;
        }
        if csv {
            buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_may_span_lines_and_keep_their_first_line_number() {
        let dir = std::env::temp_dir().join(format!("gs-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.csv");
        std::fs::write(
            &p,
            "h1,h2\r\n1,\"a\r\nb\"\r\n\r\n2,\"c,\"\"d\"\"\"\n3,\"open\n",
        )
        .unwrap();
        let mut got = Vec::new();
        for_each_record(&p, true, |n, b| {
            got.push((n, String::from_utf8(b.to_vec()).unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            [
                (1, "h1,h2".to_owned()),
                (2, "1,\"a\r\nb\"".to_owned()),
                (5, "2,\"c,\"\"d\"\"\"".to_owned()),
                (6, "3,\"open\n".to_owned()),
            ]
        );
        let mut lines = Vec::new();
        for_each_record(&p, false, |n, _| {
            lines.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(lines, [1, 2, 3, 5, 6]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
