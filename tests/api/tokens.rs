//! Tokens: created at random and shown once (alone on the last line), stored as SHA-256 only, listed
//! without secrets, revocable; the read API refuses missing, wrong, revoked, wrong-role and other-org
//! tokens with 401/403 and leaks nothing, and audits the uses it serves.

use sea_orm::EntityTrait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::helpers::{cli_stdout, push_payload, sha, spawn_app, TestApp, TestDb, JANUARY_2026};

backend_tests!(
    token_commands_show_the_token_once_and_store_only_its_hash,
    api_refuses_wrong_revoked_wrong_role_and_other_org_tokens,
);

/// `labtrail token create …`; the token from the last line of standard output.
pub fn create_token(app: &TestApp, name: &str, role: &str, org: Option<&str>) -> String {
    let mut args = vec!["token", "create", "--name", name, "--role", role];
    if let Some(org) = org {
        args.extend(["--org", org]);
    }
    let stdout = cli_stdout(&app.cli(&args));
    stdout.lines().last().expect("a token line").to_owned()
}

/// GET an API path with an optional bearer token: status and JSON body (Null when not JSON).
pub async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(format!("{}/api/v1{path}", app.base_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// `GET /api/v1{path}` answers `status` (whatever its body).
pub async fn assert_status(app: &TestApp, path: &str, token: Option<&str>, status: u16) {
    let (got, body) = get(app, path, token).await;
    assert_eq!(got, status, "GET {path}: {body}");
}

/// Two organisations, one session and one attempt each.
pub async fn two_orgs(app: &TestApp) -> (i64, i64) {
    for (n, org) in [(1u64, "course"), (2, "other")] {
        app.create_session(org, "lab1", "lab1-*", JANUARY_2026)
            .await;
        // Distinct repositories and heads: two pushes, not one push seen twice.
        let p = push_payload(org, "lab1-x", 7 + n as i64, &sha(n), 1767225600);
        app.deliver_push(&format!("{org}-1"), &p).await;
    }
    app.drain().await;
    let sessions = entity::lab_session::Entity::find()
        .all(&app.db)
        .await
        .expect("read sessions");
    let attempts = app.attempts().await;
    let id = |org: &str| {
        let session = sessions.iter().find(|s| s.org == org).expect("session");
        let mut of_org = attempts.iter().filter(|a| a.session_id == session.id);
        let attempt = of_org.next().expect("an attempt");
        assert!(of_org.next().is_none(), "one attempt of {org}");
        attempt.id
    };
    (id("course"), id("other"))
}

async fn token_commands_show_the_token_once_and_store_only_its_hash(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = create_token(&app, "ta-1", "instructor", Some("Course"));
    assert!(token.starts_with("lt_") && token.len() >= 40, "{token}");
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let stored = entity::api_token::Entity::find()
        .all(&app.db)
        .await
        .expect("read tokens");
    assert_eq!(
        stored
            .iter()
            .filter(|t| t.token_sha256 == hash && t.org.as_deref() == Some("course"))
            .count(),
        1,
        "stored as SHA-256, org lower-cased"
    );
    let list = app.cli(&["token", "list", "--format", "json"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        !text.contains(&token) && !text.contains(&hex::encode(Sha256::digest(token.as_bytes())))
    );
    let list: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(list[0]["name"], "ta-1");
    assert_eq!(list[0]["role"], "instructor");
    let other = create_token(&app, "ta-2", "auditor", None);
    assert_ne!(other, token, "random");
    for (args, needle) in [
        (
            vec!["token", "create", "--name", "x", "--role", "instructor"],
            "--org",
        ),
        (
            vec!["token", "create", "--name", "ta-1", "--role", "admin"],
            "exists already",
        ),
        (vec!["token", "revoke", "nobody"], "no active token"),
    ] {
        let out = app.cli(&args);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
    assert!(app.cli(&["token", "revoke", "ta-1"]).status.success());
    assert_eq!(app.cli(&["token", "revoke", "ta-1"]).status.code(), Some(1));
    // Audited, with ids only: neither the token nor its name is in the hashed details.
    assert_eq!(
        app.audit_matching(
            |e| ["api_token.created", "api_token.revoked"].contains(&e.action.as_str())
        )
        .await,
        3
    );
    assert_eq!(
        app.audit_matching(|e| e.details.contains(&token) || e.details.contains("ta-1"))
            .await,
        0
    );
}

async fn api_refuses_wrong_revoked_wrong_role_and_other_org_tokens(db: TestDb) {
    let app = spawn_app(&db).await;
    let (_, other_attempt) = two_orgs(&app).await;
    let auditor = create_token(&app, "aud", "auditor", None);
    let instructor = create_token(&app, "ins", "instructor", Some("course"));
    let revoked = create_token(&app, "old", "admin", None);
    assert!(app.cli(&["token", "revoke", "old"]).status.success());
    let api_entry = |e: &entity::audit_log::Model| e.action.starts_with("api.");
    let before = app.audit_matching(api_entry).await;
    let wrong = format!("{}x", &auditor[..auditor.len() - 1]);
    let cases: [(&str, Option<&str>, u16); 10] = [
        ("/audit", None, 401),
        ("/audit", Some(wrong.as_str()), 401),
        ("/audit", Some(revoked.as_str()), 401),
        ("/sessions", Some(revoked.as_str()), 401),
        ("/audit", Some(instructor.as_str()), 403),
        ("/audit/checkpoint", Some(instructor.as_str()), 403),
        ("/sessions?org=other", Some(instructor.as_str()), 403),
        (
            "/sessions/lab1/attempts?org=other",
            Some(instructor.as_str()),
            403,
        ),
        (
            "/sessions/lab1/attempts?org=other&format=csv",
            Some(instructor.as_str()),
            403,
        ),
        ("/attempts/999999", Some(instructor.as_str()), 404),
    ];
    for (path, token, want) in cases {
        let (status, body) = get(&app, path, token).await;
        assert_eq!(status, want, "{path}");
        let keys: Vec<&String> = body
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            vec!["error"],
            "{path}: only an error, nothing else: {body}"
        );
    }
    // Another organisation's attempt answers exactly like one that does not exist.
    let (status, body) = get(
        &app,
        &format!("/attempts/{other_attempt}"),
        Some(&instructor),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], format!("no attempt {other_attempt}"));
    assert_eq!(
        app.audit_matching(api_entry).await,
        before,
        "refusals append nothing"
    );
    // The instructor's own organisation, without org=.
    let (status, body) = get(&app, "/sessions", Some(&instructor)).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    assert_eq!(body[0]["org"], "course");
    let (status, body) = get(&app, "/sessions/lab1/attempts", Some(&instructor)).await;
    assert_eq!(status, 200);
    assert_eq!(body["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["attempts"][0]["repository"], "course/lab1-x");
    // The auditor reads the log; the read itself is audited under the token's name.
    let (status, body) = get(&app, "/audit", Some(&auditor)).await;
    assert_eq!(status, 200);
    assert!(body["entries"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(
        app.audit_matching(|e| e.action == "api.audit_read" && e.actor == "token:aud")
            .await,
        1
    );
    assert_eq!(
        app.audit_matching(|e| e.action == "api.attempts_exported" && e.actor == "token:ins")
            .await,
        1
    );
    app.assert_audit_verifies();
}
