//! Resource controls for public servers, with ElectrumX 2.0's names, defaults and algorithms
//! (`electrumx/server/session.py` `SessionManager`, aiorpcx `session.py` `SessionBase`), plus
//! what operators ask for beyond them:
//!
//! - **Session cost** ([`cost`]): requests, errors and bandwidth add to a session's cost, which
//!   decays; sessions are grouped by subnet (`SESSION_GROUP_BY_SUBNET_IPV4/IPV6`) and a group's
//!   cost, including what its closed sessions left behind (retained cost, refunded every 5
//!   minutes), counts towards each member's. Above `COST_SOFT_LIMIT` requests sleep and
//!   concurrency shrinks; at `COST_HARD_LIMIT` the session gets −101 and is closed.
//! - **Request and idle timeouts**: −102 after `REQUEST_TIMEOUT`, disconnect after
//!   `SESSION_TIMEOUT` without a complete message.
//! - **MAX_SESSIONS** ([`Limits::paused`], [`crate::transport::pausable`]): listeners close at the limit (clamped by the open-file
//!   limit) and reopen at 95% of it.
//! - **DROP_CLIENT**: a regular expression matched against the client name of `server.version`.
//! - Beyond ElectrumX: `FERRUM_ALLOW_IPS` (exempt from cost limits, `MAX_SESSIONS` and the per-IP
//!   cap), `FERRUM_MAX_SESSIONS_PER_IP` (with `FERRUM_PER_IP_EXEMPT`), and rate-limited logging
//!   of client-caused events ([`log`]).
//!
//! Sessions call in through [`SessionLimits`]; the accept loops watch [`Limits::paused`].

pub mod cost;
pub mod log;
pub mod net;

pub use net::Cidr;

use crate::electrum::rpc::{Params, Reply, RpcError};
use cost::{Concurrency, Cost, CostParams, Slot};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// aiorpcx `JSONRPC.EXCESSIVE_RESOURCE_USAGE`.
pub const EXCESSIVE_RESOURCE_USAGE: i64 = -101;
/// aiorpcx `JSONRPC.SERVER_BUSY`.
pub const SERVER_BUSY: i64 = -102;
/// ElectrumX `_recalc_concurrency` period.
pub const RECALC_PERIOD: Duration = Duration::from_secs(300);

/// The options (see the "Resource controls" section of the README).
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_sessions: usize,
    pub cost_soft_limit: u64,
    pub cost_hard_limit: u64,
    pub bandwidth_unit_cost: u64,
    pub initial_concurrent: usize,
    pub request_sleep: Duration,
    pub request_timeout: Duration,
    pub session_timeout: Duration,
    pub group_by_subnet_ipv4: u8,
    pub group_by_subnet_ipv6: u8,
    /// Matched from the start of the client name, as Python's `re.match`.
    pub drop_client: Option<Regex>,
    pub allow_ips: Vec<Cidr>,
    /// 0: no cap.
    pub max_sessions_per_ip: usize,
    pub per_ip_exempt: Vec<Cidr>,
}

impl Default for Settings {
    /// ElectrumX's defaults (`env.py`), and Ferrum's for its own options.
    fn default() -> Self {
        Settings {
            max_sessions: 1000,
            cost_soft_limit: 1000,
            cost_hard_limit: 10000,
            bandwidth_unit_cost: 5000,
            initial_concurrent: 10,
            request_sleep: Duration::from_millis(2500),
            request_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(600),
            group_by_subnet_ipv4: 24,
            group_by_subnet_ipv6: 48,
            drop_client: None,
            allow_ips: Vec::new(),
            max_sessions_per_ip: 50,
            per_ip_exempt: default_per_ip_exempt(),
        }
    }
}

/// Loopback: Tor onion services and local proxies bring every client from there.
pub fn default_per_ip_exempt() -> Vec<Cidr> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|s| Cidr::parse(s).ok())
        .collect()
}

/// DROP_CLIENT as Python's `re.compile(p).match`: anchored at the start only.
pub fn drop_client_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})")).map_err(|e| format!("invalid regular expression: {e}"))
}

impl Settings {
    fn cost_params(&self) -> CostParams {
        CostParams {
            soft_limit: self.cost_soft_limit as f64,
            hard_limit: self.cost_hard_limit as f64,
            per_byte: 1.0 / self.bandwidth_unit_cost.max(1) as f64,
            sleep: self.request_sleep.as_secs_f64(),
            initial_concurrent: self.initial_concurrent,
        }
    }
}

struct Entry {
    cost: Cost,
    group: Option<String>,
    ip: IpAddr,
    exempt: bool,
    /// Counted against MAX_SESSIONS and the per-IP cap.
    counted: bool,
    subs: usize,
    concurrency: Arc<Concurrency>,
    label: String,
}

#[derive(Default)]
struct Group {
    retained: f64,
    members: HashSet<u64>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<u64, Entry>,
    groups: HashMap<String, Group>,
    per_ip: HashMap<IpAddr, usize>,
    counted: usize,
}

impl Table {
    /// ElectrumX `SessionManager.extra_cost`: the cost of the session's group without its own.
    fn extra_cost(&self, id: u64) -> f64 {
        let Some(e) = self.entries.get(&id) else {
            return 0.0;
        };
        let Some(g) = e.group.as_ref().and_then(|g| self.groups.get(g)) else {
            return 0.0;
        };
        let members: f64 = g
            .members
            .iter()
            .filter_map(|m| self.entries.get(m))
            .map(|m| m.cost.cost)
            .sum();
        g.retained + members - e.cost.cost
    }

    fn recalc(&mut self, id: u64, p: &CostParams, now: Instant) {
        let extra = self.extra_cost(id);
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        let was_throttled = e.cost.fraction > 0.0;
        let target = e.cost.recalc(p, extra, now);
        if e.exempt {
            e.cost.fraction = 0.0;
            return;
        }
        if !was_throttled && e.cost.fraction > 0.0 {
            crate::limited!(
                "throttle",
                info,
                "{}: throttled, cost {:.0} (group {:.0}) over COST_SOFT_LIMIT {}",
                e.label,
                e.cost.cost,
                extra,
                p.soft_limit
            );
        }
        if let Some(target) = target {
            let old = e.concurrency.target();
            if target.abs_diff(old) > 1 {
                crate::limited!(
                    "throttle",
                    info,
                    "{}: changing task concurrency from {old} to {target}",
                    e.label
                );
            }
            e.concurrency.set_target(target);
        }
    }
}

/// Server-wide resource state, shared by all sessions and listeners.
pub struct Limits {
    settings: Settings,
    params: CostParams,
    /// MAX_SESSIONS after the open-file clamp ([`Limits::start`]).
    max_sessions: AtomicUsize,
    table: Mutex<Table>,
    paused: watch::Sender<bool>,
    /// Set by [`Limits::drain`]: the listeners stay closed for good.
    draining: std::sync::atomic::AtomicBool,
}

impl Limits {
    pub fn new(settings: Settings) -> Self {
        Limits {
            params: settings.cost_params(),
            max_sessions: AtomicUsize::new(settings.max_sessions),
            settings,
            table: Mutex::new(Table::default()),
            paused: watch::Sender::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Stops accepting connections for good (the admin RPC's `drain`, before an upgrade):
    /// sessions already open go on; `GET /health` turns 503 so that load balancers send new
    /// clients elsewhere.
    pub fn drain(&self) {
        if !self.draining.swap(true, Ordering::Relaxed) {
            tracing::info!("draining: no new connections; open sessions go on");
        }
        self.paused.send_replace(true);
    }

    /// Whether [`Limits::drain`] was called.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Before serving (inside the runtime): raises the open-file limit, clamps MAX_SESSIONS by
    /// it, logs the limits and starts the periodic cost refund.
    pub fn start(self: &Arc<Self>) {
        let s = &self.settings;
        let max = net::sane_max_sessions(s.max_sessions, net::raise_nofile_limit());
        self.max_sessions.store(max, Ordering::Relaxed);
        tracing::info!(
            "max sessions {max}, session timeout {}s, request timeout {}s, cost soft limit {}, \
             hard limit {}, bandwidth unit cost {}, initial concurrent {}, request sleep {}ms",
            s.session_timeout.as_secs(),
            s.request_timeout.as_secs(),
            s.cost_soft_limit,
            s.cost_hard_limit,
            s.bandwidth_unit_cost,
            s.initial_concurrent,
            s.request_sleep.as_millis()
        );
        if let Some(re) = &s.drop_client {
            tracing::info!("drop clients matching: {}", re.as_str());
        }
        if !s.allow_ips.is_empty() {
            let list: Vec<String> = s.allow_ips.iter().map(Cidr::to_string).collect();
            tracing::info!("exempt from resource limits: {}", list.join(", "));
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RECALC_PERIOD);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(limits) = me.upgrade() else { break };
                limits.periodic();
            }
        });
    }

    /// The effective MAX_SESSIONS.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions.load(Ordering::Relaxed)
    }

    /// True while listeners are closed because of MAX_SESSIONS.
    pub fn paused(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// Whether `server.version`'s client name matches DROP_CLIENT.
    pub fn drop_client(&self, name: &str) -> bool {
        self.settings
            .drop_client
            .as_ref()
            .is_some_and(|re| re.is_match(name))
    }

    /// ElectrumX `_recalc_concurrency`: refunds retained group cost, forgets empty groups and
    /// recalculates every session, whose cost decays slower the more it subscribed.
    pub fn periodic(&self) {
        let Ok(mut t) = self.table.lock() else { return };
        let hard = self.params.hard_limit;
        let refund = RECALC_PERIOD.as_secs_f64() * hard / 5000.0;
        t.groups.retain(|_, g| {
            g.retained = (g.retained - refund).max(0.0);
            g.retained > 0.0 || !g.members.is_empty()
        });
        let now = Instant::now();
        let ids: Vec<u64> = t.entries.keys().copied().collect();
        for id in ids {
            if let Some(e) = t.entries.get_mut(&id) {
                e.cost.decay_per_sec = hard / (10000.0 + 5.0 * e.subs as f64);
            }
            t.recalc(id, &self.params, now);
        }
    }

    /// Whether a connection from `peer` may go on to its handshake: false when its address
    /// already has `FERRUM_MAX_SESSIONS_PER_IP` sessions, so a TLS or WebSocket handshake is not
    /// even started for a connection [`Limits::open`] would refuse.
    pub fn admits(&self, peer: SocketAddr) -> bool {
        let label = crate::metrics::logs::addr(&peer);
        self.table
            .lock()
            .map_or(true, |t| !self.over_per_ip_cap(&t, peer, &label))
    }

    /// Whether `peer`'s address already holds `FERRUM_MAX_SESSIONS_PER_IP` sessions (never for
    /// allow-listed and per-IP-exempt addresses); logs the refusal.
    fn over_per_ip_cap(&self, t: &Table, peer: SocketAddr, label: &str) -> bool {
        let s = &self.settings;
        let ip = net::canonical(peer.ip());
        if s.max_sessions_per_ip == 0
            || net::listed(&s.allow_ips, ip)
            || net::listed(&s.per_ip_exempt, ip)
        {
            return false;
        }
        let n = t.per_ip.get(&ip).copied().unwrap_or(0);
        if n < s.max_sessions_per_ip {
            return false;
        }
        crate::limited!(
            "per-ip",
            info,
            "{label}: refused, {n} sessions from {ip} already (FERRUM_MAX_SESSIONS_PER_IP)"
        );
        true
    }

    /// A new session `id` (its registry id) from `peer`; None if the per-IP cap refuses it.
    /// `label` names it in logs.
    pub fn open(self: &Arc<Self>, id: u64, peer: SocketAddr, label: &str) -> Option<SessionLimits> {
        let s = &self.settings;
        let ip = net::canonical(peer.ip());
        let exempt = net::listed(&s.allow_ips, ip);
        let concurrency = Concurrency::new(s.initial_concurrent);
        let mut t = self.table.lock().ok()?;
        if self.over_per_ip_cap(&t, peer, label) {
            return None;
        }
        let group = if exempt {
            None
        } else {
            net::group_name(ip, s.group_by_subnet_ipv4, s.group_by_subnet_ipv6)
        };
        if let Some(g) = &group {
            t.groups.entry(g.clone()).or_default().members.insert(id);
        }
        if !exempt {
            *t.per_ip.entry(ip).or_default() += 1;
            t.counted += 1;
            let max = self.max_sessions();
            if t.counted >= max && !*self.paused.borrow() {
                tracing::info!(
                    "maximum sessions {max} reached, stopping new connections until count drops \
                     to {}",
                    max * 19 / 20
                );
                self.paused.send_replace(true);
            }
        }
        t.entries.insert(
            id,
            Entry {
                cost: Cost::new(&self.params, Instant::now()),
                group,
                ip,
                exempt,
                counted: !exempt,
                subs: 0,
                concurrency: concurrency.clone(),
                label: label.to_string(),
            },
        );
        drop(t);
        Some(SessionLimits {
            gate: RequestGate {
                limits: self.clone(),
                id,
                concurrency,
                exempt,
            },
            last_recv: tokio::time::Instant::now(),
        })
    }

    fn bump(&self, id: u64, delta: f64) {
        let Ok(mut t) = self.table.lock() else { return };
        let due = match t.entries.get_mut(&id) {
            Some(e) => e.cost.bump(delta),
            None => false,
        };
        if due {
            t.recalc(id, &self.params, Instant::now());
        }
    }

    /// The session's current cost and throttling fraction (for logs and the admin RPC).
    pub fn cost_of(&self, id: u64) -> Option<(f64, f64)> {
        let t = self.table.lock().ok()?;
        t.entries.get(&id).map(|e| (e.cost.cost, e.cost.fraction))
    }

    /// A session's cost and the rest of its group's (ElectrumX `extra_cost`), for the admin
    /// RPC's `sessions`.
    pub fn costs(&self, id: u64) -> Option<(f64, f64)> {
        let t = self.table.lock().ok()?;
        let e = t.entries.get(&id)?;
        Some((e.cost.cost, t.extra_cost(id)))
    }

    /// The cost group of session `id` (None: private address, allow-listed, or unknown).
    pub fn group_of(&self, id: u64) -> Option<String> {
        let t = self.table.lock().ok()?;
        t.entries.get(&id)?.group.clone()
    }

    /// Groups: name, sessions, their cost, retained cost (the admin RPC's `groups`).
    pub fn groups(&self) -> Vec<(String, usize, f64, f64)> {
        let Ok(t) = self.table.lock() else {
            return Vec::new();
        };
        let mut v: Vec<_> = t
            .groups
            .iter()
            .map(|(name, g)| {
                let cost = g
                    .members
                    .iter()
                    .filter_map(|m| t.entries.get(m))
                    .map(|e| e.cost.cost)
                    .sum();
                (name.clone(), g.members.len(), cost, g.retained)
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn close(&self, id: u64) {
        let Ok(mut t) = self.table.lock() else { return };
        let Some(e) = t.entries.remove(&id) else {
            return;
        };
        if let Some(g) = e.group.as_ref().and_then(|g| t.groups.get_mut(g)) {
            g.retained += e.cost.cost;
            g.members.remove(&id);
        }
        if e.counted {
            if let Some(n) = t.per_ip.get_mut(&e.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    t.per_ip.remove(&e.ip);
                }
            }
            t.counted = t.counted.saturating_sub(1);
        }
        let low = self.max_sessions() * 19 / 20;
        if *self.paused.borrow() && t.counted <= low && !self.draining() {
            tracing::info!("resuming listening for incoming connections");
            self.paused.send_replace(false);
        }
        if !e.exempt
            && (e.concurrency.target() as f64) < self.settings.initial_concurrent as f64 * 0.8
        {
            crate::limited!(
                "throttle",
                info,
                "{}: disconnected whilst throttled",
                e.label
            );
        }
    }
}

/// What a request needs to pass resource controls; cheap to clone out of [`SessionLimits`]
/// while the session is borrowed by the request.
#[derive(Clone)]
pub struct RequestGate {
    limits: Arc<Limits>,
    id: u64,
    concurrency: Arc<Concurrency>,
    exempt: bool,
}

impl RequestGate {
    /// REQUEST_TIMEOUT, within which a request (including its throttling sleep) must finish.
    pub fn timeout(&self) -> Duration {
        self.limits.settings.request_timeout
    }

    /// aiorpcx `_throttled_request` before the handler: a concurrency slot, then the sleep
    /// of a throttled session. Err(−101) once the session is over its hard limit: the caller
    /// replies with it and closes the session.
    pub async fn enter(&self, label: &str) -> Result<Option<Slot>, RpcError> {
        if self.exempt {
            return Ok(None);
        }
        let slot = match self.concurrency.enter().await {
            Ok(s) => s,
            Err(_) => return Err(self.excessive(label)),
        };
        let sleep = self
            .limits
            .table
            .lock()
            .ok()
            .and_then(|t| {
                t.entries
                    .get(&self.id)
                    .map(|e| e.cost.sleep(&self.limits.params))
            })
            .unwrap_or_default();
        if !sleep.is_zero() {
            tokio::time::sleep(sleep).await;
        }
        Ok(Some(slot))
    }

    /// Err(−101) when the session is over its hard limit, for requests answered without
    /// waiting for a slot (the caller replies with it and closes the session).
    pub fn check(&self, label: &str) -> Result<(), RpcError> {
        if !self.exempt && self.concurrency.target() == 0 {
            return Err(self.excessive(label));
        }
        Ok(())
    }

    /// Whether the session's requests are slowed down (cost over the soft limit): such
    /// requests wait for a slot and sleep instead of being answered at once.
    pub fn throttled(&self) -> bool {
        !self.exempt
            && self.limits.table.lock().is_ok_and(|t| {
                t.entries
                    .get(&self.id)
                    .is_some_and(|e| e.cost.fraction > 0.0)
            })
    }

    fn excessive(&self, label: &str) -> RpcError {
        let group = self
            .limits
            .table
            .lock()
            .ok()
            .and_then(|t| t.entries.get(&self.id).and_then(|e| e.group.clone()));
        crate::limited!(
            "excessive",
            info,
            "{label}: closing session over resource usage (group {})",
            group.as_deref().unwrap_or("none")
        );
        RpcError::new(EXCESSIVE_RESOURCE_USAGE, "excessive resource usage")
    }

    /// The −102 reply of a request that did not finish within REQUEST_TIMEOUT.
    pub fn busy(&self, label: &str, method: &str) -> RpcError {
        crate::limited!(
            "timeout",
            info,
            "{label}: incoming request {method} timed out after {}s",
            self.timeout().as_secs()
        );
        RpcError::new(SERVER_BUSY, "server busy - request timed out")
    }
}

/// One session's handle on the resource controls; the session's cost goes to its group when it
/// is dropped.
pub struct SessionLimits {
    gate: RequestGate,
    last_recv: tokio::time::Instant,
}

impl Drop for SessionLimits {
    fn drop(&mut self) {
        self.gate.limits.close(self.gate.id);
    }
}

impl SessionLimits {
    pub fn gate(&self) -> RequestGate {
        self.gate.clone()
    }

    pub fn id(&self) -> u64 {
        self.gate.id
    }

    /// A complete message of `bytes` arrived (aiorpcx `data_received` and `last_recv`).
    pub fn received(&mut self, bytes: usize) {
        self.last_recv = tokio::time::Instant::now();
        self.bump(bytes as f64 * self.gate.limits.params.per_byte);
    }

    /// A message over MAX_RECV (`max_recv`) was dropped: at least that many bytes came and
    /// cost, but it does not count as activity.
    pub fn oversized(&mut self, max_recv: usize) {
        self.bump(max_recv as f64 * self.gate.limits.params.per_byte);
    }

    /// A message of `bytes` was sent.
    pub fn sent(&self, bytes: usize) {
        self.bump(bytes as f64 * self.gate.limits.params.per_byte);
    }

    /// When the session is closed for inactivity unless a complete message comes
    /// (SESSION_TIMEOUT).
    pub fn idle_deadline(&self) -> tokio::time::Instant {
        self.last_recv + self.gate.limits.settings.session_timeout
    }

    /// Charges a reply: the method's cost, or the error cost; `subs` is the session's
    /// subscription count (its cost decays slower with more).
    pub fn charge(&self, method: &str, request_cost: f64, result: &Reply, subs: usize) {
        self.bump(cost::reply_cost(method, request_cost, result));
        if let Ok(mut t) = self.gate.limits.table.lock()
            && let Some(e) = t.entries.get_mut(&self.gate.id)
        {
            e.subs = subs;
        }
    }

    /// The cost known from a request's parameters, to charge with [`SessionLimits::charge`].
    pub fn request_cost(method: &str, params: &Params) -> f64 {
        cost::request_cost(method, params)
    }

    /// An invalid message or batch item was answered with `reply`: the error cost, ten times
    /// more for a parse error (aiorpcx).
    pub fn invalid(&self, reply: &[u8]) {
        let code = serde_json::from_slice::<serde_json::Value>(reply)
            .ok()
            .and_then(|v| v["error"]["code"].as_i64());
        let extra = if code == Some(crate::electrum::rpc::PARSE_ERROR) {
            cost::PARSE_ERROR_EXTRA
        } else {
            0.0
        };
        self.bump(cost::ERROR_COST + extra);
    }

    fn bump(&self, delta: f64) {
        self.gate.limits.bump(self.gate.id, delta);
    }
}

#[cfg(test)]
mod tests;
