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
    b.reorg(&d, 6, 7, 8).unwrap();
    sync(&ix);
    Model::from_daemon(&d).assert_matches(&query(&ix));
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
