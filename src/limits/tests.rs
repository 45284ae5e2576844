//! Unit tests of the session table: groups and retained cost, the per-IP cap, MAX_SESSIONS
//! pause and resume, the allow-list and DROP_CLIENT.

use super::*;

fn limits(f: impl FnOnce(&mut Settings)) -> Arc<Limits> {
    let mut s = Settings::default();
    f(&mut s);
    Arc::new(Limits::new(s))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn group_cost_is_shared_and_retained() {
    let l = limits(|_| {});
    let a = open(&l, addr("8.8.4.1:1000"), "a").unwrap();
    let b = open(&l, addr("8.8.4.2:1000"), "b").unwrap();
    let other = open(&l, addr("9.9.9.9:1000"), "c").unwrap();
    a.charge("x", 0.0, &Err(RpcError::new(1, "e")), 0);
    {
        let t = l.table.lock().unwrap();
        // b's extra cost is a's cost (5 + 100); the other subnet's is nothing.
        assert!((t.extra_cost(b.id()) - 105.0).abs() < 0.01);
        assert_eq!(t.extra_cost(other.id()), 0.0);
    }
    drop(a);
    let t = l.table.lock().unwrap();
    assert!((t.groups["8.8.4.0/24"].retained - 105.0).abs() < 0.01);
    assert!((t.extra_cost(b.id()) - 105.0).abs() < 0.01);
    drop(t);
    drop(b);
    // The refund (300 s * 10000 / 5000 = 600) empties the group, which is then forgotten.
    l.periodic();
    assert!(!l.table.lock().unwrap().groups.contains_key("8.8.4.0/24"));
    assert_eq!(l.groups().len(), 1);
}

#[test]
fn private_addresses_are_in_no_group() {
    let l = limits(|_| {});
    let a = open(&l, addr("127.0.0.1:1"), "a").unwrap();
    assert!(l.groups().is_empty());
    drop(a);
}

#[tokio::test]
async fn hard_limit_refuses_with_101() {
    let l = limits(|s| {
        s.cost_soft_limit = 100;
        s.cost_hard_limit = 1000;
        s.request_sleep = Duration::ZERO;
    });
    let s = open(&l, addr("8.8.8.8:1"), "s").unwrap();
    let gate = s.gate();
    let mut ok = 0;
    loop {
        match gate.enter("s").await {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.code, EXCESSIVE_RESOURCE_USAGE);
                break;
            }
        }
        s.charge("x", 0.0, &Err(RpcError::new(1, "e")), 0);
        assert!(ok < 100, "never refused");
    }
    // 5 + 100 per error, recalculated when it moved more than 100: the target reaches 0 at
    // 1005 or 1105 (the decay between recalculations decides whether 100 is "more than 100").
    assert!((10..=11).contains(&ok), "{ok}");
    // An allow-listed session is never refused.
    let l = limits(|s| {
        s.cost_soft_limit = 100;
        s.cost_hard_limit = 1000;
        s.allow_ips = vec![Cidr::parse("8.8.8.0/24").unwrap()];
    });
    let s = open(&l, addr("8.8.8.8:1"), "s").unwrap();
    for _ in 0..100 {
        assert!(s.gate().enter("s").await.is_ok());
        s.charge("x", 0.0, &Err(RpcError::new(1, "e")), 0);
    }
}

#[test]
fn per_ip_cap_and_exemptions() {
    let l = limits(|s| {
        s.max_sessions_per_ip = 2;
        s.allow_ips = vec![Cidr::parse("10.0.0.9").unwrap()];
    });
    let a = open(&l, addr("8.8.8.8:1"), "a");
    let b = open(&l, addr("8.8.8.8:2"), "b");
    assert!(a.is_some() && b.is_some());
    assert!(!l.admits(addr("8.8.8.8:3")), "refused before any handshake");
    assert!(l.admits(addr("8.8.8.7:3")));
    assert!(open(&l, addr("8.8.8.8:3"), "c").is_none());
    assert!(open(&l, addr("8.8.8.7:3"), "d").is_some());
    drop(a);
    assert!(l.admits(addr("8.8.8.8:4")));
    assert!(open(&l, addr("8.8.8.8:4"), "e").is_some());
    // Loopback is exempt by default; allow-listed addresses always.
    let local: Vec<_> = (0..5)
        .map(|i| open(&l, addr(&format!("127.0.0.1:{i}")), "l"))
        .collect();
    assert!(local.iter().all(Option::is_some));
    let allowed: Vec<_> = (0..5)
        .map(|i| open(&l, addr(&format!("10.0.0.9:{i}")), "w"))
        .collect();
    assert!(allowed.iter().all(Option::is_some));
}

#[test]
fn max_sessions_pause_and_resume_at_95_percent() {
    let l = limits(|s| {
        s.max_sessions = 40;
        s.allow_ips = vec![Cidr::parse("10.0.0.0/8").unwrap()];
    });
    let paused = l.paused();
    let mut v: Vec<_> = (0..39)
        .map(|i| open(&l, addr(&format!("127.0.0.{}:1", i + 1)), "s").unwrap())
        .collect();
    // Allow-listed sessions do not count.
    let _w = open(&l, addr("10.1.1.1:1"), "w").unwrap();
    assert!(!*paused.borrow());
    v.push(open(&l, addr("127.0.1.1:1"), "s").unwrap());
    assert!(*paused.borrow());
    v.pop();
    assert!(*paused.borrow(), "39 > 40 * 19 / 20");
    v.pop();
    assert!(!*paused.borrow());
}

#[test]
fn drop_client_matches_from_the_start() {
    let l = limits(|s| s.drop_client = Some(drop_client_regex("Electrum 2\\.|bad").unwrap()));
    assert!(l.drop_client("Electrum 2.9"));
    assert!(l.drop_client("badclient"));
    assert!(!l.drop_client("a bad client"));
    assert!(!l.drop_client("Electrum 4.5"));
    assert!(drop_client_regex("(").is_err());
}

/// Opens a session with the next id, as the registry would number it.
fn open(l: &Arc<Limits>, peer: SocketAddr, label: &str) -> Option<SessionLimits> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    l.open(
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        peer,
        label,
    )
}
