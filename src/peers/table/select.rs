//! What clients are told and what they may add: ElectrumX's `on_peers_subscribe` and
//! `on_add_peer`.

use super::{
    AddPeerCheck, LISTED_PER_BUCKET, MAX_ONION_LISTED_TOR, MIN_ONION_LISTED, ONION_PERMIT_SECS,
    PeerTable, Source,
};
use crate::limits::net::canonical;
use crate::peers::Discovery;
use crate::peers::addr::Bucket;
use crate::peers::limiter::add_peer_bucket;
use crate::peers::peer::Peer;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// How ports are written in `server.peers.subscribe`. ElectrumX's `Peer.real_name` means to
/// write a default port as a bare `s`/`t`, but compares the integer port with the string of
/// `PEER_DEFAULT_PORTS`, so in practice it always writes the number; Ferrum does the same
/// (also safer: wallets and servers disagree on signet's defaults).
const ABBREVIATE_PORTS: bool = false;

impl PeerTable {
    /// Our own identities that may be listed: those whose host may be a peer.
    fn listable_myselves(&self) -> Vec<&Peer> {
        self.myselves
            .iter()
            .filter(|m| m.host.kind().acceptable(self.allow_private))
            .collect()
    }

    /// The `server.peers.subscribe` reply: nothing with discovery off; ourselves in `self`
    /// mode; with discovery on, ourselves plus the recent good peers, at most
    /// [`LISTED_PER_BUCKET`] per IPv4 /16 or IPv6 /56, and onion peers up to
    /// [`MAX_ONION_LISTED_TOR`] for a client that came over Tor, else up to the larger of
    /// [`MIN_ONION_LISTED`] and a quarter of the others.
    pub fn subscribe_list(&self, now: u64, client_is_tor: bool, rng: &mut impl Rng) -> Vec<Value> {
        let mut listed: Vec<&Peer> = match self.discovery {
            Discovery::Off => return Vec::new(),
            Discovery::SelfOnly | Discovery::On => self.listable_myselves(),
        };
        if self.discovery == Discovery::On {
            let mut onions = Vec::new();
            let mut buckets: BTreeMap<Bucket, Vec<&Peer>> = BTreeMap::new();
            for peer in self.recent_good(now, None) {
                if peer.host.is_onion() {
                    onions.push(peer);
                } else {
                    let bucket = Bucket::external(false, peer.ip);
                    buckets.entry(bucket).or_default().push(peer);
                }
            }
            for mut peers in buckets.into_values() {
                peers.shuffle(rng);
                listed.extend(peers.into_iter().take(LISTED_PER_BUCKET));
            }
            let max_onion = if client_is_tor {
                MAX_ONION_LISTED_TOR
            } else {
                MIN_ONION_LISTED.max(listed.len() / 4)
            };
            onions.shuffle(rng);
            listed.extend(onions.into_iter().take(max_onion));
        }
        let defaults = ABBREVIATE_PORTS.then_some(self.default_ports);
        listed
            .into_iter()
            .map(|p| p.to_subscribe_entry(defaults))
            .collect()
    }

    /// A client's `server.add_peer` with `features`, from `source`: refused unless discovery is
    /// on; one per [`crate::peers::limiter::PEER_ADD_PAUSE`] per domain bucket; an onion host
    /// once per random interval of up to [`ONION_PERMIT_SECS`]; an IP host only when it is
    /// the caller's address; a name must be resolved by the caller ([`AddPeerCheck::Resolve`]).
    pub fn on_add_peer(
        &mut self,
        features: &Value,
        source: IpAddr,
        now: u64,
        rng: &mut impl Rng,
    ) -> AddPeerCheck {
        if self.discovery != Discovery::On {
            return AddPeerCheck::Refused("peer discovery is off".into());
        }
        let peer = match Peer::from_add_peer(features) {
            Ok(peer) => peer,
            Err(e) => return AddPeerCheck::Refused(format!("no usable peer given: {e}")),
        };
        if !self.acceptable(&peer) {
            return AddPeerCheck::Refused(format!("{} may not be a peer", peer.host));
        }
        // ElectrumX answers true and then drops it; refusing first keeps the rate-limit bucket
        // and the onion permit.
        if peer.host.is_onion() && !self.proxy {
            return AddPeerCheck::Refused("no proxy to reach onion peers".into());
        }
        if !self
            .adds
            .check(&add_peer_bucket(&peer.host, self.allow_private), now)
        {
            return AddPeerCheck::Refused("rate limited".into());
        }
        if peer.host.is_onion() {
            if now < self.onion_permit_at {
                return AddPeerCheck::Refused("rate limiting".into());
            }
            self.onion_permit_at = now + rng.gen_range(0..ONION_PERMIT_SECS);
        } else if let Some(ip) = peer.host.ip() {
            if canonical(ip) != canonical(source) {
                return AddPeerCheck::Refused("source-destination mismatch".into());
            }
        } else {
            return AddPeerCheck::Resolve(peer);
        }
        AddPeerCheck::Accepted(self.note_peers(vec![peer], Source::AddPeer(source), None, rng))
    }
}
