//! Sync: fetch → prepare → index, following bitcoind's best chain.
//!
//! The catch-up pipeline keeps both cores busy: worker threads fetch blocks (binary REST with
//! spent outputs, or JSON-RPC) and prepare them (parse, hash txids and scripts) in parallel; the
//! calling thread is the one writer, which applies blocks in height order into a [`FlushBatch`]
//! and commits it atomically when it reaches its share of `CACHE_MB` or the tip. Reorgs are found
//! by comparing our chain with the daemon's (a tip *hash* change, not just height), undone block
//! by block from stored undo records or, deeper than the window, from stale blocks refetched from
//! bitcoind. This module writes the index; it never answers queries.

mod batch;
mod fetch;
pub mod prepare;
mod progress;
mod resolve;
mod schedule;
mod tweaks;
pub mod undo;

use crate::chain::Coin;
use crate::daemon::Daemon;
use crate::store::keys::OutPointKey;
use crate::store::{CF_UNDO, Store, keys};
use crate::types::{Height, TxNum, TxidPrefix};
use anyhow::{Context, Result, bail};
use batch::{BatchOutputs, FlushBatch};
use bitcoin::BlockHash;
use prepare::{PreparedBlock, UnreadableBlock};
use progress::Progress;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use undo::{Funding, UndoRecord};

/// Indexer settings (from `Config`).
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    pub cache_mb: usize,
    pub reorg_limit: u32,
    /// Fetch/prepare workers.
    pub threads: usize,
    /// Longest wait for a new block before asking again (`DAEMON_POLL_INTERVAL_BLOCKS`).
    pub poll_interval: Duration,
    /// bitcoind's `-zmqpubhashblock` endpoint: wait for its announcements instead of the
    /// `waitfornewblock` long-poll.
    pub zmq_block_endpoint: Option<String>,
    /// Keep the silent payments tweak index (`FERRUM_SILENT_PAYMENTS`).
    pub silent_payments: bool,
}

/// What one catch-up did.
#[derive(Debug, Clone, Default)]
pub struct SyncStats {
    pub blocks: u64,
    pub txs: u64,
    pub reorged_blocks: u64,
    pub seconds: f64,
}

/// The one writer of the index.
pub struct Indexer {
    store: Arc<Store>,
    daemon: Arc<Daemon>,
    coin: &'static dyn Coin,
    cfg: IndexerConfig,
    /// Undo records of blocks rolled back since the last [`Indexer::take_changes`], kept only
    /// when someone asked for changes (the server, to know which scripts a reorg touched).
    rolled_back: std::sync::Mutex<Option<Vec<UndoRecord>>>,
    /// Blocks to roll back at the start of the next follow round (the admin RPC's `reorg`).
    forced_reorg: std::sync::atomic::AtomicU32,
}

/// What a tip change touched: the records of the blocks it removed and added.
#[derive(Debug, Default)]
pub struct TipChanges {
    pub removed: Vec<UndoRecord>,
    pub added: Vec<UndoRecord>,
    /// Some added block had no stored record (it is older than the undo window): treat
    /// every script as touched.
    pub incomplete: bool,
}

impl TipChanges {
    /// Scripts whose history the change touched.
    pub fn scripts(&self) -> impl Iterator<Item = &crate::types::ScriptKey> {
        self.removed
            .iter()
            .chain(&self.added)
            .flat_map(|r| r.created.iter().chain(r.spent.iter().map(|e| &e.script)))
    }
}

/// Rounds in a row that the same block may fail to parse before the follow loop stops.
const UNREADABLE_ROUNDS: u32 = 4;

/// How far the pipeline may run ahead of the writer, in blocks per worker.
const WINDOW_PER_WORKER: u32 = 8;
/// After a catch-up of this many transactions the index deserves a full compaction.
pub const COMPACT_AFTER_TXS: u64 = 100_000;
/// Block hashes asked for in one batch.
const HASH_CHUNK: u32 = 2000;

impl Indexer {
    pub fn new(
        store: Arc<Store>,
        daemon: Arc<Daemon>,
        coin: &'static dyn Coin,
        cfg: IndexerConfig,
    ) -> Self {
        Indexer {
            store,
            daemon,
            coin,
            cfg,
            rolled_back: std::sync::Mutex::new(None),
            forced_reorg: Default::default(),
        }
    }

    /// What changed from `old` to the store's current tip: the records of blocks rolled back
    /// since the previous call (collection starts with the first call) and of blocks added.
    pub fn take_changes(&self, old: &crate::store::TipState) -> Result<TipChanges> {
        let removed = match self.rolled_back.lock() {
            Ok(mut g) => g.replace(Vec::new()).unwrap_or_default(),
            Err(_) => bail!("rollback record lock poisoned"),
        };
        let new = self.store.tip();
        let mut fork = 0;
        while fork < old.len().min(new.len())
            && old.hash(Height(fork as u32)) == new.hash(Height(fork as u32))
        {
            fork += 1;
        }
        let mut changes = TipChanges {
            removed,
            ..Default::default()
        };
        for h in fork..new.len() {
            match self.store.get(CF_UNDO, &keys::undo_key(Height(h as u32)))? {
                Some(raw) => changes.added.push(
                    UndoRecord::decode(&raw)
                        .with_context(|| format!("corrupt undo record at height {h}"))?,
                ),
                None => changes.incomplete = true,
            }
        }
        Ok(changes)
    }

    /// Asks [`Indexer::follow`] to roll back the top `count` blocks at its next round and
    /// index them again from the daemon, as if a reorg had replaced them (the admin RPC's
    /// `reorg`, to exercise reorg handling on a live server).
    pub fn force_reorg(&self, count: u32) {
        self.forced_reorg.store(count, Ordering::Relaxed);
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn daemon(&self) -> &Arc<Daemon> {
        &self.daemon
    }

    /// Indexes until our tip is the daemon's best block (handling reorgs on the way).
    pub fn sync_to_tip(&self, stop: &AtomicBool) -> Result<SyncStats> {
        let started = std::time::Instant::now();
        let mut stats = SyncStats::default();
        if self.daemon.spent_source() == crate::daemon::SpentSource::Index {
            // Raw blocks: inputs are resolved from the index's own `outpoints`.
            self.store.keep_outpoints()?;
        }
        self.configure_tweaks()?;
        while !stop.load(Ordering::Relaxed) {
            let info = self.daemon.blockchain_info()?;
            crate::metrics::daemon_height(info.blocks);
            crate::metrics::health::daemon_best(info.blocks);
            let tip = self.store.tip();
            if tip.tip_hash() == Some(info.best_block_hash) {
                if let Some(h) = tip.height() {
                    crate::metrics::health::caught_up(h.0);
                }
                break;
            }
            let fork = self.find_fork()?;
            if let (Some(ours), Some(fork_h)) = (tip.height(), fork)
                && fork_h < ours
            {
                stats.reorged_blocks += self.rollback_to(fork_h)?;
            }
            let start = fork.map_or(0, |h| h.0 + 1);
            if start > info.blocks {
                continue; // the daemon's chain got shorter: the rollback was all there was to do
            }
            let (blocks, txs) = self.index_range(start, info.blocks, stop)?;
            stats.blocks += blocks;
            stats.txs += txs;
        }
        stats.seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }

    /// Catches up, then follows the daemon's tip until `stop` is set: a new block is noticed at
    /// once through `waitfornewblock`, with `poll_interval` as the longest wait.
    ///
    /// `on_tip` runs after every round, at least every `tick` (the mempool's poll interval
    /// when serving), whether or not the tip moved.
    pub fn follow(
        &self,
        stop: &AtomicBool,
        tick: Duration,
        mut on_tip: impl FnMut(&crate::store::TipState),
    ) -> Result<()> {
        let zmq = match &self.cfg.zmq_block_endpoint {
            Some(endpoint) => Some(
                crate::daemon::zmq::BlockNotifications::subscribe(endpoint)
                    .context("cannot start the ZMQ subscriber")?,
            ),
            None => None,
        };
        let mut retry = Duration::from_secs(1);
        // The block that did not parse in the last rounds, and how many rounds in a row.
        let mut unreadable: (Option<BlockHash>, u32) = (None, 0);
        let mut compacting: Option<std::thread::JoinHandle<()>> = None;
        let mut schedule =
            schedule::Schedule::new(self.cfg.poll_interval.min(tick), std::time::Instant::now());
        while !stop.load(Ordering::Relaxed) {
            schedule.round_started(std::time::Instant::now());
            let forced = self.forced_reorg.swap(0, Ordering::Relaxed);
            if let (true, Some(top)) = (forced > 0, self.store.tip().height()) {
                tracing::warn!("forcing a reorg of {forced} block(s)");
                if let Err(e) = self.rollback_to(Height(top.0.saturating_sub(forced))) {
                    tracing::error!("forced reorg failed: {e:#}");
                }
            }
            match self.sync_to_tip(stop) {
                Ok(stats) => {
                    retry = Duration::from_secs(1);
                    if stats.txs >= COMPACT_AFTER_TXS {
                        self.store.mark_compaction_pending()?;
                    }
                    if compacting.as_ref().is_none_or(|t| t.is_finished())
                        && self.store.compaction_pending()?
                    {
                        // Drop spent outputs' tombstones and merge the catch-up's files, in
                        // the background: RocksDB keeps serving reads and writes meanwhile.
                        let store = self.store.clone();
                        compacting = Some(std::thread::spawn(move || {
                            let t = std::time::Instant::now();
                            match store.compact() {
                                Ok(()) => tracing::info!(
                                    "compacted the index in {:.1}s",
                                    t.elapsed().as_secs_f64()
                                ),
                                Err(e) => tracing::warn!("index compaction failed: {e:#}"),
                            }
                        }));
                    }
                }
                Err(e) => {
                    let bad = e.downcast_ref::<UnreadableBlock>();
                    unreadable = match bad {
                        Some(b) if unreadable.0 == Some(b.hash) => (Some(b.hash), unreadable.1 + 1),
                        Some(b) => (Some(b.hash), 1),
                        None => (None, 0),
                    };
                    if unreadable.1 >= UNREADABLE_ROUNDS {
                        let tip = self.store.tip().height().map_or(-1, |h| h.0 as i64);
                        return Err(e.context(format!(
                            "giving up after {UNREADABLE_ROUNDS} attempts: the daemon sends this \
                             block the same way each time. The index is intact at height {tip}; \
                             check COIN and NET against the node, or report the block"
                        )));
                    }
                    tracing::error!("sync failed: {e:#}; retrying in {}s", retry.as_secs());
                    std::thread::sleep(retry);
                    retry = (retry * 2).min(Duration::from_secs(60));
                    continue;
                }
            }
            let tip = self.store.tip();
            on_tip(&tip);
            let Some(hash) = tip.tip_hash() else { continue };
            // Timed rounds start at a fixed rate (see `schedule`): neither the time a round
            // takes (listing a mempool of 300,000 txs takes seconds) nor a block's round in
            // between delays the next listing.
            let mut wait = schedule.wait(std::time::Instant::now());
            if self.tweaks_pending() {
                // Blocks indexed before silent payments were turned on get their tweaks in the
                // time between rounds, a chunk at a time, until a new block comes.
                let deadline = std::time::Instant::now() + wait;
                while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                    match self.build_tweaks_chunk() {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            tracing::warn!("{e:#}; trying again later");
                            break;
                        }
                    }
                    if self.daemon.best_block_hash().ok() != Some(hash) {
                        break;
                    }
                }
                wait = deadline.saturating_duration_since(std::time::Instant::now());
            }
            if let Some(zmq) = &zmq {
                // An announcement or the poll interval, then look again: sync_to_tip acts on
                // any change of the daemon's best hash.
                zmq.wait(wait);
            } else if let Err(e) = self.daemon.wait_for_new_block(&hash, wait) {
                tracing::warn!("waiting for a new block failed: {e}");
                std::thread::sleep(wait.min(Duration::from_secs(5)));
            }
        }
        Ok(())
    }

    /// Highest height at which our chain and the daemon's agree (None for an empty index).
    fn find_fork(&self) -> Result<Option<Height>> {
        let tip = self.store.tip();
        let Some(mut h) = tip.height() else {
            return Ok(None);
        };
        loop {
            let ours = tip.hash(h);
            let theirs = self.daemon.block_hash(h.0)?;
            if theirs.is_some() && theirs == ours {
                return Ok(Some(h));
            }
            if h.0 == 0 {
                bail!(
                    "the daemon's genesis block differs from the index's; wrong network or DB_DIRECTORY"
                );
            }
            h = Height(h.0 - 1);
        }
    }

    /// Removes blocks above `fork` (newest first); returns how many.
    fn rollback_to(&self, fork: Height) -> Result<u64> {
        let tip = self.store.tip();
        let Some(top) = tip.height() else {
            return Ok(0);
        };
        tracing::warn!(
            "reorg: rolling back {} block(s) from height {} to fork point {}",
            top.0 - fork.0,
            top,
            fork
        );
        for h in (fork.0 + 1..=top.0).rev() {
            let h = Height(h);
            let rec = self.undo_record(&tip, h)?;
            let wb = rec.rollback_batch(&self.store, h)?;
            let mut new_tip = (*self.store.tip()).clone();
            new_tip.truncate(h.0 as usize);
            self.store.commit(wb, new_tip)?;
            if let Ok(mut g) = self.rolled_back.lock()
                && let Some(v) = g.as_mut()
            {
                v.push(rec);
            }
        }
        self.store.persist()?;
        Ok((top.0 - fork.0) as u64)
    }

    /// The undo record of our block at `h`: stored, or rebuilt from the block refetched from
    /// the daemon (which keeps stale blocks) when `h` is older than the undo window.
    fn undo_record(&self, tip: &crate::store::TipState, h: Height) -> Result<UndoRecord> {
        if let Some(raw) = self.store.get(CF_UNDO, &keys::undo_key(h))? {
            return UndoRecord::decode(&raw)
                .with_context(|| format!("corrupt undo record at height {h}"));
        }
        let hash = tip.hash(h).context("rollback below the tip state")?;
        let txnums = tip
            .block_txnums(h)
            .context("rollback below the tip state")?;
        tracing::info!(
            "block {h} ({hash}) is older than the undo window: refetching it from the daemon"
        );
        let b = fetch::fetch_and_prepare(&self.daemon, self.coin, h, &hash, false)
            .and_then(|mut b| {
                resolve::from_daemon(&self.store, &self.daemon, self.coin, &mut b)?;
                Ok(b)
            })
            .with_context(|| {
                format!(
                    "cannot undo block {h} ({hash}): it is outside the undo window (REORG_LIMIT) \
                     and the daemon cannot supply it with its spent outputs. Point DAEMON_URL at \
                     a node that has this stale block, or delete DB_DIRECTORY and re-index"
                )
            })?;
        UndoRecord::for_block(&b, TxNum(txnums.start), |_, i| {
            Ok(Funding::Txid(i.prev_txid))
        })
    }

    /// Indexes heights `start..=end` through the parallel pipeline. Stops early (after
    /// committing what it has) when a block does not extend the previous one: the daemon's
    /// chain changed, and the caller starts over.
    fn index_range(&self, start: u32, end: u32, stop: &AtomicBool) -> Result<(u64, u64)> {
        let workers = self.cfg.threads.max(1) + 1;
        let window = WINDOW_PER_WORKER * workers as u32;
        // Two batches can be in memory at once (one filling, one being written).
        let budget = (self.cfg.cache_mb << 20) / 5;
        let undo_from = (end + 1).saturating_sub(self.cfg.reorg_limit);
        let tip = self.store.tip();
        let mut prev = tip.tip_hash();
        let keep_outpoints = self.store.keeps_outpoints();
        // Silent payments tweaks (an EC multiplication per eligible tx, 3x the rest of the
        // indexing work on two cores) are computed inline only for a short catch-up; a long
        // one is indexed at full speed and its tweaks built after it (`tweaks.rs`), so that
        // everything else is served as early as without them.
        let sp_from = match self.store.sp_state() {
            Some(_) if end - start >= tweaks::DEFER_AFTER_BLOCKS => {
                self.store.sp_defer(start, end)?;
                None
            }
            s => s.map(|s| s.from),
        };
        let mut batch = FlushBatch::with_budget(tip.tx_count(), budget, keep_outpoints);
        let mut progress = Progress::new(start, end, tip.tx_count());
        let (mut blocks, mut txs) = (0u64, 0u64);
        let mut hashes: Vec<BlockHash> = Vec::new();
        let mut hashes_from = start;

        std::thread::scope(|scope| -> Result<()> {
            let (job_tx, job_rx) = crossbeam_channel::unbounded::<(Height, BlockHash)>();
            let (res_tx, res_rx) =
                crossbeam_channel::unbounded::<(Height, Result<PreparedBlock>)>();
            for _ in 0..workers {
                let (job_rx, res_tx) = (job_rx.clone(), res_tx.clone());
                scope.spawn(move || {
                    for (h, hash) in job_rx {
                        let tweaks = sp_from.is_some_and(|f| h.0 >= f);
                        let mut r =
                            fetch::fetch_and_prepare(&self.daemon, self.coin, h, &hash, tweaks);
                        if let Ok(b) = &mut r
                            && !b.inputs_done
                            && let Err(e) = resolve::on_worker(&self.store, b)
                        {
                            r = Err(e);
                        }
                        if res_tx.send((h, r)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(res_tx);
            // The flusher commits a full batch while the writer fills the next one. A rendezvous
            // channel: at most one batch in flight.
            let (flush_tx, flush_rx) = crossbeam_channel::bounded::<FlushBatch>(0);
            let (ack_tx, ack_rx) = crossbeam_channel::unbounded::<Result<()>>();
            scope.spawn(move || {
                for b in flush_rx {
                    let r = self.flush(b, false);
                    let failed = r.is_err();
                    if ack_tx.send(r).is_err() || failed {
                        break;
                    }
                }
            });
            // New outputs of the batches handed to the flusher and not yet committed, oldest
            // first: undo records look funding outputs up there.
            let mut in_flight: VecDeque<BatchOutputs> = VecDeque::new();
            // Waits until every batch handed to the flusher is committed.
            let wait_flushes = |in_flight: &mut VecDeque<BatchOutputs>| -> Result<()> {
                while !in_flight.is_empty() {
                    ack_rx.recv().context("flusher stopped")??;
                    in_flight.pop_front();
                }
                Ok(())
            };
            let mut next_dispatch = start;
            let mut next_apply = start;
            let mut pending: BTreeMap<u32, PreparedBlock> = BTreeMap::new();
            // The lowest block that failed to fetch or prepare: the blocks below it are still
            // applied (and committed) before its error ends the round.
            let mut failed: Option<(u32, anyhow::Error)> = None;
            let result = (|| -> Result<()> {
                while next_apply <= end {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if failed.as_ref().is_some_and(|(h, _)| next_apply >= *h) {
                        return Err(failed
                            .take()
                            .map_or_else(|| anyhow::anyhow!("failed"), |f| f.1));
                    }
                    while failed.is_none()
                        && next_dispatch <= end
                        && next_dispatch < next_apply + window
                    {
                        let idx = (next_dispatch - hashes_from) as usize;
                        if idx >= hashes.len() {
                            hashes_from = next_dispatch;
                            let to = (next_dispatch + HASH_CHUNK).min(end + 1);
                            hashes = self.daemon.block_hashes(next_dispatch..to)?;
                            continue;
                        }
                        job_tx
                            .send((Height(next_dispatch), hashes[idx]))
                            .context("workers stopped")?;
                        next_dispatch += 1;
                    }
                    let (h, r) = res_rx.recv().context("workers stopped")?;
                    match r {
                        Ok(b) => {
                            pending.insert(h.0, b);
                        }
                        Err(e) if failed.as_ref().is_none_or(|(f, _)| h.0 < *f) => {
                            failed = Some((h.0, e));
                        }
                        Err(_) => {}
                    }
                    while let Some(mut b) = pending.remove(&next_apply) {
                        if prev.is_some_and(|p| p != b.prev_hash)
                            || (prev.is_none() && b.height.0 != 0)
                        {
                            tracing::info!(
                                "block {} does not extend our tip: the daemon's chain changed",
                                b.height
                            );
                            return Ok(());
                        }
                        resolve::on_writer(&self.store, &self.daemon, self.coin, &mut b, |id| {
                            batch.pending_output(id).or_else(|| {
                                in_flight
                                    .iter()
                                    .rev()
                                    .find_map(|m| m.outpoints.get(id).copied())
                            })
                        })?;
                        let first = TxNum(batch.end_txnum());
                        let undo = if b.height.0 >= undo_from {
                            Some(self.make_undo(&batch, &in_flight, &b, first)?)
                        } else {
                            None
                        };
                        batch.add_block(&b, first, undo.as_ref());
                        if let Some(t) = b.tweaks.take() {
                            batch.add_tweaks(b.height, t);
                        }
                        if undo.is_some() && b.height.0 >= self.cfg.reorg_limit {
                            batch.prune_undo(Height(b.height.0 - self.cfg.reorg_limit));
                        }
                        prev = Some(b.hash);
                        blocks += 1;
                        txs += b.txs.len() as u64;
                        progress.block(b.height.0, b.txs.len() as u64);
                        next_apply += 1;
                        if batch.mem_bytes() >= budget {
                            let next = batch.end_txnum();
                            let full = std::mem::replace(
                                &mut batch,
                                FlushBatch::with_budget(next, budget, keep_outpoints),
                            );
                            while let Ok(ack) = ack_rx.try_recv() {
                                ack?;
                                in_flight.pop_front();
                            }
                            in_flight.push_back(full.outputs());
                            flush_tx.send(full).context("flusher stopped")?;
                        }
                    }
                }
                Ok(())
            })();
            drop(job_tx);
            // Whatever happened, commit what was applied, so the next round resumes after it.
            let last = std::mem::take(&mut batch);
            let finished = (|| -> Result<()> {
                if !last.is_empty() {
                    in_flight.push_back(last.outputs());
                    flush_tx.send(last).context("flusher stopped")?;
                }
                wait_flushes(&mut in_flight)
            })();
            drop(flush_tx);
            finished.and(result)
        })?;
        self.store.persist()?;
        progress.done();
        Ok((blocks, txs))
    }

    /// The undo record of a block being indexed. Funding tx numbers come from the batch being
    /// filled, the batches being committed and the workers' resolution (raw block source);
    /// any other funding transaction is recorded by txid, never read from the store here.
    fn make_undo(
        &self,
        batch: &FlushBatch,
        in_flight: &VecDeque<BatchOutputs>,
        b: &PreparedBlock,
        first: TxNum,
    ) -> Result<UndoRecord> {
        UndoRecord::for_block(b, first, |index, i| {
            let op = OutPointKey {
                txid: TxidPrefix::from_bytes(&i.prev_txid),
                vout: i.prev_vout,
            };
            let key = (i.script, op);
            if let Some((n, _)) = batch.pending_utxo(&i.script, &op) {
                return Ok(Funding::Num(n));
            }
            if let Some((n, _)) = in_flight.iter().rev().find_map(|m| m.utxos.get(&key)) {
                return Ok(Funding::Num(*n));
            }
            if let Some(Some(n)) = b.funding.get(index) {
                return Ok(Funding::Num(*n));
            }
            Ok(Funding::Txid(i.prev_txid))
        })
    }

    /// Commits a batch with its tip and starts making it durable (`wait`: and waits for that).
    fn flush(&self, batch: FlushBatch, wait: bool) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let mut new_tip = (*self.store.tip()).clone();
        let wb = batch.into_write_batch(&self.store, &mut new_tip, self.coin)?;
        let (rows, bytes) = (wb.len(), wb.size_in_bytes());
        let built = t.elapsed().as_secs_f64();
        self.store.commit(wb, new_tip)?;
        let written = t.elapsed().as_secs_f64();
        if wait {
            self.store.persist()?;
        } else {
            self.store.persist_in_background()?;
        }
        tracing::debug!(
            "flushed {rows} rows, {} MB in {:.2}s (build {built:.2}s, write {:.2}s, persist {:.2}s)",
            bytes >> 20,
            t.elapsed().as_secs_f64(),
            written - built,
            t.elapsed().as_secs_f64() - written
        );
        Ok(())
    }
}
