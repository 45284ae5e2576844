//! Notifications at protocol 1.7: scriptpubkey statuses and outpoint statuses follow a spend
//! into the mempool, a child of an unconfirmed parent (height -1), and the block that confirms
//! the parent — whose notification already carries the mempool update that follows it (the
//! child moves from -1 to 0 in the same status), never an intermediate state; a script only the
//! child touches is notified too, though the block does not touch it.

mod common;

use bitcoin::hashes::{Hash, sha256};
use bitcoin::{Amount, OutPoint, Transaction, Txid};
use common::server::{Client, FerrumServer, base_env};
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn status(entries: &[(Txid, i64)]) -> Value {
    let s: String = entries.iter().map(|(t, h)| format!("{t}:{h}:")).collect();
    json!(ferrum::types::bytes_to_hex(
        &sha256::Hash::hash(s.as_bytes()).to_byte_array()
    ))
}

fn send(d: &Bitcoind, tx: &Transaction) {
    let hex = bitcoin::consensus::encode::serialize_hex(tx);
    d.rpc("sendrawtransaction", json!([hex])).unwrap();
}

/// Notifications of `method` until one equals `want` (others are recorded); panics after a
/// minute. Server pings (1.7 noise) are skipped.
fn wait_for(c: &mut Client, method: &str, want: &Value) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(n) = c.next_notification(Duration::from_secs(1)) else {
            continue;
        };
        if n["method"] != json!(method) {
            continue;
        }
        seen.push(n["params"].clone());
        if n["params"] == *want {
            return seen;
        }
    }
    panic!("no {method} notification {want} within a minute; got {seen:?}");
}

#[test]
fn scriptpubkey_and_outpoint_notifications_follow_mempool_and_blocks() {
    let d = Bitcoind::start_with(&["-rest"]).unwrap();
    let mut b = ChainBuilder::new(77);
    b.mine_empty(&d, 101).unwrap();
    let s = b.new_script(OutputType::P2wpkh);
    let t = b.new_script(OutputType::P2tr);
    let spk = ferrum::types::bytes_to_hex(s.as_bytes());
    let f = b.tx_to(&[(s.clone(), Amount::from_sat(50_000))]).unwrap();
    let f_id = f.compute_txid();
    b.mine_txs(&d, vec![f]).unwrap();
    let server = FerrumServer::start(&d, &base_env());
    let mut c = Client::negotiated(server.port(), "1.7");

    let r = c.request("blockchain.scriptpubkey.subscribe", json!([spk]));
    assert_eq!(r["result"], status(&[(f_id, 102)]), "{r}");
    let r = c.request(
        "blockchain.outpoint.subscribe",
        json!([f_id.to_string(), 0, ""]),
    );
    assert_eq!(r["result"], json!({"funder_height": 102}), "{r}");
    let r = c.request("blockchain.headers.subscribe", json!([]));
    assert_eq!(r["result"]["height"], json!(102), "{r}");

    // A spend of f:0 enters the mempool.
    let p = b
        .tx_spending(
            &[OutPoint::new(f_id, 0)],
            &[(t.clone(), Amount::from_sat(40_000))],
        )
        .unwrap();
    let p_id = p.compute_txid();
    send(&d, &p);
    wait_for(
        &mut c,
        "blockchain.scriptpubkey.subscribe",
        &json!([spk, status(&[(f_id, 102), (p_id, 0)])]),
    );
    wait_for(
        &mut c,
        "blockchain.outpoint.subscribe",
        &json!([f_id.to_string(), 0, {"funder_height": 102, "spender_txhash": p_id.to_string(), "spender_height": 0}]),
    );

    // A child of the unconfirmed spend pays s again: height -1, after the height-0 entry.
    let u = b.new_script(OutputType::P2wpkh);
    let u_spk = ferrum::types::bytes_to_hex(u.as_bytes());
    let q = b
        .tx_spending(
            &[OutPoint::new(p_id, 0)],
            &[
                (s.clone(), Amount::from_sat(30_000)),
                (u.clone(), Amount::from_sat(5_000)),
            ],
        )
        .unwrap();
    let q_id = q.compute_txid();
    send(&d, &q);
    wait_for(
        &mut c,
        "blockchain.scriptpubkey.subscribe",
        &json!([spk, status(&[(f_id, 102), (p_id, 0), (q_id, -1)])]),
    );
    // A wallet notified of q asks for it next: Ferrum answers with the bytes its mempool update
    // fetched, even while bitcoind does not answer at all (paused).
    common::pause(&d, true);
    let id = c.send("blockchain.transaction.get", json!([q_id.to_string()]));
    let r = c.wait_reply_timeout(&id, Duration::from_secs(10));
    common::pause(&d, false);
    let r = r.expect("transaction.get of a new mempool tx waited for bitcoind");
    assert_eq!(
        r["result"],
        json!(bitcoin::consensus::encode::serialize_hex(&q)),
        "{r}"
    );
    let r = c.request("blockchain.scriptpubkey.get_mempool", json!([spk]));
    let heights: Vec<&Value> = r["result"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["height"])
        .collect();
    assert_eq!(heights, [&json!(0), &json!(-1)], "{r}");
    // A script only the child touches: the block below does not touch it, yet the child's
    // height changes there.
    let mut c2 = Client::negotiated(server.port(), "1.7");
    let r = c2.request("blockchain.scriptpubkey.subscribe", json!([u_spk]));
    assert_eq!(r["result"], status(&[(q_id, -1)]), "{r}");

    // A block confirms p only: the first status notified after it is already the final one
    // (p at 103, q now at height 0), and the outpoint's spender is at 103.
    b.mine_txs(&d, vec![p]).unwrap();
    let final_status = json!([spk, status(&[(f_id, 102), (p_id, 103), (q_id, 0)])]);
    let seen = wait_for(&mut c, "blockchain.scriptpubkey.subscribe", &final_status);
    assert_eq!(
        seen,
        vec![final_status],
        "an intermediate status was notified"
    );
    wait_for(
        &mut c2,
        "blockchain.scriptpubkey.subscribe",
        &json!([u_spk, status(&[(q_id, 0)])]),
    );
    wait_for(
        &mut c,
        "blockchain.outpoint.subscribe",
        &json!([f_id.to_string(), 0, {"funder_height": 102, "spender_txhash": p_id.to_string(), "spender_height": 103}]),
    );
    let r = c.request("blockchain.scriptpubkey.get_balance", json!([spk]));
    assert_eq!(
        r["result"],
        json!({"confirmed": 0, "unconfirmed": 30_000}),
        "{r}"
    );
    let r = c.request(
        "blockchain.outpoint.unsubscribe",
        json!([f_id.to_string(), 0]),
    );
    assert_eq!(r["result"], json!(true), "{r}");
}

/// Long histories are served from a cache that must follow every change: a block paying the
/// script, a block not touching it, and a reorg removing the payment.
#[test]
fn cached_long_histories_follow_blocks_and_reorgs() {
    let d = Bitcoind::start_with(&["-rest"]).unwrap();
    let mut b = ChainBuilder::new(78);
    b.mine_empty(&d, 101).unwrap();
    let s = b.new_script(OutputType::P2wpkh);
    let sh = ferrum::types::scripthash_hex(&s);
    let txs: Vec<Transaction> = (0..80)
        .map(|_| b.tx_to(&[(s.clone(), Amount::from_sat(20_000))]).unwrap())
        .collect();
    b.mine_txs(&d, txs).unwrap();
    let server = FerrumServer::start(&d, &base_env());
    let mut c = Client::negotiated(server.port(), "1.4");
    let len = |c: &mut Client| {
        let r = c.request("blockchain.scripthash.get_history", json!([sh]));
        r["result"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_else(|| panic!("{r}"))
    };
    assert_eq!(len(&mut c), 80);
    assert_eq!(len(&mut c), 80, "served again (from the cache)");
    c.request("blockchain.headers.subscribe", json!([]));

    let wait_tip = |c: &mut Client, height: i64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = c.request("blockchain.headers.subscribe", json!([]));
            if r["result"]["height"] == json!(height) {
                return;
            }
            assert!(Instant::now() < deadline, "tip {height} not reached: {r}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // A block that does not touch s: the cached history stays right.
    b.mine_empty(&d, 1).unwrap();
    wait_tip(&mut c, 103);
    assert_eq!(len(&mut c), 80);
    // A block paying s again.
    let pay = b.tx_to(&[(s.clone(), Amount::from_sat(20_000))]).unwrap();
    let block = b.mine_txs(&d, vec![pay]).unwrap();
    wait_tip(&mut c, 104);
    assert_eq!(len(&mut c), 81, "the new payment is in the history");
    // That block is reorged out by two empty ones: the payment goes back to the mempool.
    d.rpc("invalidateblock", json!([block.block_hash().to_string()]))
        .unwrap();
    // generateblock with no transactions: generatetoaddress would mine the payment again.
    for _ in 0..2 {
        let empty: [&str; 0] = [];
        d.rpc(
            "generateblock",
            json!(["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", empty]),
        )
        .unwrap();
    }
    wait_tip(&mut c, 105);
    let r = c.request("blockchain.scripthash.get_history", json!([sh]));
    let h = r["result"].as_array().unwrap();
    let confirmed = h.iter().filter(|e| e["height"].as_i64() > Some(0)).count();
    assert_eq!(confirmed, 80, "{r}");
}

/// Verbose `transaction.get` is bitcoind's own verbose output, exactly as a txindex node gives
/// it without a block hash (what ElectrumX passes through), for a confirmed and a mempool tx.
#[test]
fn verbose_transactions_equal_bitcoind_with_txindex() {
    let d = Bitcoind::start_with(&["-rest", "-txindex"]).unwrap();
    let mut b = ChainBuilder::new(79);
    b.mine_empty(&d, 101).unwrap();
    let s = b.new_script(OutputType::P2tr);
    let confirmed = b.tx_to(&[(s.clone(), Amount::from_sat(30_000))]).unwrap();
    b.mine_txs(&d, vec![confirmed.clone()]).unwrap();
    let unconfirmed = b.tx_to(&[(s.clone(), Amount::from_sat(20_000))]).unwrap();
    send(&d, &unconfirmed);
    let server = FerrumServer::start(&d, &base_env());
    let mut c = Client::negotiated(server.port(), "1.4");
    for tx in [&confirmed, &unconfirmed] {
        let txid = tx.compute_txid().to_string();
        let expected = d.rpc("getrawtransaction", json!([txid, 1])).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = c.request("blockchain.transaction.get", json!([txid, true]));
            let mut got = r["result"].clone();
            let mut want = expected.clone();
            // Tip-dependent, not server-dependent (the fixture README says the same).
            for v in [&mut got, &mut want] {
                if let Value::Object(o) = v {
                    o.remove("confirmations");
                }
            }
            if got == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{txid}: got {got}, bitcoind says {want}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
