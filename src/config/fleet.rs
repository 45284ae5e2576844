//! Options for running behind a load balancer ([`FleetSettings`]): the proxies whose PROXY
//! protocol headers are believed, and when `GET /health` calls this replica fit to serve.

use super::{Layers, cli, values};
use crate::limits::Cidr;
use clap::Args;
use std::time::Duration;

/// The load-balancer flags; each also reads the environment variable named in its help.
#[derive(Debug, Default, Args)]
pub(crate) struct FleetOpts {
    /// Addresses or CIDR blocks of the load balancers (HAProxy) that send a PROXY protocol
    /// header (v1 or v2) on every connection [env: FERRUM_PROXY_FROM] [default: none]
    ///
    /// Behind one, every client has the proxy's address; with this set, the client's real
    /// address from the header is what the resource controls, the per-IP cap, subnet groups,
    /// the allow-list, logs and the admin RPC see. A connection from a listed address without
    /// a header, or a header from any other address, is refused and logged.
    #[arg(
        long,
        global = true,
        value_name = "CIDRS",
        help_heading = "Load balancers"
    )]
    pub proxy_from: Option<String>,
    /// GET /health answers 503 when the daemon's best block is more than this many blocks
    /// ahead of the served tip [env: FERRUM_HEALTH_MAX_LAG_BLOCKS] [default: 2]
    #[arg(
        long,
        global = true,
        value_name = "BLOCKS",
        help_heading = "Load balancers"
    )]
    pub health_max_lag_blocks: Option<String>,
    /// GET /health answers 503 when the served tip was last confirmed to be the daemon's best
    /// more than this many seconds ago (a stuck or unreachable daemon); at least twice
    /// DAEMON_POLL_INTERVAL_MEMPOOL [env: FERRUM_HEALTH_MAX_LAG_SECS] [default: 60]
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        help_heading = "Load balancers"
    )]
    pub health_max_lag_secs: Option<String>,
}

impl FleetOpts {
    pub(crate) fn value(&self, key: &str) -> Option<String> {
        let v = match key {
            "proxy_from" => &self.proxy_from,
            "health_max_lag_blocks" => &self.health_max_lag_blocks,
            "health_max_lag_secs" => &self.health_max_lag_secs,
            _ => return None,
        };
        v.clone()
    }
}

/// Load-balancer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSettings {
    /// `FERRUM_PROXY_FROM`: who may (and must) send PROXY headers; empty: no one.
    pub proxy_from: Vec<Cidr>,
    /// `FERRUM_HEALTH_MAX_LAG_BLOCKS`.
    pub health_max_lag_blocks: u32,
    /// `FERRUM_HEALTH_MAX_LAG_SECS`.
    pub health_max_lag: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            proxy_from: Vec::new(),
            health_max_lag_blocks: 2,
            health_max_lag: Duration::from_secs(60),
        }
    }
}

pub(super) fn build(layers: &Layers) -> anyhow::Result<FleetSettings> {
    let d = FleetSettings::default();
    Ok(FleetSettings {
        proxy_from: layers
            .parse(cli::PROXY_FROM, super::limits::cidrs)?
            .unwrap_or(d.proxy_from),
        health_max_lag_blocks: layers
            .parse(cli::HEALTH_MAX_LAG_BLOCKS, |s| {
                values::at_least(s, 0, "blocks")
            })?
            .unwrap_or(d.health_max_lag_blocks),
        health_max_lag: layers
            .parse(cli::HEALTH_MAX_LAG_SECS, |s| {
                values::at_least(s, 1, "seconds").map(Duration::from_secs)
            })?
            .unwrap_or(d.health_max_lag),
    })
}

#[cfg(test)]
mod tests {
    use super::FleetSettings;

    fn load(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<FleetSettings> {
        super::super::tests::run(args, env).map(|(c, _)| c.fleet)
    }

    #[test]
    fn defaults_env_and_flags() {
        assert_eq!(load(&[], &[]).unwrap(), FleetSettings::default());
        let s = load(
            &["--health-max-lag-secs", "15"],
            &[
                ("FERRUM_PROXY_FROM", "127.0.0.1, 10.1.0.0/16,::1"),
                ("FERRUM_HEALTH_MAX_LAG_BLOCKS", "0"),
                ("FERRUM_HEALTH_MAX_LAG_SECS", "99"),
            ],
        )
        .unwrap();
        assert_eq!(s.proxy_from.len(), 3);
        assert!(s.proxy_from[1].contains("10.1.200.3".parse().unwrap()));
        assert!(!s.proxy_from[0].contains("127.0.0.2".parse().unwrap()));
        assert_eq!(s.health_max_lag_blocks, 0);
        assert_eq!(
            s.health_max_lag.as_secs(),
            15,
            "the flag wins over the environment"
        );
        for bad in [
            ("FERRUM_PROXY_FROM", "10.0.0.0/33"),
            ("FERRUM_PROXY_FROM", "haproxy.local"),
            ("FERRUM_HEALTH_MAX_LAG_BLOCKS", "-1"),
            ("FERRUM_HEALTH_MAX_LAG_SECS", "0"),
        ] {
            let e = load(&[], &[bad]).unwrap_err().to_string();
            assert!(e.contains(bad.0), "{e}");
        }
    }
}
