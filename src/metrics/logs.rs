//! ElectrumX's `ANON_LOGS`: client addresses shown as `xx.xx.xx.xx:xx` in logs. (The
//! `LOG_SESSIONS` summary is [`crate::admin::log_sessions`], beside the admin session table
//! it prints.)
//!
//! Every log line that names a client must format its address with [`addr`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

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
