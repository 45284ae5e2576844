//! Script and outpoint answers: status hash, history, balance, unspent outputs, mempool
//! entries (scripthash.* and scriptpubkey.*), and outpoint status (1.7), each computed from
//! one consistent index view plus mempool part, with ElectrumX's ordering and limits.

use super::Shared;
use super::cache::Confirmed;
use super::handlers::internal;
use super::rpc::{DAEMON_ERROR, HISTORY_TOO_LONG, RpcError};
use crate::mempool::{MempoolEntry, MempoolUtxo};
use crate::query::View;
use crate::types::ScriptKey;
use bitcoin::Txid;
use bitcoin::hashes::{Hash, sha256};
use serde_json::{Value, json};
use std::sync::Arc;

/// Mempool entries of a script minus those the view already shows confirmed (only possible
/// when the mempool lags the index for a long time).
fn unconfirmed(view: &View, entries: Vec<MempoolEntry>) -> Result<Vec<MempoolEntry>, RpcError> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        if view.txnum(&e.txid).map_err(internal)?.is_none() {
            out.push(e);
        }
    }
    Ok(out)
}

/// A script's full history: confirmed (limited as ElectrumX limits it) then mempool.
pub struct History {
    pub confirmed: Confirmed,
    pub mempool: Vec<MempoolEntry>,
}

/// The history if it can be had without waiting or reading much: cached confirmed part, at
/// the published tip (None otherwise: use [`history`] on a blocking thread).
pub fn history_cached(shared: &Shared, key: &ScriptKey) -> Option<Result<History, RpcError>> {
    let c = shared.try_consistent(|m| m.history(key))?;
    let confirmed = shared.history_cache.try_get(c.view.tip().tip_hash(), key)?;
    if confirmed.len() >= shared.settings.history_limit() {
        return Some(Err(RpcError::new(HISTORY_TOO_LONG, "history too large")));
    }
    Some(unconfirmed(&c.view, c.mempool).map(|mempool| History { confirmed, mempool }))
}

pub fn history(shared: &Shared, key: &ScriptKey) -> Result<History, RpcError> {
    let c = shared.consistent(|m| m.history(key));
    let limit = shared.settings.history_limit();
    let tip = c.view.tip().tip_hash();
    let confirmed = match shared.history_cache.get(tip, key) {
        Some(h) => h,
        None => {
            let nums = c.view.history_txnums(key).map_err(internal)?;
            if nums.len() >= limit {
                return Err(RpcError::new(HISTORY_TOO_LONG, "history too large"));
            }
            let h: Confirmed = Arc::new(
                c.view
                    .history_of(&nums)
                    .map_err(internal)?
                    .into_iter()
                    .map(|h| (h.txid, h.height.0))
                    .collect(),
            );
            shared.history_cache.put(tip, *key, h.clone());
            h
        }
    };
    if confirmed.len() >= limit {
        return Err(RpcError::new(HISTORY_TOO_LONG, "history too large"));
    }
    let mempool = unconfirmed(&c.view, c.mempool)?;
    Ok(History { confirmed, mempool })
}

/// A height range of `get_history` (the Electrum Cash protocol's extension, as Fulcrum serves
/// it): blocks `from..to`, `to` `None` (-1) meaning the tip *and* the mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeightRange {
    pub from: u32,
    pub to: Option<u32>,
}

/// get_history's optional `from_height` (inclusive, default 0) and `to_height` (exclusive,
/// default -1: the tip and the mempool), as the Electrum Cash protocol defines them. `None`
/// when neither is given: the plain call, answered exactly as before.
pub fn height_range(
    from: Option<&Value>,
    to: Option<&Value>,
) -> Result<Option<HeightRange>, RpcError> {
    let (from, to) = (from.filter(|v| !v.is_null()), to.filter(|v| !v.is_null()));
    if from.is_none() && to.is_none() {
        return Ok(None);
    }
    // JSON integers only: no floats, strings or booleans (a page bound must be exact).
    let int = |v: &Value| v.as_i64().filter(|n| (-1..=u32::MAX as i64).contains(n));
    let from = match from {
        None => 0,
        Some(v) => match int(v) {
            Some(n) if n >= 0 => n as u32,
            _ => {
                return Err(RpcError::bad_request(format!(
                    "from_height {} should be a non-negative integer below 2^32",
                    super::methods::short(v)
                )));
            }
        },
    };
    let to = match to {
        None => None,
        Some(v) => match int(v) {
            Some(-1) => None,
            Some(n) => Some(n as u32),
            None => {
                return Err(RpcError::bad_request(format!(
                    "to_height {} should be -1 or a non-negative integer below 2^32",
                    super::methods::short(v)
                )));
            }
        },
    };
    if let Some(t) = to
        && from > t
    {
        return Err(RpcError::bad_request(format!(
            "from_height {from} is above to_height {t}"
        )));
    }
    Ok(Some(HeightRange { from, to }))
}

/// One page of a script's history: its confirmed entries in the range (read from the index
/// up to the page limit only, or sliced from a cached full history), then the mempool's when
/// the range is open-ended.
pub fn history_page(
    shared: &Shared,
    key: &ScriptKey,
    range: HeightRange,
) -> Result<History, RpcError> {
    let c = shared.consistent(|m| m.history(key));
    let limit = shared.settings.history_limit();
    let tip = c.view.tip().tip_hash();
    let confirmed: Vec<(Txid, u32)> = match shared.history_cache.get(tip, key) {
        Some(h) => {
            let start = h.partition_point(|e| e.1 < range.from);
            let end = range
                .to
                .map_or(h.len(), |to| h.partition_point(|e| e.1 < to));
            h.get(start..end.max(start)).unwrap_or_default().to_vec()
        }
        None => {
            let nums = c
                .view
                .history_txnums_between(key, range.from, range.to, limit)
                .map_err(internal)?;
            c.view
                .history_of(&nums)
                .map_err(internal)?
                .into_iter()
                .map(|h| (h.txid, h.height.0))
                .collect()
        }
    };
    if confirmed.len() >= limit {
        // The entries before the first one over the limit fit: say up to which height.
        let first_over = confirmed.get(limit - 1).map_or(range.from, |e| e.1);
        let hint = if first_over > range.from {
            format!(
                "; from_height {} to_height {first_over} fits (at most {} entries per reply \
                 under this server's MAX_SEND)",
                range.from,
                limit - 1
            )
        } else {
            format!(
                "; block {first_over} alone has more than the {} entries a reply can hold \
                 under this server's MAX_SEND",
                limit - 1
            )
        };
        return Err(RpcError::new(
            HISTORY_TOO_LONG,
            format!("history too large{hint}"),
        ));
    }
    let mempool = match range.to {
        None => unconfirmed(&c.view, c.mempool)?,
        Some(_) => Vec::new(),
    };
    Ok(History {
        confirmed: Arc::new(confirmed),
        mempool,
    })
}

impl History {
    /// The Electrum status: sha256 of "txid:height:" for every entry, or None without any.
    pub fn status(&self) -> Option<[u8; 32]> {
        if self.confirmed.is_empty() && self.mempool.is_empty() {
            return None;
        }
        let mut s = String::with_capacity((self.confirmed.len() + self.mempool.len()) * 72);
        use std::fmt::Write;
        for (txid, height) in self.confirmed.iter() {
            let _ = write!(s, "{txid}:{height}:");
        }
        for e in &self.mempool {
            let _ = write!(s, "{}:{}:", e.txid, e.height);
        }
        Some(sha256::Hash::hash(s.as_bytes()).to_byte_array())
    }

    /// The get_history result as JSON text: confirmed entries then mempool ones (with fee).
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write;
        out.reserve((self.confirmed.len() + self.mempool.len()) * 90 + 2);
        out.push('[');
        let mut first = true;
        for (txid, height) in self.confirmed.iter() {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{{\"height\":{height},\"tx_hash\":\"{txid}\"}}");
        }
        for e in &self.mempool {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(
                out,
                "{{\"fee\":{},\"height\":{},\"tx_hash\":\"{}\"}}",
                e.fee, e.height, e.txid
            );
        }
        out.push(']');
    }
}

pub fn status_hex(s: Option<[u8; 32]>) -> Value {
    s.map_or(Value::Null, |s| {
        Value::String(crate::types::bytes_to_hex(&s))
    })
}

fn mempool_json(entries: &[MempoolEntry]) -> Vec<Value> {
    entries
        .iter()
        .map(|e| json!({"tx_hash": e.txid.to_string(), "height": e.height, "fee": e.fee}))
        .collect()
}

pub fn get_mempool(shared: &Shared, key: &ScriptKey) -> Result<Value, RpcError> {
    let c = shared.consistent(|m| m.history(key));
    Ok(Value::Array(mempool_json(&unconfirmed(
        &c.view, c.mempool,
    )?)))
}

pub fn balance(shared: &Shared, key: &ScriptKey) -> Result<Value, RpcError> {
    let c = shared.consistent(|m| m.balance_delta(key));
    let confirmed = c.view.balance(key).map_err(internal)?;
    Ok(json!({"confirmed": confirmed, "unconfirmed": c.mempool}))
}

/// Confirmed outputs in chain order, then mempool ones; outputs a mempool tx spends are left
/// out, as ElectrumX does.
pub fn listunspent(shared: &Shared, key: &ScriptKey) -> Result<Value, RpcError> {
    let c = shared.consistent(|m| m.utxos(key));
    let confirmed = c.view.utxos(key).map_err(internal)?;
    let mempool: Vec<MempoolUtxo> = c.mempool;
    let spent: Vec<bool> = {
        let m = shared.mempool.read();
        confirmed
            .iter()
            .map(|u| m.spender(&u.txid, u.vout).is_some())
            .chain(mempool.iter().map(|u| m.spender(&u.txid, u.vout).is_some()))
            .collect()
    };
    let mut out = Vec::with_capacity(confirmed.len() + mempool.len());
    for u in &confirmed {
        out.push(json!({"tx_hash": u.txid.to_string(), "tx_pos": u.vout, "height": u.height.0, "value": u.value}));
    }
    for u in &mempool {
        if c.view.txnum(&u.txid).map_err(internal)?.is_none() {
            out.push(json!({"tx_hash": u.txid.to_string(), "tx_pos": u.vout, "height": 0, "value": u.value}));
        } else {
            out.push(Value::Null); // confirmed meanwhile: listed above already
        }
    }
    Ok(Value::Array(
        out.into_iter()
            .zip(spent)
            .filter(|(v, spent)| !v.is_null() && !spent)
            .map(|(v, _)| v)
            .collect(),
    ))
}

/// An outpoint's status as ElectrumX reports it: `funder_height`, and `spender_txhash` +
/// `spender_height` when spent; heights 0 / -1 for the mempool; `{}` when the output does not
/// exist (as far as the chain and mempool know).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutpointStatus {
    pub funder_height: Option<i64>,
    pub spender: Option<(Txid, i64)>,
}

impl OutpointStatus {
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(h) = self.funder_height {
            m.insert("funder_height".into(), json!(h));
            if let Some((t, sh)) = &self.spender {
                m.insert("spender_txhash".into(), json!(t.to_string()));
                m.insert("spender_height".into(), json!(sh));
            }
        }
        Value::Object(m)
    }

    /// Involves the mempool (ElectrumX re-checks such statuses on every block).
    pub fn in_mempool(&self) -> bool {
        self.funder_height.is_some_and(|h| h <= 0) || self.spender.is_some_and(|(_, h)| h <= 0)
    }
}

/// What the mempool says about an outpoint (ElectrumX's `spender_for_txo`).
struct MempoolPart {
    funder: Option<i64>,
    spender: Option<(Txid, i64)>,
}

pub fn outpoint_status(
    shared: &Shared,
    txid: &Txid,
    vout: u32,
    spk_hint: &[u8],
) -> Result<OutpointStatus, RpcError> {
    let c = shared.consistent(|m| {
        let height = |t: &Txid| m.tx(t).map(|i| -i64::from(i.has_unconfirmed_parent));
        if m.contains(txid) && !m.has_output(txid, vout) {
            return MempoolPart {
                funder: None,
                spender: None,
            };
        }
        MempoolPart {
            funder: height(txid),
            spender: m
                .spender(txid, vout)
                .and_then(|s| height(&s).map(|h| (s, h))),
        }
    });
    let mut chain_funder = None;
    if let Some(chain) = c.view.outpoint_status(txid, vout).map_err(internal)? {
        if let Some((t, h)) = chain.spender {
            return Ok(OutpointStatus {
                funder_height: Some(i64::from(chain.funding_height.0)),
                spender: Some((t, i64::from(h.0))),
            });
        }
        let exists = (!spk_hint.is_empty()
            && c.view
                .has_utxo(&ScriptKey::from_script(spk_hint), txid, vout)
                .map_err(internal)?)
            || vout < output_count(shared, &c.view, txid)?;
        if exists {
            chain_funder = Some(i64::from(chain.funding_height.0));
        }
    }
    let funder_height = c.mempool.funder.or(chain_funder);
    Ok(OutpointStatus {
        funder_height,
        spender: funder_height.and(c.mempool.spender),
    })
}

/// Number of outputs of a confirmed transaction, from bitcoind (cached; the index does not
/// keep it): getrawtransaction with the block hash the index gives, so no txindex is needed.
fn output_count(shared: &Shared, view: &View, txid: &Txid) -> Result<u32, RpcError> {
    if let Ok(cache) = shared.output_counts.lock()
        && let Some(n) = cache.get(txid)
    {
        crate::metrics::cache_lookup("output_count", true);
        return Ok(*n);
    }
    crate::metrics::cache_lookup("output_count", false);
    let Some(loc) = view.tx_location(txid).map_err(internal)? else {
        return Ok(0);
    };
    let raw = shared
        .daemon
        .call(
            "getrawtransaction",
            json!([txid.to_string(), false, loc.block_hash.to_string()]),
        )
        .map_err(|e| RpcError::new(DAEMON_ERROR, format!("daemon error: {e}")))?;
    let tx: bitcoin::Transaction = raw
        .as_str()
        .and_then(crate::types::hex_to_bytes)
        .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
        .ok_or_else(|| RpcError::new(DAEMON_ERROR, "daemon error: undecodable transaction"))?;
    let n = u32::try_from(tx.output.len()).unwrap_or(u32::MAX);
    if let Ok(mut cache) = shared.output_counts.lock() {
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(*txid, n);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_ranges_are_checked_like_electrumx_checks_parameters() {
        let r = |from: Value, to: Value| height_range(Some(&from), Some(&to));
        assert_eq!(height_range(None, None), Ok(None));
        assert_eq!(r(Value::Null, Value::Null), Ok(None));
        assert_eq!(
            height_range(Some(&json!(5)), None),
            Ok(Some(HeightRange { from: 5, to: None }))
        );
        assert_eq!(
            r(json!(0), json!(-1)),
            Ok(Some(HeightRange { from: 0, to: None }))
        );
        assert_eq!(
            r(json!(7), json!(7)),
            Ok(Some(HeightRange {
                from: 7,
                to: Some(7)
            }))
        );
        assert_eq!(
            r(json!(0), json!(u32::MAX)),
            Ok(Some(HeightRange {
                from: 0,
                to: Some(u32::MAX)
            }))
        );
        for (from, to, why) in [
            (json!(8), json!(7), "from_height 8 is above to_height 7"),
            (
                json!(-1),
                json!(7),
                "from_height -1 should be a non-negative",
            ),
            (json!(0), json!(-2), "to_height -2 should be -1 or"),
            (json!(1.5), json!(9), "from_height 1.5 should be"),
            (json!("3"), json!(9), "from_height 3 should be"),
            (json!(true), json!(9), "from_height true should be"),
            (
                json!(0),
                json!(4_294_967_296u64),
                "to_height 4294967296 should be",
            ),
            (
                json!(1u64 << 40),
                json!(-1),
                "from_height 1099511627776 should be",
            ),
        ] {
            let e = r(from, to).unwrap_err();
            assert_eq!(e.code, super::super::rpc::BAD_REQUEST);
            assert!(e.message.starts_with(why), "{}", e.message);
        }
    }
}
