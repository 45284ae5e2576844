//! Which inputs count for silent payments, and their public keys (BIP352 "Inputs For Shared
//! Secret Derivation"): P2TR (key path and script path, unless the script path's internal key
//! is the NUMS point H), P2WPKH, P2SH-P2WPKH and P2PKH, with compressed (or x-only) keys only.
//! An input spending a segwit output of version 2 or above makes the whole transaction
//! ineligible; any other input (multisig, P2WSH, uncompressed keys...) is left out.

use bitcoin::hashes::{Hash, hash160};
use bitcoin::secp256k1::PublicKey;

/// BIP341's NUMS point H, x-only: the hash of the uncompressed encoding of G as x coordinate.
pub const NUMS_H: [u8; 32] = [
    0x50, 0x92, 0x9b, 0x74, 0xc1, 0xa0, 0x49, 0x54, 0xb7, 0x8b, 0x4b, 0x60, 0x35, 0xe9, 0x7a, 0x5e,
    0x07, 0x8a, 0x5a, 0x0f, 0x28, 0xec, 0x96, 0xd5, 0x47, 0xbf, 0xee, 0x9a, 0xce, 0x80, 0x3a, 0xc0,
];

/// What an input contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKey {
    /// An eligible input's public key (a taproot key with even y).
    Key(PublicKey),
    /// Not an eligible input: left out of the sum.
    Skip,
    /// It spends a segwit output of version 2 or above: the transaction is not scanned.
    Ineligible,
}

fn is_p2pkh(s: &[u8]) -> bool {
    s.len() == 25 && s[0] == 0x76 && s[1] == 0xa9 && s[2] == 0x14 && s[23] == 0x88 && s[24] == 0xac
}

fn is_p2sh(s: &[u8]) -> bool {
    s.len() == 23 && s[0] == 0xa9 && s[1] == 0x14 && s[22] == 0x87
}

fn is_p2wpkh(s: &[u8]) -> bool {
    s.len() == 22 && s[0] == 0x00 && s[1] == 0x14
}

pub fn is_p2tr(s: &[u8]) -> bool {
    s.len() == 34 && s[0] == 0x51 && s[1] == 0x20
}

/// A witness program of version 2 to 16 (`OP_2`..`OP_16` then one push of 2 to 40 bytes).
fn is_future_segwit(s: &[u8]) -> bool {
    s.len() >= 4
        && s.len() <= 42
        && (0x52..=0x60).contains(&s[0])
        && usize::from(s[1]) + 2 == s.len()
}

/// A compressed public key, if `bytes` is one on the curve.
fn compressed(bytes: &[u8]) -> Option<PublicKey> {
    if bytes.len() != 33 || !(bytes[0] == 0x02 || bytes[0] == 0x03) {
        return None;
    }
    PublicKey::from_slice(bytes).ok()
}

/// The key of an input spending `prevout_script` with `script_sig` and the witness `witness`
/// (its items, in order).
pub fn input_key(script_sig: &[u8], witness: &[&[u8]], prevout_script: &[u8]) -> InputKey {
    let key = |k: Option<PublicKey>| k.map_or(InputKey::Skip, InputKey::Key);
    if is_p2pkh(prevout_script) {
        // The scriptSig is third-party malleable: the key is the last 33 bytes, anywhere in
        // it, that hash to the output's key hash.
        let want = &prevout_script[3..23];
        let found = (33..=script_sig.len())
            .rev()
            .map(|end| &script_sig[end - 33..end])
            .find(|pk| hash160::Hash::hash(pk).as_byte_array()[..] == *want);
        return key(found.and_then(compressed));
    }
    if is_p2sh(prevout_script) {
        // P2SH-P2WPKH: the scriptSig pushes exactly the 22-byte P2WPKH redeem script.
        let nested = script_sig.len() == 23 && script_sig[0] == 0x16 && is_p2wpkh(&script_sig[1..]);
        return key(nested
            .then(|| witness.last().and_then(|w| compressed(w)))
            .flatten());
    }
    if is_p2wpkh(prevout_script) {
        return key(witness.last().and_then(|w| compressed(w)));
    }
    if is_p2tr(prevout_script) {
        let mut items = witness;
        // An annex (last item starting with 0x50, with at least two items) is not part of it.
        if items.len() > 1 && items.last().is_some_and(|a| a.first() == Some(&0x50)) {
            items = &items[..items.len() - 1];
        }
        if items.len() > 1 {
            // Script path: the control block is the last item; its bytes 1..33 are the
            // internal key.
            let control = items[items.len() - 1];
            if control.get(1..33) == Some(&NUMS_H[..]) {
                return InputKey::Skip;
            }
        }
        let mut even = [0x02u8; 33];
        even[1..].copy_from_slice(&prevout_script[2..34]);
        return key(PublicKey::from_slice(&even).ok());
    }
    if is_future_segwit(prevout_script) {
        return InputKey::Ineligible;
    }
    InputKey::Skip
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_shapes() {
        assert!(is_future_segwit(&[0x52, 0x02, 0, 0]));
        assert!(is_future_segwit(
            &[0x60, 0x28]
                .iter()
                .copied()
                .chain([0; 40])
                .collect::<Vec<_>>()
        ));
        assert!(!is_future_segwit(
            &[0x51, 0x20]
                .iter()
                .copied()
                .chain([0; 32])
                .collect::<Vec<_>>()
        ));
        assert!(
            !is_future_segwit(&[0x52, 0x01, 0]),
            "a 1-byte program is not one"
        );
        assert!(!is_future_segwit(&[0x52, 0x03, 0, 0]), "length must match");
        assert_eq!(
            input_key(&[], &[], &[0x52, 0x02, 1, 2]),
            InputKey::Ineligible
        );
        assert_eq!(
            input_key(&[], &[], &[0x00, 0x20].repeat(17)),
            InputKey::Skip
        );
    }

    #[test]
    fn taproot_key_and_nums_script_path() {
        // G's x coordinate: a valid x-only key.
        let gx = bitcoin::secp256k1::constants::GENERATOR_X;
        let spk: Vec<u8> = [0x51, 0x20].iter().copied().chain(gx).collect();
        let InputKey::Key(k) = input_key(&[], &[&[1u8; 64]], &spk) else {
            panic!("key path")
        };
        assert_eq!(k.serialize()[0], 0x02, "even y");
        let mut control = vec![0xc0];
        control.extend_from_slice(&NUMS_H);
        assert_eq!(
            input_key(&[], &[&[1u8; 64], &[0x51], &control], &spk),
            InputKey::Skip,
            "script path with H as internal key"
        );
        let mut other = vec![0xc0];
        other.extend_from_slice(&gx);
        assert_eq!(
            input_key(&[], &[&[0x51], &other, &[0x50, 1]], &spk),
            InputKey::Key(k),
            "script path with another key, annex dropped"
        );
        // Not on the curve: x = 5 has no point (checked: 5^3 + 7 = 132 is a non-residue).
        let mut bad = [0u8; 32];
        bad[31] = 5;
        let spk: Vec<u8> = [0x51, 0x20].iter().copied().chain(bad).collect();
        assert_eq!(input_key(&[], &[&[1u8; 64]], &spk), InputKey::Skip);
    }
}
