//! Coin abstraction: everything that differs between coins and networks.
//!
//! A [`Coin`] says which genesis block, default ports and data directory a network has, how its
//! headers are sized and hashed, how its blocks are parsed for indexing, how addresses map to
//! scripts, and which block sources its daemon offers. The rest of Ferrum only talks to this
//! trait, so adding a coin is one small file in this module plus a line in [`COINS`]; nothing in
//! the index, sync or protocol code changes.
//!
//! This module must not do I/O: it is pure data and parsing.

mod bitcoin;
pub mod parse;

use ::bitcoin::BlockHash;
use ::bitcoin::ScriptBuf;

pub use self::bitcoin::Bitcoin;
pub use parse::{ParsedBlock, ParsedTx, TxIn, TxOut};

/// Where the daemon can serve blocks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// Binary REST: `/rest/block/<hash>.bin` and `/rest/spenttxouts/<hash>.bin` (Core >= 30),
    /// falling back to JSON-RPC when REST is off.
    RestWithSpentOutputs,
    /// Only JSON-RPC `getblock <hash> 0`; spent outputs are resolved from the index.
    RpcOnly,
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
    /// Subdirectory of the daemon's data directory that holds this network's files (and its
    /// `.cookie`), e.g. `regtest`; empty for mainnet.
    fn datadir_subdir(&self) -> &'static str;
    /// Length in bytes of the header that starts `data` (fixed 80 for Bitcoin; variable for
    /// AuxPoW and Equihash coins). Errors when `data` is too short to tell.
    fn header_len(&self, data: &[u8]) -> Result<usize, parse::ParseError>;
    /// Hash of a serialized header, with the coin's header hash function.
    fn header_hash(&self, header: &[u8]) -> BlockHash;
    /// Hash of the previous block, read from a serialized header.
    fn header_prev_hash(&self, header: &[u8]) -> BlockHash;
    /// Merkle root of the block's transactions, read from a serialized header.
    fn header_merkle_root(&self, header: &[u8]) -> Option<[u8; 32]> {
        header.get(36..68)?.try_into().ok()
    }
    /// Parses a raw block for indexing: header, txids, prevouts and output scripts.
    fn parse_block(&self, raw: &[u8]) -> Result<ParsedBlock, parse::ParseError> {
        let header_len = self.header_len(raw)?;
        parse::parse_block(raw, header_len, |h| self.header_hash(h))
    }
    /// Which block sources the daemon of this coin offers.
    fn block_source(&self) -> BlockSource;
    /// The scriptPubKey an address pays to, or `None` when it is not an address of this network.
    fn address_to_script(&self, address: &str) -> Option<ScriptBuf>;
    /// The address of a scriptPubKey, when it has one.
    fn script_to_address(&self, script: &::bitcoin::Script) -> Option<String>;
}

/// Every coin/network Ferrum knows.
pub static COINS: &[&dyn Coin] = &[
    &Bitcoin::MAINNET,
    &Bitcoin::TESTNET,
    &Bitcoin::TESTNET4,
    &Bitcoin::SIGNET,
    &Bitcoin::REGTEST,
];

/// Finds a coin by ElectrumX's `COIN` and `NET` names (case-insensitive).
pub fn lookup(coin: &str, net: &str) -> Option<&'static dyn Coin> {
    COINS
        .iter()
        .copied()
        .find(|c| c.name().eq_ignore_ascii_case(coin) && c.net().eq_ignore_ascii_case(net))
}
