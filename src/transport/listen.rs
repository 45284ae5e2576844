//! Listening on the client services (`tcp`, `ssl`, `ws`, `wss`): accept, run the transport's
//! handshake in a task of its own, and hand the [`Channel`] to [`Sessions::serve`] tagged with
//! the transport's name.
//!
//! Every address is bound before any accepts, so a port in use fails start-up. A handshake
//! (TLS, WebSocket or both) that fails or takes longer than [`HANDSHAKE_TIMEOUT`] closes that
//! connection only: garbage, a plain client on a TLS port and the like never reach a session.
//! With a TLS service, [`TlsCerts::watch`] runs beside the listeners to reload the certificate.
//!
//! Behind a load balancer ([`Sessions::proxies`], `FERRUM_PROXY_FROM`), a connection from a
//! listed proxy must start with a PROXY protocol header ([`super::proxy`]), before any TLS or
//! WebSocket bytes, and the client address it names is the one admitted and served; any other
//! connection must not carry one. Both refusals are logged (rate-limited) and close only that
//! connection. The header counts against the handshake's time.

use super::proxy::{self, Header, Prefixed};
use super::tls::TlsCerts;
use super::{Channel, newline_channel, ws};
use crate::config::{Service, ServiceProtocol};
use crate::limits::{Cidr, net};
use anyhow::{Context, Result, anyhow};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
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

    /// The load balancers whose connections carry a PROXY header (and whose only); empty:
    /// none, and no connection is read before its handshake.
    fn proxies(&self) -> &[Cidr] {
        &[]
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
            Ok((stream, conn_peer)) => {
                let proxies = ctx.sessions.proxies();
                let expect_headers = !proxies.is_empty();
                let from_proxy = net::listed(proxies, net::canonical(conn_peer.ip()));
                // A proxied client is admitted once its header names it.
                if !from_proxy && !ctx.sessions.admit(conn_peer, ctx.name) {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                if ctx.protocol == ServiceProtocol::Tcp && !expect_headers {
                    // No handshake: serve at once.
                    let (r, w) = stream.into_split();
                    let channel = newline_channel(r, w, ctx.max_recv);
                    ctx.sessions.serve(channel, conn_peer, ctx.name);
                    continue;
                }
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let connect = async {
                        let (stream, peer) = if expect_headers {
                            proxied(stream, conn_peer, from_proxy, ctx.name).await?
                        } else {
                            (Prefixed::new(Vec::new(), stream), conn_peer)
                        };
                        if from_proxy && !ctx.sessions.admit(peer, ctx.name) {
                            return Err(None::<String>);
                        }
                        let channel = handshake(stream, &ctx).await.map_err(Some)?;
                        Ok((channel, peer))
                    };
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
                        Ok(Ok((channel, peer))) => ctx.sessions.serve(channel, peer, ctx.name),
                        Ok(Err(None)) => {}
                        Ok(Err(Some(e))) => tracing::debug!("{}://{conn_peer}: {e}", ctx.name),
                        Err(_) => {
                            tracing::debug!("{}://{conn_peer}: handshake timed out", ctx.name)
                        }
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

/// Reads the PROXY header a connection from a proxy must start with (and one from anyone
/// else must not); the stream with what was read past the header, and the client's address.
/// A refusal is logged here (rate-limited) and is `Err(None)`.
async fn proxied(
    mut stream: TcpStream,
    conn_peer: SocketAddr,
    from_proxy: bool,
    transport: &str,
) -> Result<(Prefixed<TcpStream>, SocketAddr), Option<String>> {
    let refuse = |why: String| {
        crate::limited!(
            "proxy",
            warn,
            "{transport}://{}: refused: {why}",
            crate::metrics::logs::addr(&conn_peer)
        );
        None
    };
    let (header, rest) = match proxy::read_header(&mut stream).await {
        Ok(read) => read,
        // A port probe (connect, close): nothing to warn about.
        Err(proxy::ProxyError::Empty) => return Err(None),
        Err(e) => return Err(refuse(e.to_string())),
    };
    let peer = match (from_proxy, header) {
        (true, Some(Header::Proxied { source, .. })) => source,
        (true, Some(Header::Local)) => conn_peer,
        (true, None) => {
            return Err(refuse(
                "no PROXY header from a proxy (FERRUM_PROXY_FROM)".into(),
            ));
        }
        (false, Some(_)) => {
            return Err(refuse(
                "a PROXY header from an address not in FERRUM_PROXY_FROM".into(),
            ));
        }
        (false, None) => conn_peer,
    };
    Ok((Prefixed::new(rest, stream), peer))
}

/// The TLS and/or WebSocket handshakes of a connection (none for tcp).
async fn handshake<S>(stream: S, ctx: &Ctx) -> Result<Channel, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
        ServiceProtocol::Tcp => {
            let (r, w) = tokio::io::split(stream);
            Ok(newline_channel(r, w, ctx.max_recv))
        }
        ServiceProtocol::Rpc => Err("not a client service".into()),
    }
}
