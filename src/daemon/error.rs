//! Errors of the daemon client: what went wrong talking to bitcoind, and what the operator
//! should do about it.

/// Core's `RPC_MISC_ERROR`: also what old versions answer when given too many parameters.
pub const RPC_MISC_ERROR: i32 = -1;
/// Core's `RPC_INVALID_ADDRESS_OR_KEY`: e.g. "Block not found".
pub const RPC_INVALID_ADDRESS_OR_KEY: i32 = -5;
/// Core's `RPC_INVALID_PARAMETER`: e.g. "Block height out of range".
pub const RPC_INVALID_PARAMETER: i32 = -8;
/// Core's `RPC_IN_WARMUP`: the node is still starting; retried.
pub const RPC_IN_WARMUP: i32 = -28;
/// JSON-RPC "method not found".
pub const RPC_METHOD_NOT_FOUND: i32 = -32601;
/// JSON-RPC "invalid params".
pub const RPC_INVALID_PARAMS: i32 = -32602;

/// An error of the daemon client. `Display` says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaemonError {
    /// The settings cannot work (e.g. no endpoint).
    #[error("bad daemon settings: {0}")]
    Config(String),

    /// No TCP/HTTP exchange was possible (refused, reset, timed out, DNS), even after retries.
    #[error(
        "cannot reach bitcoind at {endpoint} ({reason}); is bitcoind running with -server, and \
         are DAEMON_URL's host and port its RPC address (-rpcbind/-rpcport)?"
    )]
    Connect { endpoint: String, reason: String },

    /// The `.cookie` file could not be read (bitcoind not started yet, or wrong data dir).
    #[error(
        "cannot read bitcoind's cookie file {path} ({reason}); is bitcoind running, and is the \
         data directory right? Otherwise give user:password in DAEMON_URL"
    )]
    Cookie { path: String, reason: String },

    /// bitcoind rejected the credentials (HTTP 401).
    #[error(
        "bitcoind at {endpoint} rejected our credentials (HTTP 401); check the user and password \
         in DAEMON_URL (-rpcuser/-rpcpassword/-rpcauth), or that the cookie file belongs to this \
         bitcoind"
    )]
    Auth { endpoint: String },

    /// bitcoind kept answering "not now" (HTTP 5xx, "Work queue depth exceeded", warming up)
    /// for longer than the retry budget.
    #[error(
        "bitcoind at {endpoint} is not answering normally ({reason}) and did not recover within \
         the retry period; check its debug.log, and raise -rpcworkqueue/-rpcthreads if its work \
         queue is full"
    )]
    Unavailable { endpoint: String, reason: String },

    /// An HTTP status that retrying will not fix (403, unexpected 404, ...).
    #[error("bitcoind at {endpoint} answered HTTP {status} to {request}: {body}; {hint}")]
    Http {
        endpoint: String,
        status: u16,
        request: String,
        body: String,
        hint: &'static str,
    },

    /// A JSON-RPC error object (not retried, except -28 "warming up").
    #[error("bitcoind RPC error {code}: {message}")]
    Rpc { code: i32, message: String },

    /// The reply could not be understood: invalid JSON, wrong types, bad hex.
    #[error(
        "bitcoind sent a malformed reply to {request}: {problem}; is that really bitcoind's RPC \
         port, and is its version supported?"
    )]
    BadReply { request: String, problem: String },

    /// The block source forced by `--block-source` is one the daemon does not offer.
    #[error(
        "{node} cannot serve --block-source {mode}: {why}. Use --block-source auto (the \
         fastest the node offers) or raw (any node: spent outputs resolved from Ferrum's own \
         index){hint}"
    )]
    SourceUnavailable {
        node: String,
        mode: &'static str,
        why: String,
        /// What would make the forced source work, when something would.
        hint: &'static str,
    },

    /// The daemon is on another network than the configured coin.
    #[error(
        "bitcoind at {endpoint} is on the wrong network: it runs {found}, but Ferrum is \
         configured for {expected}; point DAEMON_URL at a {net} node or set COIN/NET to match \
         the node"
    )]
    WrongNetwork {
        endpoint: String,
        /// e.g. `Bitcoin mainnet (genesis 0000…)`.
        expected: String,
        /// e.g. `chain regtest (genesis 0f91…)`.
        found: String,
        /// The configured network name, e.g. `mainnet`.
        net: &'static str,
    },
}

impl DaemonError {
    /// Shorthand for [`DaemonError::BadReply`].
    pub(crate) fn bad_reply(request: impl Into<String>, problem: impl Into<String>) -> Self {
        DaemonError::BadReply {
            request: request.into(),
            problem: problem.into(),
        }
    }

    /// The RPC error code, when this is a JSON-RPC error.
    pub fn rpc_code(&self) -> Option<i32> {
        match self {
            DaemonError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// What an operator can do about an HTTP status that retrying will not fix.
pub(crate) fn http_hint(status: u16) -> &'static str {
    match status {
        403 => "allow this client with -rpcallowip, and this user's methods in -rpcwhitelist",
        404 => "is DAEMON_URL's port bitcoind's RPC port?",
        405 => "is DAEMON_URL's port bitcoind's RPC port?",
        413 => "the request is too large for bitcoind; report this as a Ferrum bug",
        _ => "see bitcoind's debug.log",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = DaemonError::Connect {
            endpoint: "127.0.0.1:8332".into(),
            reason: "connection refused".into(),
        };
        let s = e.to_string();
        assert!(s.starts_with("cannot reach bitcoind at 127.0.0.1:8332 (connection refused)"));
        assert!(s.contains("-server"));
        let e = DaemonError::Rpc {
            code: -5,
            message: "Block not found".into(),
        };
        assert_eq!(e.to_string(), "bitcoind RPC error -5: Block not found");
        assert_eq!(e.rpc_code(), Some(-5));
        let e = DaemonError::WrongNetwork {
            endpoint: "x:1".into(),
            expected: "Bitcoin mainnet (genesis 00)".into(),
            found: "chain regtest (genesis 0f)".into(),
            net: "mainnet",
        };
        let s = e.to_string();
        assert!(s.contains("regtest") && s.contains("mainnet"), "{s}");
        assert_eq!(e.rpc_code(), None);
    }

    #[test]
    fn hints() {
        assert!(http_hint(403).contains("rpcallowip"));
        assert!(http_hint(599).contains("debug.log"));
    }
}
