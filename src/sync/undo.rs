//! Undo records: what it takes to remove one block from the index exactly.
//!
//! A record lists the scripts the block paid to and, for every input, the output it spent
//! (script, outpoint, funding transaction, value) and the spending tx number. From that follow
//! the scripts whose history the block extended (truncated on undo), the outputs to delete and to
//! put back (those funded before the block), and the spends to forget. It is derived from the
//! block and its spent outputs alone, so the same code makes it while indexing (stored for the
//! last `REORG_LIMIT` blocks) and when a deeper reorg refetches a stale block from bitcoind.
//!
//! The funding transaction is kept as its tx number when the indexer has it in memory, else as
//! its txid ([`Funding`]): looking tx numbers up while indexing cost a random read per input of
//! every block in the undo window (a third of the sync speed with regtest's and the testnets'
//! window of 8000 blocks); an undo, rare, looks them up instead. Records of version 3 (tx
//! numbers only) are still read. An index that keeps `outpoints` (the raw block
//! source) gets those rows removed and put back with the `utxo` rows.

use super::prepare::{PreparedBlock, PreparedIn};
use crate::store::keys::{self, OutPointId, OutPointKey, OutputInfo, get_varint, put_varint};
use crate::store::{
    CF_BLOCKS, CF_HISTORY, CF_OUTPOINTS, CF_SPENDS, CF_TXIDS, CF_TXNUMS, CF_UNDO, CF_UTXO, Store,
};
use crate::types::{Height, ScriptKey, TxNum, TxidPrefix};
use anyhow::{Context, Result};
use bitcoin::hashes::Hash;
use rocksdb::WriteBatch;
use std::collections::HashMap;

/// The transaction that funded a spent output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// Its tx number (inside this block when >= `first_txnum`).
    Num(TxNum),
    /// Its txid, for an output funded before this block; its tx number is looked up on undo.
    Txid([u8; 32]),
}

/// One input of the block: the output it spent and who spent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentEntry {
    pub script: ScriptKey,
    pub outpoint: OutPointKey,
    pub funding: Funding,
    pub value: u64,
    pub spender: TxNum,
}

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UndoRecord {
    pub first_txnum: TxNum,
    pub tx_count: u64,
    /// Scripts of the outputs the block created (sorted, each once); their `utxo` rows funded
    /// by the block are found by prefix scan on undo.
    pub created: Vec<ScriptKey>,
    pub spent: Vec<SpentEntry>,
}

const RECORD_VERSION: u8 = 4;
/// Records with tx numbers only, written before [`Funding::Txid`]; still read.
const RECORD_VERSION_TXNUMS: u8 = 3;

impl UndoRecord {
    /// Builds the record of `b`, whose first tx number is `first`; `funding` gives the
    /// transaction an input spends, given the input's index in `b.ins` (called only for outputs
    /// funded before this block).
    pub fn for_block(
        b: &PreparedBlock,
        first: TxNum,
        mut funding: impl FnMut(usize, &PreparedIn) -> Result<Funding>,
    ) -> Result<UndoRecord> {
        let in_block: HashMap<[u8; 32], TxNum> = b
            .txs
            .iter()
            .enumerate()
            .map(|(pos, t)| (*t.txid.as_ref(), TxNum(first.0 + pos as u64)))
            .collect();
        let mut rec = UndoRecord {
            first_txnum: first,
            tx_count: b.txs.len() as u64,
            created: Vec::with_capacity(b.outs.len()),
            spent: Vec::with_capacity(b.ins.len()),
        };
        for (pos, tx) in b.txs.iter().enumerate() {
            let spender = TxNum(first.0 + pos as u64);
            rec.created
                .extend(b.outs[tx.outs.clone()].iter().map(|o| o.script));
            for index in tx.ins.clone() {
                let i = &b.ins[index];
                let outpoint = OutPointKey {
                    txid: TxidPrefix::from_bytes(&i.prev_txid),
                    vout: i.prev_vout,
                };
                let funding = match in_block.get(&i.prev_txid) {
                    Some(n) => Funding::Num(*n),
                    None => funding(index, i)?,
                };
                rec.spent.push(SpentEntry {
                    script: i.script,
                    outpoint,
                    funding,
                    value: i.value,
                    spender,
                });
            }
        }
        rec.created.sort_unstable();
        rec.created.dedup();
        Ok(rec)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.created.len() * 21 + self.spent.len() * 32);
        v.push(RECORD_VERSION);
        v.extend_from_slice(&self.first_txnum.to_bytes());
        put_varint(&mut v, self.tx_count);
        put_varint(&mut v, self.created.len() as u64);
        for s in &self.created {
            v.extend_from_slice(&s.0);
        }
        put_varint(&mut v, self.spent.len() as u64);
        for e in &self.spent {
            v.extend_from_slice(&e.script.0);
            put_outpoint(&mut v, &e.outpoint);
            match &e.funding {
                Funding::Num(n) => {
                    v.push(0);
                    v.extend_from_slice(&n.to_bytes());
                }
                // The first bytes are the outpoint's prefix already.
                Funding::Txid(t) => {
                    v.push(1);
                    v.extend_from_slice(&t[TxidPrefix::LEN..]);
                }
            }
            put_varint(&mut v, e.value);
            // The spender is in this block: store its position.
            put_varint(&mut v, e.spender.0.saturating_sub(self.first_txnum.0));
        }
        v
    }

    pub fn decode(mut d: &[u8]) -> Option<UndoRecord> {
        let d = &mut d;
        let version = take(d, 1)?[0];
        if version != RECORD_VERSION && version != RECORD_VERSION_TXNUMS {
            return None;
        }
        let first_txnum = TxNum::from_bytes(take(d, 5)?)?;
        let tx_count = get_varint(d)?;
        let mut rec = UndoRecord {
            first_txnum,
            tx_count,
            ..Default::default()
        };
        for _ in 0..count(d, ScriptKey::LEN)? {
            rec.created.push(script(d)?);
        }
        for _ in 0..count(d, 27)? {
            let (script, outpoint) = (script(d)?, outpoint(d)?);
            let tag = if version == RECORD_VERSION_TXNUMS {
                0
            } else {
                take(d, 1)?[0]
            };
            let funding = match tag {
                0 => Funding::Num(TxNum::from_bytes(take(d, 5)?)?),
                1 => {
                    let mut t = [0u8; 32];
                    t[..TxidPrefix::LEN].copy_from_slice(&outpoint.txid.0);
                    t[TxidPrefix::LEN..].copy_from_slice(take(d, 32 - TxidPrefix::LEN)?);
                    Funding::Txid(t)
                }
                _ => return None,
            };
            let value = get_varint(d)?;
            let spender = TxNum(first_txnum.0.checked_add(get_varint(d)?)?);
            rec.spent.push(SpentEntry {
                script,
                outpoint,
                funding,
                value,
                spender,
            });
        }
        d.is_empty().then_some(rec)
    }

    /// A batch that removes the block at `height` (the current tip) with this record. Reads the
    /// store for history rows to truncate and txids to unindex, so the store must hold every
    /// earlier batch (the writer flushes its pending batch before rolling back).
    pub fn rollback_batch(&self, store: &Store, height: Height) -> Result<WriteBatch> {
        let mut batch = WriteBatch::default();
        let mut scripts: Vec<ScriptKey> = self
            .created
            .iter()
            .copied()
            .chain(self.spent.iter().map(|e| e.script))
            .collect();
        scripts.sort_unstable();
        scripts.dedup();
        for s in &scripts {
            truncate_history(store, &mut batch, s, self.first_txnum)?;
        }
        let outpoints = store.keeps_outpoints();
        let mut k = Vec::new();
        // The block is the tip: its outputs are the rows funded at or after its first tx.
        for s in &self.created {
            for (o, n, _) in store.utxos(s, None)? {
                if n >= self.first_txnum {
                    batch.delete_cf(store.cf(CF_UTXO), keys::utxo_key(s, &o));
                    if outpoints {
                        keys::outpoint_key_into(&mut k, &o);
                        batch.delete_cf(store.cf(CF_OUTPOINTS), &k);
                    }
                }
            }
        }
        let mut v = Vec::new();
        for e in &self.spent {
            batch.delete_cf(store.cf(CF_SPENDS), keys::spend_key(&e.outpoint, e.spender));
            let (funding, txid) = match e.funding {
                Funding::Num(n) => (n, None),
                Funding::Txid(t) => {
                    let n = store.txnum_of(&t, None)?.with_context(|| {
                        format!(
                            "index corrupt: the funding tx {} of a spent output is not indexed",
                            bitcoin::Txid::from_byte_array(t)
                        )
                    })?;
                    (n, Some(t))
                }
            };
            if funding < self.first_txnum {
                let val = keys::utxo_value(funding, e.value);
                batch.put_cf(
                    store.cf(CF_UTXO),
                    keys::utxo_key(&e.script, &e.outpoint),
                    val,
                );
                if outpoints {
                    // The row's check bytes come from the funding tx's full txid.
                    let txid = match txid {
                        Some(t) => t,
                        None => store.txid_at(funding, None)?.with_context(|| {
                            format!("index corrupt: no txid for tx number {}", funding.0)
                        })?,
                    };
                    let info = OutputInfo {
                        script: e.script,
                        funding,
                        value: e.value,
                    };
                    keys::outpoint_key_into(&mut k, &e.outpoint);
                    let check = OutPointId::new(&txid, e.outpoint.vout).check();
                    keys::outpoint_value_into(&mut v, check, &info);
                    batch.put_cf(store.cf(CF_OUTPOINTS), &k, &v);
                }
            }
        }
        let nums: Vec<TxNum> = (self.first_txnum.0..self.first_txnum.0 + self.tx_count)
            .map(TxNum)
            .collect();
        for (n, txid) in nums.iter().zip(store.txids_at(&nums, None)?) {
            batch.delete_cf(store.cf(CF_TXNUMS), keys::txnum_key(&txid, *n));
        }
        truncate_txids(store, &mut batch, self.first_txnum)?;
        batch.delete_cf(store.cf(CF_BLOCKS), keys::block_key(height));
        batch.delete_cf(store.cf(CF_UNDO), keys::undo_key(height));
        crate::store::tweaks::delete_sp_rows(store, &mut batch, height);
        Ok(batch)
    }
}

/// Removes tx numbers >= `from` from the `txids` chunks (they are the last ones).
fn truncate_txids(store: &Store, batch: &mut WriteBatch, from: TxNum) -> Result<()> {
    let cf = store.cf(CF_TXIDS);
    let mut it = store.db().raw_iterator_cf(cf);
    it.seek_to_last();
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        let first = TxNum::from_bytes(k).context("corrupt txids key")?;
        if first >= from {
            batch.delete_cf(cf, k);
        } else {
            let keep = ((from.0 - first.0) as usize * 32).min(v.len());
            if keep < v.len() {
                batch.put_cf(cf, k, &v[..keep]);
            }
            break;
        }
        it.prev();
    }
    it.status().context("txids read failed")?;
    Ok(())
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
            created: vec![ScriptKey([1; 11]), s],
            spent: vec![
                SpentEntry {
                    script: s,
                    outpoint: o,
                    funding: Funding::Num(TxNum(12)),
                    value: 5_000_000_000,
                    spender: TxNum(78),
                },
                SpentEntry {
                    script: s,
                    outpoint: o,
                    // A txid starts with its outpoint's prefix.
                    funding: Funding::Txid({
                        let mut t = [9; 32];
                        t[..8].copy_from_slice(&o.txid.0);
                        t
                    }),
                    value: 1,
                    spender: TxNum(79),
                },
            ],
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

    /// A version-3 record (tx numbers only, as every index made before version 4 holds in its
    /// undo window) still decodes: an upgraded Ferrum can undo blocks the old one indexed.
    #[test]
    fn version_3_records_still_decode() {
        let s = ScriptKey([5; 11]);
        let o = OutPointKey {
            txid: TxidPrefix([6; 8]),
            vout: 300,
        };
        // The v3 layout, written out: version, first tx number, tx count, created scripts,
        // spent entries (script, outpoint, 5-byte funding tx number, value, spender offset).
        let mut v = vec![3u8];
        v.extend_from_slice(&TxNum(77).to_bytes());
        put_varint(&mut v, 2);
        put_varint(&mut v, 1);
        v.extend_from_slice(&s.0);
        put_varint(&mut v, 1);
        v.extend_from_slice(&s.0);
        put_outpoint(&mut v, &o);
        v.extend_from_slice(&TxNum(12).to_bytes());
        put_varint(&mut v, 5_000);
        put_varint(&mut v, 1);
        let rec = UndoRecord::decode(&v).unwrap();
        assert_eq!(rec.first_txnum, TxNum(77));
        assert_eq!(rec.created, vec![s]);
        assert_eq!(
            rec.spent,
            vec![SpentEntry {
                script: s,
                outpoint: o,
                funding: Funding::Num(TxNum(12)),
                value: 5_000,
                spender: TxNum(78),
            }]
        );
        // Re-encoded, it is a version-4 record with the same content.
        let again = rec.encode();
        assert_eq!(again[0], RECORD_VERSION);
        assert_eq!(UndoRecord::decode(&again), Some(rec));
    }
}
