//! Retention and erasure: `session archive` (audited), then `retention run` drops raw payload bytes
//! (keeping their SHA-256) and erases the archived session's attempts, one audited entry per attempt;
//! a dry run changes nothing, and the audit chain still verifies (entries hold ids only).

use crate::audit_support::{cli, cli_ok, verify_ok};
use crate::backend_tests;
use crate::helpers::{push_payload, sha, spawn_app, TestDb, JANUARY_2026};

backend_tests!(retention_erases_old_data_and_the_chain_still_verifies);

async fn retention_erases_old_data_and_the_chain_still_verifies(db: TestDb) {
    let app = spawn_app(&db).await;
    for slug in ["lab1", "lab2"] {
        app.create_session("course", slug, &format!("{slug}-*"), JANUARY_2026)
            .await;
    }
    for i in 0..4u64 {
        let repo = if i < 3 { "lab1-alice" } else { "lab2-alice" };
        let p = push_payload(
            "course",
            repo,
            7 + (i / 3) as i64,
            &sha(i + 1),
            1767225600 + i as i64,
        );
        app.deliver_push(&format!("r-{i}"), &p).await;
    }
    app.drain().await;
    cli_ok(
        &app,
        &["session", "archive", "--org", "Course", "--slug", "lab1"],
    );
    assert_eq!(app.audit_count("lab_session.archived", None).await, 1);
    let (code, out) = cli(
        &app,
        &["session", "archive", "--org", "course", "--slug", "lab1"],
    );
    assert_eq!(code, Some(1), "{out}");
    // An archived session matches no push any more.
    let p = push_payload("course", "lab1-alice", 7, &sha(50), 1767225700);
    app.deliver_push("late-1", &p).await;
    assert_eq!(app.settled("late-1").await.status, "ignored");
    let counts = app.counts().await;
    let days = ["--payload-days", "0", "--attempt-days", "0"];
    let mut dry = vec!["retention", "run", "--dry-run"];
    dry.extend(days);
    let (code, out) = cli(&app, &dry);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("would drop the raw bytes of 5 deliveries"),
        "{out}"
    );
    assert!(out.contains("would erase 3 attempts of 1 session"), "{out}");
    assert_eq!(app.counts().await, counts, "a dry run changes nothing");
    let mut run = vec!["retention", "run"];
    run.extend(days);
    let out = cli_ok(&app, &run);
    assert!(out.contains("erased 3 attempts of 1 session"), "{out}");
    let kept = app.attempts().await;
    assert_eq!(kept.len(), 1, "lab2's attempt stays");
    let files = app.attempt_files().await;
    assert!(
        files.iter().all(|f| f.attempt_id == kept[0].id),
        "no file outlives its attempt"
    );
    let deliveries = app.deliveries().await;
    assert!(deliveries.iter().all(|d| d.payload.is_none()));
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| d.payload_sha256.len() == 64)
            .count(),
        5,
        "the payloads' hashes stay"
    );
    assert_eq!(app.audit_count("lab_attempt.erased", None).await, 3);
    assert_eq!(
        app.audit_count("lab_attempt.recorded", None).await,
        4,
        "the recorded entries stay"
    );
    verify_ok(&app, &[]);
    // Nothing more to do the second time.
    let out = cli_ok(&app, &run);
    assert!(
        out.contains("dropped the raw bytes of 0 deliveries") && out.contains("erased 0 attempts"),
        "{out}"
    );
}
