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

use super::raw_file::RawAt;
use super::state::{ConfirmedOutputs, NewTx};
use crate::chain::Coin;
use crate::daemon::Daemon;
use crate::types::{ScriptKey, hex_to_bytes};
use anyhow::{Context, Result, anyhow, bail};
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Txid};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use tracing::{debug, warn};

/// Items per JSON-RPC batch, so that replies of a big initial load stay small.
pub const BATCH: usize = 500;

/// Connections a large fetch (the initial load of a full mempool) uses at once: bitcoind
/// serves each batch on one RPC thread, and parsing the replies is ours, so one connection at
/// a time leaves cores idle on both sides.
pub const FETCHERS: usize = 4;

/// `fetch` over `items` in up to [`FETCHERS`] parts at once (one part below four batches),
/// results concatenated in order.
fn in_parallel<I: Sync, O: Send>(
    items: &[I],
    fetch: impl Fn(&[I]) -> Result<Vec<O>> + Sync,
) -> Result<Vec<O>> {
    let parts = (items.len() / (4 * BATCH)).clamp(1, FETCHERS);
    if parts == 1 {
        return fetch(items);
    }
    let size = items.len().div_ceil(parts);
    let results: Vec<Result<Vec<O>>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(size)
            .map(|part| s.spawn(|| fetch(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a mempool fetch thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

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
/// `getrawmempool`) are left out, as are undecodable ones (logged). Large fetches use several
/// connections at once. Each batch's raw bytes go to `keep` as they arrive, laid end to end
/// with their lengths (never all held at once), and it says where it kept them.
pub fn transactions(daemon: &Daemon, txids: &[Txid], keep: &Keep<'_>) -> Result<Vec<NewTx>> {
    in_parallel(txids, |part| transactions_serial(daemon, part, keep))
}

/// Where a batch of raw transactions (bytes end to end, lengths) is kept.
pub type Keep<'a> = dyn Fn(&[u8], &[usize]) -> Vec<RawAt> + Sync + 'a;

fn transactions_serial(daemon: &Daemon, txids: &[Txid], keep: &Keep<'_>) -> Result<Vec<NewTx>> {
    let mut txs = Vec::with_capacity(txids.len());
    // One buffer per thread, reused: each tx's decoded bytes are copied in and freed at once,
    // so no short-lived allocation outlives the long-lived ones made after it (fragmentation
    // that shows in RSS after a large load).
    let mut raw_bytes = Vec::new();
    let mut lens = Vec::with_capacity(BATCH);
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
        let first = txs.len();
        raw_bytes.clear();
        lens.clear();
        for (txid, reply) in chunk.iter().zip(replies) {
            match reply {
                Ok(v) => match parse_tx(daemon.coin(), txid, &v) {
                    Ok((tx, raw)) => {
                        txs.push(tx);
                        raw_bytes.extend_from_slice(&raw);
                        lens.push(raw.len());
                    }
                    Err(e) => warn!("skipping mempool tx {txid}: {e:#}"),
                },
                // Most likely -5: it left the mempool since getrawmempool.
                Err(e) => debug!("mempool tx {txid} is gone: {e}"),
            }
        }
        for (tx, at) in txs[first..].iter_mut().zip(keep(&raw_bytes, &lens)) {
            tx.raw = at;
        }
    }
    Ok(txs)
}

/// A mempool transaction under its coin's rules (Litecoin's MWEB transactions, which need an
/// MWEB parser, and anything else that does not parse are errors: the caller skips them).
fn parse_tx(coin: &dyn Coin, txid: &Txid, v: &Value) -> Result<(NewTx, Box<[u8]>)> {
    let raw = v
        .as_str()
        .and_then(hex_to_bytes)
        .ok_or_else(|| anyhow!("expected hex, got {}", short(v)))?;
    let (tx, vsize) = coin
        .parse_transaction(&raw)
        .map_err(|e| anyhow!("cannot decode under {} rules: {e}", coin.name()))?;
    let Some(parsed) = tx.txs.first() else {
        bail!("no transaction");
    };
    if parsed.txid != *txid {
        bail!("the daemon returned tx {}", parsed.txid);
    }
    let new = NewTx {
        raw: RawAt::NONE,
        pays_taproot: crate::silentpayments::block::pays_taproot(
            tx.tx_outputs(parsed).iter().map(|o| &raw[o.script.clone()]),
        ),
        txid: *txid,
        vsize,
        prevouts: tx
            .tx_inputs(parsed)
            .iter()
            .map(|i| OutPoint::new(Txid::from_byte_array(i.prev_txid), i.prev_vout))
            .filter(|p| !p.is_null())
            .collect(),
        outputs: tx
            .tx_outputs(parsed)
            .iter()
            .map(|o| {
                let script = &raw[o.script.clone()];
                (ScriptKey::from_script(coin.address_script(script)), o.value)
            })
            .collect(),
    };
    Ok((new, raw.into_boxed_slice()))
}

/// Script and value of each of `prevouts` that is in the daemon's confirmed UTXO set; spent or
/// unknown ones are absent from the map (their txs wait for the next update). Large fetches use
/// several connections at once.
pub fn confirmed_outputs(daemon: &Daemon, prevouts: &[OutPoint]) -> Result<ConfirmedOutputs> {
    let found = in_parallel(prevouts, |part| {
        Ok(confirmed_outputs_serial(daemon, part)?
            .into_iter()
            .collect())
    })?;
    Ok(found.into_iter().collect())
}

fn confirmed_outputs_serial(daemon: &Daemon, prevouts: &[OutPoint]) -> Result<ConfirmedOutputs> {
    let mut found = HashMap::with_capacity(prevouts.len());
    gettxouts(daemon, prevouts, |prevout, reply| {
        match reply.and_then(|v| parse_txout(daemon.coin(), &v)) {
            Ok(Some(out)) => {
                found.insert(*prevout, out);
            }
            Ok(None) => {}
            Err(e) => warn!("gettxout {prevout}: {e:#}"),
        }
    })?;
    Ok(found)
}

/// `gettxout <txid> <n> false` of each of `prevouts`, batched: `each` gets every prevout with
/// its reply (`null` when spent or unknown). Fails only when a batch does.
pub fn gettxouts(
    daemon: &Daemon,
    prevouts: &[OutPoint],
    mut each: impl FnMut(&OutPoint, Result<Value>),
) -> Result<()> {
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
            each(prevout, reply.map_err(anyhow::Error::from));
        }
    }
    Ok(())
}

/// The `scriptPubKey.hex` of a `gettxout` reply.
pub fn txout_script(v: &Value) -> Option<Vec<u8>> {
    v.get("scriptPubKey")?
        .get("hex")?
        .as_str()
        .and_then(hex_to_bytes)
}

/// `gettxout` reply: `null` when spent or unknown, else `value` (coins) and `scriptPubKey.hex`.
fn parse_txout(coin: &dyn Coin, v: &Value) -> Result<Option<(ScriptKey, u64)>> {
    if v.is_null() {
        return Ok(None);
    }
    let value = v
        .get("value")
        .and_then(Value::as_f64)
        .ok_or_else(|| anyhow!("no value in {}", short(v)))?;
    let script = txout_script(v).ok_or_else(|| anyhow!("no scriptPubKey.hex in {}", short(v)))?;
    let sats = bitcoin::Amount::from_btc(value)
        .map_err(|e| anyhow!("bad value {value}: {e}"))?
        .to_sat();
    Ok(Some((
        ScriptKey::from_script(coin.address_script(&script)),
        sats,
    )))
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

    const COIN: &dyn Coin = &crate::chain::Bitcoin::REGTEST;

    fn txid(n: u8) -> Txid {
        Txid::from_byte_array([n; 32])
    }
    fn tx(n: u8, parents: &[u8]) -> NewTx {
        NewTx {
            txid: txid(n),
            vsize: 1,
            prevouts: parents.iter().map(|&p| OutPoint::new(txid(p), 0)).collect(),
            outputs: vec![],
            raw: RawAt::NONE,
            pays_taproot: false,
        }
    }

    #[test]
    fn parallel_fetches_keep_order_and_fail_as_a_whole() {
        let items: Vec<u32> = (0..(4 * BATCH as u32 * 3 + 17)).collect();
        let threads = std::sync::Mutex::new(HashSet::new());
        let doubled = in_parallel(&items, |part| {
            threads
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .insert(std::thread::current().id());
            Ok(part.iter().map(|x| x * 2).collect())
        })
        .expect("no part fails");
        assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(threads.lock().expect("not poisoned").len(), 3);
        let small = in_parallel(&items[..10], |part| Ok(part.to_vec())).expect("one part");
        assert_eq!(small, items[..10].to_vec());
        let failed = in_parallel(&items, |part| {
            if part.contains(&5000) {
                bail!("part with 5000 failed")
            }
            Ok(part.to_vec())
        });
        assert!(failed.is_err_and(|e| e.to_string().contains("5000")));
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
            parse_txout(COIN, &v).ok().flatten(),
            Some((ScriptKey::from_script(&[0x51]), 39_995_465))
        );
        assert_eq!(parse_txout(COIN, &Value::Null).ok(), Some(None));
        assert!(parse_txout(COIN, &json!({"value": "x"})).is_err());
        let v = json!({"value": 20999999.9769, "scriptPubKey": {"hex": ""}});
        assert_eq!(
            parse_txout(COIN, &v).ok().flatten().map(|o| o.1),
            Some(2_099_999_997_690_000)
        );
    }

    #[test]
    fn mempool_txs_are_read_under_the_coin_s_rules() {
        // A Namecoin name_update paying to P2PKH, in a plain (non-segwit) transaction.
        let p2pkh: Vec<u8> = [&[0x76, 0xa9, 0x14][..], &[7u8; 20], &[0x88, 0xac]].concat();
        let name_op: Vec<u8> = [&[0x53, 0x01, b'n', 0x01, b'v', 0x6d, 0x75][..], &p2pkh].concat();
        let tx = bitcoin::Transaction {
            version: bitcoin::transaction::Version(0x7100),
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: OutPoint::new(txid(9), 1),
                ..Default::default()
            }],
            output: vec![bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(1_000_000),
                script_pubkey: bitcoin::ScriptBuf::from_bytes(name_op.clone()),
            }],
        };
        let hex = json!(bitcoin::consensus::encode::serialize_hex(&tx));
        let id = tx.compute_txid();
        let namecoin = &crate::chain::coins::namecoin::MAINNET;
        let (got, raw) = parse_tx(namecoin, &id, &hex).unwrap();
        assert_eq!(raw[..], bitcoin::consensus::serialize(&tx)[..]);
        assert_eq!(got.prevouts, vec![OutPoint::new(txid(9), 1)]);
        assert_eq!(got.vsize, tx.vsize() as u64);
        assert_eq!(
            got.outputs,
            vec![(ScriptKey::from_script(&p2pkh), 1_000_000)]
        );
        // Bitcoin keys the whole script.
        let (got, _) = parse_tx(COIN, &id, &hex).unwrap();
        assert_eq!(got.outputs[0].0, ScriptKey::from_script(&name_op));
        // Groestlcoin hashes txids with single SHA-256: the same bytes are another txid.
        let grs = &crate::chain::coins::groestlcoin::MAINNET;
        let err = parse_tx(grs, &id, &hex).unwrap_err().to_string();
        assert!(err.starts_with("the daemon returned tx "), "{err}");
        let grs_txid = Txid::from_byte_array(
            bitcoin::hashes::sha256::Hash::hash(&bitcoin::consensus::serialize(&tx))
                .to_byte_array(),
        );
        assert!(parse_tx(grs, &grs_txid, &hex).is_ok());
        assert!(parse_tx(COIN, &id, &json!("00")).is_err());
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
