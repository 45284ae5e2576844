//! DigiByte: segwit, sha256d block hashes (its five mining algorithms are only proof of work).

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads DigiByte with `DeserializerSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `DigiByte`.
pub static MAINNET: AltCoin = AltCoin {
    name: "DigiByte",
    net: "mainnet",
    genesis: "7497ea1b465eb39f1c8f507bc877078fe016d6fcb6dfad3a64c98dcc6e1e8496",
    rpc_port: 12022,
    electrum_ports: (50001, 50002),
    daemon_dir: ".digibyte",
    datadir_subdir: "",
    peers: &[],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x1e,
        // DigiByte Core's chainparams: SCRIPT_ADDRESS 63 (`S...`), written, and
        // SCRIPT_ADDRESS_OLD 5, still read (ElectrumX leaves Bitcoin's 5 alone).
        p2sh: &[0x3f, 0x05],
        // DigiByte Core's chainparams.
        bech32_hrp: Some("dgb"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
