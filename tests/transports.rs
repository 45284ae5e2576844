//! Transports against a real server and real clients: TLS (`ssl://`) with a certificate made
//! here by rcgen and a rustls client that trusts only its CA, certificate rotation and a failed
//! reload during live sessions, WebSocket framing over `ws://` and `wss://` with a
//! tokio-tungstenite client, and bad input on each port (handshake garbage, the wrong protocol,
//! invalid WebSocket frames), each followed by a check that another session is still served.
//!
//! Waits are bounded polls (a deadline turns a hang into a failure); nothing asserts how long
//! anything took.

mod common;

use common::server::{Checks, Client, FerrumServer, base_env, free_port};
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Bounds every wait for something that should come.
const WAIT: Duration = Duration::from_secs(60);
/// How long to wait for something that should not come (a reply to garbage).
const SHORT: Duration = Duration::from_secs(5);
const BLOCKS: u64 = 3;

// ---- certificates ----

/// A CA and the leaf certificates it signs for `localhost`.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

/// A leaf certificate: PEM files' contents and the DER the client sees.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self) -> Leaf {
        let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// Replaces `path` by a rename, as certificate tools do.
fn write_atomic(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Installs `leaf` as the server's key and certificate files (key first).
fn install(leaf: &Leaf, cert: &Path, key: &Path) {
    write_atomic(key, &leaf.key_pem);
    write_atomic(cert, &leaf.cert_pem);
}

fn connector(ca: &Ca) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to 127.0.0.1:`port` checking the certificate for `localhost`.
async fn tls_connect(port: u16, connector: &TlsConnector) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

fn peer_cert(s: &TlsStream<TcpStream>) -> Option<CertificateDer<'static>> {
    s.get_ref().1.peer_certificates()?.first().cloned()
}

// ---- clients ----

/// Newline-framed JSON-RPC over any stream (TLS here).
struct Lines<S> {
    reader: BufReader<tokio::io::ReadHalf<S>>,
    writer: tokio::io::WriteHalf<S>,
    id: u64,
}

impl<S: AsyncRead + AsyncWrite> Lines<S> {
    fn new(stream: S) -> Self {
        let (r, w) = tokio::io::split(stream);
        Lines {
            reader: BufReader::new(r),
            writer: w,
            id: 0,
        }
    }

    /// One request; its reply (notifications skipped), or `None` on close or after `WAIT`.
    async fn request(&mut self, method: &str, params: Value) -> Option<Value> {
        self.id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params});
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.writer.write_all(&line).await.ok()?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut buf = String::new();
            let n = tokio::time::timeout_at(deadline, self.reader.read_line(&mut buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            let v: Value = serde_json::from_str(&buf).ok()?;
            if v["id"] == json!(self.id) {
                return Some(v);
            }
        }
    }
}

/// JSON-RPC over WebSocket: one request per text message.
struct Ws<S> {
    ws: WebSocketStream<S>,
    id: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Ws<S> {
    async fn open(stream: S) -> Self {
        let (ws, _) = tokio_tungstenite::client_async("ws://localhost/", stream)
            .await
            .expect("WebSocket handshake");
        Ws { ws, id: 0 }
    }

    fn next_request(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params})
    }

    /// The next message other than ping/pong: `None` after `WAIT`, on error or at the end.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(m))) => return Some(m),
                _ => return None,
            }
        }
    }

    /// The next JSON text message (`Null` for anything else), with its raw text.
    async fn recv_json(&mut self) -> (Value, String) {
        match self.recv().await {
            Some(Message::Text(t)) => (
                serde_json::from_str(t.as_str()).unwrap_or(Value::Null),
                t.as_str().to_string(),
            ),
            other => (Value::Null, format!("{other:?}")),
        }
    }

    /// One request as a text message; the reply and its raw text.
    async fn request(&mut self, method: &str, params: Value) -> (Value, String) {
        let msg = self.next_request(method, params);
        if self.ws.send(Message::text(msg.to_string())).await.is_err() {
            return (Value::Null, "send failed".into());
        }
        self.recv_json().await
    }

    /// How the server ended the connection after garbage: its close code, if it sent one.
    async fn close_code(&mut self) -> Result<Option<CloseCode>, String> {
        match tokio::time::timeout(WAIT, self.ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => Ok(f.map(|f| f.code)),
            Ok(Some(Ok(m))) => Err(format!("got a message instead: {m:?}")),
            Ok(Some(Err(e))) => Err(format!("error before a close frame: {e}")),
            Ok(None) => Err("closed without a close frame".into()),
            Err(_) => Err("not closed".into()),
        }
    }
}

/// A client frame written as raw bytes: FIN, `opcode`, masked unless `unmasked`.
fn raw_frame(opcode: u8, payload: &[u8], unmasked: bool) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![0x80 | opcode];
    if unmasked {
        f.push(payload.len() as u8);
        f.extend_from_slice(payload);
    } else {
        let mask = [0x12, 0x34, 0x56, 0x78];
        f.push(0x80 | payload.len() as u8);
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    }
    f
}

// ---- the server ----

struct Fixture {
    d: Bitcoind,
    server: FerrumServer,
    dir: tempfile::TempDir,
    ca: Ca,
    leaf: Leaf,
    /// Ports of the extra services, by protocol.
    ports: Vec<(&'static str, u16)>,
}

impl Fixture {
    /// A chain of `BLOCKS` blocks and a server with tcp plus `extra` services (ssl, ws, wss)
    /// on free loopback ports, the certificate files from a new CA, and `env`.
    fn start(extra: &[&'static str], env: &[(&str, &str)]) -> Fixture {
        let d = Bitcoind::start().unwrap();
        ChainBuilder::new(3).mine_empty(&d, BLOCKS as u32).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new();
        let leaf = ca.leaf();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        install(&leaf, &cert, &key);
        let ports: Vec<(&'static str, u16)> = extra.iter().map(|p| (*p, free_port())).collect();
        let mut services = "tcp://127.0.0.1:{port}".to_string();
        for (p, port) in &ports {
            services.push_str(&format!(",{p}://127.0.0.1:{port}"));
        }
        let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
        let mut all = base_env();
        all.extend_from_slice(&[
            ("SERVICES", services.as_str()),
            ("SSL_CERTFILE", cert_s.as_str()),
            ("SSL_KEYFILE", key_s.as_str()),
        ]);
        all.extend_from_slice(env);
        let server = FerrumServer::start(&d, &all);
        // Every listener opens with the TCP one; wait for each all the same.
        for (p, port) in &ports {
            let deadline = Instant::now() + WAIT;
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(Instant::now() < deadline, "{p} port {port} never opened");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Fixture {
            d,
            server,
            dir,
            ca,
            leaf,
            ports,
        }
    }

    fn port(&self, protocol: &str) -> u16 {
        if protocol == "tcp" {
            return self.server.port();
        }
        self.ports.iter().find(|(p, _)| *p == protocol).unwrap().1
    }

    fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

/// The tip height a `blockchain.headers.subscribe` reply reports.
fn height(r: &Value) -> Option<u64> {
    r["result"]["height"].as_u64()
}

/// A TLS session that negotiated 1.4; panics if it cannot.
async fn tls_session(port: u16, c: &TlsConnector) -> Lines<TlsStream<TcpStream>> {
    let s = tls_connect(port, c).await.expect("TLS handshake");
    let mut l = Lines::new(s);
    let r = l.request("server.version", json!(["tests", "1.4"])).await;
    assert_eq!(r.map(|r| r["result"][1].clone()), Some(json!("1.4")));
    l
}

/// Polls new TLS connections until one presents `want` (or `WAIT` passes).
async fn wait_for_cert(port: u16, c: &TlsConnector, want: &CertificateDer<'_>) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(s) = tls_connect(port, c).await
            && peer_cert(&s).as_ref() == Some(want)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_and_reloads_certificate_without_dropping_sessions() {
    let f = Fixture::start(&["ssl"], &[]);
    let port = f.port("ssl");
    let tls = connector(&f.ca);
    let mut k = Checks::default();

    // A real TLS client that trusts only the CA: the certificate verifies for localhost.
    let s = tls_connect(port, &tls).await.expect("TLS handshake");
    k.check(
        "the server presents SSL_CERTFILE",
        peer_cert(&s).as_ref() == Some(&f.leaf.der),
        "another certificate",
    );
    let mut old = Lines::new(s);
    let r = old.request("server.version", json!(["tests", "1.4"])).await;
    k.check(
        "server.version over TLS",
        r.as_ref().map(|r| r["result"][1].clone()) == Some(json!("1.4")),
        format!("{r:?}"),
    );
    let r = old.request("blockchain.headers.subscribe", json!([])).await;
    k.check(
        "a query over TLS",
        r.as_ref().and_then(height) == Some(BLOCKS),
        format!("{r:?}"),
    );

    // Rotation: new handshakes get the new certificate, the old session goes on.
    let second = f.ca.leaf();
    install(&second, &f.cert_path(), &f.key_path());
    k.check(
        "a new connection sees the rotated certificate",
        wait_for_cert(port, &tls, &second.der).await,
        "the old certificate until the deadline",
    );
    let r = old.request("blockchain.block.header", json!([1])).await;
    k.check(
        "the session opened before the rotation is still served",
        r.as_ref().is_some_and(|r| r["result"].is_string()),
        format!("{r:?}"),
    );
    let mut new = tls_session(port, &tls).await;

    // A reload that fails keeps the previous certificate and says why.
    write_atomic(&f.cert_path(), "-----BEGIN CERTIFICATE-----\nnot base64!\n");
    let deadline = Instant::now() + WAIT;
    while !f
        .server
        .stderr()
        .contains("cannot reload the TLS certificate")
    {
        assert!(Instant::now() < deadline, "no log of the failed reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = tls_connect(port, &tls).await;
    k.check(
        "after a failed reload new connections get the previous certificate",
        s.as_ref().ok().and_then(peer_cert).as_ref() == Some(&second.der),
        format!("{:?}", s.as_ref().err()),
    );
    if let Ok(s) = s {
        let mut l = Lines::new(s);
        let r = l.request("server.version", json!(["tests", "1.4"])).await;
        k.check(
            "and are served",
            r.is_some_and(|r| r["result"][1] == json!("1.4")),
            "no reply",
        );
    }
    for (what, c) in [("rotation", &mut old), ("failed reload", &mut new)] {
        let r = c.request("blockchain.headers.subscribe", json!([])).await;
        k.check(
            &format!("the session from before the {what} is served after the failed reload"),
            r.as_ref().and_then(height) == Some(BLOCKS),
            format!("{r:?}"),
        );
    }
    let log = f.server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("cannot reload the TLS certificate"))
        .unwrap_or_default();
    k.check(
        "the log names the file and the reason",
        line.contains("SSL_CERTFILE") && line.contains("cert.pem"),
        line,
    );

    // Fixing the files is picked up again.
    let third = f.ca.leaf();
    install(&third, &f.cert_path(), &f.key_path());
    k.check(
        "a good certificate after a failed one is loaded",
        wait_for_cert(port, &tls, &third.der).await,
        "never presented",
    );
    k.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_tls_and_tcp_ports_affects_no_other_session() {
    let f = Fixture::start(&["ssl", "ws"], &[]);
    let (ssl, tcp, ws) = (f.port("ssl"), f.port("tcp"), f.port("ws"));
    let tls = connector(&f.ca);
    let mut k = Checks::default();
    let mut keep_tls = tls_session(ssl, &tls).await;
    let mut keep_tcp = tokio::task::spawn_blocking(move || Client::negotiated(tcp, "1.4"))
        .await
        .unwrap();

    // Each kind of bad client, then both live sessions must still be served.
    let mut cases: Vec<(&str, bool, String)> = Vec::new();

    // Handshake garbage: a TLS record header followed by junk.
    let mut g = TcpStream::connect(("127.0.0.1", ssl)).await.unwrap();
    let mut junk = vec![0x16, 0x03, 0x01, 0x00, 0x40];
    junk.extend((0..64u8).map(|i| i.wrapping_mul(37)));
    let _ = g.write_all(&junk).await;
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(WAIT, g.read_to_end(&mut buf)).await;
    cases.push((
        "handshake garbage on the TLS port: the connection is closed",
        closed.is_ok(),
        format!("{closed:?}"),
    ));

    // A plain Electrum client on the TLS port gets no JSON and is disconnected.
    let plain_closed = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(ssl);
        c.send("server.version", json!(["tests", "1.4"]));
        c.closes_within(WAIT)
    })
    .await
    .unwrap_or(false);
    cases.push((
        "a plain TCP client on the TLS port is disconnected",
        plain_closed,
        "still open".into(),
    ));

    // A TLS client on the plain TCP port: the handshake cannot succeed.
    let r = tokio::time::timeout(SHORT, tls_connect(tcp, &tls)).await;
    cases.push((
        "a TLS client on the TCP port does not get a TLS session",
        !matches!(r, Ok(Ok(_))),
        "handshake succeeded".into(),
    ));

    // A plain client on the WebSocket port: the HTTP upgrade fails, the connection closes.
    let ws_plain = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(ws);
        c.send("server.version", json!(["tests", "1.4"]));
        c.closes_within(WAIT)
    })
    .await
    .unwrap_or(false);
    cases.push((
        "a plain TCP client on the WebSocket port is disconnected",
        ws_plain,
        "still open".into(),
    ));

    for (what, ok, got) in cases {
        k.check(what, ok, got);
        let r = keep_tls
            .request("blockchain.headers.subscribe", json!([]))
            .await;
        k.check(
            &format!("after \"{what}\": the TLS session is served"),
            r.as_ref().and_then(height) == Some(BLOCKS),
            format!("{r:?}"),
        );
        let (r, c) = tokio::task::spawn_blocking(move || {
            let r = keep_tcp.try_request("blockchain.headers.subscribe", json!([]));
            (r, keep_tcp)
        })
        .await
        .unwrap();
        keep_tcp = c;
        k.check(
            &format!("after \"{what}\": the TCP session is served"),
            r.as_ref().and_then(height) == Some(BLOCKS),
            format!("{r:?}"),
        );
    }
    let mut fresh = tls_session(ssl, &tls).await;
    let r = fresh.request("blockchain.block.header", json!([0])).await;
    k.check(
        "a new TLS session afterwards is served",
        r.is_some_and(|r| r["result"].is_string()),
        "no reply",
    );
    k.finish();
}

/// The WebSocket checks shared by ws and wss, on `open()`'s connections; `keep` is another
/// session that must stay served throughout.
async fn websocket_checks<S, F, Fut>(k: &mut Checks, name: &str, open: F, max_recv: usize)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let mut keep = Ws::open(open().await).await;
    let (r, _) = keep
        .request("server.version", json!(["tests", "1.4"]))
        .await;
    k.check(
        &format!("{name}: server.version"),
        r["result"][1] == json!("1.4"),
        &r,
    );
    let still_served = async |k: &mut Checks, after: &str, keep: &mut Ws<S>| {
        let (r, _) = keep
            .request("blockchain.headers.subscribe", json!([]))
            .await;
        k.check(
            &format!("{name}: after {after}, another session is served"),
            height(&r) == Some(BLOCKS),
            &r,
        );
    };

    // One message per request, one text message per reply, no newline.
    let mut c = Ws::open(open().await).await;
    let (r, text) = c.request("server.version", json!(["tests", "1.4"])).await;
    k.check(
        &format!("{name}: a reply is one JSON text message without a newline"),
        r["id"] == json!(1) && r["result"][1] == json!("1.4") && !text.ends_with('\n'),
        &text,
    );
    let (r, _) = c.request("blockchain.headers.subscribe", json!([])).await;
    k.check(&format!("{name}: a query"), height(&r) == Some(BLOCKS), &r);
    // A binary message is a request too; the reply is text.
    let req = c.next_request("blockchain.block.header", json!([1]));
    let _ =
        c.ws.send(Message::binary(req.to_string().into_bytes()))
            .await;
    let (r, _) = c.recv_json().await;
    k.check(
        &format!("{name}: a binary request gets a text reply"),
        r["id"] == req["id"] && r["result"].is_string(),
        &r,
    );
    // A batch in one message: the replies come back as one array.
    let batch = json!([
        c.next_request("server.ping", json!([])),
        c.next_request("blockchain.block.header", json!([0])),
    ]);
    let _ = c.ws.send(Message::text(batch.to_string())).await;
    let (r, _) = c.recv_json().await;
    k.check(
        &format!("{name}: a batch gets one array of two replies"),
        r.as_array().is_some_and(|a| a.len() == 2),
        &r,
    );
    // Ping gets its pong.
    let _ = c.ws.send(Message::Ping(b"hi".to_vec().into())).await;
    let pong = loop {
        match tokio::time::timeout(WAIT, c.ws.next()).await {
            Ok(Some(Ok(Message::Pong(p)))) => break Some(p.to_vec()),
            Ok(Some(Ok(_))) => continue,
            _ => break None,
        }
    };
    k.check(
        &format!("{name}: ping answered with its payload"),
        pong.as_deref() == Some(b"hi".as_slice()),
        format!("{pong:?}"),
    );
    // The client closes: the server answers the close.
    let _ = c.ws.close(None).await;
    let end = c.close_code().await;
    k.check(
        &format!("{name}: a client close is answered"),
        end.is_ok()
            || end
                .as_ref()
                .is_err_and(|e| e.contains("without a close frame")),
        format!("{end:?}"),
    );
    still_served(k, "a close", &mut keep).await;

    // A message over MAX_RECV closes that connection with 1009.
    let mut big = Ws::open(open().await).await;
    let pad = "0".repeat(max_recv + 1);
    let _ = big
        .ws
        .send(Message::text(
            json!({"jsonrpc": "2.0", "id": 1, "method": "server.ping", "params": [pad]})
                .to_string(),
        ))
        .await;
    let end = big.close_code().await;
    k.check(
        &format!("{name}: a message over MAX_RECV closes with 1009"),
        end == Ok(Some(CloseCode::Size)),
        format!("{end:?}"),
    );
    still_served(k, "an oversize message", &mut keep).await;

    // Invalid frames close only their connection.
    let invalid: [(&str, Vec<u8>, CloseCode); 3] = [
        (
            "an unmasked frame",
            raw_frame(0x1, b"{}", true),
            CloseCode::Protocol,
        ),
        (
            "a reserved opcode",
            raw_frame(0x3, b"{}", false),
            CloseCode::Protocol,
        ),
        (
            "a text message that is not UTF-8",
            raw_frame(0x1, &[0xff, 0xfe, 0xfd], false),
            CloseCode::Invalid,
        ),
    ];
    for (what, bytes, code) in invalid {
        let mut bad = Ws::open(open().await).await;
        let _ = bad.ws.get_mut().write_all(&bytes).await;
        let _ = bad.ws.get_mut().flush().await;
        let end = bad.close_code().await;
        k.check(
            &format!("{name}: {what} closes that connection ({code})"),
            end == Ok(Some(code)),
            format!("{end:?}"),
        );
        still_served(k, what, &mut keep).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_framing_over_ws_and_wss() {
    const MAX_RECV: usize = 5000;
    let f = Fixture::start(&["ws", "wss"], &[("MAX_RECV", "5000")]);
    let (ws, wss) = (f.port("ws"), f.port("wss"));
    let tls = connector(&f.ca);
    let mut k = Checks::default();

    let open_ws = || async move { TcpStream::connect(("127.0.0.1", ws)).await.unwrap() };
    websocket_checks(&mut k, "ws", open_ws, MAX_RECV).await;
    let open_wss = || {
        let tls = tls.clone();
        async move { tls_connect(wss, &tls).await.expect("TLS handshake") }
    };
    websocket_checks(&mut k, "wss", open_wss, MAX_RECV).await;

    // Notifications are pushed as messages of their own.
    let mut sub = Ws::open(open_ws().await).await;
    // server.version comes first (ElectrumX's rule, at every protocol version).
    sub.request("server.version", json!(["ferrum-tests", "1.4"]))
        .await;
    let (r, _) = sub.request("blockchain.headers.subscribe", json!([])).await;
    k.check("subscribed over ws", height(&r) == Some(BLOCKS), &r);
    ChainBuilder::new(4).mine_empty(&f.d, 1).unwrap();
    let (n, _) = sub.recv_json().await;
    k.check(
        "a new block is notified as one text message",
        n["method"] == json!("blockchain.headers.subscribe")
            && n["params"][0]["height"] == json!(BLOCKS + 1),
        &n,
    );
    k.finish();
}

/// `ferrum` with `env` (and no bitcoind: it must fail before needing one); its exit status
/// and stderr.
fn run_ferrum(env: &[(&str, String)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferrum"));
    c.env_clear()
        .env("HOME", dir.path())
        .env("DB_DIRECTORY", dir.path().join("db"))
        .env("DAEMON_URL", format!("127.0.0.1:{}", free_port()))
        .args(["--net", "regtest"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tls_service_without_a_usable_certificate_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (a, b) = (ca.leaf(), ca.leaf());
    let path = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(path("a.pem"), &a.cert_pem).unwrap();
    std::fs::write(path("a.key"), &a.key_pem).unwrap();
    std::fs::write(path("b.key"), &b.key_pem).unwrap();
    std::fs::write(path("junk.pem"), "not a certificate\n").unwrap();
    let mut k = Checks::default();
    let services = |p: &str| ("SERVICES", format!("{p}://127.0.0.1:{}", free_port()));
    // (what, environment, the message start-up must fail with)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "ssl without SSL_CERTFILE",
            vec![services("ssl")],
            "SSL_CERTFILE",
        ),
        (
            "wss without SSL_KEYFILE",
            vec![services("wss"), ("SSL_CERTFILE", path("a.pem"))],
            "SSL_KEYFILE",
        ),
        (
            "a missing certificate file",
            vec![
                services("ssl"),
                ("SSL_CERTFILE", path("none.pem")),
                ("SSL_KEYFILE", path("a.key")),
            ],
            "SSL_CERTFILE",
        ),
        (
            "a file without a certificate",
            vec![
                services("ssl"),
                ("SSL_CERTFILE", path("junk.pem")),
                ("SSL_KEYFILE", path("a.key")),
            ],
            "SSL_CERTFILE",
        ),
        (
            "a key that is not the certificate's",
            vec![
                services("ssl"),
                ("SSL_CERTFILE", path("a.pem")),
                ("SSL_KEYFILE", path("b.key")),
            ],
            "SSL_KEYFILE",
        ),
    ];
    for (what, env, names) in cases {
        let (ok, err) = run_ferrum(&env);
        k.check(
            &format!("{what}: start-up fails naming {names}"),
            !ok && err.contains(names),
            &err,
        );
    }
    k.finish();
}
