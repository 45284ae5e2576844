//! The index store: one RocksDB database with a column family per table.
//!
//! | family    | key                                   | value                                  |
//! |-----------|---------------------------------------|----------------------------------------|
//! | `meta`    | `format`, `tip`                       | format record (JSON), tip height+hash  |
//! | `blocks`  | height (4, BE)                        | tx count end (5) + header              |
//! | `txids`   | first tx number of a chunk (5, BE)    | up to 64 consecutive txids (32 each)   |
//! | `txnums`  | txid prefix (5) + tx number (5)       | –                                      |
//! | `history` | script key (11) + first tx number (5) | further tx numbers, LEB128 deltas      |
//! | `utxo`    | script key (11) + txid prefix (8) + vout | funding tx number (5) + value         |
//! | `spends`  | txid prefix (8) + vout                | spending tx number (5)                 |
//! | `undo`    | height (4, BE)                        | undo record of that block              |
//! | `outpoints` | txid prefix (8) + vout              | txid check (4) + script key + funding tx number + value |
//! | `sp_tweaks` | height (4, BE)                      | per eligible tx: position + 33-byte tweak |
//! | `sp_outputs` | height (4, BE)                     | per eligible tx: its taproot outputs   |
//!
//! `outpoints` is kept only by an index that has synced from raw blocks (see [`outpoints`]);
//! everywhere else it is empty and costs nothing. The `sp_` families (silent payments, see
//! [`tweaks`]) are kept only with `FERRUM_SILENT_PAYMENTS=on`.
//!
//! Encodings live in [`keys`]. Durability: writes skip the WAL; every batch is one atomic
//! `WriteBatch`, and [`Store::persist`] flushes all families atomically (`atomic_flush`), so
//! after `kill -9` the database is exactly the state of some persisted batch, tip included.
//! This module knows nothing about how batches are built (that is `sync`) or read (`query`).

pub mod keys;
pub mod outpoints;
mod read;
mod snapshot;
mod tipstate;
pub mod tweaks;

pub use snapshot::SnapshotInfo;
pub use tipstate::{ChunkedVec, TipState};

use crate::chain::Coin;
use crate::types::Height;
use anyhow::{Context, Result, bail};
use bitcoin::BlockHash;
use bitcoin::hashes::Hash;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    FlushOptions, Options, WriteBatch, WriteOptions,
};
use std::path::Path;

/// Bumped whenever an encoding or the meaning of a family changes.
pub const FORMAT_VERSION: u32 = 1;

pub const CF_META: &str = "meta";
pub const CF_BLOCKS: &str = "blocks";
pub const CF_TXIDS: &str = "txids";
pub const CF_TXNUMS: &str = "txnums";
pub const CF_HISTORY: &str = "history";
pub const CF_UTXO: &str = "utxo";
pub const CF_SPENDS: &str = "spends";
pub const CF_UNDO: &str = "undo";
pub const CF_OUTPOINTS: &str = "outpoints";
pub const CF_SP_TWEAKS: &str = "sp_tweaks";
pub const CF_SP_OUTPUTS: &str = "sp_outputs";
pub const ALL_CFS: [&str; 11] = [
    CF_META,
    CF_BLOCKS,
    CF_TXIDS,
    CF_TXNUMS,
    CF_HISTORY,
    CF_UTXO,
    CF_SPENDS,
    CF_UNDO,
    CF_OUTPOINTS,
    CF_SP_TWEAKS,
    CF_SP_OUTPUTS,
];
/// The families every Ferrum index has had since format 1; `outpoints` came later and is
/// created when an older index is opened for writing.
const FORMAT_1_CFS: [&str; 8] = [
    CF_META, CF_BLOCKS, CF_TXIDS, CF_TXNUMS, CF_HISTORY, CF_UTXO, CF_SPENDS, CF_UNDO,
];

const META_FORMAT: &[u8] = b"format";
const META_TIP: &[u8] = b"tip";
/// Present while a large catch-up has not been followed by a full compaction.
const META_COMPACT_PENDING: &[u8] = b"compact_pending";

/// What a database was made for; refused at open when it does not match.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct FormatRecord {
    format: u32,
    coin: String,
    net: String,
    genesis: String,
}

/// The open index database, and the tip it is consistent with.
pub struct Store {
    db: DB,
    /// The indexed chain. Swapped under the write lock together with each batch write, so that a
    /// reader that takes it and a snapshot under the read lock sees one tip (see [`Store::read`]).
    tip: std::sync::RwLock<std::sync::Arc<TipState>>,
    /// Whether the writer keeps the `outpoints` family (its `meta` flag, read at open).
    keeps_outpoints: std::sync::atomic::AtomicBool,
    /// The silent payments index's extent (its `meta` record, read at open).
    sp: std::sync::RwLock<Option<tweaks::SpState>>,
}

/// A consistent read view: the tip and a database snapshot taken at the same instant.
pub struct ReadView<'a> {
    pub tip: std::sync::Arc<TipState>,
    pub snapshot: rocksdb::Snapshot<'a>,
}

fn cf_options(cache: &Cache, point_lookups: bool) -> Options {
    let mut block = BlockBasedOptions::default();
    block.set_block_cache(cache);
    block.set_block_size(16 * 1024);
    block.set_format_version(5);
    if point_lookups {
        block.set_bloom_filter(10.0, false);
    }
    block.set_cache_index_and_filter_blocks(true);
    block.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut o = Options::default();
    o.set_block_based_table_factory(&block);
    // ZSTD where the data comes to rest (the last level, most of the index): keys and values
    // are mostly hashes, but the tx numbers, varints and key overheads around them compress by
    // a quarter. LZ4 above it: flushes and the levels every row passes through on its way down
    // are rewritten again soon, and ZSTD there was an eighth of a large sync's CPU.
    o.set_compression_type(DBCompressionType::Lz4);
    o.set_bottommost_compression_type(DBCompressionType::Zstd);
    o.set_write_buffer_size(128 << 20);
    o.set_max_write_buffer_number(4);
    o.set_target_file_size_base(64 << 20);
    o.set_level_compaction_dynamic_level_bytes(true);
    // Every flush is atomic across the families, so each one adds a level-0 file to all of them,
    // tiny ones (`meta`, `blocks`, `txnums`) included; with two cores the compactions of the big
    // families keep theirs waiting, and RocksDB's default of 20 level-0 files stalled the whole
    // database again and again in a 50M-tx sync (its log: "Stalling writes because we have 20
    // level-0 files", in every family). Later triggers let level 0 absorb the catch-up's bursts:
    // 372.9 s -> 316.1 s for that sync, CPU -11%, 17.5 -> 14.1 GB written, peak RSS 1,331 ->
    // 1,188 MB. Reads meet more level-0 files only while a catch-up outpaces compaction.
    o.set_level_zero_slowdown_writes_trigger(48);
    o.set_level_zero_stop_writes_trigger(72);
    o
}

fn db_options(cache_mb: usize) -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_atomic_flush(true);
    o.set_max_background_jobs(2);
    o.set_bytes_per_sync(1 << 20);
    o.set_max_open_files(1000);
    o.set_keep_log_file_num(3);
    o.set_db_write_buffer_size((cache_mb.max(64) << 20) / 2);
    o
}

impl Store {
    /// Opens (or creates) the index in `path` for `coin`. A directory that holds something else
    /// — another coin's or network's index, another format version, or not a Ferrum database at
    /// all — is refused with an explanation and left untouched.
    pub fn open(path: &Path, coin: &dyn Coin, cache_mb: usize) -> Result<Store> {
        Self::open_mode(path, coin, cache_mb, false)
    }

    /// Opens an existing index read-only (e.g. `ferrum query` beside a running server). It sees
    /// the last persisted batch.
    pub fn open_read_only(path: &Path, coin: &dyn Coin, cache_mb: usize) -> Result<Store> {
        Self::open_mode(path, coin, cache_mb, true)
    }

    fn open_mode(path: &Path, coin: &dyn Coin, cache_mb: usize, read_only: bool) -> Result<Store> {
        let expected = FormatRecord {
            format: FORMAT_VERSION,
            coin: coin.name().to_string(),
            net: coin.net().to_string(),
            genesis: coin.genesis_hash().to_string(),
        };
        let exists = path.join("CURRENT").exists();
        if !exists {
            if read_only {
                bail!(
                    "no Ferrum index in {} yet; run `ferrum` (or `ferrum sync`) first",
                    path.display()
                );
            }
            if path.exists()
                && path
                    .read_dir()
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false)
            {
                bail!(
                    "DB_DIRECTORY {} is not empty and holds no Ferrum database; refusing to write \
                     into it. Point DB_DIRECTORY at an empty or new directory.",
                    path.display()
                );
            }
            std::fs::create_dir_all(path)
                .with_context(|| format!("DB_DIRECTORY {}: cannot create it", path.display()))?;
        } else {
            let cfs = DB::list_cf(&Options::default(), path).unwrap_or_default();
            if !FORMAT_1_CFS.iter().all(|cf| cfs.iter().any(|c| c == cf)) {
                bail!(
                    "DB_DIRECTORY {} holds a database that is not a Ferrum index (column families \
                     {:?}); refusing to touch it. Point DB_DIRECTORY elsewhere.",
                    path.display(),
                    cfs
                );
            }
        }
        let cache = Cache::new_lru_cache((cache_mb << 20) / 4);
        let opts = db_options(cache_mb);
        // Read-only, an index older than a family opens without it (nothing reads it there).
        let existing = if read_only {
            DB::list_cf(&Options::default(), path).unwrap_or_default()
        } else {
            Vec::new()
        };
        let descriptors = ALL_CFS
            .iter()
            .filter(|name| !read_only || existing.iter().any(|c| c == *name))
            .map(|&name| {
                // Bloom filters only help point reads of keys that may be absent (`utxo`
                // deletes are blind, `spends` and `txnums` are prefix scans, `txids` keys always
                // exist); `outpoints` misses every output that is not committed yet.
                let point = matches!(name, CF_BLOCKS | CF_META | CF_UNDO | CF_OUTPOINTS);
                ColumnFamilyDescriptor::new(name, cf_options(&cache, point))
            });
        let db = if read_only {
            DB::open_cf_descriptors_read_only(&opts, path, descriptors, false)
        } else {
            DB::open_cf_descriptors(&opts, path, descriptors)
        }
        .with_context(|| format!("cannot open the index in {}", path.display()))?;
        let store = Store {
            db,
            tip: Default::default(),
            keeps_outpoints: Default::default(),
            sp: Default::default(),
        };
        match store.get(CF_META, META_FORMAT)? {
            Some(raw) => {
                let found: FormatRecord = serde_json::from_slice(&raw).with_context(|| {
                    format!(
                        "{}: unreadable format record; the index is corrupt",
                        path.display()
                    )
                })?;
                if found.coin != expected.coin
                    || found.net != expected.net
                    || found.genesis != expected.genesis
                {
                    bail!(
                        "DB_DIRECTORY {} holds an index of {} {} but Ferrum is configured for {} {}; \
                         use another DB_DIRECTORY or fix COIN/NET",
                        path.display(),
                        found.coin,
                        found.net,
                        expected.coin,
                        expected.net
                    );
                }
                if found.format != expected.format {
                    bail!(
                        "DB_DIRECTORY {} holds an index in format {} but this Ferrum reads format {}; \
                         delete the directory to re-index, or run the matching Ferrum version",
                        path.display(),
                        found.format,
                        expected.format
                    );
                }
            }
            None if read_only => bail!("{}: index has no format record", path.display()),
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(
                    store.cf(CF_META),
                    META_FORMAT,
                    serde_json::to_vec(&expected)?,
                );
                store.write(batch)?;
                store.persist()?;
            }
        }
        store.load_outpoints_flag()?;
        store.load_sp_state()?;
        let state = store.load_tip_state(coin)?;
        *store.tip.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(state);
        Ok(store)
    }

    pub fn db(&self) -> &DB {
        &self.db
    }

    /// Handle of a column family (all are created at open).
    pub fn cf(&self, name: &str) -> &ColumnFamily {
        match self.db.cf_handle(name) {
            Some(cf) => cf,
            // Every name in ALL_CFS is opened in `open`; other names are programming errors.
            None => panic!("unknown column family {name}"),
        }
    }

    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    /// The current tip.
    pub fn tip(&self) -> std::sync::Arc<TipState> {
        self.tip.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A consistent view for queries: the tip and a snapshot of exactly its data.
    pub fn read(&self) -> ReadView<'_> {
        let guard = self.tip.read().unwrap_or_else(|e| e.into_inner());
        let snapshot = self.db.snapshot();
        ReadView {
            tip: guard.clone(),
            snapshot,
        }
    }

    /// Writes a batch and publishes the tip it produces, atomically for readers.
    pub fn commit(&self, mut batch: WriteBatch, new_tip: TipState) -> Result<()> {
        let mut guard = self.tip.write().unwrap_or_else(|e| e.into_inner());
        self.put_tip(&mut batch, new_tip.height().zip(new_tip.tip_hash()));
        self.write(batch)?;
        *guard = std::sync::Arc::new(new_tip);
        Ok(())
    }

    /// Applies one batch atomically (not yet durable; see [`Store::persist`]).
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut o = WriteOptions::default();
        o.disable_wal(true);
        self.db.write_opt(batch, &o).context("index write failed")
    }

    /// Makes every batch written so far durable, atomically across families.
    pub fn persist(&self) -> Result<()> {
        let mut o = FlushOptions::default();
        o.set_wait(true);
        let cfs: Vec<&ColumnFamily> = ALL_CFS.iter().map(|n| self.cf(n)).collect();
        self.db
            .flush_cfs_opt(&cfs, &o)
            .context("index flush failed")
    }

    /// Starts making every batch written so far durable (atomically across families), without
    /// waiting; a crash before it completes leaves the previous durable state.
    pub fn persist_in_background(&self) -> Result<()> {
        let mut o = FlushOptions::default();
        o.set_wait(false);
        let cfs: Vec<&ColumnFamily> = ALL_CFS.iter().map(|n| self.cf(n)).collect();
        self.db
            .flush_cfs_opt(&cfs, &o)
            .context("index flush failed")
    }

    /// Encodes the tip record written with every batch.
    fn put_tip(&self, batch: &mut WriteBatch, tip: Option<(Height, BlockHash)>) {
        match tip {
            Some((h, hash)) => {
                let mut v = h.to_be_bytes().to_vec();
                v.extend_from_slice(hash.as_byte_array());
                batch.put_cf(self.cf(CF_META), META_TIP, v);
            }
            None => batch.delete_cf(self.cf(CF_META), META_TIP),
        }
    }

    /// Loads the chain of indexed blocks, checking it against the tip record.
    fn load_tip_state(&self, coin: &dyn Coin) -> Result<TipState> {
        let mut state = TipState::default();
        for (expected, item) in (0u32..).zip(
            self.db
                .iterator_cf(self.cf(CF_BLOCKS), rocksdb::IteratorMode::Start),
        ) {
            let (k, v) = item?;
            let height = u32::from_be_bytes(k.as_ref().try_into().context("corrupt blocks key")?);
            if height != expected {
                bail!(
                    "index corrupt: block {expected} missing (found {height}); delete the DB to re-index"
                );
            }
            let (count, header) = keys::parse_block_value(&v).context("corrupt blocks row")?;
            if let Some(prev) = state.tip_hash()
                && coin.header_prev_hash(header) != prev
            {
                bail!(
                    "index corrupt: block {height} does not extend block {}",
                    height - 1
                );
            }
            state.push(coin.header_hash(header), count);
        }
        let tip = self.get(CF_META, META_TIP)?;
        let recorded = match tip {
            Some(v) if v.len() == 36 => {
                let h = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                let hash = BlockHash::from_slice(&v[4..]).context("corrupt tip record")?;
                Some((Height(h), hash))
            }
            Some(_) => bail!("index corrupt: bad tip record"),
            None => None,
        };
        let actual = state.height().zip(state.tip_hash());
        if recorded != actual {
            bail!(
                "index corrupt: tip record {recorded:?} does not match the blocks table {actual:?}"
            );
        }
        if let Some(g) = state.hash(Height(0))
            && g != coin.genesis_hash()
        {
            bail!("index corrupt: genesis {g} is not {}", coin.genesis_hash());
        }
        Ok(state)
    }

    /// Compacts the families that shrink: after a large catch-up this drops the tombstones of
    /// spent outputs and merges the per-flush files of the hash-keyed tables. `txids` (written in
    /// key order, never deleted) and `undo` (pruned by range) gain nothing from it.
    pub fn compact(&self) -> Result<()> {
        for name in [CF_TXNUMS, CF_HISTORY, CF_UTXO, CF_SPENDS, CF_OUTPOINTS] {
            self.db
                .compact_range_cf(self.cf(name), None::<&[u8]>, None::<&[u8]>);
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_META), META_COMPACT_PENDING);
        self.write_meta(batch)
    }

    /// Records that a full compaction is due (done by [`Store::compact`], e.g. when `serve`
    /// starts), so that it survives a `ferrum sync` that exits right after a large catch-up.
    pub fn mark_compaction_pending(&self) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), META_COMPACT_PENDING, []);
        self.write_meta(batch)
    }

    pub fn compaction_pending(&self) -> Result<bool> {
        Ok(self.get(CF_META, META_COMPACT_PENDING)?.is_some())
    }

    /// Writes and persists a batch of `meta` rows only (no tip change), under the tip lock so
    /// it cannot interleave with a commit.
    pub(crate) fn write_meta(&self, batch: WriteBatch) -> Result<()> {
        let _guard = self.tip.write().unwrap_or_else(|e| e.into_inner());
        self.write(batch)?;
        self.persist()
    }

    /// Estimated live bytes per column family (for reports).
    pub fn cf_sizes(&self) -> Vec<(&'static str, u64)> {
        ALL_CFS
            .iter()
            .filter_map(|&name| {
                let cf = self.db.cf_handle(name)?;
                let size = self
                    .db
                    .property_int_value_cf(cf, "rocksdb.total-sst-files-size")
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                Some((name, size))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Bitcoin;

    #[test]
    fn pending_compaction_survives_a_restart_until_done() {
        let dir = tempfile::tempdir().unwrap();
        let coin = &Bitcoin::REGTEST;
        {
            let store = Store::open(dir.path(), coin, 16).unwrap();
            assert!(!store.compaction_pending().unwrap());
            store.mark_compaction_pending().unwrap();
        }
        let store = Store::open(dir.path(), coin, 16).unwrap();
        assert!(store.compaction_pending().unwrap());
        store.compact().unwrap();
        assert!(!store.compaction_pending().unwrap());
    }

    #[test]
    fn another_network_or_foreign_directory_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), &Bitcoin::REGTEST, 16).unwrap());
        let err = Store::open(dir.path(), &Bitcoin::SIGNET, 16).err().unwrap();
        assert!(
            err.to_string()
                .contains("holds an index of Bitcoin regtest"),
            "{err}"
        );
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("CURRENT"), b"MANIFEST-000001\n").unwrap();
        assert!(Store::open(other.path(), &Bitcoin::REGTEST, 16).is_err());
        assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 1);
    }
}
