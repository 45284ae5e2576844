//! WebSocket framing for the `ws` and `wss` services (tokio-tungstenite), as aiorpcx's
//! `WSTransport`: each WebSocket message, text or binary, carries one JSON-RPC message or
//! batch without a newline, and every reply is one text message.
//!
//! MAX_RECV bounds a message (and each of its frames). A longer one cannot be skipped the way
//! an oversized line is, since WebSocket framing is lost with it, so the session gets
//! [`Frame::Oversized`] and the connection is closed with code 1009 (message too big), as
//! Python's `websockets` (ElectrumX) does. Pings are answered and a client's close is returned
//! by tungstenite; an invalid frame (unmasked, reserved bits or opcodes, a text message that is
//! not UTF-8) closes that connection with 1002 or 1007 and nothing else.

use super::{Channel, Frame, QUEUE};
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};

/// How long closing may wait for a client that does not read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The WebSocket handshake on `stream`, then a channel over it. Any request path is accepted.
pub async fn accept<S>(stream: S, max_recv: usize) -> Result<Channel, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_recv))
        .max_frame_size(Some(max_recv));
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    Ok(channel(ws))
}

/// A channel over an open WebSocket: a reader task and a writer task.
pub fn channel<S>(ws: WebSocketStream<S>) -> Channel
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (in_tx, incoming) = mpsc::channel(QUEUE);
    let (outgoing, mut out_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    // Why the reader stopped, for the writer's close frame.
    let close: Arc<Mutex<Option<CloseFrame>>> = Arc::default();
    let reason = close.clone();
    tokio::spawn(async move {
        loop {
            // Stop reading when the session has ended (as the newline channel does).
            let next = tokio::select! {
                _ = in_tx.closed() => break,
                m = stream.next() => m,
            };
            let frame = match next {
                Some(Ok(Message::Text(t))) => Frame::Message(t.as_bytes().to_vec()),
                Some(Ok(Message::Binary(b))) => Frame::Message(b.to_vec()),
                // tungstenite answers pings itself; a close is answered when the writer closes.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    let code = match &e {
                        Error::Capacity(_) => Some(CloseCode::Size),
                        Error::Protocol(_) => Some(CloseCode::Protocol),
                        Error::Utf8(_) => Some(CloseCode::Invalid),
                        _ => None,
                    };
                    tracing::debug!("websocket closed: {e}");
                    if let Some(code) = code {
                        let frame = CloseFrame {
                            code,
                            reason: e.to_string().chars().take(100).collect::<String>().into(),
                        };
                        *close.lock().unwrap_or_else(PoisonError::into_inner) = Some(frame);
                    }
                    if matches!(e, Error::Capacity(_)) {
                        let _ = in_tx.send(Frame::Oversized).await;
                    }
                    break;
                }
            };
            if in_tx.send(frame).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let msg = match String::from_utf8(msg) {
                Ok(text) => Message::Text(text.into()),
                // As aiorpcx: text when it decodes, binary otherwise.
                Err(e) => Message::Binary(e.into_bytes().into()),
            };
            if sink.send(msg).await.is_err() {
                return;
            }
        }
        let frame = reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            });
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = sink.send(Message::Close(Some(frame))).await;
            let _ = sink.close().await;
        })
        .await;
    });
    Channel { incoming, outgoing }
}
