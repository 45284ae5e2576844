//! Server-side silent payments scanning, as Frigate serves it to Sparrow:
//! `blockchain.silentpayments.subscribe(scan_private_key, spend_public_key, start, labels)`
//! answers `{address, labels, start_height}`, then notifications `[subscription, progress,
//! history]` bring the transactions paying the address, `{height, tx_hash, tweak_key}` (height
//! 0 in the mempool): pages of at most [`PAGE`] entries with `progress` below 1.0 while the
//! historical scan runs (an empty one every [`HEARTBEAT`] when nothing was found), one with
//! 1.0 when it is over (with the mempool's), then 1.0 again for every new block or mempool tx
//! that pays it, and a rescan from the fork after a reorg.
//!
//! The scan key lives in the subscription's task only (never logged, never in metrics or the
//! admin RPC). Scans run on a [`ScanPool`] of `FERRUM_SP_SCAN_THREADS` threads shared by all
//! sessions, a chunk of blocks per job, so scanners queue behind each other and never take the
//! cores from other requests; a session holds at most `FERRUM_SP_MAX_SUBSCRIPTIONS`.

use super::Shared;
use super::handlers::arg;
use super::methods;
use super::rpc::{self, RpcError};
use crate::silentpayments::address::SpAddress;
use crate::silentpayments::scan::Receiver;
use crate::types::{Height, bytes_to_hex, hex_to_bytes};
use bitcoin::secp256k1::{PublicKey, SecretKey};
use bitcoin::{BlockHash, Txid};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Entries per notification while the historical scan runs (Frigate's page size).
pub const PAGE: usize = 100;
/// A notification at least this often while scanning, even with nothing found.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Blocks per scan job.
const JOB_BLOCKS: u32 = 25;
/// A `start` above this is a Unix time (BIP65's LOCKTIME_THRESHOLD), as Frigate reads it.
const TIMESTAMP_FROM: u64 = 500_000_000;
const METHOD: &str = "blockchain.silentpayments.subscribe";

type Job = Box<dyn FnOnce() + Send>;

/// A fixed number of threads running scan jobs in the order they come.
pub struct ScanPool {
    jobs: crossbeam_channel::Sender<Job>,
    threads: usize,
}

impl ScanPool {
    pub fn new(threads: usize) -> ScanPool {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sp-scan-{i}"))
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a silent payments scan thread: {e}");
            }
        }
        ScanPool {
            jobs: tx,
            threads: threads.max(1),
        }
    }

    /// Runs `f` on the pool; its result, or None if the pool is gone.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        let _ = self.jobs.send(Box::new(move || {
            let _ = tx.send(f());
        }));
        rx
    }

    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// A validated subscription request.
pub struct Request {
    receiver: Arc<Receiver>,
    pub address: String,
    labels: Vec<u32>,
    /// Heights to scan: from, and to (None: to the tip, then live).
    pub start: u32,
    end: Option<u32>,
}

impl std::fmt::Debug for Request {
    /// Never shows the scan key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request({}, from {})", self.address, self.start)
    }
}

impl Request {
    /// The subscription object every notification repeats.
    pub fn subscription(&self) -> Value {
        json!({"address": self.address, "labels": self.labels, "start_height": self.start})
    }

    /// Widens to an earlier start (a re-subscription never narrows what is scanned).
    pub fn widen(&mut self, earlier: u32) {
        self.start = self.start.min(earlier);
    }
}

fn bad(message: impl Into<String>) -> RpcError {
    RpcError::bad_request(message)
}

/// The scan secret and spend key of a subscribe or unsubscribe.
fn keys(args: &[Option<Value>]) -> Result<(SecretKey, PublicKey), RpcError> {
    let hex = |i: usize, what: &str, len: usize| -> Result<Vec<u8>, RpcError> {
        let s = arg(args, i)
            .as_str()
            .ok_or_else(|| bad(format!("{what} must be a hex string")))?;
        let b = hex_to_bytes(s).ok_or_else(|| bad(format!("{what} is not valid hex")))?;
        if b.len() != len {
            return Err(bad(format!("{what} must be {len} bytes")));
        }
        Ok(b)
    };
    let scan = SecretKey::from_slice(&hex(0, "scan_private_key", 32)?)
        .map_err(|_| bad("scan_private_key is not a valid secp256k1 scalar"))?;
    let spend = PublicKey::from_slice(&hex(1, "spend_public_key", 33)?)
        .map_err(|_| bad("spend_public_key is not a compressed point on secp256k1"))?;
    Ok((scan, spend))
}

/// The address of a subscription's keys on this network.
fn address_of(shared: &Shared, scan: &SecretKey, spend: &PublicKey) -> String {
    SpAddress {
        scan: crate::silentpayments::public_key(scan),
        spend: *spend,
        mainnet: shared.coin.net() == "mainnet",
    }
    .encode()
}

/// `blockchain.silentpayments.unsubscribe(scan_private_key, spend_public_key)`: the address.
pub fn unsubscribe_address(shared: &Shared, args: &[Option<Value>]) -> Result<String, RpcError> {
    let (scan, spend) = keys(args)?;
    Ok(address_of(shared, &scan, &spend))
}

/// Validates `blockchain.silentpayments.subscribe`'s parameters.
pub fn parse(shared: &Shared, args: &[Option<Value>]) -> Result<Request, RpcError> {
    let settings = super::tweaks::served(shared)?;
    let (scan, spend) = keys(args)?;
    let mut labels = vec![0u32];
    match arg(args, 3) {
        Value::Null => {}
        Value::Array(items) => {
            if items.len() > settings.max_labels as usize {
                return Err(bad(format!(
                    "labels array exceeds {} entries (FERRUM_SP_MAX_LABELS)",
                    settings.max_labels
                )));
            }
            for item in items {
                match item.as_u64() {
                    Some(m) if m < 1 << 31 => labels.push(m as u32),
                    _ => {
                        return Err(bad(format!(
                            "label must satisfy 0 <= label < 2^31, got {}",
                            methods::short(item)
                        )));
                    }
                }
            }
        }
        other => {
            return Err(bad(format!(
                "labels must be an array of integers, got {}",
                methods::short(other)
            )));
        }
    }
    labels.sort_unstable();
    labels.dedup();
    let receiver = Receiver::new(scan, spend, &labels).map_err(|e| bad(e.to_string()))?;
    let view = shared.query.view();
    let tip = view.tip().height().map_or(0, |h| h.0);
    let (start, end) = match arg(args, 2) {
        Value::Null => (0, None),
        Value::String(s) => {
            let (from, to) = s
                .split_once('-')
                .ok_or_else(|| bad("start string must be of the form 'FROM-TO'"))?;
            let parse = |x: &str| x.trim().parse::<u32>().ok();
            let (Some(from), Some(to)) = (parse(from), parse(to)) else {
                return Err(bad("start range must contain integer block heights"));
            };
            if from > to {
                return Err(bad("start range must satisfy 0 <= from <= to"));
            }
            if to > tip {
                return Err(bad(format!("start range 'to' ({to}) exceeds tip ({tip})")));
            }
            (from, Some(to))
        }
        v => {
            let n = methods::non_negative(v)
                .map_err(|_| bad("start must be a non-negative integer or a 'FROM-TO' string"))?;
            if n > TIMESTAMP_FROM {
                (first_block_at(&view, n), None)
            } else {
                let h = u32::try_from(n).unwrap_or(u32::MAX);
                if h > tip {
                    return Err(bad(format!("start height {h} is beyond the tip ({tip})")));
                }
                (h, None)
            }
        }
    };
    // A scan over heights whose tweaks are still being built would miss payments: refuse it,
    // saying when to come back.
    if let Some(state) = shared.query.sp_state()
        && let Some((next, to)) = state.pending
        && start <= to.min(tip)
        && next <= end.unwrap_or(tip)
    {
        let building = crate::store::tweaks::SpUnavailable::Building {
            next,
            end: to.min(tip),
        };
        return Err(bad(building.to_string()));
    }
    Ok(Request {
        address: address_of(shared, &scan, &spend),
        receiver: Arc::new(receiver),
        labels,
        start,
        end,
    })
}

/// The first block whose timestamp is at least `time` (binary search over the headers, whose
/// times grow but for a few hours' leeway: a block found a little early only scans more).
fn first_block_at(view: &crate::query::View<'_>, time: u64) -> u32 {
    let top = view.tip().height().map_or(0, |h| h.0);
    let time_of = |h: u32| -> u64 {
        view.header(Height(h))
            .ok()
            .flatten()
            .and_then(|hdr| {
                hdr.get(68..72)
                    .map(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
            })
            .map_or(0, u64::from)
    };
    let (mut lo, mut hi) = (0u32, top);
    if time_of(top) < time {
        return top;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if time_of(mid) < time {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    // Two hours of leeway in block times: start a dozen blocks earlier.
    lo.saturating_sub(12)
}

/// One history entry.
#[derive(Debug, Clone)]
struct Entry {
    height: u32,
    txid: Txid,
    tweak: [u8; 33],
}

impl Entry {
    fn json(&self) -> Value {
        json!({"height": self.height, "tx_hash": self.txid.to_string(), "tweak_key": bytes_to_hex(&self.tweak)})
    }
}

/// What a scan job found, and the height and hash of every block it scanned.
type Scanned = (Vec<Entry>, Vec<(u32, BlockHash)>);

/// Scans blocks `first..=last` of the current view; the entries found and the hash of every
/// block scanned.
fn scan_blocks(
    shared: &Shared,
    receiver: &Receiver,
    first: u32,
    last: u32,
) -> Result<Scanned, RpcError> {
    let view = shared.query.view();
    let mut keys: Vec<[u8; 32]> = Vec::new();
    let picked = view
        .pick_tweaks(first, last, |t| {
            let Ok(tweak) = PublicKey::from_slice(&t.tweak) else {
                return false;
            };
            keys.clear();
            keys.extend(t.outputs.iter().map(|o| o.key));
            !receiver.scan_keys(&tweak, &keys).is_empty()
        })
        .map_err(|e| bad(e.to_string()))?;
    let found = picked
        .into_iter()
        .map(|(h, txid, tweak)| Entry {
            height: h.0,
            txid,
            tweak,
        })
        .collect();
    let top = view.tip().height().map_or(0, |h| h.0);
    let hashes = (first..=last.min(top))
        .filter_map(|h| Some((h, view.tip().hash(Height(h))?)))
        .collect();
    Ok((found, hashes))
}

/// The mempool txs among `txids` (all when None) that pay the receiver.
fn scan_mempool(shared: &Shared, receiver: &Receiver, txids: Option<&HashSet<Txid>>) -> Vec<Entry> {
    let Some(tw) = shared.mempool.tweaks() else {
        return Vec::new();
    };
    let txs = match txids {
        None => tw.all(),
        Some(ids) => ids.iter().filter_map(|t| Some((*t, tw.get(t)?))).collect(),
    };
    let mut keys: Vec<[u8; 32]> = Vec::new();
    let mut out = Vec::new();
    for (txid, t) in txs {
        let Ok(tweak) = PublicKey::from_slice(&t.tweak) else {
            continue;
        };
        keys.clear();
        keys.extend(t.outputs.iter().map(|o| o.key));
        if !receiver.scan_keys(&tweak, &keys).is_empty() {
            out.push(Entry {
                height: 0,
                txid,
                tweak: t.tweak,
            });
        }
    }
    out.sort_by_key(|e| e.txid);
    out
}

/// Where a subscription's notifications go.
struct Out {
    tx: mpsc::Sender<Vec<u8>>,
    subscription: Value,
    last_sent: Instant,
}

impl Out {
    /// Sends one notification; false once the session is gone.
    async fn page(&mut self, progress: f64, entries: &[Entry]) -> bool {
        let history: Vec<Value> = entries.iter().map(Entry::json).collect();
        let msg = rpc::notification(METHOD, json!([self.subscription, progress, history]));
        self.last_sent = Instant::now();
        self.tx.send(msg).await.is_ok()
    }
}

/// The blocks scanned last and their hashes, to find a reorg's fork.
const REMEMBERED: usize = 200;

/// Runs one subscription until the session ends or it is replaced or unsubscribed (the task
/// is aborted then). Waits for `replied` first: the subscribe reply goes out before any
/// notification.
pub async fn run(
    shared: Arc<Shared>,
    pool: Arc<ScanPool>,
    req: Request,
    tx: mpsc::Sender<Vec<u8>>,
    replied: oneshot::Receiver<()>,
) {
    // Events from now on: a block found during the historical scan is picked up after it.
    let mut events = shared.events.subscribe();
    let _ = replied.await;
    let mut out = Out {
        tx,
        subscription: req.subscription(),
        last_sent: Instant::now(),
    };
    let tip = shared.query.tip().height().map_or(0, |h| h.0);
    let last = req.end.unwrap_or(tip).min(tip);
    let mut scanned: VecDeque<(u32, BlockHash)> = VecDeque::new();
    let Some(()) = historical(
        &shared,
        &pool,
        &req,
        &mut out,
        req.start,
        last,
        &mut scanned,
    )
    .await
    else {
        return;
    };
    let mut sent_mempool: HashSet<Txid> = HashSet::new();
    let mempool = if req.end.is_none() {
        scan_mempool(&shared, &req.receiver, None)
    } else {
        Vec::new()
    };
    sent_mempool.extend(mempool.iter().map(|e| e.txid));
    if !out.page(1.0, &mempool).await || req.end.is_some() {
        return;
    }
    let mut next = last + 1;
    loop {
        let ev = match events.recv().await {
            Ok(ev) => Some(ev),
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let tip_changed = ev.as_ref().is_none_or(|e| e.tip_changed);
        let mut found = Vec::new();
        if tip_changed {
            let view = shared.query.view();
            // A reorg: rescan from the first block scanned that left the chain.
            while let Some(&(h, hash)) = scanned.back() {
                if view.tip().hash(Height(h)) == Some(hash) {
                    break;
                }
                scanned.pop_back();
                next = h;
            }
            let tip = view.tip().height().map_or(0, |h| h.0);
            drop(view);
            if next <= tip {
                let receiver = req.receiver.clone();
                let s = shared.clone();
                let (from, to) = (next, tip);
                match pool.run(move || scan_blocks(&s, &receiver, from, to)).await {
                    Ok(Ok((entries, hashes))) => {
                        remember(&mut scanned, hashes);
                        next = tip + 1;
                        // A mempool payment already sent is not sent again once it confirms.
                        found.extend(
                            entries
                                .into_iter()
                                .filter(|e| !sent_mempool.remove(&e.txid)),
                        );
                    }
                    Ok(Err(e)) => tracing::debug!("silent payments live scan: {}", e.message),
                    Err(_) => return,
                }
            }
        }
        let new_mempool: HashSet<Txid> = match &ev {
            Some(e) => e
                .txids
                .iter()
                .filter(|t| !sent_mempool.contains(*t))
                .copied()
                .collect(),
            None => HashSet::new(),
        };
        let entries = match ev {
            Some(_) => scan_mempool(&shared, &req.receiver, Some(&new_mempool)),
            None => scan_mempool(&shared, &req.receiver, None)
                .into_iter()
                .filter(|e| !sent_mempool.contains(&e.txid))
                .collect(),
        };
        sent_mempool.extend(entries.iter().map(|e| e.txid));
        found.extend(entries);
        for page in found.chunks(PAGE) {
            if !out.page(1.0, page).await {
                return;
            }
        }
    }
}

fn remember(scanned: &mut VecDeque<(u32, BlockHash)>, hashes: Vec<(u32, BlockHash)>) {
    scanned.extend(hashes);
    while scanned.len() > REMEMBERED {
        scanned.pop_front();
    }
}

/// The historical scan of `first..=last`: jobs of [`JOB_BLOCKS`] on the pool, as many in
/// flight as it has threads, results in height order; pages of [`PAGE`] with the progress,
/// and a heartbeat. None when the session is gone.
async fn historical(
    shared: &Arc<Shared>,
    pool: &Arc<ScanPool>,
    req: &Request,
    out: &mut Out,
    first: u32,
    last: u32,
    scanned: &mut VecDeque<(u32, BlockHash)>,
) -> Option<()> {
    if first > last {
        return Some(());
    }
    let total = f64::from(last - first + 1);
    let mut pending: Vec<Entry> = Vec::new();
    let mut inflight: VecDeque<(u32, oneshot::Receiver<_>)> = VecDeque::new();
    let mut next = first;
    let mut done_to = first; // first height not scanned yet
    loop {
        // Twice the threads: a job that ends early never leaves its thread idle.
        while next <= last && inflight.len() < 2 * pool.threads() {
            let to = last.min(next.saturating_add(JOB_BLOCKS - 1));
            let (s, receiver, from) = (shared.clone(), req.receiver.clone(), next);
            inflight.push_back((to, pool.run(move || scan_blocks(&s, &receiver, from, to))));
            next = to.saturating_add(1);
            if to == u32::MAX {
                break;
            }
        }
        let Some((to, rx)) = inflight.pop_front() else {
            break;
        };
        let mut rx = rx;
        let result = loop {
            tokio::select! {
                r = &mut rx => break r,
                _ = tokio::time::sleep_until((out.last_sent + HEARTBEAT).into()) => {
                    let progress = f64::from(done_to - first) / total;
                    if !out.page(progress.min(0.999), &[]).await {
                        return None;
                    }
                }
            }
        };
        match result {
            Ok(Ok((entries, hashes))) => {
                remember(scanned, hashes);
                pending.extend(entries);
            }
            Ok(Err(e)) => {
                // Only a corrupt index gets here (a range being built is refused at subscribe):
                // end the subscription rather than claim a complete scan.
                tracing::warn!("silent payments scan stopped: {}", e.message);
                return None;
            }
            Err(_) => return None,
        }
        done_to = to + 1;
        let progress = (f64::from(done_to - first) / total).min(0.999);
        while pending.len() >= PAGE {
            let page: Vec<Entry> = pending.drain(..PAGE).collect();
            if !out.page(progress, &page).await {
                return None;
            }
        }
        if out.last_sent.elapsed() >= HEARTBEAT {
            let page: Vec<Entry> = std::mem::take(&mut pending);
            if !out.page(progress, &page).await {
                return None;
            }
        }
    }
    if !pending.is_empty() {
        let progress = 0.999;
        if !out.page(progress, &pending).await {
            return None;
        }
    }
    Some(())
}
