//! Garlicoin: segwit, sha256d block hashes (Allium is only its proof of work).

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Garlicoin with `DeserializerSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Garlicoin`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Garlicoin",
    net: "mainnet",
    genesis: "2ada80bf415a89358d697569c96eb98cdbf4c3b8878ac5722c01284492e27228",
    rpc_port: 42068,
    electrum_ports: (50001, 50002),
    daemon_dir: ".garlicoin",
    datadir_subdir: "",
    peers: &[
        "us.node.garlico.in s",
        "ca.node.garlico.in s t",
        "sg.node.garlico.in s",
        "de.node.garlico.in s",
        "fr.garlium.crapules.org s",
        "uk.garlium.crapules.org s",
        "pl.garlium.crapules.org s",
        "ca.garlium.crapules.org s",
        "au.garlium.crapules.org s",
        "electrum.hotgrlc.com s t",
        "electrum.maxpuig.com s t",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x26,
        p2sh: &[0x32, 0x05],
        // Garlicoin Core's chainparams (`grlc1...` addresses).
        bech32_hrp: Some("grlc"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
