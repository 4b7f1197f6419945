//! App authentication: installation tokens are cached, refreshed before they expire and after GitHub
//! refuses them; a missing or invalid key stops `serve` with a clear error that never shows the key.

use crate::backend_tests;
use crate::fake_github::Route;
use crate::github_files::{app_with_small_push, deliver, recorded};
use crate::helpers::{run_cli, TestDb};

backend_tests!(
    token_refused_mid_run_is_replaced,
    token_close_to_expiry_is_not_reused,
    serve_refuses_an_unreadable_or_invalid_key,
);

async fn token_refused_mid_run_is_replaced(db: TestDb) {
    let (app, fake, _repo, payload, expected) = app_with_small_push(&db).await;
    // Every token "expires" on GitHub's side after one use.
    fake.set_token_uses(Some(1));

    let d = deliver(&app, "tok-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    app.drain_check_runs().await;
    assert_eq!(recorded(&app).await.0, expected);
    let seen = fake.seen();
    let refused = seen.iter().filter(|s| s.status == 401).count();
    let served: Vec<_> = seen
        .iter()
        .filter(|s| s.route != Route::Token && s.status < 300)
        .collect();
    // commit, list check runs, create check run: each after a refusal except the first.
    assert_eq!(served.len(), 3, "{seen:?}");
    assert_eq!(refused, 2);
    assert_eq!(fake.count(Route::Token), 3);
    let tokens: std::collections::HashSet<_> =
        served.iter().filter_map(|s| s.token.clone()).collect();
    assert_eq!(tokens.len(), 3, "a fresh token each time");
    assert!(
        tokens.iter().any(|t| t.len() != 40),
        "tokens are opaque and of varying length"
    );
}

async fn token_close_to_expiry_is_not_reused(db: TestDb) {
    let (app, fake, _repo, payload, _) = app_with_small_push(&db).await;
    // Inside the 5-minute refresh margin from the start.
    fake.set_token_lifetime(chrono::Duration::minutes(4));

    deliver(&app, "tok-2", &payload).await;
    app.drain_check_runs().await;
    let calls = fake
        .seen()
        .iter()
        .filter(|s| s.route != Route::Token)
        .count();
    assert_eq!(calls, 3);
    assert_eq!(fake.count(Route::Token), calls, "one fresh token per call");
    assert!(
        fake.seen().iter().all(|s| s.status < 300),
        "{:?}",
        fake.seen()
    );
}

async fn serve_refuses_an_unreadable_or_invalid_key(db: TestDb) {
    let dir = db.scratch_dir();
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----\n")
        .expect("write");
    let cases = [
        (
            dir.join("missing.pem"),
            "Cannot read the GitHub App private key",
        ),
        (bad, "Cannot set up the GitHub App"),
    ];
    for (path, want) in cases {
        let out = crate::helpers::output_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
                .args(["serve", "--bind", "127.0.0.1:0"])
                .env("DATABASE_URL", &db.url)
                .env("LABTRAIL_AUDIT_ORIGIN", crate::helpers::ORIGIN)
                .env("GITHUB_WEBHOOK_SECRET", "s")
                .env("GITHUB_APP_ID", "4242")
                .env("GITHUB_PRIVATE_KEY_PATH", &path)
                .env_remove("GITHUB_PRIVATE_KEY")
                .env("RUST_LOG", "warn")
                .current_dir(&dir),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert!(
            !stderr.contains("c2VjcmV0"),
            "the key is never shown: {stderr}"
        );
    }
    // Without credentials it still starts (checked elsewhere); the CLI is usable meanwhile.
    assert!(run_cli(&db, &["migrate"]).status.success());
}
