//! `/log/`: the audit log as a C2SP `tlog-tiles` static API (c2sp.org/tlog-tiles), readable by any
//! transparency tool: `/log/checkpoint`, `/log/tile/<L>/<N>[.p/<W>]` and `/log/tile/entries/<N>[.p/<W>]`
//! (entry bundles of the entries' canonical bytes). Auditor or admin tokens, as the read API's
//! `/audit/…` routes, unless `LABTRAIL_PUBLIC_LOG=1`. Reads go through `reads::log_checkpoint` and
//! `reads::log_tile` (which explains why they are not audited per request).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::api::Caller;
use super::error::AppError;
use super::AppState;
use crate::reads::{self, TileReadError, Viewer};

/// The routes, nested under `/log`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
}

/// The viewer of a request: none when the log is public, else the token's (which must be given).
fn viewer(state: &AppState, caller: Result<Caller, AppError>) -> Result<Option<Viewer>, AppError> {
    if state.public_log {
        return Ok(None);
    }
    caller.map(|c| Some(c.viewer()))
}

fn refused(e: TileReadError) -> Response {
    match e {
        TileReadError::Read(e) => AppError::from(e).into_response(),
        TileReadError::NotFound(m) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{m}\n"),
        )
            .into_response(),
    }
}

async fn checkpoint(State(state): State<AppState>, caller: Result<Caller, AppError>) -> Response {
    let viewer = match viewer(&state, caller) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match reads::log_checkpoint(&state.db, viewer.as_ref()).await {
        Ok(note) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            note,
        )
            .into_response(),
        Err(e) => refused(e),
    }
}

async fn tile(
    State(state): State<AppState>,
    Path(path): Path<String>,
    caller: Result<Caller, AppError>,
) -> Response {
    let viewer = match viewer(&state, caller) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match reads::log_tile(&state.db, viewer.as_ref(), &path).await {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                // Immutable: a tile path names the same bytes forever.
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("max-age=31536000, immutable"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => refused(e),
    }
}
