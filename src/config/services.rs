//! Electrum services: parsing `SERVICES` and `REPORT_SERVICES` with ElectrumX's rules.
//!
//! A service is `protocol://host:port` with protocol one of `tcp`, `ssl`, `ws`, `wss`, `rpc`.
//! IPv6 hosts are written in brackets. For `SERVICES` an empty host means all interfaces (the
//! `rpc` service's empty host means `localhost`, and its port defaults to 8000); every other
//! port is required. `REPORT_SERVICES` (what peers are told) needs a public host and a port, and
//! cannot contain `rpc`. Two services on the same address are an error, as in ElectrumX.

use crate::peers::AddressKind;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// The default port of the `rpc` service, as in ElectrumX.
pub const DEFAULT_RPC_PORT: u16 = 8000;

/// The protocol of an Electrum service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceProtocol {
    /// Electrum protocol over plain TCP.
    Tcp,
    /// Electrum protocol over TLS.
    Ssl,
    /// Electrum protocol over WebSocket.
    Ws,
    /// Electrum protocol over WebSocket with TLS.
    Wss,
    /// Local administration interface (ElectrumX's `electrumx_rpc`).
    Rpc,
}

impl ServiceProtocol {
    /// Every protocol, in the order ElectrumX documents them.
    pub const ALL: [ServiceProtocol; 5] = [Self::Tcp, Self::Ssl, Self::Ws, Self::Wss, Self::Rpc];

    /// The lowercase name used in service strings, e.g. `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Ssl => "ssl",
            Self::Ws => "ws",
            Self::Wss => "wss",
            Self::Rpc => "rpc",
        }
    }
}

impl fmt::Display for ServiceProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceProtocol {
    type Err = String;

    /// Case-insensitive, as ElectrumX.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown protocol \"{s}\"; expected one of tcp, ssl, ws, wss, rpc")
            })
    }
}

/// One service: a protocol on an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub protocol: ServiceProtocol,
    /// Host name or IP address, IPv6 without brackets; empty means all interfaces.
    pub host: String,
    pub port: u16,
}

impl Service {
    /// The address to bind: the host (all interfaces when empty) and port, for
    /// `TcpListener::bind` (which resolves names).
    pub fn bind_address(&self) -> String {
        match self.host.as_str() {
            "" => format!("0.0.0.0:{}", self.port),
            h if h.contains(':') => format!("[{h}]:{}", self.port),
            h => format!("{h}:{}", self.port),
        }
    }
}

impl fmt::Display for Service {
    /// `tcp://host:port`, IPv6 hosts in brackets, `tcp://:port` for all interfaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.protocol, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.protocol, self.host, self.port)
        }
    }
}

impl FromStr for Service {
    type Err = String;

    /// Parses one service with the rules of `SERVICES`.
    fn from_str(s: &str) -> Result<Self, String> {
        parse_one(s.trim(), Kind::Run)
    }
}

/// Which list is being parsed: the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `SERVICES`: what to listen on.
    Run,
    /// `REPORT_SERVICES`: what to tell peers.
    Report,
    /// `REPORT_SERVICES` with `FERRUM_PEER_ALLOW_PRIVATE`: loopback and private hosts allowed.
    ReportPrivate,
}

/// Parses a comma-separated service list. Empty entries are skipped, so an empty value is an
/// empty list. Errors describe the entry; the caller prefixes the option name.
pub(crate) fn parse_list(value: &str, kind: Kind) -> Result<Vec<Service>, String> {
    let mut services: Vec<Service> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let service = parse_one(entry, kind)?;
        if let Some(other) = services.iter().find(|s| same_address(s, &service)) {
            return Err(format!(
                "{other} and {service} use the same address; give each service its own port"
            ));
        }
        services.push(service);
    }
    Ok(services)
}

fn parse_one(entry: &str, kind: Kind) -> Result<Service, String> {
    let invalid = |why: String| format!("\"{entry}\" is invalid: {why}");
    let Some((protocol, address)) = entry.split_once("://") else {
        return Err(invalid(
            "expected protocol://host:port, e.g. tcp://:50001".into(),
        ));
    };
    let protocol = ServiceProtocol::from_str(protocol).map_err(invalid)?;
    let (host, port) = split_host_port(address).map_err(invalid)?;
    let (host, port) = match (kind, protocol) {
        (Kind::Report | Kind::ReportPrivate, ServiceProtocol::Rpc) => {
            return Err(invalid("rpc cannot be reported to peers".into()));
        }
        (Kind::Run, ServiceProtocol::Rpc) => (
            if host.is_empty() {
                "localhost".to_string()
            } else {
                host
            },
            port.unwrap_or(DEFAULT_RPC_PORT),
        ),
        (Kind::Run, _) => match port {
            Some(port) => (host, port),
            None => {
                return Err(invalid(format!(
                    "a port is required, e.g. {protocol}://:50001"
                )));
            }
        },
        (Kind::Report | Kind::ReportPrivate, _) => match port {
            Some(port) if !host.is_empty() => (host, port),
            _ => {
                return Err(invalid(format!(
                    "reported services need a public host and a port, e.g. \
                     {protocol}://electrum.example.com:50002"
                )));
            }
        },
    };
    if !host.is_empty() && !is_valid_host(&host) {
        return Err(invalid(format!(
            "\"{host}\" is not a valid host name or IP address"
        )));
    }
    if kind == Kind::Run
        && host
            .to_ascii_lowercase()
            .trim_end_matches('.')
            .ends_with(".onion")
    {
        return Err(invalid("cannot listen on an .onion host".into()));
    }
    if matches!(kind, Kind::Report | Kind::ReportPrivate) {
        check_reportable(&host, kind == Kind::ReportPrivate).map_err(invalid)?;
    }
    Ok(Service {
        protocol,
        host,
        port,
    })
}

/// Splits `host:port`, `[v6]:port`, `host`, `:port` or empty. The port is `None` when absent.
pub(crate) fn split_host_port(address: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err("missing \"]\" after an IPv6 address".into());
        };
        if Ipv6Addr::from_str(v6).is_err() {
            return Err(format!("\"[{v6}]\" is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(format!("unexpected \"{after}\" after \"]\"")),
            },
        };
        (v6.to_string(), port)
    } else {
        match address.split_once(':') {
            Some((host, port)) => {
                if port.contains(':') {
                    return Err("IPv6 addresses must be in brackets, e.g. [::1]:50001".into());
                }
                (host.to_string(), Some(port))
            }
            None => (address.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host, port))
}

/// A TCP port, 1 to 65535.
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("\"{s}\" is not a port number (1 to 65535)")),
        Ok(port) => Ok(port),
    }
}

/// An IP address or an RFC 1123 host name (underscores tolerated, as aiorpcx does).
pub(crate) fn is_valid_host(host: &str) -> bool {
    if IpAddr::from_str(host).is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A host peers can reach: the classification peer discovery applies to peers' addresses
/// ([`AddressKind`]), so that nothing we report is then left out of our own listing.
fn check_reportable(host: &str, allow_private: bool) -> Result<(), String> {
    let kind = match IpAddr::from_str(host) {
        Ok(ip) => AddressKind::of_ip(ip),
        Err(_) if host.eq_ignore_ascii_case("localhost") => AddressKind::Loopback,
        Err(_) => AddressKind::DnsName,
    };
    if kind.acceptable(allow_private) {
        Ok(())
    } else {
        Err(format!(
            "{host} is not reachable by peers; report a public host name or IP"
        ))
    }
}

/// Same address: same port and the same host (case-insensitive; IPs compared as addresses).
fn same_address(a: &Service, b: &Service) -> bool {
    a.port == b.port
        && match (IpAddr::from_str(&a.host), IpAddr::from_str(&b.host)) {
            (Ok(x), Ok(y)) => x == y,
            _ => a.host.eq_ignore_ascii_case(&b.host),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(protocol: ServiceProtocol, host: &str, port: u16) -> Service {
        Service {
            protocol,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_electrumx_service_lists() {
        let list = parse_list(
            "tcp://:50001, SSL://0.0.0.0:50002,ws://[::1]:50003,wss://host.example:50004,rpc://,",
            Kind::Run,
        )
        .unwrap();
        assert_eq!(
            list,
            vec![
                svc(ServiceProtocol::Tcp, "", 50001),
                svc(ServiceProtocol::Ssl, "0.0.0.0", 50002),
                svc(ServiceProtocol::Ws, "::1", 50003),
                svc(ServiceProtocol::Wss, "host.example", 50004),
                svc(ServiceProtocol::Rpc, "localhost", 8000),
            ]
        );
        assert_eq!(parse_list("", Kind::Run).unwrap(), vec![]);
        assert_eq!(
            parse_list("rpc://127.0.0.1", Kind::Run).unwrap()[0].port,
            8000
        );
        assert_eq!(
            parse_list("rpc://:9000", Kind::Run).unwrap()[0].host,
            "localhost"
        );
    }

    #[test]
    fn displays_as_service_strings() {
        assert_eq!(
            svc(ServiceProtocol::Tcp, "", 50001).to_string(),
            "tcp://:50001"
        );
        assert_eq!(
            svc(ServiceProtocol::Ws, "::1", 1).to_string(),
            "ws://[::1]:1"
        );
        assert_eq!(
            svc(ServiceProtocol::Rpc, "127.0.0.1", 8000).to_string(),
            "rpc://127.0.0.1:8000"
        );
        let s: Service = "ssl://[2001:db8::1]:50002".parse().unwrap();
        assert_eq!(s.to_string(), "ssl://[2001:db8::1]:50002");
    }

    #[test]
    fn rejects_bad_services_with_reasons() {
        let err = |v: &str| parse_list(v, Kind::Run).unwrap_err();
        assert!(
            err("http://:80").contains("unknown protocol \"http\""),
            "{}",
            err("http://:80")
        );
        assert!(err(":50001").contains("expected protocol://host:port"));
        assert!(err("tcp://host").contains("a port is required"));
        assert!(err("tcp://host:").contains("a port is required"));
        assert!(err("tcp://host:99999").contains("not a port number"));
        assert!(err("tcp://host:0").contains("not a port number"));
        assert!(err("tcp://::1:50001").contains("must be in brackets"));
        assert!(err("tcp://[::1:50001").contains("missing \"]\""));
        assert!(err("tcp://[nope]:1").contains("not an IPv6 address"));
        assert!(err("tcp://bad host:1").contains("not a valid host"));
        assert!(err("tcp://abc.onion:1").contains(".onion"));
        let dup = err("tcp://:50001,ssl://:50001");
        assert!(
            dup.contains("tcp://:50001 and ssl://:50001 use the same address"),
            "{dup}"
        );
        assert!(err("tcp://[::1]:1,ws://[0::1]:1").contains("same address"));
        assert!(parse_list("tcp://:50001,tcp://:50002", Kind::Run).is_ok());
    }

    #[test]
    fn report_services_need_public_addresses() {
        let ok = parse_list(
            "ssl://electrum.example.com:50002,tcp://1.2.3.4:50001",
            Kind::Report,
        );
        assert_eq!(ok.unwrap().len(), 2);
        let err = |v: &str| parse_list(v, Kind::Report).unwrap_err();
        assert!(err("rpc://1.2.3.4:8000").contains("rpc cannot be reported"));
        assert!(err("tcp://:50001").contains("public host"));
        assert!(err("tcp://1.2.3.4").contains("public host"));
        for host in [
            "localhost",
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "0.0.0.0",
            "[fe80::1]",
            // Carrier-grade NAT and broadcast: never peers, so never reported either.
            "100.64.0.1",
            "255.255.255.255",
            "[ff02::1]",
        ] {
            assert!(
                err(&format!("tcp://{host}:1")).contains("not reachable"),
                "{host}"
            );
        }
        // FERRUM_PEER_ALLOW_PRIVATE: local addresses may be reported, unroutable ones not.
        let private = |v: &str| parse_list(v, Kind::ReportPrivate);
        assert!(private("tcp://127.0.0.2:1,tcp://10.0.0.1:1,tcp://localhost:1").is_ok());
        for host in ["0.0.0.0", "100.64.0.1", "255.255.255.255"] {
            let e = private(&format!("tcp://{host}:1")).unwrap_err();
            assert!(e.contains("not reachable"), "{host}: {e}");
        }
        assert!(parse_list("tcp://abc.onion:50001", Kind::Report).is_ok());
    }
}
