//! The instructor's loop where a real course trips (issue 23): roster upkeep (duplicates refused,
//! `--replace` with its diff, `roster remove`), extensions without typos (`session extend` suggests the
//! student, `--shorten`, `--remove`), and names in the summaries. Everything audited and verified.

use serde_json::Value;

use crate::backend_tests;
use crate::grader::{class, scratch_file};
use crate::helpers::cli_stdout as ok;
use crate::helpers::{push_payload, sha, spawn_app, TestApp, TestDb};
use crate::tokens::create_token;

backend_tests!(
    roster_duplicates_are_refused_naming_both_lines,
    roster_replace_prints_the_diff_and_applies_it,
    roster_remove_takes_students_off_the_summary,
    extend_refuses_typos_and_removes,
    operators_get_exit_codes_json_errors_and_plain_reasons,
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

/// `roster import --org course` of `csv` (written to `name`), which must fail: its exit code and stderr.
fn import_fails(app: &TestApp, name: &str, csv: &[u8]) -> (Option<i32>, String) {
    let file = scratch_file(app, name, csv);
    fails(app, &["roster", "import", "--org", "course", &file])
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
    let (code, err) = import_fails(
        &app,
        "dup.csv",
        b"identifier,github_username,github_id,name\n\
          x@uni.test,xavier,,X\n\
          y@uni.test,yan,,Y\n\
          z@uni.test,Xavier,,Z\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("line 4, column 2 (github_username): \"Xavier\" is also on line 2"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    let (_, err) = import_fails(
        &app,
        "dup-id.csv",
        b"identifier,github_username,github_id\nx@uni.test,x,5\ny@uni.test,y,5\n",
    );
    assert!(
        err.contains("line 3, column 3 (github_id): \"5\" is also on line 2"),
        "{err}"
    );
    // alice (and her id 101) already belong to alice@uni.test, who stays.
    let (_, err) = import_fails(
        &app,
        "linked.csv",
        b"identifier,github_username,github_id\nnew@uni.test,ALICE,\n",
    );
    assert!(
        err.contains(
            "line 2: github_username \"ALICE\" is already linked to roster identifier \"alice@uni.test\""
        ),
        "{err}"
    );
    let (_, err) = import_fails(
        &app,
        "linked-id.csv",
        b"identifier,github_username,github_id\nnew@uni.test,newbie,101\n",
    );
    assert!(
        err.contains("github_id \"101\" is already linked to roster identifier \"alice@uni.test\""),
        "{err}"
    );
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
        "roster",
        "import",
        "--org",
        "course",
        "--replace",
        "--dry-run",
        &file,
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
    assert!(
        !students.iter().any(|(id, _)| id == "dave@uni.test"),
        "{students:?}"
    );
    assert!(
        students.contains(&("frank@uni.test".into(), "missing".into())),
        "{students:?}"
    );
    // Again: nothing to change.
    let again = ok(&app.cli(&["roster", "import", "--org", "course", "--replace", &file]));
    assert_eq!(
        again,
        "roster of course: 0 added, 0 updated, 0 removed, 5 unchanged\n"
    );
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
        &[
            "roster",
            "remove",
            "--org",
            "course",
            "dave@uni.test",
            "erin@uni.tset",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("has no identifier \"erin@uni.tset\" (did you mean \"erin@uni.test\"?)"),
        "{err}"
    );
    assert_eq!(app.counts().await, counts);
    let out = ok(&app.cli(&["roster", "remove", "--org", "course", "dave@uni.test"]));
    assert_eq!(
        out,
        "- dave@uni.test (dave, \"Dave D\")\nroster of course: 1 removed\n"
    );
    let students = summary_students(&app);
    assert!(
        !students.iter().any(|(id, _)| id == "dave@uni.test"),
        "{students:?}"
    );
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
    let out = extend(
        &app,
        &["--student", "alcie", "--closes", "2026-02-03 00:00"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"alcie\" is neither on the roster of course nor has pushed to session \"lab1\": did you mean alice?"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    let out = extend(
        &app,
        &["--student", "erin@uni.tset", "--closes", "2026-02-03 00:00"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean erin@uni.test?"));
    assert_eq!(app.counts().await, counts);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM audit_log").await, entries);
    // Someone who pushed (not on the roster), or anyone with --force.
    ok(&extend(
        &app,
        &["--student", "zed", "--closes", "2026-02-03 00:00"],
    ));
    ok(&extend(
        &app,
        &[
            "--student",
            "nobody",
            "--closes",
            "2026-02-03 00:00",
            "--force",
        ],
    ));
    // Earlier than the session's deadline: only with --shorten, and then it applies.
    let out = extend(&app, &["--student", "bob", "--closes", "2026-01-01 00:02"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shorten"));
    ok(&extend(
        &app,
        &[
            "--student",
            "bob",
            "--closes",
            "2026-01-01 00:02",
            "--shorten",
        ],
    ));
    let bob = row_of(&app, "bob@uni.test");
    assert_eq!(bob["deadline"], "2026-01-01T00:02:00Z");
    assert_eq!(bob["status"], "late_only");
    // alice: her late push counts with the extension, and no longer once it is removed.
    ok(&extend(
        &app,
        &["--student", "alice", "--closes", "2026-02-03 00:00"],
    ));
    let alice = row_of(&app, "alice@uni.test");
    assert_eq!(
        (
            alice["late_attempts"].clone(),
            alice["final"]["attempt_number"].clone()
        ),
        (0.into(), 3.into())
    );
    let out = ok(&extend(&app, &["--student", "alice", "--remove"]));
    assert!(
        out.starts_with("removed the extension of alice in session lab1 of course"),
        "{out}"
    );
    let alice = row_of(&app, "alice@uni.test");
    assert_eq!(alice["deadline"], "2026-02-01T00:00:00Z");
    assert_eq!(
        (
            alice["late_attempts"].clone(),
            alice["final"]["attempt_number"].clone()
        ),
        (1.into(), 2.into())
    );
    assert_eq!(
        app.audit_count("lab_session.extension_removed", None).await,
        1
    );
    let out = extend(&app, &["--student", "alcie", "--remove"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no extension in session \"lab1\""));
    // By hand: refused.
    let err = app
        .exec("DELETE FROM session_extension")
        .await
        .expect_err("guarded");
    assert!(err.to_string().contains("session_extension"), "{err}");
    // Again after a removal: a new row, and the log accounts for both.
    ok(&extend(
        &app,
        &["--student", "alice", "--closes", "2026-02-04 00:00"],
    ));
    app.assert_audit_verifies();
}

/// Each command's own flags first, the shared ones under "Global options", an example, the exit codes.
#[test]
fn help_lists_the_command_s_own_flags_first() {
    for cmd in [
        &["session", "extend"][..],
        &["roster", "import"],
        &["attempts", "list"],
        &["serve"],
        &["doctor"],
        &["audit", "verify"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .args(&args)
            .output()
            .expect("labtrail --help");
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        let at = |s: &str| {
            help.find(s)
                .unwrap_or_else(|| panic!("{args:?}: no {s:?} in\n{help}"))
        };
        assert!(at("Options:") < at("Global options:"), "{help}");
        assert!(at("Global options:") < at("--database-url"), "{help}");
        assert!(at("--database-url") < at("Example:\n  "), "{help}");
        assert!(at("Example:") < at("Exit status: 0 "), "{help}");
    }
}

async fn operators_get_exit_codes_json_errors_and_plain_reasons(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    // An unknown session exits 2, for `attempts list` like the rest.
    for args in [
        &["attempts", "list", "--session", "nope"][..],
        &["attempts", "summary", "--session", "nope"],
        &["grades", "export", "--session", "nope"],
    ] {
        let (code, err) = fails(&app, args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("no session \"nope\""), "{err}");
    }
    // `attempts list --student` by login or roster identifier.
    let listed: Value = serde_json::from_str(&ok(&app.cli(&[
        "attempts",
        "list",
        "--session",
        "lab1",
        "--student",
        "alice@uni.test",
        "--format",
        "json",
    ])))
    .expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    assert!(listed
        .as_array()
        .expect("rows")
        .iter()
        .all(|a| a["repository"] == "course/lab1-alice"));
    // The read API's own rejections are JSON too.
    let token = create_token(&app, "admin", "admin", None);
    for (path, status, needle) in [
        ("/api/v1/sessions/lab1/attempts?late=yes", 400, "late"),
        ("/api/v1/attempts/abc", 400, "abc"),
    ] {
        let resp = app.get_as(path, &token).await;
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let body: Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{path}: {body}");
    }
    // A push to the right repository on a branch the session does not count says so.
    ok(&app.cli(&[
        "session",
        "create",
        "--org",
        "course",
        "--slug",
        "lab2",
        "--title",
        "Lab 2",
        "--repos",
        "lab2-*",
        "--opens",
        "2026-01-01 00:00",
        "--closes",
        "2026-02-01 00:00",
    ]));
    let mut p = push_payload(
        "course",
        "lab2-alice",
        21,
        &sha(40),
        crate::grader::OPENS + 900,
    );
    p["ref"] = "refs/heads/wip".into();
    assert_eq!(app.deliver_push("d-wip", &p).await.status().as_u16(), 202);
    app.drain().await;
    let ignored = app.ignored_deliveries();
    let reason = ignored[0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.starts_with(
            "branch wip is not counted by lab session lab2 of course (branches: default"
        ),
        "{reason}"
    );
}
