//! The outcome of a verification: the checks made once connected (ElectrumX's
//! `_verify_peer` preamble) and what success and failure do to the table (`_should_drop_peer`).

use super::{ONION_HALF_FLOOR, PeerTable, Status, TRY_LIMIT, TRY_LIMIT_ONCE_GOOD, same_peer};
use crate::peers::addr::{AddressKind, Bucket, Host};
use crate::peers::peer::Features;
use std::net::IpAddr;

impl PeerTable {
    /// Peers verified recently, not bad, acceptable and not blacklisted (ElectrumX's
    /// `_get_recent_good_peers`), except `host`.
    pub(super) fn recent_good(&self, now: u64, except: Option<&Host>) -> Vec<&crate::peers::Peer> {
        self.peers
            .values()
            .filter(|e| e.status(now) == Status::Good && Some(&e.peer.host) != except)
            .map(|e| &e.peer)
            .filter(|p| self.acceptable(p))
            .collect()
    }

    /// The checks once connected, before any request: records the address reached (not for
    /// onion peers), then refuses blacklisted peers, addresses that may not be peers, a second
    /// good peer on one IPv4 address or IPv6 /64, and onion peers beyond ElectrumX's share.
    /// An `Err` names the reason; the caller then calls [`PeerTable::record_failure`] with it.
    pub fn admit(&mut self, host: &Host, ip: Option<IpAddr>, now: u64) -> Result<(), String> {
        let entry = self.peers.get_mut(host).ok_or("not in the table")?;
        if !host.is_onion() {
            entry.peer.ip = ip.or(entry.peer.ip);
        }
        let peer = entry.peer.clone();
        if self.blacklist.matches(&peer.host, peer.ip) {
            return Err("blacklisted".into());
        }
        if let Some(ip) = peer.ip {
            let kind = AddressKind::of_ip(ip);
            if !kind.acceptable(self.allow_private) {
                return Err(format!("address {ip} is {kind:?}, not public"));
            }
        }
        let recent = self.recent_good(now, Some(host));
        if peer.host.is_onion() {
            let onions = recent.iter().filter(|p| p.host.is_onion()).count();
            let half = recent.len() / 2;
            if onions > half && half >= ONION_HALF_FLOOR {
                return Err("too many onion peers already".into());
            }
        } else {
            let bucket = Bucket::internal(false, peer.ip);
            let taken = recent
                .iter()
                .any(|p| !p.host.is_onion() && Bucket::internal(false, p.ip) == bucket);
            if taken && bucket != Bucket::Unknown {
                return Err(format!("too many peers already in bucket {bucket:?}"));
            }
        }
        Ok(())
    }

    /// A verification succeeded: features and height as verified, `try_count` 0, `last_good`
    /// now, not bad. Entries for the same server under an IP-literal host are dropped in
    /// favour of a named one (ElectrumX's `_should_drop_peer`). Returns the hosts dropped.
    pub fn record_good(
        &mut self,
        host: &Host,
        features: Features,
        height: Option<u64>,
        now: u64,
    ) -> Vec<Host> {
        let Some(entry) = self.peers.get_mut(host) else {
            return Vec::new();
        };
        entry.peer.features = features;
        entry.height = height;
        entry.try_count = 0;
        entry.last_good = Some(now);
        entry.bad = None;
        let peer = entry.peer.clone();
        let matches: Vec<Host> = self
            .peers
            .values()
            .filter(|e| same_peer(&e.peer, &peer))
            .map(|e| e.peer.host.clone())
            .collect();
        if matches.len() < 2 {
            return Vec::new();
        }
        let literal: Vec<Host> = matches
            .iter()
            .filter(|h| h.ip().is_some())
            .cloned()
            .collect();
        let drop: Vec<Host> = if literal.len() == matches.len() {
            literal.into_iter().filter(|h| h != host).collect()
        } else {
            literal
        };
        for h in &drop {
            self.peers.remove(h);
        }
        drop
    }

    /// A verification failed; `bad` is the reason when the peer failed a check (rather than
    /// being unreachable). Forgets the peer after [`TRY_LIMIT_ONCE_GOOD`] failed tries if it
    /// was once good and is not bad, else after [`TRY_LIMIT`]. Returns whether it was forgotten.
    pub fn record_failure(&mut self, host: &Host, bad: Option<String>, _now: u64) -> bool {
        let Some(entry) = self.peers.get_mut(host) else {
            return false;
        };
        if bad.is_some() {
            entry.bad = bad;
        }
        let limit = if entry.last_good.is_some() && entry.bad.is_none() {
            TRY_LIMIT_ONCE_GOOD
        } else {
            TRY_LIMIT
        };
        if entry.try_count >= limit {
            self.peers.remove(host);
            return true;
        }
        false
    }
}
