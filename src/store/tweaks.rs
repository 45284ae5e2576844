//! The silent payments index (`sp_tweaks`, `sp_outputs`): per block, the tweak and taproot
//! outputs of each eligible transaction (see [`crate::silentpayments::block`]).
//!
//! Kept only with `FERRUM_SILENT_PAYMENTS=on`. Its extent is a `meta` record: the first height
//! it covers (the network's taproot activation) and, after it was turned on for an index that
//! already had blocks, the range still to build. The writer adds the rows of every block it
//! indexes in the block's own batch and a rollback deletes them with the block, so the rows
//! are as crash-safe and reorg-exact as the rest of the index. The range still to build is
//! filled by `sync` from blocks refetched from the daemon, each chunk written with the new
//! range in one batch ([`Store::write_sp_backfill`]): never a resync of the rest of the index.
//! Turning the option off drops the families, so a later `on` can never serve a gap.

use super::keys;
use super::{CF_META, CF_SP_OUTPUTS, CF_SP_TWEAKS, ReadView, Store};
use crate::silentpayments::block::TxTweak;
use crate::types::Height;
use anyhow::{Context, Result, bail};
use rocksdb::WriteBatch;

const META_SP: &[u8] = b"silent_payments";

/// The extent of the silent payments index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpState {
    /// The first height it covers (below it, no transaction can be eligible).
    pub from: u32,
    /// Heights `next..=end` of blocks indexed before it was turned on, not built yet.
    pub pending: Option<(u32, u32)>,
}

impl SpState {
    /// Whether the rows of height `h` are complete (possibly empty).
    pub fn covers(&self, h: u32) -> bool {
        self.pending.is_none_or(|(next, end)| h < next || h > end)
    }
}

/// Why the tweaks of some height cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpUnavailable {
    #[error("this server does not keep silent payments tweaks")]
    Off,
    #[error(
        "the silent payments index is still being built: heights {next} to {end} are not \
         indexed yet"
    )]
    Building { next: u32, end: u32 },
}

impl Store {
    pub(super) fn load_sp_state(&self) -> Result<()> {
        let state = match self.db.cf_handle(CF_META) {
            Some(cf) => match self.db.get_cf(cf, META_SP)? {
                Some(raw) => Some(
                    serde_json::from_slice::<SpState>(&raw)
                        .context("unreadable silent payments record; the index is corrupt")?,
                ),
                None => None,
            },
            None => None,
        };
        *self.sp.write().unwrap_or_else(|e| e.into_inner()) = state;
        Ok(())
    }

    /// The silent payments index's extent; `None` when it is not kept.
    pub fn sp_state(&self) -> Option<SpState> {
        *self.sp.read().unwrap_or_else(|e| e.into_inner())
    }

    fn put_sp_state(&self, batch: &mut WriteBatch, state: &SpState) -> Result<()> {
        batch.put_cf(self.cf(CF_META), META_SP, serde_json::to_vec(state)?);
        Ok(())
    }

    /// Starts keeping the silent payments index from height `from` (the taproot activation).
    /// An index with blocks at or above `from` records them as still to build. Call it only
    /// while no batch is being written. Keeping it already: nothing changes.
    pub fn enable_sp(&self, from: u32) -> Result<SpState> {
        if let Some(s) = self.sp_state() {
            if s.from == from {
                return Ok(s);
            }
            // Another start (a coin definition changed): rebuild from scratch.
            self.disable_sp()?;
        }
        let pending = self
            .tip()
            .height()
            .filter(|tip| tip.0 >= from)
            .map(|tip| (from, tip.0));
        let state = SpState { from, pending };
        let mut batch = WriteBatch::default();
        // Rows left by an earlier life of the index (turned off, then on) are stale.
        self.clear_sp_rows(&mut batch);
        self.put_sp_state(&mut batch, &state)?;
        self.write_meta(batch)?;
        *self.sp.write().unwrap_or_else(|e| e.into_inner()) = Some(state);
        if let Some((next, end)) = pending {
            tracing::info!(
                "silent payments: indexing the tweaks of the {} blocks from height {next} to \
                 {end} (taproot activation to the tip), beside the rest of the index",
                end - next + 1
            );
        }
        Ok(state)
    }

    /// Deletes every silent payments row (keys are 4-byte heights).
    fn clear_sp_rows(&self, batch: &mut WriteBatch) {
        for cf in [CF_SP_TWEAKS, CF_SP_OUTPUTS] {
            batch.delete_range_cf(self.cf(cf), &[][..], &[0xffu8; 5][..]);
        }
    }

    /// Stops keeping the silent payments index and deletes it.
    pub fn disable_sp(&self) -> Result<()> {
        if self.sp_state().is_none() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        self.clear_sp_rows(&mut batch);
        batch.delete_cf(self.cf(CF_META), META_SP);
        self.write_meta(batch)?;
        *self.sp.write().unwrap_or_else(|e| e.into_inner()) = None;
        tracing::warn!(
            "silent payments index deleted: FERRUM_SILENT_PAYMENTS is off (turning it on again \
             rebuilds it from the taproot activation height)"
        );
        for cf in [CF_SP_TWEAKS, CF_SP_OUTPUTS] {
            self.db
                .compact_range_cf(self.cf(cf), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Adds heights `first..=last` (about to be indexed without their tweaks) to the range
    /// still to build; one range covers both (heights between them are built again, which
    /// writes the same rows).
    pub fn sp_defer(&self, first: u32, last: u32) -> Result<()> {
        let Some(mut state) = self.sp_state() else {
            return Ok(());
        };
        let first = first.max(state.from);
        if first > last {
            return Ok(());
        }
        state.pending = Some(match state.pending {
            Some((next, end)) => (next.min(first), end.max(last)),
            None => (first, last),
        });
        let mut batch = WriteBatch::default();
        self.put_sp_state(&mut batch, &state)?;
        self.write_meta(batch)?;
        *self.sp.write().unwrap_or_else(|e| e.into_inner()) = Some(state);
        Ok(())
    }

    /// Writes the rows of blocks built for the pending range, and the range that remains
    /// (`next`: the first height not built), in one batch.
    pub fn write_sp_backfill(&self, rows: &[(Height, Vec<TxTweak>)], next: u32) -> Result<()> {
        let Some(mut state) = self.sp_state() else {
            bail!("the silent payments index is not kept");
        };
        let mut batch = WriteBatch::default();
        for (h, txs) in rows {
            put_sp_rows(self, &mut batch, *h, txs);
        }
        state.pending = state
            .pending
            .filter(|&(_, end)| next <= end)
            .map(|(_, end)| (next, end));
        self.put_sp_state(&mut batch, &state)?;
        {
            // Under the tip lock, so a reader's snapshot sees the rows and the record together;
            // made durable in the background (the rows are rebuilt if a crash loses them).
            let _guard = self.tip.write().unwrap_or_else(|e| e.into_inner());
            self.write(batch)?;
            *self.sp.write().unwrap_or_else(|e| e.into_inner()) = Some(state);
        }
        self.persist_in_background()?;
        if state.pending.is_none() {
            tracing::info!("silent payments: the tweak index is complete");
        }
        Ok(())
    }

    /// Whether heights `range` can be served; the reason when not.
    pub fn sp_available(&self, first: u32, last: u32) -> Result<SpState, SpUnavailable> {
        let s = self.sp_state().ok_or(SpUnavailable::Off)?;
        match s.pending {
            Some((next, end)) if first <= end && last >= next => {
                Err(SpUnavailable::Building { next, end })
            }
            _ => Ok(s),
        }
    }
}

impl Store {
    /// Eligible transactions and their taproot outputs in the index (a full read of both
    /// families: for reports).
    pub fn sp_counts(&self) -> Result<(u64, u64)> {
        let view = self.read();
        let rows = view.sp_blocks(self, 0, u32::MAX, true)?;
        let txs = rows.iter().map(|r| r.1.len() as u64).sum();
        let outputs = rows
            .iter()
            .flat_map(|r| &r.1)
            .map(|t| t.outputs.len() as u64)
            .sum();
        Ok((txs, outputs))
    }
}

/// Adds a block's rows to `batch` (none for a block without eligible transactions).
pub fn put_sp_rows(store: &Store, batch: &mut WriteBatch, h: Height, txs: &[TxTweak]) {
    if txs.is_empty() {
        return;
    }
    let (t, o) = keys::sp_values(txs);
    batch.put_cf(store.cf(CF_SP_TWEAKS), keys::sp_key(h), t);
    batch.put_cf(store.cf(CF_SP_OUTPUTS), keys::sp_key(h), o);
}

/// Deletes a block's rows (a rollback).
pub fn delete_sp_rows(store: &Store, batch: &mut WriteBatch, h: Height) {
    batch.delete_cf(store.cf(CF_SP_TWEAKS), keys::sp_key(h));
    batch.delete_cf(store.cf(CF_SP_OUTPUTS), keys::sp_key(h));
}

impl ReadView<'_> {
    /// The eligible transactions of the blocks at heights `first..=last` that have any, in
    /// height order; with `outputs` false their output lists are left empty (one family read).
    pub fn sp_blocks(
        &self,
        store: &Store,
        first: u32,
        last: u32,
        outputs: bool,
    ) -> Result<Vec<(Height, Vec<TxTweak>)>> {
        let mut out = Vec::new();
        let mut opts = rocksdb::ReadOptions::default();
        opts.set_snapshot(&self.snapshot);
        if let Some(end) = last.checked_add(1) {
            opts.set_iterate_upper_bound(keys::sp_key(Height(end)).to_vec());
        }
        let mut t = store.db().raw_iterator_cf_opt(store.cf(CF_SP_TWEAKS), opts);
        let mut o = outputs.then(|| {
            let mut opts = rocksdb::ReadOptions::default();
            opts.set_snapshot(&self.snapshot);
            store
                .db()
                .raw_iterator_cf_opt(store.cf(CF_SP_OUTPUTS), opts)
        });
        t.seek(keys::sp_key(Height(first)));
        while let (Some(k), Some(v)) = (t.key(), t.value()) {
            let h = u32::from_be_bytes(
                k.try_into()
                    .context("index corrupt: a silent payments key is not a height")?,
            );
            if h > last {
                break;
            }
            let txs = match &mut o {
                Some(o) => {
                    o.seek(k);
                    let ov = match (o.key(), o.value()) {
                        (Some(ok), Some(ov)) if ok == k => ov,
                        _ => bail!("index corrupt: block {h} has tweaks but no outputs row"),
                    };
                    keys::decode_sp(v, ov)
                }
                None => decode_tweaks_only(v),
            }
            .with_context(|| format!("index corrupt: silent payments row of block {h}"))?;
            out.push((Height(h), txs));
            t.next();
        }
        t.status().context("silent payments read failed")?;
        Ok(out)
    }
}

/// The tweaks of an `sp_tweaks` row without reading `sp_outputs`.
fn decode_tweaks_only(mut v: &[u8]) -> Option<Vec<TxTweak>> {
    let mut out = Vec::with_capacity(v.len() / 35);
    while !v.is_empty() {
        let index = u32::try_from(keys::get_varint(&mut v)?).ok()?;
        let (tweak, rest) = v.split_first_chunk::<33>()?;
        v = rest;
        out.push(TxTweak {
            index,
            tweak: *tweak,
            outputs: Vec::new(),
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Bitcoin;
    use crate::silentpayments::block::TaprootOutput;

    fn tx(index: u32, b: u8) -> TxTweak {
        TxTweak {
            index,
            tweak: [b; 33],
            outputs: vec![TaprootOutput {
                vout: 0,
                value: 1000,
                key: [b; 32],
            }],
        }
    }

    /// The extent record: built from scratch, ranges deferred and merged, built chunk by chunk
    /// (surviving a reopen), served only where complete, and everything gone when turned off.
    #[test]
    fn extent_defer_build_reopen_and_off() {
        let dir = tempfile::tempdir().unwrap();
        let coin = &Bitcoin::REGTEST;
        let store = Store::open(dir.path(), coin, 16).unwrap();
        assert_eq!(store.sp_available(0, 0), Err(SpUnavailable::Off));
        // An empty index: nothing to build.
        let s = store.enable_sp(0).unwrap();
        assert_eq!(
            s,
            SpState {
                from: 0,
                pending: None
            }
        );
        assert!(store.sp_available(0, 1000).is_ok());
        // Two deferred catch-ups become one range.
        store.sp_defer(10, 20).unwrap();
        store.sp_defer(30, 40).unwrap();
        assert_eq!(store.sp_state().unwrap().pending, Some((10, 40)));
        assert_eq!(
            store.sp_available(5, 12),
            Err(SpUnavailable::Building { next: 10, end: 40 })
        );
        assert!(store.sp_available(0, 9).is_ok() && store.sp_available(41, 50).is_ok());
        // Built in chunks; the rows and the remaining range land together.
        store
            .write_sp_backfill(&[(Height(10), vec![tx(1, 2)]), (Height(12), vec![])], 25)
            .unwrap();
        assert_eq!(store.sp_state().unwrap().pending, Some((25, 40)));
        drop(store);
        let store = Store::open(dir.path(), coin, 16).unwrap();
        assert_eq!(store.sp_state().unwrap().pending, Some((25, 40)));
        let rows = store.read().sp_blocks(&store, 0, u32::MAX, true).unwrap();
        assert_eq!(rows, vec![(Height(10), vec![tx(1, 2)])]);
        let tweaks_only = store.read().sp_blocks(&store, 10, 10, false).unwrap();
        assert_eq!(tweaks_only[0].1[0].tweak, [2; 33]);
        assert!(tweaks_only[0].1[0].outputs.is_empty());
        store.write_sp_backfill(&[], 41).unwrap();
        assert_eq!(store.sp_state().unwrap().pending, None);
        // Below the taproot start nothing is deferred.
        store.disable_sp().unwrap();
        store.enable_sp(100).unwrap();
        store.sp_defer(0, 50).unwrap();
        assert_eq!(store.sp_state().unwrap().pending, None);
        store.sp_defer(0, 150).unwrap();
        assert_eq!(store.sp_state().unwrap().pending, Some((100, 150)));
        // Off: the record and every row are gone, for good.
        store.disable_sp().unwrap();
        assert_eq!(store.sp_state(), None);
        drop(store);
        let store = Store::open(dir.path(), coin, 16).unwrap();
        assert_eq!(store.sp_state(), None);
        assert!(
            store
                .read()
                .sp_blocks(&store, 0, u32::MAX, true)
                .unwrap()
                .is_empty()
        );
    }
}
