//! Tests of peer verification against fake peers on 127.0.0.1, liars included.

use super::*;
use crate::peers::testkit::{
    FakePeer, Lie, TestChain, config, onion, spawn_peer, spawn_socks, spawn_tls_peer,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn peer(host: &str, tokens: &str) -> Peer {
    Peer::from_real_name(&format!("{host} {tokens}"), (50001, 50002)).unwrap()
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn verify(fake: FakePeer, ours: u64) -> Outcome {
    let host = fake.host.clone();
    let port = spawn_peer(fake).await;
    let p = peer(&host, &format!("t{port}"));
    verify_peer(&config(), &p, None, &TestChain::at(ours), |_| Ok(())).await
}

fn bad(o: &Outcome) -> &str {
    match o {
        Outcome::Bad(why) => why,
        other => panic!("not bad: {other:?}"),
    }
}

#[tokio::test]
async fn an_honest_peer_passes() {
    let mut fake = FakePeer::honest("127.0.0.1", 100);
    fake.peers = json!([
        ["1.2.3.4", "a.example.com", ["v1.4", "s50002", "t50001"]],
        ["", "b.example.com", ["v1.4", "t"]],
        ["", "not a host!", ["v1.4"]]
    ]);
    let port = spawn_peer(fake.clone()).await;
    let p = peer("127.0.0.1", &format!("t{port}"));
    let admitted = Arc::new(Mutex::new(Vec::new()));
    let seen = admitted.clone();
    let outcome = verify_peer(&config(), &p, None, &TestChain::at(100), move |ip| {
        seen.lock().unwrap().push(ip);
        Ok(())
    })
    .await;
    let Outcome::Good {
        features,
        height,
        learnt,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(height, 100);
    assert_eq!(features.tcp_port, Some(port));
    assert_eq!(features.server_version.as_deref(), Some("FakePeer 1.0"));
    assert_eq!(
        features.genesis_hash.as_deref(),
        Some(crate::peers::testkit::GENESIS)
    );
    let hosts: Vec<&str> = learnt.iter().map(|p| p.host.as_str()).collect();
    assert_eq!(hosts, ["a.example.com", "b.example.com"]);
    assert_eq!(
        *admitted.lock().unwrap(),
        vec![Some("127.0.0.1".parse().unwrap())]
    );
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "server.version",
            "server.features",
            "blockchain.headers.subscribe",
            "blockchain.block.header",
            "server.peers.subscribe"
        ]
    );
}

#[tokio::test]
async fn heights_within_five_pass_and_the_header_is_checked_ten_below() {
    let fake = FakePeer::lying("127.0.0.1", 20, Lie::HeightOff(5));
    let calls = fake.calls.clone();
    assert!(matches!(
        verify(fake, 20).await,
        Outcome::Good { height: 25, .. }
    ));
    assert!(
        calls
            .lock()
            .unwrap()
            .contains(&"blockchain.block.header".to_string())
    );
    // Near genesis the check height is 0.
    assert!(matches!(
        verify(FakePeer::honest("127.0.0.1", 3), 3).await,
        Outcome::Good { .. }
    ));
}

#[tokio::test]
async fn liars_are_bad_with_a_reason() {
    let cases = [
        (Lie::Genesis, "incorrect genesis hash"),
        (Lie::Header, "differ"),
        (Lie::HeightOff(10), "bad height 110 (ours: 100)"),
        (Lie::HostNotListed, "not listed in own hosts list"),
        (Lie::Garbage, "not JSON"),
        (Lie::Oversize, "longer than"),
        (Lie::WrongType, "bad server.version result: 17"),
    ];
    for (lie, want) in cases {
        let o = verify(FakePeer::lying("127.0.0.1", 100, lie.clone()), 100).await;
        assert!(bad(&o).contains(want), "{lie:?}: {o:?}");
    }
}

#[tokio::test]
async fn a_silent_peer_is_unreachable() {
    let o = verify(FakePeer::lying("127.0.0.1", 100, Lie::Silent), 100).await;
    let Outcome::Unreachable(why) = o else {
        panic!("{o:?}");
    };
    assert!(why.contains("no reply to server.version"), "{why}");
}

#[tokio::test]
async fn a_hanging_peer_does_not_delay_another() {
    let silent = spawn_peer(FakePeer::lying("127.0.0.1", 100, Lie::Silent)).await;
    let mut slow = config();
    slow.request_timeout = Duration::from_secs(3600);
    let hanging = tokio::spawn(async move {
        let p = peer("127.0.0.1", &format!("t{silent}"));
        verify_peer(&slow, &p, None, &TestChain::at(100), |_| Ok(())).await
    });
    let good = verify(FakePeer::honest("127.0.0.1", 100), 100).await;
    assert!(matches!(good, Outcome::Good { .. }), "{good:?}");
    assert!(
        !hanging.is_finished(),
        "the hanging verification is still waiting"
    );
    hanging.abort();
}

#[tokio::test]
async fn admission_refusal_is_bad_before_any_request() {
    let fake = FakePeer::honest("127.0.0.1", 100);
    let calls = fake.calls.clone();
    let port = spawn_peer(fake).await;
    let p = peer("127.0.0.1", &format!("t{port}"));
    let o = verify_peer(&config(), &p, None, &TestChain::at(100), |_| {
        Err("blacklisted".into())
    })
    .await;
    assert_eq!(o, Outcome::Bad("blacklisted".into()));
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn ssl_is_tried_first_then_tcp() {
    let tls = spawn_tls_peer(FakePeer::honest("localhost", 50)).await;
    let fake = FakePeer::honest("localhost", 50);
    let tcp_calls = fake.calls.clone();
    let tcp = spawn_peer(fake).await;
    let chain = TestChain::at(50);
    let p = peer("localhost", &format!("s{tls} t{tcp}"));
    let o = verify_peer(&config(), &p, None, &chain, |_| Ok(())).await;
    assert!(matches!(o, Outcome::Good { .. }), "{o:?}");
    assert!(tcp_calls.lock().unwrap().is_empty(), "SSL was enough");
    let p = peer("localhost", &format!("s{} t{tcp}", closed_port()));
    let o = verify_peer(&config(), &p, None, &chain, |_| Ok(())).await;
    assert!(matches!(o, Outcome::Good { .. }), "{o:?}");
    assert!(
        !tcp_calls.lock().unwrap().is_empty(),
        "TCP after SSL failed"
    );
    let p = peer(
        "localhost",
        &format!("s{} t{}", closed_port(), closed_port()),
    );
    let o = verify_peer(&config(), &p, None, &chain, |_| Ok(())).await;
    let Outcome::Unreachable(why) = o else {
        panic!("{o:?}");
    };
    assert!(why.contains("TCP") && why.contains("refused"), "{why}");
}

#[tokio::test]
async fn onion_peers_go_through_the_proxy_or_are_skipped() {
    let name = onion('c');
    let port = spawn_peer(FakePeer::honest(&name, 100)).await;
    let (proxy, asked) = spawn_socks(HashMap::from([(name.clone(), port)])).await;
    let p = peer(&name, &format!("t{port}"));
    let chain = TestChain::at(100);
    let mut ips = Vec::new();
    let o = verify_peer(&config(), &p, Some(proxy), &chain, |ip| {
        ips.push(ip);
        Ok(())
    })
    .await;
    assert!(matches!(o, Outcome::Good { .. }), "{o:?}");
    assert_eq!(ips, [None], "an onion peer has no address");
    assert_eq!(*asked.lock().unwrap(), vec![name.clone()]);
    let o = verify_peer(&config(), &p, None, &chain, |_| Ok(())).await;
    assert!(matches!(o, Outcome::Skipped(_)), "{o:?}");
    // FORCE_PROXY: a clearnet peer goes through the proxy too, by address.
    let clear = spawn_peer(FakePeer::honest("127.0.0.1", 100)).await;
    let mut forced = config();
    forced.force_proxy = true;
    let p = peer("127.0.0.1", &format!("t{clear}"));
    let o = verify_peer(&forced, &p, Some(proxy), &chain, |_| Ok(())).await;
    assert!(matches!(o, Outcome::Good { .. }), "{o:?}");
    assert_eq!(asked.lock().unwrap().len(), 2);
    let o = verify_peer(&forced, &p, None, &chain, |_| Ok(())).await;
    assert!(matches!(o, Outcome::Skipped(_)), "{o:?}");
}

#[tokio::test]
async fn we_register_with_peers_that_do_not_list_us() {
    let mut cfg = config();
    cfg.announce = true;
    cfg.me = Some(peer("127.0.0.9", "t50001 s50002"));
    let mut chain = TestChain::at(100);
    // Two identities: only the one we register (`me`) is sent, whichever sorts first.
    chain.features = json!({"hosts": {
        "127.0.0.9": {"tcp_port": 50001},
        onion('a'): {"tcp_port": 50001},
    }});
    for (listed, want) in [
        (json!([]), 1),
        (
            json!([["127.0.0.9", "127.0.0.9", ["v1.4", "t50001", "s50002"]]]),
            0,
        ),
        (json!([["127.0.0.9", "127.0.0.9", ["v1.4", "t50011"]]]), 1),
    ] {
        let mut fake = FakePeer::honest("127.0.0.1", 100);
        fake.peers = listed.clone();
        let added = fake.added.clone();
        let port = spawn_peer(fake).await;
        let p = peer("127.0.0.1", &format!("t{port}"));
        let o = verify_peer(&cfg, &p, None, &chain, |_| Ok(())).await;
        assert!(matches!(o, Outcome::Good { .. }), "{o:?}");
        let added = added.lock().unwrap().clone();
        assert_eq!(added.len(), want, "{listed}");
        if want == 1 {
            assert_eq!(
                added[0],
                json!({"hosts": {"127.0.0.9": {"tcp_port": 50001}}})
            );
        }
    }
}

#[test]
fn registration_follows_features_to_register() {
    let mut cfg = config();
    let host = Host::parse("peer.example.com").unwrap();
    cfg.me = Some(peer("me.example.com", "t50001"));
    assert!(!register(&cfg, &host, &[]), "not announcing");
    cfg.announce = true;
    assert!(register(&cfg, &host, &[]));
    assert!(
        !register(&cfg, &Host::parse("me.example.com").unwrap(), &[]),
        "ourselves"
    );
    cfg.me = Some(peer("10.0.0.1", "t50001"));
    cfg.allow_private = false;
    assert!(!register(&cfg, &host, &[]), "a private address of ours");
    cfg.me = Some(peer(&onion('d'), "t50001"));
    assert!(!register(&cfg, &host, &[]), "no clearnet identity");
    cfg.me = None;
    assert!(!register(&cfg, &host, &[]));
}
