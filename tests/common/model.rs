//! An independent model of what the index must answer: the daemon's active chain decoded with
//! rust-bitcoin (not Ferrum's parser) and replayed in plain in-memory maps.

use bitcoin::{OutPoint, ScriptBuf, Txid};
use ferrum::chaingen::Bitcoind;
use ferrum::query::{HistoryEntry, Query, Utxo};
use ferrum::types::{Height, ScriptKey};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
pub struct Model {
    pub tip_height: u32,
    pub history: BTreeMap<ScriptBuf, Vec<HistoryEntry>>,
    /// outpoint → (script, value, height, chain position)
    pub utxos: HashMap<OutPoint, (ScriptBuf, u64, u32, u64)>,
    /// spent outpoint → (spender txid, spender height)
    pub spends: HashMap<OutPoint, (Txid, u32)>,
    /// txid → (height, index in block)
    pub txs: HashMap<Txid, (u32, u32)>,
}

impl Model {
    /// Builds the model from the daemon's active chain.
    pub fn from_daemon(d: &Bitcoind) -> Model {
        let tip = d.rpc("getblockcount", json!([])).unwrap().as_u64().unwrap() as u32;
        let mut m = Model {
            tip_height: tip,
            ..Default::default()
        };
        let mut pos = 0u64;
        for h in 0..=tip {
            let hash = d.rpc("getblockhash", json!([h])).unwrap();
            let hex = d.rpc("getblock", json!([hash, 0])).unwrap();
            let raw = ferrum::types::hex_to_bytes(hex.as_str().unwrap()).unwrap();
            let block: bitcoin::Block = bitcoin::consensus::deserialize(&raw).unwrap();
            for (i, tx) in block.txdata.iter().enumerate() {
                let txid = tx.compute_txid();
                m.txs.insert(txid, (h, i as u32));
                pos += 1;
                if h == 0 {
                    continue;
                }
                let mut touched: Vec<ScriptBuf> = Vec::new();
                if !tx.is_coinbase() {
                    for input in &tx.input {
                        let (script, ..) = m
                            .utxos
                            .remove(&input.previous_output)
                            .expect("spends a known output");
                        m.spends.insert(input.previous_output, (txid, h));
                        touched.push(script);
                    }
                }
                for (vout, out) in tx.output.iter().enumerate() {
                    if out.script_pubkey.as_bytes().first() == Some(&0x6a) {
                        continue;
                    }
                    let op = OutPoint {
                        txid,
                        vout: vout as u32,
                    };
                    m.utxos
                        .insert(op, (out.script_pubkey.clone(), out.value.to_sat(), h, pos));
                    touched.push(out.script_pubkey.clone());
                }
                touched.sort();
                touched.dedup();
                for s in touched {
                    m.history.entry(s).or_default().push(HistoryEntry {
                        txid,
                        height: Height(h),
                    });
                }
            }
        }
        m
    }

    pub fn expected_utxos(&self, script: &ScriptBuf) -> Vec<Utxo> {
        let mut v: Vec<_> = self
            .utxos
            .iter()
            .filter(|(_, (s, ..))| s == script)
            .map(|(op, (_, value, h, pos))| {
                (
                    *pos,
                    op.vout,
                    Utxo {
                        txid: op.txid,
                        vout: op.vout,
                        height: Height(*h),
                        value: *value,
                    },
                )
            })
            .collect();
        v.sort_by_key(|(pos, vout, _)| (*pos, *vout));
        v.into_iter().map(|(.., u)| u).collect()
    }

    /// Asserts that every answer of the query layer matches the model; returns how many scripts
    /// were compared.
    pub fn assert_matches(&self, q: &Query) -> usize {
        let view = q.view();
        assert_eq!(
            view.tip().height(),
            Some(Height(self.tip_height)),
            "tip height"
        );
        for (script, expected) in &self.history {
            let key = ScriptKey::from_script(script.as_bytes());
            assert_eq!(
                &view.history(&key).unwrap(),
                expected,
                "history of {script}"
            );
            let utxos = self.expected_utxos(script);
            assert_eq!(view.utxos(&key).unwrap(), utxos, "utxos of {script}");
            assert_eq!(
                view.balance(&key).unwrap(),
                utxos.iter().map(|u| u.value).sum::<u64>(),
                "balance of {script}"
            );
        }
        for (txid, (h, i)) in &self.txs {
            let loc = view
                .tx_location(txid)
                .unwrap()
                .unwrap_or_else(|| panic!("tx {txid} not found"));
            assert_eq!((loc.height.0, loc.index), (*h, *i), "location of {txid}");
        }
        for (op, (spender, h)) in &self.spends {
            let st = view
                .outpoint_status(&op.txid, op.vout)
                .unwrap()
                .expect("funding tx known");
            assert_eq!(st.spender, Some((*spender, Height(*h))), "spender of {op}");
        }
        for op in self.utxos.keys().take(200) {
            let st = view
                .outpoint_status(&op.txid, op.vout)
                .unwrap()
                .expect("funding tx known");
            assert_eq!(st.spender, None, "{op} is unspent");
        }
        let unknown = ScriptKey::from_script(b"no such script");
        assert!(view.history(&unknown).unwrap().is_empty());
        self.history.len()
    }
}
