//! Retries and concurrent deliveries never duplicate; nothing accepted is lost.

use entity::states::DeliveryStatus as Status;
use futures::future::join_all;

use crate::backend_tests;
use crate::helpers::{
    alice_push_body, push_payload, sha, spawn_app, spawn_app_with, AppOptions, TestDb,
};

backend_tests!(
    fifty_concurrent_posts_of_one_delivery_record_once,
    two_hundred_deliveries_from_eight_senders,
    same_push_under_two_guids_records_once,
);

async fn fifty_concurrent_posts_of_one_delivery_record_once(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    let body = alice_push_body();
    let statuses: Vec<u16> = join_all((0..50).map(|_| {
        let app = &app;
        let body = &body;
        async move { app.deliver_status("push", "same-guid", body).await }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        49,
        "{statuses:?}"
    );
    app.drain().await;
    assert_eq!(app.count(entity::webhook_delivery::Entity).await, 1);
    assert_eq!(app.attempts().await.len(), 1);
    assert_eq!(app.audit_count("lab_attempt.recorded", None).await, 1);
}

async fn two_hundred_deliveries_from_eight_senders(db: TestDb) {
    // Four workers record while eight senders deliver: concurrent appends are the point.
    let app = spawn_app_with(&db, AppOptions::default().with_workers(4)).await;
    app.create_lab1_session().await;
    let senders = (0..8u64).map(|s| {
        let app = &app;
        async move {
            for i in 0..25u64 {
                let n = s * 100 + i;
                // Eight students, 25 pushes each, to the same session.
                let mut p = push_payload(
                    "course",
                    &format!("lab1-student{s}"),
                    1000 + s as i64,
                    &sha(n + 1),
                    1767225600 + n as i64,
                );
                p["before"] = sha(n).into();
                p["created"] = false.into();
                let resp = app
                    .deliver(
                        "push",
                        &format!("d-{s}-{i}"),
                        &serde_json::to_vec(&p).expect("json"),
                    )
                    .await;
                assert_eq!(resp.status().as_u16(), 202);
            }
        }
    });
    join_all(senders).await;
    app.wait_idle().await;
    assert_eq!(app.deliveries_with_status("processed").await, 200);
    let attempts = app.attempts().await;
    assert_eq!(attempts.len(), 200);
    // 1 session entry + 200 attempt entries, seqs 0..=200 without a gap.
    let seqs: Vec<i64> = app.audit_entries().await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..=200).collect::<Vec<_>>());
    let attempt_seqs: std::collections::BTreeSet<i64> =
        attempts.iter().map(|a| a.audit_seq).collect();
    assert_eq!(attempt_seqs.len(), 200);
    // Attempt numbers follow push time (docs/design.md §4): each is one more than the attempts of its
    // repository recorded before it and pushed no later. Four workers may record a student's pushes out
    // of push order; then a number can repeat, and none is ever changed.
    let mut by_repo = std::collections::BTreeMap::<i64, Vec<&entity::lab_attempt::Model>>::new();
    for a in &attempts {
        by_repo.entry(a.repository_id).or_default().push(a);
    }
    assert_eq!(by_repo.len(), 8);
    for (repo, list) in by_repo {
        assert_eq!(list.len(), 25, "repository {repo}");
        for a in &list {
            let before = list
                .iter()
                .filter(|b| b.audit_seq < a.audit_seq && b.pushed_at <= a.pushed_at)
                .count();
            assert_eq!(a.attempt_number as usize, before + 1, "repository {repo}");
        }
    }
    assert!(app.assert_audit_verifies().contains("201 entries"));
}

async fn same_push_under_two_guids_records_once(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    let body = alice_push_body();
    // A repository hook and the App deliver the same push under different GUIDs, at the same time.
    let (a, b) = tokio::join!(
        app.deliver("push", "hook-guid", &body),
        app.deliver("push", "app-guid", &body)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 202));
    let (da, db_) = (
        app.settled("hook-guid").await,
        app.settled("app-guid").await,
    );
    assert_eq!(
        (da.status, db_.status),
        (Status::Processed, Status::Processed)
    );
    let notes = [da.last_error, db_.last_error];
    assert_eq!(
        notes
            .iter()
            .filter(|n| n
                .as_deref()
                .is_some_and(|s| s.starts_with("duplicate of attempt")))
            .count(),
        1
    );
    assert_eq!(app.attempts().await.len(), 1);
    // A redelivery of the same GUID later is a duplicate at the edge.
    assert_eq!(app.deliver_status("push", "hook-guid", &body).await, 200);
    assert_eq!(app.attempts().await.len(), 1);
}
