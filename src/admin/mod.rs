//! Administration: the admin RPC service (the `rpc://` entry of `SERVICES`, ElectrumX's
//! `LocalRPC`) and the `ferrum rpc` command that talks to it.
//!
//! The service speaks newline-framed JSON-RPC 2.0 on loopback (a non-loopback address needs
//! `--admin-allow-remote`), with ElectrumX's command set and result shapes: `getinfo`,
//! `sessions`, `groups`, `peers`, `add_peer`, `disconnect`, `log`, `daemon_url`, `query`,
//! `reorg`, `stop` and `inspect_session`. It listens before the daemon is even reached, so an
//! operator can watch (and stop) the initial sync; commands that need live sessions or the
//! indexer answer as if there were none until they exist.
//!
//! Files: `listener` (the service), `commands` (what each command does), `client`
//! (`ferrum rpc`), `text` (the tables `electrumx_rpc` prints), `summary` (`LOG_SESSIONS`: the
//! session table, logged periodically).

pub mod client;
mod commands;
mod listener;
mod summary;
pub mod text;

pub use client::{RpcArgs, RpcCommand, run as run_client};
pub use listener::{check_addresses, listen};
pub use summary::log_sessions;

use crate::config::Config;
use crate::electrum::Shared;
use crate::peers::manager::PeerManager;
use crate::store::Store;
use crate::sync::Indexer;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Where the server is in its life, for `getinfo` and `reorg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Connecting to bitcoind.
    Connecting = 0,
    /// Catching up with bitcoind and loading the mempool; client listeners are closed.
    Syncing = 1,
    /// Caught up; serving clients.
    Serving = 2,
    /// Shutting down.
    Stopping = 3,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connecting => "connecting to the daemon",
            Phase::Syncing => "syncing",
            Phase::Serving => "serving",
            Phase::Stopping => "stopping",
        }
    }
}

/// What the admin commands act on. Created when the index is open; the daemon, the indexer
/// and the sessions join once the daemon is connected ([`Admin::set_running`]).
pub struct Admin {
    pub config: Config,
    pub store: Arc<Store>,
    /// Set to stop the server (shared with the signal handlers).
    pub stop: Arc<AtomicBool>,
    started: Instant,
    phase: AtomicU8,
    running: OnceLock<(Arc<Shared>, Arc<Indexer>)>,
    /// Peer discovery's table, from start-up (its task starts once we serve).
    peers: Arc<PeerManager>,
}

impl Admin {
    pub fn new(
        config: Config,
        store: Arc<Store>,
        stop: Arc<AtomicBool>,
        peers: Arc<PeerManager>,
    ) -> Self {
        Admin {
            config,
            store,
            stop,
            started: Instant::now(),
            phase: AtomicU8::new(Phase::Connecting as u8),
            running: OnceLock::new(),
            peers,
        }
    }

    /// The peer manager (its table; its network task runs once we serve).
    pub fn peer_manager(&self) -> &Arc<PeerManager> {
        &self.peers
    }

    /// The daemon is connected: sessions and the indexer exist from now on.
    pub fn set_running(&self, shared: Arc<Shared>, indexer: Arc<Indexer>) {
        let _ = self.running.set((shared, indexer));
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Connecting,
            1 => Phase::Syncing,
            2 => Phase::Serving,
            _ => Phase::Stopping,
        }
    }

    /// The sessions' shared state, once the daemon is connected.
    pub fn shared(&self) -> Option<&Arc<Shared>> {
        self.running.get().map(|(s, _)| s)
    }

    fn indexer(&self) -> Option<&Arc<Indexer>> {
        self.running.get().map(|(_, i)| i)
    }
}

/// A command's failure, as a JSON-RPC error.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminError {
    pub code: i64,
    pub message: String,
}

/// ElectrumX's `BAD_REQUEST`.
pub const BAD_REQUEST: i64 = 1;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_ARGS: i64 = -32602;

impl AdminError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        AdminError {
            code: BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn invalid_args(message: impl Into<String>) -> Self {
        AdminError {
            code: INVALID_ARGS,
            message: message.into(),
        }
    }
}

/// Parameters by position or by name (`electrumx_rpc` sends them by name).
pub(crate) struct Args<'a> {
    params: &'a Value,
}

impl<'a> Args<'a> {
    pub(crate) fn new(params: &'a Value) -> Self {
        Args { params }
    }

    /// The parameter at `index` or named `name`, if given (null counts as absent).
    pub(crate) fn get(&self, index: usize, name: &str) -> Option<&'a Value> {
        let v = match self.params {
            Value::Array(a) => a.get(index),
            Value::Object(m) => m.get(name),
            _ => None,
        };
        v.filter(|v| !v.is_null())
    }
}
