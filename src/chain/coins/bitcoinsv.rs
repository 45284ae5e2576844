//! Bitcoin SV: Bitcoin's blocks and addresses without segwit, sha256d block hashes.

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Bitcoin SV with the plain `Deserializer`. The segwit reader reads the same
/// bytes: a transaction without inputs, which the segwit marker would look like, is invalid.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `BitcoinSV` (genesis, RPC port and address bytes: Bitcoin's, which it
/// inherits; directory: Bitcoin SV's node keeps Bitcoin Core's `.bitcoin`).
pub static MAINNET: AltCoin = AltCoin {
    name: "BitcoinSV",
    net: "mainnet",
    genesis: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    rpc_port: 8332,
    electrum_ports: (50001, 50002),
    daemon_dir: ".bitcoin",
    datadir_subdir: "",
    peers: &[
        "electrumx.bitcoinsv.io s",
        "satoshi.vision.cash s",
        "sv.usebsv.com s t",
        "sv.jochen-hoenicke.de s t",
        "sv.satoshi.io s t",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x00,
        p2sh: &[0x05],
        bech32_hrp: None,
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
