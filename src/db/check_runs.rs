//! The check-run outbox on `lab_attempt` (claim with a lease, store the id, note a failure, find what is
//! due) and the facts a check-run summary shows.

use chrono::{DateTime, Utc};
use entity::{audit_log, installation, lab_attempt, lab_attempt_file, lab_session};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::attempts::NO_INSTALLATION;
use lab_attempt::Column as C;
use lab_attempt_file::FileStatus;

/// Take an attempt for publishing until `now + lease`; `false` when it has a check run already or
/// another publisher holds it.
pub async fn claim(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<bool, DbErr> {
    let res = lab_attempt::Entity::update_many()
        .col_expr(C::CheckRunNextAt, Expr::value(now + lease))
        .filter(C::Id.eq(attempt_id))
        .filter(C::CheckRunId.is_null())
        .filter(
            Condition::any()
                .add(C::CheckRunNextAt.is_null())
                .add(C::CheckRunNextAt.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Store the check run's id and release the attempt.
pub async fn store(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    check_run_id: i64,
) -> Result<(), DbErr> {
    lab_attempt::Entity::update_many()
        .col_expr(C::CheckRunId, Expr::value(check_run_id))
        .col_expr(
            C::CheckRunNextAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(C::CheckRunError, Expr::value(Option::<String>::None))
        .filter(C::Id.eq(attempt_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Note a failed try and when the next may start.
pub async fn failed(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    error: &str,
    next_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let error: String = error.chars().take(2000).collect();
    lab_attempt::Entity::update_many()
        .col_expr(C::CheckRunTries, Expr::col(C::CheckRunTries).add(1))
        .col_expr(C::CheckRunNextAt, Expr::value(next_at))
        .col_expr(C::CheckRunError, Expr::value(error))
        .filter(C::Id.eq(attempt_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Failed tries so far.
pub async fn tries(db: &impl ConnectionTrait, attempt_id: i64) -> Result<i32, DbErr> {
    let tries: Option<i32> = lab_attempt::Entity::find_by_id(attempt_id)
        .select_only()
        .column(C::CheckRunTries)
        .into_tuple()
        .one(db)
        .await?;
    Ok(tries.unwrap_or(0))
}

/// Attempts due for a check run: none yet, not held, fewer than `max_tries` failures, and an
/// installation not known to be suspended or deleted (none for a push without one). Oldest first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    max_tries: i32,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    let inactive = Query::select()
        .column(installation::Column::Id)
        .from(installation::Entity)
        .cond_where(
            Condition::any()
                .add(installation::Column::SuspendedAt.is_not_null())
                .add(installation::Column::DeletedAt.is_not_null()),
        )
        .to_owned();
    lab_attempt::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::CheckRunId.is_null())
        .filter(C::CheckRunTries.lt(max_tries))
        .filter(
            Condition::any()
                .add(C::CheckRunNextAt.is_null())
                .add(C::CheckRunNextAt.lte(now)),
        )
        .filter(C::InstallationId.ne(NO_INSTALLATION))
        .filter(C::InstallationId.not_in_subquery(inactive))
        .order_by_asc(C::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// What a check-run summary needs about one attempt.
#[derive(Debug, Clone)]
pub struct SummaryFacts {
    pub attempt: lab_attempt::Model,
    pub session_title: String,
    /// The deadline of this attempt's student (the session's, or their extension), as it is now.
    pub closes_at: DateTime<Utc>,
    pub session_closes_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    pub timezone: String,
    /// The first files by path: (path, status).
    pub files: Vec<(String, FileStatus)>,
    /// The latest attempts of the same session and repository recorded up to this one, latest pushed
    /// first.
    pub recent: Vec<lab_attempt::Model>,
    /// The attempt's audit entry hash.
    pub entry_hash: String,
}

/// Read the facts of an attempt's summary; `None` when the attempt is gone.
pub async fn summary_facts(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    files_shown: usize,
    recent_shown: usize,
) -> Result<Option<SummaryFacts>, DbErr> {
    let Some((attempt, Some(session))) = lab_attempt::Entity::find_by_id(attempt_id)
        .find_also_related(lab_session::Entity)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let files = lab_attempt_file::Entity::find()
        .filter(lab_attempt_file::Column::AttemptId.eq(attempt_id))
        .order_by_asc(lab_attempt_file::Column::Path)
        .limit(u64::try_from(files_shown).unwrap_or(50))
        .all(db)
        .await?
        .into_iter()
        .map(|f| (f.path, f.status))
        .collect();
    // Only this repository: a summary is visible to whoever can read the repository.
    let recent = lab_attempt::Entity::find()
        .filter(C::SessionId.eq(attempt.session_id))
        .filter(C::RepositoryId.eq(attempt.repository_id))
        .filter(C::Id.lte(attempt.id))
        .order_by_desc(C::PushedAt)
        .order_by_desc(C::Id)
        .limit(u64::try_from(recent_shown).unwrap_or(10))
        .all(db)
        .await?;
    let entry_hash = audit_log::Entity::find_by_id(attempt.audit_seq)
        .one(db)
        .await?
        .map(|e| e.entry_hash)
        .unwrap_or_default();
    let name = attempt
        .repository_full_name
        .rsplit_once('/')
        .map_or(attempt.repository_full_name.as_str(), |(_, n)| n);
    let closes_at = crate::db::sessions::deadline_of_push(
        db,
        &session,
        name,
        attempt.pusher_login.as_deref(),
        attempt.sender_id,
    )
    .await?;
    Ok(Some(SummaryFacts {
        attempt,
        session_title: session.title,
        closes_at,
        session_closes_at: session.closes_at,
        opens_at: session.opens_at,
        timezone: session.timezone,
        files,
        recent,
        entry_hash,
    }))
}

/// How many attempts still have no check run (for tests and operators); a push without an installation
/// never gets one, and is not counted.
pub async fn pending(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    lab_attempt::Entity::find()
        .filter(C::CheckRunId.is_null())
        .filter(C::InstallationId.ne(NO_INSTALLATION))
        .count(db)
        .await
}

/// Queue the rewrite of the existing check runs of `session_id` whose verdict (early, late) differs
/// between the deadlines `before` and `after` a session edit or extension; returns how many. The sweep
/// rewrites them a batch at a time ([`refresh_due`]).
pub async fn queue_changed_verdicts(
    db: &impl ConnectionTrait,
    session_id: i64,
    before: &crate::db::sessions::Deadlines,
    after: &crate::db::sessions::Deadlines,
) -> Result<u64, DbErr> {
    type Row = (i64, String, Option<String>, Option<i64>, DateTime<Utc>);
    let rows: Vec<Row> = lab_attempt::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::RepositoryFullName,
            C::PusherLogin,
            C::SenderId,
            C::PushedAt,
        ])
        .filter(C::SessionId.eq(session_id))
        .filter(C::CheckRunId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let changed: Vec<i64> = rows
        .into_iter()
        .filter(|(_, full_name, login, sender, pushed_at)| {
            let name = full_name
                .rsplit_once('/')
                .map_or(full_name.as_str(), |(_, n)| n);
            before.verdict(name, login.as_deref(), *sender, *pushed_at)
                != after.verdict(name, login.as_deref(), *sender, *pushed_at)
        })
        .map(|(id, ..)| id)
        .collect();
    let mut queued = 0;
    for chunk in changed.chunks(500) {
        queued += lab_attempt::Entity::update_many()
            .col_expr(C::CheckRunRefreshAt, Expr::value(Utc::now()))
            .filter(C::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(queued)
}

/// Attempts whose check run is due to be rewritten: `(id, check_run_refresh_at)`, oldest first.
pub async fn refresh_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(i64, DateTime<Utc>)>, DbErr> {
    lab_attempt::Entity::find()
        .select_only()
        .columns([C::Id, C::CheckRunRefreshAt])
        .filter(C::CheckRunRefreshAt.lte(now))
        .order_by_asc(C::CheckRunRefreshAt)
        .order_by_asc(C::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Try the rewrite again at `next_at` (GitHub failed), unless it was queued anew meanwhile.
pub async fn refresh_later(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    queued_at: DateTime<Utc>,
    next_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    lab_attempt::Entity::update_many()
        .col_expr(C::CheckRunRefreshAt, Expr::value(next_at))
        .filter(C::Id.eq(attempt_id))
        .filter(C::CheckRunRefreshAt.eq(queued_at))
        .exec(db)
        .await?;
    Ok(())
}

/// The rewrite is done: clear the queue mark (unless it was queued anew meanwhile) and, when a check run
/// was rewritten, append its `check_run.updated` entry, in one transaction.
pub async fn refreshed(
    db: &impl sea_orm::TransactionTrait,
    origin: &str,
    attempt_id: i64,
    queued_at: DateTime<Utc>,
    entry: Option<crate::audit::NewEntry>,
) -> Result<(), crate::audit::AuditError> {
    crate::audit::write(db, origin, async |txn, log| {
        lab_attempt::Entity::update_many()
            .col_expr(
                C::CheckRunRefreshAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(C::Id.eq(attempt_id))
            .filter(C::CheckRunRefreshAt.eq(queued_at))
            .exec(txn)
            .await?;
        if let Some(entry) = entry {
            log.append(entry).await?;
        }
        Ok(())
    })
    .await
}
