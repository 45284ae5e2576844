//! Large mainnet-shaped regtest chains for benchmarks and the demo.
//!
//! [`generate`] builds, on a given tip:
//! 1. 10 funding blocks whose coinbases have 2,000 outputs each, then 100 blocks so they mature;
//! 2. blocks of transactions until `target_txs` transactions exist, in the [`Shape`] asked for:
//!    block size, inputs and outputs per transaction, `OP_RETURN` share, address reuse (hot
//!    scripts, a Zipf-skewed popular set, fresh scripts), output types, and the age of the
//!    coins inputs spend (see [`super::shape`]).
//!
//! Blocks go to a sink: straight to bitcoind ([`generate_bench_chain`], `submitblock`), or to a
//! spool file that [`import_spool`] later feeds to a bitcoind started with `-assumevalid` at
//! the spool's last block, so that bitcoind checks every block but skips the signature checks
//! of all but the last 2016 (what makes 50M-transaction chains take an hour, not a day). The
//! blocks are the same, fully signed and valid either way.
//!
//! Speed: transactions are planned on one thread (new public keys by point addition, see
//! [`KeyChain::sequential`]), signed on two (one shared secp256k1 context), and whole blocks
//! go to the sink on a third thread while the next block is being built.

use std::collections::VecDeque;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail, ensure};
use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Bitcoind;
pub use super::bench_stats::{BenchChainStats, BenchProgress};
use super::block::{
    COINBASE_MATURITY, ChainTip, MAX_BLOCK_SIGOPS_COST, MAX_BLOCK_WEIGHT, assemble_block,
    regtest_subsidy, submit_block, unix_now,
};
use super::fastsign::{FixedNonce, KeyHint};
use super::shape::Shape;
use super::wallet::{KeyChain, OutputType, PublicKeys, Spend, op_return_script, sign_tx_with};

/// Funding blocks at the start, and the outputs of each one's coinbase.
const FUNDING_BLOCKS: u32 = 10;
const FUNDING_OUTPUTS: usize = 2_000;
/// Weight and sigop cost kept free for the coinbase.
const COINBASE_WEIGHT_RESERVE: u64 = 8_000;
const COINBASE_SIGOPS_RESERVE: usize = 400;

/// A block's transactions once signed, and their fees.
type Signed = Result<(Vec<Job>, u64)>;

/// A script to pay to, and what its signer will want to know (see [`KeyHint`]).
type Paid = (ScriptBuf, KeyHint);

/// One of our scripts and its history length so far.
struct ScriptEntry {
    /// Kept only for scripts that can be paid again (hot, popular, the miner's): a fresh
    /// script's is carried by its coin, which keeps a 50M-transaction generator in a few GB.
    spk: Option<Box<Paid>>,
    spend: Spend,
    history: u32,
    /// Sequence number of the last transaction counted in `history`.
    last_tx: u32,
}

#[derive(Clone)]
struct Coin {
    outpoint: OutPoint,
    value: u64,
    script: u32,
    spk: ScriptBuf,
    hint: KeyHint,
}

/// A transaction to sign: the unsigned transaction, what it spends, and its txid if that was
/// final before signing (then its outputs were already spendable in the same block).
struct Job {
    tx: Transaction,
    spent: Vec<TxOut>,
    spends: Vec<Spend>,
    /// Per input, what the signer may skip deriving; per output, what its spender will need.
    hints: Vec<KeyHint>,
    out_hints: Vec<KeyHint>,
    scripts_out: Vec<Option<u32>>,
    txid: Option<bitcoin::Txid>,
}

struct Generator<'a> {
    secp: &'a Secp256k1<All>,
    shape: &'a Shape,
    keys: KeyChain,
    pubkeys: PublicKeys,
    rng: StdRng,
    next_key: u64,
    scripts: Vec<ScriptEntry>,
    /// Script ids of the hot scripts.
    hot: Vec<u32>,
    /// First `shape.popular` new scripts, by Zipf rank.
    popular: Vec<u32>,
    zipf_cdf: Vec<f64>,
    /// Spendable coins from earlier blocks.
    pool: Vec<Coin>,
    /// Coins created earlier in the block being built whose txid is final.
    fresh: Vec<Coin>,
    /// Coinbase coins by creation height, waiting for maturity.
    maturing: VecDeque<(u32, Vec<Coin>)>,
    tx_seq: u32,
    miner_script: u32,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    txs: u64,
    inputs: u64,
    outputs: u64,
    op_return_txs: u64,
    by_type: [u64; 9],
}

fn type_index(kind: OutputType) -> usize {
    OutputType::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl<'a> Generator<'a> {
    fn new(secp: &'a Secp256k1<All>, shape: &'a Shape, seed: u64) -> Generator<'a> {
        let mut zipf_cdf = Vec::with_capacity(shape.popular);
        let mut acc = 0.0;
        for rank in 1..=shape.popular {
            acc += 1.0 / (rank as f64).powf(shape.zipf);
            zipf_cdf.push(acc);
        }
        for c in &mut zipf_cdf {
            *c /= acc;
        }
        let keys = KeyChain::sequential(seed);
        let mut g = Generator {
            secp,
            shape,
            keys,
            pubkeys: PublicKeys::new(secp, keys),
            rng: StdRng::seed_from_u64(seed),
            next_key: 0,
            scripts: Vec::new(),
            hot: Vec::new(),
            popular: Vec::new(),
            zipf_cdf,
            pool: Vec::new(),
            fresh: Vec::new(),
            maturing: VecDeque::new(),
            tx_seq: 0,
            miner_script: 0,
            stats: Counters::default(),
        };
        for &(_, kind) in &shape.hot {
            let (id, _) = g.new_script(kind, true);
            g.hot.push(id);
        }
        g.miner_script = g.new_script(OutputType::P2wpkh, true).0;
        g
    }

    /// A new script of `kind` (its spk kept if `keep`): its id and spk.
    fn new_script(&mut self, kind: OutputType, keep: bool) -> (u32, Paid) {
        let spend = Spend {
            kind,
            key: self.next_key,
        };
        self.next_key += kind.key_count();
        let paid = self.pubkeys.script_and_hint(self.secp, spend);
        self.scripts.push(ScriptEntry {
            spk: keep.then(|| Box::new(paid.clone())),
            spend,
            history: 0,
            last_tx: 0,
        });
        ((self.scripts.len() - 1) as u32, paid)
    }

    /// The spk of a kept script (hot, popular, miner).
    fn kept_spk(&self, id: u32) -> Paid {
        match self.scripts.get(id as usize).and_then(|e| e.spk.as_deref()) {
            Some(paid) => paid.clone(),
            // Not reached: only kept scripts are paid again. Derive it rather than fail.
            None => {
                let spend = self.scripts[id as usize].spend;
                (self.keys.script_pubkey(self.secp, spend), KeyHint::None)
            }
        }
    }

    /// A script for a new output, following the reuse model: its id and spk.
    fn pick_script(&mut self) -> (u32, Paid) {
        let shape = self.shape;
        let r: f64 = self.rng.r#gen();
        let mut acc = 0.0;
        for (i, (share, _)) in shape.hot.iter().enumerate() {
            acc += share;
            if r < acc {
                let id = self.hot[i];
                return (id, self.kept_spk(id));
            }
        }
        if r < acc + shape.popular_share {
            let u: f64 = self.rng.r#gen();
            let rank = self.zipf_cdf.partition_point(|&c| c < u);
            if let Some(&id) = self.popular.get(rank) {
                return (id, self.kept_spk(id));
            }
        }
        let total: u32 = shape.new_types.iter().map(|(w, _)| w).sum();
        let mut w = self.rng.gen_range(0..total.max(1));
        let mut kind = OutputType::P2wpkh;
        for &(weight, k) in &shape.new_types {
            if w < weight {
                kind = k;
                break;
            }
            w -= weight;
        }
        if !kind.is_spendable() {
            kind = OutputType::P2wpkh;
        }
        let keep = self.popular.len() < shape.popular;
        let (id, spk) = self.new_script(kind, keep);
        if keep {
            self.popular.push(id);
        }
        (id, spk)
    }

    /// A count drawn from `weights` (of 1, 2, 3...).
    fn count(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut w = self.rng.gen_range(0..total.max(1));
        for (i, &weight) in weights.iter().enumerate() {
            if w < weight {
                return i + 1;
            }
            w -= weight;
        }
        1
    }

    /// Counts one transaction touching `scripts` in their histories.
    fn touch(&mut self, scripts: impl IntoIterator<Item = u32>) {
        self.tx_seq = self.tx_seq.wrapping_add(1);
        for id in scripts {
            if let Some(e) = self.scripts.get_mut(id as usize)
                && e.last_tx != self.tx_seq
            {
                e.last_tx = self.tx_seq;
                e.history += 1;
            }
        }
    }

    /// Coinbase outputs paying `total` split over `scripts` (id and spk each).
    fn coinbase_outputs(&self, total: Amount, scripts: &[(u32, Paid)]) -> Vec<TxOut> {
        let n = scripts.len().max(1) as u64;
        let share = total.to_sat() / n;
        scripts
            .iter()
            .enumerate()
            .map(|(i, (_, (spk, _)))| TxOut {
                value: Amount::from_sat(if i == 0 {
                    total.to_sat() - share * (n - 1)
                } else {
                    share
                }),
                script_pubkey: spk.clone(),
            })
            .collect()
    }

    /// Records the coinbase of a block at `height` (history and maturing coins).
    fn add_coinbase(&mut self, block: &Block, height: u32, scripts: &[(u32, Paid)]) {
        let coinbase = &block.txdata[0];
        let txid = coinbase.compute_txid();
        let coins = scripts
            .iter()
            .enumerate()
            .map(|(vout, (script, (spk, hint)))| Coin {
                outpoint: OutPoint::new(txid, vout as u32),
                value: coinbase.output[vout].value.to_sat(),
                script: *script,
                spk: spk.clone(),
                hint: *hint,
            })
            .collect();
        self.maturing.push_back((height, coins));
        self.touch(scripts.iter().map(|(id, _)| *id));
    }

    /// Moves coinbase coins spendable at `height` into the pool.
    fn release_mature(&mut self, height: u32) {
        while let Some((h, _)) = self.maturing.front() {
            if height < h + COINBASE_MATURITY {
                break;
            }
            if let Some((_, coins)) = self.maturing.pop_front() {
                self.pool.extend(coins);
            }
        }
    }

    /// A coin to spend: from the block being built, from the most recent coins, or from the
    /// whole pool (the pool is in creation order but for the swaps of removals, so its end
    /// holds the recent coins).
    fn take_coin(&mut self) -> Option<Coin> {
        if !self.fresh.is_empty() && self.rng.gen_bool(self.shape.same_block) {
            let i = self.rng.gen_range(0..self.fresh.len());
            return Some(self.fresh.swap_remove(i));
        }
        let n = self.pool.len();
        if n == 0 {
            return None;
        }
        let i = if self.shape.recent_share > 0.0 && self.rng.gen_bool(self.shape.recent_share) {
            self.rng
                .gen_range(n.saturating_sub(self.shape.recent_window)..n)
        } else {
            self.rng.gen_range(0..n)
        };
        Some(self.pool.swap_remove(i))
    }

    /// Plans one transaction (unsigned); `None` when no coins are left.
    fn plan_tx(&mut self) -> Option<(Job, u64, usize)> {
        let shape = self.shape;
        let n_in = self.count(&shape.inputs);
        let mut coins = Vec::with_capacity(n_in);
        for _ in 0..n_in {
            match self.take_coin() {
                Some(c) => coins.push(c),
                None => break,
            }
        }
        if coins.is_empty() {
            return None;
        }
        let mut n_pay = self.count(&shape.outputs);
        let op_return = self.rng.gen_bool(self.shape.op_return);
        let in_value: u64 = coins.iter().map(|c| c.value).sum();
        let in_vsize: u64 = coins
            .iter()
            .map(|c| self.scripts[c.script as usize].spend.kind.input_vsize())
            .sum();
        let vsize = 11 + in_vsize + 33 * n_pay as u64 + if op_return { 24 } else { 0 };
        let fee = vsize * self.rng.gen_range(1..=10);
        let left = in_value.saturating_sub(fee);
        if left < 1_000 * n_pay as u64 {
            n_pay = 1;
        }
        // Split `left` with random weights.
        let weights: Vec<f64> = (0..n_pay).map(|_| self.rng.gen_range(0.05..1.0)).collect();
        let total_w: f64 = weights.iter().sum();
        let mut amounts: Vec<u64> = weights
            .iter()
            .map(|w| (left as f64 * w / total_w) as u64)
            .collect();
        let assigned: u64 = amounts.iter().sum();
        amounts[0] += left - assigned.min(left);

        let mut output = Vec::with_capacity(n_pay + 1);
        let mut scripts_out = Vec::with_capacity(n_pay + 1);
        let mut out_hints = Vec::with_capacity(n_pay + 1);
        for amount in amounts {
            let (id, (spk, hint)) = self.pick_script();
            out_hints.push(hint);
            let kind = self.scripts[id as usize].spend.kind;
            self.stats.by_type[type_index(kind)] += 1;
            output.push(TxOut {
                value: Amount::from_sat(amount),
                script_pubkey: spk,
            });
            scripts_out.push(Some(id));
        }
        if op_return {
            let pos = self.rng.gen_range(0..=output.len());
            output.insert(
                pos,
                TxOut {
                    value: Amount::ZERO,
                    script_pubkey: op_return_script(u64::from(self.tx_seq)),
                },
            );
            scripts_out.insert(pos, None);
            out_hints.insert(pos, KeyHint::None);
            self.stats.by_type[type_index(OutputType::OpReturn)] += 1;
            self.stats.op_return_txs += 1;
        }
        let spends: Vec<Spend> = coins
            .iter()
            .map(|c| self.scripts[c.script as usize].spend)
            .collect();
        let txid_known = spends.iter().all(|s| s.kind.txid_known_before_signing());
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: coins
                .iter()
                .zip(&spends)
                .map(|(c, s)| TxIn {
                    previous_output: c.outpoint,
                    script_sig: if txid_known {
                        self.keys.unsigned_script_sig_hinted(self.secp, *s, c.hint)
                    } else {
                        ScriptBuf::new()
                    },
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output,
        };
        let spent: Vec<TxOut> = coins
            .iter()
            .map(|c| TxOut {
                value: Amount::from_sat(c.value),
                script_pubkey: c.spk.clone(),
            })
            .collect();
        // Weight: inputs and outputs by type, 4 WU per vbyte (an overestimate for segwit).
        let out_vsize: u64 = tx
            .output
            .iter()
            .map(|o| 9 + o.script_pubkey.len() as u64)
            .sum();
        let weight = 4 * (11 + in_vsize + out_vsize);
        let sigops: usize = spends
            .iter()
            .map(|s| s.kind.input_sigop_cost())
            .sum::<usize>()
            + scripts_out
                .iter()
                .flatten()
                .map(|&id| self.scripts[id as usize].spend.kind.output_sigop_cost())
                .sum::<usize>();

        let touched: Vec<u32> = coins
            .iter()
            .map(|c| c.script)
            .chain(scripts_out.iter().flatten().copied())
            .collect();
        self.touch(touched);
        self.stats.txs += 1;
        self.stats.inputs += tx.input.len() as u64;
        self.stats.outputs += tx.output.len() as u64;

        let mut job = Job {
            tx,
            spent,
            spends,
            hints: coins.iter().map(|c| c.hint).collect(),
            out_hints,
            scripts_out,
            txid: None,
        };
        if txid_known {
            let txid = job.tx.compute_txid();
            add_coins(&mut self.fresh, txid, &job);
            job.txid = Some(txid);
        }
        Some((job, weight, sigops))
    }
}

/// Plans the transactions of one block (unsigned): as many as the shape draws, within the
/// consensus weight and sigop limits; returns them and their fees.
fn plan_block(g: &mut Generator<'_>, target_txs: u64) -> Result<(Vec<Job>, u64)> {
    let want = g
        .rng
        .gen_range(g.shape.block_txs.0..=g.shape.block_txs.1)
        .min(target_txs - g.stats.txs);
    let mut jobs = Vec::with_capacity(want as usize);
    let mut weight = 0u64;
    let mut sigops = 0usize;
    let mut fees = 0u64;
    while (jobs.len() as u64) < want {
        let Some((job, w, sig)) = g.plan_tx() else {
            break;
        };
        let in_value: u64 = job.spent.iter().map(|o| o.value.to_sat()).sum();
        let out_value: u64 = job.tx.output.iter().map(|o| o.value.to_sat()).sum();
        fees += in_value - out_value.min(in_value);
        weight += w;
        sigops += sig;
        jobs.push(job);
        if weight + 4 * 600 > MAX_BLOCK_WEIGHT - COINBASE_WEIGHT_RESERVE
            || sigops + 100 > MAX_BLOCK_SIGOPS_COST - COINBASE_SIGOPS_RESERVE
        {
            break;
        }
    }
    ensure!(!jobs.is_empty(), "ran out of coins to spend");
    Ok((jobs, fees))
}

fn add_coins(to: &mut Vec<Coin>, txid: bitcoin::Txid, job: &Job) {
    let outs = job
        .tx
        .output
        .iter()
        .zip(&job.scripts_out)
        .zip(&job.out_hints);
    for (vout, ((out, script), hint)) in outs.enumerate() {
        if let Some(script) = script {
            to.push(Coin {
                outpoint: OutPoint::new(txid, vout as u32),
                value: out.value.to_sat(),
                script: *script,
                spk: out.script_pubkey.clone(),
                hint: *hint,
            });
        }
    }
}

/// Signs `jobs` on two threads.
fn sign_all(
    secp: &Secp256k1<All>,
    keys: &KeyChain,
    nonce: &FixedNonce,
    jobs: &mut [Job],
) -> Result<()> {
    let mid = jobs.len() / 2;
    let (a, b) = jobs.split_at_mut(mid);
    let sign = |part: &mut [Job]| -> Result<()> {
        for job in part {
            let (spent, spends, hints) = (&job.spent, &job.spends, &job.hints);
            sign_tx_with(secp, keys, &mut job.tx, spent, spends, hints, Some(nonce))?;
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let other = s.spawn(|| sign(b));
        let mine = sign(a);
        let theirs = other
            .join()
            .map_err(|_| anyhow!("signing thread panicked"))?;
        mine.and(theirs)
    })
}

/// How block timestamps are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTimes {
    /// The wall clock (one second after the parent at least): for chains submitted as they
    /// are built.
    Wall,
    /// One second after the parent (and above the median time past), whatever the clock says:
    /// a spooled chain of any length never runs into the future.
    FromParent,
}

/// Generates a mainnet-shaped chain of about `target_txs` transactions in the `default`
/// shape on `d`'s tip, submitting each block as it is built, and returns its statistics.
pub fn generate_bench_chain(
    d: &Bitcoind,
    seed: u64,
    target_txs: u64,
    progress: impl FnMut(&BenchProgress),
) -> Result<BenchChainStats> {
    let shape = Shape::named("default")?;
    let (tip_hash, _) = d.tip()?;
    let tip = ChainTip::fetch(d, tip_hash)?;
    let stats = generate(
        tip,
        &shape,
        seed,
        target_txs,
        BlockTimes::Wall,
        |block| submit_block(d, &block),
        progress,
    )?;
    let (best, height) = d.tip()?;
    ensure!(
        (best, height) == (stats.tip, stats.height),
        "bitcoind's tip {best} at {height} is not the last generated block {} at {}",
        stats.tip,
        stats.height
    );
    Ok(stats)
}

/// Generates a chain of about `target_txs` transactions in `shape` on `tip` (see the module
/// docs), handing each block to `sink` (on its own thread, in order) and calling `progress`
/// after each block is built; returns its statistics.
pub fn generate(
    mut tip: ChainTip,
    shape: &Shape,
    seed: u64,
    target_txs: u64,
    times: BlockTimes,
    mut sink: impl FnMut(Block) -> Result<()> + Send,
    mut progress: impl FnMut(&BenchProgress),
) -> Result<BenchChainStats> {
    shape.validate()?;
    let start = Instant::now();
    let secp = Secp256k1::new();
    let mut g = Generator::new(&secp, shape, seed);
    let nonce = FixedNonce::new(&secp, seed);
    let mut extra_nonce = seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut blocks_built = 0u32;
    let setup_blocks = FUNDING_BLOCKS + COINBASE_MATURITY;
    let mut tx_blocks = 0u32;
    let time_of = |tip: &ChainTip| match times {
        BlockTimes::Wall => tip.next_time(unix_now()),
        BlockTimes::FromParent => tip.next_time_after_parent(),
    };

    let (sender, receiver) = crossbeam_channel::bounded::<Block>(2);
    let result = std::thread::scope(|s| -> Result<(BlockHash, u32)> {
        let submitter = s.spawn(move || -> Result<()> {
            for block in receiver {
                sink(block)?;
            }
            Ok(())
        });
        let send = move |block: Block| -> Result<()> {
            if sender.send(block).is_err() {
                bail!("block submission stopped");
            }
            Ok(())
        };
        let mut report = |blocks: u32, txs: u64| {
            progress(&BenchProgress {
                blocks,
                txs,
                target_txs,
                elapsed: start.elapsed(),
            })
        };

        // Setup: funding coinbases with many outputs, then blocks until they mature.
        for i in 0..setup_blocks {
            let height = tip.height + 1;
            let scripts: Vec<(u32, Paid)> = if i < FUNDING_BLOCKS {
                (0..FUNDING_OUTPUTS).map(|_| g.pick_script()).collect()
            } else {
                vec![(g.miner_script, g.kept_spk(g.miner_script))]
            };
            let outputs = g.coinbase_outputs(regtest_subsidy(height), &scripts);
            extra_nonce = extra_nonce.wrapping_add(1);
            let block = assemble_block(&tip, time_of(&tip), outputs, extra_nonce, vec![])?;
            g.add_coinbase(&block, height, &scripts);
            tip = tip.child(&block);
            // A failed sink is reported by its thread's result below.
            if send(block).is_err() {
                break;
            }
            blocks_built += 1;
            report(blocks_built, 0);
        }

        // Transaction blocks, in a pipeline: block k is signed (on two threads) while block
        // k + 1 is planned. Coins of block k whose txid is only known once signed become
        // spendable from block k + 2.
        let mut signing: Option<std::thread::ScopedJoinHandle<'_, Signed>> = None;
        while g.stats.txs < target_txs || signing.is_some() {
            let planned = if g.stats.txs < target_txs {
                let height = tip.height + 1 + u32::from(signing.is_some());
                g.release_mature(height);
                let (jobs, fees) = plan_block(&mut g, target_txs)?;
                // Same-block coins of this block are spendable from the next one on.
                let fresh = std::mem::take(&mut g.fresh);
                g.pool.extend(fresh);
                Some((jobs, fees))
            } else {
                None
            };
            if let Some(handle) = signing.take() {
                let (jobs, fees) = handle
                    .join()
                    .map_err(|_| anyhow!("signing thread panicked"))??;
                let height = tip.height + 1;
                let mut txs = Vec::with_capacity(jobs.len());
                for job in jobs {
                    let txid = job.tx.compute_txid();
                    match job.txid {
                        // Its outputs are already spendable: signing must not have changed it.
                        Some(planned) => {
                            ensure!(planned == txid, "signing changed txid {planned} to {txid}")
                        }
                        None => add_coins(&mut g.pool, txid, &job),
                    }
                    txs.push(job.tx);
                }
                let scripts = [(g.miner_script, g.kept_spk(g.miner_script))];
                let outputs =
                    g.coinbase_outputs(regtest_subsidy(height) + Amount::from_sat(fees), &scripts);
                extra_nonce = extra_nonce.wrapping_add(1);
                let block = assemble_block(&tip, time_of(&tip), outputs, extra_nonce, txs)
                    .with_context(|| format!("assembling block {height}"))?;
                g.add_coinbase(&block, height, &scripts);
                tip = tip.child(&block);
                if send(block).is_err() {
                    break;
                }
                blocks_built += 1;
                tx_blocks += 1;
                report(blocks_built, g.stats.txs);
            }
            if let Some((mut jobs, fees)) = planned {
                let (secp, keys, nonce) = (&secp, g.keys, &nonce);
                signing = Some(s.spawn(move || {
                    sign_all(secp, &keys, nonce, &mut jobs)?;
                    Ok((jobs, fees))
                }));
            }
        }
        drop(send);
        submitter
            .join()
            .map_err(|_| anyhow!("submission thread panicked"))??;
        Ok((tip.hash, tip.height))
    });
    let (best, height) = result?;

    let mut by_history: Vec<(u32, usize)> = g
        .scripts
        .iter()
        .enumerate()
        .filter(|(_, e)| e.history > 0)
        .map(|(i, e)| (e.history, i))
        .collect();
    by_history.sort_unstable_by(|a, b| b.cmp(a));
    let stats = &g.stats;
    Ok(BenchChainStats {
        setup_blocks,
        tx_blocks,
        txs: stats.txs,
        inputs: stats.inputs,
        outputs: stats.outputs,
        op_return_txs: stats.op_return_txs,
        outputs_by_type: OutputType::ALL
            .iter()
            .map(|k| (*k, stats.by_type[type_index(*k)]))
            .filter(|(_, n)| *n > 0)
            .collect(),
        scripts: by_history.len() as u64,
        scripts_used_at_most_twice: by_history.iter().filter(|(h, _)| *h <= 2).count() as u64,
        top_scripts: by_history
            .iter()
            .take(10)
            .map(|&(h, i)| (g.kept_spk(i as u32).0, u64::from(h)))
            .collect(),
        tip: best,
        height,
        elapsed: start.elapsed(),
    })
}
