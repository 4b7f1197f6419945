//! A `serve` process killed with SIGKILL while it holds a delivery: after a restart the delivery is recorded
//! within 60 s, once, with one check run, and the audit log verifies.

use std::time::Duration;

use tokio::time::Instant;

use crate::backend_tests;
use crate::fake_github::{app_key_pem, FakeGithub, Route, APP_ID};
use crate::github_files::{small_push_on, ORG};
use crate::helpers::{
    assert_audit_verifies, cli_create_lab1_session, serve_command, ServeProcess, TestDb,
    CHILD_TIMEOUT, SECRET,
};

backend_tests!(killed_instances_deliveries_are_recorded_within_a_minute_of_restart);

/// `labtrail serve` with the App talking to `fake`, ready when this returns.
async fn serve(db: &TestDb, fake: &FakeGithub) -> ServeProcess {
    let mut command = serve_command(db);
    command
        .env("GITHUB_APP_ID", APP_ID.to_string())
        .env("GITHUB_PRIVATE_KEY", app_key_pem())
        .env("GITHUB_API_URL", fake.api_url())
        .env("LABTRAIL_REDELIVER_INTERVAL", "0");
    ServeProcess::start(command).await
}

async fn killed_instances_deliveries_are_recorded_within_a_minute_of_restart(db: TestDb) {
    let fake = FakeGithub::start().await;
    let (_repo, payload, _) = small_push_on(&fake);
    // GitHub hangs: the instance holds the delivery, waiting for the file list.
    fake.fail_always(
        Route::Commit,
        wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(300)),
    );
    cli_create_lab1_session(&db, ORG);
    let mut first = serve(&db, &fake).await;
    let body = serde_json::to_vec(&payload).expect("json");
    let status = first
        .deliver("push", "crash-1", &body, SECRET)
        .await
        .status();
    assert_eq!(status, 202);
    let conn = db.connect().await;
    let delivery = || async {
        use sea_orm::EntityTrait;
        entity::webhook_delivery::Entity::find_by_id("crash-1".to_owned())
            .one(&conn)
            .await
            .expect("read")
            .expect("stored")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(delivery().await.status == "processing" && fake.count(Route::Commit) > 0) {
        assert!(
            Instant::now() < deadline,
            "the delivery was not claimed within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().expect("SIGKILL");
    first.wait_exit(CHILD_TIMEOUT);
    fake.heal();

    let mut second = serve(&db, &fake).await;
    // The dead claim's lease (30 s by default) runs out first: 60 s is twice that.
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let d = delivery().await;
        if d.status == "processed" {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "not recorded within 60 s of the restart: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        settled.claims >= 2,
        "taken over from the dead claim: {settled:?}"
    );
    use sea_orm::EntityTrait;
    let attempts = entity::lab_attempt::Entity::find()
        .all(&conn)
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1, "recorded once: {attempts:?}");
    // The check run is posted after the attempt is recorded: wait for it, then exactly one per attempt.
    let deadline = Instant::now() + Duration::from_secs(60);
    for attempt in &attempts {
        let posted = loop {
            let a = entity::lab_attempt::Entity::find_by_id(attempt.id)
                .one(&conn)
                .await
                .expect("read")
                .expect("the attempt");
            if let Some(id) = a.check_run_id {
                break id;
            }
            assert!(
                Instant::now() < deadline,
                "no check run within 60 s for attempt {}: {:?}",
                a.id,
                a.check_run_error
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let runs: Vec<_> = fake
            .check_runs()
            .into_iter()
            .filter(|r| r.external_id.as_deref() == Some(attempt.id.to_string().as_str()))
            .collect();
        assert_eq!(
            runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![posted],
            "exactly one check run for attempt {}: {runs:?}",
            attempt.id
        );
    }
    assert_eq!(
        fake.check_runs().len(),
        attempts.len(),
        "{:?}",
        fake.check_runs()
    );
    assert!(second.stop(), "the restarted instance stops cleanly");
    assert_audit_verifies(&db);
}
