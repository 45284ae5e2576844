//! Peer hosts and addresses: what a peer's host may be and which addresses count as public.
//!
//! A [`Host`] is a validated, lower-case DNS name, IPv4 or IPv6 literal (without brackets) or
//! v3 `.onion` name; [`AddressKind`] classifies one (loopback, private, link-local,
//! unspecified, unroutable, public, onion); [`Bucket`] groups addresses by subnet the way
//! ElectrumX's `Peer.bucket_for_internal_purposes` and `bucket_for_external_interface`
//! (`electrumx/lib/peer.py`) do. Pure functions: no DNS, no I/O.

use crate::limits::net::{canonical, is_private};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Longest host name accepted (RFC 1035's 253 characters without the trailing dot).
pub const MAX_HOST_LEN: usize = 253;

/// Length of the base32 label of a v3 onion service name (Tor no longer serves v2 names).
const ONION_V3_LEN: usize = 56;

/// A peer's host: lower case, no trailing dot, IPv6 without brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Host(String);

/// Why a host was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Empty, too long, or not a host name, IP address or v3 onion name.
    #[error("{0:?} is not a valid host name, IP address or v3 .onion name")]
    Invalid(String),
}

impl Host {
    /// Validates and normalises a host as a peer sends it.
    pub fn parse(s: &str) -> Result<Host, HostError> {
        let invalid = || HostError::Invalid(s.chars().take(80).collect());
        if s.is_empty() || s.len() > MAX_HOST_LEN + 2 {
            return Err(invalid());
        }
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = IpAddr::from_str(bare) {
            return Ok(Host(ip.to_string()));
        }
        let name = bare.strip_suffix('.').unwrap_or(bare).to_ascii_lowercase();
        if !is_valid_name(&name) {
            return Err(invalid());
        }
        if let Some(rest) = name.strip_suffix(".onion") {
            let label = rest.rsplit('.').next().unwrap_or(rest);
            let base32 = |b: u8| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b);
            if label.len() != ONION_V3_LEN || !label.bytes().all(base32) {
                return Err(invalid());
            }
        }
        Ok(Host(name))
    }

    /// The host as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        IpAddr::from_str(&self.0).ok()
    }

    /// Whether this is a Tor onion service name.
    pub fn is_onion(&self) -> bool {
        self.0.ends_with(".onion")
    }

    /// What kind of address the host names, as far as can be told without DNS.
    pub fn kind(&self) -> AddressKind {
        match self.ip() {
            Some(ip) => AddressKind::of_ip(ip),
            None if self.is_onion() => AddressKind::Onion,
            None if self.0 == "localhost" || self.0.ends_with(".localhost") => {
                AddressKind::Loopback
            }
            None => AddressKind::DnsName,
        }
    }

    /// The last two labels (`example.com` of `a.b.example.com`), ElectrumX's domain bucket.
    pub fn second_level_domain(&self) -> String {
        let labels: Vec<&str> = self.0.rsplit('.').take(2).collect();
        labels.into_iter().rev().collect::<Vec<_>>().join(".")
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Host {
    type Error = HostError;
    fn try_from(s: String) -> Result<Host, HostError> {
        Host::parse(&s)
    }
}

impl From<Host> for String {
    fn from(h: Host) -> String {
        h.0
    }
}

/// An RFC 1123 name whose last label is not all digits (underscores tolerated, as aiorpcx's
/// `is_valid_hostname` does).
fn is_valid_name(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    !name.is_empty()
        && name.len() <= MAX_HOST_LEN
        && name.split('.').all(label_ok)
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// What an address is, for deciding whether it may be a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// A Tor onion service.
    Onion,
    /// A DNS name; its addresses are known only once resolved.
    DnsName,
    /// A globally routable address.
    Public,
    /// 127.0.0.0/8, ::1, `localhost`.
    Loopback,
    /// RFC 1918, unique-local (fc00::/7) and the other ranges Python's `is_private` names.
    Private,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// 0.0.0.0, ::.
    Unspecified,
    /// Multicast, broadcast, shared (100.64.0.0/10): never a server.
    Unroutable,
}

impl AddressKind {
    /// Classifies an address; IPv4-mapped IPv6 addresses are classified as IPv4.
    pub fn of_ip(ip: IpAddr) -> AddressKind {
        let ip = canonical(ip);
        if ip.is_unspecified() {
            return AddressKind::Unspecified;
        }
        if ip.is_loopback() {
            return AddressKind::Loopback;
        }
        match ip {
            IpAddr::V4(v4) if v4.is_link_local() => return AddressKind::LinkLocal,
            IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => {
                return AddressKind::LinkLocal;
            }
            _ => {}
        }
        if ip.is_multicast() || is_shared(ip) || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return AddressKind::Unroutable;
        }
        if is_private(ip) {
            return AddressKind::Private;
        }
        AddressKind::Public
    }

    /// Loopback, private or link-local: a peer only with `FERRUM_PEER_ALLOW_PRIVATE`.
    pub fn is_local(self) -> bool {
        matches!(self, Self::Loopback | Self::Private | Self::LinkLocal)
    }

    /// Whether a peer with such an address may be kept: public ones, names and onions always,
    /// local ones only when allowed, unspecified and unroutable ones never.
    pub fn acceptable(self, allow_private: bool) -> bool {
        match self {
            Self::Onion | Self::DnsName | Self::Public => true,
            Self::Loopback | Self::Private | Self::LinkLocal => allow_private,
            Self::Unspecified | Self::Unroutable => false,
        }
    }
}

/// 100.64.0.0/10, carrier-grade NAT: neither private nor global for Python's `ipaddress`.
fn is_shared(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if (u32::from(v4) & 0xffc0_0000) == 0x6440_0000)
}

/// A subnet bucket of peers (onion peers share one, peers of unknown address another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// Every onion peer.
    Onion,
    /// Peers whose address is not known yet.
    Unknown,
    /// An IPv4 network address.
    V4(Ipv4Addr),
    /// An IPv6 network address.
    V6(Ipv6Addr),
}

impl Bucket {
    /// The bucket of an onion flag and address, with IPv4 and IPv6 prefix lengths.
    fn of(onion: bool, ip: Option<IpAddr>, v4_prefix: u32, v6_prefix: u32) -> Bucket {
        if onion {
            return Bucket::Onion;
        }
        match ip.map(canonical) {
            None => Bucket::Unknown,
            Some(IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - v4_prefix).unwrap_or(0);
                Bucket::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            Some(IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - v6_prefix).unwrap_or(0);
                Bucket::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    /// ElectrumX's `bucket_for_internal_purposes`: the address itself (IPv4) or its /64 (IPv6).
    /// Two good peers in one such bucket are duplicates.
    pub fn internal(onion: bool, ip: Option<IpAddr>) -> Bucket {
        Bucket::of(onion, ip, 32, 64)
    }

    /// ElectrumX's `bucket_for_external_interface`: the /16 (IPv4) or /56 (IPv6) from which
    /// `server.peers.subscribe` lists at most two peers.
    pub fn external(onion: bool, ip: Option<IpAddr>) -> Bucket {
        Bucket::of(onion, ip, 16, 56)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONION: &str = "v7gtzf7nua6hdmb2wtqaqioqmesdb4xrlly4zwr7bvayxv2bpg665pqd.onion";

    fn kind(s: &str) -> AddressKind {
        Host::parse(s).unwrap().kind()
    }

    #[test]
    fn hosts_are_validated_and_normalised() {
        assert_eq!(
            Host::parse("Electrum.Example.COM.").unwrap().as_str(),
            "electrum.example.com"
        );
        assert_eq!(
            Host::parse("[2001:DB8::1]").unwrap().as_str(),
            "2001:db8::1"
        );
        assert_eq!(
            Host::parse("2001:db8:0::1").unwrap().as_str(),
            "2001:db8::1"
        );
        assert_eq!(
            Host::parse("5.9.83.108").unwrap().ip(),
            Some("5.9.83.108".parse().unwrap())
        );
        assert!(Host::parse(ONION).unwrap().is_onion());
        assert!(Host::parse(&format!("sub.{ONION}")).is_ok());
        for bad in [
            "",
            "-bad.example.com",
            "bad-.example.com",
            "a..b",
            "has space.com",
            "x/y.com",
            "1.2.3.999",
            "example.123",
            "zqktlwi4fecvo6ri.onion", // v2: no longer served by Tor
            "v7gtzf7nua6hdmb2wtqaqioqmesdb4xrlly4zwr7bvayxv2bpg665pq1.onion",
            "[::1",
            "ünïcode.com",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(Host::parse(&long_label).is_err());
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(long_name.len() > MAX_HOST_LEN && Host::parse(&long_name).is_err());
        let huge = "a".repeat(1_000_000);
        assert!(Host::parse(&huge).is_err());
    }

    #[test]
    fn addresses_are_classified() {
        use AddressKind::*;
        for (host, expected) in [
            ("8.8.8.8", Public),
            ("2a01:4f8::1", Public),
            ("127.0.0.2", Loopback),
            ("::1", Loopback),
            ("localhost", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("192.168.1.1", Private),
            ("fd00::1", Private),
            ("169.254.1.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("::", Unspecified),
            ("224.0.0.1", Unroutable),
            ("ff02::1", Unroutable),
            ("255.255.255.255", Unroutable),
            ("100.64.0.1", Unroutable),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:8.8.8.8", Public),
            ("electrum.example.com", DnsName),
            (ONION, Onion),
        ] {
            assert_eq!(kind(host), expected, "{host}");
        }
        assert!(Loopback.acceptable(true) && !Loopback.acceptable(false));
        assert!(!Unspecified.acceptable(true) && !Unroutable.acceptable(true));
        assert!(Public.acceptable(false) && Onion.acceptable(false) && DnsName.acceptable(false));
    }

    #[test]
    fn buckets_group_subnets() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            Bucket::external(false, ip("1.2.3.4")),
            Bucket::external(false, ip("1.2.200.9"))
        );
        assert_ne!(
            Bucket::external(false, ip("1.2.3.4")),
            Bucket::external(false, ip("1.3.3.4"))
        );
        assert_eq!(
            Bucket::external(false, ip("2001:db8:0:ff::1")),
            Bucket::external(false, ip("2001:db8:0:1::2"))
        );
        assert_ne!(
            Bucket::external(false, ip("2001:db8:0:100::1")),
            Bucket::external(false, ip("2001:db8:0:1::2"))
        );
        assert_ne!(
            Bucket::internal(false, ip("1.2.3.4")),
            Bucket::internal(false, ip("1.2.3.5"))
        );
        assert_eq!(
            Bucket::internal(false, ip("2001:db8::1")),
            Bucket::internal(false, ip("2001:db8::ffff:2"))
        );
        assert_ne!(
            Bucket::internal(false, ip("2001:db8::1")),
            Bucket::internal(false, ip("2001:db8:0:1::1"))
        );
        assert_eq!(
            Bucket::internal(false, ip("::ffff:1.2.3.4")),
            Bucket::internal(false, ip("1.2.3.4"))
        );
        assert_eq!(Bucket::external(true, ip("1.2.3.4")), Bucket::Onion);
        assert_eq!(Bucket::external(false, None), Bucket::Unknown);
    }

    #[test]
    fn second_level_domains() {
        let sld = |s: &str| Host::parse(s).unwrap().second_level_domain();
        assert_eq!(sld("a.b.example.com"), "example.com");
        assert_eq!(sld("example.com"), "example.com");
        assert_eq!(sld("localhost"), "localhost");
    }
}
