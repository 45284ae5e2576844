//! The raw bytes of the transactions that entered the mempool last, within a fixed budget.
//!
//! A wallet notified of a payment asks for that transaction (`blockchain.transaction.get`)
//! within seconds, and the mempool update has just fetched exactly those bytes from the
//! daemon. Keeping the newest of them answers that request without asking bitcoind again,
//! which matters because a node with a large mempool answers slowly while a listing holds its
//! mempool lock. The budget is fixed (not per mempool tx), oldest out first.

use bitcoin::Txid;
use std::collections::{HashMap, VecDeque};

/// Bytes of raw transactions kept: at 300 bytes a tx, the last ≈14,000 arrivals (minutes of
/// mainnet's busiest days), and a fixed 4 MiB whatever the mempool's size.
pub const BUDGET: usize = 4 << 20;

#[derive(Debug)]
pub struct RecentRaw {
    budget: usize,
    bytes: usize,
    order: VecDeque<Txid>,
    map: HashMap<Txid, Box<[u8]>>,
}

impl Default for RecentRaw {
    fn default() -> Self {
        RecentRaw::with_budget(BUDGET)
    }
}

impl RecentRaw {
    pub fn with_budget(budget: usize) -> RecentRaw {
        RecentRaw {
            budget,
            bytes: 0,
            order: VecDeque::new(),
            map: HashMap::new(),
        }
    }

    /// Keeps `raw` as the newest; evicts the oldest beyond the budget. A tx larger than the
    /// whole budget is not kept.
    pub fn insert(&mut self, txid: Txid, raw: Box<[u8]>) {
        if raw.len() > self.budget || self.map.contains_key(&txid) {
            return;
        }
        self.bytes += raw.len();
        self.map.insert(txid, raw);
        self.order.push_back(txid);
        while self.bytes > self.budget {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(r) = self.map.remove(&old) {
                self.bytes -= r.len();
            }
        }
    }

    /// Keeps the newest of `txs` (the end of the list) that fit the budget, skipping the
    /// rest: an initial load of 300,000 txs does not copy them all through.
    pub fn extend(&mut self, txs: Vec<(Txid, Box<[u8]>)>) {
        let mut fit = 0usize;
        let start = txs
            .iter()
            .rposition(|(_, raw)| {
                fit += raw.len();
                fit > self.budget
            })
            .map_or(0, |i| i + 1);
        for (txid, raw) in txs.into_iter().skip(start) {
            self.insert(txid, raw);
        }
    }

    pub fn get(&self, txid: &Txid) -> Option<&[u8]> {
        self.map.get(txid).map(|r| &r[..])
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn txid(n: u8) -> Txid {
        Txid::from_byte_array([n; 32])
    }

    fn raw(len: usize, fill: u8) -> Box<[u8]> {
        vec![fill; len].into_boxed_slice()
    }

    #[test]
    fn the_oldest_leave_first_within_the_budget() {
        let mut c = RecentRaw::with_budget(100);
        c.insert(txid(1), raw(40, 1));
        c.insert(txid(2), raw(40, 2));
        assert_eq!(c.get(&txid(1)), Some(&[1u8; 40][..]));
        c.insert(txid(3), raw(40, 3));
        assert_eq!(c.get(&txid(1)), None, "evicted first");
        assert_eq!(c.get(&txid(2)).map(<[u8]>::len), Some(40));
        assert_eq!(c.get(&txid(3)).map(<[u8]>::len), Some(40));
        assert_eq!((c.count(), c.bytes()), (2, 80));
        c.insert(txid(2), raw(40, 9)); // again: no change, no double count
        assert_eq!((c.count(), c.bytes()), (2, 80));
        assert_eq!(c.get(&txid(2)), Some(&[2u8; 40][..]));
        c.insert(txid(4), raw(101, 4)); // larger than the budget: not kept, nothing evicted
        assert_eq!((c.count(), c.bytes()), (2, 80));
    }

    #[test]
    fn extend_keeps_only_the_newest_that_fit() {
        let mut c = RecentRaw::with_budget(100);
        c.insert(txid(99), raw(20, 99));
        let batch: Vec<_> = (1..=10).map(|n| (txid(n), raw(30, n))).collect();
        c.extend(batch);
        // 100 bytes: the last three of the batch (90 bytes); the older entry made room.
        assert_eq!(c.count(), 3);
        for n in 8..=10 {
            assert!(c.get(&txid(n)).is_some(), "{n}");
        }
        assert!(c.get(&txid(7)).is_none() && c.get(&txid(99)).is_none());
        assert!(c.bytes() <= 100);
    }
}
