//! Shared helpers of the integration tests: the shared fixtures, an in-process Ferrum indexer
//! against a real bitcoind, and an independent model of the expected index.
#![allow(dead_code)]

pub mod model;
pub mod server;

use ferrum::chain::Bitcoin;
use ferrum::chaingen::Bitcoind;
use ferrum::daemon::Daemon;
use ferrum::query::Query;
use ferrum::store::Store;
use ferrum::sync::{Indexer, IndexerConfig};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub const COIN: &Bitcoin = &Bitcoin::REGTEST;

/// `../shared` beside the repository (CI puts a copy there), or `FERRUM_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var("FERRUM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// Opens (or creates) an index in `dir` following `d`.
pub fn indexer(d: &Bitcoind, dir: &Path, reorg_limit: u32) -> Indexer {
    let store = Arc::new(Store::open(dir, COIN, 64).expect("open store"));
    let daemon = Arc::new(Daemon::connect(d.daemon_settings(), COIN).expect("connect"));
    let cfg = IndexerConfig {
        cache_mb: 64,
        reorg_limit,
        threads: 2,
        poll_interval: Duration::from_millis(200),
        zmq_block_endpoint: None,
    };
    Indexer::new(store, daemon, COIN, cfg)
}

/// Syncs to the daemon's tip.
pub fn sync(ix: &Indexer) {
    ix.sync_to_tip(&AtomicBool::new(false)).expect("sync");
}

pub fn query(ix: &Indexer) -> Query {
    Query::new(ix.store().clone())
}

/// Blocks of a fixture file: (height, hash, raw hex).
pub fn fixture_blocks(file: &str) -> Vec<(u32, String, String)> {
    let path = shared_dir().join("fixtures/regtest/chain").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut p = l.split_whitespace();
            let h = p.next().unwrap().parse().unwrap();
            (
                h,
                p.next().unwrap().to_string(),
                p.next().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn submit(d: &Bitcoind, hex: &str) {
    let r = d.rpc("submitblock", json!([hex])).expect("submitblock");
    assert!(
        r.is_null() || r == "duplicate" || r == "inconclusive",
        "submitblock: {r}"
    );
}

/// Submits the fixture mempool, parents first.
pub fn submit_fixture_mempool(d: &Bitcoind) {
    let path = shared_dir().join("fixtures/regtest/chain/mempool.json");
    let m: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut done = std::collections::HashSet::new();
    while done.len() < m.len() {
        let before = done.len();
        for (txid, v) in &m {
            if done.contains(txid) {
                continue;
            }
            let deps = v["entry"]["depends"].as_array().unwrap();
            if deps.iter().all(|p| done.contains(p.as_str().unwrap())) {
                match d.rpc("sendrawtransaction", json!([v["hex"]])) {
                    Ok(_) => {}
                    Err(e) if e.to_string().contains("already") => {}
                    Err(e) => panic!("sendrawtransaction {txid}: {e}"),
                }
                done.insert(txid.clone());
            }
        }
        assert!(done.len() > before, "mempool dependency cycle");
    }
}

/// The fixture's reorg variant, first half: the active chain below the first stale block, then
/// the stale blocks (they become the tip). Returns (active chain, stale blocks) for the rest.
#[allow(clippy::type_complexity)]
pub fn submit_up_to_stale_tip(
    d: &Bitcoind,
) -> (Vec<(u32, String, String)>, Vec<(u32, String, String)>) {
    let blocks = fixture_blocks("blocks.txt");
    let stale = fixture_blocks("stale.txt");
    let first_stale = stale[0].0;
    for (h, _, hex) in &blocks {
        if *h > 0 && *h < first_stale {
            submit(d, hex);
        }
    }
    for (_, _, hex) in &stale {
        submit(d, hex);
    }
    (blocks, stale)
}
