//! A real regtest `bitcoind` for tests, the demo and benchmarks.
//!
//! [`Bitcoind::start`] spawns the binary found by [`Bitcoind::binary`] on a fresh temporary
//! datadir with a free RPC port (cookie auth, REST on, no P2P), waits until its RPC answers, and
//! gives a tiny JSON-RPC client ([`Bitcoind::rpc`]) that needs nothing from the rest of Ferrum.
//! The process is killed (and its temporary datadir removed, unless kept) when the value is
//! dropped, so a panicking test leaves nothing behind.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use bitcoin::{BlockHash, ScriptBuf};
use serde_json::{Value, json};

use super::ports::free_port;
use crate::daemon::settings::{
    BlockSourceMode, DaemonAuth, DaemonEndpoint, DaemonSettings, RestMode,
};

/// Version of the `libbitcoinkernel-sys` crate whose Bitcoin Core source
/// `scripts/build-bitcoind.sh` builds; names the cache directory.
const BUILD_VERSION: &str = "0.4.1";

/// How long to wait for a starting bitcoind to answer RPC.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// How long to wait for a bitcoind asked to `stop` to exit.
/// (A large -dbcache takes minutes to flush at shutdown.)
const STOP_TIMEOUT: Duration = Duration::from_secs(900);

/// Read timeout of one RPC call (a `submitblock` of a full block or a long `generatetoaddress`
/// can take a while on a loaded 2-core machine).
const RPC_TIMEOUT: Duration = Duration::from_secs(600);

/// Arguments every test daemon gets; `extra_args` come after them and so override them.
const DEFAULT_ARGS: &[&str] = &[
    "-regtest",
    "-server=1",
    "-rest=1",
    "-txindex=0",
    "-listen=0",
    "-connect=0",
    "-dnsseed=0",
    "-fixedseeds=0",
    "-printtoconsole=0",
    "-rpcbind=127.0.0.1",
    "-rpcallowip=127.0.0.1",
    "-rpcworkqueue=256",
];

/// A running regtest `bitcoind`, killed on drop.
#[derive(Debug)]
pub struct Bitcoind {
    child: Option<Child>,
    binary: PathBuf,
    datadir: PathBuf,
    /// Remove `datadir` on drop (only for temporary datadirs we created).
    remove_datadir: bool,
    rpc_port: u16,
    extra_args: Vec<String>,
    agent: ureq::Agent,
    next_id: AtomicU64,
}

impl Bitcoind {
    /// The `bitcoind` binary: `$BITCOIND` if set, else the build cached by
    /// `scripts/build-bitcoind.sh` under `$FERRUM_CACHE` (default `~/.cache/ferrum`).
    pub fn binary() -> Result<PathBuf> {
        if let Some(path) = std::env::var_os("BITCOIND").filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            if !path.is_file() {
                bail!("BITCOIND={} is not a file", path.display());
            }
            return Ok(path);
        }
        let cache = match std::env::var_os("FERRUM_CACHE").filter(|p| !p.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                let home = std::env::var_os("HOME").ok_or_else(|| {
                    anyhow!("neither BITCOIND, FERRUM_CACHE nor HOME is set: cannot find bitcoind")
                })?;
                PathBuf::from(home).join(".cache").join("ferrum")
            }
        };
        let path = cache
            .join(format!("bitcoin-core-kernel-sys-{BUILD_VERSION}"))
            .join("bin")
            .join("bitcoind");
        if !path.is_file() {
            bail!(
                "no test bitcoind at {}: run scripts/build-bitcoind.sh (or set BITCOIND)",
                path.display()
            );
        }
        Ok(path)
    }

    /// Starts a regtest daemon on a new temporary datadir (removed on drop).
    pub fn start() -> Result<Bitcoind> {
        Self::start_with(&[])
    }

    /// [`Bitcoind::start`] with extra command-line arguments (they override the defaults).
    pub fn start_with(extra_args: &[&str]) -> Result<Bitcoind> {
        let datadir = temp_datadir()?;
        match Self::spawn(datadir.clone(), true, extra_args) {
            Ok(d) => Ok(d),
            Err(e) => {
                let _ = fs::remove_dir_all(&datadir);
                Err(e)
            }
        }
    }

    /// Starts a regtest daemon on an existing (or new) datadir, which is kept on drop: for
    /// benchmarks and the demo that reuse a generated chain.
    pub fn start_in(datadir: &Path, extra_args: &[&str]) -> Result<Bitcoind> {
        fs::create_dir_all(datadir)
            .with_context(|| format!("creating datadir {}", datadir.display()))?;
        let datadir = datadir
            .canonicalize()
            .with_context(|| format!("resolving datadir {}", datadir.display()))?;
        Self::spawn(datadir, false, extra_args)
    }

    fn spawn(datadir: PathBuf, remove_datadir: bool, extra_args: &[&str]) -> Result<Bitcoind> {
        // The port is picked by binding to port 0 and released before bitcoind binds it, so
        // another process may take it in between: retry on a new port when that happens.
        let ports = std::iter::repeat_with(free_port).take(5);
        Self::spawn_on(datadir, remove_datadir, extra_args, ports)
    }

    /// Starts bitcoind on the first of `ports` whose RPC port it can bind.
    fn spawn_on(
        datadir: PathBuf,
        remove_datadir: bool,
        extra_args: &[&str],
        ports: impl IntoIterator<Item = Result<u16>>,
    ) -> Result<Bitcoind> {
        let binary = Self::binary()?;
        // No connection reuse: bitcoind closes idle keep-alive connections after
        // -rpcservertimeout (30 s), and ureq does not retry a POST whose pooled connection
        // turns out closed. A new loopback connection per call costs ~0.1 ms.
        let agent = ureq::AgentBuilder::new()
            .max_idle_connections(0)
            .timeout_connect(Duration::from_secs(5))
            .timeout_read(RPC_TIMEOUT)
            .timeout_write(RPC_TIMEOUT)
            .build();
        let mut d = Bitcoind {
            child: None,
            binary,
            datadir,
            remove_datadir,
            rpc_port: 0,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            agent,
            next_id: AtomicU64::new(1),
        };
        let mut last_err = None;
        for port in ports {
            d.rpc_port = port?;
            match d.launch() {
                Ok(()) => return Ok(d),
                Err(e) => {
                    let taken = port_taken(&e);
                    last_err = Some(e);
                    if !taken {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("bitcoind did not start")))
    }

    /// Spawns the process on `self.datadir`/`self.rpc_port` and waits until RPC answers.
    fn launch(&mut self) -> Result<()> {
        let stderr_path = self.datadir.join("bitcoind.stderr");
        let stderr = fs::File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(DEFAULT_ARGS)
            .arg(format!("-datadir={}", self.datadir.display()))
            .arg(format!("-rpcport={}", self.rpc_port))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("waiting for bitcoind")?
            {
                self.child = None;
                let mut msg = String::new();
                if let Ok(mut f) = fs::File::open(&stderr_path) {
                    let _ = f.read_to_string(&mut msg);
                }
                bail!(
                    "bitcoind exited during startup ({status}): {}",
                    msg.trim().lines().last().unwrap_or("(no stderr)")
                );
            }
            if self.cookie_file().exists() {
                match self.rpc("getblockchaininfo", json!([])) {
                    Ok(_) => return Ok(()),
                    Err(e) if Instant::now() > deadline => {
                        self.kill();
                        return Err(e.context("bitcoind RPC did not come up in time"));
                    }
                    Err(_) => {}
                }
            } else if Instant::now() > deadline {
                self.kill();
                bail!("bitcoind did not write its cookie file in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The JSON-RPC (and REST) port on 127.0.0.1.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The `-datadir`.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// `<datadir>/regtest/.cookie`, rewritten by bitcoind at each start.
    pub fn cookie_file(&self) -> PathBuf {
        self.datadir.join("regtest").join(".cookie")
    }

    /// `<datadir>/regtest/debug.log`, for diagnosing a failed test.
    pub fn debug_log(&self) -> PathBuf {
        self.datadir.join("regtest").join("debug.log")
    }

    /// Settings for Ferrum's daemon client: cookie auth, REST auto, 30 s request timeout.
    pub fn daemon_settings(&self) -> DaemonSettings {
        DaemonSettings {
            endpoints: vec![DaemonEndpoint {
                host: "127.0.0.1".to_string(),
                port: self.rpc_port,
                auth: DaemonAuth::Cookie(self.cookie_file()),
            }],
            request_timeout: Duration::from_secs(30),
            rest: RestMode::Auto,
            block_source: BlockSourceMode::Auto,
        }
    }

    /// Keeps the datadir on drop (for post-mortems of a temporary daemon).
    pub fn keep_datadir(&mut self) {
        self.remove_datadir = false;
    }

    /// One JSON-RPC call; an RPC error becomes an `Err` carrying bitcoind's code and message.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let cookie = fs::read_to_string(self.cookie_file())
            .with_context(|| format!("reading {}", self.cookie_file().display()))?;
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(cookie.trim())
        );
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params});
        let url = format!("http://127.0.0.1:{}/", self.rpc_port);
        let response = match self
            .agent
            .post(&url)
            .set("Authorization", &auth)
            .send_json(body)
        {
            Ok(r) => r,
            // bitcoind answers RPC errors with HTTP 500 (404 for an unknown method) and a body.
            Err(ureq::Error::Status(code, r)) => {
                let body: Value = r
                    .into_json()
                    .map_err(|_| anyhow!("{method}: HTTP {code} without a JSON body"))?;
                return Err(rpc_error(method, &body)
                    .unwrap_or_else(|| anyhow!("{method}: HTTP {code}: {body}")));
            }
            Err(e) => return Err(anyhow!("{method}: {e}")),
        };
        let body: Value = response
            .into_json()
            .with_context(|| format!("{method}: reading response"))?;
        if let Some(e) = rpc_error(method, &body) {
            return Err(e);
        }
        Ok(body.get("result").cloned().unwrap_or(Value::Null))
    }

    /// Mines `n` blocks with `generatetoaddress` to [`Bitcoind::mine_script`] and returns
    /// their hashes.
    pub fn mine(&self, n: u32) -> Result<Vec<BlockHash>> {
        let result = self.rpc("generatetoaddress", json!([n, MINE_ADDRESS]))?;
        let hashes = result
            .as_array()
            .ok_or_else(|| anyhow!("generatetoaddress: not an array: {result}"))?;
        hashes
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| anyhow!("generatetoaddress: bad hash {h}"))
            })
            .collect()
    }

    /// The script [`Bitcoind::mine`] pays its coinbases to: P2WSH of `OP_TRUE`
    /// (anyone can spend it with the witness `[OP_TRUE]`).
    pub fn mine_script() -> ScriptBuf {
        let op_true = ScriptBuf::from_bytes(vec![bitcoin::opcodes::OP_TRUE.to_u8()]);
        ScriptBuf::new_p2wsh(&op_true.wscript_hash())
    }

    /// Best block hash and height.
    pub fn tip(&self) -> Result<(BlockHash, u32)> {
        let info = self.rpc("getblockchaininfo", json!([]))?;
        let hash = info["bestblockhash"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("getblockchaininfo: no bestblockhash"))?;
        let height = info["blocks"]
            .as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| anyhow!("getblockchaininfo: no blocks"))?;
        Ok((hash, height))
    }

    /// Asks bitcoind to `stop` and waits for the process to exit.
    pub fn stop(mut self) -> Result<()> {
        self.stop_and_wait()
    }

    fn stop_and_wait(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Err(e) = self.rpc("stop", json!([])) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.context("stop RPC failed; killed bitcoind"));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().context("waiting for bitcoind")? {
                if !status.success() {
                    bail!("bitcoind exited with {status} after stop");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("bitcoind did not exit within {STOP_TIMEOUT:?} of stop; killed it");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process with SIGKILL (for crash tests); the datadir stays until drop and
    /// [`Bitcoind::restart`] can start it again. Like any crash, this can lose the last blocks
    /// bitcoind had not flushed yet (`gettxoutsetinfo` before the kill forces a flush).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id, while it runs (tests pause it with SIGSTOP to slow the daemon down).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (not stopped, killed or exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the daemon again on the same datadir, port and arguments (after [`Bitcoind::kill`]
    /// or a crash); a running daemon is stopped cleanly first.
    pub fn restart(&mut self) -> Result<()> {
        if self.is_running() {
            self.stop_and_wait()?;
        }
        self.child = None;
        self.launch()
    }
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        self.kill();
        if self.remove_datadir {
            let _ = fs::remove_dir_all(&self.datadir);
        }
    }
}

/// Regtest address of [`Bitcoind::mine_script`].
const MINE_ADDRESS: &str = "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85";

fn rpc_error(method: &str, body: &Value) -> Option<anyhow::Error> {
    let error = body.get("error")?;
    if error.is_null() {
        return None;
    }
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)");
    Some(anyhow!("{method}: RPC error {code}: {message}"))
}

/// Creates a new unique directory under the system temp dir.
fn temp_datadir() -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!(
            "ferrum-bitcoind-{}-{n}-{nanos:08x}",
            std::process::id()
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!(
        "could not create a temporary datadir under {}",
        base.display()
    )
}

/// Whether bitcoind failed to start because its RPC port was taken: its last stderr line is
/// then "Unable to start HTTP server" (the bind error itself goes to debug.log).
fn port_taken(e: &anyhow::Error) -> bool {
    let msg = format!("{e:#}");
    msg.contains("bind") || msg.contains("Unable to start HTTP server")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port taken between choosing it and bitcoind binding it (another test's process took
    /// it) is retried on the next one.
    #[test]
    fn a_taken_rpc_port_is_retried_on_another() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let ports = [Ok(taken_port), free_port()];
        let d = Bitcoind::spawn_on(temp_datadir().unwrap(), true, &[], ports).unwrap();
        assert_ne!(d.rpc_port(), taken_port);
        assert!(d.rpc("getblockcount", json!([])).is_ok());
    }

    #[test]
    fn mine_address_is_p2wsh_op_true() {
        let addr =
            bitcoin::Address::from_script(&Bitcoind::mine_script(), bitcoin::Network::Regtest)
                .unwrap();
        assert_eq!(addr.to_string(), MINE_ADDRESS);
    }

    #[test]
    fn rpc_error_extracts_code_and_message() {
        let body = json!({"result": null, "error": {"code": -8, "message": "bad"}, "id": 1});
        let e = rpc_error("getblock", &body).unwrap();
        assert_eq!(e.to_string(), "getblock: RPC error -8: bad");
        assert!(rpc_error("x", &json!({"result": 1, "error": null})).is_none());
    }

    #[test]
    fn temp_datadirs_are_unique() {
        let a = temp_datadir().unwrap();
        let b = temp_datadir().unwrap();
        assert_ne!(a, b);
        fs::remove_dir_all(a).unwrap();
        fs::remove_dir_all(b).unwrap();
    }
}
