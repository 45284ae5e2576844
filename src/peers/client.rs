//! One outgoing Electrum JSON-RPC connection to a peer server: TCP or TLS, directly or through
//! a SOCKS5 proxy, with requests sent one at a time and replies matched by id.
//!
//! Everything the peer sends is hostile. A reply line is at most [`MAX_LINE_BYTES`]; every
//! request has a timeout and so does the connection; notifications (such as the header
//! notifications a `blockchain.headers.subscribe` starts) are skipped; anything that is not a
//! JSON-RPC reply to the request in flight is a [`ClientError`] saying what happened, never a
//! panic. TLS accepts any certificate, as ElectrumX does (`CERT_NONE`): peers use self-signed
//! certificates, and what a peer is worth is decided by the checks of
//! [`super::verify`], not by a CA. Onion hosts are handed to the proxy by name, never resolved
//! here. This file knows nothing of peers' policy.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{Value, json};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// Longest reply line accepted, in bytes (a `server.peers.subscribe` of a thousand peers is
/// about 100 KB).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// ElectrumX's `sent_request_timeout` for clearnet peers.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// ... and for peers reached over Tor.
pub const REQUEST_TIMEOUT_TOR: Duration = Duration::from_secs(120);
/// Longest error text kept from a peer.
const MAX_MESSAGE_CHARS: usize = 200;

/// Plain TCP or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Newline-delimited JSON over TCP.
    Tcp,
    /// The same inside TLS.
    Ssl,
}

impl Transport {
    /// `TCP` or `SSL`, as ElectrumX logs it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Ssl => "SSL",
        }
    }
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The SOCKS5 proxy to go through, if any.
    pub proxy: Option<SocketAddr>,
    /// The local address to connect from (direct connections only).
    pub local_addr: Option<IpAddr>,
    /// Longest time for name resolution, TCP, SOCKS and TLS together.
    pub connect_timeout: Duration,
    /// Longest wait for one reply.
    pub request_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            proxy: None,
            local_addr: None,
            connect_timeout: REQUEST_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// What went wrong talking to a peer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {why}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's answer.
        why: String,
    },
    /// No TCP connection (refused, unreachable...).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where to.
        addr: String,
        /// The system's error.
        source: io::Error,
    },
    /// The connection was not set up in time.
    #[error("connection not set up within {0:?}")]
    ConnectTimeout(Duration),
    /// The SOCKS5 proxy failed or refused.
    #[error("SOCKS proxy {proxy}: {why}")]
    Proxy {
        /// The proxy's address.
        proxy: SocketAddr,
        /// What failed.
        why: String,
    },
    /// The TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// No reply in time.
    #[error("no reply to {method} within {timeout:?}")]
    Timeout {
        /// The request.
        method: String,
        /// The limit.
        timeout: Duration,
    },
    /// The peer closed the connection.
    #[error("connection closed by the peer")]
    Closed,
    /// Reading or writing failed.
    #[error("connection error: {0}")]
    Io(io::Error),
    /// A reply line longer than [`MAX_LINE_BYTES`].
    #[error("reply line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    /// Something that is not a JSON-RPC reply to the request sent.
    #[error("bad reply to {method}: {why}")]
    BadReply {
        /// The request.
        method: String,
        /// What is wrong.
        why: String,
    },
    /// The peer answered with an error.
    #[error("{method}: RPC error {code}: {message}")]
    Rpc {
        /// The request.
        method: String,
        /// The error code.
        code: i64,
        /// The error message, shortened and without control characters.
        message: String,
    },
}

impl ClientError {
    /// Whether the peer spoke but not the protocol (garbage, oversize lines, wrong ids):
    /// a fault of the peer rather than of the path to it.
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            ClientError::LineTooLong | ClientError::BadReply { .. }
        )
    }
}

/// Any byte stream a connection can run over.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A connection to a peer.
pub struct PeerClient {
    reader: BufReader<ReadHalf<Box<dyn Stream>>>,
    writer: WriteHalf<Box<dyn Stream>>,
    next_id: u64,
    request_timeout: Duration,
    remote_ip: Option<IpAddr>,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("remote_ip", &self.remote_ip)
            .finish_non_exhaustive()
    }
}

impl PeerClient {
    /// Connects to `host:port` (a name, an IP address or an onion name) over `transport`.
    pub async fn connect(
        host: &str,
        port: u16,
        transport: Transport,
        opts: &ConnectOptions,
    ) -> Result<PeerClient, ClientError> {
        let connecting = async {
            let (stream, remote_ip): (Box<dyn Stream>, Option<IpAddr>) = match opts.proxy {
                Some(proxy) => {
                    let (s, ip) = via_proxy(proxy, host, port).await?;
                    (Box::new(s), ip)
                }
                None => {
                    let (s, ip) = direct(host, port, opts.local_addr).await?;
                    (Box::new(s), Some(ip))
                }
            };
            let stream: Box<dyn Stream> = match transport {
                Transport::Tcp => stream,
                Transport::Ssl => Box::new(tls(stream, host).await?),
            };
            Ok::<_, ClientError>((stream, remote_ip))
        };
        let (stream, remote_ip) = timeout(opts.connect_timeout, connecting)
            .await
            .map_err(|_| ClientError::ConnectTimeout(opts.connect_timeout))??;
        let (r, w) = tokio::io::split(stream);
        Ok(PeerClient {
            reader: BufReader::new(r),
            writer: w,
            next_id: 0,
            request_timeout: opts.request_timeout,
            remote_ip,
        })
    }

    /// The peer's address as connected to; `None` for an onion host reached by name.
    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.remote_ip
    }

    /// Sends one request and waits for its result.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        line.push('\n');
        let exchange = async {
            self.writer
                .write_all(line.as_bytes())
                .await
                .map_err(ClientError::Io)?;
            self.writer.flush().await.map_err(ClientError::Io)?;
            loop {
                let reply = read_line(&mut self.reader).await?;
                if let Some(result) = parse_reply(method, id, &reply)? {
                    return Ok(result);
                }
            }
        };
        timeout(self.request_timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                method: method.into(),
                timeout: self.request_timeout,
            })?
    }
}

/// Reads one line of at most [`MAX_LINE_BYTES`], without its newline.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Result<Vec<u8>, ClientError> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await.map_err(ClientError::Io)?;
        if buf.is_empty() {
            return Err(ClientError::Closed);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE_BYTES + 1 {
            return Err(ClientError::LineTooLong);
        }
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if done {
            line.pop();
            return Ok(line);
        }
    }
}

/// One line read while waiting for reply `id`: `Some(result)`, `None` for a notification or a
/// blank line, or an error.
fn parse_reply(method: &str, id: u64, line: &[u8]) -> Result<Option<Value>, ClientError> {
    let bad = |why: String| ClientError::BadReply {
        method: method.into(),
        why,
    };
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(line).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Value::Object(mut obj) = value else {
        return Err(bad("not a JSON-RPC object".into()));
    };
    let reply_id = obj.get("id").filter(|v| !v.is_null());
    if reply_id.is_none() && obj.contains_key("method") {
        return Ok(None); // a notification
    }
    if reply_id.and_then(Value::as_u64) != Some(id) {
        return Err(bad(format!(
            "id {} is not the request's",
            short(reply_id.unwrap_or(&Value::Null))
        )));
    }
    match obj.remove("error") {
        None | Some(Value::Null) => {}
        Some(e) => {
            let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| short(&e), clean);
            return Err(ClientError::Rpc {
                method: method.into(),
                code,
                message,
            });
        }
    }
    obj.remove("result")
        .map(Some)
        .ok_or_else(|| bad("neither result nor error".into()))
}

/// A peer's text made safe to log: no control characters, at most [`MAX_MESSAGE_CHARS`].
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// A JSON value shortened for an error message.
pub fn short(v: &Value) -> String {
    clean(&v.to_string())
}

/// A direct TCP connection: every resolved address in turn, from `local` when given.
async fn direct(
    host: &str,
    port: u16,
    local: Option<IpAddr>,
) -> Result<(TcpStream, IpAddr), ClientError> {
    if host.ends_with(".onion") {
        return Err(ClientError::Resolve {
            host: host.into(),
            why: "an onion host is reached only through a proxy".into(),
        });
    }
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| ClientError::Resolve {
                host: host.into(),
                why: e.to_string(),
            })?
            .take(8)
            .collect(),
    };
    let mut last = ClientError::Resolve {
        host: host.into(),
        why: "no addresses".into(),
    };
    for addr in addrs {
        let connect_err = |source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        };
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(connect_err)?;
        if let Some(local) = local.filter(|l| can_bind(*l, addr.ip())) {
            socket
                .bind(SocketAddr::new(local, 0))
                .map_err(connect_err)?;
        }
        match socket.connect(addr).await {
            Ok(stream) => return Ok((stream, addr.ip())),
            Err(e) => last = connect_err(e),
        }
    }
    Err(last)
}

/// Whether a connection to `target` may go out from `local` (the address we listen on): the
/// same family, and a loopback address only towards loopback (a socket bound to 127.0.0.1
/// cannot reach another host, and `SERVICES` defaults to 127.0.0.1).
pub(crate) fn can_bind(local: IpAddr, target: IpAddr) -> bool {
    local.is_ipv4() == target.is_ipv4() && (!local.is_loopback() || target.is_loopback())
}

/// A connection through a SOCKS5 proxy. Onion names go to the proxy as names; other names
/// are resolved here first, as ElectrumX does, so the peer's address is known.
async fn via_proxy(
    proxy: SocketAddr,
    host: &str,
    port: u16,
) -> Result<(tokio_socks::tcp::Socks5Stream<TcpStream>, Option<IpAddr>), ClientError> {
    let proxy_err = |e: tokio_socks::Error| ClientError::Proxy {
        proxy,
        why: e.to_string(),
    };
    if host.ends_with(".onion") {
        let s = tokio_socks::tcp::Socks5Stream::connect(proxy, (host, port))
            .await
            .map_err(proxy_err)?;
        return Ok((s, None));
    }
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .map(|a| a.ip())
            .ok_or_else(|| ClientError::Resolve {
                host: host.into(),
                why: "no addresses".into(),
            })?,
    };
    let s = tokio_socks::tcp::Socks5Stream::connect(proxy, SocketAddr::new(ip, port))
        .await
        .map_err(proxy_err)?;
    Ok((s, Some(ip)))
}

/// The TLS handshake, accepting any certificate.
async fn tls(
    stream: Box<dyn Stream>,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<Box<dyn Stream>>, ClientError> {
    let tls_err = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|e| tls_err(&e))?,
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| tls_err(&e))
}

/// Accepts any server certificate (ElectrumX's `CERT_NONE`), but still checks that the
/// handshake is signed by the certificate's key, with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
