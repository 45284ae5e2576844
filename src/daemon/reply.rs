//! Typed views of bitcoind's JSON answers (`getblockchaininfo`, `getblockheader`,
//! `waitfornewblock`, hashes, hex), with every type mismatch reported as
//! [`DaemonError::BadReply`] naming the request and field.

use super::error::DaemonError;
use bitcoin::BlockHash;
use bitcoin::hex::FromHex;
use serde_json::Value;
use std::str::FromStr;

/// `getblockchaininfo`, the fields Ferrum uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockchainInfo {
    /// Core's chain name: `main`, `test`, `testnet4`, `signet`, `regtest`.
    pub chain: String,
    /// Height of the validated tip.
    pub blocks: u32,
    /// Height of the best known header.
    pub headers: u32,
    pub best_block_hash: BlockHash,
    pub initial_block_download: bool,
    pub pruned: bool,
}

/// `getblockheader <hash> true`, the fields Ferrum uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    pub hash: BlockHash,
    pub height: u32,
    /// Depth below the tip plus one; -1 when the block is not on the active chain.
    pub confirmations: i64,
    /// `None` for the genesis block.
    pub prev: Option<BlockHash>,
}

fn field<'a>(v: &'a Value, key: &str, request: &str) -> Result<&'a Value, DaemonError> {
    v.get(key).ok_or_else(|| {
        DaemonError::bad_reply(request, format!("missing field {key:?} in {}", short(v)))
    })
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// A block hash in display hex.
pub(crate) fn hash(v: &Value, request: &str) -> Result<BlockHash, DaemonError> {
    v.as_str()
        .and_then(|s| BlockHash::from_str(s).ok())
        .ok_or_else(|| {
            DaemonError::bad_reply(request, format!("expected a block hash, got {}", short(v)))
        })
}

/// Bytes from a hex string.
pub(crate) fn hex_bytes(v: &Value, request: &str) -> Result<Vec<u8>, DaemonError> {
    let s = v.as_str().ok_or_else(|| {
        DaemonError::bad_reply(request, format!("expected a hex string, got {}", short(v)))
    })?;
    Vec::<u8>::from_hex(s).map_err(|e| DaemonError::bad_reply(request, format!("bad hex: {e}")))
}

fn u32_field(v: &Value, key: &str, request: &str) -> Result<u32, DaemonError> {
    let f = field(v, key, request)?;
    f.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            DaemonError::bad_reply(
                request,
                format!("field {key:?} is not a height: {}", short(f)),
            )
        })
}

fn bool_field(v: &Value, key: &str, request: &str) -> Result<bool, DaemonError> {
    let f = field(v, key, request)?;
    f.as_bool().ok_or_else(|| {
        DaemonError::bad_reply(
            request,
            format!("field {key:?} is not a boolean: {}", short(f)),
        )
    })
}

fn string_field(v: &Value, key: &str, request: &str) -> Result<String, DaemonError> {
    let f = field(v, key, request)?;
    f.as_str().map(str::to_string).ok_or_else(|| {
        DaemonError::bad_reply(
            request,
            format!("field {key:?} is not a string: {}", short(f)),
        )
    })
}

pub(crate) fn blockchain_info(v: &Value) -> Result<BlockchainInfo, DaemonError> {
    const R: &str = "getblockchaininfo";
    Ok(BlockchainInfo {
        chain: string_field(v, "chain", R)?,
        blocks: u32_field(v, "blocks", R)?,
        headers: u32_field(v, "headers", R)?,
        best_block_hash: hash(field(v, "bestblockhash", R)?, R)?,
        initial_block_download: bool_field(v, "initialblockdownload", R)?,
        pruned: bool_field(v, "pruned", R)?,
    })
}

pub(crate) fn header_info(v: &Value) -> Result<HeaderInfo, DaemonError> {
    const R: &str = "getblockheader";
    let confirmations = field(v, "confirmations", R)?;
    Ok(HeaderInfo {
        hash: hash(field(v, "hash", R)?, R)?,
        height: u32_field(v, "height", R)?,
        confirmations: confirmations.as_i64().ok_or_else(|| {
            DaemonError::bad_reply(
                R,
                format!("confirmations is not an integer: {}", short(confirmations)),
            )
        })?,
        prev: match v.get("previousblockhash") {
            None | Some(Value::Null) => None,
            Some(p) => Some(hash(p, R)?),
        },
    })
}

/// The tip in `waitfornewblock`'s answer `{"hash": ..., "height": ...}`.
pub(crate) fn tip_hash(v: &Value) -> Result<BlockHash, DaemonError> {
    hash(field(v, "hash", "waitfornewblock")?, "waitfornewblock")
}

/// `getnetworkinfo`'s version and subversion, for the log; `?` where missing.
pub(crate) fn version(v: &Value) -> (String, String) {
    let version = v
        .get("version")
        .map(|n| n.to_string())
        .unwrap_or_else(|| "?".into());
    let sub = v
        .get("subversion")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    (version, sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H0: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
    const H1: &str = "5ee5c11e7e1f0d3b9e7c7f20ef7db1b2e33ce8a4e5c3fb3a0a9f2c6b8b1c9e70";

    fn h(s: &str) -> BlockHash {
        BlockHash::from_str(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_blockchain_info() {
        let v = json!({"chain": "regtest", "blocks": 101, "headers": 101, "bestblockhash": H1,
                       "initialblockdownload": false, "pruned": false, "warnings": []});
        let info = blockchain_info(&v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.chain, "regtest");
        assert_eq!((info.blocks, info.headers), (101, 101));
        assert_eq!(info.best_block_hash, h(H1));
        assert!(!info.initial_block_download && !info.pruned);
        for bad in [
            json!({}),
            json!([]),
            json!({"chain": 1, "blocks": 1, "headers": 1, "bestblockhash": H1, "initialblockdownload": false, "pruned": false}),
            json!({"chain": "x", "blocks": -1, "headers": 1, "bestblockhash": H1, "initialblockdownload": false, "pruned": false}),
            json!({"chain": "x", "blocks": 1, "headers": 1, "bestblockhash": "zz", "initialblockdownload": false, "pruned": false}),
            json!({"chain": "x", "blocks": 1, "headers": 1, "bestblockhash": H1, "initialblockdownload": "no", "pruned": false}),
        ] {
            assert!(
                matches!(blockchain_info(&bad), Err(DaemonError::BadReply { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_header_info() {
        let v = json!({"hash": H1, "height": 5, "confirmations": -1, "previousblockhash": H0});
        let hi = header_info(&v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            hi,
            HeaderInfo {
                hash: h(H1),
                height: 5,
                confirmations: -1,
                prev: Some(h(H0))
            }
        );
        let genesis = json!({"hash": H0, "height": 0, "confirmations": 3});
        assert_eq!(header_info(&genesis).ok().and_then(|g| g.prev), None);
        let bad = json!({"hash": H1, "height": 5, "confirmations": 1.5});
        assert!(header_info(&bad).is_err());
        let bad = json!({"hash": H1, "height": 5, "confirmations": 1, "previousblockhash": 7});
        assert!(header_info(&bad).is_err());
    }

    #[test]
    fn parses_scalars() {
        assert_eq!(hash(&json!(H0), "r").ok(), Some(h(H0)));
        assert!(hash(&json!("00"), "r").is_err());
        assert!(hash(&Value::Null, "r").is_err());
        assert_eq!(hex_bytes(&json!("00ff"), "r").ok(), Some(vec![0, 255]));
        for bad in [json!("0"), json!("zz"), json!(12)] {
            assert!(
                matches!(hex_bytes(&bad, "r"), Err(DaemonError::BadReply { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            tip_hash(&json!({"hash": H1, "height": 3})).ok(),
            Some(h(H1))
        );
        assert!(tip_hash(&json!({"height": 3})).is_err());
        assert_eq!(
            version(&json!({"version": 310000, "subversion": "/Satoshi:31.0.0/"})).1,
            "/Satoshi:31.0.0/"
        );
        assert_eq!(version(&json!(null)), ("?".to_string(), "?".to_string()));
    }

    #[test]
    fn long_values_are_shortened() {
        let long = Value::String("x".repeat(1000));
        let e = hash(&long, "r")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.len() < 400, "{e}");
    }
}
