//! Syscoin: merged-mined (AuxPoW) headers, sha256d block hashes, segwit.

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Syscoin with `DeserializerAuxPowSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::AuxPow,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Syscoin`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Syscoin",
    net: "mainnet",
    genesis: "0000022642db0346b6e01c2a397471f4f12e65d4f4251ec96c1f85367a61a7ab",
    rpc_port: 8370,
    electrum_ports: (50001, 50002),
    daemon_dir: ".syscoin",
    datadir_subdir: "",
    peers: &[],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x3f,
        p2sh: &[0x05],
        // Syscoin Core's chainparams.
        bech32_hrp: Some("sys"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
