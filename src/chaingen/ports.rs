//! Loopback ports for test servers (bitcoind, Ferrum, peers, proxies) that do not collide.
//!
//! The usual trick, binding port 0 and releasing it, hands out a port from the kernel's
//! *ephemeral* range (32768–60999 on Linux), the same range every outgoing connection takes its
//! local port from. In a test run that opens thousands of short connections (JSON-RPC to
//! bitcoind, Electrum clients), one of them can take the released port before the server binds
//! it: "Address already in use", a flaky test. [`free_port`] instead hands out ports below the
//! ephemeral range, each at most once per process, starting at an offset derived from the
//! process id (so two test processes rarely walk the same ports), and checks each one is
//! bindable on every address before handing it out.

use anyhow::{Result, bail};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// First port handed out (above the well-known and most registered service ports in use here).
const FIRST: u32 = 20_000;
/// One past the last: Linux's default ephemeral range starts at 32768.
const END: u32 = 32_000;

/// A loopback port that nothing is bound to, never handed out before by this process.
pub fn free_port() -> Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = END - FIRST;
    // The first call picks this process's starting point; the others walk on from it.
    let start = (std::process::id().wrapping_mul(2_654_435_761) >> 4) % span;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + n % span) as u16;
        // The wildcard address conflicts with a socket bound to any local address on that port.
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port between {FIRST} and {END}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_unique_below_the_ephemeral_range_and_skip_taken_ones() {
        let a = free_port().unwrap();
        // Take the next one so the allocator has to skip it.
        let taken = TcpListener::bind(("127.0.0.1", a + 1));
        let mut seen = std::collections::HashSet::new();
        seen.insert(a);
        for _ in 0..50 {
            let p = free_port().unwrap();
            assert!((FIRST as u16..END as u16).contains(&p), "{p}");
            assert!(seen.insert(p), "{p} handed out twice");
            if let Ok(t) = &taken {
                assert_ne!(
                    p,
                    t.local_addr().unwrap().port(),
                    "a bound port was handed out"
                );
            }
            TcpListener::bind(("127.0.0.1", p)).expect("the port is free");
        }
    }
}
