//! Peer discovery between real Ferrum servers on loopback: three servers on one regtest
//! bitcoind, each reachable on its own address (127.0.0.2, .3, .4) and reporting it, with
//! `FERRUM_PEER_ALLOW_PRIVATE` so that loopback addresses count as peers. Each hears of one
//! other through a client's `server.add_peer` (whose host must be the caller's address);
//! verification, announcing ourselves to peers that do not list us, and learning from
//! `server.peers.subscribe` must then make every server list the two others (besides
//! itself: its reported address is a peer address here).

mod common;

use common::server::{Client, FerrumServer, base_env};
use ferrum::chaingen::Bitcoind;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Generous: verifications run at once, but the machine is shared with other tests.
const DEADLINE: Duration = Duration::from_secs(120);

/// A Ferrum serving on `ip` (for peers) and on 127.0.0.1 (for the test), same port.
fn start(d: &Bitcoind, ip: &'static str) -> FerrumServer {
    let services = format!("tcp://{ip}:{{port}},tcp://127.0.0.1:{{port}}");
    let report = format!("tcp://{ip}:{{port}}");
    let mut env: Vec<(&str, &str)> = base_env();
    env.extend([
        ("PEER_DISCOVERY", "on"),
        ("FERRUM_PEER_ALLOW_PRIVATE", "true"),
        ("SERVICES", services.as_str()),
        ("REPORT_SERVICES", report.as_str()),
    ]);
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
    let a = start(&d, "127.0.0.2");
    let b = start(&d, "127.0.0.3");
    let c = start(&d, "127.0.0.4");
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

    // A host that is not the caller's address is refused (ElectrumX's on_add_peer), and so
    // is a second add_peer of one host within 10 minutes.
    assert_eq!(add_peer(&a, "127.0.0.9", &c), json!(false));
    assert_eq!(add_peer(&a, hb, &b), json!(false));
}
