//! The database guards of the graded rows (issue 7 item 2), on both backends: graded columns of
//! `lab_attempt`, `lab_attempt_file` and `lab_session` cannot be updated, attempts cannot be deleted
//! without their `lab_attempt.erased` entry, a final file list stays final, sessions change only by
//! archiving; bookkeeping columns stay writable. (Retention's erase, the file-list completion and the
//! check-run outbox keep working: their own tests run under these guards.)

use crate::audit_support::{archive, cli_ok, record, retention_run_now};
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

/// [`refused`] for `UPDATE {table} SET {set}`, for each of `sets`.
async fn updates_refused(app: &TestApp, table: &str, sets: &[&str], needle: &str) {
    for set in sets {
        refused(app, &format!("UPDATE {table} SET {set}"), needle).await;
    }
}

async fn graded_attempt_columns_are_read_only(db: TestDb) {
    let app = crate::helpers::spawn_app(&db).await;
    record(&app, 2).await;
    assert!(app.scalar("SELECT COUNT(*) FROM lab_attempt_file").await > 0);
    updates_refused(
        &app,
        "lab_attempt",
        &[
            "late = NOT late WHERE id = 1",
            "pushed_at = received_at",
            "attempt_number = attempt_number + 1",
            "after_sha = before_sha",
            "git_ref = 'refs/heads/other'",
            "repository_full_name = 'course/lab1-bob'",
            "delivery_id = 'forged'",
            "audit_seq = audit_seq + 1",
            "pusher_login = NULL",
        ],
        "graded columns are read-only",
    )
    .await;
    updates_refused(
        &app,
        "lab_attempt",
        &[
            "file_count = file_count + 1",
            "files_complete = NOT files_complete",
            "files_source = 'api'",
            "files_retry_at = received_at",
        ],
        "the file list is final",
    )
    .await;
    updates_refused(
        &app,
        "lab_attempt_file",
        &["path = 'renamed.txt'", "status = 'removed'"],
        "lab_attempt_file",
    )
    .await;
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
    cli_ok(&app, &["audit", "verify"]);
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
    archive(&app, "lab1");
    refused(
        &app,
        "DELETE FROM lab_attempt WHERE id = 1",
        "DELETE refused",
    )
    .await;
    // Retention's audited erase goes through.
    retention_run_now(&app);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM lab_attempt").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM lab_attempt_file").await, 0);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'lab_attempt.erased'")
            .await,
        2
    );
    cli_ok(&app, &["audit", "verify"]);
}

/// Raw UPDATEs are refused; the audited commands (which append their entry first) are not.
async fn sessions_change_only_by_archiving(db: TestDb) {
    let app = crate::helpers::spawn_app(&db).await;
    record(&app, 1).await;
    updates_refused(
        &app,
        "lab_session",
        &[
            "closes_at = opens_at",
            "opens_at = closes_at",
            "repo_pattern = '*'",
            "branch_policy = 'release/*'",
            "org = 'elsewhere'",
            "slug = 'lab2'",
            "title = 'x'",
            "timezone = 'Europe/Paris'",
            "archived_at = created_at",
        ],
        "lab_session",
    )
    .await;
    refused(&app, "DELETE FROM lab_session", "lab_session").await;
    archive(&app, "lab1");
    updates_refused(
        &app,
        "lab_session",
        &["archived_at = NULL", "archived_at = created_at"],
        "lab_session",
    )
    .await;
    cli_ok(&app, &["session", "unarchive", "--slug", "lab1"]);
    cli_ok(
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
    // Under the edit's entry, still only the edited columns.
    updates_refused(
        &app,
        "lab_session",
        &["repo_pattern = '*'", "archived_at = created_at"],
        "lab_session",
    )
    .await;
}
