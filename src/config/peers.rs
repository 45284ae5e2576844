//! Peer discovery options ([`crate::peers::PeerSettings`]): their command-line flags (flattened
//! into the global options) and their parsing, with ElectrumX's names and defaults
//! (`electrumx/server/env.py`), plus Ferrum's `FERRUM_PEER_ALLOW_PRIVATE`.

use super::{Layers, cli, services, values};
use crate::chain::Coin;
use crate::peers::{BlacklistSource, Discovery, PeerSettings};
use clap::Args;

/// The peer discovery flags; each also reads the environment variable named in its help.
#[derive(Debug, Default, Args)]
pub(crate) struct PeerOpts {
    /// Peer discovery: on, self or off [env: PEER_DISCOVERY] [default: on]
    ///
    /// on: verify the seed peers and those learnt from them, and list the good ones to
    /// clients. self: list only this server (REPORT_SERVICES) and contact no one. off: list no
    /// one and contact no one.
    #[arg(
        long,
        global = true,
        value_name = "MODE",
        help_heading = "Peer discovery"
    )]
    pub peer_discovery: Option<String>,
    /// Register this server (REPORT_SERVICES) with peers that do not list it
    /// [env: PEER_ANNOUNCE] [default: true]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        help_heading = "Peer discovery"
    )]
    pub peer_announce: Option<String>,
    /// Host of the SOCKS5 proxy (Tor) for .onion peers [env: TOR_PROXY_HOST]
    /// [default: localhost]
    #[arg(
        long,
        global = true,
        value_name = "HOST",
        help_heading = "Peer discovery"
    )]
    pub tor_proxy_host: Option<String>,
    /// Port of the SOCKS5 proxy [env: TOR_PROXY_PORT] [default: probe 9050, 9150 and 1080]
    #[arg(
        long,
        global = true,
        value_name = "PORT",
        help_heading = "Peer discovery"
    )]
    pub tor_proxy_port: Option<String>,
    /// Reach every peer through the proxy, not only .onion ones
    /// [env: FORCE_PROXY=true|false]
    #[arg(long, global = true, help_heading = "Peer discovery")]
    pub force_proxy: bool,
    /// Blacklist of peers: an http(s) URL or a file holding a JSON list of hosts, "*.domain"
    /// and IP addresses [env: BLACKLIST_URL] [default: the coin's, none for test networks]
    ///
    /// Re-read every --blacklist-refresh seconds. An empty value or "none" turns it off.
    #[arg(
        long,
        global = true,
        value_name = "URL|PATH",
        help_heading = "Peer discovery"
    )]
    pub blacklist_url: Option<String>,
    /// Seconds between two reads of the blacklist [env: FERRUM_BLACKLIST_REFRESH]
    /// [default: 600, as ElectrumX]
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        help_heading = "Peer discovery"
    )]
    pub blacklist_refresh: Option<String>,
    /// Let loopback and private addresses be peers (private networks, tests)
    /// [env: FERRUM_PEER_ALLOW_PRIVATE=true|false]
    #[arg(long, global = true, help_heading = "Peer discovery")]
    pub peer_allow_private: bool,
}

impl PeerOpts {
    pub(crate) fn value(&self, key: &str) -> Option<String> {
        let flag = |set: bool| set.then(|| "true".to_string());
        match key {
            "peer_discovery" => self.peer_discovery.clone(),
            "peer_announce" => self.peer_announce.clone(),
            "tor_proxy_host" => self.tor_proxy_host.clone(),
            "tor_proxy_port" => self.tor_proxy_port.clone(),
            "force_proxy" => flag(self.force_proxy),
            "blacklist_url" => self.blacklist_url.clone(),
            "blacklist_refresh" => self.blacklist_refresh.clone(),
            "peer_allow_private" => flag(self.peer_allow_private),
            _ => None,
        }
    }
}

/// `on`, `self` or `off`, in any case.
fn discovery(s: &str) -> Result<Discovery, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" => Ok(Discovery::On),
        "self" => Ok(Discovery::SelfOnly),
        "off" => Ok(Discovery::Off),
        _ => Err(format!("expected on, self or off, got \"{s}\"")),
    }
}

fn proxy_host(s: &str) -> Result<String, String> {
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if services::is_valid_host(bare) {
        Ok(bare.to_string())
    } else {
        Err(format!("\"{s}\" is not a valid host name or IP address"))
    }
}

/// An http(s) URL, a `file://` URL or a path; empty or `none` is no blacklist.
fn blacklist(s: &str, home: Option<&str>) -> Result<Option<BlacklistSource>, String> {
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let rest = &s[s.find("://").map_or(0, |i| i + 3)..];
        if rest.is_empty() || rest.starts_with('/') || s.chars().any(char::is_whitespace) {
            return Err(format!("\"{s}\" is not a valid URL"));
        }
        return Ok(Some(BlacklistSource::Url(s.to_string())));
    }
    if let Some(path) = s.strip_prefix("file://") {
        return values::path(path, home).map(|p| Some(BlacklistSource::File(p)));
    }
    if s.contains("://") {
        return Err(format!(
            "\"{s}\" is neither an http:// or https:// URL nor a file path"
        ));
    }
    values::path(s, home).map(|p| Some(BlacklistSource::File(p)))
}

/// Seconds between blacklist reads: a whole number from 1 to a day.
fn refresh_secs(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of seconds from 1 to 86400, got \"{s}\""
        )),
    }
}

/// Reads the options.
pub(super) fn build(
    layers: &Layers,
    coin: &dyn Coin,
    home: Option<&str>,
) -> anyhow::Result<PeerSettings> {
    let d = PeerSettings::default();
    let blacklist = match layers.get_keep_empty(cli::BLACKLIST_URL) {
        Some(raw) => blacklist(&raw.value, home).map_err(|e| raw.error(e))?,
        None => coin
            .blacklist_url()
            .map(|url| BlacklistSource::Url(url.to_string())),
    };
    Ok(PeerSettings {
        discovery: layers
            .parse(cli::PEER_DISCOVERY, discovery)?
            .unwrap_or(d.discovery),
        announce: layers
            .parse(cli::PEER_ANNOUNCE, values::boolean)?
            .unwrap_or(d.announce),
        tor_proxy_host: layers
            .parse(cli::TOR_PROXY_HOST, proxy_host)?
            .unwrap_or(d.tor_proxy_host),
        tor_proxy_port: layers.parse(cli::TOR_PROXY_PORT, services::parse_port)?,
        force_proxy: layers
            .parse(cli::FORCE_PROXY, values::boolean)?
            .unwrap_or(d.force_proxy),
        blacklist,
        blacklist_refresh: layers
            .parse(cli::BLACKLIST_REFRESH, refresh_secs)?
            .unwrap_or(d.blacklist_refresh),
        allow_private: layers
            .parse(cli::PEER_ALLOW_PRIVATE, values::boolean)?
            .unwrap_or(d.allow_private),
    })
}

#[cfg(test)]
mod tests {
    use super::super::load_from;
    use super::*;
    use std::path::PathBuf;

    fn load(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<PeerSettings> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("HOME".to_string(), "/home/u".to_string())])
            .collect();
        let get = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let args = std::iter::once("ferrum").chain(args.iter().copied());
        load_from(args.map(Into::into).collect(), &get).map(|(c, _)| c.peers)
    }

    #[test]
    fn defaults_follow_electrumx() {
        let d = load(&[], &[]).unwrap();
        assert_eq!(d.discovery, Discovery::On);
        assert!(d.announce && !d.force_proxy && !d.allow_private);
        assert_eq!(
            (d.tor_proxy_host.as_str(), d.tor_proxy_port),
            ("localhost", None)
        );
        assert_eq!(
            d.blacklist,
            Some(BlacklistSource::Url(
                "https://electrum.org/blacklist.json".into()
            ))
        );
        assert_eq!(load(&["--net", "testnet"], &[]).unwrap().blacklist, None);
        assert_eq!(d.blacklist_refresh, 600);
    }

    #[test]
    fn values_from_env_and_flags() {
        let s = load(
            &[
                "--force-proxy",
                "--peer-allow-private",
                "--tor-proxy-port",
                "9150",
            ],
            &[
                ("PEER_DISCOVERY", "SELF"),
                ("PEER_ANNOUNCE", "false"),
                ("TOR_PROXY_HOST", "[::1]"),
                ("BLACKLIST_URL", "~/blacklist.json"),
            ],
        )
        .unwrap();
        assert_eq!(s.discovery, Discovery::SelfOnly);
        assert!(!s.announce && s.force_proxy && s.allow_private);
        assert_eq!(
            (s.tor_proxy_host.as_str(), s.tor_proxy_port),
            ("::1", Some(9150))
        );
        assert_eq!(
            s.blacklist,
            Some(BlacklistSource::File(PathBuf::from(
                "/home/u/blacklist.json"
            )))
        );
        let env = |k: &str, v: &str| load(&[], &[(k, v)]).unwrap();
        assert_eq!(env("PEER_DISCOVERY", "off").discovery, Discovery::Off);
        assert!(env("FERRUM_PEER_ALLOW_PRIVATE", "1").allow_private);
        assert!(env("FORCE_PROXY", "yes").force_proxy);
        assert_eq!(
            env("BLACKLIST_URL", "").blacklist,
            None,
            "empty turns it off"
        );
        assert_eq!(env("BLACKLIST_URL", "none").blacklist, None);
        assert_eq!(
            env("BLACKLIST_URL", "https://example.com/b.json").blacklist,
            Some(BlacklistSource::Url("https://example.com/b.json".into()))
        );
        assert_eq!(env("FERRUM_BLACKLIST_REFRESH", "5").blacklist_refresh, 5);
        let flag = load(&["--blacklist-refresh", "3600"], &[]).unwrap();
        assert_eq!(flag.blacklist_refresh, 3600);
        assert_eq!(
            env("BLACKLIST_URL", "file:///etc/b.json").blacklist,
            Some(BlacklistSource::File(PathBuf::from("/etc/b.json")))
        );
    }

    #[test]
    fn bad_values_name_the_option() {
        let err = |k: &str, v: &str| format!("{:#}", load(&[], &[(k, v)]).unwrap_err());
        assert_eq!(
            err("PEER_DISCOVERY", "x"),
            "PEER_DISCOVERY: expected on, self or off, got \"x\""
        );
        assert!(err("PEER_ANNOUNCE", "maybe").starts_with("PEER_ANNOUNCE: "));
        assert!(err("TOR_PROXY_PORT", "0").starts_with("TOR_PROXY_PORT: "));
        assert!(err("TOR_PROXY_PORT", "65536").starts_with("TOR_PROXY_PORT: "));
        assert!(err("TOR_PROXY_HOST", "bad host").starts_with("TOR_PROXY_HOST: "));
        assert!(err("FORCE_PROXY", "2").starts_with("FORCE_PROXY: "));
        assert!(err("FERRUM_PEER_ALLOW_PRIVATE", "x").starts_with("FERRUM_PEER_ALLOW_PRIVATE: "));
        assert!(err("BLACKLIST_URL", "ftp://x/y").contains("neither an http"));
        assert!(err("BLACKLIST_URL", "https://").contains("not a valid URL"));
        for bad in ["0", "-1", "86401", "ten"] {
            assert!(
                err("FERRUM_BLACKLIST_REFRESH", bad).starts_with("FERRUM_BLACKLIST_REFRESH: "),
                "{bad}"
            );
        }
        let e = format!(
            "{:#}",
            load(&["--peer-discovery", "maybe"], &[]).unwrap_err()
        );
        assert!(e.starts_with("--peer-discovery: "), "{e}");
    }

    #[test]
    fn allow_private_lets_report_services_name_private_hosts() {
        let report = "tcp://127.0.0.2:50001,ssl://10.0.0.5:50002";
        let e = format!(
            "{:#}",
            load(&[], &[("REPORT_SERVICES", report)]).unwrap_err()
        );
        assert!(e.starts_with("REPORT_SERVICES: "), "{e}");
        let env = [
            ("REPORT_SERVICES", report),
            ("FERRUM_PEER_ALLOW_PRIVATE", "true"),
        ];
        assert!(load(&[], &env).unwrap().allow_private);
        let bad = [
            ("REPORT_SERVICES", "rpc://127.0.0.2:8000"),
            ("FERRUM_PEER_ALLOW_PRIVATE", "1"),
        ];
        assert!(load(&[], &bad).is_err(), "rpc is still never reported");
    }
}
