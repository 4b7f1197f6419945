//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;

use super::AppState;
use crate::db;
use crate::http::error::AppError;
use crate::metrics;

/// The process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Deliveries can be recorded: a webhook secret is set (not setup mode), the database answers with its
/// schema current, and the log's origin is the configured one.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, AppError> {
    if state.secrets.is_none() {
        return Err(AppError::Unavailable {
            message: "setup mode: GITHUB_WEBHOOK_SECRET is not set, so deliveries are refused"
                .into(),
            retry_after_secs: None,
        });
    }
    match db::ready(&state.db).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(AppError::Unavailable {
                message: "migrations pending".into(),
                retry_after_secs: Some(5),
            })
        }
        Err(e) => return Err(AppError::database(e)),
    }
    match crate::audit::check_origin(&state.db, &state.origin).await {
        Ok(()) => Ok("ready"),
        Err(crate::audit::AuditError::Db(e)) => Err(AppError::database(e)),
        Err(e) => Err(AppError::Unavailable {
            message: e.to_string(),
            retry_after_secs: None,
        }),
    }
}

/// OpenMetrics text exposition; the stored deliveries' counts are cached (`metrics_cache_ttl`), so a
/// scrape costs the database at most one grouped count per interval, whatever the scrape rate.
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    state.edge.check_metrics_token(&headers)?;
    let queue = state.edge.queue_counts(&state.db).await.unwrap_or_default();
    let text = state
        .metrics
        .render(&queue, &state.edge.gauges())
        .map_err(AppError::internal)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        text,
    ))
}
