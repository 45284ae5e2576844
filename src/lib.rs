//! Ferrum: an Electrum server with a fast, crash-safe script index over a Bitcoin Core node.
//!
//! Data flows one way: [`daemon`] → [`sync`] (writes [`store`]) and [`mempool`] → [`query`] →
//! [`electrum`] sessions.
//! [`chain`] is the coin abstraction every layer uses; [`config`] turns CLI flags, environment
//! variables and a TOML file into one validated configuration; [`metrics`] serves Prometheus
//! metrics and the log options.
pub mod admin;
pub mod app;
pub mod chain;
pub mod chaingen;
pub mod config;
pub mod daemon;
pub mod electrum;
pub mod limits;
pub mod mempool;
pub mod metrics;
pub mod peers;
pub mod query;
pub mod silentpayments;
pub mod store;
pub mod sync;
pub mod transport;
pub mod types;
