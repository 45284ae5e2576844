//! Merged-mining (AuxPoW) headers, as Namecoin and Dogecoin serialize them.
//!
//! When bit 8 (0x100) of the version is set, the 80-byte header is followed by the proof that
//! a parent chain's block committed to it: the parent's coinbase transaction, the parent block
//! hash, the coinbase's merkle branch and index, the branch of the merged-mining merkle tree and
//! index, and the parent's 80-byte header. The block hash is still the double SHA-256 of the
//! first 80 bytes only; this module only finds where the proof ends.

use super::parse::{ParseError, Reader};

/// Version bit announcing a merged-mining proof after the header.
pub const VERSION_AUXPOW: u32 = 1 << 8;

/// Length of the header that starts `data`: 80 bytes, plus the merged-mining proof when the
/// version announces one. Every length read is bounds-checked against `data`.
pub fn header_len(data: &[u8]) -> Result<usize, ParseError> {
    let mut r = Reader::new(data, 0);
    let version = r.u32()?;
    r.skip(76)?;
    if version & VERSION_AUXPOW == 0 {
        return Ok(80);
    }
    skip_tx(&mut r)?; // the parent's coinbase
    r.skip(32)?; // parent block hash
    let branch = r.count("coinbase merkle branch hashes", 32)?;
    r.skip(32 * branch + 4)?; // branch and index
    let branch = r.count("chain merkle branch hashes", 32)?;
    r.skip(32 * branch + 4)?; // branch and index
    r.skip(80)?; // parent header
    Ok(r.pos())
}

/// Skips one transaction (witness data allowed, as ElectrumX's `DeserializerAuxPowSegWit` reads
/// the parent coinbase).
fn skip_tx(r: &mut Reader<'_>) -> Result<(), ParseError> {
    r.skip(4)?; // version
    let segwit = r.peek(0) == Some(0) && r.peek(1).is_some_and(|f| f != 0);
    if segwit {
        r.skip(2)?;
    }
    let n_in = r.count("inputs", 41)?;
    for _ in 0..n_in {
        r.skip(36)?;
        let len = r.count("script bytes", 1)?;
        r.skip(len + 4)?;
    }
    let n_out = r.count("outputs", 9)?;
    for _ in 0..n_out {
        r.skip(8)?;
        let len = r.count("script bytes", 1)?;
        r.skip(len)?;
    }
    if segwit {
        r.skip_witnesses(n_in)?;
    }
    r.skip(4) // locktime
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An AuxPoW header: version with bit 8, a minimal parent coinbase, two branch hashes.
    fn auxpow_header() -> Vec<u8> {
        let mut h = (0x0001_0000 | VERSION_AUXPOW).to_le_bytes().to_vec();
        h.extend_from_slice(&[0u8; 76]);
        // parent coinbase: version, 1 input (null prevout, 2-byte script), 1 output, locktime
        h.extend_from_slice(&1u32.to_le_bytes());
        h.push(1);
        h.extend_from_slice(&[0u8; 32]);
        h.extend_from_slice(&[0xff; 4]);
        h.extend_from_slice(&[2, 0xab, 0xcd]);
        h.extend_from_slice(&[0xff; 4]);
        h.push(1);
        h.extend_from_slice(&[0u8; 8]);
        h.extend_from_slice(&[1, 0x51]);
        h.extend_from_slice(&[0u8; 4]);
        h.extend_from_slice(&[0x11; 32]); // parent block hash
        h.push(2);
        h.extend_from_slice(&[0x22; 64]);
        h.extend_from_slice(&[0u8; 4]);
        h.push(0);
        h.extend_from_slice(&[0u8; 4]);
        h.extend_from_slice(&[0x33; 80]); // parent header
        h
    }

    #[test]
    fn walks_the_merged_mining_proof() {
        let h = auxpow_header();
        assert_eq!(header_len(&h), Ok(h.len()));
        let mut with_block = h.clone();
        with_block.extend_from_slice(&[1, 2, 3]);
        assert_eq!(header_len(&with_block), Ok(h.len()));
        // Without the version bit, the header is 80 bytes whatever follows.
        let mut plain = h.clone();
        plain[1] = 0;
        assert_eq!(header_len(&plain), Ok(80));
    }

    #[test]
    fn truncated_proof_is_an_error() {
        let h = auxpow_header();
        for cut in 0..h.len() {
            assert!(header_len(&h[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn absurd_branch_length_is_an_error_not_an_allocation() {
        let mut h = auxpow_header();
        // The first branch count: before it, from the end, the parent header, chain index,
        // chain branch count, coinbase index and the two coinbase branch hashes.
        let branch_at = h.len() - 80 - 4 - 1 - 4 - 64 - 1;
        assert_eq!(h[branch_at], 2);
        h.splice(
            branch_at..branch_at + 1,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
        );
        assert!(matches!(header_len(&h), Err(ParseError::TooMany { .. })));
        // Counts that overflow the reader's arithmetic are refused the same way.
        let mut tx_count = auxpow_header();
        tx_count[84] = 0xff;
        tx_count.splice(85..85, [0xff; 8]);
        assert!(header_len(&tx_count).is_err());
    }
}
