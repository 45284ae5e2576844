//! The mempool layer: Ferrum's own copy of the daemon's mempool, indexed by script, and every
//! mempool answer the Electrum protocol needs, with ElectrumX 2.0's semantics (history order and
//! heights, fees, balance deltas, unspent outputs, spenders, `mempool.recent`, the compact fee
//! histogram, `mempool.get_info`).
//!
//! [`Mempool::update`] brings the copy in line with bitcoind: it lists the mempool, fetches new
//! transactions and the confirmed outputs they spend *without holding any lock* ([`fetch`]),
//! then applies removals and additions under short write locks, [`APPLY_CHUNK`] transactions at
//! a time, so a big initial load never makes readers wait long. Readers take
//! [`Mempool::read`]: a read lock for one request, never held across daemon I/O.
//!
//! The state ([`state`]) keeps, per transaction, only what ElectrumX keeps (prevouts, the script
//! key and value of each input and output, fee, vsize) plus an ordered `(script, txid)` set, so
//! a script's history costs O(its entries), not O(mempool).
//!
//! Consistency with the confirmed index: after a block, mined txs stay in the mempool until the
//! next `update` (as in ElectrumX between refreshes), so callers update the mempool right after
//! the index catches up with a new tip, passing that tip: an update that finds the daemon
//! already past it applies nothing (see [`Mempool::update`]).

mod fetch;
pub mod histogram;
mod raw_file;
mod state;
pub mod tweaks;

use crate::daemon::Daemon;
use crate::types::ScriptKey;
use anyhow::{Context, Result};
use bitcoin::{BlockHash, Txid};
use raw_file::{RawAt, RawStore};
use serde_json::Value;
use state::State;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

pub use raw_file::COMPACT_MIN as RAW_COMPACT_MIN;
pub use state::RECENT_COUNT;

/// Transactions added or removed per write lock.
pub const APPLY_CHUNK: usize = 1_000;

/// ElectrumX caches `getmempoolinfo` for 60 s (`Daemon.getmempoolinfo`).
pub const INFO_REFRESH: Duration = Duration::from_secs(60);

/// New transactions in one update from which the allocator is asked to give freed memory
/// back (see [`release_free_memory`]).
const TRIM_AFTER: usize = 10_000;

/// Hands the allocator's free pages back to the system. A large update (the initial load of
/// a full mempool) parses its transactions on several fetch threads, each allocating from
/// its own glibc arena; what they freed stays in those arenas, counted in RSS, unless trimmed:
/// 1,156 bytes of RSS per mempool tx instead of ~900 with 300,000 txs (`scripts/bench-mempool`).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of glibc's heaps to the kernel; it takes the
    // allocator's own locks and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What an update changed: the scripts paid to or spent from, the outpoints spent or created,
/// and the txids of every added or removed transaction (ElectrumX's `touched_hashxs` and
/// `touched_outpoints`, plus the txids).
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub scripts: HashSet<ScriptKey>,
    pub outpoints: HashSet<(Txid, u32)>,
    pub txids: HashSet<Txid>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        self.txids.is_empty()
    }
}

/// One mempool transaction of a script's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolEntry {
    pub txid: Txid,
    /// 0, or -1 when the tx spends an output of another mempool tx.
    pub height: i32,
    pub fee: u64,
}

/// A mempool output paying a script and not spent in the mempool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolUtxo {
    pub txid: Txid,
    pub vout: u32,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxInfo {
    pub fee: u64,
    pub vsize: u64,
    pub has_unconfirmed_parent: bool,
}

/// An entry of `mempool.recent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentTx {
    pub txid: Txid,
    pub fee: u64,
    pub vsize: u64,
}

/// When the update thread last recomputed the histogram and fetched `getmempoolinfo`.
#[derive(Debug, Default)]
struct Clocks {
    histogram: Option<Instant>,
    info: Option<Instant>,
}

/// The mempool; `Send + Sync`, share it as `Arc<Mempool>`. See the module documentation.
#[derive(Debug)]
pub struct Mempool {
    state: RwLock<State>,
    /// Raw bytes of every tx, on disk, for `transaction.get` (see [`raw_file`]).
    raw: RawStore,
    /// Serializes updates (and owns their timers); readers never take it.
    updating: Mutex<Clocks>,
    loaded: AtomicBool,
    histogram_refresh: Duration,
    /// Silent payments tweaks of eligible mempool txs, when the server keeps them.
    tweaks: Option<tweaks::MempoolTweaks>,
}

impl Default for Mempool {
    fn default() -> Self {
        Self::new()
    }
}

impl Mempool {
    pub fn new() -> Mempool {
        Self::with_histogram_refresh(histogram::REFRESH)
    }

    /// A mempool whose fee histogram is recomputed at most every `interval` (ElectrumX:
    /// [`histogram::REFRESH`]; tests use zero to recompute at every update).
    pub fn with_histogram_refresh(interval: Duration) -> Mempool {
        Mempool {
            state: RwLock::new(State::default()),
            raw: RawStore::default(),
            updating: Mutex::new(Clocks::default()),
            loaded: AtomicBool::new(false),
            histogram_refresh: interval,
            tweaks: None,
        }
    }

    /// Also computes the silent payments tweaks of eligible mempool txs
    /// ([`Mempool::tweaks`]). Needs the raw bytes kept ([`Mempool::keeping_raw_in`]).
    pub fn with_tweaks(mut self) -> Mempool {
        self.tweaks = Some(tweaks::MempoolTweaks::default());
        self
    }

    /// The silent payments tweaks of eligible mempool txs, when kept.
    pub fn tweaks(&self) -> Option<&tweaks::MempoolTweaks> {
        self.tweaks.as_ref()
    }

    /// Keeps every mempool tx's raw bytes in an unnamed file in `dir` (see [`raw_file`]), so
    /// that [`Mempool::raw_tx`] answers without the daemon, compacted once over
    /// `compact_min` bytes ([`RAW_COMPACT_MIN`]) and mostly dead. Without it, or if the file
    /// cannot be created (logged), nothing is kept.
    pub fn keeping_raw_in(mut self, dir: &std::path::Path, compact_min: u64) -> Mempool {
        match RawStore::in_dir(dir, compact_min) {
            Ok(store) => self.raw = store,
            Err(e) => warn!("mempool raw bytes not kept ({e:#}): transaction.get asks bitcoind"),
        }
        self
    }

    /// The raw bytes of `txid` while it is in the mempool, from the file (see [`raw_file`]);
    /// `None` if it is not there or they were not kept.
    pub fn raw_tx(&self, txid: &Txid) -> Option<Vec<u8>> {
        // The file is taken under the state's read lock: a compaction moves locators under
        // its write lock and closes the old file only after (see `RawStore::file_of`).
        let (file, at) = {
            let view = self.read();
            let at = view.state.raw_at(txid)?;
            (self.raw.file_of(at)?, at)
        };
        RawStore::read(&file, at)
    }

    /// Bytes in the raw file (live and dead).
    pub fn raw_file_bytes(&self) -> u64 {
        self.raw.end()
    }

    /// Housekeeping outside an update's critical path (the follow loop calls it after
    /// publishing): compacts the raw file once it is mostly dead bytes.
    pub fn maintain(&self) {
        let _serial = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.raw.should_compact(self.read().state.raw_live()) {
            return;
        }
        let started = Instant::now();
        let locators = self.read().state.raw_locators();
        match self.raw.copy_live(locators) {
            Ok(moved) => {
                for chunk in moved.chunks(APPLY_CHUNK) {
                    let mut state = self.write();
                    for (txid, at) in chunk {
                        state.set_raw_at(txid, *at);
                    }
                }
                self.raw.retire();
                debug!("mempool raw file compacted in {:.2?}", started.elapsed());
            }
            Err(e) => warn!("mempool raw file not compacted: {e:#}"),
        }
    }

    /// True once the first update has completed.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// A consistent read of the current state; cheap; hold it only for one request.
    pub fn read(&self) -> MempoolView<'_> {
        MempoolView {
            state: self.state.read().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// [`Mempool::read`] if no update is applying a change right now (never waits).
    pub fn try_read(&self) -> Option<MempoolView<'_>> {
        match self.state.try_read() {
            Ok(state) => Some(MempoolView { state }),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(MempoolView {
                state: p.into_inner(),
            }),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Brings the state in line with the daemon's mempool and returns what changed. New txs
    /// whose prevouts cannot all be resolved (the daemon moved on meanwhile) are left out and
    /// retried at the next update. Concurrent calls run one after the other.
    ///
    /// `tip` is the confirmed index's tip. A listing taken after the daemon connected a block
    /// the index does not have yet lacks that block's transactions while the index does not
    /// have them either: applied, every payment it confirms would vanish from its script's
    /// history for a moment (a wrong status notification). So when the daemon's best block is
    /// no longer `tip` once the mempool is listed, nothing is applied and `None` is returned:
    /// index the new block, then update again (ElectrumX defers the same way, in
    /// `_refresh_hashes` and `Notifications`). `None` for `tip` skips the check.
    pub fn update(&self, daemon: &Daemon, tip: Option<&BlockHash>) -> Result<Option<Touched>> {
        let mut clocks = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        let started = Instant::now();
        let listed = fetch::mempool_txids(daemon)?;
        if let Some(tip) = tip {
            // bitcoind removes a block's txs from its mempool under the same lock as it moves
            // its tip, so a best block still equal to `tip` means the listing predates any
            // newer block.
            let best = daemon.best_block_hash().context("getbestblockhash")?;
            if best != *tip {
                debug!("mempool: the daemon is at {best}, the index at {tip}; update deferred");
                return Ok(None);
            }
        }
        let listed_set: HashSet<Txid> = listed.iter().copied().collect();
        let (removed, new): (Vec<Txid>, Vec<Txid>) = {
            let state = self.read();
            let removed = state
                .state
                .txids()
                .filter(|t| !listed_set.contains(*t))
                .copied()
                .collect();
            let new = listed
                .iter()
                .filter(|t| !state.contains(t))
                .copied()
                .collect();
            (removed, new)
        };

        // Daemon I/O, no lock held.
        // Each batch's raw bytes go to the file as they arrive (see `raw_file`).
        let keep = |bytes: &[u8], lens: &[usize]| -> Vec<RawAt> { self.raw.append(bytes, lens) };
        let fetched = fetch::transactions(daemon, &new, &keep)?;
        let confirmed =
            fetch::confirmed_outputs(daemon, &fetch::outside_prevouts(&fetched, &listed_set))?;
        let fetched = fetch::parents_first(fetched);
        let fetch_time = started.elapsed();
        let taproot: Vec<Txid> = match &self.tweaks {
            Some(_) => fetched
                .iter()
                .filter(|t| t.pays_taproot)
                .map(|t| t.txid)
                .collect(),
            None => Vec::new(),
        };

        // Removals first: a replacement must not be added while the tx it replaced still
        // holds its outpoints.
        let mut touched = Touched::default();
        self.remove_in_chunks(&removed, &mut touched);
        let mut skipped = 0usize;
        let mut fetched = fetched.into_iter().peekable();
        while fetched.peek().is_some() {
            let mut state = self.write();
            for tx in fetched.by_ref().take(APPLY_CHUNK) {
                let txid = tx.txid;
                if !state.add(tx, &confirmed, &mut touched) {
                    debug!("mempool tx {txid}: prevouts not found, retrying next update");
                    skipped += 1;
                }
            }
        }

        if let Some(tw) = &self.tweaks {
            {
                let view = self.read();
                tw.retain(|t| view.contains(t));
            }
            tw.add(self, daemon, &taproot);
        }

        if clocks
            .histogram
            .is_none_or(|t| t.elapsed() >= self.histogram_refresh)
        {
            let histogram = self.read().state.compute_histogram();
            debug!("compact fee histogram: {histogram:?}");
            self.write().histogram = histogram;
            clocks.histogram = Some(Instant::now());
        }
        if clocks.info.is_none_or(|t| t.elapsed() >= INFO_REFRESH) {
            match fetch::mempool_info(daemon) {
                Ok(info) => {
                    self.write().info = info;
                    clocks.info = Some(Instant::now());
                }
                // Not worth failing the update for: the old value stays, retried next time.
                Err(e) => warn!("mempool info: {e:#}"),
            }
        }

        if new.len() >= TRIM_AFTER {
            release_free_memory();
        }
        let first = !self.loaded.swap(true, Ordering::AcqRel);
        let added = new.len() - skipped;
        let msg = format!(
            "mempool: {} txs; +{added} -{} ({skipped} deferred) in {:.2?} (fetch {:.2?})",
            self.read().len(),
            removed.len(),
            started.elapsed(),
            fetch_time,
        );
        if first {
            info!("{msg}");
        } else {
            debug!("{msg}");
        }
        Ok(Some(touched))
    }

    /// Removes the txs that newly indexed blocks confirmed (`txids`: every tx of those blocks;
    /// ones not in the mempool are skipped) without asking the daemon, and returns what
    /// changed. The follow loop calls it instead of [`Mempool::update`] right after indexing
    /// blocks that extend the tip, so the new tip is published within milliseconds: a full
    /// update lists the daemon's whole mempool first (seconds with 300,000 txs), and queries
    /// wait for the publication meanwhile (a consistent answer pairs the index and mempool of
    /// one tip). What the blocks evicted without confirming it (conflicts) and what arrived
    /// meanwhile are left to the next update, a poll interval later at most.
    pub fn remove_confirmed(&self, txids: &[Txid]) -> Touched {
        let _serial = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        let started = Instant::now();
        let mut touched = Touched::default();
        self.remove_in_chunks(txids, &mut touched);
        if let Some(tw) = &self.tweaks {
            tw.retain(|t| !touched.txids.contains(t));
        }
        debug!(
            "mempool: {} txs after {} confirmed ones left it, in {:.2?}",
            self.read().len(),
            touched.txids.len(),
            started.elapsed()
        );
        touched
    }

    /// Removes `txids` (absent ones skipped), [`APPLY_CHUNK`] per write lock so that readers
    /// get in between.
    fn remove_in_chunks(&self, txids: &[Txid], touched: &mut Touched) {
        for chunk in txids.chunks(APPLY_CHUNK) {
            let mut state = self.write();
            for txid in chunk {
                state.remove(txid, touched);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A read-locked view of the mempool (see [`Mempool::read`]).
pub struct MempoolView<'a> {
    state: RwLockReadGuard<'a, State>,
}

impl MempoolView<'_> {
    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.len() == 0
    }

    /// Total virtual size of the mempool's transactions.
    pub fn vsize(&self) -> u64 {
        self.state.vsize()
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.state.contains(txid)
    }

    /// Mempool txs paying to or spending from `s`, in ElectrumX's order (that of
    /// `MemPool.transaction_summaries`): txs without unconfirmed parents (height 0) first, then
    /// those with (height -1), each group by txid as displayed (byte-reversed hex).
    pub fn history(&self, s: &ScriptKey) -> Vec<MempoolEntry> {
        self.state.history(s)
    }

    /// Mempool outputs paying `s` minus outputs of `s` (confirmed or not) spent in the mempool.
    pub fn balance_delta(&self, s: &ScriptKey) -> i64 {
        self.state.balance_delta(s)
    }

    /// Mempool outputs paying `s` that no mempool tx spends, by displayed txid then vout
    /// (ElectrumX leaves their order undefined).
    pub fn utxos(&self, s: &ScriptKey) -> Vec<MempoolUtxo> {
        self.state.utxos(s)
    }

    /// The mempool tx spending that outpoint (confirmed or not).
    pub fn spender(&self, txid: &Txid, vout: u32) -> Option<Txid> {
        self.state.spender(txid, vout)
    }

    /// Whether a mempool tx `txid` exists with an output `vout`.
    pub fn has_output(&self, txid: &Txid, vout: u32) -> bool {
        self.state.has_output(txid, vout)
    }

    pub fn tx(&self, txid: &Txid) -> Option<TxInfo> {
        self.state.tx(txid)
    }

    /// ElectrumX's compact fee histogram: `(fee rate sat/vB, vsize)` tranches, from the cached
    /// computation (empty before the first update).
    pub fn fee_histogram(&self) -> Vec<(f64, u64)> {
        self.state.histogram.clone()
    }

    /// The `mempool.get_info` result: `mempoolminfee`, `minrelaytxfee` and
    /// `incrementalrelayfee` from `getmempoolinfo` (refreshed at most every [`INFO_REFRESH`]),
    /// or `Value::Null` while no update has fetched it yet.
    pub fn info(&self) -> Value {
        self.state.info.clone()
    }

    /// `mempool.recent`: the last [`RECENT_COUNT`] txs to enter Ferrum's mempool, newest first
    /// (txs that arrived in one update are in parents-first order).
    pub fn recent(&self) -> Vec<RecentTx> {
        self.state.recent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mempool_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Mempool>();
    }

    #[test]
    fn empty_before_the_first_update() {
        let m = Mempool::new();
        assert!(!m.loaded());
        let view = m.read();
        assert!(view.is_empty());
        assert_eq!(view.fee_histogram(), vec![]);
        assert_eq!(view.info(), Value::Null);
        assert_eq!(view.recent(), vec![]);
    }
}
