//! `ferrum demo`: for someone without a node. Starts the test regtest bitcoind on a directory of
//! its own, mines a chain of a few hundred blocks with transactions of every output type (signed
//! by `chaingen`'s wallet, no bitcoind wallet needed), then serves it like `ferrum` does (index,
//! mempool, Electrum protocol on SERVICES) while a new block with transactions is mined every 30
//! seconds, and prints how to query it and how to point the Electrum wallet at it.

use crate::chain::{Bitcoin, Coin};
use crate::chaingen::{Bitcoind, ChainBuilder};
use crate::config::Config;
use anyhow::{Context, Result};
use std::path::PathBuf;
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
    let mut serve = config.clone();
    serve.coin = coin;
    serve.db_dir = db_dir.clone();
    serve.daemon = bitcoind.daemon_settings();
    print_instructions(coin, &builder, &serve, &bitcoind);

    // Keep the chain moving, with payments in the mempool between blocks, so that
    // notifications can be watched in a wallet.
    let stop = super::install_stop_handler()?;
    let miner = {
        let stop = stop.clone();
        let bitcoind = &bitcoind;
        move || -> Result<()> {
            let mut last_mined = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if last_mined.elapsed() >= MINE_EVERY {
                    last_mined = Instant::now();
                    builder.mine_block_with(bitcoind, TXS_PER_BLOCK)?;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Ok(())
        }
    };
    let served = std::thread::scope(|scope| {
        let mining = scope.spawn(miner);
        let served = super::serve(&serve, stop.clone());
        stop.store(true, Ordering::Relaxed);
        match mining.join() {
            Ok(Err(e)) => tracing::warn!("demo miner stopped: {e:#}"),
            Err(_) => tracing::warn!("demo miner panicked"),
            Ok(Ok(())) => {}
        }
        served
    });
    println!(
        "ferrum demo: stopping bitcoind (the chain and index stay in {})",
        dir.display()
    );
    bitcoind.stop()?;
    served
}

fn print_instructions(coin: &dyn Coin, builder: &ChainBuilder, serve: &Config, d: &Bitcoind) {
    let db_dir = &serve.db_dir;
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
    for s in serve
        .services
        .iter()
        .filter(|s| s.protocol == crate::config::ServiceProtocol::Tcp)
    {
        let host = if s.host.is_empty() {
            "127.0.0.1"
        } else {
            s.host.as_str()
        };
        println!("Electrum wallet (Ferrum serves {s} once indexed):");
        println!(
            "  electrum --regtest --oneserver --server {host}:{}:t",
            s.port
        );
    }
    println!();
}
