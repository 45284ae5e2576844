//! Silent payments end to end on a real regtest bitcoind: a chain whose payments to three
//! receivers (labels, several outputs to one receiver, every eligible input type, an ineligible
//! input mixed in) are made by the chain generator's sender (`chaingen::silent`, checked against
//! the independent `silentpayments` crate in `tests/sp_chain.rs`), one of them spent later;
//! then Ferrum with `FERRUM_SILENT_PAYMENTS=on`:
//!
//! (a) a client-side scanner that uses only `blockchain.tweaks.subscribe` finds exactly each
//!     receiver's outputs, and with cut-through not the spent one;
//! (b) Frigate-style `blockchain.silentpayments.subscribe` finds the same transactions, then
//!     a payment in a new block (live), loses one reorged out of the chain (double-spent on the
//!     new branch), and sees a mempool payment at height 0, not sent again once it confirms;
//!     `unsubscribe`, limits and bad input.

mod common;

use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::{Amount, BlockHash, OutPoint, Transaction, Txid};
use common::server::{Client, FerrumServer, base_env, wait_for_height};
use ferrum::chaingen::silent::{SpOutput, SpPayment, SpReceiver, fund, pay_silent, spend_payment};
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use ferrum::types::{bytes_to_hex, hex_to_bytes};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn to(receiver: usize, label: Option<u32>, value: u64) -> SpOutput {
    SpOutput {
        receiver,
        label,
        value: Amount::from_sat(value),
    }
}

fn send(d: &Bitcoind, tx: &Transaction) {
    let hex = bitcoin::consensus::encode::serialize_hex(tx);
    d.rpc("sendrawtransaction", json!([hex])).unwrap();
}

/// What a client-side scanner finds with the tweak API alone: (txid, vout) per receiver.
fn client_side_scan(
    c: &mut Client,
    rs: &[SpReceiver],
    tip: u32,
    historical: bool,
) -> Vec<BTreeSet<(String, u32)>> {
    let r = c.request("blockchain.tweaks.subscribe", json!([1, tip, historical]));
    assert!(r.get("result").is_some(), "{r}");
    let receivers: Vec<_> = rs.iter().map(|r| r.receiver().unwrap()).collect();
    let mut found = vec![BTreeSet::new(); rs.len()];
    let mut done = false;
    while let Some(n) = c.next_notification(Duration::from_millis(300)) {
        let p = &n["params"][0];
        if p.get("message").is_some() {
            done = true;
            continue;
        }
        for txs in p.as_object().unwrap().values() {
            for (txid, t) in txs.as_object().unwrap() {
                let tweak =
                    PublicKey::from_slice(&hex_to_bytes(t["tweak"].as_str().unwrap()).unwrap())
                        .unwrap();
                let outs: Vec<(u32, [u8; 32])> = t["output_pubkeys"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(vout, o)| {
                        let key: [u8; 32] = hex_to_bytes(o[0].as_str().unwrap())
                            .unwrap()
                            .try_into()
                            .unwrap();
                        (vout.parse().unwrap(), key)
                    })
                    .collect();
                let keys: Vec<[u8; 32]> = outs.iter().map(|o| o.1).collect();
                for (i, recv) in receivers.iter().enumerate() {
                    for f in recv.scan_keys(&tweak, &keys) {
                        let vout = outs.iter().find(|o| o.1 == f.output.serialize()).unwrap().0;
                        found[i].insert((txid.clone(), vout));
                    }
                }
            }
        }
    }
    assert!(done);
    found
}

/// A Frigate-style subscription on its own session.
struct Sub {
    c: Client,
    sub: Value,
}

impl Sub {
    fn start(port: u16, r: &SpReceiver, start: Value) -> (Sub, Value) {
        let mut c = Client::negotiated(port, "1.4");
        let spend = r.spend.public_key(&Secp256k1::new()).serialize();
        let reply = c.request(
            "blockchain.silentpayments.subscribe",
            json!([
                bytes_to_hex(&r.scan.secret_bytes()),
                bytes_to_hex(&spend),
                start,
                r.labels
            ]),
        );
        let sub = reply["result"].clone();
        (Sub { c, sub }, reply)
    }

    /// Entries of notifications until one with progress 1.0: (height, txid, tweak).
    fn until_complete(&mut self) -> Vec<(u64, String, String)> {
        let mut out = Vec::new();
        let mut last = -1.0;
        loop {
            let n = self
                .c
                .next_notification(Duration::from_secs(60))
                .expect("a scan notification");
            assert_eq!(n["method"], "blockchain.silentpayments.subscribe", "{n}");
            assert_eq!(
                n["params"][0], self.sub,
                "the subscription object, as returned"
            );
            let progress = n["params"][1].as_f64().unwrap();
            assert!(progress >= last, "progress goes up: {n}");
            last = progress;
            let history = n["params"][2].as_array().unwrap();
            assert!(history.len() <= 100);
            out.extend(history.iter().map(entry));
            if progress >= 1.0 {
                return out;
            }
        }
    }

    /// Entries of the notifications that come within `wait` (live updates).
    fn live(&mut self, wait: Duration) -> Vec<(u64, String, String)> {
        let mut out = Vec::new();
        while let Some(n) = self.c.next_notification(wait) {
            assert_eq!(n["params"][1], 1.0, "{n}");
            out.extend(n["params"][2].as_array().unwrap().iter().map(entry));
        }
        out
    }
}

fn entry(e: &Value) -> (u64, String, String) {
    (
        e["height"].as_u64().unwrap(),
        e["tx_hash"].as_str().unwrap().to_string(),
        e["tweak_key"].as_str().unwrap().to_string(),
    )
}

fn height_of(d: &Bitcoind, txid: &Txid) -> u64 {
    let hash = d
        .rpc("getrawtransaction", json!([txid.to_string(), true]))
        .unwrap()["blockhash"]
        .as_str()
        .unwrap()
        .to_string();
    d.rpc("getblockheader", json!([hash])).unwrap()["height"]
        .as_u64()
        .unwrap()
}

#[test]
fn receivers_find_exactly_their_payments_client_side_and_server_side() {
    use OutputType::*;
    let d = Bitcoind::start_with(&["-txindex=1"]).unwrap();
    let mut b = ChainBuilder::new(4242);
    b.mine_empty(&d, 101).unwrap();
    let rs = vec![
        SpReceiver::from_seed(21, &[]),
        SpReceiver::from_seed(22, &[7, 1000]),
        SpReceiver::from_seed(23, &[5]),
    ];
    let kinds = [P2tr, P2wpkh, P2shP2wpkh, P2pkh, P2wshMultisig, P2wpkh];
    let (fund_tx, ops) = fund(&mut b, &kinds, Amount::from_sat(1_000_000)).unwrap();
    b.mine_txs(&d, vec![fund_tx]).unwrap();
    let mut payments: Vec<SpPayment> = Vec::new();
    let pay = |b: &mut ChainBuilder, inputs: &[OutPoint], outs: &[SpOutput]| {
        pay_silent(b, &rs, inputs, outs, &[]).unwrap()
    };
    let a = pay(
        &mut b,
        &ops[0..1],
        &[
            to(0, None, 100_000),
            to(0, None, 110_000),
            to(1, Some(7), 120_000),
        ],
    );
    let bb = pay(
        &mut b,
        &ops[1..2],
        &[to(1, None, 130_000), to(2, Some(5), 140_000)],
    );
    let c = pay(
        &mut b,
        &ops[2..5],
        &[to(0, None, 150_000), to(2, None, 160_000)],
    );
    b.mine_txs(&d, vec![a.tx.clone(), bb.tx.clone(), c.tx.clone()])
        .unwrap();
    let dd = pay(&mut b, &ops[5..6], &[to(1, Some(1000), 170_000)]);
    for m in [&a, &bb, &c, &dd] {
        payments.extend(m.payments.clone());
    }
    b.mine_txs(&d, vec![dd.tx.clone()]).unwrap();
    for _ in 0..2 {
        b.mine_block_with(&d, 10).unwrap();
    }
    // One payment is spent later.
    let spent = a.payments[1];
    let spend = spend_payment(&spent, b.new_script(P2wpkh), Amount::from_sat(500)).unwrap();
    b.mine_txs(&d, vec![spend]).unwrap();
    let expected: Vec<BTreeSet<(String, u32)>> = (0..rs.len())
        .map(|i| {
            payments
                .iter()
                .filter(|p| p.receiver == i)
                .map(|p| (p.txid.to_string(), p.vout))
                .collect()
        })
        .collect();
    assert_eq!(expected.iter().map(BTreeSet::len).sum::<usize>(), 8);

    let mut env = base_env();
    env.push(("FERRUM_SILENT_PAYMENTS", "on"));
    env.push(("FERRUM_SP_MAX_SUBSCRIPTIONS", "2"));
    env.push(("FERRUM_SP_MAX_LABELS", "3"));
    let server = FerrumServer::start(&d, &env);
    let (hash, tip) = d.tip().unwrap();
    wait_for_height(server.port(), tip as u64, &hash.to_string());

    // (a) Client-side, with the tweak API only.
    let mut c = Client::negotiated(server.port(), "1.4");
    let found = client_side_scan(&mut c, &rs, tip, true);
    assert_eq!(found, expected, "historical: every payment");
    let unspent = client_side_scan(&mut c, &rs, tip, false);
    for (i, want) in expected.iter().enumerate() {
        let mut want = want.clone();
        if i == spent.receiver {
            assert!(want.remove(&(spent.txid.to_string(), spent.vout)));
        }
        assert_eq!(unspent[i], want, "cut-through, receiver {i}");
    }

    // (b) Server-side: each receiver's payment transactions, with their tweaks.
    let tweak_of = |payments: &[SpPayment], txid: &Txid| -> String {
        let p = payments.iter().find(|p| p.txid == *txid).unwrap();
        bytes_to_hex(&p.tweak.serialize())
    };
    let mut subs = Vec::new();
    for (i, r) in rs.iter().enumerate() {
        let (mut s, reply) = Sub::start(server.port(), r, json!(0));
        let mut labels = r.labels.clone();
        labels.push(0);
        labels.sort();
        assert_eq!(
            reply["result"],
            json!({"address": r.address().encode(), "labels": labels, "start_height": 0}),
            "{reply}"
        );
        let got: BTreeSet<(u64, String, String)> = s.until_complete().into_iter().collect();
        let want: BTreeSet<(u64, String, String)> = expected[i]
            .iter()
            .map(|(txid, _)| {
                let t: Txid = txid.parse().unwrap();
                (height_of(&d, &t), txid.clone(), tweak_of(&payments, &t))
            })
            .collect();
        assert_eq!(got, want, "server-side, receiver {i}");
        subs.push(s);
    }
    // A start height after some payments: only the later ones.
    {
        let h = height_of(&d, &dd.tx.compute_txid());
        let (mut s, reply) = Sub::start(server.port(), &rs[1], json!(h));
        assert_eq!(reply["result"]["start_height"], h);
        let got: Vec<String> = s.until_complete().into_iter().map(|e| e.1).collect();
        assert_eq!(got, vec![dd.tx.compute_txid().to_string()]);
    }

    // Live: a payment in a new block reaches its receiver only.
    // (Funded now: the random blocks above may spend any output of the builder.)
    let (fund_tx, later) = fund(&mut b, &[P2pkh, P2tr], Amount::from_sat(1_000_000)).unwrap();
    b.mine_txs(&d, vec![fund_tx]).unwrap();
    let e = pay(&mut b, &later[0..1], &[to(2, None, 180_000)]);
    payments.extend(e.payments.clone());
    let e_block = b.mine_txs(&d, vec![e.tx.clone()]).unwrap();
    let e_height = d.tip().unwrap().1;
    let got = subs[2].live(Duration::from_secs(5));
    assert_eq!(
        got,
        vec![(
            e_height as u64,
            e.tx.compute_txid().to_string(),
            tweak_of(&payments, &e.tx.compute_txid())
        )]
    );
    assert!(subs[0].live(Duration::from_millis(500)).is_empty());

    // A reorg: a longer branch on E's parent double-spends E's input. E is gone.
    b.rewind_to(e_height - 1);
    let parent: BlockHash = e_block.header.prev_blockhash;
    let elsewhere = b.new_script(P2wpkh);
    let double = b
        .tx_spending(&later[0..1], &[(elsewhere, Amount::from_sat(900_000))])
        .unwrap();
    let first = b.build_block(&d, parent, vec![double]).unwrap();
    b.submit(&d, &first).unwrap();
    let second = b.build_block(&d, first.block_hash(), vec![]).unwrap();
    b.submit(&d, &second).unwrap();
    let (hash, tip) = d.tip().unwrap();
    assert_eq!(hash, second.block_hash());
    wait_for_height(server.port(), tip as u64, &hash.to_string());
    // The rescan from the fork finds nothing for receiver 2 (E left the chain).
    let after: Vec<_> = subs[2].live(Duration::from_secs(3));
    assert!(
        after.iter().all(|x| x.1 != e.tx.compute_txid().to_string()),
        "{after:?}"
    );
    let (mut fresh, _) = Sub::start(server.port(), &rs[2], json!(0));
    let got: BTreeSet<String> = fresh.until_complete().into_iter().map(|e| e.1).collect();
    let want: BTreeSet<String> = expected[2].iter().map(|e| e.0.clone()).collect();
    assert_eq!(got, want, "after the reorg: E is not a payment any more");
    drop(fresh);
    // (A new session: `c`'s subscription has been sending the live blocks meanwhile.)
    drop(c);
    let mut c = Client::negotiated(server.port(), "1.4");
    let again = client_side_scan(&mut c, &rs, tip, true);
    assert_eq!(again, expected, "client-side after the reorg");

    // The mempool: a payment at height 0, then not again once it confirms.
    let m = pay(&mut b, &later[1..2], &[to(0, None, 190_000)]);
    payments.extend(m.payments.clone());
    let m_txid = m.tx.compute_txid();
    send(&d, &m.tx);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while seen.is_empty() && Instant::now() < deadline {
        seen = subs[0].live(Duration::from_millis(500));
    }
    assert_eq!(
        seen,
        vec![(0, m_txid.to_string(), tweak_of(&payments, &m_txid))]
    );
    b.mine_txs(&d, vec![m.tx.clone()]).unwrap();
    let (hash, tip) = d.tip().unwrap();
    wait_for_height(server.port(), tip as u64, &hash.to_string());
    let later = subs[0].live(Duration::from_secs(2));
    assert!(
        later.is_empty(),
        "a mempool payment is not sent again: {later:?}"
    );
    // A new subscription lists it confirmed.
    let (mut fresh, _) = Sub::start(server.port(), &rs[0], json!(tip));
    assert_eq!(
        fresh.until_complete(),
        vec![(tip as u64, m_txid.to_string(), tweak_of(&payments, &m_txid))]
    );

    // Unsubscribe returns the address; a second time is an error.
    let keys = |r: &SpReceiver| {
        json!([
            bytes_to_hex(&r.scan.secret_bytes()),
            bytes_to_hex(&r.spend.public_key(&Secp256k1::new()).serialize())
        ])
    };
    let s = &mut subs[1].c;
    let r = s.request("blockchain.silentpayments.unsubscribe", keys(&rs[1]));
    assert_eq!(r["result"], rs[1].address().encode(), "{r}");
    let r = s.request("blockchain.silentpayments.unsubscribe", keys(&rs[1]));
    assert_eq!(r["error"]["code"], 1, "{r}");

    // Limits and bad input: error 1 with the reason; the session goes on.
    let scan = bytes_to_hex(&rs[0].scan.secret_bytes());
    let spend = bytes_to_hex(&rs[0].spend.public_key(&Secp256k1::new()).serialize());
    let mut k = Client::negotiated(server.port(), "1.4");
    let mut bad = BTreeMap::new();
    bad.insert("valid secp256k1 scalar", json!(["ff".repeat(32), spend, 0]));
    bad.insert(
        "not a compressed point",
        json!([scan, format!("02{}", "ff".repeat(32)), 0]),
    );
    bad.insert("must be 32 bytes", json!(["00", spend, 0]));
    bad.insert("beyond the tip", json!([scan, spend, tip + 10]));
    bad.insert("FROM-TO", json!([scan, spend, "12"]));
    bad.insert(
        "exceeds tip",
        json!([scan, spend, format!("1-{}", tip + 1)]),
    );
    bad.insert("exceeds 3 entries", json!([scan, spend, 0, [1, 2, 3, 4]]));
    bad.insert("0 <= label < 2^31", json!([scan, spend, 0, [-1]]));
    for (what, params) in bad {
        let r = k.request("blockchain.silentpayments.subscribe", params);
        assert_eq!(r["error"]["code"], 1, "{what}: {r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(msg.contains(what), "{what}: {msg}");
        assert!(!msg.contains(&scan), "the scan key is never echoed");
    }
    // Two subscriptions per session here; the third is refused, a re-subscription is not.
    let mut two = Client::negotiated(server.port(), "1.4");
    for r in &rs[..2] {
        let spend = bytes_to_hex(&r.spend.public_key(&Secp256k1::new()).serialize());
        let reply = two.request(
            "blockchain.silentpayments.subscribe",
            json!([bytes_to_hex(&r.scan.secret_bytes()), spend, tip]),
        );
        assert!(reply.get("result").is_some(), "{reply}");
    }
    let spend2 = bytes_to_hex(&rs[2].spend.public_key(&Secp256k1::new()).serialize());
    let r = two.request(
        "blockchain.silentpayments.subscribe",
        json!([bytes_to_hex(&rs[2].scan.secret_bytes()), spend2, tip]),
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("subscription limit"),
        "{r}"
    );
    // Re-subscribing never narrows: the earlier start stays.
    let spend0 = bytes_to_hex(&rs[0].spend.public_key(&Secp256k1::new()).serialize());
    let r = two.request(
        "blockchain.silentpayments.subscribe",
        json!([bytes_to_hex(&rs[0].scan.secret_bytes()), spend0, 0]),
    );
    assert_eq!(r["result"]["start_height"], 0, "{r}");
    let r = two.request(
        "blockchain.silentpayments.subscribe",
        json!([bytes_to_hex(&rs[0].scan.secret_bytes()), spend0, tip]),
    );
    assert_eq!(r["result"]["start_height"], 0, "{r}");
    assert!(k.request("server.ping", json!([])).get("result").is_some());
    // The scan key appears nowhere in the log.
    assert!(!server.stderr().contains(&scan));
}
