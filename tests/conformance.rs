//! Ferrum's Electrum server against ElectrumX 2.0.0's recorded answers.
//!
//! The regtest fixture (`tests/data/regtest`, see its README) holds a regtest chain made
//! by a real bitcoind and, for protocol 1.4, 1.6 and 1.7, one ElectrumX session's questions and
//! replies about that chain's final state. Each test replays the chain into a fresh bitcoind,
//! starts the `ferrum` binary on it, asks every question of each oracle file in one session at
//! that file's protocol version, and requires each reply to equal ElectrumX's as a JSON value
//! (errors: the code), except for the replies the README lists as implementation-specific,
//! which get real shape checks, and the mempool tail of `listunspent`, compared as a set.
//! Every mismatch is collected and reported at the end (the first 30 in full, then a count per
//! method) so that one run shows everything to fix.
//!
//! The second test takes the README's reorg route: Ferrum first indexes the two stale blocks,
//! then the longer branch and the mempool arrive while it serves; sessions subscribed before
//! must be notified, and the end state must answer exactly like the oracle.

mod common;

use common::server::{Client, FerrumServer, header_hash, wait_for_height};
use common::*;
use ferrum::chaingen::Bitcoind;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const PROTOS: [&str; 3] = ["1.4", "1.6", "1.7"];
/// Requests in flight at once in a replay session (replies are matched by id).
const WINDOW: usize = 32;

/// One oracle file: the negotiated version, ElectrumX's `server.version` reply, the questions.
struct Oracle {
    proto: String,
    hello: Value,
    items: Vec<(String, Value, Value)>,
}

fn load_oracle(proto: &str) -> Oracle {
    let text = oracle_text(proto);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let head: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(head["proto"], json!(proto));
    let items = lines
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["method"].as_str().unwrap().to_string(),
                v["params"].clone(),
                v["reply"].clone(),
            )
        })
        .collect();
    Oracle {
        proto: proto.to_string(),
        hello: head["hello"].clone(),
        items,
    }
}

/// Facts of the replayed node that shape checks compare against.
struct Facts {
    /// The fixture mempool: txid -> getrawmempool verbose entry.
    mempool: Map<String, Value>,
    /// bitcoind's `getnetworkinfo.relayfee` (BTC/kvB).
    relayfee: Value,
}

fn fixture_mempool() -> Map<String, Value> {
    fixture_mempool_json()
        .into_iter()
        .map(|(k, v)| (k, v["entry"].clone()))
        .collect()
}

/// All mismatches of a run.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    per_method: BTreeMap<String, usize>,
    compared: usize,
}

impl Report {
    fn add(
        &mut self,
        proto: &str,
        method: &str,
        params: &Value,
        expected: &Value,
        got: &Value,
        why: &str,
    ) {
        *self.per_method.entry(method.to_string()).or_default() += 1;
        let cut = |v: &Value| {
            let s = v.to_string();
            if s.len() > 600 {
                format!("{}...({} chars)", &s[..600], s.len())
            } else {
                s
            }
        };
        self.lines.push(format!(
            "[{proto}] {method} {}: {why}\n    expected: {}\n    got:      {}",
            cut(params),
            cut(expected),
            cut(got)
        ));
    }

    fn finish(self, what: &str) {
        if self.lines.is_empty() {
            eprintln!("{what}: all {} replies match ElectrumX", self.compared);
            return;
        }
        let mut msg = format!(
            "{what}: {} of {} replies differ from ElectrumX 2.0.0\n",
            self.lines.len(),
            self.compared
        );
        for l in self.lines.iter().take(30) {
            msg.push_str(l);
            msg.push('\n');
        }
        msg.push_str("mismatches per method:\n");
        for (m, n) in &self.per_method {
            msg.push_str(&format!("    {m}: {n}\n"));
        }
        panic!("{msg}");
    }
}

/// Replays every oracle file against the server at `port`.
fn compare_all(port: u16, facts: &Facts, report: &mut Report) {
    for proto in PROTOS {
        let oracle = load_oracle(proto);
        replay(port, &oracle, facts, report);
    }
}

/// Opens a session at the oracle's version and checks the `server.version` reply's shape.
fn open_session(port: u16, oracle: &Oracle, report: &mut Report) -> Client {
    let mut c = Client::connect(port);
    let params = json!(["ferrum-conformance", oracle.proto]);
    let r = c.request("server.version", params.clone());
    let res = &r["result"];
    let ok = res.as_array().is_some_and(|a| a.len() == 2)
        && res[0].as_str().is_some_and(|s| !s.is_empty())
        && res[1] == oracle.hello["result"][1];
    report.compared += 1;
    if !ok {
        report.add(
            &oracle.proto,
            "server.version",
            &params,
            &oracle.hello,
            &r,
            "shape",
        );
    }
    c
}

/// One session per oracle file: every question in order, `WINDOW` in flight; a closed
/// connection is a mismatch for each unanswered question and the session is reopened.
fn replay(port: u16, oracle: &Oracle, facts: &Facts, report: &mut Report) {
    let proto = oracle.proto.as_str();
    let mut c = open_session(port, oracle, report);
    let mut next = 0;
    let mut in_flight: std::collections::VecDeque<(usize, Value)> = Default::default();
    while next < oracle.items.len() || !in_flight.is_empty() {
        while next < oracle.items.len() && in_flight.len() < WINDOW {
            let (method, params, _) = &oracle.items[next];
            in_flight.push_back((next, c.send(method, params.clone())));
            next += 1;
        }
        let (i, id) = in_flight.pop_front().unwrap();
        let (method, params, expected) = &oracle.items[i];
        report.compared += 1;
        match c.wait_reply_timeout(&id, server_timeout()) {
            Some(got) => {
                if let Err(why) = compare(proto, method, params, expected, &got, facts) {
                    report.add(proto, method, params, expected, &got, &why);
                }
            }
            None => {
                report.add(
                    proto,
                    method,
                    params,
                    expected,
                    &Value::Null,
                    "no reply (connection closed or timed out)",
                );
                for (j, _) in in_flight.drain(..) {
                    let (m, p, e) = &oracle.items[j];
                    report.compared += 1;
                    report.add(proto, m, p, e, &Value::Null, "no reply (connection closed)");
                }
                c = open_session(port, oracle, report);
            }
        }
    }
}

fn server_timeout() -> Duration {
    common::server::READ_TIMEOUT
}

/// Compares one reply with ElectrumX's; `Err` says why they differ.
fn compare(
    proto: &str,
    method: &str,
    params: &Value,
    expected: &Value,
    got: &Value,
    facts: &Facts,
) -> Result<(), String> {
    if got.get("id").is_none() {
        return Err("reply has no id".into());
    }
    if let Some(code) = expected.get("error").map(|e| &e["code"]) {
        return match got.get("error") {
            Some(e) if e["code"] == *code => Ok(()),
            Some(e) => Err(format!("error code {} instead of {code}", e["code"])),
            None => Err(format!("a result instead of error {code}")),
        };
    }
    let want = &expected["result"];
    if got.get("error").is_some() {
        return Err("an error instead of a result".into());
    }
    let Some(res) = got.get("result") else {
        return Err("neither result nor error".into());
    };
    match method {
        "server.ping" => shape_ping(proto, params, res),
        "blockchain.estimatefee" => match res.as_f64() {
            Some(x) if x == -1.0 || (x > 0.0 && x < 1.0) => Ok(()),
            _ => Err("estimatefee: not -1 nor a BTC/kvB rate in (0, 1)".into()),
        },
        "blockchain.relayfee" => match res.as_f64() {
            Some(x) if x > 0.0 && Some(x) == facts.relayfee.as_f64() => Ok(()),
            _ => Err(format!(
                "relayfee: not bitcoind's relayfee {}",
                facts.relayfee
            )),
        },
        "mempool.get_fee_histogram" => shape_histogram(res, facts),
        "mempool.recent" => shape_recent(res, facts),
        "blockchain.scripthash.listunspent" => compare_utxos(want, res),
        "blockchain.scriptpubkey.listunspent" => {
            if res.as_object().map(|o| o.len()) != Some(1) {
                return Err("not an object with exactly the key \"utxos\"".into());
            }
            compare_utxos(&want["utxos"], &res["utxos"])
        }
        _ if res == want => Ok(()),
        _ => Err("result differs".into()),
    }
}

/// `server.ping`: null before 1.7; from 1.7 `{"data": "0" * pong_len}` (ElectrumX
/// `phandle_ping`, pong_len defaults to 0).
fn shape_ping(proto: &str, params: &Value, res: &Value) -> Result<(), String> {
    if proto < "1.7" {
        return if res.is_null() {
            Ok(())
        } else {
            Err("ping before 1.7 must return null".into())
        };
    }
    let n = params.get(0).and_then(Value::as_u64).unwrap_or(0) as usize;
    if *res == json!({"data": "0".repeat(n)}) {
        Ok(())
    } else {
        Err(format!(
            "ping at {proto} must return {{\"data\": {n} zeros}}"
        ))
    }
}

/// `mempool.get_fee_histogram`: `[[fee_rate, vsize], ...]`, rates positive and strictly
/// decreasing, sizes positive integers adding up to at most the mempool's total vsize.
fn shape_histogram(res: &Value, facts: &Facts) -> Result<(), String> {
    let Some(bins) = res.as_array() else {
        return Err("not a list".into());
    };
    let total: u64 = facts
        .mempool
        .values()
        .map(|e| e["vsize"].as_u64().unwrap())
        .sum();
    let mut last = f64::INFINITY;
    let mut sum = 0;
    for b in bins {
        let (Some(rate), Some(size)) = (b[0].as_f64(), b[1].as_u64()) else {
            return Err(format!("bin {b} is not [number, integer]"));
        };
        if b.as_array().unwrap().len() != 2 || rate <= 0.0 || rate >= last || size == 0 {
            return Err(format!(
                "bin {b}: not a pair, rate not positive and decreasing, or empty"
            ));
        }
        last = rate;
        sum += size;
    }
    if sum > total {
        return Err(format!(
            "histogram holds {sum} vbytes, mempool only {total}"
        ));
    }
    Ok(())
}

/// `mempool.recent`: at most 10 distinct mempool txs as `{txid, fee, vsize}`, fee and vsize
/// those of bitcoind's mempool entry.
fn shape_recent(res: &Value, facts: &Facts) -> Result<(), String> {
    let Some(list) = res.as_array() else {
        return Err("not a list".into());
    };
    if list.len() > 10 || (list.is_empty() && !facts.mempool.is_empty()) {
        return Err(format!(
            "{} entries (want 1..=10 with a non-empty mempool)",
            list.len()
        ));
    }
    let mut seen = HashSet::new();
    for e in list {
        let keys: HashSet<&str> = e
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if keys != HashSet::from(["txid", "fee", "vsize"]) {
            return Err(format!("entry {e}: keys must be txid, fee, vsize"));
        }
        let txid = e["txid"].as_str().unwrap_or("");
        let Some(entry) = facts.mempool.get(txid) else {
            return Err(format!("{txid} is not in the mempool"));
        };
        let fee = (entry["fees"]["base"].as_f64().unwrap() * 1e8).round() as u64;
        if e["fee"].as_u64() != Some(fee) || e["vsize"] != entry["vsize"] || !seen.insert(txid) {
            return Err(format!(
                "entry {e}: want fee {fee} vsize {}, once",
                entry["vsize"]
            ));
        }
    }
    Ok(())
}

/// `listunspent`: confirmed outputs exactly (order included), then the mempool outputs
/// (height 0) in any order.
fn compare_utxos(want: &Value, got: &Value) -> Result<(), String> {
    let (Some(w), Some(g)) = (want.as_array(), got.as_array()) else {
        return Err("not a list".into());
    };
    let split = |l: &Vec<Value>| {
        let n = l
            .iter()
            .take_while(|u| u["height"].as_i64() != Some(0))
            .count();
        let mut tail: Vec<String> = l[n..].iter().map(Value::to_string).collect();
        tail.sort();
        (
            l[..n].to_vec(),
            tail,
            l[n..].iter().all(|u| u["height"].as_i64() == Some(0)),
        )
    };
    let (wc, wt, _) = split(w);
    let (gc, gt, tail_ok) = split(g);
    if !tail_ok {
        return Err("a confirmed output after a mempool one".into());
    }
    if wc != gc {
        return Err("confirmed outputs differ".into());
    }
    if wt != gt {
        return Err("mempool outputs differ (compared as a set)".into());
    }
    Ok(())
}

/// Ferrum on `d`, with `FERRUM_BLOCK_SOURCE=source`.
fn start_ferrum(d: &Bitcoind, source: &str) -> FerrumServer {
    FerrumServer::start(
        d,
        &[
            ("DAEMON_POLL_INTERVAL_BLOCKS", "200"),
            ("DAEMON_POLL_INTERVAL_MEMPOOL", "200"),
            // As when the oracle was recorded: ElectrumX's cost throttling off, so that one
            // session may ask thousands of questions.
            ("COST_SOFT_LIMIT", "0"),
            ("COST_HARD_LIMIT", "0"),
            ("FERRUM_BLOCK_SOURCE", source),
        ],
    )
}

/// The replayed node must hold the state ElectrumX was asked about.
fn check_node_state(d: &Bitcoind, blocks: &[(u32, String, String)]) -> Facts {
    let (tip, height) = d.tip().unwrap();
    let last = blocks.last().unwrap();
    assert_eq!(
        (height, tip.to_string()),
        (last.0, last.1.clone()),
        "node tip after replay"
    );
    let mempool = fixture_mempool();
    let node: HashSet<String> =
        serde_json::from_value(d.rpc("getrawmempool", json!([])).unwrap()).unwrap();
    let want: HashSet<String> = mempool.keys().cloned().collect();
    assert_eq!(node, want, "node mempool after replay");
    let relayfee = d.rpc("getnetworkinfo", json!([])).unwrap()["relayfee"].clone();
    Facts { mempool, relayfee }
}

#[test]
fn replies_equal_electrumx_oracle() {
    replay_fixture_chain(&["-rest"], "auto", "/rest/spenttxouts");
}

/// The raw block source: REST off at the node and Ferrum told to resolve every spent output
/// from its own index (as with an altcoin daemon or Bitcoin Core before 23).
#[test]
fn replies_equal_electrumx_oracle_from_raw_blocks() {
    replay_fixture_chain(&[], "raw", "Ferrum's own index");
}

fn replay_fixture_chain(bitcoind_args: &[&str], source: &str, expected_source: &str) {
    let d = Bitcoind::start_with(bitcoind_args).unwrap();
    let blocks = fixture_blocks("blocks.txt.gz");
    for (h, _, hex) in &blocks {
        if *h > 0 {
            submit(&d, hex);
        }
    }
    submit_fixture_mempool(&d);
    let facts = check_node_state(&d, &blocks);
    let mut server = start_ferrum(&d, source);
    let last = blocks.last().unwrap();
    wait_for_height(server.port(), last.0 as u64, &last.1);
    let log = server.stderr();
    assert!(
        log.contains(&format!("spent outputs from {expected_source}")),
        "the log does not say the source chosen: {}",
        server.stderr_tail(40)
    );
    let mut report = Report::default();
    compare_all(server.port(), &facts, &mut report);
    assert!(server.is_running(), "ferrum exited during the replay");
    assert!(
        report.compared > 11_000,
        "only {} replies compared",
        report.compared
    );
    report.finish("direct replay");
}

/// Scripthash (Electrum's: sha256 of the script, byte-reversed hex) of a regtest address.
fn address_scripthash(addr: &str) -> String {
    let a: bitcoin::Address<bitcoin::address::NetworkUnchecked> = addr.parse().unwrap();
    let script = a
        .require_network(bitcoin::Network::Regtest)
        .unwrap()
        .script_pubkey();
    ferrum::types::scripthash_hex(&script)
}

/// Waits (best effort, bounded) until the server's mempool answers like the oracle for every
/// 1.4 `get_mempool` question with a non-empty reply; mismatches left are reported later.
fn wait_for_mempool(port: u16) {
    let oracle = load_oracle("1.4");
    let questions: Vec<&(String, Value, Value)> = oracle
        .items
        .iter()
        .filter(|(m, _, r)| {
            m == "blockchain.scripthash.get_mempool"
                && r["result"].as_array().is_some_and(|a| !a.is_empty())
        })
        .collect();
    assert!(!questions.is_empty());
    let mut c = Client::negotiated(port, "1.4");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if questions
            .iter()
            .all(|(m, p, r)| c.request(m, p.clone())["result"] == r["result"])
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("mempool never matched the oracle within 60 s; comparing anyway");
}

#[test]
fn replies_equal_electrumx_oracle_after_reorg() {
    replay_reorg("auto");
}

#[test]
fn replies_equal_electrumx_oracle_after_reorg_from_raw_blocks() {
    replay_reorg("raw");
}

fn replay_reorg(source: &str) {
    let d = Bitcoind::start_with(&[
        "-rest",
        "-persistmempool=0",
        "-txindex=1",
        "-txospenderindex=1",
    ])
    .unwrap();
    let (blocks, stale) = submit_up_to_stale_tip(&d);
    let stale_tip = stale.last().unwrap();
    let server = start_ferrum(&d, source);
    let port = server.port();
    wait_for_height(port, stale_tip.0 as u64, &stale_tip.1);

    // A session subscribed on the stale branch.
    let scenario = fixture_scenario();
    let hot = address_scripthash(scenario["hot_address"].as_str().unwrap());
    let final_status = load_oracle("1.4")
        .items
        .into_iter()
        .find(|(m, p, _)| m == "blockchain.scripthash.subscribe" && p[0] == json!(hot))
        .expect("the oracle asks about the hot address")
        .2["result"]
        .clone();
    let mut sub = Client::negotiated(port, "1.4");
    let h = sub.request("blockchain.headers.subscribe", json!([]));
    assert_eq!(h["result"]["height"], json!(stale_tip.0), "{h}");
    let stale_status =
        sub.request("blockchain.scripthash.subscribe", json!([hot]))["result"].clone();

    let mut d = d;
    for (h, _, hex) in &blocks {
        if *h >= stale[0].0 {
            submit(&d, hex);
        }
    }
    let last = blocks.last().unwrap();
    wait_for_height(port, last.0 as u64, &last.1);
    // bitcoind put the stale blocks' transactions that the longer branch lacks back into its
    // mempool, where the oracle's node did not have them: restart it with an empty mempool
    // (-persistmempool=0), then submit the fixture's. Ferrum sees those transactions leave the
    // mempool and has to ride out the restart.
    d.restart().unwrap();
    submit_fixture_mempool(&d);
    let facts = check_node_state(&d, &blocks);
    wait_for_mempool(port);

    let mut report = Report::default();
    // Notifications to the session subscribed before the reorg: the new tip's header, and the
    // hot address's final status (it changed: new blocks and mempool txs touch it).
    report.compared += 2;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut saw_tip, mut saw_status) = (false, stale_status == final_status);
    let mut notes = Vec::new();
    while !(saw_tip && saw_status) && Instant::now() < deadline {
        let Some(n) = sub.next_notification(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        match n["method"].as_str() {
            Some("blockchain.headers.subscribe") => {
                let hdr = &n["params"][0];
                saw_tip |= hdr["height"] == json!(last.0)
                    && hdr["hex"].as_str().map(header_hash).as_deref() == Some(last.1.as_str());
            }
            Some("blockchain.scripthash.subscribe") => {
                saw_status |= n["params"] == json!([hot, final_status]);
            }
            _ => {}
        }
        notes.push(n);
    }
    let got = Value::Array(notes);
    if !saw_tip {
        let want = json!({"method": "blockchain.headers.subscribe", "params": [{"height": last.0, "hash": last.1}]});
        report.add(
            "1.4",
            "notification blockchain.headers.subscribe",
            &json!([]),
            &want,
            &got,
            "no notification of the new tip",
        );
    }
    if !saw_status {
        let want =
            json!({"method": "blockchain.scripthash.subscribe", "params": [hot, final_status]});
        report.add(
            "1.4",
            "notification blockchain.scripthash.subscribe",
            &json!([hot]),
            &want,
            &got,
            "no notification of the final status",
        );
    }
    compare_all(port, &facts, &mut report);
    drop(sub);
    let mut server = server;
    assert!(server.is_running(), "ferrum exited during the replay");
    report.finish("reorg replay");
}
