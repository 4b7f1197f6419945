//! The audit chain: contiguous, verifiable, and any edit is caught by `labtrail audit verify`.

use crate::backend_tests;
use crate::helpers::{push_payload, sha, spawn_app, TestDb};

backend_tests!(
    verify_passes_on_an_intact_log,
    edited_details_are_caught,
    edited_actor_column_is_caught,
    deleted_middle_entry_is_caught,
    verify_exits_2_when_it_cannot_verify,
);

async fn record_some(app: &crate::helpers::TestApp, n: u64) {
    app.create_lab1_session().await;
    for i in 0..n {
        let p = push_payload(
            "course",
            "lab1-alice",
            7,
            &sha(i + 1),
            1767225600 + i as i64,
        );
        app.deliver_push(&format!("a-{i}"), &p).await;
    }
    app.drain().await;
}

fn verify(app: &crate::helpers::TestApp) -> (Option<i32>, String) {
    let out = app.cli(&["audit", "verify"]);
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn verify_passes_on_an_intact_log(db: TestDb) {
    let app = spawn_app(&db).await;
    let (code, out) = verify(&app);
    assert_eq!(code, Some(0), "an empty log is intact: {out}");
    record_some(&app, 5).await;
    let (code, out) = verify(&app);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("6 entries"), "{out}");
    // No personal data in hashed entries: the fixture's names and e-mails never appear.
    let leaked = app
        .audit_matching(|e| {
            ["Codertocat", "@", "alice"]
                .iter()
                .any(|s| e.details.contains(s))
        })
        .await;
    assert_eq!(leaked, 0);
}

async fn edited_details_are_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record_some(&app, 5).await;
    app.drop_audit_guards().await;
    app.exec("UPDATE audit_log SET details = REPLACE(details, '\"late\":false', '\"late\":true') WHERE seq = 3").await.expect("update");
    let (code, out) = verify(&app);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("seq 3"), "{out}");
}

async fn edited_actor_column_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record_some(&app, 4).await;
    app.drop_audit_guards().await;
    // A column edited, the hashed bytes left alone: they no longer agree.
    app.exec("UPDATE audit_log SET actor = 'system' WHERE seq = 2")
        .await
        .expect("update");
    let (code, out) = verify(&app);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("seq 2"), "{out}");
}

async fn deleted_middle_entry_is_caught(db: TestDb) {
    let app = spawn_app(&db).await;
    record_some(&app, 4).await;
    app.drop_audit_guards().await;
    app.exec("DELETE FROM audit_log WHERE seq = 2")
        .await
        .expect("delete");
    let (code, out) = verify(&app);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("seq 2"), "{out}");
}

async fn verify_exits_2_when_it_cannot_verify(db: TestDb) {
    let app = spawn_app(&db).await;
    record_some(&app, 1).await;
    // Another origin than the one the log was started with.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &db.url)
        .env("LABTRAIL_AUDIT_ORIGIN", "somewhere.else")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No database at all.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
