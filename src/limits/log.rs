//! Log rate-limiting for lines a client can cause (oversized requests, throttling, timeouts,
//! refused connections...): one token bucket per kind of event, so a flood of one kind cannot
//! fill the disk and does not hide the others. When a bucket runs dry, lines of that kind are
//! counted instead of written, and the next line written says how many were suppressed.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

/// Lines of one kind that may be written in a burst.
pub const BURST: f64 = 20.0;
/// Lines of one kind per second once the burst is spent.
pub const PER_SEC: f64 = 1.0;

struct Bucket {
    tokens: f64,
    at: Instant,
    suppressed: u64,
}

/// Token buckets by event kind.
pub struct LogLimiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<&'static str, Bucket>>,
}

impl LogLimiter {
    pub fn new(burst: f64, per_sec: f64) -> Self {
        LogLimiter {
            burst,
            per_sec,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a line of `kind` may be written now: `Some(n)` with the number of lines of that
    /// kind suppressed since the last one written, `None` to drop this one.
    pub fn check(&self, kind: &'static str) -> Option<u64> {
        self.check_at(kind, Instant::now())
    }

    fn check_at(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut buckets = self.buckets.lock().ok()?;
        let b = buckets.entry(kind).or_insert(Bucket {
            tokens: self.burst,
            at: now,
            suppressed: 0,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Some(std::mem::take(&mut b.suppressed))
        } else {
            b.suppressed += 1;
            None
        }
    }
}

/// The process-wide limiter used by [`limited!`](crate::limited).
pub static LIMITER: LazyLock<LogLimiter> = LazyLock::new(|| LogLimiter::new(BURST, PER_SEC));

/// `limited!(kind, info, "format", args...)`: logs at the given `tracing` level unless lines of
/// `kind` are over their rate; the first line after a quiet spell notes how many were dropped.
#[macro_export]
macro_rules! limited {
    ($kind:expr, $level:ident, $($arg:tt)+) => {
        if let Some(n) = $crate::limits::log::LIMITER.check($kind) {
            if n > 0 {
                tracing::$level!("{} ({n} similar lines suppressed)", format_args!($($arg)+));
            } else {
                tracing::$level!($($arg)+);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_per_kind_with_refill() {
        let l = LogLimiter::new(3.0, 1.0);
        let t = Instant::now();
        let got: Vec<_> = (0..5).map(|_| l.check_at("a", t)).collect();
        assert_eq!(got, vec![Some(0), Some(0), Some(0), None, None]);
        // Another kind has its own bucket.
        assert_eq!(l.check_at("b", t), Some(0));
        // One second later one line passes and reports the two dropped.
        assert_eq!(l.check_at("a", t + Duration::from_secs(1)), Some(2));
        assert_eq!(l.check_at("a", t + Duration::from_secs(1)), None);
        // The bucket never holds more than the burst.
        let later = t + Duration::from_secs(100);
        let passed = (0..10).filter(|_| l.check_at("a", later).is_some()).count();
        assert_eq!(passed, 3);
    }
}
