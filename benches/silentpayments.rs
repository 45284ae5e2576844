//! Silent payments per transaction, the two costs a server pays: computing a transaction's
//! tweak from its inputs (once, while indexing) and a receiver's scan of one transaction from
//! its tweak and taproot outputs (per scanning receiver), in the common case where nothing
//! pays the receiver. Per transaction and per core (criterion runs one thread).
//!
//! Run: `cargo bench --bench silentpayments`.

use bitcoin::secp256k1::{Secp256k1, SecretKey, XOnlyPublicKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrum::silentpayments::scan::Receiver;
use ferrum::silentpayments::tweak::{TxInput, tweak};

fn key(n: u8) -> SecretKey {
    SecretKey::from_slice(&[n; 32]).expect("key")
}

fn bench(c: &mut Criterion) {
    let secp = Secp256k1::new();
    // A transaction spending two P2WPKH outputs, paying two taproot outputs.
    let pubs: Vec<[u8; 33]> = [4u8, 5]
        .iter()
        .map(|n| key(*n).public_key(&secp).serialize())
        .collect();
    let spks: Vec<Vec<u8>> = pubs
        .iter()
        .map(|p| {
            let h = <bitcoin::hashes::hash160::Hash as bitcoin::hashes::Hash>::hash(p);
            [&[0x00, 0x14][..], &h[..]].concat()
        })
        .collect();
    let sig = [0x30u8; 71];
    let witnesses: Vec<[&[u8]; 2]> = pubs.iter().map(|p| [&sig[..], &p[..]]).collect();
    let inputs = || {
        (0..2).map(|i| TxInput {
            txid: [i as u8 + 1; 32],
            vout: i,
            script_sig: &[],
            witness: &witnesses[i as usize],
            prevout_script: &spks[i as usize],
        })
    };
    let t = tweak(inputs()).expect("eligible");
    let outputs: Vec<XOnlyPublicKey> = [6u8, 7]
        .iter()
        .map(|n| key(*n).x_only_public_key(&secp).0)
        .collect();
    let plain = Receiver::new(key(1), key(2).public_key(&secp), &[]).expect("receiver");
    let change = Receiver::new(key(1), key(2).public_key(&secp), &[0]).expect("receiver");

    let mut g = c.benchmark_group("silentpayments_per_tx");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tweak_two_p2wpkh_inputs", |b| {
        b.iter(|| tweak(std::hint::black_box(inputs())))
    });
    g.bench_function("input_sum_two_p2wpkh_inputs", |b| {
        b.iter(|| ferrum::silentpayments::tweak::input_sum(std::hint::black_box(inputs())))
    });
    let a = ferrum::silentpayments::tweak::input_sum(inputs())
        .expect("eligible")
        .0;
    let h = bitcoin::secp256k1::Scalar::from(key(9));
    g.bench_function("mul_tweak", |b| {
        b.iter(|| std::hint::black_box(&a).mul_tweak(&secp, &h))
    });
    let spend = key(2).public_key(&secp);
    g.bench_function("spend_plus_tG_by_tweak_add", |b| {
        b.iter(|| std::hint::black_box(&spend).add_exp_tweak(&secp, &h))
    });
    g.bench_function("spend_plus_tG_by_generator_then_combine", |b| {
        b.iter(|| {
            let tg = bitcoin::secp256k1::PublicKey::from_secret_key(&secp, &key(9));
            std::hint::black_box(&spend).combine(&tg)
        })
    });
    let compressed = a.serialize();
    g.bench_function("decompress_point", |b| {
        b.iter(|| bitcoin::secp256k1::PublicKey::from_slice(std::hint::black_box(&compressed)))
    });
    g.bench_function("scan_no_labels", |b| {
        b.iter(|| plain.scan(std::hint::black_box(&t), &outputs))
    });
    g.bench_function("scan_change_label", |b| {
        b.iter(|| change.scan(std::hint::black_box(&t), &outputs))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
