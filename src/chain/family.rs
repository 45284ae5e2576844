//! Block parsing for coins whose blocks are not serialized like Bitcoin's.
//!
//! A [`BlockFormat`] names the differences a coin family has from Bitcoin: a header that may be
//! followed by merged-mining proof ([`HeaderFormat::AuxPow`]), transactions with extra fields
//! ([`TxFormat`]: Litecoin's MWEB flag, Dash's special-transaction payload) and the hash that
//! makes a txid ([`TxidHash`]: single SHA-256 for Groestlcoin). [`parse_block_with`] walks a raw
//! block under such a description and produces the same [`ParsedBlock`] as Bitcoin's parser.
//!
//! Bitcoin itself never comes here: its hot path stays [`super::parse::parse_block`]. This
//! module reuses that module's [`Reader`], so it is bounds-checked the same way: a malformed
//! block is a [`ParseError`], never a panic or an unbounded allocation.

use super::auxpow;
use super::parse::{
    ParseError, ParsedBlock, ParsedTx, Reader, begin_block, read_inputs_and_outputs,
};
use bitcoin::hashes::{Hash, HashEngine, sha256};
use bitcoin::{BlockHash, Txid};

/// How a coin's blocks are laid out, for [`parse_block_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockFormat {
    pub header: HeaderFormat,
    pub tx: TxFormat,
    pub txid: TxidHash,
}

/// What the block header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFormat {
    /// Bitcoin's 80 bytes.
    Plain,
    /// 80 bytes, followed by the merged-mining proof when version bit 8 is set (Namecoin,
    /// Dogecoin); see [`auxpow::header_len`].
    AuxPow,
}

/// How transactions are serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxFormat {
    /// Bitcoin's, with BIP 144 witness data (marker 0, flag 1).
    SegWit,
    /// Litecoin's: segwit, plus flag bit 0x08 for MWEB data, and MWEB extension data after the
    /// last transaction of a block.
    Litecoin,
    /// Dash's: no witness; a DIP 2 special transaction (version >= 3, type != 0 in the version's
    /// high 16 bits) carries a payload after its locktime, part of the txid.
    Dash,
}

/// The hash of a transaction's non-witness serialization that makes its txid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxidHash {
    Sha256d,
    /// Single SHA-256 (Groestlcoin).
    Sha256,
}

impl BlockFormat {
    /// Length of the header that starts `data`.
    pub fn header_len(&self, data: &[u8]) -> Result<usize, ParseError> {
        match self.header {
            HeaderFormat::Plain if data.len() < 80 => Err(ParseError::Truncated(data.len())),
            HeaderFormat::Plain => Ok(80),
            HeaderFormat::AuxPow => auxpow::header_len(data),
        }
    }
}

/// Parses a raw block of the given format. `header_hash` receives the whole header (with its
/// merged-mining proof, if any) and returns the block hash.
pub fn parse_block_with(
    raw: &[u8],
    format: &BlockFormat,
    header_hash: impl Fn(&[u8]) -> BlockHash,
) -> Result<ParsedBlock, ParseError> {
    let header_len = format.header_len(raw)?;
    // The smallest transaction: 60 bytes with an input and an output; 10 for Litecoin, whose
    // node can serve an MWEB-only transaction stripped to version, two empty counts, locktime.
    let min_tx_size = match format.tx {
        TxFormat::Litecoin => 10,
        TxFormat::SegWit | TxFormat::Dash => 60,
    };
    let (mut r, mut block, tx_count) = begin_block(raw, header_len, header_hash, min_tx_size)?;
    let mut last_had_mweb = false;
    for i in 0..tx_count {
        last_had_mweb = parse_tx_into(&mut r, format, i == 0, &mut block)?.mweb;
    }
    // Litecoin: a block whose last transaction is the MWEB integration ("HogEx") transaction
    // is followed by the MWEB extension block. Its outputs are not Electrum-visible, so it is
    // skipped unread, as ElectrumX's DeserializerLitecoin does (it reads the transaction count
    // and the transactions, and ignores whatever follows).
    let extension_follows = format.tx == TxFormat::Litecoin && last_had_mweb;
    if r.remaining() != 0 && !extension_follows {
        return Err(ParseError::Trailing(r.remaining()));
    }
    Ok(block)
}

/// Bitcoin's own layout, as a [`BlockFormat`]: what a Bitcoin transaction alone is parsed with.
pub const BITCOIN_FORMAT: BlockFormat = BlockFormat {
    header: HeaderFormat::Plain,
    tx: TxFormat::SegWit,
    txid: TxidHash::Sha256d,
};

/// One transaction alone, as `getrawtransaction` serves it (the mempool), parsed under
/// `format`: a [`ParsedBlock`] of that one transaction (no header; the coinbase rule is off, so
/// every input is recorded) and its virtual size (BIP 141 weight / 4, rounded up; the size for
/// coins without witness data). Nothing may follow the transaction.
pub fn parse_transaction_with(
    raw: &[u8],
    format: &BlockFormat,
) -> Result<(ParsedBlock, u64), ParseError> {
    let mut r = Reader::new(raw, 0);
    let mut tx = ParsedBlock {
        hash: BlockHash::all_zeros(),
        prev_hash: BlockHash::all_zeros(),
        header: 0..0,
        txs: Vec::with_capacity(1),
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    let info = parse_tx_into(&mut r, format, false, &mut tx)?;
    if r.remaining() != 0 {
        return Err(ParseError::Trailing(r.remaining()));
    }
    let weight = info.base_size as u64 * 3 + raw.len() as u64;
    Ok((tx, weight.div_ceil(4)))
}

/// What [`parse_tx_into`] learnt besides the transaction itself.
struct TxInfo {
    /// It carried Litecoin's MWEB flag.
    mweb: bool,
    /// Bytes of its serialization without witness (and MWEB) data: those that make the txid.
    base_size: usize,
}

/// Hashes a transaction's non-witness bytes as they are read.
struct TxidEngine(sha256::HashEngine, usize);

impl TxidEngine {
    fn new() -> Self {
        TxidEngine(sha256::Hash::engine(), 0)
    }
    fn input(&mut self, bytes: &[u8]) {
        self.0.input(bytes);
        self.1 += bytes.len();
    }
    fn finish(self, kind: TxidHash) -> Txid {
        let once = sha256::Hash::from_engine(self.0);
        let bytes = match kind {
            TxidHash::Sha256 => once.to_byte_array(),
            TxidHash::Sha256d => sha256::Hash::hash(once.as_byte_array()).to_byte_array(),
        };
        Txid::from_byte_array(bytes)
    }
}

/// Litecoin's transaction flag bits: witness data, MWEB data.
const FLAG_WITNESS: u8 = 0x01;
const FLAG_MWEB: u8 = 0x08;

/// Parses one transaction at the reader's position, appending it to `block`.
fn parse_tx_into(
    r: &mut Reader<'_>,
    format: &BlockFormat,
    coinbase: bool,
    block: &mut ParsedBlock,
) -> Result<TxInfo, ParseError> {
    let mut engine = TxidEngine::new();
    let version_at = r.pos();
    let version = r.u32()?;
    engine.input(&version.to_le_bytes());
    // A zero where the input count would be, then a non-zero flag. A zero flag is no flag: a
    // transaction with no inputs and no outputs, as litecoind serves an MWEB-only transaction
    // stripped of its MWEB part; it parses as an empty transaction.
    let flag = match format.tx {
        TxFormat::Dash => 0,
        TxFormat::SegWit | TxFormat::Litecoin => match (r.peek(0), r.peek(1)) {
            (Some(0), Some(flag)) if flag != 0 => {
                r.skip(2)?; // marker and flag are not part of the txid
                flag
            }
            _ => 0,
        },
    };
    let allowed = match format.tx {
        TxFormat::Litecoin => FLAG_WITNESS | FLAG_MWEB,
        _ => FLAG_WITNESS,
    };
    if flag & !allowed != 0 {
        return Err(ParseError::Invalid {
            what: "unknown transaction flag",
            at: version_at + 5,
        });
    }
    let body_start = r.pos();
    let (n_in, in_start, out_start) = read_inputs_and_outputs(r, coinbase, block)?;
    engine.input(r.since(body_start));
    if flag & FLAG_WITNESS != 0 {
        r.skip_witnesses(n_in)?;
    }
    if flag & FLAG_MWEB != 0 {
        // Inside a block only the integration (HogEx) transaction has the flag, with an empty
        // MWEB transaction: one zero byte. Anything else has a variable-length body that would
        // need a full MWEB parser to size (ElectrumX refuses it too).
        let at = r.pos();
        if r.u8()? != 0 {
            return Err(ParseError::Invalid {
                what: "MWEB transaction data inside a block",
                at,
            });
        }
    }
    let lock_start = r.pos();
    r.skip(4)?;
    if format.tx == TxFormat::Dash && is_dash_special(version) {
        let len = r.count("special transaction payload bytes", 1)?;
        r.skip(len)?;
    }
    engine.input(r.since(lock_start));
    let base_size = engine.1;
    block.txs.push(ParsedTx {
        txid: engine.finish(format.txid),
        inputs: in_start..block.inputs.len(),
        outputs: out_start..block.outputs.len(),
        bytes: version_at..r.pos(),
    });
    Ok(TxInfo {
        mweb: flag & FLAG_MWEB != 0,
        base_size,
    })
}

/// DIP 2: the version's high 16 bits are a transaction type, its low 16 bits the version; a
/// payload follows the locktime when the type is set and the version is at least 3.
fn is_dash_special(version: u32) -> bool {
    version >> 16 != 0 && version & 0xffff >= 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::sha256d;

    fn sha256d_hash(h: &[u8]) -> BlockHash {
        BlockHash::from_raw_hash(sha256d::Hash::hash(&h[..80]))
    }

    const SEGWIT: BlockFormat = BlockFormat {
        header: HeaderFormat::Plain,
        tx: TxFormat::SegWit,
        txid: TxidHash::Sha256d,
    };
    const LITECOIN: BlockFormat = BlockFormat {
        tx: TxFormat::Litecoin,
        ..SEGWIT
    };
    const DASH: BlockFormat = BlockFormat {
        tx: TxFormat::Dash,
        ..SEGWIT
    };

    /// A block of an all-zero header and the given transactions.
    fn block_of(txs: &[&[u8]]) -> Vec<u8> {
        let mut raw = vec![0u8; 80];
        raw.push(txs.len() as u8);
        for tx in txs {
            raw.extend_from_slice(tx);
        }
        raw
    }

    /// A one-input, one-output transaction with the given version, marker/flag and trailer.
    fn tx(version: u32, flag: Option<u8>, witness: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut t = version.to_le_bytes().to_vec();
        if let Some(f) = flag {
            t.extend_from_slice(&[0, f]);
        }
        t.push(1);
        t.extend_from_slice(&[7u8; 32]);
        t.extend_from_slice(&3u32.to_le_bytes());
        t.extend_from_slice(&[1, 0x51]); // scriptSig
        t.extend_from_slice(&[0xff; 4]);
        t.push(1);
        t.extend_from_slice(&5000u64.to_le_bytes());
        t.extend_from_slice(&[1, 0x51]);
        t.extend_from_slice(witness);
        t.extend_from_slice(&[0; 4]); // locktime
        t.extend_from_slice(tail);
        t
    }

    #[test]
    fn segwit_format_agrees_with_bitcoin_s_parser() {
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Bitcoin);
        let raw = bitcoin::consensus::serialize(&genesis);
        let ours = parse_block_with(&raw, &SEGWIT, sha256d_hash).unwrap();
        let bitcoin = crate::chain::parse::parse_block(&raw, 80, sha256d_hash).unwrap();
        assert_eq!(ours, bitcoin);
    }

    #[test]
    fn litecoin_hogex_and_extension_data_are_skipped() {
        let plain = tx(2, None, &[], &[]);
        // HogEx: MWEB flag only, no witness, one zero byte of MWEB data before the locktime.
        let mut hogex = tx(2, Some(FLAG_MWEB), &[0], &[]);
        let mut raw = block_of(&[&plain, &hogex]);
        raw.extend_from_slice(&[1, 2, 3, 4]); // the extension block, skipped unread
        let parsed = parse_block_with(&raw, &LITECOIN, sha256d_hash).unwrap();
        assert_eq!(parsed.txs.len(), 2);
        assert_eq!(parsed.inputs.len(), 1);
        // The txid leaves out marker, flag and MWEB byte: the same as the plain transaction's.
        assert_eq!(parsed.txs[1].txid, parsed.txs[0].txid);
        // Without the HogEx last, trailing bytes are an error, as for Bitcoin.
        let mut raw = block_of(&[&plain]);
        raw.push(0);
        assert_eq!(
            parse_block_with(&raw, &LITECOIN, sha256d_hash),
            Err(ParseError::Trailing(1))
        );
        // Non-empty MWEB data, or a flag Litecoin does not know, is refused.
        let n = hogex.len();
        hogex[n - 5] = 1;
        let raw = block_of(&[&plain, &hogex]);
        assert!(matches!(
            parse_block_with(&raw, &LITECOIN, sha256d_hash),
            Err(ParseError::Invalid { .. })
        ));
        let raw = block_of(&[&plain, &tx(2, Some(0x02), &[], &[])]);
        assert!(matches!(
            parse_block_with(&raw, &LITECOIN, sha256d_hash),
            Err(ParseError::Invalid { .. })
        ));
        // Bitcoin's segwit format does not accept the MWEB flag.
        let raw = block_of(&[&plain, &tx(2, Some(FLAG_MWEB), &[0], &[])]);
        assert!(parse_block_with(&raw, &SEGWIT, sha256d_hash).is_err());
    }

    #[test]
    fn a_transaction_alone_agrees_with_rust_bitcoin() {
        // A segwit spend and a legacy one, as getrawtransaction would serve them.
        let segwit = tx(2, Some(FLAG_WITNESS), &[2, 1, 0xaa, 3, 1, 2, 3], &[]);
        let legacy = tx(1, None, &[], &[]);
        for raw in [segwit, legacy] {
            let theirs: bitcoin::Transaction = bitcoin::consensus::deserialize(&raw).unwrap();
            let (ours, vsize) = parse_transaction_with(&raw, &BITCOIN_FORMAT).unwrap();
            assert_eq!(ours.txs.len(), 1);
            assert_eq!(ours.txs[0].txid, theirs.compute_txid());
            assert_eq!(vsize, theirs.vsize() as u64);
            assert_eq!(ours.inputs.len(), theirs.input.len());
            assert_eq!(
                ours.inputs[0].prev_vout,
                theirs.input[0].previous_output.vout
            );
            let out = &ours.outputs[0];
            assert_eq!(out.value, theirs.output[0].value.to_sat());
            assert_eq!(
                &raw[out.script.clone()],
                theirs.output[0].script_pubkey.as_bytes()
            );
            let mut longer = raw.clone();
            longer.push(0);
            assert_eq!(
                parse_transaction_with(&longer, &BITCOIN_FORMAT).unwrap_err(),
                ParseError::Trailing(1)
            );
        }
        // A Litecoin transaction with MWEB data cannot be sized without an MWEB parser: an
        // error (the mempool skips it), never a panic.
        let mweb = tx(2, Some(FLAG_MWEB), &[5, 1, 2, 3, 4, 5], &[]);
        assert!(parse_transaction_with(&mweb, &LITECOIN).is_err());
        // Dash's special payload counts in its size.
        let special = tx(0x0005_0003, None, &[], &[3, 9, 9, 9]);
        let (parsed, vsize) = parse_transaction_with(&special, &DASH).unwrap();
        assert_eq!(vsize, special.len() as u64);
        assert_eq!(
            parsed.txs[0].txid,
            Txid::from_raw_hash(sha256d::Hash::hash(&special))
        );
    }

    #[test]
    fn litecoin_mweb_only_transaction_parses_as_empty() {
        // An MWEB-only transaction with its MWEB part stripped: version, no inputs, no outputs,
        // locktime. Zero "marker" and zero "flag" are the two empty counts.
        let stripped = [2u8, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let raw = block_of(&[&tx(1, None, &[], &[]), &stripped]);
        let parsed = parse_block_with(&raw, &LITECOIN, sha256d_hash).unwrap();
        assert_eq!(parsed.txs.len(), 2);
        assert!(parsed.tx_inputs(&parsed.txs[1]).is_empty());
        assert!(parsed.tx_outputs(&parsed.txs[1]).is_empty());
    }

    #[test]
    fn dash_special_payload_is_part_of_the_txid() {
        // Version 3, type 5 (coinbase special transaction): a 3-byte payload after locktime.
        let special = tx(0x0005_0003, None, &[], &[3, 9, 9, 9]);
        let parsed = parse_block_with(&block_of(&[&special]), &DASH, sha256d_hash).unwrap();
        assert_eq!(
            parsed.txs[0].txid,
            Txid::from_raw_hash(sha256d::Hash::hash(&special))
        );
        // A type with version < 3 is a plain transaction: those bytes are trailing.
        let old = tx(0x0005_0002, None, &[], &[3, 9, 9, 9]);
        assert_eq!(
            parse_block_with(&block_of(&[&old]), &DASH, sha256d_hash),
            Err(ParseError::Trailing(4))
        );
        // A payload longer than the block.
        let bad = tx(0x0001_0003, None, &[], &[0xfe, 0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(
            parse_block_with(&block_of(&[&bad]), &DASH, sha256d_hash),
            Err(ParseError::TooMany { .. })
        ));
    }

    #[test]
    fn single_sha256_txids() {
        let t = tx(1, None, &[], &[]);
        let format = BlockFormat {
            txid: TxidHash::Sha256,
            ..SEGWIT
        };
        let parsed = parse_block_with(&block_of(&[&t]), &format, sha256d_hash).unwrap();
        assert_eq!(
            parsed.txs[0].txid.to_byte_array(),
            sha256::Hash::hash(&t).to_byte_array()
        );
    }

    #[test]
    fn truncations_and_absurd_counts_are_errors() {
        let raw = block_of(&[
            &tx(1, None, &[], &[]),
            &tx(2, Some(FLAG_WITNESS | FLAG_MWEB), &[1, 1, 0xaa, 0], &[]),
        ]);
        for format in [SEGWIT, LITECOIN, DASH] {
            for cut in 0..raw.len() {
                assert!(
                    parse_block_with(&raw[..cut], &format, sha256d_hash).is_err(),
                    "{format:?} cut at {cut}"
                );
            }
        }
        assert!(parse_block_with(&raw, &LITECOIN, sha256d_hash).is_ok());
        let mut huge = vec![0u8; 80];
        huge.extend_from_slice(&[0xff; 9]);
        for format in [SEGWIT, LITECOIN, DASH] {
            assert!(matches!(
                parse_block_with(&huge, &format, sha256d_hash),
                Err(ParseError::TooMany { .. })
            ));
        }
        let mut rng_state = 0x9e37_79b9_u64;
        for _ in 0..2000 {
            let len = 80 + (rng_state % 300) as usize;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (rng_state >> 33) as u8
                })
                .collect();
            for format in [SEGWIT, LITECOIN, DASH] {
                let _ = parse_block_with(&junk, &format, sha256d_hash);
                let aux = BlockFormat {
                    header: HeaderFormat::AuxPow,
                    ..format
                };
                let _ = parse_block_with(&junk, &aux, sha256d_hash);
            }
        }
    }
}
