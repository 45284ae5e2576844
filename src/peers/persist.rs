//! The peer table on disk: `peers.json` in the DB directory, so a restarted server does not
//! start from the seeds alone.
//!
//! Written atomically (a temporary file, synced, renamed over the old one). Read with a size
//! bound; a missing file is an empty table, and a corrupt, oversized or foreign file (another
//! coin or network, another format) is logged and ignored, never fatal. Entries are checked
//! again when put back ([`crate::peers::PeerTable::restore`]).

use super::table::{MAX_PEERS, PeerEntry};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The file's name in the DB directory.
pub const FILE_NAME: &str = "peers.json";
/// Largest file read, in bytes (a full table is about 300 KB).
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// The format tag and version written.
const FORMAT: &str = "ferrum-peers";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    format: String,
    version: u32,
    coin: String,
    net: String,
    peers: T,
}

/// The path of the peers file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Saves `entries` for `coin`/`net` to `dir/peers.json`, atomically.
pub fn save(dir: &Path, coin: &str, net: &str, entries: &[PeerEntry]) -> io::Result<()> {
    let stored = Stored {
        format: FORMAT.into(),
        version: VERSION,
        coin: coin.into(),
        net: net.into(),
        peers: entries,
    };
    let json = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path(dir))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all(); // makes the rename durable where the platform allows it
    }
    Ok(())
}

/// Loads the entries saved for `coin`/`net`; any problem is logged and gives none.
pub fn load(dir: &Path, coin: &str, net: &str) -> Vec<PeerEntry> {
    let path = path(dir);
    match read(&path, coin, net) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::warn!("ignoring the saved peers in {}: {e}", path.display());
            Vec::new()
        }
    }
}

/// Reads at most `max` bytes of a file; a longer file is an error.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

fn read(path: &Path, coin: &str, net: &str) -> io::Result<Vec<PeerEntry>> {
    let bytes = read_bounded(path, MAX_FILE_BYTES)?;
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let stored: Stored<Vec<serde_json::Value>> =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not a peers file: {e}")))?;
    if stored.format != FORMAT || stored.version != VERSION {
        return Err(invalid(format!(
            "format {} version {}, expected {FORMAT} version {VERSION}",
            stored.format, stored.version
        )));
    }
    if stored.coin != coin || stored.net != net {
        return Err(invalid(format!(
            "saved for {} {}, not {coin} {net}",
            stored.coin, stored.net
        )));
    }
    let total = stored.peers.len();
    let entries: Vec<PeerEntry> = stored
        .peers
        .into_iter()
        .take(MAX_PEERS)
        .filter_map(|v| serde_json::from_value::<PeerEntry>(v).ok())
        .filter(|e| !matches!(e.peer.features.tcp_port, Some(0)))
        .filter(|e| !matches!(e.peer.features.ssl_port, Some(0)))
        .collect();
    if entries.len() < total {
        tracing::warn!(
            "{}: {} of {total} saved peers skipped (invalid or beyond {MAX_PEERS})",
            path.display(),
            total - entries.len()
        );
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{Peer, Source};

    fn entries() -> Vec<PeerEntry> {
        let mut a = PeerEntry::new(
            Peer::from_real_name("a.example.com v1.4 s t50003 p1000", (50001, 50002)).unwrap(),
            Source::Peer(crate::peers::Host::parse("x.example.com").unwrap()),
        );
        a.peer.ip = Some("2001:db8::5".parse().unwrap());
        a.last_good = Some(1_700_000_000);
        a.last_try = Some(1_700_000_100);
        a.try_count = 2;
        let b = PeerEntry::new(
            Peer::from_real_name("5.9.83.108 s", (50001, 50002)).unwrap(),
            Source::AddPeer("8.8.8.8".parse().unwrap()),
        );
        vec![
            a,
            b,
            PeerEntry::new(
                Peer::from_real_name("c.example.com", (1, 2)).unwrap(),
                Source::Seed,
            ),
        ]
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let saved = entries();
        save(dir.path(), "Bitcoin", "mainnet", &saved).unwrap();
        assert_eq!(load(dir.path(), "Bitcoin", "mainnet"), saved);
        assert!(!dir.path().join("peers.json.tmp").exists());
        // Saving again replaces the file.
        save(dir.path(), "Bitcoin", "mainnet", &saved[..1]).unwrap();
        assert_eq!(load(dir.path(), "Bitcoin", "mainnet"), saved[..1]);
    }

    #[test]
    fn missing_corrupt_and_foreign_files_give_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), "Bitcoin", "mainnet").is_empty());
        let saved = entries();
        save(dir.path(), "Bitcoin", "testnet", &saved).unwrap();
        assert!(
            load(dir.path(), "Bitcoin", "mainnet").is_empty(),
            "another network's file"
        );
        for bad in [
            "",
            "{",
            "[]",
            "null",
            "{\"format\":\"x\"}",
            "\u{0}\u{1}garbage",
        ] {
            fs::write(path(dir.path()), bad).unwrap();
            assert!(load(dir.path(), "Bitcoin", "testnet").is_empty(), "{bad:?}");
        }
        let other = r#"{"format":"other","version":1,"coin":"Bitcoin","net":"testnet","peers":[]}"#;
        fs::write(path(dir.path()), other).unwrap();
        assert!(read(&path(dir.path()), "Bitcoin", "testnet").is_err());
        let big = vec![b' '; MAX_FILE_BYTES as usize + 1];
        fs::write(path(dir.path()), big).unwrap();
        let err = read(&path(dir.path()), "Bitcoin", "testnet").unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn invalid_entries_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let saved = entries();
        save(dir.path(), "Bitcoin", "mainnet", &saved).unwrap();
        let text = fs::read_to_string(path(dir.path())).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["peers"][0]["peer"]["host"] = "not a host!".into();
        v["peers"][1]["peer"]["features"]["tcp_port"] = 70000.into();
        let copy = v["peers"][2].clone();
        v["peers"].as_array_mut().unwrap().push(copy);
        v["peers"][3]["peer"]["features"]["ssl_port"] = 0.into();
        fs::write(path(dir.path()), v.to_string()).unwrap();
        assert_eq!(load(dir.path(), "Bitcoin", "mainnet"), saved[2..]);
    }
}
