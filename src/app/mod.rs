//! The commands Ferrum runs, wiring the layers together: `serve` (index, follow the tip),
//! `sync` (index to the tip and exit), `query` (print a script's history, UTXOs and balance) and
//! `demo` (a local regtest node with a generated chain). No logic of its own beyond wiring.

mod demo;
mod query_cmd;
mod snapshot_cmd;

pub(crate) use query_cmd::script_key;

use crate::config::{Command, Config};
use crate::daemon::Daemon;
use crate::store::Store;
use crate::sync::{Indexer, IndexerConfig};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What `ferrum` adds after the error when it finds no bitcoind to talk to.
pub const NO_NODE_HINT: &str = "no node? `ferrum demo` starts a local regtest bitcoind with a \
    generated chain and serves it, to try Ferrum without one (`ferrum demo --help`)";

/// Whether `command` works on the configured node (and so a missing node is the user's problem
/// to solve, possibly with `ferrum demo`).
pub fn wants_a_node(command: &Command) -> bool {
    matches!(command, Command::Serve | Command::Sync)
}

/// Whether `err` says that no bitcoind answered: nothing listens at the address, or the cookie
/// file that a running node would have written is absent.
pub fn no_node(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(
            e.downcast_ref::<crate::daemon::DaemonError>(),
            Some(
                crate::daemon::DaemonError::Connect { .. }
                    | crate::daemon::DaemonError::Cookie { .. }
            )
        )
    })
}

/// Runs one command to completion.
pub fn run(config: Config, command: Command) -> Result<()> {
    init_logging(&config);
    match command {
        Command::Serve => serve(&config, install_stop_handler()?),
        Command::Sync => sync_once(&config, &*install_stop_handler()?),
        Command::Compact => compact(&config),
        Command::Query {
            target,
            json,
            limit,
        } => query_cmd::run(&config, &target, json, limit),
        Command::Demo { blocks, dir } => demo::run(&config, blocks, dir),
        Command::Rpc(args) => crate::admin::run_client(&config, &args),
        Command::Snapshot { dir, port } => snapshot_cmd::run(&config, &dir, port),
    }
}

fn init_logging(config: &Config) {
    crate::metrics::logs::set_anonymous(config.anon_logs);
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// SIGINT/SIGTERM set the returned flag; the indexer stops between blocks and the index stays
/// consistent (every committed batch is atomic). A signal that comes when the flag is already
/// set (a second signal, or one after the admin RPC's `stop`) exits at once with status
/// 128 + the signal number: still safe, as every commit is atomic.
fn install_stop_handler() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, stop.clone())
            .context("cannot install signal handler")?;
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handler")?;
    }
    Ok(stop)
}

/// Opens the index and connects to the daemon.
pub fn open_indexer(config: &Config) -> Result<Indexer> {
    connect_indexer(config, open_store(config)?)
}

/// Opens the index (and logs where it stands).
pub fn open_store(config: &Config) -> Result<Arc<Store>> {
    let store = Arc::new(Store::open(&config.db_dir, config.coin, config.cache_mb)?);
    let tip = store.tip();
    tracing::info!(
        "index {} opened at height {} ({} txs)",
        config.db_dir.display(),
        tip.height().map_or("-".to_string(), |h| h.to_string()),
        tip.tx_count()
    );
    Ok(store)
}

/// Connects to the daemon (waiting while it warms up) and makes the indexer of `store`.
pub fn connect_indexer(config: &Config, store: Arc<Store>) -> Result<Indexer> {
    let daemon = Arc::new(Daemon::connect(config.daemon.clone(), config.coin)?);
    let cfg = IndexerConfig {
        cache_mb: config.cache_mb,
        reorg_limit: config.reorg_limit,
        threads: config.index_threads,
        poll_interval: config.poll_interval_blocks,
        zmq_block_endpoint: config.zmq_block_endpoint.clone(),
        silent_payments: config.silent_payments.enabled,
    };
    Ok(Indexer::new(store, daemon, config.coin, cfg))
}

pub(crate) fn serve(config: &Config, stop: Arc<AtomicBool>) -> Result<()> {
    crate::electrum::server::run(config, stop)?;
    tracing::info!("stopped");
    Ok(())
}

/// `ferrum compact`: a full compaction now, with the sizes before and after.
fn compact(config: &Config) -> Result<()> {
    let store = Store::open(&config.db_dir, config.coin, config.cache_mb)?;
    let txs = store.tip().tx_count().max(1);
    print_sizes(&store, txs, "index");
    let t = std::time::Instant::now();
    store.compact()?;
    println!("compacted in {:.1}s", t.elapsed().as_secs_f64());
    print_sizes(&store, txs, "compacted index");
    Ok(())
}

/// Prints the size of each column family, and per transaction.
fn print_sizes(store: &Store, txs: u64, what: &str) {
    let sizes = store.cf_sizes();
    let total: u64 = sizes.iter().map(|(_, s)| s).sum();
    println!(
        "{what}: {:.1} MB, {:.1} bytes/tx",
        total as f64 / 1e6,
        total as f64 / txs as f64
    );
    for (name, size) in sizes {
        println!(
            "  {name:9} {size:>12} bytes {:>8.1} bytes/tx",
            size as f64 / txs as f64
        );
    }
}

/// The silent payments families per eligible transaction and per taproot output.
fn print_sp_sizes(store: &Store) -> Result<()> {
    let (eligible, outputs) = store.sp_counts()?;
    let size = |cf: &str| {
        store
            .cf_sizes()
            .into_iter()
            .find(|(n, _)| *n == cf)
            .map_or(0, |(_, s)| s)
    };
    let per = |bytes: u64, n: u64| bytes as f64 / n.max(1) as f64;
    let (t, o) = (
        size(crate::store::CF_SP_TWEAKS),
        size(crate::store::CF_SP_OUTPUTS),
    );
    println!(
        "silent payments: {eligible} eligible txs, {outputs} taproot outputs; sp_tweaks {:.1} \
         bytes/eligible tx, sp_outputs {:.1} bytes/output ({:.1} bytes/eligible tx in all)",
        per(t, eligible),
        per(o, outputs),
        per(t + o, eligible)
    );
    Ok(())
}

fn sync_once(config: &Config, stop: &AtomicBool) -> Result<()> {
    let indexer = open_indexer(config)?;
    let mut attempt = 0;
    let stats = loop {
        match indexer.sync_to_tip(stop) {
            Ok(stats) => break stats,
            // The daemon client already retried transport errors; a few more rounds cover a
            // daemon that restarts or a reorg racing the sync. Every commit was atomic, so a
            // retry resumes exactly where the last one stopped.
            Err(e) if attempt < 5 && !stop.load(Ordering::Relaxed) => {
                attempt += 1;
                tracing::warn!("sync failed: {e:#}; retry {attempt}/5 in {attempt}s");
                std::thread::sleep(std::time::Duration::from_secs(attempt));
            }
            Err(e) => return Err(e),
        }
    };
    if indexer.tweaks_pending() {
        indexer.build_tweaks(stop)?;
    }
    let store = indexer.store();
    let tip = store.tip();
    let txs = tip.tx_count().max(1);
    let rate = |n: u64| n as f64 / stats.seconds.max(1e-9);
    println!(
        "synced to height {} in {:.1}s: {} blocks ({:.0}/s), {} txs ({:.0} tx/s)",
        tip.height().map_or(-1, |h| h.0 as i64),
        stats.seconds,
        stats.blocks,
        rate(stats.blocks),
        stats.txs,
        rate(stats.txs),
    );
    print_sizes(store, txs, "index");
    if store.sp_state().is_some() {
        print_sp_sizes(store)?;
    }
    if stats.txs >= crate::sync::COMPACT_AFTER_TXS {
        // Like electrs' --sync-once, exit without compacting: `ferrum` compacts in the
        // background when it next serves, or `ferrum compact` does it now.
        store.mark_compaction_pending()?;
        println!("a full compaction is pending (`ferrum compact`, or `ferrum` in the background)");
    }
    if stop.load(Ordering::Relaxed) {
        println!("interrupted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::DaemonError;

    #[test]
    fn a_missing_node_is_told_apart_from_other_failures() {
        let refused = DaemonError::Connect {
            endpoint: "127.0.0.1:8332".into(),
            reason: "connection refused".into(),
        };
        let no_cookie = DaemonError::Cookie {
            path: "/home/u/.bitcoin/.cookie".into(),
            reason: "No such file or directory".into(),
        };
        let bad_auth = DaemonError::Auth {
            endpoint: "127.0.0.1:8332".into(),
        };
        assert!(no_node(&anyhow::Error::new(refused)));
        assert!(no_node(
            &anyhow::Error::new(no_cookie).context("connecting to bitcoind")
        ));
        // The node answered: `ferrum demo` is no answer to a wrong password.
        assert!(!no_node(&anyhow::Error::new(bad_auth)));
        assert!(!no_node(&anyhow::anyhow!("disk full")));
        assert!(wants_a_node(&Command::Serve) && wants_a_node(&Command::Sync));
        assert!(!wants_a_node(&Command::Compact));
    }
}
