//! The extension methods (Electrum Cash protocol as Fulcrum serves them, and Frigate's
//! `blockchain.block.stats`) against bitcoind's own view of a generated regtest chain with a
//! mempool: bitcoind runs with `-txindex` here only to give the expected values
//! (`getrawtransaction`, `gettxout`, `getblockheader`, `getblockstats`); Ferrum answers from its
//! index. Confirmed, mempool and unknown transactions, unspent and spent outputs (on chain and
//! in the mempool), genesis, the tip, and bad input.

mod common;

use bitcoin::hashes::Hash;
use bitcoin::{Amount, ScriptBuf, Transaction, Txid};
use common::server::{Client, FerrumServer, wait_for_height};
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};

fn send(d: &Bitcoind, tx: &Transaction) -> Txid {
    let hex = bitcoin::consensus::encode::serialize_hex(tx);
    d.rpc("sendrawtransaction", json!([hex])).unwrap();
    tx.compute_txid()
}

fn sats(v: &Value) -> u64 {
    Amount::from_btc(v.as_f64().unwrap()).unwrap().to_sat()
}

/// bitcoind's height of a confirmed tx (through `-txindex`), None in the mempool.
fn node_height(d: &Bitcoind, txid: &Txid) -> Option<(u64, String)> {
    let tx = d
        .rpc("getrawtransaction", json!([txid.to_string(), true]))
        .unwrap();
    let hash = tx["blockhash"].as_str()?.to_string();
    let h = d.rpc("getblockheader", json!([hash, true])).unwrap()["height"]
        .as_u64()
        .unwrap();
    Some((h, hash))
}

fn scripthash(s: &ScriptBuf) -> String {
    ferrum::types::scripthash_hex(s)
}

#[test]
fn extension_methods_agree_with_bitcoind() {
    let d = Bitcoind::start_with(&["-txindex=1"]).unwrap();
    let mut b = ChainBuilder::new(51);
    b.mine_empty(&d, 101).unwrap();
    for _ in 0..8 {
        b.mine_block_with(&d, 10).unwrap();
    }
    let confirmed: Vec<Txid> = b
        .blocks()
        .iter()
        .flat_map(|blk| blk.txdata.iter().map(|t| t.compute_txid()))
        .collect();
    // Mempool: a payment to a fresh script (used nowhere else), then a child spending it.
    let fresh = b.new_script(OutputType::P2wpkh);
    let parent = b
        .tx_to(&[(fresh.clone(), Amount::from_sat(300_000))])
        .unwrap();
    let parent_id = send(&d, &parent);
    let child = b.random_tx().unwrap();
    let child_id = send(&d, &child);
    let server = FerrumServer::start(
        &d,
        &[
            ("DAEMON_POLL_INTERVAL_MEMPOOL", "100"),
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
        ],
    );
    let (tip_hash, tip) = d.tip().unwrap();
    wait_for_height(server.port(), tip as u64, &tip_hash.to_string());
    let mut c = Client::negotiated(server.port(), "1.4");
    // The mempool is loaded before the port opens.
    let unknown = Txid::from_byte_array([7; 32]);

    // transaction.get_height and get_confirmed_blockhash.
    for txid in confirmed.iter().step_by(7).chain([&parent_id, &child_id]) {
        let got = c.request(
            "blockchain.transaction.get_height",
            json!([txid.to_string()]),
        );
        let hash = c.request(
            "blockchain.transaction.get_confirmed_blockhash",
            json!([txid.to_string(), true]),
        );
        match node_height(&d, txid) {
            Some((h, block)) => {
                assert_eq!(got["result"], json!(h), "{txid}: {got}");
                let header = d.rpc("getblockheader", json!([block, false])).unwrap();
                assert_eq!(
                    hash["result"],
                    json!({"block_hash": block, "block_height": h, "block_header": header}),
                    "{txid}"
                );
            }
            None => {
                assert_eq!(got["result"], json!(0), "{txid}: {got}");
                assert_eq!(hash["error"]["code"], json!(1), "{hash}");
            }
        }
    }
    let got = c.request(
        "blockchain.transaction.get_height",
        json!([unknown.to_string()]),
    );
    assert_eq!(got["error"]["code"], json!(1), "{got}");
    let got = c.request(
        "blockchain.transaction.get_confirmed_blockhash",
        json!({"tx_hash": unknown.to_string()}),
    );
    assert_eq!(
        got["error"]["message"],
        json!("No confirmed transaction matching the requested hash was found")
    );
    let got = c.request("blockchain.transaction.get_height", json!(["zz"]));
    assert_eq!(got["error"]["code"], json!(1), "{got}");

    // utxo.get_info: every output of some confirmed txs and of the mempool txs, as gettxout
    // sees them with the mempool (spent there means spent).
    let (mut unspent, mut spent) = (0, 0);
    for txid in confirmed.iter().step_by(3).chain([&parent_id, &child_id]) {
        let n = d
            .rpc("getrawtransaction", json!([txid.to_string(), true]))
            .unwrap()["vout"]
            .as_array()
            .unwrap()
            .len();
        for vout in 0..=n {
            let node = d
                .rpc("gettxout", json!([txid.to_string(), vout, true]))
                .unwrap();
            let got = c.request("blockchain.utxo.get_info", json!([txid.to_string(), vout]));
            let script = node["scriptPubKey"]["hex"].as_str().unwrap_or_default();
            if node.is_null() || script.starts_with("6a") {
                assert_eq!(got["result"], Value::Null, "{txid}:{vout}: {got}");
                spent += 1;
                continue;
            }
            let spk = ScriptBuf::from_hex(script).unwrap();
            let mut want = json!({"scripthash": scripthash(&spk), "value": sats(&node["value"])});
            let confs = node["confirmations"].as_u64().unwrap();
            if confs > 0 {
                want["confirmed_height"] = json!(tip as u64 + 1 - confs);
            }
            assert_eq!(got["result"], want, "{txid}:{vout}");
            unspent += 1;
        }
    }
    assert!(unspent > 10 && spent > 10, "{unspent} {spent}");
    // The parent's payment is spent by the child only if the child took it; either way the
    // answer matched gettxout above. Unknown txid, huge index, bad index:
    let got = c.request("blockchain.utxo.get_info", json!([unknown.to_string(), 0]));
    assert_eq!(got["result"], Value::Null);
    let got = c.request(
        "blockchain.utxo.get_info",
        json!([parent_id.to_string(), -1]),
    );
    assert_eq!(got["error"]["code"], json!(1), "{got}");

    // header.get by height and by hash: genesis, a middle block, the tip; errors.
    for h in [0u32, 50, tip] {
        let hash = d.rpc("getblockhash", json!([h])).unwrap();
        let hex = d.rpc("getblockheader", json!([hash, false])).unwrap();
        let want = json!({"height": h, "hex": hex});
        assert_eq!(
            c.request("blockchain.header.get", json!([h]))["result"],
            want
        );
        assert_eq!(
            c.request("blockchain.header.get", json!([hash]))["result"],
            want
        );
    }
    let got = c.request("blockchain.header.get", json!([tip + 1]));
    assert_eq!(
        got["error"],
        json!({"code": 1, "message": format!("Height {} is out of range", tip + 1)})
    );
    let got = c.request("blockchain.header.get", json!([unknown.to_string()]));
    assert_eq!(got["error"]["code"], json!(2), "{got}");
    let got = c.request("blockchain.header.get", json!(["5"]));
    assert_eq!(
        got["error"]["message"],
        json!("Invalid block hash"),
        "{got}"
    );
    let got = c.request("blockchain.header.get", json!([true]));
    assert_eq!(got["error"]["code"], json!(-32602), "{got}");

    // get_first_use: the first confirmed use (its first history entry), a mempool-only script,
    // a never-used one.
    let mut checked = 0;
    for s in b.scripts().iter().step_by(5) {
        let sh = scripthash(s);
        let history = c.request("blockchain.scripthash.get_history", json!([sh]))["result"]
            .as_array()
            .cloned()
            .unwrap();
        let got = c.request("blockchain.scripthash.get_first_use", json!([sh]))["result"].clone();
        match history.first() {
            Some(first) if first["height"].as_i64() > Some(0) => {
                let h = first["height"].as_u64().unwrap();
                let hash = d.rpc("getblockhash", json!([h])).unwrap();
                assert_eq!(
                    got,
                    json!({"block_hash": hash, "block_height": h, "height": h,
                           "tx_hash": first["tx_hash"]}),
                    "{sh}"
                );
                checked += 1;
            }
            Some(_) => assert_eq!(got["height"], json!(0), "{sh}: {got}"),
            None => assert_eq!(got, Value::Null, "{sh}"),
        }
    }
    assert!(checked > 10, "{checked}");
    let got = c.request(
        "blockchain.scripthash.get_first_use",
        json!([scripthash(&fresh)]),
    )["result"]
        .clone();
    assert_eq!(
        got,
        json!({"block_hash": "0".repeat(64), "block_height": 0, "height": 0,
               "tx_hash": parent_id.to_string()})
    );
    let never = scripthash(&ScriptBuf::from_hex("51").unwrap());
    let got = c.request("blockchain.scripthash.get_first_use", json!([never]));
    assert_eq!(got["result"], Value::Null, "{got}");
    // The 1.7 twin takes the script itself.
    let mut c7 = Client::negotiated(server.port(), "1.7");
    let got = c7.request(
        "blockchain.scriptpubkey.get_first_use",
        json!([fresh.to_hex_string()]),
    );
    assert_eq!(
        got["result"]["tx_hash"],
        json!(parent_id.to_string()),
        "{got}"
    );

    // block.stats: bitcoind's getblockstats, six of its fields.
    for h in [1u32, tip] {
        let node = d.rpc("getblockstats", json!([h])).unwrap();
        let got = c.request("blockchain.block.stats", json!([h]))["result"].clone();
        let keys = [
            "height",
            "blockhash",
            "feerate_percentiles",
            "total_weight",
            "txs",
            "time",
        ];
        let want: serde_json::Map<String, Value> = keys
            .iter()
            .map(|k| (k.to_string(), node[*k].clone()))
            .collect();
        assert_eq!(got, Value::Object(want), "{h}");
    }
    let got = c.request("blockchain.block.stats", json!([tip + 10]));
    assert_eq!(got["error"]["code"], json!(-32002), "{got}");

    // server.features advertises them.
    let f = c.request("server.features", json!([]))["result"].clone();
    assert_eq!(f["firstuse"], json!(["1.0"]));
    for m in [
        "history_ranges",
        "blockchain.transaction.get_height",
        "blockchain.transaction.get_confirmed_blockhash",
        "blockchain.utxo.get_info",
        "blockchain.header.get",
        "blockchain.block.stats",
    ] {
        assert_eq!(f[m], json!(true), "{m} in {f}");
    }
}

#[test]
fn daemon_passthrough_is_off_by_default_and_read_only_when_on() {
    let d = Bitcoind::start().unwrap();
    d.mine(3).unwrap();
    let (tip_hash, tip) = d.tip().unwrap();
    let off = FerrumServer::start(&d, &[]);
    wait_for_height(off.port(), tip as u64, &tip_hash.to_string());
    let mut c = Client::negotiated(off.port(), "1.4");
    let got = c.request(
        "daemon.passthrough",
        json!({"method": "getblockcount", "params": []}),
    );
    assert_eq!(
        got["error"],
        json!({"code": -32601, "message": "Method disabled for this client"})
    );
    let f = c.request("server.features", json!([]))["result"].clone();
    assert!(f.get("daemon.passthrough").is_none(), "{f}");
    drop(off);

    let on = FerrumServer::start(&d, &[("FERRUM_DAEMON_PASSTHROUGH", "true")]);
    wait_for_height(on.port(), tip as u64, &tip_hash.to_string());
    let mut c = Client::negotiated(on.port(), "1.4");
    let got = c.request(
        "daemon.passthrough",
        json!({"method": "getblockcount", "params": []}),
    );
    assert_eq!(got["result"], json!(tip), "{got}");
    let got = c.request("daemon.passthrough", json!(["getblockhash", [1]]));
    assert_eq!(got["result"], d.rpc("getblockhash", json!([1])).unwrap());
    let got = c.request(
        "daemon.passthrough",
        json!({"method": "getblockhash", "params": [99]}),
    );
    assert_eq!(got["error"]["code"], json!(2), "{got}");
    for refused in [
        "stop",
        "sendrawtransaction",
        "gettxoutsetinfo",
        "generatetoaddress",
    ] {
        let got = c.request("daemon.passthrough", json!({"method": refused}));
        assert_eq!(
            got["error"],
            json!({"code": 1, "message": format!("Method \"{refused}\" not allowed for daemon.passthrough")})
        );
    }
    let got = c.request("daemon.passthrough", json!({"method": 5}));
    assert_eq!(got["error"]["code"], json!(1), "{got}");
    let f = c.request("server.features", json!([]))["result"].clone();
    assert_eq!(f["daemon.passthrough"], json!(true));
    // bitcoind is still running: stop was never forwarded.
    assert_eq!(d.tip().unwrap().1, tip);
}
