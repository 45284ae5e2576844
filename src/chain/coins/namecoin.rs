//! Namecoin: merged-mined (AuxPoW) headers, segwit, and name operations in output scripts.

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Namecoin with `DeserializerAuxPowSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::AuxPow,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Namecoin`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Namecoin",
    net: "mainnet",
    genesis: "000000000062b72c5e2ceb45fbc8587e807c155b0da735e6483dfba2f0a9c770",
    rpc_port: 8336,
    electrum_ports: (50001, 50002),
    daemon_dir: ".namecoin",
    datadir_subdir: "",
    peers: &[
        "198.50.223.25 s50002",
        "46.229.238.187 s57002",
        "198.50.223.27 s50002",
        "electrum-nmc.le-space.de s50002",
        "electrumx2.nmc.dotbit.zone s50002",
        "electrumx4.nmc.dotbit.zone s50002",
        "nmc.bitcoins.sk s50002",
        "nmc2.bitcoins.sk s57002",
        "ulrichard.ch s50006 t50005",
        "h6qrnwxtwiaahsw4qhk2nbutswwb54vnqso6jrxeuk6nwtfbos7jkoqd.onion s50002",
        "mqhok2edqcxdpklwovquuvvl2q5or4g2o777qwrinydgzfxjbixq76yd.onion s50002",
        "wirg2tsto7rme7n26lkd3ivbvxmjyy2pktlozwjuep22jcsfsghfqbqd.onion s50002",
        "quuzpffsddq3aim3gk4oiczzyt5okjjzf4zpe6okzo6qidao6rshynqd.onion s50002",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x34,
        p2sh: &[0x0d],
        // Namecoin Core's chainparams.
        bech32_hrp: Some("nc"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: true,
};
