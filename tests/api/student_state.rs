//! The kept per-student state (issue 24): equal to a full recomputation from the attempts (the reference
//! fold) after every kind of change, named by `audit verify` when tampered with and repaired by
//! `reindex`; and the session page that reads it a page at a time.

use labtrail::db::student_state::{self, StateCheck};

use crate::audit_support::{archive, retention_run_now};
use crate::backend_tests;
use crate::helpers::{cli_stdout, code_and_output, spawn_app, TestApp, TestDb};
use crate::scores::{run, run_payload};
use crate::tokens::create_token;
use crate::web::Browser;
use crate::web_grading::{graded_class, push_by};

backend_tests!(
    kept_state_equals_a_recomputation_after_every_change,
    a_tampered_state_row_is_named_and_reindex_repairs_it,
    the_session_page_is_paged_searched_filtered_and_sorted,
    the_chart_counts_every_push_in_its_bucket_and_class,
);

/// The session's deadline (2026-02-01T00:00Z) from `OPENS`.
const DEADLINE: i64 = 31 * 86_400;

/// The kept state of every session equals its recomputation; the check itself.
async fn assert_kept(app: &TestApp, step: &str) -> StateCheck {
    let check = student_state::check_all(&app.db)
        .await
        .expect("the state check");
    assert!(
        check.differences.is_empty(),
        "{step}: the kept state differs from a recomputation: {:#?}",
        check.differences
    );
    check
}

/// `roster import --org course [--replace]` of `csv`; it must succeed.
fn import_roster(app: &TestApp, csv: &str, replace: bool) {
    let roster = app.test_db.scratch_dir().join("roster-import.csv");
    std::fs::write(&roster, csv).expect("write roster");
    let path = roster.to_str().expect("utf8");
    let mut args = vec!["roster", "import", "--org", "course"];
    if replace {
        args.push("--replace");
    }
    args.push(path);
    cli_stdout(&app.cli(&args));
}

/// `attempts summary --session lab1` as CSV lines.
fn summary(app: &TestApp) -> String {
    cli_stdout(&app.cli(&[
        "attempts",
        "summary",
        "--session",
        "lab1",
        "--format",
        "csv",
    ]))
}

/// The summary line of `needle` (a repository or roster identifier).
fn line<'a>(summary: &'a str, needle: &str) -> &'a str {
    crate::helpers::line_where(summary, needle, |l| l.contains(needle))
}

async fn kept_state_equals_a_recomputation_after_every_change(db: TestDb) {
    let app = spawn_app(&db).await;
    // Out-of-order pushes (a helper's push older than alice's #2 recorded after it, a late one), a score,
    // and a roster import that matches the repositories.
    graded_class(&app).await;
    let check = assert_kept(&app, "pushes, score and roster").await;
    // alice's and bob's repositories, and carol missing.
    assert_eq!(check.rows, 3);
    let s = summary(&app);
    assert!(line(&s, "lab1-alice").contains("on_time"), "{s}");
    assert!(line(&s, "id-carol").contains("missing"), "{s}");
    // Then, each in its own batch (folded into the kept row): a push older than every other one, and
    // bob's newest, older than his first.
    push_by(&app, "lab1-alice", 11, "alice", 9, 50).await;
    app.drain().await;
    assert_kept(&app, "an older push, alone").await;
    push_by(&app, "lab1-bob", 12, "bob", 10, 250).await;
    app.drain().await;
    assert_kept(&app, "bob's older push, alone").await;
    assert!(line(&summary(&app), "lab1-bob").contains(&crate::helpers::sha(3)));

    // A deadline edit: alice's late push (an hour after) becomes her final attempt.
    move_lab1_deadline(&app, "2026-02-01T02:00:00Z");
    assert_kept(&app, "deadline edit").await;
    let s = summary(&app);
    assert!(
        line(&s, "lab1-alice").contains(&crate::helpers::sha(4)),
        "{s}"
    );

    // An extension granted to bob (his first push comes after the session's deadline), then removed.
    push_by(&app, "lab1-bob", 12, "bob", 6, DEADLINE + 5 * 3600).await;
    app.drain().await;
    assert_kept(&app, "a late push").await;
    let extend_bob = |how: &[&str]| {
        let mut args = vec!["session", "extend", "--slug", "lab1", "--student", "bob"];
        args.extend_from_slice(how);
        cli_stdout(&app.cli(&args));
    };
    extend_bob(&["--closes", "2026-02-02T00:00:00Z"]);
    assert_kept(&app, "extension granted").await;
    assert!(line(&summary(&app), "lab1-bob").contains(&crate::helpers::sha(6)));
    extend_bob(&["--remove"]);
    assert_kept(&app, "extension removed").await;
    assert!(!line(&summary(&app), "lab1-bob").contains(&crate::helpers::sha(6)));

    // A roster replace: carol leaves, dave (whose repository exists without a roster entry) comes.
    push_by(&app, "lab1-dave", 13, "dave", 7, 400).await;
    app.drain().await;
    assert_kept(&app, "a new repository").await;
    import_roster(
        &app,
        "identifier,github_username,github_id,name\nid-alice,alice,,Alice\nid-bob,bob,,Bob\nid-dave,dave,,Dave\nid-erin,erin,,Erin\n",
        true,
    );
    let check = assert_kept(&app, "roster replace").await;
    // alice, bob, dave (now on the roster) and erin missing; carol gone.
    assert_eq!(check.rows, 4);
    let s = summary(&app);
    assert!(line(&s, "lab1-dave").contains("id-dave"), "{s}");
    assert!(!s.contains("id-carol"), "{s}");

    // A re-scored final attempt: the newer run's points.
    for (run_id, points) in [(201, "Points 5/10"), (202, "Points 9/10")] {
        let payload = run_payload(
            "lab1-alice",
            11,
            &crate::helpers::sha(4),
            "Autograding Tests",
            run_id,
            points,
        );
        run(&app, &format!("run-{run_id}"), &payload).await;
        app.drain().await;
        assert_kept(&app, points).await;
    }
    assert!(
        line(&summary(&app), "lab1-alice").contains(",9,10"),
        "{}",
        summary(&app)
    );

    // A repository no roster student matches, then a push by erin: matched again, her missing row goes.
    push_by(&app, "lab1-x", 14, "zed", 11, 500).await;
    app.drain().await;
    assert_eq!(assert_kept(&app, "an unmatched repository").await.rows, 5);
    push_by(&app, "lab1-x", 14, "erin", 12, 600).await;
    app.drain().await;
    assert_eq!(assert_kept(&app, "matched by a new pusher").await.rows, 4);
    assert!(line(&summary(&app), "lab1-x").contains("id-erin"));

    // An instructor unlinks erin's entry (lab1-x is nobody's, her entry missing), then links it again.
    cli_stdout(&app.cli(&["roster", "unlink", "--org", "course", "id-erin"]));
    assert_eq!(assert_kept(&app, "roster unlink").await.rows, 5);
    assert!(!line(&summary(&app), "lab1-x").contains("id-erin"));
    cli_stdout(&app.cli(&["roster", "link", "--org", "course", "id-erin", "erin"]));
    assert_eq!(assert_kept(&app, "roster link").await.rows, 4);
    assert!(line(&summary(&app), "lab1-x").contains("id-erin"));

    // A retention erase: lab0's repositories go, its roster students are missing.
    app.create_session("course", "lab0", "lab0-*", crate::helpers::JANUARY_2026)
        .await;
    push_by(&app, "lab0-alice", 21, "alice", 8, 100).await;
    app.drain().await;
    assert_kept(&app, "lab0 push").await;
    archive(&app, "lab0");
    retention_run_now(&app);
    let check = assert_kept(&app, "retention erase").await;
    // lab1's four rows and lab0's four roster students, all missing.
    assert_eq!(check.rows, 8);
    app.assert_audit_verifies();
}

async fn a_tampered_state_row_is_named_and_reindex_repairs_it(db: TestDb) {
    let app = spawn_app(&db).await;
    graded_class(&app).await;
    let verified = app.assert_audit_verifies();
    assert!(
        verified.contains("student state matches the attempts: 3 rows of 1 sessions"),
        "{verified}"
    );
    app.exec("UPDATE student_state SET status = 'missing', late_attempts = 5 WHERE repository_full_name = 'course/lab1-bob'")
        .await
        .expect("tamper");
    app.exec("DELETE FROM student_state WHERE identifier = 'id-carol'")
        .await
        .expect("tamper");
    let (code, out) = code_and_output(&app.cli(&["audit", "verify"]));
    assert_eq!(code, Some(1), "{out}");
    for needle in [
        "student state TAMPERED: 3 differences",
        "session course/lab1: course/lab1-bob: late_attempts",
        "session course/lab1: course/lab1-bob: status",
        "session course/lab1: id-carol: row (not stored)",
    ] {
        assert!(out.contains(needle), "{needle:?} in {out}");
    }
    // The summary read the tampered rows (it reads the kept state).
    assert!(!summary(&app).contains("id-carol"));
    let (code, out) = code_and_output(&app.cli(&["reindex", "--session", "lab1"]));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("reindexed course/lab1: 3 rows (1 of 1)"),
        "{out}"
    );
    assert_kept(&app, "reindexed").await;
    app.assert_audit_verifies();
    assert!(line(&summary(&app), "id-carol").contains("missing"));

    // A database whose table is empty (as the migration leaves it): `migrate` builds it, with progress.
    app.exec("DELETE FROM student_state")
        .await
        .expect("empty it");
    let (code, out) = code_and_output(&app.cli(&["migrate"]));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("student state: course/lab1 built, 3 rows (1 of 1)"),
        "{out}"
    );
    assert_eq!(assert_kept(&app, "built by migrate").await.rows, 3);
}

/// A session page's student table.
fn table_of(body: &str) -> &str {
    body.split("<table class=\"summary\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the student table")
}

/// Rows shown in a session page's student table (one `th scope="row"` each).
fn rows_of(body: &str) -> usize {
    table_of(body).matches("<th scope=\"row\"").count()
}

async fn the_session_page_is_paged_searched_filtered_and_sorted(db: TestDb) {
    let app = spawn_app(&db).await;
    graded_class(&app).await;
    // 247 more roster students (250 in all), none of them pushed: missing.
    let mut csv = String::from(
        "identifier,github_username,github_id,name\nid-alice,alice,,Alice\nid-bob,bob,,Bob\nid-carol,carol,,Carol\n",
    );
    for i in 0..247 {
        csv.push_str(&format!("s{i:03}@x,,,Student {i:03}\n"));
    }
    import_roster(&app, &csv, false);
    assert_kept(&app, "a big roster").await;
    let token = create_token(&app, "teach", "instructor", Some("course"));
    let mut b = Browser::new(&app.base_url);
    assert_eq!(b.sign_in(&token).await.status, 303);

    // Front page: the whole session's counts from the kept state.
    let index = b.get("/").await;
    index.assert_contains(
        "<td class=\"num\">2</td><td class=\"num\">0</td><td class=\"num\">248</td>",
    );

    let first = b.get("/sessions/lab1").await;
    assert_eq!(first.status, 200);
    assert_eq!(rows_of(&first.body), 100);
    assert!(first
        .body
        .contains("Whole session: 250 students · 2 on time · 0 late only · 248 missing"));
    first.assert_contains("page 1 of 3");
    assert!(first
        .body
        .contains("href=\"/sessions/lab1?sort=roster&amp;page=2\" rel=\"next\""));
    // Roster order: id-alice first, s000@x… after.
    assert!(first.body.find("id-alice") < first.body.find("s000@x"));
    let last = b.get("/sessions/lab1?page=3").await;
    assert_eq!(rows_of(&last.body), 50);
    assert!(last.body.contains("s246@x") && !last.body.contains("s000@x"));
    assert_eq!(b.get("/sessions/lab1?page=4").await.status, 404);

    // Search: login, identifier or name, any case; the pager keeps it.
    let found = b.get("/sessions/lab1?q=STUDENT%2012").await;
    assert_eq!(rows_of(&found.body), 10, "Student 120…129");
    assert!(found.body.contains("s120@x") && !found.body.contains("s012@x"));
    let alice = b.get("/sessions/lab1?q=ALI").await;
    assert_eq!(rows_of(&alice.body), 1);
    assert!(alice.body.contains("course/lab1-alice"));
    let none = b.get("/sessions/lab1?q=nobody-at-all").await;
    assert_eq!((none.status, rows_of(&none.body)), (200, 0));
    let paged = b
        .get("/sessions/lab1?q=student&status=missing&sort=-roster")
        .await;
    assert_eq!(rows_of(&paged.body), 100);
    assert!(paged.body.contains(
        "href=\"/sessions/lab1?status=missing&amp;q=student&amp;sort=-roster&amp;page=2\" rel=\"next\""
    ), "{}", paged.body);
    // Descending: the last identifier first.
    assert!(paged.body.find("s246@x") < paged.body.find("s245@x"));

    // Filters and sorts in the database.
    let on_time = b.get("/sessions/lab1?status=on_time").await;
    assert_eq!(rows_of(&on_time.body), 2);
    assert!(on_time.body.contains("course/lab1-bob") && !on_time.body.contains("id-carol"));
    let by_late = b.get("/sessions/lab1?sort=-late").await;
    assert!(by_late.body.find("course/lab1-alice") < by_late.body.find("course/lab1-bob"));
    let by_points = b.get("/sessions/lab1?sort=-points").await;
    let table = table_of(&by_points.body);
    let first_row = table.find("<th scope=\"row\"").expect("a row");
    assert!(
        table[first_row..]
            .starts_with("<th scope=\"row\"><a href=\"/sessions/lab1/students/id-alice\""),
        "{}",
        &table[first_row..]
    );
    for sort in [
        "username",
        "final",
        "last_push",
        "forced",
        "status",
        "-status",
        "points",
    ] {
        let page = b.get(&format!("/sessions/lab1?sort={sort}")).await;
        assert_eq!((page.status, rows_of(&page.body)), (200, 100), "{sort}");
    }
    assert_eq!(b.get("/sessions/lab1?sort=nope").await.status, 400);
}

/// The session page's chart reads the pushes counted per minute: pushes that share a minute with the
/// opening or with a deadline that is not on a minute still land in their own class and bucket.
async fn the_chart_counts_every_push_in_its_bucket_and_class(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    // The deadline half a minute into February 1st.
    move_lab1_deadline(&app, "2026-02-01T00:00:30Z");
    let pushes = [
        -50,           // early, in the minute before the opening
        -10,           // early, the same minute
        20,            // on time, the opening's minute
        30,            // on time, the same minute
        DEADLINE - 30, // on time, the day before the deadline
        DEADLINE - 1,  // on time, the same minute
        DEADLINE + 10, // on time, the deadline's minute, before it
        DEADLINE + 30, // at the deadline: on time, right of its line
        DEADLINE + 40, // late, the deadline's minute
        DEADLINE + 50, // late, the same minute
    ];
    for (n, offset) in (1..).zip(pushes) {
        push_by(&app, "lab1-alice", 11, "alice", n, offset).await;
    }
    app.drain().await;
    let token = create_token(&app, "teach", "instructor", Some("course"));
    let mut b = Browser::new(&app.base_url);
    assert_eq!(b.sign_in(&token).await.status, 303);
    let page = b.get("/sessions/lab1").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("2 early, before the session opened")
            && page.body.contains("6 on time (solid) and 2 late"),
        "{}",
        page.body
    );
    // Its table: the day before the opening (2 early), the first day (2), January 31st (2), February 1st
    // up to the deadline (1), and from the deadline (1 on time, 2 late).
    let cells = |e: u32, o: u32, l: u32| {
        format!(
            "<td class=\"num\">{e}</td><td class=\"num\">{o}</td><td class=\"num\">{l}</td></tr>"
        )
    };
    for (e, o, l, times) in [(2, 0, 0, 1), (0, 2, 0, 2), (0, 1, 0, 1), (0, 1, 2, 1)] {
        assert_eq!(
            page.body.matches(&cells(e, o, l)).count(),
            times,
            "{e} early, {o} on time, {l} late: {}",
            page.body
        );
    }
}

/// `labtrail session edit` of session lab1's deadline to `closes`; it must succeed.
fn move_lab1_deadline(app: &TestApp, closes: &str) {
    cli_stdout(&app.cli(&["session", "edit", "--slug", "lab1", "--closes", closes]));
}
