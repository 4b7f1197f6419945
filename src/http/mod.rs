//! The HTTP surface: router, webhook intake, health and metrics, the read API.

pub mod api;
pub mod edge;
pub mod error;
pub mod extract;
mod gradebook;
mod health;
pub mod intake;
pub mod openapi;
pub mod pages;
mod reject;
pub mod setup;
mod tiles;
mod webhook;

use std::sync::Arc;

use crate::db::Pool;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Notify;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use self::edge::Edge;
use crate::http::extract::{SecretsState, MAX_BODY_BYTES};
use crate::metrics::Metrics;
use crate::webhook::signature::WebhookSecrets;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub db: Pool,
    /// The edge's group committer for incoming deliveries.
    pub intake: crate::http::intake::Intake,
    pub secrets: Option<WebhookSecrets>,
    /// Wakes a worker when a delivery was queued.
    pub wake: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    /// The App manifest flow, active only while no webhook secret is configured.
    pub setup: Option<Arc<setup::SetupState>>,
    /// The audit log's origin (for entries the API appends).
    pub origin: String,
    /// Seconds until the next checkpoint is due at the latest (`Retry-After` of a proof not covered yet).
    pub checkpoint_interval_secs: u64,
    /// The edge's limits, budgets and gauges.
    pub edge: Arc<Edge>,
    /// GitHub's web URL (repository links in grades exports).
    pub github_web_url: url::Url,
    /// `/log/` (tlog-tiles) without a token (`LABTRAIL_PUBLIC_LOG`).
    pub public_log: bool,
    /// The GitHub App (invitations create repositories with it), when configured.
    pub github: Option<crate::github::GithubApp>,
}

impl FromRef<AppState> for Arc<Edge> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.edge)
    }
}

impl FromRef<AppState> for SecretsState {
    fn from_ref(state: &AppState) -> Self {
        SecretsState(state.secrets.clone())
    }
}

/// The application's routes, with `pages` (the instructor web view) merged in; the edge's body deadline,
/// the panic catcher ([`pages::catch_panics`]) and the request trace cover them all.
pub fn router(state: AppState, pages: Router) -> Router {
    let edge_state = Arc::clone(&state.edge);
    let setup_pages = Router::new()
        .route("/setup", get(setup::page_handler))
        .route("/setup/callback", get(setup::callback))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            setup::page_headers,
        ));
    Router::new()
        .route(
            "/webhooks/github",
            post(webhook::receive).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(setup_pages)
        .nest("/api/v1", api::router())
        .nest("/log", tiles::router())
        .with_state(state)
        .merge(pages)
        .layer(axum::middleware::from_fn_with_state(
            edge_state,
            edge::body_deadline,
        ))
        .layer(pages::catch_panics())
        // A failed request is logged where it fails (handlers, the panic catcher), once, and a refused
        // one is counted (metrics) and summarised, not logged a line each: the trace's own failure line
        // only at debug.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
}

/// The span of a request: its method and path, never its query (OAuth codes and states ride there) and
/// never an invitation code (`/join/<code>` is logged as `/join/…`).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %redacted_path(request.uri().path()),
    )
}

/// `path` as logged: an invitation code replaced by `…`.
pub fn redacted_path(path: &str) -> &str {
    if path.starts_with("/join/") {
        "/join/…"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn invitation_codes_are_not_logged() {
        assert_eq!(redacted_path("/join/abcDEF123_-"), "/join/…");
        assert_eq!(redacted_path("/join/"), "/join/…");
        assert_eq!(redacted_path("/sessions/lab3"), "/sessions/lab3");
    }
}
