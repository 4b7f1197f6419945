//! The web view's pages and downloads. Each handler: the signed-in user, one scoped lookup (another
//! organisation's session or attempt is 404, as in the API), the audit entry of the read, then the view.

use crate::audit::Action;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use entity::{audit_head, audit_log, lab_attempt, lab_session};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::json;

use super::auth::{WebError, WebUser};
use super::chart::Chart;
use super::summary::{self, Status};
use super::views::{self, Header, SessionLine};
use super::WebApp;
use crate::audit::proof::{self, BuildError};
use crate::db::summary::StudentSummary;
use crate::db::{self, attempts::AttemptFilter};
use crate::http::api;
use crate::report::GradeRow;

/// Files shown per page of an attempt.
pub const FILES_PER_PAGE: u64 = 500;

fn header(user: &WebUser) -> Header<'_> {
    Header {
        label: user.label(),
        csrf: user.csrf(),
        auditor: crate::db::tokens::reads_audit(user.role),
    }
}

/// `GET /`: the sessions of the organisations the user may see, with their counts.
pub async fn index(State(state): State<WebApp>, user: WebUser) -> Result<Html<String>, WebError> {
    let sessions: Vec<lab_session::Model> = db::sessions::list(&state.app.db, None)
        .await?
        .into_iter()
        .filter(|s| user.may_see(&s.org))
        .collect();
    let mut slugs: HashMap<&str, usize> = HashMap::new();
    for s in &sessions {
        *slugs.entry(s.slug.as_str()).or_default() += 1;
    }
    let mut lines = Vec::with_capacity(sessions.len());
    for s in &sessions {
        // The counts are the per-student summary's statuses.
        let rows = db::summary::summarize(&state.app.db, s).await?;
        let count = |st: Status| rows.iter().filter(|r| r.status == st).count();
        lines.push(SessionLine {
            org: s.org.clone(),
            slug: s.slug.clone(),
            title: s.title.clone(),
            closes_at: s.closes_at,
            timezone: s.timezone.clone(),
            archived: s.archived_at.is_some(),
            on_time: count(Status::OnTime),
            late_only: count(Status::LateOnly),
            missing: count(Status::Missing),
            ambiguous: slugs.get(s.slug.as_str()).copied().unwrap_or(0) > 1,
        });
    }
    Ok(Html(views::index(&header(&user), &lines).into_string()))
}

/// `?org=` for a slug several organisations use.
#[derive(Debug, Deserialize, Default)]
pub struct SessionQuery {
    org: Option<String>,
    status: Option<String>,
    sort: Option<String>,
}

/// The one session `slug` names among those the user may see.
async fn find_session(
    state: &WebApp,
    user: &WebUser,
    slug: &str,
    org: Option<&str>,
) -> Result<lab_session::Model, WebError> {
    let org = org.filter(|o| !o.is_empty()).map(str::to_ascii_lowercase);
    let mut found: Vec<lab_session::Model> = lab_session::Entity::find()
        .filter(lab_session::Column::Slug.eq(slug))
        .all(&state.app.db)
        .await?
        .into_iter()
        .filter(|s| user.may_see(&s.org) && org.as_ref().is_none_or(|o| *o == s.org))
        .collect();
    match found.len() {
        0 => Err(WebError::NotFound(format!("No session {slug:?}."))),
        1 => Ok(found.remove(0)),
        _ => Err(WebError::BadRequest(format!(
            "Several organisations have a session {slug:?}: add ?org= to the address."
        ))),
    }
}

/// A row's roster identifier; `None` for a student off the roster.
fn roster_id(s: &StudentSummary) -> Option<&str> {
    s.student.as_ref().map(|r| r.identifier.as_str())
}

/// Sort rows by a column key (`-key`: descending); unknown keys sort by roster id, then repository.
fn sort_rows(rows: &mut [StudentSummary], sort: &str) {
    let key = sort.trim_start_matches('-');
    rows.sort_by(|a, b| {
        let by = match key {
            // No username is "": first.
            "username" => a
                .github_username()
                .to_lowercase()
                .cmp(&b.github_username().to_lowercase()),
            "final" => a
                .fold
                .final_attempt
                .as_ref()
                .map(|f| f.pushed_at)
                .cmp(&b.fold.final_attempt.as_ref().map(|f| f.pushed_at)),
            "last_push" => a.fold.last_pushed_at.cmp(&b.fold.last_pushed_at),
            "late" => a.fold.late_attempts.cmp(&b.fold.late_attempts),
            "forced" => a.fold.forced.cmp(&b.fold.forced),
            "status" => summary::rank(a.status).cmp(&summary::rank(b.status)),
            // Students off the roster last, as in the summary.
            _ => {
                (roster_id(a).is_none(), roster_id(a)).cmp(&(roster_id(b).is_none(), roster_id(b)))
            }
        };
        by.then_with(|| a.repository.cmp(&b.repository))
    });
    if sort.starts_with('-') {
        rows.reverse();
    }
}

/// `GET /sessions/{slug}`: the per-student table (audited as `web.summary_read`).
pub async fn session(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<Html<String>, WebError> {
    let session = find_session(&state, &user, &slug, q.org.as_deref()).await?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(summary::parse(s).ok_or_else(|| {
            WebError::BadRequest("status must be on_time, late_only or missing".into())
        })?),
    };
    let sort = q.sort.clone().unwrap_or_else(|| "roster".into());
    if !views::COLUMNS
        .iter()
        .any(|c| c.0 == sort.trim_start_matches('-'))
    {
        return Err(WebError::BadRequest(format!("cannot sort by {sort:?}")));
    }
    let mut rows = db::summary::summarize(&state.app.db, &session).await?;
    let total = rows.len();
    rows.retain(|r| status.is_none_or(|s| r.status == s));
    sort_rows(&mut rows, &sort);
    user.audit(
        &state,
        Action::WebSummaryRead,
        format!("lab_session:{}", session.id),
        json!({ "session_id": session.id, "count": rows.len() }),
    )
    .await?;
    let pushes = db::web_views::push_times(&state.app.db, session.id).await?;
    let extensions: Vec<_> = db::sessions::extensions(&state.app.db, session.id)
        .await?
        .into_iter()
        .map(|e| (e.student, e.closes_at))
        .collect();
    let org_query = match q.org.as_deref().filter(|o| !o.is_empty()) {
        Some(_) => format!("org={}&", session.org),
        None => String::new(),
    };
    let page = views::SessionPage {
        org: &session.org,
        slug: &session.slug,
        title: &session.title,
        opens_at: session.opens_at,
        closes_at: session.closes_at,
        timezone: &session.timezone,
        archived: session.archived_at.is_some(),
        rows: &rows,
        total,
        status,
        sort: &sort,
        org_query,
        chart: Chart::new(&pushes, session.closes_at, &extensions, &session.timezone),
        github_web: state.web.cfg.github_web(),
    };
    Ok(Html(views::session(&header(&user), &page).into_string()))
}

/// `GET /sessions/{slug}/attempts.csv`: every attempt, the API's CSV (audited as `web.attempts_exported`).
pub async fn attempts_csv(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<Response, WebError> {
    let session = find_session(&state, &user, &slug, q.org.as_deref()).await?;
    let filter = AttemptFilter {
        session_id: Some(session.id),
        ..AttemptFilter::default()
    };
    let (count, upto) = db::attempts::extent(&state.app.db, &filter).await?;
    user.audit(
        &state,
        Action::WebAttemptsExported,
        format!("lab_session:{}", session.id),
        json!({ "session_id": session.id, "format": "csv", "count": count, "upto_attempt_id": upto }),
    )
    .await?;
    Ok(api::attempts_csv(
        state.app.db.clone(),
        filter,
        upto,
        &format!("{}-attempts.csv", session.slug),
    ))
}

/// `GET /sessions/{slug}/grades.csv`: Classroom's grades CSV (audited as `web.grades_exported`).
pub async fn grades_csv(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<Response, WebError> {
    let session = find_session(&state, &user, &slug, q.org.as_deref()).await?;
    let rows: Vec<GradeRow> = db::summary::summarize(&state.app.db, &session)
        .await?
        .iter()
        .map(|s| GradeRow::new(s, &session, &state.app.github_web_url))
        .collect();
    user.audit(
        &state,
        Action::WebGradesExported,
        format!("lab_session:{}", session.id),
        json!({ "session_id": session.id, "count": rows.len() }),
    )
    .await?;
    Ok(api::csv_download(
        rows,
        &format!("{}-grades.csv", session.slug),
    ))
}

/// `?page=` of the file list (from 1).
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<u64>,
}

/// The attempt `id` if the user may see its session; 404 otherwise, exactly like a missing one.
async fn visible_attempt(
    state: &WebApp,
    user: &WebUser,
    id: i64,
) -> Result<(lab_attempt::Model, lab_session::Model), WebError> {
    let not_found = || WebError::NotFound(format!("No attempt {id}."));
    let (attempt, session) = lab_attempt::Entity::find_by_id(id)
        .find_also_related(lab_session::Entity)
        .one(&state.app.db)
        .await?
        .ok_or_else(not_found)?;
    match session {
        Some(s) if user.may_see(&s.org) => Ok((attempt, s)),
        _ => Err(not_found()),
    }
}

/// `GET /attempts/{id}`: the attempt, its files a page at a time, its audit receipt (audited as
/// `web.attempt_read`).
pub async fn attempt(
    State(state): State<WebApp>,
    user: WebUser,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, WebError> {
    let (attempt, session) = visible_attempt(&state, &user, id).await?;
    let page = q.page.unwrap_or(1).max(1) - 1;
    let (files, total) = db::web_views::files_page(&state.app.db, id, page, FILES_PER_PAGE).await?;
    let pages = total.div_ceil(FILES_PER_PAGE);
    if page > 0 && page >= pages {
        return Err(WebError::NotFound(format!(
            "No page {} of files.",
            page + 1
        )));
    }
    // The student's own deadline, as the summary, lists and check runs judge it.
    let name = attempt
        .repository_full_name
        .rsplit_once('/')
        .map_or(attempt.repository_full_name.as_str(), |(_, n)| n);
    let deadline = db::sessions::deadline_of_push(
        &state.app.db,
        &session,
        name,
        attempt.pusher_login.as_deref(),
        attempt.sender_id,
    )
    .await?;
    let entry_hash = audit_log::Entity::find()
        .filter(audit_log::Column::Seq.eq(attempt.audit_seq))
        .one(&state.app.db)
        .await?
        .map(|e| e.entry_hash);
    user.audit(
        &state,
        Action::WebAttemptRead,
        format!("lab_attempt:{id}"),
        json!({ "attempt_id": id }),
    )
    .await?;
    let view = views::AttemptPage {
        attempt: &attempt,
        session: &session,
        files: &files,
        file_total: total,
        page,
        pages,
        entry_hash,
        github_web: state.web.cfg.github_web(),
        deadline,
    };
    Ok(Html(views::attempt(&header(&user), &view).into_string()))
}

/// `GET /attempts/{id}/proof.json`: the API's inclusion proof, as a download (audited as
/// `web.proof_read`).
pub async fn proof(
    State(state): State<WebApp>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    visible_attempt(&state, &user, id).await?;
    let proof = proof::build(&state.app.db, id).await.map_err(|e| match e {
        BuildError::NoAttempt(_) => WebError::NotFound(format!("No attempt {id}.")),
        e @ BuildError::NotCovered { .. } => WebError::NotFound(format!(
            "{e}: the proof is ready once the next checkpoint is signed (within {} s).",
            state.app.checkpoint_interval_secs
        )),
        BuildError::Db(e) => WebError::Unavailable(e),
        e @ BuildError::Archived(_) => WebError::NotFound(e.to_string()),
        BuildError::Store(e) => WebError::internal(e),
    })?;
    user.audit(
        &state,
        Action::WebProofRead,
        format!("lab_attempt:{id}"),
        json!({ "attempt_id": id, "leaf_index": proof.leaf_index, "tree_size": proof.tree_size }),
    )
    .await?;
    let body = serde_json::to_vec_pretty(&proof).map_err(WebError::internal)?;
    let disposition = format!("attachment; filename=\"attempt-{id}-proof.json\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(WebError::internal)?,
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /audit` (auditor or admin): the log's size, newest checkpoint, verifier key (audited as
/// `web.audit_read`).
pub async fn audit(State(state): State<WebApp>, user: WebUser) -> Result<Html<String>, WebError> {
    if !crate::db::tokens::reads_audit(user.role) {
        return Err(WebError::Forbidden(
            "The audit page needs an auditor or admin sign-in.".into(),
        ));
    }
    let size = audit_head::Entity::find()
        .one(&state.app.db)
        .await?
        .map_or(0, |h| h.size);
    let checkpoint = crate::audit::checkpoint::latest(&state.app.db)
        .await?
        .map(|c| (c.size, c.created_at));
    user.audit(
        &state,
        Action::WebAuditRead,
        "audit_log".into(),
        json!({ "size": size }),
    )
    .await?;
    let page = views::AuditPage {
        size,
        checkpoint,
        verifier_key: state.web.verifier_key.clone(),
    };
    Ok(Html(views::audit(&header(&user), &page).into_string()))
}
