//! The altcoins Ferrum serves, one file per coin, each network an [`AltCoin`](super::AltCoin) static.
//!
//! Facts come from ElectrumX's `electrumx/lib/coins.py` (names, genesis, RPC and Electrum
//! ports, address version bytes, `PEERS`) unless a comment names the coin's own chainparams
//! (bech32 prefixes and data directories, which ElectrumX does not need). A network is listed
//! in [`super::COINS`] only once a real block of it parses in `tests/coins.rs`.

pub mod bitcoinsv;
pub mod digibyte;
pub mod dogecoin;
pub mod feathercoin;
pub mod ferrite;
pub mod garlicoin;
pub mod groestlcoin;
pub mod litecoin;
pub mod monacoin;
pub mod namecoin;
pub mod syscoin;
pub mod vertcoin;
