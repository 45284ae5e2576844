//! HTTP transport to bitcoind: keep-alive connection pools, Basic/cookie authentication, the
//! retry loop with exponential backoff, and endpoint failover. Everything that goes over the
//! wire (JSON-RPC and REST) passes through [`Transport::execute`].

use super::error::DaemonError;
use super::failover::{Failover, FailureOutcome, RetryPolicy};
use super::jsonrpc::{self, ReplyContext, Verdict};
use super::rest;
use super::settings::{DaemonAuth, DaemonEndpoint, DaemonSettings};
use base64::Engine as _;
use serde_json::Value;
use std::io::Read as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// Largest body accepted (a 4 MB block is 8 MB as hex; undo data is smaller).
const MAX_BODY: u64 = 256 << 20;
/// Authentication failures (HTTP 401) tolerated per call with cookie auth, re-reading the
/// cookie each time, before giving up.
const MAX_AUTH_RETRIES: u32 = 3;
/// Requests per JSON-RPC batch (bigger batches are split).
pub(crate) const MAX_BATCH: usize = 2000;

/// One daemon endpoint and its cached credentials.
struct Endpoint {
    settings: DaemonEndpoint,
    /// `host:port`, never credentials.
    name: String,
    base_url: String,
    /// The `Authorization` header value; for cookie auth, `None` until (re)read.
    auth: Mutex<Option<String>>,
}

/// Which connection pool a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// Ordinary requests, shared by all threads.
    Normal,
    /// Long polls (`waitfornewblock`), on their own connections so they never hold up others.
    LongPoll,
}

/// One HTTP request.
pub(crate) enum HttpRequest<'a> {
    /// JSON-RPC POST of a serialized body.
    Rpc(Vec<u8>),
    /// REST GET of a path (no credentials needed).
    Get(&'a str),
}

/// Per-call options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallOpts {
    pub channel: Channel,
    /// Timeout of one HTTP exchange.
    pub timeout: Duration,
    /// How long to keep retrying while bitcoind is warming up (RPC -28, REST 503); the normal
    /// retry budget when `None`.
    pub warmup_budget: Option<Duration>,
}

/// Why one attempt failed before any HTTP answer.
enum SendError {
    /// Refused, reset, timed out, DNS, broken body: retried, and counts toward failover.
    Connection(String),
    /// The cookie file could not be read: retried like a connection failure.
    Cookie { path: String, reason: String },
    /// Not retried.
    Fatal(DaemonError),
}

/// `http://host:port` of an endpoint (IPv6 hosts in brackets).
pub(crate) fn base_url(endpoint: &DaemonEndpoint) -> String {
    format!("http://{endpoint}")
}

/// `Basic ...` from `user:password`.
pub(crate) fn basic_auth(user_colon_password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(user_colon_password);
    format!("Basic {b64}")
}

/// The `Authorization` header value from the content of a `.cookie` file.
pub(crate) fn cookie_auth(content: &str) -> Result<String, String> {
    let content = content.trim_end_matches(['\r', '\n', ' ']);
    if !content.contains(':') {
        return Err("it does not hold user:password".into());
    }
    Ok(basic_auth(content))
}

/// A short description of a transport failure, e.g. `connection refused`.
pub(crate) fn describe_io(kind: std::io::ErrorKind, timeout: Duration) -> Option<String> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        K::ConnectionAborted => "connection aborted".into(),
        K::BrokenPipe => "connection closed".into(),
        K::UnexpectedEof => "connection closed before the reply ended".into(),
        K::TimedOut | K::WouldBlock => format!("no answer within {}s", timeout.as_secs_f32()),
        K::NotConnected => "not connected".into(),
        K::AddrNotAvailable => "address not available".into(),
        _ => return None,
    })
}

fn classify_transport(t: &ureq::Transport, timeout: Duration) -> SendError {
    use ureq::ErrorKind as K;
    let io_reason = std::error::Error::source(t)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(|e| describe_io(e.kind(), timeout).or_else(|| Some(e.to_string())));
    let reason = io_reason
        .or_else(|| t.message().map(str::to_string))
        .unwrap_or_else(|| t.kind().to_string());
    match t.kind() {
        K::ConnectionFailed | K::Dns | K::Io => SendError::Connection(reason),
        K::BadStatus | K::BadHeader => SendError::Fatal(DaemonError::bad_reply(
            "an HTTP request",
            format!("not an HTTP answer ({reason})"),
        )),
        _ => SendError::Fatal(DaemonError::Config(format!(
            "cannot make the HTTP request: {reason}"
        ))),
    }
}

fn read_body(response: ureq::Response, timeout: Duration) -> Result<(u16, Vec<u8>), SendError> {
    let status = response.status();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            SendError::Connection(describe_io(e.kind(), timeout).unwrap_or_else(|| e.to_string()))
        })?;
    if body.len() as u64 > MAX_BODY {
        return Err(SendError::Fatal(DaemonError::bad_reply(
            "an HTTP request",
            format!("reply larger than {} MiB", MAX_BODY >> 20),
        )));
    }
    Ok((status, body))
}

/// The HTTP client shared by all threads of one [`super::Daemon`].
pub(crate) struct Transport {
    endpoints: Vec<Endpoint>,
    agent: ureq::Agent,
    longpoll_agent: ureq::Agent,
    pub(crate) request_timeout: Duration,
    policy: RetryPolicy,
    failover: Mutex<Failover>,
    next_id: AtomicU64,
}

impl Transport {
    pub(crate) fn new(settings: &DaemonSettings, policy: RetryPolicy) -> Result<Self, DaemonError> {
        if settings.endpoints.is_empty() {
            return Err(DaemonError::Config(
                "no daemon endpoint; set DAEMON_URL".into(),
            ));
        }
        let endpoints = settings
            .endpoints
            .iter()
            .map(|e| Endpoint {
                settings: e.clone(),
                name: e.to_string(),
                base_url: base_url(e),
                auth: Mutex::new(match &e.auth {
                    DaemonAuth::UserPass { user, password } => {
                        Some(basic_auth(&format!("{user}:{password}")))
                    }
                    DaemonAuth::Cookie(_) => None,
                }),
            })
            .collect();
        let agent = |idle: usize| {
            ureq::AgentBuilder::new()
                .timeout_connect(settings.request_timeout.min(Duration::from_secs(10)))
                .max_idle_connections(idle * settings.endpoints.len())
                .max_idle_connections_per_host(idle)
                .user_agent(concat!("ferrum/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Transport {
            endpoints,
            agent: agent(32),
            longpoll_agent: agent(4),
            request_timeout: settings.request_timeout,
            policy,
            failover: Mutex::new(Failover::new(
                settings.endpoints.len(),
                policy.probe_interval,
            )),
            next_id: AtomicU64::new(1),
        })
    }

    fn failover(&self) -> std::sync::MutexGuard<'_, Failover> {
        self.failover
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `host:port` of the endpoint in use.
    pub(crate) fn current_endpoint(&self) -> String {
        let i = self.failover().current();
        self.endpoints
            .get(i)
            .map(|e| e.name.clone())
            .unwrap_or_default()
    }

    /// `host:port` of every endpoint, in failover order.
    pub(crate) fn endpoint_names(&self) -> Vec<String> {
        self.endpoints.iter().map(|e| e.name.clone()).collect()
    }

    /// Switches back to the first endpoint.
    pub(crate) fn use_first_endpoint(&self) {
        self.failover().reset();
    }

    fn endpoint_name(&self, i: usize) -> &str {
        self.endpoints
            .get(i)
            .map(|e| e.name.as_str())
            .unwrap_or("?")
    }

    /// The `Authorization` header for an endpoint, reading the cookie file when needed.
    fn auth_header(&self, ep: &Endpoint) -> Result<String, SendError> {
        let mut cached = ep.auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = cached.as_ref() {
            return Ok(h.clone());
        }
        let DaemonAuth::Cookie(path) = &ep.settings.auth else {
            return Err(SendError::Fatal(DaemonError::Config(
                "missing credentials".into(),
            )));
        };
        let shown = path.display().to_string();
        let content = std::fs::read_to_string(path).map_err(|e| SendError::Cookie {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let header = cookie_auth(&content).map_err(|reason| SendError::Cookie {
            path: shown,
            reason,
        })?;
        debug!("read the cookie file {}", path.display());
        *cached = Some(header.clone());
        Ok(header)
    }

    /// Forgets cached cookie credentials (after a 401). Returns whether the endpoint uses a
    /// cookie (and so whether retrying can help).
    fn forget_cookie(&self, ep: &Endpoint) -> bool {
        if matches!(ep.settings.auth, DaemonAuth::Cookie(_)) {
            *ep.auth.lock().unwrap_or_else(|p| p.into_inner()) = None;
            true
        } else {
            false
        }
    }

    fn send_once(
        &self,
        ep: &Endpoint,
        req: &HttpRequest,
        opts: &CallOpts,
    ) -> Result<(u16, Vec<u8>), SendError> {
        let agent = match opts.channel {
            Channel::Normal => &self.agent,
            Channel::LongPoll => &self.longpoll_agent,
        };
        let result = match req {
            HttpRequest::Rpc(body) => {
                let auth = self.auth_header(ep)?;
                agent
                    .post(&format!("{}/", ep.base_url))
                    .timeout(opts.timeout)
                    .set("Authorization", &auth)
                    .set("Content-Type", "application/json")
                    .send_bytes(body)
            }
            HttpRequest::Get(path) => agent
                .get(&format!("{}{path}", ep.base_url))
                .timeout(opts.timeout)
                .call(),
        };
        match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => {
                read_body(response, opts.timeout)
            }
            Err(ureq::Error::Transport(t)) => Err(classify_transport(&t, opts.timeout)),
        }
    }

    /// Sends `req` until `interpret` gives a final verdict, retrying with backoff on connection
    /// failures and transient answers for up to the retry budget, and failing over between
    /// endpoints on repeated connection failures.
    pub(crate) fn execute<T>(
        &self,
        req: &HttpRequest,
        request: &str,
        opts: CallOpts,
        interpret: impl Fn(u16, Vec<u8>, ReplyContext) -> Verdict<T>,
    ) -> Result<T, DaemonError> {
        let start = Instant::now();
        let mut retries = 0u32;
        let mut auth_failures = 0u32;
        // A switch of endpoint (or a failed probe) is retried at once, but never twice in a
        // row, so the backoff and the budget always apply.
        let mut was_immediate = false;
        loop {
            let idx = self.failover().pick(Instant::now());
            let Some(ep) = self.endpoints.get(idx) else {
                return Err(DaemonError::Config("endpoint index out of range".into()));
            };
            let (last, warming, immediate) = match self.send_once(ep, req, &opts) {
                Ok((status, body)) => {
                    if let Some(previous) = self.failover().on_success(idx) {
                        info!(
                            "bitcoind at {} (the preferred endpoint) is reachable again; recovered \
                             from {}",
                            ep.name,
                            self.endpoint_name(previous)
                        );
                    }
                    if status == 401 && matches!(req, HttpRequest::Rpc(_)) {
                        auth_failures += 1;
                        let auth_err = DaemonError::Auth {
                            endpoint: ep.name.clone(),
                        };
                        if !self.forget_cookie(ep) || auth_failures > MAX_AUTH_RETRIES {
                            return Err(auth_err);
                        }
                        debug!(
                            "bitcoind at {} answered 401; re-reading the cookie",
                            ep.name
                        );
                        (auth_err, false, auth_failures == 1)
                    } else {
                        let ctx = ReplyContext {
                            endpoint: &ep.name,
                            request,
                        };
                        match interpret(status, body, ctx) {
                            Verdict::Done(r) => return r,
                            Verdict::Retry(reason) => {
                                let warming = reason.starts_with("warming up")
                                    || reason.contains("Service temporarily unavailable");
                                (
                                    DaemonError::Unavailable {
                                        endpoint: ep.name.clone(),
                                        reason,
                                    },
                                    warming,
                                    false,
                                )
                            }
                        }
                    }
                }
                Err(SendError::Fatal(e)) => return Err(e),
                Err(failure) => {
                    let err = match failure {
                        SendError::Cookie { path, reason } => DaemonError::Cookie { path, reason },
                        SendError::Connection(reason) => DaemonError::Connect {
                            endpoint: ep.name.clone(),
                            reason,
                        },
                        SendError::Fatal(e) => e,
                    };
                    let outcome = self.failover().on_connection_failure(idx, Instant::now());
                    match outcome {
                        FailureOutcome::Switched { from, to } => {
                            warn!(
                                "{err}; switching from bitcoind at {} to {}",
                                self.endpoint_name(from),
                                self.endpoint_name(to)
                            );
                            (err, false, true)
                        }
                        FailureOutcome::ProbeFailed => {
                            debug!("preferred bitcoind endpoint still down: {err}");
                            (err, false, true)
                        }
                        FailureOutcome::Counted => (err, false, false),
                    }
                }
            };
            if immediate && !was_immediate {
                was_immediate = true;
                continue;
            }
            was_immediate = false;
            let budget = match (warming, opts.warmup_budget) {
                (true, Some(b)) => b,
                _ => self.policy.budget,
            };
            let delay = self.policy.delay(retries);
            if start.elapsed() + delay > budget {
                warn!(
                    "{request}: giving up after {:.1}s of retries: {last}",
                    start.elapsed().as_secs_f32()
                );
                return Err(last);
            }
            if warming && retries % 10 == 3 {
                info!("waiting for bitcoind to finish starting: {last}");
            } else if retries == 2 {
                warn!(
                    "{request}: {last}; retrying for up to {}s",
                    budget.as_secs()
                );
            } else {
                debug!("{request}: {last}; retry in {delay:?}");
            }
            retries += 1;
            std::thread::sleep(delay);
        }
    }

    /// Default options: the normal channel, the configured timeout, no extra warmup wait.
    pub(crate) fn opts(&self) -> CallOpts {
        CallOpts {
            channel: Channel::Normal,
            timeout: self.request_timeout,
            warmup_budget: None,
        }
    }

    fn next_ids(&self, n: usize) -> u64 {
        self.next_id.fetch_add(n.max(1) as u64, Ordering::Relaxed)
    }

    /// One JSON-RPC call.
    pub(crate) fn call(
        &self,
        method: &str,
        params: &Value,
        opts: CallOpts,
    ) -> Result<Value, DaemonError> {
        let body = jsonrpc::request_body(self.next_ids(1), method, params);
        let body = serde_json::to_vec(&body)
            .map_err(|e| DaemonError::Config(format!("cannot encode {method}: {e}")))?;
        self.execute(
            &HttpRequest::Rpc(body),
            method,
            opts,
            |status, body, ctx| jsonrpc::parse_single(status, &body, ctx),
        )
    }

    /// JSON-RPC batches of the same method (split into requests of at most [`MAX_BATCH`]).
    pub(crate) fn batch(
        &self,
        method: &str,
        params: &[Value],
    ) -> Result<Vec<Result<Value, DaemonError>>, DaemonError> {
        let mut out = Vec::with_capacity(params.len());
        for chunk in params.chunks(MAX_BATCH) {
            let first_id = self.next_ids(chunk.len());
            let body = jsonrpc::batch_body(first_id, method, chunk);
            let body = serde_json::to_vec(&body)
                .map_err(|e| DaemonError::Config(format!("cannot encode {method}: {e}")))?;
            let request = format!("a batch of {} {method}", chunk.len());
            let n = chunk.len();
            out.extend(self.execute(
                &HttpRequest::Rpc(body),
                &request,
                self.opts(),
                |status, body, ctx| jsonrpc::parse_batch(status, &body, ctx, first_id, n),
            )?);
        }
        Ok(out)
    }

    /// A REST GET: `Some(body)` on 200, `None` on 404.
    pub(crate) fn rest_get(
        &self,
        path: &str,
        opts: CallOpts,
    ) -> Result<Option<Vec<u8>>, DaemonError> {
        let request = format!("GET {path}");
        self.execute(&HttpRequest::Get(path), &request, opts, rest::verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn endpoint(host: &str, port: u16) -> DaemonEndpoint {
        DaemonEndpoint {
            host: host.into(),
            port,
            auth: DaemonAuth::Cookie(PathBuf::from("/x")),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            base_url(&endpoint("127.0.0.1", 8332)),
            "http://127.0.0.1:8332"
        );
        assert_eq!(base_url(&endpoint("::1", 18443)), "http://[::1]:18443");
        assert_eq!(base_url(&endpoint("node.lan", 1)), "http://node.lan:1");
    }

    #[test]
    fn auth_headers() {
        assert_eq!(basic_auth("user:pass"), "Basic dXNlcjpwYXNz");
        assert_eq!(
            cookie_auth("__cookie__:abc\n"),
            Ok(basic_auth("__cookie__:abc"))
        );
        assert!(cookie_auth("garbage").is_err());
    }

    #[test]
    fn io_descriptions() {
        use std::io::ErrorKind as K;
        let t = Duration::from_secs(30);
        assert_eq!(
            describe_io(K::ConnectionRefused, t).as_deref(),
            Some("connection refused")
        );
        assert_eq!(
            describe_io(K::TimedOut, t).as_deref(),
            Some("no answer within 30s")
        );
        assert_eq!(describe_io(K::Other, t), None);
    }

    fn settings(endpoints: Vec<DaemonEndpoint>) -> DaemonSettings {
        DaemonSettings {
            endpoints,
            request_timeout: Duration::from_secs(5),
            rest: super::super::settings::RestMode::Auto,
            block_source: super::super::settings::BlockSourceMode::Auto,
        }
    }

    #[test]
    fn no_endpoints_is_a_config_error() {
        let r = Transport::new(&settings(vec![]), RetryPolicy::DEFAULT);
        assert!(matches!(r, Err(DaemonError::Config(_))));
    }

    #[test]
    fn missing_cookie_file_is_reported_after_the_budget() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut ep = endpoint("127.0.0.1", 9);
        ep.auth = DaemonAuth::Cookie(dir.path().join("missing.cookie"));
        let policy = RetryPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            budget: Duration::from_millis(20),
            probe_interval: Duration::ZERO,
        };
        let t = Transport::new(&settings(vec![ep]), policy).unwrap_or_else(|e| panic!("{e}"));
        let r = t.call("getblockcount", &Value::Array(vec![]), t.opts());
        assert!(
            matches!(&r, Err(DaemonError::Cookie { path, .. }) if path.contains("missing.cookie")),
            "{r:?}"
        );
    }

    #[test]
    fn closed_port_is_a_connect_error_and_fails_over() {
        // Two closed ports: calls fail with Connect after the budget, rotating between them.
        let closed = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let mut a = endpoint("127.0.0.1", closed());
        let mut b = endpoint("127.0.0.1", closed());
        a.auth = DaemonAuth::UserPass {
            user: "u".into(),
            password: "p".into(),
        };
        b.auth = a.auth.clone();
        let policy = RetryPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
            budget: Duration::from_millis(200),
            probe_interval: Duration::ZERO,
        };
        let t =
            Transport::new(&settings(vec![a, b.clone()]), policy).unwrap_or_else(|e| panic!("{e}"));
        let r = t.call("getblockcount", &Value::Array(vec![]), t.opts());
        assert!(
            matches!(&r, Err(DaemonError::Connect { reason, .. }) if reason == "connection refused"),
            "{r:?}"
        );
        let r = t.rest_get("/rest/chaininfo.json", t.opts());
        assert!(matches!(r, Err(DaemonError::Connect { .. })), "{r:?}");
        assert!(!t.current_endpoint().is_empty());
    }
}
