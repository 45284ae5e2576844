//! Tests of the peer manager against fake peers on loopback addresses.

use super::*;
use crate::peers::testkit::{
    FakePeer, Lie, TestChain, config, spawn_peer, spawn_peer_on, spawn_socks,
};
use std::path::Path;

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn manager_config(dir: &Path) -> ManagerConfig {
    ManagerConfig {
        settings: PeerSettings {
            allow_private: true,
            tor_proxy_host: "127.0.0.1".into(),
            tor_proxy_port: Some(closed_port()),
            ..PeerSettings::default()
        },
        db_dir: dir.to_path_buf(),
        coin: "Bitcoin".into(),
        net: "regtest".into(),
        seeds: Vec::new(),
        myselves: Vec::new(),
        verify: config(),
        concurrency: CONCURRENCY,
        verify_timeout: Duration::from_secs(5),
    }
}

fn chain() -> Arc<dyn LocalChain> {
    Arc::new(TestChain::at(100))
}

fn manager(config: ManagerConfig) -> Arc<PeerManager> {
    PeerManager::new(config)
}

/// Waits up to 20 s for `done`; a deadline for progress, not a timing assertion.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting: {what}");
}

fn row_of<'a>(rows: &'a [Value], host: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("{host} not in {rows:?}"))
}

#[tokio::test]
async fn an_added_peer_is_verified_at_once_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = spawn_peer(FakePeer::honest("127.0.0.1", 100)).await;
    let m = manager(manager_config(dir.path()));
    let task = m.start(chain()).unwrap();
    // Let the task go idle first (the test only gets weaker if it has not).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        m.add_peer_from_admin(&format!("127.0.0.1 t{port}")),
        Ok(true)
    );
    // The task's idle tick is 30 s: verifying within the deadline needs the wake-up.
    wait_for("the peer verified", || m.counts().good == 1).await;
    let rows = m.rows();
    let row = row_of(&rows, "127.0.0.1");
    assert_eq!(row["status"], "good");
    assert_eq!(row["height"], 100);
    assert_eq!(row["ip_addr"], "127.0.0.1");
    assert_eq!(row["features"]["server_version"], "FakePeer 1.0");
    let listed = m.subscribe_list(false);
    assert_eq!(
        listed,
        json!([["127.0.0.1", "127.0.0.1", ["v1.4.2", format!("t{port}")]]])
    );
    let saved = || {
        persist::load(dir.path(), "Bitcoin", "regtest")
            .iter()
            .any(|e| e.peer.host.as_str() == "127.0.0.1" && e.last_good.is_some())
    };
    wait_for("the table saved", saved).await;
    task.abort();
    let again = manager(manager_config(dir.path()));
    assert_eq!(row_of(&again.rows(), "127.0.0.1")["status"], "good");
    assert_eq!(again.counts().good, 1);
}

#[tokio::test]
async fn a_peer_added_before_discovery_starts_is_listed_then_verified_when_it_does() {
    // The admin adds peers during the initial sync: the manager exists, its task does not.
    let dir = tempfile::tempdir().unwrap();
    let port = spawn_peer(FakePeer::honest("127.0.0.1", 100)).await;
    let m = manager(manager_config(dir.path()));
    assert_eq!(
        m.add_peer_from_admin(&format!("127.0.0.1 t{port}")),
        Ok(true)
    );
    assert_eq!(row_of(&m.rows(), "127.0.0.1")["status"], "never");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(m.counts().good, 0, "nothing is contacted before start");
    let task = m.start(chain()).unwrap();
    wait_for("the peer verified", || m.counts().good == 1).await;
    task.abort();
}

#[test]
fn save_now_keeps_what_the_task_has_not_saved_yet() {
    // No task runs: only save_now (called at shutdown) writes peers.json.
    let dir = tempfile::tempdir().unwrap();
    let m = manager(manager_config(dir.path()));
    assert_eq!(m.add_peer_from_admin("127.0.0.7 t50001"), Ok(true));
    assert!(persist::load(dir.path(), "Bitcoin", "regtest").is_empty());
    m.save_now();
    let again = manager(manager_config(dir.path()));
    assert_eq!(row_of(&again.rows(), "127.0.0.7")["status"], "never");
    // With discovery off nothing is written.
    let off = tempfile::tempdir().unwrap();
    let mut config = manager_config(off.path());
    config.settings.discovery = Discovery::Off;
    let m = manager(config);
    m.add_peer_from_admin("127.0.0.7 t50001").unwrap();
    m.save_now();
    assert!(!persist::path(off.path()).exists());
}

#[tokio::test]
async fn learnt_peers_are_verified_liars_marked_bad_and_a_hanging_peer_delays_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let pb = spawn_peer_on("127.0.0.2", FakePeer::honest("127.0.0.2", 100)).await;
    let liar = FakePeer::lying("127.0.0.3", 100, Lie::Genesis);
    let pc = spawn_peer_on("127.0.0.3", liar).await;
    let silent = FakePeer::lying("127.0.0.4", 100, Lie::Silent);
    let pd = spawn_peer_on("127.0.0.4", silent).await;
    let mut a = FakePeer::honest("127.0.0.1", 100);
    a.peers = json!([
        ["127.0.0.2", "127.0.0.2", ["v1.4", format!("t{pb}")]],
        ["127.0.0.3", "127.0.0.3", ["v1.4", format!("t{pc}")]],
    ]);
    let pa = spawn_peer(a).await;
    let mut cfg = manager_config(dir.path());
    cfg.verify.request_timeout = Duration::from_secs(3600);
    cfg.verify_timeout = Duration::from_secs(3600);
    let m = manager(cfg);
    let task = m.start(chain()).unwrap();
    assert_eq!(m.add_peer_from_admin(&format!("127.0.0.4 t{pd}")), Ok(true));
    assert_eq!(m.add_peer_from_admin(&format!("127.0.0.1 t{pa}")), Ok(true));
    wait_for("A and B good, C bad", || {
        let c = m.counts();
        c.good == 2 && c.bad == 1
    })
    .await;
    let rows = m.rows();
    assert_eq!(row_of(&rows, "127.0.0.2")["source"], "peer 127.0.0.1");
    let c = row_of(&rows, "127.0.0.3");
    assert!(c["bad_reason"].as_str().unwrap().contains("genesis"), "{c}");
    let d = row_of(&rows, "127.0.0.4");
    assert_eq!(d["status"], "never", "still waiting for the silent peer");
    assert_eq!(d["try_count"], 1);
    let listed = m.subscribe_list(false).to_string();
    assert!(
        listed.contains("127.0.0.2") && !listed.contains("127.0.0.3"),
        "{listed}"
    );
    task.abort();
}

#[tokio::test]
async fn with_discovery_off_or_self_no_one_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakePeer::honest("127.0.0.1", 100);
    let calls = fake.calls.clone();
    let port = spawn_peer(fake).await;
    for discovery in [Discovery::Off, Discovery::SelfOnly] {
        let mut cfg = manager_config(dir.path());
        cfg.settings.discovery = discovery;
        cfg.seeds = vec![format!("127.0.0.1 t{port}")];
        cfg.myselves = vec![Peer::from_real_name("127.0.0.9 t50001", (1, 2)).unwrap()];
        let m = manager(cfg);
        assert!(m.start(chain()).is_none());
        let features = json!({"hosts": {"127.0.0.1": {"tcp_port": port}}});
        assert!(
            !m.add_peer_from_client(&features, "127.0.0.1".parse().unwrap())
                .await
        );
        let listed = m.subscribe_list(false);
        match discovery {
            Discovery::Off => assert_eq!(listed, json!([])),
            _ => assert_eq!(
                listed,
                json!([["127.0.0.9", "127.0.0.9", ["v0.0", "t50001"]]])
            ),
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(calls.lock().unwrap().is_empty());
    assert!(!persist::path(dir.path()).exists());
}

#[tokio::test]
async fn a_client_add_peer_must_come_from_the_peers_address() {
    let dir = tempfile::tempdir().unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let by_ip = json!({"hosts": {"127.0.0.5": {"tcp_port": 50001}}});
    let m = manager(manager_config(dir.path()));
    assert!(m.add_peer_from_client(&by_ip, ip("127.0.0.5")).await);
    assert_eq!(m.counts().never, 1);
    let m = manager(manager_config(dir.path()));
    assert!(!m.add_peer_from_client(&by_ip, ip("127.0.0.6")).await);
    assert_eq!(m.counts().never, 0);
    let by_name = json!({"hosts": {"localhost": {"tcp_port": 50001}}});
    let m = manager(manager_config(dir.path()));
    assert!(!m.add_peer_from_client(&by_name, ip("10.1.2.3")).await);
    let m = manager(manager_config(dir.path()));
    assert!(m.add_peer_from_client(&by_name, ip("127.0.0.1")).await);
    assert_eq!(
        row_of(&m.rows(), "localhost")["source"],
        "add_peer from 127.0.0.1"
    );
    assert!(
        !m.add_peer_from_client(&by_name, ip("127.0.0.1")).await,
        "rate limited"
    );
}

#[tokio::test]
async fn the_proxy_is_found_by_its_socks5_greeting() {
    let dir = tempfile::tempdir().unwrap();
    let (proxy, _) = spawn_socks(HashMap::new()).await;
    let mut cfg = manager_config(dir.path());
    cfg.settings.tor_proxy_port = Some(proxy.port());
    let m = manager(cfg);
    assert!(m.detect_proxy().await);
    assert_eq!(m.proxy(), Some(proxy));
    let m = manager(manager_config(dir.path()));
    assert!(!m.detect_proxy().await, "nothing listening");
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = http.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = http.accept().await {
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").await;
        }
    });
    let mut cfg = manager_config(dir.path());
    cfg.settings.tor_proxy_port = Some(port);
    let m = manager(cfg);
    assert!(!m.detect_proxy().await, "not a SOCKS5 proxy");
    assert_eq!(m.proxy(), None);
}

#[tokio::test]
async fn the_blacklist_is_read_from_a_file_and_kept_when_a_read_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blacklist.json");
    std::fs::write(&path, r#"["127.0.0.1", "*.example.com"]"#).unwrap();
    let source = BlacklistSource::File(path.clone());
    let m = manager(manager_config(dir.path()));
    m.refresh_blacklist(&source).await;
    assert_eq!(m.add_peer_from_admin("127.0.0.1 t1"), Ok(false));
    assert_eq!(m.add_peer_from_admin("a.example.com t1"), Ok(false));
    std::fs::write(&path, "not json").unwrap();
    m.refresh_blacklist(&source).await;
    assert_eq!(
        m.add_peer_from_admin("127.0.0.1 t1"),
        Ok(false),
        "old list kept"
    );
    assert_eq!(m.add_peer_from_admin("127.0.0.2 t1"), Ok(true));
    let err = fetch_blacklist(&source).await.unwrap_err();
    assert!(err.contains("not JSON"), "{err}");
    std::fs::write(&path, vec![b' '; MAX_BLACKLIST_BYTES + 1]).unwrap();
    let err = fetch_blacklist(&source).await.unwrap_err();
    assert!(err.contains("larger than"), "{err}");
    let missing = BlacklistSource::File(dir.path().join("missing.json"));
    let err = fetch_blacklist(&missing).await.unwrap_err();
    assert!(err.contains("missing.json"), "{err}");
    assert!(m.add_peer_from_admin("bad!host t1").is_err());
}
