//! End to end: attempts recorded through signed webhooks, a checkpoint signed by the running log, the
//! proof of each attempt built from the database (O(log n) stored hashes), serialised, and checked
//! offline with the verifier key alone; every field of it altered by one bit fails. Also: the stored
//! tree is the RFC 9162 tree of the stored entries (checked against the independent implementation)
//! and a log written before the tree existed is backfilled and still verifies.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use entity::{audit_log, lab_attempt};
use labtrail::audit::checkpoint::{self, AuditKey, Checkpoint, Signs, Verifier};
use labtrail::audit::merkle_store;
use labtrail::audit::proof::{Proof, ProofError};
use sea_orm::EntityTrait;

use crate::audit_support::{checkpoint, more, record, verify, verify_ok};
use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, TestApp, TestDb, ORIGIN};
use crate::rfc9162;

backend_tests!(
    attempts_are_proven_offline_and_altered_proofs_fail,
    stored_tree_is_the_rfc_tree_of_the_entries,
    logs_written_before_the_tree_are_backfilled,
    checkpoints_are_tlog_checkpoints_and_old_ones_still_verify,
);

fn verifier(db: &TestDb) -> Verifier {
    AuditKey::load(&db.key_path()).expect("key").verifier()
}

async fn newest_note(app: &TestApp) -> (u64, String) {
    let cp = checkpoint::latest(&app.db)
        .await
        .expect("db")
        .expect("a checkpoint");
    (u64::try_from(cp.size).expect("size"), cp.note)
}

/// The proof of one attempt, built from the database as `audit prove` will.
async fn prove(app: &TestApp, attempt: &lab_attempt::Model) -> Proof {
    let (size, note) = newest_note(app).await;
    let entry = audit_log::Entity::find_by_id(attempt.audit_seq)
        .one(&app.db)
        .await
        .expect("db")
        .expect("entry");
    let index = u64::try_from(attempt.audit_seq).expect("seq");
    let inclusion = merkle_store::inclusion_proof(&app.db, index, size)
        .await
        .expect("inclusion");
    Proof::new(attempt.id, index, &entry.canonical, &inclusion, size, &note)
}

fn flip_b64(text: &str, byte: usize, bit: u8) -> String {
    let mut raw = B64.decode(text).expect("base64");
    let at = byte % raw.len();
    raw[at] ^= 1 << bit;
    B64.encode(raw)
}

async fn attempts_are_proven_offline_and_altered_proofs_fail(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 6).await;
    checkpoint(&app);
    more(&app, 6, 2).await;
    checkpoint(&app);
    let key = verifier(&db);
    let attempts = app.attempts().await;
    assert_eq!(attempts.len(), 8);
    for a in &attempts {
        let json = serde_json::to_string_pretty(&prove(&app, a).await).expect("json");
        // Offline: the JSON text and the verifier key, nothing else.
        let proof = Proof::from_json(&json).expect("parse");
        let ok = proof.verify(&key).expect("valid proof");
        assert_eq!(ok.entry["action"], "lab_attempt.recorded");
        assert_eq!(ok.entry["details"]["attempt_id"], a.id);
        assert_eq!(ok.tree_size, 9);
    }
    // The last leaf, then every field of its proof altered by one bit.
    let last = attempts.last().expect("last");
    let proof = prove(&app, last).await;
    assert_eq!(proof.leaf_index, 8);
    let fails = |p: &Proof, what: &str| {
        assert!(
            p.verify(&key).is_err(),
            "{what} altered but the proof holds"
        );
    };
    let entry_len = B64.decode(&proof.entry).expect("b64").len();
    // (Every few bytes and the last: each check verifies an Ed25519 signature, slow in debug builds.)
    for byte in (0..entry_len).step_by(7).chain([entry_len - 1]) {
        let mut p = proof.clone();
        p.entry = flip_b64(&proof.entry, byte, (byte % 8) as u8);
        fails(&p, &format!("entry byte {byte}"));
    }
    assert!(!proof.inclusion.is_empty());
    for i in 0..proof.inclusion.len() {
        for byte in (0..32).step_by(5).chain([31]) {
            let mut p = proof.clone();
            p.inclusion[i] = flip_b64(&proof.inclusion[i], byte, (byte % 8) as u8);
            fails(&p, &format!("inclusion hash {i} byte {byte}"));
        }
    }
    for bit in 0..8 {
        let mut p = proof.clone();
        p.leaf_index ^= 1 << bit;
        fails(&p, "leaf_index");
        let mut p = proof.clone();
        p.tree_size ^= 1 << bit;
        fails(&p, "tree_size");
        let mut p = proof.clone();
        p.attempt_id ^= 1 << bit;
        fails(&p, "attempt_id");
    }
    // The root, re-signed by the log's own key: the signature holds, the inclusion does not.
    let body =
        Checkpoint::parse_body(&checkpoint::open_note(&proof.checkpoint, &key).expect("note"))
            .expect("body");
    let real_root = body.root().expect("a Merkle root");
    let chain = body.head().expect("a chain head");
    let signer = AuditKey::load(&db.key_path()).expect("key");
    for byte in [0, 13, 31] {
        let mut root = real_root;
        crate::rfc9162::flip(&mut root, byte, 1 << (byte % 8));
        let mut p = proof.clone();
        p.checkpoint = signer.sign_note(
            &Checkpoint {
                signs: Signs::RootAndChain { root, chain },
                ..body.clone()
            }
            .body(),
        );
        assert!(matches!(p.verify(&key), Err(ProofError::Invalid(_))));
    }
    // Any bit of the note's text or signature.
    let note = proof.checkpoint.clone();
    let sig_start = note.rfind(' ').expect("signature") + 1;
    for at in (0..note.len() - 1)
        .step_by(9)
        .chain([sig_start + 10, note.len() - 4])
    {
        let mut bytes = note.clone().into_bytes();
        bytes[at] ^= 1;
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let mut p = proof.clone();
        p.checkpoint = text;
        fails(&p, &format!("note byte {at}"));
    }
    // Another log's key.
    let other = AuditKey::generate(ORIGIN).expect("key").verifier();
    assert!(proof.verify(&other).is_err());
}

async fn stored_tree_is_the_rfc_tree_of_the_entries(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 12).await;
    let rows = app.audit_entries().await;
    let data: Vec<Vec<u8>> = rows.iter().map(|r| r.canonical.clone()).collect();
    let n = data.len();
    assert_eq!(n, 13);
    assert_eq!(merkle_store::tree_size(&app.db).await.expect("size"), 13);
    for size in 1..=n {
        let root = merkle_store::root(&app.db, size as u64)
            .await
            .expect("root");
        assert_eq!(root, rfc9162::mth(&data[..size]), "size {size}");
        for m in 0..size {
            let p = merkle_store::inclusion_proof(&app.db, m as u64, size as u64)
                .await
                .expect("inclusion");
            assert_eq!(p, rfc9162::path(m, &data[..size]));
        }
        for m in 1..=size {
            let p = merkle_store::consistency_proof(&app.db, m as u64, size as u64)
                .await
                .expect("consistency");
            assert_eq!(p, rfc9162::proof(m, &data[..size]));
        }
    }
    assert!(merkle_store::root(&app.db, 14).await.is_err());
    // The stored tree is append-only like the log.
    for sql in [
        "UPDATE audit_tree_hash SET idx = idx + 100",
        "DELETE FROM audit_tree_hash",
    ] {
        let err = app.exec(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

async fn logs_written_before_the_tree_are_backfilled(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 4).await;
    // A log of the old release: entries, no tree.
    app.exec("DROP TABLE audit_tree_hash").await.expect("drop");
    let blob = if db.backend == Backend::Postgres {
        "BYTEA"
    } else {
        "BLOB"
    };
    app.exec(&format!(
        "CREATE TABLE audit_tree_hash (idx BIGINT PRIMARY KEY, hash {blob} NOT NULL)"
    ))
    .await
    .expect("recreate");
    assert_eq!(merkle_store::tree_size(&app.db).await.expect("size"), 0);
    // The next append builds the tree of the earlier entries first.
    more(&app, 4, 1).await;
    assert_eq!(merkle_store::tree_size(&app.db).await.expect("size"), 6);
    // And so does starting the server.
    app.exec("DROP TABLE audit_tree_hash").await.expect("drop");
    app.exec(&format!(
        "CREATE TABLE audit_tree_hash (idx BIGINT PRIMARY KEY, hash {blob} NOT NULL)"
    ))
    .await
    .expect("recreate");
    let restarted = spawn_app(&db).await;
    assert_eq!(
        merkle_store::tree_size(&restarted.db).await.expect("size"),
        6
    );
    assert_eq!(merkle_store::tree_size(&app.db).await.expect("size"), 6);
    let data: Vec<Vec<u8>> = app
        .audit_entries()
        .await
        .into_iter()
        .map(|r| r.canonical)
        .collect();
    assert_eq!(
        merkle_store::root(&app.db, 6).await.expect("root"),
        rfc9162::mth(&data)
    );
    checkpoint(&app);
    verify_ok(&app, &[]);
}

async fn checkpoints_are_tlog_checkpoints_and_old_ones_still_verify(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 2).await;
    checkpoint(&app);
    // An old-format (chain-only) checkpoint in the external file, as the previous release wrote.
    let signer = AuditKey::load(&db.key_path()).expect("key");
    let chain_after = |seq: i64| {
        let db = app.db.clone();
        async move {
            let row = audit_log::Entity::find_by_id(seq)
                .one(&db)
                .await
                .expect("db")
                .expect("entry");
            labtrail::audit::Hash::from_hex(&row.entry_hash).expect("hash")
        }
    };
    let old = Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        signs: Signs::Chain(chain_after(2).await),
    };
    checkpoint::append_to_file(&db.checkpoint_file(), &signer.sign_note(&old.body()))
        .expect("append");
    more(&app, 2, 1).await;
    let note = checkpoint(&app);
    let (size, stored) = newest_note(&app).await;
    assert_eq!(size, 4);
    assert!(note.contains(stored.trim_end()), "{note}");
    let text = checkpoint::open_note(&stored, &verifier(&db)).expect("signed");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], ORIGIN);
    assert_eq!(lines[1], "4");
    let root = merkle_store::root(&app.db, 4).await.expect("root");
    assert_eq!(lines[2], B64.encode(root));
    assert!(lines[3].starts_with("labtrail-chain "));
    let out = verify_ok(&app, &[]);
    // Size 3: new in the database and the file, old in the file; size 4: database and file.
    assert!(out.contains("checkpoints checked: 5"), "{out}");
    // A standard three-line C2SP checkpoint (root, no labtrail-chain line) of the log's true root is
    // read as a root and verifies; with another root it is tampering.
    let root_3 = merkle_store::root(&app.db, 3).await.expect("root");
    let standard = Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        signs: Signs::Root(root_3),
    };
    let file = db.scratch_dir().join("standard-checkpoint.log");
    checkpoint::append_to_file(&file, &signer.sign_note(&standard.body())).expect("append");
    let file = file.display().to_string();
    let out = verify_ok(&app, &["--checkpoints", &file]);
    // The two database checkpoints (sizes 3 and 4) and the standard one.
    assert!(out.contains("checkpoints checked: 3"), "{out}");
    let mut wrong = root_3;
    crate::rfc9162::flip(&mut wrong, 5, 1);
    let other = db.scratch_dir().join("wrong-standard-checkpoint.log");
    let note = signer.sign_note(
        &Checkpoint {
            signs: Signs::Root(wrong),
            ..standard
        }
        .body(),
    );
    checkpoint::append_to_file(&other, &note).expect("append");
    let (code, out) = verify(&app, &["--checkpoints", &other.display().to_string()]);
    assert_eq!(code, Some(1), "{out}");
    // A correctly signed new-format checkpoint whose root is not the entries' root is tampering.
    let mut bad_root = merkle_store::root(&app.db, 2).await.expect("root");
    crate::rfc9162::flip(&mut bad_root, 0, 1);
    let forged = Checkpoint {
        origin: ORIGIN.into(),
        size: 2,
        signs: Signs::RootAndChain {
            root: bad_root,
            chain: chain_after(1).await,
        },
    };
    // Alone in a file of its own: after the size-4 notes of the checkpoint file, its smaller size alone
    // would already be caught (successive checkpoints only grow).
    let alone = db.scratch_dir().join("forged-checkpoint.log");
    checkpoint::append_to_file(&alone, &signer.sign_note(&forged.body())).expect("append");
    let alone = alone.display().to_string();
    let (code, out) = verify(&app, &["--checkpoints", &alone]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Merkle tree root"), "{out}");
}
