//! Recording attempts (one transaction with their files, the audit entry and the delivery's state) and
//! reading them back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_attempt_file, lab_session};
use sea_orm::sea_query::{Condition, Expr, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SelectTwo, Set, Statement, TransactionTrait,
};

use crate::audit::{self, entries, AuditError, Receipt};
use crate::db::deliveries::{self, Status};
use crate::domain::files::ChangedFile;

/// Where an attempt's file list came from.
pub use entity::states::FilesSource;

/// The `installation_id` of an attempt whose push came without an `installation` (GitHub's ids start at
/// 1): nothing can be asked of GitHub for it, so its file list is never completed and it gets no check run.
pub const NO_INSTALLATION: i64 = 0;

/// Everything known about a push that is to be recorded.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub session_id: i64,
    /// The installation the push came through, or [`NO_INSTALLATION`].
    pub installation_id: i64,
    pub repository_id: i64,
    pub repository_full_name: String,
    pub git_ref: String,
    pub before_sha: String,
    pub after_sha: String,
    pub forced: bool,
    pub created_branch: bool,
    pub pusher_login: Option<String>,
    pub sender_id: Option<i64>,
    pub pushed_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub delivery_id: String,
    pub late: bool,
    /// Pushed before the session opened.
    pub early: bool,
    pub files: Vec<ChangedFile>,
    pub files_source: FilesSource,
    pub files_complete: bool,
    /// When to try to complete an incomplete list through GitHub (`None`: never).
    pub files_retry_at: Option<DateTime<Utc>>,
}

/// The outcome of [`record`].
#[derive(Debug, Clone)]
pub enum Recorded {
    /// A new attempt, with its audit receipt.
    New {
        attempt: Box<lab_attempt::Model>,
        receipt: Receipt,
    },
    /// The same delivery or the same push was recorded before.
    Duplicate { attempt_id: i64 },
}

/// Why recording failed (the transaction was rolled back): the audited write's error.
pub type RecordError = AuditError;

const FILE_CHUNK: usize = 500;

/// Record an attempt: in one transaction, under the audit lock, insert the attempt and its files, append
/// `lab_attempt.recorded`, and mark the delivery processed. Idempotent per delivery and per push. It is
/// [`record_batch`] of one.
pub async fn record(
    db: &impl TransactionTrait,
    origin: &str,
    new: NewAttempt,
) -> Result<Recorded, RecordError> {
    record_batch(db, origin, std::slice::from_ref(&new))
        .await?
        .pop()
        .ok_or_else(|| AuditError::Db(DbErr::Custom("a batch of one recorded nothing".into())))
}

/// The outcome of [`record_many`]: one result per attempt, in order.
#[derive(Debug)]
pub struct Batch {
    pub outcomes: Vec<Result<Recorded, RecordError>>,
    /// The batch's transaction failed and each attempt was recorded on its own.
    pub split: bool,
}

/// Record several attempts with [`record_batch`]; when the batch fails (one bad attempt makes the whole
/// transaction fail), nothing of it stays and each attempt is recorded on its own, so one failure costs
/// only its own attempt.
pub async fn record_many(db: &impl TransactionTrait, origin: &str, news: Vec<NewAttempt>) -> Batch {
    if news.len() > 1 {
        match record_batch(db, origin, &news).await {
            Ok(recorded) => {
                return Batch {
                    outcomes: recorded.into_iter().map(Ok).collect(),
                    split: false,
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                attempts = news.len(),
                "a batch of attempts failed; recording them one by one"
            ),
        }
    }
    let split = news.len() > 1;
    let mut outcomes = Vec::with_capacity(news.len());
    for new in news {
        outcomes.push(record(db, origin, new).await);
    }
    Batch { outcomes, split }
}

/// What the batch does with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Insert {
        number: i32,
    },
    /// A row recorded before (or earlier in this batch, by index) has the same delivery or push.
    SameAs(Existing),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    Row(i64),
    InBatch(usize),
}

/// What makes two attempts the same push: the delivery, or (repository, ref, before, after, push time).
type PushKey<'a> = (i64, &'a str, &'a str, &'a str, DateTime<Utc>);

fn push_key(a: &NewAttempt) -> PushKey<'_> {
    (
        a.repository_id,
        &a.git_ref,
        &a.before_sha,
        &a.after_sha,
        a.pushed_at,
    )
}

/// A row recorded before: its id, delivery and push.
#[derive(Debug, Clone, Copy)]
struct Earlier<'a> {
    id: i64,
    delivery_id: &'a str,
    key: PushKey<'a>,
}

impl<'a> From<&'a lab_attempt::Model> for Earlier<'a> {
    fn from(r: &'a lab_attempt::Model) -> Self {
        Self {
            id: r.id,
            delivery_id: &r.delivery_id,
            key: (
                r.repository_id,
                &r.git_ref,
                &r.before_sha,
                &r.after_sha,
                r.pushed_at,
            ),
        }
    }
}

/// The batch's plan, decided without the database: each attempt is a duplicate of a row recorded
/// before (`earlier`: the rows with the delivery or push of one of `news`) or of one earlier in the
/// batch, or is inserted with the number it would get recorded one by one in this order (`counts[i]`:
/// the attempts of its repository and session pushed at or before it, already recorded).
fn plan(news: &[NewAttempt], earlier: &[Earlier<'_>], counts: &[i64]) -> Vec<Plan> {
    let mut plans: Vec<Plan> = Vec::with_capacity(news.len());
    for (i, new) in news.iter().enumerate() {
        let inserted_before = |j: &usize| matches!(plans[*j], Plan::Insert { .. });
        let same_row =
            |r: &&Earlier<'_>| r.delivery_id == new.delivery_id || r.key == push_key(new);
        let same_new = |j: &usize| {
            news[*j].delivery_id == new.delivery_id || push_key(&news[*j]) == push_key(new)
        };
        let plan = if let Some(row) = earlier.iter().find(same_row) {
            Plan::SameAs(Existing::Row(row.id))
        } else if let Some(j) = (0..i).filter(inserted_before).find(same_new) {
            Plan::SameAs(Existing::InBatch(j))
        } else {
            // Attempts of this batch recorded before this one count as they would one by one.
            let in_batch = (0..i)
                .filter(inserted_before)
                .filter(|&j| {
                    news[j].session_id == new.session_id
                        && news[j].repository_id == new.repository_id
                        && news[j].pushed_at <= new.pushed_at
                })
                .count();
            let before = counts
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_add(i64::try_from(in_batch).unwrap_or(0));
            Plan::Insert {
                number: i32::try_from(before).unwrap_or(i32::MAX - 1) + 1,
            }
        };
        plans.push(plan);
    }
    plans
}

/// Record several attempts — group commit: one transaction, one acquisition of the audit lock, the
/// duplicate check and attempt numbers read with a query each, attempts, files, Merkle hashes and
/// delivery states written with multi-row statements. The outcome for each is what [`record`] would have
/// given recording them one after another in this order (entries in this order, contiguous seqs). On an
/// error nothing of the batch stays.
pub async fn record_batch(
    db: &impl TransactionTrait,
    origin: &str,
    news: &[NewAttempt],
) -> Result<Vec<Recorded>, RecordError> {
    audit::write(db, origin, async |txn, log| {
        let earlier = same_pushes(txn, news).await?;
        let counts = counts_before(txn, news).await?;
        let earlier: Vec<Earlier<'_>> = earlier.iter().map(Earlier::from).collect();
        let plans = plan(news, &earlier, &counts);
        let inserts: Vec<(usize, i32)> = plans
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p {
                Plan::Insert { number } => Some((i, *number)),
                Plan::SameAs(_) => None,
            })
            .collect();
        // The k-th inserted attempt gets the k-th entry of this batch, so its seq is known now.
        let mut inserted = insert_attempts(txn, news, &inserts, log.head().size).await?;
        let files: Vec<(i64, &ChangedFile)> = inserts
            .iter()
            .filter_map(|(i, _)| inserted.get(i).map(|a| (a.id, &news[*i].files)))
            .flat_map(|(id, files)| files.iter().map(move |f| (id, f)))
            .collect();
        insert_file_rows(txn, &files).await?;
        let mut entries = Vec::with_capacity(inserts.len());
        for (i, _) in &inserts {
            if let Some(attempt) = inserted.get(i) {
                entries.push(entries::attempt_recorded(attempt, &news[*i].files)?);
            }
        }
        let receipts = log.append_many(entries).await?;
        // A score check run that completed before its push was processed (docs/design.md §11).
        let fresh: Vec<&lab_attempt::Model> = inserts
            .iter()
            .filter_map(|(i, _)| inserted.get(i))
            .collect();
        crate::db::scores::apply_pending(txn, log, &fresh).await?;
        crate::db::student_state::record_attempts(txn, &fresh).await?;
        let guids: Vec<&str> = inserts
            .iter()
            .map(|(i, _)| news[*i].delivery_id.as_str())
            .collect();
        deliveries::settle_processed(txn, &guids).await?;
        let mut receipts = receipts.into_iter();
        let mut out = Vec::with_capacity(news.len());
        for (i, plan) in plans.iter().enumerate() {
            let recorded = match plan {
                Plan::Insert { .. } => {
                    let (Some(attempt), Some(receipt)) = (inserted.remove(&i), receipts.next())
                    else {
                        return Err(AuditError::Db(DbErr::Custom(
                            "a batch's attempt lost its entry".into(),
                        )));
                    };
                    Recorded::New {
                        attempt: Box::new(attempt),
                        receipt,
                    }
                }
                Plan::SameAs(existing) => {
                    let attempt_id = match *existing {
                        Existing::Row(id) => id,
                        Existing::InBatch(j) => match &out[j] {
                            Recorded::New { attempt, .. } => attempt.id,
                            Recorded::Duplicate { attempt_id } => *attempt_id,
                        },
                    };
                    settle_duplicate(txn, &news[i].delivery_id, attempt_id).await?;
                    Recorded::Duplicate { attempt_id }
                }
            };
            out.push(recorded);
        }
        Ok(out)
    })
    .await
}

/// Insert the attempts `inserts` names (index into `news`, number), the k-th with seq `first_seq + k`,
/// in multi-row statements; the inserted rows by index.
async fn insert_attempts(
    txn: &impl ConnectionTrait,
    news: &[NewAttempt],
    inserts: &[(usize, i32)],
    first_seq: i64,
) -> Result<HashMap<usize, lab_attempt::Model>, DbErr> {
    let rows: Vec<_> = (first_seq..)
        .zip(inserts)
        .map(|(seq, &(i, number))| (i, attempt_row(&news[i], number, seq)))
        .collect();
    let mut inserted = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(ATTEMPT_CHUNK) {
        let rows = chunk.iter().map(|(_, row)| row.clone());
        let models = lab_attempt::Entity::insert_many(rows)
            .exec_with_returning_many(txn)
            .await?;
        // Matched by delivery id (unique): RETURNING does not promise the order of the rows.
        for model in models {
            if let Some((i, _)) = chunk
                .iter()
                .find(|(i, _)| news[*i].delivery_id == model.delivery_id)
            {
                inserted.insert(*i, model);
            }
        }
    }
    if inserted.len() != inserts.len() {
        return Err(DbErr::Custom(format!(
            "{} attempts inserted, {} returned",
            inserts.len(),
            inserted.len()
        )));
    }
    Ok(inserted)
}

/// A delivery whose push was recorded before: processed, naming that attempt.
async fn settle_duplicate(
    txn: &impl ConnectionTrait,
    guid: &str,
    attempt_id: i64,
) -> Result<(), DbErr> {
    let note = format!("duplicate of attempt {attempt_id}");
    deliveries::settle(txn, guid, Status::Processed, Some(note), None).await
}

/// Rows already recorded with the delivery or the push of one of `news` (one query).
async fn same_pushes(
    db: &impl ConnectionTrait,
    news: &[NewAttempt],
) -> Result<Vec<lab_attempt::Model>, DbErr> {
    use lab_attempt::Column as C;
    use sea_orm::sea_query::{Condition, IntoCondition};
    let mut rows = Vec::new();
    // A chain of ORs is as deep as it is long, and SQLite parses at most 1000 levels.
    for chunk in news.chunks(SAME_PUSH_CHUNK) {
        let mut any = Condition::any();
        for new in chunk {
            any = any.add(C::DeliveryId.eq(&new.delivery_id)).add(
                C::RepositoryId
                    .eq(new.repository_id)
                    .and(C::GitRef.eq(&new.git_ref))
                    .and(C::BeforeSha.eq(&new.before_sha))
                    .and(C::AfterSha.eq(&new.after_sha))
                    .and(C::PushedAt.eq(new.pushed_at))
                    .into_condition(),
            );
        }
        rows.extend(lab_attempt::Entity::find().filter(any).all(db).await?);
    }
    Ok(rows)
}

/// For each of `news`, how many attempts of its repository in its session were pushed at or before it
/// (one query: a count per attempt). An attempt's number is one more than that, plus the attempts of the
/// same batch recorded before it with an earlier or equal push time: numbers follow push time and are
/// never changed afterwards (they are in the log), so a push that arrives after a later-pushed one gets
/// the number its push time earns, which that one already holds (docs/design.md §4); listings order by
/// push time.
async fn counts_before(db: &impl ConnectionTrait, news: &[NewAttempt]) -> Result<Vec<i64>, DbErr> {
    use lab_attempt::Column as C;
    use sea_orm::sea_query::{Alias, Query, SelectStatement, UnionType};
    use sea_orm::StatementBuilder;
    let one = |k: usize, new: &NewAttempt| -> SelectStatement {
        Query::select()
            .expr_as(Expr::val(i64::try_from(k).unwrap_or(0)), Alias::new("k"))
            .expr_as(Expr::col(C::Id).count(), Alias::new("n"))
            .from(lab_attempt::Entity)
            .and_where(C::SessionId.eq(new.session_id))
            .and_where(C::RepositoryId.eq(new.repository_id))
            .and_where(C::PushedAt.lte(new.pushed_at))
            .to_owned()
    };
    let mut counts = vec![0i64; news.len()];
    for (c, chunk) in news.chunks(COUNT_CHUNK).enumerate() {
        let base = c * COUNT_CHUNK;
        let mut q = one(base, &chunk[0]);
        for (k, new) in chunk.iter().enumerate().skip(1) {
            q.union(UnionType::All, one(base + k, new));
        }
        let stmt = StatementBuilder::build(&q, &db.get_database_backend());
        for row in db.query_all(stmt).await? {
            let k: i64 = row.try_get("", "k")?;
            let n: i64 = row.try_get("", "n")?;
            if let Some(slot) = usize::try_from(k).ok().and_then(|k| counts.get_mut(k)) {
                *slot = n;
            }
        }
    }
    Ok(counts)
}

/// Attempts one multi-row insert carries at most (24 values a row; SQLite allows 32,766 a statement).
const ATTEMPT_CHUNK: usize = 500;
/// Attempts one duplicate-check query looks for at most (two OR terms each).
const SAME_PUSH_CHUNK: usize = 100;
/// Counts one `UNION ALL` query carries at most (SQLite allows 500 terms in a compound select).
const COUNT_CHUNK: usize = 250;

fn attempt_row(new: &NewAttempt, attempt_number: i32, audit_seq: i64) -> lab_attempt::ActiveModel {
    lab_attempt::ActiveModel {
        session_id: Set(new.session_id),
        installation_id: Set(new.installation_id),
        repository_id: Set(new.repository_id),
        repository_full_name: Set(new.repository_full_name.clone()),
        git_ref: Set(new.git_ref.clone()),
        before_sha: Set(new.before_sha.clone()),
        after_sha: Set(new.after_sha.clone()),
        forced: Set(new.forced),
        created_branch: Set(new.created_branch),
        pusher_login: Set(new.pusher_login.clone()),
        sender_id: Set(new.sender_id),
        pushed_at: Set(new.pushed_at),
        received_at: Set(new.received_at),
        delivery_id: Set(new.delivery_id.clone()),
        attempt_number: Set(attempt_number),
        late: Set(new.late),
        early: Set(new.early),
        file_count: Set(i32::try_from(new.files.len()).unwrap_or(i32::MAX)),
        files_source: Set(new.files_source),
        files_complete: Set(new.files_complete),
        check_run_id: Set(None),
        audit_seq: Set(audit_seq),
        files_retry_at: Set(new.files_retry_at),
        ..Default::default()
    }
}

async fn insert_files(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    files: &[ChangedFile],
) -> Result<(), DbErr> {
    let rows: Vec<(i64, &ChangedFile)> = files.iter().map(|f| (attempt_id, f)).collect();
    insert_file_rows(db, &rows).await
}

/// Insert file rows, many a statement.
async fn insert_file_rows(
    db: &impl ConnectionTrait,
    files: &[(i64, &ChangedFile)],
) -> Result<(), DbErr> {
    for chunk in files.chunks(FILE_CHUNK) {
        let rows = chunk
            .iter()
            .map(|(attempt_id, f)| lab_attempt_file::ActiveModel {
                attempt_id: Set(*attempt_id),
                path: Set(f.path.clone()),
                status: Set(f.status),
                ..Default::default()
            });
        lab_attempt_file::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// An attempt with its session slug and files, as listed and exported.
#[derive(Debug, Clone)]
pub struct AttemptView {
    pub attempt: lab_attempt::Model,
    pub session_slug: String,
    /// The session's time zone (local times).
    pub session_timezone: String,
    /// The session's opening and this attempt's deadline as they are now (edits and extensions
    /// included): read-time lateness, next to the recorded `late`.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub files: Vec<lab_attempt_file::Model>,
    /// The attempt's score (the newest, the one a grade would use), when it has one.
    pub score: Option<entity::lab_attempt_score::Model>,
}

/// Which attempts to list.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub session_slug: Option<String>,
    /// `owner/name` or just `name`, case-insensitive.
    pub repo: Option<String>,
    /// Only this session (by id).
    pub session_id: Option<i64>,
    /// Only late (or only on-time) attempts.
    pub late: Option<bool>,
    /// Pushed at or after.
    pub since: Option<DateTime<Utc>>,
    /// Pushed before.
    pub until: Option<DateTime<Utc>>,
    /// Only attempts with a greater id (cursor pagination).
    pub after_id: Option<i64>,
    /// Only attempts with this id or a smaller one (a streamed export's snapshot).
    pub upto_id: Option<i64>,
    /// At most this many.
    pub limit: Option<u64>,
}

/// The attempts (with their sessions) the filter selects, unordered and unlimited.
fn filtered(filter: &AttemptFilter) -> SelectTwo<lab_attempt::Entity, lab_session::Entity> {
    let mut q = lab_attempt::Entity::find().find_also_related(lab_session::Entity);
    if let Some(slug) = &filter.session_slug {
        q = q.filter(lab_session::Column::Slug.eq(slug.as_str()));
    }
    q.filter(conditions(filter))
}

/// The filter's conditions on `lab_attempt`'s own columns (all but the session's slug and the limit).
pub(crate) fn conditions(filter: &AttemptFilter) -> Condition {
    use lab_attempt::Column as C;
    let mut all = Condition::all();
    if let Some(repo) = &filter.repo {
        let repo = repo.to_ascii_lowercase();
        let lower = || {
            Expr::expr(Func::lower(Expr::col((
                lab_attempt::Entity,
                C::RepositoryFullName,
            ))))
        };
        all =
            if repo.contains('/') {
                all.add(lower().eq(repo))
            } else {
                all.add(lower().eq(repo.clone()).or(
                    lower().like(LikeExpr::new(format!("%/{}", escape_like(&repo))).escape('\\')),
                ))
            };
    }
    all.add_option(filter.session_id.map(|id| C::SessionId.eq(id)))
        .add_option(filter.late.map(|late| C::Late.eq(late)))
        .add_option(filter.since.map(|since| C::PushedAt.gte(since)))
        .add_option(filter.until.map(|until| C::PushedAt.lt(until)))
        .add_option(filter.after_id.map(|after| C::Id.gt(after)))
        .add_option(filter.upto_id.map(|upto| C::Id.lte(upto)))
}

/// Attempts matching the filter, in recording order, with their files.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &AttemptFilter,
) -> Result<Vec<AttemptView>, DbErr> {
    let mut q = filtered(filter);
    if let Some(limit) = filter.limit {
        q = q.limit(limit);
    }
    let rows = q.order_by_asc(lab_attempt::Column::Id).all(db).await?;
    with_files(db, rows).await
}

/// `_` and `%` in a repository name are themselves, not wildcards: escaped with `\`, named as the escape
/// character on both backends (SQLite's `LIKE` has none by default).
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// One attempt by id with its session.
pub async fn with_session(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<(lab_attempt::Model, lab_session::Model)>, DbErr> {
    Ok(lab_attempt::Entity::find_by_id(id)
        .find_also_related(lab_session::Entity)
        .one(db)
        .await?
        .and_then(|(a, s)| Some((a, s?))))
}

/// One attempt by id.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<AttemptView>, DbErr> {
    let rows = lab_attempt::Entity::find_by_id(id)
        .find_also_related(lab_session::Entity)
        .all(db)
        .await?;
    Ok(with_files(db, rows).await?.into_iter().next())
}

async fn with_files(
    db: &impl ConnectionTrait,
    rows: Vec<(lab_attempt::Model, Option<lab_session::Model>)>,
) -> Result<Vec<AttemptView>, DbErr> {
    let mut deadlines: HashMap<i64, crate::db::sessions::Deadlines> = HashMap::new();
    let mut views: Vec<AttemptView> = Vec::with_capacity(rows.len());
    for (attempt, session) in rows {
        let window = match &session {
            Some(s) => {
                if let std::collections::hash_map::Entry::Vacant(e) = deadlines.entry(s.id) {
                    e.insert(crate::db::sessions::Deadlines::load(db, s).await?);
                }
                let name = attempt
                    .repository_full_name
                    .rsplit_once('/')
                    .map_or(attempt.repository_full_name.as_str(), |(_, n)| n);
                deadlines.get(&s.id).map(|d| {
                    (
                        s.opens_at,
                        d.of_push(name, attempt.pusher_login.as_deref(), attempt.sender_id),
                    )
                })
            }
            None => None,
        };
        views.push(AttemptView {
            attempt,
            session_timezone: session
                .as_ref()
                .map_or_else(|| "UTC".to_owned(), |s| s.timezone.clone()),
            session_slug: session.map(|s| s.slug).unwrap_or_default(),
            window,
            files: Vec::new(),
            score: None,
        });
    }
    let ids: Vec<i64> = views.iter().map(|v| v.attempt.id).collect();
    let mut scores = crate::db::scores::latest_of(db, &ids).await?;
    for v in &mut views {
        v.score = scores.remove(&v.attempt.id);
    }
    for chunk in views.chunks_mut(FILE_CHUNK) {
        let index: HashMap<i64, usize> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| (v.attempt.id, i))
            .collect();
        let ids: Vec<i64> = index.keys().copied().collect();
        for (attempt_id, files) in files_of(db, &ids).await? {
            if let Some(&i) = index.get(&attempt_id) {
                chunk[i].files = files;
            }
        }
    }
    Ok(views)
}

/// The files of these attempts in path order, one row an attempt (its files as a JSON array): a fifth of
/// the rows an export of 5-file pushes would otherwise take from the database one at a time. PostgreSQL
/// orders each array by `path` (the column's collation, as `ORDER BY path` did); SQLite's arrays are sorted
/// here by bytes, its `BINARY` collation.
async fn files_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<(i64, Vec<lab_attempt_file::Model>)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    let marks: Vec<String> = (1..=ids.len())
        .map(|i| {
            if postgres {
                format!("${i}")
            } else {
                "?".to_owned()
            }
        })
        .collect();
    let files = if postgres {
        "json_agg(json_build_array(id, path, status) ORDER BY path)::text"
    } else {
        "json_group_array(json_array(id, path, status))"
    };
    let sql = format!(
        "SELECT attempt_id, {files} AS files FROM lab_attempt_file WHERE attempt_id IN ({}) \
         GROUP BY attempt_id",
        marks.join(", ")
    );
    let rows = db
        .query_all(Statement::from_sql_and_values(
            backend,
            sql,
            ids.iter().map(|&id| id.into()),
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let attempt_id: i64 = row.try_get("", "attempt_id")?;
        let text: String = row.try_get("", "files")?;
        let mut files: Vec<(i64, String, entity::states::FileStatus)> = serde_json::from_str(&text)
            .map_err(|e| DbErr::Custom(format!("files of attempt {attempt_id}: {e}")))?;
        if !postgres {
            files.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
        }
        let files = files
            .into_iter()
            .map(|(id, path, status)| lab_attempt_file::Model {
                id,
                attempt_id,
                path,
                status,
            })
            .collect();
        out.push((attempt_id, files));
    }
    Ok(out)
}

/// Attempts whose file list is due to be completed through GitHub, oldest first.
pub async fn files_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<lab_attempt::Model>, DbErr> {
    use lab_attempt::Column as C;
    lab_attempt::Entity::find()
        .filter(C::FilesRetryAt.lte(now))
        .order_by_asc(C::FilesRetryAt)
        .limit(limit)
        .all(db)
        .await
}

/// Move an attempt's completion schedule from `seen` (as read) to `next` (`None`: give up); `false` when
/// another instance moved it first (it is doing the work).
pub async fn reschedule_files(
    db: &impl ConnectionTrait,
    attempt: &lab_attempt::Model,
    next: Option<DateTime<Utc>>,
    tries: i32,
) -> Result<bool, DbErr> {
    use lab_attempt::Column as C;
    let Some(seen) = attempt.files_retry_at else {
        return Ok(false);
    };
    let result = lab_attempt::Entity::update_many()
        .set(lab_attempt::ActiveModel {
            files_retry_at: Set(next),
            files_tries: Set(tries),
            ..Default::default()
        })
        .filter(C::Id.eq(attempt.id))
        .filter(C::FilesRetryAt.eq(seen))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Replace an attempt's file list with the one GitHub gave later, in one transaction with its
/// `lab_attempt.files_completed` audit entry; `None` when it was no longer scheduled.
pub async fn complete_files(
    db: &impl TransactionTrait,
    origin: &str,
    attempt_id: i64,
    files: &[ChangedFile],
    complete: bool,
) -> Result<Option<Receipt>, RecordError> {
    audit::write(db, origin, async |txn, log| {
        let Some(attempt) = lab_attempt::Entity::find_by_id(attempt_id).one(txn).await? else {
            log.roll_back();
            return Ok(None);
        };
        if attempt.files_retry_at.is_none() {
            log.roll_back();
            return Ok(None);
        }
        lab_attempt_file::Entity::delete_many()
            .filter(lab_attempt_file::Column::AttemptId.eq(attempt_id))
            .exec(txn)
            .await?;
        insert_files(txn, attempt_id, files).await?;
        let file_count = i32::try_from(files.len()).unwrap_or(i32::MAX);
        lab_attempt::Entity::update_many()
            .set(lab_attempt::ActiveModel {
                file_count: Set(file_count),
                files_source: Set(FilesSource::Api),
                files_complete: Set(complete),
                files_retry_at: Set(None),
                ..Default::default()
            })
            .filter(lab_attempt::Column::Id.eq(attempt_id))
            .exec(txn)
            .await?;
        let entry = entries::files_completed(&attempt, files, file_count, complete)?;
        log.append(entry).await.map(Some)
    })
    .await
}

/// The attempts recorded by these deliveries: (delivery GUID, attempt id).
pub async fn by_deliveries(
    db: &impl ConnectionTrait,
    guids: &[String],
) -> Result<Vec<(String, i64)>, DbErr> {
    use lab_attempt::Column as C;
    lab_attempt::Entity::find()
        .select_only()
        .columns([C::DeliveryId, C::Id])
        .filter(C::DeliveryId.is_in(guids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-02-01T10:{minute:02}:00Z")
            .parse()
            .expect("an RFC 3339 time")
    }

    /// A push to `repo` of `after` at `minute`, delivered as `guid`.
    fn push(guid: &str, repo: i64, after: &str, minute: u32) -> NewAttempt {
        NewAttempt {
            session_id: 1,
            installation_id: 7,
            repository_id: repo,
            repository_full_name: format!("org/lab-{repo}"),
            git_ref: "refs/heads/main".into(),
            before_sha: "0".repeat(40),
            after_sha: after.into(),
            forced: false,
            created_branch: false,
            pusher_login: None,
            sender_id: None,
            pushed_at: at(minute),
            received_at: at(minute),
            delivery_id: guid.into(),
            late: false,
            early: false,
            files: Vec::new(),
            files_source: FilesSource::Payload,
            files_complete: true,
            files_retry_at: None,
        }
    }

    const fn insert(number: i32) -> Plan {
        Plan::Insert { number }
    }

    #[test]
    fn numbers_follow_push_time_within_the_batch_and_after_recorded_ones() {
        // Repository 1 has 2 attempts recorded before these; the batch's later push counts the earlier.
        let news = [
            push("a", 1, "x1", 5),
            push("b", 1, "x2", 6),
            push("c", 2, "y1", 1),
        ];
        let plans = plan(&news, &[], &[2, 2, 0]);
        assert_eq!(plans, [insert(3), insert(4), insert(1)]);
    }

    #[test]
    fn an_out_of_order_push_takes_the_number_its_time_earns() {
        // The second delivery was pushed first: it does not count the first one, which was pushed later.
        let news = [push("a", 1, "x2", 9), push("b", 1, "x1", 3)];
        assert_eq!(plan(&news, &[], &[0, 0]), [insert(1), insert(1)]);
    }

    #[test]
    fn a_redelivery_or_the_same_push_is_a_duplicate() {
        let first = push("a", 1, "x1", 5);
        let again = push("a", 1, "x1", 5);
        let same_push_other_guid = push("b", 1, "x1", 5);
        let plans = plan(&[first, again, same_push_other_guid], &[], &[0, 0, 0]);
        assert_eq!(
            plans,
            [
                insert(1),
                Plan::SameAs(Existing::InBatch(0)),
                Plan::SameAs(Existing::InBatch(0)),
            ]
        );
    }

    #[test]
    fn a_row_recorded_before_wins_over_the_batch() {
        let news = [push("a", 1, "x1", 5)];
        let recorded = push("old", 1, "x1", 5);
        let earlier = [Earlier {
            id: 42,
            delivery_id: "old",
            key: push_key(&recorded),
        }];
        assert_eq!(
            plan(&news, &earlier, &[1]),
            [Plan::SameAs(Existing::Row(42))]
        );
        // The same delivery GUID, whatever the push says.
        let other = push("a", 9, "zz", 1);
        let earlier = [Earlier {
            id: 43,
            delivery_id: "a",
            key: push_key(&other),
        }];
        assert_eq!(
            plan(&news, &earlier, &[1]),
            [Plan::SameAs(Existing::Row(43))]
        );
    }
}
