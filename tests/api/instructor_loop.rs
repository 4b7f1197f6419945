//! The instructor's loop where a real course trips (issue 23): roster upkeep (duplicates refused,
//! `--replace` with its diff, `roster remove`), extensions without typos (`session extend` suggests the
//! student, `--shorten`, `--remove`), and names in the summaries. Everything audited and verified.

use serde_json::Value;

use crate::backend_tests;
use crate::grader::{class, scratch_file};
use crate::helpers::cli_stdout as ok;
use crate::helpers::{spawn_app, TestApp, TestDb};

backend_tests!(
    roster_duplicates_are_refused_naming_both_lines,
    roster_replace_prints_the_diff_and_applies_it,
    roster_remove_takes_students_off_the_summary,
    extend_refuses_typos_and_removes,
);

/// A failing CLI run: its exit code and standard error.
fn fails(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let out = app.cli(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The roster identifiers of the `lab1` summary, and their statuses.
fn summary_students(app: &TestApp) -> Vec<(Value, Value)> {
    let rows: Value = serde_json::from_str(&app.lab1_summary("json")).expect("json");
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["roster_identifier"].clone(), r["status"].clone()))
        .collect()
}

async fn roster_duplicates_are_refused_naming_both_lines(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let counts = app.counts().await;
    let second = scratch_file(
        &app,
        "dup.csv",
        b"identifier,github_username,github_id,name\n\
          x@uni.test,xavier,,X\n\
          y@uni.test,yan,,Y\n\
          z@uni.test,Xavier,,Z\n",
    );
    let (code, err) = fails(&app, &["roster", "import", "--org", "course", &second]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("line 4, column 2 (github_username): \"Xavier\" is also on line 2"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    let ids = scratch_file(
        &app,
        "dup-id.csv",
        b"identifier,github_username,github_id\nx@uni.test,x,5\ny@uni.test,y,5\n",
    );
    let (_, err) = fails(&app, &["roster", "import", "--org", "course", &ids]);
    assert!(
        err.contains("line 3, column 3 (github_id): \"5\" is also on line 2"),
        "{err}"
    );
    // alice (and her id 101) already belong to alice@uni.test, who stays.
    let linked = scratch_file(
        &app,
        "linked.csv",
        b"identifier,github_username,github_id\nnew@uni.test,ALICE,\n",
    );
    let (_, err) = fails(&app, &["roster", "import", "--org", "course", &linked]);
    assert!(
        err.contains(
            "line 2: github_username \"ALICE\" is already linked to roster identifier \"alice@uni.test\""
        ),
        "{err}"
    );
    let linked_id = scratch_file(
        &app,
        "linked-id.csv",
        b"identifier,github_username,github_id\nnew@uni.test,newbie,101\n",
    );
    let (_, err) = fails(&app, &["roster", "import", "--org", "course", &linked_id]);
    assert!(err.contains("github_id \"101\" is already linked to roster identifier \"alice@uni.test\""), "{err}");
    assert_eq!(app.counts().await, counts);
    app.assert_audit_verifies();
}

/// The class's roster with dave gone, bob renamed and frank added.
const REPLACEMENT: &[u8] = b"identifier,github_username,github_id,name\n\
alice@uni.test,alice,101,Alice A\n\
bob@uni.test,Bob,,Robert B\n\
carol@uni.test,carol,,Carol C\n\
erin@uni.test,erin,,Erin E\n\
frank@uni.test,frank,,Frank F\n";

async fn roster_replace_prints_the_diff_and_applies_it(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let file = scratch_file(&app, "replacement.csv", REPLACEMENT);
    let before = ok(&app.cli(&["roster", "list", "--org", "course", "--format", "csv"]));
    let entries = app.scalar("SELECT COUNT(*) FROM audit_log").await;
    let diff = "+ frank@uni.test (frank, \"Frank F\")\n\
                ~ bob@uni.test: name \"Bob B\" → \"Robert B\"\n\
                - dave@uni.test (dave, \"Dave D\")\n";
    let dry = ok(&app.cli(&[
        "roster", "import", "--org", "course", "--replace", "--dry-run", &file,
    ]));
    assert_eq!(
        dry,
        format!(
            "{diff}roster of course: 1 added, 1 updated, 1 removed, 3 unchanged (dry run: nothing was changed)\n"
        )
    );
    assert_eq!(
        ok(&app.cli(&["roster", "list", "--org", "course", "--format", "csv"])),
        before
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_log").await, entries);
    let applied = ok(&app.cli(&["roster", "import", "--org", "course", "--replace", &file]));
    assert_eq!(
        applied,
        format!("{diff}roster of course: 1 added, 1 updated, 1 removed, 3 unchanged\n")
    );
    let list = ok(&app.cli(&["roster", "list", "--org", "course", "--format", "csv"]));
    assert!(!list.contains("dave"), "{list}");
    assert!(list.contains("frank@uni.test,frank,,Frank F"), "{list}");
    assert_eq!(app.audit_count("roster.removed", Some("roster")).await, 1);
    // dave is no longer missing; frank, who never pushed, is.
    let students = summary_students(&app);
    assert!(!students.iter().any(|(id, _)| id == "dave@uni.test"), "{students:?}");
    assert!(
        students.contains(&("frank@uni.test".into(), "missing".into())),
        "{students:?}"
    );
    // Again: nothing to change.
    let again = ok(&app.cli(&["roster", "import", "--org", "course", "--replace", &file]));
    assert_eq!(again, "roster of course: 0 added, 0 updated, 0 removed, 5 unchanged\n");
    app.assert_audit_verifies();
}

async fn roster_remove_takes_students_off_the_summary(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    assert!(summary_students(&app).contains(&("dave@uni.test".into(), "missing".into())));
    let counts = app.counts().await;
    // A typo: nothing removed, the closest identifier suggested.
    let (code, err) = fails(
        &app,
        &["roster", "remove", "--org", "course", "dave@uni.test", "erin@uni.tset"],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("has no identifier \"erin@uni.tset\" (did you mean \"erin@uni.test\"?)"),
        "{err}"
    );
    assert_eq!(app.counts().await, counts);
    let out = ok(&app.cli(&["roster", "remove", "--org", "course", "dave@uni.test"]));
    assert_eq!(out, "- dave@uni.test (dave, \"Dave D\")\nroster of course: 1 removed\n");
    let students = summary_students(&app);
    assert!(!students.iter().any(|(id, _)| id == "dave@uni.test"), "{students:?}");
    let details = app.audit_details("roster.removed").await;
    assert_eq!(details.len(), 1);
    assert!(!details[0].contains("dave"), "digests only: {}", details[0]);
    // Removing by hand is refused: only under its entry.
    let err = app
        .exec("DELETE FROM roster_student")
        .await
        .expect_err("guarded");
    assert!(err.to_string().contains("roster_student"), "{err}");
    // Back again: a new row, verified like the rest.
    let back = scratch_file(
        &app,
        "dave.csv",
        b"identifier,github_username,name\ndave@uni.test,dave,Dave D\n",
    );
    ok(&app.cli(&["roster", "import", "--org", "course", &back]));
    assert!(summary_students(&app).contains(&("dave@uni.test".into(), "missing".into())));
    let report = app.assert_audit_verifies();
    assert!(!report.contains("TAMPERED"), "{report}");
}

/// The `lab1` summary row of `identifier`.
fn row_of(app: &TestApp, identifier: &str) -> Value {
    let rows: Value = serde_json::from_str(&app.lab1_summary("json")).expect("json");
    rows.as_array()
        .expect("rows")
        .iter()
        .find(|r| r["roster_identifier"] == identifier)
        .cloned()
        .unwrap_or_else(|| panic!("no row {identifier}"))
}

fn extend(app: &TestApp, more: &[&str]) -> std::process::Output {
    let mut args = vec!["session", "extend", "--slug", "lab1"];
    args.extend_from_slice(more);
    app.cli(&args)
}

async fn extend_refuses_typos_and_removes(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let counts = app.counts().await;
    let entries = app.scalar("SELECT COUNT(*) FROM audit_log").await;
    // A typo: refused with the closest student, nothing changed.
    let out = extend(&app, &["--student", "alcie", "--closes", "2026-02-03 00:00"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"alcie\" is neither on the roster of course nor has pushed to session \"lab1\": did you mean alice?"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    let out = extend(&app, &["--student", "erin@uni.tset", "--closes", "2026-02-03 00:00"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean erin@uni.test?"));
    assert_eq!(app.counts().await, counts);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_log").await, entries);
    // Someone who pushed (not on the roster), or anyone with --force.
    ok(&extend(&app, &["--student", "zed", "--closes", "2026-02-03 00:00"]));
    ok(&extend(
        &app,
        &["--student", "nobody", "--closes", "2026-02-03 00:00", "--force"],
    ));
    // Earlier than the session's deadline: only with --shorten, and then it applies.
    let out = extend(&app, &["--student", "bob", "--closes", "2026-01-01 00:02"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shorten"));
    ok(&extend(
        &app,
        &["--student", "bob", "--closes", "2026-01-01 00:02", "--shorten"],
    ));
    let bob = row_of(&app, "bob@uni.test");
    assert_eq!(bob["deadline"], "2026-01-01T00:02:00Z");
    assert_eq!(bob["status"], "late_only");
    // alice: her late push counts with the extension, and no longer once it is removed.
    ok(&extend(&app, &["--student", "alice", "--closes", "2026-02-03 00:00"]));
    let alice = row_of(&app, "alice@uni.test");
    assert_eq!((alice["late_attempts"].clone(), alice["final"]["attempt_number"].clone()), (0.into(), 3.into()));
    let out = ok(&extend(&app, &["--student", "alice", "--remove"]));
    assert!(out.starts_with("removed the extension of alice in session lab1 of course"), "{out}");
    let alice = row_of(&app, "alice@uni.test");
    assert_eq!(alice["deadline"], "2026-02-01T00:00:00Z");
    assert_eq!((alice["late_attempts"].clone(), alice["final"]["attempt_number"].clone()), (1.into(), 2.into()));
    assert_eq!(app.audit_count("lab_session.extension_removed", None).await, 1);
    let out = extend(&app, &["--student", "alcie", "--remove"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no extension in session \"lab1\""));
    // By hand: refused.
    let err = app.exec("DELETE FROM session_extension").await.expect_err("guarded");
    assert!(err.to_string().contains("session_extension"), "{err}");
    // Again after a removal: a new row, and the log accounts for both.
    ok(&extend(&app, &["--student", "alice", "--closes", "2026-02-04 00:00"]));
    app.assert_audit_verifies();
}
