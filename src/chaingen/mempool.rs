//! Transactions for the mempool benchmark (`scripts/bench-mempool`, issue 13): a mainnet-sized
//! mempool and the churn that follows it.
//!
//! [`make_plan`] mines funding blocks on a running bitcoind (coinbases of many outputs of mixed
//! types to our keys, then 100 blocks so they mature) and writes two files of signed
//! transactions that it does *not* mine, one JSON object per line, parents before children:
//!
//! - `initial.jsonl`: the mempool to load (`--mempool-txs`, e.g. 300,000). Most are independent,
//!   a share (`chain_share`) spends an unconfirmed output of an earlier one, so clusters of up to
//!   `max_cluster` unconfirmed parents and children form. Inputs and outputs per tx follow
//!   mainnet-like weights, output types are mixed (P2WPKH, P2TR, P2PKH, P2SH-P2WPKH, P2WSH and
//!   P2SH multisig, P2PK), some txs carry an `OP_RETURN`, fee rates spread from 1 to 200 sat/vB
//!   (so blocks take the top and a fee histogram has a shape). A share (`rbf_share`) of the
//!   cheapest ones are marked `"target"`: nothing spends their outputs, so they can be replaced.
//! - `churn.jsonl`: what arrives afterwards, in order: new txs made the same way (spending
//!   confirmed coins and unconfirmed outputs of earlier txs) and, interleaved, replacements of
//!   the targets (same inputs, new outputs, at least twice the fee plus 2 sat/vB), each naming
//!   the txid it `"replaces"`.
//!
//! Each line: `{"txid", "hex", "vsize", "fee", "cluster", "spks": [hex of each output script],
//! ...}`; txs of one `cluster` must be submitted in file order, clusters in any order.
//! Signing uses the benchmark chain's fast signer ([`super::fastsign`]); bitcoind checks every
//! signature when the txs are submitted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::Bitcoind;
use super::block::{
    COINBASE_MATURITY, ChainTip, assemble_block, regtest_subsidy, submit_block, unix_now,
};
use super::fastsign::{FixedNonce, KeyHint};
use super::wallet::{
    KeyChain, OutputType, PublicKeys, Spend, op_return_script, sign_tx_with, unsigned_tx,
};

/// What to make.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Transactions of the initial mempool.
    pub txs: usize,
    /// Transactions arriving afterwards (new ones and replacements).
    pub churn: usize,
    /// Share of txs spending an unconfirmed output of an earlier tx (0-1).
    pub chain_share: f64,
    /// Most txs in one cluster of unconfirmed parents and children.
    pub max_cluster: u32,
    /// Share of the churn that replaces (RBF) a tx of the initial mempool (0-1).
    pub rbf_share: f64,
    pub seed: u64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            txs: 300_000,
            churn: 40_000,
            chain_share: 0.3,
            max_cluster: 8,
            rbf_share: 0.1,
            seed: 7,
        }
    }
}

/// What [`make_plan`] made.
#[derive(Debug, Clone, Default)]
pub struct PlanStats {
    pub funding_blocks: u32,
    pub coins: usize,
    pub initial: usize,
    pub initial_vbytes: u64,
    pub chained: usize,
    pub targets: usize,
    pub churn_new: usize,
    pub churn_rbf: usize,
}

/// Most coinbase outputs per funding block (weight ~0.9 MWU at most).
const COINBASE_OUTPUTS: usize = 5_000;
/// Smallest funding coin.
const MIN_COIN: u64 = 200_000;
/// Least value a new tx spends: three outputs and a fee of 200 sat/vB on 500 vB.
const MIN_SPEND: u64 = 150_000;
/// Smallest output we make (above every type's dust limit).
const MIN_OUTPUT: u64 = 1_000;
/// Output types of funding coins and payments, with weights (bare multisig is left out: its
/// outputs are not relayed by every node).
const TYPES: [(OutputType, u32); 7] = [
    (OutputType::P2wpkh, 45),
    (OutputType::P2tr, 20),
    (OutputType::P2pkh, 15),
    (OutputType::P2shP2wpkh, 10),
    (OutputType::P2wshMultisig, 5),
    (OutputType::P2shMultisig, 3),
    (OutputType::P2pk, 2),
];
/// Weights of 1, 2, 3 inputs and of 1, 2, 3 paying outputs.
const INPUTS: [u32; 3] = [60, 27, 13];
const OUTPUTS: [u32; 3] = [25, 60, 15];

#[derive(Debug, Clone)]
struct Coin {
    outpoint: OutPoint,
    txout: TxOut,
    spend: Spend,
    hint: KeyHint,
    /// Cluster of the unconfirmed tx that made it (`None`: confirmed).
    cluster: Option<u32>,
}

struct Maker<'a> {
    secp: &'a Secp256k1<All>,
    keys: KeyChain,
    pubkeys: PublicKeys,
    nonce: FixedNonce,
    rng: StdRng,
    next_key: u64,
    next_op_return: u64,
    confirmed: Vec<Coin>,
    unconfirmed: Vec<Coin>,
    cluster_size: Vec<u32>,
}

/// One signed tx and what the files say of it.
struct Made {
    tx: Transaction,
    txid: Txid,
    fee: u64,
    inputs: Vec<Coin>,
    outputs: Vec<Coin>,
    /// Its cluster of unconfirmed parents and children (txs of one cluster must reach the
    /// daemon in file order; others in any order).
    cluster: u32,
}

fn pick_weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for &(t, w) in items {
        if x < w {
            return t;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn count(rng: &mut StdRng, weights: &[u32]) -> usize {
    let items: Vec<(usize, u32)> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| (i + 1, w))
        .collect();
    pick_weighted(rng, &items)
}

impl Maker<'_> {
    fn new_output(&mut self, kind: OutputType) -> (ScriptBuf, Spend, KeyHint) {
        let spend = Spend {
            kind,
            key: self.next_key,
        };
        self.next_key += kind.key_count();
        let (spk, hint) = self.pubkeys.script_and_hint(self.secp, spend);
        (spk, spend, hint)
    }

    /// A fee rate in sat/vB: mostly cheap, a tail up to 200.
    fn fee_rate(&mut self) -> f64 {
        let (lo, hi) = pick_weighted(
            &mut self.rng,
            &[
                ((1.2, 3.0), 50),
                ((3.0, 20.0), 30),
                ((20.0, 60.0), 15),
                ((60.0, 200.0), 5),
            ],
        );
        self.rng.gen_range(lo..hi)
    }

    /// An unconfirmed coin whose cluster has room, if the draw says so and there is one.
    fn unconfirmed_input(&mut self, max_cluster: u32) -> Option<Coin> {
        for _ in 0..8 {
            if self.unconfirmed.is_empty() {
                return None;
            }
            let i = self.rng.gen_range(0..self.unconfirmed.len());
            let coin = self.unconfirmed.swap_remove(i);
            let full = coin
                .cluster
                .is_some_and(|c| self.cluster_size[c as usize] >= max_cluster);
            if !full {
                return Some(coin);
            }
        }
        None
    }

    /// Signs `inputs` to new outputs at `rate` sat/vB and at least `min_fee` (`outputs` paying
    /// outputs, maybe an `OP_RETURN`); the outputs are not added to any pool.
    fn make(&mut self, inputs: Vec<Coin>, outputs: usize, rate: f64, min_fee: u64) -> Result<Made> {
        let have: u64 = inputs.iter().map(|c| c.txout.value.to_sat()).sum();
        let mut outs: Vec<(ScriptBuf, Spend, KeyHint)> = (0..outputs)
            .map(|_| {
                let kind = pick_weighted(&mut self.rng, &TYPES);
                self.new_output(kind)
            })
            .collect();
        let op_return = self.rng.gen_bool(0.05);
        let vsize_est: u64 = 11
            + inputs
                .iter()
                .map(|c| c.spend.kind.input_vsize())
                .sum::<u64>()
            + outs.iter().map(|o| o.1.kind.output_vsize()).sum::<u64>()
            + if op_return { 30 } else { 0 }
            + 4;
        let fee = ((rate * vsize_est as f64).ceil() as u64).max(min_fee);
        let Some(mut left) = have.checked_sub(fee + MIN_OUTPUT * outs.len() as u64) else {
            bail!(
                "inputs of {have} sat cannot pay {fee} sat and {} outputs",
                outs.len()
            );
        };
        let mut values = Vec::with_capacity(outs.len());
        for k in 0..outs.len() {
            let extra = if k + 1 == outs.len() {
                left
            } else {
                self.rng.gen_range(0..=left / 2)
            };
            left -= extra;
            values.push(MIN_OUTPUT + extra);
        }
        let mut txouts: Vec<TxOut> = outs
            .iter()
            .zip(&values)
            .map(|((spk, _, _), v)| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: spk.clone(),
            })
            .collect();
        if op_return {
            self.next_op_return += 1;
            txouts.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: op_return_script(self.next_op_return),
            });
        }
        let mut tx = unsigned_tx(inputs.iter().map(|c| c.outpoint), txouts);
        let spent: Vec<TxOut> = inputs.iter().map(|c| c.txout.clone()).collect();
        let spends: Vec<Spend> = inputs.iter().map(|c| c.spend).collect();
        let hints: Vec<KeyHint> = inputs.iter().map(|c| c.hint).collect();
        sign_tx_with(
            self.secp,
            &self.keys,
            &mut tx,
            &spent,
            &spends,
            &hints,
            Some(&self.nonce),
        )?;
        let txid = tx.compute_txid();
        let outputs = outs
            .drain(..)
            .zip(values)
            .enumerate()
            .map(|(vout, ((spk, spend, hint), value))| Coin {
                outpoint: OutPoint::new(txid, vout as u32),
                txout: TxOut {
                    value: Amount::from_sat(value),
                    script_pubkey: spk,
                },
                spend,
                hint,
                cluster: None,
            })
            .collect();
        Ok(Made {
            tx,
            txid,
            fee,
            inputs,
            outputs,
            cluster: 0,
        })
    }

    /// A new tx spending confirmed coins and maybe one unconfirmed output; its outputs become
    /// spendable unless `target` (kept replaceable). `None` when the coins ran out.
    fn new_tx(&mut self, opts: &PlanOptions, target: bool) -> Result<Option<Made>> {
        let n_in = count(&mut self.rng, &INPUTS);
        let mut inputs = Vec::with_capacity(n_in);
        if self.rng.gen_bool(opts.chain_share)
            && let Some(c) = self.unconfirmed_input(opts.max_cluster)
        {
            inputs.push(c);
        }
        // Enough inputs, and enough value for any fee rate (an unconfirmed coin may be small).
        let value = |inputs: &[Coin]| inputs.iter().map(|c| c.txout.value.to_sat()).sum::<u64>();
        while inputs.len() < n_in || value(&inputs) < MIN_SPEND {
            match self.confirmed.pop() {
                Some(c) => inputs.push(c),
                None => return Ok(None),
            }
        }
        let rate = if target {
            self.rng.gen_range(1.2..2.0)
        } else {
            self.fee_rate()
        };
        let outputs = count(&mut self.rng, &OUTPUTS);
        let mut made = self.make(inputs, outputs, rate, 0)?;
        let cluster = match made.inputs.iter().find_map(|c| c.cluster) {
            Some(c) => c,
            None => {
                self.cluster_size.push(0);
                (self.cluster_size.len() - 1) as u32
            }
        };
        self.cluster_size[cluster as usize] += 1;
        made.cluster = cluster;
        for o in &mut made.outputs {
            o.cluster = Some(cluster);
        }
        if !target {
            self.unconfirmed.extend(made.outputs.iter().cloned());
        }
        Ok(Some(made))
    }
}

fn line(made: &Made, extra: serde_json::Value) -> String {
    let mut v = json!({
        "txid": made.txid.to_string(),
        "hex": serialize_hex(&made.tx),
        "vsize": made.tx.vsize(),
        "fee": made.fee,
        "cluster": made.cluster,
        "spks": made.tx.output.iter().map(|o| o.script_pubkey.to_hex_string()).collect::<Vec<_>>(),
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v.to_string()
}

/// Mines the funding blocks on `d` and writes `initial.jsonl` and `churn.jsonl` into `out`.
pub fn make_plan(
    d: &Bitcoind,
    opts: &PlanOptions,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<PlanStats> {
    ensure!(opts.txs > 0, "the plan needs at least one mempool tx");
    ensure!(
        (0.0..=1.0).contains(&opts.chain_share),
        "chain share must be within 0-1"
    );
    ensure!(
        (0.0..=1.0).contains(&opts.rbf_share),
        "RBF share must be within 0-1"
    );
    ensure!(opts.max_cluster >= 1, "clusters hold at least one tx");
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let secp = Secp256k1::new();
    let keys = KeyChain::sequential(opts.seed ^ 0x6d65_6d70_6f6f_6c00);
    let mut m = Maker {
        secp: &secp,
        keys,
        pubkeys: PublicKeys::new(&secp, keys),
        nonce: FixedNonce::new(&secp, opts.seed),
        rng: StdRng::seed_from_u64(opts.seed),
        next_key: 0,
        next_op_return: 0,
        confirmed: Vec::new(),
        unconfirmed: Vec::new(),
        cluster_size: Vec::new(),
    };
    let mut stats = PlanStats::default();

    // Funding: inputs per tx average 1.53, some of them unconfirmed.
    let wanted = (opts.txs + opts.churn) * 16 / 10 + 1_000;
    let (tip_hash, _) = d.tip()?;
    let mut tip = ChainTip::fetch(d, tip_hash)?;
    let mut extra_nonce = opts.seed.wrapping_mul(0x51_7cc1_b727_220a);
    while m.confirmed.len() < wanted {
        let height = tip.height + 1;
        let subsidy = regtest_subsidy(height).to_sat();
        let n = ((subsidy / MIN_COIN) as usize).min(COINBASE_OUTPUTS);
        ensure!(
            n >= 100,
            "the coinbase at height {height} pays {subsidy} sat: too little to fund the \
             mempool (start from a chain below height 1,000)"
        );
        let each = subsidy / n as u64;
        let outputs: Vec<(ScriptBuf, Spend, KeyHint)> = (0..n)
            .map(|_| {
                let kind = pick_weighted(&mut m.rng, &TYPES);
                m.new_output(kind)
            })
            .collect();
        let txouts = outputs
            .iter()
            .map(|(spk, _, _)| TxOut {
                value: Amount::from_sat(each),
                script_pubkey: spk.clone(),
            })
            .collect();
        extra_nonce = extra_nonce.wrapping_add(1);
        let block = assemble_block(&tip, tip.next_time(unix_now()), txouts, extra_nonce, vec![])?;
        submit_block(d, &block)?;
        let txid = block.txdata[0].compute_txid();
        for (vout, (spk, spend, hint)) in outputs.into_iter().enumerate() {
            m.confirmed.push(Coin {
                outpoint: OutPoint::new(txid, vout as u32),
                txout: TxOut {
                    value: Amount::from_sat(each),
                    script_pubkey: spk,
                },
                spend,
                hint,
                cluster: None,
            });
        }
        tip = tip.child(&block);
        stats.funding_blocks += 1;
    }
    progress(&format!(
        "{} funding blocks, {} coins; mining {COINBASE_MATURITY} blocks so they mature",
        stats.funding_blocks,
        m.confirmed.len()
    ));
    let burn = vec![TxOut {
        value: Amount::ZERO,
        script_pubkey: Bitcoind::mine_script(),
    }];
    for _ in 0..COINBASE_MATURITY {
        extra_nonce = extra_nonce.wrapping_add(1);
        let block = assemble_block(
            &tip,
            tip.next_time(unix_now()),
            burn.clone(),
            extra_nonce,
            vec![],
        )?;
        submit_block(d, &block)?;
        tip = tip.child(&block);
    }
    stats.coins = m.confirmed.len();
    m.confirmed.shuffle(&mut m.rng);

    // The initial mempool.
    let mut file = BufWriter::new(File::create(out.join("initial.jsonl"))?);
    let mut targets: Vec<Made> = Vec::new();
    for i in 0..opts.txs {
        let target = m.rng.gen_bool(opts.rbf_share.min(0.5));
        let Some(made) = m.new_tx(opts, target)? else {
            bail!("funding coins ran out after {i} txs");
        };
        if made.inputs.iter().any(|c| c.cluster.is_some()) {
            stats.chained += 1;
        }
        stats.initial_vbytes += made.tx.vsize() as u64;
        writeln!(file, "{}", line(&made, json!({"target": target})))?;
        if target {
            targets.push(made);
        }
        if (i + 1) % 50_000 == 0 {
            progress(&format!("{} mempool txs", i + 1));
        }
    }
    file.flush()?;
    stats.initial = opts.txs;
    stats.targets = targets.len();

    // The churn: new txs with replacements of the targets interleaved.
    targets.shuffle(&mut m.rng);
    let mut file = BufWriter::new(File::create(out.join("churn.jsonl"))?);
    for _ in 0..opts.churn {
        if m.rng.gen_bool(opts.rbf_share)
            && let Some(old) = targets.pop()
        {
            let inputs = old.inputs.clone();
            // BIP125 and cluster-mempool rules both want more fee and a higher rate: twice
            // the fee plus 2 sat/vB of the (similar-sized) replacement.
            let vsize = old.tx.vsize() as u64;
            let rate = (2 * old.fee + 2 * vsize) as f64 / vsize as f64;
            let mut made = m.make(inputs, old.outputs.len(), rate, 2 * old.fee + 4 * vsize)?;
            made.cluster = old.cluster;
            writeln!(
                file,
                "{}",
                line(&made, json!({"replaces": old.txid.to_string()}))
            )?;
            stats.churn_rbf += 1;
            continue;
        }
        match m.new_tx(opts, false)? {
            Some(made) => {
                writeln!(file, "{}", line(&made, json!({})))?;
                stats.churn_new += 1;
            }
            None => break,
        }
    }
    file.flush()?;
    Ok(stats)
}
