//! Peer discovery between real servers on loopback, all following one regtest bitcoind: three
//! Ferrums and ElectrumX 2.0 on their own addresses (each Ferrum with
//! `FERRUM_PEER_ALLOW_PRIVATE`, so that loopback addresses count as peers), each told of one
//! other by its operator (`ferrum rpc add_peer`, `electrumx_rpc add_peer`). Verification,
//! registering with peers that do not list us and learning from `server.peers.subscribe`
//! must make every Ferrum list all the others; ElectrumX verifies the Ferrum it was told of;
//! the Electrum wallet learns the servers from the Ferrum it uses; a restarted Ferrum still
//! knows its peers; a reloaded blacklist hides a peer.

mod common;

use common::electrum::Electrum;
use common::peers::{DEADLINE, PeerServer, table_rows};
use common::server::{Client, free_port, http_get, sample};
use ferrum::chaingen::Bitcoind;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// ElectrumX's address: its own IPv4 /16, as B and C share one and A (the machine's name,
/// 127.0.1.1 on Debian) is in 127.0/16, so the two-per-/16 rule lets every Ferrum list all.
const EX_IP: &str = "127.4.0.1";
const B_IP: &str = "127.2.0.2";
const C_IP: &str = "127.2.0.3";

/// ElectrumX 2.0 (PyPI `e-x`, installed by `scripts/install-peers electrumx`, which
/// `scripts/test` runs) at `ELECTRUMX_SERVER` or in the cache's venv.
fn electrumx_server() -> PathBuf {
    if let Ok(p) = std::env::var("ELECTRUMX_SERVER") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("FERRUM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/ferrum")
        });
    let exe = cache.join("peers/electrumx-venv/bin/electrumx_server");
    assert!(
        exe.exists(),
        "no ElectrumX at {}: run scripts/install-peers electrumx (scripts/test does)",
        exe.display()
    );
    exe
}

/// ElectrumX on [`EX_IP`] (reported by that address, so it never counts itself as a public
/// peer), discovery on, announcing off (ElectrumX refuses a private REPORT_SERVICES address
/// otherwise), synced to `d`.
struct ElectrumX {
    child: Child,
    port: u16,
    /// Its admin RPC (`electrumx_rpc --port`).
    rpc_port: u16,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl ElectrumX {
    fn start(d: &Bitcoind) -> ElectrumX {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let rpc_port = free_port();
        let cookie = std::fs::read_to_string(d.cookie_file()).unwrap();
        let log = dir.path().join("electrumx.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(electrumx_server())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("COIN", "Bitcoin")
            .env("NET", "regtest")
            .env("DB_ENGINE", "leveldb")
            .env("DB_DIRECTORY", dir.path())
            .env(
                "DAEMON_URL",
                format!("http://{}@127.0.0.1:{}/", cookie.trim(), d.rpc_port()),
            )
            .env(
                "SERVICES",
                format!("tcp://{EX_IP}:{port},rpc://127.0.0.1:{rpc_port}"),
            )
            .env("REPORT_SERVICES", format!("tcp://{EX_IP}:{port}"))
            .env("PEER_DISCOVERY", "on")
            .env("PEER_ANNOUNCE", "")
            .env("ALLOW_ROOT", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("COST_SOFT_LIMIT", "0")
            .env("COST_HARD_LIMIT", "0")
            .stdin(Stdio::null())
            // ElectrumX logs to stdout.
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start electrumx_server");
        ElectrumX {
            child,
            port,
            rpc_port,
            _dir: dir,
            log,
        }
    }

    fn session(&self) -> Option<Client> {
        let stream = TcpStream::connect((EX_IP, self.port)).ok()?;
        let mut c = Client::from_stream(stream);
        c.try_request("server.version", json!(["ferrum-tests", "1.4"]))?;
        Some(c)
    }

    fn log_tail(&self) -> String {
        let all = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for ElectrumX {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- ElectrumX log ----\n{}\n----", self.log_tail());
        }
    }
}

/// This machine's host name, if it resolves to a loopback address (Debian's /etc/hosts maps it
/// to 127.0.1.1): ElectrumX takes any name but `localhost` for a public peer, and checks no
/// address behind it, so a Ferrum known by this name is one it will verify.
fn loopback_host_name() -> (String, IpAddr) {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let ip = (name.as_str(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(|a| a.ip().is_loopback()))
        .map(|a| a.ip());
    match ip {
        Some(ip) if !name.is_empty() && name != "localhost" => (name, ip),
        _ => panic!(
            "this test needs the machine's host name ({name:?}) to resolve to a loopback \
             address, as /etc/hosts does on Debian"
        ),
    }
}

/// `electrumx_rpc --port <its admin> args...`: its stdout.
fn electrumx_rpc(ex: &ElectrumX, args: &[&str]) -> String {
    let out = Command::new(electrumx_server().with_file_name("electrumx_rpc"))
        .args(["--port", &ex.rpc_port.to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "electrumx_rpc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A client's `server.add_peer` of `features`, sent to `to` from the address `from`.
fn client_add_peer(to: &PeerServer, from: &str, features: &serde_json::Value) -> serde_json::Value {
    let mut c = Client::connect_from(from, to.port());
    c.request("server.version", json!(["ferrum-tests", "1.4"]));
    c.request("server.add_peer", json!([features]))["result"].clone()
}

#[test]
fn three_ferrums_and_electrumx_told_of_one_peer_each_all_verify_each_other() {
    let d = Bitcoind::start_with(&["-txindex=1", "-txospenderindex=1"]).unwrap();
    d.mine(12).unwrap();
    // A is known by the machine's name, as a public server is; B and C by their addresses.
    let (name, a_ip) = loopback_host_name();
    let metrics = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let a = PeerServer::start(
        &d,
        &a_ip.to_string(),
        &format!("tcp://{name}:{{port}}"),
        &[("FERRUM_METRICS", &metrics_addr)],
    );
    let b = PeerServer::start(&d, B_IP, &format!("tcp://{B_IP}:{{port}}"), &[]);
    let mut c = PeerServer::start(&d, C_IP, &format!("tcp://{C_IP}:{{port}}"), &[]);
    let ex = ElectrumX::start(&d);
    let deadline = Instant::now() + DEADLINE;
    let mut ex_session = loop {
        if let Some(mut s) = ex.session() {
            let tip = s.request("blockchain.headers.subscribe", json!([]));
            if tip["result"]["height"] == json!(12) {
                break s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "ElectrumX did not sync:\n{}",
            ex.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for (s, me) in [(&a, name.as_str()), (&b, B_IP), (&c, C_IP)] {
        assert_eq!(s.listed(), BTreeSet::from([me.to_string()]));
    }

    // Each is told of one other: A of ElectrumX, B of A, C of B, ElectrumX of A. A peer's
    // list is read when it is verified (then again hours later), so each is told once the
    // one before lists what it should pass on: B learns ElectrumX from A, C learns A and
    // ElectrumX from B, and A and B learn of B and C when those register with them.
    a.add_peer(&format!("{EX_IP} t{}", ex.port));
    a.wait_listed("A", &[name.as_str(), EX_IP]);
    b.add_peer(&format!("{name} t{}", a.port()));
    b.wait_listed("B", &[name.as_str(), B_IP, EX_IP]);
    c.add_peer(&format!("{B_IP} t{}", b.port()));
    electrumx_rpc(&ex, &["add_peer", &format!("{name} t{}", a.port())]);

    let all = [name.as_str(), B_IP, C_IP, EX_IP];
    for (s, n) in [(&a, "A"), (&b, "B"), (&c, "C")] {
        s.wait_listed(n, &all);
    }
    // ElectrumX's table shows A good.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let rows = table_rows(&electrumx_rpc(&ex, &["peers"]));
        if rows.iter().any(|(h, s)| *h == name && s == "good") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ElectrumX's peers: {rows:?}\n{}",
            ex.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A's table, through `ferrum rpc peers` and Prometheus: its three peers verified.
    let table: BTreeSet<(String, String)> = a.table().into_iter().collect();
    let want: BTreeSet<(String, String)> = [B_IP, C_IP, EX_IP]
        .iter()
        .map(|h| (h.to_string(), "good".to_string()))
        .collect();
    assert_eq!(table, want);
    let (_, text) = http_get(metrics, "/metrics");
    assert_eq!(
        sample(&text, "ferrum_peers{state=\"good\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "ferrum_peers{state=\"bad\"}"),
        Some(0.0),
        "{text}"
    );

    // The Electrum wallet connected to A (not --oneserver) learns the others from it.
    let wallet = Electrum::start(a.port(), false);
    wallet.wait_for("B, C and ElectrumX among its servers", |w| {
        let servers = w.json(&["getservers"]);
        if [B_IP, C_IP, EX_IP].iter().all(|h| servers.get(h).is_some()) {
            Ok(())
        } else {
            Err(format!("getservers: {servers}"))
        }
    });
    drop(wallet);

    // A client's add_peer: ElectrumX's features from ElectrumX's address are taken (it
    // announces to no one, so its rate-limit bucket at B is fresh), not a second time within
    // 10 minutes; a host that is not the caller's address is refused.
    let features = ex_session.request("server.features", json!([]))["result"].clone();
    assert_eq!(client_add_peer(&b, EX_IP, &features), json!(true));
    assert_eq!(client_add_peer(&b, EX_IP, &features), json!(false));
    let mut other = features.clone();
    other["hosts"] = json!({"127.9.0.9": {"tcp_port": 50001}});
    assert_eq!(client_add_peer(&b, "127.0.0.9", &other), json!(false));
    let log = b.server.stderr();
    assert!(
        log.contains(&format!(
            "rejected add_peer request from {EX_IP} (rate limited)"
        )),
        "{log}"
    );
    assert!(
        log.contains("rejected add_peer request from 127.0.0.9 (source-destination mismatch)"),
        "{log}"
    );

    // C restarts: it knows its peers from peers.json at once, and lists them again.
    c.server.restart();
    let hosts: BTreeSet<String> = c.table().into_iter().map(|(h, _)| h).collect();
    let others: BTreeSet<String> = [name.as_str(), B_IP, EX_IP]
        .iter()
        .map(|h| h.to_string())
        .collect();
    assert_eq!(hosts, others, "{}", c.server.stderr_tail(40));
    assert!(
        c.server
            .stderr()
            .contains("peers: 3 of 3 saved peers restored")
    );
    c.wait_listed("C after its restart", &all);
}

/// Serves one body (and status) over HTTP to every GET, for as long as the test runs.
struct HttpFile {
    port: u16,
    reply: Arc<Mutex<(u16, String)>>,
}

impl HttpFile {
    fn start(body: &str) -> HttpFile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new((200, body.to_string())));
        let shared = reply.clone();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = shared.lock().unwrap().clone();
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        HttpFile { port, reply }
    }

    fn set(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = (status, body.to_string());
    }
}

#[test]
fn the_blacklist_is_re_read_and_a_failed_read_keeps_it() {
    let d = Bitcoind::start().unwrap();
    d.mine(12).unwrap();
    let http = HttpFile::start("[]");
    let url = format!("http://127.0.0.1:{}/blacklist.json", http.port);
    let (d_ip, e_ip) = ("127.3.0.1", "127.3.0.2");
    let a = PeerServer::start(
        &d,
        d_ip,
        &format!("tcp://{d_ip}:{{port}}"),
        &[
            ("BLACKLIST_URL", url.as_str()),
            ("FERRUM_BLACKLIST_REFRESH", "1"),
        ],
    );
    let b = PeerServer::start(
        &d,
        e_ip,
        &format!("tcp://{e_ip}:{{port}}"),
        &[("PEER_DISCOVERY", "self")],
    );
    a.add_peer(&format!("{e_ip} t{}", b.port()));
    a.wait_listed("A", &[d_ip, e_ip]);

    // Blacklisted by address: no longer listed, and not taken again.
    http.set(200, &format!("[\"{e_ip}\", \"*.example.com\"]"));
    a.wait_listed("A with B blacklisted", &[d_ip]);
    let out = a.rpc_output(&["add_peer", &format!("{e_ip} t{}", b.port())]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not added"),
        "{out:?}"
    );

    // The blacklist server fails: the list read last is kept.
    http.set(500, "oops");
    a.wait_log("could not read the blacklist");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(a.listed(), BTreeSet::from([d_ip.to_string()]));

    // Taken off the list: B may be added again.
    http.set(200, "[]");
    let deadline = Instant::now() + DEADLINE;
    while !a
        .rpc_output(&["add_peer", &format!("{e_ip} t{}", b.port())])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "{}", a.server.stderr_tail(40));
        std::thread::sleep(Duration::from_millis(300));
    }
    a.wait_listed("A with B off the blacklist", &[d_ip, e_ip]);
}
