//! `ferrum query <address | scripthash | script hex>`: a script's confirmed history, unspent
//! outputs and balance, as text or (`--json`) with the fields of the Electrum protocol's
//! `get_history`, `listunspent` and `get_balance`.

use crate::config::Config;
use crate::query::Query;
use crate::store::Store;
use crate::types::{ScriptKey, hex_to_bytes};
use anyhow::{Result, bail};
use serde_json::json;
use std::sync::Arc;

/// What the user named: an address, an Electrum scripthash or a raw script.
pub(crate) fn script_key(config: &Config, target: &str) -> Result<ScriptKey> {
    if let Some(script) = config.coin.address_to_script(target) {
        return Ok(ScriptKey::from_script(script.as_bytes()));
    }
    if target.len() == 64
        && let Some(k) = ScriptKey::from_scripthash_hex(target)
    {
        return Ok(k);
    }
    match hex_to_bytes(target) {
        Some(script) if !script.is_empty() => Ok(ScriptKey::from_script(&script)),
        _ => bail!(
            "{target:?} is not a {} {} address, a scripthash (64 hex digits) or a script in hex",
            config.coin.name(),
            config.coin.net()
        ),
    }
}

pub fn run(config: &Config, target: &str, as_json: bool, limit: Option<usize>) -> Result<()> {
    let key = script_key(config, target)?;
    let store = Arc::new(Store::open_read_only(&config.db_dir, config.coin, 64)?);
    let query = Query::new(store);
    let view = query.view();
    let mut history = view.history(&key)?;
    let utxos = view.utxos(&key)?;
    let balance: u64 = utxos.iter().map(|u| u.value).sum();
    if let Some(n) = limit {
        let skip = history.len().saturating_sub(n);
        history.drain(..skip);
    }
    if as_json {
        let out = json!({
            "history": history.iter().map(|h| json!({"tx_hash": h.txid.to_string(), "height": h.height.0})).collect::<Vec<_>>(),
            "utxos": utxos.iter().map(|u| json!({"tx_hash": u.txid.to_string(), "tx_pos": u.vout, "height": u.height.0, "value": u.value})).collect::<Vec<_>>(),
            "balance": {"confirmed": balance, "unconfirmed": 0},
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let tip = view.tip();
    println!(
        "index tip: {}",
        tip.height().map_or("(empty)".into(), |h| format!(
            "{h} {}",
            tip.tip_hash().map(|x| x.to_string()).unwrap_or_default()
        ))
    );
    println!(
        "history ({} txs{}):",
        history.len(),
        limit.map_or(String::new(), |n| format!(", last {n}"))
    );
    for h in &history {
        println!("  {:>8}  {}", h.height.0, h.txid);
    }
    println!("unspent outputs ({}):", utxos.len());
    for u in &utxos {
        println!(
            "  {:>8}  {}:{}  {}",
            u.height.0,
            u.txid,
            u.vout,
            fmt_btc(u.value)
        );
    }
    println!("balance: {}", fmt_btc(balance));
    Ok(())
}

fn fmt_btc(sats: u64) -> String {
    format!("{}.{:08} BTC", sats / 100_000_000, sats % 100_000_000)
}
