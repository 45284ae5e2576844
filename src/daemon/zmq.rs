//! bitcoind's ZMQ `hashblock` notifications (`-zmqpubhashblock=<endpoint>`), when configured.
//!
//! A thread with its own small tokio runtime keeps a SUB socket subscribed to `hashblock` and
//! forwards each announced block hash to a channel; the indexer waits on that channel instead of
//! the `waitfornewblock` long-poll, with `DAEMON_POLL_INTERVAL_BLOCKS` as the longest wait. The
//! socket reconnects by itself (ZeroMQ semantics), so a restarted bitcoind is picked up again.

use bitcoin::BlockHash;
use bitcoin::hashes::Hash;
use crossbeam_channel::{Receiver, Sender};
use std::time::Duration;
use zeromq::{Socket, SocketRecv};

/// Block hashes announced by bitcoind over ZMQ.
pub struct BlockNotifications {
    rx: Receiver<BlockHash>,
}

impl BlockNotifications {
    /// Subscribes to `hashblock` on `endpoint` (e.g. `tcp://127.0.0.1:28332`) in the background.
    pub fn subscribe(endpoint: &str) -> std::io::Result<BlockNotifications> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let endpoint = endpoint.to_string();
        std::thread::Builder::new()
            .name("zmq-hashblock".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => return tracing::error!("ZMQ: cannot start its runtime: {e}"),
                };
                runtime.block_on(listen(endpoint, tx));
            })?;
        Ok(BlockNotifications { rx })
    }

    /// Waits up to `timeout` for an announcement; returns the newest hash announced, if any.
    pub fn wait(&self, timeout: Duration) -> Option<BlockHash> {
        let first = self.rx.recv_timeout(timeout).ok()?;
        Some(self.rx.try_iter().last().unwrap_or(first))
    }
}

/// Connects, subscribes and forwards forever (until the receiving side is gone).
async fn listen(endpoint: String, tx: Sender<BlockHash>) {
    loop {
        let mut socket = zeromq::SubSocket::new();
        let connected = async {
            socket.connect(&endpoint).await?;
            socket.subscribe("hashblock").await
        };
        if let Err(e) = connected.await {
            tracing::warn!("ZMQ {endpoint}: cannot subscribe ({e}); retrying in 5s");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        tracing::info!("ZMQ: subscribed to hashblock at {endpoint}");
        loop {
            match socket.recv().await {
                Ok(msg) => {
                    if let Some(hash) = msg.get(1).and_then(|body| parse_hashblock(body))
                        && tx.send(hash).is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("ZMQ {endpoint}: {e}; reconnecting");
                    break;
                }
            }
        }
    }
}

/// The body of a `hashblock` message: the 32-byte hash in display (reversed) byte order.
fn parse_hashblock(body: &[u8]) -> Option<BlockHash> {
    let mut bytes: [u8; 32] = body.try_into().ok()?;
    bytes.reverse();
    Some(BlockHash::from_byte_array(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn hashblock_body_is_display_order() {
        let hash =
            BlockHash::from_str("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")
                .unwrap();
        let body = crate::types::hex_to_bytes(&hash.to_string()).unwrap();
        assert_eq!(parse_hashblock(&body), Some(hash));
        assert_eq!(parse_hashblock(&body[..31]), None);
    }
}
