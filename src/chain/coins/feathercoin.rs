//! Feathercoin: segwit, sha256d block hashes (NeoScrypt is only its proof of work).

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Feathercoin with `DeserializerSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Feathercoin`. Its genesis hash is Litecoin's, as ElectrumX has it: Feathercoin
/// forked Litecoin's chain.
pub static MAINNET: AltCoin = AltCoin {
    name: "Feathercoin",
    net: "mainnet",
    genesis: "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2",
    rpc_port: 9337,
    electrum_ports: (50001, 50002),
    daemon_dir: ".feathercoin",
    datadir_subdir: "",
    peers: &[
        "electrumx-gb-1.feathercoin.network s t",
        "electrumx-gb-2.feathercoin.network s t",
        "electrumx-de-1.feathercoin.network s t",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x0e,
        p2sh: &[0x05],
        // Feathercoin Core's chainparams.
        bech32_hrp: Some("fc"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
