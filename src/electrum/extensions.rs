//! Methods beyond ElectrumX's protocol that explorers and wallets call, with the signatures,
//! result shapes and error texts of the Electrum Cash protocol as Fulcrum 2.1 serves them
//! (`blockchain.block.stats` as Frigate serves it), each answered from Ferrum's index and the
//! mempool without `-txindex`: transaction heights and block hashes, headers by height or hash,
//! an output's state, a script's first use, and a block's fee statistics. docs/PROTOCOL.md,
//! "Extensions", lists them with their sources.

use super::Shared;
use super::handlers::{arg, daemon_error, internal};
use super::methods;
use super::rpc::{BAD_REQUEST, DAEMON_ERROR, INVALID_ARGS, RpcError, RpcResult};
use crate::types::{Height, ScriptKey};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Txid};
use serde_json::{Value, json};

/// The extension methods served, as `server.features` advertises them (one key each).
pub const METHODS: &[&str] = &[
    "blockchain.block.stats",
    "blockchain.header.get",
    "blockchain.transaction.get_confirmed_blockhash",
    "blockchain.transaction.get_height",
    "blockchain.utxo.get_info",
];

/// Frigate's error code for a block bitcoind cannot give statistics of.
const BLOCK_NOT_FOUND: i64 = -32002;

/// Answers an extension method other than `get_first_use`; `None` for other methods.
pub fn call(shared: &Shared, name: &str, args: &[Option<Value>]) -> Option<RpcResult> {
    Some(match name {
        "blockchain.transaction.get_height" => get_height(shared, args),
        "blockchain.transaction.get_confirmed_blockhash" => confirmed_blockhash(shared, args),
        "blockchain.header.get" => header_get(shared, arg(args, 0)),
        "blockchain.utxo.get_info" => utxo_info(shared, args),
        "blockchain.block.stats" => block_stats(shared, arg(args, 0)),
        "daemon.passthrough" => passthrough(shared, arg(args, 0), arg(args, 1)),
        _ => return None,
    })
}

/// The confirmed height of a transaction, 0 in the mempool (whatever its parents).
fn get_height(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let txid = methods::txid(arg(args, 0))?;
    let c = shared.consistent(|m| m.contains(&txid));
    match c.view.tx_location(&txid).map_err(internal)? {
        Some(loc) => Ok(json!(loc.height.0)),
        None if c.mempool => Ok(json!(0)),
        None => Err(RpcError::new(
            BAD_REQUEST,
            "No transaction matching the requested hash was found",
        )),
    }
}

/// `{block_hash, block_height}` of a confirmed transaction, with `block_header` on request.
fn confirmed_blockhash(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let txid = methods::txid(arg(args, 0))?;
    let with_header = methods::boolean(args.get(1).unwrap_or(&None), "include_header")?;
    let view = shared.query.view();
    let Some(loc) = view.tx_location(&txid).map_err(internal)? else {
        return Err(RpcError::new(
            BAD_REQUEST,
            "No confirmed transaction matching the requested hash was found",
        ));
    };
    let mut r = json!({"block_hash": loc.block_hash.to_string(), "block_height": loc.height.0});
    if with_header {
        let header = view
            .header(loc.height)
            .map_err(internal)?
            .unwrap_or_default();
        r["block_header"] = json!(crate::types::bytes_to_hex(&header));
    }
    Ok(r)
}

/// `{height, hex}` of a header of our chain, named by height (a JSON number) or hash (a string).
fn header_get(shared: &Shared, which: &Value) -> RpcResult {
    let view = shared.query.view();
    let height = match which {
        Value::String(s) => {
            let hash: BlockHash = s
                .parse()
                .ok()
                .filter(|_| s.len() == 64)
                .ok_or_else(|| RpcError::new(BAD_REQUEST, "Invalid block hash"))?;
            let tip = view.tip();
            // Our own chain first (no daemon call for a recent block), then bitcoind's view
            // for the height of an older one.
            let recent = (0..64u32)
                .filter_map(|d| tip.height()?.0.checked_sub(d))
                .find(|h| tip.hash(Height(*h)) == Some(hash));
            match recent {
                Some(h) => h,
                None => {
                    let info = shared
                        .daemon
                        .header_info(&hash)
                        .map_err(daemon_error)?
                        .ok_or_else(|| RpcError::new(DAEMON_ERROR, "Block not found"))?;
                    if tip.hash(Height(info.height)) != Some(hash) {
                        return Err(RpcError::new(BAD_REQUEST, "Block not in active chain"));
                    }
                    info.height
                }
            }
        }
        Value::Number(n) => match n.as_i64() {
            Some(h) if h < 0 => return Err(RpcError::new(BAD_REQUEST, "Invalid height")),
            Some(h) => u32::try_from(h).unwrap_or(u32::MAX),
            None => return Err(RpcError::new(BAD_REQUEST, "Invalid height")),
        },
        _ => {
            return Err(RpcError::new(
                INVALID_ARGS,
                "Invalid height or hash specified",
            ));
        }
    };
    match view.header(Height(height)).map_err(internal)? {
        Some(h) => Ok(json!({"height": height, "hex": crate::types::bytes_to_hex(&h)})),
        None => Err(RpcError::new(
            BAD_REQUEST,
            format!("Height {height} is out of range"),
        )),
    }
}

/// An unspent output: `{confirmed_height, scripthash, value}` (no `confirmed_height` in the
/// mempool); `null` when it does not exist, is spent (in the mempool too), or is unspendable.
fn utxo_info(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let txid = methods::txid(arg(args, 0))?;
    let vout = match arg(args, 1).as_u64().and_then(|n| u32::try_from(n).ok()) {
        Some(v) => v,
        None => {
            return Err(RpcError::new(
                BAD_REQUEST,
                "Invalid tx out number: expected a value >= 0 and <= 4294967295",
            ));
        }
    };
    let c = shared.consistent(|m| (m.contains(&txid), m.spender(&txid, vout).is_some()));
    let (in_mempool, spent_in_mempool) = c.mempool;
    if spent_in_mempool {
        return Ok(Value::Null);
    }
    let location = c.view.tx_location(&txid).map_err(internal)?;
    let confirmed_height = match &location {
        Some(loc) => {
            let status = c.view.outpoint_status(&txid, vout).map_err(internal)?;
            if status.is_none_or(|s| s.spender.is_some()) {
                return Ok(Value::Null);
            }
            Some(loc.height.0)
        }
        None if in_mempool => None,
        None => return Ok(Value::Null),
    };
    let Some((script, value)) = output_of(shared, &txid, vout, location.map(|l| l.block_hash))?
    else {
        return Ok(Value::Null);
    };
    if crate::sync::prepare::is_unspendable(&script) {
        return Ok(Value::Null);
    }
    let mut r = json!({
        "scripthash": crate::types::scripthash_hex(bitcoin::Script::from_bytes(&script)),
        "value": value,
    });
    if let Some(h) = confirmed_height {
        r["confirmed_height"] = json!(h);
    }
    Ok(r)
}

/// Script and value of output `vout` of a transaction, from bitcoind (with its block's hash
/// when confirmed, so no `-txindex` is needed); `None` when the transaction has no such output.
fn output_of(
    shared: &Shared,
    txid: &Txid,
    vout: u32,
    block: Option<BlockHash>,
) -> Result<Option<(Vec<u8>, u64)>, RpcError> {
    let mut params = vec![json!(txid.to_string()), json!(false)];
    if let Some(b) = block {
        params.push(json!(b.to_string()));
    }
    let hex = shared
        .daemon
        .call("getrawtransaction", Value::Array(params))
        .map_err(daemon_error)?;
    let raw = hex
        .as_str()
        .and_then(crate::types::hex_to_bytes)
        .ok_or_else(|| RpcError::new(DAEMON_ERROR, "daemon error: getrawtransaction: not hex"))?;
    let (tx, _) = shared
        .coin
        .parse_transaction(&raw)
        .map_err(|e| RpcError::new(DAEMON_ERROR, format!("daemon error: bad transaction: {e}")))?;
    let out = tx
        .txs
        .first()
        .and_then(|t| tx.tx_outputs(t).get(vout as usize).cloned());
    Ok(out.and_then(|o| Some((raw.get(o.script)?.to_vec(), o.value))))
}

/// The first use of a script: its first confirmed transaction (always one that pays it: an
/// output exists before it can be spent), else one of its mempool transactions (height 0, a
/// block hash of zeros); `null` when it was never used. Fulcrum's shape, with its
/// `block_height` kept for ElectrsCash's clients.
pub fn first_use(shared: &Shared, key: &ScriptKey) -> RpcResult {
    let c = shared.consistent(|m| {
        let mut paying: Vec<Txid> = m.utxos(key).into_iter().map(|u| u.txid).collect();
        paying.sort();
        let mut all: Vec<Txid> = m.history(key).into_iter().map(|e| e.txid).collect();
        all.sort();
        paying.into_iter().chain(all).next()
    });
    let first = c
        .view
        .history_txnums_between(key, 0, None, 1)
        .map_err(internal)?;
    if let Some(entry) = c
        .view
        .history_of(&first)
        .map_err(internal)?
        .into_iter()
        .next()
    {
        let hash = c
            .view
            .tip()
            .hash(entry.height)
            .map(|h| h.to_string())
            .unwrap_or_default();
        return Ok(json!({
            "block_hash": hash,
            "block_height": entry.height.0,
            "height": entry.height.0,
            "tx_hash": entry.txid.to_string(),
        }));
    }
    Ok(match c.mempool {
        Some(txid) => json!({
            "block_hash": BlockHash::all_zeros().to_string(),
            "block_height": 0,
            "height": 0,
            "tx_hash": txid.to_string(),
        }),
        None => Value::Null,
    })
}

/// Frigate's `blockchain.block.stats`: six fields of bitcoind's `getblockstats`.
fn block_stats(shared: &Shared, height: &Value) -> RpcResult {
    let h = methods::height(height)?;
    let stats = shared
        .daemon
        .call("getblockstats", json!([h]))
        .map_err(|e| match e {
            crate::daemon::DaemonError::Rpc { message, .. } => {
                RpcError::new(BLOCK_NOT_FOUND, message)
            }
            e => daemon_error(e),
        })?;
    let mut out = serde_json::Map::new();
    for key in [
        "height",
        "blockhash",
        "feerate_percentiles",
        "total_weight",
        "txs",
        "time",
    ] {
        out.insert(key.into(), stats.get(key).cloned().unwrap_or(Value::Null));
    }
    Ok(Value::Object(out))
}

/// bitcoind RPCs `daemon.passthrough` forwards: those that read and cost the node little.
/// Anything that changes the node, its mempool or its peers (`sendrawtransaction`,
/// `submitblock`, `stop`, `setban`, wallets...) or scans its whole UTXO set (`gettxoutsetinfo`,
/// `scantxoutset`) is refused; broadcasting has its own methods with their own checks.
pub const PASSTHROUGH_ALLOWED: &[&str] = &[
    "decoderawtransaction",
    "decodescript",
    "estimatesmartfee",
    "getbestblockhash",
    "getblock",
    "getblockchaininfo",
    "getblockcount",
    "getblockfilter",
    "getblockhash",
    "getblockheader",
    "getblockstats",
    "getchaintips",
    "getchaintxstats",
    "getdeploymentinfo",
    "getdifficulty",
    "getmempoolancestors",
    "getmempooldescendants",
    "getmempoolentry",
    "getmempoolinfo",
    "getnetworkinfo",
    "getrawmempool",
    "getrawtransaction",
    "gettxout",
    "gettxoutproof",
    "gettxspendingprevout",
    "testmempoolaccept",
    "uptime",
    "verifytxoutproof",
];

/// Fulcrum's `daemon.passthrough({"method": ..., "params": [...]})` (also positional), off
/// unless `--daemon-passthrough`, and then only for [`PASSTHROUGH_ALLOWED`] methods. bitcoind's
/// result is passed on as it is; its errors are code 2 with its message.
fn passthrough(shared: &Shared, method: &Value, params: &Value) -> RpcResult {
    if !shared.settings.daemon_passthrough {
        return Err(RpcError::new(
            super::rpc::METHOD_NOT_FOUND,
            "Method disabled for this client",
        ));
    }
    let Some(method) = method.as_str() else {
        return Err(RpcError::new(
            BAD_REQUEST,
            "Expected a dictionary of the form: { \"method\": \"string\", \"params\": [...] }",
        ));
    };
    let params = match params {
        Value::Null => json!([]),
        Value::Array(_) => params.clone(),
        _ => {
            return Err(RpcError::new(
                BAD_REQUEST,
                "Expected a dictionary of the form: { \"method\": \"string\", \"params\": [...] }",
            ));
        }
    };
    if !PASSTHROUGH_ALLOWED.contains(&method) {
        return Err(RpcError::new(
            BAD_REQUEST,
            format!("Method \"{method}\" not allowed for daemon.passthrough"),
        ));
    }
    shared.daemon.call(method, params).map_err(|e| match e {
        crate::daemon::DaemonError::Rpc { message, .. } => RpcError::new(DAEMON_ERROR, message),
        e => daemon_error(e),
    })
}
