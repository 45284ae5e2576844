//! Ferrite: a Litecoin fork with segwit and MWEB, sha256d block hashes.

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// Litecoin's layout: ElectrumX names `DeserializerSegWit`, but Ferrite carries Litecoin's MWEB
/// (its mainnet block 150,213 has a HogEx transaction and extension data), which only
/// [`TxFormat::Litecoin`] reads.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::Litecoin,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Ferrite`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Ferrite",
    net: "mainnet",
    genesis: "46ca17415c18e43f5292034ebf9bbd10de80a61fc6dc17180e6609f33d3b48f3",
    rpc_port: 9573,
    electrum_ports: (50001, 50002),
    daemon_dir: ".ferrite",
    datadir_subdir: "",
    peers: &[
        "enode1.ferritecoin.org s t",
        "enode2.ferritecoin.org s t",
        "enode3.ferritecoin.org s t",
    ],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x24,
        p2sh: &[0x23, 0x05],
        // Ferrite Core's chainparams.
        bech32_hrp: Some("fec"),
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
