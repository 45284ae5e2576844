//! `DAEMON_URL` parsing: ElectrumX's `http://user:pass@host:port/` syntax, comma-separated.
//!
//! As in ElectrumX the scheme and the port may be left out (`user:pass@host` means
//! `http://user:pass@host:<coin RPC port>/`), a trailing `/` is ignored and IPv6 hosts are
//! written in brackets. The user and password are percent-decoded. Ferrum also accepts a URL
//! without `user:pass@`: such an endpoint authenticates with bitcoind's cookie file, which the
//! caller supplies. Error messages never show the password.

use super::services::{is_valid_host, split_host_port};

/// Shown in every error: the syntax we expect.
const EXPECTED: &str = "expected http://user:pass@host:port/";

/// One parsed `DAEMON_URL` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DaemonUrl {
    /// Host name or IP address, IPv6 without brackets.
    pub host: String,
    pub port: u16,
    /// Percent-decoded `(user, password)`; `None` means cookie authentication.
    pub credentials: Option<(String, String)>,
}

/// Parses a comma-separated list of daemon URLs in failover order. Empty entries are skipped.
/// Errors describe the entry (password hidden); the caller prefixes the option name.
pub(crate) fn parse_list(value: &str, default_port: u16) -> Result<Vec<DaemonUrl>, String> {
    let urls = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| parse_one(e, default_port))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(format!("\"{value}\" contains no URL; {EXPECTED}"));
    }
    Ok(urls)
}

fn parse_one(entry: &str, default_port: u16) -> Result<DaemonUrl, String> {
    let shown = redact(entry);
    let invalid = |why: String| format!("\"{shown}\" is not a valid URL: {why}; {EXPECTED}");
    let trimmed = entry.trim_end_matches('/');

    let rest = match trimmed.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => {
            if scheme.eq_ignore_ascii_case("http") {
                rest
            } else if scheme.eq_ignore_ascii_case("https") {
                return Err(invalid(
                    "https is not supported, bitcoind's RPC server speaks plain HTTP".into(),
                ));
            } else {
                return Err(format!("\"{shown}\" is not a valid URL; {EXPECTED}"));
            }
        }
        _ => trimmed,
    };

    // ElectrumX matches `.+@`: the credentials end at the last `@`.
    let (userinfo, hostpath) = match rest.rsplit_once('@') {
        Some((userinfo, hostpath)) => (Some(userinfo), hostpath),
        None => (None, rest),
    };
    let (address, path) = match hostpath.split_once('/') {
        Some((address, path)) => (address, Some(path)),
        None => (hostpath, None),
    };
    if let Some(path) = path {
        return Err(invalid(format!(
            "a path (\"/{path}\") is not supported, give only scheme, credentials, host and port"
        )));
    }
    let (host, port) = split_host_port(address).map_err(invalid)?;
    if host.is_empty() {
        return Err(invalid("the host is missing".into()));
    }
    if !is_valid_host(&host) {
        return Err(invalid(format!(
            "\"{host}\" is not a valid host name or IP address"
        )));
    }

    let credentials = match userinfo {
        None => None,
        Some(userinfo) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let user =
                percent_decode(user).map_err(|e| invalid(format!("in the user name, {e}")))?;
            let password =
                percent_decode(password).map_err(|e| invalid(format!("in the password, {e}")))?;
            if user.is_empty() {
                return Err(invalid(
                    "the user name before \"@\" is empty (leave out \"user:pass@\" entirely to use \
                     the cookie file)"
                        .into(),
                ));
            }
            Some((user, password))
        }
    };
    Ok(DaemonUrl {
        host,
        port: port.unwrap_or(default_port),
        credentials,
    })
}

/// RFC 3986 scheme: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Decodes `%XX` escapes; the result must be UTF-8. `+` is kept (this is not a form).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or("\"%\" must be followed by two hex digits (write %25 for a literal %)")?;
            out.push(byte);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the percent-decoded text is not UTF-8".to_string())
}

/// The entry with its password replaced by `***`, for error messages.
fn redact(entry: &str) -> String {
    let (scheme, rest) = match entry.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => (&entry[..scheme.len() + 3], rest),
        _ => ("", entry),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, hostpath)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}{user}:***@{hostpath}"),
            None => entry.to_string(),
        },
        None => entry.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: &str, port: u16, creds: Option<(&str, &str)>) -> DaemonUrl {
        DaemonUrl {
            host: host.into(),
            port,
            credentials: creds.map(|(u, p)| (u.into(), p.into())),
        }
    }

    #[test]
    fn accepts_electrumx_forms() {
        let one = |v: &str| parse_list(v, 8332).unwrap().remove(0);
        let up = Some(("user", "pass"));
        assert_eq!(
            one("http://user:pass@127.0.0.1:8332/"),
            url("127.0.0.1", 8332, up)
        );
        assert_eq!(one("HTTP://user:pass@node:18443"), url("node", 18443, up));
        assert_eq!(one("user:pass@node:1234"), url("node", 1234, up));
        assert_eq!(one("user:pass@node"), url("node", 8332, up));
        assert_eq!(one("http://user:pass@node/"), url("node", 8332, up));
        assert_eq!(one("http://user:pass@[::1]:8332/"), url("::1", 8332, up));
        assert_eq!(one("user:pass@[2001:db8::5]"), url("2001:db8::5", 8332, up));
        assert_eq!(one("  http://user:pass@node:1//  "), url("node", 1, up));
    }

    #[test]
    fn decodes_credentials() {
        let one = |v: &str| parse_list(v, 1).unwrap().remove(0).credentials.unwrap();
        assert_eq!(
            one("http://us%40er:p%3Aa%2Css%25w+d@h:2"),
            ("us@er".into(), "p:a,ss%w+d".into())
        );
        assert_eq!(one("http://u:p@ss@h"), ("u".into(), "p@ss".into()));
        assert_eq!(one("u:p:q@h"), ("u".into(), "p:q".into()));
        assert_eq!(one("u@h"), ("u".into(), "".into()));
        assert_eq!(one("u:%C3%A9@h"), ("u".into(), "é".into()));
    }

    #[test]
    fn without_credentials_means_cookie() {
        assert_eq!(
            parse_list("http://node:8332/", 1).unwrap(),
            vec![url("node", 8332, None)]
        );
        assert_eq!(
            parse_list("node", 18443).unwrap(),
            vec![url("node", 18443, None)]
        );
        assert_eq!(
            parse_list("[::1]", 18443).unwrap(),
            vec![url("::1", 18443, None)]
        );
    }

    #[test]
    fn keeps_failover_order() {
        let list = parse_list("http://a:b@n1:1/, n2 ,,u:p@[::2]:3", 9).unwrap();
        assert_eq!(
            list,
            vec![
                url("n1", 1, Some(("a", "b"))),
                url("n2", 9, None),
                url("::2", 3, Some(("u", "p")))
            ]
        );
    }

    #[test]
    fn rejects_bad_urls_without_leaking_passwords() {
        let err = |v: &str| parse_list(v, 8332).unwrap_err();
        assert_eq!(
            err("htp://x"),
            "\"htp://x\" is not a valid URL; expected http://user:pass@host:port/"
        );
        let https = err("https://u:secret@h:1/");
        assert!(https.contains("https is not supported"), "{https}");
        assert!(https.contains("\"https://u:***@h:1/\""), "{https}");
        for (value, why) in [
            ("http://u:secret@h:99999", "not a port number"),
            ("http://u:secret@h:x", "not a port number"),
            ("http://u:secret@::1:8332", "must be in brackets"),
            ("http://u:secret@[::1", "missing \"]\""),
            ("http://u:secret@:8332", "host is missing"),
            ("http://u:secret@bad_host!:1", "not a valid host"),
            ("http://u:secret@h:1/wallet/w", "path"),
            ("http://:secret@h:1", "user name before \"@\" is empty"),
            ("http://u:sec%zzret@h:1", "two hex digits"),
            ("http://u:sec%+1ret@h:1", "two hex digits"),
            ("http://u:%ff@h:1", "not UTF-8"),
        ] {
            let e = err(value);
            assert!(e.contains(why), "{value}: {e}");
            assert!(!e.contains("secret") && !e.contains("%ff"), "{value}: {e}");
            assert!(e.contains(EXPECTED), "{value}: {e}");
        }
        assert!(err(" , ").contains("contains no URL"));
    }
}
