//! Shared helpers of the integration tests: the test data in `tests/data`, an in-process Ferrum indexer
//! against a real bitcoind, and an independent model of the expected index.
#![allow(dead_code)]

pub mod electrum;
pub mod haproxy;
pub mod model;
pub mod peers;
pub mod server;
pub mod socks;

use ferrum::chain::Bitcoin;
use ferrum::chaingen::Bitcoind;
use ferrum::daemon::Daemon;
use ferrum::daemon::settings::{BlockSourceMode, DaemonSettings};
use ferrum::query::Query;
use ferrum::store::Store;
use ferrum::sync::{Indexer, IndexerConfig};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub const COIN: &Bitcoin = &Bitcoin::REGTEST;

/// A file of the tests' data (`tests/data`, see its README), by its path under that directory.
pub fn data_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// The text of a file under `tests/data`; a `.gz` file is decompressed.
pub fn read_data(rel: &str) -> String {
    let path = data_path(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text
    } else {
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// The ElectrumX oracle replies recorded at protocol version `proto` (`1.4`, `1.6`, `1.7`).
pub fn oracle_text(proto: &str) -> String {
    read_data(&format!("regtest/oracle-{proto}.jsonl.gz"))
}

/// The regtest chain's final mempool: txid -> `{"entry": getrawmempool entry, "hex": raw tx}`.
pub fn fixture_mempool_json() -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(&read_data("regtest/chain/mempool.json")).expect("mempool.json is JSON")
}

/// What the regtest scenario did (wallet addresses, hot address, RBF txids...).
pub fn fixture_scenario() -> serde_json::Value {
    serde_json::from_str(&read_data("regtest/chain/scenario.json")).expect("scenario.json is JSON")
}

/// Opens (or creates) an index in `dir` following `d`.
pub fn indexer(d: &Bitcoind, dir: &Path, reorg_limit: u32) -> Indexer {
    indexer_from(d, dir, reorg_limit, BlockSourceMode::Auto)
}

/// An indexer whose blocks come from `source` (`--block-source`).
pub fn indexer_from(
    d: &Bitcoind,
    dir: &Path,
    reorg_limit: u32,
    source: BlockSourceMode,
) -> Indexer {
    let store = Arc::new(Store::open(dir, COIN, 64).expect("open store"));
    let settings = DaemonSettings {
        block_source: source,
        ..d.daemon_settings()
    };
    let daemon = Arc::new(Daemon::connect(settings, COIN).expect("connect"));
    let cfg = IndexerConfig {
        cache_mb: 64,
        reorg_limit,
        threads: 2,
        poll_interval: Duration::from_millis(200),
        zmq_block_endpoint: None,
        // Every index these tests build from bitcoind's spent outputs keeps silent payments
        // tweaks too ([`assert_tweaks_match`] checks them); raw blocks cannot.
        silent_payments: source != BlockSourceMode::Raw,
    };
    Indexer::new(store, daemon, COIN, cfg)
}

/// Syncs to the daemon's tip.
pub fn sync(ix: &Indexer) {
    let stop = AtomicBool::new(false);
    ix.sync_to_tip(&stop).expect("sync");
    // A long catch-up leaves its silent payments tweaks to be built after it.
    ix.build_tweaks(&stop).expect("tweaks");
}

pub fn query(ix: &Indexer) -> Query {
    Query::new(ix.store().clone())
}

/// The silent payments rows of `store` hold exactly, for every block of bitcoind's active
/// chain, the eligible transactions computed from `getblock <hash> 3` (each transaction with
/// the scripts its inputs spend), in block order. Returns how many eligible transactions.
pub fn assert_tweaks_match(d: &Bitcoind, store: &Store) -> usize {
    let state = store
        .sp_state()
        .expect("the index keeps silent payments tweaks");
    assert_eq!(state.pending, None, "the tweak index is complete");
    let (_, tip) = d.tip().unwrap();
    let rows = store.read().sp_blocks(store, 0, u32::MAX, true).unwrap();
    let mut rows = rows.into_iter().peekable();
    let mut eligible = 0;
    for h in 0..=tip {
        let (_, want) = daemon_tweaks(d, h);
        let got = match rows.peek() {
            Some((height, _)) if height.0 == h => rows.next().map(|r| r.1).unwrap_or_default(),
            _ => Vec::new(),
        };
        assert_eq!(got, want, "silent payments rows of block {h}");
        eligible += want.len();
    }
    assert!(rows.next().is_none(), "tweak rows above the tip");
    eligible
}

/// The eligible transactions of bitcoind's block at `h` (with their txids), computed from
/// `getblock <hash> 3`: each transaction with the scripts its inputs spend.
pub fn daemon_tweaks(
    d: &Bitcoind,
    h: u32,
) -> (Vec<String>, Vec<ferrum::silentpayments::block::TxTweak>) {
    use ferrum::silentpayments::block::tx_tweak;
    use ferrum::types::hex_to_bytes;
    let hash = d.rpc("getblockhash", json!([h])).unwrap();
    let block = d.rpc("getblock", json!([hash, 3])).unwrap();
    let mut txids = Vec::new();
    let mut out = Vec::new();
    for (i, tx) in block["tx"].as_array().unwrap().iter().enumerate().skip(1) {
        let raw = hex_to_bytes(tx["hex"].as_str().unwrap()).unwrap();
        let spent: Vec<Vec<u8>> = tx["vin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| hex_to_bytes(i["prevout"]["scriptPubKey"]["hex"].as_str().unwrap()).unwrap())
            .collect();
        let refs: Vec<&[u8]> = spent.iter().map(Vec::as_slice).collect();
        if let Some(mut t) = tx_tweak(&raw, &refs) {
            t.index = i as u32;
            txids.push(tx["txid"].as_str().unwrap().to_string());
            out.push(t);
        }
    }
    (txids, out)
}

/// The raw block source's `outpoints` family holds exactly the unspent outputs of `utxo`, each
/// with its script, funding tx, value and txid check bytes. Returns how many.
pub fn assert_outpoints_match_utxos(store: &Store) -> usize {
    use ferrum::store::keys::{self, OutPointId};
    use ferrum::store::{CF_OUTPOINTS, CF_UTXO};
    use ferrum::types::ScriptKey;
    assert!(store.keeps_outpoints(), "the index does not keep outpoints");
    let db = store.db();
    let mut utxos = 0;
    let mut k = Vec::new();
    for item in db.iterator_cf(store.cf(CF_UTXO), rocksdb::IteratorMode::Start) {
        let (key, value) = item.unwrap();
        let (o, n, v) = keys::decode_utxo(&key, &value).unwrap();
        let txid = store.txid_at(n, None).unwrap().unwrap();
        keys::outpoint_key_into(&mut k, &o);
        let row = db
            .get_cf(store.cf(CF_OUTPOINTS), &k)
            .unwrap()
            .unwrap_or_else(|| panic!("no outpoints row for tx {} output {}", n.0, o.vout));
        let (check, info) = keys::decode_outpoint_value(&row).unwrap();
        assert_eq!(check, OutPointId::new(&txid, o.vout).check());
        assert_eq!(info.script, ScriptKey::from_slice(&key).unwrap());
        assert_eq!((info.funding, info.value), (n, v));
        utxos += 1;
    }
    let rows = db
        .iterator_cf(store.cf(CF_OUTPOINTS), rocksdb::IteratorMode::Start)
        .count();
    assert_eq!(
        rows, utxos,
        "outpoints rows for outputs that are not unspent"
    );
    utxos
}

/// Blocks of a regtest chain file (`blocks.txt.gz`, `stale.txt`): (height, hash, raw hex).
pub fn fixture_blocks(file: &str) -> Vec<(u32, String, String)> {
    read_data(&format!("regtest/chain/{file}"))
        .lines()
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
    let m = fixture_mempool_json();
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
    let blocks = fixture_blocks("blocks.txt.gz");
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

/// A chain with every output type, spent again in later blocks (some inside one block).
pub fn every_type_chain(d: &Bitcoind, seed: u64) -> ferrum::chaingen::ChainBuilder {
    use ferrum::chaingen::OutputType;
    let mut b = ferrum::chaingen::ChainBuilder::new(seed);
    b.mine_empty(d, 101).unwrap();
    let outputs: Vec<_> = OutputType::ALL
        .iter()
        .map(|t| (*t, bitcoin::Amount::from_sat(200_000)))
        .collect();
    let tx = b.tx_paying(&outputs).unwrap();
    b.mine_txs(d, vec![tx]).unwrap();
    for _ in 0..12 {
        b.mine_block_with(d, 12).unwrap();
    }
    b
}

/// SIGSTOP/SIGCONT for bitcoind: a daemon that does not answer, for as long as the test wants.
/// `kill` returns before every thread has stopped (a thread inside a system call stops when it
/// leaves it; seen in CI: a request sent right after SIGSTOP was answered), so pausing waits
/// until each thread of the process shows as stopped.
pub fn pause(d: &ferrum::chaingen::Bitcoind, on: bool) {
    let pid = d.pid().unwrap();
    let sig = if on { libc::SIGSTOP } else { libc::SIGCONT };
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
    if !on {
        return;
    }
    let all_stopped = || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        tasks.flatten().all(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            matches!(state, Some('T' | 't'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !all_stopped() {
        assert!(
            std::time::Instant::now() < deadline,
            "bitcoind did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
