//! `ferrum snapshot DIR`: a consistent copy of the index, to start another replica from
//! (see [`crate::store::Store::snapshot`]). With a server running, its admin RPC makes the
//! copy while it goes on serving; without one, the index is opened here and copied.

use crate::admin::client;
use crate::config::Config;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Longest wait for a running server's copy (a copy across filesystems writes every byte).
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

pub fn run(config: &Config, dir: &Path, port: Option<u16>) -> Result<()> {
    let dir = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    let via_server = match client::address(config, port) {
        Ok((host, port)) => {
            let params = json!({"dir": dir.to_string_lossy()});
            match client::send(&host, port, "snapshot", params, SNAPSHOT_TIMEOUT) {
                Ok(v) => Some(v),
                // No server listening: copy the index ourselves.
                Err(e) if refused(&e) => None,
                Err(e) => return Err(e),
            }
        }
        Err(_) => None,
    };
    let result = match via_server {
        Some(v) => v,
        None => {
            let store =
                crate::store::Store::open(&config.db_dir, config.coin, 64).with_context(|| {
                    format!(
                        "no server answered on the admin RPC, and the index in {} cannot be \
                         opened",
                        config.db_dir.display()
                    )
                })?;
            let info = store.snapshot(&dir, config.coin)?;
            json!({"height": info.height, "tip": info.tip, "tx_count": info.tx_count})
        }
    };
    println!("{}", describe(config, &dir, &result));
    Ok(())
}

/// Whether a failed admin request found nothing listening.
fn refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

fn describe(config: &Config, dir: &Path, r: &Value) -> String {
    let height = r["height"]
        .as_u64()
        .map_or_else(|| "- (empty index)".to_string(), |h| h.to_string());
    format!(
        "snapshot of the {}/{} index in {}: height {height}, tip {}, {} txs\n\
         start a replica on it with DB_DIRECTORY={} (same COIN and NET); it resumes from \
         that tip",
        config.coin.name(),
        config.coin.net(),
        dir.display(),
        r["tip"].as_str().unwrap_or("-"),
        r["tx_count"].as_u64().unwrap_or(0),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_is_found_in_the_chain() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = anyhow::Error::from(io).context("cannot connect");
        assert!(refused(&e));
        assert!(!refused(&anyhow::anyhow!(
            "error making request: not empty (code 1)"
        )));
    }
}
