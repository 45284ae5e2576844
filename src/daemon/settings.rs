//! What the daemon client needs to know to reach bitcoind; built by `config`, read by `daemon`.

use std::path::PathBuf;
use std::time::Duration;

/// How to authenticate to one daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAuth {
    /// `user:password` from `DAEMON_URL` or the CLI.
    UserPass { user: String, password: String },
    /// bitcoind's `.cookie` file, re-read on every (re)connection because bitcoind rewrites it
    /// at each start.
    Cookie(PathBuf),
}

/// One daemon endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonEndpoint {
    pub host: String,
    pub port: u16,
    pub auth: DaemonAuth,
}

impl std::fmt::Display for DaemonEndpoint {
    /// `host:port`, never the credentials (safe for logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Whether to fetch blocks over bitcoind's binary REST interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestMode {
    /// Use REST (`/rest/block`, `/rest/spenttxouts`) when the daemon answers it, else JSON-RPC.
    Auto,
    /// JSON-RPC `getblock <hash> 0` only.
    Off,
}

/// Settings of the daemon client.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Endpoints in failover order (`DAEMON_URL` is comma-separated).
    pub endpoints: Vec<DaemonEndpoint>,
    /// Timeout of one ordinary request.
    pub request_timeout: Duration,
    /// Block source preference.
    pub rest: RestMode,
}
