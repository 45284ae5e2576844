//! Test peers: small Electrum servers on 127.0.0.1 that answer honestly or lie in one
//! chosen way, a fake local chain, and a SOCKS5 proxy that maps `.onion` names to loopback
//! ports. Used by the client, verifier and manager tests.

use super::verify::{LocalChain, VerifyConfig};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Our genesis in the tests.
pub const GENESIS: &str = "00000000000000000000000000000000000000000000000000000000000000aa";
/// Another chain's genesis.
pub const OTHER_GENESIS: &str = "00000000000000000000000000000000000000000000000000000000000000bb";

/// A deterministic 80-byte header per height; `fork` changes it.
pub fn header(height: u64, fork: u8) -> Vec<u8> {
    let mut h = vec![fork; 80];
    h[..8].copy_from_slice(&height.to_le_bytes());
    h
}

/// A local chain of `height` blocks with [`header`]s.
pub struct TestChain {
    /// Our tip height.
    pub height: u64,
    /// Our features JSON.
    pub features: Value,
}

impl TestChain {
    /// A chain at `height` announcing nothing.
    pub fn at(height: u64) -> TestChain {
        TestChain {
            height,
            features: json!({"hosts": {}, "genesis_hash": GENESIS}),
        }
    }
}

impl LocalChain for TestChain {
    fn height(&self) -> Option<u64> {
        Some(self.height)
    }
    fn raw_header(&self, height: u64) -> Option<Vec<u8>> {
        (height <= self.height).then(|| header(height, 0))
    }
    fn genesis_hash(&self) -> String {
        GENESIS.into()
    }
    fn features(&self) -> Value {
        self.features.clone()
    }
}

/// How a fake peer misbehaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lie {
    /// It does not.
    None,
    /// Another chain.
    Genesis,
    /// Its header at the checked height differs.
    Header,
    /// Its tip is this far above ours.
    HeightOff(u64),
    /// `server.features` does not list the host it is reached by.
    HostNotListed,
    /// Accepts and never answers.
    Silent,
    /// Answers with a line that is not JSON.
    Garbage,
    /// Answers with a line of more than a megabyte.
    Oversize,
    /// `server.version` answers a number.
    WrongType,
}

/// A fake peer's behaviour.
#[derive(Debug, Clone)]
pub struct FakePeer {
    /// Its tip height.
    pub height: u64,
    /// The host its `server.features` lists (with its real ports).
    pub host: String,
    /// Its `server.peers.subscribe` reply.
    pub peers: Value,
    /// How it lies.
    pub lie: Lie,
    /// The `server.add_peer` arguments received.
    pub added: Arc<Mutex<Vec<Value>>>,
    /// Requests received, by method.
    pub calls: Arc<Mutex<Vec<String>>>,
}

impl FakePeer {
    /// An honest peer at `height`, known as `host`.
    pub fn honest(host: &str, height: u64) -> FakePeer {
        FakePeer {
            height,
            host: host.into(),
            peers: json!([]),
            lie: Lie::None,
            added: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// The same peer lying.
    pub fn lying(host: &str, height: u64, lie: Lie) -> FakePeer {
        FakePeer {
            lie,
            ..FakePeer::honest(host, height)
        }
    }

    fn answer(&self, method: &str, params: &Value, port: u16) -> Value {
        let height = match self.lie {
            Lie::HeightOff(d) => self.height + d,
            _ => self.height,
        };
        match method {
            "server.version" if self.lie == Lie::WrongType => json!(17),
            "server.version" => json!(["FakePeer 1.0", "1.4"]),
            "server.features" => {
                let host = if self.lie == Lie::HostNotListed {
                    "someone.else.example"
                } else {
                    self.host.as_str()
                };
                let genesis = if self.lie == Lie::Genesis {
                    OTHER_GENESIS
                } else {
                    GENESIS
                };
                json!({
                    "hosts": {host: {"tcp_port": port, "ssl_port": null}},
                    "genesis_hash": genesis,
                    "server_version": "FakePeer 1.0",
                    "protocol_min": "1.4",
                    "protocol_max": "1.4.2",
                    "pruning": null,
                })
            }
            "blockchain.headers.subscribe" => {
                json!({"height": height, "hex": "00"})
            }
            "blockchain.block.header" => {
                let h = params[0].as_u64().unwrap_or(0);
                let fork = u8::from(self.lie == Lie::Header);
                json!(crate::types::bytes_to_hex(&header(h, fork)))
            }
            "server.peers.subscribe" => self.peers.clone(),
            "server.add_peer" => {
                self.added.lock().unwrap().push(params[0].clone());
                json!(true)
            }
            _ => Value::Null,
        }
    }
}

/// Starts a plain-TCP fake peer on 127.0.0.1; returns its port.
pub async fn spawn_peer(peer: FakePeer) -> u16 {
    spawn_peer_on("127.0.0.1", peer).await
}

/// Starts a plain-TCP fake peer on a loopback address; returns its port.
pub async fn spawn_peer_on(ip: &str, peer: FakePeer) -> u16 {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let peer = peer.clone();
            tokio::spawn(serve(peer, stream, port));
        }
    });
    port
}

/// Serves one connection of a fake peer.
pub async fn serve<S>(peer: FakePeer, stream: S, port: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin,
{
    let (r, mut w) = tokio::io::split(stream);
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let req: Value = serde_json::from_str(&line).unwrap();
        let method = req["method"].as_str().unwrap_or_default().to_string();
        peer.calls.lock().unwrap().push(method.clone());
        let out = match &peer.lie {
            Lie::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Lie::Garbage => "this is not json\n".to_string(),
            Lie::Oversize => format!("\"{}\"\n", "x".repeat(super::client::MAX_LINE_BYTES + 10)),
            _ => {
                // A notification first, as a real server may send one at any time.
                let note = json!({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe",
                                  "params": [{"height": 1, "hex": "00"}]});
                let result = peer.answer(&method, &req["params"], port);
                let reply = json!({"jsonrpc": "2.0", "id": req["id"], "result": result});
                format!("{note}\n{reply}\n")
            }
        };
        if w.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Starts a TLS fake peer (self-signed certificate) on 127.0.0.1; returns its port.
pub async fn spawn_tls_peer(peer: FakePeer) -> u16 {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = key.cert.der().clone();
    let pkey = rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], pkey)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (peer, acceptor) = (peer.clone(), acceptor.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve(peer, tls, port).await;
                }
            });
        }
    });
    port
}

/// A SOCKS5 proxy on 127.0.0.1 that maps onion names to loopback ports; returns its address
/// and the names it was asked for.
pub async fn spawn_socks(onions: HashMap<String, u16>) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let onions = onions.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut b = [0u8; 2];
                s.read_exact(&mut b).await?;
                let mut methods = vec![0u8; usize::from(b[1])];
                s.read_exact(&mut methods).await?;
                s.write_all(&[5, 0]).await?;
                let mut req = [0u8; 4];
                s.read_exact(&mut req).await?;
                let target = match req[3] {
                    3 => {
                        let n = s.read_u8().await?;
                        let mut name = vec![0u8; usize::from(n)];
                        s.read_exact(&mut name).await?;
                        let _port = s.read_u16().await?;
                        let name = String::from_utf8(name).unwrap();
                        seen.lock().unwrap().push(name.clone());
                        onions
                            .get(&name)
                            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
                    }
                    1 => {
                        let mut ip = [0u8; 4];
                        s.read_exact(&mut ip).await?;
                        let port = s.read_u16().await?;
                        seen.lock().unwrap().push(format!("{ip:?}"));
                        Some(SocketAddr::from((ip, port)))
                    }
                    _ => None,
                };
                let Some(target) = target else {
                    s.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]).await?; // host unreachable
                    return Ok::<_, std::io::Error>(());
                };
                let mut out = TcpStream::connect(target).await?;
                s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
                let _ = tokio::io::copy_bidirectional(&mut s, &mut out).await;
                Ok(())
            });
        }
    });
    (addr, asked)
}

/// A verifier configuration for the tests: short timeouts, private addresses allowed.
pub fn config() -> VerifyConfig {
    VerifyConfig {
        client_name: "Ferrum test".into(),
        protocol: ("1.4".into(), "1.4.2".into()),
        default_ports: (50001, 50002),
        announce: false,
        allow_private: true,
        me: None,
        force_proxy: false,
        local_addr: None,
        request_timeout: Duration::from_millis(500),
        request_timeout_tor: Duration::from_millis(800),
    }
}

/// A v3 onion name (56 base32 characters).
pub fn onion(c: char) -> String {
    format!("{}.onion", c.to_string().repeat(56))
}
