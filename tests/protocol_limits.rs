//! Size limits and client isolation of the Electrum server, with ElectrumX 2.0.0's and
//! aiorpcx's rules (`session.py` is `electrumx/server/session.py`; `jsonrpc.py` and
//! `framing.py` are aiorpcx's): a history too long for MAX_SEND (10001), a response over
//! MAX_SEND (-32600, alone and within a batch), a request line over MAX_RECV (dropped, the stream
//! resynchronises), and heavy clients that must not stall a light one.

mod common;

use common::server::{Checks, Client, FerrumServer, base_env};
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A chain where one script is paid by `n` transactions (4 blocks); returns its script and a
/// second script with one payment.
fn long_history_chain(d: &Bitcoind, n: usize) -> (bitcoin::ScriptBuf, bitcoin::ScriptBuf) {
    let mut b = ChainBuilder::new(11);
    b.mine_empty(d, 101).unwrap();
    // Scripts the builder does not own, so that it never spends their outputs.
    let foreign = |n: u8| {
        bitcoin::ScriptBuf::new_p2wpkh(
            &<bitcoin::WPubkeyHash as bitcoin::hashes::Hash>::from_byte_array([n; 20]),
        )
    };
    let (hot, small) = (foreign(0xaa), foreign(0xbb));
    let amount = bitcoin::Amount::from_sat(1_000);
    let mut txs = vec![b.tx_to(&[(small.clone(), amount)]).unwrap()];
    for i in 0..n {
        txs.push(b.tx_to(&[(hot.clone(), amount)]).unwrap());
        if txs.len() >= n.div_ceil(4) || i + 1 == n {
            b.mine_txs(d, std::mem::take(&mut txs)).unwrap();
        }
    }
    (hot, small)
}

#[test]
fn size_limits_and_client_isolation() {
    const N: usize = 4000;
    let d = Bitcoind::start().unwrap();
    let (hot, small) = long_history_chain(&d, N);
    let hot_sh = ferrum::types::scripthash_hex(&hot);
    let hot_spk = ferrum::types::bytes_to_hex(hot.as_bytes());
    let small_sh = ferrum::types::scripthash_hex(&small);
    let mut k = Checks::default();

    // session.py limited_history: limit = (MAX_SEND - 100) // 99 entries; a history of at
    // least `limit` confirmed entries is RPC_ERROR_HISTORY_TOO_LONG (10001), for get_history
    // and for the status of subscribe. MAX_SEND stays above ElectrumX's floor of 350000.
    let tight = (100 + 99 * N).to_string();
    let loose = (100 + 99 * (N + 1)).to_string();
    let env = |extra: &[(&'static str, &str)]| -> FerrumServer {
        let mut all: Vec<(&str, &str)> = base_env();
        all.extend(extra.iter().copied());
        FerrumServer::start(&d, &all)
    };
    let st = env(&[("MAX_SEND", &tight), ("MAX_RECV", "5000")]);
    let sl = env(&[("MAX_SEND", &loose)]);
    let mut c14 = Client::negotiated(st.port(), "1.4");
    k.error(
        "get_history at the limit",
        &c14.request("blockchain.scripthash.get_history", json!([hot_sh])),
        10001,
    );
    k.error(
        "subscribe at the limit",
        &c14.request("blockchain.scripthash.subscribe", json!([hot_sh])),
        10001,
    );
    let mut c17 = Client::negotiated(st.port(), "1.7");
    k.error(
        "scriptpubkey.get_history at the limit",
        &c17.request("blockchain.scriptpubkey.get_history", json!([hot_spk])),
        10001,
    );
    let mut l14 = Client::negotiated(sl.port(), "1.4");
    let r = l14.request("blockchain.scripthash.get_history", json!([hot_sh]));
    k.check(
        &format!("get_history one below the limit: {N} entries"),
        r["result"].as_array().map(Vec::len) == Some(N),
        r.to_string().len(),
    );

    // aiorpcx jsonrpc.py _send_result: a response over MAX_SEND becomes INVALID_REQUEST
    // (-32600) "response too large" with the request's id; phandle_ping refuses pong_len over
    // MAX_SEND (BAD_REQUEST) but builds one of exactly MAX_SEND, which is then too large.
    let max: usize = tight.parse().unwrap();
    let id = c17.send("server.ping", json!([max]));
    let r = c17.wait_reply(&id);
    k.error("ping of MAX_SEND bytes", &r, -32600);
    k.check("too-large reply keeps the id", r["id"] == id, &r);
    k.error(
        "ping of MAX_SEND + 1 bytes",
        &c17.request("server.ping", json!([max + 1])),
        1,
    );
    // _receive_request_batch: the batch's replies add up against MAX_SEND; the member that
    // crosses it is replaced by -32600.
    let mut lb = Client::negotiated(sl.port(), "1.4");
    let two = lb.batch(&[
        ("blockchain.scripthash.get_history", json!([hot_sh])),
        ("blockchain.scripthash.get_history", json!([hot_sh])),
    ]);
    let full = two
        .iter()
        .filter(|r| r["result"].as_array().map(Vec::len) == Some(N))
        .count();
    let too_big = two
        .iter()
        .filter(|r| r["error"]["code"] == json!(-32600))
        .count();
    k.check(
        "batch of two histories over MAX_SEND: one answered, one -32600",
        full == 1 && too_big == 1,
        json!(
            two.iter()
                .map(|r| r.get("error").cloned().unwrap_or(json!("result")))
                .collect::<Vec<_>>()
        ),
    );

    // framing.py NewlineFramer: a line over MAX_RECV is dropped without a reply, the stream
    // resynchronises at the next newline, and the session goes on.
    let mut big = Client::negotiated(st.port(), "1.4");
    let pad = "0".repeat(1_000_000);
    big.send_raw(
        format!(r#"{{"jsonrpc":"2.0","id":500,"method":"server.ping","params":["{pad}"]}}"#)
            .as_bytes(),
    );
    big.send_raw(b"\n");
    let id = big.send("blockchain.block.header", json!([0]));
    let first = big
        .read_message_timeout(Duration::from_secs(60))
        .unwrap_or(Value::Null);
    k.check(
        "oversize request dropped, the next one answered",
        first["id"] == id && first["result"].is_string(),
        &first,
    );
    k.check(
        "session open after an oversize request",
        big.try_request("server.ping", json!([])).is_some(),
        "closed",
    );

    // Isolation: heavy clients must not stall a light one.
    let si = env(&[("MAX_SEND", "100000000")]);
    let port = si.port();
    let light_round = |k: &mut Checks, c: &mut Client, round: usize| {
        let r = c.request("blockchain.scripthash.get_balance", json!([small_sh]));
        k.result(
            &format!("light client request {round}"),
            &r,
            &json!({"confirmed": 1000, "unconfirmed": 0}),
        );
    };
    // 1. Heavy clients that send a lot and do not read.
    let mut a = Client::negotiated(port, "1.4");
    let a_ids: Vec<Value> = (0..100)
        .map(|_| a.send("blockchain.scripthash.get_history", json!([hot_sh])))
        .collect();
    let mut b = Client::negotiated(port, "1.4");
    let calls: Vec<(&str, Value)> = (0..50)
        .map(|_| ("blockchain.scripthash.get_history", json!([hot_sh])))
        .collect();
    let batch_msgs: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": 1000 + i, "method": m, "params": p}))
        .collect();
    b.send_value(&Value::Array(batch_msgs));
    let mut light = Client::negotiated(port, "1.4");
    for round in 0..20 {
        light_round(&mut k, &mut light, round);
    }
    let answered = a_ids
        .iter()
        .filter(|id| a.wait_reply(id)["result"].as_array().map(Vec::len) == Some(N))
        .count();
    k.check(
        "stalled heavy client then gets all 100 histories",
        answered == 100,
        answered,
    );
    let batch = b
        .next_batch(common::server::READ_TIMEOUT)
        .unwrap_or_default();
    let ok = batch
        .iter()
        .filter(|r| r["result"].as_array().map(Vec::len) == Some(N))
        .count();
    k.check("stalled batch client then gets 50 histories", ok == 50, ok);
    // 2. A heavy client reading as fast as it can: the light client's requests are answered
    // while the heavy one is still receiving (counted in replies, not time).
    const K: usize = 400;
    let received = Arc::new(AtomicUsize::new(0));
    let heavy = {
        let received = received.clone();
        let hot_sh = hot_sh.clone();
        std::thread::spawn(move || {
            let mut h = Client::negotiated(port, "1.4");
            let ids: Vec<Value> = (0..K)
                .map(|_| h.send("blockchain.scripthash.get_history", json!([hot_sh])))
                .collect();
            let mut good = 0;
            for id in ids {
                if h.wait_reply(&id)["result"].as_array().map(Vec::len) == Some(N) {
                    good += 1;
                }
                received.fetch_add(1, Ordering::SeqCst);
            }
            good
        })
    };
    while received.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    for round in 20..30 {
        light_round(&mut k, &mut light, round);
    }
    let at_end = received.load(Ordering::SeqCst);
    eprintln!("isolation: the heavy client had {at_end} of {K} replies after 10 light requests");
    k.check(
        &format!("10 light requests done while the heavy client had < {K} replies"),
        at_end < K,
        at_end,
    );
    let good = heavy.join().unwrap();
    k.check("heavy client gets every history", good == K, good);
    for (name, mut server) in [("tight", st), ("loose", sl), ("isolation", si)] {
        k.check(
            &format!("{name} server still running"),
            server.is_running(),
            "exited",
        );
    }
    k.finish();
}
