//! Dogecoin: merged-mined (AuxPoW) headers, sha256d block hashes, no segwit addresses.

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX reads Dogecoin with `DeserializerAuxPowSegWit`.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::AuxPow,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// ElectrumX's `Dogecoin`. ElectrumX names no RPC port for it: 22555 is Dogecoin Core's.
pub static MAINNET: AltCoin = AltCoin {
    name: "Dogecoin",
    net: "mainnet",
    genesis: "1a91e3dace36e2be3bf030a65679fe821aa1d6ef92e7c9902eb318182c355691",
    rpc_port: 22555,
    electrum_ports: (50001, 50002),
    daemon_dir: ".dogecoin",
    datadir_subdir: "",
    peers: &[],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x1e,
        p2sh: &[0x16],
        bech32_hrp: None,
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};

/// ElectrumX's `DogecoinTestnet` (RPC port and directory: Dogecoin Core's). Not in `COINS`
/// yet: no real testnet block in the test data.
pub static TESTNET: AltCoin = AltCoin {
    name: "Dogecoin",
    net: "testnet",
    genesis: "bb0a78264637406b6360aad926284d544d7049f45189db5664f3c4d07350559e",
    rpc_port: 44555,
    electrum_ports: (50001, 50002),
    daemon_dir: ".dogecoin",
    datadir_subdir: "testnet3",
    peers: &[],
    blacklist_url: None,
    addresses: AddressFormat {
        p2pkh: 0x71,
        p2sh: &[0xc4],
        bech32_hrp: None,
        checksum: HashFn::Sha256d,
    },
    header_hash: HashFn::Sha256d,
    block: BLOCK,
    name_prefixes: false,
};
