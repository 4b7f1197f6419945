//! A `serve` process killed with SIGKILL while it holds a delivery: after a restart the delivery is recorded
//! within 60 s, once.

use std::time::{Duration, Instant};

use crate::backend_tests;
use crate::fake_github::{app_key_pem, FakeGithub, Route, APP_ID};
use crate::github_files::{small_push_on, ORG};
use crate::helpers::{
    cli_create_lab1_session, free_port, serve_command, ServeProcess, TestDb, SECRET,
};

backend_tests!(killed_instances_deliveries_are_recorded_within_a_minute_of_restart);

/// `labtrail serve` with the App talking to `fake`, ready when this returns.
async fn serve(db: &TestDb, fake: &FakeGithub, port: u16) -> ServeProcess {
    let mut command = serve_command(db, port);
    command
        .env("GITHUB_APP_ID", APP_ID.to_string())
        .env("GITHUB_PRIVATE_KEY", app_key_pem())
        .env("GITHUB_API_URL", fake.api_url())
        .env("LABTRAIL_REDELIVER_INTERVAL", "0");
    ServeProcess::start(command, port).await
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
    let port = free_port();
    let mut first = serve(&db, &fake, port).await;
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
    let started = Instant::now();
    while !(delivery().await.status == "processing" && fake.count(Route::Commit) > 0) {
        assert!(started.elapsed() < Duration::from_secs(60), "never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reap");
    fake.heal();

    let _second = serve(&db, &fake, port).await;
    let restarted = Instant::now();
    let settled = loop {
        let d = delivery().await;
        if d.status == "processed" {
            break d;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "not recorded within 60 s of the restart: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        settled.claims >= 2,
        "taken over from the dead claim: {settled:?}"
    );
    {
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(
            entity::lab_attempt::Entity::find()
                .count(&conn)
                .await
                .expect("count"),
            1,
            "recorded once"
        );
    }
}
