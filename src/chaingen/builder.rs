//! [`ChainBuilder`]: valid regtest chains made by us, for tests.
//!
//! The builder is a tiny deterministic wallet plus miner. It owns keys derived from a seed
//! ([`KeyChain`]), tracks its own UTXO set, creates and signs transactions paying to and spending
//! every [`OutputType`], assembles blocks on the daemon's tip (or on any parent, for forks) and
//! submits them with `submitblock`. bitcoind needs no wallet.
//!
//! Life of a transaction: `tx_*` methods pick inputs, sign, and register the transaction as
//! *pending*: its inputs are reserved and its outputs can be spent by later pending transactions
//! (spends within one block). A block built with [`ChainBuilder::build_block`] (or the `mine_*`
//! helpers) applies its transactions to the UTXO set and records an undo entry, so
//! [`ChainBuilder::rewind_to`] and [`ChainBuilder::reorg`] can go back to a fork point.
//! Transactions not given to any block stay pending until [`ChainBuilder::discard_pending`].
//!
//! Everything but block timestamps (which follow the wall clock, see
//! [`ChainTip::next_time`]) is deterministic for a given seed and sequence of calls.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail, ensure};
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::Bitcoind;
use super::block::{
    COINBASE_MATURITY, ChainTip, MAX_BLOCK_SIGOPS_COST, assemble_block, regtest_subsidy,
    submit_block, unix_now,
};
use super::wallet::{KeyChain, OutputType, Spend, op_return_script, sign_tx, unsigned_tx};

/// Smallest output value the builder creates by itself (change, random payments).
const MIN_OUTPUT: u64 = 1_000;

/// One unspent output of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    pub outpoint: OutPoint,
    pub txout: TxOut,
    pub spend: Spend,
    /// Height of the block that created it; `None` while its transaction is pending.
    pub height: Option<u32>,
    pub coinbase: bool,
}

/// The UTXO set: a vector for random picks plus an index by outpoint.
#[derive(Debug, Default)]
struct Pool {
    items: Vec<Utxo>,
    index: HashMap<OutPoint, usize>,
}

impl Pool {
    fn upsert(&mut self, utxo: Utxo) {
        match self.index.get(&utxo.outpoint) {
            Some(&i) => self.items[i] = utxo,
            None => {
                self.index.insert(utxo.outpoint, self.items.len());
                self.items.push(utxo);
            }
        }
    }

    fn remove(&mut self, outpoint: &OutPoint) -> Option<Utxo> {
        let i = self.index.remove(outpoint)?;
        let utxo = self.items.swap_remove(i);
        if let Some(moved) = self.items.get(i) {
            self.index.insert(moved.outpoint, i);
        }
        Some(utxo)
    }
}

/// Undo information of one block we built on the current branch.
#[derive(Debug)]
struct Built {
    hash: BlockHash,
    height: u32,
    /// Index into `ChainBuilder::blocks`.
    block: usize,
    spent: Vec<Utxo>,
    created: Vec<OutPoint>,
}

/// A seeded wallet and miner making valid regtest chains; see the module docs.
pub struct ChainBuilder {
    secp: Secp256k1<All>,
    keys: KeyChain,
    rng: StdRng,
    next_key: u64,
    next_op_return: u64,
    scripts: HashMap<ScriptBuf, Spend>,
    /// Scripts in creation order (for address reuse).
    script_list: Vec<ScriptBuf>,
    pool: Pool,
    /// Inputs of pending transactions, taken out of `pool`.
    reserved: HashMap<OutPoint, Utxo>,
    /// Fees of pending transactions.
    pending_fees: HashMap<Txid, Amount>,
    /// Our blocks on the branch we follow, by increasing height.
    chain: Vec<Built>,
    /// Every block ever built, in order.
    blocks: Vec<Block>,
    /// Timestamp windows of blocks we built.
    tips: HashMap<BlockHash, ChainTip>,
    extra_nonce: u64,
    /// Fee rate of the builder's transactions, sat/vB.
    fee_rate: u64,
    /// Outputs per coinbase (each to a new script of a rotating type).
    coinbase_outputs: usize,
}

impl std::fmt::Debug for ChainBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainBuilder")
            .field("keys", &self.keys)
            .field("scripts", &self.script_list.len())
            .field("utxos", &self.pool.items.len())
            .field("pending", &self.pending_fees.len())
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl ChainBuilder {
    /// A builder whose keys and choices derive from `seed`.
    pub fn new(seed: u64) -> ChainBuilder {
        ChainBuilder {
            secp: Secp256k1::new(),
            keys: KeyChain::new(seed),
            rng: StdRng::seed_from_u64(seed),
            next_key: 0,
            next_op_return: 0,
            scripts: HashMap::new(),
            script_list: Vec::new(),
            pool: Pool::default(),
            reserved: HashMap::new(),
            pending_fees: HashMap::new(),
            chain: Vec::new(),
            blocks: Vec::new(),
            tips: HashMap::new(),
            extra_nonce: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            fee_rate: 2,
            coinbase_outputs: 2,
        }
    }

    /// Sets how many outputs each coinbase has (default 2, at least 1); more outputs mean more
    /// UTXOs to spend once they mature.
    pub fn set_coinbase_outputs(&mut self, n: usize) {
        self.coinbase_outputs = n.max(1);
    }

    /// Sets the fee rate of the transactions the builder makes, in sat/vB (default 2).
    pub fn set_fee_rate(&mut self, sat_per_vb: u64) {
        self.fee_rate = sat_per_vb;
    }

    /// The builder's keys.
    pub fn keys(&self) -> &KeyChain {
        &self.keys
    }

    /// A new script of `kind` owned by the builder (`OP_RETURN` scripts carry a counter).
    pub fn new_script(&mut self, kind: OutputType) -> ScriptBuf {
        if kind == OutputType::OpReturn {
            self.next_op_return += 1;
            return op_return_script(self.next_op_return);
        }
        let spend = Spend {
            kind,
            key: self.next_key,
        };
        self.next_key += kind.key_count();
        let spk = self.keys.script_pubkey(&self.secp, spend);
        self.scripts.insert(spk.clone(), spend);
        self.script_list.push(spk.clone());
        spk
    }

    /// The type of `script` if the builder owns it.
    pub fn script_type(&self, script: &ScriptBuf) -> Option<OutputType> {
        self.scripts.get(script).map(|s| s.kind)
    }

    /// Every script the builder created, in creation order.
    pub fn scripts(&self) -> &[ScriptBuf] {
        &self.script_list
    }

    /// The builder's UTXOs, including outputs of pending transactions.
    pub fn utxos(&self) -> &[Utxo] {
        &self.pool.items
    }

    /// Our unspent output at `outpoint`, if it is one (not reserved by a pending transaction).
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<&Utxo> {
        self.pool
            .index
            .get(outpoint)
            .and_then(|&i| self.pool.items.get(i))
    }

    /// Adds a confirmed, spendable UTXO of a new script of `kind` worth `value`, with a made-up
    /// outpoint: for unit tests that sign transactions without a bitcoind.
    #[cfg(test)]
    pub(crate) fn fake_utxo(&mut self, kind: OutputType, value: Amount) -> OutPoint {
        use bitcoin::hashes::{Hash, sha256};
        let script_pubkey = self.new_script(kind);
        let spend = self.scripts[&script_pubkey];
        let mut id = b"ferrum/chaingen/fake-utxo".to_vec();
        id.extend_from_slice(&spend.key.to_le_bytes());
        let txid = Txid::from_byte_array(sha256::Hash::hash(&id).to_byte_array());
        let outpoint = OutPoint::new(txid, 0);
        self.pool.upsert(Utxo {
            outpoint,
            txout: TxOut {
                value,
                script_pubkey,
            },
            spend,
            height: Some(1),
            coinbase: false,
        });
        outpoint
    }

    /// Every block the builder made, in the order made (including blocks later reorged out).
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The builder's blocks on the branch it currently follows, by increasing height.
    pub fn chain_blocks(&self) -> Vec<&Block> {
        self.chain.iter().map(|b| &self.blocks[b.block]).collect()
    }

    /// Height of the last block built on the current branch (0 before any).
    pub fn tip_height(&self) -> u32 {
        self.chain.last().map_or(0, |b| b.height)
    }

    /// Whether `utxo` can be spent in the next block (coinbase maturity).
    pub fn is_spendable(&self, utxo: &Utxo) -> bool {
        match utxo.height {
            None => true,
            Some(h) => !utxo.coinbase || self.tip_height() + 1 >= h + COINBASE_MATURITY,
        }
    }

    /// A transaction paying a new script of each given type, funded from random spendable
    /// UTXOs, with change to a new P2WPKH script when worth it.
    pub fn tx_paying(&mut self, outputs: &[(OutputType, Amount)]) -> Result<Transaction> {
        let outputs: Vec<(ScriptBuf, Amount)> = outputs
            .iter()
            .map(|&(kind, amount)| (self.new_script(kind), amount))
            .collect();
        self.tx_to(&outputs)
    }

    /// Our outputs that can be spent now (mature, not reserved by a pending transaction).
    fn spendable_outpoints(&self) -> Vec<OutPoint> {
        self.pool
            .items
            .iter()
            .filter(|u| self.is_spendable(u))
            .map(|u| u.outpoint)
            .collect()
    }

    /// A transaction paying the given scripts (ours, for address reuse, or anyone's), funded
    /// from random spendable UTXOs, with change when worth it.
    pub fn tx_to(&mut self, outputs: &[(ScriptBuf, Amount)]) -> Result<Transaction> {
        let wanted: u64 = outputs.iter().map(|(_, a)| a.to_sat()).sum();
        let mut candidates = self.spendable_outpoints();
        candidates.shuffle(&mut self.rng);
        let mut inputs = Vec::new();
        let mut have = 0u64;
        for op in candidates {
            let fee = self.fee(&inputs, outputs.len() + 1, outputs);
            if have >= wanted + fee {
                break;
            }
            if let Some(u) = self
                .pool
                .index
                .get(&op)
                .and_then(|&i| self.pool.items.get(i))
            {
                have += u.txout.value.to_sat();
                inputs.push(u.outpoint);
            }
        }
        let fee = self.fee(&inputs, outputs.len() + 1, outputs);
        if have < wanted + fee {
            bail!(
                "insufficient funds: need {} sat, have {have} sat spendable \
                 (mine at least 101 blocks with mine_empty first)",
                wanted + fee
            );
        }
        self.tx_spending(&inputs, outputs)
    }

    /// A transaction spending exactly `inputs` (UTXOs of ours) to `outputs`, plus change to a
    /// new P2WPKH script when the excess over the fee is worth it (else it goes to the fee).
    pub fn tx_spending(
        &mut self,
        inputs: &[OutPoint],
        outputs: &[(ScriptBuf, Amount)],
    ) -> Result<Transaction> {
        ensure!(!inputs.is_empty(), "a transaction needs inputs");
        let mut utxos = Vec::with_capacity(inputs.len());
        for op in inputs {
            let Some(u) = self.pool.remove(op) else {
                // Put back what we took before failing.
                for u in utxos {
                    self.pool.upsert(u);
                }
                bail!("{op} is not an unspent output of ours");
            };
            utxos.push(u);
        }
        let have: u64 = utxos.iter().map(|u| u.txout.value.to_sat()).sum();
        let wanted: u64 = outputs.iter().map(|(_, a)| a.to_sat()).sum();
        let mut outs: Vec<TxOut> = outputs
            .iter()
            .map(|(spk, value)| TxOut {
                value: *value,
                script_pubkey: spk.clone(),
            })
            .collect();
        let fee_with_change = self.fee(inputs, outputs.len() + 1, outputs);
        if have >= wanted + fee_with_change + MIN_OUTPUT {
            let change = self.new_script(OutputType::P2wpkh);
            outs.push(TxOut {
                value: Amount::from_sat(have - wanted - fee_with_change),
                script_pubkey: change,
            });
        } else if have < wanted {
            for u in utxos {
                self.pool.upsert(u);
            }
            bail!("inputs hold {have} sat but outputs need {wanted} sat");
        }
        self.finish_tx(utxos, outs)
    }

    /// A random transaction: 1–3 inputs, 1–3 outputs of random types (a quarter of them
    /// reusing one of our scripts), sometimes an `OP_RETURN`.
    pub fn random_tx(&mut self) -> Result<Transaction> {
        let mut candidates = self.spendable_outpoints();
        ensure!(
            !candidates.is_empty(),
            "no spendable outputs (mine at least 101 blocks with mine_empty first)"
        );
        candidates.shuffle(&mut self.rng);
        let n_in = self.rng.gen_range(1..=3).min(candidates.len());
        let mut inputs: Vec<OutPoint> = candidates[..n_in].to_vec();
        let value = |b: &Self, ops: &[OutPoint]| -> u64 {
            ops.iter()
                .filter_map(|op| b.pool.index.get(op).map(|&i| b.pool.items[i].txout.value))
                .map(Amount::to_sat)
                .sum()
        };
        // Add inputs while the value is too small to pay for three outputs.
        let mut rest = candidates[n_in..].iter();
        while value(self, &inputs) < 20 * MIN_OUTPUT {
            match rest.next() {
                Some(op) => inputs.push(*op),
                None => bail!("spendable outputs are too small to make a transaction"),
            }
        }
        let n_out = self.rng.gen_range(1..=3);
        let mut outputs: Vec<(ScriptBuf, Amount)> = Vec::new();
        for _ in 0..n_out {
            let reuse = !self.script_list.is_empty() && self.rng.gen_bool(0.25);
            let spk = if reuse {
                let i = self.rng.gen_range(0..self.script_list.len());
                self.script_list[i].clone()
            } else {
                let kind =
                    OutputType::SPENDABLE[self.rng.gen_range(0..OutputType::SPENDABLE.len())];
                self.new_script(kind)
            };
            outputs.push((spk, Amount::ZERO));
        }
        if self.rng.gen_bool(0.1) {
            outputs.push((self.new_script(OutputType::OpReturn), Amount::ZERO));
        }
        // Split the value (minus the fee) randomly among the spendable outputs, no change.
        let fee = self.fee(&inputs, outputs.len(), &outputs);
        let mut left = value(self, &inputs).saturating_sub(fee);
        let payable: Vec<usize> = (0..outputs.len())
            .filter(|&i| !outputs[i].0.is_op_return())
            .collect();
        for (k, &i) in payable.iter().enumerate() {
            let amount = if k + 1 == payable.len() {
                left
            } else {
                let max = left.saturating_sub(MIN_OUTPUT * (payable.len() - k - 1) as u64);
                self.rng
                    .gen_range(MIN_OUTPUT..=max.max(MIN_OUTPUT))
                    .min(left)
            };
            left -= amount;
            outputs[i].1 = Amount::from_sat(amount);
        }
        let mut utxos = Vec::with_capacity(inputs.len());
        for op in &inputs {
            utxos.extend(self.pool.remove(op));
        }
        let outs = outputs
            .into_iter()
            .map(|(script_pubkey, value)| TxOut {
                value,
                script_pubkey,
            })
            .collect();
        self.finish_tx(utxos, outs)
    }

    /// Estimated fee of a transaction spending `inputs` with `n_out` outputs like `outputs`.
    fn fee(&self, inputs: &[OutPoint], n_out: usize, outputs: &[(ScriptBuf, Amount)]) -> u64 {
        let ins: u64 = inputs
            .iter()
            .map(|op| {
                let kind = self
                    .pool
                    .index
                    .get(op)
                    .map(|&i| self.pool.items[i].spend.kind)
                    .unwrap_or(OutputType::P2pkh);
                kind.input_vsize()
            })
            .sum();
        let outs: u64 = outputs
            .iter()
            .map(|(spk, _)| 9 + spk.len() as u64)
            .sum::<u64>()
            + 31 * (n_out.saturating_sub(outputs.len()) as u64);
        (11 + ins + outs) * self.fee_rate
    }

    /// Signs a transaction spending `utxos` (already taken out of the pool) and registers it
    /// as pending.
    fn finish_tx(&mut self, utxos: Vec<Utxo>, outputs: Vec<TxOut>) -> Result<Transaction> {
        let mut tx = unsigned_tx(utxos.iter().map(|u| u.outpoint), outputs);
        let spent: Vec<TxOut> = utxos.iter().map(|u| u.txout.clone()).collect();
        let spends: Vec<Spend> = utxos.iter().map(|u| u.spend).collect();
        if let Err(e) = sign_tx(&self.secp, &self.keys, &mut tx, &spent, &spends) {
            for u in utxos {
                self.pool.upsert(u);
            }
            return Err(e);
        }
        if tx.base_size() == 64 {
            for u in utxos {
                self.pool.upsert(u);
            }
            bail!("the transaction would be 64 bytes without witness, which consensus rejects");
        }
        let txid = tx.compute_txid();
        let have: u64 = spent.iter().map(|o| o.value.to_sat()).sum();
        let paid: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        self.pending_fees
            .insert(txid, Amount::from_sat(have.saturating_sub(paid)));
        for u in utxos {
            self.reserved.insert(u.outpoint, u);
        }
        self.add_outputs(&tx, txid, None, false);
        Ok(tx)
    }

    /// Adds the outputs of `tx` paying our scripts to the pool; returns their outpoints.
    fn add_outputs(
        &mut self,
        tx: &Transaction,
        txid: Txid,
        height: Option<u32>,
        coinbase: bool,
    ) -> Vec<OutPoint> {
        let mut created = Vec::new();
        for (vout, out) in tx.output.iter().enumerate() {
            if let Some(&spend) = self.scripts.get(&out.script_pubkey) {
                let outpoint = OutPoint::new(txid, vout as u32);
                self.pool.upsert(Utxo {
                    outpoint,
                    txout: out.clone(),
                    spend,
                    height,
                    coinbase,
                });
                created.push(outpoint);
            }
        }
        created
    }

    /// Forgets pending transactions: their inputs become spendable again and their outputs
    /// disappear.
    pub fn discard_pending(&mut self) {
        self.pool.items.retain(|u| u.height.is_some());
        self.pool.index = self
            .pool
            .items
            .iter()
            .enumerate()
            .map(|(i, u)| (u.outpoint, i))
            .collect();
        for (_, u) in self.reserved.drain() {
            if u.height.is_some() {
                self.pool.upsert(u);
            }
        }
        self.pending_fees.clear();
    }

    /// Undoes our blocks above `height` on the current branch (for building a fork on an
    /// ancestor); pending transactions are discarded.
    pub fn rewind_to(&mut self, height: u32) {
        if self.chain.last().is_some_and(|b| b.height > height) {
            self.discard_pending();
        }
        while let Some(b) = self.chain.last() {
            if b.height <= height {
                break;
            }
            let Some(b) = self.chain.pop() else { break };
            for u in b.spent {
                self.pool.upsert(u);
            }
            for op in &b.created {
                self.pool.remove(op);
            }
        }
    }

    /// The timing information of `hash`, from our cache or bitcoind.
    fn chain_tip(&mut self, d: &Bitcoind, hash: BlockHash) -> Result<ChainTip> {
        if let Some(t) = self.tips.get(&hash) {
            return Ok(t.clone());
        }
        let t = ChainTip::fetch(d, hash)?;
        self.tips.insert(hash, t.clone());
        Ok(t)
    }

    /// Builds (without submitting) a block on `parent` holding `txs` in order, after the
    /// coinbase paying the subsidy plus the fees of our transactions to new scripts of ours.
    /// Our blocks above the parent's height are rewound first. The block's transactions are
    /// applied to the builder's UTXO set.
    pub fn build_block(
        &mut self,
        d: &Bitcoind,
        parent: BlockHash,
        txs: Vec<Transaction>,
    ) -> Result<Block> {
        let tip = self.chain_tip(d, parent)?;
        self.rewind_to(tip.height);
        let height = tip.height + 1;
        let mut spent = Vec::new();
        let mut created = Vec::new();
        let mut fees = Amount::ZERO;
        let mut sigops = 0usize;
        for tx in &txs {
            let txid = tx.compute_txid();
            let mut known_inputs = 0;
            let mut in_value = Amount::ZERO;
            for input in &tx.input {
                let op = input.previous_output;
                let utxo = self.pool.remove(&op).or_else(|| self.reserved.remove(&op));
                if let Some(u) = utxo {
                    known_inputs += 1;
                    in_value += u.txout.value;
                    sigops += u.spend.kind.input_sigop_cost();
                    spent.push(u);
                }
            }
            match self.pending_fees.remove(&txid) {
                Some(fee) => fees += fee,
                None if known_inputs == tx.input.len() => {
                    let out: Amount = tx.output.iter().map(|o| o.value).sum();
                    fees += in_value.checked_sub(out).unwrap_or(Amount::ZERO);
                }
                None => {}
            }
            sigops += tx.total_sigop_cost(|_| None);
            created.extend(self.add_outputs(tx, txid, Some(height), false));
        }
        let n = self.coinbase_outputs;
        let total = regtest_subsidy(height) + fees;
        let share = total.to_sat() / n as u64;
        let mut coinbase_outputs = Vec::with_capacity(n);
        for i in 0..n {
            let kind =
                OutputType::SPENDABLE[(self.blocks.len() * 3 + i) % OutputType::SPENDABLE.len()];
            let value = if i == 0 {
                total.to_sat() - share * (n as u64 - 1)
            } else {
                share
            };
            coinbase_outputs.push(TxOut {
                value: Amount::from_sat(value),
                script_pubkey: self.new_script(kind),
            });
        }
        self.extra_nonce = self.extra_nonce.wrapping_add(1);
        let block = assemble_block(
            &tip,
            tip.next_time(unix_now()),
            coinbase_outputs,
            self.extra_nonce,
            txs,
        );
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                // Undo what this block applied.
                for u in spent {
                    self.pool.upsert(u);
                }
                for op in &created {
                    self.pool.remove(op);
                }
                return Err(e);
            }
        };
        let coinbase = &block.txdata[0];
        sigops += coinbase.total_sigop_cost(|_| None);
        created.extend(self.add_outputs(coinbase, coinbase.compute_txid(), Some(height), true));
        let hash = block.block_hash();
        self.tips.insert(hash, tip.child(&block));
        self.blocks.push(block.clone());
        self.chain.push(Built {
            hash,
            height,
            block: self.blocks.len() - 1,
            spent,
            created,
        });
        if sigops > MAX_BLOCK_SIGOPS_COST {
            self.rewind_to(tip.height);
            bail!("block sigop cost {sigops} exceeds {MAX_BLOCK_SIGOPS_COST}");
        }
        Ok(block)
    }

    /// Submits `block` to bitcoind (see [`submit_block`]).
    pub fn submit(&self, d: &Bitcoind, block: &Block) -> Result<()> {
        submit_block(d, block)
    }

    /// Rewinds to bitcoind's tip and returns it (so new transactions are made against the
    /// state the next block will be connected to).
    fn sync_to_tip(&mut self, d: &Bitcoind) -> Result<BlockHash> {
        let (hash, height) = d.tip()?;
        self.rewind_to(height);
        Ok(hash)
    }

    /// Builds a block with `txs` on bitcoind's tip, submits it and checks it became the tip.
    pub fn mine_txs(&mut self, d: &Bitcoind, txs: Vec<Transaction>) -> Result<Block> {
        let (tip, _) = d.tip()?;
        let block = self.build_block(d, tip, txs)?;
        self.submit_as_tip(d, &block)?;
        Ok(block)
    }

    /// Mines `n` blocks holding only a coinbase (paying us) on bitcoind's tip. 101 blocks on a
    /// fresh chain make the first coinbase spendable.
    pub fn mine_empty(&mut self, d: &Bitcoind, n: u32) -> Result<Vec<Block>> {
        let mut tip = self.sync_to_tip(d)?;
        let mut blocks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let block = self.build_block(d, tip, Vec::new())?;
            self.submit_as_tip(d, &block)?;
            tip = block.block_hash();
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// Mines one block with `txs` random transactions ([`ChainBuilder::random_tx`], which can
    /// spend outputs of earlier transactions of the same block) on bitcoind's tip.
    pub fn mine_block_with(&mut self, d: &Bitcoind, txs: usize) -> Result<Block> {
        let tip = self.sync_to_tip(d)?;
        let mut list = Vec::with_capacity(txs);
        for _ in 0..txs {
            list.push(self.random_tx()?);
        }
        let block = self.build_block(d, tip, list)?;
        self.submit_as_tip(d, &block)?;
        Ok(block)
    }

    /// Reorganises bitcoind's chain: builds `new_blocks` blocks, each with `txs_per_block`
    /// random transactions, on the ancestor `depth` blocks below the tip, and submits them.
    /// With `new_blocks > depth` the new branch has more work and becomes the tip (checked);
    /// otherwise it stays a side branch. Returns the new blocks.
    pub fn reorg(
        &mut self,
        d: &Bitcoind,
        depth: u32,
        new_blocks: u32,
        txs_per_block: usize,
    ) -> Result<Vec<Block>> {
        let (_, height) = d.tip()?;
        ensure!(
            depth <= height,
            "cannot reorg {depth} blocks of a {height}-block chain"
        );
        let fork_height = height - depth;
        let parent: BlockHash = d
            .rpc("getblockhash", json!([fork_height]))?
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("getblockhash {fork_height}: bad answer"))?;
        self.rewind_to(fork_height);
        let mut prev = parent;
        let mut blocks = Vec::with_capacity(new_blocks as usize);
        for _ in 0..new_blocks {
            let mut txs = Vec::with_capacity(txs_per_block);
            for _ in 0..txs_per_block {
                txs.push(self.random_tx()?);
            }
            let block = self.build_block(d, prev, txs)?;
            self.submit(d, &block)?;
            prev = block.block_hash();
            blocks.push(block);
        }
        if new_blocks > depth {
            let (tip, _) = d.tip()?;
            ensure!(
                tip == prev,
                "reorg did not take: bitcoind's tip is {tip}, the new branch ends at {prev}"
            );
        }
        Ok(blocks)
    }

    fn submit_as_tip(&self, d: &Bitcoind, block: &Block) -> Result<()> {
        let hash = block.block_hash();
        self.submit(d, block)
            .with_context(|| format!("submitting block {hash}"))?;
        let (tip, _) = d.tip()?;
        ensure!(
            tip == hash,
            "bitcoind's tip is {tip} after submitting {hash}"
        );
        Ok(())
    }

    /// Hash of our block at `height` on the current branch, if we built it.
    pub fn block_hash_at(&self, height: u32) -> Option<BlockHash> {
        self.chain
            .iter()
            .find(|b| b.height == height)
            .map(|b| b.hash)
    }
}
