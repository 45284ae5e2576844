//! Session cost, as aiorpcx's `SessionBase` and ElectrumX's `ElectrumX` session keep it: every
//! request, error and byte adds to a session's cost, which decays with time; above
//! `COST_SOFT_LIMIT` requests are slowed (a sleep of up to `REQUEST_SLEEP`) and the number
//! processed at once is reduced, and at `COST_HARD_LIMIT` the target concurrency reaches 0 and
//! the next request is refused with −101 and the session closed. The per-method costs are
//! ElectrumX's `bump_cost` calls (`electrumx/server/session.py`).

use crate::electrum::rpc::{Answer, Params, Reply};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// aiorpcx `error_base_cost`: every error reply.
pub const ERROR_COST: f64 = 100.0;
/// aiorpcx: a message that is not JSON costs ten times more (`e.cost = error_base_cost * 10`).
pub const PARSE_ERROR_EXTRA: f64 = 1000.0;
/// ElectrumX `self.cost = 5.0  # Connection cost`.
pub const CONNECTION_COST: f64 = 5.0;
/// aiorpcx `bump_cost`: concurrency is recalculated once the cost moved this much.
pub const RECALC_DRIFT: f64 = 100.0;

/// The cost limits of sessions (ElectrumX's class attributes set from the environment).
#[derive(Debug, Clone, Copy)]
pub struct CostParams {
    pub soft_limit: f64,
    pub hard_limit: f64,
    /// 1 / BANDWIDTH_UNIT_COST.
    pub per_byte: f64,
    /// REQUEST_SLEEP in seconds: the sleep at the hard limit.
    pub sleep: f64,
    pub initial_concurrent: usize,
}

/// One session's cost (aiorpcx `cost`, `_cost_last`, `_cost_time`, `_cost_fraction`).
#[derive(Debug, Clone)]
pub struct Cost {
    pub cost: f64,
    last: f64,
    time: Instant,
    /// How far the cost is between the soft and hard limits (0 below the soft limit).
    pub fraction: f64,
    pub decay_per_sec: f64,
}

impl Cost {
    /// A new session: ElectrumX's connection cost, decaying at `hard_limit / 10000` a second.
    pub fn new(p: &CostParams, now: Instant) -> Self {
        Cost {
            cost: CONNECTION_COST,
            last: 0.0,
            time: now,
            fraction: 0.0,
            decay_per_sec: p.hard_limit / 10000.0,
        }
    }

    /// aiorpcx `bump_cost`: adds `delta`; true when concurrency should be recalculated.
    pub fn bump(&mut self, delta: f64) -> bool {
        self.cost = (self.cost + delta).max(0.0);
        (self.cost - self.last).abs() > RECALC_DRIFT
    }

    /// aiorpcx `recalc_concurrency`: refunds the decay since the last call, then sets the
    /// throttling fraction from the cost plus `extra` (the rest of the session's groups).
    /// Returns the new concurrency target, or None when limits are off (`COST_HARD_LIMIT`
    /// not above `COST_SOFT_LIMIT`).
    pub fn recalc(&mut self, p: &CostParams, extra: f64, now: Instant) -> Option<usize> {
        let elapsed = now.saturating_duration_since(self.time).as_secs_f64();
        self.cost = (self.cost - elapsed * self.decay_per_sec).max(0.0);
        self.time = now;
        self.last = self.cost;
        let range = p.hard_limit - p.soft_limit;
        if range <= 0.0 {
            return None;
        }
        self.fraction = ((self.cost + extra - p.soft_limit) / range).max(0.0);
        let target = ((1.0 - self.fraction) * p.initial_concurrent as f64).ceil();
        Some(if target > 0.0 { target as usize } else { 0 })
    }

    /// The sleep before each request (aiorpcx `_cost_fraction * cost_sleep`).
    pub fn sleep(&self, p: &CostParams) -> Duration {
        Duration::from_secs_f64((self.fraction * p.sleep).clamp(0.0, 3600.0))
    }
}

/// aiorpcx's `Concurrency`: a semaphore whose size follows a target; a target of 0 means the
/// session is over its hard limit.
pub struct Concurrency {
    sem: Arc<Semaphore>,
    target: AtomicUsize,
    /// Permits the semaphore stands for (aiorpcx `_sem_value`).
    value: Mutex<usize>,
}

/// Returned by [`Concurrency::enter`] when the target is 0.
#[derive(Debug)]
pub struct Excessive;

/// One request being processed; releasing it gives the slot back unless the target shrank.
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    owner: Arc<Concurrency>,
}

impl Concurrency {
    pub fn new(target: usize) -> Arc<Self> {
        Arc::new(Concurrency {
            sem: Arc::new(Semaphore::new(target)),
            target: AtomicUsize::new(target),
            value: Mutex::new(target),
        })
    }

    pub fn target(&self) -> usize {
        self.target.load(Ordering::Relaxed)
    }

    pub fn set_target(&self, target: usize) {
        self.target.store(target, Ordering::Relaxed);
    }

    /// Waits for a slot (aiorpcx `__aenter__`): Err once the target is 0.
    pub async fn enter(self: &Arc<Self>) -> Result<Slot, Excessive> {
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Excessive)?;
        let target = self.target();
        if target == 0 {
            return Err(Excessive);
        }
        if let Ok(mut v) = self.value.lock() {
            while *v < target {
                *v += 1;
                self.sem.add_permits(1);
            }
        }
        Ok(Slot {
            permit: Some(permit),
            owner: self.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        if let Ok(mut v) = self.owner.value.lock()
            && *v > self.owner.target()
        {
            *v -= 1;
            permit.forget();
        }
    }
}

fn param<'a>(params: &'a Params, i: usize, name: &str) -> Option<&'a Value> {
    match params {
        Params::List(l) => l.get(i),
        Params::Named(m) => m.get(name),
    }
}

fn number(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0).max(0.0)
}

fn hex_len(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_str).map_or(0.0, |s| s.len() as f64)
}

/// The part of a method's cost known from its parameters (ElectrumX `bump_cost` calls whose
/// amount depends on them), charged whatever the outcome.
pub fn request_cost(method: &str, params: &Params) -> f64 {
    match method {
        // phandle_block_header: 1.25 - (cp_height == 0)
        "blockchain.block.header" => {
            if number(param(params, 1, "cp_height")) > 0.0 {
                1.25
            } else {
                0.25
            }
        }
        // phandle_block_headers / block_headers_array: count / 50, + 1.0 with a checkpoint
        "blockchain.block.headers" => {
            let count = number(param(params, 1, "count"));
            let cp = number(param(params, 2, "cp_height"));
            count / 50.0 + if cp > 0.0 && count > 0.0 { 1.0 } else { 0.0 }
        }
        // phandle_transaction_broadcast: 0.25 + len(raw_tx) / 5000
        "blockchain.transaction.broadcast" => 0.25 + hex_len(param(params, 0, "raw_tx")) / 5000.0,
        // phandle_package_broadcast and testmempoolaccept: 0.25 + sum(len(tx) / 5000)
        "blockchain.transaction.broadcast_package" | "blockchain.transaction.testmempoolaccept" => {
            let total: f64 = match param(params, 0, "raw_txs") {
                Some(Value::Array(txs)) => txs.iter().map(|t| hex_len(Some(t))).sum(),
                _ => 0.0,
            };
            0.25 + total / 5000.0
        }
        // Silent payments: a block's tweaks are a small read; a stream of `count` blocks
        // costs as many headers would; a server-side scan holds a task and pool time.
        "blockchain.block.tweaks" => 0.25,
        "blockchain.tweaks.subscribe" => 0.5 + number(param(params, 1, "count")) / 20.0,
        "blockchain.silentpayments.subscribe" => 2.0,
        _ => 0.0,
    }
}

/// History entries of a result: confirmed ones and mempool ones (height 0 or -1).
fn history_len(v: &Value) -> (f64, f64) {
    let items = match v {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => match o.get("history").or_else(|| o.get("utxos")) {
            Some(Value::Array(a)) => a.as_slice(),
            _ => &[],
        },
        _ => &[],
    };
    let mempool = items
        .iter()
        .filter(|e| e["height"].as_i64().is_some_and(|h| h <= 0))
        .count() as f64;
    (items.len() as f64 - mempool, mempool)
}

/// The rest of a successful method's cost, from ElectrumX's `bump_cost` calls (errors cost
/// [`ERROR_COST`] instead).
pub fn result_cost(method: &str, result: &Value) -> f64 {
    if let Some(m) = script_method(method) {
        let (confirmed, mempool) = history_len(result);
        return script_cost(m, confirmed, mempool);
    }
    match method {
        "server.version" | "server.banner" => 0.5,
        "server.features" => 0.2,
        "server.donation_address" | "server.ping" | "blockchain.estimatefee" => 0.1,
        "server.peers.subscribe" => 1.0,
        "server.add_peer" => 100.0,
        "blockchain.headers.subscribe" => 0.25,
        "blockchain.relayfee"
        | "mempool.get_fee_histogram"
        | "mempool.get_info"
        | "mempool.recent"
        | "blockchain.transaction.get" => 1.0,
        // Extensions (not in ElectrumX): priced as the ElectrumX methods doing the same work,
        // a bitcoind call as transaction.get, an index lookup as a merkle proof's txids.
        "blockchain.utxo.get_info" | "blockchain.block.stats" | "daemon.passthrough" => 1.0,
        "blockchain.header.get" => 0.5,
        "blockchain.transaction.get_height" | "blockchain.transaction.get_confirmed_blockhash" => {
            0.25
        }
        // _calc_txoutpoint_status (0.1, 0.1 more for the mempool) and _calc_oc_txo_status (1)
        "blockchain.outpoint.get_status" | "blockchain.outpoint.subscribe" => 1.2,
        "blockchain.outpoint.unsubscribe" => 0.1,
        // merkle_branch_for_*: txids (0.25 + n * 0.0001) and the branch (n / 2500), n from
        // the branch length.
        "blockchain.transaction.get_merkle" | "blockchain.transaction.id_from_pos" => {
            match result.get("merkle").and_then(Value::as_array) {
                Some(branch) => {
                    let n = 2f64.powi(branch.len().min(40) as i32);
                    0.25 + n * 0.0001 + n / 2500.0
                }
                None => 0.35,
            }
        }
        _ => 0.0,
    }
}

/// What a reply adds to its session's cost besides bandwidth.
pub fn reply_cost(method: &str, request: f64, result: &Reply) -> f64 {
    match result {
        Ok(Answer::Json(v)) => request + result_cost(method, v),
        Ok(Answer::Raw {
            entries, mempool, ..
        }) => request + raw_result_cost(method, *entries, *mempool),
        Err(_) => ERROR_COST,
    }
}

/// [`result_cost`] of a result already written as JSON text (histories), from the entry
/// counts its writer gave.
pub fn raw_result_cost(method: &str, entries: usize, mempool: usize) -> f64 {
    let Some(m) = script_method(method) else {
        return 0.0;
    };
    let mempool = mempool.min(entries);
    script_cost(m, (entries - mempool) as f64, mempool as f64)
}

/// The method name without `blockchain.scripthash.` / `blockchain.scriptpubkey.`.
fn script_method(method: &str) -> Option<&str> {
    method
        .strip_prefix("blockchain.scripthash.")
        .or_else(|| method.strip_prefix("blockchain.scriptpubkey."))
}

/// The cost of a script method whose result has `confirmed` and `mempool` entries.
fn script_cost(m: &str, confirmed: f64, mempool: f64) -> f64 {
    match m {
        // limited_history (0.1 + 0.1 + len * 0.001) and unconfirmed_history
        // (0.25 + len / 50)
        "get_history" => 0.2 + (confirmed + mempool) * 0.001 + 0.25 + mempool / 50.0,
        "get_mempool" => 0.25 + mempool / 50.0,
        // hashX_listunspent and get_balance: 1.0 + len(utxos) / 50
        "listunspent" => 1.0 + (confirmed + mempool) / 50.0,
        "get_balance" => 1.0,
        // address_status: the history cost + 0.1 + status hashing
        "subscribe" => 0.3,
        "unsubscribe" => 0.1,
        // An extension: one bounded history read, as a short get_history.
        "get_first_use" => 0.25,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> CostParams {
        CostParams {
            soft_limit: 1000.0,
            hard_limit: 10000.0,
            per_byte: 1.0 / 5000.0,
            sleep: 2.5,
            initial_concurrent: 10,
        }
    }

    #[test]
    fn throttling_follows_aiorpcx() {
        let p = params();
        let t = Instant::now();
        let mut c = Cost::new(&p, t);
        assert_eq!(c.cost, 5.0);
        // Below the drift no recalculation is asked for.
        assert!(!c.bump(50.0));
        assert!(c.bump(500.0));
        assert_eq!(c.recalc(&p, 0.0, t), Some(10));
        assert_eq!(c.fraction, 0.0);
        // Halfway between the limits: fraction 0.5, concurrency 5, a 1.25 s sleep.
        c.bump(5500.0 - c.cost);
        assert_eq!(c.recalc(&p, 0.0, t), Some(5));
        assert!((c.fraction - 0.5).abs() < 1e-9);
        assert_eq!(c.sleep(&p), Duration::from_millis(1250));
        // The group's other cost counts too.
        assert_eq!(c.recalc(&p, 4500.0, t), Some(0));
        // Decay: hard_limit / 10000 per second.
        c.recalc(&p, 0.0, t + Duration::from_secs(500));
        assert!((c.cost - 5000.0).abs() < 1e-6);
        // Limits off.
        let off = CostParams {
            soft_limit: 0.0,
            hard_limit: 0.0,
            ..p
        };
        assert_eq!(c.recalc(&off, 1e9, t), None);
    }

    #[tokio::test]
    async fn concurrency_retargets_and_refuses_at_zero() {
        let c = Concurrency::new(2);
        let a = c.enter().await.unwrap();
        let b = c.enter().await.unwrap();
        assert_eq!(c.sem.available_permits(), 0);
        c.set_target(1);
        drop(a); // forgotten: the semaphore shrinks to 1
        assert_eq!(c.sem.available_permits(), 0);
        drop(b);
        assert_eq!(c.sem.available_permits(), 1);
        c.set_target(3);
        let _x = c.enter().await.unwrap();
        assert_eq!(c.sem.available_permits(), 2);
        c.set_target(0);
        assert!(c.enter().await.is_err());
    }

    #[test]
    fn method_costs_as_electrumx() {
        let list = |v: Value| match v {
            Value::Array(a) => Params::List(a),
            _ => unreachable!(),
        };
        assert_eq!(result_cost("server.ping", &Value::Null), 0.1);
        assert_eq!(
            request_cost("blockchain.block.headers", &list(json!([0, 100]))),
            2.0
        );
        assert_eq!(
            request_cost("blockchain.block.headers", &list(json!([0, 100, 200]))),
            3.0
        );
        assert_eq!(
            request_cost("blockchain.block.header", &list(json!([5]))),
            0.25
        );
        assert_eq!(
            request_cost(
                "blockchain.transaction.broadcast",
                &list(json!(["00".repeat(5000)]))
            ),
            2.25
        );
        let history = json!([{"height": 5}, {"height": 6}, {"height": 0}, {"height": -1}]);
        let got = result_cost("blockchain.scripthash.get_history", &history);
        assert!((got - (0.2 + 0.004 + 0.25 + 0.04)).abs() < 1e-9);
        // Histories answered as JSON text cost the same as parsed ones.
        let text = r#"[{"tx_hash":"aa","height":5},{"tx_hash":"bb","height":6},{"tx_hash":"cc","height":0,"fee":1},{"tx_hash":"dd","height":-1,"fee":2}]"#;
        let raw = raw_result_cost("blockchain.scriptpubkey.get_history", 4, 2);
        assert!((raw - got).abs() < 1e-9, "{raw} {got}");
        let parsed: Value = serde_json::from_str(text).unwrap();
        let reply: Reply = Ok(Answer::Raw {
            text: text.to_string(),
            entries: 4,
            mempool: 2,
        });
        let json: Reply = Ok(Answer::Json(parsed));
        let method = "blockchain.scripthash.get_history";
        assert_eq!(
            reply_cost(method, 0.0, &reply),
            reply_cost(method, 0.0, &json)
        );
        assert_eq!(
            reply_cost(
                "server.ping",
                0.0,
                &Err(crate::electrum::rpc::RpcError::new(1, "x"))
            ),
            ERROR_COST
        );
    }
}
