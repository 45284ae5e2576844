//! Ferrum replicas behind the real HAProxy (Debian's `haproxy`), on loopback: the PROXY
//! protocol v1 and v2 over tcp, TLS (HAProxy terminating it, and passing it through) and
//! WebSocket, the clients' real addresses in each replica's admin `sessions` and resource
//! controls, refusals of missing, misplaced and malformed headers that leave other sessions
//! alone, `GET /health` keeping a starting or stale replica out of rotation, failover with
//! resubscription, draining, and a replica started from `ferrum snapshot` of a live one.
//!
//! HAProxy connects to the replicas from 127.0.0.1 (`FERRUM_PROXY_FROM`); clients come from
//! 127.0.0.2 and up, so a real address is never the proxy's.

mod common;

use common::haproxy::Haproxy;
use common::pause;
use common::server::{Client, FerrumServer, admin_request, free_port, http_get, try_connect_from};
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bounds every wait for something that should happen.
const SOON: Duration = Duration::from_secs(60);

// ---- TLS ----

/// A CA, a `localhost` certificate it signed, and the files servers need.
struct Tls {
    ca: CertificateDer<'static>,
    cert: PathBuf,
    key: PathBuf,
    /// Certificate and key in one file, as HAProxy's `crt` wants them.
    bundle: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tls {
    fn new() -> Tls {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n);
        std::fs::write(path("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(
            path("bundle.pem"),
            format!("{}{}", leaf.pem(), key.serialize_pem()),
        )
        .unwrap();
        Tls {
            ca: ca.der().clone(),
            cert: path("cert.pem"),
            key: path("key.pem"),
            bundle: path("bundle.pem"),
            _dir: dir,
        }
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

type TlsLines = BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// A TLS session from `from` to 127.0.0.1:`port`, checking the certificate for `localhost`,
/// after its `server.version` was answered.
fn tls_session(tls: &Tls, from: &str, port: u16) -> TlsLines {
    let tcp = try_connect_from(from, port).expect("connect");
    tcp.set_read_timeout(Some(SOON)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(tls.client_config(), name).unwrap();
    let mut s = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let r = tls_request(&mut s, "server.version", json!(["fleet-test", "1.4"]));
    assert_eq!(r["result"][1], json!("1.4"), "{r}");
    s
}

fn tls_request(s: &mut TlsLines, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    s.get_mut()
        .write_all(format!("{req}\n").as_bytes())
        .expect("send over TLS");
    let mut line = String::new();
    s.read_line(&mut line).expect("reply over TLS");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

type Ws = tokio_tungstenite::tungstenite::WebSocket<TcpStream>;

/// A WebSocket session from `from` to 127.0.0.1:`port`, after its `server.version`.
fn ws_session(from: &str, port: u16) -> Ws {
    let tcp = try_connect_from(from, port).expect("connect");
    tcp.set_read_timeout(Some(SOON)).unwrap();
    let (mut ws, _) =
        tokio_tungstenite::tungstenite::client("ws://localhost/", tcp).expect("WebSocket");
    let r = ws_request(&mut ws, "server.version", json!(["fleet-test", "1.4"]));
    assert_eq!(r["result"][1], json!("1.4"), "{r}");
    ws
}

fn ws_request(ws: &mut Ws, method: &str, params: Value) -> Value {
    use tokio_tungstenite::tungstenite::Message;
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    ws.send(Message::text(req.to_string()))
        .expect("send over WebSocket");
    loop {
        match ws.read().expect("reply over WebSocket") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Binary(b) => return serde_json::from_slice(&b).unwrap(),
            _ => {}
        }
    }
}

// ---- replicas ----

/// A Ferrum replica: tcp and ssl services, the admin RPC, the metrics listener.
struct Replica {
    s: FerrumServer,
    ssl: u16,
    ws: u16,
    rpc: u16,
    metrics: u16,
}

impl Replica {
    fn start(d: &Bitcoind, tls: &Tls, extra: &[(&str, &str)], wait: bool) -> Replica {
        let (ssl, ws, rpc, metrics) = (free_port(), free_port(), free_port(), free_port());
        let services = format!(
            "tcp://127.0.0.1:{{port}},ssl://127.0.0.1:{ssl},ws://127.0.0.1:{ws},rpc://127.0.0.1:{rpc}"
        );
        let metrics_addr = format!("127.0.0.1:{metrics}");
        let (cert, key) = (
            tls.cert.display().to_string(),
            tls.key.display().to_string(),
        );
        let mut env = vec![
            ("SERVICES", services.as_str()),
            ("FERRUM_METRICS", metrics_addr.as_str()),
            ("SSL_CERTFILE", cert.as_str()),
            ("SSL_KEYFILE", key.as_str()),
            ("FERRUM_PROXY_FROM", "127.0.0.1"),
            ("DAEMON_POLL_INTERVAL_BLOCKS", "200"),
            ("DAEMON_POLL_INTERVAL_MEMPOOL", "200"),
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
        ];
        env.extend_from_slice(extra);
        let s = if wait {
            FerrumServer::start(d, &env)
        } else {
            FerrumServer::start_unready(d, &env)
        };
        Replica {
            s,
            ssl,
            ws,
            rpc,
            metrics,
        }
    }

    fn port(&self) -> u16 {
        self.s.port()
    }

    fn admin(&self, method: &str, params: Value) -> Value {
        admin_request(self.rpc, method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The client addresses (without ports) of the admin RPC's `sessions`.
    fn session_ips(&self) -> BTreeSet<String> {
        let r = self.admin("sessions", json!({}));
        r["result"]
            .as_array()
            .unwrap_or_else(|| panic!("sessions: {r}"))
            .iter()
            .filter_map(|row| row[2].as_str())
            .map(|peer| peer.rsplit_once(':').map_or(peer, |p| p.0).to_string())
            .collect()
    }

    /// `GET /health`: (HTTP status code, JSON body).
    fn health(&self) -> (u16, Value) {
        let (status, body) = http_get(self.metrics, "/health");
        let code = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (
            code,
            serde_json::from_str(body.trim()).unwrap_or(Value::Null),
        )
    }

    fn wait_health(&self, code: u16) -> Value {
        let deadline = Instant::now() + SOON;
        loop {
            let (got, body) = self.health();
            if got == code {
                return body;
            }
            assert!(Instant::now() < deadline, "health stayed {got} {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_count(&self, part: &str) -> usize {
        self.log_lines(&[part])
    }

    fn log_lines(&self, parts: &[&str]) -> usize {
        self.s
            .stderr()
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    }
}

fn negotiated_from(from: &str, port: u16) -> Client {
    let mut c = Client::connect_from(from, port);
    let r = c.request("server.version", json!(["fleet-test", "1.4"]));
    assert_eq!(r["result"][1], json!("1.4"), "{r}");
    c
}

fn ips(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A TCP-mode frontend on `port` to `backend`.
fn frontend(name: &str, port: u16, backend: &str, bind_extra: &str) -> String {
    format!(
        "frontend {name}\n    bind 127.0.0.1:{port}{bind_extra}\n    default_backend {backend}\n\n"
    )
}

// ---- tests ----

/// Every PROXY variant HAProxy speaks reaches the replica with the client's own address, and
/// a header where none belongs, none where one must be, or a broken one closes only that
/// connection.
#[test]
fn proxy_protocol_v1_v2_over_tcp_and_tls() {
    let d = Bitcoind::start().unwrap();
    ChainBuilder::new(31).mine_empty(&d, 101).unwrap();
    let tls = Tls::new();
    let r = Replica::start(&d, &tls, &[], true);
    let [v1, v2, term, pass, pass_v1, ws] = [(); 6].map(|_| free_port());
    let (tcp, ssl) = (r.port(), r.ssl);
    let bundle = tls.bundle.display();
    let config = [
        frontend("fe_v1", v1, "be_v1", ""),
        format!("backend be_v1\n    server r 127.0.0.1:{tcp} send-proxy\n\n"),
        frontend("fe_v2", v2, "be_v2", ""),
        frontend("fe_term", term, "be_v2", &format!(" ssl crt {bundle}")),
        format!("backend be_v2\n    server r 127.0.0.1:{tcp} send-proxy-v2\n\n"),
        frontend("fe_pass", pass, "be_pass", ""),
        format!("backend be_pass\n    server r 127.0.0.1:{ssl} send-proxy-v2\n\n"),
        frontend("fe_pass_v1", pass_v1, "be_pass_v1", ""),
        format!("backend be_pass_v1\n    server r 127.0.0.1:{ssl} send-proxy\n\n"),
        frontend("fe_ws", ws, "be_ws", ""),
        format!(
            "backend be_ws\n    server r 127.0.0.1:{} send-proxy-v2\n\n",
            r.ws
        ),
    ]
    .concat();
    let h = Haproxy::start(&config, &[v1, v2, term, pass, pass_v1, ws]);

    let mut c1 = negotiated_from("127.0.0.2", v1);
    let mut c2 = negotiated_from("127.0.0.3", v2);
    let mut t3 = tls_session(&tls, "127.0.0.4", term);
    let mut t4 = tls_session(&tls, "127.0.0.5", pass);
    let mut t5 = tls_session(&tls, "127.0.0.6", pass_v1);
    let mut w6 = ws_session("127.0.0.9", ws);
    let proxied = ips(&[
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.0.5",
        "127.0.0.6",
        "127.0.0.9",
    ]);
    assert_eq!(
        r.session_ips(),
        proxied,
        "v1, v2, TLS terminated by HAProxy, TLS passed through with v2 and v1, WebSocket"
    );

    // A header from an address that is not a proxy: refused, whatever it claims.
    let mut forged = Client::connect_from("127.0.0.7", tcp);
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&[10, 9, 8, 7, 127, 0, 0, 1, 0x30, 0x39, 0xc3, 0x51]);
    forged.send_raw(&header);
    forged.send("server.version", json!(["forger", "1.4"]));
    assert!(forged.closes_within(SOON), "a forged header is refused");
    // The proxy's address without a header: refused.
    let mut bare = Client::connect_from("127.0.0.1", tcp);
    bare.send("server.version", json!(["bare", "1.4"]));
    assert!(
        bare.closes_within(SOON),
        "a proxy connection without a header"
    );
    // Broken headers from the proxy's address, on tcp and ssl: each closes alone.
    let broken: [&[u8]; 5] = [
        b"PROXY TCP4 10.1.2.3",                              // truncated, then closed
        b"PROXY TCP4 10.1.2.300 127.0.0.1 1 50001\r\n{}\n",  // bad address
        b"PROXY TCP4 10.1.2.3 127.0.0.1 01 50001\r\n{}\n",   // leading zero
        b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c............", // version 3
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",             // 65,535-byte payload
    ];
    for port in [tcp, ssl] {
        for bytes in broken {
            let mut b = Client::connect_from("127.0.0.1", port);
            b.send_raw(bytes);
            b.shutdown_write();
            assert!(
                b.closes_within(SOON),
                "{port}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    // A direct client (not through the proxy) is still served, as itself.
    let mut direct = negotiated_from("127.0.0.8", tcp);
    // Every session that was open is still served, and nobody came from a claimed address.
    for c in [&mut c1, &mut c2, &mut direct] {
        assert_eq!(c.request("server.ping", json!([]))["result"], Value::Null);
    }
    for t in [&mut t3, &mut t4, &mut t5] {
        assert_eq!(
            tls_request(t, "server.ping", json!([]))["result"],
            Value::Null
        );
    }
    assert_eq!(
        ws_request(&mut w6, "server.ping", json!([]))["result"],
        Value::Null
    );
    let mut expected = proxied;
    expected.insert("127.0.0.8".to_string());
    assert_eq!(r.session_ips(), expected);
    // Refusals are logged with their reason.
    assert!(
        r.log_count("not in FERRUM_PROXY_FROM") >= 1,
        "{}",
        r.s.stderr_tail(30)
    );
    assert!(r.log_count("no PROXY header from a proxy") >= 1);
    assert!(r.log_count("PROXY v1: bad IPv4 address") >= 1);
    assert!(r.log_count("PROXY v2: payload of 65535 bytes") >= 1);
    drop(h);
}

/// Two replicas on one bitcoind behind HAProxy with PROXY v2: each replica's admin
/// `sessions` shows the real client addresses; then the scenario of `tests/limits.rs` through
/// HAProxy: with the real addresses, a flooder is throttled and disconnected while the clients
/// from other addresses, on its replica and the other, go on being served; and the per-IP cap
/// counts each client address, not the proxy's.
#[test]
fn two_replicas_see_real_addresses_and_limit_a_flooder_alone() {
    let d = Bitcoind::start().unwrap();
    ChainBuilder::new(32).mine_empty(&d, 101).unwrap();
    let tls = Tls::new();
    let limits = [
        ("COST_SOFT_LIMIT", "300"),
        ("COST_HARD_LIMIT", "1500"),
        ("REQUEST_SLEEP", "200"),
        ("SESSION_GROUP_BY_SUBNET_IPV4", "32"),
        ("FERRUM_MAX_SESSIONS_PER_IP", "2"),
        ("FERRUM_PER_IP_EXEMPT", "none"),
    ];
    let r1 = Replica::start(&d, &tls, &limits, true);
    let r2 = Replica::start(&d, &tls, &limits, true);
    let (both, one) = (free_port(), free_port());
    let h = Haproxy::start(
        &[
            frontend("fe", both, "be", ""),
            format!(
                "backend be\n    balance roundrobin\n    server r1 127.0.0.1:{} send-proxy-v2\n    \
                 server r2 127.0.0.1:{} send-proxy-v2\n\n",
                r1.port(),
                r2.port()
            ),
            frontend("fe_one", one, "be_one", ""),
            format!(
                "backend be_one\n    server r1 127.0.0.1:{} send-proxy-v2\n\n",
                r1.port()
            ),
        ]
        .concat(),
        &[both, one],
    );
    let mut polite: Vec<Client> = (2..8)
        .map(|i| negotiated_from(&format!("127.0.0.{i}"), both))
        .collect();
    let (on1, on2) = (r1.session_ips(), r2.session_ips());
    // Round robin spreads them, though not always three and three: HAProxy runs a thread per
    // core, and CI saw 4 + 2 (one run in four here). Each client is on exactly one replica.
    assert!(
        !on1.is_empty() && !on2.is_empty() && on1.is_disjoint(&on2),
        "round robin: {on1:?} {on2:?}"
    );
    let all: BTreeSet<String> = on1.union(&on2).cloned().collect();
    assert_eq!(
        all,
        ips(&[
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.4",
            "127.0.0.5",
            "127.0.0.6",
            "127.0.0.7"
        ]),
        "each replica shows its clients' own addresses, never the proxy's"
    );

    let mut flooder = negotiated_from("127.0.0.8", both);
    let flooded = if r1.session_ips().contains("127.0.0.8") {
        &r1
    } else {
        &r2
    };
    let (mut served, mut refused, mut polite_ok) = (0, None, 0);
    for _ in 0..1000 {
        match flooder.try_request("blockchain.block.headers", json!([0, 2016])) {
            Some(r) if r.get("result").is_some() => served += 1,
            Some(r) => {
                refused = Some(r);
                break;
            }
            None => break,
        }
        for c in polite.iter_mut() {
            let r = c.request("server.ping", json!([]));
            polite_ok += usize::from(r.get("result") == Some(&Value::Null));
        }
    }
    assert!(served > 5, "the flooder was served first: {served}");
    let refused = refused.unwrap_or(Value::Null);
    assert_eq!(refused["error"]["code"], json!(-101), "{refused}");
    assert!(flooder.closes_within(SOON), "and disconnected");
    assert_eq!(
        polite_ok,
        served * polite.len(),
        "the others were answered every time"
    );
    for c in polite.iter_mut() {
        assert_eq!(c.request("server.ping", json!([]))["result"], Value::Null);
    }
    assert_eq!(
        flooded.log_lines(&["closing session over resource usage"]),
        1,
        "{}",
        flooded.s.stderr_tail(20)
    );
    assert_eq!(
        flooded.log_lines(&["tcp://127.0.0.8:", "closing session over resource usage"]),
        1,
        "the flooder is disconnected as itself"
    );
    for r in [&r1, &r2] {
        assert_eq!(
            r.log_lines(&["concurrency"]) - r.log_lines(&["tcp://127.0.0.8:", "concurrency"]),
            0,
            "nobody else was throttled: {}",
            r.s.stderr_tail(20)
        );
    }

    // Per-IP cap 2, on the one-replica frontend: a third session from 127.0.0.9 is closed;
    // 127.0.0.10 is served.
    let _two: Vec<Client> = (0..2).map(|_| negotiated_from("127.0.0.9", one)).collect();
    let mut third = Client::connect_from("127.0.0.9", one);
    let id = third.send("server.version", json!(["fleet-test", "1.4"]));
    assert!(
        third
            .wait_reply_timeout(&id, Duration::from_secs(10))
            .is_none()
            && third.closes_within(SOON),
        "a third session from one client address is refused"
    );
    let mut other = negotiated_from("127.0.0.10", one);
    assert_eq!(
        other.request("server.ping", json!([]))["result"],
        Value::Null
    );
    assert!(r1.log_count("sessions from 127.0.0.9 already") >= 1);
    drop(h);
}

/// Mirrors `from`'s blocks above `to`'s tip into `to` (two nodes without P2P).
fn mirror(from: &Bitcoind, to: &Bitcoind) {
    let (_, top) = from.tip().unwrap();
    let (_, mut h) = to.tip().unwrap();
    while h < top {
        h += 1;
        let hash = from.rpc("getblockhash", json!([h])).unwrap();
        let hex = from.rpc("getblock", json!([hash, 0])).unwrap();
        let r = to.rpc("submitblock", json!([hex])).unwrap();
        assert!(r.is_null(), "submitblock {h}: {r}");
    }
}

/// Health: a replica that is starting is 503 and gets no client; it turns 200 and gets them
/// once caught up. A replica whose bitcoind hangs turns 503 once its tip is stale; HAProxy
/// moves new connections to the other; clients that reconnect there resubscribe and get the
/// next block. `drain` takes a replica out of rotation while its sessions go on.
#[test]
fn health_checks_steer_clients_and_failover_loses_nothing() {
    let a = Bitcoind::start().unwrap();
    let b = Bitcoind::start().unwrap();
    ChainBuilder::new(33).mine_empty(&a, 101).unwrap();
    mirror(&a, &b);
    let tls = Tls::new();
    let r1 = Replica::start(&a, &tls, &[], true);
    pause(&b, true);
    let mut r2 = Replica::start(&b, &tls, &[("FERRUM_HEALTH_MAX_LAG_SECS", "3")], false);
    let front = free_port();
    let server = |name: &str, r: &Replica| {
        format!(
            "    server {name} 127.0.0.1:{} send-proxy-v2 check port {} inter 300ms fall 2 rise 1\n",
            r.port(),
            r.metrics
        )
    };
    let config = format!(
        "{}backend be\n    balance roundrobin\n    option httpchk GET /health\n    \
         http-check expect status 200\n{}{}\n",
        frontend("fe", front, "be", ""),
        server("r1", &r1),
        server("r2", &r2),
    );
    let h = Haproxy::start(&config, &[front]);

    // r2 waits for its paused bitcoind: 503, and HAProxy sends everyone to r1.
    let (code, body) = r2.health();
    assert_eq!(code, 503, "{body}");
    assert!(
        ["starting", "syncing"].contains(&body["status"].as_str().unwrap_or("")),
        "{body}"
    );
    h.wait_status("be", "r2", "DOWN", SOON);
    h.wait_status("be", "r1", "UP", SOON);
    let early: Vec<Client> = (2..6)
        .map(|i| negotiated_from(&format!("127.0.0.{i}"), front))
        .collect();
    assert_eq!(
        r1.session_ips(),
        ips(&["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"])
    );

    // Its bitcoind back, r2 syncs, turns 200, and gets new clients too.
    pause(&b, false);
    r2.s.wait_ready();
    let body = r2.wait_health(200);
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["tip"], json!(101));
    h.wait_status("be", "r2", "UP", SOON);
    let mut later: Vec<Client> = (6..12)
        .map(|i| negotiated_from(&format!("127.0.0.{i}"), front))
        .collect();
    let on_r2 = r2.session_ips();
    assert!(!on_r2.is_empty(), "round robin sends some to r2");
    for c in later.iter_mut() {
        let r = c.request("blockchain.headers.subscribe", json!([]));
        assert_eq!(r["result"]["height"], json!(101), "{r}");
    }

    // r2's bitcoind hangs: r2 turns 503 "stale" once its tip was last confirmed over 3 s
    // ago, HAProxy takes it out, and new connections all go to r1.
    pause(&b, true);
    let body = r2.wait_health(503);
    assert_eq!(body["status"], "stale", "{body}");
    h.wait_status("be", "r2", "DOWN", SOON);
    let before = r1.session_ips().len();
    let mut moved = Vec::new();
    for i in 6..12 {
        let from = format!("127.0.0.{i}");
        if on_r2.contains(&from) {
            // The wallet gives up on the silent server and reconnects: now to r1.
            moved.push(negotiated_from(&from, front));
        }
    }
    assert_eq!(r1.session_ips().len(), before + moved.len());
    assert!(moved.len() == on_r2.len() && on_r2.is_subset(&r1.session_ips()));
    for c in moved.iter_mut() {
        let r = c.request("blockchain.headers.subscribe", json!([]));
        assert_eq!(r["result"]["height"], json!(101), "{r}");
    }
    // The next block reaches them from r1.
    a.mine(1).unwrap();
    for c in moved.iter_mut() {
        let n = c
            .next_notification(SOON)
            .expect("a header notification after failover");
        assert_eq!(n["method"], "blockchain.headers.subscribe");
        assert_eq!(n["params"][0]["height"], json!(102), "{n}");
    }

    // r2 recovers; then `drain` takes r1 out of rotation while its sessions go on.
    pause(&b, false);
    mirror(&a, &b);
    r2.wait_health(200);
    h.wait_status("be", "r2", "UP", SOON);
    let drained = r1.admin("drain", json!({}));
    assert!(
        drained["result"]
            .as_str()
            .unwrap_or("")
            .starts_with("draining"),
        "{drained}"
    );
    let body = r1.wait_health(503);
    assert_eq!(body["status"], "draining");
    h.wait_status("be", "r1", "DOWN", SOON);
    let fresh = negotiated_from("127.0.0.20", front);
    assert!(r2.session_ips().contains("127.0.0.20"));
    assert!(!r1.session_ips().contains("127.0.0.20"));
    for mut c in early.into_iter().chain(moved) {
        assert_eq!(
            c.request("server.ping", json!([]))["result"],
            Value::Null,
            "still served"
        );
    }
    drop((fresh, later, h));
}

/// `ferrum snapshot` of a replica that serves clients and follows new blocks; a replica
/// started on the copy answers as the source for every script, catches up the blocks mined
/// since, and never indexes from genesis.
#[test]
fn a_replica_started_from_a_snapshot_resumes_from_its_tip() {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(34);
    b.mine_empty(&d, 110).unwrap();
    for _ in 0..8 {
        let txs: Vec<_> = (0..6).map(|_| b.random_tx().unwrap()).collect();
        b.mine_txs(&d, txs).unwrap();
    }
    let tls = Tls::new();
    // No proxy in this test: clients connect from anywhere.
    let source = Replica::start(&d, &tls, &[("FERRUM_PROXY_FROM", "none")], true);
    let mut watcher = negotiated_from("127.0.0.2", source.port());
    let _ = watcher.request("blockchain.headers.subscribe", json!([]));
    let target = tempfile::tempdir().unwrap();
    let copy_dir = target.path().join("copy");

    // Blocks keep coming while the snapshot is made.
    let (out, mined) = std::thread::scope(|scope| {
        let miner = scope.spawn(|| {
            (0..5)
                .filter(|_| {
                    std::thread::sleep(Duration::from_millis(150));
                    d.mine(1).is_ok()
                })
                .count()
        });
        let out = snapshot(source.rpc, &copy_dir);
        (out, miner.join().unwrap())
    });
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("height "), "{stdout}");
    assert_eq!(mined, 5);

    // Into a non-empty directory: refused, nothing touched.
    let out = snapshot(source.rpc, &copy_dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    let copied_height: u64 = stdout
        .split("height ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("the printed height");
    let replica = start_on_copy(&d, &copy_dir);
    let (tip_hash, tip) = d.tip().unwrap();
    assert!(
        u64::from(tip) > copied_height,
        "blocks came after the snapshot"
    );
    common::server::wait_for_height(replica.port(), u64::from(tip), &tip_hash.to_string());
    common::server::wait_for_height(source.port(), u64::from(tip), &tip_hash.to_string());
    let log = replica.stderr();
    assert!(
        log.contains(&format!("opened at height {copied_height}")),
        "resumed from the copy's tip:\n{log}"
    );
    // Every output script of the chain, coinbases included, from bitcoind.
    let mut scripts = BTreeSet::new();
    for height in 0..=tip {
        let hash = d.rpc("getblockhash", json!([height])).unwrap();
        let block = d.rpc("getblock", json!([hash, 2])).unwrap();
        for tx in block["tx"].as_array().unwrap() {
            for out in tx["vout"].as_array().unwrap() {
                scripts.insert(out["scriptPubKey"]["hex"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(scripts.len() > 100, "{}", scripts.len());
    let mut a = negotiated_from("127.0.0.2", source.port());
    let mut c = negotiated_from("127.0.0.2", replica.port());
    for script in &scripts {
        let bytes = ferrum::types::hex_to_bytes(script).unwrap();
        let sh = ferrum::types::scripthash_hex(bitcoin::Script::from_bytes(&bytes));
        for method in [
            "blockchain.scripthash.get_history",
            "blockchain.scripthash.get_balance",
            "blockchain.scripthash.listunspent",
        ] {
            assert_eq!(
                a.request(method, json!([sh]))["result"],
                c.request(method, json!([sh]))["result"],
                "{method} {sh}"
            );
        }
    }
}

/// `ferrum snapshot DIR` through the admin RPC on `rpc_port`.
fn snapshot(rpc_port: u16, dir: &Path) -> std::process::Output {
    let home = dir.parent().expect("a parent");
    std::process::Command::new(env!("CARGO_BIN_EXE_ferrum"))
        .args([
            "--net",
            "regtest",
            "snapshot",
            "--port",
            &rpc_port.to_string(),
        ])
        .arg(dir)
        .env_clear()
        .env("HOME", home)
        .output()
        .unwrap()
}

fn start_on_copy(d: &Bitcoind, copy: &Path) -> FerrumServer {
    let db = copy.display().to_string();
    FerrumServer::start(
        d,
        &[
            ("DB_DIRECTORY", db.as_str()),
            ("DAEMON_POLL_INTERVAL_BLOCKS", "200"),
            ("DAEMON_POLL_INTERVAL_MEMPOOL", "200"),
        ],
    )
}
