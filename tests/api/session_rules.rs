//! Issue 9, second half: deadline edits and per-student extensions (summary follows, recorded facts and
//! the log stay, `audit verify` passes), time zones in tables, CSV and check runs (JSON stays UTC),
//! overlapping sessions refused, early pushes, the `default` branch policy, attempt numbers by push
//! time, late check runs `neutral`.

use serde_json::Value;

use crate::backend_tests;
use crate::github_files::{app_with_fake, deliver};
use crate::helpers::cli_stdout as ok;
use crate::helpers::{
    push_payload, session_create_args, sha, spawn_app, TestApp, TestDb, JANUARY_2026,
};

backend_tests!(
    extension_and_deadline_edit_change_the_summary_and_stay_verifiable,
    time_zone_in_tables_and_csv_json_stays_utc,
    check_run_shows_local_time_and_the_students_deadline,
    overlap_is_refused_unless_allowed,
    early_push_and_default_branch_policy,
    attempt_numbers_follow_push_time,
);

/// 2026-01-01T00:00:00Z and 2026-02-01T00:00:00Z.
const OPENS: i64 = 1_767_225_600;
const CLOSES: i64 = 1_769_904_000;

const ROSTER: &str = "identifier,github_username,github_id,name\n\
alice@uni.test,alice,101,Alice A\n\
bob@uni.test,bob,102,Bob B\n";

fn refused(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).expect("utf-8")
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("json")
}

/// `session create` through the CLI with the default branch policy.
fn create(app: &TestApp, slug: &str, repos: &str, extra: &[&str]) -> std::process::Output {
    app.cli(&session_create_args(
        "course",
        slug,
        "Lab one",
        repos,
        JANUARY_2026,
        extra,
    ))
}

async fn push_by(app: &TestApp, guid: &str, repo: &str, repo_id: i64, login: (&str, i64), at: i64) {
    let mut p = push_payload(
        "course",
        repo,
        repo_id,
        &sha(repo_id as u64 * 1000 + at as u64 % 1000),
        at,
    );
    p["pusher"]["name"] = login.0.into();
    p["sender"]["login"] = login.0.into();
    p["sender"]["id"] = login.1.into();
    assert_eq!(app.deliver_push(guid, &p).await.status().as_u16(), 202);
}

fn summary(app: &TestApp) -> Vec<Value> {
    serde_json::from_str::<Value>(&app.lab1_summary("json"))
        .expect("json")
        .as_array()
        .expect("rows")
        .clone()
}

fn statuses(rows: &[Value]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["roster_identifier"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn extension_and_deadline_edit_change_the_summary_and_stay_verifiable(db: TestDb) {
    let app = spawn_app(&db).await;
    ok(&create(&app, "lab1", "lab1-*", &[]));
    app.import_roster(ROSTER);
    push_by(&app, "a1", "lab1-alice", 11, ("alice", 101), CLOSES + 3600).await;
    push_by(&app, "b1", "lab1-bob", 12, ("bob", 102), CLOSES + 7200).await;
    app.drain().await;
    let late_only = |who: &str| (who.to_owned(), "late_only".to_owned());
    let on_time = |who: &str| (who.to_owned(), "on_time".to_owned());
    assert_eq!(
        statuses(&summary(&app)),
        [late_only("alice@uni.test"), late_only("bob@uni.test")]
    );

    // Alice (named by roster identifier, any case) gets two hours.
    let out = app.extend_lab1("Alice@Uni.Test", "2026-02-01T02:00:00Z");
    assert!(out.contains("roster alice@uni.test"), "{out}");
    let rows = summary(&app);
    assert_eq!(
        statuses(&rows),
        [on_time("alice@uni.test"), late_only("bob@uni.test")]
    );
    assert_eq!(rows[0]["deadline"], "2026-02-01T02:00:00Z");
    assert_eq!(rows[0]["final"]["attempt_number"], 1);
    assert_eq!(rows[1]["deadline"], "2026-02-01T00:00:00Z");

    // The whole session moves by three hours: Bob is on time too; Alice keeps her own deadline (an
    // extension is the student's deadline as given), and `session edit` says so.
    let out = ok(&app.cli(&[
        "session",
        "edit",
        "--slug",
        "lab1",
        "--closes",
        "2026-02-01T03:00:00Z",
    ]));
    assert!(
        out.contains("note: 1 extension ends before the session's new deadline: alice@uni.test"),
        "{out}"
    );
    let rows = summary(&app);
    assert_eq!(
        statuses(&rows),
        [on_time("alice@uni.test"), on_time("bob@uni.test")]
    );
    assert_eq!(rows[0]["deadline"], "2026-02-01T02:00:00Z");

    // The recorded facts stay: both were late when they were recorded.
    assert!(app.attempts().await.iter().all(|a| a.late));
    let listed = json(&app.cli(&["attempts", "list", "--format", "json"]));
    assert!(listed
        .as_array()
        .expect("rows")
        .iter()
        .all(|a| a["late"] == true));

    // Sessions as JSON show the deadline and the extensions.
    let sessions = json(&app.cli(&["session", "list", "--format", "json"]));
    assert_eq!(sessions[0]["closes_at"], "2026-02-01T03:00:00Z");
    assert_eq!(
        sessions[0]["extensions"],
        serde_json::json!([{ "closes_at": "2026-02-01T02:00:00Z", "student": "alice@uni.test" }])
    );

    // Someone not on the roster: the entry holds a digest, never the login.
    app.extend_lab1_with("zed", "2026-02-02T00:00:00Z", &["--force"]);
    let extended = app.audit_details_json("lab_session.extended").await;
    assert_eq!(extended.len(), 2);
    assert!(extended[0]["roster_student_id"].is_i64(), "{}", extended[0]);
    assert!(extended[1]["student_sha256"].is_string(), "{}", extended[1]);
    for e in &extended {
        let text = e.to_string();
        assert!(!text.contains("alice") && !text.contains("zed"), "{text}");
    }
    let edited = app.audit_details_json("lab_session.edited").await;
    assert_eq!(edited.len(), 1);
    // Details version 2: instants in UTC with microseconds and `Z`.
    assert_eq!(edited[0]["v"], 2);
    assert_eq!(edited[0]["closes_at"], "2026-02-01T03:00:00.000000Z");
    assert!(edited[0].get("title").is_none(), "{}", edited[0]);

    // Bad edits change nothing.
    let before = app.audit_head().await.size;
    let err = refused(&app.cli(&[
        "session",
        "edit",
        "--slug",
        "lab1",
        "--closes",
        "2025-12-01T00:00:00Z",
    ]));
    assert!(err.contains("must close after it opens"), "{err}");
    let err = refused(&app.cli(&["session", "edit", "--slug", "lab1"]));
    assert!(err.contains("nothing to change"), "{err}");
    let err = refused(&app.cli(&[
        "session",
        "edit",
        "--slug",
        "lab1",
        "--timezone",
        "Mars/Olympus",
    ]));
    assert!(err.contains("unknown time zone"), "{err}");
    assert_eq!(app.audit_head().await.size, before);

    // Unarchive.
    ok(&app.cli(&["session", "archive", "--org", "course", "--slug", "lab1"]));
    ok(&app.cli(&["session", "unarchive", "--slug", "lab1"]));
    let err = refused(&app.cli(&["session", "unarchive", "--slug", "lab1"]));
    assert!(err.contains("is not archived"), "{err}");
    assert_eq!(app.audit_count("lab_session.unarchived", None).await, 1);
    let sessions = json(&app.cli(&["session", "list", "--format", "json"]));
    assert_eq!(sessions[0]["archived_at"], Value::Null);

    ok(&app.cli(&["audit", "verify"]));
}

async fn time_zone_in_tables_and_csv_json_stays_utc(db: TestDb) {
    let app = spawn_app(&db).await;
    let err = refused(&create(
        &app,
        "lab1",
        "lab1-*",
        &["--timezone", "Europe/Pariss"],
    ));
    assert!(err.contains("unknown time zone \"Europe/Pariss\""), "{err}");
    // A local deadline in the session's zone.
    ok(&app.cli(&session_create_args(
        "course",
        "lab1",
        "Lab one",
        "lab1-*",
        ("2026-01-01 00:00", "2026-01-31 23:59"),
        &["--timezone", "Europe/Paris"],
    )));
    let sessions = json(&app.cli(&["session", "list", "--format", "json"]));
    assert_eq!(sessions[0]["closes_at"], "2026-01-31T22:59:00Z");
    assert_eq!(sessions[0]["opens_at"], "2025-12-31T23:00:00Z");
    assert_eq!(sessions[0]["timezone"], "Europe/Paris");
    let table = ok(&app.cli(&["session", "list"]));
    assert!(table.contains("2026-01-31 23:59 +01:00"), "{table}");
    assert!(table.contains("Europe/Paris"), "{table}");

    // Pushed 2026-01-10T12:00:00Z = 13:00 in Paris.
    push_by(&app, "p1", "lab1-alice", 11, ("alice", 101), 1_768_046_400).await;
    app.drain().await;
    let csv = ok(&app.cli(&["attempts", "list", "--format", "csv"]));
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let at = header
        .iter()
        .position(|c| *c == "pushed_at")
        .expect("pushed_at");
    assert_eq!(header[at + 1], "pushed_at_local");
    let row: Vec<&str> = lines.next().expect("row").split(',').collect();
    assert_eq!(row[at], "2026-01-10T12:00:00Z");
    assert_eq!(row[at + 1], "2026-01-10 13:00 +01:00");
    let table = ok(&app.cli(&["attempts", "list"]));
    assert!(table.contains("2026-01-10 13:00 +01:00"), "{table}");
    let listed = json(&app.cli(&["attempts", "list", "--format", "json"]));
    assert_eq!(listed[0]["pushed_at"], "2026-01-10T12:00:00Z");
    assert!(listed[0].get("pushed_at_local").is_none());

    let table = ok(&app.cli(&["attempts", "summary", "--session", "lab1"]));
    assert!(table.contains("2026-01-10 13:00 +01:00"), "{table}");
    assert!(table.contains("2026-01-31 23:59 +01:00"), "{table}");
    let csv = app.lab1_summary("csv");
    assert!(csv
        .lines()
        .next()
        .expect("header")
        .contains("final_pushed_at,final_pushed_at_local,"));
    assert!(
        csv.contains(",2026-01-31T22:59:00Z,2026-01-31 23:59 +01:00,"),
        "{csv}"
    );
}

async fn check_run_shows_local_time_and_the_students_deadline(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    fake.add_repo_without_git(1, "course/lab1-bob", 8);
    ok(&app.cli(&[
        "session",
        "edit",
        "--slug",
        "lab1",
        "--timezone",
        "Europe/Paris",
    ]));
    app.extend_lab1("alice", "2026-02-03 12:00");
    // Both pushed 2 h 5 min after the session's deadline (2026-02-01T00:00:00Z).
    let mut p = push_payload("course", "lab1-alice", 7, &sha(70), CLOSES + 7500);
    p["pusher"]["name"] = "alice".into();
    deliver(&app, "tz-1", &p).await;
    let mut p = push_payload("course", "lab1-bob", 8, &sha(80), CLOSES + 7500);
    p["pusher"]["name"] = "bob".into();
    p["sender"]["login"] = "bob".into();
    deliver(&app, "tz-2", &p).await;
    app.drain_check_runs().await;
    let runs = fake.check_runs();
    let run = |sha: &str| runs.iter().find(|r| r.head_sha == sha).expect("run");
    let alice = run(&sha(70));
    assert_eq!(alice.conclusion.as_deref(), Some("success"));
    assert_eq!(alice.title, "Attempt #1: on time");
    assert!(
        alice.summary.contains(
            "| Your deadline | 2026-02-03 12:00 +01:00 (Europe/Paris; extended, the session's is 2026-02-01 01:00 +01:00) |"
        ),
        "{}",
        alice.summary
    );
    assert!(alice
        .summary
        .contains("| Pushed | 2026-02-01 03:05:00 +01:00 (**on time**) |"));
    let bob = run(&sha(80));
    assert_eq!(bob.conclusion.as_deref(), Some("neutral"));
    assert_eq!(bob.title, "Attempt #1: late by 2 h 5 min");
    assert!(
        bob.summary
            .contains("| Your deadline | 2026-02-01 01:00 +01:00 (Europe/Paris) |"),
        "{}",
        bob.summary
    );
}

async fn overlap_is_refused_unless_allowed(db: TestDb) {
    let app = spawn_app(&db).await;
    ok(&create(&app, "lab1", "lab1-*", &[]));
    let before = app.audit_head().await.size;
    let err = refused(&create(&app, "all-labs", "lab*", &[]));
    assert!(err.contains("active session \"lab1\" of course"), "{err}");
    assert!(err.contains("\"lab1-\""), "{err}");
    assert!(err.contains("--allow-overlap"), "{err}");
    let err = refused(&create(&app, "alice", "LAB1-alice", &[]));
    assert!(err.contains("\"lab1\""), "{err}");
    assert_eq!(app.audit_head().await.size, before);
    assert_eq!(
        json(&app.cli(&["session", "list", "--format", "json"]))
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Disjoint patterns, or the same pattern on branches that never meet, are fine; `default` may be
    // any branch, so it meets every policy. Each case: slug, repositories, options, and `None` if the
    // session is created, else what the refusal names.
    let cases: [(&str, &str, &[&str], Option<&str>); 5] = [
        ("lab2", "lab2-*", &["--branches", "main"], None),
        ("lab2-release", "lab2-*", &["--branches", "release/*"], None),
        (
            "lab2-any",
            "lab2-*",
            &["--branches", "release/v?"],
            Some("\"lab2-release\""),
        ),
        (
            "lab1-main",
            "lab1-*",
            &["--branches", "main"],
            Some("\"lab1\""),
        ),
        (
            "lab1-main",
            "lab1-*",
            &["--branches", "main", "--allow-overlap"],
            None,
        ),
    ];
    for (slug, repos, extra, refusal) in cases {
        let out = create(&app, slug, repos, extra);
        match refusal {
            None => {
                ok(&out);
            }
            Some(named) => {
                let err = refused(&out);
                assert!(err.contains(named), "{slug}: {err}");
            }
        }
    }
    // Overlapping with an archived session is no overlap; unarchiving checks again.
    ok(&create(&app, "all-labs", "lab*", &["--allow-overlap"]));
    ok(&app.cli(&[
        "session", "archive", "--org", "course", "--slug", "all-labs",
    ]));
    let err = refused(&app.cli(&["session", "unarchive", "--slug", "all-labs"]));
    assert!(err.contains("overlap"), "{err}");
    ok(&app.cli(&[
        "session",
        "unarchive",
        "--slug",
        "all-labs",
        "--allow-overlap",
    ]));
    ok(&app.cli(&["audit", "verify"]));
}

async fn early_push_and_default_branch_policy(db: TestDb) {
    let app = spawn_app(&db).await;
    ok(&create(&app, "lab1", "lab1-*", &[]));
    let sessions = json(&app.cli(&["session", "list", "--format", "json"]));
    assert_eq!(sessions[0]["branches"], "default");
    push_by(&app, "early", "lab1-alice", 11, ("alice", 101), OPENS - 60).await;
    push_by(&app, "ontime", "lab1-alice", 11, ("alice", 101), OPENS + 60).await;
    // A push to another branch than the repository's default one is not an attempt.
    let mut wip = push_payload("course", "lab1-alice", 11, &sha(99), OPENS + 120);
    wip["ref"] = "refs/heads/wip".into();
    assert_eq!(app.deliver_push("wip", &wip).await.status().as_u16(), 202);
    app.drain().await;
    let d = app.delivery("wip").await;
    assert_eq!(d.status, "ignored");
    let reason = d.last_error.unwrap_or_default();
    assert!(reason.contains("branch wip is not counted"), "{reason}");

    let attempts = json(&app.cli(&["attempts", "list", "--format", "json"]));
    let early: Vec<(bool, bool)> = attempts
        .as_array()
        .expect("rows")
        .iter()
        .map(|a| (a["early"] == true, a["late"] == true))
        .collect();
    assert_eq!(early, [(true, false), (false, false)]);
    let recorded = app.audit_details_json("lab_attempt.recorded").await;
    assert_eq!(recorded[0]["early"], true);
    assert_eq!(recorded[1]["early"], false);

    let rows = summary(&app);
    assert_eq!(rows[0]["early_attempts"], 1);
    assert_eq!(rows[0]["attempts"], 2);
    assert_eq!(rows[0]["final"]["attempt_number"], 2);
    assert_eq!(rows[0]["status"], "on_time");
}

async fn attempt_numbers_follow_push_time(db: TestDb) {
    let app = spawn_app(&db).await;
    ok(&create(&app, "lab1", "lab1-*", &["--branches", "all"]));
    // Pushed at 10:00 but arrives first; then one pushed at 09:00; then one at 11:00.
    let t = |h: i64| OPENS + h * 3600;
    push_by(&app, "n1", "lab1-alice", 11, ("alice", 101), t(10)).await;
    app.drain().await;
    push_by(&app, "n2", "lab1-alice", 11, ("alice", 101), t(9)).await;
    app.drain().await;
    push_by(&app, "n3", "lab1-alice", 11, ("alice", 101), t(11)).await;
    app.drain().await;
    let numbers: Vec<(String, i32)> = app
        .attempts()
        .await
        .into_iter()
        .map(|a| (a.delivery_id, a.attempt_number))
        .collect();
    // The late arrival gets the number its push time earns (1), which the 10:00 push holds already:
    // numbers in the log are never changed. The next push counts both before it.
    assert_eq!(
        numbers,
        [
            ("n1".to_owned(), 1),
            ("n2".to_owned(), 1),
            ("n3".to_owned(), 3)
        ]
    );
    ok(&app.cli(&["audit", "verify"]));
}
