//! Test chains: a real regtest bitcoind and valid blocks made and signed by us.
//!
//! - [`Bitcoind`] runs the test `bitcoind` (built by `scripts/build-bitcoind.sh`) on a temporary
//!   or given datadir and talks JSON-RPC to it.
//! - [`ChainBuilder`] is a seeded wallet and miner: it pays to and spends every [`OutputType`],
//!   builds blocks (also forks, for reorg tests) and submits them with `submitblock`, keeping
//!   every [`bitcoin::Block`] it made so tests can recompute expected indexes independently.
//! - [`bench`] generates large mainnet-shaped chains for benchmarks and the demo
//!   (`ferrum-chaingen`), in a [`shape::Shape`], submitted as they are built or through a
//!   [`spool`] imported with `-assumevalid`.
//! - [`silent`] sends silent payments (BIP352) on test chains and spends them.
//! - [`mempool`] makes a mainnet-sized mempool and its churn for `scripts/bench-mempool`.
//!
//! bitcoind needs no wallet for any of this: keys, UTXOs and signatures are ours.

pub mod bench;
mod bench_stats;
mod bitcoind;
pub mod block;
mod builder;
pub mod fastsign;
pub mod mempool;
pub mod ports;
pub mod shape;
pub mod silent;
pub mod spool;
pub mod wallet;

pub use bitcoind::Bitcoind;
pub use block::ChainTip;
pub use builder::{ChainBuilder, Utxo};
pub use ports::free_port;
pub use wallet::{KeyChain, OutputType, Spend};
