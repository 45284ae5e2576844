//! Consistent copies of a live index ([`Store::snapshot`]), for bootstrapping a replica
//! without a resync: a RocksDB checkpoint, hard links to the immutable table files where the
//! target is on the same filesystem, copies otherwise, plus the manifest and options.
//!
//! Consistency: writes skip the WAL and every batch is one atomic `WriteBatch` (see the module
//! above); the checkpoint flushes all families at one point (`atomic_flush`) before it lists the
//! files, so the copy is exactly the state after some batch, tip record included, as after a
//! crash. Commits go on meanwhile (readers are not blocked either).

use super::{Store, TipState};
use crate::chain::Coin;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub height: Option<u32>,
    pub tip: Option<String>,
    pub tx_count: u64,
}

impl SnapshotInfo {
    fn of(tip: &TipState) -> SnapshotInfo {
        SnapshotInfo {
            height: tip.height().map(|h| h.0),
            tip: tip.tip_hash().map(|h| h.to_string()),
            tx_count: tip.tx_count(),
        }
    }
}

impl Store {
    /// Copies the index into `dir`, which must not exist or be an empty directory (its parent
    /// must exist), and returns the tip the copy holds (read back from the copy itself). On
    /// failure (a full disk, a bad path) nothing is left at `dir`, and the source is untouched
    /// either way.
    pub fn snapshot(&self, dir: &Path, coin: &dyn Coin) -> Result<SnapshotInfo> {
        if !dir.is_absolute() {
            bail!(
                "snapshot directory {} is not an absolute path",
                dir.display()
            );
        }
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    bail!(
                        "snapshot directory {} is not empty; give a new or empty directory",
                        dir.display()
                    );
                }
                // RocksDB creates the directory itself.
                std::fs::remove_dir(dir)
                    .with_context(|| format!("cannot use {}", dir.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => bail!("snapshot directory {}: {e}", dir.display()),
        }
        let parent = dir.parent().unwrap_or(Path::new("/"));
        if !parent.is_dir() {
            bail!(
                "cannot make snapshot {}: {} is not a directory",
                dir.display(),
                parent.display()
            );
        }
        let made = rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(dir))
            .with_context(|| format!("cannot make a snapshot in {}", dir.display()));
        if let Err(e) = made {
            // RocksDB removes its staging directory; make sure nothing half-made stays.
            if dir.exists() {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
        let copy = Store::open_read_only(dir, coin, 8)
            .with_context(|| format!("the snapshot in {} does not open", dir.display()))?;
        Ok(SnapshotInfo::of(&copy.tip()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Bitcoin;
    use crate::store::{CF_META, TipState};

    #[test]
    fn snapshot_refuses_bad_targets_and_copies_the_tip() {
        let coin = &Bitcoin::REGTEST;
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&root.path().join("db"), coin, 8).expect("open");
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(store.cf(CF_META), b"test-key", b"value");
        store.commit(batch, TipState::default()).expect("commit");

        let full = root.path().join("full");
        std::fs::create_dir(&full).expect("mkdir");
        std::fs::write(full.join("x"), b"x").expect("write");
        let e = store.snapshot(&full, coin).unwrap_err().to_string();
        assert!(e.contains("not empty"), "{e}");
        assert!(full.join("x").exists(), "left alone");
        let e = store
            .snapshot(Path::new("relative/dir"), coin)
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
        let e = store
            .snapshot(&root.path().join("no/such/parent"), coin)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a directory"), "{e}");

        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        let info = store.snapshot(&empty, coin).expect("snapshot");
        assert_eq!(info, SnapshotInfo::of(&store.tip()));
        let copy = Store::open_read_only(&empty, coin, 8).expect("copy opens");
        let got = copy.get(CF_META, b"test-key").expect("get");
        assert_eq!(
            got.as_deref(),
            Some(&b"value"[..]),
            "unpersisted writes are in the copy"
        );
        // Another coin's server does not take the copy.
        let other = crate::chain::COINS
            .iter()
            .copied()
            .find(|c| c.name() != coin.name())
            .expect("another coin");
        assert!(Store::open(&empty, other, 8).is_err());
    }
}
