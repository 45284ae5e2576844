//! Verification of one peer, in ElectrumX 2.0's order and with its checks
//! (`PeerManager._should_drop_peer`, `_verify_peer` and the `_send_*` helpers).
//!
//! SSL is tried before TCP, on the ports the peer announced; `.onion` peers (every peer with
//! `FORCE_PROXY`) go through the SOCKS5 proxy and are skipped without one. Once connected,
//! the table's admission rules run (a callback into [`super::PeerTable::admit`]), then
//! `server.version`, `server.features` (our genesis; the host we reached listed in `hosts`),
//! `blockchain.headers.subscribe` (height within [`MAX_TIP_HEIGHT_DIFF`] of ours) with
//! `blockchain.block.header` [`MAX_CHAINSPLIT_LEN`] below the lower tip byte-equal to ours,
//! `server.peers.subscribe` (the peers it knows), and `server.add_peer` with our features when
//! we announce and the peer does not list us (`_features_to_register`).
//!
//! A failed check makes the peer bad; a connection that fails (refused, timeout, TLS, RPC
//! error) makes this transport unreachable and the next one is tried. Our side of the checks
//! comes through [`LocalChain`], so the checks are tested against fake chains. This file
//! changes no table: it returns an [`Outcome`] for the manager to record.

use super::addr::Host;
use super::client::{ClientError, ConnectOptions, PeerClient, Transport, short};
use super::peer::{Features, Peer, parse_subscribe_reply};
use crate::query::Query;
use crate::types::{Height, bytes_to_hex};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// ElectrumX's `MAX_TIP_HEIGHT_DIFF`: how far a peer's tip may be from ours.
pub const MAX_TIP_HEIGHT_DIFF: u64 = 5;
/// ElectrumX's `MAX_CHAINSPLIT_LEN`: the compared header is this far below the lower tip.
pub const MAX_CHAINSPLIT_LEN: u64 = 10;

/// Our side of the checks.
pub trait LocalChain: Send + Sync {
    /// Our tip height; `None` while we have no chain.
    fn height(&self) -> Option<u64>;
    /// Our serialized header at `height`.
    fn raw_header(&self, height: u64) -> Option<Vec<u8>>;
    /// Our genesis block hash, lower-case hex as `server.features` writes it.
    fn genesis_hash(&self) -> String;
    /// Our `server.features` reply, sent with `server.add_peer`.
    fn features(&self) -> Value;
}

/// [`LocalChain`] over Ferrum's index.
pub struct IndexChain {
    /// The index.
    pub query: Query,
    /// The coin's genesis hash, hex.
    pub genesis_hash: String,
    /// Our `server.features` reply.
    pub features: Value,
}

impl LocalChain for IndexChain {
    fn height(&self) -> Option<u64> {
        self.query.tip().height().map(|h| u64::from(h.0))
    }

    fn raw_header(&self, height: u64) -> Option<Vec<u8>> {
        let h = u32::try_from(height).ok()?;
        match self.query.view().header(Height(h)) {
            Ok(header) => header,
            Err(e) => {
                tracing::error!("peer check: reading our header at {h}: {e:#}");
                None
            }
        }
    }

    fn genesis_hash(&self) -> String {
        self.genesis_hash.clone()
    }

    fn features(&self) -> Value {
        self.features.clone()
    }
}

/// What a verifier needs besides the peer.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Our `server.version` client name, e.g. `Ferrum 0.1.0`.
    pub client_name: String,
    /// The protocol versions we speak, oldest and newest (`server.version`'s second argument).
    pub protocol: (String, String),
    /// The coin's default (tcp, ssl) ports, for `server.peers.subscribe` entries.
    pub default_ports: (u16, u16),
    /// `PEER_ANNOUNCE`.
    pub announce: bool,
    /// `FERRUM_PEER_ALLOW_PRIVATE`: a private address of ours may be announced.
    pub allow_private: bool,
    /// Our clearnet identity (the first clearnet `REPORT_SERVICES` host), if any.
    pub me: Option<Peer>,
    /// `FORCE_PROXY`.
    pub force_proxy: bool,
    /// Local address for direct connections.
    pub local_addr: Option<IpAddr>,
    /// Reply timeout for clearnet peers (also their connect timeout).
    pub request_timeout: Duration,
    /// Reply timeout for peers reached through the proxy.
    pub request_timeout_tor: Duration,
}

/// The result of verifying a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed.
    Good {
        /// Its features, as `server.features` gave them for the host reached.
        features: Features,
        /// Its tip height.
        height: u64,
        /// The peers its `server.peers.subscribe` listed.
        learnt: Vec<Peer>,
    },
    /// It failed a check; the reason.
    Bad(String),
    /// No transport got through the checks; the last error.
    Unreachable(String),
    /// Not tried: it needs a proxy and there is none.
    Skipped(String),
}

/// Why one transport's attempt ended.
enum Failure {
    Bad(String),
    Connection(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        if e.is_protocol_violation() {
            Failure::Bad(e.to_string())
        } else {
            Failure::Connection(e.to_string())
        }
    }
}

/// Verifies `peer`. `admit` is called once connected with the address reached and may refuse
/// the peer (the table's bucket, blacklist and address rules).
pub async fn verify_peer<F>(
    config: &VerifyConfig,
    peer: &Peer,
    proxy: Option<SocketAddr>,
    local: &dyn LocalChain,
    mut admit: F,
) -> Outcome
where
    F: FnMut(Option<IpAddr>) -> Result<(), String> + Send,
{
    let use_proxy = config.force_proxy || peer.host.is_onion();
    if use_proxy && proxy.is_none() {
        return Outcome::Skipped("no proxy to reach it through".into());
    }
    // ElectrumX: 120 s for onion peers, 30 s for others even through the proxy.
    let timeout = if peer.host.is_onion() {
        config.request_timeout_tor
    } else {
        config.request_timeout
    };
    let opts = ConnectOptions {
        proxy: proxy.filter(|_| use_proxy),
        local_addr: config.local_addr.filter(|_| !use_proxy),
        connect_timeout: timeout,
        request_timeout: timeout,
    };
    let transports = [
        (Transport::Ssl, peer.features.ssl_port),
        (Transport::Tcp, peer.features.tcp_port),
    ];
    let mut last = "no ports announced".to_string();
    for (transport, port) in transports {
        let Some(port) = port else { continue };
        let at = format!("{}:{port} {}", peer.host, transport.as_str());
        let mut client = match PeerClient::connect(peer.host.as_str(), port, transport, &opts).await
        {
            Ok(c) => c,
            Err(e) => {
                last = format!("{at}: {e}");
                continue;
            }
        };
        if let Err(why) = admit(client.remote_ip()) {
            return Outcome::Bad(why);
        }
        match checks(config, &peer.host, &mut client, local).await {
            Ok(outcome) => return outcome,
            Err(Failure::Bad(why)) => return Outcome::Bad(format!("{at}: {why}")),
            Err(Failure::Connection(why)) => last = format!("{at}: {why}"),
        }
    }
    Outcome::Unreachable(last)
}

/// The requests and checks on one connection.
async fn checks(
    config: &VerifyConfig,
    host: &Host,
    client: &mut PeerClient,
    local: &dyn LocalChain,
) -> Result<Outcome, Failure> {
    let bad = |s: String| Err(Failure::Bad(s));

    let (min, max) = &config.protocol;
    let version = client
        .request("server.version", json!([config.client_name, [min, max]]))
        .await?;
    let server_version = match version.as_array().map(Vec::as_slice) {
        Some([Value::String(software), Value::String(_protocol)]) => software.clone(),
        _ => return bad(format!("bad server.version result: {}", short(&version))),
    };

    let reply = client.request("server.features", json!([])).await?;
    if !reply.is_object() {
        return bad(format!(
            "server.features is not an object: {}",
            short(&reply)
        ));
    }
    let genesis = reply.get("genesis_hash").and_then(Value::as_str);
    if genesis.map(str::to_ascii_lowercase) != Some(local.genesis_hash()) {
        return bad("incorrect genesis hash".into());
    }
    let mut features = Features::from_server_features(&reply, host)
        .map_err(|e| Failure::Bad(format!("server.features: {e}")))?;
    features.server_version = Some(super::client::clean(&server_version));

    let height = check_tip(client, local).await?;

    let list = client.request("server.peers.subscribe", json!([])).await?;
    let (learnt, _skipped) = parse_subscribe_reply(&list, config.default_ports)
        .map_err(|e| Failure::Bad(format!("bad server.peers.subscribe response: {e}")))?;

    if register(config, host, &learnt) {
        tracing::info!("registering ourselves with {host}");
        let features = registration(local.features(), config.me.as_ref());
        client.request("server.add_peer", json!([features])).await?;
    }
    Ok(Outcome::Good {
        features,
        height,
        learnt,
    })
}

/// Our features as sent to `server.add_peer`, with `hosts` cut to the identity we register
/// (`me`): a peer takes the first host of the list, and JSON objects are sorted here, so an
/// onion name (or another identity) could otherwise come first and be registered instead.
pub(crate) fn registration(mut features: Value, me: Option<&Peer>) -> Value {
    if let Some(me) = me
        && let Some(hosts) = features.get_mut("hosts").and_then(Value::as_object_mut)
        && let Some(mine) = hosts.get(me.host.as_str()).cloned()
    {
        hosts.clear();
        hosts.insert(me.host.as_str().to_string(), mine);
    }
    features
}

/// ElectrumX's `_send_headers_subscribe`: the peer's height and the header below the lower tip.
async fn check_tip(client: &mut PeerClient, local: &dyn LocalChain) -> Result<u64, Failure> {
    let tip = client
        .request("blockchain.headers.subscribe", json!([]))
        .await?;
    if !tip.is_object() {
        return Err(Failure::Bad(format!(
            "blockchain.headers.subscribe is not an object: {}",
            short(&tip)
        )));
    }
    let theirs = tip.get("height").and_then(Value::as_u64).ok_or_else(|| {
        let h = tip.get("height").unwrap_or(&Value::Null);
        Failure::Bad(format!("invalid height {}", short(h)))
    })?;
    let ours = local
        .height()
        .ok_or_else(|| Failure::Connection("our chain is empty".into()))?;
    if ours.abs_diff(theirs) > MAX_TIP_HEIGHT_DIFF {
        return Err(Failure::Bad(format!("bad height {theirs} (ours: {ours})")));
    }
    let at = ours.min(theirs).saturating_sub(MAX_CHAINSPLIT_LEN);
    let ours_hex = local
        .raw_header(at)
        .map(|h| bytes_to_hex(&h))
        .ok_or_else(|| Failure::Connection(format!("we have no header at {at}")))?;
    let reply = client
        .request("blockchain.block.header", json!([at]))
        .await?;
    match reply.as_str() {
        Some(theirs_hex) if theirs_hex.eq_ignore_ascii_case(&ours_hex) => Ok(theirs),
        Some(_) => Err(Failure::Bad(format!(
            "our header at {at} {ours_hex} and theirs {} differ",
            short(&reply)
        ))),
        None => Err(Failure::Bad(format!(
            "blockchain.block.header is not a string: {}",
            short(&reply)
        ))),
    }
}

/// ElectrumX's `_features_to_register`: whether to send `server.add_peer` to the peer at
/// `host` that listed `listed`: we announce, we have a public (or allowed private) clearnet
/// identity that is not the peer itself, and no listed entry of ours has our ports.
pub fn register(config: &VerifyConfig, host: &Host, listed: &[Peer]) -> bool {
    let Some(me) = config.me.as_ref() else {
        return false;
    };
    if !config.announce || me.host == *host || me.host.is_onion() {
        return false;
    }
    if !me.host.kind().acceptable(config.allow_private) {
        return false;
    }
    !listed.iter().any(|p| {
        p.host == me.host
            && p.features.tcp_port == me.features.tcp_port
            && p.features.ssl_port == me.features.ssl_port
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
