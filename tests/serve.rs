//! `ferrum` serving as a process: it stops on SIGTERM even when bitcoind has gone away and the
//! indexer is stuck retrying it.

mod common;

use common::server::free_port;
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_the_server_while_bitcoind_is_gone() {
    let mut d = Bitcoind::start().unwrap();
    ChainBuilder::new(5).mine_empty(&d, 101).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrum"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("DB_DIRECTORY", dir.path().join("db"))
        .env("DAEMON_URL", format!("127.0.0.1:{}", d.rpc_port()))
        .env("SERVICES", format!("tcp://127.0.0.1:{port}"))
        .env("LOG_LEVEL", "warn")
        .args(["--net", "regtest", "--cookie-file"])
        .arg(d.cookie_file())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "ferrum never listened");
        assert!(child.try_wait().unwrap().is_none(), "ferrum exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    // bitcoind disappears: the follow loop is now inside the daemon client's retries.
    d.kill();
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    // The daemon client's retry budget is two minutes; a stop must not wait for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ferrum did not stop within a minute of SIGTERM with bitcoind gone");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "ferrum exited with {status}");
}
