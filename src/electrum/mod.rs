//! The Electrum protocol (1.4 to 1.7): what every method answers, sessions with their
//! subscriptions and notifications, and the TCP service. It reads the index through
//! [`crate::query`], the mempool through [`crate::mempool`] and asks bitcoind only for what it
//! alone knows (raw transactions, broadcasts, fee estimates).
//!
//! Consistency: the follow loop ([`server`]) commits blocks, then updates the mempool, then
//! *publishes* the new tip and sends one [`Event`]. A request reads the mempool and the index
//! only when both belong to the published tip ([`Shared::consistent`]), so no reply or
//! notification mixes two tips.

pub mod cache;
pub mod extensions;
pub mod handlers;
pub mod merkle;
pub mod methods;
pub mod registry;
pub mod rpc;
pub mod scripts;
pub mod server;
pub mod session;
pub mod sp_scan;
pub mod tweaks;

use crate::chain::Coin;
use crate::config::{Config, Service};
use crate::daemon::Daemon;
use crate::mempool::{Mempool, MempoolView};
use crate::query::{Query, View};
use crate::types::ScriptKey;
use bitcoin::{BlockHash, Txid};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Server settings the protocol needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_send: usize,
    pub max_recv: usize,
    pub banner_file: Option<PathBuf>,
    pub donation_address: String,
    pub report_services: Vec<Service>,
    /// Bytes the confirmed-history cache may hold.
    pub history_cache_bytes: usize,
    pub limits: crate::limits::Settings,
    /// Serve `daemon.passthrough`.
    pub daemon_passthrough: bool,
    /// `FERRUM_PROXY_FROM`: load balancers sending PROXY protocol headers.
    pub proxy_from: Vec<crate::limits::Cidr>,
    /// Silent payments, when the server keeps tweaks (`FERRUM_SILENT_PAYMENTS`).
    pub silent: Option<crate::config::SilentSettings>,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        Settings {
            max_send: c.max_send,
            max_recv: c.max_recv,
            banner_file: c.banner_file.clone(),
            donation_address: c.donation_address.clone(),
            report_services: c.report_services.clone(),
            // A tenth of CACHE_MB: the rest is RocksDB's block cache and sync batches.
            history_cache_bytes: c.cache_mb * 1024 * 1024 / 10,
            limits: c.limits.clone(),
            daemon_passthrough: c.daemon_passthrough,
            proxy_from: c.fleet.proxy_from.clone(),
            silent: c.silent_payments.enabled.then(|| c.silent_payments.clone()),
        }
    }

    /// ElectrumX's history limit: entries that fit in MAX_SEND at about 99 bytes each.
    pub fn history_limit(&self) -> usize {
        (self.max_send.saturating_sub(100) / 99).max(1)
    }
}

/// What one publication changed, for the sessions to notify.
#[derive(Debug, Default)]
pub struct Event {
    /// The tip hash changed (a new block, or a reorg even to the same height).
    pub tip_changed: bool,
    /// Scripts whose history or mempool entries changed.
    pub scripts: HashSet<ScriptKey>,
    /// Every script may have changed (a change the undo records do not describe).
    pub all_scripts: bool,
    /// Outpoints spent or created by mempool changes.
    pub outpoints: HashSet<(Txid, u32)>,
    /// Transactions added to or removed from the mempool.
    pub txids: HashSet<Txid>,
}

/// An estimatefee question: block target bucket and mode.
pub type FeeKey = (u64, Option<String>);

/// State shared by all sessions.
pub struct Shared {
    pub coin: &'static dyn Coin,
    pub query: Query,
    pub mempool: Arc<Mempool>,
    pub daemon: Arc<Daemon>,
    pub settings: Settings,
    pub header_merkle: merkle::HeaderMerkle,
    pub history_cache: cache::HistoryCache,
    /// estimatefee results per (block target, mode), valid for one tip.
    pub fee_cache: Mutex<HashMap<FeeKey, (BlockHash, serde_json::Value)>>,
    /// getnetworkinfo, refreshed at most once a minute (relayfee, banner).
    pub network_info: Mutex<Option<(Instant, serde_json::Value)>>,
    /// Output counts of confirmed transactions asked about by outpoint methods.
    pub output_counts: Mutex<HashMap<Txid, u32>>,
    published: Mutex<Option<BlockHash>>,
    published_cv: Condvar,
    pub events: tokio::sync::broadcast::Sender<Arc<Event>>,
    /// Live sessions.
    pub sessions: Arc<registry::Registry>,
    /// Set to true once to close every session (server stop).
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Resource controls: session costs and groups, MAX_SESSIONS, per-IP cap.
    pub limits: Arc<crate::limits::Limits>,
    /// Peer discovery, set once the listeners are up: what `server.peers.subscribe` lists and
    /// where `server.add_peer` goes (before: no peers, and add_peer refused).
    pub peers: OnceLock<Arc<crate::peers::manager::PeerManager>>,
    /// The threads that run server-side silent payments scans (when tweaks are kept).
    pub sp_pool: Option<Arc<sp_scan::ScanPool>>,
}

/// One consistent read: the mempool part was taken at the same published tip as the view.
pub struct Consistent<'a, T> {
    pub view: View<'a>,
    pub mempool: T,
}

impl Shared {
    pub fn new(
        coin: &'static dyn Coin,
        query: Query,
        mempool: Arc<Mempool>,
        daemon: Arc<Daemon>,
        settings: Settings,
    ) -> Self {
        let (events, _) = tokio::sync::broadcast::channel(256);
        let history_cache = cache::HistoryCache::new(settings.history_cache_bytes);
        let limits = Arc::new(crate::limits::Limits::new(settings.limits.clone()));
        let sp_pool = settings
            .silent
            .as_ref()
            .map(|s| Arc::new(sp_scan::ScanPool::new(s.scan_threads)));
        Shared {
            coin,
            query,
            mempool,
            daemon,
            settings,
            header_merkle: Default::default(),
            history_cache,
            fee_cache: Mutex::new(HashMap::new()),
            network_info: Mutex::new(None),
            output_counts: Mutex::new(HashMap::new()),
            published: Mutex::new(None),
            published_cv: Condvar::new(),
            events,
            sessions: Default::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
            limits,
            peers: OnceLock::new(),
            sp_pool,
        }
    }

    /// Declares the index tip and mempool now in place a consistent state (the follow loop
    /// calls it after the mempool update that follows a block).
    pub fn publish(&self, tip: Option<BlockHash>) {
        if let Ok(mut p) = self.published.lock() {
            *p = tip;
        }
        self.published_cv.notify_all();
    }

    pub fn published(&self) -> Option<BlockHash> {
        self.published.lock().ok().and_then(|p| *p)
    }

    /// One attempt at [`Shared::consistent`], without waiting: for answers on the async
    /// runtime, which must not block.
    pub fn try_consistent<T>(
        &self,
        f: impl Fn(&MempoolView<'_>) -> T,
    ) -> Option<Consistent<'_, T>> {
        let before = self.published();
        let part = f(&self.mempool.try_read()?);
        let view = self.query.view();
        let after = self.published();
        (before == after && view.tip().tip_hash() == after).then_some(Consistent {
            view,
            mempool: part,
        })
    }

    /// Reads the mempool with `f`, then takes an index view, and retries until both belong to
    /// the published tip. The follow loop commits the index, then updates the mempool, then
    /// publishes; reading in the opposite order and checking the publication before and after
    /// means the two parts are of one tip. If the mempool lags for long (a slow daemon), the
    /// mempool part is still used after a few seconds: callers drop mempool entries that the
    /// view shows confirmed.
    pub fn consistent<T>(&self, f: impl Fn(&MempoolView<'_>) -> T) -> Consistent<'_, T> {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let before = self.published();
            let part = f(&self.mempool.read());
            let view = self.query.view();
            let after = self.published();
            if before == after && view.tip().tip_hash() == after || Instant::now() >= deadline {
                return Consistent {
                    view,
                    mempool: part,
                };
            }
            drop(view);
            if let Ok(p) = self.published.lock() {
                let _ = self.published_cv.wait_timeout(p, Duration::from_millis(50));
            }
        }
    }
}
