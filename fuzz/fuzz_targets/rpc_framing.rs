//! Fuzzes what a client's bytes go through before a method runs: newline framing with the
//! MAX_RECV rule (`transport::Lines`, fed in chunks of fuzzed size) and JSON-RPC parsing
//! (`electrum::rpc::parse`), then the replies built for what was parsed.
//!
//! Input: byte 0 picks MAX_RECV (1..=256), byte 1 the read chunk size (1..=256), the rest is
//! the stream. Checks the frames against a simple model (split on `\n`, lines over MAX_RECV
//! are `Oversized`, a partial last line is dropped) and that every reply is valid JSON.
#![no_main]

mod common;

use ferrum::electrum::rpc::{self, Incoming};
use ferrum::transport::{Frame, Lines};
use common::{Chunked, ready};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn assert_json(reply: &[u8]) {
    if let Err(e) = serde_json::from_slice::<Value>(reply) {
        panic!(
            "reply is not JSON ({e}): {}",
            String::from_utf8_lossy(reply)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [max, chunk, stream @ ..] = data else {
        return;
    };
    let max = usize::from(*max) + 1;
    let chunk = usize::from(*chunk) + 1;
    let mut lines = Lines::new(
        Chunked {
            data: stream,
            chunk,
        },
        max,
    );
    let mut frames = Vec::new();
    while let Some(frame) = ready(lines.next()).unwrap_or_else(|e| panic!("read error: {e}")) {
        frames.push(frame);
    }
    let mut expected: Vec<Frame> = stream
        .split(|b| *b == b'\n')
        .map(|line| {
            if line.len() > max {
                Frame::Oversized
            } else {
                Frame::Message(line.to_vec())
            }
        })
        .collect();
    expected.pop(); // the part after the last newline: incomplete, or empty
    assert_eq!(frames, expected);

    for frame in frames {
        let Frame::Message(message) = frame else {
            continue;
        };
        match rpc::parse(&message) {
            Incoming::Single(req) => {
                if let Some(id) = &req.id {
                    assert_json(&rpc::reply(
                        id,
                        &Ok(rpc::Answer::Json(Value::Null)),
                        req.v1,
                        1000,
                    ));
                }
            }
            Incoming::Batch(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        Ok(req) => {
                            if let Some(id) = &req.id {
                                parts.push(rpc::reply(
                                    id,
                                    &Ok(rpc::Answer::Json(Value::Null)),
                                    req.v1,
                                    1000,
                                ));
                            }
                        }
                        Err(reply) => parts.push(reply),
                    }
                }
                if !parts.is_empty() {
                    assert_json(&rpc::batch(&parts));
                }
            }
            Incoming::Invalid(reply) => assert_json(&reply),
            Incoming::Ignore => {}
        }
    }
});
