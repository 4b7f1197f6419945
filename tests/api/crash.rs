//! A `serve` process killed with SIGKILL while it holds a delivery: after a restart the delivery is recorded
//! within 60 s, once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend_tests;
use crate::fake_github::{app_key_pem, FakeGithub, Route, APP_ID};
use crate::github_files::{small_truncated_push, INSTALLATION, ORG};
use crate::helpers::{run_cli, sign, TestDb, ORIGIN, SECRET};

backend_tests!(killed_instances_deliveries_are_recorded_within_a_minute_of_restart);

/// `labtrail serve` with the App talking to `fake`, ready when this returns.
async fn serve(db: &TestDb, fake: &FakeGithub, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_labtrail"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LABTRAIL_BIND", format!("127.0.0.1:{port}"))
        .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_APP_ID", APP_ID.to_string())
        .env("GITHUB_PRIVATE_KEY", app_key_pem())
        .env("GITHUB_API_URL", fake.api_url())
        .env("LABTRAIL_REDELIVER_INTERVAL", "0")
        .env("RUST_LOG", "warn")
        .current_dir(db.scratch_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start labtrail serve");
    let client = reqwest::Client::new();
    for _ in 0..1200 {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("labtrail serve did not become ready");
}

async fn killed_instances_deliveries_are_recorded_within_a_minute_of_restart(db: TestDb) {
    let fake = FakeGithub::start().await;
    let (repo, payload, _) = small_truncated_push(ORG, INSTALLATION);
    fake.add_repo(INSTALLATION, "course/lab1-small", 500, &repo.dir);
    // GitHub hangs: the instance holds the delivery, waiting for the file list.
    fake.fail_always(
        Route::Commit,
        wiremock::ResponseTemplate::new(200).set_delay(Duration::from_secs(300)),
    );
    let session = run_cli(
        &db,
        &[
            "session",
            "create",
            "--org",
            ORG,
            "--slug",
            "lab1",
            "--title",
            "Lab 1",
            "--repos",
            "lab1-*",
            "--opens",
            "2026-01-01T00:00:00Z",
            "--closes",
            "2026-02-01T00:00:00Z",
        ],
    );
    assert!(session.status.success(), "{session:?}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut first = serve(&db, &fake, port).await;
    let body = serde_json::to_vec(&payload).expect("json");
    let status = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", "crash-1")
        .header("x-hub-signature-256", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("send")
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
    first.kill().expect("SIGKILL");
    first.wait().expect("reap");
    fake.heal();

    let mut second = serve(&db, &fake, port).await;
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
    let _ = second.kill();
    let _ = second.wait();
}
