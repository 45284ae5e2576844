//! The peer blacklist (`BLACKLIST_URL`): its JSON form and how a peer is matched against it.
//!
//! ElectrumX (`PeerManager._refresh_blacklist`) reads a JSON list of strings, lower-cases each,
//! and `_is_blacklisted` matches a peer when its host, `*.` + the last two labels of its host,
//! or its IP address is in the set. Ferrum does the same, with bounds on the entries and with IP
//! entries compared as addresses (so `2001:DB8::1` matches `2001:db8:0::1`). Fetching the list
//! (periodically, over HTTP or from a file) is the caller's job.

use super::addr::Host;
use crate::limits::net::canonical;
use std::collections::HashSet;
use std::net::IpAddr;

/// Largest blacklist document read, in bytes.
pub const MAX_BLACKLIST_BYTES: usize = 1 << 20;
/// Most entries kept.
pub const MAX_BLACKLIST_ENTRIES: usize = 20_000;
/// Longest entry kept; longer ones cannot match a host.
const MAX_ENTRY_LEN: usize = 260;

/// A set of blacklisted hosts, `*.domain` wildcards and IP addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blacklist {
    entries: HashSet<String>,
}

impl Blacklist {
    /// Parses the JSON document: a list of strings. Errors say what is wrong.
    pub fn parse_json(text: &str) -> Result<Blacklist, String> {
        if text.len() > MAX_BLACKLIST_BYTES {
            return Err(format!("larger than {MAX_BLACKLIST_BYTES} bytes"));
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = value.as_array().ok_or("not a JSON list")?;
        if list.len() > MAX_BLACKLIST_ENTRIES {
            return Err(format!("more than {MAX_BLACKLIST_ENTRIES} entries"));
        }
        let mut entries = HashSet::with_capacity(list.len());
        for item in list {
            let s = item.as_str().ok_or("an entry is not a string")?;
            if s.len() <= MAX_ENTRY_LEN {
                entries.insert(normalise(s));
            }
        }
        Ok(Blacklist { entries })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// ElectrumX's `_is_blacklisted`: the host, `*.` + its last two labels, or its address.
    pub fn matches(&self, host: &Host, ip: Option<IpAddr>) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let wildcard = format!("*.{}", host.second_level_domain());
        self.entries.contains(host.as_str())
            || self.entries.contains(&wildcard)
            || ip.is_some_and(|ip| self.entries.contains(&canonical(ip).to_string()))
    }
}

/// Lower case; IP addresses in their canonical text form.
fn normalise(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    match s.parse::<IpAddr>() {
        Ok(ip) => canonical(ip).to_string(),
        Err(_) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> Host {
        Host::parse(s).unwrap()
    }

    #[test]
    fn matches_hosts_wildcards_and_addresses() {
        let list = Blacklist::parse_json(
            r#"["Bad.Example.com", "*.evil.org", "5.6.7.8", "2001:DB8::1", "zz.com.au"]"#,
        )
        .unwrap();
        assert_eq!(list.len(), 5);
        assert!(list.matches(&host("bad.example.com"), None));
        assert!(!list.matches(&host("good.example.com"), None));
        assert!(list.matches(&host("a.b.evil.org"), None));
        assert!(
            list.matches(&host("evil.org"), None),
            "ElectrumX's *.sld matches the sld too"
        );
        assert!(list.matches(&host("x.example.net"), Some("5.6.7.8".parse().unwrap())));
        assert!(list.matches(
            &host("x.example.net"),
            Some("::ffff:5.6.7.8".parse().unwrap())
        ));
        assert!(list.matches(&host("2001:db8:0::1"), None));
        assert!(list.matches(&host("y.example.net"), Some("2001:db8::1".parse().unwrap())));
        assert!(!list.matches(&host("y.example.net"), Some("2001:db8::2".parse().unwrap())));
    }

    #[test]
    fn hostile_documents_are_refused() {
        for bad in ["", "{\"a\": 1}", "[1, 2]", "\"x\"", "[\"a\""] {
            assert!(Blacklist::parse_json(bad).is_err(), "{bad:?}");
        }
        let many = serde_json::to_string(&vec!["a.com"; MAX_BLACKLIST_ENTRIES + 1]).unwrap();
        assert!(Blacklist::parse_json(&many).is_err());
        let big = format!("[\"{}\"]", "a".repeat(MAX_BLACKLIST_BYTES));
        assert!(Blacklist::parse_json(&big).is_err());
        let long_entry = format!("[\"{}\", \"ok.com\"]", "a".repeat(MAX_ENTRY_LEN + 1));
        assert_eq!(Blacklist::parse_json(&long_entry).unwrap().len(), 1);
        assert!(Blacklist::parse_json("[]").unwrap().is_empty());
    }
}
