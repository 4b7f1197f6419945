//! `audit verify` compares the graded rows with the newest entries that set them (issue 7 item 1) and
//! the checkpoint file's successive notes with each other (item 5): each tamper an attacker with
//! database access could do after dropping the guards is named, exit 1; a retention erase and a clean
//! class stay exit 0.

use labtrail::audit::checkpoint::{self, AuditKey, Checkpoint};
use labtrail::audit::Hash;

use crate::audit_support::{
    archive, checkpoint as sign_checkpoint, more, record, retention_run_now, verify, verify_ok,
};
use crate::backend_tests;
use crate::helpers::{fixture, spawn_app, TestApp, TestDb, ORIGIN};

backend_tests!(
    a_clean_class_verifies,
    a_flipped_late_flag_is_named,
    a_moved_push_time_is_named,
    a_deleted_attempt_is_named,
    a_renamed_file_is_named,
    a_moved_session_deadline_is_named,
    a_changed_session_pattern_is_named,
    an_attempt_inserted_by_hand_is_named,
    an_edited_installation_is_named,
    a_retention_erase_stays_legal,
    a_forked_checkpoint_in_the_file_is_caught,
    a_shrinking_checkpoint_file_is_caught,
);

/// A session, three recorded pushes (attempts 1..=3) and an installation; then the guards dropped.
async fn class(db: &TestDb) -> TestApp {
    let app = spawn_app(db).await;
    record(&app, 3).await;
    let body = fixture("octokit-webhooks/installation/created.payload.json");
    app.deliver("installation", "inst-1", &body).await;
    app.drain().await;
    assert_eq!(app.settled("inst-1").await.status, "processed");
    app.drop_audit_guards().await;
    app
}

/// The seq of the newest entry of `action` about `subject`.
async fn seq_of(app: &TestApp, action: &str, subject: &str) -> i64 {
    app.scalar(&format!(
        "SELECT MAX(seq) FROM audit_log WHERE action = '{action}' AND subject = '{subject}'"
    ))
    .await
}

async fn tamper(app: &TestApp, sql: &str) {
    let n = app.exec(sql).await.expect(sql);
    assert!(n > 0, "{sql} changed nothing");
}

/// `audit verify` exits 1 and prints every expected line.
fn caught(app: &TestApp, lines: &[String]) -> String {
    let (code, out) = verify(app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("records TAMPERED"), "{out}");
    for line in lines {
        assert!(out.contains(line.as_str()), "missing {line:?} in:\n{out}");
    }
    out
}

/// Tamper with `sqls` in turn; `audit verify` must then name the tamper with every line of
/// `lines(seq)`, `seq` being that of the newest entry of `entry` (action, subject).
async fn tamper_named(
    app: &TestApp,
    sqls: &[&str],
    (action, subject): (&str, &str),
    lines: impl FnOnce(i64) -> Vec<String>,
) -> String {
    for sql in sqls {
        tamper(app, sql).await;
    }
    let seq = seq_of(app, action, subject).await;
    caught(app, &lines(seq))
}

async fn a_clean_class_verifies(db: TestDb) {
    let app = class(&db).await;
    let out = verify_ok(&app, &[]);
    assert!(
        out.contains("records match the log: 3 attempts, 1 session, 1 installation"),
        "{out}"
    );
}

async fn a_flipped_late_flag_is_named(db: TestDb) {
    let app = class(&db).await;
    let out = tamper_named(
        &app,
        &["UPDATE lab_attempt SET late = NOT late WHERE id = 2"],
        ("lab_attempt.recorded", "lab_attempt:2"),
        |seq| {
            vec![format!(
                "attempt 2: late is true, the log says false (seq {seq})"
            )]
        },
    )
    .await;
    assert!(
        !out.contains("attempt 1:") && !out.contains("attempt 3:"),
        "{out}"
    );
}

/// The tests of one tamper each, on a fresh [`class`]: `name: [statements], (action, subject), |seq|
/// lines` runs the statements in turn, and `audit verify` must name the tamper with every line, `seq`
/// being that of the newest entry of (action, subject) ([`tamper_named`]).
macro_rules! tamper_tests {
    ($($(#[$doc:meta])* $name:ident: [$($sql:expr),+ $(,)?], $entry:expr, |$seq:ident| $lines:expr;)+) => {
        $(
            $(#[$doc])*
            async fn $name(db: TestDb) {
                let app = class(&db).await;
                tamper_named(&app, &[$($sql),+], $entry, |$seq| $lines).await;
            }
        )+
    };
}

tamper_tests! {
    /// Pushed at 1767225602 (the third push), recorded with that time.
    a_moved_push_time_is_named:
        ["UPDATE lab_attempt SET pushed_at = received_at WHERE id = 3"],
        ("lab_attempt.recorded", "lab_attempt:3"),
        |seq| vec![
            "attempt 3: pushed_at is ".to_owned(),
            format!(", the log says 2026-01-01T00:00:02Z (seq {seq})"),
        ];
    a_deleted_attempt_is_named:
        [
            "DELETE FROM lab_attempt_file WHERE attempt_id = 1",
            "DELETE FROM lab_attempt WHERE id = 1",
        ],
        ("lab_attempt.recorded", "lab_attempt:1"),
        |seq| vec![format!(
            "attempt 1: the row is gone, and the log has no erase entry for it \
             (its newest entry is seq {seq})"
        )];
    a_renamed_file_is_named:
        [
            "UPDATE lab_attempt_file SET path = 'renamed.txt' WHERE id = \
           (SELECT MIN(id) FROM lab_attempt_file WHERE attempt_id = 2)",
        ],
        ("lab_attempt.recorded", "lab_attempt:2"),
        |seq| vec![
            "attempt 2: content_sha256 (of the ref and the file list) is ".to_owned(),
            format!("(seq {seq})"),
        ];
    a_moved_session_deadline_is_named:
        ["UPDATE lab_session SET closes_at = opens_at WHERE id = 1"],
        ("lab_session.created", "lab_session:1"),
        |seq| vec![format!(
            "session 1: closes_at is 2026-01-01T00:00:00Z, \
             the log says 2026-02-01T00:00:00Z (seq {seq})"
        )];
    a_changed_session_pattern_is_named:
        ["UPDATE lab_session SET repo_pattern = 'lab*' WHERE id = 1"],
        ("lab_session.created", "lab_session:1"),
        |seq| vec![
            "session 1: content_sha256 (of org, slug, title, repo_pattern and branch_policy) is "
                .to_owned(),
            format!("(seq {seq})"),
        ];
    an_edited_installation_is_named:
        ["UPDATE installation SET repository_selection = 'all' WHERE id = 957387"],
        ("installation.created", "installation:957387"),
        |seq| vec![format!(
            "installation 957387: repository_selection is all, \
             the log says selected (seq {seq})"
        )];
}

async fn an_attempt_inserted_by_hand_is_named(db: TestDb) {
    let app = class(&db).await;
    tamper(
        &app,
        "INSERT INTO lab_attempt (id, session_id, installation_id, repository_id, \
         repository_full_name, git_ref, before_sha, after_sha, forced, created_branch, pusher_login, \
         sender_id, pushed_at, received_at, delivery_id, attempt_number, late, file_count, \
         files_source, files_complete, check_run_id, audit_seq, check_run_tries, files_tries) \
         SELECT 99, session_id, installation_id, repository_id, repository_full_name, git_ref, \
         before_sha, 'forged', forced, created_branch, pusher_login, sender_id, pushed_at, \
         received_at, 'forged-delivery', 9, late, file_count, files_source, files_complete, NULL, \
         audit_seq, 0, 0 FROM lab_attempt WHERE id = 1",
    )
    .await;
    caught(&app, &["attempt 99: no audit entry records it".to_owned()]);
}

async fn a_retention_erase_stays_legal(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 3).await;
    archive(&app, "lab1");
    retention_run_now(&app);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM lab_attempt").await, 0);
    let out = verify_ok(&app, &[]);
    assert!(
        out.contains("records match the log: 0 attempts, 1 session,"),
        "{out}"
    );
    // Putting an erased attempt back is not.
    app.drop_audit_guards().await;
    let sql = "INSERT INTO lab_attempt (id, session_id, installation_id, repository_id, \
         repository_full_name, git_ref, before_sha, after_sha, forced, created_branch, \
         pushed_at, received_at, delivery_id, attempt_number, late, file_count, files_source, \
         files_complete, audit_seq, check_run_tries, files_tries) \
         SELECT 2, id, 1, 7, 'course/lab1-alice', 'refs/heads/main', 'a', 'b', false, false, \
         opens_at, opens_at, 'back', 2, false, 0, 'payload', true, 2, 0, 0 FROM lab_session";
    tamper_named(
        &app,
        &[sql],
        ("lab_attempt.erased", "lab_attempt:2"),
        |seq| {
            vec![format!(
                "attempt 2: the row exists, but the log says it was erased (seq {seq})"
            )]
        },
    )
    .await;
}

/// The notes of the app's checkpoint file, in order.
fn file_notes(db: &TestDb) -> Vec<String> {
    let text = std::fs::read_to_string(db.checkpoint_file()).expect("checkpoint file");
    checkpoint::split_notes(&text)
}

fn write_notes(db: &TestDb, name: &str, notes: &[String]) -> String {
    let path = db.scratch_dir().join(name);
    std::fs::write(&path, notes.join("\n")).expect("write notes");
    path.display().to_string()
}

/// Two pushes, a signed checkpoint, two more, another: the app and the checkpoint file's two notes.
async fn two_checkpoints(db: &TestDb) -> (TestApp, Vec<String>) {
    let app = spawn_app(db).await;
    record(&app, 2).await;
    sign_checkpoint(&app);
    more(&app, 2, 2).await;
    sign_checkpoint(&app);
    let notes = file_notes(db);
    assert_eq!(notes.len(), 2);
    (app, notes)
}

/// `audit verify --checkpoints` of the file `path` exits 1 and names its note #2 and `why`.
fn second_note_caught(app: &TestApp, path: &str, why: &str) {
    let (code, out) = verify(app, &["--checkpoints", path]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("note #2 of {path}")) && out.contains(why),
        "{out}"
    );
}

async fn a_forked_checkpoint_in_the_file_is_caught(db: TestDb) {
    let (app, notes) = two_checkpoints(&db).await;
    let path = write_notes(&db, "good.log", &notes);
    verify_ok(&app, &["--checkpoints", &path]);
    // A note of an in-between size, signed by the log's key, whose tree is not the log's: no other
    // note has its size, so only the consistency of successive notes catches it.
    let signer = AuditKey::load(&db.key_path()).expect("key");
    let key = signer.verifier();
    let first = Checkpoint::parse_body(&checkpoint::open_note(&notes[0], &key).expect("open"))
        .expect("body");
    let forged = signer.sign_note(
        &Checkpoint {
            origin: ORIGIN.to_owned(),
            size: first.size + 1,
            signs: checkpoint::Signs::RootAndChain {
                root: Hash::new([7; 32]),
                chain: Hash::new([9; 32]),
            },
        }
        .body(),
    );
    let path = write_notes(
        &db,
        "forked.log",
        &[notes[0].clone(), forged, notes[1].clone()],
    );
    second_note_caught(
        &app,
        &path,
        "is not an extension of the tree signed by note #1",
    );
}

async fn a_shrinking_checkpoint_file_is_caught(db: TestDb) {
    let (app, notes) = two_checkpoints(&db).await;
    let path = write_notes(&db, "reversed.log", &[notes[1].clone(), notes[0].clone()]);
    second_note_caught(&app, &path, "the log shrank");
}
