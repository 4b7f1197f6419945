//! Every recorded attempt gets one `labtrail` check run: its summary, its conclusion, retries after
//! failures and crashes without a second run, and nothing about other students' repositories.

use crate::backend_tests;
use crate::fake_github::{server_error, FakeGithub, Route};
use crate::github_files::{app_with_fake, deliver, deliver_alice_and_check, ORG, PUSHED_AT};
use crate::helpers::{push_payload, sha, spawn_app_with, AppOptions, TestDb};

/// A SHA whose 12-character prefix tells it apart.
fn hex_sha(n: u64) -> String {
    format!("{n:x}").repeat(40).chars().take(40).collect()
}

backend_tests!(
    check_run_carries_the_attempt_summary_and_receipt,
    late_push_is_neutral,
    crash_between_create_and_store_does_not_duplicate,
    failed_create_is_retried_by_the_sweep,
    summary_shows_only_this_repository,
);

async fn check_run_carries_the_attempt_summary_and_receipt(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    deliver_alice_and_check(&app, "cr-1", 7, PUSHED_AT).await;

    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let attempt = app.attempt().await;
    let (attempt_id, seq) = (attempt.id, attempt.audit_seq);
    assert_eq!(attempt.check_run_id, Some(run.id));
    assert_eq!(run.name, "labtrail");
    assert_eq!(run.head_sha, sha(7));
    assert_eq!(
        run.external_id.as_deref(),
        Some(attempt_id.to_string().as_str())
    );
    // On time: `success` (late or early would be `neutral`).
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.title, "Attempt #1: on time");
    let hash = entry_hash(&app, seq).await;
    assert!(run.summary.contains("### Session lab1"), "{}", run.summary);
    assert!(run.summary.contains("| Attempt | #1 |"));
    assert!(run.summary.contains("- added: README.md"));
    assert!(
        run.summary.contains(&format!(
            "This push is entry **{seq}** of the labtrail audit log, entry hash `{hash}`"
        )),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains(&format!(
            "(Merkle leaf index **{seq}**: every signed checkpoint of at least **{}** entries proves it)",
            seq + 1
        )),
        "{}",
        run.summary
    );
    // It speaks to the student: Details leads to the proof; no command they cannot run.
    assert!(
        run.summary.contains(&format!(
            "**Details → download your proof**: open *Details* on this check run, sign in with GitHub, \
             and download `labtrail-proof-{attempt_id}.json`"
        )),
        "{}",
        run.summary
    );
    assert!(!run.summary.contains("`labtrail "), "{}", run.summary);
    assert!(!run.summary.contains("/api/v1/"), "{}", run.summary);
}

async fn entry_hash(app: &crate::helpers::TestApp, seq: i64) -> String {
    use sea_orm::EntityTrait;
    entity::audit_log::Entity::find_by_id(seq)
        .one(&app.db)
        .await
        .expect("read")
        .expect("entry")
        .entry_hash
}

/// Nothing can be done about a late push: the run is `neutral`, the title says by how much.
async fn late_push_is_neutral(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    // Closes 2026-02-01T00:00:00Z; pushed 2 h 30 min later.
    deliver_alice_and_check(&app, "late-1", 8, 1_769_904_000 + 9000).await;
    let run = &fake.check_runs()[0];
    assert_eq!(run.conclusion.as_deref(), Some("neutral"));
    assert_eq!(run.title, "Attempt #1: late by 2 h 30 min");
    assert!(
        run.summary.contains("(**late** by 2 h 30 min)"),
        "{}",
        run.summary
    );
}

async fn crash_between_create_and_store_does_not_duplicate(db: TestDb) {
    let fake = FakeGithub::start().await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    let app = spawn_app_with(&db, AppOptions::with_github(&fake)).await;
    app.create_lab1_session().await;
    deliver_alice_and_check(&app, "crash-1", 9, PUSHED_AT).await;
    let first = app.attempt().await.check_run_id;
    app.stop().await;

    // The process died after GitHub created the run but before its id was stored.
    let app = spawn_app_with(&db, AppOptions::with_github(&fake)).await;
    app.exec("UPDATE lab_attempt SET check_run_id = NULL")
        .await
        .expect("forget id");
    app.drain_check_runs().await;

    assert_eq!(app.attempt().await.check_run_id, first);
    assert_eq!(
        fake.count(Route::CreateCheckRun),
        1,
        "looked up, not created again"
    );
    assert_eq!(fake.check_runs().len(), 1);
    assert!(fake.count(Route::ListCheckRuns) >= 2);
}

async fn failed_create_is_retried_by_the_sweep(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    fake.fail_next(Route::CreateCheckRun, 1, server_error());
    deliver_alice_and_check(&app, "sweep-1", 10, PUSHED_AT).await;

    assert_eq!(
        fake.count(Route::CreateCheckRun),
        2,
        "a create is not repeated blindly"
    );
    assert_eq!(fake.check_runs().len(), 1);
    let attempt = app.attempt().await;
    assert_eq!(attempt.check_run_tries, 1);
    assert_eq!(
        attempt.check_run_error, None,
        "the error is cleared once stored"
    );
    assert_eq!(
        app.deliveries_with_status("processed").await,
        1,
        "the delivery itself was never at stake"
    );
}

async fn summary_shows_only_this_repository(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    fake.add_repo_without_git(1, "course/lab1-bob", 8);
    for (i, n) in [11u64, 12].into_iter().enumerate() {
        let p = push_payload(ORG, "lab1-alice", 7, &hex_sha(n), PUSHED_AT + i as i64);
        deliver(&app, &format!("alice-{n}"), &p).await;
    }
    deliver(
        &app,
        "bob-1",
        &push_payload(ORG, "lab1-bob", 8, &hex_sha(21), PUSHED_AT),
    )
    .await;
    app.drain_check_runs().await;

    let runs = fake.check_runs();
    let bob = runs
        .iter()
        .find(|r| r.repo == "course/lab1-bob")
        .expect("bob's run");
    assert!(bob.summary.contains(&hex_sha(21)[..12]));
    for other in [hex_sha(11), hex_sha(12)] {
        assert!(!bob.summary.contains(&other[..12]), "{}", bob.summary);
    }
    assert!(!bob.summary.contains("alice"));
    let alice = runs
        .iter()
        .find(|r| r.head_sha == hex_sha(12))
        .expect("alice's second run");
    assert!(alice.summary.contains("| #2 |") && alice.summary.contains("| #1 |"));
    assert!(!alice.summary.contains(&hex_sha(21)[..12]));
}
