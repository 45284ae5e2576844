//! The mempool layer against a real regtest bitcoind: unconfirmed chains, a replacement (RBF),
//! blocks confirming part of the mempool, checked against expectations computed independently
//! from the transactions we built and bitcoind's own `getrawmempool true`; and the regtest
//! fixture's mempool against ElectrumX 2.0.0's recorded answers.

mod common;

use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use common::*;
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType, Utxo};
use ferrum::daemon::Daemon;
use ferrum::mempool::{Mempool, MempoolEntry, MempoolUtxo, RECENT_COUNT, Touched};
use ferrum::types::{ScriptKey, hex_to_bytes};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

fn sats(v: &Value) -> u64 {
    Amount::from_btc(v.as_f64().expect("amount"))
        .expect("amount")
        .to_sat()
}

fn send(d: &Bitcoind, tx: &Transaction) -> Txid {
    let hex = bitcoin::consensus::encode::serialize_hex(tx);
    let r = d
        .rpc("sendrawtransaction", json!([hex]))
        .expect("sendrawtransaction");
    assert_eq!(r.as_str(), Some(tx.compute_txid().to_string().as_str()));
    tx.compute_txid()
}

/// What the test knows independently of Ferrum: every tx it sent and every output it funded
/// them from.
#[derive(Default)]
struct World {
    txs: HashMap<Txid, Transaction>,
    outputs: HashMap<OutPoint, TxOut>,
}

impl World {
    fn learn_utxos(&mut self, utxos: &[Utxo]) {
        for u in utxos {
            self.outputs.insert(u.outpoint, u.txout.clone());
        }
    }
    fn send(&mut self, d: &Bitcoind, tx: Transaction) -> Transaction {
        let txid = send(d, &tx);
        for (vout, out) in tx.output.iter().enumerate() {
            self.outputs
                .insert(OutPoint::new(txid, vout as u32), out.clone());
        }
        self.txs.insert(txid, tx.clone());
        tx
    }
}

/// An update at the daemon's current tip, as the server makes after indexing it.
fn update(m: &Mempool, daemon: &Daemon) -> Touched {
    let tip = daemon.best_block_hash().expect("getbestblockhash");
    m.update(daemon, Some(&tip))
        .expect("mempool update")
        .expect("the tip did not move during the update")
}

/// A deferred update left `tx` where it was: in the mempool, in its scripts' histories.
fn check_touched_nothing(m: &Mempool, w: &World, tx: &Transaction) {
    let txid = tx.compute_txid();
    let view = m.read();
    for key in scripts_of(w, &txid) {
        assert!(
            view.history(&key).iter().any(|e| e.txid == txid),
            "{txid} left its script's mempool history before the index had its block"
        );
    }
}

/// Checks every query of `m` against bitcoind's mempool and the transactions in `w`; returns
/// the number of scripts checked.
fn check_against_daemon(d: &Bitcoind, m: &Mempool, w: &World) -> usize {
    let pool = d
        .rpc("getrawmempool", json!([true]))
        .expect("getrawmempool");
    let pool = pool.as_object().expect("verbose mempool");
    let view = m.read();
    assert_eq!(view.len(), pool.len());

    // Per tx: fee and dependencies from bitcoind, scripts from our own transactions.
    let mut fee = HashMap::new();
    let mut unconfirmed_parent = HashMap::new();
    let mut touching: HashMap<ScriptBuf, BTreeSet<Txid>> = HashMap::new();
    let mut delta: HashMap<ScriptBuf, i64> = HashMap::new();
    let mut spent_by = HashMap::new();
    for (txid, entry) in pool {
        let txid = Txid::from_str(txid).unwrap();
        let tx = w.txs.get(&txid).expect("a tx the test sent");
        let f = sats(&entry["fees"]["base"]);
        let has_parent = !entry["depends"].as_array().unwrap().is_empty();
        fee.insert(txid, f);
        unconfirmed_parent.insert(txid, has_parent);
        let weight = entry["weight"].as_u64().unwrap();
        let info = view.tx(&txid).expect("tx in Ferrum's mempool");
        assert_eq!(info.fee, f, "fee of {txid}");
        assert_eq!(info.vsize, weight.div_ceil(4), "vsize of {txid}");
        assert_eq!(info.has_unconfirmed_parent, has_parent, "{txid}");
        assert!(view.contains(&txid));
        for input in &tx.input {
            let prev = &w.outputs[&input.previous_output];
            touching
                .entry(prev.script_pubkey.clone())
                .or_default()
                .insert(txid);
            *delta.entry(prev.script_pubkey.clone()).or_default() -= prev.value.to_sat() as i64;
            spent_by.insert(input.previous_output, txid);
        }
        for out in &tx.output {
            touching
                .entry(out.script_pubkey.clone())
                .or_default()
                .insert(txid);
            *delta.entry(out.script_pubkey.clone()).or_default() += out.value.to_sat() as i64;
        }
    }
    for (script, txids) in &touching {
        let key = ScriptKey::from_script(script.as_bytes());
        let mut expected: Vec<MempoolEntry> = txids
            .iter()
            .map(|t| MempoolEntry {
                txid: *t,
                height: if unconfirmed_parent[t] { -1 } else { 0 },
                fee: fee[t],
            })
            .collect();
        expected.sort_by_key(|e| (e.height == -1, e.txid.to_string()));
        assert_eq!(view.history(&key), expected, "history of {script}");
        assert_eq!(
            view.balance_delta(&key),
            delta[script],
            "balance of {script}"
        );
        let mut utxos: Vec<MempoolUtxo> = txids
            .iter()
            .flat_map(|t| {
                w.txs[t].output.iter().enumerate().filter_map(|(vout, o)| {
                    let op = OutPoint::new(*t, vout as u32);
                    (o.script_pubkey == *script && !spent_by.contains_key(&op)).then(|| {
                        MempoolUtxo {
                            txid: *t,
                            vout: vout as u32,
                            value: o.value.to_sat(),
                        }
                    })
                })
            })
            .collect();
        let mut got = view.utxos(&key);
        utxos.sort_by_key(|u| (u.txid, u.vout));
        got.sort_by_key(|u| (u.txid, u.vout));
        assert_eq!(got, utxos, "utxos of {script}");
    }
    for (op, spender) in &spent_by {
        assert_eq!(view.spender(&op.txid, op.vout), Some(*spender));
    }
    for txid in fee.keys() {
        let n = w.txs[txid].output.len() as u32;
        assert!(view.has_output(txid, n - 1) && !view.has_output(txid, n));
        for vout in 0..n {
            let op = OutPoint::new(*txid, vout);
            assert_eq!(view.spender(txid, vout), spent_by.get(&op).copied());
        }
    }
    // Recent: newest first, and a child never listed after its parent (parents arrive first).
    let recent = view.recent();
    assert_eq!(recent.len(), pool.len().min(RECENT_COUNT));
    for (i, r) in recent.iter().enumerate() {
        assert_eq!(Some(r.fee), fee.get(&r.txid).copied());
        for parent in w.txs[&r.txid].input.iter().map(|i| i.previous_output.txid) {
            if let Some(j) = recent.iter().position(|x| x.txid == parent) {
                assert!(i < j, "child {} listed after its parent", r.txid);
            }
        }
    }
    touching.len()
}

/// The txids in bitcoind's mempool.
fn daemon_txids(d: &Bitcoind) -> HashSet<Txid> {
    d.rpc("getrawmempool", json!([]))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Txid::from_str(v.as_str().unwrap()).unwrap())
        .collect()
}

fn scripts_of(w: &World, txid: &Txid) -> HashSet<ScriptKey> {
    let tx = &w.txs[txid];
    tx.input
        .iter()
        .map(|i| &w.outputs[&i.previous_output])
        .chain(tx.output.iter())
        .map(|o| ScriptKey::from_script(o.script_pubkey.as_bytes()))
        .collect()
}

fn assert_touched(t: &Touched, w: &World, txids: &[Txid]) {
    assert_eq!(t.txids, txids.iter().copied().collect::<HashSet<_>>());
    for txid in txids {
        assert!(
            scripts_of(w, txid).is_subset(&t.scripts),
            "scripts of {txid}"
        );
        let tx = &w.txs[txid];
        for i in &tx.input {
            assert!(
                t.outpoints
                    .contains(&(i.previous_output.txid, i.previous_output.vout))
            );
        }
        for vout in 0..tx.output.len() as u32 {
            assert!(t.outpoints.contains(&(*txid, vout)));
        }
    }
}

#[test]
fn unconfirmed_chains_replacement_and_blocks() {
    let d = Bitcoind::start().unwrap();
    let daemon = Daemon::connect(d.daemon_settings(), COIN).unwrap();
    let m = Mempool::with_histogram_refresh(Duration::ZERO);
    let mut b = ChainBuilder::new(7);
    b.mine_empty(&d, 110).unwrap();
    let mut w = World::default();

    // An output paying the "hot" script, confirmed, to be spent from the mempool.
    let hot = b.new_script(OutputType::P2wpkh);
    let fund = b
        .tx_to(&[(hot.clone(), Amount::from_sat(300_000_000))])
        .unwrap();
    b.mine_txs(&d, vec![fund.clone()]).unwrap();
    let confirmed: Vec<Utxo> = b
        .utxos()
        .iter()
        .filter(|u| u.height.is_some() && b.is_spendable(u))
        .cloned()
        .collect();
    w.learn_utxos(&confirmed);
    let coins: Vec<OutPoint> = confirmed
        .iter()
        .filter(|u| u.txout.script_pubkey != hot && u.txout.value.to_sat() > 500_000_000)
        .map(|u| u.outpoint)
        .take(2)
        .collect();
    assert_eq!(coins.len(), 2);
    let btc = |n: u64| Amount::from_sat(n * 10_000_000);

    let m0 = update(&m, &daemon);
    assert!(m.loaded() && m.read().is_empty() && m0.is_empty());
    assert!(m.read().info()["mempoolminfee"].is_number());

    // A (to be replaced) and its child; P → C → G, all paying or spending "hot"; H spends
    // the confirmed hot output; random txs of every type.
    let a_scripts = [
        b.new_script(OutputType::P2pkh),
        b.new_script(OutputType::P2tr),
    ];
    let a = w.send(
        &d,
        b.tx_spending(&[coins[0]], &[(a_scripts[0].clone(), btc(10))])
            .unwrap(),
    );
    let a_child = {
        let s = b.new_script(OutputType::P2shP2wpkh);
        let tx = b
            .tx_spending(&[OutPoint::new(a.compute_txid(), 0)], &[(s, btc(5))])
            .unwrap();
        w.send(&d, tx)
    };
    let p_out = b.new_script(OutputType::P2wshMultisig);
    let p = w.send(
        &d,
        b.tx_spending(&[coins[1]], &[(hot.clone(), btc(2)), (p_out, btc(3))])
            .unwrap(),
    );
    let c = {
        let tx = b
            .tx_spending(
                &[OutPoint::new(p.compute_txid(), 1)],
                &[(hot.clone(), btc(1))],
            )
            .unwrap();
        w.send(&d, tx)
    };
    let g = {
        let s = b.new_script(OutputType::P2pkh);
        let tx = b
            .tx_spending(&[OutPoint::new(c.compute_txid(), 0)], &[(s, btc(1) / 2)])
            .unwrap();
        w.send(&d, tx)
    };
    let fund_out = fund
        .output
        .iter()
        .position(|o| o.script_pubkey == hot)
        .unwrap();
    let h = {
        let s = b.new_script(OutputType::P2wpkh);
        let op = OutPoint::new(fund.compute_txid(), fund_out as u32);
        w.send(&d, b.tx_spending(&[op], &[(s, btc(29))]).unwrap())
    };
    for _ in 0..8 {
        let tx = b.random_tx().unwrap();
        w.send(&d, tx);
    }

    let t = update(&m, &daemon);
    let all: Vec<Txid> = w.txs.keys().copied().collect();
    assert_touched(&t, &w, &all);
    let scripts = check_against_daemon(&d, &m, &w);
    assert!(scripts > 15, "only {scripts} scripts");
    {
        let view = m.read();
        let hot_key = ScriptKey::from_script(hot.as_bytes());
        let hist = view.history(&hot_key);
        let ids: Vec<Txid> = hist.iter().map(|e| e.txid).collect();
        for tx in [&p, &c, &g, &h] {
            assert!(ids.contains(&tx.compute_txid()));
        }
        assert!(view.tx(&c.compute_txid()).unwrap().has_unconfirmed_parent);
        assert!(view.balance_delta(&hot_key) < 0); // 3 BTC confirmed spent, 2 + 1 - 1 added
        assert_eq!(view.fee_histogram(), vec![]); // far below the 30,000 vB first bin
        let info = d.rpc("getmempoolinfo", json!([])).unwrap();
        for k in ["mempoolminfee", "minrelaytxfee", "incrementalrelayfee"] {
            assert_eq!(view.info()[k], info[k]);
        }
    }

    // A new tx arrives alone: it is the most recent.
    let y = {
        let s = b.new_script(OutputType::P2tr);
        let coin = b
            .utxos()
            .iter()
            .find(|u| u.height.is_some() && b.is_spendable(u) && u.txout.value > btc(20))
            .map(|u| u.outpoint)
            .expect("a confirmed coin left");
        w.send(&d, b.tx_spending(&[coin], &[(s, btc(7))]).unwrap())
    };
    let t = update(&m, &daemon);
    assert_touched(&t, &w, &[y.compute_txid()]);
    assert_eq!(m.read().recent()[0].txid, y.compute_txid());
    check_against_daemon(&d, &m, &w);

    // A block confirms P only. An update that still believes the old tip (the index has not
    // indexed the block yet) applies nothing: P stays until the index has it, so its scripts
    // never look as if P had vanished. Then P leaves, C's parent is now confirmed (height 0).
    let old_tip = daemon.best_block_hash().unwrap();
    b.mine_txs(&d, vec![p.clone()]).unwrap();
    assert_eq!(m.update(&daemon, Some(&old_tip)).unwrap(), None);
    assert!(m.read().contains(&p.compute_txid()));
    check_touched_nothing(&m, &w, &p);
    let t = update(&m, &daemon);
    assert_touched(&t, &w, &[p.compute_txid()]);
    assert!(!m.read().contains(&p.compute_txid()));
    assert!(
        !m.read()
            .tx(&c.compute_txid())
            .unwrap()
            .has_unconfirmed_parent
    );
    check_against_daemon(&d, &m, &w);

    // Replace A (full RBF, higher fee): bitcoind drops A and its descendants.
    let before = daemon_txids(&d);
    b.discard_pending();
    b.set_fee_rate(100);
    let replacement = {
        let s = b.new_script(OutputType::P2wpkh);
        w.send(&d, b.tx_spending(&[coins[0]], &[(s, btc(9))]).unwrap())
    };
    let after = daemon_txids(&d);
    let gone: Vec<Txid> = before.difference(&after).copied().collect();
    assert!(gone.contains(&a.compute_txid()) && gone.contains(&a_child.compute_txid()));
    let t = update(&m, &daemon);
    let mut changed = gone.clone();
    changed.push(replacement.compute_txid());
    assert_touched(&t, &w, &changed);
    {
        let view = m.read();
        for txid in &gone {
            assert!(!view.contains(txid));
        }
        assert_eq!(
            view.spender(&coins[0].txid, coins[0].vout),
            Some(replacement.compute_txid())
        );
        let a_key = ScriptKey::from_script(a_scripts[0].as_bytes());
        assert_eq!(view.history(&a_key), vec![]);
        assert_eq!(view.balance_delta(&a_key), 0);
    }
    check_against_daemon(&d, &m, &w);

    // A block confirms everything: the mempool empties and every script is touched.
    let left: Vec<Txid> = after.iter().copied().collect();
    d.mine(1).unwrap();
    let t = update(&m, &daemon);
    assert_touched(&t, &w, &left);
    assert_eq!(m.read().len(), 0);
    assert_eq!(
        m.read().history(&ScriptKey::from_script(hot.as_bytes())),
        vec![]
    );
    assert_eq!(m.read().recent(), vec![]);
    assert_eq!(m.read().fee_histogram(), vec![]);
    assert!(update(&m, &daemon).is_empty());
}

/// The fixture's final state, asked every mempool question ElectrumX 2.0.0 answered.
#[test]
fn fixture_mempool_matches_electrumx() {
    let d = Bitcoind::start().unwrap();
    for (h, _, hex) in fixture_blocks("blocks.txt.gz") {
        if h > 0 {
            submit(&d, &hex);
        }
    }
    submit_fixture_mempool(&d);
    let daemon = Daemon::connect(d.daemon_settings(), COIN).unwrap();
    let m = Mempool::new();
    let touched = update(&m, &daemon);
    assert_eq!(touched.txids.len(), 11);
    let view = m.read();
    assert_eq!(view.len(), 11);

    let text = oracle_text("1.7");
    let mut checked = HashMap::<String, usize>::new();
    let mut nonempty = 0;
    for line in text.lines() {
        let q: Value = serde_json::from_str(line).unwrap();
        let Some(method) = q["method"].as_str() else {
            continue;
        };
        let result = &q["reply"]["result"];
        let key = |p: &Value| ScriptKey::from_script(&hex_to_bytes(p.as_str().unwrap()).unwrap());
        match method {
            "blockchain.scriptpubkey.get_mempool" => {
                let got: Vec<Value> = view
                    .history(&key(&q["params"][0]))
                    .iter()
                    .map(|e| json!({"tx_hash": e.txid.to_string(), "height": e.height, "fee": e.fee}))
                    .collect();
                assert_eq!(&Value::from(got.clone()), &result["history"], "{line}");
                nonempty += usize::from(!got.is_empty());
            }
            "blockchain.scriptpubkey.get_history" => {
                // The mempool tail (heights 0 and -1) of the full history.
                let tail: Vec<&Value> = result["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["height"].as_i64().unwrap() <= 0)
                    .collect();
                let got = view.history(&key(&q["params"][0]));
                assert_eq!(got.len(), tail.len(), "{line}");
                for (e, r) in got.iter().zip(tail) {
                    assert_eq!(r["tx_hash"], e.txid.to_string());
                    assert_eq!(r["height"], e.height);
                    assert_eq!(r["fee"], e.fee);
                }
            }
            "blockchain.scriptpubkey.get_balance" => {
                let got = view.balance_delta(&key(&q["params"][0]));
                assert_eq!(result["unconfirmed"], got, "{line}");
            }
            "blockchain.scriptpubkey.listunspent" => {
                // Mempool outputs are the height-0 tail, in no defined order.
                let want: BTreeSet<(String, u64, u64)> = result["utxos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|u| u["height"] == 0)
                    .map(|u| {
                        let txid = u["tx_hash"].as_str().unwrap().to_string();
                        (
                            txid,
                            u["tx_pos"].as_u64().unwrap(),
                            u["value"].as_u64().unwrap(),
                        )
                    })
                    .collect();
                let got: BTreeSet<(String, u64, u64)> = view
                    .utxos(&key(&q["params"][0]))
                    .iter()
                    .map(|u| (u.txid.to_string(), u64::from(u.vout), u.value))
                    .collect();
                assert_eq!(got, want, "{line}");
            }
            "mempool.recent" => {
                // Everything arrived in one update, whose order ElectrumX leaves undefined:
                // the same number of txs, each with ElectrumX's fee and vsize.
                let want = result.as_array().unwrap();
                let got = view.recent();
                assert_eq!(got.len(), want.len());
                for r in want {
                    let txid = Txid::from_str(r["txid"].as_str().unwrap()).unwrap();
                    let info = view.tx(&txid).expect("recent tx in the mempool");
                    assert_eq!(r["fee"], info.fee);
                    assert_eq!(r["vsize"], info.vsize);
                }
                for r in &got {
                    assert_eq!(
                        view.tx(&r.txid).map(|i| (i.fee, i.vsize)),
                        Some((r.fee, r.vsize))
                    );
                }
                // 11 txs, 10 listed: at most one differs.
                let same = got
                    .iter()
                    .filter(|r| want.iter().any(|w| w["txid"] == r.txid.to_string()))
                    .count();
                assert!(same + 1 >= want.len());
            }
            "mempool.get_fee_histogram" => {
                let got: Vec<Value> = view
                    .fee_histogram()
                    .iter()
                    .map(|(rate, size)| json!([rate, size]))
                    .collect();
                assert_eq!(&Value::from(got), result);
            }
            _ => continue,
        }
        *checked.entry(method.to_string()).or_default() += 1;
    }
    assert_eq!(checked["blockchain.scriptpubkey.get_mempool"], 618);
    assert_eq!(checked["mempool.recent"], 1);
    assert!(
        nonempty >= 10,
        "only {nonempty} scripts with mempool history"
    );
    // The oracle's spenders: every input of the fixture's mempool txs.
    let mempool = fixture_mempool_json();
    for (txid, v) in &mempool {
        let raw = hex_to_bytes(v["hex"].as_str().unwrap()).unwrap();
        let tx: Transaction = bitcoin::consensus::deserialize(&raw).unwrap();
        let txid = Txid::from_str(txid).unwrap();
        for i in &tx.input {
            assert_eq!(
                view.spender(&i.previous_output.txid, i.previous_output.vout),
                Some(txid)
            );
        }
        let info = view.tx(&txid).unwrap();
        assert_eq!(info.fee, sats(&v["entry"]["fees"]["base"]));
        assert_eq!(
            info.vsize,
            v["entry"]["weight"].as_u64().unwrap().div_ceil(4)
        );
    }
}

/// The follow loop's fast path after a block that extends the tip: the block's txs leave the
/// mempool by txid (the coinbase and txs never seen are skipped), their scripts and outpoints
/// are reported touched, the rest stays; the next full update then agrees with the daemon,
/// including a tx the block evicted without confirming it (a conflict), which only the full
/// update can see.
#[test]
fn txs_a_block_confirms_leave_by_txid_and_the_next_update_catches_conflicts() {
    let d = Bitcoind::start().unwrap();
    let daemon = Daemon::connect(d.daemon_settings(), COIN).unwrap();
    let m = Mempool::new();
    let mut b = ChainBuilder::new(11);
    b.mine_empty(&d, 110).unwrap();
    let txs: Vec<Transaction> = (0..6).map(|_| b.random_tx().unwrap()).collect();
    for tx in &txs {
        send(&d, tx);
    }
    // A tx the block will conflict with: spends a coin the block's own tx spends too.
    let coin = b
        .utxos()
        .iter()
        .find(|u| u.height.is_some() && b.is_spendable(u))
        .map(|u| u.outpoint)
        .unwrap();
    let loser_script = b.new_script(OutputType::P2wpkh);
    let loser = b
        .tx_spending(&[coin], &[(loser_script, Amount::from_sat(10_000))])
        .unwrap();
    send(&d, &loser);
    assert_eq!(update(&m, &daemon).txids.len(), 7);
    b.discard_pending();
    let winner_script = b.new_script(OutputType::P2tr);
    let winner = b
        .tx_spending(&[coin], &[(winner_script, Amount::from_sat(20_000))])
        .unwrap();
    let mut in_block: Vec<Transaction> = txs[..3].to_vec();
    in_block.push(winner.clone());
    let block = b.mine_txs(&d, in_block).unwrap();

    let block_txids: Vec<Txid> = block.txdata.iter().map(|t| t.compute_txid()).collect();
    let touched = m.remove_confirmed(&block_txids);
    let confirmed: HashSet<Txid> = txs[..3].iter().map(|t| t.compute_txid()).collect();
    assert_eq!(touched.txids, confirmed);
    for tx in &txs[..3] {
        for out in &tx.output {
            assert!(
                touched
                    .scripts
                    .contains(&ScriptKey::from_script(out.script_pubkey.as_bytes()))
            );
        }
        for input in &tx.input {
            let p = input.previous_output;
            assert!(touched.outpoints.contains(&(p.txid, p.vout)));
        }
    }
    let all: Vec<Txid> = txs
        .iter()
        .chain([&loser])
        .map(|t| t.compute_txid())
        .collect();
    let left = |m: &Mempool| -> HashSet<Txid> {
        let view = m.read();
        all.iter().filter(|t| view.contains(t)).copied().collect()
    };
    let expected: HashSet<Txid> = all[3..].iter().copied().collect();
    assert_eq!(left(&m), expected, "only the confirmed txs left");
    assert_eq!(m.read().len(), 4);

    let t = update(&m, &daemon);
    assert_eq!(t.txids, HashSet::from([loser.compute_txid()]));
    assert_eq!(left(&m), daemon_txids(&d));
    assert_eq!(m.read().len(), 3);
}

/// Every mempool tx's raw bytes come from Ferrum's own file, byte for byte what was sent,
/// only while the tx is in the mempool; a compaction (forced here past 1 byte) moves the live
/// ones and drops the dead, and what arrives after it is kept too.
#[test]
fn raw_bytes_of_mempool_txs_are_kept_and_survive_compaction() {
    let d = Bitcoind::start().unwrap();
    let daemon = Daemon::connect(d.daemon_settings(), COIN).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = Mempool::new().keeping_raw_in(dir.path(), 1);
    let mut b = ChainBuilder::new(12);
    b.mine_empty(&d, 120).unwrap();
    let raw = |tx: &Transaction| bitcoin::consensus::encode::serialize(tx);
    let txs: Vec<Transaction> = (0..20).map(|_| b.random_tx().unwrap()).collect();
    for tx in &txs {
        send(&d, tx);
    }
    assert_eq!(update(&m, &daemon).txids.len(), 20);
    for tx in &txs {
        assert_eq!(m.raw_tx(&tx.compute_txid()), Some(raw(tx)));
    }
    let all_bytes: u64 = txs.iter().map(|t| raw(t).len() as u64).sum();
    assert_eq!(m.raw_file_bytes(), all_bytes);

    let block = b.mine_txs(&d, txs[..15].to_vec()).unwrap();
    let block_txids: Vec<Txid> = block.txdata.iter().map(|t| t.compute_txid()).collect();
    m.remove_confirmed(&block_txids);
    for tx in &txs[..15] {
        assert_eq!(m.raw_tx(&tx.compute_txid()), None, "confirmed: not served");
    }
    m.maintain();
    let live: u64 = txs[15..].iter().map(|t| raw(t).len() as u64).sum();
    assert_eq!(m.raw_file_bytes(), live, "compacted to the live bytes");
    for tx in &txs[15..] {
        assert_eq!(m.raw_tx(&tx.compute_txid()), Some(raw(tx)), "moved");
    }
    m.maintain(); // nothing dead: no compaction
    assert_eq!(m.raw_file_bytes(), live);

    let more: Vec<Transaction> = (0..5).map(|_| b.random_tx().unwrap()).collect();
    for tx in &more {
        send(&d, tx);
    }
    assert_eq!(update(&m, &daemon).txids.len(), 5);
    for tx in txs[15..].iter().chain(&more) {
        assert_eq!(m.raw_tx(&tx.compute_txid()), Some(raw(tx)));
    }
}
