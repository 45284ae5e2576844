//! The method table: which methods exist at which protocol version (exactly as ElectrumX 2.0
//! gates them), their parameter names and arity, and the parameter checks ElectrumX applies
//! (`non_negative_integer`, txid and hex strings, booleans).

use super::rpc::{Params, RpcError};
use crate::types::ScriptKey;
use bitcoin::Txid;
use bitcoin::hashes::{Hash, sha256};
use serde_json::Value;

/// A protocol version as a tuple, compared as Python compares tuples: (1, 4) < (1, 4, 0).
pub type Version = Vec<u32>;

pub const PROTOCOL_MIN: &[u32] = &[1, 4];
pub const PROTOCOL_MAX: &[u32] = &[1, 7, 0];

/// One method: its parameters (required first) and the versions that have it.
pub struct Method {
    pub name: &'static str,
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
    /// Accepts and ignores any further arguments (only `server.version`).
    pub open: bool,
    pub since: &'static [u32],
    /// First version without it.
    pub until: Option<&'static [u32]>,
}

const fn m(
    name: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
) -> Method {
    Method {
        name,
        required,
        optional,
        open: false,
        since: PROTOCOL_MIN,
        until: None,
    }
}

const fn since(mut m: Method, v: &'static [u32]) -> Method {
    m.since = v;
    m
}

const fn until(mut m: Method, v: &'static [u32]) -> Method {
    m.until = Some(v);
    m
}

const V1_6: &[u32] = &[1, 6];
const V1_7: &[u32] = &[1, 7];

pub static METHODS: &[Method] = &[
    m("blockchain.block.header", &["height"], &["cp_height"]),
    m(
        "blockchain.block.headers",
        &["start_height", "count"],
        &["cp_height"],
    ),
    m("blockchain.estimatefee", &["number"], &["mode"]),
    m("blockchain.headers.subscribe", &[], &[]),
    m("blockchain.transaction.broadcast", &["raw_tx"], &[]),
    m("blockchain.transaction.get", &["tx_hash"], &["verbose"]),
    m(
        "blockchain.transaction.get_merkle",
        &["tx_hash", "height"],
        &[],
    ),
    m(
        "blockchain.transaction.id_from_pos",
        &["height", "tx_pos"],
        &["merkle"],
    ),
    m("mempool.get_fee_histogram", &[], &[]),
    m("server.add_peer", &["features"], &[]),
    m("server.banner", &[], &[]),
    m("server.donation_address", &[], &[]),
    m("server.features", &[], &[]),
    m("server.peers.subscribe", &[], &[]),
    m("server.ping", &[], &["pong_len", "data"]),
    Method {
        open: true,
        ..m("server.version", &[], &["client_name", "protocol_version"])
    },
    until(
        m("blockchain.scripthash.get_balance", &["scripthash"], &[]),
        V1_7,
    ),
    until(
        m(
            "blockchain.scripthash.get_history",
            &["scripthash"],
            &["from_height", "to_height"],
        ),
        V1_7,
    ),
    until(
        m("blockchain.scripthash.get_mempool", &["scripthash"], &[]),
        V1_7,
    ),
    until(
        m("blockchain.scripthash.listunspent", &["scripthash"], &[]),
        V1_7,
    ),
    until(
        m("blockchain.scripthash.subscribe", &["scripthash"], &[]),
        V1_7,
    ),
    until(
        since(
            m("blockchain.scripthash.unsubscribe", &["scripthash"], &[]),
            &[1, 4, 2],
        ),
        V1_7,
    ),
    since(
        m(
            "blockchain.transaction.broadcast_package",
            &["raw_txs"],
            &["verbose"],
        ),
        V1_6,
    ),
    since(m("mempool.get_info", &[], &[]), V1_6),
    until(m("blockchain.relayfee", &[], &[]), V1_6),
    since(
        m(
            "blockchain.transaction.testmempoolaccept",
            &["raw_txs"],
            &[],
        ),
        V1_7,
    ),
    since(
        m(
            "blockchain.outpoint.subscribe",
            &["tx_hash", "txout_idx", "spk_hint"],
            &[],
        ),
        V1_7,
    ),
    since(
        m(
            "blockchain.outpoint.get_status",
            &["tx_hash", "txout_idx", "spk_hint"],
            &[],
        ),
        V1_7,
    ),
    since(
        m(
            "blockchain.outpoint.unsubscribe",
            &["tx_hash", "txout_idx"],
            &[],
        ),
        V1_7,
    ),
    since(
        m("blockchain.scriptpubkey.get_balance", &["spk"], &[]),
        V1_7,
    ),
    since(
        m(
            "blockchain.scriptpubkey.get_history",
            &["spk"],
            &["from_height", "to_height"],
        ),
        V1_7,
    ),
    since(
        m("blockchain.scriptpubkey.get_mempool", &["spk"], &[]),
        V1_7,
    ),
    since(
        m("blockchain.scriptpubkey.listunspent", &["spk"], &[]),
        V1_7,
    ),
    since(m("blockchain.scriptpubkey.subscribe", &["spk"], &[]), V1_7),
    since(
        m("blockchain.scriptpubkey.unsubscribe", &["spk"], &[]),
        V1_7,
    ),
    since(m("mempool.recent", &[], &[]), V1_7),
    // Extensions (Electrum Cash protocol as Fulcrum serves them; `block.stats` as Frigate):
    // at every version, scripts named as the version names them. See `extensions`.
    m("blockchain.block.stats", &["height"], &[]),
    m("blockchain.header.get", &["block_hash"], &[]),
    m("blockchain.transaction.get_height", &["tx_hash"], &[]),
    m(
        "blockchain.transaction.get_confirmed_blockhash",
        &["tx_hash"],
        &["include_header"],
    ),
    m("blockchain.utxo.get_info", &["tx_hash", "out_n"], &[]),
    m("daemon.passthrough", &["method"], &["params"]),
    // Silent payments (docs/SILENT_PAYMENTS.md): the tweak API as Cake Wallet's electrs fork
    // serves it, and Frigate's server-side scanning.
    m(
        "blockchain.block.tweaks",
        &["height"],
        &["dust_limit", "cut_through"],
    ),
    m(
        "blockchain.tweaks.subscribe",
        &["height", "count"],
        &["historical", "dust_limit"],
    ),
    m(
        "blockchain.silentpayments.subscribe",
        &["scan_private_key", "spend_public_key"],
        &["start", "labels"],
    ),
    m(
        "blockchain.silentpayments.unsubscribe",
        &["scan_private_key", "spend_public_key"],
        &[],
    ),
    until(
        m("blockchain.scripthash.get_first_use", &["scripthash"], &[]),
        V1_7,
    ),
    since(
        m("blockchain.scriptpubkey.get_first_use", &["spk"], &[]),
        V1_7,
    ),
];

/// The method as the session's protocol version has it, or -32601.
pub fn lookup(name: &str, version: &[u32]) -> Result<&'static Method, RpcError> {
    METHODS
        .iter()
        .find(|m| m.name == name && version >= m.since && m.until.is_none_or(|u| version < u))
        .ok_or_else(|| {
            RpcError::new(
                super::rpc::METHOD_NOT_FOUND,
                format!("unknown method \"{name}\""),
            )
        })
}

/// Binds the parameters by position or name (aiorpcx's rules); absent optional ones are
/// `None`. Too few or too many is -32602.
pub fn bind(m: &Method, params: Params) -> Result<Vec<Option<Value>>, RpcError> {
    let total = m.required.len() + m.optional.len();
    match params {
        Params::List(list) => {
            let n = list.len();
            if n < m.required.len() {
                let s = if n == 1 { "" } else { "s" };
                return Err(RpcError::invalid_args(format!(
                    "{n} argument{s} passed to method \"{}\" but it requires {}",
                    m.name,
                    m.required.len()
                )));
            }
            if n > total && !m.open {
                let s = if n == 1 { "" } else { "s" };
                return Err(RpcError::invalid_args(format!(
                    "{n} argument{s} passed to method {} taking at most {total}",
                    m.name
                )));
            }
            let mut out: Vec<Option<Value>> = list.into_iter().take(total).map(Some).collect();
            out.resize(total, None);
            Ok(out)
        }
        Params::Named(mut map) => {
            let mut out = Vec::with_capacity(total);
            for name in m.required {
                match map.remove(*name) {
                    Some(v) => out.push(Some(v)),
                    None => {
                        return Err(RpcError::invalid_args(format!(
                            "method \"{}\" requires parameter \"{name}\"",
                            m.name
                        )));
                    }
                }
            }
            for name in m.optional {
                out.push(map.remove(*name));
            }
            if !map.is_empty() && !m.open {
                let mut extra: Vec<&String> = map.keys().collect();
                extra.sort();
                return Err(RpcError::invalid_args(format!(
                    "method \"{}\" does not take parameter(s) {extra:?}",
                    m.name
                )));
            }
            Ok(out)
        }
    }
}

/// Python's `int(value)` for the JSON values it accepts: integers, floats (truncated), numeric
/// strings and booleans.
fn python_int(v: &Value) -> Option<i128> {
    match v {
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.clamp(-1e30, 1e30).trunc() as i128)
            }),
        Value::String(s) => {
            let t = s.trim().replace('_', "");
            t.parse::<i128>().ok()
        }
        _ => None,
    }
}

/// ElectrumX's `non_negative_integer`, as a u64 (larger values are out of every range here).
pub fn non_negative(v: &Value) -> Result<u64, RpcError> {
    match python_int(v) {
        Some(n) if n >= 0 => Ok(u64::try_from(n).unwrap_or(u64::MAX)),
        _ => Err(RpcError::bad_request(format!(
            "{} should be a non-negative integer",
            short(v)
        ))),
    }
}

/// An optional non-negative integer parameter, with its default.
pub fn non_negative_or(v: &Option<Value>, default: u64) -> Result<u64, RpcError> {
    v.as_ref().map_or(Ok(default), non_negative)
}

/// A height parameter: values above u32 are simply beyond the chain.
pub fn height(v: &Value) -> Result<u32, RpcError> {
    non_negative(v).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// `True`/`False` as Python's `value in (True, False)` sees them (so 0 and 1 count).
pub fn boolean(v: &Option<Value>, what: &str) -> Result<bool, RpcError> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Ok(false),
        Some(Value::Number(n)) if n.as_f64() == Some(1.0) => Ok(true),
        Some(_) => Err(RpcError::bad_request(format!(
            "\"{what}\" must be a boolean"
        ))),
    }
}

/// ElectrumX's `is_hex_str`: a string of hex digit pairs, no whitespace.
pub fn is_hex(v: &Value, allow_odd: bool) -> bool {
    match v {
        Value::String(s) => {
            (allow_odd || s.len() % 2 == 0) && s.bytes().all(|c| c.is_ascii_hexdigit())
        }
        _ => false,
    }
}

pub fn hex_str(v: &Value) -> Result<&str, RpcError> {
    match v {
        Value::String(s) if is_hex(v, false) => Ok(s),
        _ => Err(RpcError::bad_request(format!(
            "{} should be a hex string",
            short(v)
        ))),
    }
}

/// A txid as clients write it (byte-reversed hex).
pub fn txid(v: &Value) -> Result<Txid, RpcError> {
    match v {
        Value::String(s) if s.len() == 64 && is_hex(v, false) => s
            .parse::<Txid>()
            .map_err(|_| RpcError::bad_request(format!("{s} should be a transaction hash"))),
        _ => Err(RpcError::bad_request(format!(
            "{} should be a transaction hash",
            short(v)
        ))),
    }
}

/// A script hash parameter (byte-reversed sha256 of the script).
pub fn scripthash(v: &Value) -> Result<ScriptKey, RpcError> {
    v.as_str()
        .filter(|s| s.len() == 64)
        .and_then(ScriptKey::from_scripthash_hex)
        .ok_or_else(|| RpcError::bad_request(format!("{} is not a valid script hash", short(v))))
}

/// A scriptPubKey parameter (hex): its key and its script hash hex.
pub fn script_pubkey(v: &Value) -> Result<(ScriptKey, String), RpcError> {
    let hex = hex_str(v)?;
    let bytes = crate::types::hex_to_bytes(hex)
        .ok_or_else(|| RpcError::bad_request(format!("{hex} should be a hex string")))?;
    let digest = sha256::Hash::hash(&bytes).to_byte_array();
    let mut rev = digest;
    rev.reverse();
    Ok((
        ScriptKey::from_sha256(&digest),
        crate::types::bytes_to_hex(&rev),
    ))
}

/// A list of hex strings (raw transactions).
pub fn hex_list(v: &Value) -> Result<Vec<String>, RpcError> {
    let Value::Array(items) = v else {
        return Err(RpcError::bad_request(format!(
            "{} should be a list",
            short(v)
        )));
    };
    items
        .iter()
        .map(|i| hex_str(i).map(str::to_string))
        .collect()
}

pub fn short(v: &Value) -> String {
    let mut s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.len() > 80 {
        let mut cut = 80;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// ElectrumX's `protocol_tuple`: "1.4.2" → [1, 4, 2]; anything else → [0].
pub fn protocol_tuple(v: &Value) -> Version {
    let Some(s) = v.as_str() else {
        return vec![0];
    };
    s.split('.')
        .map(|p| p.trim().parse::<u32>().ok())
        .collect::<Option<Vec<u32>>>()
        .unwrap_or_else(|| vec![0])
}

/// ElectrumX's `version_string`: at least two components.
pub fn version_string(v: &[u32]) -> String {
    let mut parts: Vec<String> = v.iter().map(u32::to_string).collect();
    while parts.len() < 2 {
        parts.push("0".into());
    }
    parts.join(".")
}

/// ElectrumX's negotiation: the highest common version, or None.
pub fn negotiate(requested: Option<&Value>) -> Option<Version> {
    let (client_min, client_max) = match requested {
        None | Some(Value::Null) => (PROTOCOL_MIN.to_vec(), PROTOCOL_MIN.to_vec()),
        Some(Value::Array(pair)) if pair.len() == 2 => {
            (protocol_tuple(&pair[0]), protocol_tuple(&pair[1]))
        }
        Some(v) => (protocol_tuple(v), protocol_tuple(v)),
    };
    let result = client_max.min(PROTOCOL_MAX.to_vec());
    let floor = client_min.max(PROTOCOL_MIN.to_vec());
    (result >= floor && result != [0]).then_some(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn negotiation_follows_electrumx() {
        let n = |v: Value| negotiate(Some(&v)).map(|v| version_string(&v));
        assert_eq!(n(json!("1.4")).as_deref(), Some("1.4"));
        assert_eq!(n(json!("1.7")).as_deref(), Some("1.7"));
        assert_eq!(n(json!("1.8")), None);
        assert_eq!(n(json!(["1.4", "1.8"])).as_deref(), Some("1.7.0"));
        assert_eq!(n(json!(["1.4", "1.7"])).as_deref(), Some("1.7"));
        assert_eq!(n(json!(["1.1", "1.4.2"])).as_deref(), Some("1.4.2"));
        assert_eq!(n(json!("1.3")), None);
        assert_eq!(n(json!(["1.8", "1.9"])), None);
        assert_eq!(n(json!("x")), None);
        assert_eq!(n(json!(1.4)), None);
        assert_eq!(
            negotiate(None).map(|v| version_string(&v)).as_deref(),
            Some("1.4")
        );
    }

    #[test]
    fn gating_follows_electrumx() {
        let has = |name: &str, v: &[u32]| lookup(name, v).is_ok();
        assert!(has("blockchain.relayfee", &[1, 4]));
        assert!(!has("blockchain.relayfee", &[1, 6]));
        assert!(!has("blockchain.scripthash.unsubscribe", &[1, 4]));
        assert!(has("blockchain.scripthash.unsubscribe", &[1, 4, 2]));
        assert!(!has("blockchain.scripthash.get_history", &[1, 7]));
        assert!(has("blockchain.scriptpubkey.get_history", &[1, 7]));
        assert!(has("blockchain.scriptpubkey.get_history", &[1, 7, 0]));
        assert!(!has("mempool.get_info", &[1, 5]));
        assert!(has("mempool.get_info", &[1, 6]));
    }

    #[test]
    fn binds_arguments_like_aiorpcx() {
        let header = lookup("blockchain.block.header", &[1, 4]).unwrap();
        assert_eq!(
            bind(header, Params::List(vec![json!(5)])).unwrap(),
            vec![Some(json!(5)), None]
        );
        assert_eq!(bind(header, Params::List(vec![])).unwrap_err().code, -32602);
        assert_eq!(
            bind(header, Params::List(vec![json!(1), json!(2), json!(3)]))
                .unwrap_err()
                .code,
            -32602
        );
        let named = json!({"height": 3, "cp_height": 9});
        let Value::Object(map) = named else { panic!() };
        assert_eq!(
            bind(header, Params::Named(map)).unwrap(),
            vec![Some(json!(3)), Some(json!(9))]
        );
        let version = lookup("server.version", &[1, 4]).unwrap();
        assert_eq!(
            bind(
                version,
                Params::List(vec![json!("a"), json!("1.4"), json!(0)])
            )
            .unwrap()
            .len(),
            2
        );
    }

    #[test]
    fn integers_as_python_reads_them() {
        assert_eq!(non_negative(&json!(5)).unwrap(), 5);
        assert_eq!(non_negative(&json!("12")).unwrap(), 12);
        assert_eq!(non_negative(&json!(2.9)).unwrap(), 2);
        assert_eq!(non_negative(&json!(true)).unwrap(), 1);
        assert!(non_negative(&json!(-1)).is_err());
        assert!(non_negative(&json!("x")).is_err());
        assert!(non_negative(&json!([1])).is_err());
        assert_eq!(non_negative(&json!(1e300)).unwrap(), u64::MAX);
        assert_eq!(height(&json!(u64::MAX)).unwrap(), u32::MAX);
    }
}
