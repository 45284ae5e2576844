//! Generated regtest chains with every output type, spends inside one block and reorgs of depth
//! 1, 3, to the same height and beyond the undo window — each checked against an independent
//! recomputation from the daemon's chain (`common::model`).

mod common;

use common::model::Model;
use common::*;
use ferrum::chaingen::Bitcoind;
use ferrum::chaingen::ChainBuilder;
use serde_json::json;
use std::collections::HashSet;

/// Whether some block of `b` spends an output created earlier in the same block.
fn has_in_block_spend(b: &ChainBuilder) -> bool {
    b.blocks().iter().any(|block| {
        let txids: HashSet<_> = block.txdata.iter().map(|t| t.compute_txid()).collect();
        block.txdata.iter().skip(1).any(|t| {
            t.input
                .iter()
                .any(|i| txids.contains(&i.previous_output.txid))
        })
    })
}

#[test]
fn every_output_type_and_in_block_spends_match_the_model() {
    let d = Bitcoind::start().unwrap();
    let mut b = every_type_chain(&d, 11);
    assert!(
        has_in_block_spend(&b),
        "the generator made no in-block spend"
    );
    let dir = tempfile::tempdir().unwrap();
    let ix = indexer(&d, dir.path(), 10);
    sync(&ix);
    let scripts = Model::from_daemon(&d).assert_matches(&query(&ix));
    assert!(scripts > 50);
    // Following the tip: one block per commit.
    for _ in 0..4 {
        b.mine_block_with(&d, 10).unwrap();
        sync(&ix);
    }
    Model::from_daemon(&d).assert_matches(&query(&ix));
}

#[test]
fn reorgs_of_depth_1_and_3_and_to_the_same_height() {
    let d = Bitcoind::start().unwrap();
    let mut b = every_type_chain(&d, 12);
    let dir = tempfile::tempdir().unwrap();
    let ix = indexer(&d, dir.path(), 10);
    sync(&ix);
    for depth in [1, 3] {
        b.reorg(&d, depth, depth + 1, 8).unwrap();
        sync(&ix);
        Model::from_daemon(&d).assert_matches(&query(&ix));
    }
    // Same height: a competing block at the tip's height (equal work, so bitcoind keeps its
    // tip), then the old tip is invalidated and the competitor becomes the tip.
    let (tip, height) = d.tip().unwrap();
    let side = b.reorg(&d, 1, 1, 6).unwrap();
    d.rpc("invalidateblock", json!([tip.to_string()])).unwrap();
    let (new_tip, new_height) = d.tip().unwrap();
    assert_eq!((new_height, new_tip), (height, side[0].block_hash()));
    sync(&ix);
    assert_eq!(ix.store().tip().tip_hash(), Some(new_tip));
    Model::from_daemon(&d).assert_matches(&query(&ix));
}

#[test]
fn reorg_deeper_than_the_undo_window_refetches_stale_blocks() {
    let d = Bitcoind::start().unwrap();
    let mut b = every_type_chain(&d, 13);
    let dir = tempfile::tempdir().unwrap();
    let ix = indexer(&d, dir.path(), 2);
    sync(&ix);
    assert!(assert_tweaks_match(&d, ix.store()) > 0);
    b.reorg(&d, 6, 7, 8).unwrap();
    sync(&ix);
    Model::from_daemon(&d).assert_matches(&query(&ix));
    // The tweaks of the stale blocks are gone, the new branch's are there.
    assert!(assert_tweaks_match(&d, ix.store()) > 0);
}

#[test]
fn sync_without_rest_uses_json_rpc_and_matches_the_model() {
    let d = Bitcoind::start_with(&["-rest=0"]).unwrap();
    let mut b = every_type_chain(&d, 14);
    let dir = tempfile::tempdir().unwrap();
    let ix = indexer(&d, dir.path(), 3);
    sync(&ix);
    Model::from_daemon(&d).assert_matches(&query(&ix));
    b.reorg(&d, 5, 6, 4).unwrap();
    sync(&ix);
    Model::from_daemon(&d).assert_matches(&query(&ix));
    // Tweaks from getblock 3's prevouts equal those from REST's spent outputs.
    assert!(assert_tweaks_match(&d, ix.store()) > 0);
}

#[test]
fn reopening_the_index_resumes_where_it_stopped() {
    let d = Bitcoind::start().unwrap();
    let mut b = every_type_chain(&d, 15);
    let dir = tempfile::tempdir().unwrap();
    {
        let ix = indexer(&d, dir.path(), 10);
        sync(&ix);
    }
    b.mine_block_with(&d, 5).unwrap();
    let ix = indexer(&d, dir.path(), 10);
    sync(&ix);
    Model::from_daemon(&d).assert_matches(&query(&ix));
}

/// An index made before undo records kept funding txids (version 3: tx numbers only) is
/// upgraded in place, record by record, as blocks come and go: its old records still undo
/// their blocks exactly. The test rewrites every record of a fresh index in the version-3
/// layout (written out here, independently of Ferrum's encoder), then reorgs through them.
#[test]
fn undo_records_of_the_previous_format_still_undo_exactly() {
    use ferrum::store::CF_UNDO;
    use ferrum::store::keys::put_varint;
    use ferrum::sync::undo::{Funding, UndoRecord};
    let d = Bitcoind::start().unwrap();
    let mut b = every_type_chain(&d, 13);
    let dir = tempfile::tempdir().unwrap();
    let ix = indexer(&d, dir.path(), 10);
    sync(&ix);
    // Blocks indexed one per commit spend outputs of committed blocks: funding by txid.
    for _ in 0..4 {
        b.mine_block_with(&d, 12).unwrap();
        sync(&ix);
    }
    let store = ix.store();
    let mut rewritten = 0;
    type Row = (Box<[u8]>, Box<[u8]>);
    let rows: Vec<Row> = store
        .db()
        .iterator_cf(store.cf(CF_UNDO), rocksdb::IteratorMode::Start)
        .map(|r| r.unwrap())
        .collect();
    assert!(!rows.is_empty());
    for (k, v) in rows {
        let rec = UndoRecord::decode(&v).unwrap();
        let mut old = vec![3u8];
        old.extend_from_slice(&rec.first_txnum.to_bytes());
        put_varint(&mut old, rec.tx_count);
        put_varint(&mut old, rec.created.len() as u64);
        for s in &rec.created {
            old.extend_from_slice(&s.0);
        }
        put_varint(&mut old, rec.spent.len() as u64);
        for e in &rec.spent {
            let funding = match e.funding {
                Funding::Num(n) => n,
                Funding::Txid(t) => {
                    rewritten += 1;
                    store.txnum_of(&t, None).unwrap().unwrap()
                }
            };
            old.extend_from_slice(&e.script.0);
            old.extend_from_slice(&e.outpoint.txid.0);
            put_varint(&mut old, e.outpoint.vout as u64);
            old.extend_from_slice(&funding.to_bytes());
            put_varint(&mut old, e.value);
            put_varint(&mut old, e.spender.0 - rec.first_txnum.0);
        }
        store.db().put_cf(store.cf(CF_UNDO), k, old).unwrap();
    }
    assert!(rewritten > 10, "only {rewritten} spends of earlier blocks");
    for depth in [1, 3] {
        b.reorg(&d, depth, depth + 1, 8).unwrap();
        sync(&ix);
        Model::from_daemon(&d).assert_matches(&query(&ix));
    }
}
