//! The `ferrum` binary serving Electrum clients, and a small blocking Electrum client, for
//! integration tests (conformance with ElectrumX, protocol edge cases, real wallets).
//!
//! [`FerrumServer::start`] runs `ferrum --net regtest` (no subcommand: serve) against a test
//! bitcoind on a fresh temporary index, with `SERVICES=tcp://127.0.0.1:<free port>`, and returns
//! once that port accepts connections (Ferrum syncs and loads the mempool before it listens).
//! The process is killed when the value is dropped; its stderr goes to a file that is printed
//! when the start fails or when the value is dropped during a panic.
//!
//! [`Client`] speaks newline-framed JSON-RPC 2.0 over TCP as Electrum wallets do: requests get
//! increasing numeric ids, replies are matched by id (so pipelined requests and out-of-order
//! replies work), and notifications (messages with a `method` and no `id`) are queued for
//! [`Client::next_notification`]. Every read has a timeout so a hung server fails the test
//! instead of hanging it.
#![allow(dead_code)]

use ferrum::chaingen::Bitcoind;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to sync and open its port.
pub const START_TIMEOUT: Duration = Duration::from_secs(300);
/// Default read timeout of a [`Client`]: only there to turn a hang into a failure.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `ferrum` server, killed on drop.
pub struct FerrumServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    stderr_path: PathBuf,
    /// What it was started with, for [`FerrumServer::restart`].
    env: Vec<(String, String)>,
    rpc_port: u16,
    cookie: PathBuf,
}

impl FerrumServer {
    /// Starts `ferrum --net regtest` on a new temporary `DB_DIRECTORY`, following `d` (cookie
    /// auth), serving TCP on a free loopback port, with peer discovery off, and waits until
    /// the port accepts. `env` is added last (ElectrumX names: `MAX_SEND`, `MAX_RECV`,
    /// `DAEMON_POLL_INTERVAL_MEMPOOL`, `LOG_LEVEL`...), so it can override the defaults set
    /// here; `{port}` in a value is replaced by the TCP port.
    pub fn start(d: &Bitcoind, env: &[(&str, &str)]) -> FerrumServer {
        let mut last = String::new();
        // The free port is released before ferrum binds it; retry if someone took it.
        for _ in 0..3 {
            match Self::try_start(d, env) {
                Ok(s) => return s,
                Err(e) => last = e,
            }
            if !last.to_lowercase().contains("in use") {
                break;
            }
        }
        panic!("ferrum did not start: {last}");
    }

    /// [`FerrumServer::start`] without waiting for the port (it opens once synced): for
    /// tests that watch a replica start. [`FerrumServer::wait_ready`] waits for it.
    pub fn start_unready(d: &Bitcoind, env: &[(&str, &str)]) -> FerrumServer {
        let mut s = Self::new(d, env);
        if let Err(e) = s.launch() {
            panic!("ferrum did not start: {e}");
        }
        s
    }

    /// Waits until the port accepts (see [`FerrumServer::start_unready`]).
    pub fn wait_ready(&mut self) {
        if let Err(e) = self.wait_port() {
            panic!("ferrum did not get ready: {e}");
        }
    }

    fn new(d: &Bitcoind, env: &[(&str, &str)]) -> FerrumServer {
        let mut s = FerrumServer {
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
            port: free_port(),
            stderr_path: PathBuf::new(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            rpc_port: d.rpc_port(),
            cookie: d.cookie_file(),
        };
        s.stderr_path = s.dir.path().join("ferrum.stderr");
        s
    }

    fn try_start(d: &Bitcoind, env: &[(&str, &str)]) -> Result<FerrumServer, String> {
        let mut s = Self::new(d, env);
        s.spawn()?;
        Ok(s)
    }

    /// Starts the process on this server's directory and port (its stderr appended to the
    /// file), and waits until the port accepts.
    fn spawn(&mut self) -> Result<(), String> {
        self.launch()?;
        self.wait_port()
    }

    fn launch(&mut self) -> Result<(), String> {
        let port = self.port;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("stderr file");
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrum"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("LOG_LEVEL", "info")
            .env("DB_DIRECTORY", self.dir.path().join("db"))
            .env("DAEMON_URL", format!("127.0.0.1:{}", self.rpc_port))
            .env("SERVICES", format!("tcp://127.0.0.1:{port}"))
            // Tests contact no peer unless they ask for discovery (`env` may turn it on).
            .env("PEER_DISCOVERY", "off");
        for (k, v) in &self.env {
            // "{port}" stands for the TCP port chosen here (e.g. to add services to SERVICES).
            c.env(k, v.replace("{port}", &port.to_string()));
        }
        c.args(["--net", "regtest", "--cookie-file"])
            .arg(&self.cookie)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        self.child = Some(c.spawn().map_err(|e| format!("spawn ferrum: {e}"))?);
        Ok(())
    }

    fn wait_port(&mut self) -> Result<(), String> {
        let port = self.port;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "exited with {status}; stderr:\n{}",
                    self.stderr_tail(60)
                ));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "port {port} not open after {START_TIMEOUT:?}; stderr:\n{}",
                    self.stderr_tail(60)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server with SIGTERM (waiting for it to exit 0) and starts it again on the same
    /// directory, port and environment.
    pub fn restart(&mut self) {
        let mut child = self.child.take().expect("a running server");
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        let status = child.wait().unwrap();
        assert!(status.success(), "ferrum exited with {status}");
        if let Err(e) = self.spawn() {
            panic!("ferrum did not restart: {e}");
        }
    }

    /// Sets an environment variable for the next [`FerrumServer::restart`].
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// The directory holding its `db/`.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The Electrum TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is still running (a crash is a failure in every test).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The last `n` lines of the server's stderr.
    pub fn stderr_tail(&self, n: usize) -> String {
        let all = self.stderr();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for FerrumServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- ferrum stderr (port {}, last 200 lines) ----\n{}\n----",
                self.port,
                self.stderr_tail(200)
            );
        }
    }
}

/// A loopback port nothing is bound to, outside the range outgoing connections take theirs
/// from (see [`ferrum::chaingen::ports`]).
pub fn free_port() -> u16 {
    ferrum::chaingen::free_port().expect("a free loopback port")
}

/// `SERVICES` for a server whose ports do not matter to the test: an Electrum TCP port and
/// the admin RPC, each on a free loopback port (the defaults would collide between tests).
pub fn free_services() -> String {
    format!(
        "tcp://127.0.0.1:{},rpc://127.0.0.1:{}",
        free_port(),
        free_port()
    )
}

/// What a read from the server gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Read1 {
    /// One line (without its newline).
    Line(Vec<u8>),
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing complete arrived within the timeout.
    Timeout,
}

/// A blocking Electrum (newline-framed JSON-RPC) client; see the module docs.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u64,
    /// Replies read while waiting for another id, by `id.to_string()`.
    replies: HashMap<String, Value>,
    /// Batch replies (JSON arrays) read while waiting for something else.
    batches: VecDeque<Vec<Value>>,
    notifications: VecDeque<Value>,
    closed: bool,
}

impl Client {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        Client::from_stream(stream)
    }

    /// Connects to 127.0.0.1:`port` from the local address `local`, another loopback address
    /// such as 127.0.0.2 (Linux routes all of 127/8 to lo), to be a client from another
    /// address or subnet.
    pub fn connect_from(local: &str, port: u16) -> Client {
        let stream = try_connect_from(local, port)
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port} from {local}: {e}"));
        Client::from_stream(stream)
    }

    /// A client over an open connection.
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
            next_id: 0,
            replies: HashMap::new(),
            batches: VecDeque::new(),
            notifications: VecDeque::new(),
            closed: false,
        }
    }

    /// Connects and negotiates `proto` with `server.version`, panicking unless it is accepted.
    pub fn negotiated(port: u16, proto: &str) -> Client {
        let mut c = Client::connect(port);
        let r = c.request("server.version", json!(["ferrum-tests", proto]));
        assert_eq!(r["result"][1], json!(proto), "server.version {proto}: {r}");
        c
    }

    /// Sends one request without waiting; returns its id.
    pub fn send(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_value(&msg);
        id
    }

    /// Sends a JSON value as one line.
    pub fn send_value(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// Writes raw bytes (no newline added). A write error (server gone) is ignored: the next
    /// read reports [`Read1::Closed`].
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if self.stream.write_all(bytes).is_err() {
            self.closed = true;
        }
    }

    /// Closes the write half (the server sees EOF).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads the next line from the server, waiting at most `timeout`.
    pub fn read_line_timeout(&mut self, timeout: Duration) -> Read1 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Read1::Line(line);
            }
            if self.closed {
                return Read1::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Read1::Timeout;
            }
            self.stream
                .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
                .unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Reads the next line (default timeout); panics on close or timeout.
    pub fn read_line(&mut self) -> String {
        match self.read_line_timeout(READ_TIMEOUT) {
            Read1::Line(l) => String::from_utf8_lossy(&l).into_owned(),
            other => panic!("read_line: {other:?}"),
        }
    }

    /// Reads the next message as JSON (`None` if the connection closed or timed out);
    /// panics if a line is not JSON.
    pub fn read_message_timeout(&mut self, timeout: Duration) -> Option<Value> {
        match self.read_line_timeout(timeout) {
            Read1::Line(l) => Some(serde_json::from_slice(&l).unwrap_or_else(|e| {
                panic!(
                    "server sent a non-JSON line ({e}): {}",
                    String::from_utf8_lossy(&l)
                )
            })),
            _ => None,
        }
    }

    /// Files one incoming message: reply, batch reply or notification.
    fn file(&mut self, v: Value) {
        match &v {
            Value::Array(items) => self.batches.push_back(items.clone()),
            Value::Object(o) if o.contains_key("method") && !o.contains_key("id") => {
                self.notifications.push_back(v)
            }
            Value::Object(o) => {
                let id = o.get("id").cloned().unwrap_or(Value::Null).to_string();
                self.replies.insert(id, v);
            }
            _ => panic!("server sent neither an object nor an array: {v}"),
        }
    }

    /// Waits for the reply with `id`; `None` if the connection closed or `timeout` passed.
    pub fn wait_reply_timeout(&mut self, id: &Value, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let key = id.to_string();
        loop {
            if let Some(v) = self.replies.remove(&key) {
                return Some(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.read_message_timeout(left)?;
            self.file(v);
        }
    }

    /// Waits for the reply with `id`; panics if none comes.
    pub fn wait_reply(&mut self, id: &Value) -> Value {
        self.wait_reply_timeout(id, READ_TIMEOUT)
            .unwrap_or_else(|| panic!("no reply to id {id} (closed: {})", self.closed))
    }

    /// One request; returns the whole reply object (`result` or `error`).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.wait_reply(&id)
    }

    /// One request; `None` if the connection closed (or nothing came for `READ_TIMEOUT`).
    pub fn try_request(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.send(method, params);
        self.wait_reply_timeout(&id, READ_TIMEOUT)
    }

    /// Sends one JSON-RPC batch and returns the reply objects in the order of `calls`
    /// (matched by id; `Value::Null` for a call the server did not answer).
    pub fn batch(&mut self, calls: &[(&str, Value)]) -> Vec<Value> {
        let mut ids = Vec::new();
        let msgs: Vec<Value> = calls
            .iter()
            .map(|(m, p)| {
                self.next_id += 1;
                ids.push(json!(self.next_id));
                json!({"jsonrpc": "2.0", "id": self.next_id, "method": m, "params": p})
            })
            .collect();
        self.send_value(&Value::Array(msgs));
        let items = self
            .next_batch(READ_TIMEOUT)
            .expect("no batch reply (connection closed or timed out)");
        let by_id: HashMap<String, Value> = items
            .into_iter()
            .map(|v| (v["id"].to_string(), v))
            .collect();
        ids.iter()
            .map(|id| by_id.get(&id.to_string()).cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// The next batch reply (a JSON array), waiting at most `timeout`.
    pub fn next_batch(&mut self, timeout: Duration) -> Option<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(b) = self.batches.pop_front() {
                return Some(b);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.read_message_timeout(left)?;
            self.file(v);
        }
    }

    /// The next notification (`{"method", "params"}` without an id), waiting at most `timeout`.
    pub fn next_notification(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = self.notifications.pop_front() {
                return Some(n);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.read_message_timeout(left)?;
            self.file(v);
        }
    }

    /// Whether the server closes the connection within `timeout` (anything it sends first is
    /// filed as usual).
    pub fn closes_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_line_timeout(left) {
                Read1::Closed => return true,
                Read1::Timeout => return false,
                Read1::Line(l) => {
                    if let Ok(v) = serde_json::from_slice(&l) {
                        self.file(v);
                    }
                }
            }
        }
    }
}

/// A TCP connection to 127.0.0.1:`port` from the address `local` (port chosen by the system).
pub fn try_connect_from(local: &str, port: u16) -> std::io::Result<TcpStream> {
    let local: std::net::IpAddr = local.parse().expect("local address");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&std::net::SocketAddr::new(local, 0).into())?;
    socket.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    Ok(socket.into())
}

/// Block hash (display hex) of an 80-byte header given as hex.
pub fn header_hash(header_hex: &str) -> String {
    let raw = ferrum::types::hex_to_bytes(header_hex).expect("header hex");
    let h: bitcoin::block::Header = bitcoin::consensus::deserialize(&raw).expect("header");
    h.block_hash().to_string()
}

/// Polls `blockchain.headers.subscribe` until the server at `port` reports the tip
/// `height`/`hash` (panics after `START_TIMEOUT`, printing the last tip seen).
pub fn wait_for_height(port: u16, height: u64, hash: &str) {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut client = Client::negotiated(port, "1.4");
    loop {
        let r = client.request("blockchain.headers.subscribe", json!([]));
        let res = &r["result"];
        if res["height"].as_u64() == Some(height)
            && res["hex"].as_str().map(header_hash).as_deref() == Some(hash)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server never reported tip {height} {hash}; last: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Fast polling, and ElectrumX's session cost throttling off (COST_SOFT_LIMIT and
/// COST_HARD_LIMIT 0, as for the fixture): these tests send many errors on purpose, and
/// aiorpcx would otherwise close the session for "excessive resource usage" (-101).
pub fn base_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DAEMON_POLL_INTERVAL_BLOCKS", "200"),
        ("DAEMON_POLL_INTERVAL_MEMPOOL", "200"),
        ("COST_SOFT_LIMIT", "0"),
        ("COST_HARD_LIMIT", "0"),
    ]
}

/// Expectations of one test, checked without stopping and reported together by
/// [`Checks::finish`], so that one run shows every failure.
#[derive(Default)]
pub struct Checks {
    /// The failed ones, with what was got.
    pub failed: Vec<String>,
    /// How many expectations were checked.
    pub count: usize,
}

impl Checks {
    /// Records one expectation; `got` is shown if it failed.
    pub fn check(&mut self, what: &str, ok: bool, got: impl std::fmt::Display) {
        self.count += 1;
        if !ok {
            self.failed.push(format!("{what}\n    got: {got}"));
        }
    }

    /// The reply is an error with `code` (and the request's id).
    pub fn error(&mut self, what: &str, r: &Value, code: i64) {
        self.check(
            &format!("{what}: error {code}"),
            r["error"]["code"] == json!(code),
            r,
        );
    }

    /// The reply is a result equal to `want`.
    pub fn result(&mut self, what: &str, r: &Value, want: &Value) {
        self.check(
            &format!("{what}: result {want}"),
            r.get("result") == Some(want),
            r,
        );
    }

    /// Panics listing every failed expectation, if any.
    pub fn finish(self) {
        assert!(
            self.failed.is_empty(),
            "{} of {} expectations failed:\n{}",
            self.failed.len(),
            self.count,
            self.failed.join("\n")
        );
        eprintln!("all {} expectations met", self.count);
    }
}

/// `GET path` on 127.0.0.1:`port`: (status line, body).
pub fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

/// The value of the sample `name` (with its labels, as exported), if present.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// One request to the admin RPC on 127.0.0.1:`port`: the whole reply (`result` or `error`).
pub fn admin_request(port: u16, method: &str, params: Value) -> std::io::Result<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    let req = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    s.write_all(format!("{req}\n").as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}
