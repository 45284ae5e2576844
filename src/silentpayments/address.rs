//! Silent payment addresses (BIP352 "Address encoding"): bech32m with the human-readable part
//! `sp` (mainnet) or `tsp` (test networks), the version as the first character (`q` = 0), then
//! the 66 bytes `ser_P(B_scan) || ser_P(B_m)`. Longer than BIP173's 90 characters (117 for v0),
//! hence the 1023-character limit.

use bitcoin::bech32::primitives::decode::CheckedHrpstring;
use bitcoin::bech32::primitives::iter::{ByteIterExt, Fe32IterExt};
use bitcoin::bech32::{Bech32m, Fe32, Hrp};
use bitcoin::secp256k1::PublicKey;

/// A decoded address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpAddress {
    pub scan: PublicKey,
    /// `B_m`: the spend key, labelled or not.
    pub spend: PublicKey,
    /// `sp` rather than `tsp`.
    pub mainnet: bool,
}

/// Why a string is not a silent payment address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("not bech32m: {0}")]
    Bech32(String),
    #[error("human-readable part {0:?} is neither sp nor tsp")]
    Hrp(String),
    #[error("version 31 is reserved")]
    Version,
    #[error("{0} bytes of keys, expected 66")]
    Length(usize),
    #[error("not a valid public key")]
    Key,
}

impl SpAddress {
    /// The bech32m string (version 0).
    pub fn encode(&self) -> String {
        let hrp = Hrp::parse_unchecked(if self.mainnet { "sp" } else { "tsp" });
        let mut bytes = [0u8; 66];
        bytes[..33].copy_from_slice(&self.scan.serialize());
        bytes[33..].copy_from_slice(&self.spend.serialize());
        bytes
            .iter()
            .copied()
            .bytes_to_fes()
            .with_checksum::<Bech32m>(&hrp)
            .with_witness_version(Fe32::Q)
            .chars()
            .collect()
    }

    /// Parses an address of any version this one can read: v0 exactly, v1 to v30 by their
    /// first 66 bytes (BIP352's forward compatibility), v31 never.
    pub fn decode(s: &str) -> Result<SpAddress, AddressError> {
        let checked =
            CheckedHrpstring::new::<Bech32m>(s).map_err(|e| AddressError::Bech32(e.to_string()))?;
        let hrp = checked.hrp();
        let mainnet = match hrp.as_str() {
            "sp" => true,
            "tsp" => false,
            other => return Err(AddressError::Hrp(other.to_string())),
        };
        let mut fes = checked.fe32_iter::<std::iter::Empty<u8>>();
        let version = fes.next().ok_or(AddressError::Length(0))?.to_u8();
        let bytes: Vec<u8> = fes.fes_to_bytes().collect();
        let keys = match version {
            0 if bytes.len() == 66 => &bytes[..],
            0 => return Err(AddressError::Length(bytes.len())),
            31 => return Err(AddressError::Version),
            _ if bytes.len() >= 66 => &bytes[..66],
            _ => return Err(AddressError::Length(bytes.len())),
        };
        let key = |b: &[u8]| PublicKey::from_slice(b).map_err(|_| AddressError::Key);
        Ok(SpAddress {
            scan: key(&keys[..33])?,
            spend: key(&keys[33..])?,
            mainnet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip352_address_round_trips_and_bad_ones_fail() {
        // The first receiving case of BIP352's vectors.
        let s = "sp1qqgste7k9hx0qftg6qmwlkqtwuy6cycyavzmzj85c6qdfhjdpdjtdgqjuexzk6murw56suy3e0rd2cgqvycxttddwsvgxe2usfpxumr70xc9pkqwv";
        let a = SpAddress::decode(s).expect("valid");
        assert!(a.mainnet);
        assert_eq!(
            crate::types::bytes_to_hex(&a.scan.serialize()),
            "0220bcfac5b99e04ad1a06ddfb016ee13582609d60b6291e98d01a9bc9a16c96d4"
        );
        assert_eq!(a.encode(), s);
        let t = SpAddress {
            mainnet: false,
            ..a
        };
        assert!(t.encode().starts_with("tsp1q"));
        assert_eq!(SpAddress::decode(&t.encode()), Ok(t));
        assert!(matches!(
            SpAddress::decode(&s.replace("qqg", "qqh")),
            Err(AddressError::Bech32(_))
        ));
        assert!(matches!(
            SpAddress::decode("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
            Err(AddressError::Bech32(_) | AddressError::Hrp(_))
        ));
    }
}
