//! Text output of `ferrum rpc`, as `electrumx_rpc` prints it: ElectrumX's `lib/text.py` tables
//! for `sessions`, `groups` and `peers`, and its number and duration formats.

use serde_json::Value;

/// ElectrumX's `util.formatted_time`: `1d 02h 03m`, `05m 07s`, `09s`.
pub fn formatted_time(secs: u64, sep: &str) -> String {
    let mut t = secs;
    let mut parts = Vec::new();
    for (unit, n) in [("d", 86400), ("h", 3600), ("m", 60)] {
        let val = t / n;
        if !parts.is_empty() || val > 0 {
            parts.push(if unit == "d" {
                format!("{val}d")
            } else {
                format!("{val:02}{unit}")
            });
        }
        t %= n;
    }
    if parts.len() < 3 {
        parts.push(format!("{t:02}s"));
    }
    parts.join(sep)
}

/// Python's `f"{n:,d}"`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// ElectrumX's `f"{coin.decimal_value(sats):,f}"`: the exact decimal amount, no trailing zeros.
pub fn decimal_value(sats: u64) -> String {
    let whole = thousands((sats / 100_000_000) as i64);
    let frac = format!("{:08}", sats % 100_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        whole
    } else {
        format!("{whole}.{frac}")
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Left- or right-aligned in `w` columns, like Python's `{:<w}` / `{:>w}`.
fn l(s: &str, w: usize) -> String {
    format!("{s:<w$}")
}
fn r(s: &str, w: usize) -> String {
    format!("{s:>w$}")
}

/// `text.sessions_lines`: the table of `sessions`.
pub fn sessions_lines(data: &Value) -> Vec<String> {
    let row = |c: [&str; 15]| {
        [
            l(c[0], 6),
            l(c[1], 5),
            r(c[2], 17),
            r(c[3], 5),
            r(c[4], 7),
            r(c[5], 7),
            r(c[6], 5),
            r(c[7], 5),
            r(c[8], 7),
            r(c[9], 7),
            r(c[10], 7),
            r(c[11], 7),
            r(c[12], 7),
            r(c[13], 9),
            r(c[14], 21),
        ]
        .join(" ")
    };
    let mut out = vec![row([
        "ID", "Flags", "Client", "Proto", "Cost", "XCost", "Reqs", "Txs", "Subs", "Recv",
        "Recv KB", "Sent", "Sent KB", "Time", "Peer",
    ])];
    for s in data.as_array().into_iter().flatten() {
        let f = |i: usize| s.get(i).cloned().unwrap_or(Value::Null);
        let (id, flags, peer, client, proto) = (
            text(&f(0)),
            text(&f(1)),
            text(&f(2)),
            text(&f(3)),
            text(&f(4)),
        );
        let n = |i: usize| thousands(int(&f(i)));
        let kb = |i: usize| thousands(int(&f(i)) / 1024);
        let time = formatted_time(int(&f(14)).max(0) as u64, "");
        let cells = [n(5), n(6), n(7), n(8), n(9), n(10), kb(11), n(12), kb(13)];
        out.push(row([
            &id, &flags, &client, &proto, &cells[0], &cells[1], &cells[2], &cells[3], &cells[4],
            &cells[5], &cells[6], &cells[7], &cells[8], &time, &peer,
        ]));
    }
    out
}

/// `text.groups_lines`: the table of `groups`.
pub fn groups_lines(data: &Value) -> Vec<String> {
    let row = |c: [&str; 11]| {
        format!(
            "{} {} {} {} {} {} {}{} {} {} {}",
            l(c[0], 14),
            r(c[1], 9),
            r(c[2], 8),
            r(c[3], 8),
            r(c[4], 6),
            r(c[5], 6),
            r(c[6], 8),
            r(c[7], 7),
            r(c[8], 9),
            r(c[9], 7),
            r(c[10], 9)
        )
    };
    let mut out = vec![row([
        "Name", "Sessions", "Cost", "Retained", "Reqs", "Txs", "Subs", "Recv", "Recv KB", "Sent",
        "Sent KB",
    ])];
    for g in data.as_array().into_iter().flatten() {
        let f = |i: usize| g.get(i).cloned().unwrap_or(Value::Null);
        let n = |i: usize| thousands(int(&f(i)));
        let kb = |i: usize| thousands(int(&f(i)) / 1024);
        let c = [
            text(&f(0)),
            n(1),
            n(2),
            n(3),
            n(4),
            n(5),
            n(6),
            n(7),
            kb(8),
            n(9),
            kb(10),
        ];
        out.push(row([
            &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8], &c[9], &c[10],
        ]));
    }
    out
}

/// `text.peers_lines`: the table of `peers`.
pub fn peers_lines(data: &Value, now: u64) -> Vec<String> {
    let row = |c: [&str; 13]| {
        format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {}",
            l(c[0], 62),
            l(c[1], 6),
            r(c[2], 5),
            r(c[3], 5),
            l(c[4], 17),
            r(c[5], 4),
            r(c[6], 4),
            r(c[7], 8),
            r(c[8], 11),
            r(c[9], 11),
            r(c[10], 5),
            r(c[11], 20),
            l(c[12], 15)
        )
    };
    let mut out = vec![row([
        "Host",
        "Status",
        "TCP",
        "SSL",
        "Server",
        "Min",
        "Max",
        "Pruning",
        "Last Good",
        "Last Try",
        "Tries",
        "Source",
        "IP Address",
    ])];
    let time_fmt = |v: &Value| match v.as_f64() {
        Some(t) if t > 0.0 => formatted_time(now.saturating_sub(t as u64), " "),
        _ => "Never".to_string(),
    };
    for p in data.as_array().into_iter().flatten() {
        let host = text(&p["host"]);
        let features = &p["features"];
        let ports = &features["hosts"][host.as_str()];
        let server = match text(&features["server_version"]) {
            s if s.is_empty() => "unknown".to_string(),
            s => s,
        };
        let source: String = text(&p["source"]).chars().take(20).collect();
        let name: String = host.chars().take(62).collect();
        let c = [
            name,
            text(&p["status"]),
            text(&ports["tcp_port"]),
            text(&ports["ssl_port"]),
            server,
            text(&features["protocol_min"]),
            text(&features["protocol_max"]),
            text(&features["pruning"]),
            time_fmt(&p["last_good"]),
            time_fmt(&p["last_try"]),
            text(&p["try_count"]),
            source,
            text(&p["ip_addr"]),
        ];
        out.push(row([
            &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8], &c[9], &c[10], &c[11],
            &c[12],
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_like_electrumx() {
        assert_eq!(formatted_time(9, " "), "09s");
        assert_eq!(formatted_time(307, " "), "05m 07s");
        assert_eq!(formatted_time(3600 * 26 + 180, ""), "1d02h03m");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(decimal_value(50_000), "0.0005");
        assert_eq!(decimal_value(5_000_000_000), "50");
        assert_eq!(decimal_value(123_456_789_000_000), "1,234,567.89");
    }

    #[test]
    fn session_table_has_electrumx_columns() {
        let data = json!([[
            3,
            "T1",
            "127.0.0.1:5000",
            "electrum",
            "1.4",
            0,
            0,
            2,
            0,
            1,
            5,
            2048,
            5,
            4096,
            61
        ]]);
        let lines = sessions_lines(&data);
        assert!(lines[0].starts_with("ID     Flags            Client Proto"));
        assert!(
            lines[1].starts_with("3      T1             electrum   1.4"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("01m01s        127.0.0.1:5000"),
            "{}",
            lines[1]
        );
    }
}
