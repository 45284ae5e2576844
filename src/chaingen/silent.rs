//! Silent payments (BIP352) sent on test chains, for the end-to-end tests of the tweak index.
//!
//! An [`SpReceiver`] is a receiver's keys and labels, derived from a seed. [`pay_silent`] makes
//! a transaction through a [`ChainBuilder`] (so its UTXO set stays consistent) that spends
//! chosen UTXOs of the builder — of any type: BIP352 counts P2TR (key path), P2WPKH,
//! P2SH-P2WPKH and P2PKH (the builder signs with compressed keys) and skips the others — and
//! pays silent payment outputs to one or more receivers, plain or labelled, several to one
//! receiver if wanted, next to ordinary outputs and the builder's change. Each output comes with
//! an [`SpPayment`]: where it is, who it pays, the transaction's tweak and the private key that
//! spends it, which [`spend_payment`] uses for a taproot key-path spend. [`fund`] makes UTXOs of
//! the input types a test wants.
//!
//! The output keys come from [`crate::silentpayments::send::outputs`]; the payment's tweak and
//! key are derived here another way (the input keys summed as scalars, `a·input_hash·B_scan` as
//! one multiplication, where the sender sums per-input shares) and must give the same keys.

use anyhow::{Context, Result, anyhow, bail, ensure};
use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak, TweakedPublicKey};
use bitcoin::secp256k1::{Message, Parity, PublicKey, Scalar, SecretKey, XOnlyPublicKey};
use bitcoin::sighash::{Prevouts, SighashCache, TapSighashType};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid, Witness};

use super::builder::{ChainBuilder, Utxo};
use super::wallet::{KeyChain, OutputType, unsigned_tx};
use crate::silentpayments::address::SpAddress;
use crate::silentpayments::scan::{Found, Receiver, label_tweak};
use crate::silentpayments::send::{InputSecret, outputs};
use crate::silentpayments::tweak::input_hash;
use crate::silentpayments::{SECP, tagged_hash};

/// A silent payment receiver: its scan and spend keys and the labels it scans for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpReceiver {
    pub scan: SecretKey,
    pub spend: SecretKey,
    /// The labels `m` it scans for (0 is the change label, only if listed).
    pub labels: Vec<u32>,
}

impl SpReceiver {
    /// The receiver of `seed`: its keys derive from the seed alone (and differ from the keys of
    /// a [`ChainBuilder`] of the same seed).
    pub fn from_seed(seed: u64, labels: &[u32]) -> SpReceiver {
        SpReceiver {
            scan: seeded_key(seed, b"scan"),
            spend: seeded_key(seed, b"spend"),
            labels: labels.to_vec(),
        }
    }

    /// The plain address (`tsp1…`: a test network's).
    pub fn address(&self) -> SpAddress {
        SpAddress {
            scan: self.scan.public_key(&SECP),
            spend: self.spend.public_key(&SECP),
            mainnet: false,
        }
    }

    /// The address of label `m`: spend key `B_spend + hash_BIP0352/Label(b_scan || m)·G`.
    pub fn labelled_address(&self, m: u32) -> Result<SpAddress> {
        let tweak = label_tweak(&self.scan, m).ok_or_else(|| anyhow!("label {m}: bad tweak"))?;
        let spend = self
            .spend
            .public_key(&SECP)
            .add_exp_tweak(&SECP, &Scalar::from(tweak))
            .with_context(|| format!("label {m}: bad spend key"))?;
        Ok(SpAddress {
            spend,
            ..self.address()
        })
    }

    /// Ferrum's scanner for this receiver (its keys and labels).
    pub fn receiver(&self) -> Result<Receiver> {
        Ok(Receiver::new(
            self.scan,
            self.spend.public_key(&SECP),
            &self.labels,
        )?)
    }
}

/// Key `role` of receiver `seed`: a tagged hash, retried in the (negligible) case it is not a
/// valid key.
fn seeded_key(seed: u64, role: &[u8]) -> SecretKey {
    let mut counter = 0u32;
    loop {
        let h = tagged_hash(
            "ferrum/chaingen/sp-receiver",
            &[role, &seed.to_le_bytes(), &counter.to_le_bytes()],
        );
        if let Ok(k) = SecretKey::from_slice(&h) {
            return k;
        }
        counter += 1;
    }
}

/// One silent payment output to make: receiver `receiver` (an index into the receivers
/// given), at label `label`'s address or the plain one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpOutput {
    pub receiver: usize,
    pub label: Option<u32>,
    pub value: Amount,
}

/// A silent payment output made, with what spends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpPayment {
    pub txid: Txid,
    pub vout: u32,
    pub value: Amount,
    /// The taproot output key `P_k` (the output is `OP_1 <P_k>`, not BIP341-tweaked again).
    pub output_key: XOnlyPublicKey,
    /// Index of the receiver paid.
    pub receiver: usize,
    pub label: Option<u32>,
    /// Its `k` among the transaction's outputs to that receiver's scan key.
    pub k: u32,
    /// The transaction's tweak `input_hash·A`.
    pub tweak: PublicKey,
    /// `b_spend + t_k` (+ the label's tweak), negated if needed so that its public key has an
    /// even y: the key that signs a key-path spend of the output.
    pub secret: SecretKey,
}

impl SpPayment {
    pub fn outpoint(&self) -> OutPoint {
        OutPoint::new(self.txid, self.vout)
    }

    pub fn script_pubkey(&self) -> ScriptBuf {
        p2tr_output(self.output_key)
    }

    pub fn txout(&self) -> TxOut {
        TxOut {
            value: self.value,
            script_pubkey: self.script_pubkey(),
        }
    }
}

/// A transaction made by [`pay_silent`].
#[derive(Debug, Clone)]
pub struct SpTx {
    /// Signed, and registered with the builder as pending.
    pub tx: Transaction,
    /// The outputs its inputs spend, in input order.
    pub prevouts: Vec<TxOut>,
    /// Each input's key as BIP352 counts it; None for an input it skips.
    pub inputs: Vec<Option<InputSecret>>,
    /// Its silent payment outputs, in the order asked.
    pub payments: Vec<SpPayment>,
}

/// The output `OP_1 <key>` with `key` as the output key itself.
fn p2tr_output(key: XOnlyPublicKey) -> ScriptBuf {
    ScriptBuf::new_p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(key))
}

/// The private key of `utxo` (one of the builder's, with the builder's `keys`) as BIP352
/// counts it: the key of a P2PKH, P2WPKH or P2SH-P2WPKH output, the BIP341-tweaked key of a
/// key-path P2TR output (before the even-y negation, which [`outputs`] does); None for the types
/// BIP352 skips (P2PK, multisig, P2WSH).
pub fn input_secret(keys: &KeyChain, utxo: &Utxo) -> Option<InputSecret> {
    let key = keys.secret_key(utxo.spend.key);
    match utxo.spend.kind {
        OutputType::P2pkh | OutputType::P2wpkh | OutputType::P2shP2wpkh => Some(InputSecret {
            key,
            taproot: false,
        }),
        OutputType::P2tr => {
            let tweaked = Keypair::from_secret_key(&SECP, &key)
                .tap_tweak(&SECP, None)
                .to_keypair();
            Some(InputSecret {
                key: tweaked.secret_key(),
                taproot: true,
            })
        }
        _ => None,
    }
}

/// The 36-byte serialized outpoint (txid in internal byte order, vout little-endian).
fn outpoint_bytes(op: &OutPoint) -> [u8; 36] {
    let mut o = [0u8; 36];
    o[..32].copy_from_slice(&op.txid.to_byte_array());
    o[32..].copy_from_slice(&op.vout.to_le_bytes());
    o
}

/// A transaction paying a new script of the builder of each of `kinds`, `value` each (outputs
/// in that order, then change), funded from the builder's spendable UTXOs; with the outpoints of
/// the new outputs. They can be spent by [`pay_silent`] at once (in the same block, after it)
/// or once it is mined.
pub fn fund(
    b: &mut ChainBuilder,
    kinds: &[OutputType],
    value: Amount,
) -> Result<(Transaction, Vec<OutPoint>)> {
    ensure!(
        kinds.iter().all(|k| k.is_spendable()),
        "cannot fund an OP_RETURN input"
    );
    let outs: Vec<(OutputType, Amount)> = kinds.iter().map(|&k| (k, value)).collect();
    let tx = b.tx_paying(&outs)?;
    let txid = tx.compute_txid();
    let ops = (0..kinds.len() as u32)
        .map(|vout| OutPoint::new(txid, vout))
        .collect();
    Ok((tx, ops))
}

/// A transaction spending exactly `inputs` (UTXOs of the builder, of any types) to the
/// ordinary outputs `other`, then one silent payment output per `pay` to `receivers`, then the
/// builder's change when worth it; signed and registered with the builder as pending (mine it
/// with [`ChainBuilder::mine_txs`]). Recipients sharing a scan key get `k = 0, 1, ...` in the
/// order of `pay`. Fails, leaving the builder as it was, when no input is eligible.
pub fn pay_silent(
    b: &mut ChainBuilder,
    receivers: &[SpReceiver],
    inputs: &[OutPoint],
    pay: &[SpOutput],
    other: &[(ScriptBuf, Amount)],
) -> Result<SpTx> {
    ensure!(!pay.is_empty(), "no silent payment to make");
    let mut prevouts = Vec::with_capacity(inputs.len());
    let mut secrets = Vec::with_capacity(inputs.len());
    for op in inputs {
        let u = b
            .utxo(op)
            .with_context(|| format!("{op} is not an unspent output of the builder"))?;
        prevouts.push(u.txout.clone());
        secrets.push(input_secret(b.keys(), u));
    }
    let smallest = inputs
        .iter()
        .map(outpoint_bytes)
        .min()
        .context("a transaction needs inputs")?;
    let eligible: Vec<InputSecret> = secrets.iter().flatten().copied().collect();
    let mut to = Vec::with_capacity(pay.len());
    for p in pay {
        let r = receivers
            .get(p.receiver)
            .with_context(|| format!("no receiver {}", p.receiver))?;
        to.push((
            r,
            match p.label {
                None => r.address(),
                Some(m) => r.labelled_address(m)?,
            },
        ));
    }
    let addresses: Vec<SpAddress> = to.iter().map(|(_, a)| *a).collect();
    let keys = outputs(&eligible, &smallest, &addresses)?;

    // The same keys, another way: a = Σ a_i as a scalar, ecdh = (a·input_hash)·B_scan.
    let a = eligible
        .iter()
        .map(|i| match i.key.x_only_public_key(&SECP).1 {
            Parity::Odd if i.taproot => i.key.negate(),
            _ => i.key,
        })
        .try_fold(None, |sum: Option<SecretKey>, k| match sum {
            None => Ok(Some(k)),
            Some(s) => s.add_tweak(&Scalar::from(k)).map(Some),
        })
        .context("the input keys sum to zero")?
        .context("no eligible input")?;
    let big_a = a.public_key(&SECP);
    let h = input_hash(&smallest, &big_a).context("the input hash is not a valid scalar")?;
    let a_h = a.mul_tweak(&h)?;
    let tx_tweak = a_h.public_key(&SECP);
    let mut k_of: Vec<(PublicKey, u32)> = Vec::new();
    let mut derived = Vec::with_capacity(pay.len());
    for (((r, address), p), key) in to.iter().zip(pay).zip(&keys) {
        let k = match k_of.iter_mut().find(|(s, _)| *s == address.scan) {
            Some((_, k)) => {
                *k += 1;
                *k
            }
            None => {
                k_of.push((address.scan, 0));
                0
            }
        };
        let ecdh = address.scan.mul_tweak(&SECP, &Scalar::from(a_h))?;
        let t = tagged_hash(
            "BIP0352/SharedSecret",
            &[&ecdh.serialize(), &k.to_be_bytes()],
        );
        let mut secret = r
            .spend
            .add_tweak(&Scalar::from(SecretKey::from_slice(&t)?))?;
        if let Some(m) = p.label {
            let lt = label_tweak(&r.scan, m).ok_or_else(|| anyhow!("label {m}: bad tweak"))?;
            secret = secret.add_tweak(&Scalar::from(lt))?;
        }
        let (x, parity) = secret.x_only_public_key(&SECP);
        if parity == Parity::Odd {
            secret = secret.negate();
        }
        ensure!(
            x == *key,
            "output {k} to {}: the sender's key {key} is not b_spend + t_k's {x}",
            address.encode()
        );
        derived.push((k, secret));
    }

    let mut outs: Vec<(ScriptBuf, Amount)> = other.to_vec();
    outs.extend(
        keys.iter()
            .zip(pay)
            .map(|(k, p)| (p2tr_output(*k), p.value)),
    );
    let tx = b.tx_spending(inputs, &outs)?;
    let txid = tx.compute_txid();
    let payments = pay
        .iter()
        .zip(&keys)
        .zip(derived)
        .enumerate()
        .map(|(i, ((p, key), (k, secret)))| SpPayment {
            txid,
            vout: (other.len() + i) as u32,
            value: p.value,
            output_key: *key,
            receiver: p.receiver,
            label: p.label,
            k,
            tweak: tx_tweak,
            secret,
        })
        .collect();
    Ok(SpTx {
        tx,
        prevouts,
        inputs: secrets,
        payments,
    })
}

/// A transaction spending the silent payment `p` by taproot key path (signed with
/// `p.secret`: the output key is `P_k` itself, with no BIP341 tweak) to one output `to` worth
/// `p.value - fee`. The builder knows nothing of it: mine it with [`ChainBuilder::mine_txs`],
/// which adds its output to the builder's UTXOs if `to` is a script of the builder.
pub fn spend_payment(p: &SpPayment, to: ScriptBuf, fee: Amount) -> Result<Transaction> {
    let value = p
        .value
        .checked_sub(fee)
        .filter(|v| *v > Amount::ZERO)
        .with_context(|| format!("{} cannot pay a fee of {fee}", p.value))?;
    let keypair = Keypair::from_secret_key(&SECP, &p.secret);
    ensure!(
        keypair.x_only_public_key().0 == p.output_key,
        "the payment's secret does not match its output key"
    );
    let mut tx = unsigned_tx(
        [p.outpoint()],
        vec![TxOut {
            value,
            script_pubkey: to,
        }],
    );
    if tx.base_size() == 64 {
        bail!("the transaction would be 64 bytes without witness, which consensus rejects");
    }
    let prevouts = [p.txout()];
    let sighash = SighashCache::new(&tx).taproot_key_spend_signature_hash(
        0,
        &Prevouts::All(&prevouts),
        TapSighashType::Default,
    )?;
    let signature =
        SECP.sign_schnorr_no_aux_rand(&Message::from_digest(sighash.to_byte_array()), &keypair);
    let sig = bitcoin::taproot::Signature {
        signature,
        sighash_type: TapSighashType::Default,
    };
    if let Some(input) = tx.input.first_mut() {
        input.witness = Witness::p2tr_key_spend(&sig);
    }
    Ok(tx)
}

/// Ferrum's tweak of `tx` ([`crate::silentpayments::tweak::tweak`]) given the outputs its
/// inputs spend; None when it is not scanned (or `prevouts` does not match its inputs).
pub fn tx_tweak(tx: &Transaction, prevouts: &[TxOut]) -> Option<PublicKey> {
    let scripts: Vec<&[u8]> = prevouts
        .iter()
        .map(|p| p.script_pubkey.as_bytes())
        .collect();
    crate::silentpayments::block::tweak_of(tx, &scripts)
}

/// The taproot outputs of `tx`: (vout, output key).
pub fn taproot_outputs(tx: &Transaction) -> Vec<(u32, XOnlyPublicKey)> {
    tx.output
        .iter()
        .enumerate()
        .filter(|(_, o)| o.script_pubkey.is_p2tr())
        .filter_map(|(i, o)| {
            let key = XOnlyPublicKey::from_slice(o.script_pubkey.as_bytes().get(2..34)?).ok()?;
            Some((i as u32, key))
        })
        .collect()
}

/// What Ferrum's scanner finds for `receiver` in `tx` (spending `prevouts`), with each find's
/// vout, in vout order.
pub fn scan_tx(receiver: &Receiver, tx: &Transaction, prevouts: &[TxOut]) -> Vec<(u32, Found)> {
    let Some(tweak) = tx_tweak(tx, prevouts) else {
        return Vec::new();
    };
    let taproot = taproot_outputs(tx);
    let keys: Vec<XOnlyPublicKey> = taproot.iter().map(|(_, k)| *k).collect();
    let mut found: Vec<(u32, Found)> = receiver
        .scan(&tweak, &keys)
        .into_iter()
        .flat_map(|f| {
            taproot
                .iter()
                .filter(move |(_, k)| *k == f.output)
                .map(move |(vout, _)| (*vout, f))
        })
        .collect();
    found.sort_by_key(|(vout, _)| *vout);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaingen::wallet::op_return_script;
    use std::collections::BTreeSet;

    fn sat(n: u64) -> Amount {
        Amount::from_sat(n)
    }

    /// A builder with confirmed (made-up) UTXOs of every kind in `kinds`, 100k sat each.
    fn builder_with(kinds: &[OutputType]) -> (ChainBuilder, Vec<OutPoint>) {
        let mut b = ChainBuilder::new(11);
        let ops = kinds
            .iter()
            .map(|&k| b.fake_utxo(k, sat(100_000)))
            .collect();
        (b, ops)
    }

    fn receivers() -> Vec<SpReceiver> {
        vec![
            SpReceiver::from_seed(1, &[]),
            SpReceiver::from_seed(2, &[0, 7, 1000]),
            SpReceiver::from_seed(3, &[5]),
        ]
    }

    /// Checks a made transaction: Ferrum's tweak over its signed inputs is every payment's,
    /// each output is where the payment says, each receiver finds exactly its outputs with the
    /// payment's key, and each payment can be spent by key path with a valid signature.
    fn check(rs: &[SpReceiver], made: &SpTx) {
        let tx = &made.tx;
        let tweak = tx_tweak(tx, &made.prevouts).expect("scanned");
        for p in &made.payments {
            assert_eq!(p.tweak, tweak);
            assert_eq!(p.txid, tx.compute_txid());
            assert_eq!(tx.output[p.vout as usize], p.txout());
        }
        for (i, r) in rs.iter().enumerate() {
            let found = scan_tx(&r.receiver().unwrap(), tx, &made.prevouts);
            let got: BTreeSet<(u32, Option<u32>)> =
                found.iter().map(|(v, f)| (*v, f.label)).collect();
            let want: BTreeSet<(u32, Option<u32>)> = made
                .payments
                .iter()
                .filter(|p| p.receiver == i)
                .map(|p| (p.vout, p.label))
                .collect();
            assert_eq!(got, want, "receiver {i}");
            for (vout, f) in found {
                let p = made.payments.iter().find(|p| p.vout == vout).unwrap();
                let key = r.spend.add_tweak(&Scalar::from(f.priv_key_tweak)).unwrap();
                assert!(key == p.secret || key.negate() == p.secret, "vout {vout}");
            }
        }
        for p in &made.payments {
            let spend = spend_payment(p, op_return_script(7), sat(300)).unwrap();
            assert_eq!(spend.output[0].value, p.value - sat(300));
            let sighash = SighashCache::new(&spend)
                .taproot_key_spend_signature_hash(
                    0,
                    &Prevouts::All(&[p.txout()]),
                    TapSighashType::Default,
                )
                .unwrap();
            let sig = bitcoin::taproot::Signature::from_slice(&spend.input[0].witness[0]).unwrap();
            SECP.verify_schnorr(
                &sig.signature,
                &Message::from_digest(sighash.to_byte_array()),
                &p.output_key,
            )
            .expect("valid key-path signature");
        }
    }

    #[test]
    fn mixed_inputs_labels_and_receivers_are_found_by_the_scanner() {
        use OutputType::*;
        let kinds = [P2tr, P2wpkh, P2wshMultisig, P2pkh, P2shP2wpkh, P2pk];
        let (mut b, ops) = builder_with(&kinds);
        let rs = receivers();
        let pay = [
            SpOutput {
                receiver: 0,
                label: None,
                value: sat(10_000),
            },
            SpOutput {
                receiver: 1,
                label: Some(7),
                value: sat(11_000),
            },
            SpOutput {
                receiver: 0,
                label: None,
                value: sat(12_000),
            },
            SpOutput {
                receiver: 1,
                label: None,
                value: sat(13_000),
            },
            SpOutput {
                receiver: 2,
                label: Some(5),
                value: sat(14_000),
            },
            SpOutput {
                receiver: 1,
                label: Some(0),
                value: sat(15_000),
            },
        ];
        let plain = b.new_script(P2tr);
        let made = pay_silent(&mut b, &rs, &ops, &pay, &[(plain, sat(20_000))]).unwrap();
        assert_eq!(made.inputs.iter().filter(|i| i.is_some()).count(), 4);
        let ks: Vec<(usize, u32)> = made.payments.iter().map(|p| (p.receiver, p.k)).collect();
        assert_eq!(ks, [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (1, 2)]);
        assert_eq!(made.payments[0].vout, 1);
        // Change, a P2WPKH of the builder, comes last.
        assert!(made.tx.output.last().unwrap().script_pubkey.is_p2wpkh());
        // The P2PKH input's scriptSig ends with a compressed key.
        let p2pkh = &made.tx.input[3].script_sig;
        let bytes = p2pkh.as_bytes();
        assert_eq!(bytes[bytes.len() - 34], 33);
        assert!(matches!(bytes[bytes.len() - 33], 2 | 3));
        check(&rs, &made);
        // Its inputs are spent, its outputs of ours are UTXOs.
        assert!(ops.iter().all(|op| b.utxo(op).is_none()));
        assert!(b.utxo(&OutPoint::new(made.tx.compute_txid(), 0)).is_some());
    }

    #[test]
    fn each_eligible_type_alone_pays_and_is_found() {
        use OutputType::*;
        let (mut b, ops) = builder_with(&[P2tr, P2wpkh, P2shP2wpkh, P2pkh, P2tr]);
        let rs = receivers();
        for (i, op) in ops.iter().enumerate() {
            let pay = [SpOutput {
                receiver: i % 3,
                label: (i % 3 == 2).then_some(5),
                value: sat(50_000),
            }];
            let made = pay_silent(&mut b, &rs, &[*op], &pay, &[]).unwrap();
            assert_eq!(made.payments[0].vout, 0);
            check(&rs, &made);
        }
    }

    #[test]
    fn only_ineligible_inputs_fail_and_leave_the_builder_as_it_was() {
        use OutputType::*;
        let (mut b, ops) = builder_with(&[P2wshMultisig, P2pk, P2shMultisig, BareMultisig]);
        let rs = receivers();
        let pay = [SpOutput {
            receiver: 0,
            label: None,
            value: sat(1_000),
        }];
        let err = pay_silent(&mut b, &rs, &ops, &pay, &[]).unwrap_err();
        assert!(err.to_string().contains("no eligible input"), "{err}");
        assert!(ops.iter().all(|op| b.utxo(op).is_some()));
        // And funding a tx of chosen kinds from them works.
        let (fund_tx, funded) = fund(&mut b, &[P2tr, P2pkh], sat(30_000)).unwrap();
        assert_eq!(funded[1], OutPoint::new(fund_tx.compute_txid(), 1));
        let made = pay_silent(&mut b, &rs, &funded, &pay, &[]).unwrap();
        check(&rs, &made);
    }

    #[test]
    fn receivers_are_deterministic_and_labelled_addresses_match_the_scanner() {
        let r = SpReceiver::from_seed(9, &[3]);
        assert_eq!(r, SpReceiver::from_seed(9, &[3]));
        assert_ne!(r.scan, SpReceiver::from_seed(10, &[3]).scan);
        assert_ne!(r.scan, r.spend);
        assert!(r.address().encode().starts_with("tsp1q"));
        let labelled = r.labelled_address(3).unwrap();
        assert_eq!(labelled.scan, r.address().scan);
        assert_eq!(
            Some(labelled.spend),
            r.receiver().unwrap().labelled_spend_key(3)
        );
    }
}
