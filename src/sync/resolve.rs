//! The raw block source: what each input spends, when the daemon does not say (altcoin daemons,
//! Bitcoin Core before 23, `--block-source raw`).
//!
//! An input spends one of:
//! - an earlier output of its own block: found in the block itself, on the worker;
//! - a committed output: one multi-get of the `outpoints` family per block, on the worker
//!   (workers run in parallel, so these reads cost the writer nothing);
//! - an output of a block not committed yet (the writer's batch, a batch being flushed, or
//!   committed since the worker looked): resolved by the writer, in block order, from the
//!   batches' maps and then one more read.
//!
//! Anything still unknown (an `outpoints` row whose txid check failed, or that is missing) takes
//! the exact path: the funding tx number from `txnums` (checked against the full txid), and the
//! output from the funding block refetched from the daemon. Deep reorgs use it too, since the
//! outputs a stale block spent are no longer in `outpoints`.

use super::prepare::{PreparedBlock, is_unspendable};
use crate::chain::{Coin, ParsedBlock};
use crate::daemon::Daemon;
use crate::store::Store;
use crate::store::keys::{OutPointId, OutputInfo};
use crate::types::{Height, ScriptKey, TxNum};
use anyhow::{Context, Result, bail};
use bitcoin::Txid;
use bitcoin::hashes::Hash;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// On a worker: resolves the inputs that spend outputs of their own block or committed outputs,
/// and finishes the block when nothing is left for the writer.
pub fn on_worker(store: &Store, b: &mut PreparedBlock) -> Result<()> {
    resolve_in_block(b);
    if !b.unresolved.is_empty() {
        let ids: Vec<OutPointId> = b.unresolved.iter().map(|&i| id_of(b, i)).collect();
        let found = store.outputs_at(&ids)?;
        let mut left = Vec::new();
        for (&i, f) in b.unresolved.clone().iter().zip(found) {
            match f {
                Some(o) => b.resolve(i, o.script, o.value, Some(o.funding)),
                None => left.push(i),
            }
        }
        b.unresolved = left;
    }
    if b.unresolved.is_empty() {
        b.finish_inputs();
    }
    Ok(())
}

/// On the writer, in block order: resolves what the worker could not, from `pending` (outputs
/// of batches not committed yet), then the committed `outpoints`, then the exact path.
pub fn on_writer(
    store: &Store,
    daemon: &Daemon,
    coin: &dyn Coin,
    b: &mut PreparedBlock,
    mut pending: impl FnMut(&OutPointId) -> Option<OutputInfo>,
) -> Result<()> {
    if b.inputs_done {
        return Ok(());
    }
    let mut left = Vec::new();
    for i in b.unresolved.clone() {
        match pending(&id_of(b, i)) {
            Some(o) => b.resolve(i, o.script, o.value, Some(o.funding)),
            None => left.push(i),
        }
    }
    if !left.is_empty() {
        let ids: Vec<OutPointId> = left.iter().map(|&i| id_of(b, i)).collect();
        let found = store.outputs_at(&ids)?;
        let mut exact = FundingBlocks::new(store, daemon, coin);
        for (i, f) in left.into_iter().zip(found) {
            let o = match f {
                Some(o) => o,
                None => exact.output(b.height, &b.ins[i].prev_txid, b.ins[i].prev_vout)?,
            };
            b.resolve(i, o.script, o.value, Some(o.funding));
        }
    }
    b.finish_inputs();
    Ok(())
}

/// Resolves every input of a stale block being rolled back (its spent outputs are gone from
/// `outpoints`): its own outputs, else the exact path.
pub fn from_daemon(
    store: &Store,
    daemon: &Daemon,
    coin: &dyn Coin,
    b: &mut PreparedBlock,
) -> Result<()> {
    if b.inputs_done {
        return Ok(());
    }
    resolve_in_block(b);
    let mut exact = FundingBlocks::new(store, daemon, coin);
    for i in b.unresolved.clone() {
        let o = exact.output(b.height, &b.ins[i].prev_txid, b.ins[i].prev_vout)?;
        b.resolve(i, o.script, o.value, Some(o.funding));
    }
    b.finish_inputs();
    Ok(())
}

fn id_of(b: &PreparedBlock, i: usize) -> OutPointId {
    OutPointId::new(&b.ins[i].prev_txid, b.ins[i].prev_vout)
}

/// Inputs that spend an earlier output of the same block. Their funding tx number is left for
/// the undo record, which numbers the block's own txs.
fn resolve_in_block(b: &mut PreparedBlock) {
    if b.unresolved.is_empty() || b.txs.len() < 2 {
        return;
    }
    let own: FxHashMap<[u8; 32], usize> = b
        .txs
        .iter()
        .enumerate()
        .map(|(pos, t)| (t.txid.to_byte_array(), pos))
        .collect();
    let mut left = Vec::with_capacity(b.unresolved.len());
    for i in std::mem::take(&mut b.unresolved) {
        let (txid, vout) = (b.ins[i].prev_txid, b.ins[i].prev_vout);
        let out = own
            .get(&txid)
            .and_then(|&pos| {
                b.outs[b.txs[pos].outs.clone()]
                    .iter()
                    .find(|o| o.vout == vout)
            })
            .map(|o| (o.script, o.value));
        match out {
            Some((script, value)) => b.resolve(i, script, value, None),
            None => left.push(i),
        }
    }
    b.unresolved = left;
}

/// The exact path: outputs read from their funding blocks, refetched from the daemon (the last
/// few kept, since a block's inputs often share funding blocks).
struct FundingBlocks<'a> {
    store: &'a Store,
    daemon: &'a Daemon,
    coin: &'a dyn Coin,
    blocks: HashMap<Height, (Vec<u8>, ParsedBlock)>,
}

/// Funding blocks kept by one [`FundingBlocks`].
const KEPT_BLOCKS: usize = 16;

impl<'a> FundingBlocks<'a> {
    fn new(store: &'a Store, daemon: &'a Daemon, coin: &'a dyn Coin) -> Self {
        FundingBlocks {
            store,
            daemon,
            coin,
            blocks: HashMap::new(),
        }
    }

    /// Output `vout` of tx `txid`, spent by an input of block `spender`.
    fn output(&mut self, spender: Height, txid: &[u8; 32], vout: u32) -> Result<OutputInfo> {
        let shown = Txid::from_byte_array(*txid);
        let n = self.store.txnum_of(txid, None)?.with_context(|| {
            format!(
                "block {spender}: an input spends {shown}:{vout}, a transaction that is not indexed"
            )
        })?;
        let tip = self.store.tip();
        let Some((h, first)) = tip
            .height_of(n)
            .and_then(|h| Some((h, tip.block_txnums(h)?)))
        else {
            bail!(
                "block {spender}: the funding tx {shown} (number {}) is above the committed tip",
                n.0
            );
        };
        let hash = tip
            .hash(h)
            .with_context(|| format!("no hash for block {h}"))?;
        if !self.blocks.contains_key(&h) {
            if self.blocks.len() >= KEPT_BLOCKS {
                self.blocks.clear();
            }
            let raw = self
                .daemon
                .block(&hash)
                .with_context(|| format!("fetching block {h} ({hash}), which funds {shown}"))?;
            let parsed = self.coin.parse_block(&raw).with_context(|| {
                format!(
                    "{} {} block {h} ({hash}): cannot parse under the coin's rules",
                    self.coin.name(),
                    self.coin.net()
                )
            })?;
            self.blocks.insert(h, (raw, parsed));
        }
        let Some((raw, parsed)) = self.blocks.get(&h) else {
            bail!("block {h} went missing from the cache");
        };
        let tx = parsed
            .txs
            .get((n.0 - first.start) as usize)
            .filter(|t| t.txid.as_byte_array() == txid)
            .with_context(|| {
                format!("block {h} ({hash}) does not hold {shown} where the index puts it")
            })?;
        let out = parsed.tx_outputs(tx).get(vout as usize).with_context(|| {
            format!("block {spender}: an input spends {shown}:{vout}, which does not exist")
        })?;
        let script = raw
            .get(out.script.clone())
            .context("output script out of range")?;
        if is_unspendable(script) {
            bail!("block {spender}: an input spends {shown}:{vout}, which is unspendable");
        }
        Ok(OutputInfo {
            script: ScriptKey::from_script(self.coin.address_script(script)),
            funding: TxNum(n.0),
            value: out.value,
        })
    }
}
