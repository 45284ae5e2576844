//! The confirmed-history cache: histories as already resolved
//! (txid, height) lists, so a wallet polling a busy address costs no index reads.
//!
//! Every entry is valid for the cache's `tip`. When the follow loop moves the tip it removes the
//! scripts the new blocks touched (and everything on a reorg or an undescribed change) before
//! publishing; the others stay valid, unlike ElectrumX's cache which is emptied on every block.
//! A request uses the cache only when its index view is at the cache's tip, so an entry is
//! never read or stored for another tip.

use crate::types::ScriptKey;
use bitcoin::{BlockHash, Txid};
use lru::LruCache;
use std::sync::{Arc, Mutex};

/// Shorter histories are not kept (an empty one costs a single index seek).
pub const MIN_CACHED: usize = 1;
/// Per-history overhead (LRU node, key, list header), in entries' worth of bytes.
const OVERHEAD_ENTRIES: usize = 3;
/// Bytes one cached entry costs, roughly (txid, height, list overhead).
const ENTRY_BYTES: usize = 40;

pub type Confirmed = Arc<Vec<(Txid, u32)>>;

struct Inner {
    tip: Option<BlockHash>,
    map: LruCache<ScriptKey, Confirmed>,
    entries: usize,
}

pub struct HistoryCache {
    inner: Mutex<Inner>,
    max_entries: usize,
    pub hits: std::sync::atomic::AtomicU64,
    pub misses: std::sync::atomic::AtomicU64,
}

impl HistoryCache {
    /// Scripts whose history is cached.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.map.len()).unwrap_or(0)
    }

    /// Whether no history is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cache of about `bytes` bytes.
    pub fn new(bytes: usize) -> Self {
        HistoryCache {
            inner: Mutex::new(Inner {
                tip: None,
                map: LruCache::unbounded(),
                entries: 0,
            }),
            max_entries: bytes / ENTRY_BYTES,
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// The cached history of `s`, if the cache is at `tip`.
    pub fn get(&self, tip: Option<BlockHash>, s: &ScriptKey) -> Option<Confirmed> {
        self.lookup(tip, s, true)
    }

    /// Like [`get`](Self::get) but a miss is not counted: for a first try whose miss is
    /// followed by a `get`.
    pub fn try_get(&self, tip: Option<BlockHash>, s: &ScriptKey) -> Option<Confirmed> {
        self.lookup(tip, s, false)
    }

    fn lookup(&self, tip: Option<BlockHash>, s: &ScriptKey, count_miss: bool) -> Option<Confirmed> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut g = self.inner.lock().ok()?;
        let found = if g.tip == tip {
            g.map.get(s).cloned()
        } else {
            None
        };
        if found.is_some() {
            self.hits.fetch_add(1, Relaxed);
            crate::metrics::cache_lookup("history", true);
        } else if count_miss {
            self.misses.fetch_add(1, Relaxed);
            crate::metrics::cache_lookup("history", false);
        }
        found
    }

    /// Remembers a history computed at `tip` (ignored if the cache has moved on, or if it is
    /// too short to be worth it).
    pub fn put(&self, tip: Option<BlockHash>, s: ScriptKey, h: Confirmed) {
        if h.len() < MIN_CACHED || h.len() > self.max_entries / 4 {
            return;
        }
        let Ok(mut g) = self.inner.lock() else { return };
        if g.tip != tip {
            return;
        }
        let n = h.len() + OVERHEAD_ENTRIES;
        if let Some(old) = g.map.put(s, h) {
            g.entries -= old.len() + OVERHEAD_ENTRIES;
        }
        g.entries += n;
        while g.entries > self.max_entries {
            match g.map.pop_lru() {
                Some((_, old)) => g.entries -= old.len() + OVERHEAD_ENTRIES,
                None => break,
            }
        }
    }

    /// Moves the cache to `tip`: drops the touched scripts, or everything when `all`.
    pub fn advance<'a>(
        &self,
        tip: Option<BlockHash>,
        all: bool,
        touched: impl Iterator<Item = &'a ScriptKey>,
    ) {
        let Ok(mut g) = self.inner.lock() else { return };
        if all {
            g.map.clear();
            g.entries = 0;
        } else {
            for s in touched {
                if let Some(old) = g.map.pop(s) {
                    g.entries -= old.len() + OVERHEAD_ENTRIES;
                }
            }
        }
        g.tip = tip;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn hist(n: usize) -> Confirmed {
        Arc::new((0..n).map(|i| (Txid::all_zeros(), i as u32)).collect())
    }

    #[test]
    fn entries_live_for_their_tip_and_survive_untouched() {
        let (t1, t2) = (
            Some(BlockHash::all_zeros()),
            Some(BlockHash::from_byte_array([1; 32])),
        );
        let (a, b) = (ScriptKey([1; 11]), ScriptKey([2; 11]));
        let c = HistoryCache::new(100 * 1024 * 1024);
        c.put(t1, a, hist(100)); // the cache is not at t1 yet
        assert!(c.get(t1, &a).is_none());
        c.advance(t1, true, std::iter::empty());
        c.put(t1, a, hist(100));
        c.put(t1, b, hist(100));
        c.put(t1, ScriptKey([3; 11]), hist(0)); // empty: not kept
        assert!(c.get(t1, &ScriptKey([3; 11])).is_none());
        assert_eq!(c.get(t1, &a).map(|h| h.len()), Some(100));
        c.advance(t2, false, [a].iter());
        assert!(c.get(t2, &a).is_none(), "touched: dropped");
        assert!(c.get(t2, &b).is_some(), "untouched: still valid");
        assert!(
            c.get(t1, &b).is_none(),
            "a request at the old tip bypasses the cache"
        );
        c.put(t1, a, hist(100));
        assert!(
            c.get(t2, &a).is_none(),
            "an old tip's history is not stored"
        );
    }

    #[test]
    fn stays_within_its_budget() {
        let c = HistoryCache::new(1000 * ENTRY_BYTES);
        c.advance(None, true, std::iter::empty());
        for i in 0..20u8 {
            c.put(None, ScriptKey([i; 11]), hist(200));
        }
        let g = c.inner.lock().unwrap();
        assert!(g.entries <= 1000 && g.entries > 0, "{}", g.entries);
    }
}
