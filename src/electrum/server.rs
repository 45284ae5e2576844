//! `ferrum` serving, in this order: the index is opened, the network runtime and the admin RPC
//! ([`crate::admin`]) start, the daemon is connected, the follow loop (index, then mempool,
//! then publish one [`Event`]) runs on its own thread, and the TCP listeners open once the
//! index has caught up and the mempool is loaded: tcp, ssl, ws and wss through
//! [`crate::transport::listen`].
//!
//! Stopping (SIGINT, SIGTERM or the admin RPC's `stop` set `stop`): listeners close, every
//! session finishes the request in progress and closes, the follow thread stops between
//! blocks, and the index is flushed; each step has a bounded wait.

use super::{Event, Settings, Shared, methods, session};
use crate::admin::{Admin, Phase};
use crate::config::{Config, ServiceProtocol};
use crate::mempool::Mempool;
use crate::peers::manager::{self, ManagerConfig, PeerManager};
use crate::peers::verify::{IndexChain, VerifyConfig};
use crate::peers::{Features, Host, Peer, client};
use crate::query::Query;
use crate::transport::tls::TlsCerts;
use crate::transport::{Channel, listen};
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The peer manager ([`crate::peers::manager`]) with our `REPORT_SERVICES` identities and
/// the saved peers, made at start-up (the admin RPC shows and adds peers from then on); its
/// task starts once we serve ([`start_peers`]).
fn peer_manager(config: &Config) -> Arc<PeerManager> {
    let coin = config.coin;
    let features = super::handlers::features_of(&config.report_services, coin, true);
    let mut myselves: Vec<Peer> = Vec::new();
    for s in &config.report_services {
        let Ok(host) = Host::parse(&s.host) else {
            continue;
        };
        if myselves.iter().any(|p| p.host == host) {
            continue;
        }
        if let Ok(f) = Features::from_server_features(&features, &host) {
            myselves.push(Peer::new(host, f));
        }
    }
    // ElectrumX's `_should_drop_peer`: connect from the address we listen on, so that
    // peers see the address they can reach us at.
    let local_addr = config
        .services
        .iter()
        .filter(|s| s.protocol != ServiceProtocol::Rpc)
        .find_map(|s| s.host.parse::<IpAddr>().ok())
        .filter(|ip| !ip.is_unspecified());
    let verify = VerifyConfig {
        client_name: super::handlers::SERVER_VERSION.into(),
        protocol: (
            methods::version_string(methods::PROTOCOL_MIN),
            methods::version_string(methods::PROTOCOL_MAX),
        ),
        default_ports: coin.default_electrum_ports(),
        announce: config.peers.announce,
        allow_private: config.peers.allow_private,
        me: None, // the manager takes the first clearnet one of `myselves`
        force_proxy: config.peers.force_proxy,
        local_addr,
        request_timeout: client::REQUEST_TIMEOUT,
        request_timeout_tor: client::REQUEST_TIMEOUT_TOR,
    };
    let manager_config = ManagerConfig {
        settings: config.peers.clone(),
        db_dir: config.db_dir.clone(),
        coin: coin.name().into(),
        net: coin.net().into(),
        seeds: coin.peers().iter().map(|s| s.to_string()).collect(),
        myselves,
        verify,
        concurrency: manager::CONCURRENCY,
        verify_timeout: manager::VERIFY_TIMEOUT,
    };
    PeerManager::new(manager_config)
}

/// Starts peer discovery over our index; with `PEER_DISCOVERY` off or `self` nothing is
/// contacted. Sessions see the manager from now on ([`Shared::peers`]).
fn start_peers(config: &Config, shared: &Shared, manager: &Arc<PeerManager>) {
    let local = Arc::new(IndexChain {
        query: shared.query.clone(),
        genesis_hash: config.coin.genesis_hash().to_string(),
        features: super::handlers::features(shared, true),
    });
    // The task ends with the runtime; the table is saved whenever no verification runs, and
    // at least once a minute while some do.
    let _task = manager.start(local);
    let _ = shared.peers.set(manager.clone());
}

/// How long a stop waits for sessions to close.
const SESSION_GRACE: Duration = Duration::from_secs(5);

/// Serves until `stop` is set.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<()> {
    let rpc: Vec<_> = config
        .services
        .iter()
        .filter(|s| s.protocol == ServiceProtocol::Rpc)
        .cloned()
        .collect();
    crate::admin::check_addresses(&rpc, config.admin_allow_remote)?;
    // Before syncing, so that a missing or bad certificate fails at once.
    let tls = TlsCerts::for_services(
        &config.services,
        config.ssl_certfile.as_deref(),
        config.ssl_keyfile.as_deref(),
    )?;
    let store = crate::app::open_store(config)?;
    let peers = peer_manager(config);
    let admin = Arc::new(Admin::new(
        config.clone(),
        store.clone(),
        stop.clone(),
        peers.clone(),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferrum-net")
        .build()
        .context("cannot start the network runtime")?;
    let admin_tasks = rt.block_on(crate::admin::listen(&rpc, admin.clone()))?;
    // Served from now on: /health answers 503 while connecting and syncing.
    if let Some(address) = &config.metrics {
        let l = rt
            .block_on(crate::metrics::http::bind(address))
            .with_context(|| format!("--metrics: cannot listen on {address}"))?;
        if let Ok(a) = l.local_addr() {
            tracing::info!("metrics on http://{a}/metrics, health on http://{a}/health");
        }
        rt.spawn(crate::metrics::http::serve(l, admin.clone()));
    }

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
    let mempool = Mempool::new().keeping_raw_in(&config.db_dir, crate::mempool::RAW_COMPACT_MIN);
    let mempool = Arc::new(if config.silent_payments.enabled {
        mempool.with_tweaks()
    } else {
        mempool
    });
    let shared = Arc::new(Shared::new(
        config.coin,
        Query::new(store.clone()),
        mempool.clone(),
        daemon.clone(),
        Settings::from_config(config),
    ));
    admin.set_running(shared.clone(), indexer.clone());
    admin.set_phase(Phase::Syncing);

    rt.spawn(crate::admin::log_sessions(
        shared.clone(),
        config.log_sessions,
    ));

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
        let mut listeners = None;
        let mut result = anyhow::Ok(());
        if ready {
            shared.limits.start();
            match listen::start(
                &config.services,
                tls,
                shared.settings.max_recv,
                Arc::new(SpawnSessions(shared.clone())),
            )
            .await
            {
                Ok(l) => {
                    listeners = Some(l);
                    admin.set_phase(Phase::Serving);
                    start_peers(config, &shared, &peers);
                    while !stop.load(Ordering::Relaxed) && !follower.is_finished() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        admin.set_phase(Phase::Stopping);
        tracing::info!("stopping: closing listeners and sessions");
        // Stop accepting, then close every session (each finishes the request in progress).
        if let Some(l) = listeners {
            l.stop();
        }
        for t in admin_tasks {
            t.abort();
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
    // The peer table as it is now (its task saves at most once a minute while it verifies).
    peers.save_now();
    // Make every commit durable now rather than leaving it to RocksDB's WAL replay.
    if let Err(e) = store.persist() {
        tracing::error!("flushing the index failed: {e:#}");
    }
    served.and(followed)
}

/// How long a stop waits for the follow thread.
const FOLLOW_GRACE: Duration = Duration::from_secs(10);

/// Listeners hand each connection to a new session task.
struct SpawnSessions(Arc<Shared>);

impl listen::Sessions for SpawnSessions {
    fn admit(&self, peer: SocketAddr, _transport: &'static str) -> bool {
        self.0.limits.admits(peer)
    }

    fn paused(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        Some(self.0.limits.paused())
    }

    fn proxies(&self) -> &[crate::limits::Cidr] {
        &self.0.settings.proxy_from
    }

    fn serve(&self, channel: Channel, peer: SocketAddr, transport: &'static str) {
        tokio::spawn(session::run(self.0.clone(), channel, peer, transport));
    }
}

/// Rounds in a row a mempool update may be deferred because the daemon is a block ahead of the
/// index; then it is applied regardless, so a daemon mining faster than a round never starves
/// the mempool and notifications.
const MAX_DEFERRALS: u32 = 5;

/// Most txs [`confirmed_txids`] reads; beyond (a catch-up after downtime) a full mempool
/// update is cheaper than removing them one by one.
const MAX_CONFIRMED_FAST: u64 = 100_000;

/// The txids of the blocks `tip` added on top of `last`, when it only extends it (no reorg)
/// by at most [`MAX_CONFIRMED_FAST`] txs; `None` otherwise (or if the index cannot say).
fn confirmed_txids(
    indexer: &crate::sync::Indexer,
    last: &crate::store::TipState,
    tip: &crate::store::TipState,
) -> Option<Vec<bitcoin::Txid>> {
    use bitcoin::hashes::Hash;
    let (last_height, last_hash) = (last.height()?, last.tip_hash()?);
    if tip.hash(last_height) != Some(last_hash) || tip.height()? == last_height {
        return None;
    }
    let (from, to) = (last.tx_count(), tip.tx_count());
    if to <= from || to - from > MAX_CONFIRMED_FAST {
        return None;
    }
    let nums: Vec<crate::types::TxNum> = (from..to).map(crate::types::TxNum).collect();
    match indexer.store().txids_at(&nums, None) {
        Ok(txids) => Some(
            txids
                .into_iter()
                .map(bitcoin::Txid::from_byte_array)
                .collect(),
        ),
        Err(e) => {
            tracing::warn!("reading the new blocks' txids: {e:#}; full mempool update instead");
            None
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
    let mut deferrals = 0u32;
    indexer.follow(stop, tick, |_| {
        let tip = indexer.store().tip();
        // The mempool first: if the daemon already has a newer block, this round publishes
        // nothing (its changes stay collected for the next one), so no client sees the new
        // block's payments neither confirmed nor in the mempool, or both.
        let check = (deferrals < MAX_DEFERRALS)
            .then(|| tip.tip_hash())
            .flatten();
        // Blocks that extend the tip: their txs leave the mempool by txid, and the tip is
        // published now; the next round's full update (listing the daemon's mempool, seconds
        // when it is large) catches up with conflicts and arrivals.
        let confirmed = if first {
            None
        } else {
            confirmed_txids(indexer, &last, &tip)
        };
        let update = match confirmed {
            Some(txids) => Ok(Some(shared.mempool.remove_confirmed(&txids))),
            None => shared.mempool.update(&shared.daemon, check.as_ref()),
        };
        let touched = match update {
            Ok(Some(t)) => t,
            // The follow loop indexes the daemon's new block at once (its best differs from
            // the tip), then comes back here.
            Ok(None) => {
                deferrals += 1;
                return;
            }
            Err(e) => {
                tracing::warn!("mempool update failed: {e:#}");
                Default::default()
            }
        };
        deferrals = 0;
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
        // Before publishing: drop cached histories the new blocks changed.
        if tip.tip_hash() != last.tip_hash() || first {
            let all = first || changes.incomplete || !changes.removed.is_empty();
            shared
                .history_cache
                .advance(tip.tip_hash(), all, changes.scripts());
        }
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
        crate::metrics::follow_round(shared, tip.height().map(|h| h.0));
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
        shared.mempool.maintain();
    })
}
