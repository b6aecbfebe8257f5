//! Reading upstream records from files, in the source's own encoding: one record per line, or
//! for CSV one record per row, where a quoted field may span lines (RFC 4180).

use anyhow::{Context, Result};
use govstream_normalize::csv::RecordSplitter;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Calls `f(line_number, record_bytes)` for every non-empty record of `path`: a line, or with
/// `csv` a row whose quoted fields may hold line breaks (its number is that of its first
/// line). Numbers are 1-based; the final `\n` or `\r\n` is not part of the record. Streams:
/// memory stays flat. A CSV row still inside quotes past `max_bytes` (a stray quote) is handed
/// over as it is — normalization rejects it as `oversize` — and reading starts afresh at the
/// next line, so one bad quote cannot swallow the rest of a file.
pub fn for_each_record(
    path: &Path,
    csv: Option<u8>,
    max_bytes: usize,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    let mut first_line = 0u64;
    let new_splitter = || RecordSplitter::new(csv.unwrap_or(b','));
    let mut splitter = new_splitter();
    let csv = csv.is_some();
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
                if buf.len() <= max_bytes {
                    continue;
                }
                f(first_line, &buf)?;
                buf.clear();
                splitter = new_splitter();
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
        for_each_record(&p, Some(b','), 1 << 20, |n, b| {
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
        for_each_record(&p, None, 1 << 20, |n, _| {
            lines.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(lines, [1, 2, 3, 5, 6]);
        // A stray quote does not swallow the file: past the size limit the open row is handed
        // over (to be rejected) and rows are read again from the next line.
        let q = dir.join("stray.csv");
        let mut text = String::from("h\n\"stray\n");
        for i in 0..100 {
            text.push_str(&format!("row {i}\n"));
        }
        std::fs::write(&q, text).unwrap();
        let mut got = Vec::new();
        for_each_record(&q, Some(b','), 64, |n, b| {
            got.push((n, b.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(got[0], (1, 1));
        assert_eq!(got[1].0, 2);
        assert!(got[1].1 > 64 && got[1].1 < 80, "{got:?}");
        assert!(got.len() > 90, "the rows after it are read: {got:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
