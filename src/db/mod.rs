//! Storage: connecting (SQLite tuned for a server, or PostgreSQL), migrations, and queries as free
//! functions over `&impl ConnectionTrait` so they run inside a caller's transaction too.

pub mod attempts;
pub mod check_runs;
pub mod deliveries;
pub mod export;
pub mod gradebook;
pub mod installations;
pub mod invitations;
pub mod retention;
pub mod roster;
pub mod scores;
pub mod sessions;
pub mod student;
pub mod student_state;
pub mod students;
pub mod summary;
pub mod tokens;
pub mod web_sessions;
pub mod web_views;
pub mod witness;

/// The database handle the edges hold and pass on (they never query it themselves).
pub type Pool = sea_orm::DatabaseConnection;
/// A database failure, as the edges map it.
pub use sea_orm::DbErr;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::pool::PoolOptions;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use sea_orm::{RuntimeErr, SqlxPostgresConnector, SqlxSqliteConnector};

/// The file a SQLite URL names (`sqlite://labtrail.db?mode=rwc` → `labtrail.db`, relative to the working
/// directory); `None` for other databases and for in-memory SQLite.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory =
        path.is_empty() || path == ":memory:" || params.split('&').any(|p| p == "mode=memory");
    if in_memory {
        return None;
    }
    // The file exactly as sqlx will open it (it percent-decodes the path).
    let options: sea_orm::sqlx::sqlite::SqliteConnectOptions = url.parse().ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Create a missing SQLite file empty with mode 0600 before SQLite creates it with the umask's (`mode=rwc`
/// only: without it a missing file stays missing and connecting fails).
fn create_private_if_allowed(url: &str, path: &std::path::Path) {
    let creates = url
        .split_once('?')
        .is_some_and(|(_, params)| params.split('&').any(|p| p == "mode=rwc"));
    if !creates || path.exists() {
        return;
    }
    match crate::secrets::options()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot create the database file with mode 0600")
        }
    }
}

/// `labtrail.db` → `labtrail.db-wal`.
fn companion(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Whether connecting failed because the server has no such database (PostgreSQL `3D000`).
pub fn is_missing_database(e: &DbErr) -> bool {
    use sea_orm::sqlx;
    match e {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(sqlx::Error::Database(e))) => {
            e.code().as_deref() == Some("3D000")
        }
        _ => false,
    }
}

/// Open the database named by `url` (`sqlite://…` or `postgres://…`).
///
/// SQLite: WAL, `synchronous=FULL` (a commit is on disk before we answer), a busy timeout for writers in
/// other processes (the CLI), foreign keys on, and one pooled connection, so writers in this process queue
/// instead of contending for the file lock. The webhook handler bounds the whole store at 8 s, inside
/// GitHub's 10 s delivery timeout, and answers 503 past it.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_pooled(url, 1).await
}

/// [`connect`] for a command that only reads and reads several things at once (`audit verify`): on
/// SQLite a pool of `sqlite_connections` (WAL lets readers run side by side, each on its own thread)
/// instead of one; PostgreSQL as [`connect`].
pub async fn connect_for_reading(
    url: &str,
    sqlite_connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    connect_pooled(url, sqlite_connections.max(1)).await
}

async fn connect_pooled(url: &str, sqlite_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let sqlite_file = sqlite_path(url);
    if let Some(path) = &sqlite_file {
        create_private_if_allowed(url, path);
    }
    let db = if url.starts_with("sqlite:") {
        let options = url
            .parse::<SqliteConnectOptions>()
            .map_err(conn_err)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .disable_statement_logging();
        SqlxSqliteConnector::from_sqlx_sqlite_pool(
            open_pool(options, sqlite_connections, Duration::from_secs(8)).await?,
        )
    } else if SqlxPostgresConnector::accepts(url) {
        let options = url
            .parse::<PgConnectOptions>()
            .map_err(conn_err)?
            .disable_statement_logging();
        SqlxPostgresConnector::from_sqlx_postgres_pool(
            open_pool(options, 16, Duration::from_secs(5)).await?,
        )
    } else {
        // Neither: sea-orm names the missing driver.
        Database::connect(url).await?
    };
    if let Some(path) = &sqlite_file {
        // SQLite gives the -wal and -shm files the database file's mode; files made wider by hand are
        // tightened here.
        for file in [
            path.clone(),
            companion(path, "-wal"),
            companion(path, "-shm"),
        ] {
            if let Err(e) = crate::secrets::tighten(&file) {
                tracing::warn!(file = %file.display(), error = %e, "cannot make the database file private (0600)");
            }
        }
    }
    if db.get_database_backend() == DbBackend::Postgres {
        warn_if_commits_are_not_durable(&db).await?;
    }
    Ok(db)
}

/// Open the pool: up to `max` connections, one kept open, and no idle or lifetime limit, which is what makes
/// sqlx run its periodic sweep of idle connections. sqlx 0.8.6's sweep can underflow its idle count and
/// then spin at 100 % CPU, hanging the process at shutdown (launchbadge/sqlx#3645, fixed upstream in
/// #4289 but in no 0.8 release); it hung a test run here. Without the limits the pool closes a
/// connection only when it fails; one that broke while idle is found by the ping before each use.
async fn open_pool<DB: sea_orm::sqlx::Database>(
    options: <DB::Connection as sea_orm::sqlx::Connection>::Options,
    max: u32,
    acquire: Duration,
) -> Result<sea_orm::sqlx::Pool<DB>, DbErr> {
    PoolOptions::<DB>::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(acquire)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .map_err(conn_err)
}

/// A connection error as sea-orm reports one (what [`is_missing_database`] looks into).
fn conn_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(e))
}

/// Open the database named by `url` without creating or changing anything (`labtrail doctor`): SQLite is
/// opened read-only and never created; PostgreSQL as usual.
pub async fn connect_read_only(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(8));
    if url.starts_with("sqlite:") {
        opts.map_sqlx_sqlite_opts(|o| {
            o.read_only(true)
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(5))
        });
    }
    Database::connect(opts).await
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

/// Names of the migrations not applied yet, read with a plain SELECT: a runtime role without DDL rights
/// (docs/security.md) can run it, where sea-orm-migration would first try to create its table.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await?;
    let applied: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?;
    Ok(Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .filter(|name| !applied.contains(name))
        .collect())
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Migrations are pending and this role may not run DDL: the runtime role of docs/security.md.
    #[error(
        "{} migration(s) pending ({}), and this database role may not apply them ({source}): run \
         `labtrail migrate` as the role that owns the tables, then re-run the grants of docs/security.md",
        .pending.len(),
        .pending.join(", ")
    )]
    NotOwner {
        pending: Vec<String>,
        #[source]
        source: DbErr,
    },
    #[error("Cannot apply migrations")]
    Db(#[from] DbErr),
}

/// Apply every pending migration (nothing, and no DDL, when the schema is current). A role without the
/// right to (the runtime role of docs/security.md) gets [`MigrateError::NotOwner`], which says who must.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), MigrateError> {
    migrate_with_progress(db, |b| {
        tracing::info!(
            session = %format_args!("{}/{}", b.org, b.slug),
            rows = b.rows,
            "student state built ({} of {})",
            b.done,
            b.of
        );
    })
    .await
}

/// [`migrate`], then build the kept state of each session that has none yet
/// ([`student_state::build_unbuilt`]), calling `progress` after each.
pub async fn migrate_with_progress(
    db: &DatabaseConnection,
    progress: impl FnMut(&student_state::Built),
) -> Result<(), MigrateError> {
    apply_migrations(db).await?;
    student_state::build_unbuilt(db, progress).await?;
    Ok(())
}

async fn apply_migrations(db: &DatabaseConnection) -> Result<(), MigrateError> {
    let pending = match pending_migrations(db).await {
        Ok(pending) if pending.is_empty() => return Ok(()),
        Ok(pending) => Some(pending),
        Err(_) => None,
    };
    match Migrator::up(db, None).await {
        Ok(()) => Ok(()),
        Err(source) if is_permission_denied(&source) => Err(MigrateError::NotOwner {
            pending: pending.unwrap_or_default(),
            source,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Did PostgreSQL refuse this for lack of a privilege (SQLSTATE 42501, or not the owner: 42501 too)?
pub fn is_permission_denied(e: &DbErr) -> bool {
    let runtime = match e {
        DbErr::Exec(r) | DbErr::Query(r) | DbErr::Conn(r) => r,
        DbErr::Migration(m) => {
            return m.contains("permission denied") || m.contains("must be owner")
        }
        _ => return false,
    };
    match runtime {
        RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(d)) => {
            d.code().as_deref() == Some("42501")
        }
        other => {
            let s = other.to_string();
            s.contains("permission denied") || s.contains("must be owner")
        }
    }
}

/// A table whose ids a transaction reserves before inserting rows under their audit entry (the guards
/// of migration m20261201_000100 want the entry, naming the row's id, to be appended first).
#[derive(Debug, Clone, Copy)]
pub enum IdTable {
    SessionExtension,
    RosterStudent,
}

impl IdTable {
    fn name(self) -> &'static str {
        match self {
            Self::SessionExtension => "session_extension",
            Self::RosterStudent => "roster_student",
        }
    }
}

/// Reserve `n` new ids of `table`: PostgreSQL draws them from the table's sequence; SQLite takes the
/// next ones after the largest ever used (its `AUTOINCREMENT` counter), which is safe because the caller
/// holds the write lock (an audited transaction).
pub async fn reserve_ids(
    db: &impl ConnectionTrait,
    table: IdTable,
    n: usize,
) -> Result<Vec<i64>, DbErr> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let name = table.name();
    let backend = db.get_database_backend();
    match backend {
        DbBackend::Postgres => {
            let rows = db
                .query_all(Statement::from_string(
                    backend,
                    format!(
                        "SELECT nextval(pg_get_serial_sequence('{name}', 'id')) \
                         FROM generate_series(1, {n})"
                    ),
                ))
                .await?;
            rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect()
        }
        _ => {
            let row = db
                .query_one(Statement::from_string(
                    backend,
                    // `sqlite_sequence` keeps the largest id ever used: a removed row's id is never
                    // given again (roster rows and extensions may be removed, under their entry).
                    format!(
                        "SELECT MAX(COALESCE((SELECT MAX(id) FROM {name}), 0), \
                         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{name}'), 0))"
                    ),
                ))
                .await?;
            let max: i64 = match row {
                Some(r) => r.try_get_by_index(0)?,
                None => 0,
            };
            Ok((1..=n as i64).map(|i| max + i).collect())
        }
    }
}

/// True when the database answers and no migration is pending.
pub async fn ready(db: &DatabaseConnection) -> Result<bool, DbErr> {
    db.execute(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await?;
    match pending_migrations(db).await {
        Ok(pending) => Ok(pending.is_empty()),
        Err(_) => Ok(Migrator::get_pending_migrations(db).await?.is_empty()),
    }
}

/// Did this error come from a unique constraint?
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        use std::path::PathBuf;
        let p = |u: &str| sqlite_path(u);
        assert_eq!(
            p("sqlite://labtrail.db?mode=rwc"),
            Some(PathBuf::from("labtrail.db"))
        );
        assert_eq!(
            p("sqlite:///var/lib/a%20b.db"),
            Some(PathBuf::from("/var/lib/a b.db"))
        );
        assert_eq!(p("sqlite:x.db"), Some(PathBuf::from("x.db")));
        assert_eq!(p("sqlite::memory:"), None);
        assert_eq!(p("sqlite://x.db?mode=memory"), None);
        assert_eq!(p("postgres://u@h/db"), None);
    }
}
