//! The tamper suite of issue 4: each case models an attacker with write (and DDL) access to the database
//! and must make `labtrail audit verify` exit 1 — or, where the attack is undetectable by design, be
//! reported honestly (a deleted entry inside the unsigned tail).

use labtrail::audit::checkpoint::{AuditKey, Checkpoint, Signs};
use labtrail::audit::Hash;

use crate::audit_support::{
    checkpoint, entry_hash, exec_with, flip_byte, forge, more, record, unguarded, verify,
};
use crate::backend_tests;
use crate::helpers::{run_cli_with, spawn_app, Backend, TestApp, TestDb, ORIGIN};

backend_tests!(
    edited_row_with_recomputed_hash_is_caught,
    swapped_rows_are_caught,
    forged_rows_are_caught,
    deleted_tail_is_caught_by_an_external_checkpoint,
    rewritten_chain_without_the_key_is_caught,
    restored_older_backup_is_caught,
    checkpoint_signed_by_another_key_is_caught,
    flipped_byte_in_a_note_is_caught,
    forking_notes_are_caught,
);

fn assert_tampered(out: &(Option<i32>, String), needle: &str) {
    assert_eq!(out.0, Some(1), "{}", out.1);
    assert!(out.1.contains(needle), "expected {needle:?} in:\n{}", out.1);
}

/// A plain `audit verify` exits 1 and says `needle`.
fn verify_tampered(app: &TestApp, needle: &str) {
    assert_tampered(&verify(app, &[]), needle);
}

async fn edited_row_with_recomputed_hash_is_caught(db: TestDb) {
    let app = unguarded(&db, 4).await;
    // Row 2 edited and rehashed consistently with its own prev_hash; row 3 still points at the old hash.
    forge(&app, 2, 2, false, |_, doc| {
        doc["details"]["late"] = true.into()
    })
    .await;
    verify_tampered(&app, "TAMPERED at seq 3: prev_hash does not match");
}

async fn swapped_rows_are_caught(db: TestDb) {
    let app = unguarded(&db, 4).await;
    for sql in [
        "UPDATE audit_log SET seq = -1 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = -1",
    ] {
        app.exec(sql).await.expect(sql);
    }
    verify_tampered(&app, "TAMPERED at seq 2");
}

async fn forged_rows_are_caught(db: TestDb) {
    let app = unguarded(&db, 2).await;
    // A row appended with made-up hashes.
    let head = entry_hash(&app, 2).await;
    let insert = "INSERT INTO audit_log (seq, entry_id, occurred_at_us, actor, action, subject, details, \
                  canonical, prev_hash, entry_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    let doc = serde_json::json!({
        "v": 1, "seq": 3, "entry_id": "forged", "occurred_at_us": 1, "actor": "system",
        "action": "lab_attempt.recorded", "subject": "lab_attempt:99", "details": {"attempt_id": 99},
    });
    let canonical = labtrail::audit::canonical_bytes(&doc).expect("canonical");
    exec_with(
        &app,
        insert,
        vec![
            3i64.into(),
            "forged".into(),
            1i64.into(),
            "system".into(),
            "lab_attempt.recorded".into(),
            "lab_attempt:99".into(),
            "{\"attempt_id\":99}".into(),
            canonical.clone().into(),
            head.clone().into(),
            "00".repeat(32).into(),
        ],
    )
    .await;
    verify_tampered(&app, "TAMPERED at seq 3: entry_hash");
    // Correctly hashed, but the head row was not moved along: the head disagrees.
    forge(&app, 3, 3, false, |_, _| {}).await;
    verify_tampered(&app, "audit_head says 3 entries but the chain holds 4");
}

async fn deleted_tail_is_caught_by_an_external_checkpoint(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 4).await;
    checkpoint(&app); // size 5, also in the checkpoint file
    more(&app, 4, 2).await; // size 7
    app.drop_audit_guards().await;
    let cut = |n: i64| {
        let app = &app;
        async move {
            let head = entry_hash(app, n - 1).await;
            app.exec(&format!("DELETE FROM audit_log WHERE seq >= {n}"))
                .await
                .expect("delete tail");
            app.exec(&format!(
                "UPDATE audit_head SET size = {n}, head_hash = '{head}' WHERE id = 1"
            ))
            .await
            .expect("roll head back");
        }
    };
    // Inside the unsigned tail the chain cannot prove the deletion, and verify says how far its proof
    // reaches; the attempt row the deleted entry recorded is still there, and the records check names it.
    cut(6).await;
    let out = verify(&app, &[]);
    assert_eq!(out.0, Some(1), "{}", out.1);
    assert!(out.1.contains("audit log intact: 6 entries"), "{}", out.1);
    assert!(
        out.1.contains("attempt 6: no audit entry records it"),
        "{}",
        out.1
    );
    assert!(
        out.1.contains(
            "unsigned tail: seq 5..5 (1 entries) after the newest external checkpoint (size 5)"
        ),
        "{}",
        out.1
    );
    // Into the signed part: the external checkpoint proves entries are gone.
    cut(3).await;
    verify_tampered(
        &app,
        "TAMPERED at seq 3: database checkpoint #1 signs 5 entries but the log holds only 3",
    );
    // Deleting the stored checkpoint too does not help: the file outside the database still has it.
    app.exec("DELETE FROM audit_checkpoint")
        .await
        .expect("delete");
    verify_tampered(&app, "labtrail-checkpoints.log signs 5 entries");
}

async fn rewritten_chain_without_the_key_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 4).await;
    checkpoint(&app); // size 5
    app.drop_audit_guards().await;
    // Every hash from seq 1 on recomputed and the head moved along: the chain itself is consistent.
    forge(&app, 1, 4, true, |seq, doc| {
        if seq == 2 {
            doc["details"]["late"] = true.into();
        }
    })
    .await;
    app.exec("DELETE FROM audit_checkpoint")
        .await
        .expect("delete");
    let public = format!("{}.pub", db.key_path().display());
    std::fs::write(
        &public,
        AuditKey::load(&db.key_path())
            .expect("key")
            .verifier()
            .to_vkey(),
    )
    .expect("write public key");
    let file = db.checkpoint_file().display().to_string();
    assert_tampered(
        &verify(&app, &["--checkpoints", &file, "--public-key", &public]),
        "TAMPERED at seq 4: the chain does not pass through the head signed by note #1",
    );
}

async fn restored_older_backup_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 2).await;
    checkpoint(&app); // size 3
    let backup_url = backup(&db).await;
    more(&app, 2, 2).await;
    checkpoint(&app); // size 5
                      // The restored backup is a consistent, older database: only the checkpoint file knows better.
    let out = run_cli_with(&db, &["audit", "verify"], &[("DATABASE_URL", &backup_url)]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    drop_backup(&db, &backup_url).await;
    assert_tampered(
        &(out.status.code(), text),
        "signs 5 entries but the log holds only 3: entries were removed or an older state was restored",
    );
}

/// A real backup: `VACUUM INTO` on SQLite, `pg_dump` restored into a new database on PostgreSQL.
async fn backup(db: &TestDb) -> String {
    match db.backend {
        Backend::Sqlite => {
            let path = db.scratch_dir().join("backup.db");
            let conn = db.connect().await;
            use sea_orm::ConnectionTrait;
            conn.execute_unprepared(&format!("VACUUM INTO '{}'", path.display()))
                .await
                .expect("vacuum into");
            format!("sqlite://{}", path.display())
        }
        Backend::Postgres => {
            let dump = db.scratch_dir().join("backup.sql");
            let dumped = crate::helpers::output_of(
                std::process::Command::new("pg_dump")
                    .args(["--dbname", &db.url, "--file"])
                    .arg(&dump),
            );
            assert!(dumped.status.success(), "{dumped:?}");
            let mut url = url::Url::parse(&db.url).expect("url");
            let name = format!("{}_restored", url.path().trim_start_matches('/'));
            let mut admin = url.clone();
            admin.set_path("/postgres");
            let psql = |dbname: &str, args: &[&str]| {
                crate::helpers::output_of(
                    std::process::Command::new("psql")
                        .args(["-q", "-v", "ON_ERROR_STOP=1", "--dbname", dbname])
                        .args(args),
                )
            };
            let created = psql(admin.as_str(), &["-c", &format!("CREATE DATABASE {name}")]);
            assert!(created.status.success(), "{created:?}");
            url.set_path(&format!("/{name}"));
            let restored = psql(url.as_str(), &["-f", &dump.display().to_string()]);
            assert!(restored.status.success(), "{restored:?}");
            url.to_string()
        }
    }
}

async fn drop_backup(db: &TestDb, backup_url: &str) {
    if db.backend == Backend::Postgres {
        let url = url::Url::parse(backup_url).expect("url");
        let mut admin = url.clone();
        admin.set_path("/postgres");
        let name = url.path().trim_start_matches('/').to_owned();
        let _ = crate::helpers::output_of(
            std::process::Command::new("psql")
                .args(["-q", "--dbname", admin.as_str(), "-c"])
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
        );
    }
}

async fn checkpoint_signed_by_another_key_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 2).await;
    checkpoint(&app);
    // The true head, signed by a key with the same name that is not the log's.
    let other = AuditKey::generate(ORIGIN).expect("key");
    let head = Hash::from_hex(&entry_hash(&app, 2).await).expect("hash");
    let body = Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        signs: Signs::Chain(head),
    }
    .body();
    labtrail::audit::checkpoint::append_to_file(&db.checkpoint_file(), &other.sign_note(&body))
        .expect("append");
    verify_tampered(&app, "note #2 of");
    let out = verify(&app, &[]);
    assert!(out.1.contains("not signed by the trusted key"), "{}", out.1);
}

async fn flipped_byte_in_a_note_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 2).await;
    let note = checkpoint(&app);
    assert_eq!(verify(&app, &[]).0, Some(0));
    let file = db.checkpoint_file();
    let original = std::fs::read(&file).expect("read");
    // A byte of the origin, of the size, of the head, and of the signature.
    let sig_at = note.rfind(' ').expect("signature") + 5;
    for at in [2, ORIGIN.len() + 1, ORIGIN.len() + 5, sig_at] {
        flip_byte(&file, at);
        verify_tampered(&app, "note #1 of");
        std::fs::write(&file, &original).expect("restore");
    }
    assert_eq!(verify(&app, &[]).0, Some(0));
}

async fn forking_notes_are_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 2).await;
    checkpoint(&app);
    // The log's own key signing a second, different head for the same size: a split view.
    let key = AuditKey::load(&db.key_path()).expect("key");
    let body = Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        signs: Signs::Chain(Hash::new([9; 32])),
    }
    .body();
    labtrail::audit::checkpoint::append_to_file(&db.checkpoint_file(), &key.sign_note(&body))
        .expect("append");
    verify_tampered(&app, "fork: it signs another head for size 3");
}
