//! Reads of the instructor web view that the read API does not need: one page of an attempt's files and
//! the push times of a session (the chart), and the final attempt of one repository.

use entity::{lab_attempt, lab_attempt_file};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
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

/// `(pushed_at, late)` of every attempt of a session: the chart's data.
pub async fn push_times(
    db: &impl ConnectionTrait,
    session_id: i64,
) -> Result<Vec<(chrono::DateTime<chrono::Utc>, bool)>, DbErr> {
    use lab_attempt::Column as C;
    lab_attempt::Entity::find()
        .select_only()
        .column(C::PushedAt)
        .column(C::Late)
        .filter(C::SessionId.eq(session_id))
        .into_tuple()
        .all(db)
        .await
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
