//! Integration tests of the daemon client (`ferrum::daemon`) against a real regtest bitcoind
//! started by `ferrum::chaingen::Bitcoind`: REST and JSON-RPC block sources (byte-identical),
//! spent outputs, heights above the tip, stale blocks, failover, wrong-network detection, the
//! `waitfornewblock` long poll, and re-reading the cookie after bitcoind restarts.

use bitcoin::consensus::{Decodable, encode};
use bitcoin::hashes::Hash;
use bitcoin::{
    Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, VarInt, Witness,
    absolute, transaction,
};
use ferrum::chain::{Bitcoin, Coin};
use ferrum::chaingen::Bitcoind;
use ferrum::daemon::settings::{DaemonSettings, RestMode};
use ferrum::daemon::{Daemon, DaemonError};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const COIN: &Bitcoin = &Bitcoin::REGTEST;

/// Logs of the client under test, shown for failing tests (`RUST_LOG=ferrum=debug`).
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn start(args: &[&str]) -> Bitcoind {
    init_logs();
    Bitcoind::start_with(args).unwrap_or_else(|e| panic!("cannot start bitcoind: {e:#}"))
}

fn connect(settings: DaemonSettings) -> Daemon {
    Daemon::connect(settings, COIN).unwrap_or_else(|e| panic!("connect: {e}"))
}

/// The block as bitcoind's own `getblock <hash> 0` gives it.
fn rpc_block(d: &Bitcoind, hash: &BlockHash) -> Vec<u8> {
    let hex = d
        .rpc("getblock", json!([hash.to_string(), 0]))
        .expect("getblock");
    ferrum::types::hex_to_bytes(hex.as_str().expect("hex string")).expect("hex")
}

/// A transaction spending the first output of the coinbase of `block` (paid by
/// `Bitcoind::mine` to P2WSH(OP_TRUE)) back to the same script.
fn spend_coinbase(d: &Bitcoind, block: &BlockHash) -> (Transaction, TxOut) {
    let raw = rpc_block(d, block);
    let block: bitcoin::Block = encode::deserialize(&raw).expect("block");
    let coinbase = &block.txdata[0];
    let prevout = coinbase.output[0].clone();
    assert_eq!(prevout.script_pubkey, Bitcoind::mine_script());
    let tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: coinbase.compute_txid(),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[vec![bitcoin::opcodes::OP_TRUE.to_u8()]]),
        }],
        output: vec![TxOut {
            value: prevout.value - Amount::from_sat(10_000),
            script_pubkey: Bitcoind::mine_script(),
        }],
    };
    (tx, prevout)
}

/// Decodes a `/rest/spenttxouts` body: per transaction (coinbase first, always empty), the
/// outputs its inputs spend.
fn decode_spent_outputs(body: &[u8]) -> Vec<Vec<TxOut>> {
    let mut r = body;
    let n = VarInt::consensus_decode(&mut r).expect("tx count").0;
    let txs = (0..n)
        .map(|_| Vec::<TxOut>::consensus_decode(&mut r).expect("prevouts"))
        .collect();
    assert!(r.is_empty(), "{} trailing bytes", r.len());
    txs
}

#[test]
fn rest_blocks_hashes_headers_and_spent_outputs() {
    let d = start(&[]);
    let mined = d.mine(101).expect("mine");
    let (tx, spent) = spend_coinbase(&d, &mined[0]);
    d.rpc("sendrawtransaction", json!([encode::serialize_hex(&tx)]))
        .expect("send");
    let block102 = d.mine(1).expect("mine")[0];

    let daemon = connect(d.daemon_settings());
    assert!(daemon.rest_enabled());
    assert!(daemon.spent_outputs_enabled());
    assert_eq!(
        daemon.current_endpoint(),
        format!("127.0.0.1:{}", d.rpc_port())
    );

    let info = daemon.blockchain_info().expect("info");
    assert_eq!(info.chain, "regtest");
    assert_eq!((info.blocks, info.headers), (102, 102));
    assert_eq!(info.best_block_hash, block102);
    assert!(!info.pruned);
    assert_eq!(daemon.best_block_hash().expect("best"), block102);

    assert_eq!(
        daemon.block_hash(0).expect("hash 0"),
        Some(COIN.genesis_hash())
    );
    assert_eq!(daemon.block_hash(102).expect("hash 102"), Some(block102));
    assert_eq!(daemon.block_hash(103).expect("above tip"), None);
    assert_eq!(daemon.block_hash(u32::MAX).expect("far above tip"), None);
    let hashes = daemon.block_hashes(1..103).expect("hashes");
    assert_eq!(hashes[..101], mined[..]);
    assert_eq!(hashes[101], block102);
    assert!(daemon.block_hashes(5..5).expect("empty range").is_empty());
    assert!(matches!(
        daemon.block_hashes(100..104),
        Err(DaemonError::Rpc { code: -8, .. })
    ));

    let header = daemon
        .header_info(&block102)
        .expect("header")
        .expect("known");
    assert_eq!(
        (header.hash, header.height, header.confirmations),
        (block102, 102, 1)
    );
    assert_eq!(header.prev, Some(mined[100]));
    let genesis = daemon
        .header_info(&COIN.genesis_hash())
        .expect("header")
        .expect("known");
    assert_eq!((genesis.height, genesis.prev), (0, None));
    let unknown = BlockHash::from_byte_array([7; 32]);
    assert_eq!(daemon.header_info(&unknown).expect("unknown header"), None);

    // REST blocks are byte-identical to JSON-RPC's.
    for h in [COIN.genesis_hash(), mined[0], block102] {
        assert_eq!(daemon.block(&h).expect("block"), rpc_block(&d, &h), "{h}");
    }
    let raw: bitcoin::Block =
        encode::deserialize(&daemon.block(&block102).expect("block")).expect("decode");
    assert_eq!(raw.txdata[1].compute_txid(), tx.compute_txid());
    // An unknown block is bitcoind's RPC error (REST's 404 falls back to getblock).
    assert!(matches!(
        daemon.block(&unknown),
        Err(DaemonError::Rpc { code: -5, .. })
    ));

    // Spent outputs: the coinbase-only genesis, and block 102 that spends block 1's coinbase.
    let body = daemon
        .spent_outputs(&COIN.genesis_hash())
        .expect("rest")
        .expect("genesis undo");
    assert_eq!(decode_spent_outputs(&body), vec![Vec::<TxOut>::new()]);
    let body = daemon
        .spent_outputs(&block102)
        .expect("rest")
        .expect("undo");
    assert_eq!(decode_spent_outputs(&body), vec![vec![], vec![spent]]);
    assert_eq!(daemon.spent_outputs(&unknown).expect("unknown"), None);

    // A stale block (reorged out) still comes back, and its header is off the active chain.
    d.rpc("invalidateblock", json!([block102.to_string()]))
        .expect("invalidate");
    // Mine the replacement without the spend (it went back to the mempool), so it differs.
    let replacement: Vec<BlockHash> = (0..2)
        .map(|_| {
            let v = d
                .rpc("generateblock", json!(["raw(51)", []]))
                .expect("generateblock");
            v["hash"]
                .as_str()
                .and_then(|h| h.parse().ok())
                .expect("hash")
        })
        .collect();
    assert_ne!(replacement[0], block102);
    assert_eq!(
        daemon.block(&block102).expect("stale block"),
        rpc_block(&d, &block102)
    );
    assert!(
        daemon
            .spent_outputs(&block102)
            .expect("stale undo")
            .is_some()
    );
    let stale = daemon
        .header_info(&block102)
        .expect("header")
        .expect("known");
    assert_eq!(stale.confirmations, -1);
    assert_eq!(daemon.best_block_hash().expect("best"), replacement[1]);

    // Generic calls and batches.
    assert_eq!(
        daemon.call("getblockcount", json!([])).expect("count"),
        json!(103)
    );
    let err = daemon
        .call("nosuchmethod", json!([]))
        .expect_err("unknown method");
    assert_eq!(err.rpc_code(), Some(-32601));
    let items = daemon
        .batch("getblockhash", vec![json!([0]), json!([999]), json!([1])])
        .expect("batch");
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0].as_ref().ok(),
        Some(&json!(COIN.genesis_hash().to_string()))
    );
    assert_eq!(
        items[1].as_ref().err().and_then(DaemonError::rpc_code),
        Some(-8)
    );
    assert_eq!(items[2].as_ref().ok(), Some(&json!(mined[0].to_string())));
}

#[test]
fn json_rpc_fallback_without_rest() {
    let d = start(&["-rest=0"]);
    let mined = d.mine(3).expect("mine");
    let daemon = connect(d.daemon_settings());
    assert!(!daemon.rest_enabled());
    assert!(!daemon.spent_outputs_enabled());
    for h in [COIN.genesis_hash(), mined[0], mined[2]] {
        assert_eq!(daemon.block(&h).expect("block"), rpc_block(&d, &h));
        assert_eq!(daemon.spent_outputs(&h).expect("spent"), None);
    }
    assert!(matches!(
        daemon.block(&BlockHash::from_byte_array([1; 32])),
        Err(DaemonError::Rpc { code: -5, .. })
    ));
}

#[test]
fn rest_off_in_settings_uses_json_rpc_even_when_rest_answers() {
    let d = start(&[]);
    let mined = d.mine(2).expect("mine");
    let with_rest = connect(d.daemon_settings());
    let without = connect(DaemonSettings {
        rest: RestMode::Off,
        ..d.daemon_settings()
    });
    assert!(with_rest.rest_enabled() && !without.rest_enabled());
    assert_eq!(without.spent_outputs(&mined[1]).expect("spent"), None);
    assert_eq!(
        with_rest.block(&mined[1]).expect("rest"),
        without.block(&mined[1]).expect("rpc")
    );
}

#[test]
fn fails_over_from_a_closed_port() {
    let d = start(&[]);
    d.mine(1).expect("mine");
    let closed = ferrum::chaingen::free_port().expect("free port");
    let mut settings = d.daemon_settings();
    let mut dead = settings.endpoints[0].clone();
    dead.port = closed;
    settings.endpoints.insert(0, dead);
    let daemon = connect(settings);
    assert_eq!(
        daemon.current_endpoint(),
        format!("127.0.0.1:{}", d.rpc_port())
    );
    assert_eq!(daemon.block_hash(1).expect("hash").map(|_| ()), Some(()));
    assert!(daemon.rest_enabled());
}

#[test]
fn detects_the_wrong_network() {
    let d = start(&[]);
    let err = Daemon::connect(d.daemon_settings(), &Bitcoin::MAINNET).expect_err("wrong network");
    assert!(matches!(err, DaemonError::WrongNetwork { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("regtest") && msg.contains("mainnet"), "{msg}");
    assert!(msg.contains(&COIN.genesis_hash().to_string()), "{msg}");
}

#[test]
fn wait_for_new_block_wakes_on_a_block_and_times_out_otherwise() {
    let d = Arc::new(start(&[]));
    let tip = d.mine(1).expect("mine")[0];
    let daemon = Arc::new(connect(d.daemon_settings()));

    // Nothing happens: returns the same tip after the timeout.
    let same = daemon
        .wait_for_new_block(&tip, Duration::from_millis(300))
        .expect("wait");
    assert_eq!(same, tip);

    // A stale `current` returns the daemon's tip at once.
    let stale = BlockHash::from_byte_array([3; 32]);
    assert_eq!(
        daemon
            .wait_for_new_block(&stale, Duration::from_secs(60))
            .expect("wait"),
        tip
    );

    // Another thread waits while this one keeps using the daemon, then mines.
    let waiter = {
        let daemon = Arc::clone(&daemon);
        std::thread::spawn(move || daemon.wait_for_new_block(&tip, Duration::from_secs(120)))
    };
    for _ in 0..20 {
        assert_eq!(
            daemon.best_block_hash().expect("best"),
            tip,
            "other calls are not blocked"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let new = d.mine(1).expect("mine")[0];
    let woke = waiter.join().expect("waiter thread").expect("wait");
    assert_eq!(woke, new);
}

#[test]
fn rereads_the_cookie_after_bitcoind_restarts() {
    let mut d = start(&[]);
    let mined = d.mine(1).expect("mine");
    let daemon = connect(d.daemon_settings());
    assert_eq!(daemon.block_hash(1).expect("hash"), Some(mined[0]));
    let before = std::fs::read_to_string(d.cookie_file()).expect("cookie");
    d.restart().expect("restart");
    let after = std::fs::read_to_string(d.cookie_file()).expect("cookie");
    assert_ne!(before, after, "bitcoind writes a new cookie at each start");
    // The pooled connection is dead and the old credentials are refused: both recovered.
    assert_eq!(
        daemon.block_hash(1).expect("hash after restart"),
        Some(mined[0])
    );
    assert_eq!(daemon.best_block_hash().expect("best"), mined[0]);
}

#[test]
fn concurrent_callers_share_one_client() {
    let d = start(&[]);
    let mined = d.mine(20).expect("mine");
    let daemon = Arc::new(connect(d.daemon_settings()));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let daemon = Arc::clone(&daemon);
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| {
                        let hashes = daemon.block_hashes(1..21)?;
                        daemon.block(&hashes[19])?;
                        Ok(hashes)
                    })
                    .collect::<Result<Vec<_>, DaemonError>>()
            })
        })
        .collect();
    for t in threads {
        for hashes in t.join().expect("thread").expect("calls") {
            assert_eq!(hashes, mined);
        }
    }
}

#[test]
fn bad_credentials_are_an_auth_error() {
    let d = start(&[]);
    let mut settings = d.daemon_settings();
    settings.endpoints[0].auth = ferrum::daemon::settings::DaemonAuth::UserPass {
        user: "nobody".into(),
        password: "wrong".into(),
    };
    let err = Daemon::connect(settings, COIN).expect_err("401");
    assert!(matches!(err, DaemonError::Auth { .. }), "{err:?}");
    let _: Value = d
        .rpc("getblockcount", json!([]))
        .expect("bitcoind still fine");
}
