//! The peer table and its policy, with ElectrumX 2.0's rules (`electrumx/server/peers.py`):
//! which peers are kept, when each is due for verification, what a verification's outcome
//! does, and what `server.peers.subscribe` and `server.add_peer` answer.
//!
//! The table is keyed by host. The verifier asks [`PeerTable::due`], calls
//! [`PeerTable::begin_try`], then [`PeerTable::admit`] once connected (blacklist, address and
//! bucket rules), and ends with [`PeerTable::record_good`] or [`PeerTable::record_failure`].
//! Sizes are bounded: [`MAX_PEERS`] entries, [`LEARN_LIMIT`] new peers per source per round.

use super::Discovery;
use super::addr::{AddressKind, Host};
use super::blacklist::Blacklist;
use super::limiter::AddPeerLimiter;
use super::peer::Peer;
use crate::limits::net::canonical;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// ElectrumX's `STALE_SECS`: a peer verified less than this long ago is good.
pub const STALE_SECS: u64 = 3 * 3600;
/// ElectrumX's `WAKEUP_SECS`: the unit of the retry back-off.
pub const WAKEUP_SECS: u64 = 300;
/// ElectrumX's `try_limit` in `_should_drop_peer` for a peer once good and not bad: failed
/// tries in a row before it is forgotten.
pub const TRY_LIMIT_ONCE_GOOD: u32 = 10;
/// The same for a peer never verified, or marked bad.
pub const TRY_LIMIT: u32 = 3;
/// ElectrumX's `_note_peers(limit=2)`: new peers taken from one peer's list per verification.
pub const LEARN_LIMIT: usize = 2;
/// Most peers in the table (ElectrumX has no bound).
pub const MAX_PEERS: usize = 1000;
/// ElectrumX's `_permit_new_onion_peer`: an `add_peer` of an onion host is accepted once per
/// random interval of up to this many seconds.
pub const ONION_PERMIT_SECS: u64 = 1200;
/// ElectrumX's `on_peers_subscribe`: onion peers listed to a client that came over Tor.
pub const MAX_ONION_LISTED_TOR: usize = 50;
/// ... and at least this many to others (else a quarter of the clearnet peers listed).
pub const MIN_ONION_LISTED: usize = 10;
/// ElectrumX's `_verify_peer`: onion peers may exceed half of the recent good ones only while
/// that half is under this number.
pub const ONION_HALF_FLOOR: usize = 100;
/// Clearnet peers listed per IPv4 /16 or IPv6 /56 (ElectrumX's `bucket_peers[:2]`).
pub const LISTED_PER_BUCKET: usize = 2;

/// Where a peer was heard of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "from")]
pub enum Source {
    /// The coin's seed list.
    Seed,
    /// The admin RPC's `add_peer`.
    Admin,
    /// A client's `server.add_peer`, from this address.
    AddPeer(IpAddr),
    /// This peer's `server.peers.subscribe` list.
    Peer(Host),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Seed => f.write_str("seed"),
            Source::Admin => f.write_str("admin"),
            Source::AddPeer(ip) => write!(f, "add_peer from {ip}"),
            Source::Peer(host) => write!(f, "peer {host}"),
        }
    }
}

/// ElectrumX's peer states (`PEER_GOOD`, `PEER_STALE`, `PEER_NEVER`, `PEER_BAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Verified within [`STALE_SECS`].
    Good,
    /// Verified once, longer ago.
    Stale,
    /// Never verified.
    Never,
    /// Failed a check (wrong chain, lied, blacklisted...).
    Bad,
}

impl Status {
    /// ElectrumX's `STATUS_DESCS` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Good => "good",
            Status::Stale => "stale",
            Status::Never => "never",
            Status::Bad => "bad",
        }
    }
}

/// A peer and what is known of its history. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntry {
    /// Host, address and features.
    pub peer: Peer,
    /// Where it was heard of.
    pub source: Source,
    /// Last successful verification.
    pub last_good: Option<u64>,
    /// Start of the last verification attempt.
    pub last_try: Option<u64>,
    /// Attempts since the last success.
    pub try_count: u32,
    /// Why it was marked bad (not persisted, as in ElectrumX).
    #[serde(skip)]
    pub bad: Option<String>,
    /// Its height at the last verification (not persisted).
    #[serde(skip)]
    pub height: Option<u64>,
    /// Verify it at once (an operator or client re-announced it).
    #[serde(skip)]
    pub retry_now: bool,
}

impl PeerEntry {
    /// A peer never tried.
    pub fn new(peer: Peer, source: Source) -> PeerEntry {
        PeerEntry {
            peer,
            source,
            last_good: None,
            last_try: None,
            try_count: 0,
            bad: None,
            height: None,
            retry_now: false,
        }
    }

    /// ElectrumX's `_set_peer_statuses`.
    pub fn status(&self, now: u64) -> Status {
        match self.last_good {
            _ if self.bad.is_some() => Status::Bad,
            Some(t) if t.saturating_add(STALE_SECS) > now => Status::Good,
            Some(_) => Status::Stale,
            None => Status::Never,
        }
    }

    /// When the next verification is due, ElectrumX's `_monitor_peer` pause: at once when
    /// never tried, [`STALE_SECS`] − 2 × [`WAKEUP_SECS`] after a success, and
    /// [`WAKEUP_SECS`] × 2^tries after failures.
    pub fn next_try(&self) -> u64 {
        match self.last_try {
            _ if self.retry_now => 0,
            None => 0,
            Some(t) if self.try_count == 0 => t.saturating_add(STALE_SECS - 2 * WAKEUP_SECS),
            Some(t) => t.saturating_add(WAKEUP_SECS << self.try_count.min(32)),
        }
    }
}

/// The answer to a client's `server.add_peer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddPeerCheck {
    /// Refused, with ElectrumX's reason.
    Refused(String),
    /// Accepted; the hosts newly added, to verify at once.
    Accepted(Vec<Host>),
    /// The host is a name: accept it with [`PeerTable::note_peers`] only if it resolves to
    /// the caller's address.
    Resolve(Peer),
}

/// Peers by status, for `getinfo` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Verified recently.
    pub good: usize,
    /// Verified, not recently.
    pub stale: usize,
    /// Never verified.
    pub never: usize,
    /// Marked bad.
    pub bad: usize,
}

/// The peer table.
#[derive(Debug)]
pub struct PeerTable {
    discovery: Discovery,
    allow_private: bool,
    default_ports: (u16, u16),
    myselves: Vec<Peer>,
    peers: BTreeMap<Host, PeerEntry>,
    blacklist: Blacklist,
    proxy: bool,
    adds: AddPeerLimiter,
    onion_permit_at: u64,
}

impl PeerTable {
    /// An empty table. `myselves` are our `REPORT_SERVICES` identities; `default_ports` the
    /// coin's (tcp, ssl) ports, which a bare `t`/`s` means.
    pub fn new(
        discovery: Discovery,
        allow_private: bool,
        default_ports: (u16, u16),
        myselves: Vec<Peer>,
    ) -> PeerTable {
        PeerTable {
            discovery,
            allow_private,
            default_ports,
            myselves,
            peers: BTreeMap::new(),
            blacklist: Blacklist::default(),
            proxy: false,
            adds: AddPeerLimiter::default(),
            onion_permit_at: 0,
        }
    }

    /// The coin's default (tcp, ssl) ports.
    pub fn default_ports(&self) -> (u16, u16) {
        self.default_ports
    }

    /// Replaces the blacklist; returns the known peers it now matches (to re-check at once).
    pub fn set_blacklist(&mut self, blacklist: Blacklist) -> Vec<Host> {
        self.blacklist = blacklist;
        let hit: Vec<Host> = self
            .peers
            .values()
            .filter(|e| self.blacklist.matches(&e.peer.host, e.peer.ip))
            .map(|e| e.peer.host.clone())
            .collect();
        for host in &hit {
            if let Some(e) = self.peers.get_mut(host) {
                e.retry_now = true;
            }
        }
        hit
    }

    /// Whether a SOCKS proxy is known: without one, onion peers are not taken (ElectrumX's
    /// `_note_peers`).
    /// When one appears, every peer is due at once: those skipped for want of it (onion peers,
    /// or all with `FORCE_PROXY`) are tried now rather than at their next retry.
    pub fn set_proxy_available(&mut self, available: bool) {
        if available && !self.proxy {
            for e in self.peers.values_mut() {
                e.retry_now = true;
            }
        }
        self.proxy = available;
    }

    /// One peer's entry.
    pub fn get(&self, host: &Host) -> Option<&PeerEntry> {
        self.peers.get(host)
    }

    /// Every entry, in ElectrumX's `rpc_data` order: good before bad, most recently good first.
    pub fn entries(&self) -> Vec<&PeerEntry> {
        let mut v: Vec<&PeerEntry> = self.peers.values().collect();
        v.sort_by_key(|e| (e.bad.is_some(), std::cmp::Reverse(e.last_good)));
        v
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Peers by status (ElectrumX's `info`).
    pub fn counts(&self, now: u64) -> Counts {
        let mut c = Counts::default();
        for e in self.peers.values() {
            *match e.status(now) {
                Status::Good => &mut c.good,
                Status::Stale => &mut c.stale,
                Status::Never => &mut c.never,
                Status::Bad => &mut c.bad,
            } += 1;
        }
        c
    }

    /// Whether a host (and address) may be a peer at all: its kind, our own hosts, the
    /// blacklist.
    pub fn acceptable(&self, peer: &Peer) -> bool {
        let kind_ok = |k: AddressKind| k.acceptable(self.allow_private);
        kind_ok(peer.host.kind())
            && peer.ip.is_none_or(|ip| kind_ok(AddressKind::of_ip(ip)))
            && !self.myselves.iter().any(|m| m.host == peer.host)
            && !self.blacklist.matches(&peer.host, peer.ip)
    }

    /// Parses the coin's seed list and adds it (only with discovery on, as ElectrumX's
    /// `_import_peers`). Returns the hosts added; seeds that do not parse are skipped.
    pub fn import_seeds(&mut self, seeds: &[&str], rng: &mut impl Rng) -> Vec<Host> {
        if self.discovery != Discovery::On {
            return Vec::new();
        }
        let peers = seeds
            .iter()
            .filter_map(|s| Peer::from_real_name(s, self.default_ports).ok())
            .collect();
        self.note_peers(peers, Source::Seed, None, rng)
    }

    /// ElectrumX's `_note_peers`: adds the peers that are acceptable and not known yet, at most
    /// `limit` of them chosen at random, within [`MAX_PEERS`]. A known peer re-announced by an
    /// operator or a client is made due at once (ElectrumX's `check_ports` retry). Returns the
    /// hosts added.
    pub fn note_peers(
        &mut self,
        peers: Vec<Peer>,
        source: Source,
        limit: Option<usize>,
        rng: &mut impl Rng,
    ) -> Vec<Host> {
        let mut new: Vec<Peer> = Vec::new();
        for peer in peers {
            let unreachable_onion = peer.host.is_onion() && !self.proxy;
            if !self.acceptable(&peer)
                || unreachable_onion
                || new.iter().any(|n| same_peer(n, &peer))
            {
                continue;
            }
            let known: Vec<Host> = self
                .peers
                .values()
                .filter(|e| same_peer(&e.peer, &peer))
                .map(|e| e.peer.host.clone())
                .collect();
            if known.is_empty() {
                new.push(peer);
            } else if matches!(source, Source::Admin | Source::AddPeer(_)) {
                for host in known {
                    if let Some(e) = self.peers.get_mut(&host) {
                        e.retry_now = true;
                    }
                }
            }
        }
        if let Some(limit) = limit {
            new.shuffle(rng);
            new.truncate(limit);
        }
        new.truncate(MAX_PEERS.saturating_sub(self.peers.len()));
        let hosts: Vec<Host> = new.iter().map(|p| p.host.clone()).collect();
        for peer in new {
            let entry = PeerEntry::new(peer, source.clone());
            self.peers.insert(entry.peer.host.clone(), entry);
        }
        hosts
    }

    /// Puts back entries loaded from disk, with today's acceptance rules and bounds.
    pub fn restore(&mut self, entries: Vec<PeerEntry>) {
        for e in entries {
            if self.peers.len() >= MAX_PEERS {
                break;
            }
            if self.acceptable(&e.peer) && !self.peers.values().any(|o| same_peer(&o.peer, &e.peer))
            {
                self.peers.insert(e.peer.host.clone(), e);
            }
        }
    }

    /// Hosts due for verification at `now`, soonest first (none unless discovery is on).
    pub fn due(&self, now: u64) -> Vec<Host> {
        if self.discovery != Discovery::On {
            return Vec::new();
        }
        let mut due: Vec<(u64, &Host)> = self
            .peers
            .values()
            .map(|e| (e.next_try(), &e.peer.host))
            .filter(|(t, _)| *t <= now)
            .collect();
        due.sort();
        due.into_iter().map(|(_, h)| h.clone()).collect()
    }

    /// Starts an attempt (ElectrumX's `_should_drop_peer`: `try_count += 1`, `last_try`).
    pub fn begin_try(&mut self, host: &Host, now: u64) -> Option<&Peer> {
        let e = self.peers.get_mut(host)?;
        e.try_count = e.try_count.saturating_add(1);
        e.last_try = Some(now);
        e.retry_now = false;
        Some(&e.peer)
    }

    /// An attempt that did not happen (no proxy to reach the peer through): it does not count
    /// towards the back-off nor towards forgetting the peer.
    pub fn skipped(&mut self, host: &Host) {
        if let Some(e) = self.peers.get_mut(host) {
            e.try_count = e.try_count.saturating_sub(1);
        }
    }
}

/// ElectrumX's `Peer.matches`: same host, or one's host is the other's address.
fn same_peer(a: &Peer, b: &Peer) -> bool {
    let ip_is = |ip: Option<IpAddr>, host: &Host| {
        ip.zip(host.ip())
            .is_some_and(|(x, y)| canonical(x) == canonical(y))
    };
    a.host == b.host || ip_is(a.ip, &b.host) || ip_is(b.ip, &a.host)
}

mod select;
mod verify;

#[cfg(test)]
mod tests;
