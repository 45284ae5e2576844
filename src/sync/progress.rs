//! Progress lines for operators during a catch-up: height/tip, blocks/s, tx/s, percent, ETA.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    start_height: u32,
    end_height: u32,
    started: Instant,
    last_log: Instant,
    blocks: u64,
    txs: u64,
    height: u32,
    total_txs: u64,
}

impl Progress {
    pub fn new(start: u32, end: u32, txs_before: u64) -> Self {
        let now = Instant::now();
        if end >= start {
            tracing::info!(
                "indexing blocks {start}..={end} ({} blocks)",
                end - start + 1
            );
        }
        Progress {
            start_height: start,
            end_height: end,
            started: now,
            last_log: now,
            blocks: 0,
            txs: 0,
            height: start,
            total_txs: txs_before,
        }
    }

    pub fn block(&mut self, height: u32, txs: u64) {
        self.blocks += 1;
        self.txs += txs;
        crate::metrics::block_indexed(height, txs);
        self.total_txs += txs;
        self.height = height;
        if self.last_log.elapsed() >= EVERY {
            self.last_log = Instant::now();
            self.log("sync");
        }
    }

    fn log(&self, what: &str) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let bps = self.blocks as f64 / secs;
        let tps = self.txs as f64 / secs;
        let span = (self.end_height - self.start_height + 1) as f64;
        let pct = 100.0 * (self.height + 1 - self.start_height) as f64 / span;
        let left = self.end_height.saturating_sub(self.height) as f64;
        let eta = if bps > 0.0 { left / bps } else { 0.0 };
        tracing::info!(
            "{what}: height {}/{} ({pct:.1}%), {bps:.0} blocks/s, {tps:.0} tx/s, {} txs indexed, ETA {}",
            self.height,
            self.end_height,
            self.total_txs,
            fmt_duration(eta)
        );
    }

    pub fn done(&self) {
        if self.blocks > 0 {
            self.log("caught up");
        }
    }
}

fn fmt_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::fmt_duration(5.2), "5s");
        assert_eq!(super::fmt_duration(125.0), "2m05s");
        assert_eq!(super::fmt_duration(7300.0), "2h01m");
    }
}
