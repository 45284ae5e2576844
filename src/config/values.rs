//! Parsers for single option values: numbers, booleans, log levels, REST mode, ZMQ endpoints
//! and paths.
//!
//! Each returns a message that describes the value and the fix but not the option; `config`
//! prefixes the name of the option as the user set it (flag, variable or file key).

use super::services::{is_valid_host, split_host_port};
use crate::daemon::settings::{BlockSourceMode, RestMode};
use std::fmt::Display;
use std::num::{IntErrorKind, ParseIntError};
use std::path::PathBuf;
use std::str::FromStr;

/// A whole number of `unit`s, at least `min`.
pub(crate) fn at_least<T>(s: &str, min: T, unit: &str) -> Result<T, String>
where
    T: FromStr<Err = ParseIntError> + PartialOrd + Display,
{
    match s.parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        Ok(n) => Err(format!("must be at least {min} ({unit}), got {n}")),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => {
            Err(format!("\"{s}\" is too large for a number of {unit}"))
        }
        Err(_) => Err(format!(
            "\"{s}\" is not a whole number of {unit} (at least {min})"
        )),
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
pub(crate) fn boolean(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("\"{s}\" is not a boolean; expected true or false")),
    }
}

/// `auto` or `off`, in any case.
pub(crate) fn rest_mode(s: &str) -> Result<RestMode, String> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(RestMode::Auto),
        "off" => Ok(RestMode::Off),
        _ => Err(format!("\"{s}\" is not a REST mode; expected auto or off")),
    }
}

/// `auto`, `rest`, `rpc` or `raw`, in any case.
pub(crate) fn block_source(s: &str) -> Result<BlockSourceMode, String> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(BlockSourceMode::Auto),
        "rest" => Ok(BlockSourceMode::Rest),
        "rpc" => Ok(BlockSourceMode::Rpc),
        "raw" => Ok(BlockSourceMode::Raw),
        _ => Err(format!(
            "\"{s}\" is not a block source; expected auto, rest, rpc or raw"
        )),
    }
}

/// The tracing level of a Python (ElectrumX) or tracing level name, case-insensitive.
fn level(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "critical" | "fatal" | "error" => "error",
        "warning" | "warn" => "warn",
        "info" => "info",
        "debug" => "debug",
        "notset" | "trace" => "trace",
        "off" => "off",
        _ => return None,
    })
}

const LEVELS_EXPECTED: &str = "expected a level (CRITICAL, ERROR, WARNING, INFO, DEBUG, NOTSET \
    as in ElectrumX, or error, warn, info, debug, trace, off) or a tracing filter such as \
    \"info,ferrum=debug\"";

/// A log level or tracing filter, as a tracing `EnvFilter` directive string. Python level
/// names are mapped, also inside `target=LEVEL` directives; every directive needs a level.
pub(crate) fn log_filter(s: &str) -> Result<String, String> {
    let mut directives = Vec::new();
    for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let mapped = match (level(directive), directive.rsplit_once('=')) {
            (Some(level), _) => level.to_string(),
            (None, Some((target, name))) => match level(name) {
                Some(level) => format!("{}={level}", target.trim()),
                None => {
                    return Err(format!(
                        "\"{name}\" in \"{directive}\" is not a log level; {LEVELS_EXPECTED}"
                    ));
                }
            },
            (None, None) => {
                return Err(format!(
                    "\"{directive}\" is not a log level; {LEVELS_EXPECTED}"
                ));
            }
        };
        directives.push(mapped);
    }
    if directives.is_empty() {
        return Err(format!("\"{s}\" has no level; {LEVELS_EXPECTED}"));
    }
    let filter = directives.join(",");
    tracing_subscriber::EnvFilter::builder()
        .parse(&filter)
        .map_err(|e| format!("\"{s}\" is not a valid tracing filter ({e}); {LEVELS_EXPECTED}"))?;
    Ok(filter)
}

/// A ZMQ endpoint to subscribe to: `tcp://host:port` or `ipc://path`.
pub(crate) fn zmq_endpoint(s: &str) -> Result<String, String> {
    let invalid = |why: &str| {
        format!(
            "\"{s}\" is not a ZMQ endpoint{why}; expected tcp://host:port as given to bitcoind's \
             -zmqpubhashblock, e.g. tcp://127.0.0.1:28332"
        )
    };
    if let Some(path) = s.strip_prefix("ipc://") {
        return if path.is_empty() {
            Err(invalid(" (empty ipc path)"))
        } else {
            Ok(s.into())
        };
    }
    let Some(address) = s.strip_prefix("tcp://") else {
        return Err(invalid(""));
    };
    match split_host_port(address) {
        Ok((host, Some(_))) if is_valid_host(&host) => Ok(s.into()),
        Ok((_, Some(_))) => Err(invalid(" (bad host)")),
        Ok((_, None)) => Err(invalid(" (the port is missing)")),
        Err(why) => Err(invalid(&format!(" ({why})"))),
    }
}

/// A path; a leading `~` or `~/` is the home directory.
pub(crate) fn path(s: &str, home: Option<&str>) -> Result<PathBuf, String> {
    let rest = match s.strip_prefix('~') {
        None => return Ok(PathBuf::from(s)),
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        Some(_) => return Ok(PathBuf::from(s)),
    };
    match home {
        Some(home) if rest.is_empty() => Ok(PathBuf::from(home)),
        Some(home) => Ok(PathBuf::from(home).join(rest)),
        None => Err(format!(
            "\"{s}\" starts with ~ but HOME is not set; give a full path"
        )),
    }
}

/// `--metrics`: `host:port`, `:port` or a port alone (both meaning 127.0.0.1); IPv6 hosts in
/// brackets. Returned as `host:port` for binding.
pub(crate) fn metrics_address(s: &str) -> Result<String, String> {
    let (host, port) = match s.parse::<u16>() {
        Ok(port) => (String::new(), Some(port.to_string())),
        Err(_) => {
            let (host, port) = split_host_port(s)?;
            (host, port.map(|p| p.to_string()))
        }
    };
    let Some(port) = port.filter(|p| p != "0") else {
        return Err(format!(
            "\"{s}\" has no port; expected host:port or a port, e.g. 127.0.0.1:4224"
        ));
    };
    if host.is_empty() {
        return Ok(format!("127.0.0.1:{port}"));
    }
    if !is_valid_host(&host) {
        return Err(format!("\"{host}\" is not a valid host name or IP address"));
    }
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_minimums() {
        assert_eq!(at_least::<usize>("1200", 50, "megabytes"), Ok(1200));
        assert_eq!(
            at_least::<usize>("10", 50, "megabytes").unwrap_err(),
            "must be at least 50 (megabytes), got 10"
        );
        assert!(
            at_least::<u32>("-1", 1, "blocks")
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(
            at_least::<u32>("1e3", 1, "blocks")
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(
            at_least::<u32>("99999999999", 1, "blocks")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn booleans_and_rest_modes() {
        for (s, b) in [
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("Off", false),
            ("0", false),
        ] {
            assert_eq!(boolean(s), Ok(b), "{s}");
        }
        assert!(boolean("maybe").unwrap_err().contains("not a boolean"));
        assert_eq!(rest_mode("AUTO"), Ok(RestMode::Auto));
        assert_eq!(rest_mode("off"), Ok(RestMode::Off));
        assert_eq!(block_source("Raw"), Ok(BlockSourceMode::Raw));
        assert_eq!(block_source("rpc"), Ok(BlockSourceMode::Rpc));
        assert!(
            block_source("undo")
                .unwrap_err()
                .contains("auto, rest, rpc or raw")
        );
        assert!(
            rest_mode("on")
                .unwrap_err()
                .contains("expected auto or off")
        );
    }

    #[test]
    fn log_levels_accept_python_and_tracing_names() {
        for (s, f) in [
            ("INFO", "info"),
            ("Warning", "warn"),
            ("CRITICAL", "error"),
            ("debug", "debug"),
            ("NOTSET", "trace"),
            ("off", "off"),
            ("info, ferrum::sync=DEBUG", "info,ferrum::sync=debug"),
            ("ferrum=warning,rocksdb=off", "ferrum=warn,rocksdb=off"),
        ] {
            assert_eq!(log_filter(s).as_deref(), Ok(f), "{s}");
        }
        assert!(
            log_filter("verbose")
                .unwrap_err()
                .contains("\"verbose\" is not a log level")
        );
        assert!(
            log_filter("ferrum=loud")
                .unwrap_err()
                .contains("\"loud\" in \"ferrum=loud\"")
        );
        assert!(log_filter(",").unwrap_err().contains("has no level"));
    }

    #[test]
    fn zmq_endpoints() {
        assert_eq!(
            zmq_endpoint("tcp://127.0.0.1:28332").as_deref(),
            Ok("tcp://127.0.0.1:28332")
        );
        assert!(zmq_endpoint("tcp://[::1]:28332").is_ok());
        assert!(zmq_endpoint("ipc:///tmp/bitcoind.zmq").is_ok());
        assert!(
            zmq_endpoint("127.0.0.1:28332")
                .unwrap_err()
                .contains("not a ZMQ endpoint")
        );
        assert!(
            zmq_endpoint("tcp://127.0.0.1")
                .unwrap_err()
                .contains("port is missing")
        );
        assert!(
            zmq_endpoint("tcp://h:0")
                .unwrap_err()
                .contains("not a port number")
        );
        assert!(
            zmq_endpoint("ipc://")
                .unwrap_err()
                .contains("empty ipc path")
        );
    }

    #[test]
    fn paths_expand_home() {
        assert_eq!(path("/data", None), Ok(PathBuf::from("/data")));
        assert_eq!(
            path("~/x/y", Some("/home/u")),
            Ok(PathBuf::from("/home/u/x/y"))
        );
        assert_eq!(path("~", Some("/home/u")), Ok(PathBuf::from("/home/u")));
        assert_eq!(path("~bob/x", Some("/home/u")), Ok(PathBuf::from("~bob/x")));
        assert!(path("~/x", None).unwrap_err().contains("HOME is not set"));
    }
}
