//! Listening on the client services (`tcp`, `ssl`, `ws`, `wss`): accept, run the transport's
//! handshake in a task of its own, and hand the [`Channel`] to [`Sessions::serve`] tagged with
//! the transport's name.
//!
//! Every address is bound before any accepts, so a port in use fails start-up. A handshake
//! (TLS, WebSocket or both) that fails or takes longer than [`HANDSHAKE_TIMEOUT`] closes that
//! connection only: garbage, a plain client on a TLS port and the like never reach a session.
//! With a TLS service, [`TlsCerts::watch`] runs beside the listeners to reload the certificate.

use super::tls::TlsCerts;
use super::{Channel, newline_channel, ws};
use crate::config::{Service, ServiceProtocol};
use anyhow::{Context, Result, anyhow};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The longest a client may take over the TLS and WebSocket handshakes.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the listeners hand their connections to.
pub trait Sessions: Send + Sync + 'static {
    /// Whether to take a connection from `peer` at all (before any handshake). The default
    /// takes every one.
    fn admit(&self, _peer: SocketAddr, _transport: &'static str) -> bool {
        true
    }

    /// While the receiver holds true, listeners close their sockets (MAX_SESSIONS); None:
    /// never pause.
    fn paused(&self) -> Option<watch::Receiver<bool>> {
        None
    }

    /// Serves one connection (spawns its session).
    fn serve(&self, channel: Channel, peer: SocketAddr, transport: &'static str);
}

/// The running listeners; dropping it (or [`Listeners::stop`]) stops accepting.
pub struct Listeners {
    tasks: Vec<JoinHandle<()>>,
    /// The bound addresses, in the order of the services given.
    pub addresses: Vec<(Service, SocketAddr)>,
}

impl Listeners {
    /// Stops accepting; sessions already running are not touched.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The transport name sessions are tagged with; `None` for the admin `rpc` service.
pub fn transport_name(p: ServiceProtocol) -> Option<&'static str> {
    match p {
        ServiceProtocol::Tcp => Some("tcp"),
        ServiceProtocol::Ssl => Some("ssl"),
        ServiceProtocol::Ws => Some("ws"),
        ServiceProtocol::Wss => Some("wss"),
        ServiceProtocol::Rpc => None,
    }
}

/// Binds every client service of `services` (the `rpc` one is skipped) and starts accepting.
/// `tls` is required when there is an ssl or wss service (see [`TlsCerts::for_services`]).
pub async fn start(
    services: &[Service],
    tls: Option<Arc<TlsCerts>>,
    max_recv: usize,
    sessions: Arc<dyn Sessions>,
) -> Result<Listeners> {
    let mut bound = Vec::new();
    for s in services {
        let Some(name) = transport_name(s.protocol) else {
            continue;
        };
        let needs_tls = matches!(s.protocol, ServiceProtocol::Ssl | ServiceProtocol::Wss);
        if needs_tls && tls.is_none() {
            return Err(anyhow!("{s}: no TLS certificate (SSL_CERTFILE) is loaded"));
        }
        let addr = s.bind_address();
        let l = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {s} ({addr})"))?;
        let local = l
            .local_addr()
            .with_context(|| format!("{s}: local address"))?;
        bound.push((s.clone(), name, l, local));
    }
    let mut listeners = Listeners {
        tasks: Vec::new(),
        addresses: Vec::new(),
    };
    for (s, name, l, local) in bound {
        tracing::info!("listening on {s}");
        let ctx = Arc::new(Ctx {
            protocol: s.protocol,
            name,
            tls: tls.clone(),
            max_recv,
            sessions: sessions.clone(),
        });
        listeners.tasks.push(tokio::spawn(accept_loop(l, ctx)));
        listeners.addresses.push((s, local));
    }
    if let Some(tls) = tls {
        listeners.tasks.push(tokio::spawn(tls.watch()));
    }
    Ok(listeners)
}

/// What one listener needs for each connection.
struct Ctx {
    protocol: ServiceProtocol,
    name: &'static str,
    tls: Option<Arc<TlsCerts>>,
    max_recv: usize,
    sessions: Arc<dyn Sessions>,
}

async fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    let paused = ctx
        .sessions
        .paused()
        .unwrap_or_else(|| watch::channel(false).1);
    let mut listener = match super::pausable::Listener::new(listener, paused) {
        Ok(l) => l,
        Err(e) => return tracing::error!("cannot accept: {e}"),
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if !ctx.sessions.admit(peer, ctx.name) {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                if ctx.protocol == ServiceProtocol::Tcp {
                    // No handshake: serve at once.
                    let (r, w) = stream.into_split();
                    let channel = newline_channel(r, w, ctx.max_recv);
                    ctx.sessions.serve(channel, peer, ctx.name);
                    continue;
                }
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, &ctx));
                    match handshake.await {
                        Ok(Ok(channel)) => ctx.sessions.serve(channel, peer, ctx.name),
                        Ok(Err(e)) => tracing::debug!("{}://{peer}: {e}", ctx.name),
                        Err(_) => tracing::debug!("{}://{peer}: handshake timed out", ctx.name),
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The TLS and/or WebSocket handshakes of a connection to an ssl, ws or wss service.
async fn handshake(stream: TcpStream, ctx: &Ctx) -> Result<Channel, String> {
    let acceptor = || {
        ctx.tls
            .as_ref()
            .map(|t| t.acceptor())
            .ok_or_else(|| "no TLS certificate".to_string())
    };
    match ctx.protocol {
        ServiceProtocol::Ssl => {
            let tls = acceptor()?
                .accept(stream)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            let (r, w) = tokio::io::split(tls);
            Ok(newline_channel(r, w, ctx.max_recv))
        }
        ServiceProtocol::Ws => ws::accept(stream, ctx.max_recv)
            .await
            .map_err(|e| format!("WebSocket handshake failed: {e}")),
        ServiceProtocol::Wss => {
            let tls = acceptor()?
                .accept(stream)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            ws::accept(tls, ctx.max_recv)
                .await
                .map_err(|e| format!("WebSocket handshake failed: {e}"))
        }
        ServiceProtocol::Tcp | ServiceProtocol::Rpc => Err("not a handshake service".into()),
    }
}
