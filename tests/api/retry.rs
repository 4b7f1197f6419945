//! Processing failures are retried with backoff, then marked dead; the delivery is never lost.

use crate::backend_tests;
use crate::helpers::{alice_push_body, assert_failed_and_kept, spawn_app, TestApp, TestDb};
use labtrail::jobs::worker::Step;

backend_tests!(
    failing_delivery_is_retried_then_recovers,
    failing_delivery_ends_dead_and_stays_stored
);

/// An app with the lab1 session whose attempt files cannot be stored: recording fails inside its
/// transaction until `lab_attempt_file_away` is renamed back.
async fn app_that_cannot_store_files(db: &TestDb) -> TestApp {
    let app = spawn_app(db).await;
    app.create_lab1_session().await;
    app.exec("ALTER TABLE lab_attempt_file RENAME TO lab_attempt_file_away")
        .await
        .expect("rename");
    app
}

async fn failing_delivery_is_retried_then_recovers(db: TestDb) {
    let app = app_that_cannot_store_files(&db).await;
    let body = alice_push_body();
    assert_eq!(app.deliver_status("push", "flaky-1", &body).await, 202);
    assert_eq!(app.step().await, Step::Processed);
    let d = app.delivery("flaky-1").await;
    assert_eq!(d.status, "retrying");
    assert!(d.last_error.is_some(), "the error is recorded");
    assert!(
        app.attempts().await.is_empty(),
        "the failed transaction left nothing"
    );
    app.exec("ALTER TABLE lab_attempt_file_away RENAME TO lab_attempt_file")
        .await
        .expect("rename back");
    let d = app.settled("flaky-1").await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(d.attempts, 2);
    assert_eq!(app.attempts().await.len(), 1);
    app.assert_audit_verifies();
}

async fn failing_delivery_ends_dead_and_stays_stored(db: TestDb) {
    let app = app_that_cannot_store_files(&db).await;
    let body = alice_push_body();
    app.deliver("push", "doomed-1", &body).await;
    let d = app.settled("doomed-1").await;
    assert_failed_and_kept(&d, "dead", "lab_attempt_file", &body);
    assert_eq!(d.attempts, 3, "the test policy allows 3 tries");
    let dead = app
        .audit_count("delivery.dead", Some("delivery:doomed-1"))
        .await;
    assert_eq!(dead, 1);
    app.exec("ALTER TABLE lab_attempt_file_away RENAME TO lab_attempt_file")
        .await
        .expect("rename back");
    // GitHub's "Redeliver" sends the same GUID: a dead delivery is queued again and recorded.
    assert_eq!(app.deliver_status("push", "doomed-1", &body).await, 202);
    let d = app.settled("doomed-1").await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(app.attempts().await.len(), 1);
    assert_eq!(app.deliver_status("push", "doomed-1", &body).await, 200);
    app.assert_audit_verifies();
}

backend_tests!(stale_claim_cannot_settle);

/// A worker whose lease ran out (and whose delivery another worker claimed) cannot settle it.
async fn stale_claim_cannot_settle(db: TestDb) {
    use labtrail::db::deliveries::{self, Status};
    let conn = db.connect().await;
    let now = chrono::Utc::now();
    crate::helpers::queue_ping(&conn, "lease-1", now).await;
    let lease = chrono::Duration::seconds(60);
    let first = deliveries::claim_next(&conn, now, lease)
        .await
        .expect("claim")
        .expect("due");
    assert!(
        deliveries::claim_next(&conn, now, lease)
            .await
            .expect("claim")
            .is_none(),
        "leased"
    );
    // After the lease ran out, a second worker claims it.
    let later = now + chrono::Duration::seconds(61);
    let second = deliveries::claim_next(&conn, later, lease)
        .await
        .expect("claim")
        .expect("expired lease");
    assert_eq!((first.attempts, second.attempts), (1, 2));
    assert!(!deliveries::extend_lease(&conn, &first, later + lease)
        .await
        .expect("extend"));
    assert!(
        !deliveries::settle_claimed(&conn, &first, Status::Dead, Some("stale".into()), None)
            .await
            .expect("settle")
    );
    assert!(deliveries::extend_lease(&conn, &second, later + lease)
        .await
        .expect("extend"));
    assert!(
        deliveries::settle_claimed(&conn, &second, Status::Dead, None, None)
            .await
            .expect("settle")
    );
    // A redelivery requeues the dead delivery with fresh tries; the first worker's old claim (same
    // `attempts` count as the new one) still cannot settle it.
    assert!(deliveries::requeue_dead(&conn, "lease-1", later)
        .await
        .expect("requeue"));
    let third = deliveries::claim_next(&conn, later, lease)
        .await
        .expect("claim")
        .expect("queued again");
    assert_eq!(third.attempts, first.attempts);
    assert!(
        !deliveries::settle_claimed(&conn, &first, Status::Dead, Some("stale".into()), None)
            .await
            .expect("settle")
    );
    assert!(
        deliveries::settle_claimed(&conn, &third, Status::Ignored, None, None)
            .await
            .expect("settle")
    );
    use sea_orm::EntityTrait;
    let row = entity::webhook_delivery::Entity::find_by_id("lease-1".to_owned())
        .one(&conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status, "ignored");
}
