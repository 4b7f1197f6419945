//! `GET /api/v1/orgs/{org}/gradebook.csv` (issue 22): the gradebook across an organisation's sessions,
//! streamed, every cell formula-safe.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::api::{ctx, Caller};
use super::error::AppError;
use super::openapi::{ErrorBody, TokenRefusals};
use super::AppState;
use crate::reads;

/// `sessions=a,b`: only these sessions (slugs), in session order.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BookQuery {
    /// Session slugs, comma-separated; default every session of the organisation.
    pub sessions: Option<String>,
}

/// One row per roster student (then students pushing without a roster entry), per session the final
/// attempt's points and the status (audited as api.gradebook_exported)
#[utoipa::path(
    get,
    path = "/orgs/{org}/gradebook.csv",
    params(("org" = String, Path, description = "The organisation (account login)"), BookQuery),
    responses(
        (status = 200, description = "The gradebook CSV: roster_identifier,github_username,name, then <slug>_points,<slug>_status per session", body = String, content_type = "text/csv",
            headers(("content-disposition" = String, description = "attachment; filename=\"<org>-gradebook.csv\""))),
        TokenRefusals,
        (status = 404, description = "A session of the list that the organisation does not have", body = ErrorBody),
    )
)]
pub(super) async fn org_gradebook(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Query<BookQuery>,
) -> Result<Response, AppError> {
    let book = reads::gradebook(ctx(&state), &caller.0, &org, q.sessions.as_deref()).await?;
    let filename = format!("{}-gradebook.csv", org.to_ascii_lowercase());
    Ok(super::api::csv_stream(
        crate::report::gradebook::records(&book)
            .map(|r| r.map_err(std::io::Error::other))
            .collect(),
        &filename,
    ))
}
