//! A peer server's identity and features, parsed from what peers and operators send and
//! rendered as `server.peers.subscribe` lists it.
//!
//! Three input forms, all hostile until parsed: a `server.features` reply
//! ([`Features::from_server_features`], [`Peer::from_add_peer`]), an entry of a
//! `server.peers.subscribe` reply ([`parse_subscribe_reply`]) and the "real name" string of
//! seeds and `add_peer` (`"host s50002 t50001 v1.4 p10000"`, [`Peer::from_real_name`]), as
//! ElectrumX's `Peer` (`electrumx/lib/peer.py`) reads them. Every list, string and number has a
//! bound; nothing here panics or allocates more than a small multiple of its input. Rendering
//! follows `Peer.real_name` and `Peer.to_tuple`.

use super::addr::{Host, HostError};
pub use super::features::Features;
use super::features::{hosts_map, port_value};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::net::IpAddr;

/// Most hosts a `server.features` reply may list.
pub const MAX_FEATURE_HOSTS: usize = 32;
/// Most entries of a `server.peers.subscribe` reply (public servers list about a hundred).
pub const MAX_SUBSCRIBE_ENTRIES: usize = 1000;
/// Most feature tokens (`v1.4`, `s50002`, ...) of one peer.
pub const MAX_TOKENS: usize = 16;
/// Longest feature token.
pub const MAX_TOKEN_LEN: usize = 32;
/// Longest `server_version` string kept.
pub const MAX_SERVER_VERSION_LEN: usize = 100;

/// Why something a peer or operator sent is not a usable peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The host is not valid.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The value does not have the expected JSON shape.
    #[error("{0}")]
    Shape(String),
    /// A field has a wrong type or an out-of-range value.
    #[error("bad {field}: {why}")]
    Field {
        /// The field or token, e.g. `ssl_port`.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// More items than allowed.
    #[error("{what}: more than {max}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The bound.
        max: usize,
    },
    /// `server.features` does not list the host the peer was reached by.
    #[error("not listed in own hosts list")]
    HostNotListed,
}

/// A [`PeerError::Field`].
pub(super) fn field(field: &'static str, why: impl Into<String>) -> PeerError {
    PeerError::Field {
        field,
        why: why.into(),
    }
}

/// A protocol version such as `1.4` or `1.4.2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// Major, minor and patch numbers; the patch is rendered only when present.
    parts: (u16, u16, Option<u16>),
}

impl ProtocolVersion {
    /// Parses `1`, `1.4` or `1.4.2` (each part at most 65535).
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        if s.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut it = s.split('.');
        let number = |p: Option<&str>| -> Option<Option<u16>> {
            match p {
                None => Some(None),
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().ok().map(Some)
                }
                Some(_) => None,
            }
        };
        let major = number(it.next())??;
        let minor = number(it.next())?.unwrap_or(0);
        let patch = number(it.next())?;
        if it.next().is_some() {
            return None;
        }
        Some(ProtocolVersion {
            parts: (major, minor, patch),
        })
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor, patch) = self.parts;
        write!(f, "{major}.{minor}")?;
        if let Some(p) = patch {
            write!(f, ".{p}")?;
        }
        Ok(())
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProtocolVersion::parse(&s).ok_or_else(|| serde::de::Error::custom("bad protocol version"))
    }
}

/// A peer server: its host, its address once connected to, and its features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The host name or address the peer is known by.
    pub host: Host,
    /// The address it was last reached at (never taken from what other peers claim).
    pub ip: Option<IpAddr>,
    /// What it announced, or what a seed or `add_peer` line said.
    pub features: Features,
}

impl Peer {
    /// A peer with no known address.
    pub fn new(host: Host, features: Features) -> Peer {
        Peer {
            host,
            ip: None,
            features,
        }
    }

    /// Parses ElectrumX's "real name" form: `host [sPORT|s] [tPORT|t] [vVERSION] [pBLOCKS]`
    /// in any order; a bare `s` or `t` is the coin's default port. Unknown tokens are ignored
    /// as ElectrumX's `Peer.from_real_name` ignores them; bad values of known ones are errors.
    pub fn from_real_name(s: &str, default_ports: (u16, u16)) -> Result<Peer, PeerError> {
        if s.len() > MAX_HOST_LEN_WITH_TOKENS {
            return Err(PeerError::TooMany {
                what: "characters",
                max: MAX_HOST_LEN_WITH_TOKENS,
            });
        }
        let mut words = s.split_whitespace();
        let host = Host::parse(words.next().unwrap_or(""))?;
        let tokens: Vec<&str> = words.collect();
        Peer::from_tokens(host, &tokens, default_ports)
    }

    fn from_tokens(host: Host, tokens: &[&str], defaults: (u16, u16)) -> Result<Peer, PeerError> {
        if tokens.len() > MAX_TOKENS {
            return Err(PeerError::TooMany {
                what: "feature tokens",
                max: MAX_TOKENS,
            });
        }
        let mut f = Features::default();
        for token in tokens {
            if token.len() > MAX_TOKEN_LEN {
                return Err(field("token", "too long"));
            }
            let Some(letter) = token.chars().next() else {
                continue;
            };
            let rest = &token[letter.len_utf8()..];
            let port = |name: &'static str, default: u16| match rest {
                "" => Ok(Some(default)),
                digits => port_value(name, &Value::String(digits.into())),
            };
            match letter {
                's' => f.ssl_port = port("ssl_port", defaults.1)?,
                't' => f.tcp_port = port("tcp_port", defaults.0)?,
                'v' => {
                    let v = ProtocolVersion::parse(rest)
                        .ok_or_else(|| field("protocol version", rest.to_string()))?;
                    f.protocol_min = Some(v);
                    f.protocol_max = Some(v);
                }
                'p' => {
                    let n = rest
                        .parse::<u64>()
                        .map_err(|_| field("pruning", rest.to_string()))?;
                    f.pruning = (n > 0).then_some(n);
                }
                _ => {}
            }
        }
        Ok(Peer::new(host, f))
    }

    /// Parses one `[ip, host, ["v1.4", "s50002", ...]]` entry of a `server.peers.subscribe`
    /// reply. The claimed IP is ignored, as ElectrumX ignores it: an address is only believed
    /// once connected to.
    pub fn from_subscribe_entry(
        entry: &Value,
        default_ports: (u16, u16),
    ) -> Result<Peer, PeerError> {
        let shape = || PeerError::Shape("a peers entry is not [ip, host, [features]]".into());
        let items = entry.as_array().ok_or_else(shape)?;
        let (Some(Value::String(host)), Some(Value::Array(tokens))) = (items.get(1), items.get(2))
        else {
            return Err(shape());
        };
        if tokens.len() > MAX_TOKENS {
            return Err(PeerError::TooMany {
                what: "feature tokens",
                max: MAX_TOKENS,
            });
        }
        let tokens: Vec<&str> = tokens
            .iter()
            .map(|t| t.as_str().ok_or_else(shape))
            .collect::<Result<_, _>>()?;
        Peer::from_tokens(Host::parse(host)?, &tokens, default_ports)
    }

    /// Reads `server.add_peer`'s features argument: the first host of its `hosts` object, as
    /// ElectrumX's `on_add_peer` takes `peers_from_features(...)[0]`. (serde_json orders object
    /// keys, so "first" is the alphabetically first; ElectrumX takes the first sent.)
    pub fn from_add_peer(features: &Value) -> Result<Peer, PeerError> {
        let hosts = hosts_map(features)?;
        let (name, entry) = hosts
            .iter()
            .next()
            .ok_or_else(|| PeerError::Shape("no hosts given".into()))?;
        let host = Host::parse(name)?;
        Ok(Peer::new(host, Features::from_parts(features, entry)?))
    }

    /// ElectrumX's `Peer.real_name`: `host vMAX [pN] [sPORT] [tPORT]`. With `abbreviate`, a
    /// port equal to the (tcp, ssl) default is written as a bare letter.
    pub fn real_name(&self, abbreviate: Option<(u16, u16)>) -> String {
        let version = self
            .features
            .protocol_max
            .map_or_else(|| "0.0".to_string(), |v| v.to_string());
        let mut parts = vec![self.host.to_string(), format!("v{version}")];
        if let Some(p) = self.features.pruning {
            parts.push(format!("p{p}"));
        }
        let defaults = abbreviate.map(|(t, s)| (Some(t), Some(s)));
        let (dt, ds) = defaults.unwrap_or((None, None));
        for (letter, port, default) in [
            ('s', self.features.ssl_port, ds),
            ('t', self.features.tcp_port, dt),
        ] {
            match port {
                Some(p) if Some(p) == default => parts.push(letter.to_string()),
                Some(p) => parts.push(format!("{letter}{p}")),
                None => {}
            }
        }
        parts.join(" ")
    }

    /// ElectrumX's `Peer.to_tuple`: `[ip or host, host, [features...]]`.
    pub fn to_subscribe_entry(&self, abbreviate: Option<(u16, u16)>) -> Value {
        let name = self.real_name(abbreviate);
        let details: Vec<Value> = name
            .split(' ')
            .skip(1)
            .map(|s| Value::String(s.into()))
            .collect();
        let first = self
            .ip
            .map_or_else(|| self.host.to_string(), |ip| ip.to_string());
        Value::Array(vec![
            Value::String(first),
            Value::String(self.host.to_string()),
            Value::Array(details),
        ])
    }
}

/// Longest real-name line: a host and [`MAX_TOKENS`] tokens with separators.
const MAX_HOST_LEN_WITH_TOKENS: usize =
    super::addr::MAX_HOST_LEN + MAX_TOKENS * (MAX_TOKEN_LEN + 1) + 16;

/// Parses a whole `server.peers.subscribe` reply. A reply that is not a list of entries of
/// the right shape, or longer than [`MAX_SUBSCRIBE_ENTRIES`], is an error (ElectrumX marks such
/// a peer bad); entries with an invalid host or port are skipped and counted.
pub fn parse_subscribe_reply(
    reply: &Value,
    default_ports: (u16, u16),
) -> Result<(Vec<Peer>, usize), PeerError> {
    let list = reply
        .as_array()
        .ok_or_else(|| PeerError::Shape("server.peers.subscribe is not a list".into()))?;
    if list.len() > MAX_SUBSCRIBE_ENTRIES {
        return Err(PeerError::TooMany {
            what: "server.peers.subscribe entries",
            max: MAX_SUBSCRIBE_ENTRIES,
        });
    }
    let mut peers = Vec::new();
    let mut skipped = 0;
    for entry in list {
        match Peer::from_subscribe_entry(entry, default_ports) {
            Ok(peer) => peers.push(peer),
            Err(e @ (PeerError::Shape(_) | PeerError::TooMany { .. })) => return Err(e),
            Err(_) => skipped += 1,
        }
    }
    Ok((peers, skipped))
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
