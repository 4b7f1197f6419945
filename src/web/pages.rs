//! The web view's pages and downloads. Each handler: the signed-in user, one read through `reads` (scoped
//! to what the user may see — another organisation's session or attempt is 404, as in the API — and
//! audited before any data leaves), then the view.

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{WebError, WebUser};
use super::chart::Chart;
use super::summary;
use super::views::{self, Header, SessionLine};
use super::WebApp;
use crate::db::attempts::AttemptFilter;
use crate::db::sessions::{NewDeadline, SessionError};
use crate::db::tokens::Role;
use crate::db::{self};
use crate::http::api;
use crate::reads::{self, Ctx};
use crate::report::GradeRow;

/// Files shown per page of an attempt.
pub const FILES_PER_PAGE: u64 = 500;

fn header(user: &WebUser) -> Header<'_> {
    Header {
        label: user.label(),
        csrf: user.csrf(),
        auditor: user.viewer().reads_audit(),
        student: user.is_student(),
    }
}

/// The database and log the reads of `state` go to.
fn ctx(state: &WebApp) -> Ctx<'_> {
    Ctx {
        db: &state.app.db,
        origin: &state.app.origin,
    }
}

/// `GET /`: the sessions of the organisations the user may see, with their counts; a student's is `/me`.
pub async fn index(State(state): State<WebApp>, user: WebUser) -> Result<Response, WebError> {
    if user.is_student() {
        return Ok(Redirect::to("/me").into_response());
    }
    let sessions = reads::index(ctx(&state), &user.viewer()).await?;
    let lines: Vec<SessionLine> = sessions
        .iter()
        .map(|line| {
            let s = &line.session;
            SessionLine {
                org: s.org.clone(),
                slug: s.slug.clone(),
                title: s.title.clone(),
                closes_at: s.closes_at,
                timezone: s.timezone.clone(),
                archived: s.archived_at.is_some(),
                on_time: line.counts.on_time,
                late_only: line.counts.late_only,
                missing: line.counts.missing,
                ambiguous: sessions
                    .iter()
                    .filter(|other| other.session.slug == s.slug)
                    .count()
                    > 1,
            }
        })
        .collect();
    Ok(Html(views::index(&header(&user), &lines).into_string()).into_response())
}

/// `?sessions=a,b` of the gradebook download: only these sessions (slugs).
#[derive(Debug, Deserialize, Default)]
pub struct GradebookPageQuery {
    sessions: Option<String>,
}

/// `GET /orgs/{org}/gradebook.csv`: the organisation's gradebook, the API's CSV (audited as
/// `web.gradebook_exported`).
pub async fn gradebook_csv(
    State(state): State<WebApp>,
    user: WebUser,
    Path(org): Path<String>,
    Query(q): Query<GradebookPageQuery>,
) -> Result<Response, WebError> {
    let book = reads::gradebook(ctx(&state), &user.viewer(), &org, q.sessions.as_deref())
        .await
        .map_err(|e| match e {
            // Another organisation's gradebook is not found, as its sessions are.
            reads::ReadError::OtherOrg => {
                WebError::NotFound(format!("No organisation {org:?} among yours."))
            }
            e => e.into(),
        })?;
    let filename = format!("{}-gradebook.csv", org.to_ascii_lowercase());
    Ok(api::csv_stream(
        crate::report::gradebook::records(&book)
            .map(|r| r.map_err(std::io::Error::other))
            .collect(),
        &filename,
    ))
}

/// `GET /me`: a student's own record — per session their deadline, status, final attempt and every
/// attempt (each session audited as `web.student_read`). Staff have no such page: the front page.
pub async fn me(State(state): State<WebApp>, user: WebUser) -> Result<Response, WebError> {
    if !user.is_student() {
        return Ok(Redirect::to("/").into_response());
    }
    let sessions = reads::me(ctx(&state), &user.viewer()).await?;
    let page = views::MePage {
        sessions: &sessions,
        github_web: state.web.cfg.github_web(),
    };
    Ok(Html(views::me(&header(&user), &page).into_string()).into_response())
}

/// `GET /audit/public-key`: the audit log's verifier key, the text `labtrail audit public-key` prints
/// (public: anyone checking a proof offline needs it; it is not a secret).
pub async fn public_key(State(state): State<WebApp>) -> Result<Response, WebError> {
    let key = state.web.verifier_key.as_ref().ok_or_else(|| {
        WebError::NotFound(
            "This instance does not sign checkpoints: it has no verifier key.".into(),
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("{key}\n"),
    )
        .into_response())
}

/// `?org=` for a slug several organisations use.
#[derive(Debug, Deserialize, Default)]
pub struct SessionQuery {
    org: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    /// Search: a substring of the login, roster identifier or name (any case).
    q: Option<String>,
    /// 1-based.
    page: Option<u64>,
}

/// Students per page of the session page.
pub const STUDENTS_PER_PAGE: u64 = 100;

/// `GET /sessions/{slug}`: the per-student table (audited as `web.summary_read`).
pub async fn session(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<Html<String>, WebError> {
    Ok(Html(render_session(&state, &user, &slug, &q, None).await?))
}

/// A refused extension form: why, and what was typed (shown again).
struct Refused<'a> {
    error: String,
    student: &'a str,
    closes: &'a str,
}

/// The session page, with a refused extension form's error when there is one.
async fn render_session(
    state: &WebApp,
    user: &WebUser,
    slug: &str,
    q: &SessionQuery,
    refused: Option<Refused<'_>>,
) -> Result<String, WebError> {
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
    let viewer = user.viewer();
    let search = q.q.as_deref().map(str::trim).unwrap_or_default();
    let query = db::student_state::RowsQuery {
        search: Some(search.to_owned()).filter(|s| !s.is_empty()),
        status,
        sort: sort.clone(),
        page: q.page.unwrap_or(1).max(1) - 1,
        per_page: STUDENTS_PER_PAGE,
    };
    let page_data =
        reads::session_page(ctx(state), &viewer, (slug, q.org.as_deref()), &query).await?;
    let reads::SessionView {
        session,
        rows,
        total,
        counts,
        matching,
        page,
        pages,
        pushes,
        extensions,
    } = page_data;
    let extensions: Vec<_> = extensions
        .into_iter()
        .map(|e| (e.student, e.closes_at))
        .collect();
    let org_query = match q.org.as_deref().filter(|o| !o.is_empty()) {
        Some(_) => format!("org={}&", session.org),
        None => String::new(),
    };
    let form = views::ExtensionFormHtml {
        csrf: user.csrf(),
        may_change: matches!(user.role, Role::Admin | Role::Instructor),
        error: refused.as_ref().map(|r| r.error.as_str()),
        student: refused.as_ref().map_or("", |r| r.student),
        closes: refused.as_ref().map_or("", |r| r.closes),
    };
    let page = views::SessionHtml {
        org: &session.org,
        slug: &session.slug,
        title: &session.title,
        opens_at: session.opens_at,
        closes_at: session.closes_at,
        timezone: &session.timezone,
        archived: session.archived_at.is_some(),
        rows: &rows,
        total,
        counts: (counts.on_time, counts.late_only, counts.missing),
        matching,
        page,
        pages,
        search,
        status,
        sort: &sort,
        org_query,
        chart: Chart::new(
            &pushes,
            (session.opens_at, session.closes_at),
            &extensions,
            &session.timezone,
        ),
        github_web: state.web.cfg.github_web(),
        extensions: &extensions,
        form,
        invitation: super::join::section(state, user, &session).await?,
    };
    Ok(views::session(&header(user), &page).into_string())
}

/// The extension form of the session page.
#[derive(Debug, Deserialize)]
pub struct ExtensionForm {
    #[serde(default)]
    csrf: String,
    /// The session's organisation.
    #[serde(default)]
    org: String,
    /// A GitHub login or a roster identifier.
    #[serde(default)]
    student: String,
    /// The new deadline, local to the session (`YYYY-MM-DDTHH:MM`, a `datetime-local` field).
    #[serde(default)]
    closes: String,
    force: Option<String>,
    shorten: Option<String>,
    /// `remove`: remove the student's extension.
    action: Option<String>,
}

/// A local `YYYY-MM-DD[T ]HH:MM[:SS]` in `timezone`, or RFC 3339; a local time that does not exist or
/// exists twice there (a daylight-saving change) is refused.
fn parse_local(s: &str, timezone: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::TimeZone as _;
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let tz = crate::domain::session::parse_timezone(timezone).map_err(|e| e.to_string())?;
    let naive = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
    .ok_or_else(|| {
        format!("Cannot read the deadline {s:?}: give a date and time (2026-12-01 23:59) in {tz}.")
    })?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| {
            format!(
                "The local time {s:?} is ambiguous or skipped in {tz} (a daylight-saving change)."
            )
        })
}

/// The session a staff form of its page changes: the form's CSRF token checked, an instructor or admin
/// (else `refused`), and the session scoped as a read (another organisation's is not found).
pub async fn staff_form(
    state: &WebApp,
    user: &WebUser,
    (slug, org): (&str, &str),
    csrf: &str,
    refused: &str,
) -> Result<entity::lab_session::Model, WebError> {
    user.check_csrf(csrf)?;
    if !matches!(user.role, Role::Admin | Role::Instructor) {
        return Err(WebError::Forbidden(refused.into()));
    }
    let org = Some(org).filter(|o| !o.is_empty());
    Ok(reads::session(ctx(state), &user.viewer(), slug, org).await?)
}

/// `POST /sessions/{slug}/extensions`: grant, change or remove a student's extension — the library calls
/// of `session extend` and `session extend --remove` (the same typo check, `force` and `shorten`),
/// audited with the web session as the actor. A refusal is shown on the session page (400).
pub async fn extension(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Form(form): Form<ExtensionForm>,
) -> Result<Response, WebError> {
    let session = staff_form(
        &state,
        &user,
        (&slug, &form.org),
        &form.csrf,
        "Extensions are given by an instructor or admin.",
    )
    .await?;
    let actor = format!("web_session:{}", user.session.id);
    let db = &state.app.db;
    let origin = &state.app.origin;
    let outcome: Result<(), String> = if form.action.as_deref() == Some("remove") {
        match db::sessions::remove_extension(
            db,
            origin,
            &actor,
            &session.slug,
            Some(&session.org),
            &form.student,
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(refusal(e)?),
        }
    } else {
        match parse_local(&form.closes, &session.timezone) {
            Err(message) => Err(message),
            Ok(closes_at) => {
                let deadline = NewDeadline {
                    closes_at,
                    force: form.force.is_some(),
                    shorten: form.shorten.is_some(),
                };
                match db::sessions::extend(
                    db,
                    origin,
                    &actor,
                    &session.slug,
                    Some(&session.org),
                    &form.student,
                    deadline,
                )
                .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => Err(refusal(e)?),
                }
            }
        }
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!(
            "/sessions/{}?org={}#extensions",
            session.slug, session.org
        ))
        .into_response()),
        Err(error) => {
            let q = SessionQuery {
                org: Some(session.org.clone()),
                ..SessionQuery::default()
            };
            let refused = Refused {
                error,
                student: &form.student,
                closes: &form.closes,
            };
            let body = render_session(&state, &user, &session.slug, &q, Some(refused)).await?;
            Ok((StatusCode::BAD_REQUEST, Html(body)).into_response())
        }
    }
}

/// A refused change's words for the page; a database or log failure is the error page.
fn refusal(e: SessionError) -> Result<String, WebError> {
    match e {
        SessionError::Audit(e) => Err(e.into()),
        other => Ok(other.to_string()),
    }
}

/// `GET /sessions/{slug}/students/{name}`: one student (a GitHub login or a roster identifier) — every
/// attempt, the deadline that applies, the final attempt and why (audited as `web.summary_read`).
pub async fn student(
    State(state): State<WebApp>,
    user: WebUser,
    Path((slug, name)): Path<(String, String)>,
    Query(q): Query<SessionQuery>,
) -> Result<Html<String>, WebError> {
    let data = reads::student_page(
        ctx(&state),
        &user.viewer(),
        (&slug, q.org.as_deref()),
        &name,
    )
    .await?;
    let page = views::StudentHtml {
        session: &data.session,
        name: &name,
        repos: &data.repos,
        github_web: state.web.cfg.github_web(),
    };
    Ok(Html(views::student(&header(&user), &page).into_string()))
}

/// `GET /sessions/{slug}/attempts.csv`: every attempt, the API's CSV (audited as `web.attempts_exported`).
pub async fn attempts_csv(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<Response, WebError> {
    let (session, filter, upto) = reads::attempts_export(
        ctx(&state),
        &user.viewer(),
        (&slug, q.org.as_deref()),
        AttemptFilter::default(),
    )
    .await?;
    Ok(api::attempts_csv(
        state.app.db.clone(),
        session,
        filter,
        upto,
    ))
}

/// `GET /sessions/{slug}/grades.csv`: Classroom's grades CSV (audited as `web.grades_exported`).
pub async fn grades_csv(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<Response, WebError> {
    let (session, summary) =
        reads::grades(ctx(&state), &user.viewer(), (&slug, q.org.as_deref())).await?;
    let rows: Vec<GradeRow> = summary
        .iter()
        .map(|s| GradeRow::new(s, &session, &state.app.github_web_url))
        .collect();
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

/// `GET /attempts/{id}`: the attempt, its files a page at a time, its audit receipt and proof (audited as
/// `web.attempt_read`, or `web.student_read` for a student, who sees only what is theirs: another
/// student's attempt is 404).
pub async fn attempt(
    State(state): State<WebApp>,
    user: WebUser,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, WebError> {
    let page = q.page.unwrap_or(1).max(1) - 1;
    let data = reads::attempt_page(ctx(&state), &user.viewer(), id, page, FILES_PER_PAGE).await?;
    let view = views::AttemptHtml {
        attempt: &data.attempt,
        session: &data.session,
        files: &data.files,
        file_total: data.file_total,
        page: data.page,
        pages: data.pages,
        entry_hash: data.entry_hash.clone(),
        github_web: state.web.cfg.github_web(),
        deadline: data.deadline,
        seen: data.seen,
        checkpoint_size: data.checkpoint_size,
        checkpoint_interval_secs: state.app.checkpoint_interval_secs,
        student: user.is_student(),
        score: data.score.as_ref(),
        final_attempt: data.final_attempt,
    };
    Ok(Html(views::attempt(&header(&user), &view).into_string()))
}

/// `GET /attempts/{id}/proof.json`: the API's inclusion proof, as the download
/// `labtrail-proof-{id}.json` (audited as `web.proof_read`, or `web.student_read` for a student).
pub async fn proof(
    State(state): State<WebApp>,
    user: WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let proof = reads::proof(
        ctx(&state),
        &user.viewer(),
        id,
        state.app.checkpoint_interval_secs,
    )
    .await?;
    let body = serde_json::to_vec_pretty(&proof).map_err(WebError::internal)?;
    let disposition = format!("attachment; filename=\"labtrail-proof-{id}.json\"");
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
    let (size, checkpoint) = reads::audit_overview(ctx(&state), &user.viewer()).await?;
    let page = views::AuditHtml {
        size,
        checkpoint,
        verifier_key: state.web.verifier_key.clone(),
    };
    Ok(Html(views::audit(&header(&user), &page).into_string()))
}
