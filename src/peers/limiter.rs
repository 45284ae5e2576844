//! The client-facing `server.add_peer` rate limit: one request per bucket per
//! [`PEER_ADD_PAUSE`] seconds, in a map whose entries really expire and whose size is bounded.
//!
//! ElectrumX (`PeerManager.on_add_peer`) keys the limit by `'ip_addr'` for every IP-literal
//! host and by the last two labels of a host name otherwise; every request, refused or not,
//! restarts its bucket's pause. Its clean-up (`_should_drop_peer`) keeps the entries with
//! `v + PEER_ADD_PAUSE < now` — the expired ones — so its map only grows; here the expired
//! entries are the ones dropped.

use super::addr::Host;
use std::collections::HashMap;

/// ElectrumX's `PEER_ADD_PAUSE`: seconds between two accepted `add_peer`s of one bucket.
pub const PEER_ADD_PAUSE: u64 = 600;
/// Most buckets remembered; when all are in their pause, further new buckets are refused.
pub const MAX_ADD_BUCKETS: usize = 1000;

/// The rate-limit bucket of an `add_peer` host: one for all IP literals, else the domain.
/// With `per_address` (Ferrum's `FERRUM_PEER_ALLOW_PRIVATE`: a private network, whose servers
/// are known by address, not name) each IP literal is a bucket of its own.
pub fn add_peer_bucket(host: &Host, per_address: bool) -> String {
    match host.ip() {
        Some(ip) if per_address => ip.to_string(),
        Some(_) => "ip_addr".into(),
        None => host.second_level_domain(),
    }
}

/// Last request time per bucket.
#[derive(Debug, Default)]
pub struct AddPeerLimiter {
    last: HashMap<String, u64>,
}

impl AddPeerLimiter {
    /// Records a request of `bucket` at `now` and says whether it may go ahead: the bucket's
    /// previous request was more than [`PEER_ADD_PAUSE`] seconds ago (ElectrumX's
    /// `last + PEER_ADD_PAUSE >= now` refuses).
    pub fn check(&mut self, bucket: &str, now: u64) -> bool {
        self.last
            .retain(|_, &mut t| t.saturating_add(PEER_ADD_PAUSE) >= now);
        if let Some(t) = self.last.get_mut(bucket) {
            *t = now;
            return false;
        }
        if self.last.len() >= MAX_ADD_BUCKETS {
            return false;
        }
        self.last.insert(bucket.to_string(), now);
        true
    }

    /// Buckets currently in their pause.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no bucket is in its pause.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_bucket_per_pause_and_refusals_restart_it() {
        let mut l = AddPeerLimiter::default();
        assert!(l.check("example.com", 1000));
        assert!(
            !l.check("example.com", 1000 + PEER_ADD_PAUSE),
            "exactly the pause is refused"
        );
        assert!(l.check("other.org", 1000));
        // The refusal at 1600 restarted the pause.
        assert!(!l.check("example.com", 1000 + PEER_ADD_PAUSE + 500));
        assert!(l.check("example.com", 1000 + 2 * PEER_ADD_PAUSE + 501));
    }

    #[test]
    fn expired_entries_are_dropped() {
        let mut l = AddPeerLimiter::default();
        for i in 0..50 {
            assert!(l.check(&format!("d{i}.com"), 100));
        }
        assert_eq!(l.len(), 50);
        assert!(l.check("late.com", 100 + PEER_ADD_PAUSE + 1));
        assert_eq!(l.len(), 1, "the 50 expired buckets are gone");
    }

    #[test]
    fn the_map_is_bounded() {
        let mut l = AddPeerLimiter::default();
        for i in 0..MAX_ADD_BUCKETS {
            assert!(l.check(&format!("d{i}.com"), 10));
        }
        assert!(!l.check("one-too-many.com", 11));
        assert_eq!(l.len(), MAX_ADD_BUCKETS);
        assert!(l.check("one-too-many.com", 10 + PEER_ADD_PAUSE + 1));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn buckets_follow_electrumx() {
        let b = |s: &str| add_peer_bucket(&Host::parse(s).unwrap(), false);
        assert_eq!(b("a.b.example.com"), "example.com");
        assert_eq!(b("1.2.3.4"), "ip_addr");
        assert_eq!(b("2001:db8::1"), "ip_addr");
        // A private network's servers, known by address, are limited one by one.
        let private = |s: &str| add_peer_bucket(&Host::parse(s).unwrap(), true);
        assert_eq!(private("10.0.0.2"), "10.0.0.2");
        assert_ne!(private("10.0.0.2"), private("10.0.0.3"));
        assert_eq!(private("a.b.example.com"), "example.com");
    }
}
