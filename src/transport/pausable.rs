//! A TCP listener that closes while told to pause and reopens on the same address when told
//! to resume: the resource controls pause listeners at MAX_SESSIONS and resume them once the
//! session count is down to 95% (ElectrumX `_manage_servers`: it stops its servers, so new
//! connections are refused by the kernel rather than queued).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Listener {
    addr: SocketAddr,
    inner: Option<TcpListener>,
    paused: watch::Receiver<bool>,
}

impl Listener {
    /// Wraps a bound listener; it closes while `paused` is true and is re-bound to the same
    /// address after.
    pub fn new(listener: TcpListener, paused: watch::Receiver<bool>) -> io::Result<Self> {
        Ok(Listener {
            addr: listener.local_addr()?,
            inner: Some(listener),
            paused,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next connection; while paused the socket is closed and this waits.
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            if *self.paused.borrow_and_update() {
                if self.inner.take().is_some() {
                    tracing::info!("{}: not listening (MAX_SESSIONS)", self.addr);
                }
                if self.paused.changed().await.is_err() {
                    // The limits are gone (server stopping): never accept again.
                    std::future::pending::<()>().await;
                }
                continue;
            }
            if self.inner.is_none() {
                match TcpListener::bind(self.addr).await {
                    Ok(l) => {
                        tracing::info!("{}: listening again", self.addr);
                        self.inner = Some(l);
                    }
                    Err(e) => {
                        tracing::warn!("{}: cannot listen again: {e}; retrying", self.addr);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let Some(listener) = self.inner.as_ref() else {
                continue;
            };
            tokio::select! {
                // A pause wins over a connection waiting at the same time.
                biased;
                changed = self.paused.changed() => {
                    if changed.is_err() {
                        return listener.accept().await;
                    }
                }
                r = listener.accept() => return r,
            }
        }
    }
}
