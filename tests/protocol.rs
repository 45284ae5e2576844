//! Electrum protocol edge cases, with the answers ElectrumX 2.0.0 and its JSON-RPC layer
//! aiorpcx give (the source line each rule comes from is named next to it; `session.py` is
//! `electrumx/server/session.py`, `util.py` `electrumx/lib/util.py`, `jsonrpc.py`,
//! `framing.py` and `aiorpcx/session.py` are aiorpcx's).
//!
//! Each test collects every failed expectation and reports them all at the end. Size limits
//! (MAX_SEND, MAX_RECV, history too long) and client isolation are in `protocol_limits.rs`.

mod common;

use common::server::{Checks, Client, FerrumServer, base_env};
use ferrum::chaingen::{Bitcoind, ChainBuilder, OutputType};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

const REGTEST_GENESIS: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
const SHORT: Duration = Duration::from_secs(10);

/// A chain with one confirmed payment; returns (txid, its output script).
fn small_chain(d: &Bitcoind) -> (String, bitcoin::ScriptBuf) {
    let mut b = ChainBuilder::new(7);
    b.mine_empty(d, 101).unwrap();
    let script = b.new_script(OutputType::P2wpkh);
    let tx = b
        .tx_to(&[(script.clone(), bitcoin::Amount::from_sat(50_000))])
        .unwrap();
    b.mine_txs(d, vec![tx.clone()]).unwrap();
    (tx.compute_txid().to_string(), script)
}

/// One request; `Null` if the connection closed (so that later checks still run).
fn req(c: &mut Client, method: &str, params: Value) -> Value {
    c.try_request(method, params).unwrap_or(Value::Null)
}

/// Sends one raw line on `c` and returns the next message (`Null` if none came).
fn raw(c: &mut Client, line: &[u8]) -> Value {
    c.send_raw(line);
    c.send_raw(b"\n");
    c.read_message_timeout(SHORT).unwrap_or(Value::Null)
}

#[test]
fn version_negotiation_and_first_message() {
    let d = Bitcoind::start().unwrap();
    small_chain(&d);
    let s = FerrumServer::start(&d, &base_env());
    let port = s.port();
    let mut k = Checks::default();

    // util.protocol_version: the highest common version of the client's [min, max] (or single
    // version, or PROTOCOL_MIN without one) and ElectrumX's [1.4, 1.7]; extra arguments are
    // ignored (phandle_server_version takes *extra_args, **extra_kwargs).
    let accepted = [
        (json!(["x", "1.4"]), "1.4"),
        (json!(["x", "1.6"]), "1.6"),
        (json!(["x", "1.7"]), "1.7"),
        (json!(["x", ["1.4", "1.7"]]), "1.7"),
        (json!(["x", ["1.3", "1.6"]]), "1.6"),
        (json!(["x", ["1.4", "1.9"]]), "1.7"),
        (json!(["x", "1.4.2"]), "1.4.2"),
        (json!([]), "1.4"),
        (json!(["x"]), "1.4"),
        (json!(["x", "1.6", "extra", {"more": 1}]), "1.6"),
        (
            json!({"client_name": "x", "protocol_version": "1.6"}),
            "1.6",
        ),
    ];
    for (params, want) in accepted {
        let mut c = Client::connect(port);
        let r = c.request("server.version", params.clone());
        // PROTOCOL_MAX is (1, 7, 0): a client max above it negotiates "1.7.0" (util.py
        // version_string); "1.7" names the same version.
        let v = &r["result"][1];
        let same = *v == json!(want) || (want == "1.7" && *v == json!("1.7.0"));
        let ok = r["result"][0].as_str().is_some_and(|s| !s.is_empty()) && same;
        k.check(
            &format!("server.version {params} negotiates {want}"),
            ok,
            &r,
        );
        // session.py phandle_server_version: "server.version already sent" (BAD_REQUEST).
        let again = c.request("server.version", params.clone());
        k.error(&format!("second server.version after {params}"), &again, 1);
        let ping = c
            .try_request("server.ping", json!([]))
            .unwrap_or(Value::Null);
        k.check(
            &format!("session stays open after a second server.version ({params})"),
            ping.get("result").is_some(),
            &ping,
        );
    }
    // No common version: ReplyAndDisconnect(RPCError(BAD_REQUEST, "unsupported protocol
    // version")); a bad version string is version (0,), never supported.
    for params in [
        json!(["x", "1.8"]),
        json!(["x", "1.3"]),
        json!(["x", ["1.8", "1.9"]]),
        json!(["x", ["1.0", "1.3"]]),
        json!(["x", "banana"]),
    ] {
        let mut c = Client::connect(port);
        let r = c.request("server.version", params.clone());
        k.error(&format!("server.version {params}"), &r, 1);
        k.check(
            &format!("disconnect after server.version {params}"),
            c.closes_within(SHORT),
            "still open",
        );
    }

    // session.py handle_request: before server.version any request, known or not, gets
    // BAD_REQUEST "use server.version to identify client" and the connection is closed
    // (ElectrumX applies it whatever version the client means to speak).
    for method in [
        "server.ping",
        "blockchain.headers.subscribe",
        "no.such.method",
    ] {
        let mut c = Client::connect(port);
        let r = c.request(method, json!([]));
        k.error(&format!("{method} before server.version"), &r, 1);
        k.check(
            &format!("disconnect after {method} before server.version"),
            c.closes_within(SHORT),
            "still open",
        );
    }
    // A parse error is answered before any request handling (aiorpcx session.py
    // _process_messages_loop) and does not count as the first message.
    let mut c = Client::connect(port);
    let r = raw(&mut c, b"{\"id\": 1,");
    k.error("malformed JSON as the first message", &r, -32700);
    k.check(
        "parse error reply has id null",
        r.get("id") == Some(&Value::Null),
        &r,
    );
    let r = c.request("server.version", json!(["x", "1.7"]));
    k.check(
        "server.version after a parse error",
        r["result"][1] == json!("1.7"),
        &r,
    );
    // Requests pipelined right behind server.version wait for the negotiation.
    let mut c = Client::connect(port);
    let v = c.send("server.version", json!(["x", "1.7"]));
    let p = c.send("server.ping", json!([]));
    let (rv, rp) = (c.wait_reply(&v), c.wait_reply(&p));
    k.check(
        "pipelined server.version",
        rv["result"][1] == json!("1.7"),
        &rv,
    );
    k.result(
        "ping pipelined behind server.version (1.7)",
        &rp,
        &json!({"data": ""}),
    );
    k.finish();
}

#[test]
fn json_rpc_framing_and_errors() {
    let d = Bitcoind::start().unwrap();
    let (txid, script) = small_chain(&d);
    let scripthash = ferrum::types::scripthash_hex(&script);
    let s = FerrumServer::start(&d, &base_env());
    let port = s.port();
    let mut k = Checks::default();
    let mut c = Client::negotiated(port, "1.7");

    // jsonrpc.py _message_to_payload: invalid JSON and invalid UTF-8 are PARSE_ERROR with id
    // null; the session goes on.
    let r = raw(&mut c, b"{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": ");
    k.error("truncated JSON", &r, -32700);
    k.check(
        "parse error id is null",
        r.get("id") == Some(&Value::Null),
        &r,
    );
    let r = raw(&mut c, b"\x00\xff\xfe\x80\x81 binary \xc3\x28 garbage");
    k.error("binary garbage", &r, -32700);
    let r = raw(&mut c, b"not json at all");
    k.error("plain text", &r, -32700);
    // jsonrpc.py message_to_item: an empty batch, a non-object request, a bad id type.
    let r = raw(&mut c, b"[]");
    k.error("empty batch", &r, -32600);
    let r = raw(&mut c, b"42");
    k.error("a number as the request", &r, -32600);
    let r = raw(
        &mut c,
        b"{\"jsonrpc\": \"2.0\", \"id\": {\"a\": 1}, \"method\": \"server.ping\"}",
    );
    k.error("an object as the id", &r, -32600);
    // _request_args: params neither list nor object -> INVALID_ARGS with the request's id.
    let r = raw(
        &mut c,
        b"{\"jsonrpc\": \"2.0\", \"id\": 9, \"method\": \"server.ping\", \"params\": \"abc\"}",
    );
    k.error("params as a string", &r, -32602);
    k.check("params error keeps id 9", r["id"] == json!(9), &r);
    // Ids are echoed as given; a missing params is [].
    let r = raw(
        &mut c,
        b"{\"jsonrpc\": \"2.0\", \"id\": \"abc\", \"method\": \"server.ping\"}",
    );
    k.check(
        "string id echoed, missing params accepted",
        r["id"] == json!("abc") && r["result"] == json!({"data": ""}),
        &r,
    );
    // A notification (no id) is never answered: the next message is the next request's reply.
    c.send_value(&json!({"jsonrpc": "2.0", "method": "server.ping", "params": []}));
    c.send_value(&json!({"jsonrpc": "2.0", "method": "no.such.method", "params": []}));
    let r = raw(
        &mut c,
        b"{\"jsonrpc\": \"2.0\", \"id\": 77, \"method\": \"server.ping\"}",
    );
    k.check("notifications get no reply", r["id"] == json!(77), &r);
    k.check(
        "session still open after the errors above",
        c.try_request("server.ping", json!([])).is_some(),
        "closed",
    );

    // A JSON-RPC 1.0 session (jsonrpc.py JSONRPCAutoDetect picks JSONRPCv1 from the first
    // message): replies carry both "result" and "error": null.
    let mut v1 = Client::connect(port);
    let r = raw(
        &mut v1,
        br#"{"jsonrpc": "1.0", "id": 1, "method": "server.version", "params": ["x", "1.4"]}"#,
    );
    k.check(
        "JSON-RPC 1.0 server.version",
        r["result"][1] == json!("1.4") && r["id"] == json!(1),
        &r,
    );
    k.check(
        "JSON-RPC 1.0 reply has \"error\": null",
        r.get("error") == Some(&Value::Null),
        &r,
    );
    let r = raw(
        &mut v1,
        br#"{"jsonrpc": "1.0", "id": 2, "method": "blockchain.block.header", "params": [0]}"#,
    );
    k.check(
        "JSON-RPC 1.0 request answered",
        r["id"] == json!(2) && r["result"].is_string(),
        &r,
    );
    // No "jsonrpc" member at all (JSONRPCLoose) is accepted too.
    let mut loose = Client::connect(port);
    let r = raw(
        &mut loose,
        br#"{"id": 1, "method": "server.version", "params": ["x", "1.6"]}"#,
    );
    k.check(
        "request without \"jsonrpc\"",
        r["result"][1] == json!("1.6"),
        &r,
    );

    // jsonrpc.py _receive_request_batch: one reply per request (not per notification), each
    // with its id; invalid members get their own error.
    c.send_value(&json!([
        {"jsonrpc": "2.0", "id": 11, "method": "server.ping"},
        {"jsonrpc": "2.0", "id": 12, "method": "no.such.method", "params": []},
        {"jsonrpc": "2.0", "id": 13, "method": "blockchain.block.header", "params": ["x"]},
        {"jsonrpc": "2.0", "id": 14, "method": "blockchain.block.header", "params": []},
        {"jsonrpc": "2.0", "id": 15},
        {"jsonrpc": "2.0", "method": "server.ping", "params": []},
        {"jsonrpc": "2.0", "id": 16, "method": "blockchain.block.header", "params": [0]}
    ]));
    let items = c.next_batch(SHORT).unwrap_or_default();
    let by_id = |id: i64| {
        items
            .iter()
            .find(|v| v["id"] == json!(id))
            .cloned()
            .unwrap_or(Value::Null)
    };
    k.check(
        "mixed batch: 6 replies (the notification gets none)",
        items.len() == 6,
        Value::Array(items.clone()),
    );
    k.result("batch ping", &by_id(11), &json!({"data": ""}));
    k.error("batch unknown method", &by_id(12), -32601);
    k.error("batch bad height", &by_id(13), 1);
    k.error("batch missing argument", &by_id(14), -32602);
    k.error("batch member without method", &by_id(15), -32601);
    k.check(
        "batch header 0",
        by_id(16)["result"].as_str().is_some_and(|h| h.len() == 160),
        by_id(16),
    );

    // Methods and arguments (aiorpcx handler_invocation: arity -> INVALID_ARGS; session.py
    // non_negative_integer / assert_txid_hum / assert_boolean / assert_hex_str -> BAD_REQUEST).
    let t = &txid;
    let bad: Vec<(&str, String, i64)> = vec![
        ("no.such.method", "[]".into(), -32601),
        ("blockchain.block.header", "[]".into(), -32602),
        ("blockchain.block.header", "[1, 2, 3]".into(), -32602),
        (
            "blockchain.transaction.get_merkle",
            format!(r#"["{t}"]"#),
            -32602,
        ),
        ("server.ping", r#"[0, "", 3]"#.into(), -32602),
        ("blockchain.block.header", r#"["abc"]"#.into(), 1),
        ("blockchain.block.header", "[-1]".into(), 1),
        ("blockchain.block.header", r#"[{"h": 1}]"#.into(), 1),
        (
            "blockchain.block.header",
            "[18446744073709551616]".into(),
            1,
        ),
        (
            "blockchain.block.header",
            "[1000000000000000000000000000000]".into(),
            1,
        ),
        (
            "blockchain.block.header",
            "[1, 99999999999999999999999]".into(),
            1,
        ),
        (
            "blockchain.transaction.id_from_pos",
            "[1, 18446744073709551616]".into(),
            1,
        ),
        (
            "blockchain.transaction.id_from_pos",
            r#"[1, 0, "yes"]"#.into(),
            1,
        ),
        ("blockchain.transaction.get", "[123]".into(), 1),
        (
            "blockchain.transaction.get",
            format!(r#"["{}"]"#, "zz".repeat(32)),
            1,
        ),
        (
            "blockchain.transaction.get",
            format!(r#"["{}"]"#, &t[1..]),
            1,
        ),
        (
            "blockchain.transaction.get",
            format!(r#"["{t}", "yes"]"#),
            1,
        ),
        (
            "blockchain.transaction.get_merkle",
            format!(r#"["{t}", "x"]"#),
            1,
        ),
        ("blockchain.scriptpubkey.get_balance", r#"["zz"]"#.into(), 1),
        ("blockchain.scriptpubkey.get_history", r#"["0"]"#.into(), 1),
        (
            "blockchain.outpoint.get_status",
            r#"["00", 0, ""]"#.into(),
            1,
        ),
        ("blockchain.estimatefee", r#"["x"]"#.into(), 1),
        ("blockchain.estimatefee", r#"[2, "BOGUS"]"#.into(), 1),
        ("server.ping", r#"[0, "zz"]"#.into(), 1),
    ];
    for (i, (m, p, code)) in bad.iter().enumerate() {
        let id = 9000 + i;
        let r = raw(
            &mut c,
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{m}","params":{p}}}"#).as_bytes(),
        );
        k.error(&format!("{m} {p}"), &r, *code);
        k.check(&format!("{m} {p}: reply id {id}"), r["id"] == json!(id), &r);
    }
    // Deeply nested arguments: a value of the wrong type (BAD_REQUEST), and nesting far beyond
    // any parser's limit: either an error reply or a closed connection, never a dead server.
    let nested = format!("{}0{}", "[".repeat(50), "]".repeat(50));
    let r = raw(
        &mut c,
        format!(
            r#"{{"jsonrpc":"2.0","id":21,"method":"blockchain.block.header","params":[{nested}]}}"#
        )
        .as_bytes(),
    );
    k.error("header of a 50-deep list", &r, 1);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut d2 = Client::negotiated(port, "1.7");
    let r = raw(
        &mut d2,
        format!(r#"{{"jsonrpc":"2.0","id":22,"method":"server.ping","params":{deep}}}"#).as_bytes(),
    );
    let ok = r.get("error").is_some() || (r.is_null() && d2.closes_within(SHORT));
    k.check("100000-deep nesting: an error reply or a close", ok, &r);
    // Values ElectrumX accepts: huge counts are capped (MAX_CHUNK_SIZE 2016), txids in upper
    // case (bytes.fromhex), odd-length ping data (allow_odd_len).
    let r = raw(&mut c, br#"{"jsonrpc":"2.0","id":23,"method":"blockchain.block.headers","params":[0, 99999999999999999999999]}"#);
    k.check(
        "block.headers with a huge count",
        r["result"]["count"] == json!(103) && r["result"]["max"] == json!(2016),
        &r,
    );
    let lower = req(&mut c, "blockchain.transaction.get", json!([txid]));
    let upper = req(
        &mut c,
        "blockchain.transaction.get",
        json!([txid.to_uppercase()]),
    );
    k.check(
        "upper-case txid",
        lower["result"].is_string() && upper.get("result") == lower.get("result"),
        &upper,
    );
    k.result(
        "ping with odd-length hex data",
        &req(&mut c, "server.ping", json!([2, "abc"])),
        &json!({"data": "00"}),
    );
    let positional = req(&mut c, "blockchain.block.header", json!([0]));
    k.result(
        "named arguments",
        &req(&mut c, "blockchain.block.header", json!({"height": 0})),
        &positional["result"],
    );
    // server.ping (phandle_ping): null before 1.7, {"data": "0" * pong_len} from 1.7.
    let mut old = Client::negotiated(port, "1.4");
    k.result(
        "ping at 1.4",
        &req(&mut old, "server.ping", json!([])),
        &Value::Null,
    );
    k.result(
        "ping at 1.7",
        &req(&mut c, "server.ping", json!([])),
        &json!({"data": ""}),
    );
    k.result(
        "ping at 1.7 with pong_len 3",
        &req(&mut c, "server.ping", json!([3])),
        &json!({"data": "000"}),
    );

    // server.features (server_features, phandle_server_features_async): hash_function only
    // before 1.7. Then Ferrum's extension keys (docs/PROTOCOL.md, "Extension methods");
    // daemon.passthrough only when it is on (tests/extensions.rs).
    for (proto, mut keys) in [("1.4", vec!["hash_function"]), ("1.7", vec![])] {
        keys.extend([
            "hosts",
            "pruning",
            "server_version",
            "protocol_min",
            "protocol_max",
            "genesis_hash",
            "services",
            "firstuse",
            "history_ranges",
            "blockchain.block.stats",
            "blockchain.header.get",
            "blockchain.transaction.get_confirmed_blockhash",
            "blockchain.transaction.get_height",
            "blockchain.utxo.get_info",
        ]);
        let mut f = Client::negotiated(port, proto);
        let r = req(&mut f, "server.features", json!([]));
        let res = &r["result"];
        let got: HashSet<&str> = res
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        k.check(
            &format!("server.features keys at {proto}"),
            got == keys.iter().copied().collect(),
            &r,
        );
        let max_ok = res["protocol_max"] == json!("1.7") || res["protocol_max"] == json!("1.7.0");
        let ok = res["genesis_hash"] == json!(REGTEST_GENESIS)
            && res["protocol_min"] == json!("1.4")
            && max_ok
            && res["pruning"].is_null()
            && res["hosts"].is_object()
            && res["server_version"]
                .as_str()
                .is_some_and(|v| !v.is_empty())
            && res["services"]
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string))
            && (proto == "1.7" || res["hash_function"] == json!("sha256"));
        k.check(&format!("server.features values at {proto}"), ok, &r);
        let banner = req(&mut f, "server.banner", json!([]));
        k.check(
            "server.banner is a string",
            banner["result"].is_string(),
            &banner,
        );
        let don = req(&mut f, "server.donation_address", json!([]));
        k.check(
            "server.donation_address is a string",
            don["result"].is_string(),
            &don,
        );
        let peers = req(&mut f, "server.peers.subscribe", json!([]));
        k.check(
            "server.peers.subscribe is a list",
            peers["result"].is_array(),
            &peers,
        );
    }

    // Methods per version (session.py set_request_handlers).
    let spk = ferrum::types::bytes_to_hex(script.as_bytes());
    let outpoint = json!([txid, 0, spk]);
    let relayfee = d.rpc("getnetworkinfo", json!([])).unwrap()["relayfee"].clone();
    let mut v14 = Client::negotiated(port, "1.4");
    k.result(
        "relayfee at 1.4 (bitcoind's)",
        &req(&mut v14, "blockchain.relayfee", json!([])),
        &relayfee,
    );
    for (m, p) in [
        ("blockchain.scripthash.unsubscribe", json!([scripthash])),
        ("mempool.get_info", json!([])),
        ("blockchain.transaction.broadcast_package", json!([["00"]])),
        ("blockchain.outpoint.get_status", outpoint.clone()),
        ("blockchain.scriptpubkey.get_balance", json!([spk])),
        ("mempool.recent", json!([])),
    ] {
        k.error(&format!("{m} at 1.4"), &req(&mut v14, m, p), -32601);
    }
    let mut v142 = Client::negotiated(port, "1.4.2");
    k.result(
        "unsubscribe at 1.4.2 before subscribing",
        &req(
            &mut v142,
            "blockchain.scripthash.unsubscribe",
            json!([scripthash]),
        ),
        &json!(false),
    );
    let st = req(
        &mut v142,
        "blockchain.scripthash.subscribe",
        json!([scripthash]),
    );
    k.check(
        "subscribe at 1.4.2",
        st["result"].as_str().is_some_and(|s| s.len() == 64),
        &st,
    );
    k.result(
        "unsubscribe at 1.4.2 after subscribing",
        &req(
            &mut v142,
            "blockchain.scripthash.unsubscribe",
            json!([scripthash]),
        ),
        &json!(true),
    );
    let mut v16 = Client::negotiated(port, "1.6");
    k.error(
        "relayfee at 1.6",
        &req(&mut v16, "blockchain.relayfee", json!([])),
        -32601,
    );
    k.error(
        "outpoint.get_status at 1.6",
        &req(&mut v16, "blockchain.outpoint.get_status", outpoint.clone()),
        -32601,
    );
    k.error(
        "mempool.recent at 1.6",
        &req(&mut v16, "mempool.recent", json!([])),
        -32601,
    );
    let info = req(&mut v16, "mempool.get_info", json!([]));
    let keys: HashSet<&str> = info["result"]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.check(
        "mempool.get_info at 1.6",
        keys == HashSet::from(["mempoolminfee", "minrelaytxfee", "incrementalrelayfee"]),
        &info,
    );
    let bal = req(
        &mut v16,
        "blockchain.scripthash.get_balance",
        json!([scripthash]),
    );
    k.result(
        "scripthash.get_balance at 1.6",
        &bal,
        &json!({"confirmed": 50_000, "unconfirmed": 0}),
    );
    for m in [
        "get_balance",
        "get_history",
        "get_mempool",
        "listunspent",
        "subscribe",
        "unsubscribe",
    ] {
        let r = req(
            &mut c,
            &format!("blockchain.scripthash.{m}"),
            json!([scripthash]),
        );
        k.error(&format!("blockchain.scripthash.{m} at 1.7"), &r, -32601);
    }
    k.error(
        "relayfee at 1.7",
        &req(&mut c, "blockchain.relayfee", json!([])),
        -32601,
    );
    k.result(
        "scriptpubkey.get_balance at 1.7",
        &req(&mut c, "blockchain.scriptpubkey.get_balance", json!([spk])),
        &json!({"confirmed": 50_000, "unconfirmed": 0}),
    );
    let r = req(&mut c, "blockchain.outpoint.get_status", outpoint);
    k.check(
        "outpoint.get_status at 1.7",
        r["result"]["funder_height"] == json!(102),
        &r,
    );
    k.check(
        "mempool.recent at 1.7",
        req(&mut c, "mempool.recent", json!([]))["result"].is_array(),
        "not a list",
    );

    // Half a line, then the client vanishes: other clients are unaffected.
    let mut half = Client::connect(port);
    half.send_raw(br#"{"jsonrpc": "2.0", "id": 1, "method": "server.ver"#);
    half.shutdown_write();
    drop(half);
    let mut after = Client::negotiated(port, "1.4");
    k.check(
        "a new client after a half line",
        after.try_request("server.ping", json!([])).is_some(),
        "no reply",
    );
    let mut s = s;
    k.check("server still running", s.is_running(), "exited");
    k.finish();
}
