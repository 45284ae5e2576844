//! Peer discovery between real Ferrum servers on loopback: three servers on one regtest
//! bitcoind, each reachable on its own address (127.0.0.2, .3, .4) and reporting it, with
//! `FERRUM_PEER_ALLOW_PRIVATE` so that loopback addresses count as peers. Each hears of one
//! other through a client's `server.add_peer` (whose host must be the caller's address);
//! verification, announcing ourselves to peers that do not list us, and learning from
//! `server.peers.subscribe` must then make every server list the two others (besides
//! itself: its reported address is a peer address here), and the Electrum wallet connected to
//! one learns the others from it. And a Ferrum and ElectrumX 2.0 verify each other.

mod common;

use common::electrum::Electrum;
use common::server::{Client, FerrumServer, base_env, free_port, http_get, sample};
use ferrum::chaingen::Bitcoind;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: verifications run at once, but the machine is shared with other tests.
const DEADLINE: Duration = Duration::from_secs(120);

/// A Ferrum's environment with discovery on, loopback peers allowed, these `SERVICES` and
/// `REPORT_SERVICES` (`{port}`: its TCP port).
fn discovery_env<'a>(services: &'a str, report: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<(&str, &str)> = base_env();
    env.extend([
        ("PEER_DISCOVERY", "on"),
        ("FERRUM_PEER_ALLOW_PRIVATE", "true"),
        ("SERVICES", services),
        ("REPORT_SERVICES", report),
    ]);
    env
}

/// A Ferrum serving on `ip` (for peers) and on 127.0.0.1 (for the test), same port, with its
/// metrics on `metrics_port`.
fn start(d: &Bitcoind, ip: &'static str, metrics_port: u16) -> FerrumServer {
    let services = format!("tcp://{ip}:{{port}},tcp://127.0.0.1:{{port}}");
    let report = format!("tcp://{ip}:{{port}}");
    let metrics = format!("127.0.0.1:{metrics_port}");
    let mut env = discovery_env(&services, &report);
    env.push(("FERRUM_METRICS", metrics.as_str()));
    FerrumServer::start(d, &env)
}

fn session(port: u16) -> Client {
    Client::negotiated(port, "1.4")
}

/// The hosts a server's `server.peers.subscribe` lists, checking each entry's shape
/// (`[ip, host, ["v1.x", "t<port>", ...]]`).
fn listed(port: u16) -> BTreeSet<String> {
    let r = session(port).request("server.peers.subscribe", json!([]));
    let list = r["result"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|e| {
            let host = e[1].as_str().unwrap_or_default().to_string();
            assert_eq!(e[0], json!(host), "ip of a loopback peer is its host: {e}");
            let features: Vec<&str> = e[2]
                .as_array()
                .unwrap_or_else(|| panic!("no feature list: {e}"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(features.iter().any(|f| f.starts_with("v1.")), "{e}");
            assert!(features.iter().any(|f| f.starts_with('t')), "{e}");
            host
        })
        .collect()
}

fn wait_listed(server: &FerrumServer, name: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = listed(server.port());
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} lists {got:?}, not {want:?}; its log:\n{}",
            server.stderr_tail(80)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `server.add_peer` with `peer`'s own features, sent from `from` (a loopback address).
fn add_peer(to: &FerrumServer, from: &str, peer: &FerrumServer) -> Value {
    let features = session(peer.port()).request("server.features", json!([]))["result"].clone();
    let mut c = Client::connect_from(from, to.port());
    c.request("server.version", json!(["ferrum-tests", "1.4"]));
    c.request("server.add_peer", json!([features]))["result"].clone()
}

#[test]
fn three_servers_told_of_one_peer_each_end_up_listing_all_the_others() {
    let d = Bitcoind::start().unwrap();
    d.mine(12).unwrap();
    let metrics = free_port();
    let a = start(&d, "127.0.0.2", metrics);
    let b = start(&d, "127.0.0.3", free_port());
    let c = start(&d, "127.0.0.4", free_port());
    let (ha, hb, hc) = ("127.0.0.2", "127.0.0.3", "127.0.0.4");
    for (s, me) in [(&a, ha), (&b, hb), (&c, hc)] {
        assert_eq!(listed(s.port()), BTreeSet::from([me.to_string()]));
    }

    // C tells B about itself, from its own address: B verifies C, and C learns B when B
    // registers itself with C (C did not list B).
    assert_eq!(add_peer(&b, hc, &c), json!(true));
    wait_listed(&b, "B", &[hb, hc]);
    wait_listed(&c, "C", &[hb, hc]);

    // B tells A about itself: A verifies B, learns C from B's list and verifies it too, and
    // registers itself with both.
    assert_eq!(add_peer(&a, hb, &b), json!(true));
    for (s, name) in [(&a, "A"), (&b, "B"), (&c, "C")] {
        wait_listed(s, name, &[ha, hb, hc]);
    }
    // A's table, as Prometheus sees it: its two peers verified.
    let (_, text) = http_get(metrics, "/metrics");
    assert_eq!(
        sample(&text, "ferrum_peers{state=\"good\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "ferrum_peers{state=\"bad\"}"),
        Some(0.0),
        "{text}"
    );

    // The Electrum wallet connected to A (not --oneserver) learns B and C from it.
    let wallet = Electrum::start(a.port(), false);
    wallet.wait_for("B and C among its servers", |w| {
        let servers = w.json(&["getservers"]);
        let known = |h: &str| servers.get(h).is_some();
        if known(hb) && known(hc) {
            Ok(())
        } else {
            Err(format!("getservers: {servers}"))
        }
    });
    drop(wallet);

    // A host that is not the caller's address is refused (ElectrumX's on_add_peer), and so
    // is a second add_peer of one host within 10 minutes.
    assert_eq!(add_peer(&a, "127.0.0.9", &c), json!(false));
    assert_eq!(add_peer(&a, hb, &b), json!(false));
}

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

/// ElectrumX on 127.0.0.2 (reported by that address, so it never counts itself as a public
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
                format!("tcp://127.0.0.2:{port},rpc://127.0.0.1:{rpc_port}"),
            )
            .env("REPORT_SERVICES", format!("tcp://127.0.0.2:{port}"))
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
        let stream = TcpStream::connect(("127.0.0.2", self.port)).ok()?;
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

#[test]
fn ferrum_and_electrumx_verify_each_other() {
    let d = Bitcoind::start_with(&["-txindex=1", "-txospenderindex=1"]).unwrap();
    d.mine(12).unwrap();
    let (name, ip) = loopback_host_name();
    let services = if ip == IpAddr::from([127, 0, 0, 1]) {
        "tcp://127.0.0.1:{port}".to_string()
    } else {
        format!("tcp://{ip}:{{port}},tcp://127.0.0.1:{{port}}")
    };
    let report = format!("tcp://{name}:{{port}}");
    let ferrum = FerrumServer::start(&d, &discovery_env(&services, &report));
    let ex = ElectrumX::start(&d);
    let deadline = Instant::now() + DEADLINE;
    let mut ex_session = loop {
        if let Some(mut c) = ex.session() {
            let tip = c.request("blockchain.headers.subscribe", json!([]));
            if tip["result"]["height"] == json!(12) {
                break c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "ElectrumX did not sync:\n{}",
            ex.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    // ElectrumX's features, sent to Ferrum from ElectrumX's address: Ferrum verifies it.
    let features = ex_session.request("server.features", json!([]))["result"].clone();
    let mut c = Client::connect_from("127.0.0.2", ferrum.port());
    c.request("server.version", json!(["ferrum-tests", "1.4"]));
    let added = c.request("server.add_peer", json!([features]));
    assert_eq!(added["result"], json!(true), "{added}");
    wait_listed(&ferrum, "Ferrum", &[&name, "127.0.0.2"]);

    // ElectrumX told of Ferrum by its operator verifies it and lists it to its clients.
    let rpc = electrumx_server().with_file_name("electrumx_rpc");
    let real_name = format!("{name} t{}", ferrum.port());
    let out = Command::new(&rpc)
        .args(["--port", &ex.rpc_port.to_string(), "add_peer", &real_name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = ex_session.request("server.peers.subscribe", json!([]));
        let hosts: Vec<&str> = r["result"]
            .as_array()
            .map(|l| l.iter().filter_map(|e| e[1].as_str()).collect())
            .unwrap_or_default();
        if hosts.contains(&name.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ElectrumX lists {hosts:?}, not {name}:\n{}",
            ex.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
