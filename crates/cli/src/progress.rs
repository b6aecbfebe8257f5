//! Progress of a long file command on standard error: a line redrawn in place with the share
//! done, the rate and the time left when standard error is a terminal; a plain line every ten
//! seconds otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct FileProgress {
    what: &'static str,
    /// The total the share is of: input bytes, or records to generate.
    total_bytes: u64,
    records: u64,
    started: Instant,
    last: Instant,
    tty: bool,
    shown: bool,
}

impl FileProgress {
    pub fn new(what: &'static str, total_bytes: u64) -> FileProgress {
        let now = Instant::now();
        FileProgress {
            what,
            total_bytes,
            records: 0,
            started: now,
            last: now,
            tty: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// `done` of the total so far (bytes of input, or records for `generate`), `records` more
    /// handled.
    pub fn tick(&mut self, done_bytes: u64, records: u64) {
        self.records += records;
        let every = Duration::from_millis(if self.tty { 250 } else { 10_000 });
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let share = done_bytes as f64 / self.total_bytes.max(1) as f64;
        let left = if share > 0.0 {
            secs * (1.0 - share) / share
        } else {
            0.0
        };
        let line = format!(
            "{} {:5.1}% {:>11} records {:>9.0}/s, about {:.0}s left",
            self.what,
            100.0 * share.min(1.0),
            self.records,
            self.records as f64 / secs,
            left
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let width = 40usize;
            let filled = ((share.min(1.0)) * width as f64) as usize;
            let _ = write!(
                err,
                "\r[{}{}] {line}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
        } else {
            let _ = writeln!(err, "{line}");
        }
        self.shown = true;
    }

    /// Clears the line (terminal) once the input is read.
    pub fn finish(&mut self) {
        if self.tty && self.shown {
            let _ = write!(std::io::stderr().lock(), "\r{:120}\r", "");
        }
    }
}
