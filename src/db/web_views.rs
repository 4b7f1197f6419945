//! Reads of the instructor web view that the read API does not need: one page of an attempt's files and
//! the push times of a session (the chart), and the final attempt of one repository.

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_attempt_file};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

/// How many files an attempt has.
pub async fn file_count(db: &impl ConnectionTrait, attempt_id: i64) -> Result<u64, DbErr> {
    lab_attempt_file::Entity::find()
        .filter(lab_attempt_file::Column::AttemptId.eq(attempt_id))
        .count(db)
        .await
}

/// Page `page` (from 0) of an attempt's files by path, `per_page` a page. A page whose offset does not
/// fit the databases' signed 64-bit offsets is empty (callers refuse pages past the last first).
pub async fn files_page(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    page: u64,
    per_page: u64,
) -> Result<Vec<lab_attempt_file::Model>, DbErr> {
    let Some(offset) = page
        .checked_mul(per_page)
        .filter(|o| i64::try_from(*o).is_ok())
    else {
        return Ok(Vec::new());
    };
    lab_attempt_file::Entity::find()
        .filter(lab_attempt_file::Column::AttemptId.eq(attempt_id))
        .order_by_asc(lab_attempt_file::Column::Path)
        .order_by_asc(lab_attempt_file::Column::Id)
        .offset(offset)
        .limit(per_page)
        .all(db)
        .await
}

/// The chart's data: a session's pushes counted per minute, `(first push, late?, count)` and, where a
/// minute's pushes span more than an instant, `(last push, late?, 0)` so the chart's span ends where
/// the pushes do. A minute is also split at `opens_at` and at `deadline` (a push at the deadline falls
/// right of it), the only boundaries inside a minute the chart has, so every push lands in the bucket and
/// class it would alone; the page reads one row a minute and class, never one per attempt.
pub async fn push_times(
    db: &impl ConnectionTrait,
    session_id: i64,
    (opens_at, deadline): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<(DateTime<Utc>, bool, u32)>, DbErr> {
    let backend = db.get_database_backend();
    let (minute, marks) = if backend == DbBackend::Postgres {
        ("date_trunc('minute', pushed_at)", ["$1", "$2", "$3"])
    } else {
        // Stored as ISO 8601 text in UTC: its first 16 characters are the minute.
        ("substr(pushed_at, 1, 16)", ["?", "?", "?"])
    };
    let [session, opens, closes] = marks;
    let sql = format!(
        "SELECT MIN(pushed_at) AS first, MAX(pushed_at) AS last, late, COUNT(*) AS n \
         FROM lab_attempt WHERE session_id = {session} \
         GROUP BY {minute}, late, pushed_at < {opens}, pushed_at >= {closes}"
    );
    let rows = db
        .query_all(Statement::from_sql_and_values(
            backend,
            sql,
            [session_id.into(), opens_at.into(), deadline.into()],
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let first: DateTime<Utc> = row.try_get("", "first")?;
        let last: DateTime<Utc> = row.try_get("", "last")?;
        let late: bool = row.try_get("", "late")?;
        let n: i64 = row.try_get("", "n")?;
        out.push((first, late, u32::try_from(n).unwrap_or(u32::MAX)));
        if last != first {
            out.push((last, late, 0));
        }
    }
    Ok(out)
}

/// The final attempt (id, number) of repository `repository_id` in `session`, judged against `deadline`
/// as the summary judges it: the latest attempt pushed between the opening and the deadline.
pub async fn final_of_repository(
    db: &impl ConnectionTrait,
    session: &entity::lab_session::Model,
    repository_id: i64,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(i64, i32)>, DbErr> {
    use lab_attempt::Column as C;
    let rows: Vec<lab_attempt::Model> = lab_attempt::Entity::find()
        .filter(C::SessionId.eq(session.id))
        .filter(C::RepositoryId.eq(repository_id))
        .order_by_asc(C::Id)
        .all(db)
        .await?;
    let mut fold = crate::domain::summary::RepoFold::default();
    for a in rows {
        fold.add(
            crate::domain::summary::AttemptFacts {
                id: a.id,
                number: a.attempt_number,
                after: a.after_sha,
                git_ref: a.git_ref,
                pushed_at: a.pushed_at,
                forced: a.forced,
            },
            session.opens_at,
            deadline,
        );
    }
    Ok(fold.final_attempt.map(|f| (f.id, f.number)))
}
