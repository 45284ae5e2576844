//! ElectrumX's compact fee histogram (`mempool.get_fee_histogram`), computed exactly as its
//! `MemPool._update_histogram` and `_compress_histogram` do, float operations included, so
//! that the same mempool gives the same reply.

use std::collections::BTreeMap;
use std::time::Duration;

/// ElectrumX's `MEMPOOL_COMPACT_HISTOGRAM_BINSIZE`: ~minimum vsize of the first bin.
pub const BIN_SIZE: u64 = 30_000;

/// ElectrumX's `MEMPOOL_HISTOGRAM_REFRESH_SECS` for Bitcoin: the histogram is recomputed at
/// the first mempool update at least this long after the previous computation.
pub const REFRESH: Duration = Duration::from_secs(120);

/// Fee rate (sat/vB) rounded *down* to 0.1, as ElectrumX: `math.floor(10 * fee / size) / 10`.
fn bucket(fee: u64, vsize: u64) -> f64 {
    let rate = fee as f64 / vsize as f64;
    (10.0 * rate).floor() / 10.0
}

/// The compact histogram of `(fee, vsize)` pairs: `(fee_rate, cumulative vsize)` tranches from
/// the highest fee rate down. Transactions of zero vsize (which cannot exist) are ignored.
pub fn compact_histogram(txs: impl IntoIterator<Item = (u64, u64)>) -> Vec<(f64, u64)> {
    // Fee rates are finite and non-negative, so their bit patterns sort as the values do.
    let mut histogram: BTreeMap<u64, u64> = BTreeMap::new();
    for (fee, vsize) in txs {
        if vsize == 0 {
            continue;
        }
        *histogram.entry(bucket(fee, vsize).to_bits()).or_default() += vsize;
    }
    compress(
        histogram
            .into_iter()
            .rev()
            .map(|(rate, size)| (f64::from_bits(rate), size)),
        BIN_SIZE,
    )
}

/// ElectrumX's `_compress_histogram`, given `(fee_rate, size)` by decreasing fee rate.
/// `bin_size` grows by 10% after each tranche (Python turns it into a float, and compares the
/// integer sizes with it exactly; sizes here stay far below 2^53, so `as f64` is exact).
fn compress(sorted_desc: impl Iterator<Item = (f64, u64)>, bin_size: u64) -> Vec<(f64, u64)> {
    let mut bin_size = bin_size as f64;
    let mut compact = Vec::new();
    let mut cum_size = 0u64;
    let mut prev_fee_rate: Option<f64> = None;
    for (fee_rate, size) in sorted_desc {
        // A big lump of transactions at this rate: close the previous tranche first.
        if size as f64 > 2.0 * bin_size
            && let Some(prev) = prev_fee_rate
            && cum_size > 0
        {
            compact.push((prev, cum_size));
            cum_size = 0;
            bin_size *= 1.1;
        }
        cum_size += size;
        if cum_size as f64 > bin_size {
            compact.push((fee_rate, cum_size));
            cum_size = 0;
            bin_size *= 1.1;
        }
        prev_fee_rate = Some(fee_rate);
    }
    compact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_down_to_a_tenth() {
        assert_eq!(bucket(1000, 100), 10.0);
        assert_eq!(bucket(1099, 100), 10.9);
        assert_eq!(bucket(141, 141), 1.0);
        assert_eq!(bucket(140, 141), 0.9);
        assert_eq!(bucket(0, 200), 0.0);
        // 2842 / 141 = 20.156..., floor(201.56...) / 10 = 20.1
        assert_eq!(bucket(2842, 141), 20.1);
    }

    #[test]
    fn small_mempool_gives_an_empty_histogram() {
        // ElectrumX's reply for the regtest fixture's 11 txs (2,975 vB) is [].
        assert_eq!(compact_histogram([(15608, 771), (2842, 141)]), vec![]);
        assert_eq!(compact_histogram([]), vec![]);
    }

    #[test]
    fn tranches_close_above_the_growing_bin_size() {
        // Hand-run of _compress_histogram with bin_size 30_000:
        // 50.0: cum 20_000 (<= 30_000)
        // 40.0: cum 35_000 > 30_000 -> (40.0, 35_000), bin 33_000
        // 30.0: cum 33_000, not > 33_000
        // 20.0: cum 34_000 > 33_000 -> (20.0, 34_000), bin 36_300
        // 10.0: cum 1_000, left over (not emitted)
        let txs = [
            (1_000_000, 20_000), // 50.0
            (600_000, 15_000),   // 40.0
            (990_000, 33_000),   // 30.0
            (20_000, 1_000),     // 20.0
            (10_000, 1_000),     // 10.0
        ];
        assert_eq!(compact_histogram(txs), vec![(40.0, 35_000), (20.0, 34_000)]);
    }

    #[test]
    fn a_big_lump_closes_the_previous_tranche() {
        // 5.0: cum 1_000
        // 4.0: size 70_000 > 60_000 and cum > 0 -> (5.0, 1_000), bin 33_000;
        //      then cum 70_000 > 33_000 -> (4.0, 70_000), bin 36_300
        // 3.0: size 80_000 > 72_600, but cum == 0: no extra tranche; (3.0, 80_000)
        let txs = [(5_000, 1_000), (280_000, 70_000), (240_000, 80_000)];
        assert_eq!(
            compact_histogram(txs),
            vec![(5.0, 1_000), (4.0, 70_000), (3.0, 80_000)]
        );
    }

    #[test]
    fn same_bucket_sizes_add_up() {
        // 10.04 and 10.09 sat/vB both land in 10.0.
        let txs = [(251_000, 25_000), (100_900, 10_000)];
        assert_eq!(compact_histogram(txs), vec![(10.0, 35_000)]);
    }

    #[test]
    fn bin_size_growth_is_float_exact() {
        // After three tranches bin_size is 30_000 * 1.1 * 1.1 * 1.1 == 39930.0 in floats (checked
        // against ElectrumX's own function): a cumulative size of exactly 39_930 does not close
        // the fourth tranche (the test is strict), 39_931 does.
        let mut txs = vec![
            (100 * 31_000, 31_000),
            (90 * 34_000, 34_000),
            (80 * 37_000, 37_000),
        ];
        txs.push((70 * 39_930, 39_930));
        txs.push((60, 1));
        let h = compact_histogram(txs);
        assert_eq!(
            h,
            vec![
                (100.0, 31_000),
                (90.0, 34_000),
                (80.0, 37_000),
                (60.0, 39_931)
            ]
        );
    }
}
