//! What a peer announces about itself: the [`Features`] read from a `server.features` reply
//! (or `server.add_peer`'s argument), as ElectrumX's `Peer` properties (`ssl_port`,
//! `tcp_port`, `protocol_max`, `genesis_hash`, `pruning`, `server_version`) read them, but with
//! bounds and types enforced: a wrong type or out-of-range value is an error, not a default.

use super::addr::Host;
use super::peer::{
    MAX_FEATURE_HOSTS, MAX_SERVER_VERSION_LEN, MAX_TOKEN_LEN, PeerError, ProtocolVersion, field,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a peer says about itself for the host it was reached by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    /// Plain TCP port.
    pub tcp_port: Option<u16>,
    /// TLS port.
    pub ssl_port: Option<u16>,
    /// Oldest protocol version served.
    pub protocol_min: Option<ProtocolVersion>,
    /// Newest protocol version served.
    pub protocol_max: Option<ProtocolVersion>,
    /// Server software and version, e.g. `ElectrumX 1.18.0`.
    pub server_version: Option<String>,
    /// Genesis block hash, lower-case hex.
    pub genesis_hash: Option<String>,
    /// Pruning limit in blocks; `None` when the peer keeps all history.
    pub pruning: Option<u64>,
}

impl Features {
    /// Reads a `server.features` reply for `host`: the reply must be an object whose `hosts`
    /// object lists `host` (case-insensitive), as ElectrumX's `_send_server_features` checks.
    pub fn from_server_features(reply: &Value, host: &Host) -> Result<Features, PeerError> {
        let hosts = hosts_map(reply)?;
        let entry = hosts
            .iter()
            .find(|(name, _)| Host::parse(name).is_ok_and(|h| &h == host))
            .map(|(_, v)| v)
            .ok_or(PeerError::HostNotListed)?;
        Features::from_parts(reply, entry)
    }

    /// The features of one `hosts` entry plus the reply's top-level fields.
    pub(super) fn from_parts(reply: &Value, entry: &Value) -> Result<Features, PeerError> {
        let ports = match entry {
            Value::Object(map) => Some(map),
            Value::Null => None,
            _ => return Err(PeerError::Shape("a hosts entry is not an object".into())),
        };
        let port = |name: &'static str| match ports.and_then(|m| m.get(name)) {
            None => Ok(None),
            Some(v) => port_value(name, v),
        };
        Ok(Features {
            tcp_port: port("tcp_port")?,
            ssl_port: port("ssl_port")?,
            protocol_min: version_field(reply, "protocol_min")?,
            protocol_max: version_field(reply, "protocol_max")?,
            server_version: string_field(reply, "server_version", MAX_SERVER_VERSION_LEN)?
                .filter(|s| s.chars().all(|c| !c.is_control())),
            genesis_hash: match string_field(reply, "genesis_hash", 64)? {
                Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    Some(h.to_ascii_lowercase())
                }
                Some(_) => return Err(field("genesis_hash", "not 64 hex digits")),
                None => None,
            },
            pruning: match reply.get("pruning") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_u64() {
                    Some(0) => None,
                    Some(n) => Some(n),
                    None => return Err(field("pruning", "not a whole number")),
                },
            },
        })
    }
}

/// The `hosts` object of a features reply, bounded.
pub(super) fn hosts_map(reply: &Value) -> Result<&serde_json::Map<String, Value>, PeerError> {
    let Value::Object(obj) = reply else {
        return Err(PeerError::Shape("server.features is not an object".into()));
    };
    let Some(Value::Object(hosts)) = obj.get("hosts") else {
        return Err(PeerError::Shape(
            "server.features has no hosts object".into(),
        ));
    };
    if hosts.len() > MAX_FEATURE_HOSTS {
        return Err(PeerError::TooMany {
            what: "hosts",
            max: MAX_FEATURE_HOSTS,
        });
    }
    Ok(hosts)
}

/// A port as a number or a numeric string (ElectrumX accepts both), 1 to 65535; null is none.
pub(super) fn port_value(name: &'static str, v: &Value) -> Result<Option<u16>, PeerError> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64(),
        Value::String(s) if s.len() <= 5 => s.parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n @ 1..=65535) => Ok(u16::try_from(n).ok()),
        _ => Err(field(name, "not a port number (1 to 65535)")),
    }
}

fn string_field(
    reply: &Value,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, PeerError> {
    match reply.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(field(name, format!("longer than {max} bytes"))),
        Some(_) => Err(field(name, "not a string")),
    }
}

fn version_field(reply: &Value, name: &'static str) -> Result<Option<ProtocolVersion>, PeerError> {
    match string_field(reply, name, MAX_TOKEN_LEN)? {
        None => Ok(None),
        Some(s) => ProtocolVersion::parse(&s)
            .map(Some)
            .ok_or_else(|| field(name, "not a version such as 1.4")),
    }
}
