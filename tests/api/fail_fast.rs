//! Misconfiguration stops `serve` before it takes a delivery it could never record.

use std::process::Command;

use crate::backend_tests;
use crate::helpers::{output_of, serve_command, spawn_app, TestDb, ORIGIN};

backend_tests!(
    serve_refuses_an_origin_other_than_the_logs,
    readyz_is_503_whenever_deliveries_cannot_be_recorded,
);

async fn readyz(app: &crate::helpers::TestApp) -> (u16, String) {
    let resp = app.get("/readyz").await;
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Setup mode, and a log another instance bound to another origin: `/readyz` says 503 and why.
async fn readyz_is_503_whenever_deliveries_cannot_be_recorded(db: TestDb) {
    let setup = crate::helpers::spawn_app_with(
        &db,
        crate::helpers::AppOptions {
            secrets: vec![],
            ..Default::default()
        },
    )
    .await;
    let (status, body) = readyz(&setup).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("setup mode"), "{body}");
    setup.stop().await;

    let app = spawn_app(&db).await;
    assert_eq!(readyz(&app).await.0, 200);
    // Another instance, configured with another origin, starts the log.
    let other = output_of(
        Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .args(["token", "create", "--name", "t", "--role", "auditor"])
            .env("DATABASE_URL", &db.url)
            .env("LABTRAIL_AUDIT_ORIGIN", "elsewhere.example")
            .current_dir(db.scratch_dir()),
    );
    assert!(other.status.success(), "{other:?}");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("elsewhere.example") && body.contains(ORIGIN),
        "{body}"
    );
    app.stop().await;
}

/// The log was started as `labtrail.test`; `serve` with another public URL (and no explicit origin) exits
/// non-zero at once, naming both origins and the fix.
async fn serve_refuses_an_origin_other_than_the_logs(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await; // the first entry binds the log to ORIGIN
    app.stop().await;
    // A serve that kept running would be killed, failing the test, after `CHILD_TIMEOUT`.
    let output = output_of(
        serve_command(&db)
            .env("LABTRAIL_PUBLIC_URL", "https://moved.example.edu")
            .env_remove("LABTRAIL_AUDIT_ORIGIN"),
    );
    let status = output.status;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success(), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening"),
        "refused before listening: {stderr}"
    );
    assert!(stderr.contains(ORIGIN), "names the log's origin: {stderr}");
    assert!(
        stderr.contains("moved.example.edu"),
        "names the configured origin: {stderr}"
    );
    assert!(
        stderr.contains(&format!("LABTRAIL_AUDIT_ORIGIN={ORIGIN}")),
        "says the fix: {stderr}"
    );
}
