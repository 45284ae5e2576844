//! Command line: Ferrum's subcommands and global options (clap derive), and their help text.
//!
//! Every option is declared once here and listed in [`OPTIONS`] with its environment variable
//! and config-file key, so `config::load_from` layers CLI > env > file > defaults the same way
//! for all of them. clap only collects the raw strings; validation lives in `config` so a bad
//! value gets the same message whichever layer it came from.

use crate::chain::{COINS, Coin};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// One configurable option: its config-file key, long flag and environment variable.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Opt {
    /// Config-file key: the long flag without `--`, with `_` for `-`.
    pub key: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
}

macro_rules! options {
    ($($name:ident = $key:literal, $flag:literal, $env:literal;)*) => {
        $(pub(crate) const $name: &Opt = &Opt { key: $key, flag: $flag, env: $env };)*
        /// Every option a config file may set (all but `--config` itself).
        pub(crate) const OPTIONS: &[&Opt] = &[$($name),*];
    };
}

options! {
    COIN = "coin", "--coin", "COIN";
    NET = "net", "--net", "NET";
    DB_DIR = "db_dir", "--db-dir", "DB_DIRECTORY";
    DAEMON_URL = "daemon_url", "--daemon-url", "DAEMON_URL";
    DAEMON_DIR = "daemon_dir", "--daemon-dir", "FERRUM_DAEMON_DIR";
    COOKIE_FILE = "cookie_file", "--cookie-file", "FERRUM_COOKIE_FILE";
    DAEMON_REST = "daemon_rest", "--daemon-rest", "FERRUM_DAEMON_REST";
    BLOCK_SOURCE = "block_source", "--block-source", "FERRUM_BLOCK_SOURCE";
    DAEMON_TIMEOUT = "daemon_timeout_secs", "--daemon-timeout-secs", "FERRUM_DAEMON_TIMEOUT_SECS";
    CACHE_MB = "cache_mb", "--cache-mb", "CACHE_MB";
    REORG_LIMIT = "reorg_limit", "--reorg-limit", "REORG_LIMIT";
    LOG_LEVEL = "log_level", "--log-level", "LOG_LEVEL";
    LOG_JSON = "log_json", "--log-json", "FERRUM_LOG_JSON";
    SERVICES = "services", "--services", "SERVICES";
    REPORT_SERVICES = "report_services", "--report-services", "REPORT_SERVICES";
    POLL_BLOCKS = "daemon_poll_interval_blocks", "--daemon-poll-interval-blocks",
        "DAEMON_POLL_INTERVAL_BLOCKS";
    POLL_MEMPOOL = "daemon_poll_interval_mempool", "--daemon-poll-interval-mempool",
        "DAEMON_POLL_INTERVAL_MEMPOOL";
    INDEX_THREADS = "index_threads", "--index-threads", "FERRUM_INDEX_THREADS";
    ZMQ_BLOCK = "zmq_block", "--zmq-block", "FERRUM_ZMQ_BLOCK";
    MAX_SEND = "max_send", "--max-send", "MAX_SEND";
    MAX_RECV = "max_recv", "--max-recv", "MAX_RECV";
    MAX_SESSIONS = "max_sessions", "--max-sessions", "MAX_SESSIONS";
    COST_SOFT_LIMIT = "cost_soft_limit", "--cost-soft-limit", "COST_SOFT_LIMIT";
    COST_HARD_LIMIT = "cost_hard_limit", "--cost-hard-limit", "COST_HARD_LIMIT";
    BANDWIDTH_UNIT_COST = "bandwidth_unit_cost", "--bandwidth-unit-cost", "BANDWIDTH_UNIT_COST";
    INITIAL_CONCURRENT = "initial_concurrent", "--initial-concurrent", "INITIAL_CONCURRENT";
    REQUEST_SLEEP = "request_sleep", "--request-sleep", "REQUEST_SLEEP";
    REQUEST_TIMEOUT = "request_timeout", "--request-timeout", "REQUEST_TIMEOUT";
    SESSION_TIMEOUT = "session_timeout", "--session-timeout", "SESSION_TIMEOUT";
    GROUP_BY_SUBNET_IPV4 = "session_group_by_subnet_ipv4", "--session-group-by-subnet-ipv4",
        "SESSION_GROUP_BY_SUBNET_IPV4";
    GROUP_BY_SUBNET_IPV6 = "session_group_by_subnet_ipv6", "--session-group-by-subnet-ipv6",
        "SESSION_GROUP_BY_SUBNET_IPV6";
    DROP_CLIENT = "drop_client", "--drop-client", "DROP_CLIENT";
    ALLOW_IPS = "allow_ips", "--allow-ips", "FERRUM_ALLOW_IPS";
    MAX_SESSIONS_PER_IP = "max_sessions_per_ip", "--max-sessions-per-ip",
        "FERRUM_MAX_SESSIONS_PER_IP";
    PER_IP_EXEMPT = "per_ip_exempt", "--per-ip-exempt", "FERRUM_PER_IP_EXEMPT";
    PROXY_FROM = "proxy_from", "--proxy-from", "FERRUM_PROXY_FROM";
    HEALTH_MAX_LAG_BLOCKS = "health_max_lag_blocks", "--health-max-lag-blocks",
        "FERRUM_HEALTH_MAX_LAG_BLOCKS";
    HEALTH_MAX_LAG_SECS = "health_max_lag_secs", "--health-max-lag-secs",
        "FERRUM_HEALTH_MAX_LAG_SECS";
    SILENT_PAYMENTS = "silent_payments", "--silent-payments", "FERRUM_SILENT_PAYMENTS";
    SP_MAX_LABELS = "sp_max_labels", "--sp-max-labels", "FERRUM_SP_MAX_LABELS";
    SP_MAX_SUBSCRIPTIONS = "sp_max_subscriptions", "--sp-max-subscriptions",
        "FERRUM_SP_MAX_SUBSCRIPTIONS";
    SP_SCAN_THREADS = "sp_scan_threads", "--sp-scan-threads", "FERRUM_SP_SCAN_THREADS";
    SP_MAX_BLOCKS = "sp_max_blocks", "--sp-max-blocks", "FERRUM_SP_MAX_BLOCKS";
    BANNER_FILE = "banner_file", "--banner-file", "BANNER_FILE";
    DONATION_ADDRESS = "donation_address", "--donation-address", "DONATION_ADDRESS";
    SSL_CERTFILE = "ssl_certfile", "--ssl-certfile", "SSL_CERTFILE";
    SSL_KEYFILE = "ssl_keyfile", "--ssl-keyfile", "SSL_KEYFILE";
    ADMIN_ALLOW_REMOTE = "admin_allow_remote", "--admin-allow-remote", "FERRUM_ADMIN_ALLOW_REMOTE";
    DAEMON_PASSTHROUGH = "daemon_passthrough", "--daemon-passthrough", "FERRUM_DAEMON_PASSTHROUGH";
    METRICS = "metrics", "--metrics", "FERRUM_METRICS";
    ANON_LOGS = "anon_logs", "--anon-logs", "ANON_LOGS";
    LOG_SESSIONS = "log_sessions", "--log-sessions", "LOG_SESSIONS";
    PEER_DISCOVERY = "peer_discovery", "--peer-discovery", "PEER_DISCOVERY";
    PEER_ANNOUNCE = "peer_announce", "--peer-announce", "PEER_ANNOUNCE";
    TOR_PROXY_HOST = "tor_proxy_host", "--tor-proxy-host", "TOR_PROXY_HOST";
    TOR_PROXY_PORT = "tor_proxy_port", "--tor-proxy-port", "TOR_PROXY_PORT";
    FORCE_PROXY = "force_proxy", "--force-proxy", "FORCE_PROXY";
    BLACKLIST_URL = "blacklist_url", "--blacklist-url", "BLACKLIST_URL";
    BLACKLIST_REFRESH = "blacklist_refresh", "--blacklist-refresh", "FERRUM_BLACKLIST_REFRESH";
    PEER_ALLOW_PRIVATE = "peer_allow_private", "--peer-allow-private",
        "FERRUM_PEER_ALLOW_PRIVATE";
}

/// `--config` / `FERRUM_CONFIG`: read from the command line and environment only.
pub(crate) const CONFIG: &Opt = &Opt {
    key: "config",
    flag: "--config",
    env: "FERRUM_CONFIG",
};

/// Default of `ferrum demo --blocks`.
pub(crate) const DEFAULT_DEMO_BLOCKS: u32 = 300;

const ABOUT: &str =
    "An Electrum server with a fast, crash-safe script index over a Bitcoin Core node";

const AFTER_HELP: &str = "\
Every option can also be set with the environment variable shown as [env: NAME] (ElectrumX's \
names work unchanged) or in the TOML file given by --config, whose keys are the long option names \
with '_' for '-' (e.g. db_dir = \"/data\", cache_mb = 2000, services = \"tcp://:50001\").
Precedence: command line > environment > config file > default. An empty value counts as unset, \
except for SERVICES and REPORT_SERVICES where it means no services.";

#[derive(Debug, Parser)]
#[command(name = "ferrum", version, about = ABOUT, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub opts: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Sub {
    /// Index the chain and follow the tip (the default without a subcommand).
    #[command(after_help = AFTER_HELP)]
    Serve,
    /// Index up to the daemon's current tip, then exit (benchmarks, scripts).
    #[command(after_help = AFTER_HELP)]
    Sync,
    /// Compact the index now (`ferrum` also does it in the background after a large catch-up).
    #[command(after_help = AFTER_HELP)]
    Compact,
    /// Look an address, script hash or script up in the index and print what it holds.
    #[command(after_help = AFTER_HELP)]
    Query {
        /// An address (bech32 or base58), a script hash (64 hex digits, as in the Electrum
        /// protocol) or an output script (hex).
        target: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Show at most N entries.
        #[arg(long, value_name = "N", value_parser = parse_limit)]
        limit: Option<usize>,
    },
    /// List every supported COIN and NET with their defaults, then exit.
    Coins,
    /// Send a command to a running Ferrum's admin RPC (the rpc:// service) and print the result.
    ///
    /// The address is the rpc:// entry of SERVICES, from the same configuration the server
    /// uses (command line, environment, config file), or --port on localhost.
    #[command(after_help = AFTER_HELP)]
    Rpc(crate::admin::RpcArgs),
    /// Copy the index, consistently, into DIR (new or empty), to start another replica from.
    ///
    /// With Ferrum running, its admin RPC (the rpc:// entry of SERVICES, or --port) makes the
    /// copy while it serves; otherwise the index is opened and copied here. Hard links where
    /// DIR is on the index's filesystem, copies otherwise. Prints the tip the copy holds.
    #[command(after_help = AFTER_HELP)]
    Snapshot {
        /// Where the copy goes: a new or empty directory.
        dir: PathBuf,
        /// Admin RPC port on localhost (default: the rpc:// entry of SERVICES).
        #[arg(short = 'p', long, value_name = "PORT")]
        port: Option<u16>,
    },
    /// Start a local regtest bitcoind, mine a demo chain and serve it.
    ///
    /// Runs on regtest: NET defaults to regtest here and any other network is an error.
    #[command(after_help = AFTER_HELP)]
    Demo {
        /// Number of blocks to mine.
        #[arg(
            long,
            value_name = "N",
            default_value_t = DEFAULT_DEMO_BLOCKS,
            value_parser = clap::value_parser!(u32).range(1..)
        )]
        blocks: u32,
        /// Directory for the demo's bitcoind data and index (default: a temporary directory).
        #[arg(long, value_name = "PATH")]
        dir: Option<PathBuf>,
    },
}

/// `--limit`: a positive count.
fn parse_limit(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("\"{s}\" is not a positive whole number")),
        Ok(n) => Ok(n),
    }
}

/// Options shared by every subcommand (`global`, so they may come before or after it).
#[derive(Debug, Args)]
pub(crate) struct GlobalOpts {
    /// TOML config file to read; without it no file is read [env: FERRUM_CONFIG]
    ///
    /// Keys are the long option names with '_' for '-', e.g. db_dir = "/data",
    /// daemon_url = "http://user:pass@127.0.0.1:8332/", cache_mb = 2000,
    /// services = "tcp://:50001". Unknown keys are an error.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Configuration"
    )]
    pub config: Option<String>,

    /// Coin to serve [env: COIN] [default: Bitcoin]
    #[arg(long, global = true, value_name = "COIN", help_heading = "Chain and storage",
        long_help = coin_help())]
    pub coin: Option<String>,

    /// Network: mainnet, testnet, testnet4, signet or regtest [env: NET] [default: mainnet]
    #[arg(
        long,
        global = true,
        value_name = "NET",
        help_heading = "Chain and storage"
    )]
    pub net: Option<String>,

    /// Directory of this coin and network's index database [env: DB_DIRECTORY]
    /// [default: ~/.ferrum/<coin>-<net>, e.g. ~/.ferrum/bitcoin-mainnet]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Chain and storage"
    )]
    pub db_dir: Option<String>,

    /// Megabytes of memory for caches, at least 50 [env: CACHE_MB] [default: 1200]
    #[arg(
        long,
        global = true,
        value_name = "MB",
        help_heading = "Chain and storage"
    )]
    pub cache_mb: Option<String>,

    /// Blocks below the tip whose undo records the index keeps; deeper reorgs refetch the stale blocks from bitcoind [env: REORG_LIMIT]
    /// [default: 200 on mainnet, 8000 on test networks, as ElectrumX]
    #[arg(
        long,
        global = true,
        value_name = "BLOCKS",
        help_heading = "Chain and storage"
    )]
    pub reorg_limit: Option<String>,

    /// bitcoind JSON-RPC URLs, comma-separated in failover order [env: DAEMON_URL]
    /// [default: 127.0.0.1:<RPC port of NET> with cookie auth]
    #[arg(long, global = true, value_name = "URLS", help_heading = "Daemon (bitcoind)",
        long_help = daemon_url_help())]
    pub daemon_url: Option<String>,

    /// bitcoind's data directory, where its .cookie file is [env: FERRUM_DAEMON_DIR]
    /// [default: ~/.bitcoin]
    ///
    /// Used for DAEMON_URL entries without user:pass@: the cookie is read from
    /// <daemon-dir>/.cookie on mainnet and <daemon-dir>/<network>/.cookie otherwise
    /// (testnet3, testnet4, signet, regtest).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Daemon (bitcoind)"
    )]
    pub daemon_dir: Option<String>,

    /// bitcoind's cookie file, instead of the one under --daemon-dir [env: FERRUM_COOKIE_FILE]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Daemon (bitcoind)"
    )]
    pub cookie_file: Option<String>,

    /// Fetch blocks over bitcoind's binary REST interface: auto or off
    /// [env: FERRUM_DAEMON_REST] [default: auto]
    ///
    /// auto uses REST (/rest/block, /rest/spenttxouts) when bitcoind answers it (-rest=1) and
    /// JSON-RPC otherwise; off always uses JSON-RPC.
    #[arg(
        long,
        global = true,
        value_name = "MODE",
        help_heading = "Daemon (bitcoind)"
    )]
    pub daemon_rest: Option<String>,

    /// Where the outputs each block spends come from: auto, rest, rpc or raw
    /// [env: FERRUM_BLOCK_SOURCE] [default: auto]
    ///
    /// auto takes the fastest the node offers and logs it: rest (/rest/spenttxouts, Bitcoin
    /// Core 30+ with -rest), rpc (getblock verbosity 3, Core 23+), else raw (raw blocks only;
    /// Ferrum resolves spent outputs from its own index: older Core, altcoin daemons). Forcing
    /// one the node lacks is refused at start.
    #[arg(
        long,
        global = true,
        value_name = "SOURCE",
        help_heading = "Daemon (bitcoind)"
    )]
    pub block_source: Option<String>,

    /// Timeout of one request to bitcoind, in seconds [env: FERRUM_DAEMON_TIMEOUT_SECS]
    /// [default: 30]
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        help_heading = "Daemon (bitcoind)"
    )]
    pub daemon_timeout_secs: Option<String>,

    /// How often to poll bitcoind for new blocks, in milliseconds
    /// [env: DAEMON_POLL_INTERVAL_BLOCKS] [default: 5000]
    #[arg(
        long,
        global = true,
        value_name = "MS",
        help_heading = "Daemon (bitcoind)"
    )]
    pub daemon_poll_interval_blocks: Option<String>,

    /// How often to poll bitcoind's mempool, in milliseconds: an update starts every interval
    /// (right after the previous one if that took longer)
    /// [env: DAEMON_POLL_INTERVAL_MEMPOOL] [default: 5000]
    #[arg(
        long,
        global = true,
        value_name = "MS",
        help_heading = "Daemon (bitcoind)"
    )]
    pub daemon_poll_interval_mempool: Option<String>,

    /// bitcoind's ZMQ hashblock endpoint, to hear of new blocks at once
    /// [env: FERRUM_ZMQ_BLOCK]
    ///
    /// The address given to bitcoind's -zmqpubhashblock, e.g. tcp://127.0.0.1:28332.
    /// Polling (DAEMON_POLL_INTERVAL_BLOCKS) continues as a fallback. Off by default.
    #[arg(
        long,
        global = true,
        value_name = "ENDPOINT",
        help_heading = "Daemon (bitcoind)"
    )]
    pub zmq_block: Option<String>,

    /// Services to listen on, comma-separated protocol://host:port [env: SERVICES]
    /// [default: tcp://127.0.0.1:<Electrum TCP port of NET>,rpc://127.0.0.1:8000]
    #[arg(long, global = true, value_name = "SERVICES", help_heading = "Electrum services",
        long_help = services_help())]
    pub services: Option<String>,

    /// Services to announce to peers, comma-separated protocol://host:port
    /// [env: REPORT_SERVICES] [default: none]
    ///
    /// Protocols tcp, ssl, ws, wss (not rpc); host and port are required and the host must
    /// be reachable by others (no localhost, private or unspecified addresses, unless
    /// --peer-allow-private).
    #[arg(
        long,
        global = true,
        value_name = "SERVICES",
        help_heading = "Electrum services"
    )]
    pub report_services: Option<String>,

    /// Largest response sent to a client, in bytes [env: MAX_SEND] [default: 8100000]
    ///
    /// A larger response becomes error -32600; a script history longer than
    /// (MAX_SEND - 100) / 99 entries is refused with error 10001, as ElectrumX does.
    #[arg(
        long,
        global = true,
        value_name = "BYTES",
        help_heading = "Electrum services"
    )]
    pub max_send: Option<String>,

    /// Largest request line accepted from a client, in bytes [env: MAX_RECV]
    /// [default: 1000000]
    ///
    /// A longer line is dropped and the stream resynchronises at the next newline.
    #[arg(
        long,
        global = true,
        value_name = "BYTES",
        help_heading = "Electrum services"
    )]
    pub max_recv: Option<String>,

    /// File whose text server.banner returns [env: BANNER_FILE]
    ///
    /// $SERVER_VERSION, $SERVER_SUBVERSION, $DAEMON_VERSION, $DAEMON_SUBVERSION and
    /// $DONATION_ADDRESS are replaced. Without it the banner names the server version.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Electrum services"
    )]
    pub banner_file: Option<String>,

    /// Address server.donation_address returns [env: DONATION_ADDRESS] [default: empty]
    #[arg(
        long,
        global = true,
        value_name = "ADDRESS",
        help_heading = "Electrum services"
    )]
    pub donation_address: Option<String>,

    /// TLS certificate chain (PEM) of the ssl and wss services [env: SSL_CERTFILE]
    ///
    /// Required when SERVICES has ssl:// or wss://. The file (and SSL_KEYFILE) is watched:
    /// a changed certificate is used for new connections without dropping sessions.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Electrum services"
    )]
    pub ssl_certfile: Option<String>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of SSL_CERTFILE [env: SSL_KEYFILE]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Electrum services"
    )]
    pub ssl_keyfile: Option<String>,

    /// Threads parsing blocks during sync [env: FERRUM_INDEX_THREADS]
    /// [default: the number of CPU cores]
    #[arg(long, global = true, value_name = "N", help_heading = "Indexing")]
    pub index_threads: Option<String>,

    /// Log level or tracing filter [env: LOG_LEVEL] [default: info]
    ///
    /// ElectrumX's Python level names work, in any case: CRITICAL, ERROR, WARNING, INFO, DEBUG
    /// (NOTSET means trace). So do tracing's error, warn, info, debug, trace and off, and
    /// tracing filter directives such as "info,ferrum::sync=debug".
    #[arg(long, global = true, value_name = "LEVEL", help_heading = "Logging")]
    pub log_level: Option<String>,

    /// Allow the admin RPC (rpc:// in SERVICES) on a non-loopback address
    /// [env: FERRUM_ADMIN_ALLOW_REMOTE=true|false]
    ///
    /// The admin RPC has no authentication: anyone who reaches it can stop the server or
    /// disconnect clients. Without this option a non-loopback rpc:// host is refused at start-up.
    #[arg(long, global = true, help_heading = "Electrum services")]
    pub admin_allow_remote: bool,

    /// Serve daemon.passthrough: clients may call bitcoind's read-only RPCs (getblock,
    /// getrawtransaction, getmempoolentry, estimatesmartfee, ...) through Ferrum
    /// [env: FERRUM_DAEMON_PASSTHROUGH=true|false]
    ///
    /// Off by default: for private servers. Methods that change anything or cost the node a
    /// full scan (sendrawtransaction, stop, gettxoutsetinfo, ...) are refused even when on.
    #[arg(long, global = true, help_heading = "Electrum services")]
    pub daemon_passthrough: bool,

    /// Log JSON lines instead of text [env: FERRUM_LOG_JSON=true|false]
    #[arg(long, global = true, help_heading = "Logging")]
    pub log_json: bool,

    /// Hide client IP addresses in logs, as xx.xx.xx.xx:xx [env: ANON_LOGS=true|false]
    #[arg(long, global = true, help_heading = "Logging")]
    pub anon_logs: bool,

    /// Log a summary of the sessions every SECS seconds; 0 turns it off [env: LOG_SESSIONS]
    /// [default: 3600]
    #[arg(long, global = true, value_name = "SECS", help_heading = "Logging")]
    pub log_sessions: Option<String>,

    /// Serve Prometheus metrics on http://ADDRESS/metrics [env: FERRUM_METRICS]
    /// [default: off]
    ///
    /// ADDRESS is host:port, or a port alone for 127.0.0.1 (loopback). Any other host, such as
    /// 0.0.0.0, exposes the metrics to the network: only give one explicitly.
    #[arg(long, global = true, value_name = "ADDRESS", help_heading = "Logging")]
    pub metrics: Option<String>,

    #[command(flatten)]
    pub limits: super::limits::LimitOpts,

    #[command(flatten)]
    pub peers: super::peers::PeerOpts,

    #[command(flatten)]
    pub fleet: super::fleet::FleetOpts,

    #[command(flatten)]
    pub silent: super::silent::SilentOpts,
}

impl GlobalOpts {
    /// The raw command-line value of an option, if given.
    pub(crate) fn value(&self, opt: &Opt) -> Option<String> {
        let value = match opt.key {
            "config" => &self.config,
            "coin" => &self.coin,
            "net" => &self.net,
            "db_dir" => &self.db_dir,
            "cache_mb" => &self.cache_mb,
            "reorg_limit" => &self.reorg_limit,
            "daemon_url" => &self.daemon_url,
            "daemon_dir" => &self.daemon_dir,
            "cookie_file" => &self.cookie_file,
            "daemon_rest" => &self.daemon_rest,
            "block_source" => &self.block_source,
            "daemon_timeout_secs" => &self.daemon_timeout_secs,
            "daemon_poll_interval_blocks" => &self.daemon_poll_interval_blocks,
            "daemon_poll_interval_mempool" => &self.daemon_poll_interval_mempool,
            "zmq_block" => &self.zmq_block,
            "services" => &self.services,
            "report_services" => &self.report_services,
            "max_send" => &self.max_send,
            "max_recv" => &self.max_recv,
            "banner_file" => &self.banner_file,
            "donation_address" => &self.donation_address,
            "ssl_certfile" => &self.ssl_certfile,
            "ssl_keyfile" => &self.ssl_keyfile,
            "index_threads" => &self.index_threads,
            "log_level" => &self.log_level,
            "log_json" => return self.log_json.then(|| "true".to_string()),
            "admin_allow_remote" => return self.admin_allow_remote.then(|| "true".to_string()),
            "daemon_passthrough" => return self.daemon_passthrough.then(|| "true".to_string()),
            "anon_logs" => return self.anon_logs.then(|| "true".to_string()),
            "log_sessions" => &self.log_sessions,
            "metrics" => &self.metrics,
            key => {
                return self
                    .limits
                    .value(key)
                    .or_else(|| self.peers.value(key))
                    .or_else(|| self.fleet.value(key))
                    .or_else(|| self.silent.value(key));
            }
        };
        value.clone()
    }
}

/// "Bitcoin: mainnet 8332, testnet 18332, ..." for every coin in [`COINS`].
fn per_network(what: impl Fn(&dyn Coin) -> String) -> String {
    let mut out = String::new();
    for (i, coin) in COINS.iter().enumerate() {
        if i == 0 || COINS[i - 1].name() != coin.name() {
            if i > 0 {
                out.push_str("; ");
            }
            out.push_str(coin.name());
            out.push(':');
        } else {
            out.push(',');
        }
        out.push_str(&format!(" {} {}", coin.net(), what(*coin)));
    }
    out
}

fn coin_help() -> String {
    let mut names: Vec<&str> = COINS.iter().map(|c| c.name()).collect();
    names.dedup();
    format!(
        "Coin to serve, as ElectrumX's COIN [env: COIN] [default: Bitcoin]\n\nSupported: {}.",
        names.join(", ")
    )
}

fn daemon_url_help() -> String {
    format!(
        "bitcoind JSON-RPC URLs, comma-separated in failover order [env: DAEMON_URL] \
         [default: 127.0.0.1:<RPC port of NET> with cookie auth]\n\n\
         ElectrumX syntax: http://user:pass@host:port/. The scheme and the port may be left out \
         (default RPC ports: {}); IPv6 hosts go in brackets, e.g. http://u:p@[::1]:8332/; \
         percent-encode special characters in the user and password (%2C for a comma, %40 for \
         @). Without user:pass@ the endpoint uses bitcoind's cookie file (see --daemon-dir, \
         --cookie-file).",
        per_network(|c| c.default_rpc_port().to_string())
    )
}

fn services_help() -> String {
    format!(
        "Services to listen on, comma-separated protocol://host:port [env: SERVICES] \
         [default: tcp://127.0.0.1:<Electrum TCP port of NET>,rpc://127.0.0.1:8000]\n\n\
         Protocols: tcp, ssl, ws, wss and rpc (administration). An empty host means all \
         interfaces (for rpc: localhost); IPv6 hosts go in brackets, e.g. tcp://[::1]:50001. \
         The port is required, except for rpc where it defaults to 8000. Two services on one \
         address are an error. Default Electrum TCP ports: {}.",
        per_network(|c| c.default_electrum_ports().0.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("ferrum").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_option_has_its_flag_and_names_its_env_var_in_help() {
        let cmd = Cli::command();
        for opt in OPTIONS.iter().chain([&CONFIG]) {
            assert_eq!(opt.flag, format!("--{}", opt.key.replace('_', "-")));
            let long = &opt.flag[2..];
            let arg = cmd.get_arguments().find(|a| a.get_long() == Some(long));
            let arg = arg.unwrap_or_else(|| panic!("no {}", opt.flag));
            assert!(arg.is_global_set(), "{} is not global", opt.flag);
            for help in [arg.get_help(), arg.get_long_help()].into_iter().flatten() {
                let env = format!("[env: {}", opt.env);
                assert!(
                    help.to_string().contains(&env),
                    "{} help lacks {env}",
                    opt.flag
                );
            }
            let flag = matches!(
                opt.key,
                "log_json"
                    | "admin_allow_remote"
                    | "daemon_passthrough"
                    | "anon_logs"
                    | "force_proxy"
                    | "peer_allow_private"
            );
            let value = if flag { "true" } else { "v" };
            let parsed = if flag {
                parse(&[opt.flag])
            } else {
                parse(&[opt.flag, value])
            };
            assert_eq!(
                parsed.opts.value(opt).as_deref(),
                Some(value),
                "{}",
                opt.flag
            );
        }
        assert_eq!(parse(&[]).opts.value(CACHE_MB), None);
    }

    #[test]
    fn global_options_work_before_and_after_subcommands() {
        for args in [
            &["--net", "regtest", "query", "bc1q"][..],
            &["query", "bc1q", "--net", "regtest"][..],
            &["query", "--net", "regtest", "bc1q"][..],
        ] {
            let cli = parse(args);
            assert_eq!(cli.opts.net.as_deref(), Some("regtest"));
            assert!(matches!(cli.command, Some(Sub::Query { ref target, .. }) if target == "bc1q"));
        }
        let cli = parse(&["demo", "--log-json", "--blocks", "7"]);
        assert!(cli.opts.log_json);
        assert!(matches!(
            cli.command,
            Some(Sub::Demo {
                blocks: 7,
                dir: None
            })
        ));
    }

    #[test]
    fn subcommand_arguments_are_checked() {
        let err = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("ferrum").chain(args.iter().copied())).unwrap_err()
        };
        assert!(
            err(&["query", "x", "--limit", "0"])
                .to_string()
                .contains("--limit")
        );
        assert!(err(&["query"]).to_string().contains("<TARGET>"));
        assert!(
            err(&["demo", "--blocks", "0"])
                .to_string()
                .contains("--blocks")
        );
        assert!(err(&["bogus"]).to_string().contains("bogus"));
    }

    #[test]
    fn help_explains_defaults_per_network() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Precedence: command line > environment > config file > default"));
        assert!(help.contains("tcp://127.0.0.1:<Electrum TCP port of NET>,rpc://127.0.0.1:8000"));
        assert!(
            help.contains("Bitcoin: mainnet 50001, testnet 51001"),
            "{help}"
        );
        assert!(help.contains("mainnet 8332"));
        let mut cmd = Cli::command();
        cmd.build(); // propagates the global options into the subcommands
        let query = cmd
            .find_subcommand_mut("query")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            query.contains("DAEMON_URL") && query.contains("<TARGET>"),
            "{query}"
        );
    }
}
