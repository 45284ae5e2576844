//! Daemon I/O of a mempool update, all done outside the state lock: the txid list, the new
//! transactions (batched `getrawtransaction <txid> false`), and the confirmed outputs they spend
//! (batched `gettxout <txid> <n> false`).
//!
//! Why `gettxout`: a mempool tx's prevouts are either outputs of other mempool txs (resolved
//! from the state, no request) or confirmed outputs. `gettxout` with `include_mempool=false`
//! reads exactly the confirmed UTXO set, needs no `-txindex`, and costs one small reply per
//! prevout. `getrawtransaction <txid> 2` would be one request per tx instead, but Bitcoin Core
//! only adds `prevout`/`fee` to it from block undo data, so mempool txs get neither (checked
//! against Core 31: verbosity 2 of a mempool tx has no `prevout`); fetching the funding txs
//! instead would need `-txindex` and whole transactions.

use super::state::{ConfirmedOutputs, NewTx};
use crate::daemon::Daemon;
use crate::types::{ScriptKey, hex_to_bytes};
use anyhow::{Context, Result, anyhow, bail};
use bitcoin::{OutPoint, Transaction, Txid};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use tracing::{debug, warn};

/// Items per JSON-RPC batch, so that replies of a big initial load stay small.
pub const BATCH: usize = 500;

/// `getrawmempool`: the daemon's mempool txids.
pub fn mempool_txids(daemon: &Daemon) -> Result<Vec<Txid>> {
    let reply = daemon
        .call("getrawmempool", json!([false]))
        .context("getrawmempool")?;
    let list = reply
        .as_array()
        .ok_or_else(|| anyhow!("getrawmempool: expected an array, got {}", short(&reply)))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| Txid::from_str(s).ok())
                .ok_or_else(|| anyhow!("getrawmempool: not a txid: {}", short(v)))
        })
        .collect()
}

/// The new transactions, parsed; txs the daemon no longer has (mined or evicted since
/// `getrawmempool`) are left out, as are undecodable ones (logged).
pub fn transactions(daemon: &Daemon, txids: &[Txid]) -> Result<Vec<NewTx>> {
    let mut txs = Vec::with_capacity(txids.len());
    for chunk in txids.chunks(BATCH) {
        let params = chunk
            .iter()
            .map(|t| json!([t.to_string(), false]))
            .collect();
        let replies = daemon
            .batch("getrawtransaction", params)
            .with_context(|| format!("getrawtransaction of {} mempool txs", chunk.len()))?;
        if replies.len() != chunk.len() {
            bail!(
                "getrawtransaction: {} replies to {} requests",
                replies.len(),
                chunk.len()
            );
        }
        for (txid, reply) in chunk.iter().zip(replies) {
            match reply {
                Ok(v) => match parse_tx(txid, &v) {
                    Ok(tx) => txs.push(tx),
                    Err(e) => warn!("skipping mempool tx {txid}: {e:#}"),
                },
                // Most likely -5: it left the mempool since getrawmempool.
                Err(e) => debug!("mempool tx {txid} is gone: {e}"),
            }
        }
    }
    Ok(txs)
}

fn parse_tx(txid: &Txid, v: &Value) -> Result<NewTx> {
    let raw = v
        .as_str()
        .and_then(hex_to_bytes)
        .ok_or_else(|| anyhow!("expected hex, got {}", short(v)))?;
    let tx: Transaction = bitcoin::consensus::deserialize(&raw).context("cannot decode")?;
    let got = tx.compute_txid();
    if got != *txid {
        bail!("the daemon returned tx {got}");
    }
    Ok(NewTx {
        txid: *txid,
        vsize: tx.vsize() as u64,
        prevouts: tx
            .input
            .iter()
            .map(|i| i.previous_output)
            .filter(|p| !p.is_null())
            .collect(),
        outputs: tx
            .output
            .iter()
            .map(|o| {
                (
                    ScriptKey::from_script(o.script_pubkey.as_bytes()),
                    o.value.to_sat(),
                )
            })
            .collect(),
    })
}

/// Script and value of each of `prevouts` that is in the daemon's confirmed UTXO set; spent or
/// unknown ones are absent from the map (their txs wait for the next update).
pub fn confirmed_outputs(daemon: &Daemon, prevouts: &[OutPoint]) -> Result<ConfirmedOutputs> {
    let mut found = HashMap::with_capacity(prevouts.len());
    for chunk in prevouts.chunks(BATCH) {
        let params = chunk
            .iter()
            .map(|p| json!([p.txid.to_string(), p.vout, false]))
            .collect();
        let replies = daemon
            .batch("gettxout", params)
            .with_context(|| format!("gettxout of {} prevouts", chunk.len()))?;
        if replies.len() != chunk.len() {
            bail!(
                "gettxout: {} replies to {} requests",
                replies.len(),
                chunk.len()
            );
        }
        for (prevout, reply) in chunk.iter().zip(replies) {
            match reply
                .map_err(anyhow::Error::from)
                .and_then(|v| parse_txout(&v))
            {
                Ok(Some(out)) => {
                    found.insert(*prevout, out);
                }
                Ok(None) => {}
                Err(e) => warn!("gettxout {prevout}: {e:#}"),
            }
        }
    }
    Ok(found)
}

/// `gettxout` reply: `null` when spent or unknown, else `value` (coins) and `scriptPubKey.hex`.
fn parse_txout(v: &Value) -> Result<Option<(ScriptKey, u64)>> {
    if v.is_null() {
        return Ok(None);
    }
    let value = v
        .get("value")
        .and_then(Value::as_f64)
        .ok_or_else(|| anyhow!("no value in {}", short(v)))?;
    let script = v
        .get("scriptPubKey")
        .and_then(|s| s.get("hex"))
        .and_then(Value::as_str)
        .and_then(hex_to_bytes)
        .ok_or_else(|| anyhow!("no scriptPubKey.hex in {}", short(v)))?;
    let sats = bitcoin::Amount::from_btc(value)
        .map_err(|e| anyhow!("bad value {value}: {e}"))?
        .to_sat();
    Ok(Some((ScriptKey::from_script(&script), sats)))
}

/// `getmempoolinfo`, reduced to the fields `mempool.get_info` returns (ElectrumX's
/// `Daemon.mempool_info`), values passed through as the daemon gave them.
pub fn mempool_info(daemon: &Daemon) -> Result<Value> {
    let v = daemon
        .call("getmempoolinfo", json!([]))
        .context("getmempoolinfo")?;
    let mut out = serde_json::Map::new();
    for key in ["mempoolminfee", "minrelaytxfee", "incrementalrelayfee"] {
        let field = v
            .get(key)
            .ok_or_else(|| anyhow!("getmempoolinfo: no {key} in {}", short(&v)))?;
        out.insert(key.to_string(), field.clone());
    }
    Ok(Value::Object(out))
}

/// Prevouts of `txs` that are not outputs of a tx in the daemon's mempool listing, each once.
pub fn outside_prevouts(txs: &[NewTx], listed: &HashSet<Txid>) -> Vec<OutPoint> {
    let mut seen = HashSet::new();
    txs.iter()
        .flat_map(|tx| tx.prevouts.iter())
        .filter(|p| !listed.contains(&p.txid) && seen.insert(**p))
        .copied()
        .collect()
}

/// `txs` with every parent before its children (parents outside `txs` do not count); otherwise
/// in the given order. Iterative, so long unconfirmed chains cannot overflow the stack.
pub fn parents_first(txs: Vec<NewTx>) -> Vec<NewTx> {
    let index: HashMap<Txid, usize> = txs.iter().enumerate().map(|(i, t)| (t.txid, i)).collect();
    let mut placed = vec![false; txs.len()];
    // Cycles cannot happen in a real mempool; `on_stack` makes them harmless anyway.
    let mut on_stack = vec![false; txs.len()];
    let mut order = Vec::with_capacity(txs.len());
    for root in 0..txs.len() {
        // Depth-first: (tx, next prevout to look at).
        let mut stack = vec![(root, 0usize)];
        on_stack[root] = true;
        while let Some(top) = stack.last_mut() {
            let (i, next) = *top;
            top.1 += 1;
            if placed[i] {
                on_stack[i] = false;
                stack.pop();
                continue;
            }
            match txs[i].prevouts.get(next) {
                Some(p) => {
                    if let Some(&parent) = index.get(&p.txid)
                        && !placed[parent]
                        && !on_stack[parent]
                    {
                        on_stack[parent] = true;
                        stack.push((parent, 0));
                    }
                }
                None => {
                    placed[i] = true;
                    on_stack[i] = false;
                    order.push(i);
                    stack.pop();
                }
            }
        }
    }
    let mut slots: Vec<Option<NewTx>> = txs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn txid(n: u8) -> Txid {
        Txid::from_byte_array([n; 32])
    }
    fn tx(n: u8, parents: &[u8]) -> NewTx {
        NewTx {
            txid: txid(n),
            vsize: 1,
            prevouts: parents.iter().map(|&p| OutPoint::new(txid(p), 0)).collect(),
            outputs: vec![],
        }
    }

    #[test]
    fn parents_come_first() {
        // 1 <- 2 <- 3, 4 spends 3 and 1, 5 independent, 9 outside.
        let txs = vec![
            tx(4, &[3, 1]),
            tx(3, &[2]),
            tx(5, &[9]),
            tx(2, &[1]),
            tx(1, &[]),
        ];
        let order: Vec<u8> = parents_first(txs)
            .iter()
            .map(|t| t.txid.to_byte_array()[0])
            .collect();
        assert_eq!(order, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let txs: Vec<NewTx> = (0..200u8)
            .rev()
            .map(|n| tx(n, &[n.wrapping_sub(1)]))
            .collect();
        let order = parents_first(txs);
        assert_eq!(order.len(), 200);
        assert_eq!(order[0].txid, txid(0));
        assert_eq!(order[199].txid, txid(199));
    }

    #[test]
    fn gettxout_values_are_exact_satoshis() {
        let v = json!({"value": 0.39995465, "scriptPubKey": {"hex": "51"}});
        assert_eq!(
            parse_txout(&v).ok().flatten(),
            Some((ScriptKey::from_script(&[0x51]), 39_995_465))
        );
        assert_eq!(parse_txout(&Value::Null).ok(), Some(None));
        assert!(parse_txout(&json!({"value": "x"})).is_err());
        let v = json!({"value": 20999999.9769, "scriptPubKey": {"hex": ""}});
        assert_eq!(
            parse_txout(&v).ok().flatten().map(|o| o.1),
            Some(2_099_999_997_690_000)
        );
    }

    #[test]
    fn prevouts_of_listed_txs_are_not_looked_up() {
        let listed: HashSet<Txid> = [txid(1), txid(2)].into();
        let txs = vec![tx(2, &[1, 7]), tx(3, &[7, 8])];
        assert_eq!(
            outside_prevouts(&txs, &listed),
            vec![OutPoint::new(txid(7), 0), OutPoint::new(txid(8), 0)]
        );
    }
}
