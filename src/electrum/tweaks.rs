//! Silent payments for client-side scanning: the tweaks of eligible transactions, served in
//! the two shapes wallets already use (docs/SILENT_PAYMENTS.md):
//!
//! - `blockchain.tweaks.subscribe(height, count, historical, dust_limit)`, as Cake Wallet's
//!   electrs fork serves it: one notification per block, `{"<height>": {"<txid>": {"tweak",
//!   "output_pubkeys": {"<vout>": [x-only key, value(, spender)]}}}}`, then the notification
//!   `{"message": "done"}`, whose envelope is also the result; then, as the subscription stays,
//!   a notification for every new block (and again from the fork after a reorg);
//! - `blockchain.block.tweaks(height, dust_limit, cut_through)`: the block's tweaks as hex
//!   strings, in block order (Cake's esplora fork and BlindBit Oracle's `/tweaks`).
//!
//! Filters: outputs below `dust_limit` satoshis are dropped; without `historical` (and with
//! `cut_through`) so are outputs already spent in the chain served. A transaction left with no
//! output is not served.

use super::Shared;
use super::handlers::{arg, internal};
use super::methods;
use super::rpc::{self, RpcError, RpcResult};
use crate::query::View;
use crate::query::tweaks::{BlockTweaks, TweakError, TweakFilter};
use crate::store::tweaks::SpUnavailable;
use crate::types::{Height, bytes_to_hex};
use bitcoin::BlockHash;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;

/// Hashes of the last blocks a subscription sent, to find where a reorg forked.
const REMEMBERED: usize = 64;

/// A session's `blockchain.tweaks.subscribe`, after its "done": what new blocks it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TweakSub {
    filter: TweakFilter,
    /// The heights and hashes of the last blocks sent, oldest first.
    sent: VecDeque<(u32, BlockHash)>,
    /// The next height to send.
    next: u32,
}

fn unavailable(e: TweakError) -> RpcError {
    match e {
        TweakError::Unavailable(u) => RpcError::bad_request(u.to_string()),
        TweakError::Internal(e) => internal(e),
    }
}

/// The silent payments settings, when this server keeps tweaks; else the error every silent
/// payments method answers (code 1 with the reason, not "unknown method").
pub fn served(shared: &Shared) -> Result<&crate::config::SilentSettings, RpcError> {
    shared
        .settings
        .silent
        .as_ref()
        .ok_or_else(|| RpcError::bad_request(SpUnavailable::Off.to_string()))
}

/// `blockchain.block.tweaks(height, dust_limit=0, cut_through=false)`.
pub fn block_tweaks(shared: &Shared, args: &[Option<Value>]) -> RpcResult {
    served(shared)?;
    let height = methods::height(arg(args, 0))?;
    let filter = TweakFilter {
        dust: methods::non_negative_or(args.get(1).unwrap_or(&None), 0)?,
        cut_through: methods::boolean(args.get(2).unwrap_or(&None), "cut_through")?,
        spenders: false,
    };
    let view = shared.query.view();
    let tip = view.tip().height().map_or(0, |h| h.0);
    if height > tip {
        return Err(RpcError::bad_request(format!(
            "height {height} is beyond the tip ({tip})"
        )));
    }
    let blocks = view.tweaks(height, height, filter).map_err(unavailable)?;
    Ok(Value::Array(
        blocks
            .iter()
            .flat_map(|b| &b.txs)
            .map(|t| json!(bytes_to_hex(&t.tweak)))
            .collect(),
    ))
}

/// One block as `blockchain.tweaks.subscribe` sends it.
fn block_json(b: &BlockTweaks) -> Value {
    let mut txs = Map::new();
    for t in &b.txs {
        let mut outs = Map::new();
        for o in &t.outputs {
            let mut item = vec![json!(bytes_to_hex(&o.key)), json!(o.value)];
            if let Some((txid, h)) = &o.spender {
                item.push(json!({"txid": txid.to_string(), "height": h.0}));
            }
            outs.insert(o.vout.to_string(), Value::Array(item));
        }
        txs.insert(
            t.txid.to_string(),
            json!({"tweak": bytes_to_hex(&t.tweak), "output_pubkeys": outs}),
        );
    }
    json!({ b.height.0.to_string(): txs })
}

const METHOD: &str = "blockchain.tweaks.subscribe";

/// Blocks read and sent at a time: a long range never holds more than this in memory.
const CHUNK: u32 = 100;

/// `blockchain.tweaks.subscribe(height, count, historical=false, dust_limit=0)`: sends the
/// blocks' notifications with `send`, then "done"; returns the result and what the
/// subscription wants from now on.
pub fn subscribe(
    shared: &Shared,
    args: &[Option<Value>],
    mut send: impl FnMut(Vec<u8>) -> bool,
) -> Result<(Value, TweakSub), RpcError> {
    let max_blocks = served(shared)?.max_blocks;
    let height = methods::height(arg(args, 0))?;
    let count = methods::non_negative(arg(args, 1))?;
    let historical = methods::boolean(args.get(2).unwrap_or(&None), "historical")?;
    let filter = TweakFilter {
        dust: methods::non_negative_or(args.get(3).unwrap_or(&None), 0)?,
        cut_through: !historical,
        spenders: historical,
    };
    if count == 0 {
        return Err(RpcError::bad_request("count must be at least 1"));
    }
    // A longer range is cut at FERRUM_SP_MAX_BLOCKS, as Cake Wallet's electrs cuts it at 25:
    // its client asks for the rest after "done".
    let count = count.min(u64::from(max_blocks));
    let view = shared.query.view();
    let Some(tip) = view.tip().height() else {
        return Err(RpcError::bad_request("no blocks yet"));
    };
    // 0 is the tip (Cake Wallet's electrs).
    let first = if height == 0 { tip.0 } else { height };
    if first > tip.0 {
        return Err(RpcError::bad_request(format!(
            "height {first} is beyond the tip ({})",
            tip.0
        )));
    }
    let last = first.saturating_add(count as u32 - 1).min(tip.0);
    let mut sub = TweakSub {
        filter,
        sent: VecDeque::new(),
        next: first,
    };
    send_range(&view, &mut sub, last, &mut send)?;
    let done = json!({"jsonrpc": "2.0", "method": METHOD, "params": [{"message": "done"}]});
    send(rpc::notification(METHOD, json!([{"message": "done"}])));
    Ok((done, sub))
}

/// Sends the blocks from `sub.next` to `last` of `view`, advancing `sub`.
fn send_range(
    view: &View<'_>,
    sub: &mut TweakSub,
    last: u32,
    send: &mut impl FnMut(Vec<u8>) -> bool,
) -> Result<(), RpcError> {
    while sub.next <= last {
        let to = last.min(sub.next.saturating_add(CHUNK - 1));
        let blocks = view.tweaks(sub.next, to, sub.filter).map_err(unavailable)?;
        for b in &blocks {
            if !send(rpc::notification(METHOD, json!([block_json(b)]))) {
                return Ok(());
            }
            if let Some(hash) = view.tip().hash(b.height) {
                sub.sent.push_back((b.height.0, hash));
                if sub.sent.len() > REMEMBERED {
                    sub.sent.pop_front();
                }
            }
        }
        sub.next = to + 1;
    }
    Ok(())
}

impl TweakSub {
    /// After a tip change: the notifications of the blocks not sent yet, from the fork point
    /// if the blocks sent last are no longer in the chain.
    pub fn follow(&mut self, shared: &Shared) -> Vec<Vec<u8>> {
        let view = shared.query.view();
        let Some(tip) = view.tip().height() else {
            return Vec::new();
        };
        while let Some(&(h, hash)) = self.sent.back() {
            if view.tip().hash(Height(h)) == Some(hash) {
                break;
            }
            self.sent.pop_back();
            self.next = h;
        }
        let mut out = Vec::new();
        let last = tip.0.min(
            self.next
                .saturating_add(shared.settings.silent.as_ref().map_or(1, |s| s.max_blocks)),
        );
        if self.next <= last {
            let r = send_range(&view, self, last, &mut |m| {
                out.push(m);
                true
            });
            if let Err(e) = r {
                tracing::debug!("tweaks subscription: {}", e.message);
            }
        }
        out
    }
}
