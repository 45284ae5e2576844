//! Tests of peer parsing and rendering: the three input forms, hostile inputs, ElectrumX's
//! output format.

use super::*;
use serde_json::json;

const DEFAULTS: (u16, u16) = (50001, 50002);

fn host(s: &str) -> Host {
    Host::parse(s).unwrap()
}

fn v(s: &str) -> Option<ProtocolVersion> {
    Some(ProtocolVersion::parse(s).unwrap())
}

#[test]
fn protocol_versions() {
    assert_eq!(ProtocolVersion::parse("1.4").unwrap().to_string(), "1.4");
    assert_eq!(ProtocolVersion::parse("1").unwrap().to_string(), "1.0");
    assert_eq!(
        ProtocolVersion::parse("1.4.2").unwrap().to_string(),
        "1.4.2"
    );
    assert!(ProtocolVersion::parse("1.4") < ProtocolVersion::parse("1.10"));
    for bad in [
        "", "1.", ".4", "1.4.2.1", "a.b", "1.-4", "99999.1", "+1.4", "1.4 ",
    ] {
        assert_eq!(ProtocolVersion::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn real_names_parse_with_default_ports() {
    let p = Peer::from_real_name("electrum.blockstream.info s t", DEFAULTS).unwrap();
    assert_eq!(p.host.as_str(), "electrum.blockstream.info");
    assert_eq!(
        (p.features.tcp_port, p.features.ssl_port),
        (Some(50001), Some(50002))
    );
    let p =
        Peer::from_real_name("Host.Example.com  t50003 s443 v1.4.2 p10000 x7", DEFAULTS).unwrap();
    assert_eq!(p.host.as_str(), "host.example.com");
    assert_eq!(
        (p.features.tcp_port, p.features.ssl_port),
        (Some(50003), Some(443))
    );
    assert_eq!(p.features.protocol_max, v("1.4.2"));
    assert_eq!(p.features.protocol_min, v("1.4.2"));
    assert_eq!(p.features.pruning, Some(10000));
    let p = Peer::from_real_name("testnet4-electrumx.wakiyamap.dev", DEFAULTS).unwrap();
    assert_eq!(p.features, Features::default());
    assert_eq!(
        Peer::from_real_name("h.com p0", DEFAULTS)
            .unwrap()
            .features
            .pruning,
        None
    );
}

#[test]
fn hostile_real_names_are_errors() {
    for bad in [
        "",
        "   ",
        "bad_host!.com s",
        "h.com s0",
        "h.com s65536",
        "h.com t99999999999999999999",
        "h.com sabc",
        "h.com v",
        "h.com vx.y",
        "h.com p-1",
    ] {
        assert!(
            Peer::from_real_name(bad, DEFAULTS).is_err(),
            "{bad:?} accepted"
        );
    }
    let many = format!("h.com {}", "x ".repeat(MAX_TOKENS + 1));
    assert!(matches!(
        Peer::from_real_name(&many, DEFAULTS),
        Err(PeerError::TooMany { .. })
    ));
    let huge = format!("h.com s{}", "1".repeat(10_000));
    assert!(Peer::from_real_name(&huge, DEFAULTS).is_err());
}

#[test]
fn rendering_follows_electrumx() {
    let mut p = Peer::from_real_name("e.example.com v1.4 p100 t s50012", DEFAULTS).unwrap();
    assert_eq!(p.real_name(None), "e.example.com v1.4 p100 s50012 t50001");
    assert_eq!(
        p.real_name(Some(DEFAULTS)),
        "e.example.com v1.4 p100 s50012 t"
    );
    assert_eq!(
        p.to_subscribe_entry(None),
        json!([
            "e.example.com",
            "e.example.com",
            ["v1.4", "p100", "s50012", "t50001"]
        ])
    );
    p.ip = Some("1.2.3.4".parse().unwrap());
    assert_eq!(
        p.to_subscribe_entry(Some(DEFAULTS)),
        json!(["1.2.3.4", "e.example.com", ["v1.4", "p100", "s50012", "t"]])
    );
    let seed = Peer::from_real_name("h.example.com s", DEFAULTS).unwrap();
    assert_eq!(
        seed.real_name(None),
        "h.example.com v0.0 s50002",
        "ElectrumX's v0.0"
    );
    // Round trip through the subscribe form.
    let back = Peer::from_subscribe_entry(&p.to_subscribe_entry(None), DEFAULTS).unwrap();
    assert_eq!(back.features, p.features);
    assert_eq!(back.ip, None, "the claimed IP is not believed");
}

#[test]
fn subscribe_replies_are_bounded_and_typed() {
    let reply = json!([
        ["1.2.3.4", "a.example.com", ["v1.4", "s50002", "t50001"]],
        ["5.6.7.8", "bad host", ["v1.4"]],
        ["9.9.9.9", "b.example.com", ["s70000"]],
        ["x", "c.example.com", [], "extra ignored"]
    ]);
    let (peers, skipped) = parse_subscribe_reply(&reply, DEFAULTS).unwrap();
    let hosts: Vec<&str> = peers.iter().map(|p| p.host.as_str()).collect();
    assert_eq!(hosts, ["a.example.com", "c.example.com"]);
    assert_eq!(skipped, 2);
    for bad in [
        json!({"a": 1}),
        json!("x"),
        json!([["1.2.3.4", "a.example.com"]]),
        json!([["1.2.3.4", 7, []]]),
        json!([["1.2.3.4", "a.example.com", "v1.4 s"]]),
        json!([["1.2.3.4", "a.example.com", ["v1.4", 50002]]]),
        json!([["1.2.3.4", "a.example.com", vec!["t"; MAX_TOKENS + 1]]]),
        json!([null]),
    ] {
        assert!(
            parse_subscribe_reply(&bad, DEFAULTS).is_err(),
            "{bad} accepted"
        );
    }
    let entry = json!(["1.1.1.1", "a.example.com", ["t"]]);
    let oversize = serde_json::Value::Array(vec![entry; MAX_SUBSCRIBE_ENTRIES + 1]);
    assert!(matches!(
        parse_subscribe_reply(&oversize, DEFAULTS),
        Err(PeerError::TooMany { .. })
    ));
}

fn features_reply() -> serde_json::Value {
    json!({
        "hosts": {
            "E.Example.com": {"tcp_port": 50001, "ssl_port": "50002"},
            "v7gtzf7nua6hdmb2wtqaqioqmesdb4xrlly4zwr7bvayxv2bpg665pqd.onion": {"tcp_port": 50001}
        },
        "genesis_hash": "000000000019D6689C085AE165831E934FF763AE46A2A6C172B3F1B60A8CE26F",
        "protocol_min": "1.4",
        "protocol_max": "1.7",
        "server_version": "ElectrumX 1.18.0",
        "pruning": null,
        "hash_function": "sha256"
    })
}

#[test]
fn server_features_are_read_for_the_host_reached() {
    let f = Features::from_server_features(&features_reply(), &host("e.example.com")).unwrap();
    assert_eq!((f.tcp_port, f.ssl_port), (Some(50001), Some(50002)));
    assert_eq!((f.protocol_min, f.protocol_max), (v("1.4"), v("1.7")));
    assert_eq!(f.server_version.as_deref(), Some("ElectrumX 1.18.0"));
    assert_eq!(
        f.genesis_hash.as_deref(),
        Some("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
    );
    assert_eq!(f.pruning, None);
    assert_eq!(
        Features::from_server_features(&features_reply(), &host("other.example.com")),
        Err(PeerError::HostNotListed)
    );
}

#[test]
fn hostile_server_features_are_errors() {
    let h = host("e.example.com");
    let with = |key: &str, value: serde_json::Value| {
        let mut r = features_reply();
        r[key] = value;
        Features::from_server_features(&r, &h)
    };
    assert!(with("genesis_hash", json!("00ff")).is_err());
    assert!(with("genesis_hash", json!(7)).is_err());
    assert!(with("protocol_max", json!([1, 4])).is_err());
    assert!(with("protocol_max", json!("1.4.x")).is_err());
    assert!(
        with(
            "server_version",
            json!("x".repeat(MAX_SERVER_VERSION_LEN + 1))
        )
        .is_err()
    );
    assert!(with("pruning", json!(-5)).is_err());
    assert!(with("pruning", json!("10")).is_err());
    assert_eq!(with("pruning", json!(10)).unwrap().pruning, Some(10));
    assert!(with("hosts", json!(["e.example.com"])).is_err());
    assert!(with("hosts", json!({"e.example.com": {"tcp_port": 0}})).is_err());
    assert!(with("hosts", json!({"e.example.com": {"tcp_port": 70000}})).is_err());
    assert!(with("hosts", json!({"e.example.com": {"tcp_port": "5e4"}})).is_err());
    assert!(with("hosts", json!({"e.example.com": {"tcp_port": 5.5}})).is_err());
    assert!(with("hosts", json!({"e.example.com": 5})).is_err());
    assert!(with("hosts", json!({"e.example.com": null})).is_ok());
    let mut many = serde_json::Map::new();
    for i in 0..=MAX_FEATURE_HOSTS {
        many.insert(format!("h{i}.example.com"), json!({}));
    }
    many.insert("e.example.com".into(), json!({}));
    assert!(matches!(
        with("hosts", serde_json::Value::Object(many)),
        Err(PeerError::TooMany { .. })
    ));
    assert!(Features::from_server_features(&json!([]), &h).is_err());
    assert!(Features::from_server_features(&json!({}), &h).is_err());
    // A control character in the version string is dropped, not kept for the admin table.
    assert_eq!(
        with("server_version", json!("x\u{1b}[2J"))
            .unwrap()
            .server_version,
        None
    );
}

#[test]
fn add_peer_takes_the_first_host() {
    let p = Peer::from_add_peer(&features_reply()).unwrap();
    assert_eq!(p.host.as_str(), "e.example.com");
    assert_eq!(p.features.ssl_port, Some(50002));
    assert!(Peer::from_add_peer(&json!({"hosts": {}})).is_err());
    assert!(Peer::from_add_peer(&json!({"hosts": {"not a host": {}}})).is_err());
    assert!(Peer::from_add_peer(&json!("x")).is_err());
}

#[test]
fn every_coin_s_seeds_parse() {
    for coin in crate::chain::COINS {
        for seed in coin.peers() {
            let parsed = Peer::from_real_name(seed, coin.default_electrum_ports());
            assert!(parsed.is_ok(), "{} {seed}: {parsed:?}", coin.net());
        }
    }
}
