//! The real Electrum wallet (Debian's `electrum`, run headless as a daemon and driven through
//! its command line), for the tests that use it as a client of Ferrum.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ELECTRUM: &str = "/usr/bin/electrum";
/// How long the wallet may take to learn something: only there to turn a miss into a failure.
pub const WAIT: Duration = Duration::from_secs(120);

/// An Electrum daemon (our child process, killed on drop) with its own data directory.
pub struct Electrum {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Electrum {
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `electrum daemon` for regtest with 127.0.0.1:`port` as its server, and waits
    /// until it answers commands. `oneserver`: talk to that server alone; otherwise the
    /// wallet also takes the servers it lists (`server.peers.subscribe`) as it would on
    /// mainnet.
    pub fn start(port: u16, oneserver: bool) -> Electrum {
        assert!(
            Path::new(ELECTRUM).is_file(),
            "{ELECTRUM} is missing: install Debian's `electrum` package (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let regtest = dir.path().join("data/regtest");
        std::fs::create_dir_all(&regtest).unwrap();
        // Offline and quiet: no exchange rates, no update checks, no gossip; logs to a file
        // that is printed if the test fails. The config is final as written: at its current
        // version (nothing to upgrade) and with the RPC credentials set. Otherwise the daemon
        // and a command started at the same moment each upgrade it, invent a password and save
        // it, and a later command reads the other one's password: "Error: Forbidden".
        let config = json!({
            "config_version": 3,
            "rpcuser": "ferrum-test",
            "rpcpassword": "ferrum-test-password",
            "auto_connect": false,
            "oneserver": oneserver,
            "server": format!("127.0.0.1:{port}:t"),
            "check_updates": false,
            "use_exchange_rate": false,
            "use_gossip": false,
            "log_to_file": true,
            "dont_show_testnet_warning": true,
        });
        std::fs::write(regtest.join("config"), config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("daemon.out")).unwrap();
        let mut command = Self::command(dir.path(), false);
        command.arg("daemon");
        if oneserver {
            command.arg("--oneserver");
        }
        let child = command
            .arg("--server")
            .arg(format!("127.0.0.1:{port}:t"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {ELECTRUM}: {e}"));
        let mut e = Electrum {
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = e.child.as_mut().unwrap().try_wait().unwrap() {
                e.child = None;
                panic!("electrum daemon exited with {status}:\n{}", e.logs());
            }
            if e.cmd(&["getinfo"]).is_ok() {
                return e;
            }
            assert!(Instant::now() < deadline, "electrum daemon never answered");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `electrum --regtest -D <dir>/data`; a command (not the daemon) runs under `timeout` so
    /// a hung daemon fails the test instead of hanging it.
    fn command(dir: &Path, limited: bool) -> Command {
        let mut c = if limited {
            let mut c = Command::new("timeout");
            c.args(["120", ELECTRUM]);
            c
        } else {
            Command::new(ELECTRUM)
        };
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("LC_ALL", "C.UTF-8")
            .args(["--regtest", "-D"])
            .arg(dir.join("data"));
        c
    }

    /// Runs one command against the daemon: its stdout, or its stderr as the error.
    pub fn cmd(&self, args: &[&str]) -> Result<String, String> {
        let out = Self::command(self.dir.path(), true)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {ELECTRUM}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "electrum {args:?}: {}\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.cmd(args)
            .unwrap_or_else(|e| panic!("{e}\n--- electrum logs ---\n{}", self.logs()))
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("electrum {args:?}: {e}: {out}"))
    }

    /// The daemon's output and the end of its newest log file.
    pub fn logs(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.path().join("daemon.out")).unwrap_or_default();
        let logs = self.data().join("regtest/logs");
        if let Ok(rd) = std::fs::read_dir(&logs) {
            let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            files.sort();
            if let Some(f) = files.last() {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                s += &lines[lines.len().saturating_sub(80)..].join("\n");
            }
        }
        s
    }

    /// Polls `f` (which reads the wallet's state, never asks it to refresh) until it gives
    /// `Some`; panics after [`WAIT`] with `what` and the last state seen.
    pub fn wait_for<T>(&self, what: &str, mut f: impl FnMut(&Electrum) -> Result<T, String>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match f(self) {
                Ok(v) => return v,
                Err(e) => e,
            };
            if Instant::now() > deadline {
                panic!(
                    "the wallet never showed {what} within {WAIT:?}; last: {last}\n--- electrum logs ---\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Electrum {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- electrum logs ---\n{}", self.logs());
        }
        if let Some(mut child) = self.child.take() {
            let _ = self.cmd(&["stop"]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
