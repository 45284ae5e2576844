//! `ferrum` serving, in this order: the index is opened, the network runtime and the admin RPC
//! ([`crate::admin`]) start, the daemon is connected, the follow loop (index, then mempool,
//! then publish one [`Event`]) runs on its own thread, and the TCP listeners open once the
//! index has caught up and the mempool is loaded. Other transports (ssl, ws, wss) are refused
//! until they exist.
//!
//! Stopping (SIGINT, SIGTERM or the admin RPC's `stop` set `stop`): listeners close, every
//! session finishes the request in progress and closes, the follow thread stops between
//! blocks, and the index is flushed; each step has a bounded wait.

use super::{Event, Settings, Shared, session};
use crate::admin::{Admin, Phase};
use crate::config::{Config, ServiceProtocol};
use crate::mempool::Mempool;
use crate::query::Query;
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a stop waits for sessions to close.
const SESSION_GRACE: Duration = Duration::from_secs(5);

/// Serves until `stop` is set.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<()> {
    let mut tcp = Vec::new();
    let mut rpc = Vec::new();
    for s in &config.services {
        match s.protocol {
            ServiceProtocol::Tcp => tcp.push(s.clone()),
            ServiceProtocol::Rpc => rpc.push(s.clone()),
            _ => bail!(
                "SERVICES: {s}: only tcp:// and rpc:// services are supported so far (ssl, ws \
                 and wss come in a later version); remove it from SERVICES"
            ),
        }
    }
    crate::admin::check_addresses(&rpc, config.admin_allow_remote)?;
    let store = crate::app::open_store(config)?;
    let admin = Arc::new(Admin::new(config.clone(), store.clone(), stop.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferrum-net")
        .build()
        .context("cannot start the network runtime")?;
    let admin_tasks = rt.block_on(crate::admin::listen(&rpc, admin.clone()))?;

    // Connect on a helper thread, so that a stop is heard while bitcoind warms up.
    let connecting = {
        let (config, store) = (config.clone(), store.clone());
        std::thread::Builder::new()
            .name("connect".into())
            .spawn(move || crate::app::connect_indexer(&config, store))
            .context("cannot start the connect thread")?
    };
    while !connecting.is_finished() {
        if stop.load(Ordering::Relaxed) {
            tracing::info!("stopped while connecting to the daemon");
            rt.shutdown_timeout(Duration::from_secs(1));
            return store.persist();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let indexer = match connecting.join() {
        Ok(r) => Arc::new(r?),
        Err(_) => bail!("the connect thread panicked"),
    };
    let daemon = indexer.daemon().clone();
    let mempool = Arc::new(Mempool::new());
    let shared = Arc::new(Shared::new(
        config.coin,
        Query::new(store.clone()),
        mempool.clone(),
        daemon.clone(),
        Settings::from_config(config),
    ));
    admin.set_running(shared.clone(), indexer.clone());
    admin.set_phase(Phase::Syncing);

    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let follower = {
        let (shared, stop, tick) = (shared.clone(), stop.clone(), config.poll_interval_mempool);
        let indexer = indexer.clone();
        std::thread::Builder::new()
            .name("follow".into())
            .spawn(move || follow(&indexer, &shared, &stop, tick, ready_tx))
            .context("cannot start the follow thread")?
    };

    let served = rt.block_on(async {
        // Listen only once the index has caught up and the mempool is loaded.
        let mut ready = false;
        while !stop.load(Ordering::Relaxed) && !follower.is_finished() {
            if ready_rx.try_recv().is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut listeners = Vec::new();
        let mut result = anyhow::Ok(());
        if ready {
            for s in &tcp {
                let addr = s.bind_address();
                match tokio::net::TcpListener::bind(&addr).await {
                    Ok(l) => {
                        tracing::info!("listening on {s}");
                        listeners.push(tokio::spawn(accept_loop(l, shared.clone())));
                    }
                    Err(e) => {
                        result = Err(e).with_context(|| format!("cannot listen on {s} ({addr})"));
                        break;
                    }
                }
            }
            if result.is_ok() {
                admin.set_phase(Phase::Serving);
                while !stop.load(Ordering::Relaxed) && !follower.is_finished() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        admin.set_phase(Phase::Stopping);
        tracing::info!("stopping: closing listeners and sessions");
        // Stop accepting, then close every session (each finishes the request in progress).
        for l in listeners.into_iter().chain(admin_tasks) {
            l.abort();
        }
        shared.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + SESSION_GRACE;
        while shared.sessions.count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        result
    });
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(2));
    // The follow thread stops between blocks; it may be inside a daemon call that retries for
    // a while (bitcoind gone). Every commit is atomic, so after a grace period exit without it.
    let deadline = std::time::Instant::now() + FOLLOW_GRACE;
    while !follower.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let followed = if follower.is_finished() {
        match follower.join() {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("the follow thread panicked")),
        }
    } else {
        tracing::warn!(
            "the indexer is still waiting for bitcoind; exiting without it (the index is \
             consistent at its last commit)"
        );
        Ok(())
    };
    // Make every commit durable now rather than leaving it to RocksDB's WAL replay.
    if let Err(e) = store.persist() {
        tracing::error!("flushing the index failed: {e:#}");
    }
    served.and(followed)
}

/// How long a stop waits for the follow thread.
const FOLLOW_GRACE: Duration = Duration::from_secs(10);

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let (r, w) = stream.into_split();
                let channel = crate::transport::newline_channel(r, w, shared.settings.max_recv);
                tokio::spawn(session::run(shared.clone(), channel, peer, "tcp"));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Indexes and follows the tip; after every round updates the mempool and publishes.
fn follow(
    indexer: &crate::sync::Indexer,
    shared: &Shared,
    stop: &AtomicBool,
    tick: Duration,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<()> {
    let mut last = indexer.store().tip();
    indexer.take_changes(&last)?; // starts collecting rolled-back blocks
    let mut first = true;
    indexer.follow(stop, tick, |_| {
        let tip = indexer.store().tip();
        let changes = match indexer.take_changes(&last) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("cannot read what the new blocks changed: {e:#}");
                crate::sync::TipChanges {
                    incomplete: true,
                    ..Default::default()
                }
            }
        };
        let touched = match shared.mempool.update(&shared.daemon) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("mempool update failed: {e:#}");
                Default::default()
            }
        };
        let tip_changed = tip.tip_hash() != last.tip_hash();
        let mut scripts: HashSet<_> = touched.scripts;
        scripts.extend(changes.scripts().copied());
        let ev = Event {
            tip_changed,
            all_scripts: tip_changed && changes.incomplete && !first,
            scripts,
            outpoints: touched.outpoints,
            txids: touched.txids,
        };
        shared.publish(tip.tip_hash());
        if tip_changed && let (Some(h), Some(hash)) = (tip.height(), tip.tip_hash()) {
            tracing::info!("tip {h} {hash} ({} txs)", tip.tx_count());
        }
        if first {
            first = false;
            let _ = ready.send(());
        } else if tip_changed
            || !ev.scripts.is_empty()
            || !ev.outpoints.is_empty()
            || !ev.txids.is_empty()
        {
            let _ = shared.events.send(Arc::new(ev));
        }
        last = tip;
    })
}
