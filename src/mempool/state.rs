//! The in-memory mempool state and its queries, with no I/O: [`State`] is what the
//! [`super::Mempool`] lock protects. Transactions are added only once every prevout is known
//! (from the confirmed UTXO set or a mempool parent already in the state), and every index is
//! kept in step with `txs` on each add and remove.

use super::histogram;
use super::raw_file::RawAt;
use super::{MempoolEntry, MempoolUtxo, RecentTx, Touched, TxInfo};
use crate::types::ScriptKey;
use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Txid};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many transactions `mempool.recent` lists (ElectrumX: `get_recently_added_txs(count=10)`).
pub const RECENT_COUNT: usize = 10;

/// A transaction fetched from the daemon, before its prevouts are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTx {
    pub txid: Txid,
    pub vsize: u64,
    /// Outputs spent, without coinbase-like (null) prevouts, as ElectrumX.
    pub prevouts: Vec<OutPoint>,
    /// `(script, value)` of each output, by index.
    pub outputs: Vec<(ScriptKey, u64)>,
    /// Where its raw bytes were kept ([`RawAt::NONE`]: not kept).
    pub raw: RawAt,
    /// Whether it has a taproot output (silent payments look at it).
    pub pays_taproot: bool,
}

/// A transaction in the mempool. Its funding side is kept as ElectrumX keeps it: the script and
/// value of every spent prevout, in input order.
#[derive(Debug)]
struct Tx {
    /// Arrival order (for `mempool.recent`).
    seq: u64,
    fee: u64,
    vsize: u64,
    prevouts: Box<[OutPoint]>,
    inputs: Box<[(ScriptKey, u64)]>,
    outputs: Box<[(ScriptKey, u64)]>,
    raw: RawAt,
}

impl Tx {
    fn scripts(&self) -> impl Iterator<Item = ScriptKey> + '_ {
        self.inputs.iter().chain(self.outputs.iter()).map(|p| p.0)
    }
}

/// The mempool: transactions and the indexes the queries need.
#[derive(Debug, Default)]
pub struct State {
    txs: HashMap<Txid, Tx>,
    /// Every `(script, tx)` where the tx pays to or spends from the script: one ordered set with
    /// no per-script allocation, ranged over by script.
    by_script: BTreeSet<(ScriptKey, Txid)>,
    /// Outpoint → the mempool tx spending it.
    spenders: HashMap<OutPoint, Txid>,
    /// Arrival sequence → txid.
    arrivals: BTreeMap<u64, Txid>,
    next_seq: u64,
    /// Sum of the txs' vsizes, kept as they come and go.
    vsize: u64,
    /// Sum of the lengths of the txs' kept raw bytes.
    raw_live: u64,
    pub(super) histogram: Vec<(f64, u64)>,
    pub(super) info: Value,
}

/// Where a prevout's script and value come from, when it is not a mempool output.
pub type ConfirmedOutputs = HashMap<OutPoint, (ScriptKey, u64)>;

/// Sort key of ElectrumX's `transaction_summaries`: `(has_unconfirmed_inputs, txid as shown)`.
fn display_order(txid: &Txid) -> [u8; 32] {
    let mut b = txid.to_byte_array();
    b.reverse();
    b
}

impl State {
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.txs.contains_key(txid)
    }

    /// Total virtual size of the transactions.
    pub fn vsize(&self) -> u64 {
        self.vsize
    }

    pub fn txids(&self) -> impl Iterator<Item = &Txid> {
        self.txs.keys()
    }

    /// Where `txid`'s raw bytes are kept, if it is here and they are.
    pub fn raw_at(&self, txid: &Txid) -> Option<RawAt> {
        self.txs
            .get(txid)
            .map(|tx| tx.raw)
            .filter(|at| !at.is_none())
    }

    /// Bytes of raw transactions the txs here refer to.
    pub fn raw_live(&self) -> u64 {
        self.raw_live
    }

    /// Every tx with kept raw bytes, and where they are.
    pub fn raw_locators(&self) -> Vec<(Txid, RawAt)> {
        self.txs
            .iter()
            .filter(|(_, tx)| !tx.raw.is_none())
            .map(|(txid, tx)| (*txid, tx.raw))
            .collect()
    }

    /// Moves `txid`'s raw bytes to `at` (a compaction copied them; same length).
    pub fn set_raw_at(&mut self, txid: &Txid, at: RawAt) {
        if let Some(tx) = self.txs.get_mut(txid) {
            self.raw_live = self.raw_live.saturating_sub(tx.raw.len()) + at.len();
            tx.raw = at;
        }
    }

    /// Adds `tx` if every prevout resolves, first from `confirmed` then from mempool outputs
    /// (ElectrumX's order); returns whether it was added. The fee is `max(0, in - out)`.
    pub fn add(&mut self, tx: NewTx, confirmed: &ConfirmedOutputs, touched: &mut Touched) -> bool {
        if self.txs.contains_key(&tx.txid) {
            return true;
        }
        let mut inputs = Vec::with_capacity(tx.prevouts.len());
        for prevout in &tx.prevouts {
            let found = confirmed.get(prevout).copied().or_else(|| {
                let parent = self.txs.get(&prevout.txid)?;
                parent.outputs.get(prevout.vout as usize).copied()
            });
            match found {
                Some(pair) => inputs.push(pair),
                None => return false,
            }
        }
        let value_in: u64 = inputs.iter().map(|p| p.1).sum();
        let value_out: u64 = tx.outputs.iter().map(|p| p.1).sum();
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Tx {
            seq,
            fee: value_in.saturating_sub(value_out),
            vsize: tx.vsize,
            prevouts: tx.prevouts.into_boxed_slice(),
            inputs: inputs.into_boxed_slice(),
            outputs: tx.outputs.into_boxed_slice(),
            raw: tx.raw,
        };
        for script in entry.scripts() {
            self.by_script.insert((script, tx.txid));
        }
        self.touch(tx.txid, &entry, touched);
        self.touch_children(tx.txid, entry.outputs.len(), touched);
        for prevout in entry.prevouts.iter() {
            self.spenders.insert(*prevout, tx.txid);
        }
        self.arrivals.insert(seq, tx.txid);
        self.vsize += entry.vsize;
        self.raw_live += entry.raw.len();
        self.txs.insert(tx.txid, entry);
        true
    }

    /// Removes `txid` (no-op when absent).
    pub fn remove(&mut self, txid: &Txid, touched: &mut Touched) {
        let Some(entry) = self.txs.remove(txid) else {
            return;
        };
        self.vsize -= entry.vsize;
        self.raw_live = self.raw_live.saturating_sub(entry.raw.len());
        for script in entry.scripts() {
            self.by_script.remove(&(script, *txid));
        }
        for prevout in entry.prevouts.iter() {
            if self.spenders.get(prevout) == Some(txid) {
                self.spenders.remove(prevout);
            }
        }
        self.arrivals.remove(&entry.seq);
        self.touch(*txid, &entry, touched);
        self.touch_children(*txid, entry.outputs.len(), touched);
    }

    /// The scripts of the mempool txs spending an output of `txid`, which was just added or
    /// removed: whether they have an unconfirmed parent (height -1 or 0 in their scripts'
    /// statuses) may have changed with it. A block that confirms a parent touches only the
    /// parent's scripts, so without this a child's scripts would need re-checking on every
    /// block (as ElectrumX does for every script with mempool entries).
    fn touch_children(&self, txid: Txid, outputs: usize, touched: &mut Touched) {
        for vout in 0..outputs as u32 {
            if let Some(child) = self.spenders.get(&OutPoint::new(txid, vout))
                && let Some(tx) = self.txs.get(child)
            {
                touched.scripts.extend(tx.scripts());
            }
        }
    }

    /// What ElectrumX reports as touched by an added or removed tx.
    fn touch(&self, txid: Txid, entry: &Tx, touched: &mut Touched) {
        touched.txids.insert(txid);
        touched.scripts.extend(entry.scripts());
        touched
            .outpoints
            .extend(entry.prevouts.iter().map(|p| (p.txid, p.vout)));
        touched
            .outpoints
            .extend((0..entry.outputs.len() as u32).map(|vout| (txid, vout)));
    }

    fn has_unconfirmed_parent(&self, tx: &Tx) -> bool {
        tx.prevouts.iter().any(|p| self.txs.contains_key(&p.txid))
    }

    /// Mempool txs touching `script`, with their tx, in no particular order.
    fn touching<'a>(&'a self, script: &ScriptKey) -> impl Iterator<Item = (&'a Txid, &'a Tx)> {
        let first = (*script, Txid::from_byte_array([0; 32]));
        let last = (*script, Txid::from_byte_array([0xff; 32]));
        self.by_script
            .range(first..=last)
            .filter_map(|(_, txid)| Some((txid, self.txs.get(txid)?)))
    }

    pub fn history(&self, script: &ScriptKey) -> Vec<MempoolEntry> {
        let mut entries: Vec<MempoolEntry> = self
            .touching(script)
            .map(|(txid, tx)| MempoolEntry {
                txid: *txid,
                height: if self.has_unconfirmed_parent(tx) {
                    -1
                } else {
                    0
                },
                fee: tx.fee,
            })
            .collect();
        entries.sort_by_cached_key(|e| (e.height == -1, display_order(&e.txid)));
        entries
    }

    pub fn balance_delta(&self, script: &ScriptKey) -> i64 {
        let sum = |pairs: &[(ScriptKey, u64)]| -> i64 {
            pairs
                .iter()
                .filter(|p| p.0 == *script)
                .map(|p| i64::try_from(p.1).unwrap_or(i64::MAX))
                .sum()
        };
        self.touching(script)
            .map(|(_, tx)| sum(&tx.outputs) - sum(&tx.inputs))
            .sum()
    }

    pub fn utxos(&self, script: &ScriptKey) -> Vec<MempoolUtxo> {
        let mut utxos: Vec<MempoolUtxo> = self
            .touching(script)
            .flat_map(|(txid, tx)| {
                tx.outputs
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.0 == *script)
                    .map(|(vout, p)| MempoolUtxo {
                        txid: *txid,
                        vout: vout as u32,
                        value: p.1,
                    })
            })
            .filter(|u| !self.spenders.contains_key(&OutPoint::new(u.txid, u.vout)))
            .collect();
        utxos.sort_by_cached_key(|u| (display_order(&u.txid), u.vout));
        utxos
    }

    pub fn spender(&self, txid: &Txid, vout: u32) -> Option<Txid> {
        self.spenders.get(&OutPoint::new(*txid, vout)).copied()
    }

    pub fn has_output(&self, txid: &Txid, vout: u32) -> bool {
        self.txs
            .get(txid)
            .is_some_and(|tx| (vout as usize) < tx.outputs.len())
    }

    pub fn tx(&self, txid: &Txid) -> Option<TxInfo> {
        let tx = self.txs.get(txid)?;
        Some(TxInfo {
            fee: tx.fee,
            vsize: tx.vsize,
            has_unconfirmed_parent: self.has_unconfirmed_parent(tx),
        })
    }

    /// The last [`RECENT_COUNT`] arrivals, newest first.
    pub fn recent(&self) -> Vec<RecentTx> {
        self.arrivals
            .values()
            .rev()
            .filter_map(|txid| {
                let tx = self.txs.get(txid)?;
                Some(RecentTx {
                    txid: *txid,
                    fee: tx.fee,
                    vsize: tx.vsize,
                })
            })
            .take(RECENT_COUNT)
            .collect()
    }

    pub fn compute_histogram(&self) -> Vec<(f64, u64)> {
        histogram::compact_histogram(self.txs.values().map(|tx| (tx.fee, tx.vsize)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txid(n: u8) -> Txid {
        let mut b = [0u8; 32];
        b[31] = n; // the first byte shown
        b[0] = n.wrapping_mul(7); // the last byte shown
        Txid::from_byte_array(b)
    }
    fn key(n: u8) -> ScriptKey {
        ScriptKey([n; ScriptKey::LEN])
    }
    fn op(t: Txid, vout: u32) -> OutPoint {
        OutPoint::new(t, vout)
    }
    fn new_tx(id: Txid, prevouts: Vec<OutPoint>, outputs: Vec<(ScriptKey, u64)>) -> NewTx {
        NewTx {
            txid: id,
            vsize: 100,
            prevouts,
            outputs,
            raw: super::RawAt::NONE,
            pays_taproot: false,
        }
    }

    /// A (confirmed c0:0 → key 1, 10_000 sat), B spends A:0 (child), C (confirmed c1:0 from key
    /// 2) pays key 1 as well, D spends confirmed c2:0 of key 3.
    fn sample() -> (State, Touched) {
        let mut s = State::default();
        let mut t = Touched::default();
        let (c0, c1, c2) = (txid(200), txid(201), txid(202));
        let confirmed: ConfirmedOutputs = [
            (op(c0, 0), (key(9), 10_000)),
            (op(c1, 0), (key(2), 5_000)),
            (op(c2, 0), (key(3), 7_000)),
        ]
        .into();
        let a = new_tx(
            txid(1),
            vec![op(c0, 0)],
            vec![(key(1), 6_000), (key(4), 3_000)],
        );
        let b = new_tx(txid(2), vec![op(txid(1), 0)], vec![(key(5), 5_500)]);
        let c = new_tx(txid(3), vec![op(c1, 0)], vec![(key(1), 4_000)]);
        let d = new_tx(txid(4), vec![op(c2, 0)], vec![(key(6), 6_900)]);
        for tx in [a, b, c, d] {
            assert!(s.add(tx, &confirmed, &mut t));
        }
        (s, t)
    }

    #[test]
    fn total_vsize_follows_adds_and_removals() {
        let (mut s, mut t) = sample();
        assert_eq!(s.vsize(), 400);
        s.remove(&txid(2), &mut t);
        s.remove(&txid(2), &mut t); // absent: no change
        assert_eq!(s.vsize(), 300);
        let again = new_tx(txid(2), vec![op(txid(1), 0)], vec![(key(5), 5_500)]);
        assert!(s.add(again, &ConfirmedOutputs::new(), &mut t));
        assert!(s.add(
            new_tx(txid(2), vec![], vec![]),
            &ConfirmedOutputs::new(),
            &mut t
        )); // already there: counted once
        assert_eq!(s.vsize(), 400);
    }

    #[test]
    fn fees_are_inputs_minus_outputs() {
        let (s, _) = sample();
        assert_eq!(s.tx(&txid(1)).map(|t| t.fee), Some(1_000));
        assert_eq!(s.tx(&txid(2)).map(|t| t.fee), Some(500));
        assert_eq!(s.tx(&txid(3)).map(|t| t.fee), Some(1_000));
        assert_eq!(s.tx(&txid(4)).map(|t| t.fee), Some(100));
        assert_eq!(s.tx(&txid(2)).map(|t| t.has_unconfirmed_parent), Some(true));
        assert_eq!(
            s.tx(&txid(1)).map(|t| t.has_unconfirmed_parent),
            Some(false)
        );
    }

    #[test]
    fn history_orders_confirmed_parents_first_then_by_shown_txid() {
        let (mut s, mut t) = sample();
        // key 1: A and C (height 0) pay it, B (height -1) spends A:0 from it. By shown txid:
        // txid(1) shows as 01...07, txid(3) as 03...15.
        let h = s.history(&key(1));
        assert_eq!(
            h.iter().map(|e| (e.txid, e.height)).collect::<Vec<_>>(),
            vec![(txid(1), 0), (txid(3), 0), (txid(2), -1)]
        );
        // A tx with an unconfirmed parent comes after every height-0 one, even if its txid
        // sorts first: E (shown 00..) spends C:0 and pays key 1.
        let e = new_tx(txid(0), vec![op(txid(3), 0)], vec![(key(1), 3_900)]);
        assert!(s.add(e, &ConfirmedOutputs::new(), &mut t));
        let h = s.history(&key(1));
        assert_eq!(
            h.iter()
                .map(|e| (e.txid, e.height, e.fee))
                .collect::<Vec<_>>(),
            vec![
                (txid(1), 0, 1_000),
                (txid(3), 0, 1_000),
                (txid(0), -1, 100),
                (txid(2), -1, 500)
            ]
        );
        // Internal byte order would sort differently: the order is by the shown txid.
        let mut x = txid(9);
        let mut bytes = x.to_byte_array();
        bytes[0] = 0; // internal-first byte smallest, shown-first byte 9
        x = Txid::from_byte_array(bytes);
        let f = new_tx(x, vec![op(txid(202), 1)], vec![(key(1), 1)]);
        let conf: ConfirmedOutputs = [(op(txid(202), 1), (key(8), 2))].into();
        assert!(s.add(f, &conf, &mut t));
        let order: Vec<Txid> = s.history(&key(1)).iter().map(|e| e.txid).collect();
        assert_eq!(order, vec![txid(1), txid(3), x, txid(0), txid(2)]);
    }

    #[test]
    fn parent_leaving_makes_the_child_height_zero() {
        let (mut s, _) = sample();
        assert_eq!(s.history(&key(5))[0].height, -1);
        let mut t = Touched::default();
        s.remove(&txid(1), &mut t); // mined
        assert_eq!(s.history(&key(5))[0].height, 0);
        assert!(t.txids.contains(&txid(1)));
        assert!(t.scripts.contains(&key(9)) && t.scripts.contains(&key(1)));
        assert!(t.outpoints.contains(&(txid(200), 0)) && t.outpoints.contains(&(txid(1), 1)));
        // The child still spends A:0, which is now a confirmed output.
        assert_eq!(s.spender(&txid(1), 0), Some(txid(2)));
        // Only the child's scripts say that its height changed: the block touched A's.
        assert!(t.scripts.contains(&key(5)), "{:?}", t.scripts);
        assert!(!t.scripts.contains(&key(6)), "an unrelated tx was touched");
    }

    #[test]
    fn parent_coming_back_makes_the_child_height_minus_one() {
        // A reorg returns A to the mempool while its child B stayed: B is at -1 again.
        let (mut s, _) = sample();
        s.remove(&txid(1), &mut Touched::default());
        let a = new_tx(
            txid(1),
            vec![op(txid(200), 0)],
            vec![(key(1), 6_000), (key(4), 3_000)],
        );
        let confirmed: ConfirmedOutputs = [(op(txid(200), 0), (key(9), 10_000))].into();
        let mut t = Touched::default();
        assert!(s.add(a, &confirmed, &mut t));
        assert_eq!(s.history(&key(5))[0].height, -1);
        assert!(t.scripts.contains(&key(5)), "{:?}", t.scripts);
        assert!(!t.scripts.contains(&key(6)), "an unrelated tx was touched");
    }

    #[test]
    fn balance_counts_spends_of_confirmed_and_mempool_outputs() {
        let (s, _) = sample();
        // A:0 6_000 + C:0 4_000, minus A:0 spent by B.
        assert_eq!(s.balance_delta(&key(1)), 4_000);
        assert_eq!(s.balance_delta(&key(9)), -10_000); // confirmed output spent by A
        assert_eq!(s.balance_delta(&key(4)), 3_000);
        assert_eq!(s.balance_delta(&key(5)), 5_500);
        assert_eq!(s.balance_delta(&key(77)), 0);
    }

    #[test]
    fn utxos_leave_out_outputs_spent_in_the_mempool() {
        let (s, _) = sample();
        // A:0 is spent by B: only C:0 remains for key 1.
        assert_eq!(
            s.utxos(&key(1)),
            vec![MempoolUtxo {
                txid: txid(3),
                vout: 0,
                value: 4_000
            }]
        );
        assert_eq!(s.utxos(&key(4)).len(), 1);
        assert_eq!(s.utxos(&key(9)), vec![]);
        assert_eq!(s.spender(&txid(200), 0), Some(txid(1)));
        assert_eq!(s.spender(&txid(1), 1), None);
        assert!(s.has_output(&txid(1), 1));
        assert!(!s.has_output(&txid(1), 2));
        assert!(!s.has_output(&txid(200), 0));
    }

    #[test]
    fn unresolvable_prevouts_keep_a_tx_out() {
        let mut s = State::default();
        let mut t = Touched::default();
        let orphan = new_tx(txid(5), vec![op(txid(99), 0)], vec![(key(1), 1)]);
        assert!(!s.add(orphan, &ConfirmedOutputs::new(), &mut t));
        assert_eq!(s.len(), 0);
        assert!(t.txids.is_empty() && t.scripts.is_empty());
        // An out-of-range output of a mempool parent does not resolve either.
        let (mut s, _) = sample();
        let bad = new_tx(txid(6), vec![op(txid(2), 5)], vec![(key(1), 1)]);
        assert!(!s.add(bad, &ConfirmedOutputs::new(), &mut t));
    }

    #[test]
    fn removal_clears_every_index() {
        let (mut s, _) = sample();
        let mut t = Touched::default();
        for n in 1..=4 {
            s.remove(&txid(n), &mut t);
        }
        assert_eq!(s.len(), 0);
        assert!(s.by_script.is_empty() && s.spenders.is_empty() && s.arrivals.is_empty());
        assert_eq!(s.recent(), vec![]);
    }

    #[test]
    fn a_replacement_takes_over_the_spent_outpoint() {
        let (mut s, _) = sample();
        let mut t = Touched::default();
        // Bitcoind replaced D (and would drop its children): removal comes before the add.
        s.remove(&txid(4), &mut t);
        let conf: ConfirmedOutputs = [(op(txid(202), 0), (key(3), 7_000))].into();
        let r = new_tx(txid(40), vec![op(txid(202), 0)], vec![(key(6), 5_000)]);
        assert!(s.add(r, &conf, &mut t));
        assert_eq!(s.spender(&txid(202), 0), Some(txid(40)));
        assert_eq!(s.history(&key(6)).len(), 1);
        assert_eq!(s.history(&key(6))[0].fee, 2_000);
    }

    #[test]
    fn recent_lists_the_last_ten_arrivals_newest_first() {
        let mut s = State::default();
        let mut t = Touched::default();
        let conf: ConfirmedOutputs = (0..12u8)
            .map(|n| (op(txid(100 + n), 0), (key(1), 1_000 + n as u64)))
            .collect();
        for n in 0..12u8 {
            let tx = new_tx(txid(n), vec![op(txid(100 + n), 0)], vec![(key(2), 900)]);
            assert!(s.add(tx, &conf, &mut t));
        }
        let recent = s.recent();
        assert_eq!(recent.len(), RECENT_COUNT);
        assert_eq!(recent[0].txid, txid(11));
        assert_eq!(recent[0].fee, 111);
        assert_eq!(recent[9].txid, txid(2));
        s.remove(&txid(11), &mut t);
        assert_eq!(s.recent()[0].txid, txid(10));
        assert_eq!(s.recent()[9].txid, txid(1));
    }

    #[test]
    fn large_mempool_queries_stay_proportional_to_the_script() {
        // 100_000 txs, one shared "hot" script touched by 50 of them: history of a cold script
        // and of the hot one must not scan the mempool.
        let mut s = State::default();
        let mut t = Touched::default();
        let mut conf = ConfirmedOutputs::new();
        let id = |n: u32| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&n.to_le_bytes());
            b[31] = 1;
            Txid::from_byte_array(b)
        };
        let script = |n: u32| {
            let mut k = [0u8; ScriptKey::LEN];
            k[..4].copy_from_slice(&n.to_le_bytes());
            ScriptKey(k)
        };
        let funding = |n: u32| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&n.to_le_bytes());
            b[31] = 2;
            Txid::from_byte_array(b)
        };
        let hot = ScriptKey([0xee; ScriptKey::LEN]);
        let started = std::time::Instant::now();
        for n in 0..100_000u32 {
            conf.insert(op(funding(n), 0), (script(n), 10_000));
            let out = if n % 2_000 == 0 { hot } else { script(n + 1) };
            let tx = new_tx(id(n), vec![op(funding(n), 0)], vec![(out, 9_000)]);
            assert!(s.add(tx, &conf, &mut t));
        }
        let loaded = started.elapsed();
        let started = std::time::Instant::now();
        for _ in 0..1_000 {
            assert_eq!(s.history(&hot).len(), 50);
            assert_eq!(s.history(&script(7)).len(), 2);
        }
        let queries = started.elapsed();
        assert_eq!(s.balance_delta(&hot), 50 * 9_000);
        assert_eq!(s.len(), 100_000);
        // Generous bounds (shared 2-core CI machine): the point is no O(mempool) per query.
        assert!(
            queries.as_millis() < 2_000,
            "2,000 queries took {queries:?}"
        );
        assert!(loaded.as_secs() < 20, "loading took {loaded:?}");
        let h = s.compute_histogram();
        assert_eq!(h.iter().map(|b| b.1).sum::<u64>(), 100 * 100_000);
    }
}
