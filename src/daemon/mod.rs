//! Daemon client (owned by the daemon work; placeholder until it lands).
pub mod settings;
