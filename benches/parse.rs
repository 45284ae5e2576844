//! Block parsing for indexing: Ferrum's zero-copy parser vs rust-bitcoin's full deserialisation
//! (plus txid computation), on a real 374-transaction mainnet block from the test data
//! (`tests/data/blocks`).
//!
//! Run: `cargo bench --bench parse`.

use bitcoin::consensus::deserialize;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrum::chain::{Bitcoin, Coin};
use std::path::PathBuf;

fn fixture_block() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/blocks/bitcoin_mainnet_951658.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    ferrum::types::hex_to_bytes(v["block"].as_str().expect("block hex")).expect("hex")
}

fn parse(c: &mut Criterion) {
    let raw = fixture_block();
    let coin = &Bitcoin::MAINNET;
    let txs = coin.parse_block(&raw).expect("parses").txs.len() as u64;
    let mut g = c.benchmark_group("parse_block_951658");
    g.throughput(Throughput::Elements(txs));
    g.bench_function("ferrum_zero_copy", |b| {
        b.iter(|| {
            coin.parse_block(std::hint::black_box(&raw))
                .expect("parses")
        })
    });
    g.bench_function("rust_bitcoin_deserialize_and_txids", |b| {
        b.iter(|| {
            let block: bitcoin::Block = deserialize(std::hint::black_box(&raw)).expect("parses");
            block
                .txdata
                .iter()
                .map(|t| t.compute_txid())
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
