//! `labtrail doctor`, the real binary against a real database and the fake GitHub: one line per check, ✓ or
//! ✗ with the fix, exit 0 healthy and 1 otherwise, nothing created.

use std::path::Path;

use crate::backend_tests;
use crate::fake_github::{FakeGithub, HookAttempt, Route, APP_ID};
use crate::helpers::{fixture, run_cli_with, spawn_app, Backend, TestApp, TestDb};

const PUBLIC_URL: &str = "https://labtrail.example.edu";

/// A healthy installation: migrated database with audit entries, a 0600 audit key that signed the newest
/// checkpoint, the App installed once, its webhook where the server is, every delivery delivered.
async fn healthy(db: &TestDb) -> (TestApp, FakeGithub) {
    let app = spawn_app(db).await;
    app.create_lab1_session().await;
    let fake = FakeGithub::start().await;
    fake.set_installation(7, None);
    fake.add_hook_attempt(HookAttempt::new("guid-ok", "push", 202, 30));
    fake.set_hook_config(&format!("{PUBLIC_URL}/webhooks/github"), "json");
    write_private(
        &db.scratch_dir().join("app.pem"),
        &fixture("test-only-github-app-key.pem"),
    );
    for args in [
        &["audit", "keygen"][..],
        &["audit", "checkpoint", "--write"],
    ] {
        let out = app.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (app, fake)
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
    chmod(path, 0o600);
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Run `labtrail doctor` configured for the fake; `extra` overrides (the later of two values wins). Exit code and standard output.
async fn doctor(db: &TestDb, fake: &FakeGithub, extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let api = fake.api_url();
    let app_id = APP_ID.to_string();
    let env: Vec<(String, String)> = [
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_APP_ID", app_id.as_str()),
        ("GITHUB_PRIVATE_KEY_PATH", "app.pem"),
        ("GITHUB_WEBHOOK_SECRET", "s3cret"),
        ("LABTRAIL_PUBLIC_URL", PUBLIC_URL),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let db = db.clone();
    let out = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_cli_with(&db, &["doctor"], &env)
    })
    .await
    .expect("doctor ran");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with("✓ ") || l.starts_with("✗ ")),
        "one ✓/✗ line per check: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), stdout)
}

fn failures(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with("✗ ")).collect()
}

/// `doctor` exited 1: its failed checks.
fn failed(code: Option<i32>, report: &str) -> Vec<&str> {
    assert_eq!(code, Some(1), "{report}");
    failures(report)
}

/// `doctor` exited 1 with exactly one failed check: that check.
fn only_failure(code: Option<i32>, report: &str) -> &str {
    let bad = failed(code, report);
    assert_eq!(bad.len(), 1, "{report}");
    bad[0]
}

async fn a_healthy_setup_passes_every_check(db: TestDb) {
    let (_app, fake) = healthy(&db).await;
    let (code, report) = doctor(&db, &fake, &[]).await;
    assert_eq!(code, Some(0), "{report}");
    assert!(failures(&report).is_empty(), "{report}");
    for finding in [
        "database reachable",
        "audit origin labtrail.test matches the log",
        "signed the newest checkpoint",
        "covers 1 of 1 entries",
        "webhook secret is set",
        "GitHub App labtrail (id 4242) authenticated",
        "GitHub delivers to https://labtrail.example.edu/webhooks/github as json",
        "installed on 1: course (7)",
        "installations grant checks: write, contents: read, metadata: read, administration: write",
        "GitHub delivered the 1 delivery of the last 24 h",
        "the webhook URL https://labtrail.example.edu/webhooks/github is public and https",
    ] {
        assert!(report.contains(finding), "{finding}: {report}");
    }
    assert!(fake.count(Route::GetApp) == 1 && fake.count(Route::HookConfig) == 1);
}

/// [`doctor`] with `LABTRAIL_PUBLIC_URL` `url`, and the App's webhook (JSON) at that URL.
async fn doctor_served_at(db: &TestDb, fake: &FakeGithub, url: &str) -> (Option<i32>, String) {
    fake.set_hook_config(&format!("{url}/webhooks/github"), "json");
    doctor(db, fake, &[("LABTRAIL_PUBLIC_URL", url)]).await
}

async fn a_local_or_http_webhook_url_fails_with_the_tunnel_fix(db: TestDb) {
    let (_app, fake) = healthy(&db).await;
    let (code, report) = doctor_served_at(&db, &fake, "http://localhost:3000").await;
    let bad = only_failure(code, &report);
    assert!(
        bad.starts_with(
            "✗ the webhook URL http://localhost:3000/webhooks/github is local and http://"
        ) && bad.contains("cloudflared")
            && bad.contains("reverse proxy"),
        "{report}"
    );
    let (code, report) = doctor_served_at(&db, &fake, "http://labtrail.example.edu").await;
    assert!(
        only_failure(code, &report).contains("is http://: deliveries would travel unencrypted"),
        "{report}"
    );
}

async fn a_wrong_hook_url_names_both_urls(db: TestDb) {
    let (_app, fake) = healthy(&db).await;
    fake.set_hook_config("http://localhost:3000/webhooks/github", "json");
    let (code, report) = doctor(&db, &fake, &[]).await;
    let bad = only_failure(code, &report);
    assert!(
        bad.contains("http://localhost:3000/webhooks/github")
            && bad.contains("https://labtrail.example.edu/webhooks/github")
            && bad.contains("— fix: "),
        "{report}"
    );
    fake.set_hook_config(&format!("{PUBLIC_URL}/webhooks/github"), "form");
    let (code, report) = doctor(&db, &fake, &[]).await;
    assert!(
        failed(code, &report)[0].contains("application/json"),
        "{report}"
    );
}

async fn a_bad_app_key_is_reported(db: TestDb) {
    let (_app, fake) = healthy(&db).await;
    // A well-formed RSA key that is not the App's: GitHub refuses its JWT.
    write_private(
        &db.scratch_dir().join("foreign.pem"),
        &fixture("test-only-foreign-app-key.pem"),
    );
    let (code, report) = doctor(&db, &fake, &[("GITHUB_PRIVATE_KEY_PATH", "foreign.pem")]).await;
    let bad = only_failure(code, &report);
    assert!(
        bad.contains("GitHub refused the App's credentials") && bad.contains("401"),
        "{report}"
    );
    // Not a key at all.
    write_private(&db.scratch_dir().join("junk.pem"), b"not a key");
    let (code, report) = doctor(&db, &fake, &[("GITHUB_PRIVATE_KEY_PATH", "junk.pem")]).await;
    assert!(
        failed(code, &report)[0].contains("credentials unusable"),
        "{report}"
    );
}

async fn a_readable_audit_key_gets_the_chmod_fix(db: TestDb) {
    let (_app, fake) = healthy(&db).await;
    chmod(&db.key_path(), 0o644);
    let (code, report) = doctor(&db, &fake, &[]).await;
    let bad = only_failure(code, &report);
    assert!(bad.contains("mode 0644"), "{report}");
    assert!(
        bad.ends_with(&format!("— fix: chmod 600 {}", "labtrail-audit.key")),
        "{report}"
    );
    // Read-only: doctor reports, it does not tighten.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(db.key_path())
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
}

async fn failed_deliveries_and_suspended_installations_are_listed(db: TestDb) {
    let (_app, fake) = healthy(&db).await;
    fake.add_hook_attempt(HookAttempt::new("guid-old", "push", 0, 26 * 60));
    fake.add_hook_attempt(HookAttempt::new("guid-a", "push", 503, 120));
    fake.add_hook_attempt(HookAttempt::new("guid-b", "push", 0, 10));
    fake.add_hook_attempt(HookAttempt::new("guid-c", "push", 500, 50));
    fake.add_hook_attempt(HookAttempt::new("guid-c", "push", 202, 40).redelivered());
    fake.set_installation(8, Some(chrono::Utc::now()));
    let (code, report) = doctor(&db, &fake, &[]).await;
    let bad = failed(code, &report);
    assert_eq!(bad.len(), 2, "{report}");
    let deliveries = bad
        .iter()
        .find(|l| l.contains("could not deliver"))
        .expect("deliveries line");
    assert!(
        deliveries.contains("3 of 5 deliveries in the last 24 h (2 events still undelivered)")
            && deliveries.contains("newest: push guid-b")
            && deliveries.contains("failed to connect")
            && deliveries.contains("labtrail redeliver"),
        "{report}"
    );
    let suspended = bad
        .iter()
        .find(|l| l.contains("suspended"))
        .expect("installations line");
    assert!(
        suspended.contains("1 of 2 installations suspended") && suspended.contains("(8)"),
        "{report}"
    );
}

async fn a_missing_database_is_reported_and_not_created(db: TestDb) {
    let fake = FakeGithub::start().await;
    let missing = db.scratch_dir().join("missing.db");
    let url = match db.backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", missing.display()),
        Backend::Postgres => {
            let mut u = url::Url::parse(&db.url).expect("url");
            u.set_path("/labtrail_doctor_missing");
            u.to_string()
        }
    };
    let (code, report) = doctor(&db, &fake, &[("DATABASE_URL", &url)]).await;
    let bad = failed(code, &report);
    assert!(
        bad[0].contains("does not exist (nothing was created)")
            || bad[0].contains("cannot open the database"),
        "{report}"
    );
    assert!(!missing.exists(), "nothing created");
    let listing: Vec<_> = std::fs::read_dir(db.scratch_dir()).expect("dir").collect();
    assert!(
        listing.is_empty(),
        "the scratch directory stays empty: {listing:?}"
    );
}

backend_tests!(
    a_healthy_setup_passes_every_check,
    a_wrong_hook_url_names_both_urls,
    a_local_or_http_webhook_url_fails_with_the_tunnel_fix,
    a_bad_app_key_is_reported,
    a_readable_audit_key_gets_the_chmod_fix,
    failed_deliveries_and_suspended_installations_are_listed,
    a_missing_database_is_reported_and_not_created,
    a_missing_installation_permission_is_named,
);

/// An installation without `administration: write` (invitations cannot make repositories): named.
async fn a_missing_installation_permission_is_named(db: TestDb) {
    let (_app, fake) = healthy(&db).await;
    fake.set_permissions(
        7,
        serde_json::json!({ "checks": "write", "contents": "read", "metadata": "read" }),
    );
    let (code, report) = doctor(&db, &fake, &[]).await;
    let line = only_failure(code, &report);
    assert!(
        line.contains("course (7) lacks administration: write (has none)")
            && line.contains("accept the new permissions"),
        "{report}"
    );
}
