//! The sender's side of BIP352: the outputs that pay silent payment addresses, from the
//! private keys of the transaction's eligible inputs. Ferrum does not send; the test chain
//! generator does, to make silent payments for the end-to-end tests, and BIP352's sending
//! vectors check it.

use super::address::SpAddress;
use super::tweak::input_hash;
use super::{SECP, tagged_hash};
use bitcoin::secp256k1::{Parity, PublicKey, Scalar, SecretKey, XOnlyPublicKey};

/// Why no outputs can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no eligible input")]
    NoInputs,
    #[error("the input keys sum to zero")]
    ZeroSum,
    #[error("the input hash is not a valid scalar")]
    InputHash,
    #[error("a shared secret tweak is not a valid scalar")]
    Tweak,
    #[error("more than K_max ({}) outputs to one scan key", super::scan::K_MAX)]
    TooMany,
}

/// An eligible input's private key, and whether it spends a taproot output (its key is then
/// negated if its public key has an odd y, as the receiver assumes even).
#[derive(Debug, Clone, Copy)]
pub struct InputSecret {
    pub key: SecretKey,
    pub taproot: bool,
}

/// The taproot output keys paying `recipients`, in their order: recipients sharing a scan key
/// get `k = 0, 1, 2...` in the order given. `smallest_outpoint` is the smallest of all the
/// transaction's outpoints (see [`super::tweak::TxInput::outpoint`]).
///
/// The sum of the keys is taken as points (`A = Σ a_i·G`, and `a·B_scan = Σ a_i·B_scan`), so
/// an intermediate sum of zero is no special case; a zero total is an error.
pub fn outputs(
    inputs: &[InputSecret],
    smallest_outpoint: &[u8; 36],
    recipients: &[SpAddress],
) -> Result<Vec<XOnlyPublicKey>, SendError> {
    let keys: Vec<SecretKey> = inputs
        .iter()
        .map(|i| {
            let odd = i.key.public_key(&SECP).x_only_public_key().1 == Parity::Odd;
            if i.taproot && odd {
                i.key.negate()
            } else {
                i.key
            }
        })
        .collect();
    if keys.is_empty() {
        return Err(SendError::NoInputs);
    }
    let publics: Vec<PublicKey> = keys.iter().map(|k| k.public_key(&SECP)).collect();
    let big_a = sum(&publics).ok_or(SendError::ZeroSum)?;
    let h = input_hash(smallest_outpoint, &big_a).ok_or(SendError::InputHash)?;
    let mut k_of: Vec<([u8; 33], u32)> = Vec::new();
    let mut out = Vec::with_capacity(recipients.len());
    for r in recipients {
        let scan = r.scan.serialize();
        let k = match k_of.iter_mut().find(|(s, _)| *s == scan) {
            Some((_, k)) => {
                *k += 1;
                if *k >= super::scan::K_MAX {
                    return Err(SendError::TooMany);
                }
                *k
            }
            None => {
                k_of.push((scan, 0));
                0
            }
        };
        let shares: Vec<PublicKey> = keys
            .iter()
            .map(|a| r.scan.mul_tweak(&SECP, &Scalar::from(*a)))
            .collect::<Result<_, _>>()
            .map_err(|_| SendError::Tweak)?;
        let ecdh = sum(&shares)
            .ok_or(SendError::ZeroSum)?
            .mul_tweak(&SECP, &h)
            .map_err(|_| SendError::Tweak)?;
        let t = tagged_hash(
            "BIP0352/SharedSecret",
            &[&ecdh.serialize(), &k.to_be_bytes()],
        );
        let t_k = SecretKey::from_slice(&t).map_err(|_| SendError::Tweak)?;
        let p = r
            .spend
            .add_exp_tweak(&SECP, &Scalar::from(t_k))
            .map_err(|_| SendError::Tweak)?;
        out.push(p.x_only_public_key().0);
    }
    Ok(out)
}

/// The sum of points; None at infinity.
fn sum(points: &[PublicKey]) -> Option<PublicKey> {
    let refs: Vec<&PublicKey> = points.iter().collect();
    PublicKey::combine_keys(&refs).ok()
}
