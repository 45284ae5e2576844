//! The admin RPC service: newline-framed JSON-RPC 2.0 over TCP, one request per line (batches
//! too), each command run on a blocking thread. Loopback only unless the operator allows
//! otherwise ([`check_addresses`]).

use super::{Admin, AdminError, commands};
use crate::config::Service;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::net::ToSocketAddrs;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::task::JoinHandle;

/// Longest request line accepted.
const MAX_LINE: u64 = 1_000_000;

/// Refuses an `rpc://` service that resolves to a non-loopback address unless `allow_remote`
/// (`--admin-allow-remote`): the admin RPC has no authentication.
pub fn check_addresses(services: &[Service], allow_remote: bool) -> Result<()> {
    for s in services {
        let addrs: Vec<_> = s
            .bind_address()
            .to_socket_addrs()
            .with_context(|| format!("SERVICES: {s}: cannot resolve the host"))?
            .collect();
        let remote = addrs.iter().any(|a| !a.ip().is_loopback()) || addrs.is_empty();
        if remote && !allow_remote {
            bail!(
                "SERVICES: {s}: the admin RPC has no authentication and listens on loopback \
                 only; use rpc://127.0.0.1:{port} (or rpc://[::1]:{port}), or set \
                 FERRUM_ADMIN_ALLOW_REMOTE=true (--admin-allow-remote) to expose it",
                port = s.port
            );
        }
        if remote {
            tracing::warn!("{s}: the admin RPC listens on a non-loopback address");
        }
    }
    Ok(())
}

/// Binds every `rpc://` service and serves it until the returned tasks are aborted.
pub async fn listen(services: &[Service], admin: Arc<Admin>) -> Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for s in services {
        let addr = s.bind_address();
        let l = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {s} ({addr})"))?;
        tracing::info!("admin RPC listening on {s}");
        tasks.push(tokio::spawn(accept_loop(l, admin.clone())));
    }
    Ok(tasks)
}

async fn accept_loop(listener: tokio::net::TcpListener, admin: Arc<Admin>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, admin.clone()));
            }
            Err(e) => {
                tracing::warn!("admin RPC: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: tokio::net::TcpStream, admin: Arc<Admin>) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    loop {
        let mut line = Vec::new();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') && line.len() as u64 >= MAX_LINE {
            let _ = w
                .write_all(&reply_line(error(Value::Null, -32600, "request too long")))
                .await;
            return;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let reply = match serde_json::from_slice::<Value>(&line) {
            Err(_) => Some(error(Value::Null, -32700, "invalid JSON")),
            Ok(Value::Array(items)) if !items.is_empty() => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(request(&admin, item).await);
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            Ok(v) => request(&admin, v).await,
        };
        if let Some(reply) = reply
            && w.write_all(&reply_line(reply)).await.is_err()
        {
            return;
        }
    }
}

fn reply_line(v: Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(&v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}

/// Answers one request object; None for a notification.
async fn request(admin: &Arc<Admin>, req: Value) -> Option<Value> {
    let id = req.get("id").cloned();
    let Some(method) = req
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Some(error(id.unwrap_or(Value::Null), -32600, "invalid request"));
    };
    let params = req.get("params").cloned().unwrap_or(Value::Array(vec![]));
    if !matches!(params, Value::Array(_) | Value::Object(_)) {
        return Some(error(id.unwrap_or(Value::Null), -32602, "invalid params"));
    }
    let a = admin.clone();
    let m = method.clone();
    let result = tokio::task::spawn_blocking(move || commands::call(&a, &m, &params))
        .await
        .unwrap_or_else(|e| {
            Err(AdminError {
                code: -32603,
                message: format!("internal error: {e}"),
            })
        });
    let id = id?;
    Some(match result {
        Ok(v) => json!({"jsonrpc": "2.0", "result": v, "id": id}),
        Err(e) => {
            tracing::info!("admin RPC {method}: {}", e.message);
            error(id, e.code, &e.message)
        }
    })
}
