//! Ferrum against an independent Electrum client: the BDK `electrum-client` crate (protocol
//! 1.4-1.6, its own framing, parsing and notification queues) over plain TCP.
//!
//! One flow on one regtest chain: features, headers, a payment broadcast through the server and
//! seen in the mempool (history with fee, balance, UTXOs, status hash), then mined (header and
//! status notifications, a merkle proof checked against the header), then reorganised twice:
//! a same-height replacement of the tip (the tip hash changes, the height does not: a server
//! that watches only the height misses it) and a deeper reorg through `invalidateblock`, both
//! sending the payment back to the mempool. Every expected value is computed here from the
//! transactions and blocks themselves, never from the server.

mod common;

use bitcoin::hashes::{Hash, sha256, sha256d};
use bitcoin::{Amount, BlockHash, ScriptBuf, Transaction, Txid};
use common::server::{FerrumServer, wait_for_height};
use electrum_client::raw_client::{ElectrumPlaintextStream, RawClient};
use electrum_client::{ElectrumApi, ScriptStatus};
use ferrum::chain::Coin;
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

type Client = RawClient<ElectrumPlaintextStream>;

/// How long a notification may take to arrive: only there to turn a miss into a failure.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

fn connect(port: u16) -> Client {
    RawClient::new(("127.0.0.1", port), Some(Duration::from_secs(60)), None)
        .unwrap_or_else(|e| panic!("electrum-client cannot connect to ferrum on {port}: {e:?}"))
}

fn block_hash(v: Value) -> BlockHash {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a block hash: {v}"))
}

fn tip(d: &Bitcoind) -> (BlockHash, usize) {
    let (h, n) = d.tip().unwrap();
    (h, n as usize)
}

fn address(script: &ScriptBuf) -> String {
    ferrum::chain::Bitcoin::REGTEST
        .script_to_address(script)
        .expect("address of script")
}

/// The Electrum status of a history: sha256 of the concatenated `txid:height:` entries.
fn status_of(entries: &[(Txid, i64)]) -> [u8; 32] {
    let s: String = entries.iter().map(|(t, h)| format!("{t}:{h}:")).collect();
    sha256::Hash::hash(s.as_bytes()).to_byte_array()
}

/// The fee of `tx`: its inputs' values (read from bitcoind's blocks) minus its outputs.
fn fee_of(d: &Bitcoind, tx: &Transaction) -> u64 {
    let mut inputs = 0u64;
    for input in &tx.input {
        let op = input.previous_output;
        // Called before the broadcast: the inputs are still confirmed unspent outputs.
        let out = d.rpc("gettxout", json!([op.txid.to_string(), op.vout, false]));
        let value = match out {
            Ok(v) if !v.is_null() => Amount::from_btc(v["value"].as_f64().unwrap())
                .unwrap()
                .to_sat(),
            _ => panic!(
                "input {op} of {} is not an unspent output",
                tx.compute_txid()
            ),
        };
        inputs += value;
    }
    let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    inputs - outputs
}

/// Polls (a ping makes the client read what the server sent) until `done` holds for the
/// header notifications and script statuses popped so far.
fn wait_notifications(
    c: &Client,
    script: &ScriptBuf,
    what: &str,
    mut done: impl FnMut(&[(usize, BlockHash)], &[ScriptStatus]) -> bool,
) -> (Vec<(usize, BlockHash)>, Vec<ScriptStatus>) {
    let deadline = Instant::now() + NOTIFY_TIMEOUT;
    let mut headers = Vec::new();
    let mut statuses = Vec::new();
    loop {
        c.ping().expect("ping");
        while let Some(h) = c.block_headers_pop().expect("block_headers_pop") {
            headers.push((h.height, h.header.block_hash()));
        }
        while let Some(s) = c.script_pop(script).expect("script_pop") {
            statuses.push(s);
        }
        if done(&headers, &statuses) {
            return (headers, statuses);
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not notified within {NOTIFY_TIMEOUT:?}; headers {headers:?}, statuses {:?}",
            statuses.iter().map(|s| hex(&s[..])).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hex(b: &[u8]) -> String {
    ferrum::types::bytes_to_hex(b)
}

/// Header at `height` and script status both as expected, through notifications.
fn wait_tip_and_status(
    c: &Client,
    script: &ScriptBuf,
    what: &str,
    tip: (BlockHash, usize),
    status: [u8; 32],
) {
    let (headers, statuses) = wait_notifications(c, script, what, |hs, ss| {
        hs.last() == Some(&(tip.1, tip.0)) && ss.last().map(|s| **s) == Some(status)
    });
    // Nothing after the final state: the last notification of each kind is the current one.
    assert_eq!(headers.last(), Some(&(tip.1, tip.0)), "{what}");
    assert_eq!(statuses.last().map(|s| **s), Some(status), "{what}");
}

/// History, balance and UTXOs of the paid script when the payment is in the mempool.
fn check_unconfirmed(
    c: &Client,
    script: &ScriptBuf,
    txid: Txid,
    vout: usize,
    amount: u64,
    fee: u64,
) {
    let h = c.script_get_history(script).expect("get_history");
    assert_eq!(h.len(), 1, "history {h:?}");
    assert_eq!((h[0].tx_hash, h[0].height, h[0].fee), (txid, 0, Some(fee)));
    let b = c.script_get_balance(script).expect("get_balance");
    assert_eq!((b.confirmed, b.unconfirmed), (0, amount as i64));
    let u = c.script_list_unspent(script).expect("list_unspent");
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(
        (u[0].tx_hash, u[0].tx_pos, u[0].height, u[0].value),
        (txid, vout, 0, amount)
    );
}

fn check_confirmed(
    c: &Client,
    script: &ScriptBuf,
    txid: Txid,
    vout: usize,
    amount: u64,
    height: usize,
) {
    let h = c.script_get_history(script).expect("get_history");
    assert_eq!(h.len(), 1, "history {h:?}");
    assert_eq!(
        (h[0].tx_hash, h[0].height, h[0].fee),
        (txid, height as i32, None)
    );
    let b = c.script_get_balance(script).expect("get_balance");
    assert_eq!((b.confirmed, b.unconfirmed), (amount, 0));
    let u = c.script_list_unspent(script).expect("list_unspent");
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(
        (u[0].tx_hash, u[0].tx_pos, u[0].height, u[0].value),
        (txid, vout, height, amount)
    );
    // The merkle proof, checked by hand and by the crate, against the header the server gives.
    let proof = c.transaction_get_merkle(&txid, height).expect("get_merkle");
    let header = c.block_header(height).expect("block_header");
    assert_eq!(proof.block_height, height);
    let mut cur = txid.to_raw_hash();
    let mut pos = proof.pos;
    for branch in &proof.merkle {
        let mut b = *branch;
        b.reverse(); // the server sends display (reversed) hex
        let mut buf = Vec::with_capacity(64);
        if pos.is_multiple_of(2) {
            buf.extend_from_slice(cur.as_byte_array());
            buf.extend_from_slice(&b);
        } else {
            buf.extend_from_slice(&b);
            buf.extend_from_slice(cur.as_byte_array());
        }
        cur = sha256d::Hash::hash(&buf);
        pos /= 2;
    }
    assert_eq!(
        cur,
        header.merkle_root.to_raw_hash(),
        "merkle proof of {txid}"
    );
    assert!(electrum_client::utils::validate_merkle_proof(
        &txid,
        &header.merkle_root,
        &proof
    ));
}

#[test]
fn electrum_client_crate_follows_payments_blocks_and_reorgs() {
    let d = Bitcoind::start_with(&["-rest"]).expect("start bitcoind");
    let mut b = ChainBuilder::new(4242);
    b.mine_empty(&d, 101).unwrap();
    let paid = b.new_script(OutputType::P2wpkh);
    let other = b.new_script(OutputType::P2pkh);
    let mine_to = address(&b.new_script(OutputType::P2wpkh));
    let server = FerrumServer::start(&d, &[("DAEMON_POLL_INTERVAL_MEMPOOL", "100")]);
    let (t0, h0) = tip(&d);
    wait_for_height(server.port(), h0 as u64, &t0.to_string());
    let c = connect(server.port());

    // --- Features and headers.
    let f = c.server_features().expect("server.features");
    let genesis = block_hash(d.rpc("getblockhash", json!([0])).unwrap());
    assert_eq!(hex(&f.genesis_hash), genesis.to_string());
    assert_eq!(f.hash_function.as_deref(), Some("sha256"));
    assert_eq!(f.protocol_min, "1.4");
    assert!(
        f.protocol_max.as_str() >= "1.6",
        "protocol_max {}",
        f.protocol_max
    );
    let sub = c.block_headers_subscribe().expect("headers.subscribe");
    assert_eq!((sub.height, sub.header.block_hash()), (h0, t0));
    let hs = c.block_headers(h0 - 2, 5).expect("block.headers");
    assert_eq!(hs.count, 3, "headers past the tip are not returned");
    for (i, h) in hs.headers.iter().enumerate() {
        let want = block_hash(d.rpc("getblockhash", json!([h0 - 2 + i])).unwrap());
        assert_eq!(h.block_hash(), want, "header {}", h0 - 2 + i);
        assert_eq!(c.block_header(h0 - 2 + i).unwrap().block_hash(), want);
    }
    let fee = c.estimate_fee(2, None).expect("estimatefee");
    let smart = d.rpc("estimatesmartfee", json!([2])).unwrap();
    assert_eq!(
        fee,
        smart.get("feerate").and_then(Value::as_f64).unwrap_or(-1.0)
    );

    // --- A payment, broadcast through the server, seen in the mempool.
    assert_eq!(
        c.script_subscribe(&paid).expect("subscribe"),
        None,
        "no history yet"
    );
    let amount = 123_456_789u64;
    let tx = b
        .tx_to(&[(paid.clone(), Amount::from_sat(amount))])
        .unwrap();
    let txid = tx.compute_txid();
    let vout = tx
        .output
        .iter()
        .position(|o| o.script_pubkey == paid)
        .unwrap();
    let tx_fee = fee_of(&d, &tx);
    assert_eq!(c.transaction_broadcast(&tx).expect("broadcast"), txid);
    let in_mempool = status_of(&[(txid, 0)]);
    wait_notifications(&c, &paid, "payment in the mempool", |_, ss| {
        ss.last().map(|s| **s) == Some(in_mempool)
    });
    check_unconfirmed(&c, &paid, txid, vout, amount, tx_fee);
    assert_eq!(c.transaction_get(&txid).expect("transaction.get"), tx);
    let batch = c
        .batch_script_get_history([paid.as_script(), other.as_script()])
        .expect("batch get_history");
    assert_eq!(batch.len(), 2);
    assert_eq!(
        batch[0]
            .iter()
            .map(|h| (h.tx_hash, h.height))
            .collect::<Vec<_>>(),
        [(txid, 0)]
    );
    assert!(batch[1].is_empty(), "{:?}", batch[1]);

    // --- Mined: a header notification and the new status.
    let block = b.mine_txs(&d, vec![tx.clone()]).unwrap();
    let h1 = h0 + 1;
    assert_eq!(tip(&d), (block.block_hash(), h1));
    wait_tip_and_status(
        &c,
        &paid,
        "payment mined",
        (block.block_hash(), h1),
        status_of(&[(txid, h1 as i64)]),
    );
    check_confirmed(&c, &paid, txid, vout, amount, h1);

    // --- Same-height reorg: a sibling of the tip without the payment, made the tip with
    // preciousblock (one switch in bitcoind, so the server never sees a lower height).
    let sibling = b
        .build_block(&d, block.header.prev_blockhash, Vec::new())
        .unwrap();
    b.submit(&d, &sibling).unwrap();
    d.rpc("preciousblock", json!([sibling.block_hash().to_string()]))
        .unwrap();
    assert_eq!(
        tip(&d),
        (sibling.block_hash(), h1),
        "preciousblock did not switch the tip"
    );
    wait_tip_and_status(
        &c,
        &paid,
        "same-height reorg",
        (sibling.block_hash(), h1),
        in_mempool,
    );
    check_unconfirmed(&c, &paid, txid, vout, amount, tx_fee);

    // --- Confirmed again, then a deeper reorg through invalidateblock: two empty blocks replace
    // the one holding the payment, which goes back to the mempool. The first block 102 (with
    // the payment) is invalidated too, so bitcoind cannot fall back to that equal-work branch.
    d.rpc("invalidateblock", json!([block.block_hash().to_string()]))
        .unwrap();
    assert_eq!(tip(&d), (sibling.block_hash(), h1));
    let r = d
        .rpc("generateblock", json!([mine_to, [txid.to_string()]]))
        .unwrap();
    let again = block_hash(r["hash"].clone());
    let h2 = h1 + 1;
    wait_tip_and_status(
        &c,
        &paid,
        "payment mined again",
        (again, h2),
        status_of(&[(txid, h2 as i64)]),
    );
    check_confirmed(&c, &paid, txid, vout, amount, h2);
    d.rpc("invalidateblock", json!([again.to_string()]))
        .unwrap();
    d.rpc("generateblock", json!([mine_to, []])).unwrap();
    let r = d.rpc("generateblock", json!([mine_to, []])).unwrap();
    let new_tip = block_hash(r["hash"].clone());
    assert_eq!(tip(&d), (new_tip, h2 + 1));
    let pool = d.rpc("getrawmempool", json!([])).unwrap();
    assert_eq!(
        pool,
        json!([txid.to_string()]),
        "bitcoind put the payment back"
    );
    wait_tip_and_status(
        &c,
        &paid,
        "invalidateblock reorg",
        (new_tip, h2 + 1),
        in_mempool,
    );
    check_unconfirmed(&c, &paid, txid, vout, amount, tx_fee);
    // The other script never had history.
    assert!(c.batch_script_get_history([other.as_script()]).unwrap()[0].is_empty());
    drop(c);
    let mut server = server;
    assert!(server.is_running(), "ferrum died");
}
