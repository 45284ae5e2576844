//! The live sessions: who is connected over which transport, what each has asked, and a handle
//! to close it. The admin RPC lists and disconnects sessions through it, resource controls
//! count sessions per address, and metrics read its counters.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// One session's public facts and counters.
pub struct SessionInfo {
    pub id: u64,
    pub peer: SocketAddr,
    /// `tcp`, `ssl`, `ws`, `wss`.
    pub transport: &'static str,
    pub started: Instant,
    /// Client name and negotiated protocol version, once `server.version` came.
    pub client: Mutex<Option<(String, String)>>,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Requests read but not answered yet (ElectrumX's `unanswered_request_count`).
    pub pending: AtomicU64,
    pub subscriptions: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Of `subscriptions`, how many are outpoints (the rest are scripts).
    pub outpoint_subscriptions: AtomicU64,
    /// Requests by method, for the admin RPC's `inspect_session`.
    pub method_counts: Mutex<BTreeMap<String, u64>>,
    /// Log this session's requests (the admin RPC's `log`).
    pub logged: AtomicBool,
    /// Wakes the session to close it.
    pub close: Notify,
}

impl SessionInfo {
    /// Asks the session to close (it finishes the request in progress first).
    pub fn disconnect(&self) {
        self.close.notify_one();
    }
}

/// All sessions, by id.
#[derive(Default)]
pub struct Registry {
    next: AtomicU64,
    /// Log new sessions' requests from the start (the admin RPC's `log new`).
    pub log_new: AtomicBool,
    sessions: Mutex<HashMap<u64, Arc<SessionInfo>>>,
}

/// Removes its session from the registry when dropped.
pub struct Registration {
    registry: Arc<Registry>,
    pub info: Arc<SessionInfo>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut m) = self.registry.sessions.lock() {
            m.remove(&self.info.id);
        }
    }
}

impl Registry {
    pub fn register(self: &Arc<Self>, peer: SocketAddr, transport: &'static str) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(SessionInfo {
            id,
            peer,
            transport,
            started: Instant::now(),
            client: Mutex::new(None),
            requests: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            subscriptions: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            outpoint_subscriptions: AtomicU64::new(0),
            method_counts: Mutex::new(BTreeMap::new()),
            logged: AtomicBool::new(self.log_new.load(Ordering::Relaxed)),
            close: Notify::new(),
        });
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(id, info.clone());
        }
        Registration {
            registry: self.clone(),
            info,
        }
    }

    /// Every session, oldest first.
    pub fn list(&self) -> Vec<Arc<SessionInfo>> {
        let mut v: Vec<_> = self
            .sessions
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|s| s.id);
        v
    }

    pub fn get(&self, id: u64) -> Option<Arc<SessionInfo>> {
        self.sessions.lock().ok()?.get(&id).cloned()
    }

    pub fn count(&self) -> usize {
        self.sessions.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn count_from(&self, ip: IpAddr) -> usize {
        self.sessions
            .lock()
            .map(|m| m.values().filter(|s| s.peer.ip() == ip).count())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_lasts_as_long_as_its_guard() {
        let r = Arc::new(Registry::default());
        let a = r.register("127.0.0.1:1".parse().unwrap(), "tcp");
        let b = r.register("127.0.0.2:1".parse().unwrap(), "tcp");
        assert_eq!(r.count(), 2);
        assert_eq!(r.count_from("127.0.0.1".parse().unwrap()), 1);
        assert_eq!(r.get(b.info.id).map(|s| s.id), Some(b.info.id));
        drop(a);
        assert_eq!(
            r.list().iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![b.info.id]
        );
    }
}
