//! Every Bitcoin block in the test data (mainnet, signet, testnet4) goes through Ferrum's
//! indexing parser: header hash, previous hash, transaction count and every txid must be what the
//! real node recorded.

mod common;

use ferrum::chain::{Bitcoin, Coin};

#[test]
fn bitcoin_fixture_blocks_parse_with_recorded_hashes_and_txids() {
    let cases = [
        ("bitcoin_mainnet_951658.json", &Bitcoin::MAINNET),
        ("bitcoin_signet_31500.json", &Bitcoin::SIGNET),
        ("bitcoin_testnet4_40000.json", &Bitcoin::TESTNET4),
    ];
    let mut checked_txids = 0;
    for (file, coin) in cases {
        let text = common::read_data(&format!("blocks/{file}"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let raw = ferrum::types::hex_to_bytes(v["block"].as_str().unwrap()).unwrap();
        let parsed = coin
            .parse_block(&raw)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            parsed.hash.to_string(),
            v["hash"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(
            parsed.prev_hash.to_string(),
            v["previousblockhash"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(coin.header_hash(&raw[parsed.header.clone()]), parsed.hash);
        let txids: Vec<String> = parsed.txs.iter().map(|t| t.txid.to_string()).collect();
        let expected: Vec<&str> = v["tx"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(txids, expected, "{file}");
        checked_txids += txids.len();
        // Outputs and inputs agree with rust-bitcoin's full decoding.
        let block: bitcoin::Block = bitcoin::consensus::deserialize(&raw).unwrap();
        let outs: usize = block.txdata.iter().map(|t| t.output.len()).sum();
        let ins: usize = block.txdata.iter().skip(1).map(|t| t.input.len()).sum();
        assert_eq!(parsed.outputs.len(), outs, "{file}");
        assert_eq!(parsed.inputs.len(), ins, "{file}");
    }
    assert!(checked_txids > 374);
}
