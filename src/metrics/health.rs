//! Readiness for load balancers: `GET /health` on the metrics listener answers 200 only while
//! this replica serves a tip close to its daemon's best, and 503 with a one-line JSON reason
//! otherwise (starting, syncing, draining, stopping, lagging, stale). HAProxy's
//! `option httpchk GET /health` takes a replica out of rotation on the 503.
//!
//! The follow loop reports what it sees ([`daemon_best`], [`caught_up`]); a request reads
//! those and never waits for bitcoind, so a replica whose daemon hangs still answers, and
//! turns 503 once its tip has not been confirmed current for `FERRUM_HEALTH_MAX_LAG_SECS`.

use serde_json::{Value, json};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the follow loop last saw.
struct Seen {
    since: Instant,
    /// Milliseconds after `since` of the last round whose tip was the daemon's best (u64::MAX:
    /// never).
    caught_up_ms: AtomicU64,
    /// The tip height then.
    tip: AtomicI64,
    /// The daemon's best height, last asked.
    daemon: AtomicI64,
}

static SEEN: LazyLock<Seen> = LazyLock::new(|| Seen {
    since: Instant::now(),
    caught_up_ms: AtomicU64::new(u64::MAX),
    tip: AtomicI64::new(-1),
    daemon: AtomicI64::new(-1),
});

/// The daemon's best height, as the follow loop just read it.
pub fn daemon_best(height: u32) {
    SEEN.daemon.store(i64::from(height), Ordering::Relaxed);
}

/// The index's tip is the daemon's best block, at `height`.
pub fn caught_up(height: u32) {
    let s = &*SEEN;
    s.tip.store(i64::from(height), Ordering::Relaxed);
    s.daemon.fetch_max(i64::from(height), Ordering::Relaxed);
    let ms = u64::try_from(s.since.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
    s.caught_up_ms.store(ms, Ordering::Relaxed);
}

/// The replica's state, as the server knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Syncing,
    Serving,
    Draining,
    Stopping,
}

/// What was last seen, for [`judge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub tip: Option<u32>,
    pub daemon: Option<u32>,
    /// Since the tip was last the daemon's best; None: never.
    pub caught_up_ago: Option<Duration>,
}

/// The current observation.
pub fn observed() -> Observed {
    let s = &*SEEN;
    let height = |v: &AtomicI64| u32::try_from(v.load(Ordering::Relaxed)).ok();
    let ms = s.caught_up_ms.load(Ordering::Relaxed);
    Observed {
        tip: height(&s.tip),
        daemon: height(&s.daemon),
        caught_up_ago: (ms != u64::MAX)
            .then(|| s.since.elapsed().saturating_sub(Duration::from_millis(ms))),
    }
}

/// The answer to `GET /health`: whether this replica should get clients, and why (one JSON
/// object).
pub fn judge(phase: Phase, seen: Observed, max_blocks: u32, max_age: Duration) -> (bool, Value) {
    let base = |status: &str| json!({"status": status, "tip": seen.tip, "daemon": seen.daemon});
    match phase {
        Phase::Starting => return (false, base("starting")),
        Phase::Syncing => return (false, base("syncing")),
        Phase::Draining => return (false, base("draining")),
        Phase::Stopping => return (false, base("stopping")),
        Phase::Serving => {}
    }
    let Some(ago) = seen.caught_up_ago else {
        return (false, base("syncing"));
    };
    if let (Some(tip), Some(daemon)) = (seen.tip, seen.daemon)
        && daemon.saturating_sub(tip) > max_blocks
    {
        let mut v = base("lagging");
        v["behind"] = json!(daemon - tip);
        return (false, v);
    }
    if ago > max_age {
        let mut v = base("stale");
        v["caught_up_secs_ago"] = json!(ago.as_secs());
        return (false, v);
    }
    (true, base("ok"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn seen(tip: u32, daemon: u32, ago_secs: u64) -> Observed {
        Observed {
            tip: Some(tip),
            daemon: Some(daemon),
            caught_up_ago: Some(Duration::from_secs(ago_secs)),
        }
    }

    #[test]
    fn only_a_current_serving_replica_is_healthy() {
        let (ok, v) = judge(Phase::Serving, seen(100, 101, 5), 2, MINUTE);
        assert!(ok);
        assert_eq!(v, json!({"status": "ok", "tip": 100, "daemon": 101}));
        for phase in [
            Phase::Starting,
            Phase::Syncing,
            Phase::Draining,
            Phase::Stopping,
        ] {
            let (ok, v) = judge(phase, seen(100, 100, 1), 2, MINUTE);
            assert!(!ok, "{phase:?}");
            assert_ne!(v["status"], "ok");
        }
        let (ok, v) = judge(Phase::Serving, seen(100, 103, 1), 2, MINUTE);
        assert!(!ok);
        assert_eq!(
            (v["status"].as_str(), v["behind"].as_u64()),
            (Some("lagging"), Some(3))
        );
        let (ok, v) = judge(Phase::Serving, seen(100, 100, 61), 2, MINUTE);
        assert!(!ok);
        assert_eq!(v["status"], "stale");
        assert_eq!(v["caught_up_secs_ago"], 61);
        let never = Observed {
            tip: None,
            daemon: Some(5),
            caught_up_ago: None,
        };
        assert_eq!(
            judge(Phase::Serving, never, 2, MINUTE).1["status"],
            "syncing"
        );
    }
}
