//! Tests of the peer client against fake servers on 127.0.0.1.

use super::*;
use crate::peers::testkit::{FakePeer, Lie, onion, spawn_peer, spawn_socks, spawn_tls_peer};
use std::collections::HashMap;
use tokio::net::TcpListener;

fn opts() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_millis(500),
        ..ConnectOptions::default()
    }
}

async fn client(port: u16) -> PeerClient {
    PeerClient::connect("127.0.0.1", port, Transport::Tcp, &opts())
        .await
        .unwrap()
}

/// A server that writes `reply` to every line it reads.
async fn scripted(reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(_)) = lines.next_line().await {
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn replies_are_matched_and_notifications_skipped() {
    let peer = FakePeer::honest("127.0.0.1", 100);
    let calls = peer.calls.clone();
    let mut c = client(spawn_peer(peer).await).await;
    assert_eq!(c.remote_ip(), Some("127.0.0.1".parse().unwrap()));
    let v = c
        .request("server.version", json!(["x", "1.4"]))
        .await
        .unwrap();
    assert_eq!(v, json!(["FakePeer 1.0", "1.4"]));
    let tip = c
        .request("blockchain.headers.subscribe", json!([]))
        .await
        .unwrap();
    assert_eq!(tip["height"], 100, "the notification before it was skipped");
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn tls_accepts_a_self_signed_certificate() {
    let port = spawn_tls_peer(FakePeer::honest("localhost", 7)).await;
    let mut c = PeerClient::connect("localhost", port, Transport::Ssl, &opts())
        .await
        .unwrap();
    let tip = c
        .request("blockchain.headers.subscribe", json!([]))
        .await
        .unwrap();
    assert_eq!(tip["height"], 7);
}

#[tokio::test]
async fn tls_to_a_plain_server_is_a_tls_error() {
    let port = scripted("not tls at all\n").await;
    let err = PeerClient::connect("127.0.0.1", port, Transport::Ssl, &opts())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err}");
}

#[tokio::test]
async fn refused_connection_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = PeerClient::connect("127.0.0.1", port, Transport::Tcp, &opts())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
}

#[tokio::test]
async fn a_silent_peer_times_out() {
    let mut c = client(spawn_peer(FakePeer::lying("h", 1, Lie::Silent)).await).await;
    let err = c.request("server.version", json!([])).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    assert!(!err.is_protocol_violation());
}

#[tokio::test]
async fn garbage_and_oversize_lines_are_protocol_violations() {
    let mut c = client(spawn_peer(FakePeer::lying("h", 1, Lie::Garbage)).await).await;
    let err = c.request("server.version", json!([])).await.unwrap_err();
    assert!(matches!(err, ClientError::BadReply { .. }), "{err}");
    assert!(err.to_string().contains("not JSON"), "{err}");
    let mut c = client(spawn_peer(FakePeer::lying("h", 1, Lie::Oversize)).await).await;
    let err = c.request("server.version", json!([])).await.unwrap_err();
    assert!(matches!(err, ClientError::LineTooLong), "{err}");
    assert!(err.is_protocol_violation());
}

#[tokio::test]
async fn wrong_ids_errors_and_shapes_are_reported() {
    let cases: [(&'static str, &str); 5] = [
        (
            "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":1}\n",
            "not the request's",
        ),
        ("[{\"id\":0,\"result\":1}]\n", "not a JSON-RPC object"),
        ("{\"id\":0}\n", "neither result nor error"),
        (
            "{\"id\":0,\"error\":{\"code\":-32601,\"message\":\"unknown\\u0007 method\"}}\n",
            "RPC error -32601: unknown method",
        ),
        ("{\"id\":0,\"error\":\"boom\"}\n", "RPC error 0: \"boom\""),
    ];
    for (reply, want) in cases {
        let mut c = client(scripted(reply).await).await;
        let err = c.request("server.version", json!([])).await.unwrap_err();
        assert!(err.to_string().contains(want), "{reply}: {err}");
    }
}

#[tokio::test]
async fn a_closed_connection_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        drop(s);
    });
    let mut c = client(port).await;
    let err = c.request("server.version", json!([])).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Closed | ClientError::Io(_)),
        "{err}"
    );
}

#[tokio::test]
async fn onion_hosts_go_to_the_proxy_by_name() {
    let name = onion('a');
    let port = spawn_peer(FakePeer::honest(&name, 5)).await;
    let (proxy, asked) = spawn_socks(HashMap::from([(name.clone(), port)])).await;
    let o = ConnectOptions {
        proxy: Some(proxy),
        ..opts()
    };
    let mut c = PeerClient::connect(&name, 50001, Transport::Tcp, &o)
        .await
        .unwrap();
    assert_eq!(c.remote_ip(), None);
    let tip = c
        .request("blockchain.headers.subscribe", json!([]))
        .await
        .unwrap();
    assert_eq!(tip["height"], 5);
    assert_eq!(*asked.lock().unwrap(), vec![name.clone()]);
    // Without a proxy an onion name is never looked up.
    let err = PeerClient::connect(&name, 50001, Transport::Tcp, &opts())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only through a proxy"), "{err}");
    // An unknown onion: the proxy refuses.
    let err = PeerClient::connect(&onion('b'), 1, Transport::Tcp, &o)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Proxy { .. }), "{err}");
}

#[test]
fn a_loopback_listening_address_is_the_source_only_towards_loopback() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    // The default SERVICES (127.0.0.1) must not be bound for a public peer: that fails with
    // EINVAL, and every clearnet verification with it.
    assert!(!can_bind(ip("127.0.0.1"), ip("1.1.1.1")));
    assert!(can_bind(ip("127.0.0.1"), ip("127.2.0.3")));
    assert!(can_bind(ip("203.0.113.5"), ip("1.1.1.1")));
    assert!(can_bind(ip("10.0.0.2"), ip("10.0.0.3")));
    assert!(!can_bind(ip("203.0.113.5"), ip("2001:db8::1")));
    assert!(!can_bind(ip("::1"), ip("2001:db8::1")));
}

#[tokio::test]
async fn a_peer_is_reached_from_the_listening_address_when_it_can_be() {
    // From 127.0.0.5 towards 127.0.0.1: the peer sees that source. A public target is not
    // tried here (tests dial loopback only); `can_bind` covers it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let local: IpAddr = "127.0.0.5".parse().unwrap();
    let accept = tokio::spawn(async move { listener.accept().await.map(|(_, a)| a.ip()) });
    let (_s, ip) = direct("127.0.0.1", port, Some(local)).await.unwrap();
    assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(accept.await.unwrap().unwrap(), local);
}
