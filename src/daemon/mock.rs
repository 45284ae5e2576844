//! A scripted fake bitcoind (HTTP/1.1 keep-alive, one thread per connection) and the tests of
//! [`Daemon`] behaviour that a real bitcoind does not show on demand: full work queues,
//! warmup, legacy HTTP 500 errors, garbage replies, old `waitfornewblock` versions, and an
//! endpoint going down and coming back.

use super::SpentSource;
use super::failover::RetryPolicy;
use super::settings::{BlockSourceMode, DaemonAuth, DaemonEndpoint, DaemonSettings, RestMode};
use super::{Daemon, DaemonError};
use crate::chain::{Bitcoin, Coin};
use bitcoin::BlockHash;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// One request as the mock saw it.
struct Req {
    path: String,
    rpc: Value,
}

impl Req {
    fn method(&self) -> &str {
        self.rpc["method"].as_str().unwrap_or_default()
    }
    fn params(&self) -> &Value {
        &self.rpc["params"]
    }
    fn ok(&self, result: Value) -> (u16, Vec<u8>) {
        let reply = json!({"jsonrpc": "2.0", "result": result, "id": self.rpc["id"]});
        (200, reply.to_string().into_bytes())
    }
    fn err(&self, code: i32, message: &str) -> (u16, Vec<u8>) {
        let error = json!({"code": code, "message": message});
        (
            200,
            json!({"jsonrpc": "2.0", "error": error, "id": self.rpc["id"]})
                .to_string()
                .into_bytes(),
        )
    }
}

type Handler = Arc<dyn Fn(&Req) -> (u16, Vec<u8>) + Send + Sync>;

struct Mock {
    port: u16,
    /// While set, connections are dropped without an answer.
    down: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

impl Mock {
    fn start(handler: impl Fn(&Req) -> (u16, Vec<u8>) + Send + Sync + 'static) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let handler: Handler = Arc::new(handler);
        let down = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let (d, h) = (down.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, down, hits) = (handler.clone(), d.clone(), h.clone());
                std::thread::spawn(move || serve(stream, &*handler, &down, &hits));
            }
        });
        Mock { port, down, hits }
    }

    fn endpoint(&self) -> DaemonEndpoint {
        DaemonEndpoint {
            host: "127.0.0.1".into(),
            port: self.port,
            auth: DaemonAuth::UserPass {
                user: "u".into(),
                password: "p".into(),
            },
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(
    stream: TcpStream,
    handler: &(dyn Fn(&Req) -> (u16, Vec<u8>) + Send + Sync),
    down: &AtomicBool,
    hits: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if down.load(Ordering::SeqCst) || reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut len = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(v) = header.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        if down.load(Ordering::SeqCst) {
            return Ok(());
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let req = Req {
            path,
            rpc: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        let (status, text) = handler(&req);
        write!(
            writer,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n",
            text.len()
        )?;
        writer.write_all(&text)?;
    }
}

const COIN: &Bitcoin = &Bitcoin::REGTEST;
const TIP0: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const TIP1: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn hash(s: &str) -> BlockHash {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// What `connect` needs: a regtest genesis, network info, REST off, `getblock` verbosity 3.
fn base(r: &Req) -> (u16, Vec<u8>) {
    match (r.path.as_str(), r.method()) {
        ("/", "getblockhash") if r.params() == &json!([0]) => {
            r.ok(json!(COIN.genesis_hash().to_string()))
        }
        ("/", "getblock") if r.params()[1] == json!(3) => r.ok(json!({"tx": []})),
        ("/", "getnetworkinfo") => r.ok(json!({"version": 1, "subversion": "/Mock/"})),
        ("/", "getbestblockhash") => r.ok(json!(TIP0)),
        ("/", _) => r.err(-32601, "Method not found"),
        _ => (404, Vec::new()),
    }
}

const FAST: RetryPolicy = RetryPolicy {
    initial: Duration::from_millis(1),
    max: Duration::from_millis(5),
    budget: Duration::from_secs(1),
    probe_interval: Duration::from_millis(50),
};

fn connect(endpoints: Vec<DaemonEndpoint>) -> Result<Daemon, DaemonError> {
    connect_with_source(endpoints, BlockSourceMode::Auto)
}

fn connect_with_source(
    endpoints: Vec<DaemonEndpoint>,
    block_source: BlockSourceMode,
) -> Result<Daemon, DaemonError> {
    let settings = DaemonSettings {
        endpoints,
        request_timeout: Duration::from_secs(5),
        rest: RestMode::Auto,
        block_source,
    };
    Daemon::connect_with_policy(settings, COIN, FAST)
}

fn connected(mock: &Mock) -> Daemon {
    connect(vec![mock.endpoint()]).unwrap_or_else(|e| panic!("connect: {e}"))
}

#[test]
fn a_node_without_spent_outputs_gets_the_raw_source_unless_another_is_forced() {
    // Bitcoin Core 22: REST off here, and getblock's verbosity stops at 2.
    let mock = Mock::start(|r| match r.method() {
        "getblock" => r.err(-8, "Verbosity must be in range from 0 to 2"),
        _ => base(r),
    });
    let daemon = connected(&mock);
    assert_eq!(daemon.spent_source(), SpentSource::Index);
    for forced in [BlockSourceMode::Rpc, BlockSourceMode::Rest] {
        let Err(e) = connect_with_source(vec![mock.endpoint()], forced) else {
            panic!("--block-source {} was accepted", forced.name());
        };
        assert!(matches!(e, DaemonError::SourceUnavailable { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "Bitcoin /Mock/ at {} cannot serve --block-source {}: ",
                mock.endpoint(),
                forced.name()
            )),
            "{text}"
        );
        assert!(text.contains("--block-source auto"), "{text}");
        match forced {
            BlockSourceMode::Rpc => assert!(
                text.contains(
                    "getblock verbosity 3 is refused (-8: Verbosity must be in range from 0 to 2)"
                ) && text.contains("Bitcoin Core 23"),
                "{text}"
            ),
            _ => assert!(
                text.contains("REST interface is off") && text.contains("-rest"),
                "{text}"
            ),
        }
    }
    let raw = connect_with_source(vec![mock.endpoint()], BlockSourceMode::Raw).unwrap();
    assert_eq!(raw.spent_source(), SpentSource::Index);
}

#[test]
fn raw_is_used_when_forced_even_if_the_node_has_better() {
    let mock = Mock::start(base);
    assert_eq!(connected(&mock).spent_source(), SpentSource::Rpc);
    let raw = connect_with_source(vec![mock.endpoint()], BlockSourceMode::Raw).unwrap();
    assert_eq!(raw.spent_source(), SpentSource::Index);
}

#[test]
fn retries_a_full_work_queue_and_warmup() {
    let n = AtomicUsize::new(0);
    let mock = Mock::start(move |r| match r.method() {
        "getblockcount" => match n.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => (503, b"Work queue depth exceeded".to_vec()),
            2 => (500, Vec::new()),
            3 => r.err(-28, "Loading block index…"),
            _ => r.ok(json!(7)),
        },
        _ => base(r),
    });
    let daemon = connected(&mock);
    let before = mock.hits();
    assert_eq!(daemon.call("getblockcount", json!([])), Ok(json!(7)));
    assert_eq!(mock.hits() - before, 5);
}

#[test]
fn gives_up_after_the_budget() {
    let mock = Mock::start(|r| match r.method() {
        "getblockcount" => (503, b"Work queue depth exceeded".to_vec()),
        _ => base(r),
    });
    let daemon = connected(&mock);
    let err = daemon.call("getblockcount", json!([])).err();
    assert!(
        matches!(&err, Some(DaemonError::Unavailable { reason, .. }) if reason.contains("Work queue")),
        "{err:?}"
    );
}

#[test]
fn ordinary_rpc_errors_are_returned_at_once() {
    let mock = Mock::start(|r| match r.method() {
        "getblockhash" if r.params() != &json!([0]) => r.err(-8, "Block height out of range"),
        "getblockheader" => r.err(-5, "Block not found"),
        // Core < 28: JSON-RPC errors with HTTP 500.
        "getblock" => {
            let error = json!({"code": -5, "message": "Block not found"});
            (
                500,
                json!({"result": null, "error": error, "id": r.rpc["id"]})
                    .to_string()
                    .into_bytes(),
            )
        }
        _ => base(r),
    });
    let daemon = connected(&mock);
    let before = mock.hits();
    assert_eq!(daemon.block_hash(5), Ok(None));
    assert_eq!(daemon.header_info(&hash(TIP1)), Ok(None));
    assert_eq!(
        daemon.block(&hash(TIP1)).err().and_then(|e| e.rpc_code()),
        Some(-5)
    );
    assert_eq!(mock.hits() - before, 3, "no retries");
}

#[test]
fn garbage_is_a_bad_reply() {
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let genesis_hex = bitcoin::consensus::encode::serialize_hex(&genesis);
    let genesis_len = genesis_hex.len() / 2;
    let mock = Mock::start(move |r| match r.method() {
        "getbestblockhash" => (200, b"<html>not json".to_vec()),
        "getblockchaininfo" => r.ok(json!({"chain": "regtest", "blocks": "many"})),
        "getblock" if r.params()[0] == json!(TIP0) => r.ok(json!("zz")),
        // A valid block, but not the one asked for.
        "getblock" => r.ok(json!(genesis_hex)),
        "getblockheader" => r.ok(json!([])),
        _ => base(r),
    });
    let daemon = connected(&mock);
    let bad = |r: Result<(), DaemonError>| matches!(r, Err(DaemonError::BadReply { .. }));
    assert!(bad(daemon.best_block_hash().map(drop)));
    assert!(bad(daemon.blockchain_info().map(drop)));
    assert!(bad(daemon.block(&hash(TIP0)).map(drop)));
    let wrong = daemon
        .block(&hash(TIP1))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(wrong.contains("hashes to"), "{wrong}");
    assert!(bad(daemon.header_info(&hash(TIP0)).map(drop)));
    assert_eq!(
        daemon.block(&COIN.genesis_hash()).map(|b| b.len()),
        Ok(genesis_len),
        "the right block passes the hash check"
    );
}

#[test]
fn rest_answers_are_used_and_retried() {
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let raw = bitcoin::consensus::encode::serialize(&genesis);
    let expected = raw.clone();
    let n = AtomicUsize::new(0);
    let mock = Mock::start(move |r| match r.path.as_str() {
        "/rest/chaininfo.json" => (200, b"{}".to_vec()),
        p if p.starts_with("/rest/spenttxouts/") => match n.fetch_add(1, Ordering::SeqCst) {
            1 => (503, b"Service temporarily unavailable: Loading".to_vec()),
            _ => (200, vec![1, 0]),
        },
        p if p == format!("/rest/block/{}.bin", COIN.genesis_hash()) => (200, raw.clone()),
        // Garbage for any other block.
        p if p.starts_with("/rest/block/") => (200, vec![0; 100]),
        _ => base(r),
    });
    let daemon = connected(&mock);
    assert!(daemon.rest_enabled() && daemon.spent_outputs_enabled());
    assert_eq!(
        daemon.spent_outputs(&COIN.genesis_hash()),
        Ok(Some(vec![1, 0])),
        "after a 503"
    );
    assert_eq!(daemon.block(&COIN.genesis_hash()), Ok(expected));
    assert!(matches!(
        daemon.block(&hash(TIP0)),
        Err(DaemonError::BadReply { .. })
    ));
}

#[test]
fn wait_for_new_block_on_core_without_the_tip_argument() {
    let mock = Mock::start(|r| match r.method() {
        // Old Core: too many parameters is a -1 with the help text.
        "waitfornewblock" if r.params().as_array().map(Vec::len) == Some(2) => r.err(
            -1,
            "waitfornewblock ( timeout )\n\nWaits for a specific new block",
        ),
        "waitfornewblock" => r.ok(json!({"hash": TIP1, "height": 1})),
        _ => base(r),
    });
    let daemon = connected(&mock);
    let t = Duration::from_secs(1);
    assert_eq!(daemon.wait_for_new_block(&hash(TIP0), t), Ok(hash(TIP1)));
    // The daemon's tip differs from ours: returned without waiting.
    assert_eq!(daemon.wait_for_new_block(&hash(TIP1), t), Ok(hash(TIP0)));
}

#[test]
fn wait_for_new_block_polls_without_waitfornewblock() {
    let n = Arc::new(AtomicUsize::new(0));
    let calls = n.clone();
    let mock = Mock::start(move |r| match r.method() {
        "getbestblockhash" => {
            let tip = if calls.fetch_add(1, Ordering::SeqCst) < 1 {
                TIP0
            } else {
                TIP1
            };
            r.ok(json!(tip))
        }
        _ => base(r),
    });
    let daemon = connected(&mock);
    assert_eq!(
        daemon.wait_for_new_block(&hash(TIP0), Duration::from_secs(30)),
        Ok(hash(TIP1))
    );
    // Never changes: the tip after the timeout.
    assert_eq!(
        daemon.wait_for_new_block(&hash(TIP1), Duration::from_millis(10)),
        Ok(hash(TIP1))
    );
    assert!(n.load(Ordering::SeqCst) >= 3);
}

#[test]
fn fails_over_and_recovers_the_preferred_endpoint() {
    let preferred = Mock::start(base);
    let backup = Mock::start(base);
    let daemon = connect(vec![preferred.endpoint(), backup.endpoint()])
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let (p, b) = (
        format!("127.0.0.1:{}", preferred.port),
        format!("127.0.0.1:{}", backup.port),
    );
    assert_eq!(daemon.current_endpoint(), p);

    preferred.down.store(true, Ordering::SeqCst);
    assert_eq!(daemon.best_block_hash(), Ok(hash(TIP0)));
    assert_eq!(daemon.current_endpoint(), b);
    // Probes of the preferred endpoint fail quietly while it is down.
    std::thread::sleep(FAST.probe_interval * 2);
    assert_eq!(daemon.best_block_hash(), Ok(hash(TIP0)));
    assert_eq!(daemon.current_endpoint(), b);

    preferred.down.store(false, Ordering::SeqCst);
    std::thread::sleep(FAST.probe_interval * 2);
    assert_eq!(daemon.best_block_hash(), Ok(hash(TIP0)));
    assert_eq!(daemon.current_endpoint(), p, "recovered");
}

#[test]
fn all_endpoints_down_is_a_connect_error() {
    let a = Mock::start(base);
    let daemon = connected(&a);
    a.down.store(true, Ordering::SeqCst);
    let err = daemon
        .best_block_hash()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with(&format!("cannot reach bitcoind at 127.0.0.1:{}", a.port)),
        "{err}"
    );
}

#[test]
fn long_waits_are_split_into_chunks() {
    let waits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = waits.clone();
    let mock = Mock::start(move |r| match r.method() {
        "waitfornewblock" => {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.push(r.params()[0].as_u64().unwrap_or_default());
            // The first chunk ends without a new block.
            r.ok(json!({"hash": if seen.len() == 1 { TIP0 } else { TIP1 }, "height": 1}))
        }
        _ => base(r),
    });
    let daemon = connected(&mock);
    let tip = daemon.wait_for_new_block(&hash(TIP0), Duration::from_secs(3600));
    assert_eq!(tip, Ok(hash(TIP1)));
    let waits = waits.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(waits.len(), 2);
    assert!(
        waits.iter().all(|&ms| (1..=25_000).contains(&ms)),
        "{waits:?}"
    );
}

#[test]
fn following_stops_cleanly_on_a_block_that_never_parses() {
    use crate::sync::{Indexer, IndexerConfig};
    use bitcoin::hashes::{Hash, sha256d};
    let genesis = bitcoin::consensus::serialize(&bitcoin::blockdata::constants::genesis_block(
        bitcoin::Network::Regtest,
    ));
    // Block 1: a header that extends the genesis block and hashes to what the mock announces,
    // then one transaction cut short.
    let mut bad = vec![1, 0, 0, 0];
    bad.extend_from_slice(COIN.genesis_hash().as_byte_array());
    bad.extend_from_slice(&[0u8; 44]);
    bad.extend_from_slice(&[1, 1, 0, 0, 0, 0xff]);
    let bad_hash = BlockHash::from_raw_hash(sha256d::Hash::hash(&bad[..80]));
    let hashes = [COIN.genesis_hash(), bad_hash];
    let answer = move |rpc: &Value| -> Value {
        let p = &rpc["params"];
        let reply = |result: Value| json!({"jsonrpc": "2.0", "result": result, "id": rpc["id"]});
        match rpc["method"].as_str().unwrap_or_default() {
            "getblockhash" => match p[0].as_u64().and_then(|h| hashes.get(h as usize)) {
                Some(h) => reply(json!(h.to_string())),
                None => json!({"error": {"code": -8, "message": "out of range"}, "id": rpc["id"]}),
            },
            "getblockchaininfo" => reply(json!({"chain": "regtest", "blocks": 1, "headers": 1,
                "bestblockhash": bad_hash.to_string(), "initialblockdownload": false,
                "pruned": false})),
            "getnetworkinfo" => reply(json!({"version": 1, "subversion": "/Mock/"})),
            "getblock" if p[0] == json!(COIN.genesis_hash().to_string()) => {
                reply(json!(crate::types::bytes_to_hex(&genesis)))
            }
            "getblock" => reply(json!(crate::types::bytes_to_hex(&bad))),
            _ => json!({"error": {"code": -32601, "message": "Method not found"}, "id": rpc["id"]}),
        }
    };
    let mock = Mock::start(move |r| {
        if r.path != "/" {
            return (404, Vec::new());
        }
        let reply = match &r.rpc {
            Value::Array(batch) => Value::Array(batch.iter().map(&answer).collect()),
            one => answer(one),
        };
        (200, reply.to_string().into_bytes())
    });
    let daemon = connect_with_source(vec![mock.endpoint()], BlockSourceMode::Raw).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(crate::store::Store::open(dir.path(), COIN, 16).unwrap());
    let cfg = IndexerConfig {
        cache_mb: 16,
        reorg_limit: 10,
        threads: 1,
        poll_interval: Duration::from_millis(100),
        zmq_block_endpoint: None,
        silent_payments: false,
    };
    let indexer = Indexer::new(store.clone(), Arc::new(daemon), COIN, cfg);
    let stop = AtomicBool::new(false);
    let err = indexer
        .follow(&stop, Duration::from_millis(100), |_| {})
        .expect_err("following a chain with an unreadable block must stop");
    let text = format!("{err:#}");
    assert!(
        text.starts_with("giving up after 4 attempts: the daemon sends this block the same way"),
        "{text}"
    );
    assert!(text.contains("intact at height 0"), "{text}");
    assert!(
        text.contains(&format!(
            "Bitcoin regtest block 1 ({bad_hash}): cannot parse under the coin's rules"
        )),
        "{text}"
    );
    assert_eq!(store.tip().height(), Some(crate::types::Height(0)));
}
