//! `Store::snapshot` when the target cannot be written (a full disk): the copy fails with an
//! error, nothing is left at the target, and the source index is untouched and still serves.
//!
//! The failure is made with `RLIMIT_FSIZE` (writes past the limit fail with EFBIG, as a full
//! disk fails them with ENOSPC), which is process-wide: hence a test binary of its own, with one
//! test, and SIGXFSZ ignored so the failed write is an error and not the process's death.

use ferrum::chain::Bitcoin;
use ferrum::store::{CF_META, Store, TipState};

fn set_fsize(limit: libc::rlim_t) {
    let l = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit only reads the struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &l) }, 0);
}

#[test]
fn a_snapshot_that_cannot_be_written_fails_cleanly_and_leaves_the_source_alone() {
    let coin = &Bitcoin::REGTEST;
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(&root.path().join("db"), coin, 8).unwrap();
    let mut batch = rocksdb::WriteBatch::default();
    batch.put_cf(store.cf(CF_META), b"test-key", vec![7u8; 4096]);
    store.commit(batch, TipState::default()).unwrap();
    // Durable first, so the checkpoint has no memtable to flush: the only writes are the copy.
    store.persist().unwrap();

    let target = root.path().join("snap");
    // SAFETY: ignoring SIGXFSZ makes a write past RLIMIT_FSIZE fail with EFBIG instead.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    set_fsize(64);
    let failed = store.snapshot(&target, coin);
    set_fsize(libc::RLIM_INFINITY);
    let e = failed.expect_err("a copy that cannot be written");
    assert!(format!("{e:#}").contains("cannot make a snapshot"), "{e:#}");
    assert!(!target.exists(), "nothing left at the target");
    let staging: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "db")
        .collect();
    assert!(staging.is_empty(), "no staging directory left: {staging:?}");

    // The source is untouched: it reads, writes and copies as before.
    let got = store.get(CF_META, b"test-key").unwrap();
    assert_eq!(got.as_deref(), Some(&[7u8; 4096][..]));
    let mut batch = rocksdb::WriteBatch::default();
    batch.put_cf(store.cf(CF_META), b"after", b"x");
    store.commit(batch, TipState::default()).unwrap();
    store.snapshot(&target, coin).expect("a snapshot with room");
    drop(store);
    let copy = Store::open_read_only(&target, coin, 8).unwrap();
    assert_eq!(
        copy.get(CF_META, b"after").unwrap().as_deref(),
        Some(&b"x"[..])
    );
}
