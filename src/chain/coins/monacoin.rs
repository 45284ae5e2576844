//! Monacoin: segwit, sha256d block hashes (Lyra2REv2 is only its proof of work).

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Monacoin with `DeserializerSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Monacoin`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Monacoin",
    net: "mainnet",
    genesis: "ff9f1c0116d19de7c9963845e129f9ed1bfc0b376eb54fd7afa42e0d418c8bb6",
    rpc_port: 9402,
    electrum_ports: (50001, 50002),
    daemon_dir: ".monacoin",
    datadir_subdir: "",
    peers: &[
        "electrumx.tamami-foundation.org s t",
        "electrumx3.monacoin.nl s t",
        "electrumx1.monacoin.ninja s t",
        "electrumx2.movsign.info s t",
        "electrum-mona.bitbank.cc s t",
    ],
    blacklist_url: Some("https://electrum-mona.org/blacklist.json"),
    addresses: AddressFormat {
        p2pkh: 0x32,
        p2sh: &[0x37, 0x05],
        // Monacoin Core's chainparams.
        bech32_hrp: Some("mona"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};

/// ElectrumX's `MonacoinTestnet`, which inherits `Monacoin.BLACKLIST_URL` (directory:
/// Monacoin Core's `testnet4`, as Litecoin Core's).
pub static TESTNET: AltCoin = AltCoin {
    name: "Monacoin",
    net: "testnet",
    genesis: "a2b106ceba3be0c6d097b2a6a6aacf9d638ba8258ae478158f449c321061e0b2",
    rpc_port: 19402,
    electrum_ports: (51001, 51002),
    daemon_dir: ".monacoin",
    datadir_subdir: "testnet4",
    peers: &[
        "electrumx1.testnet.monacoin.ninja s t",
        "electrumx1.testnet.monacoin.nl s t",
    ],
    blacklist_url: Some("https://electrum-mona.org/blacklist.json"),
    addresses: AddressFormat {
        p2pkh: 0x6f,
        p2sh: &[0x75, 0xc4],
        // Monacoin Core's chainparams.
        bech32_hrp: Some("tmona"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
