//! The attempts export's read (issue 24): a session's attempts in pages by id, only the columns the
//! export writes, each attempt's files in the same query (a JSON array per attempt), the newest score of
//! the page's scored attempts in one more query, and read-time lateness judged against the session's
//! deadlines loaded once for the whole export. The API's and the web view's CSV, and the API's JSON pages,
//! read through it ([`crate::reads::export_pages`], [`crate::reads::attempts_page`]); what it gives is what
//! [`crate::db::attempts::list`] gives for the same filter (a test compares them on both backends).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_attempt_score, lab_session};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::db::attempts::AttemptFilter;
use crate::db::sessions::Deadlines;
use crate::domain::score::score_order;

/// The session an export reads, with what judging its pushes' deadlines needs (read once).
#[derive(Debug, Clone)]
pub struct ExportSession {
    pub session: lab_session::Model,
    deadlines: Deadlines,
}

impl ExportSession {
    /// Read the session's extensions (and roster, when it has extensions) once for a whole export.
    pub async fn load(
        db: &impl ConnectionTrait,
        session: lab_session::Model,
    ) -> Result<Self, DbErr> {
        let deadlines = Deadlines::load(db, &session).await?;
        Ok(Self { session, deadlines })
    }
}

/// The newest score of an attempt, as the export writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportScore {
    pub points: Option<String>,
    pub points_available: Option<String>,
    pub conclusion: Option<String>,
}

/// One attempt as the export writes it: its columns, its files and score, and its lateness now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedAttempt {
    pub id: i64,
    pub repository_id: i64,
    pub repository_full_name: String,
    pub git_ref: String,
    pub before_sha: String,
    pub after_sha: String,
    pub pusher_login: Option<String>,
    pub pushed_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub delivery_id: String,
    pub forced: bool,
    pub attempt_number: i32,
    pub late: bool,
    /// The stored value (`payload`, `api`).
    pub files_source: String,
    pub files_complete: bool,
    pub check_run_id: Option<i64>,
    pub audit_seq: i64,
    pub early: bool,
    /// `(path, status)` in path order (status as stored: `added`, `modified`, `removed`).
    pub files: Vec<(String, String)>,
    pub score: Option<ExportScore>,
    /// Pushed after the student's deadline as it is now (edits and extensions included).
    pub late_now: bool,
    /// Pushed before the session's opening as it is now.
    pub early_now: bool,
}

/// How many attempts of session `session_id` the filter selects (its slug and limit aside), and the
/// greatest id among them: one aggregate over `lab_attempt` alone.
pub async fn extent(
    db: &impl ConnectionTrait,
    session_id: i64,
    filter: &AttemptFilter,
) -> Result<(u64, Option<i64>), DbErr> {
    use lab_attempt::Column as C;
    let filter = AttemptFilter {
        session_id: Some(session_id),
        session_slug: None,
        limit: None,
        ..filter.clone()
    };
    let found: Option<(i64, Option<i64>)> = lab_attempt::Entity::find()
        .select_only()
        .expr(Expr::col((lab_attempt::Entity, C::Id)).count())
        .expr(Expr::col((lab_attempt::Entity, C::Id)).max())
        .filter(crate::db::attempts::conditions(&filter))
        .into_tuple()
        .one(db)
        .await?;
    let (count, newest) = found.unwrap_or((0, None));
    Ok((u64::try_from(count).unwrap_or(0), newest))
}

/// A row as read.
#[derive(Debug, FromQueryResult)]
struct Read {
    id: i64,
    repository_id: i64,
    repository_full_name: String,
    git_ref: String,
    before_sha: String,
    after_sha: String,
    pusher_login: Option<String>,
    sender_id: Option<i64>,
    pushed_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    delivery_id: String,
    forced: bool,
    attempt_number: i32,
    late: bool,
    files_source: String,
    files_complete: bool,
    check_run_id: Option<i64>,
    audit_seq: i64,
    early: bool,
    /// A JSON array of `[path, status]`, or NULL without files.
    files: Option<String>,
}

/// Each attempt's files as one JSON array of `[path, status]`: PostgreSQL orders it by `path` (the
/// column's collation, as [`crate::db::attempts::list`] does); SQLite's is sorted after reading, by bytes
/// (its `BINARY` collation).
fn files_column(backend: DbBackend) -> SimpleExpr {
    Expr::cust(if backend == DbBackend::Postgres {
        "(SELECT json_agg(json_build_array(f.path, f.status) ORDER BY f.path)::text \
         FROM lab_attempt_file f WHERE f.attempt_id = lab_attempt.id)"
    } else {
        "(SELECT json_group_array(json_array(f.path, f.status)) \
         FROM lab_attempt_file f WHERE f.attempt_id = lab_attempt.id)"
    })
}

/// The newest score ([`crate::domain::score::score_order`], as [`crate::db::scores::latest_of`]) of each
/// of `rows` that has one: one query over the page's range of ids (a score of another session's attempt
/// in that range is read and left out).
async fn newest_scores(
    db: &impl ConnectionTrait,
    rows: &[Read],
) -> Result<HashMap<i64, lab_attempt_score::Model>, DbErr> {
    use lab_attempt_score::Column as C;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(HashMap::new());
    };
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    let mut newest: HashMap<i64, lab_attempt_score::Model> = HashMap::new();
    let found = lab_attempt_score::Entity::find()
        .filter(C::AttemptId.gte(first.id))
        .filter(C::AttemptId.lte(last.id))
        .all(db)
        .await?;
    for s in found.into_iter().filter(|s| ids.contains(&s.attempt_id)) {
        let order = |s: &lab_attempt_score::Model| score_order(s.completed_at, s.check_run_id);
        match newest.get(&s.attempt_id) {
            Some(kept) if order(kept) > order(&s) => {}
            _ => {
                newest.insert(s.attempt_id, s);
            }
        }
    }
    Ok(newest)
}

/// At most `limit` attempts of `session` that `filter` selects (its session and limit aside), in id
/// order: one query for the attempts and their files, one for the scores of those that have one.
pub async fn page(
    db: &impl ConnectionTrait,
    session: &ExportSession,
    filter: &AttemptFilter,
    limit: u64,
) -> Result<Vec<ExportedAttempt>, DbErr> {
    use lab_attempt::Column as C;
    let backend = db.get_database_backend();
    let filter = AttemptFilter {
        session_id: Some(session.session.id),
        session_slug: None,
        limit: None,
        ..filter.clone()
    };
    let rows: Vec<Read> = lab_attempt::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::RepositoryId,
            C::RepositoryFullName,
            C::GitRef,
            C::BeforeSha,
            C::AfterSha,
            C::PusherLogin,
            C::SenderId,
            C::PushedAt,
            C::ReceivedAt,
            C::DeliveryId,
            C::Forced,
            C::AttemptNumber,
            C::Late,
            C::FilesSource,
            C::FilesComplete,
            C::CheckRunId,
            C::AuditSeq,
            C::Early,
        ])
        .expr_as(files_column(backend), "files")
        .filter(crate::db::attempts::conditions(&filter))
        .order_by_asc(C::Id)
        .limit(limit)
        .into_model::<Read>()
        .all(db)
        .await?;
    let mut scores = newest_scores(db, &rows).await?;
    let postgres = backend == DbBackend::Postgres;
    let opens_at = session.session.opens_at;
    rows.into_iter()
        .map(|r| {
            let mut files: Vec<(String, String)> = match &r.files {
                Some(text) => serde_json::from_str(text)
                    .map_err(|e| DbErr::Custom(format!("files of attempt {}: {e}", r.id)))?,
                None => Vec::new(),
            };
            if !postgres {
                files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            }
            let name = r
                .repository_full_name
                .rsplit_once('/')
                .map_or(r.repository_full_name.as_str(), |(_, n)| n);
            let deadline = session
                .deadlines
                .of_push(name, r.pusher_login.as_deref(), r.sender_id);
            let score = scores.remove(&r.id).map(|s| ExportScore {
                points: s.points,
                points_available: s.points_available,
                conclusion: s.conclusion,
            });
            Ok(ExportedAttempt {
                late_now: r.pushed_at > deadline,
                early_now: r.pushed_at < opens_at,
                id: r.id,
                repository_id: r.repository_id,
                repository_full_name: r.repository_full_name,
                git_ref: r.git_ref,
                before_sha: r.before_sha,
                after_sha: r.after_sha,
                pusher_login: r.pusher_login,
                pushed_at: r.pushed_at,
                received_at: r.received_at,
                delivery_id: r.delivery_id,
                forced: r.forced,
                attempt_number: r.attempt_number,
                late: r.late,
                files_source: r.files_source,
                files_complete: r.files_complete,
                check_run_id: r.check_run_id,
                audit_seq: r.audit_seq,
                early: r.early,
                files,
                score,
            })
        })
        .collect()
}
