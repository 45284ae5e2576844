//! Configuration: turns command-line flags, environment variables and an optional TOML file
//! into one validated [`Config`] and the [`Command`] to run.
//!
//! Precedence is command line > environment > config file > defaults, option by option.
//! ElectrumX's environment variables (`COIN`, `NET`, `DB_DIRECTORY`, `DAEMON_URL`, `CACHE_MB`,
//! `REORG_LIMIT`, `LOG_LEVEL`, `SERVICES`, `REPORT_SERVICES`, `DAEMON_POLL_INTERVAL_*`) work
//! unchanged; Ferrum's own ones start with `FERRUM_`. An empty value counts as unset, except for
//! `SERVICES`/`REPORT_SERVICES` where it means no services. Every invalid value fails here, at
//! start-up, with a message naming the option as the user wrote it (`--cache-mb`, `CACHE_MB` or
//! `cache_mb in <file>`) and the expected form.
//!
//! Files: `cli` (clap definition and help), `file` (TOML), `daemon_url` (`DAEMON_URL`),
//! `services` (`SERVICES`), `limits` (resource controls), `peers` (peer discovery), `values`
//! (the other value parsers).

mod cli;
mod daemon_url;
mod file;
mod fleet;
mod limits;
mod peers;
mod services;
mod silent;
mod values;

pub use fleet::FleetSettings;
pub use services::{Service, ServiceProtocol};
pub use silent::SilentSettings;

use crate::chain::{COINS, Coin};
use crate::daemon::settings::{
    BlockSourceMode, DaemonAuth, DaemonEndpoint, DaemonSettings, RestMode,
};
use anyhow::{Context, anyhow, bail};
use clap::Parser;
use cli::Opt;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Index the chain, follow the tip (and later serve clients). The default when no subcommand.
    Serve,
    /// Index up to the daemon's current tip, then exit (benchmarks, scripts).
    Sync,
    /// Compact the index now, then exit.
    Compact,
    /// `ferrum query <TARGET> [--json] [--limit N]`: TARGET is an address (bech32/base58), a
    /// scripthash (64 hex) or a script (hex).
    Query {
        target: String,
        json: bool,
        limit: Option<usize>,
    },
    /// `ferrum demo [--blocks N] [--dir PATH]`: start a local regtest bitcoind, mine a demo
    /// chain, serve it. The configuration's coin is then always a regtest one.
    Demo { blocks: u32, dir: Option<PathBuf> },
    /// `ferrum rpc [--port N] <COMMAND> [ARGS]`: one admin RPC request.
    Rpc(crate::admin::RpcArgs),
    /// `ferrum snapshot [--port N] DIR`: a consistent copy of the index.
    Snapshot { dir: PathBuf, port: Option<u16> },
}

/// The validated configuration.
#[derive(Clone)]
pub struct Config {
    pub coin: &'static dyn Coin,
    /// The directory holding the RocksDB database for this coin and network.
    pub db_dir: PathBuf,
    pub daemon: DaemonSettings,
    pub cache_mb: usize,
    pub reorg_limit: u32,
    /// A tracing `EnvFilter` directive, e.g. `info` or `info,ferrum=debug`.
    pub log_filter: String,
    pub log_json: bool,
    pub services: Vec<Service>,
    pub report_services: Vec<Service>,
    pub poll_interval_blocks: Duration,
    pub poll_interval_mempool: Duration,
    /// Parse workers for sync; default: available cores.
    pub index_threads: usize,
    /// ZMQ hashblock endpoint (e.g. `tcp://127.0.0.1:28332`), optional.
    pub zmq_block_endpoint: Option<String>,
    /// Largest response to a client (bytes); also bounds history length (ElectrumX's rule).
    pub max_send: usize,
    /// Largest request line from a client (bytes).
    pub max_recv: usize,
    pub banner_file: Option<PathBuf>,
    pub donation_address: String,
    /// `SSL_CERTFILE`: PEM certificate chain of the ssl/wss services.
    pub ssl_certfile: Option<PathBuf>,
    /// `SSL_KEYFILE`: PEM private key of `ssl_certfile`.
    pub ssl_keyfile: Option<PathBuf>,
    /// Allow the admin RPC on a non-loopback address.
    pub admin_allow_remote: bool,
    /// Serve `daemon.passthrough` (read-only bitcoind RPCs).
    pub daemon_passthrough: bool,
    /// Prometheus endpoint, `host:port` (off when None).
    pub metrics: Option<String>,
    /// ElectrumX's ANON_LOGS: client addresses are logged as `xx.xx.xx.xx:xx`.
    pub anon_logs: bool,
    /// ElectrumX's LOG_SESSIONS: period of the session summary; zero turns it off.
    pub log_sessions: Duration,
    /// Resource controls (MAX_SESSIONS, COST_*, SESSION_TIMEOUT, DROP_CLIENT...).
    pub limits: crate::limits::Settings,
    /// Peer discovery (PEER_DISCOVERY, PEER_ANNOUNCE, TOR_PROXY_*, BLACKLIST_URL...).
    pub peers: crate::peers::PeerSettings,
    /// Behind a load balancer (FERRUM_PROXY_FROM, FERRUM_HEALTH_MAX_LAG_*).
    pub fleet: FleetSettings,
    /// Silent payments (FERRUM_SILENT_PAYMENTS, FERRUM_SP_*).
    pub silent_payments: SilentSettings,
}

impl fmt::Debug for Config {
    /// Shows the coin as `Bitcoin/regtest` and never shows daemon passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "coin",
                &format_args!("{}/{}", self.coin.name(), self.coin.net()),
            )
            .field("db_dir", &self.db_dir)
            .field("daemon", &RedactedDaemon(&self.daemon))
            .field("cache_mb", &self.cache_mb)
            .field("reorg_limit", &self.reorg_limit)
            .field("log_filter", &self.log_filter)
            .field("log_json", &self.log_json)
            .field("services", &format_args!("{}", join(&self.services)))
            .field(
                "report_services",
                &format_args!("{}", join(&self.report_services)),
            )
            .field("poll_interval_blocks", &self.poll_interval_blocks)
            .field("poll_interval_mempool", &self.poll_interval_mempool)
            .field("index_threads", &self.index_threads)
            .field("zmq_block_endpoint", &self.zmq_block_endpoint)
            .field("max_send", &self.max_send)
            .field("max_recv", &self.max_recv)
            .field("banner_file", &self.banner_file)
            .field("donation_address", &self.donation_address)
            .field("ssl_certfile", &self.ssl_certfile)
            .field("ssl_keyfile", &self.ssl_keyfile)
            .field("admin_allow_remote", &self.admin_allow_remote)
            .field("daemon_passthrough", &self.daemon_passthrough)
            .field("metrics", &self.metrics)
            .field("anon_logs", &self.anon_logs)
            .field("log_sessions", &self.log_sessions)
            .field("limits", &self.limits)
            .field("peers", &self.peers)
            .field("fleet", &self.fleet)
            .field("silent_payments", &self.silent_payments)
            .finish()
    }
}

fn join(services: &[Service]) -> String {
    services
        .iter()
        .map(Service::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `DaemonSettings` with credentials hidden.
struct RedactedDaemon<'a>(&'a DaemonSettings);

impl fmt::Debug for RedactedDaemon<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoints: Vec<String> = self
            .0
            .endpoints
            .iter()
            .map(|e| match &e.auth {
                DaemonAuth::UserPass { user, .. } => format!("{user}:***@{e}"),
                DaemonAuth::Cookie(path) => format!("{e} (cookie {})", path.display()),
            })
            .collect();
        f.debug_struct("DaemonSettings")
            .field("endpoints", &endpoints)
            .field("request_timeout", &self.0.request_timeout)
            .field("rest", &self.0.rest)
            .finish()
    }
}

/// Parses the process's arguments and environment (and the config file they name).
///
/// On `--help`, `--version` or a command-line syntax error this prints clap's message and
/// exits the process (status 0, resp. 2), as command-line tools do. Otherwise it gives the
/// same result as [`load_from`] with `std::env::args_os()` and `std::env::var`.
pub fn load() -> anyhow::Result<(Config, Command)> {
    let names = cli::OPTIONS
        .iter()
        .chain([&cli::CONFIG])
        .map(|o| o.env)
        .chain(["HOME"]);
    for name in names {
        if std::env::var_os(name).is_some_and(|v| v.to_str().is_none()) {
            bail!("{name}: the value is not valid UTF-8");
        }
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    load_from(args, &|name| std::env::var(name).ok()).map_err(|e| {
        match e.downcast::<clap::Error>() {
            Ok(clap_error) => clap_error.exit(),
            Err(e) => e,
        }
    })
}

/// Whether the command line asks for `ferrum coins`, which needs no configuration (no HOME,
/// no database directory): the caller prints [`crate::chain::coins_table`] and exits.
pub fn coins_requested() -> bool {
    matches!(
        cli::Cli::try_parse_from(std::env::args_os()),
        Ok(cli::Cli {
            command: Some(cli::Sub::Coins),
            ..
        })
    )
}

/// Parses explicit arguments (`args[0]` is the program name) with `env` as the environment.
/// Command-line syntax errors and `--help`/`--version` come back as a `clap::Error` inside the
/// `anyhow::Error`.
pub fn load_from(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(Config, Command)> {
    let cli = cli::Cli::try_parse_from(args)?;
    let command = match cli.command {
        None | Some(cli::Sub::Serve) => Command::Serve,
        Some(cli::Sub::Sync) => Command::Sync,
        Some(cli::Sub::Compact) => Command::Compact,
        Some(cli::Sub::Query {
            target,
            json,
            limit,
        }) => Command::Query {
            target,
            json,
            limit,
        },
        Some(cli::Sub::Demo { blocks, dir }) => Command::Demo { blocks, dir },
        Some(cli::Sub::Rpc(args)) => Command::Rpc(args),
        Some(cli::Sub::Snapshot { dir, port }) => Command::Snapshot { dir, port },
        // Needs no configuration: `main` answers it (`coins_requested`) before any is read.
        Some(cli::Sub::Coins) => bail!("`ferrum coins` reads no configuration"),
    };
    let home = env("HOME").filter(|h| !h.trim().is_empty());
    let mut layers = Layers {
        cli: &cli.opts,
        env,
        file: None,
    };
    if let Some(raw) = layers.get(cli::CONFIG) {
        let path = values::path(&raw.value, home.as_deref()).map_err(|e| raw.error(e))?;
        layers.file = Some(file::read(&path).map_err(|e| raw.error(e))?);
    }
    let config = build(&layers, &command, home.as_deref())?;
    Ok((config, command))
}

/// Where a value came from.
enum Origin {
    Cli,
    Env,
    File(PathBuf),
}

/// A raw value and where it came from, to name the option in errors.
struct Raw {
    value: String,
    opt: &'static Opt,
    origin: Origin,
}

impl Raw {
    /// `--cache-mb: <message>`, `CACHE_MB: <message>` or `cache_mb in <file>: <message>`.
    fn error(&self, message: impl fmt::Display) -> anyhow::Error {
        match &self.origin {
            Origin::Cli => anyhow!("{}: {message}", self.opt.flag),
            Origin::Env => anyhow!("{}: {message}", self.opt.env),
            Origin::File(path) => anyhow!("{} in {}: {message}", self.opt.key, path.display()),
        }
    }
}

/// The three layers, searched in precedence order.
struct Layers<'a> {
    cli: &'a cli::GlobalOpts,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: Option<file::FileValues>,
}

impl Layers<'_> {
    /// The first value set, trimmed; an empty value counts as unset.
    fn get(&self, opt: &'static Opt) -> Option<Raw> {
        self.lookup(opt, false)
    }

    /// The first value set, trimmed, even when empty.
    fn get_keep_empty(&self, opt: &'static Opt) -> Option<Raw> {
        self.lookup(opt, true)
    }

    fn lookup(&self, opt: &'static Opt, keep_empty: bool) -> Option<Raw> {
        let cli = self.cli.value(opt).map(|v| (v, Origin::Cli));
        let env = (self.env)(opt.env).map(|v| (v, Origin::Env));
        let file = self.file.as_ref().and_then(|f| {
            let value = f.get(opt)?.to_string();
            Some((value, Origin::File(f.path.clone())))
        });
        [cli, env, file]
            .into_iter()
            .flatten()
            .map(|(value, origin)| Raw {
                value: value.trim().to_string(),
                opt,
                origin,
            })
            .find(|raw| keep_empty || !raw.value.is_empty())
    }

    /// Parses the option's value if set; errors name the option.
    fn parse<T>(
        &self,
        opt: &'static Opt,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> anyhow::Result<Option<T>> {
        match self.get(opt) {
            Some(raw) => parse(&raw.value).map(Some).map_err(|e| raw.error(e)),
            None => Ok(None),
        }
    }
}

/// ElectrumX's REORG_LIMIT: 200 for Bitcoin mainnet, 8000 for its test networks.
fn default_reorg_limit(coin: &dyn Coin) -> u32 {
    if coin.net() == "mainnet" { 200 } else { 8000 }
}

fn build(layers: &Layers, command: &Command, home: Option<&str>) -> anyhow::Result<Config> {
    let coin = resolve_coin(layers, matches!(command, Command::Demo { .. }))?;

    let db_dir = match layers.get(cli::DB_DIR) {
        Some(raw) => values::path(&raw.value, home).map_err(|e| raw.error(e))?,
        None => PathBuf::from(home.ok_or_else(|| {
            anyhow!(
                "DB_DIRECTORY: there is no default because HOME is not set; set DB_DIRECTORY \
                 or --db-dir"
            )
        })?)
        .join(".ferrum")
        .join(format!(
            "{}-{}",
            coin.name().to_ascii_lowercase(),
            coin.net()
        )),
    };

    let (tcp_port, _) = coin.default_electrum_ports();
    let local = |protocol, port| Service {
        protocol,
        host: "127.0.0.1".into(),
        port,
    };
    let services = match layers.get_keep_empty(cli::SERVICES) {
        Some(raw) => {
            services::parse_list(&raw.value, services::Kind::Run).map_err(|e| raw.error(e))?
        }
        None => vec![
            local(ServiceProtocol::Tcp, tcp_port),
            local(ServiceProtocol::Rpc, services::DEFAULT_RPC_PORT),
        ],
    };
    let peers = peers::build(layers, coin, home)?;
    let fleet = fleet::build(layers)?;
    let report_kind = if peers.allow_private {
        services::Kind::ReportPrivate
    } else {
        services::Kind::Report
    };
    let report_services = match layers.get_keep_empty(cli::REPORT_SERVICES) {
        Some(raw) => services::parse_list(&raw.value, report_kind).map_err(|e| raw.error(e))?,
        None => Vec::new(),
    };

    let millis = |s: &str| values::at_least::<u64>(s, 1, "milliseconds").map(Duration::from_millis);
    let default_threads = std::thread::available_parallelism().map_or(1, usize::from);
    Ok(Config {
        coin,
        db_dir,
        daemon: daemon_settings(layers, coin, home)?,
        cache_mb: layers
            .parse(cli::CACHE_MB, |s| values::at_least(s, 50, "megabytes"))?
            .unwrap_or(1200),
        reorg_limit: layers
            .parse(cli::REORG_LIMIT, |s| values::at_least(s, 1, "blocks"))?
            .unwrap_or_else(|| default_reorg_limit(coin)),
        log_filter: layers
            .parse(cli::LOG_LEVEL, values::log_filter)?
            .unwrap_or_else(|| "info".into()),
        log_json: layers
            .parse(cli::LOG_JSON, values::boolean)?
            .unwrap_or(false),
        services,
        report_services,
        poll_interval_blocks: layers
            .parse(cli::POLL_BLOCKS, millis)?
            .unwrap_or(Duration::from_secs(5)),
        poll_interval_mempool: layers
            .parse(cli::POLL_MEMPOOL, millis)?
            .unwrap_or(Duration::from_secs(5)),
        index_threads: layers
            .parse(cli::INDEX_THREADS, |s| values::at_least(s, 1, "threads"))?
            .unwrap_or(default_threads),
        zmq_block_endpoint: layers.parse(cli::ZMQ_BLOCK, values::zmq_endpoint)?,
        max_send: layers
            .parse(cli::MAX_SEND, |s| values::at_least(s, 350, "bytes"))?
            .unwrap_or(8_100_000),
        max_recv: layers
            .parse(cli::MAX_RECV, |s| values::at_least(s, 100, "bytes"))?
            .unwrap_or(1_000_000),
        banner_file: layers
            .get(cli::BANNER_FILE)
            .filter(|r| !r.value.is_empty())
            .map(|r| PathBuf::from(r.value)),
        donation_address: layers
            .get(cli::DONATION_ADDRESS)
            .map(|r| r.value)
            .unwrap_or_default(),
        ssl_certfile: optional_path(layers, cli::SSL_CERTFILE, home)?,
        ssl_keyfile: optional_path(layers, cli::SSL_KEYFILE, home)?,
        admin_allow_remote: layers
            .parse(cli::ADMIN_ALLOW_REMOTE, values::boolean)?
            .unwrap_or(false),
        daemon_passthrough: layers
            .parse(cli::DAEMON_PASSTHROUGH, values::boolean)?
            .unwrap_or(false),
        metrics: layers.parse(cli::METRICS, values::metrics_address)?,
        anon_logs: layers
            .parse(cli::ANON_LOGS, values::boolean)?
            .unwrap_or(false),
        log_sessions: layers
            .parse(cli::LOG_SESSIONS, |s| {
                values::at_least::<u64>(s, 0, "seconds")
            })?
            .map_or(Duration::from_secs(3600), Duration::from_secs),
        limits: limits::build(layers)?,
        peers,
        fleet,
        silent_payments: silent::build(layers)?,
    })
}

/// A path option; unset or empty is `None`.
fn optional_path(
    layers: &Layers,
    opt: &'static Opt,
    home: Option<&str>,
) -> anyhow::Result<Option<PathBuf>> {
    match layers.get(opt).filter(|r| !r.value.is_empty()) {
        Some(raw) => Ok(Some(
            values::path(&raw.value, home).map_err(|e| raw.error(e))?,
        )),
        None => Ok(None),
    }
}

/// `host:port` of each URL in a `DAEMON_URL`-style list (credentials dropped), for the admin
/// RPC's `daemon_url`.
pub fn daemon_url_hosts(value: &str, coin: &dyn Coin) -> Result<Vec<String>, String> {
    let urls = daemon_url::parse_list(value, coin.default_rpc_port())?;
    Ok(urls
        .into_iter()
        .map(|u| DaemonEndpoint {
            host: u.host,
            port: u.port,
            auth: DaemonAuth::Cookie(PathBuf::new()),
        })
        .map(|e| e.to_string())
        .collect())
}

/// COIN and NET. `ferrum demo` defaults NET to regtest and accepts nothing else.
fn resolve_coin(layers: &Layers, demo: bool) -> anyhow::Result<&'static dyn Coin> {
    let coin_raw = layers.get(cli::COIN);
    let net_raw = layers.get(cli::NET);
    let mut name = coin_raw.as_ref().map_or("Bitcoin", |r| r.value.as_str());
    if name.eq_ignore_ascii_case("BitcoinSegwit") {
        name = "Bitcoin"; // ElectrumX's legacy name
    }
    let Some(known) = COINS.iter().find(|c| c.name().eq_ignore_ascii_case(name)) else {
        let net = net_raw.as_ref().map_or("mainnet", |r| r.value.as_str());
        let closest: Vec<String> = crate::chain::closest(name, net)
            .into_iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let message = format!(
            "unknown coin \"{name}\"; the closest supported are {} (`ferrum coins` lists all)",
            closest.join(", ")
        );
        return Err(option_error(coin_raw.as_ref(), cli::COIN, message));
    };
    let net = net_raw
        .as_ref()
        .map_or(if demo { "regtest" } else { "mainnet" }, |r| {
            r.value.as_str()
        });
    let nets: Vec<&str> = COINS
        .iter()
        .filter(|c| c.name() == known.name())
        .map(|c| c.net())
        .collect();
    let Some(coin) = crate::chain::lookup(known.name(), net) else {
        let message = format!(
            "unknown network \"{net}\" for {}; expected one of {}",
            known.name(),
            nets.join(", ")
        );
        return Err(option_error(net_raw.as_ref(), cli::NET, message));
    };
    if demo && coin.net() != "regtest" {
        let message = format!(
            "ferrum demo runs on regtest, not {}; leave NET unset or set it to regtest",
            coin.net()
        );
        return Err(option_error(net_raw.as_ref(), cli::NET, message));
    }
    Ok(coin)
}

/// An error about an option, named as the user set it, or by its variable when it is unset.
fn option_error(raw: Option<&Raw>, opt: &Opt, message: String) -> anyhow::Error {
    match raw {
        Some(raw) => raw.error(message),
        None => anyhow!("{}: {message}", opt.env),
    }
}

/// DAEMON_URL with cookie fallback, REST mode and timeout.
fn daemon_settings(
    layers: &Layers,
    coin: &'static dyn Coin,
    home: Option<&str>,
) -> anyhow::Result<DaemonSettings> {
    let port = coin.default_rpc_port();
    let urls = match layers.get(cli::DAEMON_URL) {
        Some(raw) => daemon_url::parse_list(&raw.value, port).map_err(|e| raw.error(e))?,
        None => vec![daemon_url::DaemonUrl {
            host: "127.0.0.1".into(),
            port,
            credentials: None,
        }],
    };
    let cookie = if urls.iter().any(|u| u.credentials.is_none()) {
        Some(cookie_path(layers, coin, home)?)
    } else {
        None
    };
    let endpoints = urls
        .into_iter()
        .map(|url| {
            let auth = match (url.credentials, &cookie) {
                (Some((user, password)), _) => DaemonAuth::UserPass { user, password },
                (None, Some(cookie)) => DaemonAuth::Cookie(cookie.clone()),
                (None, None) => {
                    return Err(anyhow!("DAEMON_URL: no credentials and no cookie file"));
                }
            };
            Ok(DaemonEndpoint {
                host: url.host,
                port: url.port,
                auth,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let timeout = layers.parse(cli::DAEMON_TIMEOUT, |s| {
        values::at_least::<u64>(s, 1, "seconds")
    })?;
    let rest = layers
        .parse(cli::DAEMON_REST, values::rest_mode)?
        .unwrap_or(RestMode::Auto);
    let block_source = layers
        .parse(cli::BLOCK_SOURCE, values::block_source)?
        .unwrap_or(BlockSourceMode::Auto);
    if rest == RestMode::Off && block_source == BlockSourceMode::Rest {
        anyhow::bail!(
            "--block-source rest needs REST, but --daemon-rest (FERRUM_DAEMON_REST) is off; \
             choose one"
        );
    }
    Ok(DaemonSettings {
        endpoints,
        request_timeout: Duration::from_secs(timeout.unwrap_or(30)),
        rest,
        block_source,
    })
}

/// `--cookie-file`, else `<daemon-dir>/<network subdir>/.cookie` (daemon-dir: the coin's, e.g.
/// `~/.bitcoin`, `~/.litecoin`).
fn cookie_path(layers: &Layers, coin: &dyn Coin, home: Option<&str>) -> anyhow::Result<PathBuf> {
    if let Some(raw) = layers.get(cli::COOKIE_FILE) {
        return values::path(&raw.value, home).map_err(|e| raw.error(e));
    }
    let dir = match layers.get(cli::DAEMON_DIR) {
        Some(raw) => values::path(&raw.value, home).map_err(|e| raw.error(e))?,
        None => PathBuf::from(home.context(
            "FERRUM_DAEMON_DIR: there is no default because HOME is not set; set \
             FERRUM_DAEMON_DIR (--daemon-dir) or FERRUM_COOKIE_FILE (--cookie-file), or give \
             user:pass@ in DAEMON_URL",
        )?)
        .join(coin.daemon_dir()),
    };
    let subdir = coin.datadir_subdir();
    let dir = if subdir.is_empty() {
        dir
    } else {
        dir.join(subdir)
    };
    Ok(dir.join(".cookie"))
}

#[cfg(test)]
mod tests;
