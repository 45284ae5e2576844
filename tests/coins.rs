//! Every coin Ferrum claims, proven by real data: each fixture block of a coin in `COINS`
//! parses with the recorded block hash, previous hash and txids; every claimed altcoin network
//! has such a block; each coin's addresses round-trip through its scripts, with vectors taken
//! from outside Ferrum (their sources are cited beside them).

mod common;

use bitcoin::hashes::{Hash, sha256d};
use bitcoin::{BlockHash, ScriptBuf};
use ferrum::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash, parse_block_with};
use ferrum::chain::{COINS, Coin, coins, lookup};
use ferrum::types::hex_to_bytes;
use std::collections::BTreeSet;

/// A fixture block file: `<coin>_<net>_<height>.json[.gz]` under `tests/data/blocks`.
struct Fixture {
    file: String,
    coin: String,
    net: String,
    json: serde_json::Value,
    raw: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = common::data_path("blocks");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json") || f.ends_with(".json.gz"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let mut parts = file.split('_');
            let coin = parts.next().unwrap().to_string();
            let net = parts.next().unwrap().to_string();
            let json: serde_json::Value =
                serde_json::from_str(&common::read_data(&format!("blocks/{file}"))).unwrap();
            let raw = hex_to_bytes(json["block"].as_str().unwrap()).unwrap();
            Fixture {
                file,
                coin,
                net,
                json,
                raw,
            }
        })
        .collect()
}

fn recorded_txids(json: &serde_json::Value) -> Vec<&str> {
    json["tx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

/// Parses every fixture of a coin in `COINS` and checks it against what the node recorded.
/// Returns the (coin, net) pairs proven, and the files not also checked input by input and
/// output by output against rust-bitcoin's decoding of their transactions.
fn check_claimed_fixtures() -> (BTreeSet<(&'static str, &'static str)>, Vec<String>) {
    let mut proven = BTreeSet::new();
    let mut not_cross_checked = Vec::new();
    for f in fixtures() {
        let Some(coin) = lookup(&f.coin, &f.net) else {
            continue;
        };
        let file = &f.file;
        let parsed = coin
            .parse_block(&f.raw)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            parsed.hash.to_string(),
            f.json["hash"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(
            parsed.prev_hash.to_string(),
            f.json["previousblockhash"].as_str().unwrap(),
            "{file}"
        );
        let header = &f.raw[parsed.header.clone()];
        assert_eq!(coin.header_hash(header), parsed.hash, "{file}");
        // Sync checks the txids against the header's merkle root (double SHA-256 nodes for
        // every coin here, Groestlcoin's single-SHA-256 txids included).
        let root = bitcoin::merkle_tree::calculate_root(parsed.txs.iter().map(|t| t.txid))
            .map(|r: bitcoin::Txid| bitcoin::hashes::Hash::to_byte_array(r));
        assert_eq!(root, coin.header_merkle_root(header), "{file}");
        // What is stored and served: 80 bytes (an AuxPoW proof is cut), hashing the same.
        let served = coin.served_header(header);
        assert_eq!(served.len(), 80, "{file}");
        assert_eq!(coin.header_hash(served), parsed.hash, "{file}");
        assert_eq!(coin.header_prev_hash(header), parsed.prev_hash, "{file}");
        assert_eq!(coin.header_len(&f.raw), Ok(header.len()), "{file}");
        let txids: Vec<String> = parsed.txs.iter().map(|t| t.txid.to_string()).collect();
        assert_eq!(txids, recorded_txids(&f.json), "{file}");
        // Where rust-bitcoin can decode the transactions (all but Litecoin's MWEB ones), the
        // inputs, outputs and scripts must agree with it.
        let body = &f.raw[parsed.header.end..];
        if let Ok((txs, _)) =
            bitcoin::consensus::deserialize_partial::<Vec<bitcoin::Transaction>>(body)
        {
            assert_eq!(txs.len(), parsed.txs.len(), "{file}");
            for (i, (tx, p)) in txs.iter().zip(&parsed.txs).enumerate() {
                let outs = parsed.tx_outputs(p);
                assert_eq!(outs.len(), tx.output.len(), "{file} tx {i}");
                for (a, b) in outs.iter().zip(&tx.output) {
                    assert_eq!(a.value, b.value.to_sat());
                    assert_eq!(&f.raw[a.script.clone()], b.script_pubkey.as_bytes());
                }
                let ins = parsed.tx_inputs(p);
                if i > 0 {
                    assert_eq!(ins.len(), tx.input.len(), "{file} tx {i}");
                    for (a, b) in ins.iter().zip(&tx.input) {
                        assert_eq!(a.prev_vout, b.previous_output.vout);
                        assert_eq!(&a.prev_txid, b.previous_output.txid.as_byte_array());
                    }
                }
            }
        } else {
            not_cross_checked.push(f.file.clone());
        }
        proven.insert((coin.name(), coin.net()));
    }
    (proven, not_cross_checked)
}

#[test]
fn every_fixture_block_of_a_claimed_coin_parses_with_recorded_hashes_and_txids() {
    let (proven, not_cross_checked) = check_claimed_fixtures();
    // Bitcoin's 3 networks, Litecoin, Dogecoin, Namecoin, Groestlcoin's 3, DigiByte,
    // Vertcoin's 2, Monacoin's 2, Feathercoin, Garlicoin, Ferrite, Bitcoin SV, Syscoin.
    assert!(proven.len() >= 19, "{proven:?}");
    // Every block but the MWEB ones of Litecoin and Ferrite (rust-bitcoin cannot read the HogEx
    // transaction) is also checked input by input.
    assert_eq!(
        not_cross_checked,
        [
            "ferrite_mainnet_150213.json",
            "litecoin_mainnet_2265985.json"
        ]
    );
}

#[test]
fn every_claimed_altcoin_network_has_a_passing_fixture_block() {
    let (proven, _) = check_claimed_fixtures();
    for coin in COINS.iter().filter(|c| c.name() != "Bitcoin") {
        assert!(
            proven.contains(&(coin.name(), coin.net())),
            "{} {} is in COINS without a real block in tests/data/blocks",
            coin.name(),
            coin.net()
        );
    }
}

#[test]
fn the_litecoin_mweb_block_carries_hogex_and_extension_data() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.file == "litecoin_mainnet_2265985.json")
        .unwrap();
    let parsed = coins::litecoin::MAINNET.parse_block(&f.raw).unwrap();
    assert_eq!(parsed.txs.len(), 58);
    // rust-bitcoin reads the 57 ordinary transactions one by one, and they agree with ours...
    let mut pos = parsed.header.end + 1; // one-byte transaction count
    for (i, p) in parsed.txs[..57].iter().enumerate() {
        let (tx, used) =
            bitcoin::consensus::deserialize_partial::<bitcoin::Transaction>(&f.raw[pos..])
                .unwrap_or_else(|e| panic!("tx {i}: {e}"));
        assert_eq!(tx.compute_txid(), p.txid);
        assert_eq!(parsed.tx_outputs(p).len(), tx.output.len());
        pos += used;
    }
    // ...and the last is the HogEx: marker 0, flag 0x08 (MWEB, no witness), followed after its
    // locktime by the MWEB extension block, which the parser skips.
    assert_eq!(f.raw[pos + 4..pos + 6], [0, 0x08]);
    let hogex = &parsed.txs[57];
    let last_script_end = parsed.tx_outputs(hogex).last().unwrap().script.end;
    assert_eq!(f.raw[last_script_end], 0, "empty MWEB transaction");
    assert!(f.raw.len() > last_script_end + 5, "no extension data");
    // Bitcoin's format stops at that flag.
    let segwit = BlockFormat {
        header: HeaderFormat::Plain,
        tx: TxFormat::SegWit,
        txid: TxidHash::Sha256d,
    };
    assert!(parse_block_with(&f.raw, &segwit, |_| parsed.hash).is_err());
}

/// Dash blocks: the transaction format is proven (txids and previous hash), but Dash is not in
/// `COINS`: its block hash is X11, for which no trusted Rust crate exists.
#[test]
fn dash_fixture_transactions_parse_with_recorded_txids() {
    let dash = BlockFormat {
        header: HeaderFormat::Plain,
        tx: TxFormat::Dash,
        txid: TxidHash::Sha256d,
    };
    let mut checked = 0;
    for f in fixtures().into_iter().filter(|f| f.coin == "dash") {
        let parsed = parse_block_with(&f.raw, &dash, |_| BlockHash::all_zeros())
            .unwrap_or_else(|e| panic!("{}: {e}", f.file));
        assert_eq!(
            parsed.prev_hash.to_string(),
            f.json["previousblockhash"].as_str().unwrap()
        );
        let txids: Vec<String> = parsed.txs.iter().map(|t| t.txid.to_string()).collect();
        assert_eq!(txids, recorded_txids(&f.json), "{}", f.file);
        checked += 1;
    }
    assert_eq!(checked, 2);
    assert!(lookup("Dash", "mainnet").is_none());
}

/// DIP 2 special transactions from ElectrumX's `tests/lib/test_tx_dash.py` (`CB_TX`,
/// `PRO_UP_REV_TX`): each is consumed exactly, payload included.
#[test]
fn dash_special_transactions_are_consumed_exactly() {
    const CB_TX: &str = concat!(
        "0300050001000000000000000000000000000000000000000000000000000000000000",
        "0000ffffffff1303c407040e2f5032506f6f6c2d74444153482fffffffff0448d6a73d",
        "000000001976a914293859173a34194d445c2962b97383e2a93d7cb288ac22fc433e00",
        "0000001976a914bf09c602c6b8f1db246aba5c37ad1cfdcb16b15e88ace9259c000000",
        "00004341047559d13c3f81b1fadbd8dd03e4b5a1c73b05e2b980e00d467aa9440b29c7",
        "de23664dde6428d75cafed22ae4f0d302e26c5c5a5dd4d3e1b796d7281bdc9430f35ac",
        "00000000000000002a6a28be61411c3c79b7fd45923118ba74d340afb248ae2edafe78",
        "c15e2d1aa337c942000000000000000000000000260100c407040076629a6e42fb5191",
        "88f65889fd3ac0201be87aa227462b5643e8bb2ec1d7a82a",
    );
    const PRO_UP_REV_TX: &str = concat!(
        "030004000100366cd80169116da28e387413e8e3660a7aedd65002b320d0bd165eea8e",
        "ba52000000006a4730440220043a639f4554842f38253c75d066e70098ef02b141d5ff",
        "dea9fc408d307fce1202205d5d779f416fbc431847d19d83ae90c4036cf9925d3c4852",
        "cdd5df25d5843a48012102688d37c6d08a236d7952cdbc310dcb344ddae8b02e028720",
        "1e79fd774509e8abfeffffff01570b0000000000001976a91490c5ce9d8bfefe3526d8",
        "538cd0ed5e5d472c992a88ac00000000a40100b67ffbbd095de31ea38446754b6bf251",
        "287936d2881d58b7c4efae0b54c75e9f0000eb073521b60306717f1d4feb3e9022f886",
        "b97bf981137684716a7d3d7e45b7fe83f4bb5530f7c5954e8b1ad50a74a9e1d65dcdcb",
        "e4acb8cbe3671abc7911e8c3954856c4da7e5fd242f2e4f5546f08d90849245bc593d1",
        "605654e1a99cd0a79e9729799742c48d4920044666ad25a85fd093559c43e4900e634c",
        "371b9b8d89ba",
    );
    let dash = BlockFormat {
        header: HeaderFormat::Plain,
        tx: TxFormat::Dash,
        txid: TxidHash::Sha256d,
    };
    for (name, hex) in [("CB_TX", CB_TX), ("PRO_UP_REV_TX", PRO_UP_REV_TX)] {
        let tx = hex_to_bytes(hex).unwrap();
        let mut raw = vec![0u8; 80];
        raw.push(1);
        raw.extend_from_slice(&tx);
        let parsed = parse_block_with(&raw, &dash, |_| BlockHash::all_zeros())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            parsed.txs[0].txid.to_byte_array(),
            sha256d::Hash::hash(&tx).to_byte_array()
        );
        // Without the payload, the block is short: the payload is read, not guessed.
        raw.truncate(raw.len() - 1);
        assert!(parse_block_with(&raw, &dash, |_| BlockHash::all_zeros()).is_err());
    }
}

/// Each (address, scriptPubKey hex) pair maps both ways; an empty script stands for a source
/// that gives only the address, which must then decode and encode back to itself. Segwit
/// addresses are written lowercase.
fn check_addresses(coin: &dyn Coin, vectors: &[(&str, &str)]) {
    for (address, script_hex) in vectors {
        let what = format!("{} {} {address}", coin.name(), coin.net());
        let script = coin
            .address_to_script(address)
            .unwrap_or_else(|| panic!("{what}: not decoded"));
        if !script_hex.is_empty() {
            assert_eq!(script.to_hex_string(), *script_hex, "{what}");
        }
        let written = if script.is_witness_program() {
            address.to_lowercase()
        } else {
            address.to_string()
        };
        assert_eq!(coin.script_to_address(&script), Some(written), "{what}");
    }
}

/// Addresses of one network are not addresses of another.
fn check_rejected(coin: &dyn Coin, addresses: &[&str]) {
    for address in addresses {
        assert_eq!(
            coin.address_to_script(address),
            None,
            "{} {} accepted {address}",
            coin.name(),
            coin.net()
        );
    }
}

#[test]
fn litecoin_addresses() {
    let main = &coins::litecoin::MAINNET;
    check_addresses(
        main,
        &[
            // Litecoin Core's src/test/data/key_io_valid.json (litecoin-project/litecoin).
            (
                "LT2KVaAy1ppRuxRgrS5RNU3vBsy7RibPeA",
                "76a914558dbca7118cd5894502767c7b2ffc21a22f54db88ac",
            ),
            (
                "MHrYRxAiMNBTku3eoDHwhA1LQGDjUStZW2",
                "a9146d328a5b2a20d943a641c8d29b6cc3c2d2df85d387",
            ),
            (
                "LbfVMz974gbbGFqXF7FZUpSBWSbwBHDwR5",
                "76a914b4565f467408e9e1c1d2a3b0ccdeff84db3a3b9388ac",
            ),
            // ElectrumX's tests/lib/test_addresses.py (hash160 only).
            ("LNBAaWuZmipg29WXfz5dtAm1pjo8FEH8yg", ""),
            ("MPAZsQAGrnGWKfQbtFJ2Dfw9V939e7D3E2", ""),
            // alexdupre/bitcoin-lib, src/test/scala/com/alexdupre/litecoin/Bech32Spec.scala.
            (
                "LTC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KGMN4N9",
                "0014751e76e8199196d454941c45d1b3a323f1433bd6",
            ),
        ],
    );
    // Litecoin still reads the Bitcoin-style P2SH form, and writes its own.
    let bitcoin_style = main
        .address_to_script("3GxRZWkJufR5XA8hnNJgQ2gkASSheoBcmW") // ElectrumX's vector
        .unwrap();
    assert_eq!(
        main.address_to_script("MPAZsQAGrnGWKfQbtFJ2Dfw9V939e7D3E2"),
        Some(bitcoin_style)
    );
    check_rejected(
        main,
        &[
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            // Bech32Spec.scala's invalid addresses.
            "tltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9",
            "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
            // A mainnet address with one character changed.
            "LT2KVaAy1ppRuxRgrS5RNU3vBsy7RibPeB",
        ],
    );
    // Testnet (defined, not yet in COINS): key_io_valid.json and Bech32Spec.scala again.
    check_addresses(
        &coins::litecoin::TESTNET,
        &[
            (
                "mwXn5Vhicdav8Av3KMokx4YNuHoGRKxtWs",
                "76a914afa9e672141e283dfbcc1cf28f3793a856d3878488ac",
            ),
            (
                "QXaUgLHkZcbJb2j5XgMYzY8cF9YM48Y81Z",
                "a9147860667e60a6545e18e541984094b29c9c46991b87",
            ),
            (
                "tltc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qsnr4fp",
                "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
            ),
        ],
    );
}

#[test]
fn dogecoin_addresses() {
    // Dogecoin Core's src/test/data/key_io_valid.json (dogecoin/dogecoin).
    check_addresses(
        &coins::dogecoin::MAINNET,
        &[
            (
                "DEQU7G2Chw4r1gSKZt2GfKBpGbkbQSwp3S",
                "76a91465a16059864a2fdbc7c99a4723a8395bc6f188eb88ac",
            ),
            (
                "A36czoRusM4VxnNiEjTaaDcMyr4GB73xw1",
                "a91474f209f6ea907e2ea48f74fae05782ae8a66525787",
            ),
            (
                "9tg8sLnB9okjuNSdgtAWrNPcgijs1yMwBE",
                "a914188f91a931947eddd7432d6e614387e32b24470987",
            ),
        ],
    );
    check_addresses(
        &coins::dogecoin::TESTNET,
        &[(
            "nbpzakKSn16ZAp7nXuu9tELBrmiVpEyV1Q",
            "76a91453c0307d6851aa0ce7825ba883c6bd9ad242b48688ac",
        )],
    );
    // Dogecoin has no segwit addresses (its key_io vectors' `dg1...` are not in use).
    check_rejected(
        &coins::dogecoin::MAINNET,
        &[
            "dg1qw508d6qejxtdg4y5r3zarvary0c5xw7k2npgug",
            "LT2KVaAy1ppRuxRgrS5RNU3vBsy7RibPeA",
        ],
    );
    let p2wpkh = ScriptBuf::from_hex("0014751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
    assert_eq!(coins::dogecoin::MAINNET.script_to_address(&p2wpkh), None);
}

#[test]
fn namecoin_addresses() {
    let main = &coins::namecoin::MAINNET;
    check_addresses(
        main,
        &[
            // namecoin/namecoin-core, test/functional/rpc_validateaddress.py.
            (
                "nc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q5r8hjk",
                "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
            ),
            (
                "nc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqwd67vg",
                "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            ),
            // namecoin-core, src/test/name_tests.cpp and src/test/rpc_tests.cpp (a P2SH).
            ("N5e1vXUUL3KfhPyVjQZSes1qQ7eyarDbUU", ""),
            ("6WXzX1jC3dSoR8TkQLD8PTyDEcY698wDZz", ""),
        ],
    );
    check_rejected(
        main,
        &[
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        ],
    );
}

/// Every output of ElectrumX's Namecoin transaction fixtures (tests/transactions/): its address
/// is the recorded one, name operation or not, and that address pays to the script's address
/// part.
#[test]
fn namecoin_name_scripts_map_to_their_owner_s_address() {
    let coin = &coins::namecoin::MAINNET;
    let mut with_name = 0;
    let dir = common::data_path("transactions");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.starts_with("namecoin_mainnet_"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5);
    for file in files {
        let tx: serde_json::Value =
            serde_json::from_str(&common::read_data(&format!("transactions/{file}"))).unwrap();
        for out in tx["vout"].as_array().unwrap() {
            let spk = &out["scriptPubKey"];
            let script = ScriptBuf::from_hex(spk["hex"].as_str().unwrap()).unwrap();
            let address = spk["address"]
                .as_str()
                .or_else(|| spk["addresses"][0].as_str())
                .unwrap();
            assert_eq!(
                coin.script_to_address(&script).as_deref(),
                Some(address),
                "{file}"
            );
            let owner = coin.address_to_script(address).unwrap();
            assert_eq!(
                coin.address_script(script.as_bytes()),
                owner.as_bytes(),
                "{file}"
            );
            if spk.get("nameOp").is_some() {
                assert_ne!(owner, script, "{file}: the name prefix was not stripped");
                with_name += 1;
            } else {
                assert_eq!(owner, script, "{file}");
            }
        }
    }
    assert_eq!(with_name, 5);
}

#[test]
fn groestlcoin_addresses() {
    let main = &coins::groestlcoin::MAINNET;
    check_addresses(
        main,
        &[
            // Groestlcoin/groestlcoinj, core/src/test/java/org/bitcoinj/base/LegacyAddressTest.java.
            (
                "Fbvi6bnjhAjghrwk76S8auXu3qFkj4iMrf",
                "76a9144a22c3c4cbb31e4d03b15550636762bda0baf85a88ac",
            ),
            (
                "35b9vsyH1KoFT5a5KtrKusaCcPLkh4FHmu",
                "a9142ac4b0b501117cc8119c5797b519538d4942e90e87",
            ),
            // ElectrumX's tests/lib/test_addresses.py: hash160 206168f5...3532.
            (
                "FY7vmDL7FZGACwqVNx5p4fVaGghojWM5AF",
                "76a914206168f5322583ff37f8e55665a4789ae896353288ac",
            ),
            // groestlcoinj's SegwitAddressTest.java (example_p2wpkh_mainnet, VALID_ADDRESSES).
            (
                "grs1qw508d6qejxtdg4y5r3zarvary0c5xw7k3k4sj5",
                "0014751e76e8199196d454941c45d1b3a323f1433bd6",
            ),
            (
                "grs1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqddt7at",
                "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            ),
        ],
    );
    // A Groestlcoin address carries a Groestl checksum, so Bitcoin's `3...` form of the same
    // hash is not one (and the other way round).
    check_rejected(
        main,
        &[
            "3GxRZWkJufR5XA8hnNJgQ2gkASSheoBcmW",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            // SegwitAddressTest.java's INVALID_ADDRESSES: bad checksum.
            "grs1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
        ],
    );
    for test in [&coins::groestlcoin::TESTNET, &coins::groestlcoin::SIGNET] {
        check_addresses(
            test,
            &[
                // LegacyAddressTest.java again.
                (
                    "n4eA2nbYqErp7H6jebchxAN59DmNpMwi9g",
                    "76a914fda79a24e50ff70ff42f7d89585da5bd19d9e5cc88ac",
                ),
                (
                    "2MuVSxtfivPKJe93EC1Tb9UhJtGhsn17bXs",
                    "a91418a0e827269b5211eb51a4af1b2fa69333efa72287",
                ),
                // groestlcoinj's SegwitAddressTest.java (example_p2wsh_testnet,
                // example_p2wpkh_testnet).
                (
                    "tgrs1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3quvjfuq",
                    "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
                ),
                (
                    "tgrs1qy2lg7uqh56q6trvl2eh6qmrlxpzysank09q2xs",
                    "001422be8f7017a681a58d9f566fa06c7f3044487676",
                ),
            ],
        );
        check_rejected(test, &["Fbvi6bnjhAjghrwk76S8auXu3qFkj4iMrf"]);
    }
}

/// Addresses of the coins whose vectors come from their fixture blocks: each P2PKH (or P2SH)
/// output script named beside it, with the address its version byte gives, and the same
/// hash160 as the other script types. Every address here was written independently of Ferrum
/// (Python, with base58check and BIP 173/350's reference bech32 code).
#[test]
fn digibyte_addresses() {
    let main = &coins::digibyte::MAINNET;
    check_addresses(
        main,
        &[
            // digibyte_mainnet_4394891.json, coinbase 9d4ad4e2... output 1.
            (
                "DGx7dRSWNT4FanvbMH5ufbT8v4AgafssX5",
                "76a914818dd7c871d1da14dff3a1ef0a1774720892d9d188ac",
            ),
            // subdialia/multichain, chain/digibyte/address_test.go.
            ("DBLsEv4FdFPGrMWzcagDQvoKgUL2CikhMf", ""),
            // That output's hash160 as P2SH (`S...`) and P2WPKH.
            (
                "SZ7281H1oQMAa6XTA85RfjS6ghfp3rkFEB",
                "a914818dd7c871d1da14dff3a1ef0a1774720892d9d187",
            ),
            (
                "dgb1qsxxa0jr368dpfhln58hs59m5wgyf9kw36gu8kl",
                "0014818dd7c871d1da14dff3a1ef0a1774720892d9d1",
            ),
        ],
    );
    // DigiByte Core still reads the old Bitcoin-style P2SH form, and writes its own.
    assert_eq!(
        main.address_to_script("3DW31hzJcwUM8xSRjnkwYTeUBSj6krZ4XA"),
        main.address_to_script("SZ7281H1oQMAa6XTA85RfjS6ghfp3rkFEB")
    );
    check_rejected(
        main,
        &[
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "LT2KVaAy1ppRuxRgrS5RNU3vBsy7RibPeA",
            // The fixture's address with one character changed.
            "DGx7dRSWNT4FanvbMH5ufbT8v4AgafssX6",
        ],
    );
}

#[test]
fn vertcoin_addresses() {
    check_addresses(
        &coins::vertcoin::MAINNET,
        &[
            // vertcoin_mainnet_1849000.json, coinbase 5ebe6edf... output 1.
            (
                "VwAoUyZXdYteVSz4hJRAfdwbrbgyAmZDSz",
                "76a914e83d9c3ea18fc88a3d8182a5677395f3e5b04e6a88ac",
            ),
            // That output's hash160 as P2SH and P2WPKH.
            (
                "3NrzVotWmeJpWqnM5cS8fMygKJgiEdPfyC",
                "a914e83d9c3ea18fc88a3d8182a5677395f3e5b04e6a87",
            ),
            (
                "vtc1qaq7ec04p3lyg50vps2jkwuu470jmqnn2dwdzdv",
                "0014e83d9c3ea18fc88a3d8182a5677395f3e5b04e6a",
            ),
        ],
    );
    check_addresses(
        &coins::vertcoin::TESTNET,
        &[
            // vertcoin_testnet_545000.json, coinbase 1ce5b13d... output 0 (a P2SH).
            (
                "2NFAX4jKgvAKTvGZsPAK6qXFL24ALqrakiW",
                "a914f06ef13b9ffd1c56f7e40f61b17b6fec6c86090787",
            ),
            // That output's hash160 as P2PKH and P2WPKH.
            (
                "X9vvwUxYJ9na9PZJPygDgE3MEWjG9zFR6U",
                "76a914f06ef13b9ffd1c56f7e40f61b17b6fec6c86090788ac",
            ),
            (
                "tvtc1q7ph0zwull5w9dalypasmz7m0a3kgvzg8t9lqul",
                "0014f06ef13b9ffd1c56f7e40f61b17b6fec6c860907",
            ),
        ],
    );
    check_rejected(
        &coins::vertcoin::MAINNET,
        &[
            "2NFAX4jKgvAKTvGZsPAK6qXFL24ALqrakiW",
            "tvtc1q7ph0zwull5w9dalypasmz7m0a3kgvzg8t9lqul",
        ],
    );
    check_rejected(
        &coins::vertcoin::TESTNET,
        &[
            "VwAoUyZXdYteVSz4hJRAfdwbrbgyAmZDSz",
            "vtc1qaq7ec04p3lyg50vps2jkwuu470jmqnn2dwdzdv",
        ],
    );
}

#[test]
fn monacoin_addresses() {
    let main = &coins::monacoin::MAINNET;
    check_addresses(
        main,
        &[
            // monacoin_mainnet_1145140.json, coinbase 64c5bd3c... output 1.
            (
                "MDDHPU2xKJ3SwRer4C7eYmMvagAgNkAmAU",
                "76a9143a4616efd134b1576d0f97906cff2b65ad600ea688ac",
            ),
            // That output's hash160 as P2SH and P2WPKH.
            (
                "PDuJK1XPsCMq2bMHBHnEyPirjCTPvNzqDn",
                "a9143a4616efd134b1576d0f97906cff2b65ad600ea687",
            ),
            (
                "mona1q8frpdm73xjc4wmg0j7gxeletvkkkqr4xf5a72f",
                "00143a4616efd134b1576d0f97906cff2b65ad600ea6",
            ),
        ],
    );
    // Monacoin still reads the Bitcoin-style P2SH form, and writes its own.
    assert_eq!(
        main.address_to_script("37195aczNBC28vNwxK8Jj87XFyaEQdjQxW"),
        main.address_to_script("PDuJK1XPsCMq2bMHBHnEyPirjCTPvNzqDn")
    );
    // Testnet's block has no P2PKH or P2SH output (a P2PK coinbase): the mainnet hash160.
    let test = &coins::monacoin::TESTNET;
    check_addresses(
        test,
        &[
            (
                "mkq5T6DXdJJtpsA8YnS68QxuyStDmbZrkC",
                "76a9143a4616efd134b1576d0f97906cff2b65ad600ea688ac",
            ),
            (
                "pArhMk1FtP69jTzehJS13AbdkURt1Dr6Ve",
                "a9143a4616efd134b1576d0f97906cff2b65ad600ea687",
            ),
            (
                "tmona1q8frpdm73xjc4wmg0j7gxeletvkkkqr4x300pqn",
                "00143a4616efd134b1576d0f97906cff2b65ad600ea6",
            ),
        ],
    );
    assert_eq!(
        test.address_to_script("2MxZM9KZ1ydhNLi1VdSkBM56nUKnQA6PDpp"),
        test.address_to_script("pArhMk1FtP69jTzehJS13AbdkURt1Dr6Ve")
    );
    check_rejected(main, &["mkq5T6DXdJJtpsA8YnS68QxuyStDmbZrkC"]);
    check_rejected(test, &["MDDHPU2xKJ3SwRer4C7eYmMvagAgNkAmAU"]);
}

#[test]
fn feathercoin_addresses() {
    check_addresses(
        &coins::feathercoin::MAINNET,
        &[
            // feathercoin_mainnet_2001000.json, coinbase 34f83ad3... output 0.
            (
                "6fy2S5mL9kF9fVsM9Qz71NgzVR3fPSumoU",
                "76a9141881bf27015e39946380a9d609a769e91548c8a488ac",
            ),
            // That output's hash160 as P2SH and P2WPKH.
            (
                "33vba75jm85GJbcZvdzEeFEupsjAudwv3K",
                "a9141881bf27015e39946380a9d609a769e91548c8a487",
            ),
            (
                "fc1qrzqm7fcptcuegcuq48tqnfmfay253j9yhxv5dc",
                "00141881bf27015e39946380a9d609a769e91548c8a4",
            ),
        ],
    );
    check_rejected(
        &coins::feathercoin::MAINNET,
        &[
            "LT2KVaAy1ppRuxRgrS5RNU3vBsy7RibPeA",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ],
    );
}

#[test]
fn garlicoin_addresses() {
    let main = &coins::garlicoin::MAINNET;
    check_addresses(
        main,
        &[
            // garlicoin_mainnet_42069.json, coinbase f498246b... output 1.
            (
                "GSsDmDyxBPNvo8C7Tx6GDGeyLewarnhmRe",
                "76a91462f80734f8a48eae677bb850a512c4c5a6a3e01088ac",
            ),
            // That output's hash160 as P2SH.
            (
                "MGvTaXZQhYwScKs9kz662mvQti2uTCqdM9",
                "a91462f80734f8a48eae677bb850a512c4c5a6a3e01087",
            ),
            // The mining example of pool.garlico.in's documentation (a `ccminer -u` address).
            (
                "grlc1qu2svj6l7qkk2esv5tx9csdxfsru7l90ys9u38u",
                "0014e2a0c96bfe05acacc194598b8834c980f9ef95e4",
            ),
        ],
    );
    assert_eq!(
        main.address_to_script("3AiKGe9SkS61opbFf76kD8g1a1STNjzm7n"),
        main.address_to_script("MGvTaXZQhYwScKs9kz662mvQti2uTCqdM9")
    );
    check_rejected(main, &["ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9"]);
}

#[test]
fn ferrite_addresses() {
    let main = &coins::ferrite::MAINNET;
    check_addresses(
        main,
        &[
            // ferrite_mainnet_143580.json: coinbase output 1, tx 3 output 0 (a P2SH), tx 1
            // output 0 (a P2WPKH).
            (
                "FZPZoh1hMAEL8xVQEWZdAGS4GbxMvUmrh5",
                "76a9142e4eb268145a9862dc110e1b6e406b558398b61388ac",
            ),
            (
                "FJXaNFECrfpQtojrU6WREJgPs6gALdwtx2",
                "a9148b489b3c4768c40cfe38eb77506a77eb7eb50f1887",
            ),
            (
                "fec1q5mahresp5pqgtglcltr78d93servf2t7m2epj6",
                "0014a6fb71e601a04085a3f8fac7e3b4b18646c4a97e",
            ),
            // ferrite_mainnet_150213.json: tx 1 outputs 2 (P2SH) and 0 (P2WPKH).
            (
                "FMHShbT8KFeEgwE6uZa2Tf1LzULtqbXfAf",
                "a914a984c2bc37fa32f1b033fb1a35d57a641c44610f87",
            ),
            (
                "fec1q0v0lkjgfjamvjvxjjutcfkdcy6arfcjam0gdjj",
                "00147b1ffb49099776c930d2971784d9b826ba34e25d",
            ),
        ],
    );
    assert_eq!(
        main.address_to_script("3EPUpzHZZFv8MoZFjWWrgYWnyxws2vTh77"),
        main.address_to_script("FJXaNFECrfpQtojrU6WREJgPs6gALdwtx2")
    );
    check_rejected(
        main,
        &[
            // ferrite_testnet_6282's coinbase output, a testnet address.
            "tfec1q35skew8jasgnu5ytcs624rpkq6jsmjzyg5g0uf",
            "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9",
        ],
    );
}

#[test]
fn bitcoinsv_addresses() {
    let main = &coins::bitcoinsv::MAINNET;
    check_addresses(
        main,
        &[
            // bitcoinsv_mainnet_100000.json (Bitcoin's block 100,000), tx 1 output 0.
            (
                "1JqDybm2nWTENrHvMyafbSXXtTk5Uv5QAn",
                "76a914c398efa9c392ba6013c5e04ee729755ef7f58b3288ac",
            ),
            // ElectrumX's tests/lib/test_addresses.py (BitcoinCash, the same prefixes).
            ("13xDKJbjh4acmLpNVr6Lc9hFcXRr9fyt4x", ""),
            ("3GxRZWkJufR5XA8hnNJgQ2gkASSheoBcmW", ""),
        ],
    );
    // No segwit: neither read nor written.
    check_rejected(main, &["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"]);
    let p2wpkh = ScriptBuf::from_hex("0014751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
    assert_eq!(main.script_to_address(&p2wpkh), None);
}

#[test]
fn syscoin_addresses() {
    let main = &coins::syscoin::MAINNET;
    check_addresses(
        main,
        &[
            // syscoin_mainnet_430000.json, coinbase cd413666... output 1.
            (
                "SVwUBrcAmFMfGtZgBr33292qjPEbub4tnv",
                "76a9145ed710a7a82410e32ff0d29fe346b6b5ae0b8e6088ac",
            ),
            // That output's hash160 as P2SH.
            (
                "3ALV5ZKTanUqqkUemWiYtsFDE8HtewENd4",
                "a9145ed710a7a82410e32ff0d29fe346b6b5ae0b8e6087",
            ),
            // A legacy/segwit pair of one key, "node verified", from a public Syscoin address
            // converter's tests; and a wallet's validation test (sys1qa2es...).
            (
                "SPd281HLz89nvKZ1js6eeefD3YsjcP78AX",
                "76a9141989105d091672328525ca2f515e20c4cea9161a88ac",
            ),
            (
                "sys1qrxy3qhgfzeer9pf9egh4zh3qcn82j9s6ah9sja",
                "00141989105d091672328525ca2f515e20c4cea9161a",
            ),
            (
                "sys1qa2esanq7szrpckvlcnu6gwksc4p5xd4efjn408",
                "0014eab30ecc1e80861c599fc4f9a43ad0c5434336b9",
            ),
        ],
    );
    check_rejected(
        main,
        &[
            // A truncated address from that validation test, rejected there too.
            "sys1qa2esanq7szrpckvlcnu6gwksc4p5xd4efjn",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ],
    );
}

#[test]
fn seeds_and_ports_are_electrumx_s() {
    assert_eq!(coins::vertcoin::MAINNET.peers().len(), 2);
    assert_eq!(coins::monacoin::MAINNET.peers().len(), 5);
    assert_eq!(coins::garlicoin::MAINNET.peers().len(), 11);
    assert_eq!(coins::bitcoinsv::MAINNET.peers().len(), 5);
    assert!(coins::digibyte::MAINNET.peers().is_empty());
    assert!(coins::syscoin::MAINNET.peers().is_empty());
    assert_eq!(coins::digibyte::MAINNET.default_rpc_port(), 12022);
    assert_eq!(coins::syscoin::MAINNET.default_rpc_port(), 8370);
    assert_eq!(
        coins::monacoin::TESTNET.default_electrum_ports(),
        (51001, 51002)
    );
    assert_eq!(
        coins::monacoin::TESTNET.blacklist_url(),
        Some("https://electrum-mona.org/blacklist.json")
    );
    assert_eq!(coins::litecoin::MAINNET.peers().len(), 6);
    assert_eq!(coins::namecoin::MAINNET.peers().len(), 13);
    assert_eq!(coins::groestlcoin::MAINNET.peers().len(), 4);
    assert!(coins::dogecoin::MAINNET.peers().is_empty());
    assert_eq!(coins::litecoin::MAINNET.default_rpc_port(), 9332);
    assert_eq!(
        coins::litecoin::TESTNET.default_electrum_ports(),
        (51001, 51002)
    );
    assert_eq!(coins::groestlcoin::SIGNET.default_rpc_port(), 31441);
    assert_eq!(
        coins::groestlcoin::MAINNET.blacklist_url(),
        Some("https://groestlcoin.org/blacklist.json")
    );
}
