//! Deterministic keys, the output types test chains pay to, and signing of spends of them.
//!
//! Key `i` of a [`KeyChain`] is `sha256(tag || seed || i)`, so a chain is reproducible from its
//! seed and no key material is stored. An output of ours is described by a [`Spend`]: its
//! [`OutputType`] and its first key index (multisig types use consecutive keys). [`sign_tx`]
//! fills in the scriptSig and witness of every input with consensus-valid signatures
//! (`SIGHASH_ALL`, BIP143 for segwit v0, BIP341 key path for taproot).

use anyhow::{Context, Result, bail};
use bitcoin::blockdata::script::{Builder, PushBytesBuf};
use bitcoin::hashes::{Hash, sha256};
use bitcoin::key::{CompressedPublicKey, Keypair, TapTweak};
use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_PUSHNUM_1, OP_PUSHNUM_2, OP_PUSHNUM_3};
use bitcoin::secp256k1::{All, Message, Scalar, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{PublicKey, ScriptBuf, Transaction, TxOut, Witness};

use super::fastsign::{FixedNonce, KeyHint, tap_secret};

/// The kinds of output a test chain creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputType {
    /// Pay-to-pubkey (compressed key), spent with `<sig>`.
    P2pk,
    /// Pay-to-pubkey-hash, spent with `<sig> <pubkey>`.
    P2pkh,
    /// P2SH-wrapped P2WPKH.
    P2shP2wpkh,
    /// P2SH of a 2-of-3 `CHECKMULTISIG`.
    P2shMultisig,
    /// Native segwit v0 pubkey hash.
    P2wpkh,
    /// Native segwit v0 script hash of a 1-of-2 `CHECKMULTISIG`.
    P2wshMultisig,
    /// Taproot, spent by key path (no script tree).
    P2tr,
    /// Bare 1-of-2 `CHECKMULTISIG` in the scriptPubKey.
    BareMultisig,
    /// `OP_RETURN <data>`: provably unspendable, never indexed as a UTXO.
    OpReturn,
}

impl OutputType {
    /// Every output type.
    pub const ALL: [OutputType; 9] = [
        OutputType::P2pk,
        OutputType::P2pkh,
        OutputType::P2shP2wpkh,
        OutputType::P2shMultisig,
        OutputType::P2wpkh,
        OutputType::P2wshMultisig,
        OutputType::P2tr,
        OutputType::BareMultisig,
        OutputType::OpReturn,
    ];

    /// Every output type we can spend (all but [`OutputType::OpReturn`]).
    pub const SPENDABLE: [OutputType; 8] = [
        OutputType::P2pk,
        OutputType::P2pkh,
        OutputType::P2shP2wpkh,
        OutputType::P2shMultisig,
        OutputType::P2wpkh,
        OutputType::P2wshMultisig,
        OutputType::P2tr,
        OutputType::BareMultisig,
    ];

    /// Whether outputs of this type can be spent.
    pub fn is_spendable(self) -> bool {
        self != OutputType::OpReturn
    }

    /// How many consecutive keys a script of this type uses.
    pub fn key_count(self) -> u64 {
        match self {
            OutputType::P2shMultisig => 3,
            OutputType::P2wshMultisig | OutputType::BareMultisig => 2,
            OutputType::OpReturn => 0,
            _ => 1,
        }
    }

    /// Whether the spending transaction's txid is known before signing (no signature in the
    /// scriptSig), so its outputs can be spent later in the same block before it is signed.
    pub fn txid_known_before_signing(self) -> bool {
        matches!(
            self,
            OutputType::P2wpkh
                | OutputType::P2shP2wpkh
                | OutputType::P2wshMultisig
                | OutputType::P2tr
        )
    }

    /// Sigop cost (BIP141 units) of an output of this type: legacy sigops in the scriptPubKey
    /// count 4 each, and a bare `CHECKMULTISIG` counts as 20 sigops.
    pub fn output_sigop_cost(self) -> usize {
        match self {
            OutputType::P2pk | OutputType::P2pkh => 4,
            OutputType::BareMultisig => 80,
            _ => 0,
        }
    }

    /// Sigop cost of spending an output of this type (P2SH redeem scripts and witness scripts
    /// are counted accurately).
    pub fn input_sigop_cost(self) -> usize {
        match self {
            OutputType::P2shMultisig => 12,
            OutputType::P2shP2wpkh | OutputType::P2wpkh => 1,
            OutputType::P2wshMultisig => 2,
            _ => 0,
        }
    }

    /// Approximate virtual size of an input spending this type (for fees).
    pub fn input_vsize(self) -> u64 {
        match self {
            OutputType::P2pk => 114,
            OutputType::P2pkh => 148,
            OutputType::P2shP2wpkh => 91,
            OutputType::P2shMultisig => 297,
            OutputType::P2wpkh => 68,
            OutputType::P2wshMultisig => 105,
            OutputType::P2tr => 58,
            OutputType::BareMultisig => 115,
            OutputType::OpReturn => 0,
        }
    }

    /// Approximate size of an output of this type.
    pub fn output_vsize(self) -> u64 {
        match self {
            OutputType::P2pk => 44,
            OutputType::P2pkh => 34,
            OutputType::P2shP2wpkh | OutputType::P2shMultisig => 32,
            OutputType::P2wpkh => 31,
            OutputType::P2wshMultisig | OutputType::P2tr => 43,
            OutputType::BareMultisig => 80,
            OutputType::OpReturn => 30,
        }
    }
}

/// How to spend one of our outputs: its type and its first key index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spend {
    pub kind: OutputType,
    pub key: u64,
}

/// Deterministic keys derived from a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChain {
    seed: u64,
    /// Key `i` is `base + i` instead of a hash (see [`KeyChain::sequential`]).
    base: Option<SecretKey>,
}

const KEY_TAG: &[u8] = b"ferrum/chaingen/key";

impl KeyChain {
    /// Keys of `seed`.
    pub fn new(seed: u64) -> KeyChain {
        KeyChain { seed, base: None }
    }

    /// Keys of `seed` where key `i` is key 0 of [`KeyChain::new`] plus `i`: consecutive public
    /// keys then differ by the generator point, so [`PublicKeys`] derives each new one with a
    /// point addition instead of a multiplication (what makes 50M-transaction benchmark chains
    /// affordable). The keys are as valid as any; they are only predictable from each other,
    /// which no test chain cares about.
    pub fn sequential(seed: u64) -> KeyChain {
        let base = KeyChain::new(seed).secret_key(0);
        KeyChain {
            seed,
            base: Some(base),
        }
    }

    /// Secret key number `index`.
    pub fn secret_key(&self, index: u64) -> SecretKey {
        if let Some(base) = self.base {
            let mut be = [0u8; 32];
            be[24..].copy_from_slice(&index.to_be_bytes());
            // A u64 is far below the curve order, and base + index is zero with probability
            // ~2^-192: fall back to the hashed key then.
            if let Some(sk) = Scalar::from_be_bytes(be)
                .ok()
                .and_then(|t| base.add_tweak(&t).ok())
            {
                return sk;
            }
        }
        let mut counter = 0u32;
        loop {
            let mut engine = sha256::Hash::engine();
            bitcoin::hashes::HashEngine::input(&mut engine, KEY_TAG);
            bitcoin::hashes::HashEngine::input(&mut engine, &self.seed.to_le_bytes());
            bitcoin::hashes::HashEngine::input(&mut engine, &index.to_le_bytes());
            bitcoin::hashes::HashEngine::input(&mut engine, &counter.to_le_bytes());
            let digest = sha256::Hash::from_engine(engine);
            // Fails with probability ~2^-128 (zero or >= the curve order): try the next counter.
            if let Ok(sk) = SecretKey::from_slice(digest.as_byte_array()) {
                return sk;
            }
            counter += 1;
        }
    }

    /// Compressed public key number `index`.
    pub fn public_key(&self, secp: &Secp256k1<All>, index: u64) -> PublicKey {
        PublicKey::new(self.secret_key(index).public_key(secp))
    }

    /// The scriptPubKey of `spend`.
    pub fn script_pubkey(&self, secp: &Secp256k1<All>, spend: Spend) -> ScriptBuf {
        script_pubkey_of(secp, spend, &mut |i| self.public_key(secp, i))
    }

    /// [`KeyChain::unsigned_script_sig`] with the output's public key given by its hint.
    pub fn unsigned_script_sig_hinted(
        &self,
        secp: &Secp256k1<All>,
        spend: Spend,
        hint: KeyHint,
    ) -> ScriptBuf {
        if let (OutputType::P2shP2wpkh, KeyHint::Pubkey(pk)) = (spend.kind, hint)
            && let Ok(pk) = PublicKey::from_slice(&pk)
        {
            return redeem_push(&p2wpkh_script(pk));
        }
        self.unsigned_script_sig(secp, spend)
    }

    /// The scriptSig a spend of `kind` has before signing: the redeem script push of
    /// P2SH-P2WPKH (which makes the txid known before signing), else empty.
    pub fn unsigned_script_sig(&self, secp: &Secp256k1<All>, spend: Spend) -> ScriptBuf {
        match spend.kind {
            OutputType::P2shP2wpkh => redeem_push(&p2wpkh_script(self.public_key(secp, spend.key))),
            _ => ScriptBuf::new(),
        }
    }
}

/// The scriptPubKey of `spend` with public key `i` given by `pk(i)`.
fn script_pubkey_of(
    secp: &Secp256k1<All>,
    spend: Spend,
    pk: &mut dyn FnMut(u64) -> PublicKey,
) -> ScriptBuf {
    let key = spend.key;
    match spend.kind {
        OutputType::P2pk => ScriptBuf::new_p2pk(&pk(key)),
        OutputType::P2pkh => ScriptBuf::new_p2pkh(&pk(key).pubkey_hash()),
        OutputType::P2shP2wpkh => ScriptBuf::new_p2sh(&p2wpkh_script(pk(key)).script_hash()),
        OutputType::P2shMultisig => {
            ScriptBuf::new_p2sh(&multisig_script(pk, 2, key, 3).script_hash())
        }
        OutputType::P2wpkh => p2wpkh_script(pk(key)),
        OutputType::P2wshMultisig => {
            ScriptBuf::new_p2wsh(&multisig_script(pk, 1, key, 2).wscript_hash())
        }
        OutputType::P2tr => {
            let (xonly, _) = pk(key).inner.x_only_public_key();
            ScriptBuf::new_p2tr(secp, xonly, None)
        }
        OutputType::BareMultisig => multisig_script(pk, 1, key, 2),
        OutputType::OpReturn => op_return_script(key),
    }
}

/// `m`-of-`n` `CHECKMULTISIG` over keys `first..first + n` (n <= 3).
fn multisig_script(pk: &mut dyn FnMut(u64) -> PublicKey, m: u8, first: u64, n: u8) -> ScriptBuf {
    let num = |k: u8| match k {
        1 => OP_PUSHNUM_1,
        2 => OP_PUSHNUM_2,
        _ => OP_PUSHNUM_3,
    };
    let mut b = Builder::new().push_opcode(num(m));
    for i in 0..u64::from(n) {
        b = b.push_key(&pk(first + i));
    }
    b.push_opcode(num(n))
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

/// Public keys of a [`KeyChain::sequential`] asked in increasing order: each next key is the
/// previous one plus the generator (a point addition), any other a multiplication.
pub struct PublicKeys {
    keys: KeyChain,
    generator: bitcoin::secp256k1::PublicKey,
    last: Option<(u64, bitcoin::secp256k1::PublicKey)>,
}

impl PublicKeys {
    pub fn new(secp: &Secp256k1<All>, keys: KeyChain) -> PublicKeys {
        let one = SecretKey::from_slice(&{
            let mut b = [0u8; 32];
            b[31] = 1;
            b
        })
        .expect("1 is a valid secret key");
        PublicKeys {
            keys,
            generator: one.public_key(secp),
            last: None,
        }
    }

    /// Public key `index`.
    pub fn get(&mut self, secp: &Secp256k1<All>, index: u64) -> PublicKey {
        let next = match self.last {
            Some((i, p)) if self.keys.base.is_some() && i + 1 == index => {
                p.combine(&self.generator).ok()
            }
            Some((i, p)) if i == index => Some(p),
            _ => None,
        };
        let key = next.unwrap_or_else(|| self.keys.secret_key(index).public_key(secp));
        self.last = Some((index, key));
        PublicKey::new(key)
    }

    /// The scriptPubKey of `spend`.
    pub fn script_pubkey(&mut self, secp: &Secp256k1<All>, spend: Spend) -> ScriptBuf {
        script_pubkey_of(secp, spend, &mut |i| self.get(secp, i))
    }

    /// The scriptPubKey of `spend` and the [`KeyHint`] that spares its signer a derivation.
    pub fn script_and_hint(&mut self, secp: &Secp256k1<All>, spend: Spend) -> (ScriptBuf, KeyHint) {
        use OutputType::*;
        match spend.kind {
            P2pk | P2pkh | P2wpkh | P2shP2wpkh => {
                let pk = self.get(secp, spend.key);
                let spk = script_pubkey_of(secp, spend, &mut |_| pk);
                (spk, KeyHint::Pubkey(pk.inner.serialize()))
            }
            P2tr => {
                let pk = self.get(secp, spend.key);
                let sk = self.keys.secret_key(spend.key);
                match tap_secret(secp, &sk, &pk.inner) {
                    Some((q, d)) => (
                        ScriptBuf::new_p2tr_tweaked(
                            bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(q),
                        ),
                        KeyHint::Taproot(d.secret_bytes(), q.serialize()),
                    ),
                    None => (self.script_pubkey(secp, spend), KeyHint::None),
                }
            }
            _ => (self.script_pubkey(secp, spend), KeyHint::None),
        }
    }
}

/// `OP_RETURN` with 12 bytes of data derived from `n` (long enough that no transaction of ours
/// is 64 bytes without witness, which consensus rejects).
pub fn op_return_script(n: u64) -> ScriptBuf {
    let mut data = b"ferrum".to_vec();
    data.extend_from_slice(&n.to_le_bytes()[..6]);
    let mut push = PushBytesBuf::new();
    // 12 bytes always fit in a push.
    let _ = push.extend_from_slice(&data);
    ScriptBuf::new_op_return(push)
}

fn p2wpkh_script(pk: PublicKey) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk.inner).wpubkey_hash())
}

/// A scriptSig pushing `script` (as a P2SH redeem script).
fn redeem_push(script: &ScriptBuf) -> ScriptBuf {
    let mut push = PushBytesBuf::new();
    // Our redeem scripts are at most 105 bytes.
    let _ = push.extend_from_slice(script.as_bytes());
    Builder::new().push_slice(push).into_script()
}

/// An unsigned version-2 transaction spending `inputs` (replaceable, no lock time, empty
/// scriptSigs and witnesses) to `outputs`: what [`sign_tx`] signs.
pub fn unsigned_tx(
    inputs: impl IntoIterator<Item = bitcoin::OutPoint>,
    outputs: Vec<TxOut>,
) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: inputs
            .into_iter()
            .map(|previous_output| bitcoin::TxIn {
                previous_output,
                script_sig: ScriptBuf::new(),
                sequence: bitcoin::Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// Signs every input of `tx`. `spent[i]` is the output input `i` spends and `spends[i]` how to
/// spend it; every input must be ours.
pub fn sign_tx(
    secp: &Secp256k1<All>,
    keys: &KeyChain,
    tx: &mut Transaction,
    spent: &[TxOut],
    spends: &[Spend],
) -> Result<()> {
    sign_tx_with(secp, keys, tx, spent, spends, &[], None)
}

/// [`sign_tx`] with what is known of each input's key already (`hints[i]`, may be shorter) and,
/// for benchmark chains, a [`FixedNonce`] (see [`super::fastsign`]).
pub fn sign_tx_with(
    secp: &Secp256k1<All>,
    keys: &KeyChain,
    tx: &mut Transaction,
    spent: &[TxOut],
    spends: &[Spend],
    hints: &[KeyHint],
    fast: Option<&FixedNonce>,
) -> Result<()> {
    let n = tx.input.len();
    if spent.len() != n || spends.len() != n {
        bail!(
            "sign_tx: {} inputs but {} spent outputs and {} spends",
            n,
            spent.len(),
            spends.len()
        );
    }
    let mut signed: Vec<(ScriptBuf, Witness)> = Vec::with_capacity(n);
    {
        let mut cache = SighashCache::new(&*tx);
        let all = EcdsaSighashType::All;
        let ecdsa = |digest: [u8; 32], key: u64| {
            let sk = keys.secret_key(key);
            let signature = fast
                .and_then(|f| f.ecdsa(&digest, &sk))
                .unwrap_or_else(|| secp.sign_ecdsa(&Message::from_digest(digest), &sk));
            bitcoin::ecdsa::Signature {
                signature,
                sighash_type: all,
            }
        };
        for (i, (prev, spend)) in spent.iter().zip(spends).enumerate() {
            let key = spend.key;
            let hint = hints.get(i).copied().unwrap_or_default();
            // The public key of a single-key spend: from the hint, else derived.
            let single_pk = || match hint {
                KeyHint::Pubkey(pk) => {
                    PublicKey::from_slice(&pk).unwrap_or_else(|_| keys.public_key(secp, key))
                }
                _ => keys.public_key(secp, key),
            };
            let spk = &prev.script_pubkey;
            let item = match spend.kind {
                OutputType::P2pk => {
                    let h = cache.legacy_signature_hash(i, spk, all.to_u32())?;
                    let sig = ecdsa(h.to_byte_array(), key);
                    let script = Builder::new().push_slice(sig.serialize()).into_script();
                    (script, Witness::new())
                }
                OutputType::P2pkh => {
                    let h = cache.legacy_signature_hash(i, spk, all.to_u32())?;
                    let sig = ecdsa(h.to_byte_array(), key);
                    let script = Builder::new()
                        .push_slice(sig.serialize())
                        .push_key(&single_pk())
                        .into_script();
                    (script, Witness::new())
                }
                OutputType::BareMultisig => {
                    let h = cache.legacy_signature_hash(i, spk, all.to_u32())?;
                    let sig = ecdsa(h.to_byte_array(), key);
                    let script = Builder::new()
                        .push_opcode(bitcoin::opcodes::OP_0)
                        .push_slice(sig.serialize())
                        .into_script();
                    (script, Witness::new())
                }
                OutputType::P2shMultisig => {
                    let redeem = multisig_script(&mut |i| keys.public_key(secp, i), 2, key, 3);
                    let h = cache.legacy_signature_hash(i, &redeem, all.to_u32())?;
                    let sig0 = ecdsa(h.to_byte_array(), key);
                    let sig1 = ecdsa(h.to_byte_array(), key + 1);
                    let mut push = PushBytesBuf::new();
                    push.extend_from_slice(redeem.as_bytes())
                        .context("redeem script too long")?;
                    let script = Builder::new()
                        .push_opcode(bitcoin::opcodes::OP_0)
                        .push_slice(sig0.serialize())
                        .push_slice(sig1.serialize())
                        .push_slice(push)
                        .into_script();
                    (script, Witness::new())
                }
                OutputType::P2shP2wpkh | OutputType::P2wpkh => {
                    let pk = single_pk();
                    let program = p2wpkh_script(pk);
                    let h = cache.p2wpkh_signature_hash(i, &program, prev.value, all)?;
                    let sig = ecdsa(h.to_byte_array(), key);
                    let script = if spend.kind == OutputType::P2shP2wpkh {
                        redeem_push(&program)
                    } else {
                        ScriptBuf::new()
                    };
                    (script, Witness::p2wpkh(&sig, &pk.inner))
                }
                OutputType::P2wshMultisig => {
                    let ws = multisig_script(&mut |i| keys.public_key(secp, i), 1, key, 2);
                    let h = cache.p2wsh_signature_hash(i, &ws, prev.value, all)?;
                    let sig = ecdsa(h.to_byte_array(), key);
                    let mut witness = Witness::new();
                    witness.push([0u8; 0]);
                    witness.push(sig.serialize());
                    witness.push(ws.as_bytes());
                    (ScriptBuf::new(), witness)
                }
                OutputType::P2tr => {
                    let h = cache.taproot_key_spend_signature_hash(
                        i,
                        &Prevouts::All(spent),
                        TapSighashType::Default,
                    )?;
                    let digest = h.to_byte_array();
                    let quick = match (fast, hint) {
                        (Some(f), KeyHint::Taproot(d, q)) => SecretKey::from_slice(&d)
                            .ok()
                            .and_then(|d| f.schnorr(&digest, &d, &q)),
                        _ => None,
                    };
                    let signature = quick.unwrap_or_else(|| {
                        let keypair = Keypair::from_secret_key(secp, &keys.secret_key(key))
                            .tap_tweak(secp, None)
                            .to_keypair();
                        secp.sign_schnorr_no_aux_rand(&Message::from_digest(digest), &keypair)
                    });
                    let sig = bitcoin::taproot::Signature {
                        signature,
                        sighash_type: TapSighashType::Default,
                    };
                    (ScriptBuf::new(), Witness::p2tr_key_spend(&sig))
                }
                OutputType::OpReturn => bail!("input {i} spends an OP_RETURN output"),
            };
            signed.push(item);
        }
    }
    for (input, (script_sig, witness)) in tx.input.iter_mut().zip(signed) {
        input.script_sig = script_sig;
        input.witness = witness;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, Sequence, TxIn, Txid};

    #[test]
    fn keys_are_deterministic_and_distinct() {
        let a = KeyChain::new(1);
        assert_eq!(a.secret_key(5), KeyChain::new(1).secret_key(5));
        assert_ne!(a.secret_key(5), a.secret_key(6));
        assert_ne!(a.secret_key(5), KeyChain::new(2).secret_key(5));
    }

    /// Sequential keys are base + i, and the point additions of [`PublicKeys`] give the same
    /// public keys and scripts as multiplications, in order or not.
    #[test]
    fn sequential_keys_and_their_public_keys_by_addition() {
        let secp = Secp256k1::new();
        let keys = KeyChain::sequential(3);
        assert_ne!(keys.secret_key(0), keys.secret_key(1));
        let mut pks = PublicKeys::new(&secp, keys);
        for i in [0u64, 1, 2, 3, 10, 11, 11, 12, 5, 6] {
            assert_eq!(pks.get(&secp, i), keys.public_key(&secp, i), "key {i}");
        }
        for (n, kind) in OutputType::SPENDABLE.into_iter().enumerate() {
            let spend = Spend {
                kind,
                key: 100 + 3 * n as u64,
            };
            assert_eq!(
                pks.script_pubkey(&secp, spend),
                keys.script_pubkey(&secp, spend)
            );
        }
    }

    #[test]
    fn scripts_have_the_expected_shape() {
        let secp = Secp256k1::new();
        let keys = KeyChain::new(7);
        let s = |kind| keys.script_pubkey(&secp, Spend { kind, key: 3 });
        assert!(s(OutputType::P2pk).is_p2pk());
        assert!(s(OutputType::P2pkh).is_p2pkh());
        assert!(s(OutputType::P2shP2wpkh).is_p2sh());
        assert!(s(OutputType::P2shMultisig).is_p2sh());
        assert!(s(OutputType::P2wpkh).is_p2wpkh());
        assert!(s(OutputType::P2wshMultisig).is_p2wsh());
        assert!(s(OutputType::P2tr).is_p2tr());
        assert!(s(OutputType::BareMultisig).is_multisig());
        assert!(s(OutputType::OpReturn).is_op_return());
        assert!(!s(OutputType::OpReturn).as_bytes().is_empty());
    }

    /// Signs a transaction spending every type and checks the sigop estimates against
    /// rust-bitcoin's count.
    #[test]
    fn signs_every_type_and_sigops_match() {
        let secp = Secp256k1::new();
        let keys = KeyChain::new(9);
        let mut spent = Vec::new();
        let mut spends = Vec::new();
        let mut input = Vec::new();
        for (i, kind) in OutputType::SPENDABLE.into_iter().enumerate() {
            let spend = Spend {
                kind,
                key: 10 * i as u64,
            };
            spent.push(TxOut {
                value: Amount::from_sat(100_000),
                script_pubkey: keys.script_pubkey(&secp, spend),
            });
            spends.push(spend);
            input.push(TxIn {
                previous_output: OutPoint::new(Txid::all_zeros(), i as u32),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            });
        }
        let outputs: Vec<TxOut> = OutputType::ALL
            .into_iter()
            .enumerate()
            .map(|(i, kind)| TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: keys.script_pubkey(
                    &secp,
                    Spend {
                        kind,
                        key: 500 + 3 * i as u64,
                    },
                ),
            })
            .collect();
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input,
            output: outputs,
        };
        sign_tx(&secp, &keys, &mut tx, &spent, &spends).unwrap();
        for (i, inp) in tx.input.iter().enumerate() {
            assert!(
                !inp.script_sig.is_empty() || !inp.witness.is_empty(),
                "input {i} unsigned"
            );
        }
        let expected: usize = OutputType::SPENDABLE
            .iter()
            .map(|k| k.input_sigop_cost())
            .sum::<usize>()
            + OutputType::ALL
                .iter()
                .map(|k| k.output_sigop_cost())
                .sum::<usize>();
        let counted = tx.total_sigop_cost(|op| spent.get(op.vout as usize).cloned());
        assert_eq!(counted, expected);
    }
}
