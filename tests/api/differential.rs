//! Differential tests against a second implementation: Cloudflare's `tlog_tiles` (a port of Go's
//! `golang.org/x/mod/sumdb/tlog` and c2sp.org/tlog-checkpoint) and `signed_note` (c2sp.org/signed-note),
//! dev-dependencies only. Over random trees (up to a few hundred leaves, random data including empty
//! leaves) labtrail and the crate must store the same hashes and give the same roots, inclusion proofs
//! and consistency proofs, each accepting the other's; over random checkpoints and keys, notes signed by
//! one must verify with the other, byte for byte the same note.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use labtrail::audit::checkpoint::{open_note, AuditKey, Checkpoint, Signs, Verifier};
use labtrail::audit::merkle::{self, MemoryTree};
use labtrail::audit::Hash;
use proptest::prelude::*;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{Hash as TlogHash, HashReader};

/// The crate's own storage: the hashes `tlog_tiles::stored_hashes` returns, in order.
struct Store(Vec<TlogHash>);

impl HashReader for Store {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<TlogHash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(i as usize)
                    .copied()
                    .ok_or_else(|| tlog_tiles::Error::InvalidInput(format!("no hash {i}")))
            })
            .collect()
    }
}

fn leaves(n: u64, seed: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = (seed.wrapping_add(i * 7) % 40) as usize; // 0..40 bytes, empty leaves included
            (0..len)
                .map(|j| (seed.wrapping_mul(31).wrapping_add(i * 131 + j as u64) % 251) as u8)
                .collect()
        })
        .collect()
}

fn both_trees(data: &[Vec<u8>]) -> (MemoryTree, Store) {
    let tree = MemoryTree::from_leaves(data.iter().map(|d| merkle::leaf_hash(d)));
    let mut store = Store(Vec::new());
    for (i, d) in data.iter().enumerate() {
        let hashes = tlog_tiles::stored_hashes(i as u64, d, &store).expect("crate stores");
        store.0.extend(hashes);
    }
    (tree, store)
}

fn ours(h: &[TlogHash]) -> Vec<Hash> {
    h.iter().map(|h| Hash::new(h.0)).collect()
}

fn theirs(h: &[Hash]) -> Vec<TlogHash> {
    h.iter().map(|h| TlogHash(*h.as_bytes())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn trees_roots_and_proofs_agree_with_tlog_tiles(
        n in 1u64..300,
        seed in any::<u64>(),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 8),
    ) {
        let data = leaves(n, seed);
        let (tree, store) = both_trees(&data);
        // Same leaf hashes and the same tlog storage layout, hash for hash.
        for d in data.iter().take(5) {
            prop_assert_eq!(merkle::leaf_hash(d), Hash::new(tlog_tiles::record_hash(d).0));
        }
        prop_assert_eq!(&tree.stored, &ours(&store.0));
        prop_assert_eq!(merkle::stored_hash_count(n), tlog_tiles::stored_hash_count(n));
        for (a, b) in &picks {
            let size = a.index(n as usize) as u64 + 1;
            let root = tree.root(size).expect("root");
            let their_root = tlog_tiles::tree_hash(size, &store).expect("crate root");
            prop_assert_eq!(root, Hash::new(their_root.0), "root of size {}", size);

            // Inclusion of a random leaf in that tree.
            let index = b.index(size as usize) as u64;
            let leaf = merkle::leaf_hash(&data[index as usize]);
            let mine = tree.inclusion(index, size).expect("inclusion");
            let theirs_p = tlog_tiles::prove_record(size, index, &store).expect("crate proof");
            prop_assert_eq!(&mine, &ours(&theirs_p), "inclusion of {} in {}", index, size);
            prop_assert!(tlog_tiles::check_record(&theirs(&mine), size, their_root, index, TlogHash(*leaf.as_bytes())).is_ok());
            prop_assert_eq!(merkle::verify_inclusion(index, size, &leaf, &ours(&theirs_p), &root), Ok(()));
            // A wrong leaf fails in both.
            let wrong = merkle::leaf_hash(b"not this leaf");
            prop_assert!(tlog_tiles::check_record(&theirs(&mine), size, their_root, index, TlogHash(*wrong.as_bytes())).is_err());
            prop_assert!(merkle::verify_inclusion(index, size, &wrong, &mine, &root).is_err());

            // Consistency from a random smaller size to the whole tree and to `size`.
            for (first, second) in [(index + 1, size), (size, n)] {
                let (r1, r2) = (tree.root(first).expect("root"), tree.root(second).expect("root"));
                let mine = tree.consistency(first, second).expect("consistency");
                let theirs_p = tlog_tiles::prove_tree(second, first, &store).expect("crate proof");
                prop_assert_eq!(&mine, &ours(&theirs_p), "consistency {} -> {}", first, second);
                prop_assert!(tlog_tiles::check_tree(&theirs(&mine), second, TlogHash(*r2.as_bytes()), first, TlogHash(*r1.as_bytes())).is_ok());
                prop_assert_eq!(merkle::verify_consistency(first, second, &r1, &r2, &ours(&theirs_p)), Ok(()));
                if first < second {
                    let mut bad = r1;
                    crate::rfc9162::flip(&mut bad, 0, 1);
                    prop_assert!(tlog_tiles::check_tree(&theirs(&mine), second, TlogHash(*r2.as_bytes()), first, TlogHash(*bad.as_bytes())).is_err());
                    prop_assert!(merkle::verify_consistency(first, second, &bad, &r2, &mine).is_err());
                }
            }
        }
    }

    #[test]
    fn checkpoint_notes_agree_with_signed_note_and_tlog_tiles(
        seed in any::<[u8; 32]>(),
        name in "[a-z][a-z0-9.-]{0,20}(/[a-z0-9]{1,8})?",
        size in 0i64..1_000_000_000,
        root in any::<[u8; 32]>(),
        chain in any::<[u8; 32]>(),
        with_chain in any::<bool>(),
    ) {
        // One Ed25519 seed, as a private key in the note format; each side parses it its own way.
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut public = vec![0x01];
        public.extend_from_slice(signing.verifying_key().as_bytes());
        let mut private = vec![0x01];
        private.extend_from_slice(&seed);
        let skey = format!(
            "PRIVATE+KEY+{name}+{:08x}+{}",
            signed_note::key_id(&name, &public),
            B64.encode(&private)
        );
        let key = AuditKey::from_private_text(&skey).expect("labtrail reads the key");
        let vkey = signed_note::new_ed25519_verifier_key(&name, &signing.verifying_key());
        prop_assert_eq!(key.verifier().to_vkey(), vkey.clone());
        let verifier = Verifier::parse(&vkey).expect("labtrail reads the vkey");

        // labtrail's checkpoint body is a checkpoint for tlog_tiles, the chain line an extension.
        let signs = if with_chain {
            Signs::RootAndChain { root: Hash::new(root), chain: Hash::new(chain) }
        } else {
            Signs::Root(Hash::new(root))
        };
        let cp = Checkpoint { origin: name.clone(), size, signs };
        let body = cp.body();
        let parsed = tlog_tiles::Checkpoint::from_bytes(body.as_bytes()).expect("tlog_tiles parses it");
        prop_assert_eq!(parsed.origin(), name.as_str());
        prop_assert_eq!(parsed.size(), size as u64);
        prop_assert_eq!(parsed.hash().0, root);
        let ext = if with_chain { format!("labtrail-chain {}\n", B64.encode(chain)) } else { String::new() };
        prop_assert_eq!(parsed.extension(), ext.as_str());
        // And the other way: the crate's checkpoint, with and without extensions, read by labtrail.
        let made = tlog_tiles::Checkpoint::new(&name, size as u64, TlogHash(root), &ext).expect("crate checkpoint");
        let made = String::from_utf8(made.to_bytes()).expect("utf-8");
        prop_assert_eq!(&made, &body);
        prop_assert_eq!(Checkpoint::parse_body(&made), Ok(cp.clone()));

        // Signed by labtrail, verified by signed_note; signed by signed_note, verified by labtrail;
        // Ed25519 is deterministic, so the two notes are the same bytes.
        let ours_note = key.sign_note(&body);
        let list = VerifierList::new(vec![Box::new(StandardVerifier::new(&vkey).expect("crate vkey"))]);
        let note = Note::from_bytes(ours_note.as_bytes()).expect("crate parses labtrail's note");
        let (verified, unverified) = note.verify(&list).expect("crate verifies labtrail's note");
        prop_assert_eq!((verified.len(), unverified.len()), (1, 0));
        prop_assert_eq!(note.text(), body.as_bytes());
        let signer = StandardSigner::new(&skey).expect("crate signer");
        let mut theirs_note = Note::new(body.as_bytes(), &[]).expect("crate note");
        theirs_note.add_sigs(&[&signer as &dyn signed_note::Signer]).expect("crate signs");
        let theirs_note = String::from_utf8(theirs_note.to_bytes()).expect("utf-8");
        prop_assert_eq!(&theirs_note, &ours_note);
        prop_assert_eq!(open_note(&theirs_note, &verifier), Ok(body.clone()));
        // A changed byte of the text fails in both.
        let forged = ours_note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
        prop_assert!(open_note(&forged, &verifier).is_err());
        let forged = Note::from_bytes(forged.as_bytes()).expect("still well-formed");
        prop_assert!(forged.verify(&list).is_err());
    }
}
