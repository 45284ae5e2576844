//! Tests of the peer table's policy: states, schedule, forgetting, dedup, buckets, caps,
//! blacklist, `server.peers.subscribe` and `server.add_peer`.

use super::*;
use crate::peers::limiter::PEER_ADD_PAUSE;
use crate::peers::{Blacklist, Features};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

const PORTS: (u16, u16) = (50001, 50002);
const T0: u64 = 1_700_000_000;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn host(s: &str) -> Host {
    Host::parse(s).unwrap()
}

fn peer(s: &str) -> Peer {
    Peer::from_real_name(s, PORTS).unwrap()
}

fn table(mode: Discovery) -> PeerTable {
    PeerTable::new(mode, false, PORTS, vec![peer("me.example.org v1.4 s t")])
}

/// A distinct valid v3 onion name per `i` (below 65536).
fn onion(i: usize) -> String {
    let tag: String = (0..4)
        .map(|k| char::from(b'a' + ((i >> (4 * k)) & 15) as u8))
        .collect();
    format!("{}{tag}.onion", "a".repeat(52))
}

/// Adds `host` with address `ip` and verifies it good at `now`.
fn add_good(t: &mut PeerTable, h: &str, ip: &str, now: u64) -> Result<(), String> {
    t.note_peers(
        vec![peer(&format!("{h} s t"))],
        Source::Admin,
        None,
        &mut rng(),
    );
    let h = host(h);
    t.begin_try(&h, now);
    t.admit(&h, Some(ip.parse().unwrap()), now)?;
    t.record_good(&h, peer(&format!("{h} v1.4 s t")).features, Some(100), now);
    Ok(())
}

#[test]
fn states_follow_electrumx() {
    let mut e = PeerEntry::new(peer("a.example.com s"), Source::Seed);
    assert_eq!(e.status(T0), Status::Never);
    e.last_good = Some(T0);
    assert_eq!(e.status(T0 + STALE_SECS - 1), Status::Good);
    assert_eq!(e.status(T0 + STALE_SECS), Status::Stale);
    e.bad = Some("wrong genesis".into());
    assert_eq!(e.status(T0), Status::Bad);
}

#[test]
fn retry_schedule_backs_off_exponentially() {
    let mut t = table(Discovery::On);
    let h = host("a.example.com");
    assert_eq!(
        t.import_seeds(&["a.example.com s t", "-bad.example.com s"], &mut rng()),
        std::slice::from_ref(&h)
    );
    assert_eq!(
        t.due(T0),
        std::slice::from_ref(&h),
        "a new peer is due at once"
    );
    t.begin_try(&h, T0);
    assert!(t.due(T0).is_empty(), "an attempt in progress is not due");
    assert!(!t.record_failure(&h, None, T0));
    assert_eq!(t.get(&h).unwrap().next_try(), T0 + 2 * WAKEUP_SECS);
    t.begin_try(&h, T0 + 600);
    t.admit(&h, Some("8.8.8.8".parse().unwrap()), T0 + 600)
        .unwrap();
    t.record_good(&h, Features::default(), None, T0 + 600);
    assert_eq!(
        t.get(&h).unwrap().next_try(),
        T0 + 600 + STALE_SECS - 2 * WAKEUP_SECS
    );
    // Once good, failures back off 600, 1200, 2400... and forget at the tenth.
    let mut now = T0 + 600;
    for n in 1..TRY_LIMIT_ONCE_GOOD {
        now = t.get(&h).unwrap().next_try();
        t.begin_try(&h, now);
        assert!(
            !t.record_failure(&h, None, now),
            "forgotten after {n} tries"
        );
        assert_eq!(t.get(&h).unwrap().next_try(), now + (WAKEUP_SECS << n));
    }
    t.begin_try(&h, now + 1);
    assert!(t.record_failure(&h, None, now + 1));
    assert!(t.get(&h).is_none() && t.is_empty());
}

#[test]
fn tries_skipped_for_want_of_a_proxy_do_not_back_off_and_a_new_proxy_makes_all_due() {
    let mut t = table(Discovery::On);
    let h = host("a.example.com");
    t.import_seeds(&["a.example.com s t"], &mut rng());
    let mut now = T0;
    for _ in 0..40 {
        t.begin_try(&h, now);
        t.skipped(&h);
        let e = t.get(&h).expect("never forgotten");
        assert_eq!(e.try_count, 0);
        assert_eq!(e.next_try(), now + STALE_SECS - 2 * WAKEUP_SECS);
        now = e.next_try();
    }
    assert!(t.due(now - 1).is_empty());
    t.set_proxy_available(true);
    assert_eq!(t.due(now - 1), std::slice::from_ref(&h));
    // Only its appearance does that.
    t.begin_try(&h, now);
    t.set_proxy_available(true);
    assert!(t.due(now).is_empty());
}

#[test]
fn never_good_and_bad_peers_are_forgotten_after_three_tries() {
    let mut t = table(Discovery::On);
    let (a, b) = (host("a.example.com"), host("b.example.com"));
    t.import_seeds(&["a.example.com s", "b.example.com s"], &mut rng());
    for n in 1..=TRY_LIMIT {
        t.begin_try(&a, T0 + u64::from(n));
        assert_eq!(t.record_failure(&a, None, T0), n == TRY_LIMIT);
    }
    // b was good once, then lied: bad, so the short limit applies.
    t.begin_try(&b, T0);
    t.record_good(&b, Features::default(), None, T0);
    t.begin_try(&b, T0 + 1);
    assert!(!t.record_failure(&b, Some("wrong genesis".into()), T0 + 1));
    assert_eq!(t.get(&b).unwrap().status(T0 + 1), Status::Bad);
    t.begin_try(&b, T0 + 2);
    t.begin_try(&b, T0 + 3);
    assert!(t.record_failure(&b, None, T0 + 3));
    assert!(t.is_empty());
}

#[test]
fn modes_gate_seeds_due_and_lists() {
    for mode in [Discovery::Off, Discovery::SelfOnly] {
        let mut t = table(mode);
        assert!(t.import_seeds(&["a.example.com s"], &mut rng()).is_empty());
        t.note_peers(
            vec![peer("b.example.com s")],
            Source::Admin,
            None,
            &mut rng(),
        );
        assert!(t.due(T0).is_empty());
        let list = t.subscribe_list(T0, false, &mut rng());
        if mode == Discovery::Off {
            assert!(list.is_empty());
        } else {
            assert_eq!(
                list,
                [json!([
                    "me.example.org",
                    "me.example.org",
                    ["v1.4", "s50002", "t50001"]
                ])]
            );
        }
        let features = json!({"hosts": {"1.2.3.4": {"tcp_port": 50001}}});
        let check = t.on_add_peer(&features, "1.2.3.4".parse().unwrap(), T0, &mut rng());
        assert!(matches!(check, AddPeerCheck::Refused(_)));
    }
}

#[test]
fn private_and_unusable_addresses_need_allow_private() {
    let mut t = table(Discovery::On);
    let peers = vec![
        peer("127.0.0.2 t"),
        peer("10.0.0.1 t"),
        peer("localhost t"),
        peer("0.0.0.0 t"),
    ];
    assert!(
        t.note_peers(peers.clone(), Source::Admin, None, &mut rng())
            .is_empty()
    );
    let mut open = PeerTable::new(Discovery::On, true, PORTS, vec![]);
    let added = open.note_peers(peers, Source::Admin, None, &mut rng());
    assert_eq!(added.len(), 3, "0.0.0.0 is never a peer");
    // A name that resolves to a private address is refused once connected.
    let h = host("sneaky.example.com");
    t.note_peers(
        vec![peer("sneaky.example.com t")],
        Source::Seed,
        None,
        &mut rng(),
    );
    let err = t
        .admit(&h, Some("192.168.1.5".parse().unwrap()), T0)
        .unwrap_err();
    assert!(err.contains("not public"), "{err}");
}

#[test]
fn learnt_peers_are_capped_per_source_and_in_total() {
    let mut t = table(Discovery::On);
    let learnt: Vec<Peer> = (0..20)
        .map(|i| peer(&format!("p{i}.example.com t")))
        .collect();
    let added = t.note_peers(
        learnt,
        Source::Peer(host("x.example.com")),
        Some(LEARN_LIMIT),
        &mut rng(),
    );
    assert_eq!(added.len(), LEARN_LIMIT);
    assert_eq!(t.len(), LEARN_LIMIT);
    let many: Vec<Peer> = (0..MAX_PEERS + 50)
        .map(|i| peer(&format!("q{i}.example.com t")))
        .collect();
    t.note_peers(many, Source::Admin, None, &mut rng());
    assert_eq!(t.len(), MAX_PEERS);
}

#[test]
fn duplicates_by_host_and_address_are_merged() {
    let mut t = table(Discovery::On);
    let added = t.note_peers(
        vec![
            peer("a.example.com t"),
            peer("A.EXAMPLE.COM s"),
            peer("me.example.org t"),
        ],
        Source::Admin,
        None,
        &mut rng(),
    );
    assert_eq!(
        added,
        [host("a.example.com")],
        "same host once; ourselves never"
    );
    add_good(&mut t, "a.example.com", "5.5.5.5", T0).unwrap();
    // The same server known by its address: not added again.
    assert!(
        t.note_peers(vec![peer("5.5.5.5 t")], Source::Seed, None, &mut rng())
            .is_empty()
    );
    // Known first by address, then by name: the named entry wins once verified.
    let mut t = table(Discovery::On);
    t.note_peers(vec![peer("6.6.6.6 t")], Source::Seed, None, &mut rng());
    t.note_peers(
        vec![peer("b.example.com t")],
        Source::Seed,
        None,
        &mut rng(),
    );
    assert_eq!(t.len(), 2);
    let dropped = {
        let h = host("b.example.com");
        t.begin_try(&h, T0);
        t.admit(&h, Some("6.6.6.6".parse().unwrap()), T0).unwrap();
        t.record_good(&h, Features::default(), None, T0)
    };
    assert_eq!(dropped, [host("6.6.6.6")]);
    assert_eq!(t.len(), 1);
}

#[test]
fn one_good_peer_per_ipv4_address_and_ipv6_64() {
    let mut t = table(Discovery::On);
    add_good(&mut t, "a.example.com", "5.5.5.5", T0).unwrap();
    let err = add_good(&mut t, "b.example.com", "5.5.5.5", T0).unwrap_err();
    assert!(err.contains("bucket"), "{err}");
    add_good(&mut t, "c.example.com", "5.5.5.6", T0).unwrap();
    add_good(&mut t, "d.example.com", "2a01:4f8:1:2::1", T0).unwrap();
    assert!(add_good(&mut t, "e.example.com", "2a01:4f8:1:2::ffff", T0).is_err());
    add_good(&mut t, "f.example.com", "2a01:4f8:1:3::1", T0).unwrap();
    // Once the first is stale, its address is free again.
    add_good(&mut t, "b.example.com", "5.5.5.5", T0 + STALE_SECS).unwrap();
}

#[test]
fn subscribe_lists_two_per_subnet_and_caps_onions() {
    let mut t = table(Discovery::On);
    t.set_proxy_available(true);
    for (i, ip) in [
        "5.5.1.1",
        "5.5.2.2",
        "5.5.3.3",
        "6.6.1.1",
        "2a01:4f8::1",
        "2a01:4f8:0:ff::1",
    ]
    .iter()
    .enumerate()
    {
        add_good(&mut t, &format!("h{i}.example.com"), ip, T0).unwrap();
    }
    for i in 0..60 {
        let o = onion(i);
        t.note_peers(
            vec![peer(&format!("{o} t"))],
            Source::Admin,
            None,
            &mut rng(),
        );
        let h = host(&o);
        t.begin_try(&h, T0);
        t.admit(&h, None, T0).unwrap();
        t.record_good(&h, peer(&format!("{o} v1.4 t")).features, None, T0);
    }
    let list = t.subscribe_list(T0 + 1, false, &mut rng());
    let hosts: Vec<&str> = list.iter().map(|e| e[1].as_str().unwrap()).collect();
    let onions = hosts.iter().filter(|h| h.ends_with(".onion")).count();
    let clear = hosts.len() - onions;
    // me + 2 of 5.5/16 + 6.6/16 + 2 of 2a01:4f8::/56 (the two IPv6 share it).
    assert_eq!(clear, 6, "{hosts:?}");
    assert!(hosts.contains(&"me.example.org") && hosts.contains(&"h3.example.com"));
    assert_eq!(onions, MIN_ONION_LISTED);
    let tor = t.subscribe_list(T0 + 1, true, &mut rng());
    assert_eq!(tor.len(), 6 + MAX_ONION_LISTED_TOR);
    let entry = list.iter().find(|e| e[1] == "h3.example.com").unwrap();
    assert_eq!(
        entry,
        &json!(["6.6.1.1", "h3.example.com", ["v1.4", "s50002", "t50001"]])
    );
    // Stale and bad peers are not listed.
    assert_eq!(
        t.subscribe_list(T0 + STALE_SECS, false, &mut rng()).len(),
        1
    );
}

#[test]
fn onion_peers_need_a_proxy_and_their_share_is_capped() {
    let mut t = table(Discovery::On);
    let o = onion(1);
    assert!(
        t.note_peers(
            vec![peer(&format!("{o} t"))],
            Source::Seed,
            None,
            &mut rng()
        )
        .is_empty()
    );
    t.set_proxy_available(true);
    assert_eq!(
        t.note_peers(
            vec![peer(&format!("{o} t"))],
            Source::Seed,
            None,
            &mut rng()
        )
        .len(),
        1
    );
    // ElectrumX refuses a new onion only when onions are over half of the recent good peers
    // and that half is at least 100.
    let h = host(&onion(1));
    for i in 2..201 {
        let o = onion(i);
        t.note_peers(
            vec![peer(&format!("{o} t"))],
            Source::Admin,
            None,
            &mut rng(),
        );
        t.record_good(&host(&o), Features::default(), None, T0);
    }
    assert_eq!(t.admit(&h, None, T0), Ok(()), "199 others: half is 99");
    let o = onion(201);
    t.note_peers(
        vec![peer(&format!("{o} t"))],
        Source::Admin,
        None,
        &mut rng(),
    );
    t.record_good(&host(&o), Features::default(), None, T0);
    assert_eq!(
        t.admit(&h, None, T0),
        Err("too many onion peers already".into())
    );
    add_good(&mut t, "c.example.com", "8.8.8.8", T0).unwrap();
    assert_eq!(
        t.admit(&h, None, T0),
        Err("too many onion peers already".into())
    );
}

#[test]
fn blacklist_hides_and_refuses_peers() {
    let mut t = table(Discovery::On);
    add_good(&mut t, "a.evil.org", "5.5.5.5", T0).unwrap();
    add_good(&mut t, "b.example.com", "6.6.6.6", T0).unwrap();
    assert_eq!(t.subscribe_list(T0, false, &mut rng()).len(), 3);
    let list = Blacklist::parse_json(r#"["*.evil.org", "6.6.6.6"]"#).unwrap();
    let hit = t.set_blacklist(list);
    assert_eq!(hit.len(), 2);
    assert_eq!(t.due(T0), hit, "blacklisted peers are re-checked at once");
    assert_eq!(t.subscribe_list(T0, false, &mut rng()).len(), 1);
    assert_eq!(
        t.admit(&host("a.evil.org"), None, T0),
        Err("blacklisted".into())
    );
    assert!(
        t.note_peers(vec![peer("c.evil.org t")], Source::Seed, None, &mut rng())
            .is_empty()
    );
}

#[test]
fn add_peer_is_rate_limited_and_checked_against_the_caller() {
    let mut t = table(Discovery::On);
    let caller: IpAddr = "8.8.4.4".parse().unwrap();
    let add = |t: &mut PeerTable, h: &str, now| {
        let features = json!({"hosts": {h: {"ssl_port": 50002}}});
        t.on_add_peer(&features, caller, now, &mut rng())
    };
    assert_eq!(
        add(&mut t, "8.8.4.4", T0),
        AddPeerCheck::Accepted(vec![host("8.8.4.4")])
    );
    assert_eq!(
        t.get(&host("8.8.4.4")).unwrap().source,
        Source::AddPeer(caller)
    );
    // Every IP literal shares one bucket.
    assert_eq!(
        add(&mut t, "9.9.9.9", T0 + 1),
        AddPeerCheck::Refused("rate limited".into())
    );
    assert_eq!(
        add(&mut t, "9.9.9.9", T0 + 2 + PEER_ADD_PAUSE),
        AddPeerCheck::Refused("source-destination mismatch".into())
    );
    assert!(matches!(
        add(&mut t, "a.example.com", T0),
        AddPeerCheck::Resolve(_)
    ));
    assert_eq!(
        add(&mut t, "b.example.com", T0 + 5),
        AddPeerCheck::Refused("rate limited".into())
    );
    assert!(matches!(
        add(&mut t, "10.0.0.1", T0),
        AddPeerCheck::Refused(_)
    ));
    assert!(matches!(
        t.on_add_peer(&json!([]), caller, T0, &mut rng()),
        AddPeerCheck::Refused(_)
    ));
    // Onion hosts: refused without a proxy, and that uses no permit...
    assert_eq!(
        add(&mut t, &onion(1), T0),
        AddPeerCheck::Refused("no proxy to reach onion peers".into())
    );
    assert_eq!(t.onion_permit_at, 0);
    // ...then accepted once per random interval.
    t.set_proxy_available(true);
    let first = add(&mut t, &onion(1), T0);
    assert_eq!(first, AddPeerCheck::Accepted(vec![host(&onion(1))]));
    let next = t.onion_permit_at;
    assert!((T0..T0 + ONION_PERMIT_SECS).contains(&next));
    if next > T0 {
        assert_eq!(
            add(&mut t, &onion(2), next - 1),
            AddPeerCheck::Refused("rate limiting".into())
        );
    }
    assert_eq!(
        add(&mut t, &onion(3), next),
        AddPeerCheck::Accepted(vec![host(&onion(3))])
    );
}

#[test]
fn a_re_announced_peer_is_due_at_once() {
    let mut t = table(Discovery::On);
    add_good(&mut t, "a.example.com", "5.5.5.5", T0).unwrap();
    assert!(t.due(T0 + 1).is_empty());
    t.note_peers(
        vec![peer("a.example.com s60002")],
        Source::Peer(host("x.example.com")),
        None,
        &mut rng(),
    );
    assert!(
        t.due(T0 + 1).is_empty(),
        "peers' lists do not trigger a retry"
    );
    t.note_peers(
        vec![peer("a.example.com s60002")],
        Source::Admin,
        None,
        &mut rng(),
    );
    assert_eq!(t.due(T0 + 1), [host("a.example.com")]);
    let c = t.counts(T0 + 1);
    assert_eq!((c.good, c.stale, c.never, c.bad), (1, 0, 0, 0));
}
