//! Merkle branches as Electrum clients verify them: of a transaction in its block, and of a
//! header under a checkpoint (`cp_height`) root, the tree ElectrumX builds over header hashes.
//! Header proofs reuse cached roots of complete 2048-header segments, so a proof against a
//! mainnet-height checkpoint hashes a few thousand nodes, not a million.

use crate::store::TipState;
use crate::types::Height;
use bitcoin::hashes::{Hash, sha256d};
use std::collections::HashMap;
use std::sync::Mutex;

pub type Node = [u8; 32];

fn hash_pair(a: &Node, b: &Node) -> Node {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(a);
    buf[32..].copy_from_slice(b);
    sha256d::Hash::hash(&buf).to_byte_array()
}

/// Branch length of a tree over `n` leaves: ceil(log2(n)).
fn natural_length(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// The branch from leaf `index` and the root, over `length` levels (the natural depth when
/// None); odd levels pair their last node with itself, as Bitcoin's tree does.
pub fn branch_and_root(
    mut nodes: Vec<Node>,
    mut index: usize,
    length: Option<u32>,
) -> (Vec<Node>, Node) {
    let length = length.unwrap_or_else(|| natural_length(nodes.len()));
    let mut branch = Vec::with_capacity(length as usize);
    for _ in 0..length {
        if nodes.len() & 1 == 1
            && let Some(last) = nodes.last().copied()
        {
            nodes.push(last);
        }
        branch.push(nodes[index ^ 1]);
        index >>= 1;
        nodes = nodes
            .chunks_exact(2)
            .map(|p| hash_pair(&p[0], &p[1]))
            .collect();
    }
    (branch, nodes.first().copied().unwrap_or_default())
}

/// Leaves per cached segment (2^SEGMENT_DEPTH).
const SEGMENT_DEPTH: u32 = 11;
const SEGMENT: usize = 1 << SEGMENT_DEPTH;

/// Header-proof cache: roots of complete segments, each remembered with the hash of its last
/// header (a reorg that changes a segment changes that hash too).
#[derive(Default)]
pub struct HeaderMerkle {
    roots: Mutex<HashMap<usize, (Node, Node)>>,
}

impl HeaderMerkle {
    /// Branch and root proving the header at `height` under the tree of headers
    /// `0..=cp_height` of `tip`. The caller checks `height <= cp_height <= tip height`.
    pub fn branch_and_root(
        &self,
        tip: &TipState,
        height: Height,
        cp_height: Height,
    ) -> Option<(Vec<Node>, Node)> {
        let leaf = |h: usize| tip.hash(Height(h as u32)).map(|b| b.to_byte_array());
        let len = cp_height.0 as usize + 1;
        let index = height.0 as usize;
        if index >= len {
            return None;
        }
        let leaves = |from: usize, to: usize| (from..to).map(leaf).collect::<Option<Vec<Node>>>();
        if len <= SEGMENT {
            return Some(branch_and_root(leaves(0, len)?, index, None));
        }
        let segments = len.div_ceil(SEGMENT);
        let mut roots = Vec::with_capacity(segments);
        let mut lower = Vec::new();
        for s in 0..segments {
            let (from, to) = (s * SEGMENT, ((s + 1) * SEGMENT).min(len));
            if s == index / SEGMENT {
                let (b, r) = branch_and_root(leaves(from, to)?, index - from, Some(SEGMENT_DEPTH));
                lower = b;
                roots.push(r);
            } else if to - from == SEGMENT {
                roots.push(self.segment_root(s, &leaf)?);
            } else {
                roots.push(branch_and_root(leaves(from, to)?, 0, Some(SEGMENT_DEPTH)).1);
            }
        }
        let (upper, root) = branch_and_root(roots, index / SEGMENT, None);
        lower.extend(upper);
        Some((lower, root))
    }

    fn segment_root(&self, s: usize, leaf: &impl Fn(usize) -> Option<Node>) -> Option<Node> {
        let last = leaf((s + 1) * SEGMENT - 1)?;
        if let Ok(cache) = self.roots.lock()
            && let Some((l, root)) = cache.get(&s)
            && *l == last
        {
            crate::metrics::cache_lookup("header_merkle", true);
            return Some(*root);
        }
        crate::metrics::cache_lookup("header_merkle", false);
        let nodes = (s * SEGMENT..(s + 1) * SEGMENT)
            .map(leaf)
            .collect::<Option<Vec<Node>>>()?;
        let root = branch_and_root(nodes, 0, Some(SEGMENT_DEPTH)).1;
        if let Ok(mut cache) = self.roots.lock() {
            cache.insert(s, (last, root));
        }
        Some(root)
    }
}

/// A node as Electrum shows it: byte-reversed hex, like txids.
pub fn to_hex(n: &Node) -> String {
    let mut r = *n;
    r.reverse();
    crate::types::bytes_to_hex(&r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::BlockHash;

    fn leaf(i: u32) -> Node {
        sha256d::Hash::hash(&i.to_le_bytes()).to_byte_array()
    }

    fn verify(leaf: Node, branch: &[Node], mut index: usize) -> Node {
        let mut h = leaf;
        for b in branch {
            h = if index & 1 == 1 {
                hash_pair(b, &h)
            } else {
                hash_pair(&h, b)
            };
            index >>= 1;
        }
        h
    }

    #[test]
    fn branches_verify_against_the_root() {
        for n in [1usize, 2, 3, 5, 8, 13] {
            let nodes: Vec<Node> = (0..n as u32).map(leaf).collect();
            for i in 0..n {
                let (branch, root) = branch_and_root(nodes.clone(), i, None);
                assert_eq!(branch.len() as u32, natural_length(n));
                assert_eq!(verify(nodes[i], &branch, i), root, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn matches_bitcoin_block_merkle_root() {
        // Mainnet block 100000: four transactions and their merkle root.
        let txids = [
            "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
            "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
            "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
            "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
        ];
        let nodes: Vec<Node> = txids
            .iter()
            .map(|t| t.parse::<bitcoin::Txid>().unwrap().to_byte_array())
            .collect();
        let (_, root) = branch_and_root(nodes, 0, None);
        assert_eq!(
            to_hex(&root),
            "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
        );
    }

    #[test]
    fn segmented_header_proofs_equal_the_plain_tree() {
        let mut tip = TipState::default();
        for i in 0..5000u32 {
            tip.push(BlockHash::from_byte_array(leaf(i)), u64::from(i) + 1);
        }
        let hm = HeaderMerkle::default();
        for (h, cp) in [
            (0, 4999),
            (2047, 4999),
            (2048, 4097),
            (4999, 4999),
            (100, 2047),
            (3000, 4095),
        ] {
            let nodes: Vec<Node> = (0..=cp).map(leaf).collect();
            let expected = branch_and_root(nodes, h as usize, None);
            for _ in 0..2 {
                let got = hm.branch_and_root(&tip, Height(h), Height(cp)).unwrap();
                assert_eq!(got, expected, "height {h} cp {cp}");
            }
        }
    }
}
