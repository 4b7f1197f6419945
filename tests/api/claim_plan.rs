//! A worker's claim reads the queue through `ix_webhook_delivery_claimable` in order of claimable time:
//! no sort of the queue on either backend, and the claims come in that order.

use chrono::{DateTime, Duration, TimeZone, Utc};
use labtrail::db::deliveries::{self, Status};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use crate::backend_tests;
use crate::helpers::{queue_ping as queue, TestDb};

backend_tests!(
    claim_scans_its_index_without_a_sort,
    claims_come_in_claimable_time_order
);

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(seconds)
}

/// The plan of the claim statement, one line per node, on a queue with settled, queued and leased rows.
async fn claim_plan(conn: &DatabaseConnection, now: DateTime<Utc>) -> Vec<String> {
    let backend = conn.get_database_backend();
    let claim = deliveries::claim_statement(backend, now, Duration::seconds(60));
    let values = claim.values.clone().expect("bound values");
    // One connection for the session setting and the EXPLAIN; nothing is written.
    let txn = conn.begin().await.expect("begin");
    let (sql, column) = match backend {
        DbBackend::Postgres => {
            // The test table is tiny: without this PostgreSQL rightly prefers reading all of it.
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .expect("set");
            (format!("EXPLAIN {}", claim.sql), "QUERY PLAN")
        }
        _ => (format!("EXPLAIN QUERY PLAN {}", claim.sql), "detail"),
    };
    let rows = txn
        .query_all(Statement::from_sql_and_values(backend, sql, values))
        .await
        .expect("explain");
    txn.rollback().await.expect("rollback");
    rows.iter()
        .map(|r| r.try_get::<String>("", column).expect("plan line"))
        .collect()
}

async fn claim_scans_its_index_without_a_sort(db: TestDb) {
    let conn = db.connect().await;
    let lease = Duration::seconds(60);
    for i in 0..40 {
        queue(&conn, &format!("plan-{i}"), t(i)).await;
    }
    // Some settled, some leased, the rest queued.
    for _ in 0..20 {
        let d = deliveries::claim_next(&conn, t(100), lease)
            .await
            .expect("claim")
            .expect("due");
        assert!(
            deliveries::settle_claimed(&conn, &d, Status::Processed, None, None)
                .await
                .expect("settle")
        );
    }
    for _ in 0..5 {
        deliveries::claim_next(&conn, t(100), lease)
            .await
            .expect("claim")
            .expect("due");
    }
    conn.execute_unprepared("ANALYZE").await.expect("analyze");

    let plan = claim_plan(&conn, t(200)).await;
    let text = plan.join("\n");
    assert!(
        text.contains("ix_webhook_delivery_claimable"),
        "the claim reads its index:\n{text}"
    );
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            assert!(text.contains("Index Scan"), "an index scan:\n{text}");
            assert!(
                !plan.iter().any(|l| l
                    .trim_start()
                    .trim_start_matches("->  ")
                    .starts_with("Sort")),
                "no Sort node:\n{text}"
            );
            assert!(!text.contains("Seq Scan"), "no scan of the table:\n{text}");
        }
        _ => {
            assert!(
                !text.contains("TEMP B-TREE"),
                "no sort of the queue:\n{text}"
            );
            assert!(
                !text.contains("SCAN webhook_delivery"),
                "no scan of the table:\n{text}"
            );
        }
    }
}

/// Claims take the earliest claimable time first — `next_attempt_at` of a queued delivery, the lease
/// of a processing one, strictly after it runs out — and never a settled delivery.
async fn claims_come_in_claimable_time_order(db: TestDb) {
    let conn = db.connect().await;
    let lease = Duration::seconds(60);
    queue(&conn, "order-b", t(2)).await;
    queue(&conn, "order-a", t(1)).await;
    queue(&conn, "order-c", t(3)).await;
    let claim = |now| {
        let conn = conn.clone();
        async move {
            deliveries::claim_next(&conn, now, lease)
                .await
                .expect("claim")
        }
    };
    assert!(claim(t(0)).await.is_none(), "nothing due yet");
    let a = claim(t(1)).await.expect("a is due");
    assert_eq!(a.guid, "order-a");
    assert!(claim(t(1)).await.is_none(), "b is not due yet, a is leased");
    let b = claim(t(2)).await.expect("b is due");
    assert_eq!(b.guid, "order-b");
    let c = claim(t(3)).await.expect("c is due");
    assert_eq!(c.guid, "order-c");
    assert!(
        claim(t(61)).await.is_none(),
        "a's lease holds until t(61) inclusive"
    );
    assert!(
        deliveries::settle_claimed(&conn, &c, Status::Processed, None, None)
            .await
            .expect("settle")
    );
    // A new delivery due before the expired leases comes first; then the leases, earliest first.
    queue(&conn, "order-d", t(50)).await;
    let order: Vec<(String, i32)> = {
        let mut order = Vec::new();
        while let Some(d) = claim(t(100)).await {
            order.push((d.guid, d.claims));
        }
        order
    };
    assert_eq!(
        order,
        [
            ("order-d".to_string(), 1),
            ("order-a".to_string(), 2),
            ("order-b".to_string(), 2),
        ],
        "c is settled and never claimed again"
    );
}
