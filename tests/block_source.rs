//! The raw block source (spent outputs resolved from Ferrum's own `outpoints` family) against a
//! real bitcoind: generated chains with every output type, in-block spends and reorgs inside
//! and beyond the undo window; an index moving between sources, including one made before the
//! `outpoints` family existed; and rows that fail their txid check, which must take the exact
//! path rather than give an input the wrong script. Each step is checked against the
//! independent model (`common::model`) and the `outpoints` rows against `utxo`.

mod common;

use common::model::Model;
use common::*;
use ferrum::chaingen::Bitcoind;
use ferrum::daemon::settings::BlockSourceMode;
use ferrum::store::{CF_OUTPOINTS, keys};
use std::path::Path;

fn check(d: &Bitcoind, ix: &ferrum::sync::Indexer) {
    Model::from_daemon(d).assert_matches(&query(ix));
    assert_outpoints_match_utxos(ix.store());
}

#[test]
fn raw_blocks_match_the_model_through_reorgs_inside_and_beyond_the_undo_window() {
    // No REST, as with an altcoin daemon; getblock 3 would work but is not used.
    let d = Bitcoind::start_with(&["-rest=0"]).unwrap();
    let mut b = every_type_chain(&d, 31);
    let dir = tempfile::tempdir().unwrap();
    let ix = indexer_from(&d, dir.path(), 2, BlockSourceMode::Raw);
    sync(&ix);
    check(&d, &ix);
    // Following the tip, one block per commit: inputs resolved from committed rows.
    for _ in 0..3 {
        b.mine_block_with(&d, 10).unwrap();
        sync(&ix);
    }
    check(&d, &ix);
    // Inside the undo window (REORG_LIMIT 2), then beyond it (stale blocks refetched, their
    // inputs resolved through their funding blocks).
    b.reorg(&d, 1, 2, 8).unwrap();
    sync(&ix);
    check(&d, &ix);
    b.reorg(&d, 5, 6, 8).unwrap();
    sync(&ix);
    check(&d, &ix);
}

/// Makes `db` what an index of the previous formats is: no `outpoints` family, no silent
/// payments families and no silent payments record.
fn drop_outpoints_family(db: &Path) {
    use ferrum::store::{CF_META, CF_SP_OUTPUTS, CF_SP_TWEAKS};
    let names = rocksdb::DB::list_cf(&rocksdb::Options::default(), db).unwrap();
    let mut raw = rocksdb::DB::open_cf(&rocksdb::Options::default(), db, &names).unwrap();
    raw.delete_cf(raw.cf_handle(CF_META).unwrap(), b"silent_payments")
        .unwrap();
    for cf in [CF_OUTPOINTS, CF_SP_TWEAKS, CF_SP_OUTPUTS] {
        raw.drop_cf(cf).unwrap();
    }
    drop(raw);
    let names = rocksdb::DB::list_cf(&rocksdb::Options::default(), db).unwrap();
    for cf in [CF_OUTPOINTS, CF_SP_TWEAKS, CF_SP_OUTPUTS] {
        assert!(!names.iter().any(|n| n == cf), "{names:?}");
    }
}

#[test]
fn an_index_moves_between_sources_and_upgrades_from_the_previous_format() {
    let d = Bitcoind::start_with(&["-rest"]).unwrap();
    let mut b = every_type_chain(&d, 32);
    let dir = tempfile::tempdir().unwrap();
    {
        let ix = indexer_from(&d, dir.path(), 10, BlockSourceMode::Auto);
        sync(&ix);
        assert!(!ix.store().keeps_outpoints());
    }
    drop_outpoints_family(dir.path());
    // Read-only, the old index opens as it is.
    ferrum::store::Store::open_read_only(dir.path(), COIN, 16).unwrap();

    // Raw: the table is built from `utxo` once, then kept through new blocks and a reorg.
    b.mine_block_with(&d, 10).unwrap();
    {
        let ix = indexer_from(&d, dir.path(), 10, BlockSourceMode::Raw);
        assert!(!ix.store().keeps_outpoints());
        sync(&ix);
        assert!(ix.store().keeps_outpoints());
        check(&d, &ix);
        b.reorg(&d, 2, 3, 8).unwrap();
        sync(&ix);
        check(&d, &ix);
    }
    // Back to REST: the table stays current, so raw can take over again at any time.
    b.mine_block_with(&d, 10).unwrap();
    b.reorg(&d, 1, 2, 8).unwrap();
    {
        // From REST the silent payments tweaks are kept: the families come back, built from
        // the taproot activation (regtest: 0) without a resync.
        let ix = indexer_from(&d, dir.path(), 10, BlockSourceMode::Rest);
        sync(&ix);
        check(&d, &ix);
        assert!(assert_tweaks_match(&d, ix.store()) > 0);
    }
    b.mine_block_with(&d, 10).unwrap();
    let ix = indexer_from(&d, dir.path(), 10, BlockSourceMode::Raw);
    sync(&ix);
    let outputs = check_count(&d, &ix);
    assert!(outputs > 50, "{outputs}");
}

fn check_count(d: &Bitcoind, ix: &ferrum::sync::Indexer) -> usize {
    Model::from_daemon(d).assert_matches(&query(ix));
    assert_outpoints_match_utxos(ix.store())
}

#[test]
fn rows_that_fail_their_txid_check_take_the_exact_path() {
    let d = Bitcoind::start_with(&["-rest=0"]).unwrap();
    let mut b = every_type_chain(&d, 33);
    let dir = tempfile::tempdir().unwrap();
    {
        let ix = indexer_from(&d, dir.path(), 10, BlockSourceMode::Raw);
        sync(&ix);
        // Every row now claims another script and value, with check bytes that belong to
        // another txid: what a collision of the key's 8 txid bytes would look like.
        let store = ix.store();
        let cf = store.cf(CF_OUTPOINTS);
        let rows: Vec<_> = store
            .db()
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .map(|r| r.unwrap())
            .collect();
        assert!(rows.len() > 50);
        for (k, v) in rows {
            let (mut check, mut info) = keys::decode_outpoint_value(&v).unwrap();
            check[0] ^= 1;
            info.script = ferrum::types::ScriptKey([0x5a; 11]);
            info.value += 1;
            let mut out = Vec::new();
            keys::outpoint_value_into(&mut out, check, &info);
            store.db().put_cf(cf, &k, &out).unwrap();
        }
        store.persist().unwrap();
    }
    for _ in 0..3 {
        b.mine_block_with(&d, 15).unwrap();
    }
    let ix = indexer_from(&d, dir.path(), 10, BlockSourceMode::Raw);
    sync(&ix);
    // Every spend of an old output went to the exact path; rows of outputs still unspent are
    // still the corrupted ones, so only the answers are compared here.
    Model::from_daemon(&d).assert_matches(&query(&ix));
}
