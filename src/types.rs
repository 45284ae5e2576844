//! Ferrum's own identifiers, as distinct types so they cannot be mixed up, and the one place that
//! owns their on-disk byte encodings.

use bitcoin::Script;
use bitcoin::hashes::{Hash, sha256};
use bitcoin::hex::{DisplayHex, FromHex};

/// Height of a block in the active chain (genesis = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Height(pub u32);

impl Height {
    /// Big-endian encoding, so that keys sort by height.
    pub fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
    pub fn from_be_bytes(b: [u8; 4]) -> Self {
        Height(u32::from_be_bytes(b))
    }
}

impl std::fmt::Display for Height {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Position of a transaction in the whole chain: the genesis coinbase is 0, and numbers follow
/// block order and then order within the block. Stored as 5 big-endian bytes (2^40 ≈ 1.1e12
/// transactions), so keys that end in a tx number sort in chain order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TxNum(pub u64);

impl TxNum {
    pub const LEN: usize = 5;
    pub const MAX: TxNum = TxNum((1 << 40) - 1);

    pub fn to_bytes(self) -> [u8; 5] {
        let b = self.0.to_be_bytes();
        [b[3], b[4], b[5], b[6], b[7]]
    }
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; 5] = b.get(..5)?.try_into().ok()?;
        Some(TxNum(u64::from_be_bytes([
            0, 0, 0, b[0], b[1], b[2], b[3], b[4],
        ])))
    }
}

/// Key of a script in the index: the first [`ScriptKey::LEN`] bytes of SHA-256(scriptPubKey),
/// i.e. of the Electrum scripthash before its byte reversal. See ARCHITECTURE.md for why 11
/// bytes make a collision on a mainnet-sized chain negligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScriptKey(pub [u8; ScriptKey::LEN]);

impl ScriptKey {
    pub const LEN: usize = 11;

    pub fn from_script(script: &[u8]) -> Self {
        Self::from_sha256(&sha256::Hash::hash(script).to_byte_array())
    }
    /// From a SHA-256 of a script in internal (not reversed) byte order.
    pub fn from_sha256(hash: &[u8; 32]) -> Self {
        let mut k = [0u8; Self::LEN];
        k.copy_from_slice(&hash[..Self::LEN]);
        ScriptKey(k)
    }
    /// From an Electrum scripthash as hex (the SHA-256 reversed), e.g. a protocol parameter.
    pub fn from_scripthash_hex(hex: &str) -> Option<Self> {
        let bytes = hex_to_bytes(hex)?;
        let mut h: [u8; 32] = bytes.try_into().ok()?;
        h.reverse();
        Some(Self::from_sha256(&h))
    }
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        Some(ScriptKey(b.get(..Self::LEN)?.try_into().ok()?))
    }
}

/// The Electrum scripthash of a script: SHA-256, shown byte-reversed in hex.
pub fn scripthash_hex(script: &Script) -> String {
    let mut h = sha256::Hash::hash(script.as_bytes()).to_byte_array();
    h.reverse();
    bytes_to_hex(&h)
}

/// First [`TxidPrefix::LEN`] bytes of a txid (internal byte order). Used in keys written while
/// indexing, where the funding tx number of a spent output is not known without a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxidPrefix(pub [u8; TxidPrefix::LEN]);

impl TxidPrefix {
    pub const LEN: usize = 8;
    pub fn from_bytes(txid: &[u8; 32]) -> Self {
        let mut p = [0u8; Self::LEN];
        p.copy_from_slice(&txid[..Self::LEN]);
        TxidPrefix(p)
    }
}

/// Lower-case hex of bytes, in the order given.
pub fn bytes_to_hex(b: &[u8]) -> String {
    b.to_lower_hex_string()
}

/// Bytes of a hex string (either case); `None` when it is not hex.
pub fn hex_to_bytes(s: &str) -> Option<Vec<u8>> {
    Vec::<u8>::from_hex(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txnum_roundtrip_and_order() {
        for n in [0u64, 1, 255, 256, 1 << 32, TxNum::MAX.0] {
            assert_eq!(TxNum::from_bytes(&TxNum(n).to_bytes()), Some(TxNum(n)));
        }
        assert!(TxNum(256).to_bytes() > TxNum(255).to_bytes());
    }

    #[test]
    fn scripthash_matches_electrum_definition() {
        // P2PKH of the Electrum protocol docs example address 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.
        let script = hex_to_bytes("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac").unwrap();
        let script = bitcoin::ScriptBuf::from_bytes(script);
        assert_eq!(
            scripthash_hex(&script),
            "8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"
        );
        let key = ScriptKey::from_scripthash_hex(&scripthash_hex(&script)).unwrap();
        assert_eq!(key, ScriptKey::from_script(script.as_bytes()));
    }

    #[test]
    fn hex_rejects_garbage() {
        assert_eq!(hex_to_bytes("0g"), None);
        assert_eq!(hex_to_bytes("abc"), None);
        assert_eq!(hex_to_bytes("ABff"), Some(vec![0xab, 0xff]));
    }
}
