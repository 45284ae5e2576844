//! One client session over any transport ([`crate::transport`]): version negotiation,
//! requests and batches (each answered from a blocking thread so a slow one never blocks the
//! runtime), subscriptions, and notifications when a published change touches them.

use super::handlers::{self, Effect};
use super::methods::{self, Version};
use super::registry::SessionInfo;
use super::rpc::{
    self, Answer, BAD_REQUEST, Incoming, Params, Reply, Request, RpcError, RpcResult,
};
use super::scripts::{self, OutpointStatus};
use super::{Event, Shared};
use crate::transport::{Channel, Frame};
use crate::types::ScriptKey;
use bitcoin::{BlockHash, Txid};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

/// A subscribed script: the name the client used and the last status it was sent.
struct ScriptSub {
    name: String,
    status: Option<[u8; 32]>,
    /// The status involved mempool entries (re-checked on every block, as ElectrumX does).
    mempool: bool,
}

#[derive(Default)]
struct Subs {
    headers: Option<Option<BlockHash>>,
    scripts: HashMap<ScriptKey, ScriptSub>,
    outpoints: HashMap<(Txid, u32), OutpointStatus>,
}

/// Requests one session may have running at once (ElectrumX's INITIAL_CONCURRENT is 10).
const MAX_INFLIGHT: usize = 8;

/// A request that was answered on the blocking pool.
struct Completed {
    id: Option<Value>,
    v1: bool,
    timing: Timing,
    reply: Reply,
    effect: Effect,
    /// `events_seen` when it started.
    events: u64,
}

/// A request's method and start, for the latency and error metrics.
#[derive(Clone, Copy)]
struct Timing {
    method: &'static str,
    started: Instant,
}

impl Timing {
    fn start(method: &str) -> Timing {
        Timing {
            method: crate::metrics::method_label(method),
            started: Instant::now(),
        }
    }
}

enum Prepared {
    Now(RpcResult),
    Call(&'static methods::Method, Vec<Option<Value>>),
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
    let registration = shared.sessions.register(peer, transport);
    let info = registration.info.clone();
    let mut s = Session {
        shared,
        peer: format!("{transport}://{}", crate::metrics::logs::addr(&peer)),
        info: info.clone(),
        version: None,
        subs: Subs::default(),
        out: outgoing,
        disconnect: false,
        events_seen: 0,
    };
    let mut inflight: JoinSet<Completed> = JoinSet::new();
    tracing::debug!("{}: connected", s.peer);
    while !s.disconnect && !*shutdown.borrow() {
        tokio::select! {
            _ = info.close.notified() => break,
            _ = shutdown.changed() => break,
            Some(done) = inflight.join_next(), if !inflight.is_empty() => match done {
                Ok(done) => s.completed(done).await,
                Err(e) => tracing::error!("{}: a request failed: {e}", s.peer),
            },
            frame = incoming.recv(), if inflight.len() < MAX_INFLIGHT => match frame {
                Some(Frame::Message(m)) => {
                    info.bytes_received.fetch_add(m.len() as u64 + 1, Ordering::Relaxed);
                    s.on_message(&m, &mut inflight).await
                }
                Some(Frame::Oversized) => {
                    tracing::info!(
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
                // Single requests run concurrently (up to MAX_INFLIGHT per session), so a
                // wallet's pipelined subscriptions use every core; replies go out as they
                // complete, matched by id.
                let Request {
                    id,
                    method,
                    params,
                    v1,
                } = req;
                self.count_request(&method, &params);
                let timing = Timing::start(&method);
                match self.prepare(&method, params, id.is_none()) {
                    Prepared::Now(result) => {
                        self.finish(id, v1, result.map(Answer::Json), timing).await
                    }
                    Prepared::Call(m, args) => {
                        if let Some((reply, effect)) = handlers::try_fast(&self.shared, m, &args) {
                            self.apply(effect);
                            self.finish(id, v1, reply, timing).await;
                            return;
                        }
                        let shared = self.shared.clone();
                        let version = self.version.clone().unwrap_or_default();
                        let events = self.events_seen;
                        inflight.spawn_blocking(move || {
                            let (reply, effect) = handlers::call(&shared, &version, m, &args);
                            Completed {
                                id,
                                v1,
                                timing,
                                reply,
                                effect,
                                events,
                            }
                        });
                    }
                }
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
                        Err(reply) => (None, reply),
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
            }
            Incoming::Invalid(reply) => self.send(reply).await,
            Incoming::Ignore => {}
        }
    }

    /// Sends the reply to a request (nothing for a notification).
    async fn finish(&mut self, id: Option<Value>, v1: bool, result: Reply, timing: Timing) {
        if let Some(reply) = self.encode(id, v1, &result, timing) {
            self.send(reply).await;
        }
    }

    /// Records the request's latency (and error) and encodes the reply (None for a
    /// notification).
    fn encode(&self, id: Option<Value>, v1: bool, result: &Reply, t: Timing) -> Option<Vec<u8>> {
        if result.is_err() {
            self.info.errors.fetch_add(1, Ordering::Relaxed);
        }
        crate::metrics::request(t.method, t.started.elapsed(), result.is_err());
        Some(rpc::reply(&id?, result, v1, self.max_send()))
    }

    /// A request that ran on the blocking pool: record its subscription, then reply.
    async fn completed(&mut self, done: Completed) {
        let Completed {
            id,
            v1,
            timing,
            reply,
            effect,
            events,
        } = done;
        let raced = events != self.events_seen;
        let recheck = self.apply(effect);
        self.finish(id, v1, reply, timing).await;
        // A change published while the request ran may already have been notified without
        // this subscription: look at it again.
        if raced && let Some(ev) = recheck {
            self.notify(&ev).await;
        }
    }

    /// Answers one request in order (batch members); None for notifications.
    async fn on_request(&mut self, req: Request) -> Option<Vec<u8>> {
        let Request {
            id,
            method,
            params,
            v1,
        } = req;
        self.count_request(&method, &params);
        let timing = Timing::start(&method);
        let result = match self.prepare(&method, params, id.is_none()) {
            Prepared::Now(r) => r.map(Answer::Json),
            Prepared::Call(m, args) => {
                if let Some((reply, effect)) = handlers::try_fast(&self.shared, m, &args) {
                    self.apply(effect);
                    return self.encode(id, v1, &reply, timing);
                }
                let shared = self.shared.clone();
                let version = self.version.clone().unwrap_or_default();
                let task = tokio::task::spawn_blocking(move || {
                    handlers::call(&shared, &version, m, &args)
                })
                .await;
                match task {
                    Ok((result, effect)) => {
                        self.apply(effect);
                        result
                    }
                    Err(e) => {
                        tracing::error!("{}: {method} failed: {e}", self.peer);
                        Err(RpcError::new(-32603, "internal server error"))
                    }
                }
            }
        };
        self.encode(id, v1, &result, timing)
    }

    /// What a request needs: an answer now (session state only, or an error), or a call.
    fn prepare(&mut self, method: &str, params: Params, notification: bool) -> Prepared {
        let r = (|| {
            if method == "server.version" {
                let m = methods::lookup(method, methods::PROTOCOL_MIN)?;
                let args = methods::bind(m, params)?;
                return Ok(Prepared::Now(self.server_version(&args)));
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
                return Ok(Prepared::Now(Ok(Value::Null)));
            }
            let m = methods::lookup(method, &version)?;
            let args = methods::bind(m, params)?;
            if let Some(r) = self.unsubscribe(method, &args) {
                return Ok(Prepared::Now(r));
            }
            Ok(Prepared::Call(m, args))
        })();
        r.unwrap_or_else(|e| Prepared::Now(Err(e)))
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
            Effect::Script {
                key,
                name,
                status,
                mempool,
            } => {
                self.subs.scripts.insert(
                    key,
                    ScriptSub {
                        name,
                        status,
                        mempool,
                    },
                );
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
        };
        self.count_subscriptions();
        Some(ev)
    }

    /// Counts a request in the registry (admin RPC, metrics) and logs it if the admin RPC's
    /// `log` asked for this session.
    fn count_request(&self, method: &str, params: &Params) {
        let info = &self.info;
        info.requests.fetch_add(1, Ordering::Relaxed);
        if info.logged.load(Ordering::Relaxed) {
            tracing::info!("{}: {method} {}", self.peer, params_text(params));
        }
        if let Ok(mut m) = info.method_counts.lock() {
            // Bounded: unknown method names are counted under one key.
            *m.entry(crate::metrics::method_label(method).to_string())
                .or_default() += 1;
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
            _ => return None,
        };
        self.count_subscriptions();
        Some(r)
    }

    /// Sends what changed for this session's subscriptions.
    async fn notify(&mut self, ev: &Event) {
        let Some(version) = self.version.clone() else {
            return;
        };
        let v1_7 = version.as_slice() >= [1, 7].as_slice();
        let scripts: Vec<ScriptKey> = self
            .subs
            .scripts
            .iter()
            .filter(|(k, sub)| {
                ev.all_scripts || ev.scripts.contains(*k) || (ev.tip_changed && sub.mempool)
            })
            .map(|(k, _)| *k)
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
                .map(|k| {
                    (
                        k,
                        scripts::history(&shared, &k).map(|h| (h.status(), !h.mempool.is_empty())),
                    )
                })
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
                Ok((status, mempool)) => {
                    let Some(sub) = self.subs.scripts.get_mut(&key) else {
                        continue;
                    };
                    sub.mempool = mempool;
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
