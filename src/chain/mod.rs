//! Coin abstraction: everything that differs between coins and networks.
//!
//! A [`Coin`] says which genesis block, default ports and data directory a network has, how its
//! headers are sized and hashed, how its blocks are parsed for indexing, how addresses map to
//! scripts, and which block sources its daemon offers. The rest of Ferrum only talks to this
//! trait, so adding a coin is one small file in this module plus a line in [`COINS`]; nothing in
//! the index, sync or protocol code changes.
//!
//! Bitcoin has its own type and the zero-copy parser of [`parse`]; every other coin is an
//! [`AltCoin`] static in [`coins`], its block layout a [`family::BlockFormat`].
//!
//! This module must not do I/O: it is pure data and parsing.

mod altcoin;
pub mod auxpow;
mod bitcoin;
pub mod coins;
pub mod family;
pub mod names;
pub mod parse;

use ::bitcoin::BlockHash;
use ::bitcoin::ScriptBuf;

pub use self::bitcoin::Bitcoin;
pub use altcoin::{AddressFormat, AltCoin, HashFn};
pub use parse::{ParsedBlock, ParsedTx, TxIn, TxOut};

/// Where the daemon can serve blocks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// Binary REST: `/rest/block/<hash>.bin` and `/rest/spenttxouts/<hash>.bin` (Core >= 30),
    /// falling back to JSON-RPC when REST is off.
    RestWithSpentOutputs,
    /// Raw blocks only (`getblock <hash> 0`, or REST `/rest/block`): altcoin daemons offer
    /// neither spent outputs nor `getblock <hash> 3`, so Ferrum must resolve what each input
    /// spends itself.
    RawBlocksOnly,
}

/// A coin on one network (e.g. Bitcoin regtest). Implementations are static singletons.
pub trait Coin: Send + Sync + 'static {
    /// Coin name as ElectrumX's `COIN` spells it, e.g. `Bitcoin`.
    fn name(&self) -> &'static str;
    /// Network name as ElectrumX's `NET` spells it: `mainnet`, `testnet`, `testnet4`, `signet`,
    /// `regtest`.
    fn net(&self) -> &'static str;
    /// Hash of the genesis block.
    fn genesis_hash(&self) -> BlockHash;
    /// The daemon's default JSON-RPC port.
    fn default_rpc_port(&self) -> u16;
    /// Default Electrum ports: (tcp, ssl).
    fn default_electrum_ports(&self) -> (u16, u16);
    /// Seed peers in ElectrumX's form (`"electrum.example.com s t"`, a bare `s`/`t` meaning
    /// the default port), ElectrumX's `PEERS` of the coin.
    fn peers(&self) -> &'static [&'static str] {
        &[]
    }
    /// The default `BLACKLIST_URL` (ElectrumX's `BLACKLIST_URL` of the coin).
    fn blacklist_url(&self) -> Option<&'static str> {
        None
    }
    /// The daemon's default data directory, under the home directory (Linux): `.bitcoin`,
    /// `.litecoin`, ...
    fn daemon_dir(&self) -> &'static str {
        ".bitcoin"
    }
    /// Subdirectory of the daemon's data directory that holds this network's files (and its
    /// `.cookie`), e.g. `regtest`; empty for mainnet.
    fn datadir_subdir(&self) -> &'static str;
    /// Length in bytes of the header that starts `data` (fixed 80 for Bitcoin; variable for
    /// AuxPoW and Equihash coins). Errors when `data` is too short to tell.
    fn header_len(&self, data: &[u8]) -> Result<usize, parse::ParseError>;
    /// The part of a block's header that is stored and served to clients
    /// (`blockchain.block.header`): all of it, except that AuxPoW coins serve the 80-byte
    /// header without its merged-mining proof, as ElectrumX does.
    fn served_header<'a>(&self, header: &'a [u8]) -> &'a [u8] {
        header
    }
    /// Hash of a serialized header, with the coin's header hash function.
    fn header_hash(&self, header: &[u8]) -> BlockHash;
    /// Hash of the previous block, read from a serialized header.
    fn header_prev_hash(&self, header: &[u8]) -> BlockHash;
    /// Merkle root of the block's transactions, read from a serialized header.
    fn header_merkle_root(&self, header: &[u8]) -> Option<[u8; 32]> {
        header.get(36..68)?.try_into().ok()
    }
    /// The part of an output script that identifies its address, which the address index keys
    /// on: the whole script, except for coins whose scripts can carry a prefix that does not
    /// change who owns the output (Namecoin's name operations, see [`names`]).
    fn address_script<'a>(&self, script: &'a [u8]) -> &'a [u8] {
        script
    }
    /// Parses a raw block for indexing: header, txids, prevouts and output scripts.
    fn parse_block(&self, raw: &[u8]) -> Result<ParsedBlock, parse::ParseError> {
        let header_len = self.header_len(raw)?;
        parse::parse_block(raw, header_len, |h| self.header_hash(h))
    }
    /// Parses one transaction alone (as `getrawtransaction` serves it, for the mempool): a
    /// [`ParsedBlock`] holding that transaction, and its virtual size.
    fn parse_transaction(&self, raw: &[u8]) -> Result<(ParsedBlock, u64), parse::ParseError> {
        family::parse_transaction_with(raw, &family::BITCOIN_FORMAT)
    }
    /// Which block sources the daemon of this coin offers.
    fn block_source(&self) -> BlockSource;
    /// The height from which taproot outputs can be spent by key (BIP341), hence where silent
    /// payments (BIP352) start; `None` for a coin without taproot.
    fn taproot_height(&self) -> Option<u32> {
        None
    }
    /// The scriptPubKey an address pays to, or `None` when it is not an address of this network.
    fn address_to_script(&self, address: &str) -> Option<ScriptBuf>;
    /// The address of a scriptPubKey, when it has one.
    fn script_to_address(&self, script: &::bitcoin::Script) -> Option<String>;
}

/// Every coin/network Ferrum knows, a coin's networks side by side. An altcoin network is
/// here only when a real block of it is in the test data (`tests/coins.rs` checks).
pub static COINS: &[&dyn Coin] = &[
    &Bitcoin::MAINNET,
    &Bitcoin::TESTNET,
    &Bitcoin::TESTNET4,
    &Bitcoin::SIGNET,
    &Bitcoin::REGTEST,
    &coins::litecoin::MAINNET,
    &coins::dogecoin::MAINNET,
    &coins::namecoin::MAINNET,
    &coins::groestlcoin::MAINNET,
    &coins::groestlcoin::TESTNET,
    &coins::groestlcoin::SIGNET,
    &coins::digibyte::MAINNET,
    &coins::vertcoin::MAINNET,
    &coins::vertcoin::TESTNET,
    &coins::monacoin::MAINNET,
    &coins::monacoin::TESTNET,
    &coins::feathercoin::MAINNET,
    &coins::garlicoin::MAINNET,
    &coins::ferrite::MAINNET,
    &coins::bitcoinsv::MAINNET,
    &coins::syscoin::MAINNET,
];

/// Finds a coin by ElectrumX's `COIN` and `NET` names (case-insensitive).
pub fn lookup(coin: &str, net: &str) -> Option<&'static dyn Coin> {
    COINS
        .iter()
        .copied()
        .find(|c| c.name().eq_ignore_ascii_case(coin) && c.net().eq_ignore_ascii_case(net))
}

/// `ferrum coins`: every supported COIN and NET with its defaults, one line each, under a
/// header.
pub fn coins_table() -> String {
    let mut out = format!(
        "{:<12} {:<9} {:>8} {:>6} {:>6}  {:<20} {:>5}  {}\n",
        "COIN", "NET", "RPC port", "TCP", "SSL", "daemon directory", "seeds", "blocks"
    );
    for c in COINS {
        let (tcp, ssl) = c.default_electrum_ports();
        let dir = match c.datadir_subdir() {
            "" => format!("~/{}", c.daemon_dir()),
            sub => format!("~/{}/{sub}", c.daemon_dir()),
        };
        let blocks = match c.block_source() {
            BlockSource::RestWithSpentOutputs => "REST with spent outputs, or RPC",
            BlockSource::RawBlocksOnly => "raw blocks only (spent outputs resolved by Ferrum)",
        };
        out.push_str(&format!(
            "{:<12} {:<9} {:>8} {:>6} {:>6}  {:<20} {:>5}  {blocks}\n",
            c.name(),
            c.net(),
            c.default_rpc_port(),
            tcp,
            ssl,
            dir,
            c.peers().len()
        ));
    }
    out
}

/// Up to three supported (coin, network) pairs closest to an unknown `coin`/`net`, closest
/// first, for "did you mean" hints: by edit distance of the coin name, then of the network
/// name (case-insensitive), so a known coin's own networks come first.
pub fn closest(coin: &str, net: &str) -> Vec<(&'static str, &'static str)> {
    let (coin, net) = (coin.to_ascii_lowercase(), net.to_ascii_lowercase());
    let mut scored: Vec<((usize, usize), &'static str, &'static str)> = COINS
        .iter()
        .map(|c| {
            let d = (
                edit_distance(&coin, &c.name().to_ascii_lowercase()),
                edit_distance(&net, &c.net().to_ascii_lowercase()),
            );
            (d, c.name(), c.net())
        })
        .collect();
    scored.sort_by_key(|&(d, _, _)| d); // stable: ties keep COINS' order
    scored.into_iter().take(3).map(|(_, c, n)| (c, n)).collect()
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coins_table_has_a_line_per_coin_with_its_defaults() {
        let table = coins_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), COINS.len() + 1);
        assert!(lines[0].starts_with("COIN "));
        let line = |coin: &str, net: &str| {
            *lines
                .iter()
                .find(|l| {
                    let mut w = l.split_whitespace();
                    w.next() == Some(coin) && w.next() == Some(net)
                })
                .unwrap_or_else(|| panic!("no {coin} {net} in\n{table}"))
        };
        let btc: Vec<&str> = line("Bitcoin", "regtest").split_whitespace().collect();
        assert_eq!(
            &btc[2..6],
            ["18443", "51001", "51002", "~/.bitcoin/regtest"]
        );
        let ltc: Vec<&str> = line("Litecoin", "mainnet").split_whitespace().collect();
        assert_eq!(&ltc[2..6], ["9332", "50001", "50002", "~/.litecoin"]);
        assert!(line("Litecoin", "mainnet").contains("raw blocks only"));
    }

    #[test]
    fn lookup_is_case_insensitive() {
        let c = lookup("litecoin", "MAINNET").unwrap();
        assert_eq!((c.name(), c.net()), ("Litecoin", "mainnet"));
        assert!(lookup("Litecoin", "regtest").is_none());
    }

    #[test]
    fn closest_suggests_near_pairs_first() {
        assert_eq!(closest("Bitcon", "mainet")[0], ("Bitcoin", "mainnet"));
        assert_eq!(
            closest("GROESTLCOIN", "testnet4")[0],
            ("Groestlcoin", "testnet")
        );
        let doge = closest("Dogecoin", "testnet");
        assert_eq!(doge.len(), 3);
        assert_eq!(doge[0], ("Dogecoin", "mainnet"));
        assert_eq!(
            closest("groestlcoin", "regtest"),
            vec![
                ("Groestlcoin", "testnet"),
                ("Groestlcoin", "signet"),
                ("Groestlcoin", "mainnet")
            ]
        );
        assert!(closest("", "").len() <= 3);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("testnet", "testnet4"), 1);
    }

    #[test]
    fn every_coin_s_constants_are_well_formed() {
        use ::bitcoin::hashes::Hash;
        use std::str::FromStr;
        for coin in COINS {
            let what = format!("{} {}", coin.name(), coin.net());
            assert_ne!(coin.genesis_hash(), BlockHash::all_zeros(), "{what}");
            assert!(lookup(coin.name(), coin.net()).is_some(), "{what}");
            assert_ne!(coin.default_rpc_port(), 0, "{what}");
        }
        for coin in [&coins::litecoin::TESTNET, &coins::dogecoin::TESTNET] {
            assert!(BlockHash::from_str(coin.genesis).is_ok());
        }
        // A coin's networks are side by side (the CLI help groups them).
        let mut seen: Vec<&str> = Vec::new();
        for coin in COINS {
            if seen.last() != Some(&coin.name()) {
                assert!(!seen.contains(&coin.name()), "{} is split", coin.name());
                seen.push(coin.name());
            }
        }
    }

    #[test]
    fn address_script_is_the_whole_script_by_default() {
        let script = [0x53u8, 0x01, 0x61, 0x00, 0x6d, 0x75, 0x51];
        assert_eq!(Bitcoin::MAINNET.address_script(&script), &script[..]);
        assert_eq!(
            coins::litecoin::MAINNET.address_script(&script),
            &script[..]
        );
        assert_eq!(
            coins::namecoin::MAINNET.address_script(&script),
            &[0x51][..]
        );
    }
}
