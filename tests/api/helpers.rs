//! Test harness: a fresh database per test (SQLite file; PostgreSQL database created and dropped), a
//! running server on port 0, and helpers to sign and send deliveries like GitHub does.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use labtrail::app::{App, CheckpointSettings, Settings};
use labtrail::db;
use labtrail::github::{CallPolicy, GithubAppConfig};
use labtrail::http::edge::EdgeLimits;
use labtrail::jobs::redeliver::RedeliverPolicy;
use labtrail::jobs::worker::{Pipeline, RetryPolicy, Step, WorkerConfig};
use labtrail::jobs::CheckRunPolicy;
use labtrail::webhook::signature;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Statement,
};
use secrecy::SecretString;
use serde_json::Value;

/// The database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    /// SQLite: the directory holding the file. PostgreSQL: (admin URL, database name).
    sqlite_dir: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("labtrail-test-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                // An empty file is an empty SQLite database, like the empty PostgreSQL database below: the
                // CLI refuses a database that does not exist.
                std::fs::File::create(dir.join("labtrail.db")).expect("create the database file");
                let url = format!("sqlite://{}?mode=rwc", dir.join("labtrail.db").display());
                Some(Self {
                    backend,
                    url,
                    sqlite_dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => Self::create_postgres().await,
        }
    }

    async fn create_postgres() -> Option<Self> {
        if skip_postgres() {
            postgres_skipped("LABTRAIL_SKIP_POSTGRES=1".to_owned());
            return None;
        }
        let admin_url = postgres_admin_url();
        // Once found unreachable, the other runs fail at once instead of each waiting for the timeout.
        if let Some(why) = POSTGRES_UNREACHABLE.get() {
            panic!("{why}");
        }
        let options = sea_orm::ConnectOptions::new(admin_url.clone())
            .acquire_timeout(Duration::from_secs(10))
            .to_owned();
        let admin = match Database::connect(options).await {
            Ok(c) => c,
            Err(e) => panic!(
                "{}",
                POSTGRES_UNREACHABLE.get_or_init(|| format!(
                    "PostgreSQL is not reachable at {admin_url} ({e}): start it (pg_ctlcluster 15 main \
                     start), point LABTRAIL_TEST_POSTGRES_URL at one, or set LABTRAIL_SKIP_POSTGRES=1 to \
                     skip the PostgreSQL half of the suite"
                ))
            ),
        };
        let name = format!("labtrail_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(Statement::from_string(
                DbBackend::Postgres,
                format!("CREATE DATABASE {name}"),
            ))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("postgres URL");
        url.set_path(&format!("/{name}"));
        Some(Self {
            backend: Backend::Postgres,
            url: url.to_string(),
            sqlite_dir: None,
            postgres: Some((admin_url, name)),
        })
    }

    async fn destroy(&self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin_url, name)) = &self.postgres {
            let _ = std::fs::remove_dir_all(
                std::env::temp_dir().join(format!("labtrail-scratch-{name}")),
            );
            if let Ok(admin) = Database::connect(admin_url).await {
                let _ = admin
                    .execute(Statement::from_string(
                        DbBackend::Postgres,
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ))
                    .await;
                admin.close().await.ok();
            }
        }
    }

    /// A directory for files the test writes (keys, checkpoints, archives); removed with the database.
    pub fn scratch_dir(&self) -> PathBuf {
        let dir = match &self.sqlite_dir {
            Some(d) => d.join("scratch"),
            None => std::env::temp_dir().join(format!(
                "labtrail-scratch-{}",
                self.postgres.as_ref().map_or("x", |p| p.1.as_str())
            )),
        };
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// The checkpoint key the CLI uses by default (it runs in the scratch directory).
    pub fn key_path(&self) -> PathBuf {
        self.scratch_dir().join("labtrail-audit.key")
    }

    /// The checkpoint file the CLI uses by default.
    pub fn checkpoint_file(&self) -> PathBuf {
        self.scratch_dir().join("labtrail-checkpoints.log")
    }

    /// A new connection to this database (migrated).
    pub async fn connect(&self) -> DatabaseConnection {
        let conn = db::connect(&self.url)
            .await
            .expect("connect to test database");
        db::migrate(&conn).await.expect("migrate test database");
        conn
    }
}

/// The server the PostgreSQL runs create their databases on: `LABTRAIL_TEST_POSTGRES_URL`, by default the
/// local one.
pub fn postgres_admin_url() -> String {
    std::env::var("LABTRAIL_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `LABTRAIL_SKIP_POSTGRES=1`: the PostgreSQL runs pass without running (the only way they skip).
pub fn skip_postgres() -> bool {
    std::env::var("LABTRAIL_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// Why the PostgreSQL server could not be reached, once a run found it so.
static POSTGRES_UNREACHABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// PostgreSQL runs skipped so far, and why.
static POSTGRES_SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static POSTGRES_SKIP_REASON: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Count a PostgreSQL run that passes without running; the first registers [`postgres_notice`] to run
/// when the test process exits, after the harness printed its summary.
fn postgres_skipped(reason: String) {
    if POSTGRES_SKIP_REASON.set(reason).is_ok() {
        extern "C" {
            fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
        }
        // SAFETY: `atexit` from the C runtime every Rust program links, given a function that neither
        // unwinds (it only writes to stderr) nor exits.
        unsafe {
            atexit(postgres_notice);
        }
    }
    POSTGRES_SKIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The one line saying that the PostgreSQL half of the suite did not run.
extern "C" fn postgres_notice() {
    use std::io::Write;
    let n = POSTGRES_SKIPPED.load(std::sync::atomic::Ordering::Relaxed);
    let why = POSTGRES_SKIP_REASON.get().map_or("", String::as_str);
    let _ = writeln!(
        std::io::stderr(),
        "NOTE: {n} PostgreSQL tests passed without running ({why}); unset it to run them"
    );
}

/// Run a test body against a fresh database of `backend`, dropping it afterwards even on failure.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let result = std::panic::AssertUnwindSafe(test(db.clone()))
        .catch_unwind()
        .await;
    db.destroy().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Declare tests that run once per backend: `backend_tests!(name_a, name_b);` for
/// `async fn name_a(db: TestDb)` functions in the same module.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::helpers::run($crate::helpers::Backend::Sqlite, super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::helpers::run($crate::helpers::Backend::Postgres, super::$name).await
                }
            }
        )*
    };
}

pub const SECRET: &str = "test-webhook-secret";
pub const ORIGIN: &str = "labtrail.test";

/// Options of a spawned app.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub secrets: Vec<String>,
    /// Background worker tasks. 0 (the default): none, and the server's sweep runs only at start; the
    /// test settles deliveries with [`TestApp::drain`], so nothing races it. Lease, concurrency and
    /// periodic-task tests ask for workers ([`AppOptions::with_workers`]).
    pub workers: usize,
    /// The workers' settings (retries, leases, check runs, file lists, batch size); the app sets their
    /// origin and GitHub App.
    pub worker: WorkerConfig,
    /// The `/setup` flow (served only without secrets).
    pub setup: Option<labtrail::github::app_setup::SetupConfig>,
    /// Write signed checkpoints this often (key and file in the scratch directory, where the CLI finds
    /// them by default); `None`: no checkpoint task.
    pub checkpoint_interval: Option<Duration>,
    /// Witnesses asked to cosign each checkpoint (only with `checkpoint_interval`).
    pub witnesses: Vec<labtrail::audit::witness::Witness>,
    /// Serve `/log/` (tlog-tiles) without a token.
    pub public_log: bool,
    /// The GitHub App (a fake GitHub's URL and the test-only key); `None`: payload only.
    pub github: Option<GithubOptions>,
    /// The periodic redelivery catch-up (with `github`); `None`: off, so other tests see no such calls.
    pub redeliver: Option<RedeliverPolicy>,
    /// The HTTP edge's timeouts, caps and budgets.
    pub edge: EdgeLimits,
    /// "Sign in with GitHub" against a fake GitHub; `None`: token sign-in only.
    pub web_oauth: Option<WebOauthOptions>,
}

/// The web view's OAuth client and where GitHub's web and API are.
#[derive(Debug, Clone)]
pub struct WebOauthOptions {
    pub web_url: String,
    pub api_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// `LABTRAIL_INSTRUCTOR_TEAM`.
    pub team: Option<String>,
}

/// An app whose App and "Sign in with GitHub" are `fake` (OAuth client `client_id` / `secret`, the
/// fake told of the app's callback; staff of `team`, when given), with `opts` otherwise.
pub async fn spawn_app_signing_in_with(
    test_db: &TestDb,
    fake: &crate::fake_github::FakeGithub,
    (client_id, secret): (&str, &str),
    team: Option<&str>,
    opts: AppOptions,
) -> TestApp {
    let opts = AppOptions {
        web_oauth: Some(WebOauthOptions {
            web_url: fake.web_url(),
            api_url: fake.api_url(),
            client_id: client_id.into(),
            client_secret: secret.into(),
            team: team.map(Into::into),
        }),
        ..opts
    };
    let app = spawn_app_with(test_db, opts).await;
    fake.set_oauth_client(
        client_id,
        secret,
        &format!("{}/login/callback", app.base_url),
    );
    app
}

/// App credentials and where GitHub is.
#[derive(Debug, Clone)]
pub struct GithubOptions {
    pub api_url: String,
    pub app_id: u64,
    pub key_pem: String,
    pub policy: CallPolicy,
}

impl GithubOptions {
    /// Talk to `fake` as its App, with a quick call policy.
    pub fn for_fake(fake: &crate::fake_github::FakeGithub) -> Self {
        Self {
            api_url: fake.api_url(),
            app_id: crate::fake_github::APP_ID,
            key_pem: crate::fake_github::app_key_pem(),
            policy: CallPolicy {
                max_tries: 3,
                base_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
                max_wait: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
                token_refresh_margin: Duration::from_secs(300),
            },
        }
    }
}

impl AppOptions {
    /// Background workers that poll, claim and sweep on their own (lease and concurrency tests), with
    /// the small delays they need to make progress.
    pub fn with_workers(self, workers: usize) -> Self {
        let mut opts = Self { workers, ..self };
        let w = &mut opts.worker;
        w.retry.base_delay = Duration::from_millis(50);
        w.retry.max_delay = Duration::from_millis(200);
        w.check_runs.base_delay = Duration::from_millis(50);
        w.check_runs.max_delay = Duration::from_millis(200);
        w.files_retry = Duration::from_millis(100);
        w.check_runs.sweep_interval = Duration::from_millis(100);
        opts
    }

    /// Defaults, with the App talking to `fake`.
    pub fn with_github(fake: &crate::fake_github::FakeGithub) -> Self {
        Self {
            github: Some(GithubOptions::for_fake(fake)),
            ..Self::default()
        }
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        let mut worker = WorkerConfig::new(ORIGIN.to_owned());
        // No delays: whatever failed is due again at once, so `drain` retries it in its next step.
        worker.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        worker.poll_interval = Duration::from_millis(100);
        worker.lease = Duration::from_secs(300);
        worker.files_retry = Duration::ZERO;
        worker.check_runs = CheckRunPolicy {
            lease: Duration::from_secs(10),
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_tries: 5,
            // Without workers `drain` runs the sweep; the server's own sweep runs only at start.
            sweep_interval: Duration::from_secs(3600),
            details_url_base: None,
        };
        Self {
            secrets: vec![SECRET.to_owned()],
            workers: 0,
            worker,
            setup: None,
            checkpoint_interval: None,
            witnesses: Vec::new(),
            public_log: false,
            github: None,
            redeliver: None,
            edge: EdgeLimits::default(),
            web_oauth: None,
        }
    }
}

/// A running app.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub db: DatabaseConnection,
    pub test_db: TestDb,
    pub client: reqwest::Client,
    /// The app's pipeline, run inline by [`TestApp::drain`] (apps spawned without workers).
    pipeline: Option<Pipeline>,
    /// The app's worker settings: what `drain`'s sweep rounds need.
    worker: WorkerConfig,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Spawn the app with default options.
pub async fn spawn_app(db: &TestDb) -> TestApp {
    spawn_app_with(db, AppOptions::default()).await
}

/// Spawn the app on port 0 against `db` (migrated first, as `serve` does).
pub async fn spawn_app_with(test_db: &TestDb, opts: AppOptions) -> TestApp {
    // `RUST_LOG=labtrail=debug cargo test …` shows the app's logs.
    if std::env::var_os("RUST_LOG").is_some() {
        labtrail::cli::telemetry::init(labtrail::cli::config::LogFormat::Pretty);
    }
    let db = test_db.connect().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let mut settings = Settings::new(test_db.url.clone(), ORIGIN);
    settings.webhook_secrets = opts
        .secrets
        .iter()
        .map(|s| SecretString::from(s.clone()))
        .collect();
    settings.github = opts.github.map(|g| GithubAppConfig {
        app_id: g.app_id,
        private_key_pem: SecretString::from(g.key_pem),
        api_url: url::Url::parse(&g.api_url).expect("api url"),
        policy: g.policy,
    });
    settings.worker = opts.worker;
    settings.workers = opts.workers;
    settings.setup = opts.setup;
    settings.checkpoints = opts.checkpoint_interval.map(|interval| CheckpointSettings {
        key_path: test_db.key_path(),
        file: test_db.checkpoint_file(),
        interval,
    });
    settings.witnesses = opts.witnesses;
    settings.public_log = opts.public_log;
    settings.redeliver = opts.redeliver;
    settings.edge = opts.edge;
    let mut web = labtrail::web::WebConfig::new(
        url::Url::parse(&format!("http://{addr}")).expect("base url"),
    );
    if let Some(o) = opts.web_oauth {
        web.github_web_url = url::Url::parse(&o.web_url).expect("web url");
        web.github_api_url = url::Url::parse(&o.api_url).expect("api url");
        web.oauth = Some(labtrail::web::OauthClient {
            client_id: o.client_id,
            client_secret: SecretString::from(o.client_secret),
        });
        web.instructor_team = o.team.as_deref().and_then(labtrail::web::parse_team);
    }
    settings.web = web;
    let app = App::build(settings).await.expect("build the app");
    // The worker settings as the app completed them, for `drain`.
    let worker: WorkerConfig = app.worker().clone();
    let pipeline = (opts.workers == 0).then(|| {
        let metrics = labtrail::metrics::Metrics::with_github(
            worker.github.as_ref().map(|app| app.counters()),
        );
        Pipeline::new(
            app.db().clone(),
            worker.clone(),
            std::sync::Arc::new(metrics),
        )
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(listener, async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base_url: format!("http://{addr}"),
        db,
        test_db: test_db.clone(),
        client: reqwest::Client::new(),
        pipeline,
        worker,
        shutdown: Some(tx),
        handle,
    }
}

/// Read a fixture from `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read fixture {}: {e}", p.display()))
}

/// A fixture as JSON, to derive variants in code.
pub fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).expect("fixture is JSON")
}

/// `sha256=…` of a body under a secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    signature::sign(&SecretString::from(secret.to_owned()), body)
}

/// Counts of every table, to show that a refused request changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct RowCounts(pub Vec<(&'static str, i64)>);

impl TestApp {
    /// POST a delivery signed with the default secret.
    pub async fn deliver(&self, event: &str, guid: &str, body: &[u8]) -> reqwest::Response {
        self.deliver_signed(event, guid, body, &sign(SECRET, body))
            .await
    }

    /// [`Self::deliver`], and the answer's status code.
    pub async fn deliver_status(&self, event: &str, guid: &str, body: &[u8]) -> u16 {
        self.deliver(event, guid, body).await.status().as_u16()
    }

    /// POST a delivery with a given signature header value.
    pub async fn deliver_signed(
        &self,
        event: &str,
        guid: &str,
        body: &[u8],
        sig: &str,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}/webhooks/github", self.base_url))
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/test")
            .header("x-github-event", event)
            .header("x-github-delivery", guid)
            .header("x-hub-signature-256", sig)
            .body(body.to_vec())
            .send()
            .await
            .expect("send delivery")
    }

    /// Create a lab session through the library (as `labtrail session create` does), open from `opens` to
    /// `closes` (RFC 3339).
    pub async fn create_session(
        &self,
        org: &str,
        slug: &str,
        pattern: &str,
        (opens, closes): (&str, &str),
    ) -> entity::lab_session::Model {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("rfc3339")
                .with_timezone(&Utc)
        };
        db::sessions::create(
            &self.db,
            ORIGIN,
            "cli:test",
            db::sessions::NewSession {
                org: org.into(),
                slug: slug.into(),
                title: format!("Session {slug}"),
                repo_pattern: pattern.into(),
                branch_policy: "all".into(),
                opens_at: t(opens),
                closes_at: t(closes),
                timezone: "UTC".into(),
                score_check: None,
                // Tests of precedence create overlapping sessions on purpose.
                allow_overlap: true,
            },
        )
        .await
        .expect("create session")
    }

    /// The session most tests use: organisation `course`, `lab1` for `lab1-*` repositories, January 2026.
    pub async fn create_lab1_session(&self) -> entity::lab_session::Model {
        self.create_session("course", "lab1", "lab1-*", JANUARY_2026)
            .await
    }

    /// `labtrail deliveries list --status ignored --format json`; it must succeed.
    pub fn ignored_deliveries(&self) -> Value {
        let out = self.cli(&[
            "deliveries",
            "list",
            "--status",
            "ignored",
            "--format",
            "json",
        ]);
        serde_json::from_str(&cli_stdout(&out)).expect("json")
    }

    /// `labtrail roster import --org course` of `csv` (written to `roster.csv` in the scratch folder); it
    /// must succeed. Its stdout.
    pub fn import_roster(&self, csv: &str) -> String {
        let path = self.test_db.scratch_dir().join("roster.csv");
        std::fs::write(&path, csv).expect("write roster");
        cli_stdout(&self.cli(&[
            "roster",
            "import",
            "--org",
            "course",
            path.to_str().expect("utf-8"),
        ]))
    }

    /// The session the octokit push fixtures fall in: `Codertocat`, `hello` for `Hello-*`, May 2019.
    pub async fn create_hello_session(&self) -> entity::lab_session::Model {
        self.create_session("Codertocat", "hello", "Hello-*", MAY_2019)
            .await
    }

    /// POST a JSON payload as a signed `push` delivery.
    pub async fn deliver_push(&self, guid: &str, payload: &Value) -> reqwest::Response {
        let body = serde_json::to_vec(payload).expect("payload is JSON");
        self.deliver("push", guid, &body).await
    }

    /// Run the pipeline inline, as the workers would, until nothing is due: every due delivery claimed and
    /// processed (failures again at once: the test policies have no delays), then a round of the sweep
    /// (check runs, file lists) through the functions the server's sweep calls; again until a round
    /// changes nothing.
    pub async fn drain(&self) {
        for _ in 0..50 {
            let mut progressed = false;
            while self.step().await == Step::Processed {
                progressed = true;
            }
            if let Some(app) = &self.worker.github {
                let created =
                    labtrail::jobs::check_runs::sweep(app, &self.db, &self.worker.check_runs)
                        .await
                        .expect("sweep check runs");
                let rewritten = labtrail::jobs::check_runs::refresh_changed(
                    app,
                    &self.db,
                    &self.worker.origin,
                    &self.worker.check_runs,
                )
                .await
                .expect("rewrite check runs");
                let completed = labtrail::jobs::files::complete_later(
                    app,
                    &self.db,
                    &self.worker.origin,
                    self.worker.files_retry,
                )
                .await
                .expect("complete file lists");
                progressed |= created + rewritten + completed > 0;
            }
            if !progressed {
                return;
            }
        }
        panic!("the pipeline still has work after 50 rounds");
    }

    /// One step of the pipeline: claim the next due delivery and process it.
    pub async fn step(&self) -> Step {
        self.pipeline
            .as_ref()
            .expect("step runs the pipeline of an app spawned without workers")
            .step()
            .await
            .expect("claim a delivery")
    }

    /// [`Self::drain`], then the delivery, which must be settled.
    pub async fn settled(&self, guid: &str) -> entity::webhook_delivery::Model {
        self.drain().await;
        let d = self.delivery(guid).await;
        assert!(
            ["processed", "ignored", "dead", "rejected"].contains(&d.status.to_string().as_str()),
            "delivery {guid} is not settled: {d:?}"
        );
        d
    }

    /// [`Self::drain`], then check that every attempt has its check run.
    pub async fn drain_check_runs(&self) {
        // The app's own periodic sweep may hold an attempt (its publication lease) while this drain's
        // sweep runs: that one then skips it. Drain again until the holder has stored the run (10 s).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            self.drain().await;
            let missing: Vec<_> = self
                .attempts()
                .await
                .into_iter()
                .filter(|a| a.check_run_id.is_none())
                .map(|a| (a.id, a.check_run_error))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "attempts without a check run: {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A stored delivery.
    pub async fn delivery(&self, guid: &str) -> entity::webhook_delivery::Model {
        entity::webhook_delivery::Entity::find_by_id(guid.to_owned())
            .one(&self.db)
            .await
            .expect("read delivery")
            .unwrap_or_else(|| panic!("no delivery {guid}"))
    }

    /// How many deliveries have `status`.
    pub async fn deliveries_with_status(&self, status: &str) -> u64 {
        entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::Status.eq(status))
            .count(&self.db)
            .await
            .expect("count deliveries")
    }

    /// Every row of `E`'s table, ordered by `column`.
    async fn all_ordered_by<E>(&self, column: E::Column) -> Vec<E::Model>
    where
        E: EntityTrait,
    {
        E::find()
            .order_by_asc(column)
            .all(&self.db)
            .await
            .unwrap_or_else(|e| panic!("read {}: {e}", std::any::type_name::<E>()))
    }

    /// Every attempt, oldest first.
    pub async fn attempts(&self) -> Vec<entity::lab_attempt::Model> {
        self.all_ordered_by::<entity::lab_attempt::Entity>(entity::lab_attempt::Column::Id)
            .await
    }

    /// Every stored delivery, by GUID.
    pub async fn deliveries(&self) -> Vec<entity::webhook_delivery::Model> {
        self.all_ordered_by::<entity::webhook_delivery::Entity>(
            entity::webhook_delivery::Column::Guid,
        )
        .await
    }

    /// Every attempt's files.
    pub async fn attempt_files(&self) -> Vec<entity::lab_attempt_file::Model> {
        entity::lab_attempt_file::Entity::find()
            .order_by_asc(entity::lab_attempt_file::Column::AttemptId)
            .order_by_asc(entity::lab_attempt_file::Column::Path)
            .all(&self.db)
            .await
            .expect("read attempt files")
    }

    /// The only attempt.
    pub async fn attempt(&self) -> entity::lab_attempt::Model {
        let mut all = self.attempts().await;
        assert_eq!(all.len(), 1, "one attempt: {all:?}");
        all.remove(0)
    }

    /// The audit log, in order.
    pub async fn audit_entries(&self) -> Vec<entity::audit_log::Model> {
        self.all_ordered_by::<entity::audit_log::Entity>(entity::audit_log::Column::Seq)
            .await
    }

    /// The `details` of the audit entries with `action`, in order, as stored.
    pub async fn audit_details(&self, action: &str) -> Vec<String> {
        self.audit_entries()
            .await
            .into_iter()
            .filter(|e| e.action == action)
            .map(|e| e.details)
            .collect()
    }

    /// [`audit_details`](Self::audit_details), parsed.
    pub async fn audit_details_json(&self, action: &str) -> Vec<Value> {
        self.audit_details(action)
            .await
            .iter()
            .map(|d| serde_json::from_str(d).expect("details are JSON"))
            .collect()
    }

    /// `labtrail attempts summary` of session `lab1` in `format`; it must succeed.
    pub fn lab1_summary(&self, format: &str) -> String {
        cli_stdout(&self.cli(&[
            "attempts",
            "summary",
            "--session",
            "lab1",
            "--format",
            format,
        ]))
    }

    /// `labtrail session extend` of session `lab1` for `student` until `closes`; it must succeed. Its
    /// standard output.
    pub fn extend_lab1(&self, student: &str, closes: &str) -> String {
        self.extend_lab1_with(student, closes, &[])
    }

    /// [`TestApp::extend_lab1`] with `more` arguments (`--force`).
    pub fn extend_lab1_with(&self, student: &str, closes: &str, more: &[&str]) -> String {
        let mut args = vec![
            "session",
            "extend",
            "--slug",
            "lab1",
            "--student",
            student,
            "--closes",
            closes,
        ];
        args.extend_from_slice(more);
        cli_stdout(&self.cli(&args))
    }

    /// How many audit entries have `action` (and `subject`, when given).
    pub async fn audit_count(&self, action: &str, subject: Option<&str>) -> u64 {
        let mut q =
            entity::audit_log::Entity::find().filter(entity::audit_log::Column::Action.eq(action));
        if let Some(subject) = subject {
            q = q.filter(entity::audit_log::Column::Subject.eq(subject));
        }
        q.count(&self.db).await.expect("count audit entries")
    }

    /// The audit log's head row.
    pub async fn audit_head(&self) -> entity::audit_head::Model {
        entity::audit_head::Entity::find()
            .one(&self.db)
            .await
            .expect("read audit head")
            .expect("the head row")
    }

    /// Stored checkpoints, oldest first.
    pub async fn checkpoints(&self) -> Vec<entity::audit_checkpoint::Model> {
        self.all_ordered_by::<entity::audit_checkpoint::Entity>(
            entity::audit_checkpoint::Column::Id,
        )
        .await
    }

    /// How many audit entries `keep` selects.
    pub async fn audit_matching(&self, keep: impl Fn(&entity::audit_log::Model) -> bool) -> usize {
        self.audit_entries()
            .await
            .iter()
            .filter(|e| keep(e))
            .count()
    }

    /// How many rows `entity`'s table holds.
    pub async fn count<E>(&self, _entity: E) -> u64
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        E::find().count(&self.db).await.expect("count rows")
    }

    /// Wait until a delivery reaches a settled state (anything but queued/processing/retrying); for apps
    /// with background workers.
    pub async fn wait_settled(&self, guid: &str) -> entity::webhook_delivery::Model {
        self.wait_status(guid, &["processed", "ignored", "dead", "rejected"])
            .await
    }

    /// Wait until a delivery has one of `statuses`; for apps with background workers.
    pub async fn wait_status(
        &self,
        guid: &str,
        statuses: &[&str],
    ) -> entity::webhook_delivery::Model {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let row = entity::webhook_delivery::Entity::find_by_id(guid.to_owned())
                .one(&self.db)
                .await
                .expect("read delivery");
            if let Some(row) = row {
                if statuses.contains(&row.status.to_string().as_str()) {
                    return row;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "delivery {guid} did not reach {statuses:?} in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until no delivery is queued, processing or retrying; for apps with background workers.
    pub async fn wait_idle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let busy = entity::webhook_delivery::Entity::find()
                .filter(entity::webhook_delivery::Column::Status.is_in([
                    "queued",
                    "processing",
                    "retrying",
                ]))
                .count(&self.db)
                .await
                .expect("count deliveries");
            if busy == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{busy} deliveries still pending"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// One integer from a SQL query.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// Run raw SQL.
    pub async fn exec(&self, sql: &str) -> Result<u64, sea_orm::DbErr> {
        self.db
            .execute(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .map(|r| r.rows_affected())
    }

    /// Remove the database guards of the audit tables and of the graded rows, as an attacker with DDL
    /// rights (the table owner or a superuser) could: the tamper tests model exactly that attacker.
    pub async fn drop_audit_guards(&self) {
        let statements: &[&str] = match self.db.get_database_backend() {
            DbBackend::Postgres => &[
                "DROP TRIGGER audit_log_guard ON audit_log",
                "DROP TRIGGER audit_log_no_truncate ON audit_log",
                "DROP TRIGGER audit_head_guard ON audit_head",
                "DROP TRIGGER audit_log_append_only ON audit_log",
                "DROP TRIGGER audit_head_no_insert ON audit_head",
                "DROP TRIGGER audit_checkpoint_guard ON audit_checkpoint",
                // The graded rows' guards (migration m20261129_000011_graded_row_guards).
                "DROP TRIGGER IF EXISTS lab_attempt_guard ON lab_attempt",
                "DROP TRIGGER IF EXISTS lab_attempt_file_guard ON lab_attempt_file",
                "DROP TRIGGER IF EXISTS lab_session_guard ON lab_session",
                "DROP TRIGGER IF EXISTS lab_graded_no_truncate ON lab_attempt",
                "DROP TRIGGER IF EXISTS lab_attempt_file_no_truncate ON lab_attempt_file",
                "DROP TRIGGER IF EXISTS lab_session_no_truncate ON lab_session",
            ],
            _ => &[
                "DROP TRIGGER audit_log_no_update",
                "DROP TRIGGER audit_log_no_delete",
                "DROP TRIGGER audit_head_guard",
                "DROP TRIGGER audit_head_archive_guard",
                "DROP TRIGGER audit_log_append_only",
                "DROP TRIGGER audit_head_no_insert",
                "DROP TRIGGER audit_checkpoint_no_delete",
                "DROP TRIGGER IF EXISTS lab_attempt_graded_guard",
                "DROP TRIGGER IF EXISTS lab_attempt_files_guard",
                "DROP TRIGGER IF EXISTS lab_attempt_no_delete",
                "DROP TRIGGER IF EXISTS lab_attempt_file_no_update",
                "DROP TRIGGER IF EXISTS lab_attempt_file_no_delete",
                "DROP TRIGGER IF EXISTS lab_session_guard",
                "DROP TRIGGER IF EXISTS lab_session_no_delete",
            ],
        };
        for sql in statements {
            self.exec(sql).await.expect("drop audit guard");
        }
    }

    /// Row counts of every table.
    pub async fn counts(&self) -> RowCounts {
        let mut out = Vec::new();
        for t in [
            "installation",
            "installation_repository",
            "lab_session",
            "lab_attempt",
            "lab_attempt_file",
            "webhook_delivery",
            "audit_log",
            "audit_checkpoint",
            "api_token",
        ] {
            out.push((t, self.scalar(&format!("SELECT COUNT(*) FROM {t}")).await));
        }
        RowCounts(out)
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    /// Run the `labtrail` binary against this app's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(&self.test_db, args)
    }

    /// GET `path` (from the server's root) without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET `path` with `token` as the bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `labtrail audit verify` exits 0: the whole chain, its checkpoints and archives check out. Returns
    /// its report.
    pub fn assert_audit_verifies(&self) -> String {
        assert_audit_verifies(&self.test_db)
    }

    /// Stop the server and its workers. The app bounds its shutdown (10 s for open requests, 20 s for the
    /// workers' drain): the test fails if it has not stopped after four times that.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let stopped = tokio::time::timeout(Duration::from_secs(120), &mut self.handle).await;
        assert!(
            stopped.is_ok(),
            "the app did not stop within 120 s of its shutdown signal"
        );
    }
}

/// A delivery that failed: settled as `status`, its last error mentioning `error`, and its bytes `body`
/// still stored (for inspection and a later redelivery).
pub fn assert_failed_and_kept(
    d: &entity::webhook_delivery::Model,
    status: &str,
    error: &str,
    body: &[u8],
) {
    assert_eq!(d.status, status, "{:?}", d.last_error);
    assert!(
        d.last_error.as_deref().is_some_and(|e| e.contains(error)),
        "{:?}",
        d.last_error
    );
    assert_eq!(d.payload.as_deref(), Some(body), "the bytes are kept");
}

/// Run the `labtrail` binary with this database and the test origin.
pub fn run_cli(db: &TestDb, args: &[&str]) -> Output {
    run_cli_with(db, args, &[])
}

/// `labtrail audit verify` on `db` exits 0. Returns its report.
pub fn assert_audit_verifies(db: &TestDb) -> String {
    let out = run_cli(db, &["audit", "verify"]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// Run the `labtrail` binary with this database, the test origin and more environment (later entries win).
pub fn run_cli_with(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"));
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
        .env("RUST_LOG", "warn")
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .envs(env.iter().copied())
        .current_dir(db.scratch_dir());
    output_of(&mut command)
}

/// The body of the push most tests send: `course/lab1-alice` (id 7) to commit `sha(7)`, in January 2026.
pub fn alice_push_body() -> Vec<u8> {
    serde_json::to_vec(&push_payload(
        "course",
        "lab1-alice",
        7,
        &sha(7),
        1767225600,
    ))
    .expect("json")
}

/// A push payload derived from the new-branch fixture: another repository, org, head and push time.
pub fn push_payload(org: &str, repo: &str, repo_id: i64, after: &str, pushed_at: i64) -> Value {
    let mut p = fixture_json("octokit-webhooks/push/with-new-branch.payload.json");
    p["repository"]["name"] = repo.into();
    p["repository"]["full_name"] = format!("{org}/{repo}").into();
    p["repository"]["id"] = repo_id.into();
    p["repository"]["owner"]["login"] = org.into();
    p["repository"]["pushed_at"] = pushed_at.into();
    p["organization"] = serde_json::json!({ "login": org, "id": 9000 });
    p["after"] = after.into();
    p["commits"][0]["id"] = after.into();
    p["head_commit"]["id"] = after.into();
    p
}

/// A 40-hex SHA derived from a number.
pub fn sha(n: u64) -> String {
    format!("{n:040x}")
}

/// How long a child process (a CLI call, `pg_dump`, a `serve` starting or stopping) may take before the
/// test kills it and fails naming it: far beyond what any takes on a loaded machine, far short of a CI hang.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// `program arg …`: a command as a failure names it.
pub fn describe(command: &std::process::Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `command` to its end (standard input closed, output captured), as `Command::output` does, but kill
/// it and fail the test naming it if it is still running after [`CHILD_TIMEOUT`]. Every child process a
/// test runs to completion goes through here.
pub fn output_of(command: &mut std::process::Command) -> Output {
    use std::process::Stdio;
    let what = describe(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let stdout = read_to_end_in_background(child.stdout.take());
    let stderr = read_to_end_in_background(child.stderr.take());
    let status = wait_within(&mut child, CHILD_TIMEOUT, &what);
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A thread reading `pipe` to its end (a child blocked on a full pipe would never exit).
pub fn read_to_end_in_background(
    pipe: Option<impl std::io::Read + Send + 'static>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Wait for `child` (started as `what`) to exit, at most `timeout`: past it, the child is killed and the
/// test fails naming `what`.
pub fn wait_within(
    child: &mut std::process::Child,
    timeout: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{what}` was still running after {timeout:?}: killed it");
            }
            Err(e) => panic!("cannot wait for `{what}`: {e}"),
        }
    }
}

/// `labtrail serve` for the test's database on a port the system picks (`LABTRAIL_BIND=127.0.0.1:0`; the
/// process prints the address it bound, which [`ServeProcess`] reads), with the test origin and webhook
/// secret, a quiet log and the scratch directory: tests set or remove variables on top before spawning.
pub fn serve_command(db: &TestDb) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"));
    command
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LABTRAIL_BIND", "127.0.0.1:0")
        .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .current_dir(db.scratch_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Lines of a child's pipe, read by another thread to its end (a closed pipe would fail the child's later
/// writes).
fn lines_in_background(
    pipe: impl std::io::Read + Send + 'static,
) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end even when nobody listens any more: a child must never find its output closed.
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Spawn `command` (a `labtrail serve`, see [`serve_command`]) with its log piped and read the log until a
/// line contains `marker`: the running server and the log up to that line. Another thread reads the log to
/// its end. The server is killed and the test fails if the marker does not show within [`CHILD_TIMEOUT`].
pub fn spawn_serve_until_logged(
    mut command: std::process::Command,
    marker: &str,
) -> (ServeProcess, String) {
    command.stderr(std::process::Stdio::piped());
    let mut serve = ServeProcess::spawn(command);
    let stderr = serve.child.stderr.take().expect("stderr is piped");
    let rx = lines_in_background(stderr);
    let deadline = std::time::Instant::now() + CHILD_TIMEOUT;
    let mut log = String::new();
    while !log.contains(marker) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => log.push_str(&(line + "\n")),
            Err(e) => panic!("`{}` did not log {marker:?} ({e}):\n{log}", serve.command),
        }
    }
    (serve, log)
}

/// A running `labtrail serve` process; killed when dropped, so a failing test leaves no server behind.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// The address it listens on, as it printed it.
    pub addr: SocketAddr,
    pub base_url: String,
    /// The command line, to name it in failures.
    pub command: String,
}

impl ServeProcess {
    /// Spawn `command` (see [`serve_command`]) and read the address it listens on from its standard output;
    /// it may not answer yet. The test fails, the process killed, if it exits or prints no address within
    /// [`CHILD_TIMEOUT`].
    pub fn spawn(mut command: std::process::Command) -> Self {
        let what = describe(&command);
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let rx = lines_in_background(stdout);
        let deadline = std::time::Instant::now() + CHILD_TIMEOUT;
        let mut addr = None;
        while addr.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                break;
            };
            addr = line
                .strip_prefix("labtrail listening on http://")
                .and_then(|a| a.trim().parse::<SocketAddr>().ok());
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "`{what}` printed no `labtrail listening on http://…` line within {CHILD_TIMEOUT:?} \
                 (exit: {status:?})"
            );
        };
        // Keep reading standard output, so later writes do not fail.
        std::thread::spawn(move || rx.into_iter().for_each(drop));
        Self {
            child,
            addr,
            base_url: format!("http://{addr}"),
            command: what,
        }
    }

    /// [`Self::spawn`], and ready (`/readyz` answers 200) when this returns; the test fails if it is not
    /// within [`CHILD_TIMEOUT`].
    pub async fn start(command: std::process::Command) -> Self {
        let mut serve = Self::spawn(command);
        serve.wait_until_answers("/readyz").await;
        serve
    }

    /// Wait until `GET path` answers 2xx (a connection refused or reset meanwhile is "not yet"); the test
    /// fails if the process exits or does not answer within [`CHILD_TIMEOUT`].
    pub async fn wait_until_answers(&mut self, path: &str) {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + CHILD_TIMEOUT;
        loop {
            let ready = client
                .get(format!("{}{path}", self.base_url))
                .timeout(CHILD_TIMEOUT)
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "`{}` exited before it answered {path}: {status}",
                    self.command
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{}` did not answer {path} within {CHILD_TIMEOUT:?}",
                self.command
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POST a delivery signed with `secret`, as GitHub does.
    pub async fn deliver(
        &self,
        event: &str,
        guid: &str,
        body: &[u8],
        secret: &str,
    ) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.base_url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", guid)
            .header("x-hub-signature-256", sign(secret, body))
            .body(body.to_vec())
            .timeout(CHILD_TIMEOUT)
            .send()
            .await
            .expect("send delivery")
    }

    /// Send SIGTERM (graceful shutdown) and return at once.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let out = output_of(std::process::Command::new("kill").args(["-TERM", &pid]));
        assert!(out.status.success(), "kill -TERM {pid}: {out:?}");
    }

    /// Wait for the process to exit, at most `timeout` (the test fails past it, the process killed).
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        wait_within(&mut self.child, timeout, &self.command)
    }

    /// SIGTERM, then wait (at most [`CHILD_TIMEOUT`]): whether it exited 0.
    pub fn stop(&mut self) -> bool {
        self.terminate();
        self.wait_exit(CHILD_TIMEOUT).success()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The window of the session most tests use: January 2026, as `--opens` and `--closes` take it.
pub const JANUARY_2026: (&str, &str) = ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");

/// The window the octokit push fixtures fall in: May 2019.
pub const MAY_2019: (&str, &str) = ("2019-05-01T00:00:00Z", "2019-06-01T00:00:00Z");

/// The arguments of `labtrail session create` for `org`'s session `slug` titled `title` over `repos`,
/// open over `window` (`--opens`, `--closes`); then `extra`.
pub fn session_create_args<'a>(
    org: &'a str,
    slug: &'a str,
    title: &'a str,
    repos: &'a str,
    (opens, closes): (&'a str, &'a str),
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "session", "create", "--org", org, "--slug", slug, "--title", title, "--repos", repos,
        "--opens", opens, "--closes", closes,
    ];
    args.extend_from_slice(extra);
    args
}

/// The arguments of `labtrail deliver` that POST `file` as the signed `push` delivery `guid` to `url`.
pub fn deliver_push_args<'a>(file: &'a str, url: &'a str, guid: &'a str) -> Vec<&'a str> {
    vec![
        "deliver",
        file,
        "--event",
        "push",
        "--url",
        url,
        "--secret",
        SECRET,
        "--delivery-id",
        guid,
    ]
}

/// `text` contains every one of `needles`.
#[track_caller]
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// A finished process's exit code, and its standard output followed by its standard error.
pub fn code_and_output(out: &Output) -> (Option<i32>, String) {
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The first line of `text` that `keep` keeps (`what` names it if there is none).
pub fn line_where<'a>(text: &'a str, what: &str, keep: impl Fn(&str) -> bool) -> &'a str {
    text.lines()
        .find(|l| keep(l))
        .unwrap_or_else(|| panic!("no line for {what} in:\n{text}"))
}

/// A CLI run that must succeed; its standard output.
pub fn cli_stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", code_and_output(out).1);
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// `labtrail session create` for `org`'s session `slug` over `repos` from `opens` to `closes`; it must succeed.
pub fn cli_create_session(
    db: &TestDb,
    org: &str,
    slug: &str,
    repos: &str,
    opens: &str,
    closes: &str,
) {
    cli_stdout(&run_cli(
        db,
        &session_create_args(org, slug, slug, repos, (opens, closes), &[]),
    ));
}

/// [`cli_create_session`] for `lab1` of `org` (`lab1-*`, January 2026), the session most tests use.
pub fn cli_create_lab1_session(db: &TestDb, org: &str) {
    let (opens, closes) = JANUARY_2026;
    cli_create_session(db, org, "lab1", "lab1-*", opens, closes);
}

/// Insert a queued `ping` delivery `guid` received at `received_at` straight into the queue.
pub async fn queue_ping(conn: &DatabaseConnection, guid: &str, received_at: DateTime<Utc>) {
    let new = db::deliveries::NewDelivery {
        guid: guid.into(),
        event: "ping".into(),
        action: None,
        installation_id: None,
        payload: b"{}".to_vec(),
        status: db::deliveries::Status::Queued,
        error: None,
        received_at,
    };
    assert!(
        db::deliveries::insert(conn, new).await.expect("insert"),
        "{guid}"
    );
}

/// One number from a query (`SELECT COUNT(*) …`) on `conn`.
pub async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    conn.query_one(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("int")
}
