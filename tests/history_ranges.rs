//! Ranged `get_history` (`from_height`, `to_height`: the Electrum Cash protocol's extension) on
//! the shared fixture chain and its mempool: every page equals the matching slice of the full
//! history, for every script ElectrumX was asked about and for random ranges (cutting through
//! blocks, empty, beyond the tip, open-ended with the mempool); bad ranges get error 1; and a
//! client reading a history larger than `MAX_SEND` allows, page by page, gets all of it.

mod common;

use common::server::{Client, FerrumServer, wait_for_height};
use common::*;
use ferrum::chaingen::Bitcoind;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

/// The fixture chain and mempool on a fresh node; returns the tip height and hash.
fn fixture_node() -> (Bitcoind, u32, String) {
    let d = Bitcoind::start_with(&["-rest"]).unwrap();
    let blocks = fixture_blocks("blocks.txt.gz");
    for (h, _, hex) in &blocks {
        if *h > 0 {
            submit(&d, hex);
        }
    }
    submit_fixture_mempool(&d);
    let last = blocks.last().unwrap();
    (d, last.0, last.1.clone())
}

/// The fixture chain served by a Ferrum that indexed its second half while following, a few
/// blocks per commit: scripts then have several history rows, and a page can start inside or
/// after any of them.
fn following_server() -> (Bitcoind, FerrumServer, u32, String) {
    let d = Bitcoind::start_with(&["-rest"]).unwrap();
    let blocks = fixture_blocks("blocks.txt.gz");
    let half = blocks.len() / 2;
    for (h, _, hex) in &blocks[1..half] {
        assert!(*h > 0);
        submit(&d, hex);
    }
    let server = FerrumServer::start(
        &d,
        &[
            ("DAEMON_POLL_INTERVAL_BLOCKS", "50"),
            ("DAEMON_POLL_INTERVAL_MEMPOOL", "200"),
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
        ],
    );
    let (h, hash, _) = &blocks[half - 1];
    wait_for_height(server.port(), *h as u64, hash);
    for (i, (_, _, hex)) in blocks[half..].iter().enumerate() {
        submit(&d, hex);
        if i % 4 == 3 {
            std::thread::sleep(std::time::Duration::from_millis(60));
        }
    }
    submit_fixture_mempool(&d);
    let last = blocks.last().unwrap();
    wait_for_height(server.port(), last.0 as u64, &last.1);
    (d, server, last.0, last.1.clone())
}

/// Every scripthash the oracle asks get_history of.
fn oracle_scripthashes() -> Vec<String> {
    let mut out: Vec<String> = oracle_text("1.4")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["method"] == "blockchain.scripthash.get_history")
        .filter_map(|v| v["params"][0].as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The entries of `full` a page `from..to` must hold: confirmed ones in the range, mempool ones
/// (height <= 0) only when `to` is -1.
fn slice(full: &[Value], from: i64, to: i64) -> Vec<Value> {
    full.iter()
        .filter(|e| {
            let h = e["height"].as_i64().unwrap();
            if h <= 0 {
                to == -1
            } else {
                h >= from && (to == -1 || h < to)
            }
        })
        .cloned()
        .collect()
}

#[test]
fn pages_equal_slices_of_the_full_history() {
    let (_d, server, tip, _) = following_server();
    // The mempool is loaded once the tip is served; give it a moment to be complete.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut c = Client::negotiated(server.port(), "1.4");
    let scripts = oracle_scripthashes();
    assert!(scripts.len() > 100, "{}", scripts.len());
    let mut rng = StdRng::seed_from_u64(0x4a9e);
    let (mut pages, mut with_mempool, mut cut) = (0, 0, 0);
    let mut valid = Vec::new();
    let tip = tip as i64;
    for sh in &scripts {
        // Pages asked before the full history: read from the index (ranged calls do not fill
        // the history cache)...
        let mut ranges = vec![
            (0, tip + 1),
            (tip + 1, -1),
            (tip + 5, tip + 9),
            (3, 3),
            (0, -1),
        ];
        for _ in 0..6 {
            let a = rng.gen_range(0..=tip + 2);
            let b = rng.gen_range(a..=tip + 3);
            ranges.push((a, if rng.gen_bool(0.3) { -1 } else { b }));
        }
        let early: Vec<Value> = ranges
            .iter()
            .map(|(from, to)| c.request("blockchain.scripthash.get_history", json!([sh, from, to])))
            .collect();
        // The oracle also asks with malformed scripthashes: those are errors either way.
        let Some(full) = c.request("blockchain.scripthash.get_history", json!([sh]))["result"]
            .as_array()
            .cloned()
        else {
            continue;
        };
        valid.push(sh.clone());
        for ((from, to), r) in ranges.iter().zip(&early) {
            let want = slice(&full, *from, *to);
            assert_eq!(
                r["result"],
                json!(want),
                "{sh} from {from} to {to} (index): {r}"
            );
        }
        // ... then again, with the full history cached (pages are slices of it).
        let heights: Vec<i64> = full
            .iter()
            .map(|e| e["height"].as_i64().unwrap())
            .filter(|h| *h > 0)
            .collect();
        if let (Some(first), Some(last)) = (heights.first(), heights.last()) {
            // Starting and ending exactly at entries: the end is exclusive.
            ranges.extend([(*first, *last), (*first, *last + 1), (*last, -1)]);
        }
        for (from, to) in ranges {
            let r = c.request("blockchain.scripthash.get_history", json!([sh, from, to]));
            let want = slice(&full, from, to);
            assert_eq!(r["result"], json!(want), "{sh} from {from} to {to}: {r}");
            pages += 1;
            with_mempool += usize::from(want.iter().any(|e| e["height"].as_i64() <= Some(0)));
            cut += usize::from(!want.is_empty() && want.len() < full.len());
        }
        // Named arguments too.
        let r = c.request(
            "blockchain.scripthash.get_history",
            json!({"scripthash": sh, "from_height": 1, "to_height": tip}),
        );
        assert_eq!(r["result"], json!(slice(&full, 1, tip)), "{sh}: {r}");
    }
    assert!(
        with_mempool > 10 && cut > 100,
        "{pages} {with_mempool} {cut}"
    );

    // Bad ranges: error 1 with the reason, and the session goes on.
    let sh = &valid[0];
    for (params, why) in [
        (json!([sh, 9, 3]), "from_height 9 is above to_height 3"),
        (json!([sh, -1, 3]), "from_height -1 should be"),
        (json!([sh, 0, -7]), "to_height -7 should be -1 or"),
        (json!([sh, 1.5]), "from_height 1.5 should be"),
        (
            json!([sh, 0, 4_294_967_296u64]),
            "to_height 4294967296 should be",
        ),
    ] {
        let r = c.request("blockchain.scripthash.get_history", params.clone());
        assert_eq!(r["error"]["code"], json!(1), "{params}: {r}");
        let msg = r["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.starts_with(why), "{params}: {msg}");
    }
    // A script given by scriptPubKey (1.7) pages the same, inside its wrapper object.
    let mut c7 = Client::negotiated(server.port(), "1.7");
    let r = c7.request(
        "blockchain.scriptpubkey.get_history",
        json!(["51", 0, tip + 1]),
    );
    assert_eq!(r["result"], json!({"history": []}), "{r}");
}

#[test]
fn a_history_over_max_send_is_read_page_by_page() {
    let (d, tip, tip_hash) = fixture_node();
    let scenario = fixture_scenario();
    let hot = scenario["hot_address"].as_str().unwrap();
    let a: bitcoin::Address<bitcoin::address::NetworkUnchecked> = hot.parse().unwrap();
    let script = a
        .require_network(bitcoin::Network::Regtest)
        .unwrap()
        .script_pubkey();
    let sh = ferrum::types::scripthash_hex(&script);
    // First the whole history, from a server that can send it.
    let big = FerrumServer::start(&d, &[("COST_SOFT_LIMIT", "0"), ("COST_HARD_LIMIT", "0")]);
    wait_for_height(big.port(), tip as u64, &tip_hash);
    let full = Client::negotiated(big.port(), "1.4")
        .request("blockchain.scripthash.get_history", json!([sh]))["result"]
        .as_array()
        .unwrap()
        .clone();
    drop(big);
    // MAX_SEND 2,000: at most 18 entries a reply.
    let small = FerrumServer::start(
        &d,
        &[
            ("MAX_SEND", "2000"),
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
        ],
    );
    wait_for_height(small.port(), tip as u64, &tip_hash);
    assert!(
        full.len() > 40,
        "the hot address has {} entries",
        full.len()
    );
    let mut c = Client::negotiated(small.port(), "1.4");
    let plain = c.request("blockchain.scripthash.get_history", json!([sh]));
    assert_eq!(
        plain["error"],
        json!({"code": 10001, "message": "history too large"}),
        "{plain}"
    );
    // The client loop: ask from where it stopped; on 10001, take the range the error offers.
    let mut got: Vec<Value> = Vec::new();
    let mut from = 0u64;
    let mut requests = 0;
    loop {
        requests += 1;
        assert!(requests < 100, "no end to the pages");
        let r = c.request("blockchain.scripthash.get_history", json!([sh, from]));
        if let Some(page) = r["result"].as_array() {
            got.extend(page.iter().cloned());
            break;
        }
        let msg = r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let fits = msg
            .split("to_height ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no range in {msg}"));
        let page = c.request("blockchain.scripthash.get_history", json!([sh, from, fits]));
        let page = page["result"].as_array().unwrap().clone();
        assert!(!page.is_empty() && page.len() <= 18, "{}", page.len());
        got.extend(page);
        from = fits;
    }
    assert_eq!(got, full);
    assert!(requests > 2);
}

/// After a reorg, every page is a slice of the new full history: the stale branch's entries
/// are gone from the pages as from the history.
#[test]
fn pages_follow_a_reorg() {
    use ferrum::chaingen::ChainBuilder;
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(41);
    b.mine_empty(&d, 101).unwrap();
    for _ in 0..20 {
        b.mine_block_with(&d, 12).unwrap();
    }
    let server = FerrumServer::start(
        &d,
        &[
            ("DAEMON_POLL_INTERVAL_BLOCKS", "50"),
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
        ],
    );
    let (tip, height) = d.tip().unwrap();
    wait_for_height(server.port(), height as u64, &tip.to_string());
    let scripts: Vec<String> = b
        .scripts()
        .iter()
        .map(|s| ferrum::types::scripthash_hex(s))
        .collect();
    let mut c = Client::negotiated(server.port(), "1.4");
    let check = |c: &mut Client, tip: i64| -> usize {
        let mut changed_pages = 0;
        for sh in &scripts {
            let full = c.request("blockchain.scripthash.get_history", json!([sh]))["result"]
                .as_array()
                .cloned()
                .unwrap();
            for (from, to) in [
                (0, -1),
                (tip - 6, -1),
                (tip - 6, tip - 2),
                (tip - 2, tip + 1),
            ] {
                let r = c.request("blockchain.scripthash.get_history", json!([sh, from, to]));
                let want = slice(&full, from, to);
                assert_eq!(r["result"], json!(want), "{sh} from {from} to {to}");
                changed_pages += usize::from(!want.is_empty());
            }
        }
        changed_pages
    };
    let before = check(&mut c, height as i64);
    // Every script's page from the fork point on (the same height before and after).
    let pages_from = |c: &mut Client, from: u32| -> Vec<Value> {
        scripts
            .iter()
            .map(|sh| {
                c.request("blockchain.scripthash.get_history", json!([sh, from, -1]))["result"]
                    .clone()
            })
            .collect()
    };
    let pages_before = pages_from(&mut c, height - 4);
    // Replace the top 4 blocks with 5 others.
    b.reorg(&d, 4, 5, 10).unwrap();
    let (tip, height) = d.tip().unwrap();
    wait_for_height(server.port(), height as u64, &tip.to_string());
    let after = check(&mut c, height as i64);
    let pages_after = pages_from(&mut c, height - 5);
    assert!(before > 20 && after > 20, "{before} {after}");
    assert_ne!(pages_before, pages_after, "the reorg changed no page");
}
