//! Building the silent payments index for blocks indexed before it was turned on.
//!
//! The writer adds the tweak rows of every block it indexes (computed by the workers, see
//! [`super::prepare`]); this fills the range the index records as pending
//! ([`crate::store::tweaks::SpState`]) from blocks refetched from the daemon: the blocks of
//! *our* chain, by the hashes the index holds, so a reorg in between can never mix branches (a
//! rollback deletes the rows of its blocks, and the writer writes the new ones). Chunks are
//! fetched by the same number of workers as sync, and each is written with the remaining range
//! in one batch, so an interrupted build resumes where it stopped.

use super::Indexer;
use super::fetch;
use crate::silentpayments::block::TxTweak;
use crate::types::Height;
use anyhow::{Context, Result, bail};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Blocks per chunk and worker.
const CHUNK_PER_WORKER: u32 = 8;

/// A catch-up of this many blocks or more is indexed without its tweaks, which are built
/// after it (a day of blocks: following the tip always computes them inline).
pub const DEFER_AFTER_BLOCKS: u32 = 144;

impl Indexer {
    /// Turns the silent payments index on or off as configured (idempotent; at the start of
    /// every catch-up, while nothing is being written).
    pub(super) fn configure_tweaks(&self) -> Result<()> {
        if !self.cfg.silent_payments {
            return self.store.disable_sp();
        }
        let Some(from) = self.coin.taproot_height() else {
            bail!(
                "FERRUM_SILENT_PAYMENTS: {} has no taproot, hence no silent payments",
                self.coin.name()
            );
        };
        if self.daemon.spent_source() == crate::daemon::SpentSource::Index {
            bail!(
                "FERRUM_SILENT_PAYMENTS needs the spent outputs of each block from the daemon \
                 (bitcoind's REST interface, or getblock verbosity 3: Bitcoin Core 23 or later), \
                 not the raw block source"
            );
        }
        self.store.enable_sp(from)?;
        Ok(())
    }

    /// Whether blocks indexed before the silent payments index was turned on still wait for
    /// their tweaks.
    pub fn tweaks_pending(&self) -> bool {
        self.store.sp_state().is_some_and(|s| s.pending.is_some())
    }

    /// Builds the tweaks of the next chunk of the pending range; returns whether more remain.
    pub fn build_tweaks_chunk(&self) -> Result<bool> {
        let Some((next, end)) = self.store.sp_state().and_then(|s| s.pending) else {
            return Ok(false);
        };
        let tip = self.store.tip();
        let Some(top) = tip.height() else {
            self.store.write_sp_backfill(&[], end + 1)?;
            return Ok(false);
        };
        // Blocks above our tip (rolled back since) are the writer's when they come back.
        let last = end.min(top.0);
        if next > last {
            self.store.write_sp_backfill(&[], end + 1)?;
            return Ok(false);
        }
        let workers = self.cfg.threads.max(1) + 1;
        let last = last.min(next + CHUNK_PER_WORKER * workers as u32 - 1);
        let started = std::time::Instant::now();
        let cursor = AtomicU32::new(next);
        let rows: Mutex<Vec<(Height, Vec<TxTweak>)>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let h = cursor.fetch_add(1, Ordering::Relaxed);
                        if h > last {
                            break;
                        }
                        let got = tip
                            .hash(Height(h))
                            .context("the tip state lost a block")
                            .and_then(|hash| {
                                fetch::fetch_and_prepare(
                                    &self.daemon,
                                    self.coin,
                                    Height(h),
                                    &hash,
                                    true,
                                )
                            });
                        match got {
                            Ok(b) => {
                                let txs = b.tweaks.unwrap_or_default();
                                if let Ok(mut r) = rows.lock() {
                                    r.push((Height(h), txs));
                                }
                            }
                            Err(e) => {
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(e);
                                }
                                cursor.store(last + 1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().ok().flatten() {
            return Err(e.context("building the silent payments index"));
        }
        let mut rows = rows
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a tweak worker panicked"))?;
        rows.sort_unstable_by_key(|r| r.0);
        let eligible: usize = rows.iter().map(|r| r.1.len()).sum();
        self.store.write_sp_backfill(&rows, last + 1)?;
        tracing::info!(
            "silent payments: heights {next}..={last} built ({eligible} eligible txs, {:.1}s); \
             {} blocks to go",
            started.elapsed().as_secs_f64(),
            end.min(top.0).saturating_sub(last)
        );
        Ok(last < end)
    }

    /// Builds the whole pending range (`ferrum sync`), unless `stop` is set.
    pub fn build_tweaks(&self, stop: &std::sync::atomic::AtomicBool) -> Result<()> {
        while !stop.load(Ordering::Relaxed) && self.build_tweaks_chunk()? {}
        Ok(())
    }
}
