//! Signing without elliptic-curve multiplications, for 50M-transaction benchmark chains.
//!
//! On this project's 2-core machines an ECDSA or BIP340 signature costs tens of microseconds,
//! nearly all of it the nonce point `k·G`, and deriving a public key or a taproot output key
//! costs as much again: a 50M-transaction chain took hours to sign. Here:
//!
//! - [`FixedNonce`] signs with one fixed nonce `k` (its point `R = k·G` computed once): an
//!   ECDSA signature is then `s = k⁻¹(z + r·d) mod n` and a BIP340 one `s = k + e·d mod n`,
//!   scalar arithmetic only. The signatures are valid, and consensus checks them as any
//!   other (the test suite's bench chains are verified in full by bitcoind). Reusing a nonce
//!   reveals the private key to anyone who sees two signatures: harmless for keys derived from
//!   a public seed on a regtest chain, fatal anywhere else — never use this for real keys.
//! - [`KeyHint`] carries what the generator computed when it made an output (the compressed
//!   public key, or the tweaked taproot secret) to the signer, so signing does not derive it
//!   again.

use bitcoin::hashes::{Hash, HashEngine, sha256};
use bitcoin::key::TapTweak;
use bitcoin::secp256k1::{
    All, Parity, PublicKey, Scalar, Secp256k1, SecretKey, XOnlyPublicKey, ecdsa, schnorr,
};

/// A fixed nonce and what signing with it needs (see the module docs).
pub struct FixedNonce {
    /// ECDSA: `r` and `k⁻¹ mod n`.
    r: Scalar,
    r_bytes: [u8; 32],
    k_inv: Scalar,
    /// BIP340: `k` with `k·G` of even y, and `R.x`.
    k_even: Scalar,
    rx: [u8; 32],
}

impl FixedNonce {
    /// A nonce derived from `seed`.
    pub fn new(secp: &Secp256k1<All>, seed: u64) -> FixedNonce {
        let mut counter = 0u64;
        loop {
            if let Some(n) = Self::try_new(secp, seed, counter) {
                return n;
            }
            counter += 1;
        }
    }

    fn try_new(secp: &Secp256k1<All>, seed: u64, counter: u64) -> Option<FixedNonce> {
        let mut e = sha256::Hash::engine();
        e.input(b"ferrum/chaingen/fixed-nonce");
        e.input(&seed.to_le_bytes());
        e.input(&counter.to_le_bytes());
        let k = SecretKey::from_slice(sha256::Hash::from_engine(e).as_byte_array()).ok()?;
        let point = k.public_key(secp);
        let (xonly, parity) = point.x_only_public_key();
        let rx = xonly.serialize();
        // r = R.x mod n; keep it simple and only take an R whose x is below n.
        let r = Scalar::from_be_bytes(rx).ok()?;
        let k_inv = inverse(&k)?;
        let k_even = if parity == Parity::Odd { k.negate() } else { k };
        Some(FixedNonce {
            r,
            r_bytes: rx,
            k_inv: Scalar::from(k_inv),
            k_even: Scalar::from(k_even),
            rx,
        })
    }

    /// The ECDSA signature of the 32-byte `digest` by `sk`, low-S; `None` in the cases of
    /// probability ~2^-128 this shortcut does not handle (the caller signs normally then).
    pub fn ecdsa(&self, digest: &[u8; 32], sk: &SecretKey) -> Option<ecdsa::Signature> {
        let z = Scalar::from_be_bytes(*digest).ok()?;
        let s = sk
            .mul_tweak(&self.r)
            .ok()?
            .add_tweak(&z)
            .ok()?
            .mul_tweak(&self.k_inv)
            .ok()?;
        let mut compact = [0u8; 64];
        compact[..32].copy_from_slice(&self.r_bytes);
        compact[32..].copy_from_slice(&s.secret_bytes());
        let mut sig = ecdsa::Signature::from_compact(&compact).ok()?;
        sig.normalize_s();
        Some(sig)
    }

    /// The BIP340 signature of `digest` by the secret `d` of the x-only key `q` (`d·G` must
    /// have even y, as [`tap_secret`] returns it); `None` as for [`FixedNonce::ecdsa`].
    pub fn schnorr(
        &self,
        digest: &[u8; 32],
        d: &SecretKey,
        q: &[u8; 32],
    ) -> Option<schnorr::Signature> {
        let tag = sha256::Hash::hash(b"BIP0340/challenge");
        let mut e = sha256::Hash::engine();
        e.input(tag.as_byte_array());
        e.input(tag.as_byte_array());
        e.input(&self.rx);
        e.input(q);
        e.input(digest);
        let e = Scalar::from_be_bytes(sha256::Hash::from_engine(e).to_byte_array()).ok()?;
        let s = d.mul_tweak(&e).ok()?.add_tweak(&self.k_even).ok()?;
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&self.rx);
        raw[32..].copy_from_slice(&s.secret_bytes());
        schnorr::Signature::from_slice(&raw).ok()
    }
}

/// `k⁻¹ mod n`, as `k^(n-2)` by square and multiply on secret keys (done once per nonce).
fn inverse(k: &SecretKey) -> Option<SecretKey> {
    // n - 2, the curve order minus two, big-endian.
    const N_MINUS_2: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x3f,
    ];
    let mut acc: Option<SecretKey> = None;
    for byte in N_MINUS_2 {
        for bit in (0..8).rev() {
            if let Some(a) = acc {
                acc = Some(a.mul_tweak(&Scalar::from(a)).ok()?);
            }
            if byte >> bit & 1 == 1 {
                acc = Some(match acc {
                    Some(a) => a.mul_tweak(&Scalar::from(*k)).ok()?,
                    None => *k,
                });
            }
        }
    }
    acc
}

/// What the generator knows of an output's key when it makes the output, for the signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyHint {
    /// Nothing (multisig types: the signer derives their keys).
    #[default]
    None,
    /// The compressed public key of a single-key output (P2PK, P2PKH, P2WPKH, P2SH-P2WPKH).
    Pubkey([u8; 33]),
    /// A taproot output's tweaked secret (its `d·G` has even y) and output key x.
    Taproot([u8; 32], [u8; 32]),
}

/// The taproot output key of internal key `p` (secret `sk`, no script tree) and the secret
/// signing for it: `(Q.x, d)` with `d·G = Q` of even y. One point operation (the tweak), the
/// rest scalar arithmetic.
pub fn tap_secret(
    secp: &Secp256k1<All>,
    sk: &SecretKey,
    p: &PublicKey,
) -> Option<(XOnlyPublicKey, SecretKey)> {
    let (internal, p_parity) = p.x_only_public_key();
    let (tweaked, q_parity) = internal.tap_tweak(secp, None);
    let tweak = bitcoin::TapTweakHash::from_key_and_tweak(internal, None).to_scalar();
    let d = if p_parity == Parity::Odd {
        sk.negate()
    } else {
        *sk
    };
    let d = d.add_tweak(&tweak).ok()?;
    let d = if q_parity == Parity::Odd {
        d.negate()
    } else {
        d
    };
    Some((tweaked.to_x_only_public_key(), d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::secp256k1::Message;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_slice(&[n; 32]).unwrap()
    }

    #[test]
    fn fixed_nonce_signatures_verify() {
        let secp = Secp256k1::new();
        let nonce = FixedNonce::new(&secp, 1);
        for i in 1..20u8 {
            let sk = key(i);
            let digest = sha256::Hash::hash(&[i]).to_byte_array();
            let msg = Message::from_digest(digest);
            if let Some(sig) = nonce.ecdsa(&digest, &sk) {
                secp.verify_ecdsa(&msg, &sig, &sk.public_key(&secp))
                    .unwrap();
            }
            let (q, d) = tap_secret(&secp, &sk, &sk.public_key(&secp)).unwrap();
            assert_eq!(d.x_only_public_key(&secp), (q, Parity::Even));
            let sig = nonce.schnorr(&digest, &d, &q.serialize()).unwrap();
            secp.verify_schnorr(&sig, &msg, &q).unwrap();
        }
        let k = key(7);
        let inv = inverse(&k).unwrap();
        let one = k.mul_tweak(&Scalar::from(inv)).unwrap();
        let mut one_bytes = [0u8; 32];
        one_bytes[31] = 1;
        assert_eq!(one.secret_bytes(), one_bytes);
    }
}
