//! A daemon that disappears mid-sync, or whose replies arrive corrupted, must not corrupt the
//! index: Ferrum logs, retries, resumes, and ends with exactly the index of a clean sync.

mod common;

use common::model::Model;
use common::*;
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn serve(port: u16, cookie: &Path, db: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferrum"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", db.parent().unwrap())
        .env("NET", "regtest")
        .env("DB_DIRECTORY", db)
        .env("DAEMON_URL", format!("127.0.0.1:{port}"))
        .env("DAEMON_POLL_INTERVAL_BLOCKS", "200")
        .env("CACHE_MB", "64")
        .env("SERVICES", common::server::free_services())
        .env("LOG_LEVEL", "info")
        .args(["--cookie-file", cookie.to_str().unwrap(), "serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until the persisted index (read-only, beside the running server) reaches `d`'s tip.
fn wait_for_tip(d: &Bitcoind, db: &Path, child: &mut Child, log: &Path) {
    let (tip, _) = d.tip().unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(store) = ferrum::store::Store::open_read_only(db, COIN, 16)
            && store.tip().tip_hash() == Some(tip)
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "ferrum exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "ferrum never caught up: {}",
            std::fs::read_to_string(log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn chain(d: &Bitcoind, seed: u64) -> ChainBuilder {
    let mut b = ChainBuilder::new(seed);
    b.mine_empty(d, 101).unwrap();
    for _ in 0..30 {
        b.mine_block_with(d, 40).unwrap();
    }
    b
}

fn stop(mut child: Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

#[test]
fn daemon_killed_mid_sync_and_restarted_then_sync_resumes_exactly() {
    let mut d = Bitcoind::start().unwrap();
    let _b = chain(&d, 41);
    d.restart().unwrap(); // a clean stop: bitcoind's own state is on disk before the kill
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("db"), dir.path().join("ferrum.log"));
    let mut child = serve(d.rpc_port(), &d.cookie_file(), &db, &log);
    std::thread::sleep(Duration::from_millis(150));
    d.kill();
    std::thread::sleep(Duration::from_secs(2));
    d.restart().unwrap(); // a new cookie, too
    wait_for_tip(&d, &db, &mut child, &log);
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("WARN") || text.contains("ERROR"),
        "the outage went unnoticed:\n{text}"
    );
    Model::from_daemon(&d).assert_matches(&query(&indexer(&d, &db, 10)));
}

/// A TCP proxy that flips one byte in the body of the first `budget` REST block replies
/// (framing stays valid, content does not). Requests on a connection are sequential, so the
/// last request line tells what a reply answers.
fn corrupting_proxy(upstream: u16, budget: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let corrupted = Arc::new(AtomicUsize::new(0));
    let count = corrupted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let asked_block = Arc::new(AtomicBool::new(false));
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let asked = asked_block.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if buf[..n].starts_with(b"GET ") || buf[..n].starts_with(b"POST ") {
                        asked.store(buf[..n].starts_with(b"GET /rest/block/"), Ordering::SeqCst);
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            let (mut s_read, mut c_write) = (server, client);
            let count = count.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match s_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let body = match buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
                        Some(p) if buf.starts_with(b"HTTP/") => p + 4,
                        _ => 0,
                    };
                    if asked_block.load(Ordering::SeqCst)
                        && n - body > 1024
                        && count.fetch_add(1, Ordering::SeqCst) < budget
                    {
                        buf[body + (n - body) / 2] ^= 0x5a;
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, corrupted)
}

#[test]
fn corrupted_daemon_replies_are_rejected_and_retried() {
    let d = Bitcoind::start().unwrap();
    let _b = chain(&d, 42);
    let (port, corrupted) = corrupting_proxy(d.rpc_port(), 3);
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("db"), dir.path().join("ferrum.log"));
    let mut child = serve(port, &d.cookie_file(), &db, &log);
    wait_for_tip(&d, &db, &mut child, &log);
    stop(child);
    assert!(
        corrupted.load(Ordering::SeqCst) > 0,
        "the proxy corrupted nothing"
    );
    Model::from_daemon(&d).assert_matches(&query(&indexer(&d, &db, 10)));
}
