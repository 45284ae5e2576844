//! The shape of a generated benchmark chain: what an indexer's cost depends on.
//!
//! A [`Shape`] sets block size, inputs and outputs per transaction, how outputs choose their
//! scripts (a few very hot "exchange" scripts, a Zipf-skewed popular set, and a long tail of
//! fresh scripts used once), the mix of output types (taproot share, `OP_RETURN` share) and how
//! old the coins are that inputs spend (uniformly from the whole UTXO set, or biased towards
//! recently created coins). Two named shapes are benchmarked ([`Shape::named`]); every knob can
//! be overridden from `ferrum-chaingen`'s command line.

use anyhow::{Result, bail, ensure};

use super::wallet::OutputType;

/// See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Name of the preset it started from.
    pub name: String,
    /// Transactions per block, uniform in this inclusive range (blocks also stop at the
    /// consensus weight and sigop limits).
    pub block_txs: (u64, u64),
    /// Relative weights of 1, 2, 3... inputs per transaction.
    pub inputs: Vec<u32>,
    /// Relative weights of 1, 2, 3... paying outputs per transaction (`OP_RETURN` not counted).
    pub outputs: Vec<u32>,
    /// Share of transactions with an extra `OP_RETURN` output.
    pub op_return: f64,
    /// Hot scripts: each one's share of all paying outputs, and its type.
    pub hot: Vec<(f64, OutputType)>,
    /// Size of the popular set, and the share of outputs paid to a Zipf(`zipf`)-chosen member.
    pub popular: usize,
    pub popular_share: f64,
    pub zipf: f64,
    /// Types of fresh scripts, relative weights.
    pub new_types: Vec<(u32, OutputType)>,
    /// Share of inputs spending one of the `recent_window` most recently created coins; the
    /// rest spend a coin drawn uniformly from the whole UTXO set (old coins included).
    pub recent_share: f64,
    pub recent_window: usize,
    /// Chance that an input spends an output created earlier in the same block.
    pub same_block: f64,
}

impl Shape {
    /// Names accepted by [`Shape::named`].
    pub const NAMES: [&str; 2] = ["default", "aged"];

    /// `default`: the shape every figure of docs/PERFORMANCE.md before issue 13 used; spends
    /// uniform over the UTXO set, 18.5% of outputs to six hot scripts, 20% to a Zipf(1) choice
    /// among the first 100,000 scripts, 12% taproot among fresh scripts.
    ///
    /// `aged`: closer to mainnet's long tail and its old coins: half of the inputs spend recent
    /// coins (the last 20,000 created), half coins from anywhere in the UTXO set however old;
    /// more consolidations (up to 5 inputs) and fewer outputs, so the UTXO set grows more
    /// slowly; only 6% of outputs to four hot scripts and 8% to a flatter Zipf(0.8) over a
    /// million popular scripts, the rest fresh (every change output a new script); 25% taproot
    /// among fresh scripts, 10% of transactions with `OP_RETURN`, larger blocks.
    pub fn named(name: &str) -> Result<Shape> {
        use OutputType::*;
        let shape = match name {
            "default" => Shape {
                name: name.into(),
                block_txs: (2_000, 4_000),
                inputs: vec![60, 27, 13],
                outputs: vec![10, 65, 25],
                op_return: 0.05,
                hot: vec![
                    (0.05, P2wpkh),
                    (0.04, P2pkh),
                    (0.035, P2shP2wpkh),
                    (0.03, P2wpkh),
                    (0.02, P2tr),
                    (0.01, P2wshMultisig),
                ],
                popular: 100_000,
                popular_share: 0.20,
                zipf: 1.0,
                new_types: vec![
                    (58, P2wpkh),
                    (14, P2pkh),
                    (12, P2tr),
                    (8, P2shP2wpkh),
                    (2, P2shMultisig),
                    (5, P2wshMultisig),
                    (1, P2pk),
                ],
                recent_share: 0.0,
                recent_window: 20_000,
                same_block: 0.05,
            },
            "aged" => Shape {
                name: name.into(),
                block_txs: (3_000, 5_000),
                inputs: vec![55, 25, 10, 6, 4],
                outputs: vec![25, 65, 10],
                op_return: 0.10,
                hot: vec![
                    (0.02, P2wpkh),
                    (0.02, P2tr),
                    (0.01, P2pkh),
                    (0.01, P2shP2wpkh),
                ],
                popular: 1_000_000,
                popular_share: 0.08,
                zipf: 0.8,
                new_types: vec![
                    (45, P2wpkh),
                    (10, P2pkh),
                    (25, P2tr),
                    (12, P2shP2wpkh),
                    (2, P2shMultisig),
                    (5, P2wshMultisig),
                    (1, P2pk),
                ],
                recent_share: 0.5,
                recent_window: 20_000,
                same_block: 0.05,
            },
            other => bail!(
                "unknown chain shape {other:?} (known: {})",
                Shape::NAMES.join(", ")
            ),
        };
        Ok(shape)
    }

    /// Sets the taproot share of fresh scripts to `share` (0..1), scaling the other types.
    pub fn set_taproot_share(&mut self, share: f64) -> Result<()> {
        ensure!(
            (0.0..1.0).contains(&share),
            "taproot share must be in [0, 1)"
        );
        let others: u32 = self
            .new_types
            .iter()
            .filter(|(_, k)| *k != OutputType::P2tr)
            .map(|(w, _)| w)
            .sum();
        ensure!(others > 0, "no other output type to balance taproot with");
        let taproot = (f64::from(others) * share / (1.0 - share)).round() as u32;
        self.new_types.retain(|(_, k)| *k != OutputType::P2tr);
        self.new_types.push((taproot, OutputType::P2tr));
        Ok(())
    }

    /// Scales the hot scripts' shares so they add up to `total`.
    pub fn set_hot_share(&mut self, total: f64) -> Result<()> {
        let now: f64 = self.hot.iter().map(|(s, _)| s).sum();
        ensure!(now > 0.0 || total == 0.0, "no hot scripts to scale");
        for (s, _) in &mut self.hot {
            *s *= total / now;
        }
        Ok(())
    }

    /// Checks the shares and weights make sense.
    pub fn validate(&self) -> Result<()> {
        let (lo, hi) = self.block_txs;
        ensure!(
            lo >= 1 && lo <= hi,
            "block transactions: need 1 <= min <= max"
        );
        ensure!(
            !self.inputs.is_empty() && self.inputs.iter().any(|w| *w > 0),
            "input weights: at least one must be positive"
        );
        ensure!(
            !self.outputs.is_empty() && self.outputs.iter().any(|w| *w > 0),
            "output weights: at least one must be positive"
        );
        let hot: f64 = self.hot.iter().map(|(s, _)| s).sum();
        ensure!(
            hot + self.popular_share <= 1.0,
            "hot ({hot}) and popular ({}) shares exceed 1",
            self.popular_share
        );
        for (what, v) in [
            ("op_return", self.op_return),
            ("popular_share", self.popular_share),
            ("recent_share", self.recent_share),
            ("same_block", self.same_block),
        ] {
            ensure!(
                (0.0..=1.0).contains(&v),
                "{what} must be in [0, 1], got {v}"
            );
        }
        ensure!(self.zipf > 0.0, "the Zipf exponent must be positive");
        ensure!(
            self.new_types
                .iter()
                .any(|(w, k)| *w > 0 && k.is_spendable()),
            "fresh script types: at least one spendable type with a positive weight"
        );
        ensure!(
            self.recent_window > 0,
            "the recent window must not be empty"
        );
        Ok(())
    }

    /// One line describing the shape, for logs and benchmark reports.
    pub fn describe(&self) -> String {
        let hot: f64 = self.hot.iter().map(|(s, _)| s).sum();
        let types: u32 = self.new_types.iter().map(|(w, _)| w).sum();
        let taproot: u32 = self
            .new_types
            .iter()
            .filter(|(_, k)| *k == OutputType::P2tr)
            .map(|(w, _)| w)
            .sum();
        format!(
            "shape {}: {}-{} txs/block, inputs {:?}, outputs {:?}, OP_RETURN {:.0}%, {} hot scripts \
             {:.1}% of outputs, popular {} at {:.0}% Zipf({}), taproot {:.0}% of fresh scripts, \
             {:.0}% of spends from the last {} coins, the rest from the whole UTXO set",
            self.name,
            self.block_txs.0,
            self.block_txs.1,
            self.inputs,
            self.outputs,
            self.op_return * 100.0,
            self.hot.len(),
            hot * 100.0,
            self.popular,
            self.popular_share * 100.0,
            self.zipf,
            f64::from(taproot) * 100.0 / f64::from(types.max(1)),
            self.recent_share * 100.0,
            self.recent_window,
        )
    }
}

/// Parses "A-B" (or "A") as an inclusive range.
pub fn parse_range(s: &str) -> Result<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (a.trim().parse::<u64>()?, b.trim().parse::<u64>()?);
    ensure!(a <= b, "range {s}: the first bound is above the second");
    Ok((a, b))
}

/// Parses "w1,w2,..." as weights.
pub fn parse_weights(s: &str) -> Result<Vec<u32>> {
    s.split(',').map(|w| Ok(w.trim().parse::<u32>()?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_distinct() {
        let a = Shape::named("default").unwrap();
        let b = Shape::named("aged").unwrap();
        a.validate().unwrap();
        b.validate().unwrap();
        assert_ne!(a, b);
        assert!(Shape::named("nope").is_err());
    }

    #[test]
    fn knobs_adjust_shares() {
        let mut s = Shape::named("default").unwrap();
        s.set_taproot_share(0.5).unwrap();
        let total: u32 = s.new_types.iter().map(|(w, _)| w).sum();
        let tr: u32 = s
            .new_types
            .iter()
            .filter(|(_, k)| *k == OutputType::P2tr)
            .map(|(w, _)| w)
            .sum();
        assert_eq!(tr * 2, total);
        s.set_hot_share(0.3).unwrap();
        let hot: f64 = s.hot.iter().map(|(x, _)| x).sum();
        assert!((hot - 0.3).abs() < 1e-9);
        s.popular_share = 0.8;
        assert!(s.validate().is_err(), "hot + popular > 1");
        assert!(s.describe().contains("default"));
        assert_eq!(parse_range("2000-4000").unwrap(), (2000, 4000));
        assert_eq!(parse_range("7").unwrap(), (7, 7));
        assert!(parse_range("5-1").is_err());
        assert_eq!(parse_weights("60, 27,13").unwrap(), vec![60, 27, 13]);
        assert!(parse_weights("a").is_err());
    }
}
