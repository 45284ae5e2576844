//! The in-memory view of the indexed chain: block hashes and cumulative tx counts by height.
//!
//! Readers take an `Arc<TipState>` and keep it for a whole request, so everything they compute is
//! for one tip even while the writer advances. Cloning is cheap: the vectors are chunked into
//! shared `Arc` blocks, and only the last chunk is copied when the writer appends.

use crate::types::{Height, TxNum};
use bitcoin::BlockHash;
use std::sync::Arc;

const CHUNK: usize = 4096;

/// An append/truncate-only vector whose clones share all full chunks.
#[derive(Clone, Debug)]
pub struct ChunkedVec<T: Copy> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T: Copy> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Copy> ChunkedVec<T> {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        self.chunks.get(i / CHUNK)?.get(i % CHUNK).copied()
    }
    pub fn last(&self) -> Option<T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }
    pub fn push(&mut self, v: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(v);
            self.len += 1;
        }
    }
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.chunks.truncate(len.div_ceil(CHUNK));
        let keep = len - self.chunks.len().saturating_sub(1) * CHUNK;
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).truncate(keep);
        }
        self.len = len;
    }
    /// Index of the first element for which `pred` is false, assuming `pred` is true for a
    /// prefix (like `slice::partition_point`).
    pub fn partition_point(&self, pred: impl Fn(T) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(v) if pred(v) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

/// The indexed chain at one tip.
#[derive(Clone, Debug, Default)]
pub struct TipState {
    hashes: ChunkedVec<BlockHash>,
    /// Number of transactions in blocks `0..=height`.
    tx_counts: ChunkedVec<u64>,
}

impl TipState {
    /// Height of the tip; `None` for an empty index.
    pub fn height(&self) -> Option<Height> {
        self.hashes.len().checked_sub(1).map(|h| Height(h as u32))
    }
    pub fn tip_hash(&self) -> Option<BlockHash> {
        self.hashes.last()
    }
    /// Number of blocks (tip height + 1).
    pub fn len(&self) -> usize {
        self.hashes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
    pub fn hash(&self, h: Height) -> Option<BlockHash> {
        self.hashes.get(h.0 as usize)
    }
    /// Total number of transactions up to the tip; also the next tx number.
    pub fn tx_count(&self) -> u64 {
        self.tx_counts.last().unwrap_or(0)
    }
    /// Tx numbers of the block at `h`.
    pub fn block_txnums(&self, h: Height) -> Option<std::ops::Range<u64>> {
        let end = self.tx_counts.get(h.0 as usize)?;
        let start = match h.0 {
            0 => 0,
            _ => self.tx_counts.get(h.0 as usize - 1)?,
        };
        Some(start..end)
    }
    /// Height of the block holding tx number `n`, if it is in this tip's chain.
    pub fn height_of(&self, n: TxNum) -> Option<Height> {
        let h = self.tx_counts.partition_point(|c| c <= n.0);
        (h < self.tx_counts.len()).then_some(Height(h as u32))
    }
    pub fn push(&mut self, hash: BlockHash, tx_count_end: u64) {
        self.hashes.push(hash);
        self.tx_counts.push(tx_count_end);
    }
    /// Keeps blocks `0..len`.
    pub fn truncate(&mut self, len: usize) {
        self.hashes.truncate(len);
        self.tx_counts.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    #[test]
    fn chunked_vec_push_truncate_share() {
        let mut v = ChunkedVec::default();
        for i in 0..10_000u64 {
            v.push(i);
        }
        let snapshot = v.clone();
        v.truncate(5000);
        v.push(99);
        assert_eq!(v.len(), 5001);
        assert_eq!(v.get(5000), Some(99));
        assert_eq!(snapshot.get(5000), Some(5000));
        assert_eq!(snapshot.len(), 10_000);
        v.truncate(0);
        assert!(v.is_empty());
        assert_eq!(snapshot.partition_point(|x| x < 1234), 1234);
    }

    #[test]
    fn txnum_to_height() {
        let mut t = TipState::default();
        t.push(BlockHash::all_zeros(), 1); // genesis: tx 0
        t.push(BlockHash::all_zeros(), 4); // txs 1..4
        t.push(BlockHash::all_zeros(), 4); // (impossible empty block, still consistent)
        t.push(BlockHash::all_zeros(), 6); // txs 4..6
        assert_eq!(t.height_of(TxNum(0)), Some(Height(0)));
        assert_eq!(t.height_of(TxNum(3)), Some(Height(1)));
        assert_eq!(t.height_of(TxNum(4)), Some(Height(3)));
        assert_eq!(t.height_of(TxNum(6)), None);
        assert_eq!(t.block_txnums(Height(1)), Some(1..4));
        assert_eq!(t.tx_count(), 6);
    }
}
