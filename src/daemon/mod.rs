//! The bitcoind client: a blocking, thread-safe (`Send + Sync`, share it in an `Arc`) JSON-RPC
//! and REST client with keep-alive connections, retries, cookie re-reading and failover
//! between several endpoints.
//!
//! Blocks come from binary REST (`/rest/block/<hash>.bin`) when bitcoind answers it, else from
//! `getblock <hash> 0`. The outputs each block spends come from the best source the node offers
//! (see [`SpentSource`], chosen at connect within `--block-source`): `/rest/spenttxouts` (Core
//! 30+), the prevouts of `getblock <hash> 3` (Core 23+), or nowhere (older Core, altcoin
//! daemons: sync resolves them from Ferrum's own index). Layout: [`rpc`] is the transport (auth, retry, failover via
//! [`failover`]), [`jsonrpc`] and [`rest`] interpret answers, [`reply`] types them.

mod error;
mod failover;
mod jsonrpc;
#[cfg(test)]
mod mock;
mod reply;
mod rest;
mod rpc;
pub mod settings;
pub mod zmq;

pub use error::DaemonError;
pub use reply::{BlockchainInfo, HeaderInfo};

use crate::chain::{BlockSource, COINS, Coin};
use bitcoin::BlockHash;
use error::{
    RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER, RPC_INVALID_PARAMS, RPC_METHOD_NOT_FOUND,
    RPC_MISC_ERROR,
};
use failover::RetryPolicy;
use rpc::{CallOpts, Channel, Transport};
use serde_json::{Value, json};
use settings::{BlockSourceMode, DaemonSettings, RestMode};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How long `connect` waits for a starting bitcoind to finish loading (RPC -28).
const CONNECT_WARMUP_BUDGET: Duration = Duration::from_secs(3600);
/// Longest single `waitfornewblock` request: below bitcoind's default `-rpcservertimeout` (30 s),
/// which older (libevent) versions apply to requests still being processed.
const LONG_POLL_CHUNK: Duration = Duration::from_secs(25);
/// Poll interval of [`Daemon::wait_for_new_block`] when `waitfornewblock` is unsupported.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How [`Daemon::wait_for_new_block`] waits; downgraded once when the daemon refuses a form.
const WAIT_WITH_TIP: u8 = 0;
const WAIT_WITHOUT_TIP: u8 = 1;
const WAIT_POLL: u8 = 2;

/// A connection to bitcoind (one or more endpoints). See the module documentation.
pub struct Daemon {
    transport: Transport,
    coin: &'static dyn Coin,
    rest: bool,
    spent_source: SpentSource,
    wait_mode: AtomicU8,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("endpoint", &self.current_endpoint())
            .field(
                "coin",
                &format_args!("{} {}", self.coin.name(), self.coin.net()),
            )
            .field("rest", &self.rest)
            .field("spent_source", &self.spent_source)
            .finish()
    }
}

impl Daemon {
    /// Connects (with retries while bitcoind warms up), checks that `getblockhash 0` equals
    /// `coin.genesis_hash()` (else [`DaemonError::WrongNetwork`]), probes whether REST answers
    /// (when `settings.rest` is `Auto` and the coin's daemon offers it), and logs the daemon's
    /// version and the block source once.
    pub fn connect(
        settings: DaemonSettings,
        coin: &'static dyn Coin,
    ) -> Result<Daemon, DaemonError> {
        Self::connect_with_policy(settings, coin, RetryPolicy::DEFAULT)
    }

    pub(crate) fn connect_with_policy(
        settings: DaemonSettings,
        coin: &'static dyn Coin,
        policy: RetryPolicy,
    ) -> Result<Daemon, DaemonError> {
        let transport = Transport::new(&settings, policy)?;
        let warm = CallOpts {
            warmup_budget: Some(CONNECT_WARMUP_BUDGET),
            ..transport.opts()
        };

        let genesis = reply::hash(
            &transport.call("getblockhash", &json!([0]), warm)?,
            "getblockhash",
        )?;
        if genesis != coin.genesis_hash() {
            let daemon_network = match transport.call("getblockchaininfo", &json!([]), warm) {
                Ok(v) => v
                    .get("chain")
                    .and_then(Value::as_str)
                    .map(|c| format!("chain {c}")),
                Err(_) => None,
            }
            .or_else(|| {
                COINS
                    .iter()
                    .find(|c| c.genesis_hash() == genesis)
                    .map(|c| format!("{} {}", c.name(), c.net()))
            })
            .unwrap_or_else(|| "an unknown network".into());
            return Err(DaemonError::WrongNetwork {
                endpoint: transport.current_endpoint(),
                expected: format!(
                    "{} {} (genesis {})",
                    coin.name(),
                    coin.net(),
                    coin.genesis_hash()
                ),
                found: format!("{daemon_network} (genesis {genesis})"),
                net: coin.net(),
            });
        }

        let mode = settings.block_source;
        let raw_only = coin.block_source() == BlockSource::RawBlocksOnly;
        // REST is probed whenever it may serve blocks (not in `rpc` mode, which asks JSON-RPC
        // only); /rest/spenttxouts matters only to a coin whose daemon can have it.
        let (rest, rest_spent) = if settings.rest == RestMode::Auto && mode != BlockSourceMode::Rpc
        {
            let (rest, spent) = probe_rest(&transport, &genesis, warm)?;
            (rest, spent && !raw_only)
        } else {
            (false, false)
        };

        let network_info = transport.call("getnetworkinfo", &json!([]), warm)?;
        let (version, subversion) = reply::version(&network_info);
        let node = format!(
            "{} {subversion} at {}",
            coin.name(),
            transport.current_endpoint()
        );
        let unavailable = |why: String, hint: &'static str| DaemonError::SourceUnavailable {
            node: node.clone(),
            mode: mode.name(),
            why,
            hint,
        };
        let spent_source = match mode {
            BlockSourceMode::Raw => SpentSource::Index,
            _ if raw_only => {
                if mode != BlockSourceMode::Auto {
                    return Err(unavailable(
                        format!("{} daemons serve raw blocks only", coin.name()),
                        "",
                    ));
                }
                SpentSource::Index
            }
            _ if rest_spent && mode != BlockSourceMode::Rpc => SpentSource::Rest,
            BlockSourceMode::Rest => {
                let why = if settings.rest == RestMode::Off {
                    "DAEMON_REST is off".to_string()
                } else if rest {
                    "its REST interface has no /rest/spenttxouts".to_string()
                } else {
                    "its REST interface is off".to_string()
                };
                return Err(unavailable(
                    why,
                    "; /rest/spenttxouts needs Bitcoin Core 30 or later started with -rest",
                ));
            }
            _ => match verbosity_3_refusal(&transport, &genesis, warm)? {
                None => SpentSource::Rpc,
                Some(why) if mode == BlockSourceMode::Rpc => {
                    return Err(unavailable(
                        why,
                        "; getblock verbosity 3 needs Bitcoin Core 23 or later",
                    ));
                }
                Some(why) => {
                    info!(
                        "{node} gives no spent outputs ({why}): resolving them from Ferrum's own \
                         index (raw block source); Bitcoin Core 30 with -rest is the fastest"
                    );
                    SpentSource::Index
                }
            },
        };
        let blocks = if rest { "REST" } else { "JSON-RPC getblock" };
        let spent = match spent_source {
            SpentSource::Rest => "/rest/spenttxouts",
            SpentSource::Rpc => "getblock verbosity 3",
            SpentSource::Index => "Ferrum's own index (raw block source)",
        };
        info!(
            "connected to bitcoind {subversion} (version {version}) at {} on {} {}; blocks via \
             {blocks}, spent outputs from {spent} (--block-source {})",
            transport.current_endpoint(),
            coin.name(),
            coin.net(),
            mode.name()
        );
        Ok(Daemon {
            transport,
            coin,
            rest,
            spent_source,
            wait_mode: AtomicU8::new(WAIT_WITH_TIP),
        })
    }

    /// One JSON-RPC call; RPC errors come back as [`DaemonError::Rpc`].
    pub fn call(&self, method: &str, params: Value) -> Result<Value, DaemonError> {
        self.transport.call(method, &params, self.transport.opts())
    }

    /// One HTTP request carrying a JSON-RPC batch (large batches are split into several);
    /// per-item results in order.
    pub fn batch(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Result<Value, DaemonError>>, DaemonError> {
        self.transport.batch(method, &params)
    }

    pub fn blockchain_info(&self) -> Result<BlockchainInfo, DaemonError> {
        reply::blockchain_info(&self.call("getblockchaininfo", json!([]))?)
    }

    pub fn best_block_hash(&self) -> Result<BlockHash, DaemonError> {
        reply::hash(
            &self.call("getbestblockhash", json!([]))?,
            "getbestblockhash",
        )
    }

    /// `None` when `height` is above the daemon's tip (RPC error -8).
    pub fn block_hash(&self, height: u32) -> Result<Option<BlockHash>, DaemonError> {
        if i32::try_from(height).is_err() {
            // Core's heights are `int`: it answers "JSON integer out of range" (-1) for these.
            return Ok(None);
        }
        match self.call("getblockhash", json!([height])) {
            Ok(v) => reply::hash(&v, "getblockhash").map(Some),
            Err(DaemonError::Rpc {
                code: RPC_INVALID_PARAMETER,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Batched `getblockhash` for a range of heights (all must exist, else the RPC error of
    /// the first missing one).
    pub fn block_hashes(
        &self,
        heights: std::ops::Range<u32>,
    ) -> Result<Vec<BlockHash>, DaemonError> {
        let params = heights.map(|h| json!([h])).collect();
        self.batch("getblockhash", params)?
            .into_iter()
            .map(|r| r.and_then(|v| reply::hash(&v, "getblockhash")))
            .collect()
    }

    /// `getblockheader <hash> true`; `None` when the daemon does not know the block.
    pub fn header_info(&self, hash: &BlockHash) -> Result<Option<HeaderInfo>, DaemonError> {
        match self.call("getblockheader", json!([hash.to_string(), true])) {
            Ok(v) => reply::header_info(&v).map(Some),
            Err(DaemonError::Rpc {
                code: RPC_INVALID_ADDRESS_OR_KEY,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The raw serialized block: REST `/rest/block/<hash>.bin` when available, else JSON-RPC
    /// `getblock <hash> 0`. Works for stale (reorged-out) blocks too. An unknown or pruned
    /// block is bitcoind's RPC error (e.g. -5 "Block not found").
    pub fn block(&self, hash: &BlockHash) -> Result<Vec<u8>, DaemonError> {
        if self.rest {
            match self
                .transport
                .rest_get(&rest::block_path(hash), self.transport.opts())?
            {
                Some(raw) => return self.check_block(hash, raw, "GET /rest/block"),
                // Unknown, pruned or REST now off: JSON-RPC gives the exact answer.
                None => debug!("REST has no block {hash}; asking JSON-RPC"),
            }
        }
        let v = self.call("getblock", json!([hash.to_string(), 0]))?;
        let raw = reply::hex_bytes(&v, "getblock")?;
        self.check_block(hash, raw, "getblock")
    }

    /// Checks that a block's header hashes to the requested hash.
    fn check_block(
        &self,
        hash: &BlockHash,
        raw: Vec<u8>,
        request: &str,
    ) -> Result<Vec<u8>, DaemonError> {
        let header_len = self
            .coin
            .header_len(&raw)
            .map_err(|e| DaemonError::bad_reply(request, format!("block {hash}: {e}")))?;
        let header = raw.get(..header_len).unwrap_or_default();
        let got = self.coin.header_hash(header);
        if got != *hash {
            return Err(DaemonError::bad_reply(
                request,
                format!("asked for block {hash}, got a block whose header hashes to {got}"),
            ));
        }
        Ok(raw)
    }

    /// The raw binary body of REST `/rest/spenttxouts/<hash>.bin` (Core >= 30), or `None` when
    /// REST is off or lacks that endpoint, or the daemon has no undo data for the block (404).
    /// Not parsed here.
    pub fn spent_outputs(&self, hash: &BlockHash) -> Result<Option<Vec<u8>>, DaemonError> {
        if self.spent_source != SpentSource::Rest {
            return Ok(None);
        }
        self.transport
            .rest_get(&rest::spent_outputs_path(hash), self.transport.opts())
    }

    /// Whether blocks come over REST.
    pub fn rest_enabled(&self) -> bool {
        self.rest
    }

    /// Whether [`Daemon::spent_outputs`] can return data (REST with `/rest/spenttxouts`).
    pub fn spent_outputs_enabled(&self) -> bool {
        self.spent_source == SpentSource::Rest
    }

    /// The coin and network this daemon serves.
    pub fn coin(&self) -> &'static dyn Coin {
        self.coin
    }

    /// Where the outputs each block spends come from, chosen at connect.
    pub fn spent_source(&self) -> SpentSource {
        self.spent_source
    }

    /// Waits for the daemon's tip to differ from `current`, up to `timeout`, and returns the
    /// tip (equal to `current` after a timeout). Uses `waitfornewblock timeout current_tip`
    /// on its own connection so it never holds up other calls; falls back to
    /// `waitfornewblock timeout` on older Core, and to polling `getbestblockhash` every second
    /// when the daemon has no `waitfornewblock`. Long timeouts are split into requests of at
    /// most [`LONG_POLL_CHUNK`], below bitcoind's default `-rpcservertimeout`.
    pub fn wait_for_new_block(
        &self,
        current: &BlockHash,
        timeout: Duration,
    ) -> Result<BlockHash, DaemonError> {
        let deadline = Instant::now() + timeout;
        loop {
            let started = Instant::now();
            let chunk = deadline
                .saturating_duration_since(started)
                .min(LONG_POLL_CHUNK);
            let tip = self.wait_once(current, chunk)?;
            let now = Instant::now();
            if tip != *current || now >= deadline {
                return Ok(tip);
            }
            if now - started < chunk / 2 {
                // Answered early without a new tip (e.g. bitcoind shutting down): do not spin.
                std::thread::sleep(Duration::from_millis(100).min(deadline - now));
            }
        }
    }

    /// One long poll of at most `timeout`, downgrading the way of waiting when refused.
    fn wait_once(&self, current: &BlockHash, timeout: Duration) -> Result<BlockHash, DaemonError> {
        let timeout_ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, i32::MAX as u64);
        let opts = CallOpts {
            channel: Channel::LongPoll,
            timeout: timeout + self.transport.request_timeout,
            warmup_budget: None,
        };
        loop {
            let mode = self.wait_mode.load(Ordering::Relaxed);
            let result = match mode {
                WAIT_WITH_TIP => self.transport.call(
                    "waitfornewblock",
                    &json!([timeout_ms, current.to_string()]),
                    opts,
                ),
                WAIT_WITHOUT_TIP => {
                    // Without a tip argument the daemon waits for a change from *its* tip:
                    // check first that it is still ours.
                    let best = self.best_block_hash()?;
                    if best != *current {
                        return Ok(best);
                    }
                    self.transport
                        .call("waitfornewblock", &json!([timeout_ms]), opts)
                }
                _ => return self.poll_for_new_block(current, timeout),
            };
            match result {
                Ok(v) => return reply::tip_hash(&v),
                Err(DaemonError::Rpc { code, message })
                    if code == RPC_METHOD_NOT_FOUND
                        || (mode == WAIT_WITH_TIP
                            && matches!(code, RPC_MISC_ERROR | RPC_INVALID_PARAMS)) =>
                {
                    let next = if code == RPC_METHOD_NOT_FOUND {
                        WAIT_POLL
                    } else {
                        mode + 1
                    };
                    let how = if next == WAIT_POLL {
                        "polling getbestblockhash"
                    } else {
                        "waitfornewblock without a tip"
                    };
                    warn!(
                        "bitcoind refused waitfornewblock ({code}: {}); using {how}",
                        first_line(&message)
                    );
                    self.wait_mode.store(next, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn poll_for_new_block(
        &self,
        current: &BlockHash,
        timeout: Duration,
    ) -> Result<BlockHash, DaemonError> {
        let deadline = Instant::now() + timeout;
        loop {
            let best = self.best_block_hash()?;
            let now = Instant::now();
            if best != *current || now >= deadline {
                return Ok(best);
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }

    /// Endpoint currently in use (`host:port`, no credentials), for logs and admin.
    pub fn current_endpoint(&self) -> String {
        self.transport.current_endpoint()
    }

    /// Every endpoint (`host:port`, no credentials), in failover order.
    pub fn endpoints(&self) -> Vec<String> {
        self.transport.endpoint_names()
    }

    /// Switches to the first endpoint now (endpoints are fixed at start-up).
    pub fn use_first_endpoint(&self) {
        self.transport.use_first_endpoint();
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// Where the outputs each block spends come from (see [`BlockSourceMode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpentSource {
    /// Binary REST `/rest/spenttxouts/<hash>.bin`.
    Rest,
    /// The `prevout` fields of `getblock <hash> 3`.
    Rpc,
    /// Nowhere in the daemon: Ferrum resolves each input from its own index.
    Index,
}

/// Why the daemon refuses `getblock <genesis> 3`, or `None` when it answers it. Only a refusal
/// of the verbosity counts: another RPC error (a pruned genesis, say) tells nothing about it,
/// and the blocks themselves will say.
fn verbosity_3_refusal(
    transport: &Transport,
    genesis: &BlockHash,
    opts: CallOpts,
) -> Result<Option<String>, DaemonError> {
    match transport.call("getblock", &json!([genesis.to_string(), 3]), opts) {
        Err(DaemonError::Rpc { code, message })
            if code == -8 || message.to_ascii_lowercase().contains("verbosity") =>
        {
            Ok(Some(format!(
                "getblock verbosity 3 is refused ({code}: {message})"
            )))
        }
        Err(
            e @ (DaemonError::Connect { .. }
            | DaemonError::Cookie { .. }
            | DaemonError::Auth { .. }
            | DaemonError::Unavailable { .. }),
        ) => Err(e),
        _ => Ok(None),
    }
}

/// Whether REST answers, and whether it has `/rest/spenttxouts` (asked for the genesis block,
/// which always has empty undo data).
fn probe_rest(
    transport: &Transport,
    genesis: &BlockHash,
    opts: CallOpts,
) -> Result<(bool, bool), DaemonError> {
    let fatal = |e: &DaemonError| {
        matches!(
            e,
            DaemonError::Connect { .. }
                | DaemonError::Cookie { .. }
                | DaemonError::Unavailable { .. }
        )
    };
    let rest = match transport.rest_get(rest::CHAININFO_PATH, opts) {
        Ok(Some(body)) => match rest::check_json(&body, rest::CHAININFO_PATH) {
            Ok(()) => true,
            Err(e) => {
                warn!("not using REST: {e}");
                false
            }
        },
        Ok(None) => {
            info!(
                "bitcoind's REST interface is off; start bitcoind with -rest for faster block downloads"
            );
            false
        }
        Err(e) if fatal(&e) => return Err(e),
        Err(e) => {
            warn!("not using REST: {e}");
            false
        }
    };
    if !rest {
        return Ok((false, false));
    }
    let spent = match transport.rest_get(&rest::spent_outputs_path(genesis), opts) {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(e) if fatal(&e) => return Err(e),
        Err(e) => {
            warn!("not using /rest/spenttxouts: {e}");
            false
        }
    };
    Ok((rest, spent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Daemon>();
    }

    #[test]
    fn first_line_of_help_text() {
        assert_eq!(
            first_line("waitfornewblock ( timeout )\n\nWaits..."),
            "waitfornewblock ( timeout )"
        );
        assert_eq!(first_line(""), "");
    }
}
