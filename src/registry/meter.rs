//! Progress of a push in bytes: what the uploads have read so far, shown on a terminal
//! as it goes (at most ten times a second, never when stderr is not a terminal). A
//! retried attempt takes back what it had counted, so the figure never runs past the
//! total.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ui::Ui;

const EVERY: Duration = Duration::from_millis(100);

pub struct Meter {
    ui: Ui,
    total: u64,
    sent: AtomicU64,
    shown: Mutex<Option<Instant>>,
}

impl Meter {
    pub fn new(ui: &Ui, total: u64) -> Arc<Meter> {
        Arc::new(Meter {
            ui: ui.clone(),
            total,
            sent: AtomicU64::new(0),
            shown: Mutex::new(None),
        })
    }

    fn add(&self, n: u64) {
        let sent = self.sent.fetch_add(n, Ordering::Relaxed) + n;
        if !self.ui.shows_progress() {
            return;
        }
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if shown.is_some_and(|at| at.elapsed() < EVERY) && sent < self.total {
            return;
        }
        *shown = Some(Instant::now());
        self.ui.progress(&line(sent, self.total));
    }

    /// A blob's upload starts again from its first byte: what `attempt` counted is
    /// taken back.
    pub fn restart(&self, attempt: &AtomicU64) {
        self.sent
            .fetch_sub(attempt.swap(0, Ordering::Relaxed), Ordering::Relaxed);
    }

    /// `reader`, counted; `attempt` holds what this blob's current attempt counted and is
    /// taken back first (a retry reads the blob again from its start).
    pub fn count(
        self: &Arc<Self>,
        reader: Box<dyn Read + Send>,
        attempt: &Arc<AtomicU64>,
    ) -> Box<dyn Read + Send> {
        self.restart(attempt);
        Box::new(Counting {
            inner: reader,
            meter: self.clone(),
            attempt: attempt.clone(),
        })
    }

    /// Counts bytes sent outside a counted reader (a chunk).
    pub fn sent(&self, attempt: &AtomicU64, n: u64) {
        attempt.fetch_add(n, Ordering::Relaxed);
        self.add(n);
    }

    pub fn done(&self) {
        self.ui.progress_done();
    }
}

fn line(sent: u64, total: u64) -> String {
    let percent = (sent * 100).checked_div(total).unwrap_or(100);
    format!(
        "pushed {} of {} ({percent}%)",
        crate::ui::size(sent),
        crate::ui::size(total)
    )
}

struct Counting {
    inner: Box<dyn Read + Send>,
    meter: Arc<Meter>,
    attempt: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.attempt.fetch_add(n as u64, Ordering::Relaxed);
        self.meter.add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_takes_back_what_it_counted() {
        let meter = Meter::new(&Ui::plain(), 10);
        let attempt = Arc::new(AtomicU64::new(0));
        let mut sink = Vec::new();
        let mut first = meter.count(Box::new(&b"hello"[..]), &attempt);
        first.read_to_end(&mut sink).unwrap();
        assert_eq!(meter.sent.load(Ordering::Relaxed), 5);
        let mut again = meter.count(Box::new(&b"hello world"[..]), &attempt);
        assert_eq!(meter.sent.load(Ordering::Relaxed), 0);
        again.read_to_end(&mut sink).unwrap();
        assert_eq!(meter.sent.load(Ordering::Relaxed), 11);
        assert_eq!(line(5 << 20, 10 << 20), "pushed 5.0 MiB of 10.0 MiB (50%)");
        assert_eq!(line(0, 0), "pushed 0.0 KiB of 0.0 KiB (100%)");
    }
}
