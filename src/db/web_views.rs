//! Reads of the instructor web view that the read API does not need: a session's attempts without their
//! files (the summary table and the chart), per-repository lateness of many sessions (the counts on the
//! session list) and one page of an attempt's files.

use entity::{lab_attempt, lab_attempt_file};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// Every attempt of a session, without files, in recording order.
pub async fn session_attempts(
    db: &impl ConnectionTrait,
    session_id: i64,
) -> Result<Vec<lab_attempt::Model>, DbErr> {
    lab_attempt::Entity::find()
        .filter(lab_attempt::Column::SessionId.eq(session_id))
        .order_by_asc(lab_attempt::Column::Id)
        .all(db)
        .await
}

/// `(session_id, repository_id, late)` of every attempt of these sessions.
pub async fn lateness(
    db: &impl ConnectionTrait,
    session_ids: &[i64],
) -> Result<Vec<(i64, i64, bool)>, DbErr> {
    if session_ids.is_empty() {
        return Ok(Vec::new());
    }
    use lab_attempt::Column as C;
    lab_attempt::Entity::find()
        .select_only()
        .column(C::SessionId)
        .column(C::RepositoryId)
        .column(C::Late)
        .filter(C::SessionId.is_in(session_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}

/// Page `page` (from 0) of an attempt's files by path, `per_page` a page, and how many there are.
pub async fn files_page(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    page: u64,
    per_page: u64,
) -> Result<(Vec<lab_attempt_file::Model>, u64), DbErr> {
    let q = lab_attempt_file::Entity::find()
        .filter(lab_attempt_file::Column::AttemptId.eq(attempt_id))
        .order_by_asc(lab_attempt_file::Column::Path)
        .order_by_asc(lab_attempt_file::Column::Id);
    let total = q.clone().count(db).await?;
    let rows = q
        .offset(page.saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    Ok((rows, total))
}
