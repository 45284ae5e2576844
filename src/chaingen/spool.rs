//! A spool of generated blocks on disk, and its import into bitcoind.
//!
//! A 50M-transaction chain submitted block by block as it is built costs bitcoind a signature
//! check per input: hours on two cores. Spooled instead, the whole chain is known before
//! bitcoind sees it, so bitcoind can be started with `-assumevalid=<last block>` and be given
//! every header first ([`submit_headers`]): it then skips the script checks of every block
//! more than two weeks of work (2016 regtest blocks) below the best header, as it does for
//! mainnet's history, and still checks everything else (proof of work, merkle roots, amounts,
//! the UTXO set). [`extra_headers`] puts 2100 more headers (blocks that never come) above the
//! spool's tip so that even its last blocks are that deep; they are invalidated once the import
//! is done. The blocks are fully signed: a bitcoind without `-assumevalid` accepts them too, only
//! slower (the test suite's chains are all checked in full).
//!
//! The format is a sequence of records `[u32 little-endian length][consensus-encoded block]`.

use std::fs::File;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use bitcoin::consensus::{Decodable, Encodable};
use bitcoin::{Block, BlockHash};
use serde_json::{Value, json};

use super::Bitcoind;

/// Writes blocks to a spool file.
pub struct SpoolWriter {
    file: BufWriter<File>,
    buf: Vec<u8>,
    blocks: u64,
}

impl SpoolWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<SpoolWriter> {
        let file =
            File::create(path).with_context(|| format!("creating spool {}", path.display()))?;
        Ok(SpoolWriter {
            file: BufWriter::with_capacity(8 << 20, file),
            buf: Vec::new(),
            blocks: 0,
        })
    }

    /// Appends `block`.
    pub fn write(&mut self, block: &Block) -> Result<()> {
        self.buf.clear();
        block.consensus_encode(&mut self.buf)?;
        let len = u32::try_from(self.buf.len()).context("block too large for the spool")?;
        self.file.write_all(&len.to_le_bytes())?;
        self.file.write_all(&self.buf)?;
        self.blocks += 1;
        Ok(())
    }

    /// Flushes the file and returns the number of blocks written.
    pub fn finish(mut self) -> Result<u64> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        Ok(self.blocks)
    }
}

/// Reads the blocks of a spool file in order.
pub struct SpoolReader {
    file: BufReader<File>,
    buf: Vec<u8>,
}

impl SpoolReader {
    pub fn open(path: &Path) -> Result<SpoolReader> {
        let file = File::open(path).with_context(|| format!("opening spool {}", path.display()))?;
        Ok(SpoolReader {
            file: BufReader::with_capacity(8 << 20, file),
            buf: Vec::new(),
        })
    }

    /// The length of the next record, `None` at the end of the file.
    fn next_len(&mut self) -> Result<Option<usize>> {
        let mut len = [0u8; 4];
        match self.file.read_exact(&mut len) {
            Ok(()) => Ok(Some(u32::from_le_bytes(len) as usize)),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The next block, `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<Block>> {
        let Some(len) = self.next_len()? else {
            return Ok(None);
        };
        self.buf.resize(len, 0);
        self.file
            .read_exact(&mut self.buf)
            .context("truncated spool")?;
        let block = Block::consensus_decode(&mut self.buf.as_slice()).context("corrupt spool")?;
        Ok(Some(block))
    }

    /// The next block's header (the rest of the block skipped), `None` at the end.
    pub fn next_header(&mut self) -> Result<Option<bitcoin::block::Header>> {
        let Some(len) = self.next_len()? else {
            return Ok(None);
        };
        ensure!(len >= 80, "corrupt spool: a record of {len} bytes");
        let mut raw = [0u8; 80];
        self.file.read_exact(&mut raw).context("truncated spool")?;
        self.file
            .seek(SeekFrom::Current(len as i64 - 80))
            .context("truncated spool")?;
        Ok(Some(bitcoin::block::Header::consensus_decode(
            &mut raw.as_slice(),
        )?))
    }
}

/// The hash of the last block of the spool at `path`, and how many blocks it holds.
pub fn spool_tip(path: &Path) -> Result<(BlockHash, u64)> {
    let mut r = SpoolReader::open(path)?;
    let mut last = None;
    let mut n = 0;
    while let Some(h) = r.next_header()? {
        last = Some(h.block_hash());
        n += 1;
    }
    match last {
        Some(hash) => Ok((hash, n)),
        None => bail!("the spool {} holds no block", path.display()),
    }
}

/// Gives `d` every header of the spool (`submitheader`) then [`extra_headers`] above them,
/// so that `-assumevalid` sees the whole chain before the first block connects; returns the
/// spool's block hashes in order and the extra headers. Headers it already has are fine.
pub fn submit_headers(
    d: &Bitcoind,
    path: &Path,
) -> Result<(Vec<BlockHash>, Vec<bitcoin::block::Header>)> {
    let mut r = SpoolReader::open(path)?;
    let mut hashes = Vec::new();
    let mut batch = Vec::new();
    let mut last = None;
    while let Some(h) = r.next_header()? {
        hashes.push(h.block_hash());
        batch.push(h);
        last = Some(h);
        if batch.len() == 1000 {
            submit_header_list(d, &batch)?;
            batch.clear();
        }
    }
    submit_header_list(d, &batch)?;
    let Some(last) = last else {
        bail!("the spool {} holds no block", path.display());
    };
    let extra = extra_headers(&last)?;
    submit_header_list(d, &extra)?;
    Ok((hashes, extra))
}

/// How many headers [`submit_headers`] adds above the spool's last block: more than the two
/// weeks of work (2016 regtest blocks) within which `-assumevalid` still checks scripts.
pub const EXTRA_HEADERS: u32 = 2100;

/// `EXTRA_HEADERS` valid headers (proof of work, timestamps) on top of `tip`, whose blocks
/// do not exist: with them as the best header, every block of the spool is more than two weeks
/// of work deep, so `-assumevalid` skips all its script checks (the blocks are signed and valid;
/// a bitcoind without `-assumevalid` checks them all). Once the import is done the first of them
/// is invalidated, which leaves bitcoind's best header at the spool's last block.
pub fn extra_headers(tip: &bitcoin::block::Header) -> Result<Vec<bitcoin::block::Header>> {
    use bitcoin::hashes::{Hash, sha256d};
    let mut headers = Vec::with_capacity(EXTRA_HEADERS as usize);
    let mut prev = *tip;
    for i in 0..EXTRA_HEADERS {
        let mut h = bitcoin::block::Header {
            version: prev.version,
            prev_blockhash: prev.block_hash(),
            merkle_root: bitcoin::TxMerkleNode::from_raw_hash(sha256d::Hash::hash(
                &i.to_le_bytes(),
            )),
            time: prev.time + 1,
            bits: prev.bits,
            nonce: 0,
        };
        let target = h.target();
        while h.validate_pow(target).is_err() {
            h.nonce = h
                .nonce
                .checked_add(1)
                .context("no nonce meets the target: not a regtest chain?")?;
        }
        headers.push(h);
        prev = h;
    }
    Ok(headers)
}

/// Submits `headers` (in order) to `d`.
pub fn submit_header_list(d: &Bitcoind, headers: &[bitcoin::block::Header]) -> Result<()> {
    for h in headers {
        let hex = bitcoin::consensus::encode::serialize_hex(h);
        match d.rpc("submitheader", json!([hex])) {
            Ok(Value::Null) => {}
            Ok(other) => bail!("submitheader {}: {other}", h.block_hash()),
            Err(e) => return Err(e.context(format!("submitheader {}", h.block_hash()))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn block(n: u32) -> Block {
        let mut b: Block = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        b.header.nonce = n;
        b.header.prev_blockhash = BlockHash::from_byte_array([n as u8; 32]);
        b
    }

    #[test]
    fn extra_headers_chain_on_the_tip_with_valid_work() {
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        let extra = extra_headers(&genesis.header).unwrap();
        assert_eq!(extra.len(), EXTRA_HEADERS as usize);
        let mut prev = genesis.header;
        for h in &extra {
            assert_eq!(h.prev_blockhash, prev.block_hash());
            assert!(h.time > prev.time);
            h.validate_pow(h.target()).unwrap();
            prev = *h;
        }
    }

    #[test]
    fn blocks_and_headers_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let mut w = SpoolWriter::create(&path).unwrap();
        for n in 0..3 {
            w.write(&block(n)).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 3);
        let mut r = SpoolReader::open(&path).unwrap();
        for n in 0..3 {
            assert_eq!(r.next_block().unwrap(), Some(block(n)));
        }
        assert_eq!(r.next_block().unwrap(), None);
        let mut r = SpoolReader::open(&path).unwrap();
        for n in 0..3 {
            assert_eq!(r.next_header().unwrap(), Some(block(n).header));
        }
        assert_eq!(r.next_header().unwrap(), None);
        assert_eq!(spool_tip(&path).unwrap(), (block(2).block_hash(), 3));
        // A truncated record is an error, not a silent end.
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 10).unwrap();
        let mut r = SpoolReader::open(&path).unwrap();
        r.next_block().unwrap();
        r.next_block().unwrap();
        assert!(r.next_block().is_err());
    }
}
