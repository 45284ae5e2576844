//! Retry timing and endpoint failover: which daemon endpoint to try next, and how long to wait.
//!
//! Pure state machines (time is passed in), so they are unit-tested without sockets; the
//! transport in `rpc.rs` drives them and does the logging.

use std::time::{Duration, Instant};

/// Consecutive connection failures on the current endpoint before switching to the next.
pub(crate) const FAILURES_BEFORE_SWITCH: u32 = 2;
/// How often, while away from the preferred (first) endpoint, one request is sent to it to see
/// whether it is back (the default of [`RetryPolicy::probe_interval`]).
pub(crate) const PREFERRED_PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// Exponential backoff: `initial`, doubling, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Total time one call may spend retrying before it returns the last error.
    pub budget: Duration,
    /// See [`PREFERRED_PROBE_INTERVAL`].
    pub probe_interval: Duration,
}

impl RetryPolicy {
    pub(crate) const DEFAULT: RetryPolicy = RetryPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(5),
        budget: Duration::from_secs(120),
        probe_interval: PREFERRED_PROBE_INTERVAL,
    };

    /// Delay before retry number `retry` (0-based).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// What a connection failure did to the endpoint choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureOutcome {
    /// Counted against the current endpoint; stay on it for now.
    Counted,
    /// Switched from one endpoint to another (log it; retry at once).
    Switched { from: usize, to: usize },
    /// A probe of the preferred endpoint failed; the current endpoint is unchanged (retry at
    /// once).
    ProbeFailed,
}

/// Endpoint choice shared by all requests of one client.
#[derive(Debug)]
pub(crate) struct Failover {
    n: usize,
    current: usize,
    failures: u32,
    /// Set once we moved away from endpoint 0; cleared when it answers again.
    away_since: Option<Instant>,
    last_probe: Option<Instant>,
    probe_interval: Duration,
}

impl Failover {
    pub(crate) fn new(n: usize, probe_interval: Duration) -> Self {
        Failover {
            n: n.max(1),
            current: 0,
            failures: 0,
            away_since: None,
            last_probe: None,
            probe_interval,
        }
    }

    /// Goes back to the preferred (first) endpoint now (the admin RPC's `daemon_url`).
    pub(crate) fn reset(&mut self) {
        self.current = 0;
        self.failures = 0;
        self.away_since = None;
        self.last_probe = None;
    }

    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// The endpoint the next request goes to: the current one, except that while away from
    /// the preferred endpoint, one request per probe interval goes to it.
    pub(crate) fn pick(&mut self, now: Instant) -> usize {
        if self.current != 0 && self.away_since.is_some() {
            let due = self
                .last_probe
                .is_none_or(|t| now.saturating_duration_since(t) >= self.probe_interval);
            if due {
                self.last_probe = Some(now);
                return 0;
            }
        }
        self.current
    }

    /// A request to `idx` got an HTTP answer. Returns the endpoint that was current when this
    /// is the preferred endpoint answering again after a switch (log "recovered").
    pub(crate) fn on_success(&mut self, idx: usize) -> Option<usize> {
        if idx == self.current {
            self.failures = 0;
        }
        if idx == 0 && self.away_since.is_some() {
            let previous = self.current;
            self.away_since = None;
            self.last_probe = None;
            self.current = 0;
            self.failures = 0;
            return Some(previous);
        }
        None
    }

    /// A request to `idx` could not connect (or the connection broke).
    pub(crate) fn on_connection_failure(&mut self, idx: usize, now: Instant) -> FailureOutcome {
        if idx != self.current {
            // A probe of the preferred endpoint, or a late failure from before a switch.
            return FailureOutcome::ProbeFailed;
        }
        self.failures += 1;
        if self.failures < FAILURES_BEFORE_SWITCH || self.n == 1 {
            return FailureOutcome::Counted;
        }
        let from = self.current;
        self.current = (self.current + 1) % self.n;
        self.failures = 0;
        if from == 0 {
            self.away_since = Some(now);
            // Do not probe the endpoint we just left before the interval passes.
            self.last_probe = Some(now);
        }
        FailureOutcome::Switched {
            from,
            to: self.current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let p = RetryPolicy::DEFAULT;
        let delays: Vec<u128> = (0..10).map(|i| p.delay(i).as_millis()).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
        );
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(5));
        // The budget allows a few dozen attempts, not an unbounded number.
        let mut total = Duration::ZERO;
        let mut n = 0;
        while total < p.budget {
            total += p.delay(n);
            n += 1;
        }
        assert!((20..40).contains(&n), "{n}");
    }

    #[test]
    fn single_endpoint_never_switches() {
        let mut f = Failover::new(1, PREFERRED_PROBE_INTERVAL);
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(f.pick(now), 0);
            assert_eq!(f.on_connection_failure(0, now), FailureOutcome::Counted);
        }
        assert_eq!(f.on_success(0), None);
    }

    #[test]
    fn switches_round_robin_after_repeated_failures() {
        let mut f = Failover::new(3, PREFERRED_PROBE_INTERVAL);
        let t0 = Instant::now();
        assert_eq!(f.on_connection_failure(0, t0), FailureOutcome::Counted);
        assert_eq!(
            f.on_connection_failure(0, t0),
            FailureOutcome::Switched { from: 0, to: 1 }
        );
        assert_eq!(f.pick(t0), 1);
        // A success resets the count.
        assert_eq!(f.on_success(1), None);
        assert_eq!(f.on_connection_failure(1, t0), FailureOutcome::Counted);
        assert_eq!(f.on_success(1), None);
        assert_eq!(f.on_connection_failure(1, t0), FailureOutcome::Counted);
        assert_eq!(
            f.on_connection_failure(1, t0),
            FailureOutcome::Switched { from: 1, to: 2 }
        );
        assert_eq!(f.on_connection_failure(2, t0), FailureOutcome::Counted);
        assert_eq!(
            f.on_connection_failure(2, t0),
            FailureOutcome::Switched { from: 2, to: 0 }
        );
        assert_eq!(f.current(), 0);
        // Back on the preferred endpoint by rotation: its success is a recovery.
        assert_eq!(f.on_success(0), Some(0));
        assert_eq!(f.on_success(0), None);
    }

    #[test]
    fn late_failures_from_the_old_endpoint_do_not_count() {
        let mut f = Failover::new(2, PREFERRED_PROBE_INTERVAL);
        let t0 = Instant::now();
        f.on_connection_failure(0, t0);
        f.on_connection_failure(0, t0);
        assert_eq!(f.current(), 1);
        assert_eq!(f.on_connection_failure(0, t0), FailureOutcome::ProbeFailed);
        assert_eq!(f.current(), 1);
    }

    #[test]
    fn probes_the_preferred_endpoint_periodically_and_recovers() {
        let mut f = Failover::new(2, PREFERRED_PROBE_INTERVAL);
        let t0 = Instant::now();
        f.on_connection_failure(0, t0);
        f.on_connection_failure(0, t0);
        assert_eq!(f.pick(t0), 1);
        assert_eq!(f.pick(t0 + Duration::from_secs(1)), 1);
        let t1 = t0 + PREFERRED_PROBE_INTERVAL;
        assert_eq!(f.pick(t1), 0, "probe due");
        assert_eq!(f.pick(t1), 1, "only one probe per interval");
        assert_eq!(f.on_connection_failure(0, t1), FailureOutcome::ProbeFailed);
        assert_eq!(f.current(), 1);
        let t2 = t1 + PREFERRED_PROBE_INTERVAL;
        assert_eq!(f.pick(t2), 0);
        assert_eq!(f.on_success(0), Some(1), "recovered");
        assert_eq!(f.current(), 0);
        assert_eq!(f.pick(t2 + PREFERRED_PROBE_INTERVAL * 3), 0);
    }
}
