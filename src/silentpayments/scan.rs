//! The receiver's side of BIP352: from a transaction's tweak and its taproot outputs, the
//! outputs paying this receiver (scan key, spend key, labels), with the private key tweak that
//! spends each. Used by server-side scanning; a client-side scanner does the same with the
//! tweaks the server serves.

use super::{SECP, tagged_hash};
use bitcoin::secp256k1::{Parity, PublicKey, Scalar, SecretKey, XOnlyPublicKey};
use std::collections::HashMap;

/// Most outputs one transaction can pay to one scan key (BIP352's K_max): the scan stops there.
pub const K_MAX: u32 = 2323;

/// An output found for the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub output: XOnlyPublicKey,
    /// What to add to the spend private key to spend it: `t_k`, plus the label's tweak.
    pub priv_key_tweak: SecretKey,
    /// The label `m`, if it paid a labelled address.
    pub label: Option<u32>,
}

/// A receiver's scan material. It holds the scan private key: keep it only as long as the
/// scan, and never log it.
pub struct Receiver {
    scan: SecretKey,
    spend: PublicKey,
    /// `label·G` (compressed) → (m, label tweak).
    labels: HashMap<[u8; 33], (u32, SecretKey)>,
    /// The same, as a list: `(m, label·G, label tweak)`.
    label_list: Vec<(u32, PublicKey, SecretKey)>,
}

impl std::fmt::Debug for Receiver {
    /// Shows neither key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Receiver({} labels)", self.labels.len())
    }
}

/// Why a receiver cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiverError {
    #[error("label {0} gives an invalid tweak")]
    Label(u32),
}

impl Receiver {
    /// A receiver scanning with `scan` for outputs to `spend` and to the labelled addresses
    /// `labels` (the change label 0 only if listed).
    pub fn new(
        scan: SecretKey,
        spend: PublicKey,
        labels: &[u32],
    ) -> Result<Receiver, ReceiverError> {
        let mut map = HashMap::with_capacity(labels.len());
        let mut list = Vec::with_capacity(labels.len());
        for &m in labels {
            let tweak = label_tweak(&scan, m).ok_or(ReceiverError::Label(m))?;
            let point = PublicKey::from_secret_key(&SECP, &tweak);
            if map.insert(point.serialize(), (m, tweak)).is_none() {
                list.push((m, point, tweak));
            }
        }
        Ok(Receiver {
            scan,
            spend,
            labels: map,
            label_list: list,
        })
    }

    /// The spend key of label `m`'s address: `B_spend + hash_BIP0352/Label(b_scan || m)·G`.
    pub fn labelled_spend_key(&self, m: u32) -> Option<PublicKey> {
        let tweak = label_tweak(&self.scan, m)?;
        self.spend.add_exp_tweak(&SECP, &Scalar::from(tweak)).ok()
    }

    /// The outputs among `outputs` (a transaction's taproot output keys) that pay this
    /// receiver, given the transaction's `tweak`.
    pub fn scan(&self, tweak: &PublicKey, outputs: &[XOnlyPublicKey]) -> Vec<Found> {
        let raw: Vec<[u8; 32]> = outputs.iter().map(|o| o.serialize()).collect();
        self.scan_keys(tweak, &raw)
    }

    /// [`Receiver::scan`] over x-only keys as stored (32 bytes each): they are compared as
    /// bytes and parsed only when one matches, so a scan that finds nothing (nearly all)
    /// never pays for decoding them.
    pub fn scan_keys(&self, tweak: &PublicKey, outputs: &[[u8; 32]]) -> Vec<Found> {
        let Ok(ecdh) = tweak.mul_tweak(&SECP, &Scalar::from(self.scan)) else {
            return Vec::new();
        };
        let shared = ecdh.serialize();
        let mut left: Vec<[u8; 32]> = outputs.to_vec();
        let mut found = Vec::new();
        for k in 0..K_MAX {
            let t = tagged_hash("BIP0352/SharedSecret", &[&shared, &k.to_be_bytes()]);
            let Ok(t_k) = SecretKey::from_slice(&t) else {
                break;
            };
            let Ok(p_k) = self.spend.add_exp_tweak(&SECP, &Scalar::from(t_k)) else {
                break;
            };
            let Some((at, hit)) = self.match_output(&p_k, t_k, &left) else {
                break;
            };
            left.swap_remove(at);
            found.push(hit);
        }
        found
    }

    /// An output of `left` (its position) that is `P_k`, or `P_k` plus one of our labels (an
    /// x-only output matches either parity).
    fn match_output(
        &self,
        p_k: &PublicKey,
        t_k: SecretKey,
        left: &[[u8; 32]],
    ) -> Option<(usize, Found)> {
        let position = |x: &XOnlyPublicKey| {
            let b = x.serialize();
            left.iter().position(|o| *o == b)
        };
        let (p_x, _) = p_k.x_only_public_key();
        if let Some(at) = position(&p_x) {
            return Some((
                at,
                Found {
                    output: p_x,
                    priv_key_tweak: t_k,
                    label: None,
                },
            ));
        }
        let labelled = |at: usize, m: u32, label_tweak: &SecretKey, output: XOnlyPublicKey| {
            let tweak = t_k.add_tweak(&Scalar::from(*label_tweak)).ok()?;
            Some((
                at,
                Found {
                    output,
                    priv_key_tweak: tweak,
                    label: Some(m),
                },
            ))
        };
        if self.label_list.len() <= 2 * left.len() {
            // Few labels: P_k + label for each, looked up among the outputs.
            for (m, point, label_tweak) in &self.label_list {
                let Ok(q) = p_k.combine(point) else { continue };
                let (q_x, _) = q.x_only_public_key();
                if let Some(at) = position(&q_x) {
                    return labelled(at, *m, label_tweak, q_x);
                }
            }
            return None;
        }
        // Many labels (a recovery scanning for thousands): output - P_k, both parities,
        // looked up among the labels.
        let minus_p = p_k.negate(&SECP);
        for (at, raw) in left.iter().enumerate() {
            let Ok(out) = XOnlyPublicKey::from_slice(raw) else {
                continue;
            };
            let even = out.public_key(Parity::Even);
            for candidate in [even, even.negate(&SECP)] {
                let Ok(label) = candidate.combine(&minus_p) else {
                    continue;
                };
                if let Some((m, label_tweak)) = self.labels.get(&label.serialize()) {
                    return labelled(at, *m, label_tweak, out);
                }
            }
        }
        None
    }
}

/// `hash_BIP0352/Label(ser_256(b_scan) || ser_32(m))` as a key; None if not a valid scalar.
pub fn label_tweak(scan: &SecretKey, m: u32) -> Option<SecretKey> {
    let h = tagged_hash("BIP0352/Label", &[&scan.secret_bytes(), &m.to_be_bytes()]);
    SecretKey::from_slice(&h).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silentpayments::address::SpAddress;
    use crate::silentpayments::send::{InputSecret, outputs};
    use crate::silentpayments::tweak::input_hash;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_slice(&[n; 32]).expect("key")
    }

    /// Both ways of matching labels (adding each label to P_k, for few labels; subtracting
    /// P_k from each output, for many) find the same outputs, with the same tweaks.
    #[test]
    fn few_and_many_labels_find_the_same() {
        let (scan, spend) = (key(1), key(2));
        let base = Receiver::new(scan, spend.public_key(&SECP), &[]).expect("receiver");
        // Pay the plain address (k = 0), then label 37 twice, from one input.
        let to = |m: Option<u32>| SpAddress {
            scan: scan.public_key(&SECP),
            spend: m.map_or(spend.public_key(&SECP), |m| {
                base.labelled_spend_key(m).expect("label")
            }),
            mainnet: true,
        };
        let a = key(3);
        let outpoint = [7u8; 36];
        let recipients = [to(None), to(Some(37)), to(Some(37))];
        let outs = outputs(
            &[InputSecret {
                key: a,
                taproot: false,
            }],
            &outpoint,
            &recipients,
        )
        .expect("outputs");
        let big_a = a.public_key(&SECP);
        let tweak = big_a
            .mul_tweak(&SECP, &input_hash(&outpoint, &big_a).expect("hash"))
            .expect("tweak");
        let few = Receiver::new(scan, spend.public_key(&SECP), &[37]).expect("receiver");
        let many_labels: Vec<u32> = (0..100).collect();
        let many = Receiver::new(scan, spend.public_key(&SECP), &many_labels).expect("receiver");
        assert!(
            many.label_list.len() > 2 * outs.len(),
            "the subtraction path"
        );
        let sorted = |mut v: Vec<Found>| {
            v.sort_by_key(|f| f.output.serialize());
            v
        };
        let by_few = sorted(few.scan(&tweak, &outs));
        let by_many = sorted(many.scan(&tweak, &outs));
        assert_eq!(by_few.len(), 3);
        assert_eq!(by_few, by_many);
        assert_eq!(by_few.iter().filter(|f| f.label == Some(37)).count(), 2);
        // Without the label, only the plain output: the scan stops at k = 1.
        assert_eq!(base.scan(&tweak, &outs).len(), 1);
        // Spending: b_spend + tweak is the output's key.
        for f in &by_few {
            let d = spend
                .add_tweak(&Scalar::from(f.priv_key_tweak))
                .expect("key");
            assert_eq!(d.x_only_public_key(&SECP).0, f.output);
        }
    }
}
