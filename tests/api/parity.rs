//! The same delivery gives the same outcome on SQLite and PostgreSQL: NUL characters in text fields, and
//! `_`/`%` in repository filters.

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{push_payload, sha, spawn_app, TestDb};

backend_tests!(
    nul_characters_are_recorded_as_replacement_characters,
    repository_filters_take_underscore_and_percent_literally,
);

/// PostgreSQL cannot store NUL in `text`; SQLite can. Both record U+FFFD in its place: a signed push with NUL
/// in its pusher and a file path is recorded (not retried until `dead`), and a NUL in `action` is accepted
/// (not a 503). The stored payload keeps the signed bytes.
async fn nul_characters_are_recorded_as_replacement_characters(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    let mut p = push_payload("course", "lab1-alice", 7, &sha(1), 1767225600);
    p["pusher"]["name"] = "ali\u{0}ce".into();
    p["commits"][0]["added"] = serde_json::json!(["src/a\u{0}b.rs"]);
    p["head_commit"]["added"] = serde_json::json!(["src/a\u{0}b.rs"]);
    let body = serde_json::to_vec(&p).expect("json");
    assert!(
        body.windows(6).any(|w| w == b"\\u0000"),
        "the payload carries NUL escapes"
    );
    assert_eq!(app.deliver("push", "nul-push", &body).await.status(), 202);
    app.drain().await;
    assert_eq!(app.delivery("nul-push").await.status, "processed");
    let attempt = app.attempt().await;
    assert_eq!(attempt.pusher_login.as_deref(), Some("ali\u{FFFD}ce"));
    let paths: Vec<String> = app
        .attempt_files()
        .await
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(paths.contains(&"src/a\u{FFFD}b.rs".to_owned()), "{paths:?}");
    // An escaped backslash before `u0000` is text, not a NUL.
    let mut literal = push_payload("course", "lab1-alice", 7, &sha(2), 1767225601);
    literal["pusher"]["name"] = "back\\u0000slash".into();
    let literal_body = serde_json::to_vec(&literal).expect("json");
    assert_eq!(
        app.deliver("push", "literal", &literal_body).await.status(),
        202
    );
    app.drain().await;
    assert_eq!(app.delivery("literal").await.status, "processed");
    let pushers: Vec<Option<String>> = app
        .attempts()
        .await
        .into_iter()
        .map(|a| a.pusher_login)
        .collect();
    assert!(
        pushers.contains(&Some("back\\u0000slash".to_owned())),
        "{pushers:?}"
    );

    let installation = serde_json::to_vec(&serde_json::json!({
        "action": "cre\u{0}ated",
        "installation": { "id": 42, "account": { "login": "course", "id": 1 } },
    }))
    .expect("json");
    let resp = app
        .deliver("installation", "nul-action", &installation)
        .await;
    assert_eq!(resp.status(), 202);
    app.drain().await;
    let stored = app.delivery("nul-action").await;
    assert_eq!(stored.action.as_deref(), Some("cre\u{FFFD}ated"));
    assert_ne!(stored.status, "dead");
    assert_eq!(
        stored.payload.as_deref(),
        Some(&installation[..]),
        "the signed bytes are kept"
    );
}

/// `--repo lab1-a_b` is that repository, not `lab1-axb`; `%` matches nothing it does not spell.
async fn repository_filters_take_underscore_and_percent_literally(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    for (i, repo) in ["lab1-a_b", "lab1-axb"].into_iter().enumerate() {
        let p = push_payload(
            "course",
            repo,
            10 + i as i64,
            &sha(i as u64 + 1),
            1767225600,
        );
        assert_eq!(app.deliver_push(&format!("r-{i}"), &p).await.status(), 202);
    }
    app.drain().await;
    let repos = |filter: &str| {
        let out = app.cli(&["attempts", "list", "--repo", filter, "--format", "json"]);
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        let mut names: Vec<String> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|a| a["repository"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(repos("lab1-a_b"), ["course/lab1-a_b"]);
    assert_eq!(repos("course/lab1-a_b"), ["course/lab1-a_b"]);
    assert_eq!(repos("LAB1-A_B"), ["course/lab1-a_b"], "case-insensitive");
    assert!(repos("lab1-a%").is_empty());
    assert!(repos("lab1-%").is_empty());
    assert_eq!(repos("lab1-axb"), ["course/lab1-axb"]);
}
