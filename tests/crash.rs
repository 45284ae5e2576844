//! `kill -9` at random moments — during initial sync, while following the tip (a commit per
//! block), and while reorgs are being undone — never loses anything: after the last kill, a
//! restart ends in an index whose every answer equals a clean sync of the same chain. The same
//! runs with the raw block source, whose `outpoints` family must then hold exactly the
//! unspent outputs, and whose answers must equal a clean sync from REST.

mod common;

use common::model::Model;
use common::*;
use ferrum::chaingen::Bitcoind;
use ferrum::chaingen::ChainBuilder;
use ferrum::daemon::settings::BlockSourceMode;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn ferrum(d: &Bitcoind, db: &Path, source: &str, command: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferrum"));
    // From the daemon's spent outputs, the silent payments tweaks are kept too.
    let tweaks = if source == BlockSourceMode::Raw.name() {
        "off"
    } else {
        "on"
    };
    c.env_clear()
        .env("FERRUM_BLOCK_SOURCE", source)
        .env("FERRUM_SILENT_PAYMENTS", tweaks)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NET", "regtest")
        .env("DB_DIRECTORY", db)
        .env("DAEMON_URL", format!("127.0.0.1:{}", d.rpc_port()))
        .env("CACHE_MB", "64")
        .env("REORG_LIMIT", "3")
        .env("SERVICES", common::server::free_services())
        .env("DAEMON_POLL_INTERVAL_BLOCKS", "100")
        .env("LOG_LEVEL", "info")
        .args(["--cookie-file", d.cookie_file().to_str().unwrap(), command])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

fn kill9(child: &mut Child) -> bool {
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    running
}

#[test]
fn kill_9_at_random_points_then_restart_equals_a_clean_sync() {
    kill_9_at_random_points(BlockSourceMode::Auto);
}

#[test]
fn kill_9_at_random_points_from_raw_blocks() {
    kill_9_at_random_points(BlockSourceMode::Raw);
}

fn kill_9_at_random_points(source: BlockSourceMode) {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(21);
    b.mine_empty(&d, 101).unwrap();
    for _ in 0..40 {
        b.mine_block_with(&d, 30).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut rng = StdRng::seed_from_u64(0xfe44);
    let mut kills = 0;
    for round in 0..24 {
        let log = dir.path().join(format!("ferrum-{round}.log"));
        let mut child = ferrum(&d, &db, source.name(), "serve")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..150)));
        // Change the chain under the running server: new blocks, or a reorg it must undo.
        match round % 4 {
            0 | 1 => {
                b.mine_block_with(&d, 20).unwrap();
            }
            2 => {
                b.reorg(&d, 2, 3, 15).unwrap();
            }
            _ => {
                b.reorg(&d, 5, 6, 10).unwrap(); // deeper than REORG_LIMIT=3: refetch path
            }
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        if kill9(&mut child) {
            kills += 1;
        } else {
            panic!(
                "ferrum exited before the kill: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }
    assert!(kills >= 20);
    let logs: String = (0..24)
        .map(|r| {
            std::fs::read_to_string(dir.path().join(format!("ferrum-{r}.log"))).unwrap_or_default()
        })
        .collect();
    // The kills must have hit the paths they are meant to hit.
    assert!(
        logs.matches("rolling back").count() >= 3,
        "no reorg was undone while running"
    );
    eprintln!(
        "reorg lines: {}, refetch lines: {}, indexing lines: {}",
        logs.matches("rolling back").count(),
        logs.matches("refetching").count(),
        logs.matches("indexing blocks").count()
    );
    let status = ferrum(&d, &db, source.name(), "sync")
        .stderr(Stdio::inherit())
        .status()
        .unwrap();
    assert!(status.success(), "final sync failed");

    let model = Model::from_daemon(&d);
    let resumed = indexer_from(&d, &db, 3, source);
    if source == BlockSourceMode::Raw {
        assert!(logs.contains("spent outputs from Ferrum's own index"));
        let outputs = assert_outpoints_match_utxos(resumed.store());
        assert!(outputs > 100, "{outputs}");
    }
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = indexer(&d, clean_dir.path(), 3);
    sync(&clean);
    if source != BlockSourceMode::Raw {
        // The tweak rows committed with their blocks and deleted with their rollbacks.
        let eligible = assert_tweaks_match(&d, resumed.store());
        assert!(eligible > 50, "{eligible}");
    }
    let scripts = model.assert_matches(&query(&resumed));
    model.assert_matches(&query(&clean));
    assert!(scripts > 100);
    // Beyond the model: the two indexes agree on every script either of them knows.
    let (a, c) = (query(&resumed), query(&clean));
    let (va, vc) = (a.view(), c.view());
    for script in model.history.keys() {
        let k = ferrum::types::ScriptKey::from_script(script.as_bytes());
        assert_eq!(va.history(&k).unwrap(), vc.history(&k).unwrap());
        assert_eq!(va.utxos(&k).unwrap(), vc.utxos(&k).unwrap());
    }
}
