//! Large mainnet-shaped regtest chains for benchmarks and the demo.
//!
//! [`generate_bench_chain`] mines, on the daemon's tip:
//! 1. 10 funding blocks whose coinbases have 2,000 outputs each, then 100 blocks so they mature;
//! 2. blocks of 2,000–4,000 transactions (bounded by weight and sigops) until `target_txs`
//!    transactions exist, each with 1–3 inputs (about 1.5 on average) and 1–3 outputs (about
//!    2.2), 5% of them with an extra `OP_RETURN` output.
//!
//! New outputs go mostly to new P2WPKH scripts, then P2PKH, P2TR, P2SH (P2SH-P2WPKH and 2-of-3
//! multisig), P2WSH and a little P2PK. Address reuse is Zipf-like: six "exchange" scripts get
//! 18.5% of all outputs (so on a 1,000,000-transaction chain the top few have well over 100,000
//! history entries), 20% go to a Zipf(s = 1) choice among the first 100,000 scripts, and the
//! rest to fresh scripts, so most scripts are used once or twice (funded, then spent).
//!
//! Speed: transactions are planned on one thread, signed on two (one shared secp256k1
//! context), and whole blocks are submitted with `submitblock` by a third thread while the next
//! block is being built.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
use super::block::{
    COINBASE_MATURITY, ChainTip, MAX_BLOCK_SIGOPS_COST, MAX_BLOCK_WEIGHT, assemble_block,
    regtest_subsidy, submit_block, unix_now,
};
use super::wallet::{KeyChain, OutputType, Spend, op_return_script, sign_tx};

/// Funding blocks at the start, and the outputs of each one's coinbase.
const FUNDING_BLOCKS: u32 = 10;
const FUNDING_OUTPUTS: usize = 2_000;
/// Share of all outputs paid to each "exchange" (hot) script, and its type.
const HOT: [(f64, OutputType); 6] = [
    (0.05, OutputType::P2wpkh),
    (0.04, OutputType::P2pkh),
    (0.035, OutputType::P2shP2wpkh),
    (0.03, OutputType::P2wpkh),
    (0.02, OutputType::P2tr),
    (0.01, OutputType::P2wshMultisig),
];
/// Share of outputs paid to a Zipf-chosen script among the first `POPULAR` scripts.
const POPULAR_SHARE: f64 = 0.20;
const POPULAR: usize = 100_000;
/// Types of new scripts, with weights (percent).
const NEW_TYPES: [(u32, OutputType); 7] = [
    (58, OutputType::P2wpkh),
    (14, OutputType::P2pkh),
    (12, OutputType::P2tr),
    (8, OutputType::P2shP2wpkh),
    (2, OutputType::P2shMultisig),
    (5, OutputType::P2wshMultisig),
    (1, OutputType::P2pk),
];
/// Chance that an input spends an output created earlier in the same block.
const SAME_BLOCK_SPEND: f64 = 0.05;
/// Weight and sigop cost kept free for the coinbase.
const COINBASE_WEIGHT_RESERVE: u64 = 8_000;
const COINBASE_SIGOPS_RESERVE: usize = 400;

/// Progress of [`generate_bench_chain`], reported after each block is built.
#[derive(Debug, Clone, Copy)]
pub struct BenchProgress {
    /// Blocks built so far (setup blocks included).
    pub blocks: u32,
    /// Non-coinbase transactions built so far.
    pub txs: u64,
    pub target_txs: u64,
    pub elapsed: Duration,
}

/// What [`generate_bench_chain`] made.
#[derive(Debug, Clone)]
pub struct BenchChainStats {
    /// Funding and maturity blocks before the first transaction.
    pub setup_blocks: u32,
    /// Blocks with transactions.
    pub tx_blocks: u32,
    /// Non-coinbase transactions.
    pub txs: u64,
    pub inputs: u64,
    /// Outputs of non-coinbase transactions (`OP_RETURN` included).
    pub outputs: u64,
    /// Transactions with an `OP_RETURN` output.
    pub op_return_txs: u64,
    /// Outputs of non-coinbase transactions by type.
    pub outputs_by_type: Vec<(OutputType, u64)>,
    /// Distinct (spendable) scripts used.
    pub scripts: u64,
    /// Scripts with one or two history entries.
    pub scripts_used_at_most_twice: u64,
    /// The ten scripts with the longest histories (transactions touching them), longest first.
    pub top_scripts: Vec<(ScriptBuf, u64)>,
    /// Tip after generation.
    pub tip: BlockHash,
    pub height: u32,
    pub elapsed: Duration,
}

impl std::fmt::Display for BenchChainStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "blocks: {} setup + {} with transactions; tip {} at height {}",
            self.setup_blocks, self.tx_blocks, self.tip, self.height
        )?;
        writeln!(
            f,
            "transactions: {} ({:.2} inputs, {:.2} outputs each; {} with OP_RETURN) in {:.1} s = {:.0} tx/s",
            self.txs,
            self.inputs as f64 / self.txs.max(1) as f64,
            self.outputs as f64 / self.txs.max(1) as f64,
            self.op_return_txs,
            secs,
            self.txs as f64 / secs
        )?;
        write!(f, "outputs by type:")?;
        for (kind, n) in &self.outputs_by_type {
            write!(f, " {kind:?} {n}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "scripts: {} ({} used once or twice)",
            self.scripts, self.scripts_used_at_most_twice
        )?;
        writeln!(f, "longest script histories:")?;
        for (spk, n) in &self.top_scripts {
            writeln!(f, "  {n:>9}  {spk}")?;
        }
        Ok(())
    }
}

/// One of our scripts and its history length so far.
struct ScriptEntry {
    spk: ScriptBuf,
    spend: Spend,
    history: u32,
    /// Sequence number of the last transaction counted in `history`.
    last_tx: u64,
}

#[derive(Clone, Copy)]
struct Coin {
    outpoint: OutPoint,
    value: u64,
    script: u32,
}

/// A transaction to sign: the unsigned transaction, what it spends, and its txid if that was
/// final before signing (then its outputs were already spendable in the same block).
struct Job {
    tx: Transaction,
    spent: Vec<TxOut>,
    spends: Vec<Spend>,
    scripts_out: Vec<Option<u32>>,
    txid: Option<bitcoin::Txid>,
}

struct Generator<'a> {
    secp: &'a Secp256k1<All>,
    keys: KeyChain,
    rng: StdRng,
    next_key: u64,
    scripts: Vec<ScriptEntry>,
    /// Script ids of the hot scripts.
    hot: Vec<u32>,
    /// First `POPULAR` new scripts, by Zipf rank.
    popular: Vec<u32>,
    zipf_cdf: Vec<f64>,
    /// Spendable coins from earlier blocks.
    pool: Vec<Coin>,
    /// Coins created earlier in the block being built whose txid is final.
    fresh: Vec<Coin>,
    /// Coinbase coins by creation height, waiting for maturity.
    maturing: VecDeque<(u32, Vec<Coin>)>,
    tx_seq: u64,
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
    fn new(secp: &'a Secp256k1<All>, seed: u64) -> Generator<'a> {
        let mut zipf_cdf = Vec::with_capacity(POPULAR);
        let mut acc = 0.0;
        for rank in 1..=POPULAR {
            acc += 1.0 / rank as f64;
            zipf_cdf.push(acc);
        }
        for c in &mut zipf_cdf {
            *c /= acc;
        }
        let mut g = Generator {
            secp,
            keys: KeyChain::new(seed),
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
        for (_, kind) in HOT {
            let id = g.new_script(kind);
            g.hot.push(id);
        }
        g.miner_script = g.new_script(OutputType::P2wpkh);
        g
    }

    fn new_script(&mut self, kind: OutputType) -> u32 {
        let spend = Spend {
            kind,
            key: self.next_key,
        };
        self.next_key += kind.key_count();
        let spk = self.keys.script_pubkey(self.secp, spend);
        self.scripts.push(ScriptEntry {
            spk,
            spend,
            history: 0,
            last_tx: 0,
        });
        (self.scripts.len() - 1) as u32
    }

    /// A script for a new output, following the reuse model.
    fn pick_script(&mut self) -> u32 {
        let r: f64 = self.rng.r#gen();
        let mut acc = 0.0;
        for (i, (share, _)) in HOT.iter().enumerate() {
            acc += share;
            if r < acc {
                return self.hot[i];
            }
        }
        if r < acc + POPULAR_SHARE {
            let u: f64 = self.rng.r#gen();
            let rank = self.zipf_cdf.partition_point(|&c| c < u);
            if let Some(&id) = self.popular.get(rank) {
                return id;
            }
        }
        let mut w = self.rng.gen_range(0..100u32);
        let mut kind = OutputType::P2wpkh;
        for (weight, k) in NEW_TYPES {
            if w < weight {
                kind = k;
                break;
            }
            w -= weight;
        }
        let id = self.new_script(kind);
        if self.popular.len() < POPULAR {
            self.popular.push(id);
        }
        id
    }

    /// Counts one transaction touching `scripts` in their histories.
    fn touch(&mut self, scripts: impl IntoIterator<Item = u32>) {
        self.tx_seq += 1;
        for id in scripts {
            if let Some(e) = self.scripts.get_mut(id as usize)
                && e.last_tx != self.tx_seq
            {
                e.last_tx = self.tx_seq;
                e.history += 1;
            }
        }
    }

    /// Coinbase outputs paying `total` split over `scripts`.
    fn coinbase_outputs(&self, total: Amount, scripts: &[u32]) -> Vec<TxOut> {
        let n = scripts.len().max(1) as u64;
        let share = total.to_sat() / n;
        scripts
            .iter()
            .enumerate()
            .map(|(i, &id)| TxOut {
                value: Amount::from_sat(if i == 0 {
                    total.to_sat() - share * (n - 1)
                } else {
                    share
                }),
                script_pubkey: self.scripts[id as usize].spk.clone(),
            })
            .collect()
    }

    /// Records the coinbase of a block at `height` (history and maturing coins).
    fn add_coinbase(&mut self, block: &Block, height: u32, scripts: &[u32]) {
        let coinbase = &block.txdata[0];
        let txid = coinbase.compute_txid();
        let coins = scripts
            .iter()
            .enumerate()
            .map(|(vout, &script)| Coin {
                outpoint: OutPoint::new(txid, vout as u32),
                value: coinbase.output[vout].value.to_sat(),
                script,
            })
            .collect();
        self.maturing.push_back((height, coins));
        self.touch(scripts.iter().copied());
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

    fn take_coin(&mut self) -> Option<Coin> {
        if !self.fresh.is_empty() && self.rng.gen_bool(SAME_BLOCK_SPEND) {
            let i = self.rng.gen_range(0..self.fresh.len());
            return Some(self.fresh.swap_remove(i));
        }
        if self.pool.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..self.pool.len());
        Some(self.pool.swap_remove(i))
    }

    /// Plans one transaction (unsigned); `None` when no coins are left.
    fn plan_tx(&mut self) -> Option<(Job, u64, usize)> {
        let n_in = match self.rng.gen_range(0..100) {
            0..60 => 1,
            60..87 => 2,
            _ => 3,
        };
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
        let mut n_pay = match self.rng.gen_range(0..100) {
            0..10 => 1,
            10..75 => 2,
            _ => 3,
        };
        let op_return = self.rng.gen_bool(0.05);
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
        for amount in amounts {
            let id = self.pick_script();
            let entry = &self.scripts[id as usize];
            self.stats.by_type[type_index(entry.spend.kind)] += 1;
            output.push(TxOut {
                value: Amount::from_sat(amount),
                script_pubkey: entry.spk.clone(),
            });
            scripts_out.push(Some(id));
        }
        if op_return {
            let pos = self.rng.gen_range(0..=output.len());
            output.insert(
                pos,
                TxOut {
                    value: Amount::ZERO,
                    script_pubkey: op_return_script(self.tx_seq),
                },
            );
            scripts_out.insert(pos, None);
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
                        self.keys.unsigned_script_sig(self.secp, *s)
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
                script_pubkey: self.scripts[c.script as usize].spk.clone(),
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

fn add_coins(to: &mut Vec<Coin>, txid: bitcoin::Txid, job: &Job) {
    for (vout, (out, script)) in job.tx.output.iter().zip(&job.scripts_out).enumerate() {
        if let Some(script) = script {
            to.push(Coin {
                outpoint: OutPoint::new(txid, vout as u32),
                value: out.value.to_sat(),
                script: *script,
            });
        }
    }
}

/// Signs `jobs` on two threads.
fn sign_all(secp: &Secp256k1<All>, keys: &KeyChain, jobs: &mut [Job]) -> Result<()> {
    let mid = jobs.len() / 2;
    let (a, b) = jobs.split_at_mut(mid);
    let sign = |part: &mut [Job]| -> Result<()> {
        for job in part {
            sign_tx(secp, keys, &mut job.tx, &job.spent, &job.spends)?;
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

/// Generates a mainnet-shaped chain of about `target_txs` transactions on `d`'s tip (see the
/// module docs), calling `progress` after each block, and returns its statistics.
pub fn generate_bench_chain(
    d: &Bitcoind,
    seed: u64,
    target_txs: u64,
    mut progress: impl FnMut(&BenchProgress),
) -> Result<BenchChainStats> {
    let start = Instant::now();
    let secp = Secp256k1::new();
    let mut g = Generator::new(&secp, seed);
    let (tip_hash, _) = d.tip()?;
    let mut tip = ChainTip::fetch(d, tip_hash)?;
    let mut extra_nonce = seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut blocks_built = 0u32;
    let setup_blocks = FUNDING_BLOCKS + COINBASE_MATURITY;
    let mut tx_blocks = 0u32;

    let (sender, receiver) = crossbeam_channel::bounded::<Block>(2);
    let result = std::thread::scope(|s| -> Result<BlockHash> {
        let submitter = s.spawn(move || -> Result<()> {
            for block in receiver {
                submit_block(d, &block)?;
            }
            Ok(())
        });
        let send = move |block: Block| -> Result<()> {
            if sender.send(block).is_err() {
                bail!("block submission stopped");
            }
            Ok(())
        };
        let mut last = tip.hash;
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
            let scripts: Vec<u32> = if i < FUNDING_BLOCKS {
                (0..FUNDING_OUTPUTS).map(|_| g.pick_script()).collect()
            } else {
                vec![g.miner_script]
            };
            let outputs = g.coinbase_outputs(regtest_subsidy(height), &scripts);
            extra_nonce = extra_nonce.wrapping_add(1);
            let block = assemble_block(
                &tip,
                tip.next_time(unix_now()),
                outputs,
                extra_nonce,
                vec![],
            )?;
            g.add_coinbase(&block, height, &scripts);
            tip = tip.child(&block);
            last = tip.hash;
            send(block)?;
            blocks_built += 1;
            report(blocks_built, 0);
        }

        // Transaction blocks.
        while g.stats.txs < target_txs {
            let height = tip.height + 1;
            g.release_mature(height);
            let want = g
                .rng
                .gen_range(2_000..=4_000u64)
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
            sign_all(&secp, &g.keys, &mut jobs)?;
            let mut txs = Vec::with_capacity(jobs.len());
            for job in jobs {
                let txid = job.tx.compute_txid();
                match job.txid {
                    // Its outputs are already in `fresh`: signing must not have changed it.
                    Some(planned) => {
                        ensure!(planned == txid, "signing changed txid {planned} to {txid}")
                    }
                    None => add_coins(&mut g.pool, txid, &job),
                }
                txs.push(job.tx);
            }
            let fresh = std::mem::take(&mut g.fresh);
            g.pool.extend(fresh);
            let scripts = [g.miner_script];
            let outputs =
                g.coinbase_outputs(regtest_subsidy(height) + Amount::from_sat(fees), &scripts);
            extra_nonce = extra_nonce.wrapping_add(1);
            let block = assemble_block(&tip, tip.next_time(unix_now()), outputs, extra_nonce, txs)
                .with_context(|| format!("assembling block {height}"))?;
            g.add_coinbase(&block, height, &scripts);
            tip = tip.child(&block);
            last = tip.hash;
            send(block)?;
            blocks_built += 1;
            tx_blocks += 1;
            report(blocks_built, g.stats.txs);
        }
        drop(send);
        submitter
            .join()
            .map_err(|_| anyhow!("submission thread panicked"))??;
        Ok(last)
    });
    let last = result?;
    let (best, height) = d.tip()?;
    ensure!(
        best == last,
        "bitcoind's tip {best} is not the last generated block {last}"
    );

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
            .map(|&(h, i)| (g.scripts[i].spk.clone(), u64::from(h)))
            .collect(),
        tip: best,
        height,
        elapsed: start.elapsed(),
    })
}
