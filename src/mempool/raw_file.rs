//! The raw bytes of every mempool transaction, kept on disk rather than in memory, so that
//! `blockchain.transaction.get` of any mempool tx is answered without asking bitcoind.
//!
//! Why: a node with a large mempool answers `getrawtransaction` slowly whenever a listing
//! holds its mempool lock (p99 over 1 s with 300,000 txs, docs/SCALE.md), and the mempool
//! update has already fetched every tx's bytes. Held in memory they cost ≈500 bytes of RSS
//! per mempool tx (1,430 instead of 902 measured); in an unnamed file beside the index they
//! cost the 8-byte [`RawAt`] each tx carries, and the page cache keeps what is read.
//!
//! The file is append-only: the bytes of txs that left the mempool are dead. Once the file
//! is over [`COMPACT_MIN`] and more than twice the live bytes, the live ones are copied into
//! a new file, the other of two generations ([`RawStore::copy_live`]); every locator names
//! its generation, so a reader keeps reading the old file until its locator has moved, and
//! the old file closes after the last one did ([`RawStore::retire`]). Copying costs the live
//! bytes once per as many bytes of churn, so appends stay amortized O(1).
//!
//! The files are created with `O_TMPFILE` where the OS has it ([`tempfile::tempfile_in`]):
//! no name, so nothing is left after a crash and nothing appears in a copy of the index.
//! When the file cannot be made or written, `transaction.get` asks bitcoind as before.

use anyhow::{Context, Result};
use bitcoin::Txid;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tracing::{info, warn};

/// Below this many bytes the file is never compacted (a small mempool's dead bytes cost
/// nothing worth a copy).
pub const COMPACT_MIN: u64 = 64 << 20;

const OFF_BITS: u32 = 40;
const LEN_BITS: u32 = 23;
/// Bytes a file can hold: 1 TiB.
const MAX_END: u64 = 1 << OFF_BITS;
/// A raw tx of this many bytes or more is not kept (8 MiB, twice a block's weight limit in
/// bytes of witness data; all ones is [`RawAt::NONE`]).
const MAX_LEN: u64 = (1 << LEN_BITS) - 1;
/// Reads and writes of a compaction, in bytes.
const COPY_BUF: usize = 4 << 20;

/// Where a tx's raw bytes are: generation (1 bit), length (23 bits), offset (40 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAt(u64);

impl RawAt {
    /// Not kept (no file, a write failed, or too large).
    pub const NONE: RawAt = RawAt(u64::MAX);

    fn new(generation: usize, offset: u64, len: usize) -> Option<RawAt> {
        let len = len as u64;
        if len >= MAX_LEN || offset.checked_add(len)? > MAX_END || generation > 1 {
            return None;
        }
        Some(RawAt(
            ((generation as u64) << 63) | (len << OFF_BITS) | offset,
        ))
    }

    pub fn is_none(self) -> bool {
        self == RawAt::NONE
    }

    /// The number of bytes (0 for [`RawAt::NONE`]).
    pub fn len(self) -> u64 {
        if self.is_none() {
            0
        } else {
            (self.0 >> OFF_BITS) & MAX_LEN
        }
    }

    fn generation(self) -> usize {
        (self.0 >> 63) as usize
    }

    fn offset(self) -> u64 {
        self.0 & (MAX_END - 1)
    }
}

#[derive(Debug)]
struct Files {
    dir: PathBuf,
    gens: [Option<Arc<File>>; 2],
    /// The generation appends go to.
    active: usize,
    /// The active file's length (reserved, not necessarily written yet).
    end: u64,
    /// A write failed: logged once.
    failed: bool,
}

/// The spill files; `Send + Sync`. See the module documentation.
#[derive(Debug)]
pub struct RawStore {
    files: Mutex<Option<Files>>,
    /// See [`COMPACT_MIN`].
    compact_min: u64,
}

impl Default for RawStore {
    /// Keeps nothing.
    fn default() -> Self {
        RawStore {
            files: Mutex::new(None),
            compact_min: COMPACT_MIN,
        }
    }
}

impl RawStore {
    /// A store whose files live in `dir` (unnamed), compacted past `compact_min` bytes
    /// ([`COMPACT_MIN`] but in tests).
    pub fn in_dir(dir: &Path, compact_min: u64) -> Result<RawStore> {
        let file = tempfile::tempfile_in(dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        Ok(RawStore {
            files: Mutex::new(Some(Files {
                dir: dir.to_path_buf(),
                gens: [Some(Arc::new(file)), None],
                active: 0,
                end: 0,
                failed: false,
            })),
            compact_min,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Files>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes in the active file, live or dead.
    pub fn end(&self) -> u64 {
        self.lock().as_ref().map_or(0, |f| f.end)
    }

    /// Appends `bytes`, the raw txs of `lens` bytes each laid end to end, with one write;
    /// their locators, in order ([`RawAt::NONE`] for each when there is no file or the
    /// write failed). Safe from several threads at once.
    pub fn append(&self, bytes: &[u8], lens: &[usize]) -> Vec<RawAt> {
        let total = bytes.len() as u64;
        let reserved = {
            let mut guard = self.lock();
            match guard.as_mut() {
                Some(f) if f.end + total <= MAX_END => {
                    let at = f.end;
                    f.end += total;
                    f.gens[f.active].clone().map(|file| (file, f.active, at))
                }
                _ => None,
            }
        };
        let Some((file, generation, start)) = reserved else {
            return vec![RawAt::NONE; lens.len()];
        };
        if let Err(e) = file.write_all_at(bytes, start) {
            let mut guard = self.lock();
            if let Some(f) = guard.as_mut()
                && !std::mem::replace(&mut f.failed, true)
            {
                warn!(
                    "mempool raw file in {}: {e}; transaction.get asks bitcoind for what was not written",
                    f.dir.display()
                );
            }
            return vec![RawAt::NONE; lens.len()];
        }
        let mut offset = start;
        lens.iter()
            .map(|&len| {
                let at = RawAt::new(generation, offset, len).unwrap_or(RawAt::NONE);
                offset += len as u64;
                at
            })
            .collect()
    }

    /// The file `at` is in; take it while the mempool state that gave `at` is still
    /// read-locked (a compaction moves locators under its write lock), read it after.
    pub fn file_of(&self, at: RawAt) -> Option<Arc<File>> {
        if at.is_none() {
            return None;
        }
        self.lock().as_ref()?.gens[at.generation()].clone()
    }

    /// The bytes at `at` in `file` (from [`RawStore::file_of`]).
    pub fn read(file: &File, at: RawAt) -> Option<Vec<u8>> {
        let mut buf = vec![0; at.len() as usize];
        file.read_exact_at(&mut buf, at.offset()).ok()?;
        Some(buf)
    }

    /// Whether the active file is worth compacting, given the live bytes.
    pub fn should_compact(&self, live: u64) -> bool {
        let end = self.end();
        end > self.compact_min && end / 2 > live
    }

    /// Copies the bytes of `live` (every tx still in the mempool with its locator) into a
    /// new file of the other generation, which appends go to from now on, and returns the
    /// new locators. The caller moves them into the state, then calls [`RawStore::retire`].
    /// Callers serialize compactions with appends' users (the mempool update).
    pub fn copy_live(&self, mut live: Vec<(Txid, RawAt)>) -> Result<Vec<(Txid, RawAt)>> {
        let (old, dir, old_generation) = {
            let guard = self.lock();
            let f = guard.as_ref().context("no raw file")?;
            let file = f.gens[f.active].clone().context("no active raw file")?;
            (file, f.dir.clone(), f.active)
        };
        let new_generation = 1 - old_generation;
        let new = Arc::new(
            tempfile::tempfile_in(&dir)
                .with_context(|| format!("cannot create a file in {}", dir.display()))?,
        );
        live.retain(|(_, at)| !at.is_none() && at.generation() == old_generation);
        live.sort_unstable_by_key(|(_, at)| at.offset());
        let mut moved = Vec::with_capacity(live.len());
        let (mut window, mut window_at) = (Vec::new(), 0u64);
        let mut out: Vec<u8> = Vec::with_capacity(COPY_BUF);
        let mut written = 0u64;
        for (txid, at) in live {
            let (off, len) = (at.offset(), at.len() as usize);
            let inside = off >= window_at && off + len as u64 <= window_at + window.len() as u64;
            if !inside {
                window.resize(COPY_BUF.max(len), 0);
                let n = read_up_to(&old, &mut window, off)?;
                window.truncate(n);
                window_at = off;
                if n < len {
                    anyhow::bail!("raw file: {len} bytes at {off} past its end");
                }
            }
            let from = (off - window_at) as usize;
            let new_at = RawAt::new(new_generation, written + out.len() as u64, len)
                .context("raw file: locator out of range")?;
            out.extend_from_slice(&window[from..from + len]);
            moved.push((txid, new_at));
            if out.len() >= COPY_BUF {
                new.write_all_at(&out, written)?;
                written += out.len() as u64;
                out.clear();
            }
        }
        new.write_all_at(&out, written)?;
        written += out.len() as u64;
        let mut guard = self.lock();
        let f = guard.as_mut().context("no raw file")?;
        f.gens[new_generation] = Some(new);
        info!("mempool raw file compacted: {} → {} bytes", f.end, written);
        f.active = new_generation;
        f.end = written;
        Ok(moved)
    }

    /// Closes the generation appends no longer go to (its open handles, held by readers
    /// that took them before their locators moved, stay valid until dropped).
    pub fn retire(&self) {
        let mut guard = self.lock();
        if let Some(f) = guard.as_mut() {
            let old = 1 - f.active;
            f.gens[old] = None;
        }
    }
}

/// Reads as much of `buf` as the file has from `offset`.
fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn txid(n: u32) -> Txid {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        Txid::from_byte_array(b)
    }

    fn raw(n: u32, len: usize) -> Vec<u8> {
        (0..len).map(|i| (n as usize * 31 + i) as u8).collect()
    }

    fn append(store: &RawStore, raws: &[Vec<u8>]) -> Vec<RawAt> {
        let lens: Vec<usize> = raws.iter().map(Vec::len).collect();
        store.append(&raws.concat(), &lens)
    }

    fn read(store: &RawStore, at: RawAt) -> Option<Vec<u8>> {
        let file = store.file_of(at)?;
        RawStore::read(&file, at)
    }

    #[test]
    fn locators_pack_and_refuse_what_does_not_fit() {
        let at = RawAt::new(1, MAX_END - 10, 10).expect("fits");
        assert_eq!(
            (at.generation(), at.offset(), at.len()),
            (1, MAX_END - 10, 10)
        );
        assert!(!at.is_none());
        assert_eq!(RawAt::new(0, MAX_END - 9, 10), None);
        assert_eq!(RawAt::new(0, 0, MAX_LEN as usize), None);
        assert_eq!(RawAt::new(0, u64::MAX, 1), None);
        assert_eq!(RawAt::NONE.len(), 0);
    }

    #[test]
    fn appended_bytes_read_back_from_several_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RawStore::in_dir(dir.path(), COMPACT_MIN).expect("store");
        let ats: Vec<Vec<(u32, RawAt)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u32)
                .map(|t| {
                    let store = &store;
                    s.spawn(move || {
                        let ns: Vec<u32> = (0..50).map(|i| t * 1000 + i).collect();
                        let raws: Vec<Vec<u8>> =
                            ns.iter().map(|&n| raw(n, 50 + n as usize % 200)).collect();
                        ns.into_iter().zip(append(store, &raws)).collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        let mut total = 0;
        for (n, at) in ats.into_iter().flatten() {
            let expected = raw(n, 50 + n as usize % 200);
            total += expected.len() as u64;
            assert_eq!(read(&store, at), Some(expected), "tx {n}");
        }
        assert_eq!(store.end(), total);
        assert_eq!(read(&store, RawAt::NONE), None);
    }

    #[test]
    fn compaction_keeps_the_live_bytes_and_old_locators_until_retired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RawStore::in_dir(dir.path(), COMPACT_MIN).expect("store");
        // 3,000 txs of 1–3 KB in batches; every third stays live.
        let mut live = Vec::new();
        for batch in 0..30u32 {
            let ns: Vec<u32> = (batch * 100..batch * 100 + 100).collect();
            let raws: Vec<Vec<u8>> = ns
                .iter()
                .map(|&n| raw(n, 1000 + (n as usize * 7) % 2000))
                .collect();
            for (n, at) in ns.into_iter().zip(append(&store, &raws)) {
                if n % 3 == 0 {
                    live.push((txid(n), at, n));
                }
            }
        }
        let before = store.end();
        let live_bytes: u64 = live.iter().map(|(_, at, _)| at.len()).sum();
        assert!(live_bytes * 2 < before);
        let old_at = live[7].1;
        let old_file = store.file_of(old_at).expect("old generation");
        let moved = store
            .copy_live(live.iter().map(|(t, at, _)| (*t, *at)).collect())
            .expect("compaction");
        assert_eq!(store.end(), live_bytes);
        assert_eq!(moved.len(), live.len());
        // Not yet retired: an old locator still reads.
        assert_eq!(
            read(&store, old_at),
            Some(raw(live[7].2, old_at.len() as usize))
        );
        store.retire();
        assert_eq!(
            store.file_of(old_at).map(|_| ()),
            None,
            "old generation closed"
        );
        // A handle taken before the retirement still reads.
        assert!(RawStore::read(&old_file, old_at).is_some());
        for ((txid, at), (t, old, n)) in moved.iter().zip(&live) {
            assert_eq!(txid, t);
            assert_eq!(at.len(), old.len());
            assert_eq!(
                read(&store, *at),
                Some(raw(*n, at.len() as usize)),
                "tx {n}"
            );
        }
        // Appends go to the new generation, after the copied bytes.
        let next = append(&store, &[vec![7u8; 9]]);
        assert_eq!(read(&store, next[0]), Some(vec![7u8; 9]));
        assert_eq!(store.end(), live_bytes + 9);
        // And a second compaction goes back to the first generation.
        let again = store.copy_live(moved.clone()).expect("second compaction");
        store.retire();
        for ((_, at), (_, _, n)) in again.iter().zip(&live) {
            assert_eq!(read(&store, *at), Some(raw(*n, at.len() as usize)));
        }
    }

    #[test]
    fn compaction_is_due_past_the_minimum_when_mostly_dead() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RawStore::in_dir(dir.path(), COMPACT_MIN).expect("store");
        let big = vec![1u8; (COMPACT_MIN / 4) as usize];
        for _ in 0..5 {
            append(&store, std::slice::from_ref(&big));
        }
        assert!(store.should_compact(0));
        assert!(store.should_compact(store.end() / 2 - 1));
        assert!(!store.should_compact(store.end() / 2));
        assert!(!RawStore::default().should_compact(0));
        assert_eq!(append(&RawStore::default(), &[vec![1]]), vec![RawAt::NONE]);
    }
}
