//! The `ferrum` binary as an operator uses it: `sync` then `query` by bech32 address, base58
//! address, scripthash and script hex (text and `--json`), the start-up refusals — a bad
//! option, a directory that is not a Ferrum index, an index of another network — and what it
//! says when there is no node to talk to.

mod common;

use common::model::Model;
use ferrum::chain::Coin;
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

fn ferrum(d: Option<&Bitcoind>, db: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferrum"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", db.parent().unwrap())
        .env("DB_DIRECTORY", db)
        .env("LOG_LEVEL", "warn");
    if let Some(d) = d {
        c.env("DAEMON_URL", format!("127.0.0.1:{}", d.rpc_port()))
            .args(["--cookie-file", d.cookie_file().to_str().unwrap()]);
    }
    c.args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sync_then_query_by_address_scripthash_and_script() {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(31);
    b.mine_empty(&d, 101).unwrap();
    let wpkh = b.new_script(OutputType::P2wpkh);
    let pkh = b.new_script(OutputType::P2pkh);
    let amount = bitcoin::Amount::from_sat(70_000);
    let tx = b
        .tx_to(&[
            (wpkh.clone(), amount),
            (pkh.clone(), amount),
            (wpkh.clone(), amount),
        ])
        .unwrap();
    b.mine_txs(&d, vec![tx]).unwrap();
    b.mine_block_with(&d, 8).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let out = ferrum(Some(&d), &db, &["--net", "regtest", "sync"]);
    assert!(out.status.success(), "sync: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("synced to height 103"));

    let model = Model::from_daemon(&d);
    let coin = &ferrum::chain::Bitcoin::REGTEST;
    for script in [&wpkh, &pkh] {
        let address = coin.script_to_address(script).unwrap();
        let scripthash = ferrum::types::scripthash_hex(script);
        let script_hex = ferrum::types::bytes_to_hex(script.as_bytes());
        let expected_history: Vec<Value> = model.history[script]
            .iter()
            .map(|h| json!({"height": h.height.0, "tx_hash": h.txid.to_string()}))
            .collect();
        let utxos = model.expected_utxos(script);
        let balance: u64 = utxos.iter().map(|u| u.value).sum();
        for target in [&address, &scripthash, &script_hex] {
            let out = ferrum(None, &db, &["--net", "regtest", "query", target, "--json"]);
            assert!(out.status.success(), "query {target}: {}", stderr(&out));
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["history"], json!(expected_history), "{target}");
            assert_eq!(
                v["utxos"].as_array().unwrap().len(),
                utxos.len(),
                "{target}"
            );
            assert_eq!(v["balance"]["confirmed"], json!(balance), "{target}");
        }
        let text = ferrum(None, &db, &["--net", "regtest", "query", &address]);
        assert!(text.status.success());
        assert!(
            String::from_utf8_lossy(&text.stdout)
                .contains(&format!("history ({} txs)", expected_history.len()))
        );
    }
    let out = ferrum(Some(&d), &db, &["--net", "regtest", "compact"]);
    assert!(out.status.success(), "compact: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("compacted index"));
    // Garbage and another network's address are refused with a clear message.
    let out = ferrum(
        None,
        &db,
        &[
            "--net",
            "regtest",
            "query",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a Bitcoin regtest address"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn start_up_refuses_bad_options_and_foreign_directories() {
    let dir = tempfile::tempdir().unwrap();
    // An unknown network names the option.
    let out = ferrum(None, &dir.path().join("db"), &["--net", "moonnet", "sync"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).to_lowercase().contains("net"),
        "{}",
        stderr(&out)
    );

    // A directory with other files is not touched.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("wallet.dat"), b"precious").unwrap();
    let out = ferrum(None, &foreign, &["--net", "regtest", "sync"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds no Ferrum database"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // A regtest index is refused when configured for testnet.
    let db = dir.path().join("regtest-db");
    ferrum::store::Store::open(&db, &ferrum::chain::Bitcoin::REGTEST, 64).unwrap();
    let out = ferrum(None, &db, &["--net", "testnet", "query", "00"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds an index of Bitcoin regtest"),
        "{}",
        stderr(&out)
    );
    let reopened = ferrum::store::Store::open(&db, &ferrum::chain::Bitcoin::TESTNET, 64);
    assert!(reopened.is_err());
}

/// With no bitcoind (no cookie file, or nothing listening), `ferrum` gives up after its retry
/// budget (120 s) with the daemon client's message and then names `ferrum demo`.
#[test]
fn without_a_node_the_error_is_followed_by_ferrum_demo() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::server::free_port();
    let closed_port_db = dir.path().join("b").join("db");
    // Both cases wait out the same budget, so they run side by side.
    let refused = std::thread::spawn(move || {
        let url = format!("user:pass@127.0.0.1:{port}");
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrum"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", closed_port_db.parent().unwrap())
            .env("DB_DIRECTORY", &closed_port_db)
            .env("DAEMON_URL", url)
            .env("LOG_LEVEL", "warn");
        c.args(["--net", "regtest", "sync"]).output().unwrap()
    });
    // No DAEMON_URL and an empty HOME: the cookie a running bitcoind writes is absent.
    let no_cookie = ferrum(None, &dir.path().join("db"), &["--net", "regtest", "sync"]);
    let refused = refused.join().unwrap();
    for (out, cause) in [
        (no_cookie, "cannot read bitcoind's cookie file"),
        (refused, "cannot reach bitcoind at 127.0.0.1:"),
    ] {
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        let Some(error_at) = err.find(&format!("ferrum: error: {cause}")) else {
            panic!("no {cause:?} error in:\n{err}");
        };
        let Some(hint_at) = err.find("`ferrum demo`") else {
            panic!("no hint naming `ferrum demo` in:\n{err}");
        };
        assert!(hint_at > error_at, "the hint comes after the error:\n{err}");
    }
    // Another failure (a foreign directory) does not suggest the demo.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("wallet.dat"), b"precious").unwrap();
    let out = ferrum(None, &foreign, &["--net", "regtest", "sync"]);
    assert!(!stderr(&out).contains("ferrum demo"), "{}", stderr(&out));
}

#[test]
fn ferrum_coins_lists_every_coin_without_any_configuration() {
    // No HOME, no DB_DIRECTORY: nothing to configure for a listing.
    let out = Command::new(env!("CARGO_BIN_EXE_ferrum"))
        .env_clear()
        .arg("coins")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().count(),
        ferrum::chain::COINS.len() + 1,
        "{text}"
    );
    for c in ferrum::chain::COINS {
        assert!(
            text.lines().any(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(c.name()) && w.next() == Some(c.net())
            }),
            "{} {} missing:\n{text}",
            c.name(),
            c.net()
        );
    }
    // An unknown coin names the closest supported ones.
    let dir = tempfile::tempdir().unwrap();
    let out = ferrum(
        None,
        &dir.path().join("db"),
        &["--coin", "namecion", "sync"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("unknown coin \"namecion\"; the closest supported are Namecoin mainnet"),
        "{}",
        stderr(&out)
    );
}
