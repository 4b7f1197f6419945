//! The SQL examples of `docs/schema.md` run as written, on both backends, against a class populated by
//! real deliveries, and return the rows the page says they do: the docs cannot rot.

use sea_orm::{ConnectionTrait, QueryResult, Statement};

use crate::audit_support::{archive, retention_run_now};
use crate::backend_tests;
use crate::helpers::{push_payload, sha, spawn_app, TestApp, TestDb, JANUARY_2026};

backend_tests!(schema_doc_queries_return_the_expected_rows);

const SCHEMA_MD: &str = include_str!("../../docs/schema.md");

/// The fenced ```sql blocks of the page, in order.
fn sql_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in md.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sql") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), l) => lines.push(l),
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unterminated ```sql block");
    blocks
}

/// The first column of a row as text, whatever its SQL type.
fn first(row: &QueryResult) -> String {
    if let Ok(i) = row.try_get_by_index::<i64>(0) {
        return i.to_string();
    }
    if let Ok(s) = row.try_get_by_index::<String>(0) {
        return s;
    }
    panic!("the first column is neither an integer nor text");
}

async fn push(app: &TestApp, guid: &str, repo: &str, repo_id: i64, n: u64, at: i64) {
    let p = push_payload("course", repo, repo_id, &sha(n), at);
    app.deliver_push(guid, &p).await;
    app.drain().await;
    assert_eq!(app.settled(guid).await.status, "processed", "{guid}");
}

/// lab1: alice pushes twice on time and once late, bob once (attempts 1, 2, 4 and 3); lab0: carol's
/// attempt 5, erased by retention after lab0 is archived.
async fn populate(app: &TestApp) {
    app.create_lab1_session().await;
    app.create_session("course", "lab0", "lab0-*", JANUARY_2026)
        .await;
    let jan = 1_767_225_600;
    let after_deadline = 1_769_904_000 + 3600;
    push(app, "d-1", "lab1-alice", 7, 1, jan).await;
    push(app, "d-2", "lab1-alice", 7, 2, jan + 60).await;
    push(app, "d-3", "lab1-bob", 8, 3, jan + 120).await;
    push(app, "d-4", "lab1-alice", 7, 4, after_deadline).await;
    push(app, "d-5", "lab0-carol", 9, 5, jan + 180).await;
    archive(app, "lab0");
    retention_run_now(app);
}

async fn schema_doc_queries_return_the_expected_rows(db: TestDb) {
    let app = spawn_app(&db).await;
    populate(&app).await;
    // The first column of each example's rows, in the page's order.
    let expected: [&[&str]; 6] = [
        &["1", "2", "4"],
        &["4"],
        &["course/lab1-alice", "course/lab1-bob"],
        &["course/lab1-alice", "course/lab1-bob"],
        &["lab_attempt.recorded", "lab_attempt.erased"],
        &["lab_attempt:5"],
    ];
    let blocks = sql_blocks(SCHEMA_MD);
    assert_eq!(blocks.len(), expected.len(), "{blocks:#?}");
    let backend = app.db.get_database_backend();
    for (sql, want) in blocks.iter().zip(expected) {
        let rows = app
            .db
            .query_all(Statement::from_string(backend, sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("{sql}\n{e}"));
        let got: Vec<String> = rows.iter().map(first).collect();
        assert_eq!(got, want, "{sql}");
    }
}
