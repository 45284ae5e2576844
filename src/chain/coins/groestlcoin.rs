//! Groestlcoin: Groestl block hashes and base58 checksums, single-SHA-256 txids, segwit.

use crate::chain::altcoin::{AddressFormat, AltCoin, HashFn};
use crate::chain::family::{BlockFormat, HeaderFormat, TxFormat, TxidHash};

/// ElectrumX's `DeserializerGroestlcoin`: segwit, txid = SHA-256 of the non-witness bytes.
const BLOCK: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256,
};

/// Testnet and signet share prefixes (Groestlcoin Core's chainparams give both `tgrs`).
const TEST_ADDRESSES: AddressFormat = AddressFormat {
    p2pkh: 0x6f,
    p2sh: &[0xc4],
    bech32_hrp: Some("tgrs"),
    checksum: HashFn::Groestl,
};

/// ElectrumX's `Groestlcoin.BLACKLIST_URL`, which its testnet and signet inherit.
const BLACKLIST_URL: Option<&str> = Some("https://groestlcoin.org/blacklist.json");

/// ElectrumX's `Groestlcoin`.
pub static MAINNET: AltCoin = AltCoin {
    name: "Groestlcoin",
    net: "mainnet",
    genesis: "00000ac5927c594d49cc0bdb81759d0da8297eb614683d3acb62f0703b639023",
    rpc_port: 1441,
    electrum_ports: (50001, 50002),
    daemon_dir: ".groestlcoin",
    datadir_subdir: "",
    peers: &[
        "electrum1.groestlcoin.org s t",
        "electrum2.groestlcoin.org s t",
        "glzyzqiulwclsowniyjeg5tspdojfgiiizbpnepcxoswqkmsjzlkucqd.onion t",
        "jcv7kwu3gopzxp3r2ve43m6nahrxzc426hif4o3a2vt7wl4xq6tg3xqd.onion t",
    ],
    blacklist_url: BLACKLIST_URL,
    addresses: AddressFormat {
        p2pkh: 0x24,
        p2sh: &[0x05],
        // Groestlcoin Core's chainparams.
        bech32_hrp: Some("grs"),
        checksum: HashFn::Groestl,
    },
    header_hash: HashFn::Groestl,
    block: BLOCK,
    name_prefixes: false,
};

/// ElectrumX's `GroestlcoinTestnet` (directory: Groestlcoin Core's `testnet3`).
pub static TESTNET: AltCoin = AltCoin {
    name: "Groestlcoin",
    net: "testnet",
    genesis: "000000ffbb50fc9898cdd36ec163e6ba23230164c0052a28876255b7dcf2cd36",
    rpc_port: 17766,
    electrum_ports: (50001, 50002),
    daemon_dir: ".groestlcoin",
    datadir_subdir: "testnet3",
    peers: &[
        "electrum-test1.groestlcoin.org s t",
        "electrum-test2.groestlcoin.org s t",
        "v2wuvscywpli35kgolqrt2kw67rqfbfwfn4bv3pc6gtugkexqv675uqd.onion t",
        "75dycxl6lqxujplls3qkhkzffptzdfohv3y5um7s5nhyu6idayqmk7id.onion t",
    ],
    blacklist_url: BLACKLIST_URL,
    addresses: TEST_ADDRESSES,
    header_hash: HashFn::Groestl,
    block: BLOCK,
    name_prefixes: false,
};

/// ElectrumX's `GroestlcoinSignet`.
pub static SIGNET: AltCoin = AltCoin {
    name: "Groestlcoin",
    net: "signet",
    genesis: "0000007fcaa2a27993c6cde9e7818c254357af517b876ceba2f23592bb14ab31",
    rpc_port: 31441,
    electrum_ports: (50001, 50002),
    daemon_dir: ".groestlcoin",
    datadir_subdir: "signet",
    peers: &[],
    blacklist_url: BLACKLIST_URL,
    addresses: TEST_ADDRESSES,
    header_hash: HashFn::Groestl,
    block: BLOCK,
    name_prefixes: false,
};
