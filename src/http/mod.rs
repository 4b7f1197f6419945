//! The HTTP surface: router, webhook intake, health and metrics, the read API.

pub mod api;
pub mod edge;
pub mod error;
pub mod extract;
mod health;
pub mod intake;
pub mod openapi;
mod reject;
pub mod setup;
mod webhook;

use std::sync::Arc;

use crate::db::Pool;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;

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

/// The application's routes, with `pages` (the instructor web view) merged in; the edge's body deadline
/// and the request trace cover them all.
pub fn router(state: AppState, pages: Router) -> Router {
    let edge_state = Arc::clone(&state.edge);
    Router::new()
        .route(
            "/webhooks/github",
            post(webhook::receive).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/setup", get(setup::page_handler))
        .route("/setup/callback", get(setup::callback))
        .nest("/api/v1", api::router())
        .with_state(state)
        .merge(pages)
        .layer(axum::middleware::from_fn_with_state(
            edge_state,
            edge::body_deadline,
        ))
        .layer(TraceLayer::new_for_http())
}
