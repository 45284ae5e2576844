//! Metrics and logs for operators: Prometheus metrics (served by [`http`] when `--metrics` is
//! set), the load balancers' `GET /health` ([`health`]) and ElectrumX's `ANON_LOGS` ([`logs`]).
//!
//! Metrics live in one process-wide registry so that the layers record them with one call and
//! no plumbing: the session calls [`request`] once per request, the follow loop
//! [`follow_round`] once per round, the indexer [`block_indexed`] per block and
//! [`daemon_height`] per poll, caches [`cache_lookup`]. Values that are cheaper to read than to
//! track (sessions, subscriptions, DB size, RSS) are read from their owners at scrape time
//! ([`render`]). Recording is a few atomic operations, so it stays on when the endpoint is off.
//!
//! Every metric name is listed in [`NAMES`] (and in `docs/METRICS.md`).

pub mod health;
pub mod http;
pub mod logs;

use crate::electrum::Shared;
use crate::store::Store;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Every metric Ferrum exports.
pub const NAMES: &[&str] = &[
    "ferrum_index_height",
    "ferrum_daemon_height",
    "ferrum_indexed_blocks_total",
    "ferrum_indexed_txs_total",
    "ferrum_follow_rounds_total",
    "ferrum_sessions",
    "ferrum_subscriptions",
    "ferrum_requests_total",
    "ferrum_request_errors_total",
    "ferrum_request_duration_seconds",
    "ferrum_mempool_txs",
    "ferrum_mempool_vbytes",
    "ferrum_mempool_raw_file_bytes",
    "ferrum_silent_payments_pending_blocks",
    "ferrum_silent_payments_mempool_txs",
    "ferrum_cache_lookups_total",
    "ferrum_db_size_bytes",
    "ferrum_peers",
    "process_resident_memory_bytes",
];

/// Transports the sessions gauge always shows, even at zero.
const TRANSPORTS: &[&str] = &["tcp", "ssl", "ws", "wss"];

/// The method label of requests for a method Ferrum does not know (bounds the label values).
const UNKNOWN_METHOD: &str = "unknown";

struct Metrics {
    registry: Registry,
    index_height: IntGauge,
    daemon_height: IntGauge,
    indexed_blocks: IntCounter,
    indexed_txs: IntCounter,
    follow_rounds: IntCounter,
    sessions: IntGaugeVec,
    subscriptions: IntGauge,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    mempool_txs: IntGauge,
    mempool_vbytes: IntGauge,
    mempool_raw_file: IntGauge,
    sp_pending: IntGauge,
    sp_mempool: IntGauge,
    cache: IntCounterVec,
    db_size: IntGaugeVec,
    peers: IntGaugeVec,
    rss: IntGauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}"));
            register(&registry, Box::new(g.clone()));
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).unwrap_or_else(|e| panic!("{name}: {e}"));
            register(&registry, Box::new(c.clone()));
            c
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            register(&registry, Box::new(g.clone()));
            g
        };
        let counters = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            register(&registry, Box::new(c.clone()));
            c
        };
        // 0.1 ms to ~26 s: cached lookups take microseconds, big histories seconds.
        let buckets = prometheus::exponential_buckets(0.0001, 4.0, 10).unwrap_or_default();
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "ferrum_request_duration_seconds",
                "Time to answer a request, by method",
            )
            .buckets(buckets),
            &["method"],
        )
        .unwrap_or_else(|e| panic!("latency histogram: {e}"));
        register(&registry, Box::new(latency.clone()));
        Metrics {
            index_height: gauge("ferrum_index_height", "Height of the indexed tip"),
            daemon_height: gauge("ferrum_daemon_height", "Height of bitcoind's best block"),
            indexed_blocks: counter("ferrum_indexed_blocks_total", "Blocks indexed"),
            indexed_txs: counter("ferrum_indexed_txs_total", "Transactions indexed"),
            follow_rounds: counter(
                "ferrum_follow_rounds_total",
                "Rounds of the follow loop (index, mempool, publish)",
            ),
            sessions: gauges(
                "ferrum_sessions",
                "Open client sessions, by transport",
                &["transport"],
            ),
            subscriptions: gauge(
                "ferrum_subscriptions",
                "Script and outpoint subscriptions held by all sessions",
            ),
            requests: counters(
                "ferrum_requests_total",
                "Requests answered, by method",
                &["method"],
            ),
            errors: counters(
                "ferrum_request_errors_total",
                "Requests answered with an error, by method",
                &["method"],
            ),
            latency,
            mempool_txs: gauge("ferrum_mempool_txs", "Transactions in the mempool"),
            mempool_vbytes: gauge(
                "ferrum_mempool_vbytes",
                "Virtual size of the mempool's transactions",
            ),
            mempool_raw_file: gauge(
                "ferrum_mempool_raw_file_bytes",
                "Bytes in the file of mempool transactions' raw bytes, live and dead",
            ),
            sp_pending: gauge(
                "ferrum_silent_payments_pending_blocks",
                "Blocks whose silent payments tweaks are still to build; -1 when tweaks are not kept",
            ),
            sp_mempool: gauge(
                "ferrum_silent_payments_mempool_txs",
                "Mempool transactions eligible for silent payments (with a tweak)",
            ),
            cache: counters(
                "ferrum_cache_lookups_total",
                "Cache lookups by cache (history, fee, output_count, header_merkle) and result (hit, miss)",
                &["cache", "result"],
            ),
            db_size: gauges(
                "ferrum_db_size_bytes",
                "Size of the index's SST files, by column family",
                &["cf"],
            ),
            peers: gauges(
                "ferrum_peers",
                "Known peer servers, by state (good, stale, never, bad)",
                &["state"],
            ),
            rss: gauge(
                "process_resident_memory_bytes",
                "Resident memory of the process",
            ),
            registry,
        }
    }
}

/// Registering a metric fails only for a duplicate name, a programming error.
fn register(registry: &Registry, c: Box<dyn prometheus::core::Collector>) {
    if let Err(e) = registry.register(c) {
        panic!("metrics registry: {e}");
    }
}

/// The method name as a label: a known method's static name, or [`UNKNOWN_METHOD`].
pub fn method_label(method: &str) -> &'static str {
    crate::electrum::methods::METHODS
        .iter()
        .find(|m| m.name == method)
        .map_or(UNKNOWN_METHOD, |m| m.name)
}

/// Records one answered request (or notification): its method label ([`method_label`]), how
/// long it took and whether it failed. The session's own counters live in its registry entry.
pub fn request(method: &'static str, elapsed: Duration, failed: bool) {
    let m = &*METRICS;
    m.requests.with_label_values(&[method]).inc();
    m.latency
        .with_label_values(&[method])
        .observe(elapsed.as_secs_f64());
    if failed {
        m.errors.with_label_values(&[method]).inc();
    }
}

/// One block was indexed (catch-up or new tip).
pub fn block_indexed(height: u32, txs: u64) {
    let m = &*METRICS;
    m.indexed_blocks.inc();
    m.indexed_txs.inc_by(txs);
    m.index_height.set(i64::from(height));
}

/// bitcoind's best height, as last polled.
pub fn daemon_height(height: u32) {
    METRICS.daemon_height.set(i64::from(height));
}

/// One lookup of a cache; `cache` is a fixed name (`history`, `fee`, `output_count`, `header_merkle`).
pub fn cache_lookup(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    METRICS.cache.with_label_values(&[cache, result]).inc();
}

/// After each round of the follow loop: the published tip and the mempool's size.
pub fn follow_round(shared: &Shared, tip_height: Option<u32>) {
    let m = &*METRICS;
    m.follow_rounds.inc();
    m.index_height.set(tip_height.map_or(-1, i64::from));
    m.mempool_raw_file
        .set(gauge_value(shared.mempool.raw_file_bytes()));
    m.sp_pending.set(match shared.query.sp_state() {
        Some(s) => s.pending.map_or(0, |(next, end)| {
            i64::from(end.min(tip_height.unwrap_or(0)).saturating_sub(next)) + 1
        }),
        None => -1,
    });
    m.sp_mempool.set(gauge_value(
        shared.mempool.tweaks().map_or(0, |t| t.len() as u64),
    ));
    let mempool = shared.mempool.read();
    m.mempool_txs.set(gauge_value(mempool.len() as u64));
    m.mempool_vbytes.set(gauge_value(mempool.vsize()));
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Sessions by transport and their subscriptions, from the registry.
fn read_sessions(shared: &Shared) {
    let m = &*METRICS;
    let mut by_transport: BTreeMap<&str, i64> = TRANSPORTS.iter().map(|t| (*t, 0)).collect();
    let mut subs = 0u64;
    for s in shared.sessions.list() {
        *by_transport.entry(s.transport).or_default() += 1;
        subs += s.subscriptions.load(Ordering::Relaxed);
    }
    for (transport, n) in by_transport {
        m.sessions.with_label_values(&[transport]).set(n);
    }
    m.subscriptions.set(gauge_value(subs));
}

/// Peers by state, from the peer manager (all zero before it runs).
fn read_peers(shared: &Shared) {
    let c = shared.peers.get().map(|p| p.counts()).unwrap_or_default();
    for (state, n) in [
        ("good", c.good),
        ("stale", c.stale),
        ("never", c.never),
        ("bad", c.bad),
    ] {
        METRICS
            .peers
            .with_label_values(&[state])
            .set(gauge_value(n as u64));
    }
}

/// The process's resident set size in bytes, from /proc/self/statm (0 where unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.saturating_mul(u64::try_from(page).unwrap_or(4096))
}

/// Reads the scrape-time values and renders every metric in Prometheus' text format.
pub fn render(shared: Option<&Shared>, store: Option<&Store>) -> String {
    let m = &*METRICS;
    if let Some(shared) = shared {
        read_sessions(shared);
        read_peers(shared);
    }
    if let Some(store) = store {
        for (cf, size) in store.cf_sizes() {
            m.db_size.with_label_values(&[cf]).set(gauge_value(size));
        }
    }
    m.rss.set(gauge_value(rss_bytes()));
    TextEncoder::new()
        .encode_to_string(&m.registry.gather())
        .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
}

/// Histogram of one method's latencies (tests).
#[cfg(test)]
fn latency(method: &str) -> prometheus::Histogram {
    METRICS.latency.with_label_values(&[method_label(method)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_known_method_only() {
        let before = latency("server.ping").get_sample_count();
        request(method_label("server.ping"), Duration::from_millis(2), false);
        request(method_label("no.such.method"), Duration::ZERO, true);
        assert_eq!(latency("server.ping").get_sample_count(), before + 1);
        let text = render(None, None);
        assert!(
            text.contains("ferrum_requests_total{method=\"server.ping\"}"),
            "{text}"
        );
        assert!(
            text.contains("ferrum_request_errors_total{method=\"unknown\"} "),
            "{text}"
        );
        assert!(!text.contains("no.such.method"));
        for name in NAMES {
            let declared = format!("# TYPE {name} ");
            // Label-less families appear at once; labelled ones once they have a child.
            if !matches!(
                *name,
                "ferrum_sessions"
                    | "ferrum_cache_lookups_total"
                    | "ferrum_db_size_bytes"
                    | "ferrum_peers"
            ) {
                assert!(text.contains(&declared), "{name} missing:\n{text}");
            }
        }
        assert!(rss_bytes() > 0);
    }

    #[test]
    fn cache_lookups_have_hit_and_miss() {
        cache_lookup("fee", true);
        cache_lookup("fee", false);
        let text = render(None, None);
        assert!(text.contains("ferrum_cache_lookups_total{cache=\"fee\",result=\"hit\"}"));
        assert!(text.contains("ferrum_cache_lookups_total{cache=\"fee\",result=\"miss\"}"));
    }
}
