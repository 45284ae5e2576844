//! `ferrum-chaingen`: generates a large mainnet-shaped regtest chain for benchmarks and the demo.
//!
//! Starts the test bitcoind on `--datadir` (created if missing), mines about `--txs`
//! transactions with [`ferrum::chaingen::bench::generate_bench_chain`] on its tip, stops bitcoind
//! cleanly and prints statistics. Reuse the chain later with `Bitcoind::start_in(datadir, ..)`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ferrum::chaingen::Bitcoind;
use ferrum::chaingen::bench::generate_bench_chain;

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
    /// bitcoind's -dbcache in MiB during generation.
    #[arg(long, default_value_t = 1000)]
    dbcache: u32,
    /// Extra bitcoind argument (repeatable), e.g. `--bitcoind-arg=-par=2`.
    #[arg(long = "bitcoind-arg", allow_hyphen_values = true)]
    bitcoind_args: Vec<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut bitcoind_args = vec![format!("-dbcache={}", args.dbcache)];
    bitcoind_args.extend(args.bitcoind_args.iter().cloned());
    let refs: Vec<&str> = bitcoind_args.iter().map(String::as_str).collect();
    eprintln!(
        "ferrum-chaingen: starting bitcoind on {} ({})",
        args.datadir.display(),
        Bitcoind::binary()?.display()
    );
    let d = Bitcoind::start_in(&args.datadir, &refs).context("starting bitcoind")?;
    let (_, height) = d.tip()?;
    eprintln!(
        "ferrum-chaingen: chain at height {height}; generating {} transactions (seed {})",
        args.txs, args.seed
    );
    let mut last_report = Duration::ZERO;
    let result = generate_bench_chain(&d, args.seed, args.txs, |p| {
        if p.elapsed >= last_report + Duration::from_secs(5) || p.txs >= p.target_txs {
            last_report = p.elapsed;
            let secs = p.elapsed.as_secs_f64().max(1e-9);
            eprintln!(
                "ferrum-chaingen: {} blocks, {}/{} txs, {:.0} s, {:.0} tx/s",
                p.blocks,
                p.txs,
                p.target_txs,
                secs,
                p.txs as f64 / secs
            );
        }
    });
    let stats = match result {
        Ok(stats) => stats,
        Err(e) => {
            eprintln!("ferrum-chaingen: generation failed; stopping bitcoind");
            let _ = d.stop();
            return Err(e);
        }
    };
    eprintln!("ferrum-chaingen: stopping bitcoind");
    d.stop().context("stopping bitcoind")?;
    print!("{stats}");
    Ok(())
}
