//! Turns a raw block and the outputs its inputs spend into what the index writer needs: txids,
//! script keys of every indexed output and spent output, and each transaction's set of touched
//! scripts. Runs on the parallel workers, so all hashing (txids, script keys) happens here.

use crate::chain::parse::{SpentOutputs, parse_spent_outputs};
use crate::chain::{Coin, ParsedBlock};
use crate::silentpayments::block::{TxTweak, pays_taproot, tx_tweak};
use crate::types::{Height, ScriptKey, TxNum};
use anyhow::{Context, Result, bail};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Txid};
use std::ops::Range;

/// A block the daemon sends that does not parse under the coin's rules. Fetching it again gives
/// the same bytes, so the follow loop gives up after a few rounds instead of retrying forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableBlock {
    pub coin: &'static str,
    pub net: &'static str,
    pub height: Height,
    pub hash: BlockHash,
}

impl std::fmt::Display for UnreadableBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} block {} ({}): cannot parse under the coin's rules",
            self.coin, self.net, self.height, self.hash
        )
    }
}

/// An output that the index keeps (not provably unspendable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedOut {
    pub vout: u32,
    pub script: ScriptKey,
    pub value: u64,
}

/// An input, with the script and value of the output it spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedIn {
    pub prev_txid: [u8; 32],
    pub prev_vout: u32,
    pub script: ScriptKey,
    pub value: u64,
}

/// One transaction: ranges into the block's flat vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedTx {
    pub txid: Txid,
    pub outs: Range<usize>,
    pub ins: Range<usize>,
    /// Distinct scripts this tx funds or spends (its history entries).
    pub touched: Range<usize>,
}

/// A block ready for the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedBlock {
    pub height: Height,
    pub hash: BlockHash,
    pub prev_hash: BlockHash,
    pub header: Vec<u8>,
    pub txs: Vec<PreparedTx>,
    pub outs: Vec<PreparedOut>,
    pub ins: Vec<PreparedIn>,
    pub touched: Vec<ScriptKey>,
    /// Per input, the funding tx number when a worker found it (blocks in the undo window, and
    /// every input resolved from the index).
    pub funding: Vec<Option<TxNum>>,
    /// Inputs (indices into `ins`) whose spent output is not known yet: the raw block source
    /// leaves them to [`super::resolve`]. Their `script` and `value` are placeholders.
    pub unresolved: Vec<usize>,
    /// Whether `touched` includes the scripts of spent outputs (false until every input of a
    /// raw-source block is resolved and [`PreparedBlock::finish_inputs`] ran).
    pub inputs_done: bool,
    /// The silent payments tweak data of the block's eligible transactions, when the index
    /// keeps it for this height.
    pub tweaks: Option<Vec<TxTweak>>,
}

impl PreparedBlock {
    /// Sets what input `index` spends.
    pub fn resolve(&mut self, index: usize, script: ScriptKey, value: u64, funding: Option<TxNum>) {
        if let Some(i) = self.ins.get_mut(index) {
            i.script = script;
            i.value = value;
        }
        if funding.is_some() {
            if self.funding.len() < self.ins.len() {
                self.funding.resize(self.ins.len(), None);
            }
            self.funding[index] = funding;
        }
    }

    /// Rebuilds every tx's touched scripts once all its inputs are resolved.
    pub fn finish_inputs(&mut self) {
        let mut touched = Vec::with_capacity(self.outs.len() + self.ins.len());
        for tx in &mut self.txs {
            let start = touched.len();
            touched.extend(self.outs[tx.outs.clone()].iter().map(|o| o.script));
            touched.extend(self.ins[tx.ins.clone()].iter().map(|i| i.script));
            touched[start..].sort_unstable();
            let unique = dedup_sorted(&mut touched[start..]);
            touched.truncate(start + unique);
            tx.touched = start..touched.len();
        }
        self.touched = touched;
        self.unresolved.clear();
        self.inputs_done = true;
    }
}

/// Per transaction, per input: (value, script) of the spent output.
pub type DecodedSpent = Vec<Vec<(u64, Vec<u8>)>>;

/// Where the spent outputs of a block came from.
pub enum Spent {
    /// The body of REST `spenttxouts/<hash>.bin`.
    Rest(Vec<u8>),
    /// Decoded elsewhere (e.g. `getblock <hash> 3`): per transaction, per input, (value, script).
    Decoded(DecodedSpent),
    /// Not given by the daemon: Ferrum resolves them from its index ([`super::resolve`]).
    Unresolved,
}

/// Whether an output can never be spent, so the index skips it (as ElectrumX does: a script that
/// starts with OP_RETURN).
pub fn is_unspendable(script: &[u8]) -> bool {
    script.first() == Some(&0x6a)
}

/// Prepares the block at `height`. The genesis coinbase is not indexed (it cannot be spent).
///
/// The block must be the one asked for (`expected` hash) and its transactions must hash to the
/// header's merkle root, so that a corrupted reply can never reach the index.
///
/// With `tweaks`, the silent payments tweak data of its eligible transactions is computed too
/// (it needs the spent outputs' scripts: not with [`Spent::Unresolved`]).
pub fn prepare(
    coin: &dyn Coin,
    height: Height,
    expected: &BlockHash,
    raw: &[u8],
    spent: &Spent,
    tweaks: bool,
) -> Result<PreparedBlock> {
    let parsed = coin.parse_block(raw).map_err(|e| {
        anyhow::Error::new(e).context(UnreadableBlock {
            coin: coin.name(),
            net: coin.net(),
            height,
            hash: *expected,
        })
    })?;
    if parsed.hash != *expected {
        bail!(
            "block {height}: the daemon sent block {} instead of {expected}",
            parsed.hash
        );
    }
    let root = bitcoin::merkle_tree::calculate_root(parsed.txs.iter().map(|t| t.txid))
        .map(|r: Txid| r.to_byte_array());
    if root.is_none() || root != coin.header_merkle_root(&raw[parsed.header.clone()]) {
        bail!(
            "block {height} ({expected}): transactions do not match the merkle root; corrupt reply"
        );
    }
    let view = match spent {
        Spent::Rest(body) => SpentView::Rest(
            body,
            parse_spent_outputs(body)
                .with_context(|| format!("block {height}: cannot parse spent outputs"))?,
        ),
        Spent::Decoded(txs) => SpentView::Decoded(txs),
        Spent::Unresolved => SpentView::Unresolved,
    };
    let mut b = build(coin, height, raw, &parsed, &view)?;
    if tweaks {
        if matches!(view, SpentView::Unresolved) {
            bail!(
                "block {height}: silent payments need the spent outputs from the daemon \
                 (REST or getblock verbosity 3), not the raw block source"
            );
        }
        b.tweaks = Some(block_tweaks(raw, &parsed, &view));
    }
    Ok(b)
}

/// The tweak data of every eligible transaction of a block (the coinbase never is).
fn block_tweaks(raw: &[u8], parsed: &ParsedBlock, spent: &SpentView<'_>) -> Vec<TxTweak> {
    let mut out = Vec::new();
    let mut prevouts = Vec::new();
    let mut scripts: Vec<&[u8]> = Vec::new();
    for (i, tx) in parsed.txs.iter().enumerate().skip(1) {
        if !pays_taproot(parsed.tx_outputs(tx).iter().map(|o| &raw[o.script.clone()])) {
            continue;
        }
        spent.prevouts(i, &mut prevouts);
        scripts.clear();
        scripts.extend(prevouts.iter().map(|p| p.1));
        if let Some(mut t) = raw
            .get(tx.bytes.clone())
            .and_then(|bytes| tx_tweak(bytes, &scripts))
        {
            t.index = i as u32;
            out.push(t);
        }
    }
    out
}

/// Per-transaction access to spent outputs, whatever their source.
enum SpentView<'a> {
    Rest(&'a [u8], SpentOutputs),
    Decoded(&'a [Vec<(u64, Vec<u8>)>]),
    Unresolved,
}

impl<'a> SpentView<'a> {
    /// The (value, script) of the outputs spent by transaction `i`, into `out`.
    fn prevouts(&self, i: usize, out: &mut Vec<(u64, &'a [u8])>) {
        out.clear();
        match self {
            SpentView::Rest(body, s) => {
                if let Some(r) = s.per_tx.get(i) {
                    out.extend(
                        s.outputs[r.clone()]
                            .iter()
                            .map(|o| (o.value, &body[o.script.clone()])),
                    );
                }
            }
            SpentView::Decoded(txs) => {
                if let Some(t) = txs.get(i) {
                    out.extend(t.iter().map(|(v, s)| (*v, s.as_slice())));
                }
            }
            SpentView::Unresolved => {}
        }
    }
}

fn build(
    coin: &dyn Coin,
    height: Height,
    raw: &[u8],
    parsed: &ParsedBlock,
    spent: &SpentView<'_>,
) -> Result<PreparedBlock> {
    let mut b = PreparedBlock {
        height,
        hash: parsed.hash,
        prev_hash: parsed.prev_hash,
        header: coin.served_header(&raw[parsed.header.clone()]).to_vec(),
        txs: Vec::with_capacity(parsed.txs.len()),
        outs: Vec::with_capacity(parsed.outputs.len()),
        ins: Vec::with_capacity(parsed.inputs.len()),
        touched: Vec::with_capacity(parsed.outputs.len() + parsed.inputs.len()),
        funding: Vec::new(),
        unresolved: Vec::new(),
        inputs_done: !matches!(spent, SpentView::Unresolved),
        tweaks: None,
    };
    let mut prevouts = Vec::new();
    for (i, tx) in parsed.txs.iter().enumerate() {
        let outs_start = b.outs.len();
        let ins_start = b.ins.len();
        let touched_start = b.touched.len();
        if height.0 > 0 {
            for (vout, out) in parsed.tx_outputs(tx).iter().enumerate() {
                let script = &raw[out.script.clone()];
                if is_unspendable(script) {
                    continue;
                }
                // The coin's address part (Namecoin: without its name operation).
                let key = ScriptKey::from_script(coin.address_script(script));
                b.outs.push(PreparedOut {
                    vout: vout as u32,
                    script: key,
                    value: out.value,
                });
                b.touched.push(key);
            }
        }
        let inputs = parsed.tx_inputs(tx);
        if !b.inputs_done {
            for input in inputs {
                b.unresolved.push(b.ins.len());
                b.ins.push(PreparedIn {
                    prev_txid: input.prev_txid,
                    prev_vout: input.prev_vout,
                    script: ScriptKey([0; ScriptKey::LEN]),
                    value: 0,
                });
            }
        } else if !inputs.is_empty() {
            spent.prevouts(i, &mut prevouts);
            if prevouts.len() != inputs.len() {
                bail!(
                    "block {height} tx {}: daemon gave {} spent outputs for {} inputs",
                    tx.txid,
                    prevouts.len(),
                    inputs.len()
                );
            }
            // Spent outputs carry no commitment; at least their values must pay for the tx.
            let spent_sum = prevouts
                .iter()
                .try_fold(0u64, |a, (v, _)| a.checked_add(*v));
            let out_sum = parsed
                .tx_outputs(tx)
                .iter()
                .try_fold(0u64, |a, o| a.checked_add(o.value));
            if spent_sum.zip(out_sum).is_none_or(|(i, o)| i < o) {
                bail!(
                    "block {height} tx {}: spent outputs from the daemon do not cover the tx's outputs; corrupt reply",
                    tx.txid
                );
            }
            for (input, &(value, script)) in inputs.iter().zip(&prevouts) {
                let key = ScriptKey::from_script(coin.address_script(script));
                b.ins.push(PreparedIn {
                    prev_txid: input.prev_txid,
                    prev_vout: input.prev_vout,
                    script: key,
                    value,
                });
                b.touched.push(key);
            }
        }
        let touched = &mut b.touched[touched_start..];
        touched.sort_unstable();
        let unique = dedup_sorted(touched);
        b.touched.truncate(touched_start + unique);
        b.txs.push(PreparedTx {
            txid: tx.txid,
            outs: outs_start..b.outs.len(),
            ins: ins_start..b.ins.len(),
            touched: touched_start..b.touched.len(),
        });
    }
    Ok(b)
}

/// Moves the distinct values of a sorted slice to its front; returns how many there are.
fn dedup_sorted<T: PartialEq + Copy>(s: &mut [T]) -> usize {
    if s.is_empty() {
        return 0;
    }
    let mut w = 1;
    for r in 1..s.len() {
        if s[r] != s[w - 1] {
            s[w] = s[r];
            w += 1;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup() {
        let mut v = [1, 1, 2, 3, 3, 3, 4];
        let n = dedup_sorted(&mut v);
        assert_eq!(&v[..n], &[1, 2, 3, 4]);
        let mut e: [u8; 0] = [];
        assert_eq!(dedup_sorted(&mut e), 0);
    }

    #[test]
    fn outputs_are_keyed_by_the_coin_s_address_script() {
        use crate::chain::{ParsedTx, TxOut};
        // A Namecoin name_update (OP_3 <name> <value> OP_2DROP OP_DROP) paying to P2PKH.
        let p2pkh: Vec<u8> = [&[0x76, 0xa9, 0x14][..], &[7u8; 20], &[0x88, 0xac]].concat();
        let name_op: Vec<u8> = [&[0x53, 0x01, b'n', 0x01, b'v', 0x6d, 0x75][..], &p2pkh].concat();
        let mut raw = vec![0u8; 80];
        raw.extend_from_slice(&name_op);
        let parsed = ParsedBlock {
            hash: BlockHash::all_zeros(),
            prev_hash: BlockHash::all_zeros(),
            header: 0..80,
            txs: vec![ParsedTx {
                txid: Txid::all_zeros(),
                inputs: 0..0,
                outputs: 0..1,
                bytes: 0..0,
            }],
            inputs: vec![],
            outputs: vec![TxOut {
                value: 1,
                script: 80..raw.len(),
            }],
        };
        let spent = SpentView::Decoded(&[]);
        let key =
            |coin: &dyn Coin| build(coin, Height(1), &raw, &parsed, &spent).unwrap().outs[0].script;
        assert_eq!(
            key(&crate::chain::coins::namecoin::MAINNET),
            ScriptKey::from_script(&p2pkh)
        );
        assert_eq!(
            key(&crate::chain::Bitcoin::MAINNET),
            ScriptKey::from_script(&name_op)
        );
    }

    #[test]
    fn a_block_that_does_not_parse_names_the_coin_height_and_offset() {
        let mut raw = vec![0u8; 80];
        raw.push(1); // one transaction, then nothing
        let hash = BlockHash::all_zeros();
        let e = prepare(
            &crate::chain::Bitcoin::REGTEST,
            Height(7),
            &hash,
            &raw,
            &Spent::Decoded(vec![]),
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.downcast_ref::<UnreadableBlock>().map(|u| u.height),
            Some(Height(7))
        );
        let text = format!("{e:#}");
        assert!(
            text.starts_with(&format!(
                "Bitcoin regtest block 7 ({hash}): cannot parse under the coin's rules: "
            )),
            "{text}"
        );
        assert!(
            text.ends_with("1 transactions at byte 80 is more than the data can hold"),
            "{text}"
        );
    }

    #[test]
    fn op_return_is_unspendable() {
        assert!(is_unspendable(&[0x6a, 0x04, 1, 2, 3, 4]));
        assert!(!is_unspendable(&[]));
        assert!(!is_unspendable(&[0x51]));
    }
}
