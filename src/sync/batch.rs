//! The writer's in-memory batch: many blocks accumulated between two flushes.
//!
//! Accumulating before writing is where most of the indexing speed comes from:
//! - a script's history entries of the whole batch become one row (one key, deltas as value);
//! - an output created and spent inside the batch is never written to `utxo` at all;
//! - rows go to RocksDB sorted, in one atomic `WriteBatch` with the new tip.

use super::prepare::PreparedBlock;
use super::undo::UndoRecord;
use crate::silentpayments::block::TxTweak;
use crate::store::keys::{self, OutPointId, OutPointKey, OutputInfo};
use crate::store::tweaks;
use crate::store::{
    CF_BLOCKS, CF_HISTORY, CF_OUTPOINTS, CF_SPENDS, CF_TXIDS, CF_TXNUMS, CF_UNDO, CF_UTXO, Store,
    TipState,
};
use crate::types::{Height, ScriptKey, TxNum, TxidPrefix};
use anyhow::Result;
use bitcoin::Txid;
use bitcoin::hashes::Hash;
use rocksdb::WriteBatch;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Outputs created in a batch and still unspent: (script, outpoint) → (funding tx, value).
pub type UtxoMap = FxHashMap<(ScriptKey, OutPointKey), (TxNum, u64)>;

/// Outputs created in a batch and still unspent, by outpoint (only when the index keeps the
/// `outpoints` family): what the raw block source resolves inputs from before they are written.
pub type OutpointMap = FxHashMap<OutPointId, OutputInfo>;

/// A batch's new outputs, kept by the writer while the flusher commits it: undo records and
/// the raw block source look outputs up there.
#[derive(Clone)]
pub struct BatchOutputs {
    pub utxos: Arc<UtxoMap>,
    pub outpoints: Arc<OutpointMap>,
}

/// A `utxo` row to write: a new output, or (value `None`) a deletion.
type UtxoRow<'a> = (&'a (ScriptKey, OutPointKey), Option<&'a (TxNum, u64)>);

/// Blocks indexed since the last flush, not yet written.
#[derive(Default)]
pub struct FlushBatch {
    first_txnum: u64,
    blocks: Vec<(Height, Vec<u8>, u64)>,
    txids: Vec<Txid>,
    /// (script, tx number) in the order added; sorted and grouped into rows at commit, which
    /// is much cheaper than a map per script on the hot path.
    history: Vec<(ScriptKey, TxNum)>,
    /// Keys are hashes already, so a fast non-cryptographic hasher is safe here.
    /// Shared with the writer while the flusher commits the batch (see [`FlushBatch::utxos`]).
    utxo_puts: Arc<UtxoMap>,
    utxo_dels: Vec<(ScriptKey, OutPointKey)>,
    /// `Some` when the index keeps `outpoints`: new unspent outputs, and rows to delete.
    outpoints: Option<Arc<OutpointMap>>,
    outpoint_dels: Vec<OutPointKey>,
    spends: Vec<(OutPointKey, TxNum, [u8; 4])>,
    undo: Vec<(Height, Vec<u8>)>,
    undo_prune: Vec<Height>,
    /// Silent payments rows of the batch's blocks that have eligible transactions.
    sp: Vec<(Height, Vec<TxTweak>)>,
    /// Estimated heap bytes held, for the `CACHE_MB` budget.
    mem: usize,
}

// Rough heap cost of one entry of each kind (key + value + hash table / vector overhead).
const MEM_HISTORY_ENTRY: usize = 24;
const MEM_UTXO: usize = 72;
const MEM_DEL: usize = 24;
const MEM_SPEND: usize = 24;
const MEM_TXID: usize = 32;
const MEM_OUTPOINT: usize = 80;
/// Typical estimated bytes per transaction (3.5 history entries, 2 outputs, 1.5 inputs).
const MEM_PER_TX: usize = 330;

impl FlushBatch {
    /// A batch with room for what `budget` bytes usually hold, so the hot path does not keep
    /// growing (and copying) its vectors and hash table.
    pub fn with_budget(first_txnum: u64, budget: usize, keep_outpoints: bool) -> Self {
        let txs = budget / MEM_PER_TX;
        FlushBatch {
            outpoints: keep_outpoints.then(|| {
                Arc::new(OutpointMap::with_capacity_and_hasher(
                    txs * 3 / 4,
                    Default::default(),
                ))
            }),
            first_txnum,
            txids: Vec::with_capacity(txs),
            history: Vec::with_capacity(txs * 7 / 2),
            utxo_puts: Arc::new(UtxoMap::with_capacity_and_hasher(
                txs * 3 / 2,
                Default::default(),
            )),
            spends: Vec::with_capacity(txs * 3 / 2),
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn mem_bytes(&self) -> usize {
        self.mem
    }

    /// The funding tx number and value of an output created earlier in this batch and still
    /// unspent, if any.
    pub fn pending_utxo(&self, script: &ScriptKey, op: &OutPointKey) -> Option<(TxNum, u64)> {
        self.utxo_puts.get(&(*script, *op)).copied()
    }

    /// An output created earlier in this batch and still unspent, by outpoint (only when the
    /// index keeps `outpoints`).
    pub fn pending_output(&self, id: &OutPointId) -> Option<OutputInfo> {
        self.outpoints.as_ref()?.get(id).copied()
    }

    /// The batch's unspent new outputs, for lookups while the batch is being committed.
    pub fn outputs(&self) -> BatchOutputs {
        BatchOutputs {
            utxos: self.utxo_puts.clone(),
            outpoints: self.outpoints.clone().unwrap_or_default(),
        }
    }

    /// Adds a block whose first transaction gets number `first`. `undo` is its undo record when
    /// the block is recent enough to need one.
    pub fn add_block(&mut self, b: &PreparedBlock, first: TxNum, undo: Option<&UndoRecord>) {
        let mut n = first.0;
        // Unique while the batch is filling: no copy.
        let utxo_puts = Arc::make_mut(&mut self.utxo_puts);
        let mut outpoints = self.outpoints.as_mut().map(Arc::make_mut);
        for tx in &b.txs {
            let num = TxNum(n);
            self.txids.push(tx.txid);
            for s in &b.touched[tx.touched.clone()] {
                self.history.push((*s, num));
                self.mem += MEM_HISTORY_ENTRY;
            }
            for i in &b.ins[tx.ins.clone()] {
                let op = OutPointKey {
                    txid: TxidPrefix::from_bytes(&i.prev_txid),
                    vout: i.prev_vout,
                };
                if utxo_puts.remove(&(i.script, op)).is_none() {
                    self.utxo_dels.push((i.script, op));
                    self.mem += MEM_DEL;
                }
                let mut check = [0u8; 4];
                check.copy_from_slice(&i.prev_txid[keys::SPEND_CHECK]);
                self.spends.push((op, num, check));
                self.mem += MEM_SPEND;
                if let Some(map) = outpoints.as_deref_mut()
                    && map
                        .remove(&OutPointId::new(&i.prev_txid, i.prev_vout))
                        .is_none()
                {
                    self.outpoint_dels.push(op);
                    self.mem += MEM_DEL;
                }
            }
            let txid = TxidPrefix::from_bytes(tx.txid.as_ref());
            for o in &b.outs[tx.outs.clone()] {
                utxo_puts.insert(
                    (o.script, OutPointKey { txid, vout: o.vout }),
                    (num, o.value),
                );
                self.mem += MEM_UTXO;
                if let Some(map) = outpoints.as_deref_mut() {
                    let info = OutputInfo {
                        script: o.script,
                        funding: num,
                        value: o.value,
                    };
                    map.insert(OutPointId::new(tx.txid.as_ref(), o.vout), info);
                    self.mem += MEM_OUTPOINT;
                }
            }
            self.mem += MEM_TXID;
            n += 1;
        }
        self.blocks.push((b.height, b.header.clone(), n));
        self.mem += b.header.len() + 32;
        if let Some(rec) = undo {
            let enc = rec.encode();
            self.mem += enc.len();
            self.undo.push((b.height, enc));
        }
    }

    /// Adds the silent payments tweak data of block `h` (added with [`FlushBatch::add_block`]).
    pub fn add_tweaks(&mut self, h: Height, txs: Vec<TxTweak>) {
        if !txs.is_empty() {
            self.mem += txs.iter().map(|t| 64 + t.outputs.len() * 48).sum::<usize>();
            self.sp.push((h, txs));
        }
    }

    /// Drops the undo record of `h` in this batch (it left the reorg window).
    pub fn prune_undo(&mut self, h: Height) {
        self.undo_prune.push(h);
    }

    /// Next tx number after this batch.
    pub fn end_txnum(&self) -> u64 {
        self.first_txnum + self.txids.len() as u64
    }

    /// Converts into one RocksDB batch (sorted per family) and extends `tip` with its blocks.
    pub fn into_write_batch(
        self,
        store: &Store,
        tip: &mut TipState,
        coin: &dyn crate::chain::Coin,
    ) -> Result<WriteBatch> {
        // Rows are put in key order (roughly, for the utxo and spends varints), which keeps
        // memtable inserts local; all encoding goes through two reused buffers.
        let (mut k, mut v) = (Vec::with_capacity(32), Vec::with_capacity(64));
        let mut txnums: Vec<_> = self
            .txids
            .iter()
            .enumerate()
            .map(|(i, txid)| {
                keys::txnum_key(txid.as_byte_array(), TxNum(self.first_txnum + i as u64))
            })
            .collect();
        let mut history = self.history;
        // Deletions carry no value: `None`.
        let mut utxo: Vec<UtxoRow> = self
            .utxo_puts
            .iter()
            .map(|(key, val)| (key, Some(val)))
            .chain(self.utxo_dels.iter().map(|key| (key, None)))
            .collect();
        let mut spends = self.spends;
        let mut outpoints: Vec<(&OutPointId, &OutputInfo)> =
            self.outpoints.iter().flat_map(|m| m.iter()).collect();
        let mut outpoint_dels = self.outpoint_dels;
        // The sorts are most of the work: run them on both cores (this is the only thing
        // running at the end of a catch-up).
        std::thread::scope(|scope| {
            scope.spawn(|| history.sort_unstable());
            scope.spawn(|| {
                utxo.sort_unstable_by(|a, b| a.0.cmp(b.0));
                outpoints.sort_unstable_by_key(|a| a.0);
            });
            outpoint_dels.sort_unstable();
            txnums.sort_unstable();
            spends.sort_unstable_by_key(|a| (a.0, a.1));
        });
        let mut wb = WriteBatch::with_capacity_bytes(self.mem + (1 << 20));
        for (h, header, end) in &self.blocks {
            wb.put_cf(
                store.cf(CF_BLOCKS),
                keys::block_key(*h),
                keys::block_value(*end, header),
            );
            tip.push(coin.header_hash(header), *end);
        }
        let cf = store.cf(CF_TXIDS);
        for (c, chunk) in self.txids.chunks(keys::TXID_CHUNK).enumerate() {
            let first = TxNum(self.first_txnum + (c * keys::TXID_CHUNK) as u64);
            v.clear();
            for txid in chunk {
                v.extend_from_slice(txid.as_byte_array());
            }
            wb.put_cf(cf, keys::txid_key(first), &v);
        }
        let cf = store.cf(CF_TXNUMS);
        for key in &txnums {
            wb.put_cf(cf, key, []);
        }
        drop(txnums);
        let cf = store.cf(CF_HISTORY);
        let mut nums = Vec::new();
        for group in history.chunk_by(|a, b| a.0 == b.0) {
            nums.clear();
            nums.extend(group.iter().map(|(_, n)| *n));
            nums.dedup();
            keys::history_value_into(&mut v, &nums[1..], nums[0]);
            wb.put_cf(cf, keys::history_key(&group[0].0, nums[0]), &v);
        }
        drop(history);
        let cf = store.cf(CF_UTXO);
        for ((s, o), val) in &utxo {
            keys::utxo_key_into(&mut k, s, o);
            match val {
                Some((n, value)) => {
                    keys::utxo_value_into(&mut v, *n, *value);
                    wb.put_cf(cf, &k, &v);
                }
                None => wb.delete_cf(cf, &k),
            }
        }
        drop(utxo);
        let cf = store.cf(CF_SPENDS);
        for (o, n, check) in &spends {
            keys::spend_key_into(&mut k, o, *n);
            wb.put_cf(cf, &k, check);
        }
        drop(spends);
        if self.outpoints.is_some() {
            let cf = store.cf(CF_OUTPOINTS);
            for o in &outpoint_dels {
                keys::outpoint_key_into(&mut k, o);
                wb.delete_cf(cf, &k);
            }
            for (id, info) in &outpoints {
                keys::outpoint_key_into(&mut k, &id.key());
                keys::outpoint_value_into(&mut v, id.check(), info);
                wb.put_cf(cf, &k, &v);
            }
        }
        drop(outpoints);
        let cf = store.cf(CF_UNDO);
        for h in &self.undo_prune {
            wb.delete_cf(cf, keys::undo_key(*h));
        }
        for (h, rec) in &self.undo {
            wb.put_cf(cf, keys::undo_key(*h), rec);
        }
        for (h, txs) in &self.sp {
            tweaks::put_sp_rows(store, &mut wb, *h, txs);
        }
        Ok(wb)
    }
}
