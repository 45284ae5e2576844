//! Silent payments tweaks of mempool transactions, so that receivers see unconfirmed
//! payments: for each mempool tx that pays a taproot output and has eligible inputs, the same
//! [`TxTweak`] the index keeps for confirmed ones.
//!
//! Computed after an update has applied its new txs: a tx's raw bytes come from the raw file
//! ([`super::raw_file`]), the scripts it spends from its mempool parents' raw bytes or, for
//! confirmed outputs, one batched `gettxout` (only for these txs' inputs). A tx whose spent
//! outputs cannot all be found (the daemon moved on meanwhile) is left out until it confirms.

use super::Mempool;
use super::fetch;
use crate::daemon::Daemon;
use crate::silentpayments::block::{TxTweak, tx_tweak};
use bitcoin::consensus::Decodable;
use bitcoin::{OutPoint, Transaction, Txid};
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use tracing::debug;

/// The tweaks of the mempool's eligible txs.
#[derive(Debug, Default)]
pub struct MempoolTweaks {
    txs: RwLock<HashMap<Txid, TxTweak>>,
}

impl MempoolTweaks {
    /// The tweak data of a mempool tx, if it is eligible.
    pub fn get(&self, txid: &Txid) -> Option<TxTweak> {
        self.txs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(txid)
            .cloned()
    }

    /// Every eligible mempool tx.
    pub fn all(&self) -> Vec<(Txid, TxTweak)> {
        let txs = self.txs.read().unwrap_or_else(PoisonError::into_inner);
        txs.iter().map(|(t, w)| (*t, w.clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.txs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the txs that left the mempool.
    pub(super) fn retain(&self, keep: impl Fn(&Txid) -> bool) {
        self.txs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|t, _| keep(t));
    }

    /// Computes the tweaks of `candidates` (new mempool txs paying taproot outputs) that are
    /// in `mempool` now.
    pub(super) fn add(&self, mempool: &Mempool, daemon: &Daemon, candidates: &[Txid]) {
        let mut txs: Vec<(Txid, Vec<u8>, Transaction)> = Vec::new();
        for txid in candidates {
            let Some(raw) = mempool.raw_tx(txid) else {
                continue;
            };
            if let Ok(tx) = Transaction::consensus_decode(&mut raw.as_slice()) {
                txs.push((*txid, raw, tx));
            }
        }
        if txs.is_empty() {
            return;
        }
        // Spent scripts: mempool parents from their raw bytes, the rest from gettxout.
        let mut scripts: HashMap<OutPoint, Vec<u8>> = HashMap::new();
        let mut parents: HashMap<Txid, Option<Transaction>> = HashMap::new();
        let mut confirmed = Vec::new();
        for (_, _, tx) in &txs {
            for input in &tx.input {
                let p = input.previous_output;
                if scripts.contains_key(&p) {
                    continue;
                }
                let parent = parents.entry(p.txid).or_insert_with(|| {
                    mempool
                        .raw_tx(&p.txid)
                        .and_then(|raw| Transaction::consensus_decode(&mut raw.as_slice()).ok())
                });
                match parent {
                    Some(parent) => {
                        if let Some(out) = parent.output.get(p.vout as usize) {
                            scripts.insert(p, out.script_pubkey.to_bytes());
                        }
                    }
                    None => confirmed.push(p),
                }
            }
        }
        confirmed.sort_unstable();
        confirmed.dedup();
        scripts.extend(confirmed_scripts(daemon, &confirmed));
        let mut found = Vec::new();
        for (txid, raw, tx) in &txs {
            let spent: Option<Vec<&[u8]>> = tx
                .input
                .iter()
                .map(|i| scripts.get(&i.previous_output).map(Vec::as_slice))
                .collect();
            match spent {
                Some(spent) => {
                    if let Some(t) = tx_tweak(raw, &spent) {
                        found.push((*txid, t));
                    }
                }
                None => debug!("mempool tx {txid}: spent scripts not found, no tweak"),
            }
        }
        let mut map = self.txs.write().unwrap_or_else(PoisonError::into_inner);
        map.extend(found);
    }
}

/// The scripts of confirmed unspent outputs ([`fetch::gettxouts`]); outputs the daemon no
/// longer has, or a failed batch, are left out (their txs get no tweak).
fn confirmed_scripts(daemon: &Daemon, outpoints: &[OutPoint]) -> HashMap<OutPoint, Vec<u8>> {
    let mut out = HashMap::with_capacity(outpoints.len());
    let r = fetch::gettxouts(daemon, outpoints, |p, reply| {
        if let Some(s) = reply.ok().as_ref().and_then(fetch::txout_script) {
            out.insert(*p, s);
        }
    });
    if let Err(e) = r {
        debug!("{e:#}: no tweaks for those prevouts");
    }
    out
}
