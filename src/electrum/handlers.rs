//! Every method that needs no session state, with ElectrumX's semantics and error codes.
//! Called on a blocking thread: index reads and daemon calls are synchronous. Subscriptions
//! come back as an [`Effect`] for the session to record.

use super::Shared;
use super::merkle::{self, Node};
use super::methods::{self, Method};
use super::rpc::{Answer, BAD_REQUEST, DAEMON_ERROR, Reply, RpcError, RpcResult};
use super::scripts::{self, OutpointStatus};
use crate::daemon::DaemonError;
use crate::types::{Height, ScriptKey};
use bitcoin::Txid;
use bitcoin::hashes::Hash;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The server's name and version, as server.version and features report it.
pub const SERVER_VERSION: &str = concat!("Ferrum ", env!("CARGO_PKG_VERSION"));
/// Most headers one `blockchain.block.headers` call returns.
const MAX_CHUNK_SIZE: u64 = 2016;

/// A subscription the session records after a successful call.
#[derive(Debug)]
pub enum Effect {
    None,
    Headers(Option<bitcoin::BlockHash>),
    Script {
        key: ScriptKey,
        /// What the client named it by: scripthash hex (scripthash.*) or script hex (1.7).
        name: String,
        status: Option<[u8; 32]>,
    },
    Outpoint {
        txid: Txid,
        vout: u32,
        status: OutpointStatus,
    },
    /// A `blockchain.tweaks.subscribe` sent its blocks (`sent` bytes) and now follows the tip.
    Tweaks {
        sub: super::tweaks::TweakSub,
        sent: usize,
    },
}

pub(super) fn daemon_error(e: DaemonError) -> RpcError {
    RpcError::new(DAEMON_ERROR, format!("daemon error: {e}"))
}

pub(super) fn internal(e: anyhow::Error) -> RpcError {
    tracing::error!("index read failed: {e:#}");
    RpcError::new(DAEMON_ERROR, format!("internal error: {e:#}"))
}

pub(super) fn arg(args: &[Option<Value>], i: usize) -> &Value {
    args.get(i).and_then(Option::as_ref).unwrap_or(&Value::Null)
}

/// Runs one method; `version` is the session's negotiated protocol version.
pub fn call(
    shared: &Shared,
    version: &[u32],
    m: &Method,
    args: &[Option<Value>],
) -> (Reply, Effect) {
    if let Some(r) = history_method(shared, m.name, args) {
        return (r, Effect::None);
    }
    let (r, e) = call_json(shared, version, m, args);
    (r.map(Answer::Json), e)
}

/// Answers on the async runtime what needs no waiting: get_history and subscribe of a
/// script whose confirmed history is cached. None: run [`call`] on a blocking thread.
pub fn try_fast(shared: &Shared, m: &Method, args: &[Option<Value>]) -> Option<(Reply, Effect)> {
    let param = arg(args, 0);
    if !(m.name.ends_with(".get_history") || m.name.ends_with(".subscribe")) {
        return None;
    }
    if args.iter().skip(1).any(Option::is_some) {
        return None; // a ranged get_history: see history_method
    }
    let (key, by_spk) = named_script(m.name, param)?;
    let key = key.ok()?;
    let h = match scripts::history_cached(shared, &key)? {
        Ok(h) => h,
        Err(e) => return Some((Err(e), Effect::None)),
    };
    if m.name.ends_with("subscribe") {
        let status = h.status();
        let name = param.as_str().unwrap_or_default().to_string();
        return Some((
            Ok(Answer::Json(scripts::status_hex(status))),
            Effect::Script { key, name, status },
        ));
    }
    Some((Ok(history_json(&h, by_spk)), Effect::None))
}

fn history_json(h: &scripts::History, wrap: bool) -> Answer {
    let mut out = String::new();
    if wrap {
        out.push_str("{\"history\":");
    }
    h.write_json(&mut out);
    if wrap {
        out.push('}');
    }
    Answer::Raw {
        text: out,
        entries: h.confirmed.len() + h.mempool.len(),
        mempool: h.mempool.len(),
    }
}

/// get_history, written straight to JSON text; a page of it when a height range is given.
fn history_method(shared: &Shared, name: &str, args: &[Option<Value>]) -> Option<Reply> {
    if !name.ends_with(".get_history") {
        return None;
    }
    let (key, wrap) = named_script(name, arg(args, 0))?;
    let range = scripts::height_range(
        args.get(1).and_then(Option::as_ref),
        args.get(2).and_then(Option::as_ref),
    );
    Some(
        key.and_then(|k| match range? {
            None => scripts::history(shared, &k),
            Some(r) => scripts::history_page(shared, &k, r),
        })
        .map(|h| history_json(&h, wrap)),
    )
}

fn call_json(
    shared: &Shared,
    version: &[u32],
    m: &Method,
    args: &[Option<Value>],
) -> (RpcResult, Effect) {
    let v1_7 = version >= [1, 7].as_slice();
    let plain = |r: RpcResult| (r, Effect::None);
    match m.name {
        "blockchain.headers.subscribe" => {
            let c = shared.consistent(|_| ());
            let tip = c.view.tip().tip_hash();
            (headers_result(&c.view), Effect::Headers(tip))
        }
        "blockchain.block.header" => plain(block_header(shared, args)),
        "blockchain.block.headers" => {
            plain(block_headers(shared, args, version >= [1, 6].as_slice()))
        }
        "blockchain.transaction.get" => plain(transaction_get(shared, args)),
        "blockchain.transaction.get_merkle" => plain(get_merkle(shared, args)),
        "blockchain.transaction.id_from_pos" => plain(id_from_pos(shared, args)),
        "blockchain.transaction.broadcast" => plain(broadcast(shared, args)),
        "blockchain.transaction.broadcast_package" => plain(broadcast_package(shared, args)),
        "blockchain.transaction.testmempoolaccept" => plain(testmempoolaccept(shared, args)),
        "blockchain.estimatefee" => plain(estimatefee(shared, args)),
        "blockchain.relayfee" => plain(network_info(shared).map(|n| n["relayfee"].clone())),
        "mempool.get_fee_histogram" => plain(Ok(json!(
            shared
                .mempool
                .read()
                .fee_histogram()
                .into_iter()
                .map(|(rate, size)| json!([rate, size]))
                .collect::<Vec<_>>()
        ))),
        "mempool.get_info" => plain(mempool_info(shared)),
        "mempool.recent" => plain(Ok(Value::Array(
            shared
                .mempool
                .read()
                .recent()
                .into_iter()
                .map(|t| json!({"txid": t.txid.to_string(), "fee": t.fee, "vsize": t.vsize}))
                .collect(),
        ))),
        "server.banner" => plain(banner(shared)),
        "server.donation_address" => plain(Ok(json!(shared.settings.donation_address))),
        "server.features" => plain(Ok(session_features(shared, v1_7))),
        "blockchain.block.tweaks" => plain(super::tweaks::block_tweaks(shared, args)),
        "server.ping" => plain(ping(shared, args, v1_7)),
        "blockchain.outpoint.get_status" | "blockchain.outpoint.subscribe" => {
            match outpoint_args(args) {
                Err(e) => plain(Err(e)),
                Ok((txid, vout, hint)) => {
                    match scripts::outpoint_status(shared, &txid, vout, &hint) {
                        Err(e) => plain(Err(e)),
                        Ok(status) if m.name.ends_with("subscribe") => (
                            Ok(status.to_json()),
                            Effect::Outpoint { txid, vout, status },
                        ),
                        Ok(status) => plain(Ok(status.to_json())),
                    }
                }
            }
        }
        name => match super::extensions::call(shared, name, args) {
            Some(r) => plain(r),
            None => script_method(shared, name, arg(args, 0)),
        },
    }
}

/// The script a scripthash.* or scriptpubkey.* method names (None for other methods), and
/// whether it was named by scriptPubKey (1.7: results are wrapped in an object).
fn named_script(name: &str, param: &Value) -> Option<(Result<ScriptKey, RpcError>, bool)> {
    match name.rsplit_once('.')?.0 {
        "blockchain.scripthash" => Some((methods::scripthash(param), false)),
        "blockchain.scriptpubkey" => Some((methods::script_pubkey(param).map(|(k, _)| k), true)),
        _ => None,
    }
}

/// scripthash.* and scriptpubkey.* methods.
fn script_method(shared: &Shared, name: &str, param: &Value) -> (RpcResult, Effect) {
    let verb = name.rsplit_once('.').map_or("", |(_, v)| v);
    let Some((key, by_spk)) = named_script(name, param) else {
        return (
            Err(RpcError::new(
                super::rpc::METHOD_NOT_FOUND,
                format!("unknown method \"{name}\""),
            )),
            Effect::None,
        );
    };
    let key = match key {
        Ok(k) => k,
        Err(e) => return (Err(e), Effect::None),
    };
    let wrap = |field: &str, r: RpcResult| {
        if by_spk {
            r.map(|v| json!({ field: v }))
        } else {
            r
        }
    };
    let r = match verb {
        "get_balance" => scripts::balance(shared, &key),
        "get_mempool" => wrap("history", scripts::get_mempool(shared, &key)),
        // An extension (Electrum Cash 1.5.2): an object or null, never wrapped.
        "get_first_use" => super::extensions::first_use(shared, &key),
        "listunspent" => wrap("utxos", scripts::listunspent(shared, &key)),
        "subscribe" => {
            return match scripts::history(shared, &key) {
                Err(e) => (Err(e), Effect::None),
                Ok(h) => {
                    let status = h.status();
                    let name = param.as_str().unwrap_or_default().to_string();
                    (
                        Ok(scripts::status_hex(status)),
                        Effect::Script { key, name, status },
                    )
                }
            };
        }
        _ => Err(RpcError::new(
            super::rpc::METHOD_NOT_FOUND,
            format!("unknown method \"{name}\""),
        )),
    };
    (r, Effect::None)
}

fn outpoint_args(args: &[Option<Value>]) -> Result<(Txid, u32, Vec<u8>), RpcError> {
    let txid = methods::txid(arg(args, 0))?;
    let vout = methods::non_negative(arg(args, 1))?;
    let hint = methods::hex_str(arg(args, 2))?;
    let hint = crate::types::hex_to_bytes(hint).unwrap_or_default();
    // An index beyond u32 names no output.
    Ok((txid, u32::try_from(vout).unwrap_or(u32::MAX), hint))
}

pub fn headers_result(view: &crate::query::View) -> RpcResult {
    let Some(h) = view.tip().height() else {
        return Err(RpcError::bad_request("the index is empty"));
    };
    let header = view
        .header(h)
        .map_err(internal)?
        .ok_or_else(|| RpcError::bad_request("no header"))?;
    Ok(json!({"height": h.0, "hex": crate::types::bytes_to_hex(&header)}))
}

fn raw_header(view: &crate::query::View, h: u32) -> Result<Vec<u8>, RpcError> {
    view.header(Height(h))
        .map_err(internal)?
        .ok_or_else(|| RpcError::bad_request(format!("height {h} out of range")))
}

fn merkle_proof(
    shared: &Shared,
    view: &crate::query::View,
    cp: u32,
    h: u32,
) -> Result<(Vec<Node>, Node), RpcError> {
    let max = view.tip().height().map_or(-1, |t| i64::from(t.0));
    if !(h <= cp && i64::from(cp) <= max) {
        return Err(RpcError::bad_request(format!(
            "require header height {h} <= cp_height {cp} <= chain height {max}"
        )));
    }
    shared
        .header_merkle
        .branch_and_root(view.tip(), Height(h), Height(cp))
        .ok_or_else(|| RpcError::bad_request("header out of range"))
}

fn proof_json(mut out: serde_json::Map<String, Value>, (branch, root): (Vec<Node>, Node)) -> Value {
    out.insert(
        "branch".into(),
        json!(branch.iter().map(merkle::to_hex).collect::<Vec<_>>()),
    );
    out.insert("root".into(), json!(merkle::to_hex(&root)));
    Value::Object(out)
}

fn block_header(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let h = methods::height(arg(args, 0))?;
    let cp = methods::non_negative_or(&args[1], 0)?;
    let cp = u32::try_from(cp).unwrap_or(u32::MAX);
    let view = shared.query.view();
    let header = crate::types::bytes_to_hex(&raw_header(&view, h)?);
    if cp == 0 {
        return Ok(json!(header));
    }
    let mut out = serde_json::Map::new();
    out.insert("header".into(), json!(header));
    Ok(proof_json(out, merkle_proof(shared, &view, cp, h)?))
}

fn block_headers(shared: &Shared, args: &[Option<Value>], as_array: bool) -> RpcResult {
    let start = methods::height(arg(args, 0))?;
    let count = methods::non_negative(arg(args, 1))?.min(MAX_CHUNK_SIZE);
    let cp = u32::try_from(methods::non_negative_or(&args[2], 0)?).unwrap_or(u32::MAX);
    let view = shared.query.view();
    let len = view.tip().len() as u64;
    let n = count.min(len.saturating_sub(u64::from(start)));
    let mut headers = Vec::with_capacity(n as usize);
    for h in start..start + n as u32 {
        headers.push(crate::types::bytes_to_hex(&raw_header(&view, h)?));
    }
    let mut out = serde_json::Map::new();
    out.insert("count".into(), json!(n));
    out.insert("max".into(), json!(MAX_CHUNK_SIZE));
    if as_array {
        out.insert("headers".into(), json!(headers));
    } else {
        out.insert("hex".into(), json!(headers.concat()));
    }
    if n > 0 && cp > 0 {
        let last = start + n as u32 - 1;
        return Ok(proof_json(out, merkle_proof(shared, &view, cp, last)?));
    }
    Ok(Value::Object(out))
}

fn transaction_get(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let txid = methods::txid(arg(args, 0))?;
    let verbose = methods::boolean(&args[1], "verbose")?;
    // A mempool tx: the bytes the mempool update fetched and kept on disk, without asking
    // bitcoind again (slow while a listing holds its mempool lock; see mempool::raw_file).
    if !verbose && let Some(raw) = shared.mempool.raw_tx(&txid) {
        return Ok(json!(crate::types::bytes_to_hex(&raw)));
    }
    let location = shared.query.view().tx_location(&txid).map_err(internal)?;
    let mut params = vec![json!(txid.to_string()), json!(verbose)];
    if let Some(loc) = &location {
        params.push(json!(loc.block_hash.to_string()));
    }
    let mut r = shared
        .daemon
        .call("getrawtransaction", Value::Array(params))
        .map_err(daemon_error)?;
    if location.is_some()
        && let Value::Object(o) = &mut r
    {
        // Only present because we named the block; bitcoind with txindex does not add it.
        o.remove("in_active_chain");
    }
    Ok(r)
}

/// Txids of the block at `h`. The genesis block has none for this purpose: its coinbase is not
/// a transaction to bitcoind (nor to ElectrumX's proofs).
fn block_txids(view: &crate::query::View, h: u32) -> Result<Vec<Node>, RpcError> {
    if h == 0 && view.tip().height().is_some() {
        return Ok(Vec::new());
    }
    view.block_txids(Height(h))
        .map_err(internal)?
        .map(|t| t.into_iter().map(|t| t.to_byte_array()).collect())
        .ok_or_else(|| RpcError::bad_request(format!("db error: no block at height {h}")))
}

fn get_merkle(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let txid = methods::txid(arg(args, 0))?;
    let h = methods::height(arg(args, 1))?;
    let view = shared.query.view();
    raw_header(&view, h)?;
    let txids = block_txids(&view, h)?;
    let pos = txids
        .iter()
        .position(|t| *t == txid.to_byte_array())
        .ok_or_else(|| RpcError::bad_request(format!("tx {txid} not in block at height {h}")))?;
    let (branch, _) = merkle::branch_and_root(txids, pos, None);
    Ok(json!({
        "block_height": h,
        "merkle": branch.iter().map(merkle::to_hex).collect::<Vec<_>>(),
        "pos": pos,
    }))
}

fn id_from_pos(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let pos = methods::non_negative(arg(args, 1))?;
    let h = methods::height(arg(args, 0))?;
    let merkle_wanted = methods::boolean(&args[2], "merkle")?;
    let view = shared.query.view();
    let txids = block_txids(&view, h)?;
    let pos = usize::try_from(pos)
        .ok()
        .filter(|p| *p < txids.len())
        .ok_or_else(|| {
            RpcError::bad_request(format!("no tx at position {pos} in block at height {h}"))
        })?;
    let tx_hash = merkle::to_hex(&txids[pos]);
    if !merkle_wanted {
        return Ok(json!(tx_hash));
    }
    let (branch, _) = merkle::branch_and_root(txids, pos, None);
    Ok(json!({"tx_hash": tx_hash, "merkle": branch.iter().map(merkle::to_hex).collect::<Vec<_>>()}))
}

fn rejection(what: &str, e: DaemonError) -> RpcError {
    match e {
        DaemonError::Rpc { message, .. } => RpcError::bad_request(format!(
            "the {what} was rejected by network rules.\n\n{message}"
        )),
        other => daemon_error(other),
    }
}

fn broadcast(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let raw = methods::hex_str(arg(args, 0))?;
    let r = shared
        .daemon
        .call("sendrawtransaction", json!([raw]))
        .map_err(|e| match e {
            DaemonError::Rpc { message, .. } => RpcError::bad_request(format!(
                "the transaction was rejected by network rules.\n\n{message}\n[{raw}]"
            )),
            other => daemon_error(other),
        })?;
    tracing::info!("sent tx: {}", r.as_str().unwrap_or_default());
    Ok(r)
}

fn broadcast_package(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let txs = methods::hex_list(arg(args, 0))?;
    let verbose =
        matches!(args.get(1), Some(Some(v)) if v.as_bool() == Some(true) || v.as_i64() == Some(1));
    let r = shared
        .daemon
        .call("submitpackage", json!([txs]))
        .map_err(|e| rejection("tx package", e))?;
    if verbose {
        return Ok(r);
    }
    let mut out = serde_json::Map::new();
    out.insert("success".into(), json!(r["package_msg"] == "success"));
    let errors: Vec<Value> = r["tx-results"]
        .as_object()
        .map(|m| {
            m.values()
                .filter(|t| t.get("error").is_some_and(|e| !e.is_null()))
                .map(|t| json!({"txid": t["txid"], "error": t["error"]}))
                .collect()
        })
        .unwrap_or_default();
    if !errors.is_empty() {
        out.insert("errors".into(), json!(errors));
    }
    Ok(Value::Object(out))
}

fn testmempoolaccept(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let txs = methods::hex_list(arg(args, 0))?;
    let r = shared
        .daemon
        .call("testmempoolaccept", json!([txs]))
        .map_err(daemon_error)?;
    let items = r.as_array().cloned().unwrap_or_default();
    Ok(Value::Array(
        items
            .into_iter()
            .map(|item| {
                let mut out = serde_json::Map::new();
                out.insert("txid".into(), item["txid"].clone());
                out.insert("wtxid".into(), item["wtxid"].clone());
                if let Some(a) = item.get("allowed").and_then(Value::as_bool) {
                    out.insert("allowed".into(), json!(a));
                }
                let reason = ["package-error", "reject-details", "reject-reason"]
                    .iter()
                    .find_map(|k| {
                        item.get(*k)
                            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                    });
                if let Some(reason) = reason {
                    out.insert("reason".into(), reason.clone());
                }
                Value::Object(out)
            })
            .collect(),
    ))
}

/// ElectrumX's block-target buckets for Bitcoin (Core's fee estimator horizons).
pub fn bucket_block_target(n: u64) -> u64 {
    match n {
        0..=1 => 1,
        2..=12 => n,
        25 => 25,
        13..=48 => n / 2 * 2,
        49..=1008 => n / 24 * 24,
        _ => 1008,
    }
}

fn estimatefee(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    let number = methods::non_negative(arg(args, 0))?;
    let mode = match args.get(1).and_then(Option::as_ref) {
        Some(Value::String(s)) => Some(s.to_uppercase()),
        _ => None,
    };
    if mode
        .as_deref()
        .is_some_and(|m| m != "CONSERVATIVE" && m != "ECONOMICAL")
    {
        return Err(RpcError::bad_request(format!(
            "unknown estimatefee mode: {}",
            mode.unwrap_or_default()
        )));
    }
    let number = bucket_block_target(number);
    let tip = shared.published();
    let key = (number, mode.clone());
    if let Some(tip) = tip
        && let Ok(cache) = shared.fee_cache.lock()
        && let Some((t, v)) = cache.get(&key)
        && *t == tip
    {
        crate::metrics::cache_lookup("fee", true);
        return Ok(v.clone());
    }
    crate::metrics::cache_lookup("fee", false);
    let mut params = vec![json!(number)];
    if let Some(m) = &mode {
        params.push(json!(m));
    }
    let r = shared
        .daemon
        .call("estimatesmartfee", Value::Array(params))
        .map_err(daemon_error)?;
    let fee = r.get("feerate").cloned().unwrap_or(json!(-1));
    if let Some(tip) = tip
        && let Ok(mut cache) = shared.fee_cache.lock()
    {
        cache.insert(key, (tip, fee.clone()));
    }
    Ok(fee)
}

/// getnetworkinfo, cached for a minute as ElectrumX does.
fn network_info(shared: &Shared) -> RpcResult {
    if let Ok(cache) = shared.network_info.lock()
        && let Some((at, v)) = cache.as_ref()
        && at.elapsed() < Duration::from_secs(60)
    {
        return Ok(v.clone());
    }
    let v = shared
        .daemon
        .call("getnetworkinfo", json!([]))
        .map_err(daemon_error)?;
    if let Ok(mut cache) = shared.network_info.lock() {
        *cache = Some((Instant::now(), v.clone()));
    }
    Ok(v)
}

fn mempool_info(shared: &Shared) -> RpcResult {
    let i = shared
        .daemon
        .call("getmempoolinfo", json!([]))
        .map_err(daemon_error)?;
    Ok(json!({
        "mempoolminfee": i["mempoolminfee"],
        "minrelaytxfee": i["minrelaytxfee"],
        "incrementalrelayfee": i["incrementalrelayfee"],
    }))
}

fn banner(shared: &Shared) -> RpcResult {
    let default = format!("You are connected to an {SERVER_VERSION} server.");
    let Some(path) = &shared.settings.banner_file else {
        return Ok(json!(default));
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("reading banner file {}: {e}", path.display());
            return Ok(json!(default));
        }
    };
    let info = network_info(shared)?;
    let v = info["version"].as_u64().unwrap_or(0);
    let daemon_version = format!("{}.{}.{}", v / 10_000, (v % 10_000) / 100, v % 100);
    let text = text
        .replace("$SERVER_VERSION", env!("CARGO_PKG_VERSION"))
        .replace("$SERVER_SUBVERSION", SERVER_VERSION)
        .replace("$DAEMON_VERSION", &daemon_version)
        .replace(
            "$DAEMON_SUBVERSION",
            info["subversion"].as_str().unwrap_or_default(),
        )
        .replace("$DONATION_ADDRESS", &shared.settings.donation_address);
    Ok(json!(text))
}

pub fn features(shared: &Shared, v1_7: bool) -> Value {
    let mut f = features_of(&shared.settings.report_services, shared.coin, v1_7);
    if shared.settings.silent.is_some() {
        // Frigate's key: the silent payments versions served (BIP352 is version 0); and the
        // tweak methods for client-side scanning, a key each as the other extensions.
        f["silent_payments"] = json!([0]);
        f["blockchain.block.tweaks"] = json!(true);
        f["blockchain.tweaks.subscribe"] = json!(true);
    }
    f
}

/// `server.features` for these `REPORT_SERVICES` of `coin` (also what peer discovery
/// announces, before any session exists).
pub fn features_of(
    report_services: &[crate::config::Service],
    coin: &dyn crate::chain::Coin,
    v1_7: bool,
) -> Value {
    let mut hosts = serde_json::Map::new();
    for s in report_services {
        let entry = hosts.entry(s.host.clone()).or_insert_with(|| json!({}));
        let key = format!("{}_port", s.protocol);
        if let Value::Object(ports) = entry
            && !ports.contains_key(&key)
        {
            ports.insert(key, json!(s.port));
        }
    }
    let mut f = json!({
        "hosts": hosts,
        "pruning": null,
        "server_version": SERVER_VERSION,
        "protocol_min": methods::version_string(methods::PROTOCOL_MIN),
        "protocol_max": methods::version_string(methods::PROTOCOL_MAX),
        "genesis_hash": coin.genesis_hash().to_string(),
        "services": report_services.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    });
    if !v1_7 {
        f["hash_function"] = json!("sha256");
    }
    // Extensions, advertised as Fulcrum advertises its extras (a key each, true when served);
    // `firstuse` in ElectrsCash's form, which is what clients of get_first_use look for.
    f["firstuse"] = json!(["1.0"]);
    f["history_ranges"] = json!(true);
    for m in super::extensions::METHODS {
        f[*m] = json!(true);
    }
    f
}

/// `server.features` of a session: [`features`], plus `daemon.passthrough` when it is served.
fn session_features(shared: &Shared, v1_7: bool) -> Value {
    let mut f = features(shared, v1_7);
    if shared.settings.daemon_passthrough {
        f["daemon.passthrough"] = json!(true);
    }
    f
}

fn ping(shared: &Shared, args: &[Option<Value>], v1_7: bool) -> RpcResult {
    if !v1_7 {
        return Ok(Value::Null);
    }
    if let Some(data) = &args[1]
        && !methods::is_hex(data, true)
    {
        return Err(RpcError::new(
            BAD_REQUEST,
            format!("{} should be a hex string", methods::short(data)),
        ));
    }
    let len = methods::non_negative_or(&args[0], 0)?;
    if len > shared.settings.max_send as u64 {
        return Err(RpcError::bad_request("pong_len value too high"));
    }
    Ok(json!({"data": "0".repeat(len as usize)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_buckets_follow_electrumx() {
        let cases = [
            (0, 1),
            (1, 1),
            (2, 2),
            (12, 12),
            (13, 12),
            (25, 25),
            (26, 26),
            (27, 26),
            (48, 48),
            (49, 48),
            (100, 96),
            (1008, 1008),
            (5000, 1008),
        ];
        for (n, b) in cases {
            assert_eq!(bucket_block_target(n), b, "target {n}");
        }
    }
}
