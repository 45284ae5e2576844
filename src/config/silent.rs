//! Silent payments options ([`SilentSettings`]): whether the tweak index is kept, and the
//! bounds on what one client may ask of it.

use super::{Layers, cli, values};
use clap::Args;

/// The silent payments flags; each also reads the environment variable named in its help.
#[derive(Debug, Default, Args)]
pub(crate) struct SilentOpts {
    /// Keep the silent payments (BIP352) tweak index and serve blockchain.tweaks.subscribe,
    /// blockchain.block.tweaks and blockchain.silentpayments.subscribe; turning it on for an
    /// existing index builds the tweaks from the taproot activation height, turning it off
    /// deletes them [env: FERRUM_SILENT_PAYMENTS] [default: off]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        help_heading = "Silent payments"
    )]
    pub silent_payments: Option<String>,
    /// Labels one blockchain.silentpayments.subscribe may scan for (the change label
    /// included) [env: FERRUM_SP_MAX_LABELS] [default: 100]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Silent payments"
    )]
    pub sp_max_labels: Option<String>,
    /// Server-side scans (blockchain.silentpayments.subscribe) one session may hold
    /// [env: FERRUM_SP_MAX_SUBSCRIPTIONS] [default: 4]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Silent payments"
    )]
    pub sp_max_subscriptions: Option<String>,
    /// Threads that run server-side scans, shared by every session; scans wait for one, so
    /// they never take the cores from other requests [env: FERRUM_SP_SCAN_THREADS]
    /// [default: half the cores, at least 1]
    #[arg(
        long,
        global = true,
        value_name = "N",
        help_heading = "Silent payments"
    )]
    pub sp_scan_threads: Option<String>,
    /// Blocks one blockchain.tweaks.subscribe sends at most (a longer count is cut there; the
    /// client asks for the rest after "done") [env: FERRUM_SP_MAX_BLOCKS] [default: 144]
    #[arg(
        long,
        global = true,
        value_name = "BLOCKS",
        help_heading = "Silent payments"
    )]
    pub sp_max_blocks: Option<String>,
}

impl SilentOpts {
    pub(crate) fn value(&self, key: &str) -> Option<String> {
        let v = match key {
            "silent_payments" => &self.silent_payments,
            "sp_max_labels" => &self.sp_max_labels,
            "sp_max_subscriptions" => &self.sp_max_subscriptions,
            "sp_scan_threads" => &self.sp_scan_threads,
            "sp_max_blocks" => &self.sp_max_blocks,
            _ => return None,
        };
        v.clone()
    }
}

/// Silent payments settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentSettings {
    /// `FERRUM_SILENT_PAYMENTS`.
    pub enabled: bool,
    /// `FERRUM_SP_MAX_LABELS`.
    pub max_labels: u32,
    /// `FERRUM_SP_MAX_SUBSCRIPTIONS`.
    pub max_subscriptions: u32,
    /// `FERRUM_SP_SCAN_THREADS`.
    pub scan_threads: usize,
    /// `FERRUM_SP_MAX_BLOCKS`.
    pub max_blocks: u32,
}

impl Default for SilentSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        SilentSettings {
            enabled: false,
            max_labels: 100,
            max_subscriptions: 4,
            scan_threads: (cores / 2).max(1),
            max_blocks: 144,
        }
    }
}

pub(super) fn build(layers: &Layers) -> anyhow::Result<SilentSettings> {
    let d = SilentSettings::default();
    Ok(SilentSettings {
        enabled: layers
            .parse(cli::SILENT_PAYMENTS, values::boolean)?
            .unwrap_or(d.enabled),
        max_labels: layers
            .parse(cli::SP_MAX_LABELS, |s| values::at_least(s, 0, "labels"))?
            .unwrap_or(d.max_labels),
        max_subscriptions: layers
            .parse(cli::SP_MAX_SUBSCRIPTIONS, |s| {
                values::at_least(s, 0, "subscriptions")
            })?
            .unwrap_or(d.max_subscriptions),
        scan_threads: layers
            .parse(cli::SP_SCAN_THREADS, |s| values::at_least(s, 1, "threads"))?
            .unwrap_or(d.scan_threads),
        max_blocks: layers
            .parse(cli::SP_MAX_BLOCKS, |s| values::at_least(s, 1, "blocks"))?
            .unwrap_or(d.max_blocks),
    })
}

#[cfg(test)]
mod tests {
    use super::SilentSettings;

    fn load(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<SilentSettings> {
        super::super::tests::run(args, env).map(|(c, _)| c.silent_payments)
    }

    #[test]
    fn defaults_env_and_flags() {
        assert_eq!(load(&[], &[]).unwrap(), SilentSettings::default());
        assert!(!SilentSettings::default().enabled);
        let s = load(
            &["--sp-max-labels", "7", "--silent-payments", "on"],
            &[
                ("FERRUM_SILENT_PAYMENTS", "off"),
                ("FERRUM_SP_MAX_SUBSCRIPTIONS", "2"),
                ("FERRUM_SP_SCAN_THREADS", "3"),
                ("FERRUM_SP_MAX_BLOCKS", "100"),
            ],
        )
        .unwrap();
        assert_eq!(
            s,
            SilentSettings {
                enabled: true,
                max_labels: 7,
                max_subscriptions: 2,
                scan_threads: 3,
                max_blocks: 100,
            }
        );
    }

    #[test]
    fn bad_values_name_the_option() {
        for (var, value) in [
            ("FERRUM_SILENT_PAYMENTS", "maybe"),
            ("FERRUM_SP_SCAN_THREADS", "0"),
            ("FERRUM_SP_MAX_BLOCKS", "0"),
            ("FERRUM_SP_MAX_LABELS", "-1"),
        ] {
            let e = load(&[], &[(var, value)]).unwrap_err().to_string();
            assert!(e.contains(var), "{var}: {e}");
        }
    }
}
