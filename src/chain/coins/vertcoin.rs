//! Vertcoin: segwit, sha256d block hashes (Verthash is only its proof of work).

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Vertcoin with `DeserializerSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Vertcoin`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Vertcoin",
    net: "mainnet",
    genesis: "4d96a915f49d40b1e5c2844d1ee2dccb90013a990ccea12c492d22110489f0c4",
    rpc_port: 5888,
    electrum_ports: (50001, 50002),
    daemon_dir: ".vertcoin",
    datadir_subdir: "",
    peers: &[
        "electrumx-vtc.cryptoverted.com t55001 s55002",
        "electrumx.javerity.com t5885 s5886",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x47,
        p2sh: &[0x05],
        // Vertcoin Core's chainparams.
        bech32_hrp: Some("vtc"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};

/// ElectrumX's `VertcoinTestnet` (directory: Bitcoin Core's `testnet3`, which Vertcoin Core
/// keeps).
pub static TESTNET: AltCoin = AltCoin {
    name: "Vertcoin",
    net: "testnet",
    genesis: "cee8f24feb7a64c8f07916976aa4855decac79b6741a8ec2e32e2747497ad2c9",
    rpc_port: 15888,
    electrum_ports: (50001, 50002),
    daemon_dir: ".vertcoin",
    datadir_subdir: "testnet3",
    peers: &["electrumx-tvtc.javerity.com t15885 s15886"],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x4a,
        p2sh: &[0xc4],
        // Vertcoin Core's chainparams.
        bech32_hrp: Some("tvtc"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
