//! Points from autograding (issue 22): `check_run` deliveries of the session's score check become
//! scores (recorded, audited, provable), in any order with their push; a missed delivery is filled by
//! `scores sync` from GitHub; the grades CSV and the gradebook carry the points.
//!
//! Payloads are derived from GitHub's published `check_run` example (`tests/fixtures/octokit-webhooks/
//! check_run/completed.with-organization.payload.json`, provenance in `tests/fixtures/PROVENANCE.md`),
//! with the output the `education/autograding-grading-reporter` action writes: title `Autograding`,
//! summary and text `Points X/Y`, a `notice` annotation `Autograding complete`.

use std::io::Write as _;

use serde_json::Value;

use crate::audit_support::{checkpoint, cli, cli_ok};
use crate::backend_tests;
use crate::fake_github::FakeGithub;
use crate::helpers::{
    fixture_json, push_payload, sha, spawn_app, spawn_app_with, AppOptions, TestApp, TestDb,
};

backend_tests!(
    runs_score_the_final_attempt_in_any_order,
    other_runs_are_ignored_with_their_reason,
    scores_are_audited_verified_and_proven,
    a_missed_delivery_is_filled_by_scores_sync,
    gradebook_matches_the_summaries_cell_by_cell,
);

/// 2026-01-01T00:00:00Z: lab1 opens (and closes a month later).
pub(crate) const OPENS: i64 = 1_767_225_600;

/// A completed `Autograding Tests` run on `course/<repo>`'s `head`, as GitHub sends it after the
/// reporter updated it with `output` (`Points 7/10`, or anything).
pub(crate) fn run_payload(
    repo: &str,
    repo_id: i64,
    head: &str,
    name: &str,
    id: i64,
    output: &str,
) -> Value {
    let mut p = fixture_json("octokit-webhooks/check_run/completed.with-organization.payload.json");
    let push = push_payload("course", repo, repo_id, head, OPENS);
    p["repository"] = push["repository"].clone();
    p["repository"]["default_branch"] = "main".into();
    p["organization"] = push["organization"].clone();
    p["installation"] = push["installation"].clone();
    let run = &mut p["check_run"];
    run["id"] = id.into();
    run["name"] = name.into();
    run["head_sha"] = head.into();
    run["check_suite"]["head_sha"] = head.into();
    run["check_suite"]["head_branch"] = "main".into();
    run["completed_at"] = format!("2026-01-02T00:00:{:02}Z", id % 60).into();
    run["app"]["id"] = 15368.into();
    run["app"]["slug"] = "github-actions".into();
    run["output"] = serde_json::json!({
        "title": "Autograding", "summary": output, "text": output,
        "annotations_count": 1,
        "annotations_url": format!("https://api.github.com/repos/course/{repo}/check-runs/{id}/annotations"),
    });
    p
}

pub(crate) async fn push(app: &TestApp, repo: &str, repo_id: i64, n: u64, pushed_at: i64) {
    let p = push_payload("course", repo, repo_id, &sha(n), pushed_at);
    let resp = app.deliver_push(&format!("push-{repo}-{n}"), &p).await;
    assert_eq!(resp.status().as_u16(), 202);
}

pub(crate) async fn run(app: &TestApp, guid: &str, payload: &Value) {
    let body = serde_json::to_vec(payload).expect("json");
    assert_eq!(app.deliver_status("check_run", guid, &body).await, 202);
}

/// Deliver `guid`: a completed `Autograding Tests` run `id` on commit `sha(n)` of `course/{repo}`, its
/// output `output`.
pub(crate) async fn autograded(
    app: &TestApp,
    guid: &str,
    (repo, repo_id): (&str, i64),
    n: u64,
    id: i64,
    output: &str,
) {
    let payload = run_payload(repo, repo_id, &sha(n), "Autograding Tests", id, output);
    run(app, guid, &payload).await;
}

fn grades(app: &TestApp, slug: &str) -> String {
    cli_ok(app, &["grades", "export", "--session", slug])
}

/// The points cells of `repo`'s grades row.
fn points_of(grades: &str, repo: &str) -> String {
    let line = grades
        .lines()
        .find(|l| l.contains(&format!(",{repo},")))
        .unwrap_or_else(|| panic!("no row of {repo} in\n{grades}"));
    line.rsplitn(3, ',')
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(",")
}

fn reason(d: &entity::webhook_delivery::Model) -> String {
    d.last_error.clone().unwrap_or_default()
}

async fn runs_score_the_final_attempt_in_any_order(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    // alice: pushed, then graded 7/10, then re-run 10/10.
    push(&app, "lab1-alice", 11, 1, OPENS + 100).await;
    app.drain().await;
    autograded(&app, "run-1", ("lab1-alice", 11), 1, 101, "Points 7/10").await;
    app.drain().await;
    assert_eq!(points_of(&grades(&app, "lab1"), "lab1-alice"), "7,10");
    autograded(&app, "run-2", ("lab1-alice", 11), 1, 102, "Points 10/10").await;
    app.drain().await;
    assert_eq!(points_of(&grades(&app, "lab1"), "lab1-alice"), "10,10");
    assert_eq!(app.audit_count("lab_attempt.scored", None).await, 2);
    // A redelivery of the same run records nothing new.
    autograded(
        &app,
        "run-2-again",
        ("lab1-alice", 11),
        1,
        102,
        "Points 10/10",
    )
    .await;
    app.drain().await;
    assert_eq!(app.audit_count("lab_attempt.scored", None).await, 2);

    // bob: the run arrives before the push is processed; same result once it is.
    autograded(&app, "run-3", ("lab1-bob", 12), 2, 103, "Points 7/10").await;
    app.drain().await;
    let d = app.delivery("run-3").await;
    assert!(
        reason(&d).contains("kept as a pending score"),
        "{}",
        reason(&d)
    );
    assert!(!grades(&app, "lab1").contains("lab1-bob"));
    push(&app, "lab1-bob", 12, 2, OPENS + 200).await;
    app.drain().await;
    assert_eq!(points_of(&grades(&app, "lab1"), "lab1-bob"), "7,10");

    // A run on a non-final commit (a late push's) does not change alice's grade.
    push(&app, "lab1-alice", 11, 3, OPENS + 40 * 86_400).await;
    app.drain().await;
    autograded(&app, "run-4", ("lab1-alice", 11), 3, 104, "Points 2/10").await;
    app.drain().await;
    assert_eq!(app.delivery("run-4").await.status.to_string(), "processed");
    assert_eq!(points_of(&grades(&app, "lab1"), "lab1-alice"), "10,10");

    // The summary (JSON) and the attempts list show the scores.
    let summary: Value = serde_json::from_str(&app.lab1_summary("json")).expect("json");
    let alice = summary
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["repository"] == "course/lab1-alice")
        .expect("alice");
    assert_eq!(alice["final_points"], "10");
    assert_eq!(alice["final_points_available"], "10");
    assert_eq!(alice["final_conclusion"], "success");
    let list: Value = serde_json::from_str(&cli_ok(
        &app,
        &["attempts", "list", "--session", "lab1", "--format", "json"],
    ))
    .expect("json");
    let late = list
        .as_array()
        .expect("attempts")
        .iter()
        .find(|a| a["after"] == sha(3))
        .expect("late attempt");
    assert_eq!(
        (late["points"].as_str(), late["points_available"].as_str()),
        (Some("2"), Some("10"))
    );
    app.assert_audit_verifies();
    app.stop().await;
}

async fn other_runs_are_ignored_with_their_reason(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    push(&app, "lab1-carol", 13, 5, OPENS + 100).await;
    app.drain().await;
    // Another check's name.
    run(
        &app,
        "other-name",
        &run_payload("lab1-carol", 13, &sha(5), "lint", 201, "Points 1/1"),
    )
    .await;
    // A repository no session takes.
    autograded(
        &app,
        "other-repo",
        ("homework-carol", 14),
        6,
        202,
        "Points 1/1",
    )
    .await;
    // A run that is not completed.
    let mut created = run_payload("lab1-carol", 13, &sha(5), "Autograding Tests", 203, "");
    created["action"] = "created".into();
    run(&app, "created", &created).await;
    app.drain().await;
    for (guid, why) in [
        ("other-name", "is not the score check"),
        (
            "other-repo",
            "no active lab session of course matches homework-carol",
        ),
        ("created", "records nothing"),
    ] {
        let d = app.delivery(guid).await;
        assert_eq!(d.status.to_string(), "ignored", "{guid}");
        assert!(reason(&d).contains(why), "{guid}: {}", reason(&d));
    }
    let listed = cli_ok(&app, &["deliveries", "list", "--format", "csv"]);
    assert!(listed.contains("is not the score check"), "{listed}");
    assert_eq!(app.audit_count("lab_attempt.scored", None).await, 0);
    // A malformed `Points` text records the conclusion only.
    autograded(
        &app,
        "malformed",
        ("lab1-carol", 13),
        5,
        204,
        "Points seven/10",
    )
    .await;
    app.drain().await;
    assert_eq!(
        app.delivery("malformed").await.status.to_string(),
        "processed"
    );
    assert_eq!(points_of(&grades(&app, "lab1"), "lab1-carol"), ",");
    let summary: Value = serde_json::from_str(&app.lab1_summary("json")).expect("json");
    assert_eq!(summary[0]["final_conclusion"], "success");
    assert_eq!(summary[0]["final_points"], Value::Null);
    let details = app.audit_details_json("lab_attempt.scored").await;
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["points"], Value::Null);
    assert_eq!(details[0]["conclusion"], "success");
    app.stop().await;
}

async fn scores_are_audited_verified_and_proven(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    push(&app, "lab1-dave", 15, 7, OPENS + 100).await;
    app.drain().await;
    autograded(&app, "run-d", ("lab1-dave", 15), 7, 301, "Points 7.5/10").await;
    app.drain().await;
    let details = app.audit_details_json("lab_attempt.scored").await;
    let attempt = app.attempt().await;
    assert_eq!(details[0]["attempt_id"], attempt.id);
    assert_eq!(details[0]["check_run_id"], 301);
    assert_eq!(details[0]["app_id"], 15368);
    assert_eq!(details[0]["points"], "7.5");
    assert_eq!(details[0]["points_available"], "10");
    assert_eq!(details[0]["completed_at"], "2026-01-02T00:00:01.000000Z");
    let report = app.assert_audit_verifies();
    assert!(report.contains("1 score"), "{report}");

    // A proof of the attempt carries its score, and checks offline.
    checkpoint(&app);
    let dir = db.scratch_dir();
    let proof = dir.join("proof.json");
    cli_ok(
        &app,
        &[
            "audit",
            "prove",
            "--attempt",
            &attempt.id.to_string(),
            "--out",
            &proof.display().to_string(),
        ],
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&proof).expect("proof")).expect("json");
    assert!(doc["score"]["leaf_index"].is_u64(), "{doc}");
    let key = cli_ok(&app, &["audit", "public-key"]);
    let check = |file: &std::path::Path| {
        crate::helpers::code_and_output(&crate::helpers::output_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
                .args(["audit", "check-proof"])
                .arg(file)
                .args(["--public-key", key.trim()])
                .env_remove("DATABASE_URL")
                .current_dir(&dir),
        ))
    };
    let (code, out) = check(&proof);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("valid: score entry"), "{out}");
    assert!(out.contains("\"points\":\"7.5\""), "{out}");
    // The score's entry altered: invalid.
    let mut bad = doc.clone();
    bad["score"]["leaf_index"] = (doc["score"]["leaf_index"].as_u64().unwrap_or(0) - 1).into();
    let bad_path = dir.join("bad.json");
    std::fs::File::create(&bad_path)
        .and_then(|mut f| f.write_all(bad.to_string().as_bytes()))
        .expect("write");
    let (code, out) = check(&bad_path);
    assert_eq!(code, Some(1), "{out}");

    // Editing the score row is named by `audit verify` (exit 1).
    app.exec("UPDATE lab_attempt_score SET points = '10'")
        .await
        .expect("update");
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, Some(1), "{out}");
    let score_id = app.scalar("SELECT id FROM lab_attempt_score").await;
    assert!(
        out.contains(&format!("score {score_id}: points is 10, the log says 7.5")),
        "{out}"
    );
    app.stop().await;
}

async fn a_missed_delivery_is_filled_by_scores_sync(db: TestDb) {
    let fake = FakeGithub::start().await;
    let app = spawn_app_with(&db, AppOptions::with_github(&fake)).await;
    app.create_lab1_session().await;
    fake.add_repo_without_git(1, "course/lab1-erin", 16);
    push(&app, "lab1-erin", 16, 8, OPENS + 100).await;
    app.drain().await;
    // The check_run delivery never came; GitHub holds the run (and another check's).
    fake.add_graded_check_run(
        "course/lab1-erin",
        &sha(8),
        "Autograding Tests",
        "Points 9/10",
    );
    fake.add_graded_check_run("course/lab1-erin", &sha(8), "lint", "Points 1/1");
    let out = crate::redeliver::cli_as_app(&db, &fake, &["scores", "sync", "--session", "lab1"]);
    let (code, printed) = crate::helpers::code_and_output(&out);
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("scored 9/10"), "{printed}");
    assert!(printed.contains("1 scored"), "{printed}");
    assert_eq!(points_of(&grades(&app, "lab1"), "lab1-erin"), "9,10");
    assert_eq!(app.audit_count("lab_attempt.scored", None).await, 1);
    app.assert_audit_verifies();
    app.stop().await;
}

async fn gradebook_matches_the_summaries_cell_by_cell(db: TestDb) {
    let app = spawn_app(&db).await;
    let slugs = ["lab1", "lab2", "lab3"];
    for (i, slug) in slugs.iter().enumerate() {
        let opens = chrono::DateTime::from_timestamp(OPENS + i as i64 * 86_400 * 40, 0).expect("t");
        let closes = opens + chrono::Duration::days(30);
        app.create_session(
            "course",
            slug,
            &format!("{slug}-*"),
            (&opens.to_rfc3339(), &closes.to_rfc3339()),
        )
        .await;
    }
    let mut roster = String::from("identifier,github_username,github_id,name\n");
    for s in 0..30 {
        roster.push_str(&format!("s{s:02}@uni.test,student{s:02},,Student {s}\n"));
    }
    app.import_roster(&roster);
    // Students push to some labs, on time or late; some runs are graded.
    let mut n = 0u64;
    for (i, slug) in slugs.iter().enumerate() {
        let opens = OPENS + i as i64 * 86_400 * 40;
        for s in 0..30u64 {
            if (s + i as u64) % 4 == 0 {
                continue;
            }
            n += 1;
            let late = (s + i as u64) % 5 == 0;
            let at = if late {
                opens + 31 * 86_400
            } else {
                opens + 3600
            };
            let repo = format!("{slug}-student{s:02}");
            push(&app, &repo, 1000 + n as i64, n, at).await;
            if s % 3 != 0 {
                let id = 5000 + n as i64;
                run(
                    &app,
                    &format!("g-{n}"),
                    &run_payload(
                        &repo,
                        1000 + n as i64,
                        &sha(n),
                        "Autograding Tests",
                        id,
                        &format!("Points {}/10", s % 11),
                    ),
                )
                .await;
            }
        }
    }
    // An unrostered pusher (the fixture's pusher login).
    n += 1;
    push(&app, "lab2-visitor", 9999, n, OPENS + 40 * 86_400 + 3600).await;
    app.drain().await;

    let book = cli_ok(
        &app,
        &[
            "grades",
            "book",
            "--org",
            "course",
            "--sessions",
            "lab3,lab1,lab2",
        ],
    );
    let mut lines = book.lines();
    assert_eq!(
        lines.next(),
        Some("roster_identifier,github_username,name,lab1_points,lab1_status,lab2_points,lab2_status,lab3_points,lab3_status")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 31, "{book}");
    assert_eq!(rows[30][..3], ["", "Codertocat", ""]);
    for (i, slug) in slugs.iter().enumerate() {
        let summary: Value = serde_json::from_str(&cli_ok(
            &app,
            &["attempts", "summary", "--session", slug, "--format", "json"],
        ))
        .expect("json");
        for r in summary.as_array().expect("rows") {
            let who = r["roster_identifier"].as_str().map_or_else(
                || r["github_username"].as_str().unwrap_or_default().to_owned(),
                str::to_owned,
            );
            let row = rows
                .iter()
                .find(|row| row[0] == who || (row[0].is_empty() && row[1] == who))
                .unwrap_or_else(|| panic!("{who} in {book}"));
            assert_eq!(
                row[3 + 2 * i],
                r["final_points"].as_str().unwrap_or(""),
                "{who} {slug}"
            );
            assert_eq!(
                row[4 + 2 * i],
                r["status"].as_str().unwrap_or(""),
                "{who} {slug}"
            );
        }
    }
    // The API gives the same CSV to an instructor of the org.
    let token = crate::tokens::create_token(&app, "ta", "instructor", Some("course"));
    let resp = app
        .get_as("/api/v1/orgs/course/gradebook.csv", &token)
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let api = resp.text().await.expect("text");
    let all = cli_ok(&app, &["grades", "book", "--org", "course"]);
    assert_eq!(api, all);
    assert_eq!(app.audit_count("api.gradebook_exported", None).await, 1);
    let other = crate::tokens::create_token(&app, "tb", "instructor", Some("elsewhere"));
    let resp = app
        .get_as("/api/v1/orgs/course/gradebook.csv", &other)
        .await;
    assert_eq!(resp.status().as_u16(), 403);
    app.stop().await;
}
