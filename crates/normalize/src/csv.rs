//! RFC 4180 CSV: splitting a row into fields, and finding where a record ends in a file.
//!
//! A field is either unquoted (taken as it is, up to the next separator) or quoted: it starts
//! with `"`, may hold separators, line breaks and `""` (one quote), and ends with a `"` that
//! the separator or the end of the row follows. Lenient where RFC 4180 is strict and a reader
//! loses nothing: a quote inside an unquoted field is kept as a character, a lone `\r\n` or
//! `\n` ends a record. Strict where data would be lost: text after a closing quote, or a quote
//! never closed, is an error.

use std::borrow::Cow;
use std::fmt;

/// Why a row is not valid CSV (names no field value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvError {
    /// A quoted field is not closed before the end of the row.
    UnclosedQuote { field: usize },
    /// Characters follow the closing quote of a field before the separator.
    AfterQuote { field: usize },
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::UnclosedQuote { field } => {
                write!(f, "the quote of field {field} is never closed")
            }
            CsvError::AfterQuote { field } => write!(
                f,
                "field {field} has characters after its closing quote (a quote inside a quoted field is written `\"\"`)"
            ),
        }
    }
}

/// Splits one decoded row into its fields (1-based field numbers in errors).
pub fn split_row(row: &str, sep: char) -> Result<Vec<Cow<'_, str>>, CsvError> {
    let mut fields = Vec::new();
    let mut rest = row;
    loop {
        let n = fields.len() + 1;
        if let Some(q) = rest.strip_prefix('"') {
            // Quoted: find the closing quote, unescaping `""`.
            let mut value: Option<String> = None;
            let mut i = 0;
            let b = q.as_bytes();
            loop {
                let Some(j) = q[i..].find('"') else {
                    return Err(CsvError::UnclosedQuote { field: n });
                };
                let at = i + j;
                if b.get(at + 1) == Some(&b'"') {
                    value.get_or_insert_with(String::new).push_str(&q[i..=at]);
                    i = at + 2;
                    continue;
                }
                let field = match value {
                    Some(mut v) => {
                        v.push_str(&q[i..at]);
                        Cow::Owned(v)
                    }
                    None => Cow::Borrowed(&q[..at]),
                };
                fields.push(field);
                let after = &q[at + 1..];
                if after.is_empty() {
                    return Ok(fields);
                }
                match after.strip_prefix(sep) {
                    Some(r) => rest = r,
                    None => return Err(CsvError::AfterQuote { field: n }),
                }
                break;
            }
        } else {
            match rest.find(sep) {
                Some(j) => {
                    fields.push(Cow::Borrowed(&rest[..j]));
                    rest = &rest[j + sep.len_utf8()..];
                }
                None => {
                    fields.push(Cow::Borrowed(rest));
                    return Ok(fields);
                }
            }
        }
    }
}

/// Tracks quoted fields across the lines of a CSV file, so that a line break inside a quoted
/// field does not end the record. Reads quotes exactly as [`split_row`] does: a `"` opens a
/// quoted field only at the start of a field, `""` inside one is a quote, and a `"` anywhere
/// else is a character (so `5" pipe` does not open anything). Works on the raw bytes: in every
/// encoding a CSV source may have (ASCII-compatible ones: UTF-8, GB 18030, GBK, Big5, the
/// single-byte ones) a `"`, `\n` or ASCII separator byte is always that character.
#[derive(Debug, Clone, Copy)]
pub struct RecordSplitter {
    sep: u8,
    in_quotes: bool,
    field_start: bool,
}

impl Default for RecordSplitter {
    fn default() -> RecordSplitter {
        RecordSplitter::new(b',')
    }
}

impl RecordSplitter {
    /// A splitter for records separated by the ASCII byte `sep`.
    pub fn new(sep: u8) -> RecordSplitter {
        RecordSplitter {
            sep,
            in_quotes: false,
            field_start: true,
        }
    }

    /// Feeds one line (with or without its terminator); `true` if the record ends with it,
    /// `false` if a quoted field continues on the next line.
    pub fn line_ends_record(&mut self, line: &[u8]) -> bool {
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if self.in_quotes {
                if b == b'"' {
                    if line.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    self.in_quotes = false;
                }
            } else if b == b'"' && self.field_start {
                self.in_quotes = true;
                self.field_start = false;
            } else if b == self.sep || b == b'\n' {
                self.field_start = true;
            } else if b != b'\r' {
                self.field_start = false;
            }
            i += 1;
        }
        if !self.in_quotes {
            self.field_start = true;
        }
        !self.in_quotes
    }

    /// Whether a quoted field is open (at the end of the file: an unclosed quote).
    pub fn in_quotes(&self) -> bool {
        self.in_quotes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Result<Vec<String>, CsvError> {
        split_row(s, ',').map(|v| v.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn rfc_4180_fields() {
        assert_eq!(split("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split(",,").unwrap(), ["", "", ""]);
        assert_eq!(split(r#""a,b",c"#).unwrap(), ["a,b", "c"]);
        assert_eq!(
            split(r#""say ""hi""","""""#).unwrap(),
            [r#"say "hi""#, r#"""#]
        );
        assert_eq!(split("\"two\nlines\",x").unwrap(), ["two\nlines", "x"]);
        assert_eq!(split(r#""",x,"""#).unwrap(), ["", "x", ""]);
        // A quote inside an unquoted field is a character.
        assert_eq!(split(r#"5" pipe,x"#).unwrap(), [r#"5" pipe"#, "x"]);
        assert_eq!(
            split(r#""open,x"#),
            Err(CsvError::UnclosedQuote { field: 1 })
        );
        assert_eq!(split(r#"a,"b"c"#), Err(CsvError::AfterQuote { field: 2 }));
        assert_eq!(
            split_row("a;\"b;c\";d", ';').unwrap(),
            [Cow::Borrowed("a"), Cow::Borrowed("b;c"), Cow::Borrowed("d")]
        );
        // Multi-byte separators and text.
        assert_eq!(
            split_row("甲\t\"乙\t丙\"", '\t').unwrap(),
            [Cow::Borrowed("甲"), Cow::Borrowed("乙\t丙")]
        );
    }

    #[test]
    fn records_span_lines_inside_quotes() {
        let mut s = RecordSplitter::default();
        assert!(s.line_ends_record(b"1,\"a,b\",c\n"));
        assert!(!s.line_ends_record(b"2,\"first line\n"));
        assert!(!s.line_ends_record(b"second \"\"quoted\"\" line\n"));
        assert!(s.line_ends_record(b"third\",x\n"));
        assert!(!s.in_quotes());
        assert!(!s.line_ends_record(b"3,\"never closed\n"));
        assert!(s.in_quotes());
        // A quote inside an unquoted field opens nothing (as `split_row` reads it), and an
        // escaped quote at a line's end does not close the field.
        let mut s = RecordSplitter::default();
        assert!(s.line_ends_record(b"1,2020-01-01,5\" pipe\n"));
        assert!(s.line_ends_record(b"2,x,ok\r\n"));
        assert!(!s.line_ends_record(b"3,\"a \"\"\n"));
        assert!(s.line_ends_record(b"b\",c\n"));
        let mut t = RecordSplitter::new(b';');
        assert!(!t.line_ends_record(b"1;\"x;\n"));
        assert!(t.line_ends_record(b"y\";z\n"));
    }
}
