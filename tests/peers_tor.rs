//! Peer discovery over Tor, with a SOCKS5 proxy started by the test standing in for Tor: it
//! maps an onion name to a loopback Ferrum and records every target it is asked for. Onion
//! peers are reached only through the proxy (by name: nothing resolves them here); without a
//! proxy they are not taken; with `FORCE_PROXY` clearnet peers go through it too.

mod common;

use common::peers::PeerServer;
use common::server::free_port;
use common::socks::Socks5;
use ferrum::chaingen::Bitcoind;
use std::collections::HashMap;

/// A v3 onion name (56 base32 characters).
fn onion_name() -> String {
    format!("{:a<56}.onion", "ferrumtestonion")
}

#[test]
fn onion_peers_go_through_the_socks_proxy_and_force_proxy_sends_all_there() {
    let d = Bitcoind::start().unwrap();
    d.mine(12).unwrap();
    let onion = onion_name();
    // The onion service: a Ferrum reporting only its onion name, listing itself.
    let hidden = PeerServer::start(
        &d,
        "127.0.0.1",
        &format!("tcp://{onion}:{{port}}"),
        &[("PEER_DISCOVERY", "self")],
    );
    // A clearnet server.
    let clear_ip = "127.6.0.2";
    let clear = PeerServer::start(
        &d,
        clear_ip,
        &format!("tcp://{clear_ip}:{{port}}"),
        &[("PEER_DISCOVERY", "self")],
    );
    let proxy = Socks5::start(HashMap::from([(onion.clone(), hidden.port())]));
    let proxy_port = proxy.port().to_string();
    let onion_peer = format!("{onion} t{}", hidden.port());
    let clear_peer = format!("{clear_ip} t{}", clear.port());
    let clear_target = format!("{clear_ip}:{}", clear.port());

    // With the proxy: the onion peer through it, by name; the clearnet one directly.
    let g_ip = "127.5.0.1";
    let with_proxy = PeerServer::start(
        &d,
        g_ip,
        &format!("tcp://{g_ip}:{{port}}"),
        &[
            ("TOR_PROXY_HOST", "127.0.0.1"),
            ("TOR_PROXY_PORT", &proxy_port),
        ],
    );
    with_proxy.wait_log("detected a SOCKS5 proxy at 127.0.0.1:");
    with_proxy.add_peer(&onion_peer);
    with_proxy.add_peer(&clear_peer);
    with_proxy.wait_listed("the server with a proxy", &[g_ip, &onion, clear_ip]);
    let asked = proxy.asked();
    assert!(
        asked.contains(&format!("{onion}:{}", hidden.port())),
        "{asked:?}"
    );
    assert!(!asked.contains(&clear_target), "{asked:?}");

    // Without a proxy (none answers on the port given): the onion peer is not taken.
    let h_ip = "127.5.0.2";
    let no_proxy_port = free_port().to_string();
    let without = PeerServer::start(
        &d,
        h_ip,
        &format!("tcp://{h_ip}:{{port}}"),
        &[
            ("TOR_PROXY_HOST", "127.0.0.1"),
            ("TOR_PROXY_PORT", &no_proxy_port),
        ],
    );
    without.wait_log("no SOCKS proxy detected");
    let out = without.rpc_output(&["add_peer", &onion_peer]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("onion host without a proxy"),
        "{out:?}"
    );
    without.add_peer(&clear_peer);
    without.wait_listed("the server without a proxy", &[h_ip, clear_ip]);

    // FORCE_PROXY: the clearnet peer is reached through the proxy too.
    let j_ip = "127.5.0.3";
    let forced = PeerServer::start(
        &d,
        j_ip,
        &format!("tcp://{j_ip}:{{port}}"),
        &[
            ("TOR_PROXY_HOST", "127.0.0.1"),
            ("TOR_PROXY_PORT", &proxy_port),
            ("FORCE_PROXY", "true"),
        ],
    );
    forced.wait_log("detected a SOCKS5 proxy at 127.0.0.1:");
    forced.add_peer(&clear_peer);
    forced.wait_listed("the server forcing the proxy", &[j_ip, clear_ip]);
    assert!(proxy.asked().contains(&clear_target), "{:?}", proxy.asked());
}
