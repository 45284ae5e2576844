//! Reads of the index tables, from the live database or from a snapshot. The query layer uses
//! snapshots (one tip per request); the writer reads live data while it holds the only pen.

use super::keys::{self, OutPointKey, TXNUM_KEY_PREFIX};
use super::{CF_HISTORY, CF_SPENDS, CF_TXIDS, CF_TXNUMS, CF_UTXO, Store};
use crate::types::{ScriptKey, TxNum};
use anyhow::{Context, Result};
use rocksdb::{ReadOptions, Snapshot};

/// Read options bounded to keys that start with `prefix`.
fn prefix_opts(snap: Option<&Snapshot>, prefix: &[u8]) -> ReadOptions {
    let mut o = ReadOptions::default();
    if let Some(s) = snap {
        o.set_snapshot(s);
    }
    o.set_iterate_lower_bound(prefix.to_vec());
    if let Some(upper) = prefix_successor(prefix) {
        o.set_iterate_upper_bound(upper);
    }
    o
}

/// The smallest key greater than every key starting with `prefix` (None if all 0xff).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xff {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

/// Finds tx number `n` in the `txids` chunks, reusing the iterator's position when the chunk it
/// is on holds `n` (sorted lookups then cost one seek per chunk).
fn txid_in_chunks(it: &mut rocksdb::DBRawIterator<'_>, n: TxNum) -> Result<Option<[u8; 32]>> {
    for attempt in 0..2 {
        if it.valid()
            && let (Some(k), Some(v)) = (it.key(), it.value())
        {
            let first = TxNum::from_bytes(k).context("corrupt txids key")?;
            if first <= n {
                let at = ((n.0 - first.0) as usize) * 32;
                if let Some(t) = v.get(at..at + 32) {
                    return Ok(Some(t.try_into().context("corrupt txids row")?));
                }
            }
        }
        if attempt == 0 {
            it.seek_for_prev(keys::txid_key(n));
        }
    }
    it.status().context("txids read failed")?;
    Ok(None)
}

fn point_opts(snap: Option<&Snapshot>) -> ReadOptions {
    let mut o = ReadOptions::default();
    if let Some(s) = snap {
        o.set_snapshot(s);
    }
    o
}

impl Store {
    /// Txid of tx number `n`.
    pub fn txid_at(&self, n: TxNum, snap: Option<&Snapshot>) -> Result<Option<[u8; 32]>> {
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_TXIDS), point_opts(snap));
        txid_in_chunks(&mut it, n)
    }

    /// Txids of many tx numbers (sorted ascending); errors if one is missing.
    pub fn txids_at(&self, nums: &[TxNum], snap: Option<&Snapshot>) -> Result<Vec<[u8; 32]>> {
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_TXIDS), point_opts(snap));
        let mut out = Vec::with_capacity(nums.len());
        for n in nums {
            let txid = txid_in_chunks(&mut it, *n)?
                .with_context(|| format!("index corrupt: no txid for tx number {}", n.0))?;
            out.push(txid);
        }
        Ok(out)
    }

    /// Tx number of a txid (internal byte order), verified against `txids`.
    pub fn txnum_of(&self, txid: &[u8; 32], snap: Option<&Snapshot>) -> Result<Option<TxNum>> {
        let cf = self.cf(CF_TXNUMS);
        let mut found = None;
        for item in self.db.iterator_cf_opt(
            cf,
            prefix_opts(snap, &txid[..TXNUM_KEY_PREFIX]),
            rocksdb::IteratorMode::Start,
        ) {
            let (k, _) = item?;
            let n = TxNum::from_bytes(&k[TXNUM_KEY_PREFIX..]).context("corrupt txnums key")?;
            if self.txid_at(n, snap)?.as_ref() == Some(txid) {
                // A txid can occur twice (BIP30's duplicate coinbases): the later one is live.
                found = Some(n);
            }
        }
        Ok(found)
    }

    /// Appends the tx numbers in a script's history, in chain order.
    pub fn history(
        &self,
        s: &ScriptKey,
        snap: Option<&Snapshot>,
        out: &mut Vec<TxNum>,
    ) -> Result<()> {
        // A raw iterator: no allocation per row (long histories have thousands of rows).
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_HISTORY), prefix_opts(snap, &s.0));
        it.seek(s.0);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            keys::decode_history_row(k, v, out).context("corrupt history row")?;
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// The tx numbers in a script's history within `from..to`, in chain order, at most `max`
    /// of them (a page): reads only the rows that can hold them, whatever the history's size.
    pub fn history_range(
        &self,
        s: &ScriptKey,
        range: std::ops::Range<TxNum>,
        max: usize,
        snap: Option<&Snapshot>,
        out: &mut Vec<TxNum>,
    ) -> Result<()> {
        if range.start >= range.end || max == 0 {
            return Ok(());
        }
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_HISTORY), prefix_opts(snap, &s.0));
        // The row that starts at or before `from` may hold entries from `from` on.
        it.seek_for_prev(keys::history_key(s, range.start));
        if !it.valid() {
            it.seek(s.0);
        }
        let mut row = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            row.clear();
            keys::decode_history_row(k, v, &mut row).context("corrupt history row")?;
            if row.first().is_some_and(|first| *first >= range.end) {
                break;
            }
            for n in &row {
                if range.contains(n) {
                    out.push(*n);
                    if out.len() >= max {
                        return Ok(());
                    }
                }
            }
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// A script's unspent outputs: (outpoint key, funding tx number, value), in key order.
    pub fn utxos(
        &self,
        s: &ScriptKey,
        snap: Option<&Snapshot>,
    ) -> Result<Vec<(OutPointKey, TxNum, u64)>> {
        let mut out = Vec::new();
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_UTXO), prefix_opts(snap, &s.0));
        it.seek(s.0);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            out.push(keys::decode_utxo(k, v).context("corrupt utxo row")?);
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The sum of a script's unspent outputs funded below tx number `end`: the scan of
    /// [`Store::utxos`] without decoding outpoints or collecting rows (a busy script has
    /// hundreds of thousands).
    pub fn utxo_balance(&self, s: &ScriptKey, end: TxNum, snap: Option<&Snapshot>) -> Result<u64> {
        let mut sum = 0u64;
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_UTXO), prefix_opts(snap, &s.0));
        it.seek(s.0);
        while let Some(v) = it.value() {
            let (n, value) = keys::decode_utxo_value(v).context("corrupt utxo row")?;
            if n < end {
                sum = sum.saturating_add(value);
            }
            it.next();
        }
        it.status()?;
        Ok(sum)
    }

    /// The funding tx number and value of one unspent output.
    pub fn utxo(
        &self,
        s: &ScriptKey,
        o: &OutPointKey,
        snap: Option<&Snapshot>,
    ) -> Result<Option<(TxNum, u64)>> {
        let k = keys::utxo_key(s, o);
        let v = self
            .db
            .get_cf_opt(self.cf(CF_UTXO), &k, &point_opts(snap))?;
        Ok(v.and_then(|v| keys::decode_utxo(&k, &v))
            .map(|(_, n, value)| (n, value)))
    }

    /// Tx number of the transaction that spends output `vout` of `txid`, if it is spent.
    pub fn spender(
        &self,
        txid: &[u8; 32],
        vout: u32,
        snap: Option<&Snapshot>,
    ) -> Result<Option<TxNum>> {
        let o = OutPointKey {
            txid: crate::types::TxidPrefix::from_bytes(txid),
            vout,
        };
        let prefix = keys::spend_prefix(&o);
        let mut found = None;
        for item in self.db.iterator_cf_opt(
            self.cf(CF_SPENDS),
            prefix_opts(snap, &prefix),
            rocksdb::IteratorMode::Start,
        ) {
            let (k, v) = item?;
            let n = TxNum::from_bytes(&k[prefix.len()..]).context("corrupt spends key")?;
            if k.len() == prefix.len() + TxNum::LEN && v.as_ref() == &txid[keys::SPEND_CHECK] {
                found = Some(n);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
    }
}
