//! With `--zmq-block` set, Ferrum learns of new blocks from ZMQ `hashblock` announcements. The
//! test bitcoind is built without ZMQ (its source here has none), so the announcements come
//! from a ZeroMQ PUB socket in the test, in bitcoind's exact message format, about blocks the
//! real bitcoind accepted. The poll interval is an hour: only the announcement can explain
//! the new block being indexed.

mod common;

use common::COIN;
use ferrum::chaingen::{Bitcoind, ChainBuilder};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zeromq::{Socket, SocketSend, ZmqMessage};

fn indexed_tip(db: &std::path::Path) -> Option<bitcoin::BlockHash> {
    ferrum::store::Store::open_read_only(db, COIN, 16)
        .ok()?
        .tip()
        .tip_hash()
}

#[test]
fn zmq_hashblock_announcement_wakes_the_indexer() {
    let d = Bitcoind::start().unwrap();
    let mut b = ChainBuilder::new(51);
    b.mine_empty(&d, 101).unwrap();
    // A worker thread keeps driving the publisher (handshakes) between our sends.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let mut publisher = zeromq::PubSocket::new();
    let endpoint = rt
        .block_on(publisher.bind("tcp://127.0.0.1:0"))
        .unwrap()
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("db"), dir.path().join("ferrum.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrum"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("NET", "regtest")
        .env("DB_DIRECTORY", &db)
        .env("DAEMON_URL", format!("127.0.0.1:{}", d.rpc_port()))
        .env("DAEMON_POLL_INTERVAL_BLOCKS", "3600000")
        .env("FERRUM_ZMQ_BLOCK", &endpoint)
        .env("SERVICES", common::server::free_services())
        .env("LOG_LEVEL", "info")
        .args(["--cookie-file", d.cookie_file().to_str().unwrap(), "serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let wait_for = |hash: bitcoin::BlockHash, publisher: &mut zeromq::PubSocket, mut seq: u32| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while indexed_tip(&db) != Some(hash) {
            assert!(
                Instant::now() < deadline,
                "not indexed: {}",
                std::fs::read_to_string(&log).unwrap()
            );
            // Re-announce until seen (a subscriber that joins late misses earlier messages).
            let mut msg = ZmqMessage::from("hashblock");
            // bitcoind sends the hash in display (reversed) byte order.
            let body = ferrum::types::hex_to_bytes(&hash.to_string()).unwrap();
            msg.push_back(body.into());
            msg.push_back(seq.to_le_bytes().to_vec().into());
            seq += 1;
            let _ = rt.block_on(publisher.send(msg));
            std::thread::sleep(Duration::from_millis(300));
        }
        seq
    };
    let (first, _) = d.tip().unwrap();
    let seq = wait_for(first, &mut publisher, 0);
    let block = b.mine_block_with(&d, 5).unwrap();
    wait_for(block.block_hash(), &mut publisher, seq);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("subscribed to hashblock"), "{text}");
}
