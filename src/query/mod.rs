//! The read API over the index that protocol code calls: history, balance and unspent outputs
//! of a script, transaction locations, headers, block txids and outpoint status.
//!
//! Every answer is computed from one [`View`]: a tip and a database snapshot taken together, so
//! it is consistent with one chain tip even while the writer advances or reorgs. Confirmed data
//! only; the mempool is layered on top by a later module.

pub mod tweaks;

use crate::store::{ReadView, Store, TipState};
use crate::types::{Height, ScriptKey, TxNum};
use anyhow::{Context, Result};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Txid};
use std::sync::Arc;

/// A confirmed transaction of a script's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub txid: Txid,
    pub height: Height,
}

/// A confirmed unspent output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    pub txid: Txid,
    pub vout: u32,
    pub height: Height,
    pub value: u64,
}

/// Where a confirmed transaction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxLocation {
    pub txnum: TxNum,
    pub height: Height,
    pub block_hash: BlockHash,
    /// Position in its block.
    pub index: u32,
}

/// Status of an output (protocol 1.7 `blockchain.outpoint.*`, confirmed part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutpointStatus {
    pub funding_height: Height,
    /// The spending transaction and its height, when spent.
    pub spender: Option<(Txid, Height)>,
}

/// Query entry point; cheap to clone.
#[derive(Clone)]
pub struct Query {
    store: Arc<Store>,
}

impl Query {
    pub fn new(store: Arc<Store>) -> Self {
        Query { store }
    }

    /// A consistent view for one request (or several answers that must agree).
    pub fn view(&self) -> View<'_> {
        View {
            store: &self.store,
            read: self.store.read(),
        }
    }

    pub fn tip(&self) -> Arc<TipState> {
        self.store.tip()
    }

    /// The silent payments index's extent; `None` when it is not kept.
    pub fn sp_state(&self) -> Option<crate::store::tweaks::SpState> {
        self.store.sp_state()
    }
}

/// One tip's worth of reads.
pub struct View<'a> {
    store: &'a Store,
    read: ReadView<'a>,
}

impl View<'_> {
    pub fn tip(&self) -> &TipState {
        &self.read.tip
    }

    fn snap(&self) -> Option<&rocksdb::Snapshot<'_>> {
        Some(&self.read.snapshot)
    }

    /// Tx numbers of a script's history (each tx once), in chain order.
    pub fn history_txnums(&self, s: &ScriptKey) -> Result<Vec<TxNum>> {
        let mut nums = Vec::new();
        self.store.history(s, self.snap(), &mut nums)?;
        let end = self.tip().tx_count();
        nums.retain(|n| n.0 < end);
        Ok(nums)
    }

    /// The tx numbers of a script's confirmed history in blocks `from..to` (to: `None` for
    /// the tip), at most `max` of them, in chain order.
    pub fn history_txnums_between(
        &self,
        s: &ScriptKey,
        from: u32,
        to: Option<u32>,
        max: usize,
    ) -> Result<Vec<TxNum>> {
        let tip = self.tip();
        let start_of = |h: u32| {
            tip.block_txnums(Height(h))
                .map_or(tip.tx_count(), |r| r.start)
        };
        let range = TxNum(start_of(from))..TxNum(to.map_or(tip.tx_count(), start_of));
        let mut nums = Vec::new();
        self.store
            .history_range(s, range, max, self.snap(), &mut nums)?;
        Ok(nums)
    }

    /// A script's confirmed history: (txid, height) in chain order.
    pub fn history(&self, s: &ScriptKey) -> Result<Vec<HistoryEntry>> {
        self.history_of(&self.history_txnums(s)?)
    }

    /// History entries of tx numbers from [`View::history_txnums`].
    pub fn history_of(&self, nums: &[TxNum]) -> Result<Vec<HistoryEntry>> {
        let nums = nums.to_vec();
        let txids = self.store.txids_at(&nums, self.snap())?;
        let heights = self.heights(&nums)?;
        Ok(txids
            .into_iter()
            .zip(heights)
            .map(|(t, height)| HistoryEntry {
                txid: Txid::from_byte_array(t),
                height,
            })
            .collect())
    }

    /// Heights of sorted tx numbers.
    fn heights(&self, nums: &[TxNum]) -> Result<Vec<Height>> {
        nums.iter()
            .map(|n| {
                self.tip()
                    .height_of(*n)
                    .with_context(|| format!("tx number {} above the tip", n.0))
            })
            .collect()
    }

    /// A script's confirmed unspent outputs, in chain order (then output index).
    pub fn utxos(&self, s: &ScriptKey) -> Result<Vec<Utxo>> {
        let mut rows = self.store.utxos(s, self.snap())?;
        let end = self.tip().tx_count();
        rows.retain(|(_, n, _)| n.0 < end);
        rows.sort_unstable_by_key(|(o, n, _)| (*n, o.vout));
        let nums: Vec<TxNum> = rows.iter().map(|(_, n, _)| *n).collect();
        let txids = self.store.txids_at(&nums, self.snap())?;
        let heights = self.heights(&nums)?;
        Ok(rows
            .into_iter()
            .zip(txids)
            .zip(heights)
            .map(|(((o, _, value), txid), height)| Utxo {
                txid: Txid::from_byte_array(txid),
                vout: o.vout,
                height,
                value,
            })
            .collect())
    }

    /// A script's confirmed balance in satoshis.
    pub fn balance(&self, s: &ScriptKey) -> Result<u64> {
        let end = TxNum(self.tip().tx_count());
        self.store.utxo_balance(s, end, self.snap())
    }

    /// Tx number of a confirmed txid.
    pub fn txnum(&self, txid: &Txid) -> Result<Option<TxNum>> {
        let n = self.store.txnum_of(txid.as_byte_array(), self.snap())?;
        Ok(n.filter(|n| n.0 < self.tip().tx_count()))
    }

    /// Block and position of a confirmed transaction.
    pub fn tx_location(&self, txid: &Txid) -> Result<Option<TxLocation>> {
        let Some(txnum) = self.txnum(txid)? else {
            return Ok(None);
        };
        let tip = self.tip();
        let height = tip.height_of(txnum).context("tx number above the tip")?;
        let range = tip.block_txnums(height).context("height above the tip")?;
        let block_hash = tip.hash(height).context("height above the tip")?;
        Ok(Some(TxLocation {
            txnum,
            height,
            block_hash,
            index: (txnum.0 - range.start) as u32,
        }))
    }

    /// Serialized header at a height of this tip.
    pub fn header(&self, h: Height) -> Result<Option<Vec<u8>>> {
        if h.0 as usize >= self.tip().len() {
            return Ok(None);
        }
        let v = self.read.snapshot.get_cf(
            self.store.cf(crate::store::CF_BLOCKS),
            crate::store::keys::block_key(h),
        )?;
        Ok(v.and_then(|v| crate::store::keys::parse_block_value(&v).map(|(_, hdr)| hdr.to_vec())))
    }

    /// Txids of the block at a height, in block order.
    pub fn block_txids(&self, h: Height) -> Result<Option<Vec<Txid>>> {
        let Some(range) = self.tip().block_txnums(h) else {
            return Ok(None);
        };
        let nums: Vec<TxNum> = range.map(TxNum).collect();
        let txids = self.store.txids_at(&nums, self.snap())?;
        Ok(Some(txids.into_iter().map(Txid::from_byte_array).collect()))
    }

    /// Confirmed status of an output: None when its transaction is not confirmed.
    pub fn outpoint_status(&self, txid: &Txid, vout: u32) -> Result<Option<OutpointStatus>> {
        let Some(funding) = self.txnum(txid)? else {
            return Ok(None);
        };
        let tip = self.tip();
        let funding_height = tip.height_of(funding).context("tx number above the tip")?;
        let spender = match self
            .store
            .spender(txid.as_byte_array(), vout, self.snap())?
        {
            Some(n) if n.0 < tip.tx_count() && n > funding => {
                let t = self
                    .store
                    .txid_at(n, self.snap())?
                    .context("index corrupt: spender has no txid")?;
                Some((
                    Txid::from_byte_array(t),
                    tip.height_of(n).context("spender above the tip")?,
                ))
            }
            _ => None,
        };
        Ok(Some(OutpointStatus {
            funding_height,
            spender,
        }))
    }

    /// Whether `txid:vout` is a confirmed unspent output paying `s`.
    pub fn has_utxo(&self, s: &ScriptKey, txid: &Txid, vout: u32) -> Result<bool> {
        let Some(n) = self.txnum(txid)? else {
            return Ok(false);
        };
        let o = crate::store::keys::OutPointKey {
            txid: crate::types::TxidPrefix::from_bytes(txid.as_byte_array()),
            vout,
        };
        Ok(self
            .store
            .utxo(s, &o, self.snap())?
            .is_some_and(|(m, _)| m == n))
    }
}
