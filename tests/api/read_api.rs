//! The read API: sessions, attempts in cursor pages with filters and CSV, the attempt shape shared with
//! the CLI, audit pages and the checkpoint, and an OpenAPI document whose every path answers.

use serde_json::Value;

use crate::audit_support::checkpoint;
use crate::backend_tests;
use crate::helpers::{push_payload, sha, spawn_app, TestApp, TestDb};
use crate::tokens::{assert_status, create_token, get, two_orgs};

backend_tests!(
    attempts_come_in_cursor_pages_with_filters_and_csv,
    attempt_json_is_the_cli_shape,
    audit_pages_chain_and_checkpoint,
    openapi_document_lists_routes_that_answer,
);

/// Five pushes to `course/lab1`: pushes 3 and 4 after the deadline, push 4 from another repository.
async fn five_pushes(app: &TestApp) {
    app.create_lab1_session().await;
    for i in 0..5u64 {
        let repo = if i == 4 { "lab1-bob" } else { "lab1-alice" };
        let pushed = if i >= 3 {
            1770000000 + i as i64
        } else {
            1767225600 + i as i64
        };
        app.deliver_push(
            &format!("p-{i}"),
            &push_payload("course", repo, 7 + (i / 4) as i64, &sha(i + 1), pushed),
        )
        .await;
    }
    app.drain().await;
}

fn ids(body: &Value) -> Vec<i64> {
    body["attempts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["id"].as_i64()).collect())
        .unwrap_or_default()
}

async fn attempts_come_in_cursor_pages_with_filters_and_csv(db: TestDb) {
    let app = spawn_app(&db).await;
    five_pushes(&app).await;
    let admin = create_token(&app, "admin", "admin", None);
    let t = Some(admin.as_str());
    let (status, all) = get(&app, "/sessions/lab1/attempts", t).await;
    assert_eq!(status, 200);
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 5);
    assert_eq!(all["next_cursor"], Value::Null);
    // Pages of two, following the cursor.
    let mut seen = Vec::new();
    let mut path = "/sessions/lab1/attempts?limit=2".to_owned();
    loop {
        let (status, page) = get(&app, &path, t).await;
        assert_eq!(status, 200);
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/sessions/lab1/attempts?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, all_ids);
    for (query, want) in [
        ("late=true", 2),
        ("late=false", 3),
        ("repo=lab1-bob", 1),
        ("repo=course/lab1-alice", 4),
        ("since=2026-01-01T00:00:02Z", 3),
        ("until=2026-01-01T00:00:02Z", 2),
        (
            "since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00%2B01:00&late=false",
            3,
        ),
    ] {
        let (status, body) = get(&app, &format!("/sessions/lab1/attempts?{query}"), t).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(ids(&body).len(), want, "{query}");
    }
    for bad in ["since=yesterday", "cursor=abc", "format=xml", "limit=0"] {
        assert_status(&app, &format!("/sessions/lab1/attempts?{bad}"), t, 400).await;
    }
    assert_status(&app, "/sessions/nothing/attempts", t, 404).await;
    // CSV: the CLI's columns; the next cursor in a header.
    let resp = app
        .get_as("/api/v1/sessions/lab1/attempts?format=csv&limit=3", &admin)
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .is_ok_and(|c| c.starts_with("text/csv")));
    assert_eq!(
        resp.headers()["x-next-cursor"].to_str().ok(),
        Some(all_ids[2].to_string().as_str())
    );
    let text = resp.text().await.expect("body");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&reader.headers().expect("headers")[0], "id");
    assert_eq!(reader.records().count(), 3);
    let cli = app.cli(&["attempts", "list", "--session", "lab1", "--format", "csv"]);
    assert!(String::from_utf8_lossy(&cli.stdout).starts_with(text.lines().next().expect("header")));
}

async fn attempt_json_is_the_cli_shape(db: TestDb) {
    let app = spawn_app(&db).await;
    let (course_attempt, _) = two_orgs(&app).await;
    let admin = create_token(&app, "admin", "admin", None);
    let (status, body) = get(&app, &format!("/attempts/{course_attempt}"), Some(&admin)).await;
    assert_eq!(status, 200);
    let cli = app.cli(&["attempts", "show", &course_attempt.to_string()]);
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("json");
    assert_eq!(body, cli);
    // A slug two organisations use needs org= from an unscoped token.
    assert_status(&app, "/sessions/lab1/attempts", Some(&admin), 400).await;
    let (status, page) = get(&app, "/sessions/lab1/attempts?org=course", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(page["attempts"][0], cli);
    let (status, sessions) = get(&app, "/sessions", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(sessions.as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.audit_matching(|e| e.action == "api.attempt_read" && e.actor == "token:admin")
            .await,
        1
    );
}

async fn audit_pages_chain_and_checkpoint(db: TestDb) {
    let app = spawn_app(&db).await;
    five_pushes(&app).await; // seq 0..5
    let auditor = create_token(&app, "aud", "auditor", None); // seq 6
    let t = Some(auditor.as_str());
    // No checkpoint yet.
    assert_status(&app, "/audit/checkpoint", t, 404).await;
    let (status, first) = get(&app, "/audit?limit=3", t).await;
    assert_eq!(status, 200);
    assert_eq!(first["origin"], crate::helpers::ORIGIN);
    assert_eq!(first["next_after_seq"], 2);
    let (status, rest) = get(&app, "/audit?after_seq=2&limit=100", t).await;
    assert_eq!(status, 200);
    assert_eq!(rest["next_after_seq"], Value::Null);
    let entries: Vec<&Value> = first["entries"]
        .as_array()
        .into_iter()
        .chain(rest["entries"].as_array())
        .flatten()
        .collect();
    // Seq 0..=6, then the first read's own audit entry (seq 7) is in the second page.
    let seqs: Vec<i64> = entries.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, (0..=7).collect::<Vec<_>>());
    assert_eq!(entries[7]["action"], "api.audit_read");
    // A reader recomputes the chain from what the API gives.
    let mut prev = labtrail::audit::genesis_hash(crate::helpers::ORIGIN);
    for e in &entries {
        let leaf =
            labtrail::audit::leaf_hash(e["canonical"].as_str().expect("canonical").as_bytes());
        prev = labtrail::audit::chain_hash(&prev, &leaf);
        assert_eq!(e["entry_hash"], hex::encode(prev));
    }
    let note = checkpoint(&app);
    let resp = app.get_as("/api/v1/audit/checkpoint", &auditor).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("note"), note);
    assert_eq!(app.audit_count("api.checkpoint_read", None).await, 1);
}

async fn openapi_document_lists_routes_that_answer(db: TestDb) {
    let app = spawn_app(&db).await;
    let (attempt, _) = two_orgs(&app).await;
    checkpoint(&app);
    let (status, doc) = get(&app, "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let admin = create_token(&app, "admin", "admin", None);
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    assert_eq!(paths.len(), 11);
    for path in paths {
        let concrete = path
            .replace("{slug}", "lab1")
            .replace("{org}", "course")
            .replace("{id}", &attempt.to_string())
            + if path.contains("{slug}") {
                "?org=course"
            } else if path == "/audit/consistency" {
                "?from=1&to=2"
            } else {
                ""
            };
        let resp = app.get_as(&format!("/api/v1{concrete}"), &admin).await;
        assert_eq!(resp.status().as_u16(), 200, "{concrete}");
        let unauthenticated = app.get(&format!("/api/v1{concrete}")).await;
        let public = doc["paths"][&path]["get"]["security"] == serde_json::json!([]);
        assert_eq!(
            unauthenticated.status().as_u16(),
            if public { 200 } else { 401 },
            "{concrete}"
        );
    }
}
