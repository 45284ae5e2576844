//! The chain generator against a real regtest bitcoind: every output type paid to and spent,
//! spends within one block, address reuse, reorgs (depth 1, 3, a side branch and a deep one),
//! the benchmark chain in both shapes (submitted as built, and spooled then imported with
//! `-assumevalid` and a prefix snapshot, every block then checked in full by a second
//! bitcoind), and the daemon's lifecycle (kill, restart, stop, reuse of a datadir).

use std::collections::HashSet;

use bitcoin::{Amount, BlockHash, OutPoint, Transaction};
use ferrum::chaingen::bench::generate_bench_chain;
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};

/// `getblock <hash> 1` of bitcoind's block.
fn getblock(d: &Bitcoind, hash: BlockHash) -> Value {
    d.rpc("getblock", json!([hash.to_string(), 1])).unwrap()
}

/// Outpoints of `tx` paying our scripts of type `kind`.
fn outputs_of(b: &ChainBuilder, tx: &Transaction, kind: OutputType) -> Vec<OutPoint> {
    let txid = tx.compute_txid();
    tx.output
        .iter()
        .enumerate()
        .filter(|(_, o)| b.script_type(&o.script_pubkey) == Some(kind))
        .map(|(i, _)| OutPoint::new(txid, i as u32))
        .collect()
}

#[test]
fn every_output_type_is_paid_and_spent_with_in_block_spends_and_reuse() {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(1);
    let empty = b.mine_empty(&d, 101).unwrap();
    assert_eq!(empty.len(), 101);
    assert_eq!(d.tip().unwrap(), (empty[100].block_hash(), 101));

    // One transaction paying every type (two outputs per spendable type).
    let mut outs: Vec<(OutputType, Amount)> = Vec::new();
    for kind in OutputType::ALL {
        let value = if kind == OutputType::OpReturn {
            0
        } else {
            300_000
        };
        outs.push((kind, Amount::from_sat(value)));
        if kind.is_spendable() {
            outs.push((kind, Amount::from_sat(value)));
        }
    }
    let pay = b.tx_paying(&outs).unwrap();
    let block = b.mine_txs(&d, vec![pay.clone()]).unwrap();
    assert_eq!(getblock(&d, block.block_hash())["nTx"], 2);
    let got: HashSet<OutputType> = pay
        .output
        .iter()
        .filter_map(|o| b.script_type(&o.script_pubkey))
        .collect();
    assert_eq!(got.len(), OutputType::SPENDABLE.len());
    assert!(pay.output.iter().any(|o| o.script_pubkey.is_op_return()));

    // Spend one output of every type in one transaction, and the other ones in a chain of
    // transactions within one block (each spends outputs of the previous one, including legacy
    // inputs whose txid depends on the signature), with address reuse.
    let first: Vec<OutPoint> = OutputType::SPENDABLE
        .iter()
        .map(|k| outputs_of(&b, &pay, *k)[0])
        .collect();
    let reused = b.new_script(OutputType::P2wpkh);
    let all_types = b
        .tx_spending(&first, &[(reused.clone(), Amount::from_sat(1_000_000))])
        .unwrap();
    let mut txs = vec![all_types];
    let mut prev_kind_outputs: Vec<OutPoint> = Vec::new();
    for kind in OutputType::SPENDABLE {
        let mut inputs = vec![outputs_of(&b, &pay, kind)[1]];
        inputs.append(&mut prev_kind_outputs);
        let next = b.new_script(kind);
        let tx = b
            .tx_spending(
                &inputs,
                &[
                    (next, Amount::from_sat(250_000)),
                    (reused.clone(), Amount::from_sat(20_000)),
                ],
            )
            .unwrap();
        assert_eq!(b.script_type(&tx.output[0].script_pubkey), Some(kind));
        prev_kind_outputs = vec![OutPoint::new(tx.compute_txid(), 0)];
        txs.push(tx);
    }
    let n = txs.len();
    let block = b.mine_txs(&d, txs).unwrap();
    assert_eq!(getblock(&d, block.block_hash())["nTx"], n + 1);
    assert!(
        block.txdata[0].output.len() > b.blocks()[0].txdata[0].output.len(),
        "a segwit block's coinbase carries the witness commitment"
    );
    // The reused script received many outputs.
    let reuse_count = block
        .txdata
        .iter()
        .flat_map(|t| &t.output)
        .filter(|o| o.script_pubkey == reused)
        .count();
    assert_eq!(reuse_count, 1 + OutputType::SPENDABLE.len());

    // Random blocks spend everything around, and bitcoind keeps accepting.
    for _ in 0..5 {
        let block = b.mine_block_with(&d, 25).unwrap();
        assert_eq!(getblock(&d, block.block_hash())["nTx"], 26);
    }
    assert_eq!(d.tip().unwrap().1, 108);
    assert_eq!(b.blocks().len(), 108);
}

#[test]
fn reorgs_of_depth_1_3_a_side_branch_and_a_deep_one() {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(2);
    b.set_coinbase_outputs(4);
    b.mine_empty(&d, 101).unwrap();
    for _ in 0..6 {
        b.mine_block_with(&d, 15).unwrap();
    }
    assert_eq!(d.tip().unwrap().1, 107);

    // Depth 1 and 3: one more block than removed, so the tip moves up by one.
    let old_tip = d.tip().unwrap().0;
    let new = b.reorg(&d, 1, 2, 10).unwrap();
    assert_eq!(d.tip().unwrap(), (new[1].block_hash(), 108));
    assert_eq!(new[0].header.prev_blockhash, b.blocks()[105].block_hash());
    let stale = getblock(&d, old_tip);
    assert_eq!(
        stale["confirmations"], -1,
        "the old tip is no longer in the active chain"
    );
    let new = b.reorg(&d, 3, 4, 10).unwrap();
    assert_eq!(d.tip().unwrap(), (new[3].block_hash(), 109));
    assert_eq!(getblock(&d, new[3].block_hash())["nTx"], 11);

    // Built on after the reorgs: the builder's UTXO set follows the new branch.
    b.mine_block_with(&d, 20).unwrap();
    assert_eq!(d.tip().unwrap().1, 110);

    // A side branch with less work does not become the tip.
    let tip = d.tip().unwrap();
    let side = b.reorg(&d, 2, 1, 3).unwrap();
    assert_eq!(d.tip().unwrap(), tip);
    let tips = d.rpc("getchaintips", json!([])).unwrap();
    let side_hash = side[0].block_hash().to_string();
    assert!(
        tips.as_array()
            .unwrap()
            .iter()
            .any(|t| t["hash"] == side_hash.as_str() && t["status"] != "invalid"),
        "side branch not stored: {tips}"
    );

    // Deep reorg (deeper than a small undo window), then keep mining on the new branch.
    let new = b.reorg(&d, 10, 11, 5).unwrap();
    assert_eq!(d.tip().unwrap(), (new[10].block_hash(), 111));
    b.mine_block_with(&d, 20).unwrap();

    // invalidateblock on the daemon, then a different block at the same height.
    let (tip, height) = d.tip().unwrap();
    d.rpc("invalidateblock", json!([tip.to_string()])).unwrap();
    let block = b.mine_block_with(&d, 5).unwrap();
    assert_ne!(block.block_hash(), tip);
    assert_eq!(d.tip().unwrap(), (block.block_hash(), height));
}

#[test]
fn bench_chain_is_accepted_and_mainnet_shaped() {
    let d = Bitcoind::start().unwrap();
    let mut reports = 0;
    let stats = generate_bench_chain(&d, 7, 6_000, |_| reports += 1).unwrap();
    eprintln!("{stats}");
    assert!(stats.txs >= 6_000);
    assert_eq!(stats.setup_blocks, 110);
    assert!(stats.tx_blocks >= 2);
    assert_eq!(reports, stats.setup_blocks + stats.tx_blocks);
    assert_eq!(
        d.tip().unwrap(),
        (stats.tip, stats.setup_blocks + stats.tx_blocks)
    );
    let ins = stats.inputs as f64 / stats.txs as f64;
    let outs = stats.outputs as f64 / stats.txs as f64;
    assert!((1.3..2.0).contains(&ins), "inputs per tx {ins}");
    assert!((2.0..3.0).contains(&outs), "outputs per tx {outs}");
    // Address reuse: the top script has a long history, most scripts are used at most twice.
    assert!(
        stats.top_scripts[0].1 > stats.txs / 20,
        "{:?}",
        stats.top_scripts[0]
    );
    assert!(stats.scripts_used_at_most_twice * 10 > stats.scripts * 7);
    // Every transaction is in the chain.
    let mut txs = 0u64;
    for height in stats.setup_blocks + 1..=stats.height {
        let hash = d.rpc("getblockhash", json!([height])).unwrap();
        let block = d.rpc("getblock", json!([hash, 1])).unwrap();
        txs += block["nTx"].as_u64().unwrap() - 1;
    }
    assert_eq!(txs, stats.txs);
}

/// `ferrum-chaingen --shape aged --spool`: the spool is imported with -assumevalid (so the
/// generator's fixed-nonce signatures are not what makes bitcoind accept it), a snapshot is
/// taken at a prefix, both datadirs end exactly at their tips (no header above them); then a
/// bitcoind without -assumevalid is given every spooled block and checks each in full.
#[test]
fn aged_chain_through_a_spool_with_a_snapshot_is_valid() {
    use ferrum::chaingen::block::submit_block;
    use ferrum::chaingen::spool::SpoolReader;
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("chain");
    let spool = dir.path().join("chain.spool");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrum-chaingen"))
        .arg("--datadir")
        .arg(&datadir)
        .args([
            "--txs",
            "12000",
            "--shape",
            "aged",
            "--block-txs",
            "1500-2500",
        ])
        .args([
            "--taproot-share",
            "0.4",
            "--snapshot-at",
            "5000",
            "--keep-spool",
        ])
        .arg("--spool")
        .arg(&spool)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ferrum-chaingen failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("transactions: 12000 "), "{stdout}");

    // The full chain and the snapshot: at their tips, no header above.
    let snapshot = dir.path().join("chain.5000tx");
    let mut tips = Vec::new();
    for (path, least, most) in [(&datadir, 12000, 12000), (&snapshot, 5000, 7500)] {
        let d = Bitcoind::start_in(path, &[]).unwrap();
        let info = d.rpc("getblockchaininfo", json!([])).unwrap();
        assert_eq!(
            info["blocks"],
            info["headers"],
            "{}: {info}",
            path.display()
        );
        let txs = d.rpc("getchaintxstats", json!([])).unwrap()["txcount"]
            .as_u64()
            .unwrap();
        let coinbases = info["blocks"].as_u64().unwrap() + 1;
        assert!(
            (least..=most).contains(&(txs - coinbases)),
            "{}: {txs}",
            path.display()
        );
        tips.push(d.tip().unwrap());
        d.stop().unwrap();
    }
    assert!(tips[1].1 < tips[0].1);

    // Every block, checked in full (signatures included) by a bitcoind without -assumevalid.
    let d = Bitcoind::start().unwrap();
    let mut r = SpoolReader::open(&spool).unwrap();
    let mut txs = 0;
    while let Some(block) = r.next_block().unwrap() {
        txs += block.txdata.len() - 1;
        submit_block(&d, &block).unwrap();
    }
    assert_eq!(txs, 12000);
    assert_eq!(d.tip().unwrap(), tips[0]);
}

#[test]
fn bitcoind_lifecycle_kill_restart_stop_and_reuse() {
    let mut d = Bitcoind::start_with(&["-blockfilterindex=0"]).unwrap();
    assert!(d.cookie_file().exists());
    let settings = d.daemon_settings();
    assert_eq!(settings.endpoints[0].port, d.rpc_port());
    d.mine(3).unwrap();
    assert!(d.rpc("nosuchmethod", json!([])).is_err());
    let datadir = d.datadir().to_path_buf();

    // Make bitcoind flush its chainstate, else a SIGKILL may lose the last blocks.
    d.rpc("gettxoutsetinfo", json!([])).unwrap();
    d.kill();
    assert!(!d.is_running());
    assert!(d.rpc("getblockcount", json!([])).is_err());
    d.restart().unwrap();
    assert_eq!(d.tip().unwrap().1, 3);
    d.stop().unwrap();
    assert!(!datadir.exists(), "a temporary datadir is removed");

    // A given datadir is kept and reused.
    let dir = std::env::temp_dir().join(format!("ferrum-chaingen-test-{}", std::process::id()));
    let d = Bitcoind::start_in(&dir, &[]).unwrap();
    let mut b = ChainBuilder::new(3);
    b.mine_empty(&d, 2).unwrap();
    d.stop().unwrap();
    let d = Bitcoind::start_in(&dir, &[]).unwrap();
    assert_eq!(d.tip().unwrap().1, 2);
    drop(d);
    assert!(dir.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The mempool benchmark's plan (`ferrum-chaingen --mempool-plan`): bitcoind's mempool accepts
/// every tx of the initial mempool in file order (standardness, fees, chains of unconfirmed
/// parents), then the churn: new txs and replacements, each replacement evicting the tx it
/// names.
#[test]
fn mempool_plan_is_accepted_by_bitcoind_with_its_replacements() {
    use ferrum::chaingen::mempool::{PlanOptions, make_plan};
    let d = Bitcoind::start().unwrap();
    let out = tempfile::tempdir().unwrap();
    let opts = PlanOptions {
        txs: 400,
        churn: 150,
        rbf_share: 0.3,
        ..PlanOptions::default()
    };
    let stats = make_plan(&d, &opts, out.path(), |_| {}).unwrap();
    assert_eq!(stats.initial, 400);
    assert!(stats.chained > 40, "{stats:?}");
    assert!(stats.churn_rbf > 10, "{stats:?}");
    let read = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(out.path().join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let submit = |tx: &Value| {
        let txid = d.rpc("sendrawtransaction", json!([tx["hex"]])).unwrap();
        assert_eq!(txid, tx["txid"]);
    };
    let initial = read("initial.jsonl");
    assert_eq!(initial.len(), 400);
    initial.iter().for_each(submit);
    let mempool = |d: &Bitcoind| -> HashSet<String> {
        d.rpc("getrawmempool", json!([]))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(mempool(&d).len(), 400);
    let churn = read("churn.jsonl");
    assert_eq!(churn.len(), 150);
    let mut replaced = 0;
    for tx in &churn {
        submit(tx);
        if let Some(old) = tx["replaces"].as_str() {
            assert!(!mempool(&d).contains(old), "{old} still in the mempool");
            replaced += 1;
        }
    }
    assert_eq!(replaced, stats.churn_rbf);
    assert_eq!(mempool(&d).len(), 400 + stats.churn_new);
}
