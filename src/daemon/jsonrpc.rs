//! JSON-RPC 2.0 request bodies and the interpretation of bitcoind's replies (single and batch):
//! which replies are results, which are RPC errors, which deserve a retry, and which are
//! garbage. Pure functions; no I/O.
//!
//! Core >= 28 answers JSON-RPC 2.0 requests with HTTP 200 even for RPC errors; older versions
//! use HTTP 500/404 with a JSON error body. Both are understood.

use super::error::{DaemonError, RPC_IN_WARMUP, http_hint};
use serde_json::{Value, json};

/// Verdict on one HTTP answer.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict<T> {
    /// Final: a result or an error that retrying will not fix.
    Done(Result<T, DaemonError>),
    /// Transient (HTTP 5xx, work queue full, warming up): retry after a backoff.
    Retry(String),
}

/// Where a reply came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyContext<'a> {
    pub endpoint: &'a str,
    /// e.g. `getblockhash` or `GET /rest/block/<hash>.bin`.
    pub request: &'a str,
}

pub(crate) fn request_body(id: u64, method: &str, params: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

pub(crate) fn batch_body(first_id: u64, method: &str, params: &[Value]) -> Value {
    Value::Array(
        params
            .iter()
            .zip(first_id..)
            .map(|(p, id)| request_body(id, method, p))
            .collect(),
    )
}

/// At most `max` characters of a body, for messages.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    if out.is_empty() {
        "(empty body)".to_string()
    } else {
        out
    }
}

/// Interprets a status whose body is not a JSON-RPC reply (also used for REST).
pub(crate) fn status_verdict<T>(status: u16, body: &[u8], ctx: ReplyContext) -> Verdict<T> {
    let text = snippet(body, 200);
    if status >= 500 {
        return Verdict::Retry(format!("HTTP {status}: {text}"));
    }
    Verdict::Done(Err(DaemonError::Http {
        endpoint: ctx.endpoint.to_string(),
        status,
        request: ctx.request.to_string(),
        body: text,
        hint: http_hint(status),
    }))
}

/// Splits one reply object into a result or an RPC error. `Err` when it is not a reply.
fn reply_object(v: &Value, request: &str) -> Result<Result<Value, DaemonError>, DaemonError> {
    let obj = v
        .as_object()
        .ok_or_else(|| DaemonError::bad_reply(request, format!("expected an object, got {v}")))?;
    match obj.get("error") {
        None | Some(Value::Null) => {}
        Some(err) => {
            let code = err
                .get("code")
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok())
                .ok_or_else(|| {
                    DaemonError::bad_reply(request, format!("error object without code: {err}"))
                })?;
            let message = match err.get("message") {
                Some(Value::String(m)) => m.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            return Ok(Err(DaemonError::Rpc { code, message }));
        }
    }
    match obj.get("result") {
        Some(r) => Ok(Ok(r.clone())),
        None => Err(DaemonError::bad_reply(
            request,
            "reply has neither result nor error",
        )),
    }
}

fn is_warmup(r: &Result<Value, DaemonError>) -> Option<String> {
    match r {
        Err(DaemonError::Rpc {
            code: RPC_IN_WARMUP,
            message,
        }) => Some(format!("warming up: {message}")),
        _ => None,
    }
}

/// Interprets the answer to a single JSON-RPC request.
pub(crate) fn parse_single(status: u16, body: &[u8], ctx: ReplyContext) -> Verdict<Value> {
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object);
    let Some(v) = parsed else {
        if status == 200 {
            return Verdict::Done(Err(DaemonError::bad_reply(
                ctx.request,
                format!("invalid JSON: {}", snippet(body, 200)),
            )));
        }
        return status_verdict(status, body, ctx);
    };
    match reply_object(&v, ctx.request) {
        Ok(r) => match is_warmup(&r) {
            Some(reason) => Verdict::Retry(reason),
            None => Verdict::Done(r),
        },
        // A JSON object that is not a reply on an error status: judge by the status.
        Err(_) if status != 200 => status_verdict(status, body, ctx),
        Err(e) => Verdict::Done(Err(e)),
    }
}

/// Interprets the answer to a batch of `n` requests with ids `first_id..first_id + n`.
/// The per-item results come back in request order.
pub(crate) fn parse_batch(
    status: u16,
    body: &[u8],
    ctx: ReplyContext,
    first_id: u64,
    n: usize,
) -> Verdict<Vec<Result<Value, DaemonError>>> {
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(_) if status != 200 => return status_verdict(status, body, ctx),
        Err(e) => {
            return Verdict::Done(Err(DaemonError::bad_reply(
                ctx.request,
                format!("invalid JSON ({e}): {}", snippet(body, 200)),
            )));
        }
    };
    let items = match v {
        Value::Array(items) => items,
        // The whole batch was refused (e.g. a parse error): one error object.
        obj @ Value::Object(_) => {
            return match reply_object(&obj, ctx.request) {
                Ok(Err(e)) => match is_warmup(&Err(e.clone())) {
                    Some(reason) => Verdict::Retry(reason),
                    None => Verdict::Done(Err(e)),
                },
                Ok(Ok(_)) => Verdict::Done(Err(DaemonError::bad_reply(
                    ctx.request,
                    "a single result for a batch request",
                ))),
                Err(_) if status != 200 => status_verdict(status, body, ctx),
                Err(e) => Verdict::Done(Err(e)),
            };
        }
        _ if status != 200 => return status_verdict(status, body, ctx),
        other => {
            return Verdict::Done(Err(DaemonError::bad_reply(
                ctx.request,
                format!(
                    "expected an array, got {}",
                    snippet(other.to_string().as_bytes(), 100)
                ),
            )));
        }
    };
    if items.len() != n {
        return Verdict::Done(Err(DaemonError::bad_reply(
            ctx.request,
            format!("{} replies for a batch of {n} requests", items.len()),
        )));
    }
    let mut out: Vec<Option<Result<Value, DaemonError>>> = (0..n).map(|_| None).collect();
    for item in &items {
        let slot = item
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| id.checked_sub(first_id))
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| out.get_mut(i));
        let Some(slot) = slot else {
            return Verdict::Done(Err(DaemonError::bad_reply(
                ctx.request,
                format!(
                    "reply with an unknown id: {}",
                    item.get("id").unwrap_or(&Value::Null)
                ),
            )));
        };
        if slot.is_some() {
            return Verdict::Done(Err(DaemonError::bad_reply(
                ctx.request,
                "duplicate reply id",
            )));
        }
        let r = match reply_object(item, ctx.request) {
            Ok(r) => r,
            Err(e) => return Verdict::Done(Err(e)),
        };
        if let Some(reason) = is_warmup(&r) {
            return Verdict::Retry(reason);
        }
        *slot = Some(r);
    }
    // n distinct in-range ids for n slots: every slot is filled.
    Verdict::Done(Ok(out.into_iter().flatten().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: ReplyContext = ReplyContext {
        endpoint: "127.0.0.1:18443",
        request: "getblockhash",
    };

    fn done<T: std::fmt::Debug>(v: Verdict<T>) -> Result<T, DaemonError> {
        match v {
            Verdict::Done(r) => r,
            Verdict::Retry(reason) => panic!("unexpected retry: {reason}"),
        }
    }

    #[test]
    fn bodies() {
        let b = request_body(7, "getblockhash", &json!([0]));
        assert_eq!(
            b,
            json!({"jsonrpc": "2.0", "id": 7, "method": "getblockhash", "params": [0]})
        );
        let b = batch_body(3, "getblockhash", &[json!([1]), json!([2])]);
        assert_eq!(b[1]["id"], 4);
        assert_eq!(b[1]["params"], json!([2]));
        assert_eq!(batch_body(0, "x", &[]), json!([]));
    }

    #[test]
    fn single_results_and_errors() {
        let ok = br#"{"jsonrpc":"2.0","result":"00ff","id":1}"#;
        assert_eq!(done(parse_single(200, ok, CTX)), Ok(json!("00ff")));
        // Core < 28: result:null and error:null both present.
        let v1 = br#"{"result":5,"error":null,"id":1}"#;
        assert_eq!(done(parse_single(200, v1, CTX)), Ok(json!(5)));
        let null = br#"{"result":null,"error":null,"id":1}"#;
        assert_eq!(done(parse_single(200, null, CTX)), Ok(Value::Null));
        // JSON-RPC 2.0 errors come with HTTP 200 ...
        let err = br#"{"jsonrpc":"2.0","error":{"code":-8,"message":"Block height out of range"},"id":1}"#;
        assert_eq!(
            done(parse_single(200, err, CTX)),
            Err(DaemonError::Rpc {
                code: -8,
                message: "Block height out of range".into()
            })
        );
        // ... and legacy ones with HTTP 500 / 404.
        let err = br#"{"result":null,"error":{"code":-5,"message":"Block not found"},"id":1}"#;
        assert_eq!(
            done(parse_single(500, err, CTX))
                .err()
                .and_then(|e| e.rpc_code()),
            Some(-5)
        );
        let err = br#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}"#;
        assert_eq!(
            done(parse_single(404, err, CTX))
                .err()
                .and_then(|e| e.rpc_code()),
            Some(-32601)
        );
    }

    #[test]
    fn single_retries() {
        let warm = br#"{"error":{"code":-28,"message":"Loading block index..."},"id":1}"#;
        assert_eq!(
            parse_single(500, warm, CTX),
            Verdict::Retry("warming up: Loading block index...".into())
        );
        assert!(matches!(
            parse_single(503, b"Work queue depth exceeded", CTX),
            Verdict::Retry(r) if r.contains("Work queue depth exceeded")
        ));
        assert!(matches!(parse_single(500, b"", CTX), Verdict::Retry(_)));
        assert!(matches!(
            parse_single(502, b"<html>", CTX),
            Verdict::Retry(_)
        ));
    }

    #[test]
    fn single_malformed() {
        for body in [
            &b"not json"[..],
            b"",
            b"[1,2]",
            b"42",
            br#"{"id":1}"#,
            br#"{"error":{"message":"no code"},"id":1}"#,
            br#"{"error":{"code":"x","message":"m"},"id":1}"#,
            br#"{"error":{"code":99999999999,"message":"m"},"id":1}"#,
            b"\xff\xfe{",
        ] {
            let r = done(parse_single(200, body, CTX));
            assert!(
                matches!(r, Err(DaemonError::BadReply { .. })),
                "{}: {r:?}",
                String::from_utf8_lossy(body)
            );
        }
        let forbidden = done(parse_single(403, b"", CTX));
        assert!(
            matches!(forbidden, Err(DaemonError::Http { status: 403, .. })),
            "{forbidden:?}"
        );
        let nf = done(parse_single(404, b"<html>not found</html>", CTX));
        assert!(
            matches!(nf, Err(DaemonError::Http { status: 404, .. })),
            "{nf:?}"
        );
    }

    #[test]
    fn batch_in_request_order() {
        // Replies out of order are put back in request order by id.
        let body = br#"[
            {"result":"b","error":null,"id":11},
            {"result":null,"error":{"code":-8,"message":"out of range"},"id":12},
            {"result":"a","error":null,"id":10}]"#;
        let r = done(parse_batch(200, body, CTX, 10, 3)).unwrap_or_default();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Ok(json!("a")));
        assert_eq!(r[1], Ok(json!("b")));
        assert_eq!(r[2].as_ref().err().and_then(|e| e.rpc_code()), Some(-8));
        assert_eq!(done(parse_batch(200, b"[]", CTX, 10, 0)), Ok(vec![]));
    }

    #[test]
    fn batch_retries_and_errors() {
        let warm =
            br#"[{"result":"a","id":1},{"error":{"code":-28,"message":"Verifying"},"id":2}]"#;
        assert!(matches!(
            parse_batch(200, warm, CTX, 1, 2),
            Verdict::Retry(_)
        ));
        assert!(matches!(
            parse_batch(503, b"Work queue depth exceeded", CTX, 1, 2),
            Verdict::Retry(_)
        ));
        let whole = br#"{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}"#;
        assert_eq!(
            done(parse_batch(500, whole, CTX, 1, 2))
                .err()
                .and_then(|e| e.rpc_code()),
            Some(-32700)
        );
    }

    #[test]
    fn batch_malformed() {
        for body in [
            &b"garbage"[..],
            b"{}",
            br#"{"result":1,"id":1}"#,
            b"3",
            br#"[{"result":"a","id":1}]"#,
            br#"[{"result":"a","id":1},{"result":"b","id":1}]"#,
            br#"[{"result":"a","id":1},{"result":"b","id":9}]"#,
            br#"[{"result":"a","id":1},{"result":"b"}]"#,
            br#"[{"result":"a","id":1},{"id":2}]"#,
            br#"[{"result":"a","id":1},7]"#,
        ] {
            let r = done(parse_batch(200, body, CTX, 1, 2));
            assert!(
                matches!(r, Err(DaemonError::BadReply { .. })),
                "{}: {r:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn snippets() {
        assert_eq!(snippet(b"  hello\r\n", 10), "hello");
        assert_eq!(snippet(b"abcdef", 3), "abc…");
        assert_eq!(snippet(b"", 3), "(empty body)");
    }
}
