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

/// Where the outputs each block spends come from (`--block-source`, `FERRUM_BLOCK_SOURCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSourceMode {
    /// The fastest the daemon offers: REST `spenttxouts`, else `getblock` verbosity 3, else
    /// raw blocks with spent outputs resolved from Ferrum's own index.
    Auto,
    /// Binary REST `/rest/block` + `/rest/spenttxouts` (Bitcoin Core 30+, `-rest`), or refuse.
    Rest,
    /// JSON-RPC `getblock <hash> 0` + the `prevout`s of `getblock <hash> 3` (Core 23+), or refuse.
    Rpc,
    /// Raw blocks only (REST `/rest/block` when on, else `getblock <hash> 0`); Ferrum resolves
    /// what each input spends from its own index. Works with any daemon.
    Raw,
}

impl BlockSourceMode {
    pub fn name(self) -> &'static str {
        match self {
            BlockSourceMode::Auto => "auto",
            BlockSourceMode::Rest => "rest",
            BlockSourceMode::Rpc => "rpc",
            BlockSourceMode::Raw => "raw",
        }
    }
}

/// Settings of the daemon client.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Endpoints in failover order (`DAEMON_URL` is comma-separated).
    pub endpoints: Vec<DaemonEndpoint>,
    /// Timeout of one ordinary request.
    pub request_timeout: Duration,
    /// Whether REST may be used at all.
    pub rest: RestMode,
    /// Where spent outputs come from.
    pub block_source: BlockSourceMode,
}
