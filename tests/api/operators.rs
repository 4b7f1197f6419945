//! Operators (issue 9): `labtrail deliver --wait` prints the outcome the workers reached, and
//! `labtrail deliveries list|show` show the queue: status, reason, tries, next try, attempt.

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{
    deliver_push_args, push_payload, run_cli, sha, spawn_app_with, AppOptions, TestApp, TestDb,
};

backend_tests!(deliver_wait_prints_the_outcome_and_deliveries_show_it);

/// 2026-01-01T00:00:00Z and 2026-02-01T00:00:00Z.
const OPENS: i64 = 1_767_225_600;
const CLOSES: i64 = 1_769_904_000;

/// `deliver --wait` of `payload` as `guid`, off the runtime's threads (the server answers meanwhile).
async fn deliver_wait(app: &TestApp, guid: &str, payload: &Value) -> std::process::Output {
    let file = app.test_db.scratch_dir().join(format!("{guid}.json"));
    std::fs::write(&file, serde_json::to_vec(payload).expect("json")).expect("write");
    let url = format!("{}/webhooks/github", app.base_url);
    let db = app.test_db.clone();
    let guid = guid.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = file.display().to_string();
        let mut args = deliver_push_args(&file, &url, &guid);
        args.extend(["--wait", "--timeout", "60"]);
        run_cli(&db, &args)
    })
    .await
    .expect("cli")
}

/// [`deliver_wait`], which must succeed; the last line it printed.
async fn deliver_wait_ok(app: &TestApp, guid: &str, payload: &Value) -> String {
    let out = deliver_wait(app, guid, payload).await;
    assert!(out.status.success(), "{out:?}");
    last_line(&out)
}

fn last_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

async fn deliver_wait_prints_the_outcome_and_deliveries_show_it(db: TestDb) {
    let app = spawn_app_with(&db, AppOptions::default().with_workers(1)).await;
    app.create_lab1_session().await;

    for (guid, payload, outcome) in [
        (
            "w-1",
            push_payload("course", "lab1-alice", 11, &sha(1), OPENS + 60),
            "attempt #1 recorded (on time)",
        ),
        (
            "w-2",
            push_payload("course", "lab1-alice", 11, &sha(2), CLOSES + 7500),
            "attempt #2 recorded (late by 2 h 5 min)",
        ),
        (
            "w-3",
            push_payload("course", "other", 12, &sha(3), OPENS + 60),
            "ignored: no active lab session of course matches other on master",
        ),
    ] {
        assert_eq!(deliver_wait_ok(&app, guid, &payload).await, outcome);
    }

    // A push the worker can never read: given up at once.
    let broken = deliver_wait(&app, "w-4", &serde_json::json!({ "ref": 5 })).await;
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    assert!(
        last_line(&broken).starts_with("error: rejected: "),
        "{broken:?}"
    );

    let list: Value =
        serde_json::from_slice(&app.cli(&["deliveries", "list", "--format", "json"]).stdout)
            .expect("json");
    let rows = list.as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    let row = |guid: &str| {
        rows.iter()
            .find(|r| r["guid"] == guid)
            .expect("row")
            .clone()
    };
    assert_eq!(row("w-1")["status"], "processed");
    assert!(row("w-1")["attempt_id"].is_i64());
    assert_eq!(row("w-1")["tries"], 1);
    assert_eq!(row("w-1")["next_try"], Value::Null);
    assert_eq!(row("w-3")["status"], "ignored");
    assert_eq!(
        row("w-3")["reason"],
        "no active lab session of course matches other on master"
    );
    assert_eq!(row("w-4")["status"], "rejected");
    assert_eq!(row("w-4")["attempt_id"], Value::Null);

    let only = app.ignored_deliveries();
    assert_eq!(only.as_array().map(Vec::len), Some(1));
    let table = String::from_utf8(app.cli(&["deliveries", "list"]).stdout).expect("utf-8");
    assert!(table.starts_with("GUID"), "{table}");
    assert!(table.contains("w-3"), "{table}");
    let bad = app.cli(&["deliveries", "list", "--status", "lost"]);
    assert_eq!(bad.status.code(), Some(1));
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains(
            "Unknown --status \"lost\": use one of queued, processing, processed, ignored, \
             retrying, dead, rejected"
        ),
        "{said}"
    );

    let show: Value =
        serde_json::from_slice(&app.cli(&["deliveries", "show", "w-2"]).stdout).expect("json");
    assert_eq!(show["status"], "processed");
    assert_eq!(show["event"], "push");
    assert!(show["attempt_id"].is_i64());
    let missing = app.cli(&["deliveries", "show", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
}
