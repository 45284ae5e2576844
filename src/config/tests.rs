//! Tests of `config::load_from`: precedence of the layers, every ElectrumX variable, the
//! Ferrum options, defaults per network and error messages.

use super::*;
use std::collections::HashMap;
use std::io::Write;

const HOME: &str = "/home/u";

/// `load_from` with these arguments and environment (HOME set; `<unset>` removes a variable);
/// shared with the option modules' own tests.
pub(super) fn run(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<(Config, Command)> {
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.entry("HOME".into()).or_insert_with(|| HOME.into());
    vars.retain(|_, v| v != "<unset>");
    let args = std::iter::once("ferrum")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    load_from(args, &|name| vars.get(name).cloned())
}

fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
    match run(args, env) {
        Ok((config, _)) => config,
        Err(e) => panic!("{args:?} {env:?}: {e:#}"),
    }
}

fn error(args: &[&str], env: &[(&str, &str)]) -> String {
    match run(args, env) {
        Ok((config, _)) => panic!("{args:?} {env:?} should fail, got {config:?}"),
        Err(e) => format!("{e:#}"),
    }
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn cookie(path: &str) -> DaemonAuth {
    DaemonAuth::Cookie(PathBuf::from(path))
}

fn endpoint(host: &str, port: u16, auth: DaemonAuth) -> DaemonEndpoint {
    DaemonEndpoint {
        host: host.into(),
        port,
        auth,
    }
}

fn user_pass(user: &str, password: &str) -> DaemonAuth {
    DaemonAuth::UserPass {
        user: user.into(),
        password: password.into(),
    }
}

#[test]
fn defaults() {
    let (c, command) = run(&[], &[]).unwrap();
    assert_eq!(command, Command::Serve);
    assert_eq!((c.coin.name(), c.coin.net()), ("Bitcoin", "mainnet"));
    assert_eq!(c.db_dir, PathBuf::from("/home/u/.ferrum/bitcoin-mainnet"));
    assert_eq!(
        c.daemon.endpoints,
        vec![endpoint(
            "127.0.0.1",
            8332,
            cookie("/home/u/.bitcoin/.cookie")
        )]
    );
    assert_eq!(c.daemon.request_timeout, Duration::from_secs(30));
    assert_eq!(c.daemon.rest, RestMode::Auto);
    assert_eq!(c.cache_mb, 1200);
    assert_eq!(c.reorg_limit, 200);
    assert_eq!(c.log_filter, "info");
    assert!(!c.log_json);
    assert_eq!(
        join(&c.services),
        "tcp://127.0.0.1:50001,rpc://127.0.0.1:8000"
    );
    assert!(c.report_services.is_empty());
    assert_eq!(c.poll_interval_blocks, Duration::from_millis(5000));
    assert_eq!(c.poll_interval_mempool, Duration::from_millis(5000));
    assert_eq!(
        c.index_threads,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    assert_eq!(c.zmq_block_endpoint, None);
}

#[test]
fn defaults_follow_the_network() {
    for (net, dir, port, tcp, cookie_path, reorg) in [
        (
            "testnet",
            "bitcoin-testnet",
            18332,
            51001,
            "/home/u/.bitcoin/testnet3/.cookie",
            8000,
        ),
        (
            "testnet4",
            "bitcoin-testnet4",
            48332,
            51001,
            "/home/u/.bitcoin/testnet4/.cookie",
            8000,
        ),
        (
            "signet",
            "bitcoin-signet",
            38332,
            53001,
            "/home/u/.bitcoin/signet/.cookie",
            8000,
        ),
        (
            "regtest",
            "bitcoin-regtest",
            18443,
            51001,
            "/home/u/.bitcoin/regtest/.cookie",
            8000,
        ),
        (
            "mainnet",
            "bitcoin-mainnet",
            8332,
            50001,
            "/home/u/.bitcoin/.cookie",
            200,
        ),
    ] {
        let c = config(&["--net", net], &[]);
        assert_eq!(c.coin.net(), net);
        assert_eq!(c.db_dir, PathBuf::from(HOME).join(".ferrum").join(dir));
        assert_eq!(
            c.daemon.endpoints,
            vec![endpoint("127.0.0.1", port, cookie(cookie_path))]
        );
        assert_eq!(c.services[0].port, tcp, "{net}");
        assert_eq!(c.reorg_limit, reorg, "{net}");
    }
}

#[test]
fn precedence_is_cli_then_env_then_file_then_default() {
    let file = toml_file("cache_mb = 300\nnet = \"signet\"\ndaemon_url = \"http://f:f@file:1/\"\n");
    let path = file.path().to_str().unwrap();
    let with = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--config", path];
        all.extend_from_slice(args);
        config(&all, env)
    };
    assert_eq!(config(&[], &[]).cache_mb, 1200);
    assert_eq!(with(&[], &[]).cache_mb, 300);
    assert_eq!(with(&[], &[("CACHE_MB", "400")]).cache_mb, 400);
    assert_eq!(
        with(&["--cache-mb", "500"], &[("CACHE_MB", "400")]).cache_mb,
        500
    );
    // An empty value counts as unset: the next layer decides.
    assert_eq!(with(&[], &[("CACHE_MB", "")]).cache_mb, 300);

    assert_eq!(with(&[], &[]).coin.net(), "signet");
    assert_eq!(with(&[], &[("NET", "regtest")]).coin.net(), "regtest");
    assert_eq!(
        with(&["--net", "testnet"], &[("NET", "regtest")])
            .coin
            .net(),
        "testnet"
    );

    assert_eq!(with(&[], &[]).daemon.endpoints[0].host, "file");
    assert_eq!(
        with(&[], &[("DAEMON_URL", "u:p@env")]).daemon.endpoints[0].host,
        "env"
    );
    let c = with(&["--daemon-url", "u:p@cli"], &[("DAEMON_URL", "u:p@env")]);
    assert_eq!(c.daemon.endpoints[0].host, "cli");

    // The config file itself comes from --config or FERRUM_CONFIG.
    assert_eq!(config(&[], &[("FERRUM_CONFIG", path)]).cache_mb, 300);
    let other = toml_file("cache_mb = 600");
    let other_path = other.path().to_str().unwrap();
    assert_eq!(
        config(&["--config", other_path], &[("FERRUM_CONFIG", path)]).cache_mb,
        600
    );
}

#[test]
fn every_electrumx_variable_is_read() {
    let c = config(
        &[],
        &[
            ("COIN", "bitcoin"),
            ("NET", " testnet4 "),
            ("DB_DIRECTORY", "/data/db"),
            ("DAEMON_URL", "http://rpc:secret@10.0.0.2:48332/"),
            ("CACHE_MB", "2000"),
            ("REORG_LIMIT", "1000"),
            ("LOG_LEVEL", "DEBUG"),
            ("SERVICES", "tcp://:51001,ssl://:51002,rpc://"),
            ("REPORT_SERVICES", "ssl://electrum.example.com:51002"),
            ("DAEMON_POLL_INTERVAL_BLOCKS", "1000"),
            ("DAEMON_POLL_INTERVAL_MEMPOOL", "250"),
        ],
    );
    assert_eq!((c.coin.name(), c.coin.net()), ("Bitcoin", "testnet4"));
    assert_eq!(c.db_dir, PathBuf::from("/data/db"));
    assert_eq!(
        c.daemon.endpoints,
        vec![endpoint("10.0.0.2", 48332, user_pass("rpc", "secret"))]
    );
    assert_eq!((c.cache_mb, c.reorg_limit), (2000, 1000));
    assert_eq!(c.log_filter, "debug");
    assert_eq!(
        join(&c.services),
        "tcp://:51001,ssl://:51002,rpc://localhost:8000"
    );
    assert_eq!(join(&c.report_services), "ssl://electrum.example.com:51002");
    assert_eq!(c.poll_interval_blocks, Duration::from_millis(1000));
    assert_eq!(c.poll_interval_mempool, Duration::from_millis(250));
    assert_eq!(
        config(&[], &[("COIN", "BitcoinSegwit")]).coin.name(),
        "Bitcoin"
    );
    assert_eq!(config(&[], &[("LOG_LEVEL", "warning")]).log_filter, "warn");
}

#[test]
fn ferrum_options_from_flags_env_and_file() {
    let c = config(
        &[
            "--daemon-dir",
            "/btc",
            "--daemon-rest",
            "off",
            "--daemon-timeout-secs",
            "5",
            "--log-json",
        ],
        &[
            ("FERRUM_INDEX_THREADS", "3"),
            ("FERRUM_ZMQ_BLOCK", "tcp://127.0.0.1:28332"),
        ],
    );
    assert_eq!(c.daemon.endpoints[0].auth, cookie("/btc/.cookie"));
    assert_eq!(c.daemon.rest, RestMode::Off);
    assert_eq!(c.daemon.request_timeout, Duration::from_secs(5));
    assert!(c.log_json);
    assert_eq!(c.index_threads, 3);
    assert_eq!(
        c.zmq_block_endpoint.as_deref(),
        Some("tcp://127.0.0.1:28332")
    );

    let c = config(
        &[],
        &[
            ("FERRUM_COOKIE_FILE", "~/c/.cookie"),
            ("FERRUM_LOG_JSON", "1"),
            ("FERRUM_DAEMON_REST", "AUTO"),
        ],
    );
    assert_eq!(c.daemon.endpoints[0].auth, cookie("/home/u/c/.cookie"));
    assert!(c.log_json);
    assert_eq!(c.daemon.rest, RestMode::Auto);
    assert!(!config(&[], &[("FERRUM_LOG_JSON", "false")]).log_json);

    let file = toml_file(
        "db_dir = \"/data\"\ndaemon_dir = \"/srv/bitcoin\"\nnet = \"regtest\"\nlog_json = true\n\
         index_threads = 2\nzmq_block = \"tcp://[::1]:28332\"\nlog_level = \"ferrum=debug\"\n\
         services = [\"tcp://:50001\"]\nreport_services = \"\"\n",
    );
    let c = config(&["--config", file.path().to_str().unwrap()], &[]);
    assert_eq!(c.db_dir, PathBuf::from("/data"));
    assert_eq!(
        c.daemon.endpoints[0].auth,
        cookie("/srv/bitcoin/regtest/.cookie")
    );
    assert!(c.log_json);
    assert_eq!(c.index_threads, 2);
    assert_eq!(c.zmq_block_endpoint.as_deref(), Some("tcp://[::1]:28332"));
    assert_eq!(c.log_filter, "ferrum=debug");
    assert_eq!(join(&c.services), "tcp://:50001");
}

#[test]
fn daemon_url_forms() {
    let endpoints = |url: &str, net: &str| {
        config(&["--net", net], &[("DAEMON_URL", url)])
            .daemon
            .endpoints
    };
    assert_eq!(
        endpoints("http://a:b@n1:1/,u:p%2Cw%40rd@n2,[::1]:18443,n4", "regtest"),
        vec![
            endpoint("n1", 1, user_pass("a", "b")),
            endpoint("n2", 18443, user_pass("u", "p,w@rd")),
            endpoint("::1", 18443, cookie("/home/u/.bitcoin/regtest/.cookie")),
            endpoint("n4", 18443, cookie("/home/u/.bitcoin/regtest/.cookie")),
        ]
    );
    assert_eq!(
        endpoints("node", "signet"),
        vec![endpoint(
            "node",
            38332,
            cookie("/home/u/.bitcoin/signet/.cookie")
        )]
    );
    assert_eq!(
        endpoints("node", "testnet")[0].auth,
        cookie("/home/u/.bitcoin/testnet3/.cookie")
    );
    // With user:pass everywhere no cookie is needed, even without HOME for the default dir.
    let c = config(
        &["--db-dir", "/d"],
        &[("HOME", "<unset>"), ("DAEMON_URL", "u:p@h")],
    );
    assert_eq!(
        c.daemon.endpoints,
        vec![endpoint("h", 8332, user_pass("u", "p"))]
    );
    // --cookie-file wins over --daemon-dir.
    let c = config(&["--cookie-file", "/x/.cookie", "--daemon-dir", "/y"], &[]);
    assert_eq!(c.daemon.endpoints[0].auth, cookie("/x/.cookie"));
}

#[test]
fn subcommands() {
    let (_, command) = run(&["sync"], &[]).unwrap();
    assert_eq!(command, Command::Sync);
    let (_, command) = run(&["serve"], &[]).unwrap();
    assert_eq!(command, Command::Serve);
    let (c, command) = run(
        &[
            "query", "bc1qxyz", "--json", "--limit", "5", "--net", "testnet",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        command,
        Command::Query {
            target: "bc1qxyz".into(),
            json: true,
            limit: Some(5)
        }
    );
    assert_eq!(c.coin.net(), "testnet");
    let (c, command) = run(&["demo"], &[]).unwrap();
    assert_eq!(
        command,
        Command::Demo {
            blocks: cli::DEFAULT_DEMO_BLOCKS,
            dir: None
        }
    );
    assert_eq!(c.coin.net(), "regtest");
    let (_, command) = run(
        &[
            "--net", "regtest", "demo", "--blocks", "3", "--dir", "/tmp/d",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        command,
        Command::Demo {
            blocks: 3,
            dir: Some(PathBuf::from("/tmp/d"))
        }
    );
    assert!(
        error(&["demo"], &[("NET", "mainnet")]).starts_with("NET: ferrum demo runs on regtest")
    );
}

/// Arguments, environment, and the start of the expected error.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn other_coins_have_their_own_daemon_directory_and_unknown_ones_get_the_closest() {
    let c = config(&[], &[("COIN", "litecoin")]);
    assert_eq!(c.coin.name(), "Litecoin");
    assert_eq!(
        c.daemon.endpoints,
        vec![endpoint(
            "127.0.0.1",
            9332,
            cookie("/home/u/.litecoin/.cookie")
        )]
    );
    assert_eq!(c.db_dir, PathBuf::from("/home/u/.ferrum/litecoin-mainnet"));
    let e = error(&[], &[("COIN", "Litecion")]);
    assert!(
        e.starts_with(
            "COIN: unknown coin \"Litecion\"; the closest supported are Litecoin mainnet, "
        ),
        "{e}"
    );
    assert!(e.ends_with("(`ferrum coins` lists all)"), "{e}");
    let e = error(&["--coin", "groestl", "--net", "testnet"], &[]);
    assert!(
        e.starts_with(
            "--coin: unknown coin \"groestl\"; the closest supported are Groestlcoin testnet"
        ),
        "{e}"
    );
}

#[test]
fn bad_values_name_the_option() {
    let cases: &[Case] = &[
        (
            &[],
            &[("DAEMON_URL", "htp://x")],
            "DAEMON_URL: \"htp://x\" is not a valid URL; expected http://user:pass@host:port/",
        ),
        (
            &["--daemon-url", "http://u:pw@h:0"],
            &[],
            "--daemon-url: \"http://u:***@h:0\" is not a valid URL",
        ),
        (
            &["--net", "main"],
            &[],
            "--net: unknown network \"main\" for Bitcoin; expected one of mainnet, testnet, testnet4, signet, regtest",
        ),
        (
            &[],
            &[("CACHE_MB", "10")],
            "CACHE_MB: must be at least 50 (megabytes), got 10",
        ),
        (
            &[],
            &[("CACHE_MB", "lots")],
            "CACHE_MB: \"lots\" is not a whole number of megabytes",
        ),
        (
            &[],
            &[("REORG_LIMIT", "0")],
            "REORG_LIMIT: must be at least 1 (blocks), got 0",
        ),
        (
            &[],
            &[("LOG_LEVEL", "verbose")],
            "LOG_LEVEL: \"verbose\" is not a log level",
        ),
        (
            &[],
            &[("SERVICES", "tcp://:1,ssl://:1")],
            "SERVICES: tcp://:1 and ssl://:1 use the same address",
        ),
        (
            &[],
            &[("SERVICES", "http://:80")],
            "SERVICES: \"http://:80\" is invalid: unknown protocol \"http\"",
        ),
        (
            &[],
            &[("SERVICES", "tcp://h")],
            "SERVICES: \"tcp://h\" is invalid: a port is required",
        ),
        (
            &[],
            &[("REPORT_SERVICES", "rpc://1.2.3.4:8000")],
            "REPORT_SERVICES: \"rpc://1.2.3.4:8000\" is invalid: rpc cannot",
        ),
        (
            &[],
            &[("DAEMON_POLL_INTERVAL_BLOCKS", "0")],
            "DAEMON_POLL_INTERVAL_BLOCKS: must be at least 1 (milliseconds)",
        ),
        (
            &[],
            &[("DAEMON_POLL_INTERVAL_MEMPOOL", "x")],
            "DAEMON_POLL_INTERVAL_MEMPOOL: \"x\" is not",
        ),
        (
            &[],
            &[("FERRUM_DAEMON_REST", "on")],
            "FERRUM_DAEMON_REST: \"on\" is not a REST mode",
        ),
        (
            &["--daemon-timeout-secs", "0"],
            &[],
            "--daemon-timeout-secs: must be at least 1 (seconds)",
        ),
        (
            &["--index-threads", "0"],
            &[],
            "--index-threads: must be at least 1 (threads)",
        ),
        (
            &[],
            &[("FERRUM_LOG_JSON", "maybe")],
            "FERRUM_LOG_JSON: \"maybe\" is not a boolean",
        ),
        (
            &["--zmq-block", "28332"],
            &[],
            "--zmq-block: \"28332\" is not a ZMQ endpoint",
        ),
        (
            &[],
            &[("HOME", "<unset>")],
            "DB_DIRECTORY: there is no default because HOME is not set",
        ),
        (
            &["--db-dir", "/d"],
            &[("HOME", "<unset>")],
            "FERRUM_DAEMON_DIR: there is no default because HOME is not set",
        ),
        (
            &["--config", "/nonexistent.toml"],
            &[],
            "--config: cannot read config file \"/nonexistent.toml\"",
        ),
        (
            &[],
            &[("FERRUM_CONFIG", "/nonexistent.toml")],
            "FERRUM_CONFIG: cannot read config file",
        ),
    ];
    for (args, env, expected) in cases {
        let err = error(args, env);
        assert!(
            err.starts_with(expected),
            "{args:?} {env:?}:\n  got {err}\n  want {expected}"
        );
    }
}

#[test]
fn file_errors_name_the_key_and_file() {
    let file = toml_file("cache_mb = 20\n");
    let path = file.path().to_str().unwrap();
    let err = error(&["--config", path], &[]);
    assert_eq!(
        err,
        format!("cache_mb in {path}: must be at least 50 (megabytes), got 20")
    );
    // A valid CLI value hides the bad file value: the file layer is never consulted.
    assert_eq!(
        config(&["--config", path, "--cache-mb", "100"], &[]).cache_mb,
        100
    );

    let file = toml_file("daemon_ur = \"x\"\n");
    let err = error(&["--config", file.path().to_str().unwrap()], &[]);
    assert!(
        err.starts_with("--config: unknown key \"daemon_ur\" in config file"),
        "{err}"
    );
}

#[test]
fn services_lists() {
    assert!(config(&[], &[("SERVICES", "")]).services.is_empty());
    assert!(
        config(&["--services", ""], &[("SERVICES", "tcp://:1")])
            .services
            .is_empty()
    );
    let c = config(
        &["--services", "tcp://[::]:50001, wss://example.com:50004"],
        &[],
    );
    assert_eq!(
        join(&c.services),
        "tcp://[::]:50001,wss://example.com:50004"
    );
    assert_eq!(c.services[0].host, "::");
}

#[test]
fn clap_errors_and_help_come_back_as_clap_errors() {
    for (args, kind) in [
        (&["--help"][..], clap::error::ErrorKind::DisplayHelp),
        (
            &["query", "--help"][..],
            clap::error::ErrorKind::DisplayHelp,
        ),
        (&["--version"][..], clap::error::ErrorKind::DisplayVersion),
        (
            &["--no-such-flag"][..],
            clap::error::ErrorKind::UnknownArgument,
        ),
    ] {
        let err = run(args, &[]).unwrap_err();
        assert_eq!(
            err.downcast_ref::<clap::Error>().map(|e| e.kind()),
            Some(kind),
            "{args:?}"
        );
    }
}

#[test]
fn debug_hides_passwords() {
    let c = config(
        &["--net", "regtest"],
        &[("DAEMON_URL", "http://alice:hunter2@h:1/,h2")],
    );
    let shown = format!("{c:?}");
    assert!(shown.contains("Bitcoin/regtest"), "{shown}");
    assert!(shown.contains("alice:***@h:1"), "{shown}");
    assert!(
        shown.contains("h2:18443 (cookie /home/u/.bitcoin/regtest/.cookie)"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// `contrib/ferrum.toml` lists every option (commented out) and is valid once uncommented.
#[test]
fn example_config_file_lists_every_option() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ferrum.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let uncommented: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')))
        .map(|l| format!("{l}\n"))
        .collect();
    let table: toml::Table = toml::from_str(&uncommented).unwrap();
    for opt in super::cli::OPTIONS {
        assert!(
            table.contains_key(opt.key),
            "contrib/ferrum.toml lacks {}",
            opt.key
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferrum.toml");
    std::fs::write(&file, &uncommented).unwrap();
    super::file::read(&file).unwrap();
}

#[test]
fn metrics_and_log_options() {
    let c = config(&[], &[]);
    assert_eq!(c.metrics, None);
    assert!(!c.anon_logs);
    assert_eq!(c.log_sessions, Duration::from_secs(3600));
    let c = config(
        &["--metrics", "9100", "--anon-logs"],
        &[("LOG_SESSIONS", "0")],
    );
    assert_eq!(c.metrics.as_deref(), Some("127.0.0.1:9100"));
    assert!(c.anon_logs);
    assert_eq!(c.log_sessions, Duration::ZERO);
    let metrics = |v: &str| config(&[], &[("FERRUM_METRICS", v)]).metrics;
    assert_eq!(metrics(":9100").as_deref(), Some("127.0.0.1:9100"));
    assert_eq!(metrics("0.0.0.0:9100").as_deref(), Some("0.0.0.0:9100"));
    assert_eq!(metrics("[::1]:9100").as_deref(), Some("[::1]:9100"));
    assert_eq!(metrics("localhost:9100").as_deref(), Some("localhost:9100"));
    assert!(config(&[], &[("ANON_LOGS", "yes")]).anon_logs);
    assert!(error(&[], &[("FERRUM_METRICS", "host")]).contains("FERRUM_METRICS"));
    assert!(error(&["--metrics", "0"], &[]).contains("--metrics"));
    assert!(error(&[], &[("LOG_SESSIONS", "-1")]).contains("LOG_SESSIONS"));
}
