//! Silent payments (BIP352): what a server computes for receivers, and the receiver's scan.
//!
//! A silent payment output is found with the tweak of the transaction that pays it,
//! `input_hash·A`: `A` is the sum of the public keys of the transaction's eligible inputs
//! ([`inputs`]: P2TR, P2WPKH, P2SH-P2WPKH and P2PKH, compressed keys only, the NUMS point
//! excluded) and `input_hash` hashes the smallest outpoint with `A` ([`tweak`]). A light wallet
//! cannot compute it (it needs the spent outputs); a server that indexes with them in hand can,
//! once per transaction, and serve it (33 bytes) to every receiver. The receiver's scan
//! ([`scan`]) turns a tweak and a transaction's taproot outputs into the outputs that are its
//! own, with their private key tweaks and labels; the server runs it for Frigate-style
//! server-side scanning. [`address`] reads and writes `sp1…` addresses, and [`send`] makes the
//! outputs that pay them (for the test chain generator).
//!
//! Everything follows BIP352 version 0 and is checked against its official test vectors
//! (`tests/bip352.rs`).

pub mod address;
pub mod block;
pub mod inputs;
pub mod scan;
pub mod send;
pub mod tweak;

use bitcoin::hashes::{Hash, HashEngine, sha256};
use bitcoin::secp256k1::{All, Secp256k1};
use std::sync::LazyLock;

/// The secp256k1 context every computation here uses.
pub(crate) static SECP: LazyLock<Secp256k1<All>> = LazyLock::new(Secp256k1::new);

/// The public key of a secret key (with this module's context).
pub fn public_key(secret: &bitcoin::secp256k1::SecretKey) -> bitcoin::secp256k1::PublicKey {
    secret.public_key(&SECP)
}

/// BIP340's tagged hash: `SHA256(SHA256(tag) || SHA256(tag) || parts...)`.
pub(crate) fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let tag_hash = sha256::Hash::hash(tag.as_bytes());
    let mut engine = sha256::Hash::engine();
    engine.input(tag_hash.as_byte_array());
    engine.input(tag_hash.as_byte_array());
    for p in parts {
        engine.input(p);
    }
    sha256::Hash::from_engine(engine).to_byte_array()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_hash_is_bip340s() {
        // BIP340's challenge tag on an empty message, computed independently:
        // sha256(sha256("BIP0340/challenge") * 2).
        let tag = sha256::Hash::hash(b"BIP0340/challenge");
        let mut both = tag.as_byte_array().to_vec();
        both.extend_from_slice(tag.as_byte_array());
        assert_eq!(
            tagged_hash("BIP0340/challenge", &[]),
            sha256::Hash::hash(&both).to_byte_array()
        );
        assert_eq!(
            tagged_hash("t", &[b"ab", b"c"]),
            tagged_hash("t", &[b"abc"]),
            "parts are concatenated"
        );
    }
}
