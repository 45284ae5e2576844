//! The peer manager: the background task that owns the peer table and drives it over the
//! network, ElectrumX's `PeerManager` (`discover_peers`, `_monitor_peer`, `_detect_proxy`,
//! `_refresh_blacklist`, `on_add_peer`, `add_localRPC_peer`).
//!
//! At start it loads `peers.json` from the DB directory; its task then looks for the SOCKS
//! proxy (`TOR_PROXY_HOST`/`TOR_PROXY_PORT`, or ports 9050, 9150 and 1080, again every
//! [`PROXY_RETRY_SECS`] until found), adds the coin's seeds, reads the blacklist every
//! [`PeerSettings::blacklist_refresh`] seconds, and verifies every due peer, at most
//! [`ManagerConfig::concurrency`] at once and each within [`ManagerConfig::verify_timeout`], so a
//! hanging or lying peer delays no other. Outcomes go to the table and the table to disk.
//! A peer added by a client, the admin or another peer wakes the task at once.
//!
//! The table sits behind a `std::sync::Mutex` that is never held across an await. With
//! `PEER_DISCOVERY` off or `self` no task is started and nothing is contacted; the public
//! methods still answer (an empty list, or ourselves). Time is the wall clock in seconds
//! since the Unix epoch, as the table expects.

use super::blacklist::{Blacklist, MAX_BLACKLIST_BYTES};
use super::table::{Counts, LEARN_LIMIT, PeerEntry, PeerTable, Source};
use super::verify::{LocalChain, Outcome, VerifyConfig, verify_peer};
use super::{BlacklistSource, Discovery, Host, Peer, PeerSettings, TOR_PROXY_PORTS, persist};
use crate::limits::net::canonical;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// ElectrumX's `_detect_proxy` pause between two searches for the proxy.
pub const PROXY_RETRY_SECS: u64 = 900;
/// Verifications run at once by default.
pub const CONCURRENCY: usize = 8;
/// Longest verification by default (ElectrumX has none; a peer answering each request just
/// before its timeout would otherwise hold a slot for minutes).
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait for one proxy probe or one name resolution.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the blacklist.
const BLACKLIST_TIMEOUT: Duration = Duration::from_secs(60);
/// The task looks at the table at least this often.
const TICK: Duration = Duration::from_secs(30);
/// The table is saved at least this often while verifications run.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// What the manager is given.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// The peer discovery options.
    pub settings: PeerSettings,
    /// Where `peers.json` lives (the DB directory).
    pub db_dir: PathBuf,
    /// The coin's and network's names, stored in `peers.json`.
    pub coin: String,
    /// See `coin`.
    pub net: String,
    /// The coin's seed peers, in real-name form (`Coin::peers()`).
    pub seeds: Vec<String>,
    /// Our `REPORT_SERVICES` identities; the first clearnet one is what we register with
    /// peers (it replaces `verify.me`).
    pub myselves: Vec<Peer>,
    /// How peers are verified.
    pub verify: VerifyConfig,
    /// Verifications at once.
    pub concurrency: usize,
    /// Longest verification.
    pub verify_timeout: Duration,
}

/// The peer manager; see the module documentation.
pub struct PeerManager {
    config: ManagerConfig,
    /// Our chain, given at [`PeerManager::start`].
    local: OnceLock<Arc<dyn LocalChain>>,
    table: Mutex<PeerTable>,
    proxy: Mutex<Option<SocketAddr>>,
    wake: Notify,
}

impl std::fmt::Debug for PeerManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerManager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl PeerManager {
    /// A manager with the peers saved in the DB directory (with discovery on), made at
    /// start-up so that the admin sees and adds peers during the initial sync. Nothing is
    /// contacted until [`PeerManager::start`].
    pub fn new(mut config: ManagerConfig) -> Arc<PeerManager> {
        config.verify.me = config.myselves.iter().find(|p| !p.host.is_onion()).cloned();
        let s = &config.settings;
        let mut table = PeerTable::new(
            s.discovery,
            s.allow_private,
            config.verify.default_ports,
            config.myselves.clone(),
        );
        if s.discovery == Discovery::On {
            let saved = persist::load(&config.db_dir, &config.coin, &config.net);
            let n = saved.len();
            table.restore(saved);
            tracing::info!("peers: {} of {n} saved peers restored", table.len());
        }
        Arc::new(PeerManager {
            config,
            local: OnceLock::new(),
            table: Mutex::new(table),
            proxy: Mutex::new(None),
            wake: Notify::new(),
        })
    }

    fn table(&self) -> MutexGuard<'_, PeerTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn proxy(&self) -> Option<SocketAddr> {
        *self.proxy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the discovery task over our chain (`local`, once the index has caught up);
    /// with discovery off or `self`, starts nothing.
    pub fn start(
        self: &Arc<Self>,
        local: Arc<dyn LocalChain>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let _ = self.local.set(local);
        let d = self.config.settings.discovery;
        if d != Discovery::On {
            tracing::info!("peer discovery is {d:?}: no peer is contacted");
            return None;
        }
        Some(tokio::spawn(self.clone().run()))
    }

    /// Whether a client at `ip` came over Tor: it connects from the SOCKS proxy's address
    /// (ElectrumX's `ElectrumX.is_tor`).
    pub fn is_tor_client(&self, ip: IpAddr) -> bool {
        self.proxy()
            .is_some_and(|p| canonical(p.ip()) == canonical(ip))
    }

    /// The `server.peers.subscribe` reply for a client (`is_tor`: it came over Tor).
    pub fn subscribe_list(&self, is_tor: bool) -> Value {
        let mut rng = rand::thread_rng();
        Value::Array(self.table().subscribe_list(unix_now(), is_tor, &mut rng))
    }

    /// A client's `server.add_peer` from `source`: whether it was accepted. A named host must
    /// resolve to `source` (ElectrumX's `on_add_peer`).
    pub async fn add_peer_from_client(&self, features: &Value, source: IpAddr) -> bool {
        use super::table::AddPeerCheck;
        let check = {
            let mut rng = rand::thread_rng();
            self.table()
                .on_add_peer(features, source, unix_now(), &mut rng)
        };
        let peer = match check {
            AddPeerCheck::Refused(why) => {
                tracing::info!("rejected add_peer request from {source} ({why})");
                return false;
            }
            AddPeerCheck::Accepted(new) => {
                tracing::info!("accepted add_peer request from {source}: {new:?}");
                self.wake.notify_one();
                return true;
            }
            AddPeerCheck::Resolve(peer) => peer,
        };
        let host = peer.host.clone();
        let resolved = timeout(PROBE_TIMEOUT, tokio::net::lookup_host((host.as_str(), 80))).await;
        let why = match resolved {
            Ok(Ok(mut addrs)) => {
                if addrs.any(|a| canonical(a.ip()) == canonical(source)) {
                    let mut rng = rand::thread_rng();
                    let new = self.table().note_peers(
                        vec![peer],
                        Source::AddPeer(source),
                        None,
                        &mut rng,
                    );
                    tracing::info!("accepted add_peer request from {source} for {host}");
                    if !new.is_empty() {
                        self.wake.notify_one();
                    }
                    return true;
                }
                "source-destination mismatch".to_string()
            }
            Ok(Err(e)) => format!("address resolution failure: {e}"),
            Err(_) => "address resolution timed out".to_string(),
        };
        tracing::warn!("rejected add_peer request from {source} for {host} ({why})");
        false
    }

    /// The admin's `add_peer "host s50002 t50001"`: the peer is added, or re-checked at once
    /// if known. `Ok(false)` when it may not be a peer (blacklisted, private, ourselves, an
    /// onion without a proxy).
    pub fn add_peer_from_admin(&self, real_name: &str) -> Result<bool, String> {
        let peer = Peer::from_real_name(real_name, self.config.verify.default_ports)
            .map_err(|e| e.to_string())?;
        let host = peer.host.clone();
        let mut rng = rand::thread_rng();
        let taken = {
            let mut t = self.table();
            // A known peer that has since become unacceptable (blacklisted) is not "added".
            let acceptable = t.acceptable(&peer);
            t.note_peers(vec![peer], Source::Admin, None, &mut rng);
            acceptable && t.get(&host).is_some()
        };
        if taken {
            self.wake.notify_one();
        }
        Ok(taken)
    }

    /// `PEER_DISCOVERY`.
    pub fn discovery(&self) -> Discovery {
        self.config.settings.discovery
    }

    /// Peers by status.
    pub fn counts(&self) -> Counts {
        self.table().counts(unix_now())
    }

    /// The admin `peers` table, in ElectrumX's `rpc_data` layout (plus `height` and
    /// `bad_reason`), good peers first.
    pub fn rows(&self) -> Vec<Value> {
        let now = unix_now();
        let t = self.table();
        t.entries().into_iter().map(|e| row(e, now)).collect()
    }

    /// The discovery task.
    async fn run(self: Arc<Self>) {
        let s = &self.config.settings;
        tracing::info!(
            "peer discovery on: announce ourselves {}, force proxy {}, {} seeds",
            s.announce,
            s.force_proxy,
            self.config.seeds.len()
        );
        if let Some(source) = s.blacklist.clone() {
            tokio::spawn(self.clone().blacklist_loop(source));
        }
        if !self.detect_proxy().await {
            tokio::spawn(self.clone().proxy_loop());
        }
        self.import_seeds();
        let mut tasks: JoinSet<Outcome> = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, Host> = HashMap::new();
        let mut dirty = false;
        let mut saved_at = Instant::now();
        loop {
            let now = unix_now();
            let busy: HashSet<Host> = in_flight.values().cloned().collect();
            let due = self.table().due(now);
            for host in due.into_iter().filter(|h| !busy.contains(h)) {
                if in_flight.len() >= self.config.concurrency.max(1) {
                    break;
                }
                let Some(peer) = self.table().begin_try(&host, now).cloned() else {
                    continue;
                };
                dirty = true;
                let me = self.clone();
                let handle = tasks.spawn(async move { me.verify_one(&peer).await });
                in_flight.insert(handle.id(), host);
            }
            if dirty && (tasks.is_empty() || saved_at.elapsed() >= SAVE_EVERY) {
                self.save().await;
                dirty = false;
                saved_at = Instant::now();
            }
            tokio::select! {
                Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let (id, outcome) = match joined {
                        Ok((id, outcome)) => (id, outcome),
                        Err(e) => (e.id(), Outcome::Unreachable(format!("verifier failed: {e}"))),
                    };
                    if let Some(host) = in_flight.remove(&id) {
                        self.record(&host, outcome);
                        dirty = true;
                    }
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// Verifies one peer within the overall timeout.
    async fn verify_one(&self, peer: &Peer) -> Outcome {
        let host = peer.host.clone();
        let admit = |ip: Option<IpAddr>| self.table().admit(&host, ip, unix_now());
        let Some(local) = self.local.get() else {
            return Outcome::Skipped("peer discovery has not started".into());
        };
        let verifying = verify_peer(
            &self.config.verify,
            peer,
            self.proxy(),
            local.as_ref(),
            admit,
        );
        let limit = self.config.verify_timeout;
        timeout(limit, verifying).await.unwrap_or_else(|_| {
            Outcome::Unreachable(format!("verification not finished within {limit:?}"))
        })
    }

    /// Records a verification's outcome in the table.
    fn record(&self, host: &Host, outcome: Outcome) {
        let now = unix_now();
        let mut t = self.table();
        match outcome {
            Outcome::Good {
                features,
                height,
                learnt,
            } => {
                tracing::info!("peer {host} verified (height {height})");
                t.record_good(host, features, Some(height), now);
                let mut rng = rand::thread_rng();
                let source = Source::Peer(host.clone());
                let new = t.note_peers(learnt, source, Some(LEARN_LIMIT), &mut rng);
                for h in &new {
                    tracing::info!("accepted new peer {h} from {host}");
                }
            }
            Outcome::Bad(why) => {
                tracing::warn!("peer {host} marked bad: {why}");
                if t.record_failure(host, Some(why), now) {
                    tracing::info!("forgetting bad peer {host}");
                }
            }
            Outcome::Unreachable(why) => {
                tracing::info!("peer {host} unreachable: {why}");
                if t.record_failure(host, None, now) {
                    tracing::info!("forgetting unreachable peer {host}");
                }
            }
            Outcome::Skipped(why) => {
                tracing::debug!("peer {host} not tried: {why}");
                t.skipped(host);
            }
        }
    }

    /// Saves the table to `peers.json` now, on this thread (at shutdown: the task saves at most
    /// once a minute while verifications run). Nothing with discovery off or `self`.
    pub fn save_now(&self) {
        if self.config.settings.discovery != Discovery::On {
            return;
        }
        let entries: Vec<PeerEntry> = self.table().entries().into_iter().cloned().collect();
        let c = &self.config;
        if let Err(e) = persist::save(&c.db_dir, &c.coin, &c.net, &entries) {
            tracing::error!(
                "cannot save the peers to {}: {e}",
                persist::path(&c.db_dir).display()
            );
        }
    }

    /// [`PeerManager::save_now`] on a blocking thread.
    async fn save(self: &Arc<Self>) {
        let me = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || me.save_now()).await {
            tracing::error!("saving the peers failed: {e}");
        }
    }

    /// Adds the coin's seeds (again after a proxy is found: onion seeds need one).
    fn import_seeds(&self) {
        let seeds: Vec<&str> = self.config.seeds.iter().map(String::as_str).collect();
        let mut rng = rand::thread_rng();
        let new = self.table().import_seeds(&seeds, &mut rng);
        if !new.is_empty() {
            tracing::info!("peers: {} seeds added", new.len());
            self.wake.notify_one();
        }
    }

    /// ElectrumX's `_detect_proxy`, one round: the first port of the proxy host that answers
    /// a SOCKS5 greeting.
    async fn detect_proxy(&self) -> bool {
        let s = &self.config.settings;
        let ports = s
            .tor_proxy_port
            .map_or(TOR_PROXY_PORTS.to_vec(), |p| vec![p]);
        let host = s.tor_proxy_host.as_str();
        tracing::info!("trying to detect a SOCKS proxy on {host} ports {ports:?}");
        for port in ports {
            let Ok(Ok(addrs)) = timeout(PROBE_TIMEOUT, tokio::net::lookup_host((host, port))).await
            else {
                continue;
            };
            for addr in addrs.take(4) {
                if socks5_greets(addr).await {
                    tracing::info!("detected a SOCKS5 proxy at {addr}");
                    *self.proxy.lock().unwrap_or_else(PoisonError::into_inner) = Some(addr);
                    self.table().set_proxy_available(true);
                    return true;
                }
            }
        }
        tracing::info!("no SOCKS proxy detected, will try again in {PROXY_RETRY_SECS} s");
        false
    }

    /// Looks for the proxy every [`PROXY_RETRY_SECS`] until found.
    async fn proxy_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(PROXY_RETRY_SECS)).await;
            if self.detect_proxy().await {
                self.import_seeds();
                self.wake.notify_one();
                return;
            }
        }
    }

    /// Reads the blacklist every [`PeerSettings::blacklist_refresh`] seconds.
    async fn blacklist_loop(self: Arc<Self>, source: BlacklistSource) {
        let pause = Duration::from_secs(self.config.settings.blacklist_refresh.max(1));
        loop {
            self.refresh_blacklist(&source).await;
            tokio::time::sleep(pause).await;
        }
    }

    /// One read of the blacklist; on failure the old list is kept.
    async fn refresh_blacklist(&self, source: &BlacklistSource) {
        match fetch_blacklist(source).await {
            Ok(list) => {
                tracing::info!("blacklist from {source:?} has {} entries", list.len());
                if !self.table().set_blacklist(list).is_empty() {
                    self.wake.notify_one();
                }
            }
            Err(e) => tracing::error!("could not read the blacklist from {source:?}: {e}"),
        }
    }
}

/// Whether `addr` answers a SOCKS5 greeting (no authentication) as a SOCKS5 proxy does.
async fn socks5_greets(addr: SocketAddr) -> bool {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(&[5, 1, 0]).await?;
        let mut reply = [0u8; 2];
        s.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply == [5, 0])
    };
    matches!(timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(true)))
}

/// Reads and parses the blacklist from a URL (on a blocking thread) or a file, bounded.
async fn fetch_blacklist(source: &BlacklistSource) -> Result<Blacklist, String> {
    let source = source.clone();
    let max = MAX_BLACKLIST_BYTES as u64;
    let reading = tokio::task::spawn_blocking(move || match source {
        BlacklistSource::File(path) => {
            persist::read_bounded(&path, max).map_err(|e| format!("{}: {e}", path.display()))
        }
        BlacklistSource::Url(url) => {
            let agent = ureq::AgentBuilder::new()
                .timeout(BLACKLIST_TIMEOUT)
                .redirects(3)
                .build();
            let reply = agent.get(&url).call().map_err(|e| e.to_string())?;
            let mut body = Vec::new();
            reply
                .into_reader()
                .take(max + 1)
                .read_to_end(&mut body)
                .map_err(|e| e.to_string())?;
            if body.len() as u64 > max {
                return Err(format!("larger than {max} bytes"));
            }
            Ok(body)
        }
    });
    let bytes = reading.await.map_err(|e| e.to_string())??;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    Blacklist::parse_json(&text)
}

/// One row of the admin `peers` table.
fn row(e: &PeerEntry, now: u64) -> Value {
    let p = &e.peer;
    let f = &p.features;
    json!({
        "host": p.host.as_str(),
        "status": e.status(now).as_str(),
        "features": {
            "hosts": {p.host.as_str(): {"tcp_port": f.tcp_port, "ssl_port": f.ssl_port}},
            "server_version": f.server_version,
            "protocol_min": f.protocol_min.map(|v| v.to_string()),
            "protocol_max": f.protocol_max.map(|v| v.to_string()),
            "pruning": f.pruning,
            "genesis_hash": f.genesis_hash,
        },
        "last_good": e.last_good.unwrap_or(0),
        "last_try": e.last_try.unwrap_or(0),
        "try_count": e.try_count,
        "source": e.source.to_string(),
        "ip_addr": p.ip.map(|ip| ip.to_string()),
        "height": e.height,
        "bad_reason": e.bad,
    })
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
