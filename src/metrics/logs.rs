//! Log options from ElectrumX: `ANON_LOGS` (client addresses shown as `xx.xx.xx.xx:xx`) and
//! `LOG_SESSIONS` (every so many seconds, a summary line and ElectrumX's session table).
//!
//! Every log line that names a client must format its address with [`addr`].

use crate::electrum::registry::SessionInfo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static ANON: AtomicBool = AtomicBool::new(false);

/// What ElectrumX logs instead of an address under ANON_LOGS.
pub const HIDDEN: &str = "xx.xx.xx.xx:xx";

/// Sets ANON_LOGS for the process (at start-up).
pub fn set_anonymous(on: bool) {
    ANON.store(on, Ordering::Relaxed);
}

/// A client's address as logs show it.
pub fn addr(peer: &SocketAddr) -> String {
    if ANON.load(Ordering::Relaxed) {
        HIDDEN.to_string()
    } else {
        peer.to_string()
    }
}

/// Logs [`summary`] every `every` until the task is aborted; zero means never.
pub async fn log_sessions(sessions: Arc<crate::electrum::registry::Registry>, every: Duration) {
    if every.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        for line in summary(&sessions.list()) {
            tracing::info!("{line}");
        }
    }
}

/// A summary line (counts by transport, requests, errors, subscriptions, traffic), then
/// ElectrumX's session table: a header and one line per session, oldest first.
pub fn summary(sessions: &[Arc<SessionInfo>]) -> Vec<String> {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut by_transport: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut reqs, mut errs, mut subs, mut recv, mut sent) = (0, 0, 0, 0, 0);
    for s in sessions {
        *by_transport.entry(s.transport).or_default() += 1;
        reqs += load(&s.requests);
        errs += load(&s.errors);
        subs += load(&s.subscriptions);
        recv += load(&s.bytes_received);
        sent += load(&s.bytes_sent);
    }
    let transports: Vec<String> = by_transport
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    let mut lines = vec![format!(
        "sessions: {} ({}), requests {reqs}, errors {errs}, subscriptions {subs}, \
         recv {} KB, sent {} KB",
        sessions.len(),
        if transports.is_empty() {
            "none".to_string()
        } else {
            transports.join(", ")
        },
        recv / 1024,
        sent / 1024,
    )];
    if sessions.is_empty() {
        return lines;
    }
    lines.push(format!(
        "{:<6} {:<5} {:>17} {:>5} {:>7} {:>5} {:>7} {:>7} {:>7} {:>9} {:>21}",
        "ID",
        "Flags",
        "Client",
        "Proto",
        "Reqs",
        "Errs",
        "Subs",
        "Recv KB",
        "Sent KB",
        "Time",
        "Peer"
    ));
    for s in sessions {
        let (client, proto) = s
            .client
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .unwrap_or_default();
        lines.push(format!(
            "{:<6} {:<5} {:>17} {:>5} {:>7} {:>5} {:>7} {:>7} {:>7} {:>9} {:>21}",
            s.id,
            s.transport
                .chars()
                .next()
                .map_or(String::new(), |c| c.to_ascii_uppercase().to_string()),
            client.chars().take(17).collect::<String>(),
            proto,
            load(&s.requests),
            load(&s.errors),
            load(&s.subscriptions),
            load(&s.bytes_received) / 1024,
            load(&s.bytes_sent) / 1024,
            formatted_time(s.started.elapsed()),
            addr(&s.peer),
        ));
    }
    lines
}

/// ElectrumX's `formatted_time` without separators: `1d02h03m`, `2h05m07s`, `45s`.
fn formatted_time(t: Duration) -> String {
    let secs = t.as_secs();
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::electrum::registry::Registry;

    #[test]
    fn summary_counts_by_transport_and_hides_addresses_when_anonymous() {
        let r = Arc::new(Registry::default());
        let a = r.register("10.1.2.3:5000".parse().unwrap(), "tcp");
        let _b = r.register("10.1.2.4:5001".parse().unwrap(), "ssl");
        a.info.requests.store(7, Ordering::Relaxed);
        a.info.errors.store(1, Ordering::Relaxed);
        a.info.subscriptions.store(3, Ordering::Relaxed);
        *a.info.client.lock().unwrap() = Some(("electrum/4.5".into(), "1.4".into()));
        let lines = summary(&r.list());
        assert_eq!(
            lines[0],
            "sessions: 2 (ssl 1, tcp 1), requests 7, errors 1, subscriptions 3, recv 0 KB, \
             sent 0 KB"
        );
        assert_eq!(lines.len(), 4);
        assert!(lines[2].contains("10.1.2.3:5000") && lines[2].contains("electrum/4.5"));
        set_anonymous(true);
        let hidden = summary(&r.list());
        set_anonymous(false);
        assert!(hidden[2].contains(HIDDEN) && !hidden[2].contains("10.1.2.3"));
        assert_eq!(
            summary(&[])[0].split(" (").nth(1),
            Some("none), requests 0, errors 0, subscriptions 0, recv 0 KB, sent 0 KB")
        );
    }

    #[test]
    fn times_are_formatted_as_electrumx_does() {
        assert_eq!(formatted_time(Duration::from_secs(45)), "45s");
        assert_eq!(formatted_time(Duration::from_secs(125)), "2m05s");
        assert_eq!(formatted_time(Duration::from_secs(7507)), "2h05m07s");
        assert_eq!(formatted_time(Duration::from_secs(93_780)), "1d02h03m");
    }
}
