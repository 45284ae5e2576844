//! A transaction's silent payments tweak: `input_hash·A`, where `A` is the sum of its eligible
//! inputs' keys and `input_hash = hash_BIP0352/Inputs(outpoint_L || A)` with `outpoint_L` the
//! smallest of all its outpoints (txid as serialized, then vout little-endian, compared as
//! bytes). 33 bytes per transaction: what a server stores and serves, and what the receiver
//! multiplies by its scan key.

use super::inputs::{InputKey, input_key};
use super::{SECP, tagged_hash};
use bitcoin::secp256k1::{PublicKey, Scalar, SecretKey};

/// One input of the transaction, with the output it spends.
#[derive(Debug, Clone, Copy)]
pub struct TxInput<'a> {
    /// The spent txid in serialization (internal) byte order.
    pub txid: [u8; 32],
    pub vout: u32,
    pub script_sig: &'a [u8],
    /// The witness items, in order.
    pub witness: &'a [&'a [u8]],
    /// The script of the output it spends.
    pub prevout_script: &'a [u8],
}

impl TxInput<'_> {
    /// The 36-byte serialized outpoint.
    pub fn outpoint(&self) -> [u8; 36] {
        let mut o = [0u8; 36];
        o[..32].copy_from_slice(&self.txid);
        o[32..].copy_from_slice(&self.vout.to_le_bytes());
        o
    }
}

/// `hash_BIP0352/Inputs(outpoint_L || ser_P(A))` as a scalar; None if it is not a valid one
/// (zero or not below the group order: the transaction is then not scanned).
pub fn input_hash(smallest_outpoint: &[u8; 36], a: &PublicKey) -> Option<Scalar> {
    let h = tagged_hash("BIP0352/Inputs", &[smallest_outpoint, &a.serialize()]);
    SecretKey::from_slice(&h).ok().map(Scalar::from)
}

/// The sum `A` of the eligible inputs' keys and the smallest outpoint; None when the
/// transaction is not scanned: no eligible input, an input spending segwit v2+, or keys that
/// sum to the point at infinity.
pub fn input_sum<'a>(
    inputs: impl IntoIterator<Item = TxInput<'a>>,
) -> Option<(PublicKey, [u8; 36])> {
    let mut keys = Vec::new();
    let mut smallest: Option<[u8; 36]> = None;
    for input in inputs {
        let o = input.outpoint();
        if smallest.is_none_or(|s| o < s) {
            smallest = Some(o);
        }
        match input_key(input.script_sig, input.witness, input.prevout_script) {
            InputKey::Key(k) => keys.push(k),
            InputKey::Skip => {}
            InputKey::Ineligible => return None,
        }
    }
    if keys.is_empty() {
        return None;
    }
    let refs: Vec<&PublicKey> = keys.iter().collect();
    // libsecp256k1 sums in Jacobian coordinates: an intermediate infinity is fine, a final
    // one is an error.
    let a = PublicKey::combine_keys(&refs).ok()?;
    Some((a, smallest?))
}

/// The transaction's tweak `input_hash·A` (see the module documentation); None when it is not
/// scanned. Whether it has a taproot output is the caller's to check.
pub fn tweak<'a>(inputs: impl IntoIterator<Item = TxInput<'a>>) -> Option<PublicKey> {
    let (a, smallest) = input_sum(inputs)?;
    let h = input_hash(&smallest, &a)?;
    a.mul_tweak(&SECP, &h).ok()
}
