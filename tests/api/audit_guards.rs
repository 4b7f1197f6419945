//! The database guards: UPDATE, DELETE (and TRUNCATE on PostgreSQL) of `audit_log` are refused by
//! triggers on both backends, except deleting rows below `audit_head.archived_upto`; the head cannot be
//! rolled back; stored checkpoints are append-only; and the app's own append path still works.

use crate::backend_tests;
use crate::helpers::{cli_stdout, push_payload, sha, spawn_app, Backend, TestApp, TestDb};

backend_tests!(
    triggers_refuse_update_and_delete_of_audit_rows,
    head_cannot_be_rolled_back,
    only_rows_below_archived_upto_may_be_deleted,
    entries_are_inserted_at_the_head_only,
);

async fn record_two(app: &TestApp) {
    app.create_lab1_session().await;
    app.deliver_push(
        "g-1",
        &push_payload("course", "lab1-a", 7, &sha(1), 1767225600),
    )
    .await;
    app.drain().await;
}

async fn triggers_refuse_update_and_delete_of_audit_rows(db: TestDb) {
    let app = spawn_app(&db).await;
    record_two(&app).await;
    assert_eq!(app.audit_entries().await.len(), 2);
    refused_all(
        &app,
        &[
            "UPDATE audit_log SET actor = 'system' WHERE seq = 1",
            "UPDATE audit_log SET entry_hash = prev_hash",
            "DELETE FROM audit_log WHERE seq = 1",
            "DELETE FROM audit_log",
        ],
        "append-only",
    )
    .await;
    if db.backend == Backend::Postgres {
        let err = app.exec("TRUNCATE audit_log").await.expect_err("truncate");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(app.audit_entries().await.len(), 2);
    // The append path (INSERT audit_log, UPDATE audit_head) still works under the guards.
    app.deliver_push(
        "g-2",
        &push_payload("course", "lab1-a", 7, &sha(2), 1767225700),
    )
    .await;
    assert_eq!(app.settled("g-2").await.status, "processed");
    assert_eq!(app.audit_entries().await.len(), 3);
    app.assert_audit_verifies();
}

async fn head_cannot_be_rolled_back(db: TestDb) {
    let app = spawn_app(&db).await;
    record_two(&app).await;
    refused_all(
        &app,
        &[
            "UPDATE audit_head SET size = 1 WHERE id = 1",
            "UPDATE audit_head SET head_hash = NULL WHERE id = 1",
            "UPDATE audit_head SET origin = 'elsewhere' WHERE id = 1",
            "UPDATE audit_head SET archived_upto = 3 WHERE id = 1",
            "DELETE FROM audit_head",
        ],
        "audit_head",
    )
    .await;
    app.exec("INSERT INTO audit_checkpoint (size, head_hash, note, created_at) VALUES (1, 'x', 'n', CURRENT_TIMESTAMP)")
        .await
        .expect("checkpoints can be added");
    refused_all(
        &app,
        &[
            "UPDATE audit_checkpoint SET size = 2",
            "DELETE FROM audit_checkpoint",
        ],
        "append-only",
    )
    .await;
}

async fn only_rows_below_archived_upto_may_be_deleted(db: TestDb) {
    let app = spawn_app(&db).await;
    record_two(&app).await;
    // Raising archived_upto by hand would let every row be deleted: refused.
    let err = app
        .exec("UPDATE audit_head SET archived_upto = 1 WHERE id = 1")
        .await
        .expect_err("archived_upto only advances with its audit.archived entry");
    assert!(err.to_string().contains("audit.archived"), "{err}");
    // A real archive run advances it (and deletes the archived rows under the guard).
    let out_dir = db.scratch_dir().join("archive");
    cli_stdout(&app.cli(&[
        "audit",
        "archive",
        "--upto",
        "1",
        "--out",
        &out_dir.to_string_lossy(),
    ]));
    assert_eq!(app.audit_head().await.archived_upto, 1);
    assert!(app.audit_entries().await.iter().all(|e| e.seq >= 1));
    let err = app
        .exec("DELETE FROM audit_log WHERE seq = 1")
        .await
        .expect_err("seq 1 is not archived");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = app
        .exec("UPDATE audit_head SET archived_upto = 0 WHERE id = 1")
        .await
        .expect_err("archived_upto cannot go back");
    assert!(err.to_string().contains("audit_head"), "{err}");
}

/// Inserts cannot go around the UPDATE/DELETE guards: an entry only at the head, chained to it; no second
/// head row; and (SQLite) no `INSERT OR REPLACE` of an existing entry or of the head.
async fn entries_are_inserted_at_the_head_only(db: TestDb) {
    let app = spawn_app(&db).await;
    record_two(&app).await;
    let copy_of_first = |seq: &str| {
        format!(
            "INSERT INTO audit_log (seq, entry_id, occurred_at_us, actor, action, subject, details, \
             canonical, prev_hash, entry_hash) SELECT {seq}, 'forged', occurred_at_us, actor, action, \
             subject, details, canonical, prev_hash, entry_hash FROM audit_log WHERE seq = 0"
        )
    };
    // At the head's seq but not chained to the head hash; far past the head; one past the head though
    // chained to the head hash (a batch may go past the head only right after its own entry); inside the
    // log, chained to its predecessor.
    let chained = |seq: &str, prev: &str| {
        format!(
            "INSERT INTO audit_log (seq, entry_id, occurred_at_us, actor, action, subject, details, \
             canonical, prev_hash, entry_hash) SELECT {seq}, 'forged', occurred_at_us, actor, action, \
             subject, details, canonical, {prev}, entry_hash FROM audit_log WHERE seq = 0"
        )
    };
    for sql in [
        copy_of_first("(SELECT size FROM audit_head)"),
        copy_of_first("99"),
        chained(
            "(SELECT size + 1 FROM audit_head)",
            "(SELECT head_hash FROM audit_head)",
        ),
        chained("1", "(SELECT entry_hash FROM audit_log WHERE seq = 0)"),
    ] {
        let err = app.exec(&sql).await.expect_err(&sql);
        assert!(
            err.to_string().contains("appended at the head only"),
            "{sql}: {err}"
        );
    }
    let err = app
        .exec("INSERT INTO audit_head (id, size, archived_upto) VALUES (2, 0, 0)")
        .await
        .expect_err("a second head");
    assert!(err.to_string().contains("audit_head"), "{err}");
    if db.backend == Backend::Sqlite {
        for sql in [
            "INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log WHERE seq = 0",
            "INSERT OR REPLACE INTO audit_head SELECT id, size, head_hash, origin, size FROM audit_head",
        ] {
            app.exec(sql).await.expect_err(sql);
        }
    }
    assert_eq!(app.audit_entries().await.len(), 2);
    assert_eq!(app.audit_head().await.archived_upto, 0);
    // The app's own appends still go through.
    app.deliver_push(
        "g-2",
        &push_payload("course", "lab1-a", 7, &sha(2), 1767225601),
    )
    .await;
    app.drain().await;
    assert_eq!(app.audit_entries().await.len(), 3);
}

/// Each statement is refused with an error that names `why`.
async fn refused_all(app: &TestApp, sqls: &[&str], why: &str) {
    for sql in sqls {
        let err = app.exec(sql).await.expect_err(sql);
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
}
