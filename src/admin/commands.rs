//! What each admin command does, with ElectrumX's result shapes (`SessionManager.rpc_*` in
//! `electrumx/server/session.py`). Runs on a blocking thread: some commands read the index or
//! ask bitcoind.
//!
//! `peers`, `add_peer` and `getinfo`'s peer counts come from the peer manager once it runs
//! (after the initial sync); before, `add_peer` only remembers the peer for it.
//!
//! Differences from ElectrumX, where Ferrum has nothing to report: request counts in `getinfo` are those of the connected
//! sessions, and `daemon_url` can only switch back to the first configured endpoint (the daemon
//! client's endpoints are fixed at start-up).

use super::text::{decimal_value, formatted_time, thousands};
use super::{Admin, AdminError, Args, METHOD_NOT_FOUND, Phase};
use crate::electrum::registry::SessionInfo;
use crate::limits::Limits;
use crate::peers::Discovery;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

type CmdResult = Result<Value, AdminError>;

/// How long `getinfo` waits for bitcoind's height.
const DAEMON_HEIGHT_WAIT: Duration = Duration::from_secs(3);

/// Runs one command.
pub fn call(admin: &Admin, method: &str, params: &Value) -> CmdResult {
    let args = Args::new(params);
    match method {
        "getinfo" => Ok(getinfo(admin)),
        "sessions" => Ok(sessions(admin)),
        "groups" => Ok(groups(admin)),
        "peers" => Ok(peers(admin)),
        "add_peer" => add_peer(admin, &args),
        "disconnect" => disconnect(admin, &args),
        "log" => log(admin, &args),
        "daemon_url" => daemon_url(admin, &args),
        "query" => query(admin, &args),
        "reorg" => reorg(admin, &args),
        "stop" => {
            tracing::info!("stop requested over the admin RPC");
            admin.stop.store(true, Ordering::Relaxed);
            Ok(json!("stopping"))
        }
        "inspect_session" => inspect_session(admin, &args),
        "drain" => match admin.shared() {
            Some(shared) => {
                shared.limits.drain();
                Ok(json!(
                    "draining: no new connections; GET /health answers 503"
                ))
            }
            None => Err(AdminError::bad_request("not connected to the daemon yet")),
        },
        "snapshot" => snapshot(admin, &args),
        _ => Err(AdminError {
            code: METHOD_NOT_FOUND,
            message: format!("unknown method \"{method}\""),
        }),
    }
}

/// `snapshot {"dir": ABSOLUTE_PATH}`: a consistent copy of the index (see
/// [`crate::store::Store::snapshot`]), made while serving.
fn snapshot(admin: &Admin, args: &Args) -> CmdResult {
    let dir = args
        .get(0, "dir")
        .and_then(Value::as_str)
        .ok_or_else(|| AdminError::invalid_args("dir: expected an absolute path"))?;
    let started = std::time::Instant::now();
    match admin
        .store
        .snapshot(std::path::Path::new(&dir), admin.config.coin)
    {
        Ok(info) => {
            tracing::info!(
                "snapshot of the index in {dir} at height {} in {:.1?}",
                info.height.map_or("-".into(), |h| h.to_string()),
                started.elapsed()
            );
            Ok(json!({
                "dir": dir,
                "height": info.height,
                "tip": info.tip,
                "tx_count": info.tx_count,
                "coin": admin.config.coin.name(),
                "net": admin.config.coin.net(),
                "seconds": started.elapsed().as_secs_f64(),
            }))
        }
        Err(e) => Err(AdminError::bad_request(format!("{e:#}"))),
    }
}

fn live_sessions(admin: &Admin) -> Vec<Arc<SessionInfo>> {
    admin
        .shared()
        .map(|s| s.sessions.list())
        .unwrap_or_default()
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn method_counts(s: &SessionInfo) -> BTreeMap<String, u64> {
    s.method_counts
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default()
}

/// Transactions a session broadcast (or tried to).
fn txs_sent(s: &SessionInfo) -> u64 {
    method_counts(s)
        .get("blockchain.transaction.broadcast")
        .copied()
        .unwrap_or(0)
}

fn subs_txo(s: &SessionInfo) -> u64 {
    load(&s.outpoint_subscriptions)
}

fn subs_sh(s: &SessionInfo) -> u64 {
    load(&s.subscriptions).saturating_sub(subs_txo(s))
}

/// Live sessions by their cost group (ElectrumX's session groups; sessions from private
/// addresses and allow-listed ones are in none).
fn by_group(admin: &Admin) -> BTreeMap<String, Vec<Arc<SessionInfo>>> {
    let Some(shared) = admin.shared() else {
        return BTreeMap::new();
    };
    let mut groups: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for s in shared.sessions.list() {
        if let Some(name) = shared.limits.group_of(s.id) {
            groups.entry(name).or_default().push(s);
        }
    }
    groups
}

/// bitcoind's block count, or null when it does not answer soon.
fn daemon_height(admin: &Admin) -> Value {
    let Some(shared) = admin.shared() else {
        return Value::Null;
    };
    let daemon = shared.daemon.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(daemon.blockchain_info().map(|i| i.blocks));
    });
    match rx.recv_timeout(DAEMON_HEIGHT_WAIT) {
        Ok(Ok(h)) => json!(h),
        _ => Value::Null,
    }
}

fn getinfo(admin: &Admin) -> Value {
    let sessions = live_sessions(admin);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for s in &sessions {
        for (m, n) in method_counts(s) {
            *counts.entry(m).or_default() += n;
        }
    }
    let tip = admin.store.tip();
    let db_height = tip.height().map_or(-1, |h| h.0 as i64);
    let fee_entries = admin
        .shared()
        .and_then(|s| s.fee_cache.lock().ok().map(|c| c.len()))
        .unwrap_or(0);
    // ElectrumX's cache_fmt; its history cache counts lookups as Ferrum's does.
    let history = admin.shared().map(|s| {
        let c = &s.history_cache;
        let hits = load(&c.hits);
        let lookups = hits + load(&c.misses);
        format!(
            "{lookups} lookups, {hits} hits, {} entries, hitrate {:.4}",
            c.len(),
            hits as f64 / lookups.max(1) as f64
        )
    });
    let count = |f: &dyn Fn(&SessionInfo) -> bool| sessions.iter().filter(|s| f(s)).count();
    let sum = |f: &dyn Fn(&SessionInfo) -> u64| sessions.iter().map(|s| f(s)).sum::<u64>();
    json!({
        "caches": {"estimatefee": format!("{fee_entries} entries"), "history": history},
        "coin": admin.config.coin.name(),
        "daemon": admin.shared().map(|s| s.daemon.current_endpoint()),
        "daemon height": daemon_height(admin),
        "db height": db_height,
        "db tip": tip.tip_hash().map(|h| h.to_string()),
        "groups": by_group(admin).len(),
        "pid": std::process::id(),
        "peers": peers_info(admin),
        "request counts": counts,
        "request total": counts.values().sum::<u64>(),
        "sessions": {
            "count": sessions.len(),
            "count with subs_sh": count(&|s| subs_sh(s) > 0),
            "count with subs_txo": count(&|s| subs_txo(s) > 0),
            "count with subs_any": count(&|s| load(&s.subscriptions) > 0),
            "errors": sum(&|s| load(&s.errors)),
            "logged": count(&|s| s.logged.load(Ordering::Relaxed)),
            "pending requests": sum(&|s| load(&s.pending)),
            "subs_sh": sum(&subs_sh),
            "subs_txo": sum(&subs_txo),
        },
        "status": admin.phase().as_str(),
        "txs sent": sum(&txs_sent),
        "uptime": formatted_time(admin.started.elapsed().as_secs(), " "),
        "version": concat!("ferrum ", env!("CARGO_PKG_VERSION")),
    })
}

fn peers_info(admin: &Admin) -> Value {
    let c = admin.peer_manager().counts();
    let total = c.bad + c.good + c.never + c.stale;
    json!({"bad": c.bad, "good": c.good, "never": c.never, "stale": c.stale, "total": total})
}

/// The `sessions` command: [`session_rows`] of the live sessions.
fn sessions(admin: &Admin) -> Value {
    let shared = admin.shared();
    session_rows(
        &live_sessions(admin),
        shared.as_ref().map(|s| &*s.limits),
        false,
    )
}

/// `[id, flags, peer, client, proto, cost, extra cost, pending, txs sent, subs, recv count,
/// recv bytes, send count, send bytes, seconds connected]` per session, oldest first
/// (ElectrumX's `_session_data`). `for_log` hides addresses under ANON_LOGS, as ElectrumX's
/// log of the same table does.
pub(super) fn session_rows(
    sessions: &[Arc<SessionInfo>],
    limits: Option<&Limits>,
    for_log: bool,
) -> Value {
    let rows: Vec<Value> = sessions
        .iter()
        .map(|s| {
            let (client, proto) = s
                .client
                .lock()
                .ok()
                .and_then(|c| c.clone())
                .unwrap_or_default();
            let kind = s
                .transport
                .chars()
                .next()
                .unwrap_or('?')
                .to_ascii_uppercase();
            let logged = if s.logged.load(Ordering::Relaxed) {
                "L"
            } else {
                ""
            };
            let client: String = client.chars().take(17).collect();
            let requests = load(&s.requests);
            // Rounded as ElectrumX shows them.
            let (cost, extra) = limits
                .and_then(|l| l.costs(s.id))
                .map_or((0, 0), |(c, e)| (c.round() as i64, e.round() as i64));
            let peer = if for_log {
                crate::metrics::logs::addr(&s.peer)
            } else {
                s.peer.to_string()
            };
            json!([
                s.id,
                format!("{kind}{logged}1"),
                peer,
                client,
                proto,
                cost,
                extra,
                load(&s.pending),
                txs_sent(s),
                load(&s.subscriptions),
                requests,
                load(&s.bytes_received),
                requests,
                load(&s.bytes_sent),
                s.started.elapsed().as_secs_f64(),
            ])
        })
        .collect();
    Value::Array(rows)
}

fn groups(admin: &Admin) -> Value {
    let group_costs: BTreeMap<String, (f64, f64)> = admin
        .shared()
        .map(|s| s.limits.groups())
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _, cost, retained)| (name, (cost, retained)))
        .collect();
    let rows: Vec<Value> = by_group(admin)
        .into_iter()
        .map(|(name, ss)| {
            let sum = |f: &dyn Fn(&SessionInfo) -> u64| ss.iter().map(|s| f(s)).sum::<u64>();
            let (cost, retained) = group_costs.get(&name).copied().unwrap_or_default();
            json!([
                name,
                ss.len(),
                cost.round() as i64,
                retained.round() as i64,
                sum(&|s| load(&s.pending)),
                sum(&txs_sent),
                sum(&|s| load(&s.subscriptions)),
                sum(&|s| load(&s.requests)),
                sum(&|s| load(&s.bytes_received)),
                sum(&|s| load(&s.requests)),
                sum(&|s| load(&s.bytes_sent)),
            ])
        })
        .collect();
    Value::Array(rows)
}

fn peers(admin: &Admin) -> Value {
    Value::Array(admin.peer_manager().rows())
}

fn str_arg<'a>(args: &Args<'a>, index: usize, name: &str) -> Result<Option<&'a str>, AdminError> {
    match args.get(index, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(AdminError::invalid_args(format!(
            "{name}: expected a string, got {v}"
        ))),
    }
}

/// `add_peer "host t50001 s50002"`: into the peer table, verified at once (or as soon as
/// discovery starts, after the initial sync).
fn add_peer(admin: &Admin, args: &Args) -> CmdResult {
    let Some(real_name) = str_arg(args, 0, "real_name")? else {
        return Err(AdminError::invalid_args("real_name is required"));
    };
    let m = admin.peer_manager();
    match m.add_peer_from_admin(real_name) {
        // As ElectrumX, the peer is kept; but with discovery off it is never contacted.
        Ok(true) if m.discovery() != Discovery::On => Ok(json!(format!(
            "peer '{real_name}' added, but PEER_DISCOVERY is {}: it is neither verified nor \
             listed",
            m.discovery().as_str()
        ))),
        Ok(true) => Ok(json!(format!("peer '{real_name}' added"))),
        Ok(false) => Err(AdminError::bad_request(format!(
            "peer '{real_name}' not added: it may not be a peer here (blacklisted, a private \
             address, ourselves, or an onion host without a proxy)"
        ))),
        Err(e) => Err(AdminError::bad_request(format!(
            "invalid peer {real_name:?}: {e}"
        ))),
    }
}

/// Session ids, group names and special words (`all`, ...), as `_session_references` sorts
/// them.
struct References {
    sessions: Vec<Arc<SessionInfo>>,
    groups: BTreeMap<String, Vec<Arc<SessionInfo>>>,
    specials: BTreeSet<String>,
    unknown: Vec<String>,
}

fn references(admin: &Admin, args: &Args, specials: &[&str]) -> Result<References, AdminError> {
    let bad = || AdminError::bad_request("expected a list of session IDs");
    let items = match args.get(0, "session_ids") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let all_groups = by_group(admin);
    let mut r = References {
        sessions: Vec::new(),
        groups: BTreeMap::new(),
        specials: BTreeSet::new(),
        unknown: Vec::new(),
    };
    let registry = admin.shared().map(|s| s.sessions.clone());
    for item in items {
        if !item.is_empty() && item.chars().all(|c| c.is_ascii_digit()) {
            let s = item
                .parse::<u64>()
                .ok()
                .and_then(|id| registry.as_ref()?.get(id));
            match s {
                Some(s) if !r.sessions.iter().any(|x| x.id == s.id) => r.sessions.push(s),
                Some(_) => {}
                None => r.unknown.push(item),
            }
        } else {
            let lc = item.to_lowercase();
            if specials.contains(&lc.as_str()) {
                r.specials.insert(lc);
            } else if let Some(g) = all_groups.get(&lc) {
                r.groups.insert(lc, g.clone());
            } else {
                r.unknown.push(item);
            }
        }
    }
    Ok(r)
}

fn disconnect(admin: &Admin, args: &Args) -> CmdResult {
    let refs = references(admin, args, &["all"])?;
    let mut result = Vec::new();
    let mut targets: Vec<Arc<SessionInfo>>;
    if refs.specials.contains("all") {
        targets = live_sessions(admin);
        result.push("disconnecting all sessions".to_string());
    } else {
        targets = refs.sessions.clone();
        result.extend(
            targets
                .iter()
                .map(|s| format!("disconnecting session {}", s.id)),
        );
        for (name, ss) in &refs.groups {
            result.push(format!("disconnecting group {name}"));
            targets.extend(ss.iter().cloned());
        }
    }
    result.extend(refs.unknown.iter().map(|u| format!("unknown: {u}")));
    for s in &targets {
        tracing::info!("disconnecting session {} ({}): admin request", s.id, s.peer);
        s.disconnect();
    }
    Ok(json!(result))
}

fn log(admin: &Admin, args: &Args) -> CmdResult {
    let refs = references(admin, args, &["all", "none", "new"])?;
    let mut result = Vec::new();
    let toggled = |text: String, on: bool| {
        if on {
            format!("logging {text}")
        } else {
            format!("not logging {text}")
        }
    };
    let registry = admin.shared().map(|s| s.sessions.clone());
    let log_new = |v: Option<bool>| {
        registry.as_ref().is_some_and(|r| match v {
            Some(v) => {
                r.log_new.store(v, Ordering::Relaxed);
                v
            }
            None => !r.log_new.fetch_xor(true, Ordering::Relaxed),
        })
    };
    if refs.specials.contains("all") {
        for s in live_sessions(admin) {
            s.logged.store(true, Ordering::Relaxed);
        }
        log_new(Some(true));
        result.push("logging all sessions".to_string());
    }
    if refs.specials.contains("none") {
        for s in live_sessions(admin) {
            s.logged.store(false, Ordering::Relaxed);
        }
        log_new(Some(false));
        result.push("logging no sessions".to_string());
    }
    if refs.specials.contains("new") {
        let on = log_new(None);
        result.push(toggled("new sessions".into(), on));
    }
    let mut done: Vec<u64> = Vec::new();
    let targets = refs
        .sessions
        .iter()
        .chain(refs.groups.values().flatten())
        .cloned()
        .collect::<Vec<_>>();
    for s in targets {
        if done.contains(&s.id) {
            continue;
        }
        done.push(s.id);
        let on = !s.logged.fetch_xor(true, Ordering::Relaxed);
        result.push(toggled(format!("session {}", s.id), on));
    }
    result.extend(refs.unknown.iter().map(|u| format!("unknown: {u}")));
    Ok(json!(result))
}

/// ElectrumX replaces its URL list; Ferrum's daemon client keeps the endpoints it started with,
/// so this accepts the configured list (or nothing, meaning it) and switches to its first
/// endpoint, and refuses any other list.
fn daemon_url(admin: &Admin, args: &Args) -> CmdResult {
    let Some(shared) = admin.shared() else {
        return Err(AdminError::bad_request("not connected to the daemon yet"));
    };
    let configured = shared.daemon.endpoints();
    if let Some(url) = str_arg(args, 0, "daemon_url")?.filter(|u| !u.trim().is_empty()) {
        let wanted = crate::config::daemon_url_hosts(url, admin.config.coin)
            .map_err(|e| AdminError::bad_request(format!("an error occurred: {e}")))?;
        if wanted != configured {
            return Err(AdminError::bad_request(format!(
                "Ferrum cannot change its daemon URLs while running (configured: {}); set \
                 DAEMON_URL and restart, or give no URL to switch back to the first one",
                configured.join(",")
            )));
        }
    }
    shared.daemon.use_first_endpoint();
    tracing::info!(
        "admin RPC: now using daemon at {}",
        shared.daemon.current_endpoint()
    );
    Ok(json!(format!(
        "now using daemon at {}",
        shared.daemon.current_endpoint()
    )))
}

/// `query items [limit]`: ElectrumX's lines for each address, script hash or script.
fn query(admin: &Admin, args: &Args) -> CmdResult {
    let items: Vec<String> = match args.get(0, "items") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| AdminError::invalid_args("items: expected a list of strings"))?,
        Some(Value::String(s)) => vec![s.clone()],
        _ => {
            return Err(AdminError::invalid_args(
                "items: expected a list of strings",
            ));
        }
    };
    let limit = match args.get(1, "limit") {
        None => 1000,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| AdminError::invalid_args("limit: expected a non-negative integer"))?
            as usize,
    };
    let query = crate::query::Query::new(admin.store.clone());
    let view = query.view();
    let short = if admin.config.coin.net() == "mainnet" {
        "BTC"
    } else {
        "XTN"
    };
    let mut lines = Vec::new();
    let internal = |e: anyhow::Error| AdminError::bad_request(format!("{e:#}"));
    for item in items {
        let Ok(key) = crate::app::script_key(&admin.config, &item) else {
            lines.push(format!("Invalid: {item}"));
            continue;
        };
        let label = if admin.config.coin.address_to_script(&item).is_some() {
            "Address"
        } else if item.len() == 64 {
            "Scripthash"
        } else {
            "Script"
        };
        lines.push(format!("{label}: {item}"));
        let history = view.history(&key).map_err(internal)?;
        if history.is_empty() {
            lines.push("No history found".into());
        }
        for (n, h) in history.iter().take(limit).enumerate() {
            lines.push(format!(
                "History #{}: height {} txid {}",
                thousands(n as i64),
                thousands(h.height.0 as i64),
                h.txid
            ));
        }
        let utxos = view.utxos(&key).map_err(internal)?;
        if utxos.is_empty() {
            lines.push("No UTXOs found".into());
        }
        for (n, u) in utxos.iter().enumerate().take(limit.max(1)) {
            lines.push(format!(
                "UTXO #{}: txid {} tx_pos {} height {} value {}",
                thousands(n as i64 + 1),
                u.txid,
                thousands(u.vout as i64),
                thousands(u.height.0 as i64),
                thousands(u.value as i64)
            ));
        }
        let balance: u64 = utxos.iter().map(|u| u.value).sum();
        lines.push(format!("Balance: {} {short}", decimal_value(balance)));
    }
    Ok(json!(lines))
}

fn reorg(admin: &Admin, args: &Args) -> CmdResult {
    let count = match args.get(0, "count") {
        None => 3,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                AdminError::bad_request(format!("{v} should be a non-negative integer"))
            })?,
    };
    let indexer = match (admin.phase(), admin.indexer()) {
        (Phase::Serving, Some(i)) => i,
        _ => return Err(AdminError::bad_request("still catching up with daemon")),
    };
    indexer.force_reorg(count);
    Ok(json!(format!(
        "scheduled a reorg of {} blocks",
        thousands(count as i64)
    )))
}

fn inspect_session(admin: &Admin, args: &Args) -> CmdResult {
    let id = args
        .get(0, "session_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| AdminError::invalid_args("session_id: expected an integer"))?;
    let Some(s) = admin.shared().and_then(|sh| sh.sessions.get(id)) else {
        return Err(AdminError::bad_request(format!("no session with id={id}")));
    };
    let counts = method_counts(&s);
    let client = s.client.lock().ok().and_then(|c| c.clone()).map(|c| c.0);
    Ok(json!({
        "client_name": client,
        "request counts": counts,
        "request total": counts.values().sum::<u64>(),
        "subs_sh": subs_sh(&s),
        "subs_txo": subs_txo(&s),
        "errors": load(&s.errors),
        "is_logged": s.logged.load(Ordering::Relaxed),
        "pending requests": load(&s.pending),
        "txs sent": txs_sent(&s),
        "conn_time": formatted_time(s.started.elapsed().as_secs(), " "),
        "peer": s.peer.to_string(),
        "transport": s.transport,
        "protocol": s.client.lock().ok().and_then(|c| c.clone()).map(|c| c.1),
        "bytes received": load(&s.bytes_received),
        "bytes sent": load(&s.bytes_sent),
    }))
}
