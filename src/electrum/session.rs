//! One client session over any transport ([`crate::transport`]): version negotiation,
//! requests and batches (each answered from a blocking thread so a slow one never blocks the
//! runtime), subscriptions, and notifications when a published change touches them.

use super::handlers::{self, Effect};
use super::methods::{self, Version};
use super::registry::SessionInfo;
use super::rpc::{self, BAD_REQUEST, Incoming, Params, Request, RpcError, RpcResult};
use super::scripts::{self, OutpointStatus};
use super::{Event, Shared};
use crate::limits::SessionLimits;
use crate::transport::{Channel, Frame};
use crate::types::ScriptKey;
use bitcoin::{BlockHash, Txid};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{broadcast, mpsc};

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

struct Session {
    shared: Arc<Shared>,
    peer: String,
    info: Arc<SessionInfo>,
    /// None until `server.version`.
    version: Option<Version>,
    subs: Subs,
    out: mpsc::Sender<Vec<u8>>,
    disconnect: bool,
    /// Cost, throttling and idle timeout ([`crate::limits`]).
    limits: SessionLimits,
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
    let label = format!("{transport}://{peer}");
    // The per-IP cap may refuse the session: dropping the channel closes the connection.
    let Some(limits) = shared.limits.open(peer, &label) else {
        return;
    };
    let registration = shared.sessions.register(peer, transport);
    let info = registration.info.clone();
    let mut s = Session {
        shared,
        peer: label,
        info: info.clone(),
        version: None,
        subs: Subs::default(),
        out: outgoing,
        disconnect: false,
        limits,
    };
    tracing::debug!("{}: connected", s.peer);
    while !s.disconnect && !*shutdown.borrow() {
        tokio::select! {
            _ = info.close.notified() => break,
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep_until(s.limits.idle_deadline()) => {
                crate::limited!("idle", info, "{}: closing stale session (SESSION_TIMEOUT)", s.peer);
                break;
            }
            frame = incoming.recv() => match frame {
                Some(Frame::Message(m)) => {
                    info.bytes_received.fetch_add(m.len() as u64 + 1, Ordering::Relaxed);
                    s.limits.received(m.len() + 1);
                    s.on_message(&m).await
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
            ev = events.recv() => match ev {
                Ok(ev) => s.notify(&ev).await,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let ev = Event { tip_changed: true, all_scripts: true, ..Default::default() };
                    s.notify(&ev).await;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
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

    async fn on_message(&mut self, message: &[u8]) {
        match rpc::parse(message) {
            Incoming::Single(req) => {
                if let Some(reply) = self.on_request(req).await {
                    self.send(reply).await;
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
            }
            Incoming::Invalid(reply) => {
                self.limits.invalid(&reply);
                self.send(reply).await
            }
            Incoming::Ignore => {}
        }
    }

    /// Answers one request; None for notifications.
    async fn on_request(&mut self, req: Request) -> Option<Vec<u8>> {
        let Request {
            id,
            method,
            params,
            v1,
        } = req;
        // aiorpcx _throttled_request: a slot, the throttling sleep and the handler within
        // REQUEST_TIMEOUT; -101 (and disconnect) over the hard limit; every error costs.
        let gate = self.limits.gate();
        let request_cost = SessionLimits::request_cost(&method, &params);
        let label = self.peer.clone();
        let run = async {
            let _slot = gate.enter(&label).await?;
            Ok::<RpcResult, RpcError>(self.dispatch(&method, params, id.is_none()).await)
        };
        let result = match tokio::time::timeout(gate.timeout(), run).await {
            Ok(Ok(r)) => r,
            Ok(Err(excessive)) => {
                self.disconnect = true;
                Err(excessive)
            }
            Err(_) => Err(gate.busy(&label, &method)),
        };
        let subs = self.subs.scripts.len() + self.subs.outpoints.len();
        self.limits.charge(&method, request_cost, &result, subs);
        let id = id?;
        Some(rpc::reply(&id, &result, v1, self.max_send()))
    }

    async fn dispatch(&mut self, method: &str, params: Params, notification: bool) -> RpcResult {
        if method == "server.version" {
            let m = methods::lookup(method, methods::PROTOCOL_MIN)?;
            let args = methods::bind(m, params)?;
            return self.server_version(&args);
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
            return Ok(Value::Null);
        }
        let m = methods::lookup(method, &version)?;
        let args = methods::bind(m, params)?;
        if let Some(r) = self.unsubscribe(method, &args) {
            return r;
        }
        let shared = self.shared.clone();
        let v = version.clone();
        let task = tokio::task::spawn_blocking(move || handlers::call(&shared, &v, m, &args)).await;
        let (result, effect) = match task {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("{}: {method} failed: {e}", self.peer);
                return Err(RpcError::new(-32603, "internal server error"));
            }
        };
        match effect {
            Effect::None => {}
            Effect::Headers(tip) => self.subs.headers = Some(tip),
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
            }
            Effect::Outpoint { txid, vout, status } => {
                self.subs.outpoints.insert((txid, vout), status);
            }
        }
        result
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
        if let Some(Some(name)) = args.first()
            && name != &Value::String(String::new())
        {
            let name = match name {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if self.shared.limits.drop_client(&name) {
                self.disconnect = true;
                return Err(RpcError::bad_request(format!("unsupported client: {name}")));
            }
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
            _ => return None,
        };
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
