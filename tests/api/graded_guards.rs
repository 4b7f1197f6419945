//! The database guards of the graded rows (issue 7 item 2), on both backends: graded columns of
//! `lab_attempt`, `lab_attempt_file` and `lab_session` cannot be updated, attempts cannot be deleted
//! without their `lab_attempt.erased` entry, a final file list stays final, sessions change only by
//! archiving; bookkeeping columns stay writable. (Retention's erase, the file-list completion and the
//! check-run outbox keep working: their own tests run under these guards.)

use crate::audit_support::{cli, record};
use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDb};

backend_tests!(
    graded_attempt_columns_are_read_only,
    attempts_and_files_are_deleted_only_with_their_erase_entry,
    sessions_change_only_by_archiving,
);

async fn refused(app: &TestApp, sql: &str, needle: &str) {
    let err = app.exec(sql).await.expect_err(sql);
    assert!(err.to_string().contains(needle), "{sql}: {err}");
}

async fn graded_attempt_columns_are_read_only(db: TestDb) {
    let app = crate::helpers::spawn_app(&db).await;
    record(&app, 2).await;
    assert!(app.scalar("SELECT COUNT(*) FROM lab_attempt_file").await > 0);
    for sql in [
        "UPDATE lab_attempt SET late = NOT late WHERE id = 1",
        "UPDATE lab_attempt SET pushed_at = received_at",
        "UPDATE lab_attempt SET attempt_number = attempt_number + 1",
        "UPDATE lab_attempt SET after_sha = before_sha",
        "UPDATE lab_attempt SET git_ref = 'refs/heads/other'",
        "UPDATE lab_attempt SET repository_full_name = 'course/lab1-bob'",
        "UPDATE lab_attempt SET delivery_id = 'forged'",
        "UPDATE lab_attempt SET audit_seq = audit_seq + 1",
        "UPDATE lab_attempt SET pusher_login = NULL",
    ] {
        refused(&app, sql, "graded columns are read-only").await;
    }
    for sql in [
        "UPDATE lab_attempt SET file_count = file_count + 1",
        "UPDATE lab_attempt SET files_complete = NOT files_complete",
        "UPDATE lab_attempt SET files_source = 'api'",
        "UPDATE lab_attempt SET files_retry_at = received_at",
    ] {
        refused(&app, sql, "the file list is final").await;
    }
    for sql in [
        "UPDATE lab_attempt_file SET path = 'renamed.txt'",
        "UPDATE lab_attempt_file SET status = 'removed'",
    ] {
        refused(&app, sql, "lab_attempt_file").await;
    }
    // Bookkeeping, and writing a graded column with its own value, are allowed.
    app.exec(
        "UPDATE lab_attempt SET check_run_error = 'x', check_run_tries = check_run_tries + 1, \
         check_run_next_at = NULL, check_run_id = NULL, files_tries = 0",
    )
    .await
    .expect("bookkeeping");
    app.exec("UPDATE lab_attempt SET late = late, pushed_at = pushed_at")
        .await
        .expect("no change");
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, Some(0), "{out}");
}

async fn attempts_and_files_are_deleted_only_with_their_erase_entry(db: TestDb) {
    let app = crate::helpers::spawn_app(&db).await;
    record(&app, 2).await;
    refused(&app, "DELETE FROM lab_attempt_file", "lab_attempt_file").await;
    refused(
        &app,
        "DELETE FROM lab_attempt WHERE id = 2",
        "DELETE refused",
    )
    .await;
    if db.backend == Backend::Postgres {
        for sql in [
            "TRUNCATE lab_attempt CASCADE",
            "TRUNCATE lab_attempt_file",
            "TRUNCATE lab_session CASCADE",
        ] {
            refused(&app, sql, "refused").await;
        }
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM lab_attempt").await, 2);
    // An erase entry for another attempt does not open the door for this one.
    archive_lab1(&app);
    refused(
        &app,
        "DELETE FROM lab_attempt WHERE id = 1",
        "DELETE refused",
    )
    .await;
    // Retention's audited erase goes through.
    let (code, out) = cli(
        &app,
        &[
            "retention",
            "run",
            "--payload-days",
            "0",
            "--attempt-days",
            "0",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM lab_attempt").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM lab_attempt_file").await, 0);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'lab_attempt.erased'")
            .await,
        2
    );
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, Some(0), "{out}");
}

/// Raw UPDATEs are refused; the audited commands (which append their entry first) are not.
async fn sessions_change_only_by_archiving(db: TestDb) {
    let app = crate::helpers::spawn_app(&db).await;
    record(&app, 1).await;
    for sql in [
        "UPDATE lab_session SET closes_at = opens_at",
        "UPDATE lab_session SET opens_at = closes_at",
        "UPDATE lab_session SET repo_pattern = '*'",
        "UPDATE lab_session SET branch_policy = 'release/*'",
        "UPDATE lab_session SET org = 'elsewhere'",
        "UPDATE lab_session SET slug = 'lab2'",
        "UPDATE lab_session SET title = 'x'",
        "UPDATE lab_session SET timezone = 'Europe/Paris'",
        "UPDATE lab_session SET archived_at = created_at",
        "DELETE FROM lab_session",
    ] {
        refused(&app, sql, "lab_session").await;
    }
    archive_lab1(&app);
    refused(
        &app,
        "UPDATE lab_session SET archived_at = NULL",
        "lab_session",
    )
    .await;
    refused(
        &app,
        "UPDATE lab_session SET archived_at = created_at",
        "lab_session",
    )
    .await;
    let (code, out) = cli(&app, &["session", "unarchive", "--slug", "lab1"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = cli(
        &app,
        &[
            "session",
            "edit",
            "--slug",
            "lab1",
            "--closes",
            "2026-03-01T00:00:00Z",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    // Under the edit's entry, still only the edited columns.
    refused(
        &app,
        "UPDATE lab_session SET repo_pattern = '*'",
        "lab_session",
    )
    .await;
    refused(
        &app,
        "UPDATE lab_session SET archived_at = created_at",
        "lab_session",
    )
    .await;
}

/// `labtrail session archive` of `course/lab1`, which must succeed.
fn archive_lab1(app: &TestApp) {
    let (code, out) = cli(
        app,
        &["session", "archive", "--org", "course", "--slug", "lab1"],
    );
    assert_eq!(code, Some(0), "{out}");
}
