//! Archives: `labtrail audit archive` moves a prefix of the log to JSONL segments (the exact hashed
//! bytes) with manifests, `verify --archive DIR` still proves the whole history, and any damage to a
//! segment or manifest, a missing segment, or a hand-raised `archived_upto` is caught.

use std::path::{Path, PathBuf};

use crate::audit_support::{cli, cli_ok, flip_byte, more, record, verify, verify_ok};
use crate::backend_tests;
use crate::helpers::{spawn_app, TestApp, TestDb};

backend_tests!(
    archive_then_verify_passes,
    flipped_byte_in_an_archive_or_its_manifest_is_caught,
    missing_archive_segment_is_caught,
    hand_raised_archived_upto_is_caught,
    forged_archive_record_is_caught,
);

fn archive(app: &TestApp, upto: i64, dir: &Path) -> String {
    let dir = dir.display().to_string();
    cli_ok(
        app,
        &[
            "audit",
            "archive",
            "--upto",
            &upto.to_string(),
            "--out",
            &dir,
        ],
    )
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

async fn archive_then_verify_passes(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 5).await; // seq 0..5
    let (_, export) = cli(&app, &["audit", "export"]);
    let canonical: Vec<String> = export
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            v["canonical"].as_str().expect("canonical").to_owned()
        })
        .collect();
    let dir = db.scratch_dir().join("archive");
    archive(&app, 3, &dir);
    assert!(app.audit_entries().await.iter().all(|e| e.seq >= 3));
    assert_eq!(app.audit_head().await.archived_upto, 3);
    // The segment holds the exact hashed bytes, one per line.
    let segment = std::fs::read_to_string(&files(&dir, ".jsonl")[0]).expect("segment");
    assert_eq!(segment.lines().collect::<Vec<_>>(), canonical[..3].to_vec());
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&files(&dir, ".manifest.json")[0]).expect("manifest"),
    )
    .expect("json");
    assert_eq!(
        (
            manifest["first_seq"].as_i64(),
            manifest["last_seq"].as_i64()
        ),
        (Some(0), Some(2))
    );
    assert!(manifest["checkpoint"]
        .as_str()
        .is_some_and(|n| n.contains("\n\n\u{2014} ")));
    let dir_s = dir.display().to_string();
    let out = verify_ok(&app, &["--archive", &dir_s]);
    assert!(
        out.contains("(seq 0..6)"),
        "the whole history is proven: {out}"
    );
    let out = verify_ok(&app, &[]);
    assert!(
        out.contains("entries 0..2 are archived and were not checked"),
        "{out}"
    );
    // A second run adds a segment after the first, and the log goes on.
    more(&app, 5, 2).await;
    archive(&app, 8, &dir);
    assert_eq!(files(&dir, ".jsonl").len(), 2);
    verify_ok(&app, &["--archive", &dir_s]);
    // Nothing left to archive below 8.
    let (code, out) = cli(&app, &["audit", "archive", "--upto", "8", "--out", &dir_s]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("nothing to archive"), "{out}");
}

async fn flipped_byte_in_an_archive_or_its_manifest_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 4).await;
    let dir = db.scratch_dir().join("archive");
    archive(&app, 4, &dir);
    let dir_s = dir.display().to_string();
    assert_eq!(verify(&app, &["--archive", &dir_s]).0, Some(0));
    for file in [&files(&dir, ".jsonl")[0], &files(&dir, ".manifest.json")[0]] {
        let original = std::fs::read(file).expect("read");
        for at in [
            0,
            original.len() / 3,
            original.len() / 2,
            original.len() - 2,
        ] {
            flip_byte(file, at);
            let (code, out) = verify(&app, &["--archive", &dir_s]);
            assert_eq!(code, Some(1), "byte {at} of {}: {out}", file.display());
            assert!(out.contains("TAMPERED"), "{out}");
            std::fs::write(file, &original).expect("restore");
        }
    }
    assert_eq!(verify(&app, &["--archive", &dir_s]).0, Some(0));
}

async fn missing_archive_segment_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 3).await;
    let dir = db.scratch_dir().join("archive");
    archive(&app, 2, &dir);
    archive(&app, 4, &dir);
    let dir_s = dir.display().to_string();
    assert_eq!(verify(&app, &["--archive", &dir_s]).0, Some(0));
    // The segment file alone gone.
    let first = files(&dir, ".jsonl")[0].clone();
    let bytes = std::fs::read(&first).expect("read");
    std::fs::remove_file(&first).expect("rm");
    let (code, out) = verify(&app, &["--archive", &dir_s]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("TAMPERED at seq 0") && out.contains("is missing"),
        "{out}"
    );
    std::fs::write(&first, bytes).expect("restore");
    // The whole first segment (file and manifest) gone.
    std::fs::remove_file(&first).expect("rm");
    std::fs::remove_file(&files(&dir, ".manifest.json")[0]).expect("rm");
    let (code, out) = verify(&app, &["--archive", &dir_s]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("archive segment missing"), "{out}");
}

async fn hand_raised_archived_upto_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 3).await;
    // The guards refuse raising archived_upto without its audit.archived entry; an attacker with DDL
    // rights drops them, then drops old entries that way: no audit.archived entry records it.
    app.exec("UPDATE audit_head SET archived_upto = 2 WHERE id = 1")
        .await
        .expect_err("the guard refuses a hand-raised archived_upto");
    app.drop_audit_guards().await;
    app.exec("UPDATE audit_head SET archived_upto = 2 WHERE id = 1")
        .await
        .expect("raise");
    app.exec("DELETE FROM audit_log WHERE seq < 2")
        .await
        .expect("delete");
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("archived_upto is 2 but the log's last audit.archived entry records 0"),
        "{out}"
    );
}

/// An attacker with database access but not the key, all guards in place: append a correctly chained
/// `audit.archived` record of their own (the chain needs no secret), advance `archived_upto` under it and
/// delete the entries below. Only the record's signed statement gives it away.
async fn forged_archive_record_is_caught(db: TestDb) {
    use labtrail::audit::{self, Action, NewEntry};
    let app = spawn_app(&db).await;
    let (code, out) = cli(&app, &["audit", "keygen"]);
    assert_eq!(code, Some(0), "{out}");
    record(&app, 3).await;
    verify_ok(&app, &[]);
    let (txn, mut head) = audit::begin_write(&app.db, crate::helpers::ORIGIN)
        .await
        .expect("lock");
    let upto = head.size;
    let head_hash = hex::encode(head.head_hash);
    audit::append(
        &txn,
        &mut head,
        NewEntry {
            actor: "cli:mallory".into(),
            action: Action::AuditArchived,
            subject: format!("audit_log:0-{}", upto - 1),
            details: serde_json::json!({
                "first_seq": 0, "upto": upto, "head_hash": head_hash,
                "segment_sha256": "0".repeat(64), "manifest_sha256": "0".repeat(64),
            }),
        },
    )
    .await
    .expect("the chain takes any well-formed entry");
    txn.commit().await.expect("commit");
    app.exec(&format!(
        "UPDATE audit_head SET archived_upto = {upto} WHERE id = 1"
    ))
    .await
    .expect("the guard sees an audit.archived entry at the head");
    app.exec(&format!("DELETE FROM audit_log WHERE seq < {upto}"))
        .await
        .expect("rows below archived_upto may go");
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("seq {upto}")), "{out}");
    assert!(out.contains("signed by the log's key"), "{out}");
}
