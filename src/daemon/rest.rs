//! bitcoind's binary REST interface (`-rest`): URL paths and the interpretation of its answers.
//!
//! REST needs no credentials and shares the RPC port. When REST is off, and for unknown paths
//! (e.g. `/rest/spenttxouts` before Core 30), bitcoind answers 404, the same as for an unknown
//! block or missing undo data; callers treat every 404 as "not from REST".

use super::error::DaemonError;
use super::jsonrpc::{ReplyContext, Verdict, snippet, status_verdict};
use bitcoin::BlockHash;

/// Answered with 200 whenever REST is on (and the node is out of warmup).
pub(crate) const CHAININFO_PATH: &str = "/rest/chaininfo.json";

/// The raw serialized block.
pub(crate) fn block_path(hash: &BlockHash) -> String {
    format!("/rest/block/{hash}.bin")
}

/// The serialized undo data of a block: the outputs its inputs spend (Core >= 30).
pub(crate) fn spent_outputs_path(hash: &BlockHash) -> String {
    format!("/rest/spenttxouts/{hash}.bin")
}

/// `Some(body)` on 200, `None` on 404, a retry on 5xx (503 is "warming up" or a full work
/// queue), an error otherwise.
pub(crate) fn verdict(status: u16, body: Vec<u8>, ctx: ReplyContext) -> Verdict<Option<Vec<u8>>> {
    match status {
        200 => Verdict::Done(Ok(Some(body))),
        404 => {
            tracing::trace!("{} answered 404: {}", ctx.request, snippet(&body, 100));
            Verdict::Done(Ok(None))
        }
        _ => status_verdict(status, &body, ctx),
    }
}

/// Checks that a REST JSON answer (the probe) is a JSON object.
pub(crate) fn check_json(body: &[u8], request: &str) -> Result<(), DaemonError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.is_object() => Ok(()),
        _ => Err(DaemonError::bad_reply(
            request,
            format!("not a JSON object: {}", snippet(body, 100)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const CTX: ReplyContext = ReplyContext {
        endpoint: "h:1",
        request: "GET /rest/block",
    };

    #[test]
    fn paths() {
        let h =
            BlockHash::from_str("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            block_path(&h),
            "/rest/block/0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206.bin"
        );
        assert_eq!(
            spent_outputs_path(&h),
            "/rest/spenttxouts/0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206.bin"
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            verdict(200, vec![1, 2], CTX),
            Verdict::Done(Ok(Some(vec![1, 2])))
        );
        assert_eq!(
            verdict(404, b"x not found\r\n".to_vec(), CTX),
            Verdict::Done(Ok(None))
        );
        assert!(matches!(
            verdict(503, b"Service temporarily unavailable: Loading".to_vec(), CTX),
            Verdict::Retry(r) if r.contains("Loading")
        ));
        assert!(matches!(
            verdict(400, b"Invalid hash".to_vec(), CTX),
            Verdict::Done(Err(DaemonError::Http { status: 400, .. }))
        ));
    }

    #[test]
    fn probe_body() {
        assert!(check_json(br#"{"chain":"regtest"}"#, "probe").is_ok());
        assert!(matches!(
            check_json(b"<html>", "probe"),
            Err(DaemonError::BadReply { .. })
        ));
        assert!(check_json(b"[]", "probe").is_err());
    }
}
