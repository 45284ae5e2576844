//! Regtest block assembly and submission.
//!
//! [`assemble_block`] turns a parent, a timestamp, coinbase outputs and transactions into a
//! consensus-valid regtest block: BIP34 height in the coinbase, a BIP141 witness commitment when
//! any transaction has a witness, the merkle root, `nBits` 0x207fffff and a nonce ground until
//! the proof of work holds (about two tries). [`ChainTip`] carries the timestamps needed for the
//! median-time-past rule; [`submit_block`] hands a block to bitcoind with `submitblock`.

use std::collections::VecDeque;

use anyhow::{Context, Result, anyhow, bail};
use bitcoin::absolute::LockTime;
use bitcoin::blockdata::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::script::Builder;
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::OP_RETURN;
use bitcoin::pow::CompactTarget;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode,
    TxOut, Witness,
};
use serde_json::{Value, json};

use super::Bitcoind;

/// Blocks a coinbase output must wait before it can be spent.
pub const COINBASE_MATURITY: u32 = 100;
/// Consensus limit on block weight.
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// Consensus limit on the block's sigop cost.
pub const MAX_BLOCK_SIGOPS_COST: usize = 80_000;
/// Regtest's (never retargeted) `nBits`.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Blocks between subsidy halvings on regtest.
pub const REGTEST_HALVING_INTERVAL: u32 = 150;

/// The block subsidy at `height` on regtest.
pub fn regtest_subsidy(height: u32) -> Amount {
    let halvings = height / REGTEST_HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000u64) >> halvings)
}

/// A block to build on: its hash, height and the timestamps of up to the last 11 blocks
/// ending with it (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTip {
    pub hash: BlockHash,
    pub height: u32,
    pub times: VecDeque<u32>,
}

impl ChainTip {
    /// Reads `hash` and its 10 ancestors' timestamps from bitcoind.
    pub fn fetch(d: &Bitcoind, hash: BlockHash) -> Result<ChainTip> {
        let mut times = VecDeque::with_capacity(11);
        let mut height = None;
        let mut cursor = Some(hash);
        while let Some(h) = cursor {
            if times.len() == 11 {
                break;
            }
            let header = d.rpc("getblockheader", json!([h.to_string(), true]))?;
            let time = header["time"]
                .as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| anyhow!("getblockheader {h}: no time"))?;
            if height.is_none() {
                height = Some(
                    header["height"]
                        .as_u64()
                        .and_then(|t| u32::try_from(t).ok())
                        .ok_or_else(|| anyhow!("getblockheader {h}: no height"))?,
                );
            }
            times.push_front(time);
            cursor = match header.get("previousblockhash").and_then(Value::as_str) {
                Some(prev) => Some(
                    prev.parse()
                        .context("getblockheader: bad previousblockhash")?,
                ),
                None => None,
            };
        }
        let height = height.ok_or_else(|| anyhow!("getblockheader {hash}: nothing read"))?;
        Ok(ChainTip {
            hash,
            height,
            times,
        })
    }

    /// The median time past of this tip: a child's timestamp must be above it.
    pub fn median_time_past(&self) -> u32 {
        let mut sorted: Vec<u32> = self.times.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or(0)
    }

    /// A timestamp for a child block, given the wall clock `now`: one second after the parent
    /// or `now`, whichever is later, but never more than an hour ahead of `now` (bitcoind
    /// rejects blocks 2 hours in the future), and always above the median time past.
    pub fn next_time(&self, now: u32) -> u32 {
        let parent = self.times.back().copied().unwrap_or(0);
        let t = parent
            .saturating_add(1)
            .max(now)
            .min(now.saturating_add(3600));
        t.max(self.median_time_past().saturating_add(1))
    }

    /// A timestamp for a child block whatever the wall clock says: one second after the parent,
    /// and above the median time past.
    pub fn next_time_after_parent(&self) -> u32 {
        let parent = self.times.back().copied().unwrap_or(0);
        parent
            .saturating_add(1)
            .max(self.median_time_past().saturating_add(1))
    }

    /// The tip after connecting `block` on top of this one.
    pub fn child(&self, block: &Block) -> ChainTip {
        let mut times = self.times.clone();
        times.push_back(block.header.time);
        while times.len() > 11 {
            times.pop_front();
        }
        ChainTip {
            hash: block.block_hash(),
            height: self.height + 1,
            times,
        }
    }
}

/// Current Unix time in seconds.
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// The coinbase scriptSig: BIP34 height, then 8 bytes of `extra_nonce` (so blocks at the same
/// height on different branches have different coinbase txids).
fn coinbase_script_sig(height: u32, extra_nonce: u64) -> ScriptBuf {
    Builder::new()
        .push_int(i64::from(height))
        .push_slice(extra_nonce.to_le_bytes())
        .into_script()
}

/// Builds a regtest block on `parent` at `time` (see [`ChainTip::next_time`]) from
/// `coinbase_outputs` and `txs` (in block order), grinding the nonce.
pub fn assemble_block(
    parent: &ChainTip,
    time: u32,
    coinbase_outputs: Vec<TxOut>,
    extra_nonce: u64,
    txs: Vec<Transaction>,
) -> Result<Block> {
    let height = parent.height + 1;
    let segwit = txs
        .iter()
        .any(|tx| tx.input.iter().any(|i| !i.witness.is_empty()));
    let mut coinbase = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: coinbase_script_sig(height, extra_nonce),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: coinbase_outputs,
    };
    if coinbase.output.is_empty() {
        bail!("a coinbase needs at least one output");
    }
    let reserved = [0u8; 32];
    if segwit {
        coinbase.input[0].witness.push(reserved);
    }
    let mut txdata = Vec::with_capacity(txs.len() + 1);
    txdata.push(coinbase);
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: parent.hash,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata,
    };
    if segwit {
        // The witness root treats the coinbase's wtxid as zero, so it does not depend on the
        // commitment output we add to the coinbase.
        let root = block.witness_root().ok_or_else(|| anyhow!("empty block"))?;
        let commitment = Block::compute_witness_commitment(&root, &reserved);
        let mut data = [0u8; 36];
        data[..4].copy_from_slice(&[0xaa, 0x21, 0xa9, 0xed]);
        data[4..].copy_from_slice(commitment.as_byte_array());
        let script = Builder::new()
            .push_opcode(OP_RETURN)
            .push_slice(data)
            .into_script();
        block.txdata[0].output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: script,
        });
    }
    if let Some(i) = block.txdata.iter().position(|tx| tx.base_size() == 64) {
        bail!("transaction {i} is 64 bytes without witness, which consensus rejects");
    }
    block.header.merkle_root = block
        .compute_merkle_root()
        .ok_or_else(|| anyhow!("empty block"))?;
    let weight = block.weight().to_wu();
    if weight > MAX_BLOCK_WEIGHT {
        bail!("block weight {weight} exceeds {MAX_BLOCK_WEIGHT}");
    }
    grind(&mut block.header)?;
    Ok(block)
}

/// Finds a nonce meeting the header's target.
fn grind(header: &mut Header) -> Result<()> {
    let target = header.target();
    for nonce in 0..=u32::MAX {
        header.nonce = nonce;
        if target.is_met_by(header.block_hash()) {
            return Ok(());
        }
    }
    bail!("no nonce meets the target")
}

/// Submits `block` with `submitblock`: accepted when bitcoind answers null, `duplicate` (it
/// already had it) or `inconclusive` (stored on a side branch with no more work than the
/// active chain, so not fully validated yet); any other answer is a rejection.
pub fn submit_block(d: &Bitcoind, block: &Block) -> Result<()> {
    let result = d.rpc("submitblock", json!([serialize_hex(block)]))?;
    match result {
        Value::Null => Ok(()),
        Value::String(s) if s == "duplicate" || s == "inconclusive" => Ok(()),
        other => bail!(
            "bitcoind rejected block {} at height {}: {other}",
            block.block_hash(),
            block.bip34_block_height().unwrap_or(0)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(times: &[u32]) -> ChainTip {
        ChainTip {
            hash: BlockHash::all_zeros(),
            height: 20,
            times: times.iter().copied().collect(),
        }
    }

    #[test]
    fn subsidy_halves_every_150_blocks() {
        assert_eq!(regtest_subsidy(1), Amount::from_btc(50.0).unwrap());
        assert_eq!(regtest_subsidy(149), Amount::from_btc(50.0).unwrap());
        assert_eq!(regtest_subsidy(150), Amount::from_btc(25.0).unwrap());
        assert_eq!(regtest_subsidy(150 * 64), Amount::ZERO);
    }

    #[test]
    fn timestamps_follow_the_rules() {
        // Parent in the past: use now.
        assert_eq!(tip(&[100, 200]).next_time(1000), 1000);
        // Parent ahead of now: one second after it.
        assert_eq!(tip(&[100, 2000]).next_time(1000), 2001);
        // Never more than an hour ahead of now, unless the median time past forces it.
        assert_eq!(tip(&[100, 200, 9000]).next_time(1000), 4600);
        let t = tip(&[9000; 11]);
        assert_eq!(t.median_time_past(), 9000);
        assert_eq!(t.next_time(1000), 9001);
    }

    #[test]
    fn assembles_a_valid_looking_block() {
        let parent = tip(&[1_600_000_000]);
        let out = TxOut {
            value: regtest_subsidy(21),
            script_pubkey: Bitcoind::mine_script(),
        };
        let block = assemble_block(&parent, 1_600_000_001, vec![out], 7, vec![]).unwrap();
        // (rust-bitcoin only parses heights above 16, which BIP34 encodes as data pushes.)
        assert_eq!(block.bip34_block_height().unwrap(), 21);
        assert!(block.check_merkle_root());
        assert!(block.header.target().is_met_by(block.block_hash()));
        assert_eq!(
            block.txdata[0].output.len(),
            1,
            "no commitment without segwit txs"
        );
        let child = parent.child(&block);
        assert_eq!(child.height, 21);
        assert_eq!(child.times.len(), 2);
    }

    #[test]
    fn adds_a_witness_commitment_for_segwit_txs() {
        let parent = tip(&[1_600_000_000]);
        let mut witness = Witness::new();
        witness.push([1u8]);
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(bitcoin::Txid::all_zeros(), 3),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness,
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1),
                script_pubkey: Bitcoind::mine_script(),
            }],
        };
        let out = TxOut {
            value: regtest_subsidy(11),
            script_pubkey: Bitcoind::mine_script(),
        };
        let block = assemble_block(&parent, 1_600_000_001, vec![out], 7, vec![tx]).unwrap();
        assert!(block.check_witness_commitment());
        assert_eq!(block.txdata[0].output.len(), 2);
    }
}
