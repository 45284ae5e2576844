//! Transports: how a client's bytes become JSON-RPC messages and back. A transport turns a
//! connection into a [`Channel`] (incoming frames, outgoing messages), so sessions never see
//! sockets. Newline framing with ElectrumX's MAX_RECV rule serves TCP and TLS (`ssl`);
//! [`ws`] frames WebSocket messages (`ws`, `wss`); [`tls`] holds the reloadable certificate;
//! [`listen`] accepts on every client service and runs the handshakes; [`proxy`] reads the
//! PROXY protocol header a load balancer puts in front of them.

pub mod listen;
pub mod pausable;
pub mod proxy;
pub mod tls;
pub mod ws;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// One received unit.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message (a line without its newline, or one WebSocket message).
    Message(Vec<u8>),
    /// A message over MAX_RECV was dropped; the stream goes on with the next one.
    Oversized,
}

/// A session's side of a connection. Dropping `outgoing` closes the connection once what was
/// queued is written; `incoming` ends when the client leaves.
pub struct Channel {
    pub incoming: mpsc::Receiver<Frame>,
    pub outgoing: mpsc::Sender<Vec<u8>>,
}

/// Messages queued per connection in each direction before the other side waits.
const QUEUE: usize = 64;

/// Frames lines of at most `max` bytes; a longer one is dropped up to its newline (aiorpcx's
/// NewlineFramer).
pub struct Lines<R> {
    inner: BufReader<R>,
    max: usize,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    pub fn new(reader: R, max: usize) -> Self {
        Lines {
            inner: BufReader::new(reader),
            max,
        }
    }

    /// The next frame; None at end of stream (a partial last line is discarded).
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        let mut line = Vec::new();
        let mut dropping = false;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                return Ok(None);
            }
            if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                if !dropping {
                    line.extend_from_slice(&buf[..pos]);
                }
                self.inner.consume(pos + 1);
                if dropping || line.len() > self.max {
                    return Ok(Some(Frame::Oversized));
                }
                return Ok(Some(Frame::Message(line)));
            }
            let n = buf.len();
            if !dropping {
                line.extend_from_slice(buf);
                if line.len() > self.max {
                    line = Vec::new();
                    dropping = true;
                }
            }
            self.inner.consume(n);
        }
    }
}

/// A newline-framed channel over a byte stream: a reader task and a writer task.
pub fn newline_channel<R, W>(reader: R, mut writer: W, max_recv: usize) -> Channel
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (in_tx, incoming) = mpsc::channel(QUEUE);
    let (outgoing, mut out_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(async move {
        let mut lines = Lines::new(reader, max_recv);
        loop {
            // Stop reading when the session has ended, so the socket closes even if the
            // client keeps it open.
            let frame = tokio::select! {
                _ = in_tx.closed() => break,
                f = lines.next() => f,
            };
            let Ok(Some(frame)) = frame else { break };
            if in_tx.send(frame).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(mut msg) = out_rx.recv().await {
            msg.push(b'\n');
            if writer.write_all(&msg).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    Channel { incoming, outgoing }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_drop_oversized_and_resynchronise() {
        let data: &[u8] = b"short\nthis line is far too long\nok\npartial";
        let mut l = Lines::new(data, 10);
        assert_eq!(
            l.next().await.unwrap(),
            Some(Frame::Message(b"short".to_vec()))
        );
        assert_eq!(l.next().await.unwrap(), Some(Frame::Oversized));
        assert_eq!(
            l.next().await.unwrap(),
            Some(Frame::Message(b"ok".to_vec()))
        );
        assert_eq!(l.next().await.unwrap(), None);
    }
}
