//! The read API under `/api/v1` (docs/design.md §3): bearer tokens, org scoping, sessions, attempts (JSON or
//! CSV, cursor pages), the audit log and its latest checkpoint. Audit reads, exports and attempt reads are
//! themselves audited, before any data leaves.

use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};

use crate::http::reject::{Path, Query};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};

use super::openapi::{AttemptPage, AuditEntry, AuditPage, ErrorBody, TokenRefusals};
use super::AppState;
use crate::audit::proof::{ConsistencyProof, Proof};
use crate::audit::{self};
use crate::db::attempts::AttemptFilter;
use crate::db::tokens;
use crate::http::error::AppError;
use crate::metrics::SignInFailure;
use crate::reads::{self, Ctx, ExportFormat, ReadError, Viewer};
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
        super::gradebook::org_gradebook,
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
/// Rows encoded per chunk of a streamed CSV answer.
const CSV_CHUNK: usize = 500;
/// Attempts read a query (and encoded a chunk) in a streamed attempts export: few round trips, a few MB a
/// page at most.
const EXPORT_PAGE: usize = 5000;

/// The routes, to be nested under `/api/v1`; each is documented in [`ApiDoc`] (a test checks it).
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/openapi.json", get(openapi)),
        ("/sessions", get(sessions)),
        ("/sessions/{slug}/attempts", get(session_attempts)),
        ("/sessions/{slug}/summary", get(session_summary)),
        ("/sessions/{slug}/grades.csv", get(session_grades)),
        (
            "/orgs/{org}/gradebook.csv",
            get(super::gradebook::org_gradebook),
        ),
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

/// An authenticated caller: an active token, found by the SHA-256 of the presented one, as a reader.
#[derive(Debug, Clone)]
pub struct Caller(pub(super) Viewer);

impl Caller {
    /// The token's viewer.
    pub fn viewer(self) -> Viewer {
        self.0
    }
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
                // Counted, not logged a line each (`jobs::refusals` logs a summary).
                state.metrics.sign_in_failed(SignInFailure::ApiToken);
                AppError::Unauthorized("invalid or revoked token".into())
            })?;
        Ok(Self(Viewer::token(token)))
    }
}

/// The database and log the reads of `state` go to.
pub(super) fn ctx(state: &AppState) -> Ctx<'_> {
    Ctx {
        db: &state.db,
        origin: &state.origin,
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
    let list = reads::sessions(ctx(&state), &caller.0, q.org.as_deref()).await?;
    Ok(Json(
        list.sessions
            .iter()
            .map(|s| SessionRow::new(s, &list.extensions))
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
    let limit = page_limit(q.limit)?;
    let after_id = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::BadRequest("invalid cursor".into()))
        })
        .transpose()?;
    let filter = AttemptFilter {
        repo: q.repo.clone(),
        late: q.late,
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
        after_id,
        ..AttemptFilter::default()
    };
    let session = (slug.as_str(), q.org.as_deref());
    if csv && q.limit.is_none() {
        let (session, filter, upto) =
            reads::attempts_export(ctx(&state), &caller.0, session, filter).await?;
        return Ok(attempts_csv(state.db.clone(), session, filter, upto));
    }
    let format = ExportFormat::of_csv(csv);
    let page = reads::attempts_page(ctx(&state), &caller.0, session, filter, limit, format).await?;
    let rows: Vec<AttemptRow> = page
        .attempts
        .iter()
        .map(|a| AttemptRow::exported(a, &page.session))
        .collect();
    if csv {
        let mut response = csv_download(rows, &format!("{}-attempts.csv", page.session.slug));
        if let Some(c) = page
            .next_cursor
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response.headers_mut().insert("x-next-cursor", c);
        }
        return Ok(response);
    }
    Ok(Json(json!({ "attempts": rows, "next_cursor": page.next_cursor })).into_response())
}

fn wants_csv(format: Option<&str>) -> Result<bool, AppError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(AppError::BadRequest("format must be json or csv".into())),
    }
}

/// A CSV download named `filename` whose body is `chunks`.
fn csv_response<S>(chunks: S, filename: &str) -> Response
where
    S: futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static,
{
    let mut response = axum::body::Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
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
    csv_response(chunks, filename)
}

/// Encoded CSV records (the header first) streamed as one download named `filename`, [`CSV_CHUNK`]
/// records a chunk (the gradebook, whose columns depend on its sessions).
pub(crate) fn csv_stream(
    records: Vec<Result<Vec<u8>, std::io::Error>>,
    filename: &str,
) -> Response {
    let chunks = futures_util::stream::unfold(records.into_iter(), |mut records| async move {
        let mut chunk = Vec::new();
        for record in records.by_ref().take(CSV_CHUNK) {
            match record {
                Ok(bytes) => chunk.extend(bytes),
                Err(e) => return Some((Err(e), records)),
            }
        }
        (!chunk.is_empty()).then_some((Ok::<_, std::io::Error>(chunk), records))
    });
    csv_response(chunks, filename)
}

/// The attempts of `session` that `filter` selects up to attempt `upto` as one streamed CSV download
/// (`<slug>-attempts.csv`), read in pages of [`EXPORT_PAGE`] and each page encoded into one buffer (the
/// API's and the web view's "All attempts (CSV)"); the caller audits first.
pub(crate) fn attempts_csv(
    db: crate::db::Pool,
    session: entity::lab_session::Model,
    filter: AttemptFilter,
    upto: Option<i64>,
) -> Response {
    let filename = format!("{}-attempts.csv", session.slug);
    let csv = crate::report::export::AttemptsCsv::new(&session);
    let pages = Box::pin(reads::export_pages(db, session, filter, upto, EXPORT_PAGE));
    let chunks = futures_util::stream::unfold(
        (pages, csv, true),
        |(mut pages, mut csv, first)| async move {
            use futures_util::StreamExt;
            match pages.next().await {
                Some(Ok(rows)) => {
                    let bytes = csv.page(&rows).map_err(std::io::Error::other);
                    Some((bytes, (pages, csv, false)))
                }
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), (pages, csv, false))),
                // No attempt: the header alone.
                None if first => {
                    let bytes = csv.page(&[]).map_err(std::io::Error::other);
                    Some((bytes, (pages, csv, false)))
                }
                None => None,
            }
        },
    );
    csv_response(chunks, &filename)
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
    let format = Some(ExportFormat::of_csv(csv));
    let summary = reads::summary(
        ctx(&state),
        &caller.0,
        (&slug, q.org.as_deref()),
        format,
        None,
    )
    .await?;
    let rows: Vec<SummaryRow> = summary.rows.iter().map(SummaryRow::from).collect();
    if csv {
        return Ok(csv_download(
            rows,
            &format!("{}-summary.csv", summary.session.slug),
        ));
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
    let (session, summary) =
        reads::grades(ctx(&state), &caller.0, (&slug, q.org.as_deref())).await?;
    let rows: Vec<GradeRow> = summary
        .iter()
        .map(|s| GradeRow::new(s, &session, &state.github_web_url))
        .collect();
    Ok(csv_download(rows, &format!("{}-grades.csv", session.slug)))
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
    let view = reads::attempt(ctx(&state), &caller.0, id).await?;
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
    let proof = reads::proof(ctx(&state), &caller.0, id, state.checkpoint_interval_secs).await?;
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
    if !caller.0.reads_audit() {
        return Err(ReadError::NeedsAuditRole.into());
    }
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(AppError::BadRequest("from and to are required".into()));
    };
    Ok(Json(
        reads::consistency(ctx(&state), &caller.0, from, to).await?,
    ))
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
    if !caller.0.reads_audit() {
        return Err(ReadError::NeedsAuditRole.into());
    }
    let limit = page_limit(q.limit)?;
    let page = reads::audit_entries(ctx(&state), &caller.0, q.after_seq, limit).await?;
    Ok(Json(json!({
        "origin": state.origin,
        "entries": page.entries.iter().map(audit::entry_json).collect::<Vec<_>>(),
        "next_after_seq": page.next_after_seq,
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
    let latest = reads::checkpoint(ctx(&state), &caller.0).await?;
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
