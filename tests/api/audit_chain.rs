//! The audit chain: contiguous, verifiable, and any edit is caught by `labtrail audit verify`.

use crate::audit_support::{record, unguarded, verify};
use crate::backend_tests;
use crate::helpers::{run_cli_with, spawn_app, TestDb};

backend_tests!(
    verify_passes_on_an_intact_log,
    edited_details_are_caught,
    edited_actor_column_is_caught,
    deleted_middle_entry_is_caught,
    verify_exits_2_when_it_cannot_verify,
    entry_ids_are_time_ordered,
);

/// After `n` recorded pushes, `sql` run with the guards dropped: `audit verify` exits 1 naming `needle`.
async fn tamper_is_caught(db: &TestDb, n: u64, sql: &str, needle: &str) {
    let app = unguarded(db, n).await;
    app.exec(sql).await.expect(sql);
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(needle), "{out}");
}

async fn verify_passes_on_an_intact_log(db: TestDb) {
    let app = spawn_app(&db).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(0), "an empty log is intact: {out}");
    record(&app, 5).await;
    let (code, out) = verify(&app, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("6 entries"), "{out}");
    // No personal data in hashed entries: the fixture's names and e-mails never appear.
    let leaked = app
        .audit_matching(|e| {
            ["Codertocat", "@", "alice"]
                .iter()
                .any(|s| e.details.contains(s))
        })
        .await;
    assert_eq!(leaked, 0);
}

/// New entries get version 7 UUIDs that ascend with `seq`, so the unique index on `entry_id` grows at its
/// end (docs/audit.md §1), also across the batches of several workers' appends.
async fn entry_ids_are_time_ordered(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 5).await;
    let entries = app.audit_entries().await;
    assert_eq!(entries.len(), 6);
    let ids: Vec<uuid::Uuid> = entries
        .iter()
        .map(|e| uuid::Uuid::parse_str(&e.entry_id).expect("a UUID"))
        .collect();
    for (e, id) in entries.iter().zip(&ids) {
        assert_eq!(id.get_version_num(), 7, "seq {}: {id}", e.seq);
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "entry ids ascend with seq: {ids:?}"
    );
}

async fn edited_details_are_caught(db: TestDb) {
    tamper_is_caught(
        &db,
        5,
        "UPDATE audit_log SET details = REPLACE(details, '\"late\":false', '\"late\":true') \
         WHERE seq = 3",
        "seq 3",
    )
    .await;
}

async fn edited_actor_column_is_caught(db: TestDb) {
    // A column edited, the hashed bytes left alone: they no longer agree.
    tamper_is_caught(
        &db,
        4,
        "UPDATE audit_log SET actor = 'system' WHERE seq = 2",
        "seq 2",
    )
    .await;
}

async fn deleted_middle_entry_is_caught(db: TestDb) {
    tamper_is_caught(&db, 4, "DELETE FROM audit_log WHERE seq = 2", "seq 2").await;
}

async fn verify_exits_2_when_it_cannot_verify(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 1).await;
    // Another origin than the one the log was started with.
    let out = run_cli_with(
        &db,
        &["audit", "verify"],
        &[("LABTRAIL_AUDIT_ORIGIN", "somewhere.else")],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No database at all.
    let out = run_cli_with(
        &db,
        &["audit", "verify"],
        &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
    );
    assert_eq!(out.status.code(), Some(2));
}
