//! The RFC 6962 / RFC 9162 Merkle tree over the audit log's leaves (pure: no database).
//!
//! Leaves are the entries' leaf hashes `SHA-256(0x00 ‖ canonical)`, interior nodes
//! `SHA-256(0x01 ‖ left ‖ right)`, the empty tree's hash `SHA-256("")`. Storage follows Go's
//! `golang.org/x/mod/sumdb/tlog`: appending leaf `n` stores its leaf hash and the hashes of the complete
//! subtrees it finishes, at dense positions given by [`stored_hash_index`]; the root of any size, an
//! inclusion proof (RFC 9162 §2.1.3) or a consistency proof (§2.1.4) then needs at most about
//! `2·log₂ n` stored hashes. Each operation is a [`Plan`] value, so a caller can fetch the hashes from
//! wherever it keeps them: [`Plan::indexes`] lists what to read, [`Plan::hashes`] computes the root or
//! the proof from what was read (in that order). Verification (§2.1.3.2, §2.1.4.2) needs nothing stored.

pub use super::hash::Hash;

/// Why a proof was not produced or not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is not inside a tree of size {size}")]
    LeafOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 0 < first ({first}) <= second ({second})")]
    BadSizes { first: u64, second: u64 },
    #[error("expected {expected} stored hashes, got {got}")]
    MissingHashes { expected: usize, got: usize },
    #[error("the proof does not lead to the root")]
    RootMismatch,
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
}

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash::sha256(&[&[0x00], data])
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::sha256(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Hash::sha256(&[])
}

/// Where the hash of the complete subtree `n` at `level` (leaves `n·2^level .. (n+1)·2^level`) is
/// stored: level L's n-th hash comes right after level L+1's (2n+1)-th, level 0's n-th at
/// `n + n/2 + n/4 + …` (tlog's `StoredHashIndex`).
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + u64::from(level)
}

/// How many hashes are stored for a tree of `n` leaves.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    stored_hash_index(0, n - 1) + 1 + u64::from((n - 1).trailing_ones())
}

/// The stored hashes leaf `n` needs from earlier leaves to compute its own: the left siblings of the
/// subtrees it completes, in ascending storage order.
pub fn stored_hashes_indexes(n: u64) -> Vec<u64> {
    let m = n.trailing_ones();
    (0..m)
        .rev()
        .map(|i| stored_hash_index(i, (n >> i) - 1))
        .collect()
}

/// The hashes to store for leaf `n` (from [`stored_hash_index`]`(0, n)` on): its leaf hash, then each
/// subtree it completes. `old` holds the hashes at [`stored_hashes_indexes`]`(n)`.
pub fn stored_hashes_from(n: u64, leaf: Hash, old: &[Hash]) -> Result<Vec<Hash>, MerkleError> {
    let m = n.trailing_ones() as usize;
    if old.len() != m {
        return Err(MerkleError::MissingHashes {
            expected: m,
            got: old.len(),
        });
    }
    let mut hashes = vec![leaf];
    let mut h = leaf;
    for left in old.iter().rev() {
        h = node_hash(left, &h);
        hashes.push(h);
    }
    Ok(hashes)
}

/// The largest power of two smaller than `n` (n ≥ 2), and its log₂.
fn split_point(n: u64) -> (u64, u32) {
    let level = 63 - (n - 1).leading_zeros();
    (1 << level, level)
}

/// How to compute a root or a proof from stored hashes: the storage indexes to read, in order, and
/// how many of them each of its hashes folds (a subtree of leaves `lo..hi` is the fold, right to left,
/// of the complete subtrees it splits into: one stored hash each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    indexes: Vec<u64>,
    /// For each hash the plan gives, how many of `indexes` it folds.
    parts: Vec<usize>,
}

impl Plan {
    /// The plan of the hashes of the subtrees `ranges` (leaves `lo..hi` each), in that order.
    fn of_subtrees(ranges: &[(u64, u64)]) -> Self {
        let mut indexes = Vec::new();
        let mut parts = Vec::with_capacity(ranges.len());
        for &(mut lo, hi) in ranges {
            let before = indexes.len();
            while lo < hi {
                let (k, level) = split_point(hi - lo + 1);
                indexes.push(stored_hash_index(level, lo >> level));
                lo += k;
            }
            parts.push(indexes.len() - before);
        }
        Self { indexes, parts }
    }

    /// The storage indexes to read, in the order [`Plan::hashes`] takes them.
    pub fn indexes(&self) -> &[u64] {
        &self.indexes
    }

    /// The plan's hashes from the hashes read at [`Plan::indexes`], all of which it must use.
    pub fn hashes(&self, read: &[Hash]) -> Result<Vec<Hash>, MerkleError> {
        if read.len() != self.indexes.len() {
            return Err(MerkleError::MissingHashes {
                expected: self.indexes.len(),
                got: read.len(),
            });
        }
        let mut rest = read;
        let mut out = Vec::with_capacity(self.parts.len());
        for &n in &self.parts {
            let (subtree, tail) = rest.split_at(n);
            rest = tail;
            let mut folded = subtree.iter().rev();
            let mut h = folded.next().copied().unwrap_or_else(empty_root);
            for left in folded {
                h = node_hash(left, &h);
            }
            out.push(h);
        }
        Ok(out)
    }

    /// The one hash of a plan that gives one (a root).
    fn single(&self, read: &[Hash]) -> Result<Hash, MerkleError> {
        self.hashes(read)?.pop().ok_or(MerkleError::MissingHashes {
            expected: 1,
            got: 0,
        })
    }
}

/// The plan of the root of the tree of size `n` (RFC 9162 MTH): one hash.
pub fn root_plan(n: u64) -> Plan {
    Plan::of_subtrees(&[(0, n)])
}

/// The root of the tree of size `n` from the hashes at [`root_plan`]`(n)`'s indexes.
pub fn root_from(n: u64, read: &[Hash]) -> Result<Hash, MerkleError> {
    root_plan(n).single(read)
}

/// Split `lo..hi` at its largest power of two `mid` (RFC 9162's `k`): the half that holds what the
/// proof descends into comes first, the other half's subtree is appended after it (so the subtrees are
/// listed leaf to root).
fn split_halves(lo: u64, hi: u64) -> u64 {
    lo + split_point(hi - lo).0
}

/// The sibling subtrees of leaf `index` among leaves `lo..hi` (RFC 9162 §2.1.3.1's PATH), leaf to root.
fn inclusion_subtrees(lo: u64, hi: u64, index: u64, out: &mut Vec<(u64, u64)>) {
    if lo + 1 == hi {
        return;
    }
    let mid = split_halves(lo, hi);
    if index < mid {
        inclusion_subtrees(lo, mid, index, out);
        out.push((mid, hi));
    } else {
        inclusion_subtrees(mid, hi, index, out);
        out.push((lo, mid));
    }
}

/// The plan of the inclusion proof (RFC 9162 §2.1.3.1, leaf to root order) of leaf `index` in the tree
/// of size `size`.
pub fn inclusion_plan(index: u64, size: u64) -> Result<Plan, MerkleError> {
    if index >= size {
        return Err(MerkleError::LeafOutOfRange { index, size });
    }
    let mut ranges = Vec::new();
    inclusion_subtrees(0, size, index, &mut ranges);
    Ok(Plan::of_subtrees(&ranges))
}

/// The subtrees of the consistency proof of the first `m` leaves among leaves `lo..hi` (RFC 9162
/// §2.1.4.1's SUBPROOF, `lo == 0` standing for its flag).
fn consistency_subtrees(lo: u64, hi: u64, m: u64, out: &mut Vec<(u64, u64)>) {
    if m == hi {
        if lo != 0 {
            out.push((lo, hi));
        }
        return;
    }
    let mid = split_halves(lo, hi);
    if m <= mid {
        consistency_subtrees(lo, mid, m, out);
        out.push((mid, hi));
    } else {
        consistency_subtrees(mid, hi, m, out);
        out.push((lo, mid));
    }
}

/// The plan of the consistency proof (RFC 9162 §2.1.4.1) between sizes `first` and `second`; empty when
/// the sizes are equal.
pub fn consistency_plan(first: u64, second: u64) -> Result<Plan, MerkleError> {
    if first == 0 || first > second {
        return Err(MerkleError::BadSizes { first, second });
    }
    let mut ranges = Vec::new();
    if first < second {
        consistency_subtrees(0, second, first, &mut ranges);
    }
    Ok(Plan::of_subtrees(&ranges))
}

/// The walk both verifications share (RFC 9162 §2.1.3.2 and §2.1.4.2): from node `f_n` up to the root of
/// the tree whose last node is `s_n`, `step(p, on_left)` for each proof hash `p`, `on_left` when `p` is
/// the left sibling. A proof that ends before the root or goes past it is [`MerkleError::WrongLength`].
fn climb(
    mut f_n: u64,
    mut s_n: u64,
    proof: &[Hash],
    mut step: impl FnMut(&Hash, bool),
) -> Result<(), MerkleError> {
    for p in proof {
        if s_n == 0 {
            return Err(MerkleError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            step(p, true);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            step(p, false);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(MerkleError::WrongLength);
    }
    Ok(())
}

/// Check that `leaf` is leaf `index` of the tree of size `size` with root `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::LeafOutOfRange { index, size });
    }
    let mut r = *leaf;
    climb(index, size - 1, proof, |p, on_left| {
        r = if on_left {
            node_hash(p, &r)
        } else {
            node_hash(&r, p)
        };
    })?;
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Check that the tree of size `first` with root `first_root` is a prefix of the tree of size `second`
/// with root `second_root` (RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if first == 0 || first > second {
        return Err(MerkleError::BadSizes { first, second });
    }
    if first == second {
        if !proof.is_empty() {
            return Err(MerkleError::WrongLength);
        }
        return if first_root == second_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (first_hash, rest) = path.split_first().ok_or(MerkleError::WrongLength)?;
    let (mut f_n, mut s_n) = (first - 1, second - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*first_hash, *first_hash);
    climb(f_n, s_n, rest, |c, on_left| {
        if on_left {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    })?;
    if fr != *first_root || sr != *second_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its complete subtrees, largest first. Pushing leaves
/// one by one yields exactly the hashes tlog stores for each, and the root of every prefix, in memory
/// proportional to log₂ n (what `audit verify` keeps while it walks the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)` of each complete subtree, largest (leftmost) first.
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Rebuild the frontier of a tree of `size` leaves from the hashes at [`root_plan`]`(size)`'s
    /// indexes (which are exactly its complete subtrees).
    pub fn from_stored(size: u64, hashes: &[Hash]) -> Result<Self, MerkleError> {
        let mut levels = Vec::new();
        let mut lo = 0;
        while lo < size {
            let (k, level) = split_point(size - lo + 1);
            levels.push(level);
            lo += k;
        }
        if hashes.len() != levels.len() {
            return Err(MerkleError::MissingHashes {
                expected: levels.len(),
                got: hashes.len(),
            });
        }
        let stack = levels.into_iter().zip(hashes.iter().copied()).collect();
        Ok(Self { size, stack })
    }

    /// Append a leaf hash; returns the hashes to store for it (leaf, then completed subtrees).
    pub fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let mut stored = vec![leaf];
        let mut h = leaf;
        let mut level = 0;
        while let Some(&(l, left)) = self.stack.last() {
            if l != level {
                break;
            }
            self.stack.pop();
            h = node_hash(&left, &h);
            level += 1;
            stored.push(h);
        }
        self.stack.push((level, h));
        self.size += 1;
        stored
    }

    /// The root of the tree pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut h)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            h = node_hash(left, &h);
        }
        h
    }
}

/// All stored hashes of a tree built in memory (position `i` is storage index `i`): for tests and
/// for backfilling.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    frontier: Frontier,
    pub stored: Vec<Hash>,
}

impl MemoryTree {
    /// A tree of the given leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::default();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Append a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let hashes = self.frontier.push(leaf);
        self.stored.extend(hashes);
    }

    fn read(&self, indexes: &[u64]) -> Vec<Hash> {
        indexes
            .iter()
            .filter_map(|&i| usize::try_from(i).ok().and_then(|i| self.stored.get(i)))
            .copied()
            .collect()
    }

    /// The root of the first `n` leaves.
    pub fn root(&self, n: u64) -> Result<Hash, MerkleError> {
        root_from(n, &self.read(root_plan(n).indexes()))
    }

    /// The inclusion proof of leaf `index` in the first `size` leaves.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        let plan = inclusion_plan(index, size)?;
        plan.hashes(&self.read(plan.indexes()))
    }

    /// The consistency proof between the first `first` and `second` leaves.
    pub fn consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, MerkleError> {
        let plan = consistency_plan(first, second)?;
        plan.hashes(&self.read(plan.indexes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    // The definition of RFC 9162 §2.1.1, recursively.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let (k, _) = split_point(n as u64);
                node_hash(&mth(&leaves[..k as usize]), &mth(&leaves[k as usize..]))
            }
        }
    }

    #[test]
    fn stored_hash_indexes_are_dense_and_match_the_go_layout() {
        // Leaf 0 at 0, leaf 1 at 1 with node (1,0) at 2, leaf 2 at 3, leaf 3 at 4, (1,1) at 5, (2,0) at 6.
        assert_eq!(
            [
                stored_hash_index(0, 0),
                stored_hash_index(0, 1),
                stored_hash_index(1, 0),
                stored_hash_index(0, 2),
                stored_hash_index(0, 3),
                stored_hash_index(1, 1),
                stored_hash_index(2, 0),
                stored_hash_index(0, 4),
            ],
            [0, 1, 2, 3, 4, 5, 6, 7]
        );
        let tree = MemoryTree::from_leaves(leaves(300));
        for n in 0..=300 {
            assert_eq!(
                stored_hash_count(n),
                MemoryTree::from_leaves(leaves(n)).stored.len() as u64
            );
        }
        // Leaf n's own hashes start at stored_hash_index(0, n) and use what stored_hashes_indexes lists.
        for n in 0..299u64 {
            let old: Vec<Hash> = stored_hashes_indexes(n)
                .iter()
                .map(|&i| tree.stored[i as usize])
                .collect();
            let mine = stored_hashes_from(n, leaves(300)[n as usize], &old).expect("hashes");
            let at = stored_hash_index(0, n) as usize;
            assert_eq!(&tree.stored[at..at + mine.len()], &mine[..]);
        }
    }

    #[test]
    fn roots_match_the_recursive_definition() {
        let all = leaves(130);
        let tree = MemoryTree::from_leaves(all.clone());
        let mut frontier = Frontier::new();
        assert_eq!(tree.root(0), Ok(empty_root()));
        for n in 1..=130u64 {
            frontier.push(all[n as usize - 1]);
            let want = mth(&all[..n as usize]);
            assert_eq!(tree.root(n), Ok(want), "size {n}");
            assert_eq!(frontier.root(), want);
            let rebuilt =
                Frontier::from_stored(n, &tree.read(root_plan(n).indexes())).expect("rebuild");
            assert_eq!(rebuilt, frontier);
        }
    }

    #[test]
    fn every_proof_verifies_and_altered_ones_do_not() {
        let all = leaves(40);
        let tree = MemoryTree::from_leaves(all.clone());
        for size in 1..=40u64 {
            let root = tree.root(size).expect("root");
            for index in 0..size {
                let proof = tree.inclusion(index, size).expect("proof");
                let leaf = &all[index as usize];
                assert_eq!(verify_inclusion(index, size, leaf, &proof, &root), Ok(()));
                assert!(verify_inclusion(
                    index,
                    size,
                    &Hash::new(all[0].as_bytes().map(|b| !b)),
                    &proof,
                    &root
                )
                .is_err());
                if size > 1 {
                    assert!(verify_inclusion(index ^ 1, size, leaf, &proof, &root).is_err());
                    assert!(verify_inclusion(index, size, leaf, &proof[1..], &root).is_err());
                }
            }
            for first in 1..=size {
                let proof = tree.consistency(first, size).expect("consistency");
                let old = tree.root(first).expect("root");
                assert_eq!(verify_consistency(first, size, &old, &root, &proof), Ok(()));
                if first < size {
                    assert!(verify_consistency(first, size, &root, &root, &proof).is_err());
                    assert!(verify_consistency(first + 1, size, &old, &root, &proof).is_err());
                }
            }
        }
        assert!(inclusion_plan(3, 3).is_err());
        assert!(consistency_plan(0, 3).is_err());
        assert!(consistency_plan(4, 3).is_err());
    }
}
