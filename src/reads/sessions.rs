//! Reads of sessions and attempts: scoped to the viewer, audited once each.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_attempt_file, lab_session, session_extension};
use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr};

use super::detail::{ExportFormat, Read, ReadDetail};
use super::viewer::{Channel, Viewer, Who};
use super::{record, Ctx, ReadError};
use crate::audit::proof::{self, Proof, ProveError};
use crate::db::attempts::{AttemptFilter, AttemptView};
use crate::db::export::{ExportSession, ExportedAttempt};
use crate::db::summary::StudentSummary;
use crate::db::{self};
use crate::domain::summary::Status;

/// The organisation a request is limited to: a token's own, or the one asked for (lower-cased). A token
/// limited to one organisation that asks for another is refused; a browser that asks for one it may not
/// see finds nothing there.
fn scope(viewer: &Viewer, requested: Option<&str>) -> Result<Option<String>, ReadError> {
    let requested = requested
        .filter(|o| !o.is_empty())
        .map(str::to_ascii_lowercase);
    match (&viewer.channel, &viewer.who) {
        (Channel::Api(token), _) => match (&token.org, requested) {
            (Some(own), Some(asked)) if *own != asked => Err(ReadError::OtherOrg),
            (Some(own), _) => Ok(Some(own.clone())),
            (None, asked) => Ok(asked),
        },
        (Channel::Web { .. }, _) => Ok(requested),
    }
}

/// The sessions the viewer may see, with their extensions (the API's session list).
pub struct SessionList {
    pub sessions: Vec<lab_session::Model>,
    pub extensions: Vec<session_extension::Model>,
}

/// Sessions, by org then slug, of `org` (when given) among those the viewer may see.
pub async fn sessions(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    org: Option<&str>,
) -> Result<SessionList, ReadError> {
    let org = scope(viewer, org)?;
    let sessions: Vec<lab_session::Model> = db::sessions::list(ctx.db, org.as_deref())
        .await?
        .into_iter()
        .filter(|s| viewer.sees_org(&s.org))
        .collect();
    let ids: Vec<i64> = sessions.iter().map(|s| s.id).collect();
    let extensions = db::sessions::extensions_of(ctx.db, &ids).await?;
    Ok(SessionList {
        sessions,
        extensions,
    })
}

/// The one session `slug` names among those the viewer may see (within `org` when given).
pub async fn session(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    slug: &str,
    org: Option<&str>,
) -> Result<lab_session::Model, ReadError> {
    let org = scope(viewer, org)?;
    let mut found: Vec<lab_session::Model> = db::sessions::with_slug(ctx.db, slug, org.as_deref())
        .await?
        .into_iter()
        .filter(|s| viewer.sees_org(&s.org))
        .collect();
    match found.len() {
        0 => Err(ReadError::NoSession(slug.to_owned())),
        1 => Ok(found.remove(0)),
        _ => Err(ReadError::AmbiguousSlug(slug.to_owned())),
    }
}

/// How many students of a session are on time, late only and missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub on_time: usize,
    pub late_only: usize,
    pub missing: usize,
}

impl StatusCounts {
    fn add(&mut self, status: Status, n: u64) {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        match status {
            Status::OnTime => self.on_time += n,
            Status::LateOnly => self.late_only += n,
            Status::Missing => self.missing += n,
        }
    }

    fn of(rows: &[StudentSummary]) -> Self {
        let count = |st: Status| rows.iter().filter(|r| r.status == st).count();
        Self {
            on_time: count(Status::OnTime),
            late_only: count(Status::LateOnly),
            missing: count(Status::Missing),
        }
    }
}

/// A line of the web view's front page: a session and its counts.
pub struct IndexLine {
    pub session: lab_session::Model,
    pub counts: StatusCounts,
}

/// The sessions the viewer may see with their counts (the front page; not audited: it shows counts only).
pub async fn index(ctx: Ctx<'_>, viewer: &Viewer) -> Result<Vec<IndexLine>, ReadError> {
    let sessions: Vec<lab_session::Model> = db::sessions::list(ctx.db, None)
        .await?
        .into_iter()
        .filter(|s| viewer.sees_org(&s.org))
        .collect();
    let ids: Vec<i64> = sessions.iter().map(|s| s.id).collect();
    let mut counts: std::collections::HashMap<i64, StatusCounts> = std::collections::HashMap::new();
    for (id, status, n) in db::student_state::status_counts(ctx.db, &ids).await? {
        counts.entry(id).or_default().add(status, n);
    }
    Ok(sessions
        .into_iter()
        .map(|session| IndexLine {
            counts: counts.get(&session.id).copied().unwrap_or_default(),
            session,
        })
        .collect())
}

fn session_subject(session: &lab_session::Model) -> String {
    format!("lab_session:{}", session.id)
}

/// Audit a summary read of `count` rows of `session` (the API's entry names the format).
async fn record_summary_read(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    session: &lab_session::Model,
    format: Option<ExportFormat>,
    count: usize,
) -> Result<(), ReadError> {
    let detail = ReadDetail::SessionRows {
        session_id: session.id,
        format,
        count,
    };
    record(ctx, viewer, Read::Summary, session_subject(session), detail).await
}

/// A session's per-student summary.
pub struct SessionSummary {
    pub session: lab_session::Model,
    pub rows: Vec<StudentSummary>,
    /// Rows before the status filter.
    pub total: usize,
    /// The whole session's counts.
    pub counts: StatusCounts,
}

/// A session's per-student summary, only the rows of `status` when given (audited as a summary read
/// with the count of rows given; the API's entry names the format).
pub async fn summary(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    (slug, org): (&str, Option<&str>),
    format: Option<ExportFormat>,
    status: Option<Status>,
) -> Result<SessionSummary, ReadError> {
    let session = session(ctx, viewer, slug, org).await?;
    let mut rows = db::summary::summarize(ctx.db, &session).await?;
    let total = rows.len();
    let counts = StatusCounts::of(&rows);
    rows.retain(|r| status.is_none_or(|s| r.status == s));
    record_summary_read(ctx, viewer, &session, format, rows.len()).await?;
    Ok(SessionSummary {
        session,
        rows,
        total,
        counts,
    })
}

/// The web view's page of a session: one page of its rows (searched, filtered and sorted in the
/// database; audited as a summary read of the rows shown), the whole session's counts, and the chart's
/// push times and the extensions that go with it.
pub struct SessionView {
    pub session: lab_session::Model,
    pub rows: Vec<StudentSummary>,
    /// Rows the search and filter select, on every page.
    pub matching: u64,
    /// The whole session's rows and counts.
    pub total: usize,
    pub counts: StatusCounts,
    /// 0-based, and how many there are (at least 1).
    pub page: u64,
    pub pages: u64,
    /// `(pushed_at, late)` of every attempt.
    pub pushes: Vec<(DateTime<Utc>, bool, u32)>,
    pub extensions: Vec<session_extension::Model>,
}

/// Page `query.page` (0-based) of a session's rows; a page past the last is [`ReadError::NoRowsPage`].
pub async fn session_page(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    (slug, org): (&str, Option<&str>),
    query: &db::student_state::RowsQuery,
) -> Result<SessionView, ReadError> {
    let session = session(ctx, viewer, slug, org).await?;
    let mut counts = StatusCounts::default();
    for (_, status, n) in db::student_state::status_counts(ctx.db, &[session.id]).await? {
        counts.add(status, n);
    }
    let found = db::student_state::page(ctx.db, &session, query).await?;
    let pages = found.matching.div_ceil(query.per_page.max(1)).max(1);
    if query.page >= pages {
        return Err(ReadError::NoRowsPage(query.page.saturating_add(1)));
    }
    record_summary_read(ctx, viewer, &session, None, found.rows.len()).await?;
    let pushes =
        db::web_views::push_times(ctx.db, session.id, (session.opens_at, session.closes_at))
            .await?;
    let extensions = db::sessions::extensions(ctx.db, session.id).await?;
    Ok(SessionView {
        total: counts.on_time + counts.late_only + counts.missing,
        session,
        rows: found.rows,
        matching: found.matching,
        counts,
        page: query.page,
        pages,
        pushes,
        extensions,
    })
}

/// One student of a session: the summary rows (repositories) their login or roster identifier names,
/// each with every attempt and its score.
pub struct StudentPage {
    pub session: lab_session::Model,
    pub repos: Vec<db::student::StudentRepo>,
}

/// The web view's page of student `name` (a GitHub login or a roster identifier) in a session (audited
/// as a summary read, with the count of rows given); a name that matches no row is "no student".
pub async fn student_page(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    (slug, org): (&str, Option<&str>),
    name: &str,
) -> Result<StudentPage, ReadError> {
    let session = session(ctx, viewer, slug, org).await?;
    let repos = db::student::student(ctx.db, &session, name).await?;
    if repos.is_empty() {
        return Err(ReadError::NoStudent(name.to_owned()));
    }
    record_summary_read(ctx, viewer, &session, None, repos.len()).await?;
    Ok(StudentPage { session, repos })
}

/// A session's per-student summary for its grades CSV (audited as a grades export).
pub async fn grades(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    (slug, org): (&str, Option<&str>),
) -> Result<(lab_session::Model, Vec<StudentSummary>), ReadError> {
    let session = session(ctx, viewer, slug, org).await?;
    let rows = db::summary::summarize(ctx.db, &session).await?;
    let detail = ReadDetail::SessionRows {
        session_id: session.id,
        format: None,
        count: rows.len(),
    };
    record(ctx, viewer, Read::Grades, session_subject(&session), detail).await?;
    Ok((session, rows))
}

/// One page of a session's attempts.
pub struct AttemptsPage {
    pub session: lab_session::Model,
    pub attempts: Vec<ExportedAttempt>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A page of at most `limit` attempts of the session that `filter` selects (audited with their ids).
pub async fn attempts_page(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    (slug, org): (&str, Option<&str>),
    filter: AttemptFilter,
    limit: u64,
    format: ExportFormat,
) -> Result<AttemptsPage, ReadError> {
    let session = ExportSession::load(ctx.db, session(ctx, viewer, slug, org).await?).await?;
    let mut attempts = db::export::page(ctx.db, &session, &filter, limit.saturating_add(1)).await?;
    let session = session.session;
    let more = attempts.len() as u64 > limit;
    attempts.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| attempts.last().map(|a| a.id.to_string()))
        .flatten();
    let detail = ReadDetail::AttemptsPage {
        session_id: session.id,
        format,
        count: attempts.len(),
        attempt_ids: attempts.iter().map(|a| a.id).collect(),
    };
    record_export(ctx, viewer, &session, detail).await?;
    Ok(AttemptsPage {
        session,
        attempts,
        next_cursor,
    })
}

/// Every attempt of the session that `filter` selects, as one streamed CSV: the session, the filter
/// (limited to the session) and the newest attempt id the download includes (audited with the count).
pub async fn attempts_export(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    (slug, org): (&str, Option<&str>),
    filter: AttemptFilter,
) -> Result<(lab_session::Model, AttemptFilter, Option<i64>), ReadError> {
    let (session, filter) = within_session(ctx, viewer, (slug, org), filter).await?;
    let (count, upto) = db::export::extent(ctx.db, session.id, &filter).await?;
    let detail = ReadDetail::AttemptsStream {
        session_id: session.id,
        format: ExportFormat::Csv,
        count,
        // The API's entry names its cursor (null without one); the web view has none.
        after_id: matches!(viewer.channel, Channel::Api(_)).then_some(filter.after_id),
        upto_attempt_id: upto,
    };
    record_export(ctx, viewer, &session, detail).await?;
    Ok((session, filter, upto))
}

/// The session `slug` names in the viewer's scope, and `filter` limited to it.
async fn within_session(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    (slug, org): (&str, Option<&str>),
    filter: AttemptFilter,
) -> Result<(lab_session::Model, AttemptFilter), ReadError> {
    let session = session(ctx, viewer, slug, org).await?;
    let filter = AttemptFilter {
        session_id: Some(session.id),
        ..filter
    };
    Ok((session, filter))
}

/// Record the export (a page or the stream) of `session`'s attempts.
async fn record_export(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    session: &lab_session::Model,
    detail: ReadDetail,
) -> Result<(), ReadError> {
    record(
        ctx,
        viewer,
        Read::AttemptsExport,
        session_subject(session),
        detail,
    )
    .await
}

/// May the viewer see this attempt of `session`? Staff: any attempt of an organisation they see. A
/// student: an attempt they sent (`sender_id`), or one of a repository the roster links to them
/// (`linked`: the repositories of the session matched to their roster entries, see
/// [`db::summary::linked_repositories`]).
fn sees_attempt(
    viewer: &Viewer,
    session: &lab_session::Model,
    attempt: &lab_attempt::Model,
    linked: &BTreeSet<i64>,
) -> bool {
    match &viewer.who {
        Who::Staff { .. } => viewer.sees_org(&session.org),
        Who::Student { github_id, .. } => {
            attempt.sender_id == Some(*github_id) || linked.contains(&attempt.repository_id)
        }
    }
}

/// What of an attempt a viewer may see besides the push itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The repository's name (a student: only a repository the roster links to them).
    pub repository: bool,
    /// The pusher's login (a student: only their own).
    pub pusher: bool,
}

/// The repositories of `session` the roster links to a student (none for staff).
pub(super) async fn linked_repositories(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    session: &lab_session::Model,
) -> Result<BTreeSet<i64>, ReadError> {
    let Who::Student { github_id, login } = &viewer.who else {
        return Ok(BTreeSet::new());
    };
    let mine: Vec<i64> = db::students::roster_entries(ctx.db, *github_id, login.as_deref())
        .await?
        .into_iter()
        .filter(|e| e.org.eq_ignore_ascii_case(&session.org))
        .map(|e| e.id)
        .collect();
    Ok(db::summary::linked_repositories(ctx.db, session, &mine).await?)
}

/// The attempt `id` with its session, if the viewer may see it, and what more of it they see; another
/// organisation's (or, for a student, another student's) attempt is "no attempt", exactly like a missing
/// one.
async fn visible_attempt(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    id: i64,
) -> Result<(lab_attempt::Model, lab_session::Model, Seen), ReadError> {
    let Some((attempt, session)) = db::attempts::with_session(ctx.db, id).await? else {
        return Err(ReadError::NoAttempt(id));
    };
    let linked = linked_repositories(ctx, viewer, &session).await?;
    if !sees_attempt(viewer, &session, &attempt, &linked) {
        return Err(ReadError::NoAttempt(id));
    }
    let seen = match &viewer.who {
        Who::Staff { .. } => Seen {
            repository: true,
            pusher: true,
        },
        Who::Student { github_id, .. } => Seen {
            repository: linked.contains(&attempt.repository_id),
            pusher: attempt.sender_id == Some(*github_id),
        },
    };
    Ok((attempt, session, seen))
}

fn attempt_subject(id: i64) -> String {
    format!("lab_attempt:{id}")
}

/// One attempt with its files (audited as an attempt read).
pub async fn attempt(ctx: Ctx<'_>, viewer: &Viewer, id: i64) -> Result<AttemptView, ReadError> {
    visible_attempt(ctx, viewer, id).await?;
    let view = db::attempts::get(ctx.db, id)
        .await?
        .ok_or(ReadError::NoAttempt(id))?;
    let detail = ReadDetail::Attempt { attempt_id: id };
    record(ctx, viewer, Read::Attempt, attempt_subject(id), detail).await?;
    Ok(view)
}

/// An attempt's page in the web view: the attempt, a page of its files, its deadline and receipt.
pub struct AttemptDetail {
    pub attempt: lab_attempt::Model,
    pub session: lab_session::Model,
    pub files: Vec<lab_attempt_file::Model>,
    pub file_total: u64,
    /// The page shown, from 0.
    pub page: u64,
    pub pages: u64,
    /// The hash of the attempt's audit entry (the receipt), while it is in the database.
    pub entry_hash: Option<String>,
    /// The student's own deadline, as the summary, lists and check runs judge it.
    pub deadline: DateTime<Utc>,
    /// What more of the attempt the viewer sees (a student: their own repository and login only).
    pub seen: Seen,
    /// The size of the newest signed checkpoint, if any: the proof is ready once it exceeds the entry's
    /// seq.
    pub checkpoint_size: Option<i64>,
    /// The attempt's score (the newest), when it has one.
    pub score: Option<entity::lab_attempt_score::Model>,
    /// The final attempt (id, number) of the attempt's repository against `deadline`, if any.
    pub final_attempt: Option<(i64, i32)>,
}

/// Page `page` (from 0) of attempt `id`'s files, `per_page` a page (audited as an attempt read). A page
/// past the last is refused before any file is read.
pub async fn attempt_page(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    id: i64,
    page: u64,
    per_page: u64,
) -> Result<AttemptDetail, ReadError> {
    let (attempt, session, seen) = visible_attempt(ctx, viewer, id).await?;
    let file_total = db::web_views::file_count(ctx.db, id).await?;
    let pages = file_total.div_ceil(per_page.max(1));
    if page > 0 && page >= pages {
        return Err(ReadError::NoPage(page.saturating_add(1)));
    }
    let files = db::web_views::files_page(ctx.db, id, page, per_page).await?;
    let name = attempt
        .repository_full_name
        .rsplit_once('/')
        .map_or(attempt.repository_full_name.as_str(), |(_, n)| n);
    let deadline = match &viewer.who {
        // The student's own deadline: never a classmate's, even on a push to their repository.
        Who::Student { github_id, login } => {
            let entry = db::students::roster_entries(ctx.db, *github_id, login.as_deref())
                .await?
                .into_iter()
                .find(|e| e.org.eq_ignore_ascii_case(&session.org));
            db::summary::own_deadline(
                ctx.db,
                &session,
                entry.as_ref(),
                login.as_deref(),
                *github_id,
            )
            .await?
        }
        Who::Staff { .. } => {
            db::sessions::deadline_of_push(
                ctx.db,
                &session,
                name,
                attempt.pusher_login.as_deref(),
                attempt.sender_id,
            )
            .await?
        }
    };
    let score = db::scores::latest_of(ctx.db, &[id]).await?.remove(&id);
    let final_attempt =
        db::web_views::final_of_repository(ctx.db, &session, attempt.repository_id, deadline)
            .await?;
    let entry_hash = crate::audit::entry_hash_at(ctx.db, attempt.audit_seq).await?;
    let checkpoint_size = crate::audit::checkpoint::latest(ctx.db)
        .await?
        .map(|c| c.size);
    let staff = (Read::Attempt, ReadDetail::Attempt { attempt_id: id });
    record_attempt_read(ctx, viewer, id, staff).await?;
    Ok(AttemptDetail {
        attempt,
        session,
        files,
        file_total,
        page,
        pages,
        entry_hash,
        deadline,
        seen,
        checkpoint_size,
        score,
        final_attempt,
    })
}

/// The inclusion proof of attempt `id`'s entry against the newest signed checkpoint (audited as a proof
/// read). `checkpoint_interval_secs` says when an entry not covered yet will be.
pub async fn proof(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    id: i64,
    checkpoint_interval_secs: u64,
) -> Result<Proof, ReadError> {
    visible_attempt(ctx, viewer, id).await?;
    let proof = proof::build(ctx.db, id).await.map_err(|e| match e {
        ProveError::NoAttempt(_) => ReadError::NoAttempt(id),
        e @ ProveError::NotCovered { .. } => ReadError::NotCovered {
            message: e.to_string(),
            retry_after_secs: checkpoint_interval_secs,
        },
        ProveError::Db(e) => ReadError::Db(e),
        e @ ProveError::Archived(_) => ReadError::Archived(e.to_string()),
        ProveError::Store(e) => ReadError::internal(e),
    })?;
    let staff = (
        Read::Proof,
        ReadDetail::Proof {
            attempt_id: id,
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
        },
    );
    record_attempt_read(ctx, viewer, id, staff).await?;
    Ok(proof)
}

/// Record a read of attempt `id`: a student's as a student read, staff's as `staff` says.
async fn record_attempt_read(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    id: i64,
    staff: (Read, ReadDetail),
) -> Result<(), ReadError> {
    let (read, detail) = match viewer.who {
        Who::Student { .. } => (
            Read::Student,
            ReadDetail::Student {
                session_id: None,
                attempt_id: Some(id),
            },
        ),
        Who::Staff { .. } => staff,
    };
    record(ctx, viewer, read, attempt_subject(id), detail).await
}

/// The attempts of an export [`attempts_export`] recorded, `chunk` at a time by id up to `upto` (none when
/// `upto` is `None`), through the export's read ([`db::export::page`]: the session's deadlines read once):
/// constant memory for any size. A task reads ahead one page while the one before is encoded and sent (at
/// most three pages in memory: the one sent, one waiting, one being read); it stops when the stream is
/// dropped (the client went away).
pub fn export_pages(
    db: DatabaseConnection,
    session: lab_session::Model,
    filter: AttemptFilter,
    upto: Option<i64>,
    chunk: usize,
) -> impl Stream<Item = Result<Vec<ExportedAttempt>, DbErr>> + Send + 'static {
    let mut page = AttemptFilter {
        upto_id: Some(upto.unwrap_or(0)),
        ..filter
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let session = match ExportSession::load(&db, session).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        loop {
            let read = db::export::page(&db, &session, &page, chunk as u64).await;
            let more = match &read {
                Ok(rows) if rows.is_empty() => return,
                Ok(rows) => {
                    page.after_id = rows.last().map(|a| a.id).or(page.after_id);
                    rows.len() == chunk
                }
                Err(_) => false,
            };
            if tx.send(read).await.is_err() || !more {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let next = rx.recv().await?;
        Some((next, rx))
    })
}
