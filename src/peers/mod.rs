//! Peer discovery: which Electrum servers Ferrum knows, what it believes about each, how it
//! verifies them, and what `server.peers.subscribe` and `server.add_peer` answer — with
//! ElectrumX 2.0's semantics (`electrumx/server/peers.py`, `electrumx/lib/peer.py`).
//!
//! The model and policy: `addr` (hosts, address kinds, subnet buckets), `peer` (a peer's
//! identity, parsing and rendering), `features` (what a peer announces), `table` (the peer
//! table and its policy; `table/verify.rs` the outcome of a verification, `table/select.rs`
//! what clients are told and may add), `blacklist` (`BLACKLIST_URL` entries and matching),
//! `limiter` (the `add_peer` rate limit), `persist` (the table saved in the DB directory).
//! These do no network I/O and never read the clock: every policy call takes the time
//! (seconds since the Unix epoch) and, where ElectrumX randomises, a random number generator,
//! so their rules are tested deterministically.
//!
//! The network side that drives them: `client` (one JSON-RPC connection to a peer: TCP or
//! TLS, direct or through SOCKS5), `verify` (the checks of one peer), `manager` (the
//! background task that owns the table: proxy detection, blacklist refresh, verification
//! with bounded concurrency, persistence, and the API sessions and the admin RPC call).
//! `testkit` holds the tests' fake peers, chain and SOCKS5 proxy.

pub mod addr;
pub mod blacklist;
pub mod client;
pub mod features;
pub mod limiter;
pub mod manager;
pub mod peer;
pub mod persist;
pub mod table;
#[cfg(test)]
mod testkit;
pub mod verify;

pub use addr::{AddressKind, Bucket, Host};
pub use blacklist::Blacklist;
pub use peer::{Features, Peer, PeerError, ProtocolVersion};
pub use table::{PeerEntry, PeerTable, Source, Status};

use std::path::PathBuf;

/// ElectrumX's `PEER_DISCOVERY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// Discover, verify and list peers (the default).
    On,
    /// List only ourselves (our `REPORT_SERVICES`); contact no one.
    SelfOnly,
    /// List no one; contact no one.
    Off,
}

impl Discovery {
    /// The `PEER_DISCOVERY` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Discovery::On => "on",
            Discovery::SelfOnly => "self",
            Discovery::Off => "off",
        }
    }
}

/// Where the blacklist is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlacklistSource {
    /// An `http://` or `https://` URL.
    Url(String),
    /// A local file.
    File(PathBuf),
}

/// The peer discovery options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// `PEER_DISCOVERY`.
    pub discovery: Discovery,
    /// `PEER_ANNOUNCE`: register ourselves with peers that do not list us.
    pub announce: bool,
    /// `TOR_PROXY_HOST` (default `localhost`, as ElectrumX).
    pub tor_proxy_host: String,
    /// `TOR_PROXY_PORT`; when `None` the verifier probes [`TOR_PROXY_PORTS`].
    pub tor_proxy_port: Option<u16>,
    /// `FORCE_PROXY`: reach every peer through the proxy, not only onion ones.
    pub force_proxy: bool,
    /// `BLACKLIST_URL`; `None` when there is none.
    pub blacklist: Option<BlacklistSource>,
    /// `FERRUM_BLACKLIST_REFRESH`: seconds between two reads of the blacklist (ElectrumX: 600).
    pub blacklist_refresh: u64,
    /// `FERRUM_PEER_ALLOW_PRIVATE`: loopback and private addresses may be peers.
    pub allow_private: bool,
}

/// Ports probed for a SOCKS proxy when `TOR_PROXY_PORT` is unset (ElectrumX's
/// `PeerManager._detect_proxy`).
pub const TOR_PROXY_PORTS: [u16; 3] = [9050, 9150, 1080];

/// ElectrumX's `_refresh_blacklist` pause: the default of [`PeerSettings::blacklist_refresh`].
pub const BLACKLIST_REFRESH_SECS: u64 = 600;

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            discovery: Discovery::On,
            announce: true,
            tor_proxy_host: "localhost".into(),
            tor_proxy_port: None,
            force_proxy: false,
            blacklist: None,
            blacklist_refresh: BLACKLIST_REFRESH_SECS,
            allow_private: false,
        }
    }
}
