//! The read API under `/api/v1` (docs/design.md §3): bearer tokens, org scoping, sessions, attempts (JSON or
//! CSV, cursor pages), the audit log and its latest checkpoint. Audit reads, exports and attempt reads are
//! themselves audited, before any data leaves.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use entity::{api_token, lab_session};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};

use super::openapi::{AttemptPage, AuditEntry, AuditPage, ErrorBody, TokenRefusals};
use super::AppState;
use crate::audit::proof::{self, BuildError, ConsistencyError, ConsistencyProof, Proof};
use crate::audit::{self, entries, Action, AuditError};
use crate::db::attempts::AttemptFilter;
use crate::db::tokens::{self, Role};
use crate::db::{self};
use crate::http::error::AppError;
use crate::report::{
    AttemptRow, CsvWriter, ExtensionRow, FileRow, FinalAttempt, GradeRow, Row, SessionRow,
    SummaryRow,
};

/// The read API's document (`ApiDoc::openapi()`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "labtrail read API",
        version = "1",
        description = "Read access for instructors and auditors. Every call needs `Authorization: Bearer <token>` (created with `labtrail token create`). Attempt exports, attempt reads and audit reads are recorded in the audit log as `token:<name>`."
    ),
    servers((url = "/api/v1")),
    paths(
        openapi,
        sessions,
        session_attempts,
        session_summary,
        session_grades,
        attempt,
        attempt_proof,
        audit_entries,
        checkpoint,
        consistency,
    ),
    components(schemas(ErrorBody, SessionRow, ExtensionRow, FileRow, AttemptRow, SummaryRow, FinalAttempt, AttemptPage, AuditEntry, AuditPage, Proof, ConsistencyProof)),
    security(("bearer" = [])),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The `bearer` scheme, and the public operations that need none.
struct Security;

/// Operations that answer without a token (`security: []` overrides the document's requirement).
const PUBLIC_PATHS: [&str; 1] = ["/openapi.json"];

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for path in PUBLIC_PATHS {
            if let Some(item) = openapi.paths.paths.get_mut(path) {
                if let Some(get) = item.get.as_mut() {
                    get.security = Some(Vec::new());
                }
            }
        }
    }
}

const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;
/// Rows encoded per chunk of a streamed CSV answer; attempts read per query.
const CSV_CHUNK: usize = 500;

/// The routes, to be nested under `/api/v1`; each is documented in [`ApiDoc`] (a test checks it).
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/openapi.json", get(openapi)),
        ("/sessions", get(sessions)),
        ("/sessions/{slug}/attempts", get(session_attempts)),
        ("/sessions/{slug}/summary", get(session_summary)),
        ("/sessions/{slug}/grades.csv", get(session_grades)),
        ("/attempts/{id}", get(attempt)),
        ("/attempts/{id}/proof", get(attempt_proof)),
        ("/audit", get(audit_entries)),
        ("/audit/checkpoint", get(checkpoint)),
        ("/audit/consistency", get(consistency)),
    ]
}

/// The router of [`routes`].
pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, method)| {
            router.route(path, method)
        })
}

/// An authenticated caller: an active token, found by the SHA-256 of the presented one.
#[derive(Debug, Clone)]
pub struct Caller {
    token: api_token::Model,
    role: Role,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AppError::Unauthorized("missing bearer token".into()))?;
        let token = tokens::authenticate(&state.db, presented)
            .await?
            .ok_or_else(|| {
                tracing::info!("read API: unknown or revoked token");
                AppError::Unauthorized("invalid or revoked token".into())
            })?;
        let role = token.role;
        Ok(Self { token, role })
    }
}

impl Caller {
    /// The organisation the request is limited to: the token's own, or the one asked for.
    fn org_scope(&self, requested: Option<&str>) -> Result<Option<String>, AppError> {
        let requested = requested
            .filter(|o| !o.is_empty())
            .map(str::to_ascii_lowercase);
        match (&self.token.org, requested) {
            (Some(own), Some(asked)) if *own != asked => Err(AppError::Forbidden(
                "this token is limited to another organisation".into(),
            )),
            (Some(own), _) => Ok(Some(own.clone())),
            (None, asked) => Ok(asked),
        }
    }

    fn require_audit_role(&self) -> Result<(), AppError> {
        if tokens::reads_audit(self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "reading the audit log needs an auditor or admin token".into(),
            ))
        }
    }

    fn may_see(&self, org: &str) -> bool {
        self.token.org.as_deref().is_none_or(|own| own == org)
    }

    /// Append the audit entry of this use of the token; the response waits for it.
    async fn audit(
        &self,
        state: &AppState,
        action: Action,
        subject: String,
        details: Value,
    ) -> Result<(), AppError> {
        let entry =
            entries::api_read(&self.token, action, subject, details).map_err(audit_failed)?;
        audit::record(&state.db, &state.origin, entry)
            .await
            .map(|_| ())
            .map_err(audit_failed)
    }
}

fn audit_failed(e: AuditError) -> AppError {
    match e {
        AuditError::Db(e) => AppError::database(e),
        other => AppError::internal(other),
    }
}

/// This document
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "OpenAPI document", body = Object))
)]
pub(super) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OrgQuery {
    /// Organisation login; an org-scoped token needs none and may ask for no other
    #[param(required = false, value_type = String)]
    org: Option<String>,
}

/// Lab sessions, by org then slug
#[utoipa::path(
    get,
    path = "/sessions",
    params(OrgQuery),
    responses(
        (status = 200, description = "Sessions", body = Vec<SessionRow>),
        TokenRefusals,
    )
)]
pub(super) async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<OrgQuery>,
) -> Result<Json<Vec<SessionRow>>, AppError> {
    let org = caller.org_scope(q.org.as_deref())?;
    let list = db::sessions::list(&state.db, org.as_deref()).await?;
    let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
    let extensions = db::sessions::extensions_of(&state.db, &ids).await?;
    Ok(Json(
        list.iter()
            .map(|s| SessionRow::new(s, &extensions))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AttemptsQuery {
    /// Organisation login; an org-scoped token needs none and may ask for no other
    #[param(required = false, value_type = String)]
    org: Option<String>,
    /// owner/name or name, case-insensitive
    #[param(required = false, value_type = String)]
    repo: Option<String>,
    #[param(required = false, value_type = bool)]
    late: Option<bool>,
    /// pushed at or after (RFC 3339)
    #[param(required = false, value_type = String, format = DateTime)]
    since: Option<String>,
    /// pushed before (RFC 3339)
    #[param(required = false, value_type = String, format = DateTime)]
    until: Option<String>,
    /// next_cursor of the previous page
    #[param(required = false, value_type = String)]
    cursor: Option<String>,
    /// Page size (JSON: 100 when absent; CSV: no limit= streams every attempt)
    #[param(required = false, value_type = u64, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
    #[param(required = false, schema_with = super::openapi::export_format)]
    format: Option<String>,
}

fn parse_time(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, AppError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    AppError::BadRequest(format!("{name} must be RFC 3339 with an offset"))
                })
        })
        .transpose()
}

fn page_limit(limit: Option<u64>) -> Result<u64, AppError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(AppError::BadRequest("limit must be at least 1".into())),
        n => Ok(n.min(MAX_LIMIT)),
    }
}

/// The one session a slug names within the caller's scope.
async fn find_session(
    state: &AppState,
    slug: &str,
    org: Option<&str>,
) -> Result<lab_session::Model, AppError> {
    let mut q = lab_session::Entity::find().filter(lab_session::Column::Slug.eq(slug));
    if let Some(org) = org {
        q = q.filter(lab_session::Column::Org.eq(org));
    }
    let mut found = q.all(&state.db).await?;
    match found.len() {
        0 => Err(AppError::NotFound(format!("no session {slug:?}"))),
        1 => Ok(found.remove(0)),
        _ => Err(AppError::BadRequest(format!(
            "several organisations have a session {slug:?}: pass org="
        ))),
    }
}

/// Attempts of a session in recording order (audited as api.attempts_exported)
#[utoipa::path(
    get,
    path = "/sessions/{slug}/attempts",
    params(("slug" = String, Path, description = "The session's slug"), AttemptsQuery),
    responses(
        (status = 200, description = "A page of attempts. CSV with limit=: a page, the next cursor in the X-Next-Cursor header; CSV without limit=: every attempt the filters select (after cursor=), streamed as one download",
            content((AttemptPage = "application/json"), (String = "text/csv")),
            headers(
                ("x-next-cursor" = String, description = "CSV with limit= only: the next page's cursor; absent on the last page"),
                ("content-disposition" = String, description = "CSV only: attachment; filename=\"<slug>-attempts.csv\""),
            )),
        (status = 400, description = "Bad parameter, or a slug several organisations use without org=", body = ErrorBody),
        TokenRefusals,
        (status = 404, description = "No such session in scope", body = ErrorBody),
    )
)]
pub(super) async fn session_attempts(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(q): Query<AttemptsQuery>,
) -> Result<Response, AppError> {
    let csv = wants_csv(q.format.as_deref())?;
    let org = caller.org_scope(q.org.as_deref())?;
    let limit = page_limit(q.limit)?;
    let after_id = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::BadRequest("invalid cursor".into()))
        })
        .transpose()?;
    let session = find_session(&state, &slug, org.as_deref()).await?;
    let filter = AttemptFilter {
        session_id: Some(session.id),
        repo: q.repo.clone(),
        late: q.late,
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
        after_id,
        ..AttemptFilter::default()
    };
    if csv && q.limit.is_none() {
        return stream_attempts(&state, &caller, &session, filter).await;
    }
    let filter = AttemptFilter {
        limit: Some(limit + 1),
        ..filter
    };
    let mut views = db::attempts::list(&state.db, &filter).await?;
    let more = views.len() as u64 > limit;
    views.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| views.last().map(|v| v.attempt.id.to_string()))
        .flatten();
    let rows: Vec<AttemptRow> = views.iter().map(AttemptRow::from).collect();
    caller
        .audit(
            &state,
            Action::ApiAttemptsExported,
            format!("lab_session:{}", session.id),
            json!({
                "session_id": session.id,
                "format": if csv { "csv" } else { "json" },
                "count": rows.len(),
                "attempt_ids": views.iter().map(|v| v.attempt.id).collect::<Vec<_>>(),
            }),
        )
        .await?;
    if csv {
        let mut response = csv_download(rows, &format!("{}-attempts.csv", session.slug));
        if let Some(c) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert("x-next-cursor", c);
        }
        return Ok(response);
    }
    Ok(Json(json!({ "attempts": rows, "next_cursor": next_cursor })).into_response())
}

fn wants_csv(format: Option<&str>) -> Result<bool, AppError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(AppError::BadRequest("format must be json or csv".into())),
    }
}

/// The headers of a CSV download named `filename`.
fn csv_headers(response: &mut Response, filename: &str) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
}

/// `rows` encoded [`CSV_CHUNK`] at a time (the header first, every cell through the one CSV writer).
fn encode_chunk<R: Row>(rows: &[R], header: bool) -> Result<Vec<u8>, std::io::Error> {
    let mut buf = Vec::new();
    let encoded = if header {
        CsvWriter::<_, R>::new(&mut buf)
    } else {
        Ok(CsvWriter::<_, R>::continuing(&mut buf))
    }
    .and_then(|mut w| {
        rows.iter().try_for_each(|r| w.row(r))?;
        w.finish()
    });
    encoded.map_err(std::io::Error::other)?;
    Ok(buf)
}

/// A CSV answer of `rows`, streamed: each chunk is encoded when the client is ready for it (also the web
/// view's downloads).
pub(crate) fn csv_download<R: Row + Send + 'static>(rows: Vec<R>, filename: &str) -> Response {
    let chunks =
        futures_util::stream::unfold((rows.into_iter(), true), |(mut rows, header)| async move {
            let chunk: Vec<R> = rows.by_ref().take(CSV_CHUNK).collect();
            if chunk.is_empty() && !header {
                return None;
            }
            Some((encode_chunk(&chunk, header), (rows, false)))
        });
    let mut response = axum::body::Body::from_stream(chunks).into_response();
    csv_headers(&mut response, filename);
    response
}

/// A session's attempts as one CSV download, streamed in constant memory: pages of [`CSV_CHUNK`]
/// attempts read by id up to the newest one at the time of the request, which the audit entry names.
async fn stream_attempts(
    state: &AppState,
    caller: &Caller,
    session: &lab_session::Model,
    filter: AttemptFilter,
) -> Result<Response, AppError> {
    let (count, upto) = db::attempts::extent(&state.db, &filter).await?;
    caller
        .audit(
            state,
            Action::ApiAttemptsExported,
            format!("lab_session:{}", session.id),
            json!({
                "session_id": session.id,
                "format": "csv",
                "count": count,
                "after_id": filter.after_id,
                "upto_attempt_id": upto,
            }),
        )
        .await?;
    Ok(attempts_csv(
        state.db.clone(),
        filter,
        upto,
        &format!("{}-attempts.csv", session.slug),
    ))
}

/// The attempts of `filter` up to attempt `upto` as one streamed CSV download named `filename`, read in
/// pages of [`CSV_CHUNK`] (the API's and the web view's "All attempts (CSV)"); the caller audits first.
pub(crate) fn attempts_csv(
    db: sea_orm::DatabaseConnection,
    filter: AttemptFilter,
    upto: Option<i64>,
    filename: &str,
) -> Response {
    let page = AttemptFilter {
        upto_id: Some(upto.unwrap_or(0)),
        limit: Some(CSV_CHUNK as u64),
        ..filter
    };
    let chunks = futures_util::stream::unfold(Some((page, true)), move |next| {
        let db = db.clone();
        async move {
            let (mut page, header) = next?;
            let views = match db::attempts::list(&db, &page).await {
                Ok(v) => v,
                Err(e) => return Some((Err(std::io::Error::other(e)), None)),
            };
            let rows: Vec<AttemptRow> = views.iter().map(AttemptRow::from).collect();
            let more = rows.len() == CSV_CHUNK;
            page.after_id = views.last().map(|v| v.attempt.id).or(page.after_id);
            if rows.is_empty() && !header {
                return None;
            }
            Some((encode_chunk(&rows, header), more.then_some((page, false))))
        }
    });
    let mut response = axum::body::Body::from_stream(chunks).into_response();
    csv_headers(&mut response, filename);
    response
}

/// The session `slug` in the caller's scope and its per-student summary (the summary and the grades CSV).
async fn scoped_summary(
    state: &AppState,
    caller: &Caller,
    slug: &str,
    org: Option<&str>,
) -> Result<(lab_session::Model, Vec<db::summary::StudentSummary>), AppError> {
    let org = caller.org_scope(org)?;
    let session = find_session(state, slug, org.as_deref()).await?;
    let summary = db::summary::summarize(&state.db, &session).await?;
    Ok((session, summary))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SummaryQuery {
    /// Organisation login; an org-scoped token needs none and may ask for no other
    #[param(required = false, value_type = String)]
    org: Option<String>,
    #[param(required = false, schema_with = super::openapi::export_format)]
    format: Option<String>,
}

/// One row per student repository and per roster student without one, by roster identifier then
/// repository (audited as api.summary_read)
#[utoipa::path(
    get,
    path = "/sessions/{slug}/summary",
    params(("slug" = String, Path, description = "The session's slug"), SummaryQuery),
    responses(
        (status = 200, description = "The summary; CSV flattens `final` into final_* columns",
            content((Vec<SummaryRow> = "application/json"), (String = "text/csv")),
            headers(("content-disposition" = String, description = "CSV only: attachment; filename=\"<slug>-summary.csv\""))),
        (status = 400, description = "Bad parameter, or a slug several organisations use without org=", body = ErrorBody),
        TokenRefusals,
        (status = 404, description = "No such session in scope", body = ErrorBody),
    )
)]
pub(super) async fn session_summary(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(q): Query<SummaryQuery>,
) -> Result<Response, AppError> {
    let csv = wants_csv(q.format.as_deref())?;
    let (session, summary) = scoped_summary(&state, &caller, &slug, q.org.as_deref()).await?;
    let rows: Vec<SummaryRow> = summary.iter().map(SummaryRow::from).collect();
    caller
        .audit(
            &state,
            Action::ApiSummaryRead,
            format!("lab_session:{}", session.id),
            json!({
                "session_id": session.id,
                "format": if csv { "csv" } else { "json" },
                "count": rows.len(),
            }),
        )
        .await?;
    if csv {
        return Ok(csv_download(rows, &format!("{}-summary.csv", session.slug)));
    }
    Ok(Json(rows).into_response())
}

/// The session's grades in GitHub Classroom's "Download grades" shape, points empty (audited as
/// api.grades_exported)
#[utoipa::path(
    get,
    path = "/sessions/{slug}/grades.csv",
    params(("slug" = String, Path, description = "The session's slug"), OrgQuery),
    responses(
        (status = 200, description = "The grades CSV", body = String, content_type = "text/csv",
            headers(("content-disposition" = String, description = "attachment; filename=\"<slug>-grades.csv\""))),
        (status = 400, description = "A slug several organisations use without org=", body = ErrorBody),
        TokenRefusals,
        (status = 404, description = "No such session in scope", body = ErrorBody),
    )
)]
pub(super) async fn session_grades(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(q): Query<OrgQuery>,
) -> Result<Response, AppError> {
    let (session, summary) = scoped_summary(&state, &caller, &slug, q.org.as_deref()).await?;
    let rows: Vec<GradeRow> = summary
        .iter()
        .map(|s| GradeRow::new(s, &session, &state.github_web_url))
        .collect();
    caller
        .audit(
            &state,
            Action::ApiGradesExported,
            format!("lab_session:{}", session.id),
            json!({ "session_id": session.id, "count": rows.len() }),
        )
        .await?;
    Ok(csv_download(rows, &format!("{}-grades.csv", session.slug)))
}

fn no_attempt(id: i64) -> AppError {
    AppError::NotFound(format!("no attempt {id}"))
}

/// The attempt `id` if the caller may see it; another organisation's attempt answers exactly like a
/// missing one, so nothing about it leaks.
async fn visible_attempt(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<db::attempts::AttemptView, AppError> {
    let view = db::attempts::get(&state.db, id)
        .await?
        .ok_or_else(|| no_attempt(id))?;
    let session = lab_session::Entity::find_by_id(view.attempt.session_id)
        .one(&state.db)
        .await?;
    if session.is_some_and(|s| caller.may_see(&s.org)) {
        Ok(view)
    } else {
        Err(no_attempt(id))
    }
}

/// One attempt with its files (audited as api.attempt_read)
#[utoipa::path(
    get,
    path = "/attempts/{id}",
    params(("id" = i64, Path, description = "The attempt's id")),
    responses(
        (status = 200, description = "The attempt", body = AttemptRow),
        TokenRefusals,
        (status = 404, description = "No such attempt, or one of another organisation", body = ErrorBody),
    )
)]
pub(super) async fn attempt(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AttemptRow>, AppError> {
    let view = visible_attempt(&state, &caller, id).await?;
    caller
        .audit(
            &state,
            Action::ApiAttemptRead,
            format!("lab_attempt:{id}"),
            json!({ "attempt_id": id }),
        )
        .await?;
    Ok(Json(AttemptRow::from(&view)))
}

/// The inclusion proof of an attempt's `lab_attempt.recorded` entry against the newest signed checkpoint,
/// checkable offline with `labtrail audit check-proof` (audited as api.proof_read)
#[utoipa::path(
    get,
    path = "/attempts/{id}/proof",
    params(("id" = i64, Path, description = "The attempt's id")),
    responses(
        (status = 200, description = "The proof", body = Proof),
        TokenRefusals,
        (status = 404, description = "No such attempt, or one of another organisation", body = ErrorBody),
        (status = 409, description = "No signed checkpoint covers the entry yet; ask again after Retry-After seconds", body = ErrorBody,
            headers(("retry-after" = u32, description = "Seconds until the next checkpoint is due"))),
    )
)]
pub(super) async fn attempt_proof(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Proof>, AppError> {
    visible_attempt(&state, &caller, id).await?;
    let not_found = || no_attempt(id);
    let proof = proof::build(&state.db, id).await.map_err(|e| match e {
        BuildError::NoAttempt(_) => not_found(),
        e @ BuildError::NotCovered { .. } => AppError::NotYet {
            message: e.to_string(),
            retry_after_secs: u32::try_from(state.checkpoint_interval_secs).unwrap_or(u32::MAX),
        },
        BuildError::Db(e) => AppError::database(e),
        e @ BuildError::Archived(_) => AppError::NotFound(e.to_string()),
        BuildError::Store(e) => AppError::internal(e),
    })?;
    caller
        .audit(
            &state,
            Action::ApiProofRead,
            format!("lab_attempt:{id}"),
            json!({ "attempt_id": id, "leaf_index": proof.leaf_index, "tree_size": proof.tree_size }),
        )
        .await?;
    Ok(Json(proof))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ConsistencyQuery {
    /// The smaller tree size (a checkpoint's size), at least 1
    #[param(required = true, value_type = u64, minimum = 1)]
    from: Option<u64>,
    /// The larger tree size, at most the log's size
    #[param(required = true, value_type = u64, minimum = 1)]
    to: Option<u64>,
}

/// The RFC 9162 consistency proof that the tree of `to` entries extends the tree of `from` entries
/// (auditor or admin; audited as api.consistency_read)
#[utoipa::path(
    get,
    path = "/audit/consistency",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 400, description = "Missing sizes, or not 0 < from <= to <= the tree's size", body = ErrorBody),
        TokenRefusals,
    )
)]
pub(super) async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, AppError> {
    caller.require_audit_role()?;
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(AppError::BadRequest("from and to are required".into()));
    };
    let proof = proof::consistency(&state.db, from, to)
        .await
        .map_err(|e| match e {
            e @ ConsistencyError::BadRange { .. } => AppError::BadRequest(e.to_string()),
            ConsistencyError::Db(e) => AppError::database(e),
            ConsistencyError::Store(e) => AppError::internal(e),
        })?;
    caller
        .audit(
            &state,
            Action::ApiConsistencyRead,
            "audit_log".into(),
            json!({ "from": from, "to": to }),
        )
        .await?;
    Ok(Json(proof))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Entries after this sequence number (`next_after_seq` of the previous page)
    #[param(required = false, value_type = i64)]
    after_seq: Option<i64>,
    #[param(required = false, value_type = u64, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u64>,
}

/// Audit entries with seq > after_seq, oldest first (auditor or admin; audited as api.audit_read)
#[utoipa::path(
    get,
    path = "/audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        TokenRefusals,
    )
)]
pub(super) async fn audit_entries(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_audit_role()?;
    let limit = page_limit(q.limit)?;
    let rows = audit::entries(&state.db, q.after_seq, limit).await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    caller
        .audit(
            &state,
            Action::ApiAuditRead,
            "audit_log".into(),
            json!({
                "after_seq": q.after_seq,
                "limit": limit,
                "count": rows.len(),
            }),
        )
        .await?;
    Ok(Json(json!({
        "origin": state.origin,
        "entries": rows.iter().map(audit::entry_json).collect::<Vec<_>>(),
        "next_after_seq": next,
    })))
}

/// The latest signed checkpoint, a C2SP signed note (auditor or admin; audited as api.checkpoint_read)
#[utoipa::path(
    get,
    path = "/audit/checkpoint",
    responses(
        (status = 200, description = "The note", body = String, content_type = "text/plain"),
        TokenRefusals,
        (status = 404, description = "No checkpoint written yet", body = ErrorBody),
    )
)]
pub(super) async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, AppError> {
    caller.require_audit_role()?;
    let latest = audit::checkpoint::latest(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("no checkpoint has been written yet".into()))?;
    caller
        .audit(
            &state,
            Action::ApiCheckpointRead,
            format!("audit_checkpoint:{}", latest.id),
            json!({ "size": latest.size }),
        )
        .await?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        latest.note,
    )
        .into_response())
}
