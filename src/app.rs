//! The composition root: [`Settings`] → [`App::build`] (database, keys, GitHub client) →
//! [`App::run`] (router, workers and periodic tasks on a listener until shutdown).
//!
//! `labtrail serve`, the integration tests and the intake benchmark all start the app through here, so
//! no copy of the wiring can skip a step (such as loading the checkpoint key).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::audit::checkpoint::{self, AuditKey, CheckpointConfig, CheckpointError, KeyError};
use crate::db;
use crate::github::app_setup::SetupConfig;
use crate::github::{GithubApp, GithubAppConfig, GithubError};
use crate::http::edge::{self, Edge, EdgeLimits};
use crate::http::setup::SetupState;
use crate::http::{router, AppState};
use crate::jobs;
use crate::jobs::redeliver::RedeliverPolicy;
use crate::jobs::worker::{Pipeline, WorkerConfig};
use crate::metrics::Metrics;
use crate::web::{self, WebApp, WebConfig, WebState};
use crate::webhook::signature::WebhookSecrets;

/// Everything the app is started from (built from the command line and environment by `serve`; tests
/// change only the database, the port and where GitHub is). No `Debug`: it holds the App's key.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    /// The audit log's origin.
    pub origin: String,
    /// Any of these may sign a delivery; none: setup mode, deliveries are answered 503.
    pub webhook_secrets: Vec<SecretString>,
    /// The GitHub App; `None`: attempts from payloads only, no check runs.
    pub github: Option<GithubAppConfig>,
    /// Worker tuning (its `origin` and `github` are set from the fields above).
    pub worker: WorkerConfig,
    /// Worker tasks in this instance (`serve` asks for at least one; 0: none, the tests drive
    /// [`Pipeline::step`] inline).
    pub workers: usize,
    /// The App manifest flow (`/setup`), served while no webhook secret is configured.
    pub setup: Option<SetupConfig>,
    /// Signed checkpoints: the key is loaded (or created) before the app listens; `None`: none.
    pub checkpoints: Option<CheckpointSettings>,
    /// Witnesses asked to cosign each checkpoint (`LABTRAIL_WITNESSES`; used only with `checkpoints`).
    pub witnesses: Vec<crate::audit::witness::Witness>,
    /// Serve the `tlog-tiles` API under `/log/` without a token (`LABTRAIL_PUBLIC_LOG`).
    pub public_log: bool,
    /// The periodic redelivery catch-up (with the GitHub App and a secret); `None`: off.
    pub redeliver: Option<RedeliverPolicy>,
    /// Timeouts, caps and budgets of the HTTP edge (docs/security.md).
    pub edge: EdgeLimits,
    /// The instructor web view: public URL, GitHub's URLs (also the grades exports'), the OAuth client.
    pub web: WebConfig,
}

/// Where the checkpoint key and file are, and how often a checkpoint is written.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    pub key_path: PathBuf,
    pub file: PathBuf,
    pub interval: Duration,
}

impl Settings {
    /// Defaults: no secret, no GitHub App, four workers, no checkpoints, no catch-up, the edge's
    /// default limits.
    pub fn new(database_url: impl Into<String>, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        Self {
            database_url: database_url.into(),
            worker: WorkerConfig::new(origin.clone()),
            origin,
            webhook_secrets: Vec::new(),
            github: None,
            workers: 4,
            setup: None,
            checkpoints: None,
            witnesses: Vec::new(),
            public_log: false,
            redeliver: None,
            edge: EdgeLimits::default(),
            web: WebConfig::new(url::Url::parse("http://localhost:3000").expect("a valid URL")),
        }
    }
}

/// Why the app cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Cannot open the database (check DATABASE_URL)")]
    Connect(#[source] DbErr),
    #[error(transparent)]
    Migrate(db::MigrateError),
    #[error("Cannot bring the audit log's Merkle tree up to date")]
    Backfill(#[source] DbErr),
    #[error(
        "Cannot set up the GitHub App (check GITHUB_APP_ID, the private key and GITHUB_API_URL)"
    )]
    Github(#[source] GithubError),
    #[error(transparent)]
    Key(#[from] KeyLoadError),
    #[error(transparent)]
    Origin(crate::audit::AuditError),
}

/// Why the checkpoint key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("Cannot read the audit checkpoints")]
    Checkpoints(#[source] DbErr),
    #[error(
        "No audit key at {}, but this log already has signed checkpoints: copy the key file of the \
         instance that signed them (LABTRAIL_AUDIT_KEY_PATH) instead of starting with a new one",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("Cannot load or create the audit key {}", .0.display())]
    Load(PathBuf, #[source] KeyError),
    #[error("Cannot use the audit key {}", .0.display())]
    Foreign(PathBuf, #[source] CheckpointError),
}

/// The checkpoint key: loaded, or created when absent and the log has no checkpoint yet. A missing key
/// for a log that already has checkpoints, or a key that did not sign them, is refused: another
/// instance's key must be copied, not replaced. Only its public half is ever logged.
pub async fn load_or_create_key(
    db: &DatabaseConnection,
    path: &Path,
    origin: &str,
) -> Result<AuditKey, KeyLoadError> {
    let newest = checkpoint::latest(db)
        .await
        .map_err(KeyLoadError::Checkpoints)?;
    if newest.is_some() && !path.exists() {
        return Err(KeyLoadError::Missing(path.to_owned()));
    }
    let (key, created) = AuditKey::load_or_create(path, origin)
        .map_err(|e| KeyLoadError::Load(path.to_owned(), e))?;
    checkpoint::check_same_key(newest.as_ref(), &key)
        .map_err(|e| KeyLoadError::Foreign(path.to_owned(), e))?;
    if created {
        tracing::info!(path = %path.display(), public_key = %key.verifier().to_vkey(), "created the audit checkpoint key");
    }
    Ok(key)
}

/// `<key path>.pub`: where the verifier key is published beside the signing key.
pub fn public_key_path(key_path: &Path) -> PathBuf {
    let mut name = key_path.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// Write the verifier key (`origin+id+base64`, one line) to `<key path>.pub`, mode 0644: it is public.
pub fn write_public_key(key_path: &Path, key: &AuditKey) -> std::io::Result<PathBuf> {
    let path = public_key_path(key_path);
    std::fs::write(&path, format!("{}\n", key.verifier().to_vkey()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(path)
}

/// A built app, ready to serve.
pub struct App {
    db: DatabaseConnection,
    /// As given, with the worker's and the web view's settings completed (origin, GitHub App, links).
    settings: Settings,
    /// Signed checkpoints with the loaded key (`None`: none written by this instance).
    checkpoints: Option<CheckpointConfig>,
}

impl App {
    /// Connect and migrate the database, set up the GitHub App and load the checkpoint key.
    pub async fn build(mut settings: Settings) -> Result<Self, BuildError> {
        let db = db::connect(&settings.database_url)
            .await
            .map_err(BuildError::Connect)?;
        db::migrate(&db).await.map_err(BuildError::Migrate)?;
        // A changed origin would fail every delivery until `dead`: refuse to start instead.
        crate::audit::check_origin(&db, &settings.origin)
            .await
            .map_err(BuildError::Origin)?;
        crate::audit::merkle_store::backfill(&db, &settings.origin)
            .await
            .map_err(BuildError::Backfill)?;
        let github = settings
            .github
            .clone()
            .map(GithubApp::new)
            .transpose()
            .map_err(BuildError::Github)?;
        // Before listening: a server that cannot sign checkpoints does not start.
        let checkpoints = match &settings.checkpoints {
            Some(c) => {
                let key = load_or_create_key(&db, &c.key_path, &settings.origin).await?;
                // Published for anyone checking proofs; a read-only key directory is not fatal.
                if let Err(e) = write_public_key(&c.key_path, &key) {
                    tracing::warn!(path = %public_key_path(&c.key_path).display(), error = %e, "cannot write the audit public key file");
                }
                Some(CheckpointConfig {
                    key: Arc::new(key),
                    origin: settings.origin.clone(),
                    file: c.file.clone(),
                    interval: c.interval,
                })
            }
            None => None,
        };
        settings.worker.origin = settings.origin.clone();
        // Check runs link to the attempt's page.
        settings.worker.check_runs.details_url_base = Some(settings.web.base().to_owned());
        settings.worker.github = github;
        Ok(Self {
            db,
            settings,
            checkpoints,
        })
    }

    /// The app's database connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The worker settings as built (origin, GitHub App, check-run links completed).
    pub fn worker(&self) -> &crate::jobs::worker::WorkerConfig {
        &self.settings.worker
    }

    /// The GitHub App, when configured.
    pub fn github(&self) -> Option<&GithubApp> {
        self.settings.worker.github.as_ref()
    }

    /// Serve on `listener` until `shutdown` completes; then stop taking requests and let workers drain.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            db,
            settings: cfg,
            checkpoints,
        } = self;
        // The web view's cookie key may be derived from the (current) webhook secret.
        let webhook_secret = cfg.webhook_secrets.first().cloned();
        // `None`: setup mode, deliveries are answered 503.
        let secrets = WebhookSecrets::new(cfg.webhook_secrets);
        let metrics = Arc::new(Metrics::with_github(
            cfg.worker.github.as_ref().map(|app| app.counters()),
        ));
        let edge = Arc::new(Edge::new(cfg.edge));
        let github = cfg.worker.github.clone();
        let wake = Arc::new(Notify::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let origin = cfg.origin.clone();
        let checkpoint_interval_secs = checkpoints
            .as_ref()
            .map_or(DEFAULT_RETRY_AFTER_SECS, |c| c.interval.as_secs().max(1));
        let verifier_key = checkpoints.as_ref().map(|c| c.key.verifier().to_vkey());
        let github_web_url = cfg.web.github_web_url.clone();
        let web = Arc::new(WebState::new(
            cfg.web,
            verifier_key,
            webhook_secret.as_ref(),
        ));
        let witnesses = checkpoints
            .as_ref()
            .filter(|_| !cfg.witnesses.is_empty())
            .map(|c| {
                jobs::witness::WitnessConfig::new(
                    cfg.witnesses.clone(),
                    origin.clone(),
                    c.file.clone(),
                    c.interval,
                    Arc::clone(&metrics),
                )
            });
        let jobs = jobs::spawn_all(
            &db,
            &cfg.worker,
            // Without a webhook secret every redelivery would be answered 503 again: no catch-up then.
            cfg.redeliver.filter(|_| secrets.is_some()),
            checkpoints,
            &metrics,
            witnesses,
            stop_rx.clone(),
        );
        let pipeline = Arc::new(Pipeline::new(db.clone(), cfg.worker, Arc::clone(&metrics)));
        let workers = pipeline.spawn(cfg.workers, Arc::clone(&wake), stop_rx);
        let state = AppState {
            intake: crate::http::intake::Intake::start(db.clone(), Arc::clone(&edge)),
            db,
            secrets,
            wake,
            metrics,
            setup: cfg.setup.map(|c| Arc::new(SetupState::new(c))),
            origin,
            checkpoint_interval_secs,
            edge: Arc::clone(&edge),
            github_web_url,
            public_log: cfg.public_log,
            github,
        };
        let pages = web::router(WebApp {
            app: state.clone(),
            web,
        });
        let served = edge::serve(listener, router(state, pages), edge, shutdown).await;
        let _ = stop_tx.send(true);
        jobs.stop(workers, DRAIN_TIMEOUT).await;
        served
    }
}

/// How long workers and background jobs get to finish their current run at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// `Retry-After` of an uncovered proof when this instance writes no checkpoints (another one may).
const DEFAULT_RETRY_AFTER_SECS: u64 = 60;
