//! Silent payments (BIP352) on a real regtest chain: the chain generator's sender
//! (`ferrum::chaingen::silent`) pays receivers from every eligible input type (P2TR key path,
//! P2WPKH, P2SH-P2WPKH, compressed P2PKH), alone and mixed with inputs BIP352 skips, to labelled
//! addresses, several times to one receiver and to several receivers in one transaction;
//! bitcoind accepts every block, and a silent payment output is spent later by key path. Then
//! every block is read back from bitcoind (raw, and with its prevouts from `getblock 3`) and
//! scanned: Ferrum's tweak and scanner find every payment and nothing else.
//!
//! An independent implementation, cygnet3's `silentpayments` crate, checks it all again: from
//! the same input keys and outpoints it computes the same output keys (sender side), its own
//! input-key extraction and tweak agree with Ferrum's on every transaction, and its scanner
//! finds the same outputs with the same private key tweaks (receiver side).

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, Scalar, XOnlyPublicKey};
use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use ferrum::chaingen::silent::{
    SpOutput, SpPayment, SpReceiver, SpTx, fund, pay_silent, scan_tx, spend_payment,
    taproot_outputs, tx_tweak,
};
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};
use silentpayments as sp;

fn sat(n: u64) -> Amount {
    Amount::from_sat(n)
}

fn to(receiver: usize, label: Option<u32>, value: u64) -> SpOutput {
    SpOutput {
        receiver,
        label,
        value: sat(value),
    }
}

fn hex(s: &str) -> Vec<u8> {
    ferrum::types::hex_to_bytes(s).unwrap_or_else(|| panic!("hex: {s}"))
}

/// A block of bitcoind's active chain, decoded from `getblock <hash> 0`, with the outputs
/// spent by each of its transactions from `getblock <hash> 3` (empty for the coinbase).
fn block_at(d: &Bitcoind, height: u32) -> (Block, Vec<Vec<TxOut>>) {
    let hash: BlockHash = d
        .rpc("getblockhash", json!([height]))
        .unwrap()
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let raw = d.rpc("getblock", json!([hash.to_string(), 0])).unwrap();
    let block: Block = bitcoin::consensus::deserialize(&hex(raw.as_str().unwrap())).unwrap();
    assert_eq!(block.block_hash(), hash);
    let full = d.rpc("getblock", json!([hash.to_string(), 3])).unwrap();
    let txs = full["tx"].as_array().unwrap();
    assert_eq!(txs.len(), block.txdata.len());
    let mut prevouts = Vec::new();
    for (tx, j) in block.txdata.iter().zip(txs) {
        assert_eq!(j["txid"].as_str().unwrap(), tx.compute_txid().to_string());
        let spent: Vec<TxOut> = if tx.is_coinbase() {
            Vec::new()
        } else {
            j["vin"]
                .as_array()
                .unwrap()
                .iter()
                .map(|vin| {
                    let p = &vin["prevout"];
                    TxOut {
                        value: sat((p["value"].as_f64().unwrap() * 1e8).round() as u64),
                        script_pubkey: ScriptBuf::from(hex(p["scriptPubKey"]["hex"]
                            .as_str()
                            .unwrap())),
                    }
                })
                .collect()
        };
        prevouts.push(spent);
    }
    (block, prevouts)
}

/// The `silentpayments` crate's receiver for `r` (it always scans for the change label 0).
fn their_receiver(r: &SpReceiver) -> sp::receiving::Receiver {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let mut recv = sp::receiving::Receiver::new(
        sp::SpVersion::ZERO,
        r.scan.public_key(&secp),
        r.spend.public_key(&secp),
        sp::receiving::Label::new(r.scan, 0),
        sp::Network::Testnet,
    )
    .unwrap();
    for &m in &r.labels {
        recv.add_label(sp::receiving::Label::new(r.scan, m))
            .unwrap();
    }
    recv
}

/// The crate's code for `r` at `label`: the same string as Ferrum's address.
fn their_code(r: &SpReceiver, label: Option<u32>) -> sp::SilentPaymentCode {
    let recv = their_receiver(r);
    let (code, ours) = match label {
        None => (recv.receiving_code(), r.address()),
        Some(m) => (
            recv.receiving_code_for_label(&sp::receiving::Label::new(r.scan, m))
                .unwrap(),
            r.labelled_address(m).unwrap(),
        ),
    };
    assert_eq!(
        code.to_string(),
        ours.encode(),
        "address of label {label:?}"
    );
    code
}

fn their_outpoints(tx: &Transaction) -> Vec<sp::utils::OutPoint> {
    tx.input
        .iter()
        .map(|i| {
            sp::utils::OutPoint::from_txid_bytes_and_vout(
                i.previous_output.txid.to_byte_array(),
                i.previous_output.vout,
            )
        })
        .collect()
}

/// Sender side: the crate computes, from the transaction's input keys and outpoints, the same
/// output keys for every recipient (in the same order for a recipient paid several times).
fn check_sender(rs: &[SpReceiver], made: &SpTx) {
    let keys: Vec<(bitcoin::secp256k1::SecretKey, bool)> = made
        .inputs
        .iter()
        .flatten()
        .map(|i| (i.key, i.taproot))
        .collect();
    let partial =
        sp::utils::sending::calculate_partial_secret(&keys, &their_outpoints(&made.tx)).unwrap();
    let codes: Vec<sp::SilentPaymentCode> = made
        .payments
        .iter()
        .map(|p| their_code(&rs[p.receiver], p.label))
        .collect();
    let theirs = sp::sending::generate_recipient_pubkeys(codes.clone(), partial).unwrap();
    let mut ours: BTreeMap<String, Vec<XOnlyPublicKey>> = BTreeMap::new();
    for (code, p) in codes.iter().zip(&made.payments) {
        ours.entry(code.to_string()).or_default().push(p.output_key);
    }
    assert_eq!(theirs.len(), ours.len());
    for (code, keys) in theirs {
        assert_eq!(Some(&keys), ours.get(&code.to_string()), "{code}");
    }
}

/// One find: (txid, vout, receiver, label, private key tweak).
type Find = (Txid, u32, usize, Option<u32>, [u8; 32]);

/// The crate's tweak of `tx` from its own reading of the inputs; None when it has no
/// eligible input.
fn their_tweak(tx: &Transaction, prevouts: &[TxOut]) -> Option<PublicKey> {
    let keys: Vec<PublicKey> = tx
        .input
        .iter()
        .zip(prevouts)
        .filter_map(|(i, p)| {
            let witness: Vec<Vec<u8>> = i.witness.iter().map(<[u8]>::to_vec).collect();
            sp::utils::receiving::get_pubkey_from_input(
                i.script_sig.as_bytes(),
                &witness,
                p.script_pubkey.as_bytes(),
            )
            .unwrap()
        })
        .collect();
    if keys.is_empty() {
        return None;
    }
    let refs: Vec<&PublicKey> = keys.iter().collect();
    Some(sp::utils::receiving::calculate_tweak_data(&refs, &their_outpoints(tx)).unwrap())
}

/// What the crate's scanner finds for receiver `i` in `tx`, given its tweak.
fn their_finds(rs: &[SpReceiver], i: usize, tx: &Transaction, tweak: &PublicKey) -> Vec<Find> {
    let r = &rs[i];
    let shared = sp::utils::receiving::calculate_ecdh_shared_secret(tweak, &r.scan);
    let outs = taproot_outputs(tx);
    let keys: Vec<XOnlyPublicKey> = outs.iter().map(|(_, k)| *k).collect();
    let found = their_receiver(r).scan_transaction(&shared, &keys).unwrap();
    let mut finds = Vec::new();
    for (label, outputs) in found {
        let m = label.map(|l| {
            r.labels
                .iter()
                .copied()
                .chain([0])
                .find(|&m| sp::receiving::Label::new(r.scan, m) == l)
                .expect("a label of ours")
        });
        for (key, tweak) in outputs {
            for (vout, _) in outs.iter().filter(|(_, k)| *k == key) {
                finds.push((tx.compute_txid(), *vout, i, m, tweak.to_be_bytes()));
            }
        }
    }
    finds
}

#[test]
fn silent_payments_from_every_input_type_are_mined_found_and_spent() {
    use OutputType::*;
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(352);
    b.mine_empty(&d, 101).unwrap();
    let rs = vec![
        SpReceiver::from_seed(1, &[]),
        SpReceiver::from_seed(2, &[0, 7, 1000]),
        SpReceiver::from_seed(3, &[5]),
    ];

    // UTXOs of the input types wanted, mined.
    let kinds = [
        P2tr,
        P2wpkh,
        P2shP2wpkh,
        P2pkh, // 0..4: one of each alone
        P2pkh,
        P2pkh, // 4, 5: two P2PKH
        P2tr,
        P2wpkh,
        P2pkh,
        P2shP2wpkh,
        P2wshMultisig,
        P2pk,
        P2shMultisig,  // 6..13: mixed
        P2wshMultisig, // 13: ineligible alone
    ];
    let (fund_tx, ops) = fund(&mut b, &kinds, sat(500_000)).unwrap();
    b.mine_txs(&d, vec![fund_tx]).unwrap();

    let mut made: Vec<SpTx> = Vec::new();
    let pay = |b: &mut ChainBuilder,
               made: &mut Vec<SpTx>,
               inputs: &[OutPoint],
               to: &[SpOutput],
               other: &[(ScriptBuf, Amount)]| {
        let m = pay_silent(b, &rs, inputs, to, other).unwrap();
        let tx = m.tx.clone();
        made.push(m);
        tx
    };
    // One block: each eligible type alone; several outputs to one receiver.
    let plain = b.new_script(P2wpkh);
    let block1 = vec![
        pay(&mut b, &mut made, &ops[0..1], &[to(0, None, 100_000)], &[]),
        pay(
            &mut b,
            &mut made,
            &ops[1..2],
            &[to(1, Some(7), 100_000)],
            &[],
        ),
        pay(
            &mut b,
            &mut made,
            &ops[2..3],
            &[to(2, None, 100_000)],
            &[(plain, sat(50_000))],
        ),
        pay(
            &mut b,
            &mut made,
            &ops[3..4],
            &[
                to(0, None, 60_000),
                to(0, None, 70_000),
                to(0, None, 80_000),
            ],
            &[],
        ),
    ];
    b.mine_txs(&d, block1).unwrap();

    // The next: labels (the change label too) and several receivers in one transaction; all
    // the input types mixed with ineligible ones (P2WSH multisig, P2PK, P2SH multisig) next
    // to an ordinary taproot output and an OP_RETURN; a spend of that transaction's change in
    // the same block; and a transaction with no eligible input.
    let ordinary_tr = b.new_script(P2tr);
    let op_return = b.new_script(OpReturn);
    let mut block2 = vec![
        pay(
            &mut b,
            &mut made,
            &ops[4..6],
            &[
                to(1, Some(1000), 90_000),
                to(1, Some(0), 91_000),
                to(2, Some(5), 92_000),
            ],
            &[],
        ),
        pay(
            &mut b,
            &mut made,
            &ops[6..13],
            &[
                to(0, None, 200_000),
                to(1, None, 210_000),
                to(2, Some(5), 220_000),
                to(0, None, 230_000),
                to(1, Some(7), 240_000),
            ],
            &[(ordinary_tr, sat(100_000)), (op_return, Amount::ZERO)],
        ),
    ];
    let mixed = &made[made.len() - 1].tx;
    assert_eq!(mixed.input.len(), 7);
    let change = OutPoint::new(mixed.compute_txid(), mixed.output.len() as u32 - 1);
    assert_eq!(
        b.script_type(&mixed.output[change.vout as usize].script_pubkey),
        Some(P2wpkh)
    );
    block2.push(pay(
        &mut b,
        &mut made,
        &[change],
        &[to(2, None, 150_000)],
        &[],
    ));
    let err = pay_silent(&mut b, &rs, &ops[13..14], &[to(0, None, 1_000)], &[]).unwrap_err();
    assert!(err.to_string().contains("no eligible input"), "{err}");
    let to_tr = b.new_script(P2tr);
    block2.push(
        b.tx_spending(&ops[13..14], &[(to_tr, sat(400_000))])
            .unwrap(),
    );
    b.mine_txs(&d, block2).unwrap();

    // Random transactions around (taproot outputs and inputs of the builder among them).
    for _ in 0..2 {
        b.mine_block_with(&d, 12).unwrap();
    }

    // Spend two silent payment outputs by key path, one to a taproot script of the builder,
    // which then spends what it received.
    let payments: Vec<SpPayment> = made.iter().flat_map(|m| m.payments.clone()).collect();
    let spent = [payments[4], payments[6]];
    assert_eq!((spent[0].receiver, spent[0].k), (0, 1));
    assert_eq!(spent[1].label, Some(1000));
    let back_tr = b.new_script(P2tr);
    let spends = vec![
        spend_payment(&spent[0], b.new_script(P2wpkh), sat(400)).unwrap(),
        spend_payment(&spent[1], back_tr, sat(300)).unwrap(),
    ];
    let received = OutPoint::new(spends[1].compute_txid(), 0);
    b.mine_txs(&d, spends).unwrap();
    assert!(
        b.utxo(&received).is_some(),
        "the builder owns the spend's output"
    );
    let again = b.new_script(P2wpkh);
    let onward = b.tx_spending(&[received], &[(again, sat(50_000))]).unwrap();
    b.mine_txs(&d, vec![onward]).unwrap();

    // bitcoind's UTXO set: the spent payments are gone, the others are there as made.
    for p in &payments {
        let utxo = d
            .rpc("gettxout", json!([p.txid.to_string(), p.vout]))
            .unwrap();
        if spent.contains(p) {
            assert_eq!(utxo, Value::Null);
        } else {
            assert_eq!(
                utxo["scriptPubKey"]["hex"].as_str().unwrap(),
                ferrum::types::bytes_to_hex(p.script_pubkey().as_bytes())
            );
            assert_eq!(
                (utxo["value"].as_f64().unwrap() * 1e8).round() as u64,
                p.value.to_sat()
            );
        }
    }

    for m in &made {
        check_sender(&rs, m);
    }

    // Read the chain back and scan it all, with Ferrum and with the crate.
    let receivers: Vec<_> = rs.iter().map(|r| r.receiver().unwrap()).collect();
    let (_, tip) = d.tip().unwrap();
    let mut ours: BTreeSet<Find> = BTreeSet::new();
    let mut theirs: BTreeSet<Find> = BTreeSet::new();
    let mut tweaks = BTreeMap::new();
    let mut scanned = 0;
    for height in 102..=tip {
        let (block, prevouts) = block_at(&d, height);
        for (tx, spent) in block.txdata.iter().zip(&prevouts).skip(1) {
            let tweak = tx_tweak(tx, spent);
            assert_eq!(
                tweak,
                their_tweak(tx, spent),
                "tweak of {}",
                tx.compute_txid()
            );
            let Some(tweak) = tweak else { continue };
            scanned += 1;
            tweaks.insert(tx.compute_txid(), tweak);
            for (i, r) in receivers.iter().enumerate() {
                for (vout, f) in scan_tx(r, tx, spent) {
                    let t = f.priv_key_tweak.secret_bytes();
                    ours.insert((tx.compute_txid(), vout, i, f.label, t));
                }
                theirs.extend(their_finds(&rs, i, tx, &tweak));
            }
        }
    }
    assert!(
        scanned > made.len() + 10,
        "random transactions were scanned too"
    );
    let expected: BTreeSet<(Txid, u32, usize, Option<u32>)> = payments
        .iter()
        .map(|p| (p.txid, p.vout, p.receiver, p.label))
        .collect();
    assert_eq!(expected.len(), 15);
    let found: BTreeSet<(Txid, u32, usize, Option<u32>)> =
        ours.iter().map(|f| (f.0, f.1, f.2, f.3)).collect();
    assert_eq!(
        found, expected,
        "Ferrum finds every payment and nothing else"
    );
    assert_eq!(
        ours, theirs,
        "the crate finds the same, with the same tweaks"
    );
    for p in &payments {
        assert_eq!(tweaks.get(&p.txid), Some(&p.tweak));
        let f = ours
            .iter()
            .find(|f| (f.0, f.1) == (p.txid, p.vout))
            .unwrap();
        let tweak = Scalar::from_be_bytes(f.4).unwrap();
        let key = rs[p.receiver].spend.add_tweak(&tweak).unwrap();
        assert!(key == p.secret || key.negate() == p.secret);
    }
}
