//! One client session over any transport ([`crate::transport`]): version negotiation,
//! requests and batches (each answered from a blocking thread so a slow one never blocks the
//! runtime), subscriptions, and notifications when a published change touches them.

mod silent;

use super::handlers::{self, Effect};
use super::methods::{self, Version};
use super::registry::SessionInfo;
use super::rpc::{
    self, Answer, BAD_REQUEST, Incoming, Params, Reply, Request, RpcError, RpcResult,
};
use super::scripts::{self, OutpointStatus};
use super::{Event, Shared};
use crate::limits::{RequestGate, SessionLimits};
use crate::peers::manager::PeerManager;
use crate::transport::{Channel, Frame};
use crate::types::ScriptKey;
use bitcoin::{BlockHash, Txid};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

/// A subscribed script: the name the client used and the last status it was sent.
struct ScriptSub {
    name: String,
    status: Option<[u8; 32]>,
}

#[derive(Default)]
struct Subs {
    headers: Option<Option<BlockHash>>,
    scripts: HashMap<ScriptKey, ScriptSub>,
    outpoints: HashMap<(Txid, u32), OutpointStatus>,
    /// `blockchain.tweaks.subscribe`, after its historical part.
    tweaks: Option<super::tweaks::TweakSub>,
    /// `blockchain.silentpayments.subscribe`, by address.
    sp: HashMap<String, silent::SpSub>,
}

/// Most requests read ahead of their replies per session, whatever INITIAL_CONCURRENT says.
const MAX_INFLIGHT: usize = 64;

/// A request that was answered off the session task.
struct Completed {
    meta: Meta,
    reply: Reply,
    effect: Effect,
    /// `events_seen` when it started.
    events: u64,
    /// Refused over COST_HARD_LIMIT (−101): the session closes after the reply.
    excessive: bool,
}

/// What the reply to a request needs besides its result: the id, the JSON-RPC version, the
/// method and start (latency and error metrics, cost) and the cost known from its parameters.
#[derive(Clone)]
struct Meta {
    id: Option<Value>,
    v1: bool,
    /// The method's name, or "unknown" ([`crate::metrics::method_label`]).
    method: &'static str,
    started: Instant,
    request_cost: f64,
}

impl Meta {
    fn new(id: Option<Value>, v1: bool, method: &str, params: &Params) -> Meta {
        Meta {
            id,
            v1,
            method: crate::metrics::method_label(method),
            started: Instant::now(),
            request_cost: SessionLimits::request_cost(method, params),
        }
    }
}

struct Session {
    shared: Arc<Shared>,
    peer: String,
    info: Arc<SessionInfo>,
    /// None until `server.version`.
    version: Option<Version>,
    subs: Subs,
    out: mpsc::Sender<Vec<u8>>,
    disconnect: bool,
    /// Events handled so far (to spot a subscription racing a notification).
    events_seen: u64,
    /// Cost, throttling and idle timeout ([`crate::limits`]).
    limits: SessionLimits,
    /// Silent payments scans to start once their subscribe reply is sent.
    sp_starters: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// Serves one connection until the client leaves, misbehaves fatally, is disconnected through
/// the registry, or the server shuts down.
pub async fn run(shared: Arc<Shared>, channel: Channel, peer: SocketAddr, transport: &'static str) {
    let Channel {
        mut incoming,
        outgoing,
    } = channel;
    let mut events = shared.events.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    let label = format!("{transport}://{}", crate::metrics::logs::addr(&peer));
    let registration = shared.sessions.register(peer, transport);
    let info = registration.info.clone();
    // The per-IP cap may refuse the session: dropping the channel closes the connection.
    let Some(limits) = shared.limits.open(info.id, peer, &label) else {
        return;
    };
    let mut s = Session {
        shared,
        peer: label,
        info: info.clone(),
        version: None,
        subs: Subs::default(),
        out: outgoing,
        disconnect: false,
        events_seen: 0,
        limits,
        sp_starters: Vec::new(),
    };
    let mut inflight: JoinSet<Completed> = JoinSet::new();
    // Requests read ahead of their replies: INITIAL_CONCURRENT (ElectrumX's 10), of which the
    // resource controls' concurrency target say how many run at once once throttled.
    let read_ahead = s
        .shared
        .settings
        .limits
        .initial_concurrent
        .clamp(1, MAX_INFLIGHT);
    tracing::debug!("{}: connected", s.peer);
    while !s.disconnect && !*shutdown.borrow() {
        info.pending.store(inflight.len() as u64, Ordering::Relaxed);
        tokio::select! {
            _ = info.close.notified() => break,
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep_until(s.limits.idle_deadline()) => {
                crate::limited!("idle", info, "{}: closing stale session (SESSION_TIMEOUT)", s.peer);
                break;
            }
            Some(done) = inflight.join_next(), if !inflight.is_empty() => match done {
                Ok(done) => s.completed(done).await,
                Err(e) => tracing::error!("{}: a request failed: {e}", s.peer),
            },
            frame = incoming.recv(), if inflight.len() < read_ahead => match frame {
                Some(Frame::Message(m)) => {
                    info.bytes_received.fetch_add(m.len() as u64 + 1, Ordering::Relaxed);
                    s.limits.received(m.len() + 1);
                    s.on_message(&m, &mut inflight).await
                }
                Some(Frame::Oversized) => {
                    s.limits.oversized(s.shared.settings.max_recv);
                    crate::limited!(
                        "oversized",
                        info,
                        "{}: dropped a request over MAX_RECV ({} bytes)",
                        s.peer,
                        s.shared.settings.max_recv
                    );
                }
                None => break,
            },
            ev = events.recv() => {
                s.events_seen += 1;
                match ev {
                    Ok(ev) => s.notify(&ev).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let ev = Event { tip_changed: true, all_scripts: true, ..Default::default() };
                        s.notify(&ev).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            },
        }
    }
    // Answer what is still running before closing (the client may be waiting for it).
    while !s.disconnect
        && let Some(Ok(done)) = inflight.join_next().await
    {
        s.completed(done).await;
    }
    tracing::debug!("{}: disconnected", s.peer);
}

impl Session {
    async fn send(&mut self, msg: Vec<u8>) {
        self.info
            .bytes_sent
            .fetch_add(msg.len() as u64 + 1, Ordering::Relaxed);
        self.limits.sent(msg.len() + 1);
        if self.out.send(msg).await.is_err() {
            self.disconnect = true;
        }
    }

    fn max_send(&self) -> usize {
        self.shared.settings.max_send
    }

    async fn on_message(&mut self, message: &[u8], inflight: &mut JoinSet<Completed>) {
        match rpc::parse(message) {
            Incoming::Single(req) => {
                // Single requests run concurrently (up to INITIAL_CONCURRENT per session), so a
                // wallet's pipelined subscriptions use every core; replies go out as they
                // complete, matched by id.
                let (meta, method, params) = self.begin(req);
                let gate = self.limits.gate();
                // Over COST_HARD_LIMIT: −101, then the session closes.
                if let Err(e) = gate.check(&self.peer) {
                    self.disconnect = true;
                    return self.finish(meta, Err(e)).await;
                }
                let work = self.prepare(&method, params, meta.id.is_none());
                // A session that is not throttled gets immediate and cached answers at once;
                // a throttled one waits for a slot and sleeps first, whatever the request.
                let work = match work {
                    Work::Ready(reply) if !self.sp_starters.is_empty() => {
                        // A silent payments subscribe: its reply goes out before its scan's
                        // first notification, throttled or not.
                        self.finish(meta, reply).await;
                        return self.start_scans();
                    }
                    _ if gate.throttled() => work,
                    Work::Ready(reply) => return self.finish(meta, reply).await,
                    Work::Call(m, args) => match handlers::try_fast(&self.shared, m, &args) {
                        Some((reply, effect)) => {
                            self.apply(effect);
                            return self.finish(meta, reply).await;
                        }
                        None => Work::Call(m, args),
                    },
                    other @ (Work::AddPeer(..) | Work::Tweaks(..)) => other,
                };
                let shared = self.shared.clone();
                let version = self.version.clone().unwrap_or_default();
                let events = self.events_seen;
                let label = self.peer.clone();
                let name = meta.method;
                inflight.spawn(async move {
                    let (reply, effect, excessive) =
                        gated(&gate, &label, name, shared, version, work).await;
                    Completed {
                        meta,
                        reply,
                        effect,
                        events,
                        excessive,
                    }
                });
            }
            Incoming::Batch(items) => {
                // aiorpcx counts the batch's replies against MAX_SEND as they come: the one
                // that crosses it, and every later one, becomes -32600.
                let mut parts = Vec::new();
                let mut size = 0;
                for item in items {
                    let mut part = match item {
                        Ok(req) => {
                            let id = req.id.clone();
                            match self.on_request(req).await {
                                Some(p) => (id, p),
                                None => continue,
                            }
                        }
                        Err(reply) => {
                            self.limits.invalid(&reply);
                            (None, reply)
                        }
                    };
                    size += part.1.len() + 2;
                    if size > self.max_send()
                        && let Some(id) = part.0.take()
                    {
                        part.1 = rpc::oversized(&id, false, self.max_send());
                    }
                    parts.push(part.1);
                    if self.disconnect {
                        break;
                    }
                }
                if !parts.is_empty() {
                    self.send(rpc::batch(&parts)).await;
                }
                self.start_scans();
            }
            Incoming::Invalid(reply) => {
                self.limits.invalid(&reply);
                self.send(reply).await
            }
            Incoming::Ignore => {}
        }
    }

    /// Sends the reply to a request (nothing for a notification).
    async fn finish(&mut self, meta: Meta, result: Reply) {
        if let Some(reply) = self.encode(meta, &result) {
            self.send(reply).await;
        }
    }

    /// Charges the request's cost, records its latency (and error) and encodes the reply
    /// (None for a notification).
    fn encode(&self, meta: Meta, result: &Reply) -> Option<Vec<u8>> {
        let failed = result.is_err();
        if failed {
            self.info.errors.fetch_add(1, Ordering::Relaxed);
        }
        crate::metrics::request(meta.method, meta.started.elapsed(), failed);
        let subs = self.subs.scripts.len() + self.subs.outpoints.len();
        self.limits
            .charge(meta.method, meta.request_cost, result, subs);
        Some(rpc::reply(&meta.id?, result, meta.v1, self.max_send()))
    }

    /// A request that ran off the session task: record its subscription, then reply.
    async fn completed(&mut self, done: Completed) {
        let Completed {
            meta,
            reply,
            effect,
            events,
            excessive,
        } = done;
        let raced = events != self.events_seen;
        let recheck = self.apply(effect);
        self.finish(meta, reply).await;
        if excessive {
            self.disconnect = true;
            return;
        }
        // A change published while the request ran may already have been notified without
        // this subscription: look at it again.
        if raced && let Some(ev) = recheck {
            self.notify(&ev).await;
        }
    }

    /// Counts a request; its reply's [`Meta`], its method and parameters.
    fn begin(&mut self, req: Request) -> (Meta, String, Params) {
        let Request {
            id,
            method,
            params,
            v1,
        } = req;
        let meta = Meta::new(id, v1, &method, &params);
        self.count_request(meta.method, &method, &params);
        (meta, method, params)
    }

    /// Answers one request in order (batch members), through the same gate as single
    /// requests; None for notifications.
    async fn on_request(&mut self, req: Request) -> Option<Vec<u8>> {
        let (meta, method, params) = self.begin(req);
        let work = self.prepare(&method, params, meta.id.is_none());
        let gate = self.limits.gate();
        let version = self.version.clone().unwrap_or_default();
        let shared = self.shared.clone();
        let (reply, effect, excessive) =
            gated(&gate, &self.peer, meta.method, shared, version, work).await;
        self.apply(effect);
        self.disconnect |= excessive;
        self.encode(meta, &reply)
    }

    /// What a request needs ([`Work`]); answers `server.version` and unsubscriptions here.
    fn prepare(&mut self, method: &str, params: Params, notification: bool) -> Work {
        let r = (|| {
            if method == "server.version" {
                let m = methods::lookup(method, methods::PROTOCOL_MIN)?;
                let args = methods::bind(m, params)?;
                return Ok(Work::Ready(self.server_version(&args).map(Answer::Json)));
            }
            let Some(version) = self.version.clone() else {
                // ElectrumX: server.version must be the first message, whatever the version.
                self.disconnect = true;
                return Err(RpcError::bad_request(
                    "use server.version to identify client",
                ));
            };
            if notification {
                // Only server.ping may come as a notification (1.7); others are ignored.
                return Ok(Work::Ready(Ok(Answer::Json(Value::Null))));
            }
            let m = methods::lookup(method, &version)?;
            let args = methods::bind(m, params)?;
            if let Some(r) = self.unsubscribe(method, &args) {
                return Ok(Work::Ready(r.map(Answer::Json)));
            }
            match method {
                "blockchain.tweaks.subscribe" => {
                    return Ok(Work::Tweaks(args, self.out.clone()));
                }
                "blockchain.silentpayments.subscribe" => {
                    return Ok(Work::Ready(self.sp_subscribe(&args).map(Answer::Json)));
                }
                _ => {}
            }
            Ok(self.peers_method(m, args))
        })();
        r.unwrap_or_else(|e| Work::Ready(Err(e)))
    }

    /// The peer discovery methods, answered by the peer manager ([`Shared::peers`]; before it
    /// runs: no peers, add_peer refused); other methods are calls.
    fn peers_method(&self, m: &'static methods::Method, args: Vec<Option<Value>>) -> Work {
        let client = self.info.peer.ip();
        let manager = self.shared.peers.get();
        match m.name {
            "server.peers.subscribe" => Work::Ready(Ok(Answer::Json(
                manager.map_or_else(|| json!([]), |p| p.subscribe_list(p.is_tor_client(client))),
            ))),
            "server.add_peer" => match manager {
                Some(p) => {
                    let features = args.into_iter().next().flatten().unwrap_or(Value::Null);
                    Work::AddPeer(p.clone(), features, client)
                }
                None => Work::Ready(Ok(Answer::Json(json!(false)))),
            },
            _ => Work::Call(m, args),
        }
    }

    /// Records a subscription; returns the event that re-checks it.
    fn apply(&mut self, effect: Effect) -> Option<Event> {
        let ev = match effect {
            Effect::None => return None,
            Effect::Headers(tip) => {
                self.subs.headers = Some(tip);
                Event {
                    tip_changed: true,
                    ..Default::default()
                }
            }
            Effect::Script { key, name, status } => {
                self.subs.scripts.insert(key, ScriptSub { name, status });
                Event {
                    scripts: [key].into(),
                    ..Default::default()
                }
            }
            Effect::Outpoint { txid, vout, status } => {
                self.subs.outpoints.insert((txid, vout), status);
                Event {
                    outpoints: [(txid, vout)].into(),
                    ..Default::default()
                }
            }
            Effect::Tweaks { sub, sent } => {
                // Its notifications went out from the blocking pool: count them here.
                self.info
                    .bytes_sent
                    .fetch_add(sent as u64, Ordering::Relaxed);
                self.limits.sent(sent);
                self.subs.tweaks = Some(sub);
                Event {
                    tip_changed: true,
                    ..Default::default()
                }
            }
        };
        self.count_subscriptions();
        Some(ev)
    }

    /// Counts a request in the registry (admin RPC, metrics) and logs it if the admin RPC's
    /// `log` asked for this session.
    /// `label` is the method's [`crate::metrics::method_label`].
    fn count_request(&self, label: &'static str, method: &str, params: &Params) {
        let info = &self.info;
        info.requests.fetch_add(1, Ordering::Relaxed);
        if info.logged.load(Ordering::Relaxed) {
            // A silent payments scan key is never written anywhere.
            let shown = if method.starts_with("blockchain.silentpayments.") {
                "[keys not logged]".to_string()
            } else {
                params_text(params)
            };
            tracing::info!("{}: {method} {shown}", self.peer);
        }
        if let Ok(mut m) = info.method_counts.lock() {
            // Bounded: unknown method names are counted under one key.
            *m.entry(label.to_string()).or_default() += 1;
        }
    }

    /// Publishes the subscription counts to the registry.
    fn count_subscriptions(&self) {
        let outpoints = self.subs.outpoints.len() as u64;
        let total = self.subs.scripts.len() as u64 + outpoints;
        self.info.subscriptions.store(total, Ordering::Relaxed);
        self.info
            .outpoint_subscriptions
            .store(outpoints, Ordering::Relaxed);
    }

    fn server_version(&mut self, args: &[Option<Value>]) -> RpcResult {
        if self.version.is_some() {
            return Err(RpcError::bad_request("server.version already sent"));
        }
        let client = match args.first() {
            Some(Some(Value::String(name))) => name.chars().take(100).collect(),
            Some(Some(other)) => methods::short(other),
            _ => String::new(),
        };
        if !client.is_empty() && self.shared.limits.drop_client(&client) {
            self.disconnect = true;
            return Err(RpcError::bad_request(format!(
                "unsupported client: {client}"
            )));
        }
        let requested = args.get(1).and_then(Option::as_ref);
        match methods::negotiate(requested) {
            Some(v) => {
                let version = methods::version_string(&v);
                let reply = json!([handlers::SERVER_VERSION, version]);
                if let Ok(mut c) = self.info.client.lock() {
                    *c = Some((client, version));
                }
                self.version = Some(v);
                Ok(reply)
            }
            None => {
                self.version = Some(methods::PROTOCOL_MIN.to_vec());
                self.disconnect = true;
                let shown = requested.map_or("None".to_string(), methods::short);
                Err(RpcError::new(
                    BAD_REQUEST,
                    format!("unsupported protocol version: {shown}"),
                ))
            }
        }
    }

    /// The unsubscribe methods touch only session state.
    fn unsubscribe(&mut self, method: &str, args: &[Option<Value>]) -> Option<RpcResult> {
        let arg = |i: usize| args.get(i).and_then(Option::as_ref).unwrap_or(&Value::Null);
        let r = match method {
            "blockchain.scripthash.unsubscribe" => {
                methods::scripthash(arg(0)).map(|k| json!(self.subs.scripts.remove(&k).is_some()))
            }
            "blockchain.scriptpubkey.unsubscribe" => methods::script_pubkey(arg(0))
                .map(|(k, _)| json!(self.subs.scripts.remove(&k).is_some())),
            "blockchain.outpoint.unsubscribe" => methods::txid(arg(0)).and_then(|t| {
                let vout = methods::non_negative(arg(1))?;
                let vout = u32::try_from(vout).unwrap_or(u32::MAX);
                Ok(json!(self.subs.outpoints.remove(&(t, vout)).is_some()))
            }),
            "blockchain.silentpayments.unsubscribe" => {
                super::sp_scan::unsubscribe_address(&self.shared, args).and_then(|address| {
                    match self.subs.sp.remove(&address) {
                        Some(_) => Ok(json!(address)),
                        None => Err(RpcError::bad_request(format!(
                            "no silent payments subscription for {address}"
                        ))),
                    }
                })
            }
            _ => return None,
        };
        self.count_subscriptions();
        Some(r)
    }

    /// Sends what changed for this session's subscriptions.
    async fn notify(&mut self, ev: &Event) {
        if ev.tip_changed && self.subs.tweaks.is_some() {
            self.follow_tweaks().await;
        }
        let Some(version) = self.version.clone() else {
            return;
        };
        let v1_7 = version.as_slice() >= [1, 7].as_slice();
        let scripts: Vec<ScriptKey> = self
            .subs
            .scripts
            .keys()
            .filter(|k| ev.all_scripts || ev.scripts.contains(*k))
            .copied()
            .collect();
        let outpoints: Vec<(Txid, u32)> = self
            .subs
            .outpoints
            .keys()
            .filter(|o| ev.tip_changed || ev.outpoints.contains(*o) || ev.txids.contains(&o.0))
            .copied()
            .collect();
        let want_header = ev.tip_changed && self.subs.headers.is_some();
        if scripts.is_empty() && outpoints.is_empty() && !want_header {
            return;
        }
        let shared = self.shared.clone();
        let computed = tokio::task::spawn_blocking(move || {
            let header = want_header.then(|| {
                let c = shared.consistent(|_| ());
                (c.view.tip().tip_hash(), handlers::headers_result(&c.view))
            });
            let scripts: Vec<_> = scripts
                .into_iter()
                .map(|k| (k, scripts::history(&shared, &k).map(|h| h.status())))
                .collect();
            let outpoints: Vec<_> = outpoints
                .into_iter()
                .map(|(t, v)| ((t, v), scripts::outpoint_status(&shared, &t, v, &[])))
                .collect();
            (header, scripts, outpoints)
        })
        .await;
        let Ok((header, scripts, outpoints)) = computed else {
            return;
        };
        let mut sent = 0;
        if let Some((tip, Ok(result))) = header
            && self.subs.headers != Some(tip)
        {
            self.subs.headers = Some(tip);
            self.send(rpc::notification(
                "blockchain.headers.subscribe",
                json!([result]),
            ))
            .await;
            sent += 1;
        }
        let method = if v1_7 {
            "blockchain.scriptpubkey.subscribe"
        } else {
            "blockchain.scripthash.subscribe"
        };
        for (key, r) in scripts {
            match r {
                Ok(status) => {
                    let Some(sub) = self.subs.scripts.get_mut(&key) else {
                        continue;
                    };
                    if sub.status != status {
                        sub.status = status;
                        let msg = rpc::notification(
                            method,
                            json!([sub.name, scripts::status_hex(status)]),
                        );
                        self.send(msg).await;
                        sent += 1;
                    }
                }
                // As ElectrumX: a status that cannot be computed (history too large) ends
                // the subscription.
                Err(_) => {
                    self.subs.scripts.remove(&key);
                }
            }
        }
        for (o, r) in outpoints {
            let Ok(status) = r else { continue };
            if self
                .subs
                .outpoints
                .get(&o)
                .is_some_and(|old| *old != status)
            {
                let msg = rpc::notification(
                    "blockchain.outpoint.subscribe",
                    json!([o.0.to_string(), o.1, status.to_json()]),
                );
                self.subs.outpoints.insert(o, status);
                self.send(msg).await;
                sent += 1;
            }
        }
        if v1_7 && ev.tip_changed && sent < 2 {
            // ElectrumX's traffic-analysis noise: a ping about as long as a status update.
            self.send(rpc::notification("server.ping", json!(["0".repeat(128)])))
                .await;
        }
    }
}

/// A request's parameters for a log line, cut short.
fn params_text(params: &Params) -> String {
    let text = match params {
        Params::List(v) => serde_json::to_string(v),
        Params::Named(m) => serde_json::to_string(m),
    }
    .unwrap_or_default();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

/// What a request needs: its answer is known already (session state, or an error), a call,
/// or a client's `server.add_peer` (the peer manager may resolve the host: async).
enum Work {
    Ready(Reply),
    Call(&'static methods::Method, Vec<Option<Value>>),
    AddPeer(Arc<PeerManager>, Value, IpAddr),
    /// `blockchain.tweaks.subscribe`: its notifications go out on the session's channel
    /// before its reply.
    Tweaks(Vec<Option<Value>>, mpsc::Sender<Vec<u8>>),
}

/// A request that may wait: a concurrency slot and the throttling sleep of its session, then
/// its answer (known already, from the cache on the runtime, or from the blocking pool), all
/// within REQUEST_TIMEOUT (−102 after). The flag is set when the session is over its hard
/// limit (−101): it closes after the reply.
async fn gated(
    gate: &RequestGate,
    label: &str,
    name: &str,
    shared: Arc<Shared>,
    version: Version,
    work: Work,
) -> (Reply, Effect, bool) {
    let run = async {
        let _slot = gate.enter(label).await?;
        let (m, args) = match work {
            Work::Ready(reply) => return Ok((reply, Effect::None)),
            Work::AddPeer(peers, features, client) => {
                let added = peers.add_peer_from_client(&features, client).await;
                return Ok((Ok(Answer::Json(json!(added))), Effect::None));
            }
            Work::Call(m, args) => (m, args),
            Work::Tweaks(args, out) => {
                // Past REQUEST_TIMEOUT the client has its -102: stop sending blocks then.
                let deadline = Instant::now() + gate.timeout();
                let task = tokio::task::spawn_blocking(move || {
                    let mut sent = 0usize;
                    let r = super::tweaks::subscribe(&shared, &args, |msg| {
                        sent += msg.len() + 1;
                        Instant::now() < deadline && out.blocking_send(msg).is_ok()
                    });
                    match r {
                        Ok((done, sub)) => (Ok(Answer::Json(done)), Effect::Tweaks { sub, sent }),
                        Err(e) => (Err(e), Effect::None),
                    }
                });
                return Ok(task.await.unwrap_or_else(|e| {
                    tracing::error!("{label}: blockchain.tweaks.subscribe failed: {e}");
                    (
                        Err(RpcError::new(-32603, "internal server error")),
                        Effect::None,
                    )
                }));
            }
        };
        if let Some(fast) = handlers::try_fast(&shared, m, &args) {
            return Ok(fast);
        }
        let task = tokio::task::spawn_blocking(move || handlers::call(&shared, &version, m, &args));
        Ok(task.await.unwrap_or_else(|e| {
            tracing::error!("{label}: {} failed: {e}", m.name);
            (
                Err(RpcError::new(-32603, "internal server error")),
                Effect::None,
            )
        }))
    };
    match tokio::time::timeout(gate.timeout(), run).await {
        Ok(Ok((reply, effect))) => (reply, effect, false),
        Ok(Err(excessive)) => (Err(excessive), Effect::None, true),
        Err(_) => (Err(gate.busy(label, name)), Effect::None, false),
    }
}
