//! Fuzzes parameter decoding: binding positional or named parameters to a method
//! (`electrum::methods::bind`, after `lookup` at a fuzzed protocol version) and every parameter
//! check a handler applies (`non_negative`, `height`, `boolean`, `txid`, `scripthash`,
//! `script_pubkey`, `hex_list`, `negotiate`, ...) on each bound value.
//!
//! Input: byte 0 picks the method, byte 1 the protocol version, the rest is JSON: an array
//! (positional), an object (named) or any other value (checked directly).
#![no_main]

use ferrum::electrum::methods::{self, METHODS, PROTOCOL_MAX, PROTOCOL_MIN};
use ferrum::electrum::rpc::Params;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Every check on one value; results must be consistent with each other.
fn check(v: &Value) {
    let n = methods::non_negative(v);
    if let Ok(h) = methods::height(v) {
        // Heights beyond u32 are clamped: they are beyond every chain.
        let n = n.as_ref().map(|n| (*n).min(u64::from(u32::MAX)));
        assert_eq!(n.ok(), Some(u64::from(h)));
    }
    let _ = methods::non_negative_or(&Some(v.clone()), 0);
    let _ = methods::boolean(&Some(v.clone()), "verbose");
    let hex = methods::hex_str(v);
    if let Ok(t) = methods::txid(v) {
        assert!(hex.is_ok());
        assert!(methods::is_hex(v, false));
        // Displayed txids are the same hex, in lower case.
        assert_eq!(Some(t.to_string()), v.as_str().map(str::to_ascii_lowercase));
    }
    if methods::scripthash(v).is_ok() {
        assert!(hex.is_ok());
    }
    if let Ok((_, name)) = methods::script_pubkey(v) {
        assert!(!name.is_empty());
    }
    if let Ok(list) = methods::hex_list(v) {
        assert!(list.len() <= v.as_array().map_or(0, Vec::len));
    }
    let _ = methods::is_hex(v, true);
    let _ = methods::short(v);
    let tuple = methods::protocol_tuple(v);
    let _ = methods::version_string(&tuple);
    if let Some(version) = methods::negotiate(Some(v)) {
        assert!(version.as_slice() >= PROTOCOL_MIN && version.as_slice() <= PROTOCOL_MAX);
        let _ = methods::version_string(&version);
    }
}

fuzz_target!(|data: &[u8]| {
    let [method, version, json @ ..] = data else {
        return;
    };
    let Ok(params) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let m = &METHODS[usize::from(*method) % METHODS.len()];
    let version: &[u32] = match version % 5 {
        0 => &[1, 4],
        1 => &[1, 4, 2],
        2 => &[1, 5],
        3 => &[1, 6],
        _ => &[1, 7, 0],
    };
    // Unknown names and versions where the method does not exist are errors, not panics.
    let _ = methods::lookup(m.name, version);
    if let Some(name) = params.as_str() {
        let _ = methods::lookup(name, version);
    }
    check(&params);
    let bound = match params {
        Value::Array(list) => {
            for v in &list {
                check(v);
            }
            methods::bind(m, Params::List(list))
        }
        Value::Object(map) => methods::bind(m, Params::Named(map)),
        _ => return,
    };
    if let Ok(args) = bound {
        assert_eq!(args.len(), m.required.len() + m.optional.len());
        assert!(args[..m.required.len()].iter().all(Option::is_some));
        for v in args.iter().flatten() {
            check(v);
        }
    }
});
