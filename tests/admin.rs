//! The admin RPC (`rpc://` in SERVICES), `ferrum rpc` and the server's lifecycle, against a real
//! regtest bitcoind: every admin command while Ferrum serves, the admin port answering while
//! the initial sync cannot finish (bitcoind paused with SIGSTOP: deterministic, no timing),
//! SIGTERM → exit 0 and a restart without resync, a second SIGTERM during a slow shutdown
//! (bitcoind paused again) exiting at once with 128 + 15, and a non-loopback admin address
//! refused.

mod common;

use common::pause;
use common::server::{Client, admin_request, base_env, free_port};
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Only there to turn a hang into a failure.
const HANG: Duration = Duration::from_secs(120);

/// A `ferrum` process serving tcp and rpc on loopback, on an index in `dir`.
struct Ferrum {
    child: Option<Child>,
    tcp: u16,
    rpc: u16,
    stderr: PathBuf,
}

/// The environment `ferrum` (serve or rpc) runs with.
fn command(d: &Bitcoind, dir: &Path, tcp: u16, rpc: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferrum"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("LOG_LEVEL", "info")
        .env("DB_DIRECTORY", dir.join("db"))
        .env("DAEMON_URL", format!("127.0.0.1:{}", d.rpc_port()))
        .env("FERRUM_COOKIE_FILE", d.cookie_file())
        .env("NET", "regtest")
        // The admin's add_peer names a host that must never be looked up or contacted.
        .env("PEER_DISCOVERY", "off")
        .env(
            "SERVICES",
            format!("tcp://127.0.0.1:{tcp},rpc://127.0.0.1:{rpc}"),
        );
    for (k, v) in base_env() {
        c.env(k, v);
    }
    c
}

impl Ferrum {
    /// Starts serving (without waiting for anything); stderr goes to `dir/<name>.stderr`.
    fn spawn(d: &Bitcoind, dir: &Path, name: &str) -> Ferrum {
        let (tcp, rpc) = (free_port(), free_port());
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command(d, dir, tcp, rpc)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn ferrum");
        Ferrum {
            child: Some(child),
            tcp,
            rpc,
            stderr,
        }
    }

    /// Starts serving and waits until the Electrum port accepts (caught up, mempool loaded).
    fn start(d: &Bitcoind, dir: &Path, name: &str) -> Ferrum {
        let mut f = Ferrum::spawn(d, dir, name);
        f.wait_until("the Electrum port opens", |f| {
            TcpStream::connect(("127.0.0.1", f.tcp)).is_ok()
        });
        // The probe's session ends a moment after the probe closes.
        f.wait_until("the probe's session is gone", |f| {
            admin_request(f.rpc, "getinfo", json!({}))
                .is_ok_and(|r| r["result"]["sessions"]["count"] == json!(0))
        });
        f
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Polls `cond` until true; panics (with the log) if the process exits or hangs.
    fn wait_until(&mut self, what: &str, mut cond: impl FnMut(&mut Ferrum) -> bool) {
        let deadline = Instant::now() + HANG;
        while !cond(self) {
            assert!(
                self.running(),
                "ferrum exited before {what}:\n{}",
                self.stderr()
            );
            assert!(
                Instant::now() < deadline,
                "{what}: timed out:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: i32) {
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("ferrum did not exit:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One admin request; the whole reply.
    fn admin(&self, method: &str, params: Value) -> Value {
        admin_request(self.rpc, method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// One admin request's result, panicking on an error reply.
    fn result(&self, method: &str, params: Value) -> Value {
        let r = self.admin(method, params);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }
}

impl Drop for Ferrum {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- ferrum stderr ----\n{}\n----", self.stderr());
        }
    }
}

/// 101 blocks, then one paying 50,000 sat to a new P2WPKH address; returns the address.
fn chain(d: &Bitcoind) -> (String, String) {
    let mut b = ChainBuilder::new(11);
    b.mine_empty(d, 101).unwrap();
    let script = b.new_script(OutputType::P2wpkh);
    let tx = b
        .tx_to(&[(script.clone(), bitcoin::Amount::from_sat(50_000))])
        .unwrap();
    b.mine_txs(d, vec![tx.clone()]).unwrap();
    let addr = bitcoin::Address::from_script(&script, bitcoin::Network::Regtest).unwrap();
    (addr.to_string(), tx.compute_txid().to_string())
}

fn tip_hash(d: &Bitcoind) -> String {
    d.tip().unwrap().0.to_string()
}

#[test]
fn every_admin_command_while_serving() {
    let d = Bitcoind::start().unwrap();
    let (address, txid) = chain(&d);
    let dir = tempfile::tempdir().unwrap();
    let mut f = Ferrum::start(&d, dir.path(), "serve");

    let info = f.result("getinfo", json!({}));
    assert_eq!(info["db height"], json!(102), "{info}");
    assert_eq!(info["daemon height"], json!(102), "{info}");
    assert_eq!(info["db tip"], json!(tip_hash(&d)), "{info}");
    assert_eq!(info["coin"], json!("Bitcoin"));
    assert_eq!(info["pid"], json!(f.pid()));
    assert_eq!(info["status"], json!("serving"));
    assert_eq!(info["sessions"]["count"], json!(0));
    assert_eq!(
        info["caches"]["history"],
        json!("0 lookups, 0 hits, 0 entries, hitrate 0.0000"),
        "{info}"
    );
    assert_eq!(info["daemon"], json!(format!("127.0.0.1:{}", d.rpc_port())));
    for key in [
        "caches",
        "groups",
        "peers",
        "request counts",
        "request total",
        "txs sent",
    ] {
        assert!(info.get(key).is_some(), "getinfo lacks {key}: {info}");
    }

    // A client shows up in sessions, inspect_session and getinfo.
    let mut c = Client::negotiated(f.tcp, "1.4");
    c.request("blockchain.headers.subscribe", json!([]));
    let sessions = f.result("sessions", json!({}));
    let rows = sessions.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{sessions}");
    let row = &rows[0];
    let id = row[0].as_u64().unwrap();
    assert_eq!(row[1], json!("T1"));
    assert!(row[2].as_str().unwrap().starts_with("127.0.0.1:"), "{row}");
    assert_eq!(row[3], json!("ferrum-tests"));
    assert_eq!(row[4], json!("1.4"));
    assert_eq!(row.as_array().unwrap().len(), 15, "{row}");
    let inspect = f.result("inspect_session", json!({"session_id": id}));
    assert_eq!(inspect["client_name"], json!("ferrum-tests"), "{inspect}");
    assert_eq!(inspect["request total"], json!(2), "{inspect}");
    assert_eq!(
        f.admin("inspect_session", json!([9999]))["error"]["code"],
        json!(1)
    );
    assert_eq!(
        f.result("getinfo", json!([]))["sessions"]["count"],
        json!(1)
    );

    // Loopback clients belong to no group (private addresses are exempt, as in ElectrumX).
    assert_eq!(f.result("groups", json!({})), json!([]));
    assert_eq!(f.result("peers", json!({})), json!([]));
    assert_eq!(
        f.result(
            "add_peer",
            json!({"real_name": "electrum.example.com t s50002"})
        ),
        json!(
            "peer 'electrum.example.com t s50002' added, but PEER_DISCOVERY is off: it is \
             neither verified nor listed"
        )
    );
    let peers = f.result("peers", json!({}));
    assert_eq!(
        peers[0]["features"]["hosts"]["electrum.example.com"]["ssl_port"],
        json!(50002)
    );

    assert_eq!(
        f.result("log", json!({"session_ids": [id.to_string(), "nosuch"]})),
        json!([format!("logging session {id}"), "unknown: nosuch"])
    );
    c.request("server.ping", json!([]));
    f.wait_until("the logged request appears", |f| {
        f.stderr().contains("server.ping")
    });
    assert_eq!(
        f.result("log", json!([["none"]])),
        json!(["logging no sessions"])
    );

    // query: ElectrumX's lines, by address (bech32) and by script hash.
    let lines = f.result("query", json!({"items": [address.clone()], "limit": 1000}));
    assert_eq!(
        lines,
        json!([
            format!("Address: {address}"),
            format!("History #0: height 102 txid {txid}"),
            format!("UTXO #1: txid {txid} tx_pos 0 height 102 value 50,000"),
            "Balance: 0.0005 XTN",
        ]),
        "{lines}"
    );
    let none = f.result("query", json!([["00".repeat(32)], 10]));
    assert_eq!(
        none,
        json!([
            format!("Scripthash: {}", "00".repeat(32)),
            "No history found",
            "No UTXOs found",
            "Balance: 0 XTN"
        ])
    );

    // daemon_url: the configured list (or none) switches to its first URL; others are refused.
    let now = json!(format!("now using daemon at 127.0.0.1:{}", d.rpc_port()));
    assert_eq!(f.result("daemon_url", json!({"daemon_url": ""})), now);
    assert_eq!(
        f.result(
            "daemon_url",
            json!([format!("http://127.0.0.1:{}", d.rpc_port())])
        ),
        now
    );
    assert_eq!(
        f.admin("daemon_url", json!(["http://u:p@10.1.1.1:8332"]))["error"]["code"],
        json!(1)
    );
    assert_eq!(f.admin("nosuch", json!([]))["error"]["code"], json!(-32601));

    // disconnect closes the client's connection.
    assert_eq!(
        f.result("disconnect", json!({"session_ids": [id.to_string()]})),
        json!([format!("disconnecting session {id}")])
    );
    assert!(
        c.closes_within(Duration::from_secs(30)),
        "session {id} was not closed"
    );
    f.wait_until("the session is gone", |f| {
        f.result("sessions", json!({})) == json!([])
    });

    // reorg: the top blocks are rolled back and indexed again; the index ends at the tip.
    assert_eq!(
        f.result("reorg", json!({"count": 2})),
        json!("scheduled a reorg of 2 blocks")
    );
    f.wait_until("the forced reorg", |f| {
        f.stderr().contains("forcing a reorg of 2 block(s)")
    });
    f.wait_until("the index is back at the tip", |f| {
        let i = f.result("getinfo", json!({}));
        i["db height"] == json!(102) && i["db tip"] == json!(tip_hash(&d))
    });
    assert!(
        f.stderr().contains("rolling back 2 block(s)"),
        "{}",
        f.stderr()
    );
    let again = f.result("query", json!({"items": [address.clone()]}));
    assert_eq!(again, lines);

    // `ferrum rpc`: finds the port in SERVICES, prints like electrumx_rpc.
    let out = command(&d, dir.path(), f.tcp, f.rpc)
        .args(["rpc", "getinfo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("{\n    \"caches\": {"), "{text}");
    let printed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(printed["db height"], json!(102));
    let mut c2 = Client::negotiated(f.tcp, "1.4");
    c2.request("server.ping", json!([]));
    let out = command(&d, dir.path(), f.tcp, 1)
        .args(["rpc", "--port", &f.rpc.to_string(), "sessions"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("ID     Flags            Client Proto    Cost"),
        "{text}"
    );
    assert!(lines[1].contains("ferrum-tests"), "{text}");
    let out = command(&d, dir.path(), f.tcp, f.rpc)
        .args(["rpc", "query", "-l", "5", &address])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("Balance: 0.0005 XTN")
    );
    let out = command(&d, dir.path(), f.tcp, free_port())
        .args(["rpc", "getinfo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to the admin RPC"));

    // A request waiting for bitcoind is pending (column 7 of `sessions`) until it is answered.
    pause(&d, true);
    let id = c2.send("blockchain.transaction.get", json!([txid]));
    let pending = || -> u64 {
        let rows = f.result("sessions", json!({}));
        rows.as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r[7].as_u64())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen == 0 && Instant::now() < deadline {
        seen = pending();
        std::thread::sleep(Duration::from_millis(20));
    }
    if seen != 1 {
        // Say what happened instead: was bitcoind really stopped, and was the request answered?
        let state = std::fs::read_to_string(format!("/proc/{}/stat", d.pid().unwrap()));
        let early = c2.wait_reply_timeout(&id, Duration::from_secs(1));
        pause(&d, false);
        panic!(
            "pending requests while bitcoind is stopped: {seen}; bitcoind stat {state:?}; \
             reply so far {early:?}\n{}",
            f.stderr()
        );
    }
    pause(&d, false);
    let reply = c2.wait_reply_timeout(&id, Duration::from_secs(60));
    assert!(reply.is_some_and(|r| r["result"].is_string()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending() != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pending(), 0, "nothing pending once answered");

    // stop: the process exits 0.
    assert_eq!(f.result("stop", json!({})), json!("stopping"));
    assert!(c2.closes_within(Duration::from_secs(30)));
    let status = f.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", f.stderr());
}

#[test]
fn admin_answers_during_initial_sync() {
    let d = Bitcoind::start().unwrap();
    chain(&d);
    let dir = tempfile::tempdir().unwrap();
    // bitcoind does not answer: Ferrum cannot catch up until it is resumed.
    pause(&d, true);
    let mut f = Ferrum::spawn(&d, dir.path(), "sync");
    f.wait_until("the admin port answers", |f| {
        admin_request(f.rpc, "getinfo", json!({})).is_ok()
    });
    let info = f.result("getinfo", json!({}));
    assert_ne!(info["status"], json!("serving"), "{info}");
    assert_eq!(info["db height"], json!(-1), "{info}");
    assert_eq!(f.result("sessions", json!({})), json!([]));
    assert_eq!(
        f.admin("reorg", json!([1]))["error"]["message"],
        json!("still catching up with daemon")
    );
    assert!(
        TcpStream::connect(("127.0.0.1", f.tcp)).is_err(),
        "client port open before sync"
    );
    pause(&d, false);
    f.wait_until("the Electrum port opens", |f| {
        TcpStream::connect(("127.0.0.1", f.tcp)).is_ok()
    });
    let info = f.result("getinfo", json!({}));
    assert_eq!(info["status"], json!("serving"));
    assert_eq!(info["db height"], json!(102));
    f.signal(libc::SIGTERM);
    assert_eq!(f.wait_exit().code(), Some(0), "{}", f.stderr());
}

#[test]
fn sigterm_exits_zero_and_restart_needs_no_resync() {
    let d = Bitcoind::start().unwrap();
    chain(&d);
    let dir = tempfile::tempdir().unwrap();
    let mut f = Ferrum::start(&d, dir.path(), "first");
    let mut c = Client::negotiated(f.tcp, "1.4");
    f.signal(libc::SIGTERM);
    assert!(c.closes_within(Duration::from_secs(30)));
    assert_eq!(f.wait_exit().code(), Some(0), "{}", f.stderr());
    assert!(f.stderr().contains("stopped"), "{}", f.stderr());

    let mut g = Ferrum::spawn(&d, dir.path(), "second");
    g.wait_until("the index is opened", |g| {
        g.stderr().contains("opened at height")
    });
    assert!(
        g.stderr().contains("opened at height 102 "),
        "{}",
        g.stderr()
    );
    g.wait_until("the Electrum port opens", |g| {
        TcpStream::connect(("127.0.0.1", g.tcp)).is_ok()
    });
    g.signal(libc::SIGINT);
    assert_eq!(g.wait_exit().code(), Some(0), "{}", g.stderr());
}

#[test]
fn second_sigterm_during_a_slow_shutdown_exits_at_once() {
    let d = Bitcoind::start().unwrap();
    chain(&d);
    let dir = tempfile::tempdir().unwrap();
    let mut f = Ferrum::start(&d, dir.path(), "slow");
    // With bitcoind paused the follow thread hangs in a daemon call, so the first SIGTERM's
    // shutdown waits for it (up to its grace period); the second must not.
    pause(&d, true);
    std::thread::sleep(Duration::from_millis(500)); // let the follow thread reach bitcoind
    f.signal(libc::SIGTERM);
    f.wait_until("the shutdown starts", |f| {
        f.stderr().contains("stopping: closing")
    });
    f.signal(libc::SIGTERM);
    let status = f.wait_exit();
    pause(&d, false);
    // 128 + SIGTERM: the forced exit, not the end of the clean shutdown (which exits 0).
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{}", f.stderr());

    // Crash-safe: a restart finds the index where it was.
    let mut g = Ferrum::start(&d, dir.path(), "after");
    assert!(
        g.stderr().contains("opened at height 102 "),
        "{}",
        g.stderr()
    );
    g.signal(libc::SIGTERM);
    assert_eq!(g.wait_exit().code(), Some(0), "{}", g.stderr());
}

#[test]
fn a_non_loopback_admin_address_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    // A DB_DIRECTORY that is a file: once past the check, start-up fails at once.
    std::fs::write(dir.path().join("db"), b"").unwrap();
    let run = |allow: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrum"));
        c.env_clear()
            .env("HOME", dir.path())
            .env("NET", "regtest")
            .env("DB_DIRECTORY", dir.path().join("db"))
            .env("DAEMON_URL", "http://u:p@127.0.0.1:1")
            .env("SERVICES", "rpc://0.0.0.0:1");
        if allow {
            c.arg("--admin-allow-remote");
        }
        c.output().unwrap()
    };
    let out = run(false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FERRUM_ADMIN_ALLOW_REMOTE"), "{err}");
    // Allowed: it gets past the check (and fails opening the index).
    let out = run(true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("FERRUM_ADMIN_ALLOW_REMOTE"), "{err}");
}
