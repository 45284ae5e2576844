//! Replays the regtest fixture (`tests/data/regtest`: a chain made by a real bitcoind, and
//! ElectrumX 2.0.0's answers about it) into the test bitcoind, syncs Ferrum, and requires the
//! query layer's confirmed history, UTXO list and balance of every script to equal ElectrumX's —
//! directly and after the fixture's reorg variant.

mod common;

use common::model::Model;
use common::*;
use ferrum::chaingen::Bitcoind;
use ferrum::query::Query;
use ferrum::types::ScriptKey;
use serde_json::{Value, json};

/// Compares every scripthash question of `oracle-1.4.jsonl` with the confirmed part of
/// ElectrumX's reply; returns the number of comparisons.
///
/// ElectrumX's `listunspent` leaves out confirmed outputs that a mempool transaction spends, so
/// those are removed from Ferrum's (confirmed-only) list before comparing.
fn check_oracle(q: &Query) -> usize {
    let mempool_spent = fixture_mempool_spends();
    let text = oracle_text("1.4");
    let view = q.view();
    let mut checked = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let (Some(method), Some(result)) = (v["method"].as_str(), v["reply"].get("result")) else {
            continue;
        };
        let Some(hash) = v["params"][0].as_str() else {
            continue;
        };
        let Some(key) = ScriptKey::from_scripthash_hex(hash) else {
            continue;
        };
        match method {
            "blockchain.scripthash.get_history" => {
                let expected = confirmed(result);
                let got: Vec<Value> = view
                    .history(&key)
                    .unwrap()
                    .iter()
                    .map(|h| json!({"height": h.height.0, "tx_hash": h.txid.to_string()}))
                    .collect();
                assert_eq!(got, expected, "get_history {hash}");
            }
            "blockchain.scripthash.listunspent" => {
                let expected = confirmed(result);
                let got: Vec<Value> = view
                    .utxos(&key)
                    .unwrap()
                    .iter()
                    .filter(|u| !mempool_spent.contains(&bitcoin::OutPoint { txid: u.txid, vout: u.vout }))
                    .map(|u| json!({"height": u.height.0, "tx_hash": u.txid.to_string(), "tx_pos": u.vout, "value": u.value}))
                    .collect();
                assert_eq!(got, expected, "listunspent {hash}");
            }
            "blockchain.scripthash.get_balance" => {
                assert_eq!(
                    json!(view.balance(&key).unwrap()),
                    result["confirmed"],
                    "get_balance {hash}"
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    checked
}

/// The confirmed entries (height > 0) of a history or listunspent reply.
fn confirmed(result: &Value) -> Vec<Value> {
    let entries = result.as_array().expect("a list");
    entries
        .iter()
        .filter(|e| e["height"].as_i64() > Some(0))
        .cloned()
        .collect()
}

/// Outpoints spent by the fixture's mempool transactions.
fn fixture_mempool_spends() -> std::collections::HashSet<bitcoin::OutPoint> {
    fixture_mempool_json()
        .values()
        .flat_map(|v| {
            let raw = ferrum::types::hex_to_bytes(v["hex"].as_str().unwrap()).unwrap();
            let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&raw).unwrap();
            tx.input.into_iter().map(|i| i.previous_output)
        })
        .collect()
}

#[test]
fn fixture_chain_matches_electrumx_confirmed_answers() {
    let d = Bitcoind::start().unwrap();
    for (h, _, hex) in fixture_blocks("blocks.txt.gz") {
        if h > 0 {
            submit(&d, &hex);
        }
    }
    submit_fixture_mempool(&d);
    let dir = tempfile::tempdir().unwrap();
    let ix = indexer(&d, dir.path(), 10);
    sync(&ix);
    let q = query(&ix);
    assert!(check_oracle(&q) > 1800);
    Model::from_daemon(&d).assert_matches(&q);
}

#[test]
fn fixture_reorg_variant_ends_like_electrumx() {
    let d = Bitcoind::start().unwrap();
    let (blocks, stale) = submit_up_to_stale_tip(&d);
    let dir = tempfile::tempdir().unwrap();
    // A small undo window, so the 2-block reorg exercises stored undo records.
    let ix = indexer(&d, dir.path(), 5);
    sync(&ix);
    let tip = ix.store().tip();
    assert_eq!(
        tip.tip_hash().unwrap().to_string(),
        stale[stale.len() - 1].1,
        "indexed the stale branch"
    );
    Model::from_daemon(&d).assert_matches(&query(&ix));
    for (h, _, hex) in &blocks {
        if *h >= stale[0].0 {
            submit(&d, hex);
        }
    }
    submit_fixture_mempool(&d);
    sync(&ix);
    let q = query(&ix);
    assert!(check_oracle(&q) > 1800);
    Model::from_daemon(&d).assert_matches(&q);
}
