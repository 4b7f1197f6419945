//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use super::AppState;
use crate::db;
use crate::error::AppError;
use crate::metrics;

/// The process is alive.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers and its schema is current.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, AppError> {
    match db::ready(&state.db).await {
        Ok(true) => Ok("ready"),
        Ok(false) => Err(AppError::Unavailable {
            message: "migrations pending".into(),
            retry_after_secs: Some(5),
        }),
        Err(e) => Err(AppError::database(e)),
    }
}

/// OpenMetrics text exposition.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let queue = db::deliveries::count_by_status(&state.db)
        .await
        .unwrap_or_default();
    let text = state.metrics.render(&queue).map_err(AppError::internal)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        text,
    ))
}
