//! What [`super::bench::generate`] reports: progress after each block, statistics at the end.

use std::time::Duration;

use bitcoin::{BlockHash, ScriptBuf};

use super::wallet::OutputType;

/// Progress of [`super::bench::generate`], reported after each block is built.
#[derive(Debug, Clone, Copy)]
pub struct BenchProgress {
    /// Blocks built so far (setup blocks included).
    pub blocks: u32,
    /// Non-coinbase transactions built so far.
    pub txs: u64,
    pub target_txs: u64,
    pub elapsed: Duration,
}

/// What [`super::bench::generate`] made.
#[derive(Debug, Clone)]
pub struct BenchChainStats {
    /// Funding and maturity blocks before the first transaction.
    pub setup_blocks: u32,
    /// Blocks with transactions.
    pub tx_blocks: u32,
    /// Non-coinbase transactions.
    pub txs: u64,
    pub inputs: u64,
    /// Outputs of non-coinbase transactions (`OP_RETURN` included).
    pub outputs: u64,
    /// Transactions with an `OP_RETURN` output.
    pub op_return_txs: u64,
    /// Outputs of non-coinbase transactions by type.
    pub outputs_by_type: Vec<(OutputType, u64)>,
    /// Distinct (spendable) scripts used.
    pub scripts: u64,
    /// Scripts with one or two history entries.
    pub scripts_used_at_most_twice: u64,
    /// The ten scripts with the longest histories (transactions touching them), longest first.
    pub top_scripts: Vec<(ScriptBuf, u64)>,
    /// Tip after generation.
    pub tip: BlockHash,
    pub height: u32,
    pub elapsed: Duration,
}

impl std::fmt::Display for BenchChainStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "blocks: {} setup + {} with transactions; tip {} at height {}",
            self.setup_blocks, self.tx_blocks, self.tip, self.height
        )?;
        writeln!(
            f,
            "transactions: {} ({:.2} inputs, {:.2} outputs each; {} with OP_RETURN) in {:.1} s = {:.0} tx/s",
            self.txs,
            self.inputs as f64 / self.txs.max(1) as f64,
            self.outputs as f64 / self.txs.max(1) as f64,
            self.op_return_txs,
            secs,
            self.txs as f64 / secs
        )?;
        write!(f, "outputs by type:")?;
        for (kind, n) in &self.outputs_by_type {
            write!(f, " {kind:?} {n}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "scripts: {} ({} used once or twice)",
            self.scripts, self.scripts_used_at_most_twice
        )?;
        writeln!(f, "longest script histories:")?;
        for (spk, n) in &self.top_scripts {
            writeln!(f, "  {n:>9}  {spk}")?;
        }
        Ok(())
    }
}
