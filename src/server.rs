//! Running the app: HTTP server plus delivery workers, with graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::audit::checkpoint::CheckpointConfig;
use crate::http::edge::{self, Edge, EdgeLimits};
use crate::http::setup::SetupState;
use crate::http::{router, AppState};
use crate::jobs::{self, JobsConfig};
use crate::metrics::Metrics;
use crate::redeliver::RedeliverPolicy;
use crate::setup::SetupConfig;
use crate::web::{WebConfig, WebState};
use crate::webhook::signature::WebhookSecrets;
use crate::worker::{Pipeline, WorkerConfig};

/// How long workers and background jobs get to finish their current run at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// `Retry-After` of an uncovered proof when this instance writes no checkpoints (another one may).
const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// What the server needs beyond the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `None`: setup mode, deliveries are answered 503.
    pub secrets: Option<WebhookSecrets>,
    pub worker: WorkerConfig,
    /// Worker tasks in this instance (`serve` asks for at least one; 0: none, the tests drive
    /// [`Pipeline::step`] inline).
    pub workers: usize,
    /// The App manifest flow (`/setup`), served while no webhook secret is configured.
    pub setup: Option<SetupConfig>,
    /// Signed checkpoints (`None`: none written by this instance).
    pub checkpoints: Option<CheckpointConfig>,
    /// The periodic redelivery catch-up, run when the GitHub App is configured (`None`: off).
    pub redeliver: Option<RedeliverPolicy>,
    /// Timeouts, caps and budgets of the HTTP edge.
    pub edge: EdgeLimits,
    /// The instructor web view.
    pub web: WebConfig,
    /// GitHub's web URL (repository links in grades exports).
    pub github_web_url: url::Url,
}

/// Serve on `listener` until `shutdown` completes; then stop taking requests and let workers drain.
pub async fn run(
    db: DatabaseConnection,
    cfg: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = Arc::new(Metrics::with_github(
        cfg.worker.github.as_ref().map(|app| app.counters()),
    ));
    let edge = Arc::new(Edge::new(cfg.edge));
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let origin = cfg.worker.origin.clone();
    let checkpoint_interval_secs = cfg
        .checkpoints
        .as_ref()
        .map_or(DEFAULT_RETRY_AFTER_SECS, |c| c.interval.as_secs().max(1));
    let verifier_key = cfg.checkpoints.as_ref().map(|c| c.key.verifier().to_vkey());
    let web = Arc::new(WebState::new(cfg.web, verifier_key));
    let jobs = jobs::spawn_all(
        &db,
        JobsConfig {
            origin: origin.clone(),
            github: cfg.worker.github.clone(),
            check_runs: cfg.worker.check_runs.clone(),
            files_retry: cfg.worker.files_retry,
            // Without a webhook secret every redelivery would be answered 503 again: no catch-up then.
            redeliver: cfg.redeliver.filter(|_| cfg.secrets.is_some()),
            checkpoints: cfg.checkpoints,
        },
        stop_rx.clone(),
    );
    let pipeline = Arc::new(Pipeline::new(db.clone(), cfg.worker, Arc::clone(&metrics)));
    let workers = pipeline.spawn(cfg.workers, Arc::clone(&wake), stop_rx);
    let state = AppState {
        db,
        secrets: cfg.secrets,
        wake,
        metrics,
        setup: cfg.setup.map(|c| Arc::new(SetupState::new(c))),
        origin,
        checkpoint_interval_secs,
        edge: Arc::clone(&edge),
        web,
        github_web_url: cfg.github_web_url,
    };
    let served = edge::serve(listener, router(state), edge, shutdown).await;
    let _ = stop_tx.send(true);
    jobs.stop(workers, DRAIN_TIMEOUT).await;
    served
}
