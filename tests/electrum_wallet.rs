//! The real Electrum wallet (Debian's `electrum`, run headless as a daemon and driven through
//! its command line) against Ferrum on regtest.
//!
//! The wallet is restored from a fixed seed and connects to Ferrum alone (`--oneserver`). It is
//! funded by a coinbase that matures, pays another script's address (`payto` + `broadcast`),
//! and must then see, by itself through its subscriptions (no refresh command is ever issued):
//! - the payment unconfirmed, with the fee computed here from the transaction and its inputs;
//! - the payment confirmed once mined, SPV-verified (a merkle proof against a header);
//! - a same-height reorg: the tip block is replaced by a sibling at the same height that holds
//!   the same payment but has another timestamp. The payment's script statuses do not change
//!   (`txid:height:` is the same), so only the header notification can tell the wallet; Electrum
//!   then undoes and redoes the SPV verification, and the payment's timestamp becomes the
//!   sibling's. A server that notifies only height changes (as ElectrumX) leaves the old one;
//! - a deeper reorg (`invalidateblock`, then empty blocks): the payment back in the mempool and
//!   unconfirmed again in the wallet.
//!
//! If `electrum` is missing or cannot start, the test fails and says so.

mod common;

use bitcoin::{Amount, BlockHash, Transaction};
use common::electrum::Electrum;
use common::server::{FerrumServer, wait_for_height};
use ferrum::chain::Coin;
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};
use std::time::Duration;

/// A segwit Electrum seed (made by `electrum create --seed_type segwit`).
const SEED: &str = "virus primary pond stove tunnel response quit phrase village swim where degree";

impl Electrum {
    /// The wallet's `onchain_history` entry of `txid`.
    fn history_entry(&self, txid: &str) -> Result<Value, String> {
        let h = self.json(&["onchain_history"]);
        h["transactions"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["txid"] == txid).cloned())
            .ok_or_else(|| format!("{txid} not in onchain_history: {h}"))
    }

    /// Waits until the wallet shows `txid` with these height and confirmations (and, if given,
    /// block timestamp), and the wallet's chain at `tip`.
    fn wait_tx(
        &self,
        what: &str,
        txid: &str,
        height: u64,
        confirmations: u64,
        time: Option<u32>,
        tip: u64,
    ) -> Value {
        self.wait_for(what, |e| {
            let t = e.history_entry(txid)?;
            let info = e.json(&["getinfo"]);
            let ok = t["height"] == json!(height)
                && t["confirmations"] == json!(confirmations)
                && time.is_none_or(|tm| t["timestamp"] == json!(tm))
                && info["blockchain_height"] == json!(tip)
                && info["connected"] == json!(true);
            if ok {
                Ok(t)
            } else {
                Err(format!("{t}; getinfo {info}"))
            }
        })
    }
}

/// Satoshis of an Electrum amount ("48.499992", "-1.500008", "50.").
fn sats(s: &str) -> i64 {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 8, "amount {s}");
    let v =
        int.parse::<i64>().unwrap() * 100_000_000 + format!("{frac:0<8}").parse::<i64>().unwrap();
    if neg { -v } else { v }
}

fn block_hash(v: &Value) -> BlockHash {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a block hash: {v}"))
}

fn address(script: &bitcoin::Script) -> String {
    ferrum::chain::Bitcoin::REGTEST
        .script_to_address(script)
        .unwrap()
}

/// The fee of an unmined `tx` spending confirmed outputs: inputs (bitcoind's `gettxout`,
/// mempool ignored) minus outputs.
fn fee_of(d: &Bitcoind, tx: &Transaction) -> u64 {
    let inputs: u64 = tx
        .input
        .iter()
        .map(|i| {
            let op = i.previous_output;
            let o = d
                .rpc("gettxout", json!([op.txid.to_string(), op.vout, false]))
                .unwrap();
            assert!(!o.is_null(), "input {op} is not a confirmed unspent output");
            Amount::from_btc(o["value"].as_f64().unwrap())
                .unwrap()
                .to_sat()
        })
        .sum();
    inputs - tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>()
}

/// The wallet's total balance (confirmed + unconfirmed + unmatured), in satoshis.
fn total_balance(b: &Value) -> i64 {
    b.as_object()
        .unwrap()
        .values()
        .map(|v| sats(v.as_str().unwrap()))
        .sum()
}

#[test]
fn electrum_wallet_follows_payment_confirmation_and_reorgs() {
    let d = Bitcoind::start_with(&["-rest"]).expect("start bitcoind");
    let server = FerrumServer::start(&d, &[("DAEMON_POLL_INTERVAL_MEMPOOL", "100")]);
    let e = Electrum::start(server.port(), true);
    e.ok(&["restore", SEED]);
    assert_eq!(e.ok(&["load_wallet"]), "true");
    let info = e.json(&["getinfo"]);
    assert_eq!(info["server"], "127.0.0.1", "{info}");
    let wallet_addr = e.ok(&["getunusedaddress"]);
    let mut b = ChainBuilder::new(77);
    let other = address(&b.new_script(OutputType::P2pkh));
    let miner = address(&Bitcoind::mine_script());

    // --- Funding: a coinbase to the wallet, matured by 100 more blocks.
    let r = d.rpc("generatetoaddress", json!([1, wallet_addr])).unwrap();
    let coinbase_block = block_hash(&r[0]);
    d.mine(100).unwrap();
    let (tip, h) = d.tip().unwrap();
    assert_eq!(h, 101);
    wait_for_height(server.port(), 101, &tip.to_string());
    let cb = d
        .rpc("getblock", json!([coinbase_block.to_string(), 1]))
        .unwrap()["tx"][0]
        .clone();
    let coinbase_txid = cb.as_str().unwrap().to_string();
    e.wait_for("the matured coinbase", |e| {
        let b = e.json(&["getbalance"]);
        if b == json!({"confirmed": "50"}) {
            Ok(())
        } else {
            Err(b.to_string())
        }
    });
    let cbh = e.history_entry(&coinbase_txid).unwrap();
    assert_eq!(
        (&cbh["height"], &cbh["confirmations"]),
        (&json!(1), &json!(101))
    );

    // --- The payment, unconfirmed: the wallet's and the server's fee are the transaction's.
    let tx_hex = e.ok(&["payto", &other, "1.5", "--feerate", "5"]);
    let tx: Transaction =
        bitcoin::consensus::deserialize(&ferrum::types::hex_to_bytes(&tx_hex).unwrap()).unwrap();
    let txid = tx.compute_txid().to_string();
    let fee = fee_of(&d, &tx);
    assert!(fee > 0 && fee < 100_000, "fee {fee}");
    assert_eq!(e.ok(&["broadcast", &tx_hex]), txid);
    assert_eq!(
        d.rpc("getrawmempool", json!([])).unwrap(),
        json!([txid]),
        "the broadcast reached bitcoind"
    );
    let t = e.wait_tx("the payment unconfirmed", &txid, 0, 0, None, 101);
    assert_eq!(t["fee_sat"], json!(fee), "{t}");
    assert_eq!(
        sats(t["bc_value"].as_str().unwrap()),
        -(150_000_000 + fee as i64)
    );
    assert_eq!(
        e.json(&["getaddresshistory", &other]),
        json!([{"fee": fee, "height": 0, "tx_hash": txid}]),
        "the server's history of the paid address"
    );
    let wh = e.json(&["getaddresshistory", &wallet_addr]);
    assert_eq!(
        wh,
        json!([{"height": 1, "tx_hash": coinbase_txid}, {"fee": fee, "height": 0, "tx_hash": txid}])
    );
    let expected_total = 5_000_000_000 - 150_000_000 - fee as i64;
    assert_eq!(total_balance(&e.json(&["getbalance"])), expected_total);

    // --- Mined: confirmed and SPV-verified, learnt through notifications alone.
    let mined = block_hash(&d.rpc("generatetoaddress", json!([1, miner])).unwrap()[0]);
    let block = d.rpc("getblock", json!([mined.to_string(), 1])).unwrap();
    assert_eq!(block["tx"][1], json!(txid), "the payment is in block 102");
    let t = e.wait_tx(
        "the payment confirmed",
        &txid,
        102,
        1,
        Some(block["time"].as_u64().unwrap() as u32),
        102,
    );
    assert_eq!(t["txpos_in_block"], json!(1), "{t}");
    assert_eq!(
        e.json(&["getaddresshistory", &other]),
        json!([{"height": 102, "tx_hash": txid}])
    );
    assert_eq!(
        e.json(&["get_tx_status", &txid]),
        json!({"confirmations": 1})
    );

    // --- Same-height reorg: a sibling of block 102 holding the same payment, with a later
    // timestamp, made the tip by preciousblock (one switch: the height never changes).
    let parent = block_hash(&block["previousblockhash"]);
    let old_time = block["time"].as_u64().unwrap() as u32;
    while ferrum::chaingen::block::unix_now() <= old_time {
        std::thread::sleep(Duration::from_millis(200));
    }
    let sibling = b.build_block(&d, parent, vec![tx.clone()]).unwrap();
    assert!(sibling.header.time > old_time);
    b.submit(&d, &sibling).unwrap();
    d.rpc("preciousblock", json!([sibling.block_hash().to_string()]))
        .unwrap();
    assert_eq!(d.tip().unwrap(), (sibling.block_hash(), 102));
    wait_for_height(server.port(), 102, &sibling.block_hash().to_string());
    e.wait_tx(
        "the payment in the sibling block (its timestamp: Electrum re-verified it after a header notification)",
        &txid,
        102,
        1,
        Some(sibling.header.time),
        102,
    );

    // --- Deeper reorg: both blocks 102 invalidated, two empty blocks instead; the payment goes
    // back to the mempool and is unconfirmed in the wallet again.
    d.rpc("invalidateblock", json!([mined.to_string()]))
        .unwrap();
    d.rpc("invalidateblock", json!([sibling.block_hash().to_string()]))
        .unwrap();
    d.rpc("generateblock", json!([miner, []])).unwrap();
    let r = d.rpc("generateblock", json!([miner, []])).unwrap();
    let new_tip = block_hash(&r["hash"]);
    assert_eq!(d.tip().unwrap(), (new_tip, 103));
    assert_eq!(
        d.rpc("getrawmempool", json!([])).unwrap(),
        json!([txid]),
        "bitcoind put the payment back in its mempool"
    );
    wait_for_height(server.port(), 103, &new_tip.to_string());
    let t = e.wait_tx(
        "the payment unconfirmed after the reorg",
        &txid,
        0,
        0,
        None,
        103,
    );
    assert_eq!(t["fee_sat"], json!(fee), "{t}");
    assert_eq!(
        e.json(&["getaddresshistory", &other]),
        json!([{"fee": fee, "height": 0, "tx_hash": txid}])
    );
    assert_eq!(
        e.json(&["get_tx_status", &txid]),
        json!({"confirmations": 0})
    );
    assert_eq!(total_balance(&e.json(&["getbalance"])), expected_total);
    let mut server = server;
    assert!(server.is_running(), "ferrum died");
}
