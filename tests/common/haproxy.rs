//! The real HAProxy (Debian's `haproxy`, installed by `.ci/run`) in front of Ferrum replicas,
//! for the fleet tests: a config written to a temporary directory, `haproxy -db` in the
//! foreground, its runtime API (`stats socket`) to read what it thinks of each server.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running HAProxy, killed on drop.
pub struct Haproxy {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts HAProxy with `global`/`defaults` sections suited to tests (TCP mode, fast
    /// health checks, a runtime API socket) followed by `sections` (frontends and backends),
    /// and waits until every port in `ports` accepts.
    pub fn start(sections: &str, ports: &[u16]) -> Haproxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("admin.sock");
        let config = format!(
            "global\n    maxconn 4000\n    stats socket {} mode 600 level admin\n\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 10m\n    \
             timeout server 10m\n    timeout check 2s\n    retries 3\n    option redispatch\n\n\
             {sections}",
            socket.display()
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, &config).expect("write haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log file");
        let child = Command::new(binary())
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run haproxy ({}): {e}", binary().display()));
        let mut h = Haproxy {
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for &port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = h.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    panic!("haproxy exited with {status}:\n{}\n{config}", h.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "haproxy port {port} not open\n{}",
                    h.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        h
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// One runtime API command's output.
    pub fn command(&self, cmd: &str) -> String {
        let mut s = UnixStream::connect(self.dir.path().join("admin.sock")).expect("stats socket");
        s.write_all(format!("{cmd}\n").as_bytes()).expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    /// HAProxy's status of `backend`/`server` ("UP", "DOWN", "UP 1/2"...).
    pub fn server_status(&self, backend: &str, server: &str) -> String {
        let csv = self.command("show stat");
        let header: Vec<&str> = csv
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = header
            .iter()
            .position(|h| *h == "status")
            .expect("status column");
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&backend) && f.get(1) == Some(&server))
            .and_then(|f| f.get(col).map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// Waits until HAProxy reports `backend`/`server` with a status starting with `want`.
    pub fn wait_status(&self, backend: &str, server: &str, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.server_status(backend, server);
            if got.starts_with(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy: {backend}/{server} is {got:?}, not {want} after {within:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- haproxy log ----\n{}\n----", self.log());
        }
    }
}

/// `HAPROXY` if set, else `haproxy` from PATH or /usr/sbin.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("HAPROXY") {
        return PathBuf::from(p);
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin"])
    {
        let p = PathBuf::from(dir).join("haproxy");
        if p.is_file() {
            return p;
        }
    }
    panic!("no haproxy binary: install Debian's haproxy package (.ci/run does) or set HAPROXY");
}
