//! Resource-control options ([`crate::limits::Settings`]): their command-line flags (flattened
//! into the global options) and their parsing, with ElectrumX's names and defaults.

use super::{Layers, cli, values};
use crate::limits::{Cidr, Settings, drop_client_regex};
use clap::Args;
use std::time::Duration;

/// The resource-control flags; each also reads the environment variable named in its help.
#[derive(Debug, Default, Args)]
pub(crate) struct LimitOpts {
    /// Most client sessions at once [env: MAX_SESSIONS] [default: 1000]
    ///
    /// Lowered to the open-file limit minus 350 (Ferrum first raises its soft limit to the
    /// hard limit). At the limit the listeners close; they reopen at 95% of it.
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Resource controls"
    )]
    pub max_sessions: Option<String>,
    /// Session cost from which requests are slowed [env: COST_SOFT_LIMIT] [default: 1000]
    #[arg(
        long,
        global = true,
        value_name = "COST",
        help_heading = "Resource controls"
    )]
    pub cost_soft_limit: Option<String>,
    /// Session cost at which it is disconnected with -101 [env: COST_HARD_LIMIT]
    /// [default: 10000]
    ///
    /// 0 for both limits turns cost limiting off.
    #[arg(
        long,
        global = true,
        value_name = "COST",
        help_heading = "Resource controls"
    )]
    pub cost_hard_limit: Option<String>,
    /// Bytes sent or received that cost 1 [env: BANDWIDTH_UNIT_COST] [default: 5000]
    #[arg(
        long,
        global = true,
        value_name = "BYTES",
        help_heading = "Resource controls"
    )]
    pub bandwidth_unit_cost: Option<String>,
    /// Requests a session may have in progress at first [env: INITIAL_CONCURRENT]
    /// [default: 10]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Resource controls"
    )]
    pub initial_concurrent: Option<String>,
    /// Sleep before each request of a session at its hard limit, in milliseconds
    /// [env: REQUEST_SLEEP] [default: 2500]
    #[arg(
        long,
        global = true,
        value_name = "MS",
        help_heading = "Resource controls"
    )]
    pub request_sleep: Option<String>,
    /// Seconds a request may take before it is answered with -102 [env: REQUEST_TIMEOUT]
    /// [default: 30]
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        help_heading = "Resource controls"
    )]
    pub request_timeout: Option<String>,
    /// Seconds without a complete message before a session is closed [env: SESSION_TIMEOUT]
    /// [default: 600]
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        help_heading = "Resource controls"
    )]
    pub session_timeout: Option<String>,
    /// Prefix length grouping IPv4 sessions for cost [env: SESSION_GROUP_BY_SUBNET_IPV4]
    /// [default: 24]
    #[arg(
        long,
        global = true,
        value_name = "BITS",
        help_heading = "Resource controls"
    )]
    pub session_group_by_subnet_ipv4: Option<String>,
    /// Prefix length grouping IPv6 sessions for cost [env: SESSION_GROUP_BY_SUBNET_IPV6]
    /// [default: 48]
    #[arg(
        long,
        global = true,
        value_name = "BITS",
        help_heading = "Resource controls"
    )]
    pub session_group_by_subnet_ipv6: Option<String>,
    /// Regular expression: clients whose server.version name matches it (from the start)
    /// are refused [env: DROP_CLIENT]
    #[arg(
        long,
        global = true,
        value_name = "REGEX",
        help_heading = "Resource controls"
    )]
    pub drop_client: Option<String>,
    /// Addresses or CIDR blocks exempt from cost limits, MAX_SESSIONS and the per-IP cap
    /// [env: FERRUM_ALLOW_IPS] [default: none]
    #[arg(
        long,
        global = true,
        value_name = "CIDRS",
        help_heading = "Resource controls"
    )]
    pub allow_ips: Option<String>,
    /// Most sessions from one IP address, 0 for no cap [env: FERRUM_MAX_SESSIONS_PER_IP]
    /// [default: 50]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Resource controls"
    )]
    pub max_sessions_per_ip: Option<String>,
    /// Addresses or CIDR blocks the per-IP cap does not apply to, or "none"
    /// [env: FERRUM_PER_IP_EXEMPT] [default: 127.0.0.0/8,::1/128]
    #[arg(
        long,
        global = true,
        value_name = "CIDRS",
        help_heading = "Resource controls"
    )]
    pub per_ip_exempt: Option<String>,
}

impl LimitOpts {
    pub(crate) fn value(&self, key: &str) -> Option<String> {
        let v = match key {
            "max_sessions" => &self.max_sessions,
            "cost_soft_limit" => &self.cost_soft_limit,
            "cost_hard_limit" => &self.cost_hard_limit,
            "bandwidth_unit_cost" => &self.bandwidth_unit_cost,
            "initial_concurrent" => &self.initial_concurrent,
            "request_sleep" => &self.request_sleep,
            "request_timeout" => &self.request_timeout,
            "session_timeout" => &self.session_timeout,
            "session_group_by_subnet_ipv4" => &self.session_group_by_subnet_ipv4,
            "session_group_by_subnet_ipv6" => &self.session_group_by_subnet_ipv6,
            "drop_client" => &self.drop_client,
            "allow_ips" => &self.allow_ips,
            "max_sessions_per_ip" => &self.max_sessions_per_ip,
            "per_ip_exempt" => &self.per_ip_exempt,
            _ => return None,
        };
        v.clone()
    }
}

fn prefix(s: &str, max: u8) -> Result<u8, String> {
    match values::at_least::<u8>(s, 0, "bits") {
        Ok(n) if n <= max => Ok(n),
        Ok(n) => Err(format!("must be at most {max}, got {n}")),
        Err(e) => Err(e),
    }
}

/// A list of CIDR blocks, or `none` for an empty one.
pub(super) fn cidrs(s: &str) -> Result<Vec<Cidr>, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    Cidr::parse_list(s)
}

/// Reads the options; ElectrumX's `_check_and_fix_cost_limits` too.
pub(super) fn build(layers: &Layers) -> anyhow::Result<Settings> {
    let d = Settings::default();
    let soft = layers
        .parse(cli::COST_SOFT_LIMIT, |s| {
            values::at_least(s, 0u64, "cost units")
        })?
        .unwrap_or(d.cost_soft_limit);
    let mut hard = layers
        .parse(cli::COST_HARD_LIMIT, |s| {
            values::at_least(s, 0u64, "cost units")
        })?
        .unwrap_or(d.cost_hard_limit);
    if hard < soft {
        anyhow::bail!(
            "COST_HARD_LIMIT must be >= COST_SOFT_LIMIT, got COST_HARD_LIMIT={hard} and \
             COST_SOFT_LIMIT={soft}"
        );
    }
    if hard == soft && soft > 0 {
        tracing::info!("found COST_HARD_LIMIT == COST_SOFT_LIMIT; bumping COST_HARD_LIMIT by 1");
        hard = soft + 1;
    }
    Ok(Settings {
        max_sessions: layers
            .parse(cli::MAX_SESSIONS, |s| values::at_least(s, 1, "sessions"))?
            .unwrap_or(d.max_sessions),
        cost_soft_limit: soft,
        cost_hard_limit: hard,
        bandwidth_unit_cost: layers
            .parse(cli::BANDWIDTH_UNIT_COST, |s| {
                values::at_least(s, 1, "bytes")
            })?
            .unwrap_or(d.bandwidth_unit_cost),
        initial_concurrent: layers
            .parse(cli::INITIAL_CONCURRENT, |s| {
                values::at_least(s, 1, "requests")
            })?
            .unwrap_or(d.initial_concurrent),
        request_sleep: layers
            .parse(cli::REQUEST_SLEEP, |s| {
                values::at_least(s, 0, "milliseconds").map(Duration::from_millis)
            })?
            .unwrap_or(d.request_sleep),
        request_timeout: layers
            .parse(cli::REQUEST_TIMEOUT, |s| {
                values::at_least(s, 1, "seconds").map(Duration::from_secs)
            })?
            .unwrap_or(d.request_timeout),
        session_timeout: layers
            .parse(cli::SESSION_TIMEOUT, |s| {
                values::at_least(s, 1, "seconds").map(Duration::from_secs)
            })?
            .unwrap_or(d.session_timeout),
        group_by_subnet_ipv4: layers
            .parse(cli::GROUP_BY_SUBNET_IPV4, |s| prefix(s, 32))?
            .unwrap_or(d.group_by_subnet_ipv4),
        group_by_subnet_ipv6: layers
            .parse(cli::GROUP_BY_SUBNET_IPV6, |s| prefix(s, 128))?
            .unwrap_or(d.group_by_subnet_ipv6),
        drop_client: layers.parse(cli::DROP_CLIENT, drop_client_regex)?,
        allow_ips: layers.parse(cli::ALLOW_IPS, cidrs)?.unwrap_or(d.allow_ips),
        max_sessions_per_ip: layers
            .parse(cli::MAX_SESSIONS_PER_IP, |s| {
                values::at_least(s, 0, "sessions")
            })?
            .unwrap_or(d.max_sessions_per_ip),
        per_ip_exempt: layers
            .parse(cli::PER_IP_EXEMPT, cidrs)?
            .unwrap_or(d.per_ip_exempt),
    })
}

#[cfg(test)]
mod tests {
    use super::super::load_from;

    fn load(env: &[(&str, &str)]) -> anyhow::Result<crate::limits::Settings> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("HOME".to_string(), "/home/u".to_string())])
            .collect();
        let get = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        load_from(vec!["ferrum".into()], &get).map(|(c, _)| c.limits)
    }

    #[test]
    fn defaults_and_values() {
        let d = load(&[]).unwrap();
        assert_eq!(
            (d.max_sessions, d.cost_soft_limit, d.cost_hard_limit),
            (1000, 1000, 10000)
        );
        assert_eq!(d.max_sessions_per_ip, 50);
        assert_eq!(d.per_ip_exempt.len(), 2);
        let s = load(&[
            ("COST_SOFT_LIMIT", "5"),
            ("COST_HARD_LIMIT", "5"),
            ("SESSION_TIMEOUT", "3"),
            ("FERRUM_ALLOW_IPS", "10.0.0.0/8, ::1"),
            ("FERRUM_PER_IP_EXEMPT", "none"),
            ("DROP_CLIENT", "bad"),
        ])
        .unwrap();
        assert_eq!(s.cost_hard_limit, 6, "ElectrumX bumps an equal hard limit");
        assert_eq!(s.session_timeout.as_secs(), 3);
        assert_eq!(s.allow_ips.len(), 2);
        assert!(s.per_ip_exempt.is_empty());
        assert!(s.drop_client.is_some());
        for bad in [
            ("COST_HARD_LIMIT", "5"),
            ("SESSION_GROUP_BY_SUBNET_IPV4", "33"),
            ("FERRUM_ALLOW_IPS", "10.0.0.0/99"),
            ("DROP_CLIENT", "("),
            ("INITIAL_CONCURRENT", "0"),
        ] {
            let e = load(&[bad]).unwrap_err().to_string();
            assert!(e.contains(bad.0) || e.contains("COST_HARD_LIMIT"), "{e}");
        }
    }
}
