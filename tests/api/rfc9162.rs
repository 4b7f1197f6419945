//! An independent RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree, written from the RFC text (the recursive
//! MTH, PATH and PROOF/SUBPROOF definitions) without calling labtrail, and labtrail's tree checked
//! against it: roots, inclusion proofs and consistency proofs for sizes 1, 2, 3, 7, 8 and 1000 (every
//! index for small sizes, the last leaf always), both ways through the verifiers.

use labtrail::audit::merkle::{self as lt, MemoryTree};
use sha2::{Digest, Sha256};

/// labtrail's hash type holds the bytes; they are computed here with `sha2` alone.
type H = lt::Hash;

fn sha(parts: &[&[u8]]) -> H {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    H::new(h.finalize().into())
}

/// Flip the bits `mask` of byte `byte` of `h` (a hash that must no longer verify).
pub fn flip(h: &mut H, byte: usize, mask: u8) {
    let mut bytes = *h.as_bytes();
    bytes[byte] ^= mask;
    *h = H::new(bytes);
}

/// k: the largest power of two smaller than n (n > 1).
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
pub fn mth(d: &[Vec<u8>]) -> H {
    match d.len() {
        0 => sha(&[]),
        1 => sha(&[&[0x00], &d[0]]),
        n => {
            let k = k_of(n);
            sha(&[&[0x01], mth(&d[..k]).as_bytes(), mth(&d[k..]).as_bytes()])
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf m.
pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<H> {
    let n = d.len();
    if n == 1 {
        return Vec::new();
    }
    let k = k_of(n);
    let mut p;
    if m < k {
        p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
    } else {
        p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
    }
    p
}

/// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<H> {
    subproof(m, d, true)
}

fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<H> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = k_of(n);
    let mut p;
    if m <= k {
        p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
    } else {
        p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
    }
    p
}

/// The root an audit path leads to, by the same recursion as PATH.
pub fn root_from_path(m: usize, n: usize, leaf: &H, p: &[H]) -> Option<H> {
    if n == 1 {
        return p.is_empty().then_some(*leaf);
    }
    let (last, rest) = p.split_last()?;
    let k = k_of(n);
    Some(if m < k {
        sha(&[
            &[0x01],
            root_from_path(m, k, leaf, rest)?.as_bytes(),
            last.as_bytes(),
        ])
    } else {
        sha(&[
            &[0x01],
            last.as_bytes(),
            root_from_path(m - k, n - k, leaf, rest)?.as_bytes(),
        ])
    })
}

fn data(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

fn labtrail_tree(d: &[Vec<u8>]) -> MemoryTree {
    MemoryTree::from_leaves(d.iter().map(|e| lt::leaf_hash(e)))
}

fn check_inclusion(tree: &MemoryTree, d: &[Vec<u8>], m: usize) {
    let n = d.len();
    let want = path(m, d);
    let got = tree.inclusion(m as u64, n as u64).expect("proof");
    assert_eq!(got, want, "PATH({m}, D[{n}])");
    let leaf = sha(&[&[0x00], &d[m]]);
    let root = mth(d);
    assert_eq!(root_from_path(m, n, &leaf, &got), Some(root));
    assert_eq!(
        lt::verify_inclusion(m as u64, n as u64, &leaf, &want, &root),
        Ok(())
    );
}

fn check_consistency(tree: &MemoryTree, d: &[Vec<u8>], m: usize) {
    let n = d.len();
    let want = proof(m, d);
    let got = tree.consistency(m as u64, n as u64).expect("proof");
    assert_eq!(got, want, "PROOF({m}, D[{n}])");
    assert_eq!(
        lt::verify_consistency(m as u64, n as u64, &mth(&d[..m]), &mth(d), &want),
        Ok(())
    );
}

#[test]
fn roots_and_proofs_agree_with_the_rfc_for_small_sizes() {
    let all = data(70);
    let tree = labtrail_tree(&all);
    assert_eq!(tree.root(0).expect("root"), mth(&[]));
    for n in 1..=70 {
        let d = &all[..n];
        assert_eq!(tree.root(n as u64).expect("root"), mth(d), "MTH(D[{n}])");
        let small = labtrail_tree(d);
        for m in 0..n {
            check_inclusion(&small, d, m);
        }
        for m in 1..=n {
            check_consistency(&small, d, m);
        }
    }
}

#[test]
fn sizes_1_2_3_7_8_and_1000_and_the_last_leaf() {
    let all = data(1000);
    for n in [1, 2, 3, 7, 8, 1000] {
        let d = &all[..n];
        let tree = labtrail_tree(d);
        assert_eq!(tree.root(n as u64).expect("root"), mth(d));
        let picks: Vec<usize> = if n <= 8 {
            (0..n).collect()
        } else {
            vec![0, 1, 2, 255, 256, 511, 512, 513, 767, 998, n - 1]
        };
        for m in picks {
            check_inclusion(&tree, d, m);
        }
        let sizes: Vec<usize> = if n <= 8 {
            (1..=n).collect()
        } else {
            vec![
                1, 2, 3, 7, 8, 9, 255, 256, 257, 500, 511, 512, 513, 999, 1000,
            ]
        };
        for m in sizes {
            check_consistency(&tree, d, m);
        }
    }
}

#[test]
fn altered_proofs_fail_against_the_rfc_roots() {
    let d = data(13);
    let tree = labtrail_tree(&d);
    let root = mth(&d);
    for (m, item) in d.iter().enumerate() {
        let leaf = sha(&[&[0x00], item]);
        let p = tree.inclusion(m as u64, 13).expect("proof");
        for i in 0..p.len() {
            for bit in [0, 7] {
                let mut bad = p.clone();
                flip(&mut bad[i], i % 32, 1 << bit);
                assert!(lt::verify_inclusion(m as u64, 13, &leaf, &bad, &root).is_err());
            }
        }
        let mut bad_leaf = leaf;
        flip(&mut bad_leaf, 31, 1);
        assert!(lt::verify_inclusion(m as u64, 13, &bad_leaf, &p, &root).is_err());
        for other in [m ^ 1, m ^ 2, m ^ 4] {
            if other < 13 && other != m {
                assert!(lt::verify_inclusion(other as u64, 13, &leaf, &p, &root).is_err());
            }
        }
        // (The tree size is bound by the signed checkpoint, not by the path alone: a leaf of a complete
        // left subtree has the same path in some neighbouring sizes. audit_proofs alters it there.)
        for size in [m as u64, 0] {
            assert!(lt::verify_inclusion(m as u64, size, &leaf, &p, &root).is_err());
        }
        let mut bad_root = root;
        flip(&mut bad_root, 0, 0x80);
        assert!(lt::verify_inclusion(m as u64, 13, &leaf, &p, &bad_root).is_err());
    }
    for m in 1..13 {
        let p = proof(m, &d);
        let old = mth(&d[..m]);
        for i in 0..p.len() {
            let mut bad = p.clone();
            flip(&mut bad[i], 5, 4);
            assert!(lt::verify_consistency(m as u64, 13, &old, &root, &bad).is_err());
        }
        let mut bad_old = old;
        flip(&mut bad_old, 9, 1);
        assert!(lt::verify_consistency(m as u64, 13, &bad_old, &root, &p).is_err());
    }
}
