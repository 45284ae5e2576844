//! The one place that owns every on-disk key and value encoding of the index.
//!
//! Keys are built so that RocksDB's byte order is the order queries want: heights and tx numbers
//! are big-endian, a script's rows are contiguous and sorted by tx number. Variable-length
//! integers (LEB128) are used only where they end a key or live in a value.

use crate::silentpayments::block::{TaprootOutput, TxTweak};
use crate::types::{Height, ScriptKey, TxNum, TxidPrefix};

/// Length of the txid prefix in `txnums` keys. Lookups verify each candidate against `txids`, so
/// the prefix only has to make false candidates rare (2^-40 per other tx).
pub const TXNUM_KEY_PREFIX: usize = 5;

/// Appends `v` as unsigned LEB128.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 from the front of `data`, advancing it.
pub fn get_varint(data: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = data.split_first()?;
        *data = rest;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// `blocks`: height → tx count up to and including this block (5 bytes) + serialized header.
pub fn block_key(h: Height) -> [u8; 4] {
    h.to_be_bytes()
}
pub fn block_value(tx_count_end: u64, header: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + header.len());
    v.extend_from_slice(&TxNum(tx_count_end).to_bytes());
    v.extend_from_slice(header);
    v
}
/// Splits a `blocks` value into (tx count end, header).
pub fn parse_block_value(v: &[u8]) -> Option<(u64, &[u8])> {
    Some((TxNum::from_bytes(v)?.0, v.get(TxNum::LEN..)?))
}

/// Txids per `txids` row. Chunks save the per-row overhead (about 6 bytes a tx) while a read
/// still fetches only 2 KB; every commit starts a new chunk at its first tx number.
pub const TXID_CHUNK: usize = 64;

/// `txids`: first tx number of a chunk → the chunk's txids (32 bytes each, internal order).
pub fn txid_key(first: TxNum) -> [u8; 5] {
    first.to_bytes()
}

/// `txnums`: txid prefix + tx number → empty.
pub fn txnum_key(txid: &[u8; 32], n: TxNum) -> [u8; TXNUM_KEY_PREFIX + 5] {
    let mut k = [0u8; TXNUM_KEY_PREFIX + 5];
    k[..TXNUM_KEY_PREFIX].copy_from_slice(&txid[..TXNUM_KEY_PREFIX]);
    k[TXNUM_KEY_PREFIX..].copy_from_slice(&n.to_bytes());
    k
}

/// `history`: script key + first tx number of the row → the row's further tx numbers as LEB128
/// deltas. One row per script per flush; rows of a script sort in chain order.
pub fn history_key(s: &ScriptKey, first: TxNum) -> [u8; ScriptKey::LEN + 5] {
    let mut k = [0u8; ScriptKey::LEN + 5];
    k[..ScriptKey::LEN].copy_from_slice(&s.0);
    k[ScriptKey::LEN..].copy_from_slice(&first.to_bytes());
    k
}
pub fn history_value(rest: &[TxNum], first: TxNum) -> Vec<u8> {
    let mut v = Vec::with_capacity(rest.len() * 2);
    history_value_into(&mut v, rest, first);
    v
}
/// [`history_value`] into a reused buffer (cleared first).
pub fn history_value_into(v: &mut Vec<u8>, rest: &[TxNum], first: TxNum) {
    v.clear();
    let mut prev = first.0;
    for n in rest {
        put_varint(v, n.0 - prev);
        prev = n.0;
    }
}
/// Decodes a history row into `out`. `None` when the row is corrupt.
pub fn decode_history_row(key: &[u8], value: &[u8], out: &mut Vec<TxNum>) -> Option<()> {
    let first = TxNum::from_bytes(key.get(ScriptKey::LEN..)?)?;
    out.push(first);
    let mut prev = first.0;
    let mut data = value;
    while !data.is_empty() {
        prev = prev.checked_add(get_varint(&mut data)?)?;
        out.push(TxNum(prev));
    }
    Some(())
}

/// An output as the `utxo` and `spends` families key it: txid prefix and output index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutPointKey {
    pub txid: TxidPrefix,
    pub vout: u32,
}

impl OutPointKey {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.txid.0);
        put_varint(out, self.vout as u64);
    }
}

/// `utxo`: script key + outpoint key → funding tx number (5 bytes) + value (LEB128 satoshis).
pub fn utxo_key(s: &ScriptKey, o: &OutPointKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(ScriptKey::LEN + TxidPrefix::LEN + 5);
    utxo_key_into(&mut k, s, o);
    k
}
/// [`utxo_key`] into a reused buffer (cleared first).
pub fn utxo_key_into(k: &mut Vec<u8>, s: &ScriptKey, o: &OutPointKey) {
    k.clear();
    k.extend_from_slice(&s.0);
    o.encode_into(k);
}
pub fn utxo_value(n: TxNum, value: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(14);
    utxo_value_into(&mut v, n, value);
    v
}
/// [`utxo_value`] into a reused buffer (cleared first).
pub fn utxo_value_into(v: &mut Vec<u8>, n: TxNum, value: u64) {
    v.clear();
    v.extend_from_slice(&n.to_bytes());
    put_varint(v, value);
}
/// Decodes a `utxo` row into (outpoint key, funding tx number, value).
pub fn decode_utxo(key: &[u8], value: &[u8]) -> Option<(OutPointKey, TxNum, u64)> {
    let rest = key.get(ScriptKey::LEN..)?;
    let txid = TxidPrefix(rest.get(..TxidPrefix::LEN)?.try_into().ok()?);
    let mut vout_bytes = rest.get(TxidPrefix::LEN..)?;
    let vout = u32::try_from(get_varint(&mut vout_bytes)?).ok()?;
    let (n, value) = decode_utxo_value(value)?;
    Some((OutPointKey { txid, vout }, n, value))
}

/// The funding tx number and value of a `utxo` row's value.
pub fn decode_utxo_value(value: &[u8]) -> Option<(TxNum, u64)> {
    let n = TxNum::from_bytes(value)?;
    let mut val = value.get(TxNum::LEN..)?;
    Some((n, get_varint(&mut val)?))
}

/// Bytes of the funding txid that start a `spends` key. With the [`SPEND_CHECK`] bytes in the
/// value, a lookup compares 80 bits of the txid: about 6 × 10^-7 colliding pairs expected on a
/// chain of 1.2 × 10^9 transactions (see ARCHITECTURE.md).
pub const SPEND_TXID_PREFIX: usize = 6;

/// Bytes of the funding txid kept in a `spends` value and checked at lookup.
pub const SPEND_CHECK: std::ops::Range<usize> = SPEND_TXID_PREFIX..SPEND_TXID_PREFIX + 4;

/// `spends`: key prefix (txid prefix + vout) of a spent output.
pub fn spend_prefix(o: &OutPointKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(SPEND_TXID_PREFIX + 10);
    k.extend_from_slice(&o.txid.0[..SPEND_TXID_PREFIX]);
    put_varint(&mut k, o.vout as u64);
    k
}

/// `spends`: txid prefix + vout + spending tx number → funding txid bytes [`SPEND_CHECK`]. The
/// spender is in the key so that colliding prefixes keep both rows.
pub fn spend_key(o: &OutPointKey, spender: TxNum) -> Vec<u8> {
    let mut k = Vec::with_capacity(SPEND_TXID_PREFIX + 10);
    spend_key_into(&mut k, o, spender);
    k
}
/// [`spend_key`] into a reused buffer (cleared first).
pub fn spend_key_into(k: &mut Vec<u8>, o: &OutPointKey, spender: TxNum) {
    k.clear();
    k.extend_from_slice(&o.txid.0[..SPEND_TXID_PREFIX]);
    put_varint(k, o.vout as u64);
    k.extend_from_slice(&spender.to_bytes());
}

/// An output as the `outpoints` family and the writer's raw-source map know it: 12 bytes of
/// the funding txid (the [`TxidPrefix`] of the key, then [`OUTPOINT_CHECK`]) and the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutPointId {
    pub txid: [u8; 12],
    pub vout: u32,
}

impl OutPointId {
    pub fn new(txid: &[u8; 32], vout: u32) -> Self {
        let mut t = [0u8; 12];
        t.copy_from_slice(&txid[..12]);
        OutPointId { txid: t, vout }
    }
    /// The key part: txid prefix and index, as in `utxo` and undo records.
    pub fn key(&self) -> OutPointKey {
        let mut p = [0u8; TxidPrefix::LEN];
        p.copy_from_slice(&self.txid[..TxidPrefix::LEN]);
        OutPointKey {
            txid: TxidPrefix(p),
            vout: self.vout,
        }
    }
    /// The txid bytes kept in the value and compared at lookup.
    pub fn check(&self) -> [u8; 4] {
        let mut c = [0u8; 4];
        c.copy_from_slice(&self.txid[OUTPOINT_CHECK]);
        c
    }
}

/// Bytes of the funding txid kept in an `outpoints` value (after the key's [`TxidPrefix`]) and
/// compared at lookup: 96 bits in all, so a wrong match needs two live outputs with equal
/// 12-byte txid prefixes (and a mismatch only sends the lookup to the exact slow path).
pub const OUTPOINT_CHECK: std::ops::Range<usize> = TxidPrefix::LEN..TxidPrefix::LEN + 4;

/// What an unspent output is: the script it pays, its funding tx number and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputInfo {
    pub script: ScriptKey,
    pub funding: TxNum,
    pub value: u64,
}

/// `outpoints`: txid prefix (8) + vout (LEB128).
pub fn outpoint_key_into(k: &mut Vec<u8>, o: &OutPointKey) {
    k.clear();
    o.encode_into(k);
}
/// `outpoints` value: txid check bytes (4) + script key (11) + funding tx number (5) + value
/// (LEB128 satoshis).
pub fn outpoint_value_into(v: &mut Vec<u8>, check: [u8; 4], o: &OutputInfo) {
    v.clear();
    v.extend_from_slice(&check);
    v.extend_from_slice(&o.script.0);
    v.extend_from_slice(&o.funding.to_bytes());
    put_varint(v, o.value);
}
/// Decodes an `outpoints` value into (check bytes, output).
pub fn decode_outpoint_value(v: &[u8]) -> Option<([u8; 4], OutputInfo)> {
    let check = v.get(..4)?.try_into().ok()?;
    let script = ScriptKey::from_slice(v.get(4..4 + ScriptKey::LEN)?)?;
    let funding = TxNum::from_bytes(v.get(4 + ScriptKey::LEN..)?)?;
    let mut rest = v.get(4 + ScriptKey::LEN + TxNum::LEN..)?;
    let value = get_varint(&mut rest)?;
    rest.is_empty().then_some((
        check,
        OutputInfo {
            script,
            funding,
            value,
        },
    ))
}

/// `undo`: height → undo record (see `sync::undo`).
pub fn undo_key(h: Height) -> [u8; 4] {
    h.to_be_bytes()
}

/// `sp_tweaks` and `sp_outputs`: height → the block's eligible transactions (silent payments),
/// in block order. A block with none has no row.
pub fn sp_key(h: Height) -> [u8; 4] {
    h.to_be_bytes()
}

/// The two values of a block's silent payments rows:
/// - `sp_tweaks`: per transaction, its position in the block (LEB128) and its tweak (33);
/// - `sp_outputs`: per transaction, its taproot output count (LEB128), then per output its
///   index (LEB128), value (LEB128) and x-only key (32).
///
/// Split so that the tweaks alone (what most requests need first) are a small, dense read.
pub fn sp_values(txs: &[TxTweak]) -> (Vec<u8>, Vec<u8>) {
    let mut tweaks = Vec::with_capacity(txs.len() * 35);
    let mut outputs = Vec::with_capacity(txs.len() * 40);
    for t in txs {
        put_varint(&mut tweaks, t.index as u64);
        tweaks.extend_from_slice(&t.tweak);
        put_varint(&mut outputs, t.outputs.len() as u64);
        for o in &t.outputs {
            put_varint(&mut outputs, o.vout as u64);
            put_varint(&mut outputs, o.value);
            outputs.extend_from_slice(&o.key);
        }
    }
    (tweaks, outputs)
}

/// Decodes a block's rows (see [`sp_values`]); `None` when they are corrupt or do not match.
pub fn decode_sp(tweaks: &[u8], outputs: &[u8]) -> Option<Vec<TxTweak>> {
    let (mut t, mut o) = (tweaks, outputs);
    let mut out = Vec::with_capacity(tweaks.len() / 35);
    while !t.is_empty() {
        let index = u32::try_from(get_varint(&mut t)?).ok()?;
        let (tweak, rest) = t.split_first_chunk::<33>()?;
        t = rest;
        let n = get_varint(&mut o)?;
        // Each output takes at least 34 bytes: a hostile count cannot make us allocate.
        if n > (o.len() / 34) as u64 {
            return None;
        }
        let mut outs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let vout = u32::try_from(get_varint(&mut o)?).ok()?;
            let value = get_varint(&mut o)?;
            let (key, rest) = o.split_first_chunk::<32>()?;
            o = rest;
            outs.push(TaprootOutput {
                vout,
                value,
                key: *key,
            });
        }
        out.push(TxTweak {
            index,
            tweak: *tweak,
            outputs: outs,
        });
    }
    o.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = vec![];
            put_varint(&mut b, v);
            let mut s = &b[..];
            assert_eq!(get_varint(&mut s), Some(v));
            assert!(s.is_empty());
        }
        assert_eq!(get_varint(&mut &[0x80u8][..]), None);
        assert_eq!(get_varint(&mut &[0xffu8; 11][..]), None);
    }

    #[test]
    fn history_row_roundtrip() {
        let s = ScriptKey([7; ScriptKey::LEN]);
        let first = TxNum(1000);
        let rest = [TxNum(1001), TxNum(5000), TxNum(1 << 39)];
        let k = history_key(&s, first);
        let v = history_value(&rest, first);
        let mut out = vec![];
        decode_history_row(&k, &v, &mut out).unwrap();
        assert_eq!(out, [first, rest[0], rest[1], rest[2]]);
        assert!(decode_history_row(&k[..10], &v, &mut out).is_none());
    }

    #[test]
    fn utxo_roundtrip() {
        let s = ScriptKey([1; ScriptKey::LEN]);
        let o = OutPointKey {
            txid: TxidPrefix([9; 8]),
            vout: 70000,
        };
        let k = utxo_key(&s, &o);
        let v = utxo_value(TxNum(42), 21_000_000 * 100_000_000);
        assert_eq!(
            decode_utxo(&k, &v),
            Some((o, TxNum(42), 21_000_000 * 100_000_000))
        );
    }

    #[test]
    fn outpoint_roundtrip() {
        let mut txid = [0u8; 32];
        for (i, b) in txid.iter_mut().enumerate() {
            *b = i as u8;
        }
        let id = OutPointId::new(&txid, 70000);
        assert_eq!(id.key().txid.0, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(id.check(), [8, 9, 10, 11]);
        let o = OutputInfo {
            script: ScriptKey([4; ScriptKey::LEN]),
            funding: TxNum(1 << 39),
            value: 21_000_000 * 100_000_000,
        };
        let (mut k, mut v) = (vec![], vec![]);
        outpoint_key_into(&mut k, &id.key());
        assert_eq!(k.len(), 8 + 3);
        outpoint_value_into(&mut v, id.check(), &o);
        assert_eq!(decode_outpoint_value(&v), Some((id.check(), o)));
        for cut in 0..v.len() {
            assert_eq!(decode_outpoint_value(&v[..cut]), None);
        }
        v.push(0);
        assert_eq!(decode_outpoint_value(&v), None);
    }

    #[test]
    fn sp_rows_roundtrip_and_garbage() {
        let txs = vec![
            TxTweak {
                index: 3,
                tweak: [2; 33],
                outputs: vec![TaprootOutput {
                    vout: 1,
                    value: 546,
                    key: [7; 32],
                }],
            },
            TxTweak {
                index: 300,
                tweak: [3; 33],
                outputs: vec![
                    TaprootOutput {
                        vout: 0,
                        value: 0,
                        key: [8; 32],
                    },
                    TaprootOutput {
                        vout: 70000,
                        value: 21_000_000 * 100_000_000,
                        key: [9; 32],
                    },
                ],
            },
        ];
        let (t, o) = sp_values(&txs);
        assert_eq!(t.len(), 1 + 33 + 2 + 33);
        assert_eq!(decode_sp(&t, &o), Some(txs));
        for cut in 0..t.len() {
            assert_eq!(decode_sp(&t[..cut], &o), None, "tweaks cut at {cut}");
        }
        for cut in 0..o.len() {
            assert_eq!(decode_sp(&t, &o[..cut]), None, "outputs cut at {cut}");
        }
        let mut long = o.clone();
        long.push(0);
        assert_eq!(decode_sp(&t, &long), None);
        assert_eq!(decode_sp(&[], &[]), Some(vec![]));
        assert_eq!(decode_sp(&t[..34], &[0xff, 0xff, 0xff, 0xff, 0x0f]), None);
    }

    #[test]
    fn history_keys_sort_in_chain_order() {
        let s = ScriptKey([3; ScriptKey::LEN]);
        assert!(history_key(&s, TxNum(255)) < history_key(&s, TxNum(256)));
    }
}
