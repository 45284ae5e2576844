//! [`AltCoin`]: a coin other than Bitcoin, described by data.
//!
//! Every fact that differs between the altcoins Ferrum serves is a field: names, genesis, ports,
//! address prefixes, the hash functions of headers and txids and the block layout
//! ([`BlockFormat`]). One `impl Coin` covers them all, so a new coin is a constant in
//! `coins/`, not new code. Addresses are encoded with rust-bitcoin's `base58` and `bech32`
//! crates; only the checksum hash is the coin's own (Groestlcoin's base58 checksum is Groestl).

use super::family::{BlockFormat, HeaderFormat, parse_block_with};
use super::parse::{ParseError, ParsedBlock};
use super::{BlockSource, Coin, names};
use bitcoin::bech32::{self, Hrp};
use bitcoin::hashes::{Hash, sha256d};
use bitcoin::script::{Script, ScriptBuf};
use bitcoin::{BlockHash, PubkeyHash, ScriptHash, WitnessProgram, WitnessVersion, base58};
use groestl::{Digest, Groestl512};
use std::str::FromStr;

/// A 32-byte hash function a coin uses for headers or base58 checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFn {
    /// Double SHA-256, Bitcoin's.
    Sha256d,
    /// Groestlcoin's: Groestl-512 of Groestl-512, truncated to 32 bytes.
    Groestl,
}

impl HashFn {
    pub fn hash(self, data: &[u8]) -> [u8; 32] {
        match self {
            HashFn::Sha256d => sha256d::Hash::hash(data).to_byte_array(),
            HashFn::Groestl => {
                let once = Groestl512::digest(data);
                let twice = Groestl512::digest(once);
                let mut out = [0u8; 32];
                out.copy_from_slice(&twice[..32]);
                out
            }
        }
    }
}

/// How a coin writes addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressFormat {
    /// Base58 version byte of P2PKH addresses.
    pub p2pkh: u8,
    /// Base58 version bytes of P2SH addresses; the first is the one written, all are read
    /// (Litecoin still reads the Bitcoin-style `3...` form).
    pub p2sh: &'static [u8],
    /// Bech32 human-readable part of segwit addresses, for coins with segwit.
    pub bech32_hrp: Option<&'static str>,
    /// Hash whose first 4 bytes are the base58 checksum.
    pub checksum: HashFn,
}

/// A coin on one network, described by data. Implementations of its instances live in `coins/`.
#[derive(Debug)]
pub struct AltCoin {
    /// ElectrumX's `COIN`.
    pub name: &'static str,
    /// ElectrumX's `NET`.
    pub net: &'static str,
    /// Genesis hash in display (reversed) hex.
    pub genesis: &'static str,
    pub rpc_port: u16,
    /// Default Electrum ports: (tcp, ssl).
    pub electrum_ports: (u16, u16),
    /// The daemon's data directory under the home directory, e.g. `.litecoin`.
    pub daemon_dir: &'static str,
    pub datadir_subdir: &'static str,
    /// ElectrumX's `PEERS`, verbatim.
    pub peers: &'static [&'static str],
    pub blacklist_url: Option<&'static str>,
    pub addresses: AddressFormat,
    /// Hash of the (first 80 bytes of the) header: the block hash.
    pub header_hash: HashFn,
    pub block: BlockFormat,
    /// Output scripts may carry Namecoin name prefixes before their address part.
    pub name_prefixes: bool,
}

impl Coin for AltCoin {
    fn name(&self) -> &'static str {
        self.name
    }
    fn net(&self) -> &'static str {
        self.net
    }
    fn genesis_hash(&self) -> BlockHash {
        // The constants are valid hex: covered by `every_coin_s_constants_are_well_formed`.
        BlockHash::from_str(self.genesis).unwrap_or(BlockHash::all_zeros())
    }
    fn default_rpc_port(&self) -> u16 {
        self.rpc_port
    }
    fn default_electrum_ports(&self) -> (u16, u16) {
        self.electrum_ports
    }
    fn peers(&self) -> &'static [&'static str] {
        self.peers
    }
    fn blacklist_url(&self) -> Option<&'static str> {
        self.blacklist_url
    }
    fn daemon_dir(&self) -> &'static str {
        self.daemon_dir
    }
    fn datadir_subdir(&self) -> &'static str {
        self.datadir_subdir
    }
    fn header_len(&self, data: &[u8]) -> Result<usize, ParseError> {
        self.block.header_len(data)
    }
    fn served_header<'a>(&self, header: &'a [u8]) -> &'a [u8] {
        match self.block.header {
            HeaderFormat::AuxPow => header.get(..80).unwrap_or(header),
            HeaderFormat::Plain => header,
        }
    }
    fn header_hash(&self, header: &[u8]) -> BlockHash {
        // An AuxPoW header's merged-mining proof is not part of the hash.
        let basic = header.get(..80).unwrap_or(header);
        BlockHash::from_byte_array(self.header_hash.hash(basic))
    }
    fn header_prev_hash(&self, header: &[u8]) -> BlockHash {
        let mut prev = [0u8; 32];
        if let Some(s) = header.get(4..36) {
            prev.copy_from_slice(s);
        }
        BlockHash::from_byte_array(prev)
    }
    fn parse_block(&self, raw: &[u8]) -> Result<ParsedBlock, ParseError> {
        parse_block_with(raw, &self.block, |h| self.header_hash(h))
    }
    fn parse_transaction(&self, raw: &[u8]) -> Result<(ParsedBlock, u64), ParseError> {
        super::family::parse_transaction_with(raw, &self.block)
    }
    fn block_source(&self) -> BlockSource {
        // These daemons serve raw blocks only (no REST `spenttxouts`, no `getblock` verbosity
        // 3 prevouts): spent outputs must come from Ferrum's own index.
        BlockSource::RawBlocksOnly
    }
    fn address_script<'a>(&self, script: &'a [u8]) -> &'a [u8] {
        if self.name_prefixes {
            names::strip_name_prefix(script)
        } else {
            script
        }
    }
    fn address_to_script(&self, address: &str) -> Option<ScriptBuf> {
        if let Some(hrp) = self.addresses.bech32_hrp
            && let Ok((got, version, program)) = bech32::segwit::decode(address)
        {
            if !got.as_str().eq_ignore_ascii_case(hrp) {
                return None;
            }
            let version = WitnessVersion::try_from(version).ok()?;
            let program = WitnessProgram::new(version, &program).ok()?;
            return Some(ScriptBuf::new_witness_program(&program));
        }
        let raw = base58::decode(address).ok()?;
        if raw.len() != 25 {
            return None;
        }
        let (payload, checksum) = raw.split_at(21);
        if self.addresses.checksum.hash(payload)[..4] != *checksum {
            return None;
        }
        let mut hash = [0u8; 20];
        hash.copy_from_slice(&payload[1..]);
        let version = payload[0];
        if version == self.addresses.p2pkh {
            Some(ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(hash)))
        } else if self.addresses.p2sh.contains(&version) {
            Some(ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(hash)))
        } else {
            None
        }
    }
    fn script_to_address(&self, script: &Script) -> Option<String> {
        let script = Script::from_bytes(self.address_script(script.as_bytes()));
        let bytes = script.as_bytes();
        if script.is_p2pkh() {
            return Some(self.base58(self.addresses.p2pkh, &bytes[3..23]));
        }
        if script.is_p2sh() {
            let version = *self.addresses.p2sh.first()?;
            return Some(self.base58(version, &bytes[2..22]));
        }
        let hrp = Hrp::parse(self.addresses.bech32_hrp?).ok()?;
        let version = script.witness_version()?;
        bech32::segwit::encode(hrp, version.to_fe(), &bytes[2..]).ok()
    }
}

impl AltCoin {
    /// Base58 with the coin's checksum: version byte, 20-byte hash, 4 checksum bytes.
    fn base58(&self, version: u8, hash: &[u8]) -> String {
        let mut data = Vec::with_capacity(25);
        data.push(version);
        data.extend_from_slice(hash);
        let checksum = self.addresses.checksum.hash(&data);
        data.extend_from_slice(&checksum[..4]);
        base58::encode(&data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groestl_hash_of_the_groestlcoin_genesis_header() {
        // Groestlcoin mainnet's genesis header, from its chainparams (version 112, time
        // 1395342829, bits 0x1e0fffff, nonce 220035, merkle root 3ce968...28bb), hashes to
        // ElectrumX's GENESIS_HASH for Groestlcoin.
        let mut header = 112u32.to_le_bytes().to_vec();
        header.extend_from_slice(&[0u8; 32]);
        let mut root = crate::types::hex_to_bytes(
            "3ce968df58f9c8a752306c4b7264afab93149dbc578bd08a42c446caaa6628bb",
        )
        .unwrap();
        root.reverse();
        header.extend_from_slice(&root);
        header.extend_from_slice(&1395342829u32.to_le_bytes());
        header.extend_from_slice(&0x1e0fffffu32.to_le_bytes());
        header.extend_from_slice(&220035u32.to_le_bytes());
        let hash = BlockHash::from_byte_array(HashFn::Groestl.hash(&header));
        assert_eq!(
            hash.to_string(),
            "00000ac5927c594d49cc0bdb81759d0da8297eb614683d3acb62f0703b639023"
        );
    }
}
