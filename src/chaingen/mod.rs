//! Test chains (placeholder until it lands).
