//! Undo records: what it takes to remove one block from the index exactly.
//!
//! A record lists the scripts whose history the block extended, the outputs it created, the
//! outputs it spent (with their funding tx number and value, to put them back) and the outpoints
//! whose spender it recorded. It is derived from the block and its spent outputs alone (plus the
//! funding tx number of each spent output), so the same code makes it while indexing (stored for
//! the last `REORG_LIMIT` blocks) and when a deeper reorg refetches a stale block from bitcoind.

use super::prepare::{PreparedBlock, PreparedIn};
use crate::store::keys::{self, OutPointKey, get_varint, put_varint};
use crate::store::{
    CF_BLOCKS, CF_HISTORY, CF_SPENDS, CF_TXIDS, CF_TXNUMS, CF_UNDO, CF_UTXO, Store,
};
use crate::types::{Height, ScriptKey, TxNum, TxidPrefix};
use anyhow::{Context, Result};
use rocksdb::WriteBatch;
use std::collections::HashSet;

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UndoRecord {
    pub first_txnum: TxNum,
    pub tx_count: u64,
    pub scripts: Vec<ScriptKey>,
    pub created: Vec<(ScriptKey, OutPointKey)>,
    /// Spent outputs funded before this block: (script, outpoint, funding tx number, value).
    pub spent: Vec<(ScriptKey, OutPointKey, TxNum, u64)>,
    /// Spends recorded by this block: spent outpoint and spending tx number.
    pub spends: Vec<(OutPointKey, TxNum)>,
}

const RECORD_VERSION: u8 = 1;

impl UndoRecord {
    /// Builds the record of `b`, whose first tx number is `first`; `funding` gives the tx number
    /// of the transaction an input spends (called only for outputs funded before this block).
    pub fn for_block(
        b: &PreparedBlock,
        first: TxNum,
        mut funding: impl FnMut(&PreparedIn) -> Result<TxNum>,
    ) -> Result<UndoRecord> {
        let mut scripts = b.touched.clone();
        scripts.sort_unstable();
        scripts.dedup();
        let in_block: HashSet<[u8; 32]> = b.txs.iter().map(|t| *t.txid.as_ref()).collect();
        let mut rec = UndoRecord {
            first_txnum: first,
            tx_count: b.txs.len() as u64,
            scripts,
            ..Default::default()
        };
        for (pos, tx) in b.txs.iter().enumerate() {
            let spender = TxNum(first.0 + pos as u64);
            let txid = TxidPrefix::from_bytes(tx.txid.as_ref());
            for o in &b.outs[tx.outs.clone()] {
                rec.created
                    .push((o.script, OutPointKey { txid, vout: o.vout }));
            }
            for i in &b.ins[tx.ins.clone()] {
                let op = OutPointKey {
                    txid: TxidPrefix::from_bytes(&i.prev_txid),
                    vout: i.prev_vout,
                };
                rec.spends.push((op, spender));
                if !in_block.contains(&i.prev_txid) {
                    rec.spent.push((i.script, op, funding(i)?, i.value));
                }
            }
        }
        Ok(rec)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(
            16 + self.scripts.len() * 11
                + self.created.len() * 21
                + self.spent.len() * 30
                + self.spends.len() * 10,
        );
        v.push(RECORD_VERSION);
        v.extend_from_slice(&self.first_txnum.to_bytes());
        put_varint(&mut v, self.tx_count);
        put_varint(&mut v, self.scripts.len() as u64);
        for s in &self.scripts {
            v.extend_from_slice(&s.0);
        }
        put_varint(&mut v, self.created.len() as u64);
        for (s, o) in &self.created {
            v.extend_from_slice(&s.0);
            put_outpoint(&mut v, o);
        }
        put_varint(&mut v, self.spent.len() as u64);
        for (s, o, n, value) in &self.spent {
            v.extend_from_slice(&s.0);
            put_outpoint(&mut v, o);
            v.extend_from_slice(&n.to_bytes());
            put_varint(&mut v, *value);
        }
        put_varint(&mut v, self.spends.len() as u64);
        for (o, n) in &self.spends {
            put_outpoint(&mut v, o);
            v.extend_from_slice(&n.to_bytes());
        }
        v
    }

    pub fn decode(mut d: &[u8]) -> Option<UndoRecord> {
        let d = &mut d;
        if take(d, 1)?[0] != RECORD_VERSION {
            return None;
        }
        let first_txnum = TxNum::from_bytes(take(d, 5)?)?;
        let tx_count = get_varint(d)?;
        let mut rec = UndoRecord {
            first_txnum,
            tx_count,
            ..Default::default()
        };
        for _ in 0..count(d, 11)? {
            rec.scripts.push(script(d)?);
        }
        for _ in 0..count(d, 20)? {
            rec.created.push((script(d)?, outpoint(d)?));
        }
        for _ in 0..count(d, 26)? {
            let (s, o) = (script(d)?, outpoint(d)?);
            let n = TxNum::from_bytes(take(d, 5)?)?;
            rec.spent.push((s, o, n, get_varint(d)?));
        }
        for _ in 0..count(d, 14)? {
            let o = outpoint(d)?;
            rec.spends.push((o, TxNum::from_bytes(take(d, 5)?)?));
        }
        d.is_empty().then_some(rec)
    }

    /// A batch that removes the block at `height` (the current tip) with this record. Reads the
    /// store for history rows to truncate and txids to unindex, so the store must hold every
    /// earlier batch (the writer flushes its pending batch before rolling back).
    pub fn rollback_batch(&self, store: &Store, height: Height) -> Result<WriteBatch> {
        let mut batch = WriteBatch::default();
        for s in &self.scripts {
            truncate_history(store, &mut batch, s, self.first_txnum)?;
        }
        for (s, o) in &self.created {
            batch.delete_cf(store.cf(CF_UTXO), keys::utxo_key(s, o));
        }
        for (s, o, n, value) in &self.spent {
            batch.put_cf(
                store.cf(CF_UTXO),
                keys::utxo_key(s, o),
                keys::utxo_value(*n, *value),
            );
        }
        for (o, n) in &self.spends {
            batch.delete_cf(store.cf(CF_SPENDS), keys::spend_key(o, *n));
        }
        for n in self.first_txnum.0..self.first_txnum.0 + self.tx_count {
            let n = TxNum(n);
            if let Some(txid) = store.txid_at(n, None)? {
                batch.delete_cf(store.cf(CF_TXNUMS), keys::txnum_key(&txid, n));
            }
            batch.delete_cf(store.cf(CF_TXIDS), keys::txid_key(n));
        }
        batch.delete_cf(store.cf(CF_BLOCKS), keys::block_key(height));
        batch.delete_cf(store.cf(CF_UNDO), keys::undo_key(height));
        Ok(batch)
    }
}

/// Removes tx numbers >= `from` from a script's history rows.
fn truncate_history(
    store: &Store,
    batch: &mut WriteBatch,
    s: &ScriptKey,
    from: TxNum,
) -> Result<()> {
    let cf = store.cf(CF_HISTORY);
    let mut it = store.db().raw_iterator_cf(cf);
    it.seek_for_prev(keys::history_key(s, TxNum::MAX));
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        if !k.starts_with(&s.0) {
            break;
        }
        let mut row = Vec::new();
        keys::decode_history_row(k, v, &mut row).context("corrupt history row")?;
        if row[0] >= from {
            batch.delete_cf(cf, k);
        } else {
            let keep = row.partition_point(|n| *n < from);
            if keep < row.len() {
                batch.put_cf(cf, k, keys::history_value(&row[1..keep], row[0]));
            }
            break;
        }
        it.prev();
    }
    it.status().context("history read failed")?;
    Ok(())
}

fn take<'a>(d: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if d.len() < n {
        return None;
    }
    let (a, b) = d.split_at(n);
    *d = b;
    Some(a)
}

/// A count of items of at least `min` bytes each that the rest of the data can hold.
fn count(d: &mut &[u8], min: usize) -> Option<u64> {
    let n = get_varint(d)?;
    (n.saturating_mul(min as u64) <= d.len() as u64).then_some(n)
}

fn script(d: &mut &[u8]) -> Option<ScriptKey> {
    ScriptKey::from_slice(take(d, ScriptKey::LEN)?)
}

fn put_outpoint(v: &mut Vec<u8>, o: &OutPointKey) {
    v.extend_from_slice(&o.txid.0);
    put_varint(v, o.vout as u64);
}

fn outpoint(d: &mut &[u8]) -> Option<OutPointKey> {
    let txid = TxidPrefix(take(d, TxidPrefix::LEN)?.try_into().ok()?);
    let vout = u32::try_from(get_varint(d)?).ok()?;
    Some(OutPointKey { txid, vout })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip_and_garbage() {
        let s = ScriptKey([5; 11]);
        let o = OutPointKey {
            txid: TxidPrefix([6; 8]),
            vout: 300,
        };
        let rec = UndoRecord {
            first_txnum: TxNum(77),
            tx_count: 3,
            scripts: vec![s, ScriptKey([1; 11])],
            created: vec![(s, o)],
            spent: vec![(s, o, TxNum(12), 5_000_000_000)],
            spends: vec![(o, TxNum(78)), (o, TxNum(79))],
        };
        let enc = rec.encode();
        assert_eq!(UndoRecord::decode(&enc), Some(rec));
        for cut in 0..enc.len() {
            assert_eq!(UndoRecord::decode(&enc[..cut]), None);
        }
        let mut bad = enc.clone();
        bad[0] = 99;
        assert_eq!(UndoRecord::decode(&bad), None);
    }
}
