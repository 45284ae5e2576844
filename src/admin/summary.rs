//! ElectrumX's `LOG_SESSIONS`: every so many seconds, a summary line and the session table
//! the admin RPC's `sessions` prints (addresses hidden under `ANON_LOGS`).

use super::{commands, text};
use crate::electrum::Shared;
use crate::electrum::registry::SessionInfo;
use crate::limits::Limits;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Logs [`summary`] every `every` until the task is aborted; zero means never.
pub async fn log_sessions(shared: Arc<Shared>, every: Duration) {
    if every.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        for line in summary(&shared.sessions.list(), Some(&shared.limits)) {
            tracing::info!("{line}");
        }
    }
}

/// A summary line (counts by transport, requests, errors, subscriptions, traffic), then
/// ElectrumX's session table: a header and one line per session, oldest first.
pub fn summary(sessions: &[Arc<SessionInfo>], limits: Option<&Limits>) -> Vec<String> {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
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
    if !sessions.is_empty() {
        lines.extend(text::sessions_lines(&commands::session_rows(
            sessions, limits, true,
        )));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::electrum::registry::Registry;
    use crate::metrics::logs::{HIDDEN, set_anonymous};

    #[test]
    fn summary_counts_by_transport_and_hides_addresses_when_anonymous() {
        let r = Arc::new(Registry::default());
        let a = r.register("10.1.2.3:5000".parse().unwrap(), "tcp");
        let _b = r.register("10.1.2.4:5001".parse().unwrap(), "ssl");
        a.info.requests.store(7, Ordering::Relaxed);
        a.info.errors.store(1, Ordering::Relaxed);
        a.info.subscriptions.store(3, Ordering::Relaxed);
        *a.info.client.lock().unwrap() = Some(("electrum/4.5".into(), "1.4".into()));
        let lines = summary(&r.list(), None);
        assert_eq!(
            lines[0],
            "sessions: 2 (ssl 1, tcp 1), requests 7, errors 1, subscriptions 3, recv 0 KB, \
             sent 0 KB"
        );
        assert_eq!(lines.len(), 4);
        assert!(lines[2].contains("10.1.2.3:5000") && lines[2].contains("electrum/4.5"));
        set_anonymous(true);
        let hidden = summary(&r.list(), None);
        set_anonymous(false);
        assert!(hidden[2].contains(HIDDEN) && !hidden[2].contains("10.1.2.3"));
        assert_eq!(
            summary(&[], None)[0].split(" (").nth(1),
            Some("none), requests 0, errors 0, subscriptions 0, recv 0 KB, sent 0 KB")
        );
    }
}
