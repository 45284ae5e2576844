//! Litecoin: segwit with MWEB, sha256d block hashes (scrypt is only its proof of work).

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::Litecoin,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Litecoin`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Litecoin",
    net: "mainnet",
    genesis: "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2",
    rpc_port: 9332,
    electrum_ports: (50001, 50002),
    daemon_dir: ".litecoin",
    datadir_subdir: "",
    peers: &[
        "ex.lug.gs s444",
        "electrum-ltc.bysh.me s t",
        "electrum-ltc.ddns.net s t",
        "electrum-ltc.wilv.in s t",
        "electrum.cryptomachine.com p1000 s t",
        "electrum.ltc.xurious.com s t",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x30,
        p2sh: &[0x32, 0x05],
        // Litecoin Core's chainparams.
        bech32_hrp: Some("ltc"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};

/// ElectrumX's `LitecoinTestnet`. Not in `COINS` yet: no real testnet block in the test data.
pub static TESTNET: AltCoin = AltCoin {
    name: "Litecoin",
    net: "testnet",
    genesis: "4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0",
    rpc_port: 19332,
    electrum_ports: (51001, 51002),
    daemon_dir: ".litecoin",
    // Litecoin Core's testnet directory.
    datadir_subdir: "testnet4",
    peers: &[
        "electrum-ltc.bysh.me s t",
        "electrum.ltc.xurious.com s t",
        "ipv6-only.electrum.random.re s t",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x6f,
        p2sh: &[0x3a, 0xc4],
        bech32_hrp: Some("tltc"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
