//! A session's silent payments: starting a server-side scan's task after its subscribe reply
//! ([`crate::electrum::sp_scan`]), replacing or ending it, and the live blocks of a
//! `blockchain.tweaks.subscribe` ([`crate::electrum::tweaks`]).

use super::Session;
use crate::electrum::rpc::{RpcError, RpcResult};
use serde_json::Value;

/// A server-side silent payments scan ([`crate::electrum::sp_scan`]): its task, aborted when the
/// subscription is dropped (unsubscribed, replaced, or the session ends).
pub(super) struct SpSub {
    task: tokio::task::AbortHandle,
    start: u32,
}

impl Drop for SpSub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Lets the silent payments scans whose subscribe reply was just sent begin.
    pub(super) fn start_scans(&mut self) {
        for s in self.sp_starters.drain(..) {
            let _ = s.send(());
        }
    }

    /// `blockchain.silentpayments.subscribe`: validates, replaces a subscription to the same
    /// address (keeping the earlier start), and starts the scan's task, which waits for
    /// [`Session::start_scans`].
    pub(super) fn sp_subscribe(&mut self, args: &[Option<Value>]) -> RpcResult {
        let mut req = crate::electrum::sp_scan::parse(&self.shared, args)?;
        let max = crate::electrum::tweaks::served(&self.shared)?.max_subscriptions as usize;
        let Some(pool) = self.shared.sp_pool.clone() else {
            return Err(RpcError::bad_request("no silent payments scan threads"));
        };
        if let Some(old) = self.subs.sp.remove(&req.address) {
            req.widen(old.start);
        } else if self.subs.sp.len() >= max {
            return Err(RpcError::bad_request(format!(
                "subscription limit reached ({max}) for this connection \
                 (FERRUM_SP_MAX_SUBSCRIPTIONS)"
            )));
        }
        let result = req.subscription();
        let (address, start) = (req.address.clone(), req.start);
        let (started, replied) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(crate::electrum::sp_scan::run(
            self.shared.clone(),
            pool,
            req,
            self.out.clone(),
            replied,
        ));
        self.subs.sp.insert(
            address,
            SpSub {
                task: task.abort_handle(),
                start,
            },
        );
        self.sp_starters.push(started);
        Ok(result)
    }

    /// New blocks for a `blockchain.tweaks.subscribe` that finished its historical part.
    pub(super) async fn follow_tweaks(&mut self) {
        let Some(mut sub) = self.subs.tweaks.take() else {
            return;
        };
        let shared = self.shared.clone();
        let Ok((sub, msgs)) = tokio::task::spawn_blocking(move || {
            let msgs = sub.follow(&shared);
            (sub, msgs)
        })
        .await
        else {
            return;
        };
        self.subs.tweaks = Some(sub);
        for m in msgs {
            self.send(m).await;
        }
    }
}
