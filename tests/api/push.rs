//! Push deliveries from real GitHub payloads become attempts (or are ignored) with the right facts.

use crate::backend_tests;
use crate::helpers::{
    cli_stdout, fixture, fixture_json, push_payload, sha, spawn_app, TestApp, TestDb, JANUARY_2026,
    MAY_2019,
};

backend_tests!(
    new_branch_push_becomes_an_attempt,
    tag_deletions_are_ignored,
    committer_without_username_is_recorded,
    unmatched_repositories_are_ignored,
    lateness_and_attempt_numbers,
    file_list_is_folded_over_commits,
);

async fn new_branch_push_becomes_an_attempt(db: TestDb) {
    let app = spawn_app(&db).await;
    let session = app.create_hello_session().await;
    let body = fixture("octokit-webhooks/push/with-new-branch.payload.json");
    assert_eq!(app.deliver_status("push", "nb-1", &body).await, 202);
    assert_eq!(app.settled("nb-1").await.status, "processed");

    let out = cli_stdout(&app.cli(&["attempts", "list", "--format", "json"]));
    let list: serde_json::Value = serde_json::from_str(&out).expect("json array");
    let a = &list[0];
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(a["session"], "hello");
    assert_eq!(a["repository"], "Codertocat/Hello-World");
    assert_eq!(a["repository_id"], 186853002);
    assert_eq!(a["ref"], "refs/heads/master");
    assert_eq!(a["before"], "0000000000000000000000000000000000000000");
    assert_eq!(a["after"], "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    assert_eq!(
        a["pushed_at"], "2019-05-15T15:20:57Z",
        "push time is repository.pushed_at"
    );
    assert_eq!(a["delivery_id"], "nb-1");
    assert_eq!(a["pusher"], "Codertocat");
    assert_eq!(a["attempt_number"], 1);
    assert_eq!(a["late"], false);
    assert_eq!(a["forced"], false);
    assert_eq!(a["files_source"], "payload");
    assert_eq!(a["files_complete"], true);
    assert_eq!(
        a["files"],
        serde_json::json!([{"path": "README.md", "status": "added"}])
    );
    assert_eq!(a["check_run_id"], serde_json::Value::Null);
    assert!(a["received_at"].as_str().is_some_and(|s| s.ends_with('Z')));
    let seq = a["audit_seq"].as_i64().expect("audit seq");
    let entry = app
        .audit_entries()
        .await
        .into_iter()
        .find(|e| e.seq == seq)
        .expect("the attempt's audit entry");
    assert_eq!(
        (entry.action.as_str(), entry.actor.as_str()),
        ("lab_attempt.recorded", "github:delivery:nb-1")
    );
    let attempt = app.attempt().await;
    assert_eq!(attempt.session_id, session.id);
    assert!(attempt.created_branch);
}

async fn tag_deletions_are_ignored(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_hello_session().await;
    for (i, f) in [
        "payload",
        "with-installation.payload",
        "with-organization.payload",
        "1.payload",
    ]
    .iter()
    .enumerate()
    {
        let guid = format!("tag-{i}");
        let body = fixture(&format!("octokit-webhooks/push/{f}.json"));
        assert_eq!(app.deliver_status("push", &guid, &body).await, 202, "{f}");
        let d = app.settled(&guid).await;
        assert_eq!(d.status, "ignored", "{f}");
        assert_eq!(d.last_error.as_deref(), Some("ref deleted"), "{f}");
    }
    let body = fixture("octocrab/push_webhook_event.json");
    app.deliver("push", "tag-octocrab", &body).await;
    assert_eq!(app.settled("tag-octocrab").await.status, "ignored");
    assert!(app.attempts().await.is_empty());
    assert_eq!(
        app.audit_entries().await.len(),
        1,
        "only the session's entry"
    );
}

async fn committer_without_username_is_recorded(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_session("codertocat", "hello", "hello-world", MAY_2019)
        .await;
    let body = fixture("octokit-webhooks/push/with-no-username-committer.payload.json");
    app.deliver("push", "nouser-1", &body).await;
    assert_eq!(app.settled("nouser-1").await.status, "processed");
    let out = cli_stdout(&app.cli(&["attempts", "show", "1"]));
    let a: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        a["files"],
        serde_json::json!([{"path": "README.md", "status": "added"}])
    );
    assert_eq!(a["pusher"], "Codertocat");
}

async fn unmatched_repositories_are_ignored(db: TestDb) {
    let app = spawn_app(&db).await;
    create_lab3_session(&app).await;
    let cases = [
        (
            "other-org",
            push_payload("another", "lab3-alice", 1, &sha(1), 1767225600),
        ),
        (
            "other-repo",
            push_payload("course", "lab4-alice", 2, &sha(2), 1767225600),
        ),
        ("tag", {
            let mut p = push_payload("course", "lab3-alice", 4, &sha(4), 1767225600);
            p["ref"] = "refs/tags/v1".into();
            p
        }),
    ];
    for (guid, p) in cases {
        app.deliver_push(guid, &p).await;
        assert_eq!(app.settled(guid).await.status, "ignored", "{guid}");
    }
    assert!(app.attempts().await.is_empty());
}

async fn lateness_and_attempt_numbers(db: TestDb) {
    let app = spawn_app(&db).await;
    // Closes 2026-01-10T00:00:00Z = 1768003200.
    let window = ("2026-01-01T00:00:00Z", "2026-01-10T00:00:00Z");
    app.create_session("course", "lab3", "lab3-*", window).await;
    let pushes = [
        ("p1", 1768003199_i64, 11),
        ("p2", 1768003200, 12),
        ("p3", 1768003201, 13),
    ];
    for (guid, at, n) in pushes {
        let mut p = push_payload("course", "lab3-alice", 42, &sha(n), at);
        p["before"] = sha(n - 1).into();
        p["created"] = false.into();
        // Commit dates are the student's to set: they must not matter.
        p["commits"][0]["timestamp"] = "2000-01-01T00:00:00Z".into();
        app.deliver_push(guid, &p).await;
        assert_eq!(app.settled(guid).await.status, "processed");
    }
    let other = push_payload("course", "lab3-bob", 43, &sha(99), 1768003300);
    app.deliver_push("bob-1", &other).await;
    app.settled("bob-1").await;
    let out = app.cli(&[
        "attempts",
        "list",
        "--repo",
        "course/LAB3-ALICE",
        "--format",
        "json",
    ]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let got: Vec<(i64, bool)> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|a| {
            (
                a["attempt_number"].as_i64().expect("n"),
                a["late"].as_bool().expect("late"),
            )
        })
        .collect();
    assert_eq!(got, vec![(1, false), (2, false), (3, true)]);
    let bob = app.cli(&["attempts", "list", "--repo", "lab3-bob", "--format", "json"]);
    let bob: serde_json::Value = serde_json::from_slice(&bob.stdout).expect("json");
    assert_eq!(bob[0]["attempt_number"], 1);
    assert_eq!(bob[0]["late"], true);
}

async fn file_list_is_folded_over_commits(db: TestDb) {
    let app = spawn_app(&db).await;
    create_lab3_session(&app).await;
    let mut p = push_payload("course", "lab3-alice", 42, &sha(3), 1767225600);
    p["created"] = false.into();
    p["before"] = sha(1).into();
    let c =
        fixture_json("octokit-webhooks/push/with-new-branch.payload.json")["commits"][0].clone();
    let commit = |id: u64, added: &[&str], removed: &[&str], modified: &[&str]| {
        let mut c = c.clone();
        c["id"] = sha(id).into();
        c["added"] = serde_json::json!(added);
        c["removed"] = serde_json::json!(removed);
        c["modified"] = serde_json::json!(modified);
        c
    };
    p["commits"] = serde_json::json!([
        commit(2, &["new.rs", "tmp.txt"], &["old.rs"], &["lib.rs"]),
        commit(3, &["old.rs"], &["tmp.txt"], &["new.rs"]),
    ]);
    app.deliver_push("fold-1", &p).await;
    assert_eq!(app.settled("fold-1").await.status, "processed");
    let out = app.cli(&["attempts", "show", "1"]);
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        a["files"],
        serde_json::json!([
            {"path": "lib.rs", "status": "modified"},
            {"path": "new.rs", "status": "added"},
            {"path": "old.rs", "status": "modified"},
        ])
    );
    // old.rs was deleted and re-added: the lists cannot say whether with the same bytes (then git's diff
    // would not list it), and without the App nothing can ask git.
    assert_eq!(a["files_complete"], false);
}

/// The `lab3` session of `course` (`lab3-*`, January 2026).
async fn create_lab3_session(app: &TestApp) {
    app.create_session("course", "lab3", "lab3-*", JANUARY_2026)
        .await;
}
