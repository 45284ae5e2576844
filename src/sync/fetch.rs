//! Fetching one block with the outputs its inputs spend, on a pipeline worker.
//!
//! Preferred source: binary REST `block` + `spenttxouts` (no UTXO reads anywhere in sync).
//! Without REST, the block comes from `getblock <hash> 0` and its spent outputs from the
//! `prevout` fields of `getblock <hash> 3`, which bitcoind fills from its own undo data. A node
//! with neither gives the raw block alone; its inputs are left for [`super::resolve`].

use super::prepare::{DecodedSpent, PreparedBlock, Spent, prepare};
use crate::chain::Coin;
use crate::daemon::{Daemon, SpentSource};
use crate::types::{Height, hex_to_bytes};
use anyhow::{Context, Result};
use bitcoin::BlockHash;
use serde_json::{Value, json};

pub fn fetch_and_prepare(
    daemon: &Daemon,
    coin: &dyn Coin,
    h: Height,
    hash: &BlockHash,
    tweaks: bool,
) -> Result<PreparedBlock> {
    let raw = daemon
        .block(hash)
        .with_context(|| format!("fetching block {h} ({hash})"))?;
    let spent = match daemon.spent_source() {
        SpentSource::Index => Spent::Unresolved,
        SpentSource::Rest | SpentSource::Rpc => match daemon.spent_outputs(hash)? {
            Some(body) => Spent::Rest(body),
            None => Spent::Decoded(spent_via_rpc(daemon, hash)?),
        },
    };
    prepare(coin, h, hash, &raw, &spent, tweaks)
}

/// Spent outputs from `getblock <hash> 3`.
fn spent_via_rpc(daemon: &Daemon, hash: &BlockHash) -> Result<DecodedSpent> {
    let block = daemon.call("getblock", json!([hash.to_string(), 3]))?;
    decode_verbose_prevouts(&block).with_context(|| format!("getblock {hash} 3: unexpected reply"))
}

fn decode_verbose_prevouts(block: &Value) -> Option<DecodedSpent> {
    let mut out = Vec::new();
    for tx in block.get("tx")?.as_array()? {
        let mut spent = Vec::new();
        for vin in tx.get("vin")?.as_array()? {
            if vin.get("coinbase").is_some() {
                continue;
            }
            let prevout = vin.get("prevout")?;
            let btc = prevout.get("value")?.as_f64()?;
            if !(0.0..=21e6).contains(&btc) {
                return None;
            }
            let sats = (btc * 1e8).round() as u64;
            let script = hex_to_bytes(prevout.get("scriptPubKey")?.get("hex")?.as_str()?)?;
            spent.push((sats, script));
        }
        out.push(spent);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_prevouts() {
        let block = json!({"tx": [
            {"vin": [{"coinbase": "00"}]},
            {"vin": [{"prevout": {"value": 0.1, "scriptPubKey": {"hex": "51"}}},
                     {"prevout": {"value": 20999999.9769, "scriptPubKey": {"hex": ""}}}]}
        ]});
        let p = decode_verbose_prevouts(&block).unwrap();
        assert_eq!(
            p,
            vec![
                vec![],
                vec![(10_000_000, vec![0x51]), (2_099_999_997_690_000, vec![])]
            ]
        );
        assert!(decode_verbose_prevouts(&json!({"tx": [{"vin": [{"prevout": {}}]}]})).is_none());
        assert!(decode_verbose_prevouts(&json!({"tx": [{"vin": [{"prevout": {"value": -1.0, "scriptPubKey": {"hex": ""}}}]}]})).is_none());
    }
}
