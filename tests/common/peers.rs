//! Helpers of the peer discovery tests: a Ferrum with discovery on and loopback peers allowed,
//! what its `server.peers.subscribe` lists, and its peer table through `ferrum rpc`.

use super::server::{Client, FerrumServer, base_env};
use ferrum::chaingen::Bitcoind;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous: verifications run at once, but the machine is shared with other tests.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A Ferrum with discovery on and loopback peers allowed, serving TCP on `ip` (for peers) and
/// on 127.0.0.1 (for the test) on the same port, its admin RPC on 127.0.0.1:`rpc_port`,
/// reporting `report` (`{port}`: its TCP port), plus `extra` environment.
pub struct PeerServer {
    pub server: FerrumServer,
    pub rpc_port: u16,
}

impl PeerServer {
    pub fn start(d: &Bitcoind, ip: &str, report: &str, extra: &[(&str, &str)]) -> PeerServer {
        let rpc_port = super::server::free_port();
        let services = if ip == "127.0.0.1" {
            format!("tcp://127.0.0.1:{{port}},rpc://127.0.0.1:{rpc_port}")
        } else {
            format!("tcp://{ip}:{{port}},tcp://127.0.0.1:{{port}},rpc://127.0.0.1:{rpc_port}")
        };
        let mut env: Vec<(&str, &str)> = base_env();
        env.extend([
            ("PEER_DISCOVERY", "on"),
            ("FERRUM_PEER_ALLOW_PRIVATE", "true"),
            ("SERVICES", services.as_str()),
            ("REPORT_SERVICES", report),
        ]);
        env.extend_from_slice(extra);
        PeerServer {
            server: FerrumServer::start(d, &env),
            rpc_port,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `ferrum rpc --port <admin> args...`: its stdout, panicking when it fails.
    pub fn rpc(&self, args: &[&str]) -> String {
        let out = self.rpc_output(args);
        assert!(
            out.status.success(),
            "ferrum rpc {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn rpc_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_ferrum"))
            .env_clear()
            .env("HOME", self.server.dir())
            .args(["rpc", "--port", &self.rpc_port.to_string()])
            .args(args)
            .output()
            .expect("run ferrum rpc")
    }

    /// `ferrum rpc add_peer "<real name>"`.
    pub fn add_peer(&self, real_name: &str) {
        let out = self.rpc(&["add_peer", real_name]);
        assert!(out.contains("added"), "add_peer {real_name}: {out}");
    }

    /// Waits until its log contains `what`.
    pub fn wait_log(&self, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.server.stderr().contains(what) {
            assert!(
                Instant::now() < deadline,
                "no {what:?} in:\n{}",
                self.server.stderr_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its peer table (`ferrum rpc peers`), as (host, status) pairs.
    pub fn table(&self) -> Vec<(String, String)> {
        table_rows(&self.rpc(&["peers"]))
    }

    pub fn listed(&self) -> BTreeSet<String> {
        listed(self.port())
    }

    /// Waits until `server.peers.subscribe` lists exactly `want`.
    pub fn wait_listed(&self, name: &str, want: &[&str]) {
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let got = self.listed();
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} lists {got:?}, not {want:?}; its peers:\n{}\nits log:\n{}",
                self.rpc(&["peers"]),
                self.server.stderr_tail(80)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// (host, status) of each row of electrumx_rpc's (and `ferrum rpc`'s) `peers` table.
pub fn table_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// The hosts a server's `server.peers.subscribe` lists, checking each entry's shape
/// (`[ip, host, ["v1.x", "t<port>", ...]]`).
pub fn listed(port: u16) -> BTreeSet<String> {
    let r = Client::negotiated(port, "1.4").request("server.peers.subscribe", json!([]));
    let list = r["result"].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|e| {
            let host = e[1].as_str().unwrap_or_default().to_string();
            assert!(e[0].as_str().is_some_and(|ip| !ip.is_empty()), "{e}");
            let features: Vec<&str> = e[2]
                .as_array()
                .unwrap_or_else(|| panic!("no feature list: {e}"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(features.iter().any(|f| f.starts_with("v1.")), "{e}");
            assert!(features.iter().any(|f| f.starts_with('t')), "{e}");
            host
        })
        .collect()
}
