//! The webhook edge: signatures, headers, sizes, body encodings; refused requests change nothing.

use crate::backend_tests;
use crate::helpers::{
    assert_failed_and_kept, fixture, sign, spawn_app, spawn_app_with, AppOptions, TestDb, SECRET,
};

backend_tests!(
    refused_requests_change_nothing,
    rotated_secrets_are_all_accepted,
    form_encoded_delivery_is_accepted,
    signed_garbage_is_stored_as_rejected,
    oversized_body_is_refused,
    no_secret_means_503,
    ping_is_queued_then_ignored,
);

/// (name, headers, expected status).
type Case = (&'static str, Vec<(&'static str, String)>, u16);

async fn refused_requests_change_nothing(db: TestDb) {
    let app = spawn_app(&db).await;
    let body = fixture("octokit-webhooks/push/with-new-branch.payload.json");
    let before = app.counts().await;
    let url = format!("{}/webhooks/github", app.base_url);
    let good_sig = sign(SECRET, &body);
    // A push's event and delivery headers, then `signature` when given.
    let push = |guid: &str, signature: Option<(&'static str, String)>| {
        let mut headers = vec![
            ("x-github-event", "push".to_owned()),
            ("x-github-delivery", guid.to_owned()),
        ];
        headers.extend(signature);
        headers
    };
    let sha1 = "sha1=0123456789abcdef0123456789abcdef01234567".to_owned();
    let cases: Vec<Case> = vec![
        ("no signature", push("g-1", None), 401),
        (
            "wrong secret",
            push("g-2", Some(("x-hub-signature-256", sign("wrong", &body)))),
            401,
        ),
        (
            "sha1 only",
            push("g-3", Some(("x-hub-signature", sha1.clone()))),
            401,
        ),
        (
            "sha1 in the sha256 header",
            push("g-4", Some(("x-hub-signature-256", sha1))),
            401,
        ),
        (
            "malformed signature",
            push("g-5", Some(("x-hub-signature-256", "sha256=nothex".into()))),
            401,
        ),
        (
            "missing event",
            vec![
                ("x-github-delivery", "g-6".into()),
                ("x-hub-signature-256", good_sig.clone()),
            ],
            400,
        ),
        (
            "missing delivery",
            vec![
                ("x-github-event", "push".into()),
                ("x-hub-signature-256", good_sig.clone()),
            ],
            400,
        ),
        (
            "bad delivery id",
            push(
                "bad id;drop",
                Some(("x-hub-signature-256", good_sig.clone())),
            ),
            400,
        ),
    ];
    for (name, headers, want) in cases {
        let mut req = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), want, "case {name}");
        let json: serde_json::Value = resp.json().await.expect("JSON error body");
        assert!(json["error"].is_string(), "case {name}: {json}");
    }
    // A body altered after signing.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let resp = app
        .deliver_signed("push", "g-7", &tampered, &good_sig)
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        app.counts().await,
        before,
        "refused requests must not change the database"
    );
}

async fn rotated_secrets_are_all_accepted(db: TestDb) {
    let opts = AppOptions {
        secrets: vec!["new-secret".into(), "old-secret".into()],
        ..Default::default()
    };
    let app = spawn_app_with(&db, opts).await;
    let body = fixture("octokit-webhooks/ping/payload.json");
    for (i, secret) in ["new-secret", "old-secret"].iter().enumerate() {
        let resp = app
            .deliver_signed("ping", &format!("rot-{i}"), &body, &sign(secret, &body))
            .await;
        assert_eq!(resp.status().as_u16(), 202, "secret {secret}");
    }
    let resp = app
        .deliver_signed("ping", "rot-x", &body, &sign("retired", &body))
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(app.count(entity::webhook_delivery::Entity).await, 2);
}

async fn form_encoded_delivery_is_accepted(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_session(
        "Codertocat",
        "hw",
        "Hello-*",
        ("2019-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
    )
    .await;
    let json = fixture("octokit-webhooks/push/with-new-branch.payload.json");
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).expect("utf8"))
        .finish();
    let resp = app
        .client
        .post(format!("{}/webhooks/github", app.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "push")
        .header("x-github-delivery", "form-1")
        .header("x-hub-signature-256", sign(SECRET, form.as_bytes()))
        .body(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 202);
    let d = app.settled("form-1").await;
    assert_eq!(d.status, "processed");
    assert_eq!(
        d.payload.as_deref(),
        Some(json.as_slice()),
        "the decoded JSON is stored"
    );
    assert_eq!(app.attempts().await.len(), 1);
}

async fn signed_garbage_is_stored_as_rejected(db: TestDb) {
    let app = spawn_app(&db).await;
    let body = b"{not json".to_vec();
    let resp = app.deliver("push", "garbage-1", &body).await;
    assert_eq!(resp.status().as_u16(), 400);
    let row = app.settled("garbage-1").await;
    assert_failed_and_kept(&row, "rejected", "JSON", &body);
    // Same GUID again: known, nothing changes.
    let resp = app.deliver("push", "garbage-1", &body).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(app.attempts().await.is_empty());
}

async fn oversized_body_is_refused(db: TestDb) {
    let app = spawn_app(&db).await;
    let before = app.counts().await;
    let mut body = b"{\"zeros\":\"".to_vec();
    body.resize(25 * 1024 * 1024 + 10, b'0');
    body.extend_from_slice(b"\"}");
    let resp = app.deliver("push", "big-1", &body).await;
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(app.counts().await, before);
}

async fn no_secret_means_503(db: TestDb) {
    let app = spawn_app_with(
        &db,
        AppOptions {
            secrets: vec![],
            ..Default::default()
        },
    )
    .await;
    let body = fixture("octokit-webhooks/ping/payload.json");
    let resp = app.deliver("ping", "nosecret-1", &body).await;
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(app.count(entity::webhook_delivery::Entity).await, 0);
    let health = app.get("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
}

async fn ping_is_queued_then_ignored(db: TestDb) {
    let app = spawn_app(&db).await;
    let body = fixture("octokit-webhooks/ping/with-app_id.payload.json");
    let resp = app.deliver("ping", "ping-1", &body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let json: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        json,
        serde_json::json!({"delivery_id": "ping-1", "status": "queued"})
    );
    assert_eq!(app.settled("ping-1").await.status, "ignored");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = app.get("/metrics").await;
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("labtrail_webhook_requests_total{result=\"queued\"} 1"),
        "{text}"
    );
}
