//! What the tweak index keeps per transaction: for each transaction that can pay a silent
//! payment (at least one taproot output, and eligible inputs), its 33-byte tweak and its taproot
//! outputs (x-only key, value, output index). Computed by the sync workers from a block and the
//! outputs its inputs spend, and by the mempool from a transaction and its parents.

use super::inputs::is_p2tr;
use super::tweak::{TxInput, tweak};
use bitcoin::Transaction;
use bitcoin::consensus::Decodable;
use bitcoin::secp256k1::PublicKey;

/// A taproot output of an eligible transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaprootOutput {
    pub vout: u32,
    pub value: u64,
    /// The x-only output key (the script's 32-byte program).
    pub key: [u8; 32],
}

/// An eligible transaction of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxTweak {
    /// Position of the transaction in its block (0 is the coinbase, never eligible).
    pub index: u32,
    /// `input_hash·A`, compressed.
    pub tweak: [u8; 33],
    /// Its taproot outputs, by increasing `vout`.
    pub outputs: Vec<TaprootOutput>,
}

impl TxTweak {
    /// Whether some taproot output holds at least `dust` satoshis.
    pub fn above_dust(&self, dust: u64) -> bool {
        self.outputs.iter().any(|o| o.value >= dust)
    }
}

/// The tweak of a decoded transaction, given the scripts of the outputs its inputs spend (in
/// input order); None when it is not scanned or `prevout_scripts` does not match its inputs.
pub fn tweak_of(tx: &Transaction, prevout_scripts: &[&[u8]]) -> Option<PublicKey> {
    if tx.is_coinbase() || tx.input.len() != prevout_scripts.len() {
        return None;
    }
    let witnesses: Vec<Vec<&[u8]>> = tx
        .input
        .iter()
        .map(|i| i.witness.iter().collect())
        .collect();
    tweak(
        tx.input
            .iter()
            .zip(&witnesses)
            .zip(prevout_scripts)
            .map(|((i, w), prevout)| TxInput {
                txid: bitcoin::hashes::Hash::to_byte_array(i.previous_output.txid),
                vout: i.previous_output.vout,
                script_sig: i.script_sig.as_bytes(),
                witness: w,
                prevout_script: prevout,
            }),
    )
}

/// Whether any of `scripts` is a taproot output: the cheap test done on every transaction
/// before the expensive part.
pub fn pays_taproot<'a>(mut scripts: impl Iterator<Item = &'a [u8]>) -> bool {
    scripts.any(is_p2tr)
}

/// The tweak and taproot outputs of one transaction, from its serialization and the scripts of
/// the outputs its inputs spend (in input order). `None` when it is not eligible: no taproot
/// output, no eligible input, an input spending segwit v2+, keys summing to infinity, or data
/// that does not decode (a transaction the caller parsed already decodes; the check is for
/// safety). `index` is left 0 for the caller to set.
pub fn tx_tweak(raw_tx: &[u8], prevout_scripts: &[&[u8]]) -> Option<TxTweak> {
    let mut reader = raw_tx;
    let tx = Transaction::consensus_decode(&mut reader).ok()?;
    if !reader.is_empty() || tx.is_coinbase() || tx.input.len() != prevout_scripts.len() {
        return None;
    }
    let outputs: Vec<TaprootOutput> = tx
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| is_p2tr(o.script_pubkey.as_bytes()))
        .filter_map(|(vout, o)| {
            Some(TaprootOutput {
                vout: vout as u32,
                value: o.value.to_sat(),
                key: o.script_pubkey.as_bytes().get(2..34)?.try_into().ok()?,
            })
        })
        .collect();
    if outputs.is_empty() {
        return None;
    }
    let t = tweak_of(&tx, prevout_scripts)?;
    Some(TxTweak {
        index: 0,
        tweak: t.serialize(),
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::serialize;
    use bitcoin::secp256k1::{PublicKey, SecretKey};
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness, absolute};

    fn p2wpkh_spend(key: &SecretKey, vout: u32) -> (TxIn, ScriptBuf) {
        let pk = bitcoin::CompressedPublicKey(PublicKey::from_secret_key(&super::super::SECP, key));
        let mut w = Witness::new();
        w.push([0x30; 71]);
        w.push(pk.to_bytes());
        let input = TxIn {
            previous_output: OutPoint {
                txid: bitcoin::hashes::Hash::from_byte_array([vout as u8; 32]),
                vout,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: w,
        };
        (input, ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()))
    }

    fn taproot_out(x: u8, value: u64) -> TxOut {
        let mut s = vec![0x51, 0x20];
        s.extend_from_slice(&[x; 32]);
        TxOut {
            value: Amount::from_sat(value),
            script_pubkey: ScriptBuf::from_bytes(s),
        }
    }

    #[test]
    fn eligible_tx_gets_the_tweak_of_its_inputs_and_its_taproot_outputs() {
        let k1 = SecretKey::from_slice(&[1; 32]).unwrap();
        let k2 = SecretKey::from_slice(&[2; 32]).unwrap();
        let (i1, s1) = p2wpkh_spend(&k1, 1);
        let (i2, s2) = p2wpkh_spend(&k2, 0);
        let tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![i1, i2],
            output: vec![
                TxOut {
                    value: Amount::from_sat(5),
                    script_pubkey: s1.clone(),
                },
                taproot_out(7, 1000),
                taproot_out(8, 2000),
            ],
        };
        let raw = serialize(&tx);
        let got = tx_tweak(&raw, &[s1.as_bytes(), s2.as_bytes()]).unwrap();
        let expected = tweak(tx.input.iter().zip([&s1, &s2]).map(|(i, s)| {
            // The same inputs through the lower-level API.
            TxInput {
                txid: bitcoin::hashes::Hash::to_byte_array(i.previous_output.txid),
                vout: i.previous_output.vout,
                script_sig: &[],
                witness: Box::leak(i.witness.iter().collect::<Vec<_>>().into_boxed_slice()),
                prevout_script: s.as_bytes(),
            }
        }))
        .unwrap();
        assert_eq!(got.tweak, expected.serialize());
        assert_eq!(
            got.outputs,
            vec![
                TaprootOutput {
                    vout: 1,
                    value: 1000,
                    key: [7; 32]
                },
                TaprootOutput {
                    vout: 2,
                    value: 2000,
                    key: [8; 32]
                }
            ]
        );
        assert!(got.above_dust(2000) && !got.above_dust(2001));
        // Wrong prevout count, trailing bytes, garbage: not eligible, no panic.
        assert!(tx_tweak(&raw, &[s1.as_bytes()]).is_none());
        let mut long = raw.clone();
        long.push(0);
        assert!(tx_tweak(&long, &[s1.as_bytes(), s2.as_bytes()]).is_none());
        assert!(tx_tweak(&raw[..raw.len() / 2], &[]).is_none());
        // Without a taproot output there is nothing to scan.
        let mut plain = tx.clone();
        plain.output.truncate(1);
        assert!(tx_tweak(&serialize(&plain), &[s1.as_bytes(), s2.as_bytes()]).is_none());
        assert!(!pays_taproot(
            plain.output.iter().map(|o| o.script_pubkey.as_bytes())
        ));
        assert!(pays_taproot(
            tx.output.iter().map(|o| o.script_pubkey.as_bytes())
        ));
    }
}
