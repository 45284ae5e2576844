//! Zero-copy block parser for the indexing hot path.
//!
//! Indexing needs, per transaction, only its txid, its inputs' previous outpoints and its
//! outputs' values and scripts. This parser walks the raw block once, hashing each transaction's
//! non-witness bytes as it goes, and records output scripts as byte ranges into the raw block
//! instead of copying them. Everything is bounds-checked: a malformed block is a [`ParseError`],
//! never a panic. `benches/parse.rs` compares it with rust-bitcoin's full deserialisation.

use bitcoin::hashes::{Hash, HashEngine, sha256d};
use bitcoin::{BlockHash, Txid};
use std::ops::Range;

/// Why a block (or transaction) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("{count} {what} at byte {at} is more than the data can hold")]
    TooMany {
        what: &'static str,
        count: u64,
        at: usize,
    },
    #[error("{0} trailing bytes after the last transaction")]
    Trailing(usize),
    #[error("block has no transactions")]
    Empty,
    /// Data this parser refuses: an unknown flag, a payload of the wrong size, MWEB
    /// transaction data inside a block, ...
    #[error("{what} at byte {at}")]
    Invalid { what: &'static str, at: usize },
}

/// A previous outpoint spent by an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxIn {
    /// Txid of the funding transaction, internal byte order.
    pub prev_txid: [u8; 32],
    pub prev_vout: u32,
}

/// An output: value in satoshis and its scriptPubKey as a range of the raw block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOut {
    pub value: u64,
    pub script: Range<usize>,
}

/// One transaction of a parsed block; its inputs and outputs are ranges of the block's flat
/// [`ParsedBlock::inputs`] and [`ParsedBlock::outputs`] vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTx {
    pub txid: Txid,
    /// Empty for the coinbase.
    pub inputs: Range<usize>,
    pub outputs: Range<usize>,
    /// The transaction's serialization, as a range of the raw block (what silent payments
    /// decode again for the inputs' scriptSigs and witnesses).
    pub bytes: Range<usize>,
}

/// What indexing needs from a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBlock {
    pub hash: BlockHash,
    pub prev_hash: BlockHash,
    /// The serialized header, as a range of the raw block.
    pub header: Range<usize>,
    pub txs: Vec<ParsedTx>,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
}

impl ParsedBlock {
    pub fn tx_inputs(&self, tx: &ParsedTx) -> &[TxIn] {
        &self.inputs[tx.inputs.clone()]
    }
    pub fn tx_outputs(&self, tx: &ParsedTx) -> &[TxOut] {
        &self.outputs[tx.outputs.clone()]
    }
}

/// A bounds-checked cursor over a byte slice.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Reader { data, pos }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    /// The bytes from `start` (an earlier position) to the current position.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.data[start.min(self.pos)..self.pos]
    }
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(ParseError::Truncated(self.pos))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(ParseError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), ParseError> {
        self.bytes(n).map(|_| ())
    }
    pub(crate) fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.bytes(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, ParseError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn peek(&self, offset: usize) -> Option<u8> {
        self.data.get(self.pos + offset).copied()
    }
    /// The witnesses of a transaction's `n_in` inputs (BIP 144): skipped, bounds-checked.
    #[inline(always)]
    pub(crate) fn skip_witnesses(&mut self, n_in: usize) -> Result<(), ParseError> {
        for _ in 0..n_in {
            let items = self.count("witness items", 1)?;
            for _ in 0..items {
                let len = self.count("witness bytes", 1)?;
                self.skip(len)?;
            }
        }
        Ok(())
    }

    /// Bitcoin's CompactSize.
    pub(crate) fn varint(&mut self) -> Result<u64, ParseError> {
        Ok(match self.u8()? {
            0xfd => {
                let b = self.bytes(2)?;
                u16::from_le_bytes([b[0], b[1]]) as u64
            }
            0xfe => self.u32()? as u64,
            0xff => self.u64()?,
            n => n as u64,
        })
    }
    /// A count of items of at least `min_size` bytes each, rejected when the rest of the data
    /// cannot hold that many (so a hostile count cannot make us allocate).
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        min_size: usize,
    ) -> Result<usize, ParseError> {
        let at = self.pos;
        let count = self.varint()?;
        if count.saturating_mul(min_size as u64) > self.remaining() as u64 {
            return Err(ParseError::TooMany { what, count, at });
        }
        Ok(count as usize)
    }
}

/// Parses a raw block whose header is `header_len` bytes, hashing the header with `header_hash`.
pub fn parse_block(
    raw: &[u8],
    header_len: usize,
    header_hash: impl Fn(&[u8]) -> BlockHash,
) -> Result<ParsedBlock, ParseError> {
    let (mut r, mut block, tx_count) = begin_block(raw, header_len, header_hash, 60)?;
    for i in 0..tx_count {
        parse_tx_into(&mut r, i == 0, &mut block)?;
    }
    if r.remaining() != 0 {
        return Err(ParseError::Trailing(r.remaining()));
    }
    Ok(block)
}

/// The inputs and outputs of a transaction (the same in every format Ferrum parses), appended
/// to `block`: the coinbase's input is not recorded. Returns the input count and where the
/// transaction's inputs and outputs start in `block`. Inlined: it is the hot path of indexing.
#[inline(always)]
pub(crate) fn read_inputs_and_outputs(
    r: &mut Reader<'_>,
    coinbase: bool,
    block: &mut ParsedBlock,
) -> Result<(usize, usize, usize), ParseError> {
    let n_in = r.count("inputs", 41)?;
    let in_start = block.inputs.len();
    for _ in 0..n_in {
        let prev = r.bytes(32)?;
        let vout = r.u32()?;
        let script_len = r.count("script bytes", 1)?;
        r.skip(script_len)?;
        r.skip(4)?; // sequence
        if !coinbase {
            let mut prev_txid = [0u8; 32];
            prev_txid.copy_from_slice(prev);
            block.inputs.push(TxIn {
                prev_txid,
                prev_vout: vout,
            });
        }
    }
    let n_out = r.count("outputs", 9)?;
    let out_start = block.outputs.len();
    for _ in 0..n_out {
        let value = r.u64()?;
        let script_len = r.count("script bytes", 1)?;
        let script_start = r.pos();
        r.skip(script_len)?;
        block.outputs.push(TxOut {
            value,
            script: script_start..script_start + script_len,
        });
    }
    Ok((n_in, in_start, out_start))
}

/// The start of every block: its header (hashed with `header_hash`), previous hash and
/// transaction count (at least one, each of at least `min_tx_size` bytes). Returns the reader
/// at the first transaction and the block to fill.
pub(crate) fn begin_block<'a>(
    raw: &'a [u8],
    header_len: usize,
    header_hash: impl Fn(&[u8]) -> BlockHash,
    min_tx_size: usize,
) -> Result<(Reader<'a>, ParsedBlock, usize), ParseError> {
    let mut r = Reader::new(raw, 0);
    let header = r.bytes(header_len)?;
    let hash = header_hash(header);
    let prev: [u8; 32] = raw
        .get(4..36)
        .and_then(|s| s.try_into().ok())
        .ok_or(ParseError::Truncated(4))?;
    let tx_count = r.count("transactions", min_tx_size)?;
    if tx_count == 0 {
        return Err(ParseError::Empty);
    }
    let block = ParsedBlock {
        hash,
        prev_hash: BlockHash::from_byte_array(prev),
        header: 0..header_len,
        txs: Vec::with_capacity(tx_count),
        inputs: Vec::with_capacity(tx_count * 2),
        outputs: Vec::with_capacity(tx_count * 3),
    };
    Ok((r, block, tx_count))
}

/// Parses one transaction at the reader's position, appending it to `block`.
fn parse_tx_into(
    r: &mut Reader<'_>,
    coinbase: bool,
    block: &mut ParsedBlock,
) -> Result<(), ParseError> {
    let tx_start = r.pos();
    let mut engine = sha256d::Hash::engine();
    engine.input(r.bytes(4)?); // version
    let segwit = r.peek(0) == Some(0) && r.peek(1).is_some_and(|f| f != 0);
    if segwit {
        r.skip(2)?; // marker and flag are not part of the txid
    }
    let body_start = r.pos();
    let (n_in, in_start, out_start) = read_inputs_and_outputs(r, coinbase, block)?;
    engine.input(r.since(body_start));
    if segwit {
        r.skip_witnesses(n_in)?;
    }
    let lock = r.bytes(4)?;
    engine.input(lock);
    let txid = Txid::from_raw_hash(sha256d::Hash::from_engine(engine));
    block.txs.push(ParsedTx {
        txid,
        inputs: in_start..block.inputs.len(),
        outputs: out_start..block.outputs.len(),
        bytes: tx_start..r.pos(),
    });
    Ok(())
}

/// The outputs a block's inputs spend, in input order, as bitcoind's REST `spenttxouts` serves
/// them: for each transaction (the coinbase included, with none), the spent `CTxOut`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentOutputs {
    /// Flat list of spent outputs: value and script range into the raw reply.
    pub outputs: Vec<TxOut>,
    /// Per transaction, the range of `outputs` its inputs spend.
    pub per_tx: Vec<Range<usize>>,
}

/// Parses the binary body of `/rest/spenttxouts/<hash>.bin`.
pub fn parse_spent_outputs(raw: &[u8]) -> Result<SpentOutputs, ParseError> {
    let mut r = Reader::new(raw, 0);
    let tx_count = r.count("transactions", 1)?;
    let mut spent = SpentOutputs {
        outputs: Vec::with_capacity(tx_count * 2),
        per_tx: Vec::with_capacity(tx_count),
    };
    for _ in 0..tx_count {
        let n = r.count("spent outputs", 9)?;
        let start = spent.outputs.len();
        for _ in 0..n {
            let value = r.u64()?;
            let len = r.count("script bytes", 1)?;
            let script_start = r.pos();
            r.skip(len)?;
            spent.outputs.push(TxOut {
                value,
                script: script_start..script_start + len,
            });
        }
        spent.per_tx.push(start..spent.outputs.len());
    }
    if r.remaining() != 0 {
        return Err(ParseError::Trailing(r.remaining()));
    }
    Ok(spent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::deserialize;

    fn block_hash(h: &[u8]) -> BlockHash {
        BlockHash::from_raw_hash(sha256d::Hash::hash(h))
    }

    /// A segwit-era mainnet block from rust-bitcoin's own test data is not available here, so
    /// build one: every tx kind rust-bitcoin can serialize, compared field by field.
    fn check_against_rust_bitcoin(raw: &[u8]) {
        let block: bitcoin::Block = deserialize(raw).unwrap();
        let parsed = parse_block(raw, 80, block_hash).unwrap();
        assert_eq!(parsed.hash, block.block_hash());
        assert_eq!(parsed.prev_hash, block.header.prev_blockhash);
        assert_eq!(parsed.txs.len(), block.txdata.len());
        for (i, (p, tx)) in parsed.txs.iter().zip(&block.txdata).enumerate() {
            assert_eq!(p.txid, tx.compute_txid());
            let ins = parsed.tx_inputs(p);
            if i == 0 {
                assert!(ins.is_empty());
            } else {
                assert_eq!(ins.len(), tx.input.len());
                for (a, b) in ins.iter().zip(&tx.input) {
                    assert_eq!(&a.prev_txid, b.previous_output.txid.as_byte_array());
                    assert_eq!(a.prev_vout, b.previous_output.vout);
                }
            }
            let outs = parsed.tx_outputs(p);
            assert_eq!(outs.len(), tx.output.len());
            for (a, b) in outs.iter().zip(&tx.output) {
                assert_eq!(a.value, b.value.to_sat());
                assert_eq!(&raw[a.script.clone()], b.script_pubkey.as_bytes());
            }
        }
    }

    #[test]
    fn genesis_parses() {
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Bitcoin);
        check_against_rust_bitcoin(&bitcoin::consensus::serialize(&genesis));
    }

    #[test]
    fn truncated_and_garbage_blocks_are_errors_not_panics() {
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Bitcoin);
        let raw = bitcoin::consensus::serialize(&genesis);
        for cut in 0..raw.len() {
            assert!(
                parse_block(&raw[..cut], 80, block_hash).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = raw.clone();
        long.push(0);
        assert_eq!(
            parse_block(&long, 80, block_hash),
            Err(ParseError::Trailing(1))
        );
        // A huge transaction count must not allocate.
        let mut huge = raw[..80].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            parse_block(&huge, 80, block_hash),
            Err(ParseError::TooMany { .. })
        ));
        let mut rng_state = 0x1234_5678_u64;
        for _ in 0..2000 {
            let len = (rng_state % 400) as usize;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (rng_state >> 33) as u8
                })
                .collect();
            let _ = parse_block(&junk, 80, block_hash);
            let _ = parse_spent_outputs(&junk);
        }
    }

    #[test]
    fn spent_outputs_roundtrip() {
        // Two txs: coinbase (no inputs) and one spending two outputs.
        let mut raw = vec![2u8, 0, 2];
        for (value, script) in [(5000u64, vec![0x51u8]), (7u64, vec![0x00, 0x14])] {
            raw.extend_from_slice(&value.to_le_bytes());
            raw.push(script.len() as u8);
            raw.extend_from_slice(&script);
        }
        let s = parse_spent_outputs(&raw).unwrap();
        assert_eq!(s.per_tx, vec![0..0, 0..2]);
        assert_eq!(s.outputs[0].value, 5000);
        assert_eq!(&raw[s.outputs[1].script.clone()], &[0x00, 0x14]);
        assert!(parse_spent_outputs(&raw[..raw.len() - 1]).is_err());
    }
}
