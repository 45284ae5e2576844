//! `ferrum rpc <command> [args]`: sends one request to the admin RPC and prints the result as
//! `electrumx_rpc` does: the tables of `sessions`, `groups` and `peers`, the lines of `query`,
//! pretty-printed JSON (sorted keys) for everything else.

use super::text;
use crate::config::{Config, ServiceProtocol};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `ferrum rpc` arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RpcArgs {
    /// Admin RPC port on the rpc:// host (default: the port of the rpc:// entry of SERVICES)
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Give up after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: RpcCommand,
}

/// The admin commands (ElectrumX's names).
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum RpcCommand {
    /// Print a summary of server state
    Getinfo,
    /// Print current session groups
    Groups,
    /// Print information about peer servers for the same coin
    Peers,
    /// Print information about client sessions
    Sessions,
    /// Shut down the server cleanly
    Stop,
    /// Disconnect sessions (ids, group names, or "all")
    Disconnect {
        #[arg(required = true)]
        session_ids: Vec<String>,
    },
    /// Toggle logging of sessions (ids, group names, "all", "none" or "new")
    Log {
        #[arg(required = true)]
        session_ids: Vec<String>,
    },
    /// Add a peer to the peers list, e.g. "a.domain.name s995 t"
    #[command(name = "add_peer", alias = "add-peer")]
    AddPeer { real_name: String },
    /// Switch to the first daemon URL (Ferrum cannot change the list while running)
    #[command(name = "daemon_url", alias = "daemon-url")]
    DaemonUrl { daemon_url: Option<String> },
    /// Inspect a connected client session (see the ids of "sessions")
    #[command(name = "inspect_session", alias = "inspect-session")]
    InspectSession { session_id: u64 },
    /// Query the history and UTXOs of addresses, script hashes or scripts (hex)
    Query {
        /// UTXO and history output limit
        #[arg(short = 'l', long, default_value_t = 1000)]
        limit: u64,
        #[arg(required = true)]
        items: Vec<String>,
    },
    /// Stop accepting connections for good (open sessions go on; GET /health turns 503),
    /// before `stop` for an upgrade
    Drain,
    /// Copy the live index into DIR (new or empty), consistently, while serving
    Snapshot { dir: std::path::PathBuf },
    /// Simulate a chain reorganization: roll back COUNT blocks and index them again
    Reorg {
        #[arg(default_value_t = 3)]
        count: u32,
    },
}

impl RpcCommand {
    /// The method and its named parameters, as `electrumx_rpc` sends them.
    pub fn request(&self) -> (&'static str, Value) {
        match self {
            RpcCommand::Getinfo => ("getinfo", json!({})),
            RpcCommand::Groups => ("groups", json!({})),
            RpcCommand::Peers => ("peers", json!({})),
            RpcCommand::Sessions => ("sessions", json!({})),
            RpcCommand::Stop => ("stop", json!({})),
            RpcCommand::Disconnect { session_ids } => {
                ("disconnect", json!({"session_ids": session_ids}))
            }
            RpcCommand::Log { session_ids } => ("log", json!({"session_ids": session_ids})),
            RpcCommand::AddPeer { real_name } => ("add_peer", json!({"real_name": real_name})),
            RpcCommand::DaemonUrl { daemon_url } => (
                "daemon_url",
                json!({"daemon_url": daemon_url.clone().unwrap_or_default()}),
            ),
            RpcCommand::InspectSession { session_id } => {
                ("inspect_session", json!({"session_id": session_id}))
            }
            RpcCommand::Query { limit, items } => {
                ("query", json!({"items": items, "limit": limit}))
            }
            RpcCommand::Reorg { count } => ("reorg", json!({"count": count})),
            RpcCommand::Drain => ("drain", json!({})),
            RpcCommand::Snapshot { dir } => {
                // The server's working directory is not ours.
                let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                ("snapshot", json!({"dir": dir.to_string_lossy()}))
            }
        }
    }
}

/// Where the admin RPC listens: the rpc:// entry of SERVICES (an unspecified host means
/// loopback), with `port` replacing its port.
pub fn address(config: &Config, port: Option<u16>) -> Result<(String, u16)> {
    let entry = config
        .services
        .iter()
        .find(|s| s.protocol == ServiceProtocol::Rpc);
    let host = match entry.map(|s| s.host.as_str()) {
        None | Some("" | "0.0.0.0") => "127.0.0.1".to_string(),
        Some("::") => "::1".to_string(),
        Some(h) => h.to_string(),
    };
    match (port, entry) {
        (Some(p), _) => Ok((host, p)),
        (None, Some(s)) => Ok((host, s.port)),
        (None, None) => bail!(
            "SERVICES has no rpc:// entry, so Ferrum runs no admin RPC; add one (e.g. \
             rpc://127.0.0.1:8000) or give --port"
        ),
    }
}

/// Sends the request and prints the result. An error reply or a failed connection is an error.
pub fn run(config: &Config, args: &RpcArgs) -> Result<()> {
    let (host, port) = address(config, args.port)?;
    let (method, params) = args.command.request();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let result = send(&host, port, method, params, timeout)?;
    for line in render(method, &result) {
        println!("{line}");
    }
    Ok(())
}

/// One request and its result (an error reply becomes an error).
pub fn send(
    host: &str,
    port: u16,
    method: &str,
    params: Value,
    timeout: Duration,
) -> Result<Value> {
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let cannot = || {
        format!(
            "cannot connect to the admin RPC at {shown} - is Ferrum not running, or is that \
             the wrong address (the rpc:// entry of SERVICES, or --port)?"
        )
    };
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(cannot)?
        .next()
        .ok_or_else(|| anyhow!(cannot()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(cannot)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(
        &json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 0}),
    )?;
    line.push(b'\n');
    stream.write_all(&line).context("sending the request")?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .with_context(|| format!("no reply from {shown} within {}s", timeout.as_secs()))?;
    let reply: Value = serde_json::from_str(&reply)
        .with_context(|| format!("the reply from {shown} is not JSON (connection closed?)"))?;
    if let Some(e) = reply.get("error") {
        let message = e["message"].as_str().unwrap_or("unknown error");
        bail!("error making request: {message} (code {})", e["code"]);
    }
    Ok(reply.get("result").cloned().unwrap_or(Value::Null))
}

/// The lines `electrumx_rpc` prints for a result.
pub fn render(method: &str, result: &Value) -> Vec<String> {
    match method {
        "query" => result
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_string))
            .collect(),
        "sessions" => text::sessions_lines(result),
        "groups" => text::groups_lines(result),
        "peers" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            text::peers_lines(result, now)
        }
        // serde_json's maps are sorted (no preserve_order), as json.dumps(sort_keys=True).
        _ => vec![pretty(result)],
    }
}

/// `json.dumps(result, indent=4, sort_keys=True)`.
fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    match serde::Serialize::serialize(v, &mut ser) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(_) => v.to_string(),
    }
}
