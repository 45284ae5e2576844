//! `ferrum demo`: for someone without a node. Starts the test regtest bitcoind on a directory of
//! its own, mines a chain of a few hundred blocks with transactions of every output type (signed
//! by `chaingen`'s wallet, no bitcoind wallet needed), indexes it, then follows the tip while a
//! new block with transactions is mined every 30 seconds, and prints how to query it.

use crate::chain::{Bitcoin, Coin};
use crate::chaingen::{Bitcoind, ChainBuilder};
use crate::config::Config;
use crate::daemon::Daemon;
use crate::store::Store;
use crate::sync::{Indexer, IndexerConfig};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SEED: u64 = 2026;
const TXS_PER_BLOCK: usize = 8;
const MINE_EVERY: Duration = Duration::from_secs(30);

pub fn run(config: &Config, blocks: u32, dir: Option<PathBuf>) -> Result<()> {
    let coin: &'static dyn Coin = &Bitcoin::REGTEST;
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("ferrum-demo-{}", std::process::id())),
    };
    let blocks = blocks.max(101);
    println!(
        "ferrum demo: starting a regtest bitcoind in {}",
        dir.join("bitcoind").display()
    );
    let bitcoind = Bitcoind::start_in(&dir.join("bitcoind"), &[]).context(
        "cannot start the test bitcoind (build it with scripts/build-bitcoind.sh, or set BITCOIND)",
    )?;
    let mut builder = ChainBuilder::new(SEED);
    let (_, height) = bitcoind.tip()?;
    if height == 0 {
        println!("ferrum demo: mining {blocks} blocks with transactions of every output type…");
        builder.mine_empty(&bitcoind, 101)?;
        for _ in 101..blocks {
            builder.mine_block_with(&bitcoind, TXS_PER_BLOCK)?;
        }
    } else {
        println!(
            "ferrum demo: reusing the chain of {height} blocks already in {}",
            dir.display()
        );
    }

    let db_dir = dir.join("index");
    let store = Arc::new(Store::open(&db_dir, coin, config.cache_mb)?);
    let daemon = Arc::new(Daemon::connect(bitcoind.daemon_settings(), coin)?);
    let cfg = IndexerConfig {
        cache_mb: config.cache_mb,
        reorg_limit: config.reorg_limit,
        threads: config.index_threads,
        poll_interval: Duration::from_secs(5),
        zmq_block_endpoint: None,
    };
    let indexer = Indexer::new(store, daemon, coin, cfg);
    let stop = super::install_stop_handler()?;
    let stats = indexer.sync_to_tip(&stop)?;
    println!(
        "ferrum demo: indexed {} blocks, {} transactions in {:.1}s",
        stats.blocks, stats.txs, stats.seconds
    );
    print_instructions(coin, &builder, &db_dir, &bitcoind);

    // Keep the chain moving, so that following the tip can be watched.
    let mut last_mined = Instant::now();
    let mut last_tip = None;
    while !stop.load(Ordering::Relaxed) {
        indexer.sync_to_tip(&stop)?;
        let tip = indexer.store().tip();
        if tip.tip_hash() != last_tip {
            last_tip = tip.tip_hash();
            if let (Some(h), Some(hash)) = (tip.height(), tip.tip_hash()) {
                tracing::info!("tip {h} {hash} ({} txs)", tip.tx_count());
            }
        }
        if last_mined.elapsed() >= MINE_EVERY {
            last_mined = Instant::now();
            builder.mine_block_with(&bitcoind, TXS_PER_BLOCK)?;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "ferrum demo: stopping bitcoind (the chain and index stay in {})",
        dir.display()
    );
    bitcoind.stop()?;
    Ok(())
}

fn print_instructions(
    coin: &dyn Coin,
    builder: &ChainBuilder,
    db_dir: &std::path::Path,
    d: &Bitcoind,
) {
    let exe = std::env::args().next().unwrap_or_else(|| "ferrum".into());
    println!();
    println!(
        "Ferrum is following the demo chain (a new block every {}s; Ctrl-C stops).",
        MINE_EVERY.as_secs()
    );
    println!(
        "bitcoind: RPC 127.0.0.1:{} (cookie {})",
        d.rpc_port(),
        d.cookie_file().display()
    );
    println!("Query an address of the demo wallet from another terminal:");
    for script in builder.scripts().iter().take(3) {
        if let Some(addr) = coin.script_to_address(script) {
            println!(
                "  {exe} --net regtest --db-dir {} query {addr}",
                db_dir.display()
            );
        }
    }
    let (tcp, _) = coin.default_electrum_ports();
    println!("Electrum wallet (once the Electrum protocol service is enabled):");
    println!("  electrum --regtest --oneserver --server 127.0.0.1:{tcp}:t");
    println!();
}
