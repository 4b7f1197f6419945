//! The grader's workflow (issue 9): a roster imported from a Classroom file, the per-student summary
//! (CLI and API agree), the Classroom-shaped grades export, formula-safe CSV from every writer, streamed
//! API CSV downloads and org scoping.

use std::io::Write as _;

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::cli_stdout as ok;
use crate::helpers::{
    push_payload, session_create_args, sha, spawn_app, TestApp, TestDb, JANUARY_2026,
};
use crate::tokens::{assert_status, create_token, get};

backend_tests!(
    summary_and_grades_of_a_class,
    roster_import_updates_in_place_and_refuses_bad_files,
    every_csv_neutralises_formula_cells,
    api_csv_downloads_stream_and_stay_in_their_org,
    the_export_read_gives_the_listings_bytes,
);

const GRADES_HEADER: &str = "assignment_name,assignment_url,starter_code_url,github_username,\
roster_identifier,student_repository_name,student_repository_url,submission_timestamp,points_awarded,\
points_available\n";

/// 2026-01-01T00:00:00Z; the lab1 session closes a month later.
pub(crate) const OPENS: i64 = 1_767_225_600;
pub(crate) const LATE: i64 = 1_770_000_000;

/// A Classroom roster export: BOM, CRLF, an extra column, columns in Classroom's order.
pub(crate) const ROSTER: &str = "\u{feff}identifier,github_username,github_id,name,section\r\n\
alice@uni.test,alice,101,Alice A,1\r\n\
bob@uni.test,Bob,,Bob B,1\r\n\
carol@uni.test,carol,,Carol C,2\r\n\
dave@uni.test,dave,,Dave D,2\r\n\
erin@uni.test,erin,,Erin E,2\r\n";

/// GET the API's `path` as `token`: a 200 attachment named `filename`.
async fn download(app: &TestApp, path: &str, token: &str, filename: &str) -> reqwest::Response {
    let resp = app.get_as(&format!("/api/v1{path}"), token).await;
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    assert_eq!(
        resp.headers()["content-disposition"].to_str().ok(),
        Some(format!("attachment; filename=\"{filename}\"").as_str()),
        "{path}"
    );
    resp
}

/// Write `content` into the app's scratch directory.
pub(crate) fn scratch_file(app: &TestApp, name: &str, content: &[u8]) -> String {
    let path = app.test_db.scratch_dir().join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(content).expect("write");
    path.display().to_string()
}

/// One push of `course/<repo>` by `login` (sender id `sender`) at `pushed_at`.
pub(crate) async fn push(
    app: &TestApp,
    repo: &str,
    repo_id: i64,
    n: u64,
    (login, sender): (&str, i64),
    pushed_at: i64,
    forced: bool,
) {
    let mut p = push_payload("course", repo, repo_id, &sha(n), pushed_at);
    p["pusher"]["name"] = login.into();
    p["sender"]["login"] = login.into();
    p["sender"]["id"] = sender.into();
    p["forced"] = forced.into();
    let resp = app.deliver_push(&format!("d-{n}"), &p).await;
    assert_eq!(resp.status().as_u16(), 202);
}

/// The class: alice (matched by sender id; on time twice, one forced, then late), bob (login in another
/// case), carol (repository name, pushed by a teacher), dave (never pushed), erin (late only) and a
/// repository of someone not on the roster.
pub(crate) async fn class(app: &TestApp) {
    app.create_lab1_session().await;
    let roster = scratch_file(app, "roster.csv", ROSTER.as_bytes());
    let out = ok(&app.cli(&["roster", "import", "--org", "course", &roster]));
    assert_eq!(
        out.trim(),
        "roster of course: 5 added, 0 updated, 0 unchanged"
    );
    push(
        app,
        "lab1-alice",
        11,
        1,
        ("a-l-i-c-e", 101),
        OPENS + 100,
        false,
    )
    .await;
    push(
        app,
        "lab1-alice",
        11,
        2,
        ("a-l-i-c-e", 101),
        OPENS + 200,
        true,
    )
    .await;
    push(app, "lab1-alice", 11, 3, ("a-l-i-c-e", 101), LATE, false).await;
    push(app, "lab1-bob", 12, 4, ("bob", 102), OPENS + 300, false).await;
    push(
        app,
        "lab1-carol",
        13,
        5,
        ("teacher", 900),
        OPENS + 400,
        false,
    )
    .await;
    push(app, "lab1-erin", 14, 6, ("erin", 104), LATE + 10, false).await;
    push(app, "lab1-zed", 15, 7, ("zed", 105), OPENS + 500, false).await;
    app.drain().await;
    assert_eq!(app.attempts().await.len(), 7);
}

async fn summary_and_grades_of_a_class(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let cli: Value = serde_json::from_str(&app.lab1_summary("json")).expect("json");
    let rows = cli.as_array().expect("rows");
    let col = |k: &str| rows.iter().map(|r| r[k].clone()).collect::<Vec<_>>();
    assert_eq!(
        col("roster_identifier"),
        [
            "alice@uni.test".into(),
            "bob@uni.test".into(),
            "carol@uni.test".into(),
            "dave@uni.test".into(),
            "erin@uni.test".into(),
            Value::Null
        ]
    );
    assert_eq!(
        col("status"),
        [
            "on_time",
            "on_time",
            "on_time",
            "missing",
            "late_only",
            "on_time"
        ]
        .map(Value::from)
    );
    assert_eq!(
        col("github_username"),
        ["alice", "Bob", "carol", "dave", "erin", "zed"].map(Value::from)
    );
    assert_eq!(col("attempts"), [3, 1, 1, 0, 1, 1].map(Value::from));
    assert_eq!(col("late_attempts"), [1, 0, 0, 0, 1, 0].map(Value::from));
    assert_eq!(
        col("forced"),
        [true, false, false, false, false, false].map(Value::from)
    );
    let alice = &rows[0];
    assert_eq!(alice["repository"], "course/lab1-alice");
    assert_eq!(alice["final"]["attempt_number"], 2);
    assert_eq!(alice["final"]["after"], sha(2));
    assert_eq!(alice["final"]["ref"], "refs/heads/master");
    assert_eq!(alice["final"]["pushed_at"], "2026-01-01T00:03:20Z");
    assert_eq!(alice["first_pushed_at"], "2026-01-01T00:01:40Z");
    assert_eq!(alice["last_pushed_at"], "2026-02-02T02:40:00Z");
    assert_eq!(rows[3]["repository"], Value::Null);
    assert_eq!(col("name")[..2], ["Alice A", "Bob B"].map(Value::from));
    assert_eq!(rows[5]["name"], Value::Null);
    assert_eq!(rows[4]["final"], Value::Null);
    // The API answers the same rows, and audits the read.
    let admin = create_token(&app, "admin", "admin", None);
    let (status, api) = get(&app, "/sessions/lab1/summary", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(api, cli);
    assert_eq!(app.audit_count("api.summary_read", None).await, 1);
    // The table: aligned columns, the final attempt as #N.
    let table = ok(&app.cli(&["attempts", "summary", "--session", "lab1"]));
    let words: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        words[0],
        [
            "ROSTER_IDENTIFIER",
            "NAME",
            "GITHUB_USERNAME",
            "REPOSITORY",
            "ATTEMPTS",
            "FINAL",
            "FINAL_PUSHED_AT",
            "DEADLINE",
            "LATE_ATTEMPTS",
            "EARLY_ATTEMPTS",
            "FORCED",
            "STATUS",
            "SCORE"
        ]
    );
    assert_eq!(
        words[1],
        [
            "alice@uni.test",
            "Alice",
            "A",
            "alice",
            "course/lab1-alice",
            "3",
            "#2",
            // Local time (the session's zone, UTC here) with its offset; then the student's deadline.
            "2026-01-01",
            "00:03",
            "+00:00",
            "2026-02-01",
            "00:00",
            "+00:00",
            "1",
            "0",
            "true",
            "on_time"
        ]
    );
    assert_eq!(
        words[4],
        [
            "dave@uni.test",
            "Dave",
            "D",
            "dave",
            "0",
            "2026-02-01",
            "00:00",
            "+00:00",
            "0",
            "0",
            "false",
            "missing"
        ]
    );
    let columns: Vec<usize> = ["GITHUB_USERNAME", "REPOSITORY", "STATUS"]
        .iter()
        .filter_map(|c| table.lines().next().and_then(|h| h.find(c)))
        .collect();
    assert_eq!(
        table
            .lines()
            .nth(1)
            .and_then(|l| l.find("course/lab1-alice")),
        columns.get(1).copied()
    );
    // CSV flattens the final attempt.
    let csv = app.lab1_summary("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "repository,roster_identifier,github_username,attempts,first_pushed_at,last_pushed_at,\
             final_attempt_id,final_attempt_number,final_after,final_ref,final_pushed_at,\
             final_pushed_at_local,late_attempts,forced,status,deadline,deadline_local,early_attempts,\
             final_points,final_points_available,final_conclusion,name"
        )
    );
    let alice_id = alice["final"]["id"].as_i64().expect("id");
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "course/lab1-alice,alice@uni.test,alice,3,2026-01-01T00:01:40Z,2026-02-02T02:40:00Z,\
                 {alice_id},2,{},refs/heads/master,2026-01-01T00:03:20Z,2026-01-01 00:03 +00:00,1,true,\
                 on_time,2026-02-01T00:00:00Z,2026-02-01 00:00 +00:00,0,,,,Alice A",
                sha(2)
            )
            .as_str()
        )
    );
    // Grades: Classroom's header byte for byte, one row per student or repository, CLI file = API.
    let out = app.test_db.scratch_dir().join("grades.csv");
    let out_arg = out.display().to_string();
    ok(&app.cli(&["grades", "export", "--session", "lab1", "--out", &out_arg]));
    let file = std::fs::read_to_string(&out).expect("grades file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(file.starts_with(GRADES_HEADER), "{file}");
    assert!(!file.contains('\r'));
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(
        lines[1],
        "Session lab1,,,alice,alice@uni.test,lab1-alice,https://github.com/course/lab1-alice,\
         2026-01-01T00:03:20Z,,"
    );
    assert_eq!(lines[4], "Session lab1,,,dave,dave@uni.test,,,,,");
    assert_eq!(
        lines[5],
        "Session lab1,,,erin,erin@uni.test,lab1-erin,https://github.com/course/lab1-erin,,,"
    );
    let resp = download(&app, "/sessions/lab1/grades.csv", &admin, "lab1-grades.csv").await;
    assert_eq!(resp.text().await.expect("body"), file);
    assert_eq!(app.audit_count("api.grades_exported", None).await, 1);
}

async fn roster_import_updates_in_place_and_refuses_bad_files(db: TestDb) {
    let app = spawn_app(&db).await;
    let first = scratch_file(&app, "r1.csv", ROSTER.as_bytes());
    ok(&app.cli(&["roster", "import", "--org", "Course", &first]));
    // Bob renamed, frank added, the rest as before; columns in another order, no BOM.
    let second = scratch_file(
        &app,
        "r2.csv",
        b"name,identifier,github_username,github_id\n\
          Alice A,alice@uni.test,alice,101\n\
          Robert B,bob@uni.test,Bob,\n\
          Frank F,frank@uni.test,,\n",
    );
    let out = ok(&app.cli(&["roster", "import", "--org", "course", &second]));
    assert_eq!(
        out.trim(),
        "roster of course: 1 added, 1 updated, 1 unchanged"
    );
    let list = ok(&app.cli(&["roster", "list", "--org", "course", "--format", "csv"]));
    assert_eq!(
        list,
        "identifier,github_username,github_id,name\n\
         alice@uni.test,alice,101,Alice A\n\
         bob@uni.test,Bob,,Robert B\n\
         carol@uni.test,carol,,Carol C\n\
         dave@uni.test,dave,,Dave D\n\
         erin@uni.test,erin,,Erin E\n\
         frank@uni.test,,,Frank F\n"
    );
    // Audited with counts and digests only: no name, login or identifier in the hashed entry.
    let entries = app.audit_details("roster.imported").await;
    assert_eq!(entries.len(), 2);
    let details = entries[1].clone();
    let parsed: Value = serde_json::from_str(&details).expect("details");
    for personal in ["Robert", "bob", "Bob", "frank", "uni.test", "course"] {
        assert!(!details.contains(personal), "{details}");
    }
    assert_eq!(parsed["updated"], 1);
    // A bad line anywhere: a clear error naming line and column, nothing changed.
    let counts = app.counts().await;
    let roster_rows = app.scalar("SELECT COUNT(*) FROM roster_student").await;
    let bad = scratch_file(
        &app,
        "bad.csv",
        b"identifier,github_username,github_id,name\n\
          zoe@uni.test,zoe,,Zoe\n\
          yan@uni.test,yan,12x,Yan\n",
    );
    let out = app.cli(&["roster", "import", "--org", "course", &bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3, column 3 (github_id)"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(app.counts().await, counts);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM roster_student").await,
        roster_rows
    );
}

async fn every_csv_neutralises_formula_cells(db: TestDb) {
    let app = spawn_app(&db).await;
    let evil = "=HYPERLINK(\"http://evil.test\",\"x\")";
    ok(&app.cli(&session_create_args(
        "course",
        "lab1",
        evil,
        "lab1-*",
        JANUARY_2026,
        &[],
    )));
    let quoted = format!("\"{}\"", evil.replace('"', "\"\""));
    let roster = format!("identifier,github_username,name\n+1@uni.test,mallory,{quoted}\n");
    let roster = scratch_file(&app, "evil.csv", roster.as_bytes());
    ok(&app.cli(&["roster", "import", "--org", "course", &roster]));
    push(&app, "lab1-x", 21, 1, ("@SUM(1+1)", 300), OPENS + 1, false).await;
    app.drain().await;
    let safe = format!("\"'{}\"", evil.replace('"', "\"\""));
    let sessions = ok(&app.cli(&["session", "list", "--format", "csv"]));
    assert!(sessions.contains(&safe), "{sessions}");
    let attempts = ok(&app.cli(&["attempts", "list", "--format", "csv"]));
    assert!(attempts.contains(",'@SUM(1+1),"), "{attempts}");
    let roster_list = ok(&app.cli(&["roster", "list", "--org", "course", "--format", "csv"]));
    assert_eq!(
        roster_list,
        format!("identifier,github_username,github_id,name\n'+1@uni.test,mallory,,{safe}\n")
    );
    let summary = app.lab1_summary("csv");
    assert!(
        summary.contains("course/lab1-x,,'@SUM(1+1),1,"),
        "{summary}"
    );
    assert!(summary.contains("\n,'+1@uni.test,mallory,0,"), "{summary}");
    let grades = ok(&app.cli(&["grades", "export", "--session", "lab1"]));
    assert!(grades.starts_with(GRADES_HEADER));
    assert!(
        grades.contains(&format!("\n{safe},,,'@SUM(1+1),,lab1-x,")),
        "{grades}"
    );
    let admin = create_token(&app, "admin", "admin", None);
    for path in [
        "/sessions/lab1/attempts?format=csv",
        "/sessions/lab1/summary?format=csv",
    ] {
        let body = app
            .get_as(&format!("/api/v1{path}"), &admin)
            .await
            .text()
            .await
            .expect("body");
        assert!(body.contains("'@SUM(1+1)"), "{path}: {body}");
        assert!(!body.contains(",@SUM"), "{path}: {body}");
    }
}

async fn api_csv_downloads_stream_and_stay_in_their_org(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    app.create_session("other", "lab2", "lab2-*", JANUARY_2026)
        .await;
    let course = create_token(&app, "ta", "instructor", Some("course"));
    let other = create_token(&app, "ta-other", "instructor", Some("other"));
    // The whole session in one streamed download: every attempt, no cursor, a file name.
    let resp = download(
        &app,
        "/sessions/lab1/attempts?format=csv",
        &course,
        "lab1-attempts.csv",
    )
    .await;
    assert!(resp.headers().get("x-next-cursor").is_none());
    let body = resp.text().await.expect("body");
    let cli = ok(&app.cli(&["attempts", "list", "--session", "lab1", "--format", "csv"]));
    assert_eq!(body, cli);
    assert_eq!(
        csv::Reader::from_reader(body.as_bytes()).records().count(),
        7
    );
    // The CLI's JSON list streams too, and is the API's JSON page.
    let cli_json: Value = serde_json::from_str(&ok(&app.cli(&[
        "attempts",
        "list",
        "--session",
        "lab1",
        "--format",
        "json",
    ])))
    .expect("json");
    let (status, page) = get(&app, "/sessions/lab1/attempts", Some(&course)).await;
    assert_eq!(status, 200);
    assert_eq!(cli_json, page["attempts"]);
    assert_eq!(cli_json.as_array().map(Vec::len), Some(7));
    let newest = app.attempts().await.last().map(|a| a.id).expect("attempts");
    let exported = app.audit_details_json("api.attempts_exported").await;
    assert_eq!(exported.len(), 2);
    let details = &exported[0];
    assert_eq!(details["upto_attempt_id"], newest);
    assert_eq!(details["count"], 7);
    // Another organisation's token sees nothing of course's session, exactly like a missing one.
    for path in [
        "/sessions/lab1/summary",
        "/sessions/lab1/summary?format=csv",
        "/sessions/lab1/grades.csv",
        "/sessions/lab1/attempts?format=csv",
    ] {
        assert_status(&app, path, Some(&other), 404).await;
        assert_status(&app, path, Some(&course), 200).await;
    }
    assert_status(
        &app,
        "/sessions/lab1/summary?format=xml",
        Some(&course),
        400,
    )
    .await;
}

/// The export's read (`db::export`, issue 24: the API's and the web view's streamed CSV, the API's JSON
/// pages) gives byte for byte what the listing (`db::attempts::list`, the CLI's) gives, on a class with
/// files, scores (points, and a conclusion alone), an extension, late attempts and a filter.
async fn the_export_read_gives_the_listings_bytes(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    // Files out of path order, in every status, with a space, a formula character and a non-ASCII name.
    let mut p = push_payload("course", "lab1-bob", 12, &sha(8), OPENS + 600);
    p["commits"][0]["added"] = serde_json::json!([
        "src/b.rs",
        "README.md",
        "src/a b.rs",
        "\u{dc}.txt",
        "=x.txt"
    ]);
    p["commits"][0]["removed"] = serde_json::json!(["old.txt"]);
    p["commits"][0]["modified"] = serde_json::json!(["src/lib.rs"]);
    assert_eq!(app.deliver_push("d-8", &p).await.status().as_u16(), 202);
    app.drain().await;
    // erin's late push is on time for her own deadline; bob's attempt has points, alice's late one a
    // conclusion alone.
    ok(&app.cli(&[
        "session",
        "extend",
        "--slug",
        "lab1",
        "--student",
        "erin",
        "--closes",
        "2026-03-01T00:00:00Z",
    ]));
    crate::scores::autograded(&app, "run-1", ("lab1-bob", 12), 4, 101, "Points 7/10").await;
    crate::scores::autograded(&app, "run-2", ("lab1-alice", 11), 3, 102, "no points").await;
    app.drain().await;
    let ta = create_token(&app, "ta", "instructor", Some("course"));
    let csv_of = |path: &'static str| {
        let (app, ta) = (&app, &ta);
        async move {
            download(app, path, ta, "lab1-attempts.csv")
                .await
                .text()
                .await
                .expect("body")
        }
    };
    let listing = |more: &[&str]| {
        let mut args = vec!["attempts", "list", "--session", "lab1"];
        args.extend_from_slice(more);
        ok(&app.cli(&args))
    };
    let exported = csv_of("/sessions/lab1/attempts?format=csv").await;
    assert_eq!(exported, listing(&["--format", "csv"]));
    // The data is what the comparison is about.
    let mut reader = csv::Reader::from_reader(exported.as_bytes());
    let header = reader.headers().expect("header").clone();
    let rows: Vec<std::collections::HashMap<String, String>> = reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            header
                .iter()
                .zip(r.iter())
                .map(|(h, c)| (h.to_owned(), c.to_owned()))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 8);
    let row = |after: u64| {
        rows.iter()
            .find(|r| r["after"] == sha(after))
            .expect("the attempt")
    };
    // One cell, its lines' breaks written out as text (every CSV cell goes through `escape_controls`).
    let files = &row(8)["files"];
    assert_eq!(files.split("\\x0a").count(), 7, "{files:?}");
    assert!(files.contains("added =x.txt"), "{files:?}");
    assert_eq!(
        (
            row(4)["points"].as_str(),
            row(4)["points_available"].as_str()
        ),
        ("7", "10")
    );
    assert_eq!(row(3)["points"], "");
    assert_ne!(row(3)["conclusion"], "");
    assert_eq!(
        (row(3)["late"].as_str(), row(3)["late_now"].as_str()),
        ("true", "true")
    );
    assert_eq!(
        (row(6)["late"].as_str(), row(6)["late_now"].as_str()),
        ("true", "false")
    );
    // A filter, and the JSON pages (the cursor read through the export's read) against the CLI's JSON.
    assert_eq!(
        csv_of("/sessions/lab1/attempts?format=csv&repo=lab1-alice").await,
        listing(&["--repo", "lab1-alice", "--format", "csv"])
    );
    let mut pages = Vec::new();
    let mut path = "/sessions/lab1/attempts?limit=3".to_owned();
    loop {
        let (status, page) = get(&app, &path, Some(&ta)).await;
        assert_eq!(status, 200);
        pages.extend(
            page["attempts"]
                .as_array()
                .expect("attempts")
                .iter()
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/sessions/lab1/attempts?limit=3&cursor={c}"),
            None => break,
        }
    }
    let cli: Value = serde_json::from_str(&listing(&["--format", "json"])).expect("json");
    assert_eq!(Value::Array(pages), cli);
    app.stop().await;
}
