//! Every graded fact guarded and verified (issue 20 item 2), on both backends: a student's extension and
//! the roster change only under their own audit entry (migration m20261201_000100), and with the triggers
//! dropped `audit verify` names a moved extension, an edited roster row, and an attempt whose sender,
//! repository name or pusher was changed (the `lab_attempt.recorded` entry holds the sender id and
//! digests of the two names). Raw SQL on purpose: that is what an attacker with database access does.

use crate::audit_support::{record, verify, verify_ok};
use crate::backend_tests;
use crate::helpers::{Backend, TestApp, TestDb};

backend_tests!(
    extensions_and_the_roster_change_only_under_their_entry,
    a_moved_extension_is_named,
    an_extension_inserted_by_hand_is_named,
    an_edited_roster_row_is_named,
    an_edited_sender_id_is_named,
    an_edited_repository_name_is_named,
    an_edited_pusher_login_is_named,
);

const ROSTER: &str = "identifier,github_username,github_id,name\n\
alice@uni.test,alice,101,Alice A\n\
bob@uni.test,bob,,Bob B\n";

/// Import [`ROSTER`] (with `extra` lines) for organisation `course`.
pub fn import_roster(app: &TestApp, extra: &str) {
    app.import_roster(&format!("{ROSTER}{extra}"));
}

/// A session with two recorded pushes, a roster, and two extensions (extension 1 for a roster student,
/// extension 2 for a login off the roster).
async fn class(db: &TestDb) -> TestApp {
    let app = crate::helpers::spawn_app(db).await;
    record(&app, 2).await;
    import_roster(&app, "");
    app.extend_lab1("alice", "2026-02-03T00:00:00Z");
    app.extend_lab1_with("zed", "2026-02-04T00:00:00Z", &["--force"]);
    verify_ok(&app, &[]);
    app
}

/// [`class`], then every guard dropped: the attacker's view.
async fn unguarded_class(db: &TestDb) -> TestApp {
    let app = class(db).await;
    app.drop_audit_guards().await;
    drop_fact_guards(&app).await;
    app
}

/// Drop the guards of migrations m20261201_000100 and m20261205_000110.
pub async fn drop_fact_guards(app: &TestApp) {
    let statements: &[&str] = match app.test_db.backend {
        Backend::Postgres => &[
            "DROP TRIGGER session_extension_guard ON session_extension",
            "DROP TRIGGER roster_student_guard ON roster_student",
            "DROP TRIGGER session_extension_no_truncate ON session_extension",
            "DROP TRIGGER roster_student_no_truncate ON roster_student",
        ],
        Backend::Sqlite => &[
            "DROP TRIGGER session_extension_insert_guard",
            "DROP TRIGGER session_extension_update_guard",
            "DROP TRIGGER session_extension_delete_guard",
            "DROP TRIGGER roster_student_insert_guard",
            "DROP TRIGGER roster_student_update_guard",
            "DROP TRIGGER roster_student_delete_guard",
        ],
    };
    for sql in statements {
        app.exec(sql).await.expect(sql);
    }
}

async fn refused(app: &TestApp, sql: &str, needle: &str) {
    let err = app.exec(sql).await.expect_err(sql);
    assert!(err.to_string().contains(needle), "{sql}: {err}");
}

async fn tamper(app: &TestApp, sql: &str) {
    let n = app.exec(sql).await.expect(sql);
    assert!(n > 0, "{sql} changed nothing");
}

/// `audit verify` exits 1 and prints every line.
fn caught(app: &TestApp, lines: &[String]) {
    let (code, out) = verify(app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("records TAMPERED"), "{out}");
    for line in lines {
        assert!(out.contains(line.as_str()), "missing {line:?} in:\n{out}");
    }
}

/// The seq of the newest entry of `action`.
async fn newest(app: &TestApp, action: &str) -> i64 {
    app.scalar(&format!(
        "SELECT MAX(seq) FROM audit_log WHERE action = '{action}'"
    ))
    .await
}

async fn extensions_and_the_roster_change_only_under_their_entry(db: TestDb) {
    let app = class(&db).await;
    for sql in [
        "UPDATE session_extension SET closes_at = created_at",
        "UPDATE session_extension SET student = 'mallory' WHERE id = 2",
        "UPDATE session_extension SET session_id = session_id",
        "DELETE FROM session_extension",
        "INSERT INTO session_extension (id, session_id, student, closes_at, created_at, updated_at) \
         SELECT 9, session_id, 'mallory', closes_at, created_at, updated_at FROM session_extension WHERE id = 1",
    ] {
        refused(&app, sql, "session_extension").await;
    }
    for sql in [
        "UPDATE roster_student SET github_username = 'mallory'",
        "UPDATE roster_student SET github_id = 666 WHERE id = 1",
        "DELETE FROM roster_student",
        "INSERT INTO roster_student (id, org, identifier, github_username, github_id, name, created_at, updated_at) \
         SELECT 9, org, 'mallory@uni.test', 'mallory', NULL, 'M', created_at, updated_at FROM roster_student WHERE id = 1",
    ] {
        refused(&app, sql, "roster_student").await;
    }
    // Whose attempt it is stays read-only too (migration m20261129_000011).
    for sql in [
        "UPDATE lab_attempt SET sender_id = 666",
        "UPDATE lab_attempt SET repository_full_name = 'course/lab1-mallory'",
    ] {
        refused(&app, sql, "graded columns are read-only").await;
    }
    if db.backend == Backend::Postgres {
        refused(&app, "TRUNCATE session_extension", "refused").await;
        refused(&app, "TRUNCATE roster_student", "refused").await;
    }
    // An entry of another kind, or of another extension, does not open the door: the newest entry is now
    // extension 2's.
    refused(
        &app,
        "UPDATE session_extension SET closes_at = created_at WHERE id = 1",
        "session_extension",
    )
    .await;
    // The audited commands still work: moving an extension, re-importing a changed roster.
    app.extend_lab1("alice", "2026-02-05T00:00:00Z");
    import_roster(&app, "carol@uni.test,carol,,Carol C\n");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM roster_student").await, 3);
    let out = verify_ok(&app, &[]);
    assert!(
        out.contains("2 attempts, 1 session, 0 installations, 2 extensions, 3 roster students"),
        "{out}"
    );
}

async fn a_moved_extension_is_named(db: TestDb) {
    let app = unguarded_class(&db).await;
    let seq = app
        .scalar(
            "SELECT MAX(seq) FROM audit_log WHERE action = 'lab_session.extended' \
             AND details LIKE '%\"extension_id\":1,%'",
        )
        .await;
    // Extension 1 moved to extension 2's deadline.
    tamper(
        &app,
        "UPDATE session_extension SET closes_at = \
         (SELECT closes_at FROM session_extension WHERE id = 2) WHERE id = 1",
    )
    .await;
    caught(
        &app,
        &[format!(
            "extension 1: closes_at is 2026-02-04T00:00:00Z, the log says 2026-02-03T00:00:00Z (seq {seq})"
        )],
    );
    // Handing the extension to another student is named too.
    tamper(
        &app,
        "UPDATE session_extension SET student = 'mallory' WHERE id = 2",
    )
    .await;
    caught(
        &app,
        &["extension 2: student_sha256 (of the student's name) is ".to_owned()],
    );
}

async fn an_extension_inserted_by_hand_is_named(db: TestDb) {
    let app = unguarded_class(&db).await;
    tamper(
        &app,
        "INSERT INTO session_extension (id, session_id, student, closes_at, created_at, updated_at) \
         SELECT 9, session_id, 'mallory', closes_at, created_at, updated_at FROM session_extension WHERE id = 1",
    )
    .await;
    caught(&app, &["extension 9: no audit entry records it".to_owned()]);
}

async fn an_edited_roster_row_is_named(db: TestDb) {
    let app = unguarded_class(&db).await;
    let seq = newest(&app, "roster.imported").await;
    // Linking someone else's GitHub account to a student gives that student their pushes.
    tamper(
        &app,
        "UPDATE roster_student SET github_username = 'mallory', github_id = 666 WHERE identifier = 'bob@uni.test'",
    )
    .await;
    let id = app
        .scalar("SELECT id FROM roster_student WHERE identifier = 'bob@uni.test'")
        .await;
    caught(
        &app,
        &[
            format!("roster student {id}: row_sha256 (of org, identifier, github_username, github_id and name) is "),
            format!("(seq {seq})"),
        ],
    );
    let alice = app
        .scalar("SELECT id FROM roster_student WHERE identifier = 'alice@uni.test'")
        .await;
    let (_, out) = verify(&app, &[]);
    assert!(!out.contains(&format!("roster student {alice}:")), "{out}");
}

/// With the triggers dropped, edit `set` of attempt 2: `audit verify` names the field.
async fn attempt_edit_is_named(db: TestDb, set: &str, field: &str) {
    let app = unguarded_class(&db).await;
    let seq = app
        .scalar("SELECT audit_seq FROM lab_attempt WHERE id = 2")
        .await;
    tamper(&app, &format!("UPDATE lab_attempt SET {set} WHERE id = 2")).await;
    caught(
        &app,
        &[format!("attempt 2: {field}"), format!("(seq {seq})")],
    );
    let (_, out) = verify(&app, &[]);
    assert!(!out.contains("attempt 1:"), "{out}");
}

async fn an_edited_sender_id_is_named(db: TestDb) {
    attempt_edit_is_named(db, "sender_id = 666", "sender_id is 666, the log says ").await;
}

async fn an_edited_repository_name_is_named(db: TestDb) {
    attempt_edit_is_named(
        db,
        "repository_full_name = 'course/lab1-mallory'",
        "repository_full_name_sha256 (of the repository's owner/name) is ",
    )
    .await;
}

async fn an_edited_pusher_login_is_named(db: TestDb) {
    attempt_edit_is_named(
        db,
        "pusher_login = 'mallory'",
        "pusher_login_sha256 (of the pusher's login) is ",
    )
    .await;
}
