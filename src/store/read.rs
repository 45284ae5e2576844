//! Reads of the index tables, from the live database or from a snapshot. The query layer uses
//! snapshots (one tip per request); the writer reads live data while it holds the only pen.

use super::keys::{self, OutPointKey, TXNUM_KEY_PREFIX};
use super::{CF_HISTORY, CF_SPENDS, CF_TXIDS, CF_TXNUMS, CF_UTXO, Store};
use crate::types::{ScriptKey, TxNum};
use anyhow::{Context, Result};
use rocksdb::{ReadOptions, Snapshot};

/// Read options bounded to keys that start with `prefix`.
fn prefix_opts(snap: Option<&Snapshot>, prefix: &[u8]) -> ReadOptions {
    range_opts(snap, prefix, prefix_successor(prefix))
}

/// Read options bounded to `[lower, upper)` (no upper bound: to the end).
fn range_opts(snap: Option<&Snapshot>, lower: &[u8], upper: Option<Vec<u8>>) -> ReadOptions {
    let mut o = ReadOptions::default();
    if let Some(s) = snap {
        o.set_snapshot(s);
    }
    o.set_iterate_lower_bound(lower.to_vec());
    if let Some(upper) = upper {
        o.set_iterate_upper_bound(upper);
    }
    o
}

/// Rows a balance scan reads on its own before it shares the rest of the script's range out:
/// a script with fewer (nearly all) costs no thread.
pub const BALANCE_SPLIT_AFTER: usize = 4_096;

/// Threads a large balance scan uses in all, the calling one included.
fn balance_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

/// Where to cut the rest of a script's `utxo` range when the scan is at outpoint keys whose
/// first txid byte is `first`: the starts of the parts handed to other threads (the calling
/// thread keeps `[first, result[0])`), equal shares of the bytes left.
fn split_points(first: u8, threads: usize) -> Vec<u8> {
    let left = 256 - first as usize;
    let parts = threads.min(left);
    (1..parts)
        .map(|i| (first as usize + left * i / parts) as u8)
        .collect()
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
    /// [`Store::utxos`] without decoding outpoints or collecting rows. A busy script has
    /// hundreds of thousands of rows: after [`BALANCE_SPLIT_AFTER`] of them, the rest of its
    /// range is cut by outpoint (the keys' txid prefixes are uniform) and the parts are
    /// summed on as many threads as there are cores, each with its own reads from disk.
    pub fn utxo_balance(&self, s: &ScriptKey, end: TxNum, snap: Option<&Snapshot>) -> Result<u64> {
        let upper = prefix_successor(&s.0);
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_UTXO), prefix_opts(snap, &s.0));
        it.seek(s.0);
        let mut sum = 0u64;
        let mut rows = 0usize;
        // Where this thread stops once the rest has been handed out.
        let mut stop: Option<Vec<u8>> = None;
        std::thread::scope(|scope| -> Result<u64> {
            let mut others = Vec::new();
            // No early return while parts are out: every thread is joined below.
            let mine: Result<u64> = loop {
                let (Some(k), Some(v)) = (it.key(), it.value()) else {
                    break it.status().map(|()| sum).map_err(Into::into);
                };
                if stop.as_deref().is_some_and(|stop| k >= stop) {
                    break Ok(sum);
                }
                if rows == BALANCE_SPLIT_AFTER
                    && let Some(&first) = k.get(s.0.len())
                {
                    let bounds = split_points(first, balance_threads());
                    for (i, b) in bounds.iter().enumerate() {
                        let lower = [&s.0[..], &[*b]].concat();
                        let part_upper = match bounds.get(i + 1) {
                            Some(next) => Some([&s.0[..], &[*next]].concat()),
                            None => upper.clone(),
                        };
                        others.push(
                            scope.spawn(move || self.sum_utxo_range(&lower, part_upper, end, snap)),
                        );
                    }
                    stop = bounds.first().map(|b| [&s.0[..], &[*b]].concat());
                }
                match keys::decode_utxo_value(v) {
                    Some((n, value)) if n < end => sum = sum.saturating_add(value),
                    Some(_) => {}
                    None => break Err(anyhow::anyhow!("corrupt utxo row")),
                }
                rows += 1;
                it.next();
            };
            others.into_iter().fold(mine, |total, h| {
                let part = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a balance scan thread panicked")));
                Ok(total?.saturating_add(part?))
            })
        })
    }

    /// The sum of the `utxo` rows in `[lower, upper)` funded below tx number `end`.
    fn sum_utxo_range(
        &self,
        lower: &[u8],
        upper: Option<Vec<u8>>,
        end: TxNum,
        snap: Option<&Snapshot>,
    ) -> Result<u64> {
        let mut it = self
            .db
            .raw_iterator_cf_opt(self.cf(CF_UTXO), range_opts(snap, lower, upper));
        it.seek(lower);
        let mut sum = 0u64;
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

    /// [`Store::spender`] of many outputs, in order, through one iterator (seeks in key
    /// order): a request over thousands of outputs does not pay for an iterator each.
    pub fn spenders(
        &self,
        outputs: &[([u8; 32], u32)],
        snap: Option<&Snapshot>,
    ) -> Result<Vec<Option<TxNum>>> {
        let mut order: Vec<(Vec<u8>, usize)> = outputs
            .iter()
            .enumerate()
            .map(|(i, (txid, vout))| {
                let o = OutPointKey {
                    txid: crate::types::TxidPrefix::from_bytes(txid),
                    vout: *vout,
                };
                (keys::spend_prefix(&o), i)
            })
            .collect();
        order.sort_unstable();
        let mut opts = ReadOptions::default();
        if let Some(s) = snap {
            opts.set_snapshot(s);
        }
        let mut it = self.db.raw_iterator_cf_opt(self.cf(CF_SPENDS), opts);
        let mut found = vec![None; outputs.len()];
        for (prefix, i) in &order {
            it.seek(prefix);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !k.starts_with(prefix) {
                    break;
                }
                let n = TxNum::from_bytes(&k[prefix.len()..]).context("corrupt spends key")?;
                if k.len() == prefix.len() + TxNum::LEN && v == &outputs[*i].0[keys::SPEND_CHECK] {
                    found[*i] = Some(n);
                }
                it.next();
            }
        }
        it.status()?;
        Ok(found)
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
    use super::{BALANCE_SPLIT_AFTER, prefix_successor, split_points};
    use crate::chain::Bitcoin;
    use crate::store::keys::{self, OutPointKey};
    use crate::store::{CF_UTXO, Store};
    use crate::types::{ScriptKey, TxNum, TxidPrefix};
    use rocksdb::WriteBatch;

    #[test]
    fn split_points_share_the_bytes_left() {
        assert_eq!(split_points(0, 2), vec![128]);
        assert_eq!(split_points(0, 4), vec![64, 128, 192]);
        assert_eq!(split_points(200, 2), vec![228]);
        assert_eq!(split_points(254, 4), vec![255]);
        assert_eq!(split_points(255, 4), Vec::<u8>::new());
    }

    /// A script with far more rows than one thread scans alone, between two neighbours whose
    /// rows must not count, some funded above the end: the split sum equals the plain one.
    #[test]
    fn a_large_balance_is_summed_in_parts_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &Bitcoin::REGTEST, 16).unwrap();
        let mut key = [7u8; 11];
        let script = ScriptKey(key);
        key[10] = 6;
        let before = ScriptKey(key);
        key[10] = 8;
        let after = ScriptKey(key);
        let rows = BALANCE_SPLIT_AFTER * 3 + 123;
        let end = TxNum(rows as u64 - 1_000);
        let mut expected = 0u64;
        let mut batch = WriteBatch::default();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..rows {
            // Outpoints spread over the whole txid space, as hashes are.
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let o = OutPointKey {
                txid: TxidPrefix(state.to_be_bytes()),
                vout: (i % 3) as u32,
            };
            let (n, value) = (TxNum(i as u64), 1_000 + i as u64);
            if n < end {
                expected += value;
            }
            for s in [&before, &script, &after] {
                batch.put_cf(
                    store.cf(CF_UTXO),
                    keys::utxo_key(s, &o),
                    keys::utxo_value(n, value),
                );
            }
        }
        store.write(batch).unwrap();
        let snap = store.db().snapshot();
        assert_eq!(
            store.utxo_balance(&script, end, Some(&snap)).unwrap(),
            expected
        );
        let plain: u64 = store
            .utxos(&script, Some(&snap))
            .unwrap()
            .iter()
            .filter(|(_, n, _)| *n < end)
            .map(|(_, _, v)| v)
            .sum();
        assert_eq!(plain, expected);
        assert_eq!(store.utxos(&script, None).unwrap().len(), rows);
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
    }
}
