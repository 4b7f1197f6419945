//! What the benches share: the database they fill (migrated, with the one lab session their pushes fall
//! in) and the scratch PostgreSQL databases they create next to `LABTRAIL_TEST_POSTGRES_URL`.

use chrono::{DateTime, Utc};
use labtrail::db;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// The audit origin the benches record under.
pub const ORIGIN: &str = "bench";

/// `LABTRAIL_BENCH_TINY=1`: a few hundred deliveries or entries instead of thousands, so CI runs each
/// bench once, with its checks, in seconds (its figures then mean nothing).
pub fn tiny() -> bool {
    std::env::var("LABTRAIL_BENCH_TINY").is_ok_and(|v| v == "1")
}

/// Connect to `url`, migrate, and create the session `course/lab1` (`lab1-*`, every branch) open from
/// `opens_at` to `closes_at`: the connection and the session's id.
pub async fn prepare(
    url: &str,
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
) -> (DatabaseConnection, i64) {
    let conn = db::connect(url).await.expect("connect");
    db::migrate(&conn).await.expect("migrate");
    let session = db::sessions::create(
        &conn,
        ORIGIN,
        "cli:bench",
        db::sessions::NewSession {
            org: "course".into(),
            slug: "lab1".into(),
            title: "Lab 1".into(),
            repo_pattern: "lab1-*".into(),
            branch_policy: "all".into(),
            opens_at,
            closes_at,
            timezone: "UTC".into(),
            score_check: None,
            allow_overlap: false,
        },
    )
    .await
    .expect("session");
    (conn, session.id)
}

/// A fresh name for a bench database.
pub fn database_name() -> String {
    format!("labtrail_bench_{}", uuid::Uuid::new_v4().simple())
}

/// The URL of the database `name` on the server of `admin_url`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("url");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Create the database `name` through the `admin` connection.
pub async fn create_database(admin: &DatabaseConnection, name: &str) {
    admin
        .execute(postgres(format!("CREATE DATABASE {name}")))
        .await
        .expect("create db");
}

/// Drop the database `name`, closing whatever still uses it; a failure is ignored (it is scratch).
pub async fn drop_database(admin: &DatabaseConnection, name: &str) {
    let _ = admin
        .execute(postgres(format!("DROP DATABASE {name} WITH (FORCE)")))
        .await;
}

fn postgres(sql: String) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}
