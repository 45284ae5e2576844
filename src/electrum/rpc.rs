//! JSON-RPC messages as ElectrumX's library (aiorpcx) reads and writes them: single requests,
//! notifications and batches, JSON-RPC 1.0 and 2.0, the standard error codes and the response
//! size limit. No I/O and no Electrum semantics here.

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_ARGS: i64 = -32602;
/// Electrum's "bad request": a parameter is wrong, or what it names does not exist.
pub const BAD_REQUEST: i64 = 1;
/// bitcoind refused or failed a call made on the client's behalf.
pub const DAEMON_ERROR: i64 = 2;
/// A script's history is longer than MAX_SEND allows.
pub const HISTORY_TOO_LONG: i64 = 10_001;

/// An error reply: code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(BAD_REQUEST, message)
    }

    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::new(INVALID_ARGS, message)
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

pub type RpcResult = Result<Value, RpcError>;

/// A successful result: a JSON value, or JSON text already written (long histories are
/// written straight to text, which is several times faster than building a `Value`).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Json(Value),
    /// Valid JSON text, by construction of whoever made it, listing `entries` history
    /// entries of which `mempool` are unconfirmed (the resource controls charge by them
    /// without parsing the text).
    Raw {
        text: String,
        entries: usize,
        mempool: usize,
    },
}

impl From<Value> for Answer {
    fn from(v: Value) -> Self {
        Answer::Json(v)
    }
}

/// What a request gets.
pub type Reply = Result<Answer, RpcError>;

/// Request parameters: by position or by name.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    List(Vec<Value>),
    Named(Map<String, Value>),
}

/// One request or notification (`id` is None for a notification).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<Value>,
    pub method: String,
    pub params: Params,
    /// Asked in JSON-RPC 1.0 (`"jsonrpc": "1.0"`): answer in that format.
    pub v1: bool,
}

/// What one received line holds.
#[derive(Debug)]
pub enum Incoming {
    Single(Request),
    /// Members in order; invalid members are their error reply already.
    Batch(Vec<Result<Request, Vec<u8>>>),
    /// Not a request at all: the reply to send (parse error, empty batch...).
    Invalid(Vec<u8>),
    /// A response object or something else that needs no reply.
    Ignore,
}

/// Parses one message (a line without its newline).
pub fn parse(message: &[u8]) -> Incoming {
    let payload: Value = match std::str::from_utf8(message) {
        Err(_) => return invalid(PARSE_ERROR, "messages must be encoded in UTF-8"),
        Ok(text) => match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return invalid(PARSE_ERROR, "invalid JSON"),
        },
    };
    match payload {
        Value::Object(obj) if obj.contains_key("method") => match request(obj) {
            Ok(r) => Incoming::Single(r),
            Err(reply) => Incoming::Invalid(reply),
        },
        // A response to nothing we sent: aiorpcx drops it.
        Value::Object(_) => Incoming::Ignore,
        Value::Array(items) if items.is_empty() => invalid(INVALID_REQUEST, "batch is empty"),
        Value::Array(items) => Incoming::Batch(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(obj) => request(obj),
                    _ => Err(error_reply(
                        &Value::Null,
                        &RpcError::new(INVALID_REQUEST, "request object must be a dictionary"),
                        false,
                    )),
                })
                .collect(),
        ),
        _ => invalid(INVALID_REQUEST, "request object must be a dictionary"),
    }
}

fn invalid(code: i64, message: &str) -> Incoming {
    Incoming::Invalid(error_reply(
        &Value::Null,
        &RpcError::new(code, message),
        false,
    ))
}

/// Validates one request object; an invalid one becomes its error reply.
fn request(mut obj: Map<String, Value>) -> Result<Request, Vec<u8>> {
    let v1 = obj.get("jsonrpc").and_then(Value::as_str) == Some("1.0");
    let id = obj.remove("id");
    let reply_id = id.clone().unwrap_or(Value::Null);
    let fail =
        |code, message: String| Err(error_reply(&reply_id, &RpcError::new(code, message), v1));
    if let Some(id) = &id
        && !matches!(id, Value::Number(_) | Value::String(_) | Value::Null)
    {
        return fail(INVALID_REQUEST, format!("invalid \"id\": {id}"));
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        // aiorpcx's Request refuses a method that is not a string (a batch member without
        // one lands here) with METHOD_NOT_FOUND.
        _ => return fail(METHOD_NOT_FOUND, "method must be a string".to_string()),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) if !v1 => Params::List(Vec::new()),
        Some(Value::Array(a)) => Params::List(a),
        Some(Value::Object(o)) if !v1 => Params::Named(o),
        Some(other) => {
            return fail(
                INVALID_ARGS,
                format!("invalid request arguments: {}", short(&other)),
            );
        }
        None => return fail(INVALID_ARGS, "invalid request arguments: None".to_string()),
    };
    Ok(Request {
        id,
        method,
        params,
        v1,
    })
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 100 {
        s.truncate(100);
        s.push_str("...");
    }
    s
}

/// The reply to a request, limited to `max_send` bytes (0: no limit): a larger one becomes
/// error -32600 with the same id, as aiorpcx does.
pub fn reply(id: &Value, result: &Reply, v1: bool, max_send: usize) -> Vec<u8> {
    let message = match result {
        Ok(Answer::Json(value)) => {
            let payload = if v1 {
                json!({"result": value, "error": null, "id": id})
            } else {
                json!({"jsonrpc": "2.0", "result": value, "id": id})
            };
            encode(&payload)
        }
        Ok(Answer::Raw { text, .. }) => {
            let id = encode(id);
            let mut m = Vec::with_capacity(text.len() + id.len() + 40);
            m.extend_from_slice(if v1 {
                b"{\"result\":"
            } else {
                b"{\"jsonrpc\":\"2.0\",\"result\":"
            });
            m.extend_from_slice(text.as_bytes());
            m.extend_from_slice(if v1 {
                b",\"error\":null,\"id\":"
            } else {
                b",\"id\":"
            });
            m.extend_from_slice(&id);
            m.push(b'}');
            m
        }
        Err(e) => error_reply(id, e, v1),
    };
    if max_send > 0 && message.len() > max_send {
        return oversized(id, v1, max_send);
    }
    message
}

/// The error that replaces a response larger than `max_send`.
pub fn oversized(id: &Value, v1: bool, max_send: usize) -> Vec<u8> {
    let text = format!("response too large (over {max_send} bytes");
    error_reply(id, &RpcError::new(INVALID_REQUEST, text), v1)
}

pub fn error_reply(id: &Value, e: &RpcError, v1: bool) -> Vec<u8> {
    let error = json!({"code": e.code, "message": e.message});
    let payload = if v1 {
        json!({"result": null, "error": error, "id": id})
    } else {
        json!({"jsonrpc": "2.0", "error": error, "id": id})
    };
    encode(&payload)
}

/// A notification from the server.
pub fn notification(method: &str, params: Value) -> Vec<u8> {
    encode(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
}

/// Joins the replies of a batch into one message.
pub fn batch(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 2).sum::<usize>() + 2);
    out.push(b'[');
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(p);
    }
    out.push(b']');
    out
}

fn encode(v: &Value) -> Vec<u8> {
    // Serializing a Value cannot fail: keys are strings and numbers finite.
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_of(i: Incoming) -> Value {
        match i {
            Incoming::Invalid(r) => serde_json::from_slice(&r).unwrap(),
            other => panic!("expected an error reply, got {other:?}"),
        }
    }

    #[test]
    fn parses_requests_notifications_and_batches() {
        let Incoming::Single(r) =
            parse(br#"{"jsonrpc":"2.0","id":7,"method":"server.ping","params":[]}"#)
        else {
            panic!()
        };
        assert_eq!(r.id, Some(json!(7)));
        assert_eq!(r.method, "server.ping");
        assert_eq!(r.params, Params::List(vec![]));
        let Incoming::Single(n) = parse(br#"{"method":"server.ping"}"#) else {
            panic!()
        };
        assert_eq!(n.id, None);
        let Incoming::Batch(b) = parse(br#"[{"id":1,"method":"a"},3]"#) else {
            panic!()
        };
        assert!(b[0].is_ok());
        let err: Value = serde_json::from_slice(b[1].as_ref().unwrap_err()).unwrap();
        assert_eq!(err["error"]["code"], INVALID_REQUEST);
    }

    #[test]
    fn rejects_what_aiorpcx_rejects() {
        assert_eq!(reply_of(parse(b"{nope"))["error"]["code"], PARSE_ERROR);
        assert_eq!(reply_of(parse(b"\xff\xfe"))["error"]["code"], PARSE_ERROR);
        assert_eq!(reply_of(parse(b"[]"))["error"]["code"], INVALID_REQUEST);
        assert_eq!(reply_of(parse(b"5"))["error"]["code"], INVALID_REQUEST);
        let bad_params = reply_of(parse(br#"{"id":"x","method":"m","params":5}"#));
        assert_eq!(bad_params["error"]["code"], INVALID_ARGS);
        assert_eq!(bad_params["id"], "x");
        let bad_id = reply_of(parse(br#"{"id":[1],"method":"m"}"#));
        assert_eq!(bad_id["error"]["code"], INVALID_REQUEST);
        assert!(matches!(parse(br#"{"id":1,"result":2}"#), Incoming::Ignore));
    }

    #[test]
    fn oversized_replies_become_errors_with_the_same_id() {
        let big = Ok(Answer::Json(json!("x".repeat(1000))));
        let r: Value = serde_json::from_slice(&reply(&json!(4), &big, false, 500)).unwrap();
        assert_eq!(r["error"]["code"], INVALID_REQUEST);
        assert_eq!(r["id"], 4);
        let ok: Value = serde_json::from_slice(&reply(&json!(4), &big, false, 0)).unwrap();
        assert_eq!(ok["result"].as_str().unwrap().len(), 1000);
    }

    #[test]
    fn v1_requests_get_v1_replies() {
        let r: Value =
            serde_json::from_slice(&reply(&json!(1), &Ok(json!(2).into()), true, 0)).unwrap();
        assert_eq!(r, json!({"result": 2, "error": null, "id": 1}));
        let raw = Ok(Answer::Raw {
            text: "[1,{\"a\":2}]".into(),
            entries: 0,
            mempool: 0,
        });
        let r: Value = serde_json::from_slice(&reply(&json!("x"), &raw, false, 0)).unwrap();
        assert_eq!(
            r,
            json!({"jsonrpc": "2.0", "result": [1, {"a": 2}], "id": "x"})
        );
        let r: Value = serde_json::from_slice(&reply(&json!(3), &raw, true, 0)).unwrap();
        assert_eq!(r, json!({"result": [1, {"a": 2}], "error": null, "id": 3}));
    }
}
