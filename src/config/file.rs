//! The optional TOML config file (`--config` / `FERRUM_CONFIG`).
//!
//! Keys are the long option names with `_` for `-` (`db_dir = "/data"`, `cache_mb = 2000`).
//! Values are turned into the same strings the command line and environment give, so one set
//! of parsers validates every layer: numbers and booleans may be written bare or quoted, and
//! the list options (`daemon_url`, `services`, `report_services`) may also be arrays of
//! strings. Unknown keys are an error that names the key.

use super::cli::{OPTIONS, Opt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The values a config file sets, by key.
#[derive(Debug, Clone)]
pub(crate) struct FileValues {
    pub path: PathBuf,
    values: BTreeMap<&'static str, String>,
}

impl FileValues {
    /// The raw value of an option, if the file sets it.
    pub(crate) fn get(&self, opt: &Opt) -> Option<&str> {
        self.values.get(opt.key).map(String::as_str)
    }
}

/// Reads and checks a config file. Errors say what is wrong; the caller names the option.
pub(crate) fn read(path: &Path) -> Result<FileValues, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file \"{}\": {e}", path.display()))?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<FileValues, String> {
    let shown = path.display();
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| format!("config file \"{shown}\" is not valid TOML: {e}"))?;
    let mut values = BTreeMap::new();
    for (key, value) in &table {
        let Some(opt) = OPTIONS.iter().find(|o| o.key == key.as_str()) else {
            return Err(unknown_key(key, &shown.to_string()));
        };
        let list = matches!(opt.key, "daemon_url" | "services" | "report_services");
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if list => items
                .iter()
                .map(|item| item.as_str())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{key} in \"{shown}\": the array must hold strings only"))?
                .join(","),
            _ => {
                let expected = if list {
                    "a string or an array of strings"
                } else {
                    "a string or a number"
                };
                return Err(format!(
                    "{key} in \"{shown}\": expected {expected}, found a {}",
                    value.type_str()
                ));
            }
        };
        values.insert(opt.key, text);
    }
    Ok(FileValues {
        path: path.to_path_buf(),
        values,
    })
}

fn unknown_key(key: &str, shown: &str) -> String {
    let normalized = key.to_ascii_lowercase().replace('-', "_");
    let hint = OPTIONS
        .iter()
        .find(|o| o.env.eq_ignore_ascii_case(key) || o.key == normalized)
        .map(|o| format!("did you mean {}? ", o.key))
        .unwrap_or_default();
    let keys: Vec<&str> = OPTIONS.iter().map(|o| o.key).collect();
    format!(
        "unknown key \"{key}\" in config file \"{shown}\"; {hint}valid keys: {}",
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cli::{CACHE_MB, DAEMON_URL, LOG_JSON, NET, SERVICES};

    fn parse_ok(text: &str) -> FileValues {
        parse(text, Path::new("/etc/ferrum.toml")).unwrap()
    }
    fn parse_err(text: &str) -> String {
        parse(text, Path::new("/etc/ferrum.toml")).unwrap_err()
    }

    #[test]
    fn reads_values_of_any_natural_type() {
        let file = parse_ok(
            "net = \"regtest\"\ncache_mb = 2000\nlog_json = true\n\
             services = [\"tcp://:50001\", \"rpc://\"]\ndaemon_url = \"http://u:p@h:1/\"\n",
        );
        assert_eq!(file.get(NET), Some("regtest"));
        assert_eq!(file.get(CACHE_MB), Some("2000"));
        assert_eq!(file.get(LOG_JSON), Some("true"));
        assert_eq!(file.get(SERVICES), Some("tcp://:50001,rpc://"));
        assert_eq!(file.get(DAEMON_URL), Some("http://u:p@h:1/"));
        assert_eq!(parse_ok("").get(NET), None);
        assert_eq!(parse_ok("cache_mb = \"300\"").get(CACHE_MB), Some("300"));
    }

    #[test]
    fn unknown_keys_and_bad_types_are_errors() {
        let err = parse_err("dbdir = \"/x\"");
        assert!(
            err.contains("unknown key \"dbdir\" in config file \"/etc/ferrum.toml\""),
            "{err}"
        );
        assert!(err.contains("valid keys: coin, net, db_dir"), "{err}");
        assert!(parse_err("DAEMON_URL = \"x\"").contains("did you mean daemon_url?"));
        assert!(parse_err("db-dir = \"x\"").contains("did you mean db_dir?"));
        assert!(parse_err("config = \"x\"").contains("unknown key \"config\""));
        assert!(parse_err("cache_mb = 1.5").contains("cache_mb in \"/etc/ferrum.toml\": expected"));
        assert!(parse_err("net = [\"a\"]").contains("expected a string or a number"));
        assert!(parse_err("services = [1]").contains("strings only"));
        assert!(parse_err("[daemon]\nurl = 1").contains("unknown key \"daemon\""));
        assert!(parse_err("cache_mb = ").contains("is not valid TOML"));
    }

    #[test]
    fn missing_files_are_reported() {
        let err = read(Path::new("/nonexistent/ferrum.toml")).unwrap_err();
        assert!(
            err.contains("cannot read config file \"/nonexistent/ferrum.toml\""),
            "{err}"
        );
    }
}
