//! The real binary: `labtrail serve` configured from the environment, fed by `labtrail deliver`, stopped by
//! SIGTERM; and the edge's answer when the database is unavailable.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use crate::backend_tests;
use crate::helpers::{
    alice_push_body, assert_audit_verifies, cli_create_lab1_session, cli_create_session, count,
    fixture, output_of, push_payload, read_to_end_in_background, run_cli, serve_command, sha,
    spawn_app, Backend, ServeProcess, TestDb, CHILD_TIMEOUT, SECRET,
};

/// A real secret may contain commas: it is one secret all the same.
const COMMA_SECRET: &str = "new,secret with, commas";

backend_tests!(
    binary_serves_and_records,
    serve_outlives_its_closed_log,
    database_failure_answers_503_and_stores_nothing,
    two_serve_processes_share_one_database,
);

/// A `labtrail serve` process on a port of its own, sharing the test's database, key and checkpoint file.
async fn start_instance(db: &TestDb) -> ServeProcess {
    let mut command = serve_command(db);
    command.env("LABTRAIL_CHECKPOINT_INTERVAL", "1");
    ServeProcess::start(command).await
}

/// Several instances share one database (docs/design.md §1): two real `serve` processes take 50 pushes at once;
/// every push is recorded once, seqs stay contiguous, and the chain with its checkpoints verifies.
async fn two_serve_processes_share_one_database(db: TestDb) {
    // The first instance creates the checkpoint key; the second, started after, loads the same file.
    let mut first = start_instance(&db).await;
    let mut second = start_instance(&db).await;
    cli_create_lab1_session(&db, "course");
    let sends = (0..50u64).map(|i| {
        let instance = if i % 2 == 0 { &first } else { &second };
        async move {
            let mut p = push_payload(
                "course",
                &format!("lab1-s{}", i % 5),
                100 + (i % 5) as i64,
                &sha(i + 1),
                1767225600 + i as i64,
            );
            p["before"] = sha(i + 1000).into();
            p["created"] = false.into();
            let body = serde_json::to_vec(&p).expect("json");
            instance
                .deliver("push", &format!("two-{i}"), &body, SECRET)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    let conn = db.connect().await;
    let count = |sql: &'static str| count(&conn, sql);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let recorded = count("SELECT COUNT(*) FROM lab_attempt").await;
        if recorded == 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{recorded} of 50 pushes recorded after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_delivery WHERE status = 'processed'").await,
        50
    );
    let entries = count("SELECT COUNT(*) FROM audit_log").await;
    assert_eq!(
        count("SELECT MAX(seq) + 1 FROM audit_log").await,
        entries,
        "contiguous seqs"
    );
    assert_eq!(count("SELECT size FROM audit_head").await, entries);
    // Attempt numbers follow push time (docs/design.md §4): one more than the attempts of the repository
    // recorded before and pushed no later. Sent at once to two instances, pushes arrive out of push
    // order, so numbers may repeat; none breaks the rule.
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM lab_attempt a WHERE a.attempt_number <> 1 + (SELECT COUNT(*) \
             FROM lab_attempt b WHERE b.session_id = a.session_id AND b.repository_id = a.repository_id \
             AND b.audit_seq < a.audit_seq AND b.pushed_at <= a.pushed_at)"
        )
        .await,
        0
    );
    assert!(count("SELECT CAST(MAX(attempt_number) AS BIGINT) FROM lab_attempt").await <= 10);
    assert!(
        first.stop() && second.stop(),
        "both instances stop cleanly on SIGTERM"
    );
    // Checkpoints from both instances, one key: everything verifies (a final checkpoint may lag).
    assert_audit_verifies(&db);
}

async fn binary_serves_and_records(db: TestDb) {
    let mut command = serve_command(&db);
    command
        // One secret, verbatim, commas included; `deliver` below signs with the previous one.
        .env("GITHUB_WEBHOOK_SECRET", COMMA_SECRET)
        .env("GITHUB_WEBHOOK_SECRET_PREVIOUS", SECRET)
        .env("LABTRAIL_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped());
    let mut serve = ServeProcess::start(command).await;
    let log = read_to_end_in_background(serve.child.stderr.take());
    cli_create_session(
        &db,
        "Codertocat",
        "hello",
        "Hello-*",
        "2019-05-01T00:00:00Z",
        "2019-06-01T00:00:00Z",
    );
    let file = db.scratch_dir().join("push.json");
    std::fs::write(
        &file,
        fixture("octokit-webhooks/push/with-new-branch.payload.json"),
    )
    .expect("write");
    let out = output_of(
        Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .args([
                "deliver",
                &file.to_string_lossy(),
                "--event",
                "push",
                "--delivery-id",
                "bin-1",
            ])
            .env("LABTRAIL_PUBLIC_URL", &serve.base_url)
            .env("GITHUB_WEBHOOK_SECRET", SECRET),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("202"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = run_cli(&db, &["attempts", "list", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap_or_default();
        if v.as_array().is_some_and(|a| a.len() == 1) {
            assert_eq!(v[0]["delivery_id"], "bin-1");
            break;
        }
        assert!(Instant::now() < deadline, "attempt not recorded after 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The whole secret signs; a comma-separated fragment of it does not.
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let send = |guid: &'static str, secret: &'static str| {
        let serve = &serve;
        async move {
            serve
                .deliver("ping", guid, ping, secret)
                .await
                .status()
                .as_u16()
        }
    };
    for fragment in ["new", "secret with", " commas"] {
        assert_eq!(send("ping-fragment", fragment).await, 401, "{fragment:?}");
    }
    assert_eq!(send("ping-whole", COMMA_SECRET).await, 202);

    // SIGTERM: graceful shutdown, exit 0; the JSON log carries the delivery span and never the secret.
    serve.terminate();
    let status = serve.wait_exit(CHILD_TIMEOUT);
    let log = String::from_utf8_lossy(&log.join().expect("the log")).into_owned();
    assert!(status.success(), "exit status {status:?}");
    assert!(log.contains("\"delivery_id\":\"bin-1\""), "{log}");
    assert!(
        !log.contains(SECRET) && !log.contains(COMMA_SECRET),
        "secrets must not be logged"
    );
    // Stopping signs what the instance appended (the 60 s interval never came round): the checkpoint
    // file outside the database covers the whole log.
    let text = assert_audit_verifies(&db);
    assert!(text.contains("unsigned tail: none"), "{text}");
}

async fn database_failure_answers_503_and_stores_nothing(db: TestDb) {
    let app = spawn_app(&db).await;
    let body = alice_push_body();
    match db.backend {
        // The database refuses new connections and drops the server's: it is down as far as the app can tell.
        Backend::Postgres => {
            let name = url::Url::parse(&db.url)
                .expect("url")
                .path()
                .trim_start_matches('/')
                .to_owned();
            let admin = sea_orm::Database::connect(crate::helpers::postgres_admin_url())
                .await
                .expect("admin");
            use sea_orm::ConnectionTrait;
            let run = |sql: String| {
                let admin = &admin;
                async move {
                    admin
                        .execute(sea_orm::Statement::from_string(
                            sea_orm::DbBackend::Postgres,
                            sql,
                        ))
                        .await
                        .expect("admin sql");
                }
            };
            run(format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
            ))
            .await;
            run(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .await;
            let resp = app.deliver("push", "down-1", &body).await;
            assert_eq!(resp.status().as_u16(), 503);
            assert!(resp.headers().get("retry-after").is_some());
            run(format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")).await;
        }
        // The table cannot take the row: the same answer, and the row is not there.
        Backend::Sqlite => {
            app.exec("ALTER TABLE webhook_delivery RENAME TO webhook_delivery_away")
                .await
                .expect("rename");
            let resp = app.deliver("push", "down-1", &body).await;
            assert_eq!(resp.status().as_u16(), 503);
            assert!(resp.headers().get("retry-after").is_some());
            app.exec("ALTER TABLE webhook_delivery_away RENAME TO webhook_delivery")
                .await
                .expect("rename back");
        }
    }
    let db2 = db.connect().await;
    use sea_orm::EntityTrait;
    let stored = entity::webhook_delivery::Entity::find_by_id("down-1".to_owned())
        .one(&db2)
        .await
        .expect("read");
    assert!(stored.is_none(), "a 503 stores nothing");
    // GitHub's redelivery (or the catch-up job) succeeds once the database is back.
    let mut status = 0;
    for _ in 0..600 {
        status = app.deliver_status("push", "down-1", &body).await;
        if status == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202);
}

/// Whoever reads `serve`'s log may go away (a test that saw what it waited for, a log shipper restarting):
/// every later log line then meets a closed pipe. `serve` keeps answering and recording; before, the
/// logger's own complaint about the closed pipe panicked on the same pipe.
async fn serve_outlives_its_closed_log(db: TestDb) {
    let mut command = serve_command(&db);
    // Debug: every request logs a line.
    command.env("RUST_LOG", "debug").stderr(Stdio::piped());
    let mut serve = ServeProcess::start(command).await;
    drop(serve.child.stderr.take());
    for i in 0..5 {
        let status = serve
            .deliver(
                "push",
                &format!("closed-log-{i}"),
                &alice_push_body(),
                SECRET,
            )
            .await
            .status()
            .as_u16();
        assert_eq!(status, 202, "delivery {i} after the log closed");
    }
    serve.wait_until_answers("/healthz").await;
    assert!(
        serve
            .child
            .try_wait()
            .expect("the child's status")
            .is_none(),
        "serve exited after its log was closed"
    );
}
