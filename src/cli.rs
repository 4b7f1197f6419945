//! The command implementations behind `labtrail …` (DESIGN.md §7).

use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::audit::checkpoint::{self, AuditKey, CheckpointConfig, Verifier};
use crate::audit::verify::{verify_with, Evidence, Report, Verdict};
use crate::config::{
    AttemptsCommand, AuditCommand, Cli, Command, DeliverArgs, GithubArgs, GlobalArgs, OutputFormat,
    RedeliverArgs, RetentionArgs, RetentionCommand, ServeArgs, SessionCommand, SessionCreateArgs,
    TokenCommand, TokenRole, VerifyArgs,
};
use crate::db::tokens::Role;
use crate::db::{self, attempts::AttemptFilter, attempts::AttemptView, sessions::NewSession};
use crate::github::{CallPolicy, GithubApp, GithubAppConfig};
use crate::redeliver::{self, RedeliverPolicy};
use crate::server::{self, ServerConfig};
use crate::setup::SetupConfig;
use crate::webhook::signature::{self, WebhookSecrets};
use crate::worker::WorkerConfig;

/// Run a parsed command line; the exit code is the command's verdict.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Serve(args) => serve(g, args).await,
        Command::Migrate => {
            let db = open(g).await?;
            db::migrate(&db).await.context("Cannot apply migrations")?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Session(SessionCommand::Create(args)) => session_create(g, args).await,
        Command::Session(SessionCommand::List { org, format }) => {
            session_list(g, org.as_deref(), format).await
        }
        Command::Attempts(AttemptsCommand::List {
            session,
            repo,
            format,
        }) => {
            let filter = AttemptFilter {
                session_slug: session,
                repo,
                ..AttemptFilter::default()
            };
            attempts_list(g, &filter, format).await
        }
        Command::Attempts(AttemptsCommand::Show { id }) => attempts_show(g, id).await,
        Command::Deliver(args) => deliver(g, args).await,
        Command::Redeliver(args) => redeliver_run(g, args).await,
        Command::Session(SessionCommand::Archive { org, slug }) => {
            session_archive(g, &org, &slug).await
        }
        Command::Audit(AuditCommand::Verify(args)) => audit_verify(g, args).await,
        Command::Audit(AuditCommand::Checkpoint { write }) => audit_checkpoint(g, write).await,
        Command::Audit(AuditCommand::Export { after_seq, limit }) => {
            audit_export(g, after_seq, limit).await
        }
        Command::Audit(AuditCommand::Archive { upto, out }) => audit_archive(g, upto, &out).await,
        Command::Audit(AuditCommand::Keygen) => audit_keygen(g),
        Command::Token(cmd) => token(g, cmd).await,
        Command::Retention(RetentionCommand::Run(args)) => retention_run(g, args).await,
    }
}

/// Open the database and bring its schema up to date.
async fn open(g: &GlobalArgs) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(&g.database_url)
        .await
        .context("Cannot open the database (check DATABASE_URL)")?;
    db::migrate(&db).await.context("Cannot apply migrations")?;
    Ok(db)
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

async fn serve(g: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let secrets = args.webhook_secrets().and_then(WebhookSecrets::new);
    if secrets.is_none() {
        tracing::warn!(
            "GITHUB_WEBHOOK_SECRET is not set: /webhooks/github answers 503 until it is"
        );
    }
    let github = github_app(&args.github)?;
    match &github {
        Some(app) => {
            tracing::info!(
                app_id = app.app_id(),
                api = %args.github.github_api_url,
                redeliver_interval_s = args.redeliver_interval,
                "GitHub App configured"
            )
        }
        None => tracing::warn!(
            "GitHub App credentials are not set: attempts are recorded from payloads only, \
             truncated file lists are marked incomplete, and no check runs are posted"
        ),
    }
    // Before listening: a server that cannot sign checkpoints does not start.
    let key = load_or_create_key(g, &db).await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("Cannot listen on {}", args.bind))?;
    let address = listener.local_addr().unwrap_or(args.bind);
    tracing::info!(%address, origin = %g.origin(), workers = args.workers, "labtrail listening");
    let mut worker = WorkerConfig::new(g.origin());
    worker.github = github;
    let cfg = ServerConfig {
        secrets,
        worker,
        workers: usize::from(args.workers),
        setup: Some(SetupConfig {
            public_url: g.public_url.clone(),
            github_web_url: args.github_web_url.clone(),
            github_api_url: args.github.github_api_url.clone(),
            dir: std::env::current_dir().context("Cannot read the working directory")?,
        }),
        checkpoints: Some(CheckpointConfig {
            key: std::sync::Arc::new(key),
            origin: g.origin(),
            file: g.checkpoint_file.clone(),
            interval: std::time::Duration::from_secs(args.checkpoint_interval),
        }),
        redeliver: (args.redeliver_interval > 0).then(|| RedeliverPolicy {
            interval: std::time::Duration::from_secs(args.redeliver_interval),
            ..RedeliverPolicy::default()
        }),
    };
    server::run(db, cfg, listener, shutdown_signal())
        .await
        .context("Server failed")?;
    Ok(ExitCode::SUCCESS)
}

/// The GitHub App from `GITHUB_APP_ID` and a key (inline or a file); `None` when either is missing.
fn github_app(args: &GithubArgs) -> anyhow::Result<Option<GithubApp>> {
    let key = match (&args.private_key, &args.private_key_path) {
        (Some(inline), _) if !inline.expose_secret().trim().is_empty() => {
            // Keys pasted into .env often carry literal "\n" for newlines.
            Some(SecretString::from(
                inline.expose_secret().replace("\\n", "\n"),
            ))
        }
        (_, Some(path)) => Some(SecretString::from(
            std::fs::read_to_string(path).with_context(|| {
                format!("Cannot read the GitHub App private key {}", path.display())
            })?,
        )),
        _ => None,
    };
    let (Some(app_id), Some(private_key_pem)) = (args.app_id, key) else {
        return Ok(None);
    };
    let app = GithubApp::new(GithubAppConfig {
        app_id,
        private_key_pem,
        api_url: args.github_api_url.clone(),
        policy: CallPolicy::default(),
    })
    .context(
        "Cannot set up the GitHub App (check GITHUB_APP_ID, the private key and GITHUB_API_URL)",
    )?;
    Ok(Some(app))
}

/// `labtrail redeliver`: one catch-up run; exit 1 when the listing or any request failed.
async fn redeliver_run(g: &GlobalArgs, args: RedeliverArgs) -> anyhow::Result<ExitCode> {
    let window = redeliver::parse_window(&args.since).context("Cannot use --since")?;
    let Some(app) = github_app(&args.github)? else {
        bail!(
            "redeliver acts as the GitHub App: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY or \
             GITHUB_PRIVATE_KEY_PATH (and GITHUB_API_URL for GitHub Enterprise Server)"
        );
    };
    let db = open(g).await?;
    let policy = RedeliverPolicy {
        window,
        max_requests: usize::from(args.limit),
        // By hand, the operator decides: no cap on GitHub's earlier tries.
        max_tries_per_guid: None,
        ..RedeliverPolicy::default()
    };
    let report = redeliver::run(&app, &db, &policy, Utc::now(), args.dry_run)
        .await
        .context("Cannot complete the redelivery catch-up")?;
    for guid in &report.guids {
        println!("{}", report.line(guid));
    }
    println!("{}", report.summary());
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn parse_time(flag: &str, s: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("Cannot read --{flag} {s:?}: use RFC 3339 with an offset, e.g. 2026-12-01T23:59:00+01:00"))
}

async fn session_create(g: &GlobalArgs, a: SessionCreateArgs) -> anyhow::Result<ExitCode> {
    let new = NewSession {
        org: a.org,
        slug: a.slug,
        title: a.title,
        repo_pattern: a.repos,
        branch_policy: a.branches,
        opens_at: parse_time("opens", &a.opens)?,
        closes_at: parse_time("closes", &a.closes)?,
    };
    let db = open(g).await?;
    let s = db::sessions::create(&db, &g.origin(), &cli_actor(), new)
        .await
        .context("Cannot create the session")?;
    println!(
        "created session {} for {}: repositories {:?}, branches {}, {} – {}",
        s.slug,
        s.org,
        s.repo_pattern,
        s.branch_policy,
        utc(s.opens_at),
        utc(s.closes_at)
    );
    Ok(ExitCode::SUCCESS)
}

async fn session_list(
    g: &GlobalArgs,
    org: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let sessions = db::sessions::list(&db, org)
        .await
        .context("Cannot list sessions")?;
    let rows: Vec<Value> = sessions.iter().map(session_json).collect();
    let columns = [
        "org",
        "slug",
        "title",
        "repos",
        "branches",
        "opens_at",
        "closes_at",
        "archived_at",
    ];
    print_rows(&rows, &columns, format)?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON shape of a session (CLI and read API).
pub fn session_json(s: &entity::lab_session::Model) -> Value {
    json!({
        "org": s.org, "slug": s.slug, "title": s.title, "repos": s.repo_pattern,
        "branches": s.branch_policy, "opens_at": utc(s.opens_at), "closes_at": utc(s.closes_at),
        "archived_at": s.archived_at.map(utc),
    })
}

/// The JSON shape of an attempt (DESIGN.md §7).
pub fn attempt_json(v: &AttemptView) -> Value {
    let a = &v.attempt;
    json!({
        "id": a.id,
        "session": v.session_slug,
        "repository": a.repository_full_name,
        "repository_id": a.repository_id,
        "ref": a.git_ref,
        "before": a.before_sha,
        "after": a.after_sha,
        "pushed_at": utc(a.pushed_at),
        "received_at": a.received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "delivery_id": a.delivery_id,
        "pusher": a.pusher_login,
        "forced": a.forced,
        "attempt_number": a.attempt_number,
        "late": a.late,
        "files_source": a.files_source,
        "files_complete": a.files_complete,
        "files": v.files.iter().map(|f| json!({"path": f.path, "status": f.status})).collect::<Vec<_>>(),
        "check_run_id": a.check_run_id,
        "audit_seq": a.audit_seq,
    })
}

async fn attempts_list(
    g: &GlobalArgs,
    filter: &AttemptFilter,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let views = db::attempts::list(&db, filter)
        .await
        .context("Cannot list attempts")?;
    let rows: Vec<Value> = views.iter().map(attempt_json).collect();
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Table => {
            let columns = [
                "id",
                "session",
                "repository",
                "ref",
                "after",
                "pushed_at",
                "attempt_number",
                "late",
                "files",
            ];
            let table: Vec<Value> = rows
                .into_iter()
                .map(|mut r| {
                    r["after"] = json!(r["after"]
                        .as_str()
                        .unwrap_or_default()
                        .chars()
                        .take(12)
                        .collect::<String>());
                    r["files"] = json!(r["files"].as_array().map_or(0, Vec::len));
                    r
                })
                .collect();
            print_rows(&table, &columns, OutputFormat::Table)?;
        }
        OutputFormat::Csv => {
            let mut out = std::io::stdout();
            write_attempts_csv(&mut out, rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn attempts_show(g: &GlobalArgs, id: i64) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let Some(v) = db::attempts::get(&db, id)
        .await
        .context("Cannot read the attempt")?
    else {
        bail!("No attempt with id {id}");
    };
    println!("{}", serde_json::to_string_pretty(&attempt_json(&v))?);
    Ok(ExitCode::SUCCESS)
}

/// Columns of the attempts CSV export.
const ATTEMPT_CSV_COLUMNS: [&str; 19] = [
    "id",
    "session",
    "repository",
    "repository_id",
    "ref",
    "before",
    "after",
    "pushed_at",
    "received_at",
    "delivery_id",
    "pusher",
    "forced",
    "attempt_number",
    "late",
    "files_source",
    "files_complete",
    "files",
    "check_run_id",
    "audit_seq",
];

/// Write attempts (as [`attempt_json`] rows) as CSV: one row per attempt, files as `status path` lines.
pub fn write_attempts_csv(w: impl std::io::Write, rows: Vec<Value>) -> Result<(), csv::Error> {
    let csv_rows: Vec<Value> = rows
        .into_iter()
        .map(|mut r| {
            let files: Vec<String> = r["files"]
                .as_array()
                .map(|fs| {
                    fs.iter()
                        .map(|f| format!("{} {}", cell(&f["status"]), cell(&f["path"])))
                        .collect()
                })
                .unwrap_or_default();
            r["files"] = json!(files.join("\n"));
            r
        })
        .collect();
    write_csv(w, &csv_rows, &ATTEMPT_CSV_COLUMNS)
}

fn write_csv(w: impl std::io::Write, rows: &[Value], columns: &[&str]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(w);
    w.write_record(columns)?;
    for r in rows {
        w.write_record(columns.iter().map(|c| cell(&r[*c])))?;
    }
    w.flush()?;
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_rows(rows: &[Value], columns: &[&str], format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        OutputFormat::Csv => write_csv(std::io::stdout(), rows, columns)?,
        OutputFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| columns.iter().map(|c| cell(&r[*c])).collect())
                .collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cells
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([c.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |vals: Vec<String>| {
                vals.iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            println!(
                "{}",
                line(columns.iter().map(|c| c.to_uppercase()).collect())
            );
            for r in cells {
                println!("{}", line(r));
            }
        }
    }
    Ok(())
}

async fn deliver(g: &GlobalArgs, a: DeliverArgs) -> anyhow::Result<ExitCode> {
    let body =
        std::fs::read(&a.file).with_context(|| format!("Cannot read {}", a.file.display()))?;
    serde_json::from_slice::<Value>(&body)
        .with_context(|| format!("{} is not JSON", a.file.display()))?;
    let secret = a
        .secret
        .as_ref()
        .and_then(|s| {
            s.expose_secret()
                .split(',')
                .map(str::trim)
                .find(|s| !s.is_empty())
        })
        .context("No secret to sign with: pass --secret or set GITHUB_WEBHOOK_SECRET")?;
    let url = match a.url {
        Some(u) => u,
        None => g
            .public_url
            .join("webhooks/github")
            .context("Cannot build the webhook URL")?,
    };
    let guid = a
        .delivery_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let signature = signature::sign(&secrecy::SecretString::from(secret.to_owned()), &body);
    let response = reqwest::Client::new()
        .post(url.clone())
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/labtrail-deliver")
        .header("x-github-event", &a.event)
        .header("x-github-delivery", &guid)
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("Cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), text.trim());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The checkpoint-signing key, created (mode 0600) when absent. Only its public half is ever logged.
/// The checkpoint key: loaded, or created when absent and the log has no checkpoint yet. A missing key
/// for a log that already has checkpoints, or a key that did not sign them, stops the start: another
/// instance's key must be copied, not replaced.
async fn load_or_create_key(g: &GlobalArgs, db: &DatabaseConnection) -> anyhow::Result<AuditKey> {
    let path = &g.audit_key_path;
    let newest = crate::audit::checkpoint::latest(db)
        .await
        .context("Cannot read the audit checkpoints")?;
    if newest.is_some() && !path.exists() {
        bail!(
            "No audit key at {}, but this log already has signed checkpoints: copy the key file of the \
             instance that signed them (LABTRAIL_AUDIT_KEY_PATH) instead of starting with a new one",
            path.display()
        );
    }
    let (key, created) = AuditKey::load_or_create(path, &g.origin())
        .with_context(|| format!("Cannot load or create the audit key {}", path.display()))?;
    crate::audit::checkpoint::check_same_key(newest.as_ref(), &key)
        .with_context(|| format!("Cannot use the audit key {}", path.display()))?;
    if created {
        tracing::info!(path = %path.display(), public_key = %key.verifier().to_vkey(), "created the audit checkpoint key");
    }
    Ok(key)
}

async fn session_archive(g: &GlobalArgs, org: &str, slug: &str) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let s = db::sessions::archive(&db, &g.origin(), &cli_actor(), org, slug)
        .await
        .context("Cannot archive the session")?;
    println!(
        "archived session {} of {} at {}",
        s.slug,
        s.org,
        s.archived_at.map(utc).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

fn audit_keygen(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let path = &g.audit_key_path;
    let key = AuditKey::create(path, &g.origin())
        .with_context(|| format!("Cannot create the audit key {}", path.display()))?;
    let vkey = key.verifier().to_vkey();
    let pub_path = public_key_path(path);
    std::fs::write(&pub_path, format!("{vkey}\n"))
        .with_context(|| format!("Cannot write {}", pub_path.display()))?;
    eprintln!(
        "created {} (mode 0600; keep it secret) and {}",
        path.display(),
        pub_path.display()
    );
    println!("{vkey}");
    Ok(ExitCode::SUCCESS)
}

fn public_key_path(key_path: &std::path::Path) -> std::path::PathBuf {
    let mut name = key_path.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

async fn audit_checkpoint(g: &GlobalArgs, write: bool) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    if write {
        let cfg = CheckpointConfig {
            key: std::sync::Arc::new(load_or_create_key(g, &db).await?),
            origin: g.origin(),
            file: g.checkpoint_file.clone(),
            interval: std::time::Duration::ZERO,
        };
        checkpoint::write_if_due(&db, &cfg, std::time::Duration::ZERO)
            .await
            .context("Cannot write a checkpoint")?;
    }
    let Some(latest) = checkpoint::latest(&db)
        .await
        .context("Cannot read checkpoints")?
    else {
        bail!("No checkpoint has been written yet (run `labtrail audit checkpoint --write`)");
    };
    print!("{}", latest.note);
    Ok(ExitCode::SUCCESS)
}

async fn audit_export(
    g: &GlobalArgs,
    after_seq: Option<i64>,
    limit: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let mut after = after_seq;
    let mut left = limit.unwrap_or(u64::MAX);
    while left > 0 {
        let rows = crate::audit::entries(&db, after, left.min(1000))
            .await
            .context("Cannot read the audit log")?;
        let Some(last) = rows.last() else { break };
        after = Some(last.seq);
        left -= rows.len() as u64;
        for r in &rows {
            println!("{}", crate::audit::entry_json(r));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_archive(
    g: &GlobalArgs,
    upto: i64,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let key = load_or_create_key(g, &db).await?;
    let done = crate::audit::archive::archive(
        &db,
        &g.origin(),
        &cli_actor(),
        &key,
        &g.checkpoint_file,
        upto,
        out,
    )
    .await
    .context("Cannot archive")?;
    let m = &done.manifest;
    println!(
        "archived seq {}..{} to {} (sha256 {}), manifest {}",
        m.first_seq,
        m.last_seq,
        done.segment_path.display(),
        m.file_sha256,
        done.manifest_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The trusted public key: `--public-key FILE`, else derived from the signing key file when present.
fn verifier_for(g: &GlobalArgs, args: &VerifyArgs) -> Result<Option<Verifier>, String> {
    if let Some(path) = &args.public_key {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return Verifier::parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    if g.audit_key_path.exists() {
        return AuditKey::load(&g.audit_key_path)
            .map(|k| Some(k.verifier()))
            .map_err(|e| e.to_string());
    }
    Ok(None)
}

/// The notes of the external checkpoint file: `--checkpoints FILE`, else the configured file if present.
fn external_notes(g: &GlobalArgs, args: &VerifyArgs) -> Result<Vec<(String, String)>, String> {
    let path = match &args.checkpoints {
        Some(p) => p.clone(),
        None if g.checkpoint_file.exists() => g.checkpoint_file.clone(),
        None => return Ok(Vec::new()),
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(checkpoint::split_notes(&text)
        .into_iter()
        .enumerate()
        .map(|(i, note)| (format!("note #{} of {}", i + 1, path.display()), note))
        .collect())
}

async fn audit_verify(g: &GlobalArgs, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let cannot = |why: String| {
        eprintln!("cannot verify: {why}");
        Ok(ExitCode::from(2))
    };
    let evidence = Evidence {
        verifier: match verifier_for(g, &args) {
            Ok(v) => v,
            Err(e) => return cannot(e),
        },
        external_notes: match external_notes(g, &args) {
            Ok(n) => n,
            Err(e) => return cannot(e),
        },
        archive_dir: args.archive.clone(),
    };
    let db = match db::connect(&g.database_url).await {
        Ok(db) => db,
        Err(e) => return cannot(format!("cannot open the database: {e}")),
    };
    match verify_with(&db, &g.origin(), &evidence).await {
        Ok(report) => Ok(print_report(&report)),
        Err(e) => cannot(e.to_string()),
    }
}

fn print_report(r: &Report) -> ExitCode {
    let code = match &r.verdict {
        Verdict::Intact {
            size,
            head_hash,
            first_seq,
        } => {
            println!(
                "audit log intact: {size} entries (seq {first_seq}..{}), head {}",
                size - 1,
                head_hash.as_deref().unwrap_or("(empty)")
            );
            ExitCode::SUCCESS
        }
        Verdict::Tampered { seq, reason } => {
            println!("audit log TAMPERED at seq {seq}: {reason}");
            ExitCode::from(1)
        }
        Verdict::BadEvidence { what, reason } => {
            println!("audit log TAMPERED: {what}: {reason}");
            ExitCode::from(1)
        }
    };
    println!("checkpoints checked: {}", r.checkpoints_checked);
    match r.external_size {
        Some(e) if e >= r.size => println!("unsigned tail: none (an external checkpoint covers all {} entries)", r.size),
        Some(e) => println!(
            "unsigned tail: seq {e}..{} ({} entries) after the newest external checkpoint (size {e})",
            r.size - 1,
            r.size - e
        ),
        None => println!(
            "unsigned tail: all {} entries (no external checkpoint given)",
            r.size
        ),
    }
    for note in &r.notes {
        println!("note: {note}");
    }
    code
}

async fn token(g: &GlobalArgs, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    match cmd {
        TokenCommand::Create { name, role, org } => {
            let role = match role {
                TokenRole::Admin => Role::Admin,
                TokenRole::Instructor => Role::Instructor,
                TokenRole::Auditor => Role::Auditor,
            };
            let (row, token) =
                db::tokens::create(&db, &g.origin(), &cli_actor(), &name, role, org.as_deref())
                    .await
                    .context("Cannot create the token")?;
            println!(
                "created token {} (role {}{}); it is shown once, here:",
                row.name,
                row.role,
                row.org
                    .as_deref()
                    .map(|o| format!(", org {o}"))
                    .unwrap_or_default()
            );
            println!("{}", token.as_str());
        }
        TokenCommand::List { format } => {
            let rows: Vec<Value> = db::tokens::list(&db)
                .await
                .context("Cannot list tokens")?
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name, "role": t.role, "org": t.org,
                        "created_at": utc(t.created_at),
                        "last_used_at": t.last_used_at.map(utc),
                        "revoked_at": t.revoked_at.map(utc),
                    })
                })
                .collect();
            let columns = [
                "name",
                "role",
                "org",
                "created_at",
                "last_used_at",
                "revoked_at",
            ];
            print_rows(&rows, &columns, format)?;
        }
        TokenCommand::Revoke { name } => {
            db::tokens::revoke(&db, &g.origin(), &cli_actor(), &name)
                .await
                .context("Cannot revoke the token")?;
            println!("revoked token {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn retention_run(g: &GlobalArgs, args: RetentionArgs) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let policy = crate::retention::Policy {
        payload_days: args.payload_days,
        attempt_days: args.attempt_days,
    };
    let outcome = crate::retention::run(
        &db,
        &g.origin(),
        &cli_actor(),
        policy,
        Utc::now(),
        args.dry_run,
    )
    .await
    .context("Cannot apply retention")?;
    let verb = if args.dry_run {
        "would drop"
    } else {
        "dropped"
    };
    println!(
        "payloads: {verb} the raw bytes of {} deliveries settled more than {} days ago",
        outcome.payloads_dropped, args.payload_days
    );
    let verb = if args.dry_run {
        "would erase"
    } else {
        "erased"
    };
    let total: u64 = outcome.attempts_erased.iter().map(|(_, n)| n).sum();
    println!(
        "attempts: {verb} {total} attempts of {} sessions archived more than {} days ago",
        outcome.attempts_erased.len(),
        args.attempt_days
    );
    for (session, n) in &outcome.attempts_erased {
        println!("  session {session}: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
