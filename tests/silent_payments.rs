//! The silent payments tweak index and its client-side API against a real regtest bitcoind:
//! every block's tweaks as Ferrum serves them equal those computed independently from
//! bitcoind's own `getblock <hash> 3` (each tx with the scripts it spends), through
//! `blockchain.block.tweaks` and `blockchain.tweaks.subscribe` (Cake Wallet's shape, its
//! filters and its live blocks); turning the option on for an index that has blocks builds
//! only the tweaks (same answers); a reorg replaces them exactly; turning it off deletes them;
//! bad input gets error 1.

mod common;

use common::server::{Client, FerrumServer, base_env, wait_for_height};
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use ferrum::types::bytes_to_hex;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// An eligible tx as bitcoind's data implies: txid → (tweak hex, vout → (x-only hex, value)).
type Expected = BTreeMap<String, (String, BTreeMap<u32, (String, u64)>)>;

/// Per height, the eligible txs of bitcoind's block.
fn expected(d: &Bitcoind, from: u32, to: u32) -> BTreeMap<u32, Expected> {
    (from..=to)
        .map(|h| {
            let (txids, tweaks) = common::daemon_tweaks(d, h);
            let txs = txids
                .into_iter()
                .zip(tweaks)
                .map(|(txid, t)| {
                    let outs = t
                        .outputs
                        .iter()
                        .map(|o| (o.vout, (bytes_to_hex(&o.key), o.value)))
                        .collect();
                    (txid, (bytes_to_hex(&t.tweak), outs))
                })
                .collect();
            (h, txs)
        })
        .collect()
}

/// A block notification of `blockchain.tweaks.subscribe` as [`Expected`].
fn parse_block(v: &Map<String, Value>) -> (u32, Expected) {
    assert_eq!(v.len(), 1, "one height per message: {v:?}");
    let (h, txs) = v.iter().next().unwrap();
    let mut out = Expected::new();
    for (txid, t) in txs.as_object().unwrap() {
        let outs = t["output_pubkeys"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(vout, o)| {
                (
                    vout.parse().unwrap(),
                    (o[0].as_str().unwrap().to_string(), o[1].as_u64().unwrap()),
                )
            })
            .collect();
        out.insert(
            txid.clone(),
            (t["tweak"].as_str().unwrap().to_string(), outs),
        );
    }
    (h.parse().unwrap(), out)
}

/// Streams `count` blocks from `height`: the blocks, and the "done" result.
fn stream(
    c: &mut Client,
    height: u32,
    count: u32,
    extra: &[Value],
) -> (BTreeMap<u32, Expected>, Value) {
    let mut params = vec![json!(height), json!(count)];
    params.extend_from_slice(extra);
    let r = c.request("blockchain.tweaks.subscribe", Value::Array(params));
    let mut blocks = BTreeMap::new();
    let mut done = false;
    while let Some(n) = c.next_notification(Duration::from_millis(200)) {
        assert_eq!(n["method"], "blockchain.tweaks.subscribe");
        let p = &n["params"][0];
        if p.get("message").is_some() {
            assert_eq!(p["message"], "done");
            done = true;
            continue;
        }
        assert!(!done, "a block after done, before any new block: {n}");
        let (h, txs) = parse_block(p.as_object().unwrap());
        blocks.insert(h, txs);
    }
    assert!(done, "no done message; reply {r}");
    (blocks, r)
}

/// Streams `from..=to` as Cake Wallet does: again from the next height after each "done".
fn stream_all(c: &mut Client, from: u32, to: u32, extra: &[Value]) -> BTreeMap<u32, Expected> {
    let mut all = BTreeMap::new();
    let mut next = from;
    while next <= to {
        let (blocks, _) = stream(c, next, to - next + 1, extra);
        let last = *blocks.keys().last().expect("at least one block");
        assert_eq!(*blocks.keys().next().unwrap(), next);
        all.extend(blocks);
        next = last + 1;
    }
    all
}

fn block_tweaks(c: &mut Client, h: u32) -> Vec<String> {
    let r = c.request("blockchain.block.tweaks", json!([h]));
    r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("block.tweaks {h}: {r}"))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

fn tweaks_of(e: &Expected, order: &[String]) -> Vec<String> {
    order
        .iter()
        .filter_map(|t| e.get(t).map(|x| x.0.clone()))
        .collect()
}

/// The txids of a block in block order (for `block.tweaks`, which keeps it).
fn block_txids(d: &Bitcoind, h: u32) -> Vec<String> {
    let hash = d.rpc("getblockhash", json!([h])).unwrap();
    let b = d.rpc("getblock", json!([hash, 1])).unwrap();
    b["tx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Waits until the tweaks of `tip` are served (they are built between follow rounds).
fn wait_built(c: &mut Client, tip: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = c.request("blockchain.block.tweaks", json!([tip]));
        if r.get("result").is_some() {
            return;
        }
        let text = r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(text.contains("still being built"), "{r}");
        assert!(std::time::Instant::now() < deadline, "never built: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn env(sp: &str) -> Vec<(&'static str, &str)> {
    let mut e = base_env();
    e.push(("FERRUM_SILENT_PAYMENTS", sp));
    e.push(("FERRUM_SP_MAX_BLOCKS", "50"));
    e
}

#[test]
fn tweaks_equal_bitcoind_s_through_both_apis_upgrade_reorg_and_off() {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(352);
    b.mine_empty(&d, 101).unwrap();
    for _ in 0..12 {
        b.mine_block_with(&d, 25).unwrap();
    }
    // Past a day of blocks: a first sync with tweaks on indexes the rest first and builds
    // the tweaks after it.
    b.mine_empty(&d, 40).unwrap();
    b.mine_block_with(&d, 25).unwrap();
    let (hash, tip) = d.tip().unwrap();
    let want = expected(&d, 0, tip);
    let eligible: usize = want.values().map(|b| b.len()).sum();
    assert!(eligible >= 20, "the chain has {eligible} eligible txs");

    // An index made without silent payments, then the option turned on: the tweaks are
    // built beside it.
    let mut server = FerrumServer::start(&d, &env("off"));
    wait_for_height(server.port(), tip as u64, &hash.to_string());
    {
        let mut c = Client::negotiated(server.port(), "1.4");
        let f = c.request("server.features", json!([]));
        assert!(f["result"].get("silent_payments").is_none(), "{f}");
        let r = c.request("blockchain.block.tweaks", json!([5]));
        assert_eq!(r["error"]["code"], 1, "{r}");
    }
    server.set_env("FERRUM_SILENT_PAYMENTS", "on");
    server.restart();
    let stderr = server.stderr();
    assert!(
        stderr.contains("silent payments: indexing the tweaks"),
        "{stderr}"
    );
    let mut c = Client::negotiated(server.port(), "1.4");
    wait_built(&mut c, tip);
    let f = c.request("server.features", json!([]));
    assert_eq!(f["result"]["silent_payments"], json!([0]), "{f}");
    // A new index with tweaks on from the start: the same answers.
    {
        let fresh = FerrumServer::start(&d, &env("on"));
        assert!(
            fresh.stderr().contains("built"),
            "{}",
            fresh.stderr_tail(20)
        );
        let mut f = Client::negotiated(fresh.port(), "1.4");
        wait_built(&mut f, tip);
        for h in (0..=tip).step_by(3) {
            let order = block_txids(&d, h);
            assert_eq!(
                block_tweaks(&mut f, h),
                tweaks_of(&want[&h], &order),
                "fresh, height {h}"
            );
        }
    }
    for h in 0..=tip {
        let order = block_txids(&d, h);
        assert_eq!(
            block_tweaks(&mut c, h),
            tweaks_of(&want[&h], &order),
            "height {h}"
        );
    }

    // The stream (historical: every output, spent ones with their spender).
    let (_, done) = stream(&mut c, 1, 1, &[json!(true)]);
    let got = stream_all(&mut c, 1, tip, &[json!(true)]);
    assert_eq!(
        done["result"],
        json!({"jsonrpc": "2.0", "method": "blockchain.tweaks.subscribe", "params": [{"message": "done"}]})
    );
    for h in 1..=tip {
        assert_eq!(got.get(&h), Some(&want[&h]), "stream, height {h}");
    }
    // Cut-through (the default): spent taproot outputs are dropped, per bitcoind's UTXO set.
    let cut = stream_all(&mut c, 1, tip, &[]);
    let mut dropped = 0;
    for (h, txs) in &want {
        if *h == 0 {
            continue;
        }
        let mut left = Expected::new();
        for (txid, (tweak, outs)) in txs {
            let unspent: BTreeMap<u32, (String, u64)> = outs
                .iter()
                .filter(|(vout, _)| {
                    !d.rpc("gettxout", json!([txid, vout, false]))
                        .unwrap()
                        .is_null()
                })
                .map(|(v, o)| (*v, o.clone()))
                .collect();
            dropped += outs.len() - unspent.len();
            if !unspent.is_empty() {
                left.insert(txid.clone(), (tweak.clone(), unspent));
            }
        }
        assert_eq!(cut.get(h), Some(&left), "cut-through, height {h}");
    }
    assert!(dropped > 0, "some taproot output of the chain is spent");
    // Dust: outputs below the limit go, and txs left without any.
    let limit = 50_000_000;
    let dusted = stream_all(&mut c, 1, tip, &[json!(true), json!(limit)]);
    for (h, txs) in &want {
        if *h == 0 {
            continue;
        }
        let mut left = Expected::new();
        for (txid, (tweak, outs)) in txs {
            let big: BTreeMap<_, _> = outs
                .iter()
                .filter(|(_, o)| o.1 >= limit)
                .map(|(v, o)| (*v, o.clone()))
                .collect();
            if !big.is_empty() {
                left.insert(txid.clone(), (tweak.clone(), big));
            }
        }
        assert_eq!(dusted.get(h), Some(&left), "dust, height {h}");
    }

    // A count beyond FERRUM_SP_MAX_BLOCKS (here 50) is cut there; the rest is asked for after.
    let (cut_at, _) = stream(&mut c, 1, 100_000, &[json!(true)]);
    assert_eq!(
        cut_at.keys().copied().collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    let (rest, _) = stream(&mut c, 51, 100_000, &[json!(true)]);
    assert_eq!(rest.keys().next(), Some(&51));

    // Live: the subscription goes on with new blocks.
    let (_, _) = stream(&mut c, tip, 1, &[json!(true)]);
    b.mine_block_with(&d, 25).unwrap();
    let next = tip + 1;
    let want_next = expected(&d, next, next);
    let n = c
        .next_notification(Duration::from_secs(30))
        .expect("a notification for the new block");
    let (h, txs) = parse_block(n["params"][0].as_object().unwrap());
    assert_eq!((h, &txs), (next, &want_next[&next]));

    // A reorg: the last three blocks replaced by a longer branch with other transactions.
    let fork = next - 3;
    b.reorg(&d, 3, 4, 20).unwrap();
    let (hash, tip) = d.tip().unwrap();
    wait_for_height(server.port(), tip as u64, &hash.to_string());
    let want = expected(&d, 0, tip);
    // The subscription (from height `next - 1`) resends what it sent that left the chain.
    let mut resent = BTreeMap::new();
    while let Some(n) = c.next_notification(Duration::from_secs(2)) {
        if n["method"] == "blockchain.tweaks.subscribe" {
            let (h, txs) = parse_block(n["params"][0].as_object().unwrap());
            resent.insert(h, txs);
        }
    }
    assert!(fork < next - 1);
    for h in next - 1..=tip {
        assert_eq!(
            resent.get(&h),
            Some(&want[&h]),
            "after the reorg, height {h}"
        );
    }
    assert_eq!(resent.len() as u32, tip - next + 2, "{:?}", resent.keys());
    let mut c = Client::negotiated(server.port(), "1.4");
    for h in 0..=tip {
        let order = block_txids(&d, h);
        assert_eq!(
            block_tweaks(&mut c, h),
            tweaks_of(&want[&h], &order),
            "after reorg, height {h}"
        );
    }
    // The same after a restart (the rows were committed with their blocks).
    server.restart();
    let mut c = Client::negotiated(server.port(), "1.4");
    for h in (0..=tip).step_by(7) {
        let order = block_txids(&d, h);
        assert_eq!(
            block_tweaks(&mut c, h),
            tweaks_of(&want[&h], &order),
            "restarted, height {h}"
        );
    }

    // Bad input: error 1 with the reason, and the session goes on.
    for (params, what) in [
        (json!([tip + 1]), "beyond the tip"),
        (json!(["x"]), "non-negative integer"),
        (json!([-1]), "non-negative integer"),
    ] {
        let r = c.request("blockchain.block.tweaks", params);
        assert_eq!(r["error"]["code"], 1, "{r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains(what),
            "{r}"
        );
    }
    for (params, what) in [
        (json!([1, 0]), "count must be"),
        (json!([tip + 5, 1]), "beyond the tip"),
        (json!([1, 1, "yes"]), "boolean"),
    ] {
        let r = c.request("blockchain.tweaks.subscribe", params);
        assert_eq!(r["error"]["code"], 1, "{r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains(what),
            "{r}"
        );
    }
    assert!(c.request("server.ping", json!([])).get("result").is_some());

    // Off again: the tweaks are deleted, and the methods say why they fail.
    server.set_env("FERRUM_SILENT_PAYMENTS", "off");
    server.restart();
    assert!(server.stderr().contains("silent payments index deleted"));
    let mut c = Client::negotiated(server.port(), "1.4");
    let r = c.request("blockchain.block.tweaks", json!([5]));
    assert_eq!(r["error"]["code"], 1, "{r}");
    assert!(server.is_running());
}
