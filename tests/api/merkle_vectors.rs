//! Known answers from an independent implementation: the test data of
//! [transparency-dev/merkle](https://github.com/transparency-dev/merkle) (Go), vendored under
//! `tests/vectors/transparency-dev-merkle/` with its licence and `PROVENANCE.md`, run through labtrail's
//! own Merkle code (`audit::merkle`): the hashes and roots of the eight CT test leaves, every inclusion and
//! consistency probe (the valid ones must verify, the ones marked `wantErr` must not), and labtrail's prover
//! must produce exactly the valid proofs of the reference tree. Every vendored file is counted: a file
//! skipped or added without being read fails the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use labtrail::audit::merkle::{self, Hash, MemoryTree};
use serde::Deserialize;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/transparency-dev-merkle")
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read vector dir") {
            let path = e.expect("dir entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[derive(Deserialize)]
struct Constants {
    leaf_inputs: Vec<String>,
    node_hashes: Vec<Vec<String>>,
    root_hashes: Vec<String>,
    empty_root_hash: String,
}

fn unhex(s: &str) -> Hash {
    Hash::from_hex(s).expect("64 hex digits")
}

fn constants() -> Constants {
    let text = std::fs::read_to_string(vectors().join("testonly-constants.json")).expect("read");
    serde_json::from_str(&text).expect("constants json")
}

/// The tree of `LeafInputs()`, built by labtrail.
fn reference_tree(c: &Constants) -> MemoryTree {
    MemoryTree::from_leaves(
        c.leaf_inputs
            .iter()
            .map(|l| merkle::leaf_hash(&hex::decode(l).expect("hex"))),
    )
}

#[test]
fn the_ct_test_leaves_give_the_reference_hashes_and_roots() {
    let c = constants();
    assert_eq!(c.leaf_inputs.len(), 8);
    assert_eq!(merkle::empty_root(), unhex(&c.empty_root_hash));
    let tree = reference_tree(&c);
    // Leaf hashes, then every complete subtree at its tlog storage position.
    let mut checked = 0;
    for (level, hashes) in c.node_hashes.iter().enumerate() {
        for (i, h) in hashes.iter().enumerate() {
            let at = merkle::stored_hash_index(level as u32, i as u64) as usize;
            assert_eq!(tree.stored[at], unhex(h), "node ({level}, {i})");
            checked += 1;
        }
        if level > 0 {
            for (i, h) in hashes.iter().enumerate() {
                let (l, r) = (
                    &c.node_hashes[level - 1][2 * i],
                    &c.node_hashes[level - 1][2 * i + 1],
                );
                assert_eq!(merkle::node_hash(&unhex(l), &unhex(r)), unhex(h));
            }
        }
    }
    assert_eq!(checked, 8 + 4 + 2 + 1);
    for (i, input) in c.leaf_inputs.iter().enumerate() {
        let leaf = merkle::leaf_hash(&hex::decode(input).expect("hex"));
        assert_eq!(leaf, unhex(&c.node_hashes[0][i]), "leaf {i}");
    }
    // The root of every size 0..=8, from the stored hashes and from the frontier.
    assert_eq!(c.root_hashes.len(), 9);
    let mut frontier = merkle::Frontier::new();
    for (size, want) in c.root_hashes.iter().enumerate() {
        let want = unhex(want);
        assert_eq!(tree.root(size as u64), Ok(want), "root of size {size}");
        assert_eq!(frontier.root(), want, "frontier root of size {size}");
        if size < 8 {
            frontier.push(unhex(&c.node_hashes[0][size]));
        }
    }
    // Every proof labtrail makes in that tree verifies against the reference roots.
    for size in 1..=8u64 {
        let root = unhex(&c.root_hashes[size as usize]);
        for index in 0..size {
            let proof = tree.inclusion(index, size).expect("inclusion");
            let leaf = unhex(&c.node_hashes[0][index as usize]);
            assert_eq!(
                merkle::verify_inclusion(index, size, &leaf, &proof, &root),
                Ok(())
            );
        }
        for first in 1..=size {
            let proof = tree.consistency(first, size).expect("consistency");
            let old = unhex(&c.root_hashes[first as usize]);
            assert_eq!(
                merkle::verify_consistency(first, size, &old, &root, &proof),
                Ok(())
            );
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InclusionProbe {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyProbe {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    #[serde(rename = "wantErr")]
    want_err: bool,
}

/// A base64 value as a SHA-256 hash; `Err` when it is not 32 bytes (labtrail's verifiers take only
/// hashes, so such a probe is refused before any verification).
fn hash(b64: &str) -> Result<Hash, String> {
    let raw = B64.decode(b64).map_err(|e| format!("not base64: {e}"))?;
    Hash::try_from(raw.as_slice()).map_err(|_| format!("{} bytes, not a SHA-256 hash", raw.len()))
}

fn hashes(list: &Option<Vec<String>>) -> Result<Vec<Hash>, String> {
    list.iter().flatten().map(|h| hash(h)).collect()
}

/// Probes where labtrail knowingly answers differently from Go, with the reason. Go compares opaque
/// byte strings when both sizes are equal; labtrail's roots are SHA-256 hashes, so a 12-byte "root" is
/// refused whatever the sizes.
const DIFFERENT_BY_DESIGN: &[(&str, &str)] = &[(
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
    "its roots are 12 bytes (\"don't care 2\"), not SHA-256 hashes",
)];

#[derive(Default)]
struct Tally {
    files: usize,
    must_fail: usize,
    must_pass: usize,
    proofs_compared: usize,
    different: BTreeSet<String>,
}

fn inclusion_probe(name: &str, text: &str, tree: &MemoryTree, c: &Constants, t: &mut Tally) {
    let p: InclusionProbe = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let inputs = (hash(&p.leaf_hash), hash(&p.root), hashes(&p.proof));
    let got = match &inputs {
        (Ok(leaf), Ok(root), Ok(proof)) => {
            merkle::verify_inclusion(p.leaf_idx, p.tree_size, leaf, proof, root)
                .map_err(|e| e.to_string())
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.clone()),
    };
    check_outcome(name, &p.desc, p.want_err, &got, t);
    // A valid proof in the reference tree: labtrail's prover must give exactly it.
    if let (false, (Ok(leaf), Ok(root), Ok(proof))) = (p.want_err, inputs) {
        let in_reference = p.tree_size <= 8
            && tree.root(p.tree_size) == Ok(root)
            && unhex(&c.node_hashes[0][p.leaf_idx as usize]) == leaf;
        if in_reference {
            let made = tree.inclusion(p.leaf_idx, p.tree_size);
            let what = format!(
                "inclusion proof of leaf {} in size {}",
                p.leaf_idx, p.tree_size
            );
            same_as_prover(name, &what, made, proof, t);
        }
    }
}

fn consistency_probe(name: &str, text: &str, tree: &MemoryTree, t: &mut Tally) {
    let p: ConsistencyProbe = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let inputs = (hash(&p.root1), hash(&p.root2), hashes(&p.proof));
    let got = match &inputs {
        (Ok(r1), Ok(r2), Ok(proof)) => {
            merkle::verify_consistency(p.size1, p.size2, r1, r2, proof).map_err(|e| e.to_string())
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.clone()),
    };
    check_outcome(name, &p.desc, p.want_err, &got, t);
    if let (false, (Ok(r1), Ok(r2), Ok(proof))) = (p.want_err, inputs) {
        let in_reference = p.size2 <= 8
            && p.size1 > 0
            && tree.root(p.size1) == Ok(r1)
            && tree.root(p.size2) == Ok(r2);
        if in_reference {
            let made = tree.consistency(p.size1, p.size2);
            let what = format!("consistency proof from {} to {}", p.size1, p.size2);
            same_as_prover(name, &what, made, proof, t);
        }
    }
}

/// labtrail's prover made `made` (`what`) where probe `name` holds the valid proof `want`: they must be
/// the same.
fn same_as_prover<P: PartialEq + std::fmt::Debug, E: PartialEq + std::fmt::Debug>(
    name: &str,
    what: &str,
    made: Result<P, E>,
    want: P,
    t: &mut Tally,
) {
    assert_eq!(made, Ok(want), "{name}: labtrail's {what}");
    t.proofs_compared += 1;
}

fn check_outcome(name: &str, desc: &str, want_err: bool, got: &Result<(), String>, t: &mut Tally) {
    if want_err {
        t.must_fail += 1;
    } else {
        t.must_pass += 1;
    }
    if got.is_err() == want_err {
        return;
    }
    if DIFFERENT_BY_DESIGN.iter().any(|(n, _)| *n == name) {
        t.different.insert(name.to_owned());
        return;
    }
    panic!("{name} ({desc}): Go says wantErr={want_err}, labtrail says {got:?}");
}

#[test]
fn every_inclusion_and_consistency_probe_gives_goes_answer() {
    let c = constants();
    let tree = reference_tree(&c);
    let testdata = vectors().join("testdata");
    let all = files_under(&testdata);
    let mut t = Tally::default();
    let (mut inclusion, mut consistency) = (0, 0);
    for path in &all {
        let name = path
            .strip_prefix(&testdata)
            .expect("under testdata")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).expect("read probe");
        assert!(name.ends_with(".json"), "unexpected file {name}");
        if name.starts_with("inclusion/") {
            inclusion_probe(&name, &text, &tree, &c, &mut t);
            inclusion += 1;
        } else if name.starts_with("consistency/") {
            consistency_probe(&name, &text, &tree, &mut t);
            consistency += 1;
        } else {
            panic!("{name} is neither an inclusion nor a consistency probe");
        }
        t.files += 1;
    }
    // Each file was read and judged once; the directory holds what PROVENANCE.md lists.
    assert_eq!(t.files, all.len());
    assert_eq!((inclusion, consistency), (98, 98));
    assert_eq!(t.must_fail + t.must_pass, t.files);
    assert!(t.must_fail > 150, "{} must-fail probes", t.must_fail);
    // The happy path of each numbered directory (5 inclusion, 5 consistency) was reproduced by the prover.
    assert_eq!(t.proofs_compared, 10);
    let expected: BTreeSet<String> = DIFFERENT_BY_DESIGN
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(t.different, expected, "the known differences from Go");
    // Nothing else sits beside the data than the licence, the provenance and the constants.
    let mut top: Vec<String> = std::fs::read_dir(vectors())
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        [
            "LICENSE",
            "PROVENANCE.md",
            "testdata",
            "testonly-constants.json"
        ]
    );
}
