//! BIP352's official test vectors (`tests/data/bip352/send_and_receive_test_vectors.json.gz`,
//! copied from the BIP): for every receiving case, the tweak Ferrum computes from the vector's
//! inputs and prevouts is the vector's (`tweak`, and `input_pub_key_sum` on the way), none where
//! the transaction must be skipped, and a scan with the vector's keys and labels finds exactly
//! the expected outputs with their private key tweaks — including the cases that must find
//! nothing and the K_max limit; and for every sending case, the outputs Ferrum's sender makes
//! are one of the vector's sets (none where sending must fail), and every address decodes to
//! the vector's keys and encodes back.

mod common;

use bitcoin::Witness;
use bitcoin::secp256k1::{PublicKey, SecretKey, XOnlyPublicKey};
use ferrum::silentpayments::address::SpAddress;
use ferrum::silentpayments::inputs::{InputKey, input_key, is_p2tr};
use ferrum::silentpayments::scan::{K_MAX, Receiver};
use ferrum::silentpayments::send::{InputSecret, outputs as send_outputs};
use ferrum::silentpayments::tweak::{TxInput, input_sum, tweak};
use serde_json::Value;
use std::collections::BTreeSet;

fn hex(s: &str) -> Vec<u8> {
    ferrum::types::hex_to_bytes(s).unwrap_or_else(|| panic!("hex: {s}"))
}

fn vectors() -> Vec<Value> {
    serde_json::from_str(&common::read_data(
        "bip352/send_and_receive_test_vectors.json.gz",
    ))
    .expect("JSON")
}

/// The vector's inputs, owned.
struct Inputs {
    txids: Vec<[u8; 32]>,
    vouts: Vec<u32>,
    script_sigs: Vec<Vec<u8>>,
    witnesses: Vec<Vec<Vec<u8>>>,
    prevouts: Vec<Vec<u8>>,
}

impl Inputs {
    fn of(vin: &[Value]) -> Inputs {
        let mut i = Inputs {
            txids: vec![],
            vouts: vec![],
            script_sigs: vec![],
            witnesses: vec![],
            prevouts: vec![],
        };
        for v in vin {
            let mut txid: [u8; 32] = hex(v["txid"].as_str().unwrap()).try_into().unwrap();
            txid.reverse(); // displayed big-endian, serialized little-endian
            i.txids.push(txid);
            i.vouts.push(v["vout"].as_u64().unwrap() as u32);
            i.script_sigs.push(hex(v["scriptSig"].as_str().unwrap()));
            let w = hex(v["txinwitness"].as_str().unwrap());
            let witness: Witness = if w.is_empty() {
                Witness::new()
            } else {
                bitcoin::consensus::deserialize(&w).expect("witness")
            };
            i.witnesses
                .push(witness.iter().map(<[u8]>::to_vec).collect());
            i.prevouts
                .push(hex(v["prevout"]["scriptPubKey"]["hex"].as_str().unwrap()));
        }
        i
    }

    fn run<T>(&self, f: impl FnOnce(Vec<TxInput<'_>>) -> T) -> T {
        let items: Vec<Vec<&[u8]>> = self
            .witnesses
            .iter()
            .map(|w| w.iter().map(Vec::as_slice).collect())
            .collect();
        let inputs = (0..self.txids.len())
            .map(|n| TxInput {
                txid: self.txids[n],
                vout: self.vouts[n],
                script_sig: &self.script_sigs[n],
                witness: &items[n],
                prevout_script: &self.prevouts[n],
            })
            .collect();
        f(inputs)
    }
}

#[test]
fn every_receiving_case_of_bip352() {
    let (mut cases, mut found_total) = (0, 0);
    for case in vectors() {
        let comment = case["comment"].as_str().unwrap();
        for r in case["receiving"].as_array().unwrap() {
            cases += 1;
            let given = &r["given"];
            let expected = &r["expected"];
            let inputs = Inputs::of(given["vin"].as_array().unwrap());
            let sum = inputs.run(|i| input_sum(i));
            let got = inputs.run(|i| tweak(i));
            let want_tweak = expected["tweak"].as_str();
            assert_eq!(
                got.map(|t| ferrum::types::bytes_to_hex(&t.serialize())),
                want_tweak.map(str::to_string),
                "{comment}: tweak"
            );
            if let Some(a) = expected["input_pub_key_sum"].as_str() {
                let (sum, _) = sum.expect("an input sum");
                assert_eq!(
                    ferrum::types::bytes_to_hex(&sum.serialize()),
                    a,
                    "{comment}: A"
                );
            }
            let Some(t) = got else {
                assert!(
                    expected["outputs"].as_array().is_none_or(Vec::is_empty),
                    "{comment}"
                );
                continue;
            };
            let keys = &given["key_material"];
            let scan =
                SecretKey::from_slice(&hex(keys["scan_priv_key"].as_str().unwrap())).unwrap();
            let spend_priv =
                SecretKey::from_slice(&hex(keys["spend_priv_key"].as_str().unwrap())).unwrap();
            let spend =
                PublicKey::from_secret_key(&bitcoin::secp256k1::Secp256k1::new(), &spend_priv);
            let labels: Vec<u32> = given["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_u64().unwrap() as u32)
                .collect();
            let receiver = Receiver::new(scan, spend, &labels).expect("receiver");
            let outputs: Vec<XOnlyPublicKey> = given["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| XOnlyPublicKey::from_slice(&hex(o.as_str().unwrap())).unwrap())
                .collect();
            let found = receiver.scan(&t, &outputs);
            found_total += found.len();
            if let Some(n) = expected["n_outputs"].as_u64() {
                // K_max: the expected outputs are not listed, only their count.
                assert_eq!(found.len() as u64, n, "{comment}");
                assert_eq!(n, u64::from(K_MAX));
                continue;
            }
            let got: BTreeSet<(String, String)> = found
                .iter()
                .map(|f| {
                    (
                        ferrum::types::bytes_to_hex(&f.output.serialize()),
                        ferrum::types::bytes_to_hex(&f.priv_key_tweak.secret_bytes()),
                    )
                })
                .collect();
            let want: BTreeSet<(String, String)> = expected["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o["pub_key"].as_str().unwrap().to_string(),
                        o["priv_key_tweak"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{comment}: outputs and their private key tweaks");
            // Labelled finds name a label the receiver listed.
            for f in &found {
                assert!(f.label.is_none_or(|m| labels.contains(&m)), "{comment}");
            }
        }
    }
    assert_eq!(cases, 29, "every receiving case of the file");
    assert!(found_total > 2323, "{found_total}");
}

#[test]
fn every_sending_case_of_bip352() {
    let mut cases = 0;
    for case in vectors() {
        let comment = case["comment"].as_str().unwrap();
        for snd in case["sending"].as_array().unwrap() {
            cases += 1;
            let given = &snd["given"];
            let vin = given["vin"].as_array().unwrap();
            let inputs = Inputs::of(vin);
            let smallest = inputs.run(|ins| ins.iter().map(TxInput::outpoint).min().unwrap());
            // The private keys of the eligible inputs; none at all if one makes the tx ineligible.
            let secrets: Option<Vec<InputSecret>> = inputs.run(|ins| {
                let mut out = Vec::new();
                for (i, input) in ins.iter().enumerate() {
                    match input_key(input.script_sig, input.witness, input.prevout_script) {
                        InputKey::Key(_) => out.push(InputSecret {
                            key: SecretKey::from_slice(&hex(vin[i]["private_key"]
                                .as_str()
                                .unwrap()))
                            .unwrap(),
                            taproot: is_p2tr(input.prevout_script),
                        }),
                        InputKey::Skip => {}
                        InputKey::Ineligible => return None,
                    }
                }
                Some(out)
            });
            let mut recipients = Vec::new();
            for r in given["recipients"].as_array().unwrap() {
                let a = SpAddress::decode(r["address"].as_str().unwrap()).expect("address");
                assert_eq!(a.encode(), r["address"].as_str().unwrap(), "{comment}");
                assert_eq!(
                    ferrum::types::bytes_to_hex(&a.scan.serialize()),
                    r["scan_pub_key"].as_str().unwrap()
                );
                assert_eq!(
                    ferrum::types::bytes_to_hex(&a.spend.serialize()),
                    r["spend_pub_key"].as_str().unwrap()
                );
                for _ in 0..r["count"].as_u64().unwrap_or(1) {
                    recipients.push(a);
                }
            }
            let made: BTreeSet<String> = secrets
                .and_then(|s| send_outputs(&s, &smallest, &recipients).ok())
                .unwrap_or_default()
                .iter()
                .map(|x| ferrum::types::bytes_to_hex(&x.serialize()))
                .collect();
            let sets: Vec<BTreeSet<String>> = snd["expected"]["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|set| {
                    set.as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o.as_str().unwrap().to_string())
                        .collect()
                })
                .collect();
            assert!(
                sets.contains(&made),
                "{comment}: made {made:?}, expected one of {sets:?}"
            );
        }
    }
    assert_eq!(cases, 28, "every sending case of the file");
}
