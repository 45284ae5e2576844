//! When the follow loop's timed rounds start: at a fixed rate, whatever wakes the loop between
//! them.
//!
//! A timed round is the one that lists the daemon's mempool. A new block wakes the loop early
//! for a round of its own, which must not move the next timed round: if it did, a block coming
//! just before a listing would push that listing a whole interval later, and every tx that
//! arrived since the previous listing would wait up to twice the interval for its
//! notification (a 300,000-tx mempool benchmark showed exactly that tail). A round that takes
//! longer than the interval is followed by the next one at once, without a backlog of missed
//! ones.

use std::time::{Duration, Instant};

/// The shortest wait between two rounds, even after one that took longer than the period
/// (the daemon gets a moment to itself).
pub const MIN_WAIT: Duration = Duration::from_millis(100);

/// A timed round may start this much before it is due and still count as the timed one
/// (timeouts are rounded by the daemon's long poll and the OS).
const EARLY: Duration = Duration::from_millis(50);

/// The fixed-rate schedule of timed rounds.
#[derive(Debug, Clone)]
pub struct Schedule {
    period: Duration,
    /// When the next timed round is due.
    due: Instant,
}

impl Schedule {
    /// The first timed round is due at `now`.
    pub fn new(period: Duration, now: Instant) -> Schedule {
        Schedule { period, due: now }
    }

    /// Records a round starting at `at`. A timed round (due by then) moves the next one a
    /// period on; a round woken early (a block) leaves it where it was.
    pub fn round_started(&mut self, at: Instant) {
        if at + EARLY < self.due {
            return;
        }
        let next = self.due + self.period;
        // Behind by more than a period (a round that took longer): start over from now
        // rather than owe the missed rounds.
        self.due = if next > at { next } else { at + self.period };
    }

    /// How long to wait at `now` for the next timed round (at least [`MIN_WAIT`]).
    pub fn wait(&self, now: Instant) -> Duration {
        self.due.saturating_duration_since(now).max(MIN_WAIT)
    }

    /// Whether a round starting at `at` would be a timed one.
    #[cfg(test)]
    fn is_due(&self, at: Instant) -> bool {
        at + EARLY >= self.due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn timed_rounds_keep_a_fixed_rate_whatever_they_take() {
        let t0 = Instant::now();
        let mut s = Schedule::new(5 * S, t0);
        s.round_started(t0);
        // A round of 2 s: 3 s to wait, so the next starts at 5 s.
        assert_eq!(s.wait(t0 + 2 * S), 3 * S);
        s.round_started(t0 + 5 * S);
        assert_eq!(s.wait(t0 + 5 * S), 5 * S);
    }

    #[test]
    fn a_block_round_does_not_move_the_next_timed_round() {
        let t0 = Instant::now();
        let mut s = Schedule::new(5 * S, t0);
        s.round_started(t0);
        // A block wakes the loop at 4.9 s; its round takes 50 ms.
        let block = t0 + Duration::from_millis(4_900);
        assert!(!s.is_due(block));
        s.round_started(block);
        assert_eq!(
            s.wait(block + Duration::from_millis(50)),
            MIN_WAIT,
            "the listing stays due at 5 s (at least MIN_WAIT away)"
        );
        let b2 = t0 + 2 * S;
        let mut s2 = Schedule::new(5 * S, t0);
        s2.round_started(t0);
        s2.round_started(b2);
        assert_eq!(s2.wait(b2 + S), 2 * S, "still due at 5 s, not at 7 s");
    }

    #[test]
    fn a_round_longer_than_the_period_is_followed_at_once_without_a_backlog() {
        let t0 = Instant::now();
        let mut s = Schedule::new(5 * S, t0);
        s.round_started(t0);
        s.round_started(t0 + 5 * S); // timed, but takes 12 s
        assert_eq!(s.wait(t0 + 17 * S), MIN_WAIT);
        let late = t0 + 17 * S + MIN_WAIT;
        assert!(s.is_due(late));
        s.round_started(late);
        // Not two more rounds owed: the next is a period after this one.
        assert_eq!(s.wait(late + S), 4 * S);
    }

    #[test]
    fn a_round_a_little_early_counts_as_the_timed_one() {
        let t0 = Instant::now();
        let mut s = Schedule::new(5 * S, t0);
        s.round_started(t0);
        let early = t0 + 5 * S - Duration::from_millis(10);
        assert!(s.is_due(early));
        s.round_started(early);
        assert_eq!(s.wait(early), 5 * S + Duration::from_millis(10));
    }
}
