//! `ferrum` serving: the follow loop (index, then mempool, then publish one [`Event`]) on its
//! own thread, and the TCP listeners, opened once the index has caught up and the mempool is
//! loaded. Other transports (ssl, ws, wss) and the admin RPC are refused until they exist.

use super::{Event, Settings, Shared, session};
use crate::config::{Config, ServiceProtocol};
use crate::mempool::Mempool;
use crate::query::Query;
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Serves until `stop` is set.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<()> {
    let mut tcp = Vec::new();
    for s in &config.services {
        match s.protocol {
            ServiceProtocol::Tcp => tcp.push(s.clone()),
            ServiceProtocol::Rpc => tracing::warn!(
                "{s}: the admin RPC service is not implemented yet; not listening there"
            ),
            _ => bail!(
                "SERVICES: {s}: only tcp:// services are supported so far (ssl, ws and wss come \
                 in a later version); remove it from SERVICES"
            ),
        }
    }
    let indexer = Arc::new(crate::app::open_indexer(config)?);
    let store = indexer.store().clone();
    let daemon = indexer.daemon().clone();
    let mempool = Arc::new(Mempool::new());
    let shared = Arc::new(Shared::new(
        config.coin,
        Query::new(store.clone()),
        mempool.clone(),
        daemon.clone(),
        Settings::from_config(config),
    ));

    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let follower = {
        let (shared, stop, tick) = (shared.clone(), stop.clone(), config.poll_interval_mempool);
        std::thread::Builder::new()
            .name("follow".into())
            .spawn(move || follow(&indexer, &shared, &stop, tick, ready_tx))
            .context("cannot start the follow thread")?
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferrum-net")
        .build()
        .context("cannot start the network runtime")?;
    // Listen only once the index has caught up and the mempool is loaded.
    while ready_rx.recv_timeout(Duration::from_millis(200)).is_err() {
        if stop.load(Ordering::Relaxed) || follower.is_finished() {
            return match follower.join() {
                Ok(r) => r,
                Err(_) => bail!("the follow thread panicked"),
            };
        }
    }
    rt.block_on(async {
        shared.limits.start();
        let mut listeners = Vec::new();
        for s in &tcp {
            let addr = s.bind_address();
            let l = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on {s} ({addr})"))?;
            tracing::info!("listening on {s}");
            listeners.push(tokio::spawn(accept_loop(l, shared.clone())));
        }
        while !stop.load(Ordering::Relaxed) && !follower.is_finished() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Stop accepting, then close every session (each finishes the request in progress).
        for l in listeners {
            l.abort();
        }
        shared.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while shared.sessions.count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::Ok(())
    })?;
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(2));
    // The follow thread stops between blocks; it may be inside a daemon call that retries for
    // a while (bitcoind gone). Every commit is atomic, so after a grace period exit without it.
    let deadline = std::time::Instant::now() + FOLLOW_GRACE;
    while !follower.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !follower.is_finished() {
        tracing::warn!(
            "the indexer is still waiting for bitcoind; exiting without it (the index is \
             consistent at its last commit)"
        );
        return Ok(());
    }
    match follower.join() {
        Ok(r) => r,
        Err(_) => bail!("the follow thread panicked"),
    }
}

/// How long a stop waits for the follow thread.
const FOLLOW_GRACE: Duration = Duration::from_secs(10);

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    // Closes while at MAX_SESSIONS.
    let mut listener = match crate::limits::Listener::new(listener, &shared.limits) {
        Ok(l) => l,
        Err(e) => return tracing::error!("cannot serve: {e}"),
    };
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
