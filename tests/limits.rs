//! Resource controls of a running `ferrum` (ElectrumX 2.0 names and algorithms, see
//! `src/limits/`): session cost throttling and the −101 disconnect while another client keeps
//! being served, the allow-list, −102 after REQUEST_TIMEOUT, MAX_SESSIONS closing and reopening
//! the listener, the per-IP cap, SESSION_TIMEOUT for idle, slow-loris and oversized-line
//! clients, DROP_CLIENT, and log rate-limiting.
//!
//! Clients on other loopback addresses (127.0.0.2, 127.0.0.3) stand for other subnets. Nothing
//! here asserts durations: the tests count replies, closes and log lines; timeouts only turn a
//! hang into a failure.

mod common;

use common::server::{Checks, Client, FerrumServer, try_connect_from};
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Generous bound for things that happen "soon" (the server is busy on 2 shared cores).
const SOON: Duration = Duration::from_secs(60);

fn chain() -> Bitcoind {
    let d = Bitcoind::start().unwrap();
    ChainBuilder::new(21).mine_empty(&d, 101).unwrap();
    d
}

fn server(d: &Bitcoind, env: &[(&str, &str)]) -> FerrumServer {
    let mut all = vec![
        ("DAEMON_POLL_INTERVAL_BLOCKS", "200"),
        ("DAEMON_POLL_INTERVAL_MEMPOOL", "200"),
    ];
    all.extend_from_slice(env);
    FerrumServer::start(d, &all)
}

fn negotiated_from(local: &str, port: u16) -> Client {
    let mut c = Client::connect_from(local, port);
    let r = c.request("server.version", json!(["limits-test", "1.4"]));
    assert_eq!(r["result"][1], json!("1.4"), "{r}");
    c
}

/// Log lines of the server containing every one of `parts`.
fn log_lines(s: &FerrumServer, parts: &[&str]) -> usize {
    s.stderr()
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

/// A heavy request: ElectrumX charges count / 50 for the headers asked for.
fn heavy(c: &mut Client) -> Option<Value> {
    c.try_request("blockchain.block.headers", json!([0, 2016]))
}

#[test]
fn cost_limits_throttle_then_disconnect_the_flooder_only() {
    let d = chain();
    let mut k = Checks::default();
    let s = server(
        &d,
        &[
            ("COST_SOFT_LIMIT", "300"),
            ("COST_HARD_LIMIT", "1500"),
            ("REQUEST_SLEEP", "200"),
            ("SESSION_GROUP_BY_SUBNET_IPV4", "32"),
            ("FERRUM_ALLOW_IPS", "127.0.0.3"),
        ],
    );
    let port = s.port();
    let mut flooder = negotiated_from("127.0.0.1", port);
    let mut polite = negotiated_from("127.0.0.2", port);

    // The flooder's heavy requests are answered until its cost reaches the hard limit; then
    // one -101 and the connection closes. The polite client is served throughout.
    let (mut served, mut refused, mut polite_ok) = (0, None, 0);
    for _ in 0..1000 {
        match heavy(&mut flooder) {
            Some(r) if r.get("result").is_some() => served += 1,
            Some(r) => {
                refused = Some(r);
                break;
            }
            None => break,
        }
        let r = polite.request("server.ping", json!([]));
        polite_ok += usize::from(r.get("result") == Some(&Value::Null));
    }
    k.check("the flooder was served first", served > 5, served);
    let refused = refused.unwrap_or(Value::Null);
    k.error("then refused", &refused, -101);
    k.check(
        "with aiorpcx's message",
        refused["error"]["message"] == json!("excessive resource usage"),
        &refused,
    );
    k.check(
        "and disconnected",
        flooder.closes_within(SOON),
        "still open",
    );
    k.check(
        "the polite client was answered after every flood request",
        polite_ok == served,
        format!("{polite_ok} of {served}"),
    );
    k.check(
        "the polite client is still served",
        polite.request("server.ping", json!([]))["result"] == Value::Null,
        "no",
    );
    // Throttling came before the disconnect (aiorpcx logs each change of concurrency).
    let throttled = log_lines(&s, &["tcp://127.0.0.1:", "throttled, cost"]);
    k.check("throttled before the disconnect", throttled >= 1, throttled);
    let closed = log_lines(
        &s,
        &["tcp://127.0.0.1:", "closing session over resource usage"],
    );
    k.check("one disconnect logged", closed == 1, closed);
    k.check(
        "the polite client was never throttled",
        log_lines(&s, &["tcp://127.0.0.2:", "concurrency"]) == 0,
        s.stderr_tail(20),
    );

    // An allow-listed client does three times as much and is never throttled.
    let mut allowed = negotiated_from("127.0.0.3", port);
    let mut allowed_ok = 0;
    for _ in 0..(3 * served + 10) {
        if heavy(&mut allowed).is_some_and(|r| r.get("result").is_some()) {
            allowed_ok += 1;
        }
    }
    k.check(
        "the allow-listed client got every answer",
        allowed_ok == 3 * served + 10,
        format!("{allowed_ok} of {}", 3 * served + 10),
    );
    k.check(
        "and was never throttled",
        log_lines(&s, &["tcp://127.0.0.3:", "concurrency"]) == 0
            && log_lines(&s, &["tcp://127.0.0.3:", "resource usage"]) == 0,
        s.stderr_tail(20),
    );

    // REQUEST_TIMEOUT: a session throttled to a 2 s sleep per request, with a 1 s timeout,
    // gets -102 (aiorpcx SERVER_BUSY).
    let t = server(
        &d,
        &[
            ("COST_SOFT_LIMIT", "100"),
            ("COST_HARD_LIMIT", "1100"),
            ("REQUEST_SLEEP", "10000"),
            ("REQUEST_TIMEOUT", "1"),
        ],
    );
    let mut slow = negotiated_from("127.0.0.1", t.port());
    // Errors cost 100 each; from 10% of the soft range on the sleep is over a second.
    let (mut errors, mut r) = (0, Value::Null);
    for _ in 0..10 {
        r = slow.request("no.such.method", json!([]));
        if r["error"]["code"] == json!(-102) {
            break;
        }
        errors += usize::from(r.get("error").is_some());
    }
    k.check("errors were answered first", errors >= 1, errors);
    k.error("a request slower than REQUEST_TIMEOUT", &r, -102);
    k.check(
        "with aiorpcx's message",
        r["error"]["message"] == json!("server busy - request timed out"),
        &r,
    );
    k.finish();
}

/// Connects until the listener refuses (or resets) a connection; the number of attempts.
fn until_refused(port: u16) -> Option<usize> {
    let deadline = Instant::now() + SOON;
    let mut attempts = 0;
    while Instant::now() < deadline {
        attempts += 1;
        match TcpStream::connect(("127.0.0.1", port)) {
            Err(_) => return Some(attempts),
            Ok(stream) => {
                // Accepted by the kernel just before the listener closed: it is reset then.
                let mut c = Client::from_stream(stream);
                if c.closes_within(Duration::from_millis(300)) {
                    return Some(attempts);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Connects from `local` until a session is served (listener reopened, cap freed).
fn until_served(local: &str, port: u16) -> Option<Client> {
    let deadline = Instant::now() + SOON;
    while Instant::now() < deadline {
        if let Ok(stream) = try_connect_from(local, port) {
            let mut c = Client::from_stream(stream);
            let id = c.send("server.version", json!(["limits-test", "1.4"]));
            if c.wait_reply_timeout(&id, Duration::from_secs(5))
                .is_some_and(|r| r["result"][1] == json!("1.4"))
            {
                return Some(c);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn session_counts_timeouts_and_client_filters() {
    let d = chain();
    let mut k = Checks::default();

    // MAX_SESSIONS: at 3 sessions the listener closes; at 95% (2) it opens again.
    let m = server(&d, &[("MAX_SESSIONS", "3")]);
    // (The start-up probe's session may not have ended yet: retry until served.)
    let mut held: Vec<Client> = (0..3)
        .filter_map(|_| until_served("127.0.0.1", m.port()))
        .collect();
    k.check("three sessions served", held.len() == 3, held.len());
    k.check(
        "at MAX_SESSIONS new connections are refused",
        until_refused(m.port()).is_some(),
        m.stderr_tail(10),
    );
    k.check(
        "the sessions in place are served",
        held[0].request("server.ping", json!([]))["result"] == Value::Null,
        "no",
    );
    held.pop();
    let again = until_served("127.0.0.1", m.port());
    k.check(
        "below 95% the listener reopens",
        again.is_some(),
        m.stderr_tail(10),
    );
    // Paused at 3, resumed at 2 after the pop, paused again by `again` (and maybe once more
    // before, if the start-up probe's session was still counted): one pause more than resumes.
    let paused = log_lines(&m, &["maximum sessions 3 reached"]);
    let resumed = log_lines(&m, &["resuming listening"]);
    k.check("a resume logged", resumed >= 1, resumed);
    k.check(
        "each pause after a resume, and paused now",
        paused == resumed + 1,
        format!("{paused} pauses, {resumed} resumes"),
    );
    drop((held, again, m));

    // The per-IP cap refuses the extra connection from one address, not from others.
    let p = server(
        &d,
        &[
            ("FERRUM_MAX_SESSIONS_PER_IP", "2"),
            ("FERRUM_PER_IP_EXEMPT", "none"),
        ],
    );
    let mut two: Vec<Client> = (0..2)
        .map(|_| negotiated_from("127.0.0.2", p.port()))
        .collect();
    let mut third = Client::connect_from("127.0.0.2", p.port());
    let id = third.send("server.version", json!(["limits-test", "1.4"]));
    k.check(
        "a third session from one address is closed unanswered",
        third.wait_reply_timeout(&id, SOON).is_none() && third.closes_within(SOON),
        "served",
    );
    let mut other = negotiated_from("127.0.0.3", p.port());
    k.check(
        "another address is served",
        other.request("server.ping", json!([]))["result"] == Value::Null,
        "no",
    );
    two.pop();
    k.check(
        "a freed slot can be used again",
        until_served("127.0.0.2", p.port()).is_some(),
        p.stderr_tail(10),
    );
    let refused = log_lines(&p, &["FERRUM_MAX_SESSIONS_PER_IP"]);
    k.check("the refusal is logged", refused >= 1, refused);
    drop((two, other, p));

    // SESSION_TIMEOUT closes sessions without a complete message: idle, slow-loris (half a
    // line, then a byte now and then) and oversized lines; others are served meanwhile.
    // DROP_CLIENT refuses matching client names.
    let t = server(
        &d,
        &[
            ("SESSION_TIMEOUT", "2"),
            ("MAX_RECV", "1000"),
            ("DROP_CLIENT", "bad|Electrum 2\\."),
        ],
    );
    let port = t.port();
    let mut idle = negotiated_from("127.0.0.1", port);
    let mut loris = Client::connect_from("127.0.0.1", port);
    loris.send_raw(br#"{"jsonrpc": "2.0", "id": 1, "method": "server.ver"#);
    let mut flood = Client::connect_from("127.0.0.1", port);
    let long_line = [vec![b'x'; 5000], b"\n".to_vec()].concat();
    let (mut loris_closed, mut flood_closed, mut flood_lines) = (false, false, 0);
    let mut served = 0;
    let deadline = Instant::now() + SOON;
    while !(loris_closed && flood_closed) && Instant::now() < deadline {
        if !loris_closed {
            loris.send_raw(b"s");
            loris_closed = loris.closes_within(Duration::from_millis(100));
        }
        if !flood_closed {
            for _ in 0..10 {
                flood.send_raw(&long_line);
                flood_lines += 1;
            }
            flood_closed = flood.closes_within(Duration::from_millis(100));
        }
        // A fresh client is served while those two hold their connections.
        let mut fresh = negotiated_from("127.0.0.2", port);
        served += usize::from(fresh.request("server.ping", json!([]))["result"] == Value::Null);
    }
    k.check("the slow-loris client is closed", loris_closed, "open");
    k.check(
        "the oversized-line client is closed",
        flood_closed,
        flood_lines,
    );
    k.check("others were served meanwhile", served >= 1, served);
    k.check(
        "the idle session is closed",
        idle.closes_within(SOON),
        "open",
    );
    let stale = log_lines(&t, &["closing stale session"]);
    k.check("closes logged", stale >= 3, stale);
    // Log rate-limiting: far fewer "dropped" lines than oversized lines sent.
    let dropped = log_lines(&t, &["over MAX_RECV"]);
    k.check(
        "oversized lines are logged at a limited rate",
        dropped >= 1 && (flood_lines <= 25 || dropped < flood_lines),
        format!("{dropped} lines for {flood_lines} oversized requests"),
    );

    for (name, dropped) in [
        ("badwallet 1.0", true),
        ("Electrum 2.9.3", true),
        ("Electrum 4.5.8", false),
        ("not bad at all", false),
    ] {
        let mut c = Client::connect_from("127.0.0.3", port);
        let r = c.request("server.version", json!([name, "1.4"]));
        if dropped {
            k.error(&format!("DROP_CLIENT refuses {name}"), &r, 1);
            k.check(
                &format!("with ElectrumX's message for {name}"),
                r["error"]["message"] == json!(format!("unsupported client: {name}")),
                &r,
            );
            k.check(&format!("and closes {name}"), c.closes_within(SOON), "open");
        } else {
            k.result(
                &format!("DROP_CLIENT lets {name} in"),
                &r,
                &json!([ferrum_version(&r), "1.4"]),
            );
        }
    }
    k.finish();
}

/// The server software string of a server.version reply.
fn ferrum_version(r: &Value) -> Value {
    r["result"][0].clone()
}
