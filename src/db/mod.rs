//! Storage: connecting (SQLite tuned for a server, or PostgreSQL), migrations, and queries as free
//! functions over `&impl ConnectionTrait` so they run inside a caller's transaction too.

pub mod attempts;
pub mod check_runs;
pub mod deliveries;
pub mod installations;
pub mod sessions;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

/// Open the database named by `url` (`sqlite://…` or `postgres://…`).
///
/// SQLite: WAL, `synchronous=FULL` (a commit is on disk before we answer), a 30 s busy timeout, foreign
/// keys on, and one pooled connection, so writers in this process queue instead of contending for the
/// file lock. PostgreSQL: a pool whose acquire timeout is short enough to answer GitHub within its 10 s.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        opts.max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
    } else {
        opts.max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5));
    }
    let db = Database::connect(opts).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        warn_if_commits_are_not_durable(&db).await?;
    }
    Ok(db)
}

async fn warn_if_commits_are_not_durable(db: &DatabaseConnection) -> Result<(), DbErr> {
    let row = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SHOW synchronous_commit",
        ))
        .await?;
    let setting: String = match row {
        Some(r) => r.try_get_by_index(0)?,
        None => return Ok(()),
    };
    if setting == "off" {
        tracing::warn!("PostgreSQL synchronous_commit is off: an acknowledged delivery could be lost in a crash");
    }
    Ok(())
}

/// Apply every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True when the database answers and no migration is pending.
pub async fn ready(db: &DatabaseConnection) -> Result<bool, DbErr> {
    db.execute(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await?;
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// Did this error come from a unique constraint?
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
