//! The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy specifies it
//! (`doc/proxy-protocol.txt`): a load balancer in TCP mode sends it first on each connection
//! so that the server learns the client's address, which would otherwise be the proxy's own.
//!
//! Only connections from the addresses in `FERRUM_PROXY_FROM` may carry a header, and they
//! must ([`listen`](super::listen) enforces both). Parsing is strict and bounded: a v1 line is
//! at most [`V1_MAX`] bytes, a v2 header at most 16 + [`V2_MAX_PAYLOAD`]; anything malformed
//! is an error and closes that connection only. Bytes read past the header (a client's first
//! request, a TLS ClientHello) are handed back with it and replayed by [`Prefixed`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The v2 header's first 12 bytes.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The v1 header's first 6 bytes.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included (the specification's worst case: TCP6, 107 bytes).
pub const V1_MAX: usize = 107;
/// The longest v2 payload accepted (addresses and TLVs). HAProxy's own TLVs (SSL details,
/// unique id, ALPN, authority) and cloud load balancers' fit easily; the field's 65,535 would
/// let a misconfigured peer make every connection buffer 64 KiB.
pub const V2_MAX_PAYLOAD: usize = 1024;

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A proxied connection: the client's address and the address it connected to.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// The proxy speaking for itself (v2 `LOCAL`, e.g. a health check; v1 `UNKNOWN`; v2
    /// `PROXY` with an unspecified family): the connection's own address stands.
    Local,
}

/// The result of looking at the first bytes of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Could still be a header: read more.
    Incomplete,
    /// A header of `len` bytes.
    Header(Header, usize),
    /// Not a PROXY header (a client's own first bytes).
    NotProxy,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("PROXY v1: {0}")]
    V1(&'static str),
    #[error("PROXY v2: {0}")]
    V2(&'static str),
    #[error("PROXY v2: payload of {0} bytes (at most {V2_MAX_PAYLOAD})")]
    V2TooLong(usize),
    #[error("the connection closed before a complete PROXY header")]
    Closed,
    #[error("the connection closed without sending anything")]
    Empty,
    #[error("reading the PROXY header: {0}")]
    Io(String),
}

/// Parses the start of a connection's bytes.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if starts_like(buf, &V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if starts_like(buf, V1_PREFIX) {
        return parse_v1(buf);
    }
    Ok(Parsed::NotProxy)
}

/// Whether `buf` and `prefix` agree on their common length (an empty `buf` agrees).
fn starts_like(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::V1("no CRLF within 107 bytes"));
        }
        if window.contains(&b'\n') {
            return Err(ProxyError::V1("a line feed without a carriage return"));
        }
        return Ok(Parsed::Incomplete);
    };
    // A line feed or carriage return inside the line (UNKNOWN takes any text after it) would
    // make a prefix of the header an error and the whole of it valid.
    if window[..cr].iter().any(|b| *b == b'\n' || *b == b'\r') {
        return Err(ProxyError::V1(
            "a line feed or carriage return inside the line",
        ));
    }
    let line = std::str::from_utf8(&window[..cr]).map_err(|_| ProxyError::V1("not ASCII"))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.get(1).copied() {
        Some("UNKNOWN") => Header::Local,
        Some(family @ ("TCP4" | "TCP6")) => {
            let [_, _, src, dst, sport, dport] = fields[..] else {
                return Err(ProxyError::V1("expected 6 fields"));
            };
            let ip = |s: &str| -> Result<IpAddr, ProxyError> {
                if family == "TCP4" {
                    s.parse::<Ipv4Addr>()
                        .map(IpAddr::V4)
                        .map_err(|_| ProxyError::V1("bad IPv4 address"))
                } else {
                    s.parse::<Ipv6Addr>()
                        .map(IpAddr::V6)
                        .map_err(|_| ProxyError::V1("bad IPv6 address"))
                }
            };
            Header::Proxied {
                source: SocketAddr::new(ip(src)?, port(sport)?),
                destination: SocketAddr::new(ip(dst)?, port(dport)?),
            }
        }
        _ => return Err(ProxyError::V1("unknown protocol (TCP4, TCP6 or UNKNOWN)")),
    };
    Ok(Parsed::Header(header, cr + 2))
}

/// A v1 port: decimal, no sign, no leading zero.
fn port(s: &str) -> Result<u16, ProxyError> {
    let ok = !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse::<u16>().ok())
        .flatten()
        .ok_or(ProxyError::V1("bad port"))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < 16 {
        return Ok(Parsed::Incomplete);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return Err(ProxyError::V2("version is not 2"));
    }
    let family = buf[13];
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > V2_MAX_PAYLOAD {
        return Err(ProxyError::V2TooLong(len));
    }
    if buf.len() < 16 + len {
        return Ok(Parsed::Incomplete);
    }
    let payload = &buf[16..16 + len];
    let header = match command {
        0 => Header::Local,
        1 => match family {
            0x00 => Header::Local,
            0x11 => {
                let a = payload
                    .get(..12)
                    .ok_or(ProxyError::V2("TCP over IPv4 needs 12 bytes of addresses"))?;
                let ip = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
                Header::Proxied {
                    source: SocketAddr::new(ip(&a[0..4]), be16(&a[8..10])),
                    destination: SocketAddr::new(ip(&a[4..8]), be16(&a[10..12])),
                }
            }
            0x21 => {
                let a = payload
                    .get(..36)
                    .ok_or(ProxyError::V2("TCP over IPv6 needs 36 bytes of addresses"))?;
                let ip = |b: &[u8]| {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(b);
                    IpAddr::V6(Ipv6Addr::from(o))
                };
                Header::Proxied {
                    source: SocketAddr::new(ip(&a[0..16]), be16(&a[32..34])),
                    destination: SocketAddr::new(ip(&a[16..32]), be16(&a[34..36])),
                }
            }
            _ => return Err(ProxyError::V2("not TCP over IPv4 or IPv6")),
        },
        _ => return Err(ProxyError::V2("command is neither LOCAL nor PROXY")),
    };
    Ok(Parsed::Header(header, 16 + len))
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads from `stream` until its first bytes are a complete header or cannot be one; returns
/// the header (None: not a PROXY header) and the bytes read past it, to be replayed. Reads at
/// most 16 + [`V2_MAX_PAYLOAD`] bytes; the caller bounds the time.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Option<Header>, Vec<u8>), ProxyError> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        match parse(&buf)? {
            Parsed::Header(h, len) => return Ok((Some(h), buf.split_off(len))),
            Parsed::NotProxy => return Ok((None, buf)),
            Parsed::Incomplete => {}
        }
        // Never past the longest header: what follows it is the client's.
        let room = (16 + V2_MAX_PAYLOAD)
            .saturating_sub(buf.len())
            .min(chunk.len());
        let n = stream
            .read(&mut chunk[..room])
            .await
            .map_err(|e| ProxyError::Io(e.to_string()))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ProxyError::Empty
            } else {
                ProxyError::Closed
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A stream whose first bytes are `prefix` (read before the stream's own), e.g. what was read
/// past a PROXY header. Writes go straight to the stream.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(0x20 | command);
        b.push(family);
        b.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn v1_tcp4_tcp6_unknown() {
        let h = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 50001\r\n{\"id\":1}";
        assert_eq!(
            parse(h),
            Ok(Parsed::Header(
                Header::Proxied {
                    source: addr("192.0.2.7:56324"),
                    destination: addr("198.51.100.1:50001"),
                },
                h.len() - 8
            ))
        );
        let h = b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n";
        assert_eq!(
            parse(h),
            Ok(Parsed::Header(
                Header::Proxied {
                    source: addr("[2001:db8::1]:1"),
                    destination: addr("[::1]:65535"),
                },
                h.len()
            ))
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Ok(Parsed::Header(Header::Local, 15))
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN ffff::1 ::1 1 2\r\nx"),
            Ok(Parsed::Header(Header::Local, 31))
        );
    }

    #[test]
    fn v1_incomplete_then_strict() {
        for partial in [
            &b""[..],
            b"P",
            b"PROXY",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
        ] {
            assert_eq!(parse(partial), Ok(Parsed::Incomplete), "{partial:?}");
        }
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY \xff\r\n",
            // Found by the fuzzer: a bare line feed in an UNKNOWN line, then CRLF.
            b"PROXY UNKNOWN\nx\r\n",
            b"PROXY UNKNOWN \r \r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = [b"PROXY ".as_slice(), &[b'A'; 120]].concat();
        assert_eq!(
            parse(&long),
            Err(ProxyError::V1("no CRLF within 107 bytes"))
        );
    }

    #[test]
    fn v2_families_commands_and_bounds() {
        let mut p4 = vec![192, 0, 2, 7, 198, 51, 100, 1];
        p4.extend_from_slice(&56324u16.to_be_bytes());
        p4.extend_from_slice(&50001u16.to_be_bytes());
        let mut with_tlv = p4.clone();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x01, 0xaa]); // a NOOP TLV, skipped
        let h = v2(1, 0x11, &with_tlv);
        let mut stream = h.clone();
        stream.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(
            parse(&stream),
            Ok(Parsed::Header(
                Header::Proxied {
                    source: addr("192.0.2.7:56324"),
                    destination: addr("198.51.100.1:50001"),
                },
                h.len()
            ))
        );
        let mut p6 = [0u8; 36];
        p6[15] = 1;
        p6[31] = 2;
        p6[32..34].copy_from_slice(&7u16.to_be_bytes());
        p6[34..36].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(
            parse(&v2(1, 0x21, &p6)),
            Ok(Parsed::Header(
                Header::Proxied {
                    source: addr("[::1]:7"),
                    destination: addr("[::2]:8"),
                },
                52
            ))
        );
        assert_eq!(
            parse(&v2(0, 0x11, &p4)),
            Ok(Parsed::Header(Header::Local, 28))
        );
        assert_eq!(
            parse(&v2(1, 0x00, &[])),
            Ok(Parsed::Header(Header::Local, 16))
        );
        // Incomplete up to the last byte of the payload.
        let full = v2(1, 0x11, &p4);
        for n in 0..full.len() {
            assert_eq!(parse(&full[..n]), Ok(Parsed::Incomplete), "{n}");
        }
        assert!(parse(&v2(1, 0x11, &p4[..11])).is_err(), "short addresses");
        assert!(parse(&v2(1, 0x21, &p6[..35])).is_err(), "short addresses");
        assert!(parse(&v2(1, 0x12, &p4)).is_err(), "UDP");
        assert!(parse(&v2(1, 0x31, &[0; 216])).is_err(), "unix");
        assert!(parse(&v2(2, 0x11, &p4)).is_err(), "command 2");
        let mut v3 = full.clone();
        v3[12] = 0x31;
        assert!(parse(&v3).is_err(), "version 3");
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Err(ProxyError::V2TooLong(65535)));
    }

    #[test]
    fn a_client_speaking_first_is_not_a_header() {
        assert_eq!(parse(b"{\"id\": 1}"), Ok(Parsed::NotProxy));
        assert_eq!(parse(b"\x16\x03\x01\x02\x00"), Ok(Parsed::NotProxy));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Ok(Parsed::NotProxy));
        assert_eq!(parse(b"PROXIMA"), Ok(Parsed::NotProxy));
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIZ"), Ok(Parsed::NotProxy));
    }

    #[tokio::test]
    async fn read_header_replays_what_follows() {
        let data = b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 50001\r\n{\"id\":1}\n".to_vec();
        let mut reader = &data[..];
        let (h, rest) = read_header(&mut reader).await.expect("header");
        assert_eq!(
            h,
            Some(Header::Proxied {
                source: addr("10.0.0.1:1000"),
                destination: addr("10.0.0.2:50001"),
            })
        );
        let mut replayed = Prefixed::new(rest, reader);
        let mut all = Vec::new();
        replayed.read_to_end(&mut all).await.expect("read");
        assert_eq!(all, b"{\"id\":1}\n");

        let mut direct = &b"{\"id\":2}\n"[..];
        let (h, rest) = read_header(&mut direct).await.expect("no header");
        assert_eq!((h, rest.as_slice()), (None, &b"{\"id\":2}\n"[..]));

        let mut cut = &b"PROXY TCP4 10.0.0.1"[..];
        assert_eq!(read_header(&mut cut).await, Err(ProxyError::Closed));
    }
}
