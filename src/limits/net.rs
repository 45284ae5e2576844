//! Addresses for resource controls: CIDR lists (`FERRUM_ALLOW_IPS`, `FERRUM_PER_IP_EXEMPT`),
//! ElectrumX's session group names (`SESSION_GROUP_BY_SUBNET_IPV4/IPV6`, private addresses
//! exempt) and the open-file limit that bounds `MAX_SESSIONS`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address block such as `203.0.113.0/24` or `2001:db8::/32` (a bare address is a /32 or
/// /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("\"{s}\" is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("\"{s}\": the prefix length must be 0 to {max}")),
            },
        };
        Ok(Cidr {
            addr: network(addr, prefix),
            prefix,
        })
    }

    /// Parses a comma-separated list; blank items are skipped.
    pub fn parse_list(s: &str) -> Result<Vec<Cidr>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Cidr::parse)
            .collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && network(ip, self.prefix) == self.addr
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether any block of `list` holds `ip`.
pub fn listed(list: &[Cidr], ip: IpAddr) -> bool {
    list.iter().any(|c| c.contains(ip))
}

/// An IPv4-mapped IPv6 address as IPv4 (a dual-stack listener reports IPv4 peers so).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The first address of the /`prefix` block holding `ip`.
fn network(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// Python's `ipaddress` `is_private` (3.11), which ElectrumX uses to leave an address out of
/// session groups: loopback, RFC 1918, link-local, documentation, reserved and the like.
pub fn is_private(ip: IpAddr) -> bool {
    const V4: &[(u32, u8)] = &[
        (0x0000_0000, 8),  // 0.0.0.0/8
        (0x0a00_0000, 8),  // 10.0.0.0/8
        (0x7f00_0000, 8),  // 127.0.0.0/8
        (0xa9fe_0000, 16), // 169.254.0.0/16
        (0xac10_0000, 12), // 172.16.0.0/12
        (0xc000_0000, 29), // 192.0.0.0/29
        (0xc000_00aa, 31), // 192.0.0.170/31
        (0xc000_0200, 24), // 192.0.2.0/24
        (0xc0a8_0000, 16), // 192.168.0.0/16
        (0xc612_0000, 15), // 198.18.0.0/15
        (0xc633_6400, 24), // 198.51.100.0/24
        (0xcb00_7100, 24), // 203.0.113.0/24
        (0xf000_0000, 4),  // 240.0.0.0/4
        (0xffff_ffff, 32), // 255.255.255.255/32
    ];
    const V6: &[(u128, u8)] = &[
        (1, 128),                     // ::1
        (0, 128),                     // ::
        (0xffff_0000_0000, 96),       // ::ffff:0:0/96
        (0x0100_u128 << 112, 64),     // 100::/64
        (0x2001_u128 << 112, 23),     // 2001::/23
        (0x2001_0db8_u128 << 96, 32), // 2001:db8::/32
        (0x2001_0010_u128 << 96, 28), // 2001:10::/28
        (0xfc00_u128 << 112, 7),      // fc00::/7
        (0xfe80_u128 << 112, 10),     // fe80::/10
    ];
    match ip {
        IpAddr::V4(a) => {
            let a = u32::from(a);
            V4.iter()
                .any(|&(n, p)| a & u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0) == n)
        }
        IpAddr::V6(a) => {
            let a = u128::from(a);
            V6.iter()
                .any(|&(n, p)| a & u128::MAX.checked_shl(128 - u32::from(p)).unwrap_or(0) == n)
        }
    }
}

/// ElectrumX's `_ip_addr_group_name`: the subnet holding `ip` (`203.0.113.0/24`), or None for
/// private addresses, which are in no group.
pub fn group_name(ip: IpAddr, ipv4_prefix: u8, ipv6_prefix: u8) -> Option<String> {
    let ip = canonical(ip);
    if is_private(ip) {
        return None;
    }
    let prefix = if ip.is_ipv4() {
        ipv4_prefix.min(32)
    } else {
        ipv6_prefix.min(128)
    };
    Some(format!("{}/{prefix}", network(ip, prefix)))
}

/// Raises the soft open-file limit to the hard limit (ElectrumX's `_try_raising_rlimit_nofile`)
/// and returns the soft limit in force, None where it cannot be read.
pub fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let soft = lim.rlim_cur;
    if soft < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(
                "raised the open file limit (ulimit -n) from {soft} to {}",
                lim.rlim_max
            );
            return Some(lim.rlim_max);
        }
        tracing::warn!(
            "cannot raise the open file limit (ulimit -n) above {soft}; make sure Ferrum has a \
             large open file limit"
        );
    }
    Some(soft)
}

/// ElectrumX's `sane_max_sessions`: MAX_SESSIONS, lowered so that sessions leave 350 files for
/// the database and the server itself.
pub fn sane_max_sessions(wanted: usize, nofile: Option<u64>) -> usize {
    let Some(n) = nofile else { return wanted };
    let room = usize::try_from(n.saturating_sub(350)).unwrap_or(usize::MAX);
    if room < wanted {
        tracing::warn!(
            "lowered maximum sessions from {wanted} to {room} because the open file limit is {n}"
        );
    }
    wanted.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("203.0.113.7/24").unwrap();
        assert_eq!(c.to_string(), "203.0.113.0/24");
        assert!(c.contains(ip("203.0.113.200")));
        assert!(c.contains(ip("::ffff:203.0.113.1")));
        assert!(!c.contains(ip("203.0.114.1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::2")));
        assert!(Cidr::parse("1.2.3.4/33").is_err());
        assert!(Cidr::parse("nope").is_err());
        assert_eq!(Cidr::parse_list(" 10.0.0.0/8, ,::1 ").unwrap().len(), 2);
    }

    #[test]
    fn groups_as_electrumx() {
        assert_eq!(
            group_name(ip("8.8.4.4"), 24, 48).as_deref(),
            Some("8.8.4.0/24")
        );
        assert_eq!(
            group_name(ip("8.8.4.4"), 32, 48).as_deref(),
            Some("8.8.4.4/32")
        );
        assert_eq!(
            group_name(ip("2a00:1450:4001:81c::200e"), 24, 48).as_deref(),
            Some("2a00:1450:4001::/48")
        );
        for private in [
            "127.0.0.2",
            "10.1.2.3",
            "192.168.1.1",
            "::1",
            "fe80::1",
            "fd00::1",
        ] {
            assert_eq!(group_name(ip(private), 24, 48), None, "{private}");
        }
    }

    #[test]
    fn max_sessions_leave_room_for_files() {
        assert_eq!(sane_max_sessions(1000, Some(1024)), 674);
        assert_eq!(sane_max_sessions(1000, Some(100)), 0);
        assert_eq!(sane_max_sessions(1000, Some(1 << 20)), 1000);
        assert_eq!(sane_max_sessions(1000, None), 1000);
    }
}
