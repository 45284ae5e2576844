//! The `outpoints` family: each unspent output by its outpoint (script key, funding tx number,
//! value), so that sync can tell what an input spends when the daemon does not say.
//!
//! Only an index that syncs from raw blocks needs it (altcoin daemons, Bitcoin Core before 23,
//! `--block-source raw`); a Bitcoin index fed by `/rest/spenttxouts` or `getblock 3` never
//! creates it, and keeps its speed and size. Once started (a `meta` flag), the writer keeps it
//! current whatever the source, so an index can move between sources freely. Starting it on an
//! index that already has blocks builds it from the `utxo` family in one pass, not a resync.
//!
//! A row is a hint checked against 12 bytes of the txid (8 in the key, 4 in the value); a miss
//! or a mismatch sends the writer to the exact path (the funding tx from `txnums`, its block
//! from the daemon), so a collision can never attribute an input to the wrong script.

use super::keys::{self, OutPointId, OutPointKey, OutputInfo};
use super::{CF_META, CF_OUTPOINTS, CF_UTXO, Store};
use crate::types::TxNum;
use anyhow::{Context, Result};
use rocksdb::WriteBatch;
use std::sync::atomic::Ordering;

/// Present while the writer keeps `outpoints` current.
const META_OUTPOINTS: &[u8] = b"outpoints";
/// `utxo` rows converted per write batch while building.
const BUILD_CHUNK: usize = 1 << 20;

impl Store {
    pub(super) fn load_outpoints_flag(&self) -> Result<()> {
        let kept = match self.db.cf_handle(CF_META) {
            Some(cf) => self.db.get_cf(cf, META_OUTPOINTS)?.is_some(),
            None => false,
        };
        self.keeps_outpoints.store(kept, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the writer keeps `outpoints` current.
    pub fn keeps_outpoints(&self) -> bool {
        self.keeps_outpoints.load(Ordering::Relaxed)
    }

    /// Starts keeping `outpoints`. An index with blocks first gets a row for every output in
    /// `utxo` (their full txids from `txids`); the flag is written last, so an interrupted build
    /// starts over. Call it only while no batch is being written.
    pub fn keep_outpoints(&self) -> Result<()> {
        if self.keeps_outpoints() {
            return Ok(());
        }
        let cf = self.cf(CF_OUTPOINTS);
        // Rows left by an interrupted build may describe outputs spent since: start clean.
        let mut clear = WriteBatch::default();
        clear.delete_range_cf(cf, &[][..], &[0xffu8; 16][..]);
        self.write(clear)?;
        let started = std::time::Instant::now();
        if let Some(tip) = self.tip().height() {
            tracing::info!(
                "building the outpoints table from the {} outputs in the index (tip {tip}): \
                 syncing from raw blocks needs it; this is done once",
                self.approximate_utxo_count()
            );
        }
        let mut it = self.db.raw_iterator_cf(self.cf(CF_UTXO));
        it.seek_to_first();
        let mut rows: Vec<(OutPointKey, OutputInfo)> = Vec::with_capacity(1024);
        let mut total = 0u64;
        loop {
            let done = !it.valid();
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                let (o, funding, value) = keys::decode_utxo(k, v).context("corrupt utxo row")?;
                let script = crate::types::ScriptKey::from_slice(k).context("corrupt utxo key")?;
                rows.push((
                    o,
                    OutputInfo {
                        script,
                        funding,
                        value,
                    },
                ));
                it.next();
            }
            if rows.len() >= BUILD_CHUNK || (done && !rows.is_empty()) {
                total += rows.len() as u64;
                self.write_outpoint_rows(&mut rows)?;
                tracing::info!("outpoints: {total} rows written");
            }
            if done {
                break;
            }
        }
        it.status().context("utxo read failed")?;
        let mut flag = WriteBatch::default();
        flag.put_cf(self.cf(CF_META), META_OUTPOINTS, []);
        self.write_meta(flag)?;
        self.keeps_outpoints.store(true, Ordering::Relaxed);
        if total > 0 {
            tracing::info!(
                "outpoints table built: {total} rows in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    /// Writes `outpoints` rows for `utxo` rows (sorted by funding tx here, so that the txids
    /// are read chunk by chunk), and empties `rows`.
    fn write_outpoint_rows(&self, rows: &mut Vec<(OutPointKey, OutputInfo)>) -> Result<()> {
        rows.sort_unstable_by_key(|r| r.1.funding);
        let nums: Vec<TxNum> = rows.iter().map(|r| r.1.funding).collect();
        let txids = self.txids_at(&nums, None)?;
        let mut batch = WriteBatch::default();
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let cf = self.cf(CF_OUTPOINTS);
        for ((o, info), txid) in rows.iter().zip(&txids) {
            if txid[..8] != o.txid.0 {
                anyhow::bail!(
                    "index corrupt: utxo row of tx number {} does not match its txid",
                    info.funding.0
                );
            }
            let id = OutPointId::new(txid, o.vout);
            keys::outpoint_key_into(&mut k, o);
            keys::outpoint_value_into(&mut v, id.check(), info);
            batch.put_cf(cf, &k, &v);
        }
        self.write(batch)?;
        rows.clear();
        Ok(())
    }

    fn approximate_utxo_count(&self) -> u64 {
        self.db
            .property_int_value_cf(self.cf(CF_UTXO), "rocksdb.estimate-num-keys")
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// The committed outputs that `wanted` outpoints name, in order: `None` for a miss or a
    /// row whose txid check differs (another output sharing the key's 8 bytes).
    pub fn outputs_at(&self, wanted: &[OutPointId]) -> Result<Vec<Option<OutputInfo>>> {
        let mut k = Vec::with_capacity(16);
        let keys: Vec<Vec<u8>> = wanted
            .iter()
            .map(|id| {
                keys::outpoint_key_into(&mut k, &id.key());
                k.clone()
            })
            .collect();
        let found = self
            .db
            .batched_multi_get_cf(self.cf(CF_OUTPOINTS), &keys, false);
        wanted
            .iter()
            .zip(found)
            .map(|(id, r)| {
                Ok(match r.context("outpoints read failed")? {
                    None => None,
                    Some(v) => {
                        let (check, info) =
                            keys::decode_outpoint_value(&v).context("corrupt outpoints row")?;
                        (check == id.check()).then_some(info)
                    }
                })
            })
            .collect()
    }
}
