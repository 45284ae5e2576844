//! Configuration (placeholder until it lands).
