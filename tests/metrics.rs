//! Metrics and logs of a running `ferrum` (real regtest bitcoind): the Prometheus endpoint
//! (`FERRUM_METRICS`) reports the index and daemon heights, sessions by transport, request
//! counters and latency histograms by method, subscriptions and RSS; `ANON_LOGS` hides client
//! addresses from the log and `LOG_SESSIONS` prints the periodic session summary.

mod common;

use common::server::{Client, FerrumServer, base_env, free_port, http_get, sample};
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A raw session that negotiated 1.4; returns it and its local port (the client's address).
fn raw_session(port: u16) -> (TcpStream, u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"{\"id\":1,\"method\":\"server.version\",\"params\":[\"raw\",\"1.4\"]}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(s.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("\"result\""), "{line}");
    let local = s.local_addr().unwrap().port();
    (s, local)
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match ok() {
            None => return,
            Some(last) => last,
        };
        assert!(Instant::now() < deadline, "{what}; last seen:\n{last}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_endpoint_and_log_options() {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(5);
    b.mine_empty(&d, 110).unwrap();
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut env = base_env();
    env.extend([
        ("FERRUM_METRICS", metrics_addr.as_str()),
        ("ANON_LOGS", "1"),
        ("LOG_SESSIONS", "1"),
        ("LOG_LEVEL", "info,ferrum::electrum=debug"),
    ]);
    let mut server = FerrumServer::start(&d, &env);

    let mut c = Client::negotiated(server.port(), "1.4");
    for _ in 0..3 {
        assert_eq!(c.request("server.ping", json!([]))["result"], json!(null));
    }
    c.request("blockchain.headers.subscribe", json!([]));
    // Subscriptions count scripts and outpoints, as ElectrumX's session table does.
    let sub = c.request("blockchain.scripthash.subscribe", json!(["00".repeat(32)]));
    assert_eq!(sub["result"], json!(null), "{sub}");
    let bad = c.request("blockchain.transaction.get", json!(["not a txid"]));
    assert_eq!(bad["error"]["code"], json!(1), "{bad}");
    let (_raw, raw_port) = raw_session(server.port());

    // The start-up probe's session ends a moment after the probe closes: scrape until only
    // the two sessions opened here are left.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, text) = loop {
        let (status, text) = http_get(metrics_port, "/metrics");
        let tcp = sample(&text, "ferrum_sessions{transport=\"tcp\"}");
        if tcp == Some(2.0) || Instant::now() > deadline {
            break (status, text);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.contains("200"), "{status}");
    let get = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("no {name}:\n{text}"));
    assert_eq!(get("ferrum_index_height"), 110.0);
    assert_eq!(get("ferrum_daemon_height"), 110.0);
    assert!(get("ferrum_indexed_blocks_total") >= 110.0);
    assert!(get("ferrum_indexed_txs_total") >= 110.0);
    assert_eq!(get("ferrum_sessions{transport=\"tcp\"}"), 2.0);
    assert_eq!(get("ferrum_sessions{transport=\"ssl\"}"), 0.0);
    assert_eq!(get("ferrum_subscriptions"), 1.0);
    assert_eq!(get("ferrum_requests_total{method=\"server.ping\"}"), 3.0);
    assert_eq!(get("ferrum_requests_total{method=\"server.version\"}"), 2.0);
    assert_eq!(
        get("ferrum_request_errors_total{method=\"blockchain.transaction.get\"}"),
        1.0
    );
    assert_eq!(
        get("ferrum_request_duration_seconds_count{method=\"server.ping\"}"),
        3.0
    );
    assert_eq!(
        get("ferrum_request_duration_seconds_bucket{method=\"server.ping\",le=\"+Inf\"}"),
        3.0
    );
    assert!(get("ferrum_request_duration_seconds_sum{method=\"server.ping\"}") > 0.0);
    assert_eq!(get("ferrum_mempool_txs"), 0.0);
    assert!(get("ferrum_follow_rounds_total") >= 1.0);
    assert!(get("process_resident_memory_bytes") > 1e6);
    assert!(text.contains("ferrum_db_size_bytes{cf="), "{text}");
    let (status, _) = http_get(metrics_port, "/other");
    assert!(status.contains("404"), "{status}");

    // A new block: the index height follows.
    b.mine_empty(&d, 1).unwrap();
    wait_for("index height 111", Duration::from_secs(60), || {
        let (_, text) = http_get(metrics_port, "/metrics");
        (sample(&text, "ferrum_index_height") != Some(111.0)).then_some(text)
    });

    // LOG_SESSIONS=1: the summary and the session table, every second.
    wait_for("a session summary", Duration::from_secs(10), || {
        let log = server.stderr();
        (!log.contains("sessions: 2 (tcp 2), requests")).then_some(log)
    });
    let log = server.stderr();
    assert!(log.contains("Sent KB"), "{log}");
    // ANON_LOGS: sessions are logged, client addresses are not.
    assert!(log.contains("tcp://xx.xx.xx.xx:xx: connected"), "{log}");
    assert!(log.contains("xx.xx.xx.xx:xx"), "{log}");
    assert!(!log.contains(&format!("127.0.0.1:{raw_port}")), "{log}");
    assert!(server.is_running());
    drop(server);

    // Without ANON_LOGS the same line shows the address; LOG_SESSIONS=0 prints no summary.
    let mut env = base_env();
    env.extend([
        ("LOG_SESSIONS", "0"),
        ("LOG_LEVEL", "info,ferrum::electrum=debug"),
    ]);
    let server = FerrumServer::start(&d, &env);
    let (_raw, raw_port) = raw_session(server.port());
    let shown = format!("tcp://127.0.0.1:{raw_port}: connected");
    wait_for(
        "the client's address in the log",
        Duration::from_secs(10),
        || {
            let log = server.stderr();
            (!log.contains(&shown)).then_some(log)
        },
    );
    std::thread::sleep(Duration::from_millis(1500));
    let log = server.stderr();
    assert!(!log.contains("sessions: "), "{log}");
    assert!(!log.contains("metrics on"), "{log}");
}
