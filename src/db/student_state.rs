//! The kept per-student state of each session (issue 24): the `student_state` rows, one per summary row,
//! kept equal to [`summary::recompute`] by every writer in its own transaction, and read by the summary,
//! grades, gradebook, the front page's counts and the paged session page.
//!
//! Writers call: [`record_attempts`] (the recording batch), [`refresh_scores`] (a score recorded),
//! [`rebuild_repositories`] (attempts erased), [`rebuild_session`] (a session created or edited, an
//! extension granted or removed) and [`rebuild_org`] (any roster change or link).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_attempt_score, lab_session, roster_student, student_state};
use sea_orm::sea_query::{Expr, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::summary::{self, Context, StudentSummary};
use crate::domain::summary::{AttemptFacts, RepoFold, Status};

use student_state::Column as C;

/// Rows one multi-row statement writes at most (26 values a row).
const CHUNK: usize = 500;

/// The status named `s` (as stored).
fn status_of(s: &str) -> Status {
    match s {
        "on_time" => Status::OnTime,
        "late_only" => Status::LateOnly,
        _ => Status::Missing,
    }
}

fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn split_ids(s: &str) -> Vec<i64> {
    s.split_whitespace()
        .filter_map(|i| i.parse().ok())
        .collect()
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn points(score: Option<&lab_attempt_score::Model>) -> Option<f64> {
    score
        .and_then(|s| s.points.as_deref())
        .and_then(|p| p.parse::<f64>().ok())
}

/// The stored row of summary row `r` of session `session_id` (its id left to the database).
fn stored(session_id: i64, r: &StudentSummary) -> student_state::Model {
    let f = r.fold.final_attempt.as_ref();
    student_state::Model {
        id: 0,
        session_id,
        repository_id: r.repository_id,
        repository_full_name: r.repository.clone(),
        roster_student_id: r.student.as_ref().map(|s| s.id),
        identifier: r.student.as_ref().map(|s| s.identifier.clone()),
        student_name: r.student.as_ref().map(|s| s.name.clone()),
        github_username: r.github_username(),
        pusher_logins: joined(&r.pusher_logins),
        pusher_ids: joined(&r.pusher_ids),
        deadline: r.deadline,
        attempts: count(r.fold.attempts),
        first_pushed_at: r.fold.first_pushed_at,
        last_pushed_at: r.fold.last_pushed_at,
        final_attempt_id: f.map(|f| f.id),
        final_number: f.map(|f| i64::from(f.number)),
        final_sha: f.map(|f| f.after.clone()),
        final_ref: f.map(|f| f.git_ref.clone()),
        final_pushed_at: f.map(|f| f.pushed_at),
        late_attempts: count(r.fold.late_attempts),
        early_attempts: count(r.fold.early_attempts),
        forced_attempts: count(r.fold.forced_attempts),
        status: r.status.as_str().to_owned(),
        score_id: r.score.as_ref().map(|s| s.id),
        score_points: points(r.score.as_ref()),
    }
}

/// Every column set (the id too when `with_id`).
fn active(m: student_state::Model, with_id: bool) -> student_state::ActiveModel {
    use sea_orm::ActiveModelTrait;
    let mut a = student_state::ActiveModel::from(m).reset_all();
    if !with_id {
        a.id = sea_orm::ActiveValue::NotSet;
    }
    a
}

/// The fold a stored row holds.
fn fold_of(m: &student_state::Model) -> RepoFold {
    let final_attempt = match (
        m.final_attempt_id,
        m.final_number,
        &m.final_sha,
        &m.final_ref,
        m.final_pushed_at,
    ) {
        (Some(id), Some(number), Some(after), Some(git_ref), Some(pushed_at)) => {
            Some(AttemptFacts {
                id,
                number: i32::try_from(number).unwrap_or(i32::MAX),
                after: after.clone(),
                git_ref: git_ref.clone(),
                pushed_at,
                forced: false,
            })
        }
        _ => None,
    };
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    RepoFold {
        attempts: n(m.attempts),
        first_pushed_at: m.first_pushed_at,
        last_pushed_at: m.last_pushed_at,
        final_attempt,
        late_attempts: n(m.late_attempts),
        early_attempts: n(m.early_attempts),
        forced: m.forced_attempts > 0,
        forced_attempts: n(m.forced_attempts),
    }
}

/// Write rows (new ones, or stored ones by id when `upsert`), many a statement.
async fn write_rows(
    txn: &impl ConnectionTrait,
    rows: Vec<student_state::Model>,
    upsert: bool,
) -> Result<(), DbErr> {
    use sea_orm::Iterable;
    for chunk in rows.chunks(CHUNK) {
        if upsert {
            let update: Vec<C> = C::iter().filter(|c| !matches!(c, C::Id)).collect();
            student_state::Entity::insert_many(chunk.iter().map(|m| active(m.clone(), true)))
                .on_conflict(OnConflict::column(C::Id).update_columns(update).to_owned())
                .exec_without_returning(txn)
                .await?;
        } else {
            student_state::Entity::insert_many(chunk.iter().map(|m| active(m.clone(), false)))
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(())
}

/// Rebuild the whole state of `session` from its attempts, roster, extensions and scores (the reference
/// fold); the number of rows it now has.
pub async fn rebuild_session(
    txn: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<u64, DbErr> {
    let rows = summary::recompute(txn, session).await?;
    student_state::Entity::delete_many()
        .filter(C::SessionId.eq(session.id))
        .exec(txn)
        .await?;
    let n = rows.len() as u64;
    write_rows(
        txn,
        rows.iter().map(|r| stored(session.id, r)).collect(),
        false,
    )
    .await?;
    Ok(n)
}

/// Rebuild the state of every session of organisation `org` (its roster changed).
pub async fn rebuild_org(txn: &impl ConnectionTrait, org: &str) -> Result<(), DbErr> {
    let sessions = lab_session::Entity::find()
        .filter(lab_session::Column::Org.eq(org.to_ascii_lowercase()))
        .all(txn)
        .await?;
    for session in &sessions {
        rebuild_session(txn, session).await?;
    }
    Ok(())
}

/// Rebuild the rows of these repositories of `session` from their attempts (a repository left without
/// attempts loses its row), then the `missing` rows.
pub async fn rebuild_repositories(
    txn: &impl ConnectionTrait,
    session: &lab_session::Model,
    repository_ids: &[i64],
) -> Result<(), DbErr> {
    let ctx = Context::load(txn, session).await?;
    let mut repos: Vec<i64> = repository_ids.to_vec();
    repos.sort_unstable();
    repos.dedup();
    // The roster students these repositories belonged to, or now belong to: only their `missing`
    // rows can change.
    let mut affected = BTreeSet::new();
    for chunk in repos.chunks(CHUNK) {
        let before: Vec<Option<i64>> = student_state::Entity::find()
            .select_only()
            .column(C::RosterStudentId)
            .filter(C::SessionId.eq(session.id))
            .filter(C::RepositoryId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(txn)
            .await?;
        affected.extend(before.into_iter().flatten());
        let mut rows = summary::repository_rows(txn, session, &ctx, Some(chunk)).await?;
        summary::attach_scores(txn, &mut rows).await?;
        affected.extend(rows.iter().filter_map(|r| r.student.as_ref().map(|s| s.id)));
        student_state::Entity::delete_many()
            .filter(C::SessionId.eq(session.id))
            .filter(C::RepositoryId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
        write_rows(
            txn,
            rows.iter().map(|r| stored(session.id, r)).collect(),
            false,
        )
        .await?;
    }
    let affected: Vec<i64> = affected.into_iter().collect();
    for chunk in affected.chunks(CHUNK) {
        sync_missing(txn, session, &ctx, chunk).await?;
    }
    Ok(())
}

/// Give each of the roster students `students` of `session` a `missing` row exactly when no repository
/// row matched them (and they are on the roster).
async fn sync_missing(
    txn: &impl ConnectionTrait,
    session: &lab_session::Model,
    ctx: &Context,
    students: &[i64],
) -> Result<(), DbErr> {
    let rows: Vec<(i64, Option<i64>, Option<i64>)> = student_state::Entity::find()
        .select_only()
        .columns([C::Id, C::RepositoryId, C::RosterStudentId])
        .filter(C::SessionId.eq(session.id))
        .filter(C::RosterStudentId.is_in(students.iter().copied()))
        .into_tuple()
        .all(txn)
        .await?;
    let matched: BTreeSet<i64> = rows
        .iter()
        .filter(|(_, repo, _)| repo.is_some())
        .filter_map(|(_, _, s)| *s)
        .collect();
    let roster: BTreeSet<i64> = ctx.students.iter().map(|s| s.id).collect();
    let wanted: BTreeSet<i64> = students.iter().copied().collect();
    let mut has_missing = BTreeSet::new();
    let mut stale = Vec::new();
    for (id, repo, student) in &rows {
        if let (None, Some(s)) = (repo, student) {
            if matched.contains(s) || !roster.contains(s) || !has_missing.insert(*s) {
                stale.push(*id);
            }
        }
    }
    for chunk in stale.chunks(CHUNK) {
        student_state::Entity::delete_many()
            .filter(C::Id.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    let new: Vec<student_state::Model> = (0..ctx.students.len())
        .filter(|&i| {
            let id = ctx.students[i].id;
            wanted.contains(&id) && !matched.contains(&id) && !has_missing.contains(&id)
        })
        .map(|i| stored(session.id, &ctx.missing_row(session, i)))
        .collect();
    write_rows(txn, new, false).await
}

/// Fold just-recorded attempts into their rows, in their recording transaction: a known repository
/// whose pushers are all known already is folded incrementally (the fold is order-independent); a new
/// repository, or one with a new pusher (which may change the student it belongs to, so the deadline),
/// is rebuilt from its attempts. A few queries per batch, however many attempts it holds.
pub async fn record_attempts(
    txn: &impl ConnectionTrait,
    fresh: &[&lab_attempt::Model],
) -> Result<(), DbErr> {
    let mut groups: BTreeMap<(i64, i64), Vec<&lab_attempt::Model>> = BTreeMap::new();
    for a in fresh {
        groups
            .entry((a.session_id, a.repository_id))
            .or_default()
            .push(a);
    }
    if groups.is_empty() {
        return Ok(());
    }
    let session_ids: BTreeSet<i64> = groups.keys().map(|k| k.0).collect();
    let sessions: HashMap<i64, lab_session::Model> = lab_session::Entity::find()
        .filter(lab_session::Column::Id.is_in(session_ids.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let repo_ids: BTreeSet<i64> = groups.keys().map(|k| k.1).collect();
    let mut known: HashMap<(i64, i64), student_state::Model> = HashMap::new();
    let repo_ids: Vec<i64> = repo_ids.into_iter().collect();
    for chunk in repo_ids.chunks(CHUNK) {
        let rows = student_state::Entity::find()
            .filter(C::SessionId.is_in(session_ids.iter().copied()))
            .filter(C::RepositoryId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?;
        for row in rows {
            if let Some(repo) = row.repository_id {
                known.insert((row.session_id, repo), row);
            }
        }
    }
    let mut folded = Vec::new();
    let mut rebuild: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for ((session_id, repo), attempts) in groups {
        let (Some(session), Some(row)) =
            (sessions.get(&session_id), known.remove(&(session_id, repo)))
        else {
            rebuild.entry(session_id).or_default().push(repo);
            continue;
        };
        match fold_in(session, row, &attempts) {
            Some(row) => folded.push(row),
            None => rebuild.entry(session_id).or_default().push(repo),
        }
    }
    set_final_scores(txn, &mut folded).await?;
    write_rows(txn, folded, true).await?;
    for (session_id, repos) in rebuild {
        if let Some(session) = sessions.get(&session_id) {
            rebuild_repositories(txn, session, &repos).await?;
        }
    }
    Ok(())
}

/// `row` with `attempts` folded in; `None` when one of them has a pusher the row does not know.
fn fold_in(
    session: &lab_session::Model,
    mut row: student_state::Model,
    attempts: &[&lab_attempt::Model],
) -> Option<student_state::Model> {
    let logins: BTreeSet<&str> = row.pusher_logins.split_whitespace().collect();
    let ids = split_ids(&row.pusher_ids);
    let known = attempts.iter().all(|a| {
        a.pusher_login.as_deref().is_none_or(|l| logins.contains(l))
            && a.sender_id.is_none_or(|i| ids.contains(&i))
    });
    if !known {
        return None;
    }
    let mut fold = fold_of(&row);
    let before = row.final_attempt_id;
    for a in attempts {
        fold.add(AttemptFacts::of(a), session.opens_at, row.deadline);
    }
    if let Some(newest) = attempts.iter().max_by_key(|a| a.id) {
        if row.repository_id.is_some() {
            row.repository_full_name = Some(newest.repository_full_name.clone());
        }
    }
    let status = fold.status();
    let f = fold.final_attempt.as_ref();
    row.attempts = count(fold.attempts);
    row.first_pushed_at = fold.first_pushed_at;
    row.last_pushed_at = fold.last_pushed_at;
    row.final_attempt_id = f.map(|f| f.id);
    row.final_number = f.map(|f| i64::from(f.number));
    row.final_sha = f.map(|f| f.after.clone());
    row.final_ref = f.map(|f| f.git_ref.clone());
    row.final_pushed_at = f.map(|f| f.pushed_at);
    row.late_attempts = count(fold.late_attempts);
    row.early_attempts = count(fold.early_attempts);
    row.forced_attempts = count(fold.forced_attempts);
    row.status = status.as_str().to_owned();
    if row.final_attempt_id != before {
        row.score_id = None;
        row.score_points = None;
    }
    Some(row)
}

/// Give rows their final attempt's newest score (one query).
async fn set_final_scores(
    txn: &impl ConnectionTrait,
    rows: &mut [student_state::Model],
) -> Result<(), DbErr> {
    let finals: Vec<i64> = rows.iter().filter_map(|r| r.final_attempt_id).collect();
    let scores = crate::db::scores::latest_of(txn, &finals).await?;
    for row in rows {
        let score = row.final_attempt_id.and_then(|f| scores.get(&f));
        row.score_id = score.map(|s| s.id);
        row.score_points = points(score);
    }
    Ok(())
}

/// A score of one of these attempts was recorded: the rows whose final attempt it is take its newest
/// score.
pub async fn refresh_scores(txn: &impl ConnectionTrait, attempt_ids: &[i64]) -> Result<(), DbErr> {
    for chunk in attempt_ids.chunks(CHUNK) {
        let mut rows = student_state::Entity::find()
            .filter(C::FinalAttemptId.is_in(chunk.iter().copied()))
            .all(txn)
            .await?;
        if rows.is_empty() {
            continue;
        }
        set_final_scores(txn, &mut rows).await?;
        write_rows(txn, rows, true).await?;
    }
    Ok(())
}

/// Summary rows of stored rows of `session`: their roster students and scores read in one query each.
async fn summaries(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    rows: Vec<student_state::Model>,
) -> Result<Vec<StudentSummary>, DbErr> {
    let student_ids: Vec<i64> = rows.iter().filter_map(|r| r.roster_student_id).collect();
    let score_ids: Vec<i64> = rows.iter().filter_map(|r| r.score_id).collect();
    let mut students: HashMap<i64, roster_student::Model> = HashMap::new();
    for chunk in student_ids.chunks(CHUNK) {
        students.extend(
            roster_student::Entity::find()
                .filter(roster_student::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|s| (s.id, s)),
        );
    }
    let mut scores: HashMap<i64, lab_attempt_score::Model> = HashMap::new();
    for chunk in score_ids.chunks(CHUNK) {
        scores.extend(
            lab_attempt_score::Entity::find()
                .filter(lab_attempt_score::Column::Id.is_in(chunk.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|s| (s.id, s)),
        );
    }
    Ok(rows
        .into_iter()
        .map(|r| StudentSummary {
            fold: fold_of(&r),
            status: status_of(&r.status),
            repository: r.repository_full_name,
            repository_id: r.repository_id,
            student: r
                .roster_student_id
                .and_then(|id| students.get(&id).cloned()),
            pusher_logins: r
                .pusher_logins
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            pusher_ids: split_ids(&r.pusher_ids),
            deadline: r.deadline,
            timezone: session.timezone.clone(),
            score: r.score_id.and_then(|id| scores.get(&id).cloned()),
        })
        .collect())
}

/// Every summary row of `session`, from its kept state, in the summary's order.
pub async fn summary(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<Vec<StudentSummary>, DbErr> {
    let rows = student_state::Entity::find()
        .filter(C::SessionId.eq(session.id))
        .all(db)
        .await?;
    let mut out = summaries(db, session, rows).await?;
    summary::sort(&mut out);
    Ok(out)
}

/// The repositories of session `session_id` matched to one of the roster students `mine`.
pub async fn repositories_of(
    db: &impl ConnectionTrait,
    session_id: i64,
    mine: &[i64],
) -> Result<BTreeSet<i64>, DbErr> {
    let ids: Vec<Option<i64>> = student_state::Entity::find()
        .select_only()
        .column(C::RepositoryId)
        .filter(C::SessionId.eq(session_id))
        .filter(C::RosterStudentId.is_in(mine.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().flatten().collect())
}

/// How many rows of each of these sessions have each status: `(session id, status, rows)`, one grouped
/// query.
pub async fn status_counts(
    db: &impl ConnectionTrait,
    session_ids: &[i64],
) -> Result<Vec<(i64, Status, u64)>, DbErr> {
    let mut out = Vec::new();
    for chunk in session_ids.chunks(CHUNK) {
        let rows: Vec<(i64, String, i64)> = student_state::Entity::find()
            .select_only()
            .column(C::SessionId)
            .column(C::Status)
            .column_as(C::Id.count(), "n")
            .filter(C::SessionId.is_in(chunk.iter().copied()))
            .group_by(C::SessionId)
            .group_by(C::Status)
            .into_tuple()
            .all(db)
            .await?;
        out.extend(
            rows.into_iter()
                .map(|(s, st, n)| (s, status_of(&st), u64::try_from(n).unwrap_or(0))),
        );
    }
    Ok(out)
}

/// Which rows of a session a page shows.
#[derive(Debug, Clone, Default)]
pub struct RowsQuery {
    /// Case-insensitive substring of the GitHub username (or pusher logins), roster identifier or name.
    pub search: Option<String>,
    pub status: Option<Status>,
    /// A column key (`roster`, `username`, `final`, `last_push`, `late`, `forced`, `status`, `points`),
    /// `-key` descending.
    pub sort: String,
    /// 0-based.
    pub page: u64,
    pub per_page: u64,
}

/// One page of a session's rows.
#[derive(Debug, Clone)]
pub struct StatePage {
    pub rows: Vec<StudentSummary>,
    /// Rows the search and filter select (all pages).
    pub matching: u64,
}

/// `e` compared as bytes (PostgreSQL's default collation follows the locale; SQLite's is binary).
fn bytewise(backend: DbBackend, e: SimpleExpr) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_expr("$1 COLLATE \"C\"", e),
        _ => e,
    }
}

/// The order of a sort key, ascending: `(expression, order)` pairs, `None` values first where the column
/// may be null (as the summary sorts `Option`s), ties by repository then id.
fn order_of(backend: DbBackend, sort: &str) -> Vec<(SimpleExpr, Order)> {
    let nulls_first = |c: C| {
        vec![
            (Expr::col(c).is_null(), Order::Desc),
            (Expr::col(c).into(), Order::Asc),
        ]
    };
    let mut keys = match sort.trim_start_matches('-') {
        "username" => vec![(
            bytewise(backend, Func::lower(Expr::col(C::GithubUsername)).into()),
            Order::Asc,
        )],
        "final" => nulls_first(C::FinalPushedAt),
        "last_push" => nulls_first(C::LastPushedAt),
        "late" => vec![(Expr::col(C::LateAttempts).into(), Order::Asc)],
        "forced" => vec![(Expr::col(C::ForcedAttempts).gt(0), Order::Asc)],
        "status" => vec![(
            Expr::case(Expr::col(C::Status).eq("on_time"), 0)
                .case(Expr::col(C::Status).eq("late_only"), 1)
                .finally(2)
                .into(),
            Order::Asc,
        )],
        "points" => nulls_first(C::ScorePoints),
        _ => vec![
            (Expr::col(C::Identifier).is_null(), Order::Asc),
            (
                bytewise(backend, Expr::col(C::Identifier).into()),
                Order::Asc,
            ),
        ],
    };
    keys.push((Expr::col(C::RepositoryFullName).is_null(), Order::Desc));
    keys.push((
        bytewise(backend, Expr::col(C::RepositoryFullName).into()),
        Order::Asc,
    ));
    keys.push((Expr::col(C::Id).into(), Order::Asc));
    if sort.starts_with('-') {
        for (_, order) in &mut keys {
            *order = match order {
                Order::Asc => Order::Desc,
                _ => Order::Asc,
            };
        }
    }
    keys
}

/// `%s%` for `LIKE`, lower-cased, with `\`, `%` and `_` escaped.
fn contains_pattern(s: &str) -> String {
    let s = s
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{s}%")
}

/// One page of the rows of `session` that `q` selects, sorted in the database.
pub async fn page(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    q: &RowsQuery,
) -> Result<StatePage, DbErr> {
    use sea_orm::sea_query::{Condition, LikeExpr};
    let mut select = student_state::Entity::find().filter(C::SessionId.eq(session.id));
    if let Some(status) = q.status {
        select = select.filter(C::Status.eq(status.as_str()));
    }
    if let Some(search) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = contains_pattern(search);
        let like = |c: C| {
            Expr::expr(Func::lower(Expr::col(c))).like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        select = select.filter(
            Condition::any()
                .add(like(C::GithubUsername))
                .add(like(C::PusherLogins))
                .add(like(C::Identifier))
                .add(like(C::StudentName)),
        );
    }
    let matching = select.clone().count(db).await?;
    for (expr, order) in order_of(db.get_database_backend(), &q.sort) {
        select = select.order_by(expr, order);
    }
    let rows = select
        .offset(q.page.saturating_mul(q.per_page))
        .limit(q.per_page)
        .all(db)
        .await?;
    Ok(StatePage {
        rows: summaries(db, session, rows).await?,
        matching,
    })
}

/// A stored row that differs from the recomputation: which row and which field (`row` when the row is
/// missing or unexpected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `owner/name`, or the roster identifier of a `missing` row.
    pub row: String,
    pub field: String,
}

/// Which row: the repository id, or the roster student of a `missing` row.
type RowKey = (Option<i64>, Option<i64>);

/// A row's key and its compared fields.
fn fields(m: &student_state::Model) -> (RowKey, Vec<(&'static str, String)>) {
    let t = |v: Option<DateTime<Utc>>| v.map(|t| t.to_rfc3339()).unwrap_or_default();
    let o = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let key = match m.repository_id {
        Some(_) => (m.repository_id, None),
        None => (None, m.roster_student_id),
    };
    let fields = vec![
        (
            "repository_full_name",
            m.repository_full_name.clone().unwrap_or_default(),
        ),
        ("roster_student_id", o(m.roster_student_id)),
        ("identifier", m.identifier.clone().unwrap_or_default()),
        ("student_name", m.student_name.clone().unwrap_or_default()),
        ("github_username", m.github_username.clone()),
        ("pusher_logins", m.pusher_logins.clone()),
        ("pusher_ids", m.pusher_ids.clone()),
        ("deadline", m.deadline.to_rfc3339()),
        ("attempts", m.attempts.to_string()),
        ("first_pushed_at", t(m.first_pushed_at)),
        ("last_pushed_at", t(m.last_pushed_at)),
        ("final_attempt_id", o(m.final_attempt_id)),
        ("final_number", o(m.final_number)),
        ("final_sha", m.final_sha.clone().unwrap_or_default()),
        ("final_ref", m.final_ref.clone().unwrap_or_default()),
        ("final_pushed_at", t(m.final_pushed_at)),
        ("late_attempts", m.late_attempts.to_string()),
        ("early_attempts", m.early_attempts.to_string()),
        ("forced_attempts", m.forced_attempts.to_string()),
        ("status", m.status.clone()),
        ("score_id", o(m.score_id)),
        (
            "score_points",
            m.score_points.map(|p| p.to_string()).unwrap_or_default(),
        ),
    ];
    (key, fields)
}

fn row_name(m: &student_state::Model) -> String {
    m.repository_full_name
        .clone()
        .or_else(|| m.identifier.clone())
        .unwrap_or_else(|| format!("row {}", m.id))
}

/// The stored rows of `session` that differ from [`summary::recompute`] (the reference fold): each
/// differing field, each row missing or not expected.
pub async fn differences(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<Vec<Difference>, DbErr> {
    let expected: Vec<student_state::Model> = summary::recompute(db, session)
        .await?
        .iter()
        .map(|r| stored(session.id, r))
        .collect();
    let stored_rows = student_state::Entity::find()
        .filter(C::SessionId.eq(session.id))
        .all(db)
        .await?;
    let mut actual: BTreeMap<RowKey, Vec<student_state::Model>> = BTreeMap::new();
    for row in stored_rows {
        actual.entry(fields(&row).0).or_default().push(row);
    }
    let mut out = Vec::new();
    for want in &expected {
        let (key, want_fields) = fields(want);
        let Some(have) = actual.get_mut(&key).and_then(Vec::pop) else {
            out.push(Difference {
                row: row_name(want),
                field: "row (not stored)".into(),
            });
            continue;
        };
        let (_, have_fields) = fields(&have);
        for ((name, w), (_, h)) in want_fields.iter().zip(&have_fields) {
            if w != h {
                out.push(Difference {
                    row: row_name(want),
                    field: (*name).to_owned(),
                });
            }
        }
    }
    for extra in actual.into_values().flatten() {
        out.push(Difference {
            row: row_name(&extra),
            field: "row (not expected)".into(),
        });
    }
    Ok(out)
}

/// The sessions with no kept state yet (created before the table, or never built), by id.
pub async fn unbuilt(db: &impl ConnectionTrait) -> Result<Vec<lab_session::Model>, DbErr> {
    let built: BTreeSet<i64> = student_state::Entity::find()
        .select_only()
        .column(C::SessionId)
        .distinct()
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(lab_session::Entity::find()
        .order_by_asc(lab_session::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter(|s| !built.contains(&s.id))
        .collect())
}

/// One session built by [`build_unbuilt`]: its place among them and its rows.
#[derive(Debug, Clone)]
pub struct Built {
    pub done: usize,
    pub of: usize,
    pub org: String,
    pub slug: String,
    pub rows: u64,
}

/// Build the state of every session that should have rows and has none (a database migrated to the
/// table, which the migration creates empty): one transaction per session, `progress` after each.
/// A session with no attempts and no roster has no rows and is left alone.
pub async fn build_unbuilt<D>(db: &D, mut progress: impl FnMut(&Built)) -> Result<usize, DbErr>
where
    D: ConnectionTrait + sea_orm::TransactionTrait,
{
    let mut todo = Vec::new();
    for session in unbuilt(db).await? {
        let attempts = lab_attempt::Entity::find()
            .filter(lab_attempt::Column::SessionId.eq(session.id))
            .count(db)
            .await?;
        let roster = roster_student::Entity::find()
            .filter(roster_student::Column::Org.eq(session.org.as_str()))
            .count(db)
            .await?;
        if attempts > 0 || roster > 0 {
            todo.push(session);
        }
    }
    let of = todo.len();
    for (i, session) in todo.into_iter().enumerate() {
        let txn = db.begin().await?;
        let rows = rebuild_session(&txn, &session).await?;
        txn.commit().await?;
        progress(&Built {
            done: i + 1,
            of,
            org: session.org,
            slug: session.slug,
            rows,
        });
    }
    Ok(of)
}

/// `labtrail reindex`: rebuild the state of `session` under the audit lock (so no attempt is recorded
/// meanwhile), appending nothing to the log (derived data: `audit verify` checks it against the
/// attempts); the number of rows it now has.
pub async fn reindex(
    db: &impl sea_orm::TransactionTrait,
    origin: &str,
    session: &lab_session::Model,
) -> Result<u64, crate::audit::AuditError> {
    let (txn, _head) = crate::audit::begin_write(db, origin).await?;
    let rows = rebuild_session(&txn, session).await?;
    txn.commit().await?;
    Ok(rows)
}

/// What `audit verify` found comparing every session's kept state with its recomputation.
#[derive(Debug, Clone, Default)]
pub struct StateCheck {
    pub sessions: usize,
    /// Rows expected (the recomputation's).
    pub rows: usize,
    /// `(org/slug, difference)`.
    pub differences: Vec<(String, Difference)>,
}

/// Compare the kept state of every session with [`summary::recompute`], one session at a time.
pub async fn check_all(db: &impl ConnectionTrait) -> Result<StateCheck, DbErr> {
    let mut check = StateCheck::default();
    for session in lab_session::Entity::find()
        .order_by_asc(lab_session::Column::Id)
        .all(db)
        .await?
    {
        check.sessions += 1;
        check.rows += usize::try_from(
            student_state::Entity::find()
                .filter(C::SessionId.eq(session.id))
                .count(db)
                .await?,
        )
        .unwrap_or(usize::MAX);
        let name = format!("{}/{}", session.org, session.slug);
        for d in differences(db, &session).await? {
            check.differences.push((name.clone(), d));
        }
    }
    Ok(check)
}
