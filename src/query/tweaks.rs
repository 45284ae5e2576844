//! Silent payments reads: the eligible transactions of a range of blocks with their txids,
//! filtered as wallets ask (a dust limit; cut-through: only outputs still unspent), for the
//! tweak API and server-side scans.

use super::View;
use crate::silentpayments::block::TxTweak;
use crate::store::tweaks::SpUnavailable;
use crate::types::{Height, TxNum};
use anyhow::{Context, Result};
use bitcoin::Txid;
use bitcoin::hashes::Hash;

/// What to keep of each eligible transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TweakFilter {
    /// Outputs below this many satoshis are dropped, and transactions left without any.
    pub dust: u64,
    /// Outputs spent in this view's chain are dropped, and transactions left without any.
    pub cut_through: bool,
    /// Look up the spender of each spent output (for `historical` answers).
    pub spenders: bool,
}

/// A taproot output of an eligible transaction, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TweakOutput {
    pub vout: u32,
    pub value: u64,
    pub key: [u8; 32],
    /// Its confirmed spender and the spender's height (with [`TweakFilter::spenders`]).
    pub spender: Option<(Txid, Height)>,
}

/// An eligible transaction, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibleTx {
    pub txid: Txid,
    pub tweak: [u8; 33],
    pub outputs: Vec<TweakOutput>,
}

/// The eligible transactions of one block that pass the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTweaks {
    pub height: Height,
    pub txs: Vec<EligibleTx>,
}

/// Why tweaks could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TweakError {
    #[error(transparent)]
    Unavailable(#[from] SpUnavailable),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl View<'_> {
    /// Every block of `first..=last` (clamped to this view's tip), with its eligible
    /// transactions that pass `filter` (possibly none), in height order.
    pub fn tweaks(
        &self,
        first: u32,
        last: u32,
        filter: TweakFilter,
    ) -> Result<Vec<BlockTweaks>, TweakError> {
        let Some(last) = self.tweak_range(first, last)? else {
            return Ok(Vec::new());
        };
        let rows = self.read.sp_blocks(self.store, first, last, true)?;
        let mut out = Vec::with_capacity((last - first + 1) as usize);
        let mut rows = rows.into_iter().peekable();
        for h in first..=last {
            let mut block = BlockTweaks {
                height: Height(h),
                txs: Vec::new(),
            };
            if rows.peek().is_some_and(|r| r.0.0 == h)
                && let Some((_, txs)) = rows.next()
            {
                let range = self
                    .tip()
                    .block_txnums(Height(h))
                    .context("a tweaks row above the tip")?;
                let nums: Vec<TxNum> = txs
                    .iter()
                    .map(|t| TxNum(range.start + t.index as u64))
                    .collect();
                if nums.iter().any(|n| n.0 >= range.end) {
                    return Err(anyhow::anyhow!(
                        "index corrupt: a tweaks row of block {h} names a tx beyond the block"
                    )
                    .into());
                }
                let txids: Vec<Txid> = self
                    .store
                    .txids_at(&nums, self.snap())?
                    .into_iter()
                    .map(Txid::from_byte_array)
                    .collect();
                // Spenders of the block's kept outputs, in one pass over `spends`.
                let wanted: Vec<([u8; 32], u32)> = if filter.cut_through || filter.spenders {
                    txs.iter()
                        .zip(&txids)
                        .flat_map(|(t, txid)| {
                            t.outputs
                                .iter()
                                .filter(|o| o.value >= filter.dust)
                                .map(|o| (txid.to_byte_array(), o.vout))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let mut spenders = self.spenders_of(&wanted)?.into_iter();
                for (t, txid) in txs.into_iter().zip(txids) {
                    let mut outputs = Vec::with_capacity(t.outputs.len());
                    for o in t.outputs {
                        if o.value < filter.dust {
                            continue;
                        }
                        let spender = if wanted.is_empty() {
                            None
                        } else {
                            spenders.next().flatten()
                        };
                        if filter.cut_through && spender.is_some() {
                            continue;
                        }
                        outputs.push(TweakOutput {
                            vout: o.vout,
                            value: o.value,
                            key: o.key,
                            spender,
                        });
                    }
                    if !outputs.is_empty() {
                        block.txs.push(EligibleTx {
                            txid,
                            tweak: t.tweak,
                            outputs,
                        });
                    }
                }
            }
            out.push(block);
        }
        Ok(out)
    }

    /// `last` clamped to this view's tip, if `first..=last` is not empty then, and whether the
    /// index can serve it.
    fn tweak_range(&self, first: u32, last: u32) -> Result<Option<u32>, TweakError> {
        let Some(top) = self.tip().height() else {
            return Ok(None);
        };
        let last = last.min(top.0);
        if first > last {
            return Ok(None);
        }
        self.store.sp_available(first, last)?;
        Ok(Some(last))
    }

    /// Calls `pick` on every eligible transaction of blocks `first..=last` (clamped to this
    /// view's tip), with its height, and returns those it picked with their txids: a scan that
    /// finds (nearly) nothing reads only the two `sp_` families.
    pub fn pick_tweaks(
        &self,
        first: u32,
        last: u32,
        mut pick: impl FnMut(&TxTweak) -> bool,
    ) -> Result<Vec<(Height, Txid, [u8; 33])>, TweakError> {
        let Some(last) = self.tweak_range(first, last)? else {
            return Ok(Vec::new());
        };
        let mut picked = Vec::new();
        for (h, txs) in self.read.sp_blocks(self.store, first, last, true)? {
            let range = self
                .tip()
                .block_txnums(h)
                .context("a tweaks row above the tip")?;
            for t in txs.iter().filter(|t| pick(t)) {
                let n = TxNum(range.start + t.index as u64);
                let txid = self
                    .store
                    .txid_at(n, self.snap())?
                    .context("index corrupt: a tweaks row names a tx without txid")?;
                picked.push((h, Txid::from_byte_array(txid), t.tweak));
            }
        }
        Ok(picked)
    }

    /// The confirmed spenders of `outputs` in this view, with their heights, in order.
    fn spenders_of(&self, outputs: &[([u8; 32], u32)]) -> Result<Vec<Option<(Txid, Height)>>> {
        if outputs.is_empty() {
            return Ok(Vec::new());
        }
        let tip = self.tip();
        // Only spenders in this view's chain (the snapshot and the tip were taken together).
        let nums: Vec<Option<TxNum>> = self
            .store
            .spenders(outputs, self.snap())?
            .into_iter()
            .map(|n| n.filter(|n| n.0 < tip.tx_count()))
            .collect();
        let spent: Vec<TxNum> = nums.iter().flatten().copied().collect();
        let mut txids = self.store.txids_at(&spent, self.snap())?.into_iter();
        nums.into_iter()
            .map(|n| match n {
                Some(n) => {
                    let t = txids.next().context("index corrupt: spender has no txid")?;
                    let h = tip.height_of(n).context("spender above the tip")?;
                    Ok(Some((Txid::from_byte_array(t), h)))
                }
                None => Ok(None),
            })
            .collect()
    }
}
