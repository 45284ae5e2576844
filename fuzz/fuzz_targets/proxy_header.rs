//! Fuzzes the PROXY protocol header parser (`transport::proxy`), which reads bytes from
//! whoever connects when `FERRUM_PROXY_FROM` is set: `parse` on the whole input and on every
//! prefix, and `read_header` fed in chunks of fuzzed size, then `Prefixed` replaying the rest.
//!
//! Input: byte 0 picks the read chunk size (1..=256), the rest is the stream. Checks that a
//! header's length fits the input and the protocol's bounds, that `parse` agrees with itself
//! on prefixes (Incomplete before a header's end, the same header from its end on), and that
//! the bytes after the header come back unchanged, in order, through `Prefixed`.
#![no_main]

mod common;

use ferrum::transport::proxy::{self, Parsed, Prefixed, V1_MAX, V2_MAX_PAYLOAD};
use common::{Chunked, ready};
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    let [chunk, stream @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk) + 1;
    let whole = proxy::parse(stream);
    if let Ok(Parsed::Header(h, len)) = whole {
        assert!(len <= stream.len());
        assert!(len <= V1_MAX.max(16 + V2_MAX_PAYLOAD), "header of {len} bytes");
        for n in 0..len {
            assert_eq!(proxy::parse(&stream[..n]), Ok(Parsed::Incomplete), "prefix {n}");
        }
        assert_eq!(proxy::parse(&stream[..len]), Ok(Parsed::Header(h, len)));
    }

    let mut reader = Chunked {
        data: stream,
        chunk,
    };
    match ready(proxy::read_header(&mut reader)) {
        Ok((header, rest)) => {
            let consumed = stream.len() - reader.data.len();
            let header_len = consumed - rest.len();
            match header {
                Some(h) => assert_eq!(
                    proxy::parse(&stream[..header_len]),
                    Ok(Parsed::Header(h, header_len))
                ),
                None => assert_eq!(header_len, 0),
            }
            assert_eq!(rest, &stream[header_len..consumed]);
            let mut replayed = Vec::new();
            ready(Prefixed::new(rest, reader).read_to_end(&mut replayed))
                .unwrap_or_else(|e| panic!("read error: {e}"));
            assert_eq!(replayed, &stream[header_len..]);
        }
        // An error is a refusal: the input must not parse as a header then.
        Err(_) => assert!(!matches!(whole, Ok(Parsed::Header(..)))),
    }
});
