//! `ferrum-chaingen`: generates a large mainnet-shaped regtest chain for benchmarks and the demo.
//!
//! Starts the test bitcoind on `--datadir` (created if missing) and builds about `--txs`
//! transactions on its tip in a [`Shape`] (`--shape`, every knob overridable). Blocks are either
//! submitted as they are built (the default, every signature checked by bitcoind), or, with
//! `--spool FILE`, written to a file first and imported into a bitcoind started with
//! `-assumevalid` at the last block (see [`ferrum::chaingen::spool`]): the way to make chains of
//! tens of millions of transactions. `--snapshot-at` keeps copies of the datadir at chosen
//! prefixes of the chain. Statistics are printed at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use ferrum::chaingen::bench::{BenchProgress, BlockTimes, generate};
use ferrum::chaingen::block::submit_block;
use ferrum::chaingen::mempool::{PlanOptions, make_plan};
use ferrum::chaingen::shape::{Shape, parse_range, parse_weights};
use ferrum::chaingen::spool::{SpoolReader, SpoolWriter, spool_tip, submit_headers};
use ferrum::chaingen::{Bitcoind, ChainTip};
use serde_json::json;

/// Generate a mainnet-shaped regtest chain in a bitcoind datadir.
#[derive(Debug, Parser)]
#[command(name = "ferrum-chaingen", version)]
struct Args {
    /// bitcoind datadir (created if missing; an existing chain is extended).
    #[arg(long)]
    datadir: PathBuf,
    /// Number of non-coinbase transactions to generate.
    #[arg(long, default_value_t = 1_000_000)]
    txs: u64,
    /// Seed of keys and choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Chain shape preset: default or aged (docs/PERFORMANCE.md describes both).
    #[arg(long, default_value = "default")]
    shape: String,
    /// Transactions per block, "MIN-MAX".
    #[arg(long)]
    block_txs: Option<String>,
    /// Relative weights of 1, 2, 3... inputs per transaction, e.g. "60,27,13".
    #[arg(long)]
    inputs: Option<String>,
    /// Relative weights of 1, 2, 3... paying outputs per transaction.
    #[arg(long)]
    outputs: Option<String>,
    /// Share of transactions with an OP_RETURN output (0-1).
    #[arg(long)]
    op_return: Option<f64>,
    /// Share of all outputs paid to the hot scripts together (0-1).
    #[arg(long)]
    hot_share: Option<f64>,
    /// Size of the popular script set.
    #[arg(long)]
    popular: Option<usize>,
    /// Share of outputs paid to a Zipf-chosen popular script (0-1).
    #[arg(long)]
    popular_share: Option<f64>,
    /// Zipf exponent of the popular set (1 = classic Zipf; lower is flatter).
    #[arg(long)]
    zipf: Option<f64>,
    /// Share of taproot among fresh scripts (0-1).
    #[arg(long)]
    taproot_share: Option<f64>,
    /// Share of inputs spending one of the most recently created coins (0-1).
    #[arg(long)]
    recent_share: Option<f64>,
    /// How many of the most recent coins count as recent.
    #[arg(long)]
    recent_window: Option<usize>,
    /// Write the blocks to this file first, then import them with -assumevalid (bitcoind skips
    /// the signature checks of all but the last 2016 blocks). The file is deleted at the end
    /// unless --keep-spool.
    #[arg(long)]
    spool: Option<PathBuf>,
    /// Keep the spool file after the import.
    #[arg(long)]
    keep_spool: bool,
    /// Only import an existing --spool (after an interrupted import); no generation.
    #[arg(long)]
    import_only: bool,
    /// With --spool: copy the datadir to DATADIR.<N>tx when the chain reaches N transactions
    /// (comma-separated list), for benchmarks on prefixes of one chain.
    #[arg(long, value_delimiter = ',')]
    snapshot_at: Vec<u64>,
    /// bitcoind's -dbcache in MiB during generation and import.
    #[arg(long, default_value_t = 1000)]
    dbcache: u32,
    /// Extra bitcoind argument (repeatable), e.g. `--bitcoind-arg=-par=2`.
    #[arg(long = "bitcoind-arg", allow_hyphen_values = true)]
    bitcoind_args: Vec<String>,
    /// Instead of a chain: mine funding blocks and write a mempool's worth of unmined
    /// transactions and their churn into this directory, for `scripts/bench-mempool`
    /// (see `ferrum::chaingen::mempool`).
    #[arg(long)]
    mempool_plan: Option<PathBuf>,
    /// With --mempool-plan: transactions of the initial mempool.
    #[arg(long, default_value_t = 300_000)]
    mempool_txs: usize,
    /// With --mempool-plan: transactions arriving afterwards (new ones and replacements).
    #[arg(long, default_value_t = 40_000)]
    churn_txs: usize,
    /// With --mempool-plan: share of txs spending an unconfirmed output of an earlier one.
    #[arg(long, default_value_t = 0.3)]
    chain_share: f64,
    /// With --mempool-plan: most txs in one cluster of unconfirmed parents and children.
    #[arg(long, default_value_t = 8)]
    max_cluster: u32,
    /// With --mempool-plan: share of the churn replacing (RBF) a tx of the initial mempool.
    #[arg(long, default_value_t = 0.1)]
    rbf_share: f64,
}

fn shape_of(args: &Args) -> Result<Shape> {
    let mut s = Shape::named(&args.shape)?;
    if let Some(r) = &args.block_txs {
        s.block_txs = parse_range(r).context("--block-txs")?;
    }
    if let Some(w) = &args.inputs {
        s.inputs = parse_weights(w).context("--inputs")?;
    }
    if let Some(w) = &args.outputs {
        s.outputs = parse_weights(w).context("--outputs")?;
    }
    if let Some(v) = args.op_return {
        s.op_return = v;
    }
    if let Some(v) = args.hot_share {
        s.set_hot_share(v)?;
    }
    if let Some(v) = args.popular {
        s.popular = v;
    }
    if let Some(v) = args.popular_share {
        s.popular_share = v;
    }
    if let Some(v) = args.zipf {
        s.zipf = v;
    }
    if let Some(v) = args.taproot_share {
        s.set_taproot_share(v)?;
    }
    if let Some(v) = args.recent_share {
        s.recent_share = v;
    }
    if let Some(v) = args.recent_window {
        s.recent_window = v;
    }
    s.validate()?;
    Ok(s)
}

fn log(msg: impl std::fmt::Display) {
    eprintln!("ferrum-chaingen: {msg}");
}

fn reporter(start: Instant) -> impl FnMut(&BenchProgress) {
    let mut last_report = Duration::ZERO;
    move |p: &BenchProgress| {
        if p.elapsed >= last_report + Duration::from_secs(10) || p.txs >= p.target_txs {
            last_report = p.elapsed;
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            log(format_args!(
                "{} blocks, {}/{} txs, {:.0} s, {:.0} tx/s",
                p.blocks,
                p.txs,
                p.target_txs,
                secs,
                p.txs as f64 / secs
            ));
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let shape = shape_of(&args)?;
    let mut bitcoind_args = vec![format!("-dbcache={}", args.dbcache)];
    bitcoind_args.extend(args.bitcoind_args.iter().cloned());
    ensure!(
        args.snapshot_at.is_empty() || args.spool.is_some(),
        "--snapshot-at needs --spool"
    );
    ensure!(
        !args.import_only || args.spool.is_some(),
        "--import-only needs --spool"
    );
    log(format_args!(
        "bitcoind {} on {}",
        Bitcoind::binary()?.display(),
        args.datadir.display()
    ));
    let refs: Vec<&str> = bitcoind_args.iter().map(String::as_str).collect();
    let d = Bitcoind::start_in(&args.datadir, &refs).context("starting bitcoind")?;
    if let Some(out) = &args.mempool_plan {
        ensure!(args.spool.is_none(), "--mempool-plan does not take --spool");
        let opts = PlanOptions {
            txs: args.mempool_txs,
            churn: args.churn_txs,
            chain_share: args.chain_share,
            max_cluster: args.max_cluster,
            rbf_share: args.rbf_share,
            seed: args.seed,
        };
        let started = Instant::now();
        let result = make_plan(&d, &opts, out, |msg| log(msg));
        log("stopping bitcoind");
        d.stop().context("stopping bitcoind")?;
        let stats = result?;
        log(format_args!(
            "mempool plan in {} ({:.0} s): {stats:?}",
            out.display(),
            started.elapsed().as_secs_f64()
        ));
        return Ok(());
    }
    let (tip_hash, height) = d.tip()?;
    let Some(spool) = &args.spool else {
        log(format_args!(
            "chain at height {height}; generating {} transactions (seed {}, {})",
            args.txs,
            args.seed,
            shape.describe()
        ));
        let tip = ChainTip::fetch(&d, tip_hash)?;
        let result = generate(
            tip,
            &shape,
            args.seed,
            args.txs,
            BlockTimes::Wall,
            |block| submit_block(&d, &block),
            reporter(Instant::now()),
        );
        log("stopping bitcoind");
        d.stop().context("stopping bitcoind")?;
        print!("{}", result?);
        return Ok(());
    };

    // Spool: generate with bitcoind stopped (both cores for signing), then import.
    let started = Instant::now();
    if !args.import_only {
        let tip = ChainTip::fetch(&d, tip_hash)?;
        d.stop().context("stopping bitcoind")?;
        log(format_args!(
            "chain at height {height}; generating {} transactions into {} (seed {}, {})",
            args.txs,
            spool.display(),
            args.seed,
            shape.describe()
        ));
        let mut writer = SpoolWriter::create(spool)?;
        let stats = generate(
            tip,
            &shape,
            args.seed,
            args.txs,
            BlockTimes::FromParent,
            |block| writer.write(&block),
            reporter(Instant::now()),
        )?;
        let blocks = writer.finish()?;
        log(format_args!(
            "spooled {blocks} blocks ({} MB) in {:.0} s",
            std::fs::metadata(spool)?.len() >> 20,
            started.elapsed().as_secs_f64()
        ));
        print!("{stats}");
    } else {
        d.stop().context("stopping bitcoind")?;
    }
    import(&args, spool, &bitcoind_args)?;
    if !args.keep_spool {
        std::fs::remove_file(spool)
            .with_context(|| format!("removing the spool {}", spool.display()))?;
    }
    log(format_args!(
        "done in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Imports the spool into bitcoind on `--datadir` with -assumevalid, taking the snapshots.
fn import(args: &Args, spool: &Path, bitcoind_args: &[String]) -> Result<()> {
    let (last, blocks) = spool_tip(spool)?;
    let mut import_args = bitcoind_args.to_vec();
    import_args.push(format!("-assumevalid={last}"));
    let refs: Vec<&str> = import_args.iter().map(String::as_str).collect();
    let mut d = Bitcoind::start_in(&args.datadir, &refs)?;
    let t = Instant::now();
    let (hashes, extra) = submit_headers(&d, spool)?;
    log(format_args!(
        "{} headers (and {} above them) submitted in {:.1} s; importing {blocks} blocks with \
         -assumevalid={last}",
        hashes.len(),
        extra.len(),
        t.elapsed().as_secs_f64()
    ));
    let mut snapshots: Vec<u64> = args.snapshot_at.clone();
    snapshots.sort_unstable();
    let mut snapshots = snapshots.into_iter().peekable();
    let mut reader = SpoolReader::open(spool)?;
    let mut txs = 0u64;
    let mut last_report = Instant::now();
    let mut pending_snapshot = None;
    let mut index = 0usize;
    while let Some(block) = reader.next_block()? {
        index += 1;
        // Setup blocks and coinbases are not counted, as in the generator's target.
        txs += block.txdata.len().saturating_sub(1) as u64;
        submit_block(&d, &block)?;
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let secs = t.elapsed().as_secs_f64();
            log(format_args!(
                "imported {txs} txs, height {}, {:.0} s, {:.0} tx/s",
                block.bip34_block_height().unwrap_or(0),
                secs,
                txs as f64 / secs.max(1e-9)
            ));
        }
        if let Some(&n) = snapshots.peek()
            && txs >= n
        {
            snapshots.next();
            pending_snapshot = Some(n);
        }
        if let Some(n) = pending_snapshot.take() {
            let next = hashes
                .get(index)
                .copied()
                .or_else(|| extra.first().map(|h| h.block_hash()));
            d = snapshot(args, d, &import_args, n, next)?;
        }
    }
    let (tip, height) = d.tip()?;
    ensure!(
        tip == last,
        "bitcoind's tip {tip} at {height} is not the spool's last block {last}"
    );
    // The headers above the spool have no blocks: forget them.
    if let Some(first) = extra.first() {
        d.rpc("invalidateblock", json!([first.block_hash().to_string()]))?;
    }
    let info = d.rpc("getblockchaininfo", json!([]))?;
    ensure!(
        info["headers"].as_u64() == Some(u64::from(height)),
        "bitcoind still knows headers above its tip: {info}"
    );
    log(format_args!(
        "imported up to height {height} in {:.0} s; stopping bitcoind",
        t.elapsed().as_secs_f64()
    ));
    d.stop().context("stopping bitcoind")
}

/// Stops `d`, copies its datadir to `<datadir>.<n>tx`, makes the copy end at `d`'s tip (the
/// headers above it, from `next` on, are marked invalid: with them the copy's bitcoind would
/// wait in initial block download for blocks it never gets), and starts `d` again.
fn snapshot(
    args: &Args,
    d: Bitcoind,
    import_args: &[String],
    n: u64,
    next: Option<bitcoin::BlockHash>,
) -> Result<Bitcoind> {
    let (tip, _) = d.tip()?;
    d.stop()?;
    let to = PathBuf::from(format!("{}.{n}tx", args.datadir.display()));
    if to.exists() {
        bail!("{} exists already", to.display());
    }
    let t = Instant::now();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&args.datadir)
        .arg(&to)
        .status()
        .context("running cp")?;
    ensure!(status.success(), "cp -a failed: {status}");
    let refs: Vec<&str> = args.bitcoind_args.iter().map(String::as_str).collect();
    let copy = Bitcoind::start_in(&to, &refs)?;
    if let Some(next) = next {
        copy.rpc("invalidateblock", json!([next.to_string()]))?;
    }
    let (ctip, height) = copy.tip()?;
    let info = copy.rpc("getblockchaininfo", json!([]))?;
    copy.stop()?;
    ensure!(ctip == tip, "the snapshot's tip moved from {tip} to {ctip}");
    ensure!(
        info["headers"].as_u64() == Some(u64::from(height)),
        "the snapshot still knows headers above its tip: {info}"
    );
    log(format_args!(
        "snapshot of {n} txs at height {height} in {} ({:.0} s)",
        to.display(),
        t.elapsed().as_secs_f64()
    ));
    let refs: Vec<&str> = import_args.iter().map(String::as_str).collect();
    Bitcoind::start_in(&args.datadir, &refs)
}
